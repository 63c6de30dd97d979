/*
 * cap.c — CAP 1.2 alerts: validation, XML rendering, reading the JSON form.
 *
 * Owns nothing long-lived: every function works on the caller's struct and
 * returns; strings are borrowed, the only allocation is the XML text handed
 * to the caller. No state, so any thread may call it.
 *
 * Invariants of what ioc_cap_render writes:
 * - it is only ever the rendering of a struct that passed ioc_cap_validate,
 *   so a public warning is never published half-valid;
 * - elements come in the order of the CAP 1.2 schema (xsd:sequence), optional
 *   ones are left out rather than written empty;
 * - every text is well-formed UTF-8 made of XML 1.0 characters, with & < > " '
 *   escaped, and '\r' written as a character reference so an XML parser's
 *   newline normalisation cannot change the text.
 * Thai (or any) text passes through byte for byte: only the five markup
 * characters and '\r' are ever rewritten.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ioc/cap.h"
#include "ioc/error.h"
#include "ioc/event.h"

/* ---- Enumerations (CAP 1.2 section 3.2) ------------------------------------- */

static const char *const statuses[] = {"Actual", "Exercise", "System", "Test", "Draft", NULL};
static const char *const msg_types[] = {"Alert", "Update", "Cancel", NULL};
static const char *const categories[] = {"Geo",   "Met",    "Safety", "Security",  "Rescue",
                                         "Fire",  "Health", "Env",    "Transport", "Infra",
                                         "CBRNE", "Other",  NULL};
static const char *const urgencies[] = {"Immediate", "Expected", "Future", "Past", "Unknown", NULL};
static const char *const severities[] = {"Extreme", "Severe", "Moderate", "Minor", "Unknown", NULL};
static const char *const certainties[] = {"Observed", "Likely",  "Possible",
                                          "Unlikely", "Unknown", NULL};

static bool empty(const char *s)
{
    return !s || !*s;
}

static int fail(char *why, size_t n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t n, int code, const char *fmt, ...)
{
    if (why && n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int check_enum(const char *field, const char *v, const char *const *names, char *why,
                      size_t n)
{
    if (empty(v)) {
        return fail(why, n, IOC_EINVAL, "%s: required", field);
    }
    for (size_t i = 0; names[i]; i++) {
        if (strcmp(v, names[i]) == 0) {
            return 0;
        }
    }
    /* Name the allowed values: the fix is then obvious from the log line. */
    char list[160] = "";
    size_t used = 0;
    for (size_t i = 0; names[i] && used < sizeof list; i++) {
        int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    return fail(why, n, IOC_EINVAL, "%s: '%.40s' is not one of %s", field, v, list);
}

/* ---- Text checks -------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7, so no
 * overlongs and no surrogates) that is also an XML 1.0 Char; 0 when not. */
static size_t xml_char_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) {
        /* XML 1.0 has no place for the other C0 controls, escaped or not. */
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    }
    size_t len;
    unsigned cp, lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) {
            return 0;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    return (cp == 0xFFFE || cp == 0xFFFF) ? 0 : len;
}

static int check_text(const char *field, const char *s, char *why, size_t n)
{
    if (!s) {
        return 0;
    }
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = xml_char_len(p);
        if (k == 0) {
            return fail(why, n, IOC_EENCODING,
                        "%s: byte %zu is not UTF-8 text XML can carry (0x%02x)", field,
                        (size_t)(p - (const unsigned char *)s), *p);
        }
        p += k;
    }
    return 0;
}

/* CAP 3.2.1: identifier and sender "MUST NOT include spaces, commas or
 * restricted characters (< and &)"; they are joined with commas and spaces in
 * references, which is why. */
static int check_token(const char *field, const char *s, size_t len, char *why, size_t n)
{
    if (len == 0) {
        return fail(why, n, IOC_EINVAL, "%s: required", field);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == ',' || c == '<' || c == '&' || c == 0x7F) {
            return fail(why, n, IOC_EINVAL,
                        "%s: '%.*s' has a space, comma, control, '<' or '&' (CAP forbids them)",
                        field, (int)(len < 60 ? len : 60), s);
        }
    }
    return 0;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

/* CAP's dateTime: "YYYY-MM-DDThh:mm:ss+hh:mm", exactly 25 characters. */
static int check_time(const char *field, const char *s, size_t len, char *why, size_t n)
{
    int64_t ms;
    char tmp[32];
    if (len == 0) {
        return fail(why, n, IOC_EINVAL, "%s: required", field);
    }
    bool shape = len == 25 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) && s[7] == '-' &&
                 digits(s + 8, 2) && s[10] == 'T' && digits(s + 11, 2) && s[13] == ':' &&
                 digits(s + 14, 2) && s[16] == ':' && digits(s + 17, 2) &&
                 (s[19] == '+' || s[19] == '-') && digits(s + 20, 2) && s[22] == ':' &&
                 digits(s + 23, 2);
    if (shape) {
        memcpy(tmp, s, len);
        tmp[len] = '\0';
    }
    /* The shape alone would pass a 13th month: the parser checks the calendar. */
    if (!shape || ioc_time_parse(tmp, &ms) != 0) {
        return fail(why, n, IOC_EINVAL,
                    "%s: '%.*s' is not YYYY-MM-DDThh:mm:ss+hh:mm (CAP allows no fractional "
                    "seconds and no Z)",
                    field, (int)(len < 40 ? len : 40), s);
    }
    return 0;
}

/* Space-separated "sender,identifier,sent" triples. */
static int check_references(const char *s, char *why, size_t n)
{
    const char *p = s;
    int count = 0;
    while (*p) {
        if (*p == ' ') {
            p++;
            continue;
        }
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *c1 = memchr(p, ',', len);
        const char *c2 = c1 ? memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - p)) : NULL;
        if (!c2) {
            return fail(why, n, IOC_EINVAL, "references: '%.*s' is not sender,identifier,sent",
                        (int)(len < 80 ? len : 80), p);
        }
        int rc;
        if ((rc = check_token("references: sender", p, (size_t)(c1 - p), why, n)) != 0 ||
            (rc = check_token("references: identifier", c1 + 1, (size_t)(c2 - c1 - 1), why, n)) !=
                0 ||
            (rc = check_time("references: sent", c2 + 1, len - (size_t)(c2 + 1 - p), why, n)) !=
                0) {
            return rc;
        }
        count++;
        p += len;
    }
    if (count == 0) {
        return fail(why, n, IOC_EINVAL, "references: required for Update and Cancel");
    }
    return 0;
}

/* RFC 3066 as CAP uses it: "th-TH", "en-US". */
static int check_language(const char *s, char *why, size_t n)
{
    size_t run = 0, parts = 0;
    for (const char *p = s;; p++) {
        if (*p == '-' || *p == '\0') {
            if (run == 0 || run > 8) {
                break;
            }
            parts++;
            run = 0;
            if (*p == '\0') {
                return 0;
            }
            continue;
        }
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        bool digit = *p >= '0' && *p <= '9';
        if (!alpha && !(digit && parts > 0)) {
            break;
        }
        run++;
    }
    return fail(why, n, IOC_EINVAL, "info.language: '%.40s' is not a language tag like th-TH", s);
}

/* An absolute URI: a scheme, a colon, and no whitespace. */
static int check_uri(const char *s, char *why, size_t n)
{
    const char *p = s;
    bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
    while (ok && *++p && *p != ':') {
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '+' || *p == '-' || *p == '.';
    }
    ok = ok && *p == ':' && p[1] != '\0';
    for (const char *q = s; ok && *q; q++) {
        ok = (unsigned char)*q > ' ';
    }
    return ok ? 0 : fail(why, n, IOC_EINVAL, "info.web: '%.60s' is not an absolute URI", s);
}

int ioc_cap_validate(const struct ioc_cap_alert *a, char *why, size_t why_len)
{
    const struct ioc_cap_info *in = &a->info;
    char *w = why;
    size_t n = why_len;
    int rc;
    if (w && n > 0) {
        w[0] = '\0';
    }
    const struct {
        const char *name, *value;
    } texts[] = {
        {"identifier", a->identifier},
        {"sender", a->sender},
        {"sent", a->sent},
        {"status", a->status},
        {"msgType", a->msg_type},
        {"scope", a->scope},
        {"references", a->references},
        {"info.language", in->language},
        {"info.category", in->category},
        {"info.event", in->event},
        {"info.urgency", in->urgency},
        {"info.severity", in->severity},
        {"info.certainty", in->certainty},
        {"info.headline", in->headline},
        {"info.description", in->description},
        {"info.instruction", in->instruction},
        {"info.web", in->web},
        {"info.contact", in->contact},
        {"info.area.areaDesc", in->area.area_desc},
    };
    /* Encoding first: every later message may quote the text. */
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if ((rc = check_text(texts[i].name, texts[i].value, w, n)) != 0) {
            return rc;
        }
    }
    if ((rc = check_token("identifier", a->identifier ? a->identifier : "",
                          a->identifier ? strlen(a->identifier) : 0, w, n)) != 0 ||
        (rc = check_token("sender", a->sender ? a->sender : "", a->sender ? strlen(a->sender) : 0,
                          w, n)) != 0 ||
        (rc = check_time("sent", a->sent ? a->sent : "", a->sent ? strlen(a->sent) : 0, w, n)) !=
            0 ||
        (rc = check_enum("status", a->status, statuses, w, n)) != 0 ||
        (rc = check_enum("msgType", a->msg_type, msg_types, w, n)) != 0) {
        return rc;
    }
    if (!empty(a->scope) && strcmp(a->scope, "Public") != 0) {
        return fail(w, n, IOC_EINVAL,
                    "scope: '%.40s' is not supported (only Public: Restricted and Private need "
                    "restriction or addresses)",
                    a->scope);
    }
    if (strcmp(a->msg_type, "Alert") != 0 || !empty(a->references)) {
        if ((rc = check_references(a->references ? a->references : "", w, n)) != 0) {
            return rc;
        }
    }
    if (!empty(in->language) && (rc = check_language(in->language, w, n)) != 0) {
        return rc;
    }
    if ((rc = check_enum("info.category", in->category, categories, w, n)) != 0) {
        return rc;
    }
    if (empty(in->event)) {
        return fail(w, n, IOC_EINVAL, "info.event: required");
    }
    if ((rc = check_enum("info.urgency", in->urgency, urgencies, w, n)) != 0 ||
        (rc = check_enum("info.severity", in->severity, severities, w, n)) != 0 ||
        (rc = check_enum("info.certainty", in->certainty, certainties, w, n)) != 0) {
        return rc;
    }
    if (!empty(in->web) && (rc = check_uri(in->web, w, n)) != 0) {
        return rc;
    }
    if (empty(in->area.area_desc)) {
        return fail(w, n, IOC_EINVAL, "info.area.areaDesc: required");
    }
    if (in->area.has_circle) {
        const struct ioc_cap_area *ar = &in->area;
        if (!isfinite(ar->lat) || ar->lat < -90 || ar->lat > 90 || !isfinite(ar->lon) ||
            ar->lon < -180 || ar->lon > 180 || !isfinite(ar->radius_km) || ar->radius_km < 0) {
            return fail(w, n, IOC_EINVAL,
                        "info.area.circle: lat in [-90, 90], lon in [-180, 180] and radius >= 0 "
                        "expected, got %g,%g %g",
                        ar->lat, ar->lon, ar->radius_km);
        }
    }
    return 0;
}

/* ---- Rendering ---------------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 2048;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Copies runs of ordinary bytes whole; multi-byte UTF-8 never contains an
 * ASCII byte, so Thai text goes through untouched. */
static void put_escaped(struct sbuf *b, const char *s)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\r':
            rep = "&#13;";
            break;
        default:
            continue;
        }
        put(b, run, (size_t)(p - run));
        puts_(b, rep);
        run = p + 1;
    }
    puts_(b, run);
}

/* "<tag>text</tag>\n" at an indent; left out when the text is absent. */
static void element(struct sbuf *b, int indent, const char *tag, const char *text)
{
    if (empty(text)) {
        return;
    }
    put(b, "        ", (size_t)indent * 2 < 8 ? (size_t)indent * 2 : 8);
    put(b, "<", 1);
    puts_(b, tag);
    put(b, ">", 1);
    put_escaped(b, text);
    put(b, "</", 2);
    puts_(b, tag);
    put(b, ">\n", 2);
}

/* Fixed decimals without trailing zeros: "13.7563", "0.5", "0". */
static void format_number(char *buf, size_t n, double v, int decimals)
{
    snprintf(buf, n, "%.*f", decimals, v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf) - 1;
        while (end > dot && *end == '0') {
            *end-- = '\0';
        }
        if (end == dot) {
            *end = '\0';
        }
    }
    if (strcmp(buf, "-0") == 0) {
        snprintf(buf, n, "0");
    }
}

int ioc_cap_render(const struct ioc_cap_alert *a, char **xml_out)
{
    const struct ioc_cap_info *in = &a->info;
    struct sbuf b = {0};
    int rc;
    *xml_out = NULL;
    if ((rc = ioc_cap_validate(a, NULL, 0)) != 0) {
        return rc;
    }
    puts_(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n");
    element(&b, 1, "identifier", a->identifier);
    element(&b, 1, "sender", a->sender);
    element(&b, 1, "sent", a->sent);
    element(&b, 1, "status", a->status);
    element(&b, 1, "msgType", a->msg_type);
    element(&b, 1, "scope", "Public");
    element(&b, 1, "references", a->references);
    puts_(&b, "  <info>\n");
    element(&b, 2, "language", in->language);
    element(&b, 2, "category", in->category);
    element(&b, 2, "event", in->event);
    element(&b, 2, "urgency", in->urgency);
    element(&b, 2, "severity", in->severity);
    element(&b, 2, "certainty", in->certainty);
    element(&b, 2, "headline", in->headline);
    element(&b, 2, "description", in->description);
    element(&b, 2, "instruction", in->instruction);
    element(&b, 2, "web", in->web);
    element(&b, 2, "contact", in->contact);
    puts_(&b, "    <area>\n");
    element(&b, 3, "areaDesc", in->area.area_desc);
    if (in->area.has_circle) {
        char lat[40], lon[40], r[40], circle[128];
        /* Six decimals of a degree is about 10 cm: finer is noise. */
        format_number(lat, sizeof lat, in->area.lat, 6);
        format_number(lon, sizeof lon, in->area.lon, 6);
        format_number(r, sizeof r, in->area.radius_km, 3);
        snprintf(circle, sizeof circle, "%s,%s %s", lat, lon, r);
        element(&b, 3, "circle", circle);
    }
    puts_(&b, "    </area>\n"
              "  </info>\n"
              "</alert>\n");
    if (b.oom) {
        free(b.p);
        return IOC_ENOMEM;
    }
    *xml_out = b.p;
    return 0;
}

char *ioc_cap_time_format(int64_t ms, char *buf, size_t n)
{
    /* Floor to the second, also before 1970, so a time never moves forward. */
    int64_t whole = ms - ((ms % 1000) + 1000) % 1000;
    char tmp[48];
    ioc_time_format(whole, tmp, sizeof tmp);
    size_t len = strlen(tmp);
    if (len >= 6 && strcmp(tmp + len - 6, "+00:00") == 0) {
        tmp[len - 6] = '-'; /* CAP 3.3.2: UTC is written -00:00 */
    }
    snprintf(buf, n, "%s", tmp);
    return buf;
}

/* ---- The JSON form ------------------------------------------------------------ */

static bool allowed(const char *key, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        if (strcmp(key, keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int check_keys(const cJSON *obj, const char *where, const char *const *keys, char *why,
                      size_t n)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string || !allowed(c->string, keys)) {
            char list[256] = "";
            size_t used = 0;
            for (size_t i = 0; keys[i] && used < sizeof list; i++) {
                int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", keys[i]);
                used += k > 0 ? (size_t)k : 0;
            }
            return fail(why, n, IOC_EINVAL, "%s%s'%.40s': unknown key (allowed: %s)", where,
                        *where ? "." : "", c->string ? c->string : "", list);
        }
    }
    return 0;
}

/* An optional string member: absent or null leaves *out NULL. */
static int get_str(const cJSON *obj, const char *where, const char *key, const char **out,
                   char *why, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        return fail(why, n, IOC_EINVAL, "%s%s%s: expected a string", where, *where ? "." : "", key);
    }
    *out = v->valuestring;
    return 0;
}

/* An optional object member: absent or null leaves *out NULL. */
static int get_obj(const cJSON *obj, const char *where, const char *key, const cJSON **out,
                   char *why, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        return fail(why, n, IOC_EINVAL, "%s%s%s: expected an object", where, *where ? "." : "",
                    key);
    }
    *out = v;
    return 0;
}

/* Only digits, signs, a point and an exponent: strtod alone would also take
 * "nan", "inf", hex and leading blanks. */
static bool number_token(const char *s, size_t len, double *out)
{
    char tmp[48];
    if (len == 0 || len >= sizeof tmp) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!strchr("0123456789+-.eE", s[i])) {
            return false;
        }
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    *out = strtod(tmp, &end);
    return *end == '\0' && isfinite(*out);
}

/* "lat,lon radius_km", as CAP writes a circle. Ranges are checked by validate. */
static int parse_circle(const char *s, struct ioc_cap_area *ar, char *why, size_t n)
{
    const char *comma = strchr(s, ',');
    const char *space = comma ? strchr(comma, ' ') : NULL;
    if (!space || !number_token(s, (size_t)(comma - s), &ar->lat) ||
        !number_token(comma + 1, (size_t)(space - comma - 1), &ar->lon) ||
        !number_token(space + 1, strlen(space + 1), &ar->radius_km)) {
        return fail(why, n, IOC_EINVAL,
                    "info.area.circle: '%.60s' is not \"lat,lon radius_km\" (e.g. \"13.75,100.5 "
                    "0.5\")",
                    s);
    }
    ar->has_circle = true;
    return 0;
}

int ioc_cap_from_json(const cJSON *obj, struct ioc_cap_alert *a)
{
    static const char *const alert_keys[] = {
        "identifier", "sender", "sent", "status", "msgType", "scope", "references", "info", NULL};
    static const char *const info_keys[] = {
        "language",    "category",    "event", "urgency", "severity", "certainty", "headline",
        "description", "instruction", "web",   "contact", "area",     NULL};
    static const char *const area_keys[] = {"areaDesc", "circle", NULL};
    struct ioc_cap_info *in = &a->info;
    const cJSON *info = NULL, *area = NULL;
    const char *circle = NULL;
    char *w = a->error;
    size_t n = sizeof a->error;
    int rc;

    memset(a, 0, sizeof *a);
    if (!cJSON_IsObject(obj)) {
        return fail(w, n, IOC_EINVAL, "alert: expected an object");
    }
    if ((rc = check_keys(obj, "", alert_keys, w, n)) != 0 ||
        (rc = get_str(obj, "", "identifier", &a->identifier, w, n)) != 0 ||
        (rc = get_str(obj, "", "sender", &a->sender, w, n)) != 0 ||
        (rc = get_str(obj, "", "sent", &a->sent, w, n)) != 0 ||
        (rc = get_str(obj, "", "status", &a->status, w, n)) != 0 ||
        (rc = get_str(obj, "", "msgType", &a->msg_type, w, n)) != 0 ||
        (rc = get_str(obj, "", "scope", &a->scope, w, n)) != 0 ||
        (rc = get_str(obj, "", "references", &a->references, w, n)) != 0 ||
        (rc = get_obj(obj, "", "info", &info, w, n)) != 0) {
        return rc;
    }
    if (!info) {
        return fail(w, n, IOC_EINVAL, "info: required");
    }
    if ((rc = check_keys(info, "info", info_keys, w, n)) != 0 ||
        (rc = get_str(info, "info", "language", &in->language, w, n)) != 0 ||
        (rc = get_str(info, "info", "category", &in->category, w, n)) != 0 ||
        (rc = get_str(info, "info", "event", &in->event, w, n)) != 0 ||
        (rc = get_str(info, "info", "urgency", &in->urgency, w, n)) != 0 ||
        (rc = get_str(info, "info", "severity", &in->severity, w, n)) != 0 ||
        (rc = get_str(info, "info", "certainty", &in->certainty, w, n)) != 0 ||
        (rc = get_str(info, "info", "headline", &in->headline, w, n)) != 0 ||
        (rc = get_str(info, "info", "description", &in->description, w, n)) != 0 ||
        (rc = get_str(info, "info", "instruction", &in->instruction, w, n)) != 0 ||
        (rc = get_str(info, "info", "web", &in->web, w, n)) != 0 ||
        (rc = get_str(info, "info", "contact", &in->contact, w, n)) != 0 ||
        (rc = get_obj(info, "info", "area", &area, w, n)) != 0) {
        return rc;
    }
    if (!area) {
        return fail(w, n, IOC_EINVAL, "info.area: required");
    }
    if ((rc = check_keys(area, "info.area", area_keys, w, n)) != 0 ||
        (rc = get_str(area, "info.area", "areaDesc", &in->area.area_desc, w, n)) != 0 ||
        (rc = get_str(area, "info.area", "circle", &circle, w, n)) != 0) {
        return rc;
    }
    if (!empty(circle) && (rc = parse_circle(circle, &in->area, w, n)) != 0) {
        return rc;
    }
    return ioc_cap_validate(a, w, n);
}
