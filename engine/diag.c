/*
 * diag.c — a list of positioned error messages.
 *
 * Loaders collect every problem of a file here and print them together, so
 * an analyst fixes a rule file in one pass. A list owns its strings. Adding a
 * message cannot fail from the caller's point of view: when memory runs out
 * the message is replaced by a fixed text (never freed), and if even the
 * array cannot grow the message is dropped; the loader's return code still
 * says that the file failed.
 *
 * Threads: a list belongs to whoever holds it; there is no shared state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioc/diag.h"
#include "ioc/yaml.h"

/* Stands in for a message that could not be allocated; compared by address. */
static const char oom_msg[] = "out of memory while reporting an error";

void ioc_diag_init(struct ioc_diag *d)
{
    d->msgs = NULL;
    d->n = 0;
    d->cap = 0;
}

void ioc_diag_close(struct ioc_diag *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        if (d->msgs[i] != oom_msg) {
            free(d->msgs[i]);
        }
    }
    free(d->msgs);
    ioc_diag_init(d);
}

/* Takes ownership of msg (which may be NULL after a failed allocation). */
static void push(struct ioc_diag *d, char *msg)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **msgs = realloc(d->msgs, cap * sizeof(*msgs));
        if (msgs == NULL) {
            free(msg);
            return;
        }
        d->msgs = msgs;
        d->cap = cap;
    }
    d->msgs[d->n++] = msg ? msg : (char *)oom_msg;
}

static void vadd(struct ioc_diag *d, const char *file, int line, int col, const char *fmt,
                 va_list ap)
{
    char prefix[64];
    char *body = NULL;
    char *msg = NULL;

    if (d == NULL) {
        return;
    }
    if (vasprintf(&body, fmt, ap) < 0) {
        body = NULL;
        goto fail;
    }
    if (line > 0 && col > 0) {
        snprintf(prefix, sizeof(prefix), ":%d:%d: ", line, col);
    } else if (line > 0) {
        snprintf(prefix, sizeof(prefix), ":%d: ", line);
    } else {
        snprintf(prefix, sizeof(prefix), ": ");
    }
    if (file == NULL) {
        /* Without a file a position alone would be meaningless. */
        push(d, body);
        return;
    }
    if (asprintf(&msg, "%s%s%s", file, prefix, body) < 0) {
        msg = NULL;
    }
fail:
    free(body);
    push(d, msg);
}

void ioc_diag_add(struct ioc_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(d, file, line, col, fmt, ap);
    va_end(ap);
}

void ioc_diag_at(struct ioc_diag *d, const struct ioc_ynode *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (node != NULL) {
        vadd(d, node->file, node->line, node->col, fmt, ap);
    } else {
        vadd(d, NULL, 0, 0, fmt, ap);
    }
    va_end(ap);
}

void ioc_diag_move(struct ioc_diag *dst, struct ioc_diag *src)
{
    if (src == NULL || src == dst) {
        return;
    }
    if (dst == NULL) {
        ioc_diag_close(src);
        return;
    }
    for (size_t i = 0; i < src->n; i++) {
        char *m = src->msgs[i];
        push(dst, m == oom_msg ? NULL : m);
    }
    /* The strings now belong to dst; free only src's array. */
    free(src->msgs);
    ioc_diag_init(src);
}

void ioc_diag_print(const struct ioc_diag *d, FILE *out)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        fprintf(out, "%s\n", d->msgs[i]);
    }
}
