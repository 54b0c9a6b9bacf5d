/*
 * hotpages: the 4 KiB guest pages with the most data accesses (loads and stores, RAM and devices).
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   n=10   how many pages to report
 *
 * One call per access. Each vCPU counts into a table of its own, so the call takes no lock; the tables
 * are merged when the plugin reports.
 */
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

#define PAGE_SHIFT 12

/* Key: page number << 1 | is_store. Aligned so that vCPUs' tables do not share a cache line. */
struct vcpu_pages { struct sample_table counts; } __attribute__((aligned(64)));

struct hotpages_state {
    unsigned int vcpus;
    unsigned long n;
    struct vcpu_pages *pages;  /* [vcpus] */
};

struct page { uint64_t page, reads, writes; };

static void accessed(unsigned int vcpu, const struct emud_mem_access *access, void *userdata)
{
    struct hotpages_state *s = userdata;
    uint64_t *count = sample_table_slot(&s->pages[vcpu].counts, (access->vaddr >> PAGE_SHIFT) << 1 | (access->is_store != 0));
    if (count) (*count)++;
}

/* Only load/store instructions access data: op0 (bits 28:25) is x1x0. */
static void translated(emud_plugin_id_t id, struct emud_tb *tb)
{
    struct hotpages_state *s = sample_state(id, false);
    for (size_t i = 0, n = s ? emud_tb_n_insns(tb) : 0; i < n; i++) {
        struct emud_insn *insn = emud_tb_get_insn(tb, i);
        if (((emud_insn_word(insn) >> 25) & 0x5) == 0x4) emud_insn_register_mem_cb(insn, accessed, EMUD_MEM_RW, s);
    }
}

static int busiest_first(const void *a, const void *b)
{
    const struct page *x = a, *y = b;
    uint64_t tx = x->reads + x->writes, ty = y->reads + y->writes;
    return tx < ty ? 1 : tx > ty ? -1 : (x->page > y->page) - (x->page < y->page);
}

/* Every page touched, busiest first; *count says how many. */
static struct page *ranked(struct hotpages_state *s, size_t *count)
{
    struct sample_table index = {0};  /* page -> position in list + 1 */
    struct page *list = NULL;
    size_t used = 0, capacity = 0;
    for (unsigned int v = 0; v < s->vcpus; v++) {
        const struct sample_table *t = &s->pages[v].counts;
        for (size_t i = 0; i < t->capacity; i++) {
            if (!t->used[i]) continue;
            uint64_t *position = sample_table_slot(&index, t->keys[i] >> 1);
            if (!position) continue;
            if (!*position) {
                if (used == capacity) {
                    struct page *bigger = realloc(list, (capacity * 2 + 64) * sizeof *list);
                    if (!bigger) continue;
                    list = bigger;
                    capacity = capacity * 2 + 64;
                }
                list[used] = (struct page){ t->keys[i] >> 1, 0, 0 };
                *position = ++used;
            }
            struct page *p = &list[*position - 1];
            if (t->keys[i] & 1) p->writes += t->values[i]; else p->reads += t->values[i];
        }
    }
    sample_table_free(&index);
    if (list) qsort(list, used, sizeof *list, busiest_first);
    *count = used;
    return list;
}

static char *query(emud_plugin_id_t id)
{
    struct hotpages_state *s = sample_state(id, false);
    if (!s) return NULL;
    size_t count;
    struct page *list = ranked(s, &count);
    struct sample_text t = {0};
    sample_printf(&t, "{\"pages\": %zu, \"top\": [", count);
    for (size_t i = 0; i < s->n && i < count; i++)
        sample_printf(&t, "%s{\"address\": %" PRIu64 ", \"reads\": %" PRIu64 ", \"writes\": %" PRIu64 "}", i ? ", " : "",
                      list[i].page << PAGE_SHIFT, list[i].reads, list[i].writes);
    sample_printf(&t, "]}");
    free(list);
    return t.data;
}

static void at_exit(emud_plugin_id_t id)
{
    struct hotpages_state *s = sample_state(id, true);
    if (!s) return;
    size_t count;
    struct page *list = ranked(s, &count);
    struct sample_text t = {0};
    sample_printf(&t, "hotpages: %zu pages; the %lu most accessed:\n%-18s %14s %14s\n", count, s->n, "page", "reads", "writes");
    for (size_t i = 0; i < s->n && i < count; i++)
        sample_printf(&t, "0x%016" PRIx64 " %14" PRIu64 " %14" PRIu64 "\n", list[i].page << PAGE_SHIFT, list[i].reads, list[i].writes);
    if (t.data) emud_plugin_outs(id, t.data);
    free(t.data);
    free(list);
    for (unsigned int v = 0; v < s->vcpus; v++) sample_table_free(&s->pages[v].counts);
    free(s->pages);
    free(s);
}

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    unsigned long n = 10;
    for (int i = 0; i < argc; i++) {
        if (!sample_parse_count(sample_option(argv[i], "n"), &n)) return sample_reject(id, "hotpages", argv[i], "n=COUNT (at least 1)");
    }
    struct hotpages_state *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->vcpus = info->num_vcpus;
    s->n = n;
    s->pages = aligned_alloc(64, s->vcpus * sizeof *s->pages);
    if (s->pages) memset(s->pages, 0, s->vcpus * sizeof *s->pages);
    if (!s->pages || !sample_state_add(id, s)) { free(s->pages); free(s); return -1; }
    emud_register_tb_trans_cb(id, translated);
    emud_register_atexit_cb(id, at_exit);
    emud_register_query_cb(id, query);
    return 0;
}
