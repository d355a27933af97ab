/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal contract between the parts of libferry.so.
 *
 *   intercept_sud.c  (+ trampoline_x86_64.S, signals.c)  the mechanism:
 *       arms Syscall User Dispatch, turns each trapped syscall into a call of
 *       cnk_dispatch() in normal context, owns SIGSYS, rt_sigreturn, the
 *       selector byte, signal-handler wrapping, clone with a new stack,
 *       arming new threads and vfork (CLONE_VM|CLONE_VFORK) children.
 *   dispatch.c (+ syscalls.def, policy.c, fdtable.c, forward_*.c)  the policy:
 *       the one dispatcher, the syscall table, forwarded descriptors, the
 *       session with the I/O node.
 *
 * While cnk_dispatch() runs, the thread's selector is ALLOW, so the runtime
 * (and libc, libfabric under it) make real syscalls freely.
 */
#ifndef FERRY_CNK_RUNTIME_H
#define FERRY_CNK_RUNTIME_H

#include <signal.h>
#include <stdint.h>

/* ---- provided by dispatch.c ---- */

/* Read FERRY_IONODE / FERRY_MOUNTS (and the rest of the FERRY_* settings),
 * open the session with the I/O node.  Called once from the library
 * constructor, before interception is armed.  0 or -errno; on failure the
 * runtime prints one line naming the I/O node or the bad setting and the
 * process exits with status 127 (running the program unintercepted would
 * silently write to the wrong place). */
int cnk_dispatch_init(void);

/* The single entry for every intercepted syscall.  Returns what the kernel
 * would: the result, or -errno.  Runs with the application's signal mask. */
long cnk_dispatch(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/* A pseudo syscall number: cnk_dispatch(CNK_NR_VFORK_PREPARE, 0...) runs in
 * the parent, in normal context with its signal mask, just before a
 * CLONE_VM|CLONE_VFORK child is created (vfork, posix_spawn, system).  The
 * child shares the parent's memory but must not use its I/O-node session;
 * what it will need (the offsets of forwarded descriptors it may carry
 * across its exec) is fetched here.  The result is ignored. */
#define CNK_NR_VFORK_PREPARE (-0x5646L)
/* cnk_dispatch(CNK_NR_SPAWN_PREPARE, path, search, 0...) runs in normal
 * context before posix_spawn (spawn.c): when the child will open or run a
 * forwarded path, the session is opened now, for the child to use. */
#define CNK_NR_SPAWN_PREPARE (-0x5350L)

/* Process hooks the mechanism calls around fork-like clones (no new stack)
 * and before execve; the dispatcher decides what they mean. */
void cnk_dispatch_atfork_prepare(void);
void cnk_dispatch_atfork_parent(void);
void cnk_dispatch_atfork_child(void);
/* At exit_group: close the session cleanly. */
void cnk_dispatch_exit(void);

/* ---- provided by intercept_sud.c / signals.c ---- */

/* Arm SUD for the calling thread (selector BLOCK on return to the app). */
int cnk_intercept_arm_thread(void);
/* True once the runtime is active in this process. */
int cnk_intercept_active(void);

/* Syscalls that touch signal state or create processes belong to the
 * mechanism.  The dispatcher's table marks them "mechanism" and passes them
 * here; this returns what the kernel would.  Covers rt_sigaction (wraps the
 * application's handler; SIGSYS stays the runtime's), rt_sigprocmask,
 * rt_sigsuspend, ppoll, pselect6, epoll_pwait(2), signalfd(4),
 * rt_sigtimedwait (SIGSYS is removed from every mask), and fork, vfork and
 * clone/clone3 without a new stack (atfork hooks run, SUD re-armed in the
 * child).  clone with a new stack, clone3 with a stack, vfork, clone(CLONE_VM)
 * and rt_sigreturn never reach the dispatcher: the SIGSYS handler executes
 * them at the call site (a vfork-like one after CNK_NR_VFORK_PREPARE). */
long cnk_mechanism_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

#endif
