/* Benchmark: the bytecode interpreter of lib/vm.c running Collatz, recursive Fibonacci and a
 * sieve in its own memory.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"
#include "vm.h"

static void run(const char *name, struct vm_program *p)
{
    struct vm_result r;
    vm_run(p, ~0ULL, &r);
    if (r.status != VM_OK)
        fail("interpreter stopped early");
    printf("bench-interp: %-8s %10lu steps, result %ld\n", name, r.steps, r.out[0]);
}

int main(void)
{
    static struct vm_program p;
    vm_collatz(&p, 40000);
    run("collatz", &p);
    vm_fib(&p, 25);
    run("fib", &p);
    vm_sieve(&p, 65536);
    run("sieve", &p);
    return 0;
}
