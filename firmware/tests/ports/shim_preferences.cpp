/* SPDX-License-Identifier: MIT */
/* shim_preferences.cpp - test_ports.c's view of the Arduino Preferences port and its fake. */
#include <stddef.h>

#include "dh_kv_preferences.h"
#include "nvs.h"

extern "C" {
extern const char *const test_port_name;
const char *const test_port_name = "arduino preferences";
void test_port_erase(void);
void test_port_reboot(int keep_uncommitted);
void test_port_boot(struct dh_kv_ab *s);
void test_port_set_capacity(size_t bytes);
}

void test_port_erase(void)
{
    fake_nvs_erase_all();
}

void test_port_reboot(int keep_uncommitted)
{
    fake_nvs_reboot(keep_uncommitted);
}

void test_port_boot(struct dh_kv_ab *s)
{
    (void)dh_kv_preferences_begin(s);
}

void test_port_set_capacity(size_t bytes)
{
    fake_nvs_set_capacity(bytes);
}
