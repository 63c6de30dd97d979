/*
 * ioc_console.c — `ioc console`: incident changes as the engine publishes
 * them. On a terminal it is the full-screen board (ioc_board.c); piped, or
 * with --lines, one readable line per change.
 *
 * Three parts: the subscriber (struct cli_sub: SUB socket, whole multipart
 * messages), which the board shares; the receiver for the line view
 * (sequence tracking, stop conditions), which turns each message into a
 * struct console_change and calls a struct console_view; and the line view,
 * which prints. The board keeps its own loop, because it also reads keys and
 * asks the control socket for the incident list.
 *
 * Sequence numbers grow by one per published message, cap.* warnings
 * included, so both prefixes are subscribed. A jump means the PUB socket
 * dropped messages for us (its high-water mark), so we say how many; a step
 * backwards means the engine restarted and numbering began again. The first
 * message only sets the baseline: joining mid-stream is not a gap.
 *
 * The loop polls with a short timeout instead of blocking, so SIGINT/SIGTERM
 * (which only set a flag), --count and --idle-exit are all noticed promptly.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#include "ioc/event.h"

#include "ioc_cmd.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5557"
#define TOPIC_PREFIX "incident."
#define CAP_PREFIX "cap."
#define POLL_MS 200

static const char console_usage[] =
    "usage: ioc console [--endpoint URL] [--control URL] [--operator NAME] [--lines]\n"
    "                   [--count N] [--idle-exit SECONDS]\n"
    "\n"
    "On a terminal: the live incident board. Open incidents, most severe and oldest\n"
    "first, with their SLA clocks (time left to acknowledge), escalation level, zone\n"
    "and title; below, the selected incident's rule, key, times, SOP checklist and\n"
    "public-warning state. Keys: up/down or j/k select, a acknowledge, c comment,\n"
    "r resolve (asks for a reason), ? help, q quit. The board loads the open\n"
    "incidents from the control socket at start, and again whenever it missed a\n"
    "message or the engine restarted; while the engine is unreachable it says so\n"
    "and keeps retrying.\n"
    "\n"
    "Piped, or with --lines: one line per change (event time, change, grade,\n"
    "incident id, rule, key, zone, count and title), and \"gap: missed N messages\"\n"
    "when some were lost. Grades are coloured on a terminal (set NO_COLOR to turn\n"
    "that off). Runs until interrupted.\n"
    "\n"
    "options:\n"
    "  -e, --endpoint URL        engine publish socket (default " DEFAULT_ENDPOINT ")\n"
    "  -C, --control URL         engine control socket, for the board\n"
    "                            (default " CLI_CONTROL_ENDPOINT ")\n"
    "  -o, --operator NAME       who acknowledges, comments, resolves (default $USER)\n"
    "  -l, --lines               one line per change even on a terminal\n"
    "  -n, --count N             exit after N messages (implies --lines)\n"
    "  -i, --idle-exit SECONDS   exit after SECONDS without a message (implies --lines)\n"
    "  -h, --help                show this help\n"
    "\n"
    "example:\n"
    "  ioc console --operator op1\n"
    "  ioc console --lines --endpoint tcp://10.0.0.5:5557 >> incidents.log\n";

/* ---- One change, as every view receives it ---------------------------- */

struct console_change {
    const char *topic;
    long long seq; /* -1 when the message had none */
    const char *change;
    long long id;
    const char *rule;
    const char *key; /* already rendered "device=F1" */
    int grade;       /* 0 when unknown */
    const char *state;
    const char *zone;
    long long count;
    const char *title;
    int64_t time; /* ms, event time of the change; INT64_MIN when unknown */
};

struct console_view {
    void *state;
    void (*change)(void *state, const struct console_change *ch);
    void (*gap)(void *state, long long missed);
    void (*restart)(void *state, long long seq);
    void (*bad)(void *state, const char *topic, const char *why);
    /* A public warning (cap.* topic): its headline and area, either NULL. */
    void (*notice)(void *state, const char *headline, const char *area);
};

/* ---- The line view ------------------------------------------------------- */

struct line_view {
    bool color;
};

static const char *grade_color(int grade)
{
    switch (grade) {
    case 1:
        return "\x1b[1;31m"; /* bold red */
    case 2:
        return "\x1b[1;33m"; /* bold yellow */
    case 3:
        return "\x1b[36m"; /* cyan */
    default:
        return NULL; /* 4 and unknown: plain */
    }
}

static void line_change(void *state, const struct console_change *ch)
{
    struct line_view *lv = state;
    char when[32] = "-";
    if (ch->time != INT64_MIN) {
        cli_local_time(ch->time, when, sizeof when);
    }
    const char *col = lv->color ? grade_color(ch->grade) : NULL;
    if (col) {
        fputs(col, stdout);
    }
    printf("%s  ", when);
    cli_put_cell(stdout, ch->change ? ch->change : "?", 16, 17); /* "warning_approved" */
    if (ch->grade > 0) {
        printf("G%d  ", ch->grade);
    } else {
        printf("G?  ");
    }
    if (ch->id >= 0) {
        printf("#%-6lld ", ch->id);
    } else {
        printf("#?      ");
    }
    cli_put_cell(stdout, ch->rule ? ch->rule : "?", 40, 25);
    putchar(' ');
    cli_put_cell(stdout, ch->key && ch->key[0] ? ch->key : "-", 40, 18);
    putchar(' ');
    cli_put_cell(stdout, ch->zone ? ch->zone : "-", 16, 6);
    printf(" x%-4lld ", ch->count);
    cli_put_cell(stdout, ch->title ? ch->title : "", 0, 0);
    if (col) {
        fputs("\x1b[0m", stdout);
    }
    putchar('\n');
    /* Flushed per line: the console is often piped into a log or a test. */
    fflush(stdout);
}

static void line_gap(void *state, long long missed)
{
    (void)state;
    printf("gap: missed %lld message%s\n", missed, missed == 1 ? "" : "s");
    fflush(stdout);
}

static void line_restart(void *state, long long seq)
{
    (void)state;
    printf("restart: sequence began again at %lld (engine restarted?)\n", seq);
    fflush(stdout);
}

static void line_bad(void *state, const char *topic, const char *why)
{
    (void)state;
    fprintf(stderr, "ioc console: unreadable message on '%s': %s\n", topic, why);
}

static void line_notice(void *state, const char *headline, const char *area)
{
    (void)state;
    fputs("public warning: ", stdout);
    cli_put_cell(stdout, headline ? headline : "(no headline)", 0, 0);
    if (area) {
        fputs(" (", stdout);
        cli_put_cell(stdout, area, 0, 0);
        putchar(')');
    }
    putchar('\n');
    fflush(stdout);
}

/* ---- Receiving ------------------------------------------------------------- */

/* Event time of a change: RFC 3339 text or epoch ms. */
static int64_t json_time(const cJSON *t)
{
    int64_t ms;
    if (cJSON_IsString(t) && ioc_time_parse(t->valuestring, &ms) == 0) {
        return ms;
    }
    if (cJSON_IsNumber(t) && isfinite(t->valuedouble)) {
        return (int64_t)t->valuedouble;
    }
    return INT64_MIN;
}

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long json_int(const cJSON *o, const char *name, long long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : dflt;
}

struct seq_state {
    bool have;
    long long last;
};

/* Reports a gap or a restart before the message that shows it. */
static void track_seq(long long seq, struct seq_state *sq, const struct console_view *view)
{
    if (seq < 0) {
        return;
    }
    if (sq->have && seq > sq->last + 1) {
        view->gap(view->state, seq - sq->last - 1);
    } else if (sq->have && seq <= sq->last) {
        view->restart(view->state, seq);
    }
    sq->have = true;
    sq->last = seq;
}

/* A public warning: its headline and area from the CAP alert it carries. */
static void handle_cap(const cJSON *root, const struct console_view *view)
{
    const cJSON *alert = cJSON_GetObjectItemCaseSensitive(root, "alert");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(alert, "info");
    const cJSON *area = cJSON_GetObjectItemCaseSensitive(info, "area");
    const char *headline = json_str(info, "headline");
    view->notice(view->state, headline ? headline : json_str(root, "headline"),
                 json_str(area, "areaDesc"));
}

/* Decodes one message and hands it to the view. Tolerant on purpose: a field
 * missing from the message prints as "?" rather than hiding the change. */
static void handle_message(const char *topic, const char *body, size_t len, struct seq_state *sq,
                           const struct console_view *view)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        view->bad(view->state, topic, "not a JSON object");
        cJSON_Delete(root);
        return;
    }
    track_seq(json_int(root, "seq", -1), sq, view);
    if (strncmp(topic, CAP_PREFIX, strlen(CAP_PREFIX)) == 0) {
        handle_cap(root, view);
        cJSON_Delete(root);
        return;
    }
    const cJSON *inc = cJSON_GetObjectItemCaseSensitive(root, "incident");
    if (!cJSON_IsObject(inc)) {
        inc = root; /* a flat message: the incident's fields at the top */
    }
    struct console_change ch = {.topic = topic};
    ch.seq = json_int(root, "seq", -1);
    ch.change = json_str(root, "change");
    if (!ch.change) {
        ch.change = json_str(inc, "change");
    }
    ch.id = json_int(inc, "id", -1);
    ch.rule = json_str(inc, "rule");
    ch.state = json_str(inc, "state");
    ch.zone = json_str(inc, "zone");
    ch.title = json_str(inc, "title");
    ch.count = json_int(inc, "count", 0);
    ch.grade = (int)json_int(inc, "grade", 0);
    if (ch.grade <= 0) {
        /* The topic says it too: incident.<grade>.<zone> */
        const char *g = topic + strlen(TOPIC_PREFIX);
        if (strncmp(topic, TOPIC_PREFIX, strlen(TOPIC_PREFIX)) == 0 && g[0] >= '1' && g[0] <= '9') {
            ch.grade = g[0] - '0';
        }
    }
    /* When the change happened: the message's "at", else the incident's own
     * last update. */
    ch.time = json_time(cJSON_GetObjectItemCaseSensitive(root, "at"));
    if (ch.time == INT64_MIN) {
        ch.time = json_time(cJSON_GetObjectItemCaseSensitive(inc, "updated"));
    }
    if (ch.time == INT64_MIN) {
        ch.time = json_time(cJSON_GetObjectItemCaseSensitive(inc, "opened"));
    }

    char keybuf[256];
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(inc, "key");
    cJSON *parsed = NULL;
    if (cJSON_IsString(key)) {
        /* Some producers send the key as its JSON text. */
        parsed = cJSON_Parse(key->valuestring);
        if (cJSON_IsObject(parsed)) {
            key = parsed;
        }
    }
    ch.key = cJSON_IsString(key) ? key->valuestring
                                 : (key ? cli_key_text(key, keybuf, sizeof keybuf) : NULL);
    view->change(view->state, &ch);
    cJSON_Delete(parsed);
    cJSON_Delete(root);
}

/* ---- The subscriber, shared with the board ------------------------------- */

struct cli_sub {
    void *ctx;
    void *sock;
    void *monitor;         /* PAIR receiving the SUB socket's connection events; NULL unwatched */
    zmq_msg_t topic, body; /* the last message received */
    char topic_text[256];
};

/* Connection events come from a socket monitor: an inproc PAIR that ZeroMQ
 * feeds with one two-frame message per event. Only connects and disconnects
 * are asked for, so the queue stays short even when nobody reads it. */
static int watch_connection(struct cli_sub *s)
{
    char addr[64];
    int linger = 0;
    snprintf(addr, sizeof addr, "inproc://console-monitor-%p", (void *)s);
    if (zmq_socket_monitor(s->sock, addr, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(s->monitor = zmq_socket(s->ctx, ZMQ_PAIR))) {
        return -1;
    }
    zmq_setsockopt(s->monitor, ZMQ_LINGER, &linger, sizeof linger);
    return zmq_connect(s->monitor, addr);
}

int cli_sub_open(const char *cmd, const char *endpoint, bool watch, struct cli_sub **out)
{
    static const char *const prefixes[] = {TOPIC_PREFIX, CAP_PREFIX};
    int rc = CLI_FAIL, linger = 0;
    struct cli_sub *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) {
        return cli_fail(cmd, "out of memory");
    }
    zmq_msg_init(&s->topic);
    zmq_msg_init(&s->body);
    if (!(s->ctx = zmq_ctx_new()) || !(s->sock = zmq_socket(s->ctx, ZMQ_SUB))) {
        cli_fail(cmd, "cannot create a SUB socket: %s", zmq_strerror(errno));
        goto fail;
    }
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (zmq_setsockopt(s->sock, ZMQ_SUBSCRIBE, prefixes[i], strlen(prefixes[i])) != 0) {
            cli_fail(cmd, "cannot subscribe: %s", zmq_strerror(errno));
            goto fail;
        }
    }
    if (watch && watch_connection(s) != 0) {
        cli_fail(cmd, "cannot watch the SUB socket's connection: %s", zmq_strerror(errno));
        goto fail;
    }
    if (cli_key_apply(cmd, s->sock) != 0) {
        goto fail;
    }
    if (zmq_connect(s->sock, endpoint) != 0) {
        rc = cli_usage_error(cmd, "cannot use endpoint '%s': %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    *out = s;
    return CLI_OK;

fail:
    cli_sub_close(s);
    return rc;
}

void *cli_sub_socket(struct cli_sub *s)
{
    return s->sock;
}

void *cli_sub_monitor(struct cli_sub *s)
{
    return s->monitor;
}

int cli_sub_event(struct cli_sub *s)
{
    zmq_msg_t ev, addr;
    int kind = 0, more = 0;
    size_t sz = sizeof more;
    if (!s->monitor) {
        return 0;
    }
    zmq_msg_init(&ev);
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&ev, s->monitor, ZMQ_DONTWAIT) >= 0) {
        /* Frame 1: a 16-bit event and a 32-bit value; frame 2: the address. */
        if (zmq_msg_size(&ev) >= 2) {
            uint16_t e;
            memcpy(&e, zmq_msg_data(&ev), sizeof e);
            kind = e == ZMQ_EVENT_CONNECTED      ? CLI_SUB_CONNECTED
                   : e == ZMQ_EVENT_DISCONNECTED ? CLI_SUB_DISCONNECTED
                                                 : -1;
        }
        if (zmq_getsockopt(s->monitor, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
            zmq_msg_recv(&addr, s->monitor, 0);
        }
        if (kind == 0) {
            kind = -1; /* an event, just not one we name */
        }
    }
    zmq_msg_close(&ev);
    zmq_msg_close(&addr);
    return kind;
}

/* Reads one whole multipart message: the topic frame, then the body; extra
 * frames are read and ignored so the next message starts clean. */
int cli_sub_recv(struct cli_sub *s, const char **topic, const char **body, size_t *len)
{
    int more = 0, frames = 0;
    size_t sz = sizeof more;
    zmq_msg_close(&s->topic);
    zmq_msg_close(&s->body);
    zmq_msg_init(&s->topic);
    zmq_msg_init(&s->body);
    do {
        zmq_msg_t *dst = frames == 0 ? &s->topic : &s->body;
        zmq_msg_t scratch;
        if (frames >= 2) {
            zmq_msg_init(&scratch);
            dst = &scratch;
        }
        if (zmq_msg_recv(dst, s->sock, frames == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            if (frames >= 2) {
                zmq_msg_close(&scratch);
            }
            return (errno == EAGAIN && frames == 0) ? 0 : -1;
        }
        if (zmq_getsockopt(s->sock, ZMQ_RCVMORE, &more, &sz) != 0) {
            more = 0;
        }
        if (frames >= 2) {
            zmq_msg_close(&scratch);
        }
        frames++;
    } while (more);
    if (frames == 1) {
        /* A single frame: no topic, the frame is the body. */
        zmq_msg_move(&s->body, &s->topic);
    }
    size_t tlen = zmq_msg_size(&s->topic);
    if (tlen >= sizeof s->topic_text) {
        tlen = sizeof s->topic_text - 1;
    }
    memcpy(s->topic_text, zmq_msg_data(&s->topic), tlen);
    s->topic_text[tlen] = '\0';
    *topic = s->topic_text;
    *body = zmq_msg_data(&s->body);
    *len = zmq_msg_size(&s->body);
    return 1;
}

void cli_sub_close(struct cli_sub *s)
{
    if (!s) {
        return;
    }
    zmq_msg_close(&s->topic);
    zmq_msg_close(&s->body);
    if (s->sock) {
        zmq_socket_monitor(s->sock, NULL, 0);
        zmq_close(s->sock);
    }
    if (s->monitor) {
        zmq_close(s->monitor);
    }
    if (s->ctx) {
        while (zmq_ctx_term(s->ctx) != 0 && errno == EINTR) {
        }
    }
    free(s);
}

/* ---- The line loop ---------------------------------------------------------- */

static int run_lines(struct cli_sub *sub, long long max_count, double idle_s)
{
    struct line_view lv = {.color = isatty(1) && !getenv("NO_COLOR")};
    const struct console_view view = {
        .state = &lv,
        .change = line_change,
        .gap = line_gap,
        .restart = line_restart,
        .bad = line_bad,
        .notice = line_notice,
    };
    struct seq_state sq = {0};
    long long received = 0;
    double last_msg = cli_mono_ms();
    while (!cli_stop_requested()) {
        zmq_pollitem_t item = {.socket = cli_sub_socket(sub), .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, POLL_MS) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return cli_fail("console", "poll failed: %s", zmq_strerror(errno));
        }
        /* Drain everything ready before polling again. */
        const char *topic, *body;
        size_t len;
        int got = 0;
        while (!cli_stop_requested() && (got = cli_sub_recv(sub, &topic, &body, &len)) == 1) {
            handle_message(topic, body, len, &sq, &view);
            last_msg = cli_mono_ms();
            if (max_count > 0 && ++received >= max_count) {
                return CLI_OK;
            }
        }
        if (got < 0 && errno != EINTR) {
            return cli_fail("console", "receive failed: %s", zmq_strerror(errno));
        }
        if (idle_s > 0 && cli_mono_ms() - last_msg >= idle_s * 1000.0) {
            break;
        }
    }
    return CLI_OK; /* interrupted or idle: the console's normal end */
}

int cli_cmd_console(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"control", required_argument, NULL, 'C'},
        {"operator", required_argument, NULL, 'o'},
        {"lines", no_argument, NULL, 'l'},
        {"count", required_argument, NULL, 'n'},
        {"idle-exit", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        CLI_KEY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *user = getenv("USER");
    struct cli_board_opts bo = {
        .endpoint = DEFAULT_ENDPOINT,
        .control = CLI_CONTROL_ENDPOINT,
        .operator_name = user && user[0] ? user : "console",
    };
    bool lines = false;
    long long max_count = 0;
    double idle_s = 0;
    int c;

    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":e:C:o:ln:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            bo.endpoint = optarg;
            break;
        case 'C':
            bo.control = optarg;
            break;
        case 'o':
            if (!optarg[0]) {
                return cli_usage_error("console", "the operator name is empty");
            }
            bo.operator_name = optarg;
            break;
        case 'l':
            lines = true;
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, (long long)1e15, &max_count) != 0) {
                return cli_usage_error("console", "--count needs a whole number above 0, not '%s'",
                                       optarg);
            }
            lines = true; /* counting messages is for scripts */
            break;
        case 'i':
            if (cli_parse_double(optarg, 0.001, 1e9, &idle_s) != 0) {
                return cli_usage_error("console", "--idle-exit needs seconds above 0, not '%s'",
                                       optarg);
            }
            lines = true;
            break;
        case 'h':
            fputs(console_usage, stdout);
            cli_key_usage(stdout);
            return CLI_OK;
        default:
            if (cli_key_option(c, optarg)) {
                break;
            }
            return cli_opt_error("console", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error("console", "unexpected argument '%s'", argv[optind]);
    }
    int krc = cli_key_check("console");
    if (krc != CLI_OK) {
        return krc;
    }

    /* Signals are caught before the socket connects: a publisher may see the
     * subscription, and stop the console, at once. */
    cli_use_engine_timezone();
    cli_catch_stop_signals();
    struct cli_sub *sub = NULL;
    bool board = !lines && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    int rc = cli_sub_open("console", bo.endpoint, board, &sub);
    if (rc != CLI_OK) {
        return rc;
    }
    /* The board needs a terminal to draw on and one to read keys from. */
    if (board) {
        bo.color = !getenv("NO_COLOR");
        rc = cli_board_run(sub, &bo);
    } else {
        rc = run_lines(sub, max_count, idle_s);
    }
    cli_sub_close(sub);
    return rc;
}
