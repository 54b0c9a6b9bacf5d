// Plugins that exist only to be refused or to misbehave, and a small SMP guest, built with gcc at test time
// together with the samples of contrib/plugins.
//
// The C sources live in Swift strings rather than in .c files: SwiftPM would compile a .c file under
// Tests/PluginsTests into the test target (and refuse a target mixing C and Swift).
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation

/// A plugin that tests how the host refuses or survives something.
enum FixturePlugin: String, CaseIterable, Sendable {
    case wrongAPIVersion = "wrong-api-version"
    case missingLicense = "missing-license"
    case proprietaryLicense = "proprietary-license"
    case permissiveDualLicense = "mit-or-apache"
    case missingInstall = "missing-install"
    case failingInstall = "failing-install"
    case bogusHandles = "bogus-handles"
    case withoutSymbols = "without-symbols"

    var source: String {
        let header = "#include \"emud-plugin.h\"\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
        let version = "EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;\n"
        let gpl = "EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = \"GPL-2.0-or-later\";\n"
        let acceptingInstall = """
            EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
            { emud_plugin_init(info); return 0; }

            """
        switch self {
        case .wrongAPIVersion:
            return header + "EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION + 1;\n" + gpl + acceptingInstall
        case .missingLicense:
            return header + version + acceptingInstall
        case .proprietaryLicense:
            return header + version + "EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = \"LicenseRef-Proprietary\";\n" + acceptingInstall
        case .permissiveDualLicense:
            return header + version + "EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = \"MIT OR Apache-2.0\";\n" + acceptingInstall
        case .missingInstall:
            return header + version + gpl
        case .failingInstall:
            return header + version + gpl + failingInstallSource
        case .bogusHandles:
            return header + version + gpl + bogusHandlesSource
        case .withoutSymbols:
            return "int emud_fixture_unrelated(void) { return 42; }\n"
        }
    }
}

/// Registers one of everything, then refuses to install. Each callback appends its name to the file named
/// by `marker=PATH`, so a test can see whether emud ever called one after the refusal.
private let failingInstallSource = """
    static char marker[4096];
    static void note(const char *what) { FILE *f = fopen(marker, "a"); if (f) { fprintf(f, "%s\\n", what); fclose(f); } }
    static void on_exec(unsigned int vcpu, void *userdata) { note("exec"); }
    static void on_mem(unsigned int vcpu, const struct emud_mem_access *a, void *userdata) { note("mem"); }
    static void on_tb(emud_plugin_id_t id, struct emud_tb *tb) {
        note("tb");
        struct emud_insn *insn = emud_tb_get_insn(tb, 0);
        emud_insn_register_exec_cb(insn, on_exec, NULL);
        emud_insn_register_mem_cb(insn, on_mem, EMUD_MEM_RW, NULL);
    }
    static void on_vcpu(emud_plugin_id_t id, unsigned int vcpu) { note("vcpu"); }
    static void on_exception(emud_plugin_id_t id, unsigned int vcpu, const struct emud_exception *e) { note("exception"); }
    static void on_simple(emud_plugin_id_t id) { note("simple"); }
    static char *on_query(emud_plugin_id_t id) { note("query"); return NULL; }

    EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
    {
        emud_plugin_init(info);
        for (int i = 0; i < argc; i++)
            if (!strncmp(argv[i], "marker=", 7)) snprintf(marker, sizeof marker, "%s", argv[i] + 7);
        note("install");
        int failures = 0;
        failures += emud_register_vcpu_init_cb(id, on_vcpu) != 0;
        failures += emud_register_vcpu_exit_cb(id, on_vcpu) != 0;
        failures += emud_register_vcpu_idle_cb(id, on_vcpu) != 0;
        failures += emud_register_vcpu_resume_cb(id, on_vcpu) != 0;
        failures += emud_register_tb_trans_cb(id, on_tb) != 0;
        failures += emud_register_exception_cb(id, on_exception) != 0;
        failures += emud_register_flush_cb(id, on_simple) != 0;
        failures += emud_register_atexit_cb(id, on_simple) != 0;
        failures += emud_register_query_cb(id, on_query) != 0;
        failures += emud_scoreboard_new(id, 8) == NULL;
        if (failures) note("a registration failed");
        emud_plugin_outs(id, "failing-install: refusing on purpose\\n");
        return -1;
    }

    """

/// Hands the API bad ids, unknown and stale handles and bad arguments, at install, at translation, during
/// execution and on query, and counts every answer that is not the documented -1 / 0 / NULL (plus a few
/// that must succeed, so the checks are known to reach the host). The query reports
/// {"checks": N, "failures": M, "first": "..."}.
private let bogusHandlesSource = #"""
    static emud_plugin_id_t self_id;
    static unsigned long checks, failures, translations;
    static char first[512];
    static struct emud_scoreboard *sb;
    static struct emud_tb *old_tb;
    static struct emud_insn *old_insn;
    static const char *(*volatile bogus_text)(const struct emud_insn *);

    #define CHECK(condition) do { checks++; if (!(condition) && failures++ == 0) \
        snprintf(first, sizeof first, "line %d: %s", __LINE__, #condition); } while (0)
    #define BOGUS_TB ((struct emud_tb *)(uintptr_t)0x1000)
    #define BOGUS_INSN ((struct emud_insn *)(uintptr_t)0x2000)
    #define BOGUS_SB ((struct emud_scoreboard *)(uintptr_t)0x3000)
    #define BOGUS_ID ((emud_plugin_id_t)0xdead0000beefULL)

    static void on_exec(unsigned int vcpu, void *userdata) {
        uint64_t pc = 0;
        CHECK(emud_read_register(self_id, vcpu, "pc", &pc) == 0 && pc == (uint64_t)(uintptr_t)userdata);
        CHECK(emud_read_register(self_id, vcpu + 1000, "pc", &pc) == -1);
    }
    static void on_mem(unsigned int vcpu, const struct emud_mem_access *a, void *userdata) {}
    static void on_vcpu(emud_plugin_id_t id, unsigned int vcpu) {}

    static void on_tb(emud_plugin_id_t id, struct emud_tb *tb) {
        size_t n = emud_tb_n_insns(tb);
        struct emud_insn *insn = emud_tb_get_insn(tb, 0);
        CHECK(n > 0 && insn != NULL);
        CHECK(emud_tb_get_insn(tb, n) == NULL);
        CHECK(emud_tb_get_insn(tb, (size_t)-1) == NULL);
        CHECK(emud_tb_register_inline(tb, 99, sb, 0, 1) == -1);
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, sb, 4, 1) == -1);
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, sb, 8, 1) == -1);
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, NULL, 0, 1) == -1);
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, BOGUS_SB, 0, 1) == -1);
        /* Offsets whose sum with the access size overflows (these trapped emud before it checked without adding). */
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, sb, (size_t)0x7ffffffffffffff8ULL, 1) == -1);
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, sb, (size_t)0x7fffffffffffffffULL, 1) == -1);
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, sb, (size_t)-8, 1) == -1);
        CHECK(emud_insn_register_inline(insn, EMUD_INLINE_STORE_U64, sb, (size_t)0x7ffffffffffffff8ULL, 1) == -1);
        CHECK(emud_tb_register_exec_cb(tb, NULL, NULL) == -1);
        CHECK(emud_insn_register_exec_cb(insn, NULL, NULL) == -1);
        CHECK(emud_insn_register_mem_cb(insn, on_mem, 0, NULL) == -1);
        CHECK(emud_insn_register_mem_cb(insn, on_mem, 4, NULL) == -1);
        CHECK(emud_insn_register_mem_cb(insn, NULL, EMUD_MEM_RW, NULL) == -1);
        CHECK(emud_insn_register_inline(insn, 99, sb, 0, 1) == -1);
        CHECK(emud_insn_size(insn) == 4 && emud_insn_vaddr(insn) == emud_tb_vaddr(tb));
        CHECK(emud_insn_paddr(insn) == emud_insn_vaddr(insn)); /* the fixture's guest runs with the MMU off */
        CHECK(emud_insn_disas(insn) != NULL);
        CHECK(emud_tb_register_inline(tb, EMUD_INLINE_ADD_U64, sb, 0, 1) == 0);
        CHECK(emud_insn_register_exec_cb(insn, on_exec, (void *)(uintptr_t)emud_insn_vaddr(insn)) == 0);
        /* A handle from an earlier translation is dead, unless emud reused its address for this one. */
        if (old_tb && old_tb != tb) {
            CHECK(emud_tb_n_insns(old_tb) == 0);
            CHECK(emud_tb_vaddr(old_tb) == 0);
            CHECK(emud_tb_get_insn(old_tb, 0) == NULL);
            CHECK(emud_tb_register_exec_cb(old_tb, on_exec, NULL) == -1);
        }
        if (old_insn && old_insn != insn) {
            CHECK(emud_insn_vaddr(old_insn) == 0 && emud_insn_word(old_insn) == 0 && emud_insn_disas(old_insn) == NULL);
            CHECK(emud_insn_register_exec_cb(old_insn, on_exec, NULL) == -1);
        }
        old_tb = tb;
        old_insn = insn;
        translations++;
    }

    static char *on_query(emud_plugin_id_t id) {
        uint64_t value = 0;
        CHECK(emud_read_register(id, 0, "pc", &value) == 0);
        CHECK(emud_tb_n_insns(old_tb) == 0);
        CHECK(emud_insn_vaddr(old_insn) == 0);
        char *text = malloc(1024);
        if (text) snprintf(text, 1024, "{\"checks\": %lu, \"failures\": %lu, \"translations\": %lu, \"first\": \"%s\"}",
                           checks, failures, translations, first);
        return text;
    }

    static void on_exit_cb(emud_plugin_id_t id) {
        char text[1024];
        snprintf(text, sizeof text, "bogus-handles: %lu checks, %lu failures%s%s\n", checks, failures, failures ? "; first: " : "", first);
        emud_plugin_outs(id, text);
    }

    EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
    {
        emud_plugin_init(info);
        self_id = id;
        const struct emud_api *api = info->api;
        uint64_t value = 0;
        char buffer[16];
        CHECK(info->api_version == EMUD_PLUGIN_API_VERSION && api->size == sizeof(struct emud_api));
        CHECK(emud_register_vcpu_init_cb(BOGUS_ID, on_vcpu) == -1);
        CHECK(emud_register_vcpu_exit_cb(0, on_vcpu) == -1);
        CHECK(emud_register_vcpu_idle_cb(BOGUS_ID, on_vcpu) == -1);
        CHECK(emud_register_vcpu_resume_cb(BOGUS_ID, on_vcpu) == -1);
        CHECK(emud_register_tb_trans_cb(BOGUS_ID, on_tb) == -1);
        CHECK(emud_register_exception_cb(BOGUS_ID, NULL) == -1);
        CHECK(emud_register_flush_cb(BOGUS_ID, on_exit_cb) == -1);
        CHECK(emud_register_atexit_cb(BOGUS_ID, on_exit_cb) == -1);
        CHECK(emud_register_query_cb(BOGUS_ID, on_query) == -1);
        CHECK(emud_register_vcpu_init_cb(id, NULL) == -1);
        CHECK(emud_register_tb_trans_cb(id, NULL) == -1);
        CHECK(emud_register_atexit_cb(id, NULL) == -1);
        CHECK(emud_register_query_cb(id, NULL) == -1);
        CHECK(emud_tb_n_insns(NULL) == 0 && emud_tb_n_insns(BOGUS_TB) == 0);
        CHECK(emud_tb_vaddr(BOGUS_TB) == 0);
        CHECK(emud_tb_get_insn(BOGUS_TB, 0) == NULL && emud_tb_get_insn(NULL, 0) == NULL);
        CHECK(emud_insn_vaddr(BOGUS_INSN) == 0 && emud_insn_size(BOGUS_INSN) == 0 && emud_insn_word(BOGUS_INSN) == 0);
        CHECK(emud_insn_paddr(BOGUS_INSN) == 0);
        bogus_text = api->insn_disas;
        CHECK(bogus_text(BOGUS_INSN) == NULL && emud_insn_symbol(BOGUS_INSN) == NULL && emud_insn_disas(NULL) == NULL);
        CHECK(emud_tb_register_exec_cb(BOGUS_TB, on_exec, NULL) == -1);
        CHECK(emud_tb_register_inline(BOGUS_TB, EMUD_INLINE_ADD_U64, BOGUS_SB, 0, 1) == -1);
        CHECK(emud_insn_register_exec_cb(BOGUS_INSN, on_exec, NULL) == -1);
        CHECK(emud_insn_register_inline(BOGUS_INSN, EMUD_INLINE_ADD_U64, BOGUS_SB, 0, 1) == -1);
        CHECK(emud_insn_register_mem_cb(BOGUS_INSN, on_mem, EMUD_MEM_RW, NULL) == -1);
        CHECK(emud_scoreboard_new(BOGUS_ID, 8) == NULL);
        CHECK(emud_scoreboard_new(id, 0) == NULL);
        CHECK(emud_scoreboard_new(id, (size_t)1 << 40) == NULL);
        CHECK(emud_scoreboard_find(NULL, 0) == NULL && emud_scoreboard_find(BOGUS_SB, 0) == NULL);
        sb = emud_scoreboard_new(id, 8);
        CHECK(sb != NULL && emud_scoreboard_find(sb, 0) != NULL);
        CHECK(emud_scoreboard_find(sb, info->num_vcpus) == NULL && emud_scoreboard_find(sb, 0xffffffffu) == NULL);
        CHECK(emud_num_vcpus(BOGUS_ID) == 0 && emud_num_vcpus(id) == info->num_vcpus);
        CHECK(emud_read_register(BOGUS_ID, 0, "pc", &value) == -1);
        CHECK(emud_read_register(id, info->num_vcpus, "pc", &value) == -1);
        CHECK(emud_read_register(id, 0, "no-such-register", &value) == -1);
        CHECK(emud_read_register(id, 0, "x31", &value) == -1);
        CHECK(emud_read_register(id, 0, NULL, &value) == -1);
        CHECK(emud_read_register(id, 0, "pc", NULL) == -1);
        CHECK(emud_read_register(id, 0, "x0", &value) == 0);
        CHECK(emud_read_memory(BOGUS_ID, 0x40000000, buffer, 8) == -1);
        CHECK(emud_read_memory(id, 0x40000000, NULL, 8) == -1);
        CHECK(emud_read_memory(id, 0x40000000, buffer, (size_t)1 << 40) == -1);
        CHECK(emud_read_memory(id, UINT64_MAX - 3, buffer, 8) == -1);
        CHECK(emud_read_memory(id, 0x40000000, buffer, 8) == 0);
        emud_plugin_outs(BOGUS_ID, "this goes nowhere\n");
        emud_plugin_outs(id, NULL);
        CHECK(emud_register_tb_trans_cb(id, on_tb) == 0);
        CHECK(emud_register_query_cb(id, on_query) == 0);
        CHECK(emud_register_atexit_cb(id, on_exit_cb) == 0);
        return 0;
    }

    """#

/// A guest for several vCPUs: vCPU 0 powers on the others with PSCI CPU_ON; every vCPU counts a loop down,
/// uses its own stack, adds 1 to a shared counter with load/store-exclusive, and powers off (PSCI CPU_OFF); vCPU 0 waits for
/// them all and ends the machine with semihosting SYS_EXIT_EXTENDED (status 0).
let smpGuestSource = """
        .text
        .global _start
    _start:
        adr x0, stacks
        add sp, x0, #4096
        mov x19, #0                  // secondaries started
        mov x20, #1                  // next vCPU to start
    1:  movz x0, #0x0003
        movk x0, #0xc400, lsl #16    // PSCI CPU_ON (SMC64)
        mov x1, x20
        adr x2, secondary
        adr x3, stacks
        add x3, x3, x20, lsl #12
        add x3, x3, #4096            // context (x0 on entry): the top of its stack
        hvc #0
        cbnz x0, 2f
        add x19, x19, #1
    2:  add x20, x20, #1
        cmp x20, #8
        b.ne 1b
        bl work
        adr x1, finished
    3:  ldar x2, [x1]
        cmp x2, x19
        b.ls 3b                      // until every vCPU, this one too, has finished
        adr x1, exit_block
        mov x0, #0x20                // SYS_EXIT_EXTENDED
        hlt #0xf000
    4:  b 4b

    secondary:
        mov sp, x0
        bl work
        movz x0, #0x0002
        movk x0, #0x8400, lsl #16    // PSCI CPU_OFF
        hvc #0
    5:  b 5b

    work:
        mov x9, #60000
    6:  subs x9, x9, #1
        add x10, x10, x9
        str x10, [sp, #-16]!         // give memory plugins something to see
        ldr x10, [sp], #16
        b.ne 6b
        adr x11, finished
    7:  ldaxr x13, [x11]
        add x13, x13, #1
        stlxr w14, x13, [x11]
        cbnz w14, 7b
        ret

        .data
        .balign 8
    finished: .quad 0
    exit_block: .quad 0x20026, 0
        .balign 4096
    stacks: .skip 8 * 4096

    """
