/*
 * in_zmq.c — input plugin "zmq": events arrive on a ZeroMQ PULL socket.
 *
 * Owns one ZeroMQ context and one PULL socket per instance, joined to the
 * engine's loop through ZMQ_FD and a uv_poll_t. Every frame (each part of a
 * multipart message too) is one event and is handed to ioc_engine_submit()
 * as it is; the engine alone decides about size, encoding and schema, so a
 * bad frame is rejected with a reason instead of disconnecting its sender
 * (which is why ZMQ_MAXMSGSIZE is not set).
 *
 * ZMQ_FD is edge-triggered: it fires when the socket's state changes, not
 * while messages are waiting. A wake-up therefore drains until the socket
 * says there is nothing more. To keep the loop fair under a flood, one turn
 * takes at most DRAIN_BUDGET messages; the rest is taken on the next turns
 * through a uv_idle_t, because the fd will not fire again for messages that
 * are already queued.
 *
 * Threads: everything runs on the loop thread. The handles live in ctx, so
 * ctx is freed only after their close callbacks ran (destroy checks it).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include <uv.h>
#include <zmq.h>

#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/options.h"
#include "ioc/plugin.h"

/* Messages taken per loop turn before other work gets its turn. */
#define DRAIN_BUDGET 4096

struct in_zmq_conf {
    char *bind;
    long long rcvhwm;
};

struct in_zmq {
    struct ioc_instance *ins;
    void *zctx;
    void *sock;
    uv_poll_t poll;
    uv_idle_t idle;
    int live_handles; /* initialised and not yet through their close callback */
    int stopped;
    uint64_t received;
};

static const struct ioc_option in_zmq_options[] = {
    {"bind", IOC_OPT_STR, "tcp://127.0.0.1:5555", 0, 0, offsetof(struct in_zmq_conf, bind),
     "ZeroMQ endpoint the PULL socket binds to; senders connect a PUSH"},
    {"rcvhwm", IOC_OPT_INT, "100000", 0, 100000000, offsetof(struct in_zmq_conf, rcvhwm),
     "messages queued in the engine before senders are held back (0 = no limit)"},
    IOC_OPTION_END,
};

static void on_handle_closed(uv_handle_t *h)
{
    struct in_zmq *ctx = h->data;
    ctx->live_handles--;
}

/* Takes what the socket holds, up to the budget. Returns 1 when more may be
 * waiting (budget spent), 0 when the socket is empty. */
static int drain(struct in_zmq *ctx)
{
    struct ioc_instance *ins = ctx->ins;
    zmq_msg_t msg;
    int more = 0;

    zmq_msg_init(&msg);
    for (int n = 0; !ctx->stopped; n++) {
        if (n == DRAIN_BUDGET) {
            more = 1;
            break;
        }
        if (zmq_msg_recv(&msg, ctx->sock, ZMQ_DONTWAIT) < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                ioc_error(ins->name, "receive failed: %s", zmq_strerror(errno));
                break;
            }
            /* EAGAIN came after the socket processed its command mailbox, which
             * re-arms the edge of ZMQ_FD. Ask ZMQ_EVENTS once more anyway, as
             * the ZeroMQ documentation prescribes, in case a message slipped in
             * between. */
            int events = 0;
            size_t elen = sizeof(events);
            if (zmq_getsockopt(ctx->sock, ZMQ_EVENTS, &events, &elen) == 0 &&
                (events & ZMQ_POLLIN)) {
                continue;
            }
            break;
        }
        ctx->received++;
        /* Senders here never wait: under overload the engine sheds and counts. */
        ioc_engine_offer(ins->engine, zmq_msg_data(&msg), zmq_msg_size(&msg));
    }
    zmq_msg_close(&msg);
    return more && !ctx->stopped;
}

static void on_idle(uv_idle_t *h)
{
    struct in_zmq *ctx = h->data;
    if (!drain(ctx) && !ctx->stopped) {
        uv_idle_stop(&ctx->idle);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct in_zmq *ctx = h->data;
    (void)events; /* only UV_READABLE is asked for */
    if (status < 0) {
        /* The fd is ZeroMQ's own signaller; an error here is not expected,
         * and draining is still the right answer. */
        ioc_warn(ctx->ins->name, "poll error: %s", uv_strerror(status));
    }
    if (drain(ctx) && !ctx->stopped) {
        uv_idle_start(&ctx->idle, on_idle);
    }
}

static int in_zmq_init(struct ioc_instance *ins)
{
    struct in_zmq *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        ioc_error(ins->name, "out of memory");
        return IOC_ENOMEM;
    }
    ctx->ins = ins;
    ins->ctx = ctx;
    ctx->zctx = zmq_ctx_new();
    if (!ctx->zctx) {
        ioc_error(ins->name, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        return IOC_EZMQ;
    }
    return 0;
}

static int in_zmq_start(struct ioc_instance *ins, uv_loop_t *loop)
{
    struct in_zmq *ctx = ins->ctx;
    const struct in_zmq_conf *conf = ins->conf;
    int hwm = (int)conf->rcvhwm;
    int linger = 0;
    int fd = -1;
    size_t fdlen = sizeof(fd);
    int rc;

    ctx->sock = zmq_socket(ctx->zctx, ZMQ_PULL);
    if (!ctx->sock) {
        ioc_error(ins->name, "cannot create a PULL socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_setsockopt(ctx->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(ctx->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0) {
        ioc_error(ins->name, "cannot set socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_bind(ctx->sock, conf->bind) != 0) {
        ioc_error(ins->name, "cannot bind %s: %s", conf->bind, zmq_strerror(errno));
        goto fail;
    }
    if (zmq_getsockopt(ctx->sock, ZMQ_FD, &fd, &fdlen) != 0) {
        ioc_error(ins->name, "cannot get the socket's fd: %s", zmq_strerror(errno));
        goto fail;
    }

    uv_idle_init(loop, &ctx->idle);
    ctx->idle.data = ctx;
    ctx->live_handles++;
    rc = uv_poll_init(loop, &ctx->poll, fd);
    if (rc < 0) {
        ioc_error(ins->name, "cannot watch the socket: %s", uv_strerror(rc));
        goto fail_idle;
    }
    ctx->poll.data = ctx;
    ctx->live_handles++;
    rc = uv_poll_start(&ctx->poll, UV_READABLE, on_readable);
    if (rc < 0) {
        ioc_error(ins->name, "cannot watch the socket: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&ctx->poll, on_handle_closed);
        goto fail_idle;
    }
    /* Peers may have connected and sent between bind and poll start: that
     * edge is gone, so look once now. */
    uv_idle_start(&ctx->idle, on_idle);
    ioc_info(ins->name, "receiving on %s", conf->bind);
    return 0;

fail_idle:
    uv_close((uv_handle_t *)&ctx->idle, on_handle_closed);
fail:
    if (ctx->sock) {
        zmq_close(ctx->sock);
        ctx->sock = NULL;
    }
    ctx->stopped = 1;
    return IOC_EZMQ;
}

static void in_zmq_stop(struct ioc_instance *ins)
{
    struct in_zmq *ctx = ins->ctx;
    if (!ctx || !ctx->sock) {
        return; /* never started, or stopped already */
    }
    /* Drain: what the socket already holds was delivered to us, so it is
     * handed to the engine before the socket closes (bounded, so a sender that
     * never stops cannot hold the shutdown forever). */
    for (int turns = 0; turns < 256 && drain(ctx); turns++) {
    }
    ctx->stopped = 1;
    /* The fd belongs to the socket: stop watching it before closing. */
    uv_close((uv_handle_t *)&ctx->poll, on_handle_closed);
    uv_close((uv_handle_t *)&ctx->idle, on_handle_closed);
    /* Linger 0: nothing is sent on a PULL socket. */
    zmq_close(ctx->sock);
    ctx->sock = NULL;
    ioc_info(ins->name, "stopped after %llu messages", (unsigned long long)ctx->received);
}

static void in_zmq_destroy(struct ioc_instance *ins)
{
    struct in_zmq *ctx = ins->ctx;
    if (!ctx) {
        return;
    }
    if (ctx->live_handles > 0) {
        /* The loop still references our handles: freeing them would corrupt
         * it, so leak instead and say so. */
        ioc_error(ins->name, "destroyed before its handles closed; leaking its state");
        return;
    }
    if (ctx->sock) {
        zmq_close(ctx->sock);
    }
    if (ctx->zctx) {
        zmq_ctx_term(ctx->zctx);
    }
    free(ctx);
    ins->ctx = NULL;
}

const struct ioc_plugin ioc_plugin_in_zmq = {
    .name = "zmq",
    .kind = IOC_PLUGIN_INPUT,
    .description = "Receives events on a ZeroMQ PULL socket, one JSON event per frame "
                   "(every part of a multipart message is an event).",
    .options = in_zmq_options,
    .conf_size = sizeof(struct in_zmq_conf),
    .init = in_zmq_init,
    .start = in_zmq_start,
    .stop = in_zmq_stop,
    .destroy = in_zmq_destroy,
};
