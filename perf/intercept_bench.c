/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-intercept-bench: what the runtime's interception adds to one call.
 * Run it natively, under ferry-exec with FERRY_FASTPATH=0 (every call a
 * SIGSYS trap) and with the fast path on, twice: --libc-direct calls glibc's
 * own functions (found with dlsym in libc.so.6, past the runtime's
 * interposed symbols: rewritten sites, and SIGSYS where a site cannot be
 * rewritten, as glibc's read), and without it the calls go through the
 * ordinary symbols, which the runtime interposes (read, write, pread,
 * lseek, ...).  perf/run_intercept_bench.sh does all four.
 *
 * Calls timed, each in a loop, median (and minimum) over rounds:
 *   getppid_libc    libc's getppid() (a `mov $110,%eax; syscall` wrapper)
 *   getppid_inline  the same syscall from this program's own code
 *   lseek_local     lseek(fd, 0, SEEK_CUR) of /dev/null: a call the
 *                   dispatcher looks at (FD class) and runs locally
 *   read_local      read(fd, buf, 1) of /dev/zero (glibc's read site
 *                   cannot be rewritten)
 *   write_local     write(fd, buf, 1) to /dev/null
 *   pread_1b        pread(fd, buf, 1, 0) of --file (forwarded when it is
 *                   under a mounted prefix), if --file is given
 * One CSV line per call on stdout:
 *   mode,call,iterations,rounds,median_ns,min_ns,cpu_median_ns
 * (elapsed per call: median and minimum over rounds; CPU time of this thread
 * per call: median)
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "intercept_util.h"

/* A call site of our own, 16-byte aligned: rewritable like libc's. */
__asm__(".text\n.balign 16\n.type bench_getppid_site, @function\nbench_getppid_site:\n"
	"\tmovl $110, %eax\n\tsyscall\n\tret\n.size bench_getppid_site, . - bench_getppid_site\n");
long bench_getppid_site(void);

enum bench_call { CALL_GETPPID_LIBC, CALL_GETPPID_INLINE, CALL_LSEEK, CALL_READ, CALL_WRITE,
		  CALL_PREAD };

static int bench_fd = -1, null_fd = -1, zero_fd = -1;

/* The functions timed: the ordinary symbols, or glibc's own (--libc-direct). */
static pid_t (*fn_getppid)(void) = getppid;
static off_t (*fn_lseek)(int, off_t, int) = lseek;
static ssize_t (*fn_read)(int, void *, size_t) = read;
static ssize_t (*fn_write)(int, const void *, size_t) = write;
static ssize_t (*fn_pread)(int, void *, size_t, off_t) = pread;

static void use_libc_direct(void)
{
	static const char prog[] = "ferry-intercept-bench";

	*(void **)&fn_getppid = bench_libc_symbol(prog, "getppid");
	*(void **)&fn_lseek = bench_libc_symbol(prog, "lseek");
	*(void **)&fn_read = bench_libc_symbol(prog, "read");
	*(void **)&fn_write = bench_libc_symbol(prog, "write");
	*(void **)&fn_pread = bench_libc_symbol(prog, "pread");
}

/* ns per call of `iterations` calls, elapsed and on this thread's CPU
 * (which a shared machine's other work does not inflate); exits on a failed
 * call. */
static double bench_round(enum bench_call call, long iterations, double *cpu)
{
	char byte = 0;
	double t0, t1, c0, c1;
	long i;

	c0 = bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = bench_clock_ns(CLOCK_MONOTONIC);
	switch (call) {
	case CALL_GETPPID_LIBC:
		for (i = 0; i < iterations; i++)
			if (fn_getppid() <= 0)
				goto fail;
		break;
	case CALL_GETPPID_INLINE:
		for (i = 0; i < iterations; i++)
			if (bench_getppid_site() <= 0)
				goto fail;
		break;
	case CALL_LSEEK:
		for (i = 0; i < iterations; i++)
			if (fn_lseek(null_fd, 0, SEEK_CUR) != 0)
				goto fail;
		break;
	case CALL_READ:
		for (i = 0; i < iterations; i++)
			if (fn_read(zero_fd, &byte, 1) != 1)
				goto fail;
		break;
	case CALL_WRITE:
		for (i = 0; i < iterations; i++)
			if (fn_write(null_fd, &byte, 1) != 1)
				goto fail;
		break;
	case CALL_PREAD:
		for (i = 0; i < iterations; i++)
			if (fn_pread(bench_fd, &byte, 1, 0) != 1)
				goto fail;
		break;
	}
	t1 = bench_clock_ns(CLOCK_MONOTONIC);
	c1 = bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	*cpu = (c1 - c0) / (double)iterations;
	return (t1 - t0) / (double)iterations;
fail:
	fprintf(stderr, "ferry-intercept-bench: call %d failed: %s\n", (int)call, strerror(errno));
	exit(1);
}

static void bench(const char *mode, const char *name, enum bench_call call, long iterations,
		  int rounds)
{
	double t[64], c[64], unused;
	int r;

	(void)bench_round(call, iterations / 10 + 1, &unused); /* warm-up, rewriting */
	for (r = 0; r < rounds; r++)
		t[r] = bench_round(call, iterations, &c[r]);
	qsort(t, (size_t)rounds, sizeof(t[0]), bench_cmp_double);
	qsort(c, (size_t)rounds, sizeof(c[0]), bench_cmp_double);
	printf("%s,%s,%ld,%d,%.1f,%.1f,%.1f\n", mode, name, iterations, rounds, t[rounds / 2],
	       t[0], c[rounds / 2]);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ferry-intercept-bench [--mode NAME] [--iterations N] [--io-iterations N]\n"
		"                             [--rounds R] [--file PATH] [--libc-direct] [--header]\n"
		"Times getppid through libc and from an inline syscall, lseek of /dev/null, a\n"
		"1-byte read of /dev/zero and write to /dev/null (and a 1-byte pread of PATH),\n"
		"N calls per round (default 1000000; pread: 20000), median of R rounds\n"
		"(default 7, at most 63).  Prints mode,call,iterations,rounds,median_ns,min_ns,\n"
		"cpu_median_ns (elapsed, and this thread's CPU time, per call);\n"
		"--libc-direct calls glibc's own functions (dlsym in libc.so.6), not the\n"
		"symbols a preloaded runtime interposes.\n"
		"--header prints the column names first.  Run it natively and under ferry-exec\n"
		"(FERRY_FASTPATH=0 and 1) to compare; perf/run_intercept_bench.sh does that.\n");
}

int main(int argc, char **argv)
{
	const char *mode = "native", *file = NULL;
	long iterations = 1000000, io_iterations = 20000;
	int rounds = 7, header = 0, libc_direct = 0, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--header")) {
			header = 1;
		} else if (!strcmp(a, "--libc-direct")) {
			libc_direct = 1;
		} else if (i + 1 < argc && !strcmp(a, "--mode")) {
			mode = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--iterations")) {
			iterations = atol(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--io-iterations")) {
			io_iterations = atol(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--rounds")) {
			rounds = atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--file")) {
			file = argv[++i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (iterations < 1 || io_iterations < 1 || rounds < 1 || rounds > 63) {
		usage(stderr);
		return 2;
	}
	if (libc_direct)
		use_libc_direct();
	if (header)
		printf("mode,call,iterations,rounds,median_ns,min_ns,cpu_median_ns\n");
	bench(mode, "getppid_libc", CALL_GETPPID_LIBC, iterations, rounds);
	bench(mode, "getppid_inline", CALL_GETPPID_INLINE, iterations, rounds);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0 || zero_fd < 0) {
		fprintf(stderr, "ferry-intercept-bench: /dev/null, /dev/zero: %s\n", strerror(errno));
		return 1;
	}
	bench(mode, "lseek_local", CALL_LSEEK, iterations, rounds);
	bench(mode, "read_local", CALL_READ, iterations, rounds);
	bench(mode, "write_local", CALL_WRITE, iterations, rounds);
	if (file) {
		bench_fd = open(file, O_RDONLY | O_CLOEXEC);
		if (bench_fd < 0) {
			fprintf(stderr, "ferry-intercept-bench: %s: %s\n", file, strerror(errno));
			return 1;
		}
		bench(mode, "pread_1b", CALL_PREAD, io_iterations, rounds);
		if (close(bench_fd) != 0) {
			fprintf(stderr, "ferry-intercept-bench: close %s: %s\n", file,
				strerror(errno));
			return 1;
		}
	}
	return 0;
}
