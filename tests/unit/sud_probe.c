/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs under libferry_sudtest.so (preloaded) and checks, from the inside,
 * one behaviour of the interception mechanism per subcommand.  Exit 0 on
 * success; on failure a line on stderr saying what differed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sud_test_dispatch.h"

extern char **environ;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SUD_PROBE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SUD_PROBE_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SUD_PROBE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SUD_PROBE_TSAN 1
#endif
#endif

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "sud_probe: %s:%d: check failed: %s (errno %d)\n", \
				__FILE__, __LINE__, #cond, errno);                         \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

/* A syscall instruction in this program's own code. */
static long inline_syscall(long nr, long a0, long a1, long a2)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
			 : "rcx", "r11", "memory");
	return ret;
}

static long dispatched(long nr)
{
	return inline_syscall(SUD_QUERY_NR, SUD_QUERY_COUNT, nr, 0);
}

static int probe_raw(void)
{
	long before, after, ret;
	FILE *f;

	before = dispatched(SYS_getppid);
	CHECK(before >= 0); /* -ENOSYS: nothing intercepted */
	CHECK(inline_syscall(SYS_getppid, 0, 0, 0) == getppid());
	after = dispatched(SYS_getppid);
	CHECK(after == before + 2);

	/* fopen's openat never goes through the exported open(). */
	before = dispatched(SYS_openat);
	f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	CHECK(fclose(f) == 0);
	CHECK(dispatched(SYS_openat) == before + 1);

	/* Errors come back as the kernel gave them. */
	errno = 0;
	CHECK(open("/nonexistent/ferry", O_RDONLY) == -1 && errno == ENOENT);
	ret = inline_syscall(SYS_openat, AT_FDCWD, (long)"/nonexistent/ferry", O_RDONLY);
	CHECK(ret == -ENOENT);
	errno = 0;
	CHECK(write(-1, "x", 1) == -1 && errno == EBADF);
	CHECK(inline_syscall(SYS_write, 1, (long)"", 0) == 0);

	/* The program cannot switch interception off. */
	errno = 0;
	CHECK(prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 0, 0, 0) == -1 && errno == EPERM);
	before = dispatched(SYS_getppid);
	CHECK(before >= 0 && getppid() > 0 && dispatched(SYS_getppid) == before + 1);
	printf("raw ok\n");
	return 0;
}

static volatile sig_atomic_t handler_calls;
static volatile long handler_seen_before, handler_seen_after;

static void usr1_handler(int sig, siginfo_t *info, void *uc)
{
	handler_seen_before = dispatched(SYS_getppid);
	(void)getppid();
	handler_seen_after = dispatched(SYS_getppid);
	handler_calls++;
}

static int probe_signal(void)
{
	struct sigaction sa = { 0 }, old = { 0 };
	int i;

	sa.sa_sigaction = usr1_handler;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigemptyset(&sa.sa_mask) == 0);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	/* oldact reports the application's own handler, not the wrapper. */
	CHECK(sigaction(SIGUSR1, NULL, &old) == 0);
	CHECK(old.sa_sigaction == usr1_handler);
	CHECK(old.sa_flags & SA_SIGINFO);
	for (i = 0; i < 100; i++)
		CHECK(raise(SIGUSR1) == 0);
	CHECK(handler_calls == 100);
	/* The handler's own syscall went through the dispatcher. */
	CHECK(handler_seen_after == handler_seen_before + 1);
	CHECK(kill(getpid(), SIGUSR1) == 0);
	CHECK(handler_calls == 101);
	printf("signal ok\n");
	return 0;
}

/*
 * A handler installed before the runtime (preinit_array runs before every
 * library constructor) is taken over by the runtime: its syscalls are
 * intercepted like any other handler's.
 */
static volatile sig_atomic_t early_calls;
static volatile long early_seen_before, early_seen_after;

static void early_usr2_handler(int sig)
{
	early_seen_before = dispatched(SYS_getppid);
	(void)getppid();
	early_seen_after = dispatched(SYS_getppid);
	early_calls++;
}

static void install_early_handler(int argc, char **argv, char **envp)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = early_usr2_handler;
	if (sigaction(SIGUSR2, &sa, NULL) != 0)
		abort();
}

__attribute__((section(".preinit_array"), used)) static void (*const sud_preinit)(int, char **,
									       char **) =
	install_early_handler;

/*
 * A handler that returns the way libc's restorer does — rt_sigreturn from
 * application code with %rsp at its ucontext — traps; the runtime replays
 * it from the allowed range on the application's frame.  The timer lands in
 * a syscall-free loop, so the frame returns to application code.
 */
static volatile sig_atomic_t alarm_calls;
static volatile long alarm_seen_before, alarm_seen_after;

static void own_sigreturn_handler(int sig, siginfo_t *info, void *uc)
{
	alarm_seen_before = dispatched(SYS_getppid);
	(void)getppid();
	alarm_seen_after = dispatched(SYS_getppid);
	alarm_calls++;
	__asm__ volatile("movq %0, %%rsp\n\t"
			 "movl $15, %%eax\n\t" /* rt_sigreturn */
			 "syscall"
			 :
			 : "r"(uc)
			 : "memory");
	__builtin_unreachable();
}

static int probe_sigreturn(void)
{
	struct itimerval it = { .it_value = { .tv_usec = 2000 } };
	struct sigaction sa = { 0 };
	volatile unsigned long spin = 0;
	sigset_t cur;
	int round;

	CHECK(raise(SIGUSR2) == 0);
	CHECK(early_calls == 1 && early_seen_after == early_seen_before + 1);

	sa.sa_sigaction = own_sigreturn_handler;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	for (round = 0; round < 20; round++) {
		sig_atomic_t calls = alarm_calls;

		CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
		while (alarm_calls == calls && spin < 4000000000UL)
			spin++;
		CHECK(alarm_calls == calls + 1);
		CHECK(alarm_seen_after == alarm_seen_before + 1);
	}
	/* The replayed frame's mask (SIGALRM blocked in the handler) is back. */
	CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0);
	CHECK(sigismember(&cur, SIGALRM) == 0 && sigismember(&cur, SIGSYS) == 0);
	CHECK(getppid() > 0);
	printf("sigreturn ok\n");
	return 0;
}

static int restart_pipe[2];

static void alarm_writer(int sig)
{
	if (write(restart_pipe[1], "x", 1) != 1)
		abort();
}

static void alarm_nothing(int sig)
{
}

static int probe_restart(void)
{
	struct sigaction sa = { 0 };
	struct itimerval it = { .it_value = { .tv_usec = 50000 } };
	char c = 0;
	ssize_t n;

	CHECK(pipe(restart_pipe) == 0);
	/* SA_RESTART: the interrupted read restarts and gets the handler's byte. */
	sa.sa_handler = alarm_writer;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	n = read(restart_pipe[0], &c, 1);
	CHECK(n == 1 && c == 'x');
	/* Without it: EINTR. */
	sa.sa_handler = alarm_nothing;
	sa.sa_flags = 0;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	errno = 0;
	n = read(restart_pipe[0], &c, 1);
	CHECK(n == -1 && errno == EINTR);
	printf("restart ok\n");
	return 0;
}

static int probe_sigmask(void)
{
	sigset_t all, cur, old;
	struct timespec ts = { 0, 1000000 };
	int efd, sfd;
	struct epoll_event ev;

	CHECK(sigfillset(&all) == 0);
	CHECK(sigprocmask(SIG_BLOCK, &all, &old) == 0);
	CHECK(getppid() > 0);
	CHECK(sigprocmask(SIG_SETMASK, NULL, &cur) == 0);
	CHECK(sigismember(&cur, SIGUSR1) == 1);
	CHECK(sigismember(&cur, SIGSYS) == 0);
	CHECK(pthread_sigmask(SIG_SETMASK, &all, NULL) == 0);
	CHECK(getppid() > 0);
	CHECK(ppoll(NULL, 0, &ts, &all) == 0);
	CHECK(pselect(0, NULL, NULL, NULL, &ts, &all) == 0);
	efd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(efd >= 0);
	CHECK(epoll_pwait(efd, &ev, 1, 1, &all) == 0);
	sfd = signalfd(-1, &all, SFD_CLOEXEC);
	CHECK(sfd >= 0);
	errno = 0;
	CHECK(sigtimedwait(&all, NULL, &ts) == -1 && errno == EAGAIN);
	CHECK(close(sfd) == 0 && close(efd) == 0);
	CHECK(dispatched(SYS_ppoll) >= 1 && dispatched(SYS_pselect6) >= 1);
	CHECK(dispatched(SYS_epoll_pwait) + dispatched(SYS_epoll_pwait2) >= 1);
	CHECK(dispatched(SYS_signalfd4) >= 1 && dispatched(SYS_rt_sigtimedwait) >= 1);
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	printf("sigmask ok\n");
	return 0;
}

static volatile sig_atomic_t sigsys_calls;

static void app_sigsys_handler(int sig)
{
	sigsys_calls++;
}

static int probe_sigsys(void)
{
	struct sigaction sa = { 0 }, old = { 0 };

	sa.sa_handler = app_sigsys_handler;
	/* Accepted and recorded, never installed: SIGSYS is the runtime's. */
	CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
	CHECK(sigaction(SIGSYS, NULL, &old) == 0);
	CHECK(old.sa_handler == app_sigsys_handler);
	CHECK(dispatched(SYS_getppid) >= 0);
	/* A SIGSYS sent by someone else reaches the application's handler. */
	CHECK(kill(getpid(), SIGSYS) == 0);
	CHECK(sigsys_calls == 1);
	CHECK(getppid() > 0);
	printf("sigsys ok\n");
	return 0;
}

/* Everything the syscall ABI preserves survives an intercepted call. */
static uint64_t regs_out[12];

static int probe_registers(void)
{
	static const uint64_t expect[12] = {
		0x1111111111111111, 0x2222222222222222, 0x3333333333333333, 0x4444444444444444,
		0x5555555555555555, 0x6666666666666666, 0x7777777777777777, 0x8888888888888888,
		0x9999999999999999, 0xaaaaaaaaaaaaaaaa, 0xbbbbbbbbbbbbbbbb, 0x400,
	};
	int i;

	__asm__ volatile("movabsq $0x1111111111111111, %%rbx\n\t"
			 "movabsq $0x2222222222222222, %%rdx\n\t"
			 "movabsq $0x3333333333333333, %%rsi\n\t"
			 "movabsq $0x4444444444444444, %%rdi\n\t"
			 "movabsq $0x5555555555555555, %%r8\n\t"
			 "movabsq $0x6666666666666666, %%r9\n\t"
			 "movabsq $0x7777777777777777, %%r10\n\t"
			 "movabsq $0x8888888888888888, %%r12\n\t"
			 "movabsq $0x9999999999999999, %%r13\n\t"
			 "movabsq $0xaaaaaaaaaaaaaaaa, %%r14\n\t"
			 "movabsq $0xbbbbbbbbbbbbbbbb, %%r15\n\t"
			 "std\n\t"
			 "movl $110, %%eax\n\t" /* getppid */
			 "syscall\n\t"
			 "pushfq\n\t"
			 "popq %%rax\n\t"
			 "cld\n\t"
			 "andq $0x400, %%rax\n\t" /* DF */
			 "movq %%rax, 88+%[out]\n\t"
			 "movq %%rbx, 0+%[out]\n\t"
			 "movq %%rdx, 8+%[out]\n\t"
			 "movq %%rsi, 16+%[out]\n\t"
			 "movq %%rdi, 24+%[out]\n\t"
			 "movq %%r8, 32+%[out]\n\t"
			 "movq %%r9, 40+%[out]\n\t"
			 "movq %%r10, 48+%[out]\n\t"
			 "movq %%r12, 56+%[out]\n\t"
			 "movq %%r13, 64+%[out]\n\t"
			 "movq %%r14, 72+%[out]\n\t"
			 "movq %%r15, 80+%[out]\n\t"
			 : [out] "=m"(regs_out)
			 :
			 : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
			   "r12", "r13", "r14", "r15", "memory", "cc");
	for (i = 0; i < 12; i++) {
		if (regs_out[i] != expect[i]) {
			fprintf(stderr, "sud_probe: register %d: %#lx, expected %#lx\n", i,
				(unsigned long)regs_out[i], (unsigned long)expect[i]);
			return 1;
		}
	}
	return 0;
}

#define YMM_LOAD(i) "vmovdqu " #i "*32(%%rdi), %%ymm" #i "\n\t"
#define YMM_STORE(i) "vmovdqu %%ymm" #i ", " #i "*32(%%rsi)\n\t"
#define YMM_ALL(m)                                                                         \
	m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) m(11) m(12) m(13) m(14) m(15)

__attribute__((target("avx"))) static int probe_ymm(void)
{
	static uint8_t in[16 * 32], out[16 * 32];
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	__asm__ volatile(YMM_ALL(YMM_LOAD) "movl $110, %%eax\n\t"
					   "syscall\n\t" YMM_ALL(YMM_STORE)
			 :
			 : "D"(in), "S"(out)
			 : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
			   "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
			   "xmm13", "xmm14", "xmm15");
	return memcmp(in, out, sizeof(in)) == 0 ? 0 : 1;
}

#define ZMM_LOAD(i) "vmovdqu64 (" #i "-16)*64(%%rdi), %%zmm" #i "\n\t"
#define ZMM_STORE(i) "vmovdqu64 %%zmm" #i ", (" #i "-16)*64(%%rsi)\n\t"
#define ZMM_HIGH(m)                                                                        \
	m(16) m(17) m(18) m(19) m(20) m(21) m(22) m(23) m(24) m(25) m(26) m(27) m(28) m(29)  \
		m(30) m(31)

/* AVX-512's upper registers, which only XSAVE (not FXSAVE) covers. */
__attribute__((target("avx512f"))) static int probe_zmm(void)
{
	static uint8_t in[16 * 64], out[16 * 64];
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 13 + 5);
	__asm__ volatile(ZMM_HIGH(ZMM_LOAD) "movl $110, %%eax\n\t"
					    "syscall\n\t" ZMM_HIGH(ZMM_STORE)
			 :
			 : "D"(in), "S"(out)
			 : "rax", "rcx", "r11", "memory", "xmm16", "xmm17", "xmm18", "xmm19",
			   "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27",
			   "xmm28", "xmm29", "xmm30", "xmm31");
	return memcmp(in, out, sizeof(in)) == 0 ? 0 : 1;
}

static int probe_vector(void)
{
	CHECK(dispatched(SYS_getppid) >= 0);
	CHECK(probe_registers() == 0);
	if (__builtin_cpu_supports("avx"))
		CHECK(probe_ymm() == 0);
	else
		printf("no AVX: ymm not checked\n");
	if (__builtin_cpu_supports("avx512f"))
		CHECK(probe_zmm() == 0);
	printf("vector ok\n");
	return 0;
}

/* New threads are intercepted from their first instruction on. */
static void *thread_body(void *arg)
{
	long before = dispatched(SYS_getppid);
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int i;

	if (before < 0 || fd < 0)
		return (void *)1;
	for (i = 0; i < 1000; i++) {
		if (write(fd, "x", 1) != 1 || getppid() <= 0)
			return (void *)1;
	}
	if (close(fd) != 0 || dispatched(SYS_getppid) < before + 1000)
		return (void *)1;
	return arg;
}

static int probe_threads(void)
{
	pthread_t threads[4];
	char *spawn_argv[] = { "true", NULL };
	void *ret;
	pid_t pid;
	int status, i;
	long before;

	for (i = 0; i < 4; i++)
		CHECK(pthread_create(&threads[i], NULL, thread_body, (void *)(long)(i + 10)) == 0);
	for (i = 0; i < 4; i++) {
		CHECK(pthread_join(threads[i], &ret) == 0);
		CHECK(ret == (void *)(long)(i + 10));
	}
	CHECK(posix_spawnp(&pid, "true", NULL, NULL, spawn_argv, environ) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	status = system("exit 3");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	/* The main thread is still intercepted. */
	before = dispatched(SYS_getppid);
	CHECK(before >= 0 && getppid() > 0 && dispatched(SYS_getppid) == before + 1);
	printf("threads ok\n");
	return 0;
}

static int probe_fork(void)
{
	long hooks = inline_syscall(SUD_QUERY_NR, SUD_QUERY_HOOKS, 0, 0);
	pid_t pid;
	int status;

	CHECK(hooks >= 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The child is intercepted too (SUD re-armed after fork). */
		long before = dispatched(SYS_getppid);

		if (before < 0 || getppid() <= 0 || dispatched(SYS_getppid) != before + 1)
			_exit(1);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* prepare, child and parent hooks, once each. */
	CHECK(inline_syscall(SUD_QUERY_NR, SUD_QUERY_HOOKS, 0, 0) == hooks + 10101);

	/* vfork: the child borrows this stack, the parent must still return. */
	pid = vfork();
	if (pid == 0)
		_exit(7);
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	pid = vfork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exit 5", (char *)NULL);
		_exit(99);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);
	CHECK(dispatched(SYS_getppid) >= 0);
	printf("fork ok\n");
	return 0;
}

/* Written by vfork children, which share this memory. */
static volatile long vfork_seen;

static void vfork_child_checks(void);

static int clone_vfork_child(void *arg)
{
	(void)arg;
	vfork_child_checks();
	return 0;
}

static void vfork_usr1(int sig)
{
	(void)sig;
	handler_calls++;
}

/* In a vfork child: is it intercepted, with SIGSYS usable under a full
 * mask?  Leaves 1 in vfork_seen if so. */
static void vfork_child_checks(void)
{
	sigset_t all;
	long before = dispatched(SYS_getppid);

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	vfork_seen = before >= 0 && inline_syscall(SYS_getppid, 0, 0, 0) > 0 &&
		     dispatched(SYS_getppid) == before + 1;
}

/* The parent after a vfork: intercepted still (selector BLOCK). */
static int parent_intercepted(void)
{
	long before = dispatched(SYS_getppid);

	return before >= 0 && getppid() > 0 && dispatched(SYS_getppid) == before + 1;
}

/* A vfork child of a vfork child: the inner parent must resume too. */
__attribute__((unused)) static void vfork_nested(void)
{
	pid_t pid = vfork();
	int status;

	if (pid == 0) {
		vfork_child_checks();
		_exit(vfork_seen ? 4 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 4 || !parent_intercepted())
		_exit(1);
	_exit(3);
}

/* One vfork whose child checks itself, then execs or exits.  0 if all is
 * well on both sides. */
__attribute__((noinline)) static int vfork_once(int exec)
{
	pid_t pid;
	int status;

	vfork_seen = 0;
	pid = vfork();
	if (pid == 0) {
		vfork_child_checks();
		if (exec && vfork_seen)
			execl("/bin/true", "true", (char *)NULL);
		_exit(vfork_seen ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || vfork_seen != 1)
		return -1;
	return 0;
}

/*
 * vfork and CLONE_VM|CLONE_VFORK children are intercepted from the call on,
 * SIGSYS stays usable in them, their rt_sigaction leaves the parent's
 * handlers alone, and the parent resumes intercepted, 1000 times over.
 */
static int probe_vfork(void)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	char *spawn_argv[] = { "true", NULL };
	long dups, prepares;
	struct sigaction sa = { 0 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all;
	long before;
	pid_t pid;
	int status, i;

	sa.sa_handler = vfork_usr1;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	prepares = inline_syscall(SUD_QUERY_NR, SUD_QUERY_VFORK_PREPARES, 0, 0);
	CHECK(prepares >= 0);

	vfork_seen = 0;
	pid = vfork();
	if (pid == 0) {
		vfork_child_checks();
		/* The child's own disposition, not the parent's record. */
		signal(SIGUSR1, SIG_DFL);
		_exit(7);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	CHECK(vfork_seen == 1);
	CHECK(parent_intercepted());
	/* The dispatcher prepared for the child before it existed. */
	CHECK(inline_syscall(SUD_QUERY_NR, SUD_QUERY_VFORK_PREPARES, 0, 0) == prepares + 1);
	handler_calls = 0;
	CHECK(raise(SIGUSR1) == 0);
	CHECK(handler_calls == 1);

	/* The child's execve is seen; the parent resumes after it. */
	before = dispatched(SYS_execve);
	pid = vfork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(99);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(dispatched(SYS_execve) == before + 1);
	CHECK(parent_intercepted());

#ifndef SUD_PROBE_SANITIZED
	/* (The sanitizers' vfork keeps one return address per thread: a vfork
	 * in the child overwrites the parent's.) */
	pid = vfork();
	if (pid == 0)
		vfork_nested();
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	CHECK(parent_intercepted());
#endif

	/* clone(CLONE_VM|CLONE_VFORK) on a stack of its own. */
	vfork_seen = 0;
	pid = clone(clone_vfork_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD,
		    NULL);
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(vfork_seen == 1);
	CHECK(parent_intercepted());

	/* posix_spawn: its dup2 and execve are seen; resetting every signal
	 * (SIGSYS included) in the child changes nothing for the parent. */
	CHECK(posix_spawn_file_actions_init(&fa) == 0);
	CHECK(posix_spawn_file_actions_adddup2(&fa, 1, 2) == 0);
	CHECK(posix_spawnattr_init(&attr) == 0);
	CHECK(sigfillset(&all) == 0);
	CHECK(posix_spawnattr_setsigdefault(&attr, &all) == 0);
	CHECK(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF) == 0);
	before = dispatched(SYS_execve);
	dups = dispatched(SYS_dup2);
	CHECK(posix_spawn(&pid, "/bin/true", &fa, &attr, spawn_argv, environ) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(dispatched(SYS_execve) == before + 1);
	CHECK(dispatched(SYS_dup2) == dups + 1);
	CHECK(inline_syscall(SUD_QUERY_NR, SUD_QUERY_VFORK_PREPARES, 0, 0) > prepares + 1);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	handler_calls = 0;
	CHECK(raise(SIGUSR1) == 0);
	CHECK(handler_calls == 1);
	status = system("exit 3");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	CHECK(parent_intercepted());

	for (i = 0; i < 1000; i++)
		CHECK(vfork_once(i % 100 == 0) == 0);
	CHECK(parent_intercepted());
	printf("vfork ok\n");
	return 0;
}

static volatile long clone_child_ran;

__attribute__((unused)) static int clone_child(void *arg)
{
	/* A CLONE_VFORK child is intercepted, with the parent suspended. */
	clone_child_ran = dispatched(SYS_getppid) >= 0 ? (long)arg : -1;
	return 0;
}

static long raw_clone3(struct clone_args *args)
{
	return inline_syscall(SYS_clone3, (long)args, sizeof(*args), 0);
}

/* glibc's clone() (SYS_clone with a stack) and raw clone3 edge cases. */
static int probe_clone(void)
{
	struct clone_args args;
	int status;
	long ret;

#ifndef SUD_PROBE_TSAN
	/* (TSan's clone interceptor takes every child for a fork and cannot
	 * follow one that shares its memory: its CHECK fails in the child even
	 * without the runtime.) */
	{
		static char stack[64 * 1024] __attribute__((aligned(16)));
		pid_t pid = clone(clone_child, stack + sizeof(stack),
				  CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)42L);

		CHECK(pid > 0);
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK(clone_child_ran == 42);
	}
#endif

	/* CLONE_CLEAR_SIGHAND would drop the runtime's SIGSYS handler. */
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_CLEAR_SIGHAND;
	args.exit_signal = SIGCHLD;
	CHECK(raw_clone3(&args) == -EINVAL);

	/* clone3 without a stack is a fork: the child is intercepted. */
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	ret = raw_clone3(&args);
	CHECK(ret >= 0);
	if (ret == 0) {
		long before = dispatched(SYS_getppid);

		if (before < 0 || inline_syscall(SYS_getppid, 0, 0, 0) <= 0 ||
		    dispatched(SYS_getppid) != before + 1)
			inline_syscall(SYS_exit_group, 1, 0, 0);
		inline_syscall(SYS_exit_group, 0, 0, 0);
	}
	CHECK(waitpid((pid_t)ret, &status, 0) == (pid_t)ret);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("clone ok\n");
	return 0;
}

static int probe_exec(const char *self)
{
	CHECK(dispatched(SYS_getppid) >= 0);
	/* The new image is intercepted again: the probe checks itself. */
	execl(self, "sud_probe", "raw", (char *)NULL);
	CHECK(!"execl returned");
	return 1;
}

static int probe_bench(void)
{
	const long iterations = 1000000;
	struct timespec t0, t1;
	long i;
	double ns;

	CHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0);
	for (i = 0; i < iterations; i++)
		(void)inline_syscall(SYS_getppid, 0, 0, 0);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0);
	ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
	     (double)iterations;
	printf("getppid: %ld calls, %.0f ns/call, dispatched %ld\n", iterations, ns,
	       dispatched(SYS_getppid));
	return 0;
}

static int probe_env(void)
{
	const char *names[] = { "FERRY_IONODE", "FERRY_MOUNTS", "FERRY_LOG_LEVEL", "FERRY_RUNTIME",
				"LD_PRELOAD" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);

		printf("%s=%s\n", names[i], v ? v : "(unset)");
	}
	printf("intercepted=%d\n", dispatched(SYS_getppid) >= 0);
	return 0;
}

/* ---- the fast path (cnk/rewrite.c) ---- */

/*
 * Call sites of our own, each `mov $NR, %eax; syscall; ret` at the start of
 * a 16-byte aligned function (so the mov never straddles a cache line), and
 * one whose syscall is also reached by a direct jump.
 */
#define FP_SITE(name, nr)                                                                  \
	".balign 16\n.globl " #name "\n.hidden " #name "\n.type " #name ", @function\n" #name \
	":\n\tmovl $" #nr ", %eax\n\tsyscall\n\tret\n.size " #name ", . - " #name "\n"
#define FP_HAMMER_SITES 16
__asm__(".text\n"
	FP_SITE(fp_getppid, 110) FP_SITE(fp_read, 0) FP_SITE(fp_close, 3) FP_SITE(fp_fork_site, 110)
	FP_SITE(fp_vfork_site, 110) FP_SITE(fp_regs_site, 110) FP_SITE(fp_getuid, 102)
	FP_SITE(fp_pause, 34)
	FP_SITE(fp_h0, 110) FP_SITE(fp_h1, 110) FP_SITE(fp_h2, 110) FP_SITE(fp_h3, 110)
	FP_SITE(fp_h4, 110) FP_SITE(fp_h5, 110) FP_SITE(fp_h6, 110) FP_SITE(fp_h7, 110)
	FP_SITE(fp_h8, 110) FP_SITE(fp_h9, 110) FP_SITE(fp_h10, 110) FP_SITE(fp_h11, 110)
	FP_SITE(fp_h12, 110) FP_SITE(fp_h13, 110) FP_SITE(fp_h14, 110) FP_SITE(fp_h15, 110)
	".balign 16\n.globl fp_direct\n.hidden fp_direct\nfp_direct:\n\tmovl $110, %eax\n"
	".globl fp_direct_syscall\n.hidden fp_direct_syscall\nfp_direct_syscall:\n\tsyscall\n"
	"\tret\n"
	/* eax set elsewhere, then a jump straight to the syscall: the
	 * rewritten mov is skipped and the call traps as before. */
	".balign 16\n.globl fp_jump_direct\n.hidden fp_jump_direct\nfp_jump_direct:\n"
	"\tmovl $110, %eax\n\tjmp fp_direct_syscall\n");

long fp_getppid(void);
long fp_read(long fd, void *buf, long len);
long fp_close(long fd);
long fp_fork_site(void);
long fp_vfork_site(void);
long fp_regs_site(void);
long fp_getuid(void);
long fp_pause(void);
long fp_direct(void);
long fp_jump_direct(void);
extern const unsigned char fp_direct_syscall[];
long fp_h0(void), fp_h1(void), fp_h2(void), fp_h3(void), fp_h4(void), fp_h5(void),
	fp_h6(void), fp_h7(void), fp_h8(void), fp_h9(void), fp_h10(void), fp_h11(void),
	fp_h12(void), fp_h13(void), fp_h14(void), fp_h15(void);
static long (*const fp_hammer_sites[FP_HAMMER_SITES])(void) = {
	fp_h0, fp_h1, fp_h2, fp_h3, fp_h4, fp_h5, fp_h6, fp_h7,
	fp_h8, fp_h9, fp_h10, fp_h11, fp_h12, fp_h13, fp_h14, fp_h15,
};

static long fp_query(long what, long addr)
{
	return inline_syscall(SUD_QUERY_NR, SUD_QUERY_FASTPATH, what, addr);
}

/* Has the site starting at fn (its mov) been rewritten?  Checked both ways:
 * its first byte is a jmp, and the mechanism's table knows it. */
static int fp_rewritten(const void *fn)
{
	const volatile unsigned char *p = fn;
	int jmp = p[0] == 0xe9;
	int known = fp_query(3, (long)((uintptr_t)fn + 7)) == 1;

	CHECK(jmp == known);
	/* The syscall itself is never touched. */
	CHECK(p[5] == 0x0f && p[6] == 0x05);
	return jmp;
}

static int fp_on;
static long fp_ppid;

/* Each of `n` calls through `site` returns the parent's pid. */
static int fp_loop(long (*site)(void), long n)
{
	long i;

	for (i = 0; i < n; i++)
		if (site() != fp_ppid)
			return -1;
	return 0;
}

static volatile sig_atomic_t fp_alarms;
static volatile sig_atomic_t fp_alarm_bad;

__attribute__((unused)) static void fp_alarm_handler(int sig)
{
	(void)sig;
	/* A rewritten site from a handler that interrupted one. */
	if (fp_getppid() != fp_ppid)
		fp_alarm_bad = 1;
	fp_alarms++;
}

static int fp_pipe[2];

__attribute__((unused)) static void fp_alarm_writer(int sig)
{
	(void)sig;
	if (write(fp_pipe[1], "y", 1) != 1)
		abort();
}

/* Signals: delivered in the middle of rewritten calls (a fast itimer over a
 * loop of them, the handler making the same call), and a blocking read
 * through a rewritten site interrupted: EINTR, or restarted (SA_RESTART). */
__attribute__((unused)) static int fp_signals(void)
{
	struct sigaction sa = { 0 };
	struct itimerval fast = { .it_interval = { .tv_usec = 200 }, .it_value = { .tv_usec = 200 } };
	struct itimerval off = { 0 }, once = { .it_value = { .tv_usec = 50000 } };
	char c = 0;
	long i;

	sa.sa_handler = fp_alarm_handler;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHECK(setitimer(ITIMER_REAL, &fast, NULL) == 0);
	for (i = 0; i < 200000 || fp_alarms < 3; i++)
		CHECK(fp_getppid() == fp_ppid);
	CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	CHECK(fp_alarms >= 3 && !fp_alarm_bad);

	CHECK(pipe(fp_pipe) == 0);
	CHECK(write(fp_pipe[1], "x", 1) == 1);
	CHECK(fp_read(fp_pipe[0], &c, 1) == 1 && c == 'x'); /* rewrites fp_read */
	CHECK(fp_rewritten(fp_read) == fp_on);
	sa.sa_handler = fp_alarm_writer;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHECK(setitimer(ITIMER_REAL, &once, NULL) == 0);
	CHECK(fp_read(fp_pipe[0], &c, 1) == 1 && c == 'y');
	sa.sa_handler = alarm_nothing;
	sa.sa_flags = 0;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHECK(setitimer(ITIMER_REAL, &once, NULL) == 0);
	CHECK(fp_read(fp_pipe[0], &c, 1) == -EINTR);
	CHECK(close(fp_pipe[0]) == 0 && close(fp_pipe[1]) == 0);
	return 0;
}

/* A call the dispatcher declares always native: after the first trap its
 * site goes straight to the kernel -- not dispatched, same result -- and a
 * signal interrupts it as it would natively. */
static int fp_native(void)
{
	long uid = (long)getuid(), before = dispatched(SYS_getuid);
	int i;

	for (i = 0; i < 3; i++)
		CHECK(fp_getuid() == uid);
	CHECK(fp_rewritten(fp_getuid) == fp_on);
	CHECK(dispatched(SYS_getuid) == before + (fp_on ? 1 : 3));
	if (fp_on)
		CHECK(fp_query(6, 0) >= 1);
	return 0;
}

__attribute__((unused)) static int fp_native_eintr(void)
{
	struct sigaction sa = { 0 };
	struct itimerval once = { .it_value = { .tv_usec = 20000 } };
	int i;

	sa.sa_handler = alarm_nothing;
	sa.sa_flags = SA_RESTART; /* pause is never restarted */
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	for (i = 0; i < 2; i++) {
		CHECK(setitimer(ITIMER_REAL, &once, NULL) == 0);
		CHECK(fp_pause() == -EINTR);
	}
	CHECK(fp_rewritten(fp_pause) == fp_on);
	return 0;
}

static pthread_barrier_t fp_barrier;

static void *fp_hammer(void *arg)
{
	int round, k;

	(void)arg;
	pthread_barrier_wait(&fp_barrier);
	for (round = 0; round < 500; round++)
		for (k = 0; k < FP_HAMMER_SITES; k++)
			if (fp_hammer_sites[(k + round) % FP_HAMMER_SITES]() != fp_ppid)
				return (void *)1;
	return NULL;
}

/* Eight threads run sixteen fresh sites at once, so that they trap, are
 * rewritten and run rewritten concurrently; every result is right, every
 * call reaches the dispatcher once, and every site ends up rewritten. */
static int fp_threads(void)
{
	pthread_t t[8];
	long before = dispatched(SYS_getppid);
	void *ret;
	int i;

	CHECK(pthread_barrier_init(&fp_barrier, NULL, 8) == 0);
	for (i = 0; i < 8; i++)
		CHECK(pthread_create(&t[i], NULL, fp_hammer, NULL) == 0);
	for (i = 0; i < 8; i++) {
		CHECK(pthread_join(t[i], &ret) == 0);
		CHECK(ret == NULL);
	}
	CHECK(pthread_barrier_destroy(&fp_barrier) == 0);
	CHECK(dispatched(SYS_getppid) == before + 8 * 500 * FP_HAMMER_SITES);
	for (i = 0; i < FP_HAMMER_SITES; i++)
		CHECK(fp_rewritten((const void *)fp_hammer_sites[i]) == fp_on);
	return 0;
}

/* fork: the child inherits the rewritten sites and rewrites its own; a
 * vfork child runs rewritten sites of the memory it shares. */
__attribute__((unused)) static int fp_processes(void)
{
	pid_t pid, self = getpid();
	int status;

	CHECK(fp_getppid() == fp_ppid);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		long before = dispatched(SYS_getppid);

		if (fp_getppid() != self || fp_fork_site() != self || fp_fork_site() != self ||
		    fp_rewritten(fp_fork_site) != fp_on || dispatched(SYS_getppid) != before + 3)
			_exit(1);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The child's rewriting stayed in the child. */
	CHECK(fp_rewritten(fp_fork_site) == 0);

	vfork_seen = 0;
	pid = vfork();
	if (pid == 0) {
		vfork_seen = fp_getppid() == self && fp_vfork_site() == self &&
			     fp_vfork_site() == self;
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(vfork_seen == 1);
	/* Shared memory: what the child rewrote is rewritten here too. */
	CHECK(fp_rewritten(fp_vfork_site) == fp_on);
	CHECK(fp_vfork_site() == fp_ppid);
	return 0;
}

/* Registers, flags (DF) and vector registers survive a rewritten call. */
static uint64_t fp_regs_out[13];

static int fp_registers(void)
{
	int round, i;

	for (round = 0; round < 3; round++) {
		__asm__ volatile("movabsq $0x1111111111111111, %%rbx\n\t"
				 "movabsq $0x2222222222222222, %%rdx\n\t"
				 "movabsq $0x3333333333333333, %%rsi\n\t"
				 "movabsq $0x4444444444444444, %%rdi\n\t"
				 "movabsq $0x5555555555555555, %%r8\n\t"
				 "movabsq $0x6666666666666666, %%r9\n\t"
				 "movabsq $0x7777777777777777, %%r10\n\t"
				 "movabsq $0x8888888888888888, %%r12\n\t"
				 "movabsq $0x9999999999999999, %%r13\n\t"
				 "movabsq $0xaaaaaaaaaaaaaaaa, %%r14\n\t"
				 "movabsq $0xbbbbbbbbbbbbbbbb, %%r15\n\t"
				 "movabsq $0x0123456789abcdef, %%rax\n\t"
				 "movq %%rax, %%xmm7\n\t"
				 "std\n\t"
				 "stc\n\t"
				 "call fp_regs_site\n\t"
				 "pushfq\n\t"
				 "popq %%rcx\n\t"
				 "cld\n\t"
				 "andq $0x401, %%rcx\n\t" /* DF, CF */
				 "movq %%rcx, 88+%[out]\n\t"
				 "movq %%xmm7, 96+%[out]\n\t"
				 "movq %%rbx, 0+%[out]\n\t"
				 "movq %%rdx, 8+%[out]\n\t"
				 "movq %%rsi, 16+%[out]\n\t"
				 "movq %%rdi, 24+%[out]\n\t"
				 "movq %%r8, 32+%[out]\n\t"
				 "movq %%r9, 40+%[out]\n\t"
				 "movq %%r10, 48+%[out]\n\t"
				 "movq %%r12, 56+%[out]\n\t"
				 "movq %%r13, 64+%[out]\n\t"
				 "movq %%r14, 72+%[out]\n\t"
				 "movq %%r15, 80+%[out]\n\t"
				 : [out] "=m"(fp_regs_out)
				 :
				 : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
				   "r12", "r13", "r14", "r15", "xmm7", "memory", "cc");
		for (i = 0; i < 11; i++)
			CHECK(fp_regs_out[i] == 0x1111111111111111ULL * (uint64_t)(i + 1));
		CHECK(fp_regs_out[11] == 0x401);
		CHECK(fp_regs_out[12] == 0x0123456789abcdefULL);
	}
	CHECK(fp_rewritten(fp_regs_site) == fp_on);
	if (__builtin_cpu_supports("avx"))
		CHECK(probe_ymm() == 0 && probe_ymm() == 0);
	if (__builtin_cpu_supports("avx512f"))
		CHECK(probe_zmm() == 0 && probe_zmm() == 0);
	return 0;
}

/* FERRY_FASTPATH (default 1): sites are rewritten and then run without a
 * signal; 0: nothing is rewritten and every call traps.  Either way every
 * call reaches the dispatcher once, with the kernel's results. */
static int probe_fastpath(void)
{
	const char *setting = getenv("FERRY_FASTPATH");
	struct sigaction sa = { 0 };
	long traps, before, i;

	fp_on = !(setting && strcmp(setting, "0") == 0);
	fp_ppid = getppid();
	CHECK(fp_query(4, 0) == fp_on);

	/* First call traps and rewrites; the next 1000 do not trap. */
	CHECK(fp_rewritten(fp_getppid) == 0);
	CHECK(fp_getppid() == fp_ppid);
	CHECK(fp_rewritten(fp_getppid) == fp_on);
	before = dispatched(SYS_getppid);
	traps = fp_query(0, 0);
	CHECK(fp_loop(fp_getppid, 1000) == 0);
	if (fp_on)
		CHECK(fp_query(0, 0) - traps < 10);
	else
		CHECK(fp_query(0, 0) == 0); /* not even counted when off */
	CHECK(dispatched(SYS_getppid) == before + 1000);

	/* Errors: the kernel's -errno from a raw site, errno from libc. */
	for (i = 0; i < 3; i++) {
		CHECK(fp_close(-1) == -EBADF);
		errno = 0;
		CHECK(close(-1) == -1 && errno == EBADF);
		errno = 0;
		CHECK(getppid() == fp_ppid && errno == 0);
	}
	CHECK(fp_rewritten(fp_close) == fp_on);

	/* A jump straight to a rewritten site's syscall still traps and
	 * works; the mechanism knows the site. */
	CHECK(fp_direct() == fp_ppid && fp_direct() == fp_ppid);
	CHECK(fp_rewritten(fp_direct) == fp_on);
	traps = fp_query(0, 0);
	CHECK(fp_jump_direct() == fp_ppid);
	if (fp_on)
		CHECK(fp_query(0, 0) >= traps + 2);

	/* The runtime's own libc calls through a rewritten site (libc's
	 * getppid, rewritten above) run natively, not through the dispatcher. */
	before = dispatched(SYS_getppid);
	CHECK(fp_query(5, 0) == fp_ppid);
	CHECK(dispatched(SYS_getppid) == before);

	CHECK(fp_registers() == 0);
	CHECK(fp_native() == 0);
#ifndef SUD_PROBE_TSAN
	CHECK(fp_native_eintr() == 0);
	/* (TSan defers handlers to its next interceptor, and turns vfork into
	 * fork: the signal loop would not end, the vfork child's writes stay
	 * in its copy.) */
	CHECK(fp_signals() == 0);
	CHECK(fp_processes() == 0);
#endif
	CHECK(fp_threads() == 0);

	/* The program's own SIGSYS use: recorded, and reached by a kill. */
	sigsys_calls = 0;
	sa.sa_handler = app_sigsys_handler;
	CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
	CHECK(kill(getpid(), SIGSYS) == 0);
	CHECK(sigsys_calls == 1);
	CHECK(fp_loop(fp_getppid, 100) == 0);
	printf("fastpath ok (%ld sites rewritten, %ld refused)\n", fp_query(1, 0), fp_query(2, 0));
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(cmd, "raw"))
		return probe_raw();
	if (!strcmp(cmd, "signal"))
		return probe_signal();
	if (!strcmp(cmd, "sigreturn"))
		return probe_sigreturn();
	if (!strcmp(cmd, "restart"))
		return probe_restart();
	if (!strcmp(cmd, "sigmask"))
		return probe_sigmask();
	if (!strcmp(cmd, "sigsys"))
		return probe_sigsys();
	if (!strcmp(cmd, "vector"))
		return probe_vector();
	if (!strcmp(cmd, "threads"))
		return probe_threads();
	if (!strcmp(cmd, "fork"))
		return probe_fork();
	if (!strcmp(cmd, "clone"))
		return probe_clone();
	if (!strcmp(cmd, "vfork"))
		return probe_vfork();
	if (!strcmp(cmd, "exec"))
		return probe_exec(argv[0]);
	if (!strcmp(cmd, "bench"))
		return probe_bench();
	if (!strcmp(cmd, "env"))
		return probe_env();
	if (!strcmp(cmd, "fastpath"))
		return probe_fastpath();
	fprintf(stderr, "usage: sud_probe raw|signal|sigreturn|restart|sigmask|sigsys|vector|"
			"threads|fork|clone|vfork|exec|bench|env|fastpath\n");
	return 2;
}
