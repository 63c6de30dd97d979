/*
 * zmon.h — refused handshakes that the ZAP handler never sees.
 *
 * libzmq asks the ZAP handler (curve.h) only about a handshake that got as
 * far as the client's credentials. A client without CURVE (a plain ZeroMQ
 * socket) is refused earlier by the mechanism check, and a CURVE client with
 * the wrong server key by a HELLO that does not decrypt; libzmq drops both
 * without asking anyone. A socket monitor reports them. With keys, the engine
 * watches every CURVE server socket (the plugins' and the control socket)
 * for two events and hands each to the same callback as the ZAP handler:
 *
 *   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL   value: a ZMQ_PROTOCOL_ERROR_* code
 *   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL  value: an errno
 *
 * ZMQ_EVENT_HANDSHAKE_FAILED_AUTH is not asked for: it follows a refusal by
 * the ZAP handler, which reported it already. What libzmq 4.3.4 emits on a
 * CURVE server, client by client, and how the client goes on:
 *
 *   plain client (NULL mechanism)   FAILED_PROTOCOL ZMTP_MECHANISM_MISMATCH, or
 *                                   FAILED_NO_DETAIL EPIPE/ECONNRESET when the
 *                                   client saw the mismatch first and hung up;
 *                                   it reconnects after the first, not the second
 *   CURVE, wrong server key         FAILED_PROTOCOL ZMTP_CRYPTOGRAPHIC; reconnects
 *                                   every 100-150 ms for as long as it runs
 *   CURVE, key refused by ZAP       FAILED_AUTH 400 (the ZAP handler's)
 *   TCP connect, then close         FAILED_NO_DETAIL ECONNRESET
 *   not ZMTP 3 (HTTP, ZMTP 1.0)     no handshake event at all: not seen
 *
 * A version 1 monitor event names the socket's endpoint, not the peer's
 * address (version 2 has both, but is a draft API that Debian's libzmq does
 * not export), so a refusal from here has no peer address.
 *
 * Each watched socket has its own monitor: libzmq binds a PAIR on an inproc
 * address, and a PAIR of ours, connected to it, is read on the loop through
 * zsock. libzmq sends an event blocking, from its I/O thread, so our PAIR
 * takes an unbounded queue: a loop that falls behind costs memory, never a
 * stalled I/O thread (that would stall every socket of the context).
 *
 * Lifetime: watch a socket after it is bound, and unwatch it before it is
 * closed (the monitor is stopped through the socket, which must still be
 * there). ioc_zmon_stop unwatches what remains while the loop still runs;
 * ioc_zmon_destroy frees once the loop closed the handles, before the
 * ZeroMQ context terminates.
 *
 * Threads: the loop thread only.
 */
#ifndef IOC_ZMON_H
#define IOC_ZMON_H

#include <uv.h>

#include "ioc/curve.h"

struct ioc_zmon;

/* A set of monitors in zctx (borrowed), read on loop, reporting to
 * refused(arg, ...). 0 with *out, or IOC_ENOMEM. */
int ioc_zmon_create(uv_loop_t *loop, void *zctx, ioc_refused_fn refused, void *arg,
                    struct ioc_zmon **out);

/* Watches sock (bound, borrowed), a CURVE server socket of domain. 0, or
 * IOC_EZMQ / IOC_EUV / IOC_ENOMEM (logged); on failure sock is not watched. */
int ioc_zmon_watch(struct ioc_zmon *m, void *sock, enum ioc_zap_domain domain);

/* Reports what the monitor of sock still holds and stops it; call it before
 * sock is closed. Nothing when m is NULL or sock is not watched. */
void ioc_zmon_unwatch(struct ioc_zmon *m, void *sock);

/* Unwatches every socket still watched; each must still be open. Accepts
 * NULL. */
void ioc_zmon_stop(struct ioc_zmon *m);

/* Frees, after ioc_zmon_stop and after the loop closed the handles.
 * Accepts NULL. */
void ioc_zmon_destroy(struct ioc_zmon *m);

#endif
