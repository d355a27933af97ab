/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded I/O from threads with small stacks: glibc's POSIX AIO helper
 * threads (aio_write/aio_read, which MPI-IO's OMPIO uses) and a pthread
 * with a 32 KiB stack.
 *   small_stacks FILE
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LEN 32768

static char out[LEN], in[LEN];

static int aio_wait(struct aiocb *cb)
{
	const struct aiocb *list[1] = { cb };

	while (aio_error(cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
	return (int)aio_return(cb);
}

static void *small_thread(void *path)
{
	int fd = open(path, O_RDONLY);
	char c = 0;

	if (fd < 0 || pread(fd, &c, 1, LEN - 1) != 1 || c != out[LEN - 1])
		return (void *)1;
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct aiocb cb;
	pthread_attr_t attr;
	pthread_t th;
	void *res = (void *)1;
	int fd;

	if (argc != 2 || !strcmp(argv[1], "--help")) {
		fprintf(argc != 2 ? stderr : stdout, "usage: small_stacks FILE\n");
		return argc != 2 ? 2 : 0;
	}
	for (int i = 0; i < LEN; i++)
		out[i] = (char)('a' + i % 26);
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = out;
	cb.aio_nbytes = LEN;
	if (aio_write(&cb) || aio_wait(&cb) != LEN) {
		fprintf(stderr, "aio_write failed\n");
		return 1;
	}
	cb.aio_buf = in;
	if (aio_read(&cb) || aio_wait(&cb) != LEN || memcmp(in, out, LEN)) {
		fprintf(stderr, "aio_read failed or differs\n");
		return 1;
	}
	close(fd);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 32 << 10);
	if (pthread_create(&th, &attr, small_thread, argv[1]) || pthread_join(th, &res) || res) {
		fprintf(stderr, "forwarded pread from a 32 KiB-stack thread failed\n");
		return 1;
	}
	printf("small_stacks: aio and a 32 KiB-stack thread work\n");
	return 0;
}
