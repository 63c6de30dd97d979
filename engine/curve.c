/*
 * curve.c — CURVE keys and the ZAP handler (see curve.h for the contract).
 *
 * Owns the reading and writing of key files, the socket options that make a
 * socket a CURVE server or client, the loopback test for endpoints, and the
 * ZAP handler: a ROUTER bound to inproc://zeromq.zap.01 in the engine's
 * context, read on the loop through zsock. libzmq's sessions connect to it
 * and send [empty][version][request-id][domain][address][identity]
 * [mechanism][credentials...]; the ROUTER puts the session's routing id in
 * front, and the answer goes back as [id][empty][version][request-id]
 * [status][text][user-id][metadata].
 *
 * The verdict is a pure function of the configured keys, so it is the same
 * in a test as in iocd. A refused handshake is handed to the engine's
 * callback (counted, audited) and answered 400.
 *
 * Threads: the ZAP handler runs on the loop thread; the rest is stateless.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "ioc/curve.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/zsock.h"

#define TAG "zap"

/* A draft option in libzmq 4.3 (Debian 12 builds it in): without it a CURVE
 * server accepts every key when no ZAP handler answers. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* Handshakes decided per loop turn before other work gets its turn. */
#define ZAP_BUDGET 256
/* Frames of a ZAP request we look at: id, empty, version, request id, domain,
 * address, identity, mechanism, one credential. More are read and dropped. */
#define ZAP_FRAMES 9

const char *ioc_zap_domain_name(enum ioc_zap_domain d)
{
    switch (d) {
    case IOC_ZAP_INGEST:
        return "ingest";
    case IOC_ZAP_PUBLISH:
        return "publish";
    case IOC_ZAP_CONTROL:
        return "control";
    }
    return "";
}

void ioc_security_conf_close(struct ioc_security_conf *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n_peers; i++) {
        free(s->peers[i].name);
        free(s->peers[i].file);
    }
    free(s->peers);
    /* The secret key does not linger in freed memory. */
    memset(s, 0, sizeof *s);
}

/* ---- Key files ------------------------------------------------------------- */

static bool valid_z85_key(const char *k)
{
    uint8_t bin[32];
    return strlen(k) == IOC_CURVE_KEY_CHARS && zmq_z85_decode(bin, k) != NULL;
}

int ioc_curve_read_key(const char *path, char pub[IOC_CURVE_KEY_CHARS + 1],
                       char sec[IOC_CURVE_KEY_CHARS + 1], char *err, size_t errlen)
{
    char line[256], got_pub[IOC_CURVE_KEY_CHARS + 1] = "", got_sec[IOC_CURVE_KEY_CHARS + 1] = "";
    int lineno = 0, rc = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        ioc_set_err(err, errlen, "cannot read key file %s: %s", path, strerror(errno));
        return errno == ENOENT ? IOC_ENOENT : IOC_EIO;
    }
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line, *eq, *v;
        s[strcspn(s, "\r\n")] = '\0';
        s += strspn(s, " \t");
        if (*s == '#' || *s == '\0') {
            continue;
        }
        eq = strchr(s, '=');
        if (!eq) {
            ioc_set_err(err, errlen, "%s:%d: expected 'public-key = ...' or 'secret-key = ...'", path,
                    lineno);
            rc = IOC_ECONFIG;
            break;
        }
        v = eq + 1;
        v += strspn(v, " \t");
        v[strcspn(v, " \t")] = '\0';
        while (eq > s && (eq[-1] == ' ' || eq[-1] == '\t')) {
            eq--;
        }
        *eq = '\0';
        char *slot = strcmp(s, "public-key") == 0   ? got_pub
                     : strcmp(s, "secret-key") == 0 ? got_sec
                                                    : NULL;
        if (!slot) {
            ioc_set_err(err, errlen, "%s:%d: unknown key '%s' (allowed: public-key, secret-key)", path,
                    lineno, s);
            rc = IOC_ECONFIG;
        } else if (!valid_z85_key(v)) {
            ioc_set_err(err, errlen, "%s:%d: %s is not a Z85 key of %d characters", path, lineno, s,
                    IOC_CURVE_KEY_CHARS);
            rc = IOC_ECONFIG;
        } else {
            memcpy(slot, v, IOC_CURVE_KEY_CHARS + 1);
        }
    }
    fclose(f);
    if (rc == 0 && sec && !got_sec[0]) {
        ioc_set_err(err, errlen, "%s: no secret-key (a secret key file is NAME.key, not NAME.pub)",
                path);
        rc = IOC_ECONFIG;
    }
    if (rc == 0 && got_sec[0]) {
        char derived[IOC_CURVE_KEY_CHARS + 1];
        if (zmq_curve_public(derived, got_sec) != 0) {
            ioc_set_err(err, errlen, "%s: cannot derive the public key: %s", path, zmq_strerror(errno));
            rc = IOC_EZMQ;
        } else if (got_pub[0] && strcmp(derived, got_pub) != 0) {
            ioc_set_err(err, errlen, "%s: public-key does not belong to secret-key", path);
            rc = IOC_ECONFIG;
        } else {
            memcpy(got_pub, derived, sizeof got_pub);
        }
    }
    if (rc == 0 && !got_pub[0]) {
        ioc_set_err(err, errlen, "%s: no public-key", path);
        rc = IOC_ECONFIG;
    }
    if (rc == 0) {
        memcpy(pub, got_pub, sizeof got_pub);
        if (sec) {
            memcpy(sec, got_sec, sizeof got_sec);
        }
    }
    memset(got_sec, 0, sizeof got_sec);
    memset(line, 0, sizeof line);
    return rc;
}

/* Writes text to path, created new with mode. */
static int write_new(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        ioc_set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return errno == EEXIST ? IOC_EINVAL : IOC_EIO;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            ioc_set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return IOC_EIO;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        ioc_set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return IOC_EIO;
    }
    return 0;
}

int ioc_curve_keygen(const char *dir, const char *name, char *err, size_t errlen)
{
    char pub[IOC_CURVE_KEY_CHARS + 1], sec[IOC_CURVE_KEY_CHARS + 1];
    char key_path[4096], pub_path[4096], text[512];
    int rc;

    if (!name[0] || strchr(name, '/')) {
        ioc_set_err(err, errlen, "a key name is a plain file name, not '%s'", name);
        return IOC_EINVAL;
    }
    if ((size_t)snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name) >= sizeof key_path ||
        (size_t)snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name) >= sizeof pub_path) {
        ioc_set_err(err, errlen, "path too long");
        return IOC_EINVAL;
    }
    if (zmq_curve_keypair(pub, sec) != 0) {
        ioc_set_err(err, errlen, "cannot make a key pair: %s (is libzmq built with CURVE?)",
                zmq_strerror(errno));
        return IOC_EZMQ;
    }
    snprintf(text, sizeof text,
             "# CURVE key pair '%s' made by ioc keygen. Keep this file secret;\n"
             "# give %s.pub to whoever must recognise it.\n"
             "public-key = %s\n"
             "secret-key = %s\n",
             name, name, pub, sec);
    rc = write_new(key_path, text, 0600, err, errlen);
    memset(text, 0, sizeof text);
    memset(sec, 0, sizeof sec);
    if (rc != 0) {
        return rc;
    }
    snprintf(text, sizeof text, "# CURVE public key '%s' made by ioc keygen.\npublic-key = %s\n",
             name, pub);
    if ((rc = write_new(pub_path, text, 0644, err, errlen)) != 0) {
        unlink(key_path);
    }
    return rc;
}

/* ---- Endpoints and sockets ------------------------------------------------- */

bool ioc_endpoint_is_loopback(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0) {
        return true;
    }
    if (strncmp(ep, "tcp://", 6) != 0) {
        return false;
    }
    const char *host = ep + 6;
    size_t n;
    if (host[0] == '[') {
        n = strcspn(host, "]");
        return host[n] == ']' && n == 4 && strncmp(host, "[::1", 4) == 0 && host[5] == ':';
    }
    n = strcspn(host, ":");
    if (host[n] != ':') {
        return false;
    }
    if (n == 9 && strncmp(host, "localhost", 9) == 0) {
        return true;
    }
    /* 127.d.d.d, each part a number up to 255. */
    unsigned a, b, c, d;
    char tail;
    char buf[32];
    if (n >= sizeof buf) {
        return false;
    }
    memcpy(buf, host, n);
    buf[n] = '\0';
    return sscanf(buf, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256 && strspn(buf, "0123456789.") == n;
}

int ioc_curve_server(void *sock, const struct ioc_security_conf *s, enum ioc_zap_domain domain,
                     char *err, size_t errlen)
{
    int one = 1;
    const char *name = ioc_zap_domain_name(domain);
    if (!s || !s->enabled) {
        return 0;
    }
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, name, strlen(name)) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->secret_key, IOC_CURVE_KEY_CHARS) != 0) {
        ioc_set_err(err, errlen, "cannot make a CURVE server socket: %s", zmq_strerror(errno));
        return IOC_EZMQ;
    }
    /* Without enforcement libzmq accepts any key when the handler is gone;
     * a library without the option is refused rather than run open. */
    if (zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0) {
        ioc_set_err(err, errlen,
                "this libzmq cannot enforce ZAP (ZMQ_ZAP_ENFORCE_DOMAIN: %s); refusing to run "
                "CURVE that could fail open",
                zmq_strerror(errno));
        return IOC_EZMQ;
    }
    return 0;
}

int ioc_curve_client(void *sock, const char *key_file, const char *server_key_file, char *err,
                     size_t errlen)
{
    char pub[IOC_CURVE_KEY_CHARS + 1], sec[IOC_CURVE_KEY_CHARS + 1];
    char server[IOC_CURVE_KEY_CHARS + 1];
    int rc = ioc_curve_read_key(key_file, pub, sec, err, errlen);
    if (rc == 0) {
        rc = ioc_curve_read_key(server_key_file, server, NULL, err, errlen);
    }
    if (rc == 0 && (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, IOC_CURVE_KEY_CHARS) != 0 ||
                    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, IOC_CURVE_KEY_CHARS) != 0 ||
                    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, IOC_CURVE_KEY_CHARS) != 0)) {
        ioc_set_err(err, errlen, "cannot make a CURVE client socket: %s", zmq_strerror(errno));
        rc = IOC_EZMQ;
    }
    memset(sec, 0, sizeof sec);
    return rc;
}

const struct ioc_curve_peer *ioc_curve_verdict(const struct ioc_security_conf *s,
                                               const char *domain, const char *mechanism,
                                               const char *key, const char **reason)
{
    unsigned want = 0;
    static const enum ioc_zap_domain all[] = {IOC_ZAP_INGEST, IOC_ZAP_PUBLISH, IOC_ZAP_CONTROL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(domain, ioc_zap_domain_name(all[i])) == 0) {
            want = (unsigned)all[i];
        }
    }
    if (!s || !s->enabled) {
        *reason = "security is not configured";
        return NULL;
    }
    if (!want) {
        *reason = "unknown ZAP domain";
        return NULL;
    }
    if (strcmp(mechanism, "CURVE") != 0) {
        *reason = "only CURVE is accepted";
        return NULL;
    }
    const struct ioc_curve_peer *listed = NULL;
    for (size_t i = 0; i < s->n_peers; i++) {
        if (strcmp(s->peers[i].key, key) == 0) {
            if (s->peers[i].domains & want) {
                *reason = NULL;
                return &s->peers[i];
            }
            listed = &s->peers[i];
        }
    }
    *reason = listed ? "key not allowed on this socket" : "key not listed";
    return NULL;
}

/* ---- The ZAP handler ------------------------------------------------------- */

struct ioc_zap {
    void *sock;
    struct ioc_zsock zs;
    const struct ioc_security_conf *sec;
    ioc_refused_fn refused;
    void *arg;
    unsigned long long n_accepted, n_refused;
};

/* A frame's bytes as a NUL-terminated string in buf (cut to fit). */
static const char *frame_str(zmq_msg_t *m, char *buf, size_t n)
{
    size_t len = zmq_msg_size(m);
    if (len >= n) {
        len = n - 1;
    }
    memcpy(buf, zmq_msg_data(m), len);
    buf[len] = '\0';
    return buf;
}

static int send_frame(void *sock, const void *data, size_t len, int more)
{
    int rc;
    while ((rc = zmq_send(sock, data, len, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT)) < 0 &&
           errno == EINTR) {
    }
    return rc;
}

/* Decides one request of n frames and answers it. */
static void answer(struct ioc_zap *z, zmq_msg_t *f, int n)
{
    char version[8], domain[64], address[64], mechanism[16];
    char key[IOC_CURVE_KEY_CHARS + 1] = "";
    const char *reason = NULL;
    const struct ioc_curve_peer *peer = NULL;

    /* [id][empty][version][request-id][domain][address][identity][mechanism] */
    if (n < 8 || zmq_msg_size(&f[1]) != 0 ||
        strcmp(frame_str(&f[2], version, sizeof version), "1.0") != 0) {
        ioc_warn(TAG, "malformed ZAP request dropped (%d frames)", n);
        return;
    }
    frame_str(&f[4], domain, sizeof domain);
    frame_str(&f[5], address, sizeof address);
    frame_str(&f[7], mechanism, sizeof mechanism);
    if (strcmp(mechanism, "CURVE") == 0 && (n < 9 || zmq_msg_size(&f[8]) != 32)) {
        reason = "malformed CURVE credentials";
    } else if (strcmp(mechanism, "CURVE") == 0) {
        zmq_z85_encode(key, zmq_msg_data(&f[8]), 32);
    }
    if (!reason) {
        peer = ioc_curve_verdict(z->sec, domain, mechanism, key, &reason);
    }
    if (peer) {
        z->n_accepted++;
        ioc_debug(TAG, "%s from %s: accepted %s", domain, address, peer->name);
    } else {
        z->n_refused++;
        /* Logged at warn by the callback, at most once a minute alike. */
        ioc_debug(TAG, "%s from %s refused: %s (key %s)", domain, address, reason,
                  key[0] ? key : "none");
        if (z->refused) {
            struct ioc_refusal r = {.domain = domain,
                                    .peer = address,
                                    .actor = key[0] ? key : mechanism,
                                    .reason = reason};
            z->refused(z->arg, &r);
        }
    }
    const char *status = peer ? "200" : "400", *text = peer ? "OK" : reason;
    const char *user = peer ? peer->name : "";
    if (send_frame(z->sock, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), 1) < 0 ||
        send_frame(z->sock, "", 0, 1) < 0 || send_frame(z->sock, "1.0", 3, 1) < 0 ||
        send_frame(z->sock, zmq_msg_data(&f[3]), zmq_msg_size(&f[3]), 1) < 0 ||
        send_frame(z->sock, status, 3, 1) < 0 || send_frame(z->sock, text, strlen(text), 1) < 0 ||
        send_frame(z->sock, user, strlen(user), 1) < 0 || send_frame(z->sock, "", 0, 0) < 0) {
        /* The session that asked went away: its handshake is over anyway. */
        ioc_warn(TAG, "cannot answer a ZAP request: %s", zmq_strerror(errno));
    }
}

static bool zap_drain(void *arg)
{
    struct ioc_zap *z = arg;
    zmq_msg_t f[ZAP_FRAMES], extra;
    bool more = false;
    for (int i = 0; i < ZAP_FRAMES; i++) {
        zmq_msg_init(&f[i]);
    }
    zmq_msg_init(&extra);
    for (int done = 0; !z->zs.stopped; done++) {
        if (done == ZAP_BUDGET) {
            more = true;
            break;
        }
        int rc = ioc_zsock_recv(z->sock, &f[0]);
        if (rc < 0) {
            ioc_error(TAG, "receive failed: %s", zmq_strerror(errno));
        }
        if (rc <= 0) {
            break;
        }
        int n = 1;
        /* The parts of a multipart message arrive together. */
        for (bool part = zmq_msg_more(&f[0]); part;) {
            zmq_msg_t *m = n < ZAP_FRAMES ? &f[n] : &extra;
            if (zmq_msg_recv(m, z->sock, ZMQ_DONTWAIT) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                break;
            }
            part = zmq_msg_more(m);
            n++;
        }
        answer(z, f, n < ZAP_FRAMES ? n : ZAP_FRAMES);
    }
    for (int i = 0; i < ZAP_FRAMES; i++) {
        zmq_msg_close(&f[i]);
    }
    zmq_msg_close(&extra);
    return more;
}

int ioc_zap_start(uv_loop_t *loop, void *zctx, const struct ioc_security_conf *s,
                  ioc_refused_fn refused, void *arg, struct ioc_zap **out)
{
    int linger = 0, rc;
    struct ioc_zap *z = calloc(1, sizeof *z);
    *out = NULL;
    if (!z) {
        ioc_error(TAG, "out of memory");
        return IOC_ENOMEM;
    }
    z->sec = s;
    z->refused = refused;
    z->arg = arg;
    if (!(z->sock = zmq_socket(zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(z->sock, ZAP_ENDPOINT) != 0) {
        ioc_error(TAG, "cannot bind the ZAP handler on %s: %s", ZAP_ENDPOINT, zmq_strerror(errno));
        if (z->sock) {
            zmq_close(z->sock);
        }
        free(z);
        return IOC_EZMQ;
    }
    if ((rc = ioc_zsock_start(&z->zs, loop, z->sock, zap_drain, NULL, z)) != 0) {
        /* The handles close on the loop's next turn: keep z until destroy. */
        *out = z;
        return rc;
    }
    ioc_info(TAG, "CURVE on: %zu keys listed", s->n_peers);
    *out = z;
    return 0;
}

void ioc_zap_stop(struct ioc_zap *z)
{
    if (z) {
        ioc_zsock_stop(&z->zs);
    }
}

void ioc_zap_close(struct ioc_zap *z)
{
    if (!z) {
        return;
    }
    if (!ioc_zsock_idle(&z->zs)) {
        /* The loop still references the handles: leak rather than corrupt it. */
        ioc_error(TAG, "closed before its handles; leaking it");
        return;
    }
    zmq_close(z->sock);
    free(z);
}

void ioc_zap_counts(const struct ioc_zap *z, unsigned long long *accepted,
                    unsigned long long *refused)
{
    *accepted = z ? z->n_accepted : 0;
    *refused = z ? z->n_refused : 0;
}
