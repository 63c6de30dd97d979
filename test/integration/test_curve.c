/*
 * test_curve.c — CURVE security end to end: a real iocd with keys made by
 * the real `ioc keygen`, on loopback, and clients with and without keys.
 *
 * Each case starts its own iocd with security.server_key, one listed
 * publisher (gw1), two operators with keys (op1: operator, sup1:
 * supervisor), and an intruder key that is in no list. Waits are on
 * conditions (a row in the database, a message on a socket), bounded by
 * deadlines; "never arrives" is checked after a later, listed message did
 * arrive, so the absence is not a matter of timing.
 */
#include <sys/stat.h>

#include "ioc/curve.h"

#include "harness.h"
#include "support.h"

#define WAIT_MS 15000

struct keyed {
    struct iocd d;
    char keys[320];
    void *zctx;
};

static char *kpath(struct keyed *k, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", k->keys, name);
    return buf;
}

/* Makes the keys with `ioc keygen` and a config that lists them. */
static void keyed_prepare(struct keyed *k)
{
    memset(k, 0, sizeof *k);
    iocd_prepare(&k->d, NULL, NULL);
    snprintf(k->keys, sizeof k->keys, "%s/keys", k->d.dir);
    REQUIRE(mkdir(k->keys, 0700) == 0);
    char *argv[] = {(char *)IOC_BIN, "keygen", "--out", k->keys,    "server",
                    "gw1",           "op1",    "sup1",  "intruder", NULL};
    struct run_result r;
    REQUIRE(run_argv(&r, 30, NULL, argv) == 0);
    if (r.status != 0) {
        run_result_dump("ioc keygen", &r);
    }
    REQUIRE(r.status == 0);
    run_result_free(&r);

    char *cfg = h_read(k->d.cfg);
    size_t cap = strlen(cfg) + 1024;
    char *out = malloc(cap);
    REQUIRE(out);
    /* Relative to the config file's directory, as a user would write them. */
    snprintf(out, cap,
             "%s"
             "security:\n"
             "  server_key: keys/server.key\n"
             "  publishers: [keys/gw1.pub]\n"
             "operators:\n"
             "  - {name: op1, role: operator, key: keys/op1.pub}\n"
             "  - {name: sup1, role: supervisor, key: keys/sup1.pub}\n",
             cfg);
    h_write(k->d.cfg, out);
    free(out);
    free(cfg);
    k->zctx = zmq_ctx_new();
    REQUIRE(k->zctx);
}

static void keyed_close(struct keyed *k)
{
    if (k->zctx) {
        zmq_ctx_term(k->zctx);
    }
    iocd_close(&k->d);
}

/* A socket of type, with the key pair NAME.key when name is not NULL, and
 * connected to port. */
static void *keyed_socket(struct keyed *k, int type, const char *name, int port)
{
    char ep[64], key[400], server[400], err[512];
    void *s = zmq_socket(k->zctx, type);
    int linger = 0;
    REQUIRE(s);
    REQUIRE(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == 0);
    if (name) {
        char file[64];
        snprintf(file, sizeof file, "%s.key", name);
        int rc = ioc_curve_client(s, kpath(k, file, key, sizeof key),
                                  kpath(k, "server.pub", server, sizeof server), err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "%s\n", err);
        }
        REQUIRE(rc == 0);
    }
    if (type == ZMQ_SUB) {
        REQUIRE(zmq_setsockopt(s, ZMQ_SUBSCRIBE, "incident.", 9) == 0);
    }
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    REQUIRE(zmq_connect(s, ep) == 0);
    return s;
}

static void close_socket(void *s)
{
    if (s) {
        zmq_close(s);
    }
}

static void send_level(void *push, const char *id, const char *device)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"id\":\"%s\",\"source\":\"sensor\",\"type\":\"water_level\","
                     "\"device\":\"%s\",\"value\":2.2,\"ts\":\"2026-02-11T00:00:00+07:00\"}",
                     id, device);
    REQUIRE(zmq_send(push, buf, (size_t)n, ZMQ_DONTWAIT) == n || errno == EAGAIN);
}

/* One control request with the key of name (NULL: a plain client); the
 * parsed reply, or NULL when none came within timeout_ms. */
static cJSON *control(struct keyed *k, const char *name, const char *json, int timeout_ms)
{
    void *req = keyed_socket(k, ZMQ_REQ, name, k->d.control_port);
    cJSON *reply = NULL;
    REQUIRE(zmq_send(req, json, strlen(json), 0) == (int)strlen(json));
    zmq_pollitem_t it = {req, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) == 1) {
        char buf[8192];
        int n = zmq_recv(req, buf, sizeof buf - 1, 0);
        REQUIRE(n >= 0);
        buf[n < (int)sizeof buf - 1 ? n : (int)sizeof buf - 1] = '\0';
        reply = cJSON_Parse(buf);
    }
    close_socket(req);
    return reply;
}

static bool reply_ok(const cJSON *r)
{
    return r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"));
}

/* Sends gw1's event for device until its incident is stored. */
static void publish_until_stored(struct keyed *k, void *push, const char *device)
{
    char sql[256], id[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM incidents WHERE key LIKE '%%\"%s\"%%'", device);
    snprintf(id, sizeof id, "ev-%s", device);
    send_level(push, id, device);
    CHECK(h_wait_sql(k->d.db, sql, 1, WAIT_MS) == 1);
}

TEST(listed_publisher_accepted_unlisted_refused_counted_and_audited)
{
    struct keyed k;
    keyed_prepare(&k);
    REQUIRE(iocd_start(&k.d) == 0);
    void *intruder = keyed_socket(&k, ZMQ_PUSH, "intruder", k.d.ingest_port);
    void *operator_key = keyed_socket(&k, ZMQ_PUSH, "op1", k.d.ingest_port);
    send_level(intruder, "ev-X1", "X1");
    send_level(operator_key, "ev-X2", "X2"); /* listed, but not as a publisher */
    void *gw1 = keyed_socket(&k, ZMQ_PUSH, "gw1", k.d.ingest_port);
    publish_until_stored(&k, gw1, "G1");

    /* Both refusals are audited with the key and the reason. */
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM audit WHERE op = 'connect' AND ok = 0 AND "
                     "error = 'key not listed' AND target LIKE 'ingest socket%'",
                     1, WAIT_MS) >= 1);
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM audit WHERE op = 'connect' AND ok = 0 AND "
                     "error = 'key not allowed on this socket'",
                     1, WAIT_MS) >= 1);
    char pub[IOC_CURVE_KEY_CHARS + 1], path[400], err[256], sql[256];
    REQUIRE(ioc_curve_read_key(kpath(&k, "intruder.pub", path, sizeof path), pub, NULL, err,
                               sizeof err) == 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE op = 'connect' AND actor = '%s'",
             pub);
    CHECK(h_sql_int(k.d.db, sql) >= 1);

    /* The refused events never arrived, and the refusals are counted. */
    CHECK_EQ_INT(h_sql_int(k.d.db, "SELECT count(*) FROM incidents WHERE key LIKE '%X%'"), 0);
    cJSON *st = control(&k, "op1", "{\"op\":\"status\"}", WAIT_MS);
    REQUIRE(reply_ok(st));
    const cJSON *refused = cJSON_GetObjectItemCaseSensitive(st, "refused_connections");
    CHECK(cJSON_IsNumber(refused) && refused->valuedouble >= 2);
    CHECK_EQ_INT((long long)cJSON_GetObjectItemCaseSensitive(st, "accepted")->valuedouble, 1);
    cJSON_Delete(st);

    close_socket(intruder);
    close_socket(operator_key);
    close_socket(gw1);
    CHECK_EQ_INT(iocd_stop(&k.d, SIGTERM), 0);
    keyed_close(&k);
}

TEST(plain_clients_are_refused)
{
    struct keyed k;
    keyed_prepare(&k);
    REQUIRE(iocd_start(&k.d) == 0);
    void *plain = keyed_socket(&k, ZMQ_PUSH, NULL, k.d.ingest_port);
    send_level(plain, "ev-P1", "P1");
    void *gw1 = keyed_socket(&k, ZMQ_PUSH, "gw1", k.d.ingest_port);
    publish_until_stored(&k, gw1, "G1");
    CHECK_EQ_INT(h_sql_int(k.d.db, "SELECT count(*) FROM incidents WHERE key LIKE '%P1%'"), 0);
    /* A plain control client gets no answer at all; a keyed one does. */
    cJSON *r = control(&k, NULL, "{\"op\":\"status\"}", 1500);
    CHECK(r == NULL);
    cJSON_Delete(r);
    r = control(&k, "sup1", "{\"op\":\"status\"}", WAIT_MS);
    CHECK(reply_ok(r));
    cJSON_Delete(r);
    close_socket(plain);
    close_socket(gw1);
    CHECK_EQ_INT(iocd_stop(&k.d, SIGTERM), 0);
    keyed_close(&k);
}

/* refused_connections as the status command says it (a listed key asks). */
static long long refused_connections(struct keyed *k)
{
    cJSON *st = control(k, "op1", "{\"op\":\"status\"}", WAIT_MS);
    REQUIRE(reply_ok(st));
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "refused_connections");
    REQUIRE(cJSON_IsNumber(n));
    long long v = (long long)n->valuedouble;
    cJSON_Delete(st);
    return v;
}

/* Connects one client after another (type, with the key pair of name or
 * none) to port, each until the engine counts its refusal, until the count
 * rose by want; returns how far it rose. A refused client may or may not
 * try again by itself: a fresh one each time makes the repeats certain. */
static long long refuse_repeatedly(struct keyed *k, int type, const char *name, int port,
                                   long long want)
{
    long long start = refused_connections(k), n = start;
    int64_t deadline = h_now_ms() + WAIT_MS;
    while (n < start + want && h_now_ms() < deadline) {
        void *s = keyed_socket(k, type, name, port);
        long long was = n;
        for (int64_t until = h_now_ms() + 3000; n == was && h_now_ms() < until;) {
            usleep(50000);
            n = refused_connections(k);
        }
        close_socket(s);
    }
    return n - start;
}

/* Audit rows of refused connections whose target starts with target_like,
 * and the error with error_like (SQL LIKE patterns). */
static long long refused_rows(struct keyed *k, const char *target_like, const char *error_like)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE op = 'connect' AND ok = 0 AND "
             "target LIKE '%s' AND error LIKE '%s'",
             target_like, error_like);
    return h_sql_int(k->d.db, sql);
}

#define MISMATCH "client without CURVE (mechanism mismatch)%"
#define INGEST_EP "ingest socket tcp://127.0.0.1:%"
#define CONTROL_EP "control socket tcp://127.0.0.1:%"

/* libzmq refuses a client without CURVE before the ZAP handler is asked; the
 * socket monitors see it. Every refusal is counted; refusals alike (same
 * key or none, same socket, same reason) make one audit row a minute, and
 * the rows held back are written at shutdown with how many they stand for.
 * The same holds for keys the ZAP handler refuses. */
TEST(refused_clients_are_counted_each_time_and_audited_once_a_minute)
{
    struct keyed k;
    keyed_prepare(&k);
    REQUIRE(iocd_start(&k.d) == 0);
    CHECK(refuse_repeatedly(&k, ZMQ_PUSH, NULL, k.d.ingest_port, 10) >= 10);
    CHECK(refuse_repeatedly(&k, ZMQ_REQ, NULL, k.d.control_port, 10) >= 10);
    CHECK(refuse_repeatedly(&k, ZMQ_PUSH, "intruder", k.d.ingest_port, 5) >= 5);

    /* A plain client's refusal names its reason, with no key and the socket.
     * (When the client notices the mismatch first and hangs up, the engine
     * sees only a connection lost during the handshake: a reason of its
     * own, so a few rows at most.) */
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM audit WHERE op = 'connect' AND ok = 0 AND "
                     "actor = '(no key)' AND error = 'client without CURVE (mechanism mismatch)' "
                     "AND target LIKE 'ingest socket tcp://127.0.0.1:%'",
                     1, WAIT_MS) == 1);
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM audit WHERE op = 'connect' AND ok = 0 AND "
                     "actor = '(no key)' AND error = 'client without CURVE (mechanism mismatch)' "
                     "AND target LIKE 'control socket tcp://127.0.0.1:%'",
                     1, WAIT_MS) == 1);
    CHECK(refused_rows(&k, INGEST_EP, "%") <= 3);
    CHECK(refused_rows(&k, CONTROL_EP, "%") <= 3);
    char pub[IOC_CURVE_KEY_CHARS + 1], path[400], err[256], sql[256];
    REQUIRE(ioc_curve_read_key(kpath(&k, "intruder.pub", path, sizeof path), pub, NULL, err,
                               sizeof err) == 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE op = 'connect' AND actor = '%s'",
             pub);
    CHECK_EQ_INT(h_sql_int(k.d.db, sql), 1);

    CHECK_EQ_INT(iocd_stop(&k.d, SIGTERM), 0);
    /* What was held back is in the audit now, counted. */
    CHECK(refused_rows(&k, INGEST_EP, MISMATCH " times since the previous row)") +
              refused_rows(&k, CONTROL_EP, MISMATCH " times since the previous row)") >=
          1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE actor = '%s' AND "
             "error LIKE 'key not listed (%% times since the previous row)'",
             pub);
    CHECK_EQ_INT(h_sql_int(k.d.db, sql), 1);
    CHECK(refused_rows(&k, INGEST_EP, MISMATCH) <= 2);
    CHECK(refused_rows(&k, CONTROL_EP, MISMATCH) <= 2);
    keyed_close(&k);
}

/* A CURVE client with the wrong server key fails before the ZAP handler
 * too, and libzmq makes it try again every 100 ms or so, for as long as it
 * runs: one row, however many tries. */
TEST(a_client_with_the_wrong_server_key_is_counted_and_audited_once)
{
    struct keyed k;
    char pub[41], sec[41], other_pub[41], other_sec[41], ep[64];
    keyed_prepare(&k);
    REQUIRE(iocd_start(&k.d) == 0);
    long long before = refused_connections(&k);
    REQUIRE(zmq_curve_keypair(pub, sec) == 0);
    REQUIRE(zmq_curve_keypair(other_pub, other_sec) == 0);
    void *s = zmq_socket(k.zctx, ZMQ_PUSH);
    int linger = 0;
    REQUIRE(s);
    REQUIRE(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == 0);
    REQUIRE(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, other_pub, 40) == 0);
    REQUIRE(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40) == 0);
    REQUIRE(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40) == 0);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", k.d.ingest_port);
    REQUIRE(zmq_connect(s, ep) == 0);
    long long n = before;
    for (int64_t deadline = h_now_ms() + WAIT_MS; n < before + 10 && h_now_ms() < deadline;) {
        usleep(100000);
        n = refused_connections(&k);
    }
    CHECK(n >= before + 10);
    const char *rows = "SELECT count(*) FROM audit WHERE op = 'connect' AND ok = 0 AND "
                       "actor = '(key unknown)' AND error LIKE 'CURVE handshake does not decrypt%' "
                       "AND target LIKE 'ingest socket tcp://127.0.0.1:%'";
    CHECK(h_wait_sql(k.d.db, rows, 1, WAIT_MS) == 1);
    close_socket(s);
    CHECK_EQ_INT(iocd_stop(&k.d, SIGTERM), 0);
    /* The first row, and the one written at shutdown for the rest. */
    CHECK_EQ_INT(h_sql_int(k.d.db, rows), 2);
    keyed_close(&k);
}

TEST(operator_identity_and_role_come_from_the_key)
{
    struct keyed k;
    keyed_prepare(&k);
    REQUIRE(iocd_start(&k.d) == 0);
    void *gw1 = keyed_socket(&k, ZMQ_PUSH, "gw1", k.d.ingest_port);
    publish_until_stored(&k, gw1, "G1");
    long long id = h_sql_int(k.d.db, "SELECT id FROM incidents LIMIT 1");
    REQUIRE(id > 0);
    char json[256];

    /* op1's key, claiming to be the supervisor: resolving needs a supervisor. */
    snprintf(json, sizeof json,
             "{\"op\":\"resolve\",\"incident\":%lld,\"operator\":\"sup1\",\"reason\":\"x\"}", id);
    cJSON *r = control(&k, "op1", json, WAIT_MS);
    REQUIRE(r);
    CHECK(!reply_ok(r));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
    CHECK(cJSON_IsString(e) && strstr(e->valuestring, "op1") && strstr(e->valuestring, "resolve"));
    cJSON_Delete(r);

    /* op1's key acks as "sup1": the log says op1. */
    snprintf(json, sizeof json, "{\"op\":\"ack\",\"incident\":%lld,\"operator\":\"sup1\"}", id);
    r = control(&k, "op1", json, WAIT_MS);
    CHECK(reply_ok(r));
    cJSON_Delete(r);
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM incident_log WHERE action = 'acknowledged' AND "
                     "actor = 'op1'",
                     1, WAIT_MS) == 1);
    CHECK_EQ_INT(h_sql_int(k.d.db, "SELECT count(*) FROM incident_log WHERE actor = 'sup1'"), 0);
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM audit WHERE op = 'resolve' AND actor = 'op1' AND ok = 0",
                     1, WAIT_MS) == 1);

    /* The supervisor's key may resolve, without saying who it is. */
    snprintf(json, sizeof json, "{\"op\":\"resolve\",\"incident\":%lld,\"reason\":\"receded\"}",
             id);
    r = control(&k, "sup1", json, WAIT_MS);
    CHECK(reply_ok(r));
    cJSON_Delete(r);
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM incident_log WHERE action = 'resolved' AND "
                     "actor = 'sup1'",
                     1, WAIT_MS) == 1);
    close_socket(gw1);
    CHECK_EQ_INT(iocd_stop(&k.d, SIGTERM), 0);
    keyed_close(&k);
}

TEST(console_with_a_listed_key_receives_and_one_without_does_not)
{
    struct keyed k;
    keyed_prepare(&k);
    REQUIRE(iocd_start(&k.d) == 0);
    void *listed = keyed_socket(&k, ZMQ_SUB, "op1", k.d.pub_port);
    void *unlisted = keyed_socket(&k, ZMQ_SUB, "intruder", k.d.pub_port);
    void *plain = keyed_socket(&k, ZMQ_SUB, NULL, k.d.pub_port);
    void *gw1 = keyed_socket(&k, ZMQ_PUSH, "gw1", k.d.ingest_port);
    /* New devices until the listed console sees a change (the SUB joins
     * after its handshake). */
    bool got = false;
    int64_t deadline = h_now_ms() + WAIT_MS;
    for (int i = 0; !got && h_now_ms() < deadline; i++) {
        char dev[32];
        snprintf(dev, sizeof dev, "C%d", i);
        send_level(gw1, dev, dev);
        zmq_pollitem_t it = {listed, 0, ZMQ_POLLIN, 0};
        got = zmq_poll(&it, 1, 200) == 1;
    }
    CHECK(got);
    /* One more change, seen by the listed console and by no other. */
    send_level(gw1, "last", "LAST");
    char topic[128];
    int64_t until = h_now_ms() + WAIT_MS;
    bool last = false;
    while (!last && h_now_ms() < until) {
        zmq_pollitem_t it = {listed, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) != 1) {
            continue;
        }
        zmq_msg_t m;
        zmq_msg_init(&m);
        REQUIRE(zmq_recv(listed, topic, sizeof topic, 0) >= 0);
        REQUIRE(zmq_msg_recv(&m, listed, 0) >= 0);
        last = memmem(zmq_msg_data(&m), zmq_msg_size(&m), "LAST", 4) != NULL;
        zmq_msg_close(&m);
    }
    CHECK(last);
    zmq_pollitem_t others[] = {{unlisted, 0, ZMQ_POLLIN, 0}, {plain, 0, ZMQ_POLLIN, 0}};
    CHECK_EQ_INT(zmq_poll(others, 2, 300), 0);
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM audit WHERE op = 'connect' AND "
                     "target LIKE 'publish socket%'",
                     1, WAIT_MS) >= 1);
    close_socket(listed);
    close_socket(unlisted);
    close_socket(plain);
    close_socket(gw1);
    CHECK_EQ_INT(iocd_stop(&k.d, SIGTERM), 0);
    keyed_close(&k);
}

TEST(the_cli_uses_keys_for_send_and_operator_commands)
{
    struct keyed k;
    char ep[64], ctl[64], key[400], srv[400];
    keyed_prepare(&k);
    REQUIRE(iocd_start(&k.d) == 0);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", k.d.ingest_port);
    snprintf(ctl, sizeof ctl, "tcp://127.0.0.1:%d", k.d.control_port);
    kpath(&k, "server.pub", srv, sizeof srv);
    char *send_argv[] = {
        (char *)IOC_BIN, "send", "-e", ep, "--keypair", kpath(&k, "gw1.key", key, sizeof key),
        "--server-key",  srv,    NULL};
    struct run_result r;
    REQUIRE(run_argv(&r, 30,
                     "{\"id\":\"c1\",\"source\":\"sensor\",\"type\":\"water_level\","
                     "\"device\":\"CLI1\",\"value\":2.2,"
                     "\"ts\":\"2026-02-11T00:00:00+07:00\"}\n",
                     send_argv) == 0);
    CHECK_EQ_INT(r.status, 0);
    run_result_free(&r);
    CHECK(h_wait_sql(k.d.db, "SELECT count(*) FROM incidents WHERE key LIKE '%CLI1%'", 1,
                     WAIT_MS) == 1);
    long long id = h_sql_int(k.d.db, "SELECT id FROM incidents LIMIT 1");
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    char *ack_argv[] = {(char *)IOC_BIN,
                        "ack",
                        ids,
                        "-e",
                        ctl,
                        "--operator",
                        "mayor",
                        "--keypair",
                        kpath(&k, "op1.key", key, sizeof key),
                        "--server-key",
                        srv,
                        NULL};
    REQUIRE(run_argv(&r, 30, NULL, ack_argv) == 0);
    CHECK_EQ_INT(r.status, 0);
    run_result_free(&r);
    CHECK(h_wait_sql(k.d.db,
                     "SELECT count(*) FROM incident_log WHERE action = 'acknowledged' AND "
                     "actor = 'op1'",
                     1, WAIT_MS) == 1);
    /* Only one of the two is misuse, said before anything is sent. */
    char *half_argv[] = {(char *)IOC_BIN, "status", "-e", ctl, "--server-key", srv, NULL};
    REQUIRE(run_argv(&r, 30, NULL, half_argv) == 0);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "--keypair");
    run_result_free(&r);
    CHECK_EQ_INT(iocd_stop(&k.d, SIGTERM), 0);
    keyed_close(&k);
}

TEST(without_keys_a_non_loopback_bind_is_refused)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    char *cfg = h_read(d.cfg);
    char bind[64], *at = strstr(cfg, "control: {bind: \"tcp://127.0.0.1:");
    REQUIRE(at);
    snprintf(bind, sizeof bind, "tcp://0.0.0.0:%d", d.control_port);
    size_t cap = strlen(cfg) + 64;
    char *out = malloc(cap);
    REQUIRE(out);
    snprintf(out, cap, "%.*scontrol: {bind: \"%s\"}%s", (int)(at - cfg), cfg, bind,
             strchr(at, '}') + 1);
    h_write(d.cfg, out);
    free(out);
    free(cfg);
    CHECK(iocd_start(&d) != 0);
    char *log = h_read(d.log);
    char want[160];
    snprintf(want, sizeof want,
             "control.bind: %s is not loopback; configure security keys to listen beyond this "
             "machine",
             bind);
    CHECK_CONTAINS(log, want);
    CHECK_CONTAINS(log, "iocd.yaml:4:");
    free(log);
    iocd_close(&d);
}

/* The fail-closed half that no running iocd can show: a CURVE socket set up
 * as the engine sets it up, in a context where no ZAP handler listens,
 * refuses a client whose keys are otherwise right. */
TEST(no_zap_handler_means_refused_not_accepted)
{
    struct ioc_security_conf sec = {0};
    char client_pub[41], client_sec[41], err[256];
    REQUIRE(zmq_curve_keypair(sec.public_key, sec.secret_key) == 0);
    REQUIRE(zmq_curve_keypair(client_pub, client_sec) == 0);
    sec.enabled = true;
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    REQUIRE(ioc_curve_server(pull, &sec, IOC_ZAP_INGEST, err, sizeof err) == 0);
    REQUIRE(zmq_bind(pull, "tcp://127.0.0.1:*") == 0);
    char ep[64];
    size_t len = sizeof ep;
    REQUIRE(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len) == 0);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    REQUIRE(zmq_setsockopt(push, ZMQ_CURVE_SERVERKEY, sec.public_key, 40) == 0);
    REQUIRE(zmq_setsockopt(push, ZMQ_CURVE_PUBLICKEY, client_pub, 40) == 0);
    REQUIRE(zmq_setsockopt(push, ZMQ_CURVE_SECRETKEY, client_sec, 40) == 0);
    REQUIRE(zmq_connect(push, ep) == 0);
    REQUIRE(zmq_send(push, "x", 1, 0) == 1);
    zmq_pollitem_t it = {pull, 0, ZMQ_POLLIN, 0};
    CHECK_EQ_INT(zmq_poll(&it, 1, 1500), 0);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
}

TEST(keygen_files_and_loopback_addresses)
{
    char *dir = test_mkdtemp();
    char err[256], pub[41], sec[41], path[512];
    REQUIRE(ioc_curve_keygen(dir, "k", err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/k.key", dir);
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(ioc_curve_read_key(path, pub, sec, err, sizeof err), 0);
    CHECK(ioc_curve_keygen(dir, "k", err, sizeof err) != 0); /* never overwritten */
    snprintf(path, sizeof path, "%s/k.pub", dir);
    char pub2[41];
    CHECK_EQ_INT(ioc_curve_read_key(path, pub2, NULL, err, sizeof err), 0);
    CHECK_STR(pub, pub2);
    CHECK(ioc_curve_read_key(path, pub2, sec, err, sizeof err) != 0); /* no secret in .pub */
    test_rmtree(dir);
    free(dir);

    CHECK(ioc_endpoint_is_loopback("tcp://127.0.0.1:5555"));
    CHECK(ioc_endpoint_is_loopback("tcp://127.3.2.1:*"));
    CHECK(ioc_endpoint_is_loopback("tcp://localhost:5555"));
    CHECK(ioc_endpoint_is_loopback("tcp://[::1]:5555"));
    CHECK(ioc_endpoint_is_loopback("ipc:///run/ioc/ingest"));
    CHECK(ioc_endpoint_is_loopback("inproc://x"));
    CHECK(!ioc_endpoint_is_loopback("tcp://0.0.0.0:5555"));
    CHECK(!ioc_endpoint_is_loopback("tcp://*:5555"));
    CHECK(!ioc_endpoint_is_loopback("tcp://10.0.0.5:5555"));
    CHECK(!ioc_endpoint_is_loopback("tcp://127.0.0.1.evil.example:5555"));
    CHECK(!ioc_endpoint_is_loopback("tcp://eth0:5555"));
    CHECK(!ioc_endpoint_is_loopback("tcp://[::]:5555"));
}
