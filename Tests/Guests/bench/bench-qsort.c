/* Benchmark: quicksort of 1M pseudo-random 32-bit integers, six times, each checked.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "sort.h"

#define N (1u << 20)
#define ROUNDS 6

static int32_t a[N];

int main(void)
{
    uint64_t check = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t state = 0x1234 + (uint64_t)round;
        for (unsigned i = 0; i < N; i++)
            a[i] = (int32_t)prng_next(&state);
        uint64_t before = multiset_hash_i32(a, N);
        quicksort_i32(a, N);
        if (!is_sorted_i32(a, N) || multiset_hash_i32(a, N) != before)
            fail("quicksort result is wrong");
        check ^= sequence_hash_i32(a, N);
    }
    printf("bench-qsort: %d x %u sorted, check %016lx\n", ROUNDS, N, check);
    return 0;
}
