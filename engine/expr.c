/*
 * expr.c — rule expressions: tokenizer, parser, compiled form, evaluation.
 *
 * Text is compiled once, at rule load, into a flat array of 24-byte nodes
 * that refer to each other, to resolved field references, to literal strings
 * and to the sets and regexes of the expression by 32-bit index. Everything
 * that can be decided at load time is: field names become ioc_fieldref,
 * string literals are unescaped, numbers parsed, "in [..]" and "in @list"
 * become sorted sets searched by bisection, "=~" patterns are compiled, and
 * the source/type constraints used to index rules are computed, and with
 * them where evaluation may start for an event the index routed here.
 *
 * Chains of && and || are built right-deep (a && (b && (c ...))) so that
 * evaluation walks them in a loop, in source order, without recursion; only
 * parentheses and "!" recurse, and the parser caps their nesting
 * (MAX_DEPTH), which bounds every recursion over the tree.
 *
 * Invariants: after ioc_expr_compile returns, the expression is immutable;
 * x->strs no longer moves, so pointers into it (sets, constraint values) stay
 * valid until ioc_expr_free. Error columns are 1-based and count characters
 * (UTF-8 sequences), not bytes.
 *
 * Threads: a compiled expression may be evaluated from several threads at
 * once; evaluation writes nothing and allocates nothing (a regex's matcher
 * fills a bounded cache of its own, see regex.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/expr.h"
#include "ioc/regex.h"

#define MAX_DEPTH 64 /* nesting of ( and ! */
#define SHOW_MAX 40  /* characters of a token quoted in a message */
#define MSG_MAX 256

/* ---- Compiled form ---------------------------------------------------- */

enum op { OP_AND, OP_OR, OP_NOT, OP_TRUTHY, OP_CMP, OP_IN, OP_MATCH };
enum cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
/* What an operand is: a field of the event, a literal, or a sub-expression
 * whose truth is the operand's (bool) value. */
enum opd_kind { K_FIELD, K_NUM, K_STR, K_BOOL, K_EXPR };

union arg {
    double num; /* K_NUM */
    struct {
        uint32_t off, len; /* K_STR: bytes in x->strs */
    } s;
    uint32_t idx; /* K_FIELD: x->fields; K_EXPR, AND/OR/NOT: x->nodes; IN: x->sets; MATCH: x->res */
    bool b;       /* K_BOOL */
};

struct node {
    uint8_t op;     /* enum op */
    uint8_t cmp;    /* enum cmp, OP_CMP only */
    uint8_t lk, rk; /* enum opd_kind of l and r, where they are operands */
    union arg l, r;
};

/* A string of a set; s is filled in once x->strs stops moving. */
struct sref {
    const char *s;
    uint32_t off, len;
};

/* One "in" set: slices of x->set_strs and x->set_nums, each sorted. */
struct set {
    uint32_t s0, ns, n0, nn;
};

struct cons {
    bool ok;
    const char **vals;
    size_t n;
};

struct ioc_expr {
    struct node *nodes;
    uint32_t n_nodes, cap_nodes, root;
    struct ioc_fieldref *fields;
    uint32_t n_fields, cap_fields;
    char *strs; /* literal bytes, each followed by a NUL */
    uint32_t n_strs, cap_strs;
    struct sref *set_strs;
    uint32_t n_set_strs, cap_set_strs;
    double *set_nums;
    uint32_t n_set_nums, cap_set_nums;
    struct set *sets;
    uint32_t n_sets, cap_sets;
    struct ioc_regex **res;
    uint32_t n_res, cap_res;
    struct cons cons[2]; /* [0] source, [1] type */
    /* Where evaluation starts for an event the rule index routed here: after
     * the leading conjuncts the index already guarantees (indexed_true: all
     * of them are). See ioc_expr_eval_indexed. */
    uint32_t indexed_root;
    bool indexed_true;
};

/* Makes room for extra more elements in the array whose address is arrp
 * (a T **), holding n of capacity *cap. The pointer is read and written with
 * memcpy so that any element type can share this one helper. */
static int grow(void *arrp, uint32_t n, uint32_t *cap, size_t elsize, uint32_t extra)
{
    uint64_t need = (uint64_t)n + extra;
    uint64_t ncap;
    void *old, *q;

    if (need <= *cap) {
        return 0;
    }
    ncap = *cap ? (uint64_t)*cap * 2 : 8;
    while (ncap < need) {
        ncap *= 2;
    }
    if (ncap > UINT32_MAX || ncap * elsize > SIZE_MAX / 2) {
        return IOC_ENOMEM;
    }
    memcpy(&old, arrp, sizeof(old));
    q = realloc(old, (size_t)ncap * elsize);
    if (q == NULL) {
        return IOC_ENOMEM;
    }
    memcpy(arrp, &q, sizeof(q));
    *cap = (uint32_t)ncap;
    return 0;
}

void ioc_expr_free(struct ioc_expr *x)
{
    if (x == NULL) {
        return;
    }
    for (uint32_t i = 0; i < x->n_fields; i++) {
        ioc_fieldref_close(&x->fields[i]);
    }
    for (uint32_t i = 0; i < x->n_res; i++) {
        ioc_regex_free(x->res[i]);
    }
    free(x->nodes);
    free(x->fields);
    free(x->strs);
    free(x->set_strs);
    free(x->set_nums);
    free(x->sets);
    free(x->res);
    free(x->cons[0].vals);
    free(x->cons[1].vals);
    free(x);
}

/* ---- Evaluation ------------------------------------------------------- */

static bool eval(const struct ioc_expr *x, uint32_t i, const struct ioc_event *ev);

static struct ioc_value value(const struct ioc_expr *x, uint8_t kind, const union arg *a,
                              const struct ioc_event *ev)
{
    struct ioc_value v = {IOC_V_MISSING, 0, NULL, 0};
    switch ((enum opd_kind)kind) {
    case K_FIELD:
        return ioc_event_get(ev, &x->fields[a->idx]);
    case K_NUM:
        v.t = IOC_V_NUM;
        v.num = a->num;
        break;
    case K_STR:
        v.t = IOC_V_STR;
        v.str = x->strs + a->s.off;
        v.len = a->s.len;
        break;
    case K_BOOL:
        v.t = IOC_V_BOOL;
        v.num = a->b;
        break;
    case K_EXPR:
        v.t = IOC_V_BOOL;
        v.num = eval(x, a->idx, ev);
        break;
    }
    return v;
}

static bool truthy(struct ioc_value v)
{
    switch (v.t) {
    case IOC_V_NUM:
    case IOC_V_BOOL:
        return v.num != 0;
    case IOC_V_STR:
        return v.len > 0;
    case IOC_V_MISSING:
        break;
    }
    return false;
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen;
}

static bool holds(enum cmp c, int order)
{
    switch (c) {
    case CMP_EQ:
        return order == 0;
    case CMP_NE:
        return order != 0;
    case CMP_LT:
        return order < 0;
    case CMP_LE:
        return order <= 0;
    case CMP_GT:
        return order > 0;
    case CMP_GE:
        return order >= 0;
    }
    return false;
}

/* Missing on either side, or values of different types, compare false for
 * every operator, != included: a rule never fires on data it cannot see. */
static bool eval_cmp(const struct ioc_expr *x, const struct node *n, const struct ioc_event *ev)
{
    struct ioc_value a = value(x, n->lk, &n->l, ev);
    struct ioc_value b;

    if (a.t == IOC_V_MISSING) {
        return false;
    }
    b = value(x, n->rk, &n->r, ev);
    if (b.t != a.t) {
        return false;
    }
    switch (a.t) {
    case IOC_V_NUM:
        return holds(n->cmp, (a.num > b.num) - (a.num < b.num));
    case IOC_V_STR:
        return holds(n->cmp, bytes_cmp(a.str, a.len, b.str, b.len));
    case IOC_V_BOOL:
        /* true and false are equal or not; they have no order. */
        return (n->cmp == CMP_EQ || n->cmp == CMP_NE) &&
               holds(n->cmp, (a.num > b.num) - (a.num < b.num));
    case IOC_V_MISSING:
        break;
    }
    return false;
}

static bool in_set(const struct ioc_expr *x, const struct set *s, struct ioc_value v)
{
    size_t lo = 0, hi;
    /* A set without strings (or numbers) may belong to an expression that has
     * no such array at all: no pointer is formed into it. */
    if (v.t == IOC_V_STR && s->ns > 0) {
        const struct sref *a = x->set_strs + s->s0;
        hi = s->ns;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = bytes_cmp(a[mid].s, a[mid].len, v.str, v.len);
            if (c == 0) {
                return true;
            }
            if (c < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
    } else if (v.t == IOC_V_NUM && s->nn > 0) {
        const double *a = x->set_nums + s->n0;
        hi = s->nn;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (a[mid] == v.num) {
                return true;
            }
            if (a[mid] < v.num) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
    }
    return false;
}

static bool match(const struct ioc_regex *re, struct ioc_value v)
{
    return v.t == IOC_V_STR && ioc_regex_match(re, v.str, v.len);
}


static bool eval(const struct ioc_expr *x, uint32_t i, const struct ioc_event *ev)
{
    for (;;) {
        const struct node *n = &x->nodes[i];
        switch ((enum op)n->op) {
        case OP_AND:
            if (!eval(x, n->l.idx, ev)) {
                return false;
            }
            i = n->r.idx; /* the rest of the chain, without recursing */
            continue;
        case OP_OR:
            if (eval(x, n->l.idx, ev)) {
                return true;
            }
            i = n->r.idx;
            continue;
        case OP_NOT:
            return !eval(x, n->l.idx, ev);
        case OP_TRUTHY:
            return truthy(value(x, n->lk, &n->l, ev));
        case OP_CMP:
            return eval_cmp(x, n, ev);
        case OP_IN:
            return in_set(x, &x->sets[n->r.idx], value(x, n->lk, &n->l, ev));
        case OP_MATCH:
            return match(x->res[n->r.idx], value(x, n->lk, &n->l, ev));
        }
        return false;
    }
}

bool ioc_expr_eval(const struct ioc_expr *x, const struct ioc_event *ev)
{
    return eval(x, x->root, ev);
}

bool ioc_expr_eval_indexed(const struct ioc_expr *x, const struct ioc_event *ev)
{
    return x->indexed_true || eval(x, x->indexed_root, ev);
}

bool ioc_expr_guard(const struct ioc_expr *x, struct ioc_expr_guard *g)
{
    if (x->indexed_true) {
        return false;
    }
    const struct node *n = &x->nodes[x->indexed_root];
    if (n->op == OP_AND) {
        n = &x->nodes[n->l.idx];
    }
    if (n->op != OP_CMP || n->cmp == CMP_NE) {
        return false;
    }
    /* field OP literal, or literal OP field read the other way round. */
    bool flip = n->lk != K_FIELD;
    uint8_t fk = flip ? n->rk : n->lk, lk = flip ? n->lk : n->rk;
    const union arg *fa = flip ? &n->r : &n->l, *la = flip ? &n->l : &n->r;
    if (fk != K_FIELD || (lk != K_NUM && (lk != K_STR || n->cmp != CMP_EQ))) {
        return false;
    }
    static const enum ioc_guard_op ops[] = {
        [CMP_EQ] = IOC_GUARD_EQ, [CMP_LT] = IOC_GUARD_LT, [CMP_LE] = IOC_GUARD_LE,
        [CMP_GT] = IOC_GUARD_GT, [CMP_GE] = IOC_GUARD_GE,
    };
    static const enum ioc_guard_op flipped[] = {
        [IOC_GUARD_EQ] = IOC_GUARD_EQ, [IOC_GUARD_LT] = IOC_GUARD_GT,
        [IOC_GUARD_LE] = IOC_GUARD_GE, [IOC_GUARD_GT] = IOC_GUARD_LT,
        [IOC_GUARD_GE] = IOC_GUARD_LE,
    };
    memset(g, 0, sizeof *g);
    g->field = &x->fields[fa->idx];
    g->op = flip ? flipped[ops[n->cmp]] : ops[n->cmp];
    g->is_str = lk == K_STR;
    if (g->is_str) {
        g->str = x->strs + la->s.off;
        g->len = la->s.len;
    } else {
        g->num = la->num;
    }
    return true;
}

bool ioc_expr_constraint(const struct ioc_expr *x, enum ioc_field f, const char *const **vals,
                         size_t *n)
{
    const struct cons *c;
    if (f == IOC_F_SOURCE) {
        c = &x->cons[0];
    } else if (f == IOC_F_TYPE) {
        c = &x->cons[1];
    } else {
        return false;
    }
    if (!c->ok) {
        return false;
    }
    *vals = c->vals;
    *n = c->n;
    return true;
}

/* ---- Tokenizer -------------------------------------------------------- */

enum tk {
    T_END,
    T_IDENT,
    T_NUM,
    T_STR,
    T_TRUE,
    T_FALSE,
    T_IN,
    T_AT, /* @name */
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_MATCH,
    T_AND,
    T_OR,
    T_NOT,
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_COMMA,
};

struct tok {
    enum tk kind;
    size_t off, len; /* the lexeme in the text (quotes and @ included) */
    double num;      /* T_NUM */
};

struct parser {
    const char *text;
    size_t len;
    size_t pos; /* where the tokenizer resumes */
    struct tok tok;
    struct ioc_expr *x;
    const struct ioc_expr_env *env;
    int depth;
    int rc;
    size_t err_off;
    char msg[MSG_MAX];
};

/* Records the first error (later ones are consequences) and returns rc. */
__attribute__((format(printf, 4, 5))) static int fail(struct parser *p, int rc, size_t off,
                                                      const char *fmt, ...)
{
    if (p->rc == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
        va_end(ap);
        p->rc = rc;
        p->err_off = off;
    }
    return rc;
}

/* 1-based column of a byte offset, counting characters, not bytes, so that
 * it matches what an editor shows for Thai text. */
static int column(const char *text, size_t off)
{
    int col = 1;
    for (size_t i = 0; i < off && text[i] != '\0'; i++) {
        col += ((unsigned char)text[i] & 0xC0) != 0x80;
    }
    return col;
}

static int nomem(struct parser *p)
{
    return fail(p, IOC_ENOMEM, p->tok.off, "out of memory");
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Characters of a name after its first: attrs keys may hold digits and '-'. */
static bool is_word(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-';
}

/* Bytes of the UTF-8 character starting with c (1 for anything invalid). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xF0 && c < 0xF8) {
        return 4;
    }
    if (c >= 0xE0) {
        return 3;
    }
    if (c >= 0xC0) {
        return 2;
    }
    return 1;
}

static int lex_string(struct parser *p, size_t start)
{
    const char *t = p->text;
    char q = t[start];
    size_t i = start + 1;
    while (i < p->len && t[i] != q) {
        i += (t[i] == '\\' && i + 1 < p->len) ? 2 : 1;
    }
    if (i >= p->len) {
        return fail(p, IOC_EEXPR, start, "unterminated string (no closing %c)", q);
    }
    p->tok.kind = T_STR;
    p->tok.len = i + 1 - start;
    return 0;
}

/* Digits, an optional fraction and exponent. Anything word-like glued to it
 * ("30s", "1.2.3") makes the whole run an invalid number. */
static int lex_number(struct parser *p, size_t start)
{
    const char *t = p->text;
    size_t i = start, digits = 0;
    char buf[64];

    if (t[i] == '-') {
        i++;
    }
    for (; i < p->len && is_digit(t[i]); i++) {
        digits++;
    }
    if (i < p->len && t[i] == '.') {
        for (i++; i < p->len && is_digit(t[i]); i++) {
            digits++;
        }
    }
    if (digits > 0 && i < p->len && (t[i] == 'e' || t[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->len && (t[j] == '+' || t[j] == '-')) {
            j++;
        }
        if (j < p->len && is_digit(t[j])) {
            for (i = j; i < p->len && is_digit(t[i]); i++) {
            }
        }
    }
    if (digits == 0 || (i < p->len && (is_word(t[i]) || t[i] == '.'))) {
        while (i < p->len && (is_word(t[i]) || t[i] == '.')) {
            i++;
        }
        return fail(p, IOC_EEXPR, start, "'%.*s' is not a number", (int)(i - start), t + start);
    }
    if (i - start >= sizeof(buf)) {
        return fail(p, IOC_EEXPR, start, "number too long");
    }
    memcpy(buf, t + start, i - start);
    buf[i - start] = '\0';
    p->tok.num = strtod(buf, NULL);
    if (!isfinite(p->tok.num)) {
        return fail(p, IOC_EEXPR, start, "number '%s' is out of range", buf);
    }
    p->tok.kind = T_NUM;
    p->tok.len = i - start;
    return 0;
}

/* A name: word characters, with dots between parts ("attrs.a.b"). A trailing
 * dot is kept so that "attrs." is reported as the unknown field it is. */
static void lex_ident(struct parser *p, size_t start)
{
    const char *t = p->text;
    size_t i = start + 1;
    while (i < p->len && (is_word(t[i]) || t[i] == '.')) {
        i++;
    }
    p->tok.len = i - start;
    p->tok.kind = T_IDENT;
    if (p->tok.len == 2 && memcmp(t + start, "in", 2) == 0) {
        p->tok.kind = T_IN;
    } else if (p->tok.len == 4 && memcmp(t + start, "true", 4) == 0) {
        p->tok.kind = T_TRUE;
    } else if (p->tok.len == 5 && memcmp(t + start, "false", 5) == 0) {
        p->tok.kind = T_FALSE;
    }
}

/* Reads the next token into p->tok. */
static int next(struct parser *p)
{
    const char *t = p->text;
    size_t i = p->pos;
    char c, d;

    while (i < p->len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) {
        i++;
    }
    p->tok.off = i;
    p->tok.len = 1;
    p->tok.kind = T_END;
    if (i >= p->len) {
        p->tok.len = 0;
        p->pos = i;
        return 0;
    }
    c = t[i];
    d = i + 1 < p->len ? t[i + 1] : '\0';
    switch (c) {
    case '(':
        p->tok.kind = T_LPAREN;
        break;
    case ')':
        p->tok.kind = T_RPAREN;
        break;
    case '[':
        p->tok.kind = T_LBRACK;
        break;
    case ']':
        p->tok.kind = T_RBRACK;
        break;
    case ',':
        p->tok.kind = T_COMMA;
        break;
    case '=':
        if (d == '=') {
            p->tok.kind = T_EQ;
        } else if (d == '~') {
            p->tok.kind = T_MATCH;
        } else {
            return fail(p, IOC_EEXPR, i, "use '==' to compare ('=' alone is not an operator)");
        }
        p->tok.len = 2;
        break;
    case '!':
        p->tok.kind = d == '=' ? T_NE : T_NOT;
        p->tok.len = d == '=' ? 2 : 1;
        break;
    case '<':
        p->tok.kind = d == '=' ? T_LE : T_LT;
        p->tok.len = d == '=' ? 2 : 1;
        break;
    case '>':
        p->tok.kind = d == '=' ? T_GE : T_GT;
        p->tok.len = d == '=' ? 2 : 1;
        break;
    case '&':
        if (d != '&') {
            return fail(p, IOC_EEXPR, i, "use '&&' for 'and'");
        }
        p->tok.kind = T_AND;
        p->tok.len = 2;
        break;
    case '|':
        if (d != '|') {
            return fail(p, IOC_EEXPR, i, "use '||' for 'or'");
        }
        p->tok.kind = T_OR;
        p->tok.len = 2;
        break;
    case '"':
    case '\'':
        if (lex_string(p, i) < 0) {
            return p->rc;
        }
        break;
    case '@': {
        size_t j = i + 1;
        while (j < p->len && (is_word(t[j]) || t[j] == '.')) {
            j++;
        }
        if (j == i + 1) {
            return fail(p, IOC_EEXPR, i, "expected a list name after '@'");
        }
        p->tok.kind = T_AT;
        p->tok.len = j - i;
        break;
    }
    default:
        if (is_digit(c) || ((c == '-' || c == '.') && (is_digit(d) || d == '.'))) {
            if (lex_number(p, i) < 0) {
                return p->rc;
            }
        } else if (is_alpha(c)) {
            lex_ident(p, i);
        } else {
            size_t n = utf8_len((unsigned char)c);
            n = i + n <= p->len ? n : 1;
            return fail(p, IOC_EEXPR, i, "unexpected character '%.*s'", (int)n, t + i);
        }
    }
    p->pos = i + p->tok.len;
    return 0;
}

/* ---- Building --------------------------------------------------------- */

static int add_node(struct parser *p, const struct node *nd, uint32_t *idx)
{
    struct ioc_expr *x = p->x;
    if (grow(&x->nodes, x->n_nodes, &x->cap_nodes, sizeof(*x->nodes), 1) < 0) {
        return nomem(p);
    }
    *idx = x->n_nodes;
    x->nodes[x->n_nodes++] = *nd;
    return 0;
}

/* Appends bytes and a NUL to x->strs; *off is where they start. */
static int add_bytes(struct parser *p, const char *s, size_t len, uint32_t *off)
{
    struct ioc_expr *x = p->x;
    if (len >= UINT32_MAX / 2 ||
        grow(&x->strs, x->n_strs, &x->cap_strs, 1, (uint32_t)len + 1) < 0) {
        return nomem(p);
    }
    *off = x->n_strs;
    memcpy(x->strs + x->n_strs, s, len);
    x->strs[x->n_strs + len] = '\0';
    x->n_strs += (uint32_t)len + 1;
    return 0;
}

/* Unescapes the string token into x->strs. \" \' \\ \n \t are escapes; any
 * other backslash is kept as written, so regexes like "a\.b" read naturally. */
static int add_string(struct parser *p, const struct tok *tk, uint32_t *off, uint32_t *len)
{
    struct ioc_expr *x = p->x;
    const char *s = p->text + tk->off + 1;
    size_t n = tk->len - 2, o = 0;

    if (add_bytes(p, s, n, off) < 0) {
        return p->rc;
    }
    char *dst = x->strs + *off;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[i + 1];
            if (e == '"' || e == '\'' || e == '\\') {
                c = e;
                i++;
            } else if (e == 'n') {
                c = '\n';
                i++;
            } else if (e == 't') {
                c = '\t';
                i++;
            }
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    /* Escapes made it shorter than reserved; give the tail back. */
    x->n_strs = *off + (uint32_t)o + 1;
    *len = (uint32_t)o;
    return 0;
}

static bool near_name(const char *a, size_t alen, const char *b)
{
    /* Edit distance <= 2 between short names, for "did you mean". */
    size_t blen = strlen(b);
    unsigned prev[24], cur[24];
    if (alen < 3 || alen >= 24 || blen >= 24) {
        return false;
    }
    for (size_t j = 0; j <= blen; j++) {
        prev[j] = (unsigned)j;
    }
    for (size_t i = 1; i <= alen; i++) {
        cur[0] = (unsigned)i;
        for (size_t j = 1; j <= blen; j++) {
            unsigned sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            unsigned del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(cur));
    }
    return prev[blen] <= 2;
}

static int unknown_field(struct parser *p, const struct tok *tk)
{
    const char *name = p->text + tk->off;
    int n = tk->len > SHOW_MAX ? SHOW_MAX : (int)tk->len;
    char buf[32];

    if ((tk->len == 3 && memcmp(name, "and", 3) == 0) ||
        (tk->len == 2 && memcmp(name, "or", 2) == 0) ||
        (tk->len == 3 && memcmp(name, "not", 3) == 0)) {
        return fail(p, IOC_EEXPR, tk->off,
                    "'%.*s' is not an operator; use && (and), || (or), ! (not)", n, name);
    }
    if (tk->len == 5 && memcmp(name, "attrs", 5) == 0) {
        return fail(p, IOC_EFIELD, tk->off,
                    "unknown field 'attrs' (name a value inside it, like attrs.depth)");
    }
    if (tk->len == 3 && memcmp(name, "loc", 3) == 0) {
        return fail(p, IOC_EFIELD, tk->off, "unknown field 'loc' (use loc.lat or loc.lon)");
    }
    for (int f = IOC_F_ID; f <= IOC_F_LON; f++) {
        struct ioc_fieldref r = {(enum ioc_field)f, NULL};
        ioc_fieldref_name(&r, buf, sizeof(buf));
        if (near_name(name, tk->len, buf)) {
            return fail(p, IOC_EFIELD, tk->off, "unknown field '%.*s' (did you mean '%s'?)", n,
                        name, buf);
        }
    }
    return fail(p, IOC_EFIELD, tk->off,
                "unknown field '%.*s' (to compare with text, put it in quotes: \"%.*s\")", n, name,
                n, name);
}

static int add_field(struct parser *p, const struct tok *tk, uint32_t *idx)
{
    struct ioc_expr *x = p->x;
    struct ioc_fieldref ref;
    int rc = ioc_fieldref_parse(p->text + tk->off, tk->len, &ref);

    if (rc == IOC_ENOMEM) {
        return nomem(p);
    }
    if (rc < 0) {
        return unknown_field(p, tk);
    }
    /* One reference per distinct field keeps the table small. */
    for (uint32_t i = 0; i < x->n_fields; i++) {
        const struct ioc_fieldref *o = &x->fields[i];
        if (o->f == ref.f && (ref.f != IOC_F_ATTR || strcmp(o->path, ref.path) == 0)) {
            ioc_fieldref_close(&ref);
            *idx = i;
            return 0;
        }
    }
    if (grow(&x->fields, x->n_fields, &x->cap_fields, sizeof(*x->fields), 1) < 0) {
        ioc_fieldref_close(&ref);
        return nomem(p);
    }
    *idx = x->n_fields;
    x->fields[x->n_fields++] = ref;
    return 0;
}

/* A source compared with a literal that names no source can never match:
 * almost certainly a typo, so say so at load time. */
static int check_source(struct parser *p, uint32_t off, uint32_t len, size_t at)
{
    const char *s = p->x->strs + off;
    enum ioc_source src;
    if (strlen(s) == len && ioc_source_parse(s, &src) == 0) {
        return 0;
    }
    return fail(p, IOC_EEXPR, at,
                "unknown source '%.*s' (sources are sensor, cctv, complaint and system)",
                len > SHOW_MAX ? SHOW_MAX : (int)len, s);
}

static bool is_field(const struct parser *p, uint8_t kind, const union arg *a, enum ioc_field f)
{
    return kind == K_FIELD && p->x->fields[a->idx].f == f;
}

/* ---- Parser ----------------------------------------------------------- */

struct opd {
    uint8_t kind;
    union arg a;
};

static int parse_or(struct parser *p, uint32_t *out);

/* The token as a user would recognise it, for "got ..." in messages. */
static void describe(const struct parser *p, const struct tok *tk, char *buf, size_t n)
{
    if (tk->kind == T_END) {
        snprintf(buf, n, "the end of the expression");
    } else {
        int len = tk->len > SHOW_MAX ? SHOW_MAX : (int)tk->len;
        snprintf(buf, n, "'%.*s'", len, p->text + tk->off);
    }
}

static bool starts_operand(enum tk k)
{
    return k == T_IDENT || k == T_NUM || k == T_STR || k == T_TRUE || k == T_FALSE || k == T_LPAREN;
}

static int parse_operand(struct parser *p, struct opd *o)
{
    struct tok tk = p->tok;
    char got[SHOW_MAX + 32];

    switch (tk.kind) {
    case T_IDENT:
        o->kind = K_FIELD;
        if (add_field(p, &tk, &o->a.idx) < 0) {
            return p->rc;
        }
        break;
    case T_NUM:
        o->kind = K_NUM;
        o->a.num = tk.num;
        break;
    case T_STR:
        o->kind = K_STR;
        if (add_string(p, &tk, &o->a.s.off, &o->a.s.len) < 0) {
            return p->rc;
        }
        break;
    case T_TRUE:
    case T_FALSE:
        o->kind = K_BOOL;
        o->a.b = tk.kind == T_TRUE;
        break;
    case T_LPAREN: {
        uint32_t inner;
        if (++p->depth > MAX_DEPTH) {
            return fail(p, IOC_EEXPR, tk.off, "the expression is nested too deeply");
        }
        if (next(p) < 0 || parse_or(p, &inner) < 0) {
            return p->rc;
        }
        if (p->tok.kind != T_RPAREN) {
            describe(p, &p->tok, got, sizeof(got));
            return fail(p, IOC_EEXPR, p->tok.off,
                        "expected ')' to close the '(' at column %d, got %s",
                        column(p->text, tk.off), got);
        }
        p->depth--;
        /* "(value)" is the operand value itself, not the truth of it. */
        const struct node *nd = &p->x->nodes[inner];
        if (nd->op == OP_TRUTHY && inner + 1 == p->x->n_nodes) {
            o->kind = nd->lk;
            o->a = nd->l;
            p->x->n_nodes--;
        } else {
            o->kind = K_EXPR;
            o->a.idx = inner;
        }
        break;
    }
    default:
        describe(p, &tk, got, sizeof(got));
        return fail(p, IOC_EEXPR, tk.off, "expected a field, a number or a quoted string, got %s",
                    got);
    }
    return next(p);
}

/* "in [ literal, ... ]" into a new set. */
static int parse_list(struct parser *p, const struct opd *l, uint32_t *set_idx)
{
    struct ioc_expr *x = p->x;
    size_t open = p->tok.off;
    struct set s = {x->n_set_strs, 0, x->n_set_nums, 0};
    char got[SHOW_MAX + 32];
    int col = column(p->text, open);

    if (next(p) < 0) {
        return p->rc;
    }
    if (p->tok.kind == T_RBRACK) {
        return fail(p, IOC_EEXPR, open, "the list is empty");
    }
    for (;;) {
        struct tok tk = p->tok;
        if (tk.kind == T_NUM) {
            if (grow(&x->set_nums, x->n_set_nums, &x->cap_set_nums, sizeof(double), 1) < 0) {
                return nomem(p);
            }
            x->set_nums[x->n_set_nums++] = tk.num;
            s.nn++;
        } else if (tk.kind == T_STR) {
            struct sref r = {NULL, 0, 0};
            if (add_string(p, &tk, &r.off, &r.len) < 0) {
                return p->rc;
            }
            if (is_field(p, l->kind, &l->a, IOC_F_SOURCE) &&
                check_source(p, r.off, r.len, tk.off) < 0) {
                return p->rc;
            }
            if (grow(&x->set_strs, x->n_set_strs, &x->cap_set_strs, sizeof(struct sref), 1) < 0) {
                return nomem(p);
            }
            x->set_strs[x->n_set_strs++] = r;
            s.ns++;
        } else if (tk.kind == T_IDENT || tk.kind == T_TRUE || tk.kind == T_FALSE) {
            int n = tk.len > SHOW_MAX ? SHOW_MAX : (int)tk.len;
            return fail(p, IOC_EEXPR, tk.off,
                        "list items are numbers or quoted strings; write '%.*s' as \"%.*s\"", n,
                        p->text + tk.off, n, p->text + tk.off);
        } else {
            describe(p, &tk, got, sizeof(got));
            return fail(p, IOC_EEXPR, tk.off,
                        "expected a number or a quoted string in the list, got %s", got);
        }
        if (next(p) < 0) {
            return p->rc;
        }
        if (p->tok.kind == T_COMMA) {
            if (next(p) < 0) {
                return p->rc;
            }
            continue;
        }
        if (p->tok.kind != T_RBRACK) {
            describe(p, &p->tok, got, sizeof(got));
            return fail(p, IOC_EEXPR, p->tok.off,
                        "expected ']' to close the list started at column %d, got %s", col, got);
        }
        break;
    }
    if (grow(&x->sets, x->n_sets, &x->cap_sets, sizeof(*x->sets), 1) < 0) {
        return nomem(p);
    }
    *set_idx = x->n_sets;
    x->sets[x->n_sets++] = s;
    return next(p);
}

/* "in @name": the environment's list, copied into a new set. */
static int parse_list_ref(struct parser *p, uint32_t *set_idx)
{
    struct ioc_expr *x = p->x;
    struct tok tk = p->tok;
    const char *name = p->text + tk.off + 1;
    size_t nlen = tk.len - 1;
    const struct ioc_list *list = NULL;
    struct set s = {x->n_set_strs, 0, x->n_set_nums, 0};

    if (p->env != NULL && p->env->lookup_list != NULL) {
        list = p->env->lookup_list(p->env->arg, name, nlen);
    }
    if (list == NULL) {
        return fail(p, IOC_EEXPR, tk.off, "unknown list @%.*s",
                    nlen > SHOW_MAX ? SHOW_MAX : (int)nlen, name);
    }
    for (size_t i = 0; i < list->n; i++) {
        const struct ioc_literal *it = &list->items[i];
        if (it->is_num) {
            if (grow(&x->set_nums, x->n_set_nums, &x->cap_set_nums, sizeof(double), 1) < 0) {
                return nomem(p);
            }
            x->set_nums[x->n_set_nums++] = it->num;
            s.nn++;
        } else {
            struct sref r = {NULL, 0, 0};
            size_t len = it->str ? it->len : 0;
            if (add_bytes(p, it->str ? it->str : "", len, &r.off) < 0) {
                return p->rc;
            }
            r.len = (uint32_t)len;
            if (grow(&x->set_strs, x->n_set_strs, &x->cap_set_strs, sizeof(struct sref), 1) < 0) {
                return nomem(p);
            }
            x->set_strs[x->n_set_strs++] = r;
            s.ns++;
        }
    }
    if (grow(&x->sets, x->n_sets, &x->cap_sets, sizeof(*x->sets), 1) < 0) {
        return nomem(p);
    }
    *set_idx = x->n_sets;
    x->sets[x->n_sets++] = s;
    return next(p);
}

static int parse_regex(struct parser *p, uint32_t *re_idx)
{
    struct ioc_expr *x = p->x;
    struct tok tk = p->tok;
    char got[SHOW_MAX + 32];
    uint32_t off, len;
    struct ioc_regex *re;

    if (tk.kind != T_STR) {
        describe(p, &tk, got, sizeof(got));
        return fail(p, IOC_EEXPR, tk.off, "expected a quoted regular expression after '=~', got %s",
                    got);
    }
    if (add_string(p, &tk, &off, &len) < 0) {
        return p->rc;
    }
    if (grow(&x->res, x->n_res, &x->cap_res, sizeof(*x->res), 1) < 0) {
        return nomem(p);
    }
    char why[MSG_MAX - 32];
    int rc = ioc_regex_compile(x->strs + off, &re, why, sizeof why);
    if (rc == IOC_ENOMEM) {
        return nomem(p);
    }
    if (rc != 0) {
        return fail(p, IOC_EEXPR, tk.off, "invalid regular expression: %s", why);
    }
    *re_idx = x->n_res;
    x->res[x->n_res++] = re;
    return next(p);
}

static int parse_cmp(struct parser *p, uint32_t *out)
{
    struct node nd;
    struct opd l, r;
    char got[SHOW_MAX + 32];

    memset(&nd, 0, sizeof(nd));
    if (parse_operand(p, &l) < 0) {
        return p->rc;
    }
    nd.lk = l.kind;
    nd.l = l.a;
    switch (p->tok.kind) {
    case T_EQ:
    case T_NE:
    case T_LT:
    case T_LE:
    case T_GT:
    case T_GE: {
        struct tok op = p->tok;
        nd.op = OP_CMP;
        nd.cmp = (uint8_t)(CMP_EQ + (op.kind - T_EQ));
        if (next(p) < 0) {
            return p->rc;
        }
        if (!starts_operand(p->tok.kind)) {
            describe(p, &p->tok, got, sizeof(got));
            return fail(p, IOC_EEXPR, p->tok.off, "expected a value after '%.*s', got %s",
                        (int)op.len, p->text + op.off, got);
        }
        size_t roff = p->tok.off;
        if (parse_operand(p, &r) < 0) {
            return p->rc;
        }
        nd.rk = r.kind;
        nd.r = r.a;
        if (is_field(p, l.kind, &l.a, IOC_F_SOURCE) && r.kind == K_STR &&
            check_source(p, r.a.s.off, r.a.s.len, roff) < 0) {
            return p->rc;
        }
        if (is_field(p, r.kind, &r.a, IOC_F_SOURCE) && l.kind == K_STR &&
            check_source(p, l.a.s.off, l.a.s.len, op.off) < 0) {
            return p->rc;
        }
        break;
    }
    case T_MATCH:
        nd.op = OP_MATCH;
        if (next(p) < 0 || parse_regex(p, &nd.r.idx) < 0) {
            return p->rc;
        }
        break;
    case T_IN:
        nd.op = OP_IN;
        if (next(p) < 0) {
            return p->rc;
        }
        if (p->tok.kind == T_LBRACK) {
            if (parse_list(p, &l, &nd.r.idx) < 0) {
                return p->rc;
            }
        } else if (p->tok.kind == T_AT) {
            if (parse_list_ref(p, &nd.r.idx) < 0) {
                return p->rc;
            }
        } else {
            describe(p, &p->tok, got, sizeof(got));
            return fail(p, IOC_EEXPR, p->tok.off,
                        "expected a list like [\"a\", \"b\"] or @name after 'in', got %s", got);
        }
        break;
    default:
        if (l.kind == K_EXPR) {
            /* "(a || b)" on its own is that expression. */
            *out = l.a.idx;
            return 0;
        }
        nd.op = OP_TRUTHY;
        break;
    }
    return add_node(p, &nd, out);
}

static int parse_not(struct parser *p, uint32_t *out)
{
    struct node nd;
    size_t at = p->tok.off;

    if (p->tok.kind != T_NOT) {
        return parse_cmp(p, out);
    }
    if (++p->depth > MAX_DEPTH) {
        return fail(p, IOC_EEXPR, at, "the expression is nested too deeply");
    }
    memset(&nd, 0, sizeof(nd));
    nd.op = OP_NOT;
    if (next(p) < 0 || parse_not(p, &nd.l.idx) < 0) {
        return p->rc;
    }
    p->depth--;
    return add_node(p, &nd, out);
}

/* term ( OP term )* for one of && and ||, built right-deep: each new node is
 * hung in the right slot ("hole") of the previous one. */
static int parse_chain(struct parser *p, enum tk tk, enum op op,
                       int (*term)(struct parser *, uint32_t *), uint32_t *out)
{
    struct node nd;
    uint32_t first, hole, item, idx;

    if (term(p, &first) < 0) {
        return p->rc;
    }
    if (p->tok.kind != tk) {
        *out = first;
        return 0;
    }
    memset(&nd, 0, sizeof(nd));
    nd.op = op;
    nd.l.idx = first;
    if (add_node(p, &nd, &hole) < 0) {
        return p->rc;
    }
    *out = hole;
    for (;;) {
        if (next(p) < 0 || term(p, &item) < 0) {
            return p->rc;
        }
        if (p->tok.kind != tk) {
            p->x->nodes[hole].r.idx = item;
            return 0;
        }
        nd.l.idx = item;
        if (add_node(p, &nd, &idx) < 0) {
            return p->rc;
        }
        p->x->nodes[hole].r.idx = idx;
        hole = idx;
    }
}

static int parse_and(struct parser *p, uint32_t *out)
{
    return parse_chain(p, T_AND, OP_AND, parse_not, out);
}

static int parse_or(struct parser *p, uint32_t *out)
{
    return parse_chain(p, T_OR, OP_OR, parse_and, out);
}

/* ---- Constraints for the rule index ----------------------------------- */

struct strset {
    struct sref *v;
    uint32_t n, cap;
};

static bool strset_has(const struct ioc_expr *x, const struct strset *s, const struct sref *r)
{
    for (uint32_t i = 0; i < s->n; i++) {
        if (bytes_cmp(x->strs + s->v[i].off, s->v[i].len, x->strs + r->off, r->len) == 0) {
            return true;
        }
    }
    return false;
}

static int strset_add(const struct ioc_expr *x, struct strset *s, const struct sref *r)
{
    if (strset_has(x, s, r)) {
        return 0;
    }
    if (grow(&s->v, s->n, &s->cap, sizeof(*s->v), 1) < 0) {
        return IOC_ENOMEM;
    }
    s->v[s->n++] = *r;
    return 0;
}

/* Fills *out with the values field f must take for node i to be true.
 * Returns 1 when there is such a set, 0 when not, IOC_ENOMEM. */
static int constrain(const struct ioc_expr *x, uint32_t i, enum ioc_field f, struct strset *out)
{
    const struct node *n = &x->nodes[i];
    const struct ioc_fieldref *fr = x->fields;

    memset(out, 0, sizeof(*out));
    switch ((enum op)n->op) {
    case OP_CMP:
        if (n->cmp != CMP_EQ) {
            return 0;
        }
        if (n->lk == K_FIELD && fr[n->l.idx].f == f && n->rk == K_STR) {
            struct sref r = {NULL, n->r.s.off, n->r.s.len};
            return strset_add(x, out, &r) < 0 ? IOC_ENOMEM : 1;
        }
        if (n->rk == K_FIELD && fr[n->r.idx].f == f && n->lk == K_STR) {
            struct sref r = {NULL, n->l.s.off, n->l.s.len};
            return strset_add(x, out, &r) < 0 ? IOC_ENOMEM : 1;
        }
        return 0;
    case OP_IN:
        if (n->lk == K_FIELD && fr[n->l.idx].f == f) {
            const struct set *s = &x->sets[n->r.idx];
            for (uint32_t k = 0; k < s->ns; k++) {
                if (strset_add(x, out, &x->set_strs[s->s0 + k]) < 0) {
                    return IOC_ENOMEM;
                }
            }
            return 1;
        }
        return 0;
    case OP_AND:
    case OP_OR: {
        bool is_and = n->op == OP_AND, have = false;
        for (;;) {
            const struct node *link = &x->nodes[i];
            bool last = link->op != n->op;
            uint32_t c = last ? i : link->l.idx;
            struct strset t;
            int rc = constrain(x, c, f, &t);
            if (rc < 0 || (rc == 0 && !is_and)) {
                free(t.v);
                free(out->v);
                memset(out, 0, sizeof(*out));
                return rc;
            }
            if (rc == 1 && !have) {
                *out = t;
                t.v = NULL;
                have = true;
            } else if (rc == 1 && is_and) {
                /* Keep what both allow. */
                uint32_t k = 0;
                for (uint32_t j = 0; j < out->n; j++) {
                    if (strset_has(x, &t, &out->v[j])) {
                        out->v[k++] = out->v[j];
                    }
                }
                out->n = k;
            } else if (rc == 1) {
                for (uint32_t j = 0; j < t.n && rc >= 0; j++) {
                    rc = strset_add(x, out, &t.v[j]);
                }
            }
            free(t.v);
            if (rc < 0) {
                free(out->v);
                memset(out, 0, sizeof(*out));
                return rc;
            }
            if (last) {
                return have ? 1 : 0;
            }
            i = link->r.idx;
        }
    }
    case OP_NOT:
    case OP_TRUTHY:
    case OP_MATCH:
        break;
    }
    return 0;
}

static int sref_order(const void *a, const void *b)
{
    const struct sref *x = a, *y = b;
    return bytes_cmp(x->s, x->len, y->s, y->len);
}

static int num_order(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs once parsing is over and x->strs will not move again. */
/* Whether node i is "source == s", "type in [..]" and the like: true exactly
 * when the field's value is in the node's strings, which ioc_expr_constraint
 * passes to the index. An event the index routed to this expression's rule
 * has its source and type in the intersection of such conjuncts, so each of
 * them holds for it. Only leaves qualify: "(type == a && value > 1)" narrows
 * the type but does not hold whenever the type is a. */
static bool index_leaf(const struct ioc_expr *x, uint32_t i)
{
    const struct node *n = &x->nodes[i];
    const struct ioc_fieldref *fr = x->fields;
    /* Only these two kinds have operands; the others' l is a node index. */
    if (n->op != OP_IN && (n->op != OP_CMP || n->cmp != CMP_EQ)) {
        return false;
    }
    bool src_or_type_l = n->lk == K_FIELD && (fr[n->l.idx].f == IOC_F_SOURCE ||
                                               fr[n->l.idx].f == IOC_F_TYPE);
    if (n->op == OP_IN) {
        return src_or_type_l;
    }
    bool src_or_type_r = n->rk == K_FIELD && (fr[n->r.idx].f == IOC_F_SOURCE ||
                                               fr[n->r.idx].f == IOC_F_TYPE);
    return (src_or_type_l && n->rk == K_STR) || (src_or_type_r && n->lk == K_STR);
}

/* Skips the leading conjuncts of the top-level && chain that index_leaf
 * accepts; rules are written "source == .. && type == .. && the rest". */
static void find_indexed_root(struct ioc_expr *x)
{
    uint32_t i = x->root;
    x->indexed_true = false;
    while (x->nodes[i].op == OP_AND && index_leaf(x, x->nodes[i].l.idx)) {
        i = x->nodes[i].r.idx;
    }
    x->indexed_root = i;
    x->indexed_true = x->nodes[i].op != OP_AND && index_leaf(x, i);
}

static int finish(struct ioc_expr *x)
{
    static const enum ioc_field which[2] = {IOC_F_SOURCE, IOC_F_TYPE};

    for (uint32_t i = 0; i < x->n_set_strs; i++) {
        x->set_strs[i].s = x->strs + x->set_strs[i].off;
    }
    for (uint32_t i = 0; i < x->n_sets; i++) {
        const struct set *s = &x->sets[i];
        if (s->ns > 1) {
            qsort(x->set_strs + s->s0, s->ns, sizeof(struct sref), sref_order);
        }
        if (s->nn > 1) {
            qsort(x->set_nums + s->n0, s->nn, sizeof(double), num_order);
        }
    }
    for (int k = 0; k < 2; k++) {
        struct strset t;
        int rc = constrain(x, x->root, which[k], &t);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            x->cons[k].vals = malloc((t.n ? t.n : 1) * sizeof(char *));
            if (x->cons[k].vals == NULL) {
                free(t.v);
                return IOC_ENOMEM;
            }
            for (uint32_t j = 0; j < t.n; j++) {
                x->cons[k].vals[j] = x->strs + t.v[j].off;
            }
            x->cons[k].n = t.n;
            x->cons[k].ok = true;
        }
        free(t.v);
    }
    find_indexed_root(x);
    return 0;
}

int ioc_expr_compile(const char *text, const struct ioc_expr_env *env, struct ioc_expr **out,
                     int *err_col, char *err, size_t errlen)
{
    struct parser p;
    char got[SHOW_MAX + 32];
    int rc;

    *out = NULL;
    memset(&p, 0, sizeof(p));
    p.text = text ? text : "";
    p.len = strlen(p.text);
    p.env = env;
    p.x = calloc(1, sizeof(*p.x));
    if (p.x == NULL) {
        rc = fail(&p, IOC_ENOMEM, 0, "out of memory");
        goto fail;
    }
    if (next(&p) < 0) {
        goto fail;
    }
    if (p.tok.kind == T_END) {
        fail(&p, IOC_EEXPR, 0, "the expression is empty");
        goto fail;
    }
    if (parse_or(&p, &p.x->root) < 0) {
        goto fail;
    }
    if (p.tok.kind == T_RPAREN) {
        fail(&p, IOC_EEXPR, p.tok.off, "unexpected ')' without a '(' before it");
        goto fail;
    }
    if (p.tok.kind != T_END) {
        const char *hint = "";
        if (p.tok.kind == T_IDENT && p.tok.len == 3 && memcmp(p.text + p.tok.off, "and", 3) == 0) {
            hint = " (write && for 'and')";
        } else if (p.tok.kind == T_IDENT && p.tok.len == 2 &&
                   memcmp(p.text + p.tok.off, "or", 2) == 0) {
            hint = " (write || for 'or')";
        }
        describe(&p, &p.tok, got, sizeof(got));
        fail(&p, IOC_EEXPR, p.tok.off, "expected &&, || or the end of the expression, got %s%s",
             got, hint);
        goto fail;
    }
    if (finish(p.x) < 0) {
        fail(&p, IOC_ENOMEM, 0, "out of memory");
        goto fail;
    }
    *out = p.x;
    return 0;

fail:
    rc = p.rc;
    if (err_col != NULL) {
        *err_col = column(p.text, p.err_off);
    }
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", p.msg);
    }
    ioc_expr_free(p.x);
    return rc;
}
