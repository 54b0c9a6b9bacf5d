/* Recursion: Fibonacci, Ackermann, Towers of Hanoi, mutual recursion, and a recursive-descent
 * expression evaluator; deep stacks and many calls.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static NOINLINE uint64_t fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static NOINLINE uint64_t ackermann(uint64_t m, uint64_t n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

static uint64_t moves, move_hash;

static NOINLINE void hanoi(int n, int from, int to, int via)
{
    if (n == 0)
        return;
    hanoi(n - 1, from, via, to);
    moves++;
    move_hash = move_hash * 31 + (uint64_t)(n * 9 + from * 3 + to);
    hanoi(n - 1, via, to, from);
}

static NOINLINE int is_odd(unsigned n);
static NOINLINE int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }
static NOINLINE int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }

/* expr := term (('+'|'-') term)*; term := factor (('*'|'/'|'%') factor)*;
 * factor := number | '-' factor | '(' expr ')' */
static const char *cursor;
static NOINLINE int64_t expr(void);

static NOINLINE int64_t factor(void)
{
    if (*cursor == '-') {
        cursor++;
        return -factor();
    }
    if (*cursor == '(') {
        cursor++;
        int64_t v = expr();
        if (*cursor == ')')
            cursor++;
        return v;
    }
    int64_t v = 0;
    while (*cursor >= '0' && *cursor <= '9')
        v = v * 10 + (*cursor++ - '0');
    return v;
}

static NOINLINE int64_t term(void)
{
    int64_t v = factor();
    while (*cursor == '*' || *cursor == '/' || *cursor == '%') {
        char op = *cursor++;
        int64_t r = factor();
        v = op == '*' ? v * r : r == 0 ? 0 : op == '/' ? v / r : v % r;
    }
    return v;
}

static NOINLINE int64_t expr(void)
{
    int64_t v = term();
    while (*cursor == '+' || *cursor == '-') {
        char op = *cursor++;
        int64_t r = term();
        v = op == '+' ? v + r : v - r;
    }
    return v;
}

/* Sum of a binary tree of depth d built on the stack through recursion. */
static NOINLINE uint64_t tree(unsigned depth, uint64_t label)
{
    volatile uint64_t frame[4] = { label, label * 3, label ^ 0x55, depth };
    if (depth == 0)
        return frame[0] + frame[1] + frame[2];
    return tree(depth - 1, label * 2) + tree(depth - 1, label * 2 + 1) + frame[3];
}

int main(void)
{
    for (unsigned n = 0; n <= 24; n += 3)
        printf("fib(%u) = %lu\n", n, fib(OPAQUE(n)));
    for (uint64_t m = 0; m <= 3; m++)
        for (uint64_t n = 0; n <= 4; n++)
            printf("ackermann(%lu, %lu) = %lu\n", m, n, ackermann(OPAQUE(m), n));
    for (int n = 1; n <= 14; n += 3) {
        moves = move_hash = 0;
        hanoi(OPAQUE(n), 0, 2, 1);
        printf("hanoi(%d): %lu moves, hash %016lx\n", n, moves, move_hash);
    }
    printf("is_even(10001)=%d is_odd(7777)=%d\n", is_even(OPAQUE(10001u)), is_odd(OPAQUE(7777u)));
    static const char *const exprs[] = {
        "1+2*3", "(1+2)*3", "-(4-10)*-(3+-2)", "100/7%4+((((((((1))))))))", "2*3*4*5*6*7*8*9*10*11*12*13*14*15",
        "(((7-3)*(8+1))/(5-(2*2)))-13%5", "1-2-3-4-5-6-7-8-9",
    };
    for (unsigned i = 0; i < ARRAY_SIZE(exprs); i++) {
        cursor = exprs[i];
        printf("%s = %ld\n", exprs[i], expr());
    }
    printf("tree(12) = %lu\n", tree(OPAQUE(12u), 1));
    return 0;
}
