/* Sieve of Eratosthenes (byte array and bit array), prime counting, twin primes, gaps, and a
 * Miller-Rabin check of the largest primes found.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define LIMIT 200000

static uint8_t composite[LIMIT];
static uint64_t bits[LIMIT / 64 + 1];

static uint64_t mulmod(uint64_t a, uint64_t b, uint64_t m) { return (uint64_t)((unsigned __int128)a * b % m); }

static uint64_t powmod(uint64_t b, uint64_t e, uint64_t m)
{
    uint64_t r = 1;
    for (b %= m; e; e >>= 1, b = mulmod(b, b, m))
        if (e & 1)
            r = mulmod(r, b, m);
    return r;
}

static int miller_rabin(uint64_t n)
{
    static const uint64_t witnesses[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
    if (n < 2 || n % 2 == 0)
        return n == 2;
    uint64_t d = n - 1;
    int s = 0;
    while ((d & 1) == 0)
        d >>= 1, s++;
    for (unsigned i = 0; i < ARRAY_SIZE(witnesses); i++) {
        uint64_t a = witnesses[i];
        if (a % n == 0)
            continue;
        uint64_t x = powmod(a, d, n);
        if (x == 1 || x == n - 1)
            continue;
        int r;
        for (r = 1; r < s; r++) {
            x = mulmod(x, x, n);
            if (x == n - 1)
                break;
        }
        if (r == s)
            return 0;
    }
    return 1;
}

int main(void)
{
    unsigned limit = OPAQUE((unsigned)LIMIT);
    for (unsigned i = 2; (uint64_t)i * i < limit; i++)
        if (!composite[i])
            for (unsigned j = i * i; j < limit; j += i)
                composite[j] = 1;
    for (unsigned i = 3; (uint64_t)i * i < limit; i += 2)
        if (!(bits[i / 64] >> (i % 64) & 1))
            for (unsigned j = i * i; j < limit; j += 2 * i)
                bits[j / 64] |= 1ULL << (j % 64);

    unsigned count = 0, twins = 0, max_gap = 0, gap_at = 0, last = 0, disagree = 0;
    uint64_t sum = 0;
    for (unsigned i = 2; i < limit; i++) {
        int prime = !composite[i];
        int prime_bits = i == 2 || (i & 1 && !(bits[i / 64] >> (i % 64) & 1));
        disagree += prime != prime_bits;
        if (!prime)
            continue;
        count++;
        sum += i;
        if (last && i - last == 2)
            twins++;
        if (last && i - last > max_gap)
            max_gap = i - last, gap_at = last;
        last = i;
        if (count <= 20 || count % 2000 == 0)
            printf("p[%u] = %u\n", count, i);
    }
    printf("primes below %u: %u, sum %lu, twins %u, largest gap %u after %u, largest %u\n", limit,
           count, sum, twins, max_gap, gap_at, last);
    printf("byte and bit sieves disagree on %u numbers\n", disagree);
    unsigned checked = 0, mr_agree = 0;
    for (unsigned i = limit - 1000; i < limit; i++) {
        checked++;
        mr_agree += miller_rabin(i) == !composite[i];
    }
    printf("miller-rabin agrees on %u of %u\n", mr_agree, checked);
    static const uint64_t big[] = { 1000000007ULL, 998244353ULL, 4294967291ULL, 4294967297ULL,
                                    18446744073709551557ULL, 18446744073709551615ULL, 2305843009213693951ULL };
    for (unsigned i = 0; i < ARRAY_SIZE(big); i++)
        printf("%lu is %s\n", big[i], miller_rabin(OPAQUE(big[i])) ? "prime" : "composite");
    return disagree != 0 || mr_agree != checked;
}
