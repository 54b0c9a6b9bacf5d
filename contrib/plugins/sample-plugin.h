/*
 * What emud's sample plugins share: options, per-load state, reports (text and JSON), a hash table
 * and per-vCPU scoreboard elements.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every function is static inline, so a plugin that includes this header and uses only part of it
 * still builds with -Wall -Werror. Include emud-plugin.h first.
 */
#ifndef SAMPLE_PLUGIN_H
#define SAMPLE_PLUGIN_H

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built with -DEMUD_PLUGIN_BUILD_ID='"..."' (make BUILD_ID=...), a sample loads under --plugin-abi=strict. */
#ifdef EMUD_PLUGIN_BUILD_ID
EMUD_PLUGIN_EXPORT const char emud_plugin_build_id[] = EMUD_PLUGIN_BUILD_ID;
#endif

/* The value of "key=value" if arg has that key, else NULL. */
static inline const char *sample_option(const char *arg, const char *key)
{
    size_t n = strlen(key);
    return strncmp(arg, key, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static inline bool sample_parse_bool(const char *value, bool *out)
{
    if (!strcmp(value, "on") || !strcmp(value, "true") || !strcmp(value, "yes")) { *out = true; return true; }
    if (!strcmp(value, "off") || !strcmp(value, "false") || !strcmp(value, "no")) { *out = false; return true; }
    return false;
}

/* A count of at least 1, in decimal. */
static inline bool sample_parse_count(const char *value, unsigned long *out)
{
    char *end = NULL;
    unsigned long n = value && *value >= '0' && *value <= '9' ? strtoul(value, &end, 10) : 0;
    if (n == 0 || *end) return false;
    *out = n;
    return true;
}

/* Says why an argument was refused; install then returns non-zero. */
static inline int sample_reject(emud_plugin_id_t id, const char *plugin, const char *arg, const char *usage)
{
    char text[512];
    snprintf(text, sizeof text, "%s: unknown or invalid option '%s' (options: %s)\n", plugin, arg, usage);
    emud_plugin_outs(id, text);
    return -1;
}

/*
 * Per-load state. emud may load one shared object several times (with different arguments, or into
 * several machines); dlopen() then hands every load the same globals, so a plugin keeps its state per
 * plugin id. Callbacks that carry an id look it up here (translation time, at-exit, query); execution
 * and memory callbacks get it as their userdata and never look anything up.
 */
#define SAMPLE_MAX_LOADS 64
static __attribute__((unused))
struct { pthread_mutex_t lock; emud_plugin_id_t id[SAMPLE_MAX_LOADS]; void *state[SAMPLE_MAX_LOADS]; } sample_loads = { PTHREAD_MUTEX_INITIALIZER, {0}, {0} };

static inline bool sample_state_add(emud_plugin_id_t id, void *state)
{
    bool ok = false;
    pthread_mutex_lock(&sample_loads.lock);
    for (int i = 0; i < SAMPLE_MAX_LOADS && !ok; i++)
        if (!sample_loads.state[i]) { sample_loads.id[i] = id; sample_loads.state[i] = state; ok = true; }
    pthread_mutex_unlock(&sample_loads.lock);
    return ok;
}

/* The state registered for id; with remove, also forgets it (at-exit frees it). */
static inline void *sample_state(emud_plugin_id_t id, bool remove)
{
    void *state = NULL;
    pthread_mutex_lock(&sample_loads.lock);
    for (int i = 0; i < SAMPLE_MAX_LOADS && !state; i++)
        if (sample_loads.state[i] && sample_loads.id[i] == id) {
            state = sample_loads.state[i];
            if (remove) sample_loads.state[i] = NULL;
        }
    pthread_mutex_unlock(&sample_loads.lock);
    return state;
}

/* A growing, NUL-terminated string for reports. Out of memory leaves it unchanged. */
struct sample_text { char *data; size_t length, capacity; };

static inline void sample_printf(struct sample_text *t, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (n < 0) return;
    if (t->length + (size_t)n + 1 > t->capacity) {
        size_t capacity = (t->length + (size_t)n + 1) * 2;
        char *data = realloc(t->data, capacity);
        if (!data) return;
        t->data = data;
        t->capacity = capacity;
    }
    va_start(args, format);
    vsnprintf(t->data + t->length, (size_t)n + 1, format, args);
    va_end(args);
    t->length += (size_t)n;
}

/* Appends s as a JSON string literal. */
static inline void sample_json_string(struct sample_text *t, const char *s)
{
    sample_printf(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sample_printf(t, "\\%c", c);
        else if (c < 0x20) sample_printf(t, "\\u%04x", c);
        else sample_printf(t, "%c", c);
    }
    sample_printf(t, "\"");
}

/*
 * A new scoreboard with one element of `size` bytes per vCPU, and each vCPU's element looked up once
 * (scoreboard_find checks its arguments under a lock: fine at install, too slow for every instruction).
 * Returns a malloc'd array of `vcpus` pointers, or NULL.
 */
static inline void **sample_scoreboard(emud_plugin_id_t id, unsigned int vcpus, size_t size, struct emud_scoreboard **sb)
{
    *sb = emud_scoreboard_new(id, size);
    void **elements = *sb && vcpus ? calloc(vcpus, sizeof(void *)) : NULL;
    for (unsigned int v = 0; elements && v < vcpus; v++)
        if (!(elements[v] = emud_scoreboard_find(*sb, v))) { free(elements); elements = NULL; }
    return elements;
}

/* An open-addressing hash table from 64-bit keys to 64-bit values. Not thread-safe: guard it with a lock,
 * or give each vCPU its own. */
struct sample_table { uint64_t *keys, *values; uint8_t *used; size_t capacity, count; };

static inline size_t sample_hash(uint64_t key, size_t capacity)
{
    key ^= key >> 33; key *= 0xff51afd7ed558ccdULL; key ^= key >> 33;
    return (size_t)key & (capacity - 1);
}

/* The value slot for key, inserted as 0 if new; NULL when out of memory. */
static inline uint64_t *sample_table_slot(struct sample_table *t, uint64_t key)
{
    if ((t->count + 1) * 2 > t->capacity) {
        struct sample_table bigger = { .capacity = t->capacity ? t->capacity * 2 : 256 };
        bigger.keys = calloc(bigger.capacity, sizeof(uint64_t));
        bigger.values = calloc(bigger.capacity, sizeof(uint64_t));
        bigger.used = calloc(bigger.capacity, 1);
        if (!bigger.keys || !bigger.values || !bigger.used) {
            free(bigger.keys); free(bigger.values); free(bigger.used);
            return NULL;
        }
        for (size_t i = 0; i < t->capacity; i++)
            if (t->used[i]) *sample_table_slot(&bigger, t->keys[i]) = t->values[i];
        free(t->keys); free(t->values); free(t->used);
        *t = bigger;
    }
    size_t i = sample_hash(key, t->capacity);
    while (t->used[i] && t->keys[i] != key) i = (i + 1) & (t->capacity - 1);
    if (!t->used[i]) { t->used[i] = 1; t->keys[i] = key; t->values[i] = 0; t->count++; }
    return &t->values[i];
}

static inline void sample_table_free(struct sample_table *t)
{
    free(t->keys); free(t->values); free(t->used);
    memset(t, 0, sizeof *t);
}

/* A block's identity across retranslations: its address and length. Physical addresses fit in 52 bits
 * and a block holds at most 1024 instructions (it never crosses a 4 KiB page). */
static inline uint64_t sample_block_key(uint64_t pc, size_t insns) { return pc | (uint64_t)insns << 52; }

#endif /* SAMPLE_PLUGIN_H */
