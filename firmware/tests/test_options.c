/* SPDX-License-Identifier: MIT */
/*
 * test_options.c - the build options DH_WITH_BAUD, DH_WITH_PROVE, DH_WITH_GATE (dh_device.h).
 *
 * Built by `make options-test` once per option left out and once with all three out, the
 * library compiled with the same flags. The application enables every capability its build
 * has; then a capability built in is listed by HELLO and answered, and one left out is never
 * listed and its command is answered UNKNOWN_COMMAND, exactly as by a protocol 1.0 device.
 *
 * Built with -DOPTIONS_CALL_LEFT_OUT it calls the dh_enable_* function of every capability,
 * built or not: `make options-test` requires that build to FAIL when one is left out (an
 * application asking for a capability the library lacks must not build).
 */
#include <stdio.h>
#include <string.h>

#include "dh_device.h"

/* ---- A port in memory: no stored config, output collected. ---------------------------- */

static char out[1024];
static size_t out_len;

int dh_port_read_byte(void *port)
{
    (void)port;
    return -1;
}
void dh_port_write_byte(void *port, uint8_t byte)
{
    (void)port;
    if (out_len + 1u < sizeof out) {
        out[out_len++] = (char)byte;
        out[out_len] = '\0';
    }
}
uint8_t dh_port_hardware_id(void *port, uint8_t id[DH_MAX_HWID_BYTES])
{
    (void)port;
    id[0] = 0xA1;
    id[1] = 0xB2;
    return 2;
}
uint16_t dh_port_stored_len(void *port)
{
    (void)port;
    return 0;
}
int dh_port_stored_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    (void)port;
    (void)offset;
    (void)buf;
    (void)len;
    return -1;
}
int dh_port_scratch_write(void *port, uint16_t offset, const uint8_t *buf, uint16_t len)
{
    (void)port;
    (void)offset;
    (void)buf;
    (void)len;
    return 0;
}
int dh_port_scratch_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    (void)port;
    (void)offset;
    memset(buf, 0, len);
    return 0;
}
int dh_port_commit(void *port, uint16_t len)
{
    (void)port;
    (void)len;
    return DH_STORE_FAILED;
}

#if DH_WITH_BAUD || defined(OPTIONS_CALL_LEFT_OUT)
static void set_rate(void *port, uint32_t rate)
{
    (void)port;
    (void)rate;
}
static uint32_t clock_ms(void *port)
{
    (void)port;
    return 0;
}
static const uint32_t RATES[] DH_ROM = {1000000UL};
static const struct dh_baud_port BAUD_PORT = {set_rate, clock_ms, RATES, 1};
#endif
#if DH_WITH_GATE || defined(OPTIONS_CALL_LEFT_OUT)
static int never_allowed(void *port)
{
    (void)port;
    return 0;
}
#endif

/* ---- Requests and checks ---------------------------------------------------------------- */

static int failures, checks;

/* Sends DH_MARKER "<seq> <words> *<crc>\r\n" and returns the reply line(s). */
static const char *ask(dh_device *dev, const char *seq_and_words)
{
    char line[DH_MAX_FRAME_LEN + 1];
    size_t i;
    int n = snprintf(line, sizeof line, "%s%s", DH_MARKER, seq_and_words);
    n += snprintf(line + n, sizeof line - (size_t)n, " *%04X\r\n",
                  (unsigned)dh_crc16((const uint8_t *)line, (size_t)n));
    out_len = 0;
    out[0] = '\0';
    for (i = 0; i < (size_t)n; i++) {
        dh_feed(dev, (uint8_t)line[i]);
    }
    return out;
}

static void expect(int ok, const char *what, const char *reply)
{
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "FAIL %s: %s\n", what, reply);
    }
}

static int lists(const char *hello, const char *cap)
{
    /* "OK HELLO 1 CAP,CAP,... HWID ...": the capability list is the fourth word. */
    const char *caps = strstr(hello, "OK HELLO 1 ");
    char word[64];
    size_t len;
    const char *p;
    if (caps == NULL) {
        return 0;
    }
    caps += strlen("OK HELLO 1 ");
    len = strcspn(caps, " ");
    if (len >= sizeof word) {
        return 0;
    }
    memcpy(word, caps, len);
    word[len] = '\0';
    for (p = strtok(word, ","); p != NULL; p = strtok(NULL, ",")) {
        if (strcmp(p, cap) == 0) {
            return 1;
        }
    }
    return 0;
}

int main(void)
{
    static dh_device dev;
    const char *r;

    if (dh_init(&dev, 0, "opts-1", DH_MAX_BLOB_LEN) != DH_INIT_OK) {
        fprintf(stderr, "FAIL dh_init\n");
        return 1;
    }
#if DH_WITH_BAUD || defined(OPTIONS_CALL_LEFT_OUT)
    if (dh_enable_baud(&dev, &BAUD_PORT) != DH_INIT_OK) {
        fprintf(stderr, "FAIL dh_enable_baud\n");
        return 1;
    }
#endif
#if DH_WITH_PROVE || defined(OPTIONS_CALL_LEFT_OUT)
    dh_enable_prove(&dev);
#endif
#if DH_WITH_GATE || defined(OPTIONS_CALL_LEFT_OUT)
    dh_enable_gate(&dev, never_allowed);
#endif

    r = ask(&dev, "01 HELLO 1");
    expect(strstr(r, " OK HELLO 1 ") != NULL, "HELLO answered", r);
    expect(lists(r, "BAUD") == DH_WITH_BAUD, "HELLO lists BAUD iff built", r);
    expect(lists(r, "PROVE") == DH_WITH_PROVE, "HELLO lists PROVE iff built", r);
    expect(lists(r, "GATE") == DH_WITH_GATE, "HELLO lists GATE iff built", r);
    expect(lists(r, "READ") && lists(r, "CHUNK"), "HELLO lists the 1.0 capabilities", r);

    r = ask(&dev, "02 BAUD 115200");
    expect(strstr(r, DH_WITH_BAUD ? " OK BAUD 115200 " : " ERR BAUD UNKNOWN_COMMAND ") != NULL,
           DH_WITH_BAUD ? "BAUD answered" : "BAUD unknown", r);

    r = ask(&dev, "03 PROVE 000102030405060708090a0b0c0d0e0f");
    expect(strstr(r, DH_WITH_PROVE ? " ERR PROVE NO_CONFIG " : " ERR PROVE UNKNOWN_COMMAND ") !=
               NULL,
           DH_WITH_PROVE ? "PROVE answered" : "PROVE unknown", r);

    /* A unit holding no config takes a write session, gate or not. */
    r = ask(&dev, "04 BEGIN");
    expect(strstr(r, " OK BEGIN ") != NULL, "BEGIN on an empty unit", r);

    printf("test_options (BAUD %d, PROVE %d, GATE %d, sizeof(dh_device) %u): %d checks, %d "
           "failed\n",
           DH_WITH_BAUD, DH_WITH_PROVE, DH_WITH_GATE, (unsigned)sizeof(dh_device), checks,
           failures);
    return failures == 0 ? 0 : 1;
}
