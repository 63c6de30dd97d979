/*
 * test_console.c — the operator's board against a real iocd, on a real
 * pseudo-terminal: it loads the open incidents when it starts, and loads them
 * again when the engine restarts (the messages' seq starts over), so it
 * never shows a stale picture.
 */
#include <pty.h>
#include <poll.h>

#include "harness.h"

struct term {
    int fd;
    pid_t pid;
    char screen[1 << 18]; /* everything the board wrote, escape codes and all */
    size_t n;
};

static void term_start(struct term *t, struct iocd *d)
{
    struct winsize ws = {.ws_row = 30, .ws_col = 120};
    memset(t, 0, sizeof *t);
    t->pid = forkpty(&t->fd, NULL, NULL, &ws);
    REQUIRE(t->pid >= 0);
    if (t->pid == 0) {
        char pub[64], ctl[64];
        snprintf(pub, sizeof pub, "tcp://127.0.0.1:%d", d->pub_port);
        snprintf(ctl, sizeof ctl, "tcp://127.0.0.1:%d", d->control_port);
        setenv("TERM", "xterm", 1);
        execl(IOC_BIN, "ioc", "console", "--endpoint", pub, "--control", ctl, "--operator", "op1",
              (char *)NULL);
        _exit(127);
    }
}

/* Reads what the board writes until needle appears (or the deadline). */
static int term_wait(struct term *t, const char *needle, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    size_t from = t->n;
    while (h_now_ms() < deadline) {
        struct pollfd p = {t->fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            ssize_t r = read(t->fd, t->screen + t->n, sizeof t->screen - 1 - t->n);
            if (r <= 0) {
                return 0;
            }
            t->n += (size_t)r;
            t->screen[t->n] = 0;
            if (t->n > sizeof t->screen - 4096) {
                /* Keep the tail only. */
                memmove(t->screen, t->screen + t->n - 2048, 2048);
                t->n = 2048;
                t->screen[t->n] = 0;
                from = 0;
            }
        }
        if (strstr(t->screen + (from > 256 ? from - 256 : 0), needle)) {
            return 1;
        }
    }
    return 0;
}

static void term_stop(struct term *t)
{
    if (write(t->fd, "q", 1) != 1) {
        kill(t->pid, SIGTERM);
    }
    int st;
    for (int i = 0; i < 200 && waitpid(t->pid, &st, WNOHANG) == 0; i++) {
        usleep(10000);
    }
    kill(t->pid, SIGKILL);
    waitpid(t->pid, &st, 0);
    close(t->fd);
}

static void level(struct iocd *d, const char *id, const char *ts, const char *dev)
{
    iocd_sendf(d,
               "{\"id\":\"%s\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":\"%s\","
               "\"device\":\"%s\",\"zone\":\"Z3\",\"value\":1.7}",
               id, ts, dev);
}

TEST(board_loads_the_open_incidents_and_reloads_after_a_restart)
{
    struct iocd d;
    iocd_prepare(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    level(&d, "c1", "2026-02-11T08:00:00+07:00", "BOARD-A");
    level(&d, "c2", "2026-02-11T08:01:00+07:00", "BOARD-B");
    REQUIRE(h_wait_sql(d.db, "SELECT count(*) FROM incidents WHERE key LIKE '%BOARD%'", 2,
                       10000) == 2);
    struct term t;
    term_start(&t, &d);
    /* Its first screen comes from `list`: both incidents, without any new
     * message having been published since it started. */
    CHECK(term_wait(&t, "BOARD-A", 10000));
    CHECK(term_wait(&t, "BOARD-B", 10000) || strstr(t.screen, "BOARD-B"));

    /* The engine restarts: the board says it cannot reach it, then loads
     * the table again when it is back. Meanwhile a third incident opened, so
     * the reloaded table must hold it too (ncurses redraws only the cells
     * that change, so the status line is what the test reads). */
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK(term_wait(&t, "UNREACHABLE", 15000));
    zmq_close(d.push);
    zmq_close(d.sub);
    d.push = d.sub = NULL;
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    level(&d, "c3", "2026-02-11T08:02:00+07:00", "BOARD-C");
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM incidents WHERE key LIKE '%BOARD-C%'", 1,
                            10000),
                 1);
    /* Once more, now that the third incident is recorded: whatever the board
     * caught of the first restart, this reload has all three, and the probe
     * incidents of the harness. The status line may read the same as after
     * the first restart, and ncurses does not write what did not change, so
     * everything the board wrote counts. */
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK(term_wait(&t, "UNREACHABLE", 15000));
    REQUIRE(iocd_start(&d) == 0);
    /* As many as the database has open (the harness's probes open some). */
    char want[64];
    snprintf(want, sizeof want, "reloaded: %lld open incidents",
             h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE state = 'open'"));
    int reloaded = term_wait(&t, want, 10000) || strstr(t.screen, want) != NULL;
    CHECK(reloaded);
    if (!reloaded) {
        for (size_t i = 0; i < t.n; i++) {
            char c = t.screen[i];
            fputc(c >= 32 || c == 10 ? c : ' ', stderr);
        }
        fputc('\n', stderr);
    }
    term_stop(&t);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    iocd_close(&d);
}
