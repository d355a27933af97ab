/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-run: run a job with Ferry.  Reads the allocation (--local, a
 * hostfile or Slurm's), splits the compute nodes into partitions, starts
 * ferry-iond on each partition's I/O node through the job's own launcher
 * (mpirun or srun) or uses system daemons from a config file, waits until
 * they are ready, runs the job with the runtime in every rank and each rank
 * pointed at its partition's I/O node, and stops the daemons it started
 * however the job ends.  Exit status: the job's.
 *
 * Internal mode (run by the daemon launcher on each I/O node):
 *   ferry-run --as-ionode NAME,... [--transport T] [--port P] [--log-dir D] -- FERRY-IOND ARGS
 * finds which NAME this host is, announces it on stdout and runs
 * FERRY-IOND --listen T://NAME:P ARGS as its child, turning the stop
 * requests it gets (SIGTERM, SIGINT, SIGHUP, SIGUSR2) into SIGTERM for it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <ini.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2
#define EXIT_SETUP 1
#define MAP_INLINE_MAX (64 * 1024)
#define ANNOUNCE "ferry-run-ionode: "
#define READY "ferry-iond ready: listening on "

static const char usage_text[] =
	"usage: ferry-run [options] -- mpirun|srun|PROGRAM [ARGS...]\n"
	"Run a job with Ferry: start ferry-iond on the I/O nodes, run the job with\n"
	"the runtime in every rank, each rank pointed at its partition's I/O node,\n"
	"stop the daemons when the job ends.  Exit status: the job's.\n"
	"\n"
	"Allocation (default: the Slurm job's, SLURM_JOB_NODELIST):\n"
	"  --local                one machine: a ferry-iond on 127.0.0.1 serves every rank\n"
	"  --hostfile FILE        OpenMPI hostfile listing every node of the job\n"
	"I/O nodes:\n"
	"  --ratio N              compute nodes per I/O node (default 64)\n"
	"  --ionodes HOST,...     these nodes serve (default: the first node(s) of the\n"
	"                         allocation; a one-node allocation serves itself)\n"
	"  --config FILE          use the system daemons listed in FILE ([run] ionode = URI)\n"
	"                         instead of starting any\n"
	"Daemons and ranks:\n"
	"  --export PREFIX=DIR    the daemons serve PREFIX from DIR, ranks forward PREFIX\n"
	"                         (repeatable)\n"
	"  --mount PREFIX         ranks forward PREFIX (repeatable; with --config)\n"
	"  --transport T          tcp (default), verbs, or shm (--local only)\n"
	"  --port N               daemons listen on port N (default 0: any free port)\n"
	"  --auth MODE            ferry-iond --auth MODE and FERRY_AUTH=MODE in the ranks\n"
	"  --log-dir DIR          each daemon logs to DIR/ferry-iond-HOST.log (DIR is\n"
	"                         written on the I/O node); default: ferry-run's stderr\n"
	"  --log-level LEVEL      error, warn, info or debug, for daemons and ranks\n"
	"  --iond-arg ARG         one more argument for ferry-iond (repeatable)\n"
	"  --ready-timeout SECS   how long daemons may take to start (default 60)\n"
	"  --stop-timeout SECS    how long they may take to stop before SIGKILL (default 30)\n"
	"  -v, --verbose          print the plan and each step\n"
	"  -n, --dry-run          print the partitions and the daemons' command, run nothing\n"
	"  --help, --version\n"
	"See ferry-run(1).\n";

/* ---- small helpers ---------------------------------------------------- */

static bool verbose, dry_run;

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	static const char prefix[] = "ferry-run: ";
	char line[4096];
	size_t len = sizeof(prefix) - 1;
	va_list ap;
	int n;

	memcpy(line, prefix, len);
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len += (size_t)n < sizeof(line) - len - 1 ? (size_t)n : sizeof(line) - len - 2;
	line[len++] = '\n';
	/* One write per line: it stays whole next to the job's own output. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		msg("out of memory");
		exit(EXIT_SETUP);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		msg("out of memory");
		exit(EXIT_SETUP);
	}
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		msg("out of memory");
		exit(EXIT_SETUP);
	}
	return s;
}

/* A growing NULL-terminated string vector. */
struct strv {
	char **v;
	size_t n, cap;
};

static void strv_add(struct strv *s, const char *item)
{
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (!v) {
			msg("out of memory");
			exit(EXIT_SETUP);
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = xstrdup(item);
	s->v[s->n] = NULL;
}

static void strv_addf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void strv_addf(struct strv *s, const char *fmt, ...)
{
	va_list ap;
	char *item;

	va_start(ap, fmt);
	if (vasprintf(&item, fmt, ap) < 0) {
		msg("out of memory");
		exit(EXIT_SETUP);
	}
	va_end(ap);
	strv_add(s, item);
	free(item);
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static char *strv_join(const struct strv *s, const char *sep)
{
	size_t len = 1, used = 0;
	char *out;

	for (size_t i = 0; i < s->n; i++)
		len += strlen(s->v[i]) + strlen(sep);
	out = xcalloc(1, len);
	for (size_t i = 0; i < s->n; i++)
		used += (size_t)sprintf(out + used, "%s%s", i ? sep : "", s->v[i]);
	return out;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The directory this executable is in (for ferry-exec and ferry-iond). */
static char *self_dir(void)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (len < 0) {
		msg("cannot find my own executable: %s", strerror(errno));
		exit(EXIT_SETUP);
	}
	self[len] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	return xstrdup(self);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* ---- host names ------------------------------------------------------- */

/* Does NAME (a node name from the allocation) denote this host?  Exact
 * hostname, the same short name, or one of this host's addresses. */
static bool name_is_me(const char *name)
{
	char host[HOST_NAME_MAX + 1];
	size_t short_len, name_short;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	struct ifaddrs *ifs = NULL;
	bool found = false;

	if (!strcmp(name, "localhost"))
		return true;
	if (gethostname(host, sizeof(host)) != 0)
		return false;
	host[sizeof(host) - 1] = '\0';
	if (!strcmp(host, name))
		return true;
	short_len = strcspn(host, ".");
	name_short = strcspn(name, ".");
	if (short_len == name_short && !strncmp(host, name, short_len))
		return true;
	/* An address: compare with ours.  Only numeric names, so that no
	 * name lookup is needed to decide. */
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return false;
	if (getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
			if (!i->ifa_addr || i->ifa_addr->sa_family != res->ai_family)
				continue;
			if (res->ai_family == AF_INET)
				found = !memcmp(&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
						&((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr,
						sizeof(struct in_addr));
			else if (res->ai_family == AF_INET6)
				found = !memcmp(&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
						&((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr,
						sizeof(struct in6_addr));
		}
		freeifaddrs(ifs);
	}
	freeaddrinfo(res);
	return found;
}

/* ---- internal mode: the wrapper that starts ferry-iond on an I/O node -- */

static volatile sig_atomic_t daemon_pid;

/* The wrapper's signals: SIGUSR1 goes on as it is (the daemon logs its
 * stats); every stop request becomes the SIGTERM that stops ferry-iond
 * cleanly.  srun forwards SIGUSR2 to its tasks (SIGTERM it turns into
 * SIGKILL), so SIGUSR2 is how ferry-run stops daemons started by srun. */
static void forward_to_daemon(int sig)
{
	if (daemon_pid > 0)
		kill(daemon_pid, sig == SIGUSR1 ? SIGUSR1 : SIGTERM);
}

/* Run the daemon as our child, forward stop requests to it as SIGTERM, and
 * exit as it did.  It gets SIGTERM too if this wrapper is killed. */
static int run_daemon(const char *mine, char **argv)
{
	struct sigaction sa = {.sa_handler = forward_to_daemon};
	int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
	pid_t self = getpid(), pid;
	int status;
	sigset_t block, old;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	/* Until daemon_pid is set, a stop request waits. */
	sigprocmask(SIG_BLOCK, &block, &old);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ferry-run: I/O node %s: fork: %s\n", mine, strerror(errno));
		return EXIT_SETUP;
	}
	if (pid == 0) {
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		/* srun signals the task's whole process group: the daemon
		 * must not die of the SIGUSR2 meant for this wrapper. */
		signal(SIGUSR2, SIG_IGN);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != self)
			_exit(EXIT_SETUP);
		execv(argv[0], argv);
		fprintf(stderr, "ferry-run: I/O node %s: cannot run %s: %s\n", mine, argv[0],
			strerror(errno));
		_exit(127);
	}
	daemon_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EXIT_SETUP;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "ferry-run: I/O node %s: ferry-iond killed by signal %s\n", mine,
			strsignal(WTERMSIG(status)));
		return 128 + WTERMSIG(status);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_SETUP;
}

static int as_ionode(const char *names, const char *transport, const char *port,
		     const char *log_dir, int argc, char **argv)
{
	char *list = xstrdup(names), *save = NULL, *name, *mine = NULL;
	char host[HOST_NAME_MAX + 1] = "?";
	struct strv args = {0};
	char *line;

	gethostname(host, sizeof(host) - 1);
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save))
		if (name_is_me(name)) {
			mine = name;
			break;
		}
	if (!mine) {
		fprintf(stderr, "ferry-run: host %s is none of the I/O nodes %s\n", host, names);
		return EXIT_SETUP;
	}
	if (argc < 1) {
		fprintf(stderr, "ferry-run: --as-ionode: no daemon command\n");
		return EXIT_USAGE;
	}
	if (log_dir) {
		char *path = xasprintf("%s/ferry-iond-%s.log", log_dir, mine);
		int fd;

		if (mkdir(log_dir, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "ferry-run: I/O node %s: log directory %s: %s\n", mine, log_dir,
				strerror(errno));
			return EXIT_SETUP;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
			fprintf(stderr, "ferry-run: I/O node %s: log %s: %s\n", mine, path,
				strerror(errno));
			return EXIT_SETUP;
		}
		close(fd);
		unsetenv("FERRY_LOG_FILE");
		free(path);
	}
	for (int i = 0; i < argc; i++)
		strv_add(&args, argv[i]);
	strv_add(&args, "--listen");
	if (!strcmp(transport, "shm"))
		strv_addf(&args, "shm://ferry-run-%s-%ld", mine, (long)getpid());
	else
		strv_addf(&args, "%s://%s:%s", transport, mine, port);
	/* Who this daemon is, before its ready line (both go through the
	 * launcher's output forwarding, tagged with the same rank). */
	line = xasprintf(ANNOUNCE "%s pid %ld\n", mine, (long)getpid());
	if (write(STDOUT_FILENO, line, strlen(line)) < 0)
		return EXIT_SETUP;
	free(line);
	return run_daemon(mine, args.v);
}

/* ---- the allocation --------------------------------------------------- */

struct node {
	char *name;
	char *hostfile_rest; /* "slots=2 ..." from a hostfile, or NULL */
	int ionode;          /* index into the run's I/O nodes, for compute nodes */
	bool is_ionode;
};

struct ionode {
	char *name;     /* host, or NULL for a system daemon */
	char *uri;      /* known once ready (or given) */
	char *tag;      /* output tag of its daemon, once announced */
	bool ready;
	int ncompute;
};

struct run {
	/* options */
	bool local;
	const char *hostfile;
	const char *config;
	const char *ionodes_opt;
	long ratio;
	bool ratio_given;
	struct strv exports, mounts, iond_args;
	const char *transport;
	const char *port;
	const char *auth;
	const char *log_dir;
	const char *log_level;
	long ready_timeout, stop_timeout;
	char **cmd;
	/* state */
	struct node *nodes;
	size_t nnodes, nodes_cap;
	struct ionode *ion;
	size_t nion;
	char *bindir, *fexec, *iond;
	char tmpdir[PATH_MAX];
	char *compute_hostfile;
	enum { LAUNCH_MPIRUN, LAUNCH_SRUN, LAUNCH_PLAIN } kind;
	pid_t daemons_pid; /* the daemon launcher (or ferry-iond itself with --local) */
	bool daemons_by_srun;
	int daemons_fd;    /* its stdout+stderr */
	char outbuf[8192];
	size_t outlen;
	pid_t job_pid;
	int daemons_status;
	bool daemons_exited;
	char *jobid;
};

static void add_node(struct run *r, const char *name, const char *rest)
{
	for (size_t i = 0; i < r->nnodes; i++)
		if (!strcmp(r->nodes[i].name, name))
			return; /* listed twice: one node */
	if (r->nnodes == r->nodes_cap) {
		size_t cap = r->nodes_cap ? r->nodes_cap * 2 : 16;
		struct node *n = realloc(r->nodes, cap * sizeof(*n));

		if (!n) {
			msg("out of memory");
			exit(EXIT_SETUP);
		}
		r->nodes = n;
		r->nodes_cap = cap;
	}
	memset(&r->nodes[r->nnodes], 0, sizeof(r->nodes[0]));
	r->nodes[r->nnodes].name = xstrdup(name);
	r->nodes[r->nnodes].hostfile_rest = rest && rest[0] ? xstrdup(rest) : NULL;
	r->nodes[r->nnodes].ionode = -1;
	r->nnodes++;
}

static int read_hostfile(struct run *r, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;

	if (!f) {
		msg("hostfile %s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) >= 0) {
		char *p = line, *name, *end;

		lineno++;
		p[strcspn(p, "#\r\n")] = '\0';
		p += strspn(p, " \t");
		if (!*p)
			continue;
		name = p;
		end = p + strcspn(p, " \t");
		if (*end) {
			*end++ = '\0';
			end += strspn(end, " \t");
		}
		add_node(r, name, end);
	}
	free(line);
	if (ferror(f)) {
		msg("hostfile %s: read error", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (!r->nnodes) {
		msg("hostfile %s lists no host", path);
		return -1;
	}
	return 0;
}

/* Run ARGV, return its standard output (NULL if it could not run or failed). */
static char *capture(char *const argv[])
{
	int pipefd[2];
	pid_t pid;
	char *out = NULL;
	size_t len = 0, cap = 0;
	int status;

	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return NULL;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return NULL;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pipefd[1], STDOUT_FILENO);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t n;

		if (len + 4096 + 1 > cap) {
			char *grown = realloc(out, cap = cap ? cap * 2 : 8192);

			if (!grown)
				break;
			out = grown;
		}
		n = read(pipefd[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

/* Expand a Slurm node list ("c[1-3,07],io1") without scontrol: one level of
 * brackets per name, ranges keep their zero padding. */
static int expand_nodelist(struct run *r, const char *list)
{
	const char *p = list;

	while (*p) {
		const char *start = p, *open = NULL, *close;
		int depth = 0;

		for (; *p && !(*p == ',' && depth == 0); p++) {
			if (*p == '[') {
				depth++;
				if (!open)
					open = p;
			} else if (*p == ']') {
				depth--;
			}
		}
		if (!open) {
			char *name = strndup(start, (size_t)(p - start));

			if (name && name[0])
				add_node(r, name, NULL);
			free(name);
		} else {
			char *ranges;

			close = strchr(open, ']');
			if (!close || close > p)
				return -1;
			ranges = strndup(open + 1, (size_t)(close - open - 1));
			for (char *save = NULL, *rg = strtok_r(ranges, ",", &save); rg;
			     rg = strtok_r(NULL, ",", &save)) {
				char *dash = strchr(rg, '-'), *end;
				long lo = strtol(rg, &end, 10), hi = lo;
				int width = (int)strcspn(rg, "-");

				if (dash)
					hi = strtol(dash + 1, &end, 10);
				if (*end || hi < lo || hi - lo > 100000) {
					free(ranges);
					return -1;
				}
				for (long v = lo; v <= hi; v++) {
					char *name = xasprintf("%.*s%0*ld%.*s", (int)(open - start), start,
							       width, v, (int)(p - close - 1), close + 1);

					add_node(r, name, NULL);
					free(name);
				}
			}
			free(ranges);
		}
		if (*p == ',')
			p++;
	}
	return 0;
}

static int read_slurm_allocation(struct run *r)
{
	const char *list = getenv("SLURM_JOB_NODELIST");
	char *argv[] = {"scontrol", "show", "hostnames", NULL, NULL};
	char *out;

	if (!list)
		list = getenv("SLURM_NODELIST");
	if (!list || !list[0]) {
		msg("no allocation: give --local or --hostfile FILE, or run inside a Slurm job "
		    "(SLURM_JOB_NODELIST is not set)");
		return -1;
	}
	argv[3] = (char *)list;
	out = capture(argv);
	if (out) {
		for (char *save = NULL, *h = strtok_r(out, " \t\n", &save); h;
		     h = strtok_r(NULL, " \t\n", &save))
			add_node(r, h, NULL);
		free(out);
	} else if (expand_nodelist(r, list) != 0) {
		msg("SLURM_JOB_NODELIST %s: cannot expand it (and scontrol did not)", list);
		return -1;
	}
	if (!r->nnodes) {
		msg("SLURM_JOB_NODELIST %s names no node", list);
		return -1;
	}
	return 0;
}

/* ---- the system daemons' config file ---------------------------------- */

static int config_entry(void *user, const char *section, const char *key, const char *value)
{
	struct run *r = user;

	if (strcmp(section, "run") != 0)
		return 1; /* other programs' sections */
	if (!strcmp(key, "ionode")) {
		struct ionode *grown = realloc(r->ion, (r->nion + 1) * sizeof(*grown));

		if (!grown)
			return 0;
		r->ion = grown;
		memset(&r->ion[r->nion], 0, sizeof(r->ion[0]));
		r->ion[r->nion++].uri = xstrdup(value);
		return 1;
	}
	if (!strcmp(key, "mount")) {
		strv_add(&r->mounts, value);
		return 1;
	}
	if (!strcmp(key, "ratio")) {
		char *end;

		if (!r->ratio_given) {
			r->ratio = strtol(value, &end, 10);
			if (*end || r->ratio < 1)
				return 0;
			r->ratio_given = true;
		}
		return 1;
	}
	return 0;
}

static int read_config(struct run *r)
{
	int rc = ini_parse(r->config, config_entry, r);

	if (rc < 0) {
		msg("config %s: cannot read it", r->config);
		return -1;
	}
	if (rc > 0) {
		msg("config %s, line %d: unknown key or bad value in [run] (keys: ionode, "
		    "mount, ratio)",
		    r->config, rc);
		return -1;
	}
	if (!r->nion) {
		msg("config %s: no 'ionode = URI' in section [run]", r->config);
		return -1;
	}
	return 0;
}

/* ---- partitions ------------------------------------------------------- */

/* Spread the compute nodes over the first K I/O nodes in contiguous, even
 * runs (sizes differ by one at most); -1 if a run would exceed the ratio. */
static int spread(struct run *r, size_t k, const char *what)
{
	size_t ncompute = 0, i = 0;

	for (size_t n = 0; n < r->nnodes; n++)
		ncompute += !r->nodes[n].is_ionode;
	if (!ncompute) {
		msg("the allocation has no compute node left once the I/O nodes (%s) are taken", what);
		return -1;
	}
	if (k > ncompute)
		k = ncompute;
	if ((ncompute + k - 1) / k > (size_t)r->ratio) {
		msg("%zu compute nodes at %ld per I/O node need %zu I/O nodes; %s gives %zu",
		    ncompute, r->ratio, (ncompute + (size_t)r->ratio - 1) / (size_t)r->ratio, what, k);
		return -1;
	}
	for (size_t n = 0; n < r->nnodes; n++) {
		if (r->nodes[n].is_ionode)
			continue;
		r->nodes[n].ionode = (int)(i * k / ncompute);
		r->ion[r->nodes[n].ionode].ncompute++;
		i++;
	}
	/* I/O nodes left without compute nodes are not used. */
	r->nion = k;
	return 0;
}

static int plan(struct run *r)
{
	if (r->local) {
		r->nion = 1;
		r->ion = xcalloc(1, sizeof(*r->ion));
		r->ion[0].name = xstrdup("localhost");
		add_node(r, "localhost", NULL);
		r->nodes[0].ionode = 0;
		r->ion[0].ncompute = 1;
		return 0;
	}
	if (r->config) {
		/* System daemons: every node of the allocation computes; as many
		 * daemons as the ratio needs (all of them without --ratio). */
		size_t k = r->nion;

		if (r->ratio_given && (r->nnodes + (size_t)r->ratio - 1) / (size_t)r->ratio < k)
			k = (r->nnodes + (size_t)r->ratio - 1) / (size_t)r->ratio;
		if (!r->ratio_given)
			r->ratio = LONG_MAX;
		return spread(r, k, r->config);
	}
	if (r->ionodes_opt) {
		char *list = xstrdup(r->ionodes_opt), *save = NULL;

		for (char *h = strtok_r(list, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
			bool known = false;

			for (size_t i = 0; i < r->nnodes; i++)
				if (!strcmp(r->nodes[i].name, h)) {
					r->nodes[i].is_ionode = true;
					known = true;
				}
			if (!known) {
				msg("--ionodes: %s is not in the allocation", h);
				free(list);
				return -1;
			}
			r->ion = realloc(r->ion, (r->nion + 1) * sizeof(*r->ion));
			if (!r->ion) {
				msg("out of memory");
				exit(EXIT_SETUP);
			}
			memset(&r->ion[r->nion], 0, sizeof(r->ion[0]));
			r->ion[r->nion++].name = xstrdup(h);
		}
		free(list);
		return spread(r, r->nion, "--ionodes");
	}
	if (r->nnodes == 1) {
		/* One node: it serves itself. */
		r->nion = 1;
		r->ion = xcalloc(1, sizeof(*r->ion));
		r->ion[0].name = xstrdup(r->nodes[0].name);
		r->nodes[0].ionode = 0;
		r->ion[0].ncompute = 1;
		return 0;
	}
	/* The first K nodes serve the other N-K: the smallest K with
	 * K * ratio >= N - K. */
	{
		size_t k = (r->nnodes + (size_t)r->ratio) / ((size_t)r->ratio + 1);

		r->nion = k;
		r->ion = xcalloc(k, sizeof(*r->ion));
		for (size_t i = 0; i < k; i++) {
			r->nodes[i].is_ionode = true;
			r->ion[i].name = xstrdup(r->nodes[i].name);
		}
		return spread(r, k, "the allocation");
	}
}

/* ---- signals ---------------------------------------------------------- */

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig != SIGCHLD)
		got_signal = sig;
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* full pipe: a wake-up is pending anyway */
	}
	errno = saved;
}

static int setup_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void drain_sig_pipe(void)
{
	char buf[64];

	while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* In a child before exec: default signal dispositions. */
static void child_signals(void)
{
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/* In the daemons' launcher and the job's, before exec: should ferry-run
 * itself be killed (SIGKILL, nothing it can clean up), they get SIGTERM. */
static void stop_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(EXIT_SETUP);
}

/* ---- daemons ---------------------------------------------------------- */

static const char *ionode_label(const struct run *r, size_t i)
{
	return r->ion[i].name ? r->ion[i].name : r->ion[i].uri;
}

static char *log_path(const struct run *r, size_t i)
{
	if (!r->log_dir)
		return xstrdup("its output is above");
	return xasprintf("its log: %s%s%s/ferry-iond-%s.log", r->local ? "" : r->ion[i].name,
			 r->local ? "" : ":", r->log_dir, r->ion[i].name);
}

static void print_log_tail(const struct run *r, size_t i)
{
	char *path;
	FILE *f;
	char line[1024];
	char *lines[10] = {0};
	size_t n = 0;

	if (!r->log_dir)
		return;
	path = xasprintf("%s/ferry-iond-%s.log", r->log_dir, r->ion[i].name);
	f = fopen(path, "re");
	free(path);
	if (!f)
		return; /* on the I/O node only */
	while (fgets(line, sizeof(line), f)) {
		free(lines[n % 10]);
		lines[n % 10] = xstrdup(line);
		n++;
	}
	fclose(f);
	for (size_t k = n > 10 ? n - 10 : 0; k < n; k++) {
		fprintf(stderr, "  %s: %s", r->ion[i].name, lines[k % 10]);
		free(lines[k % 10]);
	}
}

static void set_ionode_env(struct run *r, bool for_daemons)
{
	unsetenv("OMPI_MCA_orte_fork_agent");
	if (for_daemons && !r->local && getuid() == 0) {
		/* ferry-run decided to start these; mpirun asks root to confirm. */
		setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
		setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
	}
}

/* Build the daemons' own arguments (after --listen, which the wrapper adds). */
static void iond_args(struct run *r, struct strv *a)
{
	strv_add(a, r->iond);
	for (size_t i = 0; i < r->exports.n; i++) {
		strv_add(a, "--export");
		strv_add(a, r->exports.v[i]);
	}
	if (r->auth) {
		strv_add(a, "--auth");
		strv_add(a, r->auth);
	}
	if (r->log_level || !r->log_dir) {
		/* Without a log directory the daemons' log goes to our stderr,
		 * next to the job's output: warnings and errors only. */
		strv_add(a, "--log-level");
		strv_add(a, r->log_level ? r->log_level : "warn");
	}
	for (size_t i = 0; i < r->iond_args.n; i++)
		strv_add(a, r->iond_args.v[i]);
}

static int start_daemons(struct run *r)
{
	struct strv a = {0};
	int pipefd[2];
	char *names;
	struct strv nv = {0};
	pid_t pid, parent;

	for (size_t i = 0; i < r->nion; i++)
		strv_add(&nv, r->ion[i].name);
	names = strv_join(&nv, ",");
	strv_free(&nv);

	if (r->local) {
		strv_add(&a, r->iond);
		strv_add(&a, "--listen");
		if (!strcmp(r->transport, "shm"))
			strv_addf(&a, "shm://ferry-run-%ld", (long)getpid());
		else
			strv_addf(&a, "%s://127.0.0.1:%s", r->transport, r->port);
		{
			/* iond_args adds the program name first: skip it. */
			struct strv rest = {0};

			iond_args(r, &rest);
			for (size_t i = 1; i < rest.n; i++)
				strv_add(&a, rest.v[i]);
			strv_free(&rest);
		}
		r->ion[0].tag = xstrdup("");
	} else {
		if (r->kind == LAUNCH_SRUN) {
			strv_add(&a, "srun");
			strv_addf(&a, "--nodes=%zu", r->nion);
			strv_addf(&a, "--ntasks=%zu", r->nion);
			strv_add(&a, "--ntasks-per-node=1");
			strv_addf(&a, "--nodelist=%s", names);
			strv_add(&a, "--overlap");
			strv_add(&a, "--kill-on-bad-exit=1");
			strv_add(&a, "--label");
			strv_add(&a, "--unbuffered");
			strv_add(&a, "--job-name=ferry-iond");
		} else {
			strv_add(&a, "mpirun");
			if (r->hostfile) {
				strv_add(&a, "--hostfile");
				strv_add(&a, r->hostfile);
			}
			strv_add(&a, "--host");
			strv_add(&a, names);
			strv_add(&a, "-np");
			strv_addf(&a, "%zu", r->nion);
			strv_add(&a, "--map-by");
			strv_add(&a, "node");
			strv_add(&a, "--bind-to");
			strv_add(&a, "none");
			strv_add(&a, "--tag-output");
			strv_add(&a, "--stdin");
			strv_add(&a, "none");
		}
		strv_addf(&a, "%s/ferry-run", r->bindir);
		strv_add(&a, "--as-ionode");
		strv_add(&a, names);
		strv_add(&a, "--transport");
		strv_add(&a, r->transport);
		strv_add(&a, "--port");
		strv_add(&a, r->port);
		if (r->log_dir) {
			strv_add(&a, "--log-dir");
			strv_add(&a, r->log_dir);
		}
		strv_add(&a, "--");
		iond_args(r, &a);
	}
	free(names);
	if (verbose || dry_run) {
		char *line = strv_join(&a, " ");

		msg("%s the I/O node daemons: %s", dry_run ? "would start" : "starting", line);
		free(line);
	}
	if (dry_run) {
		strv_free(&a);
		return 0;
	}
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		msg("pipe: %s", strerror(errno));
		strv_free(&a);
		return -1;
	}
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		msg("fork: %s", strerror(errno));
		strv_free(&a);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		/* Their own process group: a ^C reaches the job first, and the
		 * daemons are stopped once the job has ended. */
		setpgid(0, 0);
		child_signals();
		stop_with_parent(parent);
		set_ionode_env(r, true);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		if (!r->log_dir)
			dup2(pipefd[1], STDERR_FILENO);
		else if (r->local) {
			char *path = xasprintf("%s/ferry-iond-%s.log", r->log_dir, r->ion[0].name);
			int fd;

			mkdir(r->log_dir, 0755);
			fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd < 0) {
				fprintf(stderr, "ferry-run: log %s: %s\n", path, strerror(errno));
				_exit(EXIT_SETUP);
			}
			dup2(fd, STDERR_FILENO);
			unsetenv("FERRY_LOG_FILE");
		}
		execvp(a.v[0], a.v);
		fprintf(stderr, "ferry-run: cannot run %s: %s\n", a.v[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	r->daemons_pid = pid;
	r->daemons_by_srun = !r->local && r->kind == LAUNCH_SRUN;
	r->daemons_fd = pipefd[0];
	strv_free(&a);
	return 0;
}

/* Strip the launcher's output tag: mpirun's "[1,0]<stdout>:" or srun's
 * "0: ".  *tag gets it (empty when none). */
static const char *untag(const char *line, char *tag, size_t tag_len)
{
	const char *p = line;

	tag[0] = '\0';
	if (line[0] == '[') {
		const char *close = strstr(line, ">:");

		if (close && close - line < 64) {
			const char *lt = strchr(line, '<');

			snprintf(tag, tag_len, "%.*s", (int)((lt ? lt : close) - line), line);
			return close + 2;
		}
	}
	p += strspn(p, " ");
	if (p[0] >= '0' && p[0] <= '9') {
		const char *q = p + strspn(p, "0123456789");

		if (q[0] == ':' && q[1] == ' ') {
			snprintf(tag, tag_len, "%.*s", (int)(q - p), p);
			return q + 2;
		}
	}
	return line;
}

static void daemon_line(struct run *r, char *line)
{
	char tag[64];
	const char *body = untag(line, tag, sizeof(tag));

	if (!strncmp(body, ANNOUNCE, strlen(ANNOUNCE))) {
		const char *name = body + strlen(ANNOUNCE);
		size_t len = strcspn(name, " ");

		for (size_t i = 0; i < r->nion; i++)
			if (r->ion[i].name && strlen(r->ion[i].name) == len &&
			    !strncmp(r->ion[i].name, name, len)) {
				free(r->ion[i].tag);
				r->ion[i].tag = xstrdup(tag);
			}
		if (verbose)
			msg("%s", body);
		return;
	}
	if (!strncmp(body, READY, strlen(READY))) {
		const char *uri = body + strlen(READY);
		size_t len = strcspn(uri, " ");

		for (size_t i = 0; i < r->nion; i++)
			if (r->ion[i].tag && !strcmp(r->ion[i].tag, tag) && !r->ion[i].ready) {
				r->ion[i].ready = true;
				r->ion[i].uri = strndup(uri, len);
				if (verbose)
					msg("I/O node %s ready at %s", ionode_label(r, i), r->ion[i].uri);
				return;
			}
		msg("a daemon's ready line matches no I/O node: %s", line);
		return;
	}
	fprintf(stderr, "%s\n", line);
}

/* Read what the daemons printed; 0 at end of file, 1 otherwise. */
static int read_daemons(struct run *r)
{
	for (;;) {
		ssize_t n;
		char *nl;

		if (r->daemons_fd < 0)
			return 0;
		n = read(r->daemons_fd, r->outbuf + r->outlen, sizeof(r->outbuf) - 1 - r->outlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1; /* EAGAIN */
		if (n == 0) {
			if (r->outlen) {
				r->outbuf[r->outlen] = '\0';
				daemon_line(r, r->outbuf);
				r->outlen = 0;
			}
			close(r->daemons_fd);
			r->daemons_fd = -1;
			return 0;
		}
		r->outlen += (size_t)n;
		r->outbuf[r->outlen] = '\0';
		while ((nl = strchr(r->outbuf, '\n'))) {
			*nl = '\0';
			daemon_line(r, r->outbuf);
			r->outlen -= (size_t)(nl + 1 - r->outbuf);
			memmove(r->outbuf, nl + 1, r->outlen + 1);
		}
		if (r->outlen == sizeof(r->outbuf) - 1) {
			daemon_line(r, r->outbuf); /* an over-long line, as it is */
			r->outlen = 0;
		}
	}
}

static void reap_daemons(struct run *r)
{
	int status;

	if (r->daemons_pid <= 0 || r->daemons_exited)
		return;
	if (waitpid(r->daemons_pid, &status, WNOHANG) == r->daemons_pid) {
		r->daemons_exited = true;
		r->daemons_status = status;
	}
}

static char *describe_status(int status)
{
	if (WIFEXITED(status))
		return xasprintf("exit status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return xasprintf("signal %s", strsignal(WTERMSIG(status)));
	return xstrdup("unknown status");
}

static size_t count_ready(const struct run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nion; i++)
		n += r->ion[i].ready;
	return n;
}

static char *pending_list(const struct run *r)
{
	struct strv p = {0};
	char *out;

	for (size_t i = 0; i < r->nion && p.n < 8; i++)
		if (!r->ion[i].ready)
			strv_add(&p, ionode_label(r, i));
	if (r->nion - count_ready(r) > p.n)
		strv_add(&p, "...");
	out = strv_join(&p, ", ");
	strv_free(&p);
	return out;
}

static int wait_ready(struct run *r)
{
	double start = now_s(), next_progress = start + 2;
	bool tty = isatty(STDERR_FILENO);
	bool progressed = false;

	while (count_ready(r) < r->nion) {
		struct pollfd p[2] = {{.fd = r->daemons_fd, .events = POLLIN},
				      {.fd = sig_pipe[0], .events = POLLIN}};
		double t = now_s();

		if (got_signal) {
			if (progressed && tty)
				fputc('\n', stderr);
			msg("%s while waiting for the I/O nodes", strsignal(got_signal));
			return -1;
		}
		read_daemons(r);
		reap_daemons(r);
		if (count_ready(r) == r->nion)
			break;
		if (r->daemons_exited) {
			char *st = describe_status(r->daemons_status);

			read_daemons(r);
			if (progressed && tty)
				fputc('\n', stderr);
			for (size_t i = 0; i < r->nion; i++) {
				char *lp;

				if (r->ion[i].ready)
					continue;
				lp = log_path(r, i);
				msg("I/O node %s: ferry-iond stopped before it was ready (%s %s); %s",
				    ionode_label(r, i),
				    r->local ? "ferry-iond" : r->kind == LAUNCH_SRUN ? "srun" : "mpirun",
				    st, lp);
				print_log_tail(r, i);
				free(lp);
			}
			free(st);
			return -1;
		}
		if (t - start > (double)r->ready_timeout) {
			if (progressed && tty)
				fputc('\n', stderr);
			for (size_t i = 0; i < r->nion; i++) {
				char *lp;

				if (r->ion[i].ready)
					continue;
				lp = log_path(r, i);
				msg("I/O node %s (%s://%s:%s) not ready after %ld s; %s",
				    ionode_label(r, i), r->transport,
				    r->local ? "127.0.0.1" : ionode_label(r, i), r->port,
				    r->ready_timeout, lp);
				print_log_tail(r, i);
				free(lp);
			}
			return -1;
		}
		if (t >= next_progress) {
			char *pend = pending_list(r);

			if (tty)
				fprintf(stderr, "\rferry-run: waiting for I/O nodes: %zu of %zu ready "
						"(waiting for %s), %.0f s ",
					count_ready(r), r->nion, pend, t - start);
			else
				msg("waiting for I/O nodes: %zu of %zu ready (waiting for %s), %.0f s",
				    count_ready(r), r->nion, pend, t - start);
			free(pend);
			progressed = true;
			next_progress = t + (tty ? 1 : 5);
		}
		/* poll skips a closed (negative) descriptor. */
		if (poll(p, 2, 250) < 0 && errno != EINTR)
			break;
		drain_sig_pipe();
	}
	if (progressed && tty)
		fputc('\n', stderr);
	if (verbose || progressed)
		msg("%zu I/O node%s ready", r->nion, r->nion == 1 ? "" : "s");
	return 0;
}

/* System daemons: ready when a session opens.  ferry-exec refuses to run a
 * program when the runtime cannot open its session. */
static int probe_system_daemons(struct run *r)
{
	double start = now_s();

	for (size_t i = 0; i < r->nion; i++) {
		for (;;) {
			char *argv[] = {r->fexec, "--ionode", r->ion[i].uri, "--mount", "/.ferry-run-probe",
					"--", "/bin/true", NULL};
			pid_t pid = fork();
			int status = -1;

			if (pid < 0) {
				msg("fork: %s", strerror(errno));
				return -1;
			}
			if (pid == 0) {
				int devnull = open("/dev/null", O_RDWR);

				child_signals();
				if (devnull >= 0) {
					dup2(devnull, STDOUT_FILENO);
					dup2(devnull, STDERR_FILENO);
				}
				/* A session opens at the first forwarded call
				 * otherwise, and true makes none. */
				setenv("FERRY_CONNECT", "start", 1);
				execv(argv[0], argv);
				_exit(127);
			}
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				r->ion[i].ready = true;
				break;
			}
			if (got_signal)
				return -1;
			if (now_s() - start > (double)r->ready_timeout) {
				msg("I/O node %s: no session could be opened after %ld s (is ferry-iond "
				    "running there? try: FERRY_CONNECT=start ferry-exec --ionode %s --mount /pfs -- "
				    "true)",
				    r->ion[i].uri, r->ready_timeout, r->ion[i].uri);
				return -1;
			}
			sleep(1);
		}
	}
	return 0;
}

static void stop_daemons(struct run *r)
{
	double start;
	bool killed = false;

	if (r->daemons_pid <= 0)
		return;
	reap_daemons(r);
	if (!r->daemons_exited) {
		if (verbose)
			msg("stopping the I/O node daemons");
		/* srun would turn SIGTERM into SIGKILL for its tasks; it
		 * forwards SIGUSR2, which the wrappers turn into SIGTERM. */
		kill(r->daemons_pid, r->daemons_by_srun ? SIGUSR2 : SIGTERM);
	}
	start = now_s();
	while (!r->daemons_exited) {
		read_daemons(r);
		reap_daemons(r);
		if (r->daemons_exited)
			break;
		if (!killed && now_s() - start > (double)r->stop_timeout) {
			msg("the I/O node daemons did not stop within %ld s: killing them",
			    r->stop_timeout);
			kill(-r->daemons_pid, SIGKILL);
			killed = true;
		}
		poll(NULL, 0, 50);
	}
	while (read_daemons(r))
		poll(NULL, 0, 10);
	r->daemons_pid = 0;
}

/* ---- the job ---------------------------------------------------------- */

static char *ionode_map(const struct run *r)
{
	size_t cap = 256, len = 0;
	char *map;

	if (r->local)
		return xasprintf("* %s", r->ion[0].uri);
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].ionode >= 0)
			cap += strlen(r->nodes[i].name) + strlen(r->ion[r->nodes[i].ionode].uri) + 3;
	map = xcalloc(1, cap);
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].ionode >= 0)
			len += (size_t)snprintf(map + len, cap - len, "%s%s %s", len ? ";" : "",
						r->nodes[i].name, r->ion[r->nodes[i].ionode].uri);
	return map;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		msg("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int prepare_job_env(struct run *r)
{
	struct strv mounts = {0};
	char *map, *list;

	for (size_t i = 0; i < r->exports.n; i++)
		strv_addf(&mounts, "%.*s", (int)strcspn(r->exports.v[i], "="), r->exports.v[i]);
	for (size_t i = 0; i < r->mounts.n; i++)
		strv_add(&mounts, r->mounts.v[i]);
	list = strv_join(&mounts, ",");
	setenv("FERRY_MOUNTS", list, 1);
	free(list);
	strv_free(&mounts);

	map = ionode_map(r);
	if (strlen(map) > MAP_INLINE_MAX) {
		/* Too big for the environment: a file next to the job. */
		char cwd[PATH_MAX];
		char *path, *text;

		if (!getcwd(cwd, sizeof(cwd))) {
			msg("getcwd: %s", strerror(errno));
			return -1;
		}
		path = xasprintf("%s/.ferry-ionode-map.%s", cwd, r->jobid);
		text = map;
		for (char *p = text; *p; p++)
			if (*p == ';')
				*p = '\n';
		if (write_file(path, text) != 0) {
			msg("the I/O node map must be in a directory every node sees (the current one)");
			return -1;
		}
		free(map);
		map = path;
	}
	setenv("FERRY_IONODE_MAP", map, 1);
	free(map);
	unsetenv("FERRY_IONODE");
	setenv("FERRY_JOB_ID", r->jobid, 1);
	if (r->auth)
		setenv("FERRY_AUTH", r->auth, 1);
	if (r->log_level)
		setenv("FERRY_LOG_LEVEL", r->log_level, 1);

	if (r->kind == LAUNCH_MPIRUN) {
		static const char *const fwd[] = {"FERRY_MOUNTS", "FERRY_IONODE_MAP", "FERRY_JOB_ID",
						  "FERRY_AUTH", "FERRY_LOG_LEVEL", "FERRY_LOG_FILE",
						  "FERRY_TIMEOUT_MS", "FERRY_PROFILE"};
		const char *old = getenv("OMPI_MCA_mca_base_env_list");
		struct strv env = {0};
		char *agent, *joined;

		/* orted execs every rank through ferry-exec, on every node. */
		agent = xasprintf("%s --", r->fexec);
		setenv("OMPI_MCA_orte_fork_agent", agent, 1);
		free(agent);
		/* The runtime's settings reach ranks on other nodes (like -x). */
		if (old && old[0])
			strv_add(&env, old);
		for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
			if (getenv(fwd[i]))
				strv_add(&env, fwd[i]);
		joined = strv_join(&env, ";");
		setenv("OMPI_MCA_mca_base_env_list", joined, 1);
		free(joined);
		strv_free(&env);
		if (!r->local) {
			/* Ranks on the compute nodes only. */
			struct strv lines = {0};
			char *text;

			for (size_t i = 0; i < r->nnodes; i++)
				if (r->nodes[i].ionode >= 0)
					strv_addf(&lines, "%s%s%s\n", r->nodes[i].name,
						  r->nodes[i].hostfile_rest ? " " : "",
						  r->nodes[i].hostfile_rest ? r->nodes[i].hostfile_rest : "");
			text = strv_join(&lines, "");
			strv_free(&lines);
			r->compute_hostfile = xasprintf("%s/compute-hosts", r->tmpdir);
			if (write_file(r->compute_hostfile, text) != 0) {
				free(text);
				return -1;
			}
			free(text);
			setenv("OMPI_MCA_orte_default_hostfile", r->compute_hostfile, 1);
		}
	} else if (r->kind == LAUNCH_SRUN) {
		/* srun runs ferry-exec as each task's prolog, which loads the
		 * runtime into the task (srun itself stays unintercepted). */
		setenv("SLURM_TASK_PROLOG", r->fexec, 1);
		setenv("FERRY_EXEC_TASK_PROLOG", "1", 1);
	}
	return 0;
}

static int start_job(struct run *r)
{
	struct strv a = {0};
	size_t i = 0;
	pid_t pid, parent;

	if (r->kind == LAUNCH_PLAIN) {
		strv_add(&a, r->fexec);
		strv_add(&a, "--");
	} else if (r->kind == LAUNCH_SRUN) {
		strv_add(&a, r->cmd[i++]);
		{
			struct strv ex = {0};
			char *list;

			for (size_t k = 0; k < r->nnodes; k++)
				if (r->nodes[k].is_ionode)
					strv_add(&ex, r->nodes[k].name);
			if (ex.n) {
				size_t ncompute = 0;

				for (size_t k = 0; k < r->nnodes; k++)
					ncompute += r->nodes[k].ionode >= 0;
				list = strv_join(&ex, ",");
				/* srun would take the whole allocation's node count
				 * from the environment; the user's own -N still wins. */
				strv_addf(&a, "--exclude=%s", list);
				strv_addf(&a, "--nodes=%zu", ncompute);
				free(list);
			}
			strv_free(&ex);
		}
	}
	for (; r->cmd[i]; i++)
		strv_add(&a, r->cmd[i]);
	if (verbose) {
		char *line = strv_join(&a, " ");

		msg("running: %s", line);
		free(line);
	}
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		msg("fork: %s", strerror(errno));
		strv_free(&a);
		return -1;
	}
	if (pid == 0) {
		child_signals();
		stop_with_parent(parent);
		execvp(a.v[0], a.v);
		fprintf(stderr, "ferry-run: cannot run %s: %s\n", a.v[0], strerror(errno));
		_exit(127);
	}
	r->job_pid = pid;
	strv_free(&a);
	return 0;
}

/* Wait for the job; returns its wait status. */
static int wait_job(struct run *r)
{
	int status = 0, forwarded = 0;
	double kill_at = 0;
	bool daemons_reported = false;

	for (;;) {
		struct pollfd p[2] = {{.fd = sig_pipe[0], .events = POLLIN},
				      {.fd = r->daemons_fd, .events = POLLIN}};
		pid_t w = waitpid(r->job_pid, &status, WNOHANG);

		if (w == r->job_pid)
			return status;
		if (got_signal) {
			int sig = got_signal;

			got_signal = 0;
			forwarded++;
			if (forwarded == 1) {
				msg("%s: stopping the job", strsignal(sig));
				kill(r->job_pid, sig);
				kill_at = now_s() + (double)r->stop_timeout;
			} else {
				msg("%s again: killing the job", strsignal(sig));
				kill(r->job_pid, SIGKILL);
			}
		}
		read_daemons(r);
		reap_daemons(r);
		if (r->daemons_exited && !daemons_reported) {
			char *st = describe_status(r->daemons_status);

			msg("the I/O node daemons stopped while the job ran (%s %s): stopping the job",
			    r->local ? "ferry-iond" : r->kind == LAUNCH_SRUN ? "srun" : "mpirun", st);
			for (size_t i = 0; i < r->nion; i++) {
				char *lp = log_path(r, i);

				msg("I/O node %s (%s): %s", ionode_label(r, i), r->ion[i].uri, lp);
				free(lp);
			}
			free(st);
			daemons_reported = true;
			kill(r->job_pid, SIGTERM);
			kill_at = now_s() + (double)r->stop_timeout;
		}
		if (kill_at > 0 && now_s() > kill_at) {
			msg("the job did not stop within %ld s: killing it", r->stop_timeout);
			kill(r->job_pid, SIGKILL);
			kill_at = 0;
		}
		poll(p, 2, 500);
		drain_sig_pipe();
	}
}

/* ---- main ------------------------------------------------------------- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ferry-run: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ferry-run --help'.\n", stderr);
	return EXIT_USAGE;
}

static bool parse_long(const char *s, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min)
		return false;
	*out = v;
	return true;
}

static void cleanup_tmp(struct run *r)
{
	if (r->compute_hostfile) {
		unlink(r->compute_hostfile);
		free(r->compute_hostfile);
		r->compute_hostfile = NULL;
	}
	if (r->tmpdir[0])
		rmdir(r->tmpdir);
	if (r->jobid) {
		char cwd[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd))) {
			char *path = xasprintf("%s/.ferry-ionode-map.%s", cwd, r->jobid);

			unlink(path);
			free(path);
		}
	}
}

int main(int argc, char **argv)
{
	enum {
		O_LOCAL = 256, O_HOSTFILE, O_RATIO, O_IONODES, O_CONFIG, O_EXPORT, O_MOUNT,
		O_TRANSPORT, O_PORT, O_AUTH, O_LOGDIR, O_LOGLEVEL, O_IONDARG, O_READY, O_STOP,
		O_ASIONODE, O_VERSION,
	};
	static const struct option options[] = {
		{"local", no_argument, NULL, O_LOCAL},
		{"hostfile", required_argument, NULL, O_HOSTFILE},
		{"ratio", required_argument, NULL, O_RATIO},
		{"ionodes", required_argument, NULL, O_IONODES},
		{"config", required_argument, NULL, O_CONFIG},
		{"export", required_argument, NULL, O_EXPORT},
		{"mount", required_argument, NULL, O_MOUNT},
		{"transport", required_argument, NULL, O_TRANSPORT},
		{"port", required_argument, NULL, O_PORT},
		{"auth", required_argument, NULL, O_AUTH},
		{"log-dir", required_argument, NULL, O_LOGDIR},
		{"log-level", required_argument, NULL, O_LOGLEVEL},
		{"iond-arg", required_argument, NULL, O_IONDARG},
		{"ready-timeout", required_argument, NULL, O_READY},
		{"stop-timeout", required_argument, NULL, O_STOP},
		{"as-ionode", required_argument, NULL, O_ASIONODE},
		{"verbose", no_argument, NULL, 'v'},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	struct run run = {
		.ratio = 64, .transport = "tcp", .port = "0", .ready_timeout = 60,
		.stop_timeout = 30, .daemons_fd = -1,
	};
	struct run *r = &run;
	const char *as_ionode_names = NULL;
	int opt, status = EXIT_SETUP, job_status;
	long port;

	while ((opt = getopt_long(argc, argv, "+vnh", options, NULL)) != -1) {
		switch (opt) {
		case O_LOCAL: r->local = true; break;
		case O_HOSTFILE: r->hostfile = optarg; break;
		case O_RATIO:
			if (!parse_long(optarg, 1, &r->ratio))
				return usage_error("--ratio %s: expected a positive number", optarg);
			r->ratio_given = true;
			break;
		case O_IONODES: r->ionodes_opt = optarg; break;
		case O_CONFIG: r->config = optarg; break;
		case O_EXPORT:
			if (optarg[0] != '/' || !strchr(optarg, '=') || strchr(optarg, ','))
				return usage_error("--export %s: expected PREFIX=DIR with an absolute "
						   "PREFIX", optarg);
			strv_add(&r->exports, optarg);
			break;
		case O_MOUNT:
			if (optarg[0] != '/' || strchr(optarg, ','))
				return usage_error("--mount %s: expected an absolute prefix", optarg);
			strv_add(&r->mounts, optarg);
			break;
		case O_TRANSPORT:
			if (strcmp(optarg, "tcp") && strcmp(optarg, "verbs") && strcmp(optarg, "shm"))
				return usage_error("--transport %s: expected tcp, verbs or shm", optarg);
			r->transport = optarg;
			break;
		case O_PORT:
			if (!parse_long(optarg, 0, &port) || port > 65535)
				return usage_error("--port %s: expected 0 to 65535", optarg);
			r->port = optarg;
			break;
		case O_AUTH: r->auth = optarg; break;
		case O_LOGDIR: r->log_dir = optarg; break;
		case O_LOGLEVEL:
			if (strcmp(optarg, "error") && strcmp(optarg, "warn") &&
			    strcmp(optarg, "info") && strcmp(optarg, "debug"))
				return usage_error("--log-level %s: expected error, warn, info or debug",
						   optarg);
			r->log_level = optarg;
			break;
		case O_IONDARG: strv_add(&r->iond_args, optarg); break;
		case O_READY:
			if (!parse_long(optarg, 1, &r->ready_timeout))
				return usage_error("--ready-timeout %s: expected seconds", optarg);
			break;
		case O_STOP:
			if (!parse_long(optarg, 1, &r->stop_timeout))
				return usage_error("--stop-timeout %s: expected seconds", optarg);
			break;
		case O_ASIONODE: as_ionode_names = optarg; break;
		case 'v': verbose = true; break;
		case 'n': dry_run = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case O_VERSION: printf("ferry-run %s\n", FERRY_VERSION); return 0;
		default: return usage_error("unknown option");
		}
	}
	if (as_ionode_names)
		return as_ionode(as_ionode_names, r->transport, r->port, r->log_dir, argc - optind,
				 argv + optind);
	if (optind >= argc)
		return usage_error("no command: ferry-run [options] -- mpirun|srun|PROGRAM ...");
	r->cmd = argv + optind;
	if (r->local + !!r->hostfile > 1)
		return usage_error("--local and --hostfile exclude each other");
	if (r->config && (r->exports.n || r->ionodes_opt))
		return usage_error("--config uses system daemons: --export and --ionodes do not "
				   "apply (give --mount PREFIX)");
	if (r->config && r->local)
		return usage_error("--config and --local exclude each other");
	if (!r->config && !r->exports.n)
		return usage_error("nothing to serve: give --export PREFIX=DIR");
	if (!strcmp(r->transport, "shm") && !r->local)
		return usage_error("--transport shm needs --local (one machine)");
	if (r->local && r->ionodes_opt)
		return usage_error("--local and --ionodes exclude each other");
	{
		const char *b = base_name(r->cmd[0]);

		if (!strcmp(b, "mpirun") || !strcmp(b, "mpiexec") || !strcmp(b, "orterun"))
			r->kind = LAUNCH_MPIRUN;
		else if (!strcmp(b, "srun"))
			r->kind = LAUNCH_SRUN;
		else
			r->kind = LAUNCH_PLAIN;
	}

	r->bindir = self_dir();
	r->fexec = xasprintf("%s/ferry-exec", r->bindir);
	r->iond = xasprintf("%s/ferry-iond", r->bindir);
	if (access(r->fexec, X_OK) != 0) {
		msg("%s: %s (ferry-exec must be next to ferry-run)", r->fexec, strerror(errno));
		return EXIT_SETUP;
	}
	if (!r->config && access(r->iond, X_OK) != 0) {
		msg("%s: %s (ferry-iond must be next to ferry-run)", r->iond, strerror(errno));
		return EXIT_SETUP;
	}
	if (getenv("FERRY_JOB_ID"))
		r->jobid = xstrdup(getenv("FERRY_JOB_ID"));
	else if (getenv("SLURM_JOB_ID"))
		r->jobid = xstrdup(getenv("SLURM_JOB_ID"));
	else
		r->jobid = xasprintf("%ld", (long)getpid());

	if (r->config && read_config(r) != 0)
		return EXIT_SETUP;
	if (!r->local) {
		if (r->hostfile ? read_hostfile(r, r->hostfile) : read_slurm_allocation(r))
			return EXIT_SETUP;
	}
	if (plan(r) != 0)
		return EXIT_SETUP;
	if (!r->local && r->kind == LAUNCH_PLAIN) {
		size_t ncompute = 0;

		for (size_t i = 0; i < r->nnodes; i++)
			ncompute += r->nodes[i].ionode >= 0;
		if (ncompute > 1)
			return usage_error("%s is not mpirun or srun: it would run on this node only; "
					   "start it with mpirun or srun, or give --local",
					   r->cmd[0]);
		/* One compute node: the program runs here under ferry-exec,
		 * which finds this host in the I/O node map. */
	}
	if (verbose || dry_run) {
		for (size_t i = 0; i < r->nion; i++) {
			struct strv members = {0};
			char *list;

			for (size_t k = 0; k < r->nnodes; k++)
				if (r->nodes[k].ionode == (int)i)
					strv_add(&members, r->nodes[k].name);
			list = strv_join(&members, ",");
			msg("partition %zu: I/O node %s serves %s", i, ionode_label(r, i), list);
			free(list);
			strv_free(&members);
		}
	}
	if (setup_signals() != 0) {
		msg("cannot set up signal handling: %s", strerror(errno));
		return EXIT_SETUP;
	}
	snprintf(r->tmpdir, sizeof(r->tmpdir), "%s/ferry-run.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(r->tmpdir)) {
		msg("%s: %s", r->tmpdir, strerror(errno));
		r->tmpdir[0] = '\0';
		return EXIT_SETUP;
	}

	if (r->config) {
		if (dry_run) {
			status = 0;
			goto out;
		}
		/* The probe opens its session as the ranks will. */
		setenv("FERRY_JOB_ID", r->jobid, 1);
		if (r->auth)
			setenv("FERRY_AUTH", r->auth, 1);
		if (probe_system_daemons(r) != 0)
			goto out;
	} else {
		/* Daemons of a launcher kind that fits: the job's, or for a plain
		 * program mpirun (hostfile) or srun (Slurm). */
		int kind = r->kind;

		if (!r->local && r->kind == LAUNCH_PLAIN)
			r->kind = r->hostfile ? LAUNCH_MPIRUN : LAUNCH_SRUN;
		if (start_daemons(r) != 0)
			goto out;
		r->kind = kind;
		if (dry_run) {
			status = 0;
			goto out;
		}
		if (wait_ready(r) != 0)
			goto out;
	}
	if (prepare_job_env(r) != 0)
		goto out;
	if (start_job(r) != 0)
		goto out;
	job_status = wait_job(r);
	if (WIFEXITED(job_status))
		status = WEXITSTATUS(job_status);
	else if (WIFSIGNALED(job_status))
		status = 128 + WTERMSIG(job_status);
	if (verbose || status != 0) {
		char *st = describe_status(job_status);

		msg("the job ended with %s", st);
		free(st);
	}
out:
	if (status == EXIT_SETUP && got_signal)
		status = 128 + got_signal; /* stopped before the job started */
	stop_daemons(r);
	cleanup_tmp(r);
	return status;
}
