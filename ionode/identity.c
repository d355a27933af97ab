/* SPDX-License-Identifier: Apache-2.0 */
#include "identity.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ferry/log.h>

static bool switching;
static gid_t own_groups[IOND_MAX_GROUPS];
static int own_ngroups;

bool iond_identity_init(void)
{
	int n;

	if (geteuid() != 0)
		return false;
	n = getgroups(IOND_MAX_GROUPS, own_groups);
	if (n < 0) {
		FLOG_WARN(0, 0, "getgroups: %s; calls run as the daemon, not as the user",
			  strerror(errno));
		return false;
	}
	own_ngroups = n;
	switching = true;
	return true;
}

void iond_identity_lookup_groups(struct iond_cred *cred)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int n = IOND_MAX_GROUPS;

	cred->groups[0] = cred->gid;
	cred->ngroups = 1;
	if (!switching)
		return;
	if (getpwuid_r(cred->uid, &pw, buf, sizeof(buf), &found) != 0 || !found)
		return;
	/* On overflow getgrouplist still fills the first n: keep those. */
	if (getgrouplist(found->pw_name, cred->gid, cred->groups, &n) < 0)
		n = IOND_MAX_GROUPS;
	cred->ngroups = (uint32_t)n;
}

/* The raw system calls change only this thread; the libc wrappers of
 * setgroups would change every thread of the daemon. */
static int set_thread_groups(int n, const gid_t *groups)
{
	if (syscall(SYS_setgroups, (size_t)n, groups) != 0)
		return -errno;
	return 0;
}

int iond_identity_enter(const struct iond_cred *cred)
{
	int rc;

	if (!switching || cred->uid == 0)
		return 0;
	rc = set_thread_groups((int)cred->ngroups, cred->groups);
	if (rc)
		return rc;
	setfsgid(cred->gid);
	setfsuid(cred->uid);
	/* setfs*id report no error: read back to be sure. */
	if ((uid_t)setfsuid((uid_t)-1) != cred->uid || (gid_t)setfsgid((gid_t)-1) != cred->gid) {
		iond_identity_leave();
		return -EPERM;
	}
	return 0;
}

void iond_identity_leave(void)
{
	if (!switching)
		return;
	setfsuid(0);
	setfsgid(0);
	if (set_thread_groups(own_ngroups, own_groups) != 0)
		FLOG_ERR(0, 0, "cannot restore the daemon's groups: %s", strerror(errno));
}
