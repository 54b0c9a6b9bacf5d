/* Arbitrary-precision unsigned integers with 32-bit limbs: add, subtract, multiply, divide,
 * decimal conversion; factorials, powers, Fibonacci numbers, a square root and a big gcd.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define LIMBS 160

struct big {
    int n; /* limbs in use; d[n-1] != 0 unless n == 0 */
    uint32_t d[LIMBS];
};

static void trim(struct big *a)
{
    while (a->n > 0 && a->d[a->n - 1] == 0)
        a->n--;
}

static void set_u64(struct big *a, uint64_t v)
{
    a->d[0] = (uint32_t)v;
    a->d[1] = (uint32_t)(v >> 32);
    a->n = 2;
    trim(a);
}

static int cmp(const struct big *a, const struct big *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void add(struct big *r, const struct big *a, const struct big *b)
{
    int n = a->n > b->n ? a->n : b->n;
    uint64_t carry = 0;
    for (int i = 0; i < n; i++) {
        uint64_t s = carry + (i < a->n ? a->d[i] : 0) + (i < b->n ? b->d[i] : 0);
        r->d[i] = (uint32_t)s;
        carry = s >> 32;
    }
    if (carry) {
        if (n == LIMBS)
            fail("bignum overflow");
        r->d[n++] = (uint32_t)carry;
    }
    r->n = n;
}

/* r = a - b, requires a >= b */
static void sub(struct big *r, const struct big *a, const struct big *b)
{
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t s = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
        borrow = s < 0;
        r->d[i] = (uint32_t)s;
    }
    r->n = a->n;
    trim(r);
}

static void mul(struct big *r, const struct big *a, const struct big *b)
{
    static struct big t;
    if (a->n + b->n > LIMBS)
        fail("bignum overflow");
    for (int i = 0; i < a->n + b->n; i++)
        t.d[i] = 0;
    for (int i = 0; i < a->n; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < b->n; j++) {
            uint64_t p = (uint64_t)a->d[i] * b->d[j] + t.d[i + j] + carry;
            t.d[i + j] = (uint32_t)p;
            carry = p >> 32;
        }
        t.d[i + b->n] = (uint32_t)carry;
    }
    t.n = a->n + b->n;
    trim(&t);
    *r = t;
}

static void mul_small(struct big *a, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < a->n; i++) {
        uint64_t p = (uint64_t)a->d[i] * m + carry;
        a->d[i] = (uint32_t)p;
        carry = p >> 32;
    }
    if (carry)
        a->d[a->n++] = (uint32_t)carry;
}

static uint32_t divmod_small(struct big *a, uint32_t m)
{
    uint64_t rem = 0;
    for (int i = a->n - 1; i >= 0; i--) {
        uint64_t cur = rem << 32 | a->d[i];
        a->d[i] = (uint32_t)(cur / m);
        rem = cur % m;
    }
    trim(a);
    return (uint32_t)rem;
}

static int bit_length(const struct big *a)
{
    return a->n == 0 ? 0 : 32 * a->n - __builtin_clz(a->d[a->n - 1]);
}

static void shl1_or(struct big *a, unsigned bit)
{
    uint32_t carry = bit;
    for (int i = 0; i < a->n; i++) {
        uint32_t next = a->d[i] >> 31;
        a->d[i] = a->d[i] << 1 | carry;
        carry = next;
    }
    if (carry)
        a->d[a->n++] = carry;
}

/* q = a / b, r = a % b by binary long division; b != 0. */
static void divmod(struct big *q, struct big *r, const struct big *a, const struct big *b)
{
    static struct big rem, quo;
    rem.n = 0;
    quo.n = (a->n > 0) ? a->n : 0;
    for (int i = 0; i < quo.n; i++)
        quo.d[i] = 0;
    for (int i = bit_length(a) - 1; i >= 0; i--) {
        shl1_or(&rem, a->d[i / 32] >> (i % 32) & 1);
        if (cmp(&rem, b) >= 0) {
            sub(&rem, &rem, b);
            quo.d[i / 32] |= 1u << (i % 32);
        }
    }
    trim(&quo);
    if (q)
        *q = quo;
    if (r)
        *r = rem;
}

static void print_big(const char *label, const struct big *a)
{
    static struct big t;
    static uint32_t chunks[LIMBS * 2];
    int n = 0;
    t = *a;
    while (t.n > 0)
        chunks[n++] = divmod_small(&t, 1000000000);
    printf("%s", label);
    if (n == 0)
        printf("0");
    else
        printf("%u", chunks[n - 1]);
    for (int i = n - 2; i >= 0; i--)
        printf("%09u", chunks[i]);
    printf("\n");
}

static unsigned digit_sum(const struct big *a)
{
    static struct big t;
    unsigned s = 0;
    t = *a;
    while (t.n > 0)
        s += divmod_small(&t, 10);
    return s;
}

static struct big a, b, c, d, e;

int main(void)
{
    set_u64(&a, 1);
    for (uint32_t i = 2; i <= 100; i++)
        mul_small(&a, OPAQUE(i));
    print_big("100! = ", &a);
    printf("digit sum of 100! = %u, bits = %d\n", digit_sum(&a), bit_length(&a));

    set_u64(&b, 1);
    for (int i = 0; i < 1000; i++)
        add(&b, &b, &b);
    printf("digit sum of 2^1000 = %u, bits = %d\n", digit_sum(&b), bit_length(&b));

    set_u64(&c, 0);
    set_u64(&d, 1);
    for (int i = 0; i < 300; i++) {
        add(&e, &c, &d);
        c = d;
        d = e;
    }
    print_big("fib(300) = ", &c);
    struct big f200;
    set_u64(&e, 0);
    set_u64(&f200, 1);
    for (int i = 0; i < 200; i++) {
        struct big t;
        add(&t, &e, &f200);
        e = f200;
        f200 = t;
    }
    /* gcd(fib(300), fib(200)) = fib(gcd(300, 200)) = fib(100) */
    struct big x = c, y = e, r;
    while (y.n > 0) {
        divmod(0, &r, &x, &y);
        x = y;
        y = r;
    }
    print_big("gcd(fib(300), fib(200)) = ", &x);

    /* (2^256 - 1)^2, and back by division. */
    set_u64(&a, 1);
    for (int i = 0; i < 256; i++)
        shl1_or(&a, 0);
    set_u64(&b, 1);
    sub(&a, &a, &b);
    mul(&b, &a, &a);
    print_big("(2^256-1)^2 = ", &b);
    divmod(&c, &d, &b, &a);
    printf("divided back: %s, remainder bits %d\n", cmp(&c, &a) == 0 ? "equal" : "DIFFERENT",
           bit_length(&d));

    /* sqrt(2) to 100 decimals: integer square root of 2 * 10^200 by Newton's method. */
    set_u64(&a, 2);
    for (int i = 0; i < 200; i++)
        mul_small(&a, 10);
    set_u64(&x, 1);
    for (int i = 0; i < bit_length(&a) / 2 + 1; i++)
        shl1_or(&x, 0);
    for (;;) {
        divmod(&y, 0, &a, &x);
        add(&y, &y, &x);
        divmod_small(&y, 2);
        if (cmp(&y, &x) >= 0)
            break;
        x = y;
    }
    print_big("sqrt(2)*10^100 = ", &x);

    /* 3^200 mod (2^127 - 1) by square-and-multiply. */
    struct big m, base, result;
    set_u64(&m, 1);
    for (int i = 0; i < 127; i++)
        shl1_or(&m, 0);
    set_u64(&b, 1);
    sub(&m, &m, &b);
    set_u64(&base, 3);
    set_u64(&result, 1);
    for (unsigned ex = OPAQUE(200u); ex; ex >>= 1) {
        if (ex & 1) {
            mul(&result, &result, &base);
            divmod(0, &result, &result, &m);
        }
        mul(&base, &base, &base);
        divmod(0, &base, &base, &m);
    }
    print_big("3^200 mod (2^127-1) = ", &result);
    return 0;
}
