#!/bin/sh
# run.sh — runs each libFuzzer program for a bounded time (called by `make fuzz`).
#
# Design: each fuzzer starts from its seed corpus (fuzz/corpus/<name>/) and its kept crash inputs
# (fuzz/regressions/<name>/), both read-only here; what it learns goes to a working corpus in the
# build directory, so a run never rewrites the source tree and the next run starts where this one
# stopped. Every fuzzer runs even when an earlier one crashed, then the script fails if any did,
# naming the input to reproduce with. A crash is a finding: fix it, then copy the input into
# fuzz/regressions/<name>/ so `make test` replays it for good.
#
# Usage: sh fuzz/run.sh [BUILD_DIR]   (default build-fuzz; the fuzzers must be built)
# Environment: FUZZ_SECONDS per fuzzer (default 60); FUZZ_TARGETS to run a subset
# ("event rules expr control"); FUZZ_ARGS adds libFuzzer flags (e.g. "-jobs=2").
set -eu

cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}
SECS=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"event rules expr control"}
FUZZ_ARGS=${FUZZ_ARGS:-}

failed=""
for name in $TARGETS; do
    bin="$BUILD/fuzz_$name"
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin missing: run 'make fuzz' (it builds them)" >&2
        exit 1
    fi
    work="$BUILD/fuzz-corpus/$name"
    crashes="$BUILD/fuzz-crashes/$name"
    log="$BUILD/fuzz-$name.log"
    mkdir -p "$work" "$crashes"
    echo "fuzz_$name: ${SECS}s (log: $log)"
    # -timeout: one input taking this long is a hang worth reporting; -rss_limit_mb keeps a
    # runaway allocation from taking the machine (2 cores, shared with the build).
    # shellcheck disable=SC2086
    if "$bin" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -dict="fuzz/dict/$name.dict" -artifact_prefix="$crashes/" $FUZZ_ARGS \
        "$work" "fuzz/corpus/$name" "fuzz/regressions/$name" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz_$name: ok, $runs runs, $rate exec/s, $cov, corpus $(ls "$work" | wc -l) files"
    else
        failed="$failed $name"
        echo "fuzz_$name: FAILED; the end of $log:" >&2
        tail -n 40 "$log" >&2
        echo "fuzz_$name: reproduce with: $bin $crashes/<file>  (files: $(ls "$crashes"))" >&2
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: crashes in:$failed; fix, then keep each input in fuzz/regressions/<name>/" >&2
    exit 1
fi
echo "fuzz: no crash"
