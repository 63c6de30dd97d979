/*
 * in_file.c — input plugin "file": events from a JSON-lines file.
 *
 * Owns the open file, one reader thread, a few chunks of lines and a
 * uv_async_t. Each line is one event; a trailing '\r' is dropped (files
 * written on Windows) and empty lines are skipped. Lines can be of any length:
 * getline() grows the buffer, and the engine rejects an oversize event with a
 * reason.
 *
 * Why a thread: a file is read as fast as the engine can go (a replay, a
 * backtest, a benchmark), and decoding is the larger half of the work per
 * event. The reader thread reads a chunk of lines and decodes them with a
 * decoder of its own (made like the engine's, ioc_engine_decoder_new), while
 * the loop thread matches the chunk before it: the two halves run on two
 * cores. The loop takes each decoded event, in file order, through
 * ioc_engine_submit_decoded(), so the result is the same as one thread
 * reading and decoding line by line.
 *
 * Chunks: CHUNKS of them circulate between a free list (the reader fills
 * them) and a full list (the loop empties them), both under one mutex; the
 * reader waits for a free chunk, which bounds memory and makes the reader
 * wait for a slow engine. A chunk holds its lines' bytes in one buffer, so
 * the events, which borrow their raw bytes, stay valid until the loop has
 * taken them. The loop takes at most one chunk per wake-up of the async and
 * wakes itself again when more wait, so timers and store callbacks still get
 * their turns during a long replay.
 *
 * The end: the reader marks its last chunk (end of file, or a read error) and
 * returns; the loop tells the engine with ioc_engine_input_done() after that
 * chunk's events, once. The engine may stop every input from inside that
 * call, so nothing here touches the instance after it. Stop (SIGTERM during a
 * replay) tells the reader to finish, joins it, and closes the async handle;
 * destroy frees the chunks after the handle's close callback.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/log.h"
#include "ioc/options.h"
#include "ioc/plugin.h"

/* Chunks in circulation: one being filled, one being taken, and slack so
 * neither thread waits for the other's every chunk. */
#define CHUNKS 4
#define REASON_BYTES 256

struct slot {
    size_t off, len; /* the line in the chunk's bytes */
    int rc;          /* the decoder's verdict */
    char reason[REASON_BYTES];
    struct ioc_event ev;
};

struct chunk {
    struct chunk *next;
    size_t n;      /* slots filled */
    size_t cap;    /* slots allocated */
    char *bytes;   /* every line of the chunk, back to back */
    size_t used, size;
    bool last;     /* the reader's last chunk */
    bool failed;   /* ... because reading failed */
    struct slot *slots;
};

struct in_file_conf {
    char *path;
    long long batch;
};

struct in_file {
    struct ioc_instance *ins;
    FILE *fp; /* the reader thread's from start to its end */
    struct ioc_decoder *dec; /* the reader thread's */
    char *line;
    size_t line_cap;
    uint64_t lines;
    uv_thread_t reader;
    bool reader_started;
    uv_mutex_t mu;
    uv_cond_t has_free;
    bool sync_inited;
    /* Guarded by mu. */
    struct chunk *free_list;
    struct chunk *full_head, *full_tail;
    bool quit;
    /* The loop thread's. */
    struct chunk *all[CHUNKS];
    uv_async_t async;
    int live_handles; /* initialised and not yet through its close callback */
    int stopped;
    bool ended;
};

static const struct ioc_option in_file_options[] = {
    {"path", IOC_OPT_PATH, NULL, 0, 0, offsetof(struct in_file_conf, path),
     "JSON-lines file to read, one event per line (required)"},
    {"batch", IOC_OPT_INT, "1024", 1, 1000000, offsetof(struct in_file_conf, batch),
     "lines read and decoded per chunk, handed to the engine one chunk per loop turn"},
    IOC_OPTION_END,
};

/* ---- the reader thread ---------------------------------------------------- */

static int chunk_append(struct chunk *c, const char *line, size_t len)
{
    if (c->used + len > c->size) {
        size_t ns = c->size ? c->size : 65536;
        while (ns < c->used + len) {
            ns *= 2;
        }
        char *nb = realloc(c->bytes, ns);
        if (!nb) {
            return IOC_ENOMEM;
        }
        c->bytes = nb;
        c->size = ns;
    }
    memcpy(c->bytes + c->used, line, len);
    c->slots[c->n].off = c->used;
    c->slots[c->n].len = len;
    c->used += len;
    c->n++;
    return 0;
}

/* Reads up to a chunk of lines; false at the end of the file or on an
 * error (c->last, c->failed say which). */
static void fill(struct in_file *ctx, struct chunk *c)
{
    const struct in_file_conf *conf = ctx->ins->conf;
    c->n = c->used = 0;
    while (c->n < c->cap) {
        errno = 0;
        ssize_t n = getline(&ctx->line, &ctx->line_cap, ctx->fp);
        if (n < 0) {
            c->failed = ferror(ctx->fp) || errno == ENOMEM;
            if (c->failed) {
                ioc_error(ctx->ins->name, "cannot read %s: %s", conf->path,
                          strerror(errno ? errno : EIO));
            }
            c->last = true;
            break;
        }
        if (n > 0 && ctx->line[n - 1] == '\n') {
            n--;
        }
        if (n > 0 && ctx->line[n - 1] == '\r') {
            n--;
        }
        if (n == 0) {
            continue;
        }
        if (chunk_append(c, ctx->line, (size_t)n) != 0) {
            ioc_error(ctx->ins->name, "cannot read %s: out of memory", conf->path);
            c->failed = c->last = true;
            break;
        }
    }
    /* The bytes no longer move: the events may point into them now. */
    int64_t now = ioc_time_now_ms();
    for (size_t i = 0; i < c->n; i++) {
        struct slot *s = &c->slots[i];
        s->rc = ioc_decoder_decode(ctx->dec, c->bytes + s->off, s->len, now, &s->ev, s->reason,
                                   sizeof s->reason);
    }
}

static void reader_main(void *arg)
{
    struct in_file *ctx = arg;
    for (;;) {
        uv_mutex_lock(&ctx->mu);
        while (!ctx->free_list && !ctx->quit) {
            uv_cond_wait(&ctx->has_free, &ctx->mu);
        }
        struct chunk *c = ctx->quit ? NULL : ctx->free_list;
        if (c) {
            ctx->free_list = c->next;
        }
        uv_mutex_unlock(&ctx->mu);
        if (!c) {
            return;
        }
        c->next = NULL;
        c->last = c->failed = false;
        fill(ctx, c);
        uv_mutex_lock(&ctx->mu);
        if (ctx->full_tail) {
            ctx->full_tail->next = c;
        } else {
            ctx->full_head = c;
        }
        ctx->full_tail = c;
        uv_mutex_unlock(&ctx->mu);
        uv_async_send(&ctx->async);
        if (c->last) {
            return;
        }
    }
}

/* ---- the loop thread ------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
    struct in_file *ctx = h->data;
    ctx->live_handles--;
}

static void on_async(uv_async_t *h)
{
    struct in_file *ctx = h->data;
    struct ioc_instance *ins = ctx->ins;
    if (ctx->stopped || ctx->ended) {
        return;
    }
    uv_mutex_lock(&ctx->mu);
    struct chunk *c = ctx->full_head;
    if (c) {
        ctx->full_head = c->next;
        if (!ctx->full_head) {
            ctx->full_tail = NULL;
        }
    }
    bool more = ctx->full_head != NULL;
    uv_mutex_unlock(&ctx->mu);
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->n && !ctx->stopped; i++) {
        struct slot *s = &c->slots[i];
        ctx->lines++;
        ioc_engine_submit_decoded(ins->engine, s->rc, &s->ev, s->reason, c->bytes + s->off,
                                  s->len);
    }
    for (size_t i = 0; i < c->n; i++) {
        ioc_event_clear(&c->slots[i].ev);
    }
    bool last = c->last, failed = c->failed;
    uv_mutex_lock(&ctx->mu);
    c->next = ctx->free_list;
    ctx->free_list = c;
    uv_cond_signal(&ctx->has_free);
    uv_mutex_unlock(&ctx->mu);
    if (last && !ctx->stopped) {
        ctx->ended = true;
        ioc_info(ins->name, "%s after %llu lines", failed ? "gave up" : "end of file",
                 (unsigned long long)ctx->lines);
        ioc_engine_input_done(ins->engine, ins); /* may stop this instance */
        return;
    }
    if (more && !ctx->stopped) {
        uv_async_send(&ctx->async); /* the next chunk, on the next turn */
    }
}

static void chunk_free(struct chunk *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        ioc_event_clear(&c->slots[i].ev);
    }
    free(c->slots);
    free(c->bytes);
    free(c);
}

static int in_file_init(struct ioc_instance *ins)
{
    const struct in_file_conf *conf = ins->conf;
    struct in_file *ctx;

    if (!conf->path || !conf->path[0]) {
        ioc_error(ins->name, "input file: 'path' is required");
        return IOC_ECONFIG;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        ioc_error(ins->name, "out of memory");
        return IOC_ENOMEM;
    }
    ctx->ins = ins;
    ins->ctx = ctx;
    ins->finite = 1;
    for (int i = 0; i < CHUNKS; i++) {
        struct chunk *c = calloc(1, sizeof *c);
        if (!c || !(c->slots = calloc((size_t)conf->batch, sizeof *c->slots))) {
            free(c);
            ioc_error(ins->name, "out of memory");
            return IOC_ENOMEM;
        }
        c->cap = (size_t)conf->batch;
        ctx->all[i] = c;
        c->next = ctx->free_list;
        ctx->free_list = c;
    }
    if (uv_mutex_init(&ctx->mu) != 0) {
        return IOC_EUV;
    }
    if (uv_cond_init(&ctx->has_free) != 0) {
        uv_mutex_destroy(&ctx->mu);
        return IOC_EUV;
    }
    ctx->sync_inited = true;
    return 0;
}

static int in_file_start(struct ioc_instance *ins, uv_loop_t *loop)
{
    struct in_file *ctx = ins->ctx;
    const struct in_file_conf *conf = ins->conf;

    ctx->fp = fopen(conf->path, "rb");
    if (!ctx->fp) {
        int err = errno;
        ioc_error(ins->name, "cannot open %s: %s", conf->path, strerror(err));
        ctx->stopped = 1;
        return err == ENOENT ? IOC_ENOENT : IOC_EIO;
    }
    int rc = ioc_engine_decoder_new(ins->engine, &ctx->dec);
    if (rc != 0) {
        ioc_error(ins->name, "cannot make a decoder: %s", ioc_strerror(rc));
        ctx->stopped = 1;
        return rc;
    }
    if (uv_async_init(loop, &ctx->async, on_async) != 0) {
        ctx->stopped = 1;
        return IOC_EUV;
    }
    ctx->async.data = ctx;
    ctx->live_handles++;
    if (uv_thread_create(&ctx->reader, reader_main, ctx) != 0) {
        ioc_error(ins->name, "cannot start the reader thread");
        ctx->stopped = 1;
        uv_close((uv_handle_t *)&ctx->async, on_handle_closed);
        return IOC_EUV;
    }
    ctx->reader_started = true;
    ioc_info(ins->name, "reading %s", conf->path);
    return 0;
}

/* Tells the reader to end after the chunk it is on, and waits for it. */
static void reader_quit(struct in_file *ctx)
{
    if (!ctx->reader_started) {
        return;
    }
    uv_mutex_lock(&ctx->mu);
    ctx->quit = true;
    uv_cond_signal(&ctx->has_free);
    uv_mutex_unlock(&ctx->mu);
    uv_thread_join(&ctx->reader);
    ctx->reader_started = false;
}

static void in_file_stop(struct ioc_instance *ins)
{
    struct in_file *ctx = ins->ctx;
    if (!ctx || ctx->stopped) {
        return;
    }
    ctx->stopped = 1;
    reader_quit(ctx);
    if (ctx->live_handles > 0) {
        uv_close((uv_handle_t *)&ctx->async, on_handle_closed);
    }
    if (!ctx->ended) {
        /* Stopped before the end (SIGTERM during a replay). */
        ioc_info(ins->name, "stopped after %llu lines", (unsigned long long)ctx->lines);
    }
}

static void in_file_destroy(struct ioc_instance *ins)
{
    struct in_file *ctx = ins->ctx;
    if (!ctx) {
        return;
    }
    if (ctx->live_handles > 0) {
        /* The loop still references the handle: freeing it would corrupt the
         * loop, so leak instead and say so. */
        ioc_error(ins->name, "destroyed before its handle closed; leaking its state");
        return;
    }
    reader_quit(ctx);
    if (ctx->fp) {
        fclose(ctx->fp);
    }
    if (ctx->sync_inited) {
        uv_cond_destroy(&ctx->has_free);
        uv_mutex_destroy(&ctx->mu);
    }
    for (int i = 0; i < CHUNKS; i++) {
        chunk_free(ctx->all[i]);
    }
    ioc_decoder_destroy(ctx->dec);
    free(ctx->line);
    free(ctx);
    ins->ctx = NULL;
}

const struct ioc_plugin ioc_plugin_in_file = {
    .name = "file",
    .kind = IOC_PLUGIN_INPUT,
    .description = "Reads events from a JSON-lines file, one event per line, then ends; "
                   "a run whose inputs are all files stops by itself. Lines are read and "
                   "decoded on a thread of their own while the engine matches.",
    .options = in_file_options,
    .conf_size = sizeof(struct in_file_conf),
    .init = in_file_init,
    .start = in_file_start,
    .stop = in_file_stop,
    .destroy = in_file_destroy,
};
