/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the fsproxy sources share: the export table and the confined
 * resolver.  Not part of the public interface.
 */
#ifndef FERRY_FSP_INTERNAL_H
#define FERRY_FSP_INTERNAL_H

#include "ferry/fsproxy.h"

#include <stdbool.h>
#include <limits.h>

struct fsp_export {
	char *prefix;      /* compute-node prefix, no trailing '/' ("/" alone allowed) */
	size_t prefix_len;
	char *real;        /* the root's path on the I/O node, as the kernel names it */
	size_t real_len;
	char *describe;    /* "PREFIX=DIR" as given */
	int root_fd;       /* O_PATH|O_DIRECTORY */
};

/* Filled once before serving; read concurrently by workers afterwards. */
struct fsp_exports {
	struct fsp_export ex[FSP_MAX_EXPORTS];
	size_t count;
	fsp_escape_fn on_escape;
	void *on_escape_arg;
};

/* The export whose prefix is the longest whole-component prefix of the
 * absolute compute path; *rest points at the remainder (no leading '/'). */
const struct fsp_export *fsp_export_by_prefix(const struct fsp_exports *e, const char *path,
					      const char **rest);
/* The export containing the daemon descriptor fd (by the kernel's name for
 * it), and fd's path relative to that export root in rel ("" for the root).
 * Returns the export or NULL when fd lies in none. */
const struct fsp_export *fsp_export_by_fd(const struct fsp_exports *e, int fd, char *rel,
					  size_t rel_cap);
void fsp_report_escape(const struct fsp_exports *e, const char *path);

/* A (dirfd, path) pair made concrete: a base directory inside an export and
 * a path relative to it. */
struct fsp_path {
	int base_fd;                  /* not owned */
	const char *rel;              /* relative to base_fd, never "" */
	const struct fsp_export *ex;  /* NULL until known (daemon dirfd case) */
	const char *orig;             /* for the escape hook */
};

int fsp_path_init(const struct fsp_exports *e, int dirfd, const char *path,
		  struct fsp_path *out);

/* openat2 of p beneath its export with RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS,
 * with the ".."-from-a-dirfd fallback; escapes become -EACCES. */
int fsp_open_beneath(const struct fsp_exports *e, const struct fsp_path *p, int flags,
		     mode_t mode);

/* The parent directory of a path's last component, opened beneath the
 * export, and that component.  A last component of "." or ".." (or an empty
 * path) names the directory itself: parent_fd is that directory, name ".". */
struct fsp_parent {
	int parent_fd;               /* owned: close with fsp_parent_release */
	char name[NAME_MAX + 1];
	bool trailing_slash;         /* the path ended in '/' */
	const struct fsp_export *ex; /* NULL when not determined */
};

int fsp_parent_open(const struct fsp_exports *e, int dirfd, const char *path,
		    struct fsp_parent *out);
void fsp_parent_release(struct fsp_parent *p);

/* The export a resolved parent lives in (looked up from its fd if needed). */
const struct fsp_export *fsp_parent_export(const struct fsp_exports *e, struct fsp_parent *p);

/* The object (dirfd, path) names, as an O_PATH descriptor opened beneath
 * the export, following the last symlink (confined) unless nofollow.  An
 * empty path with empty_path set names dirfd itself, which is then borrowed,
 * not duplicated: fstat-like calls on a handle cost no extra syscalls. */
struct fsp_target {
	int fd;
	bool owned;
};

int fsp_target_open(const struct fsp_exports *e, int dirfd, const char *path, bool nofollow,
		    bool empty_path, struct fsp_target *out);
void fsp_target_close(struct fsp_target *t);

/* "/proc/self/fd/N" for reaching an O_PATH descriptor with path-only calls. */
#define FSP_FD_PATH_MAX 32
void fsp_fd_path(int fd, char buf[FSP_FD_PATH_MAX]);

#endif
