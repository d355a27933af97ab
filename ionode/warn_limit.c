/* SPDX-License-Identifier: Apache-2.0 */
#include "warn_limit.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <ferry/log.h>

static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t window;        /* the second being counted */
static unsigned int used;    /* warnings logged in it */
static uint64_t suppressed;  /* warnings not logged since the last report */

bool iond_warn_allowed(void)
{
	struct timespec now;
	uint64_t report = 0;
	bool allowed;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&limit_lock);
	if (now.tv_sec != window) {
		window = now.tv_sec;
		used = 0;
		report = suppressed;
		suppressed = 0;
	}
	allowed = used < IOND_WARN_PER_SECOND;
	if (allowed)
		used++;
	else
		suppressed++;
	pthread_mutex_unlock(&limit_lock);
	if (report)
		FLOG_WARN(0, 0, "%llu more warnings about client requests were not logged",
			  (unsigned long long)report);
	return allowed;
}
