#!/usr/bin/env bash
# Runs each guest program under QEMU at -O0 and -O2 and checks what a new or changed program
# must satisfy before emud is compared with it: it finishes within 20 s, QEMU has no complaint,
# it does not end in the runtime's "unexpected exception" (exit 99), and both builds print the
# same output with the same exit status.
# usage: qemu-check.sh GUEST_DIR PROGRAM...
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail

dir=$1
shift
qemu=(qemu-system-aarch64 -M virt -cpu cortex-a76 -nographic -semihosting -net none -kernel)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bad=0
for p in "$@"; do
    for o in O0 O2; do
        timeout 20 "${qemu[@]}" "$dir/$p-$o.elf" >"$out/$o" 2>&1 </dev/null
        echo $? >"$out/$o.status"
    done
    status=$(cat "$out/O0.status")
    problem=""
    cmp -s "$out/O0" "$out/O2" && cmp -s "$out/O0.status" "$out/O2.status" || problem="-O0 and -O2 differ"
    [[ $status == 124 ]] && problem="timed out"
    [[ $status == 99 ]] && problem="unexpected exception"
    grep -q '^qemu-system-aarch64:' "$out/O0" "$out/O2" && problem="QEMU complained"
    printf '%-10s exit=%-3s lines=%-4s %s\n' "$p" "$status" "$(wc -l <"$out/O0")" "${problem:-ok}"
    [[ -z $problem ]] || bad=$((bad + 1))
done
((bad == 0)) || { echo "$bad program(s) need attention" >&2; exit 1; }
