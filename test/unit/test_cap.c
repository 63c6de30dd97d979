/*
 * test_cap.c — CAP 1.2 rendering, validation and the JSON form (engine/cap.c).
 *
 * The project has no XML parser and does not need one for this: the renderer
 * writes each element on its own line, so each <tag>value</tag> is found and
 * compared field by field with plain string searches. The cases cover the
 * three message types, escaping, Thai text byte for byte, circle formatting
 * and every kind of refusal (enumeration, required field, time format,
 * encoding, unknown JSON key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ioc/cap.h"
#include "ioc/error.h"
#include "test.h"

#define THAI_HEADLINE "เตือนภัยน้ำท่วม เขต Z03"
#define THAI_INSTR "อพยพไปที่สูง\nโทร 199"

/* The text of the first <tag>...</tag>, into buf; NULL when there is none. */
static const char *elem(const char *xml, const char *tag, char *buf, size_t n)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *s = strstr(xml, open);
    if (!s) {
        return NULL;
    }
    s += strlen(open);
    const char *e = strstr(s, close);
    if (!e || (size_t)(e - s) >= n) {
        return NULL;
    }
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return buf;
}

#define CHECK_ELEM(xml, tag, want)                                                                 \
    do {                                                                                           \
        char eb_[1024];                                                                            \
        CHECK_STR(elem((xml), (tag), eb_, sizeof eb_), (want));                                    \
    } while (0)

#define CHECK_NO_ELEM(xml, tag)                                                                    \
    do {                                                                                           \
        char eb_[1024];                                                                            \
        CHECK(elem((xml), (tag), eb_, sizeof eb_) == NULL);                                        \
    } while (0)

static struct ioc_cap_alert sample(void)
{
    struct ioc_cap_alert a = {
        .identifier = "bkk-ioc-2026-000042",
        .sender = "ioc@bangkok.go.th",
        .sent = "2026-02-11T16:42:29+07:00",
        .status = "Actual",
        .msg_type = "Alert",
        .scope = "Public",
        .info =
            {
                .language = "th-TH",
                .category = "Met",
                .event = "Flood",
                .urgency = "Immediate",
                .severity = "Severe",
                .certainty = "Observed",
                .headline = THAI_HEADLINE,
                .description = "Water level 2.6 m at F1",
                .instruction = THAI_INSTR,
                .web = "https://ioc.bangkok.go.th/cap/bkk-ioc-2026-000042",
                .contact = "IOC duty desk 1555",
                .area = {.area_desc = "Z03",
                         .has_circle = true,
                         .lat = 13.7563,
                         .lon = 100.5018,
                         .radius_km = 0.5},
            },
    };
    return a;
}

/* Checks the rendering is one complete document around the given body. */
static void check_document(const char *xml)
{
    const char *head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n";
    CHECK(strncmp(xml, head, strlen(head)) == 0);
    size_t len = strlen(xml);
    CHECK(len > 9 && strcmp(xml + len - 9, "</alert>\n") == 0);
    CHECK_CONTAINS(xml, "  <info>\n");
    CHECK_CONTAINS(xml, "  </info>\n");
    CHECK_CONTAINS(xml, "    <area>\n");
    CHECK_CONTAINS(xml, "    </area>\n");
}

/* Every tag appears after the previous one: the CAP schema is a sequence. */
static void check_order(const char *xml, const char *const *tags)
{
    const char *at = xml;
    for (size_t i = 0; tags[i]; i++) {
        char open[64];
        snprintf(open, sizeof open, "<%s>", tags[i]);
        const char *p = strstr(at, open);
        if (!p) {
            fprintf(stderr, "missing or out of order: %s\n", tags[i]);
        }
        CHECK(p != NULL);
        at = p ? p : at;
    }
}

TEST(render_alert)
{
    struct ioc_cap_alert a = sample();
    char *xml = NULL;
    REQUIRE(ioc_cap_render(&a, &xml) == 0);
    REQUIRE(xml != NULL);
    check_document(xml);
    CHECK_ELEM(xml, "identifier", "bkk-ioc-2026-000042");
    CHECK_ELEM(xml, "sender", "ioc@bangkok.go.th");
    CHECK_ELEM(xml, "sent", "2026-02-11T16:42:29+07:00");
    CHECK_ELEM(xml, "status", "Actual");
    CHECK_ELEM(xml, "msgType", "Alert");
    CHECK_ELEM(xml, "scope", "Public");
    CHECK_NO_ELEM(xml, "references");
    CHECK_ELEM(xml, "language", "th-TH");
    CHECK_ELEM(xml, "category", "Met");
    CHECK_ELEM(xml, "event", "Flood");
    CHECK_ELEM(xml, "urgency", "Immediate");
    CHECK_ELEM(xml, "severity", "Severe");
    CHECK_ELEM(xml, "certainty", "Observed");
    CHECK_ELEM(xml, "headline", THAI_HEADLINE);
    CHECK_ELEM(xml, "description", "Water level 2.6 m at F1");
    CHECK_ELEM(xml, "instruction", THAI_INSTR);
    CHECK_ELEM(xml, "web", "https://ioc.bangkok.go.th/cap/bkk-ioc-2026-000042");
    CHECK_ELEM(xml, "contact", "IOC duty desk 1555");
    CHECK_ELEM(xml, "areaDesc", "Z03");
    CHECK_ELEM(xml, "circle", "13.7563,100.5018 0.5");
    static const char *const order[] = {
        "identifier", "sender",   "sent",        "status",      "msgType", "scope",
        "info",       "language", "category",    "event",       "urgency", "severity",
        "certainty",  "headline", "description", "instruction", "web",     "contact",
        "area",       "areaDesc", "circle",      NULL};
    check_order(xml, order);
    free(xml);
}

TEST(render_update_with_references)
{
    struct ioc_cap_alert a = sample();
    a.identifier = "bkk-ioc-2026-000043";
    a.sent = "2026-02-11T17:05:00+07:00";
    a.msg_type = "Update";
    a.info.severity = "Extreme";
    a.references = "ioc@bangkok.go.th,bkk-ioc-2026-000042,2026-02-11T16:42:29+07:00 "
                   "ioc@bangkok.go.th,bkk-ioc-2026-000041,2026-02-11T15:00:00+07:00";
    char *xml = NULL;
    REQUIRE(ioc_cap_render(&a, &xml) == 0);
    check_document(xml);
    CHECK_ELEM(xml, "identifier", "bkk-ioc-2026-000043");
    CHECK_ELEM(xml, "sent", "2026-02-11T17:05:00+07:00");
    CHECK_ELEM(xml, "msgType", "Update");
    CHECK_ELEM(xml, "severity", "Extreme");
    CHECK_ELEM(xml, "references",
               "ioc@bangkok.go.th,bkk-ioc-2026-000042,2026-02-11T16:42:29+07:00 "
               "ioc@bangkok.go.th,bkk-ioc-2026-000041,2026-02-11T15:00:00+07:00");
    static const char *const order[] = {"scope", "references", "info", NULL};
    check_order(xml, order);
    free(xml);
}

TEST(render_cancel_minimal)
{
    /* Only what CAP and we require: optional elements are left out, not empty. */
    struct ioc_cap_alert a = {
        .identifier = "bkk-ioc-2026-000044",
        .sender = "ioc@bangkok.go.th",
        .sent = "2026-02-11T18:00:00-00:00",
        .status = "Exercise",
        .msg_type = "Cancel",
        .references = "ioc@bangkok.go.th,bkk-ioc-2026-000043,2026-02-11T17:05:00+07:00",
        .info = {.category = "Infra",
                 .event = "Water outage",
                 .urgency = "Past",
                 .severity = "Minor",
                 .certainty = "Unlikely",
                 .headline = "",
                 .area = {.area_desc = "Z07"}},
    };
    char *xml = NULL;
    REQUIRE(ioc_cap_render(&a, &xml) == 0);
    check_document(xml);
    CHECK_ELEM(xml, "msgType", "Cancel");
    CHECK_ELEM(xml, "status", "Exercise");
    CHECK_ELEM(xml, "scope", "Public"); /* NULL scope means Public */
    CHECK_ELEM(xml, "sent", "2026-02-11T18:00:00-00:00");
    CHECK_ELEM(xml, "references",
               "ioc@bangkok.go.th,bkk-ioc-2026-000043,2026-02-11T17:05:00+07:00");
    CHECK_ELEM(xml, "category", "Infra");
    CHECK_ELEM(xml, "urgency", "Past");
    CHECK_ELEM(xml, "severity", "Minor");
    CHECK_ELEM(xml, "certainty", "Unlikely");
    CHECK_ELEM(xml, "areaDesc", "Z07");
    CHECK_NO_ELEM(xml, "language");
    CHECK_NO_ELEM(xml, "headline");
    CHECK_NO_ELEM(xml, "description");
    CHECK_NO_ELEM(xml, "instruction");
    CHECK_NO_ELEM(xml, "web");
    CHECK_NO_ELEM(xml, "contact");
    CHECK_NO_ELEM(xml, "circle");
    free(xml);
}

TEST(update_and_cancel_need_references)
{
    struct ioc_cap_alert a = sample();
    char *xml = (char *)"untouched";
    char why[256];
    a.msg_type = "Cancel";
    CHECK_EQ_INT(ioc_cap_render(&a, &xml), IOC_EINVAL);
    CHECK(xml == NULL);
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "references");
    a.msg_type = "Update";
    a.references = "ioc@bangkok.go.th,bkk-ioc-2026-000042"; /* no sent */
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "sender,identifier,sent");
    a.references = "ioc@bangkok.go.th,bkk-ioc-2026-000042,2026-02-11T16:42:29.5+07:00";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "references: sent");
}

TEST(escaping)
{
    struct ioc_cap_alert a = sample();
    a.info.headline = "Flood <Z3> & \"river\" 'bank'";
    a.info.description = "line1\r\nline2";
    a.info.area.area_desc = "Z3 & Z4";
    a.info.contact = "a]]>b";
    char *xml = NULL;
    REQUIRE(ioc_cap_render(&a, &xml) == 0);
    CHECK_ELEM(xml, "headline", "Flood &lt;Z3&gt; &amp; &quot;river&quot; &apos;bank&apos;");
    CHECK_ELEM(xml, "description", "line1&#13;\nline2");
    CHECK_ELEM(xml, "areaDesc", "Z3 &amp; Z4");
    CHECK_ELEM(xml, "contact", "a]]&gt;b");
    /* No raw markup character survives inside any element text. */
    CHECK(strstr(xml, "<Z3>") == NULL);
    CHECK(strstr(xml, "& ") == NULL);
    free(xml);
}

TEST(thai_text_byte_for_byte)
{
    struct ioc_cap_alert a = sample();
    a.info.event = "น้ำท่วม";
    a.info.description = "ระดับน้ำ 2.6 ม. ที่สถานี F1 (ถนนพระราม 4) & ฝนตกหนัก";
    a.info.area.area_desc = "เขตคลองเตย";
    char *xml = NULL;
    REQUIRE(ioc_cap_render(&a, &xml) == 0);
    CHECK_ELEM(xml, "event", "น้ำท่วม");
    CHECK_ELEM(xml, "description", "ระดับน้ำ 2.6 ม. ที่สถานี F1 (ถนนพระราม 4) &amp; ฝนตกหนัก");
    CHECK_ELEM(xml, "areaDesc", "เขตคลองเตย");
    CHECK_ELEM(xml, "headline", THAI_HEADLINE);
    CHECK(strstr(xml, "&#") == NULL); /* no character references for Thai */
    free(xml);
}

TEST(circle_formatting)
{
    struct {
        double lat, lon, r;
        const char *want;
    } cases[] = {
        {13.7563, 100.5018, 0.5, "13.7563,100.5018 0.5"},
        {-6.2, 106.816666666, 0, "-6.2,106.816667 0"},
        {-0.0000001, -180, 12.25, "0,-180 12.25"},
        {90, 0, 1.0004, "90,0 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ioc_cap_alert a = sample();
        a.info.area.lat = cases[i].lat;
        a.info.area.lon = cases[i].lon;
        a.info.area.radius_km = cases[i].r;
        char *xml = NULL;
        REQUIRE(ioc_cap_render(&a, &xml) == 0);
        CHECK_ELEM(xml, "circle", cases[i].want);
        free(xml);
    }
    struct ioc_cap_alert a = sample();
    char *xml = NULL;
    a.info.area.lat = 91;
    CHECK_EQ_INT(ioc_cap_render(&a, &xml), IOC_EINVAL);
    a = sample();
    a.info.area.radius_km = -1;
    CHECK_EQ_INT(ioc_cap_render(&a, &xml), IOC_EINVAL);
}

TEST(invalid_enum_refused)
{
    char why[256];
    char *xml = NULL;
    struct ioc_cap_alert a = sample();
    a.info.urgency = "Soon";
    CHECK_EQ_INT(ioc_cap_render(&a, &xml), IOC_EINVAL);
    CHECK(xml == NULL);
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "info.urgency: 'Soon' is not one of Immediate, Expected, Future, Past, "
                        "Unknown");
    a = sample();
    a.status = "actual"; /* CAP values are case-sensitive */
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "status");
    a = sample();
    a.msg_type = "Ack"; /* valid CAP, but not something the engine sends */
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    a = sample();
    a.info.severity = "Critical";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    a = sample();
    a.info.certainty = "Sure";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    a = sample();
    a.info.category = "Flood";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "info.category");
    a = sample();
    a.scope = "Restricted";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "scope");
}

TEST(missing_or_malformed_fields_refused)
{
    char why[256];
    char *xml = NULL;
    struct ioc_cap_alert a = sample();
    a.identifier = NULL;
    CHECK_EQ_INT(ioc_cap_render(&a, &xml), IOC_EINVAL);
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_STR(why, "identifier: required");
    a = sample();
    a.identifier = "bkk 42";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "identifier");
    a = sample();
    a.sender = "";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    a = sample();
    a.info.event = NULL;
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_STR(why, "info.event: required");
    a = sample();
    a.info.area.area_desc = NULL;
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_STR(why, "info.area.areaDesc: required");
    const char *bad_times[] = {"2026-02-11T16:42:29.123+07:00", "2026-02-11T09:42:29Z",
                               "2026-02-11 16:42:29+07:00",     "2026-13-11T16:42:29+07:00",
                               "2026-02-11T16:42:29",           NULL};
    for (size_t i = 0; bad_times[i]; i++) {
        a = sample();
        a.sent = bad_times[i];
        CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
        CHECK_CONTAINS(why, "sent");
    }
    a = sample();
    a.info.language = "th_TH";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    a = sample();
    a.info.web = "ioc.bangkok.go.th/cap";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EINVAL);
    CHECK_CONTAINS(why, "info.web");
}

TEST(bad_encoding_refused)
{
    char why[256];
    char *xml = NULL;
    struct ioc_cap_alert a = sample();
    a.info.headline = "flood \xE0\xB8"; /* a Thai character cut in half */
    CHECK_EQ_INT(ioc_cap_render(&a, &xml), IOC_EENCODING);
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EENCODING);
    CHECK_CONTAINS(why, "info.headline: byte 6");
    a = sample();
    a.info.description = "bell \x07"; /* no XML 1.0 document can hold it */
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EENCODING);
    a = sample();
    a.info.description = "surrogate \xED\xA0\x80";
    CHECK_EQ_INT(ioc_cap_validate(&a, why, sizeof why), IOC_EENCODING);
}

static const char *full_json =
    "{\"identifier\": \"bkk-ioc-2026-000043\", \"sender\": \"ioc@bangkok.go.th\","
    " \"sent\": \"2026-02-11T17:05:00+07:00\", \"status\": \"Actual\", \"msgType\": \"Update\","
    " \"scope\": \"Public\","
    " \"references\": \"ioc@bangkok.go.th,bkk-ioc-2026-000042,2026-02-11T16:42:29+07:00\","
    " \"info\": {\"language\": \"th-TH\", \"category\": \"Met\", \"event\": \"Flood\","
    "   \"urgency\": \"Immediate\", \"severity\": \"Extreme\", \"certainty\": \"Observed\","
    "   \"headline\": \"" THAI_HEADLINE "\", \"description\": \"Level 2.6 m <rising>\","
    "   \"instruction\": \"อพยพไปที่สูง\\nโทร 199\", \"web\": \"https://ioc.example/cap/43\","
    "   \"contact\": null,"
    "   \"area\": {\"areaDesc\": \"Z03\", \"circle\": \"13.7563,100.5018 0.5\"}}}";

TEST(from_json_full)
{
    cJSON *j = cJSON_Parse(full_json);
    REQUIRE(j != NULL);
    struct ioc_cap_alert a;
    int rc = ioc_cap_from_json(j, &a);
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", a.error);
    }
    REQUIRE(rc == 0);
    CHECK_STR(a.identifier, "bkk-ioc-2026-000043");
    CHECK_STR(a.sender, "ioc@bangkok.go.th");
    CHECK_STR(a.sent, "2026-02-11T17:05:00+07:00");
    CHECK_STR(a.status, "Actual");
    CHECK_STR(a.msg_type, "Update");
    CHECK_STR(a.scope, "Public");
    CHECK_STR(a.references, "ioc@bangkok.go.th,bkk-ioc-2026-000042,2026-02-11T16:42:29+07:00");
    CHECK_STR(a.info.language, "th-TH");
    CHECK_STR(a.info.category, "Met");
    CHECK_STR(a.info.event, "Flood");
    CHECK_STR(a.info.urgency, "Immediate");
    CHECK_STR(a.info.severity, "Extreme");
    CHECK_STR(a.info.certainty, "Observed");
    CHECK_STR(a.info.headline, THAI_HEADLINE);
    CHECK_STR(a.info.instruction, THAI_INSTR);
    CHECK(a.info.contact == NULL); /* null is absent */
    CHECK_STR(a.info.area.area_desc, "Z03");
    CHECK(a.info.area.has_circle);
    CHECK(a.info.area.lat == 13.7563 && a.info.area.lon == 100.5018);
    CHECK(a.info.area.radius_km == 0.5);
    char *xml = NULL;
    REQUIRE(ioc_cap_render(&a, &xml) == 0);
    CHECK_ELEM(xml, "description", "Level 2.6 m &lt;rising&gt;");
    CHECK_ELEM(xml, "instruction", THAI_INSTR);
    CHECK_ELEM(xml, "circle", "13.7563,100.5018 0.5");
    CHECK_NO_ELEM(xml, "contact");
    free(xml);
    cJSON_Delete(j);
}

/* Parses text, expects from_json to fail with code and a reason containing want. */
static void expect_json_error(const char *text, int code, const char *want)
{
    cJSON *j = cJSON_Parse(text);
    REQUIRE(j != NULL);
    struct ioc_cap_alert a;
    CHECK_EQ_INT(ioc_cap_from_json(j, &a), code);
    CHECK_CONTAINS(a.error, want);
    cJSON_Delete(j);
}

TEST(from_json_errors)
{
    static const char *info_ok =
        "\"info\": {\"category\": \"Met\", \"event\": \"Flood\", \"urgency\": \"Immediate\","
        " \"severity\": \"Severe\", \"certainty\": \"Observed\", \"area\": {\"areaDesc\": "
        "\"Z03\"}}";
    static const char *head_ok = "\"identifier\": \"x1\", \"sender\": \"ioc\", "
                                 "\"sent\": \"2026-02-11T16:42:29+07:00\", \"status\": \"Actual\", "
                                 "\"msgType\": \"Alert\"";
    char text[2048];

    snprintf(text, sizeof text, "{%s, %s}", head_ok, info_ok);
    cJSON *j = cJSON_Parse(text);
    struct ioc_cap_alert a;
    CHECK_EQ_INT(ioc_cap_from_json(j, &a), 0);
    CHECK(!a.info.area.has_circle);
    cJSON_Delete(j);

    expect_json_error("[]", IOC_EINVAL, "alert: expected an object");
    snprintf(text, sizeof text,
             "{\"sender\": \"ioc\", \"sent\": \"2026-02-11T16:42:29+07:00\","
             " \"status\": \"Actual\", \"msgType\": \"Alert\", %s}",
             info_ok);
    expect_json_error(text, IOC_EINVAL, "identifier: required");
    snprintf(text, sizeof text, "{%s}", head_ok);
    expect_json_error(text, IOC_EINVAL, "info: required");
    snprintf(text, sizeof text, "{%s, \"msgtype\": \"Alert\", %s}", head_ok, info_ok);
    expect_json_error(text, IOC_EINVAL, "'msgtype': unknown key (allowed: identifier");
    snprintf(text, sizeof text,
             "{\"identifier\": 42, \"sender\": \"ioc\", \"sent\": \"2026-02-11T16:42:29+07:00\","
             " \"status\": \"Actual\", \"msgType\": \"Alert\", %s}",
             info_ok);
    expect_json_error(text, IOC_EINVAL, "identifier: expected a string");
    snprintf(text, sizeof text,
             "{%s, \"info\": {\"category\": \"Met\", \"event\": \"Flood\", \"urgency\": \"Soon\","
             " \"severity\": \"Severe\", \"certainty\": \"Observed\", \"area\": {\"areaDesc\": "
             "\"Z03\"}}}",
             head_ok);
    expect_json_error(text, IOC_EINVAL, "info.urgency: 'Soon' is not one of");
    snprintf(text, sizeof text,
             "{%s, \"info\": {\"category\": \"Met\", \"event\": \"Flood\", \"urgency\": "
             "\"Immediate\", \"severity\": \"Severe\", \"certainty\": \"Observed\", \"headLine\": "
             "\"x\", \"area\": {\"areaDesc\": \"Z03\"}}}",
             head_ok);
    expect_json_error(text, IOC_EINVAL, "info.'headLine': unknown key");
    snprintf(text, sizeof text,
             "{%s, \"info\": {\"category\": \"Met\", \"event\": \"Flood\", \"urgency\": "
             "\"Immediate\", \"severity\": \"Severe\", \"certainty\": \"Observed\"}}",
             head_ok);
    expect_json_error(text, IOC_EINVAL, "info.area: required");
    const char *circles[] = {"13.75 100.5 1",  "13.75,100.5",     "nan,100.5 1",
                             "13.75, 100.5 1", "13.75,100.5 1km", NULL};
    for (size_t i = 0; circles[i]; i++) {
        snprintf(text, sizeof text,
                 "{%s, \"info\": {\"category\": \"Met\", \"event\": \"Flood\", \"urgency\": "
                 "\"Immediate\", \"severity\": \"Severe\", \"certainty\": \"Observed\", \"area\": "
                 "{\"areaDesc\": \"Z03\", \"circle\": \"%s\"}}}",
                 head_ok, circles[i]);
        expect_json_error(text, IOC_EINVAL, "info.area.circle");
    }
    snprintf(text, sizeof text,
             "{%s, \"info\": {\"category\": \"Met\", \"event\": \"Flood\", \"urgency\": "
             "\"Immediate\", \"severity\": \"Severe\", \"certainty\": \"Observed\", \"area\": "
             "{\"areaDesc\": \"Z03\", \"circle\": \"95,100.5 1\"}}}",
             head_ok);
    expect_json_error(text, IOC_EINVAL, "lat in [-90, 90]");
    snprintf(text, sizeof text,
             "{%s, \"info\": {\"category\": \"Met\", \"event\": \"\\u0001\","
             " \"urgency\": \"Immediate\", \"severity\": \"Severe\", "
             "\"certainty\": \"Observed\", \"area\": {\"areaDesc\": \"Z03\"}}}",
             head_ok);
    expect_json_error(text, IOC_EENCODING, "info.event");
}

TEST(time_format)
{
    char buf[IOC_CAP_TIME_LEN];
    setenv("TZ", "Asia/Bangkok", 1);
    tzset();
    CHECK_STR(ioc_cap_time_format(1770802949123LL, buf, sizeof buf), "2026-02-11T16:42:29+07:00");
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_STR(ioc_cap_time_format(1770802949999LL, buf, sizeof buf), "2026-02-11T09:42:29-00:00");
    CHECK_STR(ioc_cap_time_format(-1, buf, sizeof buf), "1969-12-31T23:59:59-00:00");
    /* What it writes is what validate accepts as sent. */
    struct ioc_cap_alert a = sample();
    a.sent = buf;
    CHECK_EQ_INT(ioc_cap_validate(&a, NULL, 0), 0);
}
