/*
 * mem: counts the guest's data accesses: loads, stores, and accesses to each device.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   track=rw   (default) loads and stores; track=r only loads, track=w only stores
 *
 * One call per access. Counters live in a per-vCPU scoreboard element, so the call takes no lock.
 * Accesses wider than 8 bytes arrive, and count, as 8-byte parts.
 */
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

#define MAX_DEVICES 16

/* Device names are emud's own strings, the same pointer for every access to one device. */
struct device_counts { const char *name; uint64_t reads, writes; };
struct mem_counts { uint64_t loads, stores; unsigned int devices; struct device_counts device[MAX_DEVICES]; };

struct mem_state {
    int track;
    unsigned int vcpus;
    struct emud_scoreboard *scoreboard;
    struct mem_counts **counts;  /* [vcpu] */
};

/* The vCPU's hot path matches devices by pointer; merging the vCPUs' tables matches them by name. */
static void add_device(struct mem_counts *c, const char *device, bool by_name, uint64_t reads, uint64_t writes)
{
    unsigned int i = 0;
    while (i < c->devices && c->device[i].name != device && !(by_name && !strcmp(c->device[i].name, device))) i++;
    if (i == MAX_DEVICES) return;  /* more devices than this sample keeps apart: only the totals count them */
    if (i == c->devices) c->device[c->devices++].name = device;
    c->device[i].reads += reads;
    c->device[i].writes += writes;
}

static void accessed(unsigned int vcpu, const struct emud_mem_access *access, void *userdata)
{
    struct mem_counts *c = ((struct mem_state *)userdata)->counts[vcpu];
    if (access->is_store) c->stores++; else c->loads++;
    if (access->device) add_device(c, access->device, false, !access->is_store, access->is_store != 0);
}

/* Only load/store instructions access data: op0 (bits 28:25) is x1x0. */
static void translated(emud_plugin_id_t id, struct emud_tb *tb)
{
    struct mem_state *s = sample_state(id, false);
    for (size_t i = 0, n = s ? emud_tb_n_insns(tb) : 0; i < n; i++) {
        struct emud_insn *insn = emud_tb_get_insn(tb, i);
        if (((emud_insn_word(insn) >> 25) & 0x5) == 0x4) emud_insn_register_mem_cb(insn, accessed, s->track, s);
    }
}

/* All vCPUs' counters added up (devices matched by name). */
static struct mem_counts total(const struct mem_state *s)
{
    struct mem_counts sum = {0};
    for (unsigned int v = 0; v < s->vcpus; v++) {
        const struct mem_counts *c = s->counts[v];
        sum.loads += c->loads;
        sum.stores += c->stores;
        for (unsigned int i = 0; i < c->devices; i++)
            add_device(&sum, c->device[i].name, true, c->device[i].reads, c->device[i].writes);
    }
    return sum;
}

static char *query(emud_plugin_id_t id)
{
    struct mem_state *s = sample_state(id, false);
    if (!s) return NULL;
    struct mem_counts sum = total(s);
    struct sample_text t = {0};
    sample_printf(&t, "{\"loads\": %" PRIu64 ", \"stores\": %" PRIu64 ", \"devices\": {", sum.loads, sum.stores);
    for (unsigned int i = 0; i < sum.devices; i++) {
        sample_printf(&t, i ? ", " : "");
        sample_json_string(&t, sum.device[i].name);
        sample_printf(&t, ": {\"reads\": %" PRIu64 ", \"writes\": %" PRIu64 "}", sum.device[i].reads, sum.device[i].writes);
    }
    sample_printf(&t, "}}");
    return t.data;
}

static void at_exit(emud_plugin_id_t id)
{
    struct mem_state *s = sample_state(id, true);
    if (!s) return;
    struct mem_counts sum = total(s);
    struct sample_text t = {0};
    sample_printf(&t, "mem: loads %" PRIu64 " stores %" PRIu64 "\n", sum.loads, sum.stores);
    for (unsigned int i = 0; i < sum.devices; i++)
        sample_printf(&t, "mem: device %s: reads %" PRIu64 " writes %" PRIu64 "\n", sum.device[i].name,
                      sum.device[i].reads, sum.device[i].writes);
    if (t.data) emud_plugin_outs(id, t.data);
    free(t.data);
    free(s->counts);
    free(s);
}

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    int track = EMUD_MEM_RW;
    for (int i = 0; i < argc; i++) {
        const char *value = sample_option(argv[i], "track");
        if (value && !strcmp(value, "r")) track = EMUD_MEM_R;
        else if (value && !strcmp(value, "w")) track = EMUD_MEM_W;
        else if (value && !strcmp(value, "rw")) track = EMUD_MEM_RW;
        else return sample_reject(id, "mem", argv[i], "track=r|w|rw");
    }
    struct mem_state *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->track = track;
    s->vcpus = info->num_vcpus;
    s->counts = (struct mem_counts **)sample_scoreboard(id, s->vcpus, sizeof(struct mem_counts), &s->scoreboard);
    if (!s->counts || !sample_state_add(id, s)) { free(s->counts); free(s); return -1; }
    emud_register_tb_trans_cb(id, translated);
    emud_register_atexit_cb(id, at_exit);
    emud_register_query_cb(id, query);
    return 0;
}
