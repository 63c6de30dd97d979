/*
 * test_ruletest.c — `ioc test`, the analysts' rule-test runner, as analysts
 * and CI see it: run as a child process, judged by exit status and output.
 *
 * The shipped tests (rules/tests) must pass, since they pin the city's SOP
 * thresholds. The other cases write their own test files into a temporary
 * directory, naming the shipped rule files by absolute path, and check that
 * the runner fails when it should: a wrong expectation prints expected/got, a
 * mistake in a test file is reported at its file:line:column, and expect: []
 * does not hide an incident.
 */
#include "support.h"
#include "test.h"

#define T 60.0 /* seconds any one run may take */

#define FLOOD_RULES IOC_SOURCE_DIR "/rules/flood.yaml"

/* A test file header naming the shipped flood rules by absolute path. */
#define HEADER                                                                                     \
    "rule_files: [" FLOOD_RULES "]\n"                                                              \
    "start: 2026-02-11T00:00:00+07:00\n"                                                           \
    "tests:\n"

/* True when text has a line that is exactly "<n> passed, <m> failed". */
static bool has_summary(const char *text, int *passed, int *failed)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        int used = 0;
        if (sscanf(p, "%d passed, %d failed%n", passed, failed, &used) == 2 &&
            (p[used] == '\n' || p[used] == 0)) {
            return true;
        }
    }
    return false;
}

/* Writes body into dir/name and runs `ioc test` on it. */
static void run_case(struct run_result *r, const char *dir, const char *name, const char *body,
                     bool verbose)
{
    char *path = test_path(dir, name);
    REQUIRE(test_write_file(path, body) == 0);
    if (verbose) {
        RUN(r, T, IOC_BIN, "test", "-v", path);
    } else {
        RUN(r, T, IOC_BIN, "test", path);
    }
    free(path);
}

TEST(shipped_rule_tests_pass)
{
    struct run_result r;
    int passed = 0, failed = -1;
    RUN(&r, T, IOC_BIN, "test", IOC_SOURCE_DIR "/rules/tests");
    CHECK_EQ_INT(r.status, 0);
    CHECK(has_summary(r.out, &passed, &failed));
    CHECK(passed > 0);
    CHECK_EQ_INT(failed, 0);
    CHECK(strstr(r.out, "FAIL") == NULL);
    if (test_failed_) {
        run_result_dump("ioc test rules/tests", &r);
    }
    run_result_free(&r);
}

TEST(default_directory_is_rules_tests)
{
    struct run_result r;
    int passed = 0, failed = -1;
    RUN(&r, T, "/bin/sh", "-c", "cd '" IOC_SOURCE_DIR "' && exec '" IOC_BIN "' test");
    CHECK_EQ_INT(r.status, 0);
    CHECK(has_summary(r.out, &passed, &failed));
    CHECK(passed > 0);
    CHECK_EQ_INT(failed, 0);
    CHECK_CONTAINS(r.out, "ok   rules/tests/flood.yaml: ");
    run_result_free(&r);
}

TEST(wrong_expectation_fails_with_a_diff)
{
    char *dir = test_mkdtemp();
    struct run_result r;
    int passed = -1, failed = -1;
    run_case(&r, dir, "wrong.yaml",
             HEADER "  - name: level climbs through the bands\n"
                    "    events:\n"
                    "      - {at: 0m,  source: sensor, type: water_level, device: F1, zone: Z3, "
                    "value: 1.6}\n"
                    "      - {at: 10m, source: sensor, type: water_level, device: F1, zone: Z3, "
                    "value: 2.6}\n"
                    "    expect:\n"
                    "      - {at: 5m,  rule: flood.level, key: {device: F1}, grade: 3, state: "
                    "open}\n"
                    "      - {at: 10m, rule: flood.level, key: {device: F1}, grade: 2}\n"
                    "  - name: a right one beside it\n"
                    "    events:\n"
                    "      - {at: 0m, source: sensor, type: water_level, device: F2, value: 2.0}\n"
                    "    expect:\n"
                    "      - {rule: flood.level, key: {device: F2}, grade: 2, state: open}\n",
             false);
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.out, "FAIL ");
    CHECK_CONTAINS(r.out, "wrong.yaml: level climbs through the bands");
    CHECK_CONTAINS(r.out, "at +10m (2026-02-11T00:10:00+07:00):");
    CHECK_CONTAINS(r.out, "expected flood.level {\"device\":\"F1\"} grade 2");
    CHECK_CONTAINS(r.out, "got      flood.level {\"device\":\"F1\"} grade 1 open");
    CHECK_CONTAINS(r.out, "wrong.yaml: a right one beside it");
    CHECK(has_summary(r.out, &passed, &failed));
    CHECK_EQ_INT(passed, 1);
    CHECK_EQ_INT(failed, 1);
    if (test_failed_) {
        run_result_dump("ioc test wrong.yaml", &r);
    }
    run_result_free(&r);
    test_rmtree(dir);
    free(dir);
}

TEST(missing_and_unexpected_incidents_are_named)
{
    char *dir = test_mkdtemp();
    struct run_result r;
    run_case(&r, dir, "sets.yaml",
             HEADER "  - name: wrong gauge\n"
                    "    events:\n"
                    "      - {at: 0m, source: sensor, type: water_level, device: F1, value: 1.6}\n"
                    "    expect:\n"
                    "      - {at: 1m, rule: flood.level, key: {device: F9}}\n",
             false);
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.out, "missing  flood.level {\"device\":\"F9\"}");
    CHECK_CONTAINS(r.out, "unexpected flood.level {\"device\":\"F1\"} grade 3 open");
    run_result_free(&r);
    test_rmtree(dir);
    free(dir);
}

TEST(expect_nothing_fails_when_an_incident_opens)
{
    char *dir = test_mkdtemp();
    struct run_result r;
    int passed = -1, failed = -1;
    run_case(&r, dir, "none.yaml",
             HEADER "  - name: a dry day opens nothing\n"
                    "    events:\n"
                    "      - {at: 0m, source: sensor, type: water_level, device: F1, zone: Z3, "
                    "value: 2.6}\n"
                    "    expect: []\n",
             false);
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.out, "FAIL ");
    CHECK_CONTAINS(r.out, "at the end of the stream:");
    CHECK_CONTAINS(r.out, "unexpected flood.level {\"device\":\"F1\"} grade 1 open");
    CHECK(has_summary(r.out, &passed, &failed));
    CHECK_EQ_INT(failed, 1);
    run_result_free(&r);
    test_rmtree(dir);
    free(dir);
}

TEST(unknown_key_is_reported_at_its_position)
{
    char *dir = test_mkdtemp();
    char *path = test_path(dir, "typo.yaml");
    struct run_result r;
    run_case(&r, dir, "typo.yaml",
             HEADER "  - name: a typo in an event\n"
                    "    events:\n"
                    "      - {at: 0m, source: sensor, type: water_level, device: F1, vaule: 2.6}\n"
                    "    expect: []\n"
                    "    expcet: []\n",
             false);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, path));
    CHECK_CONTAINS(r.err, ":6:");
    CHECK_CONTAINS(r.err, "unknown key 'vaule'");
    CHECK_CONTAINS(r.err, ":8:5: test: unknown key 'expcet'");
    /* A file with errors runs none of its tests. */
    CHECK(strstr(r.out, "ok   ") == NULL);
    if (test_failed_) {
        run_result_dump("ioc test typo.yaml", &r);
    }
    run_result_free(&r);
    test_rmtree(dir);
    free(dir);
    free(path);
}

TEST(bad_duration_and_yaml_are_positioned)
{
    char *dir = test_mkdtemp();
    char *path = test_path(dir, "bad.yaml");
    struct run_result r;
    run_case(&r, dir, "bad.yaml",
             HEADER "  - name: bad time\n"
                    "    events:\n"
                    "      - {at: soon, source: sensor, type: water_level, device: F1, value: 2}\n"
                    "    expect:\n"
                    "      - {at: 5m, rule: flood.levle, grade: 9}\n",
             false);
    CHECK_EQ_INT(r.status, 1);
    CHECK_CONTAINS(r.err, ":6:14: at: expected a time after start");
    CHECK_CONTAINS(r.err, ":8:24: rule: 'flood.levle' is not a rule of the rule files");
    CHECK_CONTAINS(r.err, ":8:44: grade: expected 1 (most severe) to 4");
    run_result_free(&r);

    run_case(&r, dir, "bad.yaml", HEADER "  - name: [unclosed\n", false);
    CHECK_EQ_INT(r.status, 1);
    CHECK(has_position(r.err, path));
    run_result_free(&r);
    test_rmtree(dir);
    free(dir);
    free(path);
}

TEST(times_duplicates_and_raw_input)
{
    char *dir = test_mkdtemp();
    struct run_result r;
    int passed = -1, failed = -1;
    run_case(&r, dir, "times.yaml",
             HEADER "  - name: nothing before the reading, grade kept after\n"
                    "    events:\n"
                    "      - {at: 10m, source: sensor, type: water_level, device: F1, value: 2.6}\n"
                    "      - {at: 20m, source: sensor, type: water_level, device: F1, value: 1.6}\n"
                    "    expect:\n"
                    "      - {at: 5m}\n"
                    "      - {at: 10m, rule: flood.level, key: {device: F1}, grade: 1}\n"
                    "      - {at: 1h, rule: flood.level, key: {device: F1}, grade: 1, state: "
                    "open}\n"
                    "  - name: a resent id and a broken line change nothing\n"
                    "    events:\n"
                    "      - {at: 0m, id: a, source: sensor, type: water_level, device: F1, "
                    "value: 1.6}\n"
                    "      - {raw: 'not json'}\n"
                    "      - {at: 0m, id: a, source: sensor, type: water_level, device: F1, "
                    "value: 2.6}\n"
                    "    expect:\n"
                    "      - {rule: flood.level, key: {device: F1}, grade: 3}\n",
             true);
    CHECK_EQ_INT(r.status, 0);
    CHECK(has_summary(r.out, &passed, &failed));
    CHECK_EQ_INT(passed, 2);
    CHECK_EQ_INT(failed, 0);
    /* -v shows what was found and what the engine counted. */
    CHECK_CONTAINS(r.out, "found    no incident");
    CHECK_CONTAINS(r.out, "found    flood.level {\"device\":\"F1\"} grade 1 open");
    CHECK_CONTAINS(r.out, "1 duplicates, 1 rejected (json 1)");
    if (test_failed_) {
        run_result_dump("ioc test -v times.yaml", &r);
    }
    run_result_free(&r);
    test_rmtree(dir);
    free(dir);
}

TEST(help_describes_the_format)
{
    struct run_result r;
    RUN(&r, T, IOC_BIN, "test", "--help");
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "usage: ioc test");
    CHECK_CONTAINS(r.out, "rule_files:");
    CHECK_CONTAINS(r.out, "expect: []");
    run_result_free(&r);
}
