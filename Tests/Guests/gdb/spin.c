/* A debuggee that never ends, for emud's gdb tests of interrupt, detach and re-attach, and a
 * second client: spin() counts in a global until gdb interrupts, detaches or kills the machine.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

volatile uint64_t counter;

NOINLINE NORETURN void spin(void)
{
    for (;;)
        counter++;
}

int main(void)
{
    printf("spinning\n");
    spin();
}
