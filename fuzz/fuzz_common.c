/*
 * fuzz_common.c — fixtures shared by the fuzz harnesses: the decoder on the
 * embedded event schema, a handful of fixed events, and a list environment.
 *
 * The decoder is the engine's own (ioc_embedded_event_schema, the bytes of
 * schemas/event.schema.json that iocd validates with), so the fuzzer explores
 * the schema the engine really runs. The fixed events are decoded by that
 * decoder too rather than built by hand, so they are events the engine could
 * actually see. Everything here is built once and kept until
 * ioc_fuzz_teardown().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioc/event.h"
#include "ioc/expr.h"

#include "fuzz.h"

extern const char ioc_embedded_event_schema[];
extern const size_t ioc_embedded_event_schema_len;

/* The engine's default engine.max_event_bytes. */
#define MAX_EVENT_BYTES 65536

/* One of each source, every optional field present somewhere, and one with
 * only the required fields, so expressions meet both present and missing
 * fields. The strings outlive the events, whose raw member borrows them. */
static const char *const fixed_json[] = {
    "{\"id\":\"FL-Z02-01-1739\",\"source\":\"sensor\",\"type\":\"water_level\","
    "\"ts\":\"2026-02-11T16:25:39+07:00\",\"device\":\"FL-Z02-01\",\"zone\":\"Z02\","
    "\"loc\":{\"lat\":13.75,\"lon\":100.52},\"value\":2.61,\"unit\":\"m\","
    "\"attrs\":{\"depth\":3,\"ok\":true,\"name\":\"gauge\",\"a\":{\"b\":{\"c\":\"x\"}}}}",
    "{\"id\":\"cam-7\",\"source\":\"cctv\",\"type\":\"smoke\",\"ts\":1770802000000,"
    "\"device\":\"CAM-Z05-03\",\"zone\":\"Z05\",\"score\":0.91,"
    "\"attrs\":{\"frames\":[1,2,3],\"empty\":\"\",\"zero\":0,\"no\":false}}",
    "{\"id\":\"c-1\",\"source\":\"complaint\",\"type\":\"flooding\","
    "\"ts\":\"2026-02-11T08:30:00.250Z\",\"zone\":\"Z03\",\"channel\":\"traffy\","
    "\"text\":\"\\u0e19\\u0e49\\u0e33\\u0e17\\u0e48\\u0e27\\u0e21 \\u0e2b\\u0e21\\u0e49\\u0e2d"
    "\\u0e41\\u0e1b\\u0e25\\u0e07\\u0e23\\u0e30\\u0e40\\u0e1a\\u0e34\\u0e14\","
    "\"loc\":{\"lat\":-90,\"lon\":180}}",
    "{\"id\":\"s\",\"source\":\"system\",\"type\":\"heartbeat\",\"ts\":0}",
};
#define N_FIXED (sizeof fixed_json / sizeof fixed_json[0])

static struct ioc_decoder *decoder;
static struct ioc_event events[N_FIXED];
static bool events_ready;

void ioc_fuzz__fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz: %s\n", file, line, what);
    abort();
}

char *ioc_fuzz__cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    IOC_FUZZ_ASSERT(s != NULL, "out of memory");
    if (size > 0) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

struct ioc_decoder *ioc_fuzz__decoder(void)
{
    if (!decoder) {
        char err[256] = "";
        int rc = ioc_decoder_create(ioc_embedded_event_schema, ioc_embedded_event_schema_len,
                                    MAX_EVENT_BYTES, &decoder, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "fuzz: the embedded schema: %s\n", err);
        }
        IOC_FUZZ_ASSERT(rc == 0 && decoder, "cannot build the decoder");
    }
    return decoder;
}

const struct ioc_event *ioc_fuzz__events(size_t *n)
{
    if (!events_ready) {
        struct ioc_decoder *d = ioc_fuzz__decoder();
        for (size_t i = 0; i < N_FIXED; i++) {
            char reason[256] = "";
            int rc = ioc_decoder_decode(d, fixed_json[i], strlen(fixed_json[i]), 0, &events[i],
                                        reason, sizeof reason);
            if (rc != 0) {
                fprintf(stderr, "fuzz: fixed event %zu: %s\n", i, reason);
            }
            IOC_FUZZ_ASSERT(rc == 0, "a fixed event does not decode");
        }
        events_ready = true;
    }
    *n = N_FIXED;
    return events;
}

/* ---- Lists for "in @name" ------------------------------------------------ */

static const struct ioc_literal zones[] = {
    {false, 0, "Z01", 3}, {false, 0, "Z02", 3}, {false, 0, "Z03", 3}, {false, 0, "", 0}};
static const struct ioc_literal levels[] = {
    {true, 1.5, NULL, 0}, {true, 2.0, NULL, 0}, {true, -0.0, NULL, 0}, {true, 1e308, NULL, 0}};
/* Thai, so the byte-wise set comparisons meet multi-byte UTF-8. */
static const struct ioc_literal words[] = {{false, 0, "\xe0\xb8\x99\xe0\xb9\x89\xe0\xb8\xb3", 9},
                                           {false, 0, "smoke", 5}};
static const struct ioc_list lists[] = {
    {"zones", zones, sizeof zones / sizeof zones[0]},
    {"levels", levels, sizeof levels / sizeof levels[0]},
    {"words", words, sizeof words / sizeof words[0]},
};

static const struct ioc_list *lookup(void *arg, const char *name, size_t len)
{
    (void)arg;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (strlen(lists[i].name) == len && memcmp(lists[i].name, name, len) == 0) {
            return &lists[i];
        }
    }
    return NULL;
}

const struct ioc_expr_env *ioc_fuzz__env(void)
{
    static const struct ioc_expr_env env = {lookup, NULL};
    return &env;
}

void ioc_fuzz_teardown(void)
{
    ioc_fuzz__event_teardown();
    ioc_fuzz__rules_teardown();
    ioc_fuzz__control_teardown();
    if (events_ready) {
        for (size_t i = 0; i < N_FIXED; i++) {
            ioc_event_clear(&events[i]);
        }
        events_ready = false;
    }
    ioc_decoder_destroy(decoder);
    decoder = NULL;
}
