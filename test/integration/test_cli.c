/*
 * test_cli.c — the `ioc` program as users and scripts see it: run as a child
 * process, judged by exit status and output.
 *
 * The exit-status contract (0 ok, 1 failure, 2 misuse) is what scripts rely
 * on, so it is checked for every command. Where a command talks ZeroMQ, the
 * test itself plays the engine's side (a PULL socket for send and replay, an
 * XPUB for the console), so the program is tested without iocd; an XPUB also
 * tells the test when the console's subscription has arrived, so no test
 * waits with a sleep for a peer to be ready.
 */
#include <signal.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#include "ioc/event.h"

#include "support.h"
#include "test.h"

#define T 30.0 /* seconds any one child may take, except a local replay */

static const char *const subcommands[] = {"check", "replay", "send", "console", "incidents"};
#define N_SUB (sizeof subcommands / sizeof subcommands[0])

/* ---- ZeroMQ peers played by the test -------------------------------------- */

struct peer {
    void *ctx, *sock;
    char endpoint[256];
};

/* Binds a socket of that type to a free loopback port. */
static void peer_open(struct peer *p, int type)
{
    int timeout = 10000, linger = 0;
    size_t n = sizeof p->endpoint;
    p->ctx = zmq_ctx_new();
    REQUIRE(p->ctx);
    p->sock = zmq_socket(p->ctx, type);
    REQUIRE(p->sock);
    zmq_setsockopt(p->sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
    REQUIRE(zmq_bind(p->sock, "tcp://127.0.0.1:*") == 0);
    REQUIRE(zmq_getsockopt(p->sock, ZMQ_LAST_ENDPOINT, p->endpoint, &n) == 0);
}

static void peer_close(struct peer *p)
{
    zmq_close(p->sock);
    zmq_ctx_term(p->ctx);
}

/* One frame as a string (malloc'd), or NULL after the receive timeout. */
static char *peer_recv(struct peer *p)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, p->sock, 0) < 0) {
        zmq_msg_close(&m);
        return NULL;
    }
    char *s = strndup(zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    return s;
}

/* ---- Help and misuse -------------------------------------------------------- */

TEST(help_lists_commands)
{
    struct run_result r;
    RUN(&r, T, IOC_BIN, "--help");
    CHECK_EQ_INT(r.status, 0);
    for (size_t i = 0; i < N_SUB; i++) {
        CHECK_CONTAINS(r.out, subcommands[i]);
    }
    CHECK_CONTAINS(r.out, "version");
    run_result_free(&r);
}

TEST(every_command_has_help)
{
    for (size_t i = 0; i < N_SUB; i++) {
        struct run_result r;
        char *cmd = (char *)subcommands[i];
        char usage[64];
        snprintf(usage, sizeof usage, "usage: ioc %s", cmd);

        RUN(&r, T, IOC_BIN, cmd, "--help");
        CHECK_EQ_INT(r.status, 0);
        CHECK_CONTAINS(r.out, usage);
        CHECK_CONTAINS(r.out, "example");
        run_result_free(&r);

        RUN(&r, T, IOC_BIN, "help", cmd);
        CHECK_EQ_INT(r.status, 0);
        CHECK_CONTAINS(r.out, usage);
        run_result_free(&r);
    }
}

TEST(version)
{
    struct run_result r;
    RUN(&r, T, IOC_BIN, "--version");
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "ioc ");
    run_result_free(&r);
    RUN(&r, T, IOC_BIN, "version");
    CHECK_EQ_INT(r.status, 0);
    run_result_free(&r);
}

TEST(unknown_command_exits_2)
{
    struct run_result r;
    RUN(&r, T, IOC_BIN, "frobnicate");
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "frobnicate");
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "help", "frobnicate");
    CHECK_EQ_INT(r.status, 2);
    run_result_free(&r);

    RUN(&r, T, IOC_BIN);
    CHECK_EQ_INT(r.status, 2);
    run_result_free(&r);
}

TEST(misuse_exits_2_with_a_pointer_to_help)
{
    struct {
        char *argv[8];
        const char *cmd;
        const char *says;
    } cases[] = {
        {{IOC_BIN, "send", "--bogus", NULL}, "send", "--bogus"},
        {{IOC_BIN, "send", "--endpoint", NULL}, "send", "--endpoint"},
        {{IOC_BIN, "replay", "x.jsonl", "--speed", "fast", NULL}, "replay", "fast"},
        {{IOC_BIN, "replay", "x.jsonl", "--speed", "2", "--max", NULL}, "replay", "--max"},
        {{IOC_BIN, "replay", NULL}, "replay", "no file"},
        {{IOC_BIN, "replay", "x.jsonl", "--db", "a.db", NULL}, "replay", "--local"},
        {{IOC_BIN, "console", "--count", "-3", NULL}, "console", "-3"},
        {{IOC_BIN, "console", "-x", NULL}, "console", "-x"},
        {{IOC_BIN, "incidents", NULL}, "incidents", "--db"},
        {{IOC_BIN, "incidents", "--db", "a.db", "--format", "xml", NULL}, "incidents", "xml"},
        {{IOC_BIN, "incidents", "--db", "a.db", "--grade-max", "9", NULL}, "incidents", "9"},
        {{IOC_BIN, "check", NULL}, "check", "no file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run_result r;
        char help[64];
        snprintf(help, sizeof help, "see 'ioc %s --help'", cases[i].cmd);
        run_argv(&r, T, NULL, cases[i].argv);
        if (r.status != 2) {
            run_result_dump(cases[i].argv[1], &r);
        }
        CHECK_EQ_INT(r.status, 2);
        CHECK_CONTAINS(r.err, cases[i].says);
        CHECK_CONTAINS(r.err, help);
        run_result_free(&r);
    }
}

/* ---- Runtime failures ---------------------------------------------------------- */

TEST(replay_missing_file_exits_1)
{
    const char *missing = "/nonexistent/ioc-test/recorded.jsonl";
    struct run_result r;
    RUN(&r, T, IOC_BIN, "replay", (char *)missing, "--max");
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, missing);
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "replay", (char *)missing, "--local", "--db", "/nonexistent/x.db");
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, missing);
    run_result_free(&r);
}

TEST(incidents_missing_db_exits_1)
{
    struct run_result r;
    RUN(&r, T, IOC_BIN, "incidents", "--db", "/nonexistent");
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "no database at /nonexistent");
    run_result_free(&r);
}

/* ---- Local replay, then the incidents it recorded --------------------------- */

TEST(replay_local_then_incidents_json)
{
    char *dir = test_mkdtemp();
    char *db = test_path(dir, "day.db");
    struct run_result r;

    RUN(&r, 110.0, IOC_BIN, "replay", IOC_SOURCE_DIR "/test/data/city-day.jsonl", "--local", "--db",
        db);
    if (r.status != 0) {
        run_result_dump("replay --local", &r);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, " events in ");
    CHECK_CONTAINS(r.out, "incidents opened ");
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "incidents", "--db", db, "--format", "json");
    CHECK_EQ_INT(r.status, 0);
    int lines = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        CHECK(cJSON_IsObject(o));
        if (!o) {
            fprintf(stderr, "not JSON: %s\n", line);
            continue;
        }
        int64_t ms;
        const cJSON *opened = cJSON_GetObjectItemCaseSensitive(o, "opened");
        const cJSON *updated = cJSON_GetObjectItemCaseSensitive(o, "updated");
        const cJSON *grade = cJSON_GetObjectItemCaseSensitive(o, "grade");
        CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "id")));
        CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "rule")));
        CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "key")));
        CHECK(cJSON_IsNumber(grade) && grade->valueint >= 1 && grade->valueint <= 4);
        CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "state")));
        CHECK(cJSON_IsString(opened) && ioc_time_parse(opened->valuestring, &ms) == 0);
        CHECK(cJSON_IsString(updated) && ioc_time_parse(updated->valuestring, &ms) == 0);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "count")));
        CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "title")));
        cJSON_Delete(o);
        lines++;
    }
    CHECK(lines > 0);
    run_result_free(&r);

    /* The table of the same database, filtered: it must run and align. */
    RUN(&r, T, IOC_BIN, "incidents", "--db", db, "--grade-max", "4");
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "ID");
    CHECK_CONTAINS(r.out, "TITLE");
    run_result_free(&r);

    test_rmtree(dir);
    free(db);
    free(dir);
}

/* ---- check ---------------------------------------------------------------------- */

TEST(check_reports_positions)
{
    char *dir = test_mkdtemp();
    char *syntax = test_path(dir, "syntax.yaml");
    char *unknown = test_path(dir, "unknown.yaml");
    char *config = test_path(dir, "iocd.yaml");
    REQUIRE(test_write_file(syntax, "rules:\n"
                                    "  - id: a.b\n"
                                    "    title: \"unclosed\n"
                                    "    grade: [1, 2\n") == 0);
    REQUIRE(test_write_file(unknown, "rules:\n"
                                     "  - id: flood.level\n"
                                     "    title: \"Level ${value}\"\n"
                                     "    when: source == \"sensor\" && type == \"water_level\"\n"
                                     "    key: [device]\n"
                                     "    grade: 3\n"
                                     "    colour: blue\n") == 0);
    REQUIRE(test_write_file(config, "engine: {lateness: 5s, bogus_key: 1}\n") == 0);

    struct run_result r;
    RUN(&r, T, IOC_BIN, "check", syntax);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, syntax));
    if (!has_position(r.err, syntax)) {
        run_result_dump("check syntax", &r);
    }
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "check", unknown);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, unknown));
    CHECK_CONTAINS(r.err, "colour");
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "check", config);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, config));
    CHECK_CONTAINS(r.err, "bogus_key");
    run_result_free(&r);

    /* Both rule files at once: every error of every file is reported. */
    RUN(&r, T, IOC_BIN, "check", syntax, unknown);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, syntax));
    CHECK(has_position(r.err, unknown));
    CHECK_STR(r.out, "");
    run_result_free(&r);

    test_rmtree(dir);
    free(syntax);
    free(unknown);
    free(config);
    free(dir);
}

TEST(check_accepts_a_good_rule_file)
{
    char *dir = test_mkdtemp();
    char *good = test_path(dir, "good.yaml");
    REQUIRE(test_write_file(good,
                            "rules:\n"
                            "  - id: test.level\n"
                            "    title: \"Water level ${value} m at ${device}\"\n"
                            "    when: source == \"sensor\" && type == \"water_level\"\n"
                            "    key: [device]\n"
                            "    grade:\n"
                            "      by: value\n"
                            "      bands: [{ge: 1.5, grade: 3}, {ge: 2.5, grade: 1}]\n") == 0);
    struct run_result r;
    RUN(&r, T, IOC_BIN, "check", good);
    if (r.status != 0) {
        run_result_dump("check good", &r);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "OK: 1 rule in 1 file");
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "check", "/nonexistent/rules.yaml");
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "/nonexistent/rules.yaml");
    run_result_free(&r);

    test_rmtree(dir);
    free(good);
    free(dir);
}

/* ---- send and replay to a PULL socket the test binds ------------------------- */

TEST(send_forwards_lines_unchanged)
{
    struct peer pull;
    peer_open(&pull, ZMQ_PULL);
    const char *input = "{\"id\":\"e1\",\"source\":\"sensor\"}\n"
                        "\n"
                        "not json at all\n"
                        "{\"text\":\"\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3\xe0\xb8\x97\xe0\xb9\x88"
                        "\xe0\xb8\xa7\xe0\xb8\xa1\"}"; /* no final newline */
    struct run_result r;
    RUN_IN(&r, T, input, IOC_BIN, "send", "--endpoint", pull.endpoint);
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "sent 3 events");

    char *a = peer_recv(&pull), *b = peer_recv(&pull), *c = peer_recv(&pull);
    CHECK_STR(a, "{\"id\":\"e1\",\"source\":\"sensor\"}");
    CHECK_STR(b, "not json at all");
    CHECK_STR(c, "{\"text\":\"\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3\xe0\xb8\x97\xe0\xb9\x88"
                 "\xe0\xb8\xa7\xe0\xb8\xa1\"}");
    free(a);
    free(b);
    free(c);
    run_result_free(&r);
    peer_close(&pull);
}

TEST(replay_paces_by_event_time)
{
    struct peer pull;
    peer_open(&pull, ZMQ_PULL);
    char *dir = test_mkdtemp();
    char *file = test_path(dir, "two-seconds.jsonl");
    /* 2 s of event time, in both ts forms, plus a line with no ts. */
    REQUIRE(test_write_file(file, "{\"id\":\"1\",\"ts\":\"2026-02-11T08:00:00+07:00\"}\n"
                                  "{\"id\":\"2\",\"ts\":1770771601000}\n"
                                  "{\"id\":\"3\"}\n"
                                  "\n"
                                  "{\"id\":\"4\",\"ts\":\"2026-02-11T01:00:02Z\"}\n") == 0);
    struct run_result r;
    double t0 = support_now_s();
    RUN(&r, T, IOC_BIN, "replay", file, "--endpoint", pull.endpoint, "--speed", "10");
    double took = support_now_s() - t0;
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "replayed 4 events");
    /* 2 s at 10x is 0.2 s at least; only the lower bound is certain. */
    CHECK(took >= 0.19);
    for (int i = 1; i <= 4; i++) {
        char want[32];
        char *got = peer_recv(&pull);
        snprintf(want, sizeof want, "\"id\":\"%d\"", i);
        CHECK_CONTAINS(got, want);
        free(got);
    }
    run_result_free(&r);

    RUN(&r, T, IOC_BIN, "replay", file, "--endpoint", pull.endpoint, "--max");
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "replayed 4 events");
    for (int i = 1; i <= 4; i++) {
        free(peer_recv(&pull));
    }
    run_result_free(&r);

    test_rmtree(dir);
    free(file);
    free(dir);
    peer_close(&pull);
}

/* ---- console against an XPUB the test binds ------------------------------------- */

/* Waits for the console's subscriptions to reach the publisher: incident.*
 * and cap.* (public warnings share the sequence numbers), in any order. */
static void wait_subscribed(struct peer *xpub)
{
    bool incident = false, cap = false;
    while (!incident || !cap) {
        char *sub = peer_recv(xpub);
        REQUIRE(sub != NULL);
        CHECK(sub[0] == 1);
        incident |= strcmp(sub + 1, "incident.") == 0;
        cap |= strcmp(sub + 1, "cap.") == 0;
        CHECK(strcmp(sub + 1, "incident.") == 0 || strcmp(sub + 1, "cap.") == 0);
        free(sub);
    }
}

static void publish(struct peer *p, const char *topic, const char *json)
{
    zmq_send(p->sock, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(p->sock, json, strlen(json), 0);
}

TEST(console_prints_changes_and_gaps)
{
    struct peer xpub;
    peer_open(&xpub, ZMQ_XPUB);
    struct child c;
    REQUIRE(child_spawn(&c,
                        (char *[]){IOC_BIN, "console", "--endpoint", xpub.endpoint, "--count", "3",
                                   "--idle-exit", "20", NULL},
                        NULL, 0) == 0);
    wait_subscribed(&xpub);
    publish(&xpub, "incident.3.Z03",
            "{\"seq\":7,\"change\":\"opened\",\"incident\":{\"id\":12,\"rule\":\"flood.level\","
            "\"key\":{\"device\":\"F1\"},\"grade\":3,\"state\":\"open\","
            "\"title\":\"Water level 1.6 m at F1\",\"zone\":\"Z03\","
            "\"opened\":\"2026-02-11T08:00:00+07:00\",\"updated\":\"2026-02-11T08:00:00+07:00\","
            "\"count\":1}}");
    publish(&xpub, "incident.2.Z03",
            "{\"seq\":8,\"change\":\"graded\",\"incident\":{\"id\":12,\"rule\":\"flood.level\","
            "\"key\":{\"device\":\"F1\"},\"grade\":2,\"state\":\"open\","
            "\"title\":\"Water level 2.1 m at F1\",\"zone\":\"Z03\","
            "\"opened\":\"2026-02-11T08:00:00+07:00\",\"updated\":\"2026-02-11T08:10:00+07:00\","
            "\"count\":2}}");
    /* seq 9 and 10 never arrive. */
    publish(&xpub, "incident.1.Z03",
            "{\"seq\":11,\"change\":\"opened\",\"incident\":{\"id\":13,\"rule\":\"flood.district\","
            "\"key\":{\"zone\":\"Z03\"},\"grade\":1,\"state\":\"open\","
            "\"title\":\"\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3\xe0\xb8\x97\xe0\xb9\x88\xe0\xb8\xa7"
            "\xe0\xb8\xa1 Z03\",\"zone\":\"Z03\",\"opened\":1770771900000,"
            "\"updated\":1770771900000,\"count\":1}}");
    struct run_result r;
    child_wait(&c, T, &r);
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "opened");
    CHECK_CONTAINS(r.out, "graded");
    CHECK_CONTAINS(r.out, "flood.level");
    CHECK_CONTAINS(r.out, "device=F1");
    CHECK_CONTAINS(r.out, "Water level 2.1 m at F1");
    CHECK_CONTAINS(r.out, "gap: missed 2 messages");
    /* The Thai title arrives whole. */
    CHECK_CONTAINS(r.out, "\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3");
    /* No colour codes into a pipe. */
    CHECK(strstr(r.out, "\x1b[") == NULL);
    run_result_free(&r);
    peer_close(&xpub);
}

TEST(console_stops_cleanly)
{
    struct peer xpub;
    peer_open(&xpub, ZMQ_XPUB);
    struct child c;
    struct run_result r;
    REQUIRE(child_spawn(&c, (char *[]){IOC_BIN, "console", "--endpoint", xpub.endpoint, NULL}, NULL,
                        0) == 0);
    wait_subscribed(&xpub);
    child_signal(&c, SIGTERM);
    child_wait(&c, T, &r);
    CHECK_EQ_INT(r.status, 0);
    run_result_free(&r);

    /* Nobody publishing: --idle-exit ends it, also with 0. */
    RUN(&r, T, IOC_BIN, "console", "--endpoint", xpub.endpoint, "--idle-exit", "0.3");
    CHECK_EQ_INT(r.status, 0);
    run_result_free(&r);
    peer_close(&xpub);
}
