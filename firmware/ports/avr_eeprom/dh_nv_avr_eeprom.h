/* SPDX-License-Identifier: MIT */
/*
 * dh_nv_avr_eeprom.h - the storage port (dh_port_stored_*, dh_port_scratch_*, dh_port_commit)
 * in an AVR's internal EEPROM: two slots, each with a header, and a commit marker written last.
 *
 * LAYOUT (from DH_NV_EE_BASE, default 0; two slots of DH_NV_EE_SLOT_SPAN bytes, default 512,
 * so the pair fills an ATmega328P's 1 KB):
 *
 *   slot + 0   marker   DH_NV_EE_COMMITTED (0xC3) once the slot is complete, anything else: not
 *   slot + 1   seq      sequence number of the commit (8 bits, wraps; newer = seq - other > 0)
 *   slot + 2   len      blob length, little-endian u16 (1..DH_NV_EE_CAPACITY)
 *   slot + 4   crc      CRC-16/CCITT (avr-libc _crc_ccitt_update, init 0xFFFF) over seq, len, blob
 *   slot + 6   blob     the stored form of spec 7.4 (canonical encoding + SHA-256)
 *
 * THE SCRATCH AREA IS RAM: STAGE writes into a DH_NV_EE_CAPACITY-byte buffer, never into the
 * EEPROM, so the EEPROM sees no random rewrites while a session runs and only COMMIT writes it
 * (in order, once per byte that changes). A session cut short leaves the EEPROM untouched.
 *
 * COMMIT, into the slot that is not the current one (the "target"), with eeprom_update_byte
 * (a byte already holding its value is not written), each write finished before the next starts:
 *
 *   1. if the target's marker reads COMMITTED: marker := 0x00 (it stops being a committed
 *      slot; a blank or unmarked target is not touched, so a torn write here can only ever
 *      be on a slot that holds a complete older config)
 *   2. target blob, then seq (current seq + 1), len, crc
 *   3. target marker := DH_NV_EE_COMMITTED  (the commit point)
 *
 * BOOT picks the slot whose marker is DH_NV_EE_COMMITTED and whose seq is newer (the "current"
 * slot; the target of the next commit is the other one); if its len is
 * out of range or its CRC fails, the unit is UNPROVISIONED (it does not fall back to the other
 * slot: that holds the previous generation, which the server stops accepting once the new one
 * is synced; firmware/README.md, note 6). No marked slot: unprovisioned.
 *
 * WHY A POWER CUT ANYWHERE LEAVES THE OLD CONFIG OR THE NEW ONE, NEVER NEITHER:
 *   - Before step 3 starts, the target is not marked (step 1 unmarked it, or it never was), or,
 *     if step 1 itself was cut and the torn marker still reads COMMITTED, the target still
 *     holds its own complete older config with seq = current - 1 (step 1 runs only on a
 *     marked slot): either way boot picks the current slot, which no step writes.
 *     -> the OLD config.
 *   - Step 3 is one byte. The AVR writes EEPROM bytes one at a time and a byte write starts only
 *     after the previous one completed (EEPE polled), so if the marker reads COMMITTED at all,
 *     steps 1-2 are complete: blob, seq, len and CRC are the new ones and seq is newer.
 *     -> the NEW config. If the cut tears the marker into any other value -> the OLD config.
 *   - The CRC is the backstop for what no write order covers (a cell that lost its charge);
 *     the library's SHA-256 check in dh_init() is a second one.
 *   Caveat: a byte write cut at the wrong instant may leave a weakly programmed cell that reads
 *   differently on later boots (Microchip's application notes recommend brown-out detection,
 *   BODLEVEL 2.7 V or 4.3 V, so writes are not started on a collapsing supply). Enable BOD.
 *
 * COST: DH_NV_EE_CAPACITY bytes of RAM for the scratch buffer plus 3, no EEPROM wear outside
 * COMMIT; a commit writes only the bytes that differ from what the target held (with a station's
 * re-flash that is the password, api key, generation and digest, and the header).
 *
 * The sequence and the marker were checked under simavr, which models the EEPROM, with power
 * cut at every EEPROM byte write of a commit (tests/firmware_eeprom.rs, firmware/sim/).
 */
#ifndef DH_NV_AVR_EEPROM_H
#define DH_NV_AVR_EEPROM_H

#include <stdint.h>

#ifndef DH_NV_EE_BASE
#define DH_NV_EE_BASE 0u
#endif
#ifndef DH_NV_EE_SLOT_SPAN
#define DH_NV_EE_SLOT_SPAN 512u
#endif

#define DH_NV_EE_HEADER 6u
#define DH_NV_EE_CAPACITY (DH_NV_EE_SLOT_SPAN - DH_NV_EE_HEADER)
#define DH_NV_EE_COMMITTED 0xC3u
#define DH_NV_EE_UNMARKED 0x00u

/* The capacity to pass to dh_init() (the example firmware's NV_SLOT_BYTES). */
#define NV_SLOT_BYTES DH_NV_EE_CAPACITY

#ifdef __cplusplus
extern "C" {
#endif

/* Reads both headers and picks the committed slot (call once, before dh_init()). */
void dh_nv_eeprom_load(void);

#ifdef __cplusplus
}
#endif

#endif /* DH_NV_AVR_EEPROM_H */
