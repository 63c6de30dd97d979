/*
 * text.c — the width of UTF-8 text in terminal columns, and cutting it to a
 * cell (text.h).
 *
 * Widths come from two small code-point tables rather than wcwidth(): the
 * answer must not depend on the locale the program happens to run in (a
 * board under LANG=C would otherwise break its columns on Thai), and the
 * tables cover what city data holds: Thai and Lao marks, CJK, emoji.
 *
 * Every byte of the input maps to exactly one glyph: a valid character, a
 * space for a control character, or '?' for a byte that does not start a
 * valid, shortest-form character (only that byte is consumed). Stateless.
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "ioc/text.h"

/* Decodes one UTF-8 character at p. Returns its length in bytes (>= 1) and
 * the code point, or -1 in *cp for a byte that does not start a valid,
 * shortest-form character; then only that one byte is consumed. */
static size_t utf8_next(const unsigned char *p, long *cp)
{
    unsigned char b = p[0];
    size_t n;
    long c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        n = 2, c = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        n = 3, c = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        n = 4, c = b & 0x07, min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) { /* also stops at the NUL terminator */
            *cp = -1;
            return 1;
        }
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return n;
}

struct cp_range {
    long lo, hi;
};

/* Marks that combine with the character before them: Thai and Lao vowel and
 * tone marks above and below the line (the titles of Thai complaints), the
 * generic combining blocks, zero-width spaces and joiners. */
static const struct cp_range zero_width[] = {
    {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a}, {0x064b, 0x065f},
    {0x0e31, 0x0e31}, {0x0e34, 0x0e3a}, {0x0e47, 0x0e4e}, {0x0eb1, 0x0eb1}, {0x0eb4, 0x0ebc},
    {0x0ec8, 0x0ecd}, {0x200b, 0x200f}, {0x202a, 0x202e}, {0x2060, 0x2064}, {0x20d0, 0x20ff},
    {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f}, {0xfeff, 0xfeff},
};

/* East Asian wide and fullwidth characters, and the common emoji blocks. */
static const struct cp_range double_width[] = {
    {0x1100, 0x115f},   {0x2e80, 0x303e},   {0x3041, 0x33ff},   {0x3400, 0x4dbf},
    {0x4e00, 0x9fff},   {0xa000, 0xa4cf},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},
    {0xfe30, 0xfe4f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x1f300, 0x1f64f},
    {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
};

static bool in_ranges(long c, const struct cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c >= r[i].lo && c <= r[i].hi) {
            return true;
        }
    }
    return false;
}

/* What one character of s prints as: the bytes to write and their columns.
 * Returns the bytes of s consumed. */
static size_t glyph(const char *s, const char **out, size_t *outlen, int *cols)
{
    long c;
    size_t n = utf8_next((const unsigned char *)s, &c);
    if (c < 0) {
        *out = "?", *outlen = 1, *cols = 1;
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
        /* C0 and C1 controls: a newline would break a line-per-incident
         * output, an escape would drive the operator's terminal. */
        *out = " ", *outlen = 1, *cols = 1;
    } else {
        *out = s, *outlen = n;
        if (in_ranges(c, zero_width, sizeof zero_width / sizeof zero_width[0])) {
            *cols = 0;
        } else if (in_ranges(c, double_width, sizeof double_width / sizeof double_width[0])) {
            *cols = 2;
        } else {
            *cols = 1;
        }
    }
    return n;
}

int ioc_text_width(const char *s)
{
    int w = 0;
    while (s && *s) {
        const char *out;
        size_t outlen;
        int cols;
        s += glyph(s, &out, &outlen, &cols);
        w += cols;
    }
    return w;
}

/* The cell being written: what fits in buf, and the size the whole would need. */
struct cell_out {
    char *buf;
    size_t n;
    size_t need;    /* bytes the whole cell needs */
    size_t written; /* bytes in buf; only whole pieces, and none after the first misfit */
};

static void put(struct cell_out *o, const char *p, size_t len)
{
    if (o->written == o->need && o->need + len < o->n) {
        memcpy(o->buf + o->written, p, len);
        o->written += len;
    }
    o->need += len;
}

size_t ioc_text_cell(char *buf, size_t n, const char *s, int max, int pad, int *cols)
{
    if (!s) {
        s = "";
    }
    struct cell_out o = {.buf = buf, .n = n};
    bool cut = max > 0 && ioc_text_width(s) > max;
    int limit = cut ? max - 1 : INT_MAX; /* one column kept for the ellipsis */
    int width = 0;
    while (*s) {
        const char *glyph_bytes;
        size_t len;
        int w;
        size_t step = glyph(s, &glyph_bytes, &len, &w);
        /* A mark of zero width after the last character that fits still
         * belongs to it, so it is kept too. */
        if (width + w > limit) {
            break;
        }
        put(&o, glyph_bytes, len);
        width += w;
        s += step;
    }
    if (cut) {
        put(&o, "\xe2\x80\xa6", 3); /* U+2026 HORIZONTAL ELLIPSIS */
        width++;
    }
    for (; width < pad; width++) {
        put(&o, " ", 1);
    }
    if (n > 0) {
        buf[o.written] = '\0';
    }
    if (cols) {
        *cols = width;
    }
    return o.need;
}
