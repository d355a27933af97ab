/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A syscall instruction with the kernel's own return convention (result or
 * -errno), no libc errno: the runtime must not disturb the application's
 * errno.  Only to be used while the thread's SUD selector is ALLOW (inside the
 * dispatcher), or the call traps again.
 */
#ifndef FERRY_CNK_RAW_SYSCALL_H
#define FERRY_CNK_RAW_SYSCALL_H

#if !defined(__x86_64__)
#error "cnk: only x86-64 is supported so far"
#endif

static inline long cnk_raw_syscall6(long nr, long a0, long a1, long a2, long a3, long a4,
				    long a5)
{
	long ret;
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define cnk_raw_syscall(nr, a0, a1, a2) cnk_raw_syscall6((nr), (long)(a0), (long)(a1), (long)(a2), 0, 0, 0)

#endif
