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
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/store.h"
#include "ioc/yaml.h"

#define TAG "engine"

/* ---- silences -------------------------------------------------------------- */

/* A change at `at` is silenced when an operator's silence covers its rule,
 * key and zone at that event time. */
int ioc__silenced(const struct ioc_engine *e, const struct incident *inc, int64_t at)
{
    cJSON *key = NULL;
    int hit = 0;
    for (size_t i = 0; i < e->n_silences && !hit; i++) {
        const struct silence *s = &e->silences[i];
        if (at < s->starts || at >= s->ends || (s->rule && strcmp(s->rule, inc->rule_id)) ||
            (s->zone && (!inc->zone || strcmp(s->zone, inc->zone)))) {
            continue;
        }
        hit = 1;
        if (s->key) {
            if (!key) {
                key = cJSON_Parse(inc->key_json ? inc->key_json : "{}");
            }
            for (const cJSON *f = s->key->child; f && hit; f = f->next) {
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(key, f->string);
                hit = g && cJSON_Compare(f, g, true);
            }
        }
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
    if (!rc) {
        rc = ioc_batch_silence(e->batch, &row);
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
        if (s->id != (int64_t)id->valuedouble || s->ends <= now) {
            continue;
        }
        s->ends = now > s->starts ? now : s->starts;
        struct ioc_silence_row row = {.id = s->id, .starts = s->starts, .ends = s->ends,
                                      .author = who ? who : "unknown"};
        ioc_info(TAG, "silence %lld ended by %s", (long long)s->id, row.author);
        return ioc_batch_silence(e->batch, &row);
    }
    cJSON_AddStringToObject(reply, "error", "no active silence with that id");
    return IOC_EINVAL;
}

/* Commands on the control socket. The module guarantees req is an object
 * with a string op and that every reply carries ok. */
int ioc__control(void *arg, const cJSON *req, cJSON *reply)
{
    struct ioc_engine *e = arg;
    const char *op = cJSON_GetObjectItemCaseSensitive(req, "op")->valuestring;
    if (strcmp(op, "reload") == 0) {
        const cJSON *who = cJSON_GetObjectItemCaseSensitive(req, "operator");
        const char *actor =
            cJSON_IsString(who) && who->valuestring[0] ? who->valuestring : "unknown";
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
    if (strcmp(op, "status") == 0) {
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
            {"published", st.published},
            {"incidents_open", st.incidents_open},
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
    if (strcmp(op, "silence") == 0) {
        return control_silence(e, req, reply);
    }
    if (strcmp(op, "unsilence") == 0) {
        return control_unsilence(e, req, reply);
    }
    char msg[160];
    snprintf(msg, sizeof msg,
             "unknown op '%.64s' (this engine knows: reload, status, silence, unsilence)", op);
    cJSON_AddStringToObject(reply, "error", msg);
    return IOC_EINVAL;
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
