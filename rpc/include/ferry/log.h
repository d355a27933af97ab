/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-line-per-event logging shared by the daemon and the runtime:
 *   2026-11-22T01:02:03.456Z ferry-iond[123] INFO session=7 job=42 opened from pid 99
 * Level from FERRY_LOG_LEVEL (error, warn, info, debug; default info for the
 * daemon, warn for the runtime); FERRY_LOG_FILE sends it to a file instead of
 * stderr.  Async-signal-safe: formats into a stack buffer, one write(2).
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdint.h>

enum ferry_log_level { FERRY_LOG_ERROR = 0, FERRY_LOG_WARN, FERRY_LOG_INFO, FERRY_LOG_DEBUG };

/* ident: program name in each line; default_level applies when
 * FERRY_LOG_LEVEL is unset.  fd < 0: stderr (or FERRY_LOG_FILE). */
void ferry_log_init(const char *ident, enum ferry_log_level default_level, int fd);
int ferry_log_enabled(enum ferry_log_level level);
/* session/job 0 are printed as "-". */
void ferry_log(enum ferry_log_level level, uint64_t session, uint64_t job, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define FLOG_ERR(s, j, ...) ferry_log(FERRY_LOG_ERROR, (s), (j), __VA_ARGS__)
#define FLOG_WARN(s, j, ...) ferry_log(FERRY_LOG_WARN, (s), (j), __VA_ARGS__)
#define FLOG_INFO(s, j, ...) ferry_log(FERRY_LOG_INFO, (s), (j), __VA_ARGS__)
#define FLOG_DEBUG(s, j, ...)                                                      \
	do {                                                                       \
		if (ferry_log_enabled(FERRY_LOG_DEBUG))                            \
			ferry_log(FERRY_LOG_DEBUG, (s), (j), __VA_ARGS__);         \
	} while (0)

#endif
