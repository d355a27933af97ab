/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsproxy: the filesystem service behind ferry-iond.
 *
 *  - Exports: mount-table entries "COMPUTE_PREFIX=DIRECTORY" (e.g.
 *    "/pfs=/srv/scratch"); a compute path is mapped by longest prefix on
 *    whole components ("/pfsx" is not under "/pfs").
 *  - Confinement: every path is resolved beneath its export root with
 *    openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS).  "..", absolute
 *    symlinks and /proc magic links cannot leave the export: such a path
 *    fails with -EACCES (and the escape hook is told, for the log).
 *  - The POSIX backend: each operation takes a "dir" (a descriptor the
 *    daemon holds for the session, or FSP_AT_ROOT with an absolute compute
 *    path) and returns >= 0 or the negative errno the filesystem gave.
 *
 * fsproxy knows nothing about sessions, the wire or the network.
 */
#ifndef FERRY_FSPROXY_H
#define FERRY_FSPROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct statx;
struct statfs;
struct timespec;

#define FSP_AT_ROOT (-100) /* path is an absolute compute-node path */
#define FSP_MAX_EXPORTS 64

struct fsp_exports;

/* Create an empty export table. */
int fsp_exports_new(struct fsp_exports **out);
void fsp_exports_free(struct fsp_exports *e);
/* Add "PREFIX=DIR".  Errors: -EINVAL (malformed spec: no '=', prefix not
 * absolute, duplicate prefix), or the errno of opening DIR (e.g. -ENOENT). */
int fsp_exports_add(struct fsp_exports *e, const char *spec);
size_t fsp_exports_count(const struct fsp_exports *e);
/* Describe export i as "PREFIX=DIR" for logs; NULL past the end. */
const char *fsp_exports_describe(const struct fsp_exports *e, size_t i);

/* Called (from any worker thread) whenever a path tried to leave its export. */
typedef void (*fsp_escape_fn)(const char *path, void *arg);
void fsp_exports_on_escape(struct fsp_exports *e, fsp_escape_fn fn, void *arg);

/*
 * Path arguments: (dirfd, path) as in the *at() calls, where dirfd is either
 * FSP_AT_ROOT and path an absolute compute path ("/pfs/a/b"; -ENOENT when no
 * export matches), or a descriptor previously returned by fsp_openat (then a
 * relative path resolves beneath that directory's export, ".." allowed as
 * long as it stays inside the export; an absolute path is again a compute
 * path).  An empty path with AT_EMPTY_PATH means dirfd itself.
 */

/* open: returns a new descriptor owned by the caller (close with close(2)).
 * O_NOFOLLOW, O_CREAT|O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_PATH behave as
 * open(2).  O_CLOEXEC is always set on the daemon's side. */
int fsp_openat(struct fsp_exports *e, int dirfd, const char *path, int flags, mode_t mode);
int fsp_statx(struct fsp_exports *e, int dirfd, const char *path, int at_flags,
	      unsigned int mask, struct statx *out);
int fsp_faccessat(struct fsp_exports *e, int dirfd, const char *path, int mode, int at_flags);
int fsp_mkdirat(struct fsp_exports *e, int dirfd, const char *path, mode_t mode);
int fsp_mknodat(struct fsp_exports *e, int dirfd, const char *path, mode_t mode, dev_t dev);
int fsp_unlinkat(struct fsp_exports *e, int dirfd, const char *path, int at_flags);
int fsp_renameat2(struct fsp_exports *e, int olddirfd, const char *oldpath, int newdirfd,
		  const char *newpath, unsigned int flags); /* -EXDEV across exports */
int fsp_linkat(struct fsp_exports *e, int olddirfd, const char *oldpath, int newdirfd,
	       const char *newpath, int at_flags);
/* target is stored verbatim (it is the application's string). */
int fsp_symlinkat(struct fsp_exports *e, const char *target, int newdirfd, const char *linkpath);
/* Returns the target length (not NUL-terminated), as readlink(2). */
long fsp_readlinkat(struct fsp_exports *e, int dirfd, const char *path, char *buf, size_t bufsiz);
int fsp_truncate(struct fsp_exports *e, int dirfd, const char *path, off_t length);
int fsp_fchmodat(struct fsp_exports *e, int dirfd, const char *path, mode_t mode, int at_flags);
int fsp_fchownat(struct fsp_exports *e, int dirfd, const char *path, uid_t uid, gid_t gid,
		 int at_flags);
/* times NULL: now (as utimensat). */
int fsp_utimensat(struct fsp_exports *e, int dirfd, const char *path,
		  const struct timespec times[2], int at_flags);
int fsp_statfs(struct fsp_exports *e, int dirfd, const char *path, struct statfs *out);
/* xattrs: nofollow selects the l*xattr variant; an empty path means dirfd. */
long fsp_getxattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow,
		  const char *name, void *value, size_t size);
int fsp_setxattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow,
		 const char *name, const void *value, size_t size, int flags);
long fsp_listxattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow, char *list,
		   size_t size);
int fsp_removexattr(struct fsp_exports *e, int dirfd, const char *path, int nofollow,
		    const char *name);

/* Descriptor operations: thin, checked wrappers (negative errno on failure)
 * over the POSIX calls, so the daemon has one error convention. */
ssize_t fsp_pread(int fd, void *buf, size_t len, off_t off, int rwf); /* off -1: position */
ssize_t fsp_pwrite(int fd, const void *buf, size_t len, off_t off, int rwf);
off_t fsp_lseek(int fd, off_t off, int whence);
long fsp_getdents(int fd, void *buf, size_t len);
int fsp_ftruncate(int fd, off_t length);
int fsp_fsync(int fd, int datasync);
int fsp_fallocate(int fd, int mode, off_t off, off_t len);
int fsp_fadvise(int fd, off_t off, off_t len, int advice);
int fsp_flock(int fd, int op);
/* fcntl for F_GETFL/F_SETFL/F_GETFD/F_SETFD and the (OFD) lock commands;
 * any other cmd is -EINVAL.  arg is the flag word or a struct flock *. */
long fsp_fcntl(int fd, int cmd, long arg, void *flock_arg);
ssize_t fsp_copy_range(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len);

#endif
