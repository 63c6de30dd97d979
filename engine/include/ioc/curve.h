/*
 * curve.h — CURVE keys, who may connect where, and the ZAP handler.
 *
 * With security.server_key configured, every socket the engine binds is a
 * CURVE server, and one ZAP handler (RFC 27) in the engine's ZeroMQ context
 * decides every handshake from the configured public keys:
 *
 *   ZAP domain   sockets                        keys accepted
 *   "ingest"     zmq (PULL), zmq_reliable       security.publishers
 *   "publish"    zmq_pub (PUB)                  operators' keys, security.consoles
 *   "control"    control (ROUTER)               operators' keys
 *
 * The handler answers User-Id = the key's owner (the operator's name, or the
 * key file's base name for publishers and consoles); the control socket
 * takes the operator from that, never from the JSON a client sends.
 *
 * Fail closed. Each CURVE socket sets ZMQ_ZAP_ENFORCE_DOMAIN, so a handshake
 * with no handler to ask is refused instead of accepted (libzmq's legacy
 * default accepts any key when nothing listens on inproc://zeromq.zap.01).
 * The engine also binds the handler before any other socket and closes it
 * after all of them; once the loop stops serving it, a handshake waits
 * unanswered and is never accepted.
 *
 * Key files, as `ioc keygen NAME` writes them (Z85, 40 characters a key):
 *   NAME.key  (mode 0600)   public-key = ...   secret-key = ...
 *   NAME.pub                public-key = ...
 * Lines starting with '#' are comments.
 */
#ifndef IOC_CURVE_H
#define IOC_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#define IOC_CURVE_KEY_CHARS 40 /* Z85 text of a 32-byte key */

/* Where a key may connect (a bit set of these). */
enum ioc_zap_domain {
    IOC_ZAP_INGEST = 1,
    IOC_ZAP_PUBLISH = 2,
    IOC_ZAP_CONTROL = 4,
};

/* "ingest", "publish", "control". */
const char *ioc_zap_domain_name(enum ioc_zap_domain d);

struct ioc_curve_peer {
    char key[IOC_CURVE_KEY_CHARS + 1]; /* Z85 public key */
    char *name;                        /* the User-Id it gets (owned) */
    unsigned domains;                  /* IOC_ZAP_* bits */
    char *file;                        /* the key file it came from (owned) */
};

struct ioc_security_conf {
    bool enabled; /* server_key configured: CURVE everywhere */
    char public_key[IOC_CURVE_KEY_CHARS + 1];
    char secret_key[IOC_CURVE_KEY_CHARS + 1];
    struct ioc_curve_peer *peers;
    size_t n_peers;
};

void ioc_security_conf_close(struct ioc_security_conf *s);

/* Reads a key file. pub gets its public key; when sec is not NULL the file
 * must hold the secret key too (checked against the public one). 0, or a
 * negative IOC_E* code with a one-line reason in err. */
int ioc_curve_read_key(const char *path, char pub[IOC_CURVE_KEY_CHARS + 1],
                       char sec[IOC_CURVE_KEY_CHARS + 1], char *err, size_t errlen);

/* Makes a key pair and writes dir/NAME.key (mode 0600, both keys) and
 * dir/NAME.pub. Refuses to overwrite. 0 or an IOC_E* code with err. */
int ioc_curve_keygen(const char *dir, const char *name, char *err, size_t errlen);

/* Whether an endpoint listens on this machine only: tcp:// on 127.0.0.0/8,
 * [::1] or localhost, or ipc:// and inproc://. */
bool ioc_endpoint_is_loopback(const char *endpoint);

/* Makes sock (not yet bound) a CURVE server for domain when s is enabled:
 * secret key, ZAP domain, ZAP_ENFORCE_DOMAIN. Does nothing when it is not.
 * 0 or IOC_EZMQ with err. */
int ioc_curve_server(void *sock, const struct ioc_security_conf *s, enum ioc_zap_domain domain,
                     char *err, size_t errlen);

/* Makes sock (not yet connected) a CURVE client with the key pair of
 * key_file and the server's public key of server_key_file. 0, or an IOC_E*
 * code with err. */
int ioc_curve_client(void *sock, const char *key_file, const char *server_key_file, char *err,
                     size_t errlen);

/* The peer a handshake is accepted for, or NULL with the reason it is
 * refused. key is the client's Z85 public key. */
const struct ioc_curve_peer *ioc_curve_verdict(const struct ioc_security_conf *s,
                                               const char *domain, const char *mechanism,
                                               const char *key, const char **reason);

/* ---- The ZAP handler ------------------------------------------------------- */

struct ioc_zap;

/* A refused handshake, as the ZAP handler or a socket monitor (zmon.h) saw
 * it. The strings are borrowed for the length of the call. */
struct ioc_refusal {
    const char *domain;   /* "ingest", "publish", "control" */
    const char *peer;     /* the client's address, or NULL when unknown */
    const char *endpoint; /* the refusing socket's endpoint, or NULL when unknown */
    const char *actor;    /* the client's key (Z85), or what stands for it: "(no key)" */
    const char *reason;   /* why, in words */
};

/* Called on the loop thread for each refused handshake. */
typedef void (*ioc_refused_fn)(void *arg, const struct ioc_refusal *r);

/* Binds the handler in zctx (borrowed) and serves it on loop. s is borrowed
 * and must outlive the handler. 0 with *out, or an IOC_E* code (logged). */
int ioc_zap_start(uv_loop_t *loop, void *zctx, const struct ioc_security_conf *s,
                  ioc_refused_fn refused, void *arg, struct ioc_zap **out);
/* Stops serving (closes the loop handles) but keeps the socket bound, so a
 * handshake from now on waits and is never accepted. Accepts NULL. */
void ioc_zap_stop(struct ioc_zap *z);
/* Closes the socket and frees, after ioc_zap_stop and after the loop closed
 * the handles; call it after every CURVE socket of the context is closed.
 * Accepts NULL. */
void ioc_zap_close(struct ioc_zap *z);

/* Handshakes accepted and refused so far. */
void ioc_zap_counts(const struct ioc_zap *z, unsigned long long *accepted,
                    unsigned long long *refused);

#endif
