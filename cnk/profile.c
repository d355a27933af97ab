/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FERRY_PROFILE=FILE: per-syscall counts and times, split by how each call
 * was handled (local, forwarded), written to FILE at exit and before exec.
 *
 * Recording is a pair of relaxed atomic additions into a static table (no
 * lock, no allocation, no libc): it runs inside the dispatcher, in any
 * thread, in signal handlers.  Writing uses raw syscalls only, so it works
 * from the dispatcher's exit and exec paths.
 *
 * The file (see docs/ferry.7.md):
 *   # ferry-profile 1
 *   # program /usr/bin/prog
 *   # pid 1234
 *   # start_ticks 567        (process start, /proc/PID/stat; kept by exec)
 *   # wall_ns 1000000        (from the runtime's start to the write)
 *   # syscall_ns 20000       (the sum of total_ns below)
 *   # calls 42
 *   syscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,forwarded_ns
 *   write,1,...
 * An exec'd image of the same process appends its own block to the same
 * file; a fork child starts from zero and writes its own (use %p).
 */
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <ferry/log.h>

#include "profile_names.h"
#include "raw_syscall.h"
#include "runtime_fds.h"

#ifndef KCMP_VM
#define KCMP_VM 1
#endif

bool cnk_profile_active;

/* One row per syscall number; the last one collects numbers outside the
 * table (the runtime's pseudo calls). */
struct profile_slot {
	_Atomic uint64_t calls[2]; /* by enum cnk_profile_how */
	_Atomic uint64_t ns[2];
};

#define OTHER_SLOT CNK_PROFILE_NR
static struct profile_slot slots[CNK_PROFILE_NR + 1];

#define PATH_TEMPLATE_MAX 4096
static char path_template[PATH_TEMPLATE_MAX]; /* absolute, %p/%h not expanded */
static char program[PATH_TEMPLATE_MAX];
static bool summary_wanted;
/* A copy of stderr for the summary: programs close theirs at exit (coreutils
 * does, in an atexit handler that runs before ours). */
static int summary_fd = -1;
static _Atomic bool summary_done;
static _Atomic uint64_t start_ns;
static _Atomic int owner_pid;      /* whose counters the table holds */
static _Atomic uint64_t start_ticks; /* 0: not read yet (fork child) */
static _Atomic long block_offset;    /* where this image's block starts */
static atomic_flag flush_busy = ATOMIC_FLAG_INIT;

/* The text of the file and of the summary is built here, a piece at a time. */
static char out_buf[8192];

uint64_t cnk_profile_now_ns(void)
{
	struct timespec ts;

	/* The vDSO: no syscall. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cnk_profile_record(long nr, enum cnk_profile_how how, uint64_t ns)
{
	struct profile_slot *s = &slots[(nr >= 0 && nr < CNK_PROFILE_NR) ? nr : OTHER_SLOT];
	unsigned h = how == CNK_PROFILE_FORWARDED;

	atomic_fetch_add_explicit(&s->calls[h], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->ns[h], ns, memory_order_relaxed);
}

/* ---- helpers that make no syscall, or only raw ones ---- */

static size_t append_str(char *dst, size_t len, size_t cap, const char *s)
{
	while (*s && len + 1 < cap)
		dst[len++] = *s++;
	dst[len] = '\0';
	return len;
}

static size_t append_u64(char *dst, size_t len, size_t cap, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n > 0 && len + 1 < cap)
		dst[len++] = tmp[--n];
	dst[len] = '\0';
	return len;
}

/* The path for this pid: %p the pid, %h the host name, %% a '%'.  -ENAMETOOLONG
 * when it does not fit. */
static int expand_path(char *dst, size_t cap, int pid)
{
	size_t len = 0;
	const char *t;

	dst[0] = '\0';
	for (t = path_template; *t; t++) {
		if (t[0] == '%' && t[1] == 'p') {
			len = append_u64(dst, len, cap, (uint64_t)pid);
			t++;
		} else if (t[0] == '%' && t[1] == 'h') {
			struct utsname u;

			if (cnk_raw_syscall(SYS_uname, &u, 0, 0) == 0)
				len = append_str(dst, len, cap, u.nodename);
			t++;
		} else if (t[0] == '%' && t[1] == '%') {
			len = append_str(dst, len, cap, "%");
			t++;
		} else if (len + 1 < cap) {
			dst[len++] = *t;
			dst[len] = '\0';
		}
		if (len + 1 >= cap)
			return -ENAMETOOLONG;
	}
	return 0;
}

/* Field 22 of /proc/self/stat (start time in clock ticks after boot); 0 when
 * it cannot be read.  Raw syscalls. */
static uint64_t read_start_ticks(void)
{
	char buf[1024];
	long fd, n;
	char *p, *end;
	int field;
	uint64_t v = 0;

	fd = cnk_raw_syscall6(SYS_openat, AT_FDCWD, (long)"/proc/self/stat", O_RDONLY | O_CLOEXEC,
			      0, 0, 0);
	if (fd < 0)
		return 0;
	n = cnk_raw_syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	cnk_raw_syscall(SYS_close, fd, 0, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': fields follow the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	end = buf + n;
	/* p[1] is the space before field 3 (state). */
	for (field = 2, p++; p < end && field < 22; p++)
		if (*p == ' ')
			field++;
	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}

static int write_all(long fd, const char *buf, size_t len, long *off)
{
	while (len > 0) {
		long n = cnk_raw_syscall6(SYS_pwrite64, fd, (long)buf, (long)len, *off, 0, 0);

		if (n == -EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		buf += n;
		len -= (size_t)n;
		*off += n;
	}
	return 0;
}

/* Append a line to out_buf; write out_buf first when the line would not fit. */
struct sink {
	long fd;
	long off; /* pwrite offset; -1: write() (stderr) */
	size_t len;
	int err;
};

static void sink_flush(struct sink *k)
{
	if (k->len == 0 || k->err)
		goto out;
	if (k->off >= 0) {
		k->err = write_all(k->fd, out_buf, k->len, &k->off);
	} else {
		const char *p = out_buf;
		size_t left = k->len;

		while (left > 0) {
			long n = cnk_raw_syscall(SYS_write, k->fd, p, left);

			if (n == -EINTR)
				continue;
			if (n <= 0) {
				k->err = -EIO;
				break;
			}
			p += n;
			left -= (size_t)n;
		}
	}
out:
	k->len = 0;
}

static void sink_line(struct sink *k, const char *line, size_t n)
{
	if (k->len + n > sizeof(out_buf))
		sink_flush(k);
	if (n > sizeof(out_buf))
		n = sizeof(out_buf);
	memcpy(out_buf + k->len, line, n);
	k->len += n;
}

/* ---- the snapshot and the file ---- */

struct snapshot_row {
	uint64_t calls[2];
	uint64_t ns[2];
};

static struct snapshot_row snap[CNK_PROFILE_NR + 1];
static uint16_t order[CNK_PROFILE_NR + 1];

static void take_snapshot(uint64_t *total_calls, uint64_t *total_ns)
{
	size_t i;

	*total_calls = 0;
	*total_ns = 0;
	for (i = 0; i <= CNK_PROFILE_NR; i++) {
		for (int h = 0; h < 2; h++) {
			snap[i].calls[h] = atomic_load_explicit(&slots[i].calls[h], memory_order_relaxed);
			snap[i].ns[h] = atomic_load_explicit(&slots[i].ns[h], memory_order_relaxed);
			*total_calls += snap[i].calls[h];
			*total_ns += snap[i].ns[h];
		}
	}
}

static void row_name(size_t i, char *name, size_t cap)
{
	size_t len = 0;

	name[0] = '\0';
	if (i == OTHER_SLOT)
		append_str(name, 0, cap, "other");
	else if (cnk_profile_names[i])
		append_str(name, 0, cap, cnk_profile_names[i]);
	else {
		len = append_str(name, 0, cap, "sys_");
		append_u64(name, len, cap, i);
	}
}

static void write_profile(struct sink *k, int pid, uint64_t ticks, uint64_t wall_ns,
			  uint64_t total_calls, uint64_t total_ns)
{
	char line[PATH_TEMPLATE_MAX + 64];
	size_t i, n;

	n = append_str(line, 0, sizeof(line), "# ferry-profile 1\n# program ");
	n = append_str(line, n, sizeof(line), program);
	n = append_str(line, n, sizeof(line), "\n# pid ");
	n = append_u64(line, n, sizeof(line), (uint64_t)pid);
	n = append_str(line, n, sizeof(line), "\n# start_ticks ");
	n = append_u64(line, n, sizeof(line), ticks);
	n = append_str(line, n, sizeof(line), "\n# wall_ns ");
	n = append_u64(line, n, sizeof(line), wall_ns);
	n = append_str(line, n, sizeof(line), "\n# syscall_ns ");
	n = append_u64(line, n, sizeof(line), total_ns);
	n = append_str(line, n, sizeof(line), "\n# calls ");
	n = append_u64(line, n, sizeof(line), total_calls);
	n = append_str(line, n, sizeof(line),
		       "\nsyscall,nr,calls,total_ns,local_calls,local_ns,forwarded_calls,"
		       "forwarded_ns\n");
	sink_line(k, line, n);
	for (i = 0; i <= CNK_PROFILE_NR; i++) {
		const struct snapshot_row *r = &snap[i];
		char name[32];

		if (r->calls[0] + r->calls[1] == 0)
			continue;
		row_name(i, name, sizeof(name));
		n = append_str(line, 0, sizeof(line), name);
		n = append_str(line, n, sizeof(line), ",");
		if (i == OTHER_SLOT)
			n = append_str(line, n, sizeof(line), "-1");
		else
			n = append_u64(line, n, sizeof(line), i);
		uint64_t vals[6] = { r->calls[0] + r->calls[1], r->ns[0] + r->ns[1], r->calls[0],
				     r->ns[0], r->calls[1], r->ns[1] };
		for (int v = 0; v < 6; v++) {
			n = append_str(line, n, sizeof(line), ",");
			n = append_u64(line, n, sizeof(line), vals[v]);
		}
		n = append_str(line, n, sizeof(line), "\n");
		sink_line(k, line, n);
	}
	sink_flush(k);
}

/* The strace -c-like table on stderr, largest time first. */
static void write_summary(int pid, uint64_t wall_ns, uint64_t total_calls, uint64_t total_ns)
{
	struct sink k = { .fd = summary_fd, .off = -1 };
	char line[PATH_TEMPLATE_MAX + 256];
	uint64_t fwd_calls = 0, fwd_ns = 0;
	size_t i, j, used = 0;
	int n;

	for (i = 0; i <= CNK_PROFILE_NR; i++) {
		if (snap[i].calls[0] + snap[i].calls[1] == 0)
			continue;
		fwd_calls += snap[i].calls[1];
		fwd_ns += snap[i].ns[1];
		/* insertion sort by total time, descending */
		for (j = used; j > 0; j--) {
			const struct snapshot_row *o = &snap[order[j - 1]];

			if (o->ns[0] + o->ns[1] >= snap[i].ns[0] + snap[i].ns[1])
				break;
			order[j] = order[j - 1];
		}
		order[j] = (uint16_t)i;
		used++;
	}
	n = snprintf(line, sizeof(line),
		     "ferry profile: %s (pid %d): wall %.6f s, in intercepted calls %.6f s "
		     "(%.1f%%), %llu calls\n"
		     "%% time     seconds  usecs/call     calls |  local  usecs/call | forwarded  "
		     "usecs/call | syscall\n"
		     "------ ----------- ----------- --------- | ------ ----------- | --------- "
		     "----------- | ----------------\n",
		     program, pid, (double)wall_ns / 1e9, (double)total_ns / 1e9,
		     wall_ns ? 100.0 * (double)total_ns / (double)wall_ns : 0.0,
		     (unsigned long long)total_calls);
	sink_line(&k, line, (size_t)n);
	for (j = 0; j < used; j++) {
		const struct snapshot_row *r = &snap[order[j]];
		uint64_t c = r->calls[0] + r->calls[1], t = r->ns[0] + r->ns[1];
		char name[32], lu[16] = "-", fu[16] = "-";

		row_name(order[j], name, sizeof(name));
		if (r->calls[0])
			snprintf(lu, sizeof(lu), "%.3f", (double)r->ns[0] / 1e3 / (double)r->calls[0]);
		if (r->calls[1])
			snprintf(fu, sizeof(fu), "%.3f", (double)r->ns[1] / 1e3 / (double)r->calls[1]);
		n = snprintf(line, sizeof(line),
			     "%6.2f %11.6f %11.3f %9llu | %6llu %11s | %9llu %11s | %s\n",
			     total_ns ? 100.0 * (double)t / (double)total_ns : 0.0, (double)t / 1e9,
			     (double)t / 1e3 / (double)c, (unsigned long long)c,
			     (unsigned long long)r->calls[0], lu, (unsigned long long)r->calls[1], fu,
			     name);
		sink_line(&k, line, (size_t)n);
	}
	n = snprintf(line, sizeof(line),
		     "------ ----------- ----------- --------- | ------ ----------- | --------- "
		     "----------- | ----------------\n"
		     "100.00 %11.6f %11.3f %9llu | %6llu %11s | %9llu %11.3f | total\n"
		     "forwarded: %llu calls, %.6f s, %.3f us per call (the forwarding cost is "
		     "what a forwarded call takes beyond the same call run locally)\n",
		     (double)total_ns / 1e9,
		     total_calls ? (double)total_ns / 1e3 / (double)total_calls : 0.0,
		     (unsigned long long)total_calls, (unsigned long long)(total_calls - fwd_calls),
		     "", (unsigned long long)fwd_calls,
		     fwd_calls ? (double)fwd_ns / 1e3 / (double)fwd_calls : 0.0,
		     (unsigned long long)fwd_calls, (double)fwd_ns / 1e9,
		     fwd_calls ? (double)fwd_ns / 1e3 / (double)fwd_calls : 0.0);
	sink_line(&k, line, (size_t)n);
	sink_flush(&k);
}

void cnk_profile_flush(void)
{
	char path[PATH_TEMPLATE_MAX];
	uint64_t total_calls, total_ns, ticks, wall_ns;
	int pid, owner;
	long fd, off, ret;
	struct sink k;

	if (!cnk_profile_active || atomic_flag_test_and_set(&flush_busy))
		return;
	pid = (int)cnk_raw_syscall(SYS_getpid, 0, 0, 0);
	owner = atomic_load(&owner_pid);
	if (pid != owner) {
		/* A vfork child shares our memory: its parent writes these
		 * counters.  A child of a raw fork (no atfork handler ran) keeps
		 * its parent's counts and writes them as its own. */
		long same_vm = cnk_raw_syscall6(SYS_kcmp, pid, owner, KCMP_VM, 0, 0, 0);

		if (same_vm == 0 || same_vm < 0)
			goto out;
	}
	wall_ns = cnk_profile_now_ns() - atomic_load(&start_ns);
	take_snapshot(&total_calls, &total_ns);
	ticks = atomic_load(&start_ticks);
	if (ticks == 0 || pid != owner) {
		ticks = read_start_ticks();
		if (pid == owner)
			atomic_store(&start_ticks, ticks);
	}
	if (summary_wanted && !atomic_exchange(&summary_done, true))
		write_summary(pid, wall_ns, total_calls, total_ns);
	if (expand_path(path, sizeof(path), pid) < 0)
		goto out;
	fd = cnk_raw_syscall6(SYS_openat, AT_FDCWD, (long)path, O_WRONLY | O_CREAT | O_CLOEXEC,
			      0644, 0, 0);
	if (fd < 0)
		goto out;
	off = atomic_load(&block_offset);
	ret = cnk_raw_syscall(SYS_ftruncate, fd, off, 0);
	k = (struct sink){ .fd = fd, .off = ret == 0 ? off : -1 };
	if (ret == 0)
		write_profile(&k, pid, ticks, wall_ns, total_calls, total_ns);
	cnk_raw_syscall(SYS_close, fd, 0, 0);
out:
	atomic_flag_clear(&flush_busy);
}

/* ---- set-up (library constructor: libc is fine here) ---- */

static void profile_at_exit(void)
{
	cnk_profile_flush();
}

/* A fork child counts from zero and writes its own block. */
static void profile_fork_child(void)
{
	size_t i;

	for (i = 0; i <= CNK_PROFILE_NR; i++)
		for (int h = 0; h < 2; h++) {
			atomic_store_explicit(&slots[i].calls[h], 0, memory_order_relaxed);
			atomic_store_explicit(&slots[i].ns[h], 0, memory_order_relaxed);
		}
	atomic_store(&owner_pid, (int)cnk_raw_syscall(SYS_getpid, 0, 0, 0));
	atomic_store(&start_ticks, 0);
	atomic_store(&block_offset, 0);
	atomic_store(&summary_done, false);
	atomic_store(&start_ns, cnk_profile_now_ns());
	atomic_flag_clear(&flush_busy);
}

/* Where this image's block goes: after the blocks earlier images of this
 * same process wrote (exec keeps the pid and the start time), else at 0. */
static long find_block_offset(int fd, int pid, uint64_t ticks)
{
	char buf[4096], line[256];
	size_t ll = 0;
	long total = 0, n;
	long last_pid = -1;
	uint64_t last_ticks = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (long i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll + 1 < sizeof(line))
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (strncmp(line, "# pid ", 6) == 0)
				last_pid = strtol(line + 6, NULL, 10);
			else if (strncmp(line, "# start_ticks ", 14) == 0)
				last_ticks = strtoull(line + 14, NULL, 10);
		}
		total += n;
	}
	if (n < 0)
		return 0;
	return (last_pid == pid && last_ticks == ticks && ticks != 0) ? total : 0;
}

int cnk_profile_init(void)
{
	const char *file = getenv("FERRY_PROFILE");
	const char *sum = getenv("FERRY_PROFILE_SUMMARY");
	char path[PATH_TEMPLATE_MAX];
	int pid = (int)getpid(), fd, err;
	uint64_t ticks;
	long off;
	ssize_t len;

	if (!file || !*file)
		return 0;
	if (file[0] == '/') {
		if (strlen(file) >= sizeof(path_template))
			goto too_long;
		strcpy(path_template, file);
	} else {
		if (!getcwd(path_template, sizeof(path_template))) {
			err = errno;
			FLOG_WARN(0, 0, "FERRY_PROFILE=%s: cannot read the working directory: %s; no profile",
				  file, strerror(err));
			return -err;
		}
		if (strlen(path_template) + 1 + strlen(file) >= sizeof(path_template))
			goto too_long;
		strcat(path_template, "/");
		strcat(path_template, file);
	}
	if (expand_path(path, sizeof(path), pid) < 0)
		goto too_long;
	ticks = read_start_ticks();
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		FLOG_WARN(0, 0, "FERRY_PROFILE: cannot write %s: %s; no profile", path, strerror(err));
		return -err;
	}
	off = find_block_offset(fd, pid, ticks);
	if (ftruncate(fd, off) < 0) {
		err = errno;
		close(fd);
		FLOG_WARN(0, 0, "FERRY_PROFILE: cannot truncate %s: %s; no profile", path,
			  strerror(err));
		return -err;
	}
	close(fd);
	len = readlink("/proc/self/exe", program, sizeof(program) - 1);
	program[len > 0 ? len : 0] = '\0';
	for (char *p = program; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = '?';
	summary_wanted = sum && *sum && strcmp(sum, "0") != 0;
	if (summary_wanted) {
		struct cnk_fd_window w;

		cnk_runtime_fds_begin(&w);
		summary_fd = fcntl(2, F_DUPFD_CLOEXEC, CNK_RUNTIME_FD_LOW);
		cnk_runtime_fds_end(&w);
		if (summary_fd < 0)
			summary_fd = 2;
	}
	atomic_store(&owner_pid, pid);
	atomic_store(&start_ticks, ticks);
	atomic_store(&block_offset, off);
	atomic_store(&start_ns, cnk_profile_now_ns());
	err = pthread_atfork(NULL, NULL, profile_fork_child);
	if (err == 0 && atexit(profile_at_exit) != 0)
		err = ENOMEM;
	if (err) {
		FLOG_WARN(0, 0, "FERRY_PROFILE: cannot register the fork and exit hooks: %s; no profile",
			  strerror(err));
		return -err;
	}
	cnk_profile_active = true;
	return 0;
too_long:
	FLOG_WARN(0, 0, "FERRY_PROFILE: the path is too long; no profile");
	return -ENAMETOOLONG;
}
