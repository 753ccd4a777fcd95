/* SPDX-License-Identifier: MIT */
/*
 * dh_device.h - the device side of the DeviceHub provisioning protocol, version 1 with the
 * 1.1 faster wire and possession proof (docs/protocol.md, 10.1, 10.3), as a portable C99
 * module.
 *
 * This module owns everything spec section 7 asks of firmware: the resynchronising frame
 * decoder with its CRC check (2.2, 2.3), the handshake (4.1), the write session with staged
 * keys (4.2-4.4), COMMIT's checks in spec order with the SHA-256 digest (4.5), atomic commit
 * through the storage port (7.4), READ of non-secret keys (4.6), PROVE's HMAC over the
 * committed password (10.3, optional: dh_enable_prove()), the reply cache that makes
 * retransmissions idempotent (6.3), and debug output that never breaks a frame (7.5). It
 * mirrors crates/station-protocol/src/device/ byte for byte.
 *
 * No malloc, no recursion, no dependency beyond the C standard library. The application
 * supplies the port: the dh_port_* functions declared below, linked in (no function
 * pointers, which would cost RAM on an AVR). The one optional part of the port, the rate
 * switch of protocol 1.1 (spec 10.1), is a small struct of two function pointers handed to
 * dh_enable_baud(): a port that never calls it links nothing more and stays a 1.0 device.
 *
 * RAM BUDGET (fixed, checked at compile time on AVR, measured by the QEMU test):
 *   - struct dh_device: 241 bytes on AVR (16-bit pointers), 272 on x86-64.
 *     Most of it is the one 198-byte line buffer the spec requires (7.1). The optional rate
 *     switch (spec 10.1) adds 6 of them: a pointer to the application's struct dh_baud_port
 *     and the 32-bit time of the last valid frame or reply; the application's
 *     struct dh_baud_port is 7 more bytes of RAM on AVR, its rate list sits in DH_ROM. The
 *     optional write gate (spec 10.3) is the 2-byte pointer to the application's
 *     write_allowed() callback.
 *     Nothing else is static; staged values never sit in RAM.
 *   - stack: at most DH_STACK_BUDGET bytes below the caller of dh_poll()/dh_feed()/dh_init()
 *     (the peak is COMMIT's hash: a 100-byte SHA-256 context, a 16-byte I/O buffer, the
 *     compression function's working variables).
 *   - staging: values are staged straight into the port's scratch area (the "other" slot of
 *     an A/B pair, spec 7.1), never into RAM. The scratch area and the committed blob each
 *     need up to DH_MAX_BLOB_LEN (1452) bytes; a smaller capacity passed to dh_init() makes
 *     the device answer STORAGE_FULL for configs that do not fit, as the spec allows.
 * With two 640-byte slots in .noinit RAM, the whole ATmega328P example uses 1574 bytes of
 * static RAM and peaks at 292 bytes of stack: 1.8 of its 2 KB (firmware/README.md).
 *
 * Secrets: no function of this module prints or returns a secret value except
 * dh_config_read(), which exists for the application's own use of its credentials.
 */
#ifndef DH_DEVICE_H
#define DH_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "dh_rom.h"
#include "dh_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DH_LIB_VERSION "1.2.0"

/* Peak stack use of any dh_* call, in bytes, on an ATmega328P (avr-gcc 5.4 -Os): measured
 * by stack painting in the QEMU test (290 bytes), which fails if it ever exceeds this. */
#define DH_STACK_BUDGET 320u

/*
 * Small receive buffers (spec 10.2), a build-time option: the largest STAGE frame the device
 * accepts, '@' through '\n'. Below DH_MAX_FRAME_LEN (the default) HELLO lists FRAME<n> and the
 * station sizes its STAGE chunks so every STAGE frame fits; a longer STAGE is BAD_FRAME. Set it
 * to the UART's receive buffer (an Arduino's 64) when the application's loop() may leave
 * dh_poll() uncalled for longer than that buffer takes to fill (64 bytes: 5.5 ms at 115200):
 * a request that fits the buffer waits there whole until the next dh_poll(). COMMIT (88 bytes
 * plus the hardware id's hex digits) is the one request longer than 64; see firmware/README.md
 * ("Draining the UART") for dh_writing(). The line buffer stays DH_MAX_LINE_LEN: COMMIT and
 * PROVE's HMAC need it.
 */
#ifndef DH_RX_FRAME_LEN
#define DH_RX_FRAME_LEN DH_MAX_FRAME_LEN
#endif

/* Return codes of dh_port_commit(). */
#define DH_STORE_OK 0
#define DH_STORE_FULL 1   /* the blob does not fit: STORAGE_FULL */
#define DH_STORE_FAILED 2 /* the write failed, the old blob is intact: STORAGE_FAILED */

/* Return codes of dh_init(). */
#define DH_INIT_OK 0
#define DH_INIT_BAD_FIRMWARE_VERSION 1 /* not 1..32 of [A-Za-z0-9._+-] */
#define DH_INIT_BAD_HARDWARE_ID 2      /* dh_port_hardware_id() gave 0 or more than 16 bytes */
#define DH_INIT_BAD_CAPACITY 3         /* capacity cannot hold even an empty config */
#define DH_INIT_BAD_BAUD 4             /* dh_enable_baud(): a missing hook or a bad rate list */

/* Most rates a struct dh_baud_port may list (besides DH_BAUD_DEFAULT, always accepted). */
#define DH_MAX_BAUD_RATES 8u

/*
 * The optional rate switch (spec 10.1), supplied by the application through dh_enable_baud().
 * It must outlive the device (a static const); on AVR it costs 7 bytes of RAM, `rates` none.
 */
struct dh_baud_port {
    /* Waits until every byte written so far has left the UART (the last stop bit is out: on
     * an AVR, TXC0), then runs the UART at `rate`, one of `rates` or DH_BAUD_DEFAULT. The
     * library calls it only after the last byte of its OK BAUD reply, and for the idle revert. */
    void (*set_rate)(void *port, uint32_t rate);
    /* Milliseconds from any free-running clock; it may wrap (only differences are used). */
    uint32_t (*millis)(void *port);
    /* Rates the UART can run within tolerance, besides DH_BAUD_DEFAULT; in DH_ROM
     * (PROGMEM on AVR). */
    const uint32_t *rates;
    uint8_t rate_count; /* 1..DH_MAX_BAUD_RATES */
};

/* One device. Treat as opaque; sizeof is the library's whole static RAM. */
typedef struct dh_device {
    void *port;                   /* handed to every dh_port_* call */
    const char *firmware_version; /* in RAM, reported by HELLO */
    uint16_t capacity;            /* bytes of scratch and of the committed blob */
    uint16_t staged_mask;         /* bit k: key k+1 staged in this session */
    uint32_t generation;          /* of the committed config */
    uint32_t cache_num;           /* reply cache: staged length, generation or READ offset */
    uint16_t cache_crc;           /* reply cache: CRC of the request it answers */
    uint8_t cache_seq;
    uint8_t cache_cmd;  /* 0: cache empty */
    uint8_t cache_code; /* 0: OK, else the error code */
    uint8_t cache_key;  /* key named in the reply, 0 for none */
    uint8_t flags;
    uint8_t line_len;
    uint8_t staged_len[DH_KEY_COUNT]; /* every key's max_len fits a byte */
    const struct dh_baud_port *baud;  /* NULL: a 1.0 port, BAUD not advertised */
    uint32_t baud_active_ms;          /* last valid frame or reply, for the idle revert */
    int (*write_allowed)(void *port); /* NULL: no write gate, GATE not advertised */
    uint8_t line[DH_MAX_LINE_LEN];
} dh_device;

/*
 * Starts the device: checks the firmware version and hardware id, loads and verifies the
 * committed blob (a blob whose trailing SHA-256 does not match is ignored: the device starts
 * unprovisioned, spec 7.4). `capacity` is the size of the scratch area and of the committed
 * blob slot, at most DH_MAX_BLOB_LEN. `firmware_version` must stay valid.
 */
int dh_init(dh_device *dev, void *port, const char *firmware_version, uint16_t capacity);

/* Hands one received byte to the decoder; a completed request is answered at once, through
 * dh_port_write_byte(), before dh_feed() returns. */
void dh_feed(dh_device *dev, uint8_t byte);

/* Feeds every byte dh_port_read_byte() has waiting, then runs dh_tick(). */
void dh_poll(dh_device *dev);

/*
 * Protocol 1.1's faster wire (spec 10.1), optional: after dh_init(), hand the library the
 * port's rate switch; HELLO then lists BAUD and `BAUD <rate>` is answered. The UART must be
 * at DH_BAUD_DEFAULT when this is called. Returns DH_INIT_OK, or DH_INIT_BAD_BAUD (a NULL
 * hook, no rates or more than DH_MAX_BAUD_RATES, a rate of 0) and the device stays 1.0.
 */
int dh_enable_baud(dh_device *dev, const struct dh_baud_port *baud);

/*
 * Protocol 1.1's possession proof (spec 10.3), optional: after dh_init(), HELLO lists PROVE and
 * `PROVE <nonce>` is answered with HMAC-SHA256 over "DHPROVE1:<device_id>:<nonce>" keyed with
 * the committed mqtt_password, which never leaves the device. It needs nothing from the port
 * and no RAM of its own (the hash runs in the line buffer's spare bytes and on the stack,
 * within DH_STACK_BUDGET). Without this call PROVE is an unknown command, as on a 1.0 device.
 */
void dh_enable_prove(dh_device *dev);

/*
 * Protocol 1.1's write gate (spec 10.3), optional: after dh_init(), HELLO lists GATE. Once a
 * config is committed, BEGIN and COMMIT are answered LOCKED (nothing done) unless
 * write_allowed(port) returns nonzero at that moment: the application's physical-presence
 * signal, such as a factory-mode jumper, a button held at power-up or now, or a test pad. The
 * station cannot unlock a unit by itself (it keeps no secret that could), as with ESP32 secure
 * download mode or nRF APPROTECT. A COMMIT whose generation is not above the committed one is
 * answered STALE_GENERATION, allowed or not. A unit that holds no config accepts its first
 * write. write_allowed must not be NULL; it is called only on BEGIN and COMMIT.
 */
void dh_enable_gate(dh_device *dev, int (*write_allowed)(void *port));

/* Whether a write session is open (BEGIN answered, COMMIT not yet): the few hundred
 * milliseconds in which the station sends COMMIT, the one request longer than 64 bytes. An
 * application built with a small DH_RX_FRAME_LEN calls dh_poll() without pause while this is
 * nonzero (firmware/README.md, "Draining the UART"). */
int dh_writing(const dh_device *dev);

/* Returns the UART to DH_BAUD_DEFAULT once it has been idle for DH_BAUD_IDLE_REVERT_MS at
 * another rate. dh_poll() calls it; an application that only uses dh_feed() calls it from
 * its loop, at least every few milliseconds. Does nothing without dh_enable_baud(). */
void dh_tick(dh_device *dev);

/* Library debug lines after every frame (command, key, length, outcome; never a value). */
void dh_set_debug(dh_device *dev, int on);

/*
 * Prints one debug line on the protocol UART without ever breaking a frame: never in the
 * middle of a reply (the call is dropped if made from inside one), '@' and non-printable
 * bytes replaced so it can never be taken for a frame, and always ended with "\r\n" so the
 * next reply starts on a fresh line (spec 7.5). Never pass a secret.
 */
void dh_log(dh_device *dev, const char *text);
/* The same for text in DH_ROM (PROGMEM on AVR). */
void dh_log_rom(dh_device *dev, const char *rom_text);

/* Whether a config is committed, and its generation. */
int dh_provisioned(const dh_device *dev);
uint32_t dh_generation(const dh_device *dev);

/*
 * Copies the committed value of `key` into buf (NUL-terminated, so buf_len must exceed the
 * value's length by one) for the application's own use (e.g. its MQTT connection). Returns
 * the value's length, or -1 if there is no config or it does not fit.
 */
int dh_config_read(dh_device *dev, enum dh_key key, char *buf, uint16_t buf_len);

/* CRC-16/CCITT-FALSE of spec 2.3 (check value: "123456789" gives 0x29B1). */
uint16_t dh_crc16(const uint8_t *data, size_t len);

/*
 * Whether line[0..len) (a received line without its "\r\n") is a frame per spec 2.2 step 4:
 * marker, upper-case hex seq, single-spaced words, " *" and a CRC that matches. On success
 * sets the seq and the stated CRC. Any input is safe (this is what the fuzzer hammers).
 */
int dh_frame_check(const uint8_t *line, size_t len, uint8_t *seq, uint16_t *crc);

/* ---- The port: the application defines these. ---------------------------------------- */

/* Next received byte (0..255), or -1 if none is waiting. Used by dh_poll() only. */
int dh_port_read_byte(void *port);
/* Sends one byte; may block until the UART takes it. */
void dh_port_write_byte(void *port, uint8_t byte);
/* Writes the chip's unique id (1..16 bytes) into id and returns its length. Never changes. */
uint8_t dh_port_hardware_id(void *port, uint8_t id[DH_MAX_HWID_BYTES]);

/* The committed blob (spec 7.4): its length (0 for none) and random-access reads. */
uint16_t dh_port_stored_len(void *port);
int dh_port_stored_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len);

/* The scratch area where the next blob is assembled (the inactive slot). 0 on success. */
int dh_port_scratch_write(void *port, uint16_t offset, const uint8_t *buf, uint16_t len);
int dh_port_scratch_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len);

/*
 * Makes scratch[0..len) the committed blob, atomically: after a power loss at any instant the
 * port holds the old blob or the new one (flip an A/B selector, rename a file, nvs_set_blob).
 * Returns DH_STORE_OK, DH_STORE_FULL or DH_STORE_FAILED (old blob intact).
 */
int dh_port_commit(void *port, uint16_t len);

#ifdef __cplusplus
}
#endif

#endif /* DH_DEVICE_H */
