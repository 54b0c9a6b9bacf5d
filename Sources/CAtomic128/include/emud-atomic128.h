/* A 128-bit compare-and-swap for the interpreter's CASP and 128-bit STXP: swift-atomics has no
 * double-word operations unless every client is built with -mcx16, so this shim provides the one
 * the interpreter needs (x86-64 `lock cmpxchg16b`; elsewhere the compiler's 16-byte atomic).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef EMUD_ATOMIC128_H
#define EMUD_ATOMIC128_H

#include <stdbool.h>
#include <stdint.h>

/* Atomically compares the 16 bytes at `p` (16-byte aligned) with expected[0] (low 8 bytes) and
 * expected[1] (high 8 bytes). If they are equal, stores desired_low/desired_high there and returns
 * true; otherwise writes the current contents into expected[0..1] and returns false.
 * Sequentially consistent either way. */
bool emud_cas128(void *p, uint64_t expected[2], uint64_t desired_low, uint64_t desired_high);

#endif
