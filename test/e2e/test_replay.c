/*
 * test_replay.c — a replay through a running iocd gives exactly the incidents
 * of the in-process replay.
 *
 * Seven hours of the recorded city day (04:30 to 11:30, which hold a silent
 * sensor, a burst main and smoke confirmed by a resident) run once with
 * `ioc replay --local` and once through a real iocd with `ioc replay --speed
 * 1000` over ZeroMQ. Incidents, grades, states, counts and titles, and every
 * log row with its event time, must be the same. The live engine's clock goes
 * on after the last event, so rows after the last event time are not
 * compared: the in-process replay stops its clock there by design.
 */
#include "harness.h"

static const char *window_start = "2026-02-11T04:30";
static const char *window_end = "2026-02-11T11:30";

static long long last_ts_ms;

static void cut_window(const char *out)
{
    FILE *in = fopen(IOC_SOURCE_DIR "/test/data/city-day.jsonl", "r");
    FILE *o = fopen(out, "w");
    REQUIRE(in && o);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        const char *ts = strstr(line, "\"ts\":\"");
        if (!ts) {
            continue; /* the deliberately broken lines */
        }
        ts += 6;
        if (strncmp(ts, window_start, strlen(window_start)) >= 0 &&
            strncmp(ts, window_end, strlen(window_end)) < 0) {
            fwrite(line, 1, (size_t)n, o);
            cJSON *j = cJSON_Parse(line);
            if (j) {
                int64_t ms;
                if (ioc_time_parse(cJSON_GetObjectItem(j, "ts")->valuestring, &ms) == 0 &&
                    ms > last_ts_ms) {
                    last_ts_ms = ms;
                }
                cJSON_Delete(j);
            }
        }
    }
    free(line);
    fclose(in);
    fclose(o);
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(iocd_at_speed_1000_matches_local_exactly)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    char stream[400], local_db[400], cmd[2048], cfg[1024];
    snprintf(stream, sizeof stream, "%s/window.jsonl", d.dir);
    snprintf(local_db, sizeof local_db, "%s/local.db", d.dir);
    cut_window(stream);
    REQUIRE(last_ts_ms > 0);

    snprintf(cmd, sizeof cmd,
             "TZ=Asia/Bangkok IOC_LOG=warn %s replay %s --local --rules %s/rules --db %s "
             ">/dev/null",
             IOC_BIN, stream, IOC_SOURCE_DIR, local_db);
    REQUIRE(run(cmd) == 0);
    long long want = h_sql_int(local_db, "SELECT count(*) FROM incidents");
    CHECK(want >= 5);

    snprintf(cfg, sizeof cfg,
             "inputs: [{plugin: zmq, bind: \"tcp://127.0.0.1:%d\"}]\n"
             "outputs: [{plugin: zmq_pub, bind: \"tcp://127.0.0.1:%d\"}]\n"
             "control: {bind: \"tcp://127.0.0.1:%d\"}\n"
             "rules: [\"%s/rules\"]\n"
             "store: {path: ioc.db, archive_events: true}\n",
             d.ingest_port, d.pub_port, d.control_port, IOC_SOURCE_DIR);
    h_write(d.cfg, cfg);
    REQUIRE(iocd_start(&d) == 0);
    snprintf(cmd, sizeof cmd,
             "IOC_LOG=warn %s replay %s --speed 1000 --endpoint tcp://127.0.0.1:%d >/dev/null "
             "2>&1",
             IOC_BIN, stream, d.ingest_port);
    REQUIRE(run(cmd) == 0);
    /* Everything sent is archived, and the live clock passed the last event
     * time (after the lateness), so every timer due by then has fired. */
    long long accepted = h_sql_int(local_db, "SELECT count(*) FROM incident_evidence");
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM incident_log WHERE ts <= %lld", last_ts_ms);
    long long want_log = h_sql_int(local_db, sql);
    h_wait_sql(d.db, sql, want_log, 30000);
    h_wait_sql(d.db, "SELECT count(*) FROM incident_evidence", accepted, 30000);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);

    /* Both directions of the difference must be empty. */
    const char *cols = "i.rule, i.key, l.ts, l.action, l.grade";
    char q[1024];
    for (int dir = 0; dir < 2; dir++) {
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM (SELECT %s FROM %sincident_log l JOIN %sincidents i ON "
                 "i.id = l.incident_id WHERE l.ts <= %lld EXCEPT "
                 "SELECT %s FROM %sincident_log l JOIN %sincidents i ON i.id = l.incident_id "
                 "WHERE l.ts <= %lld)",
                 cols, dir ? "l." : "main.", dir ? "l." : "main.", last_ts_ms, cols,
                 dir ? "main." : "l.", dir ? "main." : "l.", last_ts_ms);
        sqlite3 *h;
        REQUIRE(sqlite3_open(d.db, &h) == SQLITE_OK);
        snprintf(sql, sizeof sql, "ATTACH '%s' AS l", local_db);
        REQUIRE(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_stmt *st;
        REQUIRE(sqlite3_prepare_v2(h, q, -1, &st, NULL) == SQLITE_OK);
        REQUIRE(sqlite3_step(st) == SQLITE_ROW);
        long long diff = sqlite3_column_int64(st, 0);
        if (diff) {
            fprintf(stderr, "%lld log rows differ (%s)\n", diff, dir ? "local only" : "iocd only");
        }
        CHECK_EQ_INT(diff, 0);
        sqlite3_finalize(st);
        sqlite3_close(h);
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM incident_log WHERE ts <= %lld", last_ts_ms);
    CHECK_EQ_INT(h_sql_int(d.db, sql), want_log);
    iocd_close(&d);
}
