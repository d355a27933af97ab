/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork shares the open file description: parent and child write through the
 * same descriptor in turn and the offsets follow each other; a close in the
 * child leaves the parent's descriptor open; reads share the offset too.
 *   fork_share FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_child(int fd, const char *what)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		size_t len = strlen(what);

		if (write(fd, what, len) != (ssize_t)len)
			_exit(10);
		/* Closing here must not close the parent's. */
		if (close(fd))
			_exit(11);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	char buf[64] = "";
	int fd, rc;
	pid_t pid;

	if (argc != 2 || !strcmp(argv[1], "--help")) {
		fprintf(argc != 2 ? stderr : stdout, "usage: fork_share FILE\n");
		return argc != 2 ? 2 : 0;
	}
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (write(fd, "parent1\n", 8) != 8)
		return 1;
	rc = run_child(fd, "child1\n");
	if (rc) {
		fprintf(stderr, "child failed: %d\n", rc);
		return 1;
	}
	if (write(fd, "parent2\n", 8) != 8) {
		fprintf(stderr, "parent write after child close: %s\n", strerror(errno));
		return 1;
	}
	if (lseek(fd, 0, SEEK_CUR) != 23) {
		fprintf(stderr, "offset %lld, expected 23\n", (long long)lseek(fd, 0, SEEK_CUR));
		return 1;
	}
	/* A child reads the first line; the parent continues after it. */
	lseek(fd, 0, SEEK_SET);
	pid = fork();
	if (pid == 0)
		_exit(read(fd, buf, 8) == 8 && !memcmp(buf, "parent1\n", 8) ? 0 : 1);
	if (pid < 0 || waitpid(pid, &rc, 0) != pid || !WIFEXITED(rc) || WEXITSTATUS(rc)) {
		fprintf(stderr, "child read failed\n");
		return 1;
	}
	if (read(fd, buf, 7) != 7 || memcmp(buf, "child1\n", 7)) {
		fprintf(stderr, "parent did not continue at the child's offset\n");
		return 1;
	}
	close(fd);
	printf("fork_share: offsets shared, closes independent\n");
	return 0;
}
