/* The runtime's printf and snprintf: widths, zero padding, left alignment, every conversion, at
 * the limits of each type; and integer-to-text conversion in every base from 2 to 36.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static volatile int64_t sv[] = { 0, 1, -1, 42, -42, 2147483647, -2147483647 - 1,
                                 9223372036854775807LL, -9223372036854775807LL - 1 };
static volatile uint64_t uv[] = { 0, 1, 255, 4096, 0xdeadbeef, 0xffffffffULL, 0xffffffffffffffffULL };

int main(void)
{
    for (unsigned i = 0; i < ARRAY_SIZE(sv); i++) {
        int64_t v = sv[i];
        printf("[%d] [%5d] [%-5d] [%05d] [%ld] [%24ld] [%-24ld|] [%024ld] [%lld]\n", (int)v, (int)v,
               (int)v, (int)v, v, v, v, v, (long long)v);
    }
    for (unsigned i = 0; i < ARRAY_SIZE(uv); i++) {
        uint64_t v = uv[i];
        printf("[%u] [%x] [%X] [%08x] [%-8x|] [%lx] [%016lx] [%llx] [%lu] [%o] [%lb]\n", (unsigned)v,
               (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v, v, v, (unsigned long long)v, v,
               (unsigned)v, v);
    }
    printf("[%s] [%10s] [%-10s] [%s] [%c%c%c] [%3c] [%-3c] [%%] [%p] [%p]\n", "abc", "right",
           "left", "", 'x', 'y', 'z', '!', '?', (void *)0x40001234, (void *)0);
    printf("[%*d] [%-*d] [%*s]\n", 6, 123, 6, 123, 4, "ab");

    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%s-%d-%x", "snprintf", -7, 0xabc);
    printf("snprintf -> \"%s\" (%d)\n", buf, n);
    n = snprintf(buf, 8, "%s", "truncated string");
    printf("truncated -> \"%s\" (%d)\n", buf, n);

    char text[70];
    static volatile uint64_t values[] = { 0, 1, 35, 36, 1295, 123456789, 0xffffffffffffffffULL };
    for (unsigned i = 0; i < ARRAY_SIZE(values); i++) {
        printf("%lu:", values[i]);
        for (unsigned base = 2; base <= 36; base += (base < 10 ? 1 : 13))
            printf(" b%u=%s", base, utoa_base(values[i], text, base));
        printf("\n");
    }
    for (unsigned i = 0; i < ARRAY_SIZE(sv); i++)
        printf("itoa %s %s %s\n", itoa_base(sv[i], text, 10), itoa_base(sv[i], text + 24, 16),
               itoa_base(sv[i], text + 48, 36));
    /* A table, the way a program would lay one out. */
    printf("%-8s|%8s|%8s\n", "name", "count", "hex");
    static const char *const names[] = { "alpha", "beta", "gamma", "delta" };
    for (int i = 0; i < 4; i++)
        printf("%-8s|%8d|%8x\n", names[i], (i + 1) * 1111 * (i % 2 ? -1 : 1), (unsigned)(i + 1) * 0x1111);
    return 0;
}
