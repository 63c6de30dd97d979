/*
 * options.c — applies option tables to YAML mappings.
 *
 * One mechanism for every configurable thing (engine sections and plugin
 * instances): defaults come from the table as they would be written in YAML,
 * so a default and a user's value go through the same parser and bounds
 * check. Every error is reported with its position; the caller decides to
 * refuse the whole config.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ioc/error.h"
#include "ioc/options.h"
#include "ioc/yaml.h"

static const char *type_name(enum ioc_opt_type t)
{
    switch (t) {
    case IOC_OPT_STR:
        return "string";
    case IOC_OPT_INT:
        return "integer";
    case IOC_OPT_DOUBLE:
        return "number";
    case IOC_OPT_BOOL:
        return "boolean";
    case IOC_OPT_DURATION:
        return "duration";
    case IOC_OPT_SIZE:
        return "size";
    case IOC_OPT_PATH:
        return "path";
    }
    return "?";
}

int ioc_size_parse(const char *s, long long *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0) {
        return IOC_EINVAL;
    }
    while (*end == ' ') {
        end++;
    }
    static const struct {
        const char *suffix;
        double mul;
    } units[] = {{"", 1},          {"B", 1},    {"KiB", 1024},    {"KB", 1000},
                 {"MiB", 1 << 20}, {"MB", 1e6}, {"GiB", 1 << 30}, {"GB", 1e9},
                 {"k", 1000},      {"K", 1024}, {"M", 1 << 20},   {"G", 1 << 30}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            *out = (long long)llround(v * units[i].mul);
            return 0;
        }
    }
    return IOC_EINVAL;
}

/* Parses text into the slot for one option; "where" positions errors. */
static int set_one(const struct ioc_option *o, void *dst, const char *text,
                   const struct ioc_ynode *where, const char *what, struct ioc_diag *d)
{
    char *slot = (char *)dst + o->offset;
    double num = 0;
    long long ll = 0;
    char *end;
    switch (o->type) {
    case IOC_OPT_PATH:
        /* Written in a file: relative to that file, like every path of the
         * config ("<...>" names are the embedded default or the command line). */
        if (text[0] != '/' && where && where->file && where->file[0] != '<' &&
            strchr(where->file, '/')) {
            const char *slash = strrchr(where->file, '/');
            size_t dl = (size_t)(slash - where->file), n = dl + strlen(text) + 2;
            char *p = malloc(n);
            if (!p) {
                return IOC_ENOMEM;
            }
            snprintf(p, n, "%.*s/%s", (int)dl, where->file, text);
            free(*(char **)slot);
            *(char **)slot = p;
            return 0;
        }
        /* fall through */
    case IOC_OPT_STR: {
        char *copy = strdup(text);
        if (!copy) {
            return IOC_ENOMEM;
        }
        free(*(char **)slot);
        *(char **)slot = copy;
        return 0;
    }
    case IOC_OPT_BOOL:
        if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on")) {
            *(bool *)slot = true;
            return 0;
        }
        if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off")) {
            *(bool *)slot = false;
            return 0;
        }
        goto bad;
    case IOC_OPT_INT:
        errno = 0;
        ll = strtoll(text, &end, 10);
        if (end == text || *end || errno) {
            goto bad;
        }
        num = (double)ll;
        break;
    case IOC_OPT_DOUBLE:
        errno = 0;
        num = strtod(text, &end);
        if (end == text || *end || errno) {
            goto bad;
        }
        break;
    case IOC_OPT_DURATION:
        if (ioc_duration_parse(text, &ll) != 0) {
            goto bad;
        }
        num = (double)ll;
        break;
    case IOC_OPT_SIZE:
        if (ioc_size_parse(text, &ll) != 0) {
            goto bad;
        }
        num = (double)ll;
        break;
    }
    if (o->min <= o->max && (num < o->min || num > o->max)) {
        if (where) {
            ioc_diag_at(d, where, "%s: '%s' is %s, outside %g..%g", what, o->name, text, o->min,
                        o->max);
        } else {
            ioc_diag_add(d, NULL, 0, 0, "%s: default of '%s' is out of bounds", what, o->name);
        }
        return IOC_ECONFIG;
    }
    if (o->type == IOC_OPT_DOUBLE) {
        *(double *)slot = num;
    } else {
        *(long long *)slot = ll;
    }
    return 0;
bad:
    if (where) {
        ioc_diag_at(d, where, "%s: '%s' expects a %s, got '%s'", what, o->name, type_name(o->type),
                    text);
    } else {
        ioc_diag_add(d, NULL, 0, 0, "%s: bad default for '%s'", what, o->name);
    }
    return IOC_ECONFIG;
}

int ioc_options_defaults(const struct ioc_option *tab, void *dst)
{
    struct ioc_diag d;
    ioc_diag_init(&d);
    int rc = 0;
    for (const struct ioc_option *o = tab; o && o->name && rc != IOC_ENOMEM; o++) {
        int r = o->def ? set_one(o, dst, o->def, NULL, "defaults", &d) : 0;
        if (r != 0) {
            rc = r == IOC_ENOMEM ? r : IOC_ECONFIG;
        }
    }
    ioc_diag_close(&d);
    return rc;
}

static bool skipped(const char *const *skip, const char *key)
{
    for (; skip && *skip; skip++) {
        if (strcmp(*skip, key) == 0) {
            return true;
        }
    }
    return false;
}

int ioc_options_apply(const struct ioc_option *tab, void *dst, const struct ioc_ynode *map,
                      const char *const *skip, const char *what, struct ioc_diag *diag)
{
    int rc = 0;
    if (!map) {
        return 0;
    }
    if (map->kind != IOC_Y_MAP) {
        ioc_diag_at(diag, map, "%s: expected a mapping, got %s", what, ioc_ykind_name(map->kind));
        return IOC_ECONFIG;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct ioc_ynode *k = map->keys[i], *v = map->items[i];
        if (skipped(skip, k->str)) {
            continue;
        }
        const struct ioc_option *o = tab;
        while (o && o->name && strcmp(o->name, k->str) != 0) {
            o++;
        }
        if (!o || !o->name) {
            char allowed[512] = "";
            size_t used = 0;
            for (const struct ioc_option *a = tab; a && a->name; a++) {
                int w = snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? ", " : "",
                                 a->name);
                if (w < 0 || (size_t)w >= sizeof allowed - used) {
                    break;
                }
                used += (size_t)w;
            }
            ioc_diag_at(diag, k, "%s: unknown key '%s' (allowed: %s)", what, k->str,
                        used ? allowed : "none");
            rc = IOC_ECONFIG;
            continue;
        }
        if (v->kind != IOC_Y_SCALAR) {
            ioc_diag_at(diag, v, "%s: '%s' expects a %s, got %s", what, o->name, type_name(o->type),
                        ioc_ykind_name(v->kind));
            rc = IOC_ECONFIG;
            continue;
        }
        int r = set_one(o, dst, v->str, v, what, diag);
        if (r == IOC_ENOMEM) {
            return r;
        }
        if (r != 0) {
            rc = IOC_ECONFIG;
        }
    }
    return rc;
}

void ioc_options_free(const struct ioc_option *tab, void *dst)
{
    for (const struct ioc_option *o = tab; o && o->name; o++) {
        if (o->type == IOC_OPT_STR || o->type == IOC_OPT_PATH) {
            char **slot = (char **)((char *)dst + o->offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

void ioc_options_print(const struct ioc_option *tab, FILE *out)
{
    for (const struct ioc_option *o = tab; o && o->name; o++) {
        fprintf(out, "  %-16s %-9s", o->name, type_name(o->type));
        if (o->def) {
            fprintf(out, " (default %s)", o->def);
        }
        if (o->min <= o->max && o->type != IOC_OPT_STR && o->type != IOC_OPT_PATH &&
            o->type != IOC_OPT_BOOL) {
            fprintf(out, " [%g..%g]", o->min, o->max);
        }
        fprintf(out, "\n      %s\n", o->desc ? o->desc : "");
    }
}
