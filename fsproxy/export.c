/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The export table: compute-node prefixes mapped to directories the daemon
 * holds open, looked up by longest whole-component prefix.
 */
#include "fsp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fsp_exports_new(struct fsp_exports **out)
{
	struct fsp_exports *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	/* Modes arrive with the application's umask already applied (the
	 * compute node tracks it); the daemon's own must not mask them again.
	 * fsproxy is the only part of the daemon that creates files. */
	umask(0);
	*out = e;
	return 0;
}

static void export_clear(struct fsp_export *x)
{
	free(x->prefix);
	free(x->real);
	free(x->describe);
	if (x->root_fd >= 0)
		close(x->root_fd);
	memset(x, 0, sizeof(*x));
	x->root_fd = -1;
}

void fsp_exports_free(struct fsp_exports *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->count; i++)
		export_clear(&e->ex[i]);
	free(e);
}

/* A prefix is an absolute path without "." or ".." components; trailing
 * slashes are dropped ("/" stays "/"). */
static int prefix_normalize(const char *spec, size_t len, char **out)
{
	char *prefix;
	const char *comp;

	if (len == 0 || spec[0] != '/')
		return -EINVAL;
	while (len > 1 && spec[len - 1] == '/')
		len--;
	prefix = strndup(spec, len);
	if (!prefix)
		return -ENOMEM;
	for (comp = prefix; comp; comp = strchr(comp + 1, '/')) {
		const char *next = comp + 1;
		size_t clen = strcspn(next, "/");

		if ((clen == 1 && next[0] == '.') || (clen == 2 && next[0] == '.' && next[1] == '.') ||
		    (clen == 0 && next[0] == '/')) {
			free(prefix);
			return -EINVAL;
		}
	}
	*out = prefix;
	return 0;
}

/* The kernel's current name for the export root, for mapping daemon
 * descriptors back to their export (see fsp_export_by_fd). */
static int root_real_path(int fd, char **out)
{
	char link[FSP_FD_PATH_MAX];
	char buf[PATH_MAX];
	ssize_t n;

	fsp_fd_path(fd, link);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(buf) - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

int fsp_exports_add(struct fsp_exports *e, const char *spec)
{
	struct fsp_export x = { .root_fd = -1 };
	const char *eq = spec ? strchr(spec, '=') : NULL;
	int ret;

	if (!eq || eq[1] == '\0')
		return -EINVAL;
	if (e->count >= FSP_MAX_EXPORTS)
		return -ENOSPC;
	ret = prefix_normalize(spec, (size_t)(eq - spec), &x.prefix);
	if (ret < 0)
		goto out;
	x.prefix_len = strlen(x.prefix);
	for (size_t i = 0; i < e->count; i++) {
		if (strcmp(e->ex[i].prefix, x.prefix) == 0) {
			ret = -EINVAL;
			goto out;
		}
	}
	x.root_fd = open(eq + 1, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (x.root_fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = root_real_path(x.root_fd, &x.real);
	if (ret < 0)
		goto out;
	x.real_len = strlen(x.real);
	x.describe = strdup(spec);
	if (!x.describe) {
		ret = -ENOMEM;
		goto out;
	}
	e->ex[e->count++] = x;
	return 0;
out:
	export_clear(&x);
	return ret;
}

size_t fsp_exports_count(const struct fsp_exports *e)
{
	return e ? e->count : 0;
}

const char *fsp_exports_describe(const struct fsp_exports *e, size_t i)
{
	return e && i < e->count ? e->ex[i].describe : NULL;
}

void fsp_exports_on_escape(struct fsp_exports *e, fsp_escape_fn fn, void *arg)
{
	e->on_escape = fn;
	e->on_escape_arg = arg;
}

void fsp_report_escape(const struct fsp_exports *e, const char *path)
{
	if (e->on_escape)
		e->on_escape(path ? path : "", e->on_escape_arg);
}

/* prefix is a whole-component prefix of path: "/pfs" of "/pfs" and
 * "/pfs/x", never of "/pfsx"; "/" of every absolute path. */
static bool is_component_prefix(const char *prefix, size_t plen, const char *path)
{
	if (strncmp(path, prefix, plen) != 0)
		return false;
	return plen == 1 || path[plen] == '\0' || path[plen] == '/';
}

const struct fsp_export *fsp_export_by_prefix(const struct fsp_exports *e, const char *path,
					      const char **rest)
{
	const struct fsp_export *best = NULL;

	if (!path || path[0] != '/')
		return NULL;
	for (size_t i = 0; i < e->count; i++) {
		const struct fsp_export *x = &e->ex[i];

		if (is_component_prefix(x->prefix, x->prefix_len, path) &&
		    (!best || x->prefix_len > best->prefix_len))
			best = x;
	}
	if (best && rest) {
		const char *r = path + best->prefix_len;

		while (*r == '/')
			r++;
		*rest = r;
	}
	return best;
}

const struct fsp_export *fsp_export_by_fd(const struct fsp_exports *e, int fd, char *rel,
					  size_t rel_cap)
{
	const struct fsp_export *best = NULL;
	char link[FSP_FD_PATH_MAX];
	char buf[PATH_MAX];
	const char *r;
	ssize_t n;

	fsp_fd_path(fd, link);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n < 0 || (size_t)n >= sizeof(buf) - 1)
		return NULL;
	buf[n] = '\0';
	for (size_t i = 0; i < e->count; i++) {
		const struct fsp_export *x = &e->ex[i];

		if (is_component_prefix(x->real, x->real_len, buf) &&
		    (!best || x->real_len > best->real_len))
			best = x;
	}
	if (!best)
		return NULL;
	r = buf + best->real_len;
	while (*r == '/')
		r++;
	if (rel && (size_t)snprintf(rel, rel_cap, "%s", r) >= rel_cap)
		return NULL;
	return best;
}

void fsp_fd_path(int fd, char buf[FSP_FD_PATH_MAX])
{
	snprintf(buf, FSP_FD_PATH_MAX, "/proc/self/fd/%d", fd);
}
