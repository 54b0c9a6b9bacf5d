/* A stack bytecode interpreter (lib/vm.c) running loops, recursive calls, a sieve in its memory,
 * Euclid's algorithm and signed div/mod mixes; also its error paths.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "vm.h"

static const char *const status_names[] = { "ok", "bad-opcode", "stack", "div-zero", "memory", "steps" };

static void show(const char *name, const struct vm_program *p, uint64_t max_steps)
{
    struct vm_result r;
    vm_run(p, max_steps, &r);
    printf("%-12s status=%s steps=%lu outputs=%d hash=%016lx:", name, status_names[r.status],
           r.steps, r.nout, r.out_hash);
    for (int i = 0; i < r.nout && i < (int)ARRAY_SIZE(r.out); i++)
        printf(" %ld", r.out[i]);
    printf("\n");
}

int main(void)
{
    static struct vm_program p;
    vm_sum_squares(&p, 1000);
    show("sum_squares", &p, 1000000);
    vm_fib(&p, 18);
    show("fib(18)", &p, 10000000);
    vm_collatz(&p, 300);
    show("collatz", &p, 10000000);
    vm_sieve(&p, 5000);
    show("sieve", &p, 10000000);
    vm_gcd_sum(&p, 40);
    show("gcd_sum", &p, 10000000);
    vm_mix(&p, 400);
    show("mix", &p, 10000000);

    /* Error paths. */
    vm_fib(&p, 30);
    show("step-limit", &p, 5000);
    vm_begin(&p);
    vm_emit(&p, VM_PUSH, 1), vm_emit(&p, VM_PUSH, 0), vm_emit(&p, VM_DIV, 0);
    vm_end(&p);
    show("div-zero", &p, 100);
    vm_begin(&p);
    vm_emit(&p, VM_ADD, 0);
    vm_end(&p);
    show("underflow", &p, 100);
    vm_begin(&p);
    vm_emit(&p, VM_PUSH, -1), vm_emit(&p, VM_LOADM, 0);
    vm_end(&p);
    show("bad-address", &p, 100);
    vm_begin(&p);
    vm_emit(&p, VM_OP_COUNT + 5, 0);
    vm_end(&p);
    show("bad-opcode", &p, 100);
    vm_begin(&p);
    vm_emit(&p, VM_PUSH, -8388608), vm_emit(&p, VM_PUSH, -1), vm_emit(&p, VM_MUL, 0);
    vm_emit(&p, VM_DUP, 0), vm_emit(&p, VM_OUT, 0), vm_emit(&p, VM_PUSH, 40), vm_emit(&p, VM_SHL, 0);
    vm_emit(&p, VM_DUP, 0), vm_emit(&p, VM_OUT, 0), vm_emit(&p, VM_PUSH, -1), vm_emit(&p, VM_DIV, 0);
    vm_emit(&p, VM_OUT, 0), vm_emit(&p, VM_HALT, 0);
    vm_end(&p);
    show("operands", &p, 100);
    return 0;
}
