/* Floating-point workloads as compilers emit them (gcc's auto-vectoriser is on at -O2): n-body and Mandelbrot
 * in double precision, a single-precision matrix multiply and a radix-2 FFT, plus a small %f/%e/%g formatter
 * written with double arithmetic (the runtime's printf is integer-only, as it also runs with FP disabled).
 * Prints bit patterns and formatted values; compared with QEMU live (Tests/IntegrationTests/GuestProgramTests.swift).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "nbody.h"
#include "rt.h"

static uint64_t dbits(double d) { uint64_t u; __builtin_memcpy(&u, &d, 8); return u; }
static uint32_t fbits(float f) { uint32_t u; __builtin_memcpy(&u, &f, 4); return u; }

static double my_sqrt(double x) { double r; __asm__("fsqrt %d0, %d1" : "=w"(r) : "w"(x)); return r; }
static double my_fabs(double x) { return x < 0 ? -x : x; }

/* ---- a %f / %e / %g formatter in double arithmetic ---- */
static void copy(char *d, const char *s) { while ((*d++ = *s++)) {} }

static void fmt_digits(char *out, double v, int frac)  /* v >= 0, fixed notation with `frac` decimals */
{
    double scale = 1;
    for (int i = 0; i < frac; i++) scale *= 10;
    double scaled = v * scale + 0.5;
    uint64_t whole = (uint64_t)scaled;  /* values here stay below 2^63 */
    char buf[40];
    int n = 0;
    do { buf[n++] = (char)('0' + whole % 10); whole /= 10; } while (whole || n <= frac);
    int k = 0;
    for (int i = n - 1; i >= 0; i--) {
        out[k++] = buf[i];
        if (i == frac && frac > 0) out[k++] = '.';
    }
    out[k] = 0;
}

static void fmt(char *out, double v, char conv, int prec)
{
    if (v != v) { copy(out, "nan"); return; }
    char *p = out;
    if (v < 0 || (v == 0 && 1 / v < 0)) { *p++ = '-'; v = -v; }
    if (v > 1.7e308) { copy(p, "inf"); return; }
    int exp10 = 0;
    double m = v;
    if (m != 0) {
        while (m >= 10) { m /= 10; exp10++; }
        while (m < 1) { m *= 10; exp10--; }
    }
    if (conv == 'g') {
        int P = prec ? prec : 1;
        if (exp10 < -4 || exp10 >= P) { conv = 'e'; prec = P - 1; }
        else { conv = 'f'; prec = P - 1 - exp10; }
    }
    if (conv == 'f') {
        if (v >= 1e18) { copy(p, "big"); return; }
        fmt_digits(p, v, prec);
        return;
    }
    fmt_digits(p, m, prec);
    if (p[0] == '1' && p[1] == '0') { fmt_digits(p, m / 10, prec); exp10++; }  /* 9.99.. rounded up */
    p += strlen(p);
    *p++ = 'e';
    *p++ = exp10 < 0 ? '-' : '+';
    int e = exp10 < 0 ? -exp10 : exp10;
    if (e >= 100) *p++ = (char)('0' + e / 100);
    *p++ = (char)('0' + e / 10 % 10);
    *p++ = (char)('0' + e % 10);
    *p = 0;
}

static void formatting(void)
{
    static const double vals[] = { 0.0, -0.0, 1.0, 0.1, 2.5, -3.14159265358979, 1e10, 1.5e-7, 123456.789,
                                   6.02214076e23, 9.9999999, 1e-300, 299792458.0 };
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        char f[64], e[64], g[64];
        fmt(f, vals[i], 'f', 6);
        fmt(e, vals[i], 'e', 6);
        fmt(g, vals[i], 'g', 6);
        printf("fmt %016lx %%f=%s %%e=%s %%g=%s\n", dbits(vals[i]), f, e, g);
    }
}

/* ---- n-body (lib/nbody.c, shared with bench-nbody) ---- */
static void nbody(void)
{
    struct body b[NBODY_BODIES];
    nbody_init(b);
    char s[64];
    double e0 = nbody_energy(b);
    for (int step = 0; step < 2000; step++) nbody_advance(b, 0.01);
    double e1 = nbody_energy(b);
    fmt(s, e0, 'f', 9); printf("nbody e0=%s %016lx\n", s, dbits(e0));
    fmt(s, e1, 'f', 9); printf("nbody e1=%s %016lx\n", s, dbits(e1));
}

/* ---- Mandelbrot ---- */
static void mandelbrot(void)
{
    uint64_t checksum = 0;
    for (int py = 0; py < 24; py++) {
        char line[65];
        for (int px = 0; px < 64; px++) {
            double cr = -2.0 + px * (2.6 / 64), ci = -1.2 + py * (2.4 / 24);
            double zr = 0, zi = 0;
            int it = 0;
            while (it < 200 && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            line[px] = " .:-=+*#%@"[it % 10];
            checksum = checksum * 31 + (uint64_t)it + dbits(zr);
        }
        line[64] = 0;
        printf("%s\n", line);
    }
    printf("mandelbrot checksum %016lx\n", checksum);
}

/* ---- single-precision matrix multiply ---- */
#define N 24
static float A[N][N], B[N][N], C[N][N];

static void matmul_float(void)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = (float)((i * 7 + j * 3) % 17) / 7.0f - 1.0f;
            B[i][j] = (float)((i * 5 + j * 11) % 13) * 0.37f + 0.001f * (float)i;
        }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0;
            for (int k = 0; k < N; k++) acc += A[i][k] * B[k][j];
            C[i][j] = acc;
        }
    uint32_t h = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) h = h * 33 + fbits(C[i][j]);
    char s[64];
    fmt(s, C[3][5], 'g', 8);
    printf("matmul hash %08x C[3][5]=%s %08x C[23][23]=%08x\n", h, s, fbits(C[3][5]), fbits(C[N - 1][N - 1]));
}

/* ---- radix-2 FFT, in place, with twiddles from a recurrence ---- */
#define FFTN 256
static double re[FFTN], im[FFTN];

static void fft(void)
{
    for (int i = 0; i < FFTN; i++) {
        re[i] = (double)((i * 37) % 19) - 9.0 + (i & 1 ? 0.25 : 0.0);
        im[i] = 0;
    }
    for (int i = 1, j = 0; i < FFTN; i++) {
        int bit = FFTN >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) { double t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
    }
    for (int len = 2; len <= FFTN; len <<= 1) {
        /* cos/sin of -2pi/len by halving angles from (cos pi, sin pi) with the half-angle formulas */
        double c = -1, s = 0;
        for (int l = 2; l < len; l <<= 1) {
            s = -my_sqrt((1 - c) / 2);
            c = my_sqrt((1 + c) / 2);
        }
        for (int i = 0; i < FFTN; i += len) {
            double wr = 1, wi = 0;
            for (int j = 0; j < len / 2; j++) {
                double ur = re[i + j], ui = im[i + j];
                double vr = re[i + j + len / 2] * wr - im[i + j + len / 2] * wi;
                double vi = re[i + j + len / 2] * wi + im[i + j + len / 2] * wr;
                re[i + j] = ur + vr; im[i + j] = ui + vi;
                re[i + j + len / 2] = ur - vr; im[i + j + len / 2] = ui - vi;
                double t = wr * c - wi * s;
                wi = wr * s + wi * c;
                wr = t;
            }
        }
    }
    uint64_t h = 0;
    double power = 0;
    for (int i = 0; i < FFTN; i++) { h = h * 131 + dbits(re[i]) + 7 * dbits(im[i]); power += re[i] * re[i] + im[i] * im[i]; }
    char s[64];
    fmt(s, power, 'e', 10);
    printf("fft hash %016lx power=%s X[1]=%016lx,%016lx |X[3]|=%016lx\n", h, s, dbits(re[1]), dbits(im[1]),
           dbits(my_fabs(re[3]) + my_fabs(im[3])));
}

int main(void)
{
    formatting();
    nbody();
    mandelbrot();
    matmul_float();
    fft();
    return 0;
}
