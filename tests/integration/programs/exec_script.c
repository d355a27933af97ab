/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec a program given on the command line with execv (not through a shell),
 * as a program that runs a helper script would.
 *   exec_script PROGRAM [ARGS...]
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout, "usage: exec_script PROGRAM [ARGS...]\n");
		return argc < 2 ? 2 : 0;
	}
	execv(argv[1], argv + 1);
	fprintf(stderr, "exec_script: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
