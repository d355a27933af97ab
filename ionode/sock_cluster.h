/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening clusters: TCP binds of one (address, port) by sessions of the
 * same job share one real listening socket on the I/O node; a session of
 * another job gets EADDRINUSE.  Each bind is a member (its handle is a
 * dup of the real socket, so getsockname and socket options work on it);
 * SOCK_LISTEN gives a member accept credit.  The acceptor thread epolls
 * the listening sockets, accepts only while some member has credit, and
 * hands each connection to the next member with credit, round-robin.  The
 * real socket closes with its last member.
 */
#ifndef IOND_SOCK_CLUSTER_H
#define IOND_SOCK_CLUSTER_H

#include <stdint.h>
#include <sys/socket.h>

struct iond_socks;
struct iond_sock_member;

int iond_clusters_start(void);
void iond_clusters_stop(void);

/* Bind (create or join the cluster of) sa for ss's job; the member's
 * handle comes back in *handle.  -EADDRINUSE when another job holds it,
 * else the kernel's errno from socket/bind. */
int iond_cluster_bind(struct iond_socks *ss, int protocol, const struct sockaddr *sa,
		      socklen_t sa_len, int64_t *handle);
/* SOCK_LISTEN on a member: -EINVAL when handle is not one. */
int iond_cluster_listen(struct iond_socks *ss, int64_t handle, int backlog, int64_t credit);
/* Accept credit (connections) for a member handle. */
void iond_cluster_credit(struct iond_socks *ss, int64_t handle, int64_t credit);
/* The member leaves its cluster (CLOSE, or its session closed); m is freed. */
void iond_cluster_leave(struct iond_sock_member *m);

#endif
