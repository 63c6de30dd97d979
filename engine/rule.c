/*
 * rule.c — loads SOP rule files into a compiled, indexed rule set.
 *
 * Each rule keyword is parsed once here, at load: expressions are compiled,
 * key fields resolved, titles split into templates, grade bands checked. The
 * loader keeps going after an error so an analyst sees every problem of a
 * file at once, each as file:line:column; a set with any error is refused
 * whole. The per-event code (engine.c) only reads what is built here.
 *
 * Index: every rule's `when` is asked which sources and types it can match
 * (ioc_expr_constraint). Candidates for (source, type) are the rules naming
 * that type plus the rules that accept any type, merged once at load in rule
 * order, so an event costs one hash lookup plus the rules that can match it.
 *
 * Threads: a loaded set is immutable.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "ioc/error.h"
#include "ioc/yaml.h"
#include "rule_int.h"

#define ALLOWED_TOP "lists, rules"
#define ALLOWED_RULE                                                                               \
    "id, title, description, category, when, key, count, aggregate, sequence, absent, all, near, " \
    "grade, resolve, inhibits, public_warning, sop, escalation"

static const char *const rule_keys[] = {
    "id",     "title", "description", "category", "when",    "key",      "count",
    "aggregate", "sequence", "absent", "all",     "near",    "grade",    "resolve",
    "inhibits", "public_warning", "sop", "escalation",  NULL};

/* ---- helpers ------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int push(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n < *cap) {
        return 0;
    }
    size_t nc = *cap ? *cap * 2 : 8;
    void *na = realloc(*arr, nc * size);
    if (!na) {
        return IOC_ENOMEM;
    }
    *arr = na;
    *cap = nc;
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM; /* the caller tells this from a missing file */
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expands files and directories (their *.yaml and *.yml, in name order; not
 * recursive, so rules/tests/ is not read as rules). */
static int expand_paths(const char *const *paths, size_t n, char ***files, size_t *nfiles,
                        struct ioc_diag *diag)
{
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            ioc_diag_add(diag, paths[i], 0, 0, "cannot read: %s", strerror(errno));
            rc = IOC_ENOENT;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (push((void **)files, nfiles, &cap, sizeof **files) ||
                !((*files)[(*nfiles)++] = strdup(paths[i]))) {
                return IOC_ENOMEM;
            }
            continue;
        }
        DIR *d = opendir(paths[i]);
        if (!d) {
            ioc_diag_add(diag, paths[i], 0, 0, "cannot open directory: %s", strerror(errno));
            rc = IOC_ENOENT;
            continue;
        }
        size_t first = *nfiles;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' ||
                !(ends_with(de->d_name, ".yaml") || ends_with(de->d_name, ".yml"))) {
                continue;
            }
            size_t len = strlen(paths[i]) + strlen(de->d_name) + 2;
            char *p = malloc(len);
            if (!p || push((void **)files, nfiles, &cap, sizeof **files)) {
                free(p);
                closedir(d);
                return IOC_ENOMEM;
            }
            snprintf(p, len, "%s%s%s", paths[i], ends_with(paths[i], "/") ? "" : "/", de->d_name);
            struct stat fst;
            if (stat(p, &fst) != 0 || !S_ISREG(fst.st_mode)) {
                free(p);
                continue;
            }
            (*files)[(*nfiles)++] = p;
        }
        closedir(d);
        qsort(*files + first, *nfiles - first, sizeof **files, cmp_str);
    }
    return rc;
}

/* ---- loading ------------------------------------------------------------- */

struct loader {
    struct ioc_ruleset *rs;
    size_t cap_rules, cap_lists, cap_items;
    struct ioc_diag *diag;
    struct ioc_map ids; /* id -> "file:line" of its first definition (owned strings) */
};

static const struct ioc_list *lookup_list(void *arg, const char *name, size_t len)
{
    const struct ioc_ruleset *rs = arg;
    for (size_t i = 0; i < rs->n_lists; i++) {
        if (strlen(rs->lists[i].name) == len && memcmp(rs->lists[i].name, name, len) == 0) {
            return &rs->lists[i];
        }
    }
    return NULL;
}

static int load_lists(struct loader *L, const struct ioc_ynode *map)
{
    struct ioc_ruleset *rs = L->rs;
    int bad = 0;
    if (map->kind != IOC_Y_MAP) {
        ioc_diag_at(L->diag, map, "lists: expected a mapping of name: [values]");
        return IOC_ERULE;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct ioc_ynode *k = map->keys[i], *v = map->items[i];
        if (v->kind != IOC_Y_SEQ) {
            ioc_diag_at(L->diag, v, "list '%s': expected a list like [Z03, Z07]", k->str);
            bad = 1;
            continue;
        }
        if (lookup_list(rs, k->str, k->len)) {
            ioc_diag_at(L->diag, k, "list '%s' is defined twice", k->str);
            bad = 1;
            continue;
        }
        /* Items live in one array per list, allocated here; strings borrow
         * from the YAML tree, which the set keeps alive (trees owned below). */
        struct ioc_literal *items = calloc(v->n ? v->n : 1, sizeof *items);
        if (!items || push((void **)&rs->lists, &rs->n_lists, &L->cap_lists, sizeof *rs->lists)) {
            free(items);
            return IOC_ENOMEM;
        }
        size_t ni = 0;
        for (size_t j = 0; j < v->n; j++) {
            const struct ioc_ynode *it = v->items[j];
            if (it->kind != IOC_Y_SCALAR) {
                ioc_diag_at(L->diag, it, "list '%s': items must be strings or numbers", k->str);
                bad = 1;
                continue;
            }
            double num;
            struct ioc_literal *lit = &items[ni++];
            if (ioc_ynode_number(it, &num, NULL) == 0) {
                lit->is_num = true;
                lit->num = num;
            }
            lit->str = strdup(it->str);
            lit->len = it->len;
            if (!lit->str) {
                free(items);
                return IOC_ENOMEM;
            }
        }
        struct ioc_list *l = &rs->lists[rs->n_lists++];
        l->name = strdup(k->str);
        l->items = items;
        l->n = ni;
        if (!l->name) {
            return IOC_ENOMEM;
        }
    }
    return bad ? IOC_ERULE : 0;
}

/* Column of an expression error inside a YAML scalar: plain scalars start at
 * the node, quoted ones one column later. Block scalars cannot be mapped
 * exactly, so they point at the node. */
static int expr_col(const struct ioc_ynode *n, int err_col)
{
    if (n->line <= 0) {
        return 0;
    }
    return n->col + (n->quoted ? 1 : 0) + (err_col > 0 ? err_col - 1 : 0);
}

static int parse_tpl(struct ioc_rule *r, struct ioc_tpl *t, const struct ioc_ynode *n,
                     const char *what, struct ioc_diag *diag)
{
    const char *s = n->str;
    size_t cap = 0;
    int bad = 0;
    while (*s) {
        const char *open = strstr(s, "${");
        size_t lit = open ? (size_t)(open - s) : strlen(s);
        if (lit) {
            if (push((void **)&t->parts, &t->n, &cap, sizeof *t->parts)) {
                return IOC_ENOMEM;
            }
            struct ioc_tpl_part *p = &t->parts[t->n++];
            memset(p, 0, sizeof *p);
            p->kind = IOC_TPL_TEXT;
            p->text = strndup(s, lit);
            p->len = lit;
            if (!p->text) {
                return IOC_ENOMEM;
            }
        }
        if (!open) {
            break;
        }
        const char *close = strchr(open + 2, '}');
        int col = n->col + (n->quoted ? 1 : 0) + (int)(open - n->str);
        if (!close) {
            ioc_diag_add(diag, n->file, n->line, col, "%s: '${' without a closing '}'", what);
            return IOC_ERULE;
        }
        const char *name = open + 2;
        size_t nlen = (size_t)(close - name);
        if (push((void **)&t->parts, &t->n, &cap, sizeof *t->parts)) {
            return IOC_ENOMEM;
        }
        struct ioc_tpl_part *p = &t->parts[t->n];
        memset(p, 0, sizeof *p);
        char aggname[8] = "";
        if (nlen < sizeof aggname) {
            memcpy(aggname, name, nlen);
            aggname[nlen] = 0;
        }
        if (nlen == 5 && memcmp(name, "count", 5) == 0) {
            p->kind = IOC_TPL_COUNT;
            t->n++;
        } else if (ioc_agg_parse(aggname) >= 0 && r->corr.kind == IOC_CORR_AGGREGATE &&
                   (int)r->corr.fn == ioc_agg_parse(aggname)) {
            p->kind = IOC_TPL_AGG;
            t->n++;
        } else if (ioc_fieldref_parse(name, nlen, &p->ref) == 0) {
            p->kind = IOC_TPL_FIELD;
            t->n++;
        } else {
            ioc_diag_add(diag, n->file, n->line, col,
                         "%s: unknown field '%.*s' in ${...} (fields: id, source, type, ts, "
                         "device, zone, value, unit, score, channel, text, loc.lat, loc.lon, "
                         "attrs.NAME, count)",
                         what, (int)nlen, name);
            bad = 1;
        }
        s = close + 1;
    }
    return bad ? IOC_ERULE : 0;
}

static int parse_grade(struct ioc_rule *r, const struct ioc_ynode *n, struct ioc_diag *diag)
{
    long long g;
    if (n->kind == IOC_Y_SCALAR) {
        if (ioc_ynode_int(n, &g, NULL) != 0 || g < 1 || g > 4) {
            ioc_diag_at(diag, n, "grade: expected 1 (most severe) to 4, got '%s'", n->str);
            return IOC_ERULE;
        }
        r->grade.by = IOC_BY_FIXED;
        r->grade.fixed = (int)g;
        return 0;
    }
    if (n->kind != IOC_Y_MAP) {
        ioc_diag_at(diag, n, "grade: expected a number 1..4 or {by: FIELD, bands: [...]}");
        return IOC_ERULE;
    }
    int bad = 0;
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->keys[i]->str;
        if (strcmp(k, "by") != 0 && strcmp(k, "bands") != 0) {
            ioc_diag_at(diag, n->keys[i], "grade: unknown key '%s' (allowed: by, bands)", k);
            bad = 1;
        }
    }
    const struct ioc_ynode *by = ioc_ymap_get(n, "by"), *bands = ioc_ymap_get(n, "bands");
    if (!by || by->kind != IOC_Y_SCALAR) {
        ioc_diag_at(diag, n, "grade: 'by' is required: a field such as value, or count");
        return IOC_ERULE;
    }
    if (strcmp(by->str, "count") == 0) {
        r->grade.by = IOC_BY_COUNT;
    } else if (ioc_agg_parse(by->str) >= 0) {
        if (r->corr.kind != IOC_CORR_AGGREGATE || (int)r->corr.fn != ioc_agg_parse(by->str)) {
            ioc_diag_at(diag, by, "grade: 'by: %s' needs an aggregate clause with fn: %s", by->str,
                        by->str);
            bad = 1;
        }
        r->grade.by = IOC_BY_AGG;
    } else if (ioc_fieldref_parse(by->str, by->len, &r->grade.ref) == 0) {
        r->grade.by = IOC_BY_FIELD;
    } else {
        ioc_diag_at(diag, by, "grade: unknown field '%s' in 'by'", by->str);
        bad = 1;
    }
    if (!bands || bands->kind != IOC_Y_SEQ || bands->n == 0) {
        ioc_diag_at(
            diag, bands ? bands : n,
            "grade: 'bands' must be a list like [{ge: 1.5, grade: 3}, {ge: 2.0, grade: 2}]");
        return IOC_ERULE;
    }
    r->grade.bands = calloc(bands->n, sizeof *r->grade.bands);
    if (!r->grade.bands) {
        return IOC_ENOMEM;
    }
    static const char *const ops[] = {"ge", "gt", "le", "lt"};
    for (size_t i = 0; i < bands->n; i++) {
        const struct ioc_ynode *b = bands->items[i];
        struct ioc_band *band = &r->grade.bands[r->grade.n_bands];
        int have_op = 0, have_grade = 0, ok = 1;
        if (b->kind != IOC_Y_MAP) {
            ioc_diag_at(diag, b, "grade band: expected {ge|gt|le|lt: NUMBER, grade: 1..4}");
            bad = 1;
            continue;
        }
        for (size_t j = 0; j < b->n; j++) {
            const struct ioc_ynode *k = b->keys[j], *v = b->items[j];
            if (strcmp(k->str, "grade") == 0) {
                if (ioc_ynode_int(v, &g, NULL) != 0 || g < 1 || g > 4) {
                    ioc_diag_at(diag, v, "grade: expected 1 (most severe) to 4, got '%s'",
                                v->kind == IOC_Y_SCALAR ? v->str : "a collection");
                    ok = 0;
                } else {
                    band->grade = (int)g;
                }
                have_grade = 1;
                continue;
            }
            int op = -1;
            for (int o = 0; o < 4; o++) {
                if (strcmp(k->str, ops[o]) == 0) {
                    op = o;
                }
            }
            if (op < 0) {
                ioc_diag_at(diag, k,
                            "grade band: unknown key '%s' (allowed: ge, gt, le, lt, grade)",
                            k->str);
                ok = 0;
                continue;
            }
            if (have_op) {
                ioc_diag_at(diag, k, "grade band: use one of ge, gt, le, lt per band");
                ok = 0;
                continue;
            }
            have_op = 1;
            band->op = (enum ioc_band_op)op;
            if (ioc_ynode_number(v, &band->v, diag) != 0) {
                ok = 0;
            }
        }
        if (!have_op || !have_grade) {
            ioc_diag_at(diag, b, "grade band: needs one of ge, gt, le, lt and a grade");
            ok = 0;
        }
        if (ok) {
            r->grade.n_bands++;
        } else {
            bad = 1;
        }
    }
    return bad ? IOC_ERULE : 0;
}

static int check_keys(const struct ioc_ynode *n, const char *what, const char *const *allowed,
                      const char *list, struct ioc_diag *diag);
static int parse_strings(const struct ioc_ynode *n, const char *what, char ***out, size_t *nout,
                         struct ioc_diag *diag);

/* public_warning: {approve: [roles], headline, description?, urgency?,
 * certainty?, language?, radius?}: a CAP 1.2 alert that waits for approval. */
static int parse_warning(struct ioc_rule *r, const struct ioc_ynode *n, struct ioc_diag *diag)
{
    static const char *const keys[] = {"approve", "headline",  "description", "urgency",
                                       "certainty", "language", "radius",     NULL};
    static const char *const urgencies[] = {"Immediate", "Expected", "Future", "Past",
                                            "Unknown", NULL};
    static const char *const certainties[] = {"Observed", "Likely", "Possible", "Unlikely",
                                              "Unknown", NULL};
    int bad = 0, rc;
    if (n->kind != IOC_Y_MAP) {
        ioc_diag_at(diag, n, "public_warning: expected {approve: [roles], headline: ...}");
        return IOC_ERULE;
    }
    bad |= check_keys(n, "public_warning", keys,
                      "approve, headline, description, urgency, certainty, language, radius", diag);
    r->pw.enabled = true;
    const struct ioc_ynode *ap = ioc_ymap_get(n, "approve"), *hl = ioc_ymap_get(n, "headline");
    if (!ap) {
        ioc_diag_at(diag, n, "public_warning: 'approve' lists the roles that may approve it");
        bad = 1;
    } else if ((rc = parse_strings(ap, "approve", &r->pw.approve, &r->pw.n_approve, diag))) {
        if (rc == IOC_ENOMEM) {
            return rc;
        }
        bad = 1;
    }
    if (!hl || hl->kind != IOC_Y_SCALAR) {
        ioc_diag_at(diag, hl ? hl : n, "public_warning: 'headline' is required");
        bad = 1;
    } else if ((rc = parse_tpl(r, &r->pw.headline, hl, "headline", diag))) {
        if (rc == IOC_ENOMEM) {
            return rc;
        }
        bad = 1;
    }
    const struct ioc_ynode *de = ioc_ymap_get(n, "description");
    if (de && (rc = parse_tpl(r, &r->pw.description, de, "description", diag))) {
        if (rc == IOC_ENOMEM) {
            return rc;
        }
        bad = 1;
    }
    static const char *const names[] = {"urgency", "certainty", "language"};
    const char *const *sets[] = {urgencies, certainties, NULL};
    char **slots[] = {&r->pw.urgency, &r->pw.certainty, &r->pw.language};
    const char *defaults[] = {"Immediate", "Likely", "en-US"};
    for (int i = 0; i < 3; i++) {
        const struct ioc_ynode *v = ioc_ymap_get(n, names[i]);
        const char *val = v && v->kind == IOC_Y_SCALAR ? v->str : defaults[i];
        if (v && v->kind != IOC_Y_SCALAR) {
            ioc_diag_at(diag, v, "public_warning: %s: expected a word", names[i]);
            bad = 1;
        }
        if (sets[i]) {
            const char *const *w = sets[i];
            while (*w && strcmp(*w, val) != 0) {
                w++;
            }
            if (!*w) {
                ioc_diag_at(diag, v, "public_warning: %s '%s' is not a CAP 1.2 value", names[i],
                            val);
                bad = 1;
            }
        }
        if (!(*slots[i] = strdup(val))) {
            return IOC_ENOMEM;
        }
    }
    r->pw.radius_km = 1.0;
    const struct ioc_ynode *ra = ioc_ymap_get(n, "radius");
    if (ra && (ioc_ynode_number(ra, &r->pw.radius_km, diag) != 0 || r->pw.radius_km <= 0)) {
        bad = 1;
    }
    return bad ? IOC_ERULE : 0;
}

/* Checks a clause mapping's keys against the allowed ones. */
static int check_keys(const struct ioc_ynode *n, const char *what, const char *const *allowed,
                      const char *list, struct ioc_diag *diag)
{
    int bad = 0;
    for (size_t i = 0; i < n->n; i++) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, n->keys[i]->str) != 0) {
            a++;
        }
        if (!*a) {
            ioc_diag_at(diag, n->keys[i], "%s: unknown key '%s' (allowed: %s)", what,
                        n->keys[i]->str, list);
            bad = 1;
        }
    }
    return bad;
}

static int parse_window(const struct ioc_ynode *n, const char *what, int64_t *out,
                        struct ioc_diag *diag)
{
    const struct ioc_ynode *w = ioc_ymap_get(n, "window");
    long long ms;
    if (!w) {
        ioc_diag_at(diag, n, "%s: 'window' is required, e.g. window: 30m", what);
        return IOC_ERULE;
    }
    if (ioc_ynode_duration(w, &ms, diag) != 0) {
        return IOC_ERULE;
    }
    if (ms <= 0) {
        ioc_diag_at(diag, w, "%s: the window must be longer than zero", what);
        return IOC_ERULE;
    }
    *out = ms;
    return 0;
}


/* Compiles an expression scalar, reporting errors at their column. */
static int compile_expr(const struct ioc_ruleset *rs, const struct ioc_ynode *n, const char *what,
                        struct ioc_expr **out, struct ioc_diag *diag)
{
    if (n->kind != IOC_Y_SCALAR) {
        ioc_diag_at(diag, n, "%s: expected an expression", what);
        return IOC_ERULE;
    }
    struct ioc_expr_env env = {lookup_list, (void *)rs};
    char err[256];
    int col = 0;
    int rc = ioc_expr_compile(n->str, &env, out, &col, err, sizeof err);
    if (rc == IOC_ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        ioc_diag_add(diag, n->file, n->line, expr_col(n, col), "%s: %s", what, err);
        return IOC_ERULE;
    }
    return 0;
}

/* sequence: {within, steps: [{when}, ...]}, two or more steps in order. */
static int parse_sequence(struct ioc_rule *r, const struct ioc_ruleset *rs,
                          const struct ioc_ynode *sq, struct ioc_diag *diag)
{
    static const char *const keys[] = {"within", "steps", NULL};
    int bad = 0;
    r->corr.kind = IOC_CORR_SEQUENCE;
    if (sq->kind != IOC_Y_MAP) {
        ioc_diag_at(diag, sq, "sequence: expected {within: 10m, steps: [{when: ...}, ...]}");
        return IOC_ERULE;
    }
    bad |= check_keys(sq, "sequence", keys, "within, steps", diag);
    const struct ioc_ynode *w = ioc_ymap_get(sq, "within"), *st = ioc_ymap_get(sq, "steps");
    long long ms = 0;
    if (!w) {
        ioc_diag_at(diag, sq, "sequence: 'within' is required, e.g. within: 10m");
        bad = 1;
    } else if (ioc_ynode_duration(w, &ms, diag) != 0) {
        bad = 1;
    } else if (ms <= 0) {
        ioc_diag_at(diag, w, "sequence: 'within' must be longer than zero");
        bad = 1;
    }
    r->corr.window_ms = ms;
    if (!st || st->kind != IOC_Y_SEQ || st->n < 2) {
        ioc_diag_at(diag, st ? st : sq, "sequence: 'steps' must list two or more {when: ...}");
        return IOC_ERULE;
    }
    r->steps = calloc(st->n, sizeof *r->steps);
    if (!r->steps) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < st->n; i++) {
        const struct ioc_ynode *step = st->items[i];
        static const char *const skeys[] = {"when", NULL};
        const struct ioc_ynode *wn = ioc_ymap_get(step, "when");
        if (step->kind != IOC_Y_MAP || !wn) {
            ioc_diag_at(diag, step, "sequence step: expected {when: EXPRESSION}");
            bad = 1;
            continue;
        }
        bad |= check_keys(step, "sequence step", skeys, "when", diag);
        int rc = compile_expr(rs, wn, "when", &r->steps[r->n_steps].when, diag);
        if (rc == IOC_ENOMEM) {
            return rc;
        }
        if (rc == 0) {
            r->n_steps++;
        } else {
            bad = 1;
        }
    }
    return bad ? IOC_ERULE : 0;
}

/* "500m", "1.5km", or a bare number of metres. */
static int parse_distance(const struct ioc_ynode *n, double *out, struct ioc_diag *diag)
{
    char *end = NULL;
    double v = n->kind == IOC_Y_SCALAR ? strtod(n->str, &end) : -1;
    double mul = 0;
    if (end && end != n->str) {
        if (!*end || strcmp(end, "m") == 0) {
            mul = 1;
        } else if (strcmp(end, "km") == 0) {
            mul = 1000;
        }
    }
    if (mul == 0 || v <= 0) {
        ioc_diag_at(diag, n, "near: expected a distance like 500m or 1.5km");
        return IOC_ERULE;
    }
    *out = v * mul;
    return 0;
}

/* all: {within, of: [member, ...]} where a member is {when, count} or
 * {incident: RULE, grade: {le: 2}}; near: DISTANCE beside it. */
static int parse_all(struct ioc_rule *r, const struct ioc_ruleset *rs, const struct ioc_ynode *m,
                     const struct ioc_ynode *al, struct ioc_diag *diag)
{
    static const char *const keys[] = {"within", "of", NULL};
    static const char *const mkeys[] = {"when", "count", "incident", "grade", NULL};
    int bad = 0;
    long long ms = 0;
    r->corr.kind = IOC_CORR_ALL;
    if (al->kind != IOC_Y_MAP) {
        ioc_diag_at(diag, al, "all: expected {within: 1h, of: [members]}");
        return IOC_ERULE;
    }
    bad |= check_keys(al, "all", keys, "within, of", diag);
    const struct ioc_ynode *w = ioc_ymap_get(al, "within"), *of = ioc_ymap_get(al, "of");
    if (!w) {
        ioc_diag_at(diag, al, "all: 'within' is required, e.g. within: 1h");
        bad = 1;
    } else if (ioc_ynode_duration(w, &ms, diag) != 0) {
        bad = 1;
    } else if (ms <= 0) {
        ioc_diag_at(diag, w, "all: 'within' must be longer than zero");
        bad = 1;
    }
    r->corr.window_ms = ms;
    const struct ioc_ynode *nr = ioc_ymap_get(m, "near");
    if (nr && parse_distance(nr, &r->near_m, diag) != 0) {
        bad = 1;
    }
    if (!of || of->kind != IOC_Y_SEQ || of->n < 2) {
        ioc_diag_at(diag, of ? of : al, "all: 'of' must list two or more members");
        return IOC_ERULE;
    }
    if (!(r->members = calloc(of->n, sizeof *r->members))) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < of->n; i++) {
        const struct ioc_ynode *mb = of->items[i];
        struct ioc_member *mm = &r->members[r->n_members];
        if (mb->kind != IOC_Y_MAP) {
            ioc_diag_at(diag, mb, "all member: expected {when: ..., count: N} or {incident: RULE}");
            bad = 1;
            continue;
        }
        bad |= check_keys(mb, "all member", mkeys, "when, count, incident, grade", diag);
        const struct ioc_ynode *wn = ioc_ymap_get(mb, "when"), *in = ioc_ymap_get(mb, "incident");
        if (!!wn == !!in) {
            ioc_diag_at(diag, mb, "all member: give either 'when' or 'incident'");
            bad = 1;
            continue;
        }
        mm->count = 1;
        if (wn) {
            int rc = compile_expr(rs, wn, "when", &mm->when, diag);
            if (rc == IOC_ENOMEM) {
                return rc;
            }
            const struct ioc_ynode *c = ioc_ymap_get(mb, "count");
            long long v;
            if (c && ioc_ynode_int(c, &v, diag) != 0) {
                rc = IOC_ERULE;
            } else if (c && v < 1) {
                ioc_diag_at(diag, c, "all member: count must be at least 1");
                rc = IOC_ERULE;
            } else if (c) {
                mm->count = v;
            }
            if (ioc_ymap_get(mb, "grade")) {
                ioc_diag_at(diag, ioc_ymap_key(mb, "grade"),
                            "all member: 'grade' bounds an incident member only");
                rc = IOC_ERULE;
            }
            if (rc) {
                /* Not counted in n_members, so the rule's free would not see it. */
                ioc_expr_free(mm->when);
                mm->when = NULL;
                bad = 1;
                continue;
            }
        } else {
            if (in->kind != IOC_Y_SCALAR || !(mm->incident.id = strdup(in->str))) {
                ioc_diag_at(diag, in, "all member: 'incident' names a rule id");
                bad = 1;
                continue;
            }
            mm->is_incident = true;
            mm->incident.line = in->line;
            mm->incident.col = in->col;
            const struct ioc_ynode *g = ioc_ymap_get(mb, "grade");
            if (g) {
                static const char *const ops[] = {"ge", "gt", "le", "lt"};
                long long gv;
                if (g->kind != IOC_Y_MAP || g->n != 1) {
                    ioc_diag_at(diag, g, "all member: grade bound is one of {le: 2}, {lt: 3}, ...");
                    bad = 1;
                } else {
                    int op = -1;
                    for (int o = 0; o < 4; o++) {
                        op = strcmp(g->keys[0]->str, ops[o]) == 0 ? o : op;
                    }
                    if (op < 0 || ioc_ynode_int(g->items[0], &gv, diag) != 0 || gv < 1 || gv > 4) {
                        ioc_diag_at(diag, g, "all member: grade bound is one of {le: 2}, {lt: 3}, ...");
                        bad = 1;
                    } else {
                        mm->has_bound = true;
                        mm->bound.op = (enum ioc_band_op)op;
                        mm->bound.v = (double)gv;
                    }
                }
            }
        }
        r->n_members++;
    }
    if (r->near_m > 0 && r->n_members > 16) {
        ioc_diag_at(diag, of, "all: with near, at most 16 members");
        bad = 1;
    }
    return bad ? IOC_ERULE : 0;
}

/* resolve: {quiet: 30m} or {when: EXPRESSION, for: 20m}. */
static int parse_resolve(struct ioc_rule *r, const struct ioc_ruleset *rs,
                         const struct ioc_ynode *n, struct ioc_diag *diag)
{
    static const char *const keys[] = {"quiet", "when", "for", NULL};
    long long ms;
    int bad = 0;
    if (n->kind != IOC_Y_MAP) {
        ioc_diag_at(diag, n, "resolve: expected {quiet: 30m} or {when: \"value < 1.2\", for: 20m}");
        return IOC_ERULE;
    }
    bad |= check_keys(n, "resolve", keys, "quiet, when, for", diag);
    const struct ioc_ynode *q = ioc_ymap_get(n, "quiet"), *w = ioc_ymap_get(n, "when"),
                           *f = ioc_ymap_get(n, "for");
    if (q && (w || f)) {
        ioc_diag_at(diag, n, "resolve: use either quiet or when + for, not both");
        return IOC_ERULE;
    }
    if (q) {
        if (ioc_ynode_duration(q, &ms, diag) != 0) {
            return IOC_ERULE;
        }
        if (ms <= 0) {
            ioc_diag_at(diag, q, "resolve: 'quiet' must be longer than zero");
            return IOC_ERULE;
        }
        r->resolve_quiet_ms = ms;
        return bad ? IOC_ERULE : 0;
    }
    if (!w) {
        ioc_diag_at(diag, n, "resolve: needs quiet, or when + for");
        return IOC_ERULE;
    }
    int rc = compile_expr(rs, w, "resolve.when", &r->resolve_when, diag);
    if (rc) {
        return rc;
    }
    if (f) {
        if (ioc_ynode_duration(f, &ms, diag) != 0 || ms < 0) {
            return IOC_ERULE;
        }
        r->resolve_for_ms = ms;
    }
    return bad ? IOC_ERULE : 0;
}

/* count: {window, min, distinct} or aggregate: {fn, field, window}. */
static int parse_corr(struct ioc_rule *r, const struct ioc_ruleset *rs, const struct ioc_ynode *m,
                      struct ioc_diag *diag)
{
    const struct ioc_ynode *c = ioc_ymap_get(m, "count"), *a = ioc_ymap_get(m, "aggregate");
    const struct ioc_ynode *sq = ioc_ymap_get(m, "sequence"), *ab = ioc_ymap_get(m, "absent");
    static const char *const clauses[] = {"count", "aggregate", "sequence", "absent", "all"};
    int bad = 0, given = 0;
    /* In file order, so the clause reported is the second one written. */
    for (size_t k = 0; k < m->n; k++) {
        for (int i = 0; i < 5; i++) {
            if (strcmp(m->keys[k]->str, clauses[i]) == 0 && ++given > 1) {
                ioc_diag_at(diag, m->keys[k],
                            "a rule has at most one correlation clause (count, aggregate, "
                            "sequence, absent, all); '%s' is a second one",
                            clauses[i]);
                return IOC_ERULE;
            }
        }
    }
    if (sq) {
        return parse_sequence(r, rs, sq, diag);
    }
    if (ioc_ymap_get(m, "all")) {
        return parse_all(r, rs, m, ioc_ymap_get(m, "all"), diag);
    }
    if (ioc_ymap_get(m, "near")) {
        ioc_diag_at(diag, ioc_ymap_key(m, "near"), "near: only with an 'all' clause");
        return IOC_ERULE;
    }
    if (ab) {
        static const char *const keys[] = {"for", NULL};
        const struct ioc_ynode *f = ioc_ymap_get(ab, "for");
        long long ms;
        r->corr.kind = IOC_CORR_ABSENT;
        if (ab->kind != IOC_Y_MAP || !f) {
            ioc_diag_at(diag, ab, "absent: expected {for: 15m}");
            return IOC_ERULE;
        }
        bad |= check_keys(ab, "absent", keys, "for", diag);
        if (ioc_ynode_duration(f, &ms, diag) != 0) {
            return IOC_ERULE;
        }
        if (ms <= 0) {
            ioc_diag_at(diag, f, "absent: 'for' must be longer than zero");
            return IOC_ERULE;
        }
        r->corr.window_ms = ms;
        return bad ? IOC_ERULE : 0;
    }
    if (c) {
        static const char *const keys[] = {"window", "min", "distinct", NULL};
        if (c->kind != IOC_Y_MAP) {
            ioc_diag_at(diag, c,
                        "count: expected {window: 30m, min: 5} (distinct: FIELD optional)");
            return IOC_ERULE;
        }
        r->corr.kind = IOC_CORR_COUNT;
        r->corr.min = 1;
        bad |= check_keys(c, "count", keys, "window, min, distinct", diag);
        bad |= parse_window(c, "count", &r->corr.window_ms, diag) != 0;
        const struct ioc_ynode *n = ioc_ymap_get(c, "min");
        long long v;
        if (n) {
            if (ioc_ynode_int(n, &v, diag) != 0) {
                bad = 1;
            } else if (v < 1) {
                ioc_diag_at(diag, n, "count: min must be at least 1");
                bad = 1;
            } else {
                r->corr.min = v;
            }
        }
        if ((n = ioc_ymap_get(c, "distinct"))) {
            if (n->kind != IOC_Y_SCALAR ||
                ioc_fieldref_parse(n->str, n->len, &r->corr.distinct) != 0) {
                ioc_diag_at(diag, n, "count: distinct: unknown field '%s'",
                            n->kind == IOC_Y_SCALAR ? n->str : "?");
                bad = 1;
            } else {
                r->corr.has_distinct = true;
            }
        }
    } else if (a) {
        static const char *const keys[] = {"fn", "field", "window", NULL};
        if (a->kind != IOC_Y_MAP) {
            ioc_diag_at(diag, a, "aggregate: expected {fn: avg|min|max|sum|rate, field, window}");
            return IOC_ERULE;
        }
        r->corr.kind = IOC_CORR_AGGREGATE;
        bad |= check_keys(a, "aggregate", keys, "fn, field, window", diag);
        bad |= parse_window(a, "aggregate", &r->corr.window_ms, diag) != 0;
        const struct ioc_ynode *fn = ioc_ymap_get(a, "fn"), *f = ioc_ymap_get(a, "field");
        int k = fn && fn->kind == IOC_Y_SCALAR ? ioc_agg_parse(fn->str) : -1;
        if (k < 0) {
            ioc_diag_at(diag, fn ? fn : a,
                        "aggregate: 'fn' must be one of avg, min, max, sum, rate, got '%s'",
                        fn && fn->kind == IOC_Y_SCALAR ? fn->str : "nothing");
            bad = 1;
        } else {
            r->corr.fn = (enum ioc_agg_fn)k;
        }
        if (!f || f->kind != IOC_Y_SCALAR ||
            ioc_fieldref_parse(f->str, f->len, &r->corr.field) != 0) {
            ioc_diag_at(diag, f ? f : a, "aggregate: 'field' must name a number field, e.g. value");
            bad = 1;
        }
    }
    return bad ? IOC_ERULE : 0;
}

static int parse_strings(const struct ioc_ynode *n, const char *what, char ***out, size_t *nout,
                         struct ioc_diag *diag)
{
    if (n->kind == IOC_Y_SCALAR) {
        *out = calloc(1, sizeof **out);
        if (!*out || !((*out)[0] = strdup(n->str))) {
            return IOC_ENOMEM;
        }
        *nout = 1;
        return 0;
    }
    if (n->kind != IOC_Y_SEQ) {
        ioc_diag_at(diag, n, "%s: expected a list of strings", what);
        return IOC_ERULE;
    }
    *out = calloc(n->n ? n->n : 1, sizeof **out);
    if (!*out) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->items[i]->kind != IOC_Y_SCALAR) {
            ioc_diag_at(diag, n->items[i], "%s: expected a string, got %s", what,
                        ioc_ykind_name(n->items[i]->kind));
            return IOC_ERULE;
        }
        if (!((*out)[(*nout)++] = strdup(n->items[i]->str))) {
            return IOC_ENOMEM;
        }
    }
    return 0;
}

static int valid_id(const char *s)
{
    if (!*s || *s == '.') {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == '-' ||
              (*p == '.' && p[1] && p[1] != '.'))) {
            return 0;
        }
    }
    return 1;
}

/* Hashes a definition's content (kinds, keys, scalars), not its position,
 * so moving a rule within its file does not count as a change. */
static uint64_t node_hash(const struct ioc_ynode *n, uint64_t h)
{
    h = (h ^ (uint64_t)n->kind) * 1099511628211ULL;
    if (n->kind == IOC_Y_SCALAR) {
        for (size_t i = 0; i < n->len; i++) {
            h = (h ^ (unsigned char)n->str[i]) * 1099511628211ULL;
        }
        return (h ^ 0xff) * 1099511628211ULL;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == IOC_Y_MAP) {
            h = node_hash(n->keys[i], h);
        }
        h = node_hash(n->items[i], h);
    }
    return h;
}

static void tpl_close(struct ioc_tpl *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->parts[i].text);
        ioc_fieldref_close(&t->parts[i].ref);
    }
    free(t->parts);
    memset(t, 0, sizeof *t);
}

static void rule_close(struct ioc_rule *r)
{
    free(r->id);
    free(r->file);
    free(r->category);
    tpl_close(&r->title);
    tpl_close(&r->pw.headline);
    tpl_close(&r->pw.description);
    for (size_t i = 0; i < r->pw.n_approve; i++) {
        free(r->pw.approve[i]);
    }
    free(r->pw.approve);
    free(r->pw.urgency);
    free(r->pw.certainty);
    free(r->pw.language);
    ioc_expr_free(r->when);
    for (size_t i = 0; i < r->n_keys; i++) {
        ioc_fieldref_close(&r->keys[i]);
        free(r->key_names[i]);
    }
    free(r->keys);
    free(r->key_names);
    ioc_fieldref_close(&r->grade.ref);
    free(r->grade.bands);
    ioc_fieldref_close(&r->corr.distinct);
    ioc_fieldref_close(&r->corr.field);
    for (size_t i = 0; i < r->n_steps; i++) {
        ioc_expr_free(r->steps[i].when);
    }
    free(r->steps);
    for (size_t i = 0; i < r->n_members; i++) {
        ioc_expr_free(r->members[i].when);
        free(r->members[i].incident.id);
    }
    free(r->members);
    free(r->feeds);
    ioc_expr_free(r->resolve_when);
    for (size_t i = 0; i < r->n_inhibits; i++) {
        free(r->inhibits[i].id);
    }
    free(r->inhibits);
    for (size_t i = 0; i < r->n_sop; i++) {
        free(r->sop[i]);
    }
    free(r->sop);
    free(r->escalation);
}

static int load_rule(struct loader *L, const struct ioc_ynode *m)
{
    struct ioc_diag *diag = L->diag;
    struct ioc_rule r;
    memset(&r, 0, sizeof r);
    int bad = 0, rc = 0;
    if (m->kind != IOC_Y_MAP) {
        ioc_diag_at(diag, m, "rules: each rule is a mapping with id, when, key, grade ...");
        return IOC_ERULE;
    }
    for (size_t i = 0; i < m->n; i++) {
        const char *const *k = rule_keys;
        while (*k && strcmp(*k, m->keys[i]->str) != 0) {
            k++;
        }
        if (!*k) {
            ioc_diag_at(diag, m->keys[i], "unknown key '%s' in rule (allowed: " ALLOWED_RULE ")",
                        m->keys[i]->str);
            bad = 1;
        }
    }
    const struct ioc_ynode *n;
    r.file = xstrdup(m->file);
    r.line = m->line;
    if (!r.file) {
        return IOC_ENOMEM;
    }
    if (!(n = ioc_ymap_get(m, "id")) || n->kind != IOC_Y_SCALAR) {
        ioc_diag_at(diag, n ? n : m, "rule: 'id' is required, e.g. id: flood.level");
        bad = 1;
    } else if (!valid_id(n->str)) {
        ioc_diag_at(diag, n, "rule id '%s': use lower-case words joined by dots, e.g. flood.level",
                    n->str);
        bad = 1;
    } else {
        char *prev = ioc_map_get(&L->ids, n->str, n->len);
        if (prev) {
            ioc_diag_at(diag, n, "duplicate rule id '%s' (first defined at %s)", n->str, prev);
            bad = 1;
        } else {
            char where[512];
            snprintf(where, sizeof where, "%s:%d:%d", n->file, n->line, n->col);
            char *w = strdup(where);
            if (!w || ioc_map_put(&L->ids, n->str, n->len, w)) {
                free(w);
                rc = IOC_ENOMEM;
                goto out;
            }
        }
        if (!(r.id = strdup(n->str))) {
            rc = IOC_ENOMEM;
            goto out;
        }
    }
    if ((rc = parse_corr(&r, L->rs, m, diag)) == IOC_ENOMEM) {
        goto out;
    } else if (rc) {
        bad = 1;
    }
    rc = 0;
    if ((n = ioc_ymap_get(m, "title"))) {
        if (n->kind != IOC_Y_SCALAR) {
            ioc_diag_at(diag, n, "title: expected a string");
            bad = 1;
        } else if ((rc = parse_tpl(&r, &r.title, n, "title", diag)) == IOC_ENOMEM) {
            goto out;
        } else if (rc) {
            bad = 1;
        }
    } else if (r.id) {
        struct ioc_ynode fake = {.kind = IOC_Y_SCALAR, .str = r.id, .len = strlen(r.id)};
        if ((rc = parse_tpl(&r, &r.title, &fake, "title", diag)) != 0) {
            goto out;
        }
    }
    rc = 0;
    if ((n = ioc_ymap_get(m, "category"))) {
        if (n->kind != IOC_Y_SCALAR) {
            ioc_diag_at(diag, n, "category: expected a CAP category such as Met, Infra, Fire");
            bad = 1;
        } else if (!(r.category = strdup(n->str))) {
            rc = IOC_ENOMEM;
            goto out;
        }
    }
    if (!(n = ioc_ymap_get(m, "when"))) {
        /* A sequence's steps say which events they take. */
        if (r.corr.kind != IOC_CORR_SEQUENCE && r.corr.kind != IOC_CORR_ALL) {
            ioc_diag_at(diag, m,
                        "rule%s%s: 'when' is required, e.g. when: source == \"sensor\"",
                        r.id ? " " : "", r.id ? r.id : "");
            bad = 1;
        }
    } else if ((rc = compile_expr(L->rs, n, "when", &r.when, diag)) == IOC_ENOMEM) {
        goto out;
    } else if (rc) {
        bad = 1;
    }
    rc = 0;
    if ((n = ioc_ymap_get(m, "resolve"))) {
        if ((rc = parse_resolve(&r, L->rs, n, diag)) == IOC_ENOMEM) {
            goto out;
        }
        bad |= rc != 0;
        rc = 0;
    }
    if ((n = ioc_ymap_get(m, "inhibits"))) {
        size_t cnt = n->kind == IOC_Y_SEQ ? n->n : 1;
        if (n->kind == IOC_Y_MAP || !(r.inhibits = calloc(cnt, sizeof *r.inhibits))) {
            if (n->kind == IOC_Y_MAP) {
                ioc_diag_at(diag, n, "inhibits: expected a list of rule ids");
                bad = 1;
            } else {
                rc = IOC_ENOMEM;
                goto out;
            }
        }
        for (size_t i = 0; r.inhibits && i < cnt; i++) {
            const struct ioc_ynode *it = n->kind == IOC_Y_SEQ ? n->items[i] : n;
            if (it->kind != IOC_Y_SCALAR) {
                ioc_diag_at(diag, it, "inhibits: expected a rule id");
                bad = 1;
                continue;
            }
            struct ioc_rule_ref *ref = &r.inhibits[r.n_inhibits++];
            ref->line = it->line;
            ref->col = it->col;
            if (!(ref->id = strdup(it->str))) {
                rc = IOC_ENOMEM;
                goto out;
            }
        }
    }
    if ((n = ioc_ymap_get(m, "key"))) {
        char **names = NULL;
        size_t nn = 0;
        rc = parse_strings(n, "key", &names, &nn, diag);
        r.key_names = names;
        if (rc == IOC_ENOMEM) {
            r.n_keys = nn;
            goto out;
        }
        r.keys = calloc(nn ? nn : 1, sizeof *r.keys);
        if (!r.keys) {
            r.n_keys = nn;
            rc = IOC_ENOMEM;
            goto out;
        }
        r.n_keys = nn;
        for (size_t i = 0; i < nn; i++) {
            if (ioc_fieldref_parse(names[i], strlen(names[i]), &r.keys[i]) != 0) {
                const struct ioc_ynode *at = n->kind == IOC_Y_SEQ ? n->items[i] : n;
                ioc_diag_at(diag, at, "key: unknown field '%s'", names[i]);
                bad = 1;
            }
        }
        if (rc) {
            bad = 1;
        }
        rc = 0;
    }
    if (!(n = ioc_ymap_get(m, "grade"))) {
        ioc_diag_at(diag, m, "rule%s%s: 'grade' is required: 1..4 or {by, bands}", r.id ? " " : "",
                    r.id ? r.id : "");
        bad = 1;
    } else if ((rc = parse_grade(&r, n, diag)) == IOC_ENOMEM) {
        goto out;
    } else if (rc) {
        bad = 1;
    }
    rc = 0;
    if ((n = ioc_ymap_get(m, "sop"))) {
        if ((rc = parse_strings(n, "sop", &r.sop, &r.n_sop, diag)) == IOC_ENOMEM) {
            goto out;
        }
        bad |= rc != 0;
        rc = 0;
    }
    if ((n = ioc_ymap_get(m, "public_warning"))) {
        if ((rc = parse_warning(&r, n, diag)) == IOC_ENOMEM) {
            goto out;
        }
        bad |= rc != 0;
        rc = 0;
    }
    if ((n = ioc_ymap_get(m, "escalation"))) {
        if (n->kind != IOC_Y_SCALAR) {
            ioc_diag_at(diag, n, "escalation: expected the name of a policy");
            bad = 1;
        } else if (!(r.escalation = strdup(n->str))) {
            rc = IOC_ENOMEM;
            goto out;
        }
    }
    if (bad) {
        rc = IOC_ERULE;
        goto out;
    }
    if (push((void **)&L->rs->rules, &L->rs->n, &L->cap_rules, sizeof *L->rs->rules)) {
        rc = IOC_ENOMEM;
        goto out;
    }
    r.index = (uint32_t)L->rs->n;
    r.def_hash = node_hash(m, 1469598103934665603ULL);
    L->rs->rules[L->rs->n++] = r;
    return 0;
out:
    rule_close(&r);
    return rc;
}

/* First pass over a file: its top-level keys and its lists, so that every
 * list of the set is known before any rule of any file is compiled. */
static int load_doc_lists(struct loader *L, const struct ioc_ynode *root)
{
    int bad = 0, rc;
    if (root->kind != IOC_Y_MAP) {
        ioc_diag_at(L->diag, root,
                    "a rule file is a mapping with 'rules:' (and optional 'lists:')");
        return IOC_ERULE;
    }
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->str;
        if (strcmp(k, "lists") != 0 && strcmp(k, "rules") != 0) {
            ioc_diag_at(L->diag, root->keys[i], "unknown key '%s' (allowed: " ALLOWED_TOP ")", k);
            bad = 1;
        }
    }
    const struct ioc_ynode *n;
    if ((n = ioc_ymap_get(root, "lists")) && (rc = load_lists(L, n)) != 0) {
        if (rc == IOC_ENOMEM) {
            return rc;
        }
        bad = 1;
    }
    return bad ? IOC_ERULE : 0;
}

/* Second pass: the rules of a file. */
static int load_doc(struct loader *L, const struct ioc_ynode *root)
{
    int bad = 0, rc;
    const struct ioc_ynode *n;
    if (root->kind != IOC_Y_MAP) {
        return IOC_ERULE; /* reported by the first pass */
    }
    if (!(n = ioc_ymap_get(root, "rules"))) {
        ioc_diag_at(L->diag, root, "a rule file needs 'rules:', a list of rules");
        return IOC_ERULE;
    }
    if (n->kind != IOC_Y_SEQ) {
        ioc_diag_at(L->diag, n, "rules: expected a list of rules");
        return IOC_ERULE;
    }
    for (size_t i = 0; i < n->n; i++) {
        if ((rc = load_rule(L, n->items[i])) == IOC_ENOMEM) {
            return rc;
        }
        bad |= rc != 0;
    }
    return bad ? IOC_ERULE : 0;
}

/* ---- index ---------------------------------------------------------------- */

static int list_add(struct ioc_rule_list *l, uint32_t idx)
{
    uint32_t *n = realloc(l->idx, (l->n + 1) * sizeof *n);
    if (!n) {
        return IOC_ENOMEM;
    }
    l->idx = n;
    l->idx[l->n++] = idx;
    return 0;
}

/* Adds rule r to the lists of the sources and types expression x can match. */
static int index_expr(struct ioc_ruleset *rs, const struct ioc_rule *r, const struct ioc_expr *x)
{
    const char *const *srcs = NULL, *const *types = NULL;
    size_t ns = 0, nt = 0;
    bool src_known = x && ioc_expr_constraint(x, IOC_F_SOURCE, &srcs, &ns);
    bool type_known = x && ioc_expr_constraint(x, IOC_F_TYPE, &types, &nt);
    for (int s = 0; s < IOC_SRC__COUNT; s++) {
        if (src_known) {
            bool hit = false;
            for (size_t j = 0; j < ns; j++) {
                hit |= strcmp(srcs[j], ioc_source_name((enum ioc_source)s)) == 0;
            }
            if (!hit) {
                continue;
            }
        }
        if (!type_known) {
            struct ioc_rule_list *any = &rs->any_type[s];
            if ((any->n == 0 || any->idx[any->n - 1] != r->index) && list_add(any, r->index)) {
                return IOC_ENOMEM;
            }
            continue;
        }
        for (size_t j = 0; j < nt; j++) {
            struct ioc_rule_list *l = ioc_map_get(&rs->by_type[s], types[j], strlen(types[j]));
            if (!l) {
                if (!(l = calloc(1, sizeof *l)) ||
                    ioc_map_put(&rs->by_type[s], types[j], strlen(types[j]), l)) {
                    free(l);
                    return IOC_ENOMEM;
                }
            }
            if (l->n == 0 || l->idx[l->n - 1] != r->index) {
                if (list_add(l, r->index)) {
                    return IOC_ENOMEM;
                }
            }
        }
    }
    return 0;
}

static int inhibitors_first(const struct ioc_ruleset *rs, struct ioc_rule_list *l);
static int guards_for_all(struct ioc_ruleset *rs);

static int build_index(struct ioc_ruleset *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        struct ioc_rule *r = &rs->rules[i];
        int rc = 0;
        /* A rule is a candidate wherever its `when` can match, or, without
         * one, wherever any of its steps or members can. */
        if (r->when) {
            rc = index_expr(rs, r, r->when);
        } else {
            for (size_t j = 0; j < r->n_steps && !rc; j++) {
                rc = index_expr(rs, r, r->steps[j].when);
            }
            for (size_t j = 0; j < r->n_members && !rc; j++) {
                if (r->members[j].when) {
                    rc = index_expr(rs, r, r->members[j].when);
                }
            }
        }
        if (rc) {
            return rc;
        }
    }
    /* Merge the any-type rules into each typed list, keeping rule order. */
    for (int s = 0; s < IOC_SRC__COUNT; s++) {
        const struct ioc_rule_list *any = &rs->any_type[s];
        void *val;
        for (size_t it = 0; ioc_map_next(&rs->by_type[s], &it, NULL, NULL, &val);) {
            struct ioc_rule_list *l = val;
            uint32_t *merged = malloc((l->n + any->n) * sizeof *merged);
            if (!merged) {
                return IOC_ENOMEM;
            }
            size_t a = 0, b = 0, k = 0;
            while (a < l->n || b < any->n) {
                uint32_t next;
                if (b >= any->n || (a < l->n && l->idx[a] < any->idx[b])) {
                    next = l->idx[a++];
                } else {
                    next = any->idx[b++];
                }
                /* A rule indexed both by type and for any type appears once. */
                if (k == 0 || merged[k - 1] != next) {
                    merged[k++] = next;
                }
            }
            free(l->idx);
            l->idx = merged;
            l->n = k;
            if (inhibitors_first(rs, l)) {
                return IOC_ENOMEM;
            }
        }
        if (inhibitors_first(rs, &rs->any_type[s])) {
            return IOC_ENOMEM;
        }
    }
    return guards_for_all(rs);
}

/* Rules that inhibit others go first in every candidate list, so an event
 * that opens an inhibiting incident quiets the lower rules it also matches. */
static int inhibitors_first(const struct ioc_ruleset *rs, struct ioc_rule_list *l)
{
    if (l->n == 0) {
        return 0;
    }
    uint32_t *tmp = malloc((l->n ? l->n : 1) * sizeof *tmp);
    if (!tmp) {
        return IOC_ENOMEM;
    }
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < l->n; i++) {
            int inhibits = rs->rules[l->idx[i]].n_inhibits > 0;
            if (inhibits == (pass == 0)) {
                tmp[k++] = l->idx[i];
            }
        }
    }
    memcpy(l->idx, tmp, l->n * sizeof *tmp);
    free(tmp);
    return 0;
}

/* ---- guards: many rules of one type decided together ---------------------- */

/* Fewer rules than this sharing a guard are cheaper visited one by one. */
#define GUARD_MIN 4

static enum guard_kind guard_kind(const struct ioc_expr_guard *g)
{
    if (g->is_str) {
        return GUARD_STR_EQ;
    }
    switch (g->op) {
    case IOC_GUARD_GT:
    case IOC_GUARD_GE:
        return GUARD_ABOVE;
    case IOC_GUARD_LT:
    case IOC_GUARD_LE:
        return GUARD_BELOW;
    case IOC_GUARD_EQ:
        break;
    }
    return GUARD_NUM_EQ;
}

static bool same_field(const struct ioc_fieldref *a, const struct ioc_fieldref *b)
{
    return a->f == b->f && (a->f != IOC_F_ATTR || strcmp(a->path, b->path) == 0);
}

/* How entry x's literal stands to a value (num, or str/len for STR_EQ) in
 * the order a group is kept in: ascending, or descending for BELOW, so the
 * entries a value passes are a prefix (ABOVE, BELOW) or a run of equal
 * literals (the EQ kinds). */
static int literal_order(const struct guard_entry *x, double num, const char *str, size_t len,
                         enum guard_kind k)
{
    int c;
    if (k == GUARD_STR_EQ) {
        c = memcmp(x->str, str, x->len < len ? x->len : len);
        c = c != 0 ? c : (x->len > len) - (x->len < len);
    } else {
        c = (x->num > num) - (x->num < num);
    }
    return k == GUARD_BELOW ? -c : c;
}

/* By literal, then by position, so equal literals keep rule order. */
static int entry_order(const struct guard_entry *x, const struct guard_entry *y,
                       enum guard_kind k)
{
    int c = literal_order(x, y->num, y->str, y->len, k);
    return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static void sort_entries(struct guard_group *g)
{
    /* Insertion sort: built once per rule load, and n is the rules of one
     * type sharing one guard. */
    for (size_t i = 1; i < g->n; i++) {
        struct guard_entry t = g->e[i];
        size_t j = i;
        for (; j > 0 && entry_order(&g->e[j - 1], &t, g->kind) > 0; j--) {
            g->e[j] = g->e[j - 1];
        }
        g->e[j] = t;
    }
}

static void free_guards(struct ioc_rule_list *l)
{
    for (size_t i = 0; i < l->n_groups; i++) {
        free(l->groups[i].e);
    }
    free(l->groups);
    free(l->plain);
    l->groups = NULL;
    l->plain = NULL;
    l->n_groups = l->n_plain = 0;
}

/* Gathers the rules of list l whose first test is a guard into groups by
 * field and kind; groups under GUARD_MIN go back to being visited plainly.
 * Rules with a resolve `when` are always visited: they watch events their
 * own `when` refuses. Two passes: which group each rule joins, then each
 * kept group's entries, allocated at their exact count. */
static int build_guards(const struct ioc_ruleset *rs, struct ioc_rule_list *l)
{
    size_t n = l->n ? l->n : 1, ng = 0, kept = 0;
    struct guard_group *gs = calloc(n, sizeof *gs);
    struct ioc_expr_guard *g = malloc(n * sizeof *g);
    uint32_t *grp = malloc(n * sizeof *grp); /* group of each position, or UINT32_MAX */
    uint32_t *to = malloc(n * sizeof *to);   /* a group's place among the kept ones */
    int rc = IOC_ENOMEM;
    if (!gs || !g || !grp || !to) {
        goto out;
    }
    for (size_t pos = 0; pos < l->n; pos++) {
        const struct ioc_rule *r = &rs->rules[l->idx[pos]];
        grp[pos] = UINT32_MAX;
        if (!r->when || r->resolve_when || !ioc_expr_guard(r->when, &g[pos])) {
            continue;
        }
        enum guard_kind k = guard_kind(&g[pos]);
        size_t i = 0;
        while (i < ng && !(gs[i].kind == k && same_field(gs[i].field, g[pos].field))) {
            i++;
        }
        if (i == ng) {
            gs[ng++] = (struct guard_group){.field = g[pos].field, .kind = k};
        }
        gs[i].n++;
        grp[pos] = (uint32_t)i;
    }
    l->groups = gs;
    gs = NULL;
    for (size_t i = 0; i < ng; i++) {
        struct guard_group *G = &l->groups[i];
        to[i] = UINT32_MAX;
        if (G->n < GUARD_MIN) {
            continue;
        }
        size_t count = G->n;
        to[i] = (uint32_t)kept;
        l->groups[kept] = *G;
        l->groups[kept].n = 0;
        l->n_groups = kept + 1;
        if (!(l->groups[kept++].e = malloc(count * sizeof *G->e))) {
            goto out;
        }
    }
    if (kept == 0) {
        rc = 0;
        goto out; /* no group: free_guards below leaves the plain list alone */
    }
    if (!(l->plain = malloc(l->n * sizeof *l->plain))) {
        goto out;
    }
    for (size_t pos = 0; pos < l->n; pos++) {
        uint32_t t = grp[pos] == UINT32_MAX ? UINT32_MAX : to[grp[pos]];
        if (t == UINT32_MAX) {
            l->plain[l->n_plain++] = (uint32_t)pos;
            continue;
        }
        struct guard_group *G = &l->groups[t];
        G->e[G->n++] = (struct guard_entry){.pos = (uint32_t)pos, .op = (uint8_t)g[pos].op,
                                            .num = g[pos].num, .str = g[pos].str,
                                            .len = g[pos].len};
    }
    for (size_t i = 0; i < kept; i++) {
        sort_entries(&l->groups[i]);
    }
    free(g);
    free(grp);
    free(to);
    return 0;
out:
    free_guards(l);
    free(gs);
    free(g);
    free(grp);
    free(to);
    return rc;
}

static int guards_for_all(struct ioc_ruleset *rs)
{
    size_t most = 1;
    for (int s = 0; s < IOC_SRC__COUNT; s++) {
        void *val;
        for (size_t it = 0; ioc_map_next(&rs->by_type[s], &it, NULL, NULL, &val);) {
            struct ioc_rule_list *l = val;
            most = l->n > most ? l->n : most;
            if (build_guards(rs, l)) {
                return IOC_ENOMEM;
            }
        }
        most = rs->any_type[s].n > most ? rs->any_type[s].n : most;
        if (build_guards(rs, &rs->any_type[s])) {
            return IOC_ENOMEM;
        }
    }
    rs->select_buf = malloc(most * sizeof *rs->select_buf);
    return rs->select_buf ? 0 : IOC_ENOMEM;
}

/* Appends to buf the positions of the entries of g that value v passes. */
static size_t guard_pass(const struct guard_group *g, struct ioc_value v, uint32_t *buf)
{
    const struct guard_entry *e = g->e;
    size_t lo = 0, hi = g->n, k = 0;
    if (g->kind == GUARD_STR_EQ ? v.t != IOC_V_STR : v.t != IOC_V_NUM) {
        return 0;
    }
    /* lo: the first entry whose literal is not ordered before the value. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (literal_order(&e[mid], v.num, v.str, v.len, g->kind) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (g->kind == GUARD_ABOVE || g->kind == GUARD_BELOW) {
        /* Literals strictly below (ABOVE) or above (BELOW) the value pass. */
        for (size_t i = 0; i < lo; i++) {
            buf[k++] = e[i].pos;
        }
    }
    /* Equal literals pass for ==, >= and <=. */
    for (size_t i = lo; i < g->n && literal_order(&e[i], v.num, v.str, v.len, g->kind) == 0;
         i++) {
        if (e[i].op != IOC_GUARD_GT && e[i].op != IOC_GUARD_LT) {
            buf[k++] = e[i].pos;
        }
    }
    return k;
}

static int pos_order(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

size_t ioc__ruleset_select(struct ioc_ruleset *rs, const struct ioc_event *ev,
                           const uint32_t **idx)
{
    const struct ioc_rule_list *l =
        ioc_map_get(&rs->by_type[ev->source], ev->type, strlen(ev->type));
    l = l ? l : &rs->any_type[ev->source];
    if (l->n_groups == 0) {
        *idx = l->idx;
        return l->n;
    }
    uint32_t *buf = rs->select_buf;
    memcpy(buf, l->plain, l->n_plain * sizeof *buf);
    size_t k = l->n_plain;
    for (size_t i = 0; i < l->n_groups; i++) {
        k += guard_pass(&l->groups[i], ioc_event_get(ev, l->groups[i].field), buf + k);
    }
    /* Back to candidate order, which decides the order of the changes. */
    if (k > l->n_plain) {
        qsort(buf, k, sizeof *buf, pos_order);
    }
    for (size_t i = 0; i < k; i++) {
        buf[i] = l->idx[buf[i]];
    }
    *idx = buf;
    return k;
}

/* ---- public --------------------------------------------------------------- */

/* Rules name other rules (inhibits); an unknown id is an error where it was
 * written. */
static int resolve_refs(struct ioc_ruleset *rs, struct ioc_diag *diag)
{
    int bad = 0;
    for (size_t i = 0; i < rs->n; i++) {
        struct ioc_rule *r = &rs->rules[i];
        for (size_t k = 0; k < r->n_inhibits; k++) {
            struct ioc_rule_ref *ref = &r->inhibits[k];
            size_t j = 0;
            while (j < rs->n && strcmp(rs->rules[j].id, ref->id) != 0) {
                j++;
            }
            if (j == rs->n || j == i) {
                ioc_diag_add(diag, r->file, ref->line, ref->col,
                             j == i ? "inhibits: a rule cannot inhibit itself ('%s')"
                                    : "inhibits: unknown rule '%s'",
                             ref->id);
                bad = 1;
            } else {
                ref->idx = (uint32_t)j;
                rs->rules[j].inhibited_by_any = true;
            }
        }
    }
    for (size_t i = 0; i < rs->n; i++) {
        struct ioc_rule *r = &rs->rules[i];
        for (size_t k = 0; k < r->n_members; k++) {
            struct ioc_member *mm = &r->members[k];
            if (!mm->is_incident) {
                continue;
            }
            size_t j = 0;
            while (j < rs->n && strcmp(rs->rules[j].id, mm->incident.id) != 0) {
                j++;
            }
            if (j == rs->n || j == i) {
                ioc_diag_add(diag, r->file, mm->incident.line, mm->incident.col,
                             j == i ? "all: a rule cannot take its own incidents as a member"
                                    : "all: unknown rule '%s'",
                             mm->incident.id);
                bad = 1;
                continue;
            }
            mm->incident.idx = (uint32_t)j;
            struct ioc_rule *x = &rs->rules[j];
            struct ioc_feed *nf = realloc(x->feeds, (x->n_feeds + 1) * sizeof *nf);
            if (!nf) {
                return IOC_ENOMEM;
            }
            x->feeds = nf;
            x->feeds[x->n_feeds++] = (struct ioc_feed){(uint32_t)i, (uint32_t)k};
        }
    }
    return bad ? IOC_ERULE : 0;
}

static void ids_close(struct ioc_map *ids)
{
    void *v;
    for (size_t it = 0; ioc_map_next(ids, &it, NULL, NULL, &v);) {
        free(v);
    }
    ioc_map_close(ids);
}

int ioc_ruleset_load(const char *const *paths, size_t n, struct ioc_ruleset **out,
                     struct ioc_diag *diag)
{
    struct loader L;
    memset(&L, 0, sizeof L);
    L.diag = diag;
    ioc_map_init(&L.ids);
    int rc = 0, bad = 0;
    uint64_t h = 1469598103934665603ULL;
    *out = NULL;
    struct ioc_ruleset *rs = calloc(1, sizeof *rs);
    if (!rs) {
        return IOC_ENOMEM;
    }
    L.rs = rs;
    for (int s = 0; s < IOC_SRC__COUNT; s++) {
        ioc_map_init(&rs->by_type[s]);
    }
    rc = expand_paths(paths, n, &rs->files, &rs->n_files, diag);
    if (rc == IOC_ENOMEM) {
        goto fail;
    }
    bad = rc != 0;
    cJSON *files = cJSON_CreateArray();
    if (!files) {
        rc = IOC_ENOMEM;
        goto fail;
    }
    struct ioc_ynode **roots = calloc(rs->n_files ? rs->n_files : 1, sizeof *roots);
    if (!roots) {
        cJSON_Delete(files);
        rc = IOC_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < rs->n_files; i++) {
        if (!cJSON_AddItemToArray(files, cJSON_CreateString(rs->files[i]))) {
            rc = IOC_ENOMEM;
            break;
        }
        size_t len = 0;
        char *text = read_file(rs->files[i], &len);
        if (!text && errno == ENOMEM) {
            rc = IOC_ENOMEM;
            break;
        }
        if (!text) {
            ioc_diag_add(diag, rs->files[i], 0, 0, "cannot read: %s", strerror(errno));
            bad = 1;
            continue;
        }
        for (size_t j = 0; j < len; j++) {
            h = (h ^ (unsigned char)text[j]) * 1099511628211ULL;
        }
        rc = ioc_yaml_parse(rs->files[i], text, len, &roots[i], diag);
        free(text);
        if (rc != 0) {
            bad = 1;
            continue;
        }
        if ((rc = load_doc_lists(&L, roots[i])) == IOC_ENOMEM) {
            break;
        }
        bad |= rc != 0;
    }
    for (size_t i = 0; rc != IOC_ENOMEM && i < rs->n_files; i++) {
        if (roots[i] && (rc = load_doc(&L, roots[i])) != IOC_ENOMEM) {
            bad |= rc != 0;
        }
    }
    for (size_t i = 0; i < rs->n_files; i++) {
        ioc_yaml_free(roots[i]);
    }
    free(roots);
    if (rc == IOC_ENOMEM) {
        cJSON_Delete(files);
        goto fail;
    }
    bad |= resolve_refs(rs, diag) != 0;
    /* A rule's definition includes the lists it may use: a changed list makes
     * every rule of the set count as changed on reload, which errs on the
     * side of starting windows fresh. */
    {
        uint64_t lh = 1469598103934665603ULL;
        for (size_t i = 0; i < rs->n_lists; i++) {
            for (const char *p = rs->lists[i].name; *p; p++) {
                lh = (lh ^ (unsigned char)*p) * 1099511628211ULL;
            }
            for (size_t j = 0; j < rs->lists[i].n; j++) {
                for (size_t k = 0; k < rs->lists[i].items[j].len; k++) {
                    lh = (lh ^ (unsigned char)rs->lists[i].items[j].str[k]) * 1099511628211ULL;
                }
                lh = (lh ^ 0xfe) * 1099511628211ULL;
            }
        }
        for (size_t i = 0; i < rs->n; i++) {
            rs->rules[i].def_hash ^= lh;
        }
    }
    rs->files_json = cJSON_PrintUnformatted(files);
    cJSON_Delete(files);
    snprintf(rs->hash, sizeof rs->hash, "%016llx", (unsigned long long)h);
    if (bad) {
        rc = IOC_ERULE;
        goto fail;
    }
    /* No paths at all is a deliberate empty set (an archive-only engine); a
     * directory with no rule file in it is a mistake. */
    if (rs->n_files == 0 && n > 0) {
        ioc_diag_add(diag, n ? paths[0] : "rules", 0, 0, "no rule files (*.yaml) found");
        rc = IOC_ERULE;
        goto fail;
    }
    if (!rs->files_json || (rc = build_index(rs)) != 0) {
        rc = IOC_ENOMEM;
        goto fail;
    }
    ids_close(&L.ids);
    *out = rs;
    return 0;
fail:
    ids_close(&L.ids);
    ioc_ruleset_free(rs);
    return rc ? rc : IOC_ERULE;
}

void ioc_ruleset_free(struct ioc_ruleset *rs)
{
    if (!rs) {
        return;
    }
    for (size_t i = 0; i < rs->n; i++) {
        rule_close(&rs->rules[i]);
    }
    free(rs->rules);
    for (size_t i = 0; i < rs->n_lists; i++) {
        for (size_t j = 0; j < rs->lists[i].n; j++) {
            free((char *)rs->lists[i].items[j].str);
        }
        free((void *)rs->lists[i].items);
        free((char *)rs->lists[i].name);
    }
    free(rs->lists);
    for (size_t i = 0; i < rs->n_files; i++) {
        free(rs->files[i]);
    }
    free(rs->files);
    free(rs->files_json);
    for (int s = 0; s < IOC_SRC__COUNT; s++) {
        void *v;
        for (size_t it = 0; ioc_map_next(&rs->by_type[s], &it, NULL, NULL, &v);) {
            free_guards(v);
            free(((struct ioc_rule_list *)v)->idx);
            free(v);
        }
        ioc_map_close(&rs->by_type[s]);
        free_guards(&rs->any_type[s]);
        free(rs->any_type[s].idx);
    }
    free(rs->select_buf);
    free(rs);
}

size_t ioc_ruleset_count(const struct ioc_ruleset *rs)
{
    return rs ? rs->n : 0;
}

const char *ioc_ruleset_hash(const struct ioc_ruleset *rs)
{
    return rs->hash;
}

const char *ioc_ruleset_files_json(const struct ioc_ruleset *rs)
{
    return rs->files_json ? rs->files_json : "[]";
}

/* ---- per event ------------------------------------------------------------ */

static int band_holds(const struct ioc_band *b, double v)
{
    switch (b->op) {
    case IOC_BAND_GE:
        return v >= b->v;
    case IOC_BAND_GT:
        return v > b->v;
    case IOC_BAND_LE:
        return v <= b->v;
    case IOC_BAND_LT:
        return v < b->v;
    }
    return 0;
}

int ioc__rule_grade(const struct ioc_rule *r, const struct ioc_event *ev, const struct ioc_match *m)
{
    double v;
    switch (r->grade.by) {
    case IOC_BY_FIXED:
        return r->grade.fixed;
    case IOC_BY_COUNT:
        v = (double)m->count;
        break;
    case IOC_BY_AGG:
        if (!m->has_agg) {
            return 0;
        }
        v = m->agg;
        break;
    case IOC_BY_FIELD: {
        struct ioc_value x = ioc_event_get(ev, &r->grade.ref);
        if (x.t != IOC_V_NUM) {
            return 0;
        }
        v = x.num;
        break;
    }
    default:
        return 0;
    }
    int best = 0;
    for (size_t i = 0; i < r->grade.n_bands; i++) {
        const struct ioc_band *b = &r->grade.bands[i];
        if (band_holds(b, v) && (best == 0 || b->grade < best)) {
            best = b->grade;
        }
    }
    return best;
}

/* Numbers in titles read like a person writes them: whole numbers without a
 * fraction or exponent (a timestamp, a count), others with two decimals at
 * most ("2.61 m", "0.85"). */
static int fmt_num(char *buf, size_t n, double v)
{
    if (v == (double)(long long)v && fabs(v) < 1e15) {
        return snprintf(buf, n, "%lld", (long long)v);
    }
    int w = snprintf(buf, n, "%.2f", v);
    while (w > 0 && buf[w - 1] == '0') {
        buf[--w] = 0;
    }
    if (w > 0 && buf[w - 1] == '.') {
        buf[--w] = 0;
    }
    return w;
}

static size_t put(char *buf, size_t used, size_t n, const char *s, size_t len)
{
    if (used + 1 >= n) {
        return used;
    }
    size_t room = n - 1 - used;
    if (len > room) {
        len = room;
    }
    memcpy(buf + used, s, len);
    return used + len;
}

void ioc__rule_title(const struct ioc_rule *r, const struct ioc_event *ev,
                     const struct ioc_match *m, char *buf, size_t n)
{
    ioc__tpl_render(&r->title, ev, m, buf, n);
}

void ioc__tpl_render(const struct ioc_tpl *t, const struct ioc_event *ev,
                     const struct ioc_match *m, char *buf, size_t n)
{
    size_t used = 0;
    char num[64];
    if (n == 0) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct ioc_tpl_part *p = &t->parts[i];
        if (p->kind == IOC_TPL_TEXT) {
            used = put(buf, used, n, p->text, p->len);
        } else if (p->kind == IOC_TPL_COUNT) {
            int w = snprintf(num, sizeof num, "%lld", (long long)m->count);
            used = put(buf, used, n, num, (size_t)w);
        } else if (p->kind == IOC_TPL_AGG) {
            int w = fmt_num(num, sizeof num, m->has_agg ? m->agg : 0.0);
            used = put(buf, used, n, num, (size_t)w);
        } else {
            struct ioc_value v = ioc_event_get(ev, &p->ref);
            if (v.t == IOC_V_STR) {
                used = put(buf, used, n, v.str, v.len);
            } else if (v.t == IOC_V_NUM) {
                int w = fmt_num(num, sizeof num, v.num);
                used = put(buf, used, n, num, (size_t)w);
            } else if (v.t == IOC_V_BOOL) {
                used = put(buf, used, n, v.num ? "true" : "false", v.num ? 4 : 5);
            } else {
                used = put(buf, used, n, "?", 1);
            }
        }
    }
    /* Never cut a UTF-8 sequence in half (Thai text is common): drop a last
     * character whose bytes did not all fit. */
    if (used > 0 && ((unsigned char)buf[used - 1] & 0x80)) {
        size_t start = used - 1;
        while (start > 0 && ((unsigned char)buf[start] & 0xC0) == 0x80) {
            start--;
        }
        unsigned char lead = (unsigned char)buf[start];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (used - start < need) {
            used = start;
        }
    }
    buf[used] = 0;
}
