/*
 * field.c — event fields as rules name them, and reading them from an event.
 *
 * A rule names a field once, at load time; ioc_fieldref_parse turns the name
 * into an enum (and, for attrs.<path>, a copy of the path), so matching never
 * compares field names. ioc_event_get reads the typed members the decoder
 * lifted out of the JSON and, only for attrs.*, walks the attrs object's JSON
 * text in the raw bytes; it allocates nothing, because it runs per event per
 * candidate rule.
 *
 * The names here must follow schemas/event.schema.json: "loc" and "attrs"
 * are objects and so are not fields themselves, only loc.lat, loc.lon and
 * attrs.<path> are.
 *
 * Threads: no state; safe from any thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/event.h"

/* Indexed by enum ioc_field up to IOC_F_LON; attrs.<path> is handled apart. */
static const char *const field_names[] = {
    [IOC_F_ID] = "id",           [IOC_F_SOURCE] = "source", [IOC_F_TYPE] = "type",
    [IOC_F_TS] = "ts",           [IOC_F_DEVICE] = "device", [IOC_F_ZONE] = "zone",
    [IOC_F_VALUE] = "value",     [IOC_F_UNIT] = "unit",     [IOC_F_SCORE] = "score",
    [IOC_F_CHANNEL] = "channel", [IOC_F_TEXT] = "text",     [IOC_F_LAT] = "loc.lat",
    [IOC_F_LON] = "loc.lon",
};

#define ATTRS_PREFIX "attrs."
#define ATTRS_PREFIX_LEN (sizeof(ATTRS_PREFIX) - 1)

/* A path below attrs: segments separated by single dots, none empty, no NUL. */
static bool valid_path(const char *p, size_t len)
{
    if (len == 0 || p[0] == '.' || p[len - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\0' || (p[i] == '.' && p[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

int ioc_fieldref_parse(const char *name, size_t len, struct ioc_fieldref *out)
{
    out->f = IOC_F_ID;
    out->path = NULL;
    if (name == NULL) {
        return IOC_EFIELD;
    }
    for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++) {
        if (strlen(field_names[i]) == len && memcmp(field_names[i], name, len) == 0) {
            out->f = (enum ioc_field)i;
            return 0;
        }
    }
    if (len > ATTRS_PREFIX_LEN && memcmp(name, ATTRS_PREFIX, ATTRS_PREFIX_LEN) == 0 &&
        valid_path(name + ATTRS_PREFIX_LEN, len - ATTRS_PREFIX_LEN)) {
        size_t plen = len - ATTRS_PREFIX_LEN;
        out->path = malloc(plen + 1);
        if (out->path == NULL) {
            return IOC_ENOMEM;
        }
        memcpy(out->path, name + ATTRS_PREFIX_LEN, plen);
        out->path[plen] = '\0';
        out->f = IOC_F_ATTR;
        return 0;
    }
    return IOC_EFIELD;
}

void ioc_fieldref_close(struct ioc_fieldref *ref)
{
    if (ref == NULL) {
        return;
    }
    free(ref->path);
    ref->path = NULL;
}

const char *ioc_fieldref_name(const struct ioc_fieldref *ref, char *buf, size_t n)
{
    if (n == 0) {
        return buf;
    }
    if (ref->f == IOC_F_ATTR) {
        snprintf(buf, n, ATTRS_PREFIX "%s", ref->path ? ref->path : "");
    } else if ((size_t)ref->f < sizeof(field_names) / sizeof(field_names[0])) {
        snprintf(buf, n, "%s", field_names[ref->f]);
    } else {
        snprintf(buf, n, "?");
    }
    return buf;
}

static struct ioc_value str_value(const char *s)
{
    struct ioc_value v = {IOC_V_MISSING, 0, NULL, 0};
    if (s != NULL) {
        v.t = IOC_V_STR;
        v.str = s;
        v.len = strlen(s);
    }
    return v;
}

static struct ioc_value num_value(bool present, double d)
{
    struct ioc_value v = {IOC_V_MISSING, 0, NULL, 0};
    if (present) {
        v.t = IOC_V_NUM;
        v.num = d;
    }
    return v;
}

/* attrs.* are looked up in the text of the attrs object, which the decoder
 * has checked: every token in it is valid JSON, so the walk below only has to
 * stay inside the object. The offsets are offsets in ev->raw, which are also
 * offsets in ev->store, where string values are unescaped (see event.h). */

static size_t skip_ws(const char *s, size_t i, size_t end)
{
    while (i < end && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

/* s[i] is '"'; the offset just after the closing quote. */
static size_t skip_string(const char *s, size_t i, size_t end)
{
    for (i++; i < end; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return end;
}

/* The offset just after the value at s[i]. */
static size_t skip_value(const char *s, size_t i, size_t end)
{
    if (i >= end) {
        return end;
    }
    if (s[i] == '"') {
        return skip_string(s, i, end);
    }
    if (s[i] != '{' && s[i] != '[') {
        while (i < end && !strchr(",}] \t\r\n", s[i])) {
            i++;
        }
        return i;
    }
    size_t depth = 0;
    while (i < end) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, i, end);
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i + 1;
        }
        i++;
    }
    return end;
}

/* The string at s[i] ('"'), unescaped and NUL-terminated in the store. */
static const char *string_at(const struct ioc_event *ev, size_t i, size_t end, size_t *len)
{
    size_t close = skip_string(ev->raw, i, end) - 1;
    char *out = ev->store + i + 1;
    *len = ioc__json_unescape(ev->raw + i + 1, close - (i + 1), out);
    out[*len] = '\0';
    return out;
}

/* Whether the member name at s[i] ('"') is the len bytes of key. */
static bool name_is(const struct ioc_event *ev, size_t i, size_t end, const char *key, size_t len)
{
    const char *s = ev->raw;
    size_t close = skip_string(s, i, end) - 1;
    if (!memchr(s + i + 1, '\\', close - (i + 1))) {
        return close - (i + 1) == len && memcmp(s + i + 1, key, len) == 0;
    }
    size_t n;
    const char *name = string_at(ev, i, end, &n);
    return n == len && memcmp(name, key, len) == 0;
}

/* The offset of the value of the first member named key (len bytes) of the
 * object at s[i], as cJSON_GetObjectItemCaseSensitive would pick; SIZE_MAX
 * when there is none or s[i] is no object. */
static size_t member(const struct ioc_event *ev, size_t i, size_t end, const char *key, size_t len)
{
    const char *s = ev->raw;
    if (i >= end || s[i] != '{') {
        return SIZE_MAX;
    }
    i = skip_ws(s, i + 1, end);
    while (i < end && s[i] == '"') {
        bool match = name_is(ev, i, end, key, len);
        i = skip_ws(s, skip_string(s, i, end), end) + 1; /* past the ':' */
        i = skip_ws(s, i, end);
        if (match) {
            return i;
        }
        i = skip_ws(s, skip_value(s, i, end), end);
        if (i < end && s[i] == ',') {
            i = skip_ws(s, i + 1, end);
        }
    }
    return SIZE_MAX;
}

static struct ioc_value attr_value(const struct ioc_event *ev, const char *path)
{
    struct ioc_value v = {IOC_V_MISSING, 0, NULL, 0};
    if (ev->attrs == NULL || ev->raw == NULL || ev->store == NULL || path == NULL) {
        return v;
    }
    size_t i = (size_t)(ev->attrs - ev->raw), end = i + ev->attrs_len;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t seg = dot ? (size_t)(dot - path) : strlen(path);
        i = member(ev, i, end, path, seg);
        if (i == SIZE_MAX) {
            return v;
        }
        if (dot == NULL) {
            break;
        }
        path = dot + 1;
    }
    const char *s = ev->raw;
    switch (s[i]) {
    case '"':
        v.t = IOC_V_STR;
        v.str = string_at(ev, i, end, &v.len);
        break;
    case 't':
    case 'f':
        v.t = IOC_V_BOOL;
        v.num = s[i] == 't';
        break;
    case '{':
    case '[':
    case 'n':
        break;
    default:
        v.t = IOC_V_NUM;
        v.num = ioc__json_number(s + i, skip_value(s, i, end) - i);
        break;
    }
    return v;
}

struct ioc_value ioc_event_get(const struct ioc_event *ev, const struct ioc_fieldref *ref)
{
    switch (ref->f) {
    case IOC_F_ID:
        return str_value(ev->id);
    case IOC_F_SOURCE:
        return str_value(ioc_source_name(ev->source));
    case IOC_F_TYPE:
        return str_value(ev->type);
    case IOC_F_TS:
        return num_value(true, (double)ev->ts);
    case IOC_F_DEVICE:
        return str_value(ev->device);
    case IOC_F_ZONE:
        return str_value(ev->zone);
    case IOC_F_VALUE:
        return num_value(ev->has & IOC_HAS_VALUE, ev->value);
    case IOC_F_UNIT:
        return str_value(ev->unit);
    case IOC_F_SCORE:
        return num_value(ev->has & IOC_HAS_SCORE, ev->score);
    case IOC_F_CHANNEL:
        return str_value(ev->channel);
    case IOC_F_TEXT:
        return str_value(ev->text);
    case IOC_F_LAT:
        return num_value(ev->has & IOC_HAS_LOC, ev->lat);
    case IOC_F_LON:
        return num_value(ev->has & IOC_HAS_LOC, ev->lon);
    case IOC_F_ATTR:
        return attr_value(ev, ref->path);
    }
    return num_value(false, 0);
}
