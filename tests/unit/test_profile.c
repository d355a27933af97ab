/* SPDX-License-Identifier: Apache-2.0 */
/* The runtime's profile (cnk/profile.c) in-process: counts from many threads
 * at once add up, the file is what ferry-model reads, a flush twice writes
 * the block once, a fork child counts from zero, a bad path is refused. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "profile.h"

#define THREADS 4
#define PER_THREAD 20000

static char dir[] = "/tmp/ferry-test-profile.XXXXXX";

static void *recorder(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		cnk_profile_record(SYS_write, CNK_PROFILE_FORWARDED, 100);
		cnk_profile_record(SYS_write, CNK_PROFILE_LOCAL, 1);
		cnk_profile_record(SYS_getpid, CNK_PROFILE_LOCAL, 10);
	}
	return NULL;
}

static const struct model_syscall *find(const struct model_profile *pr, const char *name)
{
	for (size_t i = 0; i < pr->n; i++)
		if (!strcmp(pr->sc[i].name, name))
			return &pr->sc[i];
	return NULL;
}

static void read_profile(int pid, struct model_profile *pr)
{
	char path[256], err[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/p.%d.csv", dir, pid);
	f = fopen(path, "r");
	assert_non_null(f);
	if (model_read_ferry_profile(f, pr, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
	fclose(f);
}

static void bad_path_refused(void **state)
{
	(void)state;
	setenv("FERRY_PROFILE", "/nonexistent-dir/p.csv", 1);
	assert_int_equal(cnk_profile_init(), -ENOENT);
	assert_false(cnk_profile_active);
	unsetenv("FERRY_PROFILE");
	assert_int_equal(cnk_profile_init(), 0);
	assert_false(cnk_profile_active);
}

static void counts_add_up(void **state)
{
	pthread_t t[THREADS];
	struct model_profile pr = { 0 };
	const struct model_syscall *w, *g, *o;
	char path[256];
	uint64_t t0;

	(void)state;
	/* relative, with %p: taken from the working directory at start */
	assert_int_equal(chdir(dir), 0);
	setenv("FERRY_PROFILE", "p.%p.csv", 1);
	assert_int_equal(cnk_profile_init(), 0);
	assert_true(cnk_profile_active);
	assert_int_equal(chdir("/"), 0);
	t0 = cnk_profile_now_ns();
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, recorder, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_true(cnk_profile_now_ns() >= t0);
	cnk_profile_record(-0x5646L, CNK_PROFILE_LOCAL, 7); /* a pseudo call */
	cnk_profile_record(100000, CNK_PROFILE_LOCAL, 3);   /* out of the table */
	cnk_profile_flush();
	cnk_profile_flush(); /* the same block again, not a second one */
	read_profile((int)getpid(), &pr);
	assert_int_equal(pr.blocks, 1);
	w = find(&pr, "write");
	g = find(&pr, "getpid");
	o = find(&pr, "other");
	assert_non_null(w);
	assert_non_null(g);
	assert_non_null(o);
	assert_int_equal(w->calls, 2 * THREADS * PER_THREAD);
	assert_int_equal(w->fwd_calls, THREADS * PER_THREAD);
	assert_true(fabs(w->time_s - THREADS * PER_THREAD * 101e-9) < 1e-12);
	assert_true(fabs(w->fwd_time_s - THREADS * PER_THREAD * 100e-9) < 1e-12);
	assert_int_equal(g->calls, THREADS * PER_THREAD);
	assert_int_equal(g->fwd_calls, 0);
	assert_int_equal(o->calls, 2);
	assert_int_equal(pr.calls, 3 * THREADS * PER_THREAD + 2);
	assert_true(pr.wall_s > 0);
	model_profile_free(&pr);
	snprintf(path, sizeof(path), "%s/p.%d.csv", dir, (int)getpid());
	assert_int_equal(unlink(path), 0);
}

static void fork_child_starts_from_zero(void **state)
{
	struct model_profile pr = { 0 };
	const struct model_syscall *w;
	int status;
	pid_t pid;

	(void)state;
	assert_true(cnk_profile_active);
	cnk_profile_record(SYS_write, CNK_PROFILE_FORWARDED, 5);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 3; i++)
			cnk_profile_record(SYS_read, CNK_PROFILE_LOCAL, 5);
		cnk_profile_flush();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	read_profile((int)pid, &pr);
	assert_null(find(&pr, "write")); /* the parent's, before the fork */
	w = find(&pr, "read");
	assert_non_null(w);
	assert_int_equal(w->calls, 3);
	assert_int_equal(pr.calls, 3);
	model_profile_free(&pr);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_path_refused),
		cmocka_unit_test(counts_add_up),
		cmocka_unit_test(fork_child_starts_from_zero),
	};

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, teardown);
}
