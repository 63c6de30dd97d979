/*
 * zsock.h — a ZeroMQ socket joined to a libuv loop.
 *
 * ZMQ_FD is edge-triggered: it fires when the socket's state changes, not
 * while messages wait, and any socket call (a send included) may consume
 * that edge. Every socket the engine reads therefore follows one pattern,
 * kept here once: a uv_poll_t on ZMQ_FD calls the owner's drain function,
 * which reads until ioc_zsock_recv() says the socket is empty (a receive
 * found nothing and ZMQ_EVENTS, asked after it, shows no message). A drain
 * takes at most its own budget per loop turn so a flood cannot starve the
 * rest of the loop; when it says more may wait, a uv_idle_t calls it again
 * on the next turns, because the fd will not fire for messages already
 * queued. An owner that sent on the socket outside its drain calls
 * ioc_zsock_kick(), since the send may have eaten the edge of a message.
 *
 * Ownership: the struct lives in the owner's memory and the socket stays the
 * owner's (borrowed here). After ioc_zsock_stop() the loop still holds the
 * two handles until their close callbacks ran; the owner's on_closed is
 * called then, and only then may the struct be freed.
 *
 * Threads: the loop thread only.
 */
#ifndef IOC_ZSOCK_H
#define IOC_ZSOCK_H

#include <stdbool.h>

#include <uv.h>
#include <zmq.h>

struct ioc_zsock;

/* Reads what the socket holds, up to the owner's budget. Returns true when
 * the budget ran out and more may be waiting. */
typedef bool (*ioc_zsock_drain_fn)(void *arg);

struct ioc_zsock {
    void *sock; /* borrowed */
    uv_poll_t poll;
    uv_idle_t idle;
    ioc_zsock_drain_fn drain;
    void (*on_closed)(void *arg); /* both handles closed; may be NULL */
    void *arg;
    int live_handles; /* initialised and not yet through their close callback */
    bool stopped;
    bool paused; /* ioc_zsock_pause */
};

/* Watches sock on loop and calls drain(arg) whenever it may hold messages,
 * once right away too (peers may have sent between bind and now). Returns 0
 * or a negative IOC_E* code; on failure the handles already set up are
 * closing, and on_closed(arg) runs once they are. */
int ioc_zsock_start(struct ioc_zsock *z, uv_loop_t *loop, void *sock, ioc_zsock_drain_fn drain,
                    void (*on_closed)(void *arg), void *arg);

/* Makes drain run on the next loop turn when a message is waiting: for an
 * owner that just sent outside its drain. Never drains from here, so it is
 * safe inside any callback. */
void ioc_zsock_kick(struct ioc_zsock *z);

/* Pauses (on) or resumes reading: paused, the fd is not watched (ZeroMQ's fd
 * stays readable until the socket is read, and the loop would spin on it) and
 * drain is not called, so messages wait in the socket and then in the peers'
 * queues. Resuming drains on the next turn: the edge for what queued up
 * meanwhile is gone. */
void ioc_zsock_pause(struct ioc_zsock *z, bool on);

/* Stops watching and closes the handles (the socket stays open: the owner
 * closes it). Safe to call twice, and after a failed start. */
void ioc_zsock_stop(struct ioc_zsock *z);

/* Whether the handles are all closed (nothing of z is referenced by the loop). */
bool ioc_zsock_idle(const struct ioc_zsock *z);

/* One message part without waiting: 1 with it in msg, 0 when the socket is
 * empty (and its edge re-armed), -1 on a socket error (errno kept). Retries
 * on EINTR, and after EAGAIN asks ZMQ_EVENTS once more, as the ZeroMQ
 * documentation prescribes, in case a message slipped in between. */
int ioc_zsock_recv(void *sock, zmq_msg_t *msg);

/* Whether ZMQ_EVENTS shows a message waiting. Asking also lets the socket
 * process its command mailbox, which re-arms the edge of ZMQ_FD. */
bool ioc_zsock_readable(void *sock);

#endif
