/*
 * iocd.c — the engine daemon: a thin main around the engine library.
 *
 * It only parses the command line, loads the configuration, runs one engine
 * on its own libuv loop and turns signals into engine calls: SIGTERM and
 * SIGINT stop the engine (it drains, commits and closes; the loop then ends
 * by itself), SIGHUP reloads the rules (a broken set is refused whole).
 * Everything else lives in the library, so tests and `ioc replay --local`
 * run the very same code.
 *
 * The signal handles are unreferenced: they never keep the loop alive, so a
 * run whose inputs are all files ends when the engine stops itself. After the
 * first stop signal the stop handles are closed, so a second SIGTERM/SIGINT
 * takes the default action and ends a shutdown that hangs.
 *
 * Exit status: 0 clean run, 1 configuration or runtime failure, 2 usage.
 * Threads: main only (the store's writer thread is hidden by the engine).
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/options.h"
#include "ioc/plugin.h"
#include "ioc/yaml.h"

#ifndef IOC_VERSION
#define IOC_VERSION "0.1.0"
#endif

#define TAG "iocd"

enum { SIG_TERM, SIG_INT, SIG_HUP, SIG__COUNT };

struct iocd {
    uv_loop_t loop;
    struct ioc_engine *engine;
    uv_signal_t sigs[SIG__COUNT];
    int nsigs; /* sigs[0..nsigs) are initialised */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: iocd [-c FILE] [--check] [--help] [--help-plugin NAME] [--version]\n"
            "\n"
            "The IOC event-correlation engine. Without -c it runs the embedded default\n"
            "configuration: the shipped rules, loopback sockets, var/ioc.db.\n"
            "\n"
            "  -c, --config FILE       configuration (iocd.yaml); sections it leaves out keep\n"
            "                          their defaults\n"
            "      --check             load the configuration and the rules, print OK or the\n"
            "                          errors (file:line:column), and exit\n"
            "      --help-plugin NAME  describe a plugin and its options\n"
            "  -h, --help              this help\n"
            "  -V, --version           print the version\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain and exit cleanly (a second one exits at once);\n"
            "SIGHUP reloads the rules.\n"
            "Environment: IOC_LOG=error|warn|info|debug, IOC_DATADIR=path of the shipped\n"
            "rules and schemas.\n");
}

static const char *kind_name(enum ioc_plugin_kind k)
{
    return k == IOC_PLUGIN_INPUT ? "input" : "output";
}

/* Prints text word-wrapped to 78 columns, each line indented by two. */
static void print_wrapped(const char *text, FILE *out)
{
    const int width = 76;
    while (*text) {
        int n = (int)strlen(text);
        if (n > width) {
            n = width;
            while (n > 0 && text[n] != ' ') {
                n--;
            }
            if (n == 0) {
                n = (int)strcspn(text, " "); /* one word longer than a line */
            }
        }
        fprintf(out, "  %.*s\n", n, text);
        text += n;
        while (*text == ' ') {
            text++;
        }
    }
}

static int help_plugin(const char *name)
{
    int found = 0;
    for (size_t i = 0; ioc_plugin_registry[i]; i++) {
        const struct ioc_plugin *p = ioc_plugin_registry[i];
        if (strcmp(p->name, name) != 0) {
            continue;
        }
        printf("%s%s (%s plugin)\n", found ? "\n" : "", p->name, kind_name(p->kind));
        print_wrapped(p->description ? p->description : "", stdout);
        printf("\noptions:\n");
        ioc_options_print(p->options, stdout);
        found = 1;
    }
    if (found) {
        return 0;
    }
    fprintf(stderr, "iocd: no plugin named '%s'; available plugins:\n", name);
    for (size_t i = 0; ioc_plugin_registry[i]; i++) {
        const struct ioc_plugin *p = ioc_plugin_registry[i];
        fprintf(stderr, "  %-10s %s\n", p->name, kind_name(p->kind));
    }
    return 2;
}

/* The value of key for a configured plugin: as written, else the default
 * from the plugin's option table, else NULL. */
static const char *plugin_conf_value(const struct ioc_plugin_conf *pc, enum ioc_plugin_kind kind,
                                     const char *key)
{
    const struct ioc_ynode *v = ioc_ymap_get(pc->node, key);
    const struct ioc_plugin *p;

    if (v && v->kind == IOC_Y_SCALAR) {
        return v->str;
    }
    p = ioc_plugin_find(kind, pc->plugin);
    for (const struct ioc_option *o = p ? p->options : NULL; o && o->name; o++) {
        if (strcmp(o->name, key) == 0) {
            return o->def;
        }
    }
    return NULL;
}

/* Where a plugin instance talks to, for the ready line. */
static const char *plugin_where(const struct ioc_plugin_conf *pcs, size_t n,
                                enum ioc_plugin_kind kind)
{
    const char *s;
    if (n == 0) {
        return "none";
    }
    s = plugin_conf_value(&pcs[0], kind, "bind");
    if (!s) {
        s = plugin_conf_value(&pcs[0], kind, "path");
    }
    return s ? s : pcs[0].plugin;
}

static void print_ready(const struct ioc_config *cfg, struct ioc_engine *e)
{
    struct ioc_engine_stats st;
    ioc_engine_get_stats(e, &st);
    fprintf(stderr, "iocd: ready: ingest %s%s, publish %s%s, database %s, %d rules\n",
            plugin_where(cfg->inputs, cfg->n_inputs, IOC_PLUGIN_INPUT),
            cfg->n_inputs > 1 ? " (and more)" : "",
            plugin_where(cfg->outputs, cfg->n_outputs, IOC_PLUGIN_OUTPUT),
            cfg->n_outputs > 1 ? " (and more)" : "", cfg->store.path ? cfg->store.path : "none",
            st.rules);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct iocd *d = h->data;
    ioc_info(TAG, "%s: stopping (send it again to exit at once)",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    /* Closing restores the default action for a second signal. */
    for (int i = SIG_TERM; i <= SIG_INT && i < d->nsigs; i++) {
        if (!uv_is_closing((uv_handle_t *)&d->sigs[i])) {
            uv_close((uv_handle_t *)&d->sigs[i], NULL);
        }
    }
    ioc_engine_stop(d->engine);
}

static void on_hup(uv_signal_t *h, int signum)
{
    struct iocd *d = h->data;
    struct ioc_diag diag;

    (void)signum;
    ioc_info(TAG, "SIGHUP: reload requested");
    /* The engine logs the outcome, errors included, and records it in
     * rule_sets; printing diag here would say it twice. */
    ioc_diag_init(&diag);
    ioc_engine_reload(d->engine, "SIGHUP", &diag);
    ioc_diag_close(&diag);
}

static int signals_start(struct iocd *d)
{
    static const int signums[SIG__COUNT] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < SIG__COUNT; i++) {
        uv_signal_t *s = &d->sigs[i];
        int rc = uv_signal_init(&d->loop, s);
        if (rc < 0) {
            ioc_error(TAG, "cannot watch signals: %s", uv_strerror(rc));
            return IOC_EUV;
        }
        d->nsigs++;
        s->data = d;
        rc = uv_signal_start(s, i == SIG_HUP ? on_hup : on_stop_signal, signums[i]);
        if (rc < 0) {
            ioc_error(TAG, "cannot watch signals: %s", uv_strerror(rc));
            return IOC_EUV;
        }
        uv_unref((uv_handle_t *)s);
    }
    return 0;
}

static void close_leftover(uv_handle_t *h, void *arg)
{
    struct iocd *d = arg;
    bool ours = false;
    if (uv_is_closing(h)) {
        return;
    }
    for (int i = 0; i < d->nsigs; i++) {
        ours = ours || h == (uv_handle_t *)&d->sigs[i];
    }
    if (!ours) {
        ioc_warn(TAG, "closing a %s handle the engine left open",
                 uv_handle_type_name(uv_handle_get_type(h)));
    }
    uv_close(h, NULL);
}

/* Closes whatever is still open (our signal handles; anything else is a
 * leak worth a warning), lets the close callbacks run, closes the loop. */
static int loop_finish(struct iocd *d)
{
    int rc;
    uv_walk(&d->loop, close_leftover, d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&d->loop);
    if (rc < 0) {
        ioc_error(TAG, "the event loop did not close: %s", uv_strerror(rc));
        return IOC_EUV;
    }
    return 0;
}

static void diag_flush(struct ioc_diag *diag)
{
    ioc_diag_print(diag, stderr);
    ioc_diag_close(diag);
    ioc_diag_init(diag);
}

static int run(const char *path, bool check)
{
    struct iocd d;
    struct ioc_diag diag;
    struct ioc_config *cfg = NULL;
    bool loop_ok = false;
    bool problems;
    int status = 1;
    int rc;

    memset(&d, 0, sizeof(d));
    ioc_diag_init(&diag);

    rc = ioc_config_load(path, &cfg, &diag);
    problems = diag.n > 0;
    diag_flush(&diag);
    if (rc < 0) {
        if (!problems) {
            fprintf(stderr, "iocd: %s\n", ioc_strerror(rc));
        }
        goto out;
    }
    /* Local times (shift boundaries, reports) follow the city, not the host. */
    if (cfg->engine.timezone && cfg->engine.timezone[0]) {
        setenv("TZ", cfg->engine.timezone, 1);
        tzset();
    }

    rc = uv_loop_init(&d.loop);
    if (rc < 0) {
        fprintf(stderr, "iocd: cannot create the event loop: %s\n", uv_strerror(rc));
        goto out;
    }
    loop_ok = true;

    rc = ioc_engine_create(cfg, &d.loop, &d.engine, &diag);
    problems = problems || diag.n > 0;
    diag_flush(&diag);
    if (rc < 0) {
        fprintf(stderr, "iocd: cannot create the engine: %s\n", ioc_strerror(rc));
        goto out;
    }

    if (check) {
        struct ioc_engine_stats st;
        ioc_engine_get_stats(d.engine, &st);
        /* The engine opened its store: stopping it unstarted closes that. */
        ioc_engine_stop(d.engine);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        if (!problems) {
            printf("OK: %s, %d rules\n", cfg->file ? cfg->file : "embedded default", st.rules);
            status = 0;
        }
        goto out;
    }

    if (signals_start(&d) < 0) {
        ioc_engine_stop(d.engine);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        goto out;
    }
    rc = ioc_engine_start(d.engine);
    if (rc < 0) {
        /* The engine logged why; a half-started engine stops like any other. */
        ioc_engine_stop(d.engine);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        goto out;
    }
    print_ready(cfg, d.engine);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    status = 0;

out:
    if (loop_ok && loop_finish(&d) < 0) {
        status = 1;
    }
    ioc_engine_destroy(d.engine);
    ioc_config_free(cfg);
    ioc_diag_close(&diag);
    return status;
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_HELP_PLUGIN };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"help-plugin", required_argument, NULL, OPT_HELP_PLUGIN},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    const char *plugin = NULL;
    bool check = false;
    int c;

    while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_HELP_PLUGIN:
            plugin = optarg;
            break;
        case 'V':
            printf("iocd %s\n", IOC_VERSION);
            return 0;
        default:
            fprintf(stderr, "Try 'iocd --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "iocd: unexpected argument '%s'\nTry 'iocd --help'.\n", argv[optind]);
        return 2;
    }
    if (plugin) {
        return help_plugin(plugin);
    }
    /* A file-size limit (ulimit -f, a quota-like cap) must reach the store as
     * a failed write, which it holds and retries like a full disk, instead of
     * killing the engine with SIGXFSZ. */
    signal(SIGXFSZ, SIG_IGN);
    return run(path, check);
}
