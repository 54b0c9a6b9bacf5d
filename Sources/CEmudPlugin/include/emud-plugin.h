/*
 * emud plugin API.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A plugin is a C shared object that observes a running guest. emud loads it into a machine that may already
 * be running (emud run --plugin, the control socket's plugin-load) and can unload it again at any time.
 *
 * A plugin exports three symbols, and optionally a fourth:
 *
 *   EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
 *       Must equal the EMUD_PLUGIN_API_VERSION of the emud that loads it; anything else is refused with a
 *       message naming both numbers. There is no ABI stability between versions: rebuild plugins against the
 *       header of the emud you run.
 *
 *   EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";
 *       An SPDX license expression (AND, OR, WITH, parentheses). emud is GPL-2.0-or-later and a plugin links
 *       into it, so a plugin whose license is not GPL-compatible is refused unless the daemon runs with
 *       --allow-incompatible-plugins (the daemon is then marked tainted). A plugin without it is refused.
 *
 *   EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info,
 *                                              int argc, char **argv);
 *       Called once, inside an exclusive section (no vCPU runs), with the plugin's key=value arguments.
 *       Call emud_plugin_init(info) first. Return 0 to accept; anything else refuses the plugin and emud undoes
 *       everything it registered.
 *
 *   EMUD_PLUGIN_EXPORT const char emud_plugin_build_id[] = EMUD_PLUGIN_BUILD_ID;   (optional)
 *       Checked only when emud runs with --plugin-abi=strict: it must equal the build id of that emud binary
 *       (`emud plugin-build-id` prints it; pass it with -DEMUD_PLUGIN_BUILD_ID='"..."').
 *
 * Threads: callbacks run on the vCPU thread named by their vcpu_index argument (translation, execution,
 * memory, exception, idle/resume callbacks) or on an emud control thread while no vCPU runs (install,
 * at-exit, query). Flush callbacks run either while no vCPU runs or on the vCPU whose translation cache
 * filled up. Several vCPUs may call the same callback concurrently; use per-vCPU scoreboards.
 *
 * Loading the same shared object twice (e.g. with different arguments) maps it once: its globals are shared
 * between the two instances, so keep per-instance state keyed by the plugin id.
 *
 * Unloading: emud stops every vCPU, flushes all translated code (so no block still calls into the plugin),
 * calls the at-exit callback, and only then dlclose()s the plugin.
 */
#ifndef EMUD_PLUGIN_H
#define EMUD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMUD_PLUGIN_API_VERSION 1
#define EMUD_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t emud_plugin_id_t;

/* Handles valid only during a translation callback. */
struct emud_tb;
struct emud_insn;
/* A per-vCPU array of equally sized elements owned by one plugin. */
struct emud_scoreboard;

/* One data access, passed to memory callbacks. */
struct emud_mem_access {
    uint64_t vaddr;
    uint64_t paddr;      /* the physical address the MMU translated vaddr to (equal to vaddr with the MMU off) */
    uint64_t value;      /* the value loaded or stored (zero-extended) */
    uint32_t size;       /* bytes: 1, 2, 4 or 8 (wider accesses are reported in 8-byte parts) */
    uint32_t is_store;
    const char *device;  /* NULL for RAM; the device's name for MMIO (e.g. "pl011") */
};

enum emud_exception_kind {
    EMUD_EXCEPTION_SYNC = 0,
    EMUD_EXCEPTION_IRQ = 1,
    EMUD_EXCEPTION_FIQ = 2,
    EMUD_EXCEPTION_SERROR = 3,
};

struct emud_exception {
    uint64_t from_pc;    /* preferred return address (ELR) */
    uint64_t to_pc;      /* vector address */
    uint32_t kind;       /* enum emud_exception_kind */
    uint32_t esr;        /* syndrome for synchronous exceptions, 0 otherwise */
};

enum emud_mem_rw { EMUD_MEM_R = 1, EMUD_MEM_W = 2, EMUD_MEM_RW = 3 };
enum emud_inline_op { EMUD_INLINE_ADD_U64 = 0, EMUD_INLINE_STORE_U64 = 1 };

typedef void (*emud_vcpu_cb_t)(emud_plugin_id_t id, unsigned int vcpu_index);
typedef void (*emud_tb_trans_cb_t)(emud_plugin_id_t id, struct emud_tb *tb);
typedef void (*emud_exec_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*emud_mem_cb_t)(unsigned int vcpu_index, const struct emud_mem_access *access, void *userdata);
typedef void (*emud_exception_cb_t)(emud_plugin_id_t id, unsigned int vcpu_index, const struct emud_exception *e);
typedef void (*emud_simple_cb_t)(emud_plugin_id_t id);
/* Returns a JSON document allocated with malloc(); emud frees it. NULL means "no report". */
typedef char *(*emud_query_cb_t)(emud_plugin_id_t id);

/* The host's API: a table of function pointers, so plugins need no symbols from the emud executable.
 * Every function returns 0 (or a valid pointer) on success and -1 (or NULL) when given a bad id or handle. */
struct emud_api {
    uint32_t size;  /* sizeof(struct emud_api) as emud built it */

    int (*register_vcpu_init_cb)(emud_plugin_id_t id, emud_vcpu_cb_t cb);
    int (*register_vcpu_exit_cb)(emud_plugin_id_t id, emud_vcpu_cb_t cb);
    int (*register_vcpu_idle_cb)(emud_plugin_id_t id, emud_vcpu_cb_t cb);
    int (*register_vcpu_resume_cb)(emud_plugin_id_t id, emud_vcpu_cb_t cb);
    int (*register_tb_trans_cb)(emud_plugin_id_t id, emud_tb_trans_cb_t cb);
    int (*register_exception_cb)(emud_plugin_id_t id, emud_exception_cb_t cb);
    int (*register_flush_cb)(emud_plugin_id_t id, emud_simple_cb_t cb);
    int (*register_atexit_cb)(emud_plugin_id_t id, emud_simple_cb_t cb);
    int (*register_query_cb)(emud_plugin_id_t id, emud_query_cb_t cb);

    /* Translation time (inside a tb_trans callback only). */
    size_t (*tb_n_insns)(const struct emud_tb *tb);
    uint64_t (*tb_vaddr)(const struct emud_tb *tb);
    struct emud_insn *(*tb_get_insn)(const struct emud_tb *tb, size_t index);
    uint64_t (*insn_vaddr)(const struct emud_insn *insn);
    size_t (*insn_size)(const struct emud_insn *insn);
    uint32_t (*insn_word)(const struct emud_insn *insn);
    const char *(*insn_disas)(const struct emud_insn *insn);   /* capstone text, valid during the callback */
    const char *(*insn_symbol)(const struct emud_insn *insn);  /* function symbol or NULL */
    int (*tb_register_exec_cb)(struct emud_tb *tb, emud_exec_cb_t cb, void *userdata);
    int (*tb_register_inline)(struct emud_tb *tb, int op, struct emud_scoreboard *sb, size_t offset, uint64_t value);
    int (*insn_register_exec_cb)(struct emud_insn *insn, emud_exec_cb_t cb, void *userdata);
    int (*insn_register_inline)(struct emud_insn *insn, int op, struct emud_scoreboard *sb, size_t offset, uint64_t value);
    int (*insn_register_mem_cb)(struct emud_insn *insn, emud_mem_cb_t cb, int rw, void *userdata);

    /* Scoreboards: one element per vCPU, zero-initialised, freed when the plugin unloads. */
    struct emud_scoreboard *(*scoreboard_new)(emud_plugin_id_t id, size_t element_size);
    void *(*scoreboard_find)(struct emud_scoreboard *sb, unsigned int vcpu_index);
    unsigned int (*num_vcpus)(emud_plugin_id_t id);

    /* State (from a callback running on that vCPU, or from install/at-exit/query). */
    int (*read_register)(emud_plugin_id_t id, unsigned int vcpu_index, const char *name, uint64_t *value);
    int (*read_memory)(emud_plugin_id_t id, uint64_t address, void *buffer, size_t length);  /* physical address */

    /* Per-plugin output, kept by emud and readable through the control socket and the log. */
    void (*outs)(emud_plugin_id_t id, const char *text);

    /* Translation time: the physical address of an instruction (where the MMU placed its virtual address when
     * the block was translated; equal to the virtual address with the MMU off). */
    uint64_t (*insn_paddr)(const struct emud_insn *insn);
};

struct emud_plugin_info {
    uint32_t api_version;
    const char *machine_id;
    unsigned int num_vcpus;
    const char *build_id;
    const struct emud_api *api;
};

/* Convenience wrappers. Each translation unit that uses them calls emud_plugin_init() in install first. */
static const struct emud_api *emud__api;

static inline void emud_plugin_init(const struct emud_plugin_info *info) { emud__api = info->api; }
static inline int emud_register_vcpu_init_cb(emud_plugin_id_t id, emud_vcpu_cb_t cb) { return emud__api->register_vcpu_init_cb(id, cb); }
static inline int emud_register_vcpu_exit_cb(emud_plugin_id_t id, emud_vcpu_cb_t cb) { return emud__api->register_vcpu_exit_cb(id, cb); }
static inline int emud_register_vcpu_idle_cb(emud_plugin_id_t id, emud_vcpu_cb_t cb) { return emud__api->register_vcpu_idle_cb(id, cb); }
static inline int emud_register_vcpu_resume_cb(emud_plugin_id_t id, emud_vcpu_cb_t cb) { return emud__api->register_vcpu_resume_cb(id, cb); }
static inline int emud_register_tb_trans_cb(emud_plugin_id_t id, emud_tb_trans_cb_t cb) { return emud__api->register_tb_trans_cb(id, cb); }
static inline int emud_register_exception_cb(emud_plugin_id_t id, emud_exception_cb_t cb) { return emud__api->register_exception_cb(id, cb); }
static inline int emud_register_flush_cb(emud_plugin_id_t id, emud_simple_cb_t cb) { return emud__api->register_flush_cb(id, cb); }
static inline int emud_register_atexit_cb(emud_plugin_id_t id, emud_simple_cb_t cb) { return emud__api->register_atexit_cb(id, cb); }
static inline int emud_register_query_cb(emud_plugin_id_t id, emud_query_cb_t cb) { return emud__api->register_query_cb(id, cb); }
static inline size_t emud_tb_n_insns(const struct emud_tb *tb) { return emud__api->tb_n_insns(tb); }
static inline uint64_t emud_tb_vaddr(const struct emud_tb *tb) { return emud__api->tb_vaddr(tb); }
static inline struct emud_insn *emud_tb_get_insn(const struct emud_tb *tb, size_t i) { return emud__api->tb_get_insn(tb, i); }
static inline uint64_t emud_insn_vaddr(const struct emud_insn *insn) { return emud__api->insn_vaddr(insn); }
static inline size_t emud_insn_size(const struct emud_insn *insn) { return emud__api->insn_size(insn); }
static inline uint32_t emud_insn_word(const struct emud_insn *insn) { return emud__api->insn_word(insn); }
static inline const char *emud_insn_disas(const struct emud_insn *insn) { return emud__api->insn_disas(insn); }
static inline const char *emud_insn_symbol(const struct emud_insn *insn) { return emud__api->insn_symbol(insn); }
static inline int emud_tb_register_exec_cb(struct emud_tb *tb, emud_exec_cb_t cb, void *userdata) { return emud__api->tb_register_exec_cb(tb, cb, userdata); }
static inline int emud_tb_register_inline(struct emud_tb *tb, int op, struct emud_scoreboard *sb, size_t offset, uint64_t value) { return emud__api->tb_register_inline(tb, op, sb, offset, value); }
static inline int emud_insn_register_exec_cb(struct emud_insn *insn, emud_exec_cb_t cb, void *userdata) { return emud__api->insn_register_exec_cb(insn, cb, userdata); }
static inline int emud_insn_register_inline(struct emud_insn *insn, int op, struct emud_scoreboard *sb, size_t offset, uint64_t value) { return emud__api->insn_register_inline(insn, op, sb, offset, value); }
static inline int emud_insn_register_mem_cb(struct emud_insn *insn, emud_mem_cb_t cb, int rw, void *userdata) { return emud__api->insn_register_mem_cb(insn, cb, rw, userdata); }
static inline struct emud_scoreboard *emud_scoreboard_new(emud_plugin_id_t id, size_t element_size) { return emud__api->scoreboard_new(id, element_size); }
static inline void *emud_scoreboard_find(struct emud_scoreboard *sb, unsigned int vcpu) { return emud__api->scoreboard_find(sb, vcpu); }
static inline unsigned int emud_num_vcpus(emud_plugin_id_t id) { return emud__api->num_vcpus(id); }
static inline int emud_read_register(emud_plugin_id_t id, unsigned int vcpu, const char *name, uint64_t *value) { return emud__api->read_register(id, vcpu, name, value); }
static inline uint64_t emud_insn_paddr(const struct emud_insn *insn) { return emud__api->insn_paddr(insn); }
static inline int emud_read_memory(emud_plugin_id_t id, uint64_t address, void *buffer, size_t length) { return emud__api->read_memory(id, address, buffer, length); }
static inline void emud_plugin_outs(emud_plugin_id_t id, const char *text) { emud__api->outs(id, text); }

#ifdef __cplusplus
}
#endif
#endif /* EMUD_PLUGIN_H */
