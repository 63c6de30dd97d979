/*
 * yaml.h — a YAML document as a tree that keeps positions.
 *
 * libyaml's event stream is turned into a tree of ioc_ynode. Every node keeps
 * the file name and its 1-based line and column, so that semantic errors found
 * later ("unknown list @x", "grade 7 out of range") still point at the text.
 * The tree owns all its strings; the file name is shared by all nodes of one
 * document and owned by the root.
 */
#ifndef IOC_YAML_H
#define IOC_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "ioc/diag.h"

enum ioc_ykind { IOC_Y_SCALAR, IOC_Y_SEQ, IOC_Y_MAP };

struct ioc_ynode {
    enum ioc_ykind kind;
    const char *file; /* shared, owned by the root */
    int line;         /* 1-based */
    int col;          /* 1-based */
    /* IOC_Y_SCALAR */
    char *str;   /* NUL-terminated text of the scalar */
    size_t len;  /* its length */
    bool quoted; /* written with quotes: never a number, bool or null */
    /* IOC_Y_SEQ: items[0..n); IOC_Y_MAP: keys[i] (scalars) -> items[i] */
    size_t n;
    struct ioc_ynode **items;
    struct ioc_ynode **keys;
};

/* Parses one YAML document from text. file is used only for positions.
 * On error appends "file:line:column: message" to diag, returns IOC_EYAML and
 * sets *out to NULL. An empty document gives an empty map. Aliases and
 * anchors are refused with a positioned error. */
int ioc_yaml_parse(const char *file, const char *text, size_t len, struct ioc_ynode **out,
                   struct ioc_diag *diag);
/* Reads and parses a file; IOC_ENOENT/IOC_EIO with a diagnostic when unreadable. */
int ioc_yaml_load(const char *path, struct ioc_ynode **out, struct ioc_diag *diag);
/* Frees a tree from its root; accepts NULL. */
void ioc_yaml_free(struct ioc_ynode *root);

/* Value of key in a map, or NULL (also NULL when map is not a map). */
const struct ioc_ynode *ioc_ymap_get(const struct ioc_ynode *map, const char *key);
/* Key node for key in a map, or NULL (for error positions). */
const struct ioc_ynode *ioc_ymap_key(const struct ioc_ynode *map, const char *key);

/* Scalar conversions. Each returns 0 on success or IOC_EINVAL, and appends a
 * positioned message "expected <what>, got '<text>'" to diag when diag != NULL. */
int ioc_ynode_number(const struct ioc_ynode *n, double *out, struct ioc_diag *diag);
int ioc_ynode_int(const struct ioc_ynode *n, long long *out, struct ioc_diag *diag);
int ioc_ynode_bool(const struct ioc_ynode *n, bool *out, struct ioc_diag *diag);
/* Durations "500ms 30s 15m 2h 1d" (a bare number is seconds) into milliseconds. */
int ioc_ynode_duration(const struct ioc_ynode *n, long long *out_ms, struct ioc_diag *diag);
/* Parses a duration string; same grammar as above. 0 or IOC_EINVAL. */
int ioc_duration_parse(const char *s, long long *out_ms);
/* A scalar's text, or NULL with "expected a string" in diag when not a scalar. */
const char *ioc_ynode_str(const struct ioc_ynode *n, struct ioc_diag *diag);
/* Kind as a word for messages: "a string", "a list", "a mapping". */
const char *ioc_ykind_name(enum ioc_ykind k);

#endif
