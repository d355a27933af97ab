/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blocked lock wait and a signal, as Linux behaves: without SA_RESTART
 * fcntl(F_SETLKW) and flock fail with EINTR once the handler has run; with
 * SA_RESTART they go on waiting and succeed when the holder lets go.
 *   lock_signals FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_alarm(int sig)
{
	(void)sig;
	handled++;
}

static void set_handler(int restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

/* A child that holds both kinds of lock for hold_ms, then exits. */
static pid_t holder(const char *path, int hold_ms, int ready_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(path, O_RDWR);

		if (fd < 0 || fcntl(fd, F_SETLK, &fl) || flock(fd, LOCK_EX | LOCK_NB))
			_exit(1);
		if (write(ready_fd, "r", 1) != 1)
			_exit(1);
		usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	return pid;
}

static int wait_ready(int fd)
{
	char c;

	return read(fd, &c, 1) == 1 ? 0 : -1;
}

static void report(const char *what, int rc, int err)
{
	printf("%s: %s, handler ran %d time(s)\n", what, rc == 0 ? "acquired" : strerror(err),
	       (int)handled);
}

int main(int argc, char **argv)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int p[2], fd, rc, err, status;
	pid_t pid;

	if (argc != 2 || !strcmp(argv[1], "--help")) {
		fprintf(argc != 2 ? stderr : stdout, "usage: lock_signals FILE\n");
		return argc != 2 ? 2 : 0;
	}
	fd = open(argv[1], O_RDWR | O_CREAT, 0644);
	if (fd < 0 || pipe(p)) {
		perror(argv[1]);
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);

	/* fcntl F_SETLKW, no SA_RESTART: EINTR. */
	set_handler(0);
	pid = holder(argv[1], 3000, p[1]);
	wait_ready(p[0]);
	handled = 0;
	alarm(1);
	rc = fcntl(fd, F_SETLKW, &fl);
	err = errno;
	report("F_SETLKW, handler without SA_RESTART", rc, err);
	/* flock, no SA_RESTART: EINTR. */
	alarm(1);
	rc = flock(fd, LOCK_EX);
	err = errno;
	report("flock, handler without SA_RESTART", rc, err);
	waitpid(pid, &status, 0);

	/* With SA_RESTART: the wait goes on and succeeds after the holder. */
	set_handler(1);
	pid = holder(argv[1], 2500, p[1]);
	wait_ready(p[0]);
	handled = 0;
	alarm(1);
	rc = fcntl(fd, F_SETLKW, &fl);
	err = errno;
	report("F_SETLKW, handler with SA_RESTART", rc, err);
	waitpid(pid, &status, 0);
	fl.l_type = F_UNLCK;
	fcntl(fd, F_SETLK, &fl);
	close(fd);
	return 0;
}
