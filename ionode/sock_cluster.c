/* SPDX-License-Identifier: Apache-2.0 */
#include "sock_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <ferry/log.h>

#include "session.h"
#include "sock_policy.h"
#include "sockets.h"
#include "warn_limit.h"

#define ACCEPT_CREDIT_MAX INT32_MAX
#define ACCEPT_BATCH 64 /* connections per listening socket per wake-up */
#define ACCEPT_BACKOFF_NS (100 * 1000 * 1000) /* after EMFILE and the like */
#define STOP_TOKEN 0    /* epoll data of the stop eventfd; clusters count from 1 */

struct iond_sock_member {
	struct sock_cluster *cluster;
	struct iond_socks *ss;
	int64_t handle;
	int64_t credit; /* connections it may be handed */
	bool listening;
};

struct sock_cluster {
	struct sock_cluster *next;
	uint64_t id;     /* epoll's token: a cluster may be gone when its event is read */
	uint64_t jobid;
	int fd;          /* the real listening socket */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char name[IOND_SOCK_ADDR_STRLEN];
	bool listening;
	bool in_epoll;
	uint32_t armed; /* the epoll events set now */
	int backlog;
	struct iond_sock_member **members;
	size_t nmembers;
	size_t members_cap;
	size_t next_rr; /* where the round-robin search starts */
};

/* One daemon per process: the cluster registry and its acceptor thread. */
static struct {
	pthread_mutex_t lock;
	struct sock_cluster *list;
	uint64_t next_id;
	int epfd;
	int stop_fd;
	pthread_t thread;
	bool started;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1, .epfd = -1, .stop_fd = -1};

/* ---- the registry ---- */

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
}

static struct sock_cluster *find_by_address_locked(const struct sockaddr *sa)
{
	for (struct sock_cluster *c = reg.list; c; c = c->next)
		if (same_address(&c->addr, sa))
			return c;
	return NULL;
}

static struct sock_cluster *find_by_id_locked(uint64_t id)
{
	for (struct sock_cluster *c = reg.list; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static int cluster_new_locked(struct iond_socks *ss, int protocol, const struct sockaddr *sa,
			      socklen_t sa_len, struct sock_cluster **out)
{
	struct sock_cluster *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	/* SO_REUSEADDR: a restarted job must not wait out TIME_WAIT of its
	 * last run. */
	c->fd = iond_socket_open(sa->sa_family, SOCK_STREAM, protocol, sa, sa_len, true);
	if (c->fd < 0) {
		int rc = c->fd;

		free(c);
		return rc;
	}
	c->id = reg.next_id++;
	c->jobid = iond_socks_jobid(ss);
	c->addr_len = sa_len;
	memcpy(&c->addr, sa, sa_len);
	iond_sock_addr_str(sa, c->name, sizeof(c->name));
	c->next = reg.list;
	reg.list = c;
	*out = c;
	return 0;
}

static void cluster_free_locked(struct sock_cluster *c)
{
	struct sock_cluster **pp;

	for (pp = &reg.list; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	if (c->in_epoll && epoll_ctl(reg.epfd, EPOLL_CTL_DEL, c->fd, NULL) != 0)
		FLOG_WARN(0, c->jobid, "cluster %s: epoll removal: %s", c->name, strerror(errno));
	if (close(c->fd) != 0)
		FLOG_WARN(0, c->jobid, "cluster %s: close: %s", c->name, strerror(errno));
	FLOG_INFO(0, c->jobid, "cluster %s: last member left, listening socket closed", c->name);
	free(c->members);
	free(c);
}

/* ---- members ---- */

static int members_append_locked(struct sock_cluster *c, struct iond_sock_member *m)
{
	if (c->nmembers == c->members_cap) {
		size_t cap = c->members_cap ? c->members_cap * 2 : 4;
		struct iond_sock_member **grown = realloc(c->members, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		c->members = grown;
		c->members_cap = cap;
	}
	c->members[c->nmembers++] = m;
	return 0;
}

static void members_remove_locked(struct sock_cluster *c, struct iond_sock_member *m)
{
	size_t i;

	for (i = 0; i < c->nmembers && c->members[i] != m; i++)
		;
	if (i == c->nmembers)
		return;
	memmove(&c->members[i], &c->members[i + 1], (c->nmembers - i - 1) * sizeof(*c->members));
	c->nmembers--;
	if (c->next_rr > i)
		c->next_rr--;
	if (c->next_rr >= c->nmembers)
		c->next_rr = 0;
}

/* The next member with accept credit whose client is at least as surely
 * alive as min, round-robin; NULL when none is. */
static struct iond_sock_member *next_member_locked(struct sock_cluster *c, enum iond_liveness min)
{
	for (size_t k = 0; k < c->nmembers; k++) {
		size_t i = (c->next_rr + k) % c->nmembers;
		struct iond_sock_member *m = c->members[i];

		if (m->listening && m->credit > 0 && iond_socks_liveness(m->ss) >= min) {
			c->next_rr = (i + 1) % c->nmembers;
			return m;
		}
	}
	return NULL;
}

/* A member for a new connection: one whose client is polling if any, else
 * one that polled a moment ago, else any with credit. */
static struct iond_sock_member *pick_member_locked(struct sock_cluster *c)
{
	struct iond_sock_member *m = next_member_locked(c, IOND_LIVE_POLLING);

	if (!m)
		m = next_member_locked(c, IOND_LIVE_RECENT);
	return m ? m : next_member_locked(c, IOND_LIVE_DOUBTFUL);
}

static bool any_taker_locked(const struct sock_cluster *c)
{
	for (size_t i = 0; i < c->nmembers; i++)
		if (c->members[i]->listening && c->members[i]->credit > 0)
			return true;
	return false;
}

/* Watch the listening socket only while some member can take a connection:
 * otherwise the kernel's backlog holds them. */
static void rearm_locked(struct sock_cluster *c)
{
	struct epoll_event ev = {.data.u64 = c->id};

	ev.events = any_taker_locked(c) ? EPOLLIN : 0;
	if (!c->in_epoll || ev.events == c->armed)
		return;
	if (epoll_ctl(reg.epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
		FLOG_ERR(0, c->jobid, "cluster %s: epoll: %s", c->name, strerror(errno));
		return;
	}
	c->armed = ev.events;
}

/* A handle for member m in its session: a duplicate of the real socket. */
static int member_handle(struct sock_cluster *c, struct iond_socks *ss, int64_t *handle)
{
	int fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
	int h;

	if (fd < 0)
		return -errno;
	h = iond_session_add_fd(iond_socks_session(ss), fd);
	if (h < 0)
		return h;
	*handle = h;
	return 0;
}

static int join_locked(struct sock_cluster *c, struct iond_socks *ss, int64_t *handle)
{
	struct iond_sock_member *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->cluster = c;
	m->ss = ss;
	rc = member_handle(c, ss, &m->handle);
	if (rc) {
		free(m);
		return rc;
	}
	rc = members_append_locked(c, m);
	if (!rc)
		rc = iond_socks_add(ss, m->handle, SOCK_STREAM, m);
	if (rc) {
		members_remove_locked(c, m);
		iond_session_fd_close(iond_socks_session(ss), m->handle);
		free(m);
		return rc;
	}
	*handle = m->handle;
	FLOG_INFO(iond_socks_id(ss), c->jobid, "cluster %s: handle %lld joins (%zu members)",
		  c->name, (long long)m->handle, c->nmembers);
	return 0;
}

int iond_cluster_bind(struct iond_socks *ss, int protocol, const struct sockaddr *sa,
		      socklen_t sa_len, int64_t *handle)
{
	struct sock_cluster *c;
	bool created = false;
	int rc;

	pthread_mutex_lock(&reg.lock);
	c = find_by_address_locked(sa);
	if (c && c->jobid != iond_socks_jobid(ss)) {
		rc = -EADDRINUSE;
		IOND_CLIENT_WARN(iond_socks_id(ss), iond_socks_jobid(ss),
				 "bind to %s refused: job %llu listens there", c->name,
				 (unsigned long long)c->jobid);
		goto out_unlock;
	}
	if (!c) {
		rc = cluster_new_locked(ss, protocol, sa, sa_len, &c);
		if (rc)
			goto out_unlock;
		created = true;
	}
	rc = join_locked(c, ss, handle);
	if (rc && created)
		cluster_free_locked(c);
out_unlock:
	pthread_mutex_unlock(&reg.lock);
	return rc;
}

static int start_listening_locked(struct sock_cluster *c, int backlog)
{
	struct epoll_event ev = {.events = 0, .data.u64 = c->id};

	if (c->listening && backlog <= c->backlog)
		return 0;
	/* listen(2) again only raises the backlog. */
	if (listen(c->fd, backlog) != 0)
		return -errno;
	c->backlog = backlog;
	c->listening = true;
	if (c->in_epoll)
		return 0;
	if (epoll_ctl(reg.epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		return -errno;
	c->in_epoll = true;
	c->armed = 0;
	return 0;
}

int iond_cluster_listen(struct iond_socks *ss, int64_t handle, int backlog, int64_t credit)
{
	struct iond_sock_member *m;
	int rc = -EINVAL;

	if (credit < 0)
		return -EINVAL;
	pthread_mutex_lock(&reg.lock);
	m = iond_socks_member(ss, handle);
	if (!m)
		goto out_unlock;
	rc = start_listening_locked(m->cluster, backlog);
	if (rc)
		goto out_unlock;
	if (!m->listening)
		FLOG_INFO(iond_socks_id(ss), m->cluster->jobid,
			  "cluster %s: handle %lld listens, accept credit %lld", m->cluster->name,
			  (long long)handle, (long long)credit);
	m->listening = true;
	m->credit = iond_credit_add(m->credit, credit, ACCEPT_CREDIT_MAX);
	rearm_locked(m->cluster);
out_unlock:
	pthread_mutex_unlock(&reg.lock);
	return rc;
}

void iond_cluster_credit(struct iond_socks *ss, int64_t handle, int64_t credit)
{
	struct iond_sock_member *m;

	pthread_mutex_lock(&reg.lock);
	m = iond_socks_member(ss, handle);
	if (m) {
		m->credit = iond_credit_add(m->credit, credit, ACCEPT_CREDIT_MAX);
		rearm_locked(m->cluster);
	}
	pthread_mutex_unlock(&reg.lock);
}

void iond_cluster_leave(struct iond_sock_member *m)
{
	struct sock_cluster *c = m->cluster;

	pthread_mutex_lock(&reg.lock);
	members_remove_locked(c, m);
	FLOG_INFO(iond_socks_id(m->ss), c->jobid, "cluster %s: handle %lld leaves (%zu members)",
		  c->name, (long long)m->handle, c->nmembers);
	if (c->nmembers == 0)
		cluster_free_locked(c);
	else
		rearm_locked(c);
	pthread_mutex_unlock(&reg.lock);
	free(m);
}

/* ---- the acceptor ---- */

/* Give conn to a member with credit; closes it when nobody takes it. */
static void hand_over_locked(struct sock_cluster *c, int conn, const struct sockaddr_storage *peer,
			     socklen_t peer_len)
{
	char from[IOND_SOCK_ADDR_STRLEN];
	struct iond_sock_member *m;

	while ((m = pick_member_locked(c))) {
		int rc = iond_socks_accepted(m->ss, m->handle, conn, (const struct sockaddr *)peer,
					     peer_len);

		if (rc == -ESRCH) {
			m->credit = 0; /* leaving: skip it */
			continue;
		}
		m->credit -= rc == 0;
		iond_sock_addr_str((const struct sockaddr *)peer, from, sizeof(from));
		FLOG_DEBUG(iond_socks_id(m->ss), c->jobid,
			   "cluster %s: connection from %s to handle %lld: %s", c->name, from,
			   (long long)m->handle, rc ? strerror(-rc) : "handed over");
		return;
	}
	close(conn);
}

/* Accept while some member can take a connection.  Returns false after an
 * error that will not clear by itself (EMFILE, ENOBUFS): the caller backs
 * off rather than spin on a socket that stays readable. */
static bool accept_some_locked(struct sock_cluster *c)
{
	bool ok = true;

	for (int i = 0; i < ACCEPT_BATCH && any_taker_locked(c); i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		int conn = accept4(c->fd, (struct sockaddr *)&peer, &peer_len,
				   SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (conn < 0 && (errno == EAGAIN || errno == ECONNABORTED || errno == EINTR))
			break;
		if (conn < 0) {
			FLOG_WARN(0, c->jobid, "cluster %s: accept: %s", c->name, strerror(errno));
			ok = false;
			break;
		}
		hand_over_locked(c, conn, &peer, peer_len);
	}
	rearm_locked(c);
	return ok;
}

static void *acceptor_main(void *arg)
{
	const struct timespec backoff_time = {0, ACCEPT_BACKOFF_NS};
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(reg.epfd, evs, 16, -1);
		bool backoff = false;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			FLOG_ERR(0, 0, "socket acceptor: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct sock_cluster *c;

			if (evs[i].data.u64 == STOP_TOKEN)
				return NULL;
			pthread_mutex_lock(&reg.lock);
			c = find_by_id_locked(evs[i].data.u64);
			backoff |= c && !accept_some_locked(c);
			pthread_mutex_unlock(&reg.lock);
		}
		if (backoff)
			nanosleep(&backoff_time, NULL);
	}
}

int iond_clusters_start(void)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_TOKEN};
	sigset_t all, old;
	int rc;

	reg.epfd = epoll_create1(EPOLL_CLOEXEC);
	reg.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (reg.epfd < 0 || reg.stop_fd < 0 ||
	    epoll_ctl(reg.epfd, EPOLL_CTL_ADD, reg.stop_fd, &ev) != 0) {
		rc = -errno;
		goto fail;
	}
	/* No signal is for this thread (the workers' interrupt signal least). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&reg.thread, NULL, acceptor_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto fail;
	reg.started = true;
	return 0;
fail:
	if (reg.epfd >= 0)
		close(reg.epfd);
	if (reg.stop_fd >= 0)
		close(reg.stop_fd);
	reg.epfd = reg.stop_fd = -1;
	return rc;
}

void iond_clusters_stop(void)
{
	uint64_t one = 1;

	if (!reg.started)
		return;
	if (write(reg.stop_fd, &one, sizeof(one)) != sizeof(one))
		FLOG_ERR(0, 0, "socket acceptor: stop: %s", strerror(errno));
	else
		pthread_join(reg.thread, NULL);
	pthread_mutex_lock(&reg.lock);
	while (reg.list)
		cluster_free_locked(reg.list); /* none left once sessions are closed */
	pthread_mutex_unlock(&reg.lock);
	close(reg.epfd);
	close(reg.stop_fd);
	reg.epfd = reg.stop_fd = -1;
	reg.started = false;
}
