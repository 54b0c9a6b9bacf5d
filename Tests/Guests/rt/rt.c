/* Runtime for emud's guest programs: console, printf, exit, exception dispatch, mem/str functions.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Built with -mgeneral-regs-only (handlers call into it with FP disabled) and
 * -fno-tree-loop-distribute-patterns (so memset's loop is not turned into a call to memset).
 */
#include "rt.h"

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

struct sink {
    void (*put)(struct sink *, char);
    char *buf;
    size_t size, len;
};

static void put_console(struct sink *s, char c)
{
    console_putc(c);
    s->len++;
}

static void put_buffer(struct sink *s, char c)
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

static void emit_padded(struct sink *s, const char *prefix, const char *body, int width, int left,
                        int zero)
{
    int plen = (int)strlen(prefix), blen = (int)strlen(body);
    int pad = width > plen + blen ? width - plen - blen : 0;
    if (!left && !zero)
        for (; pad; pad--)
            s->put(s, ' ');
    for (const char *p = prefix; *p; p++)
        s->put(s, *p);
    if (zero && !left)
        for (; pad; pad--)
            s->put(s, '0');
    for (const char *p = body; *p; p++)
        s->put(s, *p);
    for (; pad; pad--)
        s->put(s, ' ');
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
    char num[68];
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            s->put(s, *fmt);
            continue;
        }
        fmt++;
        int left = 0, zero = 0, width = 0, longs = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                zero = 1;
            else
                break;
        }
        if (*fmt == '*') {
            width = va_arg(ap, int);
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            const char *sign = "";
            uint64_t mag = (uint64_t)v;
            if (v < 0) {
                sign = "-";
                mag = -(uint64_t)v;
            }
            emit_padded(s, sign, utoa_base(mag, num, 10), width, left, zero);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'b': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : *fmt == 'b' ? 2 : 16;
            utoa_base(v, num, base);
            if (*fmt == 'X')
                for (char *p = num; *p; p++)
                    if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
            emit_padded(s, "", num, width, left, zero);
            break;
        }
        case 'p':
            emit_padded(s, "0x", utoa_base((uintptr_t)va_arg(ap, void *), num, 16), width, left,
                        zero);
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            emit_padded(s, "", str ? str : "(null)", width, left, 0);
            break;
        }
        case 'c':
            num[0] = (char)va_arg(ap, int);
            num[1] = 0;
            emit_padded(s, "", num, width, left, 0);
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

int vprintf(const char *fmt, va_list ap)
{
    struct sink s = { .put = put_console };
    format(&s, fmt, ap);
    return (int)s.len;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    struct sink s = { .put = put_buffer, .buf = buf, .size = size };
    va_list ap;
    va_start(ap, fmt);
    format(&s, fmt, ap);
    va_end(ap);
    if (size)
        buf[s.len < size ? s.len : size - 1] = 0;
    return (int)s.len;
}

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
