/*
 * ioc_replay.c — `ioc replay`: a recorded .jsonl stream, either sent to a
 * running engine paced by event time, or run through the engine in-process
 * (--local).
 *
 * Remote pacing. The first event with a readable ts anchors event time to the
 * wall clock; every later event is sent when wall time has advanced by its
 * event-time distance from the anchor divided by the speed. Events earlier
 * than the anchor, or already due, go at once, so a disordered file is sent in
 * file order and never stalls. Lines are sent byte for byte, ts or not: the
 * engine decides what is valid, and replay at any speed must give it exactly
 * what live did. Pacing only ever needs the ts, so --max parses nothing.
 *
 * With --reliable, the paced events go into acknowledged batches through the
 * reliable sender of ioc_reliable.c: pacing decides when an event joins a
 * batch, the sender when a batch leaves and whether it must go again.
 *
 * Local replay hands the whole file to ioc_engine_run_file(): the same engine
 * code as iocd, with no sockets, at full speed.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "ioc/error.h"
#include "ioc/event.h"

#include "ioc_cmd.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"
#define PROGRESS_EVERY_MS 100.0
/* Pacing sleeps in slices so the progress bar moves and signals are seen. */
#define SLEEP_SLICE_MS 100.0

static const char replay_usage[] =
    "usage: ioc replay FILE.jsonl [--endpoint URL] [--speed N | --max]\n"
    "                  [--reliable [--batch N] [--window W] [--ack-timeout S]]\n"
    "       ioc replay FILE.jsonl --local [-c CONFIG] [--rules PATH]... [--db FILE] [--archive]\n"
    "\n"
    "Sends a recorded event stream (one JSON event per line) to a running engine,\n"
    "paced by the events' own times: gaps in \"ts\" are divided by the speed. Lines\n"
    "without a readable ts are sent at once, unchanged. A progress bar is shown on\n"
    "a terminal, a one-line summary otherwise.\n"
    "\n"
    "With --local the engine runs in-process over the file at full speed instead,\n"
    "with the configuration's rules (or --rules), writing incidents and their log\n"
    "to the database; it prints what the engine accepted, rejected and opened.\n"
    "\n"
    "options:\n"
    "  -e, --endpoint URL   engine ingest socket (default " DEFAULT_ENDPOINT ")\n"
    "  -s, --speed N        replay N times faster than recorded (default 1)\n"
    "      --max            send as fast as the engine takes them, no pacing\n" CLI_REL_USAGE
    "  -l, --local          run the engine in-process instead of sending\n"
    "  -c, --config FILE    (--local) configuration file (default: the embedded one)\n"
    "  -r, --rules PATH     (--local) rule file or directory instead of the config's;\n"
    "                       repeat for several\n"
    "  -d, --db FILE        (--local) database to write (default: the config's)\n"
    "      --archive        (--local) also archive the raw events in the database\n"
    "  -h, --help           show this help\n"
    "\n"
    "examples:\n"
    "  ioc replay test/data/city-day.jsonl --speed 60\n"
    "  ioc replay test/data/city-day.jsonl --local --db /tmp/day.db\n";

enum {
    OPT_MAX = 256,
    OPT_ARCHIVE,
};

struct replay_opts {
    const char *file;
    const char *endpoint; /* NULL: the default of the socket kind */
    struct cli_rel_opts rel;
    double speed;
    bool max;
    bool local;
    const char *config;
    const char **rules;
    size_t n_rules;
    const char *db;
    bool archive;
    /* Which options were given, to refuse meaningless mixes. */
    bool remote_given, local_given;
};

/* ---- Local: the engine in-process ---------------------------------------- */

static int replay_local(const struct replay_opts *o)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    struct ioc_engine_stats st;
    double seconds = 0;
    int rc = CLI_FAIL;

    ioc_diag_init(&diag);
    memset(&st, 0, sizeof st);
    if (ioc_config_load(o->config, &cfg, &diag) != 0) {
        ioc_diag_print(&diag, stderr);
        cli_fail("replay", "cannot load the configuration%s%s", o->config ? " " : "",
                 o->config ? o->config : "");
        goto done;
    }
    /* Times the engine renders (titles, logs) follow the configured zone,
     * exactly as in iocd, so a local replay reads like the live run. */
    if (cfg->engine.timezone && cfg->engine.timezone[0]) {
        setenv("TZ", cfg->engine.timezone, 1);
        tzset();
    }
    if (o->n_rules > 0 && ioc_config_set_rules(cfg, o->rules, o->n_rules) != 0) {
        cli_fail("replay", "out of memory");
        goto done;
    }
    if (o->db && ioc_config_set_str(&cfg->store.path, o->db) != 0) {
        cli_fail("replay", "out of memory");
        goto done;
    }
    cfg->store.archive_events = o->archive;

    int err = ioc_engine_run_file(cfg, o->file, &st, &seconds, &diag);
    ioc_diag_print(&diag, stderr);
    if (err != 0) {
        cli_fail("replay", "replay of %s failed: %s", o->file, ioc_strerror(err));
        goto done;
    }
    printf("%llu events in %.2f s: %.0f events/s; accepted %llu, duplicates %llu, "
           "rejected %llu (json %llu, schema %llu, source %llu, size %llu, encoding %llu, "
           "late %llu); "
           "incidents opened %llu, changes %llu\n",
           (unsigned long long)st.received, seconds,
           seconds > 0 ? (double)st.received / seconds : 0.0, (unsigned long long)st.accepted,
           (unsigned long long)st.duplicates, (unsigned long long)st.rejected,
           (unsigned long long)st.rejected_json, (unsigned long long)st.rejected_schema,
           (unsigned long long)st.rejected_source, (unsigned long long)st.rejected_size, (unsigned long long)st.rejected_encoding,
           (unsigned long long)st.rejected_late, (unsigned long long)st.opened,
           (unsigned long long)st.changes);
    rc = CLI_OK;

done:
    ioc_config_free(cfg);
    ioc_diag_close(&diag);
    return rc;
}

/* ---- Remote: paced sending ------------------------------------------------- */

struct progress {
    bool on;          /* stderr is a terminal */
    double start;     /* monotonic ms */
    double last_draw; /* monotonic ms */
    long long total;  /* file bytes, 0 when unknown */
    long long done;   /* bytes read so far */
    unsigned long long sent;
};

static void fmt_duration(double s, char *buf, size_t n)
{
    long long t = (long long)(s + 0.5);
    if (t >= 3600) {
        snprintf(buf, n, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
    } else {
        snprintf(buf, n, "%lld:%02lld", t / 60, t % 60);
    }
}

static void progress_draw(struct progress *p, bool force)
{
    double now = cli_mono_ms();
    if (!p->on || (!force && now - p->last_draw < PROGRESS_EVERY_MS)) {
        return;
    }
    p->last_draw = now;
    double elapsed = (now - p->start) / 1000.0;
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0.0;
    if (frac > 1.0) {
        frac = 1.0;
    }
    double rate = elapsed > 0 ? (double)p->sent / elapsed : 0.0;
    /* The ETA assumes the rest of the file goes at the pace of what went so
     * far, measured in bytes, which suits both paced and --max runs. */
    char eta[32] = "--:--";
    if (frac >= 0.01 && frac < 1.0) {
        fmt_duration(elapsed / frac - elapsed, eta, sizeof eta);
    } else if (frac >= 1.0) {
        fmt_duration(0, eta, sizeof eta);
    }
    int width = 30;
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_col < 80) {
        width = ws.ws_col > 60 ? ws.ws_col - 50 : 10; /* the numbers need ~50 columns */
    }
    int fill = (int)(frac * width);
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++) {
        fputc(i < fill ? '#' : '-', stderr);
    }
    fprintf(stderr, "] %3.0f%%  %llu events  %.0f/s  ETA %s\x1b[K", frac * 100.0, p->sent, rate,
            eta);
    fflush(stderr);
}

/* The event time of a line, from its "ts": an RFC 3339 string or integer
 * epoch milliseconds. false when there is none to read. */
static bool line_ts(const char *line, size_t len, int64_t *out)
{
    cJSON *root = cJSON_ParseWithLength(line, len);
    bool ok = false;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
    if (cJSON_IsString(ts)) {
        ok = ioc_time_parse(ts->valuestring, out) == 0;
    } else if (cJSON_IsNumber(ts) && ts->valuedouble == floor(ts->valuedouble) &&
               fabs(ts->valuedouble) < 9.0e15) {
        *out = (int64_t)ts->valuedouble;
        ok = true;
    }
    cJSON_Delete(root);
    return ok;
}

static int replay_remote(const struct replay_opts *o)
{
    FILE *f = fopen(o->file, "rb");
    if (!f) {
        return cli_fail("replay", "cannot open %s: %s", o->file, strerror(errno));
    }
    struct progress pr = {.on = isatty(2) == 1};
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        pr.total = (long long)sb.st_size;
    }

    struct cli_push push;
    struct cli_rel *relp = NULL;
    int rc = o->rel.reliable ? cli_rel_open(&relp, "replay", o->endpoint, &o->rel)
                             : cli_push_open(&push, "replay", o->endpoint);
    if (rc != CLI_OK) {
        fclose(f);
        return rc;
    }
    cli_catch_stop_signals();

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool anchored = false, failed = false;
    int64_t anchor_ts = 0;
    double anchor_wall = 0;
    pr.start = cli_mono_ms();
    progress_draw(&pr, true);
    while (!cli_stop_requested() && (n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        pr.done += n;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        if (strspn(line, " \t\r") >= len) {
            continue; /* blank line */
        }
        int64_t ts;
        if (!o->max && line_ts(line, len, &ts)) {
            if (!anchored) {
                anchored = true;
                anchor_ts = ts;
                anchor_wall = cli_mono_ms();
            }
            double due = anchor_wall + (double)(ts - anchor_ts) / o->speed;
            double now;
            while ((now = cli_mono_ms()) < due && !cli_stop_requested()) {
                cli_sleep_ms(due - now < SLEEP_SLICE_MS ? due - now : SLEEP_SLICE_MS);
                progress_draw(&pr, false);
            }
        }
        if ((relp ? cli_rel_send(relp, line, len) : cli_push_send(&push, line, len)) != 0) {
            failed = !cli_stop_requested();
            break;
        }
        pr.sent++;
        progress_draw(&pr, false);
    }
    if (!failed && !cli_stop_requested() && ferror(f)) {
        cli_fail("replay", "reading %s: %s", o->file, strerror(errno));
        failed = true;
    }
    free(line);
    fclose(f);

    progress_draw(&pr, true);
    if (pr.on) {
        fputc('\n', stderr);
    }
    rc = relp ? cli_rel_close(relp) : cli_push_close(&push);
    double secs = (cli_mono_ms() - pr.start) / 1000.0;
    fprintf(stderr, "replayed %llu events in %.1f s (%.0f events/s)%s\n", pr.sent, secs,
            secs > 0 ? (double)pr.sent / secs : 0.0, cli_stop_requested() ? " (interrupted)" : "");
    if (failed) {
        return CLI_FAIL;
    }
    if (cli_stop_requested()) {
        return CLI_INTERRUPTED;
    }
    return rc;
}

/* ---- Options ---------------------------------------------------------------- */

int cli_cmd_replay(int argc, char **argv)
{
    /* One option per line reads better than the grid clang-format packs. */
    /* clang-format off */
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"speed", required_argument, NULL, 's'},
        {"max", no_argument, NULL, OPT_MAX},
        {"local", no_argument, NULL, 'l'},
        {"config", required_argument, NULL, 'c'},
        {"rules", required_argument, NULL, 'r'},
        {"db", required_argument, NULL, 'd'},
        {"archive", no_argument, NULL, OPT_ARCHIVE},
        {"help", no_argument, NULL, 'h'},
        CLI_REL_LONGOPTS,
        CLI_KEY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    /* clang-format on */
    struct replay_opts o = {.speed = 1.0};
    bool speed_given = false;
    int c, rc = CLI_USAGE;

    /* Enough room for every --rules: there cannot be more than arguments. */
    o.rules = calloc((size_t)argc + 1, sizeof *o.rules);
    if (!o.rules) {
        return cli_fail("replay", "out of memory");
    }
    cli_rel_defaults(&o.rel);
    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":e:s:lc:r:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            o.endpoint = optarg;
            o.remote_given = true;
            break;
        case 's':
            if (cli_parse_double(optarg, 1e-6, 1e9, &o.speed) != 0 || o.speed <= 0) {
                rc = cli_usage_error("replay", "--speed needs a number greater than 0, not '%s'",
                                     optarg);
                goto done;
            }
            speed_given = o.remote_given = true;
            break;
        case OPT_MAX:
            o.max = o.remote_given = true;
            break;
        case 'l':
            o.local = true;
            break;
        case 'c':
            o.config = optarg;
            o.local_given = true;
            break;
        case 'r':
            o.rules[o.n_rules++] = optarg;
            o.local_given = true;
            break;
        case 'd':
            o.db = optarg;
            o.local_given = true;
            break;
        case OPT_ARCHIVE:
            o.archive = o.local_given = true;
            break;
        case 'h':
            fputs(replay_usage, stdout);
            cli_key_usage(stdout);
            rc = CLI_OK;
            goto done;
        default:
            if (cli_key_option(c, optarg)) {
                o.remote_given = true;
                break;
            }
            if (cli_rel_is_option(c)) {
                if ((rc = cli_rel_option("replay", c, optarg, &o.rel)) != CLI_OK) {
                    goto done;
                }
                o.remote_given = true;
                break;
            }
            rc = cli_opt_error("replay", c, argv);
            goto done;
        }
    }
    if (optind >= argc) {
        rc = cli_usage_error("replay", "no file given");
        goto done;
    }
    if (argc - optind > 1) {
        rc = cli_usage_error("replay", "one file at a time, not '%s' too", argv[optind + 1]);
        goto done;
    }
    o.file = argv[optind];
    if (speed_given && o.max) {
        rc = cli_usage_error("replay", "--speed and --max exclude each other");
        goto done;
    }
    if (o.local && o.remote_given) {
        rc = cli_usage_error("replay", "--local runs in-process at full speed; "
                                       "--endpoint, --speed, --max, --reliable and keys do not apply");
        goto done;
    }
    if ((rc = cli_rel_check("replay", &o.rel)) != CLI_OK) {
        goto done;
    }
    if (!o.local && (rc = cli_key_check("replay")) != CLI_OK) {
        goto done;
    }
    if (!o.endpoint) {
        o.endpoint = o.rel.reliable ? CLI_RELIABLE_ENDPOINT : DEFAULT_ENDPOINT;
    }
    if (!o.local && o.local_given) {
        rc = cli_usage_error("replay", "--config, --rules, --db and --archive need --local");
        goto done;
    }

    /* Checked here for both modes, so the message names the file the same way
     * whatever the engine would have said. */
    struct stat sb;
    if (access(o.file, R_OK) != 0 || stat(o.file, &sb) != 0) {
        rc = cli_fail("replay", "cannot read %s: %s", o.file, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        rc = cli_fail("replay", "cannot read %s: it is a directory", o.file);
        goto done;
    }
    rc = o.local ? replay_local(&o) : replay_remote(&o);

done:
    free(o.rules);
    return rc;
}
