/* SPDX-License-Identifier: MIT */
/*
 * Preferences.h - a fake of the arduino-esp32 Preferences class for host tests, with the
 * methods the port calls implemented as arduino-esp32 implements them (on NVS: here the NVS
 * fake): putBytes/putUChar are nvs_set_* then nvs_commit and return the length written or 0;
 * getBytesLength asks nvs_get_blob for the length (0 on any error); getBytes returns 0 if the
 * buffer is too small or the read fails; getUChar returns the default on any error.
 */
#ifndef PREFERENCES_H
#define PREFERENCES_H

#include <stddef.h>
#include <stdint.h>

#include "nvs.h"

class Preferences {
  public:
    bool begin(const char *name, bool readOnly = false, const char *partition_label = NULL);
    void end();
    size_t putUChar(const char *key, uint8_t value);
    size_t putBytes(const char *key, const void *value, size_t len);
    uint8_t getUChar(const char *key, uint8_t defaultValue = 0);
    size_t getBytesLength(const char *key);
    size_t getBytes(const char *key, void *buf, size_t maxLen);

  private:
    nvs_handle_t _handle = 0;
    bool _started = false;
    bool _readOnly = false;
};

/* Test control: the object's RAM is gone with the power (it must begin() again). */
void fake_preferences_reboot(Preferences &p);

#endif
