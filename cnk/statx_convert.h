/* SPDX-License-Identifier: Apache-2.0 */
/* statx -> struct stat, as the kernel fills the old stat calls. */
#ifndef FERRY_CNK_STATX_CONVERT_H
#define FERRY_CNK_STATX_CONVERT_H

#include <sys/stat.h>

void cnk_statx_to_stat(const struct statx *stx, struct stat *st);

#endif
