/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Confinement.  Every lookup runs through openat2 with RESOLVE_BENEATH and
 * RESOLVE_NO_MAGICLINKS from a directory inside an export, so neither "..",
 * nor an absolute or relative symlink, nor a /proc magic link can reach a
 * file outside it.  Operations then act on (parent directory, last name)
 * without following, or on an O_PATH descriptor openat2 returned when the
 * call follows its last symlink.
 */
#include "fsp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CONFINED_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

static int sys_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned int)(flags | O_CLOEXEC),
		/* openat2 rejects a mode unless a file may be created. */
		.mode = (flags & (O_CREAT | __O_TMPFILE)) ? (mode & 07777) : 0,
		.resolve = resolve,
	};
	long fd;

	do {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : (int)fd;
}

int fsp_path_init(const struct fsp_exports *e, int dirfd, const char *path, struct fsp_path *out)
{
	memset(out, 0, sizeof(*out));
	if (!path)
		return -EFAULT;
	out->orig = path;
	if (path[0] == '/' || dirfd == FSP_AT_ROOT) {
		const char *rest = NULL;

		if (path[0] != '/')
			return -ENOENT;
		out->ex = fsp_export_by_prefix(e, path, &rest);
		if (!out->ex)
			return -ENOENT;
		out->base_fd = out->ex->root_fd;
		out->rel = *rest ? rest : ".";
		return 0;
	}
	if (dirfd < 0)
		return -EBADF;
	if (path[0] == '\0')
		return -ENOENT;
	out->base_fd = dirfd;
	out->rel = path;
	return 0;
}

/*
 * RESOLVE_NO_MAGICLINKS reports a magic link as ELOOP, which is also the
 * honest answer for a symlink loop or O_NOFOLLOW on a symlink.  Asking
 * again for an O_PATH with RESOLVE_BENEATH alone tells them apart: that
 * refuses magic links with EXDEV (and never returns an escaping fd: if a
 * future kernel let it through, we still answer ELOOP).
 */
static bool eloop_is_magic_link(int base_fd, const char *rel, int flags)
{
	int fd = sys_openat2(base_fd, rel, O_PATH | (flags & O_NOFOLLOW), 0, RESOLVE_BENEATH);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return fd == -EXDEV;
}

int fsp_open_beneath(const struct fsp_exports *e, const struct fsp_path *p, int flags,
		     mode_t mode)
{
	char dir_rel[PATH_MAX];
	char combined[PATH_MAX];
	const struct fsp_export *ex;
	int base_fd = p->base_fd;
	const char *rel = p->rel;
	int fd;

	fd = sys_openat2(base_fd, rel, flags, mode, CONFINED_RESOLVE);
	if (fd == -EXDEV && (!p->ex || base_fd != p->ex->root_fd)) {
		/* ".." climbed above a daemon dirfd: redo the lookup from the
		 * export root, with the dirfd's position inside it prefixed, so
		 * that ".." may go up to (never past) the export root. */
		ex = fsp_export_by_fd(e, base_fd, dir_rel, sizeof(dir_rel));
		if (!ex)
			goto escape;
		if ((size_t)snprintf(combined, sizeof(combined), "%s%s%s", dir_rel,
				     dir_rel[0] ? "/" : "", rel) >= sizeof(combined))
			return -ENAMETOOLONG;
		base_fd = ex->root_fd;
		rel = combined;
		fd = sys_openat2(base_fd, rel, flags, mode, CONFINED_RESOLVE);
	}
	if (fd == -EXDEV)
		goto escape;
	if (fd == -ELOOP && eloop_is_magic_link(base_fd, rel, flags))
		goto escape;
	return fd;
escape:
	fsp_report_escape(e, p->orig);
	return -EACCES;
}

static bool is_dot_or_dotdot(const char *name, size_t len)
{
	return (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.');
}

int fsp_parent_open(const struct fsp_exports *e, int dirfd, const char *path,
		    struct fsp_parent *out)
{
	char parent_rel[PATH_MAX];
	struct fsp_path p;
	const char *last;
	size_t len, name_len;
	int ret;

	memset(out, 0, sizeof(*out));
	out->parent_fd = -1;
	ret = fsp_path_init(e, dirfd, path, &p);
	if (ret < 0)
		return ret;
	out->ex = p.ex;

	len = strlen(p.rel);
	if (len >= sizeof(parent_rel))
		return -ENAMETOOLONG;
	while (len > 1 && p.rel[len - 1] == '/') {
		len--;
		out->trailing_slash = true;
	}
	last = p.rel + len;
	while (last > p.rel && last[-1] != '/')
		last--;
	name_len = (size_t)(p.rel + len - last);
	if (name_len > NAME_MAX)
		return -ENAMETOOLONG;

	if (is_dot_or_dotdot(last, name_len)) {
		/* "x/.." names a directory, not an entry of x: resolve it whole. */
		memcpy(parent_rel, p.rel, len);
		parent_rel[len] = '\0';
		memcpy(out->name, ".", 2);
	} else {
		size_t parent_len = (size_t)(last - p.rel);

		memcpy(out->name, last, name_len);
		out->name[name_len] = '\0';
		if (parent_len == 0) {
			memcpy(parent_rel, ".", 2);
		} else {
			memcpy(parent_rel, p.rel, parent_len);
			parent_rel[parent_len] = '\0';
		}
	}
	p.rel = parent_rel;
	ret = fsp_open_beneath(e, &p, O_PATH | O_DIRECTORY, 0);
	if (ret < 0)
		return ret;
	out->parent_fd = ret;
	return 0;
}

void fsp_parent_release(struct fsp_parent *p)
{
	if (p->parent_fd >= 0)
		close(p->parent_fd);
	p->parent_fd = -1;
}

const struct fsp_export *fsp_parent_export(const struct fsp_exports *e, struct fsp_parent *p)
{
	if (!p->ex)
		p->ex = fsp_export_by_fd(e, p->parent_fd, NULL, 0);
	return p->ex;
}

int fsp_target_open(const struct fsp_exports *e, int dirfd, const char *path, bool nofollow,
		    bool empty_path, struct fsp_target *out)
{
	struct fsp_path p;
	int fd, ret;

	out->fd = -1;
	out->owned = false;
	if (path && path[0] == '\0' && empty_path) {
		if (dirfd < 0)
			return dirfd == FSP_AT_ROOT ? -ENOENT : -EBADF;
		out->fd = dirfd;
		return 0;
	}
	ret = fsp_path_init(e, dirfd, path, &p);
	if (ret < 0)
		return ret;
	fd = fsp_open_beneath(e, &p, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0);
	if (fd < 0)
		return fd;
	out->fd = fd;
	out->owned = true;
	return 0;
}

void fsp_target_close(struct fsp_target *t)
{
	if (t->owned && t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->owned = false;
}
