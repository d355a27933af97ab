/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one dispatcher.  syscalls.def is the table; this file only routes:
 * local calls go straight to the kernel (lock-free, async-signal-safe, no
 * errno touched), forwarded ones to their handler with async signals
 * blocked, signal and process calls to the mechanism.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ferry/log.h>

#include "env.h"
#include "fdtable.h"
#include "fwd_stack.h"
#include "intercept.h"
#include "interpose.h"
#include "forward.h"
#include "profile.h"
#include "policy.h"
#include "raw_syscall.h"
#include "runtime.h"
#include "runtime_fds.h"
#include "session.h"
#include "sock.h"

enum cnk_class { CNK_CLASS_LOCAL = 0, CNK_CLASS_FD, CNK_CLASS_PATH, CNK_CLASS_MECHANISM,
		 CNK_CLASS_SPECIAL, CNK_CLASS_EXEC, CNK_CLASS_SOCK, CNK_CLASS_SOCKIO };

enum cnk_arg_kind { CNK_ARG__ = 0, CNK_ARG_FD, CNK_ARG_DIRFD, CNK_ARG_PATH, CNK_ARG_STR,
		    CNK_ARG_IBUF, CNK_ARG_OBUF, CNK_ARG_LEN, CNK_ARG_OFF, CNK_ARG_INT,
		    CNK_ARG_PTR };

struct cnk_syscall_desc {
	const char *name;
	cnk_fwd_fn *handler;
	uint8_t cls;
	uint8_t kinds[6];
};

#define CNK_SYSCALL(nm, cl, fn, k0, k1, k2, k3, k4, k5)                                \
	[SYS_##nm] = { #nm, fn, CNK_CLASS_##cl,                                        \
		       { CNK_ARG_##k0, CNK_ARG_##k1, CNK_ARG_##k2, CNK_ARG_##k3,       \
			 CNK_ARG_##k4, CNK_ARG_##k5 } },
static const struct cnk_syscall_desc cnk_syscalls[] = {
#include "syscalls.def"
};
#undef CNK_SYSCALL

#define CNK_NSYSCALLS ((long)(sizeof(cnk_syscalls) / sizeof(cnk_syscalls[0])))

/* Signals a forwarded call holds back: all but the synchronous ones and
 * SIGSYS (which the mechanism needs).  Kernel sigset bit n-1 is signal n. */
#define SIGBIT(s) (1ull << ((s)-1))
static const uint64_t forward_blocked_signals =
	~(SIGBIT(SIGSYS) | SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) | SIGBIT(SIGILL) | SIGBIT(SIGFPE) |
	  SIGBIT(SIGTRAP) | SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));

static atomic_bool dispatch_exited;
/* The process whose tables these are (a vfork child shares them). */
static atomic_int dispatch_pid;

const char *cnk_syscall_name(long nr)
{
	if (nr < 0 || nr >= CNK_NSYSCALLS || !cnk_syscalls[nr].name)
		return "?";
	return cnk_syscalls[nr].name;
}

long cnk_native(long nr, const long *a)
{
	return cnk_raw_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

long cnk_fwd_refuse(long nr, int err, const char *why)
{
	FLOG_DEBUG(cnk_session_id(), cnk_session_job(), "%s refused: %s (%s)",
		   cnk_syscall_name(nr), why, strerror(err));
	return -err;
}

/* Does any FD or PATH argument of this call name something forwarded?
 * Lock-free; a relative PATH is judged with the DIRFD argument before it. */
static bool desc_wants_forward(const struct cnk_syscall_desc *d, const long *a)
{
	int i;

	for (i = 0; i < 6; i++) {
		int dirfd;

		switch (d->kinds[i]) {
		case CNK_ARG_FD:
			/* The runtime's own descriptors are guarded by the
			 * handlers too (close, dup2). */
			if (cnk_fd_is_forwarded((int)a[i]) || cnk_runtime_fd_maybe((int)a[i]))
				return true;
			break;
		case CNK_ARG_PATH:
			dirfd = (i > 0 && d->kinds[i - 1] == CNK_ARG_DIRFD) ? (int)a[i - 1]
									   : AT_FDCWD;
			if (cnk_policy_wants(dirfd, (const char *)a[i]))
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

/* For the fast paths (interpose.c, and the trampoline's lean entry through
 * it): would cnk_dispatch() run this FD-class call natively, as it stands?
 * 1: yes (no argument names a forwarded or runtime descriptor); 0: call
 * cnk_dispatch().  Lock-free; no syscall, no libc, no allocation. */
int cnk_dispatch_runs_local(long nr, const long *a)
{
	const struct cnk_syscall_desc *d;
	int i;

	if (cnk_profile_active || nr < 0 || nr >= CNK_NSYSCALLS)
		return 0;
	d = &cnk_syscalls[nr];
	/* recv/send/accept on a socket that is not forwarded (MPI's). */
	if (d->cls == CNK_CLASS_SOCKIO)
		return !cnk_sock_enabled() || !cnk_sock_wants(nr, a);
	if (d->cls != CNK_CLASS_FD)
		return 0;
	for (i = 0; i < 6; i++)
		if (d->kinds[i] == CNK_ARG_PATH)
			return 0;
	return !cnk_policy_enabled() || !desc_wants_forward(d, a);
}

static bool in_vfork_child(void)
{
	return cnk_raw_syscall(SYS_getpid, 0, 0, 0) != atomic_load(&dispatch_pid);
}

/* fn() with async signals held and errno kept, for runtime work outside a
 * forwarded call (a signal handler doing forwarded I/O must not run while
 * this thread is inside the rpc client). */
static void with_signals_held(void (*fn)(void))
{
	uint64_t blocked = forward_blocked_signals, saved_mask = 0;
	int saved_errno = errno;
	long mret;

	mret = cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&blocked, (long)&saved_mask,
				sizeof(blocked), 0, 0);
	fn();
	if (mret == 0)
		cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&saved_mask, 0,
				 sizeof(saved_mask), 0, 0);
	errno = saved_errno;
}

struct syscall_args {
	long nr;
	const long *a;
};

static long run_open_vfork_child(void *arg)
{
	const struct syscall_args *sa = arg;

	return cnk_fwd_open_vfork_child(sa->nr, sa->a);
}

long cnk_fwd_call_held(long (*fn)(void *), void *arg)
{
	uint64_t blocked = forward_blocked_signals, saved_mask = 0;
	int saved_errno = errno;
	long ret, mret;

	mret = cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&blocked, (long)&saved_mask,
				sizeof(blocked), 0, 0);
	ret = cnk_fwd_stack_call(fn, arg);
	if (mret == 0)
		cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&saved_mask, 0,
				 sizeof(saved_mask), 0, 0);
	errno = saved_errno;
	return ret;
}

/* A vfork child (posix_spawn, dash) shares this memory -- the descriptor
 * table, the cwd, the session -- but has its own kernel descriptor table
 * and will exec or exit at once.  It must change nothing here: descriptor
 * and process calls run natively, exec is handled (forward_exec.c), an open
 * (posix_spawn's file actions) goes through the parent's session when the
 * child may use it, and anything else that would need the I/O node is
 * refused loudly. */
static long vfork_child_call(const struct cnk_syscall_desc *d, long nr, const long *a)
{
	switch (nr) {
	case SYS_open:
	case SYS_openat:
	case SYS_openat2:
	case SYS_creat:
		if (cnk_session_vfork_child_may_call()) {
			struct syscall_args sa = { .nr = nr, .a = a };

			return cnk_fwd_call_held(run_open_vfork_child, &sa);
		}
		return cnk_fwd_refuse(nr, EOPNOTSUPP,
				      "a vfork child cannot open a forwarded file: its parent's "
				      "session is not open, or the child closed its descriptors");
	case SYS_close:
	case SYS_close_range:
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
	case SYS_fcntl:
	case SYS_exit_group:
	case SYS_umask:
		return cnk_native(nr, a);
	case SYS_getcwd:
		return cnk_fwd_getcwd(nr, a);
	case SYS_chdir:
	case SYS_fchdir:
		return cnk_vfork_chdir(nr, a);
	default:
		return cnk_fwd_refuse(nr, EOPNOTSUPP,
				      "a vfork child cannot use the I/O node; fork instead");
	}
}

/* Does every signal in sigs have a handler installed with SA_RESTART? */
static bool all_restart(uint64_t sigs)
{
	struct cnk_kernel_sigaction act;

	for (int sig = 1; sig <= 64; sig++) {
		if (!(sigs & (1ull << (sig - 1))))
			continue;
		if (cnk_raw_syscall6(SYS_rt_sigaction, sig, 0, (long)&act, sizeof(uint64_t), 0, 0) ||
		    !(act.flags & SA_RESTART))
			return false;
	}
	return true;
}

struct handler_call {
	const struct cnk_syscall_desc *d;
	long nr;
	const long *a;
};

static long run_handler(void *arg)
{
	const struct handler_call *hc = arg;

	return hc->d->handler(hc->nr, hc->a);
}

/* Run a handler with async signals blocked, so that a signal handler doing
 * forwarded I/O cannot re-enter the rpc client or the descriptor table while
 * this thread holds their locks, and with the application's errno kept. */
static long forward(const struct cnk_syscall_desc *d, long nr, const long *a)
{
	uint64_t blocked = forward_blocked_signals, saved_mask = 0;
	int saved_errno = errno;
	long ret, mret;

	if (in_vfork_child())
		return vfork_child_call(d, nr, a);
	for (;;) {
		struct handler_call hc = { .d = d, .nr = nr, .a = a };
		uint64_t sigs;

		mret = cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&blocked,
					(long)&saved_mask, sizeof(blocked), 0, 0);
		cnk_session_set_app_mask(mret == 0 ? saved_mask : ~0ull);
		ret = cnk_fwd_stack_call(run_handler, &hc);
		/* Unblocking delivers what arrived meanwhile: the handlers run
		 * here, before the call returns, as with a real syscall. */
		if (mret == 0)
			cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&saved_mask, 0,
					 sizeof(saved_mask), 0, 0);
		sigs = ret == -EINTR ? cnk_session_take_interrupting_signals() : 0;
		/* An interrupted lock wait is restarted when every handler that
		 * interrupted it asked for SA_RESTART (signal(7)). */
		if (!sigs || !all_restart(sigs))
			break;
	}
	errno = saved_errno;
	return ret;
}

int cnk_dispatch_owner_pid(void)
{
	return atomic_load(&dispatch_pid);
}

/* Before a vfork child exists (CNK_NR_VFORK_PREPARE): forget what the
 * previous vfork child of this thread did to its own cwd, and have the I/O
 * node hold the descriptors the child may carry across its exec (the child
 * itself must not use the session). */
static long vfork_prepare(void)
{
	cnk_cwd_vfork_reset();
	if (cnk_policy_enabled() && !cnk_fdtable_empty() && !in_vfork_child())
		with_signals_held(cnk_exec_before_vfork);
	return 0;
}

static long open_session_now(void *arg)
{
	(void)arg;
	return cnk_session_claim();
}

/* Before posix_spawn (CNK_NR_SPAWN_PREPARE): a child that will open or run
 * a forwarded file uses this process's session, which must be open before
 * the vfork (the child cannot open it). */
static long spawn_prepare(const char *path, long search)
{
	if (!cnk_policy_enabled() || in_vfork_child() ||
	    !cnk_exec_spawn_needs_session(path, search != 0))
		return 0;
	return cnk_fwd_call_held(open_session_now, NULL);
}

static long dispatch_call(long nr, long a0, long a1, long a2, long a3, long a4, long a5,
			  enum cnk_profile_how *how)
{
	const long a[6] = { a0, a1, a2, a3, a4, a5 };
	const struct cnk_syscall_desc *d;

	if (nr == CNK_NR_VFORK_PREPARE)
		return vfork_prepare();
	if (nr == CNK_NR_SPAWN_PREPARE)
		return spawn_prepare((const char *)a0, a1);
	if (nr == SYS_exit && !in_vfork_child()) {
		cnk_fwd_stack_release();
		cnk_exec_thread_exit();
	}
	if (nr < 0 || nr >= CNK_NSYSCALLS)
		return cnk_raw_syscall6(nr, a0, a1, a2, a3, a4, a5);
	d = &cnk_syscalls[nr];
	switch (d->cls) {
	case CNK_CLASS_MECHANISM:
		return cnk_mechanism_syscall(nr, a0, a1, a2, a3, a4, a5);
	case CNK_CLASS_FD:
	case CNK_CLASS_PATH:
		if (cnk_policy_enabled() && desc_wants_forward(d, a)) {
			*how = CNK_PROFILE_FORWARDED;
			return forward(d, nr, a);
		}
		break;
	case CNK_CLASS_SPECIAL:
		/* exit_group also lets the socket pump pass on the last data. */
		if (cnk_policy_enabled() || (nr == SYS_exit_group && cnk_sock_active())) {
			*how = CNK_PROFILE_FORWARDED;
			return forward(d, nr, a);
		}
		break;
	case CNK_CLASS_SOCK:
	case CNK_CLASS_SOCKIO:
		if (cnk_sock_enabled() && cnk_sock_wants(nr, a) && !in_vfork_child()) {
			*how = CNK_PROFILE_FORWARDED;
			if (d->cls == CNK_CLASS_SOCK)
				return forward(d, nr, a);
			/* accept, recv, send: may block for ever, so in the
			 * program's context (signals as for the native call). */
			int saved_errno = errno;
			long ret = d->handler(nr, a);

			errno = saved_errno;
			return ret;
		}
		break;
	case CNK_CLASS_EXEC:
		if (cnk_policy_enabled()) {
			int saved_errno = errno;
			long ret = d->handler(nr, a);

			errno = saved_errno;
			return ret;
		}
		break;
	default:
		break;
	}
	return cnk_raw_syscall6(nr, a0, a1, a2, a3, a4, a5);
}

long cnk_dispatch(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	enum cnk_profile_how how = CNK_PROFILE_LOCAL;
	uint64_t t0;
	long ret;

	if (__builtin_expect(!cnk_profile_active, 1))
		return dispatch_call(nr, a0, a1, a2, a3, a4, a5, &how);
	t0 = cnk_profile_now_ns();
	ret = dispatch_call(nr, a0, a1, a2, a3, a4, a5, &how);
	cnk_profile_record(nr, how, cnk_profile_now_ns() - t0);
	return ret;
}

static void fork_detach_prepare(void);
static void fork_detach_parent(void);

/* Last reference to a forwarded file: close the remote handle. */
static int release_remote_file(struct cnk_file *f)
{
	return cnk_remote_close(f->handle);
}

/* A forwarded descriptor this process cannot use as it stands.  A fork
 * child that has not talked to the I/O node yet adopts its parent's files
 * now (its session opens at this first use). */
static int claim_or_warn_stale(int fd, const struct cnk_file *f)
{
	if (atomic_load(&f->stale) && cnk_session_inherited()) {
		int ret = cnk_session_claim();

		if (ret == 0 && !atomic_load(&f->stale))
			return 0;
	}
	FLOG_WARN(cnk_session_id(), cnk_session_job(),
		  "fd %d (%s) belongs to an I/O-node session this process no longer has "
		  "(inherited from a process that could not share it, or its parent's copy "
		  "was released): EBADF",
		  fd, f->path ? f->path : "?");
	return -EBADF;
}

/* The forwarded cwd of the program that exec'ed us (FERRY_CWD, see
 * forward_exec.c), or a real cwd under a mount (the forward-everything
 * mode).  FERRY_CWD is removed: it is the runtime's, not the program's. */
static void adopt_initial_cwd(void)
{
	const char *inherited = cnk_env_get("FERRY_CWD");
	char cwd[FERRY_PATH_MAX];
	long len;

	if (inherited) {
		if (inherited[0] == '/' && strlen(inherited) < sizeof(cwd)) {
			strcpy(cwd, inherited);
			cnk_path_collapse_dotdot(cwd);
			if (cnk_mounts_match(cnk_policy_mounts(), cwd))
				cnk_cwd_set(cwd);
		}
		cnk_env_unset("FERRY_CWD");
		if (cnk_cwd_forwarded())
			return;
	}
	len = cnk_raw_syscall(SYS_getcwd, cwd, sizeof(cwd), 0);
	if (len > 0 && cnk_mounts_match(cnk_policy_mounts(), cwd))
		cnk_cwd_set(cwd);
}

/* The dynamic loader runs before the runtime: it looks for libraries
 * natively, so a library directory under a mount is never searched through
 * Ferry.  Say so instead of leaving a bare "cannot open shared object". */
static void warn_loader_paths(void)
{
	const char *list = cnk_env_get("LD_LIBRARY_PATH");
	char dir[FERRY_PATH_MAX];

	while (list && *list) {
		size_t len = strcspn(list, ":");

		if (len && len < sizeof(dir) && list[0] == '/') {
			memcpy(dir, list, len);
			dir[len] = '\0';
			if (cnk_mounts_match(cnk_policy_mounts(), dir))
				FLOG_WARN(0, 0,
					  "LD_LIBRARY_PATH names %s, under a forwarded mount: the "
					  "dynamic loader searches it before the runtime starts, "
					  "natively, so libraries there are not found; copy them "
					  "to a local directory",
					  dir);
		}
		list += len;
		if (*list == ':')
			list++;
	}
}

int cnk_dispatch_init(void)
{
	const char *mounts = cnk_env_get("FERRY_MOUNTS");
	int ret;

	atomic_store(&dispatch_pid, (int)getpid());
	cnk_session_log_init();
	cnk_profile_init();
	ret = cnk_sock_init();
	if (ret < 0)
		return ret;
	ret = cnk_policy_init(mounts);
	if (ret < 0) {
		FLOG_ERR(0, 0, "FERRY_MOUNTS=\"%s\": %s (expected absolute paths separated by ',')",
			 mounts, strerror(-ret));
		return ret;
	}
	if (!cnk_policy_enabled())
		return 0;
	cnk_fdtable_set_release(release_remote_file);
	cnk_fdtable_set_stale_hook(claim_or_warn_stale);
	pthread_atfork(fork_detach_prepare, fork_detach_parent, NULL);
	ret = cnk_session_init(false);
	if (ret < 0)
		return ret;
	cnk_umask_init();
	warn_loader_paths();
	adopt_initial_cwd();
	cnk_exec_adopt_inherited();
	return 0;
}

/*
 * fork: the child shares its parent's forwarded files.  glibc's fork runs
 * pthread_atfork prepare handlers before it takes the allocator's locks, so
 * that is where the I/O node is asked to hold duplicates for the child (an
 * rpc call may allocate).  The child takes the record (a copy of this
 * thread's variable) when it starts; the parent drops its copy.  A fork that
 * bypasses glibc gets no record: its child's forwarded descriptors fail
 * with EBADF, loudly.
 */
static __thread struct cnk_held *fork_held;

static void fork_detach(void)
{
	/* A fork child forking before it used its inherited files claims
	 * them first, so that its own child can share them too. */
	if (cnk_session_inherited())
		cnk_session_claim();
	cnk_held_free(fork_held);
	fork_held = cnk_session_owns_endpoint() ? cnk_session_detach() : NULL;
}

static void fork_detach_prepare(void)
{
	if (cnk_policy_enabled() && !cnk_fdtable_empty() && !in_vfork_child())
		with_signals_held(fork_detach);
}

static void fork_detach_parent(void)
{
	/* The child has its own copy; a failed fork leaves the held files
	 * to the I/O node's timeout. */
	cnk_held_free(fork_held);
	fork_held = NULL;
}

/* The fork hooks hold the runtime's locks across fork; a signal handler
 * doing forwarded I/O must not run on this thread meanwhile. */
static __thread uint64_t fork_saved_mask;
static __thread bool fork_mask_saved;

static void fork_block_signals(void)
{
	uint64_t blocked = forward_blocked_signals;

	fork_mask_saved = cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&blocked,
					   (long)&fork_saved_mask, sizeof(blocked), 0, 0) == 0;
}

static void fork_restore_signals(void)
{
	if (fork_mask_saved)
		cnk_raw_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&fork_saved_mask, 0,
				 sizeof(fork_saved_mask), 0, 0);
	fork_mask_saved = false;
}

void cnk_dispatch_atfork_prepare(void)
{
	fork_block_signals();
	cnk_policy_fork_lock();
	cnk_fdtable_lock();
	cnk_sock_atfork_prepare();
}

void cnk_dispatch_atfork_parent(void)
{
	cnk_sock_atfork_parent();
	cnk_fdtable_unlock();
	cnk_policy_fork_unlock();
	fork_restore_signals();
}

void cnk_dispatch_atfork_child(void)
{
	atomic_store(&dispatch_pid, (int)cnk_raw_syscall(SYS_getpid, 0, 0, 0));
	cnk_fdtable_unlock();
	cnk_policy_fork_unlock();
	cnk_fdtable_mark_all_stale();
	cnk_sock_atfork_child();
	cnk_session_after_fork_child();
	if (fork_held) {
		cnk_session_inherit(fork_held);
		fork_held = NULL;
	}
	cnk_exec_forget_vfork_record();
	fork_restore_signals();
}

void cnk_dispatch_exit(void)
{
	bool sock_quiet;

	if (atomic_exchange(&dispatch_exited, true))
		return;
	cnk_profile_flush();
	/* A socket pump thread still inside a call keeps the transport open:
	 * the process ends, and the I/O node sees its peer go. */
	sock_quiet = cnk_sock_exit();
	cnk_exec_release_vfork_record();
	if (sock_quiet)
		cnk_session_close();
}
