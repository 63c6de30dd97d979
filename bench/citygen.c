/*
 * citygen.c — a synthetic city event stream for demos, replay tests and stress.
 *
 * DESIGN
 *
 * citygen writes JSON lines in the event format of DESIGN §4, in
 * non-decreasing event time, as a Bangkok-like city would produce them:
 * water-level gauges and DMA pressure meters reporting on a fixed interval,
 * CCTV analytics emitting mostly low-confidence noise and the odd camera
 * going offline, and citizen complaints (often in Thai) arriving through the
 * app, Traffy Fondue, LINE and the phone, busier by day than by night.
 *
 * The output is a merge of many independent streams: one per sensor, one per
 * camera, one for background complaints, one for the scripted incidents of
 * --scenarios and one for the deliberately bad lines of --bad. Each stream
 * knows only its own next event time; a binary min-heap over (time, stream
 * index) picks the earliest, so memory is O(streams), not O(events), and the
 * program can stream millions of events straight to stdout. Equal times break
 * on the stream index, which keeps the order deterministic.
 *
 * Determinism: every stream draws from its own splitmix64 generator derived
 * from --seed and the stream's identity, so the same options give the same
 * bytes, and adding a camera does not change what the sensors say. rand() is
 * never used. (Values pass through libm's sin/log; they are rounded to two
 * decimals, so libm differences practically never show.)
 *
 * Scenarios are planned once at start-up (zones and times drawn from the
 * seed), then played by the streams: the flood and burst-main scenarios bend
 * the readings of the affected sensors, the silent-sensor scenario suppresses
 * readings, and the complaint and CCTV parts are a short time-sorted script.
 * The ground truth (--ground-truth) is written when the event that should
 * make a rule reach its grade is actually emitted, so it always agrees with
 * the stream, even when --hours or --events cuts a scenario short. Truth
 * lines mean: by time "at", an incident of "rule" with "key" exists with a
 * grade at least as severe as "grade". The grade thresholds used here mirror
 * the shipped rule files (rules/flood.yaml and friends); change both together.
 *
 * All state lives in struct gen; there is no global mutable state.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_S INT64_C(1000)
#define MS_PER_MIN (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_MIN)
#define MS_PER_DAY (24 * MS_PER_H)
/* The city's clock: every timestamp is printed in Asia/Bangkok (+07:00). */
#define CITY_OFFSET_MS (7 * MS_PER_H)
#define NEVER INT64_MAX

#define EXIT_USAGE 2
#define LINE_BYTES 4096
#define MAX_SCRIPT 128
#define MAX_TRUTH 32
#define PI 3.14159265358979323846

/* Zones the drainage department treats as low-lying (along the river and the
 * big canals). Mirrors the low_lying_zones list in rules/flood.yaml. */
static const char *const LOW_LYING_ZONES[] = {"Z02", "Z03", "Z05", "Z08", "Z11"};

/* ---- Pseudo-random numbers -------------------------------------------------
 * splitmix64: tiny, fast, good enough statistically for synthetic data, and
 * trivially seeded per stream. */

struct rng {
    uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r)
{
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(r->s);
}

/* A generator for one stream: the stream's kind and index pick its sequence. */
static struct rng rng_for(uint64_t seed, uint64_t kind, uint64_t index)
{
    struct rng r = {mix64(seed ^ mix64((kind << 32) ^ index ^ UINT64_C(0x5ca1ab1e)))};
    return r;
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_range(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(r);
}

/* Uniform in [0, n); the modulo bias is far below anything that matters here. */
static size_t rng_below(struct rng *r, size_t n)
{
    return n ? (size_t)(rng_next(r) % n) : 0;
}

/* Standard normal, Box-Muller (one of the pair is thrown away for simplicity). */
static double rng_normal(struct rng *r)
{
    double u1 = 1.0 - rng_unit(r); /* (0, 1]: log() stays finite */
    double u2 = rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

/* Exponential gap with the given mean, at least 1 ms so every stream advances. */
static int64_t rng_gap_ms(struct rng *r, double mean_ms)
{
    double g = -log(1.0 - rng_unit(r)) * mean_ms;
    if (g < 1.0) {
        return 1;
    }
    if (g > 1e15) {
        return INT64_C(1000000000000000);
    }
    return (int64_t)g;
}

/* Picks an index with probability proportional to weights[i]. */
static size_t rng_weighted(struct rng *r, const unsigned *weights, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++) {
        total += weights[i];
    }
    unsigned x = (unsigned)rng_below(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < weights[i]) {
            return i;
        }
        x -= weights[i];
    }
    return n - 1;
}

/* ---- Time ------------------------------------------------------------------
 * Civil-date arithmetic on the proleptic Gregorian calendar, done by hand so
 * the program depends neither on TZ nor on timegm(). */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    /* Count years from March so the leap day is the last day of the year. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (m + 9) % 12; /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* RFC 3339 in city time; milliseconds only when there are any. */
static void format_ts(int64_t ms, char *buf, size_t n)
{
    int64_t local = ms + CITY_OFFSET_MS;
    int64_t days = floor_div(local, MS_PER_DAY);
    int64_t rest = local - days * MS_PER_DAY;
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    int hh = (int)(rest / MS_PER_H);
    int mi = (int)(rest / MS_PER_MIN % 60);
    int ss = (int)(rest / MS_PER_S % 60);
    int frac = (int)(rest % MS_PER_S);
    if (frac != 0) {
        snprintf(buf, n, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03d+07:00", y, mo, d, hh, mi, ss,
                 frac);
    } else {
        snprintf(buf, n, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d+07:00", y, mo, d, hh, mi, ss);
    }
}

/* Reads exactly n digits; false if any is not a digit. */
static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Parses YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM) into ms since the epoch. */
static bool parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, hh, mi, ss, frac_ms = 0;
    const char *p = s;
    if (!take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) || *p++ != '-' ||
        !take_digits(&p, 2, &d) || (*p != 'T' && *p != 't')) {
        return false;
    }
    p++;
    if (!take_digits(&p, 2, &hh) || *p++ != ':' || !take_digits(&p, 2, &mi) || *p++ != ':' ||
        !take_digits(&p, 2, &ss)) {
        return false;
    }
    if (*p == '.') {
        p++;
        int scale = 100, ndig = 0;
        while (*p >= '0' && *p <= '9') {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
            p++;
            ndig++;
        }
        if (ndig == 0) {
            return false;
        }
    }
    int64_t off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!take_digits(&p, 2, &oh) || *p++ != ':' || !take_digits(&p, 2, &om) || oh > 23 ||
            om > 59) {
            return false;
        }
        off_min = sign * (oh * 60 + om);
    } else {
        return false;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || hh > 23 || mi > 59 || ss > 60) {
        return false;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) {
        return false;
    }
    int64_t days = days_from_civil(y, mo, d);
    *out = days * MS_PER_DAY + hh * MS_PER_H + mi * MS_PER_MIN + ss * MS_PER_S + frac_ms -
           off_min * MS_PER_MIN;
    return true;
}

/* Local hour of day (0..23) in city time. */
static int city_hour(int64_t ms)
{
    int64_t local = ms + CITY_OFFSET_MS;
    return (int)((local - floor_div(local, MS_PER_DAY) * MS_PER_DAY) / MS_PER_H);
}

/* ---- Output line -----------------------------------------------------------
 * One line is built in a fixed buffer and written with one fwrite, so the
 * hot path allocates nothing. Only our own bounded strings go in; a line that
 * would not fit is a bug, and is reported rather than cut. */

struct line {
    char buf[LINE_BYTES];
    size_t len;
    bool overflow;
};

static void line_reset(struct line *l)
{
    l->len = 0;
    l->overflow = false;
}

static void line_put(struct line *l, const char *s, size_t n)
{
    if (l->overflow || n > sizeof l->buf - 1 - l->len) {
        l->overflow = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
    line_put(l, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void line_printf(struct line *l, const char *fmt, ...)
{
    if (l->overflow) {
        return;
    }
    size_t room = sizeof l->buf - l->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        l->overflow = true;
        return;
    }
    l->len += (size_t)n;
}

/* A JSON string with quotes. UTF-8 passes through as is (JSON allows it);
 * quote, backslash and control characters are escaped. */
static void line_jstr(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    line_put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            line_put(l, esc, 2);
        } else if (c == '\n') {
            line_put(l, "\\n", 2);
        } else if (c == '\t') {
            line_put(l, "\\t", 2);
        } else if (c == '\r') {
            line_put(l, "\\r", 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            line_put(l, esc, 6);
        } else {
            line_put(l, (const char *)p, 1);
        }
    }
    line_put(l, "\"", 1);
}

/* ---- Options ---------------------------------------------------------------- */

struct opts {
    uint64_t seed;
    long zones;
    int64_t start_ms;
    double hours;
    long flood_sensors, pressure_sensors, cameras;
    double interval_s;
    double complaints_per_day;
    double cctv_per_day;
    double rate_scale;
    uint64_t events; /* 0: no limit, stop at --hours */
    long bad;
    bool scenarios;
    bool quiet;
    const char *out_path;
    const char *truth_path;
};

static void usage(FILE *f)
{
    fputs("usage: citygen [options]\n"
          "\n"
          "Writes a synthetic city event stream as JSON lines (DESIGN §4), in\n"
          "non-decreasing event time, deterministic for a given --seed.\n"
          "\n"
          "  --seed N                 generator seed (default 1)\n"
          "  --zones N                zones Z01..ZNN, 1..999 (default 12)\n"
          "  --start TIME             RFC 3339 start (default 2026-02-11T00:00:00+07:00);\n"
          "                           output is always in city time, +07:00\n"
          "  --hours H                length of the day(s) to generate (default 24)\n"
          "  --flood-sensors N        water-level gauges per zone, FL-Zzz-nn (default 2)\n"
          "  --pressure-sensors N     DMA pressure meters per zone, PR-Zzz-nn (default 1)\n"
          "  --cameras N              CCTV cameras per zone, CAM-Zzz-nn (default 2)\n"
          "  --interval SECONDS       sensor reading interval (default 60)\n"
          "  --complaints-per-day N   background citizen complaints, whole city (default 300)\n"
          "  --cctv-per-day N         background analytics detections per camera (default 24)\n"
          "  --scenarios              inject incidents: flood, burst main, smoke then fire\n"
          "                           complaint, silent sensor, power-outage cluster\n"
          "                           (needs --hours >= 12)\n"
          "  --ground-truth FILE      write one JSON line per expected incident of the\n"
          "                           scenarios: {scenario, rule, key, zone, at, grade}\n"
          "  --bad N                  add N bad lines, cycling: invalid JSON, schema\n"
          "                           failure (value as a string), unknown source\n"
          "  --rate-scale F           multiply every rate (readings, detections,\n"
          "                           complaints) by F, for stress (default 1)\n"
          "  --events N               stop after N lines; runs past --hours if needed\n"
          "  -o, --output FILE        write to FILE instead of standard output\n"
          "  -q, --quiet              no summary line on standard error\n"
          "  -h, --help               this help\n"
          "\n"
          "Exit status: 0 on success, 1 on an I/O error, 2 on a usage error.\n",
          f);
}

__attribute__((format(printf, 1, 2))) static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("citygen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\ntry 'citygen --help'\n", stderr);
}

static bool parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        usage_error("%s: expected an integer from %ld to %ld, got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        usage_error("%s: expected a non-negative integer, got '%s'", opt, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        usage_error("%s: expected a number from %g to %g, got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error (already reported). */
static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){
        .seed = 1,
        .zones = 12,
        .hours = 24,
        .flood_sensors = 2,
        .pressure_sensors = 1,
        .cameras = 2,
        .interval_s = 60,
        .complaints_per_day = 300,
        .cctv_per_day = 24,
        .rate_scale = 1,
    };
    if (!parse_rfc3339("2026-02-11T00:00:00+07:00", &o->start_ms)) {
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--scenarios") == 0) {
            o->scenarios = true;
            continue;
        }
        if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        /* Every other option takes a value: "--opt VALUE" or "--opt=VALUE". */
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) == 0 && eq != NULL) {
            size_t n = (size_t)(eq - arg);
            if (n >= sizeof name) {
                usage_error("unknown option '%s'", arg);
                return -1;
            }
            memcpy(name, arg, n);
            name[n] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", arg);
        }
        static const char *const valued[] = {
            "--seed",         "--zones",         "--start",
            "--hours",        "--flood-sensors", "--pressure-sensors",
            "--cameras",      "--interval",      "--complaints-per-day",
            "--cctv-per-day", "--rate-scale",    "--events",
            "--bad",          "--ground-truth",  "-o",
            "--output",
        };
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
            known = known || strcmp(name, valued[k]) == 0;
        }
        if (!known) {
            usage_error("unknown option '%s'", arg);
            return -1;
        }
        if (val == NULL) {
            if (i + 1 >= argc) {
                usage_error("%s needs a value", name);
                return -1;
            }
            val = argv[++i];
        }
        bool ok = true;
        if (strcmp(name, "--seed") == 0) {
            ok = parse_u64(name, val, &o->seed);
        } else if (strcmp(name, "--zones") == 0) {
            ok = parse_long(name, val, 1, 999, &o->zones);
        } else if (strcmp(name, "--start") == 0) {
            ok = parse_rfc3339(val, &o->start_ms);
            if (!ok) {
                usage_error("--start: expected RFC 3339 with an offset, e.g. "
                            "2026-02-11T00:00:00+07:00, got '%s'",
                            val);
            }
        } else if (strcmp(name, "--hours") == 0) {
            ok = parse_num(name, val, 0.001, 24.0 * 3660, &o->hours);
        } else if (strcmp(name, "--flood-sensors") == 0) {
            ok = parse_long(name, val, 0, 99, &o->flood_sensors);
        } else if (strcmp(name, "--pressure-sensors") == 0) {
            ok = parse_long(name, val, 0, 99, &o->pressure_sensors);
        } else if (strcmp(name, "--cameras") == 0) {
            ok = parse_long(name, val, 0, 99, &o->cameras);
        } else if (strcmp(name, "--interval") == 0) {
            ok = parse_num(name, val, 0.001, 86400, &o->interval_s);
        } else if (strcmp(name, "--complaints-per-day") == 0) {
            ok = parse_num(name, val, 0, 1e9, &o->complaints_per_day);
        } else if (strcmp(name, "--cctv-per-day") == 0) {
            ok = parse_num(name, val, 0, 1e9, &o->cctv_per_day);
        } else if (strcmp(name, "--rate-scale") == 0) {
            ok = parse_num(name, val, 1e-6, 1e6, &o->rate_scale);
        } else if (strcmp(name, "--events") == 0) {
            ok = parse_u64(name, val, &o->events);
        } else if (strcmp(name, "--bad") == 0) {
            ok = parse_long(name, val, 0, 1000000, &o->bad);
        } else if (strcmp(name, "--ground-truth") == 0) {
            o->truth_path = val;
        } else {
            o->out_path = val;
        }
        if (!ok) {
            return -1;
        }
    }
    if (o->scenarios && o->hours < 12) {
        usage_error("--scenarios needs --hours of at least 12 (got %g): the incidents "
                    "take hours to unfold",
                    o->hours);
        return -1;
    }
    if (o->truth_path != NULL && !o->scenarios) {
        usage_error("--ground-truth needs --scenarios: without them there is nothing to expect");
        return -1;
    }
    return 0;
}

/* ---- The city ------------------------------------------------------------- */

struct zone {
    char id[16];
    double lat, lon; /* centre */
    bool low_lying;
};

enum sensor_kind { SENSOR_LEVEL, SENSOR_PRESSURE };

/* How a scenario bends one sensor's readings. */
enum overlay {
    OV_NONE,
    OV_FLOOD_MAIN, /* rises to 2.75 m: every flood.level band */
    OV_FLOOD_SIDE, /* rises to 1.75 m: grade 3 only */
    OV_BURST_MAIN, /* falls to ~0.35 bar: grade 1 */
    OV_BURST_SIDE, /* falls to ~1.25 bar: grade 3 */
};

struct sensor {
    enum sensor_kind kind;
    size_t zone;
    char device[40];
    double lat, lon;
    double base;  /* the sensor's own normal level */
    double noise; /* AR(1) state, so readings wander rather than jump */
    double tide_phase;
    int64_t next;
    int64_t last_emitted; /* NEVER until the first reading */
    struct rng rng;
    enum overlay overlay;
    bool silent_target;
    int truth; /* truth written when the overlay reaches its grade, or -1 */
};

struct camera {
    size_t zone;
    char device[40];
    double lat, lon;
    struct rng rng;
    int64_t next_detection;
    int64_t next_toggle; /* next offline/online change; NEVER for the scenario camera */
    bool offline;
};

/* One event of the scenario script (complaints and CCTV detections). */
struct scripted {
    int64_t ts;
    bool cctv; /* else a complaint */
    const char *type;
    size_t zone;
    const char *device; /* cctv: borrows the camera's id */
    double lat, lon;
    double score;
    const char *text;
    int depth_cm; /* > 0: attrs.depth_cm */
    size_t seq;   /* insertion order: breaks ties in time */
    int truth[2]; /* truths this event makes true, or -1 */
};

/* One expected incident; written with "at" when its event is emitted. */
struct truth {
    const char *scenario;
    const char *rule;
    const char *key_field;
    char key_value[40];
    size_t zone;
    int grade;
    int64_t at_delay; /* added to the event time (sensor.silent: 15 min after the last reading) */
    bool written;
};

struct plan {
    size_t flood_zone, burst_zone, smoke_zone, silent_zone, power_zone;
    int64_t flood_t0, burst_t0, smoke_t0, silent_from, silent_to, power_t0;
};

struct complaint_stream {
    struct rng rng;
    double mean_gap_ms; /* at the busiest hour (thinning, see complaints_step) */
    double accept[24];  /* per city hour: probability a candidate is kept */
    int64_t next;
};

enum { SRC_SENSOR, SRC_CCTV, SRC_COMPLAINT, SRC__COUNT };

struct heap_item {
    int64_t ts;
    uint32_t stream;
};

struct gen {
    struct opts o;
    FILE *out;
    FILE *truth_out;
    int64_t start, end; /* end: NEVER with --events */
    int64_t span;       /* --hours in ms: scenarios and bad lines are placed in it */
    int64_t interval_ms;

    struct zone *zones;
    size_t nzones;
    struct sensor *sensors;
    size_t nsensors;
    struct camera *cams;
    size_t ncams;
    struct complaint_stream complaints;

    struct plan plan;
    struct scripted script[MAX_SCRIPT];
    size_t nscript, script_pos;
    struct truth truths[MAX_TRUTH];
    size_t ntruths;

    long bad_done;

    /* Streams: sensors, then cameras, then these three. */
    uint32_t id_complaints, id_script, id_bad;
    struct heap_item *heap;
    size_t nheap;

    uint64_t ids[SRC__COUNT]; /* per-source id counters */
    uint64_t counts[SRC__COUNT];
    uint64_t lines, bad_lines;
    int64_t first_ts, last_ts;
    uint64_t ticket;
    struct line line;
    char outbuf[1 << 20]; /* stdio buffer for the output: big writes, few syscalls */
};

/* ---- Heap of stream due times ------------------------------------------- */

static bool heap_less(struct heap_item a, struct heap_item b)
{
    return a.ts < b.ts || (a.ts == b.ts && a.stream < b.stream);
}

static void heap_push(struct gen *g, int64_t ts, uint32_t stream)
{
    size_t i = g->nheap++;
    g->heap[i] = (struct heap_item){ts, stream};
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(g->heap[i], g->heap[parent])) {
            break;
        }
        struct heap_item t = g->heap[i];
        g->heap[i] = g->heap[parent];
        g->heap[parent] = t;
        i = parent;
    }
}

static struct heap_item heap_pop(struct gen *g)
{
    struct heap_item top = g->heap[0];
    g->heap[0] = g->heap[--g->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < g->nheap && heap_less(g->heap[l], g->heap[m])) {
            m = l;
        }
        if (r < g->nheap && heap_less(g->heap[r], g->heap[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        struct heap_item t = g->heap[i];
        g->heap[i] = g->heap[m];
        g->heap[m] = t;
        i = m;
    }
    return top;
}

/* ---- Writing events and truth --------------------------------------------- */

/* An event as the writer sees it; NULL / false members are left out. */
struct event {
    int src;
    const char *type;
    int64_t ts;
    const char *device;
    const struct zone *zone;
    bool has_loc;
    double lat, lon;
    bool has_value;
    double value;
    const char *unit;
    bool has_score;
    double score;
    const char *channel;
    const char *text;
    const char *ticket; /* attrs.ticket */
    int depth_cm;       /* attrs.depth_cm when > 0 */
    const char *reason; /* attrs.reason */
};

static void emit_line(struct gen *g)
{
    if (g->line.overflow) {
        /* Our own strings are bounded; getting here is a programming error. */
        fprintf(stderr, "citygen: internal error: an event exceeded %d bytes\n", LINE_BYTES);
        exit(1);
    }
    g->line.buf[g->line.len++] = '\n';
    fwrite(g->line.buf, 1, g->line.len, g->out);
    g->lines++;
}

static void emit_event(struct gen *g, const struct event *e)
{
    static const char *const source_names[] = {"sensor", "cctv", "complaint"};
    static const char *const id_prefix[] = {"sen", "cctv", "cmp"};
    char ts[40];
    format_ts(e->ts, ts, sizeof ts);
    struct line *l = &g->line;
    line_reset(l);
    line_printf(l, "{\"id\":\"%s-%08" PRIu64 "\",\"source\":\"%s\",\"type\":", id_prefix[e->src],
                ++g->ids[e->src], source_names[e->src]);
    line_jstr(l, e->type);
    line_printf(l, ",\"ts\":\"%s\"", ts);
    if (e->device != NULL) {
        line_puts(l, ",\"device\":");
        line_jstr(l, e->device);
    }
    if (e->zone != NULL) {
        line_puts(l, ",\"zone\":");
        line_jstr(l, e->zone->id);
    }
    if (e->has_loc) {
        line_printf(l, ",\"loc\":{\"lat\":%.6f,\"lon\":%.6f}", e->lat, e->lon);
    }
    if (e->has_value) {
        line_printf(l, ",\"value\":%.2f", e->value);
    }
    if (e->unit != NULL) {
        line_puts(l, ",\"unit\":");
        line_jstr(l, e->unit);
    }
    if (e->has_score) {
        line_printf(l, ",\"score\":%.2f", e->score);
    }
    if (e->channel != NULL) {
        line_puts(l, ",\"channel\":");
        line_jstr(l, e->channel);
    }
    if (e->text != NULL) {
        line_puts(l, ",\"text\":");
        line_jstr(l, e->text);
    }
    if (e->ticket != NULL || e->depth_cm > 0 || e->reason != NULL) {
        const char *sep = "";
        line_puts(l, ",\"attrs\":{");
        if (e->ticket != NULL) {
            line_puts(l, "\"ticket\":");
            line_jstr(l, e->ticket);
            sep = ",";
        }
        if (e->depth_cm > 0) {
            line_printf(l, "%s\"depth_cm\":%d", sep, e->depth_cm);
            sep = ",";
        }
        if (e->reason != NULL) {
            line_printf(l, "%s\"reason\":", sep);
            line_jstr(l, e->reason);
        }
        line_puts(l, "}");
    }
    line_puts(l, "}");
    emit_line(g);
    g->counts[e->src]++;
    if (g->first_ts == NEVER) {
        g->first_ts = e->ts;
    }
    g->last_ts = e->ts;
}

static int add_truth(struct gen *g, const char *scenario, const char *rule, const char *key_field,
                     const char *key_value, size_t zone, int grade)
{
    if (g->ntruths >= MAX_TRUTH) {
        return -1;
    }
    struct truth *t = &g->truths[g->ntruths];
    *t = (struct truth){
        .scenario = scenario, .rule = rule, .key_field = key_field, .zone = zone, .grade = grade};
    snprintf(t->key_value, sizeof t->key_value, "%s", key_value);
    return (int)g->ntruths++;
}

static void write_truth(struct gen *g, int idx, int64_t event_ts)
{
    if (idx < 0 || g->truths[idx].written) {
        return;
    }
    struct truth *t = &g->truths[idx];
    t->written = true;
    if (g->truth_out == NULL) {
        return;
    }
    char at[40];
    format_ts(event_ts + t->at_delay, at, sizeof at);
    fprintf(g->truth_out,
            "{\"scenario\":\"%s\",\"rule\":\"%s\",\"key\":{\"%s\":\"%s\"},\"zone\":\"%s\","
            "\"at\":\"%s\",\"grade\":%d}\n",
            t->scenario, t->rule, t->key_field, t->key_value, g->zones[t->zone].id, at, t->grade);
}

/* ---- Sensors -------------------------------------------------------------- */

static double smoothstep(double x)
{
    if (x <= 0) {
        return 0;
    }
    if (x >= 1) {
        return 1;
    }
    return x * x * (3 - 2 * x);
}

/* How far (0..1) a flood has pushed a gauge toward its peak, dt after the
 * rain started: a 110-minute rise, 40 minutes at the crest, a 3-hour ebb. */
static double flood_shape(int64_t dt)
{
    double m = (double)dt / (double)MS_PER_MIN;
    if (m < 0) {
        return 0;
    }
    if (m < 110) {
        return smoothstep(m / 110);
    }
    if (m < 150) {
        return 1;
    }
    return 1 - smoothstep((m - 150) / 180);
}

/* How far (0..1) a burst main has pulled a meter toward its low: the
 * pressure collapses in 8 minutes, the crew isolates and repairs for two
 * hours, then the DMA refills over 40 minutes. */
static double burst_shape(int64_t dt)
{
    double m = (double)dt / (double)MS_PER_MIN;
    if (m < 0) {
        return 0;
    }
    if (m < 8) {
        return m / 8;
    }
    if (m < 130) {
        return 1;
    }
    return 1 - smoothstep((m - 130) / 40);
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Rounds as the writer will print, so truth checks see the printed value. */
static double round2(double v)
{
    return round(v * 100) / 100;
}

static double sensor_value(struct gen *g, struct sensor *s, int64_t ts)
{
    s->noise = 0.85 * s->noise + rng_normal(&s->rng) * (s->kind == SENSOR_LEVEL ? 0.02 : 0.03);
    double hours = (double)(ts - g->start) / (double)MS_PER_H;
    double normal, v;
    if (s->kind == SENSOR_LEVEL) {
        /* The Chao Phraya is tidal as far as Bangkok: a 12.42-hour swing. */
        double tide = 0.12 * sin(2 * PI * hours / 12.42 + s->tide_phase);
        normal = clamp(s->base + tide + s->noise, 0.2, 0.9);
        v = normal;
        if (s->overlay == OV_FLOOD_MAIN || s->overlay == OV_FLOOD_SIDE) {
            double peak = (s->overlay == OV_FLOOD_MAIN ? 2.75 : 1.75) + rng_normal(&s->rng) * 0.015;
            v = normal + (peak - normal) * flood_shape(ts - g->plan.flood_t0);
        }
    } else {
        /* Demand peaks at breakfast and dinner pull pressure down a little. */
        int h = city_hour(ts);
        double demand = exp(-0.5 * pow((h - 7) / 1.5, 2)) + exp(-0.5 * pow((h - 19) / 2.0, 2));
        normal = clamp(s->base - 0.25 * demand + s->noise, 2.5, 3.5);
        v = normal;
        if (s->overlay == OV_BURST_MAIN || s->overlay == OV_BURST_SIDE) {
            double low = s->overlay == OV_BURST_MAIN
                             ? clamp(0.35 + rng_normal(&s->rng) * 0.04, 0.15, 0.48)
                             : clamp(1.25 + rng_normal(&s->rng) * 0.05, 1.05, 1.45);
            v = normal + (low - normal) * burst_shape(ts - g->plan.burst_t0);
        }
    }
    return round2(v);
}

/* Emits one reading (unless the sensor is being silenced) and says when the next is due. */
static int64_t sensor_step(struct gen *g, struct sensor *s, int64_t ts)
{
    double v = sensor_value(g, s, ts);
    if (s->silent_target && ts >= g->plan.silent_from && ts < g->plan.silent_to) {
        /* The absence rule fires 15 minutes after the last reading it saw. */
        if (s->last_emitted != NEVER) {
            write_truth(g, s->truth, s->last_emitted);
        }
        return ts + g->interval_ms;
    }
    struct event e = {
        .src = SRC_SENSOR,
        .type = s->kind == SENSOR_LEVEL ? "water_level" : "pressure",
        .ts = ts,
        .device = s->device,
        .zone = &g->zones[s->zone],
        .has_loc = true,
        .lat = s->lat,
        .lon = s->lon,
        .has_value = true,
        .value = v,
        .unit = s->kind == SENSOR_LEVEL ? "m" : "bar",
    };
    emit_event(g, &e);
    s->last_emitted = ts;
    /* Thresholds mirror rules/flood.yaml and rules/water.yaml. */
    bool reached =
        (s->overlay == OV_FLOOD_MAIN && v >= 2.5) || (s->overlay == OV_FLOOD_SIDE && v >= 1.5) ||
        (s->overlay == OV_BURST_MAIN && v <= 0.5) || (s->overlay == OV_BURST_SIDE && v <= 1.5);
    if (reached) {
        write_truth(g, s->truth, ts);
    }
    return ts + g->interval_ms;
}

/* ---- Cameras -------------------------------------------------------------- */

static double cctv_mean_gap_ms(const struct gen *g)
{
    return (double)MS_PER_DAY / (g->o.cctv_per_day * g->o.rate_scale);
}

/* Cameras drop out now and then (power, network, a bus parked in front). */
static double offline_mean_gap_ms(const struct gen *g)
{
    return (double)MS_PER_DAY / (0.25 * g->o.rate_scale);
}

static int64_t camera_next(const struct camera *c)
{
    return c->next_detection < c->next_toggle ? c->next_detection : c->next_toggle;
}

static int64_t camera_step(struct gen *g, struct camera *c, int64_t ts)
{
    struct event e = {
        .src = SRC_CCTV,
        .ts = ts,
        .device = c->device,
        .zone = &g->zones[c->zone],
        .has_loc = true,
        .lat = c->lat,
        .lon = c->lon,
        .has_score = true,
    };
    if (c->next_toggle <= c->next_detection) {
        if (!c->offline) {
            static const char *const reasons[] = {"no_video", "network", "power"};
            e.type = "camera_offline";
            e.score = 1.0; /* the VMS is certain about its own cameras */
            e.reason = reasons[rng_below(&c->rng, 3)];
            c->offline = true;
            c->next_toggle = ts + (int64_t)rng_range(&c->rng, 10, 90) * MS_PER_MIN;
        } else {
            e.type = "camera_online";
            e.score = 1.0;
            c->offline = false;
            c->next_toggle = ts + rng_gap_ms(&c->rng, offline_mean_gap_ms(g));
        }
        emit_event(g, &e);
        return camera_next(c);
    }
    c->next_detection = ts + rng_gap_ms(&c->rng, cctv_mean_gap_ms(g));
    if (!c->offline) {
        /* Background analytics: false alarms, nearly all well under the rule
         * thresholds (smoke 0.8, fire 0.75), so only scenarios open incidents. */
        static const char *const types[] = {"intrusion", "crowd", "smoke", "flooding", "fire"};
        static const unsigned weights[] = {30, 30, 20, 12, 8};
        e.type = types[rng_weighted(&c->rng, weights, 5)];
        e.score = rng_unit(&c->rng) < 0.92 ? rng_range(&c->rng, 0.20, 0.60)
                                           : rng_range(&c->rng, 0.60, 0.70);
        e.score = round2(e.score);
        emit_event(g, &e);
    }
    return camera_next(c);
}

/* ---- Complaints ----------------------------------------------------------- */

enum ctype {
    CT_WATER_OUTAGE,
    CT_POWER_OUTAGE,
    CT_FLOODING,
    CT_FIRE,
    CT_ROAD_DAMAGE,
    CT_GARBAGE,
    CT_NOISE,
    CT__COUNT
};

static const char *const CTYPE_NAMES[CT__COUNT] = {
    "water_outage", "power_outage", "flooding", "fire", "road_damage", "garbage", "noise",
};

/* What residents actually write; a few phrasings per type. */
static const char *const CTYPE_TEXTS[CT__COUNT][5] = {
    [CT_WATER_OUTAGE] =
        {
            "น้ำไม่ไหลตั้งแต่เช้า",
            "น้ำประปาไม่ไหลทั้งหมู่บ้าน",
            "น้ำไหลอ่อนมาก เปิดก๊อกแทบไม่ออก",
            "ท่อประปาแตก น้ำพุ่งกลางถนน",
            "น้ำไม่ไหลมา 3 ชั่วโมงแล้ว ไม่มีน้ำใช้",
        },
    [CT_POWER_OUTAGE] =
        {
            "ไฟดับทั้งซอย",
            "ไฟดับมา 2 ชั่วโมงแล้ว",
            "ไฟดับเป็นพักๆ ตั้งแต่เมื่อคืน",
            "ไฟตกแล้วก็ดับ ไฟจราจรไม่ทำงาน",
            "ไฟดับทั้งหมู่บ้าน ไม่มีแจ้งล่วงหน้า",
        },
    [CT_FLOODING] =
        {
            "น้ำท่วมถนนสูง 30 ซม.",
            "น้ำท่วมขังหน้าบ้าน รถเล็กผ่านไม่ได้",
            "ท่อระบายน้ำอุดตัน น้ำไม่ลง",
            "น้ำเข้าบ้านแล้ว ช่วยด้วย",
            "ฝนตกหนัก น้ำท่วมซอย",
        },
    [CT_FIRE] =
        {
            "มีควันไฟออกจากอาคาร",
            "ไฟไหม้บ้านในซอย",
            "ได้กลิ่นไหม้ มีควันดำลอยขึ้น",
            "ไฟไหม้หญ้าข้างทาง",
            "มีควันไฟออกจากอาคาร",
        },
    [CT_ROAD_DAMAGE] =
        {
            "ถนนเป็นหลุมใหญ่ รถตกหลุม",
            "ฝาท่อหาย อันตรายมาก",
            "ถนนทรุดหน้าตลาด",
            "ทางเท้าพัง เดินไม่ได้",
            "ไฟส่องสว่างเสีย ถนนมืด",
        },
    [CT_GARBAGE] =
        {
            "ขยะไม่มีคนมาเก็บ 3 วันแล้ว",
            "มีคนทิ้งขยะริมคลอง",
            "ถังขยะล้น ส่งกลิ่นเหม็น",
            "ขยะกองใหญ่ริมถนน",
            "ขยะอุดท่อระบายน้ำ",
        },
    [CT_NOISE] =
        {
            "เสียงดังจากร้านเหล้าหลังเที่ยงคืน",
            "ก่อสร้างเสียงดังตอนกลางคืน",
            "รถแต่งท่อเสียงดังทุกคืน",
            "เปิดเพลงเสียงดังมาก",
            "สุนัขเห่าทั้งคืน",
        },
};

static const char *const CHANNELS[] = {"traffy", "line", "app", "phone"};
static const unsigned CHANNEL_WEIGHTS[] = {45, 25, 20, 10};

/* Fills the parts every complaint shares: channel, ticket, and where it is.
 * Phone calls rarely come with coordinates; the apps nearly always do. */
static void complaint_common(struct gen *g, struct rng *r, struct event *e, char *ticket,
                             size_t ticket_len, double lat, double lon, double spread)
{
    e->src = SRC_COMPLAINT;
    e->channel = CHANNELS[rng_weighted(r, CHANNEL_WEIGHTS, 4)];
    bool phone = strcmp(e->channel, "phone") == 0;
    e->has_loc = rng_unit(r) < (phone ? 0.2 : 0.9);
    e->lat = lat + rng_range(r, -spread, spread);
    e->lon = lon + rng_range(r, -spread, spread);
    if (strcmp(e->channel, "traffy") == 0) {
        snprintf(ticket, ticket_len, "TF-%07" PRIu64, ++g->ticket);
        e->ticket = ticket;
    }
}

static int64_t complaints_step(struct gen *g, int64_t ts)
{
    struct complaint_stream *cs = &g->complaints;
    /* Thinning: candidates arrive at the busiest hour's rate and are kept
     * with the hour's share of it, giving a day/night rhythm. */
    if (rng_unit(&cs->rng) < cs->accept[city_hour(ts)]) {
        static const unsigned weights[CT__COUNT] = {10, 8, 8, 1, 25, 30, 18};
        size_t t = rng_weighted(&cs->rng, weights, CT__COUNT);
        const struct zone *z = &g->zones[rng_below(&cs->rng, g->nzones)];
        char ticket[24], text[96];
        struct event e = {.type = CTYPE_NAMES[t], .ts = ts, .zone = z};
        complaint_common(g, &cs->rng, &e, ticket, sizeof ticket, z->lat, z->lon, 0.012);
        e.text = CTYPE_TEXTS[t][rng_below(&cs->rng, 5)];
        if (t == CT_FLOODING && rng_unit(&cs->rng) < 0.5) {
            e.depth_cm = 5 * (int)(2 + rng_below(&cs->rng, 5));
            snprintf(text, sizeof text, "น้ำท่วมถนนสูง %d ซม.", e.depth_cm);
            e.text = text;
        }
        emit_event(g, &e);
    }
    return ts + rng_gap_ms(&cs->rng, cs->mean_gap_ms);
}

/* ---- Scenario script ------------------------------------------------------ */

static int cmp_scripted(const void *a, const void *b)
{
    const struct scripted *x = a, *y = b;
    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }
    /* qsort is not stable: equal times keep the order they were scripted in. */
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct scripted *script_add(struct gen *g, int64_t ts, size_t zone, const char *type)
{
    if (g->nscript >= MAX_SCRIPT) {
        fprintf(stderr, "citygen: internal error: scenario script full\n");
        exit(1);
    }
    struct scripted *s = &g->script[g->nscript++];
    *s = (struct scripted){
        .ts = ts, .type = type, .zone = zone, .seq = g->nscript, .truth = {-1, -1}};
    return s;
}

/* n complaints spread over [from, from + span), in time order; returns the first. */
static struct scripted *script_complaints(struct gen *g, struct rng *r, size_t n, int64_t from,
                                          int64_t span, size_t zone, enum ctype type, double lat,
                                          double lon)
{
    size_t first = g->nscript;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = from + (int64_t)(rng_unit(r) * (double)span);
        ts -= ts % MS_PER_S; /* complaint systems stamp whole seconds */
        struct scripted *s = script_add(g, ts, zone, CTYPE_NAMES[type]);
        s->lat = lat;
        s->lon = lon;
        s->text = CTYPE_TEXTS[type][rng_below(r, 5)];
    }
    /* Sort this batch now so "the k-th complaint" below means the k-th in time. */
    qsort(&g->script[first], n, sizeof g->script[0], cmp_scripted);
    return &g->script[first];
}

static int64_t scenario_time(const struct gen *g, struct rng *r, double fraction)
{
    /* Whole seconds after the start, so the script reads naturally. */
    int64_t jitter = (int64_t)rng_range(r, -900, 900) * MS_PER_S;
    int64_t at = (int64_t)(fraction * (double)g->span) / MS_PER_S * MS_PER_S;
    return g->start + at + jitter;
}

static struct sensor *find_sensor(struct gen *g, enum sensor_kind kind, size_t zone, long nth)
{
    long seen = 0;
    for (size_t i = 0; i < g->nsensors; i++) {
        struct sensor *s = &g->sensors[i];
        if (s->kind == kind && s->zone == zone && seen++ == nth) {
            return s;
        }
    }
    return NULL;
}

static struct camera *find_camera(struct gen *g, size_t zone)
{
    for (size_t i = 0; i < g->ncams; i++) {
        if (g->cams[i].zone == zone) {
            return &g->cams[i];
        }
    }
    return NULL;
}

static void note(const struct gen *g, const char *what)
{
    if (!g->o.quiet) {
        fprintf(stderr, "citygen: note: %s\n", what);
    }
}

/* Chooses zones and times for the incidents, bends the affected sensors and
 * writes the complaint/CCTV script. Zones are distinct while there are enough. */
static void plan_scenarios(struct gen *g)
{
    struct plan *p = &g->plan;
    struct rng r = rng_for(g->o.seed, 9, 0);
    size_t n = g->nzones;
    size_t *perm = malloc(n * sizeof *perm);
    if (perm == NULL) {
        fprintf(stderr, "citygen: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_below(&r, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    /* The flood goes where floods happen: the first low-lying zone drawn. */
    size_t fz_pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (g->zones[perm[i]].low_lying) {
            fz_pos = i;
            break;
        }
    }
    p->flood_zone = perm[fz_pos];
    size_t others[4];
    for (size_t i = 0; i < 4; i++) {
        /* Wraps, and so shares zones (even the flood zone), only with fewer than 5 zones. */
        others[i] = perm[(fz_pos + 1 + i) % n];
    }
    p->burst_zone = others[0];
    p->smoke_zone = others[1];
    p->silent_zone = others[2];
    p->power_zone = others[3];
    free(perm);

    /* Times as fractions of the span, as on the default day starting at
     * midnight: silence 04:48, burst 08:42, smoke 11:00, flood 15:00, power
     * 19:30 (each ±15 min). */
    p->silent_from = scenario_time(g, &r, 0.20);
    p->silent_to = p->silent_from + 3 * MS_PER_H;
    p->burst_t0 = scenario_time(g, &r, 0.3625);
    p->smoke_t0 = scenario_time(g, &r, 0.4583);
    p->flood_t0 = scenario_time(g, &r, 0.625);
    p->power_t0 = scenario_time(g, &r, 0.8125);

    /* Flood: gauge 01 goes through every band, gauge 02 only into the first,
     * and residents report water in the street as it rises. */
    struct sensor *fl = find_sensor(g, SENSOR_LEVEL, p->flood_zone, 0);
    if (fl != NULL) {
        const struct zone *z = &g->zones[p->flood_zone];
        fl->overlay = OV_FLOOD_MAIN;
        fl->truth = add_truth(g, "flood", "flood.level", "device", fl->device, p->flood_zone, 1);
        struct sensor *side = find_sensor(g, SENSOR_LEVEL, p->flood_zone, 1);
        if (side != NULL) {
            side->overlay = OV_FLOOD_SIDE;
            side->truth =
                add_truth(g, "flood", "flood.level", "device", side->device, p->flood_zone, 3);
        }
        struct scripted *c =
            script_complaints(g, &r, 9, p->flood_t0 + 55 * MS_PER_MIN, 155 * MS_PER_MIN,
                              p->flood_zone, CT_FLOODING, fl->lat, fl->lon);
        for (size_t i = 0; i < 9; i++) {
            double s = flood_shape(c[i].ts - p->flood_t0);
            c[i].depth_cm = 5 * (int)lround((10 + 50 * s) / 5);
        }
        /* Low-lying zones have their own rule (flood.yaml); others the generic one. */
        c[4].truth[0] =
            z->low_lying
                ? add_truth(g, "flood", "flood.complaints", "zone", z->id, p->flood_zone, 2)
                : add_truth(g, "flood", "complaint.flooding", "zone", z->id, p->flood_zone, 3);
    } else {
        note(g, "no water-level gauges (--flood-sensors 0): flood scenario skipped");
    }

    /* Burst main: meter 01 collapses, others in the DMA sag; taps run dry. */
    struct sensor *pr = find_sensor(g, SENSOR_PRESSURE, p->burst_zone, 0);
    if (pr != NULL) {
        const struct zone *z = &g->zones[p->burst_zone];
        pr->overlay = OV_BURST_MAIN;
        pr->truth = add_truth(g, "burst_main", "water.pressure.low", "device", pr->device,
                              p->burst_zone, 1);
        for (long i = 1;; i++) {
            struct sensor *side = find_sensor(g, SENSOR_PRESSURE, p->burst_zone, i);
            if (side == NULL) {
                break;
            }
            side->overlay = OV_BURST_SIDE;
            if (i == 1) {
                side->truth = add_truth(g, "burst_main", "water.pressure.low", "device",
                                        side->device, p->burst_zone, 3);
            }
        }
        struct scripted *c =
            script_complaints(g, &r, 18, p->burst_t0 + 10 * MS_PER_MIN, 100 * MS_PER_MIN,
                              p->burst_zone, CT_WATER_OUTAGE, pr->lat, pr->lon);
        c[14].truth[0] =
            add_truth(g, "burst_main", "water.outage.complaints", "zone", z->id, p->burst_zone, 2);
    } else {
        note(g, "no pressure meters (--pressure-sensors 0): burst-main scenario skipped");
    }

    /* Smoke on a camera, a citizen calls it in, then the camera sees flames. */
    struct camera *cam = find_camera(g, p->smoke_zone);
    if (cam != NULL) {
        const struct zone *z = &g->zones[p->smoke_zone];
        cam->next_toggle = NEVER; /* the scenario needs this camera online */
        int64_t t0 = p->smoke_t0;
        struct scripted *s = script_add(g, t0, p->smoke_zone, "smoke");
        s->cctv = true;
        s->device = cam->device;
        s->score = 0.86;
        s = script_add(g, t0 + MS_PER_MIN, p->smoke_zone, "smoke");
        s->cctv = true;
        s->device = cam->device;
        s->score = 0.92;
        s->truth[0] =
            add_truth(g, "smoke_fire", "cctv.smoke", "device", cam->device, p->smoke_zone, 2);
        s = script_add(g, t0 + 4 * MS_PER_MIN + 30 * MS_PER_S, p->smoke_zone, "fire");
        s->text = "มีควันไฟออกจากอาคาร";
        s->truth[0] = add_truth(g, "smoke_fire", "complaint.fire", "zone", z->id, p->smoke_zone, 2);
        /* Not shipped yet: the sequence rule of DESIGN §6. */
        s->truth[1] = add_truth(g, "smoke_fire", "fire.confirmed", "zone", z->id, p->smoke_zone, 1);
        s = script_add(g, t0 + 7 * MS_PER_MIN, p->smoke_zone, "fire");
        s->cctv = true;
        s->device = cam->device;
        s->score = 0.91;
        s->truth[0] =
            add_truth(g, "smoke_fire", "cctv.fire", "device", cam->device, p->smoke_zone, 1);
        s = script_add(g, t0 + 9 * MS_PER_MIN + 12 * MS_PER_S, p->smoke_zone, "fire");
        s->text = "ไฟไหม้บ้านไม้ในซอย ควันดำเต็มไปหมด";
        for (size_t i = g->nscript - 5; i < g->nscript; i++) {
            g->script[i].lat = cam->lat;
            g->script[i].lon = cam->lon;
        }
    } else {
        note(g, "no cameras (--cameras 0): smoke-then-fire scenario skipped");
    }

    /* A gauge (or else a meter) stops reporting for three hours. */
    struct sensor *quiet = find_sensor(g, SENSOR_LEVEL, p->silent_zone, g->o.flood_sensors - 1);
    if (quiet == NULL || quiet->overlay != OV_NONE) {
        quiet = find_sensor(g, SENSOR_PRESSURE, p->silent_zone, g->o.pressure_sensors - 1);
    }
    if (quiet != NULL && quiet->overlay == OV_NONE) {
        quiet->silent_target = true;
        /* Not shipped yet: the absence rule of DESIGN §6. */
        quiet->truth = add_truth(g, "sensor_silent", "sensor.silent", "device", quiet->device,
                                 p->silent_zone, 4);
        g->truths[quiet->truth].at_delay = 15 * MS_PER_MIN;
    } else {
        note(g, "no free sensor to silence: silent-sensor scenario skipped");
    }

    /* A transformer blows: a burst of power-outage complaints in 40 minutes. */
    {
        const struct zone *z = &g->zones[p->power_zone];
        double lat = z->lat + rng_range(&r, -0.006, 0.006);
        double lon = z->lon + rng_range(&r, -0.006, 0.006);
        struct scripted *c = script_complaints(g, &r, 14, p->power_t0, 40 * MS_PER_MIN,
                                               p->power_zone, CT_POWER_OUTAGE, lat, lon);
        /* Those who saw it say so; complaint.electrical_hazard reads the text. */
        c[1].text = "หม้อแปลงระเบิด ไฟดับหลายหลัง";
        c[1].truth[0] = add_truth(g, "power_cluster", "complaint.electrical_hazard", "zone", z->id,
                                  p->power_zone, 2);
        c[5].text = "เสียงดังที่เสาไฟ สายไฟขาด ไฟดับทั้งซอย";
        c[11].truth[0] = add_truth(g, "power_cluster", "complaint.power_outage", "zone", z->id,
                                   p->power_zone, 2);
    }

    qsort(g->script, g->nscript, sizeof g->script[0], cmp_scripted);
}

static int64_t script_step(struct gen *g, int64_t ts)
{
    struct scripted *s = &g->script[g->script_pos++];
    /* Own generator per scripted event: channels stay put if the script grows. */
    struct rng r = rng_for(g->o.seed, 10, g->script_pos);
    char ticket[24], text[96];
    struct event e = {
        .type = s->type,
        .ts = ts,
        .zone = &g->zones[s->zone],
    };
    if (s->cctv) {
        e.src = SRC_CCTV;
        e.device = s->device;
        e.has_loc = true;
        e.lat = s->lat;
        e.lon = s->lon;
        e.has_score = true;
        e.score = s->score;
    } else {
        /* Residents near the trouble: within ~300 m of it. */
        complaint_common(g, &r, &e, ticket, sizeof ticket, s->lat, s->lon, 0.003);
        e.text = s->text;
        if (s->depth_cm > 0) {
            e.depth_cm = s->depth_cm;
            snprintf(text, sizeof text, "น้ำท่วมถนนสูง %d ซม.", s->depth_cm);
            e.text = text;
        }
    }
    emit_event(g, &e);
    for (int i = 0; i < 2; i++) {
        write_truth(g, s->truth[i], ts);
    }
    return g->script_pos < g->nscript ? g->script[g->script_pos].ts : NEVER;
}

/* ---- Bad lines ------------------------------------------------------------ */

static int64_t bad_time(const struct gen *g, long i)
{
    return g->start + (int64_t)((double)g->span * (double)(i + 1) / (double)(g->o.bad + 1));
}

/* The three kinds of rejects an IOC sees most: a truncated frame, a
 * mis-typed field from a badly configured gateway, and a source nobody
 * registered. */
static int64_t bad_step(struct gen *g, int64_t ts)
{
    long i = g->bad_done++;
    char when[40];
    format_ts(ts, when, sizeof when);
    const char *zone = g->zones[0].id;
    struct line *l = &g->line;
    line_reset(l);
    switch (i % 3) {
    case 0:
        line_printf(l,
                    "{\"id\":\"bad-%04ld\",\"source\":\"sensor\",\"type\":\"water_level\","
                    "\"ts\":\"%s\",\"device\":\"FL-%s-01\",\"value\":0.5",
                    i + 1, when, zone);
        break;
    case 1:
        line_printf(l,
                    "{\"id\":\"bad-%04ld\",\"source\":\"sensor\",\"type\":\"pressure\","
                    "\"ts\":\"%s\",\"device\":\"PR-%s-01\",\"zone\":\"%s\",\"value\":\"2.95\","
                    "\"unit\":\"bar\"}",
                    i + 1, when, zone, zone);
        break;
    default:
        line_printf(l,
                    "{\"id\":\"bad-%04ld\",\"source\":\"drone\",\"type\":\"thermal\","
                    "\"ts\":\"%s\",\"device\":\"UAV-07\",\"zone\":\"%s\",\"score\":0.4}",
                    i + 1, when, zone);
        break;
    }
    emit_line(g);
    g->bad_lines++;
    return g->bad_done < g->o.bad ? bad_time(g, g->bad_done) : NEVER;
}

/* ---- Set-up and the main loop -------------------------------------------- */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        fprintf(stderr, "citygen: out of memory\n");
        exit(1);
    }
    return p;
}

static void build_city(struct gen *g)
{
    const struct opts *o = &g->o;
    g->nzones = (size_t)o->zones;
    g->zones = xcalloc(g->nzones, sizeof *g->zones);
    /* Zones on a grid ~3.3 km apart around central Bangkok. */
    size_t cols = (size_t)ceil(sqrt((double)g->nzones));
    for (size_t i = 0; i < g->nzones; i++) {
        struct zone *z = &g->zones[i];
        snprintf(z->id, sizeof z->id, "Z%02d", (int)(i + 1));
        z->lat = 13.7563 + 0.03 * ((double)(i / cols) - (double)(cols - 1) / 2);
        z->lon = 100.5018 + 0.03 * ((double)(i % cols) - (double)(cols - 1) / 2);
        for (size_t k = 0; k < sizeof LOW_LYING_ZONES / sizeof LOW_LYING_ZONES[0]; k++) {
            z->low_lying = z->low_lying || strcmp(z->id, LOW_LYING_ZONES[k]) == 0;
        }
    }

    size_t per_zone = (size_t)(o->flood_sensors + o->pressure_sensors);
    g->nsensors = g->nzones * per_zone;
    g->sensors = xcalloc(g->nsensors, sizeof *g->sensors);
    size_t si = 0;
    for (size_t zi = 0; zi < g->nzones; zi++) {
        const struct zone *z = &g->zones[zi];
        for (size_t k = 0; k < per_zone; k++, si++) {
            struct sensor *s = &g->sensors[si];
            bool level = k < (size_t)o->flood_sensors;
            long nth = level ? (long)k + 1 : (long)(k - (size_t)o->flood_sensors) + 1;
            s->kind = level ? SENSOR_LEVEL : SENSOR_PRESSURE;
            s->zone = zi;
            snprintf(s->device, sizeof s->device, "%s-%s-%02d", level ? "FL" : "PR", z->id,
                     (int)nth);
            s->rng = rng_for(o->seed, level ? 1 : 2, si);
            s->lat = z->lat + rng_range(&s->rng, -0.008, 0.008);
            s->lon = z->lon + rng_range(&s->rng, -0.008, 0.008);
            s->base = level ? rng_range(&s->rng, 0.35, 0.65) : rng_range(&s->rng, 2.85, 3.15);
            s->tide_phase =
                rng_range(&s->rng, 0, 0.6); /* the tide reaches zones at different times */
            s->truth = -1;
            s->last_emitted = NEVER;
            /* A fixed phase in whole seconds, so the sensors do not all report
             * in the same millisecond, like real loggers. */
            int64_t phase =
                g->interval_ms >= MS_PER_S
                    ? (int64_t)rng_below(&s->rng, (size_t)(g->interval_ms / MS_PER_S)) * MS_PER_S
                    : 0;
            s->next = g->start + phase;
        }
    }

    g->ncams = g->nzones * (size_t)o->cameras;
    g->cams = xcalloc(g->ncams, sizeof *g->cams);
    for (size_t i = 0; i < g->ncams; i++) {
        struct camera *c = &g->cams[i];
        c->zone = i / (size_t)o->cameras;
        const struct zone *z = &g->zones[c->zone];
        snprintf(c->device, sizeof c->device, "CAM-%s-%02d", z->id,
                 (int)(i % (size_t)o->cameras + 1));
        c->rng = rng_for(o->seed, 3, i);
        c->lat = z->lat + rng_range(&c->rng, -0.008, 0.008);
        c->lon = z->lon + rng_range(&c->rng, -0.008, 0.008);
        c->next_detection =
            o->cctv_per_day > 0 ? g->start + rng_gap_ms(&c->rng, cctv_mean_gap_ms(g)) : NEVER;
        c->next_toggle = g->start + rng_gap_ms(&c->rng, offline_mean_gap_ms(g));
    }

    /* Complaints by city hour: quiet at night, busiest mid-morning and evening. */
    static const double hourly[24] = {0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.8, 1.2, 1.5, 1.6, 1.5, 1.4,
                                      1.3, 1.3, 1.3,  1.3,  1.4, 1.5, 1.6, 1.5, 1.3, 1.0, 0.7, 0.5};
    double sum = 0, peak = 0;
    for (int h = 0; h < 24; h++) {
        sum += hourly[h];
        peak = hourly[h] > peak ? hourly[h] : peak;
    }
    struct complaint_stream *cs = &g->complaints;
    cs->rng = rng_for(o->seed, 4, 0);
    for (int h = 0; h < 24; h++) {
        cs->accept[h] = hourly[h] / peak;
    }
    double per_day = o->complaints_per_day * o->rate_scale;
    /* Candidates at peak/mean times the average rate; kept with accept[h]. */
    cs->mean_gap_ms = per_day > 0 ? (double)MS_PER_DAY / (per_day * peak / (sum / 24)) : 0;
    cs->next = per_day > 0 ? g->start + rng_gap_ms(&cs->rng, cs->mean_gap_ms) : NEVER;
}

static int64_t step(struct gen *g, uint32_t stream, int64_t ts)
{
    if (stream < g->nsensors) {
        return sensor_step(g, &g->sensors[stream], ts);
    }
    if (stream < g->nsensors + g->ncams) {
        return camera_step(g, &g->cams[stream - g->nsensors], ts);
    }
    if (stream == g->id_complaints) {
        return complaints_step(g, ts);
    }
    if (stream == g->id_script) {
        return script_step(g, ts);
    }
    return bad_step(g, ts);
}

static void run(struct gen *g)
{
    size_t nstreams = g->nsensors + g->ncams + 3;
    g->heap = xcalloc(nstreams, sizeof *g->heap);
    g->id_complaints = (uint32_t)(g->nsensors + g->ncams);
    g->id_script = g->id_complaints + 1;
    g->id_bad = g->id_complaints + 2;
    for (size_t i = 0; i < g->nsensors; i++) {
        heap_push(g, g->sensors[i].next, (uint32_t)i);
    }
    for (size_t i = 0; i < g->ncams; i++) {
        int64_t next = camera_next(&g->cams[i]);
        if (next != NEVER) {
            heap_push(g, next, (uint32_t)(g->nsensors + i));
        }
    }
    if (g->complaints.next != NEVER) {
        heap_push(g, g->complaints.next, g->id_complaints);
    }
    if (g->nscript > 0) {
        heap_push(g, g->script[0].ts, g->id_script);
    }
    if (g->o.bad > 0) {
        heap_push(g, bad_time(g, 0), g->id_bad);
    }
    while (g->nheap > 0) {
        if (g->o.events > 0 && g->lines >= g->o.events) {
            break;
        }
        if (g->heap[0].ts >= g->end) {
            break;
        }
        struct heap_item it = heap_pop(g);
        int64_t next = step(g, it.stream, it.ts);
        if (next != NEVER) {
            heap_push(g, next, it.stream);
        }
    }
}

static FILE *open_out(const char *path, const char *what)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "citygen: cannot open %s '%s': %s\n", what, path, strerror(errno));
    }
    return f;
}

/* Flushes and closes; false (with a message) if anything was lost on the way. */
static bool close_out(FILE *f, const char *path)
{
    bool ok = fflush(f) == 0 && !ferror(f);
    if (f != stdout) {
        ok = fclose(f) == 0 && ok;
    }
    if (!ok) {
        fprintf(stderr, "citygen: error writing '%s': %s\n", path, strerror(errno));
    }
    return ok;
}

int main(int argc, char **argv)
{
    struct gen *g = xcalloc(1, sizeof *g); /* big line buffer: keep it off the stack */
    int rc = parse_args(argc, argv, &g->o);
    if (rc != 0) {
        free(g);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    const struct opts *o = &g->o;
    g->start = o->start_ms;
    g->span = (int64_t)(o->hours * (double)MS_PER_H);
    g->end = o->events > 0 ? NEVER : g->start + g->span;
    g->interval_ms = (int64_t)(o->interval_s * 1000.0 / o->rate_scale);
    if (g->interval_ms < 1) {
        g->interval_ms = 1;
    }
    g->first_ts = NEVER;
    build_city(g);
    if (o->scenarios) {
        plan_scenarios(g);
    }

    g->out = o->out_path != NULL ? open_out(o->out_path, "output") : stdout;
    if (g->out == NULL) {
        return 1;
    }
    setvbuf(g->out, g->outbuf, _IOFBF, sizeof g->outbuf);
    if (o->truth_path != NULL) {
        g->truth_out = open_out(o->truth_path, "ground truth");
        if (g->truth_out == NULL) {
            return 1;
        }
    }

    run(g);

    bool ok = close_out(g->out, o->out_path != NULL ? o->out_path : "<stdout>");
    if (g->truth_out != NULL) {
        ok = close_out(g->truth_out, o->truth_path) && ok;
    }
    if (ok && !o->quiet) {
        char from[40] = "-", to[40] = "-";
        if (g->first_ts != NEVER) {
            format_ts(g->first_ts, from, sizeof from);
            format_ts(g->last_ts, to, sizeof to);
        }
        fprintf(stderr,
                "citygen: %" PRIu64 " lines: sensor %" PRIu64 ", cctv %" PRIu64
                ", complaint %" PRIu64 ", bad %" PRIu64 "; %s .. %s\n",
                g->lines, g->counts[SRC_SENSOR], g->counts[SRC_CCTV], g->counts[SRC_COMPLAINT],
                g->bad_lines, from, to);
    }
    free(g->heap);
    free(g->zones);
    free(g->sensors);
    free(g->cams);
    free(g);
    return ok ? 0 : 1;
}
