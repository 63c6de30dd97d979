/*
 * event.h — one decoded, validated event, and how rules read its fields.
 *
 * The decoder turns raw bytes (a ZeroMQ frame, a line of a .jsonl file) into
 * a struct ioc_event: it checks the size, the UTF-8, the JSON, and the event
 * schema (schemas/event.schema.json, read at run time), then lifts the
 * standard fields into typed members so that matching never searches the JSON
 * for them. No tree is built: attrs.* stays JSON text inside the raw bytes and
 * is looked up by path when a rule asks.
 *
 * Threads: a decoder is used by one thread at a time.
 */
#ifndef IOC_EVENT_H
#define IOC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ioc_schema;

enum ioc_source {
    IOC_SRC_SENSOR,
    IOC_SRC_CCTV,
    IOC_SRC_COMPLAINT,
    IOC_SRC_SYSTEM,
    IOC_SRC__COUNT
};

/* "sensor" ... ; NULL for an out-of-range value. */
const char *ioc_source_name(enum ioc_source s);
/* 0 and *out on success, IOC_EINVAL for an unknown name. */
int ioc_source_parse(const char *name, enum ioc_source *out);

enum {
    IOC_HAS_VALUE = 1u << 0,
    IOC_HAS_SCORE = 1u << 1,
    IOC_HAS_LOC = 1u << 2,
};

/* Bytes of string storage inside the event itself: events shorter than this
 * (nearly all) are decoded without any allocation. */
#define IOC_EVENT_INLINE 1024

struct ioc_event {
    /* Strings are NUL-terminated, in the event's store; NULL when absent. */
    const char *id;
    const char *type;
    const char *device;
    const char *zone;
    const char *unit;
    const char *channel;
    const char *text;
    enum ioc_source source;
    int64_t ts;       /* event time, ms since the epoch */
    int64_t received; /* wall clock when it arrived, ms since the epoch */
    double value, score, lat, lon;
    unsigned has;      /* IOC_HAS_* bits for value, score, loc */
    const char *raw;   /* the bytes it came from (borrowed, valid during processing) */
    size_t raw_len;
    const char *attrs; /* the JSON text of the attrs object inside raw; NULL when absent */
    size_t attrs_len;
    /* Unescaped strings, each at the offset of its text in raw (so the store
     * has raw_len + 1 bytes): inline_store, or a heap block the event owns
     * (store_owned) for a large event. attrs.* strings are unescaped into it
     * when a rule reads them. Because the store may be inline, an event must
     * not be copied by value once decoded. */
    char *store;
    bool store_owned;
    char inline_store[IOC_EVENT_INLINE]; /* last: clearing an event zeroes what precedes it */
};

/* Frees what the event owns (a large event's store) and zeroes its members;
 * accepts a zeroed event. */
void ioc_event_clear(struct ioc_event *ev);

/* ---- Fields as rules see them ---------------------------------------- */

enum ioc_field {
    IOC_F_ID,
    IOC_F_SOURCE,
    IOC_F_TYPE,
    IOC_F_TS,
    IOC_F_DEVICE,
    IOC_F_ZONE,
    IOC_F_VALUE,
    IOC_F_UNIT,
    IOC_F_SCORE,
    IOC_F_CHANNEL,
    IOC_F_TEXT,
    IOC_F_LAT, /* loc.lat */
    IOC_F_LON, /* loc.lon */
    IOC_F_ATTR /* attrs.<path> */
};

/* A field reference resolved once, at load time. */
struct ioc_fieldref {
    enum ioc_field f;
    char *path; /* IOC_F_ATTR only: the dotted path below attrs (owned) */
};

/* Resolves "value", "loc.lat", "attrs.depth", "attrs.a.b" ... name is len bytes
 * (not necessarily NUL-terminated). Returns IOC_EFIELD for a name the event
 * schema does not have. The caller frees with ioc_fieldref_close(). */
int ioc_fieldref_parse(const char *name, size_t len, struct ioc_fieldref *out);
void ioc_fieldref_close(struct ioc_fieldref *ref);
/* The canonical name of a field ("loc.lat", "attrs.depth") into buf. */
const char *ioc_fieldref_name(const struct ioc_fieldref *ref, char *buf, size_t n);

enum ioc_vtype { IOC_V_MISSING, IOC_V_NUM, IOC_V_STR, IOC_V_BOOL };

struct ioc_value {
    enum ioc_vtype t;
    double num;      /* IOC_V_NUM; IOC_V_BOOL as 0/1 */
    const char *str; /* IOC_V_STR, borrowed from the event */
    size_t len;
};

/* Reads a field of an event without allocating. source gives its name as a
 * string, ts its milliseconds as a number. */
struct ioc_value ioc_event_get(const struct ioc_event *ev, const struct ioc_fieldref *ref);

/* ---- Decoder ----------------------------------------------------------- */

struct ioc_decoder;

/* Short reason codes stored in rejects.reason. */
#define IOC_REJECT_JSON "json"
#define IOC_REJECT_SCHEMA "schema"
#define IOC_REJECT_SOURCE "source"
#define IOC_REJECT_SIZE "size"
#define IOC_REJECT_ENCODING "encoding"
#define IOC_REJECT_LATE "late"

/* Creates a decoder from the text of the event JSON Schema. max_bytes is the
 * size limit of one event. On a schema that cannot be used returns IOC_ESCHEMA
 * with a message in err. */
int ioc_decoder_create(const char *schema_json, size_t schema_len, size_t max_bytes,
                       struct ioc_decoder **out, char *err, size_t errlen);
void ioc_decoder_destroy(struct ioc_decoder *d);

/* Decodes and validates one event. On success returns 0 and fills *ev (the
 * caller clears it with ioc_event_clear); ev->raw borrows bytes. On failure
 * returns IOC_ETOOBIG, IOC_EENCODING, IOC_EJSON, IOC_ESOURCE (a source the
 * schema does not know) or IOC_ESCHEMA (IOC_ENOMEM only when an event of
 * IOC_EVENT_INLINE bytes or more finds no memory for its store), leaves *ev
 * cleared, and writes a human-readable reason naming the field or byte offset
 * ("value: expected a number, got a string", "invalid JSON at byte 17") into
 * reason. received is stored into ev->received. Strings of the event live in
 * the event (see struct ioc_event); attrs.* read from bytes, which must stay
 * valid while the event is read. */
int ioc_decoder_decode(struct ioc_decoder *d, const char *bytes, size_t len, int64_t received,
                       struct ioc_event *ev, char *reason, size_t reasonlen);

/* The reference decoder: the same verdict as ioc_decoder_decode, reached
 * through a cJSON tree and ioc_schema_validate, with the reason. Decode asks
 * it for the reason of every reject (the fast path only finds verdicts); the
 * event fuzzer checks that the two agree. 0 or the code decode would return. */
int ioc_decoder_explain(struct ioc_decoder *d, const char *bytes, size_t len, char *reason,
                        size_t reasonlen);

/* The value of the JSON number text p[0..n), exactly as strtod (and so cJSON)
 * reads it. p must be valid JSON text that goes on after the number (as in a
 * decoded message), unless n is under 64. For the decoder and attrs lookups. */
double ioc__json_number(const char *p, size_t n);

/* Decodes the escapes of the n-byte body (between the quotes) of a JSON
 * string the decoder already checked into out, which has room for n bytes;
 * returns the decoded length (never more than n). No NUL is written. */
size_t ioc__json_unescape(const char *body, size_t n, char *out);

/* The reject reason code (IOC_REJECT_*) for a decode error code. */
const char *ioc_reject_reason(int code);

/* ---- Time --------------------------------------------------------------- */

/* Parses RFC 3339 with an offset ("2026-02-11T00:00:00+07:00", "...Z",
 * fractional seconds allowed) into ms since the epoch. 0 or IOC_EINVAL. */
int ioc_time_parse(const char *s, int64_t *out_ms);
/* Formats ms since the epoch as RFC 3339 in the process's local time zone
 * (TZ), with its offset, e.g. "2026-02-11T00:00:00+07:00"; milliseconds are
 * printed only when not zero. buf needs 40 bytes. Returns buf. */
char *ioc_time_format(int64_t ms, char *buf, size_t n);
/* Wall clock, ms since the epoch. */
int64_t ioc_time_now_ms(void);

#endif
