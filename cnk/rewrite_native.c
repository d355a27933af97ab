/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real dispatcher's answer to cnk_dispatch_native_always() (rewrite.h),
 * linked into libferry.so only (the mechanism's tests bring their own).
 *
 * cnk_dispatch() runs a number natively, whatever the arguments, when
 * syscalls.def does not list it or lists it LOCAL (futex, getpid, munmap,
 * nanosleep, ...): this reads the same table, so a number that gains a class
 * there leaves the list by itself.  While FERRY_PROFILE is on, every call
 * goes through the dispatcher, which counts it: nothing is native.  The
 * mechanism keeps the signal and process calls on the SIGSYS path anyway.
 */
#include <stdint.h>
#include <sys/syscall.h>

#include "profile.h"
#include "rewrite.h"
#include "sock.h"

/* 1 for every number syscalls.def gives a class other than LOCAL (2: a
 * socket call). */
#define CNK_NATIVE_LOCAL 0
#define CNK_NATIVE_FD 1
#define CNK_NATIVE_PATH 1
#define CNK_NATIVE_MECHANISM 1
#define CNK_NATIVE_SPECIAL 1
#define CNK_NATIVE_EXEC 1
#define CNK_NATIVE_SOCK 2
#define CNK_NATIVE_SOCKIO 2
#define CNK_SYSCALL(nm, cl, fn, k0, k1, k2, k3, k4, k5) [SYS_##nm] = CNK_NATIVE_##cl,
static const uint8_t cnk_dispatched[] = {
#include "syscalls.def"
};
#undef CNK_SYSCALL

int cnk_dispatch_native_always(long nr)
{
	/* exit: the dispatcher releases the thread's forwarding stack. */
	if (cnk_profile_active || nr < 0 || nr == SYS_exit)
		return 0;
	if ((unsigned long)nr >= sizeof(cnk_dispatched))
		return 1;
	/* Socket calls (2) only need the dispatcher while sockets are
	 * forwarded: with FERRY_SOCKETS=off, MPI's sendmsg/recvmsg go
	 * straight to the kernel. */
	if (cnk_dispatched[nr] == 2)
		return !cnk_sock_enabled();
	return !cnk_dispatched[nr];
}
