/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One line per event, one write(2) per line, so lines from threads and
 * processes sharing a file never interleave.  Nothing here allocates: the
 * line is formatted into a stack buffer and the UTC time is computed by hand
 * (gmtime_r may take locks), which keeps logging usable from the runtime's
 * syscall dispatcher and from signal handlers.
 */
#include "ferry/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024
#define LOG_IDENT_MAX 64

static char log_ident[LOG_IDENT_MAX] = "ferry";
static int log_level = FERRY_LOG_WARN;
static int log_fd = STDERR_FILENO;
static int log_fd_opened = -1; /* FERRY_LOG_FILE's descriptor, ours to close */

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

static int parse_level(const char *s, int fallback)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	if (!s || !*s)
		return fallback;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return FERRY_LOG_WARN;
	if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
		return s[0] - '0';
	return fallback;
}

void ferry_log_init(const char *ident, enum ferry_log_level default_level, int fd)
{
	const char *file = getenv("FERRY_LOG_FILE");

	if (ident && *ident)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_level = parse_level(getenv("FERRY_LOG_LEVEL"), (int)default_level);

	if (fd >= 0) {
		log_fd = fd;
	} else if (file && *file) {
		int file_fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		/* Keep logging to stderr rather than lose the lines. */
		log_fd = file_fd >= 0 ? file_fd : STDERR_FILENO;
	} else {
		log_fd = STDERR_FILENO;
	}
	/* Re-initialising must not leak the file a previous call opened. */
	if (log_fd_opened >= 0 && log_fd_opened != log_fd)
		close(log_fd_opened);
	log_fd_opened = (fd < 0 && log_fd != STDERR_FILENO) ? log_fd : -1;
}

int ferry_log_enabled(enum ferry_log_level level)
{
	return (int)level <= log_level;
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil_from_days(long long days, int *year, int *month, int *day)
{
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(yoe + era * 400 + (*month <= 2));
}

static int format_time(char *buf, size_t cap)
{
	struct timespec now;
	long long secs, days, rem;
	int year, month, day;

	if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
		now.tv_sec = 0;
		now.tv_nsec = 0;
	}
	secs = (long long)now.tv_sec;
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	return snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day,
			(int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
			(int)(now.tv_nsec / 1000000));
}

static int format_id(char *buf, size_t cap, const char *key, uint64_t id)
{
	if (id == 0)
		return snprintf(buf, cap, " %s=-", key);
	return snprintf(buf, cap, " %s=%llu", key, (unsigned long long)id);
}

/* Clamp an snprintf result to the bytes actually stored. */
static size_t advance(size_t pos, int n, size_t cap)
{
	if (n < 0)
		return pos;
	if ((size_t)n >= cap - pos)
		return cap - 1;
	return pos + (size_t)n;
}

void ferry_log(enum ferry_log_level level, uint64_t session, uint64_t job, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t pos = 0, msg_start;
	int saved_errno = errno;
	va_list ap;
	ssize_t written;

	if (!ferry_log_enabled(level) || (int)level < 0 || level > FERRY_LOG_DEBUG)
		goto out;

	pos = advance(pos, format_time(line, sizeof(line)), sizeof(line));
	pos = advance(pos,
		      snprintf(line + pos, sizeof(line) - pos, " %s[%ld] %s", log_ident,
			       (long)getpid(), level_names[level]),
		      sizeof(line));
	pos = advance(pos, format_id(line + pos, sizeof(line) - pos, "session", session),
		      sizeof(line));
	pos = advance(pos, format_id(line + pos, sizeof(line) - pos, "job", job), sizeof(line));
	pos = advance(pos, snprintf(line + pos, sizeof(line) - pos, " "), sizeof(line));
	msg_start = pos;
	va_start(ap, fmt);
	pos = advance(pos, vsnprintf(line + pos, sizeof(line) - pos, fmt, ap), sizeof(line));
	va_end(ap);

	/* One event, one line: embedded newlines would forge extra lines. */
	for (size_t i = msg_start; i < pos; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (pos >= sizeof(line) - 1) {
		memcpy(line + sizeof(line) - 5, "...", 3);
		pos = sizeof(line) - 2;
	}
	line[pos++] = '\n';

	do {
		written = write(log_fd, line, pos);
	} while (written < 0 && errno == EINTR);
	/* A failed log write has nowhere to be reported; drop the line. */
out:
	errno = saved_errno;
}
