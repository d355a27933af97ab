/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives sud_probe under the mechanism (libferry_sudtest.so preloaded), one
 * behaviour per test, and ferry-exec's command line.  Every child runs under
 * a deadline and is killed past it, so nothing here can hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define OUTPUT_MAX 8192
#define DEADLINE_MS 60000

struct run_result {
	int exited;      /* 1: exited, with status below */
	int status;      /* exit status, or the signal that killed it */
	char output[OUTPUT_MAX]; /* stdout and stderr together */
};

/* Set by a test: the child starts with SIGSYS blocked, as after an exec
 * from a process that blocked it. */
static int child_blocks_sigsys;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Run argv with `preload` as LD_PRELOAD (NULL: none) and the extra
 * NAME=VALUE settings in env (NULL-terminated, may be NULL); collect output.
 */
static void run(const char *const *argv, const char *preload, const char *const *env,
		struct run_result *res)
{
	int pipefd[2], status = 0, i;
	size_t used = 0;
	long deadline = now_ms() + DEADLINE_MS;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
			_exit(120);
		unsetenv("LD_PRELOAD");
		if (preload && setenv("LD_PRELOAD", preload, 1) != 0)
			_exit(121);
		/* A sanitized runtime is preloaded ahead of libasan. */
		if (setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1) != 0)
			_exit(122);
		for (i = 0; env && env[i]; i++)
			if (putenv((char *)env[i]) != 0)
				_exit(123);
		if (child_blocks_sigsys) {
			sigset_t sys;

			if (sigemptyset(&sys) != 0 || sigaddset(&sys, SIGSYS) != 0 ||
			    sigprocmask(SIG_BLOCK, &sys, NULL) != 0)
				_exit(125);
		}
		execv(argv[0], (char *const *)argv);
		_exit(124);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(pipefd[0], res->output + used,
			 used < OUTPUT_MAX - 1 ? OUTPUT_MAX - 1 - used : 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (used >= OUTPUT_MAX - 1) { /* full: drain */
				char sink[512];

				if (read(pipefd[0], sink, sizeof(sink)) > 0)
					continue;
			}
			break;
		}
		used += (size_t)n;
	}
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	res->exited = WIFEXITED(status);
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
}

static void probe(const char *what, struct run_result *res)
{
	const char *argv[] = { SUD_PROBE, what, NULL };

	run(argv, SUD_LIBRARY, NULL, res);
	if (!res->exited || res->status != 0)
		print_error("sud_probe %s: %s %d\n%s\n", what, res->exited ? "exit" : "signal",
			    res->status, res->output);
}

/* Tests run one at a time; a failed assertion leaves by longjmp. */
static struct run_result probe_result;

static void expect_probe_ok(const char *what)
{
	struct run_result *res = &probe_result;
	char expect[64];

	probe(what, res);
	assert_true(res->exited);
	assert_int_equal(res->status, 0);
	snprintf(expect, sizeof(expect), "%s ok", strcmp(what, "exec") ? what : "raw");
	assert_non_null(strstr(res->output, expect));
}

/* Raw syscall instructions and libc-internal calls (fopen's openat) reach
 * the dispatcher; results and errno are the kernel's. */
static void test_raw_and_libc_calls(void **state)
{
	expect_probe_ok("raw");
}

/* A SIGSYS blocked in the mask inherited across exec is unblocked. */
static void test_inherited_blocked_sigsys(void **state)
{
	child_blocks_sigsys = 1;
	expect_probe_ok("raw");
	child_blocks_sigsys = 0;
}

/* A handler's syscalls are intercepted and it returns through the
 * runtime's restorer; oldact shows the application's handler. */
static void test_signal_handler(void **state)
{
	expect_probe_ok("signal");
}

/* A handler that predates the runtime returns via libc's restorer: the
 * trapped rt_sigreturn is replayed. */
static void test_sigreturn_replay(void **state)
{
#ifdef SUD_TSAN
	skip(); /* TSan defers handlers to its next interceptor: none in the loop */
#endif
	expect_probe_ok("sigreturn");
}

/* SA_RESTART restarts an interrupted read on a pipe; without it, EINTR. */
static void test_restart_and_eintr(void **state)
{
#ifdef SUD_TSAN
	skip(); /* TSan's deferred handlers hang this even without the runtime */
#endif
	expect_probe_ok("restart");
}

/* Blocking every signal (sigprocmask, ppoll, pselect, epoll_pwait,
 * signalfd, sigtimedwait) never blocks SIGSYS. */
static void test_full_signal_masks(void **state)
{
	expect_probe_ok("sigmask");
}

/* The application may not take SIGSYS: recorded, reported, not installed. */
static void test_application_sigsys(void **state)
{
	expect_probe_ok("sigsys");
}

/* General registers, DF and ymm0-15 survive an intercepted call. */
static void test_registers_preserved(void **state)
{
	expect_probe_ok("vector");
}

/* pthread_create (clone3 with a stack), posix_spawn and system(). */
static void test_threads_and_spawn(void **state)
{
	expect_probe_ok("threads");
}

/* fork: hooks run and the child is intercepted; vfork returns in both. */
static void test_fork_and_vfork(void **state)
{
	expect_probe_ok("fork");
}

/* vfork, clone(CLONE_VM|CLONE_VFORK), posix_spawn and system(): the child
 * is intercepted until its exec, the parent resumes intercepted. */
static void test_vfork_children(void **state)
{
#ifdef SUD_TSAN
	skip(); /* TSan turns vfork into fork: the child's checks stay in its copy */
#endif
	expect_probe_ok("vfork");
}

/* clone() with a stack, clone3 without one, CLONE_CLEAR_SIGHAND refused. */
static void test_clone_variants(void **state)
{
	expect_probe_ok("clone");
}

/* After execve the new image is intercepted again. */
static void test_exec_reloads(void **state)
{
	expect_probe_ok("exec");
}

/* The fast path: sites are rewritten and behave (results, errno, registers,
 * signals during rewritten calls, eight threads racing the rewriting, fork
 * and vfork children, the program's own SIGSYS). */
static void test_fastpath(void **state)
{
	expect_probe_ok("fastpath");
	assert_null(strstr(probe_result.output, "(0 sites rewritten"));
}

static void run_fastpath_setting(const char *setting, struct run_result *res)
{
	const char *argv[] = { SUD_PROBE, "fastpath", NULL };
	const char *env[] = { setting, NULL };

	run(argv, SUD_LIBRARY, env, res);
}

/* FERRY_FASTPATH=0: nothing is rewritten, every call still intercepted;
 * any other value than 0 or 1 stops the program before main. */
static void test_fastpath_off(void **state)
{
	struct run_result *res = &probe_result;

	run_fastpath_setting("FERRY_FASTPATH=0", res);
	if (!res->exited || res->status != 0)
		print_error("%s\n", res->output);
	assert_true(res->exited);
	assert_int_equal(res->status, 0);
	assert_non_null(strstr(res->output, "fastpath ok (0 sites rewritten, 0 refused)"));
	run_fastpath_setting("FERRY_FASTPATH=yes", res);
	assert_true(res->exited);
	assert_int_equal(res->status, 127);
	assert_non_null(strstr(res->output, "ferry: FERRY_FASTPATH must be 0 or 1"));
}

/* 1,000,000 intercepted getppid calls complete; report ns per call. */
static void test_getppid_loop(void **state)
{
	const char *argv[] = { SUD_PROBE, "bench", NULL };
	struct run_result *res = malloc(sizeof(*res));

	assert_non_null(res);
	run(argv, NULL, NULL, res);
	assert_true(res->exited && res->status == 0);
	printf("native:      %s", res->output);
	run(argv, SUD_LIBRARY, NULL, res);
	assert_true(res->exited && res->status == 0);
	printf("intercepted: %s", res->output);
	assert_non_null(strstr(res->output, "dispatched 1000000"));
	free(res);
}

/* A failing dispatcher start stops the program before main, status 127. */
static void test_init_failure_exits(void **state)
{
	const char *argv[] = { SUD_PROBE, "raw", NULL };
	const char *env[] = { "SUD_TEST_FAIL_INIT=1", NULL };
	struct run_result *res = malloc(sizeof(*res));

	assert_non_null(res);
	run(argv, SUD_LIBRARY, env, res);
	assert_true(res->exited);
	assert_int_equal(res->status, 127);
	assert_non_null(strstr(res->output, "ferry: cannot start the runtime"));
	assert_null(strstr(res->output, "raw ok"));
	free(res);
}

/* valgrind cannot run a SUD program: the runtime refuses, clearly. */
static void test_valgrind_refused(void **state)
{
	const char *argv[] = { "/usr/bin/valgrind", "-q", "--tool=none", SUD_PROBE, "raw", NULL };
	struct run_result *res;

#ifdef SUD_SANITIZED
	skip();
#endif
	if (access(argv[0], X_OK) != 0)
		skip();
	res = malloc(sizeof(*res));
	assert_non_null(res);
	run(argv, SUD_LIBRARY, NULL, res);
	/* Some valgrind versions cannot read clang's DWARF 5 and stop first. */
	if (strstr(res->output, "I can't recover")) {
		free(res);
		skip();
	}
	assert_true(res->exited);
	assert_int_equal(res->status, 127);
	assert_non_null(strstr(res->output, "ferry: valgrind"));
	free(res);
}

static void ferry_exec(const char *const *args, const char *const *env, struct run_result *res)
{
	const char *argv[16] = { SUD_FERRY_EXEC };
	const char *full_env[8];
	int i, n = 0;

	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	/* Whatever the caller's environment holds, only `env` counts. */
	full_env[n++] = "FERRY_IONODE=";
	full_env[n++] = "FERRY_MOUNTS=";
	full_env[n++] = "FERRY_LIBRARY=" SUD_LIBRARY;
	for (i = 0; env && env[i] && n < 7; i++)
		full_env[n++] = env[i];
	full_env[n] = NULL;
	run(argv, NULL, full_env, res);
}

/* Flags reach the program's environment, the runtime is preloaded. */
static void test_ferry_exec_runs_program(void **state)
{
	const char *args[] = { "--ionode", "tcp://127.0.0.1:7700", "--mount", "/pfs", "--mount",
			       "/scratch", "--log-level", "debug", "--", SUD_PROBE, "env", NULL };
	struct run_result *res = malloc(sizeof(*res));

	assert_non_null(res);
	ferry_exec(args, NULL, res);
	assert_true(res->exited);
	assert_int_equal(res->status, 0);
	assert_non_null(strstr(res->output, "FERRY_IONODE=tcp://127.0.0.1:7700\n"));
	assert_non_null(strstr(res->output, "FERRY_MOUNTS=/pfs,/scratch\n"));
	assert_non_null(strstr(res->output, "FERRY_LOG_LEVEL=debug\n"));
	/* (FERRY_RUNTIME=1 reaches the program's children through the real
	 * dispatcher's exec path; this test dispatcher has none.) */
	assert_non_null(strstr(res->output, "LD_PRELOAD=" SUD_LIBRARY));
	assert_non_null(strstr(res->output, "intercepted=1\n"));
	free(res);
}

/* Environment values apply when flags are absent; PATH lookup works. */
static void test_ferry_exec_env_and_path(void **state)
{
	const char *args[] = { "--", "sud_probe", "env", NULL };
	char path[4200], dir[4096];
	const char *env[] = { "FERRY_IONODE=shm://ferry-test", "FERRY_MOUNTS=/pfs", path, NULL };
	struct run_result *res = malloc(sizeof(*res));
	char *slash;

	assert_non_null(res);
	snprintf(dir, sizeof(dir), "%s", SUD_PROBE);
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	snprintf(path, sizeof(path), "PATH=/nonexistent:%s", dir);
	ferry_exec(args, env, res);
	assert_true(res->exited);
	assert_int_equal(res->status, 0);
	assert_non_null(strstr(res->output, "FERRY_IONODE=shm://ferry-test\n"));
	assert_non_null(strstr(res->output, "FERRY_MOUNTS=/pfs\n"));
	assert_non_null(strstr(res->output, "intercepted=1\n"));
	free(res);
}

static void expect_ferry_exec_fails(const char *const *args, const char *const *env, int status,
				    const char *message)
{
	struct run_result *res = malloc(sizeof(*res));

	assert_non_null(res);
	ferry_exec(args, env, res);
	if (!res->exited || res->status != status || !strstr(res->output, message))
		print_error("ferry-exec: status %d, output:\n%s\n", res->status, res->output);
	assert_true(res->exited);
	assert_int_equal(res->status, status);
	assert_non_null(strstr(res->output, message));
	free(res);
}

static void test_ferry_exec_usage_errors(void **state)
{
	const char *no_ionode[] = { "--mount", "/pfs", "--", "true", NULL };
	const char *no_program[] = { "--ionode", "tcp://127.0.0.1:7700", NULL };
	const char *bad_mount[] = { "--ionode", "tcp://h:1", "--mount", "pfs", "--", "true", NULL };
	const char *bad_level[] = { "--ionode", "tcp://h:1", "--log-level", "loud", "--", "true",
				    NULL };
	const char *bad_flag[] = { "--frobnicate", NULL };

	expect_ferry_exec_fails(no_ionode, NULL, 2, "no I/O node");
	expect_ferry_exec_fails(no_program, NULL, 2, "no program given");
	expect_ferry_exec_fails(bad_mount, NULL, 2, "absolute prefix");
	expect_ferry_exec_fails(bad_level, NULL, 2, "--log-level");
	expect_ferry_exec_fails(bad_flag, NULL, 2, "usage:");
}

static void test_ferry_exec_help_version(void **state)
{
	const char *help[] = { "--help", NULL };
	const char *version[] = { "--version", NULL };

	expect_ferry_exec_fails(help, NULL, 0, "usage: ferry-exec");
	expect_ferry_exec_fails(version, NULL, 0, "ferry-exec 0.");
}

/* Like env(1): 127 and the program's name when it cannot be run. */
static void test_ferry_exec_program_not_found(void **state)
{
	const char *args[] = { "--ionode", "tcp://h:1", "--", "no-such-program-ferry", NULL };
	const char *lib_args[] = { "--ionode", "tcp://h:1", "--", "true", NULL };
	const char *env[] = { "FERRY_LIBRARY=/nonexistent/libferry.so", NULL };

	expect_ferry_exec_fails(args, NULL, 127, "no-such-program-ferry: program not found");
	expect_ferry_exec_fails(lib_args, env, 127, "runtime library /nonexistent/libferry.so");
}

/* A statically linked program cannot load the runtime: refused up front. */
static void test_ferry_exec_static_refused(void **state)
{
	const char *args[] = { "--ionode", "tcp://h:1", "--", SUD_STATIC_PROBE, NULL };

	if (SUD_STATIC_PROBE[0] == '\0')
		skip();
	expect_ferry_exec_fails(args, NULL, 127, "is statically linked");
}

/* A 32-bit (or other machine's) ELF would ignore the x86-64 runtime. */
static void test_ferry_exec_foreign_refused(void **state)
{
	char path[] = "/tmp/sud_foreign_XXXXXX";
	const char *args[] = { "--ionode", "tcp://h:1", "--", path, NULL };
	static char image[1 << 20];
	ssize_t len;
	int in, out;

	in = open(SUD_PROBE, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	len = read(in, image, sizeof(image));
	assert_true(len > 64);
	assert_int_equal(close(in), 0);
	image[4] = 1; /* EI_CLASS: ELFCLASS32 */
	out = mkstemp(path);
	assert_true(out >= 0);
	assert_int_equal(write(out, image, (size_t)len), len);
	assert_int_equal(fchmod(out, 0755), 0);
	assert_int_equal(close(out), 0);
	expect_ferry_exec_fails(args, NULL, 127, "is not an x86-64 program");
	assert_int_equal(unlink(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_and_libc_calls),
		cmocka_unit_test(test_inherited_blocked_sigsys),
		cmocka_unit_test(test_signal_handler),
		cmocka_unit_test(test_sigreturn_replay),
		cmocka_unit_test(test_restart_and_eintr),
		cmocka_unit_test(test_full_signal_masks),
		cmocka_unit_test(test_application_sigsys),
		cmocka_unit_test(test_registers_preserved),
		cmocka_unit_test(test_threads_and_spawn),
		cmocka_unit_test(test_fork_and_vfork),
		cmocka_unit_test(test_vfork_children),
		cmocka_unit_test(test_clone_variants),
		cmocka_unit_test(test_exec_reloads),
		cmocka_unit_test(test_fastpath),
		cmocka_unit_test(test_fastpath_off),
		cmocka_unit_test(test_getppid_loop),
		cmocka_unit_test(test_init_failure_exits),
		cmocka_unit_test(test_valgrind_refused),
		cmocka_unit_test(test_ferry_exec_runs_program),
		cmocka_unit_test(test_ferry_exec_env_and_path),
		cmocka_unit_test(test_ferry_exec_usage_errors),
		cmocka_unit_test(test_ferry_exec_help_version),
		cmocka_unit_test(test_ferry_exec_program_not_found),
		cmocka_unit_test(test_ferry_exec_static_refused),
		cmocka_unit_test(test_ferry_exec_foreign_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
