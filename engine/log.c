/*
 * log.c — one line per message on standard error: "LEVEL [tag] message".
 *
 * The threshold is read from IOC_LOG on each call rather than cached, so the
 * logger keeps no state of its own; logging is never on the per-event path.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioc/log.h"

static enum ioc_log_level threshold(void)
{
    const char *s = getenv("IOC_LOG");
    if (!s) {
        return IOC_LOG_INFO;
    }
    if (strcmp(s, "error") == 0) {
        return IOC_LOG_ERROR;
    }
    if (strcmp(s, "warn") == 0) {
        return IOC_LOG_WARN;
    }
    if (strcmp(s, "debug") == 0) {
        return IOC_LOG_DEBUG;
    }
    return IOC_LOG_INFO;
}

void ioc_log(enum ioc_log_level lvl, const char *tag, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (lvl > threshold()) {
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One fprintf per line so lines from two threads never interleave. */
    fprintf(stderr, "%-5s [%s] %s\n", names[lvl], tag ? tag : "-", msg);
}
