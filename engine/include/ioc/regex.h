/*
 * regex.h — the regular expressions behind "=~" in rule expressions.
 *
 * A pattern is POSIX extended syntax (egrep) over UTF-8 text, matched
 * anywhere in the value: ^ and $ are the value's start and end, '.' matches
 * any character (a Thai character is one, not three bytes), and brackets and
 * ranges work on characters. Backslash classes such as \d and back-references
 * are not POSIX and are refused.
 *
 * Guarantees, whatever the pattern (an analyst's rule file, a reload over
 * the control socket): compiling takes time and memory bounded by the
 * pattern's size, and a pattern whose program would be too large is refused
 * with a message; matching takes time linear in the text and uses bounded
 * memory. There is no pattern that hangs or exhausts the engine.
 *
 * Threads: a compiled regex may be matched from several threads at once.
 */
#ifndef IOC_REGEX_H
#define IOC_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ioc_regex;

/* Compiles a NUL-terminated pattern into *out. Returns 0; IOC_EEXPR with why
 * the pattern is refused in why (for "invalid regular expression: ..."); or
 * IOC_ENOMEM. */
int ioc_regex_compile(const char *pattern, struct ioc_regex **out, char *why, size_t whylen);

/* True when the pattern matches somewhere in the len bytes at s. */
bool ioc_regex_match(const struct ioc_regex *re, const char *s, size_t len);

void ioc_regex_free(struct ioc_regex *re);

#ifdef __cplusplus
}
#endif

#endif
