/*
 * event.c — turns raw bytes into a validated struct ioc_event, and event time.
 *
 * The decoder owns the compiled event schema (schemas/event.schema.json, read
 * at run time). It has two paths that must reach the same verdict on every
 * message:
 *
 * The fast path (fast_decode) reads the bytes once: UTF-8, strict JSON tokens
 * and grammar, cJSON's nesting limit, and for the objects the schema checks
 * member by member (the top level, loc) it keeps the members, which
 * ioc_schema_check_jval then validates; everything else (attrs, arrays) is
 * only checked for well-formedness. Strings are unescaped into the event's
 * store at their own offset, numbers read as strtod reads them; no tree is
 * built and an event under IOC_EVENT_INLINE bytes allocates nothing.
 *
 * The reference path (reference_decode, ioc_decoder_explain) is the first
 * decoder, kept to explain: checks in a fixed order, so that the reject
 * reason of a message never depends on anything but its bytes (size, then
 * UTF-8, then JSON, then schema), one pass for the UTF-8 and the tokens cJSON
 * is lenient about (control characters as whitespace and inside strings,
 * numbers like 01 or 1., a string cut at \u0000), cJSON for the grammar and
 * ioc_schema_validate for the reason. Every reject of the fast path goes
 * through it, so the reasons are exactly the reference's; the event fuzzer
 * checks that both paths agree.
 *
 * Duplicate member names: refused where the schema names the property (the
 * validator and the engine could otherwise read different values), allowed
 * in attrs, where lookups take the first, as cJSON's did.
 *
 * Byte offsets in reasons count from 0. A decoder holds no per-message state
 * beyond the members of the message being read, and is used by one thread at
 * a time as event.h says.
 *
 * Time: RFC 3339 is parsed by hand with proleptic-Gregorian day arithmetic,
 * not mktime(), so parsing never depends on TZ; only formatting uses the
 * process's time zone.
 */
#include <locale.h>
#include <math.h>
#include <stddef.h>
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

/* Members the fast path keeps for the objects the schema checks member by
 * member (the top level, loc). A valid event has at most one of each declared
 * property; a message with more is refused by the fast path and explained by
 * the reference. */
#define MAX_MEMBERS 256
#define MAX_OBJECT_MEMBERS 64

struct ioc_decoder {
    struct ioc_schema *schema;
    size_t max_bytes;
    struct ioc_jmember members[MAX_MEMBERS];
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
    if (ev->store_owned) {
        free(ev->store);
    }
    memset(ev, 0, offsetof(struct ioc_event, inline_store));
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

/* ---- The fast path: one pass over the bytes, no tree --------------------- */

/* cJSON refuses containers nested deeper than this (CJSON_NESTING_LIMIT), so
 * the reference does; the fast path must refuse exactly the same messages. */
#define NEST_LIMIT 1000
/* Numbers shorter than this are copied to the stack for strtod. */
#define NUMBER_COPY 64

/* One message being read. Unescaped strings are written into store at the
 * offset of their text in s: a string never decodes longer than its escaped
 * form, so it always fits before its closing quote, where its NUL goes, and
 * no two strings overlap. */
struct rd {
    const unsigned char *s;
    size_t len, i;
    char *store;
    struct ioc_decoder *d;
    size_t nmembers; /* used of d->members */
    int depth;
    const char *why; /* the first fault, for the rare disagreement message */
};

static int fail_at(struct rd *r, const char *why)
{
    r->why = why;
    return -1;
}

static inline void skip_ws(struct rd *r)
{
    /* Compact JSON (what senders mostly write) has no whitespace at all. */
    if (r->i < r->len && r->s[r->i] > ' ') {
        return;
    }
    while (r->i < r->len) {
        unsigned char c = r->s[r->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            return;
        }
        r->i++;
    }
}

static unsigned hex4(const unsigned char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p[k];
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static bool hex4_ok(const struct rd *r, size_t at)
{
    return r->len - at >= 4 && is_hex(r->s[at]) && is_hex(r->s[at + 1]) && is_hex(r->s[at + 2]) &&
           is_hex(r->s[at + 3]);
}

/* Bytes that stand for themselves inside a string: printable ASCII but the
 * quote and the backslash. One table load per byte in the commonest loop. */
static const unsigned char plain_byte[256] = {
    /* 0x00 - 0x1F: control characters */
    [' '] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1,
    [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, [':'] = 1, [';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['['] = 1, [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1,
    ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
    ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
    ['z'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1, [0x7F] = 1,
};

/* A string at s[i] == '"'. With keep, its unescaped text and a NUL go to the
 * store and *out points at them; otherwise it is only checked. Accepts what
 * the reference accepts: well-formed UTF-8, no control characters, JSON
 * escapes, \u escapes with surrogates only as a high-low pair, no U+0000. */
static int read_string(struct rd *r, bool keep, const char **out, size_t *outlen)
{
    const unsigned char *s = r->s;
    size_t i = r->i + 1, len = r->len;
    char *dst = keep ? r->store + i : NULL;
    char *d0 = dst;
    for (;;) {
        /* Plain ASCII is the bulk of every string: one tight loop over it,
         * copying as it goes (strings are short; a memcpy call costs more). */
        if (keep) {
            while (i < len && plain_byte[s[i]]) {
                *dst++ = (char)s[i++];
            }
        } else {
            while (i < len && plain_byte[s[i]]) {
                i++;
            }
        }
        if (i >= len) {
            return fail_at(r, "unterminated string");
        }
        unsigned char c = s[i];
        if (c == '"') {
            break;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(s, i, len);
            if (k == 0) {
                return fail_at(r, "invalid UTF-8");
            }
            if (keep) {
                memcpy(dst, s + i, k);
                dst += k;
            }
            i += k;
            continue;
        }
        if (c != '\\') {
            return fail_at(r, "control character in a string");
        }
        if (i + 1 >= len) {
            return fail_at(r, "unterminated string");
        }
        unsigned char e = s[i + 1];
        char one = 0;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            one = (char)e;
            break;
        case 'b':
            one = '\b';
            break;
        case 'f':
            one = '\f';
            break;
        case 'n':
            one = '\n';
            break;
        case 'r':
            one = '\r';
            break;
        case 't':
            one = '\t';
            break;
        case 'u':
            break;
        default:
            return fail_at(r, "bad escape");
        }
        if (e != 'u') {
            if (keep) {
                *dst++ = one;
            }
            i += 2;
            continue;
        }
        if (!hex4_ok(r, i + 2)) {
            return fail_at(r, "bad \\u escape");
        }
        unsigned cp = hex4(s + i + 2);
        i += 6;
        if (cp == 0) {
            return fail_at(r, "\\u0000");
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail_at(r, "lone low surrogate");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || !hex4_ok(r, i + 2)) {
                return fail_at(r, "high surrogate without its pair");
            }
            unsigned lo = hex4(s + i + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) {
                return fail_at(r, "high surrogate without its pair");
            }
            cp = 0x10000 + ((cp & 0x3FF) << 10 | (lo & 0x3FF));
            i += 6;
        }
        if (keep) {
            if (cp < 0x80) {
                *dst++ = (char)cp;
            } else if (cp < 0x800) {
                *dst++ = (char)(0xC0 | cp >> 6);
                *dst++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *dst++ = (char)(0xE0 | cp >> 12);
                *dst++ = (char)(0x80 | (cp >> 6 & 0x3F));
                *dst++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *dst++ = (char)(0xF0 | cp >> 18);
                *dst++ = (char)(0x80 | (cp >> 12 & 0x3F));
                *dst++ = (char)(0x80 | (cp >> 6 & 0x3F));
                *dst++ = (char)(0x80 | (cp & 0x3F));
            }
        }
    }
    if (keep) {
        *dst = '\0';
        *out = d0;
        *outlen = (size_t)(dst - d0);
    }
    r->i = i + 1;
    return 0;
}

size_t ioc__json_unescape(const char *body, size_t n, char *out)
{
    /* The body was checked by read_string when its message was decoded, so
     * every escape here is complete and every surrogate is paired. */
    const unsigned char *s = (const unsigned char *)body;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = (char)s[i++];
            continue;
        }
        unsigned char e = s[i + 1];
        if (e != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *k = memchr(from, e, sizeof from - 1);
            out[o++] = k ? to[k - from] : (char)e;
            i += 2;
            continue;
        }
        unsigned cp = hex4(s + i + 2);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n) {
            cp = 0x10000 + ((cp & 0x3FF) << 10 | (hex4(s + i + 2) & 0x3FF));
            i += 6;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | cp >> 18);
            out[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

/* Exact powers of ten: a double holds 10^0 .. 10^22 without rounding. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

double ioc__json_number(const char *p, size_t n)
{
    /* With at most 15 significant digits and a power of ten a double holds
     * exactly, one multiplication or division is correctly rounded, so the
     * result is the one strtod gives; anything else goes to strtod. */
    const char *q = p, *end = p + n;
    bool neg = *q == '-';
    q += neg;
    uint64_t m = 0;
    int digits = 0, scale = 0;
    for (; q < end && is_digit((unsigned char)*q); q++) {
        if (m != 0 || *q != '0') {
            digits++;
        }
        m = m * 10 + (uint64_t)(*q - '0');
    }
    if (q < end && *q == '.') {
        for (q++; q < end && is_digit((unsigned char)*q); q++) {
            if (m != 0 || *q != '0') {
                digits++;
            }
            m = m * 10 + (uint64_t)(*q - '0');
            scale--;
        }
    }
    bool simple = digits <= 15;
    if (q < end) { /* an exponent */
        q++;
        bool eneg = *q == '-';
        q += *q == '-' || *q == '+';
        int e = 0;
        for (; q < end && is_digit((unsigned char)*q); q++) {
            e = e < 10000 ? e * 10 + (*q - '0') : e;
        }
        scale += eneg ? -e : e;
    }
    if (simple && scale >= -22 && scale <= 22) {
        double v = (double)m;
        v = scale < 0 ? v / pow10_exact[-scale] : v * pow10_exact[scale];
        return neg ? -v : v;
    }
    /* strtod reads the locale's decimal point; cJSON swaps it in, and so do we. */
    char point = localeconv()->decimal_point[0];
    if (point == '.' && n >= NUMBER_COPY) {
        /* Valid JSON text goes on after a number (a closing bracket at
         * least), and strtod stops at it: no copy needed. */
        return strtod(p, NULL);
    }
    char small[NUMBER_COPY];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) {
        return NAN;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (point != '.') {
        char *dot = memchr(buf, '.', n);
        if (dot) {
            *dot = point;
        }
    }
    double v = strtod(buf, NULL);
    if (buf != small) {
        free(buf);
    }
    return v;
}

static int read_number(struct rd *r, double *out)
{
    size_t bad = 0, start = r->i;
    size_t next = scan_number(r->s, start, r->len, &bad);
    if (next == (size_t)-1) {
        return fail_at(r, "bad number");
    }
    if (next == r->len) {
        return fail_at(r, "unexpected end"); /* no message ends in a number */
    }
    if (out) {
        *out = ioc__json_number((const char *)r->s + start, next - start);
    }
    r->i = next;
    return 0;
}

static int read_word(struct rd *r, const char *word, size_t wl)
{
    const unsigned char *s = r->s;
    size_t i = r->i;
    if (r->len - i < wl || memcmp(s + i, word, wl) != 0 || (r->len - i > wl && is_word(s[i + wl]))) {
        return fail_at(r, "unexpected word");
    }
    r->i = i + wl;
    return 0;
}

static int read_value(struct rd *r, const struct ioc_schema_node *n, struct ioc_jval *v);

/* An object or array nobody checks inside (attrs, arrays): checked for
 * well-formedness only, nothing kept. */
static int skip_container(struct rd *r)
{
    bool array = r->s[r->i] == '[';
    unsigned char close = array ? ']' : '}';
    if (r->depth >= NEST_LIMIT) {
        return fail_at(r, "nested too deep");
    }
    r->depth++;
    r->i++;
    skip_ws(r);
    if (r->i < r->len && r->s[r->i] == close) {
        r->i++;
        r->depth--;
        return 0;
    }
    for (;;) {
        if (!array) {
            if (r->i >= r->len || r->s[r->i] != '"') {
                return fail_at(r, "expected a member name");
            }
            if (read_string(r, false, NULL, NULL) != 0) {
                return -1;
            }
            skip_ws(r);
            if (r->i >= r->len || r->s[r->i] != ':') {
                return fail_at(r, "expected ':'");
            }
            r->i++;
            skip_ws(r);
        }
        if (read_value(r, NULL, NULL) != 0) {
            return -1;
        }
        skip_ws(r);
        if (r->i >= r->len) {
            return fail_at(r, "unexpected end");
        }
        unsigned char c = r->s[r->i++];
        if (c == close) {
            break;
        }
        if (c != ',') {
            return fail_at(r, "expected ',' or a closing bracket");
        }
        skip_ws(r);
    }
    r->depth--;
    return 0;
}

/* An object the schema checks member by member: its members are kept, in
 * document order, as one run of d->members. */
static int read_object(struct rd *r, const struct ioc_schema_node *n, struct ioc_jval *v)
{
    struct ioc_jmember local[MAX_OBJECT_MEMBERS];
    size_t count = 0;
    if (r->depth >= NEST_LIMIT) {
        return fail_at(r, "nested too deep");
    }
    r->depth++;
    r->i++;
    skip_ws(r);
    if (r->i < r->len && r->s[r->i] == '}') {
        r->i++;
    } else {
        for (;;) {
            if (count == MAX_OBJECT_MEMBERS) {
                return fail_at(r, "too many members to keep");
            }
            struct ioc_jmember *m = &local[count++];
            if (r->i >= r->len || r->s[r->i] != '"') {
                return fail_at(r, "expected a member name");
            }
            if (read_string(r, true, &m->key, &m->key_len) != 0) {
                return -1;
            }
            skip_ws(r);
            if (r->i >= r->len || r->s[r->i] != ':') {
                return fail_at(r, "expected ':'");
            }
            r->i++;
            skip_ws(r);
            m->node = n;
            if (read_value(r, ioc_schema_member(n, m->key, m->key_len, &m->prop), &m->v) != 0) {
                return -1;
            }
            skip_ws(r);
            if (r->i >= r->len) {
                return fail_at(r, "unexpected end");
            }
            unsigned char c = r->s[r->i++];
            if (c == '}') {
                break;
            }
            if (c != ',') {
                return fail_at(r, "expected ',' or '}'");
            }
            skip_ws(r);
        }
    }
    r->depth--;
    if (MAX_MEMBERS - r->nmembers < count) {
        return fail_at(r, "too many members to keep");
    }
    struct ioc_jmember *run = r->d->members + r->nmembers;
    memcpy(run, local, count * sizeof *run);
    r->nmembers += count;
    v->members = run;
    v->nmembers = count;
    v->members_kept = true;
    return 0;
}

/* Any value at s[i]; n is the schema node that checks it (NULL: none does
 * directly) and v, when not NULL, receives what the checks need. */
static int read_value(struct rd *r, const struct ioc_schema_node *n, struct ioc_jval *v)
{
    if (r->i >= r->len) {
        return fail_at(r, "unexpected end");
    }
    size_t start = r->i;
    struct ioc_jval tmp;
    if (!v) {
        v = &tmp;
    }
    memset(v, 0, sizeof *v);
    int rc;
    switch (r->s[r->i]) {
    case '"':
        v->kind = IOC_J_STR;
        rc = read_string(r, v != &tmp, &v->str, &v->len);
        break;
    case '{':
        v->kind = IOC_J_OBJ;
        rc = v != &tmp && ioc_schema_wants_members(n) ? read_object(r, n, v) : skip_container(r);
        break;
    case '[':
        v->kind = IOC_J_ARR;
        rc = skip_container(r);
        break;
    case 't':
        v->kind = IOC_J_BOOL;
        v->b = true;
        rc = read_word(r, "true", 4);
        break;
    case 'f':
        v->kind = IOC_J_BOOL;
        rc = read_word(r, "false", 5);
        break;
    case 'n':
        v->kind = IOC_J_NULL;
        rc = read_word(r, "null", 4);
        break;
    default:
        v->kind = IOC_J_NUM;
        rc = read_number(r, v != &tmp ? &v->num : NULL);
        break;
    }
    v->text = (const char *)r->s + start;
    v->text_len = r->i - start;
    return rc;
}

/* Lifts the standard members of the validated top-level object; the same
 * rules as lift() on the tree. */
static int lift_members(const struct ioc_jval *root, struct ioc_event *ev, const char **why)
{
    const struct ioc_jval *ts = NULL, *src = NULL;
    for (size_t k = 0; k < root->nmembers; k++) {
        const char *key = root->members[k].key;
        const struct ioc_jval *it = &root->members[k].v;
        const char *sv = it->kind == IOC_J_STR ? it->str : NULL;
        switch (key[0]) {
        case 'i':
            if (strcmp(key, "id") == 0 && sv && !ev->id) {
                ev->id = sv;
            }
            break;
        case 's':
            if (strcmp(key, "source") == 0 && !src) {
                src = it;
            } else if (strcmp(key, "score") == 0 && it->kind == IOC_J_NUM) {
                ev->score = it->num;
                ev->has |= IOC_HAS_SCORE;
            }
            break;
        case 't':
            if (strcmp(key, "type") == 0 && sv && !ev->type) {
                ev->type = sv;
            } else if (strcmp(key, "ts") == 0 && !ts) {
                ts = it;
            } else if (strcmp(key, "text") == 0 && sv && !ev->text) {
                ev->text = sv;
            }
            break;
        case 'd':
            if (strcmp(key, "device") == 0 && sv && !ev->device) {
                ev->device = sv;
            }
            break;
        case 'z':
            if (strcmp(key, "zone") == 0 && sv && !ev->zone) {
                ev->zone = sv;
            }
            break;
        case 'u':
            if (strcmp(key, "unit") == 0 && sv && !ev->unit) {
                ev->unit = sv;
            }
            break;
        case 'c':
            if (strcmp(key, "channel") == 0 && sv && !ev->channel) {
                ev->channel = sv;
            }
            break;
        case 'v':
            if (strcmp(key, "value") == 0 && it->kind == IOC_J_NUM) {
                ev->value = it->num;
                ev->has |= IOC_HAS_VALUE;
            }
            break;
        case 'l':
            if (strcmp(key, "loc") == 0 && it->kind == IOC_J_OBJ && it->members_kept) {
                const struct ioc_jval *lat = NULL, *lon = NULL;
                for (size_t j = 0; j < it->nmembers; j++) {
                    const struct ioc_jmember *m = &it->members[j];
                    if (!lat && strcmp(m->key, "lat") == 0) {
                        lat = &m->v;
                    } else if (!lon && strcmp(m->key, "lon") == 0) {
                        lon = &m->v;
                    }
                }
                if (lat && lon && lat->kind == IOC_J_NUM && lon->kind == IOC_J_NUM) {
                    ev->lat = lat->num;
                    ev->lon = lon->num;
                    ev->has |= IOC_HAS_LOC;
                }
            }
            break;
        case 'a':
            if (strcmp(key, "attrs") == 0 && it->kind == IOC_J_OBJ && !ev->attrs) {
                ev->attrs = it->text;
                ev->attrs_len = it->text_len;
            }
            break;
        }
    }
    *why = "a required field the engine needs";
    if (!ev->id || !ev->type || !src || src->kind != IOC_J_STR ||
        ioc_source_parse(src->str, &ev->source) != 0 || !ts) {
        return -1;
    }
    if (ts->kind == IOC_J_STR) {
        return ioc_time_parse(ts->str, &ev->ts) == 0 ? 0 : -1;
    }
    if (ts->kind == IOC_J_NUM && ts->num == floor(ts->num) && fabs(ts->num) < 9e15) {
        ev->ts = (int64_t)ts->num;
        return 0;
    }
    return -1;
}

/* 0 with ev filled when the message is a valid event; otherwise -1 (or
 * IOC_ENOMEM) with the first fault the fast path saw, and the reference must
 * decide. Allocates only for events too large for the event's inline store. */
static int fast_decode(struct ioc_decoder *d, const char *bytes, size_t len, struct ioc_event *ev,
                       size_t *at, const char **why)
{
    struct rd r = {(const unsigned char *)bytes, len, 0, NULL, d, 0, 0, NULL};
    if (len < sizeof ev->inline_store) {
        ev->store = ev->inline_store;
    } else {
        ev->store = malloc(len + 1);
        if (!ev->store) {
            return IOC_ENOMEM;
        }
        ev->store_owned = true;
    }
    r.store = ev->store;
    /* A byte order mark, which cJSON skips in a message of 5 bytes or more. */
    if (len >= 5 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0) {
        r.i = 3;
    }
    skip_ws(&r);
    struct ioc_jval root;
    const struct ioc_schema_node *top = ioc_schema_root(d->schema);
    if (r.i >= len || r.s[r.i] != '{' || !ioc_schema_wants_members(top)) {
        r.why = "not an object the schema checks";
        goto fail;
    }
    if (read_value(&r, top, &root) != 0) {
        goto fail;
    }
    skip_ws(&r);
    if (r.i != len) {
        r.why = "data after the value";
        goto fail;
    }
    int rc = ioc_schema_check_jval(d->schema, &root);
    if (rc != 0) {
        r.why = rc == IOC_SCHEMA_UNSUPPORTED ? "a check that needs a tree" : "schema";
        goto fail;
    }
    if (lift_members(&root, ev, &r.why) != 0) {
        goto fail;
    }
    return 0;
fail:
    *at = r.i;
    *why = r.why;
    return -1;
}

/* The reference decoder: the checks as they were first written, over a cJSON
 * tree. It gives every reject its reason (the fast path only gives verdicts),
 * and is what the fast path is fuzzed against. ev only receives lifted
 * members that borrow from the tree, so the caller must not keep them. */
static int reference_decode(struct ioc_decoder *d, const char *bytes, size_t len,
                            struct ioc_event *ev, char *reason, size_t reasonlen)
{
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
    rc = lift(root, ev, reason, reasonlen);
fail:
    cJSON_Delete(root);
    return rc;
}

int ioc_decoder_explain(struct ioc_decoder *d, const char *bytes, size_t len, char *reason,
                        size_t reasonlen)
{
    struct ioc_event tmp;
    memset(&tmp, 0, offsetof(struct ioc_event, inline_store));
    if (reason && reasonlen > 0) {
        reason[0] = '\0';
    }
    return reference_decode(d, bytes, len, &tmp, reason, reasonlen);
}

int ioc_decoder_decode(struct ioc_decoder *d, const char *bytes, size_t len, int64_t received,
                       struct ioc_event *ev, char *reason, size_t reasonlen)
{
    memset(ev, 0, offsetof(struct ioc_event, inline_store));
    if (reason && reasonlen > 0) {
        reason[0] = '\0';
    }
    if (len > d->max_bytes) {
        return say(reason, reasonlen, IOC_ETOOBIG,
                   "message of %zu bytes is over the %zu-byte limit", len, d->max_bytes);
    }
    size_t at = 0;
    const char *why = NULL;
    int rc = fast_decode(d, bytes, len, ev, &at, &why);
    if (rc == 0) {
        ev->raw = bytes;
        ev->raw_len = len;
        ev->received = received;
        return 0;
    }
    ioc_event_clear(ev);
    if (rc == IOC_ENOMEM) {
        return say(reason, reasonlen, rc, "no memory for a %zu-byte event", len);
    }
    rc = ioc_decoder_explain(d, bytes, len, reason, reasonlen);
    if (rc == 0) {
        /* The reference takes what the fast path refused: a fault of the fast
         * path (the fuzzer looks for these), or a schema edited to use checks
         * it cannot make without a tree. Refusing is the safe side. */
        rc = say(reason, reasonlen, IOC_ESCHEMA,
                 "event: the ingest decoder cannot take it (%s at byte %zu) though the schema "
                 "allows it",
                 why ? why : "unknown", at);
    }
    return rc;
}
