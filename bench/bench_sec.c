/*
 * bench_sec.c — the same correlation workload through SEC and through our engine.
 *
 * The peer: SEC, the Simple Event Correlator (Debian package `sec`, a Perl program), the
 * classic open-source rule-based correlator. The workload: four SOP rules written twice, as
 * bench/sec/city.sec and bench/sec/city.yaml:
 *
 *   water.outage.cluster  >= 5 water_outage complaints per zone in 30 min (SingleWithThreshold)
 *   fire.confirmed        smoke (score >= 0.8), then a fire complaint in that zone within 10 min
 *                         (PairWithWindow)
 *   flood.danger          water_level >= 2.5 (Single)
 *   sensor.silent         no reading from a sensor for 15 min (a context re-created per reading)
 *
 * Both read the SAME file: a citygen city day with its scenarios (so every rule has something
 * to find), cut at --events lines, read once untimed so both find it in the page cache.
 *
 *   SEC        `sec --conf=city.sec --input=FILE --notail --nointevents --nointcontexts`, its
 *              standard output (one line per action) to a scratch file; the time is the whole
 *              process, from spawn to exit (Perl start-up and rule parsing included; they take
 *              well under a second).
 *   ours       ioc_engine_run_file() with the embedded default config, rules = city.yaml only,
 *              event archive off, database in the scratch directory; the time includes loading
 *              the config, as the process time of SEC includes its start.
 *
 * The counts are reported beside the speed so the comparison is honest: SEC matches regular
 * expressions on the text and keeps its windows on the wall clock; our engine parses and
 * validates every event against the schema, correlates on event time and writes each incident
 * change to SQLite. Where the two disagree, the notes under the table say why.
 *
 * Output: Markdown tables on stdout, progress on stderr, `summary:` lines for run.sh.
 * Never a test: `make bench` runs it through bench/run.sh.
 */
#include <getopt.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "ioc/error.h"
#include "ioc/store.h"

#include "bench_common.h"

#define WHO "bench_sec"
/* Long enough that our start (rule loading, opening the store) is a small part of our run:
 * at 200,000 events it took 0.2 s and its spread was a third of the figure. */
#define DEFAULT_EVENTS 1000000L
#define DEFAULT_RUNS 3
#define N_RULES 4

static const char *const rule_ids[N_RULES] = {"water.outage.cluster", "fire.confirmed",
                                              "flood.danger", "sensor.silent"};

struct counts {
    uint64_t sec[N_RULES];     /* SEC: action lines per rule */
    uint64_t opened[N_RULES];  /* ours: incidents per rule */
    uint64_t changes[N_RULES]; /* ours: opened, updated, graded rows: what events caused */
    uint64_t clock[N_RULES];   /* ours: other log rows (escalated, sla_breached, ...) */
    uint64_t matches, received, accepted;
};

static int rule_index(const char *id, size_t len)
{
    for (int i = 0; i < N_RULES; i++) {
        if (strlen(rule_ids[i]) == len && strncmp(rule_ids[i], id, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* The stream: citygen's city day with scenarios, sized so a day is about 200k events. */
static int generate(const char *bin_dir, long events, const char *path)
{
    char gen[PATH_MAX], seed[32], n[32];
    if (bench_fmt(WHO, gen, sizeof gen, "%s/citygen", bin_dir) != 0) {
        return -1;
    }
    snprintf(seed, sizeof seed, "%ld", BENCH_SEED);
    snprintf(n, sizeof n, "%ld", events);
    char *const argv[] = {gen,          "--seed",
                          seed,         "--zones",
                          "36",         "--flood-sensors",
                          "2",          "--pressure-sensors",
                          "2",          "--cameras",
                          "2",          "--interval",
                          "60",         "--complaints-per-day",
                          "3000",       "--cctv-per-day",
                          "48",         "--scenarios",
                          "--events",   n,
                          "-q",         "-o",
                          (char *)path, NULL};
    fprintf(stderr, WHO ": generating:");
    for (int i = 0; argv[i]; i++) {
        fprintf(stderr, " %s", argv[i]);
    }
    fprintf(stderr, "\n");
    return bench_run(WHO, argv, NULL);
}

static int count_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    char buf[1 << 16];
    size_t got;
    *n = 0;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < got; i++) {
            *n += buf[i] == '\n';
        }
    }
    fclose(f);
    return 0;
}

static int run_sec(const char *conf, const char *stream, const char *out, double *secs,
                   struct counts *c)
{
    char conf_arg[PATH_MAX + 16], input_arg[PATH_MAX + 16];
    snprintf(conf_arg, sizeof conf_arg, "--conf=%s", conf);
    snprintf(input_arg, sizeof input_arg, "--input=%s", stream);
    char *const argv[] = {"sec",           conf_arg,          input_arg, "--notail",
                          "--nointevents", "--nointcontexts", NULL};
    pid_t pid;
    int64_t t0 = bench_now_ns();
    if (bench_spawn(WHO, argv, out, NULL, &pid) != 0) {
        return -1;
    }
    int st = bench_wait(pid, -1);
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, WHO ": sec failed\n");
        return -1;
    }
    FILE *f = fopen(out, "r");
    char line[512];
    memset(c->sec, 0, sizeof c->sec);
    while (f && fgets(line, sizeof line, f)) {
        int i = rule_index(line, strcspn(line, " \n"));
        if (i >= 0) {
            c->sec[i]++;
        }
    }
    if (f) {
        fclose(f);
    }
    unlink(out);
    return 0;
}

static int on_incident(const struct ioc_incident_view *v, void *arg)
{
    struct counts *c = arg;
    int i = rule_index(v->rule, strlen(v->rule));
    if (i >= 0) {
        c->opened[i]++;
    }
    return 0;
}

static int on_log(const struct ioc_log_view *v, void *arg)
{
    struct counts *c = arg;
    int i = rule_index(v->rule, strlen(v->rule));
    if (i >= 0) {
        bool by_event = strcmp(v->action, "opened") == 0 || strcmp(v->action, "updated") == 0 ||
                        strcmp(v->action, "graded") == 0;
        (by_event ? c->changes : c->clock)[i]++;
    }
    return 0;
}

static int run_ours(const char *rules, const char *stream, const char *db, double *secs,
                    struct counts *c, bool read_counts)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    struct ioc_engine_stats st;
    char err[256] = "";
    const char *paths[] = {rules};
    memset(&st, 0, sizeof st);
    bench_remove_db(db);
    ioc_diag_init(&diag);
    int64_t t0 = bench_now_ns();
    int rc = ioc_config_load(NULL, &cfg, &diag);
    if (rc == 0 && (rc = ioc_config_set_rules(cfg, paths, 1)) == 0 &&
        (rc = ioc_config_set_str(&cfg->store.path, db)) == 0) {
        cfg->store.archive_events = false;
        rc = ioc_engine_run_file(cfg, stream, &st, NULL, &diag);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    ioc_config_free(cfg);
    if (rc != 0) {
        fprintf(stderr, WHO ": our engine: %s\n", ioc_strerror(rc));
    } else if (read_counts) {
        memset(c->opened, 0, sizeof c->opened);
        memset(c->changes, 0, sizeof c->changes);
        memset(c->clock, 0, sizeof c->clock);
        c->matches = st.matches;
        c->received = st.received;
        c->accepted = st.accepted;
        if (ioc_db_incidents(db, NULL, on_incident, c, err, sizeof err) != 0 ||
            ioc_db_log(db, on_log, c, err, sizeof err) != 0) {
            fprintf(stderr, WHO ": %s: %s\n", db, err);
            rc = -1;
        }
    }
    bench_remove_db(db);
    return rc;
}

/* "SEC (Simple Event Correlator) 2.9.1" from `sec --version`. */
static void sec_version(const char *dir, char *out, size_t len)
{
    char path[PATH_MAX];
    snprintf(out, len, "SEC");
    if (bench_fmt(WHO, path, sizeof path, "%s/sec-version.txt", dir) != 0) {
        return;
    }
    char *const argv[] = {"sec", "--version", NULL};
    if (bench_run(WHO, argv, path) == 0) {
        FILE *f = fopen(path, "r");
        if (f && fgets(out, (int)len, f)) {
            out[strcspn(out, "\n")] = '\0';
        }
        if (f) {
            fclose(f);
        }
    }
    unlink(path);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"events", required_argument, NULL, 'e'},
        {"runs", required_argument, NULL, 'r'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long events = DEFAULT_EVENTS;
    int runs = DEFAULT_RUNS;
    bool quick = false, events_given = false, runs_given = false;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'e':
            events = bench_parse_long(WHO, optarg, "--events", 1);
            events_given = true;
            break;
        case 'r':
            runs = (int)bench_parse_long(WHO, optarg, "--runs", 1);
            runs_given = true;
            break;
        case 'q':
            quick = true;
            break;
        case 'h':
            printf("usage: bench_sec [--events N] [--runs N] [--quick]\n\n"
                   "The workload of bench/sec/ through SEC and through our engine, the same\n"
                   "file for both. Default %ld events, %d runs; --quick: 50000 events, 1 run.\n"
                   "Needs `sec` in PATH (Debian package sec).\n",
                   DEFAULT_EVENTS, DEFAULT_RUNS);
            return 0;
        default:
            return 2;
        }
    }
    if (quick) {
        events = events_given ? events : 50000;
        runs = runs_given ? runs : 1;
    }
    setenv("IOC_LOG", "warn", 0);

    char bin_dir[PATH_MAX], dir[PATH_MAX] = "", stream[PATH_MAX], db[PATH_MAX], out[PATH_MAX];
    char conf[PATH_MAX], rules[PATH_MAX], version[128];
    double *t_sec = calloc((size_t)runs, sizeof *t_sec),
           *t_ours = calloc((size_t)runs, sizeof *t_ours);
    struct counts c;
    size_t n_events = 0;
    int rc = 1;
    memset(&c, 0, sizeof c);
    bench_self_dir(bin_dir, sizeof bin_dir, argv[0]);
    if (!t_sec || !t_ours || bench_mkdtemp(WHO, dir, sizeof dir) != 0 ||
        bench_fmt(WHO, stream, sizeof stream, "%s/city-sec.jsonl", dir) != 0 ||
        bench_fmt(WHO, db, sizeof db, "%s/ours.db", dir) != 0 ||
        bench_fmt(WHO, out, sizeof out, "%s/sec.out", dir) != 0 ||
        bench_fmt(WHO, conf, sizeof conf, "%s/bench/sec/city.sec", ioc_datadir()) != 0 ||
        bench_fmt(WHO, rules, sizeof rules, "%s/bench/sec/city.yaml", ioc_datadir()) != 0) {
        goto done;
    }
    sec_version(dir, version, sizeof version);
    if (generate(bin_dir, events, stream) != 0 || count_lines(stream, &n_events) != 0) {
        goto done;
    }
    /* The local replay renders times in the configured zone; run the same code. */
    setenv("TZ", "Asia/Bangkok", 1);
    tzset();
    /* Untimed first pass of each: the file into the page cache, Perl and the engine warmed. */
    {
        double s;
        if (run_sec(conf, stream, out, &s, &c) != 0 || run_ours(rules, stream, db, &s, &c, true)) {
            goto done;
        }
    }
    for (int r = 0; r < runs; r++) {
        if (run_sec(conf, stream, out, &t_sec[r], &c) != 0 ||
            run_ours(rules, stream, db, &t_ours[r], &c, false) != 0) {
            goto done;
        }
        fprintf(stderr,
                WHO ": run %d/%d: SEC %.2f s (%.0f events/s), ours %.3f s (%.0f "
                    "events/s)\n",
                r + 1, runs, t_sec[r], (double)n_events / t_sec[r], t_ours[r],
                (double)n_events / t_ours[r]);
    }
    /* events/s from the median time; fastest time gives the max rate. */
    double ms = bench_median(t_sec, runs), mo = bench_median(t_ours, runs);
    double es = (double)n_events / ms, eo = (double)n_events / mo;
    printf("| engine | events | median s | median events/s | min events/s | max events/s |\n"
           "|---|--:|--:|--:|--:|--:|\n");
    printf("| %s, `sec --conf=bench/sec/city.sec --input=FILE --notail` | %zu | %.2f | %.0f | "
           "%.0f | %.0f |\n",
           version, n_events, ms, es, (double)n_events / t_sec[runs - 1],
           (double)n_events / t_sec[0]);
    printf("| ours, `ioc_engine_run_file`, rules bench/sec/city.yaml, archive off | %zu | %.3f "
           "| %.0f | %.0f | %.0f |\n",
           n_events, mo, eo, (double)n_events / t_ours[runs - 1], (double)n_events / t_ours[0]);
    printf("| **ours ÷ SEC** | | | **%.1f×** | | |\n", eo / es);
    printf("\n| rule | SEC actions | our incidents | our changes caused by events (opened, "
           "updated, graded) | our changes from the clock (SLA, escalation) |\n"
           "|---|--:|--:|--:|--:|\n");
    for (int i = 0; i < N_RULES; i++) {
        printf("| `%s` | %llu | %llu | %llu | %llu |\n", rule_ids[i], (unsigned long long)c.sec[i],
               (unsigned long long)c.opened[i], (unsigned long long)c.changes[i],
               (unsigned long long)c.clock[i]);
    }
    printf("\nEach time: the median of %d runs after one untimed run of each; our engine "
           "accepted %llu of %llu events and made %llu rule matches.\n",
           runs, (unsigned long long)c.accepted, (unsigned long long)c.received,
           (unsigned long long)c.matches);
    fprintf(stderr,
            "summary: sec_eps %.0f\nsummary: ours_on_sec_workload_eps %.0f\n"
            "summary: ours_vs_sec %.1f\n",
            es, eo, eo / es);
    rc = 0;
done:
    bench_rmtree(dir);
    free(t_sec);
    free(t_ours);
    return rc;
}
