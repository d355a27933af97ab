/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal interface between the mechanism's files (intercept_sud.c,
 * signals.c, init.c) and the stubs in trampoline_x86_64.S.
 */
#ifndef FERRY_CNK_INTERCEPT_H
#define FERRY_CNK_INTERCEPT_H

#include <signal.h>
#include <stdint.h>

/* Not exported by glibc's headers; the kernel's value. */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

/* The kernel's struct sigaction (not glibc's): what rt_sigaction takes. */
struct cnk_kernel_sigaction {
	uintptr_t handler;
	unsigned long flags;
	uintptr_t restorer;
	uint64_t mask;
};

/* ---- trampoline_x86_64.S ---- */
/* [cnk_allowed_start, cnk_allowed_end): the only code SUD lets through
 * whatever the selector says. */
extern const char cnk_allowed_start[], cnk_allowed_end[];
/* mov $rt_sigreturn, %eax; syscall: sa_restorer of every handler. */
extern const char cnk_sigreturn_stub[];
/* syscall with %rax already rt_sigreturn: replays an application's own. */
extern const char cnk_sigreturn_replay[];
/* clone / clone3 with a new stack: syscall, then each side pops its saved
 * %rsi / %rdi and resume address (see struct cnk_clone_frame). */
extern const char cnk_clone_stub[];
extern const char cnk_clone3_stub[];
/* vfork-like: syscall, then each side resumes through the struct
 * cnk_vfork_slot that %r9 points to (the child arms SUD first). */
extern const char cnk_vfork_stub[];
/* Entry from the SIGSYS handler; see the frame layout below. */
extern const char cnk_trampoline[];

/* Vector state save area size and method, set once by cnk_trampoline_setup(). */
extern uint64_t cnk_xsave_size;
extern uint64_t cnk_use_xsave; /* 0: FXSAVE, 1: XSAVE, 2: XSAVEC */
extern uint64_t cnk_xsave_mask; /* EDX:EAX of XSAVE/XRSTOR */

/* Frame the SIGSYS handler leaves for cnk_trampoline (at the new %rsp). */
struct cnk_trap_frame {
	long nr;
	long args[6];
	uintptr_t resume_rip;
	uintptr_t resume_rsp;
	uintptr_t pad;
};

/* The parent's side of a clone at the call site.  The child gets
 * [arm flag][saved_reg][resume_rip] just below its new stack pointer. */
#define CNK_CLONE_CHILD_FRAME 24
struct cnk_clone_frame {
	uintptr_t saved_reg;
	uintptr_t resume_rip;
	uintptr_t resume_rsp;
	uintptr_t nr; /* the syscall (the prepare call may have used %rax) */
	/* clone3: the copy of struct clone_args the kernel reads. */
	uint64_t args_copy[16];
};

/* ---- intercept_sud.c ---- */
void cnk_trampoline_setup(void);
int cnk_sigsys_install(void);
void cnk_intercept_set_active(void);

/* ---- signals.c ---- */
/* Handlers installed before the runtime (an earlier preload, a sanitizer,
 * preinit_array) go behind the wrapper too.  0 or -errno. */
int cnk_signals_adopt_existing(void);
/* Called by the SIGSYS handler for a SIGSYS not raised by SUD (kill, seccomp). */
void cnk_signals_foreign_sigsys(int sig, siginfo_t *info, void *uc);
/* Remove SIGSYS from a kernel sigset (first word). */
static inline void cnk_sigset_strip(uint64_t *set)
{
	*set &= ~(1ULL << (SIGSYS - 1));
}

/* Print "ferry: <msg>" with one write(2) and _exit(127). */
__attribute__((noreturn)) void cnk_die(const char *msg);

#endif
