/*
 * out_zmq_pub.c — output plugin "zmq_pub": incident changes on a PUB socket.
 *
 * Owns one PUB socket per instance, in the engine's ZeroMQ context (a CURVE
 * server in the "publish" ZAP domain when security keys are configured, so
 * only listed consoles and operators subscribe). Each durable
 * change goes out as two frames: the topic ("incident.<grade>.<zone>", so a
 * console subscribes by prefix) then the JSON of the change.
 *
 * A PUB socket never blocks: at a subscriber's high-water mark ZeroMQ drops
 * that subscriber's copy silently, and only that subscriber's. Every message
 * carries a seq, so a console sees the gap and resynchronises through the
 * control socket. ZMQ_XPUB_NODROP is deliberately not set: it would turn one
 * slow console into a loss for every console. What this plugin can see (a
 * send that fails) is counted and logged at debug level.
 *
 * The socket is not watched by the loop: a PUB is never read, and ZeroMQ
 * processes subscriptions as part of each send, so there is no edge to lose.
 *
 * Threads: everything runs on the loop thread. The engine terminates the
 * context after destroy, when the loop has ended; termination waits (up to
 * the linger) for the last changes of a finite run to reach subscribers.
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

/* How long termination may wait for queued changes to leave, in ms. */
#define PUB_LINGER_MS 1000

struct out_zmq_pub_conf {
    char *bind;
    long long sndhwm;
};

struct out_zmq_pub {
    void *sock;
    uint64_t sent;
    uint64_t dropped;
};

static const struct ioc_option out_zmq_pub_options[] = {
    {"bind", IOC_OPT_STR, "tcp://127.0.0.1:5557", 0, 0, offsetof(struct out_zmq_pub_conf, bind),
     "ZeroMQ endpoint the PUB socket binds to; consoles connect a SUB"},
    {"sndhwm", IOC_OPT_INT, "100000", 0, 100000000, offsetof(struct out_zmq_pub_conf, sndhwm),
     "messages queued per subscriber before its copies are dropped (0 = no limit)"},
    IOC_OPTION_END,
};

static int out_zmq_pub_init(struct ioc_instance *ins)
{
    struct out_zmq_pub *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        ioc_error(ins->name, "out of memory");
        return IOC_ENOMEM;
    }
    ins->ctx = ctx;
    return 0;
}

static int out_zmq_pub_start(struct ioc_instance *ins, uv_loop_t *loop)
{
    struct out_zmq_pub *ctx = ins->ctx;
    const struct out_zmq_pub_conf *conf = ins->conf;
    int hwm = (int)conf->sndhwm;
    int linger = PUB_LINGER_MS;

    (void)loop; /* the socket is never read, so it does not join the loop */
    ctx->sock = ioc_engine_zmq_bind(ins, ZMQ_PUB, conf->bind, IOC_ZAP_PUBLISH, ZMQ_SNDHWM, hwm,
                                    linger);
    if (!ctx->sock) {
        goto fail;
    }
    ioc_info(ins->name, "publishing on %s", conf->bind);
    return 0;

fail:
    if (ctx->sock) {
        /* Nothing was published: no reason to linger. */
        linger = 0;
        zmq_setsockopt(ctx->sock, ZMQ_LINGER, &linger, sizeof(linger));
        ioc_engine_zmq_close(ins, ctx->sock);
        ctx->sock = NULL;
    }
    return IOC_EZMQ;
}

static int out_zmq_pub_emit(struct ioc_instance *ins, const struct ioc_change *ch)
{
    struct out_zmq_pub *ctx = ins->ctx;
    if (!ctx || !ctx->sock) {
        return IOC_ESTATE;
    }
    /* Once the topic frame is accepted, ZeroMQ accepts the rest of the
     * message too (high-water marks count whole messages), so a message is
     * never cut in half by a full queue. */
    if (zmq_send(ctx->sock, ch->topic, strlen(ch->topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(ctx->sock, ch->json, ch->json_len, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        ctx->dropped++;
        /* Log the 1st, 2nd, 4th, 8th ... drop: visible without flooding. */
        if ((ctx->dropped & (ctx->dropped - 1)) == 0) {
            ioc_debug(ins->name, "change dropped (%llu so far): %s",
                      (unsigned long long)ctx->dropped, zmq_strerror(err));
        }
        return IOC_EZMQ;
    }
    ctx->sent++;
    return 0;
}

static void out_zmq_pub_stop(struct ioc_instance *ins)
{
    struct out_zmq_pub *ctx = ins->ctx;
    if (!ctx || !ctx->sock) {
        return;
    }
    /* Closing keeps the queued messages for up to the linger; the engine's
     * context termination after destroy is what waits for them. */
    ioc_engine_zmq_close(ins, ctx->sock);
    ctx->sock = NULL;
    ioc_info(ins->name, "stopped after %llu changes (%llu dropped by failed sends)",
             (unsigned long long)ctx->sent, (unsigned long long)ctx->dropped);
}

static void out_zmq_pub_destroy(struct ioc_instance *ins)
{
    struct out_zmq_pub *ctx = ins->ctx;
    if (!ctx) {
        return;
    }
    if (ctx->sock) {
        ioc_engine_zmq_close(ins, ctx->sock);
    }
    free(ctx);
    ins->ctx = NULL;
}

const struct ioc_plugin ioc_plugin_out_zmq_pub = {
    .name = "zmq_pub",
    .kind = IOC_PLUGIN_OUTPUT,
    .description = "Publishes every durable incident change on a ZeroMQ PUB socket: a topic "
                   "frame incident.<grade>.<zone>, then the JSON of the change with its seq.",
    .options = out_zmq_pub_options,
    .conf_size = sizeof(struct out_zmq_pub_conf),
    .init = out_zmq_pub_init,
    .start = out_zmq_pub_start,
    .stop = out_zmq_pub_stop,
    .destroy = out_zmq_pub_destroy,
    .emit = out_zmq_pub_emit,
};
