/* SPDX-License-Identifier: Apache-2.0 */
#ifndef IOND_READY_H
#define IOND_READY_H

/* Write line (plus a newline) to path atomically: a reader sees either no
 * file or the whole line (temporary file + rename). */
int iond_ready_file_write(const char *path, const char *line);

#endif
