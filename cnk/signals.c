/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signal state and process creation as the application sees them
 * (cnk_mechanism_syscall).
 *
 * - Every application handler is installed behind cnk_signal_wrapper, which
 *   runs it with the selector BLOCK (its syscalls are intercepted, wherever
 *   the signal arrived) and returns through the runtime's own restorer.
 * - SIGSYS belongs to the runtime.  An application's rt_sigaction(SIGSYS)
 *   succeeds and is recorded (oldact reports it back) but never installed;
 *   a SIGSYS that SUD did not raise (kill, seccomp) goes to the recorded
 *   handler, or ends the process (one "ferry:" line, status 127) if there
 *   is none.
 * - SIGSYS is removed from every mask the application hands the kernel: a
 *   blocked SIGSYS turns the next trap into a kill.
 */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "intercept.h"
#include "raw_syscall.h"
#include "rewrite.h"
#include "runtime.h"
#include "thread_block.h"

#define CNK_NSIG 65
#define CNK_SIGSET_SIZE 8

/* What the application asked for, per signal.  Lock-free: written by
 * rt_sigaction with atomic stores (handler last), read by the wrapper in
 * signal context; racing sigaction calls are as undefined as they are
 * without the runtime. */
struct cnk_app_action {
	uintptr_t handler;
	unsigned long flags;
	uintptr_t restorer;
	uint64_t mask;
	int recorded;
};

static struct cnk_app_action cnk_app_actions[CNK_NSIG];

/* The process whose records these are.  A vfork child (posix_spawn resets
 * every handler to SIG_DFL there) shares this memory but has its own
 * dispositions: its changes must not reach the parent's records. */
static int cnk_signals_owner;

static int cnk_in_vfork_child(void)
{
	return cnk_raw_syscall(SYS_getpid, 0, 0, 0) != __atomic_load_n(&cnk_signals_owner,
								      __ATOMIC_RELAXED);
}

static void cnk_signals_set_owner(void)
{
	__atomic_store_n(&cnk_signals_owner, (int)cnk_raw_syscall(SYS_getpid, 0, 0, 0),
			 __ATOMIC_RELAXED);
}

static void cnk_action_load(int sig, struct cnk_app_action *out)
{
	const struct cnk_app_action *a = &cnk_app_actions[sig];

	out->handler = __atomic_load_n(&a->handler, __ATOMIC_ACQUIRE);
	out->flags = __atomic_load_n(&a->flags, __ATOMIC_RELAXED);
	out->restorer = __atomic_load_n(&a->restorer, __ATOMIC_RELAXED);
	out->mask = __atomic_load_n(&a->mask, __ATOMIC_RELAXED);
	out->recorded = __atomic_load_n(&a->recorded, __ATOMIC_RELAXED);
}

static void cnk_action_store(int sig, const struct cnk_kernel_sigaction *act)
{
	struct cnk_app_action *a = &cnk_app_actions[sig];

	__atomic_store_n(&a->flags, act->flags, __ATOMIC_RELAXED);
	__atomic_store_n(&a->restorer, act->restorer, __ATOMIC_RELAXED);
	__atomic_store_n(&a->mask, act->mask, __ATOMIC_RELAXED);
	__atomic_store_n(&a->recorded, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&a->handler, act->handler, __ATOMIC_RELEASE);
}

static void cnk_call_app_handler(const struct cnk_app_action *act, int sig, siginfo_t *info,
				 void *ucv)
{
	if (act->flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))act->handler)(sig, info, ucv);
	else
		((void (*)(int))act->handler)(sig);
}

static void cnk_signal_wrapper(int sig, siginfo_t *info, void *ucv)
{
	ucontext_t *uc = ucv;
	uint8_t prev = cnk_selector_get();
	struct cnk_app_action act;

	cnk_action_load(sig, &act);
	/* SA_RESETHAND: the kernel already reset it; so does our record
	 * (not a vfork child's: the record is its parent's). */
	if ((act.flags & SA_RESETHAND) && !cnk_in_vfork_child())
		__atomic_store_n(&cnk_app_actions[sig].handler, (uintptr_t)SIG_DFL,
				 __ATOMIC_RELEASE);
	cnk_selector_set(CNK_SELECTOR_BLOCK);
	if (act.handler != (uintptr_t)SIG_DFL && act.handler != (uintptr_t)SIG_IGN)
		cnk_call_app_handler(&act, sig, info, ucv);
	/* The handler may have edited the mask its frame will restore. */
	cnk_sigset_strip((uint64_t *)&uc->uc_sigmask);
	cnk_selector_set(prev);
}

void cnk_signals_foreign_sigsys(int sig, siginfo_t *info, void *ucv)
{
	struct cnk_app_action act;
	uint8_t prev = cnk_selector_get();

	cnk_action_load(SIGSYS, &act);
	if (act.handler == (uintptr_t)SIG_IGN)
		return;
	if (act.handler == (uintptr_t)SIG_DFL)
		cnk_die("SIGSYS from outside the runtime (kill or seccomp), terminating");
	cnk_selector_set(CNK_SELECTOR_BLOCK);
	cnk_call_app_handler(&act, sig, info, ucv);
	cnk_sigset_strip((uint64_t *)&((ucontext_t *)ucv)->uc_sigmask);
	cnk_selector_set(prev);
}

/* Report a recorded action in the kernel's layout. */
static void cnk_action_report(const struct cnk_app_action *rec, struct cnk_kernel_sigaction *out)
{
	out->handler = rec->handler;
	out->flags = rec->flags;
	out->restorer = rec->restorer;
	out->mask = rec->mask;
}

/*
 * rt_sigaction in a vfork child: its dispositions are its own (no
 * CLONE_SIGHAND) but the records are the parent's, so the action is
 * installed as given (SIGSYS already excluded, the mask stripped) and not
 * recorded.  A handler installed there runs unwrapped; its return through
 * libc's restorer is replayed like any application's.  A handler the child
 * inherited still runs behind the wrapper with the parent's record, which
 * is what it inherited.
 */
static long cnk_vfork_child_sigaction(long sig, const struct cnk_kernel_sigaction *installed,
				      struct cnk_kernel_sigaction *oldact,
				      const struct cnk_app_action *rec)
{
	struct cnk_kernel_sigaction kernel_old;
	long ret;

	ret = cnk_raw_syscall6(SYS_rt_sigaction, sig, (long)installed, (long)&kernel_old,
			       CNK_SIGSET_SIZE, 0, 0);
	if (ret < 0)
		return ret;
	if (kernel_old.handler == (uintptr_t)cnk_signal_wrapper && rec->recorded)
		cnk_action_report(rec, &kernel_old);
	if (oldact)
		*oldact = kernel_old;
	return 0;
}

static long cnk_rt_sigaction(long sig, const struct cnk_kernel_sigaction *act,
			     struct cnk_kernel_sigaction *oldact, long sigsetsize)
{
	struct cnk_kernel_sigaction installed, kernel_old;
	struct cnk_app_action rec;
	long ret;

	if (sigsetsize != CNK_SIGSET_SIZE || sig < 1 || sig >= CNK_NSIG)
		return -EINVAL;
	cnk_action_load((int)sig, &rec);
	if (sig == SIGSYS) {
		struct cnk_kernel_sigaction previous = { 0 };

		/* act and oldact may be the same memory: read before writing. */
		if (rec.recorded)
			cnk_action_report(&rec, &previous);
		if (act && !cnk_in_vfork_child())
			cnk_action_store((int)sig, act);
		if (oldact)
			*oldact = previous;
		return 0;
	}
	if (!act) {
		ret = cnk_raw_syscall6(SYS_rt_sigaction, sig, 0, (long)&kernel_old, sigsetsize, 0, 0);
		if (ret < 0)
			return ret;
		if (kernel_old.handler == (uintptr_t)cnk_signal_wrapper && rec.recorded)
			cnk_action_report(&rec, &kernel_old);
		if (oldact)
			*oldact = kernel_old;
		return 0;
	}
	installed = *act;
	cnk_sigset_strip(&installed.mask);
	if (cnk_in_vfork_child())
		return cnk_vfork_child_sigaction(sig, &installed, oldact, &rec);
	if (act->handler != (uintptr_t)SIG_DFL && act->handler != (uintptr_t)SIG_IGN) {
		installed.handler = (uintptr_t)cnk_signal_wrapper;
		installed.flags |= SA_SIGINFO;
	}
	installed.flags |= SA_RESTORER;
	installed.restorer = (uintptr_t)cnk_sigreturn_stub;
	/* Record first: a signal may arrive as soon as the kernel installs. */
	cnk_action_store((int)sig, act);
	ret = cnk_raw_syscall6(SYS_rt_sigaction, sig, (long)&installed, (long)&kernel_old,
			       sigsetsize, 0, 0);
	if (ret < 0) {
		/* Refused (SIGKILL, SIGSTOP): the record goes back. */
		if (rec.recorded) {
			struct cnk_kernel_sigaction back;

			cnk_action_report(&rec, &back);
			cnk_action_store((int)sig, &back);
		} else {
			__atomic_store_n(&cnk_app_actions[sig].recorded, 0, __ATOMIC_RELAXED);
		}
		return ret;
	}
	if (kernel_old.handler == (uintptr_t)cnk_signal_wrapper && rec.recorded)
		cnk_action_report(&rec, &kernel_old);
	if (oldact)
		*oldact = kernel_old;
	return 0;
}

/* Put a handler the kernel already has behind the wrapper, as if the
 * application had installed it now. */
static int cnk_adopt_action(int sig, const struct cnk_kernel_sigaction *current)
{
	struct cnk_kernel_sigaction installed = *current;
	long ret;

	cnk_action_store(sig, current);
	if (sig == SIGSYS)
		return 0;
	cnk_sigset_strip(&installed.mask);
	installed.handler = (uintptr_t)cnk_signal_wrapper;
	installed.flags |= SA_SIGINFO | SA_RESTORER;
	installed.restorer = (uintptr_t)cnk_sigreturn_stub;
	ret = cnk_raw_syscall6(SYS_rt_sigaction, sig, (long)&installed, 0, CNK_SIGSET_SIZE, 0, 0);
	return ret < 0 ? (int)ret : 0;
}

int cnk_signals_adopt_existing(void)
{
	struct cnk_kernel_sigaction current;
	long ret;
	int sig, rc;

	cnk_signals_set_owner();
	for (sig = 1; sig < CNK_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		ret = cnk_raw_syscall6(SYS_rt_sigaction, sig, 0, (long)&current, CNK_SIGSET_SIZE, 0,
				       0);
		if (ret < 0)
			continue; /* not a signal this kernel lets anyone handle */
		if (current.handler == (uintptr_t)SIG_DFL || current.handler == (uintptr_t)SIG_IGN)
			continue;
		rc = cnk_adopt_action(sig, &current);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Replace the argument at `slot` by a stripped copy of the sigset it points
 * to; the copy lives in the caller's frame. */
static int cnk_strip_sigset_arg(long *slot, uint64_t *copy, long sigsetsize)
{
	if (*slot == 0)
		return 0;
	if (sigsetsize != CNK_SIGSET_SIZE)
		return -EINVAL;
	*copy = *(const uint64_t *)*slot;
	cnk_sigset_strip(copy);
	*slot = (long)copy;
	return 0;
}

/* fork-like: a new process with its own copy of memory.  The child gets SUD
 * again (not inherited) before it runs application code. */
static long cnk_fork_like(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	long ret;
	int rc;

	cnk_dispatch_atfork_prepare();
	ret = cnk_raw_syscall6(nr, a0, a1, a2, a3, a4, a5);
	if (ret == 0) {
		cnk_rewrite_atfork_child();
		rc = cnk_intercept_arm_thread();
		if (rc < 0)
			cnk_die("cannot re-arm syscall interception in a forked child");
		cnk_signals_set_owner();
		cnk_dispatch_atfork_child();
	} else {
		cnk_dispatch_atfork_parent();
	}
	return ret;
}

long cnk_mechanism_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	uint64_t mask_copy;
	long sel_args[2];
	long ret;

	switch (nr) {
	case SYS_rt_sigaction:
		return cnk_rt_sigaction(a0, (const struct cnk_kernel_sigaction *)a1,
					(struct cnk_kernel_sigaction *)a2, a3);
	case SYS_rt_sigprocmask:
		if (a0 == SIG_BLOCK || a0 == SIG_SETMASK) {
			ret = cnk_strip_sigset_arg(&a1, &mask_copy, a3);
			if (ret < 0)
				return ret;
		}
		break;
	case SYS_rt_sigsuspend:
		ret = cnk_strip_sigset_arg(&a0, &mask_copy, a1);
		if (ret < 0)
			return ret;
		break;
	case SYS_rt_sigtimedwait:
		ret = cnk_strip_sigset_arg(&a0, &mask_copy, a3);
		if (ret < 0)
			return ret;
		break;
	case SYS_signalfd:
	case SYS_signalfd4:
		ret = cnk_strip_sigset_arg(&a1, &mask_copy, a2);
		if (ret < 0)
			return ret;
		break;
	case SYS_ppoll:
		ret = cnk_strip_sigset_arg(&a3, &mask_copy, a4);
		if (ret < 0)
			return ret;
		break;
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
		ret = cnk_strip_sigset_arg(&a4, &mask_copy, a5);
		if (ret < 0)
			return ret;
		break;
	case SYS_pselect6:
		/* The sixth argument is { const sigset_t *ss; size_t ss_len; }. */
		if (a5 != 0) {
			sel_args[0] = ((const long *)a5)[0];
			sel_args[1] = ((const long *)a5)[1];
			ret = cnk_strip_sigset_arg(&sel_args[0], &mask_copy, sel_args[1]);
			if (ret < 0)
				return ret;
			a5 = (long)sel_args;
		}
		break;
	case SYS_fork:
		return cnk_fork_like(nr, a0, a1, a2, a3, a4, a5);
	case SYS_vfork:
		/* Reached only if a dispatcher routes it here: the child cannot
		 * share this stack, so it gets a copy (vfork's waiting kept). */
		return cnk_fork_like(SYS_clone, CLONE_VFORK | SIGCHLD, 0, 0, 0, 0, 0);
	case SYS_clone:
		if (a1 != 0 || (a0 & CLONE_VM))
			return -EINVAL; /* executed at the call site, never here */
		return cnk_fork_like(nr, a0, a1, a2, a3, a4, a5);
	case SYS_clone3: {
		const struct clone_args *cl = (const struct clone_args *)a0;

		if (cl == NULL || (size_t)a1 < offsetof(struct clone_args, stack_size) + 8)
			return -EINVAL;
		if (cl->stack != 0 || (cl->flags & CLONE_VM))
			return -EINVAL;
		if (cl->flags & CLONE_CLEAR_SIGHAND)
			return -EINVAL;
		return cnk_fork_like(nr, a0, a1, a2, a3, a4, a5);
	}
	default:
		break;
	}
	return cnk_raw_syscall6(nr, a0, a1, a2, a3, a4, a5);
}
