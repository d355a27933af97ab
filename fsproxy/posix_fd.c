/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Descriptor operations: checked wrappers that return the filesystem's
 * errno negated, so the daemon has one error convention.  The one rewrite
 * is fcntl record locks, which run as open-file-description locks.
 */
#include "fsp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

ssize_t fsp_pread(int fd, void *buf, size_t len, off_t off, int rwf)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	ssize_t n;

	if (off < -1)
		return -EINVAL;
	if (rwf)
		n = preadv2(fd, &iov, 1, off, rwf); /* off -1: file position */
	else if (off == -1)
		n = read(fd, buf, len);
	else
		n = pread(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

ssize_t fsp_pwrite(int fd, const void *buf, size_t len, off_t off, int rwf)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	ssize_t n;

	if (off < -1)
		return -EINVAL;
	if (rwf)
		n = pwritev2(fd, &iov, 1, off, rwf);
	else if (off == -1)
		n = write(fd, buf, len);
	else
		n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

off_t fsp_lseek(int fd, off_t off, int whence)
{
	off_t pos = lseek(fd, off, whence);

	return pos < 0 ? -errno : pos;
}

long fsp_getdents(int fd, void *buf, size_t len)
{
	long n = syscall(SYS_getdents64, fd, buf, len);

	return n < 0 ? -errno : n;
}

int fsp_ftruncate(int fd, off_t length)
{
	return ftruncate(fd, length) != 0 ? -errno : 0;
}

int fsp_fsync(int fd, int datasync)
{
	return (datasync ? fdatasync(fd) : fsync(fd)) != 0 ? -errno : 0;
}

int fsp_fallocate(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len) != 0 ? -errno : 0;
}

int fsp_fadvise(int fd, off_t off, off_t len, int advice)
{
	return -posix_fadvise(fd, off, len, advice); /* returns the error itself */
}

int fsp_flock(int fd, int op)
{
	return flock(fd, op) != 0 ? -errno : 0;
}

/*
 * Every session lives in this one process, so classic POSIX record locks
 * would never conflict between two clients (and a close by one would drop
 * another's locks).  Locks on an open file description give the
 * cross-client conflicts applications rely on.  Consequence: F_GETLK
 * reports l_pid -1 for a conflicting lock, as OFD locks do.
 */
static int lock_cmd_as_ofd(int cmd)
{
	switch (cmd) {
	case F_SETLK:
	case F_OFD_SETLK:
		return F_OFD_SETLK;
	case F_SETLKW:
	case F_OFD_SETLKW:
		return F_OFD_SETLKW;
	case F_GETLK:
	case F_OFD_GETLK:
		return F_OFD_GETLK;
	default:
		return -1;
	}
}

long fsp_fcntl(int fd, int cmd, long arg, void *flock_arg)
{
	struct flock *fl = flock_arg;
	int ofd_cmd, ret;

	switch (cmd) {
	case F_GETFL:
	case F_GETFD:
		ret = fcntl(fd, cmd);
		return ret < 0 ? -errno : ret;
	case F_SETFL:
		ret = fcntl(fd, cmd, (int)arg);
		return ret < 0 ? -errno : ret;
	case F_SETFD:
		/* The daemon's descriptors stay close-on-exec whatever the
		 * application asks; its own FD_CLOEXEC lives on its side. */
		ret = fcntl(fd, cmd, (int)arg | FD_CLOEXEC);
		return ret < 0 ? -errno : ret;
	default:
		break;
	}
	ofd_cmd = lock_cmd_as_ofd(cmd);
	if (ofd_cmd < 0)
		return -EINVAL;
	if (!fl)
		return -EFAULT;
	fl->l_pid = 0; /* OFD locks require it */
	ret = fcntl(fd, ofd_cmd, fl);
	if (ret < 0)
		return -errno;
	if (ofd_cmd == F_OFD_GETLK && fl->l_type != F_UNLCK)
		fl->l_pid = -1;
	return ret;
}

#define COPY_CHUNK (256 * 1024)

/* copy_file_range cannot cross filesystems on every kernel and refuses some
 * file types: fall back to reading and writing, with the same offsets
 * semantics (NULL: the file position, which then advances). */
static ssize_t copy_by_read_write(int fd_in, off_t *off_in, int fd_out, off_t *off_out,
				  size_t len)
{
	size_t done = 0;
	ssize_t ret = 0;
	char *buf = malloc(COPY_CHUNK);

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		size_t want = len - done < COPY_CHUNK ? len - done : COPY_CHUNK;
		ssize_t got, put = 0;

		got = off_in ? pread(fd_in, buf, want, *off_in) : read(fd_in, buf, want);
		if (got < 0) {
			ret = -errno;
			goto out;
		}
		if (got == 0)
			break;
		while (put < got) {
			ssize_t n = off_out ? pwrite(fd_out, buf + put, (size_t)(got - put), *off_out)
					    : write(fd_out, buf + put, (size_t)(got - put));

			if (n < 0) {
				ret = -errno;
				goto out;
			}
			put += n;
			done += (size_t)n;
			if (off_out)
				*off_out += n;
			if (off_in)
				*off_in += n;
		}
	}
out:
	free(buf);
	/* Bytes already copied are reported, as a short copy. */
	return done ? (ssize_t)done : ret;
}

ssize_t fsp_copy_range(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len)
{
	ssize_t n;

	if ((off_in && *off_in < 0) || (off_out && *off_out < 0))
		return -EINVAL;
	n = copy_file_range(fd_in, off_in, fd_out, off_out, len, 0);
	if (n >= 0)
		return n;
	if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	return copy_by_read_write(fd_in, off_in, fd_out, off_out, len);
}
