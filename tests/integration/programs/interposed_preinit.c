/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Preloaded after libferry.so (ferry-exec puts the program's LD_PRELOAD
 * behind the runtime), this library's constructor runs before the
 * runtime's: its calls reach the interposed symbols before interception is
 * armed, and must simply work.  Prints one line on stderr under the runtime
 * (ferry_debug_counter found): whether it ran first, and whether the calls
 * answered right.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh `mov $110,%eax; syscall` (getppid) site of our own: it traps once
 * the runtime is armed, and not before. */
__asm__(".text\n.balign 16\n.type preinit_site, @function\npreinit_site:\n"
	"\tmovl $110, %eax\n\tsyscall\n\tret\n.size preinit_site, . - preinit_site\n");
long preinit_site(void);

__attribute__((constructor)) static void preinit(void)
{
	uint64_t (*counter)(const char *) =
		(uint64_t(*)(const char *))dlsym(RTLD_DEFAULT, "ferry_debug_counter");
	uint64_t before;
	struct stat st;
	char buf[4] = { 0 };
	int p[2], null_fd, ok;

	if (!counter)
		return;
	before = counter("sigsys_traps");
	if (preinit_site() <= 0)
		fprintf(stderr, "preinit: getppid failed\n");
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ok = null_fd >= 0 && pipe2(p, O_CLOEXEC) == 0 && write(p[1], "pre", 3) == 3 &&
	     read(p[0], buf, 4) == 3 && buf[0] == 'p' && lseek(null_fd, 0, SEEK_CUR) == 0 &&
	     fstat(null_fd, &st) == 0 && S_ISCHR(st.st_mode) && pwrite(null_fd, "x", 1, 0) == 1 &&
	     read(-1, buf, 1) == -1 && errno == EBADF && close(p[0]) == 0 && close(p[1]) == 0 &&
	     close(null_fd) == 0;
	fprintf(stderr, "preinit: before the runtime was armed: %s; interposed calls: %s\n",
		counter("sigsys_traps") == before ? "yes" : "no", ok ? "ok" : "WRONG");
}
