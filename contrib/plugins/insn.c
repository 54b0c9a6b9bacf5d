/*
 * insn: counts the instructions the guest executes.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   inline=on   (default) emud adds 1 to this vCPU's counter before each instruction, without a call
 *   inline=off  emud calls into the plugin before each instruction (what a callback costs)
 *
 * Reports "insns: N" when unloaded and {"insns": N} when queried. Instructions that fault count:
 * they were executed, and emud's own counter (emud run --stats) counts them too.
 */
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

struct insn_state {
    bool inline_add;
    unsigned int vcpus;
    struct emud_scoreboard *counts;  /* one uint64_t per vCPU */
    uint64_t **count;                /* count[vcpu]: that vCPU's element */
};

/* Runs on the vCPU's own thread, so its counter needs no atomics. */
static void count_one(unsigned int vcpu, void *userdata)
{
    struct insn_state *s = userdata;
    (*s->count[vcpu])++;
}

static void translated(emud_plugin_id_t id, struct emud_tb *tb)
{
    struct insn_state *s = sample_state(id, false);
    if (!s) return;
    for (size_t i = 0, n = emud_tb_n_insns(tb); i < n; i++) {
        struct emud_insn *insn = emud_tb_get_insn(tb, i);
        if (s->inline_add) emud_insn_register_inline(insn, EMUD_INLINE_ADD_U64, s->counts, 0, 1);
        else emud_insn_register_exec_cb(insn, count_one, s);
    }
}

/* Sums the vCPUs' counters; at-exit and query run while no vCPU runs. */
static uint64_t total(const struct insn_state *s)
{
    uint64_t sum = 0;
    for (unsigned int v = 0; v < s->vcpus; v++) sum += *s->count[v];
    return sum;
}

static char *query(emud_plugin_id_t id)
{
    struct insn_state *s = sample_state(id, false);
    if (!s) return NULL;
    struct sample_text t = {0};
    sample_printf(&t, "{\"insns\": %" PRIu64 "}", total(s));
    return t.data;
}

static void at_exit(emud_plugin_id_t id)
{
    struct insn_state *s = sample_state(id, true);
    if (!s) return;
    char line[64];
    snprintf(line, sizeof line, "insns: %" PRIu64 "\n", total(s));
    emud_plugin_outs(id, line);
    free(s->count);
    free(s);
}

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    bool inline_add = true;
    for (int i = 0; i < argc; i++) {
        const char *value = sample_option(argv[i], "inline");
        if (!value || !sample_parse_bool(value, &inline_add)) return sample_reject(id, "insn", argv[i], "inline=on|off");
    }
    struct insn_state *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->inline_add = inline_add;
    s->vcpus = info->num_vcpus;
    s->count = (uint64_t **)sample_scoreboard(id, s->vcpus, sizeof(uint64_t), &s->counts);
    if (!s->count || !sample_state_add(id, s)) {
        free(s->count);
        free(s);
        return -1;
    }
    emud_register_tb_trans_cb(id, translated);
    emud_register_atexit_cb(id, at_exit);
    emud_register_query_cb(id, query);
    return 0;
}
