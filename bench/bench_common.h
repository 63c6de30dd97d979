/*
 * bench_common.h — what the bench programs share: clocks, medians, scratch directories,
 * child processes (citygen, iocd, sec), streams held in memory, and a running iocd's
 * control socket.
 *
 * Why a header of static inline functions: CMake turns every .c file of bench/ into its own
 * program, so a shared .c file would become a program without a main. Static inline keeps each
 * program self-contained and silences "unused function" for helpers a program does not use.
 *
 * Conventions: functions return 0 or -1 and print their own one-line reason to stderr, tagged
 * with the program's name (the `who` argument), so callers only pass the failure up. Nothing
 * here keeps global state; every resource lives in a struct the caller owns and closes.
 * Single-threaded unless a function says otherwise.
 */
#ifndef IOC_BENCH_COMMON_H
#define IOC_BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zmq.h>

/* The city stream bench_rules measures (and the bench programs that take no --stream make
 * the same one): ~700 sensors at a 60 s interval, so a million events is one city day. */
#define BENCH_SEED 20260211L
#define BENCH_CITY_SHAPE                                                                           \
    "--zones", "100", "--flood-sensors", "4", "--pressure-sensors", "3", "--cameras", "3",         \
        "--interval", "60"

/* ---- time and statistics ----------------------------------------------------------------- */

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double bench_now_s(void)
{
    return (double)bench_now_ns() / 1e9;
}

static inline void bench_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v (so v[0] and v[n-1] are then min and max) and returns the median; 0 for n == 0. */
static inline double bench_median(double *v, int n)
{
    if (n <= 0) {
        return 0;
    }
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Reads a number for an option, or exits with status 2 (usage), naming the option. */
static inline long bench_parse_long(const char *who, const char *s, const char *opt, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min) {
        fprintf(stderr, "%s: %s: expected a number >= %ld, got '%s'\n", who, opt, min, s);
        exit(2);
    }
    return v;
}

/* Reads a comma-separated list of numbers for an option into out (at most max; more are
 * ignored), exiting as bench_parse_long does on a bad one. Returns how many were read. */
static inline int bench_parse_longs(const char *who, const char *arg, const char *opt, long min,
                                    long *out, int max)
{
    int n = 0;
    char *copy = strdup(arg), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && n < max;
         t = strtok_r(NULL, ",", &save)) {
        out[n++] = bench_parse_long(who, t, opt, min);
    }
    free(copy);
    return n;
}

/* ---- paths and scratch directories ------------------------------------------------------- */

/* snprintf for paths: a path that does not fit is an error, never silently cut. */
__attribute__((format(printf, 4, 5))) static inline int bench_fmt(const char *who, char *out,
                                                                  size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "%s: path too long: %s...\n", who, out);
        return -1;
    }
    return 0;
}

/* A fresh directory $TMPDIR/ioc-<name>-XXXXXX (or under /tmp), removed by bench_rmtree. */
static inline int bench_mkdtemp(const char *who, char *out, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    if (bench_fmt(who, out, len, "%s/ioc-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", who) != 0) {
        return -1;
    }
    if (!mkdtemp(out)) {
        fprintf(stderr, "%s: mkdtemp %s: %s\n", who, out, strerror(errno));
        return -1;
    }
    return 0;
}

static inline int bench_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes a scratch directory and everything in it (depth first, symlinks not followed).
 * Accepts an empty path (nothing was made). */
static inline void bench_rmtree(const char *dir)
{
    if (dir && dir[0]) {
        nftw(dir, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* The directory of this program (the build directory, where citygen and iocd also are). */
static inline void bench_self_dir(char *out, size_t len, const char *argv0)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
    } else {
        snprintf(exe, sizeof exe, "%s", argv0);
    }
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        snprintf(out, len, "%s", exe);
    } else {
        snprintf(out, len, ".");
    }
}

/* Removes a SQLite database and its WAL companions. */
static inline void bench_remove_db(const char *db)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", db, suffix[i]);
        unlink(p);
    }
}

/* ---- child processes ---------------------------------------------------------------------- */

/* Starts argv[0] (searched in PATH when it has no slash) with standard output and error sent
 * to the given files (NULL: inherited). The child gets SIGTERM when this process ends, however
 * it ends (PR_SET_PDEATHSIG), so a bench that crashes or is killed leaves no iocd behind. An
 * exec failure is reported here, through a close-on-exec pipe that carries the child's errno. */
static inline int bench_spawn(const char *who, char *const argv[], const char *out_path,
                              const char *err_path, pid_t *pid)
{
    int fd[2];
    pid_t parent = getpid();
    if (pipe2(fd, O_CLOEXEC) != 0) {
        fprintf(stderr, "%s: pipe: %s\n", who, strerror(errno));
        return -1;
    }
    fflush(NULL);
    *pid = fork();
    if (*pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", who, strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (*pid == 0) {
        const char *paths[2] = {out_path, err_path};
        int err = 0;
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(127); /* the parent is already gone */
        }
        for (int i = 0; i < 2 && !err; i++) {
            int f = paths[i] ? open(paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
            if (paths[i] && (f < 0 || dup2(f, i + 1) < 0)) {
                err = errno;
            }
            if (f >= 0) {
                close(f);
            }
        }
        if (!err) {
            execvp(argv[0], argv);
            err = errno;
        }
        ssize_t w = write(fd[1], &err, sizeof err);
        (void)w;
        _exit(127);
    }
    close(fd[1]);
    int err = 0;
    ssize_t n = read(fd[0], &err, sizeof err);
    close(fd[0]);
    if (n == (ssize_t)sizeof err) {
        fprintf(stderr, "%s: cannot run %s: %s\n", who, argv[0], strerror(err));
        waitpid(*pid, NULL, 0);
        return -1;
    }
    return 0;
}

/* Waits for pid for at most timeout_ms (< 0: for ever). Returns its wait status, or -1 when it
 * is still running at the deadline (it is then left running). */
static inline int bench_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = bench_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (timeout_ms >= 0 && bench_now_ns() > deadline) {
            return -1;
        }
        if (r == 0) {
            bench_sleep_ms(2);
        }
    }
}

/* Runs fn(arg, out) in a forked child and copies its result (the size bytes at out, which must
 * fit a pipe's buffer) back: each measurement then starts from the same allocator state, and
 * the child's peak memory is that measurement's alone. 0, or -1 when the child gave no result. */
static inline int bench_in_child(const char *who, void (*fn)(void *arg, void *out), void *arg,
                                 void *out, size_t size)
{
    int fd[2];
    if (pipe(fd) != 0) {
        fprintf(stderr, "%s: pipe: %s\n", who, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", who, strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        fn(arg, out);
        ssize_t w = write(fd[1], out, size);
        _exit(w == (ssize_t)size ? 0 : 1);
    }
    close(fd[1]);
    ssize_t n = read(fd[0], out, size);
    close(fd[0]);
    int st = bench_wait(pid, -1);
    if (n != (ssize_t)size || st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s: the measuring child failed (no result)\n", who);
        return -1;
    }
    return 0;
}

/* Runs a program to completion; 0 when it exited with status 0. */
static inline int bench_run(const char *who, char *const argv[], const char *out_path)
{
    pid_t pid;
    if (bench_spawn(who, argv, out_path, NULL, &pid) != 0) {
        return -1;
    }
    int st = bench_wait(pid, -1);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s: %s failed\n", who, argv[0]);
        return -1;
    }
    return 0;
}

/* Generates the bench_rules city stream of n events into path with citygen from dir. */
static inline int bench_citygen(const char *who, const char *dir, long n, const char *path)
{
    char gen[PATH_MAX], seed[32], events[32];
    if (bench_fmt(who, gen, sizeof gen, "%s/citygen", dir) != 0) {
        return -1;
    }
    snprintf(seed, sizeof seed, "%ld", BENCH_SEED);
    snprintf(events, sizeof events, "%ld", n);
    char *const argv[] = {gen,    "--seed", seed, BENCH_CITY_SHAPE, "--events",
                          events, "-q",     "-o", (char *)path,     NULL};
    fprintf(stderr, "%s: generating:", who);
    for (int i = 0; argv[i]; i++) {
        fprintf(stderr, " %s", argv[i]);
    }
    fprintf(stderr, "\n");
    return bench_run(who, argv, NULL);
}

/* ---- a stream held in memory -------------------------------------------------------------- */

/* The lines of a JSON-lines file in one buffer, so a sender's timing sees no disk. */
struct bench_lines {
    char *buf;
    size_t *off, *len;
    size_t n;
};

static inline void bench_lines_free(struct bench_lines *l)
{
    free(l->buf);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

/* Loads path (empty lines and a trailing '\r' skipped). Lines are not NUL-terminated. */
static inline int bench_lines_load(const char *who, const char *path, struct bench_lines *l)
{
    memset(l, 0, sizeof *l);
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
        if (f) {
            fclose(f);
        }
        return -1;
    }
    size_t size = (size_t)st.st_size;
    l->buf = malloc(size + 1);
    if (!l->buf || fread(l->buf, 1, size, f) != size) {
        fprintf(stderr, "%s: cannot read %s\n", who, path);
        fclose(f);
        bench_lines_free(l);
        return -1;
    }
    fclose(f);
    size_t cap = 0;
    for (size_t i = 0; i < size; i++) {
        cap += l->buf[i] == '\n';
    }
    cap++;
    l->off = malloc(cap * sizeof *l->off);
    l->len = malloc(cap * sizeof *l->len);
    if (!l->off || !l->len) {
        bench_lines_free(l);
        return -1;
    }
    for (size_t s = 0; s < size;) {
        char *nl = memchr(l->buf + s, '\n', size - s);
        size_t e = nl ? (size_t)(nl - l->buf) : size;
        size_t len = e - s;
        if (len > 0 && l->buf[s + len - 1] == '\r') {
            len--;
        }
        if (len > 0) {
            l->off[l->n] = s;
            l->len[l->n] = len;
            l->n++;
        }
        s = e + 1;
    }
    return 0;
}

/* ---- memory of this process --------------------------------------------------------------- */

/* A "Vm..." line of /proc/self/status in KiB (VmRSS, VmHWM), or -1. */
static inline long bench_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0), so a later VmHWM is this phase's peak. */
static inline int bench_reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0) {
        return -1;
    }
    int ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok ? 0 : -1;
}

/* ---- a running iocd ----------------------------------------------------------------------- */

/* Three distinct free loopback ports: all are bound before any is released, so they differ;
 * another program could still take one before iocd binds it, which iocd then reports. */
static inline int bench_free_ports(const char *who, int *ports, int n)
{
    int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    int rc = n <= 8 ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof a;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &al) != 0) {
            fprintf(stderr, "%s: cannot find free loopback ports: %s\n", who, strerror(errno));
            rc = -1;
        }
        ports[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < 8; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    return rc;
}

struct bench_iocd {
    const char *who;
    pid_t pid;          /* 0 when not running */
    char dir[PATH_MAX]; /* its scratch directory: config, database, log */
    char db[PATH_MAX];
    char log[PATH_MAX];
    char ingest[64], publish[64], control[64];
    void *zctx;
    void *ctl; /* DEALER on the control socket; replaced after a timeout */
};

/* One control command; *reply is the parsed answer (caller deletes) or NULL on timeout. */
static inline int bench_iocd_request(struct bench_iocd *d, const char *json, cJSON **reply,
                                     int timeout_ms)
{
    *reply = NULL;
    if (!d->ctl) {
        int linger = 0;
        d->ctl = zmq_socket(d->zctx, ZMQ_DEALER);
        if (!d->ctl) {
            return -1;
        }
        zmq_setsockopt(d->ctl, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(d->ctl, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
        if (zmq_connect(d->ctl, d->control) != 0) {
            return -1;
        }
    }
    if (zmq_send(d->ctl, json, strlen(json), 0) < 0) {
        return -1;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    int n = zmq_msg_recv(&m, d->ctl, 0);
    if (n >= 0) {
        *reply = cJSON_ParseWithLength(zmq_msg_data(&m), zmq_msg_size(&m));
    }
    zmq_msg_close(&m);
    if (n < 0) {
        /* A late answer would be taken for the next request's: start over. */
        zmq_close(d->ctl);
        d->ctl = NULL;
        return -1;
    }
    return *reply ? 0 : -1;
}

/* The counters of `ioc status` (received, accepted, ...); -1 on no answer. */
static inline int bench_iocd_status(struct bench_iocd *d, const char *const *names,
                                    uint64_t *values, int n, int timeout_ms)
{
    cJSON *r;
    if (bench_iocd_request(d, "{\"op\":\"status\"}", &r, timeout_ms) != 0) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, names[i]);
        values[i] = cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
    }
    cJSON_Delete(r);
    return 0;
}

/* Prints the tail of iocd's log: why it did not start or stop. */
static inline void bench_iocd_show_log(const struct bench_iocd *d)
{
    FILE *f = fopen(d->log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        fprintf(stderr, "%s: iocd: %s", d->who, line);
    }
    if (f) {
        fclose(f);
    }
}

/* Stops iocd: SIGTERM (it drains, commits and exits), then SIGKILL after a minute. Sets
 * *seconds to how long it took to exit, when not NULL. Returns iocd's exit status, -1 when it
 * had to be killed. Safe when iocd is not running. */
static inline int bench_iocd_stop(struct bench_iocd *d, double *seconds)
{
    if (d->ctl) {
        zmq_close(d->ctl);
        d->ctl = NULL;
    }
    int rc = 0;
    if (d->pid > 0) {
        int64_t t0 = bench_now_ns();
        kill(d->pid, SIGTERM);
        int st = bench_wait(d->pid, 60000);
        if (st < 0) {
            fprintf(stderr, "%s: iocd did not stop within 60 s; killing it\n", d->who);
            kill(d->pid, SIGKILL);
            bench_wait(d->pid, -1);
            rc = -1;
        } else {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        if (seconds) {
            *seconds = (double)(bench_now_ns() - t0) / 1e9;
        }
        if (rc != 0) {
            bench_iocd_show_log(d);
        }
        d->pid = 0;
    }
    if (d->zctx) {
        zmq_ctx_term(d->zctx);
        d->zctx = NULL;
    }
    return rc;
}

/* Starts iocd (the binary next to this program) on a config written into dir: free loopback
 * ports for ingest, publish and control, the database in dir, the event archive on or off, the
 * shipped rules (the embedded default's, resolved against the source tree). Returns once the
 * control socket answers, so its sockets are bound. */
static inline int bench_iocd_start(struct bench_iocd *d, const char *who, const char *bin_dir,
                                   const char *dir, bool archive)
{
    memset(d, 0, sizeof *d);
    d->who = who;
    char conf[PATH_MAX], bin[PATH_MAX];
    int ports[3];
    if (bench_fmt(who, d->dir, sizeof d->dir, "%s", dir) != 0 ||
        bench_fmt(who, d->db, sizeof d->db, "%s/ioc.db", dir) != 0 ||
        bench_fmt(who, d->log, sizeof d->log, "%s/iocd.log", dir) != 0 ||
        bench_fmt(who, conf, sizeof conf, "%s/iocd.yaml", dir) != 0 ||
        bench_fmt(who, bin, sizeof bin, "%s/iocd", bin_dir) != 0 ||
        bench_free_ports(who, ports, 3) != 0) {
        return -1;
    }
    snprintf(d->ingest, sizeof d->ingest, "tcp://127.0.0.1:%d", ports[0]);
    snprintf(d->publish, sizeof d->publish, "tcp://127.0.0.1:%d", ports[1]);
    snprintf(d->control, sizeof d->control, "tcp://127.0.0.1:%d", ports[2]);
    bench_remove_db(d->db);
    FILE *f = fopen(conf, "w");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", who, conf, strerror(errno));
        return -1;
    }
    /* Sections left out (engine, rules, grades, escalation) keep the embedded default. */
    fprintf(f,
            "# Written by %s for one bench run.\n"
            "inputs:\n  - {plugin: zmq, bind: \"%s\"}\n"
            "outputs:\n  - {plugin: zmq_pub, bind: \"%s\"}\n"
            "control:\n  bind: \"%s\"\n"
            "store:\n  path: \"%s\"\n  archive_events: %s\n  synchronous: NORMAL\n",
            who, d->ingest, d->publish, d->control, d->db, archive ? "true" : "false");
    if (fclose(f) != 0) {
        return -1;
    }
    char *const argv[] = {bin, "-c", conf, NULL};
    if (bench_spawn(who, argv, NULL, d->log, &d->pid) != 0) {
        d->pid = 0;
        return -1;
    }
    if (!(d->zctx = zmq_ctx_new())) {
        bench_iocd_stop(d, NULL);
        return -1;
    }
    static const char *const names[] = {"received"};
    uint64_t v;
    for (int64_t deadline = bench_now_ns() + 15 * 1000000000LL; bench_now_ns() < deadline;) {
        if (bench_iocd_status(d, names, &v, 1, 200) == 0) {
            return 0;
        }
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            fprintf(stderr, "%s: iocd exited at start\n", who);
            d->pid = 0;
            bench_iocd_show_log(d);
            bench_iocd_stop(d, NULL);
            return -1;
        }
    }
    fprintf(stderr, "%s: iocd did not answer on %s within 15 s\n", who, d->control);
    bench_iocd_stop(d, NULL);
    return -1;
}

#endif
