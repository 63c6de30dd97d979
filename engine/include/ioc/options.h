/*
 * options.h — option tables: every configuration key declared once.
 *
 * A table lists each key with its type, default, bounds and description.
 * The same table fills a C struct from a YAML mapping (unknown keys are
 * errors that list the allowed ones, with file:line:column), and prints the
 * help of a plugin or section (iocd --help-plugin NAME).
 */
#ifndef IOC_OPTIONS_H
#define IOC_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ioc/diag.h"

struct ioc_ynode;

enum ioc_opt_type {
    IOC_OPT_STR,      /* char * (owned by the struct; freed by ioc_options_free) */
    IOC_OPT_INT,      /* long long */
    IOC_OPT_DOUBLE,   /* double */
    IOC_OPT_BOOL,     /* bool */
    IOC_OPT_DURATION, /* long long, milliseconds; written "30s", "15m" */
    IOC_OPT_SIZE,     /* long long, bytes; written "64KiB", "1MiB", or a number */
    IOC_OPT_PATH,     /* char *, like STR; a relative path resolves against the directory
                         of the file it was written in (defaults: the working directory) */
};

struct ioc_option {
    const char *name;
    enum ioc_opt_type type;
    const char *def; /* default as it would be written in YAML; NULL = none (empty/0) */
    double min, max; /* bounds for numbers, durations, sizes; ignored when min > max */
    size_t offset;   /* where the value goes in the struct */
    const char *desc;
};

#define IOC_OPTION_END {NULL, IOC_OPT_STR, NULL, 0, 0, 0, NULL}

/* Sets every option of the table to its default. */
int ioc_options_defaults(const struct ioc_option *tab, void *dst);
/* Applies a YAML mapping to dst. Keys listed in skip (NULL-terminated, may be
 * NULL) are ignored, e.g. "plugin". Every problem is added to diag; returns
 * IOC_ECONFIG if there was any. what names the section in messages
 * ("input zmq", "store"). */
int ioc_options_apply(const struct ioc_option *tab, void *dst, const struct ioc_ynode *map,
                      const char *const *skip, const char *what, struct ioc_diag *diag);
/* Frees the strings an option table put into dst. */
void ioc_options_free(const struct ioc_option *tab, void *dst);
/* Prints "  name  type  (default X)  description" for each option. */
void ioc_options_print(const struct ioc_option *tab, FILE *out);
/* Parses "64KiB", "1MiB", "512" into bytes. 0 or IOC_EINVAL. */
int ioc_size_parse(const char *s, long long *out);

#endif
