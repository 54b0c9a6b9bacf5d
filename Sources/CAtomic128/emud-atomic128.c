/* See include/emud-atomic128.h.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "emud-atomic128.h"

bool emud_cas128(void *p, uint64_t expected[2], uint64_t desired_low, uint64_t desired_high)
{
#if defined(__x86_64__)
    bool equal;
    /* cmpxchg16b compares RDX:RAX with the memory operand; if equal it stores RCX:RBX, else it
     * loads the memory into RDX:RAX. The lock prefix makes it one atomic, fully fenced access. */
    __asm__ volatile("lock cmpxchg16b %1"
                     : "=@ccz"(equal), "+m"(*(volatile unsigned __int128 *)p), "+a"(expected[0]), "+d"(expected[1])
                     : "b"(desired_low), "c"(desired_high)
                     : "memory");
    return equal;
#else
    unsigned __int128 want = ((unsigned __int128)expected[1] << 64) | expected[0];
    unsigned __int128 desired = ((unsigned __int128)desired_high << 64) | desired_low;
    bool equal = __atomic_compare_exchange_n((unsigned __int128 *)p, &want, desired, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_SEQ_CST);
    expected[0] = (uint64_t)want;
    expected[1] = (uint64_t)(want >> 64);
    return equal;
#endif
}
