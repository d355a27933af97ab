/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket forwarding, daemon side (SOCK_* opcodes), against servers and
 * clients this test runs on 127.0.0.1:
 *  - a TCP connection carries more than FERRY_SOCK_WINDOW bytes each way:
 *    the daemon stops reading when the credit is spent and goes on when it
 *    comes back; the peer's close is one EOF event;
 *  - a closed port is ECONNREFUSED; a connected UDP socket echoes; a bound
 *    one reports each datagram's source and sends to an address; AF_INET6;
 *    names, the option whitelist, ENOTSOCK, bad credit;
 *  - two sessions of one job listening on an allowed port form a cluster
 *    that takes connections round-robin; a session of another job gets
 *    EADDRINUSE; a port not in --listen-ports is EACCES; once a member
 *    session closes its connections go to the survivor, and the port
 *    closes with the last member;
 *  - another session's handle is EBADF;
 *  - ("pool") sessions waiting in SOCK_POLL do not hold up file calls;
 *  - ("policy") a [sockets] section refuses connects and datagrams outside
 *    its networks; ("disabled") --no-sockets refuses every socket call;
 *  - a connect the peer never answers ends at once on INTERRUPT (EINTR); a
 *    reset by the peer is one ERROR event, then a send fails;
 *  - SOCK_POLL times out with 0 events, is refused (EBUSY) while another
 *    one waits, and an INTERRUPT makes it return EINTR at once; SIGTERM
 *    ends one that waits without a limit (ESHUTDOWN) and the daemon exits
 *    at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iond_harness.h"

#define STREAM_BYTES (FERRY_SOCK_WINDOW + 300000) /* more than one window each way */
#define POLL_MAX (64 << 10)
#define JOB 7
#define OTHER_JOB 8

/* ---- the protocol, one call each ---- */

static long sock_call(struct iond_client *c, uint16_t op, const int64_t *args, int nargs,
		      const void *data, size_t len, struct iond_reply *rep)
{
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m, op, 0, 0);
	for (int i = 0; i < nargs; i++)
		ferry_msg_add_arg(&m, args[i]);
	m.data = data;
	m.data_len = (uint32_t)len;
	rc = iond_call_msg(c, &m, NULL, rep, 30000);
	return rc ? rc : iond_rc(rep);
}

static long sk_open(struct iond_client *c, uint16_t op, int type, const struct sockaddr_in *sa,
		    struct iond_reply *rep)
{
	int64_t args[] = {AF_INET, type, 0};

	return sock_call(c, op, args, 3, sa, sizeof(*sa), rep);
}

static long sk_listen(struct iond_client *c, int64_t h, int64_t credit, struct iond_reply *rep)
{
	int64_t args[] = {h, 16, credit};

	return sock_call(c, FERRY_OP_SOCK_LISTEN, args, 3, NULL, 0, rep);
}

/* SOCK_POLL returning credit for (handle, amount); rep holds the events. */
static long sk_poll(struct iond_client *c, int timeout_ms, int64_t h, int64_t credit,
		    struct iond_reply *rep)
{
	int64_t args[] = {timeout_ms, POLL_MAX};
	int64_t pairs[2] = {h, credit};
	unsigned char wire[sizeof(pairs)];

	ferry_i64s_encode(pairs, 2, wire, sizeof(wire));
	return sock_call(c, FERRY_OP_SOCK_POLL, args, 2, wire, credit ? sizeof(wire) : 0, rep);
}

static long sk_send(struct iond_client *c, int64_t h, const void *buf, size_t len,
		    struct iond_reply *rep)
{
	int64_t args[] = {h, 0, 0};

	return sock_call(c, FERRY_OP_SOCK_SEND, args, 3, buf, len, rep);
}

/* Decode the i-th event of a SOCK_POLL reply. */
static void event_at(const struct iond_reply *rep, size_t *off, struct ferry_sockev *ev)
{
	int rc = ferry_sockev_decode(rep->msg.data, rep->msg.data_len, off, ev);

	CHECK(rc == 1, "event decode: %d", rc);
}

/* ---- local peers ---- */

static int local_socket(int type, struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0, "socket: %s", strerror(errno));
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0, "bind: %s", strerror(errno));
	CHECK(getsockname(fd, (struct sockaddr *)sa, &len) == 0, "getsockname: %s",
	      strerror(errno));
	return fd;
}

/* A port nobody listens on (bound once, then released). */
static unsigned short free_port(void)
{
	struct sockaddr_in sa;
	int fd = local_socket(SOCK_STREAM, &sa);

	close(fd);
	return ntohs(sa.sin_port);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static void write_all(int fd, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		CHECK(n > 0, "write: %s", strerror(errno));
		done += (size_t)n;
	}
}

/* The TCP peer: sends STREAM_BYTES, checks STREAM_BYTES coming back and
 * then the end of the stream (SOCK_SHUTDOWN), says "OK" and closes. */
static void *stream_peer(void *arg)
{
	int lfd = *(int *)arg;
	int fd = accept(lfd, NULL, NULL);
	unsigned char *buf = malloc(STREAM_BYTES);
	size_t got = 0;

	CHECK(fd >= 0 && buf, "accept: %s", strerror(errno));
	for (size_t i = 0; i < STREAM_BYTES; i++)
		buf[i] = pattern(i);
	write_all(fd, buf, STREAM_BYTES);
	while (got < STREAM_BYTES) {
		ssize_t n = read(fd, buf + got, STREAM_BYTES - got);

		CHECK(n > 0, "peer read: %zd (%s) after %zu", n, strerror(errno), got);
		got += (size_t)n;
	}
	for (size_t i = 0; i < STREAM_BYTES; i++)
		CHECK(buf[i] == pattern(i + 1), "peer: byte %zu differs", i);
	CHECK(read(fd, buf, 1) == 0, "peer: no end of stream after the data");
	write_all(fd, "OK", 2);
	close(fd);
	free(buf);
	return NULL;
}

/* ---- the behaviours ---- */

/* Receive STREAM_BYTES through SOCK_POLL, returning credit only as the
 * test "consumes" it: with the credit spent, the daemon holds the rest. */
static void receive_stream(struct iond_client *c, int64_t h, struct iond_reply *rep)
{
	size_t got = 0, unreturned = 0;
	bool stalled = false;

	while (got < STREAM_BYTES) {
		size_t off = 0;
		long n;

		/* Hold the credit back once, when the window is spent. */
		if (!stalled && unreturned == FERRY_SOCK_WINDOW) {
			n = sk_poll(c, 300, h, 0, rep);
			CHECK_ERR(n, 0);
			stalled = true;
		}
		n = sk_poll(c, 10000, h, stalled ? (int64_t)unreturned : 0, rep);
		CHECK(n > 0, "poll: %ld (%s) after %zu bytes", n, iond_errname(n), got);
		if (stalled)
			unreturned = 0;
		for (long i = 0; i < n; i++) {
			struct ferry_sockev ev;

			event_at(rep, &off, &ev);
			CHECK(ev.handle == h && ev.kind == FERRY_SOCKEV_DATA,
			      "event kind %u on %lld", ev.kind, (long long)ev.handle);
			for (uint32_t k = 0; k < ev.data_len; k++)
				CHECK(((const unsigned char *)ev.data)[k] == pattern(got + k),
				      "byte %zu differs", got + k);
			got += ev.data_len;
			unreturned += ev.data_len;
		}
		CHECK(unreturned <= FERRY_SOCK_WINDOW, "%zu bytes beyond the credit", unreturned);
	}
	CHECK(stalled, "the window was never spent");
}

static void send_stream(struct iond_client *c, int64_t h, struct iond_reply *rep)
{
	size_t chunk = ferry_rpc_client_inline_max(c->rpc) / 2;
	unsigned char *buf = malloc(chunk);

	CHECK(buf, "out of memory");
	for (size_t sent = 0; sent < STREAM_BYTES;) {
		size_t len = STREAM_BYTES - sent < chunk ? STREAM_BYTES - sent : chunk;

		for (size_t k = 0; k < len; k++)
			buf[k] = pattern(sent + k + 1);
		CHECK_ERR(sk_send(c, h, buf, len, rep), (long)len);
		sent += len;
	}
	free(buf);
}

/* After the peer's "OK": one EOF, then nothing more. */
static void expect_ok_then_eof(struct iond_client *c, int64_t h, struct iond_reply *rep)
{
	bool ok = false, eof = false;

	while (!eof) {
		size_t off = 0;
		long n = sk_poll(c, 10000, h, FERRY_SOCK_WINDOW, rep);

		CHECK(n > 0, "poll: %s", iond_errname(n));
		for (long i = 0; i < n; i++) {
			struct ferry_sockev ev;

			event_at(rep, &off, &ev);
			if (ev.kind == FERRY_SOCKEV_DATA) {
				CHECK(!eof && ev.data_len == 2 && !memcmp(ev.data, "OK", 2),
				      "unexpected data");
				ok = true;
			} else {
				CHECK(ev.kind == FERRY_SOCKEV_EOF && ok && !eof, "event kind %u",
				      ev.kind);
				eof = true;
			}
		}
	}
	CHECK_ERR(sk_poll(c, 200, h, FERRY_SOCK_WINDOW, rep), 0); /* EOF came once */
}

static long sk_getopt_int(struct iond_client *c, int64_t h, int level, int name,
			  struct iond_reply *rep)
{
	int64_t args[] = {h, level, name, sizeof(int)};
	long rc = sock_call(c, FERRY_OP_SOCK_GETOPT, args, 4, NULL, 0, rep);
	int value;

	if (rc < 0)
		return rc;
	CHECK(rep->msg.data_len == sizeof(int), "option of %u bytes", rep->msg.data_len);
	memcpy(&value, rep->msg.data, sizeof(value));
	return value;
}

static long sk_setopt_int(struct iond_client *c, int64_t h, int level, int name, int value,
			  struct iond_reply *rep)
{
	int64_t args[] = {h, level, name};

	return sock_call(c, FERRY_OP_SOCK_SETOPT, args, 3, &value, sizeof(value), rep);
}

/* Names and the option whitelist on a connected socket; a file is not one. */
static void options_and_names(struct iond_client *c, int64_t h, const struct sockaddr_in *peer,
			      struct iond_reply *rep)
{
	int64_t args[] = {h, 1};
	long file;

	CHECK_ERR(sock_call(c, FERRY_OP_SOCK_NAME, args, 2, NULL, 0, rep), 0);
	CHECK(rep->msg.data_len == sizeof(*peer) && !memcmp(rep->msg.data, peer, sizeof(*peer)),
	      "SOCK_NAME peer is not the server");
	CHECK_ERR(sk_setopt_int(c, h, IPPROTO_TCP, TCP_NODELAY, 1, rep), 0);
	CHECK_ERR(sk_getopt_int(c, h, IPPROTO_TCP, TCP_NODELAY, rep), 1);
	CHECK_ERR(sk_getopt_int(c, h, SOL_SOCKET, SO_TYPE, rep), SOCK_STREAM);
	CHECK_ERR(sk_setopt_int(c, h, SOL_SOCKET, SO_TYPE, 1, rep), -ENOPROTOOPT);
	CHECK_ERR(sk_setopt_int(c, h, SOL_SOCKET, SO_BINDTODEVICE, 1, rep), -ENOPROTOOPT);
	{
		/* Credit is never negative, and comes in whole pairs. */
		int64_t bad[2] = {h, -5};
		unsigned char wire[sizeof(bad)];

		ferry_i64s_encode(bad, 2, wire, sizeof(wire));
		CHECK_ERR(sock_call(c, FERRY_OP_SOCK_CREDIT, NULL, 0, wire, sizeof(wire), rep),
			  -EINVAL);
		CHECK_ERR(sock_call(c, FERRY_OP_SOCK_CREDIT, NULL, 0, wire, 8, rep), -EINVAL);
	}
	file = iond_openat(c, "/pfs/not-a-socket", O_CREAT | O_RDWR, 0644);
	CHECK(file >= 0, "openat: %s", iond_errname(file));
	CHECK_ERR(sk_send(c, file, "x", 1, rep), -ENOTSOCK);
	CHECK_ERR(iond_close_handle(c, file), 0);
}

static void tcp_both_ways(struct iond_client *c, struct iond_reply *rep)
{
	struct sockaddr_in sa;
	int lfd = local_socket(SOCK_STREAM, &sa);
	pthread_t peer;
	long h;

	CHECK(listen(lfd, 4) == 0, "listen: %s", strerror(errno));
	CHECK(pthread_create(&peer, NULL, stream_peer, &lfd) == 0, "pthread_create");
	h = sk_open(c, FERRY_OP_SOCK_CONNECT, SOCK_STREAM, &sa, rep);
	CHECK(h >= 0, "connect: %s", iond_errname(h));
	CHECK(rep->msg.data_len == sizeof(struct sockaddr_in), "local address of %u bytes",
	      rep->msg.data_len);
	options_and_names(c, h, &sa, rep);
	receive_stream(c, h, rep);
	send_stream(c, h, rep);
	{
		int64_t args[] = {h, SHUT_WR};

		CHECK_ERR(sock_call(c, FERRY_OP_SOCK_SHUTDOWN, args, 2, NULL, 0, rep), 0);
	}
	expect_ok_then_eof(c, h, rep);
	pthread_join(peer, NULL);
	CHECK_ERR(iond_close_handle(c, h), 0);
	close(lfd);
}

static void refused(struct iond_client *c, struct iond_reply *rep)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(free_port()),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	CHECK_ERR(sk_open(c, FERRY_OP_SOCK_CONNECT, SOCK_STREAM, &sa, rep), -ECONNREFUSED);
}

static void udp_echo(struct iond_client *c, struct iond_reply *rep)
{
	struct sockaddr_in sa, from;
	socklen_t from_len = sizeof(from);
	int fd = local_socket(SOCK_DGRAM, &sa);
	char buf[64];
	struct ferry_sockev ev;
	size_t off = 0;
	ssize_t n;
	long h;

	h = sk_open(c, FERRY_OP_SOCK_CONNECT, SOCK_DGRAM, &sa, rep);
	CHECK(h >= 0, "udp connect: %s", iond_errname(h));
	CHECK_ERR(sk_send(c, h, "ping", 4, rep), 4);
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len);
	CHECK(n == 4 && !memcmp(buf, "ping", 4), "datagram of %zd bytes", n);
	CHECK(sendto(fd, "pong!", 5, 0, (struct sockaddr *)&from, from_len) == 5, "sendto: %s",
	      strerror(errno));
	CHECK_ERR(sk_poll(c, 5000, -1, 0, rep), 1);
	event_at(rep, &off, &ev);
	CHECK(ev.kind == FERRY_SOCKEV_DATA && ev.handle == h && ev.data_len == 5 &&
		      !memcmp(ev.data, "pong!", 5),
	      "udp event kind %u, %u bytes", ev.kind, ev.data_len);
	CHECK(ev.addr_len == sizeof(sa) && !memcmp(ev.addr, &sa, sizeof(sa)),
	      "datagram source not the peer");
	CHECK_ERR(iond_close_handle(c, h), 0);
	close(fd);
}

/* A UDP socket bound on an allowed port: datagrams from anyone, each with
 * its source; replies addressed per datagram. */
static void udp_bound(struct iond_client *c, unsigned short port, struct iond_reply *rep)
{
	struct sockaddr_in at = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in me;
	int fd = local_socket(SOCK_DGRAM, &me);
	unsigned char msg[sizeof(me) + 5];
	struct ferry_sockev ev;
	size_t off = 0;
	char buf[16];
	long h;

	h = sk_open(c, FERRY_OP_SOCK_BIND, SOCK_DGRAM, &at, rep);
	CHECK(h >= 0, "udp bind: %s", iond_errname(h));
	CHECK(sendto(fd, "query", 5, 0, (struct sockaddr *)&at, sizeof(at)) == 5, "sendto: %s",
	      strerror(errno));
	CHECK_ERR(sk_poll(c, 5000, -1, 0, rep), 1);
	event_at(rep, &off, &ev);
	CHECK(ev.kind == FERRY_SOCKEV_DATA && ev.data_len == 5 && ev.addr_len == sizeof(me) &&
		      !memcmp(ev.addr, &me, sizeof(me)),
	      "datagram event without its source");
	{
		int64_t args[] = {h, 0, sizeof(me)};

		memcpy(msg, &me, sizeof(me));
		memcpy(msg + sizeof(me), "reply", 5);
		CHECK_ERR(sock_call(c, FERRY_OP_SOCK_SEND, args, 3, msg, sizeof(msg), rep), 5);
	}
	CHECK(recv(fd, buf, sizeof(buf), 0) == 5 && !memcmp(buf, "reply", 5), "no reply");
	CHECK_ERR(iond_close_handle(c, h), 0);
	close(fd);
}

/* AF_INET6: connect to a server on ::1 (skipped where the host has no IPv6). */
static void tcp6(struct iond_client *c, struct iond_reply *rep)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t len = sizeof(sa);
	int64_t args[] = {AF_INET6, SOCK_STREAM, 0};
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	long h;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		printf("no IPv6 loopback here: AF_INET6 not tested\n");
		if (lfd >= 0)
			close(lfd);
		return;
	}
	CHECK(listen(lfd, 1) == 0 && getsockname(lfd, (struct sockaddr *)&sa, &len) == 0,
	      "listen: %s", strerror(errno));
	h = sock_call(c, FERRY_OP_SOCK_CONNECT, args, 3, &sa, sizeof(sa), rep);
	CHECK(h >= 0, "connect to [::1]: %s", iond_errname(h));
	CHECK(rep->msg.data_len == sizeof(sa), "local address of %u bytes", rep->msg.data_len);
	CHECK_ERR(iond_close_handle(c, h), 0);
	close(lfd);
}

/* ---- clusters ---- */

struct member {
	struct iond_client c;
	int64_t listener;
	int accepted;
};

static void join(struct member *m, const char *uri, const struct sockaddr_in *sa,
		 struct iond_reply *rep)
{
	long h;

	CHECK_ERR(iond_client_open(&m->c, uri, JOB), 0);
	h = sk_open(&m->c, FERRY_OP_SOCK_BIND, SOCK_STREAM, sa, rep);
	CHECK(h >= 0, "bind: %s", iond_errname(h));
	m->listener = h;
	CHECK_ERR(sk_listen(&m->c, h, 100, rep), 0);
}

static int dial(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0, "socket: %s", strerror(errno));
	CHECK(connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0, "dial: %s",
	      strerror(errno));
	return fd;
}

/* Take one connection's ACCEPT from m (waiting up to timeout_ms) and read
 * the byte the dialer sent on it.  Returns the byte, or -1 with no ACCEPT. */
static int take_connection(struct member *m, int timeout_ms, struct iond_reply *rep)
{
	int64_t conn = -1;
	int byte = -1;

	while (byte < 0) {
		size_t off = 0;
		long n = sk_poll(&m->c, conn < 0 ? timeout_ms : 5000, -1, 0, rep);

		CHECK(n >= 0, "poll: %s", iond_errname(n));
		if (n == 0) {
			CHECK(conn < 0, "no data on the accepted connection");
			return -1;
		}
		for (long i = 0; i < n; i++) {
			struct ferry_sockev ev;

			event_at(rep, &off, &ev);
			if (ev.kind == FERRY_SOCKEV_ACCEPT) {
				CHECK(conn < 0 && ev.handle == m->listener && ev.aux >= 0 &&
					      ev.addr_len == sizeof(struct sockaddr_in),
				      "ACCEPT on %lld", (long long)ev.handle);
				conn = ev.aux;
				m->accepted++;
				continue;
			}
			CHECK(ev.kind == FERRY_SOCKEV_DATA && ev.handle == conn && ev.data_len == 1,
			      "event kind %u on %lld", ev.kind, (long long)ev.handle);
			byte = ((const unsigned char *)ev.data)[0];
		}
	}
	return byte;
}

/* Wait up to timeout_ms for count lines containing needle in the log. */
static bool wait_log_count(const struct iond_daemon *d, const char *needle, int count,
			   int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		FILE *f = fopen(d->log_path, "r");
		char line[2048];
		int n = 0;

		CHECK(f, "%s: %s", d->log_path, strerror(errno));
		while (fgets(line, sizeof(line), f))
			n += strstr(line, needle) != NULL;
		fclose(f);
		if (n >= count)
			return true;
		usleep(50000);
	}
	return false;
}

static void cluster(const struct iond_daemon *d, unsigned short allowed, unsigned short denied,
		    struct iond_reply *rep)
{
	const char *uri = d->uri;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(allowed),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct member a = {0}, b = {0}, stranger = {0};
	int fds[9];

	join(&a, uri, &sa, rep);
	join(&b, uri, &sa, rep);

	/* Another job may not take the port; nobody may take an other port. */
	CHECK_ERR(iond_client_open(&stranger.c, uri, OTHER_JOB), 0);
	CHECK_ERR(sk_open(&stranger.c, FERRY_OP_SOCK_BIND, SOCK_STREAM, &sa, rep), -EADDRINUSE);
	sa.sin_port = htons(denied);
	CHECK_ERR(sk_open(&a.c, FERRY_OP_SOCK_BIND, SOCK_STREAM, &sa, rep), -EACCES);
	CHECK_ERR(sk_open(&a.c, FERRY_OP_SOCK_BIND, SOCK_DGRAM, &sa, rep), -EACCES);
	/* Port 0 is an unconnected UDP client's (sendto only): always allowed;
	 * a TCP listener's port 0 is not. */
	sa.sin_port = 0;
	CHECK_ERR(sk_open(&a.c, FERRY_OP_SOCK_BIND, SOCK_STREAM, &sa, rep), -EACCES);
	CHECK(sk_open(&a.c, FERRY_OP_SOCK_BIND, SOCK_DGRAM, &sa, rep) >= 0, "UDP bind of port 0");
	sa.sin_port = htons(allowed);

	/* Four connections, one at a time, each once both members are past
	 * the acceptor's 100 ms preference for the one that polled last. */
	for (int i = 0; i < 4; i++) {
		struct member *taker = NULL;

		usleep(150 * 1000);
		fds[i] = dial(&sa);
		write_all(fds[i], &(unsigned char){(unsigned char)i}, 1);
		for (int tries = 0; !taker && tries < 50; tries++) {
			if (take_connection(&a, 100, rep) == i)
				taker = &a;
			else if (take_connection(&b, 100, rep) == i)
				taker = &b;
		}
		CHECK(taker, "connection %d reached nobody", i);
		CHECK(take_connection(taker == &a ? &b : &a, 100, rep) < 0,
		      "connection %d announced twice", i);
	}
	/* Both get some; strict alternation is not promised (the acceptor
	 * prefers the member whose client is polling). */
	CHECK(a.accepted >= 1 && b.accepted >= 1, "spread: a %d, b %d", a.accepted, b.accepted);

	/* One job's handles are not another's. */
	CHECK_ERR(sk_send(&stranger.c, b.listener, "x", 1, rep), -EBADF);

	/* One connection to each member, neither polled yet; a's session
	 * ends: the one handed to a is closed, b's still arrives, and the
	 * survivor takes everything after.  Neither has polled for longer
	 * than the acceptor's grace (100 ms), so neither is preferred as
	 * surely alive and they alternate. */
	usleep(150 * 1000);
	for (int i = 4; i < 6; i++) {
		fds[i] = dial(&sa);
		write_all(fds[i], &(unsigned char){(unsigned char)i}, 1);
	}
	CHECK(wait_log_count(d, "handed over", 6, 10000), "connections not handed over");
	{
		struct ferry_msg m;

		ferry_msg_init(&m, FERRY_OP_SESSION_CLOSE, 0, 0);
		CHECK(iond_call_msg(&a.c, &m, NULL, rep, 0) == 0 && iond_rc(rep) == 0,
		      "session close");
	}
	{
		int at_b = take_connection(&b, 5000, rep);
		int closed = at_b == 4 ? fds[5] : fds[4];
		char byte;

		CHECK(at_b == 4 || at_b == 5, "survivor got %d", at_b);
		CHECK(read(closed, &byte, 1) <= 0, "a's undelivered connection still open");
	}
	for (int i = 6; i < 9; i++) {
		fds[i] = dial(&sa);
		write_all(fds[i], &(unsigned char){(unsigned char)i}, 1);
		CHECK(take_connection(&b, 5000, rep) == i, "connection %d not at the survivor", i);
	}
	/* The last member leaves: the port closes. */
	CHECK_ERR(iond_close_handle(&b.c, b.listener), 0);
	{
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
			      errno == ECONNREFUSED,
		      "port still open after the last member left");
		close(fd);
	}
	for (int i = 0; i < 9; i++)
		close(fds[i]);
	iond_client_close(&a.c);
	iond_client_close(&b.c);
	iond_client_close(&stranger.c);
}

/* ---- waiting ---- */

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* A call that blocks in the daemon, made from a thread with a sequence
 * number the test knows (for its INTERRUPT): a SOCK_POLL, or a
 * SOCK_CONNECT to connect_to. */
struct waiter {
	struct iond_client *c;
	uint64_t seq;
	int timeout_ms;
	const struct sockaddr_in *connect_to;
	long result;
	long took_ms;
};

static void waiter_msg(const struct waiter *w, uint64_t seq, struct ferry_msg *m)
{
	if (w->connect_to) {
		ferry_msg_init(m, FERRY_OP_SOCK_CONNECT, w->c->session, seq);
		ferry_msg_add_arg(m, AF_INET);
		ferry_msg_add_arg(m, SOCK_STREAM);
		ferry_msg_add_arg(m, 0);
		m->data = w->connect_to;
		m->data_len = sizeof(*w->connect_to);
		return;
	}
	ferry_msg_init(m, FERRY_OP_SOCK_POLL, w->c->session, seq);
	ferry_msg_add_arg(m, w->timeout_ms);
	ferry_msg_add_arg(m, POLL_MAX);
}

/* The waiter's call; a SOCK_POLL is sent again while the test's own probes
 * make it EBUSY. */
static void *blocked_call(void *arg)
{
	struct iond_reply *rep = malloc(sizeof(*rep)); /* one per thread */
	struct waiter *w = arg;
	unsigned char buf[256];
	struct timespec t0;

	CHECK(rep, "out of memory");
	do {
		uint64_t seq = __atomic_add_fetch(&w->c->seq, 1, __ATOMIC_RELAXED);
		struct ferry_msg m;
		long len;
		int rc;

		__atomic_store_n(&w->seq, seq, __ATOMIC_RELEASE);
		waiter_msg(w, seq, &m);
		len = ferry_msg_encode(&m, buf, sizeof(buf));
		CHECK(len > 0, "encode");
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = iond_call_raw(w->c, buf, (size_t)len, rep, 60000);
		w->result = rc ? rc : iond_rc(rep);
	} while (w->result == -EBUSY);
	w->took_ms = elapsed_ms(&t0);
	free(rep);
	return NULL;
}

/* Start w's SOCK_POLL in t and wait until it waits: a second one is then
 * refused. */
static void start_long_poll(struct waiter *w, int timeout_ms, pthread_t *t,
			    struct iond_reply *rep)
{
	long n = 0;

	w->timeout_ms = timeout_ms;
	CHECK(pthread_create(t, NULL, blocked_call, w) == 0, "pthread_create");
	for (int i = 0; i < 100; i++) {
		n = sk_poll(w->c, 0, -1, 0, rep);
		if (n == -EBUSY)
			break;
		CHECK_ERR(n, 0);
		usleep(20000);
	}
	CHECK_ERR(n, -EBUSY);
}

static long interrupt_call(struct iond_client *c, struct waiter *w, struct iond_reply *rep)
{
	int64_t args[] = {(int64_t)__atomic_load_n(&w->seq, __ATOMIC_ACQUIRE)};

	return sock_call(c, FERRY_OP_INTERRUPT, args, 1, NULL, 0, rep);
}

static void poll_waits(struct iond_client *c, struct iond_reply *rep)
{
	struct waiter w = {.c = c};
	struct timespec t0;
	pthread_t t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_ERR(sk_poll(c, 300, -1, 0, rep), 0);
	CHECK(elapsed_ms(&t0) >= 290, "timed out after %ld ms", elapsed_ms(&t0));

	start_long_poll(&w, 20000, &t, rep);
	CHECK_ERR(interrupt_call(c, &w, rep), 0);
	pthread_join(t, NULL);
	CHECK_ERR(w.result, -EINTR);
	CHECK(w.took_ms < 5000, "interrupted poll took %ld ms", w.took_ms);
}

/* ---- the daemon's policy ---- */

/* A config file whose [sockets] allows binding port and connecting only to
 * 10.0.0.0/8: connecting to, or sending a datagram to, 127.0.0.1 is EACCES. */
static void policy(const char *transport, unsigned short port, struct iond_reply *rep)
{
	const char *tmp = getenv("TMPDIR");
	char conf[256];
	const char *args[] = {"--config", conf, NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct iond_daemon d;
	struct iond_client c;
	FILE *f;
	long h;

	snprintf(conf, sizeof(conf), "%s/iond-sockets-%d.conf", tmp && *tmp ? tmp : "/tmp",
		 (int)getpid());
	f = fopen(conf, "w");
	CHECK(f, "%s: %s", conf, strerror(errno));
	fprintf(f, "[sockets]\nenable = yes\nlisten_ports = %u\nconnect = 10.0.0.0/8\n", port);
	fclose(f);
	iond_daemon_start(&d, transport, args);
	unlink(conf);
	CHECK_ERR(iond_client_open(&c, d.uri, JOB), 0);
	CHECK_ERR(sk_open(&c, FERRY_OP_SOCK_CONNECT, SOCK_STREAM, &sa, rep), -EACCES);
	h = sk_open(&c, FERRY_OP_SOCK_BIND, SOCK_DGRAM, &sa, rep);
	CHECK(h >= 0, "udp bind on an allowed port: %s", iond_errname(h));
	{
		int64_t args3[] = {h, 0, sizeof(sa)};
		unsigned char msg[sizeof(sa) + 2];

		memcpy(msg, &sa, sizeof(sa));
		memcpy(msg + sizeof(sa), "hi", 2);
		CHECK_ERR(sock_call(&c, FERRY_OP_SOCK_SEND, args3, 3, msg, sizeof(msg), rep),
			  -EACCES);
	}
	CHECK(iond_log_contains(&d, "job=7 connect to 127.0.0.1:", 0), "no refusal line");
	iond_client_close(&c);
}

/* --no-sockets: every socket call is EACCES. */
static void disabled(const char *transport, struct iond_reply *rep)
{
	const char *args[] = {"--no-sockets", NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(free_port()),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct iond_daemon d;
	struct iond_client c;

	iond_daemon_start(&d, transport, args);
	CHECK_ERR(iond_client_open(&c, d.uri, JOB), 0);
	CHECK_ERR(sk_open(&c, FERRY_OP_SOCK_CONNECT, SOCK_STREAM, &sa, rep), -EACCES);
	CHECK_ERR(sk_poll(&c, 0, -1, 0, rep), -EACCES);
	CHECK(iond_log_contains(&d, "SOCK_CONNECT refused: sockets are disabled", 0),
	      "no refusal line");
	iond_client_close(&c);
}

/* A connect the peer never answers (its accept queue is full, so the SYNs
 * are dropped) returns EINTR at once on INTERRUPT. */
static void connect_interrupted(struct iond_client *c, struct iond_reply *rep)
{
	struct sockaddr_in sa;
	int lfd = local_socket(SOCK_STREAM, &sa);
	struct waiter w = {.c = c, .connect_to = &sa};
	int fillers[32], n;
	bool hangs = false;
	pthread_t t;

	CHECK(listen(lfd, 0) == 0, "listen: %s", strerror(errno));
	for (n = 0; n < 32 && !hangs; n++) {
		struct pollfd pfd = {.events = POLLOUT};

		fillers[n] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		pfd.fd = fillers[n];
		CHECK(fillers[n] >= 0, "socket: %s", strerror(errno));
		if (connect(fillers[n], (struct sockaddr *)&sa, sizeof(sa)) == 0)
			continue;
		CHECK(errno == EINPROGRESS, "connect: %s", strerror(errno));
		hangs = poll(&pfd, 1, 1000) == 0; /* a queued one completes in microseconds */
	}
	CHECK(hangs, "the accept queue never filled");
	CHECK(pthread_create(&t, NULL, blocked_call, &w) == 0, "pthread_create");
	usleep(300000); /* the daemon is in connect(2) by now */
	CHECK_ERR(interrupt_call(c, &w, rep), 0);
	pthread_join(t, NULL);
	CHECK_ERR(w.result, -EINTR);
	CHECK(w.took_ms < 5000, "interrupted connect took %ld ms", w.took_ms);
	for (int i = 0; i < n; i++)
		close(fillers[i]);
	close(lfd);
}

/* The peer resets the connection: one ERROR event (ECONNRESET), then
 * nothing; a send fails with the kernel's errno. */
static void reset_by_peer(struct iond_client *c, struct iond_reply *rep)
{
	struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
	struct sockaddr_in sa;
	int lfd = local_socket(SOCK_STREAM, &sa);
	struct ferry_sockev ev;
	size_t off = 0;
	long h, sent;
	int fd;

	CHECK(listen(lfd, 1) == 0, "listen: %s", strerror(errno));
	h = sk_open(c, FERRY_OP_SOCK_CONNECT, SOCK_STREAM, &sa, rep);
	CHECK(h >= 0, "connect: %s", iond_errname(h));
	fd = accept(lfd, NULL, NULL);
	CHECK(fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close,
				     sizeof(abort_close)) == 0,
	      "accept: %s", strerror(errno));
	close(fd);
	CHECK_ERR(sk_poll(c, 5000, -1, 0, rep), 1);
	event_at(rep, &off, &ev);
	CHECK(ev.kind == FERRY_SOCKEV_ERROR && ev.handle == h && ev.value == ECONNRESET,
	      "event kind %u value %d", ev.kind, ev.value);
	CHECK_ERR(sk_poll(c, 200, -1, 0, rep), 0);
	sent = sk_send(c, h, "late", 4, rep);
	CHECK(sent == -EPIPE || sent == -ECONNRESET, "send after reset: %s", iond_errname(sent));
	CHECK_ERR(iond_close_handle(c, h), 0);
	close(lfd);
}

/* With one file worker (--workers 1 --max-workers 1), sessions waiting in
 * SOCK_POLL do not hold up another session's file calls: socket calls have
 * their own pool. */
static void own_pool(const char *transport, struct iond_reply *rep)
{
	const char *args[] = {"--workers", "1", "--max-workers", "1", NULL};
	struct iond_client waiting[3], c;
	struct waiter w[3];
	pthread_t t[3];
	struct iond_daemon d;
	struct timespec t0;
	long h;

	iond_daemon_start(&d, transport, args);
	for (int i = 0; i < 3; i++) {
		CHECK_ERR(iond_client_open(&waiting[i], d.uri, JOB), 0);
		w[i] = (struct waiter){.c = &waiting[i]};
		start_long_poll(&w[i], 20000, &t[i], rep);
	}
	CHECK_ERR(iond_client_open(&c, d.uri, JOB), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h = iond_openat(&c, "/pfs/while-sockets-wait", O_CREAT | O_RDWR, 0644);
	CHECK(h >= 0, "openat: %s", iond_errname(h));
	CHECK_ERR(iond_close_handle(&c, h), 0);
	CHECK(elapsed_ms(&t0) < 3000, "file calls waited %ld ms behind socket waits",
	      elapsed_ms(&t0));
	for (int i = 0; i < 3; i++) {
		CHECK_ERR(interrupt_call(&waiting[i], &w[i], rep), 0);
		pthread_join(t[i], NULL);
		CHECK_ERR(w[i].result, -EINTR);
		iond_client_close(&waiting[i]);
	}
	iond_client_close(&c);
}

int main(int argc, char **argv)
{
	const char *transport = iond_test_begin(argc, argv, 150);
	unsigned short allowed = free_port(), denied = free_port();
	struct iond_reply *rep = malloc(sizeof(*rep));
	char ports[16];
	const char *args[] = {"--listen-ports", ports, "--log-level", "debug", NULL};
	struct iond_daemon d;
	struct iond_client c;

	CHECK(rep, "out of memory");
	if (argc > 2 && !strcmp(argv[2], "policy")) {
		policy(transport, allowed, rep);
		free(rep);
		iond_test_pass("sockets policy");
	}
	if (argc > 2 && !strcmp(argv[2], "pool")) {
		own_pool(transport, rep);
		free(rep);
		iond_test_pass("sockets own pool");
	}
	if (argc > 2 && !strcmp(argv[2], "disabled")) {
		disabled(transport, rep);
		free(rep);
		iond_test_pass("sockets disabled");
	}
	snprintf(ports, sizeof(ports), "%u", allowed);
	iond_daemon_start(&d, transport, args);
	CHECK_ERR(iond_client_open(&c, d.uri, JOB), 0);

	tcp_both_ways(&c, rep);
	refused(&c, rep);
	udp_echo(&c, rep);
	udp_bound(&c, allowed, rep);
	tcp6(&c, rep);
	poll_waits(&c, rep);
	connect_interrupted(&c, rep);
	reset_by_peer(&c, rep);
	cluster(&d, allowed, denied, rep);
	CHECK(iond_log_contains(&d, "joins (2 members)", 0), "no cluster join line");
	CHECK(iond_log_contains(&d, "listening socket closed", 0), "no cluster close line");
	CHECK(iond_log_contains(&d, "refused by the daemon's [sockets] policy", 0),
	      "no refusal line");

	/* SIGTERM ends a SOCK_POLL that waits without a limit at once, rather
	 * than after the drain timeout (10 s). */
	{
		struct waiter w = {.c = &c};
		struct timespec t0;
		pthread_t t;
		int status;

		start_long_poll(&w, -1, &t, rep);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		status = iond_daemon_stop(&d, SIGTERM, 30);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %#x", status);
		CHECK(elapsed_ms(&t0) < 5000, "shutdown took %ld ms", elapsed_ms(&t0));
		pthread_join(t, NULL);
		CHECK_ERR(w.result, -ESHUTDOWN);
	}
	iond_client_close(&c);
	free(rep);
	iond_test_pass("sockets");
}
