/* SPDX-License-Identifier: Apache-2.0 */
/* The delegation speedup model (perf/model.c): the paper's limits, a worked
 * example, the policies and the input readers. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

#define EPS 1e-9

static FILE *text(const char *s)
{
	FILE *f = fmemopen((void *)s, strlen(s), "r");

	assert_non_null(f);
	return f;
}

static int read_any(const char *s, struct model_profile *pr, char *err, size_t errlen)
{
	FILE *f = text(s);
	int rc = model_read_any(f, pr, err, errlen);

	fclose(f);
	return rc;
}

/* A profile with the given syscalls (name, calls, seconds) and wall time. */
static void make_profile(struct model_profile *pr, double wall, size_t n, const char *const *names,
			 const uint64_t *calls, const double *secs)
{
	char buf[4096];
	size_t len;
	char err[256];

	len = (size_t)snprintf(buf, sizeof(buf),
			       "# ferry-profile 1\n# program test\n# pid 1\n# wall_ns %.0f\n"
			       "syscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,"
			       "forwarded_ns\n",
			       wall * 1e9);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s,%zu,%llu,%.0f,%llu,%.0f,0,0\n",
					names[i], i, (unsigned long long)calls[i], secs[i] * 1e9,
					(unsigned long long)calls[i], secs[i] * 1e9);
	assert_int_equal(read_any(buf, pr, err, sizeof(err)), 0);
}

/* ---- the model ---- */

static void naive_limits(void **state)
{
	(void)state;
	/* p -> 1: nothing left to accelerate, S -> 1 */
	assert_true(fabs(model_naive(1.0, 10.0) - 1.0) < EPS);
	assert_true(fabs(model_naive(1.0 - 1e-9, 1e6) - 1.0) < 1e-3);
	/* gamma -> infinity: S -> 1/p */
	assert_true(fabs(model_naive(0.25, 1e12) - 4.0) < 1e-6);
	assert_true(fabs(model_naive(0.1, 1e12) - 10.0) < 1e-6);
	/* gamma = 1: no speedup whatever p */
	assert_true(fabs(model_naive(0.3, 1.0) - 1.0) < EPS);
	/* p = 0: Amdahl's whole-program speedup gamma */
	assert_true(fabs(model_naive(0.0, 8.0) - 8.0) < EPS);
}

static void refined_reduces_to_naive(void **state)
{
	static const char *const names[] = { "write", "read", "stat" };
	static const uint64_t calls[] = { 1000, 100, 10 };
	static const double secs[] = { 0.6, 0.3, 0.1 };
	struct model_profile pr = { 0 };
	double gammas[] = { 1, 2, 7.5, 100, 1e9 };

	(void)state;
	make_profile(&pr, 4.0, 3, names, calls, secs);
	assert_true(fabs(pr.syscall_s - 1.0) < 1e-9);
	assert_true(fabs(model_compute_time(&pr) - 3.0) < 1e-9); /* p = 0.25 */
	model_policy_all(&pr);
	for (size_t i = 0; i < sizeof(gammas) / sizeof(gammas[0]); i++)
		assert_true(fabs(model_refined(&pr, 3.0, gammas[i], 0) - model_naive(0.25, gammas[i])) <
			    1e-9);
	/* gamma -> infinity with f_c = 0: 1/p */
	assert_true(fabs(model_refined(&pr, 3.0, 1e12, 0) - 4.0) < 1e-6);
	/* forwarding costs: any f_c > 0 makes it slower */
	assert_true(model_refined(&pr, 3.0, 2, 1e-6) < model_naive(0.25, 2));
	/* nothing forwarded, f_c is irrelevant */
	model_policy_none(&pr);
	assert_true(fabs(model_refined(&pr, 3.0, 2, 1.0) - model_naive(0.25, 2)) < 1e-9);
	model_profile_free(&pr);
}

/* By hand: C = 10 s; write 1000 calls 1 s, stat 100 calls 0.5 s, getpid 10
 * calls 0.01 s; gamma 2, f_c 100 us, forward write only:
 *   time = 10/2 + (1 + 2 * 100e-6 * 1000) + 0.5 + 0.01 = 6.71 s
 *   S = (10 + 1.51) / 6.71 = 1.715350...
 * and write, stat at half their calls forwarded (Ferry's fractional b):
 *   time = 5 + 1 + 0.5*0.2 + 0.5 + 0.5*0.02 + 0.01 = 6.62 s */
static void hand_computed(void **state)
{
	static const char *const names[] = { "write", "stat", "getpid" };
	static const uint64_t calls[] = { 1000, 100, 10 };
	static const double secs[] = { 1.0, 0.5, 0.01 };
	struct model_profile pr = { 0 };
	char err[128];

	(void)state;
	make_profile(&pr, 11.51, 3, names, calls, secs);
	assert_int_equal(model_policy_list(&pr, "write", 0, err, sizeof(err)), 0);
	assert_true(fabs(model_refined_time(&pr, 10, 2, 100e-6) - 6.71) < 1e-9);
	assert_true(fabs(model_refined(&pr, 10, 2, 100e-6) - 11.51 / 6.71) < 1e-9);
	pr.sc[0].b = 0.5;
	pr.sc[1].b = 0.5;
	assert_true(fabs(model_refined_time(&pr, 10, 2, 100e-6) - 6.62) < 1e-9);
	model_profile_free(&pr);
}

/* ---- policies ---- */

static const char *const ten_names[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" };
static const uint64_t ten_calls[] = { 50, 10, 1, 7, 1000, 3, 9, 2, 400, 5 };
static const double ten_secs[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };

static double b_of(const struct model_profile *pr, const char *name)
{
	for (size_t i = 0; i < pr->n; i++)
		if (!strcmp(pr->sc[i].name, name))
			return pr->sc[i].b;
	fail_msg("%s not in the profile", name);
	return -1;
}

static void policy_selection(void **state)
{
	struct model_profile pr = { 0 };
	size_t k, hits[10] = { 0 };
	uint64_t rng = 42;
	char err[128], desc[256];

	(void)state;
	make_profile(&pr, 100, 10, ten_names, ten_calls, ten_secs);
	/* 20% of 10 syscalls: the 2 least frequent, c (1) and h (2) */
	assert_int_equal(model_policy_least(&pr, 0.2), 2);
	model_policy_describe(&pr, desc, sizeof(desc));
	assert_string_equal(desc, "c,h");
	assert_int_equal(model_forwarded_syscalls(&pr, NULL), 2);
	/* the 2 most frequent: e (1000) and i (400) */
	assert_int_equal(model_policy_most(&pr, 0.2), 2);
	assert_true(b_of(&pr, "e") == 1 && b_of(&pr, "i") == 1 && b_of(&pr, "a") == 0);
	/* 25% of 10 rounds up to 3: c, h, f */
	assert_int_equal(model_policy_least(&pr, 0.25), 3);
	assert_true(b_of(&pr, "c") == 1 && b_of(&pr, "h") == 1 && b_of(&pr, "f") == 1);
	/* random: always 2 syscalls, every one picked some time, reproducible */
	for (int d = 0; d < 2000; d++) {
		k = model_policy_random(&pr, 0.2, &rng);
		assert_int_equal(k, 2);
		assert_int_equal(model_forwarded_syscalls(&pr, NULL), 2);
		for (size_t i = 0; i < 10; i++)
			hits[i] += pr.sc[i].b > 0;
	}
	for (size_t i = 0; i < 10; i++)
		assert_true(hits[i] > 200 && hits[i] < 600); /* about 400 each */
	{
		uint64_t r1 = 7, r2 = 7;
		char d1[256], d2[256];

		model_policy_random(&pr, 0.2, &r1);
		model_policy_describe(&pr, d1, sizeof(d1));
		model_policy_random(&pr, 0.2, &r2);
		model_policy_describe(&pr, d2, sizeof(d2));
		assert_string_equal(d1, d2);
	}
	/* an explicit list */
	assert_int_equal(model_policy_list(&pr, "a,j", 0, err, sizeof(err)), 0);
	model_policy_describe(&pr, desc, sizeof(desc));
	assert_string_equal(desc, "a,j");
	assert_int_equal(model_policy_list(&pr, "a,nosuch", 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nosuch"));
	assert_int_equal(model_policy_list(&pr, "a,nosuch", 1, err, sizeof(err)), 0);
	assert_int_equal(model_policy_list(&pr, "a,,b", 0, err, sizeof(err)), -EINVAL);
	/* all and none */
	model_policy_all(&pr);
	assert_int_equal(model_forwarded_syscalls(&pr, NULL), 10);
	model_policy_none(&pr);
	model_policy_describe(&pr, desc, sizeof(desc));
	assert_string_equal(desc, "(none)");
	model_profile_free(&pr);
}

static const char forwarded_profile[] =
	"# ferry-profile 1\n"
	"# program /bin/prog\n"
	"# pid 7\n"
	"# start_ticks 99\n"
	"# wall_ns 2000000000\n"
	"# syscall_ns 600000000\n"
	"# calls 1100\n"
	"syscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,forwarded_ns\n"
	"write,1,1000,500000000,250,50000000,750,450000000\n"
	"getppid,110,100,100000000,100,100000000,0,0\n"
	"# ferry-profile 1\n"
	"# program /bin/other\n"
	"# pid 7\n"
	"# wall_ns 1000000000\n"
	"syscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,forwarded_ns\n"
	"write,1,10,1000000,0,0,10,1000000\n"
	"other,-1,2,2000,2,2000,0,0\n";

static void policy_ferry(void **state)
{
	struct model_profile pr = { 0 }, base = { 0 };
	static const char *const names[] = { "write", "getppid", "stat" };
	static const uint64_t calls[] = { 1010, 100, 5 };
	static const double secs[] = { 0.2, 0.1, 0.01 };
	char err[256];

	(void)state;
	assert_int_equal(read_any(forwarded_profile, &pr, err, sizeof(err)), 0);
	/* two blocks (an exec chain): summed */
	assert_int_equal(pr.blocks, 2);
	assert_int_equal(pr.n, 3);
	assert_true(fabs(pr.wall_s - 3.0) < 1e-9);
	assert_true(fabs(pr.syscall_s - 0.601002) < 1e-9);
	assert_int_equal(pr.calls, 1112);
	assert_string_equal(pr.program, "/bin/prog");
	/* its own split: 760 of 1010 writes forwarded */
	model_policy_ferry(&pr, NULL);
	assert_true(fabs(b_of(&pr, "write") - 760.0 / 1010.0) < 1e-12);
	assert_true(b_of(&pr, "getppid") == 0 && b_of(&pr, "other") == 0);
	/* from another profile: a baseline's times, the forwarded run's split */
	make_profile(&base, 1.0, 3, names, calls, secs);
	model_policy_ferry(&base, &pr);
	assert_true(fabs(b_of(&base, "write") - 760.0 / 1010.0) < 1e-12);
	assert_true(b_of(&base, "stat") == 0); /* not in the forwarded run */
	/* time = C + g + 2 f_c (b n): C = 0.69, f_c = 10 us: 760 x 20 us = 15.2 ms */
	assert_true(fabs(model_refined_time(&base, 0.69, 1, 10e-6) - (0.69 + 0.31 + 0.0152)) < 1e-9);
	model_profile_free(&pr);
	model_profile_free(&base);
}

/* ---- readers ---- */

static const char strace_ok[] =
	"hello from the program\n"
	"% time     seconds  usecs/call     calls    errors syscall\n"
	"------ ----------- ----------- --------- --------- ----------------\n"
	" 80.00    0.008000           8      1000           write\n"
	" 15.00    0.001500          15       100        12 openat\n"
	"  5.00    0.000500           0       700           getppid\n"
	"------ ----------- ----------- --------- --------- ----------------\n"
	"100.00    0.010000           5      1800        12 total\n";

static void strace_valid(void **state)
{
	struct model_profile pr = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(read_any(strace_ok, &pr, err, sizeof(err)), 0);
	assert_int_equal(pr.n, 3);
	assert_string_equal(pr.sc[0].name, "write");
	assert_int_equal(pr.sc[0].calls, 1000);
	assert_true(fabs(pr.sc[0].time_s - 0.008) < 1e-12);
	assert_string_equal(pr.sc[1].name, "openat");
	assert_int_equal(pr.sc[1].calls, 100);
	assert_int_equal(pr.calls, 1800);
	assert_true(fabs(pr.syscall_s - 0.01) < 1e-12);
	assert_true(pr.wall_s < 0); /* strace -c has no wall time */
	assert_true(model_compute_time(&pr) < 0);
	model_profile_free(&pr);
}

static void expect_bad(const char *input, const char *what)
{
	struct model_profile pr = { 0 };
	char err[256] = "";

	assert_int_equal(read_any(input, &pr, err, sizeof(err)), -EINVAL);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not mention \"%s\"", err, what);
	model_profile_free(&pr);
}

static void strace_malformed(void **state)
{
	(void)state;
	expect_bad("nothing here\n", "no strace -c table");
	expect_bad("", "no strace -c table");
	expect_bad("% time     seconds  usecs/call     calls    errors syscall\n"
		   " 80.00    0.008000           8      1000           write\n",
		   "dashes");
	expect_bad("% time     seconds  usecs/call     calls    errors syscall\n"
		   "------ ----------- ----------- --------- --------- ----------------\n"
		   " 80.00    0.00x000           8      1000           write\n",
		   "line 3");
	expect_bad("% time     seconds  usecs/call     calls    errors syscall\n"
		   "------ ----------- ----------- --------- --------- ----------------\n"
		   " 80.00    0.008000           8      -100           write\n",
		   "calls");
	expect_bad("% time     seconds  usecs/call     calls    errors syscall\n"
		   "------ ----------- ----------- --------- --------- ----------------\n"
		   " 80.00    0.008000           8      1000   1   2   3  write\n",
		   "too many");
	expect_bad("% time     seconds  usecs/call     calls    errors syscall\n"
		   "------ ----------- ----------- --------- --------- ----------------\n"
		   " 80.00    0.008000           8      1000         wr/te\n",
		   "bad syscall name");
	expect_bad("% time     seconds  usecs/call     calls    errors syscall\n"
		   "------ ----------- ----------- --------- --------- ----------------\n",
		   "cut short");
}

static void profile_malformed(void **state)
{
	static const char head[] = "# ferry-profile 1\n# wall_ns 100\n"
				   "syscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,"
				   "forwarded_ns\n";
	char buf[1024];

	(void)state;
	expect_bad("# ferry-profile 2\n", "unknown profile version");
	expect_bad("# ferry-profile 1\n# wall_ns 100\nsyscall,calls\n", "column line");
	snprintf(buf, sizeof(buf), "%swrite,1,10,100,5,50,5,40\n", head);
	expect_bad(buf, "do not add up");
	snprintf(buf, sizeof(buf), "%swrite,1,10,100,5,50,x,50\n", head);
	expect_bad(buf, "bad forwarded_calls");
	snprintf(buf, sizeof(buf), "%swrite,1,10,100,10,100\n", head);
	expect_bad(buf, "expected 8");
	snprintf(buf, sizeof(buf), "%swrite,1,10,100,10,100,0,0,9\n", head);
	expect_bad(buf, "expected 8");
	snprintf(buf, sizeof(buf), "%swr ite,1,10,100,10,100,0,0\n", head);
	expect_bad(buf, "bad syscall name");
	expect_bad("# ferry-profile 1\n"
		   "syscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,forwarded_ns\n",
		   "wall_ns");
	expect_bad("# ferry-profile 1\n# wall_ns -5\n", "bad wall_ns");
	{
		/* a valid one still reads after all that */
		struct model_profile pr = { 0 };
		char err[128];

		snprintf(buf, sizeof(buf), "%swrite,1,10,100,10,100,0,0\n", head);
		assert_int_equal(read_any(buf, &pr, err, sizeof(err)), 0);
		assert_int_equal(pr.n, 1);
		assert_true(fabs(pr.wall_s - 100e-9) < 1e-15);
		model_profile_free(&pr);
	}
}

static int read_fc(const char *s, const char *prov, double *fc, char *err, size_t errlen)
{
	FILE *f = text(s);
	int rc = model_read_fc(f, prov, fc, err, errlen);

	fclose(f);
	return rc;
}

static void fc_from_bench(void **state)
{
	char err[256];
	double fc = 0;

	(void)state;
	/* perf/run_bench.sh's results.csv */
	assert_int_equal(read_fc("provider,op,size,ferry_median_us,ferry_p99_us,native_median_us\n"
				 "shm,fabric_oneway,64,,,\n"
				 "shm,fwd_null_call,0,3.000,4.1,\n"
				 "tcp,fwd_null_call,0,30.000,40,\n",
				 "tcp", &fc, err, sizeof(err)),
			 0);
	assert_true(fabs(fc - 15.0) < 1e-12);
	assert_int_equal(read_fc("provider,op,size,ferry_median_us\nshm,fwd_null_call,0,3.0\n",
				 NULL, &fc, err, sizeof(err)),
			 0);
	assert_true(fabs(fc - 1.5) < 1e-12);
	/* the same with a clients column, comment lines and more than one
	 * client count: the one-client row */
	assert_int_equal(read_fc("provider,op,size,clients,ferry_median_us,ferry_p99_us\n"
				 "# date: 2026-11-22T04:00:00Z\n"
				 "# cpu: x, y\n"
				 "tcp,null_call,0,4,80.0,90\n"
				 "tcp,null_call,0,1,20.0,30\n"
				 "shm,null_call,0,1,2.0,3\n",
				 "tcp", &fc, err, sizeof(err)),
			 0);
	assert_true(fabs(fc - 10.0) < 1e-12);
	/* ferry-forward-bench --csv rows: one client preferred */
	assert_int_equal(read_fc("null_call,0,4,9.000,10\nnull_call,0,1,5.000,6\nstat,0,1,8,9\n",
				 NULL, &fc, err, sizeof(err)),
			 0);
	assert_true(fabs(fc - 2.5) < 1e-12);
	assert_int_equal(read_fc("stat,0,1,8,9\n", NULL, &fc, err, sizeof(err)), -EINVAL);
	assert_int_equal(read_fc("provider,op,size,ferry_median_us\nshm,fwd_null_call,0,3.0\n",
				 "tcp", &fc, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(read_fc("null_call,0,1,abc\n", NULL, &fc, err, sizeof(err)), -EINVAL);
	assert_int_equal(read_fc("provider,size\nshm,0\n", NULL, &fc, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(naive_limits),
		cmocka_unit_test(refined_reduces_to_naive),
		cmocka_unit_test(hand_computed),
		cmocka_unit_test(policy_selection),
		cmocka_unit_test(policy_ferry),
		cmocka_unit_test(strace_valid),
		cmocka_unit_test(strace_malformed),
		cmocka_unit_test(profile_malformed),
		cmocka_unit_test(fc_from_bench),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
