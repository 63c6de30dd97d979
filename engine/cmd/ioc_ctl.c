/*
 * ioc_ctl.c — commands that talk to a running engine through its control
 * socket (DESIGN.md §8): `ioc reload` and `ioc status`, and the request
 * helper that later operator commands (ack, resolve, comment, silence) share.
 *
 * One command is one request and one reply: a fresh REQ socket per call, a
 * JSON object {"op": ...} out, a JSON object with a boolean "ok" back, all
 * within one deadline. A missing engine is not an error ZeroMQ reports (a
 * connect succeeds before anyone listens), so "no answer within the timeout"
 * is how it shows, and the message says so. The helper prints nothing; each
 * command decides how the reply reads, and --json prints it raw for scripts.
 *
 * Exit status: 0 when the engine said ok, 1 when it refused or did not
 * answer, 2 on misuse (ioc_cmd.h). Nothing here keeps state between calls.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#include "ioc_cmd.h"

#define DEFAULT_TIMEOUT_S 5.0

/* ---- The request helper --------------------------------------------------- */

/* Waits for events on sock until deadline (cli_mono_ms time). 1 ready, 0 timed
 * out, -1 error. */
static int wait_for(void *sock, short events, double deadline)
{
    for (;;) {
        double left = deadline - cli_mono_ms();
        if (left <= 0) {
            return 0;
        }
        zmq_pollitem_t item = {.socket = sock, .events = events};
        int n = zmq_poll(&item, 1, (long)ceil(left));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n > 0 && (item.revents & events)) {
            return 1;
        }
    }
}

int cli_control_request(const char *endpoint, const cJSON *req, cJSON **reply, int timeout_ms)
{
    double deadline = cli_mono_ms() + timeout_ms;
    void *ctx = NULL, *sock = NULL;
    char *text = NULL;
    int rc = CLI_CTL_ERROR, linger = 0, saved_errno = 0, w;
    zmq_msg_t msg;

    zmq_msg_init(&msg);
    *reply = NULL;
    text = cJSON_PrintUnformatted(req);
    if (!text) {
        errno = ENOMEM;
        goto done;
    }
    ctx = zmq_ctx_new();
    if (!ctx) {
        goto done;
    }
    sock = zmq_socket(ctx, ZMQ_REQ);
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0) {
        goto done;
    }
    if (cli_key_apply(NULL, sock) != 0) {
        goto done;
    }
    if (zmq_connect(sock, endpoint) != 0) {
        /* Only a malformed or unsupported address fails here. */
        rc = CLI_CTL_ENDPOINT;
        goto done;
    }
    /* A REQ queues for a connection that is not up yet, so the send returns
     * at once; a full queue (never, for one request) waits within the same
     * deadline. */
    while (zmq_send(sock, text, strlen(text), ZMQ_DONTWAIT) < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            goto done;
        }
        if ((w = wait_for(sock, ZMQ_POLLOUT, deadline)) <= 0) {
            rc = w == 0 ? CLI_CTL_TIMEOUT : CLI_CTL_ERROR;
            goto done;
        }
    }
    while (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            goto done;
        }
        if ((w = wait_for(sock, ZMQ_POLLIN, deadline)) <= 0) {
            rc = w == 0 ? CLI_CTL_TIMEOUT : CLI_CTL_ERROR;
            goto done;
        }
    }
    cJSON *j = cJSON_ParseWithLength(zmq_msg_data(&msg), zmq_msg_size(&msg));
    if (!cJSON_IsObject(j) || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "ok"))) {
        cJSON_Delete(j);
        rc = CLI_CTL_BAD_REPLY;
        goto done;
    }
    *reply = j;
    rc = 0;

done:
    saved_errno = errno;
    zmq_msg_close(&msg);
    if (sock) {
        zmq_close(sock);
    }
    if (ctx) {
        while (zmq_ctx_term(ctx) != 0 && errno == EINTR) {
        }
    }
    cJSON_free(text);
    errno = saved_errno;
    return rc;
}

int cli_control_fail(const char *cmd, const char *endpoint, int rc, int timeout_ms)
{
    switch (rc) {
    case CLI_CTL_TIMEOUT:
        return cli_fail(cmd, "no answer from %s within %g s — is iocd running?", endpoint,
                        timeout_ms / 1000.0);
    case CLI_CTL_ENDPOINT:
        return cli_usage_error(cmd, "cannot use endpoint '%s': %s", endpoint, zmq_strerror(errno));
    case CLI_CTL_BAD_REPLY:
        return cli_fail(cmd, "%s answered with something that is not a control reply", endpoint);
    default:
        return cli_fail(cmd, "request to %s failed: %s", endpoint, zmq_strerror(errno));
    }
}

/* ---- What reload and status share ----------------------------------------- */

struct ctl_opts {
    const char *endpoint;
    const char *operator_name; /* reload only */
    double timeout_s;
    bool json;
};

enum { OPT_JSON = 1000 };

/* Parses the options; returns -1 to go on, or the exit status (--help printed,
 * or misuse reported). */
static int parse_opts(const char *cmd, const char *usage, bool takes_operator, int argc,
                      char **argv, struct ctl_opts *o)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"operator", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        CLI_KEY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *user = getenv("USER");
    int c;

    o->endpoint = CLI_CONTROL_ENDPOINT;
    o->operator_name = user && user[0] ? user : "cli";
    o->timeout_s = DEFAULT_TIMEOUT_S;
    o->json = false;
    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":e:o:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            o->endpoint = optarg;
            break;
        case 'o':
            if (!takes_operator) {
                return cli_usage_error(cmd, "option '--operator' is for commands that change "
                                            "something");
            }
            if (!optarg[0]) {
                return cli_usage_error(cmd, "the operator name is empty");
            }
            o->operator_name = optarg;
            break;
        case 't':
            if (cli_parse_double(optarg, 0.001, 3600, &o->timeout_s) != 0) {
                return cli_usage_error(cmd,
                                       "--timeout wants seconds between 0.001 and 3600, "
                                       "not '%s'",
                                       optarg);
            }
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case 'h':
            fputs(usage, stdout);
            cli_key_usage(stdout);
            return CLI_OK;
        default:
            if (cli_key_option(c, optarg)) {
                break;
            }
            return cli_opt_error(cmd, c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    }
    int krc = cli_key_check(cmd);
    return krc != CLI_OK ? krc : -1;
}

/* Sends req and returns the reply, or NULL with *status set (message printed). */
static cJSON *ask(const char *cmd, const struct ctl_opts *o, const cJSON *req, int *status)
{
    cJSON *reply = NULL;
    int timeout_ms = (int)lround(o->timeout_s * 1000);
    int rc = cli_control_request(o->endpoint, req, &reply, timeout_ms);
    if (rc != 0) {
        *status = cli_control_fail(cmd, o->endpoint, rc, timeout_ms);
        return NULL;
    }
    return reply;
}

static bool reply_ok(const cJSON *reply)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"));
}

static const char *reply_error(const cJSON *reply)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
    return cJSON_IsString(e) && e->valuestring[0] ? e->valuestring : "the engine gave no reason";
}

/* The reply as the engine sent it, one line, for --json. */
static int print_json(const char *cmd, const cJSON *reply)
{
    char *text = cJSON_PrintUnformatted(reply);
    if (!text) {
        return cli_fail(cmd, "out of memory");
    }
    puts(text);
    cJSON_free(text);
    return reply_ok(reply) ? CLI_OK : CLI_FAIL;
}

/* Writes each line of text on f as it is: diagnostics start with
 * file:line:column, which editors and scripts look for at the line start. */
static void put_lines(FILE *f, const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        fprintf(f, "%.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

/* ---- ioc reload ----------------------------------------------------------- */

static const char reload_usage[] =
    "usage: ioc reload [--endpoint URL] [--operator NAME] [--timeout SECONDS] [--json]\n"
    "\n"
    "Asks a running engine to load its configured rule files again, as SIGHUP does,\n"
    "but with the outcome and the operator's name. A rule set with any error is\n"
    "refused whole and the engine keeps the rules it runs; the errors are printed\n"
    "as file:line:column: message. Unchanged rules keep their windows. Every\n"
    "attempt is recorded in the engine's database with the operator's name.\n"
    "\n"
    "options:\n"
    "  -e, --endpoint URL      engine control socket (default " CLI_CONTROL_ENDPOINT ")\n"
    "  -o, --operator NAME     who asks, for the audit record (default $USER, else cli)\n"
    "  -t, --timeout SECONDS   how long to wait for the answer (default 5)\n"
    "      --json              print the engine's reply as one JSON object\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 reloaded, 1 refused or no answer, 2 misuse.\n"
    "\n"
    "example:\n"
    "  ioc check rules/ && ioc reload --operator sup1\n"
    "  reloaded: 12 rules (set 3f9a1c0de2b4)\n";

int cli_cmd_reload(int argc, char **argv)
{
    struct ctl_opts o;
    int status = parse_opts("reload", reload_usage, true, argc, argv, &o);
    if (status >= 0) {
        return status;
    }
    cJSON *req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, "op", "reload") ||
        !cJSON_AddStringToObject(req, "operator", o.operator_name)) {
        cJSON_Delete(req);
        return cli_fail("reload", "out of memory");
    }
    cJSON *reply = ask("reload", &o, req, &status);
    cJSON_Delete(req);
    if (!reply) {
        return status;
    }
    if (o.json) {
        status = print_json("reload", reply);
    } else if (reply_ok(reply)) {
        const cJSON *rules = cJSON_GetObjectItemCaseSensitive(reply, "rules");
        const cJSON *hash = cJSON_GetObjectItemCaseSensitive(reply, "hash");
        printf("reloaded: ");
        if (cJSON_IsNumber(rules)) {
            printf("%.0f rule%s", rules->valuedouble, rules->valuedouble == 1 ? "" : "s");
        } else {
            printf("rules");
        }
        if (cJSON_IsString(hash)) {
            printf(" (set %s)", hash->valuestring);
        }
        putchar('\n');
        status = CLI_OK;
    } else {
        /* The diagnostics as they are, then one line that says what it means. */
        put_lines(stderr, reply_error(reply));
        status = cli_fail("reload", "refused by the engine at %s; it keeps the rules it runs",
                          o.endpoint);
    }
    cJSON_Delete(reply);
    return status;
}

/* ---- ioc status ----------------------------------------------------------- */

static const char status_usage[] =
    "usage: ioc status [--endpoint URL] [--timeout SECONDS] [--json]\n"
    "\n"
    "Asks a running engine how it is doing and prints the answer as \"key: value\"\n"
    "lines (nested values as parent.key): events received, accepted and rejected,\n"
    "incidents open, rules loaded, the watermark, ... as the engine reports them.\n"
    "\n"
    "options:\n"
    "  -e, --endpoint URL      engine control socket (default " CLI_CONTROL_ENDPOINT ")\n"
    "  -t, --timeout SECONDS   how long to wait for the answer (default 5)\n"
    "      --json              print the engine's reply as one JSON object\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 answered, 1 refused or no answer, 2 misuse.\n"
    "\n"
    "example:\n"
    "  ioc status --endpoint tcp://127.0.0.1:5558\n"
    "  rules: 12\n"
    "  received: 48211\n";

/* Prints one member as "prefix.key: value", objects member by member. */
static void print_member(const char *prefix, const cJSON *item)
{
    char key[256];
    if (prefix[0]) {
        snprintf(key, sizeof key, "%s.%s", prefix, item->string ? item->string : "?");
    } else {
        snprintf(key, sizeof key, "%s", item->string ? item->string : "?");
    }
    if (cJSON_IsObject(item) && item->child) {
        for (const cJSON *m = item->child; m; m = m->next) {
            print_member(key, m);
        }
        return;
    }
    cli_put_cell(stdout, key, 0, 0);
    fputs(": ", stdout);
    if (cJSON_IsString(item)) {
        cli_put_cell(stdout, item->valuestring, 0, 0);
    } else if (cJSON_IsNumber(item) && item->valuedouble == floor(item->valuedouble) &&
               fabs(item->valuedouble) < 9007199254740992.0) {
        printf("%.0f", item->valuedouble);
    } else {
        char *text = cJSON_PrintUnformatted(item);
        cli_put_cell(stdout, text ? text : "?", 0, 0);
        cJSON_free(text);
    }
    putchar('\n');
}

int cli_cmd_status(int argc, char **argv)
{
    struct ctl_opts o;
    int status = parse_opts("status", status_usage, false, argc, argv, &o);
    if (status >= 0) {
        return status;
    }
    cJSON *req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, "op", "status")) {
        cJSON_Delete(req);
        return cli_fail("status", "out of memory");
    }
    cJSON *reply = ask("status", &o, req, &status);
    cJSON_Delete(req);
    if (!reply) {
        return status;
    }
    if (o.json) {
        status = print_json("status", reply);
    } else if (reply_ok(reply)) {
        for (const cJSON *m = reply->child; m; m = m->next) {
            if (!m->string || strcmp(m->string, "ok") != 0) {
                print_member("", m);
            }
        }
        status = CLI_OK;
    } else {
        put_lines(stderr, reply_error(reply));
        status = cli_fail("status", "refused by the engine at %s", o.endpoint);
    }
    cJSON_Delete(reply);
    return status;
}
