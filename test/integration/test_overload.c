/*
 * test_overload.c — input faster than the engine can go (DESIGN §11, issue
 * "Overload"): a real iocd whose database is slower than its input.
 *
 * The slowness is real: a second SQLite connection holds the write lock, so
 * the writer thread cannot commit, and small store limits (store.queue_max,
 * store.hold_max, engine.batch_max) make the engine reach them within a flood
 * of a few thousand events. What a user checks: the consoles hear of it
 * (system.overload on PUB, and in the database), `ioc status` counts what
 * was shed, every event sent is accounted for (accepted, shed, rejected or a
 * duplicate), a reliable sender is not acknowledged until the database keeps
 * up again and then has everything archived exactly once, and the incident
 * resolves by itself. A console that never reads does not hold anything up.
 */
#include "harness.h"

#define BASE_TS 1770746400000LL

static void lock_db(const char *path, sqlite3 **h)
{
    REQUIRE(sqlite3_open(path, h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(*h, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
}

/* Adds "key: value, ..." to the config's engine section. */
static void engine_option(struct iocd *d, const char *opt)
{
    char *cfg = h_read(d->cfg);
    const char *at = strstr(cfg, "engine: {");
    REQUIRE(at);
    size_t head = (size_t)(at - cfg) + strlen("engine: {");
    size_t n = strlen(cfg) + strlen(opt) + 8;
    char *out = malloc(n);
    REQUIRE(out);
    snprintf(out, n, "%.*s%s, %s", (int)head, cfg, opt, cfg + head);
    h_write(d->cfg, out);
    free(out);
    free(cfg);
}

/* `ioc status --json` as an operator runs it. */
static cJSON *status(const struct iocd *d)
{
    char cmd[512], out[8192];
    snprintf(cmd, sizeof cmd, "%s status --json --endpoint tcp://127.0.0.1:%d", IOC_BIN,
             d->control_port);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, sizeof out - 1, p);
    out[used] = 0;
    REQUIRE(pclose(p) == 0);
    cJSON *j = cJSON_Parse(out);
    REQUIRE(j);
    return j;
}

static long long stat_of(const cJSON *st, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(st, name);
    REQUIRE(cJSON_IsNumber(v));
    return (long long)v->valuedouble;
}

/* `ioc status` in its plain form: the line an operator reads. */
static char *status_text(const struct iocd *d)
{
    char cmd[512], out[8192];
    snprintf(cmd, sizeof cmd, "%s status --endpoint tcp://127.0.0.1:%d", IOC_BIN,
             d->control_port);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, sizeof out - 1, p);
    out[used] = 0;
    pclose(p);
    return strdup(out);
}

static cJSON *wait_change(struct iocd *d, const char *rule, const char *change, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        cJSON *m = iocd_recv(d, NULL, 0, 500);
        if (!m) {
            continue;
        }
        const cJSON *i = cJSON_GetObjectItem(m, "incident");
        const cJSON *r = cJSON_GetObjectItem(i, "rule"), *c = cJSON_GetObjectItem(m, "change");
        if (cJSON_IsString(r) && cJSON_IsString(c) && strcmp(r->valuestring, rule) == 0 &&
            strcmp(c->valuestring, change) == 0) {
            return m;
        }
        cJSON_Delete(m);
    }
    return NULL;
}

/* ---- a reliable sender speaking the wire format: [batch id][event]... ---- */

#define REL_BATCHES 5
#define REL_PER_BATCH 10

static int send_rel_batch(void *dealer, int b)
{
    char bid[16], ev[512];
    int n = snprintf(bid, sizeof bid, "b%d", b);
    int sent = 0;
    REQUIRE(zmq_send(dealer, bid, (size_t)n, ZMQ_SNDMORE) == n);
    for (int k = 0; k < REL_PER_BATCH; k++) {
        int id = b * REL_PER_BATCH + k;
        n = snprintf(ev, sizeof ev,
                     "{\"id\":\"rel-%d\",\"source\":\"sensor\",\"type\":\"water_level\","
                     "\"ts\":%lld,\"device\":\"R%d\",\"zone\":\"Z9\",\"value\":0.4}",
                     id, BASE_TS + 3600000LL + id * 10LL, id % 3);
        REQUIRE(zmq_send(dealer, ev, (size_t)n, k + 1 < REL_PER_BATCH ? ZMQ_SNDMORE : 0) == n);
        sent++;
    }
    return sent;
}

/* One answer: the batch number, and whether it said "ok"; -1 on timeout. */
static int recv_rel_answer(void *dealer, int timeout_ms, int *ok)
{
    zmq_pollitem_t it = {dealer, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) {
        return -1;
    }
    char bid[64] = "", word[16] = "";
    int n = zmq_recv(dealer, bid, sizeof bid - 1, 0);
    REQUIRE(n > 1);
    bid[n] = 0;
    int more;
    size_t ml = sizeof more;
    REQUIRE(zmq_getsockopt(dealer, ZMQ_RCVMORE, &more, &ml) == 0 && more);
    n = zmq_recv(dealer, word, sizeof word - 1, 0);
    REQUIRE(n >= 0);
    word[n < (int)sizeof word - 1 ? n : (int)sizeof word - 1] = 0;
    /* The reason frame of an "error", if any. */
    while (zmq_getsockopt(dealer, ZMQ_RCVMORE, &more, &ml) == 0 && more) {
        char skip[256];
        REQUIRE(zmq_recv(dealer, skip, sizeof skip, 0) >= 0);
    }
    *ok = strcmp(word, "ok") == 0;
    return atoi(bid + 1);
}

#define FLOOD 20000

TEST(a_flood_faster_than_the_database_is_shed_counted_and_reported_then_resolves)
{
    struct iocd d;
    iocd_prepare_reliable(&d, NULL,
                          "store: {path: ioc.db, archive_events: true, queue_max: 2, hold_max: 2}");
    engine_option(&d, "batch_max: 50, overload_after: 1s, overload_clear: 2s");
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    cJSON *before = status(&d);
    CHECK_EQ_INT(stat_of(before, "shed"), 0);

    sqlite3 *lock;
    lock_db(d.db, &lock);
    char buf[512];
    for (int i = 0; i < FLOOD; i++) {
        int n = snprintf(buf, sizeof buf,
                         "{\"id\":\"ov-%d\",\"source\":\"sensor\",\"type\":\"water_level\","
                         "\"ts\":%lld,\"device\":\"S%d\",\"zone\":\"Z1\",\"value\":0.5}",
                         i, BASE_TS + i * 10LL, i % 20);
        iocd_send(&d, buf, (size_t)n);
    }
    /* The consoles hear of it while the database is still locked. */
    cJSON *m = wait_change(&d, "system.overload", "opened", 20000);
    REQUIRE(m);
    const cJSON *inc = cJSON_GetObjectItem(m, "incident");
    CHECK_EQ_INT(cJSON_GetObjectItem(inc, "grade")->valueint, 2);
    cJSON_Delete(m);
    /* The operator's view: overloaded, and a count of what was shed. */
    cJSON *during = status(&d);
    CHECK_EQ_INT(stat_of(during, "overloaded"), 1);
    CHECK(stat_of(during, "shed") > 0);
    cJSON_Delete(during);
    char *text = status_text(&d);
    CHECK_CONTAINS(text, "shed: ");
    CHECK_CONTAINS(text, "overloaded: 1");
    free(text);

    /* A reliable sender during the overload is held: no answer of any kind
     * can come while nothing can be made durable. */
    void *dealer = zmq_socket(d.zctx, ZMQ_DEALER);
    REQUIRE(dealer);
    snprintf(buf, sizeof buf, "tcp://127.0.0.1:%d", d.reliable_port);
    REQUIRE(zmq_connect(dealer, buf) == 0);
    long long rel_sent = 0;
    for (int b = 0; b < REL_BATCHES; b++) {
        rel_sent += send_rel_batch(dealer, b);
    }
    int ok = 0;
    CHECK_EQ_INT(recv_rel_answer(dealer, 1500, &ok), -1);

    /* The lock goes: the held batches are written, the sender is answered
     * (an "error" is answered by a resend, as `ioc send --reliable` does). */
    REQUIRE(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(lock);
    int acked[REL_BATCHES] = {0}, n_acked = 0;
    int64_t deadline = h_now_ms() + 60000;
    while (n_acked < REL_BATCHES && h_now_ms() < deadline) {
        int b = recv_rel_answer(dealer, 500, &ok);
        if (b < 0 || b >= REL_BATCHES || acked[b]) {
            continue;
        }
        if (ok) {
            acked[b] = 1;
            n_acked++;
        } else {
            rel_sent += send_rel_batch(dealer, b);
        }
    }
    CHECK_EQ_INT(n_acked, REL_BATCHES);
    /* Acknowledged means archived, once each. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid LIKE 'rel-%'"),
                 REL_BATCHES * REL_PER_BATCH);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(DISTINCT eid) FROM events WHERE eid LIKE 'rel-%'"),
                 REL_BATCHES * REL_PER_BATCH);

    /* Pressure back to normal for overload_clear: it resolves by itself. */
    m = wait_change(&d, "system.overload", "resolved", 30000);
    CHECK(m != NULL);
    cJSON_Delete(m);

    /* Nothing unaccounted: each message the engine was handed is accepted,
     * shed, rejected or a duplicate (a resend). */
    cJSON *after = status(&d);
    CHECK_EQ_INT(stat_of(after, "overloaded"), 0);
    CHECK_EQ_INT(stat_of(after, "dropped_nomem"), 0);
    long long received = stat_of(after, "received") - stat_of(before, "received");
    long long accepted = stat_of(after, "accepted") - stat_of(before, "accepted");
    long long shed = stat_of(after, "shed") - stat_of(before, "shed");
    long long rejected = stat_of(after, "rejected") - stat_of(before, "rejected");
    long long dups = stat_of(after, "duplicates") - stat_of(before, "duplicates");
    CHECK_EQ_INT(received, FLOOD + rel_sent);
    CHECK_EQ_INT(accepted + shed + rejected + dups, FLOOD + rel_sent);
    CHECK(shed > 0);
    CHECK_EQ_INT(rejected, 0);
    long long shed_total = stat_of(after, "shed");
    cJSON_Delete(before);
    cJSON_Delete(after);

    zmq_setsockopt(dealer, ZMQ_LINGER, &(int){0}, sizeof(int));
    zmq_close(dealer);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    /* Every flood event is either archived or counted as shed ... */
    long long archived = h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid LIKE 'ov-%'");
    CHECK_EQ_INT(archived + shed, FLOOD);
    /* ... and the count is in the database too, beside the rejects. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT sum(CAST(detail AS INTEGER)) FROM rejects "
                                 "WHERE reason = 'overload'"),
                 shed_total);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'system.overload' "
                                 "AND state = 'resolved' AND grade = 2"),
                 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log l JOIN incidents i "
                                 "ON i.id = l.incident_id WHERE i.rule = 'system.overload' "
                                 "AND l.action IN ('opened', 'resolved')"),
                 2);
    iocd_close(&d);
}

TEST(a_console_that_never_reads_does_not_hold_the_engine_back)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    /* A console that subscribes to everything, reads one message to prove it
     * is connected, and then never reads again, with the smallest queue. */
    void *stuck = zmq_socket(d.zctx, ZMQ_SUB);
    REQUIRE(stuck);
    int one = 1, small = 4096;
    REQUIRE(zmq_setsockopt(stuck, ZMQ_RCVHWM, &one, sizeof one) == 0);
    REQUIRE(zmq_setsockopt(stuck, ZMQ_RCVBUF, &small, sizeof small) == 0);
    REQUIRE(zmq_setsockopt(stuck, ZMQ_SUBSCRIBE, "", 0) == 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", d.pub_port);
    REQUIRE(zmq_connect(stuck, ep) == 0);
    zmq_pollitem_t it = {stuck, 0, ZMQ_POLLIN, 0};
    int live = 0;
    for (int i = 0; i < 200 && !live; i++) {
        iocd_sendf(&d, "{\"id\":\"stuck-probe-%d\",\"source\":\"system\",\"type\":\"probe\","
                       "\"ts\":\"2026-02-11T00:00:00+07:00\"}", i);
        live = zmq_poll(&it, 1, 100) > 0;
    }
    REQUIRE(live);
    cJSON *before = status(&d);

    /* Every event changes an incident, so every one is published to both. */
    enum { N = 20000 };
    char buf[512];
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf,
                         "{\"id\":\"sc-%d\",\"source\":\"sensor\",\"type\":\"water_level\","
                         "\"ts\":%lld,\"device\":\"D%d\",\"zone\":\"Z2\",\"value\":1.6}",
                         i, BASE_TS + i * 10LL, i % 100);
        iocd_send(&d, buf, (size_t)n);
    }
    /* A console that reads gets the last change ... */
    int64_t deadline = h_now_ms() + 60000;
    int seen_last = 0;
    while (!seen_last && h_now_ms() < deadline) {
        cJSON *m = iocd_recv(&d, NULL, 0, 500);
        const cJSON *ev = cJSON_GetObjectItem(m, "event");
        const cJSON *id = cJSON_GetObjectItem(ev, "id");
        seen_last = cJSON_IsString(id) && strcmp(id->valuestring, "sc-19999") == 0;
        cJSON_Delete(m);
    }
    CHECK(seen_last);
    /* ... everything was taken and archived, nothing shed, and the control
     * socket answers, with the stuck console still connected. */
    cJSON *after = status(&d);
    CHECK_EQ_INT(stat_of(after, "accepted") - stat_of(before, "accepted"), N);
    CHECK_EQ_INT(stat_of(after, "shed"), 0);
    CHECK_EQ_INT(stat_of(after, "overloaded"), 0);
    CHECK(stat_of(after, "published") - stat_of(before, "published") >= N);
    cJSON_Delete(before);
    cJSON_Delete(after);
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid LIKE 'sc-%'", N, 30000),
                 N);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    zmq_setsockopt(stuck, ZMQ_LINGER, &(int){0}, sizeof(int));
    zmq_close(stuck);
    iocd_close(&d);
}
