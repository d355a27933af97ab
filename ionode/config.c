/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock_policy.h"

#define IOND_DEFAULT_MAX_SESSIONS 16384
#define IOND_DEFAULT_MAX_FDS 65536
#define IOND_DEFAULT_DRAIN_SECS 10
#define IOND_DEFAULT_WORKER_SPIN_US 0

enum {
	OPT_READY_FILE = 256,
	OPT_MAX_SESSIONS,
	OPT_MAX_FDS,
	OPT_MAX_WORKERS,
	OPT_DRAIN,
	OPT_WORKER_SPIN,
	OPT_MUNGE_SOCKET,
	OPT_ALLOW_USERS,
	OPT_LISTEN_PORTS,
	OPT_NO_SOCKETS,
	OPT_SOCKET_CONNECT,
};

static const struct option long_opts[] = {
	{"listen", required_argument, NULL, 'l'},
	{"export", required_argument, NULL, 'e'},
	{"ready-file", required_argument, NULL, OPT_READY_FILE},
	{"workers", required_argument, NULL, 'w'},
	{"max-workers", required_argument, NULL, OPT_MAX_WORKERS},
	{"config", required_argument, NULL, 'c'},
	{"auth", required_argument, NULL, 'a'},
	{"munge-socket", required_argument, NULL, OPT_MUNGE_SOCKET},
	{"allow-users", required_argument, NULL, OPT_ALLOW_USERS},
	{"log-level", required_argument, NULL, 'L'},
	{"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
	{"max-fds", required_argument, NULL, OPT_MAX_FDS},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN},
	{"worker-spin-us", required_argument, NULL, OPT_WORKER_SPIN},
	{"listen-ports", required_argument, NULL, OPT_LISTEN_PORTS},
	{"no-sockets", no_argument, NULL, OPT_NO_SOCKETS},
	{"socket-connect", required_argument, NULL, OPT_SOCKET_CONNECT},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

void iond_config_usage(FILE *out)
{
	fprintf(out,
		"usage: ferry-iond --listen URI --export PREFIX=DIR [--export ...] [options]\n"
		"\n"
		"  -l, --listen URI         tcp://HOST:PORT, verbs://HOST:PORT or shm://NAME\n"
		"  -e, --export PREFIX=DIR  serve compute path PREFIX from directory DIR\n"
		"      --ready-file FILE    also write the ready line to FILE (atomically)\n"
		"  -w, --workers N          worker threads always running (default max(4, nproc))\n"
		"      --max-workers N      ceiling when slow calls occupy every worker\n"
		"  -c, --config FILE        ini file, section [ionode] (default %s if present)\n"
		"  -a, --auth MODE          munge: sessions prove their user with a MUNGE\n"
		"                           credential; none: believe them (development only;\n"
		"                           the default, and warned about at start-up)\n"
		"      --munge-socket PATH  munged's socket (default libmunge's,\n"
		"                           /run/munge/munge.socket.2)\n"
		"      --allow-users LIST   serve only these users (names or uids, comma-\n"
		"                           separated; default: any user MUNGE vouches for)\n"
		"  -L, --log-level LEVEL    error, warn, info, debug (default info)\n"
		"      --max-sessions N     refuse sessions beyond N (default %d)\n"
		"      --max-fds N          open handles per session (default %d)\n"
		"      --drain-timeout SECS shutdown waits this long for calls in flight (default %d)\n"
		"      --worker-spin-us N   an idle worker polls for work this long before\n"
		"                           sleeping (default %d: sleep at once)\n"
		"      --listen-ports LIST  ports a job may bind and listen on, e.g.\n"
		"                           '8080 9000-9099' (default: none)\n"
		"      --socket-connect LIST  where a job may connect: any (default) or\n"
		"                           CIDRs, e.g. '10.0.0.0/8,2001:db8::/32'\n"
		"      --no-sockets         refuse every forwarded socket call (EACCES)\n"
		"  -h, --help               this text\n"
		"  -V, --version            print the version\n"
		"\n"
		"Environment: FERRY_LISTEN, FERRY_EXPORTS (comma-separated PREFIX=DIR),\n"
		"FERRY_MUNGE_SOCKET, FERRY_LOG_LEVEL, FERRY_LOG_FILE.  Flags override the environment, which\n"
		"overrides the config file.  Config sections: [ionode], [sockets] (enable,\n"
		"listen_ports, connect).\n",
		IOND_DEFAULT_CONFIG, IOND_DEFAULT_MAX_SESSIONS, IOND_DEFAULT_MAX_FDS,
		IOND_DEFAULT_DRAIN_SECS, IOND_DEFAULT_WORKER_SPIN_US);
}

static void set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

static int replace_str(char **dst, const char *src)
{
	char *copy = strdup(src);

	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static void clear_exports(struct iond_config *cfg)
{
	for (size_t i = 0; i < cfg->nexports; i++)
		free(cfg->exports[i]);
	cfg->nexports = 0;
}

/* Append the comma-separated export specs in list. */
static int add_exports(struct iond_config *cfg, const char *list, const char *origin, char *err,
		       size_t err_len)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n > 0) {
			if (cfg->nexports == IOND_MAX_EXPORT_SPECS) {
				set_err(err, err_len, "%s: more than %d exports", origin,
					IOND_MAX_EXPORT_SPECS);
				return -EINVAL;
			}
			cfg->exports[cfg->nexports] = strndup(p, n);
			if (!cfg->exports[cfg->nexports])
				return -ENOMEM;
			cfg->nexports++;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int parse_count(const char *s, unsigned long long min, unsigned long long max,
		       unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "1"))
		*out = 1;
	else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "0"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

/* [sockets] settings; lists are checked here so the error names the layer. */
static int apply_socket_setting(struct iond_config *cfg, const char *key, const char *value,
				const char *origin, char *err, size_t err_len)
{
	struct iond_sock_policy *check = malloc(sizeof(*check));
	char word[128] = "";
	int rc;

	if (!check)
		return -ENOMEM;
	iond_sock_policy_init(check);
	if (!strcmp(key, "sockets"))
		rc = parse_bool(value, &cfg->sockets_enabled);
	else if (!strcmp(key, "listen_ports"))
		rc = iond_sock_policy_set_ports(check, value, word, sizeof(word));
	else
		rc = iond_sock_policy_set_connect(check, value, word, sizeof(word));
	free(check);
	if (rc) {
		set_err(err, err_len, "%s: invalid value '%s' for %s%s%s", origin, value, key,
			word[0] ? ": at " : "", word);
		return -EINVAL;
	}
	if (!strcmp(key, "listen_ports"))
		return replace_str(&cfg->listen_ports, value);
	if (!strcmp(key, "socket_connect"))
		return replace_str(&cfg->socket_connect, value);
	return 0;
}

/* One setting, whatever layer it came from.  Exports append: the caller
 * clears them when a higher layer first supplies some. */
static int apply_setting(struct iond_config *cfg, const char *key, const char *value,
			 const char *origin, char *err, size_t err_len)
{
	unsigned long long v;
	int ret = 0;

	if (!strcmp(key, "listen"))
		return replace_str(&cfg->listen, value);
	if (!strcmp(key, "export") || !strcmp(key, "exports"))
		return add_exports(cfg, value, origin, err, err_len);
	if (!strcmp(key, "auth"))
		return replace_str(&cfg->auth, value);
	if (!strcmp(key, "munge_socket") || !strcmp(key, "munge-socket"))
		return replace_str(&cfg->munge_socket, value);
	if (!strcmp(key, "allow_users") || !strcmp(key, "allow-users"))
		return replace_str(&cfg->allow_users, value);
	if (!strcmp(key, "log_level") || !strcmp(key, "log-level"))
		return replace_str(&cfg->log_level, value);
	if (!strcmp(key, "ready_file") || !strcmp(key, "ready-file"))
		return replace_str(&cfg->ready_file, value);
	if (!strcmp(key, "sockets") || !strcmp(key, "listen_ports") ||
	    !strcmp(key, "socket_connect"))
		return apply_socket_setting(cfg, key, value, origin, err, err_len);
	if (!strcmp(key, "workers")) {
		ret = parse_count(value, 1, 4096, &v);
		cfg->workers = (unsigned int)v;
	} else if (!strcmp(key, "max_workers") || !strcmp(key, "max-workers")) {
		ret = parse_count(value, 1, 4096, &v);
		cfg->max_workers = (unsigned int)v;
	} else if (!strcmp(key, "max_sessions") || !strcmp(key, "max-sessions")) {
		ret = parse_count(value, 1, 1u << 24, &v);
		cfg->max_sessions = (size_t)v;
	} else if (!strcmp(key, "max_fds") || !strcmp(key, "max-fds")) {
		ret = parse_count(value, 1, 1u << 24, &v);
		cfg->max_fds = (size_t)v;
	} else if (!strcmp(key, "drain_timeout") || !strcmp(key, "drain-timeout")) {
		ret = parse_count(value, 0, 3600, &v);
		cfg->drain_secs = (unsigned int)v;
	} else if (!strcmp(key, "worker_spin_us") || !strcmp(key, "worker-spin-us")) {
		ret = parse_count(value, 0, 1000000, &v);
		cfg->worker_spin_us = (unsigned int)v;
	} else {
		set_err(err, err_len, "%s: unknown setting '%s'", origin, key);
		return -EINVAL;
	}
	if (ret)
		set_err(err, err_len, "%s: invalid value '%s' for %s", origin, value, key);
	return ret;
}

struct ini_state {
	struct iond_config *cfg;
	char *err;
	size_t err_len;
	int ret;
};

/* [sockets] keys as apply_setting knows them; NULL for an unknown one. */
static const char *sockets_key(const char *name)
{
	if (!strcmp(name, "enable"))
		return "sockets";
	if (!strcmp(name, "connect"))
		return "socket_connect";
	if (!strcmp(name, "listen_ports"))
		return name;
	return NULL;
}

static int on_ini_setting(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;

	/* Other sections belong to other Ferry programs sharing the file. */
	if (!strcmp(section, "sockets")) {
		const char *key = sockets_key(name);

		if (!key) {
			set_err(st->err, st->err_len, "%s: unknown setting '%s' in [sockets]",
				st->cfg->config_path, name);
			st->ret = -EINVAL;
			return 0;
		}
		name = key;
	} else if (strcmp(section, "ionode")) {
		return 1;
	}
	st->ret = apply_setting(st->cfg, name, value, st->cfg->config_path, st->err, st->err_len);
	return st->ret == 0;
}

static int load_file(struct iond_config *cfg, const char *path, int must_exist, char *err,
		     size_t err_len)
{
	struct ini_state st = {.cfg = cfg, .err = err, .err_len = err_len};
	int rc;

	if (access(path, R_OK) != 0) {
		if (!must_exist && errno == ENOENT)
			return 0;
		rc = -errno;
		set_err(err, err_len, "config %s: %s", path, strerror(errno));
		return rc;
	}
	rc = replace_str(&cfg->config_path, path);
	if (rc)
		return rc;
	rc = ini_parse(path, on_ini_setting, &st);
	if (rc == 0)
		return 0;
	if (st.ret)
		return st.ret;
	if (rc < 0) {
		set_err(err, err_len, "config %s: cannot read", path);
		return -EIO;
	}
	set_err(err, err_len, "config %s:%d: syntax error", path, rc);
	return -EINVAL;
}

static int load_env(struct iond_config *cfg, char *err, size_t err_len)
{
	const char *listen = getenv("FERRY_LISTEN");
	const char *exports = getenv("FERRY_EXPORTS");
	const char *munge_socket = getenv("FERRY_MUNGE_SOCKET");
	int rc;

	if (listen && *listen) {
		rc = replace_str(&cfg->listen, listen);
		if (rc)
			return rc;
	}
	if (munge_socket && *munge_socket) {
		rc = replace_str(&cfg->munge_socket, munge_socket);
		if (rc)
			return rc;
	}
	if (exports && *exports) {
		clear_exports(cfg);
		rc = add_exports(cfg, exports, "FERRY_EXPORTS", err, err_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* First pass over argv: only --config, --help and --version, which decide
 * what the other layers are. */
static int prescan(int argc, char **argv, const char **config_path, char *err, size_t err_len)
{
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":l:e:w:c:a:L:hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*config_path = optarg;
			break;
		case 'h':
			return IOND_CONFIG_HELP;
		case 'V':
			return IOND_CONFIG_VERSION;
		case '?':
			set_err(err, err_len, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		case ':':
			set_err(err, err_len, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			break;
		}
	}
	if (optind < argc) {
		set_err(err, err_len, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return IOND_CONFIG_RUN;
}

static const char *flag_key(int c)
{
	switch (c) {
	case 'l':
		return "listen";
	case 'e':
		return "export";
	case 'w':
		return "workers";
	case 'a':
		return "auth";
	case 'L':
		return "log_level";
	case OPT_READY_FILE:
		return "ready_file";
	case OPT_MAX_WORKERS:
		return "max_workers";
	case OPT_MAX_SESSIONS:
		return "max_sessions";
	case OPT_MAX_FDS:
		return "max_fds";
	case OPT_DRAIN:
		return "drain_timeout";
	case OPT_WORKER_SPIN:
		return "worker_spin_us";
	case OPT_MUNGE_SOCKET:
		return "munge_socket";
	case OPT_ALLOW_USERS:
		return "allow_users";
	case OPT_LISTEN_PORTS:
		return "listen_ports";
	case OPT_NO_SOCKETS:
		return "sockets";
	case OPT_SOCKET_CONNECT:
		return "socket_connect";
	default:
		return NULL;
	}
}

static int load_flags(struct iond_config *cfg, int argc, char **argv, char *err, size_t err_len)
{
	int saw_export = 0;
	int c;
	int rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":l:e:w:c:a:L:hV", long_opts, NULL)) != -1) {
		const char *key = flag_key(c);
		char origin[64];

		if (!key)
			continue;
		if (c == 'e' && !saw_export) {
			clear_exports(cfg);
			saw_export = 1;
		}
		snprintf(origin, sizeof(origin), "--%s", c == OPT_NO_SOCKETS ? "no-sockets" : key);
		for (char *p = origin; *p; p++)
			if (*p == '_')
				*p = '-';
		rc = apply_setting(cfg, key, c == OPT_NO_SOCKETS ? "no" : optarg, origin, err,
				   err_len);
		if (rc)
			return rc;
	}
	return 0;
}

int iond_config_load(struct iond_config *cfg, int argc, char **argv, char *err, size_t err_len)
{
	const char *config_path = NULL;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_sessions = IOND_DEFAULT_MAX_SESSIONS;
	cfg->max_fds = IOND_DEFAULT_MAX_FDS;
	cfg->drain_secs = IOND_DEFAULT_DRAIN_SECS;
	cfg->worker_spin_us = IOND_DEFAULT_WORKER_SPIN_US;
	cfg->sockets_enabled = 1;
	err[0] = '\0';

	rc = prescan(argc, argv, &config_path, err, err_len);
	if (rc != IOND_CONFIG_RUN)
		return rc;
	if (config_path)
		rc = load_file(cfg, config_path, 1, err, err_len);
	else
		rc = load_file(cfg, IOND_DEFAULT_CONFIG, 0, err, err_len);
	if (rc)
		return rc;
	rc = load_env(cfg, err, err_len);
	if (rc)
		return rc;
	rc = load_flags(cfg, argc, argv, err, err_len);
	if (rc)
		return rc;

	if (!cfg->auth) {
		rc = replace_str(&cfg->auth, "none");
		if (rc)
			return rc;
	}
	if (!cfg->listen) {
		set_err(err, err_len, "no address to listen on (--listen or FERRY_LISTEN)");
		return -EINVAL;
	}
	if (cfg->nexports == 0) {
		set_err(err, err_len, "nothing to export (--export or FERRY_EXPORTS)");
		return -EINVAL;
	}
	if (cfg->max_workers && cfg->workers > cfg->max_workers) {
		set_err(err, err_len, "--workers %u is above --max-workers %u", cfg->workers,
			cfg->max_workers);
		return -EINVAL;
	}
	return IOND_CONFIG_RUN;
}

void iond_config_free(struct iond_config *cfg)
{
	clear_exports(cfg);
	free(cfg->listen);
	free(cfg->auth);
	free(cfg->munge_socket);
	free(cfg->allow_users);
	free(cfg->log_level);
	free(cfg->ready_file);
	free(cfg->config_path);
	free(cfg->listen_ports);
	free(cfg->socket_connect);
	memset(cfg, 0, sizeof(*cfg));
}
