/*
 * operate.c — the operator loop: what people do with incidents.
 *
 * Owns the control socket's commands (with the operators' roles), silences,
 * and the life of an incident after the engine opened it: acknowledgement,
 * comments, resolution, reopening and closing, the SLA clock of its grade,
 * the escalation policy of its rule, and its public warning (CAP 1.2), which
 * waits for approval by a role the rule names.
 *
 * Every change is recorded through ioc__record (one incident_log row, one
 * published message, persist before publish); every command, accepted or
 * refused, is one audit row. Times are the engine's clock (event time), so a
 * replay escalates exactly as the live run did.
 *
 * Threads: the loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine_int.h"
#include "ioc/cap.h"
#include "ioc/curve.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/store.h"
#include "ioc/yaml.h"

#define TAG "engine"

static int64_t clock_now(struct ioc_engine *e);
static int change(struct ioc_engine *e, const struct incident *inc, const char *what,
                  int64_t at, const char *actor, const char *reason, cJSON *extra);
static void publish_cap(struct ioc_engine *e, struct incident *inc, const char *msg_type,
                        int64_t at);

/* A JSON number as an id: whole, positive and exactly representable, else 0
 * (so {"incident": 1e300} is "no such incident", never a bad conversion). */
static int64_t json_id(const cJSON *x)
{
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= 1 && x->valuedouble < 9007199254740992.0)) {
        return 0;
    }
    return (int64_t)x->valuedouble;
}

/* ---- silences -------------------------------------------------------------- */

/* A change at `at` is silenced when an operator's silence covers its rule,
 * key and zone at that event time. */
/* Whether silence s covers the incident at event time `at`; *key caches the
 * parsed incident key across calls (the caller deletes it). */
static int covers(const struct silence *s, const struct incident *inc, int64_t at, cJSON **key)
{
    if (at < s->starts || at >= s->ends || (s->rule && strcmp(s->rule, inc->rule_id)) ||
        (s->zone && (!inc->zone || strcmp(s->zone, inc->zone)))) {
        return 0;
    }
    if (s->key) {
        if (!*key) {
            *key = cJSON_Parse(inc->key_json ? inc->key_json : "{}");
        }
        for (const cJSON *f = s->key->child; f; f = f->next) {
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(*key, f->string);
            if (!g || !cJSON_Compare(f, g, true)) {
                return 0;
            }
        }
    }
    return 1;
}

int ioc__silenced(const struct ioc_engine *e, const struct incident *inc, int64_t at)
{
    cJSON *key = NULL;
    int hit = 0;
    for (size_t i = 0; i < e->n_silences && !hit; i++) {
        hit = covers(&e->silences[i], inc, at, &key);
    }
    cJSON_Delete(key);
    return hit;
}


static void silence_free(struct silence *s)
{
    free(s->rule);
    free(s->zone);
    cJSON_Delete(s->key);
}

static int silence_add(struct ioc_engine *e, const struct ioc_silence_row *row)
{
    struct silence *ns = realloc(e->silences, (e->n_silences + 1) * sizeof *ns);
    if (!ns) {
        return IOC_ENOMEM;
    }
    e->silences = ns;
    struct silence *s = &e->silences[e->n_silences];
    memset(s, 0, sizeof *s);
    s->id = row->id;
    s->starts = row->starts;
    s->ends = row->ends;
    s->rule = row->rule ? strdup(row->rule) : NULL;
    s->zone = row->zone ? strdup(row->zone) : NULL;
    s->key = row->key_json ? cJSON_Parse(row->key_json) : NULL;
    if ((row->rule && !s->rule) || (row->zone && !s->zone) || (row->key_json && !s->key)) {
        silence_free(s);
        return IOC_ENOMEM;
    }
    e->n_silences++;
    return 0;
}

int ioc__restore_silence(const struct ioc_silence_row *v, void *arg)
{
    return silence_add(arg, v) != 0;
}

static const char *opt_str(const cJSON *req, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(req, name);
    return cJSON_IsString(x) && x->valuestring[0] ? x->valuestring : NULL;
}

/* silence: {rule?, key?, zone?, for | until, operator, reason}. The window
 * is in event time, starting at the engine's clock; an end is mandatory. */
static int control_silence(struct ioc_engine *e, const cJSON *req, cJSON *reply)
{
    const char *rule = opt_str(req, "rule"), *zone = opt_str(req, "zone");
    const char *who = opt_str(req, "operator"), *reason = opt_str(req, "reason");
    const char *dur = opt_str(req, "for"), *until = opt_str(req, "until");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(req, "key");
    const char *err = NULL;
    long long ms = 0;
    int64_t now = e->have_clock ? e->clock : ioc__wall_ms(e), ends = 0;
    if (!rule && !zone && !cJSON_IsObject(key)) {
        err = "a silence needs a rule, a key or a zone (silencing everything is not allowed)";
    } else if (key && !cJSON_IsObject(key)) {
        err = "key: expected an object such as {\"device\": \"F1\"}";
    } else if (!who) {
        err = "operator: required (who silences)";
    } else if (!reason) {
        err = "reason: required (why, for the audit log)";
    } else if (!!dur == !!until) {
        err = "give exactly one of for (a duration such as 2h) or until (RFC 3339): a silence must end";
    } else if (dur && (ioc_duration_parse(dur, &ms) != 0 || ms <= 0)) {
        err = "for: expected a duration such as 30m or 2h";
    } else if (until && (ioc_time_parse(until, &ends) != 0 || ends <= now)) {
        err = "until: expected an RFC 3339 time after the engine's clock";
    }
    if (err) {
        cJSON_AddStringToObject(reply, "error", err);
        return IOC_EINVAL;
    }
    char *key_json = cJSON_IsObject(key) ? cJSON_PrintUnformatted(key) : NULL;
    struct ioc_silence_row row = {
        .id = e->next_silence_id++,
        .rule = rule,
        .key_json = key_json,
        .zone = zone,
        .starts = now,
        .ends = dur ? now + ms : ends,
        .author = who,
        .reason = reason,
        .created = ioc_time_now_ms(),
    };
    int rc = silence_add(e, &row);
    if (!rc && !e->replaying) {
        rc = ioc_batch_silence(e->batch, &row);
    }
    /* Each open incident it covers gets a "silenced" change, published
     * before the silence takes hold, so the consoles know why it goes quiet. */
    const struct silence *added = rc ? NULL : &e->silences[e->n_silences - 1];
    struct silence hold = added ? *added : (struct silence){0};
    void *v;
    for (size_t it = 0; added && ioc_map_next(&e->incidents, &it, NULL, NULL, &v);) {
        cJSON *k = NULL;
        if (ioc__incident_active(v) && covers(&hold, v, now, &k)) {
            e->n_silences--; /* not yet in force for its own announcement */
            change(e, v, "silenced", now, who, reason, NULL);
            e->n_silences++;
        }
        cJSON_Delete(k);
    }
    free(key_json);
    if (rc) {
        return rc;
    }
    char t[40];
    cJSON_AddNumberToObject(reply, "id", (double)row.id);
    cJSON_AddStringToObject(reply, "ends", ioc_time_format(row.ends, t, sizeof t));
    ioc_info(TAG, "silence %lld by %s until %s: %s", (long long)row.id, who, t, reason);
    return 0;
}

static int control_unsilence(struct ioc_engine *e, const cJSON *req, cJSON *reply)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
    const char *who = opt_str(req, "operator");
    int64_t now = e->have_clock ? e->clock : ioc__wall_ms(e);
    for (size_t i = 0; cJSON_IsNumber(id) && i < e->n_silences; i++) {
        struct silence *s = &e->silences[i];
        if (s->id != json_id(id) || s->ends <= now) {
            continue;
        }
        s->ends = now > s->starts ? now : s->starts;
        struct ioc_silence_row row = {.id = s->id, .starts = s->starts, .ends = s->ends,
                                      .author = who ? who : "unknown"};
        ioc_info(TAG, "silence %lld ended by %s", (long long)s->id, row.author);
        return e->replaying ? 0 : ioc_batch_silence(e->batch, &row);
    }
    cJSON_AddStringToObject(reply, "error", "no active silence with that id");
    return IOC_EINVAL;
}

/* Commands on the control socket. The module guarantees req is an object
 * with a string op and that every reply carries ok. */
static int op_reload(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    const char *actor = who;
    (void)req;
        struct ioc_diag diag;
        ioc_diag_init(&diag);
        int rc = ioc_engine_reload(e, actor, &diag);
        if (rc == 0) {
            cJSON_AddNumberToObject(reply, "rules", (double)ioc_ruleset_count(e->rules));
            cJSON_AddStringToObject(reply, "hash", ioc_ruleset_hash(e->rules));
        } else {
            size_t len = 1;
            for (size_t i = 0; i < diag.n; i++) {
                len += strlen(diag.msgs[i]) + 1;
            }
            char *err = calloc(1, len);
            for (size_t i = 0; err && i < diag.n; i++) {
                strcat(err, diag.msgs[i]);
                if (i + 1 < diag.n) {
                    strcat(err, "\n");
                }
            }
            cJSON_AddStringToObject(reply, "error", err && *err ? err : ioc_strerror(rc));
            free(err);
        }
        ioc_diag_close(&diag);
        return rc;
}

static int op_status(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    (void)who;
    (void)req;
        struct ioc_engine_stats st;
        char t[40];
        ioc_engine_get_stats(e, &st);
        const struct {
            const char *name;
            uint64_t v;
        } n[] = {
            {"received", st.received},       {"accepted", st.accepted},
            {"duplicates", st.duplicates},   {"rejected", st.rejected},
            {"rejected_json", st.rejected_json}, {"rejected_schema", st.rejected_schema},
            {"rejected_source", st.rejected_source}, {"rejected_size", st.rejected_size},
            {"rejected_encoding", st.rejected_encoding}, {"rejected_late", st.rejected_late},
            {"matches", st.matches},         {"opened", st.opened},
            {"changes", st.changes},         {"inhibited", st.inhibited},
            {"resolved", st.resolved},       {"silenced", st.silenced},
            {"published", st.published},     {"refused", st.refused},
            {"refused_connections", st.refused_connections},
            {"incidents_open", st.incidents_open},
            {"shed", st.shed},               {"dropped_nomem", st.dropped_nomem},
            {"overloaded", (uint64_t)st.overloaded},
        };
        for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
            cJSON_AddNumberToObject(reply, n[i].name, (double)n[i].v);
        }
        cJSON_AddNumberToObject(reply, "rules", st.rules);
        cJSON_AddStringToObject(reply, "rule_set", ioc_ruleset_hash(e->rules));
        cJSON_AddStringToObject(reply, "watermark",
                                e->have_clock ? ioc_time_format(e->clock, t, sizeof t) : "");
        cJSON_AddStringToObject(reply, "database", e->cfg->store.path);
        return 0;
}

/* The incident a command names by id, or NULL with an error in the reply. */
static struct incident *find_incident(struct ioc_engine *e, const cJSON *req, cJSON *reply,
                                      const char **key, size_t *klen)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "incident");
    if (!cJSON_IsNumber(id)) {
        cJSON_AddStringToObject(reply, "error", "incident: required (the incident's id)");
        return NULL;
    }
    void *v;
    const char *k;
    for (size_t it = 0; ioc_map_next(&e->incidents, &it, &k, klen, &v);) {
        struct incident *inc = v;
        if (inc->id == json_id(id)) {
            *key = k;
            return inc;
        }
    }
    char msg[96];
    snprintf(msg, sizeof msg, "no open incident %lld (unknown, or already closed)",
             (long long)json_id(id));
    cJSON_AddStringToObject(reply, "error", msg);
    return NULL;
}

static int refuse(cJSON *reply, const char *msg)
{
    cJSON_AddStringToObject(reply, "error", msg);
    return IOC_ESTATE;
}

static int op_ack(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    const char *key;
    size_t klen;
    struct incident *inc = find_incident(e, req, reply, &key, &klen);
    if (!inc) {
        return IOC_EINVAL;
    }
    if (strcmp(inc->state, "open") != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "incident %lld is %s, not open", (long long)inc->id,
                 inc->state);
        return refuse(reply, msg);
    }
    int64_t at = clock_now(e);
    inc->state = "acknowledged";
    inc->acked_at = at;
    if (!(inc->acked_by = strdup(who))) {
        return IOC_ENOMEM;
    }
    /* Acknowledged: its escalation stops (the timers see the state). */
    return change(e, inc, "acknowledged", at, who, opt_str(req, "comment"), NULL);
}

static int op_comment(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    const char *key, *text = opt_str(req, "text");
    size_t klen;
    struct incident *inc = find_incident(e, req, reply, &key, &klen);
    if (!inc) {
        return IOC_EINVAL;
    }
    if (!text) {
        return refuse(reply, "text: required");
    }
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "comment", text);
    return change(e, inc, "commented", clock_now(e), who, text, extra);
}

static int op_resolve(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    const char *key, *reason = opt_str(req, "reason");
    size_t klen;
    struct incident *inc = find_incident(e, req, reply, &key, &klen);
    if (!inc) {
        return IOC_EINVAL;
    }
    if (!ioc__incident_active(inc)) {
        return refuse(reply, "the incident is already resolved");
    }
    if (!reason) {
        return refuse(reply, "reason: required (why it is resolved, for the audit)");
    }
    char keycopy[1024];
    size_t n = klen < sizeof keycopy ? klen : sizeof keycopy - 1;
    memcpy(keycopy, key, n);
    const char *saved = e->actor;
    e->actor = who;
    ioc__resolve(e, inc, keycopy, n, clock_now(e), reason);
    e->actor = saved;
    return 0;
}

static int op_approve(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    const char *key;
    size_t klen;
    struct incident *inc = find_incident(e, req, reply, &key, &klen);
    if (!inc) {
        return IOC_EINVAL;
    }
    const char *role = ioc_operator_role(&e->pol, who);
    int allowed = 0;
    for (size_t i = 0; inc->rule && i < inc->rule->pw.n_approve; i++) {
        allowed |= role && strcmp(inc->rule->pw.approve[i], role) == 0;
    }
    if (inc->warning != WARN_PENDING) {
        return refuse(reply, "the incident has no warning waiting for approval");
    }
    if (!allowed) {
        char msg[160];
        snprintf(msg, sizeof msg, "role '%s' may not approve this warning (needs: %s)",
                 role ? role : "?", inc->rule && inc->rule->pw.n_approve
                                        ? inc->rule->pw.approve[0] : "?");
        cJSON_AddStringToObject(reply, "error", msg);
        return IOC_EPERM;
    }
    int64_t at = clock_now(e);
    inc->warning = WARN_PUBLISHED;
    int rc = change(e, inc, "warning_approved", at, who, NULL, NULL);
    publish_cap(e, inc, "Alert", at);
    return rc;
}

static int op_list(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    char t[40];
    (void)who;
    (void)req;
    cJSON_AddNumberToObject(reply, "seq", (double)e->seq);
    cJSON_AddStringToObject(reply, "now", ioc_time_format(clock_now(e), t, sizeof t));
    cJSON *arr = cJSON_AddArrayToObject(reply, "incidents");
    void *v;
    for (size_t it = 0; arr && ioc_map_next(&e->incidents, &it, NULL, NULL, &v);) {
        if (ioc__incident_active(v)) {
            cJSON_AddItemToArray(arr, ioc__incident_json(e, v));
        }
    }
    return 0;
}

static int op_silence(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    (void)who;
    return control_silence(e, req, reply);
}

static int op_unsilence(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply)
{
    (void)who;
    return control_unsilence(e, req, reply);
}

/* Who may do what: an operator acknowledges and comments; a supervisor also
 * resolves, silences and reloads; approving a warning takes one of the roles
 * its rule names (checked in op_approve). */
enum { ANYONE, OPERATOR, SUPERVISOR, NAMED };

static const struct {
    const char *name;
    int needs;
    int (*fn)(struct ioc_engine *e, const char *who, const cJSON *req, cJSON *reply);
} ops[] = {
    {"status", ANYONE, op_status},         {"list", ANYONE, op_list},
    {"ack", OPERATOR, op_ack},             {"comment", OPERATOR, op_comment},
    {"resolve", SUPERVISOR, op_resolve},   {"silence", SUPERVISOR, op_silence},
    {"unsilence", SUPERVISOR, op_unsilence}, {"reload", SUPERVISOR, op_reload},
    {"approve", NAMED, op_approve},
};

static int rank(const char *role)
{
    if (!role) {
        return -1;
    }
    return strcmp(role, "supervisor") == 0 ? SUPERVISOR
           : strcmp(role, "operator") == 0 ? OPERATOR
                                            : ANYONE;
}

int ioc__control(void *arg, const cJSON *req, cJSON *reply)
{
    struct ioc_engine *e = arg;
    const char *op = cJSON_GetObjectItemCaseSensitive(req, "op")->valuestring;
    const char *who = opt_str(req, "operator");
    const char *role = who ? ioc_operator_role(&e->pol, who) : NULL;
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(req, "incident");
    char tbuf[32] = "", msg[200] = "";
    int rc = IOC_EINVAL;
    size_t i = 0;
    while (i < sizeof ops / sizeof ops[0] && strcmp(ops[i].name, op) != 0) {
        i++;
    }
    if (cJSON_IsNumber(target)) {
        snprintf(tbuf, sizeof tbuf, "incident %lld", (long long)json_id(target));
    }
    if (i == sizeof ops / sizeof ops[0]) {
        snprintf(msg, sizeof msg,
                 "unknown op '%.40s' (known: status, list, ack, comment, resolve, approve, "
                 "silence, unsilence, reload)",
                 op);
    } else if (ops[i].needs != ANYONE && !who) {
        snprintf(msg, sizeof msg, "%s: operator: required (who does it)", op);
    } else if (ops[i].needs != ANYONE && !role) {
        snprintf(msg, sizeof msg, "unknown operator '%.60s'", who);
        rc = IOC_EPERM;
    } else if (ops[i].needs != NAMED && rank(role) < ops[i].needs && ops[i].needs != ANYONE) {
        snprintf(msg, sizeof msg, "%s: role '%.40s' may not %s (needs %s)", who, role, op,
                 ops[i].needs == SUPERVISOR ? "supervisor" : "operator");
        rc = IOC_EPERM;
    } else {
        rc = ops[i].fn(e, who ? who : "anonymous", req, reply);
    }
    if (msg[0]) {
        cJSON_AddStringToObject(reply, "error", msg);
    }
    if (rc == 0 && !e->replaying && strcmp(op, "status") != 0 && strcmp(op, "list") != 0 &&
        strcmp(op, "reload") != 0 && e->batch) {
        /* Journaled with its place among the events, so that a restart
         * replays it where it happened. */
        char *body = cJSON_PrintUnformatted(req);
        struct ioc_command_row row = {e->archived, clock_now(e), body ? body : "{}"};
        if (ioc_batch_command(e->batch, &row) != 0) {
            ioc_error(TAG, "cannot journal the %s command: out of memory", op);
        }
        free(body);
    }
    if (!e->replaying && strcmp(op, "status") != 0 && strcmp(op, "list") != 0) {
        /* Every command that changes something, done or refused, is audited. */
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
        struct ioc_audit_row row = {
            .at = ioc_time_now_ms(),
            .clock = clock_now(e),
            .actor = who ? who : "anonymous",
            .role = role,
            .op = op,
            .target = tbuf[0] ? tbuf : NULL,
            .ok = rc == 0,
            .error = rc != 0 && cJSON_IsString(err) ? err->valuestring : NULL,
        };
        if (e->batch) {
            ioc_batch_audit(e->batch, &row);
        }
        if (rc != 0) {
            e->stats.refused++;
            ioc_warn("control", "%s by %s refused: %s", op, row.actor,
                     row.error ? row.error : ioc_strerror(rc));
        }
    }
    return rc;
}

/* Refused handshakes alike (actor, socket, reason) make one audit row a
 * minute; the table remembers that many of them at once. */
#define REFUSAL_AUDIT_EVERY_MS 60000
#define REFUSAL_KEYS 64

/* Writes one audit row for n refused handshakes alike, the newest at `at`. */
static void audit_refused(struct ioc_engine *e, int64_t at, const char *actor, const char *target,
                          const char *reason, uint64_t n)
{
    char why[320];
    if (n > 1) {
        snprintf(why, sizeof why, "%s (%llu times since the previous row)", reason,
                 (unsigned long long)n);
        reason = why;
    }
    /* Audited like a refused command: who (the key), what, and why. */
    struct ioc_audit_row row = {
        .at = at,
        .clock = clock_now(e),
        .actor = actor,
        .role = NULL,
        .op = "connect",
        .target = target,
        .ok = 0,
        .error = reason,
    };
    ioc_warn(TAG, "refused %s on the %s: %s", actor, target, reason);
    if (ioc_batch_audit(e->batch, &row) != 0) {
        ioc_error(TAG, "cannot audit a refused connection: out of memory");
    }
}

/* The throttle's key of a refusal is its row: actor, target and reason, each
 * ended by a NUL. */
static void audit_held(void *arg, const char *key, size_t len, uint64_t n, int64_t last)
{
    const char *actor = key, *target = actor + strlen(actor) + 1;
    const char *reason = target + strlen(target) + 1;
    (void)len;
    audit_refused(arg, last, actor, target, reason, n);
}

void ioc__connection_refused(void *arg, const struct ioc_refusal *r)
{
    struct ioc_engine *e = arg;
    char target[320], key[1024];
    e->stats.refused_connections++;
    if (!e->batch || e->replaying) {
        return;
    }
    if (r->peer) {
        snprintf(target, sizeof target, "%s socket from %s", r->domain, r->peer);
    } else {
        snprintf(target, sizeof target, "%s socket %s (peer address unknown)", r->domain,
                 r->endpoint ? r->endpoint : "");
    }
    /* libzmq makes a refused client try again after most failures, every
     * 100 ms or so for as long as it runs: the counter takes every refusal,
     * the audit one row a minute for refusals alike, which says how many it
     * stands for. */
    if (!e->refusals.slots) {
        /* Without the table (out of memory) every refusal is audited. */
        ioc_throttle_init(&e->refusals, REFUSAL_KEYS, REFUSAL_AUDIT_EVERY_MS);
    }
    int len = snprintf(key, sizeof key, "%s%c%s%c%s", r->actor, '\0', target, '\0', r->reason);
    int64_t now = ioc__wall_ms(e);
    uint64_t n = len > 0 && (size_t)len < sizeof key
                     ? ioc_throttle_admit(&e->refusals, key, (size_t)len + 1, now, audit_held, e)
                     : 1;
    if (n) {
        audit_refused(e, now, r->actor, target, r->reason, n);
    }
    ioc_throttle_expire(&e->refusals, now, audit_held, e);
}

void ioc__refusals_flush(struct ioc_engine *e)
{
    if (e->batch && !e->replaying) {
        ioc_throttle_expire(&e->refusals, INT64_MAX, audit_held, e);
    }
}

void ioc__silences_free(struct ioc_engine *e)
{
    for (size_t i = 0; i < e->n_silences; i++) {
        silence_free(&e->silences[i]);
    }
    free(e->silences);
    e->silences = NULL;
    e->n_silences = 0;
}

/* ---- the incident as consoles see it ------------------------------------------ */

static const char *grade_name(const struct ioc_engine *e, int g)
{
    if (g >= 1 && g <= 4 && e->cfg->grades[g].name) {
        return e->cfg->grades[g].name;
    }
    return "";
}

int ioc__incident_active(const struct incident *inc)
{
    return strcmp(inc->state, "open") == 0 || strcmp(inc->state, "acknowledged") == 0;
}

cJSON *ioc__incident_json(const struct ioc_engine *e, const struct incident *inc)
{
    char t[40];
    cJSON *i = cJSON_CreateObject();
    if (!i) {
        return NULL;
    }
    cJSON_AddNumberToObject(i, "id", (double)inc->id);
    cJSON_AddStringToObject(i, "rule", inc->rule_id);
    cJSON *key = cJSON_Parse(inc->key_json ? inc->key_json : "{}");
    cJSON_AddItemToObject(i, "key", key ? key : cJSON_CreateObject());
    cJSON_AddNumberToObject(i, "grade", inc->grade);
    cJSON_AddStringToObject(i, "grade_name", grade_name(e, inc->grade));
    cJSON_AddStringToObject(i, "state", inc->state);
    if (inc->zone) {
        cJSON_AddStringToObject(i, "zone", inc->zone);
    }
    cJSON_AddStringToObject(i, "title", inc->title);
    cJSON_AddStringToObject(i, "opened", ioc_time_format(inc->opened, t, sizeof t));
    cJSON_AddStringToObject(i, "updated", ioc_time_format(inc->updated, t, sizeof t));
    cJSON_AddNumberToObject(i, "count", (double)inc->count);
    if (inc->acked_by) {
        cJSON_AddStringToObject(i, "acked_by", inc->acked_by);
        cJSON_AddStringToObject(i, "acked_at", ioc_time_format(inc->acked_at, t, sizeof t));
    }
    if (inc->sla_due) {
        cJSON_AddStringToObject(i, "sla_due", ioc_time_format(inc->sla_due, t, sizeof t));
    }
    cJSON_AddBoolToObject(i, "sla_breached", inc->sla_breached);
    cJSON_AddNumberToObject(i, "escalation_level", inc->esc_level);
    if (inc->rule) {
        if (inc->rule->category) {
            cJSON_AddStringToObject(i, "category", inc->rule->category);
        }
        if (inc->rule->escalation) {
            cJSON_AddStringToObject(i, "escalation", inc->rule->escalation);
        }
        cJSON *sop = cJSON_AddArrayToObject(i, "sop");
        for (size_t k = 0; sop && k < inc->rule->n_sop; k++) {
            cJSON_AddItemToArray(sop, cJSON_CreateString(inc->rule->sop[k]));
        }
    }
    if (inc->warning != WARN_NONE) {
        static const char *const states[] = {"none", "pending", "published", "cancelled"};
        cJSON *w = cJSON_AddObjectToObject(i, "warning");
        if (w) {
            cJSON_AddStringToObject(w, "state", states[inc->warning]);
            cJSON *ap = cJSON_AddArrayToObject(w, "approve");
            for (size_t k = 0; ap && inc->rule && k < inc->rule->pw.n_approve; k++) {
                cJSON_AddItemToArray(ap, cJSON_CreateString(inc->rule->pw.approve[k]));
            }
            if (inc->warn_headline) {
                cJSON_AddStringToObject(w, "headline", inc->warn_headline);
            }
        }
    }
    return i;
}

/* ---- lifecycle, SLA and escalation ------------------------------------------ */

static int64_t clock_now(struct ioc_engine *e)
{
    return e->have_clock ? e->clock : ioc__wall_ms(e);
}

/* Records a change made by the engine's own clocks or by an operator, with
 * optional extra members in the published message (extra is consumed). */
static int change(struct ioc_engine *e, const struct incident *inc, const char *what,
                  int64_t at, const char *actor, const char *reason, cJSON *extra)
{
    const char *saved = e->actor;
    e->actor = actor;
    e->extra = extra;
    int rc = ioc__record(e, inc, what, NULL, at, reason);
    e->extra = NULL;
    e->actor = saved;
    cJSON_Delete(extra);
    if (rc == IOC_ENOMEM) {
        ioc__nomem(e, "an incident change");
    }
    return rc;
}

static void add_timer(struct ioc_engine *e, int64_t due, int kind, const struct incident *inc,
                      const char *key, size_t klen)
{
    uint32_t rule = inc->rule ? inc->rule->index : UINT32_MAX;
    if (ioc_timers_add(&e->timers, due, kind, rule, inc->id, key, klen) != 0) {
        ioc__nomem(e, "an incident's timer");
    }
}

static int64_t ack_within(const struct ioc_engine *e, int grade)
{
    return grade >= 1 && grade <= 4 ? e->cfg->grades[grade].ack_within_ms : 0;
}

/* The SLA and escalation clocks start (again) at base. */
static void start_clocks(struct ioc_engine *e, struct incident *inc, int64_t base,
                         const char *key, size_t klen)
{
    inc->clock_base = base;
    inc->esc_level = -1;
    inc->sla_breached = 0;
    int64_t sla = ack_within(e, inc->grade);
    inc->sla_due = sla ? base + sla : 0;
    if (inc->sla_due) {
        add_timer(e, inc->sla_due, TIMER_SLA, inc, key, klen);
    }
    inc->policy = inc->rule && inc->rule->escalation
                      ? ioc_policy_find(&e->pol, inc->rule->escalation)
                      : NULL;
    if (inc->policy && inc->policy->n) {
        add_timer(e, base + inc->policy->levels[0].after_ms, TIMER_ESCALATE, inc, key, klen);
    }
}

static char *render_tpl(const struct ioc_tpl *t, const struct ioc_event *ev)
{
    char buf[1024];
    struct ioc_match m = {.count = 1};
    if (!t->n) {
        return NULL;
    }
    ioc__tpl_render(t, ev, &m, buf, sizeof buf);
    return strdup(buf);
}

void ioc__before_opened(struct ioc_engine *e, struct incident *inc, const struct ioc_event *ev,
                        const char *key, size_t klen)
{
    /* The clocks start before the "opened" change is written, so that its
     * message already carries the SLA due time. */
    start_clocks(e, inc, inc->opened, key, klen);
    if (ev->has & IOC_HAS_LOC) {
        inc->lat = ev->lat;
        inc->lon = ev->lon;
        inc->has_loc = 1;
    }
    if (inc->rule && inc->rule->pw.enabled) {
        /* The warning is written now, from the event that opened the incident,
         * and waits for a person with an approving role. */
        inc->warn_headline = render_tpl(&inc->rule->pw.headline, ev);
        inc->warn_description = render_tpl(&inc->rule->pw.description, ev);
        inc->warning = WARN_PENDING;
    }
}

void ioc__on_opened(struct ioc_engine *e, struct incident *inc)
{
    if (inc->warning == WARN_PENDING) {
        change(e, inc, "warning_pending", inc->opened, "engine", "awaiting approval", NULL);
    }
}

void ioc__on_restored(struct ioc_engine *e, struct incident *inc, const char *key, size_t klen)
{
    /* The clocks of an incident restored after a restart, as far as the
     * database tells: levels due by its last update are taken as notified. */
    int64_t sla = ack_within(e, inc->grade);
    inc->esc_level = -1;
    inc->sla_due = sla ? inc->clock_base + sla : 0;
    inc->sla_breached = inc->sla_due && inc->sla_due <= inc->updated;
    if (strcmp(inc->state, "open") != 0) {
        return;
    }
    if (inc->sla_due && !inc->sla_breached) {
        add_timer(e, inc->sla_due, TIMER_SLA, inc, key, klen);
    }
    inc->policy = inc->rule && inc->rule->escalation
                      ? ioc_policy_find(&e->pol, inc->rule->escalation)
                      : NULL;
    const struct ioc_policy *p = inc->policy;
    for (size_t i = 0; p && i < p->n; i++) {
        if (inc->clock_base + p->levels[i].after_ms > inc->updated) {
            add_timer(e, inc->clock_base + p->levels[i].after_ms, TIMER_ESCALATE, inc, key, klen);
            break;
        }
        inc->esc_level = (int)i;
    }
}

void ioc__on_reopened(struct ioc_engine *e, struct incident *inc, int64_t at, const char *key,
                      size_t klen)
{
    inc->state = "open";
    free(inc->acked_by);
    inc->acked_by = NULL;
    inc->acked_at = 0;
    inc->resolve_since = INT64_MIN;
    inc->quiet_armed = 0;
    change(e, inc, "reopened", at, "engine", "matched again within reopen_within", NULL);
    start_clocks(e, inc, at, key, klen);
    if (inc->warning == WARN_CANCELLED) {
        inc->warning = WARN_PENDING;
        change(e, inc, "warning_pending", at, "engine", "awaiting approval", NULL);
    }
}

void ioc__on_graded(struct ioc_engine *e, struct incident *inc, int64_t at, const char *key,
                    size_t klen)
{
    /* A more severe grade may have a shorter SLA; the due time never moves
     * later, and never into the past: a grade whose SLA had already run out
     * when it was reached is breached at that moment, not before it. */
    int64_t sla = ack_within(e, inc->grade);
    int64_t due = inc->clock_base + sla > at ? inc->clock_base + sla : at;
    if (sla && strcmp(inc->state, "open") == 0 && !inc->sla_breached &&
        (!inc->sla_due || due < inc->sla_due)) {
        inc->sla_due = due;
        add_timer(e, inc->sla_due, TIMER_SLA, inc, key, klen);
    }
    if (inc->warning == WARN_PUBLISHED) {
        publish_cap(e, inc, "Update", at);
    }
}

void ioc__on_resolved(struct ioc_engine *e, struct incident *inc, int64_t at, const char *key,
                      size_t klen)
{
    if (inc->warning == WARN_PUBLISHED) {
        publish_cap(e, inc, "Cancel", at);
        inc->warning = WARN_CANCELLED;
    }
    add_timer(e, at + e->cfg->engine.reopen_within_ms, TIMER_CLOSE, inc, key, klen);
}

void ioc__fire_operator_timer(struct ioc_engine *e, const struct ioc_timer *t)
{
    struct incident *inc = ioc_map_get(&e->incidents, t->key, t->keylen);
    if (!inc || inc->id != t->ref) {
        return;
    }
    if (t->kind == TIMER_SLA) {
        if (strcmp(inc->state, "open") == 0 && !inc->sla_breached && inc->sla_due == t->due) {
            inc->sla_breached = 1;
            char reason[96];
            snprintf(reason, sizeof reason, "not acknowledged within %llds",
                     (long long)(ack_within(e, inc->grade) / 1000));
            change(e, inc, "sla_breached", t->due, "engine", reason, NULL);
        }
        return;
    }
    if (t->kind == TIMER_CLOSE) {
        if (strcmp(inc->state, "resolved") == 0 &&
            inc->resolved_at + e->cfg->engine.reopen_within_ms == t->due) {
            inc->state = "closed";
            change(e, inc, "closed", t->due, "engine", "resolved and quiet", NULL);
            ioc_map_del(&e->incidents, t->key, t->keylen);
            ioc__incident_free(inc);
        }
        return;
    }
    /* Escalation: only while nobody has acknowledged it; one level per timer,
     * then the last level again every `repeat`. */
    const struct ioc_policy *p = inc->policy;
    if (!p || strcmp(inc->state, "open") != 0) {
        return;
    }
    size_t level = inc->esc_level + 1 < (int)p->n ? (size_t)(inc->esc_level + 1) : p->n - 1;
    int64_t want = inc->esc_level + 1 < (int)p->n ? inc->clock_base + p->levels[level].after_ms
                                                   : 0;
    if (want && want != t->due) {
        return; /* a timer from before a reopen */
    }
    inc->esc_level = (int)level;
    cJSON *extra = cJSON_CreateObject(), *esc = cJSON_AddObjectToObject(extra, "escalation");
    cJSON_AddNumberToObject(esc, "level", (double)level);
    cJSON_AddStringToObject(esc, "policy", p->name);
    cJSON *who = cJSON_AddArrayToObject(esc, "notify");
    char reason[256] = "notify";
    size_t used = strlen(reason);
    for (size_t k = 0; k < p->levels[level].n_notify; k++) {
        cJSON_AddItemToArray(who, cJSON_CreateString(p->levels[level].notify[k]));
        used += (size_t)snprintf(reason + used, used < sizeof reason ? sizeof reason - used : 0,
                                 " %s", p->levels[level].notify[k]);
    }
    change(e, inc, "escalated", t->due, "engine", reason, extra);
    e->stats.escalations++;
    if (level + 1 < p->n) {
        add_timer(e, inc->clock_base + p->levels[level + 1].after_ms, TIMER_ESCALATE, inc, t->key,
                  t->keylen);
    } else if (p->repeat_ms > 0) {
        add_timer(e, t->due + p->repeat_ms, TIMER_ESCALATE, inc, t->key, t->keylen);
    }
}

/* ---- public warnings (CAP 1.2) ----------------------------------------------- */

static const char *cap_category(const char *c)
{
    static const char *const cats[] = {"Geo",    "Met",    "Safety",    "Security",
                                       "Rescue", "Fire",   "Health",    "Env",
                                       "Transport", "Infra", "CBRNE", "Other", NULL};
    for (const char *const *x = cats; c && *x; x++) {
        if (strcmp(*x, c) == 0) {
            return c;
        }
    }
    return "Other";
}

/* Publishes the incident's warning as a CAP message of msg_type on topic
 * cap.<grade>.<zone>, after the batch commits like every other change. */
static void publish_cap(struct ioc_engine *e, struct incident *inc, const char *msg_type,
                        int64_t at)
{
    const struct ioc_rule *r = inc->rule;
    char sent[IOC_CAP_TIME_LEN], ident[200], circle[96], topic[160];
    ioc_cap_time_format(at, sent, sizeof sent);
    snprintf(ident, sizeof ident, "%s.incident-%lld.%d", e->cfg->engine.cap_sender,
             (long long)inc->id, inc->cap_n + 1);
    cJSON *m = cJSON_CreateObject(), *a = cJSON_AddObjectToObject(m, "alert");
    cJSON *info = cJSON_AddObjectToObject(a, "info"), *area = cJSON_AddObjectToObject(info, "area");
    e->seq++;
    cJSON_AddNumberToObject(m, "seq", (double)e->seq);
    cJSON_AddStringToObject(m, "change", "cap");
    cJSON_AddNumberToObject(m, "incident", (double)inc->id);
    cJSON_AddStringToObject(a, "identifier", ident);
    cJSON_AddStringToObject(a, "sender", e->cfg->engine.cap_sender);
    cJSON_AddStringToObject(a, "sent", sent);
    cJSON_AddStringToObject(a, "status", "Actual");
    cJSON_AddStringToObject(a, "msgType", msg_type);
    cJSON_AddStringToObject(a, "scope", "Public");
    if (inc->cap_refs) {
        cJSON_AddStringToObject(a, "references", inc->cap_refs);
    }
    cJSON_AddStringToObject(info, "language", r ? r->pw.language : "en-US");
    cJSON_AddStringToObject(info, "category", cap_category(r ? r->category : NULL));
    cJSON_AddStringToObject(info, "event", inc->title);
    cJSON_AddStringToObject(info, "urgency", r ? r->pw.urgency : "Immediate");
    const char *sev = e->cfg->grades[inc->grade].cap_severity;
    cJSON_AddStringToObject(info, "severity", sev ? sev : "Unknown");
    cJSON_AddStringToObject(info, "certainty", r ? r->pw.certainty : "Likely");
    cJSON_AddStringToObject(info, "headline", inc->warn_headline ? inc->warn_headline : inc->title);
    cJSON_AddStringToObject(info, "description",
                            inc->warn_description ? inc->warn_description : inc->title);
    if (r && r->n_sop) {
        size_t len = 1;
        for (size_t k = 0; k < r->n_sop; k++) {
            len += strlen(r->sop[k]) + 1;
        }
        char *ins = calloc(1, len);
        for (size_t k = 0; ins && k < r->n_sop; k++) {
            strcat(ins, r->sop[k]);
            if (k + 1 < r->n_sop) {
                strcat(ins, "\n");
            }
        }
        cJSON_AddStringToObject(info, "instruction", ins ? ins : "");
        free(ins);
    }
    cJSON_AddStringToObject(area, "areaDesc", inc->zone ? inc->zone : "city");
    if (inc->has_loc) {
        snprintf(circle, sizeof circle, "%.5f,%.5f %g", inc->lat, inc->lon,
                 r ? r->pw.radius_km : 1.0);
        cJSON_AddStringToObject(area, "circle", circle);
    }
    char *json = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    snprintf(topic, sizeof topic, "cap.%d.%s", inc->grade, inc->zone ? inc->zone : "-");
    if (!json || (!e->replaying && ioc_batch_publish(e->batch, topic, json, strlen(json)) != 0)) {
        ioc_error(TAG, "incident %lld: cannot publish its CAP %s", (long long)inc->id, msg_type);
    }
    free(json);
    /* Later messages reference every earlier one. */
    size_t old = inc->cap_refs ? strlen(inc->cap_refs) : 0;
    size_t add = strlen(e->cfg->engine.cap_sender) + strlen(ident) + strlen(sent) + 4;
    char *refs = realloc(inc->cap_refs, old + add);
    if (refs) {
        snprintf(refs + old, add, "%s%s,%s,%s", old ? " " : "", e->cfg->engine.cap_sender, ident,
                 sent);
        inc->cap_refs = refs;
    }
    inc->cap_n++;
}
