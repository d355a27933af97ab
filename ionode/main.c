/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-iond: the I/O-node daemon.  Reads its settings, opens the exports
 * and the rpc endpoint, prints one "ready" line, then serves until SIGTERM
 * or SIGINT.  Threads: main (rpc progress), a signal thread (sigwaitinfo),
 * and the worker pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ferry/fsproxy.h>
#include <ferry/log.h>
#include <ferry/rpc.h>

#include "auth.h"
#include "config.h"
#include "handlers.h"
#include "identity.h"
#include "inflight.h"
#include "ready.h"
#include "session.h"
#include "sock_policy.h"
#include "sockets.h"
#include "stats.h"
#include "workers.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2
#define STOP_WORKERS_MS 2000
#define ORPHAN_CHECK_MS 200 /* how often calls of closed sessions are interrupted */
#define INTERRUPT_GRACE_S 2 /* shutdown: after the drain, interrupted calls get this */

struct daemon {
	struct iond_config cfg;
	struct iond_ctx ctx;
	struct iond_stats stats;
	sigset_t signals;
	pthread_t signal_thread;
	int have_signal_thread;
	atomic_int stop_signal; /* the signal that asked us to stop, or 0 */
	/* The server, for the signal thread, once it exists. */
	struct ferry_rpc_server *_Atomic wake_server;
	char uri[256];          /* as clients should dial it (port 0 resolved) */
	char ready_line[2048];
};

static void log_stats(struct daemon *d, const char *why)
{
	struct ferry_rpc_server *server = atomic_load(&d->wake_server);

	iond_stats_log(&d->stats, why);
	if (server)
		FLOG_INFO(0, 0, "stats (%s): transport dropped %llu messages", why,
			  (unsigned long long)ferry_rpc_server_dropped(server));
}

static void *signal_main(void *arg)
{
	struct daemon *d = arg;

	for (;;) {
		struct ferry_rpc_server *server;
		siginfo_t si;
		int sig = sigwaitinfo(&d->signals, &si);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			FLOG_ERR(0, 0, "sigwaitinfo: %s", strerror(errno));
			return NULL;
		}
		if (sig == SIGUSR1) {
			log_stats(d, "SIGUSR1");
			continue;
		}
		if (sig == SIGHUP) {
			FLOG_INFO(0, 0, "SIGHUP ignored: configuration reload is not implemented");
			continue;
		}
		atomic_store(&d->stop_signal, sig);
		server = atomic_load(&d->wake_server);
		if (server)
			ferry_rpc_server_wake(server);
		return NULL;
	}
}

/* Block the daemon's signals in every thread (workers inherit the mask)
 * and leave them to the signal thread. */
static int start_signal_thread(struct daemon *d)
{
	int rc;

	sigemptyset(&d->signals);
	sigaddset(&d->signals, SIGTERM);
	sigaddset(&d->signals, SIGINT);
	sigaddset(&d->signals, SIGUSR1);
	sigaddset(&d->signals, SIGHUP);
	rc = pthread_sigmask(SIG_BLOCK, &d->signals, NULL);
	if (rc)
		return -rc;
	/* A client vanishing under a socket write must be an error, not death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -errno;
	rc = pthread_create(&d->signal_thread, NULL, signal_main, d);
	if (rc)
		return -rc;
	d->have_signal_thread = 1;
	return 0;
}

static void stop_signal_thread(struct daemon *d)
{
	if (!d->have_signal_thread)
		return;
	if (!atomic_load(&d->stop_signal))
		pthread_kill(d->signal_thread, SIGTERM);
	pthread_join(d->signal_thread, NULL);
	d->have_signal_thread = 0;
}

/* Each session holds descriptors: allow as many as the hard limit does. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			FLOG_WARN(0, 0, "cannot raise the descriptor limit: %s", strerror(errno));
	}
}

static int setup_logging(const struct iond_config *cfg)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	int known = 0;

	if (cfg->log_level) {
		for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
			known |= !strcmp(cfg->log_level, levels[i]);
		if (!known) {
			fprintf(stderr, "ferry-iond: --log-level %s: expected error, warn, info or debug\n",
				cfg->log_level);
			return -EINVAL;
		}
		/* log.h reads the level from the environment; the flag wins. */
		if (setenv("FERRY_LOG_LEVEL", cfg->log_level, 1) != 0)
			return -errno;
	}
	ferry_log_init("ferry-iond", FERRY_LOG_INFO, -1);
	return 0;
}

static int open_exports(struct daemon *d)
{
	int rc;

	rc = fsp_exports_new(&d->ctx.exports);
	if (rc) {
		fprintf(stderr, "ferry-iond: exports: %s\n", strerror(-rc));
		return 1;
	}
	fsp_exports_on_escape(d->ctx.exports, iond_on_escape, &d->ctx);
	for (size_t i = 0; i < d->cfg.nexports; i++) {
		rc = fsp_exports_add(d->ctx.exports, d->cfg.exports[i]);
		if (rc == 0)
			continue;
		if (rc == -EINVAL) {
			fprintf(stderr,
				"ferry-iond: export %s: expected PREFIX=DIR with an absolute, "
				"unique PREFIX\n",
				d->cfg.exports[i]);
			return EXIT_USAGE;
		}
		fprintf(stderr, "ferry-iond: export %s: %s\n", d->cfg.exports[i], strerror(-rc));
		return 1;
	}
	return 0;
}

static void format_ready_line(struct daemon *d)
{
	size_t n = sizeof(d->ready_line), used;

	/* The transport's own URI names the port it chose for tcp://HOST:0. */
	if (ferry_rpc_server_uri(d->ctx.server, d->uri, sizeof(d->uri)) != 0)
		snprintf(d->uri, sizeof(d->uri), "%s", d->cfg.listen);
	used = (size_t)snprintf(d->ready_line, n, "ferry-iond ready: listening on %s (%s), exports ",
				d->uri, ferry_rpc_server_provider(d->ctx.server));
	for (size_t i = 0; i < fsp_exports_count(d->ctx.exports) && used < n; i++)
		used += (size_t)snprintf(d->ready_line + used, n - used, "%s%s", i ? ", " : "",
					 fsp_exports_describe(d->ctx.exports, i));
	if (used < n)
		snprintf(d->ready_line + used, n - used, ", %u workers, auth %s",
			 iond_workers_min(d->ctx.workers), iond_auth_name(d->ctx.auth));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Forwarded sockets: the [sockets] policy (already checked by config.c). */
static int start_sockets(struct daemon *d)
{
	struct iond_sock_policy *policy = malloc(sizeof(*policy));
	char word[128];
	int rc = -ENOMEM;

	if (!policy)
		return rc;
	iond_sock_policy_init(policy);
	policy->enabled = d->cfg.sockets_enabled;
	rc = d->cfg.listen_ports
		     ? iond_sock_policy_set_ports(policy, d->cfg.listen_ports, word, sizeof(word))
		     : 0;
	if (!rc && d->cfg.socket_connect)
		rc = iond_sock_policy_set_connect(policy, d->cfg.socket_connect, word,
						  sizeof(word));
	if (!rc)
		rc = iond_sockets_init(d->ctx.sessions, policy);
	if (!rc)
		FLOG_INFO(0, 0, "sockets: %s; listen ports: %s; connect: %s",
			  policy->enabled ? "enabled" : "disabled",
			  d->cfg.listen_ports ? d->cfg.listen_ports : "none",
			  d->cfg.socket_connect ? d->cfg.socket_connect : "any");
	free(policy);
	return rc;
}

static int serve(struct daemon *d)
{
	uint64_t next_orphan_check = now_ms() + ORPHAN_CHECK_MS;

	for (;;) {
		int rc;

		if (atomic_load(&d->stop_signal))
			return 0;
		rc = ferry_rpc_server_progress(d->ctx.server, ORPHAN_CHECK_MS);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -ETIMEDOUT) {
			FLOG_ERR(0, 0, "rpc progress failed: %s", strerror(-rc));
			return 1;
		}
		if (now_ms() >= next_orphan_check) {
			size_t n = iond_inflight_interrupt_orphans();

			if (n)
				FLOG_DEBUG(0, 0, "interrupted %zu calls of closed sessions", n);
			next_orphan_check = now_ms() + ORPHAN_CHECK_MS;
		}
	}
}

static double elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static bool pools_busy(struct daemon *d)
{
	bool busy = iond_workers_drain(d->ctx.workers, 0) != 0;

	if (d->ctx.sock_workers && iond_workers_drain(d->ctx.sock_workers, 0) != 0)
		busy = true;
	return busy;
}

/* Stop accepting, let calls in flight finish (they may need progress for
 * their bulk transfers and replies), then close everything.  Returns 0 when
 * every worker stopped, else -ETIMEDOUT (the server is then left open). */
static int shut_down(struct daemon *d)
{
	struct timespec start;
	bool sessions_closed = false;
	int rc;

	atomic_store(&d->ctx.draining, true);
	iond_sockets_stop_waits();
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (pools_busy(d)) {
		double waited = elapsed_s(&start);

		if (!sessions_closed && waited > d->cfg.drain_secs) {
			/* Calls still blocked (a lock nobody releases): close
			 * their sessions and interrupt them. */
			FLOG_WARN(0, 0, "calls still running after %u s: interrupting them",
				  d->cfg.drain_secs);
			iond_sessions_close_all(d->ctx.sessions, "shutdown");
			sessions_closed = true;
		}
		if (sessions_closed) {
			iond_inflight_interrupt_orphans();
			if (waited > d->cfg.drain_secs + INTERRUPT_GRACE_S)
				break;
		}
		ferry_rpc_server_progress(d->ctx.server, 50);
	}
	rc = iond_workers_stop(d->ctx.workers, STOP_WORKERS_MS);
	if (d->ctx.sock_workers && iond_workers_stop(d->ctx.sock_workers, STOP_WORKERS_MS))
		rc = -ETIMEDOUT;
	if (rc)
		FLOG_WARN(0, 0, "a worker is stuck in a call; exiting without waiting for it");
	iond_sessions_close_all(d->ctx.sessions, "shutdown");
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon *d;
	char err[1024];
	int status = 1;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d) {
		fprintf(stderr, "ferry-iond: out of memory\n");
		return 1;
	}
	rc = iond_config_load(&d->cfg, argc, argv, err, sizeof(err));
	if (rc == IOND_CONFIG_HELP) {
		iond_config_usage(stdout);
		status = 0;
		goto out_config;
	}
	if (rc == IOND_CONFIG_VERSION) {
		printf("ferry-iond %s (protocol %d)\n", FERRY_VERSION, FERRY_PROTO_VERSION);
		status = 0;
		goto out_config;
	}
	if (rc < 0) {
		fprintf(stderr, "ferry-iond: %s\n", err[0] ? err : strerror(-rc));
		if (rc == -EINVAL)
			fprintf(stderr, "Try 'ferry-iond --help'.\n");
		status = rc == -EINVAL ? EXIT_USAGE : 1;
		goto out_config;
	}
	status = EXIT_USAGE;
	if (setup_logging(&d->cfg))
		goto out_config;
	if (iond_auth_parse(d->cfg.auth, &d->ctx.auth)) {
		fprintf(stderr, "ferry-iond: --auth %s: not supported (this build knows: munge, none)\n",
			d->cfg.auth);
		goto out_config;
	}
	if (iond_auth_set_munge_socket(d->cfg.munge_socket)) {
		fprintf(stderr, "ferry-iond: out of memory\n");
		goto out_config;
	}
	rc = iond_auth_set_allowed_users(d->cfg.allow_users, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ferry-iond: %s\n", rc == -EINVAL ? err : strerror(-rc));
		goto out_config;
	}
	{
		char prov[64], node[256], service[64];

		if (ferry_rpc_parse_uri(d->cfg.listen, prov, sizeof(prov), node, sizeof(node),
					service, sizeof(service))) {
			fprintf(stderr,
				"ferry-iond: listen address %s: expected tcp://HOST:PORT, "
				"verbs://HOST:PORT or shm://NAME\n",
				d->cfg.listen);
			goto out_config;
		}
	}

	status = 1;
	iond_stats_init(&d->stats);
	d->ctx.stats = &d->stats;
	if (start_signal_thread(d)) {
		fprintf(stderr, "ferry-iond: cannot set up signal handling\n");
		goto out_config;
	}
	raise_fd_limit();
	if (iond_inflight_init()) {
		fprintf(stderr, "ferry-iond: cannot install the interrupt signal\n");
		goto out_exports;
	}
	if (iond_identity_init())
		FLOG_INFO(0, 0, "running as root: each call runs with its session's uid, gid and groups");
	rc = open_exports(d);
	if (rc) {
		status = rc;
		goto out_exports;
	}
	rc = iond_sessions_new(d->cfg.max_sessions, d->cfg.max_fds, &d->stats, &d->ctx.sessions);
	if (rc) {
		fprintf(stderr, "ferry-iond: sessions: %s\n", strerror(-rc));
		goto out_exports;
	}
	rc = start_sockets(d);
	if (rc) {
		fprintf(stderr, "ferry-iond: sockets: %s\n", strerror(-rc));
		goto out_sessions;
	}
	rc = ferry_rpc_server_open(d->cfg.listen, NULL, iond_on_request, &d->ctx, &d->ctx.server);
	if (rc) {
		fprintf(stderr, "ferry-iond: listen on %s: %s\n", d->cfg.listen, strerror(-rc));
		goto out_sockets;
	}
	ferry_rpc_server_on_peer_down(d->ctx.server, iond_on_peer_down, &d->ctx);
	iond_sockets_set_server(d->ctx.server);
	atomic_store(&d->wake_server, d->ctx.server);
	iond_ctx_set_limits(&d->ctx);
	rc = iond_workers_start(d->cfg.workers, d->cfg.max_workers, &iond_handler_ops, &d->ctx,
				&d->ctx.workers);
	if (rc) {
		fprintf(stderr, "ferry-iond: workers: %s\n", strerror(-rc));
		goto out_server;
	}
	iond_workers_set_spin(d->ctx.workers, d->cfg.worker_spin_us);
	if (d->cfg.sockets_enabled) {
		rc = iond_workers_start(1, IOND_SOCK_WORKERS_MAX, &iond_handler_ops, &d->ctx,
					&d->ctx.sock_workers);
		if (rc) {
			fprintf(stderr, "ferry-iond: socket workers: %s\n", strerror(-rc));
			shut_down(d);
			goto out_server;
		}
	}

	iond_auth_announce(d->ctx.auth);
	format_ready_line(d);
	if (d->cfg.ready_file) {
		rc = iond_ready_file_write(d->cfg.ready_file, d->ready_line);
		if (rc) {
			fprintf(stderr, "ferry-iond: ready file %s: %s\n", d->cfg.ready_file,
				strerror(-rc));
			shut_down(d);
			goto out_server;
		}
	}
	printf("%s\n", d->ready_line);
	fflush(stdout);
	FLOG_INFO(0, 0, "%s", d->ready_line);

	status = serve(d);
	FLOG_INFO(0, 0, "shutting down (%s)",
		  atomic_load(&d->stop_signal) ? strsignal(atomic_load(&d->stop_signal))
						: "rpc failure");
	rc = shut_down(d);
	log_stats(d, "shutdown");
	if (d->cfg.ready_file && unlink(d->cfg.ready_file) != 0 && errno != ENOENT)
		FLOG_WARN(0, 0, "ready file %s: %s", d->cfg.ready_file, strerror(errno));
	FLOG_INFO(0, 0, "exiting with status %d", status);
	if (rc) {
		/* A worker still holds a request: closing the server under it
		 * would free memory it uses.  Leave it to the exit. */
		fflush(NULL);
		_exit(status);
	}
out_server:
	/* The signal thread may still be waiting for a signal: it must not
	 * wake a closed server. */
	stop_signal_thread(d);
	iond_sockets_set_server(NULL);
	ferry_rpc_server_close(d->ctx.server);
out_sockets:
	/* Sessions first: their close makes the members leave the clusters. */
	iond_sessions_close_all(d->ctx.sessions, "shutdown");
	iond_sockets_fini();
out_sessions:
	iond_sessions_free(d->ctx.sessions);
out_exports:
	fsp_exports_free(d->ctx.exports);
	stop_signal_thread(d);
out_config:
	iond_auth_cleanup();
	iond_config_free(&d->cfg);
	free(d);
	return status;
}
