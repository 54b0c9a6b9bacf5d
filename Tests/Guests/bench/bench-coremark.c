/* Benchmark: a CoreMark-style mix of our own. Each iteration
 *  - builds a linked list in a static pool, looks keys up in it (reversing it after every lookup),
 *    merge-sorts it by key and back by node number;
 *  - adds a constant to a small 16-bit matrix, scales it, multiplies it by a vector and by another
 *    matrix, and multiplies them again keeping bit fields of each product;
 *  - runs a state machine over a byte string of comma-separated numbers (a few bytes changed each
 *    time), classifying each as an integer, a float, a hexadecimal number or invalid;
 * and folds every result into a CRC-16, whose value seeds the next iteration.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define ITERATIONS 30000u

/* ---- CRC-16 (polynomial 0x1021, most significant bit first), a bit at a time ---- */

static uint16_t crc16_byte(uint16_t crc, uint8_t b)
{
    crc ^= (uint16_t)(b << 8);
    for (int i = 0; i < 8; i++)
        crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    return crc;
}

static uint16_t crc16_u16(uint16_t crc, uint16_t v)
{
    return crc16_byte(crc16_byte(crc, (uint8_t)v), (uint8_t)(v >> 8));
}

static uint16_t crc16_u32(uint16_t crc, uint32_t v)
{
    return crc16_u16(crc16_u16(crc, (uint16_t)v), (uint16_t)(v >> 16));
}

static uint32_t fold32(uint32_t h, uint32_t v) { return ((h << 5) | (h >> 27)) ^ v; }

/* ---- Linked list in a static pool ---- */

#define LIST_NODES 80
#define LIST_LOOKUPS 8

struct node {
    struct node *next;
    int16_t key;
    uint16_t id;
};

static struct node pool[LIST_NODES];

/* Links the pool in node order with keys drawn from seed. */
static NOINLINE struct node *list_build(uint16_t seed)
{
    uint32_t x = 0x10000u | seed;
    for (unsigned i = 0; i < LIST_NODES; i++) {
        x = x * 1103515245u + 12345u;
        pool[i].id = (uint16_t)i;
        pool[i].key = (int16_t)((int)((x >> 16) & 0x3ff) - 0x200);
        pool[i].next = i + 1 < LIST_NODES ? &pool[i + 1] : NULL;
    }
    return &pool[0];
}

/* The first node holding key and its position, or NULL. */
static NOINLINE struct node *list_find(struct node *list, int16_t key, unsigned *position)
{
    unsigned n = 0;
    for (; list; list = list->next, n++)
        if (list->key == key)
            break;
    *position = n;
    return list;
}

static NOINLINE struct node *list_reverse(struct node *list)
{
    struct node *done = NULL;
    while (list) {
        struct node *next = list->next;
        list->next = done;
        done = list;
        list = next;
    }
    return done;
}

static inline int node_before(const struct node *a, const struct node *b, int by_id)
{
    return by_id ? a->id <= b->id : a->key <= b->key;
}

/* Merges two sorted lists; on equal keys a's node comes first. */
static struct node *list_merge(struct node *a, struct node *b, int by_id)
{
    struct node head, *tail = &head;
    while (a && b) {
        if (node_before(a, b, by_id)) {
            tail->next = a;
            a = a->next;
        } else {
            tail->next = b;
            b = b->next;
        }
        tail = tail->next;
    }
    tail->next = a ? a : b;
    return head.next;
}

/* Stable bottom-up merge sort: runs[i] holds a sorted run of 2^i nodes, merged like a binary counter. */
static NOINLINE struct node *list_sort(struct node *list, int by_id)
{
    struct node *runs[16] = {0};
    while (list) {
        struct node *run = list;
        list = list->next;
        run->next = NULL;
        unsigned i = 0;
        for (; i < 15 && runs[i]; i++) {
            run = list_merge(runs[i], run, by_id);
            runs[i] = NULL;
        }
        runs[i] = run;
    }
    struct node *sorted = NULL;
    for (unsigned i = 0; i < 16; i++)
        if (runs[i])
            sorted = list_merge(runs[i], sorted, by_id);
    return sorted;
}

static uint16_t list_work(uint16_t seed)
{
    uint16_t crc = 0;
    struct node *list = list_build(seed);
    for (unsigned f = 0; f < LIST_LOOKUPS; f++) {
        /* Even lookups look for a key that is there, odd ones for one that usually is not. */
        int16_t key = (f & 1) ? (int16_t)(((seed >> f) & 0x7ff) - 0x400)
                              : pool[(seed + 13u * f) % LIST_NODES].key;
        unsigned position;
        struct node *found = list_find(list, key, &position);
        crc = crc16_u16(crc, found ? found->id : 0xffff);
        crc = crc16_byte(crc, (uint8_t)position);
        list = list_reverse(list);
    }

    list = list_sort(list, 0);
    uint32_t h = 0;
    int16_t previous = -0x8000;
    for (struct node *n = list; n; n = n->next) {
        if (n->key < previous)
            fail("list not sorted by key");
        previous = n->key;
        h = fold32(h, (uint32_t)(uint16_t)n->key ^ ((uint32_t)n->id << 16));
    }
    crc = crc16_u32(crc, h);

    list = list_sort(list, 1);
    unsigned expected = 0;
    for (struct node *n = list; n; n = n->next, expected++)
        if (n->id != expected)
            fail("list not sorted by node number");
    if (expected != LIST_NODES)
        fail("list lost nodes");
    return crc;
}

/* ---- Small integer matrices ---- */

#define MAT_N 12

static int16_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N];
static int32_t mat_c[MAT_N][MAT_N];
static int32_t vec_r[MAT_N];

static void matrix_init(void)
{
    uint32_t x = 0xc0ffee;
    for (unsigned i = 0; i < MAT_N; i++)
        for (unsigned j = 0; j < MAT_N; j++) {
            x = x * 1664525u + 1013904223u;
            mat_a[i][j] = (int16_t)((int)((x >> 20) & 0x7f) - 0x40);
            mat_b[i][j] = (int16_t)((int)((x >> 8) & 0x7f) - 0x40);
        }
}

static NOINLINE void mat_add_const(int16_t m[MAT_N][MAT_N], int16_t v)
{
    for (unsigned i = 0; i < MAT_N; i++)
        for (unsigned j = 0; j < MAT_N; j++)
            m[i][j] = (int16_t)(m[i][j] + v);
}

static NOINLINE void mat_scale(int32_t c[MAT_N][MAT_N], int16_t a[MAT_N][MAT_N], int16_t v)
{
    for (unsigned i = 0; i < MAT_N; i++)
        for (unsigned j = 0; j < MAT_N; j++)
            c[i][j] = (int32_t)a[i][j] * v;
}

/* r = a times column col of b. */
static NOINLINE void mat_vec(int32_t *r, int16_t a[MAT_N][MAT_N], int16_t b[MAT_N][MAT_N], unsigned col)
{
    for (unsigned i = 0; i < MAT_N; i++) {
        int32_t sum = 0;
        for (unsigned k = 0; k < MAT_N; k++)
            sum += (int32_t)a[i][k] * b[k][col];
        r[i] = sum;
    }
}

static NOINLINE void mat_mul(int32_t c[MAT_N][MAT_N], int16_t a[MAT_N][MAT_N], int16_t b[MAT_N][MAT_N])
{
    for (unsigned i = 0; i < MAT_N; i++)
        for (unsigned j = 0; j < MAT_N; j++) {
            int32_t sum = 0;
            for (unsigned k = 0; k < MAT_N; k++)
                sum += (int32_t)a[i][k] * b[k][j];
            c[i][j] = sum;
        }
}

/* Like mat_mul, but each product contributes bits 3-8 plus bits 10-12 of its two's-complement value. */
static NOINLINE void mat_mul_bits(int32_t c[MAT_N][MAT_N], int16_t a[MAT_N][MAT_N], int16_t b[MAT_N][MAT_N])
{
    for (unsigned i = 0; i < MAT_N; i++)
        for (unsigned j = 0; j < MAT_N; j++) {
            uint32_t sum = 0;
            for (unsigned k = 0; k < MAT_N; k++) {
                uint32_t p = (uint32_t)((int32_t)a[i][k] * b[k][j]);
                sum += ((p >> 3) & 0x3f) + ((p >> 10) & 0x7);
            }
            c[i][j] = (int32_t)sum;
        }
}

/* A hash of c and how many of its elements exceed limit. */
static uint16_t mat_summary(uint16_t crc, int32_t c[MAT_N][MAT_N], int32_t limit)
{
    uint32_t h = 0, above = 0;
    for (unsigned i = 0; i < MAT_N; i++)
        for (unsigned j = 0; j < MAT_N; j++) {
            h = fold32(h, (uint32_t)c[i][j]);
            above += c[i][j] > limit;
        }
    return crc16_u16(crc16_u32(crc, h), (uint16_t)above);
}

static uint16_t matrix_work(uint16_t seed)
{
    uint16_t crc = 0;
    int16_t v = (int16_t)(seed & 0xf);
    mat_add_const(mat_a, v);
    mat_scale(mat_c, mat_a, (int16_t)((seed >> 4) & 0x1f));
    crc = mat_summary(crc, mat_c, 0);
    mat_vec(vec_r, mat_a, mat_b, (seed >> 9) % MAT_N);
    uint32_t h = 0;
    for (unsigned i = 0; i < MAT_N; i++)
        h = fold32(h, (uint32_t)vec_r[i]);
    crc = crc16_u32(crc, h);
    mat_mul(mat_c, mat_a, mat_b);
    crc = mat_summary(crc, mat_c, (int32_t)seed - 0x8000);
    mat_mul_bits(mat_c, mat_a, mat_b);
    crc = mat_summary(crc, mat_c, 300);
    mat_add_const(mat_a, (int16_t)-v); /* back to where it was, so the values stay small */
    return crc;
}

/* ---- State machine over a string of numbers ---- */

enum { CLASS_INT, CLASS_FLOAT, CLASS_HEX, CLASS_INVALID, CLASSES };

enum state {
    S_START, S_SIGN, S_ZERO, S_INT, S_POINT, S_FRAC, S_EXP, S_EXP_SIGN, S_EXP_DIGITS, S_HEX_PREFIX, S_HEX,
    S_INVALID
};

static const struct {
    const char *text;
    int class;
} tokens[] = {
    {"0", CLASS_INT},          {"7", CLASS_INT},           {"42", CLASS_INT},      {"-318", CLASS_INT},
    {"+9051", CLASS_INT},      {"65535", CLASS_INT},       {"3.25", CLASS_FLOAT},  {"-0.5", CLASS_FLOAT},
    {"1.5e-3", CLASS_FLOAT},   {"9E+12", CLASS_FLOAT},     {"+2.0e7", CLASS_FLOAT}, {"6.02e23", CLASS_FLOAT},
    {"0x1f", CLASS_HEX},       {"0XAB", CLASS_HEX},        {"0xdeadbeef", CLASS_HEX}, {"0x0", CLASS_HEX},
    {"--4", CLASS_INVALID},    {"12a", CLASS_INVALID},     {"0x", CLASS_INVALID},  {"7.", CLASS_INVALID},
    {".5", CLASS_INVALID},     {"1e", CLASS_INVALID},      {"x9", CLASS_INVALID},  {"3.1.4", CLASS_INVALID},
};

#define SCAN_TOKENS 48
#define SCAN_CAPACITY 512

static uint8_t scan_text[SCAN_CAPACITY];
static unsigned scan_length;
static unsigned scan_expected[CLASSES];

static void scan_init(void)
{
    uint32_t x = 0x5eed;
    for (unsigned t = 0; t < SCAN_TOKENS; t++) {
        x = x * 1103515245u + 12345u;
        unsigned pick = (x >> 16) % ARRAY_SIZE(tokens);
        if (t)
            scan_text[scan_length++] = ',';
        for (const char *c = tokens[pick].text; *c; c++)
            scan_text[scan_length++] = (uint8_t)*c;
        scan_expected[tokens[pick].class]++;
    }
}

static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static inline int is_hex_digit(uint8_t c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* Scans one token from *at (up to a comma or end); returns its class and counts state changes. */
static int scan_token(const uint8_t **at, const uint8_t *end, unsigned *changes)
{
    enum state s = S_START;
    const uint8_t *p = *at;
    for (; p < end && *p != ','; p++) {
        uint8_t c = *p;
        enum state next = S_INVALID;
        switch (s) {
        case S_START:
            if (c == '0') next = S_ZERO;
            else if (is_digit(c)) next = S_INT;
            else if (c == '+' || c == '-') next = S_SIGN;
            break;
        case S_SIGN:
            if (is_digit(c)) next = S_INT;
            break;
        case S_ZERO:
            if (c == 'x' || c == 'X') next = S_HEX_PREFIX;
            else if (is_digit(c)) next = S_INT;
            else if (c == '.') next = S_POINT;
            else if (c == 'e' || c == 'E') next = S_EXP;
            break;
        case S_INT:
            if (is_digit(c)) next = S_INT;
            else if (c == '.') next = S_POINT;
            else if (c == 'e' || c == 'E') next = S_EXP;
            break;
        case S_POINT:
        case S_FRAC:
            if (is_digit(c)) next = S_FRAC;
            else if (s == S_FRAC && (c == 'e' || c == 'E')) next = S_EXP;
            break;
        case S_EXP:
            if (is_digit(c)) next = S_EXP_DIGITS;
            else if (c == '+' || c == '-') next = S_EXP_SIGN;
            break;
        case S_EXP_SIGN:
        case S_EXP_DIGITS:
            if (is_digit(c)) next = S_EXP_DIGITS;
            break;
        case S_HEX_PREFIX:
        case S_HEX:
            if (is_hex_digit(c)) next = S_HEX;
            break;
        case S_INVALID:
            break;
        }
        *changes += next != s;
        s = next;
    }
    *at = p < end ? p + 1 : p;
    switch (s) {
    case S_ZERO:
    case S_INT: return CLASS_INT;
    case S_FRAC:
    case S_EXP_DIGITS: return CLASS_FLOAT;
    case S_HEX: return CLASS_HEX;
    default: return CLASS_INVALID;
    }
}

/* Classifies every token of the string; returns a CRC of the classes, counts and state changes. */
static NOINLINE uint16_t scan(unsigned counts[CLASSES])
{
    uint16_t crc = 0;
    unsigned changes = 0;
    const uint8_t *p = scan_text, *end = scan_text + scan_length;
    for (unsigned c = 0; c < CLASSES; c++)
        counts[c] = 0;
    while (p < end) {
        int class = scan_token(&p, end, &changes);
        counts[class]++;
        crc = crc16_byte(crc, (uint8_t)class);
    }
    for (unsigned c = 0; c < CLASSES; c++)
        crc = crc16_byte(crc, (uint8_t)counts[c]);
    return crc16_u16(crc, (uint16_t)changes);
}

static uint16_t state_work(uint16_t seed)
{
    unsigned counts[CLASSES];
    uint16_t crc = scan(counts);
    for (unsigned c = 0; c < CLASSES; c++)
        if (counts[c] != scan_expected[c])
            fail("state machine miscounted the unchanged string");

    /* Change every step-th byte, scan again, and change them back. */
    unsigned step = 3 + (seed & 7), first = (seed >> 3) % step;
    uint8_t mask = (uint8_t)(1 + ((seed >> 6) & 0x3f));
    for (unsigned i = first; i < scan_length; i += step)
        scan_text[i] ^= mask;
    crc = crc16_u16(crc, scan(counts));
    for (unsigned i = first; i < scan_length; i += step)
        scan_text[i] ^= mask;
    return crc;
}

int main(void)
{
    matrix_init();
    scan_init();
    uint16_t crc = 0xffff, list_crc = 0, matrix_crc = 0, state_crc = 0;
    for (unsigned it = 0; it < OPAQUE(ITERATIONS); it++) {
        uint16_t seed = (uint16_t)(crc ^ (it * 0x9e37u));
        uint16_t l = list_work(seed), m = matrix_work(seed), s = state_work(seed);
        list_crc = crc16_u16(list_crc, l);
        matrix_crc = crc16_u16(matrix_crc, m);
        state_crc = crc16_u16(state_crc, s);
        crc = crc16_u16(crc16_u16(crc16_u16(crc, l), m), s);
    }
    printf("bench-coremark: %u iterations, list %04x, matrix %04x, state %04x, checksum %04x\n", ITERATIONS,
           list_crc, matrix_crc, state_crc, crc);
    return 0;
}
