/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The calls the runtime interposes (read, write, pread/pwrite, readv/writev,
 * preadv/pwritev, lseek, close, fstat) behave as libc's: results, errno,
 * short reads, EINTR with and without SA_RESTART, cancellation.  Run it in a
 * local directory natively and in /pfs under ferry-exec: the output must be
 * the same (the file in DIR is forwarded there; pipes and /dev/zero stay
 * local).  It also checks its own answers and exits 1 on a wrong one.
 *   interposed_calls DIR [--no-sigsys N | --raw-reads N]
 * --no-sigsys N: under the runtime, N rounds of local and forwarded
 * read/write/pread/lseek must take no SIGSYS trap (the runtime's
 * ferry_debug_counter("sigsys_traps")).  --raw-reads N: N reads through
 * libc's syscall() must each trap (the counter counts).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif

static int failures;

/* One line per call: what it returned and errno when it failed. */
static void show(const char *what, long ret, long want, int want_errno)
{
	int err = errno;

	if (ret < 0)
		printf("%s = %ld (%s)\n", what, ret, strerrorname_np(err));
	else
		printf("%s = %ld\n", what, ret);
	if (ret != want || (ret < 0 && err != want_errno)) {
		printf("  WRONG: expected %ld (%s)\n", want, want_errno ? strerrorname_np(want_errno) : "-");
		failures++;
	}
}

static void show_bytes(const char *what, const char *buf, size_t len, const char *want)
{
	printf("%s: \"%.*s\"\n", what, (int)len, buf);
	if (len != strlen(want) || memcmp(buf, want, len) != 0) {
		printf("  WRONG: expected \"%s\"\n", want);
		failures++;
	}
}

/* Bad arguments the compiler would otherwise reject at build time. */
static void *volatile null_buf;
static volatile int minus_one = -1;

static void file_calls(const char *path)
{
	char buf[128];
	struct iovec iov[2];
	struct stat st;
	int fd, ro;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		exit(2);
	}
	errno = 0;
	show("write 10", write(fd, "0123456789", 10), 10, 0);
	show("lseek SEEK_CUR", lseek(fd, 0, SEEK_CUR), 10, 0);
	show("lseek 0 SEEK_SET", lseek(fd, 0, SEEK_SET), 0, 0);
	show("read 4", read(fd, buf, 4), 4, 0);
	show_bytes("  got", buf, 4, "0123");
	show("read 100 (short)", read(fd, buf, 100), 6, 0);
	show_bytes("  got", buf, 6, "456789");
	show("read at EOF", read(fd, buf, 10), 0, 0);
	show("pread 3 at 8 (short)", pread(fd, buf, 3, 8), 2, 0);
	show_bytes("  got", buf, 2, "89");
	show("pread past EOF", pread(fd, buf, 3, 100), 0, 0);
	show("pread at -1", pread(fd, buf, 1, -1), -1, EINVAL);
	show("pwrite 2 at 20 (a hole)", pwrite(fd, "ab", 2, 20), 2, 0);
	show("lseek after pwrite", lseek(fd, 0, SEEK_CUR), 10, 0);
	show("fstat", fstat(fd, &st), 0, 0);
	show("  st_size", (long)st.st_size, 22, 0);
	show("  S_ISREG", S_ISREG(st.st_mode), 1, 0);
	show("pread 4 at 9 (the hole)", pread(fd, buf, 4, 9), 4, 0);
	printf("  bytes %d %d %d %d\n", buf[0], buf[1], buf[2], buf[3]);
	iov[0] = (struct iovec){ .iov_base = "xy", .iov_len = 2 };
	iov[1] = (struct iovec){ .iov_base = "zw!", .iov_len = 3 };
	show("lseek SEEK_END", lseek(fd, 0, SEEK_END), 22, 0);
	show("writev 2+3", writev(fd, iov, 2), 5, 0);
	show("lseek -5 SEEK_END", lseek(fd, -5, SEEK_END), 22, 0);
	memset(buf, 0, sizeof(buf));
	iov[0] = (struct iovec){ .iov_base = buf, .iov_len = 1 };
	iov[1] = (struct iovec){ .iov_base = buf + 1, .iov_len = 10 };
	show("readv 1+10 (short)", readv(fd, iov, 2), 5, 0);
	show_bytes("  got", buf, 5, "xyzw!");
	iov[0] = (struct iovec){ .iov_base = "PQ", .iov_len = 2 };
	show("pwritev at 2", pwritev(fd, iov, 1, 2), 2, 0);
	iov[0] = (struct iovec){ .iov_base = buf, .iov_len = 4 };
	show("preadv at 0", preadv(fd, iov, 1, 0), 4, 0);
	show_bytes("  got", buf, 4, "01PQ");
	show("lseek bad whence", lseek(fd, 0, 42), -1, EINVAL);
	show("lseek to -1", lseek(fd, -1, SEEK_SET), -1, EINVAL);
	show("readv iovcnt -1", readv(fd, iov, minus_one), -1, EINVAL);
	show("close", close(fd), 0, 0);
	show("read closed fd", read(fd, buf, 1), -1, EBADF);
	show("write closed fd", write(fd, buf, 1), -1, EBADF);
	show("lseek closed fd", lseek(fd, 0, SEEK_SET), -1, EBADF);
	show("fstat closed fd", fstat(fd, &st), -1, EBADF);
	show("close closed fd", close(fd), -1, EBADF);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	show("write on O_RDONLY", write(ro, "q", 1), -1, EBADF);
	show("pwrite on O_RDONLY", pwrite(ro, "q", 1, 0), -1, EBADF);
	show("close O_RDONLY", close(ro), 0, 0);
	show("read fd -1", read(-1, buf, 1), -1, EBADF);
}

static void local_calls(void)
{
	char buf[8] = { 1 };
	int p[2], z;

	if (pipe2(p, O_CLOEXEC) != 0) {
		perror("pipe");
		exit(2);
	}
	show("pipe write 3", write(p[1], "abc", 3), 3, 0);
	show("pipe read 8 (short)", read(p[0], buf, 8), 3, 0);
	show_bytes("  got", buf, 3, "abc");
	show("pipe write from NULL", write(p[1], null_buf, 1), -1, EFAULT);
	show("lseek on a pipe", lseek(p[0], 0, SEEK_CUR), -1, ESPIPE);
	show("pread on a pipe", pread(p[0], buf, 1, 0), -1, ESPIPE);
	show("close pipe write end", close(p[1]), 0, 0);
	show("pipe read at EOF", read(p[0], buf, 1), 0, 0);
	show("close pipe read end", close(p[0]), 0, 0);
	z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	show("read /dev/zero 8", read(z, buf, 8), 8, 0);
	show("read /dev/zero into NULL", read(z, null_buf, 1), -1, EFAULT);
	printf("  zeros %d\n", buf[0] == 0 && buf[7] == 0);
	show("close /dev/zero", close(z), 0, 0);
}

/* ---- a rewritable site of a call the dispatcher examines ----
 * reg_site_call(in, out, avx) loads every register from *in (the flags
 * with DF set, %ymm0-15 when avx), runs `mov $8,%eax; syscall` (lseek) from
 * a site the runtime rewrites at its first trap, and stores every register
 * into *out.  A syscall instruction keeps all but %rax, %rcx (the address
 * after it) and %r11 (the flags). */
struct regs {
	uint64_t gpr[16]; /* rdi rsi rdx r10 r8 r9 rbx rbp r12 r13 r14 r15 flags r11 rcx rax */
	uint8_t vec[16][32];
};
__asm__(".text\n.globl reg_site_call\n.type reg_site_call, @function\nreg_site_call:\n"
	"\tpush %rbp\n\tpush %rbx\n\tpush %r12\n\tpush %r13\n\tpush %r14\n\tpush %r15\n"
	"\tpush %rsi\n\tpush %rdx\n\tmov %rdi, %rax\n"
	"\ttest %rdx, %rdx\n\tjz 1f\n"
#define V(i) "\tvmovdqu " #i "*32+128(%rax), %ymm" #i "\n"
	V(0) V(1) V(2) V(3) V(4) V(5) V(6) V(7) V(8) V(9) V(10) V(11) V(12) V(13) V(14) V(15)
#undef V
	"\tjmp 2f\n1:\n"
#define X(i) "\tmovdqu " #i "*32+128(%rax), %xmm" #i "\n"
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#undef X
	"2:\n\tmov 48(%rax), %rbx\n\tmov 56(%rax), %rbp\n\tmov 64(%rax), %r12\n"
	"\tmov 72(%rax), %r13\n\tmov 80(%rax), %r14\n\tmov 88(%rax), %r15\n"
	"\tmov 24(%rax), %r10\n\tmov 32(%rax), %r8\n\tmov 40(%rax), %r9\n"
	"\tmov 8(%rax), %rsi\n\tmov 16(%rax), %rdx\n\tmov 0(%rax), %rdi\n"
	"\tpushq 96(%rax)\n\tpopfq\n"
	"\t.balign 16\n\tmovl $8, %eax\n\tsyscall\n"
	".globl reg_site_after\nreg_site_after:\n"
	"\tpushfq\n\tpush %rax\n\tmov 24(%rsp), %rax\n\tpopq 120(%rax)\n\tpopq 96(%rax)\n\tcld\n"
	"\tmov %rdi, 0(%rax)\n\tmov %rsi, 8(%rax)\n\tmov %rdx, 16(%rax)\n\tmov %r10, 24(%rax)\n"
	"\tmov %r8, 32(%rax)\n\tmov %r9, 40(%rax)\n\tmov %rbx, 48(%rax)\n\tmov %rbp, 56(%rax)\n"
	"\tmov %r12, 64(%rax)\n\tmov %r13, 72(%rax)\n\tmov %r14, 80(%rax)\n\tmov %r15, 88(%rax)\n"
	"\tmov %r11, 104(%rax)\n\tmov %rcx, 112(%rax)\n"
	"\tpop %rdx\n\ttest %rdx, %rdx\n\tjz 3f\n"
#define V(i) "\tvmovdqu %ymm" #i ", " #i "*32+128(%rax)\n"
	V(0) V(1) V(2) V(3) V(4) V(5) V(6) V(7) V(8) V(9) V(10) V(11) V(12) V(13) V(14) V(15)
#undef V
	"\tvzeroupper\n\tjmp 4f\n3:\n"
#define X(i) "\tmovdqu %xmm" #i ", " #i "*32+128(%rax)\n"
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#undef X
	"4:\n\tpop %rsi\n\tpop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %rbx\n\tpop %rbp\n\tret\n"
	".size reg_site_call, . - reg_site_call\n");
void reg_site_call(const struct regs *in, struct regs *out, long avx);
extern const char reg_site_after[];

/* CF PF AF ZF SF DF OF */
#define FLAG_MASK 0xcd5ull

static void register_calls(void)
{
	int avx = __builtin_cpu_supports("avx");
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), round, i, kept = 1;
	struct regs in, out;

	memset(&in, 0, sizeof(in));
	for (i = 0; i < 16; i++)
		in.gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
	in.gpr[0] = (uint64_t)fd; /* lseek(fd, 0, SEEK_CUR) */
	in.gpr[1] = 0;
	in.gpr[2] = SEEK_CUR;
	in.gpr[12] = 0x202 | FLAG_MASK; /* IF, reserved bit 1, and the arithmetic flags with DF */
	for (i = 0; i < 16; i++)
		for (int b = 0; b < 32; b++)
			in.vec[i][b] = (uint8_t)(i * 32 + b + 1);
	for (round = 0; round < 3; round++) {
		memset(&out, 0, sizeof(out));
		reg_site_call(&in, &out, avx);
		for (i = 0; i < 12; i++)
			if (out.gpr[i] != in.gpr[i])
				kept = 0;
		if ((out.gpr[12] & FLAG_MASK) != FLAG_MASK || (out.gpr[13] & FLAG_MASK) != FLAG_MASK ||
		    out.gpr[14] != (uint64_t)(uintptr_t)reg_site_after || out.gpr[15] != 0)
			kept = 0;
		if (memcmp(out.vec, in.vec, avx ? 32 * 16 : 0) != 0)
			kept = 0;
		for (i = 0; !avx && i < 16; i++)
			if (memcmp(out.vec[i], in.vec[i], 16) != 0)
				kept = 0;
	}
	close(fd);
	/* Under the runtime with the fast path on, the site must have been
	 * rewritten (`jmp` over the mov), or this tested the SIGSYS path only. */
	if (dlsym(RTLD_DEFAULT, "ferry_debug_counter") &&
	    (!getenv("FERRY_FASTPATH") || strcmp(getenv("FERRY_FASTPATH"), "0") != 0) &&
	    *(const volatile uint8_t *)((uintptr_t)reg_site_after - 7) != 0xe9) {
		printf("  the lseek site was not rewritten\n");
		failures++;
	}
	printf("registers, flags (DF set) and vector registers across a rewritable lseek site, 3 calls: %s\n",
	       kept ? "kept" : "CHANGED");
	if (!kept)
		failures++;
}

/* ---- EINTR ---- */

static int alarm_pipe[2];
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
	/* Data for a restarted read to find. */
	if (write(alarm_pipe[1], "s", 1) != 1)
		_exit(3);
}

static void set_alarm_handler(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

static void eintr_calls(void)
{
	struct itimerval it = { .it_value = { .tv_usec = 100000 } };
	char c;

	if (pipe2(alarm_pipe, O_CLOEXEC) != 0) {
		perror("pipe");
		exit(2);
	}
	set_alarm_handler(0);
	setitimer(ITIMER_REAL, &it, NULL);
	show("blocked pipe read, signal without SA_RESTART", read(alarm_pipe[0], &c, 1), -1,
	     EINTR);
	/* The handler's byte is still there. */
	show("  then read", read(alarm_pipe[0], &c, 1), 1, 0);
#if TSAN_BUILD
	/* ThreadSanitizer runs a handler only once the interrupted call has
	 * returned: the restarted read would wait for ever for its byte. */
	printf("blocked pipe read, signal with SA_RESTART: not under ThreadSanitizer\n");
#else
	set_alarm_handler(SA_RESTART);
	setitimer(ITIMER_REAL, &it, NULL);
	show("blocked pipe read, signal with SA_RESTART", read(alarm_pipe[0], &c, 1), 1, 0);
	printf("  handler ran %d times\n", (int)alarms);
#endif
	signal(SIGALRM, SIG_IGN);
}

/* A signal storm during reads of a regular file (forwarded under the
 * runtime) and of /dev/zero: none may fail or come back short. */
static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

static void storm_calls(const char *path)
{
	struct itimerval it = { .it_interval = { .tv_usec = 500 }, .it_value = { .tv_usec = 500 } };
	struct sigaction sa;
	char buf[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC), z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	int i, bad = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < 2000 || ticks < 3; i++) {
		if (pread(fd, buf, 4, 0) != 4 || read(z, buf, 16) != 16 || lseek(fd, 1, SEEK_SET) != 1)
			bad++;
		if (i > 2000000)
			break;
	}
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_IGN);
	printf("signal storm during reads: %d failed or short calls, handler ran: %s\n", bad,
	       ticks > 0 ? "yes" : "no");
	if (bad || ticks == 0)
		failures++;
	close(fd);
	close(z);
}

/* ---- cancellation ---- */

static volatile int cleaned;

static void cleanup(void *arg)
{
	(void)arg;
	cleaned++;
}

static void *blocked_reader(void *arg)
{
	int fd = *(int *)arg;
	char c;

	pthread_cleanup_push(cleanup, NULL);
	if (read(fd, &c, 1) >= 0)
		printf("  read in the cancelled thread returned\n");
	pthread_cleanup_pop(0);
	return NULL;
}

static void *blocked_writer(void *arg)
{
	int fd = *(int *)arg;
	static char big[65536];

	pthread_cleanup_push(cleanup, NULL);
	for (;;)
		if (write(fd, big, sizeof(big)) < 0)
			break;
	pthread_cleanup_pop(0);
	return NULL;
}

struct pending_arg {
	const char *path;
	pthread_barrier_t *go;
};

/* Cancelled while cancellation is disabled; the first cancellation point
 * after enabling it is a read of a file with data: it must act there. */
static void *pending_reader(void *arg)
{
	struct pending_arg *pa = arg;
	int fd = open(pa->path, O_RDONLY | O_CLOEXEC), old;
	char c;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	pthread_cleanup_push(cleanup, NULL);
	pthread_barrier_wait(pa->go); /* main cancels us now */
	pthread_barrier_wait(pa->go);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	if (pread(fd, &c, 1, 0) >= 0)
		printf("  pread with a pending cancellation returned\n");
	pthread_cleanup_pop(0);
	return NULL;
}

static void cancel_one(const char *what, void *(*fn)(void *), void *arg, int wait_ms)
{
	pthread_t t;
	void *res = NULL;
	int before = cleaned;

	if (pthread_create(&t, NULL, fn, arg) != 0) {
		perror("pthread_create");
		exit(2);
	}
	usleep((useconds_t)wait_ms * 1000);
	pthread_cancel(t);
	pthread_join(t, &res);
	printf("%s: %s, cleanup ran: %s\n", what, res == PTHREAD_CANCELED ? "cancelled" : "NOT cancelled",
	       cleaned > before ? "yes" : "no");
	if (res != PTHREAD_CANCELED || cleaned == before)
		failures++;
}

static void cancel_calls(const char *path)
{
	pthread_barrier_t go;
	struct pending_arg pa = { .path = path, .go = &go };
	pthread_t t;
	void *res = NULL;
	int p[2], before;

	if (pipe2(p, O_CLOEXEC) != 0) {
		perror("pipe");
		exit(2);
	}
	cancel_one("thread blocked in read of an empty pipe", blocked_reader, &p[0], 100);
	cancel_one("thread blocked in write to a full pipe", blocked_writer, &p[1], 100);
	close(p[0]);
	close(p[1]);
	pthread_barrier_init(&go, NULL, 2);
	before = cleaned;
	if (pthread_create(&t, NULL, pending_reader, &pa) != 0) {
		perror("pthread_create");
		exit(2);
	}
	pthread_barrier_wait(&go);
	pthread_cancel(t);
	pthread_barrier_wait(&go);
	pthread_join(t, &res);
	printf("pending cancellation at a pread of a file: %s, cleanup ran: %s\n",
	       res == PTHREAD_CANCELED ? "cancelled" : "NOT cancelled", cleaned > before ? "yes" : "no");
	if (res != PTHREAD_CANCELED || cleaned == before)
		failures++;
	pthread_barrier_destroy(&go);
}

/* A vfork child writes to a pipe its parent reads (local descriptors). */
static void vfork_calls(void)
{
	char buf[8];
	int p[2], status;
	pid_t pid;

	if (pipe(p) != 0) {
		perror("pipe");
		exit(2);
	}
	pid = vfork();
	if (pid == 0) {
		if (write(p[1], "child", 5) != 5 || close(p[1]) != 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	waitpid(pid, &status, 0);
	show("vfork child's write, read by the parent", read(p[0], buf, 8), 5, 0);
	show_bytes("  got", buf, 5, "child");
	printf("  child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(p[0]);
}

/* Under the runtime: the common read/write path takes no SIGSYS. */
static int no_sigsys(const char *path, int rounds)
{
	uint64_t (*counter)(const char *) =
		(uint64_t(*)(const char *))dlsym(RTLD_DEFAULT, "ferry_debug_counter");
	char buf[16];
	uint64_t before = 0, after;
	int p[2], fd, z, i;

	if (!counter) {
		printf("no-sigsys: not running under the Ferry runtime\n");
		return 1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || z < 0 || pipe2(p, O_CLOEXEC) != 0) {
		perror("no-sigsys setup");
		return 1;
	}
	/* First calls of every site may trap once (rewriting). */
	for (i = 0; i < rounds + 1; i++) {
		if (i == 1)
			before = counter("sigsys_traps");
		if (write(p[1], "x", 1) != 1 || read(p[0], buf, 1) != 1 || read(z, buf, 16) != 16 ||
		    pwrite(fd, "y", 1, 0) != 1 || pread(fd, buf, 1, 0) != 1 ||
		    lseek(fd, 0, SEEK_SET) != 0 || write(fd, "z", 1) != 1 || read(fd, buf, 1) != 0) {
			perror("no-sigsys call");
			return 1;
		}
	}
	after = counter("sigsys_traps");
	printf("no-sigsys: %llu SIGSYS traps in %d rounds of 8 local and forwarded calls\n",
	       (unsigned long long)(after - before), rounds);
	return after != before;
}

/* The counter can fail: a read(2) through libc's syscall(), whose site has
 * the number in a register, traps every time. */
static int raw_reads_trap(int rounds)
{
	uint64_t (*counter)(const char *) =
		(uint64_t(*)(const char *))dlsym(RTLD_DEFAULT, "ferry_debug_counter");
	uint64_t before;
	char c;
	int p[2], i;

	if (!counter || pipe2(p, O_CLOEXEC) != 0) {
		printf("raw-reads: not running under the Ferry runtime\n");
		return 1;
	}
	before = counter("sigsys_traps");
	for (i = 0; i < rounds; i++)
		if (write(p[1], "r", 1) != 1 || syscall(SYS_read, p[0], &c, 1) != 1) {
			perror("raw-reads");
			return 1;
		}
	printf("raw-reads: %llu SIGSYS traps in %d reads through syscall()\n",
	       (unsigned long long)(counter("sigsys_traps") - before), rounds);
	return counter("sigsys_traps") - before < (uint64_t)rounds;
}

int main(int argc, char **argv)
{
	char path[4096];

	if (argc < 2) {
		fprintf(stderr, "usage: interposed_calls DIR [--no-sigsys N]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(path, sizeof(path), "%s/interposed.dat", argv[1]);
	if (argc == 4 && strcmp(argv[2], "--no-sigsys") == 0)
		return no_sigsys(path, atoi(argv[3]));
	if (argc == 4 && strcmp(argv[2], "--raw-reads") == 0)
		return raw_reads_trap(atoi(argv[3]));
	file_calls(path);
	local_calls();
	register_calls();
	eintr_calls();
	storm_calls(path);
	vfork_calls();
	cancel_calls(path);
	printf("%d wrong\n", failures);
	return failures ? 1 : 0;
}
