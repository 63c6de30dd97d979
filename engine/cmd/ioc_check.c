/*
 * ioc_check.c — `ioc check`: validate rule files and config files offline,
 * through the very loaders iocd uses, so "OK" here means iocd will load them.
 *
 * Each path is sorted by a peek at its YAML: a top-level map with a config
 * section (engine, inputs, outputs, ...) is a configuration, checked with
 * ioc_config_load and then the rule set it names; anything else (and every
 * directory) is rules. All rule paths are loaded as one set, because that is
 * how the engine loads them: a rule id used twice across files is an error
 * only then. Every diagnostic goes to stderr as file:line:column: message.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "ioc/config.h"
#include "ioc/diag.h"
#include "ioc/policy.h"
#include "ioc/rule.h"
#include "ioc/yaml.h"

#include "ioc_cmd.h"

static const char check_usage[] =
    "usage: ioc check FILE|DIR...\n"
    "\n"
    "Validates SOP rule files (or directories of *.yaml) and iocd configuration\n"
    "files with the engine's own loaders. A configuration is recognised by its\n"
    "sections (engine, inputs, outputs, store, control, grades, ...) and the rules\n"
    "it names are checked with it. Prints every error as file:line:column: message\n"
    "and exits 1 if there is any; otherwise prints what was checked.\n"
    "\n"
    "options:\n"
    "  -h, --help   show this help\n"
    "\n"
    "examples:\n"
    "  ioc check rules/\n"
    "  ioc check rules/flood.yaml iocd.yaml\n";

/* Sections only a configuration has. */
static const char *const config_sections[] = {
    "engine", "inputs", "outputs", "store", "control", "grades", "escalation_policies", "operators",
};

static bool looks_like_config(const struct ioc_ynode *root)
{
    if (!root || root->kind != IOC_Y_MAP) {
        return false;
    }
    for (size_t i = 0; i < sizeof config_sections / sizeof config_sections[0]; i++) {
        if (ioc_ymap_get(root, config_sections[i])) {
            return true;
        }
    }
    return false;
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Files a loaded set read (directories expanded), from its JSON list. */
static size_t ruleset_files(const struct ioc_ruleset *rs, size_t fallback)
{
    const char *json = ioc_ruleset_files_json(rs);
    cJSON *arr = json ? cJSON_Parse(json) : NULL;
    size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : fallback;
    cJSON_Delete(arr);
    return n;
}

/* Loads a rule set, printing its diagnostics; 0 and the counts, or -1. The
 * set is handed to keep when it is not NULL, else freed. */
static int check_rules(const char *const *paths, size_t n, size_t *rules, size_t *files,
                       struct ioc_ruleset **keep)
{
    struct ioc_ruleset *rs = NULL;
    struct ioc_diag diag;
    ioc_diag_init(&diag);
    int err = ioc_ruleset_load(paths, n, &rs, &diag);
    ioc_diag_print(&diag, stderr);
    if (err == 0 && rs) {
        *rules = ioc_ruleset_count(rs);
        *files = ruleset_files(rs, n);
    } else if (diag.n == 0) {
        /* The loader promises a message; never fail silently if it has none. */
        fprintf(stderr, "%s: could not be loaded\n", n ? paths[0] : "(rules)");
    }
    int rc = err == 0 && rs ? 0 : -1;
    if (keep) {
        *keep = rs;
    } else {
        ioc_ruleset_free(rs);
    }
    ioc_diag_close(&diag);
    return rc;
}

struct config_ok {
    const char *path;
    size_t rules, files;
};

static int check_config(const char *path, struct config_ok *ok)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    ioc_diag_init(&diag);
    int err = ioc_config_load(path, &cfg, &diag);
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    if (err != 0 || !cfg) {
        return -1;
    }
    ok->path = path;
    /* A configuration whose rules do not load, or name an escalation policy
     * it does not have, is one iocd cannot start on. */
    struct ioc_ruleset *rs = NULL;
    int rc = check_rules((const char *const *)cfg->rules, cfg->n_rules, &ok->rules, &ok->files,
                         &rs);
    struct ioc_policies pol = {0};
    ioc_diag_init(&diag);
    if (ioc_policies_load(cfg, &pol, &diag) != 0 ||
        (rs && ioc_policies_check_rules(&pol, rs, &diag) != 0)) {
        rc = -1;
    }
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    ioc_policies_close(&pol);
    ioc_ruleset_free(rs);
    ioc_config_free(cfg);
    return rc;
}

int cli_cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    cli_opt_begin();
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(check_usage, stdout);
            return CLI_OK;
        default:
            return cli_opt_error("check", c, argv);
        }
    }
    if (optind >= argc) {
        return cli_usage_error("check", "no file given");
    }

    size_t n = (size_t)(argc - optind);
    const char **rule_paths = calloc(n, sizeof *rule_paths);
    const char **config_paths = calloc(n, sizeof *config_paths);
    struct config_ok *configs = calloc(n, sizeof *configs);
    size_t n_rules = 0, n_config_paths = 0, n_configs = 0, errors = 0, rules = 0, files = 0;
    int rc = CLI_FAIL;
    if (!rule_paths || !config_paths || !configs) {
        cli_fail("check", "out of memory");
        goto done;
    }

    for (int i = optind; i < argc; i++) {
        const char *path = argv[i];
        struct stat sb;
        if (stat(path, &sb) != 0) {
            fprintf(stderr, "%s: %s\n", path, strerror(errno));
            errors++;
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            rule_paths[n_rules++] = path;
            continue;
        }
        /* The peek reports a YAML syntax error itself; the file is then not
         * handed to a loader that would report the same error again. */
        struct ioc_ynode *root = NULL;
        struct ioc_diag diag;
        ioc_diag_init(&diag);
        if (ioc_yaml_load(path, &root, &diag) != 0) {
            ioc_diag_print(&diag, stderr);
            if (diag.n == 0) {
                fprintf(stderr, "%s: cannot be read as YAML\n", path);
            }
            errors++;
        } else if (looks_like_config(root)) {
            config_paths[n_config_paths++] = path;
        } else {
            rule_paths[n_rules++] = path;
        }
        ioc_yaml_free(root);
        ioc_diag_close(&diag);
    }

    if (n_rules > 0 && check_rules(rule_paths, n_rules, &rules, &files, NULL) != 0) {
        errors++;
    }
    for (size_t i = 0; i < n_config_paths; i++) {
        if (check_config(config_paths[i], &configs[n_configs]) == 0) {
            n_configs++;
        } else {
            errors++;
        }
    }
    if (errors > 0) {
        goto done;
    }
    if (n_rules > 0) {
        printf("OK: %zu %s in %zu %s\n", rules, plural(rules, "rule", "rules"), files,
               plural(files, "file", "files"));
    }
    for (size_t i = 0; i < n_configs; i++) {
        printf("OK: %s: configuration with %zu %s in %zu %s\n", configs[i].path, configs[i].rules,
               plural(configs[i].rules, "rule", "rules"), configs[i].files,
               plural(configs[i].files, "file", "files"));
    }
    rc = CLI_OK;

done:
    free(rule_paths);
    free(config_paths);
    free(configs);
    return rc;
}
