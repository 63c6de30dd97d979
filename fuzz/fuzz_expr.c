/*
 * fuzz_expr.c — the rule-expression compiler and evaluator: bytes ->
 * ioc_expr_compile -> ioc_expr_eval on fixed events -> ioc_expr_free.
 *
 * Expressions come from analysts' rule files (and from `ioc test` and the
 * reload command), so the compiler must refuse anything with a positioned
 * message and never misbehave. The input is the expression text; it is
 * compiled against an environment that knows three lists, so "in @name"
 * reaches the set-building code. A compiled expression is evaluated on every
 * fixed event (each source, present and missing fields, attrs, Thai text)
 * twice, since evaluation must write nothing, and asked for its source and
 * type constraints as the rule index does. A refused one must say why, with
 * a 1-based column inside the text.
 */
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/expr.h"

#include "fuzz.h"

static void check_constraint(const struct ioc_expr *x, enum ioc_field f)
{
    const char *const *vals = NULL;
    size_t n = 0;
    if (ioc_expr_constraint(x, f, &vals, &n)) {
        for (size_t i = 0; i < n; i++) {
            IOC_FUZZ_ASSERT(vals != NULL && vals[i] != NULL, "a constraint without its values");
            (void)strlen(vals[i]);
        }
    }
}

int ioc_fuzz_expr(const uint8_t *data, size_t size)
{
    char *text = ioc_fuzz__cstr(data, size);
    size_t nev = 0;
    const struct ioc_event *evs = ioc_fuzz__events(&nev);
    struct ioc_expr *x = NULL;
    char err[256];
    int col = 0;

    err[0] = '\0';
    int rc = ioc_expr_compile(text, ioc_fuzz__env(), &x, &col, err, sizeof err);
    if (rc != 0) {
        IOC_FUZZ_ASSERT(rc == IOC_EEXPR || rc == IOC_EFIELD, "compile failed with another code");
        IOC_FUZZ_ASSERT(err[0] != '\0', "a refused expression without a message");
        /* Columns count characters, so they can only be fewer than bytes. */
        IOC_FUZZ_ASSERT(col >= 1 && (size_t)col <= strlen(text) + 1, "error column outside");
        IOC_FUZZ_ASSERT(x == NULL, "a refused expression left *out set");
        free(text);
        return 0;
    }
    IOC_FUZZ_ASSERT(x != NULL, "compiled to nothing");
    for (size_t i = 0; i < nev; i++) {
        bool first = ioc_expr_eval(x, &evs[i]);
        IOC_FUZZ_ASSERT(ioc_expr_eval(x, &evs[i]) == first, "evaluation is not repeatable");
    }
    check_constraint(x, IOC_F_SOURCE);
    check_constraint(x, IOC_F_TYPE);
    ioc_expr_free(x);

    /* Without an environment "in @name" must be refused, not crash. */
    x = NULL;
    if (ioc_expr_compile(text, NULL, &x, &col, err, sizeof err) == 0) {
        ioc_expr_free(x);
    }
    free(text);
    return 0;
}
