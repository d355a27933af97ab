/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded descriptors: open, close, dup, fcntl, flock, and the calls on a
 * forwarded descriptor that cannot be forwarded faithfully.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <ferry/log.h>

#include "fdtable.h"
#include "forward.h"
#include "policy.h"
#include "raw_syscall.h"
#include "runtime_fds.h"
#include "session.h"

long cnk_fwd_open(long nr, const long *a)
{
	char abspath[FERRY_PATH_MAX];
	struct cnk_target target, *t = &target;
	struct cnk_file *f = NULL;
	const char *path;
	int dirfd = AT_FDCWD, flags;
	long ret, mode, handle;
	uint64_t resolve = 0;
	struct ferry_msg m;

	switch (nr) {
	case SYS_creat:
		path = (const char *)a[0];
		flags = O_CREAT | O_WRONLY | O_TRUNC;
		mode = a[1];
		break;
	case SYS_open:
		path = (const char *)a[0];
		flags = (int)a[1];
		mode = a[2];
		break;
	case SYS_openat2: {
		const struct open_how *how = (const struct open_how *)a[2];

		if ((size_t)a[3] < sizeof(struct open_how))
			return -EINVAL;
		dirfd = (int)a[0];
		path = (const char *)a[1];
		flags = (int)how->flags;
		if (how->flags >> 32)
			return -EINVAL;
		mode = (long)how->mode;
		resolve = how->resolve;
		break;
	}
	default:
		dirfd = (int)a[0];
		path = (const char *)a[1];
		flags = (int)a[2];
		mode = a[3];
		break;
	}
	ret = cnk_policy_resolve(dirfd, path, t);
	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	if (flags & (O_CREAT | __O_TMPFILE))
		mode = cnk_apply_umask((mode_t)mode);
	else
		mode = 0;
	cnk_session_msg(&m, FERRY_OP_OPENAT);
	ferry_msg_add_arg(&m, t->dh);
	ferry_msg_add_arg(&m, flags);
	ferry_msg_add_arg(&m, mode);
	ferry_msg_add_arg(&m, (int64_t)resolve);
	ferry_msg_add_path(&m, t->path);
	handle = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	if (handle < 0) {
		ret = handle;
		goto out;
	}
	if (cnk_target_abspath(t, abspath, sizeof(abspath)) < 0)
		abspath[0] = '\0';
	f = cnk_file_new(handle, flags, abspath[0] ? abspath : NULL);
	if (!f) {
		cnk_remote_close(handle);
		ret = -ENOMEM;
		goto out;
	}
	ret = cnk_fd_install_new(f, (flags & O_CLOEXEC) != 0);
	cnk_file_put(f); /* the table holds its own reference (or none: CLOSE) */
out:
	cnk_target_release(t);
	return ret;
}

int cnk_remote_close(int64_t handle)
{
	struct ferry_msg m;

	cnk_session_msg(&m, FERRY_OP_CLOSE);
	ferry_msg_add_arg(&m, handle);
	return (int)cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
}

long cnk_fwd_close(long nr, const long *a)
{
	if (cnk_runtime_fd_is((int)a[0])) {
		FLOG_DEBUG(cnk_session_id(), cnk_session_job(),
			   "close(%d): the runtime's own descriptor stays open", (int)a[0]);
		return 0;
	}
	return cnk_fd_close((int)a[0]);
}

/* close_range around the runtime's own descriptors. */
static long close_range_sparing_runtime(unsigned first, unsigned last, unsigned flags)
{
	unsigned fd, from = first;
	long ret;

	for (fd = first < CNK_RUNTIME_FD_LOW ? CNK_RUNTIME_FD_LOW : first;
	     fd <= last && fd < CNK_RUNTIME_FD_SCAN; fd++) {
		if (!cnk_runtime_fd_is((int)fd))
			continue;
		if (fd > from) {
			ret = cnk_raw_syscall(SYS_close_range, from, fd - 1, flags);
			if (ret < 0)
				return ret;
		}
		from = fd + 1;
	}
	if (from > last)
		return 0;
	return cnk_raw_syscall(SYS_close_range, from, last, flags);
}

long cnk_fwd_close_range(long nr, const long *a)
{
	unsigned first = (unsigned)a[0], last = (unsigned)a[1], flags = (unsigned)a[2];
	long ret;

	if (first > last)
		return -EINVAL;
	/* Close-on-exec on the runtime's descriptors is harmless: exec closes
	 * the session anyway. */
	ret = (flags & CLOSE_RANGE_CLOEXEC) ? cnk_native(nr, a)
					    : close_range_sparing_runtime(first, last, flags);
	if (ret == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		cnk_fd_forget_range(first, last);
	return ret;
}

long cnk_fwd_dup(long nr, const long *a)
{
	int oldfd = (int)a[0], newfd = (int)a[1], flags = 0;
	long ret;

	if (nr == SYS_dup)
		return cnk_fd_is_forwarded(oldfd) ? cnk_fd_dup(oldfd, -1, CNK_DUP, 0)
						  : cnk_native(nr, a);
	if (nr == SYS_dup3) {
		flags = (int)a[2];
		if (oldfd == newfd)
			return -EINVAL;
	} else if (oldfd == newfd) {
		return cnk_native(nr, a); /* dup2 onto itself only checks oldfd */
	}
	if (flags & ~O_CLOEXEC)
		return -EINVAL;
	if (cnk_runtime_fd_is(newfd))
		return cnk_fwd_refuse(nr, EBUSY, "the runtime's own descriptor is in use");
	if (cnk_fd_is_forwarded(oldfd))
		return cnk_fd_dup(oldfd, newfd, CNK_DUP3, flags);
	/* A local descriptor replaces a forwarded one. */
	ret = cnk_native(nr, a);
	if (ret >= 0)
		cnk_fd_forget_range((unsigned)newfd, (unsigned)newfd);
	return ret;
}

static bool fcntl_is_lock_cmd(int cmd)
{
	switch (cmd) {
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return true;
	default:
		return false;
	}
}

static long fcntl_lock(struct cnk_file *f, int cmd, struct flock *fl)
{
	uint8_t wire[FERRY_WIRE_FLOCK_SIZE], out[FERRY_WIRE_FLOCK_SIZE];
	bool query = (cmd == F_GETLK || cmd == F_OFD_GETLK);
	bool wait = (cmd == F_SETLKW || cmd == F_OFD_SETLKW);
	struct ferry_msg m;
	size_t out_len = 0;
	long ret;

	ferry_flock_encode(fl, wire);
	cnk_session_msg(&m, FERRY_OP_FCNTL);
	ferry_msg_add_arg(&m, f->handle);
	ferry_msg_add_arg(&m, cmd);
	ferry_msg_add_arg(&m, 0);
	m.data = wire;
	m.data_len = sizeof(wire);
	ret = cnk_session_call(&m, NULL, out, sizeof(out), &out_len,
			       wait ? CNK_CALL_INTERRUPTIBLE : CNK_CALL_DEFAULT);
	if (ret < 0 || !query)
		return ret;
	if (ferry_flock_decode(out, out_len, fl) < 0)
		return -EIO;
	return ret;
}

long cnk_fwd_fcntl(long nr, const long *a)
{
	int fd = (int)a[0], cmd = (int)a[1];
	struct cnk_file *f = NULL;
	struct ferry_msg m;
	long ret;

	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (a[2] < 0 || a[2] >= CNK_FD_MAX)
			return -EINVAL;
		return cnk_fd_dup(fd, (int)a[2], CNK_DUPFD_MIN,
				  cmd == F_DUPFD_CLOEXEC ? O_CLOEXEC : 0);
	case F_GETFD:
	case F_SETFD:
		return cnk_native(nr, a); /* close-on-exec lives on the placeholder */
	default:
		break;
	}
	ret = cnk_fd_acquire(fd, &f);
	if (ret == 0)
		return cnk_native(nr, a);
	if (ret < 0)
		return ret;
	if (fcntl_is_lock_cmd(cmd)) {
		ret = fcntl_lock(f, cmd, (struct flock *)a[2]);
	} else if (cmd == F_GETFL || cmd == F_SETFL) {
		cnk_session_msg(&m, FERRY_OP_FCNTL);
		ferry_msg_add_arg(&m, f->handle);
		ferry_msg_add_arg(&m, cmd);
		ferry_msg_add_arg(&m, cmd == F_SETFL ? a[2] : 0);
		ret = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	} else {
		ret = cnk_fwd_refuse(nr, EINVAL, "fcntl command not forwarded");
	}
	cnk_file_put(f);
	return ret;
}

long cnk_fwd_flock(long nr, const long *a)
{
	struct cnk_file *f = NULL;
	struct ferry_msg m;
	long ret = cnk_fd_acquire((int)a[0], &f);

	if (ret == 0)
		return cnk_native(nr, a);
	if (ret < 0)
		return ret;
	cnk_session_msg(&m, FERRY_OP_FLOCK);
	ferry_msg_add_arg(&m, f->handle);
	ferry_msg_add_arg(&m, a[1]);
	ret = cnk_session_call(&m, NULL, NULL, 0, NULL,
			       (a[1] & LOCK_NB) ? CNK_CALL_DEFAULT : CNK_CALL_INTERRUPTIBLE);
	cnk_file_put(f);
	return ret;
}

long cnk_fwd_ioctl(long nr, const long *a)
{
	unsigned long req = (unsigned long)a[1];

	/* Close-on-exec belongs to the placeholder. */
	if (!cnk_fd_is_forwarded((int)a[0]) || req == FIOCLEX || req == FIONCLEX)
		return cnk_native(nr, a);
	return cnk_fwd_refuse(nr, ENOTTY, "ioctl is not forwarded");
}

/* Does this call (one cnk_fwd_unsupported serves) name anything forwarded? */
static bool unsupported_call_is_forwarded(long nr, const long *a)
{
	switch (nr) {
	case SYS_splice:
		return cnk_fd_is_forwarded((int)a[0]) || cnk_fd_is_forwarded((int)a[2]);
	case SYS_tee:
		return cnk_fd_is_forwarded((int)a[0]) || cnk_fd_is_forwarded((int)a[1]);
	case SYS_chroot:
		return cnk_policy_wants(AT_FDCWD, (const char *)a[0]);
	case SYS_inotify_add_watch:
		return cnk_policy_wants(AT_FDCWD, (const char *)a[1]);
	case SYS_name_to_handle_at:
		return cnk_policy_wants((int)a[0], (const char *)a[1]);
	default: /* getdents, vmsplice */
		return cnk_fd_is_forwarded((int)a[0]);
	}
}

long cnk_fwd_unsupported(long nr, const long *a)
{
	if (!unsupported_call_is_forwarded(nr, a))
		return cnk_native(nr, a);
	switch (nr) {
	case SYS_getdents:
		return cnk_fwd_refuse(nr, ENOSYS, "use getdents64");
	case SYS_chroot:
		return cnk_fwd_refuse(nr, EACCES, "cannot chroot into the I/O node");
	case SYS_inotify_add_watch:
		return cnk_fwd_refuse(nr, ENODEV, "no change notification for forwarded files");
	case SYS_name_to_handle_at:
		return cnk_fwd_refuse(nr, EOPNOTSUPP, "no file handles for forwarded files");
	default:
		return cnk_fwd_refuse(nr, EINVAL, "not forwarded");
	}
}
