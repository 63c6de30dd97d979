/*
 * test_crash.c — kill -9 at twenty random moments of a reliable replay; the
 * incidents and their log must equal those of a run never interrupted.
 *
 * The recorded city day goes to a real iocd through the reliable socket
 * (`ioc replay --reliable`), which resends every batch not acknowledged.
 * Meanwhile the test kills iocd with SIGKILL at random moments and starts it
 * again on the same database; each restart rebuilds its state from the
 * event archive. At the end, every incident change of the interrupted run —
 * rule, key, event time, action, grade — is compared with an in-process run
 * of the same day that was never interrupted: none lost, none doubled.
 */
#include "harness.h"

static int64_t last_ts;

static void reliable_config(struct iocd *d, int *rel_port)
{
    char cfg[2048];
    *rel_port = h_free_port();
    snprintf(cfg, sizeof cfg,
             "inputs: [{plugin: zmq_reliable, bind: \"tcp://127.0.0.1:%d\"}]\n"
             "outputs: [{plugin: zmq_pub, bind: \"tcp://127.0.0.1:%d\"}]\n"
             "control: {bind: \"tcp://127.0.0.1:%d\"}\n"
             "rules: [\"%s/rules\"]\n"
             "store: {path: ioc.db, archive_events: true}\n",
             *rel_port, d->pub_port, d->control_port, IOC_SOURCE_DIR);
    h_write(d->cfg, cfg);
}

static long long diff(const char *a, const char *b)
{
    sqlite3 *h;
    char sql[1024];
    long long n = -1;
    REQUIRE(sqlite3_open(a, &h) == SQLITE_OK);
    snprintf(sql, sizeof sql, "ATTACH '%s' AS o", b);
    REQUIRE(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK);
    /* Multisets: a row counted twice on one side is a difference too. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ("
             " SELECT i.rule, i.key, l.ts, l.action, l.grade, count(*) FROM main.incident_log l"
             " JOIN main.incidents i ON i.id = l.incident_id WHERE l.ts <= %lld"
             " GROUP BY 1, 2, 3, 4, 5 EXCEPT"
             " SELECT i.rule, i.key, l.ts, l.action, l.grade, count(*) FROM o.incident_log l"
             " JOIN o.incidents i ON i.id = l.incident_id WHERE l.ts <= %lld"
             " GROUP BY 1, 2, 3, 4, 5)",
             (long long)last_ts, (long long)last_ts);
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

TEST(kill_9_at_twenty_moments_equals_an_uninterrupted_run)
{
    struct iocd d;
    int rel_port;
    iocd_prepare(&d, NULL, NULL);
    reliable_config(&d, &rel_port);
    REQUIRE(ioc_time_parse("2026-02-11T23:59:58+07:00", &last_ts) == 0);

    /* The run never interrupted, in-process. */
    char ref_db[400], cmd[1024];
    snprintf(ref_db, sizeof ref_db, "%s/ref.db", d.dir);
    snprintf(cmd, sizeof cmd,
             "IOC_LOG=error %s replay %s/test/data/city-day.jsonl --local --rules %s/rules --db %s "
             "--archive >/dev/null",
             IOC_BIN, IOC_SOURCE_DIR, IOC_SOURCE_DIR, ref_db);
    REQUIRE(system(cmd) == 0);
    REQUIRE(h_sql_int(ref_db, "SELECT max(ts) FROM events") <= last_ts);

    REQUIRE(iocd_start(&d) == 0);
    pid_t sender = fork();
    REQUIRE(sender >= 0);
    if (sender == 0) {
        char ep[64], file[300];
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", rel_port);
        snprintf(file, sizeof file, "%s/test/data/city-day.jsonl", IOC_SOURCE_DIR);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(IOC_BIN, "ioc", "replay", file, "--reliable", "--endpoint", ep, "--speed", "15000",
              "--batch", "50", "--ack-timeout", "0.3", (char *)NULL);
        _exit(127);
    }
    srand(20260211);
    int kills = 0;
    for (; kills < 20; kills++) {
        usleep((useconds_t)(50000 + rand() % 200000));
        int st;
        if (waitpid(sender, &st, WNOHANG) == sender) {
            sender = 0;
            break;
        }
        iocd_stop(&d, SIGKILL);
        REQUIRE(iocd_start(&d) == 0);
    }
    int st = 0;
    if (sender) {
        for (int i = 0; i < 6000 && waitpid(sender, &st, WNOHANG) == 0; i++) {
            usleep(10000);
        }
    }
    CHECK(kills >= 20);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Everything acknowledged is in the archive, once. */
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events"), 5627);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(DISTINCT source || '/' || eid) FROM events"), 5627);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    /* Same incidents, same changes at the same event times. */
    long long a = diff(d.db, ref_db), b = diff(ref_db, d.db);
    if (a || b) {
        fprintf(stderr, "incident log differs: %lld rows only after the kills, %lld only in the "
                        "uninterrupted run\n", a, b);
    }
    CHECK_EQ_INT(a, 0);
    CHECK_EQ_INT(b, 0);
    CHECK(h_sql_int(d.db, "SELECT count(*) FROM incident_log") > 100);
    iocd_close(&d);
}
