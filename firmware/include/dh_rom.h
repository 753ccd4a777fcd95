/* SPDX-License-Identifier: MIT */
/*
 * dh_rom.h - constant tables in flash on AVR, plain const elsewhere.
 *
 * On an AVR, `const` data is copied to RAM at boot unless it is marked PROGMEM and read with
 * pgm_read_*; the name tables and SHA-256 constants would otherwise cost about 700 of the
 * ATmega328P's 2048 bytes of RAM. Applications use DH_ROM for the text they pass to dh_log_rom().
 */
#ifndef DH_ROM_H
#define DH_ROM_H

#include <stdint.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define DH_ROM PROGMEM
#define DH_ROM_U8(p) pgm_read_byte(p)
#define DH_ROM_U32(p) pgm_read_dword(p)
#else
#define DH_ROM
#define DH_ROM_U8(p) (*(const uint8_t *)(p))
#define DH_ROM_U32(p) (*(const uint32_t *)(p))
#endif

#endif /* DH_ROM_H */
