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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <ferry/log.h>

#include "fdtable.h"
#include "forward.h"
#include "policy.h"
#include "raw_syscall.h"
#include "runtime_fds.h"
#include "session.h"

/* An open's arguments, whichever call made it. */
struct open_args {
	int dirfd;
	const char *path;
	int flags;
	long mode;
	uint64_t resolve;
};

static long open_args_get(long nr, const long *a, struct open_args *o)
{
	*o = (struct open_args){ .dirfd = AT_FDCWD };
	switch (nr) {
	case SYS_creat:
		o->path = (const char *)a[0];
		o->flags = O_CREAT | O_WRONLY | O_TRUNC;
		o->mode = a[1];
		break;
	case SYS_open:
		o->path = (const char *)a[0];
		o->flags = (int)a[1];
		o->mode = a[2];
		break;
	case SYS_openat2: {
		const struct open_how *how = (const struct open_how *)a[2];

		if ((size_t)a[3] < sizeof(struct open_how))
			return -EINVAL;
		o->dirfd = (int)a[0];
		o->path = (const char *)a[1];
		o->flags = (int)how->flags;
		if (how->flags >> 32)
			return -EINVAL;
		o->mode = (long)how->mode;
		o->resolve = how->resolve;
		break;
	}
	default:
		o->dirfd = (int)a[0];
		o->path = (const char *)a[1];
		o->flags = (int)a[2];
		o->mode = a[3];
		break;
	}
	return 0;
}

/* An open's arguments, and where its path leads: 1 forwarded (release t
 * afterwards), 0 local, or -errno. */
static long open_resolve(long nr, const long *a, struct open_args *o, struct cnk_target *t)
{
	long ret = open_args_get(nr, a, o);

	return ret < 0 ? ret : cnk_policy_resolve(o->dirfd, o->path, t);
}

/* OPENAT at the I/O node: the remote handle, or -errno. */
static long open_remote(const struct cnk_target *t, const struct open_args *o)
{
	long mode = 0;
	struct ferry_msg m;

	if (o->flags & (O_CREAT | __O_TMPFILE))
		mode = cnk_apply_umask((mode_t)o->mode);
	cnk_session_msg(&m, FERRY_OP_OPENAT);
	ferry_msg_add_arg(&m, t->dh);
	ferry_msg_add_arg(&m, o->flags);
	ferry_msg_add_arg(&m, mode);
	ferry_msg_add_arg(&m, (int64_t)o->resolve);
	ferry_msg_add_path(&m, t->path);
	return cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
}

long cnk_fwd_open(long nr, const long *a)
{
	char abspath[FERRY_PATH_MAX];
	struct cnk_target target, *t = &target;
	struct cnk_file *f = NULL;
	struct open_args o;
	long ret, handle;

	ret = open_resolve(nr, a, &o, t);
	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	handle = open_remote(t, &o);
	if (handle < 0) {
		ret = handle;
		goto out;
	}
	if (cnk_target_abspath(t, abspath, sizeof(abspath)) < 0)
		abspath[0] = '\0';
	f = cnk_file_new(handle, o.flags, abspath[0] ? abspath : NULL);
	if (!f) {
		cnk_remote_close(handle);
		ret = -ENOMEM;
		goto out;
	}
	ret = cnk_fd_install_new(f, (o.flags & O_CLOEXEC) != 0);
	cnk_file_put(f); /* the table holds its own reference (or none: CLOSE) */
out:
	cnk_target_release(t);
	return ret;
}

/*
 * An open in a vfork child (posix_spawn's file actions), through its
 * parent's session.  The child shares the parent's memory, so the file
 * cannot enter the descriptor table; and it will exec at once.  The open is
 * made at the I/O node -- its errors are the child's, and O_CREAT/O_TRUNC
 * act now, in order with the other actions -- and closed again; the child
 * gets a placeholder, noted with the path (forward_exec.c), and the new
 * program reopens the file by path at offset 0.  The placeholder is a sealed
 * memfd, told apart from others by its inode whatever the child dup2s it
 * onto; reads of it see an empty file and writes fail, as it stands for a
 * file this process cannot use.
 */
long cnk_fwd_open_vfork_child(long nr, const long *a)
{
	char abspath[FERRY_PATH_MAX];
	struct cnk_target target, *t = &target;
	struct open_args o;
	long ret, handle, fd;

	ret = open_resolve(nr, a, &o, t);
	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	/* A file without a name cannot be reopened by the new program. */
	ret = -EOPNOTSUPP;
	if ((o.flags & __O_TMPFILE) == __O_TMPFILE || t->dir ||
	    cnk_target_abspath(t, abspath, sizeof(abspath)) < 0)
		goto out;
	handle = open_remote(t, &o);
	if (handle < 0) {
		ret = handle;
		goto out;
	}
	cnk_remote_close(handle);
	fd = cnk_raw_syscall(SYS_memfd_create, (long)"ferry-spawn-open",
			     MFD_ALLOW_SEALING | ((o.flags & O_CLOEXEC) ? MFD_CLOEXEC : 0), 0);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	cnk_raw_syscall(SYS_fcntl, fd, F_ADD_SEALS,
			F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK);
	ret = cnk_exec_note_vfork_open((int)fd, o.flags, abspath);
	if (ret < 0) {
		cnk_raw_syscall(SYS_close, fd, 0, 0);
		goto out;
	}
	ret = fd;
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
