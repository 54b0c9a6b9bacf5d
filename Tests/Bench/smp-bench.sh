#!/usr/bin/env bash
# `make bench`, SMP part: prints
#  1. the time to enter an exclusive section while a guest keeps every vCPU busy (median and 99th
#     percentile, from `emud bench-exclusive` with smp-stress.elf) at 1, 4 and 8 vCPUs;
#  2. the multi-core speed-up of an embarrassingly parallel guest (smp-parallel.elf: each CPU does
#     the same fixed work) at 1, 2 and 4 vCPUs, under the interpreter (--engine interp) and the
#     translator (--engine jit) side by side: N CPUs do N times the work of one, so the throughput
#     speed-up of each engine is its own t1 * N / tN (N on a host with at least N free cores,
#     ideally); then whether the translator's speed-up at 4 vCPUs is at least the interpreter's.
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Environment (set by the top-level Makefile):
#   EMUD_BIN      the emud binary (release build)
#   EMUD_GUESTS   the directory holding smp-stress.elf and smp-parallel.elf (Tests/Guests/smp)
#   BENCH_REPEAT  runs of each parallel workload; the fastest counts (default 1)
#   BENCH_TIMEOUT seconds one run may take before it is killed (default 600)
#   BENCH_EXCLUSIVE_ITERATIONS  sections timed per vCPU count (default 1000)
set -euo pipefail

REPEAT=${BENCH_REPEAT:-1}
TIMEOUT=${BENCH_TIMEOUT:-600}
ITERATIONS=${BENCH_EXCLUSIVE_ITERATIONS:-1000}
EXCLUSIVE_CPUS=(1 4 8)
PARALLEL_CPUS=(1 2 4)
ENGINES=(interp jit)

die() { echo "smp-bench: $*" >&2; exit 1; }

[[ -n ${EMUD_BIN:-} && -x $EMUD_BIN ]] || die "EMUD_BIN is not an executable; run \`make bench\`, which builds emud"
[[ -n ${EMUD_GUESTS:-} && -d $EMUD_GUESTS ]] ||
    die "EMUD_GUESTS is not a directory; run \`make bench\`, which builds the guests"
for elf in smp-stress smp-parallel; do
    [[ -f $EMUD_GUESTS/$elf.elf ]] || die "$EMUD_GUESTS/$elf.elf is missing; run \`make bench\`, which builds Tests/Guests/smp"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Entering an exclusive section while every vCPU is busy (smp-stress.elf, $ITERATIONS sections):"
printf '%6s %12s %12s %12s\n' vCPUs "median µs" "p99 µs" "max µs"
for cpus in "${EXCLUSIVE_CPUS[@]}"; do
    if ! timeout --kill-after=5 "$TIMEOUT" "$EMUD_BIN" bench-exclusive --cpus "$cpus" --iterations "$ITERATIONS" \
        "$EMUD_GUESTS/smp-stress.elf" >"$work/exclusive.out" 2>"$work/exclusive.err" </dev/null; then
        tail -n 5 "$work/exclusive.err" >&2
        die "emud bench-exclusive --cpus $cpus failed (status 124: timed out after ${TIMEOUT}s)"
    fi
    line=$(grep '^exclusive-entry:' "$work/exclusive.out") ||
        die "emud bench-exclusive printed no 'exclusive-entry:' line"
    field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    printf '%6s %12s %12s %12s\n' "$cpus" "$(field median_us)" "$(field p99_us)" "$(field max_us)"
done

# run_timed OUT COMMAND...: runs COMMAND with its output in OUT and prints its wall time and the
# CPU time (user + system) it used, in seconds. Fails if the command does.
run_timed() {
    local out=$1 status=0 TIMEFORMAT='%R %U %S'
    shift
    { time timeout --kill-after=5 "$TIMEOUT" "$@" >"$out" 2>&1 </dev/null || status=$?; } 2>"$work/timing"
    if ((status != 0)); then
        tail -n 5 "$out" >&2
        die "'$*' failed with status $status (124: timed out after ${TIMEOUT}s)"
    fi
    awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$work/timing"
}

echo
echo "Multi-core speed-up (smp-parallel.elf: the same fixed work on every vCPU; emud wall-clock), per engine:"
echo "(CPU time that grows in step with the work while the speed-up stays low means the host had"
echo " fewer free cores than vCPUs, not that the vCPUs slowed each other down.)"
{ printf '%6s' ""; for engine in "${ENGINES[@]}"; do printf ' | %-41s' "--engine $engine"; done; echo; } | sed 's/ *$//'
printf '%6s' vCPUs
for engine in "${ENGINES[@]}"; do printf ' | %9s %9s %9s %11s' wall "CPU time" speed-up efficiency; done
echo
declare -A t1=() speedup=()
for cpus in "${PARALLEL_CPUS[@]}"; do
    printf '%6d' "$cpus"
    for engine in "${ENGINES[@]}"; do
        runs=()
        for ((i = 0; i < REPEAT; i++)); do
            runs+=("$(run_timed "$work/parallel.out" "$EMUD_BIN" run --engine "$engine" --cpus "$cpus" \
                "$EMUD_GUESTS/smp-parallel.elf")")
            grep -q "^smp-parallel: $cpus CPUs .*all CPUs agree" "$work/parallel.out" ||
                die "smp-parallel on $cpus vCPUs with --engine $engine printed something unexpected:" \
                    "$(head -c 300 "$work/parallel.out")"
        done
        read -r wall cpu < <(printf '%s\n' "${runs[@]}" | sort -g | head -n 1)
        [[ -n ${t1[$engine]:-} ]] || t1[$engine]=$wall
        speedup[$engine,$cpus]=$(awk -v n="$cpus" -v t="$wall" -v t1="${t1[$engine]}" \
            'BEGIN { printf "%.2f\n", (t > 0 ? t1 * n / t : 0) }')
        awk -v n="$cpus" -v t="$wall" -v c="$cpu" -v s="${speedup[$engine,$cpus]}" \
            'BEGIN { printf " | %8.3fs %8.3fs %8.2fx %10.0f%%", t, c, s, 100 * s / n }'
    done
    echo
done
last=${PARALLEL_CPUS[-1]}
awk -v n="$last" -v i="${speedup[interp,$last]}" -v j="${speedup[jit,$last]}" 'BEGIN {
    printf "at %d vCPUs the translator'\''s speed-up is %.2fx, the interpreter'\''s %.2fx: the translator scales %s\n", n, j, i,
        (j >= i ? "at least as well as the interpreter" : "WORSE than the interpreter") }'
