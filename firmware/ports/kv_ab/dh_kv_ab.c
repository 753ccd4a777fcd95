/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_ab.c - the shared part of the key-value storage ports: RAM scratch, A/B keys and a
 * selector written last. Why that is atomic: dh_kv_ab.h.
 */
#include "dh_kv_ab.h"

#include <string.h>

static struct dh_kv_ab *store_of(void *port)
{
    return (struct dh_kv_ab *)port;
}

void dh_kv_ab_load(struct dh_kv_ab *s)
{
    uint8_t sel = dh_kv_ab_backend_selector(s);
    s->len[0] = 0;
    s->len[1] = 0;
    s->current = DH_KV_AB_NONE;
    if (sel > 1u) {
        return;
    }
    s->current = sel;
    s->len[sel] = dh_kv_ab_backend_read(s, sel);
}

uint16_t dh_port_stored_len(void *port)
{
    struct dh_kv_ab *s = store_of(port);
    return s->current > 1u ? 0u : s->len[s->current];
}

int dh_port_stored_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct dh_kv_ab *s = store_of(port);
    if ((uint32_t)offset + len > dh_port_stored_len(port)) {
        return -1;
    }
    memcpy(buf, s->slot[s->current] + offset, len);
    return 0;
}

static uint8_t target_of(const struct dh_kv_ab *s)
{
    return s->current > 1u ? 0u : (uint8_t)(s->current ^ 1u);
}

int dh_port_scratch_write(void *port, uint16_t offset, const uint8_t *buf, uint16_t len)
{
    struct dh_kv_ab *s = store_of(port);
    if ((uint32_t)offset + len > DH_KV_AB_CAPACITY) {
        return -1;
    }
    memcpy(s->slot[target_of(s)] + offset, buf, len);
    return 0;
}

int dh_port_scratch_read(void *port, uint16_t offset, uint8_t *buf, uint16_t len)
{
    struct dh_kv_ab *s = store_of(port);
    if ((uint32_t)offset + len > DH_KV_AB_CAPACITY) {
        return -1;
    }
    memcpy(buf, s->slot[target_of(s)] + offset, len);
    return 0;
}

int dh_port_commit(void *port, uint16_t len)
{
    struct dh_kv_ab *s = store_of(port);
    uint8_t target = target_of(s);
    int rc;
    if (len == 0u || len > DH_KV_AB_CAPACITY) {
        return DH_STORE_FULL;
    }
    rc = dh_kv_ab_backend_write(s, target, len);
    if (rc != DH_STORE_OK) {
        return rc; /* the selector still names the current slot */
    }
    if (dh_kv_ab_backend_select(s, target) != DH_STORE_OK) {
        /* The selector may or may not have been written. Make the outcome definite: write the
         * current slot back; if that works the old config stands. Otherwise (or with no
         * current slot to go back to) the outcome is what the store now says. */
        if (s->current <= 1u && dh_kv_ab_backend_select(s, s->current) == DH_STORE_OK) {
            return DH_STORE_FAILED;
        }
        if (dh_kv_ab_backend_selector(s) != target) {
            return DH_STORE_FAILED;
        }
    }
    s->len[target] = len;
    s->current = target;
    return DH_STORE_OK;
}
