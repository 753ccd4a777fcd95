/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_nvs.c - the storage port on ESP-IDF NVS. Why each call is atomic: dh_kv_nvs.h.
 */
#include "dh_kv_nvs.h"

#include "nvs.h"

static const char *const SLOT_KEY[2] = {"cfg_a", "cfg_b"};
#define SELECTOR_KEY "cfg_sel"

static nvs_handle_t handle;
static int opened;

/* After nvs_set_*: ESP_ERR_NVS_REMOVE_FAILED means the new value WAS written (the old entry
 * is removed at the next nvs_flash_init()), so it is committed like a success. */
static esp_err_t written(esp_err_t set_result)
{
    if (set_result != ESP_OK && set_result != ESP_ERR_NVS_REMOVE_FAILED) {
        return set_result;
    }
    return nvs_commit(handle);
}

esp_err_t dh_kv_nvs_open(struct dh_kv_ab *s)
{
    esp_err_t err = nvs_open(DH_NVS_NAMESPACE, NVS_READWRITE, &handle);
    opened = err == ESP_OK;
    dh_kv_ab_load(s); /* without a handle: unprovisioned */
    return err;
}

int dh_kv_ab_backend_write(struct dh_kv_ab *s, uint8_t slot, uint16_t len)
{
    esp_err_t err;
    if (!opened) {
        return DH_STORE_FAILED;
    }
    err = written(nvs_set_blob(handle, SLOT_KEY[slot], s->slot[slot], len));
    if (err == ESP_ERR_NVS_NOT_ENOUGH_SPACE) {
        return DH_STORE_FULL;
    }
    return err == ESP_OK ? DH_STORE_OK : DH_STORE_FAILED;
}

int dh_kv_ab_backend_select(struct dh_kv_ab *s, uint8_t slot)
{
    (void)s;
    if (!opened || written(nvs_set_u8(handle, SELECTOR_KEY, slot)) != ESP_OK) {
        return DH_STORE_FAILED;
    }
    return DH_STORE_OK;
}

uint8_t dh_kv_ab_backend_selector(struct dh_kv_ab *s)
{
    uint8_t sel = DH_KV_AB_NONE;
    (void)s;
    if (!opened || nvs_get_u8(handle, SELECTOR_KEY, &sel) != ESP_OK || sel > 1u) {
        return DH_KV_AB_NONE;
    }
    return sel;
}

uint16_t dh_kv_ab_backend_read(struct dh_kv_ab *s, uint8_t slot)
{
    size_t len = sizeof s->slot[slot];
    /* ESP_ERR_NVS_INVALID_LENGTH if the stored blob is longer than the buffer. */
    if (!opened || nvs_get_blob(handle, SLOT_KEY[slot], s->slot[slot], &len) != ESP_OK ||
        len > DH_KV_AB_CAPACITY) {
        return 0;
    }
    return (uint16_t)len;
}
