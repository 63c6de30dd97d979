/*
 * error.c — messages for the IOC_E* codes, generated from IOC_ERRNO_MAP, and
 * the one helper that writes a reason into a caller's buffer.
 */
#include <stdarg.h>
#include <stdio.h>

#include "ioc/error.h"

const char *ioc_strerror(int code)
{
    switch (code) {
    case IOC_OK:
        return "success";
#define IOC_ERRNO_MSG_(name, msg)                                                                  \
    case IOC_E##name:                                                                              \
        return msg;
        IOC_ERRNO_MAP(IOC_ERRNO_MSG_)
#undef IOC_ERRNO_MSG_
    }
    return "unknown error";
}

const char *ioc_errname(int code)
{
    switch (code) {
    case IOC_OK:
        return "OK";
#define IOC_ERRNO_NAME_(name, msg)                                                                 \
    case IOC_E##name:                                                                              \
        return "E" #name;
        IOC_ERRNO_MAP(IOC_ERRNO_NAME_)
#undef IOC_ERRNO_NAME_
    }
    return "EUNKNOWN";
}

void ioc_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
