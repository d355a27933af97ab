/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Syscall User Dispatch: arming, the SIGSYS handler, and the decision of
 * where a trapped syscall runs.
 *
 * The handler never performs the intercepted call itself (signals are
 * blocked there: EINTR, pause() and cancellation would break).  It rewrites
 * the interrupted context so that, once the kernel's rt_sigreturn has put
 * back the application's signal mask, execution continues in
 * cnk_trampoline with the call's number and arguments in a frame on the
 * stack.  Only rt_sigreturn and the clone/vfork calls whose child resumes at
 * the call site are executed there directly, from stubs in the allowed range
 * (for a vfork-like one, after a trip through the trampoline that lets the
 * dispatcher prepare for the child: CNK_NR_VFORK_PREPARE).
 */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "intercept.h"
#include "raw_syscall.h"
#include "rewrite.h"
#include "runtime.h"
#include "thread_block.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#define PR_SYS_DISPATCH_ON 1
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif

__thread struct cnk_thread_block cnk_tb __attribute__((tls_model("initial-exec")));

uint64_t cnk_xsave_size = 512;
uint64_t cnk_use_xsave;
uint64_t cnk_xsave_mask;

static int cnk_active;

/* Bytes left free between cnk_leave_frames' stack pointer and the frames it
 * leaves: its own red zone (128 bytes), with room to spare. */
#define CNK_HANDLER_MARGIN 512

/* AMX tile config and data: left out of the save mask.  Their permission is
 * per process (XFD): XRSTOR of them traps without it, and the runtime's own
 * code never touches tiles, so they survive untouched anyway. */
#define CNK_XFEATURES_UNSAVED ((1ULL << 17) | (1ULL << 18))
#define CNK_XSAVE_LEGACY_AND_HEADER 576

static void cnk_cpuid(unsigned int leaf, unsigned int sub, unsigned int r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

void cnk_trampoline_setup(void)
{
	unsigned int r[4], lo, hi, i;
	uint64_t xcr0, mask, size = CNK_XSAVE_LEGACY_AND_HEADER;

	cnk_cpuid(1, 0, r);
	/* OSXSAVE: the kernel enabled XSAVE and manages XCR0. */
	if (!(r[2] & (1u << 27)))
		return;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = ((uint64_t)hi << 32) | lo;
	mask = xcr0 & ~CNK_XFEATURES_UNSAVED;
	/* Standard (non-compacted) layout: each component at its CPUID offset. */
	for (i = 2; i < 63; i++) {
		if (!(mask & (1ULL << i)))
			continue;
		cnk_cpuid(0xd, i, r);
		if ((uint64_t)r[1] + r[0] > size)
			size = (uint64_t)r[1] + r[0];
	}
	cnk_xsave_size = size;
	cnk_xsave_mask = mask;
	cnk_use_xsave = 1;
	/* XSAVEC skips the components in their initial state (the upper
	 * halves of the vector registers, almost always): the fast path's
	 * biggest cost otherwise.  Its compacted area is never larger than the
	 * standard one (checked). */
	cnk_cpuid(0xd, 1, r);
	if (r[0] & (1u << 1)) {
		uint64_t compact = CNK_XSAVE_LEGACY_AND_HEADER;

		for (i = 2; i < 63; i++) {
			if (!(mask & (1ULL << i)))
				continue;
			cnk_cpuid(0xd, i, r);
			if (r[2] & (1u << 1))
				compact = (compact + 63) & ~63ULL;
			compact += r[0];
		}
		if (compact <= size)
			cnk_use_xsave = 2;
	}
}

int cnk_intercept_active(void)
{
	return __atomic_load_n(&cnk_active, __ATOMIC_ACQUIRE);
}

void cnk_intercept_set_active(void)
{
	__atomic_store_n(&cnk_active, 1, __ATOMIC_RELEASE);
}

int cnk_intercept_arm_thread(void)
{
	long ret;
	uintptr_t start = (uintptr_t)cnk_allowed_start;
	uintptr_t len = (uintptr_t)cnk_allowed_end - start;

	/* The runtime is running (selector ALLOW) until it returns to the
	 * application, which flips the selector to BLOCK. */
	cnk_selector_set(CNK_SELECTOR_ALLOW);
	ret = cnk_raw_syscall6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
			       (long)start, (long)len, (long)&cnk_tb.selector, 0);
	if (ret < 0)
		return (int)ret;
	cnk_tb.armed = 1;
	return 0;
}

/* Return `result` to the application as the syscall's value, from here. */
static void cnk_complete_here(ucontext_t *uc, long result)
{
	uc->uc_mcontext.gregs[REG_RAX] = result;
}

/*
 * An application's signal handler returned through its own restorer (one
 * installed before the runtime, or a hand-made frame): replay rt_sigreturn
 * from the allowed range on the application's frame, whose ucontext sits at
 * the trapped %rsp.  A blocked SIGSYS in that frame would kill the process.
 */
__attribute__((no_sanitize("address"))) static void cnk_replay_sigreturn(ucontext_t *uc)
{
	ucontext_t *app_uc = (ucontext_t *)uc->uc_mcontext.gregs[REG_RSP];

	cnk_sigset_strip((uint64_t *)&app_uc->uc_sigmask);
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)cnk_sigreturn_replay;
}

/*
 * Which clone children the stub arms before they run application code:
 * - a new thread with its own TLS, hence its own thread block (pitfall 4);
 * - a CLONE_VM|CLONE_VFORK child (vfork, posix_spawn, system): it shares
 *   the parent's memory and, without CLONE_SETTLS, its thread block and
 *   selector, which is safe only because the parent stays suspended until
 *   the child execs or exits.  The dispatcher knows such a child by its pid.
 * A CLONE_VM child without CLONE_VFORK or CLONE_THREAD would run
 * concurrently with a parent whose selector it shares: it is left unarmed.
 */
static uintptr_t cnk_clone_arms_child(unsigned long long flags)
{
	const unsigned long long thread = CLONE_VM | CLONE_THREAD | CLONE_SETTLS;

	if ((flags & thread) == thread)
		return 1;
	return (flags & (CLONE_VM | CLONE_VFORK)) == (CLONE_VM | CLONE_VFORK);
}

/* A process sharing our memory while we wait: the dispatcher prepares for it
 * (CNK_NR_VFORK_PREPARE) before it exists. */
static int cnk_clone_is_vfork(unsigned long long flags)
{
	return (flags & (CLONE_VM | CLONE_VFORK | CLONE_THREAD)) == (CLONE_VM | CLONE_VFORK);
}

/*
 * Leave the frames that must outlive the handler -- a copy of `clone_frame`
 * (NULL: none) and, below it when `to_trampoline`, a trap frame for
 * cnk_trampoline -- just below this function's stack pointer (the kernel's signal frame, which
 * rt_sigreturn still has to read, lies between the handler and the
 * application's red zone), and point the context at the lowest.
 *
 * Whatever a function calls after it has put a frame below its stack
 * pointer builds its own frame right there, and how big that is depends on
 * the build (a sanitized -O0 function easily takes 700 bytes; no margin is a
 * bound).  So this is the handler's last call and a leaf on every path that
 * returns: the selector store comes first, the copies are word by word
 * through volatile (no memcpy, which ASan intercepts), and nothing is called
 * once the first word is written.  The margin only has to cover its red zone.
 *
 * The trampoline returns to the context's %rip and %rsp: the application, or
 * the clone stub and its frame (CNK_NR_VFORK_PREPARE).
 */
__attribute__((no_sanitize("address"), noinline)) static void
cnk_leave_frames(ucontext_t *uc, const struct cnk_clone_frame *clone_frame, int to_trampoline,
		 long nr)
{
	greg_t *gregs = uc->uc_mcontext.gregs;
	uintptr_t sp;
	size_t i;

	/* The dispatcher runs as the runtime: its own syscalls are real. */
	if (to_trampoline)
		cnk_selector_set(CNK_SELECTOR_ALLOW);
	__asm__ volatile("movq %%rsp, %0" : "=r"(sp));
	sp -= CNK_HANDLER_MARGIN;
	if (clone_frame != NULL) {
		struct cnk_clone_frame *frame =
			(struct cnk_clone_frame *)((sp - sizeof(*frame)) & ~(uintptr_t)15);
		const volatile uintptr_t *src = (const volatile uintptr_t *)clone_frame;
		volatile uintptr_t *dst = (volatile uintptr_t *)frame;

		for (i = 0; i < sizeof(*frame) / sizeof(uintptr_t); i++)
			dst[i] = src[i];
		/* clone3: the kernel reads the copy kept in the frame. */
		if (clone_frame->nr == SYS_clone3)
			gregs[REG_RDI] = (greg_t)frame->args_copy;
		gregs[REG_RSP] = (greg_t)frame;
		sp = (uintptr_t)frame;
	}
	if (to_trampoline) {
		volatile struct cnk_trap_frame *frame =
			(volatile struct cnk_trap_frame *)((sp - sizeof(*frame)) & ~(uintptr_t)15);

		frame->nr = nr;
		frame->args[0] = gregs[REG_RDI];
		frame->args[1] = gregs[REG_RSI];
		frame->args[2] = gregs[REG_RDX];
		frame->args[3] = gregs[REG_R10];
		frame->args[4] = gregs[REG_R8];
		frame->args[5] = gregs[REG_R9];
		frame->resume_rip = (uintptr_t)gregs[REG_RIP];
		frame->resume_rsp = (uintptr_t)gregs[REG_RSP];
		gregs[REG_RSP] = (greg_t)frame;
		gregs[REG_RIP] = (greg_t)cnk_trampoline;
	}
}

/*
 * clone with a new stack: the child must resume at the call site on its own
 * stack, so the syscall runs from a stub in the allowed range.  The child's
 * [arm flag][saved reg][resume rip] go just below its stack pointer, which
 * the kernel is told is CNK_CLONE_CHILD_FRAME bytes lower; the parent's
 * frame, filled in here, goes below the handler (cnk_leave_frames).
 */
__attribute__((no_sanitize("address"))) static void
cnk_clone_at_call_site(ucontext_t *uc, struct cnk_clone_frame *frame, uintptr_t child_top,
		       uintptr_t saved_reg, uintptr_t arm_child, long nr, const char *stub)
{
	greg_t *gregs = uc->uc_mcontext.gregs;
	volatile uintptr_t *child_frame = (volatile uintptr_t *)(child_top - CNK_CLONE_CHILD_FRAME);

	child_frame[0] = arm_child;
	child_frame[1] = saved_reg;
	child_frame[2] = (uintptr_t)gregs[REG_RIP];
	frame->saved_reg = saved_reg;
	frame->resume_rip = (uintptr_t)gregs[REG_RIP];
	frame->resume_rsp = (uintptr_t)gregs[REG_RSP];
	frame->nr = (uintptr_t)nr;
	gregs[REG_RIP] = (greg_t)stub;
}

/* Raw clone(flags, stack, ptid, ctid, tls) with a stack. */
__attribute__((no_sanitize("address"))) static void cnk_clone_with_stack(ucontext_t *uc)
{
	struct cnk_clone_frame frame;
	greg_t *gregs = uc->uc_mcontext.gregs;
	uintptr_t stack = (uintptr_t)gregs[REG_RSI];
	unsigned long flags = (unsigned long)gregs[REG_RDI];

	cnk_clone_at_call_site(uc, &frame, stack, stack, cnk_clone_arms_child(flags), SYS_clone,
			       cnk_clone_stub);
	gregs[REG_RSI] = (greg_t)(stack - CNK_CLONE_CHILD_FRAME);
	cnk_leave_frames(uc, &frame, cnk_clone_is_vfork(flags), CNK_NR_VFORK_PREPARE);
}

/*
 * clone3(args, size) with a stack: the kernel reads a copy of the arguments
 * with a smaller stack_size, kept in the parent's frame so that nested calls
 * share nothing.
 */
__attribute__((no_sanitize("address"))) static int cnk_clone3_with_stack(ucontext_t *uc)
{
	struct cnk_clone_frame frame;
	greg_t *gregs = uc->uc_mcontext.gregs;
	const volatile uint64_t *args = (const volatile uint64_t *)gregs[REG_RDI];
	const struct clone_args *cl = (const struct clone_args *)gregs[REG_RDI];
	size_t size = (size_t)gregs[REG_RSI];
	volatile uint64_t *copy = frame.args_copy;
	uintptr_t child_top;
	size_t i;

	if (size > sizeof(frame.args_copy) || size % 8 != 0)
		return -E2BIG;
	if (cl->flags & CLONE_CLEAR_SIGHAND)
		return -EINVAL;
	if (cl->stack_size <= CNK_CLONE_CHILD_FRAME)
		return -EINVAL;
	child_top = (uintptr_t)(cl->stack + cl->stack_size);
	/* Word by word through volatile: no memcpy (ASan intercepts it). */
	for (i = 0; i < size / 8; i++)
		copy[i] = args[i];
	for (; i < sizeof(frame.args_copy) / 8; i++)
		copy[i] = 0;
	((struct clone_args *)frame.args_copy)->stack_size -= CNK_CLONE_CHILD_FRAME;
	cnk_clone_at_call_site(uc, &frame, child_top, (uintptr_t)cl, cnk_clone_arms_child(cl->flags),
			       SYS_clone3, cnk_clone3_stub);
	cnk_leave_frames(uc, &frame, cnk_clone_is_vfork(cl->flags), CNK_NR_VFORK_PREPARE);
	return 0;
}

/* vfork and clone(CLONE_VM) without a stack: the child borrows the parent's
 * stack; each side finds its resume address through a slot of the thread
 * block whose address travels in %r9 (pitfall 5; see thread_block.h).  The
 * depth moves on now, so that a signal handler's vfork before the stub runs
 * takes the next slot. */
static void cnk_vfork_at_call_site(ucontext_t *uc, long nr, unsigned long long flags)
{
	greg_t *gregs = uc->uc_mcontext.gregs;
	uintptr_t depth = cnk_tb.vfork_depth;
	struct cnk_vfork_slot *slot;

	if (depth >= CNK_VFORK_MAX) {
		cnk_complete_here(uc, -EAGAIN);
		return;
	}
	slot = &cnk_tb.vfork[depth];
	slot->resume_rip = (uintptr_t)gregs[REG_RIP];
	slot->saved_r9 = (uintptr_t)gregs[REG_R9];
	slot->depth = depth;
	slot->arm = cnk_clone_arms_child(flags);
	slot->nr = (uintptr_t)nr;
	cnk_tb.vfork_depth = depth + 1;
	gregs[REG_R9] = (greg_t)slot;
	gregs[REG_RIP] = (greg_t)cnk_vfork_stub;
	if (cnk_clone_is_vfork(flags))
		cnk_leave_frames(uc, NULL, 1, CNK_NR_VFORK_PREPARE);
}

static void cnk_sigsys_handler(int sig, siginfo_t *info, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *gregs = uc->uc_mcontext.gregs;
	long nr;
	int ret;

	if (info->si_code != SYS_USER_DISPATCH) {
		cnk_signals_foreign_sigsys(sig, info, ucv);
		return;
	}
	nr = info->si_syscall;
	switch (nr) {
	case SYS_rt_sigreturn:
		cnk_replay_sigreturn(uc);
		return;
	case SYS_vfork:
		cnk_vfork_at_call_site(uc, nr, CLONE_VM | CLONE_VFORK);
		return;
	case SYS_clone:
		if ((unsigned long)gregs[REG_RDI] & CLONE_CLEAR_SIGHAND) {
			cnk_complete_here(uc, -EINVAL);
			return;
		}
		if (gregs[REG_RSI] != 0) {
			cnk_clone_with_stack(uc);
			return;
		}
		if ((unsigned long)gregs[REG_RDI] & CLONE_VM) {
			cnk_vfork_at_call_site(uc, nr, (unsigned long)gregs[REG_RDI]);
			return;
		}
		break;
	case SYS_clone3: {
		const struct clone_args *args = (const struct clone_args *)gregs[REG_RDI];
		size_t size = (size_t)gregs[REG_RSI];

		/* Unreadable or short arguments: let the kernel say so. */
		if (args == NULL || size < offsetof(struct clone_args, stack_size) + 8)
			break;
		if (args->stack != 0) {
			ret = cnk_clone3_with_stack(uc);
			if (ret < 0)
				cnk_complete_here(uc, ret);
			return;
		}
		if (args->flags & CLONE_CLEAR_SIGHAND) {
			cnk_complete_here(uc, -EINVAL);
			return;
		}
		if (args->flags & CLONE_VM) {
			cnk_vfork_at_call_site(uc, nr, args->flags);
			return;
		}
		break;
	}
	case SYS_prctl:
		/* Switching dispatch off (or moving it) would leave the program
		 * running silently unintercepted. */
		if (gregs[REG_RDI] == PR_SET_SYSCALL_USER_DISPATCH) {
			cnk_complete_here(uc, -EPERM);
			return;
		}
		break;
	default:
		break;
	}
	/* The fast path: the next call from this site skips the signal. */
	cnk_rewrite_trap((uintptr_t)gregs[REG_RIP], nr);
	cnk_leave_frames(uc, NULL, 1, nr);
}

int cnk_sigsys_install(void)
{
	struct cnk_kernel_sigaction act = {
		.handler = (uintptr_t)cnk_sigsys_handler,
		/* NODEFER: a trap in a nested handler must not meet a blocked
		 * SIGSYS.  Everything else is blocked for the handler's few
		 * instructions.  No SA_ONSTACK: the frames it leaves for the
		 * trampoline and the clone stubs belong on the trapped stack. */
		.flags = SA_SIGINFO | SA_NODEFER | SA_RESTORER,
		.restorer = (uintptr_t)cnk_sigreturn_stub,
		.mask = ~(1ULL << (SIGSYS - 1)),
	};
	uint64_t sigsys = 1ULL << (SIGSYS - 1);
	long ret;

	ret = cnk_raw_syscall6(SYS_rt_sigaction, SIGSYS, (long)&act, 0, sizeof(act.mask), 0, 0);
	if (ret < 0)
		return (int)ret;
	/* A mask inherited across exec may block it: the first trap would kill. */
	ret = cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&sigsys, 0, sizeof(sigsys),
			       0, 0);
	return ret < 0 ? (int)ret : 0;
}
