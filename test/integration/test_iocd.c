/*
 * test_iocd.c — a real iocd process, driven through its real sockets.
 *
 * Each case starts iocd with its own config, ports and database, sends
 * events on the PULL socket as a sensor gateway would, reads what an
 * operator console reads on the PUB socket, and checks what an auditor
 * finds in the SQLite file.
 */
#include "harness.h"

#define LEVEL(id, ts, dev, v)                                                                      \
    "{\"id\":\"" id "\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":\"" ts               \
    "\",\"device\":\"" dev "\",\"zone\":\"Z3\",\"value\":" v ",\"unit\":\"m\"}"

/* The next change a rule made to an incident (opened, updated, graded),
 * passing over what the operator loop adds on its clocks (SLA breaches,
 * escalations, warnings), which other tests check. */
static cJSON *recv_change(struct iocd *d, char *topic, size_t tn)
{
    for (;;) {
        cJSON *j = iocd_recv(d, topic, tn, 10000);
        REQUIRE(j);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "change");
        if (cJSON_IsString(c) &&
            (strcmp(c->valuestring, "opened") == 0 || strcmp(c->valuestring, "updated") == 0 ||
             strcmp(c->valuestring, "graded") == 0)) {
            return j;
        }
        cJSON_Delete(j);
    }
}

static const char *jstr(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2) {
        x = cJSON_GetObjectItemCaseSensitive(x, path2);
    }
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2) {
        x = cJSON_GetObjectItemCaseSensitive(x, path2);
    }
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

TEST(opens_incident_and_publishes_after_commit)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    iocd_send(&d, LEVEL("e1", "2026-02-11T01:00:00+07:00", "F1", "2.6"),
              strlen(LEVEL("e1", "2026-02-11T01:00:00+07:00", "F1", "2.6")));
    char topic[128];
    cJSON *m = recv_change(&d, topic, sizeof topic);
    CHECK_STR(topic, "incident.1.Z3");
    CHECK_STR(jstr(m, "change", NULL), "opened");
    CHECK_STR(jstr(m, "incident", "rule"), "flood.level");
    CHECK_STR(jstr(m, "incident", "title"), "Water level 2.6 m at F1");
    CHECK_STR(jstr(m, "incident", "opened"), "2026-02-11T01:00:00+07:00");
    CHECK_EQ_INT(jnum(m, "incident", "grade"), 1);
    CHECK(jnum(m, "seq", NULL) > 0);
    const cJSON *key =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "incident"), "key");
    CHECK_STR(jstr(key, "device", NULL), "F1");
    /* Persist, then publish: the row is in the database by the time the
     * change is on the wire. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM incidents WHERE id = %d",
             (int)jnum(m, "incident", "id"));
    CHECK_EQ_INT(h_sql_int(d.db, sql), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = 'opened' "
                                 "AND incident_id = (SELECT id FROM incidents WHERE rule = "
                                 "'flood.level')"),
                 1);
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

TEST(grade_rises_and_never_falls)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    const char *evs[] = {
        LEVEL("a1", "2026-02-11T01:00:00+07:00", "F2", "1.6"),
        LEVEL("a2", "2026-02-11T01:10:00+07:00", "F2", "2.7"),
        LEVEL("a3", "2026-02-11T01:20:00+07:00", "F2", "1.6"),
    };
    const char *want[] = {"opened", "graded", "updated"};
    const int grades[] = {3, 1, 1};
    for (int i = 0; i < 3; i++) {
        iocd_send(&d, evs[i], strlen(evs[i]));
        cJSON *m = recv_change(&d, NULL, 0);
        CHECK_STR(jstr(m, "change", NULL), want[i]);
        CHECK_EQ_INT(jnum(m, "incident", "grade"), grades[i]);
        CHECK_EQ_INT(jnum(m, "incident", "count"), i + 1);
        cJSON_Delete(m);
    }
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT grade FROM incidents WHERE rule = 'flood.level'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count FROM incidents WHERE rule = 'flood.level'"), 3);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_evidence WHERE incident_id = "
                                 "(SELECT id FROM incidents WHERE rule = 'flood.level')"),
                 3);
    char *upd = h_sql_text(d.db, "SELECT updated FROM incidents WHERE rule = 'flood.level'");
    REQUIRE(upd);
    /* Incident times are event times: 01:20 +07:00 in epoch ms. */
    CHECK_STR(upd, "1770747600000");
    free(upd);
    iocd_close(&d);
}

TEST(below_every_band_opens_nothing)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    const char *low = LEVEL("b1", "2026-02-11T01:00:00+07:00", "F3", "0.4");
    const char *high = LEVEL("b2", "2026-02-11T01:01:00+07:00", "F4", "1.7");
    iocd_send(&d, low, strlen(low));
    iocd_send(&d, high, strlen(high));
    cJSON *m = recv_change(&d, NULL, 0);
    /* The first change published is F4's: F3 matched no band. */
    const cJSON *key =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "incident"), "key");
    CHECK_STR(jstr(key, "device", NULL), "F4");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid = 'b1'"), 1);
    iocd_close(&d);
}

TEST(every_reject_reason_is_stored_and_the_next_event_processed)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    /* The newest event time first, so the late one is behind the watermark. */
    const char *good1 = LEVEL("r0", "2026-02-11T02:00:00+07:00", "F9", "0.3");
    iocd_send(&d, good1, strlen(good1));
    const char *bad_json = "{\"id\": \"x\", \"source\": ";
    iocd_send(&d, bad_json, strlen(bad_json));
    const char *bad_schema = "{\"id\":\"r2\",\"source\":\"sensor\",\"type\":\"water_level\","
                             "\"ts\":\"2026-02-11T02:00:01+07:00\",\"device\":\"F1\","
                             "\"value\":\"high\"}";
    iocd_send(&d, bad_schema, strlen(bad_schema));
    const char *bad_source = "{\"id\":\"r3\",\"source\":\"drone\",\"type\":\"x\","
                             "\"ts\":\"2026-02-11T02:00:01+07:00\"}";
    iocd_send(&d, bad_source, strlen(bad_source));
    const char garbage[] = {(char)0xff, (char)0xfe, 0x00, 0x01, (char)0x80, 'a', 'b'};
    iocd_send(&d, garbage, sizeof garbage);
    char big[6000];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"id\":\"r5\"", 10);
    big[sizeof big - 1] = '}';
    iocd_send(&d, big, sizeof big);
    const char *late = LEVEL("r6", "2026-02-11T01:00:00+07:00", "F1", "2.9");
    iocd_send(&d, late, strlen(late));
    const char *good2 = LEVEL("r7", "2026-02-11T02:00:02+07:00", "F5", "2.1");
    iocd_send(&d, good2, strlen(good2));
    cJSON *m = recv_change(&d, NULL, 0);
    const cJSON *key =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "incident"), "key");
    CHECK_STR(jstr(key, "device", NULL), "F5");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects WHERE reason = 'json'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects WHERE reason = 'schema'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects WHERE reason = 'source'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects WHERE reason = 'encoding'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects WHERE reason = 'size'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rejects WHERE reason = 'late'"), 1);
    /* The raw bytes are kept exactly, binary included, and the reason says where. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT length(raw) FROM rejects WHERE reason = 'encoding'"),
                 sizeof garbage);
    char *why = h_sql_text(d.db, "SELECT detail FROM rejects WHERE reason = 'schema' AND "
                                 "CAST(raw AS TEXT) LIKE '%\"r2\"%'");
    CHECK_CONTAINS(why, "value");
    free(why);
    why = h_sql_text(d.db, "SELECT detail FROM rejects WHERE CAST(raw AS TEXT) LIKE '%drone%'");
    CHECK_CONTAINS(why, "source");
    free(why);
    /* Over-size messages are kept only up to the limit (4 KiB here). */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT length(raw) FROM rejects WHERE reason = 'size'"), 4096);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level'"), 1);
    iocd_close(&d);
}

TEST(duplicates_are_dropped)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    const char *e = LEVEL("dup-1", "2026-02-11T03:00:00+07:00", "F6", "1.8");
    const char *marker = LEVEL("dup-2", "2026-02-11T03:00:01+07:00", "F7", "1.8");
    iocd_send(&d, e, strlen(e));
    iocd_send(&d, e, strlen(e));
    iocd_send(&d, e, strlen(e));
    iocd_send(&d, marker, strlen(marker));
    cJSON *m = recv_change(&d, NULL, 0);
    CHECK_STR(jstr(m, "change", NULL), "opened");
    cJSON_Delete(m);
    m = recv_change(&d, NULL, 0);
    /* The next change is the marker's, not an update from a duplicate. */
    CHECK_STR(jstr(m, "change", NULL), "opened");
    CHECK_STR(jstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "incident"),
                                                    "key"),
                   "device", NULL),
              "F7");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid = 'dup-1'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count FROM incidents WHERE key LIKE '%F6%'"), 1);
    char *log = h_read(d.log);
    CHECK_CONTAINS(log, "2 duplicates");
    free(log);
    iocd_close(&d);
}

TEST(multipart_message_carries_several_events)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    const char *a = LEVEL("mp-1", "2026-02-11T04:00:00+07:00", "M1", "2.2");
    const char *b = LEVEL("mp-2", "2026-02-11T04:00:01+07:00", "M2", "2.2");
    REQUIRE(zmq_send(d.push, a, strlen(a), ZMQ_SNDMORE) == (int)strlen(a));
    REQUIRE(zmq_send(d.push, b, strlen(b), 0) == (int)strlen(b));
    cJSON *m1 = recv_change(&d, NULL, 0);
    cJSON *m2 = recv_change(&d, NULL, 0);
    CHECK(jnum(m2, "seq", NULL) == jnum(m1, "seq", NULL) + 1);
    cJSON_Delete(m1);
    cJSON_Delete(m2);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level'"), 2);
    iocd_close(&d);
}

TEST(sigint_drains_and_exits_zero)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    char buf[512];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(buf, sizeof buf,
                         "{\"id\":\"s%d\",\"source\":\"sensor\",\"type\":\"water_level\","
                         "\"ts\":%lld,\"device\":\"D%d\",\"zone\":\"Z1\",\"value\":1.7}",
                         i, 1770746400000LL + i * 1000LL, i % 50);
        iocd_send(&d, buf, (size_t)n);
    }
    /* Everything the engine accepted before the signal is committed by exit. */
    h_wait_sql(d.db, "SELECT count(*) FROM events", 1, 10000);
    CHECK_EQ_INT(iocd_stop(&d, SIGINT), 0);
    long long events = h_sql_int(d.db, "SELECT count(*) FROM events");
    long long matched = h_sql_int(d.db, "SELECT count(*) FROM incident_evidence");
    CHECK(events >= 1);
    CHECK_EQ_INT(events, matched);
    iocd_close(&d);
}

TEST(archive_off_keeps_incidents_only)
{
    struct iocd d;
    iocd_prepare(&d, NULL, "store: {path: ioc.db, archive_events: false}");
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    const char *e = LEVEL("ar-1", "2026-02-11T05:00:00+07:00", "A1", "2.0");
    iocd_send(&d, e, strlen(e));
    cJSON *m = recv_change(&d, NULL, 0);
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events"), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level'"), 1);
    iocd_close(&d);
}

TEST(restart_restores_open_incidents)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    const char *e1 = LEVEL("rs-1", "2026-02-11T06:00:00+07:00", "R1", "1.6");
    iocd_send(&d, e1, strlen(e1));
    cJSON *m = recv_change(&d, NULL, 0);
    int id = (int)jnum(m, "incident", "id");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    zmq_close(d.push);
    zmq_close(d.sub);
    d.push = d.sub = NULL;

    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync_at(&d, "2026-02-11T06:09:00+07:00");
    const char *e2 = LEVEL("rs-2", "2026-02-11T06:10:00+07:00", "R1", "2.1");
    iocd_send(&d, e2, strlen(e2));
    m = recv_change(&d, NULL, 0);
    CHECK_STR(jstr(m, "change", NULL), "graded");
    CHECK_EQ_INT(jnum(m, "incident", "id"), id);
    CHECK_EQ_INT(jnum(m, "incident", "count"), 2);
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rule_sets WHERE outcome = 'loaded'"), 2);
    iocd_close(&d);
}

TEST(bad_config_names_file_line_column)
{
    struct iocd d;
    iocd_prepare(&d, NULL, "store: {path: ioc.db, archive: true}");
    CHECK(iocd_start(&d) != 0);
    char *log = h_read(d.log);
    CHECK_CONTAINS(log, "iocd.yaml:6:");
    CHECK_CONTAINS(log, "unknown key 'archive'");
    CHECK_CONTAINS(log, "archive_events");
    free(log);
    iocd_close(&d);
}

TEST(bad_rule_file_stops_startup_with_position)
{
    struct iocd d;
    iocd_prepare(&d,
                 "rules:\n"
                 "  - id: flood.level\n"
                 "    when: source == \"sensor\" && vale > 2\n"
                 "    grade: 7\n",
                 NULL);
    CHECK(iocd_start(&d) != 0);
    char *log = h_read(d.log);
    CHECK_CONTAINS(log, "rules.yaml:3:");
    CHECK_CONTAINS(log, "vale");
    CHECK_CONTAINS(log, "rules.yaml:4:12");
    free(log);
    iocd_close(&d);
}

#define COMPLAINT(id, ts)                                                                          \
    "{\"id\":\"" id "\",\"source\":\"complaint\",\"type\":\"water_outage\",\"channel\":"           \
    "\"line\",\"zone\":\"Z7\",\"ts\":\"" ts "\"}"

static const char reload_rules[] = "rules:\n"
                                   "  - id: test.probe\n"
                                   "    when: source == \"system\" && type == \"probe\"\n"
                                   "    key: [id]\n"
                                   "    grade: 4\n"
                                   "  - id: water.outage.cluster\n"
                                   "    when: source == \"complaint\" && type == \"water_outage\"\n"
                                   "    key: [zone]\n"
                                   "    count: {window: 30m, min: 3}\n"
                                   "    grade: 3\n";

static void send_str(struct iocd *d, const char *s)
{
    iocd_send(d, s, strlen(s));
}

TEST(sighup_reload_keeps_windows_and_refuses_a_broken_set)
{
    struct iocd d;
    iocd_prepare(&d, reload_rules, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    send_str(&d, COMPLAINT("w1", "2026-02-11T08:00:00+07:00"));
    send_str(&d, COMPLAINT("w2", "2026-02-11T08:05:00+07:00"));
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid = 'w2'", 1, 10000) == 1);

    /* A broken set is refused whole and recorded; the old rules keep running. */
    h_write(d.rules, "rules:\n  - id: broken\n    when: source ==\n    grade: 2\n");
    kill(d.pid, SIGHUP);
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM rule_sets WHERE outcome = 'refused'", 1,
                            10000),
                 1);
    char *err = h_sql_text(d.db, "SELECT error FROM rule_sets WHERE outcome = 'refused'");
    CHECK_CONTAINS(err, "rules.yaml:3:");
    free(err);

    /* The same rules again: the window of Z7 is kept, so the third complaint
     * within 30 minutes opens the incident. */
    h_write(d.rules, reload_rules);
    kill(d.pid, SIGHUP);
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM rule_sets WHERE outcome = 'loaded'", 2,
                            10000),
                 2);
    send_str(&d, COMPLAINT("w3", "2026-02-11T08:10:00+07:00"));
    cJSON *m = recv_change(&d, NULL, 0);
    CHECK_STR(jstr(m, "change", NULL), "opened");
    CHECK_STR(jstr(m, "incident", "rule"), "water.outage.cluster");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

TEST(sighup_reload_of_a_changed_rule_starts_it_fresh)
{
    struct iocd d;
    iocd_prepare(&d, reload_rules, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    send_str(&d, COMPLAINT("x1", "2026-02-11T08:00:00+07:00"));
    send_str(&d, COMPLAINT("x2", "2026-02-11T08:05:00+07:00"));
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid = 'x2'", 1, 10000) == 1);
    /* Changed definition (a longer window): its state starts fresh. */
    char changed[sizeof reload_rules + 8];
    snprintf(changed, sizeof changed, "%s", reload_rules);
    char *w = strstr(changed, "30m");
    REQUIRE(w);
    memcpy(w, "45m", 3);
    h_write(d.rules, changed);
    kill(d.pid, SIGHUP);
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM rule_sets WHERE outcome = 'loaded'", 2,
                            10000),
                 2);
    send_str(&d, COMPLAINT("x3", "2026-02-11T08:10:00+07:00"));
    send_str(&d, COMPLAINT("x4", "2026-02-11T08:11:00+07:00"));
    send_str(&d, COMPLAINT("x5", "2026-02-11T08:12:00+07:00"));
    cJSON *m = recv_change(&d, NULL, 0);
    /* Opened by the third complaint after the reload, not the first. */
    CHECK_STR(jstr(m, "change", NULL), "opened");
    CHECK_STR(jstr(m, "incident", "opened"), "2026-02-11T08:12:00+07:00");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

/* Runs a command line and returns its exit status, with its output in out. */
static int run_capture(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, n - 1, p);
    out[used] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(ioc_reload_and_status_over_the_control_socket)
{
    struct iocd d;
    iocd_prepare(&d, reload_rules, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    char cmd[512], out[8192];
    snprintf(cmd, sizeof cmd, "%s status --endpoint tcp://127.0.0.1:%d 2>&1", IOC_BIN,
             d.control_port);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK_CONTAINS(out, "accepted: ");
    CHECK_CONTAINS(out, "rules: 2");

    h_write(d.rules, "rules:\n  - id: broken\n    when: source ==\n    grade: 2\n");
    snprintf(cmd, sizeof cmd, "%s reload --operator sup1 --endpoint tcp://127.0.0.1:%d 2>&1",
             IOC_BIN, d.control_port);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 1);
    CHECK_CONTAINS(out, "rules.yaml:3:");
    h_write(d.rules, reload_rules);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK_CONTAINS(out, "reloaded: 2 rules");
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rule_sets WHERE actor = 'sup1' AND "
                                 "outcome = 'refused'"),
                 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM rule_sets WHERE actor = 'sup1' AND "
                                 "outcome = 'loaded'"),
                 1);
    iocd_close(&d);
}

TEST(silence_mutes_publishing_never_recording_and_survives_a_restart)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    /* Move the engine's clock to the day of the events. */
    send_str(&d, LEVEL("si-0", "2026-02-11T09:00:00+07:00", "Q0", "0.1"));
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid = 'si-0'", 1, 10000) == 1);
    char cmd[768], out[4096];
    snprintf(cmd, sizeof cmd,
             "%s silence --rule flood.level --key device=Q1 --for 2h --reason 'gauge Q1 under "
             "repair' --operator sup1 --endpoint tcp://127.0.0.1:%d 2>&1",
             IOC_BIN, d.control_port);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK_CONTAINS(out, "silence 1 until 2026-02-11T10:59:55+07:00");
    /* Without an end or a reason it is refused before it reaches the engine. */
    snprintf(cmd, sizeof cmd, "%s silence --zone Z3 --reason x --endpoint tcp://127.0.0.1:%d 2>&1",
             IOC_BIN, d.control_port);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 2);

    send_str(&d, LEVEL("si-1", "2026-02-11T09:10:00+07:00", "Q1", "2.6"));
    send_str(&d, LEVEL("si-2", "2026-02-11T09:10:01+07:00", "Q2", "2.6"));
    cJSON *m = recv_change(&d, NULL, 0);
    /* Q1's opening was silenced: the first change on the wire is Q2's. */
    CHECK_STR(jstr(cJSON_GetObjectItemCaseSensitive(
                       cJSON_GetObjectItemCaseSensitive(m, "incident"), "key"),
                   "device", NULL),
              "Q2");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE key LIKE '%Q1%'"), 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM silences WHERE author = 'sup1' AND "
                                 "reason = 'gauge Q1 under repair'"),
                 1);

    /* After a restart the silence still holds. */
    zmq_close(d.push);
    zmq_close(d.sub);
    d.push = d.sub = NULL;
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync_at(&d, "2026-02-11T09:19:00+07:00");
    send_str(&d, LEVEL("si-3", "2026-02-11T09:20:00+07:00", "Q1", "2.7"));
    send_str(&d, LEVEL("si-4", "2026-02-11T09:20:01+07:00", "Q3", "2.7"));
    m = recv_change(&d, NULL, 0);
    CHECK_STR(jstr(cJSON_GetObjectItemCaseSensitive(
                       cJSON_GetObjectItemCaseSensitive(m, "incident"), "key"),
                   "device", NULL),
              "Q3");
    cJSON_Delete(m);
    /* Ended, Q1's changes are published again. */
    snprintf(cmd, sizeof cmd, "%s unsilence 1 --operator sup1 --endpoint tcp://127.0.0.1:%d 2>&1",
             IOC_BIN, d.control_port);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    send_str(&d, LEVEL("si-5", "2026-02-11T09:30:00+07:00", "Q1", "2.8"));
    m = recv_change(&d, NULL, 0);
    CHECK_STR(jstr(cJSON_GetObjectItemCaseSensitive(
                       cJSON_GetObjectItemCaseSensitive(m, "incident"), "key"),
                   "device", NULL),
              "Q1");
    cJSON_Delete(m);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

TEST(live_clock_notices_a_silent_sensor_without_new_events)
{
    struct iocd d;
    iocd_prepare(&d,
                 "rules:\n"
                 "  - id: test.probe\n"
                 "    when: source == \"system\" && type == \"probe\"\n"
                 "    key: [id]\n"
                 "    grade: 4\n"
                 "  - id: sensor.silent\n"
                 "    when: source == \"sensor\"\n"
                 "    key: [device]\n"
                 "    absent: {for: 2s}\n"
                 "    grade: 4\n",
                 NULL);
    /* A short lateness so the live clock passes the due time quickly. */
    char *cfg = h_read(d.cfg);
    char *at = strstr(cfg, "lateness: 5s");
    REQUIRE(at);
    memcpy(at, "lateness: 1s", 12);
    h_write(d.cfg, cfg);
    free(cfg);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    /* The probe's event time is the day's start; the sensor reports once,
     * a minute later, and then nothing arrives at all. */
    send_str(&d, LEVEL("lv-1", "2026-02-11T00:01:00+07:00", "S1", "0.3"));
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM incidents WHERE rule = 'sensor.silent'",
                            1, 20000),
                 1);
    /* Opened at its due event time, last seen + 2 s, whichever clock noticed. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT opened FROM incidents WHERE rule = 'sensor.silent'"),
                 1770742862000LL);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

TEST(silencing_an_open_incident_is_one_change_in_its_log)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    send_str(&d, LEVEL("sl-1", "2026-02-11T07:00:00+07:00", "Z9G", "1.7"));
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM incidents WHERE key LIKE '%Z9G%'", 1, 10000) ==
            1);
    char cmd[512], out[2048];
    snprintf(cmd, sizeof cmd,
             "%s silence --zone Z3 --for 1h --reason 'drill' --operator sup1 --endpoint "
             "tcp://127.0.0.1:%d 2>&1",
             IOC_BIN, d.control_port);
    CHECK_EQ_INT(run_capture(cmd, out, sizeof out), 0);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = 'silenced' "
                                 "AND actor = 'sup1' AND reason = 'drill'"),
                 1);
    iocd_close(&d);
}
