/*
 * bench_dedup.c — what the duplicate filter costs: resident bytes per remembered id, the
 * longest single submit while it fills and while it turns over, and (under callgrind)
 * instructions per event.
 *
 * What it measures: an engine created through the library API (no inputs, no outputs, event
 * archive off, one rule that never opens an incident) is handed 2 × N water_level readings
 * with distinct ids by ioc_engine_submit(), each formatted on the fly so no stream sits in
 * memory. Event times advance by engine.dedup_window / N per reading, so:
 *
 *   fill     the first N readings span one dedup window: the filter ends holding all N ids,
 *            and nothing else the engine keeps grows with N;
 *   steady   the next N readings each push about one id out of the window as they add theirs:
 *            the filter holds about N ids throughout, the state of a long run at that rate.
 *
 * Each N runs in a forked child, so the allocator starts from the same state every time.
 * Bytes per id = (VmRSS after the phase - VmRSS before the first reading) / N; the peak
 * (VmHWM) shows what growing cost on the way. The longest submit is wall time (CLOCK_MONOTONIC
 * around each call): on a busy machine it includes preemption, so read it as "no stall of the
 * size of the filter", not as a latency figure. Instructions do not depend on the machine's
 * load: `valgrind --tool=callgrind --toggle-collect=ioc_engine_submit bench_dedup --ids 200000`
 * gives the submit path's instructions (2 × N events), and the filter's own functions' inclusive
 * costs in the same profile give its share.
 *
 * Output: a Markdown table on stdout, progress on stderr, `summary:` lines for run.sh.
 * Never a test: `make bench` runs it through bench/run.sh.
 */
#include <getopt.h>

#include <uv.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "ioc/error.h"
#include "ioc/plugin.h"

#include "bench_common.h"

#define WHO "bench_dedup"
#define MAX_SIZES 4
#define START_MS 1770742800000LL /* 2026-02-11T00:00:00+07:00 */
/* Readings handed over between two turns of the loop (its store batch is flushed there). */
#define TURN 1024

enum phase { P_FILL, P_STEADY, P__COUNT };
static const char *const phase_name[P__COUNT] = {"fill", "steady"};

struct sample {
    long rss_before_kb, rss_kb[P__COUNT], hwm_kb[P__COUNT];
    int64_t worst_ns[P__COUNT]; /* the longest single submit */
    long over_1ms[P__COUNT];    /* submits that took over a millisecond */
    uint64_t received, accepted, duplicates;
    double seconds;
    int rc;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_dedup [--ids N1,N2,...] [--quick]\n"
                 "\n"
                 "  --ids LIST   ids the filter holds (default 1000000,10000000)\n"
                 "  --quick      100000 ids: a smoke run, not a figure to quote\n");
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0) {
        fprintf(stderr, WHO ": %s: %s\n", path, strerror(errno));
        if (f) {
            fclose(f);
        }
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The config and the rule: nothing listens, nothing is archived, nothing opens. */
static int write_setup(const char *dir, char *cfg, size_t n)
{
    char path[PATH_MAX], text[1024];
    if (bench_fmt(WHO, path, sizeof path, "%s/rules.yaml", dir) != 0 ||
        write_file(path, "# Written by bench_dedup: a rule no reading satisfies.\n"
                         "rules:\n"
                         "  - id: bench.dedup\n"
                         "    title: \"bench rule on ${device}\"\n"
                         "    when: source == \"sensor\" && type == \"water_level\"\n"
                         "    key: [device]\n"
                         "    grade: {by: value, bands: [{ge: 1000000, grade: 4}]}\n") != 0 ||
        bench_fmt(WHO, cfg, n, "%s/iocd.yaml", dir) != 0 ||
        bench_fmt(WHO, text, sizeof text,
                  "engine: {lateness: 5s, timezone: Asia/Bangkok}\n"
                  "inputs: []\n"
                  "outputs: []\n"
                  "store: {path: bench.db, archive_events: false}\n"
                  "rules: [rules.yaml]\n") != 0) {
        return -1;
    }
    return write_file(cfg, text);
}

/* One phase: readings first .. first + n - 1, each timed. */
static void feed(struct ioc_engine *e, uv_loop_t *loop, long first, long n, long ids,
                 long long window_ms, struct sample *s, enum phase p)
{
    char buf[256];
    for (long i = first; i < first + n; i++) {
        long long ts = START_MS + (long long)((double)i * (double)window_ms / (double)ids);
        int len = snprintf(buf, sizeof buf,
                           "{\"id\":\"m%ld\",\"source\":\"sensor\",\"type\":\"water_level\","
                           "\"ts\":%lld,\"device\":\"MD-1\",\"zone\":\"Z01\",\"value\":0.50,"
                           "\"unit\":\"m\"}",
                           i, ts);
        int64_t t0 = bench_now_ns();
        ioc_engine_submit(e, buf, (size_t)len);
        int64_t dt = bench_now_ns() - t0;
        if (dt > s->worst_ns[p]) {
            s->worst_ns[p] = dt;
        }
        s->over_1ms[p] += dt > 1000000;
        if (i % TURN == TURN - 1) {
            uv_run(loop, UV_RUN_NOWAIT);
        }
    }
    uv_run(loop, UV_RUN_NOWAIT);
}

/* In the child: both phases for one N. */
static void measure(const char *cfg_path, long ids, struct sample *s)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    struct ioc_engine *e = NULL;
    struct ioc_engine_stats st;
    uv_loop_t loop;
    memset(s, 0, sizeof *s);
    memset(&st, 0, sizeof st);
    ioc_diag_init(&diag);
    int rc = uv_loop_init(&loop) == 0 ? 0 : IOC_EUV;
    if (rc == 0 && (rc = ioc_config_load(cfg_path, &cfg, &diag)) == 0 &&
        (rc = ioc_engine_create(cfg, &loop, &e, &diag)) == 0) {
        rc = ioc_engine_start(e);
    }
    if (rc == 0) {
        setenv("TZ", "Asia/Bangkok", 1);
        tzset();
        if (bench_reset_hwm() != 0) {
            fprintf(stderr, WHO ": cannot reset VmHWM; the peak includes the setup\n");
        }
        s->rss_before_kb = bench_status_kb("VmRSS");
        double t0 = bench_now_s();
        for (int p = 0; p < P__COUNT; p++) {
            feed(e, &loop, p * ids, ids, ids, cfg->engine.dedup_window_ms, s, (enum phase)p);
            s->rss_kb[p] = bench_status_kb("VmRSS");
            s->hwm_kb[p] = bench_status_kb("VmHWM");
        }
        s->seconds = bench_now_s() - t0;
    }
    if (e) {
        ioc_engine_stop(e);
        uv_run(&loop, UV_RUN_DEFAULT);
        ioc_engine_get_stats(e, &st);
        ioc_engine_destroy(e);
    }
    if (rc != IOC_EUV) {
        uv_loop_close(&loop);
    }
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    ioc_config_free(cfg);
    s->received = st.received;
    s->accepted = st.accepted;
    s->duplicates = st.duplicates;
    s->rc = rc;
}

struct measure_args {
    const char *cfg;
    long ids;
};

static void measure_child(void *arg, void *out)
{
    const struct measure_args *a = arg;
    measure(a->cfg, a->ids, out);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ids", required_argument, NULL, 'i'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ids[MAX_SIZES] = {1000000, 10000000};
    int n_ids = 2;
    bool quick = false, ids_given = false;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'i':
            n_ids = bench_parse_longs(WHO, optarg, "--ids", 1, ids, MAX_SIZES);
            ids_given = true;
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
    if (optind < argc || n_ids == 0) {
        usage(stderr);
        return 2;
    }
    if (quick && !ids_given) {
        ids[0] = 100000;
        n_ids = 1;
    }
    setenv("IOC_LOG", "warn", 0);

    char dir[PATH_MAX] = "", cfg[PATH_MAX];
    struct sample s[MAX_SIZES];
    int rc = 1;
    if (bench_mkdtemp(WHO, dir, sizeof dir) != 0 || write_setup(dir, cfg, sizeof cfg) != 0) {
        goto done;
    }
    for (int i = 0; i < n_ids; i++) {
        struct measure_args a = {cfg, ids[i]};
        if (bench_in_child(WHO, measure_child, &a, &s[i], sizeof s[i]) != 0) {
            goto done;
        }
        if (s[i].rc) {
            fprintf(stderr, WHO ": the measuring child failed (%s)\n", ioc_strerror(s[i].rc));
            goto done;
        }
        fprintf(stderr, WHO ": %ld ids: %llu received, %llu accepted, %llu duplicates, %.1f s\n",
                ids[i], (unsigned long long)s[i].received, (unsigned long long)s[i].accepted,
                (unsigned long long)s[i].duplicates, s[i].seconds);
    }
    printf("| ids held | phase | RSS growth MiB | bytes per id | peak bytes per id "
           "| longest submit ms | submits over 1 ms |\n|--:|---|--:|--:|--:|--:|--:|\n");
    for (int i = 0; i < n_ids; i++) {
        for (int p = 0; p < P__COUNT; p++) {
            double grown = (double)(s[i].rss_kb[p] - s[i].rss_before_kb) * 1024.0;
            double peak = (double)(s[i].hwm_kb[p] - s[i].rss_before_kb) * 1024.0;
            printf("| %ld | %s | %.1f | **%.0f** | %.0f | %.2f | %ld |\n", ids[i], phase_name[p],
                   grown / 1048576.0, grown / (double)ids[i], peak / (double)ids[i],
                   (double)s[i].worst_ns[p] / 1e6, s[i].over_1ms[p]);
            fprintf(stderr, "summary: dedup_bytes_per_id_%s_%ld %.0f\n", phase_name[p], ids[i],
                    grown / (double)ids[i]);
        }
    }
    printf("\nOne run per size, in a fresh child process. bytes per id = (VmRSS after the phase − "
           "VmRSS before the first reading) / ids; peak uses VmHWM. The longest submit is wall "
           "time and includes whatever else the machine ran.\n");
    rc = 0;
done:
    bench_rmtree(dir);
    return rc;
}
