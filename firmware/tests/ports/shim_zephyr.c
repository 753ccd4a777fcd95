/* SPDX-License-Identifier: MIT */
/* shim_zephyr.c - test_ports.c's view of the Zephyr settings port and its fake. */
#include <stddef.h>
#include <zephyr/settings/settings.h>

#include "dh_kv_zephyr.h"

void test_port_erase(void);
void test_port_reboot(int keep_uncommitted);
void test_port_boot(struct dh_kv_ab *s);
void test_port_set_capacity(size_t bytes);

const char *const test_port_name = "zephyr settings";

void test_port_erase(void)
{
    fake_settings_erase_all();
}

void test_port_reboot(int keep_uncommitted)
{
    (void)keep_uncommitted; /* settings_save_one() has no separate commit */
    fake_settings_reboot();
}

void test_port_boot(struct dh_kv_ab *s)
{
    (void)settings_subsys_init();
    (void)dh_kv_zephyr_load(s);
}

void test_port_set_capacity(size_t bytes)
{
    fake_settings_set_capacity(bytes);
}
