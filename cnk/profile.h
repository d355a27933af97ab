/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-syscall profile (FERRY_PROFILE=FILE): count, time and how each call was
 * handled.  The dispatcher calls cnk_profile_record() only when
 * cnk_profile_active is set, so a program run without FERRY_PROFILE pays one
 * predictable branch per call.  FILE's format, %p/%h, fork and exec: see
 * profile.c and docs/ferry-model.1.md (PROFILES).
 */
#ifndef CNK_PROFILE_H
#define CNK_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

enum cnk_profile_how {
	CNK_PROFILE_LOCAL = 0,     /* ran on the compute node */
	CNK_PROFILE_FORWARDED = 1, /* shipped to the I/O node */
};

extern bool cnk_profile_active;

/* Read FERRY_PROFILE; 0 when off or ready, -errno when the file cannot be
 * written (the runtime logs it and runs without a profile). */
int cnk_profile_init(void);
/* Monotonic nanoseconds, from the vDSO (never a syscall). */
uint64_t cnk_profile_now_ns(void);
/* One call of syscall nr that took ns, handled as how.  Lock-free and
 * async-signal-safe: it runs inside the dispatcher. */
void cnk_profile_record(long nr, enum cnk_profile_how how, uint64_t ns);
/* Write the profile (at exit, and before exec replaces the image). */
void cnk_profile_flush(void);

#endif
