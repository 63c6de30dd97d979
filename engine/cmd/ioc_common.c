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
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ioc/config.h"
#include "ioc/curve.h"
#include "ioc/text.h"
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

/* ---- CURVE keys ---------------------------------------------------------- */

static const char *key_file, *server_key_file;

bool cli_key_option(int c, const char *arg)
{
    if (c == CLI_OPT_KEY) {
        key_file = arg;
    } else if (c == CLI_OPT_SERVER_KEY) {
        server_key_file = arg;
    } else {
        return false;
    }
    return true;
}

void cli_key_usage(FILE *out)
{
    fputs("\n"
          "with an engine that has security keys (CURVE):\n"
          "      --keypair FILE     this client's key pair (ioc keygen NAME writes\n"
          "                         NAME.key); default $IOC_KEY. The engine knows an\n"
          "                         operator by the key, not by --operator.\n"
          "      --server-key FILE  the engine's public key (its .pub file); default\n"
          "                         $IOC_SERVER_KEY\n",
          out);
}

int cli_key_check(const char *cmd)
{
    char pub[IOC_CURVE_KEY_CHARS + 1], sec[IOC_CURVE_KEY_CHARS + 1], err[512];
    if (!key_file && getenv("IOC_KEY") && getenv("IOC_KEY")[0]) {
        key_file = getenv("IOC_KEY");
    }
    if (!server_key_file && getenv("IOC_SERVER_KEY") && getenv("IOC_SERVER_KEY")[0]) {
        server_key_file = getenv("IOC_SERVER_KEY");
    }
    if (!key_file && !server_key_file) {
        return CLI_OK;
    }
    if (!key_file || !server_key_file) {
        return cli_usage_error(cmd, "CURVE needs both --keypair (or IOC_KEY) and --server-key "
                                    "(or IOC_SERVER_KEY)");
    }
    if (ioc_curve_read_key(key_file, pub, sec, err, sizeof err) != 0 ||
        ioc_curve_read_key(server_key_file, pub, NULL, err, sizeof err) != 0) {
        memset(sec, 0, sizeof sec);
        return cli_fail(cmd, "%s", err);
    }
    memset(sec, 0, sizeof sec);
    return CLI_OK;
}

int cli_key_apply(const char *cmd, void *sock)
{
    char err[512];
    if (!key_file || !server_key_file) {
        return 0;
    }
    if (ioc_curve_client(sock, key_file, server_key_file, err, sizeof err) != 0) {
        if (cmd) {
            cli_fail(cmd, "%s", err);
        }
        return -1;
    }
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

/* The layout itself is the engine library's (text.h), so the board, the
 * tables and the tests share one definition of a column. */
int cli_text_width(const char *s)
{
    return ioc_text_width(s);
}

int cli_put_cell(FILE *f, const char *s, int max, int pad)
{
    char small[512], *buf = small;
    int cols;
    size_t need = ioc_text_cell(small, sizeof small, s, max, pad, &cols);
    if (need >= sizeof small) {
        /* A long title: lay it out again in a buffer that holds it whole, or
         * print what fitted when there is no memory for one. */
        char *big = malloc(need + 1);
        if (big) {
            ioc_text_cell(big, need + 1, s, max, pad, &cols);
            buf = big;
        } else {
            need = strlen(small);
        }
    }
    fwrite(buf, 1, need, f);
    if (buf != small) {
        free(buf);
    }
    return cols;
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
