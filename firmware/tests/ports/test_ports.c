/* SPDX-License-Identifier: MIT */
/*
 * test_ports.c - the key-value storage ports (ports/kv_ab with ports/esp_idf_nvs,
 * ports/arduino_preferences or ports/zephyr_settings) on the host, against fakes of their
 * platform APIs (fake/, fake_*.c): not the real SDKs, which cannot be fetched here.
 *
 * Built once per port (make ports-test). For each one:
 *   - a blank store boots unprovisioned; commits alternate the slots and survive reboots;
 *   - power cut at every storage call of a commit that overwrites the older slot, before the
 *     call's effect and after it, with values set but not committed kept or lost: after the
 *     reboot the store holds the old blob or the new one, byte for byte, never neither;
 *   - every documented failure return of every call of a commit: COMMIT reports OK and the
 *     new blob is there after a reboot, or FULL/FAILED and the old one is, in RAM and after a
 *     reboot;
 *   - a store that is full answers FULL and keeps the old blob; scratch and stored reads are
 *     bounds-checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dh_kv_ab.h"
#include "fake_power.h"

/* What each port's shim (shim_*.c) supplies. */
extern const char *const test_port_name;
void test_port_erase(void);
void test_port_reboot(int keep_uncommitted);
void test_port_boot(struct dh_kv_ab *s);
void test_port_set_capacity(size_t bytes);

static struct dh_kv_ab store;
static unsigned checks, failures;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        checks++;                                                                         \
        if (!(cond)) {                                                                    \
            failures++;                                                                   \
            fprintf(stderr, "%s:%d [%s] ", __FILE__, __LINE__, test_port_name);            \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

#define LEN_A 417u
#define LEN_B 430u
#define LEN_C DH_KV_AB_CAPACITY
static uint8_t blob_a[LEN_A], blob_b[LEN_B], blob_c[LEN_C];

static void fill(uint8_t *b, uint16_t n, uint8_t seed)
{
    uint16_t i;
    for (i = 0; i < n; i++) {
        b[i] = (uint8_t)(seed + i * 7u + (i >> 3));
    }
}

/* Stages like the library: values in pieces, then the start again (headers), then commits. */
static int commit(const uint8_t *b, uint16_t n)
{
    uint16_t off;
    for (off = 16; off < n; off = (uint16_t)(off + 37u)) {
        uint16_t left = (uint16_t)(n - off);
        uint16_t k = left < 37u ? left : 37u;
        if (dh_port_scratch_write(&store, off, b + off, k) != 0) {
            return -1;
        }
    }
    if (dh_port_scratch_write(&store, 0, b, 16) != 0) {
        return -1;
    }
    return dh_port_commit(&store, n);
}

/* 0: holds nothing, 1: holds exactly b, -1: something else. */
static int holds(const uint8_t *b, uint16_t n)
{
    static uint8_t buf[DH_KV_AB_CAPACITY];
    uint16_t len = dh_port_stored_len(&store);
    if (len == 0u) {
        return 0;
    }
    if (len != n || dh_port_stored_read(&store, 0, buf, len) != 0) {
        return -1;
    }
    return memcmp(buf, b, n) == 0 ? 1 : -1;
}

static void reboot(int keep)
{
    test_port_reboot(keep);
    memset(&store, 0xEE, sizeof store); /* RAM is gone */
    test_port_boot(&store);
}

/* A then B committed: B is current, A (older) is in the slot the next commit overwrites. */
static void two_commits(void)
{
    fake_faults_clear();
    test_port_set_capacity(8192);
    test_port_erase();
    reboot(0);
    CHECK(commit(blob_a, LEN_A) == DH_STORE_OK, "commit A");
    CHECK(commit(blob_b, LEN_B) == DH_STORE_OK, "commit B");
    reboot(0);
    CHECK(holds(blob_b, LEN_B) == 1, "B after reboot");
}

static void test_basics(void)
{
    uint8_t one = 0;
    fake_faults_clear();
    test_port_erase();
    reboot(0);
    CHECK(dh_port_stored_len(&store) == 0u, "a blank store is unprovisioned");
    CHECK(dh_port_stored_read(&store, 0, &one, 1) != 0, "nothing to read");
    CHECK(commit(blob_a, LEN_A) == DH_STORE_OK && holds(blob_a, LEN_A) == 1, "A");
    reboot(0);
    CHECK(holds(blob_a, LEN_A) == 1, "A after reboot");
    CHECK(commit(blob_b, LEN_B) == DH_STORE_OK && holds(blob_b, LEN_B) == 1, "B");
    reboot(0);
    CHECK(holds(blob_b, LEN_B) == 1, "B after reboot");
    CHECK(commit(blob_c, LEN_C) == DH_STORE_OK && holds(blob_c, LEN_C) == 1, "C (full size)");
    reboot(0);
    CHECK(holds(blob_c, LEN_C) == 1, "C after reboot");
    CHECK(commit(blob_a, LEN_A) == DH_STORE_OK, "A again");
    reboot(1);
    CHECK(holds(blob_a, LEN_A) == 1, "A again after reboot");
    CHECK(dh_port_stored_read(&store, LEN_A - 1u, &one, 2) != 0, "read past the blob");
    CHECK(dh_port_scratch_write(&store, DH_KV_AB_CAPACITY - 1u, blob_a, 2) != 0,
          "scratch write past the capacity");
    CHECK(dh_port_scratch_read(&store, DH_KV_AB_CAPACITY, &one, 1) != 0,
          "scratch read past the capacity");
    CHECK(dh_port_commit(&store, DH_KV_AB_CAPACITY + 1u) == DH_STORE_FULL, "over capacity");
    CHECK(dh_port_commit(&store, 0) == DH_STORE_FULL, "an empty blob");
    CHECK(holds(blob_a, LEN_A) == 1, "A kept");
}

static void test_full(void)
{
    two_commits();
    test_port_set_capacity(LEN_A + LEN_B + 8u); /* no room for a 1452-byte blob */
    {
        int rc = commit(blob_c, LEN_C);
        CHECK(rc == DH_STORE_FULL || rc == DH_STORE_FAILED, "a full store: rc %d", rc);
    }
    CHECK(holds(blob_b, LEN_B) == 1, "full: B kept in RAM");
    reboot(0);
    CHECK(holds(blob_b, LEN_B) == 1, "full: B kept after reboot");
}

/* Commits C with the power cut armed; 1 if the power was cut (the longjmp lands here). */
static int commit_until_cut(void)
{
    if (setjmp(fake_power_jmp) != 0) {
        return 1;
    }
    (void)commit(blob_c, LEN_C);
    return 0;
}

static void test_power_cuts(void)
{
    unsigned calls, call, old = 0, new_ = 0, neither = 0;
    int after, keep;
    two_commits();
    fake_faults_clear();
    CHECK(commit(blob_c, LEN_C) == DH_STORE_OK, "dry run");
    calls = fake_calls();
    CHECK(calls >= 2u, "a commit makes %u storage calls", calls);
    for (call = 1; call <= calls; call++) {
        for (after = 0; after <= 1; after++) {
            for (keep = 0; keep <= 1; keep++) {
                int h;
                const char *fn;
                two_commits();
                fake_faults_clear();
                fake_cut_at(call, after);
                CHECK(commit_until_cut(), "call %u: no power cut", call);
                fn = fake_fault_fn;
                fake_faults_clear();
                reboot(keep);
                h = holds(blob_b, LEN_B) == 1 ? 1 : holds(blob_c, LEN_C) == 1 ? 2 : 0;
                CHECK(h != 0, "cut at call %u (%s, %s, %s): neither the old nor the new blob",
                      call, fn, after ? "after" : "before",
                      keep ? "uncommitted kept" : "uncommitted lost");
                old += h == 1;
                new_ += h == 2;
                neither += h == 0;
            }
        }
    }
    CHECK(old > 0u && new_ > 0u, "outcomes: %u old, %u new", old, new_);
    printf("%s: power cut at each of %u storage calls of a commit (x before/after x "
           "uncommitted kept/lost = %u cuts): %u old, %u new, %u neither\n",
           test_port_name, calls, calls * 4u, old, new_, neither);
}

static void test_failures(void)
{
    unsigned calls, call, kind, injected = 0;
    const char *fn;
    two_commits();
    fake_faults_clear();
    (void)commit(blob_c, LEN_C);
    calls = fake_calls();
    for (call = 1; call <= calls; call++) {
        for (kind = 0; kind < 3u; kind++) {
            int rc;
            two_commits();
            fake_faults_clear();
            fake_fail_at(call, kind);
            rc = commit(blob_c, LEN_C);
            if (fake_fail_unused) {
                continue;
            }
            fn = fake_fault_fn;
            injected++;
            if (rc == DH_STORE_OK) {
                CHECK(holds(blob_c, LEN_C) == 1, "call %u (%s) kind %u: OK but not C", call,
                      fn, kind);
                fake_faults_clear();
                reboot(0);
                CHECK(holds(blob_c, LEN_C) == 1, "call %u (%s) kind %u: OK, C lost on reboot",
                      call, fn, kind);
            } else {
                CHECK(rc == DH_STORE_FAILED || rc == DH_STORE_FULL, "rc %d", rc);
                CHECK(holds(blob_b, LEN_B) == 1, "call %u (%s) kind %u: failed, B not kept",
                      call, fn, kind);
                fake_faults_clear();
                reboot(0);
                CHECK(holds(blob_b, LEN_B) == 1,
                      "call %u (%s) kind %u: failed, B not there after reboot", call,
                      fn, kind);
                reboot(1);
                CHECK(holds(blob_b, LEN_B) == 1,
                      "call %u (%s) kind %u: failed, but the new blob came back", call,
                      fn, kind);
            }
        }
    }
    printf("%s: %u documented failure returns injected across %u calls of a commit\n",
           test_port_name, injected, calls);
}

int main(void)
{
    fill(blob_a, LEN_A, 1);
    fill(blob_b, LEN_B, 2);
    fill(blob_c, LEN_C, 3);
    test_basics();
    test_full();
    test_power_cuts();
    test_failures();
    printf("%s: %u checks, %u failed\n", test_port_name, checks, failures);
    return failures == 0u ? 0 : 1;
}
