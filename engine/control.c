/*
 * control.c — the control socket: a ROUTER on the engine's loop that turns
 * JSON commands into handler calls and the handler's answers into replies.
 *
 * Owns one ROUTER socket joined to the loop through zsock (in the engine's
 * ZeroMQ context, or in one of its own when started without). The engine
 * embeds it and supplies the handler; this file knows nothing about what the
 * commands mean, only the wire contract in control.h: the envelope, the
 * JSON, and a boolean "ok" first in every reply.
 *
 * Identity. With security keys the socket is a CURVE server and the ZAP
 * handler names the operator behind each key (User-Id). The request's
 * "operator" is then replaced by that name before the handler sees it, so
 * roles, the audit and the command journal all carry the key's owner,
 * whatever the JSON claimed.
 *
 * Envelope. A ROUTER receives [identity][body] from a DEALER and
 * [identity][empty][body] from a REQ. The reply goes back in the same shape,
 * so the delimiter is echoed only when the request had one. Nothing else is
 * kept per client: a reply whose client went away is dropped by ZeroMQ
 * (ROUTER_MANDATORY stays off, and every send uses ZMQ_DONTWAIT), so a dead
 * console can neither block nor stop the engine (DESIGN.md §11).
 *
 * Edge-triggered fd (zsock.h). Replies are sent inside the drain, so the
 * last socket call before control returns to libuv is always the receive
 * that found nothing and its ZMQ_EVENTS check, never a send. One turn
 * answers at most DRAIN_BUDGET commands (a reload can take a while).
 *
 * Lifetime. The struct holds the handles, so it is freed in the last close
 * callback. The handler may stop the control socket from inside a command:
 * the socket then stays open until drain() returns, and is closed there.
 *
 * Threads: everything runs on the loop thread; there is no global state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>
#include <zmq.h>

#include "ioc/control.h"
#include "ioc/curve.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/zsock.h"

#define TAG "control"

/* Commands answered per loop turn before other work gets its turn. */
#define DRAIN_BUDGET 64

/* Frames above this size make ZeroMQ drop the sender's connection instead of
 * buffering them: the bound on what a misbehaving client can make us
 * allocate. Between IOC_CONTROL_MAX_BYTES and this, the client gets an error
 * reply. */
#define MAX_FRAME_BYTES (1024 * 1024)

/* Sent when even the error reply cannot be built. */
static const char oom_reply[] = "{\"ok\":false,\"error\":\"out of memory\"}";

static const char no_op_error[] = "a command is a JSON object with \"op\"";

struct ioc_control {
    void *zctx;   /* the context of sock */
    bool own_ctx; /* created here, terminated here */
    bool curve;   /* CURVE server: the operator comes from the key */
    void *sock;
    struct ioc_zsock zs;
    bool stopped;
    bool draining; /* inside drain(): the socket must outlive the handler call */
    ioc_control_handler handler;
    void *arg;
    struct ioc_control_stats stats;
    char endpoint[256];
    char body[IOC_CONTROL_MAX_BYTES + 1]; /* the request, NUL-terminated for cJSON */
};

/* Closes the socket, and the context when it is ours; safe to call again.
 * Linger is 0, so replies not yet on the wire are dropped at once. */
static void close_socket(struct ioc_control *c)
{
    if (c->sock) {
        zmq_close(c->sock);
        c->sock = NULL;
    }
    if (c->zctx && c->own_ctx) {
        while (zmq_ctx_term(c->zctx) != 0 && errno == EINTR) {
        }
    }
    c->zctx = NULL;
}

/* The loop is done with the handles: nothing refers to c any more. */
static void on_closed(void *arg)
{
    struct ioc_control *c = arg;
    close_socket(c);
    free(c);
}

/* ---- Replies ------------------------------------------------------------- */

/* Adds item under key as the object's first member (so a reply reads "ok"
 * first). Takes ownership of item; false when it could not be added. */
static bool add_first(cJSON *obj, const char *key, cJSON *item)
{
    if (!item) {
        return false;
    }
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    if (obj->child != item) {
        cJSON_DetachItemViaPointer(obj, item); /* keeps its key */
        cJSON_InsertItemInArray(obj, 0, item);
    }
    return true;
}

static bool set_error(cJSON *reply, const char *text)
{
    cJSON_DeleteItemFromObjectCaseSensitive(reply, "error");
    return cJSON_AddStringToObject(reply, "error", text) != NULL;
}

/* Makes the handler's reply keep the contract: a boolean "ok" first, false
 * whenever rc < 0, and a non-empty "error" string whenever ok is false. */
static bool finish_reply(cJSON *reply, int rc)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
    bool okv = rc >= 0 && (!cJSON_IsBool(ok) || cJSON_IsTrue(ok));
    while (cJSON_GetObjectItemCaseSensitive(reply, "ok")) {
        cJSON_DeleteItemFromObjectCaseSensitive(reply, "ok");
    }
    if (!add_first(reply, "ok", cJSON_CreateBool(okv))) {
        return false;
    }
    if (!okv) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            return set_error(reply, rc < 0 ? ioc_strerror(rc) : "command failed");
        }
    }
    return true;
}

/* The reply for a request the module refuses by itself. */
static bool refuse(cJSON *reply, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool refuse(cJSON *reply, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return add_first(reply, "ok", cJSON_CreateFalse()) && set_error(reply, text);
}

/* zmq_send and zmq_msg_send, retried when a signal interrupts them. */
static int send_bytes(void *sock, const void *buf, size_t len, int flags)
{
    int rc;
    while ((rc = zmq_send(sock, buf, len, flags | ZMQ_DONTWAIT)) < 0 && errno == EINTR) {
    }
    return rc;
}

static int send_msg(void *sock, zmq_msg_t *m, int flags)
{
    int rc;
    while ((rc = zmq_msg_send(m, sock, flags | ZMQ_DONTWAIT)) < 0 && errno == EINTR) {
    }
    return rc;
}

/* Sends [identity][empty if delim][text]. identity is consumed on success. */
static void send_reply(struct ioc_control *c, zmq_msg_t *identity, bool delim, const char *text,
                       size_t len)
{
    if (send_msg(c->sock, identity, ZMQ_SNDMORE) < 0 ||
        (delim && send_bytes(c->sock, "", 0, ZMQ_SNDMORE) < 0) ||
        send_bytes(c->sock, text, len, 0) < 0) {
        /* With ROUTER_MANDATORY off a vanished client is dropped silently
         * inside ZeroMQ; what fails here is rarer, so say it. */
        c->stats.dropped++;
        ioc_warn(TAG, "reply dropped: %s", zmq_strerror(errno));
        return;
    }
    c->stats.replies++;
}

/* ---- JSON positions ------------------------------------------------------ */

/* cJSON's error offset can be a byte past the fault ({"op":1,} reports the
 * end, {op:1} the o's neighbour), and it takes leading zeros and raw control
 * characters. A request is therefore first scanned by this strict RFC 8259
 * recogniser, which stops at the first byte that cannot continue a JSON text;
 * cJSON then only builds the tree. */

#define MAX_DEPTH 64 /* commands are flat; deeper is a mistake, not a command */

struct scan {
    const unsigned char *s;
    size_t len, i;
    int depth;
};

static bool scan_value(struct scan *p);

static void scan_blanks(struct scan *p)
{
    while (p->i < p->len &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) {
        p->i++;
    }
}

static bool scan_char(struct scan *p, unsigned char c)
{
    if (p->i < p->len && p->s[p->i] == c) {
        p->i++;
        return true;
    }
    return false;
}

static bool scan_digits(struct scan *p)
{
    size_t start = p->i;
    while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        p->i++;
    }
    return p->i > start;
}

/* The four hex digits of a \u escape into *unit; on a bad digit, false with
 * p->i on it. */
static bool scan_hex4(struct scan *p, unsigned *unit)
{
    *unit = 0;
    for (int k = 0; k < 4; k++, p->i++) {
        unsigned char c = p->i < p->len ? p->s[p->i] : 0;
        if (!c || !strchr("0123456789abcdefABCDEF", c)) {
            return false;
        }
        *unit = *unit * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return true;
}

static bool scan_string(struct scan *p)
{
    if (!scan_char(p, '"')) {
        return false;
    }
    while (p->i < p->len) {
        unsigned char c = p->s[p->i];
        if (c == '"') {
            p->i++;
            return true;
        }
        if (c < 0x20) {
            return false; /* control characters must be escaped */
        }
        p->i++;
        if (c != '\\') {
            continue;
        }
        if (p->i < p->len && p->s[p->i] && strchr("\"\\/bfnrt", p->s[p->i])) {
            p->i++;
        } else if (scan_char(p, 'u')) {
            size_t hex = p->i;
            unsigned unit;
            if (!scan_hex4(p, &unit)) {
                return false;
            }
            if (unit == 0) {
                /* cJSON would cut the string there: "reload\u0000x" must not
                 * read as "reload". */
                p->i = hex;
                return false;
            }
            /* cJSON refuses a UTF-16 surrogate that is not half of a pair (a
             * low half alone, a high half without \u and a low half after
             * it); passed on, it made the module answer "out of memory". */
            if (unit >= 0xDC00 && unit <= 0xDFFF) {
                p->i = hex;
                return false;
            }
            if (unit >= 0xD800 && unit <= 0xDBFF) {
                size_t low = p->i;
                if (!scan_char(p, '\\') || !scan_char(p, 'u')) {
                    p->i = low;
                    return false;
                }
                hex = p->i;
                if (!scan_hex4(p, &unit)) {
                    return false;
                }
                if (unit < 0xDC00 || unit > 0xDFFF) {
                    p->i = hex;
                    return false;
                }
            }
        } else {
            return false;
        }
    }
    return false;
}

static bool scan_number(struct scan *p)
{
    scan_char(p, '-');
    if (!scan_char(p, '0') && !scan_digits(p)) {
        return false;
    }
    if (scan_char(p, '.') && !scan_digits(p)) {
        return false;
    }
    if (scan_char(p, 'e') || scan_char(p, 'E')) {
        if (!scan_char(p, '+')) {
            scan_char(p, '-');
        }
        return scan_digits(p);
    }
    return true;
}

static bool scan_word(struct scan *p, const char *w)
{
    for (; *w; w++) {
        if (!scan_char(p, (unsigned char)*w)) {
            return false;
        }
    }
    return true;
}

/* An object or array; open is '{' or '['. */
static bool scan_container(struct scan *p, unsigned char open)
{
    bool object = open == '{';
    if (++p->depth > MAX_DEPTH) {
        return false;
    }
    p->i++; /* the opening bracket */
    scan_blanks(p);
    if (scan_char(p, object ? '}' : ']')) {
        p->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            if (!scan_string(p)) {
                return false;
            }
            scan_blanks(p);
            if (!scan_char(p, ':')) {
                return false;
            }
        }
        if (!scan_value(p)) {
            return false;
        }
        scan_blanks(p);
        if (scan_char(p, object ? '}' : ']')) {
            p->depth--;
            return true;
        }
        if (!scan_char(p, ',')) {
            return false;
        }
        scan_blanks(p);
    }
}

static bool scan_value(struct scan *p)
{
    scan_blanks(p);
    if (p->i >= p->len) {
        return false;
    }
    switch (p->s[p->i]) {
    case '{':
    case '[':
        return scan_container(p, p->s[p->i]);
    case '"':
        return scan_string(p);
    case 't':
        return scan_word(p, "true");
    case 'f':
        return scan_word(p, "false");
    case 'n':
        return scan_word(p, "null");
    default:
        return scan_number(p);
    }
}

/* The offset of the first byte that keeps s[0..len) from being one JSON
 * text (len itself when it ends too early), or -1 when it is one. */
static long json_fault(const char *s, size_t len)
{
    struct scan p = {(const unsigned char *)s, len, 0, 0};
    if (scan_value(&p)) {
        scan_blanks(&p);
        if (p.i == len) {
            return -1;
        }
    }
    return (long)p.i;
}

/* ---- Requests ------------------------------------------------------------ */

/* Puts the key's owner, as the ZAP handler named it, in req's "operator".
 * False when out of memory. */
static bool take_identity(struct ioc_control *c, zmq_msg_t *body, cJSON *req)
{
    const char *who = zmq_msg_gets(body, "User-Id");
    const cJSON *claimed = cJSON_GetObjectItemCaseSensitive(req, "operator");
    (void)c;
    if (!who || !who[0]) {
        /* Only a listed key gets this far; without a name it acts as no one. */
        cJSON_DeleteItemFromObjectCaseSensitive(req, "operator");
        return true;
    }
    if (cJSON_IsString(claimed) && strcmp(claimed->valuestring, who) != 0) {
        ioc_warn(TAG, "a request from %s's key claimed to be from '%.60s': acting as %s", who,
                 claimed->valuestring, who);
    }
    cJSON *name = cJSON_CreateString(who);
    if (!name) {
        return false;
    }
    if (claimed) {
        return cJSON_ReplaceItemInObjectCaseSensitive(req, "operator", name);
    }
    return cJSON_AddItemToObject(req, "operator", name);
}

/* Judges one request body and fills reply: by the handler when the body is a
 * command, by the module otherwise. False when out of memory. */
static bool answer(struct ioc_control *c, zmq_msg_t *body, int body_frames, cJSON *reply)
{
    size_t len = zmq_msg_size(body);
    if (body_frames != 1) {
        c->stats.refused++;
        return refuse(reply, "a command is one frame of JSON, not %d", body_frames);
    }
    if (len > IOC_CONTROL_MAX_BYTES) {
        c->stats.refused++;
        return refuse(reply, "command too large: %zu bytes (the limit is %d)", len,
                      IOC_CONTROL_MAX_BYTES);
    }
    memcpy(c->body, zmq_msg_data((zmq_msg_t *)body), len);
    c->body[len] = '\0';
    long fault = json_fault(c->body, len);
    if (fault >= 0) {
        c->stats.refused++;
        return refuse(reply, "invalid JSON at byte %ld", fault);
    }
    /* Scanned: cJSON fails now only for want of memory. */
    cJSON *req = cJSON_ParseWithLength(c->body, len);
    if (!req) {
        return false;
    }
    if (!cJSON_IsObject(req) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "op"))) {
        cJSON_Delete(req);
        c->stats.refused++;
        return refuse(reply, "%s", no_op_error);
    }
    if (c->curve && !take_identity(c, body, req)) {
        cJSON_Delete(req);
        return false;
    }
    c->stats.handled++;
    int rc = c->handler(c->arg, req, reply);
    cJSON_Delete(req);
    return finish_reply(reply, rc);
}

/* Takes one request off the socket and answers it. Returns 1 when one was
 * taken, 0 when the socket is empty (and its edge re-armed), -1 on a socket
 * error. */
static int take_one(struct ioc_control *c)
{
    /* frames[0] is the identity; frames[1..2] the delimiter and/or the body.
     * Frames beyond those are received into extra only to be counted. */
    zmq_msg_t frames[3], extra;
    int total = 0, rc = 1;
    for (int i = 0; i < 3; i++) {
        zmq_msg_init(&frames[i]);
    }
    zmq_msg_init(&extra);

    rc = ioc_zsock_recv(c->sock, &frames[0]);
    if (rc <= 0) {
        if (rc < 0) {
            ioc_error(TAG, "receive failed: %s", zmq_strerror(errno));
        }
        goto done;
    }
    total = 1;
    /* The parts of a multipart message arrive together: once the first is
     * here, the others are too. */
    for (bool more = zmq_msg_more(&frames[0]); more;) {
        zmq_msg_t *m = total < 3 ? &frames[total] : &extra;
        if (zmq_msg_recv(m, c->sock, ZMQ_DONTWAIT) < 0) {
            if (errno == EINTR) {
                continue;
            }
            ioc_error(TAG, "receive failed inside a message: %s", zmq_strerror(errno));
            rc = -1;
            goto done;
        }
        more = zmq_msg_more(m);
        total++;
    }
    c->stats.requests++;
    if (total < 2) {
        /* A ROUTER always adds the identity to at least one frame of the
         * client's; without a body there is nothing to answer. */
        c->stats.refused++;
        goto done;
    }

    bool delim = total >= 3 && zmq_msg_size(&frames[1]) == 0;
    zmq_msg_t *body = delim ? &frames[2] : &frames[1];
    int body_frames = total - (delim ? 2 : 1);

    cJSON *reply = cJSON_CreateObject();
    bool built = reply && answer(c, body, body_frames, reply);
    if (c->stopped) {
        /* The handler stopped us: the socket is about to close. */
        cJSON_Delete(reply);
        goto done;
    }
    char *text = built ? cJSON_PrintUnformatted(reply) : NULL;
    cJSON_Delete(reply);
    if (text) {
        send_reply(c, &frames[0], delim, text, strlen(text));
        cJSON_free(text);
    } else {
        ioc_error(TAG, "out of memory building a reply");
        send_reply(c, &frames[0], delim, oom_reply, sizeof oom_reply - 1);
    }

done:
    for (int i = 0; i < 3; i++) {
        zmq_msg_close(&frames[i]);
    }
    zmq_msg_close(&extra);
    return rc;
}

/* ---- The loop side ------------------------------------------------------- */

/* Answers what the socket holds, up to the budget. Returns true when more may
 * be waiting (budget spent), false when the socket is empty or closed. */
static bool drain(void *arg)
{
    struct ioc_control *c = arg;
    bool more = false;
    c->draining = true;
    for (int n = 0; !c->stopped; n++) {
        if (n == DRAIN_BUDGET) {
            more = true;
            break;
        }
        if (take_one(c) <= 0) {
            break;
        }
    }
    c->draining = false;
    if (c->stopped) {
        /* Stopped from inside the handler: the socket was kept for us. */
        close_socket(c);
        return false;
    }
    return more;
}

/* ---- Public -------------------------------------------------------------- */

int ioc_control_start(uv_loop_t *loop, const char *bind, ioc_control_handler handler, void *arg,
                      struct ioc_control **out, char *err, size_t errlen)
{
    return ioc_control_start_in(loop, NULL, NULL, bind, handler, arg, out, err, errlen);
}

int ioc_control_start_in(uv_loop_t *loop, void *zctx, const struct ioc_security_conf *sec,
                         const char *bind, ioc_control_handler handler, void *arg,
                         struct ioc_control **out, char *err, size_t errlen)
{
    struct ioc_control *c = NULL;
    int linger = 0, mandatory = 0, rc = IOC_EZMQ;
    int64_t maxmsg = MAX_FRAME_BYTES;
    size_t len;

    if (out) {
        *out = NULL;
    }
    if (!loop || !bind || !handler || !out) {
        ioc_set_err(err, errlen, "control socket: missing loop, address or handler");
        return IOC_EINVAL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        ioc_set_err(err, errlen, "control socket: out of memory");
        return IOC_ENOMEM;
    }
    c->handler = handler;
    c->arg = arg;
    c->curve = sec && sec->enabled;

    /* Without the engine's context, one of its own: the module keeps no
     * global state, and closing it cannot wait on anyone else's sockets. */
    c->zctx = zctx;
    if (!c->zctx) {
        c->own_ctx = true;
        if (!(c->zctx = zmq_ctx_new())) {
            ioc_set_err(err, errlen, "control socket: cannot create a ZeroMQ context: %s",
                    zmq_strerror(errno));
            goto fail;
        }
    }
    c->sock = zmq_socket(c->zctx, ZMQ_ROUTER);
    if (!c->sock) {
        ioc_set_err(err, errlen, "control socket: cannot create a ROUTER socket: %s",
                zmq_strerror(errno));
        goto fail;
    }
    if (zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0) {
        ioc_set_err(err, errlen, "control socket: cannot set socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    char why[256];
    if (ioc_curve_server(c->sock, sec, IOC_ZAP_CONTROL, why, sizeof why) != 0) {
        ioc_set_err(err, errlen, "control socket: %s", why);
        goto fail;
    }
    if (zmq_bind(c->sock, bind) != 0) {
        ioc_set_err(err, errlen, "control socket: cannot bind %s: %s", bind, zmq_strerror(errno));
        goto fail;
    }
    len = sizeof c->endpoint;
    if (zmq_getsockopt(c->sock, ZMQ_LAST_ENDPOINT, c->endpoint, &len) != 0) {
        snprintf(c->endpoint, sizeof c->endpoint, "%s", bind);
    }
    rc = ioc_zsock_start(&c->zs, loop, c->sock, drain, on_closed, c);
    if (rc != 0) {
        ioc_set_err(err, errlen, "control socket: cannot watch the socket: %s", ioc_strerror(rc));
        /* The handles are the loop's now: c is freed once they closed. */
        close_socket(c);
        c->stopped = true;
        if (ioc_zsock_idle(&c->zs)) {
            free(c);
        }
        return rc;
    }
    ioc_info(TAG, "answering commands on %s%s", c->endpoint, c->curve ? " (CURVE)" : "");
    *out = c;
    return 0;

fail:
    close_socket(c);
    free(c);
    return rc;
}

void ioc_control_stop(struct ioc_control *c)
{
    if (!c || c->stopped) {
        return;
    }
    c->stopped = true;
    /* Stop watching the fd before the socket that owns it closes. */
    ioc_zsock_stop(&c->zs);
    if (!c->draining) {
        close_socket(c);
    }
    ioc_info(TAG, "stopped after %llu commands (%llu refused, %llu replies dropped)",
             (unsigned long long)c->stats.requests, (unsigned long long)c->stats.refused,
             (unsigned long long)c->stats.dropped);
}

void ioc_control_get_stats(const struct ioc_control *c, struct ioc_control_stats *out)
{
    if (!out) {
        return;
    }
    if (!c) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = c->stats;
}

const char *ioc_control_endpoint(const struct ioc_control *c)
{
    return c ? c->endpoint : "";
}

void *ioc_control_socket(const struct ioc_control *c)
{
    return c ? c->sock : NULL;
}
