/*
 * bench_decode.c — what one event costs each candidate JSON decoder of the ingest path.
 *
 * The engine's per-event path was dominated by cJSON (parse and free of a tree per event, then
 * schema validation walking that tree). This program measures, over the same lines of a citygen
 * stream held in memory, what each candidate costs on its own:
 *
 *   cjson     cJSON_ParseWithLength + cJSON_Delete: a tree per event (the old ingest path)
 *   yajl      yajl_alloc + yajl_parse + yajl_complete_parse + yajl_free with no callbacks:
 *             yajl's tokenizer and UTF-8 check, the least any yajl-based decoder pays
 *   jsmn      jsmn_parse (strict mode) into a fixed array of 128 tokens: no allocation at all
 *   decoder   ioc_decoder_decode + ioc_event_clear against the embedded event schema: the
 *             engine's whole decoding step (bytes to a validated, lifted event)
 *
 * yajl and jsmn rows are the tokenizers alone; the validation and field lifting a decoder built
 * on them would add comes on top, so they bound such a decoder from below.
 *
 * Method: every line is read into memory first. Each round decodes every line once with one
 * candidate; rounds go round-robin over the candidates so that a slow spell of the shared
 * machine spreads over all of them, and each figure is the median of the rounds. The decoding
 * loop is the function bench_pass, so `valgrind --tool=callgrind --toggle-collect=bench_pass`
 * with --only NAME counts exactly one candidate's instructions (bench/run.sh does that).
 *
 * Output: a Markdown table on stdout. A benchmark program, never a test.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#ifdef IOC_HAVE_JSMN
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>
#endif

#ifdef IOC_HAVE_YAJL
#include <yajl/yajl_parse.h>
#endif

#include "ioc/event.h"

/* The event schema as the engine embeds it (CMake generates embedded.c). */
extern const char ioc_embedded_event_schema[];
extern const size_t ioc_embedded_event_schema_len;

#define DEFAULT_ROUNDS 5
#define QUICK_EVENTS 100000
#define QUICK_ROUNDS 3
#define JSMN_TOKENS 128

struct line {
    const char *s;
    size_t len;
};

struct candidate {
    const char *name;
    const char *what;
    /* Decodes one line; returns 0 when it was accepted. */
    int (*decode)(const struct line *l);
    double *ns; /* per round, ns per event */
    size_t rejected;
};

static struct ioc_decoder *g_decoder;

static int decode_cjson(const struct line *l)
{
    cJSON *j = cJSON_ParseWithLength(l->s, l->len);
    cJSON_Delete(j);
    return j ? 0 : -1;
}

#ifdef IOC_HAVE_YAJL
static int decode_yajl(const struct line *l)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h) {
        return -1;
    }
    int ok = yajl_parse(h, (const unsigned char *)l->s, l->len) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok ? 0 : -1;
}
#endif

#ifdef IOC_HAVE_JSMN
static int decode_jsmn(const struct line *l)
{
    jsmn_parser p;
    jsmntok_t tok[JSMN_TOKENS];
    jsmn_init(&p);
    return jsmn_parse(&p, l->s, l->len, tok, JSMN_TOKENS) > 0 ? 0 : -1;
}
#endif

static int decode_engine(const struct line *l)
{
    struct ioc_event ev;
    char reason[256];
    int rc = ioc_decoder_decode(g_decoder, l->s, l->len, 0, &ev, reason, sizeof reason);
    ioc_event_clear(&ev);
    return rc;
}

/* The measured loop; named so callgrind can collect it alone. */
__attribute__((noinline)) size_t bench_pass(const struct line *lines, size_t n,
                                            int (*decode)(const struct line *))
{
    size_t rejected = 0;
    for (size_t i = 0; i < n; i++) {
        rejected += decode(&lines[i]) != 0;
    }
    return rejected;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads up to max lines (0: all) of path into memory; the lines keep no newline. */
static struct line *read_lines(const char *path, size_t max, size_t *n_out, char **buf_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "bench_decode: cannot read %s\n", path);
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    size_t cap = 1024, n = 0;
    struct line *lines = malloc(cap * sizeof *lines);
    for (char *p = buf, *end = buf + size; lines && p < end && (max == 0 || n < max);) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0) {
            if (n == cap) {
                struct line *grown = realloc(lines, 2 * cap * sizeof *lines);
                if (!grown) {
                    free(lines);
                    lines = NULL;
                    break;
                }
                lines = grown, cap *= 2;
            }
            lines[n++] = (struct line){p, len};
        }
        p += len + 1;
    }
    if (!lines) {
        fprintf(stderr, "bench_decode: out of memory\n");
        free(buf);
        return NULL;
    }
    *n_out = n;
    *buf_out = buf;
    return lines;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_decode [--stream FILE.jsonl] [--events N] [--rounds R] [--quick]\n"
            "                    [--only cjson|yajl|jsmn|decoder]\n"
            "Decodes the first N lines (default all) of FILE (default test/data/city-day.jsonl)\n"
            "with each candidate decoder, R rounds (default %d), and prints the medians.\n"
            "--quick: %d lines, %d rounds (a smoke run, not figures to quote).\n"
            "yajl and jsmn are candidates when the build found them.\n",
            DEFAULT_ROUNDS, QUICK_EVENTS, QUICK_ROUNDS);
}

int main(int argc, char **argv)
{
    const char *stream = "test/data/city-day.jsonl";
    const char *only = NULL;
    long rounds = DEFAULT_ROUNDS, max_events = 0;
    static const struct option opts[] = {
        {"stream", required_argument, NULL, 's'}, {"events", required_argument, NULL, 'n'},
        {"rounds", required_argument, NULL, 'r'}, {"only", required_argument, NULL, 'o'},
        {"quick", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "s:n:r:o:qh", opts, NULL)) != -1;) {
        switch (c) {
        case 'q':
            max_events = QUICK_EVENTS;
            rounds = QUICK_ROUNDS;
            break;
        case 's':
            stream = optarg;
            break;
        case 'n':
            max_events = strtol(optarg, NULL, 10);
            break;
        case 'r':
            rounds = strtol(optarg, NULL, 10);
            break;
        case 'o':
            only = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (rounds < 1 || max_events < 0) {
        usage(stderr);
        return 2;
    }
    char err[256];
    if (ioc_decoder_create(ioc_embedded_event_schema, ioc_embedded_event_schema_len, 65536,
                           &g_decoder, err, sizeof err) != 0) {
        fprintf(stderr, "bench_decode: event schema: %s\n", err);
        return 1;
    }
    size_t n = 0;
    char *buf = NULL;
    struct line *lines = read_lines(stream, (size_t)max_events, &n, &buf);
    if (!lines || n == 0) {
        fprintf(stderr, "bench_decode: no events in %s\n", stream);
        ioc_decoder_destroy(g_decoder);
        return 1;
    }
    struct candidate all[] = {
        {"cjson", "cJSON 1.7 parse + delete (a tree per event)", decode_cjson, NULL, 0},
#ifdef IOC_HAVE_YAJL
        {"yajl", "yajl 2 tokenizer, no callbacks (alloc, parse, complete, free)", decode_yajl,
         NULL, 0},
#endif
#ifdef IOC_HAVE_JSMN
        {"jsmn", "jsmn 1.1 strict tokenizer into 128 tokens (no allocation)", decode_jsmn, NULL,
         0},
#endif
        {"decoder", "the engine: ioc_decoder_decode + ioc_event_clear (validated, lifted)",
         decode_engine, NULL, 0},
    };
    size_t ncand = sizeof all / sizeof all[0];
    int status = 0;
    for (size_t k = 0; k < ncand; k++) {
        all[k].ns = calloc((size_t)rounds, sizeof(double));
        if (!all[k].ns) {
            fprintf(stderr, "bench_decode: out of memory\n");
            status = 1;
            goto out;
        }
    }
    if (only) {
        bool known = false;
        for (size_t k = 0; k < ncand; k++) {
            known = known || strcmp(all[k].name, only) == 0;
        }
        if (!known) {
            fprintf(stderr, "bench_decode: --only %s: not a candidate of this build\n", only);
            status = 2;
            goto out;
        }
    }
    for (long r = 0; r < rounds; r++) {
        for (size_t k = 0; k < ncand; k++) {
            if (only && strcmp(all[k].name, only) != 0) {
                continue;
            }
            double t0 = now_ns();
            all[k].rejected = bench_pass(lines, n, all[k].decode);
            all[k].ns[r] = (now_ns() - t0) / (double)n;
        }
    }
    printf("| decoder | what it does per event | events | rejected | median ns/event | "
           "min | max | median events/s |\n");
    printf("|---|---|--:|--:|--:|--:|--:|--:|\n");
    for (size_t k = 0; k < ncand; k++) {
        if (only && strcmp(all[k].name, only) != 0) {
            continue;
        }
        qsort(all[k].ns, (size_t)rounds, sizeof(double), cmp_double);
        double med = all[k].ns[rounds / 2];
        printf("| `%s` | %s | %zu | %zu | %.0f | %.0f | %.0f | %.0f |\n", all[k].name, all[k].what,
               n, all[k].rejected, med, all[k].ns[0], all[k].ns[rounds - 1], 1e9 / med);
    }
out:
    for (size_t k = 0; k < ncand; k++) {
        free(all[k].ns);
    }
    free(lines);
    free(buf);
    ioc_decoder_destroy(g_decoder);
    return status;
}
