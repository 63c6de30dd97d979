/*
 * test_expr.c — rule expressions: parsing, errors with columns, evaluation,
 * and the source/type constraints the rule index uses.
 */
#include <stddef.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/expr.h"
#include "test.h"

/* Where attrs.* strings are unescaped, as in a decoded event's store. */
static char attrs_store[4096];

/* A sensor event as the decoder would lift it; attrs come from JSON text whose
 * last member is "attrs", as the decoder would point at it. */
static struct ioc_event sensor(double value, const char *attrs_json)
{
    struct ioc_event ev;
    memset(&ev, 0, offsetof(struct ioc_event, inline_store));
    ev.id = "e1";
    ev.source = IOC_SRC_SENSOR;
    ev.type = "water_level";
    ev.ts = 1770742800000;
    ev.device = "F1";
    ev.zone = "Z03";
    ev.unit = "m";
    ev.value = value;
    ev.has = IOC_HAS_VALUE;
    if (attrs_json != NULL) {
        ev.raw = attrs_json;
        ev.raw_len = strlen(attrs_json);
        REQUIRE(ev.raw_len < sizeof attrs_store);
        ev.store = attrs_store;
        const char *a = strstr(attrs_json, "\"attrs\":");
        if (a != NULL) {
            ev.attrs = strchr(a, '{');
            ev.attrs_len = (size_t)(strrchr(attrs_json, '}') - ev.attrs);
        }
    }
    return ev;
}

static struct ioc_expr *compile(const char *text)
{
    struct ioc_expr *x = NULL;
    char err[256] = "";
    int col = 0;
    int rc = ioc_expr_compile(text, NULL, &x, &col, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "compile \"%s\": %s at column %d\n", text, err, col);
    }
    REQUIRE(rc == 0 && x != NULL);
    return x;
}

static bool eval_text(const char *text, const struct ioc_event *ev)
{
    struct ioc_expr *x = compile(text);
    bool r = ioc_expr_eval(x, ev);
    ioc_expr_free(x);
    return r;
}

/* Compiles text expecting failure; checks the code and column, returns the message. */
static const char *compile_err(const char *text, const struct ioc_expr_env *env, int want_rc,
                               int want_col)
{
    static char err[256];
    struct ioc_expr *x = (struct ioc_expr *)1;
    int col = 0;
    err[0] = '\0';
    int rc = ioc_expr_compile(text, env, &x, &col, err, sizeof(err));
    CHECK_EQ_INT(rc, want_rc);
    CHECK_EQ_INT(col, want_col);
    CHECK(x == NULL);
    if (col != want_col || rc != want_rc) {
        fprintf(stderr, "  for \"%s\": %s\n", text, err);
    }
    return err;
}

TEST(precedence_and_short_circuit)
{
    struct ioc_event ev = sensor(2.0, NULL);
    /* && binds tighter than ||; ! tighter than both. */
    CHECK(eval_text("value > 5 && value > 100 || zone == \"Z03\"", &ev));
    CHECK(eval_text("zone == \"Z03\" || value > 5 && value > 100", &ev));
    CHECK(!eval_text("(zone == \"Z03\" || value > 5) && value > 100", &ev));
    CHECK(eval_text("!value > 5 && device == \"F1\"", &ev));
    CHECK(!eval_text("!(value >= 2) || !!false", &ev));
    CHECK(eval_text("!!true", &ev));
    /* A long chain is evaluated in a loop, in order. */
    CHECK(eval_text("value > 0 && value > 1 && value >= 2 && value <= 2 && value < 3 && "
                    "value != 4 && value == 2 && unit == \"m\" && type == 'water_level'",
                    &ev));
    CHECK(!eval_text("value < 0 || value < 1 || value > 2 || unit == \"cm\"", &ev));
    /* Parenthesised operands stay values. */
    CHECK(eval_text("(value) == 2", &ev));
    CHECK(eval_text("((value > 1)) == true", &ev));
    CHECK(eval_text("(value > 1 && value < 3) != false", &ev));
    /* Literals compare too; -numbers are numbers. */
    CHECK(eval_text("1 < 2 && -1.5 < 0 && 2e1 == 20 && .5 == 0.5", &ev));
    CHECK(eval_text("value > -1", &ev));
}

TEST(missing_fields_are_false)
{
    struct ioc_event ev = sensor(2.0, NULL);
    ev.zone = NULL;
    ev.has = 0; /* no value */
    CHECK(!eval_text("zone == \"Z03\"", &ev));
    CHECK(!eval_text("zone != \"Z03\"", &ev));
    CHECK(!eval_text("value < 1", &ev));
    CHECK(!eval_text("value != 1", &ev));
    CHECK(!eval_text("score >= 0", &ev));
    CHECK(!eval_text("loc.lat < 90", &ev));
    CHECK(!eval_text("zone in [\"Z03\", \"Z07\"]", &ev));
    CHECK(!eval_text("text =~ \".*\"", &ev));
    CHECK(!eval_text("attrs.depth > 0", &ev));
    /* ...but its negation is true, and a bare missing field is false. */
    CHECK(eval_text("!(zone == \"Z03\")", &ev));
    CHECK(!eval_text("zone", &ev));
    CHECK(eval_text("!zone && device", &ev));
    /* Present values are truthy unless 0, false or "". */
    ev.has = IOC_HAS_VALUE | IOC_HAS_SCORE | IOC_HAS_LOC;
    ev.value = 0;
    ev.score = 0.9;
    ev.lat = 13.75;
    ev.lon = 100.5;
    ev.text = "";
    CHECK(!eval_text("value", &ev));
    CHECK(eval_text("score && loc.lat > 13 && loc.lon < 101", &ev));
    CHECK(!eval_text("text", &ev));
}

TEST(number_and_string_never_compare)
{
    struct ioc_event ev = sensor(2.0, "{\"attrs\": {\"code\": \"2\", \"n\": 2, \"ok\": true}}");
    CHECK(!eval_text("value == \"2\"", &ev));
    CHECK(!eval_text("value != \"2\"", &ev));
    CHECK(!eval_text("attrs.code == 2", &ev));
    CHECK(!eval_text("attrs.code != 2", &ev));
    CHECK(!eval_text("zone < 5", &ev));
    CHECK(eval_text("attrs.code == \"2\" && attrs.n == 2", &ev));
    /* Strings compare bytewise. */
    CHECK(eval_text("zone > \"Z02\" && zone < \"Z1\" && zone >= \"Z03\"", &ev));
    CHECK(!eval_text("zone == \"Z03 \"", &ev));
    /* Bools compare with bools only, and only for (in)equality. */
    CHECK(eval_text("attrs.ok == true && attrs.ok != false", &ev));
    CHECK(!eval_text("attrs.ok == 1", &ev));
    CHECK(!eval_text("attrs.ok > false", &ev));
}

TEST(in_lists)
{
    struct ioc_event ev = sensor(3.0, NULL);
    CHECK(eval_text("zone in [\"Z07\", \"Z03\", \"Z12\"]", &ev));
    CHECK(!eval_text("zone in [\"Z07\", \"Z12\", \"Z3\"]", &ev));
    CHECK(eval_text("value in [5, 1, 3, -2]", &ev));
    CHECK(!eval_text("value in [5, 1, 2.5]", &ev));
    /* Mixed lists match each type on its own. */
    CHECK(eval_text("value in [\"3\", 3]", &ev));
    CHECK(!eval_text("zone in [3, \"Z\"]", &ev));
    CHECK(eval_text("!(device in ['F2', 'F3'])", &ev));
    CHECK(eval_text("type in [\"water_level\"] && source in [\"sensor\", \"cctv\"]", &ev));

    const char *m = compile_err("zone in [\"Z03\", \"Z07\"", NULL, IOC_EEXPR, 22);
    CHECK_STR(m, "expected ']' to close the list started at column 9, got the end of the "
                 "expression");
    m = compile_err("zone in [Z03, Z07]", NULL, IOC_EEXPR, 10);
    CHECK_CONTAINS(m, "write 'Z03' as \"Z03\"");
    compile_err("zone in []", NULL, IOC_EEXPR, 9);
    compile_err("zone in \"Z03\"", NULL, IOC_EEXPR, 9);
    compile_err("zone in [\"a\",]", NULL, IOC_EEXPR, 14);
}

struct lists {
    struct ioc_list low;
    struct ioc_list levels;
};

static const struct ioc_list *lookup(void *arg, const char *name, size_t len)
{
    struct lists *l = arg;
    if (len == strlen(l->low.name) && memcmp(name, l->low.name, len) == 0) {
        return &l->low;
    }
    if (len == strlen(l->levels.name) && memcmp(name, l->levels.name, len) == 0) {
        return &l->levels;
    }
    return NULL;
}

TEST(named_lists)
{
    /* The list's strings are not NUL-terminated at len: the compiler must copy len bytes. */
    static const char buf[] = "Z07Z03Z12xx";
    struct ioc_literal low[] = {{false, 0, buf, 3}, {false, 0, buf + 3, 3}, {false, 0, buf + 6, 3}};
    struct ioc_literal levels[] = {{true, 1.5, NULL, 0}, {true, 2.5, NULL, 0}};
    struct lists l = {{"low_lying_zones", low, 3}, {"levels", levels, 2}};
    struct ioc_expr_env env = {lookup, &l};
    struct ioc_event ev = sensor(2.5, NULL);
    struct ioc_expr *x = NULL;
    char err[128];
    int col = 0;

    REQUIRE(ioc_expr_compile("zone in @low_lying_zones && value in @levels", &env, &x, &col, err,
                             sizeof(err)) == 0);
    CHECK(ioc_expr_eval(x, &ev));
    ev.zone = "Z12";
    CHECK(ioc_expr_eval(x, &ev));
    ev.zone = "Z12x";
    CHECK(!ioc_expr_eval(x, &ev));
    ev.zone = "Z03";
    ev.value = 2.0;
    CHECK(!ioc_expr_eval(x, &ev));
    ioc_expr_free(x);

    const char *m = compile_err("value > 1 && zone in @zones", &env, IOC_EEXPR, 22);
    CHECK_STR(m, "unknown list @zones");
    m = compile_err("zone in @low_lying_zones", NULL, IOC_EEXPR, 9);
    CHECK_STR(m, "unknown list @low_lying_zones");
    compile_err("zone in @", &env, IOC_EEXPR, 9);
}

TEST(regex)
{
    struct ioc_event ev = sensor(1, "{\"attrs\": {\"plate\": \"AB-1234\"}}");
    ev.text = "น้ำท่วมซอย 5 flooding near the market";
    CHECK(eval_text("text =~ \"flood(ing|ed)\"", &ev));
    CHECK(eval_text("text =~ 'ซอย [0-9]+'", &ev));
    CHECK(!eval_text("text =~ \"^flooding\"", &ev));
    CHECK(eval_text("attrs.plate =~ \"^[A-Z]{2}-[0-9]{4}$\"", &ev));
    /* A backslash that is not one of our escapes reaches the regex as written. */
    CHECK(eval_text("device =~ \"^F\\.?1$\"", &ev));
    CHECK(!eval_text("value =~ \"1\"", &ev));

    /* Matching respects the value's length, not only its NUL. */
    const char *zone = "Z03-EXTRA";
    struct ioc_expr *x = compile("zone =~ \"^Z03$\"");
    ev.zone = zone;
    CHECK(!ioc_expr_eval(x, &ev));
    ev.zone = "Z03";
    CHECK(ioc_expr_eval(x, &ev));
    ioc_expr_free(x);

    const char *m = compile_err("text =~ \"(unclosed\"", NULL, IOC_EEXPR, 9);
    CHECK_STR(m, "invalid regular expression: missing ): (unclosed");
    m = compile_err("text =~ flood", NULL, IOC_EEXPR, 9);
    CHECK_CONTAINS(m, "expected a quoted regular expression after '=~'");
}

/* Patterns that kept glibc's regcomp busy for minutes or took gigabytes
 * (found by fuzz_expr), and a backtracking matcher's exponential case: they
 * compile and match at once now, with the right answer. ctest's timeout is
 * what would catch a regression to hanging. */
TEST(regex_without_pathological_cases)
{
    struct ioc_event ev = sensor(1, NULL);
    char text[4001];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 2] = 'b';
    text[sizeof text - 1] = '\0';
    ev.text = text;
    CHECK(!eval_text("text =~ \"^(a|aa)+$\"", &ev));
    CHECK(eval_text("text =~ \"((((a?){1,3}){1,3}){1,3}){1,}b\"", &ev));
    CHECK(eval_text("text =~ \"(((((a?){1,3}){1,3}){1,}){1,3}){1,3}b\"", &ev));
    CHECK(eval_text("text =~ \"a++++++++++++++++++++b$\"", &ev));
    CHECK(!eval_text("text =~ \"(a*)*c\"", &ev));
}

/* What would take too much memory is refused, saying why. */
TEST(regex_too_large_is_refused)
{
    const char *m = compile_err("text =~ \"(((a{1,30}){1,30}){1,30})\"", NULL, IOC_EEXPR, 9);
    CHECK_CONTAINS(m, "invalid regular expression: invalid repetition size");
    m = compile_err("text =~ \"a{1001}\"", NULL, IOC_EEXPR, 9);
    CHECK_CONTAINS(m, "invalid repetition size");
    /* 400 atoms repeated 1000 times: past the budget of one pattern. */
    char big[600] = "text =~ \"(";
    for (int i = 0; i < 40; i++) {
        strcat(big, "abcdefghij");
    }
    strcat(big, "){1000}\"");
    m = compile_err(big, NULL, IOC_EEXPR, 9);
    CHECK_CONTAINS(m, "invalid regular expression: too large once its repetitions are spelled out");
    /* Up to the limits is fine. */
    struct ioc_expr *x = compile("text =~ \"^a{1000}$\" || text =~ \"[{9999}+]+(ab)+[0-9]{3}\"");
    ioc_expr_free(x);
}

/* POSIX extended syntax over characters, not bytes: '.' and brackets take a
 * Thai character whole; ^ and $ are the value's ends even around a newline;
 * Perl's classes and back-references are not POSIX and are refused. */
TEST(regex_posix_over_utf8)
{
    struct ioc_event ev = sensor(1, NULL);
    ev.text = "ซอย";
    CHECK(eval_text("text =~ \"^.{3}$\"", &ev));
    CHECK(eval_text("text =~ \"^[ก-ฮ]+$\"", &ev));
    CHECK(eval_text("text =~ \"^[[:alpha:]ก-ฮ]+$\"", &ev));
    ev.text = "pump\nbroken";
    CHECK(!eval_text("text =~ \"^broken\"", &ev));
    CHECK(!eval_text("text =~ \"pump$\"", &ev));
    CHECK(eval_text("text =~ \"pump.broken\"", &ev));
    const char *m = compile_err("text =~ \"\\d+\"", NULL, IOC_EEXPR, 9);
    CHECK_CONTAINS(m, "invalid regular expression: invalid escape sequence: \\d");
    m = compile_err("text =~ \"(a)\\1\"", NULL, IOC_EEXPR, 9);
    CHECK_CONTAINS(m, "invalid escape sequence");
}

TEST(field_errors_have_columns)
{
    const char *m = compile_err("value > 1 && vale > 2", NULL, IOC_EFIELD, 14);
    CHECK_STR(m, "unknown field 'vale' (did you mean 'value'?)");
    m = compile_err("source == sensor", NULL, IOC_EFIELD, 11);
    CHECK_CONTAINS(m, "unknown field 'sensor'");
    CHECK_CONTAINS(m, "\"sensor\"");
    m = compile_err("attrs > 1", NULL, IOC_EFIELD, 1);
    CHECK_CONTAINS(m, "unknown field 'attrs'");
    compile_err("loc == 1", NULL, IOC_EFIELD, 1);
    compile_err("attrs. == 1", NULL, IOC_EFIELD, 1);
    compile_err("attrs.a..b == 1", NULL, IOC_EFIELD, 1);
    /* Thai text before the error: the column counts characters. */
    compile_err("text == \"ท่วม\" && zonee == \"x\"", NULL, IOC_EFIELD, 19);
    m = compile_err("value > 1 and zone", NULL, IOC_EEXPR, 11);
    CHECK_CONTAINS(m, "got 'and' (write && for 'and')");
}

TEST(syntax_errors)
{
    const char *m = compile_err("value == ", NULL, IOC_EEXPR, 10);
    CHECK_STR(m, "expected a value after '==', got the end of the expression");
    m = compile_err("value >= && zone", NULL, IOC_EEXPR, 10);
    CHECK_STR(m, "expected a value after '>=', got '&&'");
    m = compile_err("text == \"unterminated", NULL, IOC_EEXPR, 9);
    CHECK_CONTAINS(m, "unterminated string");
    m = compile_err("(value > 1 || zone == \"a\"", NULL, IOC_EEXPR, 26);
    CHECK_STR(m, "expected ')' to close the '(' at column 1, got the end of the expression");
    m = compile_err("value = 1", NULL, IOC_EEXPR, 7);
    CHECK_CONTAINS(m, "'=='");
    compile_err("value > 1 & zone", NULL, IOC_EEXPR, 11);
    compile_err("value > 30s", NULL, IOC_EEXPR, 9);
    compile_err("value > 1)", NULL, IOC_EEXPR, 10);
    compile_err("value > 1 zone", NULL, IOC_EEXPR, 11);
    compile_err("   ", NULL, IOC_EEXPR, 1);
    compile_err("value # 1", NULL, IOC_EEXPR, 7);
    m = compile_err("source == \"sensr\"", NULL, IOC_EEXPR, 11);
    CHECK_CONTAINS(m, "unknown source 'sensr'");
    compile_err("source in [\"sensor\", \"cam\"]", NULL, IOC_EEXPR, 22);

    /* Nesting is bounded; within the bound it works. */
    char deep[400];
    memset(deep, '(', 70);
    strcpy(deep + 70, "true");
    memset(deep + 74, ')', 70);
    deep[144] = '\0';
    compile_err(deep, NULL, IOC_EEXPR, 65);
    deep[60] = '\0';
    struct ioc_expr *x = NULL;
    char err[64];
    CHECK_EQ_INT(ioc_expr_compile(deep + 30, NULL, &x, NULL, err, sizeof(err)), IOC_EEXPR);
    CHECK(ioc_expr_compile("((((value))))", NULL, &x, NULL, NULL, 0) == 0);
    ioc_expr_free(x);
}

TEST(strings_and_attrs)
{
    struct ioc_event ev = sensor(1, "{\"attrs\": {\"depth\": 0.7, \"pump\": {\"state\": \"off\", "
                                    "\"rpm\": 0}, \"note\": \"say \\\"hi\\\"\\n\", \"list\": [1], "
                                    "\"nil\": null, \"station-id\": \"S-9\"}}");
    CHECK(eval_text("attrs.depth > 0.5 && attrs.depth < 1", &ev));
    CHECK(eval_text("attrs.pump.state == \"off\" && attrs.pump.rpm == 0", &ev));
    CHECK(!eval_text("attrs.pump.rpm", &ev));
    CHECK(eval_text("attrs.note == \"say \\\"hi\\\"\\n\"", &ev));
    CHECK(eval_text("attrs.note == 'say \"hi\"\\n'", &ev));
    CHECK(eval_text("attrs.station-id == \"S-9\"", &ev));
    CHECK(!eval_text("attrs.list == 1", &ev));
    CHECK(!eval_text("attrs.nil == 0 || attrs.nil != 0", &ev));
    CHECK(!eval_text("attrs.pump == \"off\"", &ev));
    CHECK(!eval_text("attrs.depth.x == 1", &ev));
    CHECK(!eval_text("attrs.missing.deep == 1", &ev));
    CHECK(eval_text("ts == 1770742800000 && id == 'e1' && source == 'sensor'", &ev));
    CHECK(eval_text("'a\\tb' == \"a\tb\" && \"\\\\\" == '\\\\'", &ev));

    /* Without attrs in the JSON, or without JSON, attrs.* is missing. */
    ev = sensor(1, "{\"id\": \"x\"}");
    CHECK(!eval_text("attrs.depth > 0 || attrs.depth <= 0", &ev));
    ev = sensor(1, NULL);
    CHECK(!eval_text("attrs.depth != 0", &ev));
}

TEST(fieldrefs)
{
    static const char *const names[] = {"id",   "source",  "type",    "ts",         "device",
                                        "zone", "value",   "unit",    "score",      "channel",
                                        "text", "loc.lat", "loc.lon", "attrs.a.b-c"};
    char buf[64];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct ioc_fieldref r;
        REQUIRE(ioc_fieldref_parse(names[i], strlen(names[i]), &r) == 0);
        CHECK_EQ_INT(r.f, i < 13 ? (int)i : IOC_F_ATTR);
        CHECK_STR(ioc_fieldref_name(&r, buf, sizeof(buf)), names[i]);
        ioc_fieldref_close(&r);
    }
    struct ioc_fieldref r;
    CHECK_EQ_INT(ioc_fieldref_parse("valuex", 5, &r), 0); /* len bounds the name */
    CHECK_EQ_INT(r.f, IOC_F_VALUE);
    static const char *const bad[] = {"attrs",    "loc",   "attrs.", "attrs..a",
                                      "attrs.a.", "Value", "loc.x",  ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(ioc_fieldref_parse(bad[i], strlen(bad[i]), &r), IOC_EFIELD);
    }
    struct ioc_event ev = sensor(1, NULL);
    ev.source = IOC_SRC_COMPLAINT;
    CHECK(ioc_fieldref_parse("source", 6, &r) == 0);
    struct ioc_value v = ioc_event_get(&ev, &r);
    CHECK_EQ_INT(v.t, IOC_V_STR);
    CHECK_STR(v.str, "complaint");
    CHECK_EQ_INT(v.len, 9);
}

/* Checks that x constrains f to exactly the given values (in any order). */
static void check_set(const struct ioc_expr *x, enum ioc_field f, const char *const *want,
                      size_t n_want)
{
    const char *const *vals = NULL;
    size_t n = 0;
    REQUIRE(ioc_expr_constraint(x, f, &vals, &n));
    CHECK_EQ_INT(n, n_want);
    for (size_t i = 0; i < n_want; i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++) {
            found = found || strcmp(vals[j], want[i]) == 0;
        }
        if (!found) {
            fprintf(stderr, "  missing constraint value %s\n", want[i]);
        }
        CHECK(found);
    }
}

TEST(constraints)
{
    const char *const *vals;
    size_t n;
    const char *sensor_only[] = {"sensor"};
    const char *ab[] = {"a", "b"};

    struct ioc_expr *x = compile("source == \"sensor\" && type in [\"a\", \"b\"] && value > 1");
    check_set(x, IOC_F_SOURCE, sensor_only, 1);
    check_set(x, IOC_F_TYPE, ab, 2);
    CHECK(!ioc_expr_constraint(x, IOC_F_ZONE, &vals, &n));
    ioc_expr_free(x);

    /* || unites its branches; duplicates count once. */
    x = compile(
        "(source == \"sensor\" && type == \"a\") || (source == 'cctv' && type in ['b', 'a'])");
    const char *sc[] = {"sensor", "cctv"};
    check_set(x, IOC_F_SOURCE, sc, 2);
    check_set(x, IOC_F_TYPE, ab, 2);
    ioc_expr_free(x);

    /* A branch without the field leaves it unconstrained. */
    x = compile("source == \"sensor\" && type == \"a\" || zone == \"Z1\"");
    CHECK(!ioc_expr_constraint(x, IOC_F_SOURCE, &vals, &n));
    CHECK(!ioc_expr_constraint(x, IOC_F_TYPE, &vals, &n));
    ioc_expr_free(x);

    /* && intersects; "sensor" == source counts too; != and ! do not constrain. */
    x = compile("type in [\"a\", \"b\", \"c\"] && \"sensor\" == source && type in [\"b\", \"c\", "
                "\"d\"] && !(type == \"c\")");
    const char *bc[] = {"b", "c"};
    check_set(x, IOC_F_TYPE, bc, 2);
    check_set(x, IOC_F_SOURCE, sensor_only, 1);
    ioc_expr_free(x);
    x = compile("source != \"sensor\" && !(type == \"a\")");
    CHECK(!ioc_expr_constraint(x, IOC_F_SOURCE, &vals, &n));
    CHECK(!ioc_expr_constraint(x, IOC_F_TYPE, &vals, &n));
    ioc_expr_free(x);

    /* Contradictions give an empty set: the rule can never match. */
    x = compile("type == \"a\" && type == \"b\"");
    check_set(x, IOC_F_TYPE, NULL, 0);
    ioc_expr_free(x);

    /* Lists from the environment constrain too. */
    static const char types[] = "smokefire";
    struct ioc_literal items[] = {{false, 0, types, 5}, {false, 0, types + 5, 4}};
    struct lists l = {{"fire_types", items, 2}, {"none", NULL, 0}};
    struct ioc_expr_env env = {lookup, &l};
    char err[64];
    REQUIRE(ioc_expr_compile("source == 'cctv' && type in @fire_types", &env, &x, NULL, err,
                             sizeof(err)) == 0);
    const char *sf[] = {"smoke", "fire"};
    check_set(x, IOC_F_TYPE, sf, 2);
    ioc_expr_free(x);
}

/* For an event the rule index routed (its source and type in the sets the
 * index took from the expression), the leading source/type conjuncts are
 * skipped; anything else is evaluated as ever. */
TEST(indexed_evaluation_skips_what_the_index_guarantees)
{
    struct ioc_event ev = sensor(2.0, NULL);
    static const struct {
        const char *text;
        bool plain, indexed;
    } cases[] = {
        /* The index would never route this sensor event here: evaluated
         * indexed, only the rest counts. */
        {"source == \"cctv\" && value > 1", false, true},
        {"type in ['smoke', 'fire'] && \"sensor\" == source && value > 1", false, true},
        {"source == 'sensor' && type == 'water_level'", true, true},
        {"type == 'water_level'", true, true},
        /* Not leading conjuncts, or not leaves: evaluated in full. */
        {"value > 1 && source == 'cctv'", false, false},
        {"source == 'cctv' || value > 1", true, true},
        {"(type == 'smoke' && value > 1) && value > 0", false, false},
        {"source != 'cctv' && value > 1", true, true},
        {"source == 'sensor' && value > 3", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ioc_expr *x = compile(cases[i].text);
        bool plain = ioc_expr_eval(x, &ev), indexed = ioc_expr_eval_indexed(x, &ev);
        if (plain != cases[i].plain || indexed != cases[i].indexed) {
            fprintf(stderr, "  %s: plain %d indexed %d\n", cases[i].text, plain, indexed);
        }
        CHECK(plain == cases[i].plain && indexed == cases[i].indexed);
        ioc_expr_free(x);
    }
}
