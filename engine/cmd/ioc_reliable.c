/*
 * ioc_reliable.c — the reliable sender behind `ioc send --reliable` and
 * `ioc replay --reliable`: batches of events on a DEALER socket to the
 * engine's zmq_reliable input, each resent until the engine says it is
 * durable.
 *
 * Wire format (DESIGN §8; the engine's side is plugins/in_zmq_reliable):
 *     to the engine      [batch-id][event][event]...
 *     from the engine    [batch-id]["ok"]   or   [batch-id]["error"][reason]
 * The batch id is the batch's sequence number, 8 bytes big-endian, from 1.
 * A resend carries the same id and the same events; the engine drops events
 * it already has by (source, id), so resending is always safe.
 *
 * Who owns what. The caller's thread (the producer) appends events to the
 * batch being filled and seals it when full, waiting while --window batches
 * are unacknowledged. One sender thread owns the ZeroMQ sockets: it sends
 * sealed batches, seals a partial batch after BATCH_LINGER_MS (so a slow
 * stream, or `ioc send` at a prompt, still moves), reads acks, resends, and
 * prints the "waiting" notice. Both share the state below under one mutex;
 * a pipe wakes the sender thread when the producer sealed a batch. The stop
 * flag of ioc_common.c is the only global: signals are blocked in the sender
 * thread, so they interrupt the producer's blocking reads as before.
 *
 * Order matters as much as delivery. The engine rejects an event older than
 * its watermark (the newest event time minus the lateness), so a restarted
 * engine must see the unacknowledged batches again in their order, before
 * any newer one. Hence: batches go out strictly in id order (a batch that
 * cannot go out holds back those after it); when a batch times out, it and
 * every batch after it are sent again (go-back-N); when the connection drops
 * (a socket monitor tells), every batch sent on it is due again, before any
 * new one. ZMQ_IMMEDIATE keeps ZeroMQ from queueing batches for a connection
 * that is not up, and drops what was queued for one that went down, so a
 * stale copy cannot overtake the resends after a reconnect.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "ioc_cmd.h"

/* A partial batch waits this long for more events before it goes out. */
#define BATCH_LINGER_MS 100.0
/* After an "error" answer, the batch is sent again after this back-off. */
#define ERROR_BACKOFF_MS 500.0
/* The "waiting for the engine" notice repeats at this interval. */
#define NOTICE_EVERY_MS 30000.0
/* The sender thread looks at the clock at least this often. */
#define TICK_MS 100.0
/* ZMTP heartbeats close a connection whose engine vanished without a word
 * (a machine that lost power), so ZeroMQ reconnects instead of waiting for
 * TCP to give up. */
#define HEARTBEAT_IVL_MS 1000
#define HEARTBEAT_TIMEOUT_MS 5000

struct rel_batch {
    uint64_t id;
    char *data; /* the events, back to back */
    size_t len, cap;
    size_t *ends; /* where each event ends in data */
    size_t n, ncap;
    double first_at;   /* when its first event was added (monotonic ms) */
    double sent_at;    /* when it last went out; < 0 while it is due */
    double not_before; /* after an "error" answer: not before this */
    unsigned sends;
};

struct cli_rel {
    const char *cmd;
    const char *endpoint; /* borrowed */
    struct cli_rel_opts o;
    void *zctx, *sock, *mon;
    int wake[2]; /* the producer writes a byte: a batch was sealed, or closing */
    pthread_t thread;
    bool thread_started;

    /* Everything below is shared, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t changed; /* an ack made room, or the sender thread ended */
    struct rel_batch *fill; /* being filled by the producer; NULL when none */
    struct rel_batch **out; /* sealed and unacknowledged, in id order */
    size_t n_out;
    uint64_t next_id;
    bool closing; /* the producer is done: seal the partial batch now */
    bool quit;    /* the sender thread must end */
    bool ended;   /* the sender thread ended */
    bool failed;  /* a failure was printed; give up */
    unsigned long long events, batches, resent;
    double last_progress; /* an ack, or the first batch after an idle window */
    double last_notice, last_error_notice;
};

/* ---- Options ---------------------------------------------------------------- */

void cli_rel_defaults(struct cli_rel_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 500;
    o->window = 8;
    o->ack_timeout_ms = 5000.0;
}

bool cli_rel_is_option(int c)
{
    return c == CLI_OPT_RELIABLE || c == CLI_OPT_BATCH || c == CLI_OPT_WINDOW ||
           c == CLI_OPT_ACK_TIMEOUT;
}

int cli_rel_option(const char *cmd, int c, const char *arg, struct cli_rel_opts *o)
{
    double secs;
    switch (c) {
    case CLI_OPT_RELIABLE:
        o->reliable = true;
        return CLI_OK;
    case CLI_OPT_BATCH:
        if (cli_parse_int(arg, 1, 1000000, &o->batch) != 0) {
            return cli_usage_error(cmd, "--batch needs a whole number from 1 to 1000000, not '%s'",
                                   arg);
        }
        break;
    case CLI_OPT_WINDOW:
        if (cli_parse_int(arg, 1, 10000, &o->window) != 0) {
            return cli_usage_error(cmd, "--window needs a whole number from 1 to 10000, not '%s'",
                                   arg);
        }
        break;
    case CLI_OPT_ACK_TIMEOUT:
        if (cli_parse_double(arg, 0.001, 86400, &secs) != 0) {
            return cli_usage_error(cmd, "--ack-timeout needs seconds from 0.001 to 86400, not '%s'",
                                   arg);
        }
        o->ack_timeout_ms = secs * 1000.0;
        break;
    default:
        return cli_usage_error(cmd, "internal: option %d is not a reliable-send option", c);
    }
    o->tuned = true;
    return CLI_OK;
}

int cli_rel_check(const char *cmd, const struct cli_rel_opts *o)
{
    if (o->tuned && !o->reliable) {
        return cli_usage_error(cmd, "--batch, --window and --ack-timeout need --reliable");
    }
    return CLI_OK;
}

/* ---- Batches ------------------------------------------------------------------ */

static void batch_free(struct rel_batch *b)
{
    if (b) {
        free(b->data);
        free(b->ends);
        free(b);
    }
}

static int batch_append(struct rel_batch *b, const void *buf, size_t len)
{
    if (b->len + len > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + len) {
            nc *= 2;
        }
        char *nd = realloc(b->data, nc);
        if (!nd) {
            return -1;
        }
        b->data = nd;
        b->cap = nc;
    }
    if (b->n == b->ncap) {
        size_t nc = b->ncap ? b->ncap * 2 : 64;
        size_t *ne = realloc(b->ends, nc * sizeof *ne);
        if (!ne) {
            return -1;
        }
        b->ends = ne;
        b->ncap = nc;
    }
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    b->ends[b->n++] = b->len;
    return 0;
}

/* One multipart message [id][event]...; 0, or -1 with errno (EAGAIN: no
 * engine connected, try later). ZeroMQ takes a message whole or not at all,
 * so a failure leaves nothing half-sent on the wire. */
static int batch_send(struct cli_rel *r, const struct rel_batch *b)
{
    unsigned char id[8];
    for (int i = 0; i < 8; i++) {
        id[i] = (unsigned char)(b->id >> (56 - 8 * i));
    }
    if (zmq_send(r->sock, id, sizeof id, ZMQ_DONTWAIT | (b->n ? ZMQ_SNDMORE : 0)) < 0) {
        return -1;
    }
    size_t start = 0;
    for (size_t i = 0; i < b->n; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < b->n ? ZMQ_SNDMORE : 0);
        if (zmq_send(r->sock, b->data + start, b->ends[i] - start, flags) < 0) {
            return -1;
        }
        start = b->ends[i];
    }
    return 0;
}

static void wake_sender(struct cli_rel *r)
{
    char c = 1;
    /* A full pipe already holds a wake-up; nothing is lost. */
    if (write(r->wake[1], &c, 1) < 0 && errno != EAGAIN) {
        /* The sender thread still looks every TICK_MS. */
    }
}

/* Moves the partial batch into the window. Under mu; needs room. */
static void seal(struct cli_rel *r)
{
    struct rel_batch *b = r->fill;
    r->fill = NULL;
    b->id = r->next_id++;
    b->sent_at = -1;
    if (r->n_out == 0) {
        /* The engine has had nothing to answer until now. */
        r->last_progress = cli_mono_ms();
    }
    r->out[r->n_out++] = b;
    r->batches++;
}

/* ---- The sender thread -------------------------------------------------------- */

/* Every batch that was sent is due again, from index i on (go-back-N). */
static void due_again(struct cli_rel *r, size_t from)
{
    for (size_t i = from; i < r->n_out; i++) {
        r->out[i]->sent_at = -1;
    }
}

/* Reads what the socket monitor reports; true when the connection dropped. */
static bool connection_dropped(struct cli_rel *r)
{
    bool dropped = false;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        int rc = zmq_msg_recv(&ev, r->mon, ZMQ_DONTWAIT);
        if (rc >= 0 && zmq_msg_more(&ev)) {
            zmq_msg_recv(&addr, r->mon, 0);
        }
        if (rc >= 0 && zmq_msg_size(&ev) >= 2) {
            uint16_t event;
            memcpy(&event, zmq_msg_data(&ev), sizeof event);
            dropped = dropped || event == ZMQ_EVENT_DISCONNECTED;
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        if (rc < 0) {
            return dropped;
        }
    }
}

/* Sends what is due, in id order, stopping at the first that cannot go. */
static void send_due(struct cli_rel *r, double now)
{
    for (size_t i = 0; i < r->n_out; i++) {
        struct rel_batch *b = r->out[i];
        if (b->sent_at >= 0) {
            continue;
        }
        if (b->not_before > now) {
            return;
        }
        /* A drop noticed just now makes earlier batches due again: they go
         * first, whatever this one was about to do. */
        if (connection_dropped(r)) {
            due_again(r, 0);
            i = (size_t)-1;
            continue;
        }
        if (batch_send(r, b) != 0) {
            /* EAGAIN: no engine connected; EFAULT: the connection went away
             * in the middle of the message, which ZeroMQ then dropped. */
            if (errno != EAGAIN && errno != EINTR && errno != EFAULT) {
                cli_fail(r->cmd, "send to %s failed: %s", r->endpoint, zmq_strerror(errno));
                r->failed = true;
            }
            return;
        }
        b->sent_at = now;
        if (b->sends++ > 0) {
            r->resent++;
        }
    }
}

/* Handles one answer [batch-id]["ok"] or [batch-id]["error"][reason].
 * Answers to batches no longer waiting (a duplicate's second ack) are
 * ignored. */
static void take_answer(struct cli_rel *r, zmq_msg_t *parts, int n, double now)
{
    if (n < 2 || zmq_msg_size(&parts[0]) != 8) {
        return;
    }
    const unsigned char *p = zmq_msg_data(&parts[0]);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++) {
        id = id << 8 | p[i];
    }
    size_t i = 0;
    while (i < r->n_out && r->out[i]->id != id) {
        i++;
    }
    if (i == r->n_out) {
        return;
    }
    size_t alen = zmq_msg_size(&parts[1]);
    const char *answer = zmq_msg_data(&parts[1]);
    if (alen == 2 && memcmp(answer, "ok", 2) == 0) {
        batch_free(r->out[i]);
        memmove(&r->out[i], &r->out[i + 1], (r->n_out - i - 1) * sizeof r->out[0]);
        r->n_out--;
        r->last_progress = now;
        pthread_cond_broadcast(&r->changed);
        return;
    }
    /* "error": nothing of the batch was stored; send it again soon. */
    struct rel_batch *b = r->out[i];
    b->sent_at = -1;
    b->not_before = now + ERROR_BACKOFF_MS;
    if (r->last_error_notice == 0 || now - r->last_error_notice >= NOTICE_EVERY_MS) {
        r->last_error_notice = now;
        int rl = n >= 3 ? (int)zmq_msg_size(&parts[2]) : 0;
        fprintf(stderr, "ioc %s: the engine could not store batch %llu (%.*s); resending\n", r->cmd,
                (unsigned long long)id, rl, n >= 3 ? (const char *)zmq_msg_data(&parts[2]) : "");
    }
}

static void take_answers(struct cli_rel *r, double now)
{
    for (;;) {
        zmq_msg_t parts[3];
        int n = 0;
        bool more = true;
        for (int i = 0; i < 3; i++) {
            zmq_msg_init(&parts[i]);
        }
        while (more) {
            zmq_msg_t *m = &parts[n < 3 ? n : 2];
            if (zmq_msg_recv(m, r->sock, ZMQ_DONTWAIT) < 0) {
                break;
            }
            more = zmq_msg_more(m);
            n++;
        }
        if (n > 0) {
            take_answer(r, parts, n, now);
        }
        for (int i = 0; i < 3; i++) {
            zmq_msg_close(&parts[i]);
        }
        if (n == 0) {
            return;
        }
    }
}

/* Whether the next batch in order is due now, and only waits for the
 * socket to take it (an engine to connect). Under mu. */
static bool want_send(const struct cli_rel *r, double now)
{
    for (size_t i = 0; i < r->n_out; i++) {
        if (r->out[i]->sent_at < 0) {
            return r->out[i]->not_before <= now;
        }
    }
    return false;
}

/* How long the thread may sleep: until the next linger, timeout or
 * back-off, and never more than TICK_MS. A batch that waits for the socket
 * is left to ZMQ_POLLOUT. Under mu. */
static double next_wait(const struct cli_rel *r, double now)
{
    double until = now + TICK_MS;
    if (r->fill && r->fill->first_at + BATCH_LINGER_MS < until) {
        until = r->fill->first_at + BATCH_LINGER_MS;
    }
    for (size_t i = 0; i < r->n_out; i++) {
        const struct rel_batch *b = r->out[i];
        double t = b->sent_at >= 0 ? b->sent_at + r->o.ack_timeout_ms : b->not_before;
        if ((b->sent_at >= 0 || t > now) && t < until) {
            until = t;
        }
    }
    return until > now ? until - now : 0;
}

/* One turn of the thread's work, under mu. */
static void sender_turn(struct cli_rel *r, double now)
{
    if (connection_dropped(r)) {
        due_again(r, 0);
    }
    if (r->fill && (size_t)r->n_out < (size_t)r->o.window &&
        (r->closing || now - r->fill->first_at >= BATCH_LINGER_MS)) {
        seal(r);
    }
    for (size_t i = 0; i < r->n_out; i++) {
        if (r->out[i]->sent_at >= 0 && now - r->out[i]->sent_at >= r->o.ack_timeout_ms) {
            due_again(r, i);
            break;
        }
    }
    send_due(r, now);
    if (r->n_out > 0 && now - r->last_progress >= NOTICE_EVERY_MS &&
        now - r->last_notice >= NOTICE_EVERY_MS) {
        r->last_notice = now;
        fprintf(stderr, "ioc %s: waiting for the engine at %s (%zu batch%s unacknowledged)\n",
                r->cmd, r->endpoint, r->n_out, r->n_out == 1 ? "" : "es");
    }
}

static void *sender_main(void *arg)
{
    struct cli_rel *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->quit && !r->failed) {
        double now = cli_mono_ms();
        sender_turn(r, now);
        if (r->closing && !r->fill && r->n_out == 0) {
            break; /* everything acknowledged */
        }
        int ms = (int)(next_wait(r, now) + 1);
        short events = ZMQ_POLLIN | (want_send(r, now) ? ZMQ_POLLOUT : 0);
        pthread_mutex_unlock(&r->mu);
        zmq_pollitem_t items[2] = {
            {.socket = r->sock, .events = events},
            {.fd = r->wake[0], .events = ZMQ_POLLIN},
        };
        int rc = zmq_poll(items, 2, ms);
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN)) {
            char buf[64];
            while (read(r->wake[0], buf, sizeof buf) > 0) {
            }
        }
        pthread_mutex_lock(&r->mu);
        if (rc < 0 && errno != EINTR) {
            cli_fail(r->cmd, "poll failed: %s", zmq_strerror(errno));
            r->failed = true;
            break;
        }
        /* Edge-triggered underneath: read every answer that is there, not
         * only when zmq_poll said so, since a send may have taken the edge. */
        take_answers(r, cli_mono_ms());
    }
    r->ended = true;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- The API -------------------------------------------------------------------- */

static void rel_free(struct cli_rel *r)
{
    if (r->thread_started) {
        pthread_mutex_lock(&r->mu);
        r->quit = true;
        pthread_mutex_unlock(&r->mu);
        wake_sender(r);
        pthread_join(r->thread, NULL);
    }
    if (r->mon) {
        zmq_close(r->mon);
    }
    if (r->sock) {
        /* Linger 0: only acknowledged batches count, and they are done. */
        int linger = 0;
        zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(r->sock);
    }
    if (r->zctx) {
        while (zmq_ctx_term(r->zctx) != 0 && errno == EINTR) {
        }
    }
    for (int i = 0; i < 2; i++) {
        if (r->wake[i] >= 0) {
            close(r->wake[i]);
        }
    }
    for (size_t i = 0; i < r->n_out; i++) {
        batch_free(r->out[i]);
    }
    free(r->out);
    batch_free(r->fill);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int cli_rel_open(struct cli_rel **out, const char *cmd, const char *endpoint,
                 const struct cli_rel_opts *o)
{
    int immediate = 1, linger = 0, hb_ivl = HEARTBEAT_IVL_MS, hb_timeout = HEARTBEAT_TIMEOUT_MS;
    char mon_ep[64];
    pthread_condattr_t ca;
    sigset_t block, old;
    struct cli_rel *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r) {
        return cli_fail(cmd, "out of memory");
    }
    r->cmd = cmd;
    r->endpoint = endpoint;
    r->o = *o;
    r->next_id = 1;
    r->wake[0] = r->wake[1] = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->changed, &ca);
    pthread_condattr_destroy(&ca);
    r->out = calloc((size_t)o->window, sizeof *r->out);
    if (!r->out || pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        cli_fail(cmd, "cannot set up the sender: %s", strerror(errno));
        goto fail;
    }
    r->zctx = zmq_ctx_new();
    if (!r->zctx) {
        cli_fail(cmd, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto fail;
    }
    r->sock = zmq_socket(r->zctx, ZMQ_DEALER);
    if (!r->sock) {
        cli_fail(cmd, "cannot create a DEALER socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_setsockopt(r->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout) != 0) {
        cli_fail(cmd, "cannot set socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    snprintf(mon_ep, sizeof mon_ep, "inproc://ioc-reliable-monitor-%p", (void *)r);
    if (zmq_socket_monitor(r->sock, mon_ep, ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(r->mon = zmq_socket(r->zctx, ZMQ_PAIR)) || zmq_connect(r->mon, mon_ep) != 0) {
        cli_fail(cmd, "cannot watch the connection: %s", zmq_strerror(errno));
        goto fail;
    }
    if (cli_key_apply(cmd, r->sock) != 0) {
        goto fail;
    }
    if (zmq_connect(r->sock, endpoint) != 0) {
        /* Only a malformed or unsupported address fails here; an engine
         * that is not running yet is waited for. */
        int err = errno;
        rel_free(r);
        return cli_usage_error(cmd, "cannot use endpoint '%s': %s", endpoint, zmq_strerror(err));
    }
    /* Signals stay with the producer, whose blocking reads they interrupt. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&r->thread, NULL, sender_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        cli_fail(cmd, "cannot start the sender thread: %s", strerror(rc));
        goto fail;
    }
    r->thread_started = true;
    *out = r;
    return CLI_OK;

fail:
    rel_free(r);
    return CLI_FAIL;
}

/* Waits on changed for up to TICK_MS. Under mu. */
static void wait_changed(struct cli_rel *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(TICK_MS * 1e6);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->changed, &r->mu, &ts);
}

int cli_rel_send(struct cli_rel *r, const void *buf, size_t len)
{
    int rc = -1;
    pthread_mutex_lock(&r->mu);
    if (r->failed || r->ended) {
        goto done;
    }
    if (!r->fill) {
        r->fill = calloc(1, sizeof *r->fill);
        if (!r->fill) {
            cli_fail(r->cmd, "out of memory");
            r->failed = true;
            goto done;
        }
        r->fill->first_at = cli_mono_ms();
    }
    if (batch_append(r->fill, buf, len) != 0) {
        cli_fail(r->cmd, "out of memory");
        r->failed = true;
        goto done;
    }
    r->events++;
    /* The sender thread may have sealed the batch on linger meanwhile. */
    while (r->fill && r->fill->n >= (size_t)r->o.batch) {
        if (r->n_out < (size_t)r->o.window) {
            seal(r);
            wake_sender(r);
            break;
        }
        if (cli_stop_requested() || r->failed || r->ended) {
            goto done;
        }
        wait_changed(r);
    }
    rc = 0;

done:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int cli_rel_close(struct cli_rel *r)
{
    if (!r) {
        return CLI_OK;
    }
    pthread_mutex_lock(&r->mu);
    r->closing = true;
    pthread_mutex_unlock(&r->mu);
    wake_sender(r);

    pthread_mutex_lock(&r->mu);
    while (!r->ended && !cli_stop_requested()) {
        wait_changed(r);
    }
    size_t left = r->n_out + (r->fill ? 1 : 0);
    bool failed = r->failed;
    unsigned long long events = r->events, batches = r->batches, resent = r->resent;
    pthread_mutex_unlock(&r->mu);

    int rc;
    if (!failed && left == 0) {
        fprintf(stderr, "sent %llu event%s in %llu batch%s, %llu resent; all acknowledged\n",
                events, events == 1 ? "" : "s", batches, batches == 1 ? "" : "es", resent);
        rc = CLI_OK;
    } else {
        fprintf(stderr,
                "sent %llu event%s in %llu batch%s, %llu resent; %zu batch%s not acknowledged%s\n",
                events, events == 1 ? "" : "s", batches, batches == 1 ? "" : "es", resent, left,
                left == 1 ? "" : "es", failed ? "" : " (interrupted)");
        rc = failed ? CLI_FAIL : CLI_INTERRUPTED;
    }
    rel_free(r);
    return rc;
}
