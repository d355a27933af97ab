/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast path: lazy rewriting of trapped syscall sites.
 *
 * A SUD trap costs a signal delivery (about 2.5 us).  Most syscalls in a
 * program come from a few sites, nearly all of them `mov $NR, %eax;
 * syscall` (b8 imm32 0f 05) in libc's wrappers.  On the first trap from
 * such a site, the SIGSYS handler rewrites the 5-byte mov into `jmp rel32` to
 * a per-site stub and leaves the 2-byte syscall as it was:
 *
 *   site-5: e9 rel32        (was: b8 NR)
 *   site:   0f 05           (unchanged: a jump straight to the syscall
 *                            still executes it, and it still traps)
 *
 * The stub, in an executable chunk mapped within +-2 GiB of the site, is
 *
 *   mov $NR, %eax; movabs $site+2, %rcx; movabs $cnk_fast_entry, %r11;
 *   jmp *%r11
 *
 * touching only registers the syscall clobbers (rax, rcx, r11) and no
 * memory; cnk_fast_entry skips the red zone, builds the trap frame the
 * SIGSYS handler would have built and enters cnk_trampoline (or runs the
 * call natively when the selector is ALLOW: the runtime's own libc calls).
 * For a number the dispatcher declares it always runs natively
 * (cnk_dispatch_native_always), the stub jumps to cnk_fast_native instead,
 * which executes the syscall from the allowed range: no dispatcher, no
 * vector-state save, the kernel's own EINTR and restart behaviour.
 *
 * What is never rewritten:
 * - sites whose mov does not carry the trapped number, or whose bytes could
 *   be the tail of another instruction (see cnk_site_bytes_ok);
 * - the calls the SIGSYS handler treats specially or that belong to the
 *   mechanism (rt_sigreturn, clone, clone3, fork, vfork, execve, execveat,
 *   prctl and the signal-mask calls): they stay on the SUD path;
 * - pages that are not a private, read+execute, file-backed mapping
 *   (writable pages, JIT code, the vDSO, memfd code, our stub chunks);
 * - a mov whose 5 bytes do not fit in one 8-byte window inside one cache
 *   line: the rewrite is a single locked 8-byte compare-and-exchange, so a
 *   thread running the site concurrently fetches either the old or the new
 *   instruction, never a mix.
 * The page is made read+write+execute for the store (never non-executable:
 * other threads may be running it) and put back to read+execute.  One lock
 * (try-lock: a busy lock just leaves this trap on the SUD path) serialises
 * rewriting; a table of sites remembers what was rewritten or refused, so a
 * site is examined once and a trap from a rewritten site (a jump straight to
 * its syscall) is recognised.
 *
 * Everything here runs inside the SIGSYS handler: raw syscalls only, no
 * libc, static buffers under the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "intercept.h"
#include "raw_syscall.h"
#include "rewrite.h"
#include "thread_block.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define CNK_PAGE 4096UL
#define CNK_LINE 64UL

/* Stub chunks: 64 KiB each, 32-byte stubs. */
#define CNK_CHUNK_SIZE (64UL * 1024)
#define CNK_STUB_SIZE 32UL
#define CNK_MAX_CHUNKS 64
/* Sites remembered (rewritten or refused); a full table stops rewriting. */
#define CNK_SITE_TABLE 8192

#define CNK_SITE_REWRITTEN 1
#define CNK_SITE_REFUSED 2

struct cnk_site_slot {
	uintptr_t resume; /* address after the syscall; 0: free */
	uint32_t state;
};

struct cnk_chunk {
	uintptr_t base;
	uintptr_t used; /* stubs handed out */
};

_Static_assert(sizeof(struct cnk_trap_frame) == 80, "trampoline_x86_64.S: TRAP_FRAME_SIZE");

static int cnk_rw_enabled;
static int cnk_rw_lock;
static int cnk_rw_full;
static uint64_t cnk_rw_traps, cnk_rw_rewritten, cnk_rw_refused, cnk_rw_native;
static struct cnk_site_slot cnk_sites[CNK_SITE_TABLE];
static struct cnk_chunk cnk_chunks[CNK_MAX_CHUNKS];
static unsigned int cnk_nchunks;
/* /proc/self/maps is read in pieces of this size (under the lock). */
static char cnk_maps_buf[8192];

void cnk_rewrite_init(int enabled)
{
	__atomic_store_n(&cnk_rw_enabled, enabled, __ATOMIC_RELEASE);
}

int cnk_rewrite_enabled(void)
{
	return __atomic_load_n(&cnk_rw_enabled, __ATOMIC_RELAXED);
}

void cnk_rewrite_atfork_child(void)
{
	__atomic_store_n(&cnk_rw_lock, 0, __ATOMIC_RELEASE);
}

void cnk_rewrite_get_stats(struct cnk_rewrite_stats *out)
{
	out->traps = __atomic_load_n(&cnk_rw_traps, __ATOMIC_RELAXED);
	out->rewritten = __atomic_load_n(&cnk_rw_rewritten, __ATOMIC_RELAXED);
	out->refused = __atomic_load_n(&cnk_rw_refused, __ATOMIC_RELAXED);
	out->native = __atomic_load_n(&cnk_rw_native, __ATOMIC_RELAXED);
}

static size_t cnk_site_hash(uintptr_t resume)
{
	uint64_t h = (uint64_t)resume * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 40) % CNK_SITE_TABLE;
}

/* The state of a site, 0 if unknown.  Lock-free: slots are filled under the
 * lock, state first, the address last (release). */
static uint32_t cnk_site_lookup(uintptr_t resume)
{
	size_t i = cnk_site_hash(resume), n;

	for (n = 0; n < CNK_SITE_TABLE; n++, i = (i + 1) % CNK_SITE_TABLE) {
		uintptr_t key = __atomic_load_n(&cnk_sites[i].resume, __ATOMIC_ACQUIRE);

		if (key == 0)
			return 0;
		if (key == resume)
			return __atomic_load_n(&cnk_sites[i].state, __ATOMIC_RELAXED);
	}
	return 0;
}

/* Under the lock.  Keeps a quarter of the table free so probes stay short. */
static void cnk_site_record(uintptr_t resume, uint32_t state)
{
	static size_t used;
	size_t i = cnk_site_hash(resume);

	if (used >= CNK_SITE_TABLE - CNK_SITE_TABLE / 4) {
		__atomic_store_n(&cnk_rw_full, 1, __ATOMIC_RELAXED);
		return;
	}
	while (__atomic_load_n(&cnk_sites[i].resume, __ATOMIC_RELAXED) != 0)
		i = (i + 1) % CNK_SITE_TABLE;
	__atomic_store_n(&cnk_sites[i].state, state, __ATOMIC_RELAXED);
	__atomic_store_n(&cnk_sites[i].resume, resume, __ATOMIC_RELEASE);
	used++;
}

int cnk_rewrite_is_site(uintptr_t resume)
{
	return cnk_site_lookup(resume) == CNK_SITE_REWRITTEN;
}

/* Calls that stay on the SUD path (see the file comment). */
static int cnk_nr_excluded(long nr)
{
	switch (nr) {
	case SYS_rt_sigreturn:
	case SYS_clone:
	case SYS_clone3:
	case SYS_fork:
	case SYS_vfork:
	case SYS_execve:
	case SYS_execveat:
	case SYS_prctl:
	case SYS_rt_sigaction:
	case SYS_rt_sigprocmask:
	case SYS_rt_sigsuspend:
	case SYS_rt_sigtimedwait:
	case SYS_ppoll:
	case SYS_pselect6:
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_signalfd:
	case SYS_signalfd4:
		return 1;
	default:
		return nr < 0 || nr >= 1024;
	}
}

/*
 * Do the 7 bytes before `resume` read `mov $nr, %eax; syscall`, as an
 * instruction of its own?  The syscall is an instruction boundary (the
 * kernel trapped on it); the mov is not known to be one.  The b8 could be
 * - the opcode with a prefix in front (41 b8: mov to %r8d; 66, ...):
 *   refused when the byte before is a prefix or REX;
 * - a ModRM byte (mod 10, rm %rax, disp32 = the 4 bytes after): with
 *   %rax = nr < 1024 that addresses below 2048, unmapped, so the
 *   instruction cannot have run -- except lea (8d) and the 0f-escaped
 *   hint-nops and prefetches, which touch no memory: refused;
 * - a SIB byte (ModRM mod 10, rm 100 before it): refused;
 * - the last byte of an earlier instruction, the 4 bytes after decoding on
 *   their own: with nr < 1024 they are `lo hi 00 00`, and every such
 *   decoding ends in an access through (%rax), i.e. below 2048, which
 *   faults: cannot have run.
 * Reads the bytes at resume-9 .. resume-1: the caller knows they are mapped.
 */
__attribute__((no_sanitize("address"))) static int cnk_site_bytes_ok(uintptr_t resume, long nr)
{
	const volatile uint8_t *s = (const volatile uint8_t *)(resume - 2);
	uint8_t before = s[-6], modrm = s[-7];
	uint32_t imm = (uint32_t)s[-4] | (uint32_t)s[-3] << 8 | (uint32_t)s[-2] << 16 |
		       (uint32_t)s[-1] << 24;

	if (s[0] != 0x0f || s[1] != 0x05 || s[-5] != 0xb8 || imm != (uint32_t)nr)
		return 0;
	if ((before >= 0x40 && before <= 0x4f) || before == 0x66 || before == 0x67 ||
	    before == 0xf0 || before == 0xf2 || before == 0xf3 || before == 0x26 ||
	    before == 0x2e || before == 0x36 || before == 0x3e || before == 0x64 || before == 0x65)
		return 0;
	if (before == 0x8d || modrm == 0x0f || (modrm & 0xc7) == 0x84)
		return 0;
	return 1;
}

/* The 8-byte window, inside one cache line, that holds the 5 bytes of the
 * mov at `mov`; 0 if there is none. */
static uintptr_t cnk_patch_window(uintptr_t mov)
{
	uintptr_t off = mov & (CNK_LINE - 1);

	if (off <= CNK_LINE - 8)
		return mov;
	if (off <= CNK_LINE - 5)
		return (mov | (CNK_LINE - 1)) - 7;
	return 0;
}

/* ---- /proc/self/maps ---- */

struct cnk_maps_result {
	/* The mapping that holds [lo, hi). */
	int found;
	int patchable; /* r-xp, backed by a file that is not a memfd */
	/* Where a chunk could go: just below some mapping, nearest to `near`. */
	uintptr_t chunk_at;
	uintptr_t chunk_dist;
};

static int cnk_parse_hex(const char **p, const char *end, uintptr_t *out)
{
	uintptr_t v = 0;
	int n = 0;

	while (*p < end) {
		char c = **p;
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else
			break;
		v = v << 4 | d;
		(*p)++;
		n++;
	}
	*out = v;
	return n > 0;
}

static int cnk_starts_with(const char *p, const char *end, const char *prefix)
{
	while (*prefix) {
		if (p >= end || *p != *prefix)
			return 0;
		p++;
		prefix++;
	}
	return 1;
}

static uintptr_t cnk_distance(uintptr_t a, uintptr_t b)
{
	return a > b ? a - b : b - a;
}

/* One line: "start-end perms offset dev inode   path". */
static void cnk_maps_line(const char *p, const char *end, uintptr_t lo, uintptr_t hi,
			  uintptr_t near, uintptr_t *prev_end, struct cnk_maps_result *res)
{
	uintptr_t start, stop;
	const char *perms, *path;
	int field;

	if (!cnk_parse_hex(&p, end, &start) || p >= end || *p != '-')
		return;
	p++;
	if (!cnk_parse_hex(&p, end, &stop) || p + 5 > end || *p != ' ')
		return;
	perms = p + 1;
	/* Skip perms, offset, dev, inode to the path (may be absent). */
	for (field = 0; field < 4; field++) {
		while (p < end && *p == ' ')
			p++;
		while (p < end && *p != ' ')
			p++;
	}
	while (p < end && *p == ' ')
		p++;
	path = p;
	if (lo >= start && hi <= stop) {
		res->found = 1;
		res->patchable = cnk_starts_with(perms, end, "r-xp") && path < end &&
				 *path == '/' && !cnk_starts_with(path, end, "/memfd:");
	}
	/* A chunk just below this mapping, if the gap below it is free; never
	 * below the stack (it grows down into that gap). */
	if (start >= *prev_end + CNK_CHUNK_SIZE && start - CNK_CHUNK_SIZE >= 0x100000 &&
	    !cnk_starts_with(path, end, "[stack")) {
		uintptr_t at = start - CNK_CHUNK_SIZE, d = cnk_distance(at, near);

		if (d < res->chunk_dist) {
			res->chunk_dist = d;
			res->chunk_at = at;
		}
	}
	*prev_end = stop;
}

/* Find the mapping of [lo, hi) and a place for a chunk near `near`.  0 or
 * -errno. */
static int cnk_maps_scan(uintptr_t lo, uintptr_t hi, uintptr_t near, struct cnk_maps_result *res)
{
	size_t have = 0;
	uintptr_t prev_end = 0;
	long fd, n;

	res->found = 0;
	res->patchable = 0;
	res->chunk_at = 0;
	res->chunk_dist = UINTPTR_MAX;
	fd = cnk_raw_syscall6(SYS_openat, AT_FDCWD, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC,
			      0, 0, 0);
	if (fd < 0)
		return (int)fd;
	for (;;) {
		char *line = cnk_maps_buf, *nl, *end;

		n = cnk_raw_syscall(SYS_read, fd, cnk_maps_buf + have, sizeof(cnk_maps_buf) - have);
		if (n < 0) {
			if (n == -EINTR)
				continue;
			break;
		}
		end = cnk_maps_buf + have + n;
		for (;;) {
			for (nl = line; nl < end && *nl != '\n'; nl++)
				;
			if (nl == end)
				break;
			cnk_maps_line(line, nl, lo, hi, near, &prev_end, res);
			line = nl + 1;
		}
		have = (size_t)(end - line);
		if (n == 0 || have == sizeof(cnk_maps_buf)) {
			/* The end, or a line longer than the buffer (a path):
			 * what is left is one line, taken as it is. */
			if (have > 0)
				cnk_maps_line(line, end, lo, hi, near, &prev_end, res);
			have = 0;
			if (n == 0)
				break;
			continue;
		}
		for (n = 0; (size_t)n < have; n++)
			cnk_maps_buf[n] = line[n];
	}
	(void)cnk_raw_syscall(SYS_close, fd, 0, 0);
	return n < 0 ? (int)n : 0;
}

/* ---- stubs ---- */

/* Can every byte of [base, base + size) be reached by a rel32 from `from`? */
static int cnk_in_reach(uintptr_t base, size_t size, uintptr_t from)
{
	const uintptr_t limit = 0x7fff0000UL;

	return cnk_distance(base, from) < limit && cnk_distance(base + size, from) < limit;
}

/* A free stub slot within reach of `site`, or 0.  `maps` says where a new
 * chunk may go. */
static uintptr_t cnk_stub_alloc(uintptr_t site, const struct cnk_maps_result *maps)
{
	unsigned int i;
	long addr;

	for (i = 0; i < cnk_nchunks; i++) {
		struct cnk_chunk *c = &cnk_chunks[i];

		if (c->used < CNK_CHUNK_SIZE / CNK_STUB_SIZE &&
		    cnk_in_reach(c->base, CNK_CHUNK_SIZE, site))
			return c->base + CNK_STUB_SIZE * c->used++;
	}
	if (cnk_nchunks == CNK_MAX_CHUNKS || maps->chunk_at == 0 ||
	    !cnk_in_reach(maps->chunk_at, CNK_CHUNK_SIZE, site))
		return 0;
	addr = cnk_raw_syscall6(SYS_mmap, (long)maps->chunk_at, CNK_CHUNK_SIZE,
				PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				-1, 0);
	if (addr < 0)
		return 0;
	if ((uintptr_t)addr != maps->chunk_at) {
		/* An old kernel took the flag for a hint. */
		(void)cnk_raw_syscall(SYS_munmap, addr, CNK_CHUNK_SIZE, 0);
		return 0;
	}
	cnk_chunks[cnk_nchunks].base = (uintptr_t)addr;
	cnk_chunks[cnk_nchunks].used = 1;
	cnk_nchunks++;
	return (uintptr_t)addr;
}

static void cnk_put64(volatile uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Write the stub for `nr` returning to `resume` at `stub`, jumping to
 * `entry` (not yet reachable from any site, so plain stores will do).  0 or
 * -errno. */
static int cnk_stub_write(uintptr_t stub, long nr, uintptr_t resume, const char *entry)
{
	uintptr_t page = stub & ~(CNK_PAGE - 1);
	volatile uint8_t *p = (volatile uint8_t *)stub;
	long ret;

	/* Other stubs on this page may be running: it stays executable. */
	ret = cnk_raw_syscall(SYS_mprotect, page, CNK_PAGE, PROT_READ | PROT_WRITE | PROT_EXEC);
	if (ret < 0)
		return (int)ret;
	p[0] = 0xb8; /* mov $nr, %eax */
	p[1] = (uint8_t)nr;
	p[2] = (uint8_t)(nr >> 8);
	p[3] = 0;
	p[4] = 0;
	p[5] = 0x48; /* movabs $resume, %rcx */
	p[6] = 0xb9;
	cnk_put64(p + 7, resume);
	p[15] = 0x49; /* movabs $entry, %r11 */
	p[16] = 0xbb;
	cnk_put64(p + 17, (uint64_t)(uintptr_t)entry);
	p[25] = 0x41; /* jmp *%r11 */
	p[26] = 0xff;
	p[27] = 0xe3;
	p[28] = 0xcc; /* int3 padding */
	p[29] = 0xcc;
	p[30] = 0xcc;
	p[31] = 0xcc;
	ret = cnk_raw_syscall(SYS_mprotect, page, CNK_PAGE, PROT_READ | PROT_EXEC);
	return ret < 0 ? (int)ret : 0;
}

/* Replace the mov at `mov` by `jmp stub` with one locked 8-byte
 * compare-and-exchange of `window`.  0 or -errno. */
__attribute__((no_sanitize("address"))) static int cnk_site_patch(uintptr_t mov, uintptr_t window,
								  uintptr_t stub)
{
	uintptr_t page = window & ~(CNK_PAGE - 1);
	int64_t rel = (int64_t)stub - (int64_t)(mov + 5);
	uint64_t old, new;
	uint8_t bytes[8];
	size_t off = mov - window, i;
	long ret;
	int swapped;

	old = __atomic_load_n((uint64_t *)window, __ATOMIC_RELAXED);
	for (i = 0; i < 8; i++)
		bytes[i] = (uint8_t)(old >> (8 * i));
	bytes[off] = 0xe9;
	for (i = 0; i < 4; i++)
		bytes[off + 1 + i] = (uint8_t)((uint64_t)rel >> (8 * i));
	new = 0;
	for (i = 0; i < 8; i++)
		new |= (uint64_t)bytes[i] << (8 * i);
	ret = cnk_raw_syscall(SYS_mprotect, page, CNK_PAGE, PROT_READ | PROT_WRITE | PROT_EXEC);
	if (ret < 0)
		return (int)ret;
	swapped = __atomic_compare_exchange_n((uint64_t *)window, &old, new, 0, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST);
	ret = cnk_raw_syscall(SYS_mprotect, page, CNK_PAGE, PROT_READ | PROT_EXEC);
	if (ret < 0)
		return (int)ret;
	return swapped ? 0 : -EAGAIN;
}

/* Under the lock, selector ALLOW.  1 if the site was rewritten through the
 * dispatcher, 2 if straight to the kernel, 0 if not. */
static int cnk_rewrite_locked(uintptr_t resume, long nr, uintptr_t window)
{
	int native = cnk_dispatch_native_always != NULL && cnk_dispatch_native_always(nr) == 1;
	struct cnk_maps_result maps;
	uintptr_t site = resume - 2, mov = site - 5, stub;
	uintptr_t lo = window < site - 7 ? window : site - 7;
	uintptr_t hi = window + 8 > resume ? window + 8 : resume;

	/* The bytes examined (from resume-9) and the window must lie in one
	 * patchable mapping: read the maps before the bytes. */
	if (cnk_maps_scan(lo, hi, site, &maps) < 0 || !maps.found || !maps.patchable)
		return 0;
	if (!cnk_site_bytes_ok(resume, nr))
		return 0;
	stub = cnk_stub_alloc(site, &maps);
	if (stub == 0)
		return 0;
	if (cnk_stub_write(stub, nr, resume, native ? cnk_fast_native : cnk_fast_entry) < 0)
		return 0; /* the slot is lost; harmless */
	if (cnk_site_patch(mov, window, stub) < 0)
		return 0;
	return native ? 2 : 1;
}

void cnk_rewrite_trap(uintptr_t resume, long nr)
{
	uintptr_t site = resume - 2, window;
	int rewritten;

	if (!__atomic_load_n(&cnk_rw_enabled, __ATOMIC_RELAXED))
		return;
	__atomic_fetch_add(&cnk_rw_traps, 1, __ATOMIC_RELAXED);
	if (cnk_nr_excluded(nr) || __atomic_load_n(&cnk_rw_full, __ATOMIC_RELAXED))
		return;
	window = cnk_patch_window(site - 5);
	if (window == 0 || cnk_site_lookup(resume) != 0)
		return;
	/* Most sites are no candidates: tell from their bytes, cheaply, when
	 * they lie on the page of the syscall itself (mapped: it just ran). */
	if ((site & (CNK_PAGE - 1)) >= 7 && !cnk_site_bytes_ok(resume, nr))
		return;
	if (__atomic_exchange_n(&cnk_rw_lock, 1, __ATOMIC_ACQUIRE) != 0)
		return; /* someone is rewriting: this call takes the SUD path */
	if (cnk_site_lookup(resume) == 0) {
		cnk_selector_set(CNK_SELECTOR_ALLOW);
		rewritten = cnk_rewrite_locked(resume, nr, window);
		cnk_site_record(resume, rewritten ? CNK_SITE_REWRITTEN : CNK_SITE_REFUSED);
		__atomic_fetch_add(rewritten ? &cnk_rw_rewritten : &cnk_rw_refused, 1,
				   __ATOMIC_RELAXED);
		if (rewritten == 2)
			__atomic_fetch_add(&cnk_rw_native, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&cnk_rw_lock, 0, __ATOMIC_RELEASE);
}
