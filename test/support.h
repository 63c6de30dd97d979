/*
 * support.h — helpers for tests that drive the real programs (ioc, iocd) as
 * child processes: spawn with captured stdout/stderr and optional stdin, wait
 * with a deadline, temporary directories and files.
 *
 * Everything is static inline so that a test program includes only what it
 * uses, without unused-function warnings. Children run with pipes for all
 * three standard streams (stdin from /dev/null unless input is given); the
 * parent never blocks on one pipe while the child fills another, because
 * every read and write goes through one poll loop. A child that outlives its
 * deadline is killed, so a hung program fails its test instead of stalling
 * ctest.
 */
#ifndef IOC_TEST_SUPPORT_H
#define IOC_TEST_SUPPORT_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What a finished child left. out and err are NUL-terminated (never NULL
 * after a wait, even when empty). */
struct run_result {
    int status;     /* exit code; 128 + N when killed by signal N; -1 when timed out */
    bool timed_out; /* killed at the deadline */
    char *out, *err;
    size_t out_len, err_len;
};

/* A running child. */
struct child {
    pid_t pid;
    int in_fd, out_fd, err_fd; /* -1 once closed */
    const char *input;
    size_t input_len, input_off;
};

static inline double support_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts argv[0] (a path) with argv. input (may be NULL) is written to its
 * stdin by child_wait, which then closes it. Returns 0 or -1. */
static inline int child_spawn(struct child *c, char *const argv[], const char *input,
                              size_t input_len)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    memset(c, 0, sizeof *c);
    c->in_fd = c->out_fd = c->err_fd = -1;
    /* A child that exits before reading its input must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    if ((input && pipe2(in, O_CLOEXEC) != 0) || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0) {
        goto fail;
    }
    fflush(NULL);
    c->pid = fork();
    if (c->pid < 0) {
        goto fail;
    }
    if (c->pid == 0) {
        int devnull = input ? -1 : open("/dev/null", O_RDONLY);
        dup2(input ? in[0] : devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (input) {
        close(in[0]);
        c->in_fd = in[1];
        fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
    }
    close(out[1]);
    close(err[1]);
    c->out_fd = out[0];
    c->err_fd = err[0];
    c->input = input;
    c->input_len = input_len;
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) {
            close(in[i]);
        }
        if (out[i] >= 0) {
            close(out[i]);
        }
        if (err[i] >= 0) {
            close(err[i]);
        }
    }
    return -1;
}

static inline void support_append(char **buf, size_t *len, const char *data, size_t n)
{
    char *p = realloc(*buf, *len + n + 1);
    if (!p) {
        abort();
    }
    memcpy(p + *len, data, n);
    *len += n;
    p[*len] = '\0';
    *buf = p;
}

static inline void support_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Feeds input, collects output until the child closes both pipes, then reaps
 * it. Kills it after timeout_s seconds. Returns 0 (see r->status). */
static inline int child_wait(struct child *c, double timeout_s, struct run_result *r)
{
    double deadline = support_now_s() + timeout_s;
    memset(r, 0, sizeof *r);
    support_append(&r->out, &r->out_len, "", 0);
    support_append(&r->err, &r->err_len, "", 0);
    if (c->in_fd >= 0 && c->input_len == 0) {
        support_close(&c->in_fd);
    }
    while (c->out_fd >= 0 || c->err_fd >= 0 || c->in_fd >= 0) {
        double left = deadline - support_now_s();
        if (left <= 0) {
            r->timed_out = true;
            kill(c->pid, SIGKILL);
            break;
        }
        struct pollfd p[3];
        int np = 0, io = -1, oo = -1, eo = -1;
        if (c->in_fd >= 0) {
            io = np;
            p[np++] = (struct pollfd){.fd = c->in_fd, .events = POLLOUT};
        }
        if (c->out_fd >= 0) {
            oo = np;
            p[np++] = (struct pollfd){.fd = c->out_fd, .events = POLLIN};
        }
        if (c->err_fd >= 0) {
            eo = np;
            p[np++] = (struct pollfd){.fd = c->err_fd, .events = POLLIN};
        }
        int ms = left > 1.0 ? 1000 : (int)(left * 1000) + 1;
        if (poll(p, (nfds_t)np, ms) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (io >= 0 && p[io].revents) {
            ssize_t w = write(c->in_fd, c->input + c->input_off, c->input_len - c->input_off);
            if (w > 0) {
                c->input_off += (size_t)w;
            }
            if ((w < 0 && errno != EAGAIN) || c->input_off >= c->input_len) {
                support_close(&c->in_fd);
            }
        }
        char buf[65536];
        if (oo >= 0 && p[oo].revents) {
            ssize_t n = read(c->out_fd, buf, sizeof buf);
            if (n > 0) {
                support_append(&r->out, &r->out_len, buf, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                support_close(&c->out_fd);
            }
        }
        if (eo >= 0 && p[eo].revents) {
            ssize_t n = read(c->err_fd, buf, sizeof buf);
            if (n > 0) {
                support_append(&r->err, &r->err_len, buf, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                support_close(&c->err_fd);
            }
        }
    }
    support_close(&c->in_fd);
    support_close(&c->out_fd);
    support_close(&c->err_fd);
    /* The pipes can close before the process ends; wait for it, still
     * bounded by the deadline. */
    int st = 0;
    for (;;) {
        pid_t w = waitpid(c->pid, &st, r->timed_out ? 0 : WNOHANG);
        if (w == c->pid || (w < 0 && errno != EINTR)) {
            break;
        }
        if (w == 0 && support_now_s() >= deadline) {
            r->timed_out = true;
            kill(c->pid, SIGKILL);
            continue;
        }
        if (w == 0) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (r->timed_out) {
        r->status = -1;
    } else if (WIFEXITED(st)) {
        r->status = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        r->status = 128 + WTERMSIG(st);
    } else {
        r->status = -1;
    }
    c->pid = 0;
    return 0;
}

/* Sends a signal to a running child (e.g. SIGINT to test a clean stop). */
static inline void child_signal(struct child *c, int sig)
{
    if (c->pid > 0) {
        kill(c->pid, sig);
    }
}

/* Runs argv to its end (or the deadline) with optional stdin input. */
static inline int run_argv(struct run_result *r, double timeout_s, const char *input,
                           char *const argv[])
{
    struct child c;
    if (child_spawn(&c, argv, input, input ? strlen(input) : 0) != 0) {
        memset(r, 0, sizeof *r);
        r->status = -1;
        support_append(&r->out, &r->out_len, "", 0);
        support_append(&r->err, &r->err_len, "spawn failed", 12);
        return -1;
    }
    return child_wait(&c, timeout_s, r);
}

/* RUN(&r, timeout, prog, args...): a literal argument list, no stdin. */
#define RUN(r, timeout, ...) run_argv((r), (timeout), NULL, (char *[]){__VA_ARGS__, NULL})
/* RUN_IN(&r, timeout, input, prog, args...): the same with stdin. */
#define RUN_IN(r, timeout, input, ...)                                                             \
    run_argv((r), (timeout), (input), (char *[]){__VA_ARGS__, NULL})

static inline void run_result_free(struct run_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Prints what a child wrote, to explain a failed check. */
static inline void run_result_dump(const char *what, const struct run_result *r)
{
    fprintf(stderr, "--- %s: status %d%s\n--- stdout:\n%s--- stderr:\n%s---\n", what, r->status,
            r->timed_out ? " (timed out)" : "", r->out ? r->out : "", r->err ? r->err : "");
}

/* ---- Files ---------------------------------------------------------------- */

/* A new empty directory under $TMPDIR (or /tmp); the caller frees the path
 * and removes the tree with test_rmtree. Aborts on failure. */
static inline char *test_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *path;
    if (!base || !base[0]) {
        base = "/tmp";
    }
    if (asprintf(&path, "%s/ioc-test-XXXXXX", base) < 0) {
        abort();
    }
    if (!mkdtemp(path)) {
        fprintf(stderr, "mkdtemp %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

/* dir + "/" + name, malloc'd. */
static inline char *test_path(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0) {
        abort();
    }
    return p;
}

/* Writes text to path (created or truncated). 0 or -1. */
static inline int test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -1;
    }
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0) {
        rc = -1;
    }
    return rc;
}

/* The whole file, NUL-terminated, or NULL. *len may be NULL. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    if (!f) {
        return NULL;
    }
    char chunk[65536];
    size_t got;
    support_append(&buf, &n, "", 0);
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        support_append(&buf, &n, chunk, got);
    }
    fclose(f);
    if (len) {
        *len = n;
    }
    return buf;
}

static inline int support_rm_entry(const char *path, const struct stat *sb, int flag,
                                   struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes a directory tree (depth first, not following symlinks). */
static inline void test_rmtree(const char *path)
{
    if (path) {
        nftw(path, support_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* True when text has a line beginning with prefix followed by
 * ":<line>:<column>:" — the position format of every diagnostic. */
static inline bool has_position(const char *text, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        int line = 0, col = 0, used = 0;
        if (strncmp(p, prefix, plen) == 0 &&
            sscanf(p + plen, ":%d:%d:%n", &line, &col, &used) == 2 && used > 0 && line > 0 &&
            col > 0) {
            return true;
        }
    }
    return false;
}

#endif
