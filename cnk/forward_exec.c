/* SPDX-License-Identifier: Apache-2.0 */
/*
 * execve / execveat.  What the kernel does not carry into the new image, the
 * runtime passes in its environment, where the new image's runtime adopts
 * (and removes) it at start:
 *
 *   FERRY_CWD=/pfs/dir                the forwarded working directory
 *   FERRY_HELD=<id>:<token>           descriptors the I/O node holds for
 *                                     the new image (SESSION_DETACH)
 *   FERRY_FD_<n>=<flags>:<offset>:<handle>:<path>
 *                                     a forwarded descriptor without
 *                                     close-on-exec: <handle> is its held
 *                                     duplicate (same open file, so the
 *                                     offset stays shared with the
 *                                     processes that kept it), or -1 and it
 *                                     is reopened by path at <offset>
 *
 * The held record comes from SESSION_DETACH just before the exec (a process
 * with its own session, or a vfork child through its parent's session: the
 * parent's thread is suspended and the client is thread-safe), or from the
 * parent's fork (a fork child that has not used its session yet: no call at
 * all).  Only where the I/O node cannot hold descriptors does the path
 * reopen (with its own offset) remain; a descriptor that cannot be carried
 * at all becomes an O_PATH descriptor, so the new program fails loudly
 * (EBADF) instead of using /dev/null.
 *
 * Before an exec that will probably succeed, the session is closed (see
 * cnk_session_before_exec).  This runs in vfork children too (dash,
 * posix_spawn, system), which share the parent's memory and must not use
 * its descriptor table or its cwd: the entries and the new environment live
 * in private anonymous mappings that exec discards, and the descriptors are
 * matched to the parent's table by open file (kcmp),
 * since the child may have moved them.
 *
 * A program stored under a forwarded prefix is run too: a script through
 * its interpreter (the #! line, read from the I/O node), a binary from a
 * local in-memory copy (memfd, execveat).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ferry/log.h>

#include "env.h"
#include "fdtable.h"
#include "forward.h"
#include "profile.h"
#include "policy.h"
#include "raw_syscall.h"
#include "session.h"

#define CWD_VAR "FERRY_CWD="
#define HELD_VAR "FERRY_HELD="
#define RUNTIME_ENTRY "FERRY_RUNTIME=1"
#define FD_VAR "FERRY_FD_"
#define EXEC_MAX_CARRIED 256

static bool is_runtime_var(const char *entry)
{
	return !strncmp(entry, CWD_VAR, sizeof(CWD_VAR) - 1) ||
	       !strncmp(entry, RUNTIME_ENTRY, sizeof(RUNTIME_ENTRY) - 2) ||
	       !strncmp(entry, HELD_VAR, sizeof(HELD_VAR) - 1) ||
	       !strncmp(entry, FD_VAR, sizeof(FD_VAR) - 1);
}

/* envp without the runtime's variables, plus extra[0..nextra), in a fresh
 * mapping.  NULL when nothing changes, MAP_FAILED on error. */
static char **env_rebuild(char *const *envp, char *const *extra, size_t nextra, size_t *map_len)
{
	size_t n, i, o = 0, strings = 0, len;
	bool has_var = false;
	char **out, *p;
	long map;

	for (n = 0; envp && envp[n]; n++)
		has_var |= is_runtime_var(envp[n]);
	if (!nextra && !has_var)
		return NULL;
	for (i = 0; i < nextra; i++)
		strings += strlen(extra[i]) + 1;
	len = (n + nextra + 1) * sizeof(char *) + strings;
	map = cnk_raw_syscall6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map < 0 && map > -4096)
		return MAP_FAILED;
	out = (char **)map;
	p = (char *)(out + n + nextra + 1);
	for (i = 0; i < n; i++)
		if (!is_runtime_var(envp[i]))
			out[o++] = envp[i];
	for (i = 0; i < nextra; i++) {
		size_t l = strlen(extra[i]) + 1;

		memcpy(p, extra[i], l);
		out[o++] = p;
		p += l;
	}
	out[o] = NULL;
	*map_len = len;
	return out;
}

/* Is fd a /dev/null placeholder (and not, say, a pipe a vfork child put on
 * the number since)? */
static bool is_placeholder(int fd)
{
	struct stat st;

	return cnk_raw_syscall(SYS_fstat, fd, &st, 0) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(1, 3);
}

/* Put a fresh open of /dev/null (flags) at fd.  0 or -errno. */
static int null_at(int fd, int flags)
{
	long null = cnk_raw_syscall6(SYS_openat, AT_FDCWD, (long)"/dev/null", flags | O_CLOEXEC,
				     0, 0, 0);
	long ret;

	if (null < 0)
		return (int)null;
	ret = cnk_raw_syscall(SYS_dup3, null, fd, 0);
	cnk_raw_syscall(SYS_close, null, 0, 0);
	return ret < 0 ? (int)ret : 0;
}

/* Make a placeholder an O_PATH descriptor: reads and writes fail with
 * EBADF. */
static void make_unusable(int fd)
{
	if (is_placeholder(fd))
		null_at(fd, O_PATH);
}

static long remote_offset(const struct cnk_file *f)
{
	struct ferry_msg m;

	cnk_session_msg(&m, FERRY_OP_LSEEK);
	ferry_msg_add_arg(&m, f->handle);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, SEEK_CUR);
	return cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
}

/* Where the carried entries are written: a private anonymous mapping,
 * never the heap (a vfork child shares the parent's allocator). */
#define ENTRY_MAX (sizeof(FD_VAR) + 4 * 24 + FERRY_PATH_MAX)
#define ENTRIES_LEN (EXEC_MAX_CARRIED * ENTRY_MAX)
/* A vfork child may have moved descriptors (posix_spawn's dup2): how far it
 * looks for the placeholders it holds. */
#define VFORK_FD_SCAN 256

/* Its handle is this session's and its offset still ours. */
static bool file_carriable(struct cnk_file *f)
{
	return !atomic_load(&f->stale) && !atomic_load(&f->carried) && f->path;
}

/* Carried by a vfork child, a file's offset moves on in the new program
 * only: a later use here (or by another child) would read or overwrite at
 * the old one, silently, so it fails with EBADF instead.  A write-only
 * O_APPEND file has no offset to lose. */
static void note_carried(struct cnk_file *f)
{
	if ((f->flags & O_ACCMODE) != O_WRONLY || !(f->flags & O_APPEND))
		atomic_store(&f->carried, true);
}


/*
 * What a vfork child opened at the I/O node (cnk_fwd_open_vfork_child): each
 * placeholder's identity, the flags and the path, for the exec.  The child
 * runs on its parent's thread, so the record hangs off that thread, in a
 * private mapping (never the heap), tagged with the child's pid: a later
 * child starts afresh.  Released when the thread exits.
 */
#define VFORK_OPENS_MAX 16
struct vfork_open {
	uint64_t dev, ino;
	int flags;
	char path[FERRY_PATH_MAX];
};
struct vfork_opens {
	long pid;
	int n;
	struct vfork_open o[VFORK_OPENS_MAX];
};
static __thread struct vfork_opens *vfork_opens;

/* This vfork child's record, or NULL when it opened nothing. */
static struct vfork_opens *vfork_opens_mine(void)
{
	struct vfork_opens *v = vfork_opens;

	if (!v || !v->n || v->pid != cnk_raw_syscall(SYS_getpid, 0, 0, 0))
		return NULL;
	return v;
}

int cnk_exec_note_vfork_open(int fd, int flags, const char *path)
{
	long self = cnk_raw_syscall(SYS_getpid, 0, 0, 0);
	struct vfork_open *o;
	struct stat st;
	long ret;

	if (!vfork_opens) {
		long map = cnk_raw_syscall6(SYS_mmap, 0, sizeof(*vfork_opens),
					    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
					    0);

		if (map < 0 && map > -4096)
			return (int)map;
		vfork_opens = (struct vfork_opens *)map;
	}
	if (vfork_opens->pid != self) {
		vfork_opens->pid = self;
		vfork_opens->n = 0;
	}
	if (vfork_opens->n == VFORK_OPENS_MAX)
		return -EMFILE;
	if (strlen(path) >= sizeof(o->path))
		return -ENAMETOOLONG;
	ret = cnk_raw_syscall(SYS_fstat, fd, &st, 0);
	if (ret < 0)
		return (int)ret;
	o = &vfork_opens->o[vfork_opens->n++];
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->flags = flags;
	strcpy(o->path, path);
	return 0;
}

void cnk_exec_thread_exit(void)
{
	if (vfork_opens)
		cnk_raw_syscall(SYS_munmap, (long)vfork_opens, sizeof(*vfork_opens), 0);
	vfork_opens = NULL;
}

/* The file a vfork child opened that fd now stands for (wherever the child
 * moved it), or NULL. */
static const struct vfork_open *vfork_open_at(const struct vfork_opens *v, int fd)
{
	struct stat st;
	int i;

	if (!v || cnk_raw_syscall(SYS_fstat, fd, &st, 0) != 0)
		return NULL;
	for (i = 0; i < v->n; i++)
		if (v->o[i].dev == st.st_dev && v->o[i].ino == st.st_ino)
			return &v->o[i];
	return NULL;
}

/* The forwarded file behind this process's fd, referenced, or NULL.  In a
 * vfork child the table describes the parent's descriptors: the file is the
 * one of the parent's descriptor that shares fd's open file (kcmp), or, where
 * kcmp is missing, of the same number if fd is still a placeholder. */
static struct cnk_file *surviving_file(int fd, bool vfork_child, int high)
{
	long self, owner;
	int p;

	if (!vfork_child)
		return cnk_fd_is_forwarded(fd) ? cnk_fd_get(fd) : NULL;
	if (!is_placeholder(fd))
		return NULL;
	self = cnk_raw_syscall(SYS_getpid, 0, 0, 0);
	owner = cnk_dispatch_owner_pid();
	for (p = 0; p < high; p++) {
		long same;

		if (!cnk_fd_is_forwarded(p))
			continue;
		same = cnk_raw_syscall6(SYS_kcmp, owner, self, KCMP_FILE, p, fd, 0);
		if (same == 0 || (same < 0 && p == fd))
			return cnk_fd_get(p);
	}
	return NULL;
}

/* Does any forwarded descriptor survive the exec (no close-on-exec)? */
static bool any_surviving_fd(bool vfork_child)
{
	int fd, high = cnk_fdtable_high();
	int limit = vfork_child && high < VFORK_FD_SCAN ? VFORK_FD_SCAN : high;

	for (fd = 0; fd < limit; fd++) {
		struct cnk_file *f = surviving_file(fd, vfork_child, high);
		long fdflags;

		if (!f)
			continue;
		cnk_file_put(f);
		fdflags = cnk_raw_syscall(SYS_fcntl, fd, F_GETFD, 0);
		if (fdflags >= 0 && !(fdflags & FD_CLOEXEC))
			return true;
	}
	return false;
}

/* The forwarded descriptors that survive exec: each gets an environment
 * entry written in `buf` naming its held duplicate (held) or its offset for
 * a reopen by path (carry), or is made unusable.  Returns the number of
 * entries. */
/* The descriptors whose vfork-child placeholder an exec turned into a
 * /dev/null one (collect_surviving_fds); if that exec fails they become
 * unusable, so that a retry (posix_spawnp's next PATH entry) fails loudly
 * on them instead of writing to /dev/null. */
struct swapped_fds {
	size_t n;
	int fd[EXEC_MAX_CARRIED];
};

static size_t collect_surviving_fds(const struct cnk_held *held, bool carry, bool vfork_child,
				    char *buf, char **entries, size_t cap, size_t *nheld,
				    struct swapped_fds *swapped)
{
	const struct vfork_opens *opened = vfork_child ? vfork_opens_mine() : NULL;
	int fd, high = cnk_fdtable_high();
	int limit = vfork_child && high < VFORK_FD_SCAN ? VFORK_FD_SCAN : high;
	size_t n = 0;

	*nheld = 0;
	for (fd = 0; fd < limit; fd++) {
		const struct vfork_open *vo = vfork_open_at(opened, fd);
		struct cnk_file *f = vo ? NULL : surviving_file(fd, vfork_child, high);
		long fdflags, off = -1;
		int64_t copy = -1;
		int len = -1;

		if (vo) {
			fdflags = cnk_raw_syscall(SYS_fcntl, fd, F_GETFD, 0);
			if (fdflags < 0 || (fdflags & FD_CLOEXEC))
				continue;
			if (buf && n < cap) {
				entries[n] = buf + n * ENTRY_MAX;
				len = snprintf(entries[n], ENTRY_MAX, FD_VAR "%d=%d:0:-1:%s", fd,
					       vo->flags, vo->path);
			}
			/* The new program's runtime expects a /dev/null
			 * placeholder; on failure the sealed memfd stays
			 * (empty, unwritable). */
			if (len < 0 || (size_t)len >= ENTRY_MAX || null_at(fd, O_RDWR) < 0)
				continue;
			swapped->fd[swapped->n++] = fd;
			n++;
			continue;
		}
		if (!f)
			continue;
		fdflags = cnk_raw_syscall(SYS_fcntl, fd, F_GETFD, 0);
		if (fdflags < 0 || (fdflags & FD_CLOEXEC)) {
			cnk_file_put(f);
			continue;
		}
		if (buf && n < cap && f->path) {
			copy = cnk_held_lookup(held, f->handle);
			if (copy < 0 && carry && file_carriable(f))
				off = remote_offset(f);
		}
		if (copy >= 0 || off >= 0) {
			entries[n] = buf + n * ENTRY_MAX;
			len = snprintf(entries[n], ENTRY_MAX, FD_VAR "%d=%d:%ld:%lld:%s", fd,
				       f->flags, off, (long long)copy, f->path);
		}
		if (len < 0 || (size_t)len >= ENTRY_MAX) {
			make_unusable(fd);
		} else {
			n++;
			if (copy >= 0)
				(*nheld)++;
			if (vfork_child && copy < 0)
				note_carried(f);
		}
		cnk_file_put(f);
	}
	return n;
}

/*
 * What this thread's vfork children carry.  A vfork child must not use the
 * session (it may have closed the transport's descriptors: Python closes
 * every fd before its exec), so the parent asks the I/O node to hold
 * duplicates before the vfork.  The record is kept for the next vfork until
 * a child's exec takes it (vfork_held_used, set by the child in the shared
 * memory just before its execve) or the descriptor table changes: a shell
 * that runs a thousand commands holds one set of duplicates, not a thousand.
 */
static __thread struct cnk_held *vfork_held;
static __thread uint64_t vfork_held_gen;
static __thread volatile bool vfork_held_used;

/* Give back duplicates nobody will take: adopt them, keeping none. */
static void held_release(struct cnk_held *h)
{
	if (h && !vfork_held_used)
		cnk_session_adopt(h->id, h->token, NULL, 0);
	cnk_held_free(h);
}

void cnk_exec_before_vfork(void)
{
	uint64_t gen = cnk_fdtable_generation();

	if (vfork_held && (vfork_held_used || vfork_held_gen != gen)) {
		if (vfork_held_used)
			cnk_held_free(vfork_held);
		else
			held_release(vfork_held);
		vfork_held = NULL;
		vfork_held_used = false;
	}
	/* Every forwarded descriptor counts, close-on-exec or not: the child
	 * may dup2 one onto a number that survives (posix_spawn, Python). */
	if (vfork_held || cnk_fdtable_empty() || !cnk_session_owns_endpoint())
		return;
	vfork_held = cnk_session_detach();
	vfork_held_gen = gen;
}

void cnk_exec_forget_vfork_record(void)
{
	/* A fork child: the record is its parent's. */
	cnk_held_free(vfork_held);
	vfork_held = NULL;
	vfork_held_used = false;
}

void cnk_exec_release_vfork_record(void)
{
	if (vfork_held && cnk_session_owns_endpoint())
		held_release(vfork_held);
	else
		cnk_held_free(vfork_held);
	vfork_held = NULL;
}

/*
 * A statically linked program has no dynamic loader to preload the runtime
 * into: it would run with none of its calls seen.  Never silently: the exec
 * fails with ENOEXEC and says why, unless FERRY_STATIC=run lets it run
 * (still logged).  Returns 0 to go on.
 */
static long refuse_static(long nr, const long *a)
{
	bool at = (nr == SYS_execveat);
	unsigned char ehdr[sizeof(Elf64_Ehdr)];
	const Elf64_Ehdr *e = (const Elf64_Ehdr *)ehdr;
	const char *allow = cnk_env_find((char *const *)a[at ? 3 : 2], "FERRY_STATIC");
	const char *name = (const char *)a[at ? 1 : 0];
	bool has_interp = false;
	long fd, n;

	bool by_fd = at && (a[4] & AT_EMPTY_PATH) && !((const char *)a[1])[0];

	fd = by_fd ? a[0]
		   : cnk_raw_syscall6(SYS_openat, at ? a[0] : AT_FDCWD, a[at ? 1 : 0],
				      O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return 0; /* the exec itself reports it */
	n = cnk_raw_syscall6(SYS_pread64, fd, (long)ehdr, sizeof(ehdr), 0, 0, 0);
	if (n != (long)sizeof(ehdr) || memcmp(e->e_ident, ELFMAG, SELFMAG) ||
	    e->e_ident[EI_CLASS] != ELFCLASS64 || e->e_phentsize != sizeof(Elf64_Phdr)) {
		if (!by_fd)
			cnk_raw_syscall(SYS_close, fd, 0, 0);
		return 0; /* a script, or not ours to judge */
	}
	for (unsigned i = 0; i < e->e_phnum && i < 64 && !has_interp; i++) {
		Elf64_Phdr ph;

		if (cnk_raw_syscall6(SYS_pread64, fd, (long)&ph, sizeof(ph),
				     (long)(e->e_phoff + i * sizeof(ph)), 0, 0) != (long)sizeof(ph))
			break;
		has_interp = ph.p_type == PT_INTERP;
	}
	if (!by_fd)
		cnk_raw_syscall(SYS_close, fd, 0, 0);
	if (has_interp || (e->e_type != ET_EXEC && e->e_type != ET_DYN))
		return 0;
	if (allow && !strcmp(allow, "run")) {
		FLOG_WARN(cnk_session_id(), cnk_session_job(),
			  "%s is statically linked: it runs without the runtime (FERRY_STATIC=run)",
			  name[0] ? name : "a program copied from the I/O node");
		return 0;
	}
	FLOG_ERR(cnk_session_id(), cnk_session_job(),
		 "%s is statically linked: the runtime cannot follow it, so exec fails with "
		 "ENOEXEC (FERRY_STATIC=run runs it without the runtime)",
		 name[0] ? name : "a program copied from the I/O node");
	return -ENOEXEC;
}

/* exec a local file (or a memfd copy): carry the forwarded cwd and
 * descriptors in the environment, then the native call.  runnable: the
 * file is known to be executable (a copy made here). */
static long exec_local(long nr, const long *a, bool runnable)
{
	bool at = (nr == SYS_execveat), owner, vfork_child, closed = false;
	int env_index = at ? 3 : 2;
	char *extra[EXEC_MAX_CARRIED + 3];
	char cwd_entry[sizeof(CWD_VAR) + FERRY_PATH_MAX];
	char held_entry[sizeof(HELD_VAR) + 48];
	size_t nextra = 0, nfds = 0, nheld = 0, map_len = 0;
	struct swapped_fds swapped = { 0 };
	const struct cnk_held *held = NULL;
	struct cnk_held *own_held = NULL;
	char *entries = NULL;
	long b[6], ret;
	char **envp;

	/* A PATH search fails exec after exec: only a file we may run is worth
	 * the work below. */
	runnable = runnable || cnk_raw_syscall6(SYS_faccessat, at ? a[0] : AT_FDCWD, a[at ? 1 : 0],
						X_OK, 0, 0, 0) == 0;
	if (runnable) {
		ret = refuse_static(nr, a);
		if (ret < 0)
			return ret;
	}
	owner = runnable && cnk_session_owns_endpoint();
	/* A vfork child carries what its parent noted before the vfork; it
	 * must leave the parent's session alone. */
	vfork_child = cnk_raw_syscall(SYS_getpid, 0, 0, 0) != cnk_dispatch_owner_pid();
	/* Children see that a runtime was loaded (and a shell between). */
	extra[nextra++] = (char *)RUNTIME_ENTRY;
	memcpy(cwd_entry, CWD_VAR, sizeof(CWD_VAR) - 1);
	if (cnk_cwd_get(cwd_entry + sizeof(CWD_VAR) - 1, FERRY_PATH_MAX) >= 0)
		extra[nextra++] = cwd_entry;
	if (runnable && (!cnk_fdtable_empty() || (vfork_child && vfork_opens_mine()))) {
		long map;

		if (vfork_child)
			held = vfork_held ? vfork_held : cnk_session_inherited();
		else if (owner && any_surviving_fd(false))
			held = own_held = cnk_session_detach();
		else if (!owner)
			held = cnk_session_inherited();
		map = cnk_raw_syscall6(SYS_mmap, 0, ENTRIES_LEN, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		/* Without room the descriptors are made unusable, not lost. */
		entries = (map < 0 && map > -4096) ? NULL : (char *)map;
		nfds = collect_surviving_fds(held, owner && !vfork_child, vfork_child, entries,
					     extra + nextra + 1, EXEC_MAX_CARRIED, &nheld, &swapped);
		if (held && nheld) {
			snprintf(held_entry, sizeof(held_entry), HELD_VAR "%llu:%llu",
				 (unsigned long long)held->id, (unsigned long long)held->token);
			extra[nextra++] = held_entry;
		} else {
			/* No held entry: shift the fd entries down. */
			memmove(extra + nextra, extra + nextra + 1, nfds * sizeof(extra[0]));
		}
	}
	envp = env_rebuild((char *const *)a[env_index], extra, nextra + nfds, &map_len);
	ret = -ENOMEM;
	if (envp == MAP_FAILED)
		goto out;
	memcpy(b, a, sizeof(b));
	if (envp)
		b[env_index] = (long)envp;
	if (owner && !vfork_child)
		cnk_exec_release_vfork_record();
	closed = owner && !vfork_child && cnk_session_before_exec();
	if (runnable && !vfork_child)
		cnk_profile_flush();
	/* Tell the parent its record is taken, unless the exec fails. */
	if (vfork_child && held && held == vfork_held && nheld)
		vfork_held_used = true;
	ret = cnk_native(nr, b);
	if (vfork_child)
		vfork_held_used = false;
	for (size_t i = 0; i < swapped.n; i++)
		make_unusable(swapped.fd[i]);
	if (closed) {
		/* Still us: our handles died with the session; the held
		 * duplicates are ours again at the next call. */
		cnk_session_after_failed_exec();
		cnk_fdtable_mark_all_stale();
		if (own_held) {
			cnk_session_inherit(own_held);
			own_held = NULL;
		}
	}
	if (envp)
		cnk_raw_syscall(SYS_munmap, envp, map_len, 0);
out:
	/* Not adopted by anyone (the exec failed before closing): the I/O
	 * node releases it after its timeout. */
	cnk_held_free(own_held);
	if (entries)
		cnk_raw_syscall(SYS_munmap, entries, ENTRIES_LEN, 0);
	return ret;
}

/* ---- programs stored under a forwarded prefix ---- */

#define SCRIPT_HEAD 256    /* as Linux's BINPRM_BUF_SIZE */
#define REMOTE_EXEC_DEPTH 4 /* interpreters that are scripts themselves */
#define COPY_CHUNK (1ul << 20)

static long remote_call_path(uint16_t op, const struct cnk_target *t, int64_t a1, int64_t a2,
			     int64_t a3)
{
	struct ferry_msg m;
	long ret;

	cnk_session_msg(&m, op);
	ferry_msg_add_arg(&m, t->dh);
	ferry_msg_add_arg(&m, a1);
	ferry_msg_add_arg(&m, a2);
	if (op == FERRY_OP_OPENAT)
		ferry_msg_add_arg(&m, a3);
	ret = ferry_msg_add_path(&m, t->path);
	if (ret < 0)
		return ret;
	return cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
}

static long remote_pread(int64_t handle, void *buf, size_t count, int64_t off)
{
	struct cnk_file tmp = { .handle = handle };

	return cnk_fwd_file_read(&tmp, buf, count, off, 0);
}

/* "#!interp [arg]" in head (len bytes): interp and arg point into head,
 * NUL-terminated.  false when head is not a script. */
static bool parse_shebang(char *head, size_t len, char **interp, char **arg)
{
	char *end, *p;

	if (len < 3 || head[0] != '#' || head[1] != '!')
		return false;
	end = memchr(head, '\n', len);
	if (!end)
		end = head + len - 1; /* a truncated line, as Linux takes it */
	*end = '\0';
	for (p = head + 2; *p == ' ' || *p == '\t'; p++)
		;
	if (!*p)
		return false;
	*interp = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*arg = NULL;
	if (*p) {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p) {
			char *q = p + strlen(p);

			while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
				*--q = '\0';
			*arg = p;
		}
	}
	return true;
}

/* Copy the remote file into a memfd; returns the fd or -errno. */
static long copy_to_memfd(int64_t handle, const char *path)
{
	const char *base = strrchr(path, '/');
	long memfd, map, ret = 0;
	int64_t off = 0;

	memfd = cnk_raw_syscall(SYS_memfd_create, (long)(base ? base + 1 : path), MFD_CLOEXEC, 0);
	if (memfd < 0)
		return memfd;
	map = cnk_raw_syscall6(SYS_mmap, 0, COPY_CHUNK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map < 0 && map > -4096) {
		cnk_raw_syscall(SYS_close, memfd, 0, 0);
		return map;
	}
	for (;;) {
		long got = remote_pread(handle, (void *)map, COPY_CHUNK, off), put = 0;

		if (got <= 0) {
			ret = got;
			break;
		}
		while (put < got) {
			long w = cnk_raw_syscall(SYS_write, memfd, map + put, got - put);

			if (w < 0) {
				ret = w;
				break;
			}
			put += w;
		}
		if (ret < 0)
			break;
		off += got;
	}
	cnk_raw_syscall(SYS_munmap, map, COPY_CHUNK, 0);
	if (ret < 0) {
		cnk_raw_syscall(SYS_close, memfd, 0, 0);
		return ret;
	}
	return memfd;
}

static long exec_target(long nr, const long *a, const char *path, const char *shown, int depth);

/* Run a program the I/O node stores: its #! interpreter with the script's
 * compute-node path (the interpreter reads it through Ferry), or a copy of
 * the binary in memory. */
static long exec_remote(long nr, const long *a, struct cnk_target *t, const char *shown,
			int depth)
{
	bool at = (nr == SYS_execveat);
	char *const *argv = (char *const *)a[at ? 2 : 1];
	char head[SCRIPT_HEAD + 1];
	char *interp, *arg;
	long handle, len, ret;

	ret = remote_call_path(FERRY_OP_FACCESSAT, t, X_OK, 0, 0);
	if (ret < 0)
		return ret;
	handle = remote_call_path(FERRY_OP_OPENAT, t, O_RDONLY | O_CLOEXEC, 0, 0);
	if (handle < 0)
		return handle;
	len = remote_pread(handle, head, SCRIPT_HEAD, 0);
	if (len < 0) {
		cnk_remote_close(handle);
		return len;
	}
	head[len] = '\0';
	if (parse_shebang(head, (size_t)len, &interp, &arg)) {
		size_t argc = 0, i, o = 0, map_len;
		char **nargv;
		long map;

		cnk_remote_close(handle);
		if (depth >= REMOTE_EXEC_DEPTH)
			return -ELOOP;
		while (argv && argv[argc])
			argc++;
		map_len = (argc + 4) * sizeof(char *);
		map = cnk_raw_syscall6(SYS_mmap, 0, (long)map_len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (map < 0 && map > -4096)
			return map;
		nargv = (char **)map;
		nargv[o++] = interp;
		if (arg)
			nargv[o++] = arg;
		nargv[o++] = (char *)shown;
		for (i = 1; i < argc; i++)
			nargv[o++] = argv[i];
		nargv[o] = NULL;
		{
			long b[6] = { (long)interp, (long)nargv, a[at ? 3 : 2], 0, 0, 0 };

			ret = exec_target(SYS_execve, b, interp, interp, depth + 1);
		}
		cnk_raw_syscall(SYS_munmap, map, (long)map_len, 0);
		return ret;
	}
	if (len < 4 || memcmp(head, "\177ELF", 4)) {
		cnk_remote_close(handle);
		return -ENOEXEC;
	}
	{
		long memfd = copy_to_memfd(handle, shown);

		cnk_remote_close(handle);
		if (memfd < 0)
			return memfd;
		long b[6] = { memfd, (long)"", (long)argv, a[at ? 3 : 2], AT_EMPTY_PATH, 0 };

		ret = exec_local(SYS_execveat, b, true);
		cnk_raw_syscall(SYS_close, memfd, 0, 0);
		return ret;
	}
}

#define EXEC_SHELL "/bin/sh"

static long exec_via_shell(long nr, const long *a, const char *abspath)
{
	bool at = (nr == SYS_execveat);
	char *const *argv = (char *const *)a[at ? 2 : 1];
	size_t argc = 0, map_len, o = 0;
	char **nargv;
	long map, ret;

	while (argv && argv[argc])
		argc++;
	map_len = (argc + 5) * sizeof(char *);
	map = cnk_raw_syscall6(SYS_mmap, 0, (long)map_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map < 0 && map > -4096)
		return map;
	nargv = (char **)map;
	nargv[o++] = (char *)EXEC_SHELL;
	nargv[o++] = (char *)"-c";
	nargv[o++] = (char *)"exec \"$0\" \"$@\"";
	nargv[o++] = (char *)abspath;
	for (size_t i = 1; i < argc; i++)
		nargv[o++] = argv[i];
	nargv[o] = NULL;
	{
		long b[6] = { (long)EXEC_SHELL, (long)nargv, a[at ? 3 : 2], 0, 0, 0 };

		ret = exec_local(SYS_execve, b, false);
	}
	cnk_raw_syscall(SYS_munmap, map, (long)map_len, 0);
	return ret;
}

static long exec_target(long nr, const long *a, const char *path, const char *shown, int depth)
{
	bool at = (nr == SYS_execveat);
	struct cnk_target t;
	long ret;

	ret = cnk_policy_resolve(at ? (int)a[0] : AT_FDCWD, path, &t);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return exec_local(nr, a, false);
	if (cnk_raw_syscall(SYS_getpid, 0, 0, 0) != cnk_dispatch_owner_pid() &&
	    !cnk_session_vfork_child_may_call()) {
		/* A vfork child that cannot reach the I/O node (its parent's
		 * session is not open, or the child closed its descriptors):
		 * a local shell, a process of its own under the runtime, runs
		 * the program instead.  Its errors come as the shell's exit
		 * status (126, 127), not as the exec's. */
		ret = exec_via_shell(nr, a, t.buf);
		cnk_target_release(&t);
		return ret;
	}
	if (at && (a[4] & AT_EMPTY_PATH) && !path[0])
		ret = -EACCES; /* fexecve of a forwarded descriptor */
	else
		ret = exec_remote(nr, a, &t, shown, depth);
	cnk_target_release(&t);
	return ret;
}

long cnk_fwd_exec(long nr, const long *a)
{
	bool at = (nr == SYS_execveat);
	const char *path = (const char *)a[at ? 1 : 0];

	return exec_target(nr, a, path, path, 0);
}

bool cnk_exec_spawn_needs_session(const char *path, bool search)
{
	char candidate[FERRY_PATH_MAX];
	const char *dirs;

	if (!path || !path[0])
		return false;
	if (!search || strchr(path, '/'))
		return cnk_policy_wants(AT_FDCWD, path);
	/* As glibc's search: PATH, or its default. */
	dirs = cnk_env_get("PATH");
	if (!dirs)
		dirs = "/bin:/usr/bin";
	while (cnk_path_next(&dirs, path, candidate, sizeof(candidate)) >= 0)
		if (cnk_policy_wants(AT_FDCWD, candidate))
			return true;
	return false;
}

/* One FERRY_FD_<n>=<flags>:<offset>:<handle>:<path> entry. */
struct carried_fd {
	int fd;
	int flags;
	long long offset;
	long long handle;
	const char *path;
};

static int parse_fd_entry(const char *entry, struct carried_fd *c)
{
	int used = 0;

	if (sscanf(entry, FD_VAR "%d=%d:%lld:%lld:%n", &c->fd, &c->flags, &c->offset, &c->handle,
		   &used) != 4 || !used)
		return -EINVAL;
	c->path = entry + used;
	if (c->path[0] != '/')
		return -EINVAL;
	return 0;
}

/* Map an adopted held handle on its placeholder. */
static int install_held(const struct carried_fd *c)
{
	int open_flags = c->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
	struct cnk_file *f;

	if (!is_placeholder(c->fd)) {
		cnk_remote_close(c->handle);
		return -EBADF;
	}
	f = cnk_file_new(c->handle, open_flags, c->path);
	if (!f) {
		cnk_remote_close(c->handle);
		make_unusable(c->fd);
		return -ENOMEM;
	}
	cnk_fd_install_at(c->fd, f);
	cnk_file_put(f);
	return 0;
}

/* Reopen by path at the offset it had (no held duplicate). */
static int reopen_fd(const struct carried_fd *c)
{
	int open_flags = c->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC), ret;
	struct cnk_file *f;
	struct ferry_msg m;
	long handle;

	if (c->offset < 0 || !is_placeholder(c->fd))
		return -EBADF;
	cnk_session_msg(&m, FERRY_OP_OPENAT);
	ferry_msg_add_arg(&m, FERRY_AT_ROOT);
	ferry_msg_add_arg(&m, open_flags);
	ferry_msg_add_arg(&m, 0);
	ferry_msg_add_arg(&m, 0);
	ret = ferry_msg_add_path(&m, c->path);
	if (ret < 0)
		goto fail;
	handle = cnk_session_call(&m, NULL, NULL, 0, NULL, CNK_CALL_DEFAULT);
	if (handle < 0) {
		ret = (int)handle;
		goto fail;
	}
	f = cnk_file_new(handle, open_flags, c->path);
	if (!f) {
		cnk_remote_close(handle);
		ret = -ENOMEM;
		goto fail;
	}
	cnk_fd_install_at(c->fd, f);
	cnk_file_put(f);
	if (!(c->flags & O_APPEND) && c->offset > 0) {
		long args[6] = { c->fd, (long)c->offset, SEEK_SET, 0, 0, 0 };

		ret = (int)cnk_fwd_lseek(SYS_lseek, args);
		if (ret < 0)
			return ret;
	}
	return 0;
fail:
	make_unusable(c->fd);
	return ret;
}

void cnk_exec_adopt_inherited(void)
{
	struct carried_fd carried[EXEC_MAX_CARRIED];
	int64_t keep[EXEC_MAX_CARRIED];
	char *names[EXEC_MAX_CARRIED + 1];
	unsigned long long held_id = 0, token = 0;
	size_t n = 0, nnames = 0, nkeep = 0, i;
	bool have_held = false;
	long adopted = -ENOENT;
	char **env;

	for (env = environ; env && *env && nnames < EXEC_MAX_CARRIED; env++) {
		bool is_held = !strncmp(*env, HELD_VAR, sizeof(HELD_VAR) - 1);
		char *eq;

		if (is_held) {
			have_held = sscanf(*env, HELD_VAR "%llu:%llu", &held_id, &token) == 2;
		} else if (!strncmp(*env, FD_VAR, sizeof(FD_VAR) - 1)) {
			if (parse_fd_entry(*env, &carried[n]) == 0) {
				if (carried[n].handle >= 0)
					keep[nkeep++] = carried[n].handle;
				n++;
			} else {
				FLOG_WARN(cnk_session_id(), cnk_session_job(),
					  "malformed %s ignored", *env);
			}
		} else {
			continue;
		}
		eq = strchr(*env, '=');
		names[nnames] = strndup(*env, eq ? (size_t)(eq - *env) : strlen(*env));
		if (names[nnames])
			nnames++;
	}
	if (have_held && nkeep)
		adopted = cnk_session_adopt(held_id, token, keep, nkeep);
	if (nkeep && adopted < 0)
		FLOG_WARN(cnk_session_id(), cnk_session_job(),
			  "the descriptors held for this program by the I/O node are gone (%s); "
			  "reopening by path where possible",
			  strerror((int)-adopted));
	for (i = 0; i < n; i++) {
		int ret = (carried[i].handle >= 0 && adopted >= 0) ? install_held(&carried[i])
								    : reopen_fd(&carried[i]);

		if (ret < 0)
			FLOG_WARN(cnk_session_id(), cnk_session_job(),
				  "forwarded descriptor %d (%s) inherited across exec is not usable: "
				  "%s",
				  carried[i].fd, carried[i].path, strerror(-ret));
	}
	/* The entries point into environ: unset only when done with them. */
	for (i = 0; i < nnames; i++) {
		cnk_env_unset(names[i]);
		free(names[i]);
	}
}
