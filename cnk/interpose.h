/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast path's third piece: libc symbol interposition of the hot calls
 * (interpose.c), and what it shares with the dispatcher and the trampoline.
 */
#ifndef FERRY_CNK_INTERPOSE_H
#define FERRY_CNK_INTERPOSE_H

#include <stdint.h>

/* dispatch.c: would cnk_dispatch() run this FD-class call natively, as it
 * stands (no argument names a forwarded or runtime descriptor, no
 * profiling)?  1 yes, 0 call cnk_dispatch().  Lock-free, no syscall. */
int cnk_dispatch_runs_local(long nr, const long *a);

/* trampoline_x86_64.S: the syscall, made from the allowed range (no
 * SIGSYS whatever the selector).  The result, or -errno. */
long cnk_allowed_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/* interpose.c, for trampoline_x86_64.S's lean entry: cnk_dispatch_runs_local
 * with the arguments in registers (the trampoline saves only %xmm0-15
 * around it), or 0 where the runtime was built to use wider vector
 * registers. */
int cnk_fast_lean_local(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/* Exported (default visibility) for tests and benchmarks, found with
 * dlsym(RTLD_DEFAULT, "ferry_debug_counter"): "sigsys_traps" (SUD traps
 * seen while the fast path is on), "sites_rewritten", "sites_refused";
 * UINT64_MAX for an unknown name. */
uint64_t ferry_debug_counter(const char *name);

#endif
