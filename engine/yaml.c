/*
 * yaml.c — YAML text into a tree of ioc_ynode that keeps positions.
 *
 * libyaml's event stream is folded into a tree by a recursive descent over
 * the events; nesting is capped (MAX_DEPTH) so a hostile file cannot exhaust
 * the stack, which also bounds the recursion of ioc_yaml_free. Every node
 * gets the 1-based line and column of its first character; libyaml's marks
 * are 0-based and become ours in exactly one place, pos_of(). The file name
 * is copied once and shared by all nodes; the root owns it.
 *
 * What we refuse, with a positioned message: anchors and aliases (rule files
 * must read top to bottom), tags other than !!str/!!seq/!!map, duplicate
 * keys, non-string keys, and more than one document. A scalar written in any
 * non-plain style (quotes, | or >) or tagged !!str is "quoted": it is never a
 * number, a bool or a duration by accident.
 *
 * Threads: parsing and the resulting tree use no shared state.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "ioc/error.h"
#include "ioc/yaml.h"

#define MAX_DEPTH 100
/* Scalar text longer than this is shortened in messages. */
#define SHOW_MAX 60

struct yparse {
    yaml_parser_t y;
    const char *file; /* the copy the nodes share */
    const char *text;
    size_t len;
    struct ioc_diag *diag;
};

/* The one conversion from libyaml's 0-based marks to our 1-based positions. */
static void pos_of(const yaml_mark_t *m, int *line, int *col)
{
    *line = m->line < (size_t)INT_MAX ? (int)m->line + 1 : INT_MAX;
    *col = m->column < (size_t)INT_MAX ? (int)m->column + 1 : INT_MAX;
}

/* ---- Tree ------------------------------------------------------------- */

static void free_node(struct ioc_ynode *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        free_node(n->items[i]);
        if (n->keys != NULL) {
            free_node(n->keys[i]);
        }
    }
    free(n->items);
    free(n->keys);
    free(n->str);
    free(n);
}

void ioc_yaml_free(struct ioc_ynode *root)
{
    if (root == NULL) {
        return;
    }
    char *file = (char *)root->file;
    free_node(root);
    free(file);
}

static struct ioc_ynode *new_node(struct yparse *p, enum ioc_ykind kind, const yaml_mark_t *m)
{
    struct ioc_ynode *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->kind = kind;
    n->file = p->file;
    pos_of(m, &n->line, &n->col);
    return n;
}

/* Appends item (and key, for a mapping); on failure the caller still owns both. */
static int append(struct ioc_ynode *parent, struct ioc_ynode *key, struct ioc_ynode *item,
                  size_t *cap)
{
    if (parent->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct ioc_ynode **items = realloc(parent->items, ncap * sizeof(*items));
        if (items == NULL) {
            return IOC_ENOMEM;
        }
        parent->items = items;
        if (parent->kind == IOC_Y_MAP) {
            struct ioc_ynode **keys = realloc(parent->keys, ncap * sizeof(*keys));
            if (keys == NULL) {
                return IOC_ENOMEM;
            }
            parent->keys = keys;
        }
        *cap = ncap;
    }
    if (parent->kind == IOC_Y_MAP) {
        parent->keys[parent->n] = key;
    }
    parent->items[parent->n++] = item;
    return 0;
}

/* ---- Errors ----------------------------------------------------------- */

/* 1-based line and column (in characters) of a byte offset in the text; used
 * only for reader errors, where libyaml reports an offset instead of a mark. */
static void pos_of_offset(const struct yparse *p, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < p->len; i++) {
        unsigned char ch = (unsigned char)p->text[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int syntax_error(struct yparse *p)
{
    const yaml_parser_t *y = &p->y;
    const char *problem = y->problem ? y->problem : "invalid YAML";
    int line, col;

    if (y->error == YAML_MEMORY_ERROR) {
        ioc_diag_add(p->diag, p->file, 0, 0, "out of memory while reading YAML");
        return IOC_ENOMEM;
    }
    if (y->error == YAML_READER_ERROR) {
        pos_of_offset(p, y->problem_offset, &line, &col);
        if (y->problem_value != -1) {
            ioc_diag_add(p->diag, p->file, line, col, "%s (byte 0x%02X at offset %zu)", problem,
                         (unsigned)y->problem_value & 0xFFu, y->problem_offset);
        } else {
            ioc_diag_add(p->diag, p->file, line, col, "%s", problem);
        }
        return IOC_EYAML;
    }
    pos_of(&y->problem_mark, &line, &col);
    if (y->context != NULL) {
        int cline, ccol;
        pos_of(&y->context_mark, &cline, &ccol);
        ioc_diag_add(p->diag, p->file, line, col, "%s %s started at line %d, column %d", problem,
                     y->context, cline, ccol);
    } else {
        ioc_diag_add(p->diag, p->file, line, col, "%s", problem);
    }
    return IOC_EYAML;
}

static int next_event(struct yparse *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->y, ev)) {
        return syntax_error(p);
    }
    return 0;
}

static int refuse_anchor(struct yparse *p, const yaml_char_t *anchor, const yaml_mark_t *m)
{
    int line, col;
    if (anchor == NULL) {
        return 0;
    }
    pos_of(m, &line, &col);
    ioc_diag_add(p->diag, p->file, line, col,
                 "anchors (&%s) are not supported; write the value out in full", anchor);
    return IOC_EYAML;
}

/* Returns 0 for no tag or the tag of the node's own kind (!!str for a
 * scalar, which the caller marks quoted), and IOC_EYAML with a message for
 * any other tag. */
static int check_tag(struct yparse *p, const yaml_char_t *tag, const char *own,
                     const yaml_mark_t *m)
{
    int line, col;
    if (tag == NULL || strcmp((const char *)tag, "!") == 0 || strcmp((const char *)tag, own) == 0) {
        return 0;
    }
    pos_of(m, &line, &col);
    /* Show the tag as it was most likely written: !!int, not its long form. */
    const char *shown = (const char *)tag;
    const char *ns = "tag:yaml.org,2002:";
    if (strncmp(shown, ns, strlen(ns)) == 0) {
        ioc_diag_add(p->diag, p->file, line, col, "tags like '!!%s' are not supported",
                     shown + strlen(ns));
    } else {
        ioc_diag_add(p->diag, p->file, line, col, "tags like '%s' are not supported", shown);
    }
    return IOC_EYAML;
}

/* ---- Parser ----------------------------------------------------------- */

static int parse_node(struct yparse *p, yaml_event_t *ev, int depth, struct ioc_ynode **out);

static int parse_scalar(struct yparse *p, yaml_event_t *ev, struct ioc_ynode **out)
{
    const yaml_mark_t *m = &ev->start_mark;
    struct ioc_ynode *n;

    if (refuse_anchor(p, ev->data.scalar.anchor, m) < 0) {
        return IOC_EYAML;
    }
    if (check_tag(p, ev->data.scalar.tag, YAML_STR_TAG, m) < 0) {
        return IOC_EYAML;
    }
    n = new_node(p, IOC_Y_SCALAR, m);
    if (n == NULL) {
        return IOC_ENOMEM;
    }
    n->len = ev->data.scalar.length;
    n->str = malloc(n->len + 1);
    if (n->str == NULL) {
        free(n);
        return IOC_ENOMEM;
    }
    memcpy(n->str, ev->data.scalar.value, n->len);
    n->str[n->len] = '\0';
    n->quoted = ev->data.scalar.tag != NULL || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    *out = n;
    return 0;
}

/* Index of key in a mapping, or map->n when absent. */
static size_t find_key(const struct ioc_ynode *map, const char *key, size_t len)
{
    size_t i;
    for (i = 0; i < map->n; i++) {
        const struct ioc_ynode *k = map->keys[i];
        if (k->len == len && memcmp(k->str, key, len) == 0) {
            break;
        }
    }
    return i;
}

/* Reads the items of a sequence or mapping up to its end event. */
static int parse_collection(struct yparse *p, struct ioc_ynode *n, yaml_event_type_t end, int depth)
{
    size_t cap = 0;
    yaml_event_t ev;
    int rc;

    for (;;) {
        struct ioc_ynode *key = NULL, *item = NULL;

        rc = next_event(p, &ev);
        if (rc < 0) {
            return rc;
        }
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return 0;
        }
        rc = parse_node(p, &ev, depth + 1, n->kind == IOC_Y_MAP ? &key : &item);
        if (rc < 0) {
            return rc;
        }
        if (n->kind == IOC_Y_MAP) {
            if (key->kind != IOC_Y_SCALAR) {
                ioc_diag_at(p->diag, key, "a mapping key must be a plain word, got %s",
                            ioc_ykind_name(key->kind));
                free_node(key);
                return IOC_EYAML;
            }
            size_t dup = find_key(n, key->str, key->len);
            if (dup < n->n) {
                const struct ioc_ynode *first = n->keys[dup];
                ioc_diag_at(p->diag, key, "duplicate key '%s' (first at line %d, column %d)",
                            key->str, first->line, first->col);
                free_node(key);
                return IOC_EYAML;
            }
            rc = next_event(p, &ev);
            if (rc == 0) {
                rc = parse_node(p, &ev, depth + 1, &item);
            }
            if (rc < 0) {
                free_node(key);
                return rc;
            }
        }
        rc = append(n, key, item, &cap);
        if (rc < 0) {
            free_node(key);
            free_node(item);
            return rc;
        }
    }
}

/* Builds the node that starts with ev (consumed) and, for a collection, all
 * that it contains. On failure the message is in the diag and nothing leaks. */
static int parse_node(struct yparse *p, yaml_event_t *ev, int depth, struct ioc_ynode **out)
{
    struct ioc_ynode *n = NULL;
    enum ioc_ykind kind;
    yaml_event_type_t end;
    const yaml_char_t *anchor, *tag;
    const char *own;
    int line, col, rc;

    *out = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        rc = parse_scalar(p, ev, out);
        yaml_event_delete(ev);
        return rc;
    case YAML_ALIAS_EVENT:
        pos_of(&ev->start_mark, &line, &col);
        ioc_diag_add(p->diag, p->file, line, col,
                     "aliases (*%s) are not supported; write the value out in full",
                     ev->data.alias.anchor);
        yaml_event_delete(ev);
        return IOC_EYAML;
    case YAML_SEQUENCE_START_EVENT:
        kind = IOC_Y_SEQ;
        end = YAML_SEQUENCE_END_EVENT;
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        own = YAML_SEQ_TAG;
        break;
    case YAML_MAPPING_START_EVENT:
        kind = IOC_Y_MAP;
        end = YAML_MAPPING_END_EVENT;
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        own = YAML_MAP_TAG;
        break;
    default:
        /* libyaml guarantees a node here; anything else is a bug we still report. */
        pos_of(&ev->start_mark, &line, &col);
        ioc_diag_add(p->diag, p->file, line, col, "unexpected YAML event");
        yaml_event_delete(ev);
        return IOC_EYAML;
    }

    rc = refuse_anchor(p, anchor, &ev->start_mark);
    if (rc == 0) {
        rc = check_tag(p, tag, own, &ev->start_mark);
    }
    if (rc == 0 && depth >= MAX_DEPTH) {
        pos_of(&ev->start_mark, &line, &col);
        ioc_diag_add(p->diag, p->file, line, col, "nested more than %d levels deep", MAX_DEPTH);
        rc = IOC_EYAML;
    }
    if (rc == 0) {
        n = new_node(p, kind, &ev->start_mark);
        rc = n ? 0 : IOC_ENOMEM;
    }
    yaml_event_delete(ev);
    if (rc < 0) {
        return rc;
    }
    rc = parse_collection(p, n, end, depth);
    if (rc < 0) {
        free_node(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* An empty document (or one holding only a plain empty scalar) reads as {}. */
static int empty_map(struct yparse *p, const yaml_mark_t *m, struct ioc_ynode **out)
{
    *out = new_node(p, IOC_Y_MAP, m);
    return *out ? 0 : IOC_ENOMEM;
}

static int parse_stream(struct yparse *p, struct ioc_ynode **out)
{
    yaml_event_t ev;
    yaml_mark_t start = {0, 0, 0};
    struct ioc_ynode *root = NULL;
    int line, col, rc;

    /* STREAM-START */
    rc = next_event(p, &ev);
    if (rc < 0) {
        return rc;
    }
    yaml_event_delete(&ev);

    rc = next_event(p, &ev);
    if (rc < 0) {
        return rc;
    }
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return empty_map(p, &start, out);
    }
    /* DOCUMENT-START, then the root node. */
    start = ev.start_mark;
    yaml_event_delete(&ev);
    rc = next_event(p, &ev);
    if (rc == 0) {
        rc = parse_node(p, &ev, 0, &root);
    }
    if (rc < 0) {
        return rc;
    }
    if (root->kind == IOC_Y_SCALAR && !root->quoted && root->len == 0) {
        free_node(root);
        root = NULL;
        rc = empty_map(p, &start, &root);
        if (rc < 0) {
            return rc;
        }
    }

    /* DOCUMENT-END, then the stream must end. */
    rc = next_event(p, &ev);
    if (rc < 0) {
        goto fail;
    }
    yaml_event_delete(&ev);
    rc = next_event(p, &ev);
    if (rc < 0) {
        goto fail;
    }
    if (ev.type != YAML_STREAM_END_EVENT) {
        pos_of(&ev.start_mark, &line, &col);
        ioc_diag_add(p->diag, p->file, line, col,
                     "only one YAML document per file is allowed (found a second one here)");
        yaml_event_delete(&ev);
        rc = IOC_EYAML;
        goto fail;
    }
    yaml_event_delete(&ev);
    *out = root;
    return 0;

fail:
    free_node(root);
    return rc;
}

int ioc_yaml_parse(const char *file, const char *text, size_t len, struct ioc_ynode **out,
                   struct ioc_diag *diag)
{
    struct yparse p;
    char *fcopy = NULL;
    struct ioc_ynode *root = NULL;
    int rc;

    *out = NULL;
    memset(&p, 0, sizeof(p));
    fcopy = strdup(file ? file : "<input>");
    if (fcopy == NULL) {
        return IOC_ENOMEM;
    }
    if (!yaml_parser_initialize(&p.y)) {
        free(fcopy);
        return IOC_ENOMEM;
    }
    p.file = fcopy;
    p.text = text ? text : "";
    p.len = text ? len : 0;
    p.diag = diag;
    yaml_parser_set_input_string(&p.y, (const unsigned char *)p.text, p.len);

    rc = parse_stream(&p, &root);
    yaml_parser_delete(&p.y);
    if (rc < 0) {
        free(fcopy);
        return rc == IOC_ENOMEM ? rc : IOC_EYAML;
    }
    *out = root;
    return 0;
}

int ioc_yaml_load(const char *path, struct ioc_ynode **out, struct ioc_diag *diag)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        ioc_diag_add(diag, path, 0, 0, "cannot open: %s", strerror(e));
        return e == ENOENT ? IOC_ENOENT : IOC_EIO;
    }
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                rc = IOC_ENOMEM;
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        ioc_diag_add(diag, path, 0, 0, "cannot read: %s", strerror(errno));
        rc = IOC_EIO;
        goto fail;
    }
    rc = ioc_yaml_parse(path, buf, len, out, diag);

fail:
    free(buf);
    fclose(f);
    return rc;
}

/* ---- Lookups ---------------------------------------------------------- */

const struct ioc_ynode *ioc_ymap_key(const struct ioc_ynode *map, const char *key)
{
    size_t i;
    if (map == NULL || map->kind != IOC_Y_MAP || key == NULL) {
        return NULL;
    }
    i = find_key(map, key, strlen(key));
    return i < map->n ? map->keys[i] : NULL;
}

const struct ioc_ynode *ioc_ymap_get(const struct ioc_ynode *map, const char *key)
{
    size_t i;
    if (map == NULL || map->kind != IOC_Y_MAP || key == NULL) {
        return NULL;
    }
    i = find_key(map, key, strlen(key));
    return i < map->n ? map->items[i] : NULL;
}

/* ---- Scalar conversions ----------------------------------------------- */

const char *ioc_ykind_name(enum ioc_ykind k)
{
    switch (k) {
    case IOC_Y_SCALAR:
        return "a string";
    case IOC_Y_SEQ:
        return "a list";
    case IOC_Y_MAP:
        return "a mapping";
    }
    return "an unknown node";
}

/* Adds "expected <what>, got ..." describing n the way its author wrote it. */
static void expected(struct ioc_diag *diag, const struct ioc_ynode *n, const char *what,
                     bool quotes_matter)
{
    if (diag == NULL) {
        return;
    }
    if (n == NULL) {
        ioc_diag_add(diag, NULL, 0, 0, "expected %s, got nothing", what);
    } else if (n->kind != IOC_Y_SCALAR) {
        ioc_diag_at(diag, n, "expected %s, got %s", what, ioc_ykind_name(n->kind));
    } else if (n->len == 0 && !n->quoted) {
        ioc_diag_at(diag, n, "expected %s, got nothing", what);
    } else {
        int show = n->len > SHOW_MAX ? SHOW_MAX : (int)n->len;
        const char *more = n->len > SHOW_MAX ? "..." : "";
        const char *hint =
            n->quoted && quotes_matter ? " (a quoted value is text; remove the quotes)" : "";
        ioc_diag_at(diag, n, "expected %s, got '%.*s%s'%s", what, show, n->str, more, hint);
    }
}

/* Decimal number syntax: [+-]? (digits (. digits?)? | . digits) ([eE] [+-]? digits)?
 * Checked by hand so that strtod's extras (hex, inf, nan) never count as numbers. */
static bool is_decimal(const char *s, size_t len, bool allow_sign)
{
    size_t i = 0, digits = 0;
    if (allow_sign && i < len && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp++;
        }
        if (exp == 0) {
            return false;
        }
    }
    return i == len;
}

static bool plain_scalar(const struct ioc_ynode *n)
{
    return n != NULL && n->kind == IOC_Y_SCALAR && !n->quoted;
}

int ioc_ynode_number(const struct ioc_ynode *n, double *out, struct ioc_diag *diag)
{
    if (plain_scalar(n) && is_decimal(n->str, n->len, true)) {
        double v = strtod(n->str, NULL);
        if (isfinite(v)) {
            *out = v;
            return 0;
        }
    }
    expected(diag, n, "a number", true);
    return IOC_EINVAL;
}

int ioc_ynode_int(const struct ioc_ynode *n, long long *out, struct ioc_diag *diag)
{
    if (plain_scalar(n) && n->len > 0) {
        size_t i = (n->str[0] == '+' || n->str[0] == '-') ? 1 : 0;
        bool digits = i < n->len;
        for (; i < n->len; i++) {
            digits = digits && n->str[i] >= '0' && n->str[i] <= '9';
        }
        if (digits) {
            errno = 0;
            long long v = strtoll(n->str, NULL, 10);
            if (errno == 0) {
                *out = v;
                return 0;
            }
        }
    }
    expected(diag, n, "a whole number", true);
    return IOC_EINVAL;
}

int ioc_ynode_bool(const struct ioc_ynode *n, bool *out, struct ioc_diag *diag)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    if (plain_scalar(n)) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcasecmp(n->str, yes[i]) == 0) {
                *out = true;
                return 0;
            }
            if (strcasecmp(n->str, no[i]) == 0) {
                *out = false;
                return 0;
            }
        }
    }
    expected(diag, n, "true or false", true);
    return IOC_EINVAL;
}

int ioc_duration_parse(const char *s, long long *out_ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1000}};
    size_t len, num;

    if (s == NULL) {
        return IOC_EINVAL;
    }
    len = strlen(s);
    num = 0;
    while (num < len && ((s[num] >= '0' && s[num] <= '9') || s[num] == '.')) {
        num++;
    }
    if (!is_decimal(s, num, false)) {
        return IOC_EINVAL;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + num, units[i].unit) == 0) {
            double ms = strtod(s, NULL) * units[i].ms;
            /* Round to whole milliseconds; refuse what a long long cannot hold. */
            if (!(ms < 9.0e18)) {
                return IOC_EINVAL;
            }
            *out_ms = (long long)(ms + 0.5); /* ms >= 0 */
            return 0;
        }
    }
    return IOC_EINVAL;
}

int ioc_ynode_duration(const struct ioc_ynode *n, long long *out_ms, struct ioc_diag *diag)
{
    if (n != NULL && n->kind == IOC_Y_SCALAR && ioc_duration_parse(n->str, out_ms) == 0) {
        return 0;
    }
    expected(diag, n, "a duration like 30s, 15m, 2h", false);
    return IOC_EINVAL;
}

const char *ioc_ynode_str(const struct ioc_ynode *n, struct ioc_diag *diag)
{
    if (n != NULL && n->kind == IOC_Y_SCALAR) {
        return n->str;
    }
    if (diag != NULL) {
        if (n == NULL) {
            ioc_diag_add(diag, NULL, 0, 0, "expected a string, got nothing");
        } else {
            ioc_diag_at(diag, n, "expected a string, got %s", ioc_ykind_name(n->kind));
        }
    }
    return NULL;
}
