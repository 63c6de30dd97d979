/*
 * bench_rules.c — events per second of the in-process engine as the rule set grows.
 *
 * What it measures: ioc_engine_run_file() (the code behind `ioc replay --local`) over one
 * generated city stream, with the embedded default configuration, event archiving off and the
 * database in a scratch directory, for these rule sets:
 *
 *   shipped         the S rules in rules/; the 10-rule tier while S >= 10 (else nomatch-10 is)
 *   nomatch-N       the shipped rules plus N-S synthetic rules the index keeps away from every
 *                   event of the stream (types the stream never has, or the absent `system`
 *                   source); DESIGN §11 says these must cost nothing per event
 *   sametype-N      the shipped rules plus N-S rules on sensor/water_level, the commonest type of
 *                   the stream: evaluated on every such event, never true; the cost of rules that
 *                   must be evaluated
 *   cjson-parse     a peer, not the engine: cJSON_ParseWithLength + cJSON_Delete of each line of
 *                   the same file, read the same way (getline); the JSON-parsing ceiling
 *
 * Method: the stream is generated once with citygen (a child process, so a profiler attached to
 * this program does not see it) and read once untimed so every run finds it in the page cache.
 * Runs go round-robin over the configurations rather than one configuration at a time, so a
 * slow spell of the machine spreads over all of them instead of skewing one row. Each run starts
 * from an empty database (deleted after the run), so runs are independent. The engine's time is
 * the one ioc_engine_run_file() reports: engine creation (rule loading, store open) to the end
 * of the loop; the rule-loading share is measured separately and shown as "load ms".
 *
 * Output: a Markdown table on stdout (median, min and max events/s of the runs, ratios against
 * the 10-rule tier and against the parse ceiling; the fastest run against the 10-rule tier's
 * fastest, the run least disturbed by other programs on the cores); progress on stderr.
 *
 * This is a benchmark program, never a test: `make bench` runs it through bench/run.sh.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "ioc/error.h"
#include "ioc/rule.h"

extern char **environ;

#define DEFAULT_EVENTS 1000000L
#define DEFAULT_RUNS 5
#define QUICK_EVENTS 100000L
#define QUICK_RUNS 3
#define DEFAULT_SEED 20260211L
#define MAX_CONFIGS 10

/* The stream's shape: ~700 sensors at --interval 60 make about 1M readings in 24 h of event
 * time, so a million events is one city day rather than a short burst; cameras and complaints
 * add the other sources at their normal rates. */
static const char *const citygen_shape[][2] = {
    {"--zones", "100"}, {"--flood-sensors", "4"}, {"--pressure-sensors", "3"},
    {"--cameras", "3"}, {"--interval", "60"},
};

enum cfg_kind { K_SHIPPED, K_NOMATCH, K_SAMETYPE, K_PARSE };

struct bench_cfg {
    enum cfg_kind kind;
    char name[32];
    long tier;                 /* rules asked for; the shipped count for K_SHIPPED */
    char rules_file[PATH_MAX]; /* the synthetic rules, empty for K_SHIPPED and K_PARSE */
    size_t n_rules;            /* rules the engine reported loading */
    double load_ms;            /* ioc_ruleset_load() of the whole set, once */
    double *eps;               /* events/s of each run */
    int done;
    uint64_t events; /* events received (lines parsed, for K_PARSE) */
    uint64_t opened; /* incidents opened: must not vary between runs */
    bool unstable;   /* some run disagreed on events or incidents */
};

struct bench {
    long events;
    int runs;
    long seed;
    bool parse_only;
    const char *only;
    const char *citygen;
    const char *stream_arg;
    const char *workdir_arg;
    char workdir[PATH_MAX];
    bool own_workdir; /* a temporary directory we made and remove at the end */
    char stream[PATH_MAX];
    char self_dir[PATH_MAX];
    char **shipped; /* rule paths of the embedded default config */
    size_t n_shipped_paths;
    size_t n_shipped; /* rules in them */
    struct bench_cfg cfgs[MAX_CONFIGS];
    int n_cfgs;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* snprintf for paths: a path that does not fit is an error, never silently cut. */
__attribute__((format(printf, 3, 4))) static int fmt_path(char *out, size_t len, const char *fmt,
                                                          ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "bench_rules: path too long: %s...\n", out);
        return -1;
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_rules [--runs N] [--events N] [--quick] [--seed N] [--parse-only]\n"
            "                   [--only NAME] [--workdir DIR] [--stream FILE] [--citygen PATH]\n"
            "\n"
            "  --runs N        timed runs per configuration (default %d; the median is reported)\n"
            "  --events N      events in the generated stream (default %ld)\n"
            "  --quick         %ld events, %d runs: a smoke run, not a figure to quote\n"
            "  --seed N        citygen seed (default %ld)\n"
            "  --parse-only    only the cJSON parse loop over the stream\n"
            "  --only NAME     one configuration: shipped, nomatch-N, sametype-N (N = 10, 100,\n"
            "                  1000, those above the shipped count), cjson-parse\n"
            "  --workdir DIR   keep the stream, rule files and databases there (default: a\n"
            "                  temporary directory removed at the end)\n"
            "  --stream FILE   use this JSON-lines file instead of generating one\n"
            "  --citygen PATH  the generator (default: citygen next to this program)\n",
            DEFAULT_RUNS, DEFAULT_EVENTS, QUICK_EVENTS, QUICK_RUNS, DEFAULT_SEED);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int make_workdir(struct bench *b)
{
    if (b->workdir_arg) {
        if (mkdir(b->workdir_arg, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "bench_rules: cannot create %s: %s\n", b->workdir_arg, strerror(errno));
            return -1;
        }
        return fmt_path(b->workdir, sizeof b->workdir, "%s", b->workdir_arg);
    }
    const char *tmp = getenv("TMPDIR");
    if (fmt_path(b->workdir, sizeof b->workdir, "%s/ioc-bench-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp") != 0) {
        return -1;
    }
    if (!mkdtemp(b->workdir)) {
        fprintf(stderr, "bench_rules: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    b->own_workdir = true;
    return 0;
}

/* citygen lives next to this program in the build directory. */
static void find_self_dir(struct bench *b, const char *argv0)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
    } else {
        snprintf(exe, sizeof exe, "%s", argv0);
    }
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        snprintf(b->self_dir, sizeof b->self_dir, "%s", exe);
    } else {
        snprintf(b->self_dir, sizeof b->self_dir, ".");
    }
}

static int generate_stream(struct bench *b)
{
    char gen[PATH_MAX], seed[32], events[32];
    int bad = b->citygen ? fmt_path(gen, sizeof gen, "%s", b->citygen)
                         : fmt_path(gen, sizeof gen, "%s/citygen", b->self_dir);
    if (bad != 0 || fmt_path(b->stream, sizeof b->stream, "%s/city-s%ld-%ld.jsonl", b->workdir,
                             b->seed, b->events) != 0) {
        return -1;
    }
    snprintf(seed, sizeof seed, "%ld", b->seed);
    snprintf(events, sizeof events, "%ld", b->events);

    const char *argv[32];
    int k = 0;
    argv[k++] = gen;
    argv[k++] = "--seed";
    argv[k++] = seed;
    for (size_t i = 0; i < sizeof citygen_shape / sizeof citygen_shape[0]; i++) {
        argv[k++] = citygen_shape[i][0];
        argv[k++] = citygen_shape[i][1];
    }
    argv[k++] = "--events";
    argv[k++] = events;
    argv[k++] = "-q";
    argv[k++] = "-o";
    argv[k++] = b->stream;
    argv[k] = NULL;

    fprintf(stderr, "bench_rules: generating:");
    for (int i = 0; argv[i]; i++) {
        fprintf(stderr, " %s", argv[i]);
    }
    fprintf(stderr, "\n");
    pid_t pid;
    int rc = posix_spawn(&pid, gen, NULL, NULL, (char *const *)argv, environ);
    if (rc != 0) {
        fprintf(stderr, "bench_rules: cannot run %s: %s\n", gen, strerror(rc));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_rules: citygen failed\n");
        return -1;
    }
    return 0;
}

/* Reads the stream once, untimed, so the first timed run does not pay for the disk. */
static int warm_cache(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_rules: %s: %s\n", path, strerror(errno));
        return -1;
    }
    const size_t chunk = 1 << 20;
    char *buf = malloc(chunk);
    if (!buf) {
        fclose(f);
        return -1;
    }
    while (fread(buf, 1, chunk, f) == chunk) {
    }
    free(buf);
    fclose(f);
    return 0;
}

/* The shipped rule paths come from the embedded default config, so the bench loads exactly
 * what iocd would with no -c. */
static int load_shipped(struct bench *b)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    ioc_diag_init(&diag);
    int rc = ioc_config_load(NULL, &cfg, &diag);
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    if (rc != 0) {
        fprintf(stderr, "bench_rules: the embedded config does not load: %s\n", ioc_strerror(rc));
        return -1;
    }
    b->shipped = calloc(cfg->n_rules, sizeof *b->shipped);
    if (!b->shipped) {
        ioc_config_free(cfg);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        if (!(b->shipped[i] = strdup(cfg->rules[i]))) {
            ioc_config_free(cfg);
            return -1;
        }
        b->n_shipped_paths++;
    }
    /* Local replay renders times in the configured zone; so do we, to run the same code. */
    if (cfg->engine.timezone && cfg->engine.timezone[0]) {
        setenv("TZ", cfg->engine.timezone, 1);
        tzset();
    }
    ioc_config_free(cfg);

    struct ioc_ruleset *rs = NULL;
    ioc_diag_init(&diag);
    rc = ioc_ruleset_load((const char *const *)b->shipped, b->n_shipped_paths, &rs, &diag);
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    if (rc != 0) {
        fprintf(stderr, "bench_rules: the shipped rules do not load: %s\n", ioc_strerror(rc));
        return -1;
    }
    b->n_shipped = ioc_ruleset_count(rs);
    ioc_ruleset_free(rs);
    return 0;
}

/* One synthetic rule. Non-matching rules are spread over sources so every per-source index
 * holds some: two fifths on sensor types the stream never has, one fifth each on cctv and
 * complaint types it never has, and one fifth on the system source with no type at all (the
 * per-source "any type" list), which the stream never sends. */
static void write_rule(FILE *f, enum cfg_kind kind, long i)
{
    char when[160];
    if (kind == K_SAMETYPE) {
        snprintf(when, sizeof when,
                 "source == \"sensor\" && type == \"water_level\" && value > %ld", 100 + i);
    } else {
        switch (i % 5) {
        case 0:
        case 1:
            snprintf(when, sizeof when,
                     "source == \"sensor\" && type == \"synthetic_%ld\" && value > %ld", i, i);
            break;
        case 2:
            snprintf(when, sizeof when,
                     "source == \"cctv\" && type == \"synthetic_%ld\" && score >= 0.5", i);
            break;
        case 3:
            snprintf(when, sizeof when,
                     "source == \"complaint\" && type == \"synthetic_%ld\" && zone == \"Z01\"", i);
            break;
        default:
            snprintf(when, sizeof when, "source == \"system\" && value > %ld", i);
            break;
        }
    }
    fprintf(f,
            "  - id: bench.%s.r%05ld\n"
            "    title: \"synthetic rule %ld on ${device}\"\n"
            "    when: '%s'\n"
            "    key: [device]\n"
            "    grade: 4\n",
            kind == K_SAMETYPE ? "sametype" : "nomatch", i, i, when);
}

static int write_rules(struct bench *b, struct bench_cfg *c)
{
    long extra = c->tier - (long)b->n_shipped;
    if (fmt_path(c->rules_file, sizeof c->rules_file, "%s/rules-%s.yaml", b->workdir, c->name) !=
        0) {
        return -1;
    }
    FILE *f = fopen(c->rules_file, "w");
    if (!f) {
        fprintf(stderr, "bench_rules: %s: %s\n", c->rules_file, strerror(errno));
        return -1;
    }
    fprintf(f, "# Generated by bench_rules: %ld synthetic rules (%s).\nrules:\n", extra, c->name);
    for (long i = 0; i < extra; i++) {
        write_rule(f, c->kind, i);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The rule paths of a configuration: the shipped ones, then its synthetic file. Borrowed
 * strings; the array is the caller's (n_shipped_paths + 1 slots). */
static size_t rule_paths(const struct bench *b, const struct bench_cfg *c, const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_shipped_paths; i++) {
        out[n++] = b->shipped[i];
    }
    if (c->rules_file[0]) {
        out[n++] = c->rules_file;
    }
    return n;
}

static int measure_load(struct bench *b, struct bench_cfg *c)
{
    const char *paths[b->n_shipped_paths + 1];
    size_t n = rule_paths(b, c, paths);
    struct ioc_ruleset *rs = NULL;
    struct ioc_diag diag;
    ioc_diag_init(&diag);
    double t0 = now_s();
    int rc = ioc_ruleset_load(paths, n, &rs, &diag);
    c->load_ms = (now_s() - t0) * 1e3;
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    if (rc != 0) {
        fprintf(stderr, "bench_rules: %s: rules do not load: %s\n", c->name, ioc_strerror(rc));
        return -1;
    }
    c->n_rules = ioc_ruleset_count(rs);
    ioc_ruleset_free(rs);
    return 0;
}

static int add_cfg(struct bench *b, enum cfg_kind kind, const char *name, long tier)
{
    if (b->only && strcmp(b->only, name) != 0) {
        return 0;
    }
    if (b->n_cfgs == MAX_CONFIGS) {
        return -1;
    }
    struct bench_cfg *c = &b->cfgs[b->n_cfgs++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->tier = tier;
    snprintf(c->name, sizeof c->name, "%s", name);
    if (!(c->eps = calloc((size_t)b->runs, sizeof *c->eps))) {
        return -1;
    }
    if (kind == K_PARSE) {
        return 0;
    }
    if ((kind == K_NOMATCH || kind == K_SAMETYPE) && tier > (long)b->n_shipped &&
        write_rules(b, c) != 0) {
        return -1;
    }
    return measure_load(b, c);
}

static int add_cfgs(struct bench *b)
{
    /* Tiers the shipped set already reaches are the shipped row itself: N-S would be <= 0. */
    static const long tiers[] = {10, 100, 1000};
    static const enum cfg_kind kinds[] = {K_NOMATCH, K_SAMETYPE};
    char name[32];
    if (b->parse_only) {
        return add_cfg(b, K_PARSE, "cjson-parse", 0);
    }
    if (add_cfg(b, K_SHIPPED, "shipped", (long)b->n_shipped) != 0) {
        return -1;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
            if (tiers[i] <= (long)b->n_shipped) {
                continue;
            }
            snprintf(name, sizeof name, "%s-%ld", kinds[k] == K_NOMATCH ? "nomatch" : "sametype",
                     tiers[i]);
            if (add_cfg(b, kinds[k], name, tiers[i]) != 0) {
                return -1;
            }
        }
    }
    return add_cfg(b, K_PARSE, "cjson-parse", 0);
}

/* ---- runs ------------------------------------------------------------------------------- */

/* The JSON-parsing ceiling: the same lines, read the way in_file reads them, parsed and freed. */
static int run_parse(const struct bench *b, uint64_t *lines, double *seconds)
{
    FILE *f = fopen(b->stream, "rb");
    if (!f) {
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t n = 0, bad = 0;
    double t0 = now_s();
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            len--;
        }
        if (len == 0) {
            continue;
        }
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        bad += j == NULL;
        cJSON_Delete(j);
        n++;
    }
    *seconds = now_s() - t0;
    free(line);
    fclose(f);
    *lines = n;
    if (bad) {
        fprintf(stderr, "bench_rules: %llu lines did not parse\n", (unsigned long long)bad);
    }
    return 0;
}

static void remove_db(const char *db)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", db, suffix[i]);
        unlink(p);
    }
}

static int run_engine(const struct bench *b, const struct bench_cfg *c, struct ioc_engine_stats *st,
                      double *seconds)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    char db[PATH_MAX];
    const char *paths[b->n_shipped_paths + 1];
    size_t n = rule_paths(b, c, paths);
    int rc;

    if (fmt_path(db, sizeof db, "%s/bench-%s.db", b->workdir, c->name) != 0) {
        return -1;
    }
    remove_db(db);
    ioc_diag_init(&diag);
    memset(st, 0, sizeof *st);
    if ((rc = ioc_config_load(NULL, &cfg, &diag)) != 0 ||
        (rc = ioc_config_set_rules(cfg, paths, n)) != 0 ||
        (rc = ioc_config_set_str(&cfg->store.path, db)) != 0) {
        goto done;
    }
    cfg->store.archive_events = false;
    rc = ioc_engine_run_file(cfg, b->stream, st, seconds, &diag);
done:
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    ioc_config_free(cfg);
    remove_db(db);
    if (rc != 0) {
        fprintf(stderr, "bench_rules: %s: %s\n", c->name, ioc_strerror(rc));
    }
    return rc;
}

static int run_one(const struct bench *b, struct bench_cfg *c, int run)
{
    double seconds = 0;
    uint64_t events, opened = 0;
    if (c->kind == K_PARSE) {
        if (run_parse(b, &events, &seconds) != 0) {
            return -1;
        }
    } else {
        struct ioc_engine_stats st;
        if (run_engine(b, c, &st, &seconds) != 0) {
            return -1;
        }
        events = st.received;
        opened = st.opened;
        c->n_rules = (size_t)st.rules;
    }
    if (c->done > 0 && (events != c->events || opened != c->opened)) {
        c->unstable = true;
    }
    c->events = events;
    c->opened = opened;
    c->eps[c->done++] = seconds > 0 ? (double)events / seconds : 0;
    fprintf(stderr, "bench_rules: run %d/%d %-14s %9.0f events/s (%.2f s)\n", run + 1, b->runs,
            c->name, c->eps[c->done - 1], seconds);
    return 0;
}

/* ---- report ----------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The 10-rule tier: the shipped set when it has 10 rules or more, else nomatch-10. */
static bool is_base(const struct bench *b, const struct bench_cfg *c)
{
    return b->n_shipped >= 10 ? c->kind == K_SHIPPED : c->kind == K_NOMATCH && c->tier == 10;
}

static const char *describe(const struct bench *b, const struct bench_cfg *c, char *buf, size_t len)
{
    long extra = (long)c->n_rules - (long)b->n_shipped;
    switch (c->kind) {
    case K_SHIPPED:
        snprintf(buf, len, "shipped rules/%s", is_base(b, c) ? " (the 10-rule tier)" : "");
        break;
    case K_NOMATCH:
        snprintf(buf, len, "shipped + %ld rules that cannot match (other types/sources)", extra);
        break;
    case K_SAMETYPE:
        snprintf(buf, len,
                 "shipped + %ld rules on sensor/water_level, candidates for every such event, "
                 "never true",
                 extra);
        break;
    case K_PARSE:
        snprintf(buf, len, "peer: cJSON parse + free of each line only");
        break;
    }
    return buf;
}

/* The fastest run of a configuration, sorted or not. */
static double best(const struct bench_cfg *c)
{
    double m = 0;
    for (int i = 0; i < c->done; i++) {
        m = c->eps[i] > m ? c->eps[i] : m;
    }
    return m;
}

static void report(struct bench *b)
{
    double base = 0, base_best = 0, parse = 0;
    for (int i = 0; i < b->n_cfgs; i++) {
        struct bench_cfg *c = &b->cfgs[i];
        if (is_base(b, c)) {
            base = median(c->eps, c->done);
            base_best = best(c);
        } else if (c->kind == K_PARSE) {
            parse = median(c->eps, c->done);
        }
    }
    printf("| configuration | rules | events | median events/s | min | max | vs 10-rule "
           "| best vs best 10-rule | vs cJSON parse | incidents | load ms |\n");
    printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (int i = 0; i < b->n_cfgs; i++) {
        struct bench_cfg *c = &b->cfgs[i];
        char desc[128], rules[16] = "—", inc[16] = "—", load[16] = "—", vb[16] = "—", vbb[16] = "—",
                        vp[16] = "—";
        /* median() sorts the samples, so the first and last are then min and max. */
        double m = median(c->eps, c->done);
        if (c->kind != K_PARSE) {
            snprintf(rules, sizeof rules, "%zu", c->n_rules);
            snprintf(inc, sizeof inc, "%llu%s", (unsigned long long)c->opened,
                     c->unstable ? " (varied!)" : "");
            snprintf(load, sizeof load, "%.1f", c->load_ms);
            if (base > 0) {
                snprintf(vb, sizeof vb, "%.2f", m / base);
                snprintf(vbb, sizeof vbb, "%.2f", best(c) / base_best);
            }
            if (parse > 0) {
                snprintf(vp, sizeof vp, "%.2f", m / parse);
            }
        }
        printf("| `%s`: %s | %s | %llu | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s |\n", c->name,
               describe(b, c, desc, sizeof desc), rules, (unsigned long long)c->events, m,
               c->eps[0], c->eps[c->done - 1], vb, vbb, vp, inc, load);
    }
    printf("\nEach figure: %d runs, round-robin over the configurations; median, min and max of "
           "wall-clock events/s.\n",
           b->runs);
}

static void cleanup(struct bench *b)
{
    for (int i = 0; i < b->n_cfgs; i++) {
        if (b->own_workdir && b->cfgs[i].rules_file[0]) {
            unlink(b->cfgs[i].rules_file);
        }
        free(b->cfgs[i].eps);
    }
    if (b->own_workdir) {
        if (!b->stream_arg && b->stream[0]) {
            unlink(b->stream);
        }
        rmdir(b->workdir);
    }
    for (size_t i = 0; i < b->n_shipped_paths; i++) {
        free(b->shipped[i]);
    }
    free(b->shipped);
}

/* ---- main ------------------------------------------------------------------------------- */

static long parse_long(const char *s, const char *opt, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min) {
        fprintf(stderr, "bench_rules: %s: expected a number >= %ld, got '%s'\n", opt, min, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    enum { O_RUNS = 256, O_EVENTS, O_QUICK, O_SEED, O_PARSE, O_ONLY, O_WORKDIR, O_STREAM, O_GEN };
    static const struct option opts[] = {
        {"runs", required_argument, NULL, O_RUNS},
        {"events", required_argument, NULL, O_EVENTS},
        {"quick", no_argument, NULL, O_QUICK},
        {"seed", required_argument, NULL, O_SEED},
        {"parse-only", no_argument, NULL, O_PARSE},
        {"only", required_argument, NULL, O_ONLY},
        {"workdir", required_argument, NULL, O_WORKDIR},
        {"stream", required_argument, NULL, O_STREAM},
        {"citygen", required_argument, NULL, O_GEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bench b;
    memset(&b, 0, sizeof b);
    b.events = DEFAULT_EVENTS;
    b.runs = DEFAULT_RUNS;
    b.seed = DEFAULT_SEED;
    bool events_given = false, runs_given = false, quick = false;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case O_RUNS:
            b.runs = (int)parse_long(optarg, "--runs", 1);
            runs_given = true;
            break;
        case O_EVENTS:
            b.events = parse_long(optarg, "--events", 1);
            events_given = true;
            break;
        case O_QUICK:
            quick = true;
            break;
        case O_SEED:
            b.seed = parse_long(optarg, "--seed", 0);
            break;
        case O_PARSE:
            b.parse_only = true;
            break;
        case O_ONLY:
            b.only = optarg;
            break;
        case O_WORKDIR:
            b.workdir_arg = optarg;
            break;
        case O_STREAM:
            b.stream_arg = optarg;
            break;
        case O_GEN:
            b.citygen = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (quick) {
        b.events = events_given ? b.events : QUICK_EVENTS;
        b.runs = runs_given ? b.runs : QUICK_RUNS;
    }
    /* Engine start/stop lines per run would bury the progress; warnings still show. */
    setenv("IOC_LOG", "warn", 0);
    find_self_dir(&b, argv[0]);

    int rc = 1;
    if (make_workdir(&b) != 0 || load_shipped(&b) != 0) {
        goto done;
    }
    if (add_cfgs(&b) != 0) {
        goto done;
    }
    if (b.n_cfgs == 0) {
        fprintf(stderr, "bench_rules: no configuration named '%s'\n", b.only);
        goto done;
    }
    if (b.stream_arg) {
        snprintf(b.stream, sizeof b.stream, "%s", b.stream_arg);
    } else if (generate_stream(&b) != 0) {
        goto done;
    }
    if (warm_cache(b.stream) != 0) {
        goto done;
    }
    for (int r = 0; r < b.runs; r++) {
        for (int i = 0; i < b.n_cfgs; i++) {
            if (run_one(&b, &b.cfgs[i], r) != 0) {
                goto done;
            }
        }
    }
    report(&b);
    rc = 0;
done:
    cleanup(&b);
    return rc;
}
