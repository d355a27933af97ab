/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-synthetic: the synthetic benchmark of the delegation model's
 * validation (like the paper's): phases of computation of varying size,
 * each followed by a burst of system calls dominated by write.  Where the
 * files live decides what Ferry forwards: DIR under /pfs forwards the data
 * calls (write, pread64, lseek, fsync), --meta-dir under /pfs the metadata
 * calls (newfstatat, openat, close).  getppid always stays local.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct opts {
	long phases, compute, writes, write_size, reads, stats, opens, getppids, fsyncs;
	double vary;
	uint64_t seed;
	const char *dir, *meta_dir;
	int keep;
	long calibrate;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ferry-synthetic [options] DIR\n"
		"\n"
		"Phases of computation of varying size, each followed by a burst of system\n"
		"calls dominated by write: writes of --write-size bytes to DIR/data (from\n"
		"offset 0 again each phase: one lseek), preads of it, stats and open+close\n"
		"of a file in --meta-dir, getppid, fsync.  Run it under ferry-exec with DIR\n"
		"(or --meta-dir) under a forwarded mount to forward those calls.\n"
		"\n"
		"Options (per phase unless said):\n"
		"  --phases N        phases (default 10)\n"
		"  --compute M       compute work, millions of floating-point iterations\n"
		"                    (default 20)\n"
		"  --vary F          each phase's compute is M x (1 +- F), drawn at random\n"
		"                    (default 0.5)\n"
		"  --writes N        write calls (default 2000)\n"
		"  --write-size B    bytes per write (default 4096)\n"
		"  --reads N         pread64 calls of --write-size bytes (default 100)\n"
		"  --stats N         stat calls on the meta file (default 200)\n"
		"  --opens N         open+close of the meta file (default 50)\n"
		"  --getppids N      getppid calls, always local (default 50)\n"
		"  --fsyncs N        fsync calls on the data file (default 0)\n"
		"  --meta-dir DIR2   where the meta file lives (default DIR)\n"
		"  --seed S          seed of the phase sizes (default 1)\n"
		"  --keep            leave the files (default: removed at the end)\n"
		"  --calibrate N     instead of the phases: N lseek(fd, 0, SEEK_CUR) calls on\n"
		"                    the data file, timed one by one; prints their median and\n"
		"                    mean in microseconds (an lseek does nearly nothing, so\n"
		"                    under Ferry with DIR forwarded it is a round trip: f_c is\n"
		"                    half the difference with the native time)\n"
		"  -h, --help        this text\n"
		"\n"
		"Prints one line: phases, wall_s (main's own run time), compute_s, io_s\n"
		"(time in the bursts) and calls (system calls the bursts made).\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng(uint64_t *s)
{
	uint64_t x = *s ? *s : 88172645463325252ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static volatile double sink;

/* iters floating-point multiply-adds: fixed work, no syscall. */
static void compute(long iters)
{
	double a = 1.0, b = 0.999999, c = 1e-9;

	for (long i = 0; i < iters; i++)
		a = a * b + c;
	sink = a;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median and mean time of n lseek(fd, 0, SEEK_CUR), in microseconds;
 * the median < 0 on error. */
static double calibrate(int fd, long n, double *mean)
{
	double *t = malloc((size_t)n * sizeof(*t)), med, sum = 0;

	if (!t)
		return -1;
	for (long i = 0; i < n; i++) {
		double a = now_s();

		if (lseek(fd, 0, SEEK_CUR) < 0) {
			free(t);
			return -1;
		}
		t[i] = (now_s() - a) * 1e6;
		sum += t[i];
	}
	*mean = sum / (double)n;
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	free(t);
	return med;
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "ferry-synthetic: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static int parse_long(const char *s, long *v, long min)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *v >= min;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "phases", required_argument, NULL, 'p' },
		{ "compute", required_argument, NULL, 'c' },
		{ "vary", required_argument, NULL, 'v' },
		{ "writes", required_argument, NULL, 'w' },
		{ "write-size", required_argument, NULL, 'b' },
		{ "reads", required_argument, NULL, 'r' },
		{ "stats", required_argument, NULL, 's' },
		{ "opens", required_argument, NULL, 'o' },
		{ "getppids", required_argument, NULL, 'g' },
		{ "fsyncs", required_argument, NULL, 'f' },
		{ "meta-dir", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 'S' },
		{ "keep", no_argument, NULL, 'k' },
		{ "calibrate", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .phases = 10, .compute = 20, .writes = 2000, .write_size = 4096,
			  .reads = 100, .stats = 200, .opens = 50, .getppids = 50, .vary = 0.5,
			  .seed = 1 };
	char data[4096], meta[4096], *buf;
	double t0, t_compute = 0, t_io = 0;
	long calls = 0, v;
	int c, fd;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		long *dst = NULL;
		long min = 0;

		switch (c) {
		case 'p': dst = &o.phases; min = 1; break;
		case 'c': dst = &o.compute; break;
		case 'w': dst = &o.writes; break;
		case 'b': dst = &o.write_size; min = 1; break;
		case 'r': dst = &o.reads; break;
		case 's': dst = &o.stats; break;
		case 'o': dst = &o.opens; break;
		case 'g': dst = &o.getppids; break;
		case 'f': dst = &o.fsyncs; break;
		case 'C': dst = &o.calibrate; min = 1; break;
		case 'v': {
			char *end;

			o.vary = strtod(optarg, &end);
			if (*end || end == optarg || !(o.vary >= 0 && o.vary < 1)) {
				fprintf(stderr, "ferry-synthetic: bad --vary %s (0 <= F < 1)\n", optarg);
				return 2;
			}
			continue;
		}
		case 'S':
			if (!parse_long(optarg, &v, 0)) {
				fprintf(stderr, "ferry-synthetic: bad --seed %s\n", optarg);
				return 2;
			}
			o.seed = (uint64_t)v;
			continue;
		case 'm': o.meta_dir = optarg; continue;
		case 'k': o.keep = 1; continue;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (!parse_long(optarg, dst, min)) {
			fprintf(stderr, "ferry-synthetic: bad value %s\n", optarg);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	o.dir = argv[optind];
	if (!o.meta_dir)
		o.meta_dir = o.dir;
	if (o.write_size > (64L << 20)) {
		fprintf(stderr, "ferry-synthetic: --write-size at most 64 MiB\n");
		return 2;
	}
	snprintf(data, sizeof(data), "%s/synthetic-data.%ld", o.dir, (long)getpid());
	snprintf(meta, sizeof(meta), "%s/synthetic-meta.%ld", o.meta_dir, (long)getpid());
	buf = malloc((size_t)o.write_size);
	if (!buf) {
		fprintf(stderr, "ferry-synthetic: out of memory\n");
		return 1;
	}
	memset(buf, 'x', (size_t)o.write_size);

	t0 = now_s();
	fd = open(data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("cannot create", data);
	{
		int m = open(meta, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (m < 0)
			return fail("cannot create", meta);
		if (close(m) < 0)
			return fail("cannot close", meta);
	}
	if (o.calibrate > 0) {
		double mean, med = calibrate(fd, o.calibrate, &mean);

		if (med < 0)
			return fail("cannot lseek", data);
		if (close(fd) < 0)
			return fail("cannot close", data);
		if (unlink(data) < 0 || unlink(meta) < 0)
			return fail("cannot remove", data);
		printf("ferry-synthetic: calibrate calls=%ld lseek_median_us=%.3f lseek_mean_us=%.3f\n",
		       o.calibrate, med, mean);
		free(buf);
		return 0;
	}
	for (long ph = 0; ph < o.phases; ph++) {
		double u = (double)(rng(&o.seed) % 1000001) / 1e6;
		long iters = (long)((double)o.compute * 1e6 * (1.0 + o.vary * (2.0 * u - 1.0)));
		double t1 = now_s(), t2;

		compute(iters);
		t2 = now_s();
		t_compute += t2 - t1;
		if (lseek(fd, 0, SEEK_SET) < 0)
			return fail("cannot lseek", data);
		calls++;
		for (long i = 0; i < o.writes; i++) {
			ssize_t n = write(fd, buf, (size_t)o.write_size);

			if (n != o.write_size) {
				if (n >= 0)
					errno = EIO;
				return fail("cannot write", data);
			}
		}
		calls += o.writes;
		for (long i = 0; i < o.reads; i++) {
			off_t off = o.writes > 0 ? (off_t)(i % o.writes) * o.write_size : 0;

			if (pread(fd, buf, (size_t)o.write_size, off) < 0)
				return fail("cannot read", data);
		}
		calls += o.reads;
		for (long i = 0; i < o.stats; i++) {
			struct stat st;

			if (stat(meta, &st) < 0)
				return fail("cannot stat", meta);
		}
		calls += o.stats;
		for (long i = 0; i < o.opens; i++) {
			int m = open(meta, O_RDONLY | O_CLOEXEC);

			if (m < 0)
				return fail("cannot open", meta);
			if (close(m) < 0)
				return fail("cannot close", meta);
		}
		calls += 2 * o.opens;
		for (long i = 0; i < o.getppids; i++)
			sink += getppid();
		calls += o.getppids;
		for (long i = 0; i < o.fsyncs; i++)
			if (fsync(fd) < 0)
				return fail("cannot fsync", data);
		calls += o.fsyncs;
		t_io += now_s() - t2;
	}
	if (close(fd) < 0)
		return fail("cannot close", data);
	if (!o.keep && (unlink(data) < 0 || unlink(meta) < 0))
		return fail("cannot remove", data);
	printf("ferry-synthetic: phases=%ld wall_s=%.6f compute_s=%.6f io_s=%.6f calls=%ld\n",
	       o.phases, now_s() - t0, t_compute, t_io, calls);
	free(buf);
	return 0;
}
