/*
 * config.c — loads iocd.yaml over the embedded default.
 *
 * Both documents are parsed into position-keeping trees. For each top-level
 * section the file's node wins when present, else the default's; every
 * section then goes through its option table, so a key is declared once and
 * an unknown one is reported with its position and the allowed keys. Plugin
 * instances are checked here against their plugin's table too, so
 * `ioc check iocd.yaml` finds a typo in an input before iocd starts.
 *
 * Paths: relative paths in a file resolve against the file's directory. In
 * the embedded default, rule paths resolve against the data directory and
 * the database path against the working directory (where `make demo` runs).
 */
#include <libgen.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ioc/config.h"
#include "ioc/error.h"
#include "ioc/plugin.h"
#include "ioc/yaml.h"

extern const char ioc_embedded_default_config[];
extern const size_t ioc_embedded_default_config_len;

#define DEFAULT_NAME "<embedded default config>"

static const struct ioc_option engine_options[] = {
    {"lateness", IOC_OPT_DURATION, "5s", 0, 86400000.0,
     offsetof(struct ioc_engine_conf, lateness_ms),
     "allowed lateness: events older than the newest event time minus this are rejected as late"},
    {"dedup_window", IOC_OPT_DURATION, "10m", 0, 7 * 86400000.0,
     offsetof(struct ioc_engine_conf, dedup_window_ms),
     "how long an event id is remembered to drop duplicates (same source and id)"},
    {"reopen_within", IOC_OPT_DURATION, "30m", 0, 7 * 86400000.0,
     offsetof(struct ioc_engine_conf, reopen_within_ms),
     "a resolved incident that matches again within this time reopens; after it, it closes"},
    {"cap_sender", IOC_OPT_STR, "ioc@city.example", 1, 0,
     offsetof(struct ioc_engine_conf, cap_sender), "sender of CAP 1.2 public warnings"},
    {"timezone", IOC_OPT_STR, "Asia/Bangkok", 1, 0, offsetof(struct ioc_engine_conf, timezone),
     "time zone for printed times and shift boundaries (IANA name)"},
    {"max_event_bytes", IOC_OPT_SIZE, "64KiB", 64, 64.0 * 1024 * 1024,
     offsetof(struct ioc_engine_conf, max_event_bytes), "size limit of one event"},
    {"batch_max", IOC_OPT_INT, "8192", 1, 1e7, offsetof(struct ioc_engine_conf, batch_max),
     "records per store transaction before it is handed to the writer"},
    {"overload_after", IOC_OPT_DURATION, "2s", 0, 86400000.0,
     offsetof(struct ioc_engine_conf, overload_after_ms),
     "the system.overload incident opens once the store has been full this long, or at the "
     "first event shed"},
    {"overload_clear", IOC_OPT_DURATION, "5s", 0, 86400000.0,
     offsetof(struct ioc_engine_conf, overload_clear_ms),
     "the system.overload incident resolves once the store has had room this long"},
    IOC_OPTION_END,
};

static const struct ioc_option store_options[] = {
    {"path", IOC_OPT_STR, "var/ioc.db", 1, 0, offsetof(struct ioc_store_conf, path),
     "SQLite database file"},
    {"archive_events", IOC_OPT_BOOL, "true", 1, 0, offsetof(struct ioc_store_conf, archive_events),
     "keep every accepted event in the events table"},
    {"synchronous", IOC_OPT_STR, "NORMAL", 1, 0, offsetof(struct ioc_store_conf, synchronous),
     "PRAGMA synchronous: NORMAL (may lose the last commits on power loss) or FULL"},
    {"queue_max", IOC_OPT_INT, "64", 1, 1e6, offsetof(struct ioc_store_conf, queue_max),
     "store batches in flight to the writer; at this many the engine is overloaded: reliable "
     "inputs wait and the ingest socket sheds"},
    {"hold_max", IOC_OPT_INT, "128", 1, 1e6, offsetof(struct ioc_store_conf, hold_max),
     "store batches held in memory in all, in flight plus refused by a failing database; at this "
     "many the engine is overloaded"},
    IOC_OPTION_END,
};

static const struct ioc_option control_options[] = {
    {"bind", IOC_OPT_STR, "tcp://127.0.0.1:5558", 1, 0, offsetof(struct ioc_control_conf, bind),
     "control socket (ROUTER) address"},
    IOC_OPTION_END,
};

static const struct ioc_option grade_options[] = {
    {"grade", IOC_OPT_INT, NULL, 1, 4, offsetof(struct ioc_grade_conf, grade),
     "the grade: 1 is the most severe"},
    {"name", IOC_OPT_STR, NULL, 1, 0, offsetof(struct ioc_grade_conf, name), "display name"},
    {"ack_within", IOC_OPT_DURATION, NULL, 0, 365.0 * 86400000,
     offsetof(struct ioc_grade_conf, ack_within_ms),
     "SLA: an incident of this grade must be acknowledged within this time"},
    {"cap_severity", IOC_OPT_STR, NULL, 1, 0, offsetof(struct ioc_grade_conf, cap_severity),
     "CAP 1.2 severity: Extreme, Severe, Moderate, Minor, Unknown"},
    IOC_OPTION_END,
};

/* The security section through its option table. publishers and consoles
 * are lists, read by load_security; their slots exist only so the table can
 * name them (in errors and help) and stay NULL. */
struct security_keys {
    char *server_key;
    char *publishers, *consoles;
};

static const struct ioc_option security_options[] = {
    {"server_key", IOC_OPT_PATH, NULL, 0, 0, offsetof(struct security_keys, server_key),
     "the engine's secret key file (ioc keygen NAME writes NAME.key); setting it turns CURVE on "
     "for every socket"},
    {"publishers", IOC_OPT_STR, NULL, 0, 0, offsetof(struct security_keys, publishers),
     "public key files (NAME.pub) of the senders allowed on the ingest sockets"},
    {"consoles", IOC_OPT_STR, NULL, 0, 0, offsetof(struct security_keys, consoles),
     "public key files of displays allowed on the publish socket only (operators' keys, "
     "given in operators, are allowed there and on the control socket)"},
    IOC_OPTION_END,
};

static const char *const sections[] = {"engine",    "inputs", "outputs",  "control",
                                       "store",     "rules",  "grades",   "escalation_policies",
                                       "operators", "shifts", "security", NULL};

const char *ioc_datadir(void)
{
    const char *d = getenv("IOC_DATADIR");
    return d && *d ? d : IOC_DATADIR;
}

int ioc_config_set_str(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy) {
        return IOC_ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

/* base + "/" + rel unless rel is absolute or base is NULL. */
static char *resolve(const char *base, const char *rel)
{
    if (rel[0] == '/' || !base) {
        return strdup(rel);
    }
    size_t n = strlen(base) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) {
        snprintf(p, n, "%s/%s", base, rel);
    }
    return p;
}

static int keep_tree(struct ioc_config *c, struct ioc_ynode *t)
{
    struct ioc_ynode **nt = realloc(c->trees, (c->n_trees + 1) * sizeof *nt);
    if (!nt) {
        ioc_yaml_free(t);
        return IOC_ENOMEM;
    }
    c->trees = nt;
    c->trees[c->n_trees++] = t;
    return 0;
}

static int load_plugins(const struct ioc_ynode *seq, enum ioc_plugin_kind kind,
                        struct ioc_plugin_conf **out, size_t *n, struct ioc_diag *d)
{
    const char *what = kind == IOC_PLUGIN_INPUT ? "inputs" : "outputs";
    int rc = 0;
    if (seq->kind != IOC_Y_SEQ) {
        ioc_diag_at(d, seq, "%s: expected a list of plugin instances", what);
        return IOC_ECONFIG;
    }
    *out = calloc(seq->n ? seq->n : 1, sizeof **out);
    if (!*out) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const struct ioc_ynode *m = seq->items[i];
        const struct ioc_ynode *pn = ioc_ymap_get(m, "plugin");
        if (m->kind != IOC_Y_MAP || !pn || pn->kind != IOC_Y_SCALAR) {
            ioc_diag_at(d, m, "%s: each entry needs 'plugin: NAME'", what);
            rc = IOC_ECONFIG;
            continue;
        }
        const struct ioc_plugin *p = ioc_plugin_find(kind, pn->str);
        if (!p) {
            char names[256] = "";
            size_t used = 0;
            for (const struct ioc_plugin *const *r = ioc_plugin_registry; *r; r++) {
                if ((*r)->kind == kind && used < sizeof names) {
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                             used ? ", " : "", (*r)->name);
                }
            }
            ioc_diag_at(d, pn, "%s: unknown plugin '%s' (available: %s)", what, pn->str, names);
            rc = IOC_ECONFIG;
            continue;
        }
        /* Check the instance's keys now; the engine applies them again when it
         * creates the instance. */
        void *conf = calloc(1, p->conf_size ? p->conf_size : 1);
        if (!conf) {
            return IOC_ENOMEM;
        }
        char tag[80];
        snprintf(tag, sizeof tag, "%s %s", kind == IOC_PLUGIN_INPUT ? "input" : "output", p->name);
        static const char *const skip[] = {"plugin", NULL};
        int drc = ioc_options_defaults(p->options, conf);
        if (drc == 0 && (drc = ioc_options_apply(p->options, conf, m, skip, tag, d)) != 0 &&
            drc != IOC_ENOMEM) {
            rc = IOC_ECONFIG;
            drc = 0;
        }
        ioc_options_free(p->options, conf);
        free(conf);
        if (drc != 0) {
            return drc;
        }
        (*out)[*n].plugin = strdup(p->name);
        (*out)[*n].node = m;
        if (!(*out)[*n].plugin) {
            return IOC_ENOMEM;
        }
        (*n)++;
    }
    return rc;
}

static int load_rules(struct ioc_config *c, const struct ioc_ynode *seq, const char *base,
                      struct ioc_diag *d)
{
    if (seq->kind != IOC_Y_SEQ) {
        ioc_diag_at(d, seq, "rules: expected a list of rule files or directories");
        return IOC_ECONFIG;
    }
    c->rules = calloc(seq->n ? seq->n : 1, sizeof *c->rules);
    if (!c->rules) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const char *s = ioc_ynode_str(seq->items[i], d);
        if (!s) {
            return IOC_ECONFIG;
        }
        if (!(c->rules[c->n_rules++] = resolve(base, s))) {
            return IOC_ENOMEM;
        }
    }
    return 0;
}

static int load_grades(struct ioc_config *c, const struct ioc_ynode *seq, struct ioc_diag *d)
{
    int rc = 0;
    if (seq->kind != IOC_Y_SEQ) {
        ioc_diag_at(d, seq, "grades: expected a list like {grade: 1, name: critical, ...}");
        return IOC_ECONFIG;
    }
    for (size_t i = 0; i < seq->n; i++) {
        struct ioc_grade_conf g = {0};
        int r = ioc_options_apply(grade_options, &g, seq->items[i], NULL, "grades", d);
        if (r == IOC_ENOMEM) {
            ioc_options_free(grade_options, &g);
            return r;
        }
        if (r != 0) {
            rc = IOC_ECONFIG;
        } else if (g.grade < 1 || g.grade > 4) {
            ioc_diag_at(d, seq->items[i], "grades: each entry needs 'grade: 1..4'");
            rc = IOC_ECONFIG;
        } else {
            ioc_options_free(grade_options, &c->grades[g.grade]);
            c->grades[g.grade] = g;
            continue;
        }
        ioc_options_free(grade_options, &g);
    }
    return rc;
}

/* "HH:MM" or "H:MM" (00:00 to 23:59) as minutes after midnight; -1 otherwise. */
static int time_of_day(const char *s)
{
    int h = 0, i = 0;
    while (i < 2 && s[i] >= '0' && s[i] <= '9') {
        h = h * 10 + (s[i++] - '0');
    }
    if (i == 0 || s[i] != ':' || s[i + 1] < '0' || s[i + 1] > '5' || s[i + 2] < '0' ||
        s[i + 2] > '9' || s[i + 3] != '\0' || h > 23) {
        return -1;
    }
    return h * 60 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
}

/* shifts: ["06:00", "14:00", "22:00"]. Stored ascending, so a list may start
 * with the night shift; a time listed twice would make an empty shift. */
static int load_shifts(struct ioc_config *c, const struct ioc_ynode *seq, struct ioc_diag *d)
{
    int rc = 0;
    if (seq->kind != IOC_Y_SEQ || seq->n == 0) {
        ioc_diag_at(d, seq, "shifts: expected a list of start times like [\"06:00\", \"14:00\"]");
        return IOC_ECONFIG;
    }
    int *m = calloc(seq->n, sizeof *m);
    if (!m) {
        return IOC_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < seq->n; i++) {
        const struct ioc_ynode *item = seq->items[i];
        if (item->kind != IOC_Y_SCALAR) {
            ioc_diag_at(d, item, "shifts: expected a time of day like \"06:00\", got %s",
                        ioc_ykind_name(item->kind));
            rc = IOC_ECONFIG;
            continue;
        }
        const char *s = item->str;
        int t = time_of_day(s);
        if (t < 0) {
            ioc_diag_at(d, item, "shifts: '%s' is not a time of day HH:MM (00:00 to 23:59)", s);
            rc = IOC_ECONFIG;
            continue;
        }
        /* Insertion sort: a day has few shifts. */
        size_t j = n;
        while (j > 0 && m[j - 1] > t) {
            m[j] = m[j - 1];
            j--;
        }
        if (j > 0 && m[j - 1] == t) {
            memmove(&m[j], &m[j + 1], (n - j) * sizeof *m);
            ioc_diag_at(d, item, "shifts: %s is listed twice", s);
            rc = IOC_ECONFIG;
            continue;
        }
        m[j] = t;
        n++;
    }
    if (rc != 0) {
        free(m);
        return rc;
    }
    free(c->shifts);
    c->shifts = m;
    c->n_shifts = n;
    return 0;
}

/* A path written at node, resolved against the directory of its file. */
static char *node_path(const struct ioc_ynode *node)
{
    const char *slash = node->file ? strrchr(node->file, '/') : NULL;
    if (node->str[0] == '/' || !slash || node->file[0] == '<') {
        return strdup(node->str);
    }
    size_t n = (size_t)(slash - node->file) + strlen(node->str) + 2;
    char *p = malloc(n);
    if (p) {
        snprintf(p, n, "%.*s/%s", (int)(slash - node->file), node->file, node->str);
    }
    return p;
}

/* Reads the public key of the file named at node and lists it for domains
 * under name (NULL: the file's base name). */
static int add_peer(struct ioc_security_conf *s, const struct ioc_ynode *node, const char *what,
                    const char *name, unsigned domains, struct ioc_diag *d)
{
    char err[512], key[IOC_CURVE_KEY_CHARS + 1];
    if (node->kind != IOC_Y_SCALAR) {
        ioc_diag_at(d, node, "%s: expected the path of a key file", what);
        return IOC_ECONFIG;
    }
    char *path = node_path(node);
    if (!path) {
        return IOC_ENOMEM;
    }
    int rc = ioc_curve_read_key(path, key, NULL, err, sizeof err);
    if (rc != 0) {
        ioc_diag_at(d, node, "%s: %s", what, err);
        free(path);
        return rc == IOC_ENOMEM ? rc : IOC_ECONFIG;
    }
    for (size_t i = 0; i < s->n_peers; i++) {
        if (strcmp(s->peers[i].key, key) == 0) {
            ioc_diag_at(d, node, "%s: %s holds the same key as %s", what, path, s->peers[i].file);
            free(path);
            return IOC_ECONFIG;
        }
    }
    struct ioc_curve_peer *np = realloc(s->peers, (s->n_peers + 1) * sizeof *np);
    if (!np) {
        free(path);
        return IOC_ENOMEM;
    }
    s->peers = np;
    struct ioc_curve_peer *p = &s->peers[s->n_peers];
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, sizeof key);
    p->file = path;
    p->domains = domains;
    if (name) {
        p->name = strdup(name);
    } else {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t len = strcspn(base, ".");
        p->name = strndup(base, len ? len : strlen(base));
    }
    if (!p->name) {
        free(path);
        return IOC_ENOMEM;
    }
    s->n_peers++;
    return 0;
}

static int add_peer_list(struct ioc_security_conf *s, const struct ioc_ynode *seq, const char *what,
                         unsigned domains, struct ioc_diag *d)
{
    int bad = 0;
    if (seq->kind != IOC_Y_SEQ) {
        ioc_diag_at(d, seq, "%s: expected a list of key files", what);
        return IOC_ECONFIG;
    }
    for (size_t i = 0; i < seq->n; i++) {
        int rc = add_peer(s, seq->items[i], what, NULL, domains, d);
        if (rc == IOC_ENOMEM) {
            return rc;
        }
        bad |= rc != 0;
    }
    return bad ? IOC_ECONFIG : 0;
}

/* security: {server_key, publishers, consoles}, and the key: of each
 * operator (the roles themselves are policy.c's). */
static int load_security(struct ioc_config *c, const struct ioc_ynode *sec,
                         const struct ioc_ynode *ops, struct ioc_diag *d)
{
    static const char *const skip[] = {"publishers", "consoles", NULL};
    struct ioc_security_conf *s = &c->security;
    struct security_keys k = {0};
    char err[512];
    int rc, bad = 0;
    if (sec && ioc_options_apply(security_options, &k, sec, skip, "security", d) != 0) {
        bad = 1;
    }
    if (k.server_key) {
        rc = ioc_curve_read_key(k.server_key, s->public_key, s->secret_key, err, sizeof err);
        if (rc != 0) {
            ioc_diag_at(d, ioc_ymap_get(sec, "server_key"), "security.server_key: %s", err);
            bad = 1;
        } else {
            s->enabled = true;
        }
    }
    const struct ioc_ynode *n;
    if (sec && (n = ioc_ymap_get(sec, "publishers")) &&
        (rc = add_peer_list(s, n, "security.publishers", IOC_ZAP_INGEST, d)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto oom;
        }
        bad = 1;
    }
    if (sec && (n = ioc_ymap_get(sec, "consoles")) &&
        (rc = add_peer_list(s, n, "security.consoles", IOC_ZAP_PUBLISH, d)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto oom;
        }
        bad = 1;
    }
    for (size_t i = 0; ops && ops->kind == IOC_Y_SEQ && i < ops->n; i++) {
        const struct ioc_ynode *o = ops->items[i], *key = ioc_ymap_get(o, "key");
        const struct ioc_ynode *name = ioc_ymap_get(o, "name");
        if (!key || !name || name->kind != IOC_Y_SCALAR) {
            continue; /* policy.c reports a malformed entry */
        }
        rc = add_peer(s, key, "operators.key", name->str, IOC_ZAP_CONTROL | IOC_ZAP_PUBLISH, d);
        if (rc == IOC_ENOMEM) {
            goto oom;
        }
        bad |= rc != 0;
    }
    if (!s->enabled && s->n_peers > 0 && !bad) {
        ioc_diag_at(d, sec ? sec : ops,
                    "keys are listed but security.server_key is not set: without the engine's "
                    "own key pair nothing can use them");
        bad = 1;
    }
    ioc_options_free(security_options, &k);
    return bad ? IOC_ECONFIG : 0;
oom:
    ioc_options_free(security_options, &k);
    return IOC_ENOMEM;
}

/* Without keys, nothing listens beyond this machine. */
static int check_loopback(const struct ioc_ynode *bind, const char *what, struct ioc_diag *d)
{
    if (!bind || bind->kind != IOC_Y_SCALAR || ioc_endpoint_is_loopback(bind->str)) {
        return 0;
    }
    ioc_diag_at(d, bind,
                "%s: %s is not loopback; configure security keys to listen beyond this machine",
                what, bind->str);
    return IOC_ECONFIG;
}

/* The base directory relative paths of a tree resolve against. */
static char *base_dir(const char *file)
{
    char *copy = strdup(file);
    if (!copy) {
        return NULL;
    }
    char *dir = strdup(dirname(copy));
    free(copy);
    return dir;
}

int ioc_config_load(const char *path, struct ioc_config **out, struct ioc_diag *diag)
{
    int rc;
    char *file_base = NULL;
    struct ioc_ynode *def = NULL, *user = NULL;
    struct ioc_config *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) {
        return IOC_ENOMEM;
    }
    rc = ioc_yaml_parse(DEFAULT_NAME, ioc_embedded_default_config, ioc_embedded_default_config_len,
                        &def, diag);
    if (rc != 0 || (rc = keep_tree(c, def)) != 0) {
        goto fail;
    }
    if (path) {
        if ((rc = ioc_yaml_load(path, &user, diag)) != 0) {
            goto fail;
        }
        if ((rc = keep_tree(c, user)) != 0) {
            goto fail;
        }
        if (!(c->file = strdup(path)) || !(file_base = base_dir(path))) {
            rc = IOC_ENOMEM;
            goto fail;
        }
        if (user->kind != IOC_Y_MAP) {
            ioc_diag_at(diag, user, "a config file is a mapping of sections (engine, inputs, ...)");
            rc = IOC_ECONFIG;
            goto fail;
        }
    }
    int bad = 0;
    if (user) {
        for (size_t i = 0; i < user->n; i++) {
            const char *k = user->keys[i]->str;
            size_t j = 0;
            while (sections[j] && strcmp(sections[j], k) != 0) {
                j++;
            }
            if (!sections[j]) {
                ioc_diag_at(diag, user->keys[i],
                            "unknown section '%s' (allowed: engine, inputs, outputs, control, "
                            "store, rules, grades, escalation_policies, operators, shifts, "
                            "security)",
                            k);
                bad = 1;
            }
        }
    }
    if ((rc = ioc_options_defaults(engine_options, &c->engine)) != 0 ||
        (rc = ioc_options_defaults(store_options, &c->store)) != 0 ||
        (rc = ioc_options_defaults(control_options, &c->control)) != 0) {
        goto fail;
    }

    /* A section from the file replaces the default's whole. */
#define SECTION(name)                                                                              \
    (user && ioc_ymap_get(user, name) ? ioc_ymap_get(user, name) : ioc_ymap_get(def, name))
#define FROM_USER(name) (user && ioc_ymap_get(user, name))
    if ((rc = ioc_options_apply(engine_options, &c->engine, SECTION("engine"), NULL, "engine",
                                diag)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad = 1;
    }
    if ((rc = ioc_options_apply(store_options, &c->store, SECTION("store"), NULL, "store",
                                diag)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad = 1;
    }
    if ((rc = ioc_options_apply(control_options, &c->control, SECTION("control"), NULL,
                                "control", diag)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad = 1;
    }
    if (strcmp(c->store.synchronous, "NORMAL") != 0 && strcmp(c->store.synchronous, "FULL") != 0) {
        ioc_diag_at(diag, SECTION("store"), "store: synchronous must be NORMAL or FULL");
        bad = 1;
    }
    if (FROM_USER("store") && c->store.path[0] != '/') {
        char *p = resolve(file_base, c->store.path);
        if (!p) {
            rc = IOC_ENOMEM;
            goto fail;
        }
        free(c->store.path);
        c->store.path = p;
    }
    const struct ioc_ynode *n;
    if ((n = SECTION("inputs")) &&
        (rc = load_plugins(n, IOC_PLUGIN_INPUT, &c->inputs, &c->n_inputs, diag)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad = 1;
    }
    if ((n = SECTION("outputs")) &&
        (rc = load_plugins(n, IOC_PLUGIN_OUTPUT, &c->outputs, &c->n_outputs, diag)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad = 1;
    }
    if ((n = SECTION("rules"))) {
        rc = load_rules(c, n, FROM_USER("rules") ? file_base : ioc_datadir(), diag);
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad |= rc != 0;
    }
    if ((n = SECTION("grades")) && (rc = load_grades(c, n, diag)) != 0) {
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad = 1;
    }
    if ((n = SECTION("shifts"))) {
        rc = load_shifts(c, n, diag);
        if (rc == IOC_ENOMEM) {
            goto fail;
        }
        bad |= rc != 0;
    }
    rc = load_security(c, SECTION("security"), SECTION("operators"), diag);
    if (rc == IOC_ENOMEM) {
        goto fail;
    }
    bad |= rc != 0;
    if (!c->security.enabled && rc == 0) {
        const struct ioc_ynode *ctl = SECTION("control");
        bad |= check_loopback(ctl ? ioc_ymap_get(ctl, "bind") : NULL, "control.bind", diag) != 0;
        for (size_t i = 0; i < c->n_inputs; i++) {
            bad |=
                check_loopback(ioc_ymap_get(c->inputs[i].node, "bind"), "inputs.bind", diag) != 0;
        }
        for (size_t i = 0; i < c->n_outputs; i++) {
            bad |=
                check_loopback(ioc_ymap_get(c->outputs[i].node, "bind"), "outputs.bind", diag) != 0;
        }
    }
#undef SECTION
#undef FROM_USER
    free(file_base);
    if (bad) {
        ioc_config_free(c);
        return IOC_ECONFIG;
    }
    *out = c;
    return 0;
fail:
    free(file_base);
    ioc_config_free(c);
    return rc ? rc : IOC_ECONFIG;
}

void ioc_config_free(struct ioc_config *c)
{
    if (!c) {
        return;
    }
    ioc_options_free(engine_options, &c->engine);
    ioc_options_free(store_options, &c->store);
    ioc_options_free(control_options, &c->control);
    for (size_t i = 0; i < c->n_inputs; i++) {
        free(c->inputs[i].plugin);
    }
    free(c->inputs);
    for (size_t i = 0; i < c->n_outputs; i++) {
        free(c->outputs[i].plugin);
    }
    free(c->outputs);
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i]);
    }
    free(c->rules);
    for (int g = 0; g < 5; g++) {
        ioc_options_free(grade_options, &c->grades[g]);
    }
    for (size_t i = 0; i < c->n_trees; i++) {
        ioc_yaml_free(c->trees[i]);
    }
    free(c->trees);
    free(c->shifts);
    free(c->file);
    ioc_security_conf_close(&c->security);
    free(c);
}

int ioc_config_set_rules(struct ioc_config *c, const char *const *paths, size_t n)
{
    char **r = calloc(n ? n : 1, sizeof *r);
    if (!r) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(r[i] = strdup(paths[i]))) {
            for (size_t j = 0; j < i; j++) {
                free(r[j]);
            }
            free(r);
            return IOC_ENOMEM;
        }
    }
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i]);
    }
    free(c->rules);
    c->rules = r;
    c->n_rules = n;
    return 0;
}

int ioc_config_set_input(struct ioc_config *c, const char *plugin, const char *key,
                         const char *value)
{
    /* Build the instance as YAML text so it gets the same nodes, positions
     * and option checks as one written in a file. */
    size_t cap = strlen(plugin) + strlen(key) + 2 * strlen(value) + 64;
    char *text = malloc(cap);
    if (!text) {
        return IOC_ENOMEM;
    }
    size_t len = (size_t)snprintf(text, cap, "plugin: %s\n%s: \"", plugin, key);
    for (const char *s = value; *s; s++) {
        if (*s == '"' || *s == '\\') {
            text[len++] = '\\';
        }
        text[len++] = *s;
    }
    len += (size_t)snprintf(text + len, cap - len, "\"\n");
    struct ioc_diag d;
    ioc_diag_init(&d);
    struct ioc_ynode *t = NULL;
    int rc = ioc_yaml_parse("<command line>", text, len, &t, &d);
    free(text);
    ioc_diag_close(&d);
    if (rc != 0) {
        return rc;
    }
    if ((rc = keep_tree(c, t)) != 0) {
        return rc;
    }
    struct ioc_plugin_conf *in = calloc(1, sizeof *in);
    if (!in || !(in->plugin = strdup(plugin))) {
        free(in);
        return IOC_ENOMEM;
    }
    in->node = t;
    for (size_t i = 0; i < c->n_inputs; i++) {
        free(c->inputs[i].plugin);
    }
    free(c->inputs);
    c->inputs = in;
    c->n_inputs = 1;
    return 0;
}

void ioc_config_clear_outputs(struct ioc_config *c)
{
    for (size_t i = 0; i < c->n_outputs; i++) {
        free(c->outputs[i].plugin);
    }
    free(c->outputs);
    c->outputs = NULL;
    c->n_outputs = 0;
}

const struct ioc_ynode *ioc_config_section(const struct ioc_config *c, const char *name)
{
    /* Trees are kept in load order: the default first, the file (if any)
     * second; a file's section replaces the default's whole. */
    const struct ioc_ynode *found = NULL;
    for (size_t i = 0; i < c->n_trees && i < 2; i++) {
        const struct ioc_ynode *n = ioc_ymap_get(c->trees[i], name);
        if (n && (i == 0 || c->file)) {
            found = n;
        }
    }
    return found;
}
