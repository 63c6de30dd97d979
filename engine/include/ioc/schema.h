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

#endif
