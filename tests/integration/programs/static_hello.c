/* SPDX-License-Identifier: Apache-2.0 */
/* A statically linked program: the runtime cannot follow it. */
#include <stdio.h>

int main(void)
{
	puts("static program ran");
	return 0;
}
