/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast path: lazy rewriting of trapped syscall sites (rewrite.c).
 *
 * A site `mov $NR, %eax; syscall` (b8 imm32 0f 05) that traps once is
 * rewritten to `jmp rel32` to a per-site stub, followed by the original
 * `syscall`; the stub enters cnk_fast_entry (trampoline_x86_64.S), which
 * calls cnk_dispatch() like the SIGSYS path does, without a signal.
 */
#ifndef FERRY_CNK_REWRITE_H
#define FERRY_CNK_REWRITE_H

#include <stdint.h>

/* Switch the fast path on (FERRY_FASTPATH, default on); before arming. */
void cnk_rewrite_init(int enabled);
int cnk_rewrite_enabled(void);

/*
 * Called by the SIGSYS handler for a trapped call `nr` whose syscall
 * instruction ends at `resume` (the trapped %rip), before the handler leaves
 * its frames for the trampoline.  Rewrites the site if it qualifies and is
 * not rewritten yet.  Sets the selector ALLOW when it makes syscalls: the
 * caller is about to enter the dispatcher anyway.
 */
void cnk_rewrite_trap(uintptr_t resume, long nr);

/* In a fork child: the patch lock may have been held by a thread that does
 * not exist there. */
void cnk_rewrite_atfork_child(void);

/* Counters, for tests and benchmarks. */
struct cnk_rewrite_stats {
	uint64_t traps;     /* SIGSYS traps seen (any site) */
	uint64_t rewritten; /* sites rewritten */
	uint64_t native;    /* of which straight to the kernel */
	uint64_t refused;   /* sites looked at and left on the SUD path */
};
void cnk_rewrite_get_stats(struct cnk_rewrite_stats *out);

/* Is `resume` (the address after a syscall) a rewritten site? */
int cnk_rewrite_is_site(uintptr_t resume);

/* trampoline_x86_64.S: where a stub jumps (%eax = nr, %rcx = resume):
 * through the trampoline to cnk_dispatch(), or, for a number the
 * dispatcher runs natively always, straight to the kernel from the allowed
 * range. */
extern const char cnk_fast_entry[];
extern const char cnk_fast_native[];

/*
 * Optional, provided by the dispatcher: 1 if it runs syscall `nr` natively
 * whatever its arguments, for the life of the process (no forwarding, no
 * profiling, no bookkeeping).  A site rewritten for such a number then
 * skips the dispatcher and the vector-state save altogether.  Asked once per
 * site, inside the SIGSYS handler: it must be async-signal-safe.  Absent
 * (weak): every rewritten call goes through cnk_dispatch().
 */
int cnk_dispatch_native_always(long nr) __attribute__((weak));

#endif
