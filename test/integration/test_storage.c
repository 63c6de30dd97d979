/*
 * test_storage.c — the database refuses writes for a while: the engine holds
 * what it accepted, raises system.storage on the consoles at once, keeps
 * matching, and writes everything, in order, once the database takes writes
 * again; nothing accepted is lost.
 *
 * The fault is real: a second SQLite connection holds the write lock (as a
 * backup tool or a stuck process would), so the writer thread's transactions
 * fail with SQLITE_BUSY after their busy timeout.
 */
#include "harness.h"

static void lock_db(const char *path, sqlite3 **h)
{
    REQUIRE(sqlite3_open(path, h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(*h, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
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

TEST(a_locked_database_holds_events_raises_system_storage_and_resumes)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    sqlite3 *lock;
    lock_db(d.db, &lock);
    char buf[512];
    for (int i = 0; i < 50; i++) {
        int n = snprintf(buf, sizeof buf,
                         "{\"id\":\"st-%d\",\"source\":\"sensor\",\"type\":\"water_level\","
                         "\"ts\":%lld,\"device\":\"S%d\",\"zone\":\"Z1\",\"value\":1.8}",
                         i, 1770746400000LL + i * 1000LL, i % 5);
        iocd_send(&d, buf, (size_t)n);
    }
    /* The consoles hear of it while the database is still locked. */
    cJSON *m = wait_change(&d, "system.storage", "opened", 20000);
    REQUIRE(m);
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "incident"), "grade")->valueint, 2);
    cJSON_Delete(m);
    /* Matching went on meanwhile: the engine still counts what it accepts. */
    char cmd[256], out[4096];
    snprintf(cmd, sizeof cmd, "%s status --endpoint tcp://127.0.0.1:%d", IOC_BIN,
             d.control_port);
    FILE *p = popen(cmd, "r");
    size_t used = fread(out, 1, sizeof out - 1, p);
    out[used] = 0;
    pclose(p);
    CHECK_CONTAINS(out, "accepted: 5");
    /* The lock goes; everything held is written, and the incident resolves. */
    REQUIRE(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(lock);
    m = wait_change(&d, "system.storage", "resolved", 30000);
    CHECK(m != NULL);
    cJSON_Delete(m);
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid LIKE 'st-%'", 50, 10000),
                 50);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(DISTINCT eid) FROM events WHERE eid LIKE 'st-%'"),
                 50);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level'"), 5);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = 'updated'"),
                 45);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'system.storage' "
                                 "AND state IN ('resolved', 'closed')"),
                 1);
    iocd_close(&d);
}
