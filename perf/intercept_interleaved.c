/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-intercept-interleaved: the interception figures of
 * ferry-intercept-bench, measured in one process with the calls
 * interleaved (a block of each call in turn, 61 rounds, median), so that
 * the drift of a shared machine between processes and between rounds
 * cancels.  Run it natively and under ferry-exec (FERRY_FASTPATH=1) and
 * compare each call's cost relative to getppid in the same process.
 * Calls (CPU ns per call of this thread):
 *   getppid_libc       glibc's getppid (a rewritten site: straight to the kernel)
 *   lseek_interposed   lseek through the ordinary symbol (the runtime's)
 *   lseek_libc         glibc's own lseek (a rewritten site: the lean entry)
 *   read_interposed    read through the ordinary symbol
 *   read_libc          glibc's own read (its site cannot be rewritten: SIGSYS)
 *   write_interposed   write through the ordinary symbol
 *   write_libc         glibc's own write (a rewritten site: the lean entry)
 * One CSV line per call: mode,call,calls_per_block,rounds,median_ns,q1_ns,q3_ns
 *   ferry-intercept-interleaved [--mode NAME]
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "intercept_util.h"

#define NCALLS 7
#define ROUNDS 61
#define BLOCK 5000

static const char *const call_names[NCALLS] = {
	"getppid_libc", "lseek_interposed", "lseek_libc", "read_interposed",
	"read_libc",    "write_interposed", "write_libc",
};

int main(int argc, char **argv)
{
	static double t[NCALLS][ROUNDS];
	static const char prog[] = "ferry-intercept-interleaved";
	pid_t (*getppid_libc)(void);
	off_t (*lseek_libc)(int, off_t, int);
	ssize_t (*read_libc)(int, void *, size_t);
	ssize_t (*write_libc)(int, const void *, size_t);
	const char *mode = "native";
	int zero_fd, null_fd, k, r, i;
	char byte = 0;

	if (argc == 3 && strcmp(argv[1], "--mode") == 0) {
		mode = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "usage: ferry-intercept-interleaved [--mode NAME]\n");
		return 2;
	}
	*(void **)&getppid_libc = bench_libc_symbol(prog, "getppid");
	*(void **)&lseek_libc = bench_libc_symbol(prog, "lseek");
	*(void **)&read_libc = bench_libc_symbol(prog, "read");
	*(void **)&write_libc = bench_libc_symbol(prog, "write");
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (zero_fd < 0 || null_fd < 0) {
		perror("ferry-intercept-interleaved: /dev/zero, /dev/null");
		return 1;
	}
	/* Three rounds of warm-up (and rewriting), then the measured ones. */
	for (r = -3; r < ROUNDS; r++) {
		for (k = 0; k < NCALLS; k++) {
			/* The SIGSYS path is slow: a tenth of the calls. */
			int n = k == 4 ? BLOCK / 10 : BLOCK, bad = 0;
			double t0 = bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);

			for (i = 0; i < n; i++) {
				switch (k) {
				case 0: bad |= getppid_libc() <= 0; break;
				case 1: bad |= lseek(null_fd, 0, SEEK_CUR) != 0; break;
				case 2: bad |= lseek_libc(null_fd, 0, SEEK_CUR) != 0; break;
				case 3: bad |= read(zero_fd, &byte, 1) != 1; break;
				case 4: bad |= read_libc(zero_fd, &byte, 1) != 1; break;
				case 5: bad |= write(null_fd, &byte, 1) != 1; break;
				default: bad |= write_libc(null_fd, &byte, 1) != 1; break;
				}
			}
			if (bad) {
				fprintf(stderr, "ferry-intercept-interleaved: %s failed\n", call_names[k]);
				return 1;
			}
			if (r >= 0)
				t[k][r] = (bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / n;
		}
	}
	for (k = 0; k < NCALLS; k++) {
		qsort(t[k], ROUNDS, sizeof(t[k][0]), bench_cmp_double);
		printf("%s,%s,%d,%d,%.1f,%.1f,%.1f\n", mode, call_names[k], k == 4 ? BLOCK / 10 : BLOCK,
		       ROUNDS, t[k][ROUNDS / 2], t[k][ROUNDS / 4], t[k][3 * ROUNDS / 4]);
	}
	return 0;
}
