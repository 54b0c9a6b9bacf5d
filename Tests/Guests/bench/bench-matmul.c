/* Benchmark: 256x256 32-bit integer matrix multiply, repeated, plus a 96x96 64-bit one.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "matmul.h"
#include "rt.h"

#define N 256
#define M 96

static int32_t a[N * N], b[N * N], c[N * N];
static int64_t x[M * M], y[M * M], z[M * M];

int main(void)
{
    uint64_t state = 7;
    matrix_fill_i32(N * N, a, &state, 100);
    matrix_fill_i32(N * N, b, &state, 100);
    uint64_t h = 0;
    for (int round = 0; round < 16; round++) {
        matmul_i32(N, a, b, c);
        h ^= matrix_hash_i32(N * N, c);
        a[round] += 1;
    }
    for (int i = 0; i < M * M; i++) {
        x[i] = (int64_t)prng_next(&state);
        y[i] = (int64_t)prng_next(&state);
    }
    for (int round = 0; round < 12; round++)
        matmul_i64(M, x, y, z);
    printf("bench-matmul: i32 hash %016lx, i64 z[0]=%ld\n", h, z[0]);
    return 0;
}
