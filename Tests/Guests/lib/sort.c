/* Quicksort (median of three, insertion sort for short runs), top-down merge sort, heap sort.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "sort.h"

static void insertion_sort(int32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

static inline void swap(int32_t *a, int32_t *b)
{
    int32_t t = *a;
    *a = *b;
    *b = t;
}

void quicksort_i32(int32_t *a, size_t n)
{
    while (n > 16) {
        size_t mid = n / 2;
        if (a[mid] < a[0])
            swap(&a[mid], &a[0]);
        if (a[n - 1] < a[0])
            swap(&a[n - 1], &a[0]);
        if (a[n - 1] < a[mid])
            swap(&a[n - 1], &a[mid]);
        int32_t pivot = a[mid];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i >= j)
                break;
            swap(&a[i], &a[j]);
            i++;
            j--;
        }
        /* Recurse into the smaller side, loop on the larger: stack depth stays O(log n). */
        size_t left = j + 1;
        if (left < n - left) {
            quicksort_i32(a, left);
            a += left;
            n -= left;
        } else {
            quicksort_i32(a + left, n - left);
            n = left;
        }
    }
    insertion_sort(a, n);
}

static void merge_rec(int32_t *a, size_t n, int32_t *tmp)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_rec(a, h, tmp);
    merge_rec(a + h, n - h, tmp);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    for (k = 0; k < n; k++)
        a[k] = tmp[k];
}

void mergesort_i32(int32_t *a, size_t n, int32_t *tmp)
{
    merge_rec(a, n, tmp);
}

static void sift_down(int32_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[root] >= a[child])
            return;
        swap(&a[root], &a[child]);
        root = child;
    }
}

void heapsort_i32(int32_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        swap(&a[0], &a[end]);
        sift_down(a, 0, end);
    }
}

int is_sorted_i32(const int32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return 0;
    return 1;
}

uint64_t multiset_hash_i32(const int32_t *a, size_t n)
{
    uint64_t sum = 0, xor = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = (uint32_t)a[i];
        v *= 0x9E3779B97F4A7C15ULL;
        sum += v ^ (v >> 29);
        xor ^= v;
    }
    return sum ^ (xor << 1);
}

uint64_t sequence_hash_i32(const int32_t *a, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint32_t)a[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
