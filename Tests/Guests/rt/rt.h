/* Runtime for emud's bare-metal guest programs (QEMU virt board, EL1, MMU off).
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Console output goes to semihosting (QEMU prints it on stderr) unless a program calls
 * rt_use_uart() first; then it goes to the PL011 (QEMU's stdout). A program uses one of the two,
 * so that emud's single output stream can be compared with QEMU's stdout+stderr.
 */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define NORETURN __attribute__((noreturn))
#define NOINLINE __attribute__((noinline))

/* Exception handlers run with whatever CPACR_EL1 the interrupted code had (the FP trap test runs
 * them with FP disabled) and the vector stub saves only general registers: handler code must not
 * touch FP/SIMD registers. handle_sync and handle_irq are declared HANDLER below, which gcc
 * applies to their definitions; mark whatever else a handler calls with HANDLER too (the runtime
 * itself is built with -mgeneral-regs-only). */
#define HANDLER __attribute__((target("general-regs-only")))

/* Register state saved by the vector stub. A handler may change any field; x[], elr and spsr are
 * restored on return, and sp too when the exception came from EL0. */
struct frame {
    uint64_t x[31];
    uint64_t sp;   /* SP of the interrupted context (SP_EL0 if from EL0) */
    uint64_t elr;
    uint64_t spsr;
    uint64_t esr;
    uint64_t far;
};

/* Vector table slot: source (bits 3:2: 0 = current EL with SP0, 1 = current EL with SPx,
 * 2 = lower EL AArch64, 3 = lower EL AArch32) and type (bits 1:0). */
enum { VEC_SYNC = 0, VEC_IRQ = 1, VEC_FIQ = 2, VEC_SERROR = 3 };

/* Hooks a program may define. Return nonzero when handled: the stub then restores the frame
 * and returns with ERET. Returning 0 reports an unexpected exception and exits with 99. */
int handle_sync(struct frame *f) HANDLER;
int handle_irq(struct frame *f) HANDLER;

/* Runs fn at EL0t on the stack sp (interrupts masked). It returns when a sync handler sets
 * f->elr = (uint64_t)el0_return and f->spsr = SPSR_EL1H_MASKED; the handler's f->x[0] is the
 * value returned. */
uint64_t enter_el0(void (*fn)(void), void *sp);
extern char el0_return[];
#define SPSR_EL1H_MASKED 0x3c5

static inline unsigned esr_ec(uint64_t esr) { return (unsigned)(esr >> 26) & 0x3f; }
static inline unsigned esr_iss(uint64_t esr) { return (unsigned)esr & 0x1ffffff; }

/* Exception classes used by the tests. */
#define EC_UNKNOWN 0x00
#define EC_FP_ACCESS 0x07
#define EC_SVC64 0x15
#define EC_HVC64 0x16
#define EC_SYSREG 0x18
#define EC_IABORT_LOWER 0x20
#define EC_IABORT_SAME 0x21
#define EC_PC_ALIGN 0x22
#define EC_DABORT_LOWER 0x24
#define EC_DABORT_SAME 0x25
#define EC_SP_ALIGN 0x26
#define EC_BRK64 0x3c

/* Console. */
void rt_use_uart(void);
void console_putc(int c);
void console_puts(const char *s); /* no newline added */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void rt_flush(void);

/* Converts v to text in base 2..36 (lower-case digits); returns buf. buf needs 66 bytes. */
char *utoa_base(uint64_t v, char *buf, unsigned base);
char *itoa_base(int64_t v, char *buf, unsigned base);

/* Ends the program: flushes the console and reports code through SYS_EXIT_EXTENDED. */
NORETURN void exit(int code);
/* Prints "FAIL: <msg>" and exits with 1. */
NORETURN void fail(const char *msg);
#define CHECK(cond) do { if (!(cond)) fail(#cond); } while (0)

/* Raw semihosting call: hlt #0xf000 with w0 = op, x1 = arg. */
static inline uint64_t semihost(uint64_t op, const void *arg)
{
    register uint64_t x0 __asm__("x0") = op;
    register const void *x1 __asm__("x1") = arg;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    return x0;
}

/* Memory and string functions gcc may call. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* Deterministic PRNG (xorshift64*) for test data. */
static inline uint64_t prng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Keeps the compiler from folding a value it would otherwise know. */
#define OPAQUE(v) ({ __auto_type opaque_v_ = (v); __asm__ volatile("" : "+r"(opaque_v_)); opaque_v_; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SYSREG_READ(name) ({ uint64_t v_; __asm__ volatile("mrs %0, " #name : "=r"(v_)); v_; })
#define SYSREG_WRITE(name, v) __asm__ volatile("msr " #name ", %0" : : "r"((uint64_t)(v)) : "memory")

#endif
