/*
 * ioc_report.c — `ioc report`: the shift report an IOC manager reads. For the
 * incidents opened in a period it gives, per grade, per rule and per shift,
 * how many there were, the mean time to acknowledge (MTTA) and to resolve
 * (MTTR), the SLA breaches and the escalations.
 *
 * The store reads one row per incident with its first acknowledgement, first
 * resolution, breach and escalation count (ioc_db_report: all SQL stays in
 * store.c); this file adds them up and prints. Shifts come from the config
 * and are local times of day in engine.timezone, so an incident's shift needs
 * its opening in local time, which SQL cannot know: that is why the sums are
 * made here and not in a GROUP BY.
 *
 * Definitions (the ones a manager's spreadsheet would use): an incident
 * belongs to the period when it was opened in [from, to); MTTA is the mean,
 * over the incidents that were acknowledged, of first acknowledgement minus
 * opening; MTTR likewise with the first resolution; a breach is an incident
 * with an 'sla_breached' row; escalations count 'escalated' rows. Per grade
 * uses the incident's grade, the most severe it reached. Means are rounded to
 * the millisecond, so every format gives the same figure.
 *
 * Time zone: the config's engine.timezone, not $TZ, because it is the zone the
 * shifts are written in; dates given to --from/--to are midnights there.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/store.h"

#include "ioc_cmd.h"

static const char report_usage[] =
    "usage: ioc report --db FILE [--from TIME] [--to TIME] [-c CONFIG]\n"
    "                  [--format table|json|csv]\n"
    "\n"
    "The shift report: for the incidents opened in a period, per grade, per rule\n"
    "and per shift, the number of incidents, MTTA (mean time from opening to the\n"
    "first acknowledgement, over those acknowledged), MTTR (the same to the first\n"
    "resolution), SLA breaches and escalations. An incident counts under the grade\n"
    "it finally had (the most severe reached) and under the shift its opening\n"
    "falls in. Shifts are the config's `shifts` start times, in engine.timezone.\n"
    "\n"
    "options:\n"
    "  -d, --db FILE          the database (required)\n"
    "      --from TIME        only incidents opened at or after TIME\n"
    "      --to TIME          only incidents opened before TIME\n"
    "                         TIME is RFC 3339 (2026-02-11T06:00:00+07:00) or a\n"
    "                         date YYYY-MM-DD, meaning its midnight in engine.timezone\n"
    "  -c, --config FILE      the config for shifts, grade names and time zone\n"
    "                         (default: the embedded default config)\n"
    "  -f, --format FORMAT    table (default), json (one object) or csv (one header\n"
    "                         line, then one row per grade, rule, shift and the total)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Durations print as \"4m 30s\" or \"1h 02m\" in the table, as seconds in json\n"
    "and csv; \"-\" (null in json, empty in csv) when no incident had one.\n"
    "\n"
    "example:\n"
    "  ioc report --db var/ioc.db --from 2026-02-11 --to 2026-02-12 -c iocd.yaml\n";

enum {
    OPT_FROM = 256,
    OPT_TO,
};

enum format { FMT_TABLE, FMT_JSON, FMT_CSV };

/* What one group of incidents adds up to. */
struct agg {
    int64_t incidents;
    int64_t acked, ack_ms; /* incidents acknowledged, and their delays summed */
    int64_t resolved, res_ms;
    int64_t breaches, escalations;
};

/* One row of the grade or rule section. */
struct group {
    int grade;  /* by grade */
    char *rule; /* by rule (owned) */
    struct agg a;
};

struct groups {
    struct group *v;
    size_t n, cap;
};

struct report {
    const struct ioc_config *cfg; /* borrowed */
    struct groups grades, rules;
    struct agg *shifts; /* [cfg->n_shifts] */
    struct agg total;
    bool failed; /* out of memory while adding up */
};

/* ---- Adding up ------------------------------------------------------------ */

static void agg_add(struct agg *a, const struct ioc_report_row *r)
{
    a->incidents++;
    if (r->acked) {
        a->acked++;
        a->ack_ms += r->acked_at - r->opened;
    }
    if (r->resolved) {
        a->resolved++;
        a->res_ms += r->resolved_at - r->opened;
    }
    a->breaches += r->breached ? 1 : 0;
    a->escalations += r->escalations;
}

static struct group *group_add(struct groups *g)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        struct group *v = realloc(g->v, cap * sizeof *v);
        if (!v) {
            return NULL;
        }
        g->v = v;
        g->cap = cap;
    }
    struct group *e = &g->v[g->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static void groups_free(struct groups *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].rule);
    }
    free(g->v);
}

static struct group *grade_group(struct groups *g, int grade)
{
    for (size_t i = 0; i < g->n; i++) {
        if (g->v[i].grade == grade) {
            return &g->v[i];
        }
    }
    struct group *e = group_add(g);
    if (e) {
        e->grade = grade;
    }
    return e;
}

static struct group *rule_group(struct groups *g, const char *rule)
{
    /* A report covers tens of rules: a linear search is the simple choice. */
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->v[i].rule, rule) == 0) {
            return &g->v[i];
        }
    }
    char *copy = strdup(rule);
    struct group *e = copy ? group_add(g) : NULL;
    if (!e) {
        free(copy);
        return NULL;
    }
    e->rule = copy;
    return e;
}

/* The shift whose start is the latest at or before minute m of the day; before
 * the first start it is still the last shift, which runs past midnight. */
static size_t shift_of(const struct ioc_config *cfg, int m)
{
    size_t s = cfg->n_shifts - 1;
    for (size_t i = 0; i < cfg->n_shifts && cfg->shifts[i] <= m; i++) {
        s = i;
    }
    return s;
}

static int on_row(const struct ioc_report_row *r, void *arg)
{
    struct report *rp = arg;
    struct group *g = grade_group(&rp->grades, r->grade);
    struct group *ru = g ? rule_group(&rp->rules, r->rule ? r->rule : "") : NULL;
    if (!ru) {
        rp->failed = true;
        return 1;
    }
    agg_add(&g->a, r);
    agg_add(&ru->a, r);
    agg_add(&rp->total, r);
    if (rp->cfg->n_shifts > 0) {
        time_t t = (time_t)(r->opened >= 0 ? r->opened / 1000 : (r->opened - 999) / 1000);
        struct tm tm;
        int minute = localtime_r(&t, &tm) ? tm.tm_hour * 60 + tm.tm_min : 0;
        agg_add(&rp->shifts[shift_of(rp->cfg, minute)], r);
    }
    return 0;
}

static int by_grade(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    return (x->grade > y->grade) - (x->grade < y->grade);
}

/* The busiest rules first: that is what a manager looks for. */
static int by_count(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->a.incidents != y->a.incidents) {
        return x->a.incidents < y->a.incidents ? 1 : -1;
    }
    return strcmp(x->rule, y->rule);
}

/* ---- Figures as text -------------------------------------------------------- */

/* The mean of sum_ms over n, rounded to the millisecond, in seconds; false
 * when there is nothing to average. */
static bool mean_s(int64_t sum_ms, int64_t n, double *out)
{
    if (n <= 0) {
        return false;
    }
    *out = (double)llround((double)sum_ms / (double)n) / 1000.0;
    return true;
}

/* Two units at most, as a board shows a duration: "45s", "4m 30s", "1h 02m",
 * "2d 03h"; "-" when there is none. */
static char *duration_text(int64_t sum_ms, int64_t n, char *buf, size_t len)
{
    double s;
    if (!mean_s(sum_ms, n, &s)) {
        snprintf(buf, len, "-");
        return buf;
    }
    long long v = llround(s);
    const char *sign = v < 0 ? "-" : "";
    v = llabs(v);
    if (v < 60) {
        snprintf(buf, len, "%s%llds", sign, v);
    } else if (v < 3600) {
        snprintf(buf, len, "%s%lldm %02llds", sign, v / 60, v % 60);
    } else if (v < 86400) {
        snprintf(buf, len, "%s%lldh %02lldm", sign, v / 3600, v % 3600 / 60);
    } else {
        snprintf(buf, len, "%s%lldd %02lldh", sign, v / 86400, v % 86400 / 3600);
    }
    return buf;
}

/* Seconds as the shortest text that reads back the same: 270, 0.5, 490.167. */
static char *seconds_text(int64_t sum_ms, int64_t n, char *buf, size_t len)
{
    double s;
    if (!mean_s(sum_ms, n, &s)) {
        buf[0] = '\0';
    } else {
        snprintf(buf, len, "%.15g", s);
    }
    return buf;
}

static char *hhmm(int minutes, char *buf, size_t len)
{
    snprintf(buf, len, "%02d:%02d", minutes / 60, minutes % 60);
    return buf;
}

/* "06:00-14:00": a shift is named by its start and the next shift's start. */
static char *shift_name(const struct ioc_config *cfg, size_t i, char *buf, size_t len)
{
    char a[16], b[16];
    snprintf(buf, len, "%s-%s", hhmm(cfg->shifts[i], a, sizeof a),
             hhmm(cfg->shifts[(i + 1) % cfg->n_shifts], b, sizeof b));
    return buf;
}

static const char *grade_name(const struct ioc_config *cfg, int grade)
{
    return grade >= 1 && grade <= 4 && cfg->grades[grade].name ? cfg->grades[grade].name : NULL;
}

/* ---- Rows ----------------------------------------------------------------- */

enum section { SEC_GRADE, SEC_RULE, SEC_SHIFT, SEC_TOTAL, SEC_N };

static const char *const section_names[SEC_N] = {"grade", "rule", "shift", "total"};
static const char *const section_titles[SEC_N] = {"BY GRADE", "BY RULE", "BY SHIFT", "TOTAL"};

static size_t section_rows(const struct report *rp, enum section s)
{
    switch (s) {
    case SEC_GRADE:
        return rp->grades.n;
    case SEC_RULE:
        return rp->rules.n;
    case SEC_SHIFT:
        return rp->cfg->n_shifts;
    default:
        return 1;
    }
}

/* Row i of section s: its figures, and its label for the table and csv. */
static const struct agg *row_at(const struct report *rp, enum section s, size_t i, char *label,
                                size_t len)
{
    switch (s) {
    case SEC_GRADE: {
        const struct group *g = &rp->grades.v[i];
        const char *name = grade_name(rp->cfg, g->grade);
        snprintf(label, len, "%d%s%s", g->grade, name ? " " : "", name ? name : "");
        return &g->a;
    }
    case SEC_RULE:
        snprintf(label, len, "%s", rp->rules.v[i].rule);
        return &rp->rules.v[i].a;
    case SEC_SHIFT:
        shift_name(rp->cfg, i, label, len);
        return &rp->shifts[i];
    default:
        label[0] = '\0';
        return &rp->total;
    }
}

/* ---- Table ---------------------------------------------------------------- */

enum col { C_INC, C_ACKED, C_MTTA, C_RESOLVED, C_MTTR, C_BREACH, C_ESC, C_N };

static const char *const col_names[C_N] = {"INCIDENTS", "ACKED",        "MTTA",       "RESOLVED",
                                           "MTTR",      "SLA BREACHES", "ESCALATIONS"};
/* A long rule id is cut, so the figures stay on one screen. */
#define LABEL_MAX_COLS 40

static void agg_cells(const struct agg *a, char cell[C_N][24])
{
    snprintf(cell[C_INC], 24, "%lld", (long long)a->incidents);
    snprintf(cell[C_ACKED], 24, "%lld", (long long)a->acked);
    duration_text(a->ack_ms, a->acked, cell[C_MTTA], 24);
    snprintf(cell[C_RESOLVED], 24, "%lld", (long long)a->resolved);
    duration_text(a->res_ms, a->resolved, cell[C_MTTR], 24);
    snprintf(cell[C_BREACH], 24, "%lld", (long long)a->breaches);
    snprintf(cell[C_ESC], 24, "%lld", (long long)a->escalations);
}

static void put_row(const char *label, int label_w, char cell[C_N][24], const int *w)
{
    cli_put_cell(stdout, label, label_w, label_w);
    for (int c = 0; c < C_N; c++) {
        /* Figures align right, under the end of their heading. */
        printf("  %*s", w[c], cell[c]);
    }
    putchar('\n');
}

static void print_table(const struct report *rp, int64_t from, int64_t to)
{
    char label[256], cell[C_N][24], a[40], b[40];
    const char *tz = rp->cfg->engine.timezone;
    if (from == INT64_MIN && to == INT64_MAX) {
        printf("Incidents: all recorded (times in %s)\n", tz);
    } else if (to == INT64_MAX) {
        cli_local_time(from, a, sizeof a);
        printf("Incidents opened from %s (%s)\n", a, tz);
    } else if (from == INT64_MIN) {
        cli_local_time(to, b, sizeof b);
        printf("Incidents opened before %s (%s)\n", b, tz);
    } else {
        cli_local_time(from, a, sizeof a);
        cli_local_time(to, b, sizeof b);
        printf("Incidents opened from %s to %s (%s)\n", a, b, tz);
    }

    /* One set of widths for every section, so the figures line up down the
     * whole report. */
    int label_w = 0, w[C_N];
    for (int c = 0; c < C_N; c++) {
        w[c] = (int)strlen(col_names[c]);
    }
    for (int s = 0; s < SEC_N; s++) {
        int tw = cli_text_width(section_titles[s]);
        label_w = tw > label_w ? tw : label_w;
        for (size_t i = 0; i < section_rows(rp, s); i++) {
            agg_cells(row_at(rp, s, i, label, sizeof label), cell);
            int lw = cli_text_width(label);
            label_w = lw > label_w ? lw : label_w;
            for (int c = 0; c < C_N; c++) {
                int cw = (int)strlen(cell[c]);
                w[c] = cw > w[c] ? cw : w[c];
            }
        }
    }
    if (label_w > LABEL_MAX_COLS) {
        label_w = LABEL_MAX_COLS;
    }

    for (int s = 0; s < SEC_TOTAL; s++) {
        putchar('\n');
        cli_put_cell(stdout, section_titles[s], label_w, label_w);
        for (int c = 0; c < C_N; c++) {
            printf("  %*s", w[c], col_names[c]);
        }
        putchar('\n');
        if (section_rows(rp, s) == 0) {
            printf("%s\n", s == SEC_SHIFT ? "(no shifts configured)" : "(no incidents)");
        }
        for (size_t i = 0; i < section_rows(rp, s); i++) {
            agg_cells(row_at(rp, s, i, label, sizeof label), cell);
            put_row(label, label_w, cell, w);
        }
    }
    putchar('\n');
    agg_cells(&rp->total, cell);
    put_row(section_titles[SEC_TOTAL], label_w, cell, w);
}

/* ---- JSON ----------------------------------------------------------------- */

static void add_seconds(cJSON *o, const char *name, int64_t sum_ms, int64_t n)
{
    double s;
    if (mean_s(sum_ms, n, &s)) {
        cJSON_AddNumberToObject(o, name, s);
    } else {
        cJSON_AddNullToObject(o, name);
    }
}

static void add_agg(cJSON *o, const struct agg *a)
{
    cJSON_AddNumberToObject(o, "incidents", (double)a->incidents);
    cJSON_AddNumberToObject(o, "acknowledged", (double)a->acked);
    add_seconds(o, "mtta_s", a->ack_ms, a->acked);
    cJSON_AddNumberToObject(o, "resolved", (double)a->resolved);
    add_seconds(o, "mttr_s", a->res_ms, a->resolved);
    cJSON_AddNumberToObject(o, "sla_breaches", (double)a->breaches);
    cJSON_AddNumberToObject(o, "escalations", (double)a->escalations);
}

static void add_when(cJSON *o, const char *name, int64_t ms, bool bounded)
{
    char buf[48];
    if (bounded) {
        cJSON_AddStringToObject(o, name, ioc_time_format(ms, buf, sizeof buf));
    } else {
        cJSON_AddNullToObject(o, name);
    }
}

/* 0, or -1 when out of memory. cJSON's Add* functions tolerate a NULL parent,
 * so one check of the printed text catches any failure on the way. */
static int print_json(const struct report *rp, int64_t from, int64_t to)
{
    const struct ioc_config *cfg = rp->cfg;
    char name[40], a[16], b[16];
    cJSON *o = cJSON_CreateObject();
    add_when(o, "from", from, from != INT64_MIN);
    add_when(o, "to", to, to != INT64_MAX);
    cJSON_AddStringToObject(o, "timezone", cfg->engine.timezone);

    cJSON *arr = cJSON_AddArrayToObject(o, "by_grade");
    for (size_t i = 0; i < rp->grades.n; i++) {
        const struct group *g = &rp->grades.v[i];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, r);
        cJSON_AddNumberToObject(r, "grade", g->grade);
        const char *gn = grade_name(cfg, g->grade);
        if (gn) {
            cJSON_AddStringToObject(r, "name", gn);
        } else {
            cJSON_AddNullToObject(r, "name");
        }
        add_agg(r, &g->a);
    }
    arr = cJSON_AddArrayToObject(o, "by_rule");
    for (size_t i = 0; i < rp->rules.n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, r);
        cJSON_AddStringToObject(r, "rule", rp->rules.v[i].rule);
        add_agg(r, &rp->rules.v[i].a);
    }
    arr = cJSON_AddArrayToObject(o, "by_shift");
    for (size_t i = 0; i < cfg->n_shifts; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, r);
        cJSON_AddStringToObject(r, "shift", shift_name(cfg, i, name, sizeof name));
        cJSON_AddStringToObject(r, "start", hhmm(cfg->shifts[i], a, sizeof a));
        cJSON_AddStringToObject(r, "end", hhmm(cfg->shifts[(i + 1) % cfg->n_shifts], b, sizeof b));
        add_agg(r, &rp->shifts[i]);
    }
    cJSON *total = cJSON_AddObjectToObject(o, "total");
    add_agg(total, &rp->total);

    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        return -1;
    }
    puts(text);
    cJSON_free(text);
    return 0;
}

/* ---- CSV ------------------------------------------------------------------ */

/* RFC 4180: quoted only when it must be. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') {
            putchar('"');
        }
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const struct report *rp)
{
    char label[256], ack[32], res[32];
    puts("section,key,incidents,acknowledged,mtta_s,resolved,mttr_s,sla_breaches,escalations");
    for (int s = 0; s < SEC_N; s++) {
        for (size_t i = 0; i < section_rows(rp, s); i++) {
            const struct agg *a = row_at(rp, s, i, label, sizeof label);
            /* The grade's key is its number alone, for scripts to match on. */
            if (s == SEC_GRADE) {
                snprintf(label, sizeof label, "%d", rp->grades.v[i].grade);
            }
            printf("%s,", section_names[s]);
            csv_field(label);
            printf(",%lld,%lld,%s,%lld,%s,%lld,%lld\n", (long long)a->incidents,
                   (long long)a->acked, seconds_text(a->ack_ms, a->acked, ack, sizeof ack),
                   (long long)a->resolved, seconds_text(a->res_ms, a->resolved, res, sizeof res),
                   (long long)a->breaches, (long long)a->escalations);
        }
    }
}

/* ---- Options ---------------------------------------------------------------- */

/* A --from/--to value: RFC 3339, or a date whose local midnight is meant. The
 * date is only checked here and turned into a time once the config's zone is
 * in effect. */
struct when {
    const char *text; /* NULL: no bound */
    bool is_date;
    struct tm tm; /* the date, when is_date */
    int64_t ms;   /* the time, when not */
};

static int when_parse(struct when *w, const char *s)
{
    memset(w, 0, sizeof *w);
    w->text = s;
    if (ioc_time_parse(s, &w->ms) == 0) {
        return 0;
    }
    int y, m, d, used = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10 ||
        s[4] != '-' || s[7] != '-') {
        return -1;
    }
    /* timegm normalises 2026-02-30 into March: a date that does not come
     * back unchanged does not exist. */
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != d) {
        return -1;
    }
    w->is_date = true;
    w->tm = (struct tm){.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
    return 0;
}

/* The bound in ms in the process's zone, or dflt when there is none. */
static int64_t when_ms(const struct when *w, int64_t dflt)
{
    if (!w->text) {
        return dflt;
    }
    if (!w->is_date) {
        return w->ms;
    }
    struct tm tm = w->tm;
    return (int64_t)mktime(&tm) * 1000;
}

int cli_cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *config = NULL;
    struct when from = {0}, to = {0};
    enum format fmt = FMT_TABLE;
    struct report rp = {0};
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    int c, rc;

    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":d:c:f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0) {
                fmt = FMT_TABLE;
            } else if (strcmp(optarg, "json") == 0) {
                fmt = FMT_JSON;
            } else if (strcmp(optarg, "csv") == 0) {
                fmt = FMT_CSV;
            } else {
                return cli_usage_error("report", "--format is table, json or csv, not '%s'",
                                       optarg);
            }
            break;
        case OPT_FROM:
        case OPT_TO:
            if (when_parse(c == OPT_FROM ? &from : &to, optarg) != 0) {
                return cli_usage_error("report",
                                       "--%s takes an RFC 3339 time or a date YYYY-MM-DD, not '%s'",
                                       c == OPT_FROM ? "from" : "to", optarg);
            }
            break;
        case 'h':
            fputs(report_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("report", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error("report", "unexpected argument '%s'", argv[optind]);
    }
    if (!db) {
        return cli_usage_error("report", "--db FILE is required");
    }

    ioc_diag_init(&diag);
    rc = ioc_config_load(config, &cfg, &diag);
    if (rc != 0) {
        ioc_diag_print(&diag, stderr);
        rc = cli_fail("report", "cannot load the configuration %s",
                      config ? config : "(embedded default)");
        goto done;
    }
    rp.cfg = cfg;
    /* Shifts and dates mean the config's zone, whatever the shell's is. */
    if (cfg->engine.timezone && cfg->engine.timezone[0]) {
        setenv("TZ", cfg->engine.timezone, 1);
    }
    tzset();
    int64_t t_from = when_ms(&from, INT64_MIN), t_to = when_ms(&to, INT64_MAX);
    if (t_from >= t_to) {
        rc = cli_usage_error("report", "--from %s is not before --to %s", from.text, to.text);
        goto done;
    }
    /* Checked before SQLite sees the path, which would create an empty
     * database where a typo was meant. */
    struct stat sb;
    if (stat(db, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = cli_fail("report", "no database at %s", db);
        goto done;
    }

    if (cfg->n_shifts > 0 && !(rp.shifts = calloc(cfg->n_shifts, sizeof *rp.shifts))) {
        rc = cli_fail("report", "out of memory");
        goto done;
    }
    /* Every configured grade has a row, an empty one too: a quiet grade is
     * news to a manager, not a gap in the table. */
    for (int g = 1; g <= 4; g++) {
        if (grade_name(cfg, g) && !grade_group(&rp.grades, g)) {
            rc = cli_fail("report", "out of memory");
            goto done;
        }
    }

    char err[256] = "";
    rc = ioc_db_report(db, t_from, t_to, on_row, &rp, err, sizeof err);
    if (rc == IOC_ENOENT) {
        rc = cli_fail("report", "no database at %s", db);
        goto done;
    }
    if (rc != 0) {
        /* The store's message usually names the file already. */
        if (err[0] && strstr(err, db)) {
            rc = cli_fail("report", "%s", err);
        } else {
            rc = cli_fail("report", "%s: %s", db, err[0] ? err : ioc_strerror(rc));
        }
        goto done;
    }
    if (rp.failed) {
        rc = cli_fail("report", "out of memory");
        goto done;
    }
    /* qsort wants a non-NULL base even for no elements. */
    if (rp.grades.n > 1) {
        qsort(rp.grades.v, rp.grades.n, sizeof *rp.grades.v, by_grade);
    }
    if (rp.rules.n > 1) {
        qsort(rp.rules.v, rp.rules.n, sizeof *rp.rules.v, by_count);
    }

    switch (fmt) {
    case FMT_JSON:
        if (print_json(&rp, t_from, t_to) != 0) {
            rc = cli_fail("report", "out of memory");
            goto done;
        }
        break;
    case FMT_CSV:
        print_csv(&rp);
        break;
    default:
        print_table(&rp, t_from, t_to);
        break;
    }
    if (fflush(stdout) != 0) {
        rc = cli_fail("report", "writing the output: %s", strerror(errno));
        goto done;
    }
    rc = CLI_OK;

done:
    groups_free(&rp.grades);
    groups_free(&rp.rules);
    free(rp.shifts);
    ioc_config_free(cfg);
    ioc_diag_close(&diag);
    return rc;
}
