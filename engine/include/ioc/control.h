/*
 * control.h — the control socket: JSON commands in, one JSON reply out.
 *
 * A ROUTER socket bound to the configured address (DESIGN.md §8, default
 * tcp://127.0.0.1:5558), joined to a libuv loop. Clients connect a REQ or a
 * DEALER and send one frame: a JSON object {"op": "...", ...}. The module
 * checks the envelope and the JSON, hands every well-formed command to one
 * handler, and sends the reply back to the same client in the same envelope
 * (with the empty delimiter only when the request had one, so REQ and DEALER
 * clients both work).
 *
 * Every reply is a JSON object with a boolean "ok" first; when ok is false it
 * also has a string "error". The module answers by itself, without calling the
 * handler, for:
 *   - a body that is not strict JSON (RFC 8259; no \u0000 or unpaired
 *     surrogate escapes, nesting up to 64):
 *                                        "invalid JSON at byte N", N from 0, the
 *                                        first byte that cannot continue the text
 *   - not an object, or "op" missing or not a string:
 *                                        "a command is a JSON object with \"op\""
 *   - a body over IOC_CONTROL_MAX_BYTES, or a request of more than one frame
 *     after the envelope.
 *
 * Replies never block the loop: a client that went away only loses its reply
 * (ROUTER_MANDATORY is off, sends use ZMQ_DONTWAIT), and a failed send is
 * counted, never fatal.
 *
 * Threads: everything, the handler included, runs on the loop's thread.
 */
#ifndef IOC_CONTROL_H
#define IOC_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct cJSON;
struct ioc_control;

/* Largest request body answered; larger ones get an error reply. */
#define IOC_CONTROL_MAX_BYTES 65536

/* Handles one command. req is the parsed request (borrowed; "op" is a
 * string). reply is an empty object the module created and owns: the handler
 * adds its fields to it. Returns 0 for success or a negative IOC_E* code.
 *
 * What the client gets:
 *   - 0: the reply with "ok": true, unless the handler set "ok" itself (a
 *     handler that sets "ok": false should also set "error").
 *   - < 0: the reply with "ok": false, and "error" as the handler set it,
 *     else ioc_strerror(code).
 * An unknown op is the handler's to refuse (say, IOC_EINVAL with "error":
 * "unknown op 'x'"). The handler may call ioc_control_stop(); the reply to
 * the command being handled is then dropped. */
typedef int (*ioc_control_handler)(void *arg, const struct cJSON *req, struct cJSON *reply);

struct ioc_control_stats {
    uint64_t requests; /* messages received, well-formed or not */
    uint64_t handled;  /* commands handed to the handler */
    uint64_t refused;  /* answered by the module: bad JSON, no op, too large, ... */
    uint64_t replies;  /* replies handed to ZeroMQ */
    uint64_t dropped;  /* replies ZeroMQ refused (client gone or socket error) */
};

/* Binds a ROUTER socket to bind (a ZeroMQ endpoint, borrowed) and starts
 * answering on loop, calling handler(arg, ...) for each command. On success
 * *out is the running socket, to be stopped with ioc_control_stop. On failure
 * returns a negative IOC_E* code with a one-line reason in err (when err is
 * not NULL) and leaves *out NULL: nothing is left to stop (a handle that was
 * already set up is closed and freed by the loop's next turn). */
int ioc_control_start(uv_loop_t *loop, const char *bind, ioc_control_handler handler, void *arg,
                      struct ioc_control **out, char *err, size_t errlen);

struct ioc_security_conf;

/* As ioc_control_start, with the socket in zctx (borrowed; NULL: a context
 * of its own) and, when sec is enabled, a CURVE server in the "control" ZAP
 * domain: the request's "operator" is then replaced by the name the ZAP
 * handler gave the client's key (User-Id), whatever the JSON said. */
int ioc_control_start_in(uv_loop_t *loop, void *zctx, const struct ioc_security_conf *sec,
                         const char *bind, ioc_control_handler handler, void *arg,
                         struct ioc_control **out, char *err, size_t errlen);

/* Stops answering: closes the socket (replies not yet sent are dropped) and
 * the loop handles; the memory is freed in the handles' close callbacks, so
 * the loop must run at least once more, and c must not be used after this
 * call. Call it once, before the loop ends. Accepts NULL. */
void ioc_control_stop(struct ioc_control *c);

/* The counters so far. */
void ioc_control_get_stats(const struct ioc_control *c, struct ioc_control_stats *out);

/* The ROUTER socket (owned by c, closed by ioc_control_stop), for a caller
 * that monitors it. */
void *ioc_control_socket(const struct ioc_control *c);

/* The endpoint actually bound (with the port a "*" bind chose); owned by c. */
const char *ioc_control_endpoint(const struct ioc_control *c);

#endif
