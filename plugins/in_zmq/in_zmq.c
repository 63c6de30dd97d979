/*
 * in_zmq.c — input plugin "zmq": events arrive on a ZeroMQ PULL socket.
 *
 * Owns one PULL socket per instance, in the engine's ZeroMQ context (a CURVE
 * server in the "ingest" ZAP domain when security keys are configured),
 * joined to the engine's loop through zsock. Every frame (each part of a
 * multipart message too) is one event and is handed to ioc_engine_submit()
 * as it is; the engine alone decides about size, encoding and schema, so a
 * bad frame is rejected with a reason instead of disconnecting its sender
 * (which is why ZMQ_MAXMSGSIZE is not set).
 *
 * ZMQ_FD is edge-triggered (zsock.h): a wake-up drains until the socket is
 * empty, at most DRAIN_BUDGET messages per loop turn so the loop stays fair
 * under a flood.
 *
 * Threads: everything runs on the loop thread. The handles live in ctx, so
 * ctx is freed only after their close callbacks ran (destroy checks it).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include <uv.h>
#include <zmq.h>

#include "ioc/curve.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/options.h"
#include "ioc/plugin.h"
#include "ioc/zsock.h"

/* Messages taken per loop turn before other work gets its turn. */
#define DRAIN_BUDGET 4096

struct in_zmq_conf {
    char *bind;
    long long rcvhwm;
};

struct in_zmq {
    struct ioc_instance *ins;
    void *sock;
    struct ioc_zsock zs;
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

/* Takes what the socket holds, up to the budget. Returns true when more may
 * be waiting (budget spent), false when the socket is empty. */
static bool drain(void *arg)
{
    struct in_zmq *ctx = arg;
    struct ioc_instance *ins = ctx->ins;
    zmq_msg_t msg;
    bool more = false;

    zmq_msg_init(&msg);
    for (int n = 0; !ctx->stopped; n++) {
        if (n == DRAIN_BUDGET) {
            more = true;
            break;
        }
        int rc = ioc_zsock_recv(ctx->sock, &msg);
        if (rc < 0) {
            ioc_error(ins->name, "receive failed: %s", zmq_strerror(errno));
        }
        if (rc <= 0) {
            break;
        }
        ctx->received++;
        /* Senders here never wait: under overload the engine sheds and counts. */
        ioc_engine_offer(ins->engine, zmq_msg_data(&msg), zmq_msg_size(&msg));
    }
    zmq_msg_close(&msg);
    return more && !ctx->stopped;
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
    return 0;
}

static int in_zmq_start(struct ioc_instance *ins, uv_loop_t *loop)
{
    struct in_zmq *ctx = ins->ctx;
    const struct in_zmq_conf *conf = ins->conf;
    int hwm = (int)conf->rcvhwm;
    int linger = 0;

    ctx->sock = ioc_engine_zmq_bind(ins, ZMQ_PULL, conf->bind, IOC_ZAP_INGEST, ZMQ_RCVHWM, hwm,
                                    linger);
    if (!ctx->sock) {
        goto fail;
    }
    if (ioc_zsock_start(&ctx->zs, loop, ctx->sock, drain, NULL, ctx) != 0) {
        ioc_error(ins->name, "cannot watch the socket");
        goto fail;
    }
    ioc_info(ins->name, "receiving on %s", conf->bind);
    return 0;

fail:
    if (ctx->sock) {
        ioc_engine_zmq_close(ins, ctx->sock);
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
    ioc_zsock_stop(&ctx->zs);
    /* Linger 0: nothing is sent on a PULL socket. */
    ioc_engine_zmq_close(ins, ctx->sock);
    ctx->sock = NULL;
    ioc_info(ins->name, "stopped after %llu messages", (unsigned long long)ctx->received);
}

static void in_zmq_destroy(struct ioc_instance *ins)
{
    struct in_zmq *ctx = ins->ctx;
    if (!ctx) {
        return;
    }
    if (!ioc_zsock_idle(&ctx->zs)) {
        /* The loop still references our handles: freeing them would corrupt
         * it, so leak instead and say so. */
        ioc_error(ins->name, "destroyed before its handles closed; leaking its state");
        return;
    }
    if (ctx->sock) {
        ioc_engine_zmq_close(ins, ctx->sock);
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
