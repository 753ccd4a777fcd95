/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_ab.h - the storage port (dh_port_stored_*, dh_port_scratch_*, dh_port_commit) for
 * platforms that keep data in a key-value store on NOR flash: ESP-IDF NVS
 * (ports/esp_idf_nvs), ESP32 Arduino Preferences (ports/arduino_preferences), Zephyr settings
 * (ports/zephyr_settings). This file is the part they share; each platform file supplies the
 * three backend calls below, written against its SDK's documented API, and states in its
 * header why each call is atomic on that platform.
 *
 * THE SCRATCH AREA IS RAM. NOR flash cannot rewrite a byte in place (a page is erased, then
 * written once), and the library assembles a blob with random writes (values first, the key
 * headers and the digest last, out-of-order keys moved). So STAGE writes only into RAM, and
 * the store sees one whole-blob write per COMMIT. RAM: 2 x DH_KV_AB_CAPACITY bytes (the
 * committed blob is kept in RAM too, for READ and PROVE), about 2.9 KB at the default.
 *
 * COMMIT, with "current" the slot the selector names and "target" the other one:
 *   1. backend_write(target, blob)   the whole blob under the target's key, persisted
 *   2. backend_select(target)        the one-byte selector, persisted: the commit point
 * Loading reads the selector and the blob under the key it names; no selector, no such blob or
 * a blob of the wrong size: unprovisioned (the other slot holds the previous generation,
 * which the server stops accepting once the new one is synced; firmware/README.md, note 6).
 *
 * WHY A POWER CUT LEAVES THE OLD CONFIG OR THE NEW ONE: each backend call is atomic on its
 * platform (the platform file says why): a cut in step 1 leaves the target's key old or new,
 * and the selector still names the current slot, which step 1 does not touch -> OLD. A cut in
 * step 2 leaves the selector old (-> OLD) or new, and then step 1 had completed (-> NEW).
 * The key-value store's own replacement of a value is atomic on all three platforms too, so
 * one key would do; the A/B pair makes the argument rest on the smallest write the store has
 * (a one-byte value), and keeps the previous blob readable for a diagnosis.
 *
 * When a backend call reports a failure: a failed blob write leaves the selector alone
 * (DH_STORE_FULL or DH_STORE_FAILED, old config). A failed selector write may or may not have
 * landed (NVS's ESP_ERR_NVS_REMOVE_FAILED means it did; a failed nvs_commit() guarantees
 * nothing either way), so the current slot is written back as the selector: if that works,
 * the old config stands for certain (DH_STORE_FAILED). Only if that fails too is the selector
 * read back, and COMMIT reports what the store says; the station's next contact (HELLO,
 * recover) settles it either way.
 *
 * The application's port struct (the `port` handed to dh_init()) must begin with a
 * struct dh_kv_ab: the storage functions cast `port` to it.
 *
 * Tested on the host only, against fakes of the three APIs (firmware/tests/ports/), with power
 * cut at every call of a commit and every documented failure return: not built for a chip.
 */
#ifndef DH_KV_AB_H
#define DH_KV_AB_H

#include <stdint.h>

#include "dh_device.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DH_KV_AB_CAPACITY
#define DH_KV_AB_CAPACITY DH_MAX_BLOB_LEN
#endif

#define DH_KV_AB_NONE 0xFFu /* no committed slot */

struct dh_kv_ab {
    uint8_t slot[2][DH_KV_AB_CAPACITY];
    uint16_t len[2];
    uint8_t current; /* slot the selector names, or DH_KV_AB_NONE */
};

/* Reads the committed blob into RAM (the platform's open/begin function calls this). */
void dh_kv_ab_load(struct dh_kv_ab *s);

/* ---- What each platform file supplies ---------------------------------------------------- */

/* Stores slot[slot][0..len) under the slot's key, persisted: DH_STORE_OK, DH_STORE_FULL (no
 * room) or DH_STORE_FAILED. */
int dh_kv_ab_backend_write(struct dh_kv_ab *s, uint8_t slot, uint16_t len);
/* Stores the selector (0 or 1), persisted: DH_STORE_OK or DH_STORE_FAILED. */
int dh_kv_ab_backend_select(struct dh_kv_ab *s, uint8_t slot);
/* The selector as stored (0 or 1), or DH_KV_AB_NONE if missing or unreadable. */
uint8_t dh_kv_ab_backend_selector(struct dh_kv_ab *s);
/* Reads the blob under the slot's key into slot[slot]; its length, or 0 if it is missing,
 * unreadable or longer than DH_KV_AB_CAPACITY. */
uint16_t dh_kv_ab_backend_read(struct dh_kv_ab *s, uint8_t slot);

#ifdef __cplusplus
}
#endif

#endif /* DH_KV_AB_H */
