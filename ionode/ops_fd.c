/* SPDX-License-Identifier: Apache-2.0 */
/* Descriptor opcodes (a handle as first argument), except read and write. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#include <ferry/fsproxy.h>

#include "call.h"
#include "session.h"
#include "sockets.h"

long op_close(struct iond_call *c)
{
	/* A socket's state goes first: the number may be reused at close(2). */
	iond_sockets_forget(c->sess, c->msg.args[0]);
	return iond_session_fd_close(c->sess, c->msg.args[0]);
}

long op_lseek(struct iond_call *c)
{
	int fd, whence;

	GET_FD(c, 0, fd);
	GET_INT(c, 2, whence);
	return fsp_lseek(fd, (off_t)c->msg.args[1], whence);
}

long op_getdents(struct iond_call *c)
{
	size_t count, consumed = 0, out_len;
	long got;
	int fd;

	GET_FD(c, 0, fd);
	if (c->msg.args[1] <= 0)
		return -EINVAL;
	/* A wire record is never longer than its linux_dirent64, so a getdents
	 * buffer no larger than the reply's data always converts whole and the
	 * directory offset stays right. */
	count = (uint64_t)c->msg.args[1] < c->ctx->reply_data_max ? (size_t)c->msg.args[1]
								   : c->ctx->reply_data_max;
	got = fsp_getdents(fd, c->scratch->aux, count);
	if (got < 0)
		return got;
	out_len = ferry_dirents_encode(c->scratch->aux, (size_t)got, c->scratch->data,
				       c->ctx->reply_data_max, &consumed);
	if (consumed != (size_t)got)
		return -EOVERFLOW;
	c->out_data = c->scratch->data;
	c->out_len = (uint32_t)out_len;
	return (long)out_len;
}

long op_ftruncate(struct iond_call *c)
{
	int fd;

	GET_FD(c, 0, fd);
	if (c->msg.args[1] < 0)
		return -EINVAL;
	return fsp_ftruncate(fd, (off_t)c->msg.args[1]);
}

long op_fsync(struct iond_call *c)
{
	int fd;

	GET_FD(c, 0, fd);
	if (c->msg.args[1] != 0 && c->msg.args[1] != 1)
		return -EINVAL;
	return fsp_fsync(fd, (int)c->msg.args[1]);
}

/*
 * Process-associated (POSIX) record locks would all belong to the daemon:
 * two compute processes would never conflict, and closing any descriptor of
 * a file would drop every session's locks on it.  Open-file-description
 * locks have the per-open ownership a remote process needs, so the classic
 * commands run as their OFD twins.
 */
static int lock_cmd(int cmd, int *ofd_cmd)
{
	switch (cmd) {
	case F_GETLK:
	case F_OFD_GETLK:
		*ofd_cmd = F_OFD_GETLK;
		return 1;
	case F_SETLK:
	case F_OFD_SETLK:
		*ofd_cmd = F_OFD_SETLK;
		return 1;
	case F_SETLKW:
	case F_OFD_SETLKW:
		*ofd_cmd = F_OFD_SETLKW;
		return 1;
	default:
		return 0;
	}
}

long op_fcntl(struct iond_call *c)
{
	struct flock fl;
	int fd, cmd, ofd_cmd, rc;
	long ret;

	GET_FD(c, 0, fd);
	GET_INT(c, 1, cmd);
	if (!lock_cmd(cmd, &ofd_cmd))
		return fsp_fcntl(fd, cmd, (long)c->msg.args[2], NULL);
	memset(&fl, 0, sizeof(fl));
	rc = ferry_flock_decode(c->msg.data, c->msg.data_len, &fl);
	if (rc)
		return -EINVAL;
	fl.l_pid = 0; /* OFD commands require it */
	ret = fsp_fcntl(fd, ofd_cmd, 0, &fl);
	if (ret < 0)
		return ret;
	if (ofd_cmd == F_OFD_GETLK) {
		ferry_flock_encode(&fl, c->scratch->data);
		c->out_data = c->scratch->data;
		c->out_len = FERRY_WIRE_FLOCK_SIZE;
	}
	return ret;
}

long op_flock(struct iond_call *c)
{
	int fd, op;

	GET_FD(c, 0, fd);
	GET_INT(c, 1, op);
	return fsp_flock(fd, op);
}

long op_fallocate(struct iond_call *c)
{
	int fd, mode;

	GET_FD(c, 0, fd);
	GET_INT(c, 1, mode);
	return fsp_fallocate(fd, mode, (off_t)c->msg.args[2], (off_t)c->msg.args[3]);
}

long op_fadvise(struct iond_call *c)
{
	int fd, advice;

	GET_FD(c, 0, fd);
	GET_INT(c, 3, advice);
	return fsp_fadvise(fd, (off_t)c->msg.args[1], (off_t)c->msg.args[2], advice);
}

long op_copy_range(struct iond_call *c)
{
	const int64_t *a = c->msg.args;
	off_t off_in = (off_t)a[1], off_out = (off_t)a[3];
	int fd_in, fd_out;

	GET_FD(c, 0, fd_in);
	GET_FD(c, 2, fd_out);
	if (a[1] < -1 || a[3] < -1 || a[4] < 0)
		return -EINVAL;
	return fsp_copy_range(fd_in, a[1] == -1 ? NULL : &off_in, fd_out,
			      a[3] == -1 ? NULL : &off_out, (size_t)a[4]);
}
