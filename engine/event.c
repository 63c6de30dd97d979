/*
 * event.c — turns raw bytes into a validated struct ioc_event, and event time.
 *
 * The decoder owns the compiled event schema (schemas/event.schema.json, read
 * at run time) and applies the checks in a fixed order, so that the reject
 * reason of a message never depends on anything but its bytes: size, then
 * UTF-8, then JSON, then schema. One pass over the bytes checks the UTF-8 and
 * the JSON tokens cJSON is lenient about (it takes control characters as
 * whitespace and inside strings, numbers like 01 or 1., and cuts a string at
 * \u0000); cJSON then builds the tree and judges the grammar. After the schema
 * the standard fields are lifted into typed members with one walk over the
 * top-level object; strings borrow from the tree, which the event owns.
 *
 * Byte offsets in reasons count from 0. Nothing here allocates beyond cJSON's
 * own tree; a decoder holds no per-message state, and is used by one thread
 * at a time as event.h says (the schema it holds could be shared).
 *
 * Time: RFC 3339 is parsed by hand with proleptic-Gregorian day arithmetic,
 * not mktime(), so parsing never depends on TZ; only formatting uses the
 * process's time zone.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/schema.h"

struct ioc_decoder {
    struct ioc_schema *schema;
    size_t max_bytes;
};

/* ---- Time ---------------------------------------------------------------- */

static bool is_leap(int y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int y, int m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d (y in 0..9999, proleptic Gregorian). The year
 * is shifted by 400 (one full cycle, 146097 days) so the count of leap years
 * before it is a plain non-negative division. */
#define DAYS_YEAR1_TO_1970_SHIFTED 865259 /* the sum below for 1970-01-01 */
static int64_t days_from_epoch(int y, int m, int d)
{
    static const short before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t yy = (int64_t)y + 400 - 1; /* whole years before y, shifted */
    int64_t days = yy * 365 + yy / 4 - yy / 100 + yy / 400;
    days += before_month[m - 1] + (m > 2 && is_leap(y)) + d - 1;
    return days - DAYS_YEAR1_TO_1970_SHIFTED;
}

/* Exactly n ASCII digits at s. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int ioc_time_parse(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0;
    if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d)) {
        return IOC_EINVAL;
    }
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
        return IOC_EINVAL;
    }
    if (!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec)) {
        return IOC_EINVAL;
    }
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') {
            return IOC_EINVAL;
        }
        /* Keep milliseconds; finer digits are checked and dropped (truncation,
         * so a time never moves into the next millisecond). */
        for (int scale = 100; *p >= '0' && *p <= '9'; p++, scale /= 10) {
            ms += (*p - '0') * scale;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om)) {
            return IOC_EINVAL;
        }
        p += 6;
    } else {
        return IOC_EINVAL; /* no offset: local time of nowhere in particular */
    }
    if (*p != '\0') {
        return IOC_EINVAL;
    }
    /* Leap seconds (":60") are refused: epoch time cannot hold them. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59 ||
        oh > 23 || om > 59) {
        return IOC_EINVAL;
    }
    int64_t secs = days_from_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
                   (int64_t)sign * (oh * 3600 + om * 60);
    *out_ms = secs * 1000 + ms;
    return 0;
}

char *ioc_time_format(int64_t ms, char *buf, size_t n)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    bool local = localtime_r(&t, &tm) != NULL;
    long off = local ? tm.tm_gmtoff : 0;
    /* RFC 3339 offsets have whole minutes; historical zones (Bangkok before
     * 1920 was +06:42:04) do not, so such instants are written in UTC. */
    if (!local || off % 60 != 0) {
        off = 0;
        if (!gmtime_r(&t, &tm)) {
            memset(&tm, 0, sizeof tm);
        }
    }
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    int k = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    size_t used = k > 0 ? (size_t)k : 0;
    if (frac != 0 && used < n) {
        k = snprintf(buf + used, n - used, ".%03d", (int)frac);
        used += k > 0 ? (size_t)k : 0;
    }
    if (used < n) {
        snprintf(buf + used, n - used, "%c%02ld:%02ld", sign, off / 3600, off % 3600 / 60);
    }
    return buf;
}

int64_t ioc_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Decoder ------------------------------------------------------------- */

void ioc_event_clear(struct ioc_event *ev)
{
    if (!ev) {
        return;
    }
    cJSON_Delete(ev->json);
    memset(ev, 0, sizeof *ev);
}

const char *ioc_reject_reason(int code)
{
    switch (code) {
    case IOC_ETOOBIG:
        return IOC_REJECT_SIZE;
    case IOC_EENCODING:
        return IOC_REJECT_ENCODING;
    case IOC_EJSON:
        return IOC_REJECT_JSON;
    case IOC_ESCHEMA:
        return IOC_REJECT_SCHEMA;
    case IOC_ESOURCE:
        return IOC_REJECT_SOURCE;
    case IOC_ELATE:
        return IOC_REJECT_LATE;
    }
    return "invalid";
}

int ioc_decoder_create(const char *schema_json, size_t schema_len, size_t max_bytes,
                       struct ioc_decoder **out, char *err, size_t errlen)
{
    int rc;
    *out = NULL;
    struct ioc_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        rc = IOC_ENOMEM;
        snprintf(err, errlen, "%s", ioc_strerror(rc));
        goto fail;
    }
    if (max_bytes == 0) {
        rc = IOC_EINVAL;
        snprintf(err, errlen, "the event size limit must be at least 1 byte");
        goto fail;
    }
    d->max_bytes = max_bytes;
    rc = ioc_schema_compile(schema_json, schema_len, &d->schema, err, errlen);
    if (rc != 0) {
        /* A schema the engine cannot use is a schema problem, whatever broke. */
        rc = rc == IOC_ENOMEM ? rc : IOC_ESCHEMA;
        goto fail;
    }
    *out = d;
    return 0;
fail:
    ioc_decoder_destroy(d);
    return rc;
}

void ioc_decoder_destroy(struct ioc_decoder *d)
{
    if (!d) {
        return;
    }
    ioc_schema_destroy(d->schema);
    free(d);
}

static int say(char *reason, size_t n, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *reason, size_t n, int rc, const char *fmt, ...)
{
    if (reason && n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Length of the well-formed UTF-8 sequence at s[i] (Unicode table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t len)
{
    unsigned char c = s[i];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (len - i < need || s[i + 1] < lo || s[i + 1] > hi) {
        return 0;
    }
    for (size_t k = 2; k < need; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return need;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '+' || c == '-' || c == '_';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A strict JSON number at s[i]; returns the index after it, or (size_t)-1
 * with *bad at the offending byte. */
static size_t scan_number(const unsigned char *s, size_t i, size_t len, size_t *bad)
{
    if (s[i] == '-') {
        i++;
    }
    if (i < len && s[i] == '0') {
        i++;
    } else if (i < len && is_digit(s[i])) {
        while (i < len && is_digit(s[i])) {
            i++;
        }
    } else {
        goto fail;
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i])) {
            goto fail;
        }
        while (i < len && is_digit(s[i])) {
            i++;
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= len || !is_digit(s[i])) {
            goto fail;
        }
        while (i < len && is_digit(s[i])) {
            i++;
        }
    }
    if (i < len && is_word(s[i])) {
        goto fail; /* 01, 1.2.3, 12abc */
    }
    return i;
fail:
    *bad = i;
    return (size_t)-1;
}

struct scan {
    size_t utf8_bad; /* offset of the first bad UTF-8 byte, or (size_t)-1 */
    size_t json_bad; /* offset of the first bad JSON token, or (size_t)-1 */
    const char *why;
    size_t str_open; /* where an unterminated string starts, or (size_t)-1 */
    size_t depth;    /* objects and arrays left open at the end */
};

/* Bracket kinds of open containers, one bit each ('[' = 1), so a closing
 * bracket of the wrong kind is caught at its byte. Deeper than this, cJSON's
 * own nesting limit (1000) rejects the message anyway. */
#define BRACKET_BITS 1024

/* One pass: UTF-8 over everything, and JSON tokens until the first bad one
 * (after that only the UTF-8 verdict can change, and it wins). A token fault
 * never moves i past the fault, so every byte still gets the UTF-8 check. */
static void scan_bytes(const unsigned char *s, size_t len, struct scan *r)
{
    const size_t none = (size_t)-1;
    r->utf8_bad = r->json_bad = none;
    r->why = NULL;
    size_t i = 0, depth = 0, str_start = 0;
    bool in_str = false;
    uint64_t kinds[BRACKET_BITS / 64];
    if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
        i = 3; /* a byte order mark; cJSON skips it too */
    }
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(s, i, len);
            if (k == 0) {
                r->utf8_bad = i;
                return;
            }
            if (!in_str && r->json_bad == none) {
                r->json_bad = i, r->why = "unexpected character";
            }
            i += k;
            continue;
        }
        if (r->json_bad != none) {
            i++;
            continue;
        }
        if (in_str) {
            if (c == '"') {
                in_str = false;
                i++;
            } else if (c == '\\') {
                unsigned char e = i + 1 < len ? s[i + 1] : 0;
                if (e == 'u') {
                    if (len - i < 6 || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
                        !is_hex(s[i + 4]) || !is_hex(s[i + 5])) {
                        r->json_bad = i, r->why = "bad \\u escape";
                    } else if (memcmp(s + i + 2, "0000", 4) == 0) {
                        /* Strings are C strings from here on; U+0000 would cut one short. */
                        r->json_bad = i, r->why = "\\u0000 is not allowed in strings";
                    } else {
                        i += 6;
                    }
                } else if (e && strchr("\"\\/bfnrt", e)) {
                    i += 2;
                } else {
                    r->json_bad = i, r->why = "bad escape in a string";
                }
            } else if (c < 0x20) {
                r->json_bad = i, r->why = c == 0 ? "NUL byte in a string"
                                                 : "unescaped control character in a string";
            } else {
                i++;
                /* Plain text is the bulk of a string: skip it in a tight loop. */
                while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\') {
                    i++;
                }
            }
            continue;
        }
        switch (c) {
        case '{':
        case '[':
            if (depth < BRACKET_BITS) {
                uint64_t bit = UINT64_C(1) << (depth % 64);
                kinds[depth / 64] = c == '[' ? kinds[depth / 64] | bit : kinds[depth / 64] & ~bit;
            }
            depth++;
            i++;
            break;
        case '}':
        case ']':
            if (depth == 0) {
                r->json_bad = i, r->why = "unmatched closing bracket";
                break;
            }
            depth--;
            if (depth < BRACKET_BITS &&
                ((kinds[depth / 64] >> (depth % 64)) & 1) != (uint64_t)(c == ']')) {
                r->json_bad = i, r->why = c == '}' ? "'}' closes an array" : "']' closes an object";
                break;
            }
            i++;
            break;
        case ' ':
        case '\t':
        case '\n':
        case '\r':
        case ',':
        case ':':
            i++;
            break;
        case '"':
            in_str = true;
            str_start = i;
            i++;
            break;
        case 't':
        case 'f':
        case 'n': {
            const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
            size_t wl = strlen(word);
            if (len - i < wl || memcmp(s + i, word, wl) != 0 ||
                (len - i > wl && is_word(s[i + wl]))) {
                r->json_bad = i, r->why = "unexpected word";
            } else {
                i += wl;
            }
            break;
        }
        default:
            if (c == '-' || is_digit(c)) {
                size_t next = scan_number(s, i, len, &r->json_bad);
                if (next == none) {
                    r->why = "bad number";
                } else {
                    i = next;
                }
            } else {
                r->json_bad = i, r->why = c == 0 ? "NUL byte" : "unexpected character";
            }
            break;
        }
    }
    r->str_open = in_str ? str_start : none;
    r->depth = depth;
}

static const cJSON *str_or_null(const cJSON *it)
{
    return cJSON_IsString(it) && it->valuestring ? it : NULL;
}

/* Lifts the standard fields of a validated event. The schema may have been
 * edited, so fields the engine cannot do without are checked again here. */
static int lift(cJSON *root, struct ioc_event *ev, char *reason, size_t n)
{
    const cJSON *ts = NULL, *src = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *k = it->string;
        const cJSON *sv = str_or_null(it);
        if (!k) {
            continue;
        }
        /* Switch on the first byte: one strcmp per field, not a search per field. */
        switch (k[0]) {
        case 'i':
            if (strcmp(k, "id") == 0 && sv && !ev->id) {
                ev->id = sv->valuestring;
            }
            break;
        case 's':
            if (strcmp(k, "source") == 0 && !src) {
                src = it;
            } else if (strcmp(k, "score") == 0 && cJSON_IsNumber(it)) {
                ev->score = it->valuedouble;
                ev->has |= IOC_HAS_SCORE;
            }
            break;
        case 't':
            if (strcmp(k, "type") == 0 && sv && !ev->type) {
                ev->type = sv->valuestring;
            } else if (strcmp(k, "ts") == 0 && !ts) {
                ts = it;
            } else if (strcmp(k, "text") == 0 && sv && !ev->text) {
                ev->text = sv->valuestring;
            }
            break;
        case 'd':
            if (strcmp(k, "device") == 0 && sv && !ev->device) {
                ev->device = sv->valuestring;
            }
            break;
        case 'z':
            if (strcmp(k, "zone") == 0 && sv && !ev->zone) {
                ev->zone = sv->valuestring;
            }
            break;
        case 'u':
            if (strcmp(k, "unit") == 0 && sv && !ev->unit) {
                ev->unit = sv->valuestring;
            }
            break;
        case 'c':
            if (strcmp(k, "channel") == 0 && sv && !ev->channel) {
                ev->channel = sv->valuestring;
            }
            break;
        case 'v':
            if (strcmp(k, "value") == 0 && cJSON_IsNumber(it)) {
                ev->value = it->valuedouble;
                ev->has |= IOC_HAS_VALUE;
            }
            break;
        case 'l':
            if (strcmp(k, "loc") == 0) {
                const cJSON *lat = cJSON_GetObjectItemCaseSensitive(it, "lat");
                const cJSON *lon = cJSON_GetObjectItemCaseSensitive(it, "lon");
                if (cJSON_IsNumber(lat) && cJSON_IsNumber(lon)) {
                    ev->lat = lat->valuedouble;
                    ev->lon = lon->valuedouble;
                    ev->has |= IOC_HAS_LOC;
                }
            }
            break;
        }
    }
    if (!ev->id) {
        return say(reason, n, IOC_ESCHEMA, "id: required property missing");
    }
    if (!ev->type) {
        return say(reason, n, IOC_ESCHEMA, "type: required property missing");
    }
    if (!str_or_null(src) || ioc_source_parse(src->valuestring, &ev->source) != 0) {
        return say(reason, n, IOC_ESCHEMA, "source: not a source the engine knows");
    }
    if (str_or_null(ts)) {
        if (ioc_time_parse(ts->valuestring, &ev->ts) != 0) {
            return say(reason, n, IOC_ESCHEMA, "ts: not an RFC 3339 date-time with offset");
        }
    } else if (cJSON_IsNumber(ts) && ts->valuedouble == floor(ts->valuedouble) &&
               fabs(ts->valuedouble) < 9e15) {
        ev->ts = (int64_t)ts->valuedouble;
    } else {
        return say(reason, n, IOC_ESCHEMA, "ts: expected a date-time or integer epoch ms");
    }
    return 0;
}

int ioc_decoder_decode(struct ioc_decoder *d, const char *bytes, size_t len, int64_t received,
                       struct ioc_event *ev, char *reason, size_t reasonlen)
{
    memset(ev, 0, sizeof *ev);
    if (reason && reasonlen > 0) {
        reason[0] = '\0';
    }
    if (len > d->max_bytes) {
        return say(reason, reasonlen, IOC_ETOOBIG,
                   "message of %zu bytes is over the %zu-byte limit", len, d->max_bytes);
    }
    struct scan sc;
    scan_bytes((const unsigned char *)bytes, len, &sc);
    if (sc.utf8_bad != (size_t)-1) {
        return say(reason, reasonlen, IOC_EENCODING, "invalid UTF-8 at byte %zu", sc.utf8_bad);
    }
    if (sc.json_bad != (size_t)-1) {
        return say(reason, reasonlen, IOC_EJSON, "invalid JSON at byte %zu: %s", sc.json_bad,
                   sc.why);
    }
    const char *end = NULL;
    cJSON *root = len > 0 ? cJSON_ParseWithLengthOpts(bytes, len, &end, false) : NULL;
    if (!root) {
        size_t at = end && end >= bytes && end <= bytes + len ? (size_t)(end - bytes) : 0;
        if (len == 0) {
            return say(reason, reasonlen, IOC_EJSON, "invalid JSON at byte 0: empty message");
        }
        if (sc.str_open != (size_t)-1) {
            return say(reason, reasonlen, IOC_EJSON,
                       "invalid JSON at byte %zu: unterminated string", sc.str_open);
        }
        /* cJSON reports an error past the end on the last byte. When that
         * byte cannot be the fault itself, the message was cut short. */
        char last = bytes[len - 1];
        if (sc.depth > 0 && at + 1 >= len && strchr(" \t\r\n,:[{", last)) {
            return say(reason, reasonlen, IOC_EJSON,
                       "invalid JSON at byte %zu: unexpected end of message", len);
        }
        return say(reason, reasonlen, IOC_EJSON, "invalid JSON at byte %zu", at);
    }
    int rc;
    /* cJSON stops after one value; anything but whitespace after it is a
     * second value or garbage, and either way not one event. */
    for (size_t i = (size_t)(end - bytes); i < len; i++) {
        char c = bytes[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            rc = say(reason, reasonlen, IOC_EJSON, "invalid JSON at byte %zu: data after the value",
                     i);
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        rc = say(reason, reasonlen, IOC_ESCHEMA, "top level: expected object, got %s",
                 cJSON_IsArray(root)    ? "array"
                 : cJSON_IsString(root) ? "string"
                 : cJSON_IsNumber(root) ? "number"
                 : cJSON_IsBool(root)   ? "boolean"
                                        : "null");
        goto fail;
    }
    if ((rc = ioc_schema_validate(d->schema, root, reason, reasonlen)) != 0) {
        /* An unknown source is counted apart: it usually means a new system
         * was plugged in before its events were agreed, not a broken sender. */
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "source");
        enum ioc_source s;
        if (cJSON_IsString(src) && ioc_source_parse(src->valuestring, &s) != 0) {
            rc = IOC_ESOURCE;
            snprintf(reason, reasonlen,
                     "source: \"%.64s\" is not one of sensor, cctv, complaint, system",
                     src->valuestring);
        }
        goto fail;
    }
    if ((rc = lift(root, ev, reason, reasonlen)) != 0) {
        goto fail;
    }
    ev->json = root;
    ev->raw = bytes;
    ev->raw_len = len;
    ev->received = received;
    return 0;
fail:
    cJSON_Delete(root);
    memset(ev, 0, sizeof *ev);
    return rc;
}
