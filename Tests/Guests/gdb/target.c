/* The debuggee of emud's gdb tests (Tests/IntegrationTests/GDBTests.swift): named functions with
 * arguments and locals for break, bt, next, finish and until; globals for print, x, set var and
 * watchpoints. Integer code only, built at -O0, so every variable lives where gdb looks for it.
 * The tests name its functions, variables and line markers: change them together.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

/* gdb changes them with `set var`: main prints the one and returns the other. */
int64_t answer = 42;
int exit_status;
/* Known words for `x/8gx table`. */
uint64_t table[8] = {
    0x1111111111111111, 0x2222222222222222, 0x3333333333333333, 0x4444444444444444,
    0x5555555555555555, 0x6666666666666666, 0x7777777777777777, 0x8888888888888888,
};
/* Written, read and written again by poke(), then read by main: accesses for the watchpoints. */
uint64_t watched = 1;

NOINLINE uint64_t leaf(uint64_t a, uint64_t b)
{
    uint64_t sum = a + b; /* marker: leaf-body */
    uint64_t product = a * b;
    return sum ^ product; /* marker: leaf-return */
}

NOINLINE uint64_t middle(uint64_t n)
{
    uint64_t scaled = n * 3;
    uint64_t mixed = leaf(scaled, n); /* marker: middle-call */
    return mixed + 1;
}

NOINLINE void poke(void)
{
    watched = 7; /* marker: poke-write */
    uint64_t seen = watched; /* marker: poke-read */
    watched = seen + 5;
} /* marker: poke-end */

int main(void)
{
    uint64_t total = 0;
    for (uint64_t i = 1; i <= 3; i++)
        total += middle(i); /* marker: main-call */
    poke(); /* marker: after-loop */
    printf("total=%lu watched=%lu\n", (unsigned long)total, (unsigned long)watched); /* marker: print */
    printf("answer=%ld\n", (long)answer);
    return exit_status;
}
