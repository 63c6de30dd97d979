/*
 * in_zmq_reliable.c — input plugin "zmq_reliable": batches of events on a
 * ZeroMQ ROUTER socket, each acknowledged once it is durable in SQLite.
 *
 * Wire format. A sender (DEALER) sends one batch as one multipart message
 *     [batch-id][event][event]...
 * and the ROUTER puts the sender's identity in front. The batch id is 1 to
 * 255 opaque bytes (ioc's senders use an 8-byte big-endian sequence number).
 * Once every event of the batch is committed, the answer is
 *     [batch-id]["ok"]                 or   [batch-id]["error"][reason]
 * and on "error" (the store batch failed, nothing of it is kept) the sender
 * sends the batch again. A batch with no events is answered "ok" too, after
 * everything received before it is durable, so it doubles as a barrier. A
 * message without a batch id (an empty first frame, or an id over 255 bytes)
 * is dropped and counted: there is no one to answer.
 *
 * Ownership and invariants. Every event frame goes to ioc_engine_submit() as
 * it is: the engine alone judges events, and a rejected event is durable too
 * (in the rejects table), so it does not stop the ack. After the last frame
 * of a batch, ioc_engine_when_durable() gets a small heap record (sender
 * identity and batch id) that the callback turns into the answer and frees.
 * Records not yet answered are kept on a list, so destroy frees those the
 * engine never called back. Answers go out with ZMQ_DONTWAIT on a ROUTER
 * without ROUTER_MANDATORY: an answer to a sender that vanished, or that
 * stopped reading, is dropped by ZeroMQ instead of blocking the loop; that
 * sender resends after its timeout and the engine drops the duplicates.
 *
 * The socket lives in the engine's ZeroMQ context (a CURVE server in the
 * "ingest" ZAP domain when security keys are configured) and joins the loop
 * through zsock: a wake-up drains, at most DRAIN_BUDGET frames per loop
 * turn. Sending an answer may consume the edge of a message that arrived
 * meanwhile, so every answer is followed by ioc_zsock_kick().
 *
 * Stop drains what the socket already holds and submits it, so the engine
 * commits it before exit; the socket stays open until destroy, because the
 * engine runs the durability callbacks (the acks) while it closes the store,
 * after stop returned. ZMQ_LINGER then gives those acks a moment to leave.
 *
 * Threads: everything runs on the loop thread. The handles live in ctx, so
 * ctx is freed only after their close callbacks ran (destroy checks it).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>
#include <zmq.h>

#include "ioc/curve.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/options.h"
#include "ioc/plugin.h"
#include "ioc/zsock.h"

/* Frames taken per loop turn before other work gets its turn; a batch that
 * has started is always finished, since its ack waits for its last frame. */
#define DRAIN_BUDGET 4096
/* Batch ids and ROUTER identities are both at most this long. */
#define MAX_ID_BYTES 255
/* How long acks sent while stopping may take to leave at exit. */
#define LINGER_MS 1000

struct in_rel_conf {
    char *bind;
    long long rcvhwm;
};

struct in_rel;

/* One batch waiting to be durable: who sent it and its id, both copied. */
struct rel_ack {
    struct rel_ack *prev, *next;
    struct in_rel *ctx;
    size_t id_len, bid_len;
    unsigned char bytes[]; /* identity, then batch id */
};

struct in_rel {
    struct ioc_instance *ins;
    void *sock;
    struct ioc_zsock zs;
    int stopped;
    int held; /* the engine is overloaded: batches wait in the socket, senders wait */
    struct rel_ack *waiting; /* records handed to the engine, not yet answered */
    uint64_t batches, events, malformed, acked, failed;
};

static const struct ioc_option in_rel_options[] = {
    {"bind", IOC_OPT_STR, "tcp://127.0.0.1:5556", 0, 0, offsetof(struct in_rel_conf, bind),
     "ZeroMQ endpoint the ROUTER socket binds to; senders connect a DEALER"},
    {"rcvhwm", IOC_OPT_INT, "1000", 0, 100000000, offsetof(struct in_rel_conf, rcvhwm),
     "batches queued in the engine before senders are held back (0 = no limit)"},
    IOC_OPTION_END,
};

/* ---- answers ------------------------------------------------------------- */

/* [identity][batch-id]["ok"] or [identity][batch-id]["error"][reason]. A
 * failed send (there is no peer to tell) is only counted by the sender's
 * resend, so errors here are logged and otherwise ignored. */
static void send_answer(struct in_rel *ctx, const unsigned char *id, size_t id_len,
                        const unsigned char *bid, size_t bid_len, const char *reason)
{
    int more = ZMQ_DONTWAIT | ZMQ_SNDMORE;
    int rc = zmq_send(ctx->sock, id, id_len, more);
    if (rc >= 0) {
        rc = zmq_send(ctx->sock, bid, bid_len, more);
    }
    if (rc >= 0 && !reason) {
        rc = zmq_send(ctx->sock, "ok", 2, ZMQ_DONTWAIT);
    } else if (rc >= 0) {
        rc = zmq_send(ctx->sock, "error", 5, more);
        if (rc >= 0) {
            rc = zmq_send(ctx->sock, reason, strlen(reason), ZMQ_DONTWAIT);
        }
    }
    if (rc < 0) {
        ioc_warn(ctx->ins->name, "cannot send an ack: %s", zmq_strerror(errno));
    }
    /* The send may have taken the edge of a message that arrived meanwhile
     * (the kick never drains from here: this may run inside
     * ioc_engine_submit). While held, nothing is read anyway. */
    if (!ctx->stopped && !ctx->held) {
        ioc_zsock_kick(&ctx->zs);
    }
}

static void unlink_ack(struct in_rel *ctx, struct rel_ack *a)
{
    if (a->prev) {
        a->prev->next = a->next;
    } else {
        ctx->waiting = a->next;
    }
    if (a->next) {
        a->next->prev = a->prev;
    }
}

static void on_durable(void *arg, int status)
{
    struct rel_ack *a = arg;
    struct in_rel *ctx = a->ctx;
    if (status == 0) {
        ctx->acked++;
    } else {
        ctx->failed++;
        ioc_warn(ctx->ins->name, "a batch was not stored (%s); its sender will resend it",
                 ioc_strerror(status));
    }
    if (ctx->sock) {
        send_answer(ctx, a->bytes, a->id_len, a->bytes + a->id_len, a->bid_len,
                    status == 0 ? NULL : ioc_strerror(status));
    }
    unlink_ack(ctx, a);
    free(a);
}

/* ---- receiving ----------------------------------------------------------- */

static void count_malformed(struct in_rel *ctx, const char *why)
{
    ctx->malformed++;
    /* Warn on the 1st, 2nd, 4th, 8th ... so a misbehaving sender cannot
     * flood the log, yet the count stays visible. */
    if ((ctx->malformed & (ctx->malformed - 1)) == 0) {
        ioc_warn(ctx->ins->name, "dropped a malformed message (%s); %llu so far", why,
                 (unsigned long long)ctx->malformed);
    }
}

/* Reads the rest of a multipart message into msg, one frame per call.
 * Returns 1 with a frame, 0 when the message has ended. */
static int next_frame(struct in_rel *ctx, zmq_msg_t *msg)
{
    if (!zmq_msg_more(msg)) {
        return 0;
    }
    /* A multipart message arrives whole, so its frames are all there. */
    while (zmq_msg_recv(msg, ctx->sock, ZMQ_DONTWAIT) < 0) {
        if (errno != EINTR) {
            ioc_error(ctx->ins->name, "receive failed inside a message: %s", zmq_strerror(errno));
            return 0;
        }
    }
    return 1;
}

/* Takes one whole message. Returns the frames it read, 0 when none was
 * waiting, -1 on a receive error. */
static int take_message(struct in_rel *ctx, zmq_msg_t *msg)
{
    struct ioc_instance *ins = ctx->ins;
    unsigned char id[MAX_ID_BYTES];
    size_t id_len;
    int frames = 1;

    int got = ioc_zsock_recv(ctx->sock, msg);
    if (got <= 0) {
        if (got < 0) {
            ioc_error(ins->name, "receive failed: %s", zmq_strerror(errno));
        }
        return got;
    }
    /* The ROUTER's identity frame: never empty, never over 255 bytes. */
    id_len = zmq_msg_size(msg);
    if (id_len == 0 || id_len > sizeof id) {
        while (next_frame(ctx, msg)) {
        }
        count_malformed(ctx, "bad identity frame");
        return frames;
    }
    memcpy(id, zmq_msg_data(msg), id_len);
    if (!next_frame(ctx, msg)) {
        count_malformed(ctx, "no batch id");
        return frames;
    }
    frames++;
    size_t bid_len = zmq_msg_size(msg);
    if (bid_len == 0 || bid_len > MAX_ID_BYTES) {
        while (next_frame(ctx, msg)) {
            frames++;
        }
        count_malformed(ctx, bid_len == 0 ? "no batch id" : "batch id over 255 bytes");
        return frames;
    }
    /* The record exists before any event is submitted, so running out of
     * memory refuses the whole batch instead of half of it. */
    struct rel_ack *a = malloc(sizeof *a + id_len + bid_len);
    if (!a) {
        while (next_frame(ctx, msg)) {
            frames++;
        }
        ioc_error(ins->name, "out of memory for a batch; refused");
        return frames;
    }
    a->ctx = ctx;
    a->id_len = id_len;
    a->bid_len = bid_len;
    memcpy(a->bytes, id, id_len);
    memcpy(a->bytes + id_len, zmq_msg_data(msg), bid_len);
    while (next_frame(ctx, msg)) {
        frames++;
        ctx->events++;
        ioc_engine_submit(ins->engine, zmq_msg_data(msg), zmq_msg_size(msg));
    }
    ctx->batches++;
    a->prev = NULL;
    a->next = ctx->waiting;
    if (ctx->waiting) {
        ctx->waiting->prev = a;
    }
    ctx->waiting = a;
    int rc = ioc_engine_when_durable(ins->engine, on_durable, a);
    if (rc != 0) {
        /* The events went to the engine, but nothing will tell us when they
         * are durable: say so, and the sender resends (duplicates dropped). */
        on_durable(a, rc);
    }
    return frames;
}

/* Takes what the socket holds, up to the budget. Returns true when more may
 * be waiting (budget spent), false when the socket is empty. */
static bool drain(void *arg)
{
    struct in_rel *ctx = arg;
    zmq_msg_t msg;
    int taken = 0;
    bool more = false;

    zmq_msg_init(&msg);
    while (!ctx->stopped && !ctx->held) {
        if (taken >= DRAIN_BUDGET) {
            more = true;
            break;
        }
        int n = take_message(ctx, &msg);
        if (n <= 0) {
            break;
        }
        taken += n;
    }
    zmq_msg_close(&msg);
    return more && !ctx->stopped && !ctx->held;
}

/* Overload: batches stay in the socket, then in the senders' queues, so the
 * senders wait for their acks instead of anything being dropped. The batch
 * being read is finished first (drain checks between messages). */
static void in_rel_hold(struct ioc_instance *ins, int on)
{
    struct in_rel *ctx = ins->ctx;
    if (!ctx || !ctx->sock || ctx->stopped) {
        return;
    }
    ctx->held = on;
    ioc_zsock_pause(&ctx->zs, on);
}

/* ---- lifecycle ------------------------------------------------------------- */

static int in_rel_init(struct ioc_instance *ins)
{
    struct in_rel *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        ioc_error(ins->name, "out of memory");
        return IOC_ENOMEM;
    }
    ctx->ins = ins;
    ins->ctx = ctx;
    return 0;
}

static int in_rel_start(struct ioc_instance *ins, uv_loop_t *loop)
{
    struct in_rel *ctx = ins->ctx;
    const struct in_rel_conf *conf = ins->conf;
    int hwm = (int)conf->rcvhwm;
    int linger = LINGER_MS;
    int mandatory = 0; /* the default, said out loud: never block on a vanished sender */

    ctx->sock = ioc_engine_zmq_bind(ins, ZMQ_ROUTER, conf->bind, IOC_ZAP_INGEST, ZMQ_RCVHWM, hwm,
                                    linger);
    if (!ctx->sock) {
        goto fail;
    }
    if (zmq_setsockopt(ctx->sock, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof(mandatory)) != 0) {
        ioc_error(ins->name, "cannot set socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    if (ioc_zsock_start(&ctx->zs, loop, ctx->sock, drain, NULL, ctx) != 0) {
        ioc_error(ins->name, "cannot watch the socket");
        goto fail;
    }
    ioc_info(ins->name, "receiving batches on %s", conf->bind);
    return 0;

fail:
    if (ctx->sock) {
        ioc_engine_zmq_close(ins, ctx->sock);
        ctx->sock = NULL;
    }
    ctx->stopped = 1;
    return IOC_EZMQ;
}

static void in_rel_stop(struct ioc_instance *ins)
{
    struct in_rel *ctx = ins->ctx;
    if (!ctx || !ctx->sock || ctx->stopped) {
        return; /* never started, or stopped already */
    }
    /* What the socket already holds was delivered to us: submit it, so it is
     * committed and acknowledged before exit (bounded, so a sender that never
     * stops cannot hold the shutdown forever; the rest it resends later). */
    for (int turns = 0; turns < 256 && drain(ctx); turns++) {
    }
    ctx->stopped = 1;
    /* The fd belongs to the socket: stop watching it. The socket itself stays
     * open for the acks the engine sends through on_durable while it closes
     * the store; destroy closes it. */
    ioc_zsock_stop(&ctx->zs);
    ioc_info(ins->name, "stopped after %llu batches (%llu events), %llu malformed messages",
             (unsigned long long)ctx->batches, (unsigned long long)ctx->events,
             (unsigned long long)ctx->malformed);
}

static void in_rel_destroy(struct ioc_instance *ins)
{
    struct in_rel *ctx = ins->ctx;
    if (!ctx) {
        return;
    }
    if (!ioc_zsock_idle(&ctx->zs)) {
        /* The loop still references our handles: freeing them would corrupt
         * it, so leak instead and say so. */
        ioc_error(ins->name, "destroyed before its handles closed; leaking its state");
        return;
    }
    /* The engine is going away: a record it never called back will not be
     * answered (its sender resends to the next engine). */
    while (ctx->waiting) {
        struct rel_ack *a = ctx->waiting;
        ctx->waiting = a->next;
        free(a);
    }
    if (ctx->sock) {
        /* The engine's context termination waits up to LINGER_MS for the
         * last acks to leave. */
        ioc_engine_zmq_close(ins, ctx->sock);
    }
    free(ctx);
    ins->ctx = NULL;
}

const struct ioc_plugin ioc_plugin_in_zmq_reliable = {
    .name = "zmq_reliable",
    .kind = IOC_PLUGIN_INPUT,
    .description = "Receives batches of events on a ZeroMQ ROUTER socket, one multipart message "
                   "[batch-id][event]... per batch, and answers [batch-id][\"ok\"] once the batch "
                   "is durable in SQLite (or [batch-id][\"error\"][reason], and the sender "
                   "resends).",
    .options = in_rel_options,
    .conf_size = sizeof(struct in_rel_conf),
    .init = in_rel_init,
    .start = in_rel_start,
    .stop = in_rel_stop,
    .destroy = in_rel_destroy,
    .hold = in_rel_hold,
};
