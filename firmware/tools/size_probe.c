/* SPDX-License-Identifier: MIT */
/*
 * size_probe.c - the smallest application that links the library, for measuring what the
 * library alone costs on an ATmega328P per build option (tools/sizes.sh, `make sizes`).
 *
 *   PROBE_LIB=0    no dh_* call at all: the baseline (C runtime, vectors) that is subtracted
 *   PROBE_BAUD=1   calls dh_enable_baud() (protocol 1.1 BAUD)
 *   PROBE_PROVE=1  calls dh_enable_prove() (protocol 1.1 PROVE)
 * Every variant with the library calls dh_init(), dh_poll() and dh_config_read().
 *
 * The port does nothing (no UART, no storage): what is measured is the library's code and
 * data, not a port's. volatile sinks keep the calls from being optimised away.
 */
#include <stdint.h>

#include "dh_device.h"

#ifndef PROBE_LIB
#define PROBE_LIB 1
#endif
#ifndef PROBE_BAUD
#define PROBE_BAUD 0
#endif
#ifndef PROBE_PROVE
#define PROBE_PROVE 0
#endif

volatile int probe_sink;

#if PROBE_LIB
static dh_device dev;

int dh_port_read_byte(void *port) { (void)port; return probe_sink; }
void dh_port_write_byte(void *port, uint8_t byte) { (void)port; probe_sink = byte; }
uint8_t dh_port_hardware_id(void *port, uint8_t id[DH_MAX_HWID_BYTES]) { (void)port; id[0] = 1; return 1; }
uint16_t dh_port_stored_len(void *port) { (void)port; return (uint16_t)probe_sink; }
int dh_port_stored_read(void *port, uint16_t off, uint8_t *buf, uint16_t len)
{
    (void)port; (void)off; buf[0] = (uint8_t)len; return probe_sink;
}
int dh_port_scratch_write(void *port, uint16_t off, const uint8_t *buf, uint16_t len)
{
    (void)port; probe_sink = off + buf[0] + len; return probe_sink;
}
int dh_port_scratch_read(void *port, uint16_t off, uint8_t *buf, uint16_t len)
{
    (void)port; buf[0] = (uint8_t)(off + len); return probe_sink;
}
int dh_port_commit(void *port, uint16_t len) { (void)port; return probe_sink + len; }

#if PROBE_BAUD
static void set_rate(void *port, uint32_t rate) { (void)port; probe_sink = (int)rate; }
static uint32_t millis(void *port) { (void)port; return (uint32_t)probe_sink; }
static const uint32_t RATES[] DH_ROM = {1000000UL};
static const struct dh_baud_port BAUD_PORT = {set_rate, millis, RATES, 1};
#endif
#endif

int main(void)
{
#if PROBE_LIB
    (void)dh_init(&dev, 0, "probe-1", 512);
#if PROBE_BAUD
    (void)dh_enable_baud(&dev, &BAUD_PORT);
#endif
#if PROBE_PROVE
    dh_enable_prove(&dev);
#endif
    for (;;) {
        char host[DH_MAX_BROKER_HOST_LEN + 1];
        dh_poll(&dev);
        probe_sink = dh_config_read(&dev, DH_KEY_BROKER_HOST, host, sizeof host); /* every app reads its config */
    }
#else
    for (;;) {
        probe_sink++;
    }
#endif
}
