/*
 * bb: counts executed blocks, and the instructions in them.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   inline=on   (default) two inline adds per block: no call
 *   inline=off  one call into the plugin per block
 *
 * Reports "bb: N insns: M" when unloaded and {"bb": N, "insns": M} when queried. A block counts whole
 * when it is entered, so M exceeds insn's count by the instructions skipped when a fault or exception
 * leaves a block early; for code that does not fault, the two agree.
 */
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

/* A block never crosses a 4 KiB page, so it holds at most 1024 instructions. */
#define BB_MAX_INSNS 1024

struct bb_counts { uint64_t blocks, insns; };

struct bb_state;
/* The userdata of a block's callback: which load it belongs to and how long the block is. */
struct bb_length { struct bb_state *state; uint64_t insns; };

struct bb_state {
    bool inline_add;
    unsigned int vcpus;
    struct emud_scoreboard *scoreboard;   /* one struct bb_counts per vCPU */
    struct bb_counts **counts;
    struct bb_length lengths[BB_MAX_INSNS + 1];
};

static void count_block(unsigned int vcpu, void *userdata)
{
    const struct bb_length *length = userdata;
    struct bb_counts *c = length->state->counts[vcpu];
    c->blocks++;
    c->insns += length->insns;
}

static void translated(emud_plugin_id_t id, struct emud_tb *tb)
{
    struct bb_state *s = sample_state(id, false);
    size_t n = emud_tb_n_insns(tb);
    if (!s || n == 0 || n > BB_MAX_INSNS) return;
    if (s->inline_add) {
        emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, s->scoreboard, offsetof(struct bb_counts, blocks), 1);
        emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, s->scoreboard, offsetof(struct bb_counts, insns), n);
    } else {
        emud_tb_register_exec_cb(tb, count_block, &s->lengths[n]);
    }
}

static struct bb_counts total(const struct bb_state *s)
{
    struct bb_counts sum = {0, 0};
    for (unsigned int v = 0; v < s->vcpus; v++) {
        sum.blocks += s->counts[v]->blocks;
        sum.insns += s->counts[v]->insns;
    }
    return sum;
}

static char *query(emud_plugin_id_t id)
{
    struct bb_state *s = sample_state(id, false);
    if (!s) return NULL;
    struct bb_counts sum = total(s);
    struct sample_text t = {0};
    sample_printf(&t, "{\"bb\": %" PRIu64 ", \"insns\": %" PRIu64 "}", sum.blocks, sum.insns);
    return t.data;
}

static void at_exit(emud_plugin_id_t id)
{
    struct bb_state *s = sample_state(id, true);
    if (!s) return;
    struct bb_counts sum = total(s);
    char line[96];
    snprintf(line, sizeof line, "bb: %" PRIu64 " insns: %" PRIu64 "\n", sum.blocks, sum.insns);
    emud_plugin_outs(id, line);
    free(s->counts);
    free(s);
}

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    bool inline_add = true;
    for (int i = 0; i < argc; i++) {
        const char *value = sample_option(argv[i], "inline");
        if (!value || !sample_parse_bool(value, &inline_add)) return sample_reject(id, "bb", argv[i], "inline=on|off");
    }
    struct bb_state *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->inline_add = inline_add;
    s->vcpus = info->num_vcpus;
    for (size_t n = 0; n <= BB_MAX_INSNS; n++) s->lengths[n] = (struct bb_length){ s, n };
    s->counts = (struct bb_counts **)sample_scoreboard(id, s->vcpus, sizeof(struct bb_counts), &s->scoreboard);
    if (!s->counts || !sample_state_add(id, s)) {
        free(s->counts);
        free(s);
        return -1;
    }
    emud_register_tb_trans_cb(id, translated);
    emud_register_atexit_cb(id, at_exit);
    emud_register_query_cb(id, query);
    return 0;
}
