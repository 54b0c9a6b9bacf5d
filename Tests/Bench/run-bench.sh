#!/usr/bin/env bash
# `make bench`: runs each benchmark guest under emud and under QEMU and prints a table of guest
# instructions, emud's interpreter's speed in MIPS (--engine interp, named on every run: the default engine
# is the translator on x86-64 hosts), both wall-clock times and their ratio, its speed on the same
# workload with the MMU on (bench-NAME-mmu.elf: identity map in 4 KiB pages, every access through the
# TLB) and what the MMU costs, the same for the translator (--engine jit) with its time against QEMU's,
# and the geometric means.
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Environment (set by the top-level Makefile):
#   EMUD_BIN      the emud binary (release build)
#   EMUD_GUESTS   the directory holding bench-*.elf (built by Tests/Guests/Makefile)
#   BENCH_REPEAT  runs of each workload on each side; the fastest counts (default 1)
#   BENCH_TIMEOUT seconds one run may take before it is killed (default 600)
# Options:
#   --qemu-only   time QEMU alone (for when emud is not built)
set -euo pipefail

WORKLOADS=(sha256 qsort interp crc32 matmul coremark)
# Floating-point workloads (issue 14): reported in the same table, with a geometric mean of their own so the
# integer one stays comparable with earlier runs.
FLOAT_WORKLOADS=(nbody fmatmul)
QEMU=qemu-system-aarch64
QEMU_ARGS=(-M virt -cpu cortex-a76 -nographic -semihosting -net none -kernel)
REPEAT=${BENCH_REPEAT:-1}
TIMEOUT=${BENCH_TIMEOUT:-600}

qemu_only=0
for arg in "$@"; do
    case $arg in
    --qemu-only) qemu_only=1 ;;
    *) echo "usage: $0 [--qemu-only]" >&2; exit 2 ;;
    esac
done

die() { echo "run-bench: $*" >&2; exit 1; }

[[ -n ${EMUD_GUESTS:-} && -d $EMUD_GUESTS ]] ||
    die "EMUD_GUESTS is not a directory; run \`make bench\`, which builds the benchmark guests"
command -v "$QEMU" >/dev/null || die "$QEMU not found: apt-get install qemu-system-arm"
if ((!qemu_only)); then
    [[ -n ${EMUD_BIN:-} && -x $EMUD_BIN ]] ||
        die "EMUD_BIN is not an executable; run \`make bench\` (or pass --qemu-only to time QEMU alone)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_timed OUT ERR COMMAND...: runs COMMAND with its output in files, and prints its wall time in
# seconds. Fails if the command does.
run_timed() {
    local out=$1 err=$2 start end status=0
    shift 2
    start=$EPOCHREALTIME
    timeout --kill-after=5 "$TIMEOUT" "$@" >"$out" 2>"$err" </dev/null || status=$?
    end=$EPOCHREALTIME
    if ((status != 0)); then
        echo "run-bench: '$*' failed with status $status (124: timed out after ${TIMEOUT}s)" >&2
        tail -n 5 "$err" >&2
        return 1
    fi
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }'
}

# check_output WHAT: counts a mismatch (and shows it) when the last emud run printed something other than QEMU.
check_output() {
    if ! cmp -s "$work/emud.out" "$work/qemu.all"; then
        echo "run-bench: $1 differs from QEMU's:" >&2
        diff "$work/qemu.all" "$work/emud.out" | head -n 6 >&2 || true
        mismatches=$((mismatches + 1))
    fi
}

# run_mips: the last emud_run's speed in MIPS (instructions over emud's own best execution time).
run_mips() { awk -v n="$instructions" -v s="$best_seconds" 'BEGIN { printf "%.1f\n", (s > 0 ? n / s / 1e6 : 0) }'; }

# fastest TIMES...: the smallest number.
fastest() { printf '%s\n' "$@" | sort -g | head -n 1; }

printf '%-10s %15s %10s %11s %11s %10s %10s %9s %10s %11s %9s %10s\n' workload instructions "emud MIPS" "emud time" "QEMU time" emud/QEMU \
    "MMU-on MIPS" "MMU cost" "JIT MIPS" "JIT time" JIT/QEMU "JIT MMU-on"
mismatches=0
mips_list=()
mmu_mips_list=()
float_mips_list=()
jit_ratio_list=()
jit_mips_list=()
for name in "${WORKLOADS[@]}" "${FLOAT_WORKLOADS[@]}"; do
    is_float=0
    [[ " ${FLOAT_WORKLOADS[*]} " == *" $name "* ]] && is_float=1
    elf=$EMUD_GUESTS/bench-$name.elf
    [[ -f $elf ]] || die "$elf is missing; run \`make bench\`, which builds it"

    qemu_times=()
    for ((i = 0; i < REPEAT; i++)); do
        qemu_times+=("$(run_timed "$work/qemu.out" "$work/qemu.err" "$QEMU" "${QEMU_ARGS[@]}" "$elf")")
    done
    qemu_time=$(fastest "${qemu_times[@]}")
    # Semihosting output arrives on QEMU's stderr, UART output on its stdout; emud prints both on stdout.
    cat "$work/qemu.out" "$work/qemu.err" >"$work/qemu.all"

    if ((qemu_only)); then
        printf '%-10s %15s %10s %11s %10.3fs %10s\n' "$name" - - - "$qemu_time" -
        continue
    fi

    # emud_run ELF: runs ELF under emud REPEAT times; sets emud_time (fastest wall time), instructions and
    # best_seconds (emud's own fastest execution time), and leaves the last output in $work/emud.out.
    emud_run() {
        local elf=$1 times=() stats seconds
        shift
        best_seconds="" instructions=""
        for ((i = 0; i < REPEAT; i++)); do
            times+=("$(run_timed "$work/emud.out" "$work/emud.err" "$EMUD_BIN" run --stats "$@" "$elf")")
            stats=$(grep -o 'emud-stats: instructions=[0-9]* seconds=[0-9.eE+-]*' "$work/emud.err" | tail -n 1) ||
                die "emud printed no 'emud-stats: instructions=N seconds=S' line on stderr for $elf"
            instructions=${stats#*instructions=}
            instructions=${instructions%% *}
            seconds=${stats##*seconds=}
            best_seconds=$(fastest $seconds $best_seconds)
        done
        emud_time=$(fastest "${times[@]}")
    }
    # The integer workloads again with the MMU on (bench-NAME-mmu.elf: identity map in 4 KiB pages), emud alone.
    mmu_mips=-
    if ((!is_float)); then
        mmu_elf=$EMUD_GUESTS/bench-$name-mmu.elf
        [[ -f $mmu_elf ]] || die "$mmu_elf is missing; run \`make bench\`, which builds it"
        emud_run "$mmu_elf" --engine interp
        check_output "emud's output for $name with the MMU on"
        mmu_mips=$(run_mips)
        mmu_mips_list+=("$mmu_mips")
    fi

    # The translator (--engine jit): the same workload, and with the MMU on.
    jit_mmu_mips=-
    if ((!is_float)); then
        emud_run "$mmu_elf" --engine jit
        check_output "emud --engine jit's output for $name with the MMU on"
        jit_mmu_mips=$(run_mips)
    fi
    emud_run "$elf" --engine jit
    check_output "emud --engine jit's output for $name"
    jit_mips=$(run_mips)
    jit_time=$emud_time
    jit_ratio=$(awk -v et="$jit_time" -v qt="$qemu_time" 'BEGIN { printf "%.3f\n", (qt > 0 ? et / qt : 0) }')
    jit_mips_list+=("$jit_mips")
    ((is_float)) || jit_ratio_list+=("$jit_ratio")

    emud_run "$elf" --engine interp
    check_output "emud's output for $name"
    mips=$(run_mips)
    if ((is_float)); then float_mips_list+=("$mips"); else mips_list+=("$mips"); fi
    awk -v name="$name" -v n="$instructions" -v mips="$mips" -v et="$emud_time" -v qt="$qemu_time" -v mm="$mmu_mips" \
        -v jm="$jit_mips" -v jt="$jit_time" -v jmm="$jit_mmu_mips" \
        'BEGIN { printf "%-10s %15.0f %10.1f %10.3fs %10.3fs %9.2fx", name, n, mips, et, qt, (qt > 0 ? et / qt : 0)
                 if (mm == "-") printf " %10s %9s", "-", "-"
                 else printf " %10.1f %8.1f%%", mm, (mips > 0 ? 100 * (mips - mm) / mips : 0)
                 printf " %10.1f %10.3fs %8.2fx %10s\n", jm, jt, (qt > 0 ? jt / qt : 0), jmm }'
done

if ((!qemu_only)); then
    printf '%s\n' "${mips_list[@]}" |
        awk '$1 > 0 { sum += log($1); n++ } END { if (n) printf "geometric mean of emud MIPS (integer): %.1f\n", exp(sum / n) }'
    printf '%s\n' "${mmu_mips_list[@]}" |
        awk '$1 > 0 { sum += log($1); n++ } END { if (n) printf "geometric mean of emud MIPS (integer) with the MMU on (4 KiB pages): %.1f\n", exp(sum / n) }'
    printf '%s\n' "${jit_mips_list[@]}" |
        awk '$1 > 0 { sum += log($1); n++ } END { if (n) printf "geometric mean of emud --engine jit MIPS (all workloads): %.1f\n", exp(sum / n) }'
    printf '%s\n' "${jit_ratio_list[@]}" |
        awk '$1 > 0 { sum += log($1); n++ } END { if (n) printf "geometric mean of emud --engine jit time / QEMU time (integer): %.2f (1.00 or less: as fast as QEMU)\n", exp(sum / n) }'
    printf '%s\n' "${float_mips_list[@]}" |
        awk '$1 > 0 { sum += log($1); n++ } END { if (n) printf "geometric mean of emud MIPS (floating point): %.1f\n", exp(sum / n) }'
    if ((mismatches)); then
        die "$mismatches workload(s) printed something other than QEMU did; their numbers measure a wrong run"
    fi
fi
