/* SPDX-License-Identifier: MIT */
/*
 * main.c - example firmware for an ATmega328P (Arduino Uno) provisioned by the station.
 *
 * It owns the board side of the port: USART0 by polling (115200 8N1; QEMU ignores the baud
 * rate, and its interrupt-driven receive path loses bytes), the chip id, and the config
 * storage as an A/B pair of slots with a one-byte selector. The slots live in .noinit RAM:
 * QEMU emulates no EEPROM, and .noinit survives a soft reset; the end-to-end test saves the
 * region with QMP pmemsave and loads it into the next run. On a real board put the same
 * layout in flash pages or an external EEPROM (see firmware/README.md).
 *
 * The test harness may also set dh_fault before the CPU starts, to lose power around COMMIT,
 * and watches dh_halted to power the emulated board off at that moment.
 *
 * The faster wire (spec 10.1): the port's rate switch offers only the rates USART0 can make
 * within 2.5 % from F_CPU with U2X, picked at compile time. At 16 MHz that is 1,000,000,
 * 500,000 and 250,000 baud (exact); the station's 921,600, 460,800 and 230,400 are 8.5 %,
 * 8.5 % and 3.5 % off and are refused with BAD_VALUE (firmware/README.md, integration notes).
 * Its millisecond clock is Timer1 (F_CPU/1024), read by polling.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <stdint.h>
#include <util/delay.h>
#include <string.h>

#include "dh_device.h"

#ifdef DH_NV_EEPROM
/* The EEPROM build (make avr-eeprom): the storage port is ports/avr_eeprom, and power cuts
 * come from the emulator (firmware/sim/dh-simavr), not from dh_fault. */
#include "dh_nv_avr_eeprom.h"
#endif

#ifndef NV_SLOT_BYTES
/* Room for a typical config (about 400 bytes) with margin, and for the two of them plus the
 * library and the stack in 2 KB. Larger configs are refused with STORAGE_FULL. */
#define NV_SLOT_BYTES 640u
#endif

#define FW_VERSION "avr328p-" DH_LIB_VERSION
#define NV_MAGIC "DHNV"
#define STACK_PAINT 0xA5u

#ifndef DH_NV_EEPROM
enum fault { FAULT_NONE, FAULT_BEFORE_COMMIT, FAULT_DURING_COMMIT, FAULT_AFTER_COMMIT };

/* The station reads this image with station_protocol::slot_image (the QEMU tests dump it);
 * crates/station-protocol/tests/avr_example.rs fails if the two layouts part. */
struct nv {
    uint8_t magic[4];  /* NV_MAGIC once formatted */
    uint8_t active;    /* slot holding the committed blob: the atomic switch */
    uint8_t reserved;
    uint16_t len[2];   /* blob length per slot (little-endian), 0 = none */
    uint8_t slot[2][NV_SLOT_BYTES];
};

struct nv dh_nv __attribute__((section(".noinit")));
volatile uint8_t dh_fault __attribute__((section(".noinit")));
volatile uint8_t dh_halted __attribute__((section(".noinit")));

#endif /* !DH_NV_EEPROM */

/* A real 328P has no unique id readable by firmware; production writes one per unit (e.g. in
 * EEPROM or from a DS2401). The example uses the chip signature plus a fixed serial. */
static const uint8_t HWID[8] PROGMEM = {0x1E, 0x95, 0x0F, 0x00, 0x00, 0x00, 0x00, 0x01};

static dh_device dev;
#ifndef DH_NV_EEPROM
static uint8_t fault;
#endif
/* What USART0 runs at; the main loop logs each change (the QEMU test reads the revert). */
static uint32_t uart_rate = DH_BAUD_DEFAULT;

/* ---- The faster wire's rates (spec 10.1), chosen at compile time from F_CPU. ----------- */

/* UBRR0 for `rate` with U2X0 (8 clocks a bit), rounded to nearest, and the rate it makes. */
#define UBRR_U2X(rate) ((F_CPU + 4UL * (rate)) / (8UL * (rate)) - 1UL)
#define MADE_U2X(rate) (F_CPU / (8UL * (UBRR_U2X(rate) + 1UL)))
/* Within 2.5 %: each side of a link may be off by about that much and still sample every bit
 * of a 10-bit character inside its stop bit's neighbour (the usual +-2 % per side budget). */
#define RATE_OK(rate) (MADE_U2X(rate) * 40UL <= (rate) * 41UL && MADE_U2X(rate) * 40UL >= (rate) * 39UL)
#define FAST_RATE_COUNT (RATE_OK(921600UL) + RATE_OK(460800UL) + RATE_OK(230400UL) + \
                         RATE_OK(1000000UL) + RATE_OK(500000UL) + RATE_OK(250000UL))

#if FAST_RATE_COUNT > 0
/* The station's rates first (spec 10.1 FAST_BAUD_RATES), then the exact ones of a 16 MHz part. */
static const uint32_t FAST_RATES[FAST_RATE_COUNT] PROGMEM = {
#if RATE_OK(921600UL)
    921600UL,
#endif
#if RATE_OK(460800UL)
    460800UL,
#endif
#if RATE_OK(230400UL)
    230400UL,
#endif
#if RATE_OK(1000000UL)
    1000000UL,
#endif
#if RATE_OK(500000UL)
    500000UL,
#endif
#if RATE_OK(250000UL)
    250000UL,
#endif
};
#endif

extern uint8_t __heap_start;

/* ---- Port: UART ------------------------------------------------------------------------ */

static void uart_init(void)
{
    UBRR0H = 0;
    UBRR0L = 16; /* 115200 baud at 16 MHz with U2X: 117,647 baud, +2.1 % */
    UCSR0A = _BV(U2X0);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
}

int dh_port_read_byte(void *port)
{
    (void)port;
    return (UCSR0A & _BV(RXC0)) ? UDR0 : -1;
}

void dh_port_write_byte(void *port, uint8_t byte)
{
    (void)port;
    while (!(UCSR0A & _BV(UDRE0))) {
    }
    UDR0 = byte;
}

/* The reply's last byte must be out before UBRR0 changes (a write to UBRR0 retimes the
 * character in flight). UDRE0 says it has left UDR0 for the shift register; one character time
 * at 115200 (10 bits, 87 us) later it is on the wire. TXC0 would say it exactly, but it must be
 * cleared before each byte without a race, and QEMU sets it on the write itself. */
static void avr_set_rate(void *port, uint32_t rate)
{
    (void)port;
    while (!(UCSR0A & _BV(UDRE0))) {
    }
    _delay_us(100);
    UBRR0 = rate == DH_BAUD_DEFAULT ? 16u : (uint16_t)UBRR_U2X(rate);
    uart_rate = rate;
}

/* Milliseconds from Timer1 (64 us a tick at 16 MHz), extended in software: called at least
 * every 4 s (Timer1's wrap), which dh_poll() in the main loop does while the rate is fast. */
static uint32_t avr_millis(void *port)
{
    static uint16_t last_tcnt, rest_us;
    static uint32_t ms;
    uint16_t now = TCNT1;
    uint32_t us = (uint32_t)(uint16_t)(now - last_tcnt) * (1024000000UL / F_CPU) + rest_us;
    (void)port;
    last_tcnt = now;
    ms += us / 1000u;
    rest_us = (uint16_t)(us % 1000u);
    return ms;
}

#if FAST_RATE_COUNT > 0
static const struct dh_baud_port BAUD_PORT = {avr_set_rate, avr_millis, FAST_RATES,
                                              FAST_RATE_COUNT};
#endif

uint8_t dh_port_hardware_id(void *port, uint8_t id[DH_MAX_HWID_BYTES])
{
    (void)port;
    memcpy_P(id, HWID, sizeof HWID);
    return (uint8_t)sizeof HWID;
}

#ifndef DH_NV_EEPROM
/* ---- Port: storage --------------------------------------------------------------------- */

uint16_t dh_port_stored_len(void *port)
{
    (void)port;
    return dh_nv.len[dh_nv.active];
}

int dh_port_stored_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    (void)port;
    if ((uint32_t)offset + len > dh_nv.len[dh_nv.active]) {
        return -1;
    }
    memcpy(buf, dh_nv.slot[dh_nv.active] + offset, len);
    return 0;
}

int dh_port_scratch_write(void *port, uint16_t offset, const uint8_t *buf, uint16_t len)
{
    (void)port;
    if ((uint32_t)offset + len > NV_SLOT_BYTES) {
        return -1;
    }
    memcpy(dh_nv.slot[dh_nv.active ^ 1u] + offset, buf, len);
    return 0;
}

int dh_port_scratch_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    (void)port;
    if ((uint32_t)offset + len > NV_SLOT_BYTES) {
        return -1;
    }
    memcpy(buf, dh_nv.slot[dh_nv.active ^ 1u] + offset, len);
    return 0;
}

/* The board dies here: no reply, no more output. The test harness sees dh_halted and
 * switches the emulated board off, keeping its RAM as the storage for the next run. */
static void power_loss(void)
{
    cli();
    dh_halted = 1;
    for (;;) {
    }
}

int dh_port_commit(void *port, uint16_t len)
{
    uint8_t next = (uint8_t)(dh_nv.active ^ 1u);
    (void)port;
    if (len > NV_SLOT_BYTES) {
        return DH_STORE_FULL;
    }
    if (fault == FAULT_BEFORE_COMMIT) {
        power_loss();
    }
    dh_nv.len[next] = len;
    if (fault == FAULT_DURING_COMMIT) {
        power_loss(); /* the new slot is complete but not selected: the old config stays */
    }
    dh_nv.active = next; /* one byte: the new blob is committed, or it is not */
    if (fault == FAULT_AFTER_COMMIT) {
        power_loss();
    }
    return DH_STORE_OK;
}

static void nv_format_if_blank(void)
{
    if (memcmp(dh_nv.magic, NV_MAGIC, sizeof dh_nv.magic) != 0 || dh_nv.active > 1u) {
        memset(&dh_nv, 0, sizeof dh_nv);
        memcpy(dh_nv.magic, NV_MAGIC, sizeof dh_nv.magic);
    }
}
#endif /* !DH_NV_EEPROM */

/* ---- Diagnostics ----------------------------------------------------------------------- */

/* Fill the free RAM between the heap start and the stack with a pattern; how much of it is
 * overwritten later is the stack's high-water mark. */
static void paint_stack(void)
{
    uint8_t *p = &__heap_start;
    uint8_t *limit = (uint8_t *)SP - 16;
    while (p < limit) {
        *p++ = STACK_PAINT;
    }
}

static uint16_t stack_untouched(void)
{
    const uint8_t *p = &__heap_start;
    uint16_t n = 0;
    while (*p == STACK_PAINT && p < (const uint8_t *)SP) {
        p++;
        n++;
    }
    return n;
}

static char *append_P(char *dst, const char *src_P)
{
    strcpy_P(dst, src_P);
    return dst + strlen(dst);
}

static char *append_u16(char *dst, uint16_t v)
{
    char digits[6];
    uint8_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        *dst++ = digits[--n];
    }
    *dst = '\0';
    return dst;
}

/* "[app] ... stack peak N B (library M B), free F B": the QEMU test reads these numbers. */
static __attribute__((noinline)) void report(uint16_t main_sp, const char *what_P)
{
    char line[96];
    char *p = line;
    uint16_t untouched = stack_untouched();
    uint16_t lowest = (uint16_t)((uint16_t)&__heap_start + untouched);
    p = append_P(p, what_P);
    p = append_P(p, PSTR(" stack peak "));
    p = append_u16(p, (uint16_t)(RAMEND - lowest));
    p = append_P(p, PSTR(" B (library "));
    p = append_u16(p, (uint16_t)(main_sp - lowest));
    p = append_P(p, PSTR(" B), free "));
    (void)append_u16(p, untouched);
    dh_log(&dev, line);
}

/* "[app] UART at 115200 baud" whenever the rate switch has changed the rate. */
static __attribute__((noinline)) void report_rate(void)
{
    static uint32_t logged = DH_BAUD_DEFAULT;
    char line[32];
    char *p = line;
    if (uart_rate == logged) {
        return;
    }
    logged = uart_rate;
    p = append_P(p, PSTR("[app] UART at "));
    p = append_u16(p, (uint16_t)(logged / 100u));
    (void)append_P(p, PSTR("00 baud"));
    dh_log(&dev, line);
}

/* The application uses its config; only non-secret values ever go to the log. */
static __attribute__((noinline)) void announce(void)
{
    static const char prefix[] PROGMEM = "[app] provisioned as ";
    char line[sizeof prefix + 40];
    strcpy_P(line, prefix);
    if (dh_config_read(&dev, DH_KEY_DEVICE_ID, line + sizeof prefix - 1u,
                       (uint16_t)(sizeof line - (sizeof prefix - 1u))) < 0) {
        strcpy_P(line + sizeof prefix - 1u, PSTR("(a long device id)"));
    }
    dh_log(&dev, line);
}

int main(void)
{
    uint32_t seen_generation;
    int was_provisioned;
    uint16_t main_sp;

#ifdef DH_NV_EEPROM
    paint_stack();
    uart_init();
    dh_nv_eeprom_load();
#else
    fault = dh_fault;
    dh_fault = FAULT_NONE;
    dh_halted = 0;
    paint_stack();
    uart_init();
    nv_format_if_blank();
#endif
    /* Timer1 free-running at F_CPU/1024: its overflow (about 4 s) paces the heartbeat. */
    TCCR1A = 0;
    TCCR1B = _BV(CS12) | _BV(CS10);

    if (dh_init(&dev, 0, FW_VERSION, (uint16_t)NV_SLOT_BYTES) != DH_INIT_OK) {
        for (;;) {
        }
    }
#if FAST_RATE_COUNT > 0
    dh_set_debug(&dev, 1);
    if (dh_enable_baud(&dev, &BAUD_PORT) != DH_INIT_OK) {
        dh_log_rom(&dev, PSTR("[app] rate switch refused: staying a protocol 1.0 unit"));
    }
#else
    dh_set_debug(&dev, 1);
#endif
    /* The possession proof (spec 10.3): HMAC-SHA256 with the SHA-256 already linked for COMMIT,
     * no RAM of its own. */
    dh_enable_prove(&dev);
    dh_log_rom(&dev, PSTR("DeviceHub AVR example " FW_VERSION " booting"));
    was_provisioned = dh_provisioned(&dev);
    seen_generation = dh_generation(&dev);
    main_sp = SP;
    for (;;) {
        dh_poll(&dev);
        if (dh_provisioned(&dev) &&
            (!was_provisioned || dh_generation(&dev) != seen_generation)) {
            was_provisioned = 1;
            seen_generation = dh_generation(&dev);
            announce();
            report(main_sp, PSTR("[app] after commit:"));
        }
        report_rate();
        if (TIFR1 & _BV(TOV1)) {
            TIFR1 = _BV(TOV1);
            report(main_sp, PSTR("[app] alive:"));
        }
    }
}
