/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_zephyr.h - the storage port on Zephyr's settings subsystem (any backend: NVS, ZMS,
 * FCB, file). Link with ports/kv_ab/dh_kv_ab.c (the RAM scratch and the A/B order: dh_kv_ab.h).
 *
 * Names: "dh/a" and "dh/b" (the blobs), "dh/sel" (the selector, one byte, 0 or 1), saved with
 * settings_save_one() and loaded with settings_load_subtree_direct("dh", ...), whose callback
 * gets each name relative to the subtree ("a", "b", "sel"), the value's length and a read
 * callback. A backend may deliver several records of one name in the order they were written
 * (FCB and file do; NVS and ZMS deliver the newest): the last one delivered is the value, so
 * the port keeps the last of each; a length of 0 is a deleted name.
 *
 * WHY EACH CALL IS ATOMIC: settings_save_one() writes one record and returns 0 once it is
 * stored; every backend writes a record so that a cut one is not loaded (NVS and ZMS write the
 * data, then the allocation table entry with its CRC; FCB writes the entry, then its CRC),
 * and the previous record of the name stays until garbage collection copies the newest one.
 * So a cut leaves each name's old value or its new one, and "dh/sel" is the commit point.
 *
 * Value size: the blob is up to DH_KV_AB_CAPACITY (1452) bytes. The NVS and ZMS backends take
 * it if it fits their sector (CONFIG_SETTINGS_NVS_SECTOR_SIZE_MULT x the flash page); check
 * yours, and lower DH_KV_AB_CAPACITY if needed (configs that do not fit get STORAGE_FULL).
 * settings_save_one() returns a negative errno: -ENOSPC is DH_STORE_FULL, any other
 * DH_STORE_FAILED.
 *
 * NOT BUILT FOR A CHIP: Zephyr cannot be fetched where this was written. It is written against
 * the documented settings API (zephyr/settings/settings.h) and tested on the host against a
 * fake of it (firmware/tests/ports/fake_zephyr_settings.c), with power cut at every call of a
 * commit and every failure return.
 */
#ifndef DH_KV_ZEPHYR_H
#define DH_KV_ZEPHYR_H

#include "dh_kv_ab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* After settings_subsys_init(): loads the committed blob. 0, or settings' negative errno. */
int dh_kv_zephyr_load(struct dh_kv_ab *s);

#ifdef __cplusplus
}
#endif

#endif /* DH_KV_ZEPHYR_H */
