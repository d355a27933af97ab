/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 8 threads: each writes its own file, and all write one shared file with
 * pwrite at distinct offsets, in small interleaved pieces so that the
 * forwarded calls overlap.  Then every byte is read back and checked.
 *   pwrite_threads DIR [BLOCKS]
 * Exit 0 when everything matches; prints what differs otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHREADS 8
#define BLOCK 4096

static const char *dir;
static int shared_fd;
static long nblocks = 64;

static unsigned char pattern(int thread, long block, long i)
{
	return (unsigned char)(thread * 31 + block * 7 + i);
}

static void fill(unsigned char *buf, int thread, long block)
{
	for (long i = 0; i < BLOCK; i++)
		buf[i] = pattern(thread, block, i);
}

static int write_all(int fd, const unsigned char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static void *writer(void *arg)
{
	int t = (int)(long)arg;
	unsigned char buf[BLOCK];
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/own-%d.dat", dir, t);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "thread %d: open %s: %s\n", t, path, strerror(errno));
		return (void *)1;
	}
	for (long b = 0; b < nblocks; b++) {
		fill(buf, t, b);
		/* Shared file: block b of thread t lives at (b * NTHREADS + t). */
		if (write_all(shared_fd, buf, BLOCK, (off_t)(b * NTHREADS + t) * BLOCK) ||
		    write(fd, buf, BLOCK) != BLOCK) {
			fprintf(stderr, "thread %d: write: %s\n", t, strerror(errno));
			close(fd);
			return (void *)1;
		}
	}
	if (close(fd)) {
		fprintf(stderr, "thread %d: close: %s\n", t, strerror(errno));
		return (void *)1;
	}
	return NULL;
}

static int verify(const char *path, int fd, int only_thread)
{
	unsigned char got[BLOCK], want[BLOCK];
	long total = only_thread < 0 ? nblocks * NTHREADS : nblocks;

	for (long k = 0; k < total; k++) {
		int t = only_thread < 0 ? (int)(k % NTHREADS) : only_thread;
		long b = only_thread < 0 ? k / NTHREADS : k;

		if (pread(fd, got, BLOCK, (off_t)k * BLOCK) != BLOCK) {
			fprintf(stderr, "%s: short read at block %ld\n", path, k);
			return 1;
		}
		fill(want, t, b);
		if (memcmp(got, want, BLOCK)) {
			fprintf(stderr, "%s: block %ld differs\n", path, k);
			return 1;
		}
	}
	if (lseek(fd, 0, SEEK_END) != (off_t)total * BLOCK) {
		fprintf(stderr, "%s: wrong size\n", path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];
	char path[4096];
	int bad = 0;

	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout, "usage: pwrite_threads DIR [BLOCKS]\n");
		return argc < 2 ? 2 : 0;
	}
	dir = argv[1];
	if (argc > 2)
		nblocks = atol(argv[2]);
	snprintf(path, sizeof(path), "%s/shared.dat", dir);
	shared_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (shared_fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (long t = 0; t < NTHREADS; t++)
		if (pthread_create(&th[t], NULL, writer, (void *)t)) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (int t = 0; t < NTHREADS; t++) {
		void *r;

		pthread_join(th[t], &r);
		bad |= r != NULL;
	}
	bad |= verify(path, shared_fd, -1);
	close(shared_fd);
	for (int t = 0; t < NTHREADS && !bad; t++) {
		int fd;

		snprintf(path, sizeof(path), "%s/own-%d.dat", dir, t);
		fd = open(path, O_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "open %s: %s\n", path, strerror(errno));
			return 1;
		}
		bad |= verify(path, fd, t);
		close(fd);
	}
	printf("pwrite_threads: %d threads x %ld blocks: %s\n", NTHREADS, nblocks,
	       bad ? "MISMATCH" : "all bytes verified");
	return bad;
}
