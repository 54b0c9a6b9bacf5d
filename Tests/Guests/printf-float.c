/* printf's floating-point conversions in the guest: every format below applied to every value below, one
 * line each: "FORMAT BITS [RESULT]". BITS is the double's encoding, so the test can format the same value
 * with the host's C library and compare (Tests/IntegrationTests/PrintfFloatTests.swift); the run is also
 * compared with QEMU. Some values are computed here (FP arithmetic in the guest), some are constants.
 * '#' with %g is left out: glibc 2.36 drops the zeros that C17 7.21.6.1 keeps when rounding carries into a
 * new exponent ("%#.3g" of 999.75 prints "1.e+03" there, "1.00e+03" here).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static const char *const formats[] = {
    "%f", "%.0f", "%.1f", "%.2f", "%.3f", "%.10f", "%.20f", "%F", "%10.3f", "%-12.4f|", "%+.2f", "%012.4f", "%#.0f",
    "%e", "%.0e", "%.3e", "%.15e", "%.17e", "%E", "%+e", "%#.0e", "%-14.2e|",
    "%g", "%.0g", "%.1g", "%.3g", "%.10g", "%.17g", "%G", "% .3g", "%+g", "%12g", "%-12g|", "%014g",
};

static uint64_t bits(double d)
{
    uint64_t b;
    __builtin_memcpy(&b, &d, sizeof b);
    return b;
}

static double square_root(double x)
{
    double r;
    __asm__("fsqrt %d0, %d1" : "=w"(r) : "w"(x));
    return r;
}

static double from_bits(uint64_t b)
{
    double d;
    __builtin_memcpy(&d, &b, sizeof d);
    return d;
}

int main(void)
{
    /* Computed in the guest, so the values go through the emulated FPU first. */
    volatile double one = 1.0, three = 3.0, two = 2.0, ten = 10.0, tiny = 1e-300;
    double computed[] = {
        one / three, two / three, square_root(two), one / ten, tiny * tiny, 1e308 * ten, -(one / three),
        (one / ten) * 3.0, 0.1 + 0.2, 1e16 + one, 4503599627370496.0 + 0.5, 999.5 * one, 99.95 * one,
    };
    static const double constants[] = {
        0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 0.125, 9.5, 0.05, 0.15, 0.25, 0.35, 1e-5, 0.0001, 123456.789, 1e15,
        1e16, 1e22, 1e23, 1e100, 1e-300, 9007199254740992.0, 9223372036854775808.0, 3.141592653589793,
        2.718281828459045, -987654321.123, 123.456, 999.75, 0.000123456, 5e-324, 2.2250738585072014e-308,
        1.7976931348623157e308,
    };
    static const uint64_t specials[] = {
        0x8000000000000000ULL, /* -0 */
        0x7ff0000000000000ULL, /* inf */
        0xfff0000000000000ULL, /* -inf */
        0x7ff8000000000000ULL, /* nan */
        0x000fffffffffffffULL, /* the largest subnormal */
        0x3fe0000000000001ULL, /* just above 0.5 */
        0x3fdfffffffffffffULL, /* just below 0.5 */
    };
    unsigned lines = 0;
    for (unsigned f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        for (unsigned i = 0; i < sizeof computed / sizeof computed[0]; i++, lines++) {
            printf("%s %016lx [", formats[f], bits(computed[i]));
            printf(formats[f], computed[i]);
            printf("]\n");
        }
        for (unsigned i = 0; i < sizeof constants / sizeof constants[0]; i++, lines++) {
            printf("%s %016lx [", formats[f], bits(constants[i]));
            printf(formats[f], constants[i]);
            printf("]\n");
        }
        for (unsigned i = 0; i < sizeof specials / sizeof specials[0]; i++, lines++) {
            printf("%s %016lx [", formats[f], specials[i]);
            printf(formats[f], from_bits(specials[i]));
            printf("]\n");
        }
    }
    /* Width and precision from arguments, and a float promoted to double. */
    float third = (float)(one / three);
    printf("%*.*f|%-*.*e|%f\n", 12, 3, one / three, 14, 2, two / three, third);
    printf("%u lines\n", lines);
    return 0;
}
