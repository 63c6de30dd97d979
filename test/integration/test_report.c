/*
 * test_report.c — `ioc report` against a database written by hand, so every
 * figure of the report is checked against a computation done on paper.
 *
 * The database gets the store's own tables (ioc_db_create) and rows the test
 * inserts itself, the way the engine would have logged them: the report must
 * not depend on the engine producing a given history. Five incidents in
 * Asia/Bangkok (the embedded default zone, shifts 06:00, 14:00, 22:00):
 *
 *   id rule         grade opened (+07:00)  first ack  first resolve  breach  escalated
 *   1  flood.level  1     02-11 08:00      +270 s     +3720 s        no      2
 *   2  flood.level  2     02-11 10:00      +1200 s    +7200 s        yes     1
 *   3  traffic.jam  2     02-11 23:30      +90 s      -              no      0
 *   4  traffic.jam  1     02-12 03:00      -          -              yes     0
 *   5  flood.level  3     02-12 14:00:00   +0.5 s     +1800 s        no      0
 *
 * Incident 1 also has a later second acknowledgement and, after a reopen, a
 * second resolution: only the first of each counts. Incident 4 opened after
 * midnight, so it belongs to the 22:00-06:00 shift of the day before;
 * incident 5 opened exactly at a shift start.
 */
#include <math.h>
#include <sqlite3.h>

#include <cjson/cJSON.h>

#include "ioc/event.h"
#include "ioc/store.h"

#include "support.h"
#include "test.h"

#define T 30.0 /* seconds any one child may take */

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    REQUIRE(ioc_time_parse(rfc3339, &ms) == 0);
    return ms;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sql: %s\n%s\n", msg ? msg : "?", sql);
        REQUIRE(0);
    }
}

static void add_incident(sqlite3 *db, int id, const char *rule, int grade, const char *opened)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO incidents(id, rule, key, zone, title, state, grade, opened, updated,"
             " count, fields) VALUES(%d, '%s', '{}', 'Z1', 't', 'open', %d, %lld, %lld, 1, '{}')",
             id, rule, grade, (long long)at(opened), (long long)at(opened));
    exec_sql(db, sql);
}

static void add_log(sqlite3 *db, int id, const char *ts, const char *action)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO incident_log(incident_id, ts, action, actor, grade)"
             " VALUES(%d, %lld, '%s', 'engine', 1)",
             id, (long long)at(ts), action);
    exec_sql(db, sql);
}

/* Writes the database of the table above into dir; returns its path. */
static char *make_db(const char *dir)
{
    char *path = test_path(dir, "ioc.db");
    char err[256] = "";
    REQUIRE(ioc_db_create(path, err, sizeof err) == 0);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    exec_sql(db, "BEGIN");

    add_incident(db, 1, "flood.level", 1, "2026-02-11T08:00:00+07:00");
    add_log(db, 1, "2026-02-11T08:00:00+07:00", "opened");
    add_log(db, 1, "2026-02-11T08:00:00+07:00", "escalated");
    add_log(db, 1, "2026-02-11T08:01:00+07:00", "graded");
    add_log(db, 1, "2026-02-11T08:02:00+07:00", "escalated");
    add_log(db, 1, "2026-02-11T08:04:30+07:00", "acknowledged");
    add_log(db, 1, "2026-02-11T08:10:00+07:00", "acknowledged");
    add_log(db, 1, "2026-02-11T09:02:00+07:00", "resolved");
    add_log(db, 1, "2026-02-11T09:30:00+07:00", "reopened");
    add_log(db, 1, "2026-02-11T10:00:00+07:00", "resolved");
    add_log(db, 1, "2026-02-11T10:05:00+07:00", "closed");

    add_incident(db, 2, "flood.level", 2, "2026-02-11T10:00:00+07:00");
    add_log(db, 2, "2026-02-11T10:00:00+07:00", "opened");
    add_log(db, 2, "2026-02-11T10:10:00+07:00", "escalated");
    add_log(db, 2, "2026-02-11T10:15:00+07:00", "sla_breached");
    add_log(db, 2, "2026-02-11T10:20:00+07:00", "acknowledged");
    add_log(db, 2, "2026-02-11T10:30:00+07:00", "commented");
    add_log(db, 2, "2026-02-11T12:00:00+07:00", "resolved");

    add_incident(db, 3, "traffic.jam", 2, "2026-02-11T23:30:00+07:00");
    add_log(db, 3, "2026-02-11T23:30:00+07:00", "opened");
    add_log(db, 3, "2026-02-11T23:31:00+07:00", "updated");
    add_log(db, 3, "2026-02-11T23:31:30+07:00", "acknowledged");

    add_incident(db, 4, "traffic.jam", 1, "2026-02-12T03:00:00+07:00");
    add_log(db, 4, "2026-02-12T03:00:00+07:00", "opened");
    add_log(db, 4, "2026-02-12T03:00:00+07:00", "warning_pending");
    add_log(db, 4, "2026-02-12T03:05:00+07:00", "sla_breached");

    add_incident(db, 5, "flood.level", 3, "2026-02-12T14:00:00+07:00");
    add_log(db, 5, "2026-02-12T14:00:00+07:00", "opened");
    add_log(db, 5, "2026-02-12T14:00:00.500+07:00", "acknowledged");
    add_log(db, 5, "2026-02-12T14:30:00+07:00", "resolved");

    exec_sql(db, "COMMIT");
    sqlite3_close(db);
    return path;
}

/* The expected figures of one row; mtta/mttr < 0 mean null (no data). */
struct want {
    long long incidents, acked;
    double mtta;
    long long resolved;
    double mttr;
    long long breaches, escalations;
};

static void check_num(const cJSON *o, const char *name, double want, const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    bool ok = want < 0 ? cJSON_IsNull(v) : cJSON_IsNumber(v) && fabs(v->valuedouble - want) < 1e-9;
    if (!ok) {
        char *text = v ? cJSON_PrintUnformatted(v) : NULL;
        fprintf(stderr, "%s.%s: got %s, want %g\n", where, name, text ? text : "(missing)", want);
        cJSON_free(text);
    }
    CHECK(ok);
}

static void check_row(const cJSON *o, const struct want *w, const char *where)
{
    REQUIRE(cJSON_IsObject(o));
    check_num(o, "incidents", (double)w->incidents, where);
    check_num(o, "acknowledged", (double)w->acked, where);
    check_num(o, "mtta_s", w->mtta, where);
    check_num(o, "resolved", (double)w->resolved, where);
    check_num(o, "mttr_s", w->mttr, where);
    check_num(o, "sla_breaches", (double)w->breaches, where);
    check_num(o, "escalations", (double)w->escalations, where);
}

/* The element of array whose member key has the string value, or NULL. */
static const cJSON *find(const cJSON *array, const char *key, const char *value)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, array)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, key);
        if (cJSON_IsString(k) && strcmp(k->valuestring, value) == 0) {
            return e;
        }
    }
    return NULL;
}

static const cJSON *find_grade(const cJSON *array, int grade)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, array)
    {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(e, "grade");
        if (cJSON_IsNumber(g) && g->valueint == grade) {
            return e;
        }
    }
    return NULL;
}

/* Runs ioc report --format json with the extra arguments; returns the object. */
static cJSON *report_json(const char *db, const char *a1, const char *a2, const char *a3,
                          const char *a4)
{
    struct run_result r;
    char *argv[] = {IOC_BIN,    "report",   "--db",     (char *)db, "--format", "json",
                    (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    run_argv(&r, T, NULL, argv);
    if (r.status != 0) {
        run_result_dump("ioc report --format json", &r);
    }
    REQUIRE(r.status == 0);
    cJSON *o = cJSON_Parse(r.out);
    REQUIRE(cJSON_IsObject(o));
    run_result_free(&r);
    return o;
}

TEST(json_figures_match_hand_computation)
{
    char *dir = test_mkdtemp();
    char *db = make_db(dir);
    cJSON *o = report_json(db, NULL, NULL, NULL, NULL);

    CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "from")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "to")));
    const cJSON *grades = cJSON_GetObjectItem(o, "by_grade");
    const cJSON *rules = cJSON_GetObjectItem(o, "by_rule");
    const cJSON *shifts = cJSON_GetObjectItem(o, "by_shift");
    REQUIRE(cJSON_IsArray(grades) && cJSON_IsArray(rules) && cJSON_IsArray(shifts));

    /* Every configured grade has a row, in order, the empty one too. */
    CHECK_EQ_INT(cJSON_GetArraySize(grades), 4);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(grades, 0), "name")->valuestring, "critical");
    check_row(find_grade(grades, 1), &(struct want){2, 1, 270, 1, 3720, 1, 2}, "grade 1");
    check_row(find_grade(grades, 2), &(struct want){2, 2, 645, 1, 7200, 1, 1}, "grade 2");
    check_row(find_grade(grades, 3), &(struct want){1, 1, 0.5, 1, 1800, 0, 0}, "grade 3");
    check_row(find_grade(grades, 4), &(struct want){0, 0, -1, 0, -1, 0, 0}, "grade 4");

    /* The busiest rule first. flood.level: acks 270 + 1200 + 0.5 s over 3 is
     * 490.1666.. s, rounded to the millisecond. */
    CHECK_EQ_INT(cJSON_GetArraySize(rules), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(rules, 0), "rule")->valuestring,
              "flood.level");
    check_row(find(rules, "rule", "flood.level"), &(struct want){3, 3, 490.167, 3, 4240, 1, 3},
              "flood.level");
    check_row(find(rules, "rule", "traffic.jam"), &(struct want){2, 1, 90, 0, -1, 1, 0},
              "traffic.jam");

    CHECK_EQ_INT(cJSON_GetArraySize(shifts), 3);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(shifts, 0), "shift")->valuestring,
              "06:00-14:00");
    check_row(find(shifts, "shift", "06:00-14:00"), &(struct want){2, 2, 735, 2, 5460, 1, 3},
              "day shift");
    check_row(find(shifts, "shift", "14:00-22:00"), &(struct want){1, 1, 0.5, 1, 1800, 0, 0},
              "evening shift");
    check_row(find(shifts, "shift", "22:00-06:00"), &(struct want){2, 1, 90, 0, -1, 1, 0},
              "night shift");

    /* Acks 270 + 1200 + 90 + 0.5 over 4; resolutions 3720 + 7200 + 1800 over 3. */
    check_row(cJSON_GetObjectItem(o, "total"), &(struct want){5, 4, 390.125, 3, 4240, 2, 3},
              "total");

    cJSON_Delete(o);
    test_rmtree(dir);
    free(db);
    free(dir);
}

TEST(from_to_filter_on_opening)
{
    char *dir = test_mkdtemp();
    char *db = make_db(dir);

    /* Dates are local midnights: the 11th holds incidents 1, 2 and 3. */
    cJSON *o = report_json(db, "--from", "2026-02-11", "--to", "2026-02-12");
    CHECK_STR(cJSON_GetObjectItem(o, "from")->valuestring, "2026-02-11T00:00:00+07:00");
    CHECK_STR(cJSON_GetObjectItem(o, "to")->valuestring, "2026-02-12T00:00:00+07:00");
    check_row(cJSON_GetObjectItem(o, "total"), &(struct want){3, 3, 520, 2, 5460, 1, 3}, "11th");
    check_row(find(cJSON_GetObjectItem(o, "by_shift"), "shift", "22:00-06:00"),
              &(struct want){1, 1, 90, 0, -1, 0, 0}, "11th night");
    cJSON_Delete(o);

    /* --from is inclusive, --to exclusive, at the same instant. */
    o = report_json(db, "--from", "2026-02-12T14:00:00+07:00", NULL, NULL);
    check_row(cJSON_GetObjectItem(o, "total"), &(struct want){1, 1, 0.5, 1, 1800, 0, 0}, "from");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "to")));
    cJSON_Delete(o);
    o = report_json(db, "--to", "2026-02-12T07:00:00Z", NULL, NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "incidents")->valueint, 4);
    cJSON_Delete(o);

    /* A period with nothing in it still has every grade and shift, all empty. */
    o = report_json(db, "--from", "2030-01-01", NULL, NULL);
    check_row(cJSON_GetObjectItem(o, "total"), &(struct want){0, 0, -1, 0, -1, 0, 0}, "empty");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "by_rule")), 0);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "by_shift")), 3);
    cJSON_Delete(o);

    test_rmtree(dir);
    free(db);
    free(dir);
}

TEST(csv_header_and_rows)
{
    char *dir = test_mkdtemp();
    char *db = make_db(dir);
    struct run_result r;
    RUN(&r, T, IOC_BIN, "report", "--db", db, "--format", "csv");
    CHECK_EQ_INT(r.status, 0);
    static const char header[] =
        "section,key,incidents,acknowledged,mtta_s,resolved,mttr_s,sla_breaches,escalations\n";
    CHECK(strncmp(r.out, header, strlen(header)) == 0);
    int lines = 0;
    for (const char *p = r.out; *p; p++) {
        lines += *p == '\n';
    }
    /* Header, 4 grades, 2 rules, 3 shifts, the total. */
    CHECK_EQ_INT(lines, 1 + 4 + 2 + 3 + 1);
    CHECK_CONTAINS(r.out, "\ngrade,1,2,1,270,1,3720,1,2\n");
    CHECK_CONTAINS(r.out, "\ngrade,4,0,0,,0,,0,0\n");
    CHECK_CONTAINS(r.out, "\nrule,flood.level,3,3,490.167,3,4240,1,3\n");
    CHECK_CONTAINS(r.out, "\nshift,22:00-06:00,2,1,90,0,,1,0\n");
    CHECK_CONTAINS(r.out, "\ntotal,,5,4,390.125,3,4240,2,3\n");
    run_result_free(&r);
    test_rmtree(dir);
    free(db);
    free(dir);
}

TEST(table_has_sections_and_durations)
{
    char *dir = test_mkdtemp();
    char *db = make_db(dir);
    struct run_result r;
    RUN(&r, T, IOC_BIN, "report", "--db", db);
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "BY GRADE");
    CHECK_CONTAINS(r.out, "BY RULE");
    CHECK_CONTAINS(r.out, "BY SHIFT");
    CHECK_CONTAINS(r.out, "\nTOTAL ");
    CHECK_CONTAINS(r.out, "1 critical");
    CHECK_CONTAINS(r.out, "4m 30s");  /* grade 1's MTTA, 270 s */
    CHECK_CONTAINS(r.out, "1h 02m");  /* grade 1's MTTR, 3720 s */
    CHECK_CONTAINS(r.out, "10m 45s"); /* grade 2's MTTA, 645 s */
    CHECK_CONTAINS(r.out, "22:00-06:00");
    CHECK_CONTAINS(r.out, "Asia/Bangkok");
    if (test_failed_) {
        run_result_dump("ioc report", &r);
    }
    run_result_free(&r);
    test_rmtree(dir);
    free(db);
    free(dir);
}

TEST(config_shifts_and_timezone)
{
    char *dir = test_mkdtemp();
    char *db = make_db(dir);
    char *cfg = test_path(dir, "iocd.yaml");
    /* In UTC, incidents open at 01:00, 03:00, 16:30, 20:00 (the 11th) and
     * 07:00 (the 12th); the shifts are listed out of order on purpose. */
    REQUIRE(test_write_file(cfg, "engine: {timezone: UTC}\n"
                                 "shifts: [\"12:00\", \"0:00\"]\n") == 0);
    cJSON *o = report_json(db, "-c", cfg, NULL, NULL);
    const cJSON *shifts = cJSON_GetObjectItem(o, "by_shift");
    CHECK_EQ_INT(cJSON_GetArraySize(shifts), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(shifts, 0), "shift")->valuestring,
              "00:00-12:00");
    check_row(find(shifts, "shift", "00:00-12:00"), &(struct want){3, 3, 490.167, 3, 4240, 1, 3},
              "UTC morning");
    check_row(find(shifts, "shift", "12:00-00:00"), &(struct want){2, 1, 90, 0, -1, 1, 0},
              "UTC afternoon");
    cJSON_Delete(o);

    /* A date is midnight in the config's zone, whatever $TZ says. */
    o = report_json(db, "-c", cfg, "--from", "2026-02-11");
    CHECK_STR(cJSON_GetObjectItem(o, "from")->valuestring, "2026-02-11T00:00:00+00:00");
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "incidents")->valueint, 5);
    cJSON_Delete(o);

    test_rmtree(dir);
    free(cfg);
    free(db);
    free(dir);
}

TEST(bad_shift_time_is_positioned)
{
    char *dir = test_mkdtemp();
    char *db = make_db(dir);
    char *cfg = test_path(dir, "iocd.yaml");
    REQUIRE(test_write_file(cfg, "shifts:\n"
                                 "  - \"06:00\"\n"
                                 "  - \"25:00\"\n"
                                 "  - \"14:00\"\n"
                                 "  - \"06:00\"\n"
                                 "engine: {timezone: Asia/Bangkok}\n") == 0);
    struct run_result r;
    RUN(&r, T, IOC_BIN, "report", "--db", db, "-c", cfg);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, cfg));
    char want[512];
    snprintf(want, sizeof want, "%s:3:5: shifts: '25:00' is not a time of day", cfg);
    CHECK_CONTAINS(r.err, want);
    snprintf(want, sizeof want, "%s:5:5: shifts: 06:00 is listed twice", cfg);
    CHECK_CONTAINS(r.err, want);
    CHECK_EQ_INT(r.out_len, 0);
    run_result_free(&r);

    /* ioc check finds it too: it is the same loader. */
    RUN(&r, T, IOC_BIN, "check", cfg);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, cfg) || has_position(r.out, cfg));
    CHECK(strstr(r.err, "25:00") || strstr(r.out, "25:00"));
    run_result_free(&r);

    test_rmtree(dir);
    free(cfg);
    free(db);
    free(dir);
}

TEST(misuse_and_missing_database)
{
    char *dir = test_mkdtemp();
    char *db = make_db(dir);
    char *missing = test_path(dir, "nope.db");
    struct run_result r;

    RUN(&r, T, IOC_BIN, "report", "--help");
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "example:");
    CHECK_CONTAINS(r.out, "ioc report --db");
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "report");
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "--db");
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "report", "--db", db, "--format", "xml");
    CHECK_EQ_INT(r.status, 2);
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "report", "--db", db, "--from", "yesterday");
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "see 'ioc report --help'");
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "report", "--db", db, "--to", "2026-02-30");
    CHECK_EQ_INT(r.status, 2);
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "report", "--db", db, "--from", "2026-02-12", "--to", "2026-02-11");
    CHECK_EQ_INT(r.status, 2);
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "report", "--db", db, "extra");
    CHECK_EQ_INT(r.status, 2);
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "report", "--db", missing);
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "no database");
    run_result_free(&r);
    /* ... and asking did not create one. */
    struct stat sb;
    CHECK(stat(missing, &sb) != 0);

    test_rmtree(dir);
    free(missing);
    free(db);
    free(dir);
}
