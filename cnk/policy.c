/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path policy.  ".." is never collapsed lexically: "/pfs/../../etc/passwd" is
 * under /pfs by its text, goes to the I/O node as it is, and the I/O node
 * (which resolves beneath the export) refuses it.  Only "//" and "/./" go,
 * because they cannot change which file a path names.
 */
#include "policy.h"
#include "raw_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>

#include "fdtable.h"

static struct cnk_mounts policy_mounts;
static bool policy_on;

static atomic_bool cwd_is_forwarded;
static pthread_mutex_t cwd_lock = PTHREAD_MUTEX_INITIALIZER;
static char cwd_path[FERRY_PATH_MAX];

/* A vfork child's cwd after it chdir'ed (posix_spawn's file actions,
 * Python's subprocess cwd=): it shares our memory, so its chdir must not
 * move ours.  Kept in the vforking thread's block (the child runs on it)
 * and valid only in that child's pid. */
enum vfork_cwd { VFORK_CWD_NONE = 0, VFORK_CWD_LOCAL, VFORK_CWD_FORWARDED };
static __thread enum vfork_cwd vfork_cwd_state;
static __thread long vfork_cwd_pid;
static __thread char vfork_cwd_path[FERRY_PATH_MAX];

static enum vfork_cwd vfork_cwd_active(void)
{
	if (vfork_cwd_state == VFORK_CWD_NONE ||
	    cnk_raw_syscall(SYS_getpid, 0, 0, 0) != vfork_cwd_pid)
		return VFORK_CWD_NONE;
	return vfork_cwd_state;
}

void cnk_cwd_vfork_reset(void)
{
	vfork_cwd_state = VFORK_CWD_NONE;
}

int cnk_cwd_vfork_set(const char *path)
{
	if (path && strlen(path) + 1 > sizeof(vfork_cwd_path))
		return -ENAMETOOLONG;
	if (path)
		strcpy(vfork_cwd_path, path);
	vfork_cwd_pid = cnk_raw_syscall(SYS_getpid, 0, 0, 0);
	vfork_cwd_state = path ? VFORK_CWD_FORWARDED : VFORK_CWD_LOCAL;
	return 0;
}

/* Directories that stay local even when "/" is forwarded. */
static const char *const local_roots[] = { "/proc", "/sys", "/dev" };

long cnk_path_normalize(const char *in, char *out, size_t cap)
{
	size_t i = 0, o = 0, n = strlen(in);

	if (n + 1 > cap)
		return -ENAMETOOLONG;
	/* out may alias in: o never passes i. */
	if (in[0] == '/')
		out[o++] = '/';
	while (i < n) {
		size_t j, clen;

		while (i < n && in[i] == '/')
			i++;
		if (i == n)
			break;
		for (j = i; j < n && in[j] != '/'; j++)
			;
		clen = j - i;
		/* Drop a "." component unless it is the last one ("/pfs/."
		 * must still name a directory). */
		if (clen == 1 && in[i] == '.' && j < n) {
			size_t k = j;

			while (k < n && in[k] == '/')
				k++;
			if (k < n) {
				i = j;
				continue;
			}
		}
		if (o > 0 && out[o - 1] != '/')
			out[o++] = '/';
		memmove(out + o, in + i, clen);
		o += clen;
		i = j;
	}
	if (n > 0 && in[n - 1] == '/' && o > 0 && out[o - 1] != '/')
		out[o++] = '/';
	if (o == 0 && n > 0)
		out[o++] = '.';
	out[o] = '\0';
	return (long)o;
}

long cnk_path_join(const char *dir, const char *rel, char *out, size_t cap)
{
	size_t dlen, rlen;

	if (rel[0] == '/')
		return cnk_path_normalize(rel, out, cap);
	dlen = strlen(dir);
	rlen = strlen(rel);
	if (dlen + 1 + rlen + 1 > cap)
		return -ENAMETOOLONG;
	memmove(out, dir, dlen);
	out[dlen] = '/';
	memcpy(out + dlen + 1, rel, rlen + 1);
	return cnk_path_normalize(out, out, cap);
}

void cnk_path_collapse_dotdot(char *path)
{
	size_t i = 0, o = 0, n = strlen(path);

	if (path[0] != '/')
		return;
	while (i < n) {
		size_t j, clen;

		while (i < n && path[i] == '/')
			i++;
		if (i == n)
			break;
		for (j = i; j < n && path[j] != '/'; j++)
			;
		clen = j - i;
		if (clen == 1 && path[i] == '.') {
			/* drop */
		} else if (clen == 2 && path[i] == '.' && path[i + 1] == '.') {
			while (o > 0 && path[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before the dropped component */
		} else {
			path[o++] = '/';
			memmove(path + o, path + i, clen);
			o += clen;
		}
		i = j;
	}
	if (o == 0)
		path[o++] = '/';
	path[o] = '\0';
}

static bool under_prefix(const char *norm, const char *prefix, size_t len)
{
	return strncmp(norm, prefix, len) == 0 && (norm[len] == '\0' || norm[len] == '/');
}

bool cnk_mounts_match(const struct cnk_mounts *m, const char *norm)
{
	size_t i;

	if (norm[0] != '/')
		return false;
	if (m->everything) {
		for (i = 0; i < sizeof(local_roots) / sizeof(local_roots[0]); i++)
			if (under_prefix(norm, local_roots[i], strlen(local_roots[i])))
				return false;
		return true;
	}
	for (i = 0; i < m->count; i++)
		if (under_prefix(norm, m->prefix[i], m->len[i]))
			return true;
	return false;
}

int cnk_mounts_parse(struct cnk_mounts *m, const char *spec)
{
	const char *p = spec;

	memset(m, 0, sizeof(*m));
	while (*p) {
		char entry[CNK_MOUNT_LEN];
		size_t len = strcspn(p, ",:");
		long nlen;

		if (len == 0 || p[0] != '/')
			return -EINVAL;
		if (len >= sizeof(entry))
			return -ENAMETOOLONG;
		memcpy(entry, p, len);
		entry[len] = '\0';
		nlen = cnk_path_normalize(entry, entry, sizeof(entry));
		if (nlen < 0)
			return (int)nlen;
		while (nlen > 1 && entry[nlen - 1] == '/')
			entry[--nlen] = '\0';
		if (strcmp(entry, "/") == 0) {
			m->everything = true;
		} else {
			if (m->count == CNK_MOUNTS_MAX)
				return -E2BIG;
			memcpy(m->prefix[m->count], entry, (size_t)nlen + 1);
			m->len[m->count++] = (size_t)nlen;
		}
		p += len;
		if (*p)
			p++;
	}
	return 0;
}

int cnk_policy_init(const char *mounts_spec)
{
	int ret;

	policy_on = false;
	if (!mounts_spec || !*mounts_spec)
		return 0;
	ret = cnk_mounts_parse(&policy_mounts, mounts_spec);
	if (ret < 0)
		return ret;
	policy_on = policy_mounts.everything || policy_mounts.count > 0;
	return 0;
}

const struct cnk_mounts *cnk_policy_mounts(void)
{
	return &policy_mounts;
}

bool cnk_policy_enabled(void)
{
	return policy_on;
}

/* A path pointer into the first page (never mapped: mmap_min_addr) is a
 * bad address: the call goes to the kernel, which answers EFAULT, rather
 * than the runtime faulting on it.  Other unmapped pointers are not caught:
 * checking every path would cost a syscall on each local call. */
static bool path_in_first_page(const char *path)
{
	return path && (uintptr_t)path < 4096;
}

bool cnk_policy_wants(int dirfd, const char *path)
{
	char norm[FERRY_PATH_MAX];

	if (!policy_on || path_in_first_page(path))
		return false;
	if (!path)
		return dirfd != AT_FDCWD && cnk_fd_is_forwarded(dirfd);
	if (path[0] == '/') {
		if (cnk_path_normalize(path, norm, sizeof(norm)) < 0)
			return false;
		return cnk_mounts_match(&policy_mounts, norm);
	}
	if (dirfd == AT_FDCWD)
		return cnk_cwd_forwarded();
	return cnk_fd_is_forwarded(dirfd);
}

int cnk_policy_resolve(int dirfd, const char *path, struct cnk_target *t)
{
	struct cnk_file *dir = NULL;
	char cwd[FERRY_PATH_MAX];
	long len;
	int ret;

	t->dh = FERRY_AT_ROOT;
	t->dir = NULL;
	t->path = t->buf;
	t->buf[0] = '\0';
	if (!policy_on || path_in_first_page(path))
		return 0;
	if (path && path[0] == '/') {
		len = cnk_path_normalize(path, t->buf, sizeof(t->buf));
		if (len < 0)
			return (int)len;
		return cnk_mounts_match(&policy_mounts, t->buf) ? 1 : 0;
	}
	if (dirfd == AT_FDCWD) {
		if (!path)
			return 0;
		len = cnk_cwd_get(cwd, sizeof(cwd));
		if (len < 0)
			return 0;
		len = path[0] ? cnk_path_join(cwd, path, t->buf, sizeof(t->buf))
			      : cnk_path_normalize(cwd, t->buf, sizeof(t->buf));
		return len < 0 ? (int)len : 1;
	}
	ret = cnk_fd_acquire(dirfd, &dir);
	if (ret <= 0)
		return ret;
	t->dir = dir;
	t->dh = dir->handle;
	if (path && path[0]) {
		len = cnk_path_normalize(path, t->buf, sizeof(t->buf));
		if (len < 0) {
			cnk_target_release(t);
			return (int)len;
		}
	}
	return 1;
}

void cnk_target_release(struct cnk_target *t)
{
	if (t->dir)
		cnk_file_put(t->dir);
	t->dir = NULL;
}

long cnk_target_abspath(const struct cnk_target *t, char *out, size_t cap)
{
	if (!t->dir)
		return cnk_path_normalize(t->path, out, cap);
	if (!t->dir->path)
		return -ENOENT;
	if (!t->path[0])
		return cnk_path_normalize(t->dir->path, out, cap);
	return cnk_path_join(t->dir->path, t->path, out, cap);
}

bool cnk_cwd_forwarded(void)
{
	enum vfork_cwd v = vfork_cwd_active();

	if (v != VFORK_CWD_NONE)
		return v == VFORK_CWD_FORWARDED;
	return atomic_load(&cwd_is_forwarded);
}

long cnk_cwd_get(char *out, size_t cap)
{
	enum vfork_cwd v = vfork_cwd_active();
	long ret = -ENOENT;
	size_t len;

	if (v != VFORK_CWD_NONE) {
		if (v == VFORK_CWD_LOCAL)
			return -ENOENT;
		len = strlen(vfork_cwd_path);
		if (len + 1 > cap)
			return -ERANGE;
		memcpy(out, vfork_cwd_path, len + 1);
		return (long)len;
	}
	pthread_mutex_lock(&cwd_lock);
	if (!atomic_load(&cwd_is_forwarded))
		goto out;
	len = strlen(cwd_path);
	ret = -ERANGE;
	if (len + 1 > cap)
		goto out;
	memcpy(out, cwd_path, len + 1);
	ret = (long)len;
out:
	pthread_mutex_unlock(&cwd_lock);
	return ret;
}

int cnk_cwd_set(const char *path)
{
	int ret = 0;

	pthread_mutex_lock(&cwd_lock);
	if (!path) {
		atomic_store(&cwd_is_forwarded, false);
		goto out;
	}
	if (strlen(path) + 1 > sizeof(cwd_path)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	strcpy(cwd_path, path);
	atomic_store(&cwd_is_forwarded, true);
out:
	pthread_mutex_unlock(&cwd_lock);
	return ret;
}

void cnk_policy_fork_lock(void)
{
	pthread_mutex_lock(&cwd_lock);
}

void cnk_policy_fork_unlock(void)
{
	pthread_mutex_unlock(&cwd_lock);
}
