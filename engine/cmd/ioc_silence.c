/*
 * ioc_silence.c — `ioc silence` and `ioc unsilence`: mute a rule, a key or a
 * zone on a running engine for a bounded time.
 *
 * A silence suppresses publishing, never recording: the incidents it covers
 * are still written to the database, only the consoles are not told. It
 * always ends (--for or --until), has an author and a reason, and is kept in
 * the engine's database, so it survives a restart and is part of the audit.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ioc_cmd.h"

static const char silence_usage[] =
    "usage: ioc silence (--rule ID | --zone ZONE | --key FIELD=VALUE)... (--for DURATION |\n"
    "                   --until TIME) --reason TEXT [--operator NAME] [--endpoint URL]\n"
    "\n"
    "Mutes the incidents of a rule, of a key, of a zone, or of their combination on a\n"
    "running engine, from its clock (event time) until the end given. Muted changes\n"
    "are recorded in the database but not published to the consoles. A silence must\n"
    "end and must say why.\n"
    "\n"
    "options:\n"
    "  -r, --rule ID           only incidents of this rule\n"
    "  -z, --zone ZONE         only incidents in this zone\n"
    "  -k, --key FIELD=VALUE   only incidents whose key has this field (repeatable)\n"
    "  -f, --for DURATION      how long: 30m, 2h, 1d\n"
    "  -u, --until TIME        until an RFC 3339 time, e.g. 2026-02-11T18:00:00+07:00\n"
    "  -m, --reason TEXT       why (required; kept for the audit)\n"
    "  -o, --operator NAME     who (default $USER, else cli)\n"
    "  -e, --endpoint URL      engine control socket (default " CLI_CONTROL_ENDPOINT ")\n"
    "  -t, --timeout SECONDS   how long to wait for the answer (default 5)\n"
    "  -h, --help              show this help\n"
    "\n"
    "Exit status: 0 silenced, 1 refused or no answer, 2 misuse.\n"
    "\n"
    "example:\n"
    "  ioc silence --rule cctv.camera_offline --zone Z03 --for 4h \\\n"
    "      --reason \"CCTV maintenance in Z03\" --operator sup1\n"
    "  silence 3 until 2026-02-11T18:00:00+07:00\n";

static const char unsilence_usage[] =
    "usage: ioc unsilence ID [--operator NAME] [--endpoint URL] [--timeout SECONDS]\n"
    "\n"
    "Ends a silence now (at the engine's clock). The silence stays in the database\n"
    "with its new end.\n"
    "\n"
    "example:\n"
    "  ioc unsilence 3 --operator sup1\n";

static int ask_engine(const char *cmd, const char *endpoint, double timeout_s, cJSON *req)
{
    cJSON *reply = NULL;
    int timeout_ms = (int)lround(timeout_s * 1000);
    int rc = cli_control_request(endpoint, req, &reply, timeout_ms);
    cJSON_Delete(req);
    if (rc != 0) {
        return cli_control_fail(cmd, endpoint, rc, timeout_ms);
    }
    int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"));
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(reply, "id");
    const cJSON *ends = cJSON_GetObjectItemCaseSensitive(reply, "ends");
    if (ok && cJSON_IsNumber(id)) {
        printf("silence %.0f until %s\n", id->valuedouble,
               cJSON_IsString(ends) ? ends->valuestring : "?");
    } else if (ok) {
        printf("done\n");
    }
    rc = ok ? CLI_OK
            : cli_fail(cmd, "refused: %s",
                       cJSON_IsString(err) ? err->valuestring : "the engine gave no reason");
    cJSON_Delete(reply);
    return rc;
}

int cli_cmd_silence(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rule", required_argument, NULL, 'r'},     {"zone", required_argument, NULL, 'z'},
        {"key", required_argument, NULL, 'k'},      {"for", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'},    {"reason", required_argument, NULL, 'm'},
        {"operator", required_argument, NULL, 'o'}, {"endpoint", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
        CLI_KEY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *user = getenv("USER");
    const char *endpoint = CLI_CONTROL_ENDPOINT, *who = user && user[0] ? user : "cli";
    double timeout_s = 5;
    cJSON *req = cJSON_CreateObject(), *key = NULL;
    int c;
    if (!req) {
        return cli_fail("silence", "out of memory");
    }
    cJSON_AddStringToObject(req, "op", "silence");
    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":r:z:k:f:u:m:o:e:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            cJSON_AddStringToObject(req, "rule", optarg);
            break;
        case 'z':
            cJSON_AddStringToObject(req, "zone", optarg);
            break;
        case 'k': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                cJSON_Delete(req);
                return cli_usage_error("silence", "--key wants FIELD=VALUE, not '%s'", optarg);
            }
            if (!key && !(key = cJSON_AddObjectToObject(req, "key"))) {
                cJSON_Delete(req);
                return cli_fail("silence", "out of memory");
            }
            char field[128];
            snprintf(field, sizeof field, "%.*s", (int)(eq - optarg), optarg);
            cJSON_AddStringToObject(key, field, eq + 1);
            break;
        }
        case 'f':
            cJSON_AddStringToObject(req, "for", optarg);
            break;
        case 'u':
            cJSON_AddStringToObject(req, "until", optarg);
            break;
        case 'm':
            cJSON_AddStringToObject(req, "reason", optarg);
            break;
        case 'o':
            who = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 't':
            if (cli_parse_double(optarg, 0.001, 3600, &timeout_s) != 0) {
                cJSON_Delete(req);
                return cli_usage_error("silence", "--timeout wants seconds, not '%s'", optarg);
            }
            break;
        case 'h':
            cJSON_Delete(req);
            fputs(silence_usage, stdout);
            cli_key_usage(stdout);
            return CLI_OK;
        default:
            if (cli_key_option(c, optarg)) {
                break;
            }
            cJSON_Delete(req);
            return cli_opt_error("silence", c, argv);
        }
    }
    if (optind < argc) {
        cJSON_Delete(req);
        return cli_usage_error("silence", "unexpected argument '%s'", argv[optind]);
    }
    if (!cJSON_GetObjectItem(req, "for") && !cJSON_GetObjectItem(req, "until")) {
        cJSON_Delete(req);
        return cli_usage_error("silence", "a silence must end: give --for or --until");
    }
    if (!cJSON_GetObjectItem(req, "reason")) {
        cJSON_Delete(req);
        return cli_usage_error("silence", "--reason is required");
    }
    int krc = cli_key_check("silence");
    if (krc != CLI_OK) {
        cJSON_Delete(req);
        return krc;
    }
    cJSON_AddStringToObject(req, "operator", who);
    return ask_engine("silence", endpoint, timeout_s, req);
}

int cli_cmd_unsilence(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"operator", required_argument, NULL, 'o'}, {"endpoint", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
        CLI_KEY_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *user = getenv("USER");
    const char *endpoint = CLI_CONTROL_ENDPOINT, *who = user && user[0] ? user : "cli";
    double timeout_s = 5;
    long long id = 0;
    int c;
    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":o:e:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            who = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 't':
            if (cli_parse_double(optarg, 0.001, 3600, &timeout_s) != 0) {
                return cli_usage_error("unsilence", "--timeout wants seconds, not '%s'", optarg);
            }
            break;
        case 'h':
            fputs(unsilence_usage, stdout);
            cli_key_usage(stdout);
            return CLI_OK;
        default:
            if (cli_key_option(c, optarg)) {
                break;
            }
            return cli_opt_error("unsilence", c, argv);
        }
    }
    if (optind + 1 != argc || cli_parse_int(argv[optind], 1, 1LL << 53, &id) != 0) {
        return cli_usage_error("unsilence", "give the id of one silence");
    }
    int krc = cli_key_check("unsilence");
    if (krc != CLI_OK) {
        return krc;
    }
    cJSON *req = cJSON_CreateObject();
    if (!req) {
        return cli_fail("unsilence", "out of memory");
    }
    cJSON_AddStringToObject(req, "op", "unsilence");
    cJSON_AddNumberToObject(req, "id", (double)id);
    cJSON_AddStringToObject(req, "operator", who);
    return ask_engine("unsilence", endpoint, timeout_s, req);
}
