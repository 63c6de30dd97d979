/*
 * zmon.c — socket monitors for refused handshakes (see zmon.h).
 *
 * Owns one monitor per watched socket: libzmq's PAIR on an inproc address,
 * our PAIR connected to it and joined to the loop through zsock, and the
 * decoding of the two-frame events ([uint16 event][uint32 value] in the
 * host's byte order, then the endpoint) into a refusal in words. A watch is
 * freed in its handles' close callback; the set is freed by destroy once no
 * watch is left.
 *
 * Threads: the loop thread only; no global state.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/zmon.h"
#include "ioc/zsock.h"

#define TAG "zmon"

#define WATCHED_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
/* Events decided per loop turn before other work gets its turn. */
#define EVENT_BUDGET 256

struct watch {
    struct ioc_zmon *set;
    void *sock; /* the watched socket (borrowed); NULL once unwatched */
    void *pair; /* our end of its monitor (owned) */
    struct ioc_zsock zs;
    const char *domain;
};

struct ioc_zmon {
    uv_loop_t *loop;
    void *zctx;
    ioc_refused_fn refused;
    void *arg;
    struct watch **w; /* watched, and unwatched until their handles closed */
    size_t n, cap;
    unsigned next_id;
};

/* What a protocol error says about the client, for the audit. */
static const struct {
    uint32_t code;
    const char *text;
} protocol_errors[] = {
    {ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, "client without CURVE (mechanism mismatch)"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
     "CURVE handshake does not decrypt (the client has the wrong server key?)"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND, "unexpected command in the handshake"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE, "commands out of sequence in the handshake"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE, "CURVE key exchange failed"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED, "malformed handshake command"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE, "malformed MESSAGE in the handshake"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO, "malformed CURVE HELLO"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE, "malformed CURVE INITIATE"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR, "malformed ERROR in the handshake"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY, "malformed READY in the handshake"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME, "malformed CURVE WELCOME"},
    {ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA, "invalid metadata in the handshake"},
    {ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED, "the ZAP handler could not be asked"},
    {ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY, "malformed ZAP reply"},
    {ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID, "ZAP reply to another request"},
    {ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION, "ZAP reply of an unknown version"},
    {ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE, "ZAP reply with an invalid status"},
    {ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA, "ZAP reply with invalid metadata"},
};

/* Reports one event; others than the two watched are ignored. */
static void report(struct watch *w, uint16_t event, uint32_t value, const char *endpoint)
{
    char text[160];
    struct ioc_refusal r = {.domain = w->domain, .endpoint = endpoint, .actor = "(key unknown)"};
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        for (size_t i = 0; i < sizeof protocol_errors / sizeof protocol_errors[0]; i++) {
            if (protocol_errors[i].code == value) {
                r.reason = protocol_errors[i].text;
            }
        }
        if (!r.reason) {
            snprintf(text, sizeof text, "protocol error 0x%08x in the handshake", value);
            r.reason = text;
        }
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
            r.actor = "(no key)";
        }
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        if (value) {
            snprintf(text, sizeof text, "connection lost during the handshake (%s)",
                     strerror((int)value));
        } else {
            snprintf(text, sizeof text, "connection lost during the handshake");
        }
        r.reason = text;
    } else {
        return;
    }
    /* Logged at warn by the callback, at most once a minute alike. */
    ioc_debug(TAG, "%s socket %s refused a handshake: %s", w->domain, endpoint, r.reason);
    if (w->set->refused) {
        w->set->refused(w->set->arg, &r);
    }
}

static bool drain(void *arg)
{
    struct watch *w = arg;
    zmq_msg_t head, addr;
    bool more = false;
    zmq_msg_init(&head);
    zmq_msg_init(&addr);
    for (int done = 0; w->pair; done++) {
        if (done == EVENT_BUDGET) {
            more = true;
            break;
        }
        int rc = ioc_zsock_recv(w->pair, &head);
        if (rc < 0) {
            ioc_error(TAG, "receive failed: %s", zmq_strerror(errno));
        }
        if (rc <= 0) {
            break;
        }
        /* The two frames of an event arrive together. */
        bool two = zmq_msg_more(&head) && zmq_msg_recv(&addr, w->pair, ZMQ_DONTWAIT) >= 0;
        if (!two || zmq_msg_size(&head) != 6 || zmq_msg_more(&addr)) {
            ioc_warn(TAG, "malformed monitor event dropped");
            while (two && zmq_msg_more(&addr) && zmq_msg_recv(&addr, w->pair, ZMQ_DONTWAIT) >= 0) {
            }
            continue;
        }
        uint16_t event;
        uint32_t value;
        char endpoint[256];
        size_t len =
            zmq_msg_size(&addr) < sizeof endpoint ? zmq_msg_size(&addr) : sizeof endpoint - 1;
        memcpy(&event, zmq_msg_data(&head), sizeof event);
        memcpy(&value, (const char *)zmq_msg_data(&head) + sizeof event, sizeof value);
        memcpy(endpoint, zmq_msg_data(&addr), len);
        endpoint[len] = '\0';
        report(w, event, value, endpoint);
    }
    zmq_msg_close(&head);
    zmq_msg_close(&addr);
    return more;
}

/* The loop is done with the watch's handles: forget and free it. */
static void on_closed(void *arg)
{
    struct watch *w = arg;
    struct ioc_zmon *m = w->set;
    for (size_t i = 0; i < m->n; i++) {
        if (m->w[i] == w) {
            m->w[i] = m->w[--m->n];
            break;
        }
    }
    free(w);
}

int ioc_zmon_create(uv_loop_t *loop, void *zctx, ioc_refused_fn refused, void *arg,
                    struct ioc_zmon **out)
{
    struct ioc_zmon *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m) {
        ioc_error(TAG, "out of memory");
        return IOC_ENOMEM;
    }
    m->loop = loop;
    m->zctx = zctx;
    m->refused = refused;
    m->arg = arg;
    *out = m;
    return 0;
}

/* Stops the monitor of w (its socket still open) and starts closing it. */
static void unwatch(struct watch *w)
{
    /* Events already queued are refusals that happened: report them first. */
    for (int turns = 0; turns < 16 && drain(w); turns++) {
    }
    zmq_socket_monitor(w->sock, NULL, 0);
    w->sock = NULL;
    /* The fd belongs to the PAIR: stop watching it before closing. */
    ioc_zsock_stop(&w->zs);
    zmq_close(w->pair);
    w->pair = NULL;
}

int ioc_zmon_watch(struct ioc_zmon *m, void *sock, enum ioc_zap_domain domain)
{
    char ep[64];
    int linger = 0, unbounded = 0, rc;
    struct watch *w = NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        struct watch **v = realloc(m->w, cap * sizeof *v);
        if (!v) {
            ioc_error(TAG, "out of memory");
            return IOC_ENOMEM;
        }
        m->w = v;
        m->cap = cap;
    }
    if (!(w = calloc(1, sizeof *w))) {
        ioc_error(TAG, "out of memory");
        return IOC_ENOMEM;
    }
    w->set = m;
    w->domain = ioc_zap_domain_name(domain);
    snprintf(ep, sizeof ep, "inproc://ioc.zmon.%p.%u", (void *)m, m->next_id++);
    if (!(w->pair = zmq_socket(m->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(w->pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(w->pair, ZMQ_RCVHWM, &unbounded, sizeof unbounded) != 0) {
        ioc_error(TAG, "cannot make a monitor socket: %s", zmq_strerror(errno));
        goto fail;
    }
    /* libzmq binds its end; ours connects after, so the queue between them
     * takes our unbounded RCVHWM (an inproc pipe sums both ends' marks, and
     * a 0 on either end means no mark). */
    if (zmq_socket_monitor(sock, ep, WATCHED_EVENTS) != 0) {
        ioc_error(TAG, "cannot monitor the %s socket: %s", w->domain, zmq_strerror(errno));
        goto fail;
    }
    w->sock = sock;
    if (zmq_connect(w->pair, ep) != 0) {
        ioc_error(TAG, "cannot connect to the %s socket's monitor: %s", w->domain,
                  zmq_strerror(errno));
        goto fail;
    }
    m->w[m->n++] = w;
    if ((rc = ioc_zsock_start(&w->zs, m->loop, w->pair, drain, on_closed, w)) != 0) {
        unwatch(w);
        /* Handles still closing free w in on_closed; none means none will. */
        if (ioc_zsock_idle(&w->zs)) {
            on_closed(w);
        }
        return rc;
    }
    return 0;

fail:
    if (w->sock) {
        zmq_socket_monitor(w->sock, NULL, 0);
    }
    if (w->pair) {
        zmq_close(w->pair);
    }
    free(w);
    return IOC_EZMQ;
}

void ioc_zmon_unwatch(struct ioc_zmon *m, void *sock)
{
    for (size_t i = 0; m && sock && i < m->n; i++) {
        if (m->w[i]->sock == sock) {
            unwatch(m->w[i]);
            return;
        }
    }
}

void ioc_zmon_stop(struct ioc_zmon *m)
{
    for (size_t i = 0; m && i < m->n; i++) {
        if (m->w[i]->sock) {
            unwatch(m->w[i]);
        }
    }
}

void ioc_zmon_destroy(struct ioc_zmon *m)
{
    if (!m) {
        return;
    }
    if (m->n) {
        /* The loop still references handles: leak rather than corrupt it. */
        ioc_error(TAG, "destroyed with %zu monitors not closed; leaking them", m->n);
        return;
    }
    free(m->w);
    free(m);
}
