/*
 * in_file.c — input plugin "file": events from a JSON-lines file.
 *
 * Owns the open file, a line buffer and one uv_idle_t. Each line is one
 * event; a trailing '\r' is dropped (files written on Windows) and empty
 * lines are skipped. Lines can be of any length: getline() grows the buffer,
 * and the engine rejects an oversize event with a reason.
 *
 * The file is read from an idle callback, at most `batch` lines per loop
 * turn, instead of in one go: between turns the loop runs the store's async
 * callbacks and timers, so a long replay stays responsive and its memory
 * bounded. At the end of the file the instance tells the engine with
 * ioc_engine_input_done(), once; the engine may stop every input from
 * inside that call, so nothing here touches the handle after it.
 *
 * Threads: everything runs on the loop thread. The idle handle lives in ctx,
 * so ctx is freed only after its close callback ran (destroy checks it).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/options.h"
#include "ioc/plugin.h"

struct in_file_conf {
    char *path;
    long long batch;
};

struct in_file {
    struct ioc_instance *ins;
    FILE *fp;
    char *line;
    size_t cap;
    uv_idle_t idle;
    int live_handles; /* initialised and not yet through its close callback */
    int stopped;
    uint64_t lines;
};

static const struct ioc_option in_file_options[] = {
    {"path", IOC_OPT_PATH, NULL, 0, 0, offsetof(struct in_file_conf, path),
     "JSON-lines file to read, one event per line (required)"},
    {"batch", IOC_OPT_INT, "4096", 1, 1000000, offsetof(struct in_file_conf, batch),
     "lines handed to the engine per loop turn before other work gets its turn"},
    IOC_OPTION_END,
};

static void on_handle_closed(uv_handle_t *h)
{
    struct in_file *ctx = h->data;
    ctx->live_handles--;
}

/* Ends reading: the file is closed before the engine hears of it, because
 * the engine may stop (and so close) this instance from inside the call. */
static void finish(struct in_file *ctx, int failed)
{
    struct ioc_instance *ins = ctx->ins;
    uv_idle_stop(&ctx->idle);
    fclose(ctx->fp);
    ctx->fp = NULL;
    ioc_info(ins->name, "%s after %llu lines", failed ? "gave up" : "end of file",
             (unsigned long long)ctx->lines);
    ioc_engine_input_done(ins->engine, ins);
}

static void on_idle(uv_idle_t *h)
{
    struct in_file *ctx = h->data;
    struct ioc_instance *ins = ctx->ins;
    const struct in_file_conf *conf = ins->conf;

    /* Empty lines count against the batch too, so a turn's work is bounded
     * whatever the file holds. */
    for (long long i = 0; i < conf->batch && !ctx->stopped; i++) {
        errno = 0;
        ssize_t n = getline(&ctx->line, &ctx->cap, ctx->fp);
        if (n < 0) {
            int failed = ferror(ctx->fp) || errno == ENOMEM;
            if (failed) {
                ioc_error(ins->name, "cannot read %s: %s", conf->path,
                          strerror(errno ? errno : EIO));
            }
            finish(ctx, failed);
            return;
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
        ctx->lines++;
        ioc_engine_submit(ins->engine, ctx->line, (size_t)n);
    }
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
    uv_idle_init(loop, &ctx->idle);
    ctx->idle.data = ctx;
    ctx->live_handles++;
    uv_idle_start(&ctx->idle, on_idle);
    ioc_info(ins->name, "reading %s", conf->path);
    return 0;
}

static void in_file_stop(struct ioc_instance *ins)
{
    struct in_file *ctx = ins->ctx;
    if (!ctx || ctx->stopped) {
        return;
    }
    ctx->stopped = 1;
    if (ctx->live_handles > 0) {
        uv_close((uv_handle_t *)&ctx->idle, on_handle_closed);
    }
    if (ctx->fp) {
        /* Stopped before the end (SIGTERM during a replay). */
        ioc_info(ins->name, "stopped after %llu lines", (unsigned long long)ctx->lines);
        fclose(ctx->fp);
        ctx->fp = NULL;
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
    if (ctx->fp) {
        fclose(ctx->fp);
    }
    free(ctx->line);
    free(ctx);
    ins->ctx = NULL;
}

const struct ioc_plugin ioc_plugin_in_file = {
    .name = "file",
    .kind = IOC_PLUGIN_INPUT,
    .description = "Reads events from a JSON-lines file, one event per line, then ends; "
                   "a run whose inputs are all files stops by itself.",
    .options = in_file_options,
    .conf_size = sizeof(struct in_file_conf),
    .init = in_file_init,
    .start = in_file_start,
    .stop = in_file_stop,
    .destroy = in_file_destroy,
};
