/*
 * hotblocks: the blocks the guest executes most often.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   n=10   how many blocks to report
 *
 * A block is its start address and length; retranslating it (after a flush, a code write or a plugin
 * load) keeps counting into the same entry. One call per executed block.
 */
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

struct block {
    uint64_t pc, insns, total;
    char *symbol;                /* the function it starts in, or NULL */
    uint64_t executions[];       /* per vCPU */
};

struct hotblocks_state {
    unsigned int vcpus;
    unsigned long n;
    pthread_mutex_t lock;        /* translation callbacks run on every vCPU's thread */
    struct sample_table blocks;  /* block key -> struct block * */
};

static void executed(unsigned int vcpu, void *userdata)
{
    ((struct block *)userdata)->executions[vcpu]++;
}

static void translated(emud_plugin_id_t id, struct emud_tb *tb)
{
    struct hotblocks_state *s = sample_state(id, false);
    size_t n = emud_tb_n_insns(tb);
    if (!s || n == 0) return;
    pthread_mutex_lock(&s->lock);
    uint64_t *slot = sample_table_slot(&s->blocks, sample_block_key(emud_tb_vaddr(tb), n));
    struct block *b = slot ? (struct block *)(uintptr_t)*slot : NULL;
    if (slot && !b && (b = calloc(1, sizeof *b + s->vcpus * sizeof(uint64_t)))) {
        const char *symbol = emud_insn_symbol(emud_tb_get_insn(tb, 0));
        b->pc = emud_tb_vaddr(tb);
        b->insns = n;
        b->symbol = symbol ? strdup(symbol) : NULL;
        *slot = (uintptr_t)b;
    }
    pthread_mutex_unlock(&s->lock);
    if (b) emud_tb_register_exec_cb(tb, executed, b);
}

static int busiest_first(const void *a, const void *b)
{
    const struct block *x = *(struct block *const *)a, *y = *(struct block *const *)b;
    return x->total < y->total ? 1 : x->total > y->total ? -1 : (x->pc > y->pc) - (x->pc < y->pc);
}

/* The blocks, busiest first (a malloc'd array of s->blocks.count pointers), with totals summed. */
static struct block **ranked(struct hotblocks_state *s)
{
    struct block **list = calloc(s->blocks.count + 1, sizeof *list);
    size_t k = 0;
    for (size_t i = 0; list && i < s->blocks.capacity; i++) {
        if (!s->blocks.used[i]) continue;
        struct block *b = (struct block *)(uintptr_t)s->blocks.values[i];
        b->total = 0;
        for (unsigned int v = 0; v < s->vcpus; v++) b->total += b->executions[v];
        list[k++] = b;
    }
    if (list) qsort(list, k, sizeof *list, busiest_first);
    return list;
}

static char *query(emud_plugin_id_t id)
{
    struct hotblocks_state *s = sample_state(id, false);
    struct block **list = s ? ranked(s) : NULL;
    if (!list) return NULL;
    struct sample_text t = {0};
    sample_printf(&t, "{\"blocks\": %zu, \"top\": [", s->blocks.count);
    for (size_t i = 0; i < s->n && i < s->blocks.count; i++) {
        sample_printf(&t, "%s{\"pc\": %" PRIu64 ", \"insns\": %" PRIu64 ", \"executions\": %" PRIu64 ", \"symbol\": ",
                      i ? ", " : "", list[i]->pc, list[i]->insns, list[i]->total);
        if (list[i]->symbol) sample_json_string(&t, list[i]->symbol); else sample_printf(&t, "null");
        sample_printf(&t, "}");
    }
    sample_printf(&t, "]}");
    free(list);
    return t.data;
}

static void at_exit(emud_plugin_id_t id)
{
    struct hotblocks_state *s = sample_state(id, true);
    if (!s) return;
    struct block **list = ranked(s);
    struct sample_text t = {0};
    sample_printf(&t, "hotblocks: %zu blocks; the %lu most executed:\n%-18s %6s %14s  %s\n",
                  s->blocks.count, s->n, "pc", "insns", "executions", "function");
    for (size_t i = 0; list && i < s->n && i < s->blocks.count; i++)
        sample_printf(&t, "0x%016" PRIx64 " %6" PRIu64 " %14" PRIu64 "  %s\n", list[i]->pc, list[i]->insns,
                      list[i]->total, list[i]->symbol ? list[i]->symbol : "?");
    if (t.data) emud_plugin_outs(id, t.data);
    for (size_t i = 0; list && i < s->blocks.count; i++) { free(list[i]->symbol); free(list[i]); }
    free(list);
    free(t.data);
    sample_table_free(&s->blocks);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    unsigned long n = 10;
    for (int i = 0; i < argc; i++) {
        if (!sample_parse_count(sample_option(argv[i], "n"), &n)) return sample_reject(id, "hotblocks", argv[i], "n=COUNT (at least 1)");
    }
    struct hotblocks_state *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->vcpus = info->num_vcpus;
    s->n = n;
    pthread_mutex_init(&s->lock, NULL);
    if (!sample_state_add(id, s)) { free(s); return -1; }
    emud_register_tb_trans_cb(id, translated);
    emud_register_atexit_cb(id, at_exit);
    emud_register_query_cb(id, query);
    return 0;
}
