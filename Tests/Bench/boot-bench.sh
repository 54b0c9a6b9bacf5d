#!/usr/bin/env bash
# `make bench`: seconds from start to the busybox shell for Debian's kernel and the test initramfs
# (Tests/Linux/fetch.sh) under emud's translator, emud's interpreter and QEMU, at 1 and 4 vCPUs, and the host
# CPU an idle shell costs over 10 s (utime + stime of the emulator process, as a share of one core).
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Environment (set by the top-level Makefile): EMUD_BIN, EMUD_ROOT; BOOT_TIMEOUT (default 600 s).
set -euo pipefail

ROOT=${EMUD_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
LINUX=${EMUD_LINUX:-$ROOT/build/linux}
TIMEOUT=${BOOT_TIMEOUT:-600}
MARKER=EMUD-INITRAMFS-READY
die() { echo "boot-bench: $*" >&2; exit 1; }
[[ -x ${EMUD_BIN:-} ]] || die "EMUD_BIN is not an executable; run \`make bench\`"
[[ -s $LINUX/Image && -s $LINUX/initramfs.gz ]] || die "no kernel in $LINUX: run Tests/Linux/fetch.sh (make test does)"
command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 not found: apt-get install qemu-system-arm"
TICKS=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# boot NAME CPUS COMMAND...: prints "seconds idle%" (idle% measured with the shell waiting for input).
boot() {
    local name=$1 cpus=$2; shift 2
    local fifo=$work/in-$name-$cpus out=$work/out-$name-$cpus
    rm -f "$fifo"; mkfifo "$fifo"
    local start; start=$(date +%s.%N)
    "$@" <"$fifo" >"$out" 2>&1 &
    local pid=$!
    exec 9>"$fifo"
    local seconds=""
    while kill -0 "$pid" 2>/dev/null; do
        if grep -aq "$MARKER" "$out"; then seconds=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)"); break; fi
        if (( $(echo "$(date +%s.%N) - $start > $TIMEOUT" | bc) )); then break; fi
        sleep 0.05
    done
    local idle="-"
    if [[ -n $seconds ]]; then
        sleep 2
        local t0; t0=$(cpu_ticks "$pid")
        sleep 10
        local t1; t1=$(cpu_ticks "$pid")
        idle=$(printf '%.1f' "$(echo "scale=2; ($t1 - $t0) * 100 / ($TICKS * 10)" | bc)")
        echo "poweroff -f" >&9
    fi
    exec 9>&-
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '%s %s\n' "${seconds:-timeout}" "$idle"
}

printf '\n%-8s %-5s %14s %14s %14s %16s %16s\n' "boot" "vCPUs" "emud jit" "emud interp" "QEMU to shell" "emud jit idle" "QEMU idle CPU"
for cpus in 1 4; do
    emud_boot=("$EMUD_BIN" run --kernel "$LINUX/Image" --initrd "$LINUX/initramfs.gz" --append "console=ttyAMA0"
               --cpus "$cpus" --memory 1G)
    read -r e_s e_idle < <(boot emud "$cpus" "${emud_boot[@]}" --engine jit)
    read -r i_s _ < <(boot emud-interp "$cpus" "${emud_boot[@]}" --engine interp)
    read -r q_s q_idle < <(boot qemu "$cpus" qemu-system-aarch64 -M virt -cpu cortex-a76 -m 1G -nographic -net none \
        -smp "$cpus" -kernel "$LINUX/Image" -initrd "$LINUX/initramfs.gz" -append "console=ttyAMA0")
    printf '%-8s %-5s %13ss %13ss %13ss %15s%% %15s%%\n' "linux" "$cpus" "$e_s" "$i_s" "$q_s" "$e_idle" "$q_idle"
done
