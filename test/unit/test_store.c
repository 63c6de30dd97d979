/*
 * test_store.c — the SQLite store against real files and a real loop.
 *
 * Each case makes its own directory under /tmp, opens a store on a fresh uv
 * loop, submits batches, runs the loop until the done callbacks have fired
 * (the store keeps the loop alive exactly while batches are in flight), then
 * closes the store and checks the loop closes clean. What was written is read
 * back with plain sqlite3 queries on a second connection.
 */
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/store.h"

#include "test.h"

/* ---- Fixture ----------------------------------------------------------- */

struct fixture {
    char dir[64];
    char path[160];
    uv_loop_t loop;
    struct ioc_store *s;
};

static void fx_open_opts(struct fixture *fx, bool archive, size_t queue_max)
{
    memset(fx, 0, sizeof(*fx));
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ioc_store_XXXXXX");
    REQUIRE(mkdtemp(fx->dir) != NULL);
    /* Two missing levels: open must create both. */
    snprintf(fx->path, sizeof fx->path, "%s/var/db/ioc.db", fx->dir);
    REQUIRE(uv_loop_init(&fx->loop) == 0);
    struct ioc_store_opts o = {
        .path = fx->path,
        .archive_events = archive,
        .synchronous = "NORMAL",
        .queue_max = queue_max,
    };
    char err[256] = "";
    int rc = ioc_store_open(&o, &fx->loop, &fx->s, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open: %s\n", err);
    }
    REQUIRE(rc == 0);
}

static void fx_open(struct fixture *fx)
{
    fx_open_opts(fx, true, 16);
}

/* Closes the store (if still open), lets the async handle close, and checks
 * that nothing else was left on the loop. */
static void fx_close(struct fixture *fx)
{
    ioc_store_close(fx->s);
    fx->s = NULL;
    CHECK_EQ_INT(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&fx->loop), 0);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void fx_cleanup(struct fixture *fx)
{
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- Done callbacks ---------------------------------------------------- */

#define MAXB 1000

struct results {
    int n;
    int order[MAXB];
    int status[MAXB];
    size_t size[MAXB], msgs[MAXB];
};

struct slot {
    struct results *r;
    int idx;
};

static void on_done(struct ioc_batch *b, int status, void *arg)
{
    struct slot *sl = arg;
    struct results *r = sl->r;
    if (r->n < MAXB) {
        r->order[r->n] = sl->idx;
        r->status[r->n] = status;
        r->size[r->n] = ioc_batch_size(b);
        r->msgs[r->n] = ioc_batch_messages(b);
    }
    r->n++;
    ioc_batch_free(b);
}

static void submit(struct fixture *fx, struct ioc_batch *b, struct slot *sl)
{
    CHECK_EQ_INT(ioc_store_submit(fx->s, b, on_done, sl), 0);
}

/* ---- Rows -------------------------------------------------------------- */

static struct ioc_incident_row incident(int64_t id, const char *rule, const char *state,
                                        const char *zone, int grade)
{
    struct ioc_incident_row r = {
        .id = id,
        .rule = rule,
        .key_json = "{\"device\":\"F1\"}",
        .zone = zone,
        .title = "Water level high",
        .state = state,
        .grade = grade,
        .opened = 1000 + id,
        .updated = 2000 + id,
        .count = 1,
        .fields_json = "{\"value\":2.5}",
    };
    return r;
}

static struct ioc_batch *batch_with_incident(int64_t id)
{
    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    struct ioc_incident_row r = incident(id, "flood.level", "open", "Z1", 3);
    REQUIRE(ioc_batch_incident(b, &r) == 0);
    return b;
}

static int add_event(struct ioc_batch *b, const char *id, const char *raw, size_t raw_len)
{
    struct ioc_event ev = {
        .id = id,
        .type = "water_level",
        .device = "F1",
        .zone = "Z1",
        .source = IOC_SRC_SENSOR,
        .ts = 1700000000000,
        .received = 1700000000500,
        .raw = raw,
        .raw_len = raw_len,
    };
    return ioc_batch_event(b, &ev);
}

/* ---- Reading back ------------------------------------------------------ */

static sqlite3 *db_ro(const char *path)
{
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    return db;
}

static int64_t q_int(const char *path, const char *sql)
{
    sqlite3 *db = db_ro(path);
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        REQUIRE(0);
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The first column of the first row as text, "(null)" for NULL. */
static void q_text(const char *path, const char *sql, char *buf, size_t n)
{
    sqlite3 *db = db_ro(path);
    sqlite3_stmt *st = NULL;
    snprintf(buf, n, "(no row)");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        REQUIRE(0);
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf, n, "%s", t ? (const char *)t : "(null)");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

#define CHECK_Q(path, sql, expect)                                                                 \
    do {                                                                                           \
        char q_[512];                                                                              \
        q_text(path, sql, q_, sizeof q_);                                                          \
        CHECK_STR(q_, expect);                                                                     \
    } while (0)

/* ---- Cases ------------------------------------------------------------- */

TEST(open_creates_tables_and_wal)
{
    struct fixture fx;
    fx_open(&fx);
    fx_close(&fx);

    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                                " name IN ('events', 'incidents', 'incident_evidence',"
                                " 'incident_log', 'rejects', 'rule_sets', 'silences')"),
                 7);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND"
                                " name NOT LIKE 'sqlite_%'"),
                 3);
    CHECK_Q(fx.path, "PRAGMA journal_mode", "wal");
    CHECK_EQ_INT(q_int(fx.path, "PRAGMA user_version"), 1);

    /* Opening an existing file is idempotent. */
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    struct ioc_store *s = NULL;
    char err[256] = "";
    struct ioc_store_opts o = {.path = fx.path, .archive_events = true, .queue_max = 4};
    CHECK_EQ_INT(ioc_store_open(&o, &loop, &s, err, sizeof err), 0);
    ioc_store_close(s);

    /* Bad options are refused with a message, and leave nothing behind. */
    o.synchronous = "SOMETIMES";
    CHECK_EQ_INT(ioc_store_open(&o, &loop, &s, err, sizeof err), IOC_EINVAL);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, "synchronous");
    o.synchronous = "FULL";
    o.queue_max = 0;
    CHECK_EQ_INT(ioc_store_open(&o, &loop, &s, err, sizeof err), IOC_EINVAL);

    /* A file that is not a database is IOC_EDB with SQLite's reason. */
    char bogus[200];
    snprintf(bogus, sizeof bogus, "%s/bogus.db", fx.dir);
    FILE *f = fopen(bogus, "w");
    REQUIRE(f != NULL);
    fputs("this is not a database, not even close; it is plain text padding the header", f);
    fclose(f);
    o.path = bogus;
    o.queue_max = 4;
    CHECK_EQ_INT(ioc_store_open(&o, &loop, &s, err, sizeof err), IOC_EDB);
    CHECK_CONTAINS(err, "not a database");

    CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fx_cleanup(&fx);
}

TEST(batch_of_every_kind_is_written)
{
    struct fixture fx;
    fx_open(&fx);

    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    /* Every buffer is overwritten after the append: the batch must copy. */
    char raw[] = "{\"id\":\"e1\",\"source\":\"sensor\"}";
    char id[] = "e1";
    CHECK_EQ_INT(add_event(b, id, raw, strlen(raw)), 0);
    memset(raw, 'x', sizeof raw - 1);
    memset(id, 'x', sizeof id - 1);

    char reason[] = "schema";
    CHECK_EQ_INT(ioc_batch_reject(b, 1234, reason, "value: expected a number", "{bad", 4), 0);
    reason[0] = 'X';

    char rule[] = "flood.level";
    struct ioc_incident_row inc = incident(1, rule, "open", "Z1", 2);
    CHECK_EQ_INT(ioc_batch_incident(b, &inc), 0);
    rule[0] = 'X';

    struct ioc_evidence_row evd = {.incident_id = 1,
                                   .source = "sensor",
                                   .event_id = "e1",
                                   .ts = 1700000000000,
                                   .summary_json = "{\"value\":2.5}"};
    CHECK_EQ_INT(ioc_batch_evidence(b, &evd), 0);

    struct ioc_log_row log = {.incident_id = 1,
                              .ts = 1700000000000,
                              .action = "opened",
                              .actor = "engine",
                              .reason = NULL,
                              .grade = 2,
                              .detail_json = "{\"seq\":1}"};
    CHECK_EQ_INT(ioc_batch_log(b, &log), 0);

    struct ioc_ruleset_row rs = {.loaded_at = 99,
                                 .hash = "abc123",
                                 .files = "[\"rules/flood.yaml\"]",
                                 .rules = 12,
                                 .outcome = "loaded",
                                 .error = NULL,
                                 .actor = "startup"};
    CHECK_EQ_INT(ioc_batch_ruleset(b, &rs), 0);
    CHECK_EQ_INT(ioc_batch_publish(b, "incident.2.Z1", "{\"seq\":1}", 9), 0);

    CHECK_EQ_INT(ioc_batch_size(b), 6);
    CHECK_EQ_INT(ioc_batch_messages(b), 1);
    CHECK_EQ_INT(ioc_batch_event(NULL, NULL), IOC_EINVAL);
    CHECK_EQ_INT(ioc_batch_incident(b, NULL), IOC_EINVAL);

    struct results r = {0};
    struct slot sl = {&r, 0};
    submit(&fx, b, &sl);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.status[0], 0);
    CHECK_EQ_INT(r.size[0], 6);
    CHECK_EQ_INT(r.msgs[0], 1);

    struct ioc_store_stats st;
    ioc_store_stats(fx.s, &st);
    CHECK_EQ_INT(st.batches, 1);
    CHECK_EQ_INT(st.events, 1);
    CHECK_EQ_INT(st.rejects, 1);
    CHECK_EQ_INT(st.incidents, 1);
    CHECK_EQ_INT(st.log_rows, 1);
    CHECK_EQ_INT(st.errors, 0);
    fx_close(&fx);

    CHECK_Q(fx.path,
            "SELECT source || '|' || eid || '|' || type || '|' || ts || '|' || received || '|' ||"
            " device || '|' || zone || '|' || raw FROM events",
            "sensor|e1|water_level|1700000000000|1700000000500|F1|Z1|"
            "{\"id\":\"e1\",\"source\":\"sensor\"}");
    CHECK_Q(fx.path, "SELECT typeof(raw) FROM events", "text");
    CHECK_Q(fx.path, "SELECT received || '|' || reason || '|' || detail FROM rejects",
            "1234|schema|value: expected a number");
    CHECK_Q(fx.path,
            "SELECT id || '|' || rule || '|' || key || '|' || zone || '|' || title || '|' ||"
            " state || '|' || grade || '|' || opened || '|' || updated || '|' || count || '|' ||"
            " fields FROM incidents",
            "1|flood.level|{\"device\":\"F1\"}|Z1|Water level high|open|2|1001|2001|1|"
            "{\"value\":2.5}");
    CHECK_Q(fx.path,
            "SELECT incident_id || '|' || source || '|' || event_id || '|' || ts || '|' ||"
            " summary FROM incident_evidence",
            "1|sensor|e1|1700000000000|{\"value\":2.5}");
    CHECK_Q(fx.path,
            "SELECT incident_id || '|' || ts || '|' || action || '|' || actor || '|' ||"
            " coalesce(reason, 'NULL') || '|' || grade || '|' || detail FROM incident_log",
            "1|1700000000000|opened|engine|NULL|2|{\"seq\":1}");
    CHECK_Q(fx.path,
            "SELECT loaded_at || '|' || hash || '|' || files || '|' || rules || '|' || outcome ||"
            " '|' || coalesce(error, 'NULL') || '|' || actor FROM rule_sets",
            "99|abc123|[\"rules/flood.yaml\"]|12|loaded|NULL|startup");
    fx_cleanup(&fx);
}

TEST(callbacks_run_in_submit_order)
{
    struct fixture fx;
    fx_open_opts(&fx, true, 8);
    enum { N = 300 };
    struct slot *slots = calloc(N, sizeof(*slots));
    struct results *r = calloc(1, sizeof(*r));
    REQUIRE(slots != NULL && r != NULL);
    for (int i = 0; i < N; i++) {
        struct ioc_batch *b = ioc_batch_new();
        REQUIRE(b != NULL);
        struct ioc_log_row log = {
            .incident_id = i, .ts = i, .action = "updated", .actor = "engine", .grade = 3};
        for (int k = 0; k < i % 5; k++) {
            CHECK_EQ_INT(ioc_batch_log(b, &log), 0);
        }
        slots[i] = (struct slot){r, i};
        submit(&fx, b, &slots[i]);
        /* Let some callbacks run between submits, as the engine's turns do. */
        if (i % 7 == 0) {
            uv_run(&fx.loop, UV_RUN_NOWAIT);
        }
    }
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r->n, N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(r->order[i], i);
        CHECK_EQ_INT(r->status[i], 0);
    }
    struct ioc_store_stats st;
    ioc_store_stats(fx.s, &st);
    CHECK_EQ_INT(st.batches, N);
    fx_close(&fx);

    /* Rows were committed in the same order: log ids grow with incident_id. */
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM incident_log"), 600);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM incident_log a JOIN incident_log b"
                                " ON b.id = a.id + 1 WHERE b.incident_id < a.incident_id"),
                 0);
    free(slots);
    free(r);
    fx_cleanup(&fx);
}

struct msg_check {
    int calls;
    int ok;
};

static void on_done_msgs(struct ioc_batch *b, int status, void *arg)
{
    struct msg_check *mc = arg;
    mc->calls++;
    mc->ok = status == 0 && ioc_batch_messages(b) == 50;
    for (size_t i = 0; mc->ok && i < 50; i++) {
        const char *topic, *json;
        size_t len;
        char want_topic[64], want_json[64];
        ioc_batch_message(b, i, &topic, &json, &len);
        snprintf(want_topic, sizeof want_topic, "incident.%zu.Z%zu", i % 4 + 1, i);
        int n = snprintf(want_json, sizeof want_json, "{\"seq\":%zu}", i);
        if (i == 7) {
            /* The one message whose JSON carries a NUL inside its length. */
            mc->ok = strcmp(topic, want_topic) == 0 && len == 5 && memcmp(json, "ab\0cd", 5) == 0;
        } else {
            mc->ok = strcmp(topic, want_topic) == 0 && len == (size_t)n &&
                     memcmp(json, want_json, len) == 0 && json[len] == '\0';
        }
    }
    const char *topic = "x", *json = "x";
    size_t len = 9;
    ioc_batch_message(b, 50, &topic, &json, &len);
    mc->ok = mc->ok && !topic && !json && len == 0;
    ioc_batch_free(b);
}

TEST(publish_list_kept_in_order)
{
    struct fixture fx;
    fx_open(&fx);
    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    for (size_t i = 0; i < 50; i++) {
        char topic[64], json[64];
        snprintf(topic, sizeof topic, "incident.%zu.Z%zu", i % 4 + 1, i);
        int n = snprintf(json, sizeof json, "{\"seq\":%zu}", i);
        if (i == 7) {
            CHECK_EQ_INT(ioc_batch_publish(b, topic, "ab\0cd", 5), 0);
        } else {
            CHECK_EQ_INT(ioc_batch_publish(b, topic, json, (size_t)n), 0);
        }
        memset(topic, 'x', sizeof topic - 1);
        memset(json, 'x', sizeof json - 1);
    }
    CHECK_EQ_INT(ioc_batch_size(b), 0);
    struct msg_check mc = {0};
    CHECK_EQ_INT(ioc_store_submit(fx.s, b, on_done_msgs, &mc), 0);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(mc.calls, 1);
    CHECK(mc.ok);
    fx_close(&fx);
    fx_cleanup(&fx);
}

TEST(incident_upsert_replaces_row)
{
    struct fixture fx;
    fx_open(&fx);
    struct results r = {0};
    struct slot sl[2] = {{&r, 0}, {&r, 1}};

    submit(&fx, batch_with_incident(7), &sl[0]);

    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    struct ioc_incident_row inc = incident(7, "flood.level", "acknowledged", NULL, 2);
    inc.count = 4;
    inc.updated = 5000;
    inc.title = "first version in this batch";
    CHECK_EQ_INT(ioc_batch_incident(b, &inc), 0);
    /* The same id twice in one batch: the later row wins. */
    inc.title = "Water level critical";
    CHECK_EQ_INT(ioc_batch_incident(b, &inc), 0);
    struct ioc_incident_row other = incident(8, "pipe.burst", "open", "Z2", 1);
    CHECK_EQ_INT(ioc_batch_incident(b, &other), 0);
    submit(&fx, b, &sl[1]);

    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.status[0], 0);
    CHECK_EQ_INT(r.status[1], 0);
    fx_close(&fx);

    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM incidents"), 2);
    CHECK_Q(fx.path,
            "SELECT state || '|' || grade || '|' || count || '|' || updated || '|' || title ||"
            " '|' || coalesce(zone, 'NULL') || '|' || opened FROM incidents WHERE id = 7",
            "acknowledged|2|4|5000|Water level critical|NULL|1007");
    fx_cleanup(&fx);
}

TEST(queue_bound_blocks_and_loses_nothing)
{
    struct fixture fx;
    fx_open_opts(&fx, true, 1);
    enum { N = 500 };
    struct slot *slots = calloc(N, sizeof(*slots));
    struct results *r = calloc(1, sizeof(*r));
    REQUIRE(slots != NULL && r != NULL);
    /* No loop turn between submits: submit blocks on the full queue and the
     * writer drains it; every callback waits for the loop below. */
    for (int i = 0; i < N; i++) {
        slots[i] = (struct slot){r, i};
        submit(&fx, batch_with_incident(i + 1), &slots[i]);
    }
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r->n, N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(r->order[i], i);
        CHECK_EQ_INT(r->status[i], 0);
    }
    fx_close(&fx);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM incidents"), N);
    CHECK_EQ_INT(q_int(fx.path, "SELECT max(id) FROM incidents"), N);
    free(slots);
    free(r);
    fx_cleanup(&fx);
}

TEST(archive_off_writes_no_events)
{
    struct fixture fx;
    fx_open_opts(&fx, false, 4);
    struct ioc_batch *b = batch_with_incident(1);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ_INT(add_event(b, "e", "{}", 2), 0);
    }
    CHECK_EQ_INT(ioc_batch_reject(b, 1, "json", "invalid JSON at byte 0", "x", 1), 0);
    struct results r = {0};
    struct slot sl = {&r, 0};
    submit(&fx, b, &sl);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.status[0], 0);
    struct ioc_store_stats st;
    ioc_store_stats(fx.s, &st);
    CHECK_EQ_INT(st.events, 0);
    CHECK_EQ_INT(st.incidents, 1);
    CHECK_EQ_INT(st.rejects, 1);
    fx_close(&fx);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM events"), 0);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM incidents"), 1);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM rejects"), 1);
    fx_cleanup(&fx);
}

struct seen {
    int n;
    int64_t ids[16];
    int stop_after;
    int null_zones;
};

static int collect(const struct ioc_incident_view *v, void *arg)
{
    struct seen *s = arg;
    if (s->n < 16) {
        s->ids[s->n] = v->id;
    }
    s->n++;
    s->null_zones += v->zone == NULL;
    return s->stop_after && s->n >= s->stop_after;
}

static void check_ids(const char *path, const struct ioc_incident_filter *f, int stop_after,
                      const char *expect)
{
    struct seen s = {.stop_after = stop_after};
    char err[256] = "";
    CHECK_EQ_INT(ioc_db_incidents(path, f, collect, &s, err, sizeof err), 0);
    char got[128] = "";
    for (int i = 0; i < s.n && i < 16; i++) {
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%s%lld", i ? "," : "", (long long)s.ids[i]);
    }
    CHECK_STR(got, expect);
}

static void write_incidents(struct fixture *fx)
{
    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    /* Added out of id order: reads come back ordered by id anyway. */
    struct ioc_incident_row rows[] = {
        incident(5, "flood.level", "open", "Z1", 1),
        incident(2, "flood.level", "resolved", "Z2", 3),
        incident(9, "pipe.burst", "open", "Z1", 2),
        incident(3, "pipe.burst", "acknowledged", NULL, 4),
        incident(11, "cctv.crowd", "open", "Z3", 2),
        incident(1, "flood.level", "open", "Z1", 4),
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CHECK_EQ_INT(ioc_batch_incident(b, &rows[i]), 0);
    }
    struct results r = {0};
    struct slot sl = {&r, 0};
    submit(fx, b, &sl);
    CHECK_EQ_INT(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.status[0], 0);
}

TEST(db_incidents_filters)
{
    struct fixture fx;
    fx_open(&fx);
    write_incidents(&fx);
    /* Read while the store is still open, as the CLI does beside iocd. */
    check_ids(fx.path, NULL, 0, "1,2,3,5,9,11");
    fx_close(&fx);

    struct ioc_incident_filter f = {.rule = "flood.level"};
    check_ids(fx.path, &f, 0, "1,2,5");
    f = (struct ioc_incident_filter){.state = "open"};
    check_ids(fx.path, &f, 0, "1,5,9,11");
    f = (struct ioc_incident_filter){.zone = "Z1"};
    check_ids(fx.path, &f, 0, "1,5,9");
    f = (struct ioc_incident_filter){.max_grade = 2};
    check_ids(fx.path, &f, 0, "5,9,11");
    f = (struct ioc_incident_filter){.rule = "pipe.burst", .state = "open", .max_grade = 2};
    check_ids(fx.path, &f, 0, "9");
    f = (struct ioc_incident_filter){.rule = "no.such.rule"};
    check_ids(fx.path, &f, 0, "");
    check_ids(fx.path, NULL, 2, "1,2");

    /* A NULL zone comes back as NULL. */
    struct seen s = {0};
    f = (struct ioc_incident_filter){.rule = "pipe.burst"};
    CHECK_EQ_INT(ioc_db_incidents(fx.path, &f, collect, &s, NULL, 0), 0);
    CHECK_EQ_INT(s.null_zones, 1);

    char missing[200], err[256] = "";
    snprintf(missing, sizeof missing, "%s/missing.db", fx.dir);
    CHECK_EQ_INT(ioc_db_incidents(missing, NULL, collect, &s, err, sizeof err), IOC_ENOENT);
    CHECK_CONTAINS(err, "missing.db");
    /* The read did not create the file. */
    CHECK(access(missing, F_OK) != 0);
    fx_cleanup(&fx);
}

TEST(db_summary_counts)
{
    struct fixture fx;
    fx_open(&fx);
    write_incidents(&fx);
    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(add_event(b, "e", "{}", 2), 0);
    }
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(ioc_batch_reject(b, i, i < 3 ? "json" : "schema", "bad", "{", 1), 0);
    }
    CHECK_EQ_INT(ioc_batch_reject(b, 9, "late", NULL, NULL, 0), 0);
    struct results r = {0};
    struct slot sl = {&r, 0};
    submit(&fx, b, &sl);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    fx_close(&fx);

    struct ioc_db_summary sum;
    char err[256] = "";
    CHECK_EQ_INT(ioc_db_summary(fx.path, &sum, err, sizeof err), 0);
    CHECK_EQ_INT(sum.events, 3);
    CHECK_EQ_INT(sum.incidents, 6);
    CHECK_EQ_INT(sum.by_grade[1], 1);
    CHECK_EQ_INT(sum.by_grade[2], 2);
    CHECK_EQ_INT(sum.by_grade[3], 1);
    CHECK_EQ_INT(sum.by_grade[4], 2);
    CHECK_EQ_INT(sum.rejects, 6);
    CHECK_EQ_INT(sum.n_reasons, 3);
    CHECK_STR(sum.reject_reasons[0].reason, "json");
    CHECK_EQ_INT(sum.reject_reasons[0].n, 3);
    CHECK_STR(sum.reject_reasons[1].reason, "schema");
    CHECK_EQ_INT(sum.reject_reasons[1].n, 2);
    CHECK_STR(sum.reject_reasons[2].reason, "late");
    CHECK_EQ_INT(sum.reject_reasons[2].n, 1);

    char missing[200];
    snprintf(missing, sizeof missing, "%s/missing.db", fx.dir);
    CHECK_EQ_INT(ioc_db_summary(missing, &sum, err, sizeof err), IOC_ENOENT);
    fx_cleanup(&fx);
}

TEST(max_incident_id)
{
    struct fixture fx;
    fx_open(&fx);
    int64_t max = -1;

    char missing[200];
    snprintf(missing, sizeof missing, "%s/missing.db", fx.dir);
    CHECK_EQ_INT(ioc_db_max_incident_id(missing, &max), 0);
    CHECK_EQ_INT(max, 0);
    CHECK(access(missing, F_OK) != 0);

    /* An empty file is an empty database: no incidents table, no incidents. */
    char empty[200];
    snprintf(empty, sizeof empty, "%s/empty.db", fx.dir);
    FILE *f = fopen(empty, "w");
    REQUIRE(f != NULL);
    fclose(f);
    max = -1;
    CHECK_EQ_INT(ioc_db_max_incident_id(empty, &max), 0);
    CHECK_EQ_INT(max, 0);

    /* The store's own file before any incident, then after two. */
    max = -1;
    CHECK_EQ_INT(ioc_db_max_incident_id(fx.path, &max), 0);
    CHECK_EQ_INT(max, 0);
    struct ioc_batch *b = batch_with_incident(42);
    struct ioc_incident_row r3 = incident(3, "x", "open", NULL, 1);
    CHECK_EQ_INT(ioc_batch_incident(b, &r3), 0);
    struct results r = {0};
    struct slot sl = {&r, 0};
    submit(&fx, b, &sl);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(ioc_db_max_incident_id(fx.path, &max), 0);
    CHECK_EQ_INT(max, 42);
    fx_close(&fx);
    fx_cleanup(&fx);
}

TEST(reject_raw_kept_as_exact_blob)
{
    struct fixture fx;
    fx_open(&fx);
    static const char raw[] = {'{', '\0', '"', '\xff', '\xfe', '\0'};
    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    CHECK_EQ_INT(ioc_batch_reject(b, 7, "encoding", "invalid UTF-8 at byte 3", raw, sizeof raw), 0);
    CHECK_EQ_INT(ioc_batch_reject(b, 8, "size", "too big", NULL, 0), 0);
    CHECK_EQ_INT(ioc_batch_reject(b, 9, "json", "empty", "", 0), 0);
    struct results r = {0};
    struct slot sl = {&r, 0};
    submit(&fx, b, &sl);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.status[0], 0);
    fx_close(&fx);

    CHECK_Q(fx.path, "SELECT typeof(raw) FROM rejects WHERE received = 7", "blob");
    CHECK_EQ_INT(q_int(fx.path, "SELECT length(raw) FROM rejects WHERE received = 7"), 6);
    CHECK_Q(fx.path, "SELECT typeof(raw) FROM rejects WHERE received = 8", "null");
    CHECK_Q(fx.path, "SELECT typeof(raw) || length(raw) FROM rejects WHERE received = 9", "blob0");

    sqlite3 *db = db_ro(fx.path);
    sqlite3_stmt *st = NULL;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT raw FROM rejects WHERE received = 7", -1, &st, NULL) ==
            SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_bytes(st, 0), 6);
    CHECK(memcmp(sqlite3_column_blob(st, 0), raw, sizeof raw) == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    fx_cleanup(&fx);
}

TEST(write_error_reports_edb_in_order)
{
    struct fixture fx;
    fx_open(&fx);

    /* Another connection drops a table under the writer's prepared statement. */
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(fx.path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "DROP TABLE incident_log", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    struct results r = {0};
    struct slot sl[4] = {{&r, 0}, {&r, 1}, {&r, 2}, {&r, 3}};
    submit(&fx, batch_with_incident(1), &sl[0]);
    struct ioc_batch *bad = batch_with_incident(2);
    struct ioc_log_row log = {.incident_id = 2, .action = "opened", .actor = "engine", .grade = 3};
    CHECK_EQ_INT(ioc_batch_log(bad, &log), 0);
    CHECK_EQ_INT(ioc_batch_publish(bad, "incident.3.Z1", "{}", 2), 0);
    submit(&fx, bad, &sl[1]);
    submit(&fx, batch_with_incident(3), &sl[2]);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);

    /* The loop and store carry on after the failure. */
    submit(&fx, batch_with_incident(4), &sl[3]);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);

    CHECK_EQ_INT(r.n, 4);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(r.order[i], i);
    }
    CHECK_EQ_INT(r.status[0], 0);
    CHECK_EQ_INT(r.status[1], IOC_EDB);
    CHECK_EQ_INT(r.status[2], 0);
    CHECK_EQ_INT(r.status[3], 0);
    /* The failed batch came back whole. */
    CHECK_EQ_INT(r.size[1], 2);
    CHECK_EQ_INT(r.msgs[1], 1);

    struct ioc_store_stats st;
    ioc_store_stats(fx.s, &st);
    CHECK_EQ_INT(st.errors, 1);
    CHECK_EQ_INT(st.batches, 3);
    CHECK_EQ_INT(st.incidents, 3);
    fx_close(&fx);
    /* Nothing of the failed batch was written, all of the others was. */
    CHECK_Q(fx.path, "SELECT group_concat(id, ',') FROM (SELECT id FROM incidents ORDER BY id)",
            "1,3,4");
    fx_cleanup(&fx);
}

struct closer {
    struct fixture *fx;
    int submit_rc;
};

struct close_slot {
    struct slot sl;
    struct closer *c;
};

static void on_done_close(struct ioc_batch *b, int status, void *arg)
{
    struct close_slot *cs = arg;
    on_done(b, status, &cs->sl);
    if (cs->sl.idx == 0) {
        /* Closing from a callback delivers the rest right here, in order. */
        struct ioc_store *s = cs->c->fx->s;
        cs->c->fx->s = NULL;
        ioc_store_close(s);
        /* Until the loop runs again the store is closed but not yet freed. */
        cs->c->submit_rc = ioc_store_submit(s, ioc_batch_new(), on_done, &cs->sl);
    }
}

TEST(close_from_a_callback_delivers_the_rest)
{
    struct fixture fx;
    fx_open_opts(&fx, true, 2);
    struct results r = {0};
    struct closer c = {&fx, 1};
    struct close_slot cs[5];
    for (int i = 0; i < 5; i++) {
        cs[i] = (struct close_slot){{&r, i}, &c};
        CHECK_EQ_INT(ioc_store_submit(fx.s, batch_with_incident(i + 1), on_done_close, &cs[i]), 0);
    }
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.n, 5);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(r.order[i], i);
        CHECK_EQ_INT(r.status[i], 0);
    }
    CHECK_EQ_INT(c.submit_rc, IOC_ESTATE);
    CHECK(fx.s == NULL);
    fx_close(&fx);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM incidents"), 5);
    fx_cleanup(&fx);
}

TEST(empty_batches_complete_in_order)
{
    struct fixture fx;
    fx_open(&fx);
    struct results r = {0};
    struct slot sl[6];
    for (int i = 0; i < 6; i++) {
        sl[i] = (struct slot){&r, i};
        struct ioc_batch *b = i % 2 ? batch_with_incident(i) : ioc_batch_new();
        REQUIRE(b != NULL);
        submit(&fx, b, &sl[i]);
    }
    /* A batch with no callback is freed by the store. */
    CHECK_EQ_INT(ioc_store_submit(fx.s, batch_with_incident(99), NULL, NULL), 0);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.n, 6);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(r.order[i], i);
        CHECK_EQ_INT(r.status[i], 0);
        CHECK_EQ_INT(r.size[i], i % 2);
    }
    fx_close(&fx);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM incidents"), 4);
    fx_cleanup(&fx);
}

TEST(large_batch_of_events)
{
    struct fixture fx;
    fx_open(&fx);
    enum { N = 20000, BIG = 300000 };
    char *big = malloc(BIG);
    REQUIRE(big != NULL);
    for (size_t i = 0; i < BIG; i++) {
        big[i] = (char)('a' + i % 26);
    }
    struct ioc_batch *b = ioc_batch_new();
    REQUIRE(b != NULL);
    char raw[512], id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "e%d", i);
        int n = snprintf(raw, sizeof raw, "{\"id\":\"%s\",\"pad\":\"%*s\"}", id, i % 300, "");
        if (i == N / 2) {
            /* An oversized record in the middle gets a chunk of its own. */
            CHECK_EQ_INT(add_event(b, id, big, BIG), 0);
        } else {
            CHECK_EQ_INT(add_event(b, id, raw, (size_t)n), 0);
        }
    }
    free(big);
    CHECK_EQ_INT(ioc_batch_size(b), N);
    struct results r = {0};
    struct slot sl = {&r, 0};
    submit(&fx, b, &sl);
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r.status[0], 0);
    fx_close(&fx);

    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM events"), N);
    CHECK_EQ_INT(q_int(fx.path, "SELECT length(raw) FROM events WHERE eid = 'e10000'"), BIG);
    CHECK_Q(fx.path, "SELECT substr(raw, 27, 3) FROM events WHERE eid = 'e10000'", "abc");
    CHECK_Q(fx.path, "SELECT raw FROM events WHERE eid = 'e301'",
            "{\"id\":\"e301\",\"pad\":\" \"}");
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM events WHERE raw NOT LIKE"
                                " '{\"id\":\"' || eid || '\",%' AND eid != 'e10000'"),
                 0);
    fx_cleanup(&fx);
}

/* The checkpointer copies the WAL into the database while the store is
 * open, beside the writer: once about a thousand pages are in the WAL, the
 * database file grows without the writer having to checkpoint (which it
 * does only past a few thousand pages). */
TEST(checkpoints_run_beside_the_writer)
{
    struct fixture fx;
    fx_open_opts(&fx, true, 64);
    struct stat st0;
    REQUIRE(stat(fx.path, &st0) == 0);
    static char raw[2000];
    memset(raw, 'x', sizeof raw);
    enum { BATCHES = 30, PER = 100 };
    struct results *r = calloc(1, sizeof(*r));
    struct slot *slots = calloc(BATCHES, sizeof(*slots));
    REQUIRE(r && slots);
    char id[32];
    for (int i = 0; i < BATCHES; i++) {
        struct ioc_batch *b = ioc_batch_new();
        REQUIRE(b);
        for (int k = 0; k < PER; k++) {
            snprintf(id, sizeof id, "e%d-%d", i, k);
            REQUIRE(add_event(b, id, raw, sizeof raw) == 0);
        }
        slots[i] = (struct slot){r, i};
        submit(&fx, b, &slots[i]);
        uv_run(&fx.loop, UV_RUN_NOWAIT);
    }
    CHECK_EQ_INT(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(r->n, BATCHES);
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", fx.path);
    struct stat sw, sd;
    REQUIRE(stat(wal, &sw) == 0);
    /* Below the writer's own threshold (4000 pages of 4 KiB and a header). */
    long long frames = (long long)(sw.st_size - 32) / (4096 + 24);
    CHECK(frames < 4000);
    /* The checkpointer works on its own time: give it a moment. */
    for (int i = 0; i < 500; i++) {
        REQUIRE(stat(fx.path, &sd) == 0);
        if (sd.st_size > st0.st_size + 1024 * 1024) {
            break;
        }
        usleep(10000);
    }
    CHECK(sd.st_size > st0.st_size + 1024 * 1024);
    fx_close(&fx);
    CHECK_EQ_INT(q_int(fx.path, "SELECT count(*) FROM events"), BATCHES * PER);
    free(slots);
    free(r);
    fx_cleanup(&fx);
}
