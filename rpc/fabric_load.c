/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libfabric is loaded with dlopen at first use, never linked: the runtime
 * lives inside unmodified applications, and loading libfabric pulls in
 * libraries whose constructors install their own handlers for SIGINT,
 * SIGILL, SIGABRT, SIGBUS, SIGSEGV and SIGTERM (Debian's psm providers: the
 * handler calls exit(), overriding even an inherited SIG_IGN, and can
 * deadlock in libfabric's destructor), and the shm provider installs
 * handlers when it opens an endpoint.  We save every disposition before the
 * load and before opening endpoints, and put them all back afterwards.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fabric.h"
#include "ferry/log.h"

#define FAB_LIBRARY "libfabric.so.1"

struct fab_api fab_api;
static pthread_once_t fab_once = PTHREAD_ONCE_INIT;
static int fab_load_status;

static void *fab_sym(void *lib, const char *name)
{
	void *sym = dlsym(lib, name);

	if (!sym) {
		FLOG_ERR(0, 0, "rpc: %s lacks %s", FAB_LIBRARY, name);
		fab_load_status = -ENOSYS;
	}
	return sym;
}

/* The kernel's struct sigaction (x86-64 and the other 64-bit ports with
 * sa_restorer): saved and put back with the raw syscall, so that what the
 * kernel had is restored exactly, whatever interposes on libc's sigaction
 * (a sanitizer's runtime would install its own wrapper as SIGSYS's handler,
 * and the compute-node runtime's SIGSYS must stay its own). */
struct fab_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct fab_sigs {
	struct sigaction act[NSIG];       /* as libc (or an interposer) sees them */
	struct fab_ksigaction kact[NSIG]; /* as the kernel has them */
	bool have[NSIG];
	sigset_t mask;
	bool have_mask;
};

/* Asynchronous signals are held back while the provider's handlers are
 * installed: a SIGTERM arriving then must find the program's disposition
 * (die by the signal), not libinfinipath's exit(1).  Synchronous ones and
 * SIGSYS (the runtime's) stay open. */
struct fab_sigs *fab_sigs_save(void)
{
	struct fab_sigs *saved = calloc(1, sizeof(*saved));
	sigset_t hold;
	int sig;

	if (!saved)
		return NULL;
	sigfillset(&hold);
	sigdelset(&hold, SIGSEGV);
	sigdelset(&hold, SIGBUS);
	sigdelset(&hold, SIGILL);
	sigdelset(&hold, SIGFPE);
	sigdelset(&hold, SIGTRAP);
	sigdelset(&hold, SIGSYS);
	saved->have_mask = pthread_sigmask(SIG_BLOCK, &hold, &saved->mask) == 0;
	for (sig = 1; sig < NSIG; sig++)
		saved->have[sig] = sigaction(sig, NULL, &saved->act[sig]) == 0 &&
				   syscall(SYS_rt_sigaction, sig, NULL, &saved->kact[sig],
					   sizeof(uint64_t)) == 0;
	return saved;
}

/* Only the actions the provider changed are written back: first through
 * libc, so that an interposer's own table (a sanitizer's) agrees again, then
 * with the raw syscall, exactly as the kernel had them.  Changed means a
 * different handler as libc reports it (an interposer may keep the
 * provider's handler in its table behind an unchanged kernel action) or a
 * different kernel action.  Anything else is left alone: read through an
 * interposer, an action set behind its back (the runtime's SIGSYS) looks
 * like the default, and writing that back would remove it. */
void fab_sigs_restore(struct fab_sigs *saved)
{
	struct fab_ksigaction know;
	struct sigaction now;
	int sig;

	if (!saved)
		return;
	for (sig = 1; sig < NSIG; sig++) {
		bool libc_changed, kernel_changed;

		if (!saved->have[sig] || sig == SIGKILL || sig == SIGSTOP)
			continue;
		libc_changed = sigaction(sig, NULL, &now) == 0 &&
			       now.sa_sigaction != saved->act[sig].sa_sigaction;
		kernel_changed = syscall(SYS_rt_sigaction, sig, NULL, &know,
					 sizeof(uint64_t)) == 0 &&
				 memcmp(&know, &saved->kact[sig], sizeof(know)) != 0;
		if (!libc_changed && !kernel_changed)
			continue;
		sigaction(sig, &saved->act[sig], NULL);
		syscall(SYS_rt_sigaction, sig, &saved->kact[sig], NULL, sizeof(uint64_t));
	}
	if (saved->have_mask)
		pthread_sigmask(SIG_SETMASK, &saved->mask, NULL);
	free(saved);
}

static void fab_load_once(void)
{
	struct fab_sigs *saved;
	void *lib;

	/* The runtime forks with the application: verbs and EFA registrations
	 * must survive that.  Must be set before libfabric initialises. */
	setenv("RDMAV_FORK_SAFE", "1", 0);
	setenv("FI_EFA_FORK_SAFE", "1", 0);
	saved = fab_sigs_save();
	if (!saved) {
		fab_load_status = -ENOMEM;
		return;
	}
	lib = dlopen(FAB_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	fab_sigs_restore(saved);
	if (!lib) {
		FLOG_ERR(0, 0, "rpc: cannot load %s: %s", FAB_LIBRARY, dlerror());
		fab_load_status = -ENOENT;
		return;
	}
	/* Casts through void *: dlsym's result is an object pointer. */
	*(void **)&fab_api.getinfo = fab_sym(lib, "fi_getinfo");
	*(void **)&fab_api.freeinfo = fab_sym(lib, "fi_freeinfo");
	*(void **)&fab_api.dupinfo = fab_sym(lib, "fi_dupinfo");
	*(void **)&fab_api.fabric = fab_sym(lib, "fi_fabric");
	*(void **)&fab_api.strerror = fab_sym(lib, "fi_strerror");
}

int fab_load(void)
{
	pthread_once(&fab_once, fab_load_once);
	return fab_load_status;
}

const char *fab_strerror(int fi_errno)
{
	if (fab_api.strerror)
		return fab_api.strerror(fi_errno < 0 ? -fi_errno : fi_errno);
	return "libfabric not loaded";
}
