/* SPDX-License-Identifier: MIT */
/* fake_preferences.cpp - Preferences as arduino-esp32 implements it, on the NVS fake. */
#include "Preferences.h"

bool Preferences::begin(const char *name, bool readOnly, const char *partition_label)
{
    (void)partition_label;
    if (_started) {
        return false;
    }
    _readOnly = readOnly;
    if (nvs_open(name, readOnly ? NVS_READONLY : NVS_READWRITE, &_handle) != ESP_OK) {
        return false;
    }
    _started = true;
    return true;
}

void Preferences::end()
{
    if (_started) {
        nvs_close(_handle);
        _started = false;
    }
}

size_t Preferences::putUChar(const char *key, uint8_t value)
{
    if (!_started || !key || _readOnly) {
        return 0;
    }
    if (nvs_set_u8(_handle, key, value) != ESP_OK || nvs_commit(_handle) != ESP_OK) {
        return 0;
    }
    return 1;
}

size_t Preferences::putBytes(const char *key, const void *value, size_t len)
{
    if (!_started || !key || !value || _readOnly || !len) {
        return 0;
    }
    if (nvs_set_blob(_handle, key, value, len) != ESP_OK || nvs_commit(_handle) != ESP_OK) {
        return 0;
    }
    return len;
}

uint8_t Preferences::getUChar(const char *key, uint8_t defaultValue)
{
    uint8_t value = defaultValue;
    if (!_started || !key) {
        return value;
    }
    if (nvs_get_u8(_handle, key, &value) != ESP_OK) {
        return defaultValue;
    }
    return value;
}

size_t Preferences::getBytesLength(const char *key)
{
    size_t len = 0;
    if (!_started || !key || nvs_get_blob(_handle, key, NULL, &len) != ESP_OK) {
        return 0;
    }
    return len;
}

size_t Preferences::getBytes(const char *key, void *buf, size_t maxLen)
{
    size_t len = getBytesLength(key);
    if (!len || !buf || !maxLen) {
        return len;
    }
    if (len > maxLen) {
        return 0;
    }
    if (nvs_get_blob(_handle, key, buf, &len) != ESP_OK) {
        return 0;
    }
    return len;
}

void fake_preferences_reboot(Preferences &p)
{
    p = Preferences();
}
