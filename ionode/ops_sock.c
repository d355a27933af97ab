/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket opcodes (SOCK_CONNECT .. SOCK_NAME): AF_INET/AF_INET6 stream and
 * datagram sockets opened on the I/O node for a session.  The state they
 * share (credit, events, clusters) is in sockets.c and sock_cluster.c; what
 * a job may do is sock_policy.c's.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ferry/log.h>

#include "call.h"
#include "session.h"
#include "sock_cluster.h"
#include "sock_policy.h"
#include "sockets.h"
#include "warn_limit.h"

/* Above Linux's own SYN retries (about 127 s): the kernel's ETIMEDOUT wins. */
#define CONNECT_TIMEOUT_MS (130 * 1000)
#define SEND_FLAGS (MSG_OOB | MSG_DONTROUTE | MSG_EOR | MSG_MORE)
#define SOCKOPT_MAX 256

/* ---- arguments ---- */

/* The session's socket state, when the daemon serves sockets at all. */
static int call_socks(struct iond_call *c, struct iond_socks **ss)
{
	if (!iond_sockets_policy()->enabled) {
		IOND_CLIENT_WARN(c->msg.session, c->jobid, "%s refused: sockets are disabled",
				 ferry_op_name(c->msg.opcode));
		return -EACCES;
	}
	return iond_socks_of(c->sess, ss);
}

/* domain, type, protocol in args 0..2; the type's SOCK_NONBLOCK and
 * SOCK_CLOEXEC are the client's business (every socket here is both). */
static int socket_args(struct iond_call *c, int *domain, int *type, int *protocol)
{
	GET_INT(c, 0, *domain);
	GET_INT(c, 1, *type);
	GET_INT(c, 2, *protocol);
	*type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (*domain != AF_INET && *domain != AF_INET6)
		return -EAFNOSUPPORT;
	if (*type != SOCK_STREAM && *type != SOCK_DGRAM)
		return -ESOCKTNOSUPPORT;
	return 0;
}

/* The shortest sockaddr_in6 Linux takes (RFC 2133's, without scope id). */
#define SOCKADDR_IN6_MIN 24

/* A sockaddr of family from the wire, as the kernel checks it. */
static int sockaddr_arg(const void *data, size_t len, int family, struct sockaddr_storage *sa,
			socklen_t *sa_len)
{
	size_t need = family == AF_INET ? sizeof(struct sockaddr_in) : SOCKADDR_IN6_MIN;

	if (len < need || len > sizeof(*sa))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	memcpy(sa, data, len);
	if (sa->ss_family != family)
		return -EAFNOSUPPORT;
	*sa_len = (socklen_t)len;
	return 0;
}

static unsigned int port_of(const struct sockaddr_storage *sa)
{
	return sa->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
					: ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* The descriptor and type of a socket handle in args[i]. */
static int sock_handle(struct iond_call *c, int i, struct iond_socks **ss, int *fd, int *type)
{
	int rc = call_socks(c, ss);

	if (rc)
		return rc;
	GET_FD(c, i, *fd);
	return iond_socks_type(*ss, c->msg.args[i], type);
}

static long refuse(struct iond_call *c, const char *what, const struct sockaddr_storage *sa)
{
	char name[IOND_SOCK_ADDR_STRLEN];

	IOND_CLIENT_WARN(c->msg.session, c->jobid, "%s %s refused by the daemon's [sockets] policy",
			 what, iond_sock_addr_str((const struct sockaddr *)sa, name, sizeof(name)));
	return -EACCES;
}

/* The socket's own (peer: remote) address as the reply's data. */
static int reply_name(struct iond_call *c, int fd, bool peer)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &len)
		      : getsockname(fd, (struct sockaddr *)&sa, &len);

	if (rc != 0)
		return -errno;
	if (len > FERRY_SOCKADDR_MAX)
		len = FERRY_SOCKADDR_MAX;
	memcpy(c->scratch->data, &sa, len);
	c->out_data = c->scratch->data;
	c->out_len = len;
	return 0;
}

/* Hand a new socket to the session; the handle, or an error (fd closed). */
static long adopt_socket(struct iond_socks *ss, int fd, int type)
{
	struct iond_session *sess = iond_socks_session(ss);
	int handle = iond_session_add_fd(sess, fd);
	int rc;

	if (handle < 0)
		return handle;
	rc = iond_socks_add(ss, handle, type, NULL);
	if (rc) {
		iond_session_fd_close(sess, handle);
		return rc;
	}
	return handle;
}

/* ---- connect, bind, listen ---- */

/* connect(2) on a nonblocking socket, waiting interruptibly. */
static int connect_wait(struct iond_call *c, struct iond_socks *ss, int fd,
			const struct sockaddr_storage *sa, socklen_t sa_len)
{
	socklen_t len = sizeof(int);
	int err = 0, rc;

	if (connect(fd, (const struct sockaddr *)sa, sa_len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	rc = iond_socks_wait_fd(ss, c->msg.seq, fd, POLLOUT, CONNECT_TIMEOUT_MS);
	if (rc)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -errno;
	return -err;
}

/* SOCK_CONNECT's and SOCK_BIND's request: a new socket and an address. */
struct sock_request {
	struct iond_socks *ss;
	int domain;
	int type;
	int protocol;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char name[IOND_SOCK_ADDR_STRLEN]; /* sa, for log lines */
};

static int sock_request(struct iond_call *c, struct sock_request *r)
{
	int rc = call_socks(c, &r->ss);

	if (!rc)
		rc = socket_args(c, &r->domain, &r->type, &r->protocol);
	if (!rc)
		rc = sockaddr_arg(c->msg.data, c->msg.data_len, r->domain, &r->sa, &r->sa_len);
	if (!rc)
		iond_sock_addr_str((struct sockaddr *)&r->sa, r->name, sizeof(r->name));
	return rc;
}

long op_sock_connect(struct iond_call *c)
{
	struct sock_request r;
	long rc = sock_request(c, &r);
	int fd;

	if (rc)
		return rc;
	if (!iond_sock_policy_connect_allowed(iond_sockets_policy(), (struct sockaddr *)&r.sa))
		return refuse(c, "connect to", &r.sa);
	fd = iond_socket_open(r.domain, r.type, r.protocol, NULL, 0, false);
	if (fd < 0)
		return fd;
	rc = connect_wait(c, r.ss, fd, &r.sa, r.sa_len);
	if (!rc)
		rc = reply_name(c, fd, false);
	if (rc)
		close(fd);
	else
		rc = adopt_socket(r.ss, fd, r.type);
	if (rc < 0)
		FLOG_DEBUG(c->msg.session, c->jobid, "connect to %s: %s", r.name,
			   strerror((int)-rc));
	else
		FLOG_DEBUG(c->msg.session, c->jobid, "connect to %s: handle %ld", r.name, rc);
	return rc;
}

/* A datagram socket bound for the session alone (UDP does not cluster). */
static long bind_datagram(const struct sock_request *r)
{
	int fd = iond_socket_open(r->domain, SOCK_DGRAM, r->protocol,
				  (const struct sockaddr *)&r->sa, r->sa_len, false);

	return fd < 0 ? fd : adopt_socket(r->ss, fd, SOCK_DGRAM);
}

long op_sock_bind(struct iond_call *c)
{
	struct sock_request r;
	int64_t handle;
	long rc = sock_request(c, &r);
	int fd;

	if (rc)
		return rc;
	/* A UDP socket bound to port 0 only sends (and hears replies), as a
	 * connected one does from its ephemeral port. */
	if (!(r.type == SOCK_DGRAM && port_of(&r.sa) == 0) &&
	    !iond_sock_policy_port_allowed(iond_sockets_policy(), port_of(&r.sa)))
		return refuse(c, "bind to", &r.sa);
	if (r.type == SOCK_STREAM)
		rc = iond_cluster_bind(r.ss, r.protocol, (struct sockaddr *)&r.sa, r.sa_len,
				       &handle);
	else
		rc = handle = bind_datagram(&r);
	FLOG_DEBUG(c->msg.session, c->jobid, "bind to %s: %s", r.name,
		   rc < 0 ? strerror((int)-rc) : "ok");
	if (rc < 0)
		return rc;
	rc = call_fd(c, handle, &fd);
	if (!rc)
		rc = reply_name(c, fd, false);
	if (rc) {
		iond_sockets_forget(c->sess, handle);
		iond_session_fd_close(c->sess, handle);
		return rc;
	}
	return handle;
}

long op_sock_listen(struct iond_call *c)
{
	struct iond_socks *ss;
	int fd, type, backlog;
	int rc = sock_handle(c, 0, &ss, &fd, &type);

	if (rc)
		return rc;
	GET_INT(c, 1, backlog);
	if (type != SOCK_STREAM)
		return -EOPNOTSUPP;
	return iond_cluster_listen(ss, c->msg.args[0], backlog, c->msg.args[2]);
}

/* ---- data ---- */

/* The request's credit pairs (handle, amount), in *pairs (malloc'd, NULL
 * when there are none); returns how many. */
static long credit_pairs(struct iond_call *c, int64_t **pairs)
{
	size_t cap = c->msg.data_len / FERRY_WIRE_I64_SIZE;
	long n;

	*pairs = NULL;
	if (!c->msg.data_len)
		return 0;
	*pairs = malloc((cap ? cap : 1) * sizeof(**pairs));
	if (!*pairs)
		return -ENOMEM;
	n = ferry_i64s_decode(c->msg.data, c->msg.data_len, *pairs, cap);
	if (n >= 0 && n % 2 == 0)
		return n / 2;
	free(*pairs);
	*pairs = NULL;
	return -EINVAL;
}

long op_sock_credit(struct iond_call *c)
{
	struct iond_socks *ss;
	int64_t *pairs;
	long rc = call_socks(c, &ss);
	long n = rc ? rc : credit_pairs(c, &pairs);

	if (n < 0)
		return n;
	rc = iond_socks_credit(ss, pairs, (size_t)n);
	free(pairs);
	return rc;
}

long op_sock_poll(struct iond_call *c)
{
	struct iond_sock_batch b = {.out = c->scratch->data, .tmp = c->scratch->aux};
	struct iond_socks *ss;
	int64_t *pairs;
	int timeout_ms;
	long rc, n;

	rc = call_socks(c, &ss);
	if (rc)
		return rc;
	GET_INT(c, 0, timeout_ms);
	b.cap = c->msg.args[1] < 0 || (uint64_t)c->msg.args[1] > c->ctx->reply_data_max
			? c->ctx->reply_data_max
			: (size_t)c->msg.args[1];
	if (c->msg.args[1] < 0 || b.cap < FERRY_WIRE_SOCKEV_FIXED + FERRY_SOCKADDR_MAX)
		return -EINVAL;
	n = credit_pairs(c, &pairs);
	if (n < 0)
		return n;
	rc = iond_socks_poll(ss, c->msg.seq, timeout_ms, pairs, (size_t)n, &b);
	free(pairs);
	if (rc < 0)
		return rc;
	c->out_data = c->scratch->data;
	c->out_len = (uint32_t)b.len;
	return rc;
}

/* sendto(2) until all of it is gone (one datagram for UDP), waiting for
 * room interruptibly; bytes sent, or the error when none were. */
static long send_all(struct iond_call *c, struct iond_socks *ss, int fd, int type, int flags,
		     const struct sockaddr_storage *to, socklen_t to_len, const uint8_t *p,
		     size_t len)
{
	size_t sent = 0;

	do {
		ssize_t n = sendto(fd, p + sent, len - sent, flags | MSG_NOSIGNAL | MSG_DONTWAIT,
				   to_len ? (const struct sockaddr *)to : NULL, to_len);
		int rc;

		if (n >= 0) {
			sent += (size_t)n;
			continue;
		}
		rc = errno == EAGAIN ? iond_socks_wait_fd(ss, c->msg.seq, fd, POLLOUT, -1) : -errno;
		if (rc)
			return sent ? (long)sent : rc;
	} while (sent < len && type == SOCK_STREAM);
	return (long)sent;
}

long op_sock_send(struct iond_call *c)
{
	int64_t addr_len = c->msg.args[2];
	struct sockaddr_storage to;
	socklen_t to_len = 0;
	struct iond_socks *ss;
	int fd, type, flags;
	long rc = sock_handle(c, 0, &ss, &fd, &type);

	if (rc)
		return rc;
	GET_INT(c, 1, flags);
	if ((flags & ~SEND_FLAGS) || addr_len < 0 || addr_len > FERRY_SOCKADDR_MAX ||
	    addr_len > c->msg.data_len)
		return -EINVAL;
	if (addr_len) {
		sa_family_t family;

		if ((size_t)addr_len < sizeof(family))
			return -EINVAL;
		memcpy(&family, c->msg.data, sizeof(family));
		if (family != AF_INET && family != AF_INET6)
			return -EAFNOSUPPORT;
		rc = sockaddr_arg(c->msg.data, (size_t)addr_len, family, &to, &to_len);
		if (rc)
			return rc;
		if (!iond_sock_policy_connect_allowed(iond_sockets_policy(),
						      (struct sockaddr *)&to))
			return refuse(c, "send to", &to);
	}
	return send_all(c, ss, fd, type, flags, &to, to_len,
			(const uint8_t *)c->msg.data + addr_len,
			c->msg.data_len - (size_t)addr_len);
}

long op_sock_shutdown(struct iond_call *c)
{
	struct iond_socks *ss;
	int fd, type, how;
	int rc = sock_handle(c, 0, &ss, &fd, &type);

	if (rc)
		return rc;
	GET_INT(c, 1, how);
	/* A member's handle shares the job's listening socket: shutting it
	 * down would stop the other members' accepts. */
	if (iond_socks_member(ss, c->msg.args[0])) /* only tested, not used */
		return -ENOTCONN;
	return shutdown(fd, how) == 0 ? 0 : -errno;
}

/* ---- options and names ---- */

struct sockopt_rule {
	int level;
	int name;
	bool settable;
};

/* The options a program may set or read; others are ENOPROTOOPT. */
static const struct sockopt_rule sockopt_rules[] = {
	{SOL_SOCKET, SO_KEEPALIVE, true},     {SOL_SOCKET, SO_REUSEADDR, true},
	{SOL_SOCKET, SO_REUSEPORT, true},     {SOL_SOCKET, SO_LINGER, true},
	{SOL_SOCKET, SO_RCVBUF, true},        {SOL_SOCKET, SO_SNDBUF, true},
	{SOL_SOCKET, SO_BROADCAST, true},     {SOL_SOCKET, SO_ERROR, false},
	{SOL_SOCKET, SO_TYPE, false},         {IPPROTO_TCP, TCP_NODELAY, true},
	{IPPROTO_TCP, TCP_KEEPIDLE, true},    {IPPROTO_TCP, TCP_KEEPINTVL, true},
	{IPPROTO_TCP, TCP_KEEPCNT, true},     {IPPROTO_TCP, TCP_USER_TIMEOUT, true},
	{IPPROTO_TCP, TCP_CORK, true},        {IPPROTO_TCP, TCP_QUICKACK, true},
	{IPPROTO_IPV6, IPV6_V6ONLY, true},    {IPPROTO_IP, IP_TOS, true},
	{IPPROTO_IP, IP_TTL, true},
};

/* The socket in args[0] and the option in args[1..2], if allowed. */
static int sockopt_args(struct iond_call *c, bool set, int *fd, int *level, int *name)
{
	struct iond_socks *ss;
	int type;
	int rc = sock_handle(c, 0, &ss, fd, &type);

	if (rc)
		return rc;
	GET_INT(c, 1, *level);
	GET_INT(c, 2, *name);
	for (size_t i = 0; i < sizeof(sockopt_rules) / sizeof(sockopt_rules[0]); i++)
		if (sockopt_rules[i].level == *level && sockopt_rules[i].name == *name)
			return set && !sockopt_rules[i].settable ? -ENOPROTOOPT : 0;
	return -ENOPROTOOPT;
}

long op_sock_setopt(struct iond_call *c)
{
	int fd, level, name;
	int rc = sockopt_args(c, true, &fd, &level, &name);

	if (rc)
		return rc;
	if (c->msg.data_len > SOCKOPT_MAX)
		return -EINVAL;
	return setsockopt(fd, level, name, c->msg.data, c->msg.data_len) == 0 ? 0 : -errno;
}

long op_sock_getopt(struct iond_call *c)
{
	int fd, level, name;
	socklen_t len;
	int rc = sockopt_args(c, false, &fd, &level, &name);

	if (rc)
		return rc;
	if (c->msg.args[3] < 0 || c->msg.args[3] > SOCKOPT_MAX)
		return -EINVAL;
	len = (socklen_t)c->msg.args[3];
	if (getsockopt(fd, level, name, c->scratch->data, &len) != 0)
		return -errno;
	c->out_data = c->scratch->data;
	c->out_len = len;
	return 0;
}

long op_sock_name(struct iond_call *c)
{
	struct iond_socks *ss;
	int fd, type;
	int rc = sock_handle(c, 0, &ss, &fd, &type);

	if (rc)
		return rc;
	if (c->msg.args[1] != 0 && c->msg.args[1] != 1)
		return -EINVAL;
	return reply_name(c, fd, c->msg.args[1] == 1);
}
