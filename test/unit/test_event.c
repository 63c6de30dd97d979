/*
 * test_event.c — the event decoder (size, UTF-8, JSON, schema, lifting) and
 * event time (RFC 3339 parsing and formatting).
 *
 * Messages are decoded from exact-size heap copies without a terminating NUL,
 * as ZeroMQ frames arrive, so a read past the end shows under AddressSanitizer.
 */
#include <cjson/cJSON.h>
#include <time.h>
#include <math.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "test.h"

#define EVENT_SCHEMA IOC_SOURCE_DIR "/schemas/event.schema.json"
#define LIMIT 65536

static struct ioc_decoder *decoder(void)
{
    FILE *f = fopen(EVENT_SCHEMA, "rb");
    REQUIRE(f);
    char *text = malloc(1 << 16);
    REQUIRE(text);
    size_t len = fread(text, 1, 1 << 16, f);
    fclose(f);
    struct ioc_decoder *d = NULL;
    char err[256];
    int rc = ioc_decoder_create(text, len, LIMIT, &d, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "decoder: %s\n", err);
    }
    free(text);
    REQUIRE(rc == 0 && d);
    return d;
}

struct result {
    int rc;
    char reason[512];
};

/* Decodes len bytes of msg; on success the event is left in *ev (caller clears). */
static struct result decode_n(struct ioc_decoder *d, const char *msg, size_t len,
                              struct ioc_event *ev)
{
    struct result r;
    char *copy = malloc(len ? len : 1);
    REQUIRE(copy);
    memcpy(copy, msg, len);
    r.rc = ioc_decoder_decode(d, copy, len, 42, ev, r.reason, sizeof r.reason);
    if (r.rc == 0) {
        /* raw borrows the bytes; point it back at the caller's copy. */
        CHECK(ev->raw == copy && ev->raw_len == len);
        ev->raw = msg;
        if (ev->attrs) {
            ev->attrs = msg + (ev->attrs - copy);
        }
    } else {
        CHECK(ev->store == NULL && ev->id == NULL && ev->has == 0);
    }
    free(copy);
    return r;
}

static struct result decode(struct ioc_decoder *d, const char *msg, struct ioc_event *ev)
{
    return decode_n(d, msg, strlen(msg), ev);
}

/* Expects msg to be rejected with code and exactly this reason. */
static void expect_reject(struct ioc_decoder *d, const char *msg, size_t len, int code,
                          const char *reason)
{
    struct ioc_event ev;
    struct result r = decode_n(d, msg, len, &ev);
    CHECK_EQ_INT(r.rc, code);
    CHECK_STR(r.reason, reason);
    if (r.rc == 0) {
        ioc_event_clear(&ev);
    }
}

/* For string literals, which may hold NULs: their length is their size. */
#define REJECT(d, lit, code, reason) expect_reject((d), (lit), sizeof(lit) - 1, (code), (reason))

TEST(good_sensor_event)
{
    struct ioc_decoder *d = decoder();
    struct ioc_event ev;
    struct result r = decode(d,
                             "{\"id\": \"F1-000123\", \"source\": \"sensor\", \"type\": "
                             "\"water_level\", \"ts\": \"2026-02-11T08:30:00.250+07:00\", "
                             "\"device\": \"F1\", \"zone\": \"Z03\", \"loc\": {\"lat\": 13.7563, "
                             "\"lon\": 100.5018}, \"value\": 1.62, \"unit\": \"m\"}\n",
                             &ev);
    if (r.rc != 0) {
        fprintf(stderr, "reason: %s\n", r.reason);
    }
    REQUIRE(r.rc == 0);
    CHECK_STR(ev.id, "F1-000123");
    CHECK_EQ_INT(ev.source, IOC_SRC_SENSOR);
    CHECK_STR(ev.type, "water_level");
    CHECK_EQ_INT(ev.ts, INT64_C(1770773400250));
    CHECK_STR(ev.device, "F1");
    CHECK_STR(ev.zone, "Z03");
    CHECK_STR(ev.unit, "m");
    CHECK(ev.channel == NULL && ev.text == NULL);
    CHECK_EQ_INT(ev.has, IOC_HAS_VALUE | IOC_HAS_LOC);
    CHECK(ev.value == 1.62 && ev.lat == 13.7563 && ev.lon == 100.5018);
    CHECK_EQ_INT(ev.received, 42);
    CHECK(ev.attrs == NULL && ev.store != NULL);
    ioc_event_clear(&ev);
    CHECK(ev.store == NULL && ev.id == NULL);
    ioc_event_clear(&ev); /* a cleared event clears again */
    ioc_decoder_destroy(d);
}

TEST(good_cctv_event_with_epoch_ms)
{
    struct ioc_decoder *d = decoder();
    struct ioc_event ev;
    struct result r = decode(d,
                             "{\"id\": \"cam17-88\", \"source\": \"cctv\", \"type\": \"smoke\", "
                             "\"ts\": 1770773400000, \"device\": \"cam17\", \"score\": 0.91}",
                             &ev);
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(ev.source, IOC_SRC_CCTV);
    CHECK_EQ_INT(ev.ts, INT64_C(1770773400000));
    CHECK_EQ_INT(ev.has, IOC_HAS_SCORE);
    CHECK(ev.score == 0.91);
    ioc_event_clear(&ev);

    REJECT(d,
           "{\"id\": \"c\", \"source\": \"cctv\", \"type\": \"s\", \"ts\": -1, "
           "\"device\": \"c\", \"score\": 0.5}",
           IOC_ESCHEMA, "ts: -1 is below the minimum 0");
    ioc_decoder_destroy(d);
}

TEST(good_complaint_with_thai_text)
{
    struct ioc_decoder *d = decoder();
    struct ioc_event ev;
    /* "น้ำไม่ไหลตั้งแต่เช้า" — no water since the morning. */
    const char *msg = "{\"id\": \"tf-42\", \"source\": \"complaint\", \"type\": \"water_outage\", "
                      "\"ts\": \"2026-02-11T08:31:12.5+07:00\", \"channel\": \"traffy\", "
                      "\"text\": \"น้ำไม่ไหลตั้งแต่เช้า\", \"attrs\": {\"ticket\": \"TF-42\"}}";
    struct result r = decode(d, msg, &ev);
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(ev.source, IOC_SRC_COMPLAINT);
    CHECK_STR(ev.channel, "traffy");
    CHECK_STR(ev.text, "น้ำไม่ไหลตั้งแต่เช้า");
    CHECK_EQ_INT(ev.ts, INT64_C(1770773472500));
    CHECK(ev.device == NULL && ev.has == 0);
    struct ioc_fieldref ticket;
    REQUIRE(ioc_fieldref_parse("attrs.ticket", 12, &ticket) == 0);
    struct ioc_value v = ioc_event_get(&ev, &ticket);
    CHECK_EQ_INT(v.t, IOC_V_STR);
    CHECK_STR(v.str, "TF-42");
    ioc_fieldref_close(&ticket);
    ioc_event_clear(&ev);
    ioc_decoder_destroy(d);
}

TEST(oversize_is_rejected_first)
{
    struct ioc_decoder *d = decoder();
    size_t len = 70000;
    char *big = malloc(len);
    REQUIRE(big);
    memset(big, 0xFF, len); /* not UTF-8 either: size is judged first */
    expect_reject(d, big, len, IOC_ETOOBIG, "message of 70000 bytes is over the 65536-byte limit");
    CHECK_STR(ioc_reject_reason(IOC_ETOOBIG), "size");
    free(big);
    ioc_decoder_destroy(d);
}

TEST(invalid_utf8_is_rejected_with_its_offset)
{
    struct ioc_decoder *d = decoder();
    /* A lone continuation byte. */
    REJECT(d, "{\"id\": \"abc\x80\"}", IOC_EENCODING, "invalid UTF-8 at byte 11");
    /* Overlong "/", an encoded surrogate, above U+10FFFF, truncated at the end. */
    REJECT(d, "{\"t\": \"\xC0\xAF\"}", IOC_EENCODING, "invalid UTF-8 at byte 7");
    REJECT(d, "{\"t\": \"\xED\xA0\x80\"}", IOC_EENCODING, "invalid UTF-8 at byte 7");
    REJECT(d, "{\"t\": \"\xF4\x90\x80\x80\"}", IOC_EENCODING, "invalid UTF-8 at byte 7");
    REJECT(d, "{\"t\": \"\xE0\xB8", IOC_EENCODING, "invalid UTF-8 at byte 7");
    /* Encoding wins over an earlier JSON fault. */
    REJECT(d, "{x \"\xFF\"}", IOC_EENCODING, "invalid UTF-8 at byte 4");
    CHECK_STR(ioc_reject_reason(IOC_EENCODING), "encoding");
    ioc_decoder_destroy(d);
}

TEST(invalid_json_is_rejected_with_its_offset)
{
    struct ioc_decoder *d = decoder();
    REJECT(d, "{\"id\": \"x\", \"source\" \"sensor\"}", IOC_EJSON, "invalid JSON at byte 21");
    REJECT(d, "{\"id\": \"x\",}", IOC_EJSON, "invalid JSON at byte 11");
    REJECT(d, "{\"v\": 01}", IOC_EJSON, "invalid JSON at byte 7: bad number");
    REJECT(d, "{\"v\": 1.}", IOC_EJSON, "invalid JSON at byte 8: bad number");
    REJECT(d, "{\"v\": tru}", IOC_EJSON, "invalid JSON at byte 6: unexpected word");
    REJECT(d, "{\"t\": \"a\tb\"}", IOC_EJSON,
           "invalid JSON at byte 8: unescaped control character in a string");
    REJECT(d, "{\"t\": \"\\x\"}", IOC_EJSON, "invalid JSON at byte 7: bad escape in a string");
    REJECT(d, "{} {}", IOC_EJSON, "invalid JSON at byte 3: data after the value");
    REJECT(d, "", IOC_EJSON, "invalid JSON at byte 0: empty message");
    REJECT(d, "{\"id\": ", IOC_EJSON, "invalid JSON at byte 7: unexpected end of message");
    REJECT(d, "{\"id\": [\"xyz", IOC_EJSON, "invalid JSON at byte 8: unterminated string");
    REJECT(d, "{\"a\": [1, 2}", IOC_EJSON, "invalid JSON at byte 11: '}' closes an array");
    REJECT(d, "{\"a\": 1 2", IOC_EJSON, "invalid JSON at byte 8");
    REJECT(d, "]", IOC_EJSON, "invalid JSON at byte 0: unmatched closing bracket");
    CHECK_STR(ioc_reject_reason(IOC_EJSON), "json");
    ioc_decoder_destroy(d);
}

TEST(binary_garbage_and_embedded_nul)
{
    struct ioc_decoder *d = decoder();
    static const char garbage[] = {0x00, 0x01, 0x7f, 0x10, 0x02};
    expect_reject(d, garbage, sizeof garbage, IOC_EJSON, "invalid JSON at byte 0: NUL byte");
    /* A NUL inside a string would cut the C string short; after the object it
     * would hide a second message. Both are faults at their byte. */
    REJECT(d, "{\"id\": \"a\0b\"}", IOC_EJSON, "invalid JSON at byte 9: NUL byte in a string");
    static const char good[] =
        "{\"id\": \"x\", \"source\": \"system\", \"type\": \"t\", \"ts\": 1}";
    char msg[sizeof good + 8];
    memcpy(msg, good, sizeof good - 1);
    memcpy(msg + sizeof good - 1, "\0{}", 3);
    char want[64];
    snprintf(want, sizeof want, "invalid JSON at byte %zu: NUL byte", sizeof good - 1);
    expect_reject(d, msg, sizeof good + 2, IOC_EJSON, want);
    REJECT(d, "{\"id\": \"a\\u0000b\"}", IOC_EJSON,
           "invalid JSON at byte 9: \\u0000 is not allowed in strings");
    /* Whitespace (a CRLF line end) after the object is fine. */
    struct ioc_event ev;
    memcpy(msg + sizeof good - 1, "\r\n", 2);
    struct result r = decode_n(d, msg, sizeof good + 1, &ev);
    CHECK_EQ_INT(r.rc, 0);
    ioc_event_clear(&ev);
    ioc_decoder_destroy(d);
}

TEST(schema_failures_name_the_field)
{
    struct ioc_decoder *d = decoder();
    const char *k = "\"id\": \"x\", \"type\": \"t\", \"ts\": 1";
    char msg[512];
    snprintf(msg, sizeof msg, "[{%s}]", k);
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA, "top level: expected object, got array");
    REJECT(d, "\"event\"", IOC_ESCHEMA, "top level: expected object, got string");
    snprintf(msg, sizeof msg, "{%s, \"source\": \"drone\"}", k);
    expect_reject(d, msg, strlen(msg), IOC_ESOURCE,
                  "source: \"drone\" is not one of sensor, cctv, complaint, system");
    snprintf(msg, sizeof msg, "{%s, \"source\": \"system\", \"speed\": 3}", k);
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA,
                  "speed: unknown field (allowed: id, source, type, ts, device, zone, loc, value, "
                  "unit, score, channel, text, attrs)");
    snprintf(msg, sizeof msg, "{%s, \"source\": \"sensor\", \"value\": 2.5}", k);
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA,
                  "device: required property missing (source is \"sensor\")");
    snprintf(msg, sizeof msg, "{%s, \"source\": \"sensor\", \"device\": \"F\", \"value\": \"2\"}",
             k);
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA, "value: expected number, got string");
    snprintf(msg, sizeof msg, "{%s, \"source\": \"system\", \"loc\": {\"lat\": 13, \"lon\": -181}}",
             k);
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA, "loc.lon: -181 is below the minimum -180");
    snprintf(msg, sizeof msg, "{%s, \"source\": \"system\", \"loc\": {\"lat\": 13}}", k);
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA, "loc.lon: required property missing");
    snprintf(msg, sizeof msg,
             "{\"id\": \"x\", \"type\": \"t\", \"ts\": 1.5, \"source\": \"system\"}");
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA, "ts: expected string or integer, got number");
    snprintf(msg, sizeof msg, "{%s, \"source\": \"system\", \"source\": \"cctv\"}", k);
    expect_reject(d, msg, strlen(msg), IOC_ESCHEMA, "source: duplicate property");
    CHECK_STR(ioc_reject_reason(IOC_ESCHEMA), "schema");
    CHECK_STR(ioc_reject_reason(IOC_ELATE), "late");
    CHECK_STR(ioc_reject_reason(IOC_EINVAL), "invalid");
    ioc_decoder_destroy(d);
}

TEST(text_limit_counts_characters)
{
    struct ioc_decoder *d = decoder();
    /* 4096 Thai characters are 12288 bytes and still within the limit. */
    const char *head =
        "{\"id\": \"x\", \"source\": \"system\", \"type\": \"t\", \"ts\": 1, \"text\": \"";
    size_t hl = strlen(head);
    char *msg = malloc(hl + 3 * 4097 + 2);
    REQUIRE(msg);
    memcpy(msg, head, hl);
    size_t len = hl;
    for (int i = 0; i < 4096; i++, len += 3) {
        memcpy(msg + len, "\xe0\xb8\x99", 3);
    }
    memcpy(msg + len, "\"}", 2);
    struct ioc_event ev;
    struct result r = decode_n(d, msg, len + 2, &ev);
    CHECK_EQ_INT(r.rc, 0);
    ioc_event_clear(&ev);
    memcpy(msg + len, "\xe0\xb8\x99\"}", 5);
    expect_reject(d, msg, len + 5, IOC_ESCHEMA, "text: too long (4097 characters, at most 4096)");
    free(msg);
    ioc_decoder_destroy(d);
}

TEST(time_parse)
{
    int64_t ms = -1;
    CHECK_EQ_INT(ioc_time_parse("1970-01-01T00:00:00Z", &ms), 0);
    CHECK_EQ_INT(ms, 0);
    CHECK_EQ_INT(ioc_time_parse("2026-02-11T00:00:00+07:00", &ms), 0);
    CHECK_EQ_INT(ms, INT64_C(1770742800000));
    CHECK_EQ_INT(ioc_time_parse("2026-02-10t17:00:00z", &ms), 0);
    CHECK_EQ_INT(ms, INT64_C(1770742800000));
    CHECK_EQ_INT(ioc_time_parse("2026-02-10 12:30:00.5-04:30", &ms), 0);
    CHECK_EQ_INT(ms, INT64_C(1770742800500));
    /* Digits past the millisecond are dropped, not rounded. */
    CHECK_EQ_INT(ioc_time_parse("2026-02-11T00:00:00.123999+07:00", &ms), 0);
    CHECK_EQ_INT(ms, INT64_C(1770742800123));
    CHECK_EQ_INT(ioc_time_parse("2024-02-29T23:59:59.999Z", &ms), 0);
    CHECK_EQ_INT(ms, INT64_C(1709251199999));
    CHECK_EQ_INT(ioc_time_parse("2000-02-29T00:00:00Z", &ms), 0);
    CHECK_EQ_INT(ms, INT64_C(951782400000));
    CHECK_EQ_INT(ioc_time_parse("1969-12-31T23:59:59.5Z", &ms), 0);
    CHECK_EQ_INT(ms, -500);
    CHECK_EQ_INT(ioc_time_parse("9999-12-31T23:59:59.999Z", &ms), 0);
    CHECK_EQ_INT(ms, INT64_C(253402300799999));

    static const char *const bad[] = {
        "2026-02-30T00:00:00Z", /* no such day */
        "2025-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* centuries are not, unless by 400 */
        "2026-13-01T00:00:00Z",      "2026-00-10T00:00:00Z",
        "2026-04-31T00:00:00Z",      "2026-02-11T24:00:00Z",
        "2026-02-11T23:60:00Z",      "2026-02-11T23:59:60Z",
        "2026-02-11T00:00:00", /* no offset */
        "2026-02-11T00:00:00+0700",  "2026-02-11T00:00:00+07",
        "2026-02-11T00:00:00+24:00", "2026-02-11T00:00:00.Z",
        "2026-02-11T00:00:00Z ",     "2026-02-11",
        "2026-2-11T00:00:00Z",       "",
        "2026-02-11X00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ioc_time_parse(bad[i], &ms) != IOC_EINVAL) {
            fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
            CHECK(0);
        }
    }
    CHECK_EQ_INT(ioc_time_parse(NULL, &ms), IOC_EINVAL);
}

TEST(time_format_round_trip_in_bangkok)
{
    setenv("TZ", "Asia/Bangkok", 1);
    tzset();
    char buf[40];
    CHECK_STR(ioc_time_format(INT64_C(1770742800000), buf, sizeof buf),
              "2026-02-11T00:00:00+07:00");
    CHECK_STR(ioc_time_format(INT64_C(1770742800250), buf, sizeof buf),
              "2026-02-11T00:00:00.250+07:00");
    CHECK_STR(ioc_time_format(INT64_C(1770742800007), buf, sizeof buf),
              "2026-02-11T00:00:00.007+07:00");
    static const int64_t samples[] = {0,
                                      1,
                                      999,
                                      INT64_C(951782400000),
                                      INT64_C(1709251199999),
                                      INT64_C(1770773472500),
                                      -500,
                                      INT64_C(4102444800000)};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        int64_t back = -1;
        ioc_time_format(samples[i], buf, sizeof buf);
        CHECK_EQ_INT(ioc_time_parse(buf, &back), 0);
        CHECK_EQ_INT(back, samples[i]);
    }
    /* Always an offset, never "Z", so every time reads the same way. */
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_STR(ioc_time_format(0, buf, sizeof buf), "1970-01-01T00:00:00+00:00");
    CHECK_STR(ioc_time_format(-1, buf, sizeof buf), "1969-12-31T23:59:59.999+00:00");
    setenv("TZ", "America/St_Johns", 1); /* a half-hour zone west of UTC */
    tzset();
    CHECK_STR(ioc_time_format(INT64_C(1770742800000), buf, sizeof buf),
              "2026-02-10T13:30:00-03:30");
    unsetenv("TZ");
    tzset();
    int64_t now = ioc_time_now_ms();
    CHECK(now > INT64_C(1700000000000) && now < INT64_C(4102444800000));
}

TEST(decoder_create_refuses_bad_schemas)
{
    struct ioc_decoder *d = (struct ioc_decoder *)1;
    char err[256];
    const char *bad = "{\"type\": \"object\", \"propertys\": {}}";
    CHECK_EQ_INT(ioc_decoder_create(bad, strlen(bad), LIMIT, &d, err, sizeof err), IOC_ESCHEMA);
    CHECK(d == NULL);
    CHECK_CONTAINS(err, "unknown keyword \"propertys\"");
    CHECK_EQ_INT(ioc_decoder_create("{", 1, LIMIT, &d, err, sizeof err), IOC_ESCHEMA);
    CHECK_CONTAINS(err, "invalid JSON");
    CHECK_EQ_INT(ioc_decoder_create("{}", 2, 0, &d, err, sizeof err), IOC_EINVAL);
    ioc_decoder_destroy(NULL);
}

/* ---- The fast path: no tree, and the same verdicts as the reference ---- */

#define HEAD "{\"id\": \"x\", \"source\": \"system\", \"type\": \"t\", \"ts\": 1"

static struct ioc_value attr(const struct ioc_event *ev, const char *name)
{
    struct ioc_fieldref ref;
    REQUIRE(ioc_fieldref_parse(name, strlen(name), &ref) == 0);
    struct ioc_value v = ioc_event_get(ev, &ref);
    ioc_fieldref_close(&ref);
    return v;
}

TEST(small_events_use_the_inline_store_large_ones_own_a_block)
{
    struct ioc_decoder *d = decoder();
    struct ioc_event ev;
    struct result r = decode(d, HEAD ", \"zone\": \"Z03\"}", &ev);
    REQUIRE(r.rc == 0);
    CHECK(ev.store == ev.inline_store && !ev.store_owned);
    CHECK_STR(ev.zone, "Z03");
    ioc_event_clear(&ev);

    /* 3000 bytes of text: over the inline store, so the event owns a block. */
    size_t hl = strlen(HEAD ", \"text\": \"");
    char *msg = malloc(hl + 3000 + 3);
    REQUIRE(msg);
    memcpy(msg, HEAD ", \"text\": \"", hl);
    memset(msg + hl, 'a', 3000);
    memcpy(msg + hl + 3000, "\"}", 3);
    r = decode(d, msg, &ev);
    REQUIRE(r.rc == 0);
    CHECK(ev.store_owned && ev.store != ev.inline_store);
    CHECK_EQ_INT(strlen(ev.text), 3000);
    ioc_event_clear(&ev);
    CHECK(ev.store == NULL && !ev.store_owned);
    free(msg);
    ioc_decoder_destroy(d);
}

TEST(escapes_and_surrogate_pairs_are_decoded)
{
    struct ioc_decoder *d = decoder();
    struct ioc_event ev;
    /* An escaped member name is the same name: this is the id. */
    struct result r = decode(d,
                             "{\"\\u0069d\": \"a\\u0041\\n\\\"\\/\\\\\", \"source\": \"system\", "
                             "\"type\": \"t\", \"ts\": 1, \"text\": \"\\ud83d\\ude00 \\u0e19\"}",
                             &ev);
    REQUIRE(r.rc == 0);
    CHECK_STR(ev.id, "aA\n\"/\\");
    CHECK_STR(ev.text, "\xF0\x9F\x98\x80 \xE0\xB8\x99");
    ioc_event_clear(&ev);
    /* A surrogate must come as a high-low pair; the reference says where. */
    REJECT(d, HEAD ", \"text\": \"\\ud83d\"}", IOC_EJSON, "invalid JSON at byte 63");
    REJECT(d, HEAD ", \"text\": \"\\ude00\\ud83d\"}", IOC_EJSON, "invalid JSON at byte 63");
    REJECT(d, HEAD ", \"text\": \"\\ud83d\\u0041\"}", IOC_EJSON, "invalid JSON at byte 63");
    ioc_decoder_destroy(d);
}

/* Duplicate names: refused where the schema names the property (the engine
 * and the validator could otherwise read different values); allowed inside
 * attrs, which the schema leaves open, where the first one counts, as it did
 * with cJSON's lookup. */
TEST(duplicate_names_refused_in_the_schema_first_wins_in_attrs)
{
    struct ioc_decoder *d = decoder();
    REJECT(d, HEAD ", \"loc\": {\"lat\": 1, \"lat\": 2, \"lon\": 3}}", IOC_ESCHEMA,
           "loc.lat: duplicate property");
    REJECT(d, HEAD ", \"ts\": 2}", IOC_ESCHEMA, "ts: duplicate property");
    struct ioc_event ev;
    struct result r = decode(d, HEAD ", \"attrs\": {\"a\": 1, \"a\": \"two\"}}", &ev);
    REQUIRE(r.rc == 0);
    struct ioc_value v = attr(&ev, "attrs.a");
    CHECK(v.t == IOC_V_NUM && v.num == 1);
    ioc_event_clear(&ev);
    ioc_decoder_destroy(d);
}

TEST(attrs_are_found_in_the_raw_text)
{
    struct ioc_decoder *d = decoder();
    struct ioc_event ev;
    struct result r = decode(d,
                             HEAD ", \"attrs\": {\"list\": [1, {\"depth\": 9}], \"n\\u0061me\": "
                                  "\"g\\u00e9 \\\"q\\\"\", \"a\": {\"b\": {\"c\": -2.5e1}}, "
                                  "\"ok\": true, \"no\": false, \"nil\": null, \"depth\": 3}}",
                             &ev);
    REQUIRE(r.rc == 0);
    struct ioc_value v = attr(&ev, "attrs.name");
    CHECK_EQ_INT(v.t, IOC_V_STR);
    CHECK_STR(v.str, "g\xC3\xA9 \"q\"");
    CHECK_EQ_INT(v.len, strlen("g\xC3\xA9 \"q\""));
    v = attr(&ev, "attrs.a.b.c");
    CHECK(v.t == IOC_V_NUM && v.num == -25);
    v = attr(&ev, "attrs.depth"); /* not the one inside the list */
    CHECK(v.t == IOC_V_NUM && v.num == 3);
    v = attr(&ev, "attrs.ok");
    CHECK(v.t == IOC_V_BOOL && v.num == 1);
    v = attr(&ev, "attrs.no");
    CHECK(v.t == IOC_V_BOOL && v.num == 0);
    CHECK_EQ_INT(attr(&ev, "attrs.nil").t, IOC_V_MISSING);
    CHECK_EQ_INT(attr(&ev, "attrs.list").t, IOC_V_MISSING);
    CHECK_EQ_INT(attr(&ev, "attrs.a.b").t, IOC_V_MISSING);
    CHECK_EQ_INT(attr(&ev, "attrs.a.b.c.d").t, IOC_V_MISSING);
    CHECK_EQ_INT(attr(&ev, "attrs.missing").t, IOC_V_MISSING);
    /* The same string twice: both reads are the same, stable text. */
    const char *first = attr(&ev, "attrs.name").str;
    CHECK(attr(&ev, "attrs.name").str == first);
    ioc_event_clear(&ev);
    r = decode(d, HEAD "}", &ev);
    REQUIRE(r.rc == 0);
    CHECK_EQ_INT(attr(&ev, "attrs.a").t, IOC_V_MISSING);
    ioc_event_clear(&ev);
    ioc_decoder_destroy(d);
}

TEST(nesting_and_number_limits_are_cjsons)
{
    struct ioc_decoder *d = decoder();
    /* The top level and attrs are two levels; 998 arrays more make 1000, the
     * most cJSON (the reference) takes. */
    for (int extra = 998; extra <= 999; extra++) {
        size_t hl = strlen(HEAD ", \"attrs\": {\"x\": ");
        char *msg = malloc(hl + 2 * (size_t)extra + 3);
        REQUIRE(msg);
        memcpy(msg, HEAD ", \"attrs\": {\"x\": ", hl);
        memset(msg + hl, '[', (size_t)extra);
        memset(msg + hl + extra, ']', (size_t)extra);
        memcpy(msg + hl + 2 * (size_t)extra, "}}", 3);
        struct ioc_event ev;
        struct result r = decode(d, msg, &ev);
        CHECK_EQ_INT(r.rc, extra == 998 ? 0 : IOC_EJSON);
        if (r.rc == 0) {
            ioc_event_clear(&ev);
        } else {
            CHECK_CONTAINS(r.reason, "invalid JSON at byte");
        }
        free(msg);
    }
    /* 1e999 is no finite number: fine where nothing checks it, refused as a value. */
    struct ioc_event ev;
    struct result r = decode(d, HEAD ", \"attrs\": {\"big\": 1e999, \"small\": -1e-999}}", &ev);
    REQUIRE(r.rc == 0);
    struct ioc_value v = attr(&ev, "attrs.big");
    CHECK(v.t == IOC_V_NUM && isinf(v.num));
    ioc_event_clear(&ev);
    REJECT(d,
           "{\"id\": \"x\", \"source\": \"sensor\", \"type\": \"t\", \"ts\": 1, \"device\": \"F\", "
           "\"value\": 1e999}",
           IOC_ESCHEMA, "value: expected number, got a number out of range");
    /* Numbers of any length, as cJSON takes them: 400 digits are infinite. */
    char digits[401];
    memset(digits, '1', 400);
    digits[400] = '\0';
    char msg[600];
    for (int k = 60; k <= 400; k += 340) {
        snprintf(msg, sizeof msg, HEAD ", \"attrs\": {\"n\": %.*s.5}}", k, digits);
        r = decode(d, msg, &ev);
        REQUIRE(r.rc == 0);
        v = attr(&ev, "attrs.n");
        CHECK(v.t == IOC_V_NUM && (k == 60 ? v.num > 1e59 : isinf(v.num)));
        ioc_event_clear(&ev);
    }
    /* Numbers read exactly as strtod reads them, on either path. */
    static const char *const nums[] = {"0.1", "1.62", "-0", "13.7563", "1e22", "1e23",
                                       "123456789012345678", "4.9e-324", "0.30000000000000004"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        double want = strtod(nums[i], NULL);
        double got = ioc__json_number(nums[i], strlen(nums[i]));
        CHECK(memcmp(&want, &got, sizeof want) == 0);
    }
    ioc_decoder_destroy(d);
}

/* Every line of a recorded city day: the fast path and the reference agree
 * on the verdict, and on the reason of each reject (which comes from it). */
TEST(fast_path_agrees_with_the_reference_on_a_city_day)
{
    struct ioc_decoder *d = decoder();
    FILE *f = fopen(IOC_SOURCE_DIR "/test/data/city-day.jsonl", "rb");
    REQUIRE(f);
    char *line = NULL;
    size_t cap = 0, n = 0, accepted = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        size_t len = (size_t)got;
        struct ioc_event ev;
        char reason[512], ref[512];
        int rc = ioc_decoder_decode(d, line, len, 0, &ev, reason, sizeof reason);
        int ref_rc = ioc_decoder_explain(d, line, len, ref, sizeof ref);
        CHECK_EQ_INT(rc, ref_rc);
        if (rc == 0) {
            accepted++;
            ioc_event_clear(&ev);
        } else {
            CHECK_STR(reason, ref);
        }
        n++;
    }
    free(line);
    fclose(f);
    CHECK(n > 5000 && accepted + 5 > n);
    ioc_decoder_destroy(d);
}
