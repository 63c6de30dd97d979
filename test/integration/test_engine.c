/*
 * test_engine.c — the engine in-process over small streams, as `ioc replay
 * --local` runs it, with rules written for each case; the database file is
 * what the assertions read.
 */
#include <sqlite3.h>
#include <unistd.h>

#include "harness.h"
#include "ioc/engine.h"

struct run {
    char dir[64], rules[128], events[128], db[128];
    struct ioc_engine_stats st;
    struct ioc_diag diag;
    int rc;
};

static void run(struct run *r, const char *rules, const char *events)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/ioc-eng-XXXXXX");
    REQUIRE(mkdtemp(r->dir));
    snprintf(r->rules, sizeof r->rules, "%s/rules.yaml", r->dir);
    snprintf(r->events, sizeof r->events, "%s/events.jsonl", r->dir);
    snprintf(r->db, sizeof r->db, "%s/t.db", r->dir);
    h_write(r->rules, rules);
    h_write(r->events, events);
    ioc_diag_init(&r->diag);
    struct ioc_config *cfg = NULL;
    REQUIRE(ioc_config_load(NULL, &cfg, &r->diag) == 0);
    const char *paths[] = {r->rules};
    REQUIRE(ioc_config_set_rules(cfg, paths, 1) == 0);
    REQUIRE(ioc_config_set_str(&cfg->store.path, r->db) == 0);
    double secs;
    r->rc = ioc_engine_run_file(cfg, r->events, &r->st, &secs, &r->diag);
    ioc_config_free(cfg);
}

static void run_done(struct run *r)
{
    ioc_diag_close(&r->diag);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    CHECK(system(cmd) == 0);
}

#define C(id, min, zone)                                                                           \
    "{\"id\":\"" id "\",\"source\":\"complaint\",\"type\":\"water_outage\",\"channel\":\"app\","   \
    "\"ts\":\"2026-02-11T10:" min ":00+07:00\",\"zone\":\"" zone "\"}\n"

static const char count_rules[] =
    "rules:\n"
    "  - id: water.outage.cluster\n"
    "    title: \"${count} water-outage complaints in ${zone}\"\n"
    "    when: source == \"complaint\" && type == \"water_outage\"\n"
    "    key: [zone]\n"
    "    count: {window: 30m, min: 3}\n"
    "    grade: {by: count, bands: [{ge: 3, grade: 3}, {ge: 5, grade: 2}]}\n";

TEST(count_opens_at_min_within_window)
{
    struct run r;
    run(&r, count_rules, C("c1", "00", "Z1") C("c2", "10", "Z1") C("c3", "20", "Z1"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.opened, 1);
    char *title = h_sql_text(r.db, "SELECT title FROM incidents");
    CHECK_STR(title, "3 water-outage complaints in Z1");
    free(title);
    run_done(&r);
}

TEST(count_too_spread_out_opens_nothing)
{
    struct run r;
    /* 00, 20, 40: never three within 30 minutes. */
    run(&r, count_rules, C("c1", "00", "Z1") C("c2", "20", "Z1") C("c3", "40", "Z1"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.opened, 0);
    run_done(&r);
}

TEST(count_keys_are_separate_and_grade_rises)
{
    struct run r;
    run(&r, count_rules,
        C("a1", "00", "Z1") C("b1", "01", "Z2") C("a2", "02", "Z1") C("b2", "03", "Z2")
            C("a3", "04", "Z1") C("a4", "05", "Z1") C("a5", "06", "Z1"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.opened, 1);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT grade FROM incidents WHERE zone = 'Z1'"), 2);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT count(*) FROM incident_log WHERE action = 'graded'"), 1);
    run_done(&r);
}

TEST(count_distinct_devices)
{
    struct run r;
    run(&r,
        "rules:\n"
        "  - id: cams.offline\n"
        "    when: source == \"cctv\" && type == \"camera_offline\"\n"
        "    key: [zone]\n"
        "    count: {window: 10m, min: 2, distinct: device}\n"
        "    grade: 3\n",
        "{\"id\":\"1\",\"source\":\"cctv\",\"type\":\"camera_offline\",\"device\":\"C1\","
        "\"score\":1,\"zone\":\"Z1\",\"ts\":\"2026-02-11T10:00:00+07:00\"}\n"
        "{\"id\":\"2\",\"source\":\"cctv\",\"type\":\"camera_offline\",\"device\":\"C1\","
        "\"score\":1,\"zone\":\"Z1\",\"ts\":\"2026-02-11T10:01:00+07:00\"}\n"
        "{\"id\":\"3\",\"source\":\"cctv\",\"type\":\"camera_offline\",\"device\":\"C2\","
        "\"score\":1,\"zone\":\"Z1\",\"ts\":\"2026-02-11T10:02:00+07:00\"}\n");
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.opened, 1);
    /* Opened by the third event: the first two were the same camera. */
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT opened FROM incidents"), 1770778920000LL);
    run_done(&r);
}

#define P(id, min, v)                                                                              \
    "{\"id\":\"" id "\",\"source\":\"sensor\",\"type\":\"pressure\",\"device\":\"P1\","            \
    "\"zone\":\"Z1\",\"ts\":\"2026-02-11T10:" min ":00+07:00\",\"value\":" v "}\n"

TEST(aggregate_average_bands)
{
    struct run r;
    run(&r,
        "rules:\n"
        "  - id: pressure.avg.low\n"
        "    title: \"Average pressure ${avg} bar at ${device}\"\n"
        "    when: source == \"sensor\" && type == \"pressure\"\n"
        "    key: [device]\n"
        "    aggregate: {fn: avg, field: value, window: 15m}\n"
        "    grade: {by: avg, bands: [{le: 1.5, grade: 3}, {le: 1.0, grade: 2}]}\n",
        P("p1", "00", "3.0") P("p2", "05", "1.0") P("p3", "10", "0.5") P("p4", "20", "0.8")
            P("p5", "25", "0.9"));
    REQUIRE(r.rc == 0);
    /* The window is (t - 15m, t]: avg 3.0, 2.0, 1.5 (opens, grade 3), then
     * (0.5 + 0.8) / 2 = 0.65 (grade 2), then (0.8 + 0.9) / 2 = 0.85: the
     * title follows the latest average while the grade stays at 2. */
    CHECK_EQ_INT(r.st.opened, 1);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT grade FROM incidents"), 2);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT opened FROM incidents"), 1770779400000LL);
    char *title = h_sql_text(r.db, "SELECT title FROM incidents");
    CHECK_STR(title, "Average pressure 0.85 bar at P1");
    free(title);
    run_done(&r);
}

TEST(rule_errors_are_all_reported_with_positions)
{
    struct run r;
    run(&r,
        "rules:\n"
        "  - id: a.rule\n"
        "    when: source == \"sensor\"\n"
        "    count: {window: 10x, min: 0}\n"
        "    grade: 2\n"
        "  - id: a.rule\n"
        "    when: source == \"sensor\" && value >\n"
        "    aggregate: {fn: median, field: value, window: 5m}\n"
        "    grade: {by: value, bands: [{ge: 1, grade: 9}]}\n"
        "    colour: red\n",
        "");
    CHECK(r.rc != 0);
    char all[4096] = "";
    for (size_t i = 0; i < r.diag.n; i++) {
        strncat(all, r.diag.msgs[i], sizeof all - strlen(all) - 2);
        strcat(all, "\n");
    }
    fputs(all, stderr);
    CHECK_CONTAINS(all, "rules.yaml:4:21: expected a duration");
    CHECK_CONTAINS(all, "rules.yaml:4:31: count: min must be at least 1");
    CHECK_CONTAINS(all, "rules.yaml:6:9: duplicate rule id 'a.rule'");
    CHECK_CONTAINS(all, "rules.yaml:7:"); /* expression */
    CHECK_CONTAINS(all, "median");
    CHECK_CONTAINS(all, "rules.yaml:9:"); /* grade out of range */
    CHECK_CONTAINS(all, "rules.yaml:10:5: unknown key 'colour'");
    run_done(&r);
}

TEST(rules_are_indexed_by_source_and_type)
{
    /* 300 rules on other types cost nothing for this stream: the matches and
     * incidents are those of the one rule that can match. */
    char *rules = malloc(1 << 16);
    size_t n = (size_t)snprintf(rules, 1 << 16, "%s", count_rules);
    for (int i = 0; i < 300; i++) {
        n += (size_t)snprintf(rules + n, (1 << 16) - n,
                              "  - id: other.r%d\n    when: source == \"sensor\" && type == "
                              "\"t%d\"\n    grade: 4\n",
                              i, i);
    }
    struct run r;
    run(&r, rules, C("c1", "00", "Z1") C("c2", "10", "Z1") C("c3", "20", "Z1"));
    free(rules);
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.rules, 301);
    CHECK_EQ_INT(r.st.matches, 3);
    CHECK_EQ_INT(r.st.opened, 1);
    run_done(&r);
}

#define EV(id, src, type, min, extra)                                                              \
    "{\"id\":\"" id "\",\"source\":\"" src "\",\"type\":\"" type                                   \
    "\",\"ts\":\"2026-02-11T10:" min ":00+07:00\"," extra "}\n"
#define SMOKE(id, min, score)                                                                      \
    EV(id, "cctv", "smoke", min, "\"device\":\"CAM1\",\"zone\":\"Z6\",\"score\":" score)
#define FIRE(id, min) EV(id, "complaint", "fire", min, "\"channel\":\"line\",\"zone\":\"Z6\"")

static const char seq_rules[] =
    "rules:\n"
    "  - id: fire.confirmed\n"
    "    title: \"Smoke confirmed by a citizen in ${zone}\"\n"
    "    key: [zone]\n"
    "    sequence:\n"
    "      within: 10m\n"
    "      steps:\n"
    "        - when: source == \"cctv\" && type == \"smoke\" && score >= 0.8\n"
    "        - when: source == \"complaint\" && type == \"fire\"\n"
    "    grade: 1\n";

TEST(sequence_in_order_within_the_bound_opens)
{
    struct run r;
    run(&r, seq_rules, SMOKE("s1", "00", "0.9") FIRE("f1", "05"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.opened, 1);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT opened FROM incidents"), 1770779100000LL);
    run_done(&r);
}

TEST(sequence_wrong_order_too_late_or_too_weak_opens_nothing)
{
    struct run r;
    run(&r, seq_rules,
        FIRE("f0", "00") SMOKE("s1", "01", "0.9")      /* wrong order */
            SMOKE("s2", "20", "0.5") FIRE("f2", "21")  /* too weak */
            SMOKE("s3", "30", "0.9") FIRE("f3", "45")); /* 15 minutes: too late */
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.opened, 0);
    run_done(&r);
}

#define LVL(id, min, dev, v)                                                                       \
    EV(id, "sensor", "water_level", min,                                                           \
       "\"device\":\"" dev "\",\"zone\":\"Z1\",\"value\":" v ",\"unit\":\"m\"")

static const char absent_rules[] = "rules:\n"
                                   "  - id: sensor.silent\n"
                                   "    title: \"No data from ${device} for 15 minutes\"\n"
                                   "    when: source == \"sensor\"\n"
                                   "    key: [device]\n"
                                   "    absent: {for: 15m}\n"
                                   "    grade: 4\n";

TEST(absent_fires_at_its_due_event_time)
{
    struct run r;
    /* F1 reports at 00 and 05, then falls silent; F2 goes on until 40. */
    run(&r, absent_rules,
        LVL("a", "00", "F1", "0.5") LVL("b", "00", "F2", "0.5") LVL("c", "05", "F1", "0.5")
            LVL("d", "10", "F2", "0.5") LVL("e", "20", "F2", "0.5") LVL("f", "30", "F2", "0.5")
                LVL("g", "40", "F2", "0.5"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(r.st.opened, 1);
    /* Due at 10:05 + 15m = 10:20, an event time, not the time it was noticed. */
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT opened FROM incidents WHERE key LIKE '%F1%'"),
                 1770780000000LL);
    char *title = h_sql_text(r.db, "SELECT title FROM incidents");
    CHECK_STR(title, "No data from F1 for 15 minutes");
    free(title);
    run_done(&r);
}

TEST(absent_not_due_before_the_end_of_the_stream_stays_quiet)
{
    struct run r;
    run(&r, absent_rules, LVL("a", "00", "F1", "0.5") LVL("b", "10", "F2", "0.5"));
    REQUIRE(r.rc == 0);
    /* The replay's clock stops at 10:10; F1 would be due at 10:15. */
    CHECK_EQ_INT(r.st.opened, 0);
    run_done(&r);
}

TEST(resolve_quiet_and_resolve_when_for)
{
    struct run r;
    run(&r,
        "rules:\n"
        "  - id: flood.level\n"
        "    when: source == \"sensor\" && type == \"water_level\" && value >= 1.5\n"
        "    key: [device]\n"
        "    grade: 3\n"
        "    resolve: {when: \"value < 1.2\", for: 10m}\n"
        "  - id: level.quiet\n"
        "    when: source == \"sensor\" && type == \"water_level\" && value >= 3\n"
        "    key: [device]\n"
        "    grade: 1\n"
        "    resolve: {quiet: 5m}\n",
        LVL("a", "00", "F1", "1.6") LVL("b", "01", "F2", "3.1") LVL("c", "02", "F1", "1.0")
            LVL("d", "05", "F1", "1.3") /* interrupts: 1.3 is not below 1.2 */
            LVL("e", "06", "F1", "1.1") LVL("f", "16", "F1", "1.0") LVL("g", "20", "F1", "1.7"));
    REQUIRE(r.rc == 0);
    /* F1 resolved at 10:16 (below 1.2 since 10:06) and, matching again at
     * 10:20 within engine.reopen_within, reopened as the same incident;
     * F2's level.quiet resolved at 10:06, five quiet minutes after 10:01,
     * while its flood.level incident stays open. */
    CHECK_EQ_INT(r.st.resolved, 2);
    CHECK_EQ_INT(r.st.opened, 3);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT count(*) FROM incident_log WHERE action = 'reopened'"),
                 1);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT ts FROM incident_log WHERE action = 'resolved' AND "
                                 "incident_id = (SELECT id FROM incidents WHERE rule = "
                                 "'flood.level' ORDER BY id LIMIT 1)"),
                 1770779760000LL);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT ts FROM incident_log WHERE action = 'resolved' AND "
                                 "incident_id = (SELECT id FROM incidents WHERE rule = "
                                 "'level.quiet')"),
                 1770779160000LL);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT count(*) FROM incidents WHERE state = 'open'"), 2);
    run_done(&r);
}

TEST(inhibits_records_but_does_not_publish)
{
    struct run r;
    run(&r,
        "rules:\n"
        "  - id: flood.level\n"
        "    when: source == \"sensor\" && type == \"water_level\" && value >= 1.5\n"
        "    key: [device]\n"
        "    grade: 3\n"
        "  - id: flood.zone\n"
        "    when: source == \"sensor\" && type == \"water_level\" && value >= 2.5\n"
        "    key: [zone]\n"
        "    grade: 1\n"
        "    inhibits: [flood.level]\n",
        LVL("a", "00", "F1", "1.6") LVL("b", "01", "F2", "2.6") LVL("c", "02", "F1", "1.8"));
    REQUIRE(r.rc == 0);
    /* F1's update at 10:02 and F2's opening at 10:01 happen while the zone
     * incident is open: recorded, not published. */
    CHECK_EQ_INT(r.st.changes, 4);
    CHECK_EQ_INT(r.st.inhibited, 2);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT count(*) FROM incident_log"), 4);
    run_done(&r);
}

TEST(unknown_inhibited_rule_and_two_clauses_are_errors)
{
    struct run r;
    run(&r,
        "rules:\n"
        "  - id: a.rule\n"
        "    when: source == \"sensor\"\n"
        "    absent: {for: 5m}\n"
        "    count: {window: 5m, min: 2}\n"
        "    grade: 2\n"
        "  - id: b.rule\n"
        "    when: source == \"sensor\"\n"
        "    grade: 2\n"
        "    inhibits: [no.such.rule]\n",
        "");
    CHECK(r.rc != 0);
    char all[2048] = "";
    for (size_t i = 0; i < r.diag.n; i++) {
        strncat(all, r.diag.msgs[i], sizeof all - strlen(all) - 2);
        strcat(all, "\n");
    }
    CHECK_CONTAINS(all, "rules.yaml:5:5: a rule has at most one correlation clause");
    CHECK_CONTAINS(all, "rules.yaml:10:16: inhibits: unknown rule 'no.such.rule'");
    run_done(&r);
}

static const char all_rules[] =
    "rules:\n"
    "  - id: flood.level\n"
    "    when: source == \"sensor\" && type == \"water_level\" && value >= 1.5\n"
    "    key: [device]\n"
    "    grade: {by: value, bands: [{ge: 1.5, grade: 3}, {ge: 2.0, grade: 2}]}\n"
    "  - id: flood.district\n"
    "    title: \"Flood in ${zone}: sensors and citizens agree\"\n"
    "    key: [zone]\n"
    "    all:\n"
    "      within: 1h\n"
    "      of:\n"
    "        - incident: flood.level\n"
    "          grade: {le: 2}\n"
    "        - when: source == \"complaint\" && type == \"flooding\"\n"
    "          count: 2\n"
    "    near: 500m\n"
    "    grade: 1\n";

#define GAUGE(id, min, v)                                                                          \
    EV(id, "sensor", "water_level", min,                                                           \
       "\"device\":\"G1\",\"zone\":\"Z2\",\"value\":" v ",\"loc\":{\"lat\":13.7500,\"lon\":100.5000}")
#define FLOODING(id, min, lat)                                                                     \
    EV(id, "complaint", "flooding", min,                                                           \
       "\"channel\":\"traffy\",\"zone\":\"Z2\",\"loc\":{\"lat\":" lat ",\"lon\":100.5000}")

TEST(all_members_within_the_window_and_near)
{
    struct run r;
    /* Two complaints 200 m from the gauge, then the gauge reaches grade 2. */
    run(&r, all_rules,
        FLOODING("c1", "00", "13.7518") FLOODING("c2", "10", "13.7518") GAUGE("g1", "20", "1.6")
            GAUGE("g2", "30", "2.1"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.district'"),
                 1);
    /* Not at 10:20 (grade 3 is too weak), at 10:30 when the gauge reached 2. */
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT opened FROM incidents WHERE rule = 'flood.district'"),
                 1770780600000LL);
    run_done(&r);
}

TEST(all_too_far_apart_or_too_few_opens_nothing)
{
    struct run r;
    /* 2 km away: not near. */
    run(&r, all_rules,
        FLOODING("c1", "00", "13.7700") FLOODING("c2", "10", "13.7700") GAUGE("g1", "20", "2.1"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.district'"),
                 0);
    run_done(&r);
    /* One complaint only. */
    run(&r, all_rules, FLOODING("c1", "00", "13.7518") GAUGE("g1", "20", "2.1"));
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(h_sql_int(r.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.district'"),
                 0);
    run_done(&r);
}
