/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded descriptors.  Each forwarded open owns a real local placeholder
 * descriptor (/dev/null) so numbers never collide with local ones and
 * close-on-exec, dup and poll work natively; this table maps the placeholder
 * number to a refcounted remote open file.  dup'ed numbers share the object
 * (and so the remote file offset), as Linux shares the open file description.
 *
 * Lookups that only ask "is this fd forwarded?" are lock-free and
 * async-signal-safe; everything else takes the table lock and must run with
 * async signals blocked (the dispatcher does that for the forward path).
 */
#ifndef FERRY_CNK_FDTABLE_H
#define FERRY_CNK_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CNK_FD_MAX 65536

struct cnk_file {
	atomic_int refs;
	int64_t handle;      /* the I/O node's descriptor in this session */
	int flags;           /* open flags as requested */
	bool is_dir;         /* known to be a directory (O_DIRECTORY or statx) */
	atomic_bool stale;   /* inherited across fork: the handle is the parent's */
	char *path;          /* compute-node path, for fchdir and logs (may be NULL) */
	/* A vfork child carried it across its exec: the new program's open
	 * file has its own offset, so ours is no longer right (EBADF). */
	atomic_bool carried;
};

/* Called when the last reference to a file goes (send CLOSE).  Returns 0 or
 * -errno, which close() reports.  Not called for stale files. */
typedef int (*cnk_file_release_fn)(struct cnk_file *f);
void cnk_fdtable_set_release(cnk_file_release_fn fn);

/* A new file with one reference; path copied.  NULL on ENOMEM. */
struct cnk_file *cnk_file_new(int64_t handle, int flags, const char *path);
void cnk_file_get(struct cnk_file *f);
/* Drop a reference; on the last one release and free.  Returns the release
 * result (0 when not the last). */
int cnk_file_put(struct cnk_file *f);

/* Lock-free: is fd a forwarded placeholder? */
bool cnk_fd_is_forwarded(int fd);
/* True when no descriptor is forwarded (fast path). */
bool cnk_fdtable_empty(void);

/* The file behind fd with a new reference, or NULL. */
struct cnk_file *cnk_fd_get(int fd);

/* For the forward path: 1 with *out referenced, 0 when fd is not forwarded,
 * -EBADF when its file was inherited across fork or carried by a vfork
 * child and cannot be used.  The stale hook is told first: it may make the
 * file usable (a fork child adopting its parent's files) and return 0. */
int cnk_fd_acquire(int fd, struct cnk_file **out);
typedef int (*cnk_stale_hook_fn)(int fd, const struct cnk_file *f);
void cnk_fdtable_set_stale_hook(cnk_stale_hook_fn fn);

/* Open a placeholder (cloexec as asked) and map it to f, which gains a
 * reference.  Returns the new fd or -errno. */
int cnk_fd_install_new(struct cnk_file *f, bool cloexec);

/* close(fd): native close of the placeholder, then drop its reference.
 * Returns 0, the release error of the last reference, or -EBADF. */
int cnk_fd_close(int fd);

/* dup family, done natively on the placeholder; the new number shares the
 * remote file.  newfd < 0 for dup/F_DUPFD.  cmd: 0 dup, 1 dup2/dup3,
 * 2 F_DUPFD(_CLOEXEC) with newfd as the minimum.  Returns the new fd. */
enum cnk_dup_kind { CNK_DUP, CNK_DUP3, CNK_DUPFD_MIN };
int cnk_fd_dup(int oldfd, int newfd, enum cnk_dup_kind kind, int flags);

/* Map an fd that is already a placeholder (inherited across exec) to f,
 * which gains a reference.  0 or -EBADF when out of range. */
int cnk_fd_install_at(int fd, struct cnk_file *f);
/* Changes whenever a number is mapped or unmapped. */
uint64_t cnk_fdtable_generation(void);
/* One above the highest fd ever mapped: bounds a scan of the table. */
int cnk_fdtable_high(void);

/* newfd was replaced or closed by a native call (dup2 from a local fd onto a
 * forwarded one, close_range): drop the mappings in [lo, hi]. */
void cnk_fd_forget_range(unsigned lo, unsigned hi);

/* Fork: keep the table consistent across the fork, then mark every file
 * stale in the child (its handles belong to the parent's session). */
void cnk_fdtable_lock(void);
void cnk_fdtable_unlock(void);
void cnk_fdtable_mark_all_stale(void);
/* The handles of the inherited (stale) files, each once, into out (at most
 * cap); returns how many. */
size_t cnk_fdtable_stale_handles(int64_t *out, size_t cap);
/* The inherited files now live in this process's session under new
 * numbers: pairs[2i] -> pairs[2i+1].  Files not listed stay stale. */
void cnk_fdtable_remap(const int64_t *pairs, size_t npairs);

#endif
