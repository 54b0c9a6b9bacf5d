/* The runtime's printf engine, shared by rt.c (integers, strings; built with -mgeneral-regs-only so exception
 * handlers may print with FP disabled) and printf-float.c (%f %e %g; built with FP, linked into every guest
 * that does not turn FP off). Internal to the runtime.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RT_FORMAT_H
#define RT_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

struct sink {
    void (*put)(struct sink *, char);
    char *buf;
    size_t size, len;
};

/* One conversion: flags, width, precision (-1 when absent) and the conversion letter. */
struct spec {
    int left, zero, plus, space, alt;
    int width, precision;
    char conversion;
};

/* Writes prefix then body, padded to the spec's width (zeros go between the two). */
void rt_emit(struct sink *s, const struct spec *sp, const char *prefix, const char *body);

/* Formats fmt into s. */
void rt_format(struct sink *s, const char *fmt, va_list *ap);

/* %f %F %e %E %g %G: takes a double from *ap. Defined by printf-float.c; without it, such a conversion fails
 * the program with a message. */
void rt_format_float(struct sink *s, const struct spec *sp, va_list *ap) __attribute__((weak));

void rt_put_console(struct sink *s, char c);
void rt_put_buffer(struct sink *s, char c);

#endif
