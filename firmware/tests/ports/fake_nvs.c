/* SPDX-License-Identifier: MIT */
/*
 * fake_nvs.c - ESP-IDF NVS for host tests, after the API reference (nvs.h) and the
 * programming guide's "Non-Volatile Storage Library":
 *   - keys are at most 15 characters (ESP_ERR_NVS_KEY_TOO_LONG), namespaces likewise; a
 *     namespace opened NVS_READONLY that does not exist is ESP_ERR_NVS_NOT_FOUND; writes
 *     through a read-only handle are ESP_ERR_NVS_READ_ONLY;
 *   - a key has one type; reading it as another type is ESP_ERR_NVS_NOT_FOUND (the lookup is
 *     by type) and writing it as another type replaces it;
 *   - nvs_set_* is atomic per key: after a power cut the key reads its old value or its new
 *     one. A value is guaranteed in flash only after nvs_commit() returned ESP_OK; before that
 *     a power cut may keep it or not (fake_nvs_reboot decides). Reads see it at once;
 *   - nvs_get_blob with out_value NULL gives the length; a buffer shorter than the blob is
 *     ESP_ERR_NVS_INVALID_LENGTH with *length set to the blob's length;
 *   - failures the tests inject (fake_power.h), per function, in this order:
 *       nvs_set_*: ESP_ERR_NVS_NOT_ENOUGH_SPACE (nothing written), ESP_FAIL (the flash write
 *                  failed, nothing written), ESP_ERR_NVS_REMOVE_FAILED (the documented odd
 *                  one: the NEW value was written, the old one not yet removed);
 *       nvs_commit: ESP_FAIL (nothing more is guaranteed);
 *       nvs_get_*:  ESP_FAIL.
 */
#include "nvs.h"

#include <string.h>

#include "fake_power.h"

#define MAX_ITEMS 16
#define MAX_VALUE 2048
#define MAX_HANDLES 4

enum type { T_NONE, T_U8, T_BLOB };

struct item {
    char ns[NVS_KEY_NAME_MAX_SIZE];
    char key[NVS_KEY_NAME_MAX_SIZE];
    enum type type;
    size_t len;
    uint8_t value[MAX_VALUE];
};

static struct item flash[MAX_ITEMS];   /* what is durable */
static struct item pending[MAX_ITEMS]; /* set, not yet committed */
static struct {
    int open;
    int rw;
    char ns[NVS_KEY_NAME_MAX_SIZE];
} handles[MAX_HANDLES + 1];
static size_t capacity = 8192;

static struct item *find(struct item *table, const char *ns, const char *key)
{
    int i;
    for (i = 0; i < MAX_ITEMS; i++) {
        if (table[i].type != T_NONE && strcmp(table[i].ns, ns) == 0 &&
            strcmp(table[i].key, key) == 0) {
            return &table[i];
        }
    }
    return NULL;
}

static struct item *slot_for(struct item *table, const char *ns, const char *key)
{
    struct item *it = find(table, ns, key);
    int i;
    for (i = 0; it == NULL && i < MAX_ITEMS; i++) {
        if (table[i].type == T_NONE) {
            it = &table[i];
        }
    }
    return it;
}

static size_t used_bytes(void)
{
    size_t n = 0;
    int i;
    for (i = 0; i < MAX_ITEMS; i++) {
        const struct item *f = &flash[i];
        if (f->type != T_NONE && find(pending, f->ns, f->key) == NULL) {
            n += f->len;
        }
        if (pending[i].type != T_NONE) {
            n += pending[i].len;
        }
    }
    return n;
}

static int valid(nvs_handle_t h)
{
    return h >= 1u && h <= MAX_HANDLES && handles[h].open;
}

esp_err_t nvs_open(const char *namespace_name, nvs_open_mode_t open_mode, nvs_handle_t *out_handle)
{
    nvs_handle_t h;
    if (namespace_name == NULL || strlen(namespace_name) >= NVS_KEY_NAME_MAX_SIZE) {
        return ESP_ERR_NVS_INVALID_NAME;
    }
    if (open_mode == NVS_READONLY) {
        int i, found = 0;
        for (i = 0; i < MAX_ITEMS; i++) {
            found |= flash[i].type != T_NONE && strcmp(flash[i].ns, namespace_name) == 0;
        }
        if (!found) {
            return ESP_ERR_NVS_NOT_FOUND;
        }
    }
    for (h = 1; h <= MAX_HANDLES; h++) {
        if (!handles[h].open) {
            handles[h].open = 1;
            handles[h].rw = open_mode == NVS_READWRITE;
            strcpy(handles[h].ns, namespace_name);
            *out_handle = h;
            return ESP_OK;
        }
    }
    return ESP_ERR_NVS_NOT_ENOUGH_SPACE;
}

void nvs_close(nvs_handle_t handle)
{
    if (valid(handle)) {
        handles[handle].open = 0;
    }
}

static esp_err_t set(nvs_handle_t h, const char *key, enum type type, const void *v, size_t len)
{
    static const esp_err_t errors[] = {ESP_ERR_NVS_NOT_ENOUGH_SPACE, ESP_FAIL,
                                       ESP_ERR_NVS_REMOVE_FAILED};
    unsigned kind = 0;
    enum fake_action act;
    struct item *it;
    esp_err_t rc = ESP_OK;
    if (!valid(h)) {
        return ESP_ERR_NVS_INVALID_HANDLE;
    }
    if (!handles[h].rw) {
        return ESP_ERR_NVS_READ_ONLY;
    }
    if (key == NULL || strlen(key) >= NVS_KEY_NAME_MAX_SIZE) {
        return ESP_ERR_NVS_KEY_TOO_LONG;
    }
    if (len > MAX_VALUE) {
        return ESP_ERR_NVS_INVALID_LENGTH;
    }
    act = fake_enter(type == T_BLOB ? "nvs_set_blob" : "nvs_set_u8", &kind);
    if (act == FAKE_CUT_BEFORE) {
        fake_power_lost();
    }
    if (act == FAKE_FAIL) {
        if (kind >= sizeof errors / sizeof errors[0]) {
            fake_fail_unused = 1;
        } else if (errors[kind] != ESP_ERR_NVS_REMOVE_FAILED) {
            return errors[kind];
        } else {
            rc = ESP_ERR_NVS_REMOVE_FAILED; /* written all the same */
        }
    }
    {
        const struct item *old = find(pending, handles[h].ns, key);
        if (old == NULL) {
            old = find(flash, handles[h].ns, key);
        }
        if (used_bytes() - (old ? old->len : 0u) + len > capacity) {
            return ESP_ERR_NVS_NOT_ENOUGH_SPACE;
        }
    }
    it = slot_for(pending, handles[h].ns, key);
    if (it == NULL) {
        return ESP_ERR_NVS_NOT_ENOUGH_SPACE;
    }
    strcpy(it->ns, handles[h].ns);
    strcpy(it->key, key);
    it->type = type;
    it->len = len;
    memcpy(it->value, v, len);
    if (rc == ESP_ERR_NVS_REMOVE_FAILED) {
        /* "The value was written however": durable, whatever nvs_commit() does next. */
        struct item *f = slot_for(flash, it->ns, it->key);
        *f = *it;
        it->type = T_NONE;
    }
    if (act == FAKE_CUT_AFTER) {
        fake_power_lost();
    }
    return rc;
}

static esp_err_t get(nvs_handle_t h, const char *key, enum type type, const struct item **out)
{
    unsigned kind = 0;
    const struct item *it;
    enum fake_action act;
    if (!valid(h)) {
        return ESP_ERR_NVS_INVALID_HANDLE;
    }
    act = fake_enter(type == T_BLOB ? "nvs_get_blob" : "nvs_get_u8", &kind);
    if (act == FAKE_CUT_BEFORE || act == FAKE_CUT_AFTER) {
        fake_power_lost();
    }
    if (act == FAKE_FAIL) {
        if (kind == 0u) {
            return ESP_FAIL;
        }
        fake_fail_unused = 1;
    }
    it = find(pending, handles[h].ns, key);
    if (it == NULL) {
        it = find(flash, handles[h].ns, key);
    }
    if (it == NULL || it->type != type) {
        return ESP_ERR_NVS_NOT_FOUND;
    }
    *out = it;
    return ESP_OK;
}

esp_err_t nvs_set_u8(nvs_handle_t handle, const char *key, uint8_t value)
{
    return set(handle, key, T_U8, &value, 1);
}

esp_err_t nvs_get_u8(nvs_handle_t handle, const char *key, uint8_t *out_value)
{
    const struct item *it;
    esp_err_t rc = get(handle, key, T_U8, &it);
    if (rc == ESP_OK) {
        *out_value = it->value[0];
    }
    return rc;
}

esp_err_t nvs_set_blob(nvs_handle_t handle, const char *key, const void *value, size_t length)
{
    return set(handle, key, T_BLOB, value, length);
}

esp_err_t nvs_get_blob(nvs_handle_t handle, const char *key, void *out_value, size_t *length)
{
    const struct item *it;
    esp_err_t rc = get(handle, key, T_BLOB, &it);
    if (rc != ESP_OK) {
        return rc;
    }
    if (out_value == NULL) {
        *length = it->len;
        return ESP_OK;
    }
    if (*length < it->len) {
        *length = it->len;
        return ESP_ERR_NVS_INVALID_LENGTH;
    }
    memcpy(out_value, it->value, it->len);
    *length = it->len;
    return ESP_OK;
}

static void apply_pending(void)
{
    int i;
    for (i = 0; i < MAX_ITEMS; i++) {
        if (pending[i].type != T_NONE) {
            struct item *f = slot_for(flash, pending[i].ns, pending[i].key);
            *f = pending[i];
            pending[i].type = T_NONE;
        }
    }
}

esp_err_t nvs_commit(nvs_handle_t handle)
{
    unsigned kind = 0;
    enum fake_action act;
    if (!valid(handle)) {
        return ESP_ERR_NVS_INVALID_HANDLE;
    }
    act = fake_enter("nvs_commit", &kind);
    if (act == FAKE_CUT_BEFORE) {
        fake_power_lost();
    }
    if (act == FAKE_FAIL) {
        if (kind == 0u) {
            return ESP_FAIL;
        }
        fake_fail_unused = 1;
    }
    apply_pending();
    if (act == FAKE_CUT_AFTER) {
        fake_power_lost();
    }
    return ESP_OK;
}

void fake_nvs_reboot(int keep_uncommitted)
{
    int i;
    if (keep_uncommitted) {
        apply_pending();
    }
    for (i = 0; i < MAX_ITEMS; i++) {
        pending[i].type = T_NONE;
    }
    memset(handles, 0, sizeof handles);
}

void fake_nvs_erase_all(void)
{
    memset(flash, 0, sizeof flash);
    memset(pending, 0, sizeof pending);
    memset(handles, 0, sizeof handles);
}

void fake_nvs_set_capacity(size_t bytes)
{
    capacity = bytes;
}
