/* SPDX-License-Identifier: Apache-2.0 */
#include "fwd_stack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "raw_syscall.h"

#define FWD_STACK_SIZE (256u << 10)
#define FWD_STACK_GUARD 4096u

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FWD_STACK_OFF 1
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#define FWD_STACK_OFF 1
#endif

long cnk_call_on_stack(long (*fn)(void *), void *arg, void *stack_top);

static __thread char *fwd_stack;  /* the mapping, guard page first */
static __thread bool fwd_stack_busy; /* a forwarded call is on it */

long cnk_fwd_stack_call(long (*fn)(void *), void *arg)
{
#ifdef FWD_STACK_OFF
	return fn(arg);
#else
	long ret;

	if (fwd_stack_busy)
		return fn(arg);
	if (!fwd_stack) {
		long map = cnk_raw_syscall6(SYS_mmap, 0, FWD_STACK_SIZE + FWD_STACK_GUARD,
					    PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1,
					    0);

		if (map < 0 && map > -4096)
			return fn(arg);
		/* A fault past the end, not silent corruption below it. */
		cnk_raw_syscall(SYS_mprotect, map, FWD_STACK_GUARD, PROT_NONE);
		fwd_stack = (char *)map;
	}
	fwd_stack_busy = true;
	ret = cnk_call_on_stack(fn, arg, fwd_stack + FWD_STACK_GUARD + FWD_STACK_SIZE);
	fwd_stack_busy = false;
	return ret;
#endif
}

void cnk_fwd_stack_release(void)
{
	if (!fwd_stack || fwd_stack_busy)
		return;
	cnk_raw_syscall(SYS_munmap, (long)fwd_stack, FWD_STACK_SIZE + FWD_STACK_GUARD, 0);
	fwd_stack = NULL;
}
