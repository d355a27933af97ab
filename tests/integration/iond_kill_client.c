/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client killed with SIGKILL in the middle of a 1 GiB bulk write: the
 * daemon notices (the transfer or the connection fails), closes the session
 * and its descriptor, logs it, and serves the next client.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iond_harness.h"

#define WRITE_LEN (1ull << 30)
#define KILL_AFTER (64ull << 20) /* bytes on disk before the kill */

/* The victim: write 1 GiB again and again, so a write is always in flight.
 * Untouched anonymous memory reads as zeros: nothing is allocated. */
static void victim(const char *uri)
{
	struct iond_client c;
	void *buf;
	long h;

	buf = mmap(NULL, WRITE_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED)
		_exit(10);
	if (iond_client_open(&c, uri, 77))
		_exit(11);
	h = iond_openat(&c, "/pfs/big.bin", O_CREAT | O_WRONLY, 0644);
	if (h < 0)
		_exit(12);
	for (;;) {
		long rc = iond_write(&c, h, buf, WRITE_LEN, 0);

		if (rc < 0)
			_exit(13);
	}
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 150);
	struct timespec tick = {0, 2000000};
	struct iond_daemon d;
	struct iond_client next;
	char path[PATH_MAX + 16], needle[128];
	int fds_before, status, waited_ms = 0;
	pid_t pid;

	iond_daemon_start(&d, transport, NULL);
	iond_export_path(&d, "big.bin", path, sizeof(path));
	fds_before = iond_daemon_fd_count(&d);

	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		victim(d.uri);

	while (file_size(path) < (long long)KILL_AFTER) {
		CHECK(waitpid(pid, &status, WNOHANG) == 0, "victim exited early (status %d)",
		      status);
		CHECK(waited_ms < 60000, "the write never got going (size %lld)", file_size(path));
		nanosleep(&tick, NULL);
		waited_ms += 2;
	}
	CHECK(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status), "victim not killed");
	printf("killed the client at %lld bytes\n", file_size(path));

	/* The daemon closes the session and its one descriptor. */
	snprintf(needle, sizeof(needle), "job=77 session closed");
	CHECK(iond_log_contains(&d, needle, 30000), "no '%s' in the log", needle);
	CHECK(iond_log_contains(&d, "1 fds closed", 1000), "the handle was not closed");
	for (int i = 0; i < 100 && iond_daemon_fd_count(&d) > fds_before; i++)
		nanosleep(&tick, NULL);
	CHECK(iond_daemon_fd_count(&d) <= fds_before, "daemon holds %d descriptors, had %d",
	      iond_daemon_fd_count(&d), fds_before);

	/* And serves the next client. */
	CHECK_ERR(iond_client_open(&next, d.uri, 78), 0);
	CHECK_ERR(iond_null(&next), 0);
	{
		long h = iond_openat(&next, "/pfs/big.bin", O_RDONLY, 0);
		char b[16];

		CHECK(h >= 0, "open after the kill: %s", iond_errname(h));
		CHECK_ERR(iond_read(&next, h, b, sizeof(b), 0), (long)sizeof(b));
		CHECK_ERR(iond_close_handle(&next, h), 0);
	}
	iond_client_close(&next);
	iond_test_pass("client killed mid-write");
}
