/*
 * error.h — the one error table of the engine.
 *
 * Every fallible function returns 0 or a negative IOC_E* code. The message for
 * a code comes from the same X-macro that defines it, so a new code cannot be
 * added without its text. The detail (which file, which field) is logged once,
 * where the fault is found; callers only pass the code up.
 */
#ifndef IOC_ERROR_H
#define IOC_ERROR_H

#include <stddef.h>

#define IOC_ERRNO_MAP(X)                                                                           \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(IO, "input/output error")                                                                    \
    X(NOENT, "no such file")                                                                       \
    X(JSON, "invalid JSON")                                                                        \
    X(SCHEMA, "schema violation")                                                                  \
    X(SOURCE, "unknown event source")                                                              \
    X(TOOBIG, "message too large")                                                                 \
    X(ENCODING, "invalid UTF-8")                                                                   \
    X(LATE, "event later than the allowed lateness")                                               \
    X(DUP, "duplicate event")                                                                      \
    X(YAML, "YAML syntax error")                                                                   \
    X(CONFIG, "invalid configuration")                                                             \
    X(RULE, "invalid rule")                                                                        \
    X(EXPR, "invalid expression")                                                                  \
    X(FIELD, "unknown field")                                                                      \
    X(ZMQ, "ZeroMQ error")                                                                         \
    X(UV, "event loop error")                                                                      \
    X(DB, "database error")                                                                        \
    X(PLUGIN, "plugin error")                                                                      \
    X(STATE, "operation not allowed in this state")                                                \
    X(PERM, "not allowed for this operator")

enum ioc_errno {
    IOC_OK = 0,
#define IOC_ERRNO_ENUM_(name, msg) IOC_E##name,
    IOC__EFIRST = -1000,
    IOC_ERRNO_MAP(IOC_ERRNO_ENUM_)
#undef IOC_ERRNO_ENUM_
};

/* The message for an IOC_E* code; never NULL. */
const char *ioc_strerror(int code);
/* The short name of an IOC_E* code ("EJSON"); never NULL. */
const char *ioc_errname(int code);

/* Writes a one-line reason into a caller's buffer (err, errlen), the way
 * functions that return an IOC_E* code explain it; does nothing when err is
 * NULL or errlen 0. */
void ioc_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
