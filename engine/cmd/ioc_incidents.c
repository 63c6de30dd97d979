/*
 * ioc_incidents.c — `ioc incidents`: the incidents recorded in a database, as
 * an aligned table for people or as JSON lines for scripts.
 *
 * The query itself is the store's (ioc_db_incidents in store.c holds all SQL);
 * this file only filters through it and prints. JSON lines stream out as rows
 * arrive; the table needs every row first to size its columns, so rows are
 * copied (the store's strings live only during its callback).
 *
 * Times: incidents carry event time in ms; they print in the TZ environment
 * variable's zone, or else in the engine's configured zone (Asia/Bangkok by
 * default), so the output does not depend on the machine's /etc/localtime.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/store.h"

#include "ioc_cmd.h"

static const char incidents_usage[] =
    "usage: ioc incidents --db FILE [--format table|json] [--rule R] [--state S]\n"
    "                     [--zone Z] [--grade-max G]\n"
    "\n"
    "Lists the incidents recorded in an engine's database, ordered by id. The table\n"
    "is for reading; json prints one object per line with id, rule, key, grade,\n"
    "state, zone, opened, updated (RFC 3339 event time), count and title.\n"
    "Times are shown in $TZ, else in the engine's zone (engine.timezone).\n"
    "\n"
    "options:\n"
    "  -d, --db FILE          the database (required)\n"
    "  -f, --format FORMAT    table (default) or json\n"
    "      --rule R           only incidents of rule R\n"
    "      --state S          only in state S: open, acknowledged, resolved, closed\n"
    "      --zone Z           only in zone Z\n"
    "      --grade-max G      only grade G or more severe (1 is most severe)\n"
    "  -h, --help             show this help\n"
    "\n"
    "example:\n"
    "  TZ=Asia/Bangkok ioc incidents --db var/ioc.db --state open --grade-max 2\n";

enum {
    OPT_RULE = 256,
    OPT_STATE,
    OPT_ZONE,
    OPT_GRADE_MAX,
};

enum col {
    C_ID,
    C_GRADE,
    C_STATE,
    C_RULE,
    C_KEY,
    C_ZONE,
    C_OPENED,
    C_UPDATED,
    C_COUNT,
    C_TITLE,
    C_N
};

static const char *const col_names[C_N] = {"ID",   "GRADE",  "STATE",   "RULE",  "KEY",
                                           "ZONE", "OPENED", "UPDATED", "COUNT", "TITLE"};
/* Free-text columns are capped so one long value does not push the rest of
 * the table off the screen; the title's cap is set from the terminal. */
#define KEY_MAX_COLS 32
#define TITLE_MAX_COLS 80
#define TITLE_MIN_COLS 20

struct table {
    char *(*rows)[C_N];
    size_t n, cap;
};

struct list_ctx {
    bool json;
    struct table t;
    bool failed; /* out of memory while collecting */
};

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        for (int c = 0; c < C_N; c++) {
            free(t->rows[i][c]);
        }
    }
    free(t->rows);
}

static int print_json(const struct ioc_incident_view *v)
{
    char opened[48], updated[48];
    cJSON *o = cJSON_CreateObject();
    cJSON *key = v->key_json ? cJSON_Parse(v->key_json) : NULL;
    if (!o) {
        cJSON_Delete(key);
        return -1;
    }
    cJSON_AddNumberToObject(o, "id", (double)v->id);
    cJSON_AddStringToObject(o, "rule", v->rule ? v->rule : "");
    if (key) {
        cJSON_AddItemToObject(o, "key", key);
    } else {
        /* A key that does not parse is still shown, as the text stored. */
        cJSON_AddStringToObject(o, "key", v->key_json ? v->key_json : "");
    }
    cJSON_AddNumberToObject(o, "grade", v->grade);
    cJSON_AddStringToObject(o, "state", v->state ? v->state : "");
    if (v->zone) {
        cJSON_AddStringToObject(o, "zone", v->zone);
    } else {
        cJSON_AddNullToObject(o, "zone");
    }
    cJSON_AddStringToObject(o, "opened", ioc_time_format(v->opened, opened, sizeof opened));
    cJSON_AddStringToObject(o, "updated", ioc_time_format(v->updated, updated, sizeof updated));
    cJSON_AddNumberToObject(o, "count", (double)v->count);
    cJSON_AddStringToObject(o, "title", v->title ? v->title : "");
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        return -1;
    }
    puts(text);
    cJSON_free(text);
    return 0;
}

static int add_row(struct table *t, const struct ioc_incident_view *v)
{
    char id[24], grade[8], count[24], opened[32], updated[32], keytext[512];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        void *rows = realloc(t->rows, cap * sizeof *t->rows);
        if (!rows) {
            return -1;
        }
        t->rows = rows;
        t->cap = cap;
    }
    cJSON *key = v->key_json ? cJSON_Parse(v->key_json) : NULL;
    if (key) {
        cli_key_text(key, keytext, sizeof keytext);
        cJSON_Delete(key);
    } else {
        snprintf(keytext, sizeof keytext, "%s", v->key_json ? v->key_json : "");
    }
    snprintf(id, sizeof id, "%lld", (long long)v->id);
    snprintf(grade, sizeof grade, "%d", v->grade);
    snprintf(count, sizeof count, "%lld", (long long)v->count);
    const char *cells[C_N] = {
        [C_ID] = id,
        [C_GRADE] = grade,
        [C_STATE] = v->state ? v->state : "",
        [C_RULE] = v->rule ? v->rule : "",
        [C_KEY] = keytext,
        [C_ZONE] = v->zone ? v->zone : "-",
        [C_OPENED] = cli_local_time(v->opened, opened, sizeof opened),
        [C_UPDATED] = cli_local_time(v->updated, updated, sizeof updated),
        [C_COUNT] = count,
        [C_TITLE] = v->title ? v->title : "",
    };
    char **row = t->rows[t->n];
    for (int c = 0; c < C_N; c++) {
        row[c] = strdup(cells[c]);
        if (!row[c]) {
            while (c-- > 0) {
                free(row[c]);
            }
            return -1;
        }
    }
    t->n++;
    return 0;
}

static int on_incident(const struct ioc_incident_view *v, void *arg)
{
    struct list_ctx *ctx = arg;
    if (ctx->json ? print_json(v) : add_row(&ctx->t, v)) {
        ctx->failed = true;
        return 1;
    }
    return 0;
}

static void print_table(const struct table *t)
{
    int width[C_N];
    for (int c = 0; c < C_N; c++) {
        width[c] = cli_text_width(col_names[c]);
        for (size_t i = 0; i < t->n; i++) {
            int w = cli_text_width(t->rows[i][c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    if (width[C_KEY] > KEY_MAX_COLS) {
        width[C_KEY] = KEY_MAX_COLS;
    }
    /* The title is last: on a terminal it gets what the other columns leave,
     * elsewhere a fixed cap, so scripts see stable lines. */
    int title_max = TITLE_MAX_COLS;
    struct winsize ws;
    if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        int used = 0;
        for (int c = 0; c < C_TITLE; c++) {
            used += width[c] + 2;
        }
        title_max = (int)ws.ws_col - used;
        if (title_max < TITLE_MIN_COLS) {
            title_max = TITLE_MIN_COLS;
        }
    }
    if (width[C_TITLE] > title_max) {
        width[C_TITLE] = title_max;
    }

    for (int c = 0; c < C_N; c++) {
        cli_put_cell(stdout, col_names[c], width[c], c == C_TITLE ? 0 : width[c] + 2);
    }
    putchar('\n');
    for (size_t i = 0; i < t->n; i++) {
        for (int c = 0; c < C_N; c++) {
            /* Numbers align right, text left. */
            bool right = c == C_ID || c == C_COUNT;
            if (right) {
                for (int k = cli_text_width(t->rows[i][c]); k < width[c]; k++) {
                    putchar(' ');
                }
                cli_put_cell(stdout, t->rows[i][c], width[c], 0);
                fputs("  ", stdout);
            } else {
                cli_put_cell(stdout, t->rows[i][c], width[c], c == C_TITLE ? 0 : width[c] + 2);
            }
        }
        putchar('\n');
    }
}

int cli_cmd_incidents(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {"rule", required_argument, NULL, OPT_RULE},
        {"state", required_argument, NULL, OPT_STATE},
        {"zone", required_argument, NULL, OPT_ZONE},
        {"grade-max", required_argument, NULL, OPT_GRADE_MAX},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    struct ioc_incident_filter filter = {0};
    struct list_ctx ctx = {0};
    long long g;
    int c;

    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":d:f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0) {
                ctx.json = true;
            } else if (strcmp(optarg, "table") == 0) {
                ctx.json = false;
            } else {
                return cli_usage_error("incidents", "--format is table or json, not '%s'", optarg);
            }
            break;
        case OPT_RULE:
            filter.rule = optarg;
            break;
        case OPT_STATE:
            filter.state = optarg;
            break;
        case OPT_ZONE:
            filter.zone = optarg;
            break;
        case OPT_GRADE_MAX:
            if (cli_parse_int(optarg, 1, 4, &g) != 0) {
                return cli_usage_error("incidents", "--grade-max is a grade from 1 to 4, not '%s'",
                                       optarg);
            }
            filter.max_grade = (int)g;
            break;
        case 'h':
            fputs(incidents_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("incidents", c, argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error("incidents", "unexpected argument '%s'", argv[optind]);
    }
    if (!db) {
        return cli_usage_error("incidents", "--db FILE is required");
    }
    /* Checked before SQLite sees the path, which would create an empty
     * database where a typo was meant. */
    struct stat sb;
    if (stat(db, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        return cli_fail("incidents", "no database at %s", db);
    }
    cli_use_engine_timezone();

    char err[256] = "";
    int rc = ioc_db_incidents(db, &filter, on_incident, &ctx, err, sizeof err);
    if (rc == IOC_ENOENT) {
        rc = cli_fail("incidents", "no database at %s", db);
        goto done;
    }
    if (rc != 0) {
        /* The store's message usually names the file already. */
        if (err[0] && strstr(err, db)) {
            rc = cli_fail("incidents", "%s", err);
        } else {
            rc = cli_fail("incidents", "%s: %s", db, err[0] ? err : ioc_strerror(rc));
        }
        goto done;
    }
    if (ctx.failed) {
        rc = cli_fail("incidents", "out of memory");
        goto done;
    }
    if (!ctx.json) {
        if (ctx.t.n == 0) {
            fprintf(stderr, "no incidents\n");
        } else {
            print_table(&ctx.t);
        }
    }
    if (fflush(stdout) != 0) {
        rc = cli_fail("incidents", "writing the output: %s", strerror(errno));
        goto done;
    }
    rc = CLI_OK;

done:
    table_free(&ctx.t);
    return rc;
}
