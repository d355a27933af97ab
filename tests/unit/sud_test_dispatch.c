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
#include <unistd.h>

#include "raw_syscall.h"
#include "rewrite.h"
#include "runtime.h"
#include "sud_test_dispatch.h"

struct sud_counts {
	uint64_t calls[SUD_COUNT_MAX];
	uint64_t hooks;
	uint64_t vfork_prepares;
};

static struct sud_counts *sud_counts;
static int sud_have_avx, sud_have_avx512;

/* What the CPU and the kernel (XCR0) let us use. */
static void sud_detect_vectors(void)
{
	unsigned int a, b, c, d, lo, hi;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 27)) || !(c & (1u << 28)))
		return;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	sud_have_avx = (lo & 0x6) == 0x6;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	sud_have_avx512 = sud_have_avx && (b & (1u << 16)) && (lo & 0xe0) == 0xe0;
}

/*
 * A real dispatcher's C code (memcpy, the rpc layer) uses vector registers
 * freely: clobber all of them, so that the probe's checks prove the
 * trampoline restores them rather than that nobody touched them.
 */
__attribute__((target("avx"))) static void sud_clobber_ymm(void)
{
	__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\t"
			 "vmovdqa %%ymm0, %%ymm1\n\t vmovdqa %%ymm0, %%ymm2\n\t"
			 "vmovdqa %%ymm0, %%ymm3\n\t vmovdqa %%ymm0, %%ymm4\n\t"
			 "vmovdqa %%ymm0, %%ymm5\n\t vmovdqa %%ymm0, %%ymm6\n\t"
			 "vmovdqa %%ymm0, %%ymm7\n\t vmovdqa %%ymm0, %%ymm8\n\t"
			 "vmovdqa %%ymm0, %%ymm9\n\t vmovdqa %%ymm0, %%ymm10\n\t"
			 "vmovdqa %%ymm0, %%ymm11\n\t vmovdqa %%ymm0, %%ymm12\n\t"
			 "vmovdqa %%ymm0, %%ymm13\n\t vmovdqa %%ymm0, %%ymm14\n\t"
			 "vmovdqa %%ymm0, %%ymm15\n\t"
			 :
			 :
			 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

#define SUD_ONES(i) "vpternlogd $0xff, %%zmm" #i ", %%zmm" #i ", %%zmm" #i "\n\t"
__attribute__((target("avx512f"))) static void sud_clobber_zmm(void)
{
	__asm__ volatile(SUD_ONES(16) SUD_ONES(17) SUD_ONES(18) SUD_ONES(19) SUD_ONES(20)
				 SUD_ONES(21) SUD_ONES(22) SUD_ONES(23) SUD_ONES(24) SUD_ONES(25)
					 SUD_ONES(26) SUD_ONES(27) SUD_ONES(28) SUD_ONES(29)
						 SUD_ONES(30) SUD_ONES(31)
			 :
			 :
			 : "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
			   "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

static void sud_clobber_vectors(void)
{
	if (sud_have_avx)
		sud_clobber_ymm();
	if (sud_have_avx512)
		sud_clobber_zmm();
}

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
	sud_detect_vectors();
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

/* getuid and pause are declared always native: their rewritten sites skip
 * the dispatcher (so they are counted only while they still trap). */
int cnk_dispatch_native_always(long nr)
{
	return nr == SYS_getuid || nr == SYS_pause;
}

static long sud_fastpath_query(long what, long addr)
{
	struct cnk_rewrite_stats st;

	cnk_rewrite_get_stats(&st);
	switch (what) {
	case 0:
		return (long)st.traps;
	case 1:
		return (long)st.rewritten;
	case 2:
		return (long)st.refused;
	case 3:
		return cnk_rewrite_is_site((uintptr_t)addr);
	case 4:
		return cnk_rewrite_enabled();
	case 5:
		/* libc's getppid from inside the runtime (selector ALLOW): a
		 * rewritten site must run natively here, not re-enter. */
		return (long)getppid();
	case 6:
		return (long)st.native;
	default:
		return -EINVAL;
	}
}

long cnk_dispatch(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	if (nr == SUD_QUERY_NR) {
		if (a0 == SUD_QUERY_COUNT && a1 >= 0 && a1 < SUD_COUNT_MAX)
			return (long)__atomic_load_n(&sud_counts->calls[a1], __ATOMIC_RELAXED);
		if (a0 == SUD_QUERY_HOOKS)
			return (long)__atomic_load_n(&sud_counts->hooks, __ATOMIC_RELAXED);
		if (a0 == SUD_QUERY_VFORK_PREPARES)
			return (long)__atomic_load_n(&sud_counts->vfork_prepares,
						     __ATOMIC_RELAXED);
		if (a0 == SUD_QUERY_FASTPATH)
			return sud_fastpath_query(a1, a2);
		return -EINVAL;
	}
	if (nr == CNK_NR_VFORK_PREPARE) {
		__atomic_fetch_add(&sud_counts->vfork_prepares, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (nr >= 0 && nr < SUD_COUNT_MAX)
		__atomic_fetch_add(&sud_counts->calls[nr], 1, __ATOMIC_RELAXED);
	if (nr == SYS_exit_group)
		cnk_dispatch_exit();
	if (nr == SYS_getppid)
		sud_clobber_vectors();
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
