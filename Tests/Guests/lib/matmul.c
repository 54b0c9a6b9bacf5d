/* Integer matrix multiply, i-k-j loop order (the inner loop vectorizes at -O2).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "matmul.h"
#include "rt.h"

void matmul_i32(size_t n, const int32_t *a, const int32_t *b, int32_t *c)
{
    for (size_t i = 0; i < n * n; i++)
        c[i] = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++) {
            uint32_t aik = (uint32_t)a[i * n + k];
            for (size_t j = 0; j < n; j++)
                c[i * n + j] = (int32_t)((uint32_t)c[i * n + j] + aik * (uint32_t)b[k * n + j]);
        }
}

void matmul_i64(size_t n, const int64_t *a, const int64_t *b, int64_t *c)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            uint64_t sum = 0;
            for (size_t k = 0; k < n; k++)
                sum += (uint64_t)a[i * n + k] * (uint64_t)b[k * n + j];
            c[i * n + j] = (int64_t)sum;
        }
}

void matrix_fill_i32(size_t count, int32_t *m, uint64_t *state, int32_t range)
{
    for (size_t i = 0; i < count; i++)
        m[i] = (int32_t)(prng_next(state) % (uint64_t)(2 * range + 1)) - range;
}

uint64_t matrix_hash_i32(size_t count, const int32_t *m)
{
    uint64_t h = 0;
    for (size_t i = 0; i < count; i++)
        h = (h ^ (uint32_t)m[i]) * 0x100000001b3ULL + i;
    return h;
}
