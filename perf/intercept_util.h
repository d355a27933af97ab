/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What ferry-intercept-bench and ferry-intercept-interleaved share: the
 * clock, the sort for medians, and glibc's own functions found past the
 * symbols the runtime interposes.
 */
#ifndef FERRY_PERF_INTERCEPT_UTIL_H
#define FERRY_PERF_INTERCEPT_UTIL_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_clock_ns(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* glibc's own NAME in libc.so.6 (not an interposed symbol of the same
 * name); prog names the program in the message when it is missing. */
static inline void *bench_libc_symbol(const char *prog, const char *name)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *p = libc ? dlsym(libc, name) : NULL;

	if (!libc) {
		fprintf(stderr, "%s: libc.so.6: %s\n", prog, dlerror());
		exit(1);
	}
	if (!p) {
		fprintf(stderr, "%s: %s not in libc.so.6\n", prog, name);
		exit(1);
	}
	return p;
}

#endif
