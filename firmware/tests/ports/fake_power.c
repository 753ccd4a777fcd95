/* SPDX-License-Identifier: MIT */
/* fake_power.c - the fault injection the platform fakes share (fake_power.h). */
#include "fake_power.h"

jmp_buf fake_power_jmp;
int fake_fail_unused;
const char *fake_fault_fn;

static unsigned calls, fail_call, fail_kind, cut_call;
static int cut_after;

void fake_faults_clear(void)
{
    calls = 0;
    fail_call = 0;
    cut_call = 0;
    fake_fail_unused = 0;
    fake_fault_fn = "";
}

void fake_fail_at(unsigned call, unsigned kind)
{
    fail_call = call;
    fail_kind = kind;
}

void fake_cut_at(unsigned call, int after)
{
    cut_call = call;
    cut_after = after;
}

unsigned fake_calls(void)
{
    return calls;
}

enum fake_action fake_enter(const char *fn, unsigned *kind)
{
    calls++;
    if (calls == fail_call) {
        fake_fault_fn = fn;
        *kind = fail_kind;
        return FAKE_FAIL;
    }
    if (calls == cut_call) {
        fake_fault_fn = fn;
        return cut_after ? FAKE_CUT_AFTER : FAKE_CUT_BEFORE;
    }
    return FAKE_PROCEED;
}

void fake_power_lost(void)
{
    longjmp(fake_power_jmp, 1);
}
