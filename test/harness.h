/*
 * harness.h — a real iocd for integration tests.
 *
 * Starts the built iocd as a child process with a config written into a
 * fresh temporary directory (free loopback ports, its own database, its own
 * rules), waits for its "ready" line, and offers the sockets a user would
 * use: a PUSH to the ingest socket and a SUB on the publish socket. Waits
 * are on conditions (a line in the log, a row in the database, a message on
 * a socket), each bounded by a deadline, never fixed sleeps.
 */
#ifndef IOC_TEST_HARNESS_H
#define IOC_TEST_HARNESS_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <cjson/cJSON.h>

#include "ioc/event.h"
#include "test.h"

struct iocd {
    char dir[256];
    char cfg[300], log[300], db[300], rules[300];
    int ingest_port, pub_port, control_port;
    int reliable_port; /* iocd_prepare_reliable only */
    pid_t pid;
    void *zctx, *push, *sub;
};

static inline int64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static inline void h_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

static inline char *h_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return strdup("");
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        b[0] = 0;
    }
    fclose(f);
    return b;
}

/* The default test rules: a banded water level per device and a probe rule
 * the harness uses to know the subscription is live. */
static const char h_default_rules[] =
    "rules:\n"
    "  - id: test.probe\n"
    "    when: source == \"system\" && type == \"probe\"\n"
    "    key: [id]\n"
    "    grade: 4\n"
    "  - id: flood.level\n"
    "    title: \"Water level ${value} m at ${device}\"\n"
    "    when: source == \"sensor\" && type == \"water_level\"\n"
    "    key: [device]\n"
    "    grade: {by: value, bands: [{ge: 1.5, grade: 3}, {ge: 2.0, grade: 2}, {ge: 2.5, grade: "
    "1}]}\n"
    "    sop: [Check the upstream sensors, Call the district chief]\n";

/* Prepares a directory and a config; extra is appended to the config (YAML
 * sections that replace the defaults, e.g. "store: {...}"). rules NULL
 * means the default test rules. */
static inline void iocd_prepare(struct iocd *d, const char *rules, const char *store_extra)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/ioc-test-XXXXXX");
    REQUIRE(mkdtemp(d->dir));
    snprintf(d->cfg, sizeof d->cfg, "%s/iocd.yaml", d->dir);
    snprintf(d->log, sizeof d->log, "%s/iocd.log", d->dir);
    snprintf(d->db, sizeof d->db, "%s/ioc.db", d->dir);
    snprintf(d->rules, sizeof d->rules, "%s/rules.yaml", d->dir);
    d->ingest_port = h_free_port();
    d->pub_port = h_free_port();
    d->control_port = h_free_port();
    h_write(d->rules, rules ? rules : h_default_rules);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "engine: {lateness: 5s, timezone: Asia/Bangkok, max_event_bytes: 4KiB}\n"
             "inputs: [{plugin: zmq, bind: \"tcp://127.0.0.1:%d\"}]\n"
             "outputs: [{plugin: zmq_pub, bind: \"tcp://127.0.0.1:%d\"}]\n"
             "control: {bind: \"tcp://127.0.0.1:%d\"}\n"
             "rules: [rules.yaml]\n"
             "%s\n",
             d->ingest_port, d->pub_port, d->control_port,
             store_extra ? store_extra : "store: {path: ioc.db, archive_events: true}");
    h_write(d->cfg, cfg);
}

/* As iocd_prepare, and the config has a zmq_reliable input (DESIGN §8)
 * beside the zmq one, on a free port: d->reliable_port. */
static inline void iocd_prepare_reliable(struct iocd *d, const char *rules, const char *store_extra)
{
    iocd_prepare(d, rules, store_extra);
    d->reliable_port = h_free_port();
    char *cfg = h_read(d->cfg);
    const char *at = strstr(cfg, "inputs: [");
    REQUIRE(at);
    size_t head = (size_t)(at - cfg) + strlen("inputs: [");
    char *out = malloc(strlen(cfg) + 128);
    REQUIRE(out);
    snprintf(out, strlen(cfg) + 128, "%.*s{plugin: zmq_reliable, bind: \"tcp://127.0.0.1:%d\"}, %s",
             (int)head, cfg, d->reliable_port, cfg + head);
    h_write(d->cfg, out);
    free(out);
    free(cfg);
}

/* A test that fails a REQUIRE exits at once; these pids are the iocd
 * processes it started, stopped at exit so none outlives its test. */
static pid_t h_running[8];

static void h_kill_running(void)
{
    for (int i = 0; i < 8; i++) {
        if (h_running[i] > 0) {
            kill(h_running[i], SIGKILL);
            waitpid(h_running[i], NULL, 0);
            h_running[i] = 0;
        }
    }
}

static inline void h_track(pid_t pid, int on)
{
    static int registered;
    if (!registered) {
        atexit(h_kill_running);
        registered = 1;
    }
    for (int i = 0; i < 8; i++) {
        if (on ? h_running[i] == 0 : h_running[i] == pid) {
            h_running[i] = on ? pid : 0;
            return;
        }
    }
}

/* Starts iocd and waits for its ready line; returns 0, or -1 if it exited. */
/* Says why a start failed, with the end of iocd's log, so a failure in CI
 * can be understood from its output alone. */
static inline void h_log_tail(const struct iocd *d, const char *why)
{
    char *log = h_read(d->log);
    size_t n = strlen(log);
    fprintf(stderr, "%s; its log ends:\n%s\n", why, n > 4000 ? log + n - 4000 : log);
    free(log);
}

static inline int iocd_start(struct iocd *d)
{
    /* The log is appended to across restarts: only a "ready" written after
     * this start counts. */
    char *before = h_read(d->log);
    size_t from = strlen(before);
    free(before);
    d->pid = fork();
    REQUIRE(d->pid >= 0);
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(IOCD_BIN, "iocd", "-c", d->cfg, (char *)NULL);
        _exit(127);
    }
    h_track(d->pid, 1);
    int64_t deadline = h_now_ms() + 20000;
    while (h_now_ms() < deadline) {
        char *log = h_read(d->log);
        int ready = strlen(log) > from && strstr(log + from, "ready") != NULL;
        free(log);
        if (ready) {
            return 0;
        }
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            h_track(d->pid, 0);
            d->pid = 0;
            h_log_tail(d, "iocd exited before it was ready");
            return -1;
        }
        usleep(10000);
    }
    h_log_tail(d, "iocd was not ready after 20 s");
    return -1;
}

/* Sends a signal and waits for the exit; returns the exit status, or -1. */
static inline int iocd_stop(struct iocd *d, int sig)
{
    if (d->pid <= 0) {
        return -1;
    }
    kill(d->pid, sig);
    int st = 0;
    int64_t deadline = h_now_ms() + 30000;
    while (h_now_ms() < deadline) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            h_track(d->pid, 0);
            d->pid = 0;
            int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            if (code != 0 && sig != SIGKILL) {
                /* Show why: the sanitizers and the engine say it in the log. */
                char *log = h_read(d->log);
                size_t n = strlen(log);
                fprintf(stderr, "iocd exited %d; its log ends:\n%s\n", code,
                        n > 6000 ? log + n - 6000 : log);
                free(log);
            }
            return code;
        }
        usleep(10000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    h_track(d->pid, 0);
    d->pid = 0;
    return -1;
}

static inline void iocd_connect(struct iocd *d)
{
    char ep[64];
    if (!d->zctx) {
        d->zctx = zmq_ctx_new();
    }
    d->push = zmq_socket(d->zctx, ZMQ_PUSH);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", d->ingest_port);
    REQUIRE(zmq_connect(d->push, ep) == 0);
    d->sub = zmq_socket(d->zctx, ZMQ_SUB);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", d->pub_port);
    REQUIRE(zmq_setsockopt(d->sub, ZMQ_SUBSCRIBE, "incident.", 9) == 0);
    REQUIRE(zmq_connect(d->sub, ep) == 0);
}

static inline void iocd_send(struct iocd *d, const char *msg, size_t len)
{
    REQUIRE(zmq_send(d->push, msg, len, 0) == (int)len);
}

static inline void iocd_sendf(struct iocd *d, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    iocd_send(d, buf, (size_t)n);
}

/* Receives one published change within timeout_ms: returns the parsed JSON
 * (caller deletes) and copies the topic; NULL on timeout. */
static inline cJSON *iocd_recv(struct iocd *d, char *topic, size_t tn, int timeout_ms)
{
    zmq_pollitem_t it = {d->sub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) {
        return NULL;
    }
    char t[256];
    int n = zmq_recv(d->sub, t, sizeof t - 1, 0);
    REQUIRE(n >= 0);
    t[n < (int)sizeof t - 1 ? n : (int)sizeof t - 1] = 0;
    if (topic && tn) {
        size_t k = strlen(t) < tn - 1 ? strlen(t) : tn - 1;
        memcpy(topic, t, k);
        topic[k] = 0;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    REQUIRE(zmq_msg_recv(&m, d->sub, 0) >= 0);
    cJSON *j = cJSON_ParseWithLength(zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    return j;
}

/* Sends probe events until the subscriber sees the first published change,
 * so that later changes cannot be lost to the PUB/SUB join. The probes carry
 * event time ts (not older than what the engine has seen, or they are late)
 * and ids never used before (a restarted engine remembers the old ones). */
static inline void iocd_sync_at(struct iocd *d, const char *ts)
{
    int64_t deadline = h_now_ms() + 20000;
    long long stamp = (long long)h_now_ms();
    for (int i = 0; h_now_ms() < deadline; i++) {
        iocd_sendf(d,
                   "{\"id\":\"probe-%lld-%d\",\"source\":\"system\",\"type\":\"probe\","
                   "\"ts\":\"%s\"}",
                   stamp, i, ts);
        cJSON *j = iocd_recv(d, NULL, 0, 100);
        if (j) {
            cJSON_Delete(j);
            /* Drain the changes of the other probes. */
            while ((j = iocd_recv(d, NULL, 0, 200))) {
                cJSON_Delete(j);
            }
            return;
        }
    }
    REQUIRE(!"subscription never became live");
}

static inline void iocd_sync(struct iocd *d)
{
    iocd_sync_at(d, "2026-02-11T00:00:00+07:00");
}

static inline void iocd_close(struct iocd *d)
{
    if (d->pid > 0) {
        iocd_stop(d, SIGKILL);
    }
    if (d->push) {
        int linger = 0;
        zmq_setsockopt(d->push, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(d->push);
    }
    if (d->sub) {
        zmq_close(d->sub);
    }
    if (d->zctx) {
        zmq_ctx_term(d->zctx);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", d->dir);
    }
}

/* One integer from a SQL query on a database file (-1 on error). */
static inline long long h_sql_int(const char *db, const char *sql)
{
    sqlite3 *h;
    long long v = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return -1;
    }
    sqlite3_busy_timeout(h, 2000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* One text value from a SQL query (caller frees; NULL on error or no row). */
static inline char *h_sql_text(const char *db, const char *sql)
{
    sqlite3 *h;
    char *v = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return NULL;
    }
    sqlite3_busy_timeout(h, 2000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0)) {
        v = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Waits until the query returns at least want; returns the last value. */
static inline long long h_wait_sql(const char *db, const char *sql, long long want, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    long long v = -1;
    while (h_now_ms() < deadline) {
        v = h_sql_int(db, sql);
        if (v >= want) {
            return v;
        }
        usleep(10000);
    }
    return v;
}

#endif
