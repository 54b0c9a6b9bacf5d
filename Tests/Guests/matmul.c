/* Integer matrix multiply: 32-bit (vectorized at -O2) and 64-bit, checked against identities
 * (A*I = A, (A*B)*C = A*(B*C) modulo 2^32) and fingerprinted.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "matmul.h"
#include "rt.h"

#define N 40
#define M 24

static int32_t a[N * N], b[N * N], c[N * N], ab[N * N], bc[N * N], abc1[N * N], abc2[N * N], ident[N * N];
static int64_t x[M * M], y[M * M], z[M * M];

int main(void)
{
    uint64_t state = 2024;
    matrix_fill_i32(N * N, a, &state, 1000);
    matrix_fill_i32(N * N, b, &state, 1000);
    matrix_fill_i32(N * N, c, &state, 70000);
    for (int i = 0; i < N * N; i++)
        ident[i] = i % (N + 1) == 0;

    matmul_i32(N, a, ident, ab);
    printf("A*I == A: %s\n", memcmp(ab, a, sizeof(a)) == 0 ? "yes" : "NO");
    matmul_i32(N, a, b, ab);
    matmul_i32(N, b, c, bc);
    matmul_i32(N, ab, c, abc1);
    matmul_i32(N, a, bc, abc2);
    printf("(AB)C == A(BC): %s\n", memcmp(abc1, abc2, sizeof(abc1)) == 0 ? "yes" : "NO");
    printf("hash AB=%016lx BC=%016lx ABC=%016lx\n", matrix_hash_i32(N * N, ab),
           matrix_hash_i32(N * N, bc), matrix_hash_i32(N * N, abc1));
    int64_t trace = 0;
    for (int i = 0; i < N; i++)
        trace += ab[i * N + i];
    printf("trace(AB)=%ld AB[0][0..5]=%d %d %d %d %d %d\n", trace, ab[0], ab[1], ab[2], ab[3],
           ab[4], ab[5]);
    printf("ABC corners: %d %d %d %d\n", abc1[0], abc1[N - 1], abc1[N * (N - 1)], abc1[N * N - 1]);

    for (int i = 0; i < M * M; i++) {
        x[i] = (int64_t)prng_next(&state);
        y[i] = (int64_t)(prng_next(&state) >> 40) - (1 << 23);
    }
    matmul_i64(M, x, y, z);
    uint64_t h = 0;
    for (int i = 0; i < M * M; i++)
        h = h * 0x9E3779B97F4A7C15ULL + (uint64_t)z[i];
    printf("i64: z[0]=%ld z[last]=%ld hash=%016lx\n", z[0], z[M * M - 1], h);
    /* Rows times a vector, 16-bit elements: another shape for the vectorizer. */
    static int16_t m16[64 * 64], v16[64];
    static int32_t out[64];
    for (int i = 0; i < 64 * 64; i++)
        m16[i] = (int16_t)(prng_next(&state) & 0xffff);
    for (int i = 0; i < 64; i++)
        v16[i] = (int16_t)(i * 517 - 9000);
    for (int r = 0; r < 64; r++) {
        uint32_t sum = 0; /* wraps; each product fits in an int */
        for (int k = 0; k < 64; k++)
            sum += (uint32_t)(m16[r * 64 + k] * v16[k]);
        out[r] = (int32_t)sum;
    }
    printf("mv16: %d %d %d %d hash=%016lx\n", out[0], out[1], out[62], out[63],
           matrix_hash_i32(64, out));
    return 0;
}
