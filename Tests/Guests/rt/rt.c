/* Runtime for emud's guest programs: console, printf, exit, exception dispatch, mem/str functions.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Built with -mgeneral-regs-only (handlers call into it with FP disabled) and
 * -fno-tree-loop-distribute-patterns (so memset's loop is not turned into a call to memset).
 */
#include "rt.h"
#include "format.h"

#define SYS_WRITEC 0x03
#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

#define UART_BASE 0x09000000UL
#define UART_DR (*(volatile uint32_t *)(UART_BASE + 0x00))
#define UART_FR (*(volatile uint32_t *)(UART_BASE + 0x18))
#define UART_FR_TXFF (1u << 5)

static int use_uart;
static char line[128];
static size_t line_len;

void rt_use_uart(void)
{
    rt_flush();
    use_uart = 1;
}

void rt_flush(void)
{
    if (line_len == 0)
        return;
    line[line_len] = 0;
    semihost(SYS_WRITE0, line);
    line_len = 0;
}

void console_putc(int c)
{
    if (use_uart) {
        while (UART_FR & UART_FR_TXFF)
            ;
        UART_DR = (uint8_t)c;
        return;
    }
    /* SYS_WRITE0 cannot carry a NUL byte; SYS_WRITEC can. */
    if (c == 0) {
        rt_flush();
        char ch = 0;
        semihost(SYS_WRITEC, &ch);
        return;
    }
    line[line_len++] = (char)c;
    if (c == '\n' || line_len == sizeof(line) - 1)
        rt_flush();
}

void console_puts(const char *s)
{
    while (*s)
        console_putc(*s++);
}

/* ---- formatting ---- */


void rt_put_console(struct sink *s, char c)
{
    console_putc(c);
    s->len++;
}

void rt_put_buffer(struct sink *s, char c)
{
    if (s->len + 1 < s->size)
        s->buf[s->len] = c;
    s->len++;
}

char *utoa_base(uint64_t v, char *buf, unsigned base)
{
    char tmp[65];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    int i = 0;
    while (n)
        buf[i++] = tmp[--n];
    buf[i] = 0;
    return buf;
}

char *itoa_base(int64_t v, char *buf, unsigned base)
{
    if (v < 0) {
        buf[0] = '-';
        utoa_base(-(uint64_t)v, buf + 1, base);
    } else {
        utoa_base((uint64_t)v, buf, base);
    }
    return buf;
}

void rt_emit(struct sink *s, const struct spec *sp, const char *prefix, const char *body)
{
    int plen = (int)strlen(prefix), blen = (int)strlen(body);
    int pad = sp->width > plen + blen ? sp->width - plen - blen : 0;
    int zero = sp->zero && !sp->left;
    if (!sp->left && !zero)
        for (; pad; pad--)
            s->put(s, ' ');
    for (const char *p = prefix; *p; p++)
        s->put(s, *p);
    if (zero)
        for (; pad; pad--)
            s->put(s, '0');
    for (const char *p = body; *p; p++)
        s->put(s, *p);
    for (; pad; pad--)
        s->put(s, ' ');
}

/* Integers take their precision as a minimum digit count; a precision turns the 0 flag off (as C says). */
static void emit_integer(struct sink *s, struct spec *sp, const char *prefix, const char *digits)
{
    char body[80];
    int n = (int)strlen(digits), want = sp->precision;
    if (want > 64)
        want = 64;
    if (sp->precision == 0 && digits[0] == '0' && digits[1] == 0)
        n = 0, digits = "";
    int k = 0;
    for (; want > n; want--)
        body[k++] = '0';
    for (int i = 0; i < n; i++)
        body[k++] = digits[i];
    body[k] = 0;
    if (sp->precision >= 0)
        sp->zero = 0;
    rt_emit(s, sp, prefix, body);
}

void rt_format(struct sink *s, const char *fmt, va_list *ap)
{
    char num[68];
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            s->put(s, *fmt);
            continue;
        }
        fmt++;
        struct spec sp = { .precision = -1 };
        int longs = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                sp.left = 1;
            else if (*fmt == '0')
                sp.zero = 1;
            else if (*fmt == '+')
                sp.plus = 1;
            else if (*fmt == ' ')
                sp.space = 1;
            else if (*fmt == '#')
                sp.alt = 1;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(*ap, int);
            if (sp.width < 0) {
                sp.left = 1;
                sp.width = -sp.width;
            }
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9' && sp.width < 100000)
            sp.width = sp.width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++;
            sp.precision = 0;
            if (*fmt == '*') {
                sp.precision = va_arg(*ap, int);
                if (sp.precision < 0)
                    sp.precision = -1;
                fmt++;
            }
            while (*fmt >= '0' && *fmt <= '9' && sp.precision < 100000)
                sp.precision = sp.precision * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l' || *fmt == 'z' || *fmt == 'L') {
            longs++;
            fmt++;
        }
        sp.conversion = *fmt;
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(*ap, int64_t) : va_arg(*ap, int);
            const char *sign = sp.plus ? "+" : sp.space ? " " : "";
            uint64_t mag = (uint64_t)v;
            if (v < 0) {
                sign = "-";
                mag = -(uint64_t)v;
            }
            emit_integer(s, &sp, sign, utoa_base(mag, num, 10));
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'b': {
            uint64_t v = longs ? va_arg(*ap, uint64_t) : va_arg(*ap, unsigned);
            unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : *fmt == 'b' ? 2 : 16;
            utoa_base(v, num, base);
            if (*fmt == 'X')
                for (char *p = num; *p; p++)
                    if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
            const char *prefix = "";
            if (sp.alt && v != 0)
                prefix = *fmt == 'x' ? "0x" : *fmt == 'X' ? "0X" : *fmt == 'o' ? "0" : "";
            emit_integer(s, &sp, prefix, num);
            break;
        }
        case 'p':
            emit_integer(s, &sp, "0x", utoa_base((uintptr_t)va_arg(*ap, void *), num, 16));
            break;
        case 's': {
            const char *str = va_arg(*ap, const char *);
            if (!str)
                str = "(null)";
            sp.zero = 0;
            if (sp.precision >= 0 && (size_t)sp.precision < strlen(str)) {
                /* A precision cuts the string. */
                int left = sp.precision, pad = sp.width > left ? sp.width - left : 0;
                if (!sp.left)
                    for (; pad; pad--)
                        s->put(s, ' ');
                for (int i = 0; i < left; i++)
                    s->put(s, str[i]);
                for (; pad; pad--)
                    s->put(s, ' ');
            } else {
                rt_emit(s, &sp, "", str);
            }
            break;
        }
        case 'c':
            num[0] = (char)va_arg(*ap, int);
            num[1] = 0;
            sp.zero = 0;
            rt_emit(s, &sp, "", num);
            break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
            if (!rt_format_float)
                fail("printf: a floating-point conversion needs the runtime's printf-float.o, which this "
                     "program is built without (it turns FP off)");
            rt_format_float(s, &sp, ap);
            break;
        case '%':
            s->put(s, '%');
            break;
        case 0:
            return;
        default:
            s->put(s, '%');
            s->put(s, *fmt);
            break;
        }
    }
}

/* Weak: printf-float.c's copies, which can receive doubles, replace them where it is linked. */
#define RT_ENTRY __attribute__((weak))
#include "printf-entry.inc"

/* ---- exit ---- */

void exit(int code)
{
    rt_flush();
    uint64_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint64_t)(int64_t)code };
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;)
        __asm__ volatile("wfi");
}

void fail(const char *msg)
{
    printf("FAIL: %s\n", msg);
    exit(1);
}

/* ---- exceptions ---- */

__attribute__((weak)) int handle_sync(struct frame *f)
{
    (void)f;
    return 0;
}

__attribute__((weak)) int handle_irq(struct frame *f)
{
    (void)f;
    return 0;
}

/* Called by the vector stub in start.S with the slot number (0..15) and the saved frame. */
void rt_exception(unsigned slot, struct frame *f)
{
    static const char *const sources[] = { "EL1t", "EL1h", "EL0 A64", "EL0 A32" };
    static const char *const types[] = { "sync", "IRQ", "FIQ", "SError" };
    unsigned type = slot & 3;
    if (type == VEC_SYNC && handle_sync(f))
        return;
    if (type == VEC_IRQ && handle_irq(f))
        return;
    printf("unexpected exception: %s from %s, EC=0x%02x ELR=0x%lx\n", types[type],
           sources[slot >> 2], esr_ec(f->esr), f->elr);
    exit(99);
}

/* ---- memory and strings ---- */

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((((uintptr_t)d | (uintptr_t)s | n) & 7) == 0) {
        for (size_t i = 0; i < n; i += 8)
            *(uint64_t *)(d + i) = *(const uint64_t *)(s + i);
        return dst;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d < s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}
