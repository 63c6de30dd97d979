/*
 * bench_memory.c — resident memory per active window key of the in-process engine.
 *
 * What it measures: ioc_engine_run_file() (the code behind `ioc replay --local`) over a stream
 * of K water_level readings from K distinct gauges (one reading each, event times spread over
 * 30 minutes), with one rule keyed by device in a scratch rule file:
 *
 *   count   count: {window: 1h, min: 1000000}: every key stays in its window to the end and
 *           none ever reaches min, so no incident opens: the memory is the windows';
 *   plain   the same `when` and key without a correlation clause, graded by a band no reading
 *           reaches: the same decoding, matching and duplicate filter, no per-key state.
 *
 * Each measurement runs in a forked child, so the allocator starts from the same state and the
 * peak is this run's alone: the child resets VmHWM (/proc/self/clear_refs), notes VmRSS, runs
 * the engine and reads VmHWM (peak resident set; the engine frees its state before the run
 * returns, so the peak, not the RSS after, is what the keys held). bytes per key =
 * (VmHWM - VmRSS before) / K. The count row minus the plain row is what a window key costs
 * beyond what every event costs anyway (the duplicate filter remembers the ids of the last
 * engine.dedup_window, 10 min of event time, i.e. a third of this stream, in both rows).
 *
 * Config: the embedded default with the rule file above, event archive off, database in the
 * scratch directory; the directory (stream, rules, databases) is removed at the end.
 *
 * Output: a Markdown table on stdout, progress on stderr, `summary:` lines for run.sh.
 * Never a test: `make bench` runs it through bench/run.sh.
 */
#include <getopt.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "ioc/error.h"

#include "bench_common.h"

#define WHO "bench_memory"
#define DEFAULT_RUNS 3
#define MAX_SIZES 4
/* The readings' event times: 30 minutes, inside the count rule's 1 h window. */
#define SPAN_MS (30LL * 60 * 1000)
#define START_MS 1770742800000LL /* 2026-02-11T00:00:00+07:00 */

enum rule_kind { R_COUNT, R_PLAIN, R__COUNT };
static const char *const rule_name[R__COUNT] = {"count", "plain"};

struct sample {
    long rss_before_kb, hwm_kb;
    uint64_t received, accepted, opened;
    double seconds;
    int rc;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_memory [--keys K1,K2,...] [--runs N] [--quick]\n"
            "\n"
            "  --keys LIST   distinct window keys (default 100000,1000000)\n"
            "  --runs N      runs per size and rule, each in a fresh child (default %d)\n"
            "  --quick       10000,100000 keys, 1 run: a smoke run, not a figure to quote\n",
            DEFAULT_RUNS);
}

static int write_stream(const char *path, long keys)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, WHO ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (long k = 0; k < keys; k++) {
        long long ts = START_MS + SPAN_MS * k / keys;
        fprintf(f,
                "{\"id\":\"m%ld\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":%lld,"
                "\"device\":\"MD-%07ld\",\"zone\":\"Z%02ld\",\"value\":0.50,\"unit\":\"m\"}\n",
                k, ts, k, k % 100 + 1);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int write_rules(const char *path, enum rule_kind kind)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, WHO ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# Written by bench_memory: one rule keyed by device (%s).\nrules:\n",
            rule_name[kind]);
    fprintf(f,
            "  - id: bench.memory.%s\n"
            "    title: \"bench rule on ${device}\"\n"
            "    when: source == \"sensor\" && type == \"water_level\"\n"
            "    key: [device]\n",
            rule_name[kind]);
    if (kind == R_COUNT) {
        fprintf(f, "    count: {window: 1h, min: 1000000}\n    grade: 4\n");
    } else {
        fprintf(f, "    grade: {by: value, bands: [{ge: 1000000, grade: 4}]}\n");
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* In the child: one engine run, the peak resident set around it. */
static void measure(const char *stream, const char *rules, const char *db, struct sample *s)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    struct ioc_engine_stats st;
    memset(s, 0, sizeof *s);
    memset(&st, 0, sizeof st);
    ioc_diag_init(&diag);
    int rc = ioc_config_load(NULL, &cfg, &diag);
    if (rc == 0) {
        const char *paths[] = {rules};
        rc = ioc_config_set_rules(cfg, paths, 1);
    }
    if (rc == 0) {
        rc = ioc_config_set_str(&cfg->store.path, db);
    }
    if (rc == 0) {
        cfg->store.archive_events = false;
        if (cfg->engine.timezone && cfg->engine.timezone[0]) {
            setenv("TZ", cfg->engine.timezone, 1);
            tzset();
        }
        if (bench_reset_hwm() != 0) {
            fprintf(stderr, WHO ": cannot reset VmHWM; the peak includes the setup\n");
        }
        s->rss_before_kb = bench_status_kb("VmRSS");
        rc = ioc_engine_run_file(cfg, stream, &st, &s->seconds, &diag);
        s->hwm_kb = bench_status_kb("VmHWM");
    }
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    ioc_config_free(cfg);
    bench_remove_db(db);
    s->received = st.received;
    s->accepted = st.accepted;
    s->opened = st.opened;
    s->rc = rc;
}

struct measure_args {
    const char *stream, *rules, *db;
};

static void measure_child(void *arg, void *out)
{
    const struct measure_args *a = arg;
    measure(a->stream, a->rules, a->db, out);
}

/* Runs measure() in a forked child (bench_in_child). */
static int measure_in_child(const char *stream, const char *rules, const char *db, struct sample *s)
{
    struct measure_args a = {stream, rules, db};
    if (bench_in_child(WHO, measure_child, &a, s, sizeof *s) != 0) {
        return -1;
    }
    if (s->rc) {
        fprintf(stderr, WHO ": the measuring child failed (%s)\n", ioc_strerror(s->rc));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"runs", required_argument, NULL, 'r'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long keys[MAX_SIZES] = {100000, 1000000};
    int n_keys = 2, runs = DEFAULT_RUNS;
    bool quick = false, keys_given = false, runs_given = false;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'k':
            n_keys = bench_parse_longs(WHO, optarg, "--keys", 1, keys, MAX_SIZES);
            keys_given = true;
            break;
        case 'r':
            runs = (int)bench_parse_long(WHO, optarg, "--runs", 1);
            runs_given = true;
            break;
        case 'q':
            quick = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || n_keys == 0) {
        usage(stderr);
        return 2;
    }
    if (quick) {
        if (!keys_given) {
            keys[0] = 10000;
            keys[1] = 100000;
            n_keys = 2;
        }
        runs = runs_given ? runs : 1;
    }
    setenv("IOC_LOG", "warn", 0);

    char dir[PATH_MAX] = "", stream[PATH_MAX], rules[R__COUNT][PATH_MAX], db[PATH_MAX];
    int rc = 1;
    double *bpk = calloc((size_t)runs, sizeof *bpk);
    double per_key[MAX_SIZES][R__COUNT] = {{0}};
    struct sample last[MAX_SIZES][R__COUNT];
    if (!bpk || bench_mkdtemp(WHO, dir, sizeof dir) != 0 ||
        bench_fmt(WHO, db, sizeof db, "%s/bench.db", dir) != 0) {
        goto done;
    }
    for (int k = 0; k < R__COUNT; k++) {
        if (bench_fmt(WHO, rules[k], sizeof rules[k], "%s/rules-%s.yaml", dir, rule_name[k]) ||
            write_rules(rules[k], (enum rule_kind)k) != 0) {
            goto done;
        }
    }
    for (int i = 0; i < n_keys; i++) {
        if (bench_fmt(WHO, stream, sizeof stream, "%s/keys-%ld.jsonl", dir, keys[i]) != 0 ||
            write_stream(stream, keys[i]) != 0) {
            goto done;
        }
        for (int k = 0; k < R__COUNT; k++) {
            for (int r = 0; r < runs; r++) {
                struct sample *s = &last[i][k];
                if (measure_in_child(stream, rules[k], db, s) != 0) {
                    goto done;
                }
                bpk[r] = (double)(s->hwm_kb - s->rss_before_kb) * 1024.0 / (double)keys[i];
                fprintf(stderr,
                        WHO ": %ld keys, %s rule, run %d/%d: RSS before %ld KiB, peak %ld KiB, "
                            "%.0f bytes/key, %llu accepted, %llu incidents, %.2f s\n",
                        keys[i], rule_name[k], r + 1, runs, s->rss_before_kb, s->hwm_kb, bpk[r],
                        (unsigned long long)s->accepted, (unsigned long long)s->opened, s->seconds);
            }
            per_key[i][k] = bench_median(bpk, runs);
        }
        unlink(stream);
    }
    printf("| keys | rule | events accepted | incidents | peak RSS growth MiB | bytes per key "
           "| window bytes per key (count − plain) |\n|--:|---|--:|--:|--:|--:|--:|\n");
    for (int i = 0; i < n_keys; i++) {
        for (int k = 0; k < R__COUNT; k++) {
            const struct sample *s = &last[i][k];
            char diff[32] = "—";
            if (k == R_COUNT) {
                snprintf(diff, sizeof diff, "**%.0f**", per_key[i][R_COUNT] - per_key[i][R_PLAIN]);
            }
            printf("| %ld | `%s` | %llu | %llu | %.1f | %.0f | %s |\n", keys[i], rule_name[k],
                   (unsigned long long)s->accepted, (unsigned long long)s->opened,
                   per_key[i][k] * (double)keys[i] / 1048576.0, per_key[i][k], diff);
        }
        fprintf(stderr, "summary: window_bytes_per_key_%ld %.0f\n", keys[i],
                per_key[i][R_COUNT] - per_key[i][R_PLAIN]);
        fprintf(stderr, "summary: total_bytes_per_key_%ld %.0f\n", keys[i], per_key[i][R_COUNT]);
    }
    printf("\nEach figure: the median of %d runs, each in a fresh child process; bytes per key = "
           "(VmHWM − VmRSS before the run) / keys.\n",
           runs);
    rc = 0;
done:
    bench_rmtree(dir);
    free(bpk);
    return rc;
}
