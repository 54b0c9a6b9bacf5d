/* Benchmark: 128x128 single-precision matrix multiply, repeated (gcc vectorises the inner loop at -O2).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define N 128

static float a[N][N], b[N][N], c[N][N];

int main(void)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            a[i][j] = (float)((i * 7 + j * 3) % 17) / 7.0f - 1.0f;
            b[i][j] = (float)((i * 5 + j * 11) % 13) * 0.37f;
        }
    uint32_t h = 0;
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++) c[i][j] = 0;
            for (int k = 0; k < N; k++) {
                float aik = a[i][k];
                for (int j = 0; j < N; j++) c[i][j] += aik * b[k][j];
            }
        }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                uint32_t u;
                __builtin_memcpy(&u, &c[i][j], 4);
                h = h * 33 + u;
            }
        a[round][round] += 0.5f;
    }
    printf("bench-fmatmul: hash %08x\n", h);
    return 0;
}
