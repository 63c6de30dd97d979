/*
 * ioc_operate.c — what an operator does to one incident from a shell:
 * `ioc ack`, `ioc comment`, `ioc resolve`, `ioc approve`.
 *
 * Each is one JSON command on the engine's control socket. The engine checks
 * the operator's role and answers with ok or a reason; every command, done
 * or refused, lands in its audit table. Identity comes from --operator (or
 * $USER); with CURVE keys configured it will come from the key instead.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ioc_cmd.h"

struct operate_cmd {
    const char *name;
    const char *text_key; /* the request member the text argument fills, or NULL */
    const char *text_opt; /* its option name */
    int text_required;
    const char *usage;
};

static const struct operate_cmd cmds[] = {
    {"ack", "comment", "comment", 0,
     "usage: ioc ack INCIDENT [--comment TEXT] [--operator NAME] [--endpoint URL]\n"
     "\n"
     "Acknowledges an open incident: its escalation stops and its SLA clock is met.\n"
     "Operators and supervisors may acknowledge.\n"
     "\n"
     "example:\n"
     "  ioc ack 17 --operator op1 --comment \"district team on the way\"\n"},
    {"comment", "text", "text", 1,
     "usage: ioc comment INCIDENT --text TEXT [--operator NAME] [--endpoint URL]\n"
     "\n"
     "Adds a comment to an incident's log (what was done, when, by whom).\n"
     "\n"
     "example:\n"
     "  ioc comment 17 --operator op1 --text \"pump station 3 started 16:50\"\n"},
    {"resolve", "reason", "reason", 1,
     "usage: ioc resolve INCIDENT --reason TEXT [--operator NAME] [--endpoint URL]\n"
     "\n"
     "Resolves an incident. Supervisors only. A public warning it published is\n"
     "cancelled (CAP msgType Cancel).\n"
     "\n"
     "example:\n"
     "  ioc resolve 17 --operator sup1 --reason \"water receded below 1.2 m\"\n"},
    {"approve", NULL, NULL, 0,
     "usage: ioc approve INCIDENT [--operator NAME] [--endpoint URL]\n"
     "\n"
     "Approves the public warning waiting on an incident; the engine then publishes\n"
     "it as an OASIS CAP 1.2 alert. Only the roles the rule names may approve.\n"
     "\n"
     "example:\n"
     "  ioc approve 21 --operator mayor\n"},
};

static int operate(const struct operate_cmd *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"comment", required_argument, NULL, 'm'}, {"text", required_argument, NULL, 'm'},
        {"reason", required_argument, NULL, 'm'},  {"operator", required_argument, NULL, 'o'},
        {"endpoint", required_argument, NULL, 'e'}, {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          CLI_KEY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *user = getenv("USER");
    const char *endpoint = CLI_CONTROL_ENDPOINT, *who = user && user[0] ? user : "cli";
    const char *text = NULL;
    double timeout_s = 5;
    long long id = 0;
    int opt, idx = 0;
    cli_opt_begin();
    while ((opt = getopt_long(argc, argv, ":m:o:e:t:h", longopts, &idx)) != -1) {
        switch (opt) {
        case 'm':
            if (!c->text_opt || strcmp(longopts[idx].name, c->text_opt) != 0) {
                return cli_usage_error(c->name, "option '--%s' is not for this command",
                                       longopts[idx].name);
            }
            text = optarg;
            break;
        case 'o':
            who = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 't':
            if (cli_parse_double(optarg, 0.001, 3600, &timeout_s) != 0) {
                return cli_usage_error(c->name, "--timeout wants seconds, not '%s'", optarg);
            }
            break;
        case 'h':
            fputs(c->usage, stdout);
            cli_key_usage(stdout);
            return CLI_OK;
        default:
            if (cli_key_option(opt, optarg)) {
                break;
            }
            return cli_opt_error(c->name, opt, argv);
        }
    }
    if (optind + 1 != argc || cli_parse_int(argv[optind], 1, 1LL << 53, &id) != 0) {
        return cli_usage_error(c->name, "give the id of one incident");
    }
    if (c->text_required && !text) {
        return cli_usage_error(c->name, "--%s is required", c->text_opt);
    }
    int krc = cli_key_check(c->name);
    if (krc != CLI_OK) {
        return krc;
    }
    cJSON *req = cJSON_CreateObject(), *reply = NULL;
    if (!req) {
        return cli_fail(c->name, "out of memory");
    }
    cJSON_AddStringToObject(req, "op", c->name);
    cJSON_AddNumberToObject(req, "incident", (double)id);
    cJSON_AddStringToObject(req, "operator", who);
    if (text) {
        cJSON_AddStringToObject(req, c->text_key, text);
    }
    int timeout_ms = (int)lround(timeout_s * 1000);
    int rc = cli_control_request(endpoint, req, &reply, timeout_ms);
    cJSON_Delete(req);
    if (rc != 0) {
        return cli_control_fail(c->name, endpoint, rc, timeout_ms);
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
        printf("%s: incident %lld done\n", c->name, id);
        rc = CLI_OK;
    } else {
        rc = cli_fail(c->name, "refused: %s",
                      cJSON_IsString(err) ? err->valuestring : "the engine gave no reason");
    }
    cJSON_Delete(reply);
    return rc;
}

int cli_cmd_ack(int argc, char **argv)
{
    return operate(&cmds[0], argc, argv);
}

int cli_cmd_comment(int argc, char **argv)
{
    return operate(&cmds[1], argc, argv);
}

int cli_cmd_resolve(int argc, char **argv)
{
    return operate(&cmds[2], argc, argv);
}

int cli_cmd_approve(int argc, char **argv)
{
    return operate(&cmds[3], argc, argv);
}
