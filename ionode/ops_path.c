/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace opcodes: everything that names a path (dh + path).  Confinement
 * to the exports is fsproxy's job; here arguments are checked and results
 * encoded.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

#include <ferry/fsproxy.h>

#include "call.h"
#include "session.h"

#define XATTR_VALUE_MAX 65536 /* Linux XATTR_SIZE_MAX */

static size_t bounded(int64_t asked, size_t cap)
{
	return (uint64_t)asked < cap ? (size_t)asked : cap;
}

long op_openat(struct iond_call *c)
{
	int dirfd, flags, mode, fd;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, flags);
	GET_INT(c, 2, mode);
	/* openat2 resolve flags: confinement is already RESOLVE_BENEATH the
	 * export; anything stricter is not implemented, so refuse it rather
	 * than ignore it. */
	if (c->msg.args[3] != 0)
		return -EINVAL;
	fd = fsp_openat(c->ctx->exports, dirfd, c->msg.paths[0], flags, (mode_t)mode);
	if (fd < 0)
		return fd;
	return iond_session_add_fd(c->sess, fd);
}

long op_statx(struct iond_call *c)
{
	struct statx stx;
	int dirfd, at_flags, mask, rc;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, at_flags);
	if (c->msg.args[2] < 0 || c->msg.args[2] > UINT32_MAX)
		return -EINVAL;
	mask = (int)(uint32_t)c->msg.args[2];
	memset(&stx, 0, sizeof(stx));
	rc = fsp_statx(c->ctx->exports, dirfd, c->msg.paths[0], at_flags, (unsigned int)mask,
		       &stx);
	if (rc < 0)
		return rc;
	ferry_statx_encode(&stx, c->scratch->data);
	c->out_data = c->scratch->data;
	c->out_len = FERRY_WIRE_STATX_SIZE;
	return 0;
}

long op_faccessat(struct iond_call *c)
{
	int dirfd, mode, at_flags;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, mode);
	GET_INT(c, 2, at_flags);
	return fsp_faccessat(c->ctx->exports, dirfd, c->msg.paths[0], mode, at_flags);
}

long op_mkdirat(struct iond_call *c)
{
	int dirfd, mode;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, mode);
	return fsp_mkdirat(c->ctx->exports, dirfd, c->msg.paths[0], (mode_t)mode);
}

long op_mknodat(struct iond_call *c)
{
	int dirfd, mode;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, mode);
	/* Device nodes on the PFS would be served with the daemon's rights:
	 * only regular files and FIFOs, as the protocol says. */
	if ((mode & S_IFMT) != 0 && !S_ISREG((mode_t)mode) && !S_ISFIFO((mode_t)mode))
		return -EPERM;
	return fsp_mknodat(c->ctx->exports, dirfd, c->msg.paths[0], (mode_t)mode,
			   (dev_t)c->msg.args[2]);
}

long op_unlinkat(struct iond_call *c)
{
	int dirfd, at_flags;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, at_flags);
	return fsp_unlinkat(c->ctx->exports, dirfd, c->msg.paths[0], at_flags);
}

long op_renameat2(struct iond_call *c)
{
	int olddirfd, newdirfd, flags;

	GET_DIRFD(c, 0, olddirfd);
	GET_DIRFD(c, 1, newdirfd);
	GET_INT(c, 2, flags);
	return fsp_renameat2(c->ctx->exports, olddirfd, c->msg.paths[0], newdirfd,
			     c->msg.paths[1], (unsigned int)flags);
}

long op_linkat(struct iond_call *c)
{
	int olddirfd, newdirfd, at_flags;

	GET_DIRFD(c, 0, olddirfd);
	GET_DIRFD(c, 1, newdirfd);
	GET_INT(c, 2, at_flags);
	return fsp_linkat(c->ctx->exports, olddirfd, c->msg.paths[0], newdirfd, c->msg.paths[1],
			  at_flags);
}

long op_symlinkat(struct iond_call *c)
{
	int newdirfd;

	GET_DIRFD(c, 0, newdirfd);
	return fsp_symlinkat(c->ctx->exports, c->msg.paths[0], newdirfd, c->msg.paths[1]);
}

long op_readlinkat(struct iond_call *c)
{
	size_t bufsiz;
	long len;
	int dirfd;

	GET_DIRFD(c, 0, dirfd);
	if (c->msg.args[1] <= 0)
		return -EINVAL; /* as readlink(2) */
	bufsiz = bounded(c->msg.args[1], c->ctx->reply_data_max);
	len = fsp_readlinkat(c->ctx->exports, dirfd, c->msg.paths[0], c->scratch->data, bufsiz);
	if (len < 0)
		return len;
	c->out_data = c->scratch->data;
	c->out_len = (uint32_t)len;
	return len;
}

long op_truncate(struct iond_call *c)
{
	int dirfd;

	GET_DIRFD(c, 0, dirfd);
	if (c->msg.args[1] < 0)
		return -EINVAL;
	return fsp_truncate(c->ctx->exports, dirfd, c->msg.paths[0], (off_t)c->msg.args[1]);
}

long op_fchmodat(struct iond_call *c)
{
	int dirfd, mode, at_flags;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, mode);
	GET_INT(c, 2, at_flags);
	return fsp_fchmodat(c->ctx->exports, dirfd, c->msg.paths[0], (mode_t)mode, at_flags);
}

/* uid/gid: 0..UINT32_MAX, or -1 for "leave unchanged" as chown(2). */
static int id_arg(int64_t v, uint32_t *out)
{
	if (v == -1) {
		*out = UINT32_MAX;
		return 0;
	}
	if (v < 0 || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

long op_fchownat(struct iond_call *c)
{
	uint32_t uid, gid;
	int dirfd, at_flags;

	GET_DIRFD(c, 0, dirfd);
	if (id_arg(c->msg.args[1], &uid) || id_arg(c->msg.args[2], &gid))
		return -EINVAL;
	GET_INT(c, 3, at_flags);
	return fsp_fchownat(c->ctx->exports, dirfd, c->msg.paths[0], (uid_t)uid, (gid_t)gid,
			    at_flags);
}

static int64_t read_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

long op_utimensat(struct iond_call *c)
{
	struct timespec times[2];
	const unsigned char *d = c->msg.data;
	int dirfd, at_flags;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, at_flags);
	if (c->msg.args[2] == 0)
		return fsp_utimensat(c->ctx->exports, dirfd, c->msg.paths[0], NULL, at_flags);
	if (c->msg.data_len != 32)
		return -EINVAL;
	for (int i = 0; i < 2; i++) {
		int64_t nsec = read_le64(d + 16 * i + 8);

		times[i].tv_sec = (time_t)read_le64(d + 16 * i);
		/* UTIME_NOW and UTIME_OMIT pass through; the kernel checks
		 * the rest, but keep the cast from truncating. */
		if (nsec < 0 || nsec > (int64_t)UTIME_NOW)
			return -EINVAL;
		times[i].tv_nsec = (long)nsec;
	}
	return fsp_utimensat(c->ctx->exports, dirfd, c->msg.paths[0], times, at_flags);
}

long op_statfs(struct iond_call *c)
{
	struct statfs sfs;
	int dirfd, rc;

	GET_DIRFD(c, 0, dirfd);
	memset(&sfs, 0, sizeof(sfs));
	rc = fsp_statfs(c->ctx->exports, dirfd, c->msg.paths[0], &sfs);
	if (rc < 0)
		return rc;
	ferry_statfs_encode(&sfs, c->scratch->data);
	c->out_data = c->scratch->data;
	c->out_len = FERRY_WIRE_STATFS_SIZE;
	return 0;
}

static int nofollow_arg(int64_t v, int *out)
{
	if (v != 0 && v != 1)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* getxattr and listxattr: the buffer size in args[1], which the reply's
 * data bounds, and nofollow in args[2]. */
static int xattr_query_args(const struct iond_call *c, size_t *size, int *nofollow)
{
	if (c->msg.args[1] < 0 || nofollow_arg(c->msg.args[2], nofollow))
		return -EINVAL;
	*size = bounded(c->msg.args[1], c->ctx->reply_data_max);
	return 0;
}

/* A size of 0 asks only for the length; otherwise the reply carries the
 * len bytes the call left in the scratch buffer. */
static long xattr_query_reply(struct iond_call *c, size_t size, long len)
{
	if (len < 0)
		return len;
	if (size) {
		c->out_data = c->scratch->data;
		c->out_len = (uint32_t)len;
	}
	return len;
}

long op_xattr_get(struct iond_call *c)
{
	size_t size;
	int dirfd, nofollow;
	long len;

	GET_DIRFD(c, 0, dirfd);
	if (xattr_query_args(c, &size, &nofollow))
		return -EINVAL;
	if (size > XATTR_VALUE_MAX)
		size = XATTR_VALUE_MAX;
	len = fsp_getxattr(c->ctx->exports, dirfd, c->msg.paths[0], nofollow, c->msg.paths[1],
			   size ? c->scratch->data : NULL, size);
	return xattr_query_reply(c, size, len);
}

long op_xattr_set(struct iond_call *c)
{
	int dirfd, flags, nofollow;

	GET_DIRFD(c, 0, dirfd);
	GET_INT(c, 1, flags);
	if (nofollow_arg(c->msg.args[2], &nofollow))
		return -EINVAL;
	if (c->msg.data_len > XATTR_VALUE_MAX)
		return -E2BIG;
	return fsp_setxattr(c->ctx->exports, dirfd, c->msg.paths[0], nofollow, c->msg.paths[1],
			    c->msg.data, c->msg.data_len, flags);
}

long op_xattr_list(struct iond_call *c)
{
	size_t size;
	int dirfd, nofollow;
	long len;

	GET_DIRFD(c, 0, dirfd);
	if (xattr_query_args(c, &size, &nofollow))
		return -EINVAL;
	len = fsp_listxattr(c->ctx->exports, dirfd, c->msg.paths[0], nofollow,
			    size ? c->scratch->data : NULL, size);
	return xattr_query_reply(c, size, len);
}

long op_xattr_remove(struct iond_call *c)
{
	int dirfd, nofollow;

	GET_DIRFD(c, 0, dirfd);
	if (nofollow_arg(c->msg.args[1], &nofollow))
		return -EINVAL;
	return fsp_removexattr(c->ctx->exports, dirfd, c->msg.paths[0], nofollow,
			       c->msg.paths[1]);
}
