/*
 * source.c — the names of event sources.
 *
 * The event schema's enum of sources is the truth for validation; this table
 * only maps the validated names to the enum the engine indexes rules by.
 */
#include <string.h>

#include "ioc/error.h"
#include "ioc/event.h"

static const char *const source_names[IOC_SRC__COUNT] = {
    [IOC_SRC_SENSOR] = "sensor",
    [IOC_SRC_CCTV] = "cctv",
    [IOC_SRC_COMPLAINT] = "complaint",
    [IOC_SRC_SYSTEM] = "system",
};

const char *ioc_source_name(enum ioc_source s)
{
    if ((int)s < 0 || s >= IOC_SRC__COUNT) {
        return NULL;
    }
    return source_names[s];
}

int ioc_source_parse(const char *name, enum ioc_source *out)
{
    for (int i = 0; i < IOC_SRC__COUNT; i++) {
        if (strcmp(name, source_names[i]) == 0) {
            *out = (enum ioc_source)i;
            return 0;
        }
    }
    return IOC_EINVAL;
}
