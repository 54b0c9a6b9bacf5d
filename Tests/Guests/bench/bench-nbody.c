/* Benchmark: the n-body simulation (5 bodies, double precision, FSQRT and FDIV in the inner loop).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "nbody.h"
#include "rt.h"

int main(void)
{
    struct body b[NBODY_BODIES];
    nbody_init(b);
    for (int step = 0; step < 200000; step++) nbody_advance(b, 0.01);
    uint64_t x;
    __builtin_memcpy(&x, &b[1].x, 8);
    printf("bench-nbody: body 1 x=%016lx\n", x);
    return 0;
}
