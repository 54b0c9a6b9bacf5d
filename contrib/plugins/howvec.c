/*
 * howvec: a histogram of executed instructions by class: the top-level encoding groups of the A64
 * instruction set (bits 28:25 of the word, op0), and with mnemonics=on also by capstone mnemonic.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   mnemonics=off   (default) classes only; mnemonics=on also counts each mnemonic
 *
 * Counting is inline: each instruction adds 1 to its class's (and mnemonic's) slot in this vCPU's
 * scoreboard element, so nothing is called while the guest runs.
 */
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

enum { RESERVED, UNALLOCATED, SVE, DP_IMMEDIATE, BRANCH_SYSTEM, LOAD_STORE, DP_REGISTER, FP_SIMD, CLASSES };
static const char *const class_names[CLASSES] = {
    "reserved", "unallocated", "sve", "data-processing-immediate", "branch-exception-system", "load-store",
    "data-processing-register", "fp-simd",
};
/* op0 -> class, as the Arm ARM's top-level decode table (C4.1) lays it out. */
static const uint8_t class_of_op0[16] = {
    RESERVED, UNALLOCATED, SVE, UNALLOCATED, LOAD_STORE, DP_REGISTER, LOAD_STORE, FP_SIMD,
    DP_IMMEDIATE, DP_IMMEDIATE, BRANCH_SYSTEM, BRANCH_SYSTEM, LOAD_STORE, DP_REGISTER, LOAD_STORE, FP_SIMD,
};

/* Slots of a scoreboard element: the classes, then mnemonics in the order first seen; the last one
 * collects mnemonics beyond the table's size. */
#define SLOTS 1024
#define OTHER_MNEMONIC (SLOTS - 1)

struct howvec_state {
    bool mnemonics;
    unsigned int vcpus;
    struct emud_scoreboard *scoreboard;  /* uint64_t[SLOTS] per vCPU */
    uint64_t **counts;
    pthread_mutex_t lock;                /* guards the mnemonic table; translation runs on every vCPU */
    char *names[SLOTS];                  /* slot -> mnemonic */
    unsigned int used;                   /* slots taken, counting the classes */
};

/* The slot of the mnemonic that starts text ("ldr x0, [x1]" -> "ldr"), claiming one if it is new. */
static size_t mnemonic_slot(struct howvec_state *s, const char *text)
{
    size_t length = strcspn(text, " \t"), slot = CLASSES;
    pthread_mutex_lock(&s->lock);
    while (slot < s->used && !(strlen(s->names[slot]) == length && !strncmp(s->names[slot], text, length))) slot++;
    if (slot == s->used && (slot == OTHER_MNEMONIC || !(s->names[slot] = strndup(text, length)))) slot = OTHER_MNEMONIC;
    else if (slot == s->used) s->used++;
    pthread_mutex_unlock(&s->lock);
    return slot;
}

static void translated(emud_plugin_id_t id, struct emud_tb *tb)
{
    struct howvec_state *s = sample_state(id, false);
    for (size_t i = 0, n = s ? emud_tb_n_insns(tb) : 0; i < n; i++) {
        struct emud_insn *insn = emud_tb_get_insn(tb, i);
        size_t class = class_of_op0[(emud_insn_word(insn) >> 25) & 0xf];
        emud_insn_register_inline(insn, EMUD_INLINE_ADD_U64, s->scoreboard, class * sizeof(uint64_t), 1);
        const char *text = s->mnemonics ? emud_insn_disas(insn) : NULL;
        if (text) emud_insn_register_inline(insn, EMUD_INLINE_ADD_U64, s->scoreboard, mnemonic_slot(s, text) * sizeof(uint64_t), 1);
    }
}

static uint64_t total(const struct howvec_state *s, size_t slot)
{
    uint64_t sum = 0;
    for (unsigned int v = 0; v < s->vcpus; v++) sum += s->counts[v][slot];
    return sum;
}

struct tally { const char *name; uint64_t count; };

static int busiest_first(const void *a, const void *b)
{
    const struct tally *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->name, y->name);
}

/* Classes in table order, then the mnemonics most executed first; returns how many. */
static size_t tallies(const struct howvec_state *s, struct tally *out)
{
    size_t n = 0;
    for (size_t c = 0; c < CLASSES; c++) out[n++] = (struct tally){ class_names[c], total(s, c) };
    for (size_t slot = CLASSES; slot < s->used; slot++) out[n++] = (struct tally){ s->names[slot], total(s, slot) };
    if (total(s, OTHER_MNEMONIC)) out[n++] = (struct tally){ "(others)", total(s, OTHER_MNEMONIC) };
    qsort(out + CLASSES, n - CLASSES, sizeof *out, busiest_first);
    return n;
}

static char *query(emud_plugin_id_t id)
{
    struct howvec_state *s = sample_state(id, false);
    if (!s) return NULL;
    struct tally list[SLOTS + 1];
    size_t n = tallies(s, list);
    struct sample_text t = {0};
    sample_printf(&t, "{\"classes\": {");
    for (size_t i = 0; i < n; i++) {
        if (i == CLASSES) sample_printf(&t, "}, \"mnemonics\": {");
        if (i != 0 && i != CLASSES) sample_printf(&t, ", ");
        sample_json_string(&t, list[i].name);
        sample_printf(&t, ": %" PRIu64, list[i].count);
    }
    sample_printf(&t, s->mnemonics && n == CLASSES ? "}, \"mnemonics\": {}}" : "}}");
    return t.data;
}

static void at_exit(emud_plugin_id_t id)
{
    struct howvec_state *s = sample_state(id, true);
    if (!s) return;
    struct tally list[SLOTS + 1];
    size_t n = tallies(s, list);
    struct sample_text t = {0};
    for (size_t i = 0; i < n; i++)
        sample_printf(&t, "%s%-26s %14" PRIu64 "\n", i == 0 ? "howvec: executed instructions by class:\n"
                      : i == CLASSES ? "howvec: by mnemonic:\n" : "", list[i].name, list[i].count);
    if (t.data) emud_plugin_outs(id, t.data);
    free(t.data);
    for (size_t slot = CLASSES; slot < s->used; slot++) free(s->names[slot]);
    pthread_mutex_destroy(&s->lock);
    free(s->counts);
    free(s);
}

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    bool mnemonics = false;
    for (int i = 0; i < argc; i++) {
        const char *value = sample_option(argv[i], "mnemonics");
        if (!value || !sample_parse_bool(value, &mnemonics)) return sample_reject(id, "howvec", argv[i], "mnemonics=on|off");
    }
    struct howvec_state *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->mnemonics = mnemonics;
    s->vcpus = info->num_vcpus;
    s->used = CLASSES;
    pthread_mutex_init(&s->lock, NULL);
    s->counts = (uint64_t **)sample_scoreboard(id, s->vcpus, SLOTS * sizeof(uint64_t), &s->scoreboard);
    if (!s->counts || !sample_state_add(id, s)) { free(s->counts); free(s); return -1; }
    emud_register_tb_trans_cb(id, translated);
    emud_register_atexit_cb(id, at_exit);
    emud_register_query_cb(id, query);
    return 0;
}
