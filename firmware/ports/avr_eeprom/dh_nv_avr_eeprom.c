/* SPDX-License-Identifier: MIT */
/*
 * dh_nv_avr_eeprom.c - the storage port in an AVR's internal EEPROM, A/B slots with a commit
 * marker written last. The layout, the write order and the argument that a power cut leaves
 * the old config or the new one are in dh_nv_avr_eeprom.h.
 */
#include "dh_nv_avr_eeprom.h"

#include <avr/eeprom.h>
#include <string.h>
#include <util/crc16.h>

#include "dh_device.h"

#if 2u * DH_NV_EE_SLOT_SPAN + DH_NV_EE_BASE > E2END + 1u
#error "two DH_NV_EE_SLOT_SPAN slots from DH_NV_EE_BASE do not fit this chip's EEPROM"
#endif
#if DH_NV_EE_CAPACITY > DH_MAX_BLOB_LEN
#error "DH_NV_EE_CAPACITY is over the spec's largest blob"
#endif

#define OFF_MARKER 0u
#define OFF_SEQ 1u
#define OFF_LEN 2u
#define OFF_CRC 4u
#define CRC_INIT 0xFFFFu
#define NO_SLOT 0xFFu

/* The scratch area (spec 7.1's inactive slot) is RAM: the EEPROM is written by COMMIT only. */
static uint8_t scratch[DH_NV_EE_CAPACITY];
static uint8_t current = NO_SLOT; /* newest marked slot, or NO_SLOT */
static uint16_t current_len;      /* 0 when it is missing or fails its CRC */

static uint8_t *ee(uint8_t slot, uint16_t off)
{
    return (uint8_t *)(uintptr_t)(DH_NV_EE_BASE + (uint16_t)slot * DH_NV_EE_SLOT_SPAN + off);
}

static uint8_t marked(uint8_t slot)
{
    return eeprom_read_byte(ee(slot, OFF_MARKER)) == DH_NV_EE_COMMITTED;
}

static uint16_t crc_header(uint8_t seq, uint16_t len)
{
    uint16_t crc = _crc_ccitt_update(CRC_INIT, seq);
    crc = _crc_ccitt_update(crc, (uint8_t)len);
    return _crc_ccitt_update(crc, (uint8_t)(len >> 8));
}

void dh_nv_eeprom_load(void)
{
    uint8_t s0 = marked(0), s1 = marked(1);
    uint16_t len, crc, i;
    current = NO_SLOT;
    current_len = 0;
    if (s0 && s1) {
        int8_t newer = (int8_t)(uint8_t)(eeprom_read_byte(ee(1, OFF_SEQ)) -
                                         eeprom_read_byte(ee(0, OFF_SEQ)));
        current = newer > 0 ? 1u : 0u;
    } else if (s0 || s1) {
        current = s1;
    } else {
        return;
    }
    len = eeprom_read_word((const uint16_t *)ee(current, OFF_LEN));
    if (len == 0u || len > DH_NV_EE_CAPACITY) {
        return;
    }
    crc = crc_header(eeprom_read_byte(ee(current, OFF_SEQ)), len);
    for (i = 0; i < len; i++) {
        crc = _crc_ccitt_update(crc, eeprom_read_byte(ee(current, (uint16_t)(DH_NV_EE_HEADER + i))));
    }
    if (crc == eeprom_read_word((const uint16_t *)ee(current, OFF_CRC))) {
        current_len = len;
    }
}

uint16_t dh_port_stored_len(void *port)
{
    (void)port;
    return current_len;
}

int dh_port_stored_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    (void)port;
    if ((uint32_t)offset + len > current_len) {
        return -1;
    }
    eeprom_read_block(buf, ee(current, (uint16_t)(DH_NV_EE_HEADER + offset)), len);
    return 0;
}

int dh_port_scratch_write(void *port, uint16_t offset, const uint8_t *buf, uint16_t len)
{
    (void)port;
    if ((uint32_t)offset + len > DH_NV_EE_CAPACITY) {
        return -1;
    }
    memcpy(scratch + offset, buf, len);
    return 0;
}

int dh_port_scratch_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    (void)port;
    if ((uint32_t)offset + len > DH_NV_EE_CAPACITY) {
        return -1;
    }
    memcpy(buf, scratch + offset, len);
    return 0;
}

/* Every write is finished before the next one starts (eeprom_update_* poll EEPE first), and
 * the marker is the last: see dh_nv_avr_eeprom.h for why that is atomic. */
int dh_port_commit(void *port, uint16_t len)
{
    uint8_t target = current == NO_SLOT ? 0u : (uint8_t)(current ^ 1u);
    uint8_t seq = current == NO_SLOT ? 1u : (uint8_t)(eeprom_read_byte(ee(current, OFF_SEQ)) + 1u);
    uint16_t crc = crc_header(seq, len);
    uint16_t i;
    (void)port;
    if (len == 0u || len > DH_NV_EE_CAPACITY) {
        return DH_STORE_FULL;
    }
    if (marked(target)) {
        eeprom_update_byte(ee(target, OFF_MARKER), DH_NV_EE_UNMARKED);
    }
    for (i = 0; i < len; i++) {
        crc = _crc_ccitt_update(crc, scratch[i]);
    }
    eeprom_update_block(scratch, ee(target, DH_NV_EE_HEADER), len);
    eeprom_update_byte(ee(target, OFF_SEQ), seq);
    eeprom_update_word((uint16_t *)ee(target, OFF_LEN), len);
    eeprom_update_word((uint16_t *)ee(target, OFF_CRC), crc);
    /* A cell that did not take its value is caught before the commit point: old blob intact. */
    for (i = 0; i < len; i++) {
        if (eeprom_read_byte(ee(target, (uint16_t)(DH_NV_EE_HEADER + i))) != scratch[i]) {
            return DH_STORE_FAILED;
        }
    }
    if (eeprom_read_word((const uint16_t *)ee(target, OFF_CRC)) != crc ||
        eeprom_read_word((const uint16_t *)ee(target, OFF_LEN)) != len ||
        eeprom_read_byte(ee(target, OFF_SEQ)) != seq) {
        return DH_STORE_FAILED;
    }
    eeprom_update_byte(ee(target, OFF_MARKER), DH_NV_EE_COMMITTED); /* the commit point */
    current = target;
    current_len = len;
    return DH_STORE_OK;
}
