/*
 * test_plugins.c — the input/output plugins and iocd, end to end.
 *
 * The drain case runs the engine library in-process and pushes a burst from
 * a PUSH socket on another thread: ZMQ_FD is edge-triggered, so a plugin that
 * stops draining early loses the rest of a burst forever, and the case would
 * time out instead of counting every message. The iocd cases run the real
 * binary (IOCD_BIN) with ipc:// endpoints in a private directory, so parallel
 * tests never fight over ports, and check what an operator sees: exit status
 * and messages.
 *
 * No sleeps decide an outcome: the drain case stops on a condition, checked
 * by a timer, with a deadline only as a guard; iocd cases wait for its ready
 * line and its exit.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>
#include <zmq.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "test.h"

#define BURST 10000

/* ---- Helpers ----------------------------------------------------------- */

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/ioc_test_plugins_XXXXXX";
    char *d = mkdtemp(tmpl);
    REQUIRE(d != NULL);
    return strdup(d);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* Writes dir/iocd.yaml with the given inputs (YAML list items), private ipc
 * endpoints, a private database and no rules; returns the file name. */
static char *write_config(const char *dir, const char *inputs)
{
    char *path;
    char text[4096];
    REQUIRE(asprintf(&path, "%s/iocd.yaml", dir) > 0);
    snprintf(text, sizeof text,
             "inputs:\n%s"
             "outputs:\n  - {plugin: zmq_pub, bind: \"ipc://%s/pub\"}\n"
             "control: {bind: \"ipc://%s/control\"}\n"
             "store: {path: \"%s/ioc.db\"}\n"
             "rules: []\n",
             inputs, dir, dir, dir);
    write_file(path, text);
    return path;
}

struct proc {
    pid_t pid;
    int out, err; /* read ends */
    char obuf[65536], ebuf[65536];
    size_t olen, elen;
};

static void proc_start(struct proc *p, char *const argv[])
{
    int o[2], e[2];
    memset(p, 0, sizeof(*p));
    REQUIRE(pipe(o) == 0 && pipe(e) == 0);
    p->pid = fork();
    REQUIRE(p->pid >= 0);
    if (p->pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(o[1]);
        close(e[0]);
        close(e[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    p->out = o[0];
    p->err = e[0];
}

/* Reads what is available (waiting up to ms); returns false once both ends
 * are at EOF. */
static bool proc_read(struct proc *p, int ms)
{
    struct pollfd fds[2] = {{p->out, POLLIN, 0}, {p->err, POLLIN, 0}};
    int n = 0;
    if (p->out < 0 && p->err < 0) {
        return false;
    }
    fds[0].fd = p->out;
    fds[1].fd = p->err;
    n = poll(fds, 2, ms);
    for (int i = 0; n > 0 && i < 2; i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) {
            continue;
        }
        char *buf = i == 0 ? p->obuf : p->ebuf;
        size_t *len = i == 0 ? &p->olen : &p->elen;
        char tmp[4096];
        ssize_t r = read(fds[i].fd, tmp, sizeof tmp);
        if (r <= 0) {
            close(fds[i].fd);
            *(i == 0 ? &p->out : &p->err) = -1;
            continue;
        }
        size_t room = sizeof(p->obuf) - 1 - *len;
        size_t take = (size_t)r < room ? (size_t)r : room;
        memcpy(buf + *len, tmp, take);
        *len += take;
        buf[*len] = '\0';
    }
    return true;
}

/* Waits until stderr contains needle or the process ends; true when found. */
static bool proc_wait_for(struct proc *p, const char *needle)
{
    for (int i = 0; i < 600; i++) {
        if (strstr(p->ebuf, needle)) {
            return true;
        }
        if (!proc_read(p, 100)) {
            break;
        }
    }
    return strstr(p->ebuf, needle) != NULL;
}

/* Reads to EOF and reaps; returns the exit status, or 128+signal. */
static int proc_finish(struct proc *p)
{
    int st = 0;
    while (proc_read(p, 1000)) {
    }
    REQUIRE(waitpid(p->pid, &st, 0) == p->pid);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* Checks the exit status; on a mismatch shows what iocd said. */
#define CHECK_EXIT(p, status, want)                                                                \
    do {                                                                                           \
        int got_ = (status);                                                                       \
        CHECK_EQ_INT(got_, want);                                                                  \
        if (got_ != (want)) {                                                                      \
            fprintf(stderr, "iocd stderr:\n%s", (p)->ebuf);                                        \
        }                                                                                          \
    } while (0)

static int run_iocd(char *const argv[], struct proc *p)
{
    proc_start(p, argv);
    return proc_finish(p);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* ---- in_zmq drains a burst through the edge-triggered fd ----------------- */

struct burst {
    char endpoint[256];
    struct ioc_engine *engine;
    uv_timer_t check, deadline;
    bool timed_out;
};

static void *push_burst(void *arg)
{
    const struct burst *b = arg;
    void *zc = zmq_ctx_new();
    void *s = zmq_socket(zc, ZMQ_PUSH);
    int linger = -1;
    REQUIRE(zmq_connect(s, b->endpoint) == 0);
    for (int i = 0; i < BURST; i++) {
        char ev[256];
        int n = snprintf(ev, sizeof ev,
                         "{\"id\":\"b%d\",\"source\":\"sensor\",\"type\":\"water_level\","
                         "\"ts\":\"2026-02-11T00:00:00+07:00\",\"device\":\"F1\",\"zone\":\"Z1\","
                         "\"value\":%d}",
                         i, i % 7);
        REQUIRE(zmq_send(s, ev, (size_t)n, 0) == n);
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_term(zc);
    return NULL;
}

static void on_check(uv_timer_t *t)
{
    struct burst *b = t->data;
    struct ioc_engine_stats st;
    ioc_engine_get_stats(b->engine, &st);
    if (st.received >= BURST) {
        uv_close((uv_handle_t *)&b->check, NULL);
        uv_close((uv_handle_t *)&b->deadline, NULL);
        ioc_engine_stop(b->engine);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct burst *b = t->data;
    b->timed_out = true;
    uv_close((uv_handle_t *)&b->check, NULL);
    uv_close((uv_handle_t *)&b->deadline, NULL);
    ioc_engine_stop(b->engine);
}

TEST(in_zmq_drains_burst)
{
    char *dir = make_tmpdir();
    char db[512];
    struct burst b;
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    struct ioc_engine_stats st;
    uv_loop_t loop;
    pthread_t th;

    memset(&b, 0, sizeof b);
    snprintf(b.endpoint, sizeof b.endpoint, "ipc://%s/in", dir);
    snprintf(db, sizeof db, "%s/ioc.db", dir);
    ioc_diag_init(&diag);
    REQUIRE(ioc_config_load(NULL, &cfg, &diag) == 0);
    REQUIRE(ioc_config_set_input(cfg, "zmq", "bind", b.endpoint) == 0);
    REQUIRE(ioc_config_set_rules(cfg, NULL, 0) == 0);
    REQUIRE(ioc_config_set_str(&cfg->store.path, db) == 0);
    ioc_config_clear_outputs(cfg);

    REQUIRE(uv_loop_init(&loop) == 0);
    REQUIRE(ioc_engine_create(cfg, &loop, &b.engine, &diag) == 0);
    ioc_diag_print(&diag, stderr);
    REQUIRE(ioc_engine_start(b.engine) == 0);
    uv_timer_init(&loop, &b.check);
    uv_timer_init(&loop, &b.deadline);
    b.check.data = b.deadline.data = &b;
    uv_timer_start(&b.check, on_check, 10, 10);
    uv_timer_start(&b.deadline, on_deadline, 60000, 0);

    REQUIRE(pthread_create(&th, NULL, push_burst, &b) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);

    ioc_engine_get_stats(b.engine, &st);
    CHECK(!b.timed_out);
    CHECK_EQ_INT(st.received, BURST);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    ioc_engine_destroy(b.engine);
    ioc_config_free(cfg);
    ioc_diag_close(&diag);
    remove_tree(dir);
}

/* ---- iocd: signals, finite runs, config errors, help ---------------------- */

static void iocd_stops_on(int sig)
{
    char *dir = make_tmpdir();
    char inputs[512];
    struct proc p;
    snprintf(inputs, sizeof inputs, "  - {plugin: zmq, bind: \"ipc://%s/in\"}\n", dir);
    char *cfg = write_config(dir, inputs);
    char *argv[] = {IOCD_BIN, "-c", cfg, NULL};

    proc_start(&p, argv);
    CHECK(proc_wait_for(&p, "iocd: ready"));
    CHECK_CONTAINS(p.ebuf, "ipc://");
    kill(p.pid, sig);
    CHECK_EXIT(&p, proc_finish(&p), 0);
    free(cfg);
    remove_tree(dir);
}

TEST(iocd_exits_0_on_sigterm)
{
    iocd_stops_on(SIGTERM);
}

TEST(iocd_exits_0_on_sigint)
{
    iocd_stops_on(SIGINT);
}

TEST(iocd_file_input_ends_by_itself)
{
    char *dir = make_tmpdir();
    char events[512], inputs[1024];
    struct proc p;
    snprintf(events, sizeof events, "%s/events.jsonl", dir);
    write_file(events, "{\"id\":\"1\",\"source\":\"sensor\",\"type\":\"water_level\","
                       "\"ts\":\"2026-02-11T00:00:00+07:00\",\"device\":\"F1\",\"zone\":\"Z1\","
                       "\"value\":2.6}\r\n"
                       "\n"
                       "not json\n");
    snprintf(inputs, sizeof inputs, "  - {plugin: file, path: \"%s\"}\n", events);
    char *cfg = write_config(dir, inputs);
    char *argv[] = {IOCD_BIN, "-c", cfg, NULL};

    CHECK_EXIT(&p, run_iocd(argv, &p), 0);
    free(cfg);
    remove_tree(dir);
}

TEST(iocd_missing_input_file_fails)
{
    char *dir = make_tmpdir();
    char inputs[1024];
    struct proc p;
    snprintf(inputs, sizeof inputs, "  - {plugin: file, path: \"%s/nope.jsonl\"}\n", dir);
    char *cfg = write_config(dir, inputs);
    char *argv[] = {IOCD_BIN, "-c", cfg, NULL};

    CHECK_EXIT(&p, run_iocd(argv, &p), 1);
    CHECK_CONTAINS(p.ebuf, "nope.jsonl");
    free(cfg);
    remove_tree(dir);
}

TEST(iocd_unknown_plugin_key)
{
    char *dir = make_tmpdir();
    struct proc p;
    char *cfg = write_config(dir, "  - {plugin: zmq, bnd: \"tcp://127.0.0.1:1\"}\n");
    char *argv[] = {IOCD_BIN, "-c", cfg, NULL};
    char where[600];

    CHECK_EXIT(&p, run_iocd(argv, &p), 1);
    /* The key is on line 2, column 19 of the file. */
    snprintf(where, sizeof where, "%s:2:19:", cfg);
    CHECK_CONTAINS(p.ebuf, where);
    CHECK_CONTAINS(p.ebuf, "bnd");
    CHECK_CONTAINS(p.ebuf, "bind");
    CHECK_CONTAINS(p.ebuf, "rcvhwm");
    free(cfg);
    remove_tree(dir);
}

TEST(iocd_help_plugin)
{
    struct proc p;
    char *zmq[] = {IOCD_BIN, "--help-plugin", "zmq", NULL};
    char *pub[] = {IOCD_BIN, "--help-plugin", "zmq_pub", NULL};
    char *none[] = {IOCD_BIN, "--help-plugin", "no_such_plugin", NULL};

    CHECK_EXIT(&p, run_iocd(zmq, &p), 0);
    CHECK_CONTAINS(p.obuf, "bind");
    CHECK_CONTAINS(p.obuf, "rcvhwm");
    CHECK_CONTAINS(p.obuf, "tcp://127.0.0.1:5555");
    CHECK_EXIT(&p, run_iocd(pub, &p), 0);
    CHECK_CONTAINS(p.obuf, "sndhwm");
    CHECK_EXIT(&p, run_iocd(none, &p), 2);
    CHECK_CONTAINS(p.ebuf, "zmq_pub");
    CHECK_CONTAINS(p.ebuf, "file");
}

TEST(iocd_usage)
{
    struct proc p;
    char *help[] = {IOCD_BIN, "--help", NULL};
    char *bad[] = {IOCD_BIN, "--no-such-option", NULL};

    CHECK_EXIT(&p, run_iocd(help, &p), 0);
    CHECK_CONTAINS(p.obuf, "--help-plugin");
    CHECK_EXIT(&p, run_iocd(bad, &p), 2);
}
