/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarded descriptor table: an array indexed by the placeholder fd, read
 * lock-free, written under one mutex.  Number-changing native calls (open of
 * the placeholder, dup, close) run under the same mutex so that a number is
 * never mapped while another thread can already reuse it.
 */
#include "fdtable.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "raw_syscall.h"

static _Atomic(struct cnk_file *) fd_slots[CNK_FD_MAX];
static atomic_int fd_count;
static atomic_int fd_high;
static atomic_uint_fast64_t fd_generation;
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static cnk_file_release_fn file_release;
static cnk_stale_hook_fn stale_hook;

void cnk_fdtable_set_stale_hook(cnk_stale_hook_fn fn)
{
	stale_hook = fn;
}

void cnk_fdtable_set_release(cnk_file_release_fn fn)
{
	file_release = fn;
}

struct cnk_file *cnk_file_new(int64_t handle, int flags, const char *path)
{
	struct cnk_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	if (path) {
		f->path = strdup(path);
		if (!f->path) {
			free(f);
			return NULL;
		}
	}
	atomic_init(&f->refs, 1);
	atomic_init(&f->stale, false);
	atomic_init(&f->carried, false);
	f->handle = handle;
	f->flags = flags;
	f->is_dir = (flags & O_DIRECTORY) != 0;
	return f;
}

void cnk_file_get(struct cnk_file *f)
{
	atomic_fetch_add(&f->refs, 1);
}

int cnk_file_put(struct cnk_file *f)
{
	int ret = 0;

	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return 0;
	if (file_release && !atomic_load(&f->stale))
		ret = file_release(f);
	free(f->path);
	free(f);
	return ret;
}

static bool fd_in_range(int fd)
{
	return fd >= 0 && fd < CNK_FD_MAX;
}

bool cnk_fd_is_forwarded(int fd)
{
	return fd_in_range(fd) && atomic_load_explicit(&fd_slots[fd], memory_order_acquire);
}

bool cnk_fdtable_empty(void)
{
	return atomic_load_explicit(&fd_count, memory_order_relaxed) == 0;
}

struct cnk_file *cnk_fd_get(int fd)
{
	struct cnk_file *f;

	if (!fd_in_range(fd))
		return NULL;
	pthread_mutex_lock(&fd_lock);
	f = atomic_load(&fd_slots[fd]);
	if (f)
		cnk_file_get(f);
	pthread_mutex_unlock(&fd_lock);
	return f;
}

int cnk_fd_acquire(int fd, struct cnk_file **out)
{
	struct cnk_file *f = cnk_fd_get(fd);

	*out = NULL;
	if (!f)
		return 0;
	if (atomic_load(&f->stale) || atomic_load(&f->carried)) {
		if (!stale_hook || stale_hook(fd, f) != 0 || atomic_load(&f->stale) ||
		    atomic_load(&f->carried)) {
			cnk_file_put(f);
			return -EBADF;
		}
	}
	*out = f;
	return 1;
}

/* Map fd to f (which gains a reference); returns what was there before.
 * Caller holds fd_lock. */
static struct cnk_file *slot_set_locked(int fd, struct cnk_file *f)
{
	struct cnk_file *old;

	if (f)
		cnk_file_get(f);
	if (f && fd >= atomic_load(&fd_high))
		atomic_store(&fd_high, fd + 1);
	old = atomic_exchange(&fd_slots[fd], f);
	atomic_fetch_add(&fd_generation, 1);
	if (old && !f)
		atomic_fetch_sub(&fd_count, 1);
	else if (!old && f)
		atomic_fetch_add(&fd_count, 1);
	return old;
}

int cnk_fd_install_new(struct cnk_file *f, bool cloexec)
{
	struct cnk_file *old = NULL;
	long fd;

	pthread_mutex_lock(&fd_lock);
	fd = cnk_raw_syscall6(SYS_openat, AT_FDCWD, (long)"/dev/null",
			      O_RDWR | (cloexec ? O_CLOEXEC : 0), 0, 0, 0);
	if (fd < 0)
		goto out;
	if (!fd_in_range((int)fd)) {
		cnk_raw_syscall(SYS_close, fd, 0, 0);
		fd = -EMFILE;
		goto out;
	}
	/* A stale mapping can only survive a close we never saw. */
	old = slot_set_locked((int)fd, f);
out:
	pthread_mutex_unlock(&fd_lock);
	if (old)
		cnk_file_put(old);
	return (int)fd;
}

int cnk_fd_install_at(int fd, struct cnk_file *f)
{
	struct cnk_file *old;

	if (!fd_in_range(fd))
		return -EBADF;
	pthread_mutex_lock(&fd_lock);
	old = slot_set_locked(fd, f);
	pthread_mutex_unlock(&fd_lock);
	if (old)
		cnk_file_put(old);
	return 0;
}

int cnk_fdtable_high(void)
{
	return atomic_load(&fd_high);
}

int cnk_fd_close(int fd)
{
	struct cnk_file *f = NULL;
	long ret;
	int release;

	if (!fd_in_range(fd))
		return (int)cnk_raw_syscall(SYS_close, fd, 0, 0);
	pthread_mutex_lock(&fd_lock);
	f = slot_set_locked(fd, NULL);
	ret = cnk_raw_syscall(SYS_close, fd, 0, 0);
	pthread_mutex_unlock(&fd_lock);
	if (!f)
		return (int)ret;
	release = cnk_file_put(f);
	/* close(2) frees the number even when it reports an error. */
	return ret < 0 ? (int)ret : release;
}

int cnk_fd_dup(int oldfd, int newfd, enum cnk_dup_kind kind, int flags)
{
	struct cnk_file *f, *old = NULL;
	long ret;

	if (!fd_in_range(oldfd))
		return -EBADF;
	pthread_mutex_lock(&fd_lock);
	f = atomic_load(&fd_slots[oldfd]);
	switch (kind) {
	case CNK_DUP:
		ret = cnk_raw_syscall(SYS_dup, oldfd, 0, 0);
		break;
	case CNK_DUP3:
		ret = cnk_raw_syscall(SYS_dup3, oldfd, newfd, flags);
		break;
	case CNK_DUPFD_MIN:
		ret = cnk_raw_syscall(SYS_fcntl, oldfd,
				      (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, newfd);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	if (ret < 0)
		goto out;
	if (!fd_in_range((int)ret)) {
		/* Above our table: a forwarded file we could not track. */
		cnk_raw_syscall(SYS_close, ret, 0, 0);
		ret = -EMFILE;
		goto out;
	}
	if (ret != oldfd)
		old = slot_set_locked((int)ret, f);
out:
	pthread_mutex_unlock(&fd_lock);
	if (old)
		cnk_file_put(old);
	return (int)ret;
}

void cnk_fd_forget_range(unsigned lo, unsigned hi)
{
	unsigned fd, high = (unsigned)atomic_load(&fd_high);

	if (hi >= high)
		hi = high ? high - 1 : 0;
	for (fd = lo; fd <= hi && fd < high; fd++) {
		struct cnk_file *old;

		if (!atomic_load(&fd_slots[fd]))
			continue;
		pthread_mutex_lock(&fd_lock);
		old = slot_set_locked((int)fd, NULL);
		pthread_mutex_unlock(&fd_lock);
		if (old)
			cnk_file_put(old);
	}
}

void cnk_fdtable_lock(void)
{
	pthread_mutex_lock(&fd_lock);
}

void cnk_fdtable_unlock(void)
{
	pthread_mutex_unlock(&fd_lock);
}

void cnk_fdtable_mark_all_stale(void)
{
	int fd, high = atomic_load(&fd_high);

	if (cnk_fdtable_empty())
		return;
	for (fd = 0; fd < high; fd++) {
		struct cnk_file *f = atomic_load(&fd_slots[fd]);

		if (f)
			atomic_store(&f->stale, true);
	}
}

size_t cnk_fdtable_stale_handles(int64_t *out, size_t cap)
{
	int fd, high = atomic_load(&fd_high);
	size_t n = 0;

	pthread_mutex_lock(&fd_lock);
	for (fd = 0; fd < high && n < cap; fd++) {
		struct cnk_file *f = atomic_load(&fd_slots[fd]);
		size_t i;

		if (!f || !atomic_load(&f->stale))
			continue;
		/* dup'ed numbers share one file: list its handle once. */
		for (i = 0; i < n && out[i] != f->handle; i++)
			;
		if (i == n)
			out[n++] = f->handle;
	}
	pthread_mutex_unlock(&fd_lock);
	return n;
}

void cnk_fdtable_remap(const int64_t *pairs, size_t npairs)
{
	int fd, high = atomic_load(&fd_high);

	pthread_mutex_lock(&fd_lock);
	for (fd = 0; fd < high; fd++) {
		struct cnk_file *f = atomic_load(&fd_slots[fd]);

		/* Files shared by several numbers are renumbered once: the
		 * first visit clears stale. */
		if (!f || !atomic_load(&f->stale))
			continue;
		for (size_t i = 0; i < npairs; i++) {
			if (pairs[2 * i] == f->handle) {
				f->handle = pairs[2 * i + 1];
				atomic_store(&f->stale, false);
				break;
			}
		}
	}
	pthread_mutex_unlock(&fd_lock);
}

uint64_t cnk_fdtable_generation(void)
{
	return atomic_load(&fd_generation);
}
