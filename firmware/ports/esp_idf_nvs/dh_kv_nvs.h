/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_nvs.h - the storage port on ESP-IDF's NVS (nvs_flash), for the ESP32 family.
 * Link with ports/kv_ab/dh_kv_ab.c (the RAM scratch and the A/B order: dh_kv_ab.h).
 *
 * Keys, in namespace DH_NVS_NAMESPACE ("dh"): blobs "cfg_a" and "cfg_b", selector "cfg_sel"
 * (a u8, 0 or 1). Each backend call is one nvs_set_* followed by nvs_commit().
 *
 * WHY EACH CALL IS ATOMIC (ESP-IDF programming guide, "Non-Volatile Storage Library",
 * Internals): NVS is a log in flash pages. Writing a key appends a new entry (for a blob, its
 * data chunks and then the blob index entry), whose state bits go from "empty" to "written"
 * only after its data and CRC32 are in flash; the old entry is marked "erased" only after
 * that. A power cut before the new entry is "written" leaves it ignored at the next
 * nvs_flash_init() (its CRC or state rejects it) and the old value readable; a cut after it
 * leaves two entries for the key, and initialisation keeps the newer and erases the older.
 * A u8 is a single 32-byte entry, the smallest write NVS has; that is the commit point.
 * nvs_commit(): the documentation says changes are not guaranteed to be in flash before it
 * returns ESP_OK, so the selector is written only after the blob's nvs_commit() succeeded.
 *
 * Errors: ESP_ERR_NVS_NOT_ENOUGH_SPACE from nvs_set_blob is DH_STORE_FULL; any other failure
 * of nvs_set_* or nvs_commit is DH_STORE_FAILED, except ESP_ERR_NVS_REMOVE_FAILED, which the
 * API reference documents as "the value was written" (the old entry goes at the next
 * nvs_flash_init()): that is a write, followed by nvs_commit() as usual. Blobs must fit DH_KV_AB_CAPACITY (1452 B:
 * well under NVS's 508,000-byte blob limit and a 4 KB page, so no multi-page chunking).
 *
 * Encrypt NVS (flash encryption and NVS encryption) if the credentials must not be readable
 * from the flash chip.
 *
 * NOT BUILT FOR A CHIP: the ESP-IDF SDK cannot be fetched where this was written. It is
 * written against the documented API (nvs.h) and tested on the host against a fake of that
 * API (firmware/tests/ports/fake_nvs.c) with power cut at every call of a commit and every
 * documented failure return.
 */
#ifndef DH_KV_NVS_H
#define DH_KV_NVS_H

#include "dh_kv_ab.h"
#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DH_NVS_NAMESPACE "dh"

/* After nvs_flash_init(): opens DH_NVS_NAMESPACE read-write and loads the committed blob.
 * Use one struct dh_kv_ab per firmware (the NVS handle is kept in this port). */
esp_err_t dh_kv_nvs_open(struct dh_kv_ab *s);

#ifdef __cplusplus
}
#endif

#endif /* DH_KV_NVS_H */
