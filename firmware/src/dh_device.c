/* SPDX-License-Identifier: MIT */
/*
 * dh_device.c - the device side of docs/protocol.md, version 1, with the 1.1 faster wire and
 * possession proof.
 *
 * Mirrors crates/station-protocol/src/device/ (DeviceModel), codec.rs (FrameDecoder,
 * escaping) and message.rs (Request::parse, Response::encode_*), so that for every byte stream
 * this module and the Rust model answer the same bytes; tests/firmware_e2e.rs checks that.
 *
 * Why it looks the way it does, for a 2 KB-RAM MCU:
 *  - Replies are never buffered: they are written byte by byte while the CRC is computed on
 *    the fly, and the reply cache (6.3) keeps only the handful of fields that rebuild a reply.
 *  - Staged values go straight into the port's scratch area laid out as the canonical
 *    encoding (5.2), so COMMIT only fills in the 3-byte key headers, hashes the area in one
 *    pass and hands it to the port as the new blob, whose trailer is that same digest (7.4).
 *  - Name tables and SHA-256 constants live in flash on AVR (dh_rom.h).
 *  - The faster wire (10.1) is optional: without dh_enable_baud() the device is a 1.0 one
 *    (BAUD is an unknown command, HELLO does not list it). With it, BAUD is answered at the
 *    old rate, the port's set_rate drains the transmitter and switches, and dh_tick() returns
 *    to 115200 after DH_BAUD_IDLE_REVERT_MS without a valid frame or a reply.
 *  - The possession proof (10.3) is optional too (dh_enable_prove()). Its HMAC-SHA256 runs
 *    with one SHA-256 context on the stack and the line buffer's spare bytes behind the
 *    request as K0 and I/O buffer: the password is read from storage there, used, and wiped.
 */
#include "dh_device.h"

#include <string.h>

#include "dh_sha256.h"

/* dh_device.flags */
#define F_IN_FRAME 0x01u
#define F_SESSION 0x02u
#define F_COMMITTED 0x04u
#define F_REPLYING 0x08u
#define F_DEBUG 0x10u
#define F_FAST 0x20u /* the UART runs at a rate other than DH_BAUD_DEFAULT (spec 10.1) */
#define F_PROVE 0x40u /* PROVE answered and advertised (spec 10.3, dh_enable_prove) */

/* The longest request (STAGE) has 4 words; a 5th slot is enough to know "too many". */
#define MAX_WORDS 5u
/* Bytes moved per port call: bounds the stack, not the speed that matters. */
#define IO_CHUNK 16u
/* The shortest values a config can have (every key at its min_len, spec 5.1). */
#define MIN_VALUES_LEN 8u

/* Big frames (the SHA-256 context, hex and I/O buffers) are kept out of dh_feed()'s own
 * frame, so they exist only while their function runs and never add up. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

#if defined(__AVR__)
/* The RAM budget stated in dh_device.h: keep it honest. */
typedef char dh_device_fits_its_budget[(sizeof(dh_device) <= 242u) ? 1 : -1];
#endif

/* ---- Tables (spec 4, 3.2, 5.1), in flash on AVR. ------------------------------------- */

enum value_kind { KIND_IDENT, KIND_HOST, KIND_TEXT, KIND_PORT, KIND_GENERATION, KIND_FLAG };

struct key_spec {
    char name[14];
    uint8_t min_len;
    uint8_t max_len;
    uint8_t kind;
    uint8_t secret;
};

static const struct key_spec KEYS[DH_KEY_COUNT] DH_ROM = {
    {"device_id", 1, DH_MAX_DEVICE_ID_LEN, KIND_IDENT, 0},
    {"mqtt_username", 0, DH_MAX_CREDENTIAL_LEN, KIND_TEXT, 0},
    {"mqtt_password", 0, DH_MAX_CREDENTIAL_LEN, KIND_TEXT, 1},
    {"api_key", 0, DH_MAX_CREDENTIAL_LEN, KIND_TEXT, 1},
    {"broker_host", 1, DH_MAX_BROKER_HOST_LEN, KIND_HOST, 0},
    {"broker_port", 1, DH_MAX_BROKER_PORT_LEN, KIND_PORT, 0},
    {"broker_tls", 1, DH_MAX_BROKER_TLS_LEN, KIND_FLAG, 0},
    {"topic_data", 1, DH_MAX_TOPIC_LEN, KIND_TEXT, 0},
    {"topic_status", 1, DH_MAX_TOPIC_LEN, KIND_TEXT, 0},
    {"topic_cmd", 1, DH_MAX_TOPIC_LEN, KIND_TEXT, 0},
    {"generation", 1, DH_MAX_GENERATION_LEN, KIND_GENERATION, 0}};

/* The limits add up to what the spec says a device may have to stage (7.1). */
typedef char dh_values_add_up[(DH_MAX_DEVICE_ID_LEN + 3u * DH_MAX_CREDENTIAL_LEN +
                               DH_MAX_BROKER_HOST_LEN +
                               DH_MAX_BROKER_PORT_LEN + DH_MAX_BROKER_TLS_LEN +
                               3u * DH_MAX_TOPIC_LEN + DH_MAX_GENERATION_LEN ==
                           DH_MAX_VALUES_LEN)
                              ? 1
                              : -1];

static const char COMMANDS[DH_COMMAND_COUNT][7] DH_ROM = {
    "HELLO", "BEGIN", "STAGE", "COMMIT", "ABORT", "READ", "BAUD", "PROVE"};

static const char ERRORS[DH_ERROR_CODE_COUNT][20] DH_ROM = {
    "BUSY",        "BAD_FRAME",       "UNKNOWN_COMMAND", "UNSUPPORTED_VERSION",
    "NO_SESSION",  "UNKNOWN_KEY",     "BAD_VALUE",       "BAD_OFFSET",
    "MISSING_KEY", "DIGEST_MISMATCH", "HWID_MISMATCH",   "STORAGE_FULL",
    "STORAGE_FAILED", "WRITE_ONLY",   "NO_CONFIG",       "LOCKED",
    "STALE_GENERATION"};

static const char MARKER[] DH_ROM = DH_MARKER;
static const char MAGIC[] DH_ROM = DH_CANONICAL_MAGIC;
static const char CAPS[] DH_ROM = DH_CAPABILITIES;
static const char CAP_BAUD[] DH_ROM = DH_CAP_BAUD;
static const char CAP_PROVE[] DH_ROM = DH_CAP_PROVE;
static const char CAP_GATE[] DH_ROM = DH_CAP_GATE;

/* Small receive buffers (spec 10.2): the build's limit, checked against the spec's range. */
typedef char dh_rx_frame_len_in_range[(DH_RX_FRAME_LEN >= DH_MIN_FRAME_LIMIT &&
                                       DH_RX_FRAME_LEN <= DH_MAX_FRAME_LEN) ? 1 : -1];
#if DH_RX_FRAME_LEN < DH_MAX_FRAME_LEN
static const char CAP_FRAME[] DH_ROM = DH_CAP_FRAME_PREFIX;
#endif
/* PROVE's message is "<prefix>:<device_id>:<nonce>" (spec 10.3). */
static const char PROOF_PREFIX[] DH_ROM = DH_PROOF_MESSAGE_PREFIX;
#define PROOF_SEPARATOR ':'
static const char S_OK[] DH_ROM = DH_STATUS_OK;
static const char S_ERR[] DH_ROM = DH_STATUS_ERR;
static const char HEX[] DH_ROM = "0123456789ABCDEF";
static const char DBG_PREFIX[] DH_ROM = "[dh] ";
static const char DBG_DROPPED[] DH_ROM = "[dh] dropped a line that is not a valid frame";
static const char DBG_REPLAY[] DH_ROM = " (replayed)";
static const char DBG_STORED_BAD[] DH_ROM =
    "[dh] stored config unreadable; starting unprovisioned";

static uint8_t key_min(uint8_t k) { return DH_ROM_U8(&KEYS[k].min_len); }
static uint8_t key_max(uint8_t k) { return DH_ROM_U8(&KEYS[k].max_len); }
static uint8_t key_kind(uint8_t k) { return DH_ROM_U8(&KEYS[k].kind); }
static uint8_t key_secret(uint8_t k) { return DH_ROM_U8(&KEYS[k].secret); }

/* Whether the ROM string equals s[0..n) exactly. Request words never hold a NUL, so the
 * comparison stops at the ROM string's end at the latest and never reads past it. */
static int rom_eq(const char *rom, const uint8_t *s, uint8_t n)
{
    uint8_t i;
    for (i = 0; i < n; i++) {
        if (DH_ROM_U8(rom + i) != s[i]) {
            return 0;
        }
    }
    return DH_ROM_U8(rom + n) == 0u;
}

/* ---- Bytes and numbers (spec 2.3, 2.5, 4). -------------------------------------------- */

static uint16_t crc_update(uint16_t crc, uint8_t b)
{
    uint8_t i;
    crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)b << 8));
    for (i = 0; i < 8u; i++) {
        if (crc & 0x8000u) {
            crc = (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u);
        } else {
            crc = (uint16_t)(crc << 1);
        }
    }
    return crc;
}

uint16_t dh_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFFu;
    while (n--) {
        crc = crc_update(crc, *p++);
    }
    return crc;
}

/* A byte that may stand in a frame's word: printable, no space, no '@' (spec 2.1). */
static int is_token_byte(uint8_t b) { return b >= 0x21u && b <= 0x7Eu && b != '@'; }

/* A byte a value carries unescaped (spec 2.5). */
static int is_plain_value_byte(uint8_t b)
{
    return b >= 0x21u && b <= 0x7Eu && b != '%' && b != '@' && b != '*';
}

static int upper_hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Escapes, digests and hardware ids in requests accept either case (spec 2.5, 4.5). */
static int any_hex_value(uint8_t c)
{
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return upper_hex_value(c);
}

/* Canonical decimal (spec 4): 1..10 digits, no leading zero unless "0". Saturates at
 * UINT32_MAX, which every caller treats as out of range. Returns 0 if not canonical. */
static int parse_decimal(const uint8_t *s, uint8_t n, uint32_t *out)
{
    uint32_t v = 0;
    uint8_t i;
    if (n == 0u || n > 10u || (n > 1u && s[0] == '0')) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        uint8_t d;
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        d = (uint8_t)(s[i] - '0');
        if (v > 429496729UL || (v == 429496729UL && d > 5u)) {
            v = 0xFFFFFFFFUL;
        } else if (v != 0xFFFFFFFFUL) {
            v = v * 10u + d;
        }
    }
    *out = v;
    return 1;
}

/* ---- Frames (spec 2.1, 2.2). ----------------------------------------------------------- */

int dh_frame_check(const uint8_t *line, size_t len, uint8_t *seq, uint16_t *crc)
{
    size_t body, i;
    uint16_t stated = 0;
    int hi, lo;

    if (len + 2u > DH_MAX_FRAME_LEN || len < DH_MARKER_LEN + DH_CRC_TRAILER_LEN) {
        return 0;
    }
    for (i = 0; i < DH_MARKER_LEN; i++) {
        if (line[i] != DH_ROM_U8(MARKER + i)) {
            return 0;
        }
    }
    body = len - DH_CRC_TRAILER_LEN;
    if (line[body] != ' ' || line[body + 1u] != '*') {
        return 0;
    }
    for (i = body + 2u; i < len; i++) {
        int v = upper_hex_value(line[i]);
        if (v < 0) {
            return 0;
        }
        stated = (uint16_t)((uint16_t)(stated << 4) | (uint16_t)v);
    }
    if (dh_crc16(line, body) != stated) {
        return 0;
    }
    for (i = DH_MARKER_LEN; i < body; i++) {
        if (line[i] != ' ' && !is_token_byte(line[i])) {
            return 0;
        }
    }
    /* "<seq> <word>[ <word>...]": two upper-case hex digits, then non-empty words separated
     * by exactly one space. */
    if (body < DH_MARKER_LEN + 4u) {
        return 0;
    }
    hi = upper_hex_value(line[DH_MARKER_LEN]);
    lo = upper_hex_value(line[DH_MARKER_LEN + 1u]);
    if (hi < 0 || lo < 0 || line[DH_MARKER_LEN + 2u] != ' ') {
        return 0;
    }
    if (line[DH_MARKER_LEN + 3u] == ' ' || line[body - 1u] == ' ') {
        return 0;
    }
    for (i = DH_MARKER_LEN + 3u; i + 1u < body; i++) {
        if (line[i] == ' ' && line[i + 1u] == ' ') {
            return 0;
        }
    }
    *seq = (uint8_t)((hi << 4) | lo);
    *crc = stated;
    return 1;
}

/* ---- The faster wire's idle timer (spec 10.1). ----------------------------------------- */

/* A valid frame was received or a reply sent: the idle revert starts counting again. */
static void baud_mark_active(dh_device *dev)
{
    if (dev->baud != NULL) {
        dev->baud_active_ms = dev->baud->millis(dev->port);
    }
}

/* ---- Replies: streamed, CRC on the fly, nothing buffered. ------------------------------ */

struct out {
    dh_device *dev;
    uint16_t crc;
};

static void out_byte(struct out *o, uint8_t b)
{
    o->crc = crc_update(o->crc, b);
    dh_port_write_byte(o->dev->port, b);
}

static void out_rom(struct out *o, const char *rom)
{
    uint8_t c;
    while ((c = DH_ROM_U8(rom++)) != 0u) {
        out_byte(o, c);
    }
}

static void out_word_rom(struct out *o, const char *rom)
{
    out_byte(o, ' ');
    out_rom(o, rom);
}

static void out_hex2(struct out *o, uint8_t b)
{
    out_byte(o, DH_ROM_U8(HEX + (b >> 4)));
    out_byte(o, DH_ROM_U8(HEX + (b & 0x0Fu)));
}

static void out_dec(struct out *o, uint32_t v)
{
    uint8_t digits[10];
    uint8_t n = 0;
    do {
        digits[n++] = (uint8_t)('0' + (uint8_t)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        out_byte(o, digits[--n]);
    }
}

static void out_percent(struct out *o, uint8_t b)
{
    out_byte(o, '%');
    out_hex2(o, b);
}

static void out_escaped_byte(struct out *o, uint8_t b)
{
    if (is_plain_value_byte(b)) {
        out_byte(o, b);
    } else {
        out_percent(o, b);
    }
}

/* A request word echoed back as a value (spec 2.5): an unknown command or key name. Words
 * are never empty; a lone '-' would read as the empty value, hence %2D. */
static void out_escaped_word(struct out *o, const uint8_t *w, uint8_t n)
{
    uint8_t i;
    out_byte(o, ' ');
    if (n == 1u && w[0] == DH_EMPTY_TOKEN) {
        out_percent(o, DH_EMPTY_TOKEN);
        return;
    }
    for (i = 0; i < n; i++) {
        out_escaped_byte(o, w[i]);
    }
}

static void out_start(struct out *o, dh_device *dev, uint8_t seq)
{
    o->dev = dev;
    o->crc = 0xFFFFu;
    dev->flags |= F_REPLYING;
    out_rom(o, MARKER);
    out_hex2(o, seq);
}

static void out_finish(struct out *o)
{
    dh_device *dev = o->dev;
    uint16_t crc = o->crc;
    uint8_t shift;
    dh_port_write_byte(dev->port, ' ');
    dh_port_write_byte(dev->port, '*');
    for (shift = 16; shift > 0u;) {
        shift = (uint8_t)(shift - 4u);
        dh_port_write_byte(dev->port, DH_ROM_U8(HEX + (((unsigned)crc >> shift) & 0x0Fu)));
    }
    dh_port_write_byte(dev->port, '\r');
    dh_port_write_byte(dev->port, '\n');
    dev->flags &= (uint8_t)~F_REPLYING;
    baud_mark_active(dev);
}

/* ---- Debug output (spec 7.5). ---------------------------------------------------------- */

static void log_byte(dh_device *dev, uint8_t c)
{
    /* '@' would start a frame candidate in the station's decoder; control bytes and 8-bit
     * bytes would cut one short. Neither can appear, so a log line is never mistaken for, nor
     * breaks, a frame. */
    if (c < 0x20u || c > 0x7Eu || c == '@') {
        c = '?';
    }
    dh_port_write_byte(dev->port, c);
}

static void log_end(dh_device *dev)
{
    dh_port_write_byte(dev->port, '\r');
    dh_port_write_byte(dev->port, '\n');
}

void dh_log(dh_device *dev, const char *text)
{
    if (dev->flags & F_REPLYING) {
        return;
    }
    while (*text != '\0') {
        log_byte(dev, (uint8_t)*text++);
    }
    log_end(dev);
}

void dh_log_rom(dh_device *dev, const char *rom_text)
{
    uint8_t c;
    if (dev->flags & F_REPLYING) {
        return;
    }
    while ((c = DH_ROM_U8(rom_text++)) != 0u) {
        log_byte(dev, c);
    }
    log_end(dev);
}

static void log_rom_part(dh_device *dev, const char *rom)
{
    uint8_t c;
    while ((c = DH_ROM_U8(rom++)) != 0u) {
        log_byte(dev, c);
    }
}

static void log_dec(dh_device *dev, uint32_t v)
{
    uint8_t digits[10];
    uint8_t n = 0;
    do {
        digits[n++] = (uint8_t)('0' + (uint8_t)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        log_byte(dev, digits[--n]);
    }
}

/* "[dh] STAGE mqtt_password 14 OK": command, key, length, outcome. Never a value. */
static NOINLINE void log_handled(dh_device *dev, uint8_t cmd, uint8_t code, uint8_t key,
                                 uint32_t num, int replayed)
{
    log_rom_part(dev, DBG_PREFIX);
    log_rom_part(dev, COMMANDS[cmd - 1u]);
    if (key != 0u) {
        log_byte(dev, ' ');
        log_rom_part(dev, KEYS[key - 1u].name);
    }
    if (code == 0u && (cmd == DH_CMD_STAGE || cmd == DH_CMD_COMMIT || cmd == DH_CMD_READ ||
                       cmd == DH_CMD_BAUD)) {
        log_byte(dev, ' ');
        log_dec(dev, num);
    }
    log_byte(dev, ' ');
    log_rom_part(dev, code == 0u ? S_OK : ERRORS[code - 1u]);
    if (replayed) {
        log_rom_part(dev, DBG_REPLAY);
    }
    log_end(dev);
}

/* ---- The committed blob (spec 7.4). ---------------------------------------------------- */

static int stored_read(dh_device *dev, uint16_t off, uint8_t *buf, uint16_t n)
{
    return dh_port_stored_read(dev->port, off, buf, n);
}

/* Where key k's value sits in the committed blob (its structure was checked at load). */
static int stored_locate(dh_device *dev, uint8_t k, uint16_t *pos, uint16_t *len)
{
    uint16_t p = DH_MAGIC_LEN;
    uint8_t hdr[DH_KEY_HEADER_LEN];
    uint8_t j;
    for (j = 0; j < DH_KEY_COUNT; j++) {
        uint16_t l;
        if (stored_read(dev, p, hdr, DH_KEY_HEADER_LEN) != 0) {
            return -1;
        }
        l = (uint16_t)(((uint16_t)hdr[1] << 8) | hdr[2]);
        if (j == k) {
            *pos = (uint16_t)(p + DH_KEY_HEADER_LEN);
            *len = l;
            return 0;
        }
        p = (uint16_t)(p + DH_KEY_HEADER_LEN + l);
    }
    return -1;
}

static uint8_t stored_byte(dh_device *dev, uint16_t off)
{
    uint8_t b = 0;
    /* Reads of committed storage (EEPROM, flash, a file) are taken not to fail: a reply
     * cannot be recalled once its first byte is out. */
    (void)stored_read(dev, off, &b, 1);
    return b;
}

/* The generation as StoredConfig::generation reads the stored text: canonical decimal (spec
 * 4, 5.1: digits only, no leading zero unless "0", at most 4294967295); 0 when it is not. A
 * committed config always holds canonical decimal, so this only matters for a blob written by
 * something else, where the Rust model and this module must still report the same HELLO.
 * Unlike parse_decimal, overflow is 0 here, not saturation. */
static uint32_t parse_stored_generation(dh_device *dev, uint16_t pos, uint16_t len)
{
    uint32_t g = 0;
    uint16_t i;
    if (len == 0u || len > DH_MAX_GENERATION_LEN ||
        (len > 1u && stored_byte(dev, pos) == '0')) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        uint8_t c = stored_byte(dev, (uint16_t)(pos + i));
        uint8_t d = (uint8_t)(c - '0');
        if (c < '0' || c > '9' || g > 429496729UL || (g == 429496729UL && d > 5u)) {
            return 0;
        }
        g = g * 10u + d;
    }
    return g;
}

/* Checks the stored blob as StoredConfig::from_blob does: magic, SHA-256 trailer, every key
 * in canonical order with nothing after. A blob that fails is ignored (spec 7.4). */
static NOINLINE void load_stored(dh_device *dev)
{
    uint16_t total = dh_port_stored_len(dev->port);
    uint16_t body, pos;
    uint8_t buf[IO_CHUNK];
    uint8_t digest[DH_DIGEST_LEN];
    dh_sha256 sha;
    uint8_t k;

    dev->flags &= (uint8_t)~F_COMMITTED;
    dev->generation = 0;
    if (total == 0u) {
        return;
    }
    if (total < DH_MAGIC_LEN + DH_DIGEST_LEN || total > dev->capacity) {
        goto bad;
    }
    body = (uint16_t)(total - DH_DIGEST_LEN);
    if (stored_read(dev, 0, buf, DH_MAGIC_LEN) != 0) {
        goto bad;
    }
    for (k = 0; k < DH_MAGIC_LEN; k++) {
        if (buf[k] != DH_ROM_U8(MAGIC + k)) {
            goto bad;
        }
    }
    dh_sha256_init(&sha);
    for (pos = 0; pos < body;) {
        uint16_t n = (uint16_t)(body - pos) < IO_CHUNK ? (uint16_t)(body - pos) : IO_CHUNK;
        if (stored_read(dev, pos, buf, n) != 0) {
            goto bad;
        }
        dh_sha256_update(&sha, buf, n);
        pos = (uint16_t)(pos + n);
    }
    dh_sha256_final(&sha, digest);
    for (pos = 0; pos < DH_DIGEST_LEN; pos = (uint16_t)(pos + IO_CHUNK)) {
        if (stored_read(dev, (uint16_t)(body + pos), buf, IO_CHUNK) != 0 ||
            memcmp(buf, digest + pos, IO_CHUNK) != 0) {
            goto bad;
        }
    }
    pos = DH_MAGIC_LEN;
    for (k = 0; k < DH_KEY_COUNT; k++) {
        uint16_t len;
        if ((uint32_t)pos + DH_KEY_HEADER_LEN > body ||
            stored_read(dev, pos, buf, DH_KEY_HEADER_LEN) != 0 || buf[0] != k + 1u) {
            goto bad;
        }
        len = (uint16_t)(((uint16_t)buf[1] << 8) | buf[2]);
        if ((uint32_t)pos + DH_KEY_HEADER_LEN + len > body) {
            goto bad;
        }
        if (k == DH_KEY_COUNT - 1u) {
            uint16_t at = (uint16_t)(pos + DH_KEY_HEADER_LEN);
            dev->generation = parse_stored_generation(dev, at, len);
        }
        pos = (uint16_t)(pos + DH_KEY_HEADER_LEN + len);
    }
    if (pos != body) {
        goto bad;
    }
    dev->flags |= F_COMMITTED;
    return;
bad:
    dev->generation = 0;
    dh_log_rom(dev, DBG_STORED_BAD);
}

/* ---- Replies from their fields; the cache replays through the same code (spec 6.3). ---- */

static NOINLINE void emit_hello(dh_device *dev, uint8_t seq)
{
    struct out o;
    uint8_t id[DH_MAX_HWID_BYTES];
    uint8_t n = dh_port_hardware_id(dev->port, id), i;
    const char *fw = dev->firmware_version;

    out_start(&o, dev, seq);
    out_word_rom(&o, S_OK);
    out_word_rom(&o, COMMANDS[DH_CMD_HELLO - 1]);
    out_byte(&o, ' ');
    out_dec(&o, DH_PROTOCOL_VERSION);
    out_word_rom(&o, CAPS);
    if (dev->baud != NULL) {
        out_byte(&o, ',');
        out_rom(&o, CAP_BAUD);
    }
    if (dev->flags & F_PROVE) {
        out_byte(&o, ',');
        out_rom(&o, CAP_PROVE);
    }
    if (dev->write_allowed != NULL) {
        out_byte(&o, ',');
        out_rom(&o, CAP_GATE);
    }
#if DH_RX_FRAME_LEN < DH_MAX_FRAME_LEN
    out_byte(&o, ',');
    out_rom(&o, CAP_FRAME);
    out_dec(&o, DH_RX_FRAME_LEN);
#endif
    out_byte(&o, ' ');
    for (i = 0; i < n && i < DH_MAX_HWID_BYTES; i++) {
        out_hex2(&o, id[i]);
    }
    out_byte(&o, ' ');
    while (*fw != '\0') {
        out_byte(&o, (uint8_t)*fw++);
    }
    out_byte(&o, ' ');
    if (dev->flags & F_COMMITTED) {
        out_dec(&o, dev->generation);
    } else {
        out_byte(&o, DH_NONE_TOKEN);
    }
    out_finish(&o);
}

/* " <offset> <total> <chunk>" of OK READ: the chunk is the longest prefix of the rest of the
 * value whose escaped form fits DH_MAX_CHUNK_ENCODED (message.rs chunk_value). */
static void emit_read_fields(struct out *o, uint8_t k, uint16_t offset)
{
    dh_device *dev = o->dev;
    uint16_t pos = 0, total = 0, n = 0, encoded = 0, i;

    if (stored_locate(dev, k, &pos, &total) != 0 || offset > total) {
        total = offset; /* unreachable after execute_read's checks */
    }
    out_byte(o, ' ');
    out_dec(o, offset);
    out_byte(o, ' ');
    out_dec(o, total);
    out_byte(o, ' ');
    for (i = offset; i < total; i++) {
        uint8_t len = is_plain_value_byte(stored_byte(dev, (uint16_t)(pos + i))) ? 1u : 3u;
        if (encoded + len > DH_MAX_CHUNK_ENCODED) {
            break;
        }
        encoded = (uint16_t)(encoded + len);
        n++;
    }
    if (n == 0u) {
        out_byte(o, DH_EMPTY_TOKEN);
    } else if (n == 1u && stored_byte(dev, (uint16_t)(pos + offset)) == DH_EMPTY_TOKEN) {
        out_percent(o, DH_EMPTY_TOKEN);
    } else {
        for (i = 0; i < n; i++) {
            out_escaped_byte(o, stored_byte(dev, (uint16_t)(pos + offset + i)));
        }
    }
}

/* Every reply but HELLO's, from the fields the cache keeps: command, code (0 = OK), key
 * (1-based, 0 = none) and one number (staged length, generation, READ offset, version, or
 * BAUD's rate, which is never cached). */
static NOINLINE void emit(dh_device *dev, uint8_t seq, uint8_t cmd, uint8_t code, uint8_t key,
                 uint32_t num)
{
    struct out o;
    out_start(&o, dev, seq);
    out_word_rom(&o, code == 0u ? S_OK : S_ERR);
    out_word_rom(&o, COMMANDS[cmd - 1u]);
    if (code != 0u) {
        out_word_rom(&o, ERRORS[code - 1u]);
        if (key != 0u) {
            out_word_rom(&o, KEYS[key - 1u].name);
        } else if (code == DH_ERR_UNSUPPORTED_VERSION) {
            out_byte(&o, ' ');
            out_dec(&o, num);
        }
    } else if (cmd == DH_CMD_STAGE) {
        out_word_rom(&o, KEYS[key - 1u].name);
        out_byte(&o, ' ');
        out_dec(&o, num);
    } else if (cmd == DH_CMD_COMMIT || cmd == DH_CMD_BAUD) {
        out_byte(&o, ' ');
        out_dec(&o, num);
    } else if (cmd == DH_CMD_READ) {
        out_word_rom(&o, KEYS[key - 1u].name);
        emit_read_fields(&o, (uint8_t)(key - 1u), (uint16_t)num);
    }
    out_finish(&o);
}

/* ---- Staging area: the canonical encoding under construction in scratch (spec 5.2). --- */

/* Where key k's value starts in scratch: after the magic, k+1 key headers and the values
 * staged for the keys before it. Unstaged keys count as empty. */
static uint16_t value_pos(const dh_device *dev, uint8_t k)
{
    uint16_t p = (uint16_t)(DH_MAGIC_LEN + DH_KEY_HEADER_LEN * (k + 1u));
    uint8_t j;
    for (j = 0; j < k; j++) {
        p = (uint16_t)(p + dev->staged_len[j]);
    }
    return p;
}

static uint16_t staged_total(const dh_device *dev)
{
    uint16_t t = 0;
    uint8_t j;
    for (j = 0; j < DH_KEY_COUNT; j++) {
        t = (uint16_t)(t + dev->staged_len[j]);
    }
    return t;
}

static void end_session(dh_device *dev)
{
    dev->flags &= (uint8_t)~F_SESSION;
    dev->staged_mask = 0;
    memset(dev->staged_len, 0, sizeof dev->staged_len);
}

/* Moves scratch[from..end) to start at `to`, through a small buffer, in the direction that
 * never overwrites bytes still to be moved. */
static NOINLINE int scratch_move(dh_device *dev, uint16_t from, uint16_t end, uint16_t to)
{
    uint8_t buf[IO_CHUNK];
    uint16_t left = (uint16_t)(end - from);
    while (left > 0u) {
        uint16_t n = left < IO_CHUNK ? left : IO_CHUNK;
        uint16_t src, dst;
        if (to > from) { /* back to front */
            src = (uint16_t)(from + left - n);
            dst = (uint16_t)(to + left - n);
        } else {
            src = (uint16_t)(end - left);
            dst = (uint16_t)(to + (end - left - from));
        }
        if (dh_port_scratch_read(dev->port, src, buf, n) != 0 ||
            dh_port_scratch_write(dev->port, dst, buf, n) != 0) {
            return -1;
        }
        left = (uint16_t)(left - n);
    }
    return 0;
}

/* ---- Requests (spec 4). ---------------------------------------------------------------- */

struct words {
    uint8_t count;
    uint8_t start[MAX_WORDS];
    uint8_t len[MAX_WORDS];
};

/* The outcome of one request: what the reply and the cache need. */
struct result {
    uint8_t code;
    uint8_t key;
    uint32_t num;
};

static void split_words(const dh_device *dev, struct words *w)
{
    uint8_t end = (uint8_t)(dev->line_len - DH_CRC_TRAILER_LEN);
    uint8_t i = DH_MARKER_LEN + 3u; /* after "@DH1 XX " */
    w->count = 0;
    while (i < end) {
        uint8_t s = i;
        while (i < end && dev->line[i] != ' ') {
            i++;
        }
        if (w->count < MAX_WORDS) {
            w->start[w->count] = s;
            w->len[w->count] = (uint8_t)(i - s);
        }
        w->count++;
        i++;
    }
}

static uint8_t find_command(const uint8_t *s, uint8_t n)
{
    uint8_t c;
    for (c = 0; c < DH_COMMAND_COUNT; c++) {
        if (rom_eq(COMMANDS[c], s, n)) {
            return (uint8_t)(c + 1u);
        }
    }
    return 0;
}

static uint8_t find_key(const uint8_t *s, uint8_t n)
{
    uint8_t k;
    for (k = 0; k < DH_KEY_COUNT; k++) {
        if (rom_eq(KEYS[k].name, s, n)) {
            return (uint8_t)(k + 1u);
        }
    }
    return 0;
}

static int parse_offset(const uint8_t *s, uint8_t n, uint16_t *out)
{
    uint32_t v;
    if (!parse_decimal(s, n, &v) || v > DH_MAX_OFFSET) {
        return 0;
    }
    *out = (uint16_t)v;
    return 1;
}

/* BAUD's rate: canonical decimal within 32 bits. parse_decimal saturates, so the one
 * saturated value that is written out as itself is told apart from an overflow. */
static int parse_rate(const uint8_t *s, uint8_t n, uint32_t *out)
{
    static const char MAX_U32[] DH_ROM = "4294967295";
    if (!parse_decimal(s, n, out)) {
        return 0;
    }
    return *out != 0xFFFFFFFFUL || rom_eq(MAX_U32, s, n);
}

/* Undoes the escaping of a value in place (the result is never longer); returns its length
 * or -1 for a bad escape. "-" is the empty value. */
static int unescape_in_place(uint8_t *s, uint8_t n)
{
    uint8_t i = 0, o = 0;
    if (n == 1u && s[0] == DH_EMPTY_TOKEN) {
        return 0;
    }
    while (i < n) {
        if (s[i] == '%') {
            int hi = i + 1u < n ? any_hex_value(s[i + 1u]) : -1;
            int lo = i + 2u < n ? any_hex_value(s[i + 2u]) : -1;
            if (hi < 0 || lo < 0) {
                return -1;
            }
            s[o++] = (uint8_t)((hi << 4) | lo);
            i = (uint8_t)(i + 3u);
        } else {
            s[o++] = s[i++];
        }
    }
    return o;
}

/* Hardware id syntax (spec 4.1): 2..32 hex digits, an even count, either case. */
static int is_hardware_id(const uint8_t *s, uint8_t n)
{
    uint8_t i;
    if (n < 2u || n > 2u * DH_MAX_HWID_BYTES || (n & 1u) != 0u) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (any_hex_value(s[i]) < 0) {
            return 0;
        }
    }
    return 1;
}

/* Whether a complete staged value keeps its key's rules (spec 5.1, command.rs validate). */
static NOINLINE int value_is_valid(dh_device *dev, uint8_t k, uint16_t pos, uint16_t len,
                          uint32_t *number_out)
{
    uint8_t kind = key_kind(k);
    uint8_t buf[IO_CHUNK];
    uint16_t i;
    /* UTF-8 as Rust's str::from_utf8 accepts it: shortest forms only, no surrogates, nothing
     * above U+10FFFF. `need` continuation bytes are still due, the next within [lo, hi]. */
    uint8_t need = 0, lo = 0x80u, hi = 0xBFu;
    uint32_t number = 0;

    if (len < key_min(k) || len > key_max(k)) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        uint8_t b;
        if ((i % IO_CHUNK) == 0u) {
            uint16_t n = (uint16_t)(len - i) < IO_CHUNK ? (uint16_t)(len - i) : IO_CHUNK;
            if (dh_port_scratch_read(dev->port, (uint16_t)(pos + i), buf, n) != 0) {
                return -1;
            }
        }
        b = buf[i % IO_CHUNK];
        switch (kind) {
        case KIND_IDENT:
            if (!((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                  b == '.' || b == '_' || b == ':' || b == '-')) {
                return 0;
            }
            break;
        case KIND_HOST:
            if (b < 0x21u || b > 0x7Eu) {
                return 0;
            }
            break;
        case KIND_TEXT:
            if (need > 0u) {
                if (b < lo || b > hi) {
                    return 0;
                }
                need--;
                lo = 0x80u;
                hi = 0xBFu;
            } else if (b == 0u) {
                return 0;
            } else if (b < 0x80u) {
                /* ASCII */
            } else if (b >= 0xC2u && b <= 0xDFu) {
                need = 1;
            } else if (b >= 0xE0u && b <= 0xEFu) {
                need = 2;
                lo = b == 0xE0u ? 0xA0u : 0x80u;
                hi = b == 0xEDu ? 0x9Fu : 0xBFu;
            } else if (b >= 0xF0u && b <= 0xF4u) {
                need = 3;
                lo = b == 0xF0u ? 0x90u : 0x80u;
                hi = b == 0xF4u ? 0x8Fu : 0xBFu;
            } else {
                return 0;
            }
            break;
        case KIND_PORT:
        case KIND_GENERATION:
            if (b < '0' || b > '9' || (i == 0u && b == '0' && len > 1u)) {
                return 0;
            }
            if (number > 429496729UL || (number == 429496729UL && b > '5')) {
                return 0;
            }
            number = number * 10u + (uint8_t)(b - '0');
            break;
        default: /* KIND_FLAG */
            if (b != '0' && b != '1') {
                return 0;
            }
            break;
        }
    }
    if (kind == KIND_TEXT && need > 0u) {
        return 0;
    }
    if (kind == KIND_PORT && (number < DH_MIN_BROKER_PORT || number > DH_MAX_BROKER_PORT)) {
        return 0;
    }
    *number_out = number;
    return 1;
}

static NOINLINE void execute_stage(dh_device *dev, uint8_t key, uint16_t offset, uint8_t chunk_at,
                          uint8_t chunk_len, struct result *r)
{
    uint8_t k = (uint8_t)(key - 1u);
    uint16_t old_len = dev->staged_len[k];
    uint16_t new_len = (uint16_t)(offset + chunk_len);
    uint16_t start, end, later = 0;
    uint8_t j;

    if (!(dev->flags & F_SESSION)) {
        r->code = DH_ERR_NO_SESSION;
        return;
    }
    r->key = key;
    if (offset > old_len) {
        r->code = DH_ERR_BAD_OFFSET;
        return;
    }
    if (new_len > key_max(k)) {
        r->code = DH_ERR_BAD_VALUE;
        return;
    }
    if ((uint32_t)staged_total(dev) - old_len + new_len + DH_BLOB_OVERHEAD > dev->capacity) {
        r->code = DH_ERR_STORAGE_FULL;
        return;
    }
    /* Truncate at the offset, then append (spec 4.4): the values after this key move by the
     * change in length. In the station's key order they are all empty and nothing moves. */
    start = value_pos(dev, k);
    end = (uint16_t)(DH_MAGIC_LEN + DH_KEY_COUNT * DH_KEY_HEADER_LEN + staged_total(dev));
    for (j = (uint8_t)(k + 1u); j < DH_KEY_COUNT; j++) {
        later = (uint16_t)(later + dev->staged_len[j]);
    }
    if (new_len != old_len && later > 0u &&
        scratch_move(dev, (uint16_t)(start + old_len), end, (uint16_t)(start + new_len)) != 0) {
        goto failed;
    }
    if (chunk_len > 0u &&
        dh_port_scratch_write(dev->port, (uint16_t)(start + offset), dev->line + chunk_at,
                              chunk_len) != 0) {
        goto failed;
    }
    dev->staged_len[k] = (uint8_t)new_len;
    dev->staged_mask |= (uint16_t)(1u << k);
    r->num = new_len;
    return;
failed:
    /* The staging area is no longer what the lengths say: nothing of it may be committed. */
    end_session(dev);
    r->key = 0;
    r->code = DH_ERR_STORAGE_FAILED;
}

/* COMMIT (spec 4.5): checks in the spec's order, then the atomic store. */
static NOINLINE int hardware_id_matches(dh_device *dev, const uint8_t *hex, uint8_t hex_len)
{
    uint8_t id[DH_MAX_HWID_BYTES];
    uint8_t n = dh_port_hardware_id(dev->port, id), i;
    if (n > DH_MAX_HWID_BYTES || hex_len != 2u * n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        int v = (any_hex_value(hex[2u * i]) << 4) | any_hex_value(hex[2u * i + 1u]);
        if (v != id[i]) {
            return 0;
        }
    }
    return 1;
}

/* Fills in the magic and the key headers around the staged values, making scratch[0..]
 * exactly the canonical encoding; returns its length, 0 on a port failure. */
static NOINLINE uint16_t seal_encoding(dh_device *dev)
{
    uint8_t buf[DH_MAGIC_LEN];
    uint8_t k;
    for (k = 0; k < DH_MAGIC_LEN; k++) {
        buf[k] = DH_ROM_U8(MAGIC + k);
    }
    if (dh_port_scratch_write(dev->port, 0, buf, DH_MAGIC_LEN) != 0) {
        return 0;
    }
    for (k = 0; k < DH_KEY_COUNT; k++) {
        buf[0] = (uint8_t)(k + 1u);
        buf[1] = 0;
        buf[2] = dev->staged_len[k];
        if (dh_port_scratch_write(dev->port, (uint16_t)(value_pos(dev, k) - DH_KEY_HEADER_LEN),
                                  buf, DH_KEY_HEADER_LEN) != 0) {
            return 0;
        }
    }
    return (uint16_t)(DH_MAGIC_LEN + DH_KEY_COUNT * DH_KEY_HEADER_LEN + staged_total(dev));
}

/* Whether SHA-256 of scratch[0..len) is `expected`: the digest COMMIT names, and the
 * blob's trailer (spec 7.4). 1 yes, 0 no, -1 port failure. */
static NOINLINE int scratch_hash_equals(dh_device *dev, uint16_t len,
                                        const uint8_t expected[DH_DIGEST_LEN])
{
    dh_sha256 sha;
    uint8_t buf[IO_CHUNK];
    uint16_t pos;
    dh_sha256_init(&sha);
    for (pos = 0; pos < len;) {
        uint16_t n = (uint16_t)(len - pos) < IO_CHUNK ? (uint16_t)(len - pos) : IO_CHUNK;
        if (dh_port_scratch_read(dev->port, pos, buf, n) != 0) {
            memset(&sha, 0, sizeof sha);
            return -1;
        }
        dh_sha256_update(&sha, buf, n);
        pos = (uint16_t)(pos + n);
    }
    memset(buf, 0, sizeof buf);
    return dh_sha256_final_equals(&sha, expected);
}

/* The 64 hex digits of COMMIT's digest become its 32 bytes, in place in the line buffer
 * (checked by parse_request; byte i only overwrites digits already read). */
static void digest_from_hex(uint8_t *hex)
{
    uint8_t i;
    for (i = 0; i < DH_DIGEST_LEN; i++) {
        hex[i] = (uint8_t)((any_hex_value(hex[2u * i]) << 4) | any_hex_value(hex[2u * i + 1u]));
    }
}

/* The write gate (spec 10.3): a write is refused while a config is committed and the
 * application does not allow one now. Asked at BEGIN and again at COMMIT, so an allowance
 * withdrawn in between (a jumper pulled) stops the write. */
static int gate_closed(dh_device *dev)
{
    return dev->write_allowed != NULL && (dev->flags & F_COMMITTED) &&
           !dev->write_allowed(dev->port);
}

static NOINLINE void execute_commit(dh_device *dev, uint8_t *digest, const uint8_t *hwid,
                                    uint8_t hwid_len, struct result *r)
{
    uint16_t enc_len;
    uint32_t generation = 0;
    uint8_t k;
    int rc;

    if (!(dev->flags & F_SESSION)) {
        r->code = DH_ERR_NO_SESSION;
        return;
    }
    if (gate_closed(dev)) {
        r->code = DH_ERR_LOCKED;
        return;
    }
    if (!hardware_id_matches(dev, hwid, hwid_len)) {
        r->code = DH_ERR_HWID_MISMATCH;
        return;
    }
    for (k = 0; k < DH_KEY_COUNT; k++) {
        if (!(dev->staged_mask & (1u << k))) {
            r->code = DH_ERR_MISSING_KEY;
            r->key = (uint8_t)(k + 1u);
            return;
        }
    }
    digest_from_hex(digest);
    enc_len = seal_encoding(dev);
    rc = enc_len == 0u ? -1 : scratch_hash_equals(dev, enc_len, digest);
    if (rc < 0) {
        r->code = DH_ERR_STORAGE_FAILED;
        return;
    }
    if (rc == 0) {
        r->code = DH_ERR_DIGEST_MISMATCH;
        return;
    }
    for (k = 0; k < DH_KEY_COUNT; k++) {
        uint32_t number = 0;
        int valid = value_is_valid(dev, k, value_pos(dev, k), dev->staged_len[k], &number);
        if (valid < 0) {
            r->code = DH_ERR_STORAGE_FAILED;
            return;
        }
        if (!valid) {
            r->code = DH_ERR_BAD_VALUE;
            r->key = (uint8_t)(k + 1u);
            return;
        }
        if (k == DH_KEY_GENERATION - 1u) {
            generation = number;
        }
    }
    /* Generations never go back, nor repeat (spec 4.5 step 6, 10.3). */
    if (dev->write_allowed != NULL && (dev->flags & F_COMMITTED) &&
        generation <= dev->generation) {
        r->code = DH_ERR_STALE_GENERATION;
        return;
    }
    /* The trailer is the digest just checked: the blob is its own proof at the next boot. */
    if ((uint32_t)enc_len + DH_DIGEST_LEN > dev->capacity) {
        r->code = DH_ERR_STORAGE_FULL;
        return;
    }
    if (dh_port_scratch_write(dev->port, enc_len, digest, DH_DIGEST_LEN) != 0) {
        r->code = DH_ERR_STORAGE_FAILED;
        return;
    }
    rc = dh_port_commit(dev->port, (uint16_t)(enc_len + DH_DIGEST_LEN));
    if (rc != DH_STORE_OK) {
        r->code = rc == DH_STORE_FULL ? DH_ERR_STORAGE_FULL : DH_ERR_STORAGE_FAILED;
        return;
    }
    dev->flags |= F_COMMITTED;
    dev->generation = generation;
    r->num = generation;
}

static void execute_read(dh_device *dev, uint8_t key, uint16_t offset, struct result *r)
{
    uint8_t k = (uint8_t)(key - 1u);
    uint16_t pos, len;
    if (key_secret(k)) {
        r->code = DH_ERR_WRITE_ONLY;
        r->key = key;
        return;
    }
    if (!(dev->flags & F_COMMITTED)) {
        r->code = DH_ERR_NO_CONFIG;
        return;
    }
    if (stored_locate(dev, k, &pos, &len) != 0) {
        r->code = DH_ERR_STORAGE_FAILED;
        return;
    }
    if (offset > len) {
        r->code = DH_ERR_BAD_OFFSET;
        r->key = key;
        return;
    }
    r->key = key;
    r->num = offset;
}

/* ERR replies that echo a request word (message.rs RequestError): an unknown command
 * (cmd == 0) names itself, an unknown key is the detail. Never cached, as in the model. */
static NOINLINE void emit_word_error(dh_device *dev, uint8_t seq, uint8_t cmd, uint8_t code,
                            const uint8_t *word, uint8_t len)
{
    struct out o;
    if (len > DH_MAX_ECHO_BYTES) {
        len = (uint8_t)DH_MAX_ECHO_BYTES;
    }
    out_start(&o, dev, seq);
    out_word_rom(&o, S_ERR);
    if (cmd == 0u) {
        out_escaped_word(&o, word, len);
    } else {
        out_word_rom(&o, COMMANDS[cmd - 1u]);
    }
    out_word_rom(&o, ERRORS[code - 1u]);
    if (cmd != 0u) {
        out_escaped_word(&o, word, len);
    }
    out_finish(&o);
}

/* Parses the words of a request (message.rs Request::parse). Returns 0 or the error code;
 * on UNKNOWN_KEY the offending word is words[1]. */
struct request {
    uint8_t key;
    uint16_t offset;
    uint32_t number; /* HELLO's version, BAUD's rate */
    uint8_t chunk_at; /* STAGE's chunk, PROVE's nonce: where it starts in the line */
    uint8_t chunk_len;
};

static uint8_t parse_request(dh_device *dev, uint8_t cmd, const struct words *w,
                             struct request *q)
{
    uint8_t args = (uint8_t)(w->count - 1u);
    const uint8_t *line = dev->line;
    uint8_t i;
    int n;

    switch (cmd) {
    case DH_CMD_HELLO:
        if (args != 1u || !parse_decimal(line + w->start[1], w->len[1], &q->number) ||
            q->number > 0xFFFFu) {
            return DH_ERR_BAD_FRAME;
        }
        return 0;
    case DH_CMD_BAUD:
        /* A rate is canonical decimal that fits 32 bits (spec 10.1, 4). */
        return args == 1u && parse_rate(line + w->start[1], w->len[1], &q->number)
                   ? 0u
                   : DH_ERR_BAD_FRAME;
    case DH_CMD_PROVE:
        /* 32 hex digits, either case; lower-cased in place for the message (spec 10.3). */
        if (args != 1u || w->len[1] != DH_PROVE_NONCE_HEX) {
            return DH_ERR_BAD_FRAME;
        }
        for (i = 0; i < DH_PROVE_NONCE_HEX; i++) {
            uint8_t *c = dev->line + w->start[1] + i;
            if (any_hex_value(*c) < 0) {
                return DH_ERR_BAD_FRAME;
            }
            if (*c >= 'A' && *c <= 'F') {
                *c = (uint8_t)(*c - 'A' + 'a');
            }
        }
        q->chunk_at = w->start[1];
        return 0;
    case DH_CMD_BEGIN:
    case DH_CMD_ABORT:
        return args != 0u ? DH_ERR_BAD_FRAME : 0u;
    case DH_CMD_STAGE:
    case DH_CMD_READ:
        if (args != (cmd == DH_CMD_STAGE ? 3u : 2u)) {
            return DH_ERR_BAD_FRAME;
        }
        q->key = find_key(line + w->start[1], w->len[1]);
        if (q->key == 0u) {
            return DH_ERR_UNKNOWN_KEY;
        }
        if (!parse_offset(line + w->start[2], w->len[2], &q->offset)) {
            return DH_ERR_BAD_FRAME;
        }
        if (cmd == DH_CMD_STAGE) {
            /* The limit is on the word as received, before unescaping (spec 4.4). */
            if (w->len[3] > DH_MAX_CHUNK_ENCODED) {
                return DH_ERR_BAD_FRAME;
            }
            n = unescape_in_place(dev->line + w->start[3], w->len[3]);
            if (n < 0) {
                return DH_ERR_BAD_FRAME;
            }
            q->chunk_at = w->start[3];
            q->chunk_len = (uint8_t)n;
        }
        return 0;
    default: /* DH_CMD_COMMIT */
        if (args != 2u || w->len[1] != 2u * DH_DIGEST_LEN) {
            return DH_ERR_BAD_FRAME;
        }
        for (i = 0; i < 2u * DH_DIGEST_LEN; i++) {
            if (any_hex_value(line[w->start[1] + i]) < 0) {
                return DH_ERR_BAD_FRAME;
            }
        }
        return is_hardware_id(line + w->start[2], w->len[2]) ? 0u : DH_ERR_BAD_FRAME;
    }
}

/* The commands that run through the reply cache once parsed and not replayed (spec 7.3). */
static void execute(dh_device *dev, uint8_t cmd, const struct words *w, const struct request *q,
                    struct result *r)
{
    switch (cmd) {
    case DH_CMD_BEGIN:
        if (gate_closed(dev)) {
            r->code = DH_ERR_LOCKED; /* nothing done: an open session stays as it was */
            break;
        }
        end_session(dev);
        dev->flags |= F_SESSION;
        break;
    case DH_CMD_ABORT:
        end_session(dev);
        break;
    case DH_CMD_STAGE:
        execute_stage(dev, q->key, q->offset, q->chunk_at, q->chunk_len, r);
        break;
    case DH_CMD_COMMIT:
        execute_commit(dev, dev->line + w->start[1], dev->line + w->start[2], w->len[2], r);
        /* Every answered COMMIT ends the session, applied or refused (spec 4.5). */
        end_session(dev);
        break;
    default: /* DH_CMD_READ */
        execute_read(dev, q->key, q->offset, r);
        break;
    }
}

/* Whether the port can run `rate`: DH_BAUD_DEFAULT always, else one of its listed rates. */
static int rate_allowed(const dh_device *dev, uint32_t rate)
{
    uint8_t i;
    if (rate == DH_BAUD_DEFAULT) {
        return 1;
    }
    for (i = 0; i < dev->baud->rate_count; i++) {
        if (DH_ROM_U32(&dev->baud->rates[i]) == rate) {
            return 1;
        }
    }
    return 0;
}

/* BAUD (spec 10.1): executed every time, never answered from the reply cache, never cached
 * and never clearing it, no session opened or closed. The reply goes out at the old rate;
 * set_rate drains the transmitter before it switches, so the reply's last byte is out. */
static NOINLINE void execute_baud(dh_device *dev, uint8_t seq, uint32_t rate)
{
    uint8_t code = 0;
    if (seq == DH_SEQ_UNSOLICITED) {
        code = DH_ERR_BAD_FRAME;
    } else if (!rate_allowed(dev, rate)) {
        code = DH_ERR_BAD_VALUE;
    }
    emit(dev, seq, DH_CMD_BAUD, code, 0, rate);
    if (dev->flags & F_DEBUG) {
        log_handled(dev, DH_CMD_BAUD, code, 0, rate, 0);
    }
    if (code != 0u) {
        return;
    }
    dev->baud->set_rate(dev->port, rate);
    if (rate == DH_BAUD_DEFAULT) {
        dev->flags &= (uint8_t)~F_FAST;
    } else {
        dev->flags |= F_FAST;
    }
    baud_mark_active(dev);
}

/* ---- PROVE (spec 10.3). ----------------------------------------------------------------- */

/* The spare bytes of the line buffer behind a PROVE request hold K0 (at most one HMAC block)
 * and, after it, a 32-byte area that is first the storage I/O buffer and then the mac. */
#define PROVE_LINE_MAX                                                                       \
    (DH_MARKER_LEN + 3u + (sizeof COMMANDS[0] - 1u) + 1u + DH_PROVE_NONCE_HEX +              \
     DH_CRC_TRAILER_LEN)
typedef char dh_prove_fits_the_line[(PROVE_LINE_MAX + DH_HMAC_BLOCK_LEN + DH_HMAC_LEN <=
                                     DH_MAX_LINE_LEN)
                                        ? 1
                                        : -1];
/* The mac goes out as two hex digits a byte. */
typedef char dh_prove_mac_is_hmac_sha256[(DH_PROVE_MAC_HEX == 2u * DH_HMAC_LEN) ? 1 : -1];

/* Feeds stored[pos..pos+len) to the hash through the 32-byte buffer `io`; 0, or -1 when the
 * storage cannot be read. */
static int hash_stored(dh_device *dev, dh_sha256 *sha, uint16_t pos, uint16_t len, uint8_t *io)
{
    while (len > 0u) {
        uint16_t n = len < DH_HMAC_LEN ? len : (uint16_t)DH_HMAC_LEN;
        if (stored_read(dev, pos, io, n) != 0) {
            return -1;
        }
        dh_sha256_update(sha, io, n);
        pos = (uint16_t)(pos + n);
        len = (uint16_t)(len - n);
    }
    return 0;
}

/* mac = HMAC-SHA256(mqtt_password, "DHPROVE1:<device_id>:<nonce>") from the committed blob;
 * k0 has room for DH_HMAC_BLOCK_LEN bytes, mac (also the I/O buffer) for DH_HMAC_LEN. 0, or
 * -1 when the storage cannot be read. A key over one block is hashed first (RFC 2104), read
 * in pieces, so any stored length works. */
static NOINLINE int prove_mac(dh_device *dev, const uint8_t *nonce, uint8_t *k0, uint8_t *mac)
{
    dh_sha256 sha;
    uint16_t pos, len;
    uint8_t k0_len, c, i;
    int rc = -1;

    if (stored_locate(dev, DH_KEY_MQTT_PASSWORD - 1u, &pos, &len) != 0) {
        return -1;
    }
    if (len <= DH_HMAC_BLOCK_LEN) {
        if (len > 0u && stored_read(dev, pos, k0, len) != 0) {
            goto done;
        }
        k0_len = (uint8_t)len;
    } else {
        dh_sha256_init(&sha);
        if (hash_stored(dev, &sha, pos, len, mac) != 0) {
            goto done;
        }
        dh_sha256_final(&sha, k0);
        k0_len = (uint8_t)DH_HMAC_LEN;
    }
    dh_hmac_sha256_init(&sha, k0, k0_len);
    for (i = 0; (c = DH_ROM_U8(PROOF_PREFIX + i)) != 0u; i++) {
        dh_sha256_update(&sha, &c, 1);
    }
    c = PROOF_SEPARATOR;
    dh_sha256_update(&sha, &c, 1);
    if (stored_locate(dev, DH_KEY_DEVICE_ID - 1u, &pos, &len) != 0 ||
        hash_stored(dev, &sha, pos, len, mac) != 0) {
        goto done;
    }
    dh_sha256_update(&sha, &c, 1);
    dh_sha256_update(&sha, nonce, DH_PROVE_NONCE_HEX);
    dh_hmac_sha256_final(&sha, k0, k0_len, mac);
    rc = 0;
done:
    memset(&sha, 0, sizeof sha);
    memset(k0, 0, DH_HMAC_BLOCK_LEN);
    return rc;
}

/* PROVE (spec 10.3): like BAUD, executed every time, never answered from the reply cache,
 * never cached and never clearing it, no session opened or closed. */
static NOINLINE void execute_prove(dh_device *dev, uint8_t seq, const uint8_t *nonce)
{
    uint8_t *k0 = dev->line + dev->line_len;
    uint8_t *mac = k0 + DH_HMAC_BLOCK_LEN;
    uint8_t code = 0, i;

    if (seq == DH_SEQ_UNSOLICITED) {
        code = DH_ERR_BAD_FRAME;
    } else if (!(dev->flags & F_COMMITTED)) {
        code = DH_ERR_NO_CONFIG;
    } else if (prove_mac(dev, nonce, k0, mac) != 0) {
        code = DH_ERR_STORAGE_FAILED;
    }
    if (code != 0u) {
        emit(dev, seq, DH_CMD_PROVE, code, 0, 0);
    } else {
        struct out o;
        out_start(&o, dev, seq);
        out_word_rom(&o, S_OK);
        out_word_rom(&o, COMMANDS[DH_CMD_PROVE - 1]);
        out_byte(&o, ' ');
        for (i = 0; i < DH_HMAC_LEN; i++) {
            /* Lower case (spec 10.3): setting bit 5 keeps a digit and lowers A..F. */
            out_byte(&o, (uint8_t)(DH_ROM_U8(HEX + (mac[i] >> 4)) | 0x20u));
            out_byte(&o, (uint8_t)(DH_ROM_U8(HEX + (mac[i] & 0x0Fu)) | 0x20u));
        }
        out_finish(&o);
    }
    memset(mac, 0, DH_HMAC_LEN);
    if (dev->flags & F_DEBUG) {
        log_handled(dev, DH_CMD_PROVE, code, 0, 0, 0);
    }
}

/* One complete line (spec 7.3). */
static void handle_line(dh_device *dev)
{
    struct words w;
    struct request q = {0, 0, 0, 0, 0};
    struct result r = {0, 0, 0};
    uint8_t seq, cmd, code;
    uint16_t crc;

    if (!dh_frame_check(dev->line, dev->line_len, &seq, &crc)) {
        if (dev->flags & F_DEBUG) {
            dh_log_rom(dev, DBG_DROPPED);
        }
        return;
    }
    baud_mark_active(dev);
    split_words(dev, &w);
    cmd = find_command(dev->line + w.start[0], w.len[0]);
    if ((cmd == DH_CMD_BAUD && dev->baud == NULL) ||
        (cmd == DH_CMD_PROVE && !(dev->flags & F_PROVE))) {
        cmd = 0; /* not enabled: answered exactly as a 1.0 device answers an unknown word */
    }
    if (cmd == 0u) {
        emit_word_error(dev, seq, 0, DH_ERR_UNKNOWN_COMMAND, dev->line + w.start[0], w.len[0]);
        return;
    }
    code = parse_request(dev, cmd, &w, &q);
    if (code != 0u) {
        if (code == DH_ERR_UNKNOWN_KEY) {
            emit_word_error(dev, seq, cmd, code, dev->line + w.start[1], w.len[1]);
        } else {
            emit(dev, seq, cmd, code, 0, 0);
        }
        if (dev->flags & F_DEBUG) {
            log_handled(dev, cmd, code, 0, 0, 0);
        }
        return;
    }
#if DH_RX_FRAME_LEN < DH_MAX_FRAME_LEN
    /* Longer than FRAME<n> (spec 10.2): malformed, like a chunk over 128 bytes; the line holds
     * it without its "\r\n". */
    if (cmd == DH_CMD_STAGE && (uint16_t)(dev->line_len + 2u) > DH_RX_FRAME_LEN) {
        emit(dev, seq, cmd, DH_ERR_BAD_FRAME, 0, 0);
        if (dev->flags & F_DEBUG) {
            log_handled(dev, cmd, DH_ERR_BAD_FRAME, 0, 0, 0);
        }
        return;
    }
#endif
    if (cmd == DH_CMD_BAUD) {
        execute_baud(dev, seq, q.number);
        return;
    }
    if (cmd == DH_CMD_PROVE) {
        execute_prove(dev, seq, dev->line + q.chunk_at);
        return;
    }
    if (seq == DH_SEQ_UNSOLICITED) {
        /* Refused, neither cached nor clearing the cache (spec 7.3 step 3, 10.4): a stray
         * seq-00 frame must not cost a retransmitted COMMIT its cached answer. */
        emit(dev, seq, cmd, DH_ERR_BAD_FRAME, 0, 0);
        if (dev->flags & F_DEBUG) {
            log_handled(dev, cmd, DH_ERR_BAD_FRAME, 0, 0, 0);
        }
        return;
    }
    if (cmd == DH_CMD_HELLO) {
        /* A new station process may start its seq numbers again: forget the old answers. */
        dev->cache_cmd = 0;
        if (q.number < DH_PROTOCOL_VERSION) {
            r.code = DH_ERR_UNSUPPORTED_VERSION;
            r.num = DH_PROTOCOL_VERSION;
        }
    } else if (dev->cache_cmd != 0u && dev->cache_seq == seq && dev->cache_crc == crc) {
        emit(dev, seq, dev->cache_cmd, dev->cache_code, dev->cache_key, dev->cache_num);
        if (dev->flags & F_DEBUG) {
            log_handled(dev, dev->cache_cmd, dev->cache_code, dev->cache_key, dev->cache_num,
                        1);
        }
        return;
    } else {
        execute(dev, cmd, &w, &q, &r);
    }
    if (cmd == DH_CMD_HELLO && r.code == 0u) {
        emit_hello(dev, seq);
    } else {
        emit(dev, seq, cmd, r.code, r.key, r.num);
    }
    /* HELLO is never replayed; BUSY (never sent by this module) must not be either; BAUD and
     * PROVE returned above. */
    if (cmd != DH_CMD_HELLO) {
        dev->cache_seq = seq;
        dev->cache_crc = crc;
        dev->cache_cmd = cmd;
        dev->cache_code = r.code;
        dev->cache_key = r.key;
        dev->cache_num = r.num;
    }
    if (dev->flags & F_DEBUG) {
        log_handled(dev, cmd, r.code, r.key, r.num, 0);
    }
}

/* ---- Public API. ----------------------------------------------------------------------- */

/* The line may hold an escaped secret (a STAGE of mqtt_password): overwrite before reuse. */
static void wipe_line(dh_device *dev)
{
    memset(dev->line, 0, dev->line_len);
    dev->line_len = 0;
}

void dh_feed(dh_device *dev, uint8_t byte)
{
    if (byte == DH_FRAME_START) {
        /* Whatever was collected was not a frame: a new one starts here (spec 2.2). */
        wipe_line(dev);
        dev->line[0] = byte;
        dev->line_len = 1;
        dev->flags |= F_IN_FRAME;
        return;
    }
    if (!(dev->flags & F_IN_FRAME)) {
        return;
    }
    if (byte == '\n') {
        dev->flags &= (uint8_t)~F_IN_FRAME;
        handle_line(dev);
        wipe_line(dev);
    } else if (byte == '\r') {
        /* allowed wherever a line ends; dropping it everywhere is simplest */
    } else if (byte >= 0x20u && byte <= 0x7Eu) {
        if (dev->line_len + 2u >= DH_MAX_FRAME_LEN) {
            dev->flags &= (uint8_t)~F_IN_FRAME;
            wipe_line(dev);
        } else {
            dev->line[dev->line_len++] = byte;
        }
    } else {
        /* A control or 8-bit byte cannot be inside a frame: this line is noise. */
        dev->flags &= (uint8_t)~F_IN_FRAME;
        wipe_line(dev);
    }
}

void dh_poll(dh_device *dev)
{
    int b;
    while ((b = dh_port_read_byte(dev->port)) >= 0) {
        dh_feed(dev, (uint8_t)b);
    }
    dh_tick(dev);
}

void dh_tick(dh_device *dev)
{
    const struct dh_baud_port *baud = dev->baud;
    if (baud == NULL || !(dev->flags & F_FAST) ||
        (uint32_t)(baud->millis(dev->port) - dev->baud_active_ms) < DH_BAUD_IDLE_REVERT_MS) {
        return;
    }
    /* A half line collected at the fast rate is noise once the rate changes. */
    dev->flags &= (uint8_t)~(F_FAST | F_IN_FRAME);
    wipe_line(dev);
    baud->set_rate(dev->port, DH_BAUD_DEFAULT);
    baud_mark_active(dev);
}

int dh_enable_baud(dh_device *dev, const struct dh_baud_port *baud)
{
    uint8_t i;
    if (baud == NULL || baud->set_rate == NULL || baud->millis == NULL || baud->rates == NULL ||
        baud->rate_count == 0u || baud->rate_count > DH_MAX_BAUD_RATES) {
        return DH_INIT_BAD_BAUD;
    }
    for (i = 0; i < baud->rate_count; i++) {
        if (DH_ROM_U32(&baud->rates[i]) == 0u) {
            return DH_INIT_BAD_BAUD;
        }
    }
    dev->baud = baud;
    dev->flags &= (uint8_t)~F_FAST;
    baud_mark_active(dev);
    return DH_INIT_OK;
}

void dh_enable_prove(dh_device *dev) { dev->flags |= F_PROVE; }

void dh_enable_gate(dh_device *dev, int (*write_allowed)(void *port))
{
    dev->write_allowed = write_allowed;
}

int dh_writing(const dh_device *dev) { return (dev->flags & F_SESSION) != 0u; }

void dh_set_debug(dh_device *dev, int on)
{
    if (on) {
        dev->flags |= F_DEBUG;
    } else {
        dev->flags &= (uint8_t)~F_DEBUG;
    }
}

int dh_provisioned(const dh_device *dev) { return (dev->flags & F_COMMITTED) != 0u; }

uint32_t dh_generation(const dh_device *dev) { return dev->generation; }

int dh_config_read(dh_device *dev, enum dh_key key, char *buf, uint16_t buf_len)
{
    uint16_t pos, len;
    if (!(dev->flags & F_COMMITTED) || key < DH_KEY_DEVICE_ID || key > DH_KEY_GENERATION ||
        stored_locate(dev, (uint8_t)(key - 1), &pos, &len) != 0 || len >= buf_len ||
        stored_read(dev, pos, (uint8_t *)buf, len) != 0) {
        return -1;
    }
    buf[len] = '\0';
    return (int)len;
}

static int is_firmware_version(const char *fw)
{
    size_t n = 0;
    for (; fw[n] != '\0'; n++) {
        char c = fw[n];
        if (n >= DH_MAX_FW_VERSION_LEN ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '+' || c == '-')) {
            return 0;
        }
    }
    return n > 0u;
}

int dh_init(dh_device *dev, void *port, const char *firmware_version, uint16_t capacity)
{
    uint8_t id[DH_MAX_HWID_BYTES];
    uint8_t n;

    memset(dev, 0, sizeof *dev);
    dev->port = port;
    dev->firmware_version = firmware_version;
    dev->capacity = capacity > DH_MAX_BLOB_LEN ? (uint16_t)DH_MAX_BLOB_LEN : capacity;
    if (dev->capacity < DH_BLOB_OVERHEAD + MIN_VALUES_LEN) {
        return DH_INIT_BAD_CAPACITY;
    }
    if (!is_firmware_version(firmware_version)) {
        return DH_INIT_BAD_FIRMWARE_VERSION;
    }
    n = dh_port_hardware_id(port, id);
    if (n == 0u || n > DH_MAX_HWID_BYTES) {
        return DH_INIT_BAD_HARDWARE_ID;
    }
    load_stored(dev);
    return DH_INIT_OK;
}
