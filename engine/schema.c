/*
 * schema.c — compiles a JSON Schema (the keyword subset listed in schema.h)
 * into a tree of checks, and validates cJSON documents against it.
 *
 * Design. Each schema object becomes one struct node whose fields are the
 * keywords it uses, already decoded: type names become a bit set, bounds
 * become doubles and sizes, `required` becomes a bit mask over the object's
 * property table, `$ref` becomes a pointer to the node of the definition.
 * Unknown keywords are compile errors, so a schema never checks less than it
 * says. Validation walks the document and the node tree together; the path
 * to the current place is a chain of struct path frames on the C stack and is
 * rendered into the reason only when something fails, so a valid document
 * costs no allocation and no formatting. Sub-checks whose failure is not the
 * answer (if, not, the branches of anyOf/oneOf) run silently (no reason
 * buffer) and are re-run with one only when their reason is wanted.
 *
 * The ingest decoder validates without a tree: ioc_schema_check_jval runs
 * the same checks, silently, on the values it read from the bytes
 * (struct ioc_jval), and says "unsupported" rather than guess when a check
 * needs what the decoder did not keep. check() stays the one that explains.
 *
 * Invariants. A compiled schema is immutable, so any number of threads may
 * validate against it at once. It keeps the parsed schema document alive:
 * property names and enum/const values are borrowed from it. Every node is
 * on one allocation list, so destroy frees everything whatever the shape of
 * the $ref graph (definitions may refer to themselves).
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/schema.h"

/* Instance types as bits. An integral number has both TY_NUMBER and
 * TY_INTEGER, so "number" accepts it and "integer" rejects 1.5. */
enum {
    TY_NULL = 1u << 0,
    TY_BOOLEAN = 1u << 1,
    TY_INTEGER = 1u << 2,
    TY_NUMBER = 1u << 3,
    TY_STRING = 1u << 4,
    TY_ARRAY = 1u << 5,
    TY_OBJECT = 1u << 6,
};
#define TY_COUNT 7
static const char *const type_names[TY_COUNT] = {
    "null", "boolean", "integer", "number", "string", "array", "object",
};

enum {
    F_FALSE = 1u << 0, /* the schema `false`: nothing is valid */
    F_MIN = 1u << 1,
    F_MAX = 1u << 2,
    F_XMIN = 1u << 3,
    F_XMAX = 1u << 4,
    F_MINLEN = 1u << 5,
    F_MAXLEN = 1u << 6,
    F_MINITEMS = 1u << 7,
    F_MAXITEMS = 1u << 8,
    F_DATETIME = 1u << 9,
};

enum addl { ADDL_ANY, ADDL_NONE, ADDL_SCHEMA };

/* The property table of an object schema is also the index space of the
 * seen/required bit masks, hence the limit. */
#define MAX_PROPS 64
/* Bounds schema recursion in validation: a document nests at most
 * CJSON_NESTING_LIMIT deep, but a cycle of bare $refs would recurse forever. */
#define MAX_DEPTH 512
/* How much of a string value a reason quotes. */
#define QUOTE_MAX 40

struct node;

struct prop {
    const char *name;    /* borrowed from the schema document */
    size_t name_len;
    struct node *schema; /* NULL: named only in `required`, anything goes */
};

struct node {
    struct node *next_alloc;
    unsigned types;                     /* TY_* accepted; 0 when there is no `type` */
    unsigned char type_order[TY_COUNT]; /* type_names indexes as the schema lists them */
    unsigned char ntypes;
    unsigned flags; /* F_* */
    double minimum, maximum, xminimum, xmaximum;
    size_t min_len, max_len, min_items, max_items;
    const cJSON *konst;     /* `const`, borrowed */
    const cJSON *enum_vals; /* `enum` (an array), borrowed */
    bool enum_strings;      /* every enum member is a string: compare with strcmp */
    struct prop *props;     /* declared properties first, then required-only names */
    size_t nprops, ndeclared;
    uint64_t required; /* bits over props */
    enum addl addl;
    struct node *addl_schema;
    struct node *items;
    struct node **all_of, **any_of, **one_of;
    size_t nall, nany, none;
    struct node *not_, *if_, *then_, *else_;
    struct node *ref;
};

/* A compiled definition; section and name are borrowed. */
struct def {
    struct def *next;
    const char *section; /* "definitions" or "$defs" */
    const char *name;
    struct node *node;
};

struct ioc_schema {
    cJSON *doc;
    struct node *root;
    struct node *nodes; /* every node, through next_alloc */
    struct def *defs;
};

/* ---- Bounded string building ------------------------------------------- */

/* Appends into a fixed buffer, truncating at a UTF-8 boundary. A builder
 * without a buffer swallows everything and every sb_ function returns at
 * once, which is how silent checks stay cheap. */
struct sb {
    char *p;
    size_t n, len;
};

static void sb_putn(struct sb *b, const char *s, size_t k)
{
    if (!b->p || b->n == 0) {
        return;
    }
    size_t room = b->n - 1 - b->len;
    if (k > room) {
        k = room;
        /* Do not leave half a character at the end. */
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) {
            k--;
        }
    }
    memcpy(b->p + b->len, s, k);
    b->len += k;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    if (!b->p) {
        return; /* a silent check: format nothing */
    }
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) {
        sb_putn(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
    }
}

/* Text from a document may hold control characters (as JSON escapes); keep
 * them out of reasons, which end up in logs and the rejects table. */
static void sb_escaped(struct sb *b, const char *s, size_t max_cp)
{
    if (!b->p) {
        return; /* a silent check: format nothing */
    }
    size_t cp = 0;
    for (const char *q = s; *q; q++) {
        unsigned char ch = (unsigned char)*q;
        if ((ch & 0xC0) != 0x80 && cp++ == max_cp) {
            sb_puts(b, "...");
            return;
        }
        if (ch < 0x20 || ch == 0x7F) {
            sb_printf(b, "\\u%04x", ch);
        } else if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            sb_putn(b, esc, 2);
        } else {
            sb_putn(b, q, 1);
        }
    }
}

/* Shortest text that reads back as the same double. */
static void sb_num(struct sb *b, double d)
{
    if (!b->p) {
        return; /* a silent check: format nothing */
    }
    char tmp[40];
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(tmp, sizeof tmp, "%.0f", d);
    } else {
        snprintf(tmp, sizeof tmp, "%.15g", d);
        if (strtod(tmp, NULL) != d) {
            snprintf(tmp, sizeof tmp, "%.17g", d);
        }
    }
    sb_puts(b, tmp);
}

/* A value as a reason quotes it: scalars in JSON form, containers by kind. */
static void sb_value(struct sb *b, const cJSON *v)
{
    if (!b->p) {
        return; /* a silent check: format nothing */
    }
    switch (v->type & 0xFF) {
    case cJSON_String:
        sb_puts(b, "\"");
        sb_escaped(b, v->valuestring ? v->valuestring : "", QUOTE_MAX);
        sb_puts(b, "\"");
        break;
    case cJSON_Number:
        sb_num(b, v->valuedouble);
        break;
    case cJSON_True:
        sb_puts(b, "true");
        break;
    case cJSON_False:
        sb_puts(b, "false");
        break;
    case cJSON_NULL:
        sb_puts(b, "null");
        break;
    case cJSON_Array:
        sb_puts(b, "an array");
        break;
    case cJSON_Object:
        sb_puts(b, "an object");
        break;
    default:
        sb_puts(b, "a value");
        break;
    }
}

/* ---- Validation --------------------------------------------------------- */

/* One step of the path from the document root; key NULL means an array index. */
struct path {
    const struct path *up;
    const char *key;
    size_t index;
};

struct vctx {
    char *reason; /* NULL: silent */
    size_t n;
    int depth;
};

static void sb_path(struct sb *b, const struct path *p)
{
    const struct path *chain[64];
    size_t k = 0;
    for (; p && k < 64; p = p->up) {
        chain[k++] = p;
    }
    if (k == 0) {
        sb_puts(b, "top level");
        return;
    }
    if (p) {
        sb_puts(b, "...");
    }
    while (k-- > 0) {
        if (chain[k]->key) {
            if (b->len > 0) {
                sb_puts(b, ".");
            }
            sb_escaped(b, chain[k]->key, QUOTE_MAX);
        } else {
            sb_printf(b, "[%zu]", chain[k]->index);
        }
    }
}

/* Starts a reason with "path: "; returns a builder for the rest of it. */
static struct sb reason_start(const struct vctx *c, const struct path *p)
{
    struct sb b = {c->reason, c->n, 0};
    if (b.p && b.n > 0) {
        b.p[0] = '\0';
        sb_path(&b, p);
        sb_puts(&b, ": ");
    }
    return b;
}

static unsigned instance_types(const cJSON *v)
{
    switch (v->type & 0xFF) {
    case cJSON_NULL:
        return TY_NULL;
    case cJSON_True:
    case cJSON_False:
        return TY_BOOLEAN;
    case cJSON_Number:
        /* JSON has no infinities; cJSON makes one of 1e999. It is no number. */
        if (!isfinite(v->valuedouble)) {
            return 0;
        }
        return v->valuedouble == floor(v->valuedouble) ? TY_NUMBER | TY_INTEGER : TY_NUMBER;
    case cJSON_String:
        return TY_STRING;
    case cJSON_Array:
        return TY_ARRAY;
    case cJSON_Object:
        return TY_OBJECT;
    }
    return 0;
}

static const char *instance_type_name(const cJSON *v)
{
    unsigned t = instance_types(v);
    if ((v->type & 0xFF) == cJSON_Number && t == 0) {
        return "a number out of range";
    }
    t &= ~(unsigned)TY_INTEGER; /* say "number" for 3 as well as for 3.5 */
    for (int i = 0; i < TY_COUNT; i++) {
        if (t & (1u << i)) {
            return type_names[i];
        }
    }
    return "an unknown type";
}

/* "string", "string or integer", "string, number or null", in the order given. */
static void sb_types(struct sb *b, const unsigned char *order, size_t n)
{
    if (!b->p) {
        return; /* a silent check: format nothing */
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            sb_puts(b, i == n - 1 ? " or " : ", ");
        }
        sb_puts(b, type_names[order[i]]);
    }
}

static size_t utf8_count(const char *s, size_t bytes)
{
    size_t cp = 0;
    for (size_t i = 0; i < bytes; i++) {
        cp += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return cp;
}

static int check(const struct node *n, const cJSON *v, const struct path *p, struct vctx *c);

static int check_silent(const struct node *n, const cJSON *v, const struct path *p,
                        const struct vctx *c)
{
    struct vctx quiet = {NULL, 0, c->depth};
    return check(n, v, p, &quiet);
}

static bool enum_has(const struct node *n, const cJSON *v)
{
    if (n->enum_strings) {
        if (!cJSON_IsString(v) || !v->valuestring) {
            return false;
        }
        for (const cJSON *e = n->enum_vals->child; e; e = e->next) {
            if (strcmp(e->valuestring, v->valuestring) == 0) {
                return true;
            }
        }
        return false;
    }
    for (const cJSON *e = n->enum_vals->child; e; e = e->next) {
        if (cJSON_Compare(e, v, true)) {
            return true;
        }
    }
    return false;
}

static int check_number(const struct node *n, const cJSON *v, const struct path *p,
                        const struct vctx *c)
{
    double d = v->valuedouble;
    const char *what = NULL;
    double bound = 0;
    if ((n->flags & F_MIN) && d < n->minimum) {
        what = "is below the minimum", bound = n->minimum;
    } else if ((n->flags & F_MAX) && d > n->maximum) {
        what = "is above the maximum", bound = n->maximum;
    } else if ((n->flags & F_XMIN) && d <= n->xminimum) {
        what = "is not above the exclusive minimum", bound = n->xminimum;
    } else if ((n->flags & F_XMAX) && d >= n->xmaximum) {
        what = "is not below the exclusive maximum", bound = n->xmaximum;
    }
    if (!what) {
        return 0;
    }
    struct sb b = reason_start(c, p);
    sb_num(&b, d);
    sb_printf(&b, " %s ", what);
    sb_num(&b, bound);
    return -1;
}

static int check_string(const struct node *n, const cJSON *v, const struct path *p,
                        const struct vctx *c)
{
    const char *s = v->valuestring ? v->valuestring : "";
    if (n->flags & (F_MINLEN | F_MAXLEN)) {
        size_t bytes = strlen(s);
        /* A string has at most as many code points as bytes and at least a
         * quarter as many: count them only when the bytes cannot decide. */
        bool need = ((n->flags & F_MAXLEN) && bytes > n->max_len) ||
                    ((n->flags & F_MINLEN) && bytes / 4 < n->min_len);
        size_t cp = need ? utf8_count(s, bytes) : 0;
        if (need && (n->flags & F_MAXLEN) && cp > n->max_len) {
            struct sb b = reason_start(c, p);
            sb_printf(&b, "too long (%zu characters, at most %zu)", cp, n->max_len);
            return -1;
        }
        if (need && (n->flags & F_MINLEN) && cp < n->min_len) {
            struct sb b = reason_start(c, p);
            sb_printf(&b, "too short (%zu characters, at least %zu)", cp, n->min_len);
            return -1;
        }
    }
    if (n->flags & F_DATETIME) {
        int64_t ms;
        if (ioc_time_parse(s, &ms) != 0) {
            struct sb b = reason_start(c, p);
            sb_puts(&b, "not an RFC 3339 date-time with offset (");
            sb_value(&b, v);
            sb_puts(&b, ")");
            return -1;
        }
    }
    return 0;
}

static int check_array(const struct node *n, const cJSON *v, const struct path *p, struct vctx *c)
{
    if (n->flags & (F_MINITEMS | F_MAXITEMS)) {
        size_t count = (size_t)cJSON_GetArraySize(v);
        if ((n->flags & F_MINITEMS) && count < n->min_items) {
            struct sb b = reason_start(c, p);
            sb_printf(&b, "too few items (%zu, at least %zu)", count, n->min_items);
            return -1;
        }
        if ((n->flags & F_MAXITEMS) && count > n->max_items) {
            struct sb b = reason_start(c, p);
            sb_printf(&b, "too many items (%zu, at most %zu)", count, n->max_items);
            return -1;
        }
    }
    if (n->items) {
        struct path ip = {p, NULL, 0};
        for (const cJSON *it = v->child; it; it = it->next, ip.index++) {
            if (check(n->items, it, &ip, c) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int find_prop(const struct node *n, const char *key)
{
    for (size_t i = 0; i < n->nprops; i++) {
        const char *name = n->props[i].name;
        if (name[0] == key[0] && strcmp(name, key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* find_prop for a key of known length: the decoder's keys are compared by
 * length first, which settles most of them without reading a byte. */
static int find_prop_n(const struct node *n, const char *key, size_t len)
{
    for (size_t i = 0; i < n->nprops; i++) {
        const struct prop *pr = &n->props[i];
        if (pr->name_len == len && pr->name[0] == key[0] && memcmp(pr->name, key, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int check_object(const struct node *n, const cJSON *v, const struct path *p, struct vctx *c)
{
    if (n->nprops == 0 && n->addl == ADDL_ANY) {
        return 0; /* e.g. attrs: nothing to look at */
    }
    uint64_t seen = 0;
    for (const cJSON *it = v->child; it; it = it->next) {
        const char *key = it->string ? it->string : "";
        struct path kp = {p, key, 0};
        int i = find_prop(n, key);
        if (i >= 0) {
            /* A repeated name would let the validator and the engine read
             * different values; JSON says names should be unique. */
            if (seen & (UINT64_C(1) << i)) {
                struct sb b = reason_start(c, &kp);
                sb_puts(&b, "duplicate property");
                return -1;
            }
            seen |= UINT64_C(1) << i;
            if ((size_t)i < n->ndeclared) {
                if (n->props[i].schema && check(n->props[i].schema, it, &kp, c) != 0) {
                    return -1;
                }
                continue;
            }
        }
        if (n->addl == ADDL_NONE) {
            struct sb b = reason_start(c, &kp);
            sb_puts(&b, "unknown field (allowed: ");
            for (size_t k = 0; k < n->ndeclared; k++) {
                sb_printf(&b, "%s%s", k ? ", " : "", n->props[k].name);
            }
            sb_puts(&b, ")");
            return -1;
        }
        if (n->addl == ADDL_SCHEMA && check(n->addl_schema, it, &kp, c) != 0) {
            return -1;
        }
    }
    uint64_t missing = n->required & ~seen;
    if (missing) {
        int i = __builtin_ctzll(missing);
        struct path kp = {p, n->props[i].name, 0};
        struct sb b = reason_start(c, &kp);
        sb_puts(&b, "required property missing");
        return -1;
    }
    return 0;
}

/* Whether a branch of anyOf/oneOf is "about" this kind of value, which
 * makes its reason the one worth showing. */
static bool branch_takes_type(const struct node *n, const cJSON *v)
{
    /* Bounded: definitions may refer to each other in a cycle. */
    for (int hops = 0; n->types == 0 && n->ref && hops < 16; hops++) {
        n = n->ref;
    }
    return n->types == 0 || (instance_types(v) & n->types) != 0;
}

/* All branches failed: explain with the one branch meant for this type of
 * value, or with the types the branches expect. */
static int explain_alternatives(struct node *const *alts, size_t nalt, const char *kw,
                                const cJSON *v, const struct path *p, struct vctx *c)
{
    if (!c->reason) {
        return -1;
    }
    const struct node *only = NULL;
    size_t takers = 0;
    unsigned types = 0;
    unsigned char order[TY_COUNT];
    size_t ntypes = 0;
    bool all_typed = true;
    for (size_t i = 0; i < nalt; i++) {
        const struct node *a = alts[i];
        if (branch_takes_type(a, v)) {
            only = a;
            takers++;
        }
        all_typed = all_typed && a->types != 0;
        for (size_t k = 0; k < a->ntypes; k++) {
            if (!(types & (1u << a->type_order[k]))) {
                types |= 1u << a->type_order[k];
                order[ntypes++] = a->type_order[k];
            }
        }
    }
    if (takers == 1) {
        check(only, v, p, c);
        return -1;
    }
    struct sb b = reason_start(c, p);
    if (takers == 0 && all_typed) {
        sb_puts(&b, "expected ");
        sb_types(&b, order, ntypes);
        sb_printf(&b, ", got %s", instance_type_name(v));
    } else {
        sb_printf(&b, "matches none of the %zu alternatives of %s", nalt, kw);
    }
    return -1;
}

/* "source is \"sensor\"" from an if-schema made of const properties, so a
 * then-branch failure says which condition made it apply. */
static void sb_condition(struct sb *b, const struct node *cond, const cJSON *v)
{
    bool first = true;
    for (size_t i = 0; i < cond->ndeclared; i++) {
        const struct node *ps = cond->props[i].schema;
        const cJSON *k = NULL;
        if (ps && ps->konst) {
            k = ps->konst;
        } else if (ps && ps->enum_vals && cJSON_GetArraySize(ps->enum_vals) == 1) {
            k = ps->enum_vals->child;
        }
        if (!k || !cJSON_GetObjectItemCaseSensitive(v, cond->props[i].name)) {
            continue;
        }
        sb_puts(b, first ? " (" : ", ");
        sb_escaped(b, cond->props[i].name, QUOTE_MAX);
        sb_puts(b, " is ");
        sb_value(b, k);
        first = false;
    }
    if (!first) {
        sb_puts(b, ")");
    }
}

static int check(const struct node *n, const cJSON *v, const struct path *p, struct vctx *c)
{
    int rc = -1;
    if (++c->depth > MAX_DEPTH) {
        struct sb b = reason_start(c, p);
        sb_puts(&b, "schema recursion too deep");
        goto out;
    }
    if (n->flags & F_FALSE) {
        struct sb b = reason_start(c, p);
        sb_puts(&b, "not allowed here");
        goto out;
    }
    if (n->ref && check(n->ref, v, p, c) != 0) {
        goto out;
    }
    unsigned t = instance_types(v);
    if (n->types && !(t & n->types)) {
        struct sb b = reason_start(c, p);
        sb_puts(&b, "expected ");
        sb_types(&b, n->type_order, n->ntypes);
        sb_printf(&b, ", got %s", instance_type_name(v));
        goto out;
    }
    if (n->konst && !cJSON_Compare(n->konst, v, true)) {
        struct sb b = reason_start(c, p);
        sb_puts(&b, "must be ");
        sb_value(&b, n->konst);
        sb_puts(&b, ", got ");
        sb_value(&b, v);
        goto out;
    }
    if (n->enum_vals && !enum_has(n, v)) {
        struct sb b = reason_start(c, p);
        sb_value(&b, v);
        sb_puts(&b, " is not one of ");
        for (const cJSON *e = n->enum_vals->child; e; e = e->next) {
            if (e != n->enum_vals->child) {
                sb_puts(&b, ", ");
            }
            if (cJSON_IsString(e)) {
                sb_escaped(&b, e->valuestring, QUOTE_MAX);
            } else {
                sb_value(&b, e);
            }
        }
        goto out;
    }
    if ((t & TY_NUMBER) && check_number(n, v, p, c) != 0) {
        goto out;
    }
    if ((t & TY_STRING) && check_string(n, v, p, c) != 0) {
        goto out;
    }
    if ((t & TY_ARRAY) && check_array(n, v, p, c) != 0) {
        goto out;
    }
    if ((t & TY_OBJECT) && check_object(n, v, p, c) != 0) {
        goto out;
    }
    for (size_t i = 0; i < n->nall; i++) {
        if (check(n->all_of[i], v, p, c) != 0) {
            goto out;
        }
    }
    if (n->nany > 0) {
        size_t i = 0;
        while (i < n->nany && check_silent(n->any_of[i], v, p, c) != 0) {
            i++;
        }
        if (i == n->nany) {
            explain_alternatives(n->any_of, n->nany, "anyOf", v, p, c);
            goto out;
        }
    }
    if (n->none > 0) {
        size_t first = SIZE_MAX, matches = 0;
        for (size_t i = 0; i < n->none && matches < 2; i++) {
            if (check_silent(n->one_of[i], v, p, c) == 0) {
                if (matches++ == 0) {
                    first = i;
                } else {
                    struct sb b = reason_start(c, p);
                    sb_printf(&b, "matches more than one alternative of oneOf (%zu and %zu)", first,
                              i);
                    goto out;
                }
            }
        }
        if (matches == 0) {
            explain_alternatives(n->one_of, n->none, "oneOf", v, p, c);
            goto out;
        }
    }
    if (n->not_ && check_silent(n->not_, v, p, c) == 0) {
        struct sb b = reason_start(c, p);
        sb_puts(&b, "matches the schema under \"not\"");
        goto out;
    }
    if (n->if_) {
        bool cond = check_silent(n->if_, v, p, c) == 0;
        const struct node *branch = cond ? n->then_ : n->else_;
        if (branch && check(branch, v, p, c) != 0) {
            if (cond && c->reason) {
                struct sb b = {c->reason, c->n, strlen(c->reason)};
                sb_condition(&b, n->if_, v);
            }
            goto out;
        }
    }
    rc = 0;
out:
    c->depth--;
    return rc;
}

int ioc_schema_validate(const struct ioc_schema *s, const struct cJSON *doc, char *reason, size_t n)
{
    struct vctx c = {n > 0 ? reason : NULL, n, 0};
    if (c.reason) {
        c.reason[0] = '\0';
    }
    return check(s->root, doc, NULL, &c) == 0 ? 0 : IOC_ESCHEMA;
}

/* ---- Validation of the ingest decoder's values (no tree) --------------- */

/* The same checks as check() above, on values the ingest decoder (event.c)
 * built from the bytes without a cJSON tree, silently: the decoder only needs
 * the verdict, and asks check() for the reason by decoding again the old way
 * when the verdict is "invalid". The two must agree on every document; the
 * event fuzzer compares them. A value may lack what a check needs (the
 * members of an object the decoder skipped, the items of an array): the
 * answer is then JV_UNSUPPORTED, never a guess. */

#define JV_UNSUPPORTED IOC_SCHEMA_UNSUPPORTED

static unsigned jval_types(const struct ioc_jval *v)
{
    switch (v->kind) {
    case IOC_J_NULL:
        return TY_NULL;
    case IOC_J_BOOL:
        return TY_BOOLEAN;
    case IOC_J_NUM:
        if (!isfinite(v->num)) {
            return 0;
        }
        return v->num == floor(v->num) ? TY_NUMBER | TY_INTEGER : TY_NUMBER;
    case IOC_J_STR:
        return TY_STRING;
    case IOC_J_ARR:
        return TY_ARRAY;
    case IOC_J_OBJ:
        return TY_OBJECT;
    }
    return 0;
}

/* cJSON_Compare(a, v, true) for a schema constant a: 1 equal, 0 not, or
 * JV_UNKNOWN for containers, whose members the decoder does not keep. */
#define JV_UNKNOWN 2
static int jval_equals(const cJSON *a, const struct ioc_jval *v)
{
    switch (a->type & 0xFF) {
    case cJSON_String:
        return v->kind == IOC_J_STR && a->valuestring && strcmp(a->valuestring, v->str) == 0;
    case cJSON_Number: {
        if (v->kind != IOC_J_NUM) {
            return 0;
        }
        /* cJSON compares numbers with a relative tolerance; so must this. */
        double x = a->valuedouble, y = v->num;
        double m = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
        return fabs(x - y) <= m * DBL_EPSILON;
    }
    case cJSON_True:
        return v->kind == IOC_J_BOOL && v->b;
    case cJSON_False:
        return v->kind == IOC_J_BOOL && !v->b;
    case cJSON_NULL:
        return v->kind == IOC_J_NULL;
    }
    return v->kind == IOC_J_ARR || v->kind == IOC_J_OBJ ? JV_UNKNOWN : 0;
}

static int jcheck(const struct node *n, const struct ioc_jval *v, int depth);

/* An object that admits any other member (an if-condition, a then-branch of
 * required names) is checked property by property: each of its few names is
 * looked for among the members, which is what check_object's walk over the
 * members amounts to when no member can be refused for being unknown. */
static int jcheck_props(const struct node *n, const struct ioc_jval *v, int depth)
{
    for (size_t i = 0; i < n->nprops; i++) {
        const char *name = n->props[i].name;
        size_t name_len = n->props[i].name_len;
        const struct ioc_jmember *found = NULL;
        for (size_t k = 0; k < v->nmembers; k++) {
            const struct ioc_jmember *m = &v->members[k];
            if (m->key_len == name_len && m->key[0] == name[0] &&
                memcmp(m->key, name, name_len) == 0) {
                if (found) {
                    return -1; /* duplicate property */
                }
                found = m;
            }
        }
        if (!found) {
            if (n->required & (UINT64_C(1) << i)) {
                return -1;
            }
            continue;
        }
        int rc;
        if (i < n->ndeclared && n->props[i].schema &&
            (rc = jcheck(n->props[i].schema, &found->v, depth)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int jcheck_object(const struct node *n, const struct ioc_jval *v, int depth)
{
    if (n->nprops == 0 && n->addl == ADDL_ANY) {
        return 0;
    }
    if (!v->members_kept) {
        return JV_UNSUPPORTED;
    }
    if (n->addl == ADDL_ANY) {
        return jcheck_props(n, v, depth);
    }
    uint64_t seen = 0;
    for (size_t k = 0; k < v->nmembers; k++) {
        const struct ioc_jmember *m = &v->members[k];
        /* The decoder found the property when it read the member, if it
         * read it against this node. */
        int i = m->node == (const struct ioc_schema_node *)n ? m->prop
                                                              : find_prop_n(n, m->key, m->key_len);
        int rc;
        if (i >= 0) {
            if (seen & (UINT64_C(1) << i)) {
                return -1; /* duplicate property */
            }
            seen |= UINT64_C(1) << i;
            if ((size_t)i < n->ndeclared) {
                if (n->props[i].schema && (rc = jcheck(n->props[i].schema, &m->v, depth)) != 0) {
                    return rc;
                }
                continue;
            }
        }
        if (n->addl == ADDL_NONE) {
            return -1;
        }
        if (n->addl == ADDL_SCHEMA && (rc = jcheck(n->addl_schema, &m->v, depth)) != 0) {
            return rc;
        }
    }
    return (n->required & ~seen) ? -1 : 0;
}

static int jcheck(const struct node *n, const struct ioc_jval *v, int depth)
{
    int rc;
    if (++depth > MAX_DEPTH || (n->flags & F_FALSE)) {
        return -1;
    }
    if (n->ref && (rc = jcheck(n->ref, v, depth)) != 0) {
        return rc;
    }
    unsigned t = jval_types(v);
    if (n->types && !(t & n->types)) {
        return -1;
    }
    if (n->konst && (rc = jval_equals(n->konst, v)) != 1) {
        return rc == 0 ? -1 : JV_UNSUPPORTED;
    }
    if (n->enum_vals) {
        bool found = false;
        for (const cJSON *e = n->enum_vals->child; e && !found; e = e->next) {
            if ((rc = jval_equals(e, v)) == JV_UNKNOWN) {
                return JV_UNSUPPORTED;
            }
            found = rc == 1;
        }
        if (!found) {
            return -1;
        }
    }
    if (t & TY_NUMBER) {
        double d = v->num;
        if (((n->flags & F_MIN) && d < n->minimum) || ((n->flags & F_MAX) && d > n->maximum) ||
            ((n->flags & F_XMIN) && d <= n->xminimum) ||
            ((n->flags & F_XMAX) && d >= n->xmaximum)) {
            return -1;
        }
    }
    if (t & TY_STRING) {
        if (n->flags & (F_MINLEN | F_MAXLEN)) {
            bool need = ((n->flags & F_MAXLEN) && v->len > n->max_len) ||
                        ((n->flags & F_MINLEN) && v->len / 4 < n->min_len);
            size_t cp = need ? utf8_count(v->str, v->len) : 0;
            if (need && (((n->flags & F_MAXLEN) && cp > n->max_len) ||
                         ((n->flags & F_MINLEN) && cp < n->min_len))) {
                return -1;
            }
        }
        int64_t ms;
        if ((n->flags & F_DATETIME) && ioc_time_parse(v->str, &ms) != 0) {
            return -1;
        }
    }
    if ((t & TY_ARRAY) && (n->items || (n->flags & (F_MINITEMS | F_MAXITEMS)))) {
        return JV_UNSUPPORTED; /* the decoder keeps no items */
    }
    if ((t & TY_OBJECT) && (rc = jcheck_object(n, v, depth)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < n->nall; i++) {
        if ((rc = jcheck(n->all_of[i], v, depth)) != 0) {
            return rc;
        }
    }
    if (n->nany > 0) {
        bool any = false;
        for (size_t i = 0; i < n->nany && !any; i++) {
            if ((rc = jcheck(n->any_of[i], v, depth)) == JV_UNSUPPORTED) {
                return rc;
            }
            any = rc == 0;
        }
        if (!any) {
            return -1;
        }
    }
    if (n->none > 0) {
        size_t matches = 0;
        for (size_t i = 0; i < n->none; i++) {
            if ((rc = jcheck(n->one_of[i], v, depth)) == JV_UNSUPPORTED) {
                return rc;
            }
            matches += rc == 0;
        }
        if (matches != 1) {
            return -1;
        }
    }
    if (n->not_) {
        if ((rc = jcheck(n->not_, v, depth)) == JV_UNSUPPORTED) {
            return rc;
        }
        if (rc == 0) {
            return -1;
        }
    }
    if (n->if_) {
        if ((rc = jcheck(n->if_, v, depth)) == JV_UNSUPPORTED) {
            return rc;
        }
        const struct node *branch = rc == 0 ? n->then_ : n->else_;
        if (branch && (rc = jcheck(branch, v, depth)) != 0) {
            return rc;
        }
    }
    return 0;
}

int ioc_schema_check_jval(const struct ioc_schema *s, const struct ioc_jval *v)
{
    int rc = jcheck(s->root, v, 0);
    return rc == 0 ? 0 : rc == JV_UNSUPPORTED ? IOC_SCHEMA_UNSUPPORTED : IOC_ESCHEMA;
}

const struct ioc_schema_node *ioc_schema_root(const struct ioc_schema *s)
{
    return (const struct ioc_schema_node *)s->root;
}

/* Only the object's own properties and additionalProperties say where a
 * member's value is checked; a node that reaches its members otherwise
 * (through $ref or a combinator) gets NULL, and the member's objects are then
 * skipped, so a check that needs them answers "unsupported", not "valid". */
const struct ioc_schema_node *ioc_schema_member(const struct ioc_schema_node *sn, const char *key,
                                                size_t len, int *prop)
{
    const struct node *n = (const struct node *)sn;
    *prop = -1;
    if (!n) {
        return NULL;
    }
    int i = find_prop_n(n, key, len);
    *prop = i;
    if (i >= 0 && (size_t)i < n->ndeclared) {
        return (const struct ioc_schema_node *)n->props[i].schema;
    }
    return n->addl == ADDL_SCHEMA ? (const struct ioc_schema_node *)n->addl_schema : NULL;
}

bool ioc_schema_wants_members(const struct ioc_schema_node *sn)
{
    const struct node *n = (const struct node *)sn;
    return n && !(n->nprops == 0 && n->addl == ADDL_ANY && !n->ref && n->nall == 0 &&
                  n->nany == 0 && n->none == 0 && !n->not_ && !n->if_ && !n->konst &&
                  !n->enum_vals && !(n->flags & F_FALSE));
}

/* ---- Compilation -------------------------------------------------------- */

/* JSON-pointer position inside the schema document, for compile errors. */
struct jptr {
    const struct jptr *up;
    const char *key; /* NULL: array index */
    size_t index;
};

struct comp {
    struct ioc_schema *s;
    char *err;
    size_t errlen;
};

static void sb_jptr(struct sb *b, const struct jptr *p)
{
    if (!p) {
        sb_puts(b, "#");
        return;
    }
    sb_jptr(b, p->up);
    if (p->key) {
        sb_puts(b, "/");
        sb_escaped(b, p->key, QUOTE_MAX);
    } else {
        sb_printf(b, "/%zu", p->index);
    }
}

static int comp_error(struct comp *c, const struct jptr *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int comp_error(struct comp *c, const struct jptr *at, const char *fmt, ...)
{
    struct sb b = {c->err, c->errlen, 0};
    if (b.p && b.n > 0) {
        b.p[0] = '\0';
        sb_puts(&b, "schema ");
        sb_jptr(&b, at);
        sb_puts(&b, ": ");
        char tmp[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        sb_puts(&b, tmp);
    }
    return IOC_ESCHEMA;
}

static int nomem(struct comp *c)
{
    if (c->err && c->errlen > 0) {
        snprintf(c->err, c->errlen, "%s", ioc_strerror(IOC_ENOMEM));
    }
    return IOC_ENOMEM;
}

static struct node *node_new(struct comp *c)
{
    struct node *n = calloc(1, sizeof *n);
    if (n) {
        n->next_alloc = c->s->nodes;
        c->s->nodes = n;
    }
    return n;
}

static void node_free(struct node *n)
{
    free(n->props);
    free(n->all_of);
    free(n->any_of);
    free(n->one_of);
    free(n);
}

static int compile_into(struct comp *c, struct node *n, const cJSON *j, const struct jptr *at);

static int compile_sub(struct comp *c, const cJSON *j, const struct jptr *at, struct node **out)
{
    struct node *n = node_new(c);
    if (!n) {
        return nomem(c);
    }
    *out = n;
    return compile_into(c, n, j, at);
}

static bool is_annotation(const char *k)
{
    static const char *const names[] = {
        "$schema", "$id", "title", "description", "examples", "default", "$comment",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(k, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int parse_types(struct comp *c, const cJSON *j, const struct jptr *at, struct node *n)
{
    bool list = cJSON_IsArray(j);
    const cJSON *one = list ? j->child : j;
    if (!one) {
        return comp_error(c, at, "an empty list of types");
    }
    for (; one; one = list ? one->next : NULL) {
        int found = -1;
        for (int i = 0; cJSON_IsString(one) && i < TY_COUNT; i++) {
            if (strcmp(one->valuestring, type_names[i]) == 0) {
                found = i;
            }
        }
        if (found < 0) {
            return comp_error(c, at,
                              "a type must be one of null, boolean, integer, number, "
                              "string, array, object");
        }
        if (n->types & (1u << found)) {
            return comp_error(c, at, "type \"%s\" is listed twice", type_names[found]);
        }
        n->types |= 1u << found;
        n->type_order[n->ntypes++] = (unsigned char)found;
    }
    return 0;
}

static int parse_number_kw(struct comp *c, const cJSON *j, const struct jptr *at, double *out)
{
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble)) {
        return comp_error(c, at, "expected a number");
    }
    *out = j->valuedouble;
    return 0;
}

static int parse_size_kw(struct comp *c, const cJSON *j, const struct jptr *at, size_t *out)
{
    double d = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (d < 0 || d != floor(d) || d > 1e15) {
        return comp_error(c, at, "expected a non-negative integer");
    }
    *out = (size_t)d;
    return 0;
}

static int compile_list(struct comp *c, const cJSON *j, const struct jptr *at, struct node ***out,
                        size_t *count)
{
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 0;
    if (n == 0) {
        return comp_error(c, at, "expected a non-empty array of schemas");
    }
    *out = calloc((size_t)n, sizeof **out);
    if (!*out) {
        return nomem(c);
    }
    *count = (size_t)n;
    struct jptr ip = {at, NULL, 0};
    for (const cJSON *it = j->child; it; it = it->next, ip.index++) {
        int rc = compile_sub(c, it, &ip, &(*out)[ip.index]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Finds or compiles the node of definition section/name. The node is
 * registered before its body is compiled, so a definition may refer to
 * itself. */
static int resolve_def(struct comp *c, const char *section, const char *name, const struct jptr *at,
                       struct node **out)
{
    for (const struct def *d = c->s->defs; d; d = d->next) {
        if (strcmp(d->section, section) == 0 && strcmp(d->name, name) == 0) {
            *out = d->node;
            return 0;
        }
    }
    const cJSON *defs = cJSON_GetObjectItemCaseSensitive(c->s->doc, section);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(defs, name);
    if (!body) {
        return comp_error(c, at, "$ref names no definition #/%s/%s", section, name);
    }
    struct def *d = calloc(1, sizeof *d);
    struct node *n = node_new(c);
    if (!d || !n) {
        free(d);
        return nomem(c);
    }
    d->section = section;
    d->name = name;
    d->node = n;
    d->next = c->s->defs;
    c->s->defs = d;
    *out = n;
    struct jptr sp = {NULL, section, 0};
    struct jptr np = {&sp, name, 0};
    return compile_into(c, n, body, &np);
}

/* "#/definitions/NAME" or "#/$defs/NAME"; nothing else is resolvable. */
static int resolve_ref(struct comp *c, const char *ref, const struct jptr *at, struct node **out)
{
    const char *section = NULL, *name = NULL;
    if (strncmp(ref, "#/definitions/", 14) == 0) {
        section = "definitions", name = ref + 14;
    } else if (strncmp(ref, "#/$defs/", 8) == 0) {
        section = "$defs", name = ref + 8;
    }
    if (!name || !*name || strpbrk(name, "/~%")) {
        return comp_error(c, at,
                          "$ref \"%s\" is not of the form #/definitions/NAME or #/$defs/NAME", ref);
    }
    return resolve_def(c, section, name, at, out);
}

static int build_props(struct comp *c, struct node *n, const cJSON *props, const cJSON *req,
                       const struct jptr *at)
{
    size_t cap = (size_t)cJSON_GetArraySize(props) + (size_t)cJSON_GetArraySize(req);
    if (cap == 0) {
        return 0;
    }
    n->props = calloc(cap, sizeof *n->props);
    if (!n->props) {
        return nomem(c);
    }
    struct jptr pp = {at, "properties", 0};
    for (const cJSON *it = props ? props->child : NULL; it; it = it->next) {
        struct jptr kp = {&pp, it->string, 0};
        if (n->nprops == MAX_PROPS) {
            return comp_error(c, &pp, "more than %d properties", MAX_PROPS);
        }
        struct prop *pr = &n->props[n->nprops++];
        pr->name = it->string;
        pr->name_len = strlen(it->string);
        int rc = compile_sub(c, it, &kp, &pr->schema);
        if (rc != 0) {
            return rc;
        }
    }
    n->ndeclared = n->nprops;
    struct jptr rp = {at, "required", 0};
    for (const cJSON *it = req ? req->child : NULL; it; it = it->next, rp.index++) {
        if (!cJSON_IsString(it)) {
            return comp_error(c, &rp, "required names must be strings");
        }
        int i = find_prop(n, it->valuestring);
        if (i < 0) {
            if (n->nprops == MAX_PROPS) {
                return comp_error(c, &rp, "more than %d properties", MAX_PROPS);
            }
            i = (int)n->nprops++;
            n->props[i].name = it->valuestring;
            n->props[i].name_len = strlen(it->valuestring);
        }
        if (n->required & (UINT64_C(1) << i)) {
            return comp_error(c, &rp, "\"%s\" is listed twice", it->valuestring);
        }
        n->required |= UINT64_C(1) << i;
    }
    return 0;
}

static int compile_into(struct comp *c, struct node *n, const cJSON *j, const struct jptr *at)
{
    if (cJSON_IsBool(j)) {
        n->flags = cJSON_IsFalse(j) ? F_FALSE : 0;
        return 0;
    }
    if (!cJSON_IsObject(j)) {
        return comp_error(c, at, "a schema must be an object or true/false");
    }
    const cJSON *props = NULL, *req = NULL;
    const cJSON *then_j = NULL, *else_j = NULL, *ref_j = NULL;
    bool has_if = false;
    int rc = 0;
    for (const cJSON *kw = j->child; kw && rc == 0; kw = kw->next) {
        const char *k = kw->string;
        struct jptr kp = {at, k, 0};
        if (is_annotation(k)) {
            continue;
        } else if (!at && (strcmp(k, "definitions") == 0 || strcmp(k, "$defs") == 0)) {
            /* Compiled below, through $ref, so each is compiled once. */
            if (!cJSON_IsObject(kw)) {
                rc = comp_error(c, &kp, "expected an object of schemas");
            }
        } else if (strcmp(k, "type") == 0) {
            rc = parse_types(c, kw, &kp, n);
        } else if (strcmp(k, "properties") == 0) {
            props = kw;
            if (!cJSON_IsObject(kw)) {
                rc = comp_error(c, &kp, "expected an object of schemas");
            }
        } else if (strcmp(k, "required") == 0) {
            req = kw;
            if (!cJSON_IsArray(kw)) {
                rc = comp_error(c, &kp, "expected an array of names");
            }
        } else if (strcmp(k, "additionalProperties") == 0) {
            if (cJSON_IsBool(kw)) {
                n->addl = cJSON_IsTrue(kw) ? ADDL_ANY : ADDL_NONE;
            } else {
                n->addl = ADDL_SCHEMA;
                rc = compile_sub(c, kw, &kp, &n->addl_schema);
            }
        } else if (strcmp(k, "enum") == 0) {
            if (!cJSON_IsArray(kw) || !kw->child) {
                rc = comp_error(c, &kp, "expected a non-empty array");
            }
            n->enum_vals = kw;
            n->enum_strings = true;
            for (const cJSON *e = kw->child; e; e = e->next) {
                n->enum_strings = n->enum_strings && cJSON_IsString(e);
            }
        } else if (strcmp(k, "const") == 0) {
            n->konst = kw;
        } else if (strcmp(k, "minimum") == 0) {
            n->flags |= F_MIN;
            rc = parse_number_kw(c, kw, &kp, &n->minimum);
        } else if (strcmp(k, "maximum") == 0) {
            n->flags |= F_MAX;
            rc = parse_number_kw(c, kw, &kp, &n->maximum);
        } else if (strcmp(k, "exclusiveMinimum") == 0) {
            n->flags |= F_XMIN;
            rc = parse_number_kw(c, kw, &kp, &n->xminimum);
        } else if (strcmp(k, "exclusiveMaximum") == 0) {
            n->flags |= F_XMAX;
            rc = parse_number_kw(c, kw, &kp, &n->xmaximum);
        } else if (strcmp(k, "minLength") == 0) {
            n->flags |= F_MINLEN;
            rc = parse_size_kw(c, kw, &kp, &n->min_len);
        } else if (strcmp(k, "maxLength") == 0) {
            n->flags |= F_MAXLEN;
            rc = parse_size_kw(c, kw, &kp, &n->max_len);
        } else if (strcmp(k, "minItems") == 0) {
            n->flags |= F_MINITEMS;
            rc = parse_size_kw(c, kw, &kp, &n->min_items);
        } else if (strcmp(k, "maxItems") == 0) {
            n->flags |= F_MAXITEMS;
            rc = parse_size_kw(c, kw, &kp, &n->max_items);
        } else if (strcmp(k, "items") == 0) {
            if (cJSON_IsArray(kw)) {
                rc = comp_error(c, &kp, "items as a list of schemas is not supported");
            } else {
                rc = compile_sub(c, kw, &kp, &n->items);
            }
        } else if (strcmp(k, "allOf") == 0) {
            rc = compile_list(c, kw, &kp, &n->all_of, &n->nall);
        } else if (strcmp(k, "anyOf") == 0) {
            rc = compile_list(c, kw, &kp, &n->any_of, &n->nany);
        } else if (strcmp(k, "oneOf") == 0) {
            rc = compile_list(c, kw, &kp, &n->one_of, &n->none);
        } else if (strcmp(k, "not") == 0) {
            rc = compile_sub(c, kw, &kp, &n->not_);
        } else if (strcmp(k, "if") == 0) {
            has_if = true;
            rc = compile_sub(c, kw, &kp, &n->if_);
        } else if (strcmp(k, "then") == 0) {
            then_j = kw;
        } else if (strcmp(k, "else") == 0) {
            else_j = kw;
        } else if (strcmp(k, "format") == 0) {
            if (!cJSON_IsString(kw) || strcmp(kw->valuestring, "date-time") != 0) {
                rc = comp_error(c, &kp, "unsupported format (only \"date-time\" is known)");
            }
            n->flags |= F_DATETIME;
        } else if (strcmp(k, "$ref") == 0) {
            ref_j = kw;
            if (!cJSON_IsString(kw)) {
                rc = comp_error(c, &kp, "expected a string");
            }
        } else {
            rc = comp_error(c, at, "unknown keyword \"%s\"", k);
        }
    }
    if (rc != 0) {
        return rc;
    }
    if ((then_j || else_j) && !has_if) {
        struct jptr kp = {at, then_j ? "then" : "else", 0};
        return comp_error(c, &kp, "\"%s\" without \"if\"", kp.key);
    }
    if (then_j) {
        struct jptr kp = {at, "then", 0};
        if ((rc = compile_sub(c, then_j, &kp, &n->then_)) != 0) {
            return rc;
        }
    }
    if (else_j) {
        struct jptr kp = {at, "else", 0};
        if ((rc = compile_sub(c, else_j, &kp, &n->else_)) != 0) {
            return rc;
        }
    }
    if ((rc = build_props(c, n, props, req, at)) != 0) {
        return rc;
    }
    if (ref_j) {
        struct jptr kp = {at, "$ref", 0};
        if ((rc = resolve_ref(c, ref_j->valuestring, &kp, &n->ref)) != 0) {
            return rc;
        }
    }
    if (!at) {
        /* Compile every definition, used or not, so an error in one is found
         * when the schema loads rather than never. */
        static const char *const sections[] = {"definitions", "$defs"};
        for (size_t i = 0; i < 2; i++) {
            const cJSON *defs = cJSON_GetObjectItemCaseSensitive(j, sections[i]);
            struct jptr dp = {NULL, sections[i], 0};
            for (const cJSON *d = defs ? defs->child : NULL; d; d = d->next) {
                struct node *ignored;
                if ((rc = resolve_def(c, sections[i], d->string, &dp, &ignored)) != 0) {
                    return rc;
                }
            }
        }
    }
    return 0;
}

void ioc_schema_destroy(struct ioc_schema *s)
{
    if (!s) {
        return;
    }
    while (s->nodes) {
        struct node *n = s->nodes;
        s->nodes = n->next_alloc;
        node_free(n);
    }
    while (s->defs) {
        struct def *d = s->defs;
        s->defs = d->next;
        free(d);
    }
    cJSON_Delete(s->doc);
    free(s);
}

int ioc_schema_compile(const char *json, size_t len, struct ioc_schema **out, char *err,
                       size_t errlen)
{
    int rc = IOC_ENOMEM;
    *out = NULL;
    if (err && errlen > 0) {
        err[0] = '\0';
    }
    struct ioc_schema *s = calloc(1, sizeof *s);
    struct comp c = {s, err, errlen};
    if (!s) {
        rc = nomem(&c);
        goto fail;
    }
    const char *end = NULL;
    s->doc = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!s->doc) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        if (err && errlen > 0) {
            snprintf(err, errlen, "schema: invalid JSON at byte %zu", at);
        }
        rc = IOC_EJSON;
        goto fail;
    }
    if (!(s->root = node_new(&c))) {
        rc = nomem(&c);
        goto fail;
    }
    if ((rc = compile_into(&c, s->root, s->doc, NULL)) != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    ioc_schema_destroy(s);
    return rc;
}
