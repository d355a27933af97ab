/* SPDX-License-Identifier: Apache-2.0 */
#include "auth.h"

#include <errno.h>
#include <string.h>

#include <ferry/log.h>

int iond_auth_parse(const char *name, enum iond_auth_mode *out)
{
	if (!strcmp(name, "none")) {
		*out = IOND_AUTH_NONE;
		return 0;
	}
	return -EINVAL;
}

const char *iond_auth_name(enum iond_auth_mode mode)
{
	switch (mode) {
	case IOND_AUTH_NONE:
		return "none";
	}
	return "?";
}

void iond_auth_announce(enum iond_auth_mode mode)
{
	if (mode == IOND_AUTH_NONE)
		FLOG_WARN(0, 0,
			  "authentication disabled: any local or remote process can act as any "
			  "user");
}

int iond_auth_check(enum iond_auth_mode mode, const struct ferry_msg *req,
		    struct iond_cred *cred)
{
	if (req->nargs != 4 || req->npaths != 0)
		return -EINVAL;
	if (req->args[1] < 0 || req->args[1] > UINT32_MAX || req->args[2] < 0 ||
	    req->args[2] > UINT32_MAX || req->args[3] < 0)
		return -EINVAL;
	switch (mode) {
	case IOND_AUTH_NONE:
		/* The credential in data[] is ignored: nothing to verify it with. */
		cred->pid = req->args[0];
		cred->uid = (uint32_t)req->args[1];
		cred->gid = (uint32_t)req->args[2];
		cred->jobid = (uint64_t)req->args[3];
		return 0;
	}
	return -EACCES;
}
