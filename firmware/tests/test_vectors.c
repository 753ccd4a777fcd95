/* SPDX-License-Identifier: MIT */
/*
 * test_vectors.c - host unit tests of the C module against docs/protocol.md.
 *
 * The spec's test vectors (section 8) are read from the document itself, so the document, the
 * Rust crate (crates/station-protocol/tests/spec_vectors.rs checks the same text) and this
 * module cannot drift apart: the CRC check value and frame bytes, the whole example session,
 * both refusals, the over-long STAGE chunk, the canonical encoding and its SHA-256, the BAUD
 * and PROVE frames of 10.1 and 10.3. The rest mirrors the unit tests of
 * crates/station-protocol/src/device/ and codec.rs, plus what only C has to get right
 * (staging out of order in the scratch area, a failing port, debug output hygiene).
 *
 * Usage: test_vectors path/to/docs/protocol.md
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dh_device.h"
#include "dh_sha256.h"

/* ---- A port in memory ------------------------------------------------------------------ */

struct mem_port {
    uint8_t out[8192];
    size_t out_len;
    uint8_t hwid[DH_MAX_HWID_BYTES];
    uint8_t hwid_len;
    uint16_t stored_len;
    uint8_t stored[DH_MAX_BLOB_LEN];
    uint8_t scratch[DH_MAX_BLOB_LEN];
    int fail_commit;  /* DH_STORE_* to return from commit, 0 to store */
    int fail_scratch; /* scratch writes fail */
    int fail_stored;  /* reads of the committed blob fail (after dh_init) */
    const uint8_t *input;
    size_t input_len;
    /* The optional rate switch (spec 10.1), with a fake clock. */
    uint32_t now_ms;
    uint32_t rate;           /* what the UART runs at: 0 means the default, never switched */
    unsigned rate_switches;  /* calls of set_rate */
    size_t out_len_at_switch; /* bytes written when set_rate was called */
};

int dh_port_read_byte(void *port)
{
    struct mem_port *p = port;
    if (p->input_len == 0u) {
        return -1;
    }
    p->input_len--;
    return *p->input++;
}

void dh_port_write_byte(void *port, uint8_t byte)
{
    struct mem_port *p = port;
    if (p->out_len < sizeof p->out) {
        p->out[p->out_len++] = byte;
    }
}

uint8_t dh_port_hardware_id(void *port, uint8_t id[DH_MAX_HWID_BYTES])
{
    struct mem_port *p = port;
    memcpy(id, p->hwid, p->hwid_len);
    return p->hwid_len;
}

uint16_t dh_port_stored_len(void *port) { return ((struct mem_port *)port)->stored_len; }

int dh_port_stored_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct mem_port *p = port;
    if (p->fail_stored || (size_t)offset + len > p->stored_len) {
        return -1;
    }
    memcpy(buf, p->stored + offset, len);
    return 0;
}

int dh_port_scratch_write(void *port, uint16_t offset, const uint8_t *buf, uint16_t len)
{
    struct mem_port *p = port;
    if (p->fail_scratch || (size_t)offset + len > sizeof p->scratch) {
        return -1;
    }
    memcpy(p->scratch + offset, buf, len);
    return 0;
}

int dh_port_scratch_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct mem_port *p = port;
    if ((size_t)offset + len > sizeof p->scratch) {
        return -1;
    }
    memcpy(buf, p->scratch + offset, len);
    return 0;
}

int dh_port_commit(void *port, uint16_t len)
{
    struct mem_port *p = port;
    if (p->fail_commit != 0) {
        return p->fail_commit;
    }
    memcpy(p->stored, p->scratch, len);
    p->stored_len = len;
    return DH_STORE_OK;
}

static void mem_set_rate(void *port, uint32_t rate)
{
    struct mem_port *p = port;
    p->rate = rate;
    p->rate_switches++;
    p->out_len_at_switch = p->out_len;
}

static uint32_t mem_millis(void *port) { return ((struct mem_port *)port)->now_ms; }

/* The station's rates (spec 10.1, FAST_BAUD_RATES), as a port that takes all three. */
static const uint32_t MEM_RATES[3] DH_ROM = {921600UL, 460800UL, 230400UL};
static const struct dh_baud_port MEM_BAUD = {mem_set_rate, mem_millis, MEM_RATES, 3};

/* ---- Checks ---------------------------------------------------------------------------- */

static int checks, failures;
static const char *current_test = "";

static void check(int ok, const char *what, ...)
{
    checks++;
    if (!ok) {
        va_list ap;
        failures++;
        fprintf(stderr, "FAIL [%s] ", current_test);
        va_start(ap, what);
        vfprintf(stderr, what, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
}

/* ---- Helpers --------------------------------------------------------------------------- */

static const char *HWID_HEX = "A1B2C3D4E5F60718";
static const char *FW = "fw-2.4.1";

static struct mem_port port_a, port_b;
static dh_device dev_a, dev_b;

static void new_device(dh_device *dev, struct mem_port *p, uint16_t capacity, int keep_storage)
{
    static const uint8_t id[8] = {0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18};
    uint16_t stored_len = p->stored_len;
    uint8_t stored[DH_MAX_BLOB_LEN];
    memcpy(stored, p->stored, sizeof stored);
    memset(p, 0, sizeof *p);
    if (keep_storage) {
        memcpy(p->stored, stored, sizeof stored);
        p->stored_len = stored_len;
    }
    memcpy(p->hwid, id, sizeof id);
    p->hwid_len = sizeof id;
    check(dh_init(dev, p, FW, capacity) == DH_INIT_OK, "dh_init");
}

/* "@DH1 <seq> <words> *<CRC>\r\n" into buf; returns its length. */
static size_t frame(char *buf, size_t cap, unsigned seq, const char *words)
{
    int n = snprintf(buf, cap, "@DH1 %02X %s", seq, words);
    uint16_t crc = dh_crc16((const uint8_t *)buf, (size_t)n);
    n += snprintf(buf + n, cap - (size_t)n, " *%04X\r\n", crc);
    return (size_t)n;
}

/* Feeds bytes and returns what the device answered, as a NUL-terminated string. */
static const char *feed(dh_device *dev, const char *bytes, size_t len)
{
    struct mem_port *p = dev->port;
    static char reply[8192];
    size_t i;
    p->out_len = 0;
    for (i = 0; i < len; i++) {
        dh_feed(dev, (uint8_t)bytes[i]);
    }
    memcpy(reply, p->out, p->out_len);
    reply[p->out_len] = '\0';
    return reply;
}

/* Sends one request; returns the reply line without "\r\n" (or "" for none). */
static const char *ask(dh_device *dev, unsigned seq, const char *words)
{
    char f[512];
    static char line[8192];
    size_t n = frame(f, sizeof f, seq, words);
    const char *r = feed(dev, f, n);
    size_t len = strlen(r);
    strcpy(line, r);
    if (len >= 2u && line[len - 2] == '\r' && line[len - 1] == '\n') {
        line[len - 2] = '\0';
    }
    return line;
}

/* The words of a reply line after "@DH1 XX ", without the CRC trailer. */
static const char *words_of(const char *line)
{
    static char w[8192];
    size_t len = strlen(line);
    if (len < 14u) {
        return "";
    }
    memcpy(w, line + 8, len - 14u);
    w[len - 14u] = '\0';
    return w;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The §8.3 config, escaped for STAGE, in canonical order. */
static const char *const VECTOR_KEYS[DH_KEY_COUNT] = {
    "device_id",  "mqtt_username", "mqtt_password", "api_key",   "broker_host", "broker_port",
    "broker_tls", "topic_data",    "topic_status",  "topic_cmd", "generation"};
static const char *const VECTOR_VALUES[DH_KEY_COUNT] = {
    "dh-000123",         "dev-000123",          "s3cr3t%20pass%25%40%2A",
    "ak_live_7f3a9c",    "mqtt.devicehub.example", "8883",
    "1",                 "dh/dh-000123/data",   "dh/dh-000123/status",
    "dh/dh-000123/cmd",  "1"};

static void stage_vector_config(dh_device *dev, unsigned first_seq, int skip_key)
{
    unsigned k;
    char words[300];
    for (k = 0; k < DH_KEY_COUNT; k++) {
        if ((int)k == skip_key) {
            continue;
        }
        snprintf(words, sizeof words, "STAGE %s 0 %s", VECTOR_KEYS[k], VECTOR_VALUES[k]);
        check(starts_with(words_of(ask(dev, first_seq + k, words)), "OK STAGE"), "stage %s",
              VECTOR_KEYS[k]);
    }
}

static void hex_encode(const uint8_t *b, size_t n, char *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", b[i]);
    }
}

/* ---- The document ---------------------------------------------------------------------- */

static char spec[1 << 17];

static void load_spec(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    n = fread(spec, 1, sizeof spec - 1, f);
    fclose(f);
    spec[n] = '\0';
}

/* The body of the first fenced block after `marker`. */
static const char *spec_block(const char *marker, char *out, size_t cap)
{
    const char *m = strstr(spec, marker), *open, *close;
    size_t n;
    if (m == NULL || (open = strstr(m, "```")) == NULL ||
        (open = strchr(open, '\n')) == NULL || (close = strstr(open + 1, "```")) == NULL) {
        fprintf(stderr, "docs/protocol.md has no block after %s\n", marker);
        exit(2);
    }
    n = (size_t)(close - (open + 1));
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(out, open + 1, n);
    out[n] = '\0';
    return out;
}

/* Hex digits of a block, whitespace dropped. */
static const char *spec_hex(const char *marker)
{
    static char hex[4096];
    char block[4096];
    const char *s = spec_block(marker, block, sizeof block);
    size_t n = 0;
    for (; *s != '\0' && n + 1 < sizeof hex; s++) {
        if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')) {
            hex[n++] = *s;
        }
    }
    hex[n] = '\0';
    return hex;
}

/* The n-th line of `block` that starts with `prefix`, the prefix cut off. */
static const char *nth_line(const char *block, const char *prefix, int n)
{
    static char line[512];
    const char *s = block;
    while (s != NULL && *s != '\0') {
        const char *e = strchr(s, '\n');
        size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
        if (strncmp(s, prefix, strlen(prefix)) == 0 && n-- == 0) {
            len -= strlen(prefix);
            memcpy(line, s + strlen(prefix), len);
            line[len] = '\0';
            return line;
        }
        s = e != NULL ? e + 1 : NULL;
    }
    return NULL;
}

/* ---- Tests ----------------------------------------------------------------------------- */

static void test_crc_vectors(void)
{
    const char *hello = "@DH1 01 HELLO 1";
    char f[64], hexline[256], expect[256];
    const char *p;
    size_t n, i;
    current_test = "crc (8.1)";
    check(strstr(spec, "`123456789` is **`0x29B1`**") != NULL, "spec states the check value");
    check(dh_crc16((const uint8_t *)"123456789", 9) == 0x29B1u, "crc16(123456789)");
    check(strstr(spec, "`@DH1 01 HELLO 1` → CRC `0x17C2`") != NULL, "spec states 0x17C2");
    check(dh_crc16((const uint8_t *)hello, strlen(hello)) == 0x17C2u, "crc of HELLO");
    /* The frame's bytes, as the spec lists them in hex. */
    p = strstr(spec, "(hex `40 44");
    check(p != NULL, "spec lists the HELLO frame bytes");
    if (p != NULL) {
        const char *end = strchr(p + 6, '`');
        n = (size_t)(end - (p + 6));
        memcpy(expect, p + 6, n);
        expect[n] = '\0';
        n = frame(f, sizeof f, 1, "HELLO 1");
        hexline[0] = '\0';
        for (i = 0; i < n; i++) {
            sprintf(hexline + strlen(hexline), i == 0 ? "%02X" : " %02X", (uint8_t)f[i]);
        }
        check(strcmp(hexline, expect) == 0, "HELLO frame bytes: %s", hexline);
    }
}

static void test_sha256(void)
{
    static const char *const msgs[] = {"", "abc",
                                       "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"};
    static const char *const digests[] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"};
    uint8_t d[32];
    char hex[65];
    dh_sha256 s;
    size_t i;
    current_test = "sha256 (FIPS 180-4)";
    for (i = 0; i < 3u; i++) {
        dh_sha256_init(&s);
        dh_sha256_update(&s, (const uint8_t *)msgs[i], strlen(msgs[i]));
        dh_sha256_final(&s, d);
        hex_encode(d, 32, hex);
        check(strcmp(hex, digests[i]) == 0, "sha256(%s) = %s", msgs[i], hex);
    }
    dh_sha256_init(&s);
    for (i = 0; i < 1000000u; i++) {
        dh_sha256_update(&s, (const uint8_t *)"a", 1);
    }
    dh_sha256_final(&s, d);
    hex_encode(d, 32, hex);
    check(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "sha256(a x 10^6)");
}

/* The session of spec 8.2, every frame the document shows, byte for byte; then the encoding
 * and digest of 8.3 as they land in storage. */
static void test_spec_session(void)
{
    char block[4096];
    const char *line;
    char expect[512];
    uint8_t digest[32];
    char hex[4096];
    dh_sha256 s;
    int i;
    current_test = "session (8.2, 8.3)";
    spec_block("### 8.2 Frames", block, sizeof block);
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    for (i = 0;; i++) {
        const char *req = nth_line(block, "> ", i);
        const char *rep;
        char f[300];
        unsigned seq;
        if (req == NULL) {
            break;
        }
        strcpy(f, req);
        if (sscanf(f, "@DH1 %2X", &seq) != 1) {
            check(0, "unreadable spec line %s", f);
            continue;
        }
        if (strstr(f, " COMMIT ") != NULL) {
            /* The keys the document leaves out (seq 03..0D but 05). */
            unsigned k;
            char words[300];
            for (k = 0; k < DH_KEY_COUNT; k++) {
                if (k == 2u) {
                    continue;
                }
                snprintf(words, sizeof words, "STAGE %s 0 %s", VECTOR_KEYS[k],
                         VECTOR_VALUES[k]);
                check(starts_with(words_of(ask(&dev_a, 3 + k, words)), "OK STAGE"), "stage");
            }
        }
        strcat(f, "\r\n");
        rep = feed(&dev_a, f, strlen(f));
        line = nth_line(block, "< ", i);
        snprintf(expect, sizeof expect, "%s\r\n", line != NULL ? line : "?");
        check(strcmp(rep, expect) == 0, "reply to %s: got %s want %s", req, rep, expect);
    }
    check(i == 5, "the spec shows five requests (saw %d)", i);

    /* The blob is the canonical encoding followed by its SHA-256 (spec 7.4). */
    if (port_a.stored_len < 32u + 6u) {
        check(0, "nothing stored");
        return;
    }
    hex_encode(port_a.stored, port_a.stored_len - 32u, hex);
    check(strcmp(hex, spec_hex("VECTOR-ENCODING")) == 0, "stored encoding = VECTOR-ENCODING");
    check(strstr(spec, "canonical encoding, 166 bytes") != NULL && port_a.stored_len == 166 + 32,
          "166-byte encoding, blob %u", port_a.stored_len);
    hex_encode(port_a.stored + port_a.stored_len - 32, 32, hex);
    check(strcmp(hex, spec_hex("VECTOR-DIGEST")) == 0, "trailer = VECTOR-DIGEST");
    dh_sha256_init(&s);
    dh_sha256_update(&s, port_a.stored, port_a.stored_len - 32u);
    dh_sha256_final(&s, digest);
    hex_encode(digest, 32, hex);
    check(strcmp(hex, spec_hex("VECTOR-DIGEST")) == 0, "sha256(encoding) = VECTOR-DIGEST");

    /* A restart loads and verifies the blob. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 1);
    check(dh_provisioned(&dev_a) && dh_generation(&dev_a) == 1u, "reloaded generation 1");
    check(strcmp(words_of(ask(&dev_a, 1, "HELLO 1")),
                 "OK HELLO 1 CHUNK,READ A1B2C3D4E5F60718 fw-2.4.1 1") == 0,
          "HELLO after reload");
    {
        char buf[64];
        check(dh_config_read(&dev_a, DH_KEY_BROKER_HOST, buf, sizeof buf) == 22 &&
                  strcmp(buf, "mqtt.devicehub.example") == 0,
              "dh_config_read");
        check(dh_config_read(&dev_a, DH_KEY_BROKER_HOST, buf, 22) == -1, "too small a buffer");
    }
}

static void test_spec_refusals(void)
{
    char block[2048], commit[300];
    const char *rep;
    char expect[300];
    char session[4096];
    current_test = "refusals (8.2)";
    spec_block("### 8.2 Frames", session, sizeof session);
    snprintf(commit, sizeof commit, "@DH1 0E COMMIT%s\r\n",
             nth_line(session, "> @DH1 0E COMMIT", 0));
    spec_block("Refusals of the same COMMIT", block, sizeof block);

    /* DIGEST_MISMATCH: what was staged is not what the digest covers. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 2, "BEGIN");
    stage_vector_config(&dev_a, 3, -1);
    ask(&dev_a, 0x0D, "STAGE generation 0 2");
    rep = feed(&dev_a, commit, strlen(commit));
    snprintf(expect, sizeof expect, "%s\r\n", nth_line(block, "< ", 0));
    check(strcmp(rep, expect) == 0, "DIGEST_MISMATCH: got %s want %s", rep, expect);
    check(port_a.stored_len == 0 && !dh_provisioned(&dev_a), "nothing stored");

    /* MISSING_KEY api_key: the first key not staged, in canonical order. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 2, "BEGIN");
    stage_vector_config(&dev_a, 3, 3);
    rep = feed(&dev_a, commit, strlen(commit));
    snprintf(expect, sizeof expect, "%s\r\n", nth_line(block, "< ", 1));
    check(strcmp(rep, expect) == 0, "MISSING_KEY: got %s want %s", rep, expect);
}

static void test_retransmission_and_cache(void)
{
    char f1[300], f2[300];
    const char *r;
    char first[300];
    size_t n;
    current_test = "reply cache (6.3)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 1, "BEGIN");
    n = frame(f1, sizeof f1, 2, "STAGE device_id 0 abc");
    strcpy(first, feed(&dev_a, f1, n));
    r = feed(&dev_a, f1, n);
    check(strcmp(r, first) == 0, "same seq and CRC: same reply");
    check(strcmp(words_of(ask(&dev_a, 3, "STAGE device_id 3 def")), "OK STAGE device_id 6") == 0,
          "the replay did not append");
    check(strcmp(words_of(ask(&dev_a, 4, "STAGE device_id 3 def")), "OK STAGE device_id 6") == 0,
          "a repeated chunk lands at the same offset");
    /* A lost COMMIT reply is recovered without committing twice. */
    ask(&dev_a, 5, "BEGIN");
    stage_vector_config(&dev_a, 6, -1);
    {
        char words[200];
        snprintf(words, sizeof words,
                 "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
                 HWID_HEX);
        n = frame(f2, sizeof f2, 0x20, words);
        strcpy(first, feed(&dev_a, f2, n));
        check(strcmp(words_of(first), "OK COMMIT 1") == 0 || strstr(first, "OK COMMIT 1"),
              "commit");
        check(strcmp(feed(&dev_a, f2, n), first) == 0, "replayed OK COMMIT, not NO_SESSION");
        check(strstr(ask(&dev_a, 0x21, words), "ERR COMMIT NO_SESSION") != NULL,
              "a new COMMIT finds no session");
    }
    /* HELLO clears the cache: seq 6 after HELLO is a new request. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 5, "BEGIN");
    ask(&dev_a, 6, "STAGE device_id 0 abc");
    ask(&dev_a, 1, "HELLO 1");
    ask(&dev_a, 2, "ABORT");
    check(strstr(ask(&dev_a, 6, "STAGE device_id 0 abc"), "ERR STAGE NO_SESSION") != NULL,
          "HELLO cleared the cache");
    /* Only a COMMIT tells a replay from a re-execution: replayed it says OK, executed again
     * it finds no session. Right after HELLO it must be executed again. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 5, "BEGIN");
    stage_vector_config(&dev_a, 6, -1);
    n = frame(f2, sizeof f2, 0x20,
              "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 "
              "A1B2C3D4E5F60718");
    check(strstr(feed(&dev_a, f2, n), "OK COMMIT 1") != NULL, "commit");
    ask(&dev_a, 1, "HELLO 1");
    check(strstr(feed(&dev_a, f2, n), "ERR COMMIT NO_SESSION") != NULL,
          "after HELLO the same COMMIT frame is a new request");
}

static void test_commit_order_and_values(void)
{
    char words[200];
    current_test = "COMMIT checks in order (4.5)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    snprintf(words, sizeof words,
             "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
             HWID_HEX);
    check(strcmp(words_of(ask(&dev_a, 1, words)), "ERR COMMIT NO_SESSION") == 0, "no session");
    ask(&dev_a, 2, "BEGIN");
    check(strcmp(words_of(ask(&dev_a, 3,
                              "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4"
                              "138507 FFFF")),
                 "ERR COMMIT HWID_MISMATCH") == 0,
          "hwid mismatch");
    check(strcmp(words_of(ask(&dev_a, 4, "STAGE device_id 0 x")), "ERR STAGE NO_SESSION") == 0,
          "a refused COMMIT ends the session");
    ask(&dev_a, 5, "BEGIN");
    ask(&dev_a, 6, "STAGE device_id 0 x");
    check(strcmp(words_of(ask(&dev_a, 7, words)), "ERR COMMIT MISSING_KEY mqtt_username") == 0,
          "missing key");
    /* Lower-case hardware id and upper-case digest are accepted. */
    ask(&dev_a, 8, "BEGIN");
    stage_vector_config(&dev_a, 9, -1);
    check(strcmp(words_of(ask(&dev_a, 0x30,
                              "COMMIT 22C9C3A2C2EE2B126636276E7B7DF02EFDE2C9E5292E313F1E0CF453B4"
                              "138507 a1b2c3d4e5f60718")),
                 "OK COMMIT 1") == 0,
          "case-insensitive digest and hardware id");
    /* A value that breaks its rules but matches its digest: BAD_VALUE. */
    {
        /* device_id "x", broker_port "08883", the rest of 8.3; digest computed here. */
        uint8_t enc[400], d[32];
        char hex[65];
        size_t n = 0;
        unsigned k;
        dh_sha256 s;
        static const char *const raw[DH_KEY_COUNT] = {
            "x", "dev-000123", "s3cr3t pass%@*", "ak_live_7f3a9c", "mqtt.devicehub.example",
            "08883", "1", "dh/dh-000123/data", "dh/dh-000123/status", "dh/dh-000123/cmd", "1"};
        memcpy(enc, "DHCFG1", 6);
        n = 6;
        for (k = 0; k < DH_KEY_COUNT; k++) {
            size_t l = strlen(raw[k]);
            enc[n++] = (uint8_t)(k + 1);
            enc[n++] = 0;
            enc[n++] = (uint8_t)l;
            memcpy(enc + n, raw[k], l);
            n += l;
        }
        dh_sha256_init(&s);
        dh_sha256_update(&s, enc, n);
        dh_sha256_final(&s, d);
        hex_encode(d, 32, hex);
        ask(&dev_a, 0x31, "BEGIN");
        stage_vector_config(&dev_a, 0x32, -1);
        ask(&dev_a, 0x40, "STAGE device_id 0 x");
        ask(&dev_a, 0x41, "STAGE broker_port 0 08883");
        snprintf(words, sizeof words, "COMMIT %s %s", hex, HWID_HEX);
        check(strcmp(words_of(ask(&dev_a, 0x42, words)), "ERR COMMIT BAD_VALUE broker_port") ==
                  0,
              "bad value after a matching digest");
        check(dh_generation(&dev_a) == 1u, "old config kept");
    }
}

/* Validation as command.rs Key::validate: the digest matches, only the rules refuse. */
static void test_value_rules(void)
{
    static const struct {
        const char *key;
        const char *raw;
        int ok;
    } cases[] = {{"broker_port", "8883", 1},        {"broker_port", "0", 0},
                 {"broker_port", "65535", 1},       {"broker_port", "65536", 0},
                 {"generation", "0", 1},            {"generation", "4294967295", 1},
                 {"generation", "4294967296", 0},   {"generation", "01", 0},
                 {"broker_tls", "0", 1},            {"broker_tls", "2", 0},
                 {"device_id", "a.b_c:d-9", 1},     {"device_id", "has space", 0},
                 {"broker_host", "h\x7f", 0},       {"topic_data", "caf\xc3\xa9", 1},
                 {"topic_data", "\xc0\xaf", 0},     {"topic_data", "\xed\xa0\x80", 0},
                 {"topic_data", "\xf4\x90\x80\x80", 0}, {"topic_data", "\xf0\x9f\x98\x80", 1},
                 {"topic_data", "\xe2\x82", 0},     {"mqtt_password", "", 1},
                 {"mqtt_username", "a\x01", 1}};
    size_t c;
    current_test = "value rules (5.1)";
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t enc[600], d[32];
        char hex[65], words[400], esc[200];
        size_t n = 6, e = 0, i;
        unsigned k;
        dh_sha256 s;
        memcpy(enc, "DHCFG1", 6);
        new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
        ask(&dev_a, 1, "BEGIN");
        stage_vector_config(&dev_a, 2, -1);
        for (i = 0; cases[c].raw[i] != '\0'; i++) {
            e += (size_t)sprintf(esc + e, "%%%02X", (uint8_t)cases[c].raw[i]);
        }
        if (e == 0) {
            strcpy(esc, "-");
        }
        snprintf(words, sizeof words, "STAGE %s 0 %s", cases[c].key, esc);
        ask(&dev_a, 0x20, words);
        for (k = 0; k < DH_KEY_COUNT; k++) {
            const char *v = strcmp(VECTOR_KEYS[k], cases[c].key) == 0 ? cases[c].raw : NULL;
            static const char *const raw[DH_KEY_COUNT] = {
                "dh-000123",         "dev-000123",          "s3cr3t pass%@*",
                "ak_live_7f3a9c",    "mqtt.devicehub.example", "8883",
                "1",                 "dh/dh-000123/data",   "dh/dh-000123/status",
                "dh/dh-000123/cmd",  "1"};
            size_t l;
            if (v == NULL) {
                v = raw[k];
            }
            l = strlen(v);
            enc[n++] = (uint8_t)(k + 1);
            enc[n++] = 0;
            enc[n++] = (uint8_t)l;
            memcpy(enc + n, v, l);
            n += l;
        }
        dh_sha256_init(&s);
        dh_sha256_update(&s, enc, n);
        dh_sha256_final(&s, d);
        hex_encode(d, 32, hex);
        snprintf(words, sizeof words, "COMMIT %s %s", hex, HWID_HEX);
        if (cases[c].ok) {
            check(starts_with(words_of(ask(&dev_a, 0x21, words)), "OK COMMIT"), "%s %s accepted",
                  cases[c].key, cases[c].raw);
        } else {
            char want[64];
            snprintf(want, sizeof want, "ERR COMMIT BAD_VALUE %s", cases[c].key);
            check(strcmp(words_of(ask(&dev_a, 0x21, words)), want) == 0, "%s refused",
                  cases[c].key);
        }
    }
}

static void test_stage_offsets_limits_and_order(void)
{
    char words[400];
    char big[260];
    const char *r;
    current_test = "STAGE offsets, limits, order (4.4)";
    /* 300 bytes of values, as the Rust model's with_staging_capacity(300). */
    new_device(&dev_a, &port_a, (uint16_t)(300 + DH_BLOB_OVERHEAD), 0);
    check(strcmp(words_of(ask(&dev_a, 1, "STAGE device_id 0 a")), "ERR STAGE NO_SESSION") == 0,
          "no session");
    ask(&dev_a, 2, "BEGIN");
    check(strcmp(words_of(ask(&dev_a, 3, "STAGE device_id 1 a")),
                 "ERR STAGE BAD_OFFSET device_id") == 0,
          "offset beyond staged");
    check(strcmp(words_of(ask(&dev_a, 4, "STAGE broker_tls 0 10")),
                 "ERR STAGE BAD_VALUE broker_tls") == 0,
          "too long");
    memset(big, 'a', 100);
    big[100] = '\0';
    snprintf(words, sizeof words, "STAGE topic_data 0 %s", big);
    ask(&dev_a, 5, words);
    snprintf(words, sizeof words, "STAGE topic_status 0 %s", big);
    ask(&dev_a, 6, words);
    snprintf(words, sizeof words, "STAGE topic_cmd 0 %sa", big);
    check(strcmp(words_of(ask(&dev_a, 7, words)), "ERR STAGE STORAGE_FULL topic_cmd") == 0,
          "storage full");
    memset(big, 'b', 100);
    snprintf(words, sizeof words, "STAGE topic_data 0 %s", big);
    check(strcmp(words_of(ask(&dev_a, 8, words)), "OK STAGE topic_data 100") == 0,
          "restaging replaces");
    check(strcmp(words_of(ask(&dev_a, 9, "STAGE device_id 0 -")), "OK STAGE device_id 0") == 0,
          "empty value");
    check(strcmp(words_of(ask(&dev_a, 10, "STAGE device_id 0 %2d")), "OK STAGE device_id 1") == 0,
          "a lone dash, lower-case escape");
    check(strcmp(words_of(ask(&dev_a, 11, "STAGE device_id 0 %4")), "ERR STAGE BAD_FRAME") == 0,
          "bad escape");
    check(strcmp(words_of(ask(&dev_a, 12, "STAGE device_id 1000 a")), "ERR STAGE BAD_FRAME") ==
              0,
          "offset above 999");
    check(strcmp(words_of(ask(&dev_a, 13, "STAGE device_id 01 a")), "ERR STAGE BAD_FRAME") == 0,
          "non-canonical offset");
    r = words_of(ask(&dev_a, 14, "STAGE colour 0 x"));
    check(strcmp(r, "ERR STAGE UNKNOWN_KEY colour") == 0, "unknown key: %s", r);
    check(strcmp(words_of(ask(&dev_a, 15, "STAGE %2A 0 x")), "ERR STAGE UNKNOWN_KEY %252A") == 0,
          "unknown key is echoed escaped");
    check(strcmp(words_of(ask(&dev_a, 16, "STAGE device_id 0")), "ERR STAGE BAD_FRAME") == 0,
          "field count");

    /* Out of canonical order, chunked, restaged shorter and longer: the scratch area must
     * still hold exactly the canonical encoding, proven by the spec's digest. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 1, "BEGIN");
    {
        int k, seq = 2;
        for (k = DH_KEY_COUNT - 1; k >= 0; k--) {
            snprintf(words, sizeof words, "STAGE %s 0 %s", VECTOR_KEYS[k], VECTOR_VALUES[k]);
            ask(&dev_a, (unsigned)seq++, words);
        }
        ask(&dev_a, (unsigned)seq++, "STAGE mqtt_username 0 a-much-longer-user-name-first");
        ask(&dev_a, (unsigned)seq++, "STAGE device_id 0 x");
        ask(&dev_a, (unsigned)seq++, "STAGE mqtt_username 0 dev-");
        ask(&dev_a, (unsigned)seq++, "STAGE device_id 0 dh-000");
        check(strcmp(words_of(ask(&dev_a, (unsigned)seq++, "STAGE device_id 6 123")),
                     "OK STAGE device_id 9") == 0,
              "second chunk");
        ask(&dev_a, (unsigned)seq++, "STAGE mqtt_username 4 000123");
        snprintf(words, sizeof words,
                 "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
                 HWID_HEX);
        r = words_of(ask(&dev_a, (unsigned)seq++, words));
        check(strcmp(r, "OK COMMIT 1") == 0, "commit after out-of-order staging: %s", r);
    }
}

/* Firmware README, spec note 3: a STAGE chunk word over 128 bytes is BAD_FRAME (spec 4.4), a
 * parse error: answered without a session, nothing staged, the cache untouched. The refusal
 * the document shows in 8.2 is fed as it stands; the Rust model (device/tests.rs) has the same test. */
static void test_stage_chunk_over_128_escaped_bytes_is_refused(void)
{
    char block[1024], req[512], want[512], words[400], f[512], first[512];
    const char *line, *r;
    size_t n, i;
    current_test = "STAGE chunk over 128 escaped bytes (4.4, 8.2)";
    spec_block("A STAGE whose chunk is 129 bytes escaped", block, sizeof block);
    line = nth_line(block, "> ", 0);
    check(line != NULL, "the spec shows the request");
    snprintf(req, sizeof req, "%s\r\n", line != NULL ? line : "");
    line = nth_line(block, "< ", 0);
    check(line != NULL, "the spec shows the reply");
    snprintf(want, sizeof want, "%s\r\n", line != NULL ? line : "");
    {
        /* The document's chunk is one byte over the limit: the word before " *". */
        const char *end = strstr(req, " *");
        const char *start = end;
        while (start != NULL && start > req && start[-1] != ' ') {
            start--;
        }
        check(end != NULL && (size_t)(end - start) == DH_MAX_CHUNK_ENCODED + 1u,
              "the spec's chunk is %u bytes", end != NULL ? (unsigned)(end - start) : 0u);
    }
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    r = feed(&dev_a, req, strlen(req));
    check(strcmp(r, want) == 0, "no session: got %s want %s", r, want);
    ask(&dev_a, 2, "BEGIN");
    memset(words, 0, sizeof words);
    n = (size_t)sprintf(words, "STAGE topic_data 0 ");
    memset(words + n, 'a', DH_MAX_CHUNK_ENCODED);
    n = frame(f, sizeof f, 3, words);
    strcpy(first, feed(&dev_a, f, n));
    check(starts_with(first, "@DH1 03 OK STAGE topic_data 128 *"),
          "exactly 128 escaped bytes is a chunk: %s", first);
    r = feed(&dev_a, req, strlen(req));
    check(strcmp(r, want) == 0, "in a session: got %s want %s", r, want);
    /* Lower-case escapes, and escapes nobody needed, count at their received length. */
    n = (size_t)sprintf(words, "STAGE topic_data 128 ");
    for (i = 0; i < 43u; i++) {
        n += (size_t)sprintf(words + n, "%%61");
    }
    r = words_of(ask(&dev_a, 5, words));
    check(strcmp(r, "ERR STAGE BAD_FRAME") == 0, "43 x %%61: %s", r);
    n = (size_t)sprintf(words, "STAGE topic_data 128 ");
    memset(words + n, 'a', 126);
    strcpy(words + n + 126, "%2a");
    r = words_of(ask(&dev_a, 6, words));
    check(strcmp(r, "ERR STAGE BAD_FRAME") == 0, "126 + %%2a: %s", r);
    /* The key is parsed before the chunk. */
    n = (size_t)sprintf(words, "STAGE colour 0 ");
    memset(words + n, 'a', DH_MAX_CHUNK_ENCODED + 1u);
    words[n + DH_MAX_CHUNK_ENCODED + 1u] = '\0';
    r = words_of(ask(&dev_a, 7, words));
    check(strcmp(r, "ERR STAGE UNKNOWN_KEY colour") == 0, "unknown key first: %s", r);
    /* Refusals replaced neither the cached reply nor the staged value. */
    check(strcmp(feed(&dev_a, f, strlen(f)), first) == 0, "the cache still answers seq 3");
    r = words_of(ask(&dev_a, 8, "STAGE topic_data 128 b"));
    check(strcmp(r, "OK STAGE topic_data 129") == 0, "nothing was staged: %s", r);
}

/* Firmware README, spec note 5: the stored generation is read as canonical decimal only, as
 * StoredConfig::generation does; anything else reads as 0 (the blob itself is still loaded,
 * as from_blob loads it). */
static void test_stored_generation_is_canonical_decimal(void)
{
    static const char *const raw[DH_KEY_COUNT] = {
        "dh-000123",         "dev-000123",          "s3cr3t pass%@*",
        "ak_live_7f3a9c",    "mqtt.devicehub.example", "8883",
        "1",                 "dh/dh-000123/data",   "dh/dh-000123/status",
        "dh/dh-000123/cmd",  NULL};
    static const struct {
        const char *text;
        uint32_t generation;
    } cases[] = {{"7", 7u},
                 {"4294967295", 4294967295UL},
                 {"0", 0u},
                 {"+7", 0u},
                 {"007", 0u},
                 {"00", 0u},
                 {"4294967296", 0u},
                 {"99999999999", 0u},
                 {"-1", 0u},
                 {"", 0u}};
    size_t c;
    current_test = "stored generation (5.1, 7.4)";
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dh_sha256 s;
        size_t n = DH_MAGIC_LEN;
        unsigned k;
        char want[128];
        const char *r;
        memset(&port_a, 0, sizeof port_a);
        memcpy(port_a.stored, DH_CANONICAL_MAGIC, DH_MAGIC_LEN);
        for (k = 0; k < DH_KEY_COUNT; k++) {
            const char *v = raw[k] != NULL ? raw[k] : cases[c].text;
            size_t l = strlen(v);
            port_a.stored[n++] = (uint8_t)(k + 1u);
            port_a.stored[n++] = 0;
            port_a.stored[n++] = (uint8_t)l;
            memcpy(port_a.stored + n, v, l);
            n += l;
        }
        dh_sha256_init(&s);
        dh_sha256_update(&s, port_a.stored, n);
        dh_sha256_final(&s, port_a.stored + n);
        port_a.stored_len = (uint16_t)(n + DH_DIGEST_LEN);
        new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 1);
        check(dh_provisioned(&dev_a), "\"%s\": the blob loads", cases[c].text);
        check(dh_generation(&dev_a) == cases[c].generation, "\"%s\": generation %lu",
              cases[c].text, (unsigned long)dh_generation(&dev_a));
        snprintf(want, sizeof want, "OK HELLO 1 CHUNK,READ %s %s %lu", HWID_HEX, FW,
                 (unsigned long)cases[c].generation);
        r = words_of(ask(&dev_a, 1, "HELLO 1"));
        check(strcmp(r, want) == 0, "\"%s\": %s", cases[c].text, r);
    }
}

static void test_read(void)
{
    char words[400], value[260];
    const char *r;
    current_test = "READ (4.6)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    check(strcmp(words_of(ask(&dev_a, 1, "READ device_id 0")), "ERR READ NO_CONFIG") == 0,
          "no config");
    check(strcmp(words_of(ask(&dev_a, 2, "READ api_key 0")), "ERR READ WRITE_ONLY api_key") == 0,
          "secret before config");
    ask(&dev_a, 3, "BEGIN");
    stage_vector_config(&dev_a, 4, -1);
    memset(value, 0, sizeof value);
    {
        int i;
        for (i = 0; i < 100; i++) {
            strcat(value, "t/");
        }
    }
    snprintf(words, sizeof words, "STAGE topic_data 0 %.128s", value);
    ask(&dev_a, 0x20, words);
    snprintf(words, sizeof words, "STAGE topic_data 128 %s", value + 128);
    ask(&dev_a, 0x21, words);
    {
        /* The digest of 8.3 with topic_data = "t/" x 100, computed here. */
        uint8_t enc[600], d[32];
        char hex[65];
        size_t n = 6;
        unsigned k;
        dh_sha256 s;
        static const char *const raw[DH_KEY_COUNT] = {
            "dh-000123", "dev-000123", "s3cr3t pass%@*", "ak_live_7f3a9c",
            "mqtt.devicehub.example", "8883", "1", NULL, "dh/dh-000123/status",
            "dh/dh-000123/cmd", "1"};
        memcpy(enc, "DHCFG1", 6);
        for (k = 0; k < DH_KEY_COUNT; k++) {
            const char *v = raw[k] != NULL ? raw[k] : value;
            size_t l = strlen(v);
            enc[n++] = (uint8_t)(k + 1);
            enc[n++] = 0;
            enc[n++] = (uint8_t)l;
            memcpy(enc + n, v, l);
            n += l;
        }
        dh_sha256_init(&s);
        dh_sha256_update(&s, enc, n);
        dh_sha256_final(&s, d);
        hex_encode(d, 32, hex);
        snprintf(words, sizeof words, "COMMIT %s %s", hex, HWID_HEX);
        check(strcmp(words_of(ask(&dev_a, 0x22, words)), "OK COMMIT 1") == 0, "commit");
    }
    r = words_of(ask(&dev_a, 0x23, "READ topic_data 0"));
    check(starts_with(r, "OK READ topic_data 0 200 ") && strlen(r) == 25 + 128, "first chunk");
    r = words_of(ask(&dev_a, 0x24, "READ topic_data 128"));
    check(starts_with(r, "OK READ topic_data 128 200 ") && strlen(r) == 27 + 72, "second");
    r = words_of(ask(&dev_a, 0x25, "READ topic_data 200"));
    check(strcmp(r, "OK READ topic_data 200 200 -") == 0, "at the end: %s", r);
    r = words_of(ask(&dev_a, 0x26, "READ topic_data 201"));
    check(strcmp(r, "ERR READ BAD_OFFSET topic_data") == 0, "beyond the end");
    check(strcmp(words_of(ask(&dev_a, 0x27, "READ mqtt_password 0")),
                 "ERR READ WRITE_ONLY mqtt_password") == 0,
          "no command returns a secret");
    r = words_of(ask(&dev_a, 0x28, "READ broker_port 0"));
    check(strcmp(r, "OK READ broker_port 0 4 8883") == 0, "%s", r);
}

static void test_hello_and_bad_frames(void)
{
    const char *r;
    current_test = "HELLO, seq 00, unknown commands";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    check(strcmp(words_of(ask(&dev_a, 1, "HELLO 3")),
                 "OK HELLO 1 CHUNK,READ A1B2C3D4E5F60718 fw-2.4.1 -") == 0,
          "newer station");
    check(strcmp(words_of(ask(&dev_a, 2, "HELLO 0")), "ERR HELLO UNSUPPORTED_VERSION 1") == 0,
          "older station");
    check(strcmp(words_of(ask(&dev_a, 3, "HELLO 65536")), "ERR HELLO BAD_FRAME") == 0,
          "version out of range");
    check(strcmp(words_of(ask(&dev_a, 0, "BEGIN")), "ERR BEGIN BAD_FRAME") == 0, "seq 00");
    r = words_of(ask(&dev_a, 4, "FLY"));
    check(strcmp(r, "ERR FLY UNKNOWN_COMMAND") == 0, "%s", r);
    r = words_of(ask(&dev_a, 5, "-"));
    check(strcmp(r, "ERR %2D UNKNOWN_COMMAND") == 0, "%s", r);
    r = words_of(ask(&dev_a, 6, "hello 1"));
    check(strcmp(r, "ERR hello UNKNOWN_COMMAND") == 0, "commands are upper case: %s", r);
    check(strcmp(words_of(ask(&dev_a, 7, "BEGIN now")), "ERR BEGIN BAD_FRAME") == 0, "extra");
}

static void test_decoder(void)
{
    char f[300], in[2048];
    const char *r;
    size_t n, len;
    current_test = "decoder (2.2)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    /* Noise, a glued log line, binary bytes: only frames are answered. */
    len = (size_t)sprintf(in, "ets Jan  8 2013,rst cause:2\r\nuser@host: ok\n");
    in[len++] = 0;
    in[len++] = (char)0xFF;
    n = frame(f, sizeof f, 7, "ABORT");
    memcpy(in + len, f, n);
    len += n;
    len += (size_t)sprintf(in + len, "[dbg] heap=1234 @@@ *1234\ndbg: x=5");
    n = frame(f, sizeof f, 8, "ABORT");
    memcpy(in + len, f, n);
    len += n;
    r = feed(&dev_a, in, len);
    check(strstr(r, "@DH1 07 OK ABORT") != NULL && strstr(r, "@DH1 08 OK ABORT") != NULL,
          "frames among noise");
    /* A corrupted byte fails the CRC: silence. */
    n = frame(f, sizeof f, 9, "STAGE device_id 0 abc");
    f[12] ^= 1;
    check(strcmp(feed(&dev_a, f, n), "") == 0, "bad CRC is dropped");
    n = frame(f, sizeof f, 9, "BEGIN");
    f[n - 3] = f[n - 3] == '0' ? '1' : '0';
    check(strcmp(feed(&dev_a, f, n), "") == 0, "bad CRC digit is dropped");
    n = frame(f, sizeof f, 9, "BEGIN");
    f[n - 3] = (char)(f[n - 3] >= 'A' ? f[n - 3] + 32 : f[n - 3]);
    if (f[n - 3] >= 'a') {
        check(strcmp(feed(&dev_a, f, n), "") == 0, "lower-case CRC is not a frame");
    }
    /* Split reads reassemble; "\n" alone ends a line. */
    n = frame(f, sizeof f, 0x42, "ABORT");
    f[n - 2] = '\n';
    f[n - 1] = '\0';
    {
        size_t i;
        port_a.out_len = 0;
        for (i = 0; i + 1 < n; i++) {
            dh_feed(&dev_a, (uint8_t)f[i]);
        }
        check(port_a.out_len > 0, "LF alone");
    }
    /* An overlong line is dropped and the decoder recovers. */
    len = (size_t)sprintf(in, "@DH1 01 ");
    memset(in + len, 'x', 500);
    len += 500;
    in[len++] = '\n';
    n = frame(f, sizeof f, 2, "ABORT");
    memcpy(in + len, f, n);
    len += n;
    r = feed(&dev_a, in, len);
    check(starts_with(r, "@DH1 02 OK ABORT") && strstr(r + 5, "@DH1") == NULL, "overlong");
    /* A lost newline costs only that frame. */
    n = frame(f, sizeof f, 3, "HELLO 1");
    memcpy(in, f, n - 1);
    memcpy(in + n - 1, f, n);
    r = feed(&dev_a, in, 2 * n - 1);
    check(starts_with(r, "@DH1 03 OK HELLO") && strstr(r + 5, "@DH1") == NULL, "lost LF");
    /* Layouts the spec forbids, each with a correct CRC. */
    {
        static const char *const bodies[] = {"@DH1 01  HELLO", "@DH1 1 HELLO", "@DH1 0g HELLO",
                                             "@DH1 01",        "@DH1 01 HELLO ",
                                             "@DH2 01 HELLO"};
        size_t i;
        for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
            int m = sprintf(in, "%s", bodies[i]);
            uint16_t crc = dh_crc16((const uint8_t *)in, (size_t)m);
            m += sprintf(in + m, " *%04X\r\n", crc);
            check(strcmp(feed(&dev_a, in, (size_t)m), "") == 0, "layout %s", bodies[i]);
        }
    }
    /* The longest legal line (198 bytes) is a frame; 199 is not. */
    {
        char words[260];
        int pad;
        for (pad = 170; pad < 200; pad++) {
            memset(words, 'a', (size_t)pad);
            memcpy(words, "X ", 2);
            words[pad] = '\0';
            n = frame(f, sizeof f, 0x10, words);
            r = feed(&dev_a, f, n);
            if (n - 2 == 198) {
                check(strstr(r, "UNKNOWN_COMMAND") != NULL, "198-byte line answered");
            } else if (n - 2 == 199) {
                check(strcmp(r, "") == 0, "199-byte line dropped");
            }
        }
    }
}

static void test_storage_failures_and_torn_blobs(void)
{
    char words[200];
    current_test = "storage (7.4)";
    snprintf(words, sizeof words,
             "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
             HWID_HEX);
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 1, "BEGIN");
    stage_vector_config(&dev_a, 2, -1);
    port_a.fail_commit = DH_STORE_FAILED;
    check(strcmp(words_of(ask(&dev_a, 0x20, words)), "ERR COMMIT STORAGE_FAILED") == 0, "failed");
    check(!dh_provisioned(&dev_a) && port_a.stored_len == 0, "nothing kept");
    ask(&dev_a, 0x21, "BEGIN");
    stage_vector_config(&dev_a, 0x22, -1);
    port_a.fail_commit = DH_STORE_FULL;
    check(strcmp(words_of(ask(&dev_a, 0x30, words)), "ERR COMMIT STORAGE_FULL") == 0, "full");
    port_a.fail_commit = 0;
    ask(&dev_a, 0x31, "BEGIN");
    port_a.fail_scratch = 1;
    check(strcmp(words_of(ask(&dev_a, 0x32, "STAGE device_id 0 x")), "ERR STAGE STORAGE_FAILED") ==
              0,
          "scratch write fails");
    check(strcmp(words_of(ask(&dev_a, 0x33, "STAGE device_id 0 x")), "ERR STAGE NO_SESSION") == 0,
          "and the session is over");
    port_a.fail_scratch = 0;

    /* A committed blob, then every single-byte corruption of it: never accepted. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 1, "BEGIN");
    stage_vector_config(&dev_a, 2, -1);
    ask(&dev_a, 0x20, words);
    {
        uint16_t i, accepted = 0, len = port_a.stored_len;
        uint8_t saved[DH_MAX_BLOB_LEN];
        memcpy(saved, port_a.stored, len);
        for (i = 0; i < len; i++) {
            memcpy(port_b.stored, saved, len);
            port_b.stored_len = len;
            port_b.stored[i] ^= 0x5A;
            new_device(&dev_b, &port_b, DH_MAX_BLOB_LEN, 1);
            accepted = (uint16_t)(accepted + (dh_provisioned(&dev_b) ? 1u : 0u));
        }
        check(accepted == 0, "%u corrupted blobs accepted", accepted);
        memcpy(port_b.stored, saved, len);
        port_b.stored_len = (uint16_t)(len - 1);
        new_device(&dev_b, &port_b, DH_MAX_BLOB_LEN, 1);
        check(!dh_provisioned(&dev_b), "truncated blob");
        port_b.stored_len = len;
        new_device(&dev_b, &port_b, DH_MAX_BLOB_LEN, 1);
        check(dh_provisioned(&dev_b) && dh_generation(&dev_b) == 1u, "intact blob");
    }
}

static void test_output_hygiene(void)
{
    char words[200];
    const char *out;
    size_t i;
    current_test = "debug output (7.5)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    dh_set_debug(&dev_a, 1);
    port_a.out_len = 0;
    dh_log(&dev_a, "@DH1 01 HELLO 1 *17C2 \x01 ok");
    port_a.out[port_a.out_len] = 0;
    check(strcmp((const char *)port_a.out, "?DH1 01 HELLO 1 *17C2 ? ok\r\n") == 0,
          "a log line can never be a frame: %s", port_a.out);
    /* A whole provisioning with debug on: no secret anywhere in what the device sent, every
     * reply still a frame on its own line. */
    snprintf(words, sizeof words,
             "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
             HWID_HEX);
    {
        static char all[65536];
        size_t total = 0;
        unsigned k;
        char w[300];
        const char *steps[16];
        int nsteps = 0;
        steps[nsteps++] = "HELLO 1";
        steps[nsteps++] = "BEGIN";
        for (k = 0; k < DH_KEY_COUNT; k++) {
            static char stage[DH_KEY_COUNT][300];
            snprintf(stage[k], sizeof stage[k], "STAGE %s 0 %s", VECTOR_KEYS[k],
                     VECTOR_VALUES[k]);
            steps[nsteps++] = stage[k];
        }
        steps[nsteps++] = words;
        for (k = 0; k < (unsigned)nsteps; k++) {
            size_t n = frame(w, sizeof w, k + 1, steps[k]);
            out = feed(&dev_a, w, n);
            memcpy(all + total, out, strlen(out));
            total += strlen(out);
        }
        all[total] = '\0';
        check(strstr(all, "s3cr3t") == NULL && strstr(all, "ak_live") == NULL,
              "no secret in the output");
        check(strstr(all, "[dh] STAGE mqtt_password 14 OK") != NULL, "key and length logged");
        check(strstr(all, "[dh] COMMIT 1 OK") != NULL, "commit logged: %s", all);
        for (i = 0; all[i] != '\0'; i++) {
            if (all[i] == '@') {
                check(i == 0 || all[i - 1] == '\n', "a frame starts a line");
            }
        }
    }
}

/* ---- The faster wire (spec 10.1) ------------------------------------------------------- */

static void new_fast_device(dh_device *dev, struct mem_port *p)
{
    new_device(dev, p, DH_MAX_BLOB_LEN, 0);
    check(dh_enable_baud(dev, &MEM_BAUD) == DH_INIT_OK, "dh_enable_baud");
    p->rate = DH_BAUD_DEFAULT;
}

/* The text between the backticks after `marker` in the document. */
static const char *spec_quote(const char *marker, char *out, size_t cap)
{
    const char *m = strstr(spec, marker), *end;
    size_t n;
    if (m == NULL || (end = strchr(m + strlen(marker), '`')) == NULL) {
        fprintf(stderr, "docs/protocol.md has no `%s...`\n", marker);
        exit(2);
    }
    m += strlen(marker);
    n = (size_t)(end - m) < cap - 1 ? (size_t)(end - m) : cap - 1;
    memcpy(out, m, n);
    out[n] = '\0';
    return out;
}

static void test_baud_spec_frames(void)
{
    char block[2048], f[300], expect[300], quote[128];
    const char *rep;
    int i;
    current_test = "BAUD frames (10.1)";
    spec_block("### 10.1 A faster wire: BAUD", block, sizeof block);
    new_fast_device(&dev_a, &port_a);
    for (i = 0;; i++) {
        const char *req = nth_line(block, "> ", i);
        if (req == NULL) {
            break;
        }
        snprintf(f, sizeof f, "%s\r\n", req);
        rep = feed(&dev_a, f, strlen(f));
        snprintf(expect, sizeof expect, "%s\r\n", nth_line(block, "< ", i));
        check(strcmp(rep, expect) == 0, "reply to %s: got %s want %s", req, rep, expect);
        if (strstr(req, " BAUD ") != NULL) {
            check(port_a.rate == 921600UL && port_a.rate_switches == 1u, "now at 921600");
            check(port_a.out_len_at_switch == strlen(expect),
                  "switched after the reply's last byte (%zu of %zu written)",
                  port_a.out_len_at_switch, strlen(expect));
        }
    }
    check(i == 3, "the spec shows three requests (saw %d)", i);
    check(port_a.rate == 921600UL && port_a.rate_switches == 1u, "HELLO keeps the rate");

    /* The refusal, on a device at 115200. */
    new_fast_device(&dev_a, &port_a);
    snprintf(f, sizeof f, "%s\r\n", spec_quote("A rate the device lacks: `> ", quote, sizeof quote));
    snprintf(expect, sizeof expect, "%s\r\n", spec_quote("→ `< ", quote, sizeof quote));
    rep = feed(&dev_a, f, strlen(f));
    check(strcmp(rep, expect) == 0, "BAD_VALUE: got %s want %s", rep, expect);
    check(port_a.rate_switches == 0u && port_a.rate == DH_BAUD_DEFAULT, "nothing changed");
}

static void test_baud_is_never_cached_and_leaves_the_session(void)
{
    char f[300], first[300];
    size_t n;
    current_test = "BAUD not cached, session untouched (10.1)";
    new_fast_device(&dev_a, &port_a);
    ask(&dev_a, 1, "HELLO 1");
    ask(&dev_a, 2, "BEGIN");
    n = frame(f, sizeof f, 3, "STAGE device_id 0 abc");
    strcpy(first, feed(&dev_a, f, n));
    check(strstr(first, "OK STAGE device_id 3") != NULL, "staged");
    check(strcmp(words_of(ask(&dev_a, 4, "BAUD 460800")), "OK BAUD 460800") == 0, "BAUD");
    /* The same BAUD frame again is executed again, not replayed. */
    check(strcmp(words_of(ask(&dev_a, 4, "BAUD 460800")), "OK BAUD 460800") == 0, "again");
    check(port_a.rate_switches == 2u, "executed twice (%u switches)", port_a.rate_switches);
    /* The cache still holds the STAGE: its retransmission is replayed, not appended. */
    check(strcmp(feed(&dev_a, f, n), first) == 0, "STAGE replayed after BAUD");
    check(strcmp(words_of(ask(&dev_a, 5, "STAGE device_id 3 def")), "OK STAGE device_id 6") == 0,
          "the session and its staged value survived BAUD");
    /* A refused BAUD leaves all of it too. */
    check(strcmp(words_of(ask(&dev_a, 6, "BAUD 1000000")), "ERR BAUD BAD_VALUE") == 0, "refused");
    check(strcmp(words_of(ask(&dev_a, 7, "STAGE device_id 6 g")), "OK STAGE device_id 7") == 0,
          "still in the session");
    /* A BAUD before BEGIN opens no session. */
    new_fast_device(&dev_a, &port_a);
    check(strcmp(words_of(ask(&dev_a, 1, "BAUD 230400")), "OK BAUD 230400") == 0, "BAUD");
    check(strcmp(words_of(ask(&dev_a, 2, "STAGE device_id 0 abc")), "ERR STAGE NO_SESSION") == 0,
          "BAUD opened no session");
    /* A full write at the new rate commits. */
    ask(&dev_a, 3, "BEGIN");
    check(strcmp(words_of(ask(&dev_a, 4, "BAUD 921600")), "OK BAUD 921600") == 0, "in session");
    stage_vector_config(&dev_a, 5, -1);
    {
        char words[200];
        snprintf(words, sizeof words,
                 "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
                 HWID_HEX);
        check(strcmp(words_of(ask(&dev_a, 0x20, words)), "OK COMMIT 1") == 0,
              "committed at 921600");
    }
}

static void test_baud_rates_and_malformed_requests(void)
{
    static const char *const bad_frames[] = {"BAUD", "BAUD 921600 1", "BAUD 0921600",
                                             "BAUD fast", "BAUD -", "BAUD 4294967296",
                                             "BAUD 99999999999"};
    size_t i;
    current_test = "BAUD rates (10.1)";
    new_fast_device(&dev_a, &port_a);
    check(strcmp(words_of(ask(&dev_a, 1, "BAUD 57600")), "ERR BAUD BAD_VALUE") == 0,
          "an unlisted rate");
    check(strcmp(words_of(ask(&dev_a, 2, "BAUD 4294967295")), "ERR BAUD BAD_VALUE") == 0,
          "the largest 32-bit rate is well formed, and unsupported");
    check(strcmp(words_of(ask(&dev_a, 3, "BAUD 0")), "ERR BAUD BAD_VALUE") == 0, "rate 0");
    check(port_a.rate_switches == 0u, "no switch for a refused rate");
    for (i = 0; i < sizeof bad_frames / sizeof bad_frames[0]; i++) {
        check(strcmp(words_of(ask(&dev_a, 4, bad_frames[i])), "ERR BAUD BAD_FRAME") == 0,
              "%s is malformed", bad_frames[i]);
    }
    check(strcmp(words_of(ask(&dev_a, 0, "BAUD 921600")), "ERR BAUD BAD_FRAME") == 0,
          "seq 00 is refused");
    check(port_a.rate_switches == 0u, "no switch for a malformed request");
    /* 115200 is always accepted, listed or not, and returns at once. */
    check(strcmp(words_of(ask(&dev_a, 5, "BAUD 115200")), "OK BAUD 115200") == 0, "at 115200");
    check(port_a.rate == DH_BAUD_DEFAULT && port_a.rate_switches == 1u, "set to 115200");
    check(strcmp(words_of(ask(&dev_a, 6, "BAUD 921600")), "OK BAUD 921600") == 0, "up");
    check(strcmp(words_of(ask(&dev_a, 7, "BAUD 115200")), "OK BAUD 115200") == 0, "back");
    check(port_a.rate == DH_BAUD_DEFAULT && port_a.out_len_at_switch > 0u,
          "back at 115200 after the reply went out at 921600");
    port_a.now_ms += 5000u;
    dh_tick(&dev_a);
    check(port_a.rate_switches == 3u, "no revert at 115200 (%u switches)", port_a.rate_switches);
}

static void test_baud_returns_to_115200_after_1000_ms_idle(void)
{
    char f[300];
    size_t n;
    current_test = "BAUD idle revert (10.1)";
    new_fast_device(&dev_a, &port_a);
    port_a.now_ms = 0xFFFFFE00UL; /* the clock wraps during the test */
    dh_enable_baud(&dev_a, &MEM_BAUD);
    check(strcmp(words_of(ask(&dev_a, 1, "BAUD 921600")), "OK BAUD 921600") == 0, "BAUD");
    port_a.now_ms += DH_BAUD_IDLE_REVERT_MS - 1u;
    dh_tick(&dev_a);
    check(port_a.rate == 921600UL, "still fast after 999 ms");
    port_a.now_ms += 1u;
    port_a.input_len = 0;
    dh_poll(&dev_a); /* dh_poll runs the timer too */
    check(port_a.rate == DH_BAUD_DEFAULT && port_a.rate_switches == 2u,
          "back at 115200 after 1000 ms");
    check(strstr(ask(&dev_a, 2, "HELLO 1"), "OK HELLO 1 CHUNK,READ,BAUD") != NULL,
          "answers at 115200");

    /* Frames that keep coming keep the rate; noise and corrupted frames do not. */
    check(strcmp(words_of(ask(&dev_a, 3, "BAUD 230400")), "OK BAUD 230400") == 0, "BAUD");
    {
        int t;
        for (t = 0; t < 10; t++) {
            port_a.now_ms += 900u;
            dh_tick(&dev_a);
            check(strstr(ask(&dev_a, (unsigned)(4 + t), "READ device_id 0"), "ERR READ") != NULL,
                  "answered");
        }
    }
    check(port_a.rate == 230400UL && port_a.rate_switches == 3u, "no revert in 9 s of frames");
    n = frame(f, sizeof f, 0x30, "HELLO 1");
    f[n - 4] = f[n - 4] == '0' ? '1' : '0'; /* a bad CRC digit */
    port_a.now_ms += 600u;
    check(strcmp(feed(&dev_a, f, n), "") == 0, "a corrupted frame is not answered");
    feed(&dev_a, "@DH1 garbage\r\n", 14);
    port_a.now_ms += 400u;
    /* Half a frame collected at the fast rate is dropped with the switch. */
    n = frame(f, sizeof f, 0x31, "HELLO 1");
    feed(&dev_a, f, n / 2u);
    dh_tick(&dev_a);
    check(port_a.rate == DH_BAUD_DEFAULT, "reverted 1000 ms after the last valid frame");
    check(strcmp(feed(&dev_a, f + n / 2u, n - n / 2u), "") == 0,
          "the rest of a frame begun before the revert is noise");
}

static void test_baud_needs_the_ports_rate_switch(void)
{
    static const uint32_t none[1] DH_ROM = {0};
    static const struct dh_baud_port no_clock = {mem_set_rate, NULL, MEM_RATES, 3};
    static const struct dh_baud_port no_rates = {mem_set_rate, mem_millis, MEM_RATES, 0};
    static const struct dh_baud_port zero_rate = {mem_set_rate, mem_millis, none, 1};
    static const struct dh_baud_port too_many = {mem_set_rate, mem_millis, MEM_RATES,
                                                 DH_MAX_BAUD_RATES + 1u};
    current_test = "1.0 port without a rate switch (10)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    check(strcmp(words_of(ask(&dev_a, 1, "HELLO 1")),
                 "OK HELLO 1 CHUNK,READ A1B2C3D4E5F60718 fw-2.4.1 -") == 0,
          "a 1.0 port does not list BAUD");
    check(strcmp(words_of(ask(&dev_a, 2, "BAUD 921600")), "ERR BAUD UNKNOWN_COMMAND") == 0,
          "and answers BAUD as a 1.0 device does");
    check(strcmp(words_of(ask(&dev_a, 3, "BAUD 115200")), "ERR BAUD UNKNOWN_COMMAND") == 0,
          "even at 115200");
    port_a.now_ms += 10000u;
    dh_tick(&dev_a);
    check(port_a.rate_switches == 0u, "no rate switch ever");
    check(dh_enable_baud(&dev_a, NULL) == DH_INIT_BAD_BAUD, "NULL");
    check(dh_enable_baud(&dev_a, &no_clock) == DH_INIT_BAD_BAUD, "no clock");
    check(dh_enable_baud(&dev_a, &no_rates) == DH_INIT_BAD_BAUD, "no rates");
    check(dh_enable_baud(&dev_a, &zero_rate) == DH_INIT_BAD_BAUD, "rate 0");
    check(dh_enable_baud(&dev_a, &too_many) == DH_INIT_BAD_BAUD, "too many rates");
    check(strstr(ask(&dev_a, 4, "HELLO 1"), "CHUNK,READ A1B2") != NULL,
          "a refused rate switch leaves a 1.0 device");
    check(dh_enable_baud(&dev_a, &MEM_BAUD) == DH_INIT_OK, "a good one");
    check(strstr(ask(&dev_a, 5, "HELLO 1"), "CHUNK,READ,BAUD A1B2") != NULL, "lists BAUD");
}

static void test_baud_debug_line_goes_out_before_the_switch(void)
{
    const char *rep;
    current_test = "BAUD debug output (10.1, 7.5)";
    new_fast_device(&dev_a, &port_a);
    dh_set_debug(&dev_a, 1);
    rep = ask(&dev_a, 1, "BAUD 921600");
    check(strstr(rep, "\r\n[dh] BAUD 921600 OK") != NULL, "debug line: %s", rep);
    check(port_a.out_len_at_switch == strlen(rep) + 2u, "switched after the debug line too");
    rep = ask(&dev_a, 2, "BAUD 300");
    check(strstr(rep, "[dh] BAUD BAD_VALUE") != NULL, "refusal logged: %s", rep);
}


/* ---- Possession proofs (spec 10.3) ----------------------------------------------------- */

static void test_hmac_sha256_rfc4231(void)
{
    /* RFC 4231 section 4, test cases 1-4, 6 and 7 (5 is a truncated mac). Cases 6 and 7 have
     * a 131-byte key: longer than the block, hashed first. */
    static const char *const macs[6] = {
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"};
    static const char *const case_names[6] = {"1", "2", "3", "4", "6", "7"};
    uint8_t key[131], data[160], mac[32];
    size_t key_len = 0, data_len = 0, k0_len, i;
    char hex[65];
    dh_sha256 ctx;
    int c;
    current_test = "HMAC-SHA256 (RFC 4231)";
    for (c = 0; c < 6; c++) {
        switch (c) {
        case 0:
            memset(key, 0x0b, key_len = 20);
            memcpy(data, "Hi There", data_len = 8);
            break;
        case 1:
            memcpy(key, "Jefe", key_len = 4);
            memcpy(data, "what do ya want for nothing?", data_len = 28);
            break;
        case 2:
            memset(key, 0xaa, key_len = 20);
            memset(data, 0xdd, data_len = 50);
            break;
        case 3:
            for (key_len = 0; key_len < 25u; key_len++) {
                key[key_len] = (uint8_t)(key_len + 1u);
            }
            memset(data, 0xcd, data_len = 50);
            break;
        case 4:
            memset(key, 0xaa, key_len = 131);
            data_len = strlen("Test Using Larger Than Block-Size Key - Hash Key First");
            memcpy(data, "Test Using Larger Than Block-Size Key - Hash Key First", data_len);
            break;
        default:
            memset(key, 0xaa, key_len = 131);
            data_len = strlen("This is a test using a larger than block-size key and a larger "
                              "than block-size data. The key needs to be hashed before being "
                              "used by the HMAC algorithm.");
            memcpy(data,
                   "This is a test using a larger than block-size key and a larger than "
                   "block-size data. The key needs to be hashed before being used by the HMAC "
                   "algorithm.",
                   data_len);
            break;
        }
        /* One context throughout: the key reduction, the inner and the outer hash. */
        k0_len = dh_hmac_sha256_key(&ctx, key, key_len);
        check(k0_len == (key_len > 64u ? 32u : key_len), "case %s: K0 length %zu",
              case_names[c], k0_len);
        if (key_len > 64u) {
            for (i = 32; i < key_len && key[i] == 0u; i++) {
            }
            check(i == key_len, "case %s: the key's tail is wiped", case_names[c]);
        }
        dh_hmac_sha256_init(&ctx, key, k0_len);
        /* The message in two pieces: update is streaming. */
        dh_sha256_update(&ctx, data, data_len / 3u);
        dh_sha256_update(&ctx, data + data_len / 3u, data_len - data_len / 3u);
        dh_hmac_sha256_final(&ctx, key, k0_len, mac);
        hex_encode(mac, 32, hex);
        check(strcmp(hex, macs[c]) == 0, "case %s: %s", case_names[c], hex);
        for (i = 0; i < sizeof ctx && ((const uint8_t *)&ctx)[i] == 0u; i++) {
        }
        check(i == sizeof ctx, "case %s: the context is wiped", case_names[c]);
    }
}

static void new_proving_device(dh_device *dev, struct mem_port *p)
{
    new_device(dev, p, DH_MAX_BLOB_LEN, 0);
    dh_enable_prove(dev);
}

/* Stages raw[] (escaped here, in chunks of at most 40 bytes) and commits it with its digest;
 * seq numbers from `seq` on. Returns the COMMIT reply's words. */
static const char *commit_raw_config(dh_device *dev, unsigned seq, const char *const raw[])
{
    uint8_t enc[DH_MAX_BLOB_LEN], d[32];
    char words[400], hex[65];
    size_t n = 6;
    unsigned k;
    dh_sha256 s;
    ask(dev, seq++, "BEGIN");
    memcpy(enc, "DHCFG1", 6);
    for (k = 0; k < DH_KEY_COUNT; k++) {
        size_t l = strlen(raw[k]), off = 0;
        enc[n++] = (uint8_t)(k + 1);
        enc[n++] = (uint8_t)(l >> 8);
        enc[n++] = (uint8_t)l;
        memcpy(enc + n, raw[k], l);
        n += l;
        do {
            size_t m = l - off < 40u ? l - off : 40u, j;
            int w = snprintf(words, sizeof words, "STAGE %s %zu ", VECTOR_KEYS[k], off);
            if (m == 0u) {
                words[w++] = '-';
            }
            for (j = 0; j < m; j++) {
                uint8_t b = (uint8_t)raw[k][off + j];
                if (b > 0x20u && b < 0x7Fu && b != '%' && b != '@' && b != '*' &&
                    !(m == 1u && b == '-')) {
                    words[w++] = (char)b;
                } else {
                    w += sprintf(words + w, "%%%02X", b);
                }
            }
            words[w] = '\0';
            check(starts_with(words_of(ask(dev, seq++, words)), "OK STAGE"), "%s", words);
            off += m;
        } while (off < l);
    }
    dh_sha256_init(&s);
    dh_sha256_update(&s, enc, n);
    dh_sha256_final(&s, d);
    hex_encode(d, 32, hex);
    snprintf(words, sizeof words, "COMMIT %s %s", hex, HWID_HEX);
    return words_of(ask(dev, seq, words));
}

static const char *const VECTOR_RAW[DH_KEY_COUNT] = {
    "dh-000123",        "dev-000123",          "s3cr3t pass%@*",      "ak_live_7f3a9c",
    "mqtt.devicehub.example", "8883",          "1",                   "dh/dh-000123/data",
    "dh/dh-000123/status", "dh/dh-000123/cmd", "1"};

/* HMAC-SHA256("s3cr3t pass%@*", "DHPROVE1:dh-000123:000102030405060708090a0b0c0d0e0f"),
 * computed with Python's hmac module (the spec's worked example, 10.3). */
#define PROVE_VECTOR_MAC "b05f5c0b9867bbb560f834805de6a8bb37ec67051792c3a18d6912a71e316f01"

/* Whether the device's RAM holds `needle` anywhere (a secret left behind). */
static int device_ram_holds(const dh_device *dev, const char *needle)
{
    const uint8_t *m = (const uint8_t *)dev;
    size_t n = strlen(needle), i;
    for (i = 0; i + n <= sizeof *dev; i++) {
        if (memcmp(m + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_prove_spec_frames(void)
{
    char block[2048], f[300], expect[300], quote[160];
    const char *rep;
    int i;
    current_test = "PROVE frames (10.3)";
    spec_block("### 10.3 Possession proofs", block, sizeof block);
    new_proving_device(&dev_a, &port_a);
    check(strcmp(commit_raw_config(&dev_a, 0x10, VECTOR_RAW), "OK COMMIT 1") == 0,
          "the 8.3 config committed");
    for (i = 0;; i++) {
        const char *req = nth_line(block, "> ", i);
        if (req == NULL) {
            break;
        }
        snprintf(f, sizeof f, "%s\r\n", req);
        rep = feed(&dev_a, f, strlen(f));
        snprintf(expect, sizeof expect, "%s\r\n", nth_line(block, "< ", i));
        check(strcmp(rep, expect) == 0, "reply to %s: got %s want %s", req, rep, expect);
    }
    check(i == 1, "the spec shows one request (saw %d)", i);
    /* The document and the independently computed mac agree. */
    check(strcmp(words_of(ask(&dev_a, 7, "PROVE 000102030405060708090a0b0c0d0e0f")),
                 "OK PROVE " PROVE_VECTOR_MAC) == 0,
          "the mac computed with Python's hmac");
    /* Either case: the nonce is lower-cased for the message. */
    snprintf(f, sizeof f, "%s\r\n",
             spec_quote("The same nonce in upper case, `> ", quote, sizeof quote));
    rep = feed(&dev_a, f, strlen(f));
    snprintf(expect, sizeof expect, "%s\r\n", nth_line(block, "< ", 0));
    check(strcmp(rep, expect) == 0, "upper-case nonce: got %s want %s", rep, expect);
    check(strcmp(words_of(ask(&dev_a, 8, "PROVE 000102030405060708090A0b0C0d0E0f")),
                 "OK PROVE " PROVE_VECTOR_MAC) == 0,
          "mixed-case nonce");
    check(!device_ram_holds(&dev_a, "s3cr3t"), "no copy of the password left in RAM");

    /* No config: NO_CONFIG, as the document shows. */
    new_proving_device(&dev_a, &port_a);
    snprintf(f, sizeof f, "%s\r\n", nth_line(block, "> ", 0));
    snprintf(expect, sizeof expect, "%s\r\n",
             spec_quote("Before any COMMIT, the same request is refused: `< ", quote,
                        sizeof quote));
    rep = feed(&dev_a, f, strlen(f));
    check(strcmp(rep, expect) == 0, "NO_CONFIG: got %s want %s", rep, expect);
}

static void test_prove_bad_nonces_are_bad_frame(void)
{
    static const char *const bad[] = {
        "PROVE",
        "PROVE 000102030405060708090a0b0c0d0e0",   /* 31 digits */
        "PROVE 000102030405060708090a0b0c0d0e0f0", /* 33 */
        "PROVE 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f", /* 64 */
        "PROVE 0",
        "PROVE -",
        "PROVE 000102030405060708090a0b0c0d0e0g", /* not hex */
        "PROVE 000102030405060708090a0b0c0d0e0x",
        "PROVE 0x0102030405060708090a0b0c0d0e0f",
        "PROVE %30%31%32%33%34%35%36%37%38%39%30", /* escapes are not unescaped */
        "PROVE 000102030405060708090a0b0c0d0e0f 1",
        "PROVE 000102030405060708090a0b0c0d0e0f 000102030405060708090a0b0c0d0e0f"};
    char f[300], first[300];
    size_t i, n;
    current_test = "PROVE nonce syntax (10.3)";
    new_proving_device(&dev_a, &port_a);
    check(strcmp(commit_raw_config(&dev_a, 0x10, VECTOR_RAW), "OK COMMIT 1") == 0, "committed");
    ask(&dev_a, 0x30, "BEGIN");
    n = frame(f, sizeof f, 0x31, "STAGE device_id 0 abc");
    strcpy(first, feed(&dev_a, f, n));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *r = words_of(ask(&dev_a, 0x40 + (unsigned)i, bad[i]));
        check(strcmp(r, "ERR PROVE BAD_FRAME") == 0, "%s: %s", bad[i], r);
    }
    /* seq 00 is refused like any request's (spec 2.4), and not cached either. */
    check(strcmp(words_of(ask(&dev_a, 0, "PROVE 000102030405060708090a0b0c0d0e0f")),
                 "ERR PROVE BAD_FRAME") == 0,
          "seq 00");
    /* No BAD_FRAME replaced the cached STAGE, and the session is still open. */
    check(strcmp(feed(&dev_a, f, n), first) == 0, "the STAGE is still replayed");
    check(strcmp(words_of(ask(&dev_a, 0x60, "STAGE device_id 3 d")), "OK STAGE device_id 4") == 0,
          "the session is still open");
    /* And without a config, a malformed nonce is still BAD_FRAME (a parse error, 7.3). */
    new_proving_device(&dev_b, &port_b);
    check(strcmp(words_of(ask(&dev_b, 1, "PROVE 123")), "ERR PROVE BAD_FRAME") == 0,
          "parse error before NO_CONFIG");
}

static void test_prove_leaves_the_cache_and_the_session(void)
{
    char stage[300], commit[300], first[300], words[200];
    size_t ns, nc;
    const char *r;
    current_test = "PROVE: no cache, no session (10.3)";
    /* A COMMIT tells a replay (OK COMMIT) from a re-execution (NO_SESSION). */
    new_proving_device(&dev_a, &port_a);
    ask(&dev_a, 1, "HELLO 1");
    ask(&dev_a, 2, "BEGIN");
    stage_vector_config(&dev_a, 3, -1);
    snprintf(words, sizeof words,
             "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
             HWID_HEX);
    nc = frame(commit, sizeof commit, 0x20, words);
    strcpy(first, feed(&dev_a, commit, nc));
    check(strstr(first, "OK COMMIT 1") != NULL, "committed: %s", first);
    r = words_of(ask(&dev_a, 0x21, "PROVE 000102030405060708090a0b0c0d0e0f"));
    check(strcmp(r, "OK PROVE " PROVE_VECTOR_MAC) == 0, "proved: %s", r);
    check(strcmp(feed(&dev_a, commit, nc), first) == 0,
          "the lost OK COMMIT is still replayed after a PROVE");
    /* The same PROVE frame twice is executed twice: never a replay of something else. */
    r = words_of(ask(&dev_a, 0x20, "PROVE 000102030405060708090a0b0c0d0e0f"));
    check(strcmp(r, "OK PROVE " PROVE_VECTOR_MAC) == 0, "PROVE at the COMMIT's seq: %s", r);
    check(strcmp(feed(&dev_a, commit, nc), first) == 0, "and the COMMIT is still replayed");

    /* Inside a session: the session, its staged value and the cached STAGE stay. */
    ask(&dev_a, 0x30, "BEGIN");
    ns = frame(stage, sizeof stage, 0x31, "STAGE device_id 0 abc");
    strcpy(first, feed(&dev_a, stage, ns));
    check(strstr(first, "OK STAGE device_id 3") != NULL, "staged");
    r = words_of(ask(&dev_a, 0x32, "PROVE ffffffffffffffffffffffffffffffff"));
    check(starts_with(r, "OK PROVE "), "proved in a session: %s", r);
    check(strcmp(feed(&dev_a, stage, ns), first) == 0, "STAGE replayed after PROVE");
    check(strcmp(words_of(ask(&dev_a, 0x33, "STAGE device_id 3 def")), "OK STAGE device_id 6") ==
              0,
          "the session and its staged value survived PROVE");
    /* A refused PROVE (NO_CONFIG) leaves the cache too. */
    new_proving_device(&dev_a, &port_a);
    ask(&dev_a, 1, "BEGIN");
    ns = frame(stage, sizeof stage, 2, "STAGE device_id 0 abc");
    strcpy(first, feed(&dev_a, stage, ns));
    check(strcmp(words_of(ask(&dev_a, 3, "PROVE 000102030405060708090a0b0c0d0e0f")),
                 "ERR PROVE NO_CONFIG") == 0,
          "no config");
    check(strcmp(feed(&dev_a, stage, ns), first) == 0, "STAGE replayed after NO_CONFIG");
    /* A PROVE before BEGIN opens no session. */
    new_proving_device(&dev_a, &port_a);
    ask(&dev_a, 1, "PROVE 000102030405060708090a0b0c0d0e0f");
    check(strcmp(words_of(ask(&dev_a, 2, "STAGE device_id 0 abc")), "ERR STAGE NO_SESSION") == 0,
          "PROVE opened no session");
}

static void test_prove_key_lengths(void)
{
    /* Macs computed with Python's hmac module: hmac.new(password, b"DHPROVE1:" + device_id
     * + b":" + nonce.lower(), hashlib.sha256). Keys of 0, 64 (one block, used as is), 65 and
     * 100 bytes (over one block: hashed first, RFC 2104). */
    struct {
        char password[101];
        const char *nonce, *mac;
    } cases[4];
    const char *raw[DH_KEY_COUNT];
    char words[100];
    unsigned c, seq = 0x10;
    current_test = "PROVE key lengths (10.3, RFC 2104)";
    memset(cases, 0, sizeof cases);
    cases[0].nonce = "000102030405060708090a0b0c0d0e0f";
    cases[0].mac = "d17439c167d35e34c83fcbf43fc1a0cc963eef0e75505aeed6e7c98e8ec710ba";
    memset(cases[1].password, 'k', 64);
    cases[1].nonce = "000102030405060708090a0b0c0d0e0f";
    cases[1].mac = "1c2354342d355bb199ccb2946a8cd87bbb62986dbc8a412d7c67477cfef21ed3";
    memset(cases[2].password, 'k', 65);
    cases[2].nonce = "000102030405060708090a0b0c0d0e0f";
    cases[2].mac = "e9926b372095ca98fde753647ccd9d96d90244aa9dcee22862acf6e9230539b5";
    memset(cases[3].password, 'p', 100);
    cases[3].nonce = "DeadBeef00112233445566778899AaBb";
    cases[3].mac = "7fb62f16a97fb7adddf019cb662250f1543f2fd19677fb042cc9da3fe9eba247";
    memcpy(raw, VECTOR_RAW, sizeof raw);
    new_proving_device(&dev_a, &port_a);
    for (c = 0; c < 4u; c++) {
        const char *r;
        raw[DH_KEY_MQTT_PASSWORD - 1] = cases[c].password;
        raw[DH_KEY_GENERATION - 1] = c % 2u ? "3" : "2";
        check(starts_with(commit_raw_config(&dev_a, seq, raw), "OK COMMIT"), "commit %u", c);
        seq += 0x20;
        snprintf(words, sizeof words, "PROVE %s", cases[c].nonce);
        r = words_of(ask(&dev_a, seq++, words));
        check(strncmp(r, "OK PROVE ", 9) == 0 && strcmp(r + 9, cases[c].mac) == 0,
              "%zu-byte password: %s", strlen(cases[c].password), r);
        check(c == 0u || !device_ram_holds(&dev_a, c == 3u ? "pppppppp" : "kkkkkkkk"),
              "%zu-byte password: no copy left in RAM", strlen(cases[c].password));
    }
    /* A committed blob that cannot be read: nothing is sent that could be wrong. */
    port_a.fail_stored = 1;
    check(strcmp(words_of(ask(&dev_a, seq, "PROVE 000102030405060708090a0b0c0d0e0f")),
                 "ERR PROVE STORAGE_FAILED") == 0,
          "unreadable storage");
    port_a.fail_stored = 0;
}

static void test_prove_needs_enabling(void)
{
    const char *r;
    current_test = "PROVE is optional (10.3)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    r = words_of(ask(&dev_a, 1, "PROVE 000102030405060708090a0b0c0d0e0f"));
    check(strcmp(r, "ERR PROVE UNKNOWN_COMMAND") == 0, "a unit without it: %s", r);
    r = words_of(ask(&dev_a, 2, "PROVE 1"));
    check(strcmp(r, "ERR PROVE UNKNOWN_COMMAND") == 0, "malformed, a unit without it: %s", r);
    check(strcmp(words_of(ask(&dev_a, 3, "HELLO 1")),
                 "OK HELLO 1 CHUNK,READ A1B2C3D4E5F60718 fw-2.4.1 -") == 0,
          "not listed");
    dh_enable_prove(&dev_a);
    check(strcmp(words_of(ask(&dev_a, 4, "HELLO 1")),
                 "OK HELLO 1 CHUNK,READ,PROVE A1B2C3D4E5F60718 fw-2.4.1 -") == 0,
          "appended to the version-1 tokens");
    check(dh_enable_baud(&dev_a, &MEM_BAUD) == DH_INIT_OK, "and the faster wire");
    check(strcmp(words_of(ask(&dev_a, 5, "HELLO 1")),
                 "OK HELLO 1 CHUNK,READ,BAUD,PROVE A1B2C3D4E5F60718 fw-2.4.1 -") == 0,
          "after BAUD");
    /* dh_init starts a device without it again. */
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    check(strstr(ask(&dev_a, 6, "HELLO 1"), "PROVE") == NULL, "dh_init resets it");
}

static void test_prove_debug_line(void)
{
    const char *rep;
    current_test = "PROVE debug output (10.3, 7.5)";
    new_proving_device(&dev_a, &port_a);
    check(strcmp(commit_raw_config(&dev_a, 0x10, VECTOR_RAW), "OK COMMIT 1") == 0, "committed");
    dh_set_debug(&dev_a, 1);
    rep = ask(&dev_a, 0x30, "PROVE 000102030405060708090a0b0c0d0e0f");
    check(strstr(rep, "OK PROVE " PROVE_VECTOR_MAC " *") != NULL &&
              strstr(rep, "\r\n[dh] PROVE OK") != NULL,
          "reply, then the debug line: %s", rep);
    check(strstr(rep, "s3cr3t") == NULL, "no password in the output");
    rep = ask(&dev_a, 0x31, "PROVE 00");
    check(strstr(rep, "[dh] PROVE BAD_FRAME") != NULL, "refusal logged: %s", rep);
}

/* ---- Version 1.1: the write gate (spec 10.3) and seq 00 (10.4). ------------------------ */

static int gate_allowed;
static int gate_asked;

static int test_write_allowed(void *port)
{
    (void)port;
    gate_asked++;
    return gate_allowed;
}

static const char *vector_commit_words(void)
{
    static char words[200];
    snprintf(words, sizeof words,
             "COMMIT 22c9c3a2c2ee2b126636276e7b7df02efde2c9e5292e313f1e0cf453b4138507 %s",
             HWID_HEX);
    return words;
}

static void test_gate_locks_after_the_first_commit(void)
{
    current_test = "write gate (10.3)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    dh_enable_gate(&dev_a, test_write_allowed);
    gate_allowed = 0;
    gate_asked = 0;
    check(strstr(ask(&dev_a, 1, "HELLO 1"), "CHUNK,READ,GATE ") != NULL, "HELLO lists GATE");
    /* A unit without a config takes its first write: the callback is not even asked. */
    ask(&dev_a, 2, "BEGIN");
    stage_vector_config(&dev_a, 3, -1);
    check(strstr(ask(&dev_a, 0x20, vector_commit_words()), "OK COMMIT 1") != NULL,
          "first commit");
    check(gate_asked == 0, "write_allowed asked before a config was committed");
    /* Locked: BEGIN refused, nothing done. */
    check(strcmp(words_of(ask(&dev_a, 0x21, "BEGIN")), "ERR BEGIN LOCKED") == 0, "BEGIN locked");
    check(!dh_writing(&dev_a), "a locked BEGIN opened a session");
    check(strcmp(words_of(ask(&dev_a, 0x22, "STAGE device_id 0 x")), "ERR STAGE NO_SESSION") == 0,
          "STAGE without a session");
    /* Allowed: BEGIN opens; the same generation is stale, after the value checks. */
    gate_allowed = 1;
    check(strcmp(words_of(ask(&dev_a, 0x23, "BEGIN")), "OK BEGIN") == 0, "allowed BEGIN");
    check(dh_writing(&dev_a), "an allowed BEGIN opens a session");
    stage_vector_config(&dev_a, 0x24, -1);
    check(strcmp(words_of(ask(&dev_a, 0x40, vector_commit_words())),
                 "ERR COMMIT STALE_GENERATION") == 0,
          "generation 1 again is stale");
    check(!dh_writing(&dev_a) && dh_generation(&dev_a) == 1u, "stale: session ended, config kept");
    /* Allowed at BEGIN, withdrawn before COMMIT: LOCKED, before the hardware id check. */
    ask(&dev_a, 0x41, "BEGIN");
    gate_allowed = 0;
    check(strcmp(words_of(ask(&dev_a, 0x42,
                              "COMMIT 0000000000000000000000000000000000000000000000000000000000000000 0A0B")),
                 "ERR COMMIT LOCKED") == 0,
          "COMMIT locked when the allowance is withdrawn");
    check(!dh_writing(&dev_a), "a locked COMMIT ends the session");
    /* A unit built without dh_enable_gate() re-commits as in 1.0. */
    new_device(&dev_b, &port_b, DH_MAX_BLOB_LEN, 0);
    ask(&dev_b, 1, "BEGIN");
    stage_vector_config(&dev_b, 2, -1);
    ask(&dev_b, 0x20, vector_commit_words());
    ask(&dev_b, 0x21, "BEGIN");
    stage_vector_config(&dev_b, 0x22, -1);
    check(strstr(ask(&dev_b, 0x40, vector_commit_words()), "OK COMMIT 1") != NULL,
          "no gate: the same generation again");
}

static void test_seq_00_refusal_leaves_the_cache(void)
{
    char f[300];
    char first[300];
    size_t n;
    current_test = "seq 00 is not cached (10.4)";
    new_device(&dev_a, &port_a, DH_MAX_BLOB_LEN, 0);
    ask(&dev_a, 1, "BEGIN");
    stage_vector_config(&dev_a, 2, -1);
    n = frame(f, sizeof f, 0x20, vector_commit_words());
    strcpy(first, feed(&dev_a, f, n));
    check(strstr(first, "OK COMMIT 1") != NULL, "commit");
    check(strcmp(words_of(ask(&dev_a, 0, "BEGIN")), "ERR BEGIN BAD_FRAME") == 0, "seq 00");
    check(strcmp(words_of(ask(&dev_a, 0, vector_commit_words())), "ERR COMMIT BAD_FRAME") == 0,
          "seq 00 COMMIT");
    check(strcmp(feed(&dev_a, f, n), first) == 0,
          "the retransmitted COMMIT still gets its cached OK after seq-00 refusals");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s docs/protocol.md\n", argv[0]);
        return 2;
    }
    load_spec(argv[1]);
    test_crc_vectors();
    test_sha256();
    test_spec_session();
    test_spec_refusals();
    test_retransmission_and_cache();
    test_commit_order_and_values();
    test_value_rules();
    test_stage_offsets_limits_and_order();
    test_stage_chunk_over_128_escaped_bytes_is_refused();
    test_stored_generation_is_canonical_decimal();
    test_read();
    test_hello_and_bad_frames();
    test_decoder();
    test_storage_failures_and_torn_blobs();
    test_output_hygiene();
    test_baud_spec_frames();
    test_baud_is_never_cached_and_leaves_the_session();
    test_baud_rates_and_malformed_requests();
    test_baud_returns_to_115200_after_1000_ms_idle();
    test_baud_needs_the_ports_rate_switch();
    test_baud_debug_line_goes_out_before_the_switch();
    test_hmac_sha256_rfc4231();
    test_prove_spec_frames();
    test_prove_bad_nonces_are_bad_frame();
    test_prove_leaves_the_cache_and_the_session();
    test_prove_key_lengths();
    test_prove_needs_enabling();
    test_prove_debug_line();
    test_gate_locks_after_the_first_commit();
    test_seq_00_refusal_leaves_the_cache();
    printf("firmware unit tests: %d checks, %d failed (struct dh_device: %u bytes on this host)\n",
           checks, failures, (unsigned)sizeof(dh_device));
    return failures == 0 ? 0 : 1;
}
