/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-iond settings: command-line flags override the environment
 * (FERRY_LISTEN, FERRY_EXPORTS, FERRY_MUNGE_SOCKET), which overrides the config file
 * ([ionode] and [sockets] sections; --config FILE, else /etc/ferry/ferry.conf
 * if present).
 */
#ifndef IOND_CONFIG_H
#define IOND_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define IOND_DEFAULT_CONFIG "/etc/ferry/ferry.conf"
#define IOND_MAX_EXPORT_SPECS 64

struct iond_config {
	char *listen;
	char *exports[IOND_MAX_EXPORT_SPECS];
	size_t nexports;
	unsigned int workers;     /* 0: the default (max(4, nproc)) */
	unsigned int max_workers; /* 0: the default (see workers.h) */
	char *auth;               /* "none" or "munge" */
	char *munge_socket;       /* NULL: libmunge's default */
	char *allow_users;        /* NULL: any user; else names/uids, ','-separated */
	char *log_level;          /* NULL: FERRY_LOG_LEVEL or info */
	char *ready_file;
	char *config_path; /* the file actually read, or NULL */
	size_t max_sessions;
	size_t max_fds;          /* per session */
	unsigned int drain_secs; /* shutdown: how long in-flight calls may run */
	unsigned int worker_spin_us; /* an idle worker polls this long (0: never) */
	/* [sockets] */
	int sockets_enabled;   /* 1 (default) or 0 */
	char *listen_ports;    /* ports a job may bind ("8080 9000-9099"); NULL: none */
	char *socket_connect;  /* "any" or CIDRs a job may connect to; NULL: any */
};

enum iond_config_result {
	IOND_CONFIG_RUN = 0,
	IOND_CONFIG_HELP = 1,
	IOND_CONFIG_VERSION = 2,
};

/* Fill cfg from file, environment and argv.  Returns an iond_config_result,
 * or -EINVAL / -ENOENT / -ENOMEM with a message naming the culprit in err. */
int iond_config_load(struct iond_config *cfg, int argc, char **argv, char *err, size_t err_len);
void iond_config_free(struct iond_config *cfg);
void iond_config_usage(FILE *out);

#endif
