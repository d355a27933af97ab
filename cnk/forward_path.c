/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded namespace calls: stat family, access, mkdir, unlink, rename,
 * links, truncate, chmod/chown, times, statfs, xattrs.  The f* variants
 * (fstat, fchmod, fgetxattr...) are the same calls on (fd, "") with
 * AT_EMPTY_PATH, as the kernel itself treats them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <utime.h>

#include "fdtable.h"
#include "forward.h"
#include "policy.h"
#include "session.h"
#include "statx_convert.h"

/* Resolve (dirfd, path), send op with args {dh, extra...} and the path (and
 * a second path when path2 is set).  Local targets run natively. */
static long path_op(long nr, const long *a, int dirfd, const char *path, uint16_t op,
		    const int64_t *extra, int nextra, const char *path2)
{
	struct cnk_target t;
	struct ferry_msg m;
	long ret = cnk_policy_resolve(dirfd, path, &t);
	int i;

	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	cnk_session_msg(&m, op);
	ferry_msg_add_arg(&m, t.dh);
	for (i = 0; i < nextra; i++)
		ferry_msg_add_arg(&m, extra[i]);
	ferry_msg_add_path(&m, t.path);
	ret = path2 ? ferry_msg_add_path(&m, path2) : 0;
	if (ret == 0)
		ret = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	cnk_target_release(&t);
	return ret;
}

/* statx of a target; fills out. */
static long target_statx(const struct cnk_target *t, int flags, unsigned mask, struct statx *out)
{
	uint8_t wire[FERRY_WIRE_STATX_SIZE];
	struct ferry_msg m;
	size_t len = 0;
	long ret;

	cnk_session_msg(&m, FERRY_OP_STATX);
	ferry_msg_add_arg(&m, t->dh);
	ferry_msg_add_arg(&m, flags);
	ferry_msg_add_arg(&m, mask);
	ferry_msg_add_path(&m, t->path);
	ret = cnk_session_call(&m, NULL, wire, sizeof(wire), &len, CNK_CALL_DEFAULT);
	if (ret < 0)
		return ret;
	return ferry_statx_decode(wire, len, out) < 0 ? -EIO : 0;
}

long cnk_fwd_file_statx(struct cnk_file *f, unsigned mask, struct statx *out)
{
	struct cnk_target t = { .dh = f->handle, .path = "", .dir = NULL };

	return target_statx(&t, AT_EMPTY_PATH, mask, out);
}

long cnk_fwd_stat(long nr, const long *a)
{
	int dirfd = AT_FDCWD, flags = 0;
	const char *path = (const char *)a[0];
	struct stat *out = (struct stat *)a[1];
	struct cnk_target t;
	struct statx stx;
	long ret;

	switch (nr) {
	case SYS_lstat:
		flags = AT_SYMLINK_NOFOLLOW;
		break;
	case SYS_fstat:
		dirfd = (int)a[0];
		path = "";
		flags = AT_EMPTY_PATH;
		break;
	case SYS_newfstatat:
		dirfd = (int)a[0];
		path = (const char *)a[1];
		out = (struct stat *)a[2];
		flags = (int)a[3];
		break;
	default:
		break;
	}
	ret = cnk_policy_resolve(dirfd, path, &t);
	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	ret = target_statx(&t, flags, STATX_BASIC_STATS, &stx);
	if (ret == 0 && !cnk_user_range_mapped(out, sizeof(*out)))
		ret = -EFAULT;
	if (ret == 0)
		cnk_statx_to_stat(&stx, out);
	cnk_target_release(&t);
	return ret;
}

long cnk_fwd_statx(long nr, const long *a)
{
	struct cnk_target t;
	long ret = cnk_policy_resolve((int)a[0], (const char *)a[1], &t);

	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	ret = cnk_user_range_mapped((void *)a[4], sizeof(struct statx))
		      ? target_statx(&t, (int)a[2], (unsigned)a[3], (struct statx *)a[4])
		      : -EFAULT;
	cnk_target_release(&t);
	return ret;
}

long cnk_fwd_statfs(long nr, const long *a)
{
	uint8_t wire[FERRY_WIRE_STATFS_SIZE];
	bool by_fd = (nr == SYS_fstatfs);
	struct cnk_target t;
	struct ferry_msg m;
	size_t len = 0;
	long ret = cnk_policy_resolve(by_fd ? (int)a[0] : AT_FDCWD,
				      by_fd ? "" : (const char *)a[0], &t);

	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	cnk_session_msg(&m, FERRY_OP_STATFS);
	ferry_msg_add_arg(&m, t.dh);
	ferry_msg_add_path(&m, t.path);
	ret = cnk_session_call(&m, NULL, wire, sizeof(wire), &len, CNK_CALL_DEFAULT);
	if (ret >= 0 && !cnk_user_range_mapped((void *)a[1], sizeof(struct statfs)))
		ret = -EFAULT;
	if (ret >= 0)
		ret = ferry_statfs_decode(wire, len, (struct statfs *)a[1]) < 0 ? -EIO : 0;
	cnk_target_release(&t);
	return ret;
}

long cnk_fwd_access(long nr, const long *a)
{
	int64_t args[2];

	if (nr == SYS_access) {
		args[0] = a[1];
		args[1] = 0;
		return path_op(nr, a, AT_FDCWD, (const char *)a[0], FERRY_OP_FACCESSAT, args, 2,
			       NULL);
	}
	args[0] = a[2];
	args[1] = nr == SYS_faccessat2 ? a[3] : 0;
	return path_op(nr, a, (int)a[0], (const char *)a[1], FERRY_OP_FACCESSAT, args, 2, NULL);
}

long cnk_fwd_mkdir(long nr, const long *a)
{
	bool at = (nr == SYS_mkdirat);
	int64_t mode = cnk_apply_umask((unsigned)a[at ? 2 : 1]);

	return path_op(nr, a, at ? (int)a[0] : AT_FDCWD, (const char *)a[at ? 1 : 0],
		       FERRY_OP_MKDIRAT, &mode, 1, NULL);
}

long cnk_fwd_mknod(long nr, const long *a)
{
	bool at = (nr == SYS_mknodat);
	unsigned mode = (unsigned)a[at ? 2 : 1];
	int64_t args[2] = { (mode & S_IFMT) | cnk_apply_umask(mode), a[at ? 3 : 2] };

	return path_op(nr, a, at ? (int)a[0] : AT_FDCWD, (const char *)a[at ? 1 : 0],
		       FERRY_OP_MKNODAT, args, 2, NULL);
}

long cnk_fwd_unlink(long nr, const long *a)
{
	int64_t flags = 0;

	if (nr == SYS_unlinkat) {
		flags = a[2];
		return path_op(nr, a, (int)a[0], (const char *)a[1], FERRY_OP_UNLINKAT, &flags, 1,
			       NULL);
	}
	if (nr == SYS_rmdir)
		flags = AT_REMOVEDIR;
	return path_op(nr, a, AT_FDCWD, (const char *)a[0], FERRY_OP_UNLINKAT, &flags, 1, NULL);
}

/* rename and link: both sides forwarded, or EXDEV (as across filesystems). */
static long two_path_op(long nr, const long *a, int olddir, const char *oldpath, int newdir,
			const char *newpath, uint16_t op, int64_t flags)
{
	struct cnk_target from, to;
	struct ferry_msg m;
	long r_from, r_to, ret;

	r_from = cnk_policy_resolve(olddir, oldpath, &from);
	if (r_from < 0)
		return r_from;
	r_to = cnk_policy_resolve(newdir, newpath, &to);
	if (r_to < 0) {
		ret = r_to;
		goto out_from;
	}
	if (r_from == 0 && r_to == 0) {
		ret = cnk_native(nr, a);
		goto out;
	}
	if (r_from != r_to) {
		ret = -EXDEV;
		goto out;
	}
	cnk_session_msg(&m, op);
	ferry_msg_add_arg(&m, from.dh);
	ferry_msg_add_arg(&m, to.dh);
	ferry_msg_add_arg(&m, flags);
	ferry_msg_add_path(&m, from.path);
	ferry_msg_add_path(&m, to.path);
	ret = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
out:
	cnk_target_release(&to);
out_from:
	cnk_target_release(&from);
	return ret;
}

long cnk_fwd_rename(long nr, const long *a)
{
	if (nr == SYS_rename)
		return two_path_op(nr, a, AT_FDCWD, (const char *)a[0], AT_FDCWD,
				   (const char *)a[1], FERRY_OP_RENAMEAT2, 0);
	return two_path_op(nr, a, (int)a[0], (const char *)a[1], (int)a[2], (const char *)a[3],
			   FERRY_OP_RENAMEAT2, nr == SYS_renameat2 ? a[4] : 0);
}

long cnk_fwd_link(long nr, const long *a)
{
	if (nr == SYS_link)
		return two_path_op(nr, a, AT_FDCWD, (const char *)a[0], AT_FDCWD,
				   (const char *)a[1], FERRY_OP_LINKAT, 0);
	return two_path_op(nr, a, (int)a[0], (const char *)a[1], (int)a[2], (const char *)a[3],
			   FERRY_OP_LINKAT, a[4]);
}

long cnk_fwd_symlink(long nr, const long *a)
{
	const char *target = (const char *)a[0];
	bool at = (nr == SYS_symlinkat);
	struct cnk_target t;
	struct ferry_msg m;
	long ret = cnk_policy_resolve(at ? (int)a[1] : AT_FDCWD, (const char *)a[at ? 2 : 1], &t);

	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	cnk_session_msg(&m, FERRY_OP_SYMLINKAT);
	ferry_msg_add_arg(&m, t.dh);
	ret = ferry_msg_add_path(&m, target); /* verbatim: the I/O node resolves it */
	if (ret == 0)
		ret = ferry_msg_add_path(&m, t.path);
	if (ret == 0)
		ret = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	cnk_target_release(&t);
	return ret;
}

long cnk_fwd_readlink(long nr, const long *a)
{
	bool at = (nr == SYS_readlinkat);
	char *buf = (char *)a[at ? 2 : 1];
	long bufsiz = a[at ? 3 : 2];
	size_t cap, len = 0;
	struct cnk_target t;
	struct ferry_msg m;
	long ret;

	if (bufsiz <= 0)
		return -EINVAL;
	ret = cnk_policy_resolve(at ? (int)a[0] : AT_FDCWD, (const char *)a[at ? 1 : 0], &t);
	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	cap = (size_t)bufsiz < FERRY_PATH_MAX ? (size_t)bufsiz : FERRY_PATH_MAX;
	if (!cnk_user_range_mapped(buf, cap)) {
		cnk_target_release(&t);
		return -EFAULT;
	}
	cnk_session_msg(&m, FERRY_OP_READLINKAT);
	ferry_msg_add_arg(&m, t.dh);
	ferry_msg_add_arg(&m, (int64_t)cap);
	ferry_msg_add_path(&m, t.path);
	ret = cnk_session_call(&m, NULL, buf, cap, &len, CNK_CALL_DEFAULT);
	if (ret >= 0)
		ret = (long)len;
	cnk_target_release(&t);
	return ret;
}

long cnk_fwd_truncate(long nr, const long *a)
{
	int64_t length = a[1];

	return path_op(nr, a, AT_FDCWD, (const char *)a[0], FERRY_OP_TRUNCATE, &length, 1, NULL);
}

long cnk_fwd_chmod(long nr, const long *a)
{
	int64_t args[2] = { 0, 0 };

	switch (nr) {
	case SYS_fchmod:
		args[0] = a[1] & 07777;
		args[1] = AT_EMPTY_PATH;
		return path_op(nr, a, (int)a[0], "", FERRY_OP_FCHMODAT, args, 2, NULL);
	case SYS_fchmodat:
		args[0] = a[2] & 07777;
		return path_op(nr, a, (int)a[0], (const char *)a[1], FERRY_OP_FCHMODAT, args, 2,
			       NULL);
	default:
		args[0] = a[1] & 07777;
		return path_op(nr, a, AT_FDCWD, (const char *)a[0], FERRY_OP_FCHMODAT, args, 2,
			       NULL);
	}
}

long cnk_fwd_chown(long nr, const long *a)
{
	/* uid/gid -1 ("unchanged") stay -1 on the wire. */
	int64_t args[3] = { (int32_t)a[1], (int32_t)a[2], 0 };

	switch (nr) {
	case SYS_fchown:
		args[2] = AT_EMPTY_PATH;
		return path_op(nr, a, (int)a[0], "", FERRY_OP_FCHOWNAT, args, 3, NULL);
	case SYS_fchownat:
		args[0] = (int32_t)a[2];
		args[1] = (int32_t)a[3];
		args[2] = a[4];
		return path_op(nr, a, (int)a[0], (const char *)a[1], FERRY_OP_FCHOWNAT, args, 3,
			       NULL);
	case SYS_lchown:
		args[2] = AT_SYMLINK_NOFOLLOW;
		/* fallthrough */
	default:
		return path_op(nr, a, AT_FDCWD, (const char *)a[0], FERRY_OP_FCHOWNAT, args, 3,
			       NULL);
	}
}

/* timeval pair -> timespec pair; -EINVAL for an out-of-range usec. */
static int timevals_to_times(const struct timeval *tv, int64_t out[4])
{
	int i;

	for (i = 0; i < 2; i++) {
		if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000)
			return -EINVAL;
		out[2 * i] = tv[i].tv_sec;
		out[2 * i + 1] = (int64_t)tv[i].tv_usec * 1000;
	}
	return 0;
}

long cnk_fwd_utimes(long nr, const long *a)
{
	int dirfd = AT_FDCWD, flags = 0;
	const char *path = (const char *)a[0];
	int64_t times[4];
	bool has_times = false;
	struct cnk_target t;
	struct ferry_msg m;
	long ret;

	switch (nr) {
	case SYS_utimensat: {
		const struct timespec *ts = (const struct timespec *)a[2];

		dirfd = (int)a[0];
		path = (const char *)a[1];
		flags = (int)a[3];
		if (!path) {
			/* futimens: the descriptor itself */
			path = "";
			flags |= AT_EMPTY_PATH;
		}
		if (ts) {
			has_times = true;
			times[0] = ts[0].tv_sec;
			times[1] = ts[0].tv_nsec;
			times[2] = ts[1].tv_sec;
			times[3] = ts[1].tv_nsec;
		}
		break;
	}
	case SYS_utime: {
		const struct utimbuf *ub = (const struct utimbuf *)a[1];

		if (ub) {
			has_times = true;
			times[0] = ub->actime;
			times[1] = 0;
			times[2] = ub->modtime;
			times[3] = 0;
		}
		break;
	}
	case SYS_futimesat:
		dirfd = (int)a[0];
		path = (const char *)a[1];
		if (a[2]) {
			has_times = true;
			if (timevals_to_times((const struct timeval *)a[2], times) < 0)
				return -EINVAL;
		}
		break;
	default: /* utimes */
		if (a[1]) {
			has_times = true;
			if (timevals_to_times((const struct timeval *)a[1], times) < 0)
				return -EINVAL;
		}
		break;
	}
	ret = cnk_policy_resolve(dirfd, path, &t);
	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	cnk_session_msg(&m, FERRY_OP_UTIMENSAT);
	ferry_msg_add_arg(&m, t.dh);
	ferry_msg_add_arg(&m, flags);
	ferry_msg_add_arg(&m, has_times);
	ferry_msg_add_path(&m, t.path);
	if (has_times) {
		m.data = times; /* x86-64: already little-endian i64 */
		m.data_len = sizeof(times);
	}
	ret = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	cnk_target_release(&t);
	return ret;
}

/* The xattr calls: {,l,f}{get,set,list,remove}xattr. */
long cnk_fwd_xattr(long nr, const long *a)
{
	bool by_fd = false, nofollow = false;
	const char *path, *name = NULL;
	int64_t op, size = 0, flags = 0;
	void *out = NULL;
	size_t out_cap = 0, out_len = 0;
	struct cnk_target t;
	struct ferry_msg m;
	const long *rest; /* the arguments after the path / fd */
	long ret;

	switch (nr) {
	case SYS_fgetxattr: case SYS_fsetxattr: case SYS_flistxattr: case SYS_fremovexattr:
		by_fd = true;
		break;
	case SYS_lgetxattr: case SYS_lsetxattr: case SYS_llistxattr: case SYS_lremovexattr:
		nofollow = true;
		break;
	default:
		break;
	}
	path = by_fd ? "" : (const char *)a[0];
	rest = a + 1;
	switch (nr) {
	case SYS_getxattr: case SYS_lgetxattr: case SYS_fgetxattr:
		op = FERRY_OP_XATTR_GET;
		name = (const char *)rest[0];
		out = (void *)rest[1];
		size = rest[2];
		break;
	case SYS_setxattr: case SYS_lsetxattr: case SYS_fsetxattr:
		op = FERRY_OP_XATTR_SET;
		name = (const char *)rest[0];
		size = rest[2];
		flags = rest[3];
		break;
	case SYS_listxattr: case SYS_llistxattr: case SYS_flistxattr:
		op = FERRY_OP_XATTR_LIST;
		out = (void *)rest[0];
		size = rest[1];
		break;
	default:
		op = FERRY_OP_XATTR_REMOVE;
		name = (const char *)rest[0];
		break;
	}
	if (size < 0)
		return -EINVAL;
	if ((size_t)size > cnk_session_inline_max()) {
		if (op == FERRY_OP_XATTR_SET)
			return -E2BIG;
		size = (int64_t)cnk_session_inline_max();
	}
	ret = cnk_policy_resolve(by_fd ? (int)a[0] : AT_FDCWD, path, &t);
	if (ret <= 0)
		return ret == 0 ? cnk_native(nr, a) : ret;
	cnk_session_msg(&m, (uint16_t)op);
	ferry_msg_add_arg(&m, t.dh);
	if (op == FERRY_OP_XATTR_SET)
		ferry_msg_add_arg(&m, flags);
	else if (op != FERRY_OP_XATTR_REMOVE)
		ferry_msg_add_arg(&m, size);
	ferry_msg_add_arg(&m, nofollow);
	ret = ferry_msg_add_path(&m, t.path);
	if (ret == 0 && name)
		ret = ferry_msg_add_path(&m, name);
	if (ret < 0)
		goto out;
	if (op == FERRY_OP_XATTR_SET) {
		m.data = (const void *)rest[1];
		m.data_len = (uint32_t)size;
	} else if (out && size > 0) {
		out_cap = (size_t)size;
	}
	ret = cnk_session_call(&m, NULL, out, out_cap, &out_len, CNK_CALL_DEFAULT);
out:
	cnk_target_release(&t);
	return ret;
}
