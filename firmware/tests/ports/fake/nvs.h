/* SPDX-License-Identifier: MIT */
/*
 * nvs.h - a fake of ESP-IDF's NVS API (components/nvs_flash/include/nvs.h) for host tests:
 * the functions the ports call, with the documented semantics (fake_nvs.c says which).
 */
#ifndef NVS_H
#define NVS_H

#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t nvs_handle_t;
typedef enum { NVS_READONLY, NVS_READWRITE } nvs_open_mode_t;
#define NVS_KEY_NAME_MAX_SIZE 16

esp_err_t nvs_open(const char *namespace_name, nvs_open_mode_t open_mode, nvs_handle_t *out_handle);
esp_err_t nvs_set_u8(nvs_handle_t handle, const char *key, uint8_t value);
esp_err_t nvs_get_u8(nvs_handle_t handle, const char *key, uint8_t *out_value);
esp_err_t nvs_set_blob(nvs_handle_t handle, const char *key, const void *value, size_t length);
esp_err_t nvs_get_blob(nvs_handle_t handle, const char *key, void *out_value, size_t *length);
esp_err_t nvs_commit(nvs_handle_t handle);
void nvs_close(nvs_handle_t handle);

/* Test control: the power came back. Items set but not yet committed survive if
 * keep_uncommitted (ESP-IDF writes them at nvs_set_*, but guarantees them only after
 * nvs_commit), open handles are gone. */
void fake_nvs_reboot(int keep_uncommitted);
void fake_nvs_erase_all(void);
/* Test control: the flash holds no more than this many bytes of values (for NOT_ENOUGH_SPACE). */
void fake_nvs_set_capacity(size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
