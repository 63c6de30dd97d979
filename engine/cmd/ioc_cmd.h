/*
 * ioc_cmd.h — what the files of the `ioc` program share, and nothing else.
 *
 * ioc.c dispatches argv[1] to one cli_cmd_* function per subcommand; each
 * subcommand lives in its own file (ioc_send.c, ioc_replay.c, ...) and parses
 * its own options with getopt_long. Every subcommand keeps one contract that
 * scripts rely on, and the helpers below keep it in one place:
 *
 *   exit 0    success, and --help (usage, options, an example on stdout)
 *   exit 1    runtime failure: one message on stderr naming what failed
 *   exit 2    misuse: one line naming the problem, then "see 'ioc CMD --help'"
 *   exit 130  interrupted by SIGINT/SIGTERM where stopping early is a loss
 *             (send, replay); the console stops with 0, that is its normal end
 *
 * The engine is a library: these files only parse arguments, call it and
 * print. Nothing here evaluates events or rules a second way.
 */
#ifndef IOC_CMD_H
#define IOC_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef IOC_VERSION
#define IOC_VERSION "0.1.0"
#endif

struct cJSON;

enum {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
    CLI_INTERRUPTED = 130,
};

/* ---- Subcommands: argv[0] is the subcommand's name ---------------------- */

int cli_cmd_check(int argc, char **argv);
int cli_cmd_replay(int argc, char **argv);
int cli_cmd_send(int argc, char **argv);
int cli_cmd_console(int argc, char **argv);
int cli_cmd_incidents(int argc, char **argv);
int cli_cmd_report(int argc, char **argv);
int cli_cmd_test(int argc, char **argv);
int cli_cmd_reload(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_silence(int argc, char **argv);
int cli_cmd_unsilence(int argc, char **argv);
int cli_cmd_ack(int argc, char **argv);
int cli_cmd_comment(int argc, char **argv);
int cli_cmd_resolve(int argc, char **argv);
int cli_cmd_approve(int argc, char **argv);
int cli_cmd_keygen(int argc, char **argv);

/* ---- Options and messages (ioc_common.c) -------------------------------- */

/* Resets getopt_long for a fresh parse and silences its own messages, so that
 * every error is reported once, in our format. Option strings must start with
 * ':' so that a missing argument is told apart from an unknown option. */
void cli_opt_begin(void);
/* Reports the '?' or ':' that getopt_long returned; returns CLI_USAGE. */
int cli_opt_error(const char *cmd, int c, char **argv);
/* "ioc CMD: <message>" and "see 'ioc CMD --help'" on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "ioc CMD: <message>" on stderr; returns CLI_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whole-string numbers within [min, max]; 0, or -1 when s is not one. */
int cli_parse_double(const char *s, double min, double max, double *out);
int cli_parse_int(const char *s, long long min, long long max, long long *out);

/* ---- CURVE keys of this client (ioc_common.c) -------------------------- */

/* Every command that talks to an engine takes --keypair FILE (this client's
 * key pair, NAME.key from `ioc keygen`; not --key, which silence uses) and
 * --server-key FILE (the engine's public key, its .pub), defaulting to
 * $IOC_KEY and $IOC_SERVER_KEY. One process acts as one identity, so the two
 * paths are kept once for the process, like the stop flag. */
enum { CLI_OPT_KEY = 700, CLI_OPT_SERVER_KEY };
#define CLI_KEY_LONGOPTS                                                                           \
    {"keypair", required_argument, NULL, CLI_OPT_KEY},                                             \
        {"server-key", required_argument, NULL, CLI_OPT_SERVER_KEY}
/* Whether getopt_long's c is one of CLI_KEY_LONGOPTS; if so, takes arg. */
bool cli_key_option(int c, const char *arg);
/* Prints the options' help block. */
void cli_key_usage(FILE *out);
/* After parsing: CLI_OK (no keys, or both readable), CLI_USAGE when only one
 * is given, CLI_FAIL when a file cannot be used; messages printed. */
int cli_key_check(const char *cmd);
/* Makes sock (not yet connected) a CURVE client when keys are set. 0, or -1
 * with a message printed under cmd (cmd NULL: nothing printed). */
int cli_key_apply(const char *cmd, void *sock);

/* ---- Signals and clocks (ioc_common.c) ---------------------------------- */

/* Installs SIGINT/SIGTERM handlers that only set a flag, without SA_RESTART,
 * so blocking reads and zmq_poll return EINTR and loops can look at the flag. */
void cli_catch_stop_signals(void);
bool cli_stop_requested(void);
/* Monotonic clock in milliseconds, for pacing and rates. */
double cli_mono_ms(void);
/* Sleeps up to ms; returns early when a signal arrives. */
void cli_sleep_ms(double ms);

/* ---- Text for terminals (ioc_common.c) ---------------------------------- */

/* Display columns of UTF-8 text as cli_put_cell prints it: Thai vowel and
 * tone marks take none, CJK takes two, control characters print as a space
 * and invalid bytes as '?'. */
int cli_text_width(const char *s);
/* Prints s in at most max columns (max <= 0: no limit), never cutting inside
 * a character and ending a shortened text with an ellipsis, then pads with
 * spaces up to pad columns. Control characters never reach the terminal, so
 * an event's text cannot drive it. Returns the columns written. */
int cli_put_cell(FILE *f, const char *s, int max, int pad);
/* Event time (ms) as "YYYY-MM-DD HH:MM:SS" in the process's time zone. */
char *cli_local_time(int64_t ms, char *buf, size_t n);
/* Times print in $TZ when set, else in the engine's configured zone (the
 * embedded default's engine.timezone), so a table reads like the board. */
void cli_use_engine_timezone(void);
/* An incident key {"device":"F1","zone":"Z3"} as "device=F1 zone=Z3" into
 * buf; a key that is not an object prints as its JSON. Returns buf. */
char *cli_key_text(const struct cJSON *key, char *buf, size_t n);

/* ---- ZeroMQ PUSH sender, shared by send and replay (ioc_send.c) --------- */

struct cli_push {
    const char *cmd;      /* for messages */
    const char *endpoint; /* borrowed */
    void *ctx;
    void *sock;
    bool waiting_told; /* "waiting for an engine" was printed once */
};

/* Connects a PUSH socket. Returns CLI_OK, CLI_USAGE (endpoint not usable,
 * message printed) or CLI_FAIL. */
int cli_push_open(struct cli_push *p, const char *cmd, const char *endpoint);
/* Sends one frame, waiting while no engine takes it. 0, or -1 when a stop
 * signal arrived (nothing printed) or a send failed (message printed, errno
 * kept). */
int cli_push_send(struct cli_push *p, const void *buf, size_t len);
/* Waits for what is queued to reach the engine (up to the linger time), then
 * closes. Returns CLI_OK, or CLI_FAIL with a message when the wait ran out
 * and events may have been lost. Accepts a half-opened sender. */
int cli_push_close(struct cli_push *p);

/* ---- Reliable DEALER sender, shared by send and replay (ioc_reliable.c) -- */

/* The engine's zmq_reliable input (DESIGN §8): batches [batch-id][event]...,
 * each answered [batch-id]["ok"] once durable, or [batch-id]["error"][why]. */
#define CLI_RELIABLE_ENDPOINT "tcp://127.0.0.1:5556"

struct cli_rel_opts {
    bool reliable;         /* --reliable was given */
    bool tuned;            /* --batch, --window or --ack-timeout was given */
    long long batch;       /* events per batch */
    long long window;      /* batches unacknowledged at most */
    double ack_timeout_ms; /* a batch not acknowledged within this is sent again */
};

/* The options as getopt_long entries, their codes and their help lines, so
 * send and replay spell them the same way. */
enum {
    CLI_OPT_RELIABLE = 512,
    CLI_OPT_BATCH,
    CLI_OPT_WINDOW,
    CLI_OPT_ACK_TIMEOUT,
};
#define CLI_REL_LONGOPTS                                                                           \
    {"reliable", no_argument, NULL, CLI_OPT_RELIABLE},                                             \
        {"batch", required_argument, NULL, CLI_OPT_BATCH},                                         \
        {"window", required_argument, NULL, CLI_OPT_WINDOW},                                       \
        {"ack-timeout", required_argument, NULL, CLI_OPT_ACK_TIMEOUT}
#define CLI_REL_USAGE                                                                              \
    "      --reliable       send batches to the reliable ingest socket (default\n"                 \
    "                       " CLI_RELIABLE_ENDPOINT "), resend each until the engine\n"       \
    "                       says it is stored, exit 0 once every one is\n"                        \
    "      --batch N        (--reliable) events per batch (default 500)\n"                         \
    "      --window W       (--reliable) batches unacknowledged at most (default 8)\n"             \
    "      --ack-timeout S  (--reliable) seconds before an unacknowledged batch is\n"              \
    "                       sent again (default 5)\n"

/* The defaults: not reliable, 500 events, 8 batches, 5 s. */
void cli_rel_defaults(struct cli_rel_opts *o);
/* Whether getopt_long's c is one of CLI_REL_LONGOPTS. */
bool cli_rel_is_option(int c);
/* Applies option c with its argument; CLI_OK, or CLI_USAGE with the message
 * printed. */
int cli_rel_option(const char *cmd, int c, const char *arg, struct cli_rel_opts *o);
/* After parsing: CLI_OK, or CLI_USAGE when tuning was given without
 * --reliable. */
int cli_rel_check(const char *cmd, const struct cli_rel_opts *o);

struct cli_rel;

/* Connects a DEALER to endpoint and starts the thread that sends, resends
 * and collects acks. o is copied. Returns CLI_OK with *out, CLI_USAGE
 * (endpoint not usable) or CLI_FAIL, with the message printed. */
int cli_rel_open(struct cli_rel **out, const char *cmd, const char *endpoint,
                 const struct cli_rel_opts *o);
/* Adds one event (copied) to the current batch. A full batch goes out at
 * once, a partial one after a short linger, so a slow stream still moves.
 * Waits while the window is full. 0, or -1 when a stop signal arrived
 * (nothing printed) or the sender failed (message printed). */
int cli_rel_send(struct cli_rel *r, const void *buf, size_t len);
/* Sends the last partial batch, waits for every ack (resending for as long
 * as it takes), prints "sent N events in M batches, K resent; all
 * acknowledged" on stderr and frees r. CLI_OK when every batch was
 * acknowledged, CLI_INTERRUPTED on a stop signal, CLI_FAIL on a failure
 * (what is unacknowledged is said). Accepts NULL. */
int cli_rel_close(struct cli_rel *r);

/* ---- The console's subscriber and board (ioc_console.c, ioc_board.c) --- */

/* A SUB socket on the engine's publish socket, subscribed to incident.* and
 * cap.*; it reconnects by itself when the engine restarts. */
struct cli_sub;

/* Connects; with watch, also reports the connection coming and going (see
 * cli_sub_event). Returns CLI_OK with *out, else CLI_USAGE (endpoint not
 * usable) or CLI_FAIL, with the message printed. */
int cli_sub_open(const char *cmd, const char *endpoint, bool watch, struct cli_sub **out);
/* The socket, for zmq_poll. */
void *cli_sub_socket(struct cli_sub *s);
/* The socket that signals connection events, for zmq_poll; NULL unwatched. */
void *cli_sub_monitor(struct cli_sub *s);
enum { CLI_SUB_CONNECTED = 1, CLI_SUB_DISCONNECTED = 2 };
/* The next connection event without waiting: CLI_SUB_CONNECTED (the TCP
 * connection to the engine is up, again after a restart),
 * CLI_SUB_DISCONNECTED, -1 for another event, 0 when none is waiting. */
int cli_sub_event(struct cli_sub *s);
/* The next whole message without waiting: 1 with its topic (NUL-terminated)
 * and body (len bytes, not terminated), both valid until the next call; 0
 * when none is waiting; -1 on error (errno kept). */
int cli_sub_recv(struct cli_sub *s, const char **topic, const char **body, size_t *len);
/* Accepts NULL. */
void cli_sub_close(struct cli_sub *s);

struct cli_board_opts {
    const char *endpoint;      /* the publish socket, for the header */
    const char *control;       /* the control socket: list, ack, comment, resolve */
    const char *operator_name; /* who acts */
    bool color;
};

/* Runs the full-screen board on the terminal until q or a stop signal, with
 * messages from sub (borrowed). Returns CLI_OK, or CLI_FAIL with a message
 * printed after the screen is restored. */
int cli_board_run(struct cli_sub *sub, const struct cli_board_opts *o);

/* ---- Control-socket requests, shared by reload, status, ... (ioc_ctl.c) - */

#define CLI_CONTROL_ENDPOINT "tcp://127.0.0.1:5558"

enum {
    CLI_CTL_TIMEOUT = -1,   /* no reply within the time */
    CLI_CTL_ENDPOINT = -2,  /* the endpoint is not a usable address (errno kept) */
    CLI_CTL_BAD_REPLY = -3, /* a reply that is not a JSON object with a boolean "ok" */
    CLI_CTL_ERROR = -4,     /* ZeroMQ or memory failure (errno kept) */
};

/* Sends req (borrowed) to the engine's control socket at endpoint on a fresh
 * REQ socket and waits up to timeout_ms for the reply. Returns 0 with *reply
 * (the parsed object, which has a boolean "ok"; the caller deletes it), or a
 * CLI_CTL_* code with *reply NULL. Prints nothing. */
int cli_control_request(const char *endpoint, const struct cJSON *req, struct cJSON **reply,
                        int timeout_ms);
/* Prints the message for a failed cli_control_request on stderr ("no answer
 * from ENDPOINT within 5 s — is iocd running?", ...) and returns the exit
 * status for it: CLI_USAGE for a bad endpoint, else CLI_FAIL. */
int cli_control_fail(const char *cmd, const char *endpoint, int rc, int timeout_ms);

#endif
