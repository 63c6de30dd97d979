/*
 * field.c — event fields as rules name them, and reading them from an event.
 *
 * A rule names a field once, at load time; ioc_fieldref_parse turns the name
 * into an enum (and, for attrs.<path>, a copy of the path), so matching never
 * compares field names. ioc_event_get reads the typed members the decoder
 * lifted out of the JSON and walks the JSON tree only for attrs.*; it
 * allocates nothing, because it runs per event per candidate rule.
 *
 * The names here must follow schemas/event.schema.json: "loc" and "attrs"
 * are objects and so are not fields themselves, only loc.lat, loc.lon and
 * attrs.<path> are.
 *
 * Threads: no state; safe from any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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

/* Child of obj named by the len bytes at key; the first one if repeated, as
 * cJSON_GetObjectItemCaseSensitive would return, but without a NUL-terminated
 * copy of the key. */
static const cJSON *child(const cJSON *obj, const char *key, size_t len)
{
    if (!cJSON_IsObject(obj)) {
        return NULL;
    }
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        if (c->string != NULL && strncmp(c->string, key, len) == 0 && c->string[len] == '\0') {
            return c;
        }
    }
    return NULL;
}

static struct ioc_value attr_value(const struct ioc_event *ev, const char *path)
{
    struct ioc_value v = {IOC_V_MISSING, 0, NULL, 0};
    const cJSON *j;

    if (ev->json == NULL || path == NULL) {
        return v;
    }
    j = child(ev->json, "attrs", 5);
    while (j != NULL) {
        const char *dot = strchr(path, '.');
        size_t seg = dot ? (size_t)(dot - path) : strlen(path);
        j = child(j, path, seg);
        if (dot == NULL) {
            break;
        }
        path = dot + 1;
    }
    if (cJSON_IsString(j) && j->valuestring != NULL) {
        return str_value(j->valuestring);
    }
    if (cJSON_IsNumber(j)) {
        return num_value(true, j->valuedouble);
    }
    if (cJSON_IsBool(j)) {
        v.t = IOC_V_BOOL;
        v.num = cJSON_IsTrue(j) ? 1 : 0;
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
