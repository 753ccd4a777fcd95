/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_preferences.h - the storage port on the ESP32 Arduino core's Preferences library.
 * Link with ports/kv_ab/dh_kv_ab.c (the RAM scratch and the A/B order: dh_kv_ab.h).
 *
 * Keys in the Preferences namespace "dh": bytes "cfg_a" and "cfg_b", selector "cfg_sel"
 * (putUChar, 0 or 1).
 *
 * WHY EACH CALL IS ATOMIC: Preferences is a thin layer over ESP-IDF NVS (arduino-esp32,
 * libraries/Preferences): putBytes() is nvs_set_blob() then nvs_commit(), putUChar() is
 * nvs_set_u8() then nvs_commit(), and each returns the length written, or 0 if either call
 * failed. So each call has NVS's guarantee (ports/esp_idf_nvs/dh_kv_nvs.h): a power cut leaves
 * the key's old value or its new one. The selector is the commit point. Preferences does not
 * tell "no room" from other failures: both are DH_STORE_FAILED (STORAGE_FAILED).
 *
 * ESP8266 AND OTHER "EEPROM" BOARDS: this port is for the ESP32's Preferences. The ESP8266
 * Arduino core has no Preferences, and its EEPROM library keeps the whole emulated EEPROM in
 * ONE flash sector: EEPROM.commit() erases that sector and writes it again, so a power cut
 * between the erase and the end of the write loses BOTH A/B slots at once, whatever order the
 * port writes them in. (The RP2040 Arduino core's EEPROM works the same way.) On such boards
 * put the slots in two different sectors, or in a file system that writes a new file and
 * renames it (LittleFS), never behind EEPROM.commit().
 *
 * NOT BUILT FOR A CHIP: the arduino-esp32 core cannot be fetched where this was written. It is
 * written against the documented Preferences API and tested on the host against a fake
 * Preferences class built on the fake NVS (firmware/tests/ports/), with power cut at every
 * NVS call of a commit and every failure return.
 */
#ifndef DH_KV_PREFERENCES_H
#define DH_KV_PREFERENCES_H

#include "dh_kv_ab.h"

#define DH_PREFERENCES_NAMESPACE "dh"

/* After boot: opens the "dh" namespace read-write and loads the committed blob. False if
 * Preferences.begin() failed (the unit then starts unprovisioned and COMMIT fails). */
bool dh_kv_preferences_begin(struct dh_kv_ab *s);

#endif /* DH_KV_PREFERENCES_H */
