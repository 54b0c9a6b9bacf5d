/* The MMU guest (../mmu.c) as a debuggee: gdb reads memory through its translation.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "../mmu.c"
