/* printf's floating-point conversions (%f %F %e %E %g %G), exactly as C specifies them: the double's exact
 * decimal expansion is computed with integer arithmetic (a double is a 53-bit integer times a power of two,
 * so its expansion is finite), then rounded once, to nearest with ties to even, at the requested digit.
 * That is what glibc prints in its default rounding mode, so a test can check every line against the host.
 * Built with FP (va_arg of a double reads the saved FP argument registers), unlike the rest of the runtime.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "format.h"

/* The longest expansion: 309 integer digits or 1074 fraction digits (from 2^-1074), never both at once. */
#define MAX_DIGITS 1100
/* Precisions above this are cut to it (glibc has no such limit; no test needs more). */
#define MAX_PRECISION 400
/* A 53-bit significand shifted left by up to 971, or a fraction of up to 1074 bits and the digit above it. */
#define LIMBS 36

/* A decimal number 0.d[0]d[1]...d[n-1] x 10^point with no leading zero digit (n == 0 for zero). */
struct decimal {
    char d[MAX_DIGITS + 2];
    int n, point;
};

static int bits_of(const uint32_t *x, int limbs)
{
    for (int i = limbs - 1; i >= 0; i--)
        if (x[i])
            return 1;
    return 0;
}

/* x *= 10 (the caller sizes x so that nothing overflows). */
static void times10(uint32_t *x, int limbs)
{
    uint64_t carry = 0;
    for (int i = 0; i < limbs; i++) {
        uint64_t v = (uint64_t)x[i] * 10 + carry;
        x[i] = (uint32_t)v;
        carry = v >> 32;
    }
}

/* x /= 10^9, returning the remainder. */
static uint32_t div1e9(uint32_t *x, int limbs)
{
    uint64_t rem = 0;
    for (int i = limbs - 1; i >= 0; i--) {
        uint64_t v = rem << 32 | x[i];
        x[i] = (uint32_t)(v / 1000000000u);
        rem = v % 1000000000u;
    }
    return (uint32_t)rem;
}

/* The exact expansion of significand * 2^exponent (significand < 2^53). */
static void expand(struct decimal *out, uint64_t significand, int exponent)
{
    uint32_t x[LIMBS] = { 0 };
    char integer[320];
    int ni = 0;
    out->n = 0;
    out->point = 0;
    if (significand == 0)
        return;
    /* The integer part, as a big number, into decimal (least significant chunk first). */
    if (exponent >= 0) {
        int word = exponent / 32, bit = exponent % 32;
        uint64_t lo = significand << bit, hi = bit ? significand >> (64 - bit) : 0;
        x[word] = (uint32_t)lo;
        x[word + 1] = (uint32_t)(lo >> 32);
        if (word + 2 < LIMBS)
            x[word + 2] = (uint32_t)hi;
    } else if (-exponent < 64) {
        uint64_t whole = significand >> -exponent;
        x[0] = (uint32_t)whole;
        x[1] = (uint32_t)(whole >> 32);
    }
    while (bits_of(x, LIMBS)) {
        uint32_t chunk = div1e9(x, LIMBS);
        for (int k = 0; k < 9; k++) {
            integer[ni++] = (char)('0' + chunk % 10);
            chunk /= 10;
        }
    }
    while (ni > 0 && integer[ni - 1] == '0')
        ni--;
    for (int k = ni - 1; k >= 0; k--)
        out->d[out->n++] = integer[k];
    out->point = ni;
    /* The fraction: f / 2^k, one digit per multiplication by ten. */
    if (exponent < 0) {
        int k = -exponent;
        for (int i = 0; i < LIMBS; i++)
            x[i] = 0;
        uint64_t f = k >= 64 ? significand : significand & ((1ULL << k) - 1);
        x[0] = (uint32_t)f;
        x[1] = (uint32_t)(f >> 32);
        int top = k / 32, bit = k % 32;
        uint32_t mask = (1u << bit) - 1;
        while (bits_of(x, LIMBS)) {
            times10(x, LIMBS);
            /* The new integer digit sits at bit k, which may straddle two limbs. */
            uint32_t digit = (uint32_t)(((uint64_t)x[top + 1] << 32 | x[top]) >> bit);
            x[top] &= mask;
            x[top + 1] = 0;
            if (out->n == 0 && digit == 0) {
                out->point--;
                continue;
            }
            if (out->n < MAX_DIGITS)
                out->d[out->n++] = (char)('0' + digit);
        }
    }
    while (out->n > 0 && out->d[out->n - 1] == '0')
        out->n--;
}

/* Keeps `keep` significant digits, rounding to nearest with ties to even. */
static void round_to(struct decimal *v, int keep)
{
    if (keep >= v->n)
        return;
    if (keep < 0) {
        v->n = 0;
        return;
    }
    int first = v->d[keep] - '0';
    int rest = 0;
    for (int i = keep + 1; i < v->n; i++)
        rest |= v->d[i] != '0';
    int last_odd = keep > 0 && (v->d[keep - 1] - '0') % 2;
    int up = first > 5 || (first == 5 && (rest || last_odd));
    v->n = keep;
    if (!up) {
        while (v->n > 0 && v->d[v->n - 1] == '0')
            v->n--;
        return;
    }
    int i = keep - 1;
    while (i >= 0 && v->d[i] == '9')
        i--;
    if (i < 0) { /* 999 -> 1000 */
        v->d[0] = '1';
        v->n = 1;
        v->point++;
        return;
    }
    v->d[i]++;
    v->n = i + 1;
}

static char digit_at(const struct decimal *v, int i)
{
    return i >= 0 && i < v->n ? v->d[i] : '0';
}

/* Appends the digits of %f with `precision` fraction digits. */
static int fixed(char *out, const struct decimal *v, int precision, int alt)
{
    int k = 0;
    if (v->point <= 0)
        out[k++] = '0';
    for (int i = 0; i < v->point; i++)
        out[k++] = digit_at(v, i);
    if (precision > 0 || alt)
        out[k++] = '.';
    for (int i = 0; i < precision; i++)
        out[k++] = digit_at(v, v->point + i);
    out[k] = 0;
    return k;
}

static int exponential(char *out, const struct decimal *v, int precision, int alt, char e)
{
    int k = 0;
    int exponent = v->n ? v->point - 1 : 0;
    out[k++] = digit_at(v, 0);
    if (precision > 0 || alt)
        out[k++] = '.';
    for (int i = 1; i <= precision; i++)
        out[k++] = digit_at(v, i);
    out[k++] = e;
    out[k++] = exponent < 0 ? '-' : '+';
    unsigned mag = exponent < 0 ? (unsigned)-exponent : (unsigned)exponent;
    if (mag >= 100)
        out[k++] = (char)('0' + mag / 100);
    out[k++] = (char)('0' + mag / 10 % 10);
    out[k++] = (char)('0' + mag % 10);
    out[k] = 0;
    return k;
}

/* %g's trailing zeros (and a trailing point) go, unless '#'. */
static void strip_zeros(char *body, int k)
{
    int point = -1, end = k;
    for (int i = 0; i < k; i++) {
        if (body[i] == '.')
            point = i;
        if (body[i] == 'e' || body[i] == 'E') {
            end = i;
            break;
        }
    }
    if (point < 0)
        return;
    int cut = end;
    while (cut > point + 1 && body[cut - 1] == '0')
        cut--;
    if (cut == point + 1)
        cut = point;
    int i = cut;
    for (int j = end; j <= k; j++)
        body[i++] = body[j];
}

void rt_format_float(struct sink *s, const struct spec *given, va_list *ap)
{
    double value = va_arg(*ap, double);
    struct spec sp = *given;
    char c = sp.conversion;
    int upper = c == 'F' || c == 'E' || c == 'G';
    uint64_t bits;
    __builtin_memcpy(&bits, &value, sizeof bits);
    const char *sign = bits >> 63 ? "-" : sp.plus ? "+" : sp.space ? " " : "";
    uint64_t fraction = bits & ((1ULL << 52) - 1);
    int biased = (int)(bits >> 52 & 0x7ff);
    char body[MAX_DIGITS + MAX_PRECISION + 16];
    if (biased == 0x7ff) {
        sp.zero = 0;
        rt_emit(s, &sp, sign, fraction ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf"));
        return;
    }
    uint64_t significand = biased ? fraction | 1ULL << 52 : fraction;
    int exponent = (biased ? biased : 1) - 1075;
    int precision = sp.precision < 0 ? 6 : sp.precision > MAX_PRECISION ? MAX_PRECISION : sp.precision;
    struct decimal v;
    expand(&v, significand, exponent);
    if (c == 'f' || c == 'F') {
        round_to(&v, v.point + precision);
        fixed(body, &v, precision, sp.alt);
    } else if (c == 'e' || c == 'E') {
        round_to(&v, precision + 1);
        exponential(body, &v, precision, sp.alt, upper ? 'E' : 'e');
    } else {
        int p = precision == 0 ? 1 : precision;
        struct decimal r = v;
        round_to(&r, p);
        int x = r.n ? r.point - 1 : 0;
        int k;
        if (p > x && x >= -4) {
            round_to(&v, v.point + p - 1 - x);
            k = fixed(body, &v, p - 1 - x, sp.alt);
        } else {
            k = exponential(body, &r, p - 1, sp.alt, upper ? 'E' : 'e');
        }
        if (!sp.alt)
            strip_zeros(body, k);
    }
    rt_emit(s, &sp, sign, body);
}

/* The variadic entry points again, now able to receive doubles (rt.c's weak versions give way). */
#define RT_ENTRY
#include "printf-entry.inc"
