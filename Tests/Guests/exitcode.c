/* The exit status: main returns 3, which SYS_EXIT_EXTENDED hands to the host as the exit code.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

int main(void)
{
    printf("exiting with status 3\n");
    return OPAQUE(3);
}
