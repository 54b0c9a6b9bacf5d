/* Conversions between floating point and every integer width at its boundaries, as C casts compile them
 * (FCVTZS/FCVTZU to W or X and a truncation for narrower types; SCVTF/UCVTF from each width), plus the
 * rounding conversions (lrint-style FCVTNS/FCVTAS...) at the same points. Prints bit patterns and FPSR;
 * compared with QEMU live (Tests/IntegrationTests/GuestProgramTests.swift).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static uint64_t dbits(double d) { uint64_t u; __builtin_memcpy(&u, &d, 8); return u; }
static uint32_t fbits(float f) { uint32_t u; __builtin_memcpy(&u, &f, 4); return u; }
static uint64_t fpsr(void) { uint64_t v; __asm__ volatile("mrs %0, fpsr" : "=r"(v)); return v; }
static void clear(void) { __asm__ volatile("msr fpsr, xzr"); }

/* Boundaries: each width's min and max, one past them, and half-steps around them. */
static const double points[] = {
    -129.0, -128.5, -128.0, -127.5, 127.0, 127.5, 128.0, 255.0, 255.5, 256.0, -0.5, -0.0, 0.5, 0.9999,
    -32769.0, -32768.0, 32767.0, 32767.5, 32768.0, 65535.0, 65535.5, 65536.0,
    -2147483649.0, -2147483648.5, -2147483648.0, 2147483647.0, 2147483647.5, 2147483648.0, 4294967295.0,
    4294967295.5, 4294967296.0,
    -9223372036854775808.0, -9223372036854777856.0, 9223372036854774784.0, 9223372036854775808.0,
    18446744073709549568.0, 18446744073709551616.0, 1e300, -1e300,
};

static void from_double(void)
{
    for (unsigned i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        volatile double d = points[i];
        clear();
        int8_t s8 = (int8_t)d; uint8_t u8 = (uint8_t)d; int16_t s16 = (int16_t)d; uint16_t u16 = (uint16_t)d;
        uint64_t f1 = fpsr();
        clear();
        int32_t s32 = (int32_t)d; uint32_t u32 = (uint32_t)d;
        uint64_t f2 = fpsr();
        clear();
        int64_t s64 = (int64_t)d; uint64_t u64 = (uint64_t)d;
        uint64_t f3 = fpsr();
        float f = (float)d;
        volatile float vf = f;
        int32_t fs32 = (int32_t)vf; uint64_t fu64 = (uint64_t)vf;
        int64_t rn, ra, rm, rp;
        __asm__ volatile("fcvtns %0, %d1" : "=r"(rn) : "w"(d));
        __asm__ volatile("fcvtas %0, %d1" : "=r"(ra) : "w"(d));
        __asm__ volatile("fcvtmu %0, %d1" : "=r"(rm) : "w"(d));
        __asm__ volatile("fcvtpu %w0, %d1" : "=r"(rp) : "w"(d));
        printf("%016lx s8=%d u8=%u s16=%d u16=%u %lx s32=%d u32=%u %lx s64=%ld u64=%lu %lx f=%08x fs32=%d fu64=%lu"
               " n=%lx a=%lx mu=%lx pu=%lx\n",
               dbits(d), s8, u8, s16, u16, f1, s32, u32, f2, s64, u64, f3, fbits(f), fs32, fu64, rn, ra, rm, rp);
    }
}

static void to_float(void)
{
    static const uint64_t ints[] = {
        0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000001,
        0x0020000000000001, 0x0020000000000003, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff,
        0x0000000001000001, 0x0000000001000003, 0xfffffffffeffffff,
    };
    for (unsigned i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        volatile uint64_t v = ints[i];
        clear();
        double a = (double)(int8_t)v, b = (double)(uint8_t)v, c = (double)(int16_t)v, e = (double)(uint16_t)v;
        double g = (double)(int32_t)v, h = (double)(uint32_t)v, k = (double)(int64_t)v, l = (double)v;
        float fa = (float)(int32_t)v, fb = (float)(uint32_t)v, fc = (float)(int64_t)v, fd = (float)v;
        uint64_t fl = fpsr();
        printf("%016lx %016lx %016lx %016lx %016lx %016lx %016lx %016lx %016lx %08x %08x %08x %08x %lx\n", v,
               dbits(a), dbits(b), dbits(c), dbits(e), dbits(g), dbits(h), dbits(k), dbits(l), fbits(fa),
               fbits(fb), fbits(fc), fbits(fd), fl);
    }
}

int main(void)
{
    from_double();
    to_float();
    for (uint64_t mode = 0; mode < 4; mode++) {
        __asm__ volatile("msr fpcr, %0" : : "r"(mode << 22));
        printf("rounding mode %lu\n", mode);
        to_float();
    }
    __asm__ volatile("msr fpcr, xzr");
    return 0;
}
