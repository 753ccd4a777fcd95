/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_zephyr.c - the storage port on Zephyr settings. Why each call is atomic:
 * dh_kv_zephyr.h.
 */
#include "dh_kv_zephyr.h"

#include <errno.h>
#include <string.h>
#include <zephyr/settings/settings.h>

#define SUBTREE "dh"
static const char *const SLOT_NAME[2] = {SUBTREE "/a", SUBTREE "/b"};
static const char *const SLOT_KEY[2] = {"a", "b"};
#define SELECTOR_NAME SUBTREE "/sel"
#define SELECTOR_KEY "sel"

/* What one load found: the last record of each name. */
struct loaded {
    struct dh_kv_ab *s; /* NULL: the selector only */
    uint16_t len[2];
    uint8_t sel;
};

static int on_record(const char *key, size_t len, settings_read_cb read_cb, void *cb_arg,
                     void *param)
{
    struct loaded *l = (struct loaded *)param;
    uint8_t i;
    if (strcmp(key, SELECTOR_KEY) == 0) {
        uint8_t v = DH_KV_AB_NONE;
        l->sel = len == 1u && read_cb(cb_arg, &v, 1) == 1 ? v : DH_KV_AB_NONE;
        return 0;
    }
    for (i = 0; i < 2u && l->s != NULL; i++) {
        if (strcmp(key, SLOT_KEY[i]) == 0) {
            ssize_t got = len <= DH_KV_AB_CAPACITY && len > 0u
                              ? read_cb(cb_arg, l->s->slot[i], len)
                              : -1;
            l->len[i] = got == (ssize_t)len ? (uint16_t)len : 0u;
        }
    }
    return 0; /* other names under "dh/" are not ours: ignored */
}

static int load(struct dh_kv_ab *s, struct loaded *l)
{
    l->s = s;
    l->len[0] = 0;
    l->len[1] = 0;
    l->sel = DH_KV_AB_NONE;
    return settings_load_subtree_direct(SUBTREE, on_record, l);
}

/* Settings has no read of one name: the backend calls below reload the subtree (at boot,
 * and after a failed selector write). */
static struct loaded last;

int dh_kv_zephyr_load(struct dh_kv_ab *s)
{
    int rc = load(s, &last);
    if (rc != 0) {
        last.sel = DH_KV_AB_NONE;
    }
    dh_kv_ab_load(s);
    return rc;
}

int dh_kv_ab_backend_write(struct dh_kv_ab *s, uint8_t slot, uint16_t len)
{
    int rc = settings_save_one(SLOT_NAME[slot], s->slot[slot], len);
    if (rc == -ENOSPC) {
        return DH_STORE_FULL;
    }
    return rc == 0 ? DH_STORE_OK : DH_STORE_FAILED;
}

int dh_kv_ab_backend_select(struct dh_kv_ab *s, uint8_t slot)
{
    (void)s;
    return settings_save_one(SELECTOR_NAME, &slot, 1) == 0 ? DH_STORE_OK : DH_STORE_FAILED;
}

uint8_t dh_kv_ab_backend_selector(struct dh_kv_ab *s)
{
    /* The selector only: reading the blobs again would overwrite the staged one. */
    struct loaded l;
    (void)s;
    if (load(NULL, &l) != 0) {
        return DH_KV_AB_NONE;
    }
    last.sel = l.sel;
    return l.sel > 1u ? DH_KV_AB_NONE : l.sel;
}

uint16_t dh_kv_ab_backend_read(struct dh_kv_ab *s, uint8_t slot)
{
    (void)s;
    return last.len[slot];
}
