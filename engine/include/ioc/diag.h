/*
 * diag.h — diagnostics with positions.
 *
 * Loaders (YAML, rules, config) report every error they find, not only the
 * first, as "file:line:column: message". Lines and columns are 1-based; the
 * conversion from libyaml's 0-based marks happens in exactly one place
 * (yaml.c). A diagnostic list owns its strings.
 */
#ifndef IOC_DIAG_H
#define IOC_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct ioc_ynode;

struct ioc_diag {
    char **msgs; /* each "file:line:column: message" (or "file: message" without a position) */
    size_t n;
    size_t cap;
};

void ioc_diag_init(struct ioc_diag *d);
void ioc_diag_close(struct ioc_diag *d); /* frees the messages; accepts a zeroed struct */

/* Appends "file:line:column: <fmt>". line/col <= 0 omit the position. */
void ioc_diag_add(struct ioc_diag *d, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Appends an error positioned at a YAML node (its file, line and column). */
void ioc_diag_at(struct ioc_diag *d, const struct ioc_ynode *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Moves all messages of src to the end of dst. */
void ioc_diag_move(struct ioc_diag *dst, struct ioc_diag *src);
/* Writes every message, one per line. */
void ioc_diag_print(const struct ioc_diag *d, FILE *out);

#endif
