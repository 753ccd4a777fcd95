/* SPDX-License-Identifier: MIT */
/*
 * dh_kv_preferences.cpp - the storage port on ESP32 Arduino Preferences. Why each call is
 * atomic, and the ESP8266 warning: dh_kv_preferences.h.
 */
#include "dh_kv_preferences.h"

#include <Preferences.h>

static const char *const SLOT_KEY[2] = {"cfg_a", "cfg_b"};
static const char SELECTOR_KEY[] = "cfg_sel";

static Preferences prefs;
static bool opened;

bool dh_kv_preferences_begin(struct dh_kv_ab *s)
{
    prefs.end(); /* so a second call opens again */
    opened = prefs.begin(DH_PREFERENCES_NAMESPACE, false);
    dh_kv_ab_load(s);
    return opened;
}

extern "C" int dh_kv_ab_backend_write(struct dh_kv_ab *s, uint8_t slot, uint16_t len)
{
    if (!opened || prefs.putBytes(SLOT_KEY[slot], s->slot[slot], len) != len) {
        return DH_STORE_FAILED;
    }
    return DH_STORE_OK;
}

extern "C" int dh_kv_ab_backend_select(struct dh_kv_ab *s, uint8_t slot)
{
    (void)s;
    if (!opened || prefs.putUChar(SELECTOR_KEY, slot) != 1u) {
        return DH_STORE_FAILED;
    }
    return DH_STORE_OK;
}

extern "C" uint8_t dh_kv_ab_backend_selector(struct dh_kv_ab *s)
{
    (void)s;
    /* getUChar() returns the default for a missing key (and for a failed read). */
    uint8_t sel = opened ? prefs.getUChar(SELECTOR_KEY, DH_KV_AB_NONE) : DH_KV_AB_NONE;
    return sel > 1u ? DH_KV_AB_NONE : sel;
}

extern "C" uint16_t dh_kv_ab_backend_read(struct dh_kv_ab *s, uint8_t slot)
{
    if (!opened) {
        return 0;
    }
    size_t len = prefs.getBytesLength(SLOT_KEY[slot]);
    if (len == 0u || len > DH_KV_AB_CAPACITY ||
        prefs.getBytes(SLOT_KEY[slot], s->slot[slot], sizeof s->slot[slot]) != len) {
        return 0;
    }
    return (uint16_t)len;
}
