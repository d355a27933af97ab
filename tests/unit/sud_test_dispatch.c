/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A dispatcher for testing the mechanism alone: it counts every syscall it
 * sees in a table shared with fork children, runs it natively, and passes
 * the mechanism's calls (signals, process creation) to
 * cnk_mechanism_syscall(), as the real dispatcher's table does.
 * Async-signal-safe and malloc-free: it runs under every syscall,
 * allocator's included.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "raw_syscall.h"
#include "runtime.h"
#include "sud_test_dispatch.h"

struct sud_counts {
	uint64_t calls[SUD_COUNT_MAX];
	uint64_t hooks;
};

static struct sud_counts *sud_counts;

int cnk_dispatch_init(void)
{
	void *map;

	/* Lets a test check the constructor's failure path. */
	if (getenv("SUD_TEST_FAIL_INIT"))
		return -EHOSTUNREACH;
	map = mmap(NULL, sizeof(*sud_counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	sud_counts = map;
	return 0;
}

static int sud_is_mechanism(long nr)
{
	switch (nr) {
	case SYS_rt_sigaction:
	case SYS_rt_sigprocmask:
	case SYS_rt_sigsuspend:
	case SYS_rt_sigtimedwait:
	case SYS_ppoll:
	case SYS_pselect6:
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_signalfd:
	case SYS_signalfd4:
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3:
		return 1;
	default:
		return 0;
	}
}

long cnk_dispatch(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	if (nr == SUD_QUERY_NR) {
		if (a0 == SUD_QUERY_COUNT && a1 >= 0 && a1 < SUD_COUNT_MAX)
			return (long)__atomic_load_n(&sud_counts->calls[a1], __ATOMIC_RELAXED);
		if (a0 == SUD_QUERY_HOOKS)
			return (long)__atomic_load_n(&sud_counts->hooks, __ATOMIC_RELAXED);
		return -EINVAL;
	}
	if (nr >= 0 && nr < SUD_COUNT_MAX)
		__atomic_fetch_add(&sud_counts->calls[nr], 1, __ATOMIC_RELAXED);
	if (nr == SYS_exit_group)
		cnk_dispatch_exit();
	if (sud_is_mechanism(nr))
		return cnk_mechanism_syscall(nr, a0, a1, a2, a3, a4, a5);
	return cnk_raw_syscall6(nr, a0, a1, a2, a3, a4, a5);
}

void cnk_dispatch_atfork_prepare(void)
{
	__atomic_fetch_add(&sud_counts->hooks, 1, __ATOMIC_RELAXED);
}

void cnk_dispatch_atfork_parent(void)
{
	__atomic_fetch_add(&sud_counts->hooks, 10000, __ATOMIC_RELAXED);
}

void cnk_dispatch_atfork_child(void)
{
	__atomic_fetch_add(&sud_counts->hooks, 100, __ATOMIC_RELAXED);
}

void cnk_dispatch_exit(void)
{
}
