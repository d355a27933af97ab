/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers of forwarded syscalls (named in syscalls.def).  Each receives the
 * syscall number and its six arguments, runs with async signals blocked and
 * returns what the kernel would: a result or -errno.  A handler may find the
 * call is local after all (a race, an anonymous mmap) and run it natively.
 */
#ifndef FERRY_CNK_FORWARD_H
#define FERRY_CNK_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cnk_file;

typedef long cnk_fwd_fn(long nr, const long *a);

/* forward_io.c */
cnk_fwd_fn cnk_fwd_read, cnk_fwd_write, cnk_fwd_readv, cnk_fwd_writev, cnk_fwd_lseek,
	cnk_fwd_copy_file_range, cnk_fwd_sendfile, cnk_fwd_getdents64, cnk_fwd_ftruncate,
	cnk_fwd_fsync, cnk_fwd_fallocate, cnk_fwd_fadvise;
/* forward_fd.c */
cnk_fwd_fn cnk_fwd_open, cnk_fwd_close, cnk_fwd_close_range, cnk_fwd_dup, cnk_fwd_fcntl,
	cnk_fwd_flock, cnk_fwd_ioctl, cnk_fwd_unsupported;
/* forward_path.c */
cnk_fwd_fn cnk_fwd_stat, cnk_fwd_statx, cnk_fwd_statfs, cnk_fwd_access, cnk_fwd_mkdir,
	cnk_fwd_mknod, cnk_fwd_unlink, cnk_fwd_rename, cnk_fwd_link, cnk_fwd_symlink,
	cnk_fwd_readlink, cnk_fwd_truncate, cnk_fwd_chmod, cnk_fwd_chown, cnk_fwd_utimes,
	cnk_fwd_xattr;
/* forward_cwd.c */
cnk_fwd_fn cnk_fwd_chdir, cnk_fwd_fchdir, cnk_fwd_getcwd, cnk_fwd_exit_group, cnk_fwd_umask;
/* forward_exec.c */
cnk_fwd_fn cnk_fwd_exec;
/* At start: reopen the forwarded descriptors and cwd an exec carried. */
void cnk_exec_adopt_inherited(void);
/* Before a vfork: make sure the I/O node holds this thread's descriptors
 * for the child's exec, and forget what an earlier child opened; after fork
 * (child), forget the parent's record; at exit, give the record back. */
void cnk_exec_before_vfork(void);
void cnk_exec_forget_vfork_record(void);
void cnk_exec_release_vfork_record(void);
/* A vfork child opened path (flags) at the I/O node and holds placeholder
 * fd for it: the exec carries it for a reopen by path.  0 or -errno. */
int cnk_exec_note_vfork_open(int fd, int flags, const char *path);
/* The calling thread is exiting: release its vfork-child record. */
void cnk_exec_thread_exit(void);
/* In the parent, about to spawn path (search: along PATH, as posix_spawnp
 * and execvp do): will the child need the I/O node? */
bool cnk_exec_spawn_needs_session(const char *path, bool search);
/* An open in a vfork child, through its parent's session (forward_fd.c). */
long cnk_fwd_open_vfork_child(long nr, const long *a);
/* dispatch.c: fn(arg) as a forwarded call runs -- async signals held, on
 * the runtime's stack, errno kept -- for runtime work started outside the
 * dispatcher's forward path. */
long cnk_fwd_call_held(long (*fn)(void *), void *arg);
/* chdir/fchdir in a vfork child (forward_cwd.c). */
long cnk_vfork_chdir(long nr, const long *a);
/* dispatch.c: the process whose descriptor table the runtime's describes
 * (not a vfork child sharing it). */
int cnk_dispatch_owner_pid(void);
/* forward_mmap.c */
cnk_fwd_fn cnk_fwd_mmap;
/* sock.c: forwarded sockets (SOCK: through forward(); SOCKIO: in the
 * program's context, around the native call) */
cnk_fwd_fn cnk_fwd_sock_connect, cnk_fwd_sock_bind, cnk_fwd_sock_listen, cnk_fwd_sock_name,
	cnk_fwd_sock_getsockopt, cnk_fwd_sock_setsockopt;
cnk_fwd_fn cnk_sock_accept, cnk_sock_recv, cnk_sock_send;

/* The syscall run natively with its original arguments. */
long cnk_native(long nr, const long *a);
/* Name of a syscall for logs ("openat"), or "?" */
const char *cnk_syscall_name(long nr);
/* A call that cannot be forwarded faithfully: a debug line, then -err. */
long cnk_fwd_refuse(long nr, int err, const char *why);

/* Read or write up to count bytes of a forwarded file at off (-1: the file
 * position), inline or by bulk, split into bounded calls; POSIX short-count
 * semantics.  Used by the handlers and by mmap / copy loops. */
/* The range is mapped (the kernel's EFAULT check, without its access
 * check): before the runtime copies to or from a program's buffer. */
bool cnk_user_range_mapped(const void *p, size_t len);
long cnk_fwd_file_read(struct cnk_file *f, void *buf, size_t count, int64_t off, int rwf);
long cnk_fwd_file_write(struct cnk_file *f, const void *buf, size_t count, int64_t off,
			int rwf);
/* CLOSE a remote handle (0 or -errno). */
int cnk_remote_close(int64_t handle);
/* The process umask, tracked (the I/O node must not apply its own). */
unsigned cnk_apply_umask(unsigned mode);
void cnk_umask_init(void);

/* Remote statx of a forwarded file itself. */
struct statx;
long cnk_fwd_file_statx(struct cnk_file *f, unsigned mask, struct statx *out);

#endif
