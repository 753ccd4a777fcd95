// SPDX-License-Identifier: MIT
//
// DeviceHubUno: an Arduino Uno that a DeviceHub station provisions over its USB serial port.
//
// What it shows (firmware/docs/adopt-arduino.md walks through it):
//   - Serial at 115200 shared by the protocol and the sketch's own log lines (dh_log: a log
//     line can never break a frame);
//   - dh_poll() in loop() next to other work that never blocks for long (a blinking LED and a
//     "sensor" sampled every second), so the 64-byte receive buffer is drained in time;
//   - the config in EEPROM as two slots, each with a sequence byte and its complement written
//     last, so a power cut at any write leaves the old config or the new one;
//   - a factory-mode pin (D7 to GND) read at boot;
//   - the faster wire (BAUD) and the possession proof (PROVE) of protocol 1.1.
//
// Build options (arduino-builder -prefs=build.extra_flags=..., or a #define above the
// includes):
//   DH_EXAMPLE_BAUD=0              no rate switch: the write runs at 115200 (saves 312 B)
//   DH_EXAMPLE_PROVE=0             PROVE not answered (the module links it either way: 10 B)
//   DH_EXAMPLE_EMULATED_EEPROM=1   keep the EEPROM image in .noinit RAM: for qemu-system-avr,
//                                  which models no EEPROM (firmware/arduino/e2e.sh)

#include <Arduino.h>
#include <avr/eeprom.h>
#include <string.h>

#include <dh_device.h>

#ifndef DH_EXAMPLE_BAUD
#define DH_EXAMPLE_BAUD 1
#endif
#ifndef DH_EXAMPLE_PROVE
#define DH_EXAMPLE_PROVE 1
#endif
#ifndef DH_EXAMPLE_EMULATED_EEPROM
#define DH_EXAMPLE_EMULATED_EEPROM 0
#endif

#define FIRMWARE_VERSION "uno-example-" DH_LIB_VERSION

static const uint8_t FACTORY_PIN = 7;      // jumper to GND: factory mode
static const unsigned long SENSOR_PERIOD_MS = 1000;
static const unsigned long BLINK_PERIOD_MS = 500;

// ---- EEPROM layout (1024 bytes on the ATmega328P) ---------------------------------------
//
//   [0, 500)      slot 0: a committed blob or the scratch area
//   [500, 1000)   slot 1
//   [1000, 1008)  slot headers: len (2, little-endian), seq, ~seq; written last
//   [1016, 1024)  hardware id, written per unit by the factory test jig (all 0xFF: unset)
//
// A slot is valid when its ~seq byte is the complement of its seq byte; the valid slot whose
// seq is newer (modulo 256) holds the committed blob, the other is the scratch area. A commit
// writes the new slot's header with seq = committed seq + 1, the ~seq byte last: cut before
// that byte is written, the new slot is invalid and the old one still wins. The library's
// SHA-256 trailer check at boot is the backstop for everything else.
static const uint16_t EE_SIZE = E2END + 1;
static const uint16_t SLOT_BYTES = 500;
static const uint16_t HDR_BASE = 2 * SLOT_BYTES;
static const uint16_t HDR_BYTES = 4;
static const uint16_t HWID_BASE = EE_SIZE - 8;
static const uint8_t HWID_LEN = 8;
// Used when the jig has not written an id: one per build, so units built this way collide.
static const uint8_t DEFAULT_HWID[HWID_LEN] PROGMEM = {0x1E, 0x95, 0x0F, 0xA0, 0x00, 0x00, 0x00, 0x01};

#if DH_EXAMPLE_EMULATED_EEPROM
// qemu-system-avr has no EEPROM: the same layout in RAM that survives a reset; the emulator
// test saves and restores it between power cycles.
uint8_t dh_eeprom_image[E2END + 1] __attribute__((section(".noinit")));
static void ee_read(uint16_t addr, void *buf, uint16_t len) { memcpy(buf, dh_eeprom_image + addr, len); }
static void ee_write(uint16_t addr, const void *buf, uint16_t len) { memcpy(dh_eeprom_image + addr, buf, len); }
#else
static void ee_read(uint16_t addr, void *buf, uint16_t len)
{
    eeprom_read_block(buf, (const void *)(uintptr_t)addr, len);
}
// eeprom_update_block skips bytes that already hold the value: about 3.4 ms a changed byte,
// so a 128-byte STAGE chunk takes about 0.44 s, inside the station's 600 ms STAGE timeout.
static void ee_write(uint16_t addr, const void *buf, uint16_t len)
{
    eeprom_update_block(buf, (void *)(uintptr_t)addr, len);
}
#endif

struct slot_header {
    uint8_t len_lo, len_hi, seq, seq_inv;
};

static struct {
    int8_t active;      // slot holding the committed blob, -1 for none
    uint16_t len;       // its length
    uint8_t seq;        // its sequence number
} store;

static bool header_read(uint8_t slot, struct slot_header *h)
{
    ee_read(HDR_BASE + slot * HDR_BYTES, h, HDR_BYTES);
    return (uint8_t)~h->seq == h->seq_inv && (uint16_t)(h->len_lo | h->len_hi << 8) <= SLOT_BYTES;
}

static void store_load(void)
{
    struct slot_header h[2];
    bool ok0 = header_read(0, &h[0]), ok1 = header_read(1, &h[1]);
    store.active = -1;
    if (ok0 && ok1) {
        store.active = (int8_t)((uint8_t)(h[1].seq - h[0].seq) < 128u ? 1 : 0);
    } else if (ok0 || ok1) {
        store.active = ok0 ? 0 : 1;
    }
    if (store.active >= 0) {
        const struct slot_header &a = h[store.active];
        store.len = (uint16_t)(a.len_lo | a.len_hi << 8);
        store.seq = a.seq;
    } else {
        store.len = 0;
        store.seq = 0;
    }
}

static uint16_t slot_base(int8_t slot) { return (uint16_t)slot * SLOT_BYTES; }
static int8_t scratch_slot(void) { return store.active == 0 ? 1 : 0; }

// ---- The port (firmware/include/dh_device.h) ---------------------------------------------

extern "C" {

int dh_port_read_byte(void *) { return Serial.read(); }  // -1 when nothing is waiting

void dh_port_write_byte(void *, uint8_t b) { Serial.write(b); }

uint8_t dh_port_hardware_id(void *, uint8_t id[DH_MAX_HWID_BYTES])
{
    uint8_t ff = 0xFF, zero = 0;
    ee_read(HWID_BASE, id, HWID_LEN);
    for (uint8_t i = 0; i < HWID_LEN; i++) {
        ff &= id[i];
        zero |= id[i];
    }
    if (ff == 0xFF || zero == 0) {  // erased EEPROM (or an emulator's zeroed RAM): no id yet
        memcpy_P(id, DEFAULT_HWID, HWID_LEN);
    }
    return HWID_LEN;
}

uint16_t dh_port_stored_len(void *) { return store.len; }

int dh_port_stored_read(void *, uint16_t off, uint8_t *buf, uint16_t n)
{
    if (store.active < 0 || (uint32_t)off + n > store.len) {
        return -1;
    }
    ee_read(slot_base(store.active) + off, buf, n);
    return 0;
}

int dh_port_scratch_write(void *, uint16_t off, const uint8_t *buf, uint16_t n)
{
    if ((uint32_t)off + n > SLOT_BYTES) {
        return -1;
    }
    ee_write(slot_base(scratch_slot()) + off, buf, n);
    return 0;
}

int dh_port_scratch_read(void *, uint16_t off, uint8_t *buf, uint16_t n)
{
    if ((uint32_t)off + n > SLOT_BYTES) {
        return -1;
    }
    ee_read(slot_base(scratch_slot()) + off, buf, n);
    return 0;
}

int dh_port_commit(void *, uint16_t len)
{
    if (len > SLOT_BYTES) {
        return DH_STORE_FULL;
    }
    int8_t next = scratch_slot();
    struct slot_header h;
    h.len_lo = (uint8_t)len;
    h.len_hi = (uint8_t)(len >> 8);
    h.seq = (uint8_t)(store.seq + 1u);
    h.seq_inv = (uint8_t)~h.seq;
    // In this order, one byte at a time (eeprom_update_block writes backwards): length, seq,
    // then the complement. Until that last byte is written the new slot is invalid and the
    // old one is still the committed blob.
    uint16_t at = HDR_BASE + (uint16_t)next * HDR_BYTES;
    ee_write(at, &h.len_lo, 1);
    ee_write(at + 1, &h.len_hi, 1);
    ee_write(at + 2, &h.seq, 1);
    ee_write(at + 3, &h.seq_inv, 1);
    store.active = next;
    store.len = len;
    store.seq = h.seq;
    return DH_STORE_OK;
}

}  // extern "C"

// ---- The faster wire (protocol 1.1, spec 10.1) --------------------------------------------

#if DH_EXAMPLE_BAUD
// A 16 MHz Uno makes 250000, 500000 and 1000000 baud exactly (U2X); the station's 921600,
// 460800 and 230400 are 3.5-8.5 % off and refused (firmware/README.md, "Line rates").
static const uint32_t FAST_RATES[] DH_ROM = {1000000UL, 500000UL, 250000UL};

// The reply's last byte must be on the wire before the rate changes. Serial.flush() says so
// with TXC0 on a real Uno, but qemu-system-avr never sets TXC0 again once HardwareSerial has
// cleared it, so flush() would hang there; this waits for the transmit buffer and UDR0 to
// empty, then one character time at 115200 (87 us) for the shift register, on both.
static void set_rate(void *, uint32_t rate)
{
    while (Serial.availableForWrite() < SERIAL_TX_BUFFER_SIZE - 1) {
    }
    while (!(UCSR0A & _BV(UDRE0))) {
    }
    delayMicroseconds(100);
    Serial.begin(rate);
}

static uint32_t clock_ms(void *) { return millis(); }

static const struct dh_baud_port BAUD_PORT = {set_rate, clock_ms, FAST_RATES,
                                              sizeof FAST_RATES / sizeof FAST_RATES[0]};
#endif

// ---- The sketch ----------------------------------------------------------------------------

static dh_device dev;
static bool factory_mode;
static uint32_t announced_generation;
static unsigned long last_sample, last_blink;
static uint16_t samples;

// What the product does besides being provisioned; each step is short, so dh_poll() runs
// every few hundred microseconds (at 115200 baud the 64-byte receive buffer fills in 5.5 ms).
static void other_work(unsigned long now)
{
    if (now - last_blink >= BLINK_PERIOD_MS) {
        last_blink = now;
        digitalWrite(LED_BUILTIN, !digitalRead(LED_BUILTIN));
    }
    if (now - last_sample >= SENSOR_PERIOD_MS) {
        last_sample = now;
        (void)analogRead(A0);
        samples++;
    }
}

static void announce(void)
{
    static const char prefix[] PROGMEM = "[app] provisioned as ";
    char line[sizeof prefix + 40];
    strcpy_P(line, prefix);
    if (dh_config_read(&dev, DH_KEY_DEVICE_ID, line + sizeof prefix - 1,
                       (uint16_t)(sizeof line - (sizeof prefix - 1))) < 0) {
        strcpy_P(line + sizeof prefix - 1, PSTR("(a long device id)"));
    }
    dh_log(&dev, line);  // never a secret: the device id is not one
}

void setup()
{
    Serial.begin(DH_BAUD_DEFAULT);
    pinMode(LED_BUILTIN, OUTPUT);
    pinMode(FACTORY_PIN, INPUT_PULLUP);
    factory_mode = digitalRead(FACTORY_PIN) == LOW;
    store_load();
    if (dh_init(&dev, 0, FIRMWARE_VERSION, SLOT_BYTES) != DH_INIT_OK) {
        for (;;) {
        }
    }
    dh_set_debug(&dev, 1);  // "[dh] STAGE api_key 64 OK": names and lengths, never values
#if DH_EXAMPLE_BAUD
    (void)dh_enable_baud(&dev, &BAUD_PORT);
#endif
#if DH_EXAMPLE_PROVE
    dh_enable_prove(&dev);
#endif
    // Factory mode is where the write gate of protocol 1.1 (GATE) lets the station write
    // without a possession proof; until the module's gate hook is linked here, it is logged.
    dh_log_rom(&dev, factory_mode ? PSTR("[app] " FIRMWARE_VERSION " booting, factory mode")
                                  : PSTR("[app] " FIRMWARE_VERSION " booting"));
    announced_generation = dh_generation(&dev);
    if (dh_provisioned(&dev)) {
        announce();
    }
}

void loop()
{
    dh_poll(&dev);
    if (dh_provisioned(&dev) && dh_generation(&dev) != announced_generation) {
        announced_generation = dh_generation(&dev);
        announce();
        // A real product (re)connects to its broker here, with dh_config_read().
    }
    other_work(millis());
}
