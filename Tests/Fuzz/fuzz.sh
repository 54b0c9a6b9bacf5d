#!/usr/bin/env bash
# emud: builds and runs the libFuzzer harnesses under Tests/Fuzz. GPL-2.0-or-later.
#
#   Tests/Fuzz/fuzz.sh build [NAME...]   build the harnesses (all when no NAME)
#   Tests/Fuzz/fuzz.sh ci    [NAME...]   each harness: every committed seed and reproducer, then
#                                        FUZZ_RUNS inputs in all (default 20000) from a fixed seed
#   Tests/Fuzz/fuzz.sh run   [NAME...]   each harness for FUZZ_SECONDS (default 60), one at a time,
#                                        growing a private corpus in .build/fuzz/NAME/corpus
#
# A harness is a directory Tests/Fuzz/NAME holding Harness.swift (it defines LLVMFuzzerTestOneInput),
# `sources` (the files under Sources/ it is compiled with, one glob a line: no module is imported,
# so internal API is reachable without @testable), `corpus/` (hand-written seeds, committed) and, once
# a bug has been found, `crashes/` (reproducers, each replayed whole before fuzzing, so that a fixed bug
# stays fixed and one not yet fixed keeps failing).
# Each harness is one swiftc invocation with -sanitize=fuzzer,address into .build/fuzz/NAME, rebuilt
# only when one of its inputs changed.
#
# A line `swiftc: FLAG...` in `sources` adds compiler flags (those Package.swift gives the target; `$ROOT` is the
# repository's root, for the include paths of system-library targets such as Sources/CLibFDT).
# A line `swiftpm: MODULE...` in `sources` imports those modules (swift-nio's NIOCore, say) from the
# release build that `make release` leaves in .build: their objects are linked as they are, without
# coverage; only the emud sources are instrumented.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR="$ROOT/Tests/Fuzz"
OUT="$ROOT/.build/fuzz"
SWIFTC=${SWIFTC:-swiftc}
FUZZ_RUNS=${FUZZ_RUNS:-20000}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SEED=${FUZZ_SEED:-1}
# Options for every run: one input may take ten seconds at most, and memory stays bounded.
COMMON_OPTIONS=(-timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1)
# Recording a stack for every allocation costs more than the code under test; a crash report still
# has the faulting stack (replay with ASAN_OPTIONS= to get allocation stacks too).
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}
# Swift's own crash backtracer misbehaves under ASan (it hung on a failed check); libFuzzer and ASan
# print the stack of a finding themselves.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

die() { echo "fuzz: $*" >&2; exit 1; }

all_harnesses() {
    local dir
    for dir in "$FUZZ_DIR"/*/; do
        [[ -f "$dir/Harness.swift" ]] && basename "$dir"
    done
}

# The Sources files a harness is compiled with.
harness_sources() {
    local name=$1 line
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        line=$(echo "$line" | xargs)
        [[ -z $line || $line == swiftpm:* || $line == swiftc:* ]] && continue
        # shellcheck disable=SC2206 # the glob is meant to expand
        local files=($ROOT/$line)
        [[ -e ${files[0]} ]] || die "$name: '$line' in Tests/Fuzz/$name/sources matches no file"
        printf '%s\n' "${files[@]}"
    done <"$FUZZ_DIR/$name/sources"
}

harness_swiftpm_modules() {
    sed -n 's/#.*//; s/^[[:space:]]*swiftpm:[[:space:]]*//p' "$FUZZ_DIR/$1/sources" | xargs
}

# $ROOT in a flag stands for the repository's root (swiftc runs in the harness's build directory).
harness_swiftc_flags() {
    sed -n 's/#.*//; s/^[[:space:]]*swiftc:[[:space:]]*//p' "$FUZZ_DIR/$1/sources" | sed "s|\$ROOT|$ROOT|g" | xargs
}

# Compiler and linker flags that import MODULE... from the release build (`make release`). The
# dependencies' objects go into one static archive, so the linker takes only the ones the harness
# needs and no list of swift-nio's internal targets is kept here.
swiftpm_flags() {
    local bin="$ROOT/.build/release"
    local module missing=""
    for module in "$@"; do
        [[ -f "$bin/Modules/$module.swiftmodule" ]] || missing="$missing $module"
    done
    [[ -z $missing ]] || die "no module$missing in the release build $bin; run 'make release' first"
    echo "-I" "$bin/Modules"
    local map
    for map in "$bin"/*.build/module.modulemap "$ROOT"/.build/checkouts/*/Sources/*/include/module.modulemap; do
        [[ -f $map ]] && echo "-Xcc" "-fmodule-map-file=$map"
    done
    local include
    for include in "$ROOT"/.build/checkouts/*/Sources/*/include; do
        [[ -d $include ]] && echo "-Xcc" "-I$include"
    done
    # The package's own targets stay out: the harness compiles the emud sources it tests itself.
    local objects=() archive="$OUT/swiftpm/libswiftpm-dependencies.a"
    mapfile -d "" objects < <(find "$bin"/ -path "*.build/*" -name "*.o" -print0 \
        | grep -z -v -E "/(Machine|Plugins|GDBStub|Control|emud)\.build/" | sort -z)
    [[ ${#objects[@]} -gt 0 ]] || die "no dependency objects in $bin; run 'make release' first"
    local stamp
    stamp=$(stat -c '%n %s %Y' "${objects[@]}" | sha256sum | cut -d' ' -f1)
    if [[ ! -f $archive || $(cat "$archive.stamp" 2>/dev/null) != "$stamp" ]]; then
        mkdir -p "$OUT/swiftpm"
        rm -f "$archive"
        # q, not r: objects of different targets may share a file name and must all stay.
        ar qcs "$archive" "${objects[@]}" || die "cannot archive the release build's objects into $archive"
        echo "$stamp" >"$archive.stamp"
    fi
    echo "$archive"
}

build_one() {
    local name=$1
    local dir="$FUZZ_DIR/$name" out="$OUT/$name"
    [[ -f "$dir/Harness.swift" ]] || die "no harness Tests/Fuzz/$name/Harness.swift"
    command -v "$SWIFTC" >/dev/null || die "$SWIFTC not found on PATH (expected /opt/swift/usr/bin)"
    mkdir -p "$out"
    local sources=("$dir"/*.swift)
    local listed
    listed=$(harness_sources "$name") || exit 1
    mapfile -t -O ${#sources[@]} sources <<<"$listed"
    local flags=(-sanitize=fuzzer,address -parse-as-library -O -wmo -num-threads 2 -g -swift-version 5 -use-ld=lld -suppress-warnings -module-name "Fuzz_${name//-/_}")
    local own_flags
    own_flags=$(harness_swiftc_flags "$name")
    # shellcheck disable=SC2206 # one flag a word
    [[ -z $own_flags ]] || flags+=($own_flags)
    local modules
    modules=$(harness_swiftpm_modules "$name")
    if [[ -n $modules ]]; then
        local extra
        # shellcheck disable=SC2086 # one module name a word
        extra=$(swiftpm_flags $modules) || exit 1
        mapfile -t -O ${#flags[@]} flags < <(tr ' ' '\n' <<<"$extra")
    fi
    local stamp
    stamp=$( {
        "$SWIFTC" --version 2>&1
        printf '%s\n' "${flags[@]}"
        cat "${sources[@]}"
        [[ -z $modules ]] || cat "$OUT/swiftpm/libswiftpm-dependencies.a.stamp"
    } | sha256sum | cut -d' ' -f1)
    if [[ -x "$out/fuzz-$name" && -f "$out/stamp" && $(cat "$out/stamp") == "$stamp" ]]; then
        return 0
    fi
    echo "fuzz: building $name (${#sources[@]} files)"
    rm -f "$out/stamp"
    (cd "$out" && "$SWIFTC" "${flags[@]}" -o "$out/fuzz-$name" "${sources[@]}") \
        || die "$name: the harness does not build (command: $SWIFTC ${flags[*]} -o $out/fuzz-$name ...)"
    echo "$stamp" >"$out/stamp"
}

# Replays the committed reproducers of a harness, each whole and once (a corpus directory would cut
# inputs at -max_len). Fails, naming the input, while any of them still crashes.
replay_crashes() {
    local name=$1 out="$OUT/$1" file failed=0
    [[ -d "$FUZZ_DIR/$name/crashes" ]] || return 0
    for file in "$FUZZ_DIR/$name/crashes"/*; do
        [[ -f $file ]] || continue
        if ! "$out/fuzz-$name" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/replay-" "$file" \
            >"$out/replay.log" 2>&1; then
            tail -n 30 "$out/replay.log" >&2
            echo "fuzz: FAILED: harness '$name' still fails on the committed reproducer ${file#"$ROOT"/} (log: $out/replay.log)." >&2
            echo "fuzz: replay it with: $out/fuzz-$name ${file#"$ROOT"/}" >&2
            failed=1
        fi
    done
    return $failed
}

# Runs one harness; on a finding, says where the input is and how to replay it, and fails.
run_one() {
    local mode=$1 name=$2
    shift 2
    local out="$OUT/$name" log="$OUT/$name/last-run.log"
    local seeds="$FUZZ_DIR/$name/corpus"
    [[ -d $seeds ]] || die "$name has no seed corpus Tests/Fuzz/$name/corpus"
    # `ci` stops at a reproducer that still fails; `run` reports it and fuzzes for new findings all the same.
    local replayed=0
    replay_crashes "$name" || replayed=1
    [[ $mode == ci && $replayed == 1 ]] && return 1
    # New inputs go to the first directory; the committed seeds are only read. `run` keeps what it finds
    # for the next run; `ci` starts from the committed seeds alone every time, so that it is repeatable.
    local found="$out/corpus"
    if [[ $mode == ci ]]; then
        found="$out/ci-corpus"
        rm -rf "$found"
    fi
    mkdir -p "$found"
    echo "fuzz: $name $*"
    local status=0
    nice -n "${FUZZ_NICE:-0}" "$out/fuzz-$name" "${COMMON_OPTIONS[@]}" -artifact_prefix="$out/" "$@" \
        "$found" "$seeds" >"$log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$log" | sed "s/^/fuzz: $name: /" || true
    if [[ $status != 0 ]]; then
        tail -n 60 "$log" >&2
        local artifact
        artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/Test unit written to //')
        echo "fuzz: FAILED: harness '$name' found an input that crashes, hangs or exhausts memory (full log: $log)." >&2
        if [[ -n $artifact ]]; then
            echo "fuzz: the input is $artifact; replay it with:" >&2
            echo "fuzz:     $out/fuzz-$name $artifact" >&2
            echo "fuzz: keep it as a regression input: cp $artifact Tests/Fuzz/$name/crashes/" >&2
        fi
        return 1
    fi
    return $replayed
}

command=${1:-}
[[ $# -gt 0 ]] && shift
names=("$@")
[[ ${#names[@]} -gt 0 ]] || mapfile -t names < <(all_harnesses)
case $command in
build)
    for name in "${names[@]}"; do build_one "$name"; done
    ;;
ci)
    for name in "${names[@]}"; do build_one "$name"; done
    failed=()
    for name in "${names[@]}"; do
        run_one ci "$name" -runs="$FUZZ_RUNS" -seed="$FUZZ_SEED" || failed+=("$name")
    done
    [[ ${#failed[@]} == 0 ]] || die "FAILED: ${failed[*]} (see the messages above for each input and how to replay it)"
    echo "fuzz: ${#names[@]} harnesses ran $FUZZ_RUNS inputs each without a finding"
    ;;
run)
    for name in "${names[@]}"; do build_one "$name"; done
    failed=()
    for name in "${names[@]}"; do
        run_one run "$name" -max_total_time="$FUZZ_SECONDS" || failed+=("$name")
    done
    [[ ${#failed[@]} == 0 ]] || die "FAILED: ${failed[*]} (see the messages above for each input and how to replay it)"
    ;;
*)
    die "usage: $0 build|ci|run [NAME...] (FUZZ_RUNS=$FUZZ_RUNS for ci, FUZZ_SECONDS=$FUZZ_SECONDS for run)"
    ;;
esac
