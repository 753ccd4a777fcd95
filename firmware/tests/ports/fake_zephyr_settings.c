/* SPDX-License-Identifier: MIT */
/*
 * fake_zephyr_settings.c - Zephyr's settings subsystem for host tests, after its API reference
 * and the behaviour its backends share:
 *   - settings_save_one(name, value, len) stores one record, atomically (a cut record is not
 *     loaded), and returns 0 once it is stored, or a negative errno: the tests inject -ENOSPC
 *     (kind 0) and -EIO (kind 1), nothing stored;
 *   - settings_delete(name) is settings_save_one(name, NULL, 0);
 *   - settings_load_subtree_direct(subtree, cb, param) calls cb for every stored record under
 *     "subtree/" in the order they were written, with the name relative to the subtree; like
 *     the FCB and file backends it delivers older records of a name too (the last one wins;
 *     NVS and ZMS deliver the newest only, a subset of this); a length of 0 is a deletion. The
 *     read callback copies at most len bytes and returns the count; the tests can make a read
 *     fail (-EIO, kind 0 on "settings_read").
 *   - settings_subsys_init() is 0.
 */
#include <zephyr/settings/settings.h>

#include <errno.h>
#include <string.h>

#include "fake_power.h"

#define MAX_RECORDS 64
#define MAX_NAME 64
#define MAX_VALUE 2048

struct record {
    char name[MAX_NAME];
    size_t len;
    unsigned char value[MAX_VALUE];
};

static struct record log_[MAX_RECORDS];
static int count;
static size_t capacity = 16384;

int settings_subsys_init(void)
{
    return 0;
}

static size_t live_bytes(void)
{
    /* What garbage collection would keep: the newest record of each name. */
    size_t n = 0;
    int i, j;
    for (i = 0; i < count; i++) {
        int newest = 1;
        for (j = i + 1; j < count; j++) {
            newest &= strcmp(log_[i].name, log_[j].name) != 0;
        }
        n += newest ? log_[i].len : 0u;
    }
    return n;
}

static void compact(void)
{
    int i, j, out = 0;
    for (i = 0; i < count; i++) {
        int newest = 1;
        for (j = i + 1; j < count; j++) {
            newest &= strcmp(log_[i].name, log_[j].name) != 0;
        }
        if (newest && log_[i].len > 0u) {
            log_[out++] = log_[i];
        }
    }
    count = out;
}

int settings_save_one(const char *name, const void *value, size_t val_len)
{
    static const int errors[] = {-ENOSPC, -EIO};
    unsigned kind = 0;
    enum fake_action act;
    if (name == NULL || strlen(name) >= MAX_NAME || val_len > MAX_VALUE) {
        return -EINVAL;
    }
    act = fake_enter("settings_save_one", &kind);
    if (act == FAKE_CUT_BEFORE) {
        fake_power_lost();
    }
    if (act == FAKE_FAIL) {
        if (kind < sizeof errors / sizeof errors[0]) {
            return errors[kind];
        }
        fake_fail_unused = 1;
    }
    if (live_bytes() + val_len > capacity) {
        return -ENOSPC;
    }
    if (count == MAX_RECORDS) {
        compact();
    }
    strcpy(log_[count].name, name);
    log_[count].len = val_len;
    if (val_len > 0u) {
        memcpy(log_[count].value, value, val_len);
    }
    count++;
    if (act == FAKE_CUT_AFTER) {
        fake_power_lost();
    }
    return 0;
}

int settings_delete(const char *name)
{
    return settings_save_one(name, NULL, 0);
}

struct reader {
    const struct record *r;
};

static ssize_t read_record(void *cb_arg, void *data, size_t len)
{
    const struct reader *rd = (const struct reader *)cb_arg;
    unsigned kind = 0;
    enum fake_action act = fake_enter("settings_read", &kind);
    if (act == FAKE_CUT_BEFORE || act == FAKE_CUT_AFTER) {
        fake_power_lost();
    }
    if (act == FAKE_FAIL) {
        if (kind == 0u) {
            return -EIO;
        }
        fake_fail_unused = 1;
    }
    if (len > rd->r->len) {
        len = rd->r->len;
    }
    memcpy(data, rd->r->value, len);
    return (ssize_t)len;
}

int settings_load_subtree_direct(const char *subtree, settings_load_direct_cb cb, void *param)
{
    size_t n = strlen(subtree);
    int i;
    for (i = 0; i < count; i++) {
        if (strncmp(log_[i].name, subtree, n) == 0 && log_[i].name[n] == '/') {
            struct reader rd = {&log_[i]};
            (void)cb(log_[i].name + n + 1, log_[i].len, read_record, &rd, param);
        }
    }
    return 0;
}

void fake_settings_erase_all(void)
{
    count = 0;
}

void fake_settings_reboot(void)
{
}

void fake_settings_set_capacity(size_t bytes)
{
    capacity = bytes;
}
