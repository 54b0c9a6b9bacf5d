#!/usr/bin/env bash
# emud: soak test of the daemon (`make soak`; not part of `make test`). GPL-2.0-or-later.
#
# Starts `emud daemon` and runs SOAK_CYCLES (default 1000) cycles of
#   machine-create (SOAK_GUEST, a guest that runs until destroyed) -> plugin-load libinsn.so
#   -> plugin-unload -> machine-destroy
# through `emud ctl`, printing the daemon's resident memory (VmRSS), its address space (VmSize),
# open descriptors and threads every SOAK_REPORT_EVERY (100) cycles. The first SOAK_WARMUP (100)
# cycles fill caches and pools; the test fails if, after them, VmRSS grows by more than
# SOAK_RSS_SLACK_KB (16 MiB) or the descriptor count by more than SOAK_FD_SLACK (2; a client
# connection may still be closing when it is counted). The guest touches 16 MiB of its RAM, so a
# machine whose RAM is not freed shows up in VmRSS within a few cycles. Each machine runs in a worker process
# of the daemon's; after every destroy the daemon must have no child left (no worker running, none unreaped).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EMUD_BIN=${EMUD_BIN:-$ROOT/.build/release/emud}
EMUD_GUESTS=${EMUD_GUESTS:-$ROOT/build/guests}
EMUD_PLUGINS=${EMUD_PLUGINS:-$ROOT/build/plugins}
SOAK_CYCLES=${SOAK_CYCLES:-1000}
SOAK_WARMUP=${SOAK_WARMUP:-100}
SOAK_REPORT_EVERY=${SOAK_REPORT_EVERY:-100}
SOAK_RSS_SLACK_KB=${SOAK_RSS_SLACK_KB:-16384}
SOAK_FD_SLACK=${SOAK_FD_SLACK:-2}
SOAK_GUEST=${SOAK_GUEST:-$EMUD_GUESTS/demo-forever.elf}
SOAK_MEMORY=${SOAK_MEMORY:-64M}
SOAK_PLUGIN=${SOAK_PLUGIN:-$EMUD_PLUGINS/libinsn.so}
# One command may take this long before the daemon counts as wedged.
SOAK_COMMAND_TIMEOUT=${SOAK_COMMAND_TIMEOUT:-60}

die() { echo "soak: FAILED: $*" >&2; exit 1; }

for file in "$EMUD_BIN" "$SOAK_GUEST" "$SOAK_PLUGIN"; do
    [[ -f $file ]] || die "$file is missing; run 'make release guests plugins' (or 'make soak', which does)"
done
(( SOAK_CYCLES > SOAK_WARMUP )) || die "SOAK_CYCLES ($SOAK_CYCLES) must exceed SOAK_WARMUP ($SOAK_WARMUP)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/emud-soak.XXXXXX")
SOCKET="$WORK/emud.sock"
LOG="$WORK/daemon.log"
DAEMON_PID=""
cleanup() {
    local status=$?
    if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [[ $status == 0 ]]; then rm -rf "$WORK"; else echo "soak: the daemon's log is $LOG" >&2; fi
}
trap cleanup EXIT

printf '{ "control": "%s", "log_target": "stderr" }\n' "$SOCKET" >"$WORK/emud.json"
"$EMUD_BIN" daemon --config "$WORK/emud.json" --plugin-dir "$(dirname "$SOAK_PLUGIN")" 2>"$LOG" &
DAEMON_PID=$!
for _ in $(seq 100); do
    [[ -S $SOCKET ]] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "the daemon exited at start: $(tail -n 5 "$LOG")"
    sleep 0.1
done
[[ -S $SOCKET ]] || die "the daemon did not create $SOCKET within 10 s"

ctl() {
    local output
    if ! output=$(timeout "$SOAK_COMMAND_TIMEOUT" "$EMUD_BIN" ctl --control "$SOCKET" "$@" 2>&1); then
        kill -0 "$DAEMON_PID" 2>/dev/null || die "the daemon died during '$*' (cycle $cycle): $(tail -n 5 "$LOG")"
        die "'emud ctl $*' failed at cycle $cycle: $output"
    fi
    printf '%s\n' "$output"
}

# "VmRSS VmSize fds threads workers" of the daemon, once the last command's teardown has had time to finish.
figures() {
    sleep 0.5
    local rss size threads fds workers
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")
    size=$(awk '/^VmSize:/ { print $2 }' "/proc/$DAEMON_PID/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$DAEMON_PID/status")
    fds=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
    # Children of the daemon, zombies included: workers not reaped after machine-destroy.
    workers=$(ps -o pid= --ppid "$DAEMON_PID" | wc -l)
    echo "$rss $size $fds $threads $workers"
}

report() {
    local rss size fds threads workers
    read -r rss size fds threads workers <<<"$1"
    printf 'soak: cycle %5d: VmRSS %8d kB  VmSize %9d kB  %4d fds  %3d threads  %d workers\n' "$2" "$rss" "$size" "$fds" "$threads" "$workers"
    (( workers == 0 )) || die "the daemon has $workers child processes after machine-destroy (workers not reaped)"
}

echo "soak: $SOAK_CYCLES cycles against daemon pid $DAEMON_PID (guest $(basename "$SOAK_GUEST"), memory $SOAK_MEMORY, plugin $(basename "$SOAK_PLUGIN"))"
cycle=0
start=$(figures)
report "$start" 0
baseline=""
started_at=$SECONDS
for ((cycle = 1; cycle <= SOAK_CYCLES; cycle++)); do
    ctl machine-create id=soak image="$SOAK_GUEST" memory="$SOAK_MEMORY" >/dev/null
    loaded=$(ctl plugin-load machine=soak path="$SOAK_PLUGIN" 'args=["inline=on"]')
    id=$(sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p' <<<"$loaded")
    [[ -n $id ]] || die "plugin-load at cycle $cycle returned no plugin id: $loaded"
    ctl plugin-unload machine=soak id="$id" >/dev/null
    ctl machine-destroy machine=soak >/dev/null
    if (( cycle % SOAK_REPORT_EVERY == 0 || cycle == SOAK_CYCLES )); then
        now=$(figures)
        report "$now" "$cycle"
        (( cycle >= SOAK_WARMUP )) && [[ -z $baseline ]] && baseline=$now && baseline_cycle=$cycle
    fi
done
last=$now
remaining=$(ctl query-machines)
[[ $remaining == "[]" || $remaining == *'"machines":[]'* ]] || die "machines left after the last destroy: $remaining"

read -r base_rss _ base_fds _ <<<"$baseline"
read -r last_rss _ last_fds _ <<<"$last"
rss_growth=$((last_rss - base_rss))
fd_growth=$((last_fds - base_fds))
echo "soak: $SOAK_CYCLES cycles in $((SECONDS - started_at)) s; from cycle $baseline_cycle to $SOAK_CYCLES VmRSS grew by $rss_growth kB (slack $SOAK_RSS_SLACK_KB kB), descriptors by $fd_growth (slack $SOAK_FD_SLACK)"
(( rss_growth <= SOAK_RSS_SLACK_KB )) || die "the daemon's resident memory grew by $rss_growth kB over $((SOAK_CYCLES - baseline_cycle)) cycles"
(( fd_growth <= SOAK_FD_SLACK )) || die "the daemon holds $fd_growth more descriptors after $((SOAK_CYCLES - baseline_cycle)) more cycles"

# The daemon still shuts down cleanly.
ctl quit >/dev/null
for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON_PID" 2>/dev/null && die "the daemon did not exit within 10 s of 'quit'"
status=0
wait "$DAEMON_PID" || status=$?
DAEMON_PID=""
(( status == 0 )) || die "the daemon exited with status $status after 'quit'"
echo "soak: passed"
