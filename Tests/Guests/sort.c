/* Quicksort, merge sort and heap sort on PRNG arrays (random, sorted, reversed, few distinct
 * values); each result is checked against the others and fingerprinted.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "sort.h"

#define N 3000

static int32_t original[N], a[N], b[N], c[N], tmp[N];

static void fill(int kind, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < N; i++) {
        switch (kind) {
        case 0: original[i] = (int32_t)prng_next(&s); break;
        case 1: original[i] = i * 3 - 1000; break;
        case 2: original[i] = (N - i) * 7; break;
        case 3: original[i] = (int32_t)(prng_next(&s) % 5) - 2; break;
        default: original[i] = (i & 1) ? i : -i; break;
        }
    }
}

int main(void)
{
    static const char *const kinds[] = { "random", "sorted", "reversed", "few-values", "zigzag" };
    int failures = 0;
    for (int kind = 0; kind < 5; kind++) {
        fill(kind, 0x9e3779b97f4a7c15ULL + (uint64_t)kind);
        uint64_t before = multiset_hash_i32(original, N);
        memcpy(a, original, sizeof(a));
        memcpy(b, original, sizeof(b));
        memcpy(c, original, sizeof(c));
        quicksort_i32(a, N);
        mergesort_i32(b, N, tmp);
        heapsort_i32(c, N);
        int ok = is_sorted_i32(a, N) && is_sorted_i32(b, N) && is_sorted_i32(c, N) &&
                 memcmp(a, b, sizeof(a)) == 0 && memcmp(a, c, sizeof(a)) == 0 &&
                 multiset_hash_i32(a, N) == before;
        failures += !ok;
        printf("%-10s min=%d max=%d median=%d q1=%d q3=%d seq=%016lx set=%016lx %s\n", kinds[kind],
               a[0], a[N - 1], a[N / 2], a[N / 4], a[3 * N / 4], sequence_hash_i32(a, N), before,
               ok ? "ok" : "MISMATCH");
    }
    /* Small sizes, where the quicksort falls back to insertion sort. */
    for (int n = 0; n <= 40; n += 5) {
        uint64_t s = (uint64_t)n + 1;
        for (int i = 0; i < n; i++)
            a[i] = b[i] = (int32_t)(prng_next(&s) % 100);
        quicksort_i32(a, (size_t)n);
        heapsort_i32(b, (size_t)n);
        printf("n=%2d:", n);
        for (int i = 0; i < n && i < 12; i++)
            printf(" %d", a[i]);
        int ok = memcmp(a, b, (size_t)n * 4) == 0 && is_sorted_i32(a, (size_t)n);
        failures += !ok;
        printf("%s\n", ok ? "" : " MISMATCH");
    }
    printf("%d failures\n", failures);
    return failures != 0;
}
