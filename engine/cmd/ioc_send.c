/*
 * ioc_send.c — `ioc send`: JSON lines from standard input into a running
 * engine, one line per ZeroMQ frame; and the PUSH sender `ioc replay` shares.
 *
 * The sender is deliberately dumb: it forwards each line's bytes unchanged,
 * because validating is the engine's job and a sender that "fixed" events
 * would hide the rejects an operator needs to see. Only empty lines are
 * skipped.
 *
 * Delivery. ZMQ_IMMEDIATE keeps frames out of the queue until a connection
 * to an engine is complete, so with no engine running the sender waits (and
 * says so) instead of filling a queue that would be dropped at exit. At the
 * end, ZMQ_LINGER gives queued frames up to LINGER_MS to leave; if closing
 * takes that long, some may not have, and we say that rather than claim
 * success.
 *
 * With --reliable the events go in acknowledged batches instead, through
 * the reliable sender of ioc_reliable.c; only the choice is made here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ioc_cmd.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"
#define LINGER_MS 10000
#define WAIT_NOTICE_MS 3000.0

/* ---- The PUSH sender ------------------------------------------------------ */

int cli_push_open(struct cli_push *p, const char *cmd, const char *endpoint)
{
    int linger = LINGER_MS, immediate = 1;
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->endpoint = endpoint;
    p->ctx = zmq_ctx_new();
    if (!p->ctx) {
        return cli_fail(cmd, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
    }
    p->sock = zmq_socket(p->ctx, ZMQ_PUSH);
    if (!p->sock) {
        cli_fail(cmd, "cannot create a PUSH socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(p->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate) != 0) {
        cli_fail(cmd, "cannot set socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    if (cli_key_apply(cmd, p->sock) != 0) {
        goto fail;
    }
    if (zmq_connect(p->sock, endpoint) != 0) {
        /* Only a malformed or unsupported address fails here; an engine
         * that is not running yet is waited for in cli_push_send. */
        int err = errno;
        cli_push_close(p);
        return cli_usage_error(cmd, "cannot use endpoint '%s': %s", endpoint, zmq_strerror(err));
    }
    return CLI_OK;

fail:
    cli_push_close(p);
    return CLI_FAIL;
}

int cli_push_send(struct cli_push *p, const void *buf, size_t len)
{
    double since = -1;
    for (;;) {
        if (cli_stop_requested()) {
            return -1;
        }
        if (zmq_send(p->sock, buf, len, ZMQ_DONTWAIT) >= 0) {
            return 0;
        }
        if (errno != EAGAIN && errno != EINTR) {
            cli_fail(p->cmd, "send to %s failed: %s", p->endpoint, zmq_strerror(errno));
            return -1;
        }
        /* No engine connected, or its queue is full: wait in short slices so
         * that a signal is noticed and the user learns why nothing moves. */
        double now = cli_mono_ms();
        if (since < 0) {
            since = now;
        } else if (!p->waiting_told && now - since >= WAIT_NOTICE_MS) {
            fprintf(stderr, "ioc %s: waiting for an engine at %s ...\n", p->cmd, p->endpoint);
            p->waiting_told = true;
        }
        zmq_pollitem_t item = {.socket = p->sock, .events = ZMQ_POLLOUT};
        if (zmq_poll(&item, 1, 250) < 0 && errno != EINTR) {
            cli_fail(p->cmd, "poll failed: %s", zmq_strerror(errno));
            return -1;
        }
    }
}

int cli_push_close(struct cli_push *p)
{
    int rc = CLI_OK;
    if (p->sock) {
        zmq_close(p->sock);
        p->sock = NULL;
    }
    if (p->ctx) {
        /* zmq_ctx_term blocks while the linger period flushes the queue. */
        double start = cli_mono_ms();
        while (zmq_ctx_term(p->ctx) != 0 && errno == EINTR) {
        }
        if (cli_mono_ms() - start >= LINGER_MS - 100) {
            rc = cli_fail(p->cmd,
                          "the engine at %s did not take every event within %d s; "
                          "some may be lost",
                          p->endpoint, LINGER_MS / 1000);
        }
        p->ctx = NULL;
    }
    return rc;
}

/* ---- ioc send ----------------------------------------------------------- */

static const char send_usage[] =
    "usage: ioc send [--endpoint URL] [--reliable [--batch N] [--window W] [--ack-timeout S]]\n"
    "\n"
    "Reads events as JSON lines from standard input and sends each line, unchanged,\n"
    "as one ZeroMQ frame to a running engine (PUSH). Empty lines are skipped; the\n"
    "engine validates the events and counts the ones it rejects. At the end, waits\n"
    "up to 10 s for the events to reach the engine and prints \"sent N events\".\n"
    "\n"
    "options:\n"
    "  -e, --endpoint URL   engine ingest socket (default " DEFAULT_ENDPOINT ")\n" CLI_REL_USAGE
    "  -h, --help           show this help\n"
    "\n"
    "example:\n"
    "  echo '{\"id\":\"e1\",\"source\":\"sensor\",\"type\":\"water_level\",\"device\":\"F1\",\n"
    "        \"ts\":\"2026-02-11T08:00:00+07:00\",\"value\":1.8,\"unit\":\"m\"}' | ioc send\n";

/* A line of only blanks (a stray "\r" of a CRLF file included) carries no
 * event; anything else goes to the engine to judge. */
static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

int cli_cmd_send(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        CLI_REL_LONGOPTS,
        CLI_KEY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *endpoint = NULL;
    struct cli_rel_opts rel;
    int c;
    cli_rel_defaults(&rel);
    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":e:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            endpoint = optarg;
            break;
        case 'h':
            fputs(send_usage, stdout);
            cli_key_usage(stdout);
            return CLI_OK;
        default:
            if (cli_key_option(c, optarg)) {
                break;
            }
            if (cli_rel_is_option(c)) {
                int orc = cli_rel_option("send", c, optarg, &rel);
                if (orc != CLI_OK) {
                    return orc;
                }
                break;
            }
            return cli_opt_error("send", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error("send", "unexpected argument '%s' (events come from stdin)",
                               argv[optind]);
    }
    if (cli_rel_check("send", &rel) != CLI_OK) {
        return CLI_USAGE;
    }
    int krc = cli_key_check("send");
    if (krc != CLI_OK) {
        return krc;
    }
    if (!endpoint) {
        endpoint = rel.reliable ? CLI_RELIABLE_ENDPOINT : DEFAULT_ENDPOINT;
    }

    struct cli_push push;
    struct cli_rel *relp = NULL;
    int rc = rel.reliable ? cli_rel_open(&relp, "send", endpoint, &rel)
                          : cli_push_open(&push, "send", endpoint);
    if (rc != CLI_OK) {
        return rc;
    }
    cli_catch_stop_signals();

    char *line = NULL;
    size_t cap = 0;
    unsigned long long sent = 0;
    ssize_t n;
    bool failed = false;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        if (is_blank(line, len)) {
            continue;
        }
        if ((relp ? cli_rel_send(relp, line, len) : cli_push_send(&push, line, len)) != 0) {
            failed = !cli_stop_requested();
            break;
        }
        sent++;
    }
    if (n < 0 && ferror(stdin) && !cli_stop_requested()) {
        cli_fail("send", "reading standard input: %s", strerror(errno));
        failed = true;
    }
    free(line);

    if (relp) {
        /* It says what was sent and acknowledged itself. */
        rc = cli_rel_close(relp);
    } else {
        rc = cli_push_close(&push);
        fprintf(stderr, "sent %llu event%s%s\n", sent, sent == 1 ? "" : "s",
                cli_stop_requested() ? " (interrupted)" : "");
    }
    if (failed) {
        return CLI_FAIL;
    }
    if (cli_stop_requested()) {
        return CLI_INTERRUPTED;
    }
    return rc;
}
