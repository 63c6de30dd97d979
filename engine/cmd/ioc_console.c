/*
 * ioc_console.c — `ioc console`: incident changes as the engine publishes
 * them, one readable line each.
 *
 * Two halves, kept apart so the ncurses board can be added as a second view
 * without touching the first: the receiver (SUB socket, sequence tracking,
 * stop conditions) turns each message into a struct console_change and calls
 * a struct console_view; the line view prints. A board view would keep its
 * own incident table from the same calls and redraw.
 *
 * Sequence numbers grow by one per published message. A jump means the PUB
 * socket dropped messages for us (its high-water mark), so we say how many;
 * a step backwards means the engine restarted and numbering began again.
 * The first message only sets the baseline: joining mid-stream is not a gap.
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
#define POLL_MS 200

static const char console_usage[] =
    "usage: ioc console [--endpoint URL] [--count N] [--idle-exit SECONDS]\n"
    "\n"
    "Subscribes to the engine's incident changes and prints one line per change:\n"
    "event time, change, grade, incident id, rule, key, zone, count and title.\n"
    "Grades are coloured on a terminal (set NO_COLOR to turn that off). Missed\n"
    "messages are reported as \"gap: missed N messages\". Runs until interrupted.\n"
    "\n"
    "options:\n"
    "  -e, --endpoint URL        engine publish socket (default " DEFAULT_ENDPOINT ")\n"
    "  -n, --count N             exit after N messages\n"
    "  -i, --idle-exit SECONDS   exit after SECONDS without a message\n"
    "  -h, --help                show this help\n"
    "\n"
    "example:\n"
    "  ioc console --endpoint tcp://10.0.0.5:5557\n";

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
    cli_put_cell(stdout, ch->change ? ch->change : "?", 12, 13);
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

    if (ch.seq >= 0) {
        if (sq->have && ch.seq > sq->last + 1) {
            view->gap(view->state, ch.seq - sq->last - 1);
        } else if (sq->have && ch.seq <= sq->last) {
            view->restart(view->state, ch.seq);
        }
        sq->have = true;
        sq->last = ch.seq;
    }
    view->change(view->state, &ch);
    cJSON_Delete(parsed);
    cJSON_Delete(root);
}

/* Reads one whole multipart message: the topic frame, then the body; extra
 * frames are read and ignored so the next message starts clean. Returns 1
 * with a message, 0 when none is waiting, -1 on error. */
static int recv_message(void *sock, zmq_msg_t *topic, zmq_msg_t *body)
{
    int more = 0, frames = 0;
    size_t sz = sizeof more;
    do {
        zmq_msg_t *dst = frames == 0 ? topic : body;
        zmq_msg_t scratch;
        if (frames >= 2) {
            zmq_msg_init(&scratch);
            dst = &scratch;
        }
        if (zmq_msg_recv(dst, sock, frames == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            if (frames >= 2) {
                zmq_msg_close(&scratch);
            }
            return (errno == EAGAIN && frames == 0) ? 0 : -1;
        }
        if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) != 0) {
            more = 0;
        }
        if (frames >= 2) {
            zmq_msg_close(&scratch);
        }
        frames++;
    } while (more);
    if (frames == 1) {
        /* A single frame: no topic, the frame is the body. */
        zmq_msg_move(body, topic);
    }
    return 1;
}

int cli_cmd_console(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"count", required_argument, NULL, 'n'},
        {"idle-exit", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *endpoint = DEFAULT_ENDPOINT;
    long long max_count = 0;
    double idle_s = 0;
    int c;

    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":e:n:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            endpoint = optarg;
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, (long long)1e15, &max_count) != 0) {
                return cli_usage_error("console", "--count needs a whole number above 0, not '%s'",
                                       optarg);
            }
            break;
        case 'i':
            if (cli_parse_double(optarg, 0.001, 1e9, &idle_s) != 0) {
                return cli_usage_error("console", "--idle-exit needs seconds above 0, not '%s'",
                                       optarg);
            }
            break;
        case 'h':
            fputs(console_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("console", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error("console", "unexpected argument '%s'", argv[optind]);
    }

    struct line_view lv = {.color = isatty(1) && !getenv("NO_COLOR")};
    const struct console_view view = {
        .state = &lv,
        .change = line_change,
        .gap = line_gap,
        .restart = line_restart,
        .bad = line_bad,
    };

    int rc = CLI_FAIL, linger = 0;
    void *ctx = zmq_ctx_new();
    void *sock = NULL;
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    if (!ctx || !(sock = zmq_socket(ctx, ZMQ_SUB))) {
        cli_fail("console", "cannot create a SUB socket: %s", zmq_strerror(errno));
        goto done;
    }
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_setsockopt(sock, ZMQ_SUBSCRIBE, TOPIC_PREFIX, strlen(TOPIC_PREFIX)) != 0) {
        cli_fail("console", "cannot subscribe: %s", zmq_strerror(errno));
        goto done;
    }
    if (zmq_connect(sock, endpoint) != 0) {
        rc = cli_usage_error("console", "cannot use endpoint '%s': %s", endpoint,
                             zmq_strerror(errno));
        goto done;
    }
    cli_use_engine_timezone();
    cli_catch_stop_signals();

    struct seq_state sq = {0};
    long long received = 0;
    double last_msg = cli_mono_ms();
    while (!cli_stop_requested()) {
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, POLL_MS) < 0) {
            if (errno == EINTR) {
                continue;
            }
            cli_fail("console", "poll failed: %s", zmq_strerror(errno));
            goto done;
        }
        /* Drain everything ready before polling again. */
        int got = 0;
        while (!cli_stop_requested() && (got = recv_message(sock, &topic, &body)) == 1) {
            char tbuf[256];
            size_t tlen = zmq_msg_size(&topic);
            if (tlen >= sizeof tbuf) {
                tlen = sizeof tbuf - 1;
            }
            memcpy(tbuf, zmq_msg_data(&topic), tlen);
            tbuf[tlen] = '\0';
            handle_message(tbuf, zmq_msg_data(&body), zmq_msg_size(&body), &sq, &view);
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
            zmq_msg_init(&topic);
            zmq_msg_init(&body);
            last_msg = cli_mono_ms();
            if (max_count > 0 && ++received >= max_count) {
                rc = CLI_OK;
                goto done;
            }
        }
        if (got < 0 && errno != EINTR) {
            cli_fail("console", "receive failed: %s", zmq_strerror(errno));
            goto done;
        }
        if (idle_s > 0 && cli_mono_ms() - last_msg >= idle_s * 1000.0) {
            break;
        }
    }
    rc = CLI_OK; /* interrupted or idle: the console's normal end */

done:
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    if (sock) {
        zmq_close(sock);
    }
    if (ctx) {
        zmq_ctx_term(ctx);
    }
    return rc;
}
