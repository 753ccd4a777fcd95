/* SPDX-License-Identifier: MIT */
/*
 * fake_power.h - what the platform fakes share: counting the storage calls of the code under
 * test, making the n-th one fail with one of its documented errors, or cutting the power at
 * it (before its effect, or after it and before it returns) with a longjmp back to the test.
 */
#ifndef FAKE_POWER_H
#define FAKE_POWER_H

#include <setjmp.h>

#ifdef __cplusplus
extern "C" {
#endif

enum fake_action { FAKE_PROCEED, FAKE_FAIL, FAKE_CUT_BEFORE, FAKE_CUT_AFTER };

extern jmp_buf fake_power_jmp;

/* No fault; counting restarts. */
void fake_faults_clear(void);
/* The call-th storage call from now (1-based) fails with the kind-th error its function
 * documents (a fake whose function documents fewer proceeds and sets fake_fail_unused). */
void fake_fail_at(unsigned call, unsigned kind);
/* The call-th storage call from now loses power, before or after its effect. */
void fake_cut_at(unsigned call, int after);
/* Storage calls counted since fake_faults_clear(). */
unsigned fake_calls(void);
/* For the fakes: what to do with this call; *kind is the error kind for FAKE_FAIL. */
enum fake_action fake_enter(const char *fn, unsigned *kind);
/* For the fakes: the power is gone (longjmp to fake_power_jmp). */
void fake_power_lost(void);

extern int fake_fail_unused;     /* the injected kind was past the function's list */
extern const char *fake_fault_fn; /* the function the last fault hit */

#ifdef __cplusplus
}
#endif

#endif /* FAKE_POWER_H */
