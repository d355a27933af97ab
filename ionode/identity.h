/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a call as the session's user.  When the daemon runs as root, a
 * worker switches its filesystem identity (fsuid, fsgid and supplementary
 * groups, all per thread) to the session's for the duration of each call,
 * so permission checks, file ownership and errnos are the user's, as with
 * Blue Gene's CIOD.  A daemon that is not root serves everything as itself.
 */
#ifndef IOND_IDENTITY_H
#define IOND_IDENTITY_H

#include <stdbool.h>
#include <sys/types.h>

#include "session.h"

/* Record the daemon's own identity; returns whether switching is active. */
bool iond_identity_init(void);
/* Fill cred->groups for cred->uid / cred->gid (the passwd and group
 * databases; just gid when the user is unknown). */
void iond_identity_lookup_groups(struct iond_cred *cred);
/* Become cred for filesystem access on this thread; undo with leave. */
int iond_identity_enter(const struct iond_cred *cred);
void iond_identity_leave(void);

#endif
