/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the profile lands: FERRY_PROFILE is refused loudly. */
#include "profile.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <ferry/log.h>

bool cnk_profile_active;

int cnk_profile_init(void)
{
	if (getenv("FERRY_PROFILE")) {
		FLOG_WARN(0, 0, "FERRY_PROFILE is not supported by this build");
		return -ENOSYS;
	}
	return 0;
}

uint64_t cnk_profile_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cnk_profile_record(long nr, enum cnk_profile_how how, uint64_t ns)
{
	(void)nr;
	(void)how;
	(void)ns;
}

void cnk_profile_flush(void)
{
}
