/* SPDX-License-Identifier: MIT */
/* shim_nvs.c - test_ports.c's view of the ESP-IDF NVS port and its fake. */
#include <stddef.h>

#include "dh_kv_nvs.h"
#include "nvs.h"

void test_port_erase(void);
void test_port_reboot(int keep_uncommitted);
void test_port_boot(struct dh_kv_ab *s);
void test_port_set_capacity(size_t bytes);

const char *const test_port_name = "esp-idf nvs";

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
    (void)dh_kv_nvs_open(s);
}

void test_port_set_capacity(size_t bytes)
{
    fake_nvs_set_capacity(bytes);
}
