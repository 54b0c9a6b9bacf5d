/* Integer matrix multiply. SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GUEST_MATMUL_H
#define GUEST_MATMUL_H
#include <stddef.h>
#include <stdint.h>

/* c = a * b for n x n row-major matrices; products wrap modulo 2^32 / 2^64. */
void matmul_i32(size_t n, const int32_t *a, const int32_t *b, int32_t *c);
void matmul_i64(size_t n, const int64_t *a, const int64_t *b, int64_t *c);
/* Fills m with values in [-range, range] from the PRNG state. */
void matrix_fill_i32(size_t count, int32_t *m, uint64_t *state, int32_t range);
uint64_t matrix_hash_i32(size_t count, const int32_t *m);

#endif
