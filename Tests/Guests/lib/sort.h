/* Sorting algorithms on int32_t arrays. SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GUEST_SORT_H
#define GUEST_SORT_H
#include <stddef.h>
#include <stdint.h>

void quicksort_i32(int32_t *a, size_t n);
/* tmp must hold n elements. */
void mergesort_i32(int32_t *a, size_t n, int32_t *tmp);
void heapsort_i32(int32_t *a, size_t n);
int is_sorted_i32(const int32_t *a, size_t n);
/* Order-independent fingerprint of the multiset of values, to show no value was lost. */
uint64_t multiset_hash_i32(const int32_t *a, size_t n);
/* Order-dependent fingerprint. */
uint64_t sequence_hash_i32(const int32_t *a, size_t n);

#endif
