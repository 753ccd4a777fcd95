/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frames.c - libFuzzer target for the frame decoder, the request parser and the state
 * machine behind them (build: clang -fsanitize=fuzzer,address,undefined).
 *
 * Every input is checked twice: dh_frame_check() on the raw bytes, and a whole device fed the
 * bytes. The first input byte picks the device's situation (capacity, a committed config or
 * none, debug output, a failing store, a port with the 1.1 rate switch whose clock advances
 * 7 ms a byte, so BAUD and its idle revert run too, PROVE enabled). Beyond the sanitizers,
 * this harness traps when:
 *  - the library touches storage outside the capacity it was given (the AVR slot size),
 *  - the device sends a line that is neither a frame with a correct CRC nor a debug line
 *    free of '@' (debug output must never break framing, spec 7.5),
 *  - a reply is not followed by "\r\n", or a value staged for a secret key ever comes back,
 *  - the rate switch is asked for a rate the port did not list (nor 115200), or is called
 *    while a reply or a debug line is half written (spec 10.1: after the reply's last byte),
 *  - after a line is handled, the line buffer's bytes beyond the line are not all zero: PROVE
 *    (spec 10.3) keeps the password-derived K0 and its mac there, and must wipe them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "dh_device.h"

#define SECRET "Zq9-secret-marker"
/* SHA-256 of the canonical encoding of preload()'s values: mode bit 16 commits them. */
#define PRELOAD_DIGEST "4fc4bd426e79798d435873785f0b1e3ee8f3edec683f31e4731cde807baf4c14"

struct fuzz_port {
    uint16_t capacity;
    uint16_t stored_len;
    int fail_commit;
    uint8_t stored[DH_MAX_BLOB_LEN];
    uint8_t scratch[DH_MAX_BLOB_LEN];
    uint8_t out[1 << 16];
    size_t out_len;
    uint32_t now_ms;
    uint32_t rate;
};

static struct fuzz_port port;
static dh_device dev;

int dh_port_read_byte(void *p)
{
    (void)p;
    return -1;
}

void dh_port_write_byte(void *p, uint8_t byte)
{
    struct fuzz_port *f = p;
    if (f->out_len < sizeof f->out) {
        f->out[f->out_len++] = byte;
    }
}

uint8_t dh_port_hardware_id(void *p, uint8_t id[DH_MAX_HWID_BYTES])
{
    static const uint8_t hwid[4] = {0xA1, 0xB2, 0xC3, 0xD4};
    (void)p;
    memcpy(id, hwid, sizeof hwid);
    return sizeof hwid;
}

uint16_t dh_port_stored_len(void *p) { return ((struct fuzz_port *)p)->stored_len; }

int dh_port_stored_read(void *p, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct fuzz_port *f = p;
    if ((size_t)offset + len > f->stored_len) {
        return -1; /* allowed: the library asks, the port refuses */
    }
    memcpy(buf, f->stored + offset, len);
    return 0;
}

int dh_port_scratch_write(void *p, uint16_t offset, const uint8_t *buf, uint16_t len)
{
    struct fuzz_port *f = p;
    if ((size_t)offset + len > f->capacity) {
        __builtin_trap(); /* the library must stay inside the slot it was given */
    }
    memcpy(f->scratch + offset, buf, len);
    return 0;
}

int dh_port_scratch_read(void *p, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct fuzz_port *f = p;
    if ((size_t)offset + len > f->capacity) {
        __builtin_trap();
    }
    memcpy(buf, f->scratch + offset, len);
    return 0;
}

int dh_port_commit(void *p, uint16_t len)
{
    struct fuzz_port *f = p;
    if (len > f->capacity) {
        __builtin_trap();
    }
    if (f->fail_commit) {
        return DH_STORE_FAILED;
    }
    memcpy(f->stored, f->scratch, len);
    f->stored_len = len;
    return DH_STORE_OK;
}

/* The rate switch of spec 10.1: only listed rates, only between whole lines of output. */
static void fuzz_set_rate(void *p, uint32_t rate)
{
    struct fuzz_port *f = p;
    if (rate != DH_BAUD_DEFAULT && rate != 921600UL && rate != 230400UL) {
        __builtin_trap();
    }
    if (f->out_len > 0u && (f->out_len < 2u || f->out[f->out_len - 1u] != '\n' ||
                            f->out[f->out_len - 2u] != '\r')) {
        __builtin_trap();
    }
    if (rate != DH_BAUD_DEFAULT) {
        /* A switch up answers a BAUD: the last frame out is its OK, written in full. */
        char want[24];
        size_t at = f->out_len, len = (size_t)snprintf(want, sizeof want, " OK BAUD %lu *",
                                                       (unsigned long)rate);
        while (at > 0u && f->out[at - 1u] != '@') {
            at--;
        }
        if (at == 0u || f->out_len - at < 6u + len ||
            memcmp(f->out + at + 6u, want, len) != 0) {
            __builtin_trap();
        }
    }
    f->rate = rate;
}

static uint32_t fuzz_millis(void *p) { return ((struct fuzz_port *)p)->now_ms; }

static const uint32_t FUZZ_RATES[2] DH_ROM = {921600UL, 230400UL};
static const struct dh_baud_port FUZZ_BAUD = {fuzz_set_rate, fuzz_millis, FUZZ_RATES, 2};

static void feed_text(const char *s)
{
    while (*s != '\0') {
        dh_feed(&dev, (uint8_t)*s++);
    }
}

static void feed_frame(unsigned seq, const char *words)
{
    char buf[256];
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0, i;
    uint16_t crc;
    memcpy(buf, "@DH1 ", 5);
    n = 5;
    buf[n++] = hex[(seq >> 4) & 15u];
    buf[n++] = hex[seq & 15u];
    buf[n++] = ' ';
    for (i = 0; words[i] != '\0'; i++) {
        buf[n++] = words[i];
    }
    crc = dh_crc16((const uint8_t *)buf, n);
    buf[n++] = ' ';
    buf[n++] = '*';
    for (i = 0; i < 4u; i++) {
        buf[n++] = hex[(crc >> (12u - 4u * i)) & 15u];
    }
    buf[n++] = '\r';
    buf[n++] = '\n';
    buf[n] = '\0';
    feed_text(buf);
}

/* A committed config (and an open session with a staged secret) to start from. The secret
 * marker must never come back out of the device. */
static void preload(void)
{
    static const char *const stages[] = {
        "STAGE device_id 0 dh-1", "STAGE mqtt_username 0 u", "STAGE mqtt_password 0 " SECRET,
        "STAGE api_key 0 " SECRET, "STAGE broker_host 0 h", "STAGE broker_port 0 1",
        "STAGE broker_tls 0 0", "STAGE topic_data 0 d", "STAGE topic_status 0 s",
        "STAGE topic_cmd 0 c", "STAGE generation 0 7"};
    size_t i;
    feed_frame(0xF0, "BEGIN");
    for (i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        feed_frame(0xF1 + (unsigned)i, stages[i]);
    }
}

static void check_output(void)
{
    size_t i = 0;
    const uint8_t *o = port.out;
    size_t n = port.out_len;
    if (n >= sizeof SECRET - 1) {
        size_t j;
        for (j = 0; j + sizeof SECRET - 1 <= n; j++) {
            if (memcmp(o + j, SECRET, sizeof SECRET - 1) == 0) {
                __builtin_trap();
            }
        }
    }
    while (i < n) {
        size_t start = i, end;
        while (i < n && o[i] != '\n') {
            i++;
        }
        if (i == n || i == start || o[i - 1] != '\r') {
            __builtin_trap(); /* every line the device sends ends in "\r\n" */
        }
        end = i - 1;
        i++;
        if (o[start] == '@') {
            /* A frame: " *XXXX" closes a body whose CRC it is. Oversized echoes of unknown
             * words (see README, spec notes) are still checked for their CRC. */
            uint16_t crc = 0, want;
            size_t k;
            if (end - start < 11u || o[end - 6] != ' ' || o[end - 5] != '*') {
                __builtin_trap();
            }
            for (k = end - 4; k < end; k++) {
                crc = (uint16_t)(crc << 4);
                crc = (uint16_t)(crc | (uint16_t)(o[k] <= '9' ? o[k] - '0' : o[k] - 'A' + 10));
            }
            want = dh_crc16(o + start, end - 6 - start);
            if (crc != want) {
                __builtin_trap();
            }
            for (k = start + 1; k < end; k++) {
                if (o[k] == '@' || o[k] < 0x20u || o[k] > 0x7Eu) {
                    __builtin_trap();
                }
            }
        } else {
            size_t k;
            for (k = start; k < end; k++) {
                if (o[k] == '@' || o[k] < 0x20u || o[k] > 0x7Eu) {
                    __builtin_trap(); /* debug output that could break a frame */
                }
            }
        }
    }
}

/* Nothing is left behind the line in the line buffer: PROVE's K0 and mac are wiped. */
static void check_line_spare_wiped(void)
{
    size_t k;
    for (k = dev.line_len; k < sizeof dev.line; k++) {
        if (dev.line[k] != 0u) {
            __builtin_trap();
        }
    }
}

/* The application's allowance for the write gate: on for one tick in three. */
static int fuzz_write_allowed(void *p)
{
    return (((struct fuzz_port *)p)->now_ms / 7u) % 3u == 0u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t capacities[4] = {DH_MAX_BLOB_LEN, 640, 160, DH_BLOB_OVERHEAD + 8};
    uint8_t seq;
    uint16_t crc;
    uint8_t mode;
    size_t i;

    (void)dh_frame_check(data, size, &seq, &crc);
    if (size == 0u) {
        return 0;
    }
    mode = data[0];
    memset(&port, 0, offsetof(struct fuzz_port, out));
    port.out_len = 0;
    port.capacity = capacities[mode & 3u];
    if (dh_init(&dev, &port, "fuzz-1.0", port.capacity) != DH_INIT_OK) {
        __builtin_trap();
    }
    dh_set_debug(&dev, (mode & 4u) != 0u);
    if (mode & 8u) {
        preload();
        if (mode & 16u) {
            feed_frame(0xFE, "COMMIT " PRELOAD_DIGEST " A1B2C3D4");
            if (port.capacity >= 160u && !dh_provisioned(&dev)) {
                __builtin_trap(); /* the preloaded config fits every capacity but the least */
            }
        }
    }
    port.fail_commit = (mode & 32u) != 0u;
    if ((mode & 64u) && dh_enable_baud(&dev, &FUZZ_BAUD) != DH_INIT_OK) {
        __builtin_trap();
    }
    if (mode & 128u) {
        dh_enable_prove(&dev);
        /* The write gate (spec 10.3) with an allowance that comes and goes as time passes. */
        dh_enable_gate(&dev, fuzz_write_allowed);
    }
    for (i = 1; i < size; i++) {
        dh_feed(&dev, data[i]);
        if (data[i] == '\n') {
            check_line_spare_wiped();
        }
        port.now_ms += 7u;
        dh_tick(&dev);
    }
    check_output();
    return 0;
}
