/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "raw_syscall.h"

struct runtime_fd_id {
	uint64_t dev, ino;
};

static _Atomic uint64_t runtime_fd_bits[CNK_RUNTIME_FD_SCAN / 64];
static struct runtime_fd_id runtime_fd_ids[CNK_RUNTIME_FD_SCAN];

static bool fd_open(int fd)
{
	return cnk_raw_syscall(SYS_fcntl, fd, F_GETFD, 0) >= 0;
}

static int fd_identity(int fd, struct runtime_fd_id *id)
{
	struct stat st;
	long ret = cnk_raw_syscall(SYS_fstat, fd, &st, 0);

	if (ret < 0)
		return (int)ret;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

void cnk_runtime_fds_begin(struct cnk_fd_window *w)
{
	long base = cnk_raw_syscall6(SYS_openat, AT_FDCWD, (long)"/dev/null",
				     O_RDONLY | O_CLOEXEC, 0, 0, 0);
	int fd;

	w->held = 0;
	for (fd = 0; fd < CNK_RUNTIME_FD_SCAN / 64; fd++)
		w->open_before[fd] = 0;
	if (base >= 0 && base < CNK_RUNTIME_FD_LOW)
		w->held |= 1ull << base;
	for (fd = 0; base >= 0 && fd < CNK_RUNTIME_FD_LOW; fd++) {
		if (fd == base || fd_open(fd))
			continue;
		if (cnk_raw_syscall(SYS_dup3, base, fd, O_CLOEXEC) == fd)
			w->held |= 1ull << fd;
	}
	if (base >= CNK_RUNTIME_FD_LOW)
		cnk_raw_syscall(SYS_close, base, 0, 0);
	for (fd = CNK_RUNTIME_FD_LOW; fd < CNK_RUNTIME_FD_SCAN; fd++)
		if (fd_open(fd))
			w->open_before[fd / 64] |= 1ull << (fd % 64);
}

void cnk_runtime_fds_end(struct cnk_fd_window *w)
{
	int fd;

	for (fd = 0; fd < CNK_RUNTIME_FD_LOW; fd++)
		if (w->held & (1ull << fd))
			cnk_raw_syscall(SYS_close, fd, 0, 0);
	for (fd = CNK_RUNTIME_FD_LOW; fd < CNK_RUNTIME_FD_SCAN; fd++) {
		uint64_t bit = 1ull << (fd % 64);

		if ((w->open_before[fd / 64] & bit) || !fd_open(fd))
			continue;
		if (fd_identity(fd, &runtime_fd_ids[fd]) == 0)
			atomic_fetch_or(&runtime_fd_bits[fd / 64], bit);
	}
}

void cnk_runtime_fds_forget(void)
{
	size_t i;

	for (i = 0; i < CNK_RUNTIME_FD_SCAN / 64; i++)
		atomic_store(&runtime_fd_bits[i], 0);
}

bool cnk_runtime_fd_maybe(int fd)
{
	return fd >= CNK_RUNTIME_FD_LOW && fd < CNK_RUNTIME_FD_SCAN &&
	       (atomic_load_explicit(&runtime_fd_bits[fd / 64], memory_order_relaxed) &
		(1ull << (fd % 64)));
}

bool cnk_runtime_fd_is(int fd)
{
	struct runtime_fd_id now = { 0 };

	if (!cnk_runtime_fd_maybe(fd))
		return false;
	if (fd_identity(fd, &now) == 0 && now.dev == runtime_fd_ids[fd].dev &&
	    now.ino == runtime_fd_ids[fd].ino)
		return true;
	/* Closed by the transport and the number reused: not ours any more. */
	atomic_fetch_and(&runtime_fd_bits[fd / 64], ~(1ull << (fd % 64)));
	return false;
}

bool cnk_runtime_fds_shared_with(long owner)
{
	long self = cnk_raw_syscall(SYS_getpid, 0, 0, 0);
	int fd;

	for (fd = CNK_RUNTIME_FD_LOW; fd < CNK_RUNTIME_FD_SCAN; fd++) {
		if (!cnk_runtime_fd_maybe(fd))
			continue;
		if (cnk_raw_syscall6(SYS_kcmp, owner, self, KCMP_FILE, fd, fd, 0) != 0)
			return false;
	}
	return true;
}
