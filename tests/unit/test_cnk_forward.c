/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatcher end to end, without interception: cnk_dispatch() called as
 * plain C against a real ferry-iond (tcp, a free 127.0.0.1 port) exporting a
 * fresh temporary directory as /pfs.  Each test states one behaviour; errno
 * values must be the I/O node's filesystem's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "forward.h"
#include "raw_syscall.h"
#include "runtime.h"

#define TEST_TIMEOUT_S 90

/* ThreadSanitizer cannot follow a clone(CLONE_VM) child. */
#if defined(__SANITIZE_THREAD__)
#define TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_UNDER_TSAN 1
#endif
#endif

static char test_dir[] = "/tmp/ferry-cnk-forward.XXXXXX";
static char export_dir[512];
static pid_t iond_pid = -1;

/* The mechanism is not part of this test: its calls run natively. */
long cnk_mechanism_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	return cnk_raw_syscall6(nr, a0, a1, a2, a3, a4, a5);
}

#define D(nr, ...) call_dispatch((nr), __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define call_dispatch(nr, a, b, c, d, e, f, ...)                                         \
	cnk_dispatch((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void stop_daemon(void)
{
	if (iond_pid > 0) {
		kill(iond_pid, SIGTERM);
		waitpid(iond_pid, NULL, 0);
		iond_pid = -1;
	}
}

static void on_timeout(int sig)
{
	static const char msg[] = "test_cnk_forward: timeout\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	if (iond_pid > 0)
		kill(iond_pid, SIGKILL);
	_exit(1);
}

/* A port nobody listens on now (the daemon binds it right after). */
static int free_tcp_port(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (s < 0)
		return -1;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    getsockname(s, (struct sockaddr *)&addr, &len) == 0)
		port = ntohs(addr.sin_port);
	close(s);
	return port;
}

/* Start ferry-iond on a free port; ready when its ready file appears. */
static int start_daemon(char *uri, size_t uri_len)
{
	char ready[600], spec[600], log_path[600], listen[64];
	int waited_ms = 0, port = free_tcp_port();

	if (port < 0)
		return -1;
	snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", port);
	snprintf(uri, uri_len, "%s", listen);

	snprintf(ready, sizeof(ready), "%s/ready", test_dir);
	snprintf(spec, sizeof(spec), "/pfs=%s", export_dir);
	snprintf(log_path, sizeof(log_path), "%s/iond.log", test_dir);
	iond_pid = fork();
	if (iond_pid < 0)
		return -1;
	if (iond_pid == 0) {
		int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (log_fd >= 0) {
			dup2(log_fd, STDOUT_FILENO);
			dup2(log_fd, STDERR_FILENO);
		}
		execl(FERRY_IOND, "ferry-iond", "--listen", listen, "--export", spec,
		      "--ready-file", ready, "--workers", "2", (char *)NULL);
		_exit(127);
	}
	for (;;) {
		if (access(ready, F_OK) == 0)
			return 0;
		if (waitpid(iond_pid, NULL, WNOHANG) != 0 || waited_ms > 15000)
			return -1;
		usleep(20000);
		waited_ms += 20;
	}
}

static int group_setup(void **state)
{
	char uri[256];

	signal(SIGALRM, on_timeout);
	alarm(TEST_TIMEOUT_S);
	if (!mkdtemp(test_dir))
		return -1;
	snprintf(export_dir, sizeof(export_dir), "%s/export", test_dir);
	if (mkdir(export_dir, 0755) != 0)
		return -1;
	if (start_daemon(uri, sizeof(uri)) != 0) {
		fprintf(stderr, "ferry-iond did not start (see %s/iond.log)\n", test_dir);
		return -1;
	}
	setenv("FERRY_IONODE", uri, 1);
	setenv("FERRY_MOUNTS", "/pfs", 1);
	/* Long enough for the connection to be made on a busy machine. */
	setenv("FERRY_TIMEOUT_MS", "10000", 1);
	return cnk_dispatch_init() == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	cnk_dispatch_exit();
	stop_daemon();
	nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* The file behind /pfs/rel on the I/O node's side. */
static const char *exported(const char *rel)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s/%s", export_dir, rel);
	return buf;
}

/* The table drives routing: local and unknown calls run natively. */
static void local_calls_run_natively(void **state)
{
	char cwd[256], native_cwd[256];
	long fd;

	assert_string_equal(cnk_syscall_name(SYS_openat), "openat");
	assert_string_equal(cnk_syscall_name(SYS_getppid), "?");
	assert_string_equal(cnk_syscall_name(100000), "?");
	assert_int_equal(D(SYS_getppid, 0), getppid());
	assert_int_equal(D(100000, 0), -ENOSYS);
	fd = D(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(fcntl((int)fd, F_GETFD), 0); /* a real, local descriptor */
	assert_int_equal(D(SYS_close, fd), 0);
	assert_int_equal(D(SYS_open, "/pfsx/none", O_RDONLY, 0), -ENOENT);
	assert_non_null(getcwd(native_cwd, sizeof(native_cwd)));
	assert_true(D(SYS_getcwd, cwd, sizeof(cwd)) > 0);
	assert_string_equal(cwd, native_cwd);
	/* errno of the application is never touched */
	errno = 12345;
	D(SYS_open, "/pfs/nothing-here", O_RDONLY, 0);
	D(SYS_open, "/nothing-here", O_RDONLY, 0);
	assert_int_equal(errno, 12345);
}

static void open_write_read_seek_stat(void **state)
{
	char buf[16] = { 0 };
	struct stat st, native;
	long fd;

	fd = D(SYS_openat, AT_FDCWD, "/pfs/a.txt", O_CREAT | O_EXCL | O_RDWR, 0640);
	assert_true(fd >= 0);
	assert_int_equal(D(SYS_write, fd, "hello", 5), 5);
	assert_int_equal(D(SYS_lseek, fd, 0, SEEK_CUR), 5);
	assert_int_equal(D(SYS_lseek, fd, 1, SEEK_SET), 1);
	assert_int_equal(D(SYS_read, fd, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "ello");
	assert_int_equal(D(SYS_pread64, fd, buf, 2, 0), 2);
	assert_memory_equal(buf, "he", 2);
	assert_int_equal(D(SYS_fstat, fd, &st), 0);
	assert_int_equal(stat(exported("a.txt"), &native), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_ino, native.st_ino);
	assert_int_equal(st.st_dev, native.st_dev);
	assert_int_equal(st.st_mode, native.st_mode);
	assert_int_equal(D(SYS_close, fd), 0);
	assert_int_equal(D(SYS_close, fd), -EBADF);
	assert_int_equal(D(SYS_openat, AT_FDCWD, "/pfs/a.txt", O_CREAT | O_EXCL | O_RDWR, 0640),
			 -EEXIST);
	assert_int_equal(D(SYS_stat, "/pfs//./a.txt", &st), 0);
	assert_int_equal(st.st_ino, native.st_ino);
}

static void large_transfers_round_trip(void **state)
{
	size_t len = (3u << 20) + 123;
	char *out = malloc(len), *in = malloc(len);
	struct iovec iov[2];
	long fd;
	size_t i;

	assert_non_null(out);
	assert_non_null(in);
	for (i = 0; i < len; i++)
		out[i] = (char)(i * 7 + 3);
	fd = D(SYS_open, "/pfs/big.bin", O_CREAT | O_TRUNC | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(D(SYS_write, fd, out, len), (long)len);
	memset(in, 0, len);
	assert_int_equal(D(SYS_pread64, fd, in, len, 0), (long)len);
	assert_memory_equal(in, out, len);
	/* Scattered over two iovecs, from an offset. */
	memset(in, 0, len);
	iov[0].iov_base = in;
	iov[0].iov_len = 1000;
	iov[1].iov_base = in + 1000;
	iov[1].iov_len = 5000;
	assert_int_equal(D(SYS_preadv, fd, iov, 2, 10, 0), 6000);
	assert_memory_equal(in, out + 10, 6000);
	/* Reading past the end is a short count, then 0. */
	assert_int_equal(D(SYS_pread64, fd, in, 100, len - 40), 40);
	assert_int_equal(D(SYS_pread64, fd, in, 100, len), 0);
	assert_int_equal(D(SYS_close, fd), 0);
	free(out);
	free(in);
}

static void errno_is_the_io_nodes(void **state)
{
	char local[600];
	long fd;

	assert_int_equal(D(SYS_open, "/pfs/missing", O_RDONLY, 0), -ENOENT);
	assert_int_equal(D(SYS_mkdir, "/pfs/dir", 0755), 0);
	assert_int_equal(D(SYS_mkdir, "/pfs/dir", 0755), -EEXIST);
	fd = D(SYS_open, "/pfs/dir/f", O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(D(SYS_close, fd), 0);
	assert_int_equal(D(SYS_rmdir, "/pfs/dir"), -ENOTEMPTY);
	assert_int_equal(D(SYS_unlink, "/pfs/dir/nothing"), -ENOENT);
	assert_int_equal(D(SYS_open, "/pfs/dir/f/x", O_RDONLY, 0), -ENOTDIR);
	/* Between the I/O node and the compute node: as across filesystems. */
	snprintf(local, sizeof(local), "%s/local", test_dir);
	assert_int_equal(D(SYS_rename, "/pfs/dir/f", local), -EXDEV);
	assert_int_equal(D(SYS_link, "/pfs/dir/f", local), -EXDEV);
	assert_int_equal(access(local, F_OK), -1);
	/* Leaving the export by ".." fails, whatever the I/O node's answer. */
	assert_true(D(SYS_open, "/pfs/../../etc/passwd", O_RDONLY, 0) < 0);
	assert_true(D(SYS_open, "/pfs/../export/dir/f", O_RDONLY, 0) < 0);
	/* A path that only looks like the mount is local. */
	assert_int_equal(D(SYS_open, "/pfsx/none", O_RDONLY, 0), -ENOENT);
}

/* As the kernel: a buffer that is not mapped is EFAULT, not a crash in the
 * runtime's own copy; a local descriptor's iovecs stay the kernel's. */
static void unmapped_buffers_give_efault(void **state)
{
	struct iovec iov[2] = { { .iov_base = NULL, .iov_len = 4 } };
	long fd = D(SYS_open, "/pfs/efault", O_CREAT | O_RDWR | O_TRUNC, 0644);
	int pfd[2];

	assert_true(fd >= 0);
	assert_int_equal(D(SYS_write, fd, "data", 4), 4);
	assert_int_equal(D(SYS_write, fd, NULL, 4), -EFAULT);
	assert_int_equal(D(SYS_pread64, fd, NULL, 4, 0), -EFAULT);
	assert_int_equal(D(SYS_read, fd, (void *)8, 4), -EFAULT);
	assert_int_equal(D(SYS_readv, fd, NULL, 2), -EFAULT);
	assert_int_equal(D(SYS_writev, fd, iov, 1), -EFAULT);
	assert_int_equal(D(SYS_pread64, fd, NULL, 0, 0), 0);
	assert_int_equal(D(SYS_fstat, fd, NULL), -EFAULT);
	assert_int_equal(D(SYS_close, fd), 0);
	/* Output structures and path pointers (one in the never-mapped first
	 * page) of calls on forwarded paths. */
	assert_int_equal(D(SYS_stat, "/pfs/efault", NULL), -EFAULT);
	assert_int_equal(D(SYS_newfstatat, AT_FDCWD, (const char *)8, NULL, 0), -EFAULT);
	assert_int_equal(D(SYS_statx, AT_FDCWD, "/pfs/efault", 0, STATX_BASIC_STATS, NULL), -EFAULT);
	assert_int_equal(D(SYS_statfs, "/pfs", NULL), -EFAULT);
	assert_int_equal(D(SYS_symlink, "efault", "/pfs/efault-link"), 0);
	assert_int_equal(D(SYS_readlink, "/pfs/efault-link", NULL, 64), -EFAULT);
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(D(SYS_readv, pfd[0], NULL, 2), -EFAULT);
	close(pfd[0]);
	close(pfd[1]);
}

static void rename_unlink_and_directories(void **state)
{
	char buf[4096];
	long fd, n, pos;
	int seen = 0;

	assert_int_equal(D(SYS_mkdir, "/pfs/d", 0755), 0);
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "/pfs/d/f%d", i);
		fd = D(SYS_open, name, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		D(SYS_close, fd);
	}
	assert_int_equal(D(SYS_rename, "/pfs/d/f0", "/pfs/d/g0"), 0);
	assert_int_equal(access(exported("d/g0"), F_OK), 0);
	assert_int_equal(D(SYS_unlink, "/pfs/d/f1"), 0);
	assert_int_equal(access(exported("d/f1"), F_OK), -1);

	fd = D(SYS_open, "/pfs/d", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	while ((n = D(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (pos = 0; pos < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + pos);

			if (!strcmp(de->d_name, "g0") || !strcmp(de->d_name, "f2"))
				seen++;
			assert_true(strcmp(de->d_name, "f0") && strcmp(de->d_name, "f1"));
			pos += de->d_reclen;
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(seen, 2);
	/* Relative calls through a forwarded directory fd. */
	assert_int_equal(D(SYS_unlinkat, fd, "g0", 0), 0);
	assert_int_equal(D(SYS_mkdirat, fd, "sub", 0700), 0);
	assert_int_equal(D(SYS_unlinkat, fd, "sub", AT_REMOVEDIR), 0);
	assert_int_equal(D(SYS_close, fd), 0);
}

static void cwd_is_tracked_for_forwarded_directories(void **state)
{
	char cwd[256], native_cwd[256];
	long fd;

	assert_non_null(getcwd(native_cwd, sizeof(native_cwd)));
	assert_int_equal(D(SYS_mkdir, "/pfs/w", 0755), 0);
	assert_int_equal(D(SYS_chdir, "/pfs/w"), 0);
	assert_int_equal(D(SYS_getcwd, cwd, sizeof(cwd)), (long)strlen("/pfs/w") + 1);
	assert_string_equal(cwd, "/pfs/w");
	fd = D(SYS_open, "rel.txt", O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	D(SYS_close, fd);
	assert_int_equal(access(exported("w/rel.txt"), F_OK), 0);
	assert_int_equal(D(SYS_chdir, "rel.txt"), -ENOTDIR);
	assert_int_equal(D(SYS_chdir, "missing"), -ENOENT);
	/* The real cwd never moved; going back to a local path is native. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_string_equal(cwd, native_cwd);
	assert_int_equal(D(SYS_chdir, native_cwd), 0);
	assert_true(D(SYS_getcwd, cwd, sizeof(cwd)) > 0);
	assert_string_equal(cwd, native_cwd);
	/* fchdir on a forwarded directory. */
	fd = D(SYS_open, "/pfs/w", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	assert_int_equal(D(SYS_fchdir, fd), 0);
	assert_true(D(SYS_getcwd, cwd, sizeof(cwd)) > 0);
	assert_string_equal(cwd, "/pfs/w");
	D(SYS_close, fd);
	assert_int_equal(D(SYS_chdir, "/"), 0);
	assert_int_equal(chdir(native_cwd), 0);
}

static void symlinks_keep_their_target_verbatim(void **state)
{
	char buf[64] = { 0 };
	struct stat st;

	assert_int_equal(D(SYS_symlink, "some/where/../x", "/pfs/l"), 0);
	assert_int_equal(D(SYS_readlink, "/pfs/l", buf, sizeof(buf)), 15);
	assert_string_equal(buf, "some/where/../x");
	assert_int_equal(D(SYS_lstat, "/pfs/l", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(D(SYS_stat, "/pfs/l", &st), -ENOENT);
	/* A symlink out of the export cannot be followed. */
	assert_int_equal(D(SYS_symlink, "/etc/passwd", "/pfs/out"), 0);
	assert_true(D(SYS_open, "/pfs/out", O_RDONLY, 0) < 0);
}

static void locks_are_forwarded(void **state)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	long a = D(SYS_open, "/pfs/lock", O_CREAT | O_RDWR, 0644);
	long b = D(SYS_open, "/pfs/lock", O_RDWR, 0);

	assert_true(a >= 0 && b >= 0);
	assert_int_equal(D(SYS_fcntl, a, F_OFD_SETLK, &fl), 0);
	assert_int_equal(D(SYS_fcntl, b, F_OFD_SETLK, &fl), -EAGAIN);
	fl.l_type = F_WRLCK;
	assert_int_equal(D(SYS_fcntl, b, F_OFD_GETLK, &fl), 0);
	assert_int_equal(fl.l_type, F_WRLCK);
	fl.l_type = F_UNLCK;
	assert_int_equal(D(SYS_fcntl, a, F_OFD_SETLK, &fl), 0);
	assert_int_equal(D(SYS_flock, a, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(D(SYS_flock, b, LOCK_EX | LOCK_NB), -EWOULDBLOCK);
	assert_int_equal(D(SYS_flock, a, LOCK_UN), 0);
	assert_int_equal(D(SYS_fcntl, a, F_GETFL, 0) & O_ACCMODE, O_RDWR);
	assert_int_equal(D(SYS_fsync, a), 0);
	D(SYS_close, a);
	D(SYS_close, b);
}

static void mmap_copies_or_refuses(void **state)
{
	const char text[] = "mapped contents";
	long fd = D(SYS_open, "/pfs/m", O_CREAT | O_RDWR | O_TRUNC, 0644);
	long map;

	assert_true(fd >= 0);
	assert_int_equal(D(SYS_write, fd, text, sizeof(text)), (long)sizeof(text));
	map = D(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(map > 0 || map < -4095);
	assert_memory_equal((void *)map, text, sizeof(text));
	munmap((void *)map, 4096);
	map = D(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	((char *)map)[0] = 'M'; /* private: the file does not change */
	munmap((void *)map, 4096);
	map = D(SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED, fd, 0);
	assert_memory_equal((void *)map, text, sizeof(text));
	munmap((void *)map, 4096);
	assert_int_equal(D(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), -ENODEV);
	assert_int_equal(D(SYS_ioctl, fd, 0x5401 /* TCGETS */, 0), -ENOTTY);
	D(SYS_close, fd);
}

static void dup_shares_the_offset(void **state)
{
	long fd = D(SYS_open, "/pfs/dup", O_CREAT | O_RDWR | O_TRUNC, 0644), d2, d3;

	assert_true(fd >= 0);
	d2 = D(SYS_dup, fd);
	assert_true(d2 >= 0);
	assert_int_equal(D(SYS_write, fd, "abc", 3), 3);
	assert_int_equal(D(SYS_lseek, d2, 0, SEEK_CUR), 3);
	d3 = D(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 50);
	assert_true(d3 >= 50);
	assert_true(fcntl((int)d3, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(D(SYS_close, fd), 0);
	assert_int_equal(D(SYS_write, d2, "d", 1), 1);
	assert_int_equal(D(SYS_lseek, d3, 0, SEEK_CUR), 4);
	D(SYS_close, d2);
	D(SYS_close, d3);
}

static void copies_between_local_and_forwarded(void **state)
{
	char local[600], buf[32] = { 0 };
	long in, out, lfd;
	int64_t off = 0;

	snprintf(local, sizeof(local), "%s/src", test_dir);
	lfd = open(local, O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(lfd >= 0);
	assert_int_equal(write((int)lfd, "0123456789", 10), 10);
	in = D(SYS_open, local, O_RDONLY, 0);
	assert_false(in < 0);
	out = D(SYS_open, "/pfs/copy", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(out >= 0);
	assert_int_equal(D(SYS_copy_file_range, in, &off, out, 0, 10, 0), 10);
	assert_int_equal(off, 10);
	assert_int_equal(D(SYS_pread64, out, buf, sizeof(buf), 0), 10);
	assert_string_equal(buf, "0123456789");
	close((int)in);
	close((int)lfd);
	D(SYS_close, out);
}

static void metadata_calls(void **state)
{
	struct timespec times[2] = { { .tv_sec = 1000000000, .tv_nsec = 5 },
				     { .tv_sec = 1200000000, .tv_nsec = 7 } };
	struct statx stx;
	struct statfs sfs;
	struct stat st;
	char val[32] = { 0 }, list[64];
	long fd = D(SYS_open, "/pfs/meta", O_CREAT | O_RDWR | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(D(SYS_truncate, "/pfs/meta", 1000), 0);
	assert_int_equal(D(SYS_fstat, fd, &st), 0);
	assert_int_equal(st.st_size, 1000);
	assert_int_equal(D(SYS_ftruncate, fd, 10), 0);
	assert_int_equal(D(SYS_fallocate, fd, 0, 0, 4096), 0);
	assert_int_equal(D(SYS_chmod, "/pfs/meta", 0640), 0);
	assert_int_equal(D(SYS_fchmod, fd, 0604), 0);
	assert_int_equal(stat(exported("meta"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(st.st_size, 4096);
	assert_int_equal(D(SYS_utimensat, AT_FDCWD, "/pfs/meta", times, 0), 0);
	assert_int_equal(D(SYS_statx, AT_FDCWD, "/pfs/meta", 0, STATX_MTIME | STATX_ATIME, &stx), 0);
	assert_int_equal(stx.stx_mtime.tv_sec, 1200000000);
	assert_int_equal(stx.stx_mtime.tv_nsec, 7);
	assert_int_equal(stx.stx_atime.tv_sec, 1000000000);
	assert_int_equal(D(SYS_access, "/pfs/meta", R_OK), 0);
	assert_int_equal(D(SYS_access, "/pfs/nope", F_OK), -ENOENT);
	assert_int_equal(D(SYS_statfs, "/pfs", &sfs), 0);
	assert_true(sfs.f_bsize > 0);
	assert_int_equal(D(SYS_fstatfs, fd, &sfs), 0);
	/* xattrs (tmpfs and ext4 both keep user.* ones) */
	if (D(SYS_setxattr, "/pfs/meta", "user.k", "v1", 2, 0) == 0) {
		assert_int_equal(D(SYS_getxattr, "/pfs/meta", "user.k", val, sizeof(val)), 2);
		assert_memory_equal(val, "v1", 2);
		assert_int_equal(D(SYS_fgetxattr, fd, "user.k", val, 0), 2);
		assert_int_equal(D(SYS_getxattr, "/pfs/meta", "user.none", val, sizeof(val)),
				 -ENODATA);
		assert_int_equal(D(SYS_listxattr, "/pfs/meta", list, sizeof(list)), 7);
		assert_string_equal(list, "user.k");
		assert_int_equal(D(SYS_fremovexattr, fd, "user.k"), 0);
		assert_int_equal(D(SYS_removexattr, "/pfs/meta", "user.k"), -ENODATA);
	}
	assert_int_equal(D(SYS_getdents, fd, list, sizeof(list)), -ENOSYS);
	D(SYS_close, fd);
}

static void copies_between_forwarded_files_and_to_local(void **state)
{
	char local[600], buf[32] = { 0 };
	long src = D(SYS_open, "/pfs/csrc", O_CREAT | O_RDWR | O_TRUNC, 0644), dst, lfd;
	int64_t off_in = 2;

	assert_true(src >= 0);
	assert_int_equal(D(SYS_write, src, "abcdefghij", 10), 10);
	dst = D(SYS_open, "/pfs/cdst", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(dst >= 0);
	/* both forwarded: one COPY_RANGE on the I/O node */
	assert_int_equal(D(SYS_copy_file_range, src, &off_in, dst, 0, 5, 0), 5);
	assert_int_equal(off_in, 7);
	assert_int_equal(D(SYS_lseek, dst, 0, SEEK_CUR), 5);
	assert_int_equal(D(SYS_pread64, dst, buf, sizeof(buf), 0), 5);
	assert_string_equal(buf, "cdefg");
	/* forwarded -> local by sendfile, from the file position */
	snprintf(local, sizeof(local), "%s/sent", test_dir);
	lfd = open(local, O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(lfd >= 0);
	assert_int_equal(D(SYS_lseek, src, 6, SEEK_SET), 6);
	assert_int_equal(D(SYS_sendfile, lfd, src, 0, 100), 4);
	assert_int_equal(D(SYS_lseek, src, 0, SEEK_CUR), 10);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread((int)lfd, buf, sizeof(buf), 0), 4);
	assert_string_equal(buf, "ghij");
	close((int)lfd);
	D(SYS_close, src);
	D(SYS_close, dst);
}

/* A getdents64 buffer that holds one entry at a time still lists all. */
static void getdents_with_a_small_buffer(void **state)
{
	/* 64 bytes, aligned and sized as a dirent64 array so the compiler can
	 * see record headers never straddle the end. */
	struct dirent64 ents[(64 + sizeof(struct dirent64) - 1) / sizeof(struct dirent64)];
	char *buf = (char *)ents;
	const long buf_len = 64;
	long fd, n;
	int entries = 0;

	assert_int_equal(D(SYS_mkdir, "/pfs/many", 0755), 0);
	for (int i = 0; i < 10; i++) {
		char name[64];

		snprintf(name, sizeof(name), "/pfs/many/entry-with-a-longer-name-%02d", i);
		fd = D(SYS_open, name, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		D(SYS_close, fd);
	}
	fd = D(SYS_open, "/pfs/many", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	assert_int_equal(D(SYS_getdents64, fd, buf, 8), -EINVAL);
	while ((n = D(SYS_getdents64, fd, buf, buf_len)) > 0) {
		for (long pos = 0; pos < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + pos);

			entries++;
			pos += de->d_reclen;
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(entries, 12); /* with "." and ".." */
	D(SYS_close, fd);
}

/* Threads share the session and the descriptor table. */
static void *thread_io(void *arg)
{
	long id = (long)arg, ok = 1;
	char path[64], buf[64];

	for (int i = 0; i < 50 && ok; i++) {
		long fd, dup_fd;
		int len;

		snprintf(path, sizeof(path), "/pfs/thr-%ld-%d", id, i % 5);
		len = snprintf(buf, sizeof(buf), "thread %ld round %d", id, i);
		fd = D(SYS_open, path, O_CREAT | O_RDWR | O_TRUNC, 0644);
		dup_fd = fd >= 0 ? D(SYS_dup, fd) : -1;
		ok = fd >= 0 && dup_fd >= 0 && D(SYS_write, fd, buf, len) == len &&
		     D(SYS_pread64, dup_fd, buf + 32, len, 0) == len &&
		     !memcmp(buf, buf + 32, (size_t)len) && D(SYS_close, fd) == 0 &&
		     D(SYS_close, dup_fd) == 0;
	}
	return (void *)ok;
}

static void threads_share_the_session(void **state)
{
	pthread_t threads[4];
	void *ok;

	for (long i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, thread_io, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], &ok), 0);
		assert_true(ok == (void *)1);
	}
}

/* What the mechanism does around fork: glibc's fork runs the runtime's
 * pthread_atfork handler (the I/O node holds duplicates for the child), the
 * mechanism's hooks run around the clone.  The child gets its own session,
 * shares the parent's open file (one offset), and its close does not close
 * the parent's. */
static void fork_child_shares_open_files(void **state)
{
	long fd = D(SYS_open, "/pfs/forked", O_CREAT | O_RDWR | O_TRUNC, 0644);
	char buf[32] = "";
	int status = -1, efd;
	pid_t pid;

	assert_true(fd >= 0);
	assert_int_equal(D(SYS_write, fd, "parent1.", 8), 8);
	pid = fork();
	if (pid == 0) {
		long cfd;

		cnk_dispatch_atfork_prepare(); /* the child hook releases these */
		cnk_dispatch_atfork_child();
		if (D(SYS_write, fd, "child.", 6) != 6)
			_exit(2);
		cfd = D(SYS_open, "/pfs/from-child", O_CREAT | O_WRONLY, 0644);
		if (cfd < 0 || D(SYS_write, cfd, "x", 1) != 1 || D(SYS_close, cfd) != 0)
			_exit(3);
		if (D(SYS_close, fd) != 0)
			_exit(4);
		cnk_dispatch_exit();
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(exported("from-child"), F_OK), 0);
	/* Same offset: the parent continues after the child's bytes. */
	assert_int_equal(D(SYS_write, fd, "parent2", 7), 7);
	assert_int_equal(D(SYS_close, fd), 0);
	efd = open(exported("forked"), O_RDONLY);
	assert_true(efd >= 0);
	assert_int_equal(read(efd, buf, sizeof(buf) - 1), 21);
	assert_string_equal(buf, "parent1.child.parent2");
	close(efd);
}

/* An exec that fails after the session was closed for it reopens the
 * session and takes back the descriptors the I/O node held for the new
 * image: nothing is lost. */
static void a_failed_exec_keeps_the_descriptors(void **state)
{
	char *const argv[] = { "/", NULL };
	long fd = D(SYS_open, "/pfs/exec-before", O_CREAT | O_RDWR | O_TRUNC, 0644), again;

	assert_true(fd >= 0);
	assert_int_equal(D(SYS_write, fd, "ab", 2), 2);
	/* A directory passes the X_OK check, then exec refuses it. */
	assert_int_equal(D(SYS_execve, "/", argv, environ), -EACCES);
	assert_int_equal(D(SYS_write, fd, "cd", 2), 2);
	assert_int_equal(D(SYS_lseek, fd, 0, SEEK_CUR), 4);
	assert_int_equal(D(SYS_close, fd), 0);
	again = D(SYS_open, "/pfs/exec-after", O_CREAT | O_RDWR, 0644);
	assert_true(again >= 0);
	assert_int_equal(D(SYS_write, again, "y", 1), 1);
	assert_int_equal(D(SYS_close, again), 0);
	/* A file of the I/O node without execute permission is refused. */
	assert_int_equal(D(SYS_execve, "/pfs/exec-after", argv, environ), -EACCES);
	/* Neither a script nor a binary: ENOEXEC, as Linux says. */
	assert_int_equal(chmod(exported("exec-after"), 0755), 0);
	assert_int_equal(D(SYS_execve, "/pfs/exec-after", argv, environ), -ENOEXEC);
}

/* A program that closes every descriptor, or dup2s onto the runtime's,
 * keeps its session. */
static void the_runtimes_descriptors_survive_closefrom(void **state)
{
	long fd = D(SYS_open, "/pfs/closefrom", O_CREAT | O_RDWR | O_TRUNC, 0644);
	int runtime_fd = -1;

	assert_true(fd >= 0);
	for (int i = 64; i < 1024 && runtime_fd < 0; i++)
		if (fcntl(i, F_GETFD) >= 0)
			runtime_fd = i;
	assert_true(runtime_fd >= 64); /* the transport's, above the low numbers */
	assert_int_equal(D(SYS_dup2, 2, runtime_fd), -EBUSY);
	assert_int_equal(D(SYS_close, runtime_fd), 0);
	assert_true(fcntl(runtime_fd, F_GETFD) >= 0);
	assert_int_equal(D(SYS_close_range, 3, ~0u, 0), 0);
	assert_int_equal(fcntl((int)fd, F_GETFD), -1); /* the application's: closed */
	assert_int_equal(D(SYS_write, fd, "x", 1), -EBADF);
	fd = D(SYS_open, "/pfs/closefrom", O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(D(SYS_write, fd, "y", 1), 1);
	assert_int_equal(D(SYS_close, fd), 0);
}

/* A vfork child shares the runtime's memory: what it does to its own
 * descriptors must not change the parent's table or session.  It opens
 * through its parent's session while it holds the transport's descriptors,
 * and is refused once it closed them. */
struct vfork_args {
	long fwd_a, fwd_b;
	int pipe_w, runtime_fd;
	long open_ret, write_ret, open_after_close_ret;
};

static int vfork_child(void *p)
{
	struct vfork_args *va = p;

	D(SYS_dup2, va->pipe_w, va->fwd_a);
	D(SYS_close, va->fwd_b);
	va->open_ret = D(SYS_open, "/pfs/from-vfork", O_CREAT | O_WRONLY, 0644);
	/* A placeholder for the exec to carry: it takes no data here. */
	va->write_ret = D(SYS_write, va->open_ret, "x", 1);
	D(SYS_close, va->runtime_fd);
	va->open_after_close_ret = D(SYS_open, "/pfs/from-vfork-2", O_CREAT | O_WRONLY, 0644);
	D(SYS_exit_group, 0);
	return 0;
}

static void a_vfork_child_changes_nothing_here(void **state)
{
	struct vfork_args va = { .open_ret = -1, .runtime_fd = -1 };
	size_t stack_len = 256 << 10;
	int pipe_fds[2], status;
	char *stack;
	pid_t pid;

#ifdef TEST_UNDER_TSAN
	skip();
#endif
	stack = malloc(stack_len);
	assert_non_null(stack);
	assert_int_equal(pipe(pipe_fds), 0);
	va.pipe_w = pipe_fds[1];
	va.fwd_a = D(SYS_open, "/pfs/vf-a", O_CREAT | O_RDWR | O_TRUNC, 0644);
	va.fwd_b = D(SYS_open, "/pfs/vf-b", O_CREAT | O_RDWR | O_TRUNC, 0644);
	assert_true(va.fwd_a >= 0 && va.fwd_b >= 0);
	for (int i = 64; i < 1024 && va.runtime_fd < 0; i++)
		if (fcntl(i, F_GETFD) >= 0)
			va.runtime_fd = i;
	assert_true(va.runtime_fd >= 64);
	pid = clone(vfork_child, stack + stack_len, CLONE_VM | CLONE_VFORK | SIGCHLD, &va);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(va.open_ret >= 0);
	assert_int_equal(access(exported("from-vfork"), F_OK), 0);
	assert_true(va.write_ret < 0);
	assert_int_equal(va.open_after_close_ret, -EOPNOTSUPP);
	assert_int_equal(access(exported("from-vfork-2"), F_OK), -1);
	assert_true(fcntl(va.runtime_fd, F_GETFD) >= 0);
	/* The parent's descriptors and session are intact. */
	assert_int_equal(D(SYS_write, va.fwd_a, "A", 1), 1);
	assert_int_equal(D(SYS_write, va.fwd_b, "B", 1), 1);
	assert_int_equal(D(SYS_close, va.fwd_a), 0);
	assert_int_equal(D(SYS_close, va.fwd_b), 0);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	free(stack);
}

/* Last: with the daemon gone, forwarded calls fail with EIO, never run
 * locally. */
static void a_dead_io_node_gives_eio(void **state)
{
	long fd = D(SYS_open, "/pfs/before-death", O_CREAT | O_RDWR, 0644);
	char c;

	assert_true(fd >= 0);
	kill(iond_pid, SIGKILL);
	waitpid(iond_pid, NULL, 0);
	iond_pid = -1;
	assert_int_equal(D(SYS_read, fd, &c, 1), -EIO);
	assert_int_equal(D(SYS_open, "/pfs/after-death", O_CREAT | O_RDWR, 0644), -EIO);
	assert_int_equal(D(SYS_mkdir, "/pfs/nodir", 0755), -EIO);
	/* The placeholder still goes away. */
	D(SYS_close, fd);
	assert_int_equal(fcntl((int)fd, F_GETFD), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(local_calls_run_natively),
		cmocka_unit_test(open_write_read_seek_stat),
		cmocka_unit_test(large_transfers_round_trip),
		cmocka_unit_test(errno_is_the_io_nodes),
		cmocka_unit_test(unmapped_buffers_give_efault),
		cmocka_unit_test(rename_unlink_and_directories),
		cmocka_unit_test(cwd_is_tracked_for_forwarded_directories),
		cmocka_unit_test(symlinks_keep_their_target_verbatim),
		cmocka_unit_test(locks_are_forwarded),
		cmocka_unit_test(mmap_copies_or_refuses),
		cmocka_unit_test(dup_shares_the_offset),
		cmocka_unit_test(copies_between_local_and_forwarded),
		cmocka_unit_test(metadata_calls),
		cmocka_unit_test(threads_share_the_session),
		cmocka_unit_test(copies_between_forwarded_files_and_to_local),
		cmocka_unit_test(getdents_with_a_small_buffer),
		cmocka_unit_test(fork_child_shares_open_files),
		cmocka_unit_test(a_failed_exec_keeps_the_descriptors),
		cmocka_unit_test(a_vfork_child_changes_nothing_here),
		cmocka_unit_test(the_runtimes_descriptors_survive_closefrom),
		cmocka_unit_test(a_dead_io_node_gives_eio),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
