/*
 * test_reliable.c — reliable ingest end to end: the zmq_reliable input of a
 * real iocd, and `ioc replay|send --reliable` as the senders users run.
 *
 * What is proven is the contract of DESIGN §8: an ack means the batch is
 * durable (the rows are there the moment the sender exits 0); an engine
 * killed with SIGKILL in the middle of a replay loses nothing acknowledged,
 * and the resends after its restart double nothing; the raw wire format
 * ([batch-id][event]... answered [batch-id]["ok"]) holds for any DEALER,
 * and a malformed message is dropped without harm. Every wait is on a
 * condition (an exit, a row count, a reply, a kernel queue), never a sleep.
 */
#include "harness.h"
#include "support.h"

#define CITY_DAY IOC_SOURCE_DIR "/test/data/city-day.jsonl"
/* The good events of the city day: 5630 lines, 3 of them rejected. */
#define CITY_DAY_GOOD 5627

#define LEVEL(id, ts, dev, v)                                                                      \
    "{\"id\":\"" id "\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":\"" ts               \
    "\",\"device\":\"" dev "\",\"zone\":\"Z3\",\"value\":" v ",\"unit\":\"m\"}"

static void reliable_endpoint(const struct iocd *d, char *buf, size_t n)
{
    snprintf(buf, n, "tcp://127.0.0.1:%d", d->reliable_port);
}

/* The "K resent" of the sender's last line, or -1 without one. */
static long long resent_count(const char *err)
{
    const char *p = strstr(err, "sent ");
    long long events, batches, resent;
    while (p) {
        if (sscanf(p, "sent %lld events in %lld batches, %lld resent", &events, &batches,
                   &resent) == 3) {
            return resent;
        }
        p = strstr(p + 1, "sent ");
    }
    return -1;
}

/* Adds "key: value" to the config's engine section. */
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

/* Bytes sent to the engine's side of a TCP connection on port that it has
 * not read yet (Linux /proc/net/tcp), the most over its connections. */
static long unread_bytes(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    long most = 0;
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned lport, state;
        unsigned long tx, rx;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %lx:%lx", &lport, &state, &tx, &rx) == 4 &&
            (int)lport == port && state == 1 /* ESTABLISHED */ && (long)rx > most) {
            most = (long)rx;
        }
    }
    fclose(f);
    return most;
}

TEST(replay_exits_0_only_when_every_event_is_durable)
{
    struct iocd d;
    char ep[64];
    struct run_result r;
    iocd_prepare_reliable(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    reliable_endpoint(&d, ep, sizeof ep);
    RUN(&r, 90.0, IOC_BIN, "replay", CITY_DAY, "--max", "--reliable", "--endpoint", ep);
    if (r.status != 0) {
        run_result_dump("replay --reliable", &r);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "sent 5630 events in ");
    CHECK_CONTAINS(r.err, "all acknowledged");
    /* No waiting here: acknowledged means committed. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events"), CITY_DAY_GOOD);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM (SELECT DISTINCT source, eid FROM events)"),
                 CITY_DAY_GOOD);
    /* Rejected events are durable too, in rejects, before the ack. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects"), 3);
    run_result_free(&r);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

TEST(kill_9_mid_replay_loses_nothing_and_doubles_nothing)
{
    struct iocd d;
    char ep[64];
    struct child c;
    struct run_result r;
    iocd_prepare_reliable(&d, NULL, NULL);
    /* A resent event the engine already stored is dropped as a duplicate
     * within the dedup window of event time (older, it would be rejected as
     * late): the window covers what a sender can have unacknowledged, here
     * 8 batches of 50 events of a quiet city day, hours of event time. */
    engine_option(&d, "dedup_window: 1d");
    REQUIRE(iocd_start(&d) == 0);
    reliable_endpoint(&d, ep, sizeof ep);
    /* The day in about 4 s, in batches of 50, so the kill lands mid-stream. */
    char *argv[] = {IOC_BIN,      "replay",  CITY_DAY, "--speed",       "20000",
                    "--reliable", "--batch", "50",     "--ack-timeout", "1",
                    "--endpoint", ep,        NULL};
    REQUIRE(child_spawn(&c, argv, NULL, 0) == 0);
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM events", 1500, 30000) >= 1500);
    /* Freeze the engine, then wait until the sender has put a batch on the
     * wire that the engine never read: that one is certainly unacknowledged
     * when the engine dies. (Should the engine already hold a full window
     * unanswered, nothing more comes; those are unacknowledged just the
     * same, so the wait is bounded and not a check.) */
    REQUIRE(kill(d.pid, SIGSTOP) == 0);
    int64_t deadline = h_now_ms() + 5000;
    while (unread_bytes(d.reliable_port) < 1000 && h_now_ms() < deadline) {
        usleep(10000);
    }
    CHECK_EQ_INT(iocd_stop(&d, SIGKILL), 128 + SIGKILL);
    long long before = h_sql_int(d.db, "SELECT count(*) FROM events");
    CHECK(before >= 1500 && before < CITY_DAY_GOOD);

    /* The same config and database; a fresh log, so "ready" is the new one. */
    char old_log[320];
    snprintf(old_log, sizeof old_log, "%s.1", d.log);
    REQUIRE(rename(d.log, old_log) == 0);
    REQUIRE(iocd_start(&d) == 0);
    child_wait(&c, 90.0, &r);
    if (r.status != 0) {
        run_result_dump("replay --reliable across a kill -9", &r);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "sent 5630 events in ");
    CHECK_CONTAINS(r.err, "all acknowledged");
    CHECK(resent_count(r.err) > 0);
    /* Nothing acknowledged was lost, nothing resent was stored twice. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events"), CITY_DAY_GOOD);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM (SELECT DISTINCT source, eid FROM events)"),
                 CITY_DAY_GOOD);
    run_result_free(&r);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

/* ---- The wire format, with a raw DEALER ------------------------------------- */

static void *dealer(void *zctx, const char *ep)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int timeout = 10000, linger = 0;
    REQUIRE(s);
    REQUIRE(zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    REQUIRE(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == 0);
    REQUIRE(zmq_connect(s, ep) == 0);
    return s;
}

/* Sends [bid][events...] as one message (bid_len 0: an empty first frame). */
static void send_batch(void *s, const char *bid, size_t bid_len, const char *const *events, int n)
{
    REQUIRE(zmq_send(s, bid, bid_len, n > 0 ? ZMQ_SNDMORE : 0) == (int)bid_len);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(events[i]);
        REQUIRE(zmq_send(s, events[i], len, i + 1 < n ? ZMQ_SNDMORE : 0) == (int)len);
    }
}

/* Receives one answer: its frames as text into f (up to 3), returns how many
 * frames it had, 0 on timeout. */
static int recv_answer(void *s, char f[3][300])
{
    int n = 0, more = 1;
    while (more) {
        char buf[300];
        int len = zmq_recv(s, buf, sizeof buf - 1, 0);
        if (len < 0) {
            return 0;
        }
        if (n < 3) {
            memcpy(f[n], buf, (size_t)len);
            f[n][len] = 0;
        }
        n++;
        size_t ml = sizeof more;
        zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
    }
    return n;
}

TEST(raw_dealer_gets_acks_and_malformed_messages_are_dropped)
{
    struct iocd d;
    char ep[64], f[3][300];
    iocd_prepare_reliable(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    reliable_endpoint(&d, ep, sizeof ep);
    void *zctx = zmq_ctx_new();
    void *s = dealer(zctx, ep);

    /* One batch: the answer carries the same id, and the rows are there. */
    const char *one[] = {LEVEL("w1", "2026-02-11T01:00:00+07:00", "F1", "0.4"),
                         "{\"id\": \"broken\""};
    send_batch(s, "batch-1", 7, one, 2);
    CHECK_EQ_INT(recv_answer(s, f), 2);
    CHECK_STR(f[0], "batch-1");
    CHECK_STR(f[1], "ok");
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid = 'w1'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects WHERE reason = 'json'"), 1);

    /* An empty batch is answered too. */
    send_batch(s, "empty", 5, NULL, 0);
    CHECK_EQ_INT(recv_answer(s, f), 2);
    CHECK_STR(f[0], "empty");
    CHECK_STR(f[1], "ok");

    /* No batch id, or one over 255 bytes: dropped without an answer. The
     * next answer is the next good batch's, so nothing came for those. */
    const char *ev2[] = {LEVEL("w2", "2026-02-11T01:00:01+07:00", "F1", "0.5")};
    send_batch(s, "", 0, ev2, 1);
    send_batch(s, "", 0, NULL, 0);
    char long_id[300];
    memset(long_id, 'x', sizeof long_id);
    send_batch(s, long_id, sizeof long_id, ev2, 1);
    const char *ev3[] = {LEVEL("w3", "2026-02-11T01:00:02+07:00", "F1", "0.6")};
    send_batch(s, "batch-3", 7, ev3, 1);
    CHECK_EQ_INT(recv_answer(s, f), 2);
    CHECK_STR(f[0], "batch-3");
    CHECK_STR(f[1], "ok");
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid = 'w2'"), 0);
    char *log = h_read(d.log);
    CHECK_CONTAINS(log, "dropped a malformed message");
    free(log);

    /* A resend of a stored batch is answered again, and stored once. */
    send_batch(s, "batch-3", 7, ev3, 1);
    CHECK_EQ_INT(recv_answer(s, f), 2);
    CHECK_STR(f[0], "batch-3");
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid = 'w3'"), 1);

    /* A sender that vanishes before its answer does not hold the engine:
     * its batch is sent (the context's end waits for that), then it is gone. */
    void *gone_ctx = zmq_ctx_new();
    void *gone = zmq_socket(gone_ctx, ZMQ_DEALER);
    int linger = 5000;
    zmq_setsockopt(gone, ZMQ_LINGER, &linger, sizeof linger);
    REQUIRE(zmq_connect(gone, ep) == 0);
    const char *ev4[] = {LEVEL("w4", "2026-02-11T01:00:03+07:00", "F1", "0.7")};
    send_batch(gone, "gone", 4, ev4, 1);
    zmq_close(gone);
    zmq_ctx_term(gone_ctx);
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid = 'w4'", 1, 10000) == 1);
    const char *ev5[] = {LEVEL("w5", "2026-02-11T01:00:04+07:00", "F1", "0.8")};
    send_batch(s, "batch-5", 7, ev5, 1);
    CHECK_EQ_INT(recv_answer(s, f), 2);
    CHECK_STR(f[0], "batch-5");
    CHECK_STR(f[1], "ok");

    zmq_close(s);
    zmq_ctx_term(zctx);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    log = h_read(d.log);
    CHECK_CONTAINS(log, "3 malformed messages");
    free(log);
    iocd_close(&d);
}

TEST(send_waits_for_an_engine_that_starts_later)
{
    struct iocd d;
    char ep[64];
    struct child c;
    struct run_result r;
    iocd_prepare_reliable(&d, NULL, NULL);
    reliable_endpoint(&d, ep, sizeof ep);
    /* Three events and a blank line, which is skipped. */
    char input[1024];
    snprintf(input, sizeof input, "%s\n%s\n\n%s\n",
             LEVEL("s1", "2026-02-11T02:00:00+07:00", "F2", "0.4"),
             LEVEL("s2", "2026-02-11T02:00:01+07:00", "F2", "0.5"),
             LEVEL("s3", "2026-02-11T02:00:02+07:00", "F2", "0.6"));
    char *argv[] = {IOC_BIN, "send", "--reliable", "--batch", "2", "--endpoint", ep, NULL};
    /* The sender first, with no engine to take anything. */
    REQUIRE(child_spawn(&c, argv, input, strlen(input)) == 0);
    REQUIRE(iocd_start(&d) == 0);
    child_wait(&c, 60.0, &r);
    if (r.status != 0) {
        run_result_dump("send --reliable", &r);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "sent 3 events in 2 batches");
    CHECK_CONTAINS(r.err, "all acknowledged");
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid IN ('s1','s2','s3')"), 3);
    run_result_free(&r);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}
