/*
 * test_check.c — `ioc check` on rule files written to be wrong in every way
 * an analyst can get them wrong; each error must name file:line:column.
 */
#include "harness.h"

static int check_file(const char *text, char *out, size_t n)
{
    char dir[] = "/tmp/ioc-check-XXXXXX", path[64], cmd[256];
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    h_write(path, text);
    snprintf(cmd, sizeof cmd, "%s check %s 2>&1", IOC_BIN, path);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, n - 1, p);
    out[used] = 0;
    int st = pclose(p);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(every_error_of_a_file_with_its_position)
{
    char out[8192];
    int rc = check_file("lists:\n"
                        "  zones: [Z1, Z2]\n"
                        "rules:\n"
                        "  - id: a.one\n"
                        "    when: source == \"sensor\" && vale > 2\n"
                        "    grade: 2\n"
                        "  - id: a.one\n"
                        "    when: zone in @nozones\n"
                        "    grade: 7\n"
                        "  - id: b.two\n"
                        "    when: text =~ \"([unclosed\"\n"
                        "    count: {window: 5m, min: 2}\n"
                        "    aggregate: {fn: avg, field: value, window: 5m}\n"
                        "    grade: 1\n"
                        "  - id: c.three\n"
                        "    when: source == \"sensor\"\n"
                        "    grade: 2\n"
                        "    colour: red\n"
                        "  - id: d.four\n"
                        "    when: source == \"sensor\" && (value > 1\n"
                        "    key: [devise]\n"
                        "    absent: {for: 5q}\n"
                        "    grade: 3\n"
                        "  - id: e.five\n"
                        "    when: source == \"sensor\"\n"
                        "    grade: 2\n"
                        "    inhibits: [no.such]\n",
                        out, sizeof out);
    CHECK_EQ_INT(rc, 1);
    CHECK_CONTAINS(out, "bad.yaml:5:33: when: unknown field 'vale'");
    CHECK_CONTAINS(out, "bad.yaml:7:9: duplicate rule id 'a.one'");
    CHECK_CONTAINS(out, "bad.yaml:8:19: when: unknown list @nozones");
    CHECK_CONTAINS(out, "bad.yaml:9:12: grade: expected 1 (most severe) to 4, got '7'");
    CHECK_CONTAINS(out, "bad.yaml:11:19: when: invalid regular expression");
    CHECK_CONTAINS(out, "bad.yaml:13:5: a rule has at most one correlation clause");
    CHECK_CONTAINS(out, "bad.yaml:18:5: unknown key 'colour' in rule (allowed: id, title");
    CHECK_CONTAINS(out, "bad.yaml:20:43: when: expected ')'");
    CHECK_CONTAINS(out, "bad.yaml:21:11: key: unknown field 'devise'");
    CHECK_CONTAINS(out, "bad.yaml:22:19: expected a duration");
    CHECK_CONTAINS(out, "bad.yaml:27:16: inhibits: unknown rule 'no.such'");
}

TEST(yaml_syntax_error_is_positioned)
{
    char out[2048];
    CHECK_EQ_INT(check_file("rules:\n  - id: x\n    when: [unclosed\n", out, sizeof out), 1);
    CHECK_CONTAINS(out, "bad.yaml:4:1:");
}

TEST(a_valid_file_exits_zero)
{
    char out[2048];
    CHECK_EQ_INT(check_file("rules:\n  - id: ok.rule\n    when: source == \"sensor\"\n"
                            "    key: [device]\n    grade: 4\n",
                            out, sizeof out),
                 0);
    CHECK_CONTAINS(out, "OK: 1 rule");
}

TEST(the_shipped_rules_check_clean)
{
    char cmd[256], out[2048];
    snprintf(cmd, sizeof cmd, "%s check %s/rules 2>&1", IOC_BIN, IOC_SOURCE_DIR);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, sizeof out - 1, p);
    out[used] = 0;
    CHECK_EQ_INT(WEXITSTATUS(pclose(p)), 0);
    CHECK_CONTAINS(out, "OK: ");
}

/* iocd refuses a rule that names an escalation policy its config lacks;
 * `ioc check iocd.yaml` must say so before a restart finds out. */
TEST(a_config_whose_rules_name_a_missing_escalation_policy)
{
    char dir[] = "/tmp/ioc-check-XXXXXX", path[96], cmd[512], out[4096];
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.yaml", dir);
    h_write(path, "rules:\n"
                  "  - id: flood.gauge\n"
                  "    when: source == \"sensor\" && value >= 1.5\n"
                  "    key: [device]\n"
                  "    grade: 3\n"
                  "    escalation: floods\n");
    snprintf(path, sizeof path, "%s/iocd.yaml", dir);
    h_write(path, "rules: [r.yaml]\n"
                  "escalation_policies:\n"
                  "  flood:\n"
                  "    - {after: 0m, notify: [duty_operator]}\n");
    snprintf(cmd, sizeof cmd, "%s check %s 2>&1", IOC_BIN, path);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, sizeof out - 1, p);
    out[used] = 0;
    int st = pclose(p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK_CONTAINS(out, "r.yaml:2: rule flood.gauge: escalation policy 'floods' is not in the "
                        "configuration");
    /* Named right, the same pair is clean. */
    snprintf(cmd, sizeof cmd, "sed -i 's/floods/flood/' %s/r.yaml && %s check %s 2>&1", dir,
             IOC_BIN, path);
    p = popen(cmd, "r");
    REQUIRE(p);
    used = fread(out, 1, sizeof out - 1, p);
    out[used] = 0;
    st = pclose(p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}
