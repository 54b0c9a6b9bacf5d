/*
 * drcov: block coverage in DynamoRIO's drcov format (version 2), which Lighthouse, bncov, Cartographer
 * and others read.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   file=drcov.log   where to write the log (at unload)
 *   module=PATH      the guest's ELF: its loaded range and entry become the module table's one module,
 *                    and blocks outside it are left out. Without it the module is the range the
 *                    covered blocks span, named "guest".
 *
 * A block is recorded when it is translated, which emud does just before first executing it, so the
 * plugin adds nothing to execution.
 */
#include <elf.h>
#include <errno.h>
#include "emud-plugin.h"
#include "sample-plugin.h"

EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";

struct drcov_state {
    char *file, *module;
    uint64_t base, end, entry;      /* the module; end == 0 until known */
    pthread_mutex_t lock;           /* translation runs on every vCPU's thread */
    struct sample_table seen;       /* block key -> 1 */
    struct block { uint64_t start, size; } *block;
    size_t blocks, capacity;
};

static void translated(emud_plugin_id_t id, struct emud_tb *tb)
{
    struct drcov_state *s = sample_state(id, false);
    size_t n = emud_tb_n_insns(tb);
    if (!s || n == 0) return;
    uint64_t pc = emud_tb_vaddr(tb), *seen;
    pthread_mutex_lock(&s->lock);
    if ((seen = sample_table_slot(&s->seen, sample_block_key(pc, n))) && !*seen && s->blocks == s->capacity) {
        struct block *bigger = realloc(s->block, (s->capacity * 2 + 1024) * sizeof *bigger);
        if (bigger) { s->block = bigger; s->capacity = s->capacity * 2 + 1024; }
    }
    if (seen && !*seen && s->blocks < s->capacity) {
        s->block[s->blocks++] = (struct block){ pc, n * 4 };
        *seen = 1;
    }
    pthread_mutex_unlock(&s->lock);
}

/* The module's range and entry from the ELF's program headers; false if it cannot be read. */
static bool read_module(struct drcov_state *s)
{
    FILE *f = fopen(s->module, "rb");
    Elf64_Ehdr h;
    bool ok = f && fread(&h, sizeof h, 1, f) == 1 && !memcmp(h.e_ident, ELFMAG, SELFMAG) && h.e_ident[EI_CLASS] == ELFCLASS64;
    s->base = UINT64_MAX;
    for (unsigned int i = 0; ok && i < h.e_phnum; i++) {
        Elf64_Phdr p;
        ok = !fseek(f, (long)(h.e_phoff + i * sizeof p), SEEK_SET) && fread(&p, sizeof p, 1, f) == 1;
        if (ok && p.p_type == PT_LOAD && p.p_memsz) {
            if (p.p_vaddr < s->base) s->base = p.p_vaddr;
            if (p.p_vaddr + p.p_memsz > s->end) s->end = p.p_vaddr + p.p_memsz;
        }
    }
    if (f) fclose(f);
    s->entry = ok ? h.e_entry : 0;
    if (!ok || s->end <= s->base) s->end = 0;
    return s->end != 0;
}

static bool in_module(const struct drcov_state *s, const struct block *b)
{
    return b->start >= s->base && b->start + b->size <= s->end && b->start - s->base <= UINT32_MAX;
}

/* Writes the log; returns the number of blocks written, or -1. */
static long write_log(struct drcov_state *s)
{
    if (!s->end) {  /* no module given: the range the blocks span, in whole pages */
        s->base = UINT64_MAX;
        for (const struct block *b = s->block; b < s->block + s->blocks; b++) {
            if (b->start < s->base) s->base = b->start & ~0xfffULL;
            if (b->start + b->size > s->end) s->end = (b->start + b->size + 0xfff) & ~0xfffULL;
        }
        s->entry = s->base = s->blocks ? s->base : 0;
    }
    long written = 0;
    for (size_t i = 0; i < s->blocks; i++) written += in_module(s, &s->block[i]);
    FILE *f = fopen(s->file, "wb");
    if (!f) return -1;
    fprintf(f, "DRCOV VERSION: 2\nDRCOV FLAVOR: drcov\nModule Table: version 2, count 1\n"
               "Columns: id, base, end, entry, path\n 0, 0x%016" PRIx64 ", 0x%016" PRIx64 ", 0x%016" PRIx64 ", %s\n"
               "BB Table: %ld bbs\n", s->base, s->end, s->entry, s->module ? s->module : "guest", written);
    for (const struct block *b = s->block; b < s->block + s->blocks; b++) {
        if (!in_module(s, b)) continue;
        uint32_t offset = (uint32_t)(b->start - s->base);
        /* struct { uint32_t start; uint16_t size; uint16_t module_id; }, little-endian */
        uint8_t entry[8] = { offset, offset >> 8, offset >> 16, offset >> 24, b->size, b->size >> 8, 0, 0 };
        fwrite(entry, sizeof entry, 1, f);
    }
    return fclose(f) == 0 ? written : -1;
}

static char *query(emud_plugin_id_t id)
{
    struct drcov_state *s = sample_state(id, false);
    if (!s) return NULL;
    struct sample_text t = {0};
    sample_printf(&t, "{\"blocks\": %zu, \"file\": ", s->blocks);
    sample_json_string(&t, s->file);
    sample_printf(&t, "}");
    return t.data;
}

static void at_exit(emud_plugin_id_t id)
{
    struct drcov_state *s = sample_state(id, true);
    if (!s) return;
    long written = write_log(s);
    char line[512];
    if (written < 0) snprintf(line, sizeof line, "drcov: cannot write %s: %s\n", s->file, strerror(errno));
    else snprintf(line, sizeof line, "drcov: %ld of %zu blocks written to %s\n", written, s->blocks, s->file);
    emud_plugin_outs(id, line);
    sample_table_free(&s->seen);
    pthread_mutex_destroy(&s->lock);
    free(s->block); free(s->file); free(s->module); free(s);
}

EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
{
    emud_plugin_init(info);
    struct drcov_state *s = calloc(1, sizeof *s);
    if (!s) return -1;
    pthread_mutex_init(&s->lock, NULL);
    for (int i = 0; i < argc; i++) {
        const char *file = sample_option(argv[i], "file"), *module = sample_option(argv[i], "module");
        if (file && *file) { free(s->file); s->file = strdup(file); }
        else if (module && *module) { free(s->module); s->module = strdup(module); }
        else { free(s->file); free(s->module); free(s); return sample_reject(id, "drcov", argv[i], "file=PATH, module=ELF"); }
    }
    if (!s->file) s->file = strdup("drcov.log");
    if (s->module && !read_module(s)) {
        char line[512];
        snprintf(line, sizeof line, "drcov: module=%s: cannot read that file's ELF program headers\n", s->module);
        emud_plugin_outs(id, line);
    }
    if (!s->file || (s->module && !s->end) || !sample_state_add(id, s)) {
        free(s->file); free(s->module); free(s);
        return -1;
    }
    emud_register_tb_trans_cb(id, translated);
    emud_register_atexit_cb(id, at_exit);
    emud_register_query_cb(id, query);
    return 0;
}
