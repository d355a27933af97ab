/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which paths are forwarded: the mount table (FERRY_MOUNTS), path
 * normalisation, and the forwarded working directory.
 */
#ifndef FERRY_CNK_POLICY_H
#define FERRY_CNK_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ferry/proto.h>

#define CNK_MOUNTS_MAX 16
#define CNK_MOUNT_LEN 256

struct cnk_mounts {
	size_t count;
	bool everything; /* a mount of "/": Blue Gene style, all but /proc /sys /dev */
	char prefix[CNK_MOUNTS_MAX][CNK_MOUNT_LEN];
	size_t len[CNK_MOUNTS_MAX];
};

/* Parse "/pfs,/other" (also ':' as separator).  -EINVAL for a relative or
 * empty entry, -E2BIG for too many, -ENAMETOOLONG for a long one. */
int cnk_mounts_parse(struct cnk_mounts *m, const char *spec);

/* Collapse "//" and "/./" (and a trailing "/."), keeping ".." as it is and a
 * trailing '/' (it means "must be a directory").  Works on absolute and
 * relative paths.  Returns the length or -ENAMETOOLONG. */
long cnk_path_normalize(const char *in, char *out, size_t cap);

/* dir + "/" + rel, normalised.  Returns the length or -ENAMETOOLONG. */
long cnk_path_join(const char *dir, const char *rel, char *out, size_t cap);

/* Collapse ".." lexically as well (only for the working directory the
 * runtime tracks, once the I/O node has confirmed the directory exists,
 * like a shell's logical pwd).  In place; absolute paths only. */
void cnk_path_collapse_dotdot(char *path);

/* Is a normalised absolute path under one of the mounts (whole components)? */
bool cnk_mounts_match(const struct cnk_mounts *m, const char *norm);

/* ---- process-wide policy state ---- */

int cnk_policy_init(const char *mounts_spec);
const struct cnk_mounts *cnk_policy_mounts(void);
bool cnk_policy_enabled(void);

/* Cheap, lock-free, async-signal-safe: could (dirfd, path) be forwarded?
 * path NULL or "" asks about dirfd itself (AT_EMPTY_PATH, utimensat). */
bool cnk_policy_wants(int dirfd, const char *path);

struct cnk_file;

/* Where a forwarded (dirfd, path) goes on the wire. */
struct cnk_target {
	int64_t dh;             /* FERRY_AT_ROOT or the remote handle of dir */
	const char *path;       /* into buf, or "" */
	struct cnk_file *dir;   /* reference held on a forwarded dirfd, or NULL */
	char buf[FERRY_PATH_MAX];
};

/* Resolve for the forward path: 1 forwarded (release t afterwards),
 * 0 local, or -errno (-EBADF for a descriptor inherited across fork). */
int cnk_policy_resolve(int dirfd, const char *path, struct cnk_target *t);
void cnk_target_release(struct cnk_target *t);
/* The compute-node path a target names (for the path of a new open file):
 * absolute, or dir's path + "/" + path.  Returns length or -errno. */
long cnk_target_abspath(const struct cnk_target *t, char *out, size_t cap);

/* Forwarded working directory: a compute path under a mount, or none. */
bool cnk_cwd_forwarded(void);
/* Copy the forwarded cwd into out; -ENOENT when the cwd is local. */
long cnk_cwd_get(char *out, size_t cap);
/* Set (path != NULL) or clear the forwarded cwd. */
int cnk_cwd_set(const char *path);
/* A vfork child's chdir (its own cwd, never the parent's): path is the
 * forwarded directory, NULL for a local one.  reset before each vfork. */
int cnk_cwd_vfork_set(const char *path);
void cnk_cwd_vfork_reset(void);
/* Hold the cwd lock across fork so the child never inherits it taken. */
void cnk_policy_fork_lock(void);
void cnk_policy_fork_unlock(void);

#endif
