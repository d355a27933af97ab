/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One socket behaviour per subcommand, for sockets.sh (run under ferry-exec
 * with the destination forwarded, and natively for comparison).  Prints
 * "ok ..." and exits 0, or names what went wrong and exits 1.
 *
 *   sock_client echo PORT BYTES      blocking connect, BYTES both ways at once
 *                                    (writer thread), names, shutdown(SHUT_WR)
 *                                    then the rest of the echo
 *   sock_client nbconnect PORT       non-blocking connect: EINPROGRESS, EALREADY
 *                                    or EISCONN, POLLOUT, SO_ERROR 0, EISCONN
 *   sock_client refused PORT         ECONNREFUSED blocking; SO_ERROR non-blocking
 *   sock_client mixpoll PORT         poll, epoll and select over a forwarded
 *                                    socket, a pipe and a local socketpair
 *   sock_client udp PORT             connected UDP echo; recvfrom's source
 *   sock_client udp_unconnected PORT an unconnected UDP socket: sendto and
 *                                    sendmsg name the server, recvfrom/recvmsg
 *                                    give its address, recv and poll work,
 *                                    getpeername fails with ENOTCONN
 *   sock_client udp_server PORT      bind(INADDR_ANY:PORT) a UDP socket, say
 *                                    "bound", answer 3 datagrams to their
 *                                    sources with "echo:" + the datagram
 *   sock_client hold PORT            connect, say "connected", wait for a line
 *                                    on stdin (the test looks at ss meanwhile)
 *   sock_client listen PORT          forwarded listener: prints "listening",
 *                                    accepts one connection, prints its peer
 *                                    (accept and getpeername), echoes a line
 *   sock_client bind_refused PORT    bind(INADDR_ANY:PORT) fails with EACCES
 *   sock_client bind_local PORT      bind(INADDR_ANY:PORT) and listen succeed,
 *                                    getsockname gives PORT (a port the I/O
 *                                    node does not give the job, in hybrid
 *                                    mode: bound on this node only)
 *   sock_client fork PORT            a fork child uses the parent's forwarded
 *                                    socket (the parent's pump serves it)
 *   sock_client listen_close PORT    listens on PORT (forwarded), closes the
 *                                    listener, says "closed" and lives 4 s more
 *   sock_client prefork PORT         a pre-forking server: listens (backlog 2),
 *                                    two fork children accept and echo 3
 *                                    connections each
 *   sock_client interrupt PORT       a blocking connect that cannot complete:
 *                                    a SA_RESTART handler's signal restarts it,
 *                                    a plain handler's makes it fail with EINTR
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                                                                  \
	do {                                                                       \
		fprintf(stderr, "sock_client: " __VA_ARGS__);                      \
		fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));      \
		exit(1);                                                           \
	} while (0)

static struct sockaddr_in server(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

static int connect_to(int port, int type)
{
	struct sockaddr_in sa = server(port);
	int fd = socket(AF_INET, type, 0);

	if (fd < 0)
		FAIL("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		FAIL("connect to port %d", port);
	return fd;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 131 + (i >> 12)) & 0xff);
}

static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			FAIL("read: %zd after %zu of %zu bytes", n, got, len);
		got += (size_t)n;
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n <= 0)
			FAIL("write");
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
}

static void check_names(int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		FAIL("getpeername");
	if (ss.ss_family != AF_INET || len != sizeof(*in) || ntohs(in->sin_port) != port ||
	    in->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		FAIL("getpeername: family %d len %u port %d", ss.ss_family, len, ntohs(in->sin_port));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		FAIL("getsockname");
	if (ss.ss_family != AF_INET || len != sizeof(*in) || in->sin_port == 0)
		FAIL("getsockname: family %d len %u", ss.ss_family, len);
}

struct writer {
	int fd;
	size_t bytes;
};

static void *write_pattern(void *arg)
{
	struct writer *w = arg;
	unsigned char buf[8192];

	for (size_t off = 0; off < w->bytes;) {
		size_t n = w->bytes - off < sizeof(buf) ? w->bytes - off : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		write_all(w->fd, buf, n);
		off += n;
	}
	return NULL;
}

static int cmd_echo(int port, size_t bytes)
{
	int fd = connect_to(port, SOCK_STREAM), type;
	struct writer w = { fd, bytes };
	unsigned char buf[8192];
	socklen_t len = sizeof(type);
	pthread_t t;
	size_t got = 0;

	check_names(fd, port);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
		FAIL("SO_TYPE %d", type);
	if (pthread_create(&t, NULL, write_pattern, &w) != 0)
		FAIL("pthread_create");
	/* Half of it back while the writer still writes. */
	while (got < bytes / 2) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			FAIL("read at %zu", got);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(got + (size_t)i))
				FAIL("byte %zu differs", got + (size_t)i);
		got += (size_t)n;
	}
	pthread_join(t, NULL);
	/* No more from us; the server echoes the rest and closes. */
	if (shutdown(fd, SHUT_WR) != 0)
		FAIL("shutdown");
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0)
			FAIL("read after shutdown at %zu", got);
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(got + (size_t)i))
				FAIL("byte %zu differs", got + (size_t)i);
		got += (size_t)n;
	}
	if (got != bytes)
		FAIL("echoed %zu of %zu bytes", got, bytes);
	close(fd);
	printf("ok echo %zu bytes\n", bytes);
	return 0;
}

static int cmd_nbconnect(int port)
{
	struct sockaddr_in sa = server(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = -1, one = 1;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(err);
	char buf[16];
	int rc;

	if (fd < 0)
		FAIL("socket");
	/* Set before connect, as curl does: it must not be lost. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		FAIL("TCP_NODELAY");
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 || errno != EINPROGRESS)
		FAIL("non-blocking connect returned %d", rc);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 || (errno != EALREADY && errno != EISCONN && errno != EINPROGRESS))
		FAIL("second connect returned %d", rc);
	if (poll(&p, 1, 20000) != 1 || !(p.revents & POLLOUT))
		FAIL("poll POLLOUT: revents %#x", p.revents);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		FAIL("SO_ERROR %d", err);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 || errno != EISCONN)
		FAIL("connect after connected returned %d", rc);
	len = sizeof(one);
	one = 0;
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len) != 0 || !one)
		FAIL("TCP_NODELAY lost (%d)", one);
	check_names(fd, port);
	write_all(fd, "ping\n", 5);
	p.events = POLLIN;
	if (poll(&p, 1, 20000) != 1)
		FAIL("poll POLLIN");
	if (read(fd, buf, sizeof(buf)) != 5 || memcmp(buf, "ping\n", 5))
		FAIL("echo");
	close(fd);
	printf("ok nbconnect\n");
	return 0;
}

static int cmd_refused(int port)
{
	struct sockaddr_in sa = server(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;
	struct pollfd p;
	socklen_t len = sizeof(err);

	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != ECONNREFUSED)
		FAIL("blocking connect to a closed port");
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
	    (errno != EINPROGRESS && errno != ECONNREFUSED))
		FAIL("non-blocking connect to a closed port");
	if (errno == EINPROGRESS) {
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 20000) != 1)
			FAIL("poll");
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != ECONNREFUSED)
			FAIL("SO_ERROR %d, not ECONNREFUSED", err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
			FAIL("SO_ERROR not cleared: %d", err);
	}
	close(fd);
	printf("ok refused\n");
	return 0;
}

/* Make all three readable: the echo server answers, we write the others. */
static void mix_prime(int sock, int pipe_w, int local_w)
{
	write_all(sock, "x", 1);
	write_all(pipe_w, "p", 1);
	write_all(local_w, "l", 1);
}

static void mix_drain(int sock, int pipe_r, int local_r)
{
	char c;

	read_exact(sock, &c, 1);
	read_exact(pipe_r, &c, 1);
	read_exact(local_r, &c, 1);
}

static int cmd_mixpoll(int port)
{
	int sock = connect_to(port, SOCK_STREAM), pfd[2], lp[2], ep;
	struct pollfd p[3];
	struct epoll_event ev, out[8];
	fd_set rd;
	int seen = 0;

	if (pipe(pfd) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, lp) != 0)
		FAIL("pipe/socketpair");
	/* Nothing ready: poll times out. */
	p[0] = (struct pollfd){ .fd = sock, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	p[2] = (struct pollfd){ .fd = lp[0], .events = POLLIN };
	if (poll(p, 3, 200) != 0)
		FAIL("poll with nothing to read");
	mix_prime(sock, pfd[1], lp[1]);
	/* poll until all three were seen readable */
	for (int round = 0; round < 100 && seen != 7; round++) {
		if (poll(p, 3, 10000) <= 0)
			FAIL("poll");
		for (int i = 0; i < 3; i++)
			if (p[i].revents & POLLIN) {
				seen |= 1 << i;
				p[i].events = 0; /* seen: wait for the others */
			}
	}
	for (int i = 0; i < 3; i++)
		p[i].events = POLLIN;
	if (seen != 7)
		FAIL("poll saw %#x", seen);
	mix_drain(sock, pfd[0], lp[0]);

	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < 3; i++) {
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, p[i].fd, &ev) != 0)
			FAIL("epoll_ctl");
	}
	mix_prime(sock, pfd[1], lp[1]);
	seen = 0;
	for (int round = 0; round < 100 && seen != 7; round++) {
		int n = epoll_wait(ep, out, 8, 10000);

		if (n <= 0)
			FAIL("epoll_wait");
		for (int i = 0; i < n; i++)
			seen |= 1 << out[i].data.u32;
		/* level-triggered: the ones seen stay; wait for the socket */
		if (seen != 7) {
			struct timespec ts = { 0, 10000000 };
			nanosleep(&ts, NULL);
		}
	}
	if (seen != 7)
		FAIL("epoll saw %#x", seen);
	mix_drain(sock, pfd[0], lp[0]);

	mix_prime(sock, pfd[1], lp[1]);
	seen = 0;
	for (int round = 0; round < 100 && seen != 7; round++) {
		struct timeval tv = { 10, 0 };
		int maxfd = 0;

		FD_ZERO(&rd);
		for (int i = 0; i < 3; i++) {
			FD_SET(p[i].fd, &rd);
			maxfd = p[i].fd > maxfd ? p[i].fd : maxfd;
		}
		if (select(maxfd + 1, &rd, NULL, NULL, &tv) <= 0)
			FAIL("select");
		for (int i = 0; i < 3; i++)
			if (FD_ISSET(p[i].fd, &rd))
				seen |= 1 << i;
		if (seen != 7) {
			struct timespec ts = { 0, 10000000 };
			nanosleep(&ts, NULL);
		}
	}
	if (seen != 7)
		FAIL("select saw %#x", seen);
	mix_drain(sock, pfd[0], lp[0]);
	close(sock);
	printf("ok mixpoll\n");
	return 0;
}

static int cmd_udp(int port)
{
	int fd = connect_to(port, SOCK_DGRAM), type = 0;
	struct sockaddr_storage from;
	struct sockaddr_in *in = (struct sockaddr_in *)&from;
	socklen_t len = sizeof(from);
	char buf[2048], msg[1500];
	ssize_t n;

	memset(msg, 'u', sizeof(msg));
	check_names(fd, port);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM)
		FAIL("SO_TYPE %d", type);
	/* Two datagrams keep their boundaries. */
	if (send(fd, "first", 5, 0) != 5 || send(fd, msg, sizeof(msg), 0) != (ssize_t)sizeof(msg))
		FAIL("send");
	len = sizeof(from);
	memset(&from, 0, sizeof(from));
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	if (n != 5 || memcmp(buf, "first", 5))
		FAIL("first datagram: %zd", n);
	if (from.ss_family != AF_INET || len != sizeof(*in) || ntohs(in->sin_port) != port ||
	    in->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		FAIL("recvfrom source: family %d len %u port %d", from.ss_family, len,
		     ntohs(in->sin_port));
	n = recv(fd, buf, sizeof(buf), 0);
	if (n != (ssize_t)sizeof(msg) || memcmp(buf, msg, sizeof(msg)))
		FAIL("second datagram: %zd", n);
	/* sendto naming the peer itself is allowed on a connected socket. */
	{
		struct sockaddr_in sa = server(port);
		struct msghdr mh = { 0 };
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };

		if (sendto(fd, "third", 5, 0, (struct sockaddr *)&sa, sizeof(sa)) != 5)
			FAIL("sendto the peer");
		memset(&from, 0, sizeof(from));
		mh.msg_name = &from;
		mh.msg_namelen = sizeof(from);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(fd, &mh, 0);
		if (n != 5 || memcmp(buf, "third", 5) || from.ss_family != AF_INET ||
		    ntohs(in->sin_port) != port)
			FAIL("recvmsg: %zd, family %d", n, from.ss_family);
	}
	close(fd);
	printf("ok udp\n");
	return 0;
}

static void expect_source(const struct sockaddr_storage *from, socklen_t len, int port,
			  const char *what)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)from;

	if (from->ss_family != AF_INET || len != sizeof(*in) || ntohs(in->sin_port) != port ||
	    in->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		FAIL("%s: source family %d len %u port %d", what, from->ss_family, len,
		     ntohs(in->sin_port));
}

static int cmd_udp_unconnected(int port)
{
	struct sockaddr_in sa = server(port);
	struct sockaddr_storage from;
	struct sockaddr_in *in = (struct sockaddr_in *)&from;
	socklen_t len = sizeof(from);
	char buf[2048], msg[1500];
	struct pollfd pfd;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), type = 0;
	ssize_t n;

	if (fd < 0)
		FAIL("socket");
	memset(msg, 'v', sizeof(msg));
	if (sendto(fd, "one", 3, 0, (struct sockaddr *)&sa, sizeof(sa)) != 3)
		FAIL("sendto");
	if (sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) !=
	    (ssize_t)sizeof(msg))
		FAIL("sendto 1500 bytes");
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1 || !(pfd.revents & POLLIN))
		FAIL("poll for the echo");
	memset(&from, 0, sizeof(from));
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	if (n != 3 || memcmp(buf, "one", 3))
		FAIL("first echo: %zd", n);
	expect_source(&from, len, port, "recvfrom");
	n = recv(fd, buf, sizeof(buf), 0);
	if (n != (ssize_t)sizeof(msg) || memcmp(buf, msg, sizeof(msg)))
		FAIL("second echo: %zd", n);
	{
		struct iovec iov[2] = { { .iov_base = "thr", .iov_len = 3 },
					{ .iov_base = "ee", .iov_len = 2 } };
		struct iovec riov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa),
				     .msg_iov = iov, .msg_iovlen = 2 };

		if (sendmsg(fd, &mh, 0) != 5)
			FAIL("sendmsg");
		memset(&from, 0, sizeof(from));
		mh = (struct msghdr){ .msg_name = &from, .msg_namelen = sizeof(from),
				      .msg_iov = &riov, .msg_iovlen = 1 };
		n = recvmsg(fd, &mh, 0);
		if (n != 5 || memcmp(buf, "three", 5))
			FAIL("recvmsg: %zd", n);
		expect_source(&from, mh.msg_namelen, port, "recvmsg");
	}
	len = sizeof(from);
	if (getsockname(fd, (struct sockaddr *)&from, &len) != 0 || from.ss_family != AF_INET ||
	    in->sin_port == 0)
		FAIL("getsockname");
	len = sizeof(from);
	errno = 0;
	if (getpeername(fd, (struct sockaddr *)&from, &len) == 0 || errno != ENOTCONN)
		FAIL("getpeername of an unconnected socket");
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM)
		FAIL("SO_TYPE %d", type);
	close(fd);
	printf("ok udp_unconnected\n");
	return 0;
}

static int cmd_udp_server(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		FAIL("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		FAIL("bind UDP port %d", port);
	printf("bound\n");
	fflush(stdout);
	for (int i = 0; i < 3; i++) {
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		char buf[2048], out[2100];
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		int olen;

		if (n < 0)
			FAIL("recvfrom");
		olen = snprintf(out, sizeof(out), "echo:%.*s", (int)n, buf);
		if (sendto(fd, out, (size_t)olen, 0, (struct sockaddr *)&from, len) != olen)
			FAIL("sendto the source");
	}
	close(fd);
	printf("ok udp_server\n");
	return 0;
}

static int cmd_hold(int port)
{
	int fd = connect_to(port, SOCK_STREAM);
	char line[64];

	printf("connected\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		FAIL("stdin");
	close(fd);
	return 0;
}

static void print_peer(const char *what, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	char text[64];

	if (ss->ss_family != AF_INET)
		FAIL("%s: family %d", what, ss->ss_family);
	inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
	printf("%s %s:%d\n", what, text, ntohs(in->sin_port));
}

static int cmd_listen(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_storage peer, name;
	socklen_t len = sizeof(peer);
	int fd = socket(AF_INET, SOCK_STREAM, 0), c, one = 1;
	char buf[256];
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		FAIL("bind port %d", port);
	if (listen(fd, 16) != 0)
		FAIL("listen");
	len = sizeof(name);
	if (getsockname(fd, (struct sockaddr *)&name, &len) != 0 ||
	    ntohs(((struct sockaddr_in *)&name)->sin_port) != port)
		FAIL("getsockname of the listener");
	printf("listening\n");
	fflush(stdout);
	len = sizeof(peer);
	c = accept(fd, (struct sockaddr *)&peer, &len);
	if (c < 0)
		FAIL("accept");
	print_peer("accept", &peer);
	len = sizeof(peer);
	if (getpeername(c, (struct sockaddr *)&peer, &len) != 0)
		FAIL("getpeername");
	print_peer("getpeername", &peer);
	len = sizeof(name);
	if (getsockname(c, (struct sockaddr *)&name, &len) != 0 || name.ss_family != AF_INET ||
	    ntohs(((struct sockaddr_in *)&name)->sin_port) != port)
		FAIL("getsockname of the accepted socket: not the listening port");
	fflush(stdout);
	n = read(c, buf, sizeof(buf));
	if (n <= 0)
		FAIL("read from the accepted connection");
	write_all(c, buf, (size_t)n);
	close(c);
	close(fd);
	printf("ok listen\n");
	return 0;
}

static int cmd_listen_close(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct timespec ts = { 4, 0 };

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0)
		FAIL("bind/listen port %d", port);
	printf("listening\n");
	fflush(stdout);
	nanosleep(&(struct timespec){ 1, 0 }, NULL);
	close(fd);
	printf("closed\n");
	fflush(stdout);
	nanosleep(&ts, NULL);
	return 0;
}

static int cmd_prefork(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, status, failed = 0;
	pid_t kids[2];

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 2) != 0)
		FAIL("bind/listen port %d", port);
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] < 0)
			FAIL("fork");
		if (kids[k] == 0) {
			for (int i = 0; i < 3; i++) {
				char buf[256];
				int c = accept(fd, NULL, NULL);
				ssize_t n;

				if (c < 0)
					_exit(2);
				n = read(c, buf, sizeof(buf));
				if (n <= 0 || write(c, buf, (size_t)n) != n)
					_exit(3);
				close(c);
			}
			_exit(0);
		}
	}
	printf("listening\n");
	fflush(stdout);
	for (int k = 0; k < 2; k++)
		if (waitpid(kids[k], &status, 0) != kids[k] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed++;
	if (failed)
		FAIL("%d children failed", failed);
	printf("ok prefork\n");
	return 0;
}

static int cmd_bind_local(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;

	if (fd < 0)
		FAIL("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		FAIL("SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		FAIL("bind of port %d", port);
	if (listen(fd, 4) != 0)
		FAIL("listen on port %d", port);
	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0 || ntohs(sa.sin_port) != port)
		FAIL("getsockname: not port %d", port);
	close(fd);
	printf("ok bind_local\n");
	return 0;
}

static int cmd_bind_refused(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		FAIL("bind of port %d succeeded", port);
	if (errno != EACCES)
		FAIL("bind of port %d: not EACCES", port);
	close(fd);
	printf("ok bind_refused\n");
	return 0;
}

static int cmd_fork(int port)
{
	int fd = connect_to(port, SOCK_STREAM), status;
	char buf[16];
	pid_t pid;

	pid = fork();
	if (pid < 0)
		FAIL("fork");
	if (pid == 0) {
		/* The child writes and reads through the parent's socket. */
		write_all(fd, "child\n", 6);
		read_exact(fd, buf, 6);
		_exit(memcmp(buf, "child\n", 6) ? 3 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("child status %#x", status);
	write_all(fd, "parent\n", 7);
	read_exact(fd, buf, 7);
	if (memcmp(buf, "parent\n", 7))
		FAIL("parent echo");
	close(fd);
	printf("ok fork\n");
	return 0;
}

static volatile sig_atomic_t restart_signals, plain_signals;

static void on_restart_signal(int sig)
{
	(void)sig;
	restart_signals++;
}

static void on_plain_signal(int sig)
{
	(void)sig;
	plain_signals++;
}

/* Signals for the main thread: first one whose handler asks for
 * SA_RESTART, then one whose handler does not. */
static void *signal_later(void *arg)
{
	struct timespec first = { 0, 400 * 1000 * 1000 }, second = { 0, 800 * 1000 * 1000 };
	sigset_t both;

	(void)arg;
	sigemptyset(&both);
	sigaddset(&both, SIGALRM);
	sigaddset(&both, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &both, NULL);
	nanosleep(&first, NULL);
	kill(getpid(), SIGALRM);
	nanosleep(&second, NULL);
	kill(getpid(), SIGUSR1);
	return NULL;
}

static int cmd_interrupt(int port)
{
	struct sigaction restart = { .sa_handler = on_restart_signal, .sa_flags = SA_RESTART };
	struct sigaction plain = { .sa_handler = on_plain_signal };
	struct sockaddr_in sa = server(port);
	struct timespec t0, t1;
	pthread_t t;
	double secs;
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	sigaction(SIGALRM, &restart, NULL);
	sigaction(SIGUSR1, &plain, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pthread_create(&t, NULL, signal_later, NULL) != 0)
		FAIL("pthread_create");
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (rc == 0 || errno != EINTR)
		FAIL("connect returned %d after %.2f s, not EINTR", rc, secs);
	if (restart_signals != 1 || plain_signals != 1 || secs < 1.1)
		FAIL("restart handler ran %d, plain handler %d, %.2f s", (int)restart_signals,
		     (int)plain_signals, secs);
	close(fd);
	printf("ok interrupt\n");
	return 0;
}

int main(int argc, char **argv)
{
	int port;

	if (argc < 3) {
		fprintf(stderr, "usage: sock_client CMD PORT [BYTES]\n");
		return 2;
	}
	port = atoi(argv[2]);
	if (!strcmp(argv[1], "echo"))
		return cmd_echo(port, argc > 3 ? strtoul(argv[3], NULL, 10) : 1 << 20);
	if (!strcmp(argv[1], "nbconnect"))
		return cmd_nbconnect(port);
	if (!strcmp(argv[1], "refused"))
		return cmd_refused(port);
	if (!strcmp(argv[1], "mixpoll"))
		return cmd_mixpoll(port);
	if (!strcmp(argv[1], "udp"))
		return cmd_udp(port);
	if (!strcmp(argv[1], "udp_unconnected"))
		return cmd_udp_unconnected(port);
	if (!strcmp(argv[1], "udp_server"))
		return cmd_udp_server(port);
	if (!strcmp(argv[1], "hold"))
		return cmd_hold(port);
	if (!strcmp(argv[1], "listen"))
		return cmd_listen(port);
	if (!strcmp(argv[1], "bind_refused"))
		return cmd_bind_refused(port);
	if (!strcmp(argv[1], "bind_local"))
		return cmd_bind_local(port);
	if (!strcmp(argv[1], "fork"))
		return cmd_fork(port);
	if (!strcmp(argv[1], "prefork"))
		return cmd_prefork(port);
	if (!strcmp(argv[1], "listen_close"))
		return cmd_listen_close(port);
	if (!strcmp(argv[1], "interrupt"))
		return cmd_interrupt(port);
	fprintf(stderr, "sock_client: unknown command %s\n", argv[1]);
	return 2;
}
