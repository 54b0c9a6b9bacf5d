/* String and byte-buffer routines written as plain loops (at -O2 gcc vectorizes several of them
 * with AdvSIMD): case conversion, counting, comparison, reversal, ROT13, Adler-32, searching,
 * parsing and tokenizing.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define SIZE 4096

static uint8_t text[SIZE + 1], upper[SIZE], other[SIZE];

static NOINLINE void to_upper(uint8_t *dst, const uint8_t *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[i] >= 'a' && src[i] <= 'z' ? src[i] - 32 : src[i];
}

static NOINLINE int count_byte(const uint8_t *p, int n, uint8_t c)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

static NOINLINE uint32_t byte_sum(const uint8_t *p, int n)
{
    uint32_t s = 0;
    for (int i = 0; i < n; i++)
        s += p[i];
    return s;
}

static NOINLINE int differences(const uint8_t *a, const uint8_t *b, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

static NOINLINE void xor_into(uint8_t *dst, const uint8_t *src, int n, uint8_t key)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[i] ^ (uint8_t)(key + i);
}

static NOINLINE void rot13(uint8_t *p, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 'a' && c <= 'z')
            p[i] = (uint8_t)('a' + (c - 'a' + 13) % 26);
        else if (c >= 'A' && c <= 'Z')
            p[i] = (uint8_t)('A' + (c - 'A' + 13) % 26);
    }
}

static NOINLINE void reverse(uint8_t *p, int n)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        uint8_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

static NOINLINE uint32_t adler32(const uint8_t *p, int n)
{
    uint32_t a = 1, b = 0;
    for (int i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return b << 16 | a;
}

static NOINLINE int find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (int i = 0; hay[i]; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return i;
    return -1;
}

static NOINLINE int64_t parse_int(const char **s)
{
    int neg = 0;
    int64_t v = 0;
    while (**s == ' ')
        (*s)++;
    if (**s == '-' || **s == '+')
        neg = *(*s)++ == '-';
    while (**s >= '0' && **s <= '9')
        v = v * 10 + (*(*s)++ - '0');
    return neg ? -v : v;
}

static NOINLINE void widen(uint16_t *dst, const uint8_t *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (uint16_t)(src[i] * 3 + 1);
}

int main(void)
{
    static const char *const words[] = { "the", "quick", "brown", "fox", "jumps", "over", "lazy",
                                         "dog", "AArch64", "vector", "emulator", "0123456789" };
    uint64_t state = 5;
    int len = 0;
    while (len < SIZE - 16) {
        const char *w = words[prng_next(&state) % ARRAY_SIZE(words)];
        while (*w)
            text[len++] = (uint8_t)*w++;
        text[len++] = (prng_next(&state) % 7) ? ' ' : '\n';
    }
    while (len < SIZE)
        text[len++] = '.';
    text[SIZE] = 0;
    printf("strlen=%u spaces=%d newlines=%d e=%d sum=%u adler=%08x\n", (unsigned)strlen((char *)text),
           count_byte(text, SIZE, ' '), count_byte(text, SIZE, '\n'), count_byte(text, SIZE, 'e'),
           byte_sum(text, SIZE), adler32(text, SIZE));
    to_upper(upper, text, SIZE);
    printf("upper: differences=%d sum=%u adler=%08x\n", differences(text, upper, SIZE),
           byte_sum(upper, SIZE), adler32(upper, SIZE));
    printf("upper head: ");
    for (int i = 0; i < 40; i++)
        console_putc(upper[i] == '\n' ? '|' : upper[i]);
    printf("\n");
    memcpy(other, text, SIZE);
    rot13(other, SIZE);
    printf("rot13: differences=%d adler=%08x\n", differences(text, other, SIZE), adler32(other, SIZE));
    rot13(other, SIZE);
    printf("rot13 twice restores: %s\n", memcmp(other, text, SIZE) == 0 ? "yes" : "NO");
    xor_into(other, text, SIZE, 0x5a);
    printf("xor: adler=%08x sum=%u\n", adler32(other, SIZE), byte_sum(other, SIZE));
    reverse(other, SIZE);
    printf("reversed xor: adler=%08x first=%02x last=%02x\n", adler32(other, SIZE), other[0],
           other[SIZE - 1]);
    for (int n = 0; n <= 33; n += 11) {
        uint8_t tail[40];
        memcpy(tail, text + 100, (size_t)n);
        reverse(tail, n);
        to_upper(tail, tail, n);
        printf("n=%d rev-upper:", n);
        for (int i = 0; i < n; i++)
            console_putc(tail[i] == '\n' ? '|' : tail[i]);
        printf("\n");
    }
    static uint16_t wide[256];
    widen(wide, text, 256);
    uint64_t wh = 0;
    for (int i = 0; i < 256; i++)
        wh = wh * 131 + wide[i];
    printf("widened hash %016lx\n", wh);

    const char *hay = (const char *)text;
    static const char *const needles[] = { "fox jumps", "AArch64 vector", "emulator emulator", "zebra", "dog" };
    for (unsigned i = 0; i < ARRAY_SIZE(needles); i++)
        printf("find(\"%s\") = %d\n", needles[i], find(hay, needles[i]));

    const char *list = " 12, -7,+300,0, 9223372036854775807,-9223372036854775807, 42";
    int64_t total = 0;
    printf("parsed:");
    while (*list) {
        int64_t v = parse_int(&list);
        total += v / 2;
        printf(" %ld", v);
        while (*list == ',' || *list == ' ')
            list++;
    }
    printf(" (half-sum %ld)\n", total);
    printf("strcmp: %d %d %d %d\n", strcmp("abc", "abd") < 0, strcmp("abc", "abc"),
           strcmp("b", "abc") > 0, strcmp("", "a") < 0);
    return 0;
}
