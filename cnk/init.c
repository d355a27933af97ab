/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The library constructor: refuse what cannot work, open the dispatcher,
 * then arm interception for the main thread.  Any failure prints one line
 * and exits 127: a program running silently unintercepted would write to the
 * wrong place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CNK_HAVE_VALGRIND_H 1
#endif
#endif

#include "intercept.h"
#include "env.h"
#include "raw_syscall.h"
#include "rewrite.h"
#include "runtime.h"
#include "thread_block.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#endif

void cnk_die(const char *msg)
{
	char line[512];
	size_t len = 0, n;

	n = strlen("ferry: ");
	memcpy(line, "ferry: ", n);
	len = n;
	n = strnlen(msg, sizeof(line) - len - 1);
	memcpy(line + len, msg, n);
	len += n;
	line[len++] = '\n';
	/* Nothing to do if stderr is gone: the exit status still says it. */
	(void)cnk_raw_syscall(SYS_write, 2, line, len);
	cnk_raw_syscall(SYS_exit_group, 127, 0, 0);
	__builtin_unreachable();
}

static int cnk_under_valgrind(void)
{
	const char *preload = cnk_env_get("LD_PRELOAD");

#ifdef CNK_HAVE_VALGRIND_H
	if (RUNNING_ON_VALGRIND)
		return 1;
#endif
	/* valgrind's own preload objects give it away without the header. */
	return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

/* Name what the dispatcher was given: the usual cause is a wrong setting. */
__attribute__((noreturn)) static void cnk_die_init(int rc)
{
	char msg[400];
	const char *ionode = cnk_env_get("FERRY_IONODE");
	const char *mounts = cnk_env_get("FERRY_MOUNTS");

	snprintf(msg, sizeof(msg), "cannot start the runtime: %s (FERRY_IONODE=%s FERRY_MOUNTS=%s)",
		 strerror(-rc), ionode ? ionode : "(unset)", mounts ? mounts : "(unset)");
	cnk_die(msg);
}

/* PR_SYS_DISPATCH_OFF is harmless and answers EINVAL where SUD is missing. */
static int cnk_sud_supported(void)
{
	long ret = cnk_raw_syscall6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF,
				    0, 0, 0, 0);

	return ret == 0;
}

/* FERRY_FASTPATH: 1 (default) rewrites trapped call sites, 0 keeps every
 * call on the signal path. */
static int cnk_fastpath_setting(void)
{
	const char *v = cnk_env_get("FERRY_FASTPATH");

	if (v == NULL || *v == '\0' || strcmp(v, "1") == 0)
		return 1;
	if (strcmp(v, "0") == 0)
		return 0;
	cnk_die("FERRY_FASTPATH must be 0 or 1");
}

__attribute__((constructor(101))) static void cnk_init(void)
{
	int rc;

	if (cnk_under_valgrind())
		cnk_die("valgrind cannot run a program under Syscall User Dispatch; run it "
			"without ferry (gdb works: handle SIGSYS nostop noprint)");
	if (!cnk_sud_supported())
		cnk_die("this kernel lacks Syscall User Dispatch (needs Linux >= 5.11 with "
			"PR_SET_SYSCALL_USER_DISPATCH)");
	rc = cnk_dispatch_init();
	if (rc < 0)
		cnk_die_init(rc);
	cnk_trampoline_setup();
	cnk_rewrite_init(cnk_fastpath_setting());
	rc = cnk_signals_adopt_existing();
	if (rc < 0)
		cnk_die("cannot take over the signal handlers installed before the runtime");
	rc = cnk_sigsys_install();
	if (rc < 0)
		cnk_die("cannot install the SIGSYS handler");
	/* FERRY_RUNTIME=1 reaches programs through ferry-exec and every exec
	 * (forward_exec.c); never setenv here, before main: a program may
	 * define its own (bash's then stops seeing the real environment, and
	 * replacing environ under it crashes it). */
	cnk_intercept_set_active();
	rc = cnk_intercept_arm_thread();
	if (rc < 0)
		cnk_die("cannot arm Syscall User Dispatch for the main thread");
	/* From the next return into application code on, every syscall traps. */
	cnk_selector_set(CNK_SELECTOR_BLOCK);
}
