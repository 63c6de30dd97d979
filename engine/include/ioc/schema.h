/*
 * schema.h — a JSON Schema validator for the subset our schemas use.
 *
 * The schema files in schemas/ are the truth about message shapes; the engine
 * reads them at run time and compiles them once into a tree of checks, so no
 * shape is written twice (once in JSON, once in C).
 *
 * Supported keywords: type (a name or a list), properties, required,
 * additionalProperties (boolean or a schema), enum, const, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, minLength, maxLength (in UTF-8 code
 * points), items, minItems, maxItems, anyOf, oneOf, allOf, not, if/then/else,
 * format "date-time" (RFC 3339 with offset), and $ref to "#/definitions/..."
 * or "#/$defs/...". Annotations ($schema, $id, title, description, examples,
 * default, $comment) are ignored; any other keyword is a compile error, so a
 * schema never silently checks less than it says.
 */
#ifndef IOC_SCHEMA_H
#define IOC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct ioc_schema;

/* Compiles the text of a schema. IOC_EJSON or IOC_ESCHEMA with a message. */
int ioc_schema_compile(const char *json, size_t len, struct ioc_schema **out, char *err,
                       size_t errlen);
void ioc_schema_destroy(struct ioc_schema *s);

/* 0 when doc is valid; IOC_ESCHEMA with a reason that names the first failing
 * place as a path, e.g. "value: expected number, got string",
 * "source: \"foo\" is not one of sensor, cctv, complaint, system",
 * "device: required when source is \"sensor\"" is not required; a plain
 * "device: required property missing" is fine. Allocates nothing when valid. */
int ioc_schema_validate(const struct ioc_schema *s, const struct cJSON *doc, char *reason,
                        size_t n);

/* ---- For the ingest decoder, which builds no tree ----------------------- */

/* A JSON value as the ingest decoder (event.c) saw it in the bytes. */
enum ioc_jkind { IOC_J_NULL, IOC_J_BOOL, IOC_J_NUM, IOC_J_STR, IOC_J_ARR, IOC_J_OBJ };

struct ioc_jmember;

struct ioc_jval {
    enum ioc_jkind kind;
    bool b;     /* IOC_J_BOOL */
    double num; /* IOC_J_NUM, as strtod reads it */
    const char *str; /* IOC_J_STR: unescaped, NUL-terminated, len bytes (borrowed) */
    size_t len;
    /* IOC_J_OBJ: the members in document order, when the decoder kept them
     * (members_kept); it keeps them only where ioc_schema_wants_members says. */
    const struct ioc_jmember *members;
    size_t nmembers;
    bool members_kept;
    const char *text; /* the value's JSON text in the message (borrowed) */
    size_t text_len;
};

struct ioc_schema_node;

struct ioc_jmember {
    const char *key; /* unescaped, NUL-terminated, key_len bytes (borrowed) */
    size_t key_len;
    struct ioc_jval v;
    /* Where ioc_schema_member found the key: the object's node and the index
     * of the property in it (-1: none), so validation need not look again. */
    const struct ioc_schema_node *node;
    int prop;
};

/* The answer of ioc_schema_check_jval when a check needs what the value does
 * not carry (members not kept, array items): the caller must decide another way. */
#define IOC_SCHEMA_UNSUPPORTED 1

/* Validates v against the whole schema, silently, allocating nothing:
 * 0, IOC_ESCHEMA, or IOC_SCHEMA_UNSUPPORTED. Agrees with ioc_schema_validate
 * on every document the value describes completely. */
int ioc_schema_check_jval(const struct ioc_schema *s, const struct ioc_jval *v);

/* A place in the compiled schema, to steer the decoder while it reads. */
const struct ioc_schema_node *ioc_schema_root(const struct ioc_schema *s);
/* The node that checks the member key (len bytes) of an object at n, or NULL when none
 * does directly (then the decoder keeps nothing below it); *prop receives the
 * key's index in n's property table, or -1. n may be NULL. */
const struct ioc_schema_node *ioc_schema_member(const struct ioc_schema_node *n, const char *key,
                                                size_t len, int *prop);
/* Whether an object at n is checked member by member (so the decoder must
 * keep them); false for an object any content satisfies, like attrs. */
bool ioc_schema_wants_members(const struct ioc_schema_node *n);

#endif
