/*
 * zsock.c — a ZeroMQ socket joined to a libuv loop (see zsock.h).
 *
 * The ingest sockets, the control socket and the ZAP handler all read the
 * same way; this file is the one place that knows ZMQ_FD is edge-triggered.
 * What a message means, and how many make a fair turn, stays with each
 * owner's drain function.
 *
 * Threads: the loop thread only; no global state.
 */
#include <errno.h>

#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/zsock.h"

#define TAG "zsock"

bool ioc_zsock_readable(void *sock)
{
    int events = 0;
    size_t len = sizeof events;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN) != 0;
}

int ioc_zsock_recv(void *sock, zmq_msg_t *msg)
{
    for (;;) {
        if (zmq_msg_recv(msg, sock, ZMQ_DONTWAIT) >= 0) {
            return 1;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            return -1;
        }
        /* EAGAIN came after the socket processed its mailbox, which re-armed
         * the edge; a message may still have slipped in between. */
        if (!ioc_zsock_readable(sock)) {
            return 0;
        }
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct ioc_zsock *z = h->data;
    if (--z->live_handles == 0 && z->on_closed) {
        z->on_closed(z->arg);
    }
}

static void on_idle(uv_idle_t *h)
{
    struct ioc_zsock *z = h->data;
    if (!z->drain(z->arg) && !z->stopped) {
        uv_idle_stop(&z->idle);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct ioc_zsock *z = h->data;
    (void)events; /* only UV_READABLE is asked for */
    if (status < 0) {
        /* The fd is ZeroMQ's own signaller; an error here is not expected,
         * and draining is still the right answer. */
        ioc_warn(TAG, "poll error: %s", uv_strerror(status));
    }
    if (z->stopped) {
        return;
    }
    if (z->drain(z->arg) && !z->stopped) {
        uv_idle_start(&z->idle, on_idle);
    }
}

int ioc_zsock_start(struct ioc_zsock *z, uv_loop_t *loop, void *sock, ioc_zsock_drain_fn drain,
                    void (*on_closed)(void *arg), void *arg)
{
    int fd = -1, rc;
    size_t len = sizeof fd;

    z->sock = sock;
    z->drain = drain;
    z->on_closed = on_closed;
    z->arg = arg;
    z->live_handles = 0;
    z->stopped = false;
    z->paused = false;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0) {
        ioc_error(TAG, "cannot get the socket's fd: %s", zmq_strerror(errno));
        z->stopped = true;
        return IOC_EZMQ;
    }
    uv_idle_init(loop, &z->idle);
    z->idle.data = z;
    z->live_handles++;
    rc = uv_poll_init(loop, &z->poll, fd);
    if (rc < 0) {
        ioc_error(TAG, "cannot watch the socket: %s", uv_strerror(rc));
        z->stopped = true;
        uv_close((uv_handle_t *)&z->idle, on_handle_closed);
        return IOC_EUV;
    }
    z->poll.data = z;
    z->live_handles++;
    rc = uv_poll_start(&z->poll, UV_READABLE, on_readable);
    if (rc < 0) {
        ioc_error(TAG, "cannot watch the socket: %s", uv_strerror(rc));
        ioc_zsock_stop(z);
        return IOC_EUV;
    }
    /* Peers may have connected and sent between bind and now: that edge is
     * gone, so look once on the first turn. */
    uv_idle_start(&z->idle, on_idle);
    return 0;
}

void ioc_zsock_pause(struct ioc_zsock *z, bool on)
{
    if (z->stopped || z->live_handles != 2 || z->paused == on) {
        return;
    }
    z->paused = on;
    if (on) {
        uv_idle_stop(&z->idle);
        uv_poll_stop(&z->poll);
    } else {
        uv_poll_start(&z->poll, UV_READABLE, on_readable);
        uv_idle_start(&z->idle, on_idle);
    }
}

void ioc_zsock_kick(struct ioc_zsock *z)
{
    if (!z->stopped && !z->paused && z->live_handles == 2 && ioc_zsock_readable(z->sock)) {
        uv_idle_start(&z->idle, on_idle);
    }
}

void ioc_zsock_stop(struct ioc_zsock *z)
{
    if (z->live_handles == 0 || uv_is_closing((uv_handle_t *)&z->idle)) {
        z->stopped = true;
        return;
    }
    z->stopped = true;
    /* The fd belongs to the socket: stop watching it before the owner closes
     * the socket. */
    if (z->live_handles == 2) {
        uv_close((uv_handle_t *)&z->poll, on_handle_closed);
    }
    uv_close((uv_handle_t *)&z->idle, on_handle_closed);
}

bool ioc_zsock_idle(const struct ioc_zsock *z)
{
    return z->live_handles == 0;
}
