/* SPDX-License-Identifier: Apache-2.0 */
/* Linked with -static: ferry-exec must refuse to run it. */
int main(void)
{
	return 0;
}
