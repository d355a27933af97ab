/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-exec: run a program with libferry.so preloaded.
 *
 *   ferry-exec [--ionode URI] [--mount PREFIX]... [--log-level L] -- PROGRAM [ARGS...]
 *
 * Flags set FERRY_IONODE, FERRY_MOUNTS (comma-separated) and FERRY_LOG_LEVEL;
 * values already in the environment are used where a flag is absent.
 * Without --ionode, FERRY_IONODE_MAP (lines "HOST URI") picks this host's
 * I/O node, else FERRY_IONODE is used.  Exit status follows env(1): 2 for a
 * usage error, 127 when the program cannot be run, otherwise the program's
 * own.
 *
 * Run with no argument and FERRY_EXEC_TASK_PROLOG=1 (srun's task prolog), it
 * prints the "export NAME=value" lines that load the runtime into the task.
 */
#include <elf.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2
#define EXIT_CANNOT_RUN 127

static const char usage_text[] =
	"usage: ferry-exec [--ionode URI] [--mount PREFIX]... [--log-level LEVEL] -- PROGRAM "
	"[ARGS...]\n"
	"Run PROGRAM with its system calls intercepted by the Ferry runtime; calls on\n"
	"the mounted prefixes are forwarded to the I/O node.\n"
	"  --ionode URI       I/O node address, e.g. tcp://10.0.0.1:7700 or shm://name\n"
	"                     (default: $FERRY_IONODE)\n"
	"  --mount PREFIX     forward paths under PREFIX (repeatable; default: $FERRY_MOUNTS)\n"
	"  --log-level LEVEL  error, warn, info or debug (default: $FERRY_LOG_LEVEL or warn)\n"
	"  --help, --version\n"
	"Without --ionode, $FERRY_IONODE_MAP (\"HOST URI\" entries separated by ';' or\n"
	"newlines, or a file of them when it starts with '/') picks this host's I/O node.\n"
	"The runtime library is ../lib/libferry.so next to this program, or $FERRY_LIBRARY.\n";

/* Is path (absolute) under one of the comma-separated mount prefixes? */
static bool under_mount(const char *path, const char *mounts)
{
	const char *m = mounts;

	if (!path || path[0] != '/' || !mounts)
		return false;
	while (*m) {
		size_t len = strcspn(m, ",");

		while (len > 1 && m[len - 1] == '/')
			len--;
		if (len && !strncmp(path, m, len) && (path[len] == '/' || path[len] == '\0'))
			return true;
		m += strcspn(m, ",");
		if (*m == ',')
			m++;
	}
	return false;
}

static int usage_error(const char *what)
{
	fprintf(stderr, "ferry-exec: %s\n%s", what, usage_text);
	return EXIT_USAGE;
}

/* Append PREFIX to a comma-separated list; 0 or -errno. */
static int mounts_append(char **list, const char *prefix)
{
	size_t old_len = *list ? strlen(*list) : 0;
	char *grown;

	if (prefix[0] != '/' || strchr(prefix, ',') != NULL)
		return -EINVAL;
	grown = realloc(*list, old_len + strlen(prefix) + 2);
	if (!grown)
		return -ENOMEM;
	if (old_len)
		grown[old_len++] = ',';
	strcpy(grown + old_len, prefix);
	*list = grown;
	return 0;
}

/* PROGRAM as execvp would find it: a path if it has a slash, else PATH. */
static int find_program(const char *name, char *out, size_t out_len)
{
	const char *path = getenv("PATH");
	int n;

	if (strchr(name, '/')) {
		n = snprintf(out, out_len, "%s", name);
		if (n < 0 || (size_t)n >= out_len)
			return -ENAMETOOLONG;
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (cnk_path_next(&path, name, out, out_len) >= 0) {
		struct stat st;

		if (access(out, X_OK) == 0 && stat(out, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	}
	return -ENOENT;
}

/* Why the runtime could not be loaded into a program (LD_PRELOAD would be
 * ignored and the program would run silently unintercepted). */
enum program_kind {
	PROGRAM_LOADABLE = 0, /* dynamic x86-64 ELF, or a script */
	PROGRAM_STATIC,       /* no PT_INTERP: no dynamic loader to preload with */
	PROGRAM_FOREIGN,      /* ELF for another class or machine */
	PROGRAM_SECURE,       /* set-user/group-ID: the loader drops LD_PRELOAD */
};

/* enum program_kind, or -errno if the file cannot be read. */
static int program_kind(const char *file)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	struct stat st;
	int fd, ret = PROGRAM_LOADABLE;
	unsigned int i;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		goto out;
	}
	if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
	    ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
		ret = PROGRAM_SECURE;
		goto out;
	}
	/* Not ELF: a script, whose interpreter is what the loader runs. */
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		goto out;
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    eh.e_phentsize != sizeof(ph)) {
		ret = PROGRAM_FOREIGN;
		goto out;
	}
	ret = PROGRAM_STATIC;
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph)) {
			ret = -EIO;
			goto out;
		}
		if (ph.p_type == PT_INTERP) {
			ret = PROGRAM_LOADABLE;
			goto out;
		}
	}
out:
	if (close(fd) != 0 && ret >= 0)
		ret = -errno;
	return ret;
}

/* $FERRY_LIBRARY, or ../lib/libferry.so relative to this executable. */
static int runtime_library(char *out, size_t out_len)
{
	const char *env = getenv("FERRY_LIBRARY");
	char self[PATH_MAX];
	ssize_t len;
	char *slash;
	int n;

	if (env && env[0]) {
		n = snprintf(out, out_len, "%s", env);
		return (n < 0 || (size_t)n >= out_len) ? -ENAMETOOLONG : 0;
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return -errno;
	self[len] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	n = snprintf(out, out_len, "%s/../lib/libferry.so", self);
	return (n < 0 || (size_t)n >= out_len) ? -ENAMETOOLONG : 0;
}

/* Is NAME this host: its hostname, the same short name, or (a numeric
 * address) one of its interfaces' addresses? */
static int host_is_me(const char *name, const char *host)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *res = NULL;
	struct ifaddrs *ifs = NULL;
	size_t host_short = strcspn(host, "."), name_short = strcspn(name, ".");
	int found = 0;

	if (!strcmp(name, "localhost") || !strcmp(name, host) ||
	    (host_short == name_short && !strncmp(name, host, host_short)))
		return 1;
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return 0;
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

/* The text of FERRY_IONODE_MAP: the value itself, or the file it names. */
static char *map_text(const char *map)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (map[0] != '/')
		return strdup(map);
	f = fopen(map, "re");
	if (!f) {
		fprintf(stderr, "ferry-exec: FERRY_IONODE_MAP %s: %s\n", map, strerror(errno));
		return NULL;
	}
	if (getdelim(&text, &len, '\0', f) < 0 && !feof(f)) {
		fprintf(stderr, "ferry-exec: FERRY_IONODE_MAP %s: %s\n", map, strerror(errno));
		free(text);
		text = NULL;
	} else if (!text) {
		text = strdup("");
	}
	fclose(f);
	return text;
}

/* This host's I/O node from MAP; a '*' entry matches any host, after the
 * named ones.  A malloc'd URI, or NULL (reported). */
static char *ionode_from_map(const char *map, const char *host)
{
	char *text = map_text(map), *save = NULL, *entry, *found = NULL, *any = NULL;

	if (!text)
		return NULL;
	for (entry = strtok_r(text, ";\n", &save); entry && !found;
	     entry = strtok_r(NULL, ";\n", &save)) {
		char *name = entry + strspn(entry, " \t"), *uri;

		if (!*name || *name == '#')
			continue;
		uri = name + strcspn(name, " \t");
		if (*uri)
			*uri++ = '\0';
		uri += strspn(uri, " \t");
		uri[strcspn(uri, " \t\r")] = '\0';
		if (!*uri)
			continue;
		if (!strcmp(name, "*")) {
			if (!any)
				any = uri;
		} else if (host_is_me(name, host)) {
			found = uri;
		}
	}
	if (!found)
		found = any;
	found = found ? strdup(found) : NULL;
	if (!found)
		fprintf(stderr, "ferry-exec: host %s is not in FERRY_IONODE_MAP%s%s\n", host,
			map[0] == '/' ? " " : "", map[0] == '/' ? map : "");
	free(text);
	return found;
}

static int preload_prepend(const char *library)
{
	const char *old = getenv("LD_PRELOAD");
	char *value;
	int rc;

	if (old && old[0])
		rc = asprintf(&value, "%s:%s", library, old);
	else
		rc = asprintf(&value, "%s", library);
	if (rc < 0)
		return -ENOMEM;
	rc = setenv("LD_PRELOAD", value, 1) == 0 ? 0 : -errno;
	free(value);
	return rc;
}

/* srun's task prolog: standard output lines "export NAME=value" set the
 * task's environment.  The task gets its I/O node and the runtime. */
static int task_prolog(const char *ionode)
{
	char library[PATH_MAX];
	const char *old = getenv("LD_PRELOAD");
	int rc = runtime_library(library, sizeof(library));

	if (rc == 0 && access(library, R_OK) != 0)
		rc = -errno;
	if (rc < 0) {
		fprintf(stderr, "ferry-exec: runtime library %s: %s (set FERRY_LIBRARY)\n", library,
			strerror(-rc));
		return EXIT_CANNOT_RUN;
	}
	printf("export FERRY_IONODE=%s\n", ionode);
	printf("export LD_PRELOAD=%s%s%s\n", library, old && old[0] ? ":" : "", old ? old : "");
	printf("unset FERRY_EXEC_TASK_PROLOG\n");
	return fflush(stdout) == 0 ? 0 : EXIT_CANNOT_RUN;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "ionode", required_argument, NULL, 'i' },
		{ "mount", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ionode = NULL, *log_level = NULL, *map;
	char *mounts = NULL, *mapped = NULL;
	char host[HOST_NAME_MAX + 1] = "?";
	const char *source = "--ionode";
	int prolog = 0;
	char program[PATH_MAX], library[PATH_MAX] = "";
	int opt, rc, status = EXIT_CANNOT_RUN;

	/* '+': stop at the first non-option, PROGRAM's own flags are its own. */
	while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (opt) {
		case 'i':
			ionode = optarg;
			break;
		case 'm':
			rc = mounts_append(&mounts, optarg);
			if (rc < 0) {
				status = usage_error(rc == -EINVAL ?
					"--mount needs an absolute prefix without ','" : strerror(-rc));
				goto out;
			}
			break;
		case 'l':
			if (strcmp(optarg, "error") && strcmp(optarg, "warn") &&
			    strcmp(optarg, "info") && strcmp(optarg, "debug")) {
				status = usage_error("--log-level must be error, warn, info or debug");
				goto out;
			}
			log_level = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			status = 0;
			goto out;
		case 'V':
			printf("ferry-exec %s\n", FERRY_VERSION);
			status = 0;
			goto out;
		default:
			status = usage_error("unknown option");
			goto out;
		}
	}
	if (optind >= argc && argc == 1 && getenv("FERRY_EXEC_TASK_PROLOG") &&
	    !strcmp(getenv("FERRY_EXEC_TASK_PROLOG"), "1"))
		prolog = 1;
	else if (optind >= argc) {
		status = usage_error("no program given");
		goto out;
	}
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "?");
	map = getenv("FERRY_IONODE_MAP");
	if (!ionode && map && map[0]) {
		mapped = ionode_from_map(map, host);
		if (!mapped)
			goto out;
		ionode = mapped;
		source = "FERRY_IONODE_MAP";
	}
	if (!ionode) {
		ionode = getenv("FERRY_IONODE");
		source = "FERRY_IONODE";
		if (!ionode || !ionode[0]) {
			status = usage_error("no I/O node: give --ionode URI or set FERRY_IONODE");
			goto out;
		}
	}
	if ((setenv("FERRY_IONODE", ionode, 1) != 0) || setenv("FERRY_RUNTIME", "1", 1) != 0 ||
	    (mounts && setenv("FERRY_MOUNTS", mounts, 1) != 0) ||
	    (log_level && setenv("FERRY_LOG_LEVEL", log_level, 1) != 0)) {
		fprintf(stderr, "ferry-exec: cannot set the environment: %s\n", strerror(errno));
		goto out;
	}
	if (!log_level)
		log_level = getenv("FERRY_LOG_LEVEL");
	if (log_level && (!strcmp(log_level, "info") || !strcmp(log_level, "debug")))
		fprintf(stderr, "ferry-exec: host %s pid %ld: I/O node %s (%s)\n", host,
			(long)getpid(), ionode, source);
	if (prolog) {
		status = task_prolog(ionode);
		goto out;
	}
	if (under_mount(argv[optind], mounts ? mounts : getenv("FERRY_MOUNTS"))) {
		/* Stored on the I/O node: ferry-exec cannot read it, the runtime
		 * can.  A local shell under the runtime execs it. */
		char **shell_argv = calloc((size_t)(argc - optind) + 4, sizeof(char *));

		if (!shell_argv) {
			fprintf(stderr, "ferry-exec: %s\n", strerror(ENOMEM));
			goto out;
		}
		shell_argv[0] = (char *)"/bin/sh";
		shell_argv[1] = (char *)"-c";
		shell_argv[2] = (char *)"exec \"$0\" \"$@\"";
		for (int i = optind; i < argc; i++)
			shell_argv[3 + i - optind] = argv[i];
		argv = shell_argv;
		argc = argc - optind + 3;
		optind = 0;
	}
	rc = find_program(argv[optind], program, sizeof(program));
	if (rc < 0) {
		fprintf(stderr, "ferry-exec: %s: %s\n", argv[optind],
			rc == -ENOENT ? "program not found" : strerror(-rc));
		goto out;
	}
	rc = program_kind(program);
	if (rc < 0) {
		fprintf(stderr, "ferry-exec: %s: %s\n", program, strerror(-rc));
		goto out;
	}
	if (rc != PROGRAM_LOADABLE) {
		fprintf(stderr, "ferry-exec: %s %s; the runtime can only be loaded into a "
				"dynamically linked x86-64 program\n",
			program,
			rc == PROGRAM_STATIC  ? "is statically linked" :
			rc == PROGRAM_FOREIGN ? "is not an x86-64 program" :
						"is set-user-ID or set-group-ID (the loader ignores "
						"LD_PRELOAD there)");
		goto out;
	}
	rc = runtime_library(library, sizeof(library));
	if (rc == 0 && access(library, R_OK) != 0)
		rc = -errno;
	if (rc < 0) {
		fprintf(stderr, "ferry-exec: runtime library %s: %s (set FERRY_LIBRARY)\n",
			library, strerror(-rc));
		goto out;
	}
	rc = preload_prepend(library);
	if (rc < 0) {
		fprintf(stderr, "ferry-exec: cannot set LD_PRELOAD: %s\n", strerror(-rc));
		goto out;
	}
	execv(program, argv + optind);
	fprintf(stderr, "ferry-exec: %s: %s\n", argv[optind], strerror(errno));
out:
	free(mounts);
	free(mapped);
	return status;
}
