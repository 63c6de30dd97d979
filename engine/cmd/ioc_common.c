/*
 * ioc_common.c — the helpers every `ioc` subcommand shares: option errors in
 * one format, strict number parsing, a stop flag for signals, and printing
 * untrusted UTF-8 text (titles, keys, often Thai) in terminal columns.
 *
 * The stop flag is the program's only mutable global: a signal handler can
 * reach nothing else. Everything else here is stateless.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ioc/config.h"
#include "ioc_cmd.h"

/* ---- Options and messages ------------------------------------------------ */

void cli_opt_begin(void)
{
    /* optind = 0 makes glibc reinitialise completely, including the state it
     * keeps inside a group of short options. */
    optind = 0;
    opterr = 0;
}

int cli_opt_error(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':') {
        if (strncmp(arg, "--", 2) == 0) {
            int len = (int)strcspn(arg, "=");
            return cli_usage_error(cmd, "option '%.*s' needs an argument", len, arg);
        }
        return cli_usage_error(cmd, "option '-%c' needs an argument", optopt);
    }
    /* A long option given an argument it does not take ("--max=3") sets
     * optopt to that option; an unknown long option leaves it 0, and the
     * text itself is the last argument getopt looked at. */
    if (strncmp(arg, "--", 2) == 0 && optopt != 0 && strchr(arg, '=')) {
        int len = (int)strcspn(arg, "=");
        return cli_usage_error(cmd, "option '%.*s' takes no argument", len, arg);
    }
    if (optopt > 0 && optopt < 128) {
        return cli_usage_error(cmd, "unknown option '-%c'", optopt);
    }
    return cli_usage_error(cmd, "unknown option '%s'", arg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ioc %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'ioc %s --help'\n", cmd);
    return CLI_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ioc %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- Signals and clocks -------------------------------------------------- */

static volatile sig_atomic_t stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void cli_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocked calls must return and see the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_stop_requested(void)
{
    return stop_flag != 0;
}

double cli_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void cli_sleep_ms(double ms)
{
    if (ms <= 0) {
        return;
    }
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_nsec = 999999999L;
    }
    /* An EINTR return is wanted: the caller looks at the stop flag. */
    nanosleep(&ts, NULL);
}

/* ---- Text for terminals -------------------------------------------------- */

/* Decodes one UTF-8 character at p. Returns its length in bytes (>= 1) and
 * the code point, or -1 in *cp for a byte that does not start a valid,
 * shortest-form character; then only that one byte is consumed. */
static size_t utf8_next(const unsigned char *p, long *cp)
{
    unsigned char b = p[0];
    size_t n;
    long c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        n = 2, c = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        n = 3, c = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        n = 4, c = b & 0x07, min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) { /* also stops at the NUL terminator */
            *cp = -1;
            return 1;
        }
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return n;
}

struct cp_range {
    long lo, hi;
};

/* Marks that combine with the character before them: Thai and Lao vowel and
 * tone marks above and below the line (the titles of Thai complaints), the
 * generic combining blocks, zero-width spaces and joiners. */
static const struct cp_range zero_width[] = {
    {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a}, {0x064b, 0x065f},
    {0x0e31, 0x0e31}, {0x0e34, 0x0e3a}, {0x0e47, 0x0e4e}, {0x0eb1, 0x0eb1}, {0x0eb4, 0x0ebc},
    {0x0ec8, 0x0ecd}, {0x200b, 0x200f}, {0x202a, 0x202e}, {0x2060, 0x2064}, {0x20d0, 0x20ff},
    {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f}, {0xfeff, 0xfeff},
};

/* East Asian wide and fullwidth characters, and the common emoji blocks. */
static const struct cp_range double_width[] = {
    {0x1100, 0x115f},   {0x2e80, 0x303e},   {0x3041, 0x33ff},   {0x3400, 0x4dbf},
    {0x4e00, 0x9fff},   {0xa000, 0xa4cf},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},
    {0xfe30, 0xfe4f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x1f300, 0x1f64f},
    {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
};

static bool in_ranges(long c, const struct cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c >= r[i].lo && c <= r[i].hi) {
            return true;
        }
    }
    return false;
}

/* What one character of s prints as: the bytes to write and their columns.
 * Returns the bytes of s consumed. */
static size_t glyph(const char *s, const char **out, size_t *outlen, int *cols)
{
    long c;
    size_t n = utf8_next((const unsigned char *)s, &c);
    if (c < 0) {
        *out = "?", *outlen = 1, *cols = 1;
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
        /* C0 and C1 controls: a newline would break a line-per-incident
         * output, an escape would drive the operator's terminal. */
        *out = " ", *outlen = 1, *cols = 1;
    } else {
        *out = s, *outlen = n;
        if (in_ranges(c, zero_width, sizeof zero_width / sizeof zero_width[0])) {
            *cols = 0;
        } else if (in_ranges(c, double_width, sizeof double_width / sizeof double_width[0])) {
            *cols = 2;
        } else {
            *cols = 1;
        }
    }
    return n;
}

int cli_text_width(const char *s)
{
    int w = 0;
    while (s && *s) {
        const char *out;
        size_t outlen;
        int cols;
        s += glyph(s, &out, &outlen, &cols);
        w += cols;
    }
    return w;
}

int cli_put_cell(FILE *f, const char *s, int max, int pad)
{
    if (!s) {
        s = "";
    }
    bool cut = max > 0 && cli_text_width(s) > max;
    int limit = cut ? max - 1 : INT_MAX; /* one column kept for the ellipsis */
    int used = 0;
    while (*s) {
        const char *out;
        size_t outlen;
        int cols;
        size_t n = glyph(s, &out, &outlen, &cols);
        /* A mark of zero width after the last character that fits still
         * belongs to it, so it is written too. */
        if (used + cols > limit) {
            break;
        }
        fwrite(out, 1, outlen, f);
        used += cols;
        s += n;
    }
    if (cut) {
        fputs("\xe2\x80\xa6", f); /* U+2026 HORIZONTAL ELLIPSIS */
        used++;
    }
    for (int i = used; i < pad; i++) {
        fputc(' ', f);
    }
    return used > pad ? used : pad;
}

char *cli_local_time(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        snprintf(buf, n, "%lld", (long long)ms);
    }
    return buf;
}

char *cli_key_text(const cJSON *key, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    if (!cJSON_IsObject(key)) {
        char *text = key ? cJSON_PrintUnformatted(key) : NULL;
        snprintf(buf, n, "%s", text ? text : "");
        cJSON_free(text);
        return buf;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, key)
    {
        char num[32];
        const char *val;
        if (cJSON_IsString(item)) {
            val = item->valuestring;
        } else if (cJSON_IsNumber(item)) {
            snprintf(num, sizeof num, "%.15g", item->valuedouble);
            val = num;
        } else if (cJSON_IsBool(item)) {
            val = cJSON_IsTrue(item) ? "true" : "false";
        } else {
            val = "null";
        }
        int w = snprintf(buf + used, n - used, "%s%s=%s", used ? " " : "",
                         item->string ? item->string : "", val);
        if (w < 0 || (size_t)w >= n - used) {
            break; /* snprintf already ended the text inside buf */
        }
        used += (size_t)w;
    }
    return buf;
}

void cli_use_engine_timezone(void)
{
    if (!getenv("TZ")) {
        struct ioc_diag d;
        struct ioc_config *cfg = NULL;
        ioc_diag_init(&d);
        if (ioc_config_load(NULL, &cfg, &d) == 0 && cfg->engine.timezone) {
            setenv("TZ", cfg->engine.timezone, 1);
        }
        ioc_config_free(cfg);
        ioc_diag_close(&d);
    }
    tzset();
}
