#!/bin/sh
# run.sh — runs the rule benchmark and rewrites bench/RESULTS.md (called by `make bench`).
#
# Design: bench_rules does the measuring and prints the results table; this script only adds
# what a reader needs to trust and reproduce the figures (the machine, the commit, the exact
# commands) and where the time goes, from two callgrind profiles on small streams: the shipped
# rules (the everyday cost of an event) and 1000 rules sharing the stream's commonest type (the
# cost of each rule that must be evaluated). Instruction counts, unlike wall time, do not move
# with other load on the machine, so the profile shares are stable from run to run.
#
# Usage: sh bench/run.sh [BUILD_DIR]   (default build; the build must be done)
# Environment: BENCH_ARGS adds bench_rules options (e.g. "--quick"); PROFILE=0 skips callgrind.
# Scratch files (rule files, profiles, logs) stay in bench/out/, which git ignores; the streams
# are removed at the end.
set -eu

cd "$(dirname "$0")/.."
BUILD=${1:-build}
BENCH_ARGS=${BENCH_ARGS:-}
PROFILE=${PROFILE:-1}
OUT=bench/out
RESULTS=bench/RESULTS.md
PROFILE_EVENTS=50000
PROFILE_SAMETYPE_EVENTS=5000

if [ ! -x "$BUILD/bench_rules" ] || [ ! -x "$BUILD/citygen" ]; then
    echo "run.sh: $BUILD/bench_rules or $BUILD/citygen missing: run 'make build' first" >&2
    exit 1
fi
mkdir -p "$OUT"

# ---- the machine ------------------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mhz=$(sed -n 's/^cpu MHz[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
cc_version=$("${cc:-cc}" --version 2>/dev/null | head -n 1)
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)

echo "nproc:   $(nproc)"
echo "cpu:     $cpu (${mhz:-?} MHz)"
echo "memory:  $mem"
echo "kernel:  $(uname -sr)"
echo "date:    $started"
echo "commit:  $commit"
echo "build:   ${build_type:-?}, $cc_version"
echo "load:    $load_before (1, 5, 15 min)"

# ---- the benchmark ----------------------------------------------------------------------------
bench_cmd="$BUILD/bench_rules --workdir $OUT${BENCH_ARGS:+ $BENCH_ARGS}"
echo "running: $bench_cmd"
t0=$(date +%s)
# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
"$BUILD/bench_rules" --workdir "$OUT" $BENCH_ARGS >"$OUT/table.md" 2>"$OUT/bench.log" || {
    cat "$OUT/bench.log" >&2
    exit 1
}
t1=$(date +%s)
cat "$OUT/bench.log" >&2
cat "$OUT/table.md"
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)
gen_cmd=$(sed -n 's/^bench_rules: generating: //p' "$OUT/bench.log" | sed "s|$(pwd)/||g")

# ---- the profiles -----------------------------------------------------------------------------
# Inclusive ($2 = yes) or self (no) Ir of function $3 in profile $1; 0 when absent.
fn_cost() {
    callgrind_annotate --auto=no --threshold=100 --inclusive="$2" "$1" 2>/dev/null |
        awk -v fn="$3" '
            { for (i = 1; i <= NF; i++) if ($i ~ ":" fn "$") { gsub(",", "", $1); print $1; exit } }
        ' | awk 'BEGIN { v = 0 } { v = $1 } END { print v }'
}
total_ir() {
    callgrind_annotate --auto=no "$1" 2>/dev/null |
        awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}
# Self cost of every function whose object file matches $2 (a library), summed.
obj_self() {
    callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null |
        awk -v obj="$2" '$0 ~ obj { gsub(",", "", $1); s += $1 } END { print s + 0 }'
}
# Calls to function $2 in profile $1, summed over its callers.
calls() {
    callgrind_annotate --auto=no --threshold=100 --inclusive=yes --tree=calling "$1" 2>/dev/null |
        awk -v fn="$2" '$0 ~ ">  .*:" fn " \\([0-9,]+x\\)" {
            c = $0; sub(/.*\(/, "", c); sub(/x\).*/, "", c); gsub(",", "", c); s += c }
            END { print s + 0 }'
}
pct() {
    awk -v a="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.1f%%", 100 * a / t; else print "?" }'
}
# The top functions by self cost; paths shortened to the file name, and functions without
# symbols (static ones of a stripped library) named after their library.
top_self() {
    callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null |
        awk '/file:function/ { on = 1; getline; next }
             on && NF >= 3 && n < 12 {
                 obj = $0; sub(/.*\[/, "", obj); sub(/\]$/, "", obj); sub(/.*\//, "", obj);
                 sub(/ \[.*\]$/, "");
                 if ($0 ~ /\?\?\?:/) { sub(/\?\?\?:/, obj ":") } else { sub(/[^ ]*\//, "") }
                 print; n++ }'
}

profile_md=""
if [ "$PROFILE" = 1 ] && command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null
then
    cg1="$OUT/callgrind.shipped.out"
    cg2="$OUT/callgrind.sametype.out"
    cg3="$OUT/callgrind.nomatch.out"
    vg="valgrind --tool=callgrind --callgrind-out-file"
    prof1="$vg=$cg1 $BUILD/bench_rules --events $PROFILE_EVENTS --runs 1 --only shipped"
    prof1="$prof1 --workdir $OUT/profile"
    prof2="$vg=$cg2 $BUILD/bench_rules --events $PROFILE_SAMETYPE_EVENTS --runs 1"
    prof2="$prof2 --only sametype-1000 --workdir $OUT/profile"
    prof3="$vg=$cg3 $BUILD/bench_rules --events $PROFILE_EVENTS --runs 1 --only nomatch-1000"
    prof3="$prof3 --workdir $OUT/profile"
    : >"$OUT/profile.log"
    for cmd in "$prof1" "$prof2" "$prof3"; do
        echo "profiling: $cmd"
        $cmd >>"$OUT/profile.log" 2>&1
    done

    t=$(total_ir "$cg1")
    submit=$(fn_cost "$cg1" yes ioc_engine_submit)
    decode=$(fn_cost "$cg1" yes ioc_decoder_decode)
    parse=$(fn_cost "$cg1" yes cJSON_ParseWithLengthOpts)
    schema=$(fn_cost "$cg1" yes ioc_schema_validate)
    clear=$(fn_cost "$cg1" yes ioc_event_clear)
    eval=$(fn_cost "$cg1" yes ioc_expr_eval)
    loadr=$(fn_cost "$cg1" yes ioc_ruleset_load)
    sqlite=$(obj_self "$cg1" libsqlite3)
    malloc_self=$(callgrind_annotate --auto=no --threshold=100 "$cg1" 2>/dev/null |
        awk '/malloc\/malloc.c:/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
    decode_own=$((decode - parse - schema))
    engine_rest=$((submit - decode - clear - eval))
    outside=$((t - submit))
    per_event=$((t / PROFILE_EVENTS))

    t2=$(total_ir "$cg2")
    eval2=$(fn_cost "$cg2" yes ioc_expr_eval)
    ncalls2=$(calls "$cg2" ioc_expr_eval)
    per_eval=$(awk -v a="$eval2" -v n="$ncalls2" \
        'BEGIN { if (n > 0) printf "%.0f", a / n; else print "?" }')
    per_event2=$((t2 / PROFILE_SAMETYPE_EVENTS))

    # The per-event path alone (ioc_engine_submit, inclusive, per event), without rule loading
    # and setup: instruction counts do not vary with load, so this is where §11 shows exactly.
    sub1=$((submit / PROFILE_EVENTS))
    sub2=$(($(fn_cost "$cg2" yes ioc_engine_submit) / PROFILE_SAMETYPE_EVENTS))
    sub3=$(($(fn_cost "$cg3" yes ioc_engine_submit) / PROFILE_EVENTS))
    ratio() {
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'
    }

    profile_md=$(cat <<EOF
## Where the time goes

Instruction counts (Ir) from callgrind, all threads, over one whole run (engine creation, rule
loading, the stream, the store's shutdown). Wall time under callgrind means nothing; the
instruction counts and shares do.

**Instructions per event** in \`ioc_engine_submit\` (the whole per-event path: decode,
validate, match, incidents), from one profiled run each. These do not move with other load on
the machine, so they show the index's effect exactly:

| rule set | events profiled | instructions per event | vs shipped |
|---|--:|--:|--:|
| \`shipped\` | $PROFILE_EVENTS | $sub1 | 1.00 |
| \`nomatch-1000\` | $PROFILE_EVENTS | $sub3 | $(ratio "$sub3" "$sub1") |
| \`sametype-1000\` | $PROFILE_SAMETYPE_EVENTS | $sub2 | $(ratio "$sub2" "$sub1") |

**Shipped rules, $PROFILE_EVENTS events** (\`$cg1\`): $per_event instructions per event.

| where (inclusive unless said) | share of all instructions |
|---|--:|
| JSON parsing: \`cJSON_ParseWithLengthOpts\` (and the \`strtod\` it calls) | $(pct "$parse" "$t") |
| schema validation: \`ioc_schema_validate\` | $(pct "$schema" "$t") |
| rest of decoding: \`ioc_decoder_decode\` minus the two above | $(pct "$decode_own" "$t") |
| freeing the event and its cJSON tree: \`ioc_event_clear\` | $(pct "$clear" "$t") |
| expression evaluation: \`ioc_expr_eval\` | $(pct "$eval" "$t") |
| rest of \`ioc_engine_submit\`: index, watermark, duplicates, incidents | $(pct "$engine_rest" "$t") |
| SQLite, all of libsqlite3 (self, store thread included) | $(pct "$sqlite" "$t") |
| rule loading: \`ioc_ruleset_load\` (the engine's and the bench's) | $(pct "$loadr" "$t") |
| outside \`ioc_engine_submit\`: file reading, loop, setup, shutdown | $(pct "$outside" "$t") |
| (spread over all of the above) malloc and free, self | $(pct "$malloc_self" "$t") |

Top functions by self instructions (libcjson's unnamed entries are its static parse and
print helpers; Debian ships it without symbols):

\`\`\`
$(top_self "$cg1")
\`\`\`

**1000 rules sharing sensor/water_level, $PROFILE_SAMETYPE_EVENTS events** (\`$cg2\`):
$per_event2 instructions per event; \`ioc_expr_eval\` is $(pct "$eval2" "$t2") of them, over
$ncalls2 evaluations, about $per_eval instructions per evaluated rule. Top functions by self
instructions:

\`\`\`
$(top_self "$cg2")
\`\`\`

Profiled with:

\`\`\`sh
$prof1
$prof2
$prof3
callgrind_annotate --inclusive=yes $cg1    # and --inclusive=no for self cost
\`\`\`
EOF
)
else
    profile_md="## Where the time goes

Not profiled in this run (PROFILE=0, or valgrind is not installed)."
fi

# ---- RESULTS.md -------------------------------------------------------------------------------
cat >"$RESULTS" <<EOF
# Benchmark results

Written by \`bench/run.sh\` (\`make bench\`); rerun it rather than editing this file.

Throughput of the in-process engine (\`ioc_engine_run_file\`, the code behind
\`ioc replay --local\`) on a citygen stream, embedded default config, event archive off,
database in \`$OUT/\`. The time is wall time from engine creation (rule loading included,
shown separately as "load ms") to the end of the run.

## Machine

| | |
|---|---|
| cores (nproc) | $(nproc) |
| CPU | $cpu |
| memory | $mem |
| kernel | $(uname -sr) |
| date | $started |
| commit | $commit |
| build | ${build_type:-?}, $cc_version |
| load average (1/5/15 min) before, after | $load_before; $load_after |
| bench time | $((t1 - t0)) s |

## Events per second

$(cat "$OUT/table.md")

- **vs 10-rule**: the median against the 10-rule tier's. The shipped set already has more than
  10 rules (see its rules column), so it is that tier: shipped + 10−S synthetic rules would be
  a negative number of them. **best vs best 10-rule** compares the fastest runs, the ones least
  disturbed by other programs sharing the cores.
- **nomatch-N** adds rules the source/type index keeps away from every event of the stream:
  sensor, cctv and complaint types the stream never has, and the \`system\` source it never
  sends. DESIGN §11: their cost per event must stay flat, so these ratios should be ≈ 1.
- **sametype-N** adds rules on \`source == "sensor" && type == "water_level" && value > 100+i\`:
  the type of most of the stream's events, so every such event evaluates all of them (none is
  ever true). This is the cost of rules that must be evaluated, not a property of the index.
- **vs cJSON parse**: the median against the peer row, cJSON alone parsing and freeing the same
  lines (\`--parse-only\`): the ceiling for any engine that parses each event with cJSON.
- **incidents**: opened per run; the same in every row shows the synthetic rules matched nothing.
- Wall-clock figures on a shared machine: compare rows of one run, not runs of different days,
  and read a few percent either way as noise; the instruction counts below are exact.

## Commands

\`\`\`sh
make bench                      # = make build, then sh bench/run.sh build
$bench_cmd
# the stream it generated and measured:
$gen_cmd
$BUILD/bench_rules --parse-only --workdir $OUT   # the parse ceiling alone
\`\`\`

$profile_md
EOF
# The streams are large (about 190 MB per million events) and the commands above remake them.
rm -f "$OUT"/city-*.jsonl "$OUT"/profile/city-*.jsonl
echo "run.sh: wrote $RESULTS"
