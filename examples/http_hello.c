/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_hello: a small HTTP server that answers every request with its host
 * name and MPI rank.  An ordinary program, no Ferry in it: under Ferry its
 * bind of 0.0.0.0:PORT is forwarded, so every rank that runs it listens on
 * the I/O node's address too, and the I/O node spreads the connections from
 * outside over the ranks (see ferry-sockets(7)).
 *
 *   mpirun -np 4 --map-by node http_hello 8080
 *   curl http://IONODE:8080/       ->  "host c3 rank 2 pid 4711 served 17"
 *
 * One poll() loop over the listening socket and up to MAX_CONN connections,
 * each read until the end of the request head, answered with
 * "Connection: close" and closed.  SIGTERM/SIGINT end it (exit 0, a line with
 * the number of requests served).  A failing bind prints the errno's name
 * ("http_hello: bind 0.0.0.0:8081: EACCES ...") and exits 2, so a test can
 * tell a refused port from anything else.  The rank is OMPI_COMM_WORLD_RANK,
 * PMIX_RANK or SLURM_PROCID, else -1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONN 64
#define REQ_MAX 4096

struct conn {
	int fd;
	size_t len;
	char req[REQ_MAX];
};

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static const char *rank_string(void)
{
	static const char *const vars[] = { "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return v;
	}
	return "-1";
}

/* The errno's symbolic name for the few a bind gives, so tests can match it. */
static const char *errno_name(int e)
{
	switch (e) {
	case EACCES: return "EACCES";
	case EADDRINUSE: return "EADDRINUSE";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EPERM: return "EPERM";
	case EIO: return "EIO";
	default: return "errno";
	}
}

/* Write all of buf; the peer may have gone (EPIPE: ignored by the caller). */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void answer(int fd, const char *host, const char *rank, unsigned long served)
{
	char body[256], msg[512];
	int blen = snprintf(body, sizeof(body), "host %s rank %s pid %ld served %lu\n", host, rank,
			    (long)getpid(), served);
	int mlen = snprintf(msg, sizeof(msg),
			    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			    "Connection: close\r\n\r\n%s",
			    blen, body);
	int rc = write_all(fd, msg, (size_t)mlen);
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		fprintf(stderr, "http_hello: write: %s\n", strerror(-rc));
}

int main(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(argc == 2 ? stdout : stderr,
			"usage: http_hello PORT\n"
			"Answers every HTTP request on 0.0.0.0:PORT with its host name and MPI rank.\n");
		return argc == 2 ? 0 : 2;
	}
	int port = atoi(argv[1]);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "http_hello: bad port %s\n", argv[1]);
		return 2;
	}
	char host[256];
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	const char *rank = rank_string();

	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("http_hello: sigaction");
		return 1;
	}

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("http_hello: socket");
		return 1;
	}
	int one = 1;
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		perror("http_hello: SO_REUSEADDR"); /* not fatal: only restarts need it */
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		int e = errno;
		printf("http_hello: bind 0.0.0.0:%d: %s (%s) on %s rank %s\n", port, errno_name(e),
		       strerror(e), host, rank);
		return 2;
	}
	if (listen(lfd, 128) != 0) {
		perror("http_hello: listen");
		return 1;
	}
	printf("http_hello: host %s rank %s pid %ld listening on 0.0.0.0:%d\n", host, rank, (long)getpid(),
	       port);
	fflush(stdout);

	static struct conn conns[MAX_CONN];
	struct pollfd pfd[MAX_CONN + 1];
	for (int i = 0; i < MAX_CONN; i++)
		conns[i].fd = -1;
	unsigned long served = 0;
	int status = 0;
	while (!stop) {
		int n = 0, nconn = 0;
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CONN; i++) {
			if (conns[i].fd >= 0) {
				pfd[n++] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
				nconn++;
			}
		}
		/* A full table leaves new connections in the backlog. */
		if (nconn == MAX_CONN)
			pfd[0].events = 0;
		int r = poll(pfd, (nfds_t)n, 1000);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("http_hello: poll");
			status = 1;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
					perror("http_hello: accept");
			} else {
				for (int i = 0; i < MAX_CONN; i++) {
					if (conns[i].fd < 0) {
						conns[i].fd = fd;
						conns[i].len = 0;
						break;
					}
				}
			}
		}
		for (int k = 1; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			struct conn *c = NULL;
			for (int i = 0; i < MAX_CONN; i++)
				if (conns[i].fd == pfd[k].fd)
					c = &conns[i];
			if (!c)
				continue;
			ssize_t got = read(c->fd, c->req + c->len, REQ_MAX - 1 - c->len);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got > 0) {
				c->len += (size_t)got;
				c->req[c->len] = '\0';
				if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n") &&
				    c->len < REQ_MAX - 1)
					continue;
				answer(c->fd, host, rank, ++served);
			}
			/* answered, or the peer gave up (EOF, error) */
			if (close(c->fd) != 0 && errno != EINTR)
				perror("http_hello: close");
			c->fd = -1;
		}
	}
	printf("http_hello: host %s rank %s served %lu requests\n", host, rank, served);
	return status;
}
