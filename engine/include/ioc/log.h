/*
 * log.h — one line per message on standard error, tagged [component:instance].
 *
 * Faults are logged once, where they are found; callers pass the IOC_E* code
 * up without logging again. The level threshold comes from the IOC_LOG
 * environment variable (error, warn, info, debug; default info), read on each
 * call so the logger keeps no state.
 */
#ifndef IOC_LOG_H
#define IOC_LOG_H

enum ioc_log_level { IOC_LOG_ERROR, IOC_LOG_WARN, IOC_LOG_INFO, IOC_LOG_DEBUG };

void ioc_log(enum ioc_log_level lvl, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ioc_error(tag, ...) ioc_log(IOC_LOG_ERROR, tag, __VA_ARGS__)
#define ioc_warn(tag, ...) ioc_log(IOC_LOG_WARN, tag, __VA_ARGS__)
#define ioc_info(tag, ...) ioc_log(IOC_LOG_INFO, tag, __VA_ARGS__)
#define ioc_debug(tag, ...) ioc_log(IOC_LOG_DEBUG, tag, __VA_ARGS__)

#endif
