/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast path for the hottest calls: libc symbol interposition.
 *
 * Lazy rewriting (rewrite.c) cannot reach every libc wrapper: glibc 2.36's
 * read tests a flag and loads its number with `xor %eax,%eax`, which leaves
 * no 5-byte mov to patch, so every read paid a SIGSYS.  libferry.so is
 * preloaded, so its definitions of the exported symbols below come first
 * for every call through the PLT (the program's and other libraries';
 * glibc's internal calls, such as stdio's, still reach its own code and
 * take the other paths).  Each one, in an application thread with the fast
 * path on:
 * - asks the dispatcher's lock-free question (cnk_dispatch_runs_local: is
 *   any descriptor argument forwarded or the runtime's?);
 * - local: makes the syscall from the allowed range (cnk_allowed_syscall6):
 *   no signal, no dispatcher, no vector-state save (a C call: the ABI has
 *   the caller keep its vector registers);
 * - otherwise: cnk_dispatch() itself, with the selector ALLOW as the
 *   trampoline would leave it: the same forward path (signals held, EINTR
 *   and SA_RESTART, the vfork child's refusals, the profile).
 * Either way errno is set as libc sets it, and the calls glibc makes
 * cancellation points stay cancellation points: asynchronous cancellation
 * is switched on around the call, as glibc's own wrapper does, when the
 * process is not single-threaded (glibc's own test).
 *
 * Everything else -- the runtime's own calls (selector ALLOW), a thread the
 * runtime never armed, a call before the runtime is armed, FERRY_FASTPATH=0
 * -- makes the syscall the way libc's wrapper would, from here: natively
 * where the selector lets it through, and through the SIGSYS path
 * otherwise.
 */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "interpose.h"
#include "raw_syscall.h"
#include "rewrite.h"
#include "runtime.h"
#include "thread_block.h"

#define CNK_EXPORT __attribute__((visibility("default")))

/* glibc's fortify failure (exported since 2.3.4). */
extern void __chk_fail(void) __attribute__((noreturn));

int cnk_fast_lean_local(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
#if defined(__AVX__)
	/* VEX-encoded code would clear the upper halves of the vector
	 * registers, which the lean entry does not save. */
	(void)nr, (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
	return 0;
#else
	const long a[6] = { a0, a1, a2, a3, a4, a5 };

	return cnk_dispatch_runs_local(nr, a);
#endif
}

uint64_t ferry_debug_counter(const char *name) CNK_EXPORT;
uint64_t ferry_debug_counter(const char *name)
{
	struct cnk_rewrite_stats st;

	cnk_rewrite_get_stats(&st);
	if (strcmp(name, "sigsys_traps") == 0)
		return st.traps;
	if (strcmp(name, "sites_rewritten") == 0)
		return st.rewritten;
	if (strcmp(name, "sites_refused") == 0)
		return st.refused;
	return UINT64_MAX;
}

/* An application thread, armed, with the fast path on: the selector is
 * BLOCK exactly there (the runtime, its unarmed threads and the time before
 * arming run with ALLOW). */
static inline int ip_fast(void)
{
	return cnk_selector_get() == CNK_SELECTOR_BLOCK && cnk_rewrite_enabled();
}

/* The call through the dispatcher, as the trampoline makes it. */
static long ip_dispatch(long nr, const long *a)
{
	long ret;

	cnk_selector_set(CNK_SELECTOR_ALLOW);
	ret = cnk_dispatch(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	cnk_selector_set(CNK_SELECTOR_BLOCK);
	return ret;
}

static long ip_syscall(long nr, const long *a)
{
	if (!ip_fast())
		return cnk_raw_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (cnk_dispatch_runs_local(nr, a))
		return cnk_allowed_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	return ip_dispatch(nr, a);
}

/* The result as libc returns it: -1 and errno for -4095..-1. */
static inline long ip_result(long ret)
{
	if ((unsigned long)ret > -4096UL) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

/* A call glibc makes a cancellation point (SYSCALL_CANCEL): asynchronous
 * cancellation around it unless the process is single-threaded, so that a
 * thread blocked in it is cancelled, and a pending cancellation acts first.
 * Not for the runtime's own calls (selector ALLOW): cancelling there would
 * unwind through the runtime. */
static long ip_cancel_call(long nr, long a0, long a1, long a2, long a3)
{
	const long a[6] = { a0, a1, a2, a3, 0, 0 };
	int oldtype;
	long ret;

	if (__libc_single_threaded || cnk_selector_get() != CNK_SELECTOR_BLOCK)
		return ip_result(ip_syscall(nr, a));
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &oldtype);
	ret = ip_syscall(nr, a);
	pthread_setcanceltype(oldtype, NULL);
	return ip_result(ret);
}

static long ip_plain_call(long nr, long a0, long a1, long a2)
{
	const long a[6] = { a0, a1, a2, 0, 0, 0 };

	return ip_result(ip_syscall(nr, a));
}

CNK_EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	return ip_cancel_call(SYS_read, fd, (long)buf, (long)count, 0);
}

CNK_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	return ip_cancel_call(SYS_write, fd, (long)buf, (long)count, 0);
}

CNK_EXPORT ssize_t pread64(int fd, void *buf, size_t count, off64_t offset)
{
	return ip_cancel_call(SYS_pread64, fd, (long)buf, (long)count, (long)offset);
}

CNK_EXPORT ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
	return ip_cancel_call(SYS_pread64, fd, (long)buf, (long)count, (long)offset);
}

CNK_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset)
{
	return ip_cancel_call(SYS_pwrite64, fd, (long)buf, (long)count, (long)offset);
}

CNK_EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	return ip_cancel_call(SYS_pwrite64, fd, (long)buf, (long)count, (long)offset);
}

CNK_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	return ip_cancel_call(SYS_readv, fd, (long)iov, iovcnt, 0);
}

CNK_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	return ip_cancel_call(SYS_writev, fd, (long)iov, iovcnt, 0);
}

CNK_EXPORT int close(int fd)
{
	return (int)ip_cancel_call(SYS_close, fd, 0, 0, 0);
}

CNK_EXPORT off_t lseek(int fd, off_t offset, int whence)
{
	return ip_plain_call(SYS_lseek, fd, (long)offset, whence);
}

CNK_EXPORT off64_t lseek64(int fd, off64_t offset, int whence)
{
	return ip_plain_call(SYS_lseek, fd, (long)offset, whence);
}

/* glibc's preadv/pwritev split the offset in two words (high 0 here). */
CNK_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return ip_cancel_call(SYS_preadv, fd, (long)iov, iovcnt, (long)offset);
}

CNK_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off64_t offset)
{
	return ip_cancel_call(SYS_preadv, fd, (long)iov, iovcnt, (long)offset);
}

CNK_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return ip_cancel_call(SYS_pwritev, fd, (long)iov, iovcnt, (long)offset);
}

CNK_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t offset)
{
	return ip_cancel_call(SYS_pwritev, fd, (long)iov, iovcnt, (long)offset);
}

/* glibc's fstat is newfstatat(fd, "", AT_EMPTY_PATH): a path call, which
 * the trampoline's lean entry leaves to the full dispatcher.  The kernel's
 * fstat answers the same. */
CNK_EXPORT int fstat(int fd, struct stat *st)
{
	return (int)ip_plain_call(SYS_fstat, fd, (long)st, 0);
}

CNK_EXPORT int fstat64(int fd, struct stat64 *st)
{
	return (int)ip_plain_call(SYS_fstat, fd, (long)st, 0);
}

/* _FORTIFY_SOURCE's checked reads call glibc's internal read: the same
 * check, then ours. */
CNK_EXPORT ssize_t __read_chk(int fd, void *buf, size_t count, size_t buflen)
{
	if (count > buflen)
		__chk_fail();
	return read(fd, buf, count);
}

CNK_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t count, off_t offset, size_t buflen)
{
	if (count > buflen)
		__chk_fail();
	return pread64(fd, buf, count, offset);
}

CNK_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t count, off64_t offset, size_t buflen)
{
	if (count > buflen)
		__chk_fail();
	return pread64(fd, buf, count, offset);
}
