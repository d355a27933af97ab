/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The path-based POSIX operations, each confined to its export.  Calls that
 * do not follow their last component run as *at() on the confined parent
 * directory with the bare name; calls that follow it get the target as an
 * O_PATH descriptor from openat2 (so a symlink's target is confined too)
 * and reach it through AT_EMPTY_PATH or /proc/self/fd/N.
 */
#include "fsp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat2, snprintf */
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

/*
 * A path ending in '/' must name a directory (after following a symlink, as
 * path resolution does).  The parent/name split drops the slash, so check
 * it here: -ENOTDIR for a file, the lookup error (-ENOENT) when absent.
 */
static int require_dir_if_slash(const struct fsp_exports *e, int dirfd, const char *path,
				const struct fsp_parent *pp)
{
	struct fsp_path p;
	int fd, ret;

	if (!pp->trailing_slash)
		return 0;
	ret = fsp_path_init(e, dirfd, path, &p);
	if (ret < 0)
		return ret;
	fd = fsp_open_beneath(e, &p, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/*
 * The parent and name of an existing entry that the call acts on without
 * following it (unlinkat, readlinkat, utimensat with AT_SYMLINK_NOFOLLOW,
 * the l*xattr calls): a trailing '/' requires the entry to be a directory.
 */
static int parent_open_entry(const struct fsp_exports *e, int dirfd, const char *path,
			     struct fsp_parent *pp)
{
	int ret;

	ret = fsp_parent_open(e, dirfd, path, pp);
	if (ret < 0)
		return ret;
	return require_dir_if_slash(e, dirfd, path, pp);
}

int fsp_openat(struct fsp_exports *e, int dirfd, const char *path, int flags, mode_t mode)
{
	struct fsp_path p;
	int ret;

	ret = fsp_path_init(e, dirfd, path, &p);
	if (ret < 0)
		return ret;
	return fsp_open_beneath(e, &p, flags, mode);
}

int fsp_statx(struct fsp_exports *e, int dirfd, const char *path, int at_flags,
	      unsigned int mask, struct statx *out)
{
	struct fsp_target tgt = { .fd = -1 };
	int ret;

	if (at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE))
		return -EINVAL;
	ret = fsp_target_open(e, dirfd, path, at_flags & AT_SYMLINK_NOFOLLOW,
			      at_flags & AT_EMPTY_PATH, &tgt);
	if (ret < 0)
		goto out;
	if (statx(tgt.fd, "", AT_EMPTY_PATH | (at_flags & (AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)),
		  mask, out) != 0)
		ret = -errno;
out:
	fsp_target_close(&tgt);
	return ret;
}

int fsp_faccessat(struct fsp_exports *e, int dirfd, const char *path, int mode, int at_flags)
{
	char fd_path[FSP_FD_PATH_MAX];
	struct fsp_target tgt = { .fd = -1 };
	int ret;

	if (at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_EACCESS))
		return -EINVAL;
	ret = fsp_target_open(e, dirfd, path, at_flags & AT_SYMLINK_NOFOLLOW,
			      at_flags & AT_EMPTY_PATH, &tgt);
	if (ret < 0)
		goto out;
	/* The magic link leads to exactly the inode openat2 found. */
	fsp_fd_path(tgt.fd, fd_path);
	if (faccessat(AT_FDCWD, fd_path, mode, at_flags & AT_EACCESS) != 0)
		ret = -errno;
out:
	fsp_target_close(&tgt);
	return ret;
}

int fsp_mkdirat(struct fsp_exports *e, int dirfd, const char *path, mode_t mode)
{
	struct fsp_parent pp;
	int ret;

	ret = fsp_parent_open(e, dirfd, path, &pp);
	if (ret < 0)
		goto out;
	if (mkdirat(pp.parent_fd, pp.name, mode) != 0)
		ret = -errno;
out:
	fsp_parent_release(&pp);
	return ret;
}

int fsp_mknodat(struct fsp_exports *e, int dirfd, const char *path, mode_t mode, dev_t dev)
{
	struct fsp_parent pp;
	int ret;

	/* Device nodes on a shared filesystem would be a way around it. */
	if ((mode & S_IFMT) != 0 && !S_ISREG(mode) && !S_ISFIFO(mode))
		return -EPERM;
	ret = fsp_parent_open(e, dirfd, path, &pp);
	if (ret < 0)
		goto out;
	if (pp.trailing_slash) {
		ret = -ENOENT;
		goto out;
	}
	if (mknodat(pp.parent_fd, pp.name, mode, 0) != 0)
		ret = -errno;
out:
	fsp_parent_release(&pp);
	return ret;
}

int fsp_unlinkat(struct fsp_exports *e, int dirfd, const char *path, int at_flags)
{
	struct fsp_parent pp;
	int ret;

	if (at_flags & ~AT_REMOVEDIR)
		return -EINVAL;
	ret = parent_open_entry(e, dirfd, path, &pp);
	if (ret < 0)
		goto out;
	if (unlinkat(pp.parent_fd, pp.name, at_flags) != 0)
		ret = -errno;
out:
	fsp_parent_release(&pp);
	return ret;
}

int fsp_renameat2(struct fsp_exports *e, int olddirfd, const char *oldpath, int newdirfd,
		  const char *newpath, unsigned int flags)
{
	struct fsp_parent from = { .parent_fd = -1 }, to = { .parent_fd = -1 };
	int ret;

	ret = fsp_parent_open(e, olddirfd, oldpath, &from);
	if (ret < 0)
		goto out;
	ret = fsp_parent_open(e, newdirfd, newpath, &to);
	if (ret < 0)
		goto out;
	/* Two exports may share a filesystem; the kernel would allow it. */
	if (fsp_parent_export(e, &from) != fsp_parent_export(e, &to)) {
		ret = -EXDEV;
		goto out;
	}
	ret = require_dir_if_slash(e, olddirfd, oldpath, &from);
	if (ret < 0)
		goto out;
	if (to.trailing_slash) {
		ret = require_dir_if_slash(e, newdirfd, newpath, &to);
		if (ret == -ENOENT)
			ret = 0; /* "mv dir new/" is fine when new does not exist */
		if (ret < 0)
			goto out;
	}
	if (renameat2(from.parent_fd, from.name, to.parent_fd, to.name, flags) != 0)
		ret = -errno;
out:
	fsp_parent_release(&from);
	fsp_parent_release(&to);
	return ret;
}

int fsp_linkat(struct fsp_exports *e, int olddirfd, const char *oldpath, int newdirfd,
	       const char *newpath, int at_flags)
{
	struct fsp_parent to = { .parent_fd = -1 };
	char fd_path[FSP_FD_PATH_MAX];
	const struct fsp_export *from_ex;
	struct fsp_target from = { .fd = -1 };
	int ret;

	if (at_flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	/* The source as an O_PATH descriptor: followed (confined) only with
	 * AT_SYMLINK_FOLLOW, as linkat(2). */
	ret = fsp_target_open(e, olddirfd, oldpath, !(at_flags & AT_SYMLINK_FOLLOW),
			      at_flags & AT_EMPTY_PATH, &from);
	if (ret < 0)
		goto out;
	ret = fsp_parent_open(e, newdirfd, newpath, &to);
	if (ret < 0)
		goto out;
	from_ex = fsp_export_by_fd(e, from.fd, NULL, 0);
	if (from_ex != fsp_parent_export(e, &to)) {
		ret = -EXDEV;
		goto out;
	}
	if (to.trailing_slash) {
		ret = -ENOENT;
		goto out;
	}
	/* Linking an O_PATH descriptor: through its magic link with
	 * AT_SYMLINK_FOLLOW, which needs no CAP_DAC_READ_SEARCH (unlike
	 * AT_EMPTY_PATH) and links a symlink itself when from_fd is one. */
	fsp_fd_path(from.fd, fd_path);
	if (linkat(AT_FDCWD, fd_path, to.parent_fd, to.name, AT_SYMLINK_FOLLOW) != 0)
		ret = -errno;
out:
	fsp_target_close(&from);
	fsp_parent_release(&to);
	return ret;
}

int fsp_symlinkat(struct fsp_exports *e, const char *target, int newdirfd, const char *linkpath)
{
	struct fsp_parent pp;
	int ret;

	if (!target)
		return -EFAULT;
	ret = fsp_parent_open(e, newdirfd, linkpath, &pp);
	if (ret < 0)
		goto out;
	if (pp.trailing_slash) {
		ret = -ENOENT;
		goto out;
	}
	if (symlinkat(target, pp.parent_fd, pp.name) != 0)
		ret = -errno;
out:
	fsp_parent_release(&pp);
	return ret;
}

long fsp_readlinkat(struct fsp_exports *e, int dirfd, const char *path, char *buf, size_t bufsiz)
{
	struct fsp_parent pp = { .parent_fd = -1 };
	ssize_t n;
	long ret;

	if (bufsiz == 0)
		return -EINVAL;
	if (path && path[0] == '\0') {
		/* The handle itself (an O_PATH|O_NOFOLLOW descriptor of a link). */
		if (dirfd < 0)
			return dirfd == FSP_AT_ROOT ? -ENOENT : -EBADF;
		n = readlinkat(dirfd, "", buf, bufsiz);
		return n < 0 ? -errno : (long)n;
	}
	/* The link is never followed: its parent and name suffice, and a
	 * regular file gives EINVAL as readlink(2) does. */
	ret = parent_open_entry(e, dirfd, path, &pp);
	if (ret < 0)
		goto out;
	n = readlinkat(pp.parent_fd, pp.name, buf, bufsiz);
	ret = n < 0 ? -errno : (long)n;
out:
	fsp_parent_release(&pp);
	return ret;
}

int fsp_truncate(struct fsp_exports *e, int dirfd, const char *path, off_t length)
{
	int fd, ret = 0;

	if (length < 0)
		return -EINVAL;
	/* O_NONBLOCK: a FIFO must not block the worker (it then fails ENXIO). */
	fd = fsp_openat(e, dirfd, path, O_WRONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, length) != 0)
		ret = -errno;
	close(fd);
	return ret;
}

int fsp_fchmodat(struct fsp_exports *e, int dirfd, const char *path, mode_t mode, int at_flags)
{
	char fd_path[FSP_FD_PATH_MAX];
	struct fsp_target tgt = { .fd = -1 };
	int ret;

	if (at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	ret = fsp_target_open(e, dirfd, path, at_flags & AT_SYMLINK_NOFOLLOW,
			      at_flags & AT_EMPTY_PATH, &tgt);
	if (ret < 0)
		goto out;
	fsp_fd_path(tgt.fd, fd_path);
	/* Symlinks have no mode of their own on Linux. */
	if ((at_flags & AT_SYMLINK_NOFOLLOW)) {
		struct stat st;

		if (fstat(tgt.fd, &st) != 0) {
			ret = -errno;
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			ret = -EOPNOTSUPP;
			goto out;
		}
	}
	if (chmod(fd_path, mode) != 0)
		ret = -errno;
out:
	fsp_target_close(&tgt);
	return ret;
}

int fsp_fchownat(struct fsp_exports *e, int dirfd, const char *path, uid_t uid, gid_t gid,
		 int at_flags)
{
	struct fsp_target tgt = { .fd = -1 };
	int ret;

	if (at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	ret = fsp_target_open(e, dirfd, path, at_flags & AT_SYMLINK_NOFOLLOW,
			      at_flags & AT_EMPTY_PATH, &tgt);
	if (ret < 0)
		goto out;
	/* On an O_PATH|O_NOFOLLOW descriptor this changes the link itself. */
	if (fchownat(tgt.fd, "", uid, gid, AT_EMPTY_PATH) != 0)
		ret = -errno;
out:
	fsp_target_close(&tgt);
	return ret;
}

int fsp_utimensat(struct fsp_exports *e, int dirfd, const char *path,
		  const struct timespec times[2], int at_flags)
{
	struct fsp_parent pp = { .parent_fd = -1 };
	char fd_path[FSP_FD_PATH_MAX];
	struct fsp_target tgt = { .fd = -1 };
	int ret;

	if (at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	if ((at_flags & AT_SYMLINK_NOFOLLOW) && !(path && path[0] == '\0')) {
		/* The link itself: its parent and name, never followed. */
		ret = parent_open_entry(e, dirfd, path, &pp);
		if (ret < 0)
			goto out;
		if (utimensat(pp.parent_fd, pp.name, times, AT_SYMLINK_NOFOLLOW) != 0)
			ret = -errno;
		goto out;
	}
	ret = fsp_target_open(e, dirfd, path, false, at_flags & AT_EMPTY_PATH, &tgt);
	if (ret < 0)
		goto out;
	fsp_fd_path(tgt.fd, fd_path);
	if (utimensat(AT_FDCWD, fd_path, times, 0) != 0)
		ret = -errno;
out:
	fsp_target_close(&tgt);
	fsp_parent_release(&pp);
	return ret;
}

int fsp_statfs(struct fsp_exports *e, int dirfd, const char *path, struct statfs *out)
{
	struct fsp_target tgt = { .fd = -1 };
	int ret;

	ret = fsp_target_open(e, dirfd, path, false, true, &tgt);
	if (ret < 0)
		goto out;
	if (fstatfs(tgt.fd, out) != 0)
		ret = -errno;
out:
	fsp_target_close(&tgt);
	return ret;
}

/*
 * xattrs.  The l*xattr variants act on a symlink itself: that needs a path,
 * "/proc/self/fd/PARENT/name", whose last component is never followed.  The
 * following variants reach the confined target through its magic link.
 */
struct xattr_target {
	struct fsp_parent pp;
	struct fsp_target tgt;
	char path[FSP_FD_PATH_MAX + NAME_MAX + 2];
};

static int xattr_target_open(const struct fsp_exports *e, int dirfd, const char *path,
			     int nofollow, struct xattr_target *t)
{
	char fd_path[FSP_FD_PATH_MAX];
	int ret;

	memset(t, 0, sizeof(*t));
	t->pp.parent_fd = -1;
	t->tgt.fd = -1;
	if (nofollow && path && path[0] != '\0') {
		ret = parent_open_entry(e, dirfd, path, &t->pp);
		if (ret < 0)
			return ret;
		fsp_fd_path(t->pp.parent_fd, fd_path);
		snprintf(t->path, sizeof(t->path), "%s/%s", fd_path, t->pp.name);
		return 0;
	}
	ret = fsp_target_open(e, dirfd, path, false, true, &t->tgt);
	if (ret < 0)
		return ret;
	fsp_fd_path(t->tgt.fd, t->path);
	return 0;
}

static void xattr_target_close(struct xattr_target *t)
{
	fsp_target_close(&t->tgt);
	fsp_parent_release(&t->pp);
}

long fsp_getxattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow,
		  const char *name, void *value, size_t size)
{
	struct xattr_target t;
	ssize_t n;
	long ret;

	ret = xattr_target_open(e, dirfd, path, nofollow, &t);
	if (ret < 0)
		goto out;
	n = nofollow ? lgetxattr(t.path, name, value, size) : getxattr(t.path, name, value, size);
	ret = n < 0 ? -errno : (long)n;
out:
	xattr_target_close(&t);
	return ret;
}

int fsp_setxattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow,
		 const char *name, const void *value, size_t size, int flags)
{
	struct xattr_target t;
	int ret;

	ret = xattr_target_open(e, dirfd, path, nofollow, &t);
	if (ret < 0)
		goto out;
	if ((nofollow ? lsetxattr(t.path, name, value, size, flags)
		      : setxattr(t.path, name, value, size, flags)) != 0)
		ret = -errno;
out:
	xattr_target_close(&t);
	return ret;
}

long fsp_listxattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow, char *list,
		   size_t size)
{
	struct xattr_target t;
	ssize_t n;
	long ret;

	ret = xattr_target_open(e, dirfd, path, nofollow, &t);
	if (ret < 0)
		goto out;
	n = nofollow ? llistxattr(t.path, list, size) : listxattr(t.path, list, size);
	ret = n < 0 ? -errno : (long)n;
out:
	xattr_target_close(&t);
	return ret;
}

int fsp_removexattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow,
		    const char *name)
{
	struct xattr_target t;
	int ret;

	ret = xattr_target_open(e, dirfd, path, nofollow, &t);
	if (ret < 0)
		goto out;
	if ((nofollow ? lremovexattr(t.path, name) : removexattr(t.path, name)) != 0)
		ret = -errno;
out:
	xattr_target_close(&t);
	return ret;
}
