/*
 * bench_zmq.c — ZeroMQ alone: the messages iocd would get, PUSH → PULL over loopback TCP, with
 * no engine behind the PULL socket.
 *
 * It is the transport's share of bench_iocd's figure: the same stream (read into memory
 * first), the same socket types and high-water marks (PUSH SNDHWM 100000, PULL RCVHWM 100000
 * as in_zmq's default), the same loopback TCP, one ZeroMQ context (one I/O thread) on each
 * side as two processes would have. The receiver is a second thread that only takes each
 * message (zmq_msg_recv) and counts it; events/s = messages / (first send → last receive).
 *
 * Output: a Markdown table row on stdout, progress on stderr, `summary:` lines for run.sh.
 * Never a test: `make bench` runs it through bench/run.sh.
 */
#include <getopt.h>
#include <pthread.h>

#include "bench_common.h"

#define WHO "bench_zmq"
#define DEFAULT_EVENTS 1000000L
#define DEFAULT_RUNS 5
#define HWM 100000

struct receiver {
    void *zctx;
    void *sock; /* the bound PULL socket, the thread's alone once it runs */
    char endpoint[64];
    size_t expect;
    size_t got;
    int64_t bytes;
    int64_t done_ns;
    int failed;
};

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;
    void *sock = r->sock;
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (r->got < r->expect) {
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            if (errno == EINTR) {
                continue;
            }
            r->failed = 1;
            break;
        }
        r->bytes += (int64_t)zmq_msg_size(&m);
        r->got++;
    }
    r->done_ns = bench_now_ns();
    zmq_msg_close(&m);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(sock);
    return NULL;
}

/* The PULL socket is bound here and handed to the receiver thread (ZeroMQ lets a socket move
 * between threads with a memory barrier, which pthread_create is), so the sender never races
 * the bind. */
static int run_once(const struct bench_lines *l, double *eps)
{
    struct receiver r = {.expect = l->n};
    void *sctx = zmq_ctx_new(), *push = NULL;
    int port, hwm = HWM, rc = -1;
    pthread_t th;
    bool started = false;
    r.zctx = zmq_ctx_new();
    if (!sctx || !r.zctx || bench_free_ports(WHO, &port, 1) != 0) {
        goto done;
    }
    snprintf(r.endpoint, sizeof r.endpoint, "tcp://127.0.0.1:%d", port);
    r.sock = zmq_socket(r.zctx, ZMQ_PULL);
    if (!r.sock || zmq_setsockopt(r.sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_bind(r.sock, r.endpoint) != 0) {
        fprintf(stderr, WHO ": cannot bind %s: %s\n", r.endpoint, zmq_strerror(errno));
        if (r.sock) {
            zmq_close(r.sock);
        }
        goto done;
    }
    if (pthread_create(&th, NULL, receiver_main, &r) != 0) {
        zmq_close(r.sock);
        goto done;
    }
    started = true;
    push = zmq_socket(sctx, ZMQ_PUSH);
    if (!push || zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_connect(push, r.endpoint) != 0) {
        fprintf(stderr, WHO ": cannot connect: %s\n", zmq_strerror(errno));
        goto done;
    }
    int64_t t0 = bench_now_ns();
    for (size_t i = 0; i < l->n; i++) {
        while (zmq_send(push, l->buf + l->off[i], l->len[i], 0) < 0) {
            if (errno != EINTR) {
                fprintf(stderr, WHO ": send: %s\n", zmq_strerror(errno));
                goto done;
            }
        }
    }
    pthread_join(th, NULL);
    started = false;
    if (r.failed || r.got != l->n) {
        fprintf(stderr, WHO ": received %zu of %zu\n", r.got, l->n);
        goto done;
    }
    double s = (double)(r.done_ns - t0) / 1e9;
    *eps = s > 0 ? (double)l->n / s : 0;
    fprintf(stderr, WHO ": %zu messages (%.1f MB) in %.3f s: %.0f messages/s\n", r.got,
            (double)r.bytes / 1e6, s, *eps);
    rc = 0;
done:
    if (push) {
        int linger = 0;
        zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(push);
    }
    if (started) {
        /* The receiver waits for messages that will not come: end its context under it. */
        zmq_ctx_shutdown(r.zctx);
        pthread_join(th, NULL);
    }
    if (sctx) {
        zmq_ctx_term(sctx);
    }
    if (r.zctx) {
        zmq_ctx_term(r.zctx);
    }
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
            printf("usage: bench_zmq [--events N] [--runs N] [--quick] [--stream FILE]\n\n"
                   "ZeroMQ alone: the stream PUSH -> PULL over loopback TCP, no engine.\n"
                   "Default %ld generated city events, %d runs; --quick: 100000 events, 2 "
                   "runs.\n",
                   DEFAULT_EVENTS, DEFAULT_RUNS);
            return 0;
        default:
            return 2;
        }
    }
    if (quick) {
        events = events_given ? events : 100000;
        runs = runs_given ? runs : 2;
    }
    char bin_dir[PATH_MAX], dir[PATH_MAX] = "", path[PATH_MAX];
    struct bench_lines lines = {0};
    double *eps = calloc((size_t)runs, sizeof *eps);
    int rc = 1;
    bench_self_dir(bin_dir, sizeof bin_dir, argv[0]);
    if (!eps) {
        goto done;
    }
    if (!stream) {
        if (bench_mkdtemp(WHO, dir, sizeof dir) != 0 ||
            bench_fmt(WHO, path, sizeof path, "%s/city.jsonl", dir) != 0 ||
            bench_citygen(WHO, bin_dir, events, path) != 0) {
            goto done;
        }
        stream = path;
    }
    if (bench_lines_load(WHO, stream, &lines) != 0) {
        goto done;
    }
    for (int i = 0; i < runs; i++) {
        if (run_once(&lines, &eps[i]) != 0) {
            goto done;
        }
    }
    double m = bench_median(eps, runs);
    printf("| ZeroMQ alone: PUSH → PULL, loopback TCP, %zu messages, no engine | %.0f | %.0f "
           "| %.0f |\n",
           lines.n, m, eps[0], eps[runs - 1]);
    fprintf(stderr, "summary: zmq_eps %.0f\n", m);
    rc = 0;
done:
    bench_lines_free(&lines);
    bench_rmtree(dir);
    free(eps);
    return rc;
}
