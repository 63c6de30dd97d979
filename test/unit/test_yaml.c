/*
 * test_yaml.c — the YAML tree: positions, refusals, scalar conversions.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ioc/diag.h"
#include "ioc/error.h"
#include "ioc/yaml.h"
#include "test.h"

/* Parses text, expecting success. */
static struct ioc_ynode *parse_ok(const char *text)
{
    struct ioc_diag d;
    struct ioc_ynode *root = NULL;
    ioc_diag_init(&d);
    int rc = ioc_yaml_parse("t.yaml", text, strlen(text), &root, &d);
    ioc_diag_print(&d, stderr);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(d.n, 0);
    ioc_diag_close(&d);
    REQUIRE(root != NULL);
    return root;
}

/* Parses text, expecting failure; returns the first message (static copy). */
static const char *parse_err(const char *text, int want_rc)
{
    static char first[512];
    struct ioc_diag d;
    struct ioc_ynode *root = (struct ioc_ynode *)1;
    ioc_diag_init(&d);
    int rc = ioc_yaml_parse("t.yaml", text, strlen(text), &root, &d);
    CHECK_EQ_INT(rc, want_rc);
    CHECK(root == NULL);
    REQUIRE(d.n >= 1);
    snprintf(first, sizeof(first), "%s", d.msgs[0]);
    ioc_diag_close(&d);
    return first;
}

TEST(nested_positions)
{
    const char *text = "lists:\n"
                       "  zones: [Z03, Z07]\n"
                       "rules:\n"
                       "  - id: flood.level\n"
                       "    sop:\n"
                       "      - Check the sensors\n"
                       "      -   Call the chief\n";
    struct ioc_ynode *root = parse_ok(text);
    CHECK_EQ_INT(root->kind, IOC_Y_MAP);
    CHECK_STR(root->file, "t.yaml");

    const struct ioc_ynode *zones = ioc_ymap_get(ioc_ymap_get(root, "lists"), "zones");
    REQUIRE(zones != NULL && zones->kind == IOC_Y_SEQ && zones->n == 2);
    CHECK_EQ_INT(zones->line, 2);
    CHECK_EQ_INT(zones->col, 10);
    CHECK_STR(zones->items[1]->str, "Z07");
    CHECK_EQ_INT(zones->items[1]->line, 2);
    CHECK_EQ_INT(zones->items[1]->col, 16);

    const struct ioc_ynode *rules = ioc_ymap_get(root, "rules");
    REQUIRE(rules != NULL && rules->kind == IOC_Y_SEQ && rules->n == 1);
    const struct ioc_ynode *rule = rules->items[0];
    CHECK_EQ_INT(rule->kind, IOC_Y_MAP);
    CHECK_EQ_INT(rule->line, 4);
    CHECK_EQ_INT(rule->col, 5);
    const struct ioc_ynode *idkey = ioc_ymap_key(rule, "id");
    REQUIRE(idkey != NULL);
    CHECK_EQ_INT(idkey->line, 4);
    CHECK_EQ_INT(idkey->col, 5);
    const struct ioc_ynode *id = ioc_ymap_get(rule, "id");
    CHECK_STR(id->str, "flood.level");
    CHECK_EQ_INT(id->col, 9);

    const struct ioc_ynode *sop = ioc_ymap_get(rule, "sop");
    REQUIRE(sop != NULL && sop->n == 2);
    CHECK_EQ_INT(sop->items[1]->line, 7);
    CHECK_EQ_INT(sop->items[1]->col, 11);
    CHECK_STR(sop->items[1]->str, "Call the chief");
    CHECK_EQ_INT(sop->items[1]->len, 14);
    ioc_yaml_free(root);
}

TEST(flow_mapping_bands)
{
    const char *text = "grade:\n"
                       "  by: value\n"
                       "  bands: [{ge: 1.5, grade: 3}, {ge: 2.0, grade: 2}]\n";
    struct ioc_ynode *root = parse_ok(text);
    const struct ioc_ynode *bands = ioc_ymap_get(ioc_ymap_get(root, "grade"), "bands");
    REQUIRE(bands != NULL && bands->kind == IOC_Y_SEQ && bands->n == 2);

    const struct ioc_ynode *b1 = bands->items[1];
    CHECK_EQ_INT(b1->kind, IOC_Y_MAP);
    CHECK_EQ_INT(b1->line, 3);
    CHECK_EQ_INT(b1->col, 32);
    const struct ioc_ynode *ge = ioc_ymap_get(b1, "ge");
    REQUIRE(ge != NULL);
    CHECK_EQ_INT(ge->line, 3);
    CHECK_EQ_INT(ge->col, 37);
    double v = 0;
    CHECK_EQ_INT(ioc_ynode_number(ge, &v, NULL), 0);
    CHECK(v == 2.0);
    long long g = 0;
    CHECK_EQ_INT(ioc_ynode_int(ioc_ymap_get(bands->items[0], "grade"), &g, NULL), 0);
    CHECK_EQ_INT(g, 3);
    CHECK(ioc_ymap_get(b1, "le") == NULL);
    CHECK(ioc_ymap_get(ge, "x") == NULL); /* not a map */
    ioc_yaml_free(root);
}

TEST(syntax_error_positioned)
{
    /* An unclosed flow sequence: libyaml notices at the next line. */
    const char *m = parse_err("a: 1\nb: [1, 2\nc: 3\n", IOC_EYAML);
    CHECK_CONTAINS(m, "t.yaml:3:");
    CHECK_CONTAINS(m, "flow sequence");

    m = parse_err("rules:\n  - id: x\n    when: a: b\n", IOC_EYAML);
    CHECK_CONTAINS(m, "t.yaml:3:12: mapping values are not allowed");

    m = parse_err("a: \"open\n", IOC_EYAML);
    CHECK_CONTAINS(m, "t.yaml:2:1: found unexpected end of stream");
    CHECK_CONTAINS(m, "started at line 1, column 4");
}

TEST(anchors_and_aliases_refused)
{
    const char *m = parse_err("base: &b {quiet: 30m}\nother: 1\n", IOC_EYAML);
    CHECK_CONTAINS(m, "t.yaml:1:7: anchors (&b) are not supported");

    m = parse_err("a: 1\nb:\n  - x\n  - *ref\n", IOC_EYAML);
    CHECK_CONTAINS(m, "t.yaml:4:5: aliases (*ref) are not supported");
}

TEST(empty_document_is_empty_map)
{
    const char *texts[] = {"", "# only a comment\n", "---\n", "\n\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct ioc_ynode *root = parse_ok(texts[i]);
        CHECK_EQ_INT(root->kind, IOC_Y_MAP);
        CHECK_EQ_INT(root->n, 0);
        CHECK_EQ_INT(root->line, 1);
        CHECK_EQ_INT(root->col, 1);
        ioc_yaml_free(root);
    }
    /* NULL text with length 0 is an empty document too. */
    struct ioc_ynode *root = NULL;
    CHECK_EQ_INT(ioc_yaml_parse("t.yaml", NULL, 0, &root, NULL), 0);
    CHECK(root != NULL && root->kind == IOC_Y_MAP);
    ioc_yaml_free(root);
}

TEST(durations)
{
    static const struct {
        const char *s;
        long long ms;
    } good[] = {{"500ms", 500},   {"30s", 30000}, {"15m", 900000}, {"2h", 7200000},
                {"1d", 86400000}, {"45", 45000},  {"0s", 0},       {"1.5h", 5400000},
                {"0.25s", 250},   {"10m", 600000}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        long long ms = -1;
        CHECK_EQ_INT(ioc_duration_parse(good[i].s, &ms), 0);
        CHECK_EQ_INT(ms, good[i].ms);
    }
    static const char *const bad[] = {"abc",
                                      "",
                                      "-5s",
                                      "5 s",
                                      "5sec",
                                      "1e3s",
                                      "m",
                                      "1.2.3s",
                                      "30S",
                                      ".s",
                                      "99999999999999999999d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long ms = -1;
        CHECK_EQ_INT(ioc_duration_parse(bad[i], &ms), IOC_EINVAL);
        CHECK_EQ_INT(ms, -1);
    }

    struct ioc_ynode *root = parse_ok("quiet: 30m\nfor: \"15m\"\nwithin: abc\nlist: [1]\n");
    struct ioc_diag d;
    long long ms = 0;
    ioc_diag_init(&d);
    CHECK_EQ_INT(ioc_ynode_duration(ioc_ymap_get(root, "quiet"), &ms, &d), 0);
    CHECK_EQ_INT(ms, 1800000);
    /* A duration is text anyway: quotes are fine. */
    CHECK_EQ_INT(ioc_ynode_duration(ioc_ymap_get(root, "for"), &ms, &d), 0);
    CHECK_EQ_INT(ms, 900000);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_INT(ioc_ynode_duration(ioc_ymap_get(root, "within"), &ms, &d), IOC_EINVAL);
    CHECK_EQ_INT(ioc_ynode_duration(ioc_ymap_get(root, "list"), &ms, &d), IOC_EINVAL);
    REQUIRE(d.n == 2);
    CHECK_STR(d.msgs[0], "t.yaml:3:9: expected a duration like 30s, 15m, 2h, got 'abc'");
    CHECK_STR(d.msgs[1], "t.yaml:4:7: expected a duration like 30s, 15m, 2h, got a list");
    ioc_diag_close(&d);
    ioc_yaml_free(root);
}

TEST(quoted_scalars_are_text)
{
    struct ioc_ynode *root = parse_ok("a: \"1\"\nb: 1\nc: '2.5'\nd: yes\ne: \"true\"\n"
                                      "f: Off\ng: 3.5\nh: |\n  7\ni:\nj: 0x10\n");
    struct ioc_diag d;
    double v = 0;
    long long n = 0;
    bool b = false;
    ioc_diag_init(&d);

    const struct ioc_ynode *a = ioc_ymap_get(root, "a");
    CHECK(a->quoted);
    CHECK_STR(a->str, "1");
    CHECK_EQ_INT(ioc_ynode_number(a, &v, &d), IOC_EINVAL);
    CHECK_EQ_INT(ioc_ynode_int(a, &n, NULL), IOC_EINVAL);
    CHECK(!ioc_ymap_get(root, "b")->quoted);
    CHECK_EQ_INT(ioc_ynode_number(ioc_ymap_get(root, "b"), &v, &d), 0);
    CHECK(v == 1.0);
    CHECK_EQ_INT(ioc_ynode_number(ioc_ymap_get(root, "c"), &v, NULL), IOC_EINVAL);

    CHECK_EQ_INT(ioc_ynode_bool(ioc_ymap_get(root, "d"), &b, &d), 0);
    CHECK(b);
    CHECK_EQ_INT(ioc_ynode_bool(ioc_ymap_get(root, "f"), &b, &d), 0);
    CHECK(!b);
    CHECK_EQ_INT(ioc_ynode_bool(ioc_ymap_get(root, "e"), &b, NULL), IOC_EINVAL);

    CHECK_EQ_INT(ioc_ynode_int(ioc_ymap_get(root, "g"), &n, &d), IOC_EINVAL);
    CHECK_EQ_INT(ioc_ynode_number(ioc_ymap_get(root, "g"), &v, NULL), 0);
    CHECK(v == 3.5);
    /* A block scalar is text, like a quoted one. */
    CHECK(ioc_ymap_get(root, "h")->quoted);
    CHECK_EQ_INT(ioc_ynode_number(ioc_ymap_get(root, "h"), &v, NULL), IOC_EINVAL);
    /* "i:" has an empty plain value: present, but nothing. */
    const struct ioc_ynode *i = ioc_ymap_get(root, "i");
    REQUIRE(i != NULL);
    CHECK_EQ_INT(i->len, 0);
    CHECK_EQ_INT(ioc_ynode_number(i, &v, &d), IOC_EINVAL);
    /* strtod would take hex; a rule file should not. */
    CHECK_EQ_INT(ioc_ynode_number(ioc_ymap_get(root, "j"), &v, NULL), IOC_EINVAL);

    REQUIRE(d.n == 3);
    CHECK_STR(d.msgs[0],
              "t.yaml:1:4: expected a number, got '1' (a quoted value is text; remove the quotes)");
    CHECK_STR(d.msgs[1], "t.yaml:7:4: expected a whole number, got '3.5'");
    CHECK_STR(d.msgs[2], "t.yaml:10:3: expected a number, got nothing");
    ioc_diag_close(&d);
    ioc_yaml_free(root);
}

TEST(duplicate_and_complex_keys_refused)
{
    const char *m = parse_err("id: a\ntitle: t\nid: b\n", IOC_EYAML);
    CHECK_STR(m, "t.yaml:3:1: duplicate key 'id' (first at line 1, column 1)");
    m = parse_err("? [a, b]\n: 1\n", IOC_EYAML);
    CHECK_CONTAINS(m, "t.yaml:1:3: a mapping key must be a plain word, got a list");
    m = parse_err("a: !!int 3\n", IOC_EYAML);
    CHECK_STR(m, "t.yaml:1:4: tags like '!!int' are not supported");
    m = parse_err("a: 1\n---\nb: 2\n", IOC_EYAML);
    CHECK_CONTAINS(m, "t.yaml:2:1: only one YAML document");
}

TEST(str_tag_and_helpers)
{
    struct ioc_ynode *root = parse_ok("n: !!str 12\nl: [a]\nm: {}\n");
    struct ioc_diag d;
    double v = 0;
    ioc_diag_init(&d);
    CHECK(ioc_ymap_get(root, "n")->quoted);
    CHECK_EQ_INT(ioc_ynode_number(ioc_ymap_get(root, "n"), &v, NULL), IOC_EINVAL);
    CHECK_STR(ioc_ynode_str(ioc_ymap_get(root, "n"), &d), "12");
    CHECK(ioc_ynode_str(ioc_ymap_get(root, "l"), &d) == NULL);
    CHECK(ioc_ynode_str(ioc_ymap_get(root, "m"), &d) == NULL);
    CHECK_STR(ioc_ykind_name(IOC_Y_SCALAR), "a string");
    CHECK_STR(ioc_ykind_name(IOC_Y_SEQ), "a list");
    CHECK_STR(ioc_ykind_name(IOC_Y_MAP), "a mapping");
    REQUIRE(d.n == 2);
    CHECK_STR(d.msgs[0], "t.yaml:2:4: expected a string, got a list");
    CHECK_STR(d.msgs[1], "t.yaml:3:4: expected a string, got a mapping");
    CHECK(ioc_ymap_get(NULL, "x") == NULL);
    CHECK(ioc_ymap_key(root, "zz") == NULL);
    ioc_diag_close(&d);
    ioc_yaml_free(root);
    ioc_yaml_free(NULL);
}

TEST(load_file_and_diag)
{
    char path[] = "/tmp/ioc_test_yaml_XXXXXX";
    struct ioc_ynode *root = NULL;
    struct ioc_diag d, all;
    ioc_diag_init(&d);
    ioc_diag_init(&all);

    CHECK_EQ_INT(ioc_yaml_load("/nonexistent/ioc/rules.yaml", &root, &d), IOC_ENOENT);
    CHECK(root == NULL);
    REQUIRE(d.n == 1);
    CHECK_CONTAINS(d.msgs[0], "/nonexistent/ioc/rules.yaml: cannot open");

    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    FILE *f = fdopen(fd, "w");
    REQUIRE(f != NULL);
    fputs("# ทดสอบ\nzone: \"เขต 3\"\nx: [1,\n", f);
    fclose(f);
    CHECK_EQ_INT(ioc_yaml_load(path, &root, &d), IOC_EYAML);
    REQUIRE(d.n == 2);
    CHECK(strncmp(d.msgs[1], path, strlen(path)) == 0);
    CHECK_CONTAINS(d.msgs[1], ":4:1: ");

    ioc_diag_move(&all, &d);
    CHECK_EQ_INT(d.n, 0);
    CHECK_EQ_INT(all.n, 2);
    ioc_diag_add(&all, "f.yaml", 0, 0, "no position %d", 7);
    ioc_diag_add(&all, NULL, 0, 0, "bare");
    ioc_diag_at(&all, NULL, "no node");
    CHECK_STR(all.msgs[2], "f.yaml: no position 7");
    CHECK_STR(all.msgs[3], "bare");
    CHECK_STR(all.msgs[4], "no node");
    ioc_diag_close(&all);
    ioc_diag_close(&d);
    remove(path);
}

TEST(utf8_columns_count_characters)
{
    /* Thai characters are 3 bytes in UTF-8; columns count characters. */
    struct ioc_ynode *root = parse_ok("text: ทดสอบ\nzone: {name: เขต, id: 3}\n");
    const struct ioc_ynode *zone = ioc_ymap_get(root, "zone");
    const struct ioc_ynode *id = ioc_ymap_get(zone, "id");
    REQUIRE(id != NULL);
    CHECK_EQ_INT(id->line, 2);
    CHECK_EQ_INT(id->col, 23);
    CHECK_EQ_INT(ioc_ymap_get(root, "text")->len, 15);
    ioc_yaml_free(root);
}
