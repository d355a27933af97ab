/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mmap of a forwarded file.  There is no page cache shared with the I/O
 * node, so a mapping is an anonymous copy: exact for MAP_PRIVATE (any prot)
 * and for a read-only MAP_SHARED as long as nobody changes the file while it
 * is mapped.  A writable MAP_SHARED could not write back: ENODEV and a WARN
 * line rather than silently lost data.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <ferry/log.h>

#include "fdtable.h"
#include "forward.h"
#include "raw_syscall.h"
#include "session.h"

#define MMAP_PAGE 4096l
/* Flags that keep their meaning on the anonymous copy. */
#define MMAP_KEPT_FLAGS                                                               \
	(MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_POPULATE | MAP_NORESERVE | MAP_LOCKED |  \
	 MAP_STACK | MAP_32BIT)

long cnk_fwd_mmap(long nr, const long *a)
{
	long len = a[1], ret, map, acc;
	int prot = (int)a[2], flags = (int)a[3], type = flags & MAP_TYPE;
	int64_t off = a[5];
	struct cnk_file *f = NULL;
	long acquired;

	if (flags & MAP_ANONYMOUS)
		return cnk_native(nr, a);
	acquired = cnk_fd_acquire((int)a[4], &f);
	if (acquired == 0)
		return cnk_native(nr, a);
	if (acquired < 0)
		return acquired;
	acc = f->flags & O_ACCMODE;
	ret = -EINVAL;
	if (len <= 0 || (off & (MMAP_PAGE - 1)) || off < 0)
		goto out;
	ret = -EACCES;
	if (acc == O_WRONLY || (f->flags & O_PATH))
		goto out;
	if (type == MAP_SHARED || type == MAP_SHARED_VALIDATE) {
		if ((prot & PROT_WRITE) && acc != O_RDWR)
			goto out;
		if (prot & PROT_WRITE) {
			FLOG_WARN(cnk_session_id(), cnk_session_job(),
				  "writable MAP_SHARED mapping of %s refused (ENODEV): a forwarded "
				  "file cannot be written back through memory",
				  f->path ? f->path : "a forwarded file");
			ret = -ENODEV;
			goto out;
		}
		FLOG_DEBUG(cnk_session_id(), cnk_session_job(),
			   "read-only MAP_SHARED of %s served as a private copy",
			   f->path ? f->path : "a forwarded file");
	} else if (type != MAP_PRIVATE) {
		goto out;
	}
	map = cnk_raw_syscall6(SYS_mmap, a[0], len, PROT_READ | PROT_WRITE,
			       (flags & MMAP_KEPT_FLAGS) | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map < 0 && map > -4096) {
		ret = map;
		goto out;
	}
	/* Past the end of the file the copy stays zero (the kernel would
	 * raise SIGBUS for whole pages beyond it). */
	ret = cnk_fwd_file_read(f, (void *)map, (size_t)len, off, 0);
	if (ret >= 0)
		ret = cnk_raw_syscall(SYS_mprotect, map, len, prot);
	if (ret < 0) {
		cnk_raw_syscall(SYS_munmap, map, len, 0);
		goto out;
	}
	ret = map;
out:
	cnk_file_put(f);
	return ret;
}
