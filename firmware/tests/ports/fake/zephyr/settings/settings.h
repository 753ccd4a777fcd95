/* SPDX-License-Identifier: MIT */
/*
 * zephyr/settings/settings.h - a fake of Zephyr's settings API for host tests: the calls the
 * port makes, with the documented semantics (fake_zephyr_settings.c says which).
 */
#ifndef ZEPHYR_SETTINGS_H
#define ZEPHYR_SETTINGS_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef ssize_t (*settings_read_cb)(void *cb_arg, void *data, size_t len);
typedef int (*settings_load_direct_cb)(const char *key, size_t len, settings_read_cb read_cb,
                                       void *cb_arg, void *param);

int settings_subsys_init(void);
int settings_save_one(const char *name, const void *value, size_t val_len);
int settings_delete(const char *name);
int settings_load_subtree_direct(const char *subtree, settings_load_direct_cb cb, void *param);

/* Test control: erase the storage; the power came back; at most this many bytes of records
 * fit (-ENOSPC beyond). */
void fake_settings_erase_all(void);
void fake_settings_reboot(void);
void fake_settings_set_capacity(size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
