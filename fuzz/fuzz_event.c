/*
 * fuzz_event.c — the event decoder: bytes off the wire -> ioc_decoder_decode.
 *
 * This is the engine's widest door: every ZeroMQ frame and every line of a
 * .jsonl file goes through it before anything else looks at it. The input is
 * one message, decoded against the embedded event schema exactly as iocd
 * does. Beyond what the sanitizers catch, the harness checks decode's
 * contract in event.h: a failure has one of the documented codes, a
 * non-empty reason and a cleared event; a success has the required fields,
 * and borrows the input bytes. The decoder's fast path (no tree) must agree
 * with its reference (cJSON and the schema validator) on every input: an
 * accepted event is checked against the reference, and so is every reject
 * (the same code and reason, never an accept). A decoded
 * event is then read the way rules read it (every field through
 * ioc_event_get, attrs.* found in the raw text, a set of compiled expressions
 * over all operators, its time formatted) and cleared.
 */
#include <stdio.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/expr.h"

#include "fuzz.h"

/* Each operator and each kind of field at least once; compiled on first use. */
static const char *const exprs_text[] = {
    "source == \"sensor\" && type == \"water_level\" && value >= 1.5",
    "score >= 0.8 || !(zone in @zones) && device != 'x'",
    "text =~ \"น้ำ|ไฟ(ไหม้)?\" || channel in ['app', 'traffy', \"line\"]",
    "loc.lat < 14 && loc.lon > 100 || ts > 1700000000000",
    "attrs.depth > 2 && attrs.ok && attrs.name == 'gauge' && attrs.a.b.c == 'x'",
    "attrs.frames || attrs.empty || attrs.zero || !attrs.no || unit =~ '^m$'",
    "value in @levels || id in ['1', 2, 'c-1'] || type in @words",
    "!(source == \"system\") && (id != '' || value <= -1e308 || score < 0)",
};
#define N_EXPRS (sizeof exprs_text / sizeof exprs_text[0])

static const char *const field_names[] = {
    "id",      "source",      "type",        "ts",           "device",        "zone",
    "value",   "unit",        "score",       "channel",      "text",          "loc.lat",
    "loc.lon", "attrs.depth", "attrs.a.b.c", "attrs.frames", "attrs.x.y.z.w", "attrs.ok",
};
#define N_FIELDS (sizeof field_names / sizeof field_names[0])

static struct ioc_expr *exprs[N_EXPRS];
static struct ioc_fieldref fields[N_FIELDS];
static bool ready;

static void prepare(void)
{
    for (size_t i = 0; i < N_EXPRS; i++) {
        char err[256] = "";
        int col = 0;
        int rc = ioc_expr_compile(exprs_text[i], ioc_fuzz__env(), &exprs[i], &col, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "fuzz_event: expression %zu, column %d: %s\n", i, col, err);
        }
        IOC_FUZZ_ASSERT(rc == 0, "a fixed expression does not compile");
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        int rc = ioc_fieldref_parse(field_names[i], strlen(field_names[i]), &fields[i]);
        IOC_FUZZ_ASSERT(rc == 0, "a fixed field name does not resolve");
    }
    ready = true;
}

void ioc_fuzz__event_teardown(void)
{
    if (!ready) {
        return;
    }
    for (size_t i = 0; i < N_EXPRS; i++) {
        ioc_expr_free(exprs[i]);
        exprs[i] = NULL;
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        ioc_fieldref_close(&fields[i]);
    }
    ready = false;
}

/* Reads the event as rules do; the results only have to be well-formed. */
static void read_event(const struct ioc_event *ev)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        struct ioc_value v = ioc_event_get(ev, &fields[i]);
        if (v.t == IOC_V_STR) {
            IOC_FUZZ_ASSERT(v.str != NULL, "a string field without text");
            /* The length is the reader's promise: touch the last byte. */
            volatile char last = v.len ? v.str[v.len - 1] : 0;
            (void)last;
        }
    }
    unsigned matched = 0;
    for (size_t i = 0; i < N_EXPRS; i++) {
        matched += ioc_expr_eval(exprs[i], ev);
    }
    (void)matched;
    char buf[40];
    IOC_FUZZ_ASSERT(ioc_time_format(ev->ts, buf, sizeof buf) == buf, "time format");
}

int ioc_fuzz_event(const uint8_t *data, size_t size)
{
    if (!ready) {
        prepare();
    }
    struct ioc_event ev;
    char reason[512];
    int rc = ioc_decoder_decode(ioc_fuzz__decoder(), (const char *)data, size, 1, &ev, reason,
                                sizeof reason);
    if (rc != 0) {
        IOC_FUZZ_ASSERT(rc == IOC_ETOOBIG || rc == IOC_EENCODING || rc == IOC_EJSON ||
                            rc == IOC_ESOURCE || rc == IOC_ESCHEMA,
                        "decode failed with an undocumented code");
        IOC_FUZZ_ASSERT(strcmp(ioc_reject_reason(rc), "invalid") != 0, "no reject reason");
        IOC_FUZZ_ASSERT(reason[0] != '\0', "a reject without a reason");
        IOC_FUZZ_ASSERT(memchr(reason, '\0', sizeof reason) != NULL, "reason not terminated");
        IOC_FUZZ_ASSERT(ev.store == NULL && ev.id == NULL && ev.has == 0, "event not cleared");
        /* Every reject's reason comes from the reference: asked again, it must
         * refuse with the same code and words. Accepting would mean the fast
         * path refused a valid event. (Not judged by the words alone: a
         * message may quote anything, the decoder's own wording included.) */
        char ref_why[512];
        int ref_rc = ioc_decoder_explain(ioc_fuzz__decoder(), (const char *)data, size, ref_why,
                                         sizeof ref_why);
        IOC_FUZZ_ASSERT(ref_rc != 0, "the fast decoder refused an event the reference accepts");
        IOC_FUZZ_ASSERT(ref_rc == rc && strcmp(ref_why, reason) == 0,
                        "the reject differs from the reference's");
        return 0;
    }
    /* And the other way round: the fast path accepts nothing the reference refuses. */
    char ref_reason[512];
    IOC_FUZZ_ASSERT(ioc_decoder_explain(ioc_fuzz__decoder(), (const char *)data, size, ref_reason,
                                        sizeof ref_reason) == 0,
                    "the fast decoder accepted an event the reference refuses");
    IOC_FUZZ_ASSERT(ev.store != NULL && ev.id != NULL && ev.type != NULL, "required fields");
    IOC_FUZZ_ASSERT((unsigned)ev.source < IOC_SRC__COUNT, "source out of range");
    IOC_FUZZ_ASSERT(ev.raw == (const char *)data && ev.raw_len == size, "raw bytes");
    read_event(&ev);
    ioc_event_clear(&ev);
    IOC_FUZZ_ASSERT(ev.store == NULL, "ioc_event_clear left the store");
    return 0;
}
