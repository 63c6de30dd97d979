/*
 * test_cityday.c — the recorded city day through the shipped rules.
 *
 * The day (test/data/city-day.jsonl) was generated with injected scenarios
 * and a ground-truth file of the incidents they must produce
 * (city-day.truth.jsonl). The engine runs in-process over the file, exactly
 * as `ioc replay --local` does, and every truth line whose rule is shipped
 * must be met in the database: an incident of that rule and key that
 * reached at least that grade no later than the truth's time.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ioc/engine.h"
#include "ioc/event.h"
#include "test.h"

static char db_path[256];

static void run_day(struct ioc_engine_stats *st)
{
    char dir[] = "/tmp/ioc-e2e-XXXXXX";
    REQUIRE(mkdtemp(dir));
    snprintf(db_path, sizeof db_path, "%s/day.db", dir);
    struct ioc_diag d;
    ioc_diag_init(&d);
    struct ioc_config *cfg = NULL;
    REQUIRE(ioc_config_load(NULL, &cfg, &d) == 0);
    const char *rules = IOC_SOURCE_DIR "/rules";
    REQUIRE(ioc_config_set_rules(cfg, &rules, 1) == 0);
    REQUIRE(ioc_config_set_str(&cfg->store.path, db_path) == 0);
    double secs = 0;
    int rc = ioc_engine_run_file(cfg, IOC_SOURCE_DIR "/test/data/city-day.jsonl", st, &secs, &d);
    ioc_diag_print(&d, stderr);
    REQUIRE(rc == 0);
    ioc_diag_close(&d);
    ioc_config_free(cfg);
}

static long long q_int(sqlite3 *db, const char *sql, const char *a, const char *b, int c)
{
    sqlite3_stmt *st;
    long long v = -1;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    if (a) {
        sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    }
    if (b) {
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    }
    if (c) {
        sqlite3_bind_int(st, 3, c);
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

TEST(every_injected_incident_is_found_in_time)
{
    struct ioc_engine_stats st;
    setenv("TZ", "Asia/Bangkok", 1);
    run_day(&st);
    CHECK_EQ_INT(st.rejected, 3);
    CHECK_EQ_INT(st.rejected_json, 1);
    CHECK_EQ_INT(st.rejected_source, 1);
    sqlite3 *db;
    REQUIRE(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    FILE *f = fopen(IOC_SOURCE_DIR "/test/data/city-day.truth.jsonl", "r");
    REQUIRE(f);
    char line[4096];
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *t = cJSON_Parse(line);
        REQUIRE(t);
        const char *rule = cJSON_GetObjectItem(t, "rule")->valuestring;
        char *key = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "key"));
        int grade = cJSON_GetObjectItem(t, "grade")->valueint;
        int64_t at = 0;
        REQUIRE(ioc_time_parse(cJSON_GetObjectItem(t, "at")->valuestring, &at) == 0);
        {
            /* When did an incident of that rule and key first reach the grade? */
            long long when = q_int(db,
                                   "SELECT min(l.ts) FROM incident_log l JOIN incidents i ON "
                                   "i.id = l.incident_id WHERE i.rule = ?1 AND i.key = ?2 AND "
                                   "l.grade <= ?3",
                                   rule, key, grade);
            if (when < 0 || when > at) {
                fprintf(stderr, "truth not met: %s %s grade %d by %s (got %lld)\n", rule, key,
                        grade, cJSON_GetObjectItem(t, "at")->valuestring, when);
            }
            CHECK(when > 0 && when <= at);
            checked++;
        }
        free(key);
        cJSON_Delete(t);
    }
    fclose(f);
    CHECK_EQ_INT(checked, 12);
    /* The flood scenario also meets the district rule: gauge FL-Z02-01 at
     * grade 2 or worse and residents' reports near it, in the afternoon. */
    long long district = q_int(db,
                               "SELECT opened FROM incidents WHERE rule = 'flood.district' AND "
                               "key = ?1",
                               "{\"zone\":\"Z02\"}", NULL, 0);
    int64_t from, to;
    REQUIRE(ioc_time_parse("2026-02-11T15:30:00+07:00", &from) == 0);
    REQUIRE(ioc_time_parse("2026-02-11T17:00:00+07:00", &to) == 0);
    CHECK(district >= from && district <= to);
    sqlite3_close(db);
}

TEST(the_day_gives_the_same_incidents_every_run)
{
    struct ioc_engine_stats a, b;
    setenv("TZ", "Asia/Bangkok", 1);
    run_day(&a);
    char first[256];
    snprintf(first, sizeof first, "%s", db_path);
    run_day(&b);
    CHECK_EQ_INT(a.opened, b.opened);
    CHECK_EQ_INT(a.changes, b.changes);
    CHECK_EQ_INT(a.accepted, 5627);
    /* Same incidents, grades, counts and times, row for row. */
    sqlite3 *db;
    REQUIRE(sqlite3_open(first, &db) == SQLITE_OK);
    char sql[512];
    snprintf(sql, sizeof sql, "ATTACH '%s' AS b", db_path);
    REQUIRE(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    long long diff = q_int(db,
                           "SELECT count(*) FROM (SELECT rule, key, grade, state, opened, "
                           "updated, count, title FROM main.incidents EXCEPT SELECT rule, key, "
                           "grade, state, opened, updated, count, title FROM b.incidents)",
                           NULL, NULL, 0);
    CHECK_EQ_INT(diff, 0);
    CHECK(q_int(db, "SELECT count(*) FROM main.incidents", NULL, NULL, 0) == (long long)a.opened);
    sqlite3_close(db);
}
