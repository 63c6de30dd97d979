/*
 * bench_latency.c — latency from sending an event to receiving the incident change it caused,
 * through a running iocd, at fixed offered rates.
 *
 * Setup per run: a fresh iocd (bench_common.h: scratch config, free loopback ports, shipped
 * rules, archive_events: true as in the embedded default), one PUSH sender (this program's main
 * thread) and one SUB (a second thread) on iocd's PUB socket.
 *
 * The stream: water_level readings of `--devices` gauges, round robin, event time = the wall
 * clock in epoch ms. Every `--hot-every`th event reads 1.5..2.4 m, so the shipped flood.level
 * rule (value >= 1.5, key device) opens or updates an incident for it: exactly one published
 * change per hot event. The other readings are 0.5 m and publish nothing, but cost the engine
 * as much to decode, match and archive. Ids are "lat-<n>"; the change names its event's id.
 *
 * Pacing: event n is due at start + n / rate. The sender sleeps (clock_nanosleep on
 * CLOCK_MONOTONIC, timer slack 1 us) until the next event is due, but at least SLICE_NS, then
 * sends every event already due; busy-waiting, or a wake-up per event, would take a core from
 * iocd on a 2-core machine. Each hot event's
 * send time (CLOCK_MONOTONIC just before zmq_send) goes into a table indexed by n; the
 * subscriber stamps a change when its JSON frame arrives, looks its event id up, and the
 * difference is one sample. So a sample covers ZeroMQ both ways, decoding, matching, the
 * SQLite commit (persist, then publish) and the publish. Only opened, updated and graded
 * changes are samples (an escalation carries no new event), each event id once.
 *
 * Losses are reported, not hidden: PUB drops show as gaps in `seq`; "missing" counts hot
 * events whose change never arrived (within 3 s after the last send). The achieved send rate
 * and how far the sender fell behind its schedule show whether the offered rate was offered.
 *
 * The table is written after a short warm-up (hot events until the SUB sees one, so the
 * subscription is in place before the measured phase starts).
 *
 * Output: a Markdown table on stdout (median over runs of each percentile); progress on
 * stderr, and `summary:` lines for run.sh. Never a test: `make bench` runs it via bench/run.sh.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>

#include "bench_common.h"

#define WHO "bench_latency"
#define DEFAULT_SECONDS 10
#define DEFAULT_RUNS 3
#define DEFAULT_DEVICES 1000
#define DEFAULT_HOT_EVERY 10
#define MAX_RATES 8
/* How long the subscriber waits for the last changes after the last send. */
#define DRAIN_MS 3000
/* The sender sleeps at least this long at a time and then sends everything due: 10,000
 * wake-ups a second instead of one per event, which at 100,000 events/s would take most of a
 * core from iocd on a 2-core machine. Events go out in bursts of rate x 100 us (10 at
 * 100,000/s); each is stamped when it is really sent, so the pacing adds no latency. */
#define SLICE_NS 100000

/* Shared between the sender (main thread) and the subscriber thread. The table and the flags
 * are atomics; the rest belongs to the subscriber until it is joined. */
struct sub {
    void *zctx;
    const char *endpoint;
    _Atomic int64_t *sent_ns; /* event n -> send time (ns); 0: not a hot event or not sent */
    size_t n_events;
    atomic_bool stop;
    atomic_uint_fast64_t received; /* changes received, warm-up included */
    atomic_size_t sampled;         /* hot events whose change arrived */
    atomic_int_fast64_t last_rx_ns;
    /* The subscriber's own results. */
    int64_t *lat;  /* ns */
    int64_t *sent; /* the send time of each sample, ns, for the per-second view */
    size_t n_lat;
    uint8_t *seen; /* per event n: a sample was taken */
    uint64_t gaps, unknown, dup;
    int failed;
};

struct run {
    double p50, p99, p999, max; /* ms */
    size_t samples, hot, missing;
    uint64_t gaps, sent;
    double achieved, max_lag_ms;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_latency [--rates R1,R2,...] [--seconds S] [--runs N] [--devices N]\n"
            "                     [--hot-every K] [--quick]\n"
            "\n"
            "  --rates LIST     offered events/s (default 10000,100000)\n"
            "  --seconds S      measured phase of each run (default %d)\n"
            "  --runs N         runs per rate, each on a fresh iocd (default %d)\n"
            "  --devices N      gauges the readings rotate over (default %d)\n"
            "  --hot-every K    every K-th reading is at or above 1.5 m and publishes a change "
            "(default %d)\n"
            "  --quick          2 s, 1 run: a smoke run, not a figure to quote\n",
            DEFAULT_SECONDS, DEFAULT_RUNS, DEFAULT_DEVICES, DEFAULT_HOT_EVERY);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Where the value of `key` (given with its quotes and colon) starts in a JSON text, or NULL.
 * A text search, not a parse: the incident object with its SOP list is most of a change, and
 * "seq", "change" and "event" are top-level keys the engine writes exactly this way. */
static const char *json_after(const char *s, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *q = memmem(s, len, key, kl);
    return q ? q + kl : NULL;
}

/* One change: its seq, and when it is a sample, the latency. */
static void on_change(struct sub *s, const char *json, size_t len, int64_t rx, int64_t *last_seq)
{
    const char *p = json_after(json, len, "\"seq\":");
    if (p) {
        int64_t seq = strtoll(p, NULL, 10);
        if (*last_seq >= 0 && seq > *last_seq + 1) {
            s->gaps += (uint64_t)(seq - *last_seq - 1);
        }
        *last_seq = seq;
    }
    const char *c = json_after(json, len, "\"change\":\"");
    if (!c || !(strncmp(c, "opened\"", 7) == 0 || strncmp(c, "updated\"", 8) == 0 ||
                strncmp(c, "graded\"", 7) == 0)) {
        return;
    }
    const char *ev = json_after(json, len, "\"event\":{");
    const char *id = ev ? json_after(ev, (size_t)(json + len - ev), "\"id\":\"lat-") : NULL;
    if (!id) {
        s->unknown++; /* a warm-up event */
        return;
    }
    size_t n = (size_t)strtoull(id, NULL, 10);
    int64_t t = n < s->n_events ? atomic_load_explicit(&s->sent_ns[n], memory_order_relaxed) : 0;
    if (t == 0) {
        s->unknown++;
    } else if (s->seen[n]) {
        s->dup++;
    } else {
        s->seen[n] = 1;
        s->sent[s->n_lat] = t;
        s->lat[s->n_lat++] = rx - t;
        atomic_fetch_add(&s->sampled, 1);
    }
}

static void *sub_main(void *arg)
{
    struct sub *s = arg;
    int timeout = 100, hwm = 0;
    int64_t last_seq = -1;
    void *sock = zmq_socket(s->zctx, ZMQ_SUB);
    if (!sock || zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0) != 0 || zmq_connect(sock, s->endpoint) != 0) {
        fprintf(stderr, WHO ": cannot subscribe to %s: %s\n", s->endpoint, zmq_strerror(errno));
        s->failed = 1;
        if (sock) {
            zmq_close(sock);
        }
        return NULL;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (!atomic_load(&s->stop)) {
        /* Frame 1 is the topic, frame 2 the change. */
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            continue; /* timeout: look at the stop flag */
        }
        int more = zmq_msg_more(&m);
        if (!more) {
            continue;
        }
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            continue;
        }
        int64_t rx = bench_now_ns();
        atomic_store(&s->last_rx_ns, rx);
        on_change(s, zmq_msg_data(&m), zmq_msg_size(&m), rx, &last_seq);
        atomic_fetch_add(&s->received, 1);
    }
    zmq_msg_close(&m);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(sock);
    return NULL;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One reading; hot ones cycle through 1.5 .. 2.4 m (grades 3 and 2 of flood.level). */
static int format_event(char *buf, size_t len, const char *prefix, size_t n, int devices, bool hot)
{
    double v = hot ? 1.5 + (double)(n / (size_t)devices % 10) * 0.1 : 0.5;
    int dev = (int)(n % (size_t)devices);
    return snprintf(buf, len,
                    "{\"id\":\"%s%zu\",\"source\":\"sensor\",\"type\":\"water_level\","
                    "\"ts\":%lld,\"device\":\"LT-%04d\",\"zone\":\"Z%02d\",\"value\":%.2f,"
                    "\"unit\":\"m\"}",
                    prefix, n, (long long)wall_ms(), dev, dev % 20 + 1, v);
}

static int send_one(void *push, const char *buf, int len)
{
    while (zmq_send(push, buf, (size_t)len, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, WHO ": send: %s\n", zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Hot warm-up events every 20 ms until the subscriber has seen a change (at most 10 s). */
static int warm_up(void *push, struct sub *s, int devices)
{
    char buf[512];
    for (size_t k = 0; k < 500; k++) {
        if (atomic_load(&s->received) > 0) {
            bench_sleep_ms(200);
            return 0;
        }
        int len = format_event(buf, sizeof buf, "warm-", k, devices, true);
        if (send_one(push, buf, len) != 0) {
            return -1;
        }
        bench_sleep_ms(20);
    }
    fprintf(stderr, WHO ": no change arrived on the subscriber within 10 s\n");
    return -1;
}

/* The measured phase: n_events at `rate`, hot ones stamped in the table. */
static int paced_send(void *push, struct sub *s, long rate, int devices, int hot_every,
                      struct run *r)
{
    char buf[512];
    int64_t t0 = bench_now_ns(), max_lag = 0;
    for (size_t n = 0; n < s->n_events;) {
        int64_t due = t0 + (int64_t)((double)n * 1e9 / (double)rate);
        int64_t now = bench_now_ns();
        if (now < due) {
            int64_t wake = due - now < SLICE_NS ? now + SLICE_NS : due;
            struct timespec ts = {wake / 1000000000, wake % 1000000000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            continue;
        }
        max_lag = now - due > max_lag ? now - due : max_lag;
        /* Everything already due goes now, each with its own stamp. */
        for (; n < s->n_events && t0 + (int64_t)((double)n * 1e9 / (double)rate) <= now; n++) {
            bool hot = n % (size_t)hot_every == 0;
            int len = format_event(buf, sizeof buf, "lat-", n, devices, hot);
            int64_t ts = bench_now_ns();
            if (hot) {
                atomic_store_explicit(&s->sent_ns[n], ts, memory_order_relaxed);
            }
            if (send_one(push, buf, len) != 0) {
                return -1;
            }
        }
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    r->sent = s->n_events;
    r->achieved = secs > 0 ? (double)s->n_events / secs : 0;
    r->max_lag_ms = (double)max_lag / 1e6;
    return 0;
}

static double pct(const int64_t *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i < n ? i : n - 1] / 1e6;
}

/* The worst latency of each second of sending, on stderr: tells a backlog that grows (the
 * engine cannot keep up with the rate) from isolated stalls (a checkpoint, a neighbour). */
static void per_second(const struct sub *s, int seconds)
{
    if (s->n_lat == 0 || seconds > 600) {
        return;
    }
    double worst[600] = {0};
    int64_t t0 = s->sent[0];
    for (size_t i = 0; i < s->n_lat; i++) {
        int64_t k = (s->sent[i] - t0) / 1000000000;
        if (k >= 0 && k < seconds) {
            double ms = (double)s->lat[i] / 1e6;
            worst[k] = ms > worst[k] ? ms : worst[k];
        }
    }
    fprintf(stderr, WHO ": worst latency of each second, ms:");
    for (int k = 0; k < seconds; k++) {
        fprintf(stderr, " %.1f", worst[k]);
    }
    fprintf(stderr, "\n");
}

static int run_once(const char *bin_dir, const char *dir, long rate, int seconds, int devices,
                    int hot_every, struct run *r)
{
    struct bench_iocd d;
    struct sub s;
    pthread_t th;
    bool th_started = false;
    int rc = -1, hwm = 100000, linger = 0;
    void *push = NULL;

    memset(r, 0, sizeof *r);
    memset(&s, 0, sizeof s);
    s.n_events = (size_t)rate * (size_t)seconds;
    s.sent_ns = calloc(s.n_events, sizeof *s.sent_ns);
    s.seen = calloc(s.n_events, 1);
    s.lat = calloc(s.n_events / (size_t)hot_every + 1, sizeof *s.lat);
    s.sent = calloc(s.n_events / (size_t)hot_every + 1, sizeof *s.sent);
    if (!s.sent_ns || !s.seen || !s.lat || !s.sent) {
        fprintf(stderr, WHO ": out of memory\n");
        free((void *)s.sent_ns);
        free(s.seen);
        free(s.lat);
        free(s.sent);
        return -1;
    }
    if (bench_iocd_start(&d, WHO, bin_dir, dir, true) != 0) {
        goto done;
    }
    s.zctx = zmq_ctx_new();
    s.endpoint = d.publish;
    if (!s.zctx || pthread_create(&th, NULL, sub_main, &s) != 0) {
        goto done;
    }
    th_started = true;
    push = zmq_socket(s.zctx, ZMQ_PUSH);
    if (!push || zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_connect(push, d.ingest) != 0) {
        fprintf(stderr, WHO ": cannot connect to %s: %s\n", d.ingest, zmq_strerror(errno));
        goto done;
    }
    if (warm_up(push, &s, devices) != 0 || paced_send(push, &s, rate, devices, hot_every, r)) {
        goto done;
    }
    /* Wait for the tail: until every hot event has its change, or DRAIN_MS without news. */
    size_t hot = (s.n_events + (size_t)hot_every - 1) / (size_t)hot_every;
    for (;;) {
        bench_sleep_ms(20);
        int64_t quiet = bench_now_ns() - atomic_load(&s.last_rx_ns);
        if (atomic_load(&s.sampled) >= hot || quiet > (int64_t)DRAIN_MS * 1000000) {
            break;
        }
    }
    rc = 0;
done:
    if (th_started) {
        atomic_store(&s.stop, true);
        pthread_join(th, NULL);
        rc = s.failed ? -1 : rc;
    }
    if (push) {
        zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(push);
    }
    if (s.zctx) {
        zmq_ctx_term(s.zctx);
    }
    bench_iocd_stop(&d, NULL);
    bench_remove_db(d.db);
    if (rc == 0) {
        per_second(&s, seconds);
        qsort(s.lat, s.n_lat, sizeof *s.lat, cmp_i64);
        r->samples = s.n_lat;
        r->hot = (s.n_events + (size_t)hot_every - 1) / (size_t)hot_every;
        r->missing = r->hot > s.n_lat ? r->hot - s.n_lat : 0;
        r->gaps = s.gaps;
        r->p50 = pct(s.lat, s.n_lat, 0.50);
        r->p99 = pct(s.lat, s.n_lat, 0.99);
        r->p999 = pct(s.lat, s.n_lat, 0.999);
        r->max = s.n_lat ? (double)s.lat[s.n_lat - 1] / 1e6 : 0;
        fprintf(stderr,
                WHO ": %ld/s offered, %.0f/s sent (lag max %.1f ms): %zu samples of %zu hot, "
                    "p50 %.3f p99 %.3f p99.9 %.3f max %.3f ms, %llu seq gaps\n",
                rate, r->achieved, r->max_lag_ms, r->samples, r->hot, r->p50, r->p99, r->p999,
                r->max, (unsigned long long)r->gaps);
    }
    free((void *)s.sent_ns);
    free(s.seen);
    free(s.lat);
    free(s.sent);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rates", required_argument, NULL, 'R'},
        {"seconds", required_argument, NULL, 'S'},
        {"runs", required_argument, NULL, 'r'},
        {"devices", required_argument, NULL, 'd'},
        {"hot-every", required_argument, NULL, 'k'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long rates[MAX_RATES] = {10000, 100000};
    int n_rates = 2, seconds = DEFAULT_SECONDS, runs = DEFAULT_RUNS, devices = DEFAULT_DEVICES,
        hot_every = DEFAULT_HOT_EVERY;
    bool quick = false, seconds_given = false, runs_given = false;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'R':
            n_rates = bench_parse_longs(WHO, optarg, "--rates", 1, rates, MAX_RATES);
            break;
        case 'S':
            seconds = (int)bench_parse_long(WHO, optarg, "--seconds", 1);
            seconds_given = true;
            break;
        case 'r':
            runs = (int)bench_parse_long(WHO, optarg, "--runs", 1);
            runs_given = true;
            break;
        case 'd':
            devices = (int)bench_parse_long(WHO, optarg, "--devices", 1);
            break;
        case 'k':
            hot_every = (int)bench_parse_long(WHO, optarg, "--hot-every", 1);
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
    if (optind < argc || n_rates == 0) {
        usage(stderr);
        return 2;
    }
    if (quick) {
        seconds = seconds_given ? seconds : 2;
        runs = runs_given ? runs : 1;
    }
    setenv("IOC_LOG", "warn", 0);
    /* nanosleep may overshoot by the timer slack (50 us by default): ask for 1 us. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

    char bin_dir[PATH_MAX], dir[PATH_MAX] = "";
    int rc = 1;
    struct run *r = calloc((size_t)runs, sizeof *r);
    double *v = calloc((size_t)runs, sizeof *v);
    bench_self_dir(bin_dir, sizeof bin_dir, argv[0]);
    if (!r || !v || bench_mkdtemp(WHO, dir, sizeof dir) != 0) {
        goto done;
    }
    printf("| offered events/s | sent events/s (median) | sender max lag ms | changes expected "
           "per run | samples per run (median) | p50 ms | p99 ms | p99.9 ms | max ms | missing "
           "| PUB seq gaps |\n");
    printf("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (int i = 0; i < n_rates; i++) {
        for (int k = 0; k < runs; k++) {
            fprintf(stderr, WHO ": %ld events/s, run %d/%d (%d s)\n", rates[i], k + 1, runs,
                    seconds);
            if (run_once(bin_dir, dir, rates[i], seconds, devices, hot_every, &r[k]) != 0) {
                goto done;
            }
        }
        double p50, p99, p999, mx, ach, lag, smp;
        uint64_t missing = 0, gaps = 0;
#define MED(field, out)                                                                            \
    do {                                                                                           \
        for (int k = 0; k < runs; k++) {                                                           \
            v[k] = (double)r[k].field;                                                             \
        }                                                                                          \
        out = bench_median(v, runs);                                                               \
    } while (0)
        MED(p50, p50);
        MED(p99, p99);
        MED(p999, p999);
        MED(max, mx);
        MED(achieved, ach);
        MED(max_lag_ms, lag);
        MED(samples, smp);
#undef MED
        for (int k = 0; k < runs; k++) {
            missing += r[k].missing;
            gaps += r[k].gaps;
        }
        printf("| %ld | %.0f | %.1f | %zu | %.0f | %.3f | %.3f | %.3f | %.3f | %llu | %llu |\n",
               rates[i], ach, lag, r[0].hot, smp, p50, p99, p999, mx, (unsigned long long)missing,
               (unsigned long long)gaps);
        fprintf(stderr, "summary: latency_p99_ms_%ld_every%d %.3f\n", rates[i], hot_every, p99);
    }
    printf("\nEach rate: %d runs of %d s, each on a fresh iocd; every percentile is the median "
           "of the runs' percentiles; missing and gaps are summed over the runs. %d gauges, "
           "every %dth reading publishes a change.\n",
           runs, seconds, devices, hot_every);
    rc = 0;
done:
    bench_rmtree(dir);
    free(r);
    free(v);
    return rc;
}
