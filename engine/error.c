/*
 * error.c — messages for the IOC_E* codes, generated from IOC_ERRNO_MAP.
 */
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
