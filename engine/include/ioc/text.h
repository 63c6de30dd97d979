/*
 * text.h — untrusted UTF-8 text (titles, keys, comments, often Thai) laid out
 * in terminal columns.
 *
 * The one place that decides how wide a character is and how a text is cut to
 * fit a column, so that the line console, the full-screen board and the
 * tables of `ioc incidents` agree, and the tests can check it. Stateless and
 * thread-safe.
 */
#ifndef IOC_TEXT_H
#define IOC_TEXT_H

#include <stddef.h>

/* Display columns of UTF-8 text as ioc_text_cell lays it out: Thai vowel and
 * tone marks take none, CJK takes two, control characters print as a space
 * and invalid bytes as '?'. NULL is empty. */
int ioc_text_width(const char *s);

/* Lays s out as a cell of at most max columns (max <= 0: no limit): never
 * cutting inside a character, keeping the zero-width marks that belong to the
 * last character kept, ending a shortened text with an ellipsis (U+2026), then
 * padding with spaces up to pad columns. Control characters become spaces and
 * invalid bytes '?', so the text cannot drive a terminal. Like snprintf,
 * writes what fits into buf (size n; whole characters only, always ended with
 * a NUL when n > 0) and returns the bytes the whole cell needs without the
 * NUL; *cols (when not NULL) gets the cell's columns. s NULL is empty. */
size_t ioc_text_cell(char *buf, size_t n, const char *s, int max, int pad, int *cols);

#endif
