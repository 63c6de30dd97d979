/*
 * test_operate.c — the operator loop through a real iocd: escalation on
 * event time, acknowledgement, roles, public warnings (CAP 1.2).
 *
 * Events are replayed into iocd's PULL socket with event times an hour
 * long, while heartbeats move the engine's clock; operators act through the
 * real `ioc` command line on the control socket; what is checked is what an
 * auditor finds in the database, what a console receives on the PUB socket
 * and the CAP file on disk.
 */
#include "harness.h"

static const char rules[] =
    "rules:\n"
    "  - id: test.probe\n"
    "    when: source == \"system\" && type == \"probe\"\n"
    "    key: [id]\n"
    "    grade: 4\n"
    "  - id: flood.level\n"
    "    title: \"Water level ${value} m at ${device}\"\n"
    "    category: Met\n"
    "    when: source == \"sensor\" && type == \"water_level\" && value >= 1.5\n"
    "    key: [device]\n"
    "    grade: {by: value, bands: [{ge: 1.5, grade: 3}, {ge: 2.5, grade: 1}]}\n"
    "    escalation: flood\n"
    "    sop: [Check the gauge against its neighbours, Call the district office]\n"
    "    public_warning:\n"
    "      approve: [mayor]\n"
    "      headline: \"Flood warning for ${zone}\"\n"
    "      description: \"The water at ${device} is ${value} m\"\n"
    "      radius: 0.5\n";

static char extra[2048];

static void prepare(struct iocd *d)
{
    snprintf(extra, sizeof extra,
             "store: {path: ioc.db, archive_events: true}\n"
             "escalation_policies:\n"
             "  flood:\n"
             "    - {after: 0m, notify: [duty_operator]}\n"
             "    - {after: 10m, notify: [shift_supervisor]}\n"
             "    - {after: 20m, notify: [disaster_director]}\n"
             "operators:\n"
             "  - {name: op1, role: operator}\n"
             "  - {name: sup1, role: supervisor}\n"
             "  - {name: mayor, role: mayor}\n");
    iocd_prepare(d, rules, extra);
    /* Add the CAP writer beside the PUB socket. */
    char *cfg = h_read(d->cfg);
    char out[4096], *p = strstr(cfg, "outputs: [");
    REQUIRE(p);
    size_t head = (size_t)(p - cfg) + strlen("outputs: [");
    snprintf(out, sizeof out, "%.*s{plugin: cap, dir: cap}, %s", (int)head, cfg, cfg + head);
    h_write(d->cfg, out);
    free(cfg);
}

static void level(struct iocd *d, const char *id, const char *ts, const char *dev,
                  const char *v)
{
    iocd_sendf(d,
               "{\"id\":\"%s\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":\"%s\","
               "\"device\":\"%s\",\"zone\":\"Z3\",\"value\":%s,\"loc\":{\"lat\":13.75,"
               "\"lon\":100.5}}",
               id, ts, dev, v);
}

/* Heartbeats every minute from h:m0 to h:m1 move the engine's clock. */
static void heartbeats(struct iocd *d, int h, int m0, int m1)
{
    for (int m = m0; m <= m1; m++) {
        iocd_sendf(d,
                   "{\"id\":\"hb-%02d%02d\",\"source\":\"system\",\"type\":\"heartbeat\","
                   "\"ts\":\"2026-02-11T%02d:%02d:00+07:00\"}",
                   h, m, h, m);
    }
}

static int ioc(struct iocd *d, char *out, size_t n, const char *fmt, ...)
{
    char args[512], cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s --endpoint tcp://127.0.0.1:%d 2>&1", IOC_BIN, args,
             d->control_port);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, n - 1, p);
    out[used] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long long ms(const char *rfc3339)
{
    int64_t v = 0;
    REQUIRE(ioc_time_parse(rfc3339, &v) == 0);
    return v;
}

static long long incident_id(struct iocd *d, const char *dev)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT id FROM incidents WHERE key = '{\"device\":\"%s\"}'", dev);
    return h_wait_sql(d->db, sql, 1, 10000);
}

TEST(unacknowledged_incident_escalates_through_every_level_on_time)
{
    struct iocd d;
    prepare(&d);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    level(&d, "e1", "2026-02-11T08:00:00+07:00", "F1", "2.6");
    heartbeats(&d, 8, 1, 30);
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM incident_log WHERE action = 'escalated'", 3,
                       10000) == 3);
    /* Each level at opened + after, in event time. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT min(ts) FROM incident_log WHERE action = 'escalated'"),
                 ms("2026-02-11T08:00:00+07:00"));
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT ts FROM incident_log WHERE action = 'escalated' "
                                 "AND reason = 'notify shift_supervisor'"),
                 ms("2026-02-11T08:10:00+07:00"));
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT ts FROM incident_log WHERE action = 'escalated' "
                                 "AND reason = 'notify disaster_director'"),
                 ms("2026-02-11T08:20:00+07:00"));
    /* Grade 1 has a 5-minute SLA: breached at 08:05. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT ts FROM incident_log WHERE action = 'sla_breached'"),
                 ms("2026-02-11T08:05:00+07:00"));
    /* The consoles were told, with the level and who to notify. */
    int seen = 0;
    for (cJSON *m; (m = iocd_recv(&d, NULL, 0, 2000));) {
        const cJSON *c = cJSON_GetObjectItem(m, "change");
        if (cJSON_IsString(c) && strcmp(c->valuestring, "escalated") == 0) {
            const cJSON *esc = cJSON_GetObjectItem(m, "escalation");
            CHECK_EQ_INT(cJSON_GetObjectItem(esc, "level")->valueint, seen);
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(esc, "notify")) == 1);
            seen++;
        }
        cJSON_Delete(m);
        if (seen == 3) {
            break;
        }
    }
    CHECK_EQ_INT(seen, 3);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}

TEST(acknowledgement_stops_the_escalation)
{
    struct iocd d;
    char out[4096];
    prepare(&d);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    level(&d, "e1", "2026-02-11T09:00:00+07:00", "F2", "2.6");
    heartbeats(&d, 9, 1, 4);
    long long id = incident_id(&d, "F2");
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid = 'hb-0904'", 1, 10000) == 1);
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "ack %lld --operator op1 --comment 'team sent'", id), 0);
    heartbeats(&d, 9, 5, 30);
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid = 'hb-0930'", 1, 10000) == 1);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = 'escalated'"),
                 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = "
                                 "'acknowledged' AND actor = 'op1' AND reason = 'team sent'"),
                 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = "
                                 "'sla_breached'"),
                 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE state = 'acknowledged'"),
                 1);
    iocd_close(&d);
}

TEST(an_operator_may_not_resolve_and_the_refusal_is_audited)
{
    struct iocd d;
    char out[4096];
    prepare(&d);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    level(&d, "e1", "2026-02-11T10:00:00+07:00", "F3", "1.7");
    long long id = incident_id(&d, "F3");
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "resolve %lld --operator op1 --reason done", id), 1);
    CHECK_CONTAINS(out, "role 'operator' may not resolve");
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "resolve %lld --operator nobody --reason x", id), 1);
    CHECK_CONTAINS(out, "unknown operator 'nobody'");
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "resolve %lld --operator sup1 --reason 'receded'", id),
                 0);
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "comment %lld --operator op1 --text 'checked'", id),
                 0);
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "ack 9999 --operator op1"), 1);
    CHECK_CONTAINS(out, "no open incident 9999");
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM audit WHERE op = 'resolve' AND ok = 0"),
                 2);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM audit WHERE op = 'resolve' AND ok = 1 "
                                 "AND actor = 'sup1'"),
                 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = 'resolved' "
                                 "AND actor = 'sup1' AND reason = 'receded'"),
                 1);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = 'commented'"),
                 1);
    iocd_close(&d);
}

/* The text of <tag> in xml, or "" (the first occurrence). */
static const char *tag(const char *xml, const char *name, char *buf, size_t n)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *a = xml ? strstr(xml, open) : NULL, *b = a ? strstr(a, close) : NULL;
    buf[0] = 0;
    if (a && b) {
        a += strlen(open);
        snprintf(buf, n, "%.*s", (int)(b - a), a);
    }
    return buf;
}

TEST(a_warning_is_published_only_after_approval_and_cancelled_on_resolve)
{
    struct iocd d;
    char out[4096], b[512];
    prepare(&d);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    REQUIRE(zmq_setsockopt(d.sub, ZMQ_SUBSCRIBE, "cap.", 4) == 0);
    iocd_sync(&d);
    level(&d, "e1", "2026-02-11T11:00:00+07:00", "F4", "2.6");
    long long id = incident_id(&d, "F4");
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM incident_log WHERE action = "
                             "'warning_pending'",
                       1, 10000) == 1);
    /* Not the mayor: refused, and nothing is published. */
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "approve %lld --operator sup1", id), 1);
    CHECK_CONTAINS(out, "may not approve");
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "approve %lld --operator mayor", id), 0);
    cJSON *alert = NULL;
    char topic[128] = "";
    for (cJSON *m; !alert && (m = iocd_recv(&d, topic, sizeof topic, 5000));) {
        if (strncmp(topic, "cap.", 4) == 0) {
            alert = m;
        } else {
            cJSON_Delete(m);
        }
    }
    REQUIRE(alert);
    CHECK_STR(topic, "cap.1.Z3");
    const cJSON *a = cJSON_GetObjectItem(alert, "alert");
    char ident[160];
    snprintf(ident, sizeof ident, "%s", cJSON_GetObjectItem(a, "identifier")->valuestring);
    CHECK_STR(cJSON_GetObjectItem(a, "msgType")->valuestring, "Alert");
    cJSON_Delete(alert);

    /* The CAP file, field by field. */
    char path[512];
    snprintf(path, sizeof path, "%s/cap/%s.xml", d.dir, ident);
    char *xml = NULL;
    for (int i = 0; i < 200; i++) {
        xml = h_read(path);
        if (xml[0]) {
            break;
        }
        free(xml);
        xml = NULL;
        usleep(10000);
    }
    REQUIRE(xml);
    CHECK_CONTAINS(xml, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">");
    CHECK_STR(tag(xml, "identifier", b, sizeof b), ident);
    CHECK_STR(tag(xml, "sender", b, sizeof b), "ioc@city.example");
    CHECK_STR(tag(xml, "sent", b, sizeof b), "2026-02-11T10:59:55+07:00");
    CHECK_STR(tag(xml, "status", b, sizeof b), "Actual");
    CHECK_STR(tag(xml, "msgType", b, sizeof b), "Alert");
    CHECK_STR(tag(xml, "scope", b, sizeof b), "Public");
    CHECK_STR(tag(xml, "category", b, sizeof b), "Met");
    CHECK_STR(tag(xml, "event", b, sizeof b), "Water level 2.6 m at F4");
    CHECK_STR(tag(xml, "urgency", b, sizeof b), "Immediate");
    CHECK_STR(tag(xml, "severity", b, sizeof b), "Extreme");
    CHECK_STR(tag(xml, "certainty", b, sizeof b), "Likely");
    CHECK_STR(tag(xml, "headline", b, sizeof b), "Flood warning for Z3");
    CHECK_STR(tag(xml, "description", b, sizeof b), "The water at F4 is 2.6 m");
    CHECK_CONTAINS(tag(xml, "instruction", b, sizeof b), "Check the gauge against its neighbours");
    CHECK_STR(tag(xml, "areaDesc", b, sizeof b), "Z3");
    CHECK_STR(tag(xml, "circle", b, sizeof b), "13.75,100.5 0.5");
    free(xml);

    /* Resolving cancels it, referencing the alert. */
    CHECK_EQ_INT(ioc(&d, out, sizeof out, "resolve %lld --operator sup1 --reason receded", id), 0);
    cJSON *cancel = NULL;
    for (cJSON *m; !cancel && (m = iocd_recv(&d, topic, sizeof topic, 5000));) {
        if (strncmp(topic, "cap.", 4) == 0) {
            cancel = m;
        } else {
            cJSON_Delete(m);
        }
    }
    REQUIRE(cancel);
    a = cJSON_GetObjectItem(cancel, "alert");
    CHECK_STR(cJSON_GetObjectItem(a, "msgType")->valuestring, "Cancel");
    CHECK_CONTAINS(cJSON_GetObjectItem(a, "references")->valuestring, ident);
    cJSON_Delete(cancel);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = "
                                 "'warning_approved' AND actor = 'mayor'"),
                 1);
    iocd_close(&d);
}

TEST(list_gives_a_console_its_first_screen)
{
    struct iocd d;
    prepare(&d);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    level(&d, "e1", "2026-02-11T12:00:00+07:00", "F5", "1.8");
    incident_id(&d, "F5");
    void *req = zmq_socket(d.zctx, ZMQ_REQ);
    char ep[64], buf[65536];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", d.control_port);
    REQUIRE(zmq_connect(req, ep) == 0);
    REQUIRE(zmq_send(req, "{\"op\":\"list\"}", 13, 0) == 13);
    zmq_pollitem_t it = {req, 0, ZMQ_POLLIN, 0};
    REQUIRE(zmq_poll(&it, 1, 5000) == 1);
    int n = zmq_recv(req, buf, sizeof buf - 1, 0);
    REQUIRE(n > 0);
    buf[n] = 0;
    cJSON *r = cJSON_Parse(buf);
    REQUIRE(r);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
    CHECK(cJSON_GetObjectItem(r, "seq")->valuedouble >= 2);
    const cJSON *incs = cJSON_GetObjectItem(r, "incidents"), *x;
    int found = 0;
    cJSON_ArrayForEach(x, incs)
    {
        if (strcmp(cJSON_GetObjectItem(x, "rule")->valuestring, "flood.level") == 0) {
            found = 1;
            CHECK_STR(cJSON_GetObjectItem(x, "state")->valuestring, "open");
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(x, "sop")) == 2);
            CHECK(cJSON_IsString(cJSON_GetObjectItem(x, "sla_due")));
        }
    }
    CHECK(found);
    cJSON_Delete(r);
    int linger = 0;
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(req);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}
