/*
 * bench_iocd.c — events per second through a running iocd over ZeroMQ, SQLite archive on.
 *
 * What it measures: iocd started as users start it (build/iocd -c FILE; a config written into
 * a scratch directory with free loopback ports, the database there, archive_events: true, the
 * shipped rules), fed a city stream by one PUSH socket as fast as ZeroMQ takes it. The stream
 * is read into memory first, so the sender never waits on the disk; zmq_send blocks when iocd's
 * receive queue (in_zmq rcvhwm) and our send queue are full, so the engine sets the pace.
 *
 * Two clocks per run, both from the first send:
 *   accepted   until iocd's status says it has received every event sent (polled on the control
 *              socket every 5 ms): events/s = accepted / that time, the headline figure;
 *   durable    until iocd has exited after SIGTERM, which drains and commits everything: the
 *              rate at which the archive really holds the events. The two differ by the store
 *              queue (at most store.queue_max batches) plus the shutdown.
 * Sent, received, accepted and the rows of the events table are reported, so a loss shows.
 *
 * Each run starts a fresh iocd on an empty database; the scratch directory is removed at the
 * end, iocd is always stopped (SIGKILL after a minute if SIGTERM does not end it).
 *
 * Output: a Markdown table on stdout; progress on stderr, and `summary:` lines for run.sh.
 * This is a benchmark program, never a test: `make bench` runs it through bench/run.sh.
 */
#include <getopt.h>

#include <sqlite3.h>

#include "bench_common.h"

#define WHO "bench_iocd"
#define DEFAULT_EVENTS 1000000L
#define DEFAULT_RUNS 5
#define QUICK_EVENTS 100000L
#define QUICK_RUNS 2
/* Gives up when iocd's received counter has not moved for this long. */
#define STALL_MS 10000
#define POLL_MS 5

struct run {
    uint64_t sent, received, accepted, rejected, duplicates;
    int64_t archived;
    double send_s, accept_s, durable_s;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_iocd [--events N] [--runs N] [--quick] [--stream FILE]\n"
            "\n"
            "  --events N     events of the generated city stream (default %ld)\n"
            "  --runs N       runs, each on a fresh iocd (default %d; medians are reported)\n"
            "  --quick        %ld events, %d runs: a smoke run, not a figure to quote\n"
            "  --stream FILE  send this JSON-lines file instead of generating one\n",
            DEFAULT_EVENTS, DEFAULT_RUNS, QUICK_EVENTS, QUICK_RUNS);
}

static int64_t count_events(const char *db)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM events", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    } else {
        fprintf(stderr, WHO ": %s: %s\n", db, h ? sqlite3_errmsg(h) : "cannot open");
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static int send_all(void *sock, const struct bench_lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        while (zmq_send(sock, l->buf + l->off[i], l->len[i], 0) < 0) {
            if (errno != EINTR) {
                fprintf(stderr, WHO ": send: %s\n", zmq_strerror(errno));
                return -1;
            }
        }
    }
    return 0;
}

/* Polls iocd until it has received `sent` events or stalls; fills the counters. */
static int wait_received(struct bench_iocd *d, struct run *r)
{
    static const char *const names[] = {"received", "accepted", "rejected", "duplicates"};
    uint64_t v[4] = {0}, last = 0;
    int64_t moved = bench_now_ns();
    for (;;) {
        if (bench_iocd_status(d, names, v, 4, 2000) == 0) {
            if (v[0] >= r->sent) {
                break;
            }
            if (v[0] != last) {
                last = v[0];
                moved = bench_now_ns();
            }
        }
        if (bench_now_ns() - moved > (int64_t)STALL_MS * 1000000) {
            fprintf(stderr, WHO ": iocd stalled at %llu of %llu events\n", (unsigned long long)v[0],
                    (unsigned long long)r->sent);
            break;
        }
        bench_sleep_ms(POLL_MS);
    }
    r->received = v[0];
    r->accepted = v[1];
    r->rejected = v[2];
    r->duplicates = v[3];
    return 0;
}

static int run_once(const char *bin_dir, const char *dir, const struct bench_lines *l,
                    struct run *r)
{
    struct bench_iocd d;
    memset(r, 0, sizeof *r);
    if (bench_iocd_start(&d, WHO, bin_dir, dir, true) != 0) {
        return -1;
    }
    int rc = -1, hwm = 100000, linger = 0;
    void *zctx = zmq_ctx_new();
    void *push = zctx ? zmq_socket(zctx, ZMQ_PUSH) : NULL;
    if (!push || zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_connect(push, d.ingest) != 0) {
        fprintf(stderr, WHO ": cannot connect to %s: %s\n", d.ingest, zmq_strerror(errno));
        goto done;
    }
    int64_t t0 = bench_now_ns();
    if (send_all(push, l) != 0) {
        goto done;
    }
    r->sent = l->n;
    r->send_s = (double)(bench_now_ns() - t0) / 1e9;
    wait_received(&d, r);
    r->accept_s = (double)(bench_now_ns() - t0) / 1e9;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(push);
    push = NULL;
    double stop_s = 0;
    if (bench_iocd_stop(&d, &stop_s) != 0) {
        goto done;
    }
    r->durable_s = (double)(bench_now_ns() - t0) / 1e9;
    r->archived = count_events(d.db);
    fprintf(stderr,
            WHO ": sent %llu, received %llu, accepted %llu, archived %lld: %.0f accepted/s "
                "(%.2f s), %.0f durable/s (%.2f s, exit took %.2f s)\n",
            (unsigned long long)r->sent, (unsigned long long)r->received,
            (unsigned long long)r->accepted, (long long)r->archived,
            r->accept_s > 0 ? (double)r->accepted / r->accept_s : 0, r->accept_s,
            r->durable_s > 0 ? (double)r->archived / r->durable_s : 0, r->durable_s, stop_s);
    rc = 0;
done:
    if (push) {
        zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(push);
    }
    if (zctx) {
        zmq_ctx_term(zctx);
    }
    bench_iocd_stop(&d, NULL);
    bench_remove_db(d.db);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"events", required_argument, NULL, 'e'}, {"runs", required_argument, NULL, 'r'},
        {"quick", no_argument, NULL, 'q'},        {"stream", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    long events = DEFAULT_EVENTS;
    int runs = DEFAULT_RUNS;
    bool quick = false, events_given = false, runs_given = false;
    const char *stream = NULL;
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
        case 's':
            stream = optarg;
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
        events = events_given ? events : QUICK_EVENTS;
        runs = runs_given ? runs : QUICK_RUNS;
    }
    /* iocd inherits this: its start and stop lines would bury the progress. */
    setenv("IOC_LOG", "warn", 0);

    char bin_dir[PATH_MAX], dir[PATH_MAX] = "", path[PATH_MAX];
    struct bench_lines lines = {0};
    struct run *r = calloc((size_t)runs, sizeof *r);
    double *acc = calloc((size_t)runs, sizeof *acc), *dur = calloc((size_t)runs, sizeof *dur),
           *snd = calloc((size_t)runs, sizeof *snd);
    int rc = 1;
    bench_self_dir(bin_dir, sizeof bin_dir, argv[0]);
    if (!r || !acc || !dur || !snd || bench_mkdtemp(WHO, dir, sizeof dir) != 0) {
        goto done;
    }
    if (!stream) {
        if (bench_fmt(WHO, path, sizeof path, "%s/city.jsonl", dir) != 0 ||
            bench_citygen(WHO, bin_dir, events, path) != 0) {
            goto done;
        }
        stream = path;
    }
    if (bench_lines_load(WHO, stream, &lines) != 0) {
        goto done;
    }
    fprintf(stderr, WHO ": %zu events in memory from %s\n", lines.n, stream);
    for (int i = 0; i < runs; i++) {
        fprintf(stderr, WHO ": run %d/%d\n", i + 1, runs);
        if (run_once(bin_dir, dir, &lines, &r[i]) != 0) {
            goto done;
        }
        acc[i] = r[i].accept_s > 0 ? (double)r[i].accepted / r[i].accept_s : 0;
        dur[i] = r[i].durable_s > 0 ? (double)r[i].archived / r[i].durable_s : 0;
        snd[i] = r[i].send_s > 0 ? (double)r[i].sent / r[i].send_s : 0;
    }
    /* Counts of the last run; a run that differs is flagged. */
    bool same = true;
    for (int i = 1; i < runs; i++) {
        same &= r[i].received == r[0].received && r[i].accepted == r[0].accepted &&
                r[i].archived == r[0].archived;
    }
    const struct run *last = &r[runs - 1];
    double m_acc = bench_median(acc, runs), m_dur = bench_median(dur, runs),
           m_snd = bench_median(snd, runs);
    printf("| measure | median events/s | min | max |\n|---|--:|--:|--:|\n");
    printf("| accepted by iocd (first send → status says all received) | %.0f | %.0f | %.0f |\n",
           m_acc, acc[0], acc[runs - 1]);
    printf("| durable in the archive (first send → iocd exited after SIGTERM) | %.0f | %.0f "
           "| %.0f |\n",
           m_dur, dur[0], dur[runs - 1]);
    printf("| sender alone (first → last zmq_send returned; blocked by iocd's pace) | %.0f "
           "| %.0f | %.0f |\n",
           m_snd, snd[0], snd[runs - 1]);
    printf("\n| events sent | received by iocd | accepted | rejected | duplicates "
           "| rows in `events` |\n|--:|--:|--:|--:|--:|--:|\n");
    printf("| %llu | %llu | %llu | %llu | %llu | %lld%s |\n", (unsigned long long)last->sent,
           (unsigned long long)last->received, (unsigned long long)last->accepted,
           (unsigned long long)last->rejected, (unsigned long long)last->duplicates,
           (long long)last->archived, same ? "" : " (runs differed!)");
    printf(
        "\nEach figure: %d runs, each on a fresh iocd and an empty database; median, min, max.\n",
        runs);
    fprintf(stderr, "summary: iocd_accepted_eps %.0f\nsummary: iocd_durable_eps %.0f\n", m_acc,
            m_dur);
    rc = 0;
done:
    bench_lines_free(&lines);
    bench_rmtree(dir);
    free(r);
    free(acc);
    free(dur);
    free(snd);
    return rc;
}
