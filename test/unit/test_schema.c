/*
 * test_schema.c — the JSON Schema subset: compile errors, every keyword's
 * check and the wording of its reason, and the real event schema.
 */
#include <cjson/cJSON.h>

#include "ioc/error.h"
#include "ioc/schema.h"
#include "test.h"

#define EVENT_SCHEMA IOC_SOURCE_DIR "/schemas/event.schema.json"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static struct ioc_schema *compile_ok(const char *text)
{
    struct ioc_schema *s = NULL;
    char err[256];
    int rc = ioc_schema_compile(text, strlen(text), &s, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "compile: %s\n", err);
    }
    REQUIRE(rc == 0 && s);
    return s;
}

static struct ioc_schema *event_schema(void)
{
    size_t len;
    char *text = slurp(EVENT_SCHEMA, &len);
    struct ioc_schema *s = NULL;
    char err[256];
    int rc = ioc_schema_compile(text, len, &s, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "compile: %s\n", err);
    }
    free(text);
    REQUIRE(rc == 0);
    return s;
}

/* Validates doc (JSON text) and returns the code; reason receives the reason. */
static int validate(const struct ioc_schema *s, const char *doc, char *reason, size_t n)
{
    cJSON *j = cJSON_Parse(doc);
    REQUIRE(j);
    int rc = ioc_schema_validate(s, j, reason, n);
    cJSON_Delete(j);
    return rc;
}

/* Expects doc to fail with exactly this reason. */
#define CHECK_REASON(s, doc, want)                                                                 \
    do {                                                                                           \
        char r_[512];                                                                              \
        CHECK_EQ_INT(validate((s), (doc), r_, sizeof r_), IOC_ESCHEMA);                            \
        CHECK_STR(r_, (want));                                                                     \
    } while (0)

#define CHECK_VALID(s, doc)                                                                        \
    do {                                                                                           \
        char r_[512];                                                                              \
        int rc_ = validate((s), (doc), r_, sizeof r_);                                             \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "unexpected reason: %s\n", r_);                                        \
        }                                                                                          \
        CHECK_EQ_INT(rc_, 0);                                                                      \
    } while (0)

static int compile_err(const char *text, char *err, size_t n)
{
    struct ioc_schema *s = NULL;
    int rc = ioc_schema_compile(text, strlen(text), &s, err, n);
    CHECK(s == NULL);
    ioc_schema_destroy(s);
    return rc;
}

TEST(compile_errors)
{
    char err[256];
    CHECK_EQ_INT(compile_err("{\"type\": \"object\", \"properties\": {\"a\": {\"minimun\": 1}}}",
                             err, sizeof err),
                 IOC_ESCHEMA);
    CHECK_STR(err, "schema #/properties/a: unknown keyword \"minimun\"");
    CHECK_EQ_INT(compile_err("{\"type\": \"strin\"}", err, sizeof err), IOC_ESCHEMA);
    CHECK_CONTAINS(err, "#/type: a type must be one of");
    CHECK_EQ_INT(compile_err("{\"format\": \"email\"}", err, sizeof err), IOC_ESCHEMA);
    CHECK_CONTAINS(err, "unsupported format");
    CHECK_EQ_INT(compile_err("{\"then\": {\"required\": [\"a\"]}}", err, sizeof err), IOC_ESCHEMA);
    CHECK_CONTAINS(err, "\"then\" without \"if\"");
    CHECK_EQ_INT(compile_err("{\"$ref\": \"#/definitions/nope\"}", err, sizeof err), IOC_ESCHEMA);
    CHECK_CONTAINS(err, "names no definition");
    CHECK_EQ_INT(compile_err("{\"$ref\": \"other.json#/x\"}", err, sizeof err), IOC_ESCHEMA);
    CHECK_EQ_INT(compile_err("{\"minLength\": -1}", err, sizeof err), IOC_ESCHEMA);
    CHECK_EQ_INT(compile_err("{\"anyOf\": []}", err, sizeof err), IOC_ESCHEMA);
    CHECK_EQ_INT(compile_err("{\"items\": [{}, {}]}", err, sizeof err), IOC_ESCHEMA);
    CHECK_EQ_INT(compile_err("{\"required\": [\"a\", \"a\"]}", err, sizeof err), IOC_ESCHEMA);
    CHECK_EQ_INT(compile_err("{\"type\": \"object\",", err, sizeof err), IOC_EJSON);
    /* An unused definition is still compiled, so its mistake is still found. */
    CHECK_EQ_INT(compile_err("{\"$defs\": {\"x\": {\"maxItem\": 1}}}", err, sizeof err),
                 IOC_ESCHEMA);
    CHECK_STR(err, "schema #/$defs/x: unknown keyword \"maxItem\"");
    /* Annotations are not keywords and compile to nothing. */
    struct ioc_schema *s = compile_ok("{\"$schema\": \"x\", \"$id\": \"y\", \"title\": \"t\", "
                                      "\"description\": \"d\", \"examples\": [1], "
                                      "\"default\": 2, \"$comment\": \"c\"}");
    CHECK_VALID(s, "[1, 2]");
    ioc_schema_destroy(s);
    ioc_schema_destroy(NULL);
}

TEST(types_and_integers)
{
    struct ioc_schema *s =
        compile_ok("{\"type\": \"object\", \"properties\": {"
                   "\"n\": {\"type\": \"integer\"}, \"x\": {\"type\": \"number\"},"
                   "\"u\": {\"type\": [\"string\", \"null\"]}, \"b\": {\"type\": \"boolean\"}}}");
    CHECK_VALID(s, "{\"n\": 3, \"x\": 3, \"u\": null, \"b\": false}");
    CHECK_VALID(s, "{\"n\": 2.0, \"x\": -0.5, \"u\": \"s\"}");
    CHECK_REASON(s, "{\"n\": 1.5}", "n: expected integer, got number");
    CHECK_REASON(s, "{\"x\": \"1\"}", "x: expected number, got string");
    CHECK_REASON(s, "{\"u\": 1}", "u: expected string or null, got number");
    CHECK_REASON(s, "{\"b\": {}}", "b: expected boolean, got object");
    CHECK_REASON(s, "[]", "top level: expected object, got array");
    /* JSON has no infinity; cJSON turns 1e999 into one. */
    CHECK_REASON(s, "{\"x\": 1e999}", "x: expected number, got a number out of range");
    ioc_schema_destroy(s);
}

TEST(enum_and_const)
{
    struct ioc_schema *s =
        compile_ok("{\"properties\": {\"src\": {\"enum\": [\"sensor\", \"cctv\"]},"
                   "\"mix\": {\"enum\": [1, \"a\", null]}, \"k\": {\"const\": {\"a\": [1, 2]}}}}");
    CHECK_VALID(s, "{\"src\": \"cctv\", \"mix\": null, \"k\": {\"a\": [1, 2]}}");
    CHECK_VALID(s, "{\"mix\": 1.0}");
    CHECK_REASON(s, "{\"src\": \"drone\"}", "src: \"drone\" is not one of sensor, cctv");
    CHECK_REASON(s, "{\"src\": 7}", "src: 7 is not one of sensor, cctv");
    CHECK_REASON(s, "{\"mix\": \"b\"}", "mix: \"b\" is not one of 1, a, null");
    CHECK_REASON(s, "{\"k\": {\"a\": [2, 1]}}", "k: must be an object, got an object");
    /* A quoted value is escaped and cut short. */
    CHECK_REASON(s, "{\"src\": \"a\\nb\\\"c\"}",
                 "src: \"a\\u000ab\\\"c\" is not one of sensor, cctv");
    ioc_schema_destroy(s);
}

TEST(numeric_bounds)
{
    struct ioc_schema *s =
        compile_ok("{\"properties\": {\"loc\": {\"properties\": {\"lat\": {\"type\": \"number\", "
                   "\"minimum\": -90, \"maximum\": 90}}}, \"p\": {\"exclusiveMinimum\": 0, "
                   "\"exclusiveMaximum\": 1}}}");
    CHECK_VALID(s, "{\"loc\": {\"lat\": 90}, \"p\": 0.5}");
    CHECK_VALID(s, "{\"loc\": {\"lat\": -90}, \"p\": \"bounds only apply to numbers\"}");
    CHECK_REASON(s, "{\"loc\": {\"lat\": 95}}", "loc.lat: 95 is above the maximum 90");
    CHECK_REASON(s, "{\"loc\": {\"lat\": -90.5}}", "loc.lat: -90.5 is below the minimum -90");
    CHECK_REASON(s, "{\"p\": 0}", "p: 0 is not above the exclusive minimum 0");
    CHECK_REASON(s, "{\"p\": 1}", "p: 1 is not below the exclusive maximum 1");
    CHECK_REASON(s, "{\"p\": 1.1}", "p: 1.1 is not below the exclusive maximum 1");
    ioc_schema_destroy(s);
}

TEST(string_length_counts_code_points)
{
    struct ioc_schema *s =
        compile_ok("{\"properties\": {\"t\": {\"type\": \"string\", \"minLength\": 2, "
                   "\"maxLength\": 4}}}");
    /* Four Thai characters are twelve bytes and still four characters. */
    CHECK_VALID(s, "{\"t\": \"\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3\xe0\xb9\x84\"}");
    CHECK_VALID(s, "{\"t\": \"ab\"}");
    CHECK_REASON(s, "{\"t\": \"\xe0\xb8\x99\"}", "t: too short (1 characters, at least 2)");
    CHECK_REASON(s, "{\"t\": \"abcde\"}", "t: too long (5 characters, at most 4)");
    CHECK_REASON(s, "{\"t\": \"\xe0\xb8\x99\xe0\xb8\x99\xe0\xb8\x99\xe0\xb8\x99\xe0\xb8\x99\"}",
                 "t: too long (5 characters, at most 4)");
    ioc_schema_destroy(s);
}

TEST(required_and_additional_properties)
{
    struct ioc_schema *s = compile_ok(
        "{\"type\": \"object\", \"properties\": {\"id\": {}, \"loc\": {\"type\": \"object\", "
        "\"properties\": {\"lat\": {}, \"lon\": {}}, \"required\": [\"lat\", \"lon\"], "
        "\"additionalProperties\": false}, \"attrs\": {\"additionalProperties\": "
        "{\"type\": \"string\"}}}, \"required\": [\"id\", \"extra\"], "
        "\"additionalProperties\": false}");
    CHECK_REASON(s, "{\"id\": 1}", "extra: required property missing");
    /* Unknown names are reported first: a misspelt name explains the
     * "missing" one, and the reason lists the right spelling. */
    CHECK_REASON(s, "{\"extra\": 1}", "extra: unknown field (allowed: id, loc, attrs)");
    /* A name only in required is still not a declared property. */
    CHECK_REASON(s, "{\"id\": 1, \"extra\": 1}", "extra: unknown field (allowed: id, loc, attrs)");
    CHECK_REASON(s, "{\"id\": 1, \"speed\": 3}", "speed: unknown field (allowed: id, loc, attrs)");
    CHECK_REASON(s, "{\"id\": 1, \"loc\": {\"lat\": 1}}", "loc.lon: required property missing");
    CHECK_REASON(s, "{\"id\": 1, \"loc\": {\"lat\": 1, \"lon\": 2, \"alt\": 3}}",
                 "loc.alt: unknown field (allowed: lat, lon)");
    CHECK_REASON(s, "{\"id\": 1, \"attrs\": {\"a\": \"x\", \"b\": 2}}",
                 "attrs.b: expected string, got number");
    /* A repeated name would let two readers see two values. */
    CHECK_REASON(s, "{\"id\": 1, \"id\": 2}", "id: duplicate property");
    ioc_schema_destroy(s);
}

TEST(arrays_and_paths)
{
    struct ioc_schema *s = compile_ok(
        "{\"properties\": {\"list\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 3, "
        "\"items\": {\"type\": \"object\", \"properties\": {\"v\": {\"type\": \"integer\"}}}}}}");
    CHECK_VALID(s, "{\"list\": [{\"v\": 1}, {}]}");
    CHECK_REASON(s, "{\"list\": []}", "list: too few items (0, at least 1)");
    CHECK_REASON(s, "{\"list\": [1, 2, 3, 4]}", "list: too many items (4, at most 3)");
    CHECK_REASON(s, "{\"list\": [{}, {}, {\"v\": \"x\"}]}",
                 "list[2].v: expected integer, got string");
    ioc_schema_destroy(s);
}

TEST(combinators)
{
    struct ioc_schema *s = compile_ok(
        "{\"properties\": {"
        "\"ts\": {\"anyOf\": [{\"type\": \"string\", \"format\": \"date-time\"}, "
        "{\"type\": \"integer\", \"minimum\": 0}]},"
        "\"one\": {\"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"number\", \"minimum\": 5}]},"
        "\"no\": {\"not\": {\"const\": \"x\"}},"
        "\"all\": {\"allOf\": [{\"type\": \"string\"}, {\"maxLength\": 2}]},"
        "\"f\": false, \"t\": true}}");
    CHECK_VALID(s, "{\"ts\": \"2026-02-11T00:00:00+07:00\", \"one\": 7.5, \"no\": \"y\", "
                   "\"all\": \"ab\", \"t\": [1]}");
    CHECK_VALID(s, "{\"ts\": 0, \"one\": 2, \"no\": 3}");
    /* The branch meant for the value's type gives the reason. */
    CHECK_REASON(s, "{\"ts\": \"yesterday\"}",
                 "ts: not an RFC 3339 date-time with offset (\"yesterday\")");
    CHECK_REASON(s, "{\"ts\": -5}", "ts: -5 is below the minimum 0");
    CHECK_REASON(s, "{\"ts\": 1.5}", "ts: expected string or integer, got number");
    CHECK_REASON(s, "{\"one\": 6}", "one: matches more than one alternative of oneOf (0 and 1)");
    CHECK_REASON(s, "{\"one\": \"6\"}", "one: expected integer or number, got string");
    CHECK_REASON(s, "{\"no\": \"x\"}", "no: matches the schema under \"not\"");
    CHECK_REASON(s, "{\"all\": \"abc\"}", "all: too long (3 characters, at most 2)");
    CHECK_REASON(s, "{\"f\": 1}", "f: not allowed here");
    ioc_schema_destroy(s);
}

TEST(if_then_else)
{
    struct ioc_schema *s = compile_ok(
        "{\"allOf\": [{\"if\": {\"properties\": {\"source\": {\"const\": \"sensor\"}}, "
        "\"required\": [\"source\"]}, \"then\": {\"required\": [\"device\", \"value\"]}, "
        "\"else\": {\"not\": {\"required\": [\"value\"]}}}]}");
    CHECK_VALID(s, "{\"source\": \"sensor\", \"device\": \"F1\", \"value\": 1}");
    CHECK_VALID(s, "{\"source\": \"cctv\"}");
    CHECK_REASON(s, "{\"source\": \"sensor\", \"value\": 1}",
                 "device: required property missing (source is \"sensor\")");
    CHECK_REASON(s, "{\"source\": \"cctv\", \"value\": 1}",
                 "top level: matches the schema under \"not\"");
    ioc_schema_destroy(s);
}

TEST(refs_and_recursion)
{
    struct ioc_schema *s = compile_ok(
        "{\"$ref\": \"#/definitions/tree\", \"definitions\": {\"tree\": {\"type\": \"object\", "
        "\"properties\": {\"name\": {\"$ref\": \"#/$defs/name\"}, \"kids\": {\"type\": \"array\", "
        "\"items\": {\"$ref\": \"#/definitions/tree\"}}}, \"additionalProperties\": false}}, "
        "\"$defs\": {\"name\": {\"type\": \"string\", \"minLength\": 1}}}");
    CHECK_VALID(s, "{\"name\": \"a\", \"kids\": [{\"name\": \"b\", \"kids\": [{}]}]}");
    CHECK_REASON(s, "{\"kids\": [{\"kids\": [{\"name\": \"\"}]}]}",
                 "kids[0].kids[0].name: too short (0 characters, at least 1)");
    CHECK_REASON(s, "{\"kids\": [{\"x\": 1}]}", "kids[0].x: unknown field (allowed: name, kids)");
    ioc_schema_destroy(s);

    /* A cycle of bare refs consumes no input; it must end, with a reason. */
    s = compile_ok("{\"$ref\": \"#/definitions/a\", \"definitions\": {\"a\": {\"$ref\": "
                   "\"#/definitions/b\"}, \"b\": {\"$ref\": \"#/definitions/a\"}}}");
    CHECK_REASON(s, "1", "top level: schema recursion too deep");
    ioc_schema_destroy(s);
    s = compile_ok("{\"anyOf\": [{\"$ref\": \"#/definitions/a\"}, {\"type\": \"string\"}], "
                   "\"definitions\": {\"a\": {\"$ref\": \"#/definitions/a\"}}}");
    CHECK_REASON(s, "1", "top level: schema recursion too deep");
    ioc_schema_destroy(s);
}

TEST(event_schema_accepts_good_events)
{
    struct ioc_schema *s = event_schema();
    CHECK_VALID(s, "{\"id\": \"F1-1\", \"source\": \"sensor\", \"type\": \"water_level\", "
                   "\"ts\": \"2026-02-11T08:30:00+07:00\", \"device\": \"F1\", \"zone\": \"Z03\", "
                   "\"loc\": {\"lat\": 13.75, \"lon\": 100.5}, \"value\": 1.62, \"unit\": \"m\"}");
    CHECK_VALID(s, "{\"id\": \"c1\", \"source\": \"cctv\", \"type\": \"smoke\", "
                   "\"ts\": 1770773400000, \"device\": \"cam17\", \"score\": 1}");
    CHECK_VALID(s, "{\"id\": \"t1\", \"source\": \"complaint\", \"type\": \"flooding\", "
                   "\"ts\": \"2026-02-11 08:31:12.5Z\", \"channel\": \"line\", "
                   "\"text\": \"\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3\xe0\xb8\x97\xe0\xb9\x88"
                   "\xe0\xb8\xa7\xe0\xb8\xa1\", \"attrs\": {\"anything\": [1, {\"x\": null}]}}");
    CHECK_VALID(s, "{\"id\": \"h\", \"source\": \"system\", \"type\": \"heartbeat\", \"ts\": 0}");
    ioc_schema_destroy(s);
}

TEST(event_schema_rejects_with_reasons)
{
    struct ioc_schema *s = event_schema();
    const char *base = "\"id\": \"x\", \"type\": \"t\", \"ts\": 0";
    char doc[512];
    snprintf(doc, sizeof doc, "{%s, \"source\": \"drone\"}", base);
    CHECK_REASON(s, doc, "source: \"drone\" is not one of sensor, cctv, complaint, system");
    snprintf(doc, sizeof doc, "{%s, \"source\": \"sensor\", \"device\": \"F1\"}", base);
    CHECK_REASON(s, doc, "value: required property missing (source is \"sensor\")");
    snprintf(doc, sizeof doc, "{%s, \"source\": \"sensor\", \"device\": \"F1\", \"value\": \"1\"}",
             base);
    CHECK_REASON(s, doc, "value: expected number, got string");
    snprintf(doc, sizeof doc, "{%s, \"source\": \"cctv\", \"score\": 0.5}", base);
    CHECK_REASON(s, doc, "device: required property missing (source is \"cctv\")");
    snprintf(doc, sizeof doc, "{%s, \"source\": \"cctv\", \"device\": \"c\", \"score\": 1.5}",
             base);
    CHECK_REASON(s, doc, "score: 1.5 is above the maximum 1");
    snprintf(doc, sizeof doc, "{%s, \"source\": \"complaint\"}", base);
    CHECK_REASON(s, doc, "channel: required property missing (source is \"complaint\")");
    snprintf(doc, sizeof doc, "{%s, \"source\": \"system\", \"loc\": {\"lat\": 95, \"lon\": 0}}",
             base);
    CHECK_REASON(s, doc, "loc.lat: 95 is above the maximum 90");
    snprintf(doc, sizeof doc, "{%s, \"source\": \"system\", \"speed\": 3}", base);
    CHECK_REASON(s, doc,
                 "speed: unknown field (allowed: id, source, type, ts, device, zone, loc, value, "
                 "unit, score, channel, text, attrs)");
    CHECK_REASON(s,
                 "{\"id\": \"x\", \"source\": \"system\", \"type\": \"t\", "
                 "\"ts\": \"2026-02-30T00:00:00Z\"}",
                 "ts: not an RFC 3339 date-time with offset (\"2026-02-30T00:00:00Z\")");
    CHECK_REASON(s,
                 "{\"id\": \"x\", \"source\": \"system\", \"type\": \"t\", "
                 "\"ts\": \"2026-02-11T00:00:00\"}",
                 "ts: not an RFC 3339 date-time with offset (\"2026-02-11T00:00:00\")");
    CHECK_REASON(s, "{\"id\": \"\", \"source\": \"system\", \"type\": \"t\", \"ts\": 1}",
                 "id: too short (0 characters, at least 1)");
    CHECK_REASON(s, "{\"source\": \"system\", \"type\": \"t\", \"ts\": 1}",
                 "id: required property missing");
    ioc_schema_destroy(s);
}
