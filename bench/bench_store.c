/*
 * bench_store.c — SQLite alone: the store's event-archive insert rate, without the engine.
 *
 * It is the archive's share of bench_iocd's figure, through the same code: ioc_store_open()
 * (WAL, synchronous NORMAL, queue_max 64, archive_events on: the embedded default's store),
 * ioc_batch_event() and ioc_store_submit(), then ioc_store_close(), which waits until every
 * batch is committed. Batches hold 4096 events, what in_zmq and in_file hand the engine per
 * loop turn (the engine submits one batch per turn).
 *
 * The events are decoded (ioc_decoder, the schema from the source tree) and put into batches
 * before the clock starts, so the figure is the writer thread alone: open → submit every
 * batch → close returned. The done callbacks run on this thread between submits, as the
 * engine's loop runs them, so written batches are freed as they complete.
 *
 * Every run writes a fresh database in a scratch directory, removed at the end.
 * Output: a Markdown table row on stdout, progress on stderr, `summary:` lines for run.sh.
 * Never a test: `make bench` runs it through bench/run.sh.
 */
#include <getopt.h>

#include <uv.h>

#include "ioc/config.h"
#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/store.h"

#include "bench_common.h"

#define WHO "bench_store"
#define DEFAULT_EVENTS 1000000L
#define DEFAULT_RUNS 5
#define BATCH_EVENTS 4096

struct done_count {
    size_t batches;
    size_t records; /* in batches that committed */
    int failed;
};

static void on_done(struct ioc_batch *b, int status, void *arg)
{
    struct done_count *d = arg;
    d->batches++;
    d->failed |= status != 0;
    d->records += status == 0 ? ioc_batch_size(b) : 0;
    ioc_batch_free(b);
}

/* A decoder on the event schema of the source tree, as the engine builds its own. */
static struct ioc_decoder *make_decoder(void)
{
    char path[PATH_MAX], err[256] = "";
    struct ioc_decoder *dec = NULL;
    struct stat st;
    char *text = NULL;
    if (bench_fmt(WHO, path, sizeof path, "%s/schemas/event.schema.json", ioc_datadir()) != 0) {
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (f && fstat(fileno(f), &st) == 0 && (text = malloc((size_t)st.st_size + 1)) &&
        fread(text, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
        text[st.st_size] = '\0';
        if (ioc_decoder_create(text, (size_t)st.st_size, 65536, &dec, err, sizeof err) != 0) {
            fprintf(stderr, WHO ": %s: %s\n", path, err);
            dec = NULL;
        }
    } else {
        fprintf(stderr, WHO ": cannot read %s\n", path);
    }
    if (f) {
        fclose(f);
    }
    free(text);
    return dec;
}

/* Decodes every line into batches of BATCH_EVENTS (untimed). */
static int build_batches(struct ioc_decoder *dec, const struct bench_lines *l,
                         struct ioc_batch ***out, size_t *n_out)
{
    size_t n = (l->n + BATCH_EVENTS - 1) / BATCH_EVENTS;
    struct ioc_batch **bs = calloc(n ? n : 1, sizeof *bs);
    char reason[256];
    int64_t now = ioc_time_now_ms();
    if (!bs) {
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        struct ioc_batch **b = &bs[i / BATCH_EVENTS];
        struct ioc_event ev;
        if (!*b && !(*b = ioc_batch_new())) {
            goto fail;
        }
        if (ioc_decoder_decode(dec, l->buf + l->off[i], l->len[i], now, &ev, reason,
                               sizeof reason) != 0) {
            fprintf(stderr, WHO ": line %zu does not decode: %s\n", i + 1, reason);
            goto fail;
        }
        int rc = ioc_batch_event(*b, &ev);
        ioc_event_clear(&ev);
        if (rc != 0) {
            goto fail;
        }
    }
    *out = bs;
    *n_out = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++) {
        ioc_batch_free(bs[i]);
    }
    free(bs);
    return -1;
}

static int run_once(struct ioc_decoder *dec, const struct bench_lines *l, const char *db,
                    double *eps)
{
    struct ioc_batch **bs = NULL;
    size_t nb = 0;
    struct done_count done = {0};
    struct ioc_store *s = NULL;
    char err[256] = "";
    uv_loop_t loop;
    int rc = -1;
    bench_remove_db(db);
    if (build_batches(dec, l, &bs, &nb) != 0 || uv_loop_init(&loop) != 0) {
        return -1;
    }
    struct ioc_store_opts o = {
        .path = db, .archive_events = true, .synchronous = "NORMAL", .queue_max = 64};
    int64_t t0 = bench_now_ns();
    if (ioc_store_open(&o, &loop, &s, err, sizeof err) != 0) {
        fprintf(stderr, WHO ": %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < nb; i++) {
        ioc_store_submit(s, bs[i], on_done, &done);
        bs[i] = NULL;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ioc_store_close(s); /* runs the remaining done callbacks */
    int64_t t1 = bench_now_ns();
    uv_run(&loop, UV_RUN_DEFAULT); /* lets the store's handle close and free it */
    double secs = (double)(t1 - t0) / 1e9;
    *eps = secs > 0 ? (double)l->n / secs : 0;
    fprintf(stderr, WHO ": %zu events archived in %zu batches, %.3f s: %.0f events/s%s\n",
            done.records, done.batches, secs, *eps, done.failed ? " (with errors!)" : "");
    rc = done.failed || done.records != l->n ? -1 : 0;
done:
    for (size_t i = 0; i < nb; i++) {
        ioc_batch_free(bs[i]);
    }
    free(bs);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, WHO ": the loop did not close clean\n");
    }
    bench_remove_db(db);
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
    const char *stream = NULL;
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
        case 's':
            stream = optarg;
            break;
        case 'h':
            printf("usage: bench_store [--events N] [--runs N] [--quick] [--stream FILE]\n\n"
                   "SQLite alone: the store's event-archive insert rate (ioc_store_open,\n"
                   "ioc_batch_event, ioc_store_submit), batches of %d events.\n"
                   "Default %ld generated city events, %d runs; --quick: 100000 events, 2 "
                   "runs.\n",
                   BATCH_EVENTS, DEFAULT_EVENTS, DEFAULT_RUNS);
            return 0;
        default:
            return 2;
        }
    }
    if (quick) {
        events = events_given ? events : 100000;
        runs = runs_given ? runs : 2;
    }
    setenv("IOC_LOG", "warn", 0);
    char bin_dir[PATH_MAX], dir[PATH_MAX] = "", path[PATH_MAX], db[PATH_MAX];
    struct bench_lines lines = {0};
    struct ioc_decoder *dec = NULL;
    double *eps = calloc((size_t)runs, sizeof *eps);
    int rc = 1;
    bench_self_dir(bin_dir, sizeof bin_dir, argv[0]);
    if (!eps || bench_mkdtemp(WHO, dir, sizeof dir) != 0 ||
        bench_fmt(WHO, db, sizeof db, "%s/archive.db", dir) != 0 || !(dec = make_decoder())) {
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
    for (int i = 0; i < runs; i++) {
        if (run_once(dec, &lines, db, &eps[i]) != 0) {
            goto done;
        }
    }
    double m = bench_median(eps, runs);
    printf("| SQLite alone: the store's archive inserts, %zu events, batches of %d | %.0f | %.0f "
           "| %.0f |\n",
           lines.n, BATCH_EVENTS, m, eps[0], eps[runs - 1]);
    fprintf(stderr, "summary: store_eps %.0f\n", m);
    rc = 0;
done:
    ioc_decoder_destroy(dec);
    bench_lines_free(&lines);
    bench_rmtree(dir);
    free(eps);
    return rc;
}
