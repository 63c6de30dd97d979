/*
 * expr.h — rule expressions, compiled once at load time.
 *
 * Grammar (lowest precedence first):
 *   expr    := or
 *   or      := and ( "||" and )*
 *   and     := not ( "&&" not )*
 *   not     := "!" not | cmp
 *   cmp     := operand ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) operand
 *                      | "=~" STRING
 *                      | "in" "[" literal ( "," literal )* "]"
 *                      | "in" "@" NAME )?
 *   operand := FIELD | NUMBER | STRING | "true" | "false" | "(" expr ")"
 * FIELD is a dotted name resolved by ioc_fieldref_parse (value, loc.lat,
 * attrs.depth). Strings use double or single quotes with \" \' \\ \n \t
 * escapes and may hold any UTF-8. A bare field as an operand of && || ! is
 * true when present and not false/0/"".
 *
 * Semantics: a comparison with a missing field is false (and so is
 * "missing != x"). Numbers compare as numbers, strings bytewise; comparing a
 * number with a string is false. "=~" uses POSIX extended regular
 * expressions over UTF-8 (see regex.h), compiled at load time in bounded
 * time and memory, and matched in time linear in the text. "in @name" looks
 * the list up through the environment at compile time and copies it.
 *
 * Evaluation never fails, and allocates nothing but the bounded matching
 * cache a regex fills on first use.
 */
#ifndef IOC_EXPR_H
#define IOC_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "ioc/event.h"

struct ioc_expr;

/* One literal of a list: a number or a string. */
struct ioc_literal {
    bool is_num;
    double num;
    const char *str;
    size_t len;
};

/* A named list ("lists:" in a rule file) as the compiler sees it. */
struct ioc_list {
    const char *name;
    const struct ioc_literal *items;
    size_t n;
};

struct ioc_expr_env {
    /* Returns the list called name (len bytes), or NULL if unknown. */
    const struct ioc_list *(*lookup_list)(void *arg, const char *name, size_t len);
    void *arg;
};

/* Compiles text. On error returns IOC_EEXPR (syntax, unknown list, bad regex)
 * or IOC_EFIELD (unknown field), writes a message into err and the 1-based
 * column inside text where the problem starts into *err_col. env may be NULL
 * (then "in @list" is an error). */
int ioc_expr_compile(const char *text, const struct ioc_expr_env *env, struct ioc_expr **out,
                     int *err_col, char *err, size_t errlen);
void ioc_expr_free(struct ioc_expr *x);

/* True when the event satisfies the expression. */
bool ioc_expr_eval(const struct ioc_expr *x, const struct ioc_event *ev);

/* The same answer as ioc_expr_eval, for an event whose source and type are in
 * the sets ioc_expr_constraint gives (when it gives them): the event the rule
 * index routed to x's rule. It skips the leading "source == ..", "type in .."
 * conjuncts, which such an event always satisfies. */
bool ioc_expr_eval_indexed(const struct ioc_expr *x, const struct ioc_event *ev);

/* A test the rule index can decide for many rules at once: a comparison of
 * a field with a literal number (< <= > >= ==) or string (==). */
enum ioc_guard_op { IOC_GUARD_EQ, IOC_GUARD_LT, IOC_GUARD_LE, IOC_GUARD_GT, IOC_GUARD_GE };
struct ioc_expr_guard {
    const struct ioc_fieldref *field; /* borrowed from x */
    enum ioc_guard_op op;             /* field OP literal (a literal on the left is turned round) */
    bool is_str;                      /* the literal is str/len, else num; strings only with EQ */
    double num;
    const char *str; /* borrowed from x */
    size_t len;
};

/* For an event the index routed here (see ioc_expr_eval_indexed): when the
 * first test evaluation would make is such a comparison, joined to the rest
 * by &&, fills *g and returns true; x is then false for every event the
 * guard does not hold for, so its rule need not be visited. The guard holds
 * only for a field value of the literal's kind, as evaluation has it. */
bool ioc_expr_guard(const struct ioc_expr *x, struct ioc_expr_guard *g);

/* For indexing rules: if every event that satisfies x must have field f
 * (IOC_F_SOURCE or IOC_F_TYPE) equal to one of a finite set of strings, fills
 * *vals with that set (borrowed from x, valid while x lives), *n with its size,
 * and returns true. Recognises "f == s", "f in [..]", "f in @list" and those
 * joined by && at the top level (the conjunction's sets intersect; an "||" of
 * such constraints unites them). Otherwise returns false. */
bool ioc_expr_constraint(const struct ioc_expr *x, enum ioc_field f, const char *const **vals,
                         size_t *n);

#endif
