/*
 * engine.c — the pipeline: decode, time, deduplicate, match, record, publish.
 *
 * Everything here runs on the loop thread. An input hands raw bytes to
 * ioc_engine_submit(); the event is decoded and validated against the event
 * schema, checked against the watermark and the duplicate filter, matched
 * against the candidate rules of its (source, type), and every incident
 * change it causes is rendered once into the message outputs will publish.
 *
 * Persist, then publish: all rows of a loop turn (archived events, rejects,
 * incident rows, evidence, log rows) and the rendered messages go into one
 * store batch. The batch is handed to the writer thread when it is full or
 * when the loop is about to sleep (uv_prepare); outputs see the messages only
 * in the batch's done callback, after the transaction committed.
 *
 * Time: the engine's clock is event time. The watermark is the newest event
 * time seen minus the allowed lateness; an older event is late and rejected.
 * The duplicate filter (dedup.c) remembers the (source, id) pairs of the
 * last engine.dedup_window of event time (10 minutes by default), as keyed
 * hashes, so its size is bounded; a resend older than that is rejected as
 * late anyway.
 *
 * Overload: the loop never waits on the store. While the writer is busy the
 * current batch goes on filling; when the store is at its limits (batches in
 * flight, batches held) the engine is overloaded: inputs that can make their
 * senders wait are held (plugin hold), the others' events are shed, counted
 * and reported by the system.overload incident. Memory exhaustion on the
 * event path drops the event being processed, counted (dropped_nomem).
 *
 * Incidents: identity is rule id + key values. An open incident is updated
 * by later matches (count, last seen, evidence); its grade may rise and never
 * falls. Open incidents are restored from the database at start, so a
 * restarted engine goes on updating them instead of opening doubles.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#include "ioc/control.h"
#include "ioc/curve.h"
#include "ioc/dedup.h"
#include "ioc/engine.h"
#include "ioc/geo.h"
#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/log.h"
#include "ioc/map.h"
#include "ioc/plugin.h"
#include "ioc/store.h"
#include "ioc/timer.h"
#include "ioc/yaml.h"
#include "ioc/zmon.h"
#include "engine_int.h"
#include "rule_int.h"

#define TAG "engine"
#define KEY_SEP '\x1f'

extern const char ioc_embedded_event_schema[];
extern const size_t ioc_embedded_event_schema_len;

/* ---- store batches and publishing ------------------------------------------- */

int64_t ioc__wall_ms(struct ioc_engine *e)
{
    return (int64_t)uv_now(e->loop) + e->wall_offset;
}

/* Memory ran out on the event path: the event being processed is dropped
 * and counted (dropped_nomem) once its submit ends, instead of aborting or
 * going on as if it had been taken whole. Logged on the 1st, 2nd, 4th ...
 * drop, so exhaustion cannot flood the log. */
void ioc__nomem(struct ioc_engine *e, const char *what)
{
    uint64_t n = e->stats.dropped_nomem + 1;
    if (!e->nomem && (n & (n - 1)) == 0) {
        ioc_error(TAG, "out of memory (%s): the event is dropped; %llu so far", what,
                  (unsigned long long)n);
    }
    e->nomem = 1;
}

/* What waits on one store batch besides its messages: the durability
 * callbacks of the inputs that asked (reliable ingest acknowledges here). */
struct batch_ctx {
    struct ioc_engine *e;
    int retry; /* a held batch written again: older than every other held one */
    size_t n;
    struct durable_cb {
        void (*cb)(void *arg, int status);
        void *arg;
    } cbs[];
};

static void run_durable(struct batch_ctx *bc, int status)
{
    for (size_t i = 0; bc && i < bc->n; i++) {
        bc->cbs[i].cb(bc->cbs[i].arg, status);
    }
    free(bc);
}

static void storage_health(struct ioc_engine *e, int failing, const char *why);
static void update_pressure(struct ioc_engine *e);
static void submit_stalled(struct ioc_engine *e);
static void on_stall_timer(uv_timer_t *h);
/* Where a held batch goes: see stall_push. */
enum { STALL_NEW, STALL_REFUSED, STALL_RETRIED };
static void stall_push(struct ioc_engine *e, struct ioc_batch *b, int kind);

static void batch_done(struct ioc_batch *b, int status, void *arg)
{
    struct batch_ctx *bc = arg;
    struct ioc_engine *e = bc->e;
    int retried = bc->retry;
    /* Inputs learn first whether their events are durable: a failed batch
     * is not acknowledged, so a reliable sender sends it again. */
    run_durable(bc, status);
    e->in_flight--;
    if (status != 0 && e->stopping) {
        ioc_error(TAG, "stopping with the database refusing writes: %zu records are lost",
                  ioc_batch_size(b));
        ioc_batch_free(b);
        return;
    }
    if (status != 0) {
        /* Nothing was stored, so nothing is published yet (persist, then
         * publish): the batch waits, in order, ahead of every later one, and
         * is written again once the database takes writes again. */
        if (e->n_stalled == 0) {
            ioc_error(TAG, "the database refuses writes (%s); holding %zu records until it "
                           "recovers",
                      ioc_strerror(status), ioc_batch_size(b));
        }
        stall_push(e, b, retried ? STALL_RETRIED : STALL_REFUSED);
        storage_health(e, 1, ioc_strerror(status));
        update_pressure(e);
        return;
    }
    if (e->n_stalled) {
        submit_stalled(e);
    } else if (e->storage_failing && e->in_flight == 0) {
        storage_health(e, 0, NULL);
    }
    update_pressure(e);
    size_t n = ioc_batch_messages(b);
    for (size_t i = 0; i < n; i++) {
        struct ioc_change ch;
        ioc_batch_message(b, i, &ch.topic, &ch.json, &ch.json_len);
        for (size_t o = 0; o < e->n_outputs; o++) {
            struct ioc_instance *out = &e->outputs[o];
            if (out->ctx && out->plugin->emit) {
                out->plugin->emit(out, &ch);
            }
        }
        e->stats.published++;
    }
    ioc_batch_free(b);
}

/* Batches that could not be written, oldest first; while any waits, newer
 * batches queue behind it so that the database never holds a later batch
 * without an earlier one. The first n_refused were refused by the database
 * and are older than the rest, which were never submitted: a refused batch
 * goes behind the earlier refused ones (batches complete in submission
 * order), a retried one (the oldest of all) back to the front, a new one to
 * the end. */
static void stall_push(struct ioc_engine *e, struct ioc_batch *b, int kind)
{
    if (e->n_stalled == e->cap_stalled) {
        size_t nc = e->cap_stalled ? e->cap_stalled * 2 : 16;
        struct ioc_batch **n = realloc(e->stalled, nc * sizeof *n);
        if (!n) {
            ioc_error(TAG, "out of memory holding a batch for the database: %zu records lost",
                      ioc_batch_size(b));
            ioc_batch_free(b);
            return;
        }
        e->stalled = n;
        e->cap_stalled = nc;
    }
    size_t at = kind == STALL_NEW ? e->n_stalled : kind == STALL_RETRIED ? 0 : e->n_refused;
    memmove(e->stalled + at + 1, e->stalled + at, (e->n_stalled - at) * sizeof *e->stalled);
    e->stalled[at] = b;
    e->n_stalled++;
    e->n_refused += kind != STALL_NEW;
    if (e->stall_timer_open && !uv_is_active((uv_handle_t *)&e->stall_timer)) {
        uv_timer_start(&e->stall_timer, on_stall_timer, 1000, 0);
    }
    update_pressure(e);
}

/* Hands the current batch over. The loop never waits on the store: while the
 * writer is busy, or the database refuses writes, the batch goes on filling
 * (group commit, with no batch of a few records per loop turn) and is handed
 * over when the writer is free or the batch is full (force). Only full
 * batches can therefore reach the limits that make the engine overloaded,
 * and while it is, inputs are held or shed, so nothing fills it further
 * except an input that does neither (a file being replayed): that one waits
 * in the store, as a finite replay should. Forced at stop too. */
static void flush_batch(struct ioc_engine *e, int force)
{
    if (!e->batch || !e->store || (ioc_batch_size(e->batch) == 0 && e->n_durable == 0)) {
        return;
    }
    if (!force && (e->overloaded || e->in_flight > 0 || e->n_stalled > 0)) {
        return;
    }
    if (e->n_stalled && e->n_durable == 0) {
        /* The database is failing: keep the order, wait behind the others. */
        stall_push(e, e->batch, STALL_NEW);
        e->batch = ioc_batch_new();
        return;
    }
    struct ioc_batch *b = e->batch;
    struct batch_ctx *bc = malloc(sizeof *bc + e->n_durable * sizeof bc->cbs[0]);
    if (!bc) {
        ioc_error(TAG, "out of memory for a store batch");
        return;
    }
    bc->e = e;
    bc->n = e->n_durable;
    if (e->n_durable) {
        memcpy(bc->cbs, e->durable, e->n_durable * sizeof bc->cbs[0]);
    }
    e->n_durable = 0;
    e->batch = ioc_batch_new();
    if (e->n_stalled) {
        /* Acknowledgements wait for the earlier batches: fail them now, the
         * senders resend, and the resend is acknowledged in order. */
        run_durable(bc, IOC_EDB);
        stall_push(e, b, STALL_NEW);
        return;
    }
    e->in_flight++;
    if (ioc_store_submit(e->store, b, batch_done, bc) != 0) {
        ioc_error(TAG, "cannot hand a batch to the store");
        e->in_flight--;
        run_durable(bc, IOC_EDB);
    }
    if (!e->batch) {
        ioc_error(TAG, "out of memory for the next store batch");
    }
    update_pressure(e);
}

/* Writes the oldest held batch again; the rest follow once it is in. */
static void submit_stalled(struct ioc_engine *e)
{
    if (!e->n_stalled || !e->store || e->in_flight) {
        return;
    }
    struct ioc_batch *b = e->stalled[0];
    memmove(e->stalled, e->stalled + 1, (e->n_stalled - 1) * sizeof *e->stalled);
    e->n_stalled--;
    e->n_refused -= e->n_refused > 0;
    struct batch_ctx *bc = calloc(1, sizeof *bc);
    if (!bc) {
        stall_push(e, b, STALL_RETRIED);
        return;
    }
    bc->e = e;
    bc->retry = 1;
    e->in_flight++;
    if (ioc_store_submit(e->store, b, batch_done, bc) != 0) {
        e->in_flight--;
        free(bc);
    }
    update_pressure(e);
}

static void on_stall_timer(uv_timer_t *h)
{
    submit_stalled(h->data);
}

#define STORAGE_KEY "system.storage"
#define OVERLOAD_KEY "system.overload"
/* How often, at most, the shed count goes to the rejects table and the
 * system.overload incident while events are being shed. */
#define OVERLOAD_REPORT_MS 5000

/* The engine's own incidents (system.storage, system.overload) are about the
 * pipeline itself, so they are published at once instead of after a commit
 * that may be what is failing. Their rows go into the current batch. */
static void health_record(struct ioc_engine *e, struct incident *inc, const char *change,
                          int64_t at, const char *reason)
{
    e->direct_publish = 1;
    int rc = ioc__record(e, inc, change, NULL, at, reason);
    e->direct_publish = 0;
    if (rc) {
        ioc_error(TAG, "%s: cannot record '%s': %s", inc->rule_id, change, ioc_strerror(rc));
    }
}

/* Opens the engine's own incident `rule` (grade 2: events are held or lost
 * until someone looks), or returns the active one. A resolved incident of an
 * earlier episode is closed and replaced, so each episode has its own record
 * and its own SLA. NULL when memory ran out (logged). */
static struct incident *health_open(struct ioc_engine *e, const char *rule, const char *title,
                                    const char *why)
{
    size_t kl = strlen(rule);
    int64_t at = e->have_clock ? e->clock : ioc__wall_ms(e);
    struct incident *inc = ioc_map_get(&e->incidents, rule, kl);
    if (inc && ioc__incident_active(inc)) {
        return inc;
    }
    if (inc) {
        inc->state = "closed";
        health_record(e, inc, "closed", at, "a new episode began");
        ioc_map_del(&e->incidents, rule, kl);
        ioc__incident_free(inc);
    }
    inc = calloc(1, sizeof *inc);
    if (!inc) {
        ioc_error(TAG, "%s: out of memory for the incident", rule);
        return NULL;
    }
    inc->id = e->next_id++;
    inc->rule_id = strdup(rule);
    inc->key_json = strdup("{}");
    inc->title = strdup(title);
    inc->fields_json = strdup("{}");
    inc->state = "open";
    inc->grade = 2;
    inc->opened = inc->updated = at;
    inc->count = 1;
    inc->esc_level = -1;
    inc->resolve_since = INT64_MIN;
    if (!inc->rule_id || !inc->key_json || !inc->title || !inc->fields_json ||
        ioc_map_put(&e->incidents, rule, kl, inc)) {
        ioc_error(TAG, "%s: out of memory for the incident", rule);
        ioc__incident_free(inc);
        return NULL;
    }
    e->stats.opened++;
    health_record(e, inc, "opened", at, why);
    return inc;
}

/* system.storage: opened when writes start failing, resolved when the held
 * batches are all written. */
static void storage_health(struct ioc_engine *e, int failing, const char *why)
{
    struct incident *inc = ioc_map_get(&e->incidents, STORAGE_KEY, strlen(STORAGE_KEY));
    int64_t at = e->have_clock ? e->clock : ioc__wall_ms(e);
    if (failing && !e->storage_failing) {
        e->storage_failing = 1;
        char title[256];
        snprintf(title, sizeof title, "Database writes failing (%s): events are held, "
                 "reliable senders are not acknowledged", why ? why : "error");
        health_open(e, STORAGE_KEY, title, why);
    } else if (!failing && e->storage_failing) {
        e->storage_failing = 0;
        if (inc && ioc__incident_active(inc)) {
            ioc_info(TAG, "the database takes writes again; every held batch is written");
            ioc__resolve(e, inc, STORAGE_KEY, strlen(STORAGE_KEY), at, "writes succeed again");
        }
    }
}

/* ---- overload ------------------------------------------------------------------ */

static void on_overload_tick(uv_timer_t *h);

/* The engine is overloaded while the store is at one of its limits: batches
 * in flight to the writer (store.queue_max), or batches held in memory in all,
 * in flight plus refused by the database (store.hold_max). Then holding inputs stop reading, so their
 * senders wait, and ioc_engine_offer sheds; the loop itself never waits. */
static void update_pressure(struct ioc_engine *e)
{
    size_t held = (size_t)e->in_flight + e->n_stalled;
    int high = e->store && !e->stopping &&
               (e->in_flight >= e->cfg->store.queue_max ||
                held >= (size_t)e->cfg->store.hold_max);
    if (high == e->overloaded) {
        return;
    }
    e->overloaded = high;
    int64_t now = ioc__wall_ms(e);
    if (high) {
        e->overload_since = now;
        if (e->overload_timer_open && !uv_is_active((uv_handle_t *)&e->overload_timer)) {
            e->overload_report_at = now;
            uv_timer_start(&e->overload_timer, on_overload_tick, 500, 500);
        }
    } else {
        e->normal_since = now;
    }
    for (size_t i = 0; i < e->n_inputs && !e->stopping; i++) {
        struct ioc_instance *in = &e->inputs[i];
        if (in->ctx && in->plugin->hold) {
            in->plugin->hold(in, high);
        }
    }
}

static void overload_open(struct ioc_engine *e, const char *why)
{
    char title[256];
    snprintf(title, sizeof title, "Engine overloaded: the database is %d+%zu batches behind; "
             "reliable senders wait, the ingest socket sheds", e->in_flight, e->n_stalled);
    if (health_open(e, OVERLOAD_KEY, title, why)) {
        e->overload_open = 1;
        e->shed_reported = 0;
        ioc_warn(TAG, "overloaded (%s): %d batches in flight, %zu held", why, e->in_flight,
                 e->n_stalled);
    }
}

/* Writes how many events were shed since the last report: one rejects row
 * (reason `overload`, the count leading its detail) and an update of the
 * incident with the total, so nothing is dropped without a trace. */
static void overload_report(struct ioc_engine *e)
{
    int64_t now = ioc__wall_ms(e);
    uint64_t n = e->stats.shed - e->shed_recorded;
    e->overload_report_at = now;
    if (n && e->batch && !e->replaying) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "%llu events shed at the ingest socket while the engine was overloaded",
                 (unsigned long long)n);
        if (ioc_batch_reject(e->batch, now, "overload", detail, NULL, 0) == 0) {
            e->shed_recorded = e->stats.shed;
        } else {
            ioc_error(TAG, "cannot record %llu shed events: out of memory", (unsigned long long)n);
        }
    }
    struct incident *inc = ioc_map_get(&e->incidents, OVERLOAD_KEY, strlen(OVERLOAD_KEY));
    if (!e->overload_open || !inc || e->stats.shed == e->shed_reported) {
        return;
    }
    char title[256], reason[96];
    snprintf(title, sizeof title, "Engine overloaded: %llu events shed at the ingest socket; "
             "reliable senders wait", (unsigned long long)e->stats.shed);
    snprintf(reason, sizeof reason, "%llu events shed", (unsigned long long)e->stats.shed);
    char *t = strdup(title);
    if (t) {
        free(inc->title);
        inc->title = t;
    }
    inc->count = (int64_t)e->stats.shed;
    inc->updated = e->have_clock && e->clock > inc->updated ? e->clock : inc->updated;
    e->shed_reported = e->stats.shed;
    health_record(e, inc, "updated", inc->updated, reason);
}

static void on_overload_tick(uv_timer_t *h)
{
    struct ioc_engine *e = h->data;
    int64_t now = ioc__wall_ms(e);
    if (e->overloaded && !e->overload_open &&
        now - e->overload_since >= e->cfg->engine.overload_after_ms) {
        overload_open(e, "the database has been behind since the engine filled its queue");
    }
    if (now - e->overload_report_at >= OVERLOAD_REPORT_MS) {
        overload_report(e);
    }
    if (e->overloaded || now - e->normal_since < e->cfg->engine.overload_clear_ms) {
        return;
    }
    overload_report(e);
    uv_timer_stop(h);
    struct incident *inc = ioc_map_get(&e->incidents, OVERLOAD_KEY, strlen(OVERLOAD_KEY));
    if (e->overload_open && inc && ioc__incident_active(inc)) {
        int64_t at = e->have_clock ? e->clock : now;
        ioc_info(TAG, "no longer overloaded; %llu events were shed in all",
                 (unsigned long long)e->stats.shed);
        ioc__resolve(e, inc, OVERLOAD_KEY, strlen(OVERLOAD_KEY), at, "the database keeps up again");
    }
    e->overload_open = 0;
}

int ioc_engine_offer(struct ioc_engine *e, const void *bytes, size_t len)
{
    if (!e->overloaded) {
        ioc_engine_submit(e, bytes, len);
        return 0;
    }
    e->stats.received++;
    e->stats.shed++;
    if (!e->overload_open) {
        overload_open(e, "events are being shed");
    }
    return 1;
}

static void on_prepare(uv_prepare_t *h)
{
    flush_batch(h->data, 0);
}

/* ---- incidents -------------------------------------------------------------- */

void ioc__incident_free(struct incident *inc)
{
    if (!inc) {
        return;
    }
    free(inc->acked_by);
    free(inc->inhibitor);
    free(inc->cap_refs);
    free(inc->warn_headline);
    free(inc->warn_description);
    free(inc->rule_id);
    free(inc->key_json);
    free(inc->zone);
    free(inc->title);
    free(inc->fields_json);
    free(inc);
}

/* Renders the published message of one incident change; NULL on no memory. */
static char *render_change(struct ioc_engine *e, const struct incident *inc, const char *change,
                           const struct ioc_event *ev, int64_t at, const char *reason)
{
    char t1[40];
    cJSON *m = cJSON_CreateObject();
    cJSON *i = ioc__incident_json(e, inc);
    if (!m || !i) {
        cJSON_Delete(m);
        cJSON_Delete(i);
        return NULL;
    }
    cJSON_AddNumberToObject(m, "seq", (double)e->seq);
    cJSON_AddStringToObject(m, "change", change);
    cJSON_AddStringToObject(m, "at", ioc_time_format(at, t1, sizeof t1));
    cJSON_AddStringToObject(m, "actor", e->actor ? e->actor : "engine");
    if (reason) {
        cJSON_AddStringToObject(m, "reason", reason);
    }
    cJSON_AddItemToObject(m, "incident", i);
    if (ev) {
        cJSON *evo = cJSON_AddObjectToObject(m, "event");
        if (evo) {
            cJSON_AddStringToObject(evo, "source", ioc_source_name(ev->source));
            cJSON_AddStringToObject(evo, "id", ev->id);
            cJSON_AddStringToObject(evo, "type", ev->type);
        }
    }
    /* What the operator loop adds to this one change (escalation level,
     * comment text, warning). */
    for (cJSON *x = e->extra ? e->extra->child : NULL; x; x = x->next) {
        cJSON_AddItemToObject(m, x->string, cJSON_Duplicate(x, true));
    }
    char *s = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return s;
}

/* Records one change of an incident: its row, the evidence, the log row and
 * the message to publish once they are durable. */
static int inhibited(struct ioc_engine *e, const struct incident *inc, const struct ioc_event *ev);

int ioc__record(struct ioc_engine *e, const struct incident *inc, const char *change,
                  const struct ioc_event *ev, int64_t at, const char *reason)
{
    /* Inhibited and silenced changes are recorded, never published. A change
     * no event caused (an escalation, an SLA breach) follows the incident's
     * last inhibitor while that one is still open. */
    int inhibit = 0;
    if (ev && inc->rule && inc->rule->inhibited_by_any) {
        inhibit = inhibited(e, inc, ev);
        struct incident *w = (struct incident *)inc;
        free(w->inhibitor);
        w->inhibitor = inhibit ? strndup(e->keybuf2, e->keybuf2_len) : NULL;
        w->inhibitor_len = inhibit && w->inhibitor ? e->keybuf2_len : 0;
        if (inhibit && !w->inhibitor) {
            ioc__nomem(e, "an inhibited incident");
        }
    } else if (!ev && inc->inhibitor) {
        const struct incident *by =
            ioc_map_get(&e->incidents, inc->inhibitor, inc->inhibitor_len);
        inhibit = by && ioc__incident_active(by);
    }
    int silence = !inhibit && e->n_silences && ioc__silenced(e, inc, at);
    int quiet = inhibit || silence;
    e->seq += quiet ? 0 : 1;
    if (e->replaying) {
        /* Recovery: the database already has this change. */
        if (ev && inc->rule && inc->rule->n_feeds && strcmp(change, "resolved") != 0 &&
            e->n_feeds < sizeof e->feeds / sizeof e->feeds[0]) {
            e->feeds[e->n_feeds++] = (struct pending_feed){inc->rule->index, inc->grade, at};
        }
        return 0;
    }
    char *json = render_change(e, inc, change, ev, at, reason);
    if (!json) {
        return IOC_ENOMEM;
    }
    struct ioc_incident_row row = {
        .id = inc->id,
        .rule = inc->rule_id,
        .key_json = inc->key_json,
        .zone = inc->zone,
        .title = inc->title,
        .state = inc->state,
        .grade = inc->grade,
        .opened = inc->opened,
        .updated = inc->updated,
        .count = inc->count,
        .fields_json = inc->fields_json,
    };
    struct ioc_log_row log = {
        .incident_id = inc->id,
        .ts = at,
        .action = change,
        .actor = e->actor ? e->actor : "engine",
        .reason = reason,
        .grade = inc->grade,
        .detail_json = json,
    };
    char topic[160];
    snprintf(topic, sizeof topic, "incident.%d.%s", inc->grade, inc->zone ? inc->zone : "-");
    int rc = ioc_batch_incident(e->batch, &row);
    if (!rc && ev) {
        struct ioc_evidence_row evid = {
            .incident_id = inc->id,
            .source = ioc_source_name(ev->source),
            .event_id = ev->id,
            .ts = ev->ts,
        };
        /* The evidence keeps the event exactly as it arrived. */
        char *raw = strndup(ev->raw, ev->raw_len);
        evid.summary_json = raw;
        rc = raw ? ioc_batch_evidence(e->batch, &evid) : IOC_ENOMEM;
        free(raw);
    }
    if (!rc) {
        rc = ioc_batch_log(e->batch, &log);
    }
    if (!rc && !quiet && e->direct_publish) {
        struct ioc_change ch = {topic, json, strlen(json)};
        for (size_t o = 0; o < e->n_outputs; o++) {
            if (e->outputs[o].ctx && e->outputs[o].plugin->emit) {
                e->outputs[o].plugin->emit(&e->outputs[o], &ch);
            }
        }
        e->stats.published++;
    } else if (!rc && !quiet) {
        rc = ioc_batch_publish(e->batch, topic, json, strlen(json));
    }
    if (ev && inc->rule && inc->rule->n_feeds && strcmp(change, "resolved") != 0 &&
        e->n_feeds < sizeof e->feeds / sizeof e->feeds[0]) {
        e->feeds[e->n_feeds++] = (struct pending_feed){inc->rule->index, inc->grade, at};
    }
    free(json);
    e->stats.changes++;
    e->stats.inhibited += inhibit ? 1 : 0;
    e->stats.silenced += silence ? 1 : 0;
    return rc;
}

/* Builds "rule<US>v1<US>v2" into keybuf and the key object as JSON. Returns
 * the key length, or 0 when a key field is missing (the event cannot be
 * keyed, so the rule does not match it). */
static size_t make_key_into(char *buf, size_t cap, const struct ioc_rule *r,
                            const struct ioc_event *ev, cJSON **key_json)
{
    size_t n = strlen(r->id);
    char num[64];
    if (n >= cap) {
        return 0;
    }
    memcpy(buf, r->id, n);
    if (key_json) {
        *key_json = cJSON_CreateObject();
    }
    for (size_t i = 0; i < r->n_keys; i++) {
        struct ioc_value v = ioc_event_get(ev, &r->keys[i]);
        const char *s;
        size_t len;
        if (v.t == IOC_V_STR) {
            s = v.str;
            len = v.len;
        } else if (v.t == IOC_V_NUM || v.t == IOC_V_BOOL) {
            len = (size_t)snprintf(num, sizeof num, "%.17g", v.num);
            s = num;
        } else {
            goto missing;
        }
        if (n + 1 + len >= cap) {
            goto missing;
        }
        buf[n++] = KEY_SEP;
        memcpy(buf + n, s, len);
        n += len;
        if (key_json && *key_json) {
            /* A key object missing a field would be recorded as another key:
             * without memory for it there is none (the caller's failure). */
            cJSON *item = v.t == IOC_V_STR ? cJSON_CreateString(v.str) : cJSON_CreateNumber(v.num);
            if (!cJSON_AddItemToObject(*key_json, r->key_names[i], item)) {
                cJSON_Delete(item);
                cJSON_Delete(*key_json);
                *key_json = NULL;
            }
        }
    }
    buf[n] = 0;
    return n;
missing:
    if (key_json) {
        cJSON_Delete(*key_json);
        *key_json = NULL;
    }
    return 0;
}

static size_t make_key(struct ioc_engine *e, const struct ioc_rule *r, const struct ioc_event *ev,
                       cJSON **key_json)
{
    return make_key_into(e->keybuf, sizeof e->keybuf, r, ev, key_json);
}

/* An incident change is inhibited when a rule that inhibits its rule has an
 * open incident on the key this event gives that rule (a rule keyed by zone
 * inhibits the device-keyed incidents of its zone). */
static int inhibited(struct ioc_engine *e, const struct incident *inc, const struct ioc_event *ev)
{
    for (size_t i = 0; i < e->rules->n; i++) {
        const struct ioc_rule *r = &e->rules->rules[i];
        for (size_t k = 0; k < r->n_inhibits; k++) {
            if (&e->rules->rules[r->inhibits[k].idx] != inc->rule) {
                continue;
            }
            size_t n = make_key_into(e->keybuf2, sizeof e->keybuf2, r, ev, NULL);
            const struct incident *by = n ? ioc_map_get(&e->incidents, e->keybuf2, n) : NULL;
            if (by && ioc__incident_active(by)) {
                e->keybuf2_len = n;
                return 1;
            }
        }
    }
    return 0;
}

static int arm_resolve(struct ioc_engine *e, struct incident *inc, const char *key, size_t klen);

static int open_incident(struct ioc_engine *e, const struct ioc_rule *r, const struct ioc_event *ev,
                         size_t keylen, int grade, const struct ioc_match *m, int64_t at)
{
    cJSON *kj = NULL;
    struct incident *inc = calloc(1, sizeof *inc);
    if (!inc) {
        return IOC_ENOMEM;
    }
    make_key(e, r, ev, &kj);
    inc->id = e->next_id++;
    inc->rule = r;
    inc->rule_id = strdup(r->id);
    inc->key_json = kj ? cJSON_PrintUnformatted(kj) : NULL;
    cJSON_Delete(kj);
    inc->zone = ev->zone ? strdup(ev->zone) : NULL;
    inc->fields_json = strndup(ev->raw, ev->raw_len);
    ioc__rule_title(r, ev, m, e->title, sizeof e->title);
    inc->title = strdup(e->title);
    inc->state = "open";
    inc->grade = grade;
    inc->opened = inc->updated = at;
    inc->count = 1;
    inc->resolve_since = INT64_MIN;
    inc->clock_base = at;
    inc->esc_level = -1;
    if (!inc->rule_id || !inc->key_json || (ev->zone && !inc->zone) || !inc->fields_json ||
        !inc->title || ioc_map_put(&e->incidents, e->keybuf, keylen, inc)) {
        ioc__incident_free(inc);
        return IOC_ENOMEM;
    }
    e->stats.opened++;
    /* keybuf is rebuilt on the way: keep the key for the timers. */
    char key[sizeof e->keybuf];
    memcpy(key, e->keybuf, keylen);
    ioc__before_opened(e, inc, ev, key, keylen);
    int rc = ioc__record(e, inc, "opened", ev, at, NULL);
    if (rc == 0) {
        ioc__on_opened(e, inc);
        rc = arm_resolve(e, inc, key, keylen);
    }
    return rc;
}

static int update_incident(struct ioc_engine *e, struct incident *inc, const struct ioc_rule *r,
                           const struct ioc_event *ev, struct ioc_match *m, size_t klen,
                           int64_t at)
{
    inc->count++;
    /* Under count and aggregate, ${count} is the window's; otherwise it is
     * the number of times the incident matched. */
    if (r->corr.kind != IOC_CORR_COUNT && r->corr.kind != IOC_CORR_AGGREGATE) {
        m->count = inc->count;
    }
    if (at > inc->updated) {
        inc->updated = at;
    }
    int rc = arm_resolve(e, inc, e->keybuf, klen);
    if (rc) {
        return rc;
    }
    ioc__rule_title(r, ev, m, e->title, sizeof e->title);
    if (strcmp(e->title, inc->title) != 0) {
        char *t = strdup(e->title);
        if (!t) {
            return IOC_ENOMEM;
        }
        free(inc->title);
        inc->title = t;
    }
    int g = ioc__rule_grade(r, ev, m);
    if (g > 0 && g < inc->grade) {
        char reason[64];
        snprintf(reason, sizeof reason, "grade %d -> %d", inc->grade, g);
        inc->grade = g;
        char key[sizeof e->keybuf];
        memcpy(key, e->keybuf, klen);
        rc = ioc__record(e, inc, "graded", ev, at, reason);
        ioc__on_graded(e, inc, at, key, klen);
        return rc;
    }
    return ioc__record(e, inc, "updated", ev, at, NULL);
}

static struct wstate *wstate_get(struct ioc_engine *e, const struct ioc_rule *r, size_t klen);

enum wstate_kind { WS_WINDOW, WS_SEQUENCE, WS_ABSENT, WS_ALL };

static enum wstate_kind wstate_kind(const struct ioc_rule *r)
{
    if (r->n_steps) {
        return WS_SEQUENCE;
    }
    if (r->n_members) {
        return WS_ALL;
    }
    return r->corr.kind == IOC_CORR_ABSENT ? WS_ABSENT : WS_WINDOW;
}

/* Frees a key state's memory (not its list or map entry). */
static void wstate_release(struct ioc_engine *e, struct wstate *ws)
{
    const struct ioc_rule *r = &e->rules->rules[ws->rule];
    switch (wstate_kind(r)) {
    case WS_WINDOW:
        ioc_window_close(&ws->w);
        break;
    case WS_SEQUENCE:
        free(ws->starts);
        break;
    case WS_ABSENT:
        free(ws->raw);
        break;
    case WS_ALL:
        if (ws->mw) {
            for (size_t i = 0; i < r->n_members; i++) {
                ioc_window_close(&ws->mw[i]);
            }
        }
        if (ws->geo) {
            ioc_geo_grid_close(ws->geo);
        }
        free(ws->geo);
        free(ws->mw);
        free(ws->sat);
        break;
    }
    free(ws);
}
static void sweep(struct ioc_engine *e, const struct ioc_rule *r, const struct wstate *keep);

static void wlist_unlink(struct wlist *l, struct wstate *ws)
{
    if (ws->prev) {
        ws->prev->next = ws->next;
    } else {
        l->head = ws->next;
    }
    if (ws->next) {
        ws->next->prev = ws->prev;
    } else {
        l->tail = ws->prev;
    }
    ws->prev = ws->next = NULL;
}

static void wlist_append(struct wlist *l, struct wstate *ws)
{
    ws->prev = l->tail;
    ws->next = NULL;
    if (l->tail) {
        l->tail->next = ws;
    } else {
        l->head = ws;
    }
    l->tail = ws;
}

static void wstate_free(struct ioc_engine *e, struct wstate *ws)
{
    wlist_unlink(&e->wlru[ws->rule], ws);
    ioc_map_del(&e->windows, ws->key, ws->keylen);
    wstate_release(e, ws);
}

/* Feeds an event to the window of its rule key (keybuf). Returns 0 and fills
 * m, or 1 when the event cannot feed this clause (the field it folds or
 * counts is missing). */
static int window_step(struct ioc_engine *e, const struct ioc_rule *r, const struct ioc_event *ev,
                       size_t klen, struct ioc_match *m)
{
    double v = 0;
    uint64_t h = 0;
    if (r->corr.kind == IOC_CORR_AGGREGATE) {
        struct ioc_value x = ioc_event_get(ev, &r->corr.field);
        if (x.t != IOC_V_NUM) {
            return 1;
        }
        v = x.num;
    } else if (r->corr.has_distinct) {
        struct ioc_value x = ioc_event_get(ev, &r->corr.distinct);
        char num[64];
        if (x.t == IOC_V_STR) {
            h = ioc_hash(x.str, x.len);
        } else if (x.t == IOC_V_NUM || x.t == IOC_V_BOOL) {
            h = ioc_hash(num, (size_t)snprintf(num, sizeof num, "%.17g", x.num));
        } else {
            return 1;
        }
    }
    struct wlist *l = &e->wlru[r->index];
    struct wstate *ws = wstate_get(e, r, klen);
    if (!ws) {
        return 1;
    }
    ioc_window_evict(&ws->w, ev->ts - r->corr.window_ms);
    if (ioc_window_push(&ws->w, ev->ts, v, h) != 0) {
        ioc__nomem(e, "a rule's window");
        return 1;
    }
    if (ev->ts > ws->last_ts) {
        ws->last_ts = ev->ts;
    }
    m->count = ioc_window_count(&ws->w);
    if (r->corr.kind == IOC_CORR_AGGREGATE) {
        m->has_agg = ioc_window_agg(&ws->w, r->corr.fn, &m->agg);
    }
    sweep(e, r, ws);
    (void)l;
    return 0;
}

/* Gets or creates the state of a rule key (keybuf) on the rule's LRU list. */
static struct wstate *wstate_get(struct ioc_engine *e, const struct ioc_rule *r, size_t klen)
{
    struct wlist *l = &e->wlru[r->index];
    struct wstate *ws = ioc_map_get(&e->windows, e->keybuf, klen);
    if (ws) {
        wlist_unlink(l, ws);
        wlist_append(l, ws);
        return ws;
    }
    if (!(ws = calloc(1, sizeof *ws + klen + 1))) {
        ioc__nomem(e, "a rule key's state");
        return NULL;
    }
    memcpy(ws->key, e->keybuf, klen);
    ws->keylen = (uint32_t)klen;
    ws->rule = r->index;
    if (wstate_kind(r) == WS_WINDOW) {
        ioc_window_init(&ws->w, r->corr.has_distinct);
    }
    if (r->n_steps) {
        if (!(ws->starts = malloc(r->n_steps * sizeof *ws->starts))) {
            free(ws);
            ioc__nomem(e, "a rule key's state");
            return NULL;
        }
        for (size_t i = 0; i < r->n_steps; i++) {
            ws->starts[i] = INT64_MIN;
        }
    }
    if (r->n_members) {
        ws->sat = malloc(r->n_members * sizeof *ws->sat);
        ws->mw = calloc(r->n_members, sizeof *ws->mw);
        if (r->near_m > 0 && (ws->geo = calloc(1, sizeof *ws->geo))) {
            ioc_geo_grid_init(ws->geo, r->near_m);
        }
        if (!ws->sat || !ws->mw || (r->near_m > 0 && !ws->geo)) {
            wstate_release(e, ws);
            ioc__nomem(e, "a rule key's state");
            return NULL;
        }
        for (size_t i = 0; i < r->n_members; i++) {
            ws->sat[i] = INT64_MIN;
            ioc_window_init(&ws->mw[i], false);
        }
    }
    if (ioc_map_put(&e->windows, ws->key, klen, ws) != 0) {
        wstate_release(e, ws);
        ioc__nomem(e, "a rule key's state");
        return NULL;
    }
    wlist_append(l, ws);
    return ws;
}

/* Keys of a rule that went quiet for a whole window can never count again;
 * a few are dropped per event, oldest first, so the sweep costs nothing
 * noticeable. Absent rules keep their keys until their timer fires. */
static void sweep(struct ioc_engine *e, const struct ioc_rule *r, const struct wstate *keep)
{
    struct wlist *l = &e->wlru[r->index];
    int64_t expired = e->clock - r->corr.window_ms;
    for (int i = 0; i < 4 && l->head && l->head != keep && l->head->last_ts <= expired; i++) {
        wstate_free(e, l->head);
    }
}

/* Opens or updates the incident of rule r for the key in keybuf. */
static void hit(struct ioc_engine *e, const struct ioc_rule *r, const struct ioc_event *ev,
                size_t klen, struct ioc_match *mt, int64_t at)
{
    e->stats.matches++;
    struct incident *inc = ioc_map_get(&e->incidents, e->keybuf, klen);
    int rc;
    if (inc && !ioc__incident_active(inc)) {
        /* Resolved and still within engine.reopen_within: the same incident
         * comes back instead of a new one. */
        char key[sizeof e->keybuf];
        memcpy(key, e->keybuf, klen);
        ioc__on_reopened(e, inc, at, key, klen);
        memcpy(e->keybuf, key, klen);
        e->keybuf[klen] = 0;
    }
    if (inc) {
        rc = update_incident(e, inc, r, ev, mt, klen, at);
    } else {
        if (r->corr.kind == IOC_CORR_COUNT && mt->count < r->corr.min) {
            return;
        }
        if (r->corr.kind != IOC_CORR_COUNT && r->corr.kind != IOC_CORR_AGGREGATE) {
            mt->count = 1;
        }
        int g = ioc__rule_grade(r, ev, mt);
        if (g == 0) {
            return;
        }
        rc = open_incident(e, r, ev, klen, g, mt, at);
    }
    if (rc == IOC_ENOMEM) {
        ioc__nomem(e, "an incident change");
    } else if (rc) {
        ioc_error(TAG, "rule %s: cannot record an incident change: %s", r->id, ioc_strerror(rc));
    }
}

/* A sequence advances by at most one step per event, last step first, so an
 * event that fits two steps cannot complete a chain on its own. */
static void sequence_step(struct ioc_engine *e, const struct ioc_rule *r,
                          const struct ioc_event *ev)
{
    size_t klen = 0;
    struct wstate *ws = NULL;
    for (size_t k = r->n_steps; k-- > 0;) {
        if (!ioc_expr_eval(r->steps[k].when, ev)) {
            continue;
        }
        if (!ws) {
            if (!(klen = make_key(e, r, ev, NULL)) || !(ws = wstate_get(e, r, klen))) {
                return;
            }
            if (ev->ts > ws->last_ts) {
                ws->last_ts = ev->ts;
            }
            sweep(e, r, ws);
        }
        if (k == 0) {
            ws->starts[0] = ev->ts;
            continue;
        }
        int64_t start = ws->starts[k - 1];
        if (start == INT64_MIN || ev->ts - start > r->corr.window_ms || ev->ts < start) {
            continue;
        }
        if (k + 1 < r->n_steps) {
            ws->starts[k] = start > ws->starts[k] ? start : ws->starts[k];
            continue;
        }
        /* Completed: the chain is used up; a new one starts from step one. */
        for (size_t j = 0; j < r->n_steps; j++) {
            ws->starts[j] = INT64_MIN;
        }
        struct ioc_match mt = {0};
        hit(e, r, ev, klen, &mt, ev->ts);
        return;
    }
}

/* A key of an absent rule was seen: remember its last event and make sure a
 * timer will look at it once it has been quiet long enough. */
static void drain_feeds(struct ioc_engine *e, const struct ioc_event *ev);

/* The key of ws went quiet until `due`: open (or update) the incident, with
 * the fields of the last event seen. */
static void absent_fire(struct ioc_engine *e, const struct ioc_rule *r, struct wstate *ws,
                        int64_t due)
{
    struct ioc_event ev;
    char reason[256];
    memcpy(e->keybuf, ws->key, ws->keylen);
    e->keybuf[ws->keylen] = 0;
    if (ioc_decoder_decode(e->dec, ws->raw, ws->raw_len, ioc__wall_ms(e), &ev, reason,
                           sizeof reason) == 0) {
        struct ioc_match mt = {0};
        hit(e, r, &ev, ws->keylen, &mt, due);
        drain_feeds(e, &ev);
        ioc_event_clear(&ev);
    }
}

static void absent_seen(struct ioc_engine *e, const struct ioc_rule *r, const struct ioc_event *ev,
                        size_t klen)
{
    struct wstate *ws = wstate_get(e, r, klen);
    if (!ws) {
        return;
    }
    if (ws->raw && ws->armed && ev->ts > ws->last_ts + r->corr.window_ms) {
        /* The gap was longer than `for`, but this event came before the
         * watermark reached the due time (within the lateness): the absence
         * happened all the same, at its due time. */
        absent_fire(e, r, ws, ws->last_ts + r->corr.window_ms);
        memcpy(e->keybuf, ws->key, ws->keylen);
        e->keybuf[ws->keylen] = 0;
    }
    if (ev->ts >= ws->last_ts || !ws->raw) {
        char *raw = malloc(ev->raw_len + 1);
        if (!raw) {
            ioc__nomem(e, "an absence's last event");
            return;
        }
        memcpy(raw, ev->raw, ev->raw_len);
        free(ws->raw);
        ws->raw = raw;
        ws->raw_len = ev->raw_len;
        ws->last_ts = ev->ts;
    }
    if (!ws->armed) {
        if (ioc_timers_add(&e->timers, ws->last_ts + r->corr.window_ms, TIMER_ABSENT, r->index, 0,
                           e->keybuf, klen) == 0) {
            ws->armed = 1;
        } else {
            ioc__nomem(e, "an absence timer");
        }
    }
}

/* Schedules the timers of an incident's resolve clause after a change. */
static int arm_resolve(struct ioc_engine *e, struct incident *inc, const char *key, size_t klen)
{
    const struct ioc_rule *r = inc->rule;
    if (!r || r->resolve_quiet_ms <= 0 || inc->quiet_armed) {
        return 0;
    }
    int rc = ioc_timers_add(&e->timers, inc->updated + r->resolve_quiet_ms, TIMER_QUIET, r->index,
                            inc->id, key, klen);
    inc->quiet_armed = rc == 0;
    return rc;
}

void ioc__resolve(struct ioc_engine *e, struct incident *inc, const char *key, size_t klen,
                  int64_t at, const char *reason)
{
    inc->state = "resolved";
    inc->resolved_at = at;
    if (at > inc->updated) {
        inc->updated = at;
    }
    int rc = ioc__record(e, inc, "resolved", NULL, at, reason);
    if (rc == IOC_ENOMEM) {
        ioc__nomem(e, "an incident's resolution");
    } else if (rc) {
        ioc_error(TAG, "incident %lld: cannot record its resolution: %s", (long long)inc->id,
                  ioc_strerror(rc));
    }
    e->stats.resolved++;
    /* It stays (resolved) until it closes: a match within engine.reopen_within
     * reopens it. */
    ioc__on_resolved(e, inc, at, key, klen);
}

/* resolve: {when, for}: the condition is watched on every event the rule is
 * a candidate for, whether or not it matches `when`. */
static void resolve_watch(struct ioc_engine *e, const struct ioc_rule *r,
                          const struct ioc_event *ev)
{
    size_t klen = make_key(e, r, ev, NULL);
    struct incident *inc = klen ? ioc_map_get(&e->incidents, e->keybuf, klen) : NULL;
    if (!inc || !ioc__incident_active(inc)) {
        return;
    }
    if (!ioc_expr_eval(r->resolve_when, ev)) {
        inc->resolve_since = INT64_MIN;
        return;
    }
    if (inc->resolve_since != INT64_MIN) {
        return;
    }
    inc->resolve_since = ev->ts;
    if (r->resolve_for_ms == 0) {
        ioc__resolve(e, inc, e->keybuf, klen, ev->ts, "resolve condition met");
        return;
    }
    if (ioc_timers_add(&e->timers, ev->ts + r->resolve_for_ms, TIMER_RESOLVE_FOR, r->index,
                       inc->id, e->keybuf, klen) != 0) {
        ioc__nomem(e, "a resolution timer");
    }
}

/* Marks member k of an `all` rule satisfied at `at` for the key in keybuf,
 * and opens or updates the incident once every member is satisfied within
 * the window (and, with near, close enough together). */
static void all_satisfied(struct ioc_engine *e, const struct ioc_rule *r, struct wstate *ws,
                          size_t k, const struct ioc_event *ev, size_t klen, int64_t at)
{
    int64_t since = at - r->corr.window_ms;
    if (r->near_m > 0) {
        /* Under near, a member counts only where it happened: its place goes
         * into the key's grid, and the clause holds when one place of every
         * member lies within the distance of all the others. */
        if (!(ev->has & IOC_HAS_LOC)) {
            return;
        }
        struct ioc_geo_point p = {ev->lat, ev->lon, at, (uint32_t)k, 0};
        ioc_geo_grid_expire(ws->geo, since);
        if (ioc_geo_grid_add(ws->geo, &p) != 0) {
            ioc__nomem(e, "a place of an `all` member");
            return;
        }
    }
    ws->sat[k] = at;
    if (at > ws->last_ts) {
        ws->last_ts = at;
    }
    for (size_t i = 0; i < r->n_members; i++) {
        if (ws->sat[i] == INT64_MIN || ws->sat[i] <= since) {
            return;
        }
    }
    const struct ioc_geo_point *chosen[IOC_GEO_MAX_TAGS];
    if (r->near_m > 0 && (r->n_members > IOC_GEO_MAX_TAGS ||
                          !ioc_geo_clique(ws->geo, ev->lat, ev->lon, (uint32_t)r->n_members,
                                          r->near_m, since, chosen))) {
        return;
    }
    if (r->near_m > 0) {
        /* A member that needs N events needs N of them near this place, not
         * only the one that completed its count. */
        const struct ioc_geo_point *pts[256];
        for (size_t i = 0; i < r->n_members; i++) {
            if (r->members[i].count <= 1) {
                continue;
            }
            size_t np = ioc_geo_grid_near(ws->geo, ev->lat, ev->lon, r->near_m, pts, 256);
            int64_t have = 0;
            for (size_t j = 0; j < np; j++) {
                have += pts[j]->tag == i && pts[j]->ts > since;
            }
            if (have < r->members[i].count) {
                return;
            }
        }
    }
    struct ioc_match mt = {0};
    hit(e, r, ev, klen, &mt, at);
}

static void all_member_event(struct ioc_engine *e, const struct ioc_rule *r,
                             const struct ioc_event *ev)
{
    for (size_t k = 0; k < r->n_members; k++) {
        const struct ioc_member *mm = &r->members[k];
        if (mm->is_incident || !ioc_expr_eval(mm->when, ev)) {
            continue;
        }
        size_t klen = make_key(e, r, ev, NULL);
        struct wstate *ws = klen ? wstate_get(e, r, klen) : NULL;
        if (!ws) {
            return;
        }
        sweep(e, r, ws);
        ioc_window_evict(&ws->mw[k], ev->ts - r->corr.window_ms);
        if (ioc_window_push(&ws->mw[k], ev->ts, 0, 0) != 0) {
            ioc__nomem(e, "an `all` member's window");
            continue;
        }
        if (ioc_window_count(&ws->mw[k]) >= mm->count) {
            all_satisfied(e, r, ws, k, ev, klen, ev->ts);
        } else if (r->near_m > 0 && (ev->has & IOC_HAS_LOC)) {
            /* Not enough yet, but its place counts towards the N near. */
            struct ioc_geo_point p = {ev->lat, ev->lon, ev->ts, (uint32_t)k, 0};
            ioc_geo_grid_expire(ws->geo, ev->ts - r->corr.window_ms);
            if (ioc_geo_grid_add(ws->geo, &p) != 0) {
                ioc__nomem(e, "a place of an `all` member");
            }
        }
    }
}

/* Feeds the incident changes an event caused into the `all` clauses that
 * take those rules' incidents as members. The incident's key fields come
 * from the event, so a zone-keyed clause joins a device-keyed incident. */
static void drain_feeds(struct ioc_engine *e, const struct ioc_event *ev)
{
    for (size_t f = 0; f < e->n_feeds; f++) {
        struct pending_feed pf = e->feeds[f];
        const struct ioc_rule *x = &e->rules->rules[pf.rule];
        for (size_t i = 0; i < x->n_feeds; i++) {
            const struct ioc_rule *r = &e->rules->rules[x->feeds[i].rule];
            const struct ioc_member *mm = &r->members[x->feeds[i].member];
            if (mm->has_bound) {
                struct ioc_band b = mm->bound;
                double g = pf.grade;
                int ok = b.op == IOC_BAND_GE ? g >= b.v
                         : b.op == IOC_BAND_GT ? g > b.v
                         : b.op == IOC_BAND_LE ? g <= b.v
                                               : g < b.v;
                if (!ok) {
                    continue;
                }
            }
            size_t klen = make_key(e, r, ev, NULL);
            struct wstate *ws = klen ? wstate_get(e, r, klen) : NULL;
            if (ws) {
                all_satisfied(e, r, ws, x->feeds[i].member, ev, klen, pf.at);
            }
        }
    }
    e->n_feeds = 0;
}

static void match(struct ioc_engine *e, const struct ioc_event *ev)
{
    const uint32_t *cands;
    size_t n = ioc__ruleset_select(e->rules, ev, &cands);
    for (size_t i = 0; i < n; i++) {
        const struct ioc_rule *r = &e->rules->rules[cands[i]];
        /* The index chose r by the event's source and type (r->when is what
         * it was indexed by), so the checks of those two can be skipped. */
        if (r->when && !ioc_expr_eval_indexed(r->when, ev)) {
            if (r->resolve_when) {
                resolve_watch(e, r, ev);
            }
            continue;
        }
        if (r->corr.kind == IOC_CORR_SEQUENCE || r->corr.kind == IOC_CORR_ALL) {
            if (r->corr.kind == IOC_CORR_SEQUENCE) {
                sequence_step(e, r, ev);
            } else {
                all_member_event(e, r, ev);
            }
            if (r->resolve_when) {
                resolve_watch(e, r, ev);
            }
            continue;
        }
        size_t klen = make_key(e, r, ev, NULL);
        if (klen == 0) {
            continue;
        }
        if (r->corr.kind == IOC_CORR_ABSENT) {
            absent_seen(e, r, ev, klen);
        } else {
            struct ioc_match mt = {0};
            if (r->corr.kind == IOC_CORR_NONE || window_step(e, r, ev, klen, &mt) == 0) {
                hit(e, r, ev, klen, &mt, ev->ts);
            }
        }
        if (r->resolve_when) {
            resolve_watch(e, r, ev);
        }
    }
}

/* ---- event time ---------------------------------------------------------------- */

static void fire(struct ioc_engine *e, struct ioc_timer *t)
{
    if (t->rule >= e->rules->n && t->kind != TIMER_CLOSE && t->kind != TIMER_SLA &&
        t->kind != TIMER_ESCALATE) {
        return; /* set before a reload that removed the rule */
    }
    const struct ioc_rule *r = &e->rules->rules[t->rule];
    memcpy(e->keybuf, t->key, t->keylen);
    e->keybuf[t->keylen] = 0;
    if (t->kind == TIMER_ABSENT) {
        struct wstate *ws = ioc_map_get(&e->windows, t->key, t->keylen);
        if (!ws || r->corr.kind != IOC_CORR_ABSENT || ws->rule != t->rule || !ws->armed) {
            return;
        }
        int64_t due = ws->last_ts + r->corr.window_ms;
        if (due > t->due) {
            /* Seen since the timer was set: look again when that goes quiet. */
            if (ioc_timers_add(&e->timers, due, TIMER_ABSENT, t->rule, 0, t->key, t->keylen)) {
                ws->armed = 0;
            }
            return;
        }
        absent_fire(e, r, ws, t->due);
        /* The key went quiet: its state is done until it is seen again. */
        ws->armed = 0;
        wstate_free(e, ws);
        return;
    }
    if (t->kind == TIMER_ESCALATE || t->kind == TIMER_SLA || t->kind == TIMER_CLOSE) {
        ioc__fire_operator_timer(e, t);
        return;
    }
    struct incident *inc = ioc_map_get(&e->incidents, t->key, t->keylen);
    if (!inc || inc->id != t->ref || !ioc__incident_active(inc)) {
        return; /* resolved, or replaced by a newer incident */
    }
    if (t->kind == TIMER_QUIET) {
        inc->quiet_armed = 0;
        if (!inc->rule || inc->rule->resolve_quiet_ms <= 0) {
            return;
        }
        int64_t due = inc->updated + inc->rule->resolve_quiet_ms;
        if (due > t->due) {
            arm_resolve(e, inc, t->key, t->keylen);
            return;
        }
        char reason[64];
        snprintf(reason, sizeof reason, "no match for %llds",
                 (long long)(inc->rule->resolve_quiet_ms / 1000));
        ioc__resolve(e, inc, t->key, t->keylen, t->due, reason);
    } else if (t->kind == TIMER_RESOLVE_FOR) {
        if (inc->rule && inc->resolve_since != INT64_MIN &&
            inc->resolve_since + inc->rule->resolve_for_ms == t->due) {
            ioc__resolve(e, inc, t->key, t->keylen, t->due, "resolve condition held");
        }
    }
}

/* Moves the engine's clock (the watermark) to now and fires, in due order,
 * every timer it reached. Every incident time a timer writes is the timer's
 * due time, whichever clock noticed it. */
static void advance(struct ioc_engine *e, int64_t now)
{
    if (e->have_clock && now <= e->clock) {
        return;
    }
    e->clock = now;
    e->have_clock = 1;
    const struct ioc_timer *top;
    while ((top = ioc_timers_peek(&e->timers)) && top->due <= now) {
        struct ioc_timer t;
        ioc_timers_pop(&e->timers, &t);
        fire(e, &t);
        free(t.key);
    }
}

/* Live mode: with no event arriving, the clock goes on from the newest event
 * time at wall-clock pace, so a silent sensor is still noticed. */
static void on_live(uv_timer_t *h)
{
    struct ioc_engine *e = h->data;
    if (!e->have_ts || !e->store || !e->batch) {
        return;
    }
    int64_t elapsed = ioc__wall_ms(e) - e->newest_wall;
    if (elapsed > 0) {
        advance(e, e->newest_ts - e->cfg->engine.lateness_ms + elapsed);
    }
}

/* ---- ingest ------------------------------------------------------------------ */

static void reject(struct ioc_engine *e, int code, const char *detail, const void *bytes,
                   size_t len)
{
    e->stats.rejected++;
    switch (code) {
    case IOC_EJSON:
        e->stats.rejected_json++;
        break;
    case IOC_ESCHEMA:
        e->stats.rejected_schema++;
        break;
    case IOC_ESOURCE:
        e->stats.rejected_source++;
        break;
    case IOC_ETOOBIG:
        e->stats.rejected_size++;
        break;
    case IOC_EENCODING:
        e->stats.rejected_encoding++;
        break;
    case IOC_ELATE:
        e->stats.rejected_late++;
        break;
    default:
        break;
    }
    /* Raw bytes are kept up to the size limit, so one huge message cannot
     * flood the database. */
    size_t keep = len;
    if (keep > (size_t)e->cfg->engine.max_event_bytes) {
        keep = (size_t)e->cfg->engine.max_event_bytes;
    }
    if (!e->replaying &&
        ioc_batch_reject(e->batch, ioc__wall_ms(e), ioc_reject_reason(code), detail, bytes, keep)) {
        ioc__nomem(e, "a rejected message");
    }
}

static void accept_event(struct ioc_engine *e, const struct ioc_event *ev)
{
    e->stats.accepted++;
    e->archived++;
    if (e->cfg->store.archive_events && !e->replaying && ioc_batch_event(e->batch, ev) != 0) {
        ioc__nomem(e, "the event archive");
    }
    match(e, ev);
    drain_feeds(e, ev);
}

/* A message the input decoded itself (ioc_engine_submit_decoded). */
struct decoded {
    int rc;
    struct ioc_event *ev;
    const char *reason;
};

/* Takes one message: decodes it here, or takes pre's verdict and event. */
static void submit(struct ioc_engine *e, const void *bytes, size_t len, const struct decoded *pre)
{
    struct ioc_event own;
    struct ioc_event *ev = pre ? pre->ev : &own;
    char reason[512];
    /* Accepted until the store closes, so inputs can drain while stopping. */
    if (!e->store) {
        return;
    }
    e->stats.received++;
    e->nomem = 0;
    struct ioc_engine_stats before = e->stats;
    if (!e->batch && !(e->batch = ioc_batch_new())) {
        ioc__nomem(e, "a store batch");
        e->stats.dropped_nomem++;
        return;
    }
    int rc;
    if (pre) {
        rc = pre->rc;
        if (rc != 0) {
            snprintf(reason, sizeof reason, "%s", pre->reason ? pre->reason : "");
        }
    } else {
        rc = ioc_decoder_decode(e->dec, bytes, len, ioc__wall_ms(e), ev, reason, sizeof reason);
    }
    if (rc == IOC_ENOMEM) {
        ioc__nomem(e, "decoding");
        goto flush;
    }
    if (rc != 0) {
        reject(e, rc, reason, bytes, len);
        goto flush;
    }
    /* (source, id) as one key: the source name cannot contain the separator.
     * Duplicates are checked before lateness, so a sender's resend is counted
     * as what it is rather than as a late event. */
    const char *src = ioc_source_name(ev->source);
    size_t sl = strlen(src), il = strlen(ev->id);
    char stackkey[256];
    char *key = sl + 1 + il <= sizeof stackkey ? stackkey : malloc(sl + 1 + il);
    if (!key) {
        ioc__nomem(e, "the duplicate filter");
        if (!pre) {
        ioc_event_clear(ev);
    }
        goto flush;
    }
    memcpy(key, src, sl);
    key[sl] = KEY_SEP;
    memcpy(key + sl + 1, ev->id, il);
    int64_t lateness = e->cfg->engine.lateness_ms;
    struct ioc_dedup_hash dh;
    ioc_dedup_hash(&e->seen, key, sl + 1 + il, &dh);
    if (key != stackkey) {
        free(key);
    }
    if (ioc_dedup_has(&e->seen, &dh)) {
        e->stats.duplicates++;
    } else if (e->have_clock && ev->ts < e->clock) {
        char t1[40], t2[40];
        snprintf(reason, sizeof reason, "late: event time %s is before the watermark %s",
                 ioc_time_format(ev->ts, t1, sizeof t1), ioc_time_format(e->clock, t2, sizeof t2));
        reject(e, IOC_ELATE, reason, bytes, len);
    } else {
        if (!e->have_ts || ev->ts > e->newest_ts) {
            e->newest_ts = ev->ts;
            e->newest_wall = ioc__wall_ms(e);
            e->have_ts = 1;
            ioc_dedup_evict(&e->seen, e->newest_ts - e->cfg->engine.dedup_window_ms);
            /* Timers the new watermark reached fire before this event is
             * matched: they are due earlier in event time. */
            advance(e, e->newest_ts - lateness);
        }
        if (ioc_dedup_add(&e->seen, &dh, ev->ts) != 0) {
            ioc__nomem(e, "the duplicate filter");
        }
        accept_event(e, ev);
    }
    if (!pre) {
        ioc_event_clear(ev);
    }
flush:
    if (e->nomem) {
        /* Counted once, as dropped and not as taken, whatever part of it got
         * through before memory ran out; its bytes are kept in rejects when
         * memory allows, as any message the engine could not take. */
        e->stats.dropped_nomem++;
        e->stats.accepted = before.accepted;
        e->stats.duplicates = before.duplicates;
        e->stats.rejected = before.rejected;
        e->stats.rejected_json = before.rejected_json;
        e->stats.rejected_schema = before.rejected_schema;
        e->stats.rejected_source = before.rejected_source;
        e->stats.rejected_size = before.rejected_size;
        e->stats.rejected_encoding = before.rejected_encoding;
        e->stats.rejected_late = before.rejected_late;
        if (!e->replaying) {
            size_t keep = len < (size_t)e->cfg->engine.max_event_bytes
                              ? len
                              : (size_t)e->cfg->engine.max_event_bytes;
            ioc_batch_reject(e->batch, ioc__wall_ms(e), "memory",
                             "out of memory while processing it", bytes, keep);
        }
        e->nomem = 0;
    }
    if (ioc_batch_size(e->batch) >= (size_t)e->cfg->engine.batch_max) {
        flush_batch(e, 1);
    }
}

void ioc_engine_submit(struct ioc_engine *e, const void *bytes, size_t len)
{
    submit(e, bytes, len, NULL);
}

void ioc_engine_submit_decoded(struct ioc_engine *e, int rc, struct ioc_event *ev,
                               const char *reason, const void *bytes, size_t len)
{
    struct decoded pre = {rc, ev, reason};
    submit(e, bytes, len, &pre);
}

int ioc_engine_decoder_new(struct ioc_engine *e, struct ioc_decoder **out)
{
    char err[256];
    int rc = ioc_decoder_create(ioc_embedded_event_schema, ioc_embedded_event_schema_len,
                                (size_t)e->cfg->engine.max_event_bytes, out, err, sizeof err);
    if (rc != 0) {
        ioc_error(TAG, "cannot make a decoder: %s", err);
    }
    return rc;
}

int ioc_engine_when_durable(struct ioc_engine *e, void (*cb)(void *arg, int status), void *arg)
{
    if (!e->store || !e->batch) {
        return IOC_ESTATE;
    }
    if (e->n_durable == e->cap_durable) {
        size_t nc = e->cap_durable ? e->cap_durable * 2 : 16;
        void *n = realloc(e->durable, nc * sizeof *e->durable);
        if (!n) {
            return IOC_ENOMEM;
        }
        e->durable = n;
        e->cap_durable = nc;
    }
    e->durable[e->n_durable].cb = cb;
    e->durable[e->n_durable].arg = arg;
    e->n_durable++;
    return 0;
}

void ioc_engine_input_done(struct ioc_engine *e, struct ioc_instance *in)
{
    in->done = 1;
    for (size_t i = 0; i < e->n_inputs; i++) {
        if (!e->inputs[i].finite || !e->inputs[i].done) {
            return;
        }
    }
    /* At the end of a finite stream the clock stops at its last event time:
     * the lateness no longer has anything to wait for. */
    if (e->have_ts) {
        advance(e, e->newest_ts);
    }
    ioc_engine_stop(e);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int make_instances(struct ioc_engine *e, const struct ioc_plugin_conf *pc, size_t n,
                          enum ioc_plugin_kind kind, struct ioc_instance **out, size_t *nout,
                          struct ioc_diag *diag)
{
    static const char *const skip[] = {"plugin", NULL};
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct ioc_instance *ins = &(*out)[i];
        const struct ioc_plugin *p = ioc_plugin_find(kind, pc[i].plugin);
        if (!p) {
            ioc_diag_add(diag, NULL, 0, 0, "no plugin '%s'", pc[i].plugin);
            return IOC_EPLUGIN;
        }
        ins->plugin = p;
        ins->engine = e;
        snprintf(ins->name, sizeof ins->name, "%s_%s:%zu", kind == IOC_PLUGIN_INPUT ? "in" : "out",
                 p->name, i);
        if (!(ins->conf = calloc(1, p->conf_size ? p->conf_size : 1))) {
            return IOC_ENOMEM;
        }
        (*nout)++;
        int rc = ioc_options_defaults(p->options, ins->conf);
        if (rc != 0) {
            ioc_diag_add(diag, NULL, 0, 0, "%s: cannot set its defaults: %s", ins->name,
                         ioc_strerror(rc));
            return rc;
        }
        if ((rc = ioc_options_apply(p->options, ins->conf, pc[i].node, skip, ins->name, diag))) {
            return rc == IOC_ENOMEM ? rc : IOC_ECONFIG;
        }
        rc = p->init ? p->init(ins) : 0;
        if (rc != 0) {
            ioc_diag_add(diag, NULL, 0, 0, "%s: cannot initialise: %s", ins->name,
                         ioc_strerror(rc));
            return rc;
        }
    }
    return 0;
}

struct restore_ctx {
    struct ioc_engine *e;
    int rc;
};

/* Rebuilds the in-memory key of an incident from its stored key object. */
static int restore_one(const struct ioc_incident_view *v, void *arg)
{
    struct restore_ctx *rc = arg;
    struct ioc_engine *e = rc->e;
    const struct ioc_rule *rule = NULL;
    for (size_t i = 0; i < e->rules->n; i++) {
        if (strcmp(e->rules->rules[i].id, v->rule) == 0) {
            rule = &e->rules->rules[i];
        }
    }
    cJSON *kj = cJSON_Parse(v->key_json ? v->key_json : "{}");
    size_t n = strlen(v->rule);
    if (n >= sizeof e->keybuf) {
        cJSON_Delete(kj);
        return 0;
    }
    memcpy(e->keybuf, v->rule, n);
    /* Key values in the rule's key order (the stored object keeps it). */
    for (cJSON *it = kj ? kj->child : NULL; it; it = it->next) {
        char num[64];
        const char *s = cJSON_IsString(it) ? it->valuestring : num;
        if (!cJSON_IsString(it)) {
            snprintf(num, sizeof num, "%.17g", it->valuedouble);
        }
        size_t len = strlen(s);
        if (n + 1 + len >= sizeof e->keybuf) {
            break;
        }
        e->keybuf[n++] = KEY_SEP;
        memcpy(e->keybuf + n, s, len);
        n += len;
    }
    cJSON_Delete(kj);
    struct incident *inc = calloc(1, sizeof *inc);
    if (!inc) {
        rc->rc = IOC_ENOMEM;
        return 1;
    }
    inc->id = v->id;
    inc->rule = rule;
    inc->rule_id = strdup(v->rule);
    inc->key_json = strdup(v->key_json ? v->key_json : "{}");
    inc->zone = v->zone ? strdup(v->zone) : NULL;
    inc->title = strdup(v->title ? v->title : v->rule);
    inc->fields_json = strdup(v->fields_json ? v->fields_json : "{}");
    inc->state = strcmp(v->state, "acknowledged") == 0 ? "acknowledged"
                 : strcmp(v->state, "resolved") == 0   ? "resolved"
                                                       : "open";
    inc->esc_level = -1;
    inc->clock_base = v->opened;
    inc->grade = v->grade;
    inc->opened = v->opened;
    inc->updated = v->updated;
    inc->count = v->count;
    inc->resolve_since = INT64_MIN;
    if (ioc_map_put(&e->incidents, e->keybuf, n, inc)) {
        ioc__incident_free(inc);
        rc->rc = IOC_ENOMEM;
        return 1;
    }
    if (strcmp(inc->state, "resolved") == 0) {
        /* Resolved before the restart: it may still reopen, then it closes. */
        inc->resolved_at = v->updated;
        ioc__on_resolved(e, inc, v->updated, e->keybuf, n);
    } else {
        ioc__on_restored(e, inc, e->keybuf, n);
        if (arm_resolve(e, inc, e->keybuf, n)) {
            rc->rc = IOC_ENOMEM;
            return 1;
        }
    }
    return 0;
}

static int restore(struct ioc_engine *e, struct ioc_diag *diag)
{
    int64_t max_id = 0;
    char err[256] = "";
    int rc = ioc_db_max_incident_id(e->cfg->store.path, &max_id);
    if (rc != 0) {
        return 0; /* no database yet */
    }
    e->next_id = max_id + 1;
    static const char *const states[] = {"open", "acknowledged", "resolved"};
    for (int s = 0; s < 3; s++) {
        struct ioc_incident_filter f = {.state = states[s]};
        struct restore_ctx ctx = {e, 0};
        rc = ioc_db_incidents(e->cfg->store.path, &f, restore_one, &ctx, err, sizeof err);
        if (rc == IOC_ENOENT) {
            return 0;
        }
        if (rc != 0 || ctx.rc != 0) {
            ioc_diag_add(diag, e->cfg->store.path, 0, 0, "cannot restore open incidents: %s",
                         rc ? err : ioc_strerror(ctx.rc));
            return rc ? rc : ctx.rc;
        }
    }
    int64_t max_sid = 0;
    rc = ioc_db_silences(e->cfg->store.path, 0, &max_sid, ioc__restore_silence, e, err, sizeof err);
    if (rc != 0 && rc != IOC_ENOENT) {
        ioc_diag_add(diag, e->cfg->store.path, 0, 0, "cannot restore silences: %s", err);
        return rc;
    }
    e->next_silence_id = max_sid + 1;
    if (e->incidents.n || e->n_silences) {
        ioc_info(TAG, "restored %zu open incidents and %zu silences from %s", e->incidents.n,
                 e->n_silences, e->cfg->store.path);
    }
    return 0;
}

static void replay_event(void *arg, const void *raw, size_t len, int64_t received)
{
    (void)received;
    ioc_engine_submit(arg, raw, len);
}

static void replay_command(void *arg, int64_t clock, const char *body)
{
    struct ioc_engine *e = arg;
    cJSON *req = cJSON_Parse(body ? body : "");
    cJSON *reply = cJSON_CreateObject();
    if (req && reply && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "op"))) {
        /* The clock had reached this point when the command ran (the live
         * clock may have moved it past the last event). */
        advance(e, clock);
        ioc__control(e, req, reply);
    }
    cJSON_Delete(req);
    cJSON_Delete(reply);
}

/* Rebuilds every window, timer, incident, silence and the duplicate filter by
 * running the archived events, with the journaled operator commands between
 * them, through the same code as live, writing and publishing nothing: the
 * database already holds what they produced, because each event was
 * committed in the same transaction as its consequences. Then the clock is
 * moved to the newest recorded change, so timers that already fired before
 * the restart do not fire twice. */
static int recover(struct ioc_engine *e, int *replayed, struct ioc_diag *diag)
{
    char err[256] = "";
    struct ioc_history h = {replay_event, replay_command, 0, 0};
    uint64_t t0 = uv_hrtime();
    e->replaying = 1;
    int rc = ioc_db_history(e->cfg->store.path, &h, e, err, sizeof err);
    if (rc == 0 && h.events > 0) {
        advance(e, h.last_change);
    }
    e->replaying = 0;
    if (rc == IOC_ENOENT) {
        return 0;
    }
    if (rc != 0) {
        ioc_diag_add(diag, e->cfg->store.path, 0, 0, "cannot replay the event archive: %s", err);
        return rc;
    }
    *replayed = h.events > 0;
    if (*replayed) {
        ioc_info(TAG, "recovered from %lld archived events in %.2f s: %zu incidents open, %zu silences",
                 (long long)h.events, (double)(uv_hrtime() - t0) / 1e9, e->incidents.n,
                 e->n_silences);
        uint64_t accepted = e->stats.accepted;
        memset(&e->stats, 0, sizeof e->stats);
        e->archived = accepted;
    }
    return 0;
}

int ioc_engine_create(const struct ioc_config *cfg, uv_loop_t *loop, struct ioc_engine **out,
                      struct ioc_diag *diag)
{
    char err[256] = "";
    int rc;
    struct ioc_engine *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e) {
        return IOC_ENOMEM;
    }
    e->loop = loop;
    e->cfg = cfg;
    e->next_id = 1;
    e->next_silence_id = 1;
    ioc_map_init(&e->incidents);
    ioc_map_init_borrowed(&e->windows); /* keys live in their struct wstate */
    ioc_timers_init(&e->timers);
    uv_update_time(loop);
    e->wall_offset = ioc_time_now_ms() - (int64_t)uv_now(loop);
    if ((rc = ioc_dedup_init(&e->seen)) != 0) {
        ioc_diag_add(diag, NULL, 0, 0, "cannot initialise libsodium: no random source");
        goto fail;
    }

    rc = ioc_decoder_create(ioc_embedded_event_schema, ioc_embedded_event_schema_len,
                            (size_t)cfg->engine.max_event_bytes, &e->dec, err, sizeof err);
    if (rc != 0) {
        ioc_diag_add(diag, "schemas/event.schema.json", 0, 0, "%s", err);
        /* The schema is compiled into the program and checked by every test
         * that starts an engine: at run time it fails to compile only when
         * memory runs out, which the decoder cannot always tell (cJSON says
         * only that parsing failed). */
        rc = IOC_ENOMEM;
        goto fail;
    }
    rc = ioc_ruleset_load((const char *const *)cfg->rules, cfg->n_rules, &e->rules, diag);
    if (rc != 0) {
        goto fail;
    }
    if ((rc = ioc_policies_load(cfg, &e->pol, diag)) != 0) {
        goto fail;
    }
    if ((rc = ioc_policies_check_rules(&e->pol, e->rules, diag)) != 0) {
        goto fail;
    }
    if (!(e->wlru = calloc(e->rules->n ? e->rules->n : 1, sizeof *e->wlru))) {
        rc = IOC_ENOMEM;
        goto fail;
    }
    struct ioc_store_opts so = {
        .path = cfg->store.path,
        .archive_events = cfg->store.archive_events,
        .synchronous = cfg->store.synchronous,
        .queue_max = (size_t)cfg->store.queue_max,
    };
    rc = ioc_store_open(&so, loop, &e->store, err, sizeof err);
    if (rc != 0) {
        ioc_diag_add(diag, cfg->store.path, 0, 0, "cannot open the database: %s", err);
        goto fail;
    }
    if (!(e->batch = ioc_batch_new())) {
        rc = IOC_ENOMEM;
        goto fail;
    }
    /* State after a restart: replayed from the archive when there is one,
     * else the open incidents as the database has them. */
    int replayed = 0;
    if (cfg->store.archive_events && (rc = recover(e, &replayed, diag)) != 0) {
        goto fail;
    }
    if (!replayed && (rc = restore(e, diag)) != 0) {
        goto fail;
    }
    struct ioc_ruleset_row rsr = {
        .loaded_at = ioc_time_now_ms(),
        .hash = ioc_ruleset_hash(e->rules),
        .files = ioc_ruleset_files_json(e->rules),
        .rules = (int)ioc_ruleset_count(e->rules),
        .outcome = "loaded",
        .actor = "startup",
    };
    if ((rc = ioc_batch_ruleset(e->batch, &rsr)) != 0) {
        goto fail;
    }
    /* Before the plugins: their init may already ask for it. */
    if (!(e->zctx = zmq_ctx_new())) {
        ioc_diag_add(diag, NULL, 0, 0, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        rc = IOC_EZMQ;
        goto fail;
    }
    rc = make_instances(e, cfg->outputs, cfg->n_outputs, IOC_PLUGIN_OUTPUT, &e->outputs,
                        &e->n_outputs, diag);
    if (rc != 0) {
        goto fail;
    }
    rc = make_instances(e, cfg->inputs, cfg->n_inputs, IOC_PLUGIN_INPUT, &e->inputs, &e->n_inputs,
                        diag);
    if (rc != 0) {
        goto fail;
    }
    e->stats.rules = (int)ioc_ruleset_count(e->rules);
    *out = e;
    return 0;
fail:
    /* Nothing has run on the loop yet except the store's async handle; closing
     * the store queues its close, which the caller's next uv_run completes. */
    e->stopping = 1;
    if (e->store) {
        ioc_store_close(e->store);
        e->store = NULL;
    }
    ioc_engine_destroy(e);
    return rc;
}

int ioc_engine_start(struct ioc_engine *e)
{
    int rc;
    uv_prepare_init(e->loop, &e->flush);
    e->flush.data = e;
    e->flush_open = 1;
    uv_prepare_start(&e->flush, on_prepare);
    e->started = 1;
    int live = 0;
    for (size_t i = 0; i < e->n_inputs; i++) {
        live |= !e->inputs[i].finite;
    }
    if (e->cfg->security.enabled) {
        /* Bound before any CURVE socket, closed after all of them: no
         * handshake ever finds the handler missing. */
        rc = ioc_zap_start(e->loop, e->zctx, &e->cfg->security, ioc__connection_refused, e,
                           &e->zap);
        if (rc != 0) {
            return rc;
        }
        /* And the handshakes refused before the handler is asked. */
        rc = ioc_zmon_create(e->loop, e->zctx, ioc__connection_refused, e, &e->zmon);
        if (rc != 0) {
            return rc;
        }
    }
    if (live && e->cfg->control.bind && e->cfg->control.bind[0]) {
        char err[256] = "";
        rc = ioc_control_start_in(e->loop, e->zctx, &e->cfg->security, e->cfg->control.bind,
                                  ioc__control, e, &e->control, err, sizeof err);
        if (rc != 0) {
            ioc_error("control", "cannot start the control socket on %s: %s",
                      e->cfg->control.bind, err);
            return rc;
        }
        if (e->zmon &&
            (rc = ioc_zmon_watch(e->zmon, ioc_control_socket(e->control), IOC_ZAP_CONTROL)) != 0) {
            return rc;
        }
    }
    uv_timer_init(e->loop, &e->stall_timer);
    e->stall_timer.data = e;
    e->stall_timer_open = 1;
    uv_unref((uv_handle_t *)&e->stall_timer);
    uv_timer_init(e->loop, &e->overload_timer);
    e->overload_timer.data = e;
    e->overload_timer_open = 1;
    uv_unref((uv_handle_t *)&e->overload_timer);
    if (live) {
        uv_timer_init(e->loop, &e->live);
        e->live.data = e;
        e->live_open = 1;
        uv_timer_start(&e->live, on_live, 1000, 1000);
        uv_unref((uv_handle_t *)&e->live);
    }
    for (size_t i = 0; i < e->n_outputs; i++) {
        struct ioc_instance *o = &e->outputs[i];
        if (o->plugin->start && (rc = o->plugin->start(o, e->loop)) != 0) {
            ioc_error(o->name, "cannot start: %s", ioc_strerror(rc));
            return rc;
        }
    }
    for (size_t i = 0; i < e->n_inputs; i++) {
        struct ioc_instance *in = &e->inputs[i];
        if (in->plugin->start && (rc = in->plugin->start(in, e->loop)) != 0) {
            ioc_error(in->name, "cannot start: %s", ioc_strerror(rc));
            return rc;
        }
    }
    ioc_info(TAG, "running %d rules (set %s), database %s", e->stats.rules,
             ioc_ruleset_hash(e->rules), e->cfg->store.path);
    return 0;
}

void ioc_engine_stop(struct ioc_engine *e)
{
    if (e->stopping) {
        return;
    }
    e->stopping = 1;
    for (size_t i = 0; i < e->n_inputs; i++) {
        if (e->inputs[i].plugin->stop) {
            e->inputs[i].plugin->stop(&e->inputs[i]);
        }
    }
    /* While the loop runs and every monitored socket is open; the refusals
     * held back go into the last batch. */
    ioc_zmon_stop(e->zmon);
    ioc__refusals_flush(e);
    overload_report(e);
    flush_batch(e, 1);
    if (e->flush_open) {
        uv_close((uv_handle_t *)&e->flush, NULL);
        e->flush_open = 0;
    }
    if (e->live_open) {
        uv_close((uv_handle_t *)&e->live, NULL);
        e->live_open = 0;
    }
    if (e->stall_timer_open) {
        uv_close((uv_handle_t *)&e->stall_timer, NULL);
        e->stall_timer_open = 0;
    }
    if (e->overload_timer_open) {
        uv_close((uv_handle_t *)&e->overload_timer, NULL);
        e->overload_timer_open = 0;
    }
    /* One last try for what the database refused; whatever fails now is
     * lost, and said so. */
    while (e->n_stalled && e->store) {
        struct ioc_batch *b = e->stalled[0];
        memmove(e->stalled, e->stalled + 1, (e->n_stalled - 1) * sizeof *e->stalled);
        e->n_stalled--;
        struct batch_ctx *bc = calloc(1, sizeof *bc);
        if (!bc) {
            ioc_batch_free(b);
            continue;
        }
        bc->e = e;
        e->in_flight++;
        ioc_store_submit(e->store, b, batch_done, bc);
    }
    ioc_control_stop(e->control);
    e->control = NULL;
    /* Waits for every batch to commit and publishes what they carry. */
    ioc_store_close(e->store);
    e->store = NULL;
    for (size_t i = 0; i < e->n_outputs; i++) {
        if (e->outputs[i].plugin->stop) {
            e->outputs[i].plugin->stop(&e->outputs[i]);
        }
    }
    /* Stops answering handshakes; the socket stays bound until destroy, so
     * one that arrives from now on waits and is never accepted. */
    ioc_zap_stop(e->zap);
    ioc_info(TAG,
             "stopped: %llu received, %llu accepted, %llu duplicates, %llu rejected, %llu shed, "
             "%llu incidents opened, %llu changes published",
             (unsigned long long)e->stats.received, (unsigned long long)e->stats.accepted,
             (unsigned long long)e->stats.duplicates, (unsigned long long)e->stats.rejected,
             (unsigned long long)e->stats.shed,
             (unsigned long long)e->stats.opened, (unsigned long long)e->stats.published);
}

static void destroy_instances(struct ioc_instance *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        if (v[i].plugin && v[i].plugin->destroy) {
            v[i].plugin->destroy(&v[i]);
        }
        if (v[i].plugin && v[i].conf) {
            ioc_options_free(v[i].plugin->options, v[i].conf);
        }
        free(v[i].conf);
    }
    free(v);
}

void ioc_engine_destroy(struct ioc_engine *e)
{
    if (!e) {
        return;
    }
    destroy_instances(e->inputs, e->n_inputs);
    destroy_instances(e->outputs, e->n_outputs);
    ioc_zmon_destroy(e->zmon);
    ioc_zap_close(e->zap);
    ioc_throttle_close(&e->refusals);
    if (e->zctx) {
        /* Waits (up to each socket's linger) for the last acks and changes. */
        while (zmq_ctx_term(e->zctx) != 0 && errno == EINTR) {
        }
    }
    ioc_batch_free(e->batch);
    void *v;
    for (size_t it = 0; ioc_map_next(&e->incidents, &it, NULL, NULL, &v);) {
        ioc__incident_free(v);
    }
    ioc_map_close(&e->incidents);
    for (size_t it = 0; ioc_map_next(&e->windows, &it, NULL, NULL, &v);) {
        wstate_release(e, v);
    }
    ioc_timers_close(&e->timers);
    ioc__silences_free(e);
    free(e->durable);
    ioc_policies_close(&e->pol);
    for (size_t i = 0; i < e->n_stalled; i++) {
        ioc_batch_free(e->stalled[i]);
    }
    free(e->stalled);
    ioc_map_close(&e->windows);
    free(e->wlru);
    ioc_dedup_close(&e->seen);
    ioc_ruleset_free(e->rules);
    ioc_decoder_destroy(e->dec);
    free(e);
}

void *ioc_engine_zmq_bind(struct ioc_instance *ins, int type, const char *bind, int domain,
                          int hwm_opt, int hwm, int linger)
{
    struct ioc_engine *e = ins->engine;
    char err[256];
    void *sock = zmq_socket(e->zctx, type);
    if (!sock) {
        ioc_error(ins->name, "cannot create a socket: %s", zmq_strerror(errno));
        return NULL;
    }
    if (zmq_setsockopt(sock, hwm_opt, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0) {
        ioc_error(ins->name, "cannot set socket options: %s", zmq_strerror(errno));
    } else if (ioc_curve_server(sock, &e->cfg->security, (enum ioc_zap_domain)domain, err,
                                sizeof err) != 0) {
        ioc_error(ins->name, "%s", err);
    } else if (zmq_bind(sock, bind) != 0) {
        ioc_error(ins->name, "cannot bind %s: %s", bind, zmq_strerror(errno));
    } else if (e->zmon && ioc_zmon_watch(e->zmon, sock, (enum ioc_zap_domain)domain) != 0) {
        ioc_error(ins->name, "cannot watch %s for refused handshakes", bind);
    } else {
        return sock;
    }
    /* Nothing went out on it: no reason to linger. */
    linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(sock);
    return NULL;
}

void ioc_engine_zmq_close(struct ioc_instance *ins, void *sock)
{
    if (sock) {
        ioc_zmon_unwatch(ins->engine->zmon, sock);
        zmq_close(sock);
    }
}

void ioc_engine_get_stats(const struct ioc_engine *e, struct ioc_engine_stats *out)
{
    *out = e->stats;
    out->incidents_open = e->incidents.n;
    out->overloaded = e->overloaded;
    out->watermark = e->have_clock ? e->clock : 0;
}

int ioc_engine_reload(struct ioc_engine *e, const char *actor, struct ioc_diag *diag)
{
    struct ioc_ruleset *rs = NULL;
    struct ioc_diag local;
    ioc_diag_init(&local);
    int rc = ioc_ruleset_load((const char *const *)e->cfg->rules, e->cfg->n_rules, &rs, &local);
    if (rc != 0) {
        char err[1024] = "";
        size_t used = 0;
        for (size_t i = 0; i < local.n && used < sizeof err - 2; i++) {
            used += (size_t)snprintf(err + used, sizeof err - used, "%s%s", i ? "\n" : "",
                                     local.msgs[i]);
        }
        ioc_error(TAG, "reload (%s) refused; the old rules keep running:\n%s", actor, err);
        struct ioc_ruleset_row row = {.loaded_at = ioc_time_now_ms(), .hash = "",
                                      .files = "[]", .outcome = "refused", .error = err,
                                      .actor = actor};
        if (e->batch) {
            ioc_batch_ruleset(e->batch, &row);
        }
        ioc_diag_move(diag, &local);
        ioc_diag_close(&local);
        return rc;
    }
    ioc_diag_close(&local);
    struct wlist *nl = calloc(rs->n ? rs->n : 1, sizeof *nl);
    if (!nl) {
        ioc_ruleset_free(rs);
        return IOC_ENOMEM;
    }
    /* Carry each unchanged rule's windows over to its new index. */
    size_t kept = 0;
    for (size_t j = 0; j < rs->n; j++) {
        for (size_t i = 0; i < e->rules->n; i++) {
            const struct ioc_rule *o = &e->rules->rules[i];
            if (strcmp(o->id, rs->rules[j].id) == 0 && o->def_hash == rs->rules[j].def_hash) {
                nl[j] = e->wlru[i];
                e->wlru[i].head = e->wlru[i].tail = NULL;
                for (struct wstate *ws = nl[j].head; ws; ws = ws->next) {
                    ws->rule = (uint32_t)j;
                }
                kept++;
            }
        }
    }
    for (size_t i = 0; i < e->rules->n; i++) {
        while (e->wlru[i].head) {
            wstate_free(e, e->wlru[i].head);
        }
    }
    free(e->wlru);
    e->wlru = nl;
    /* Open incidents follow their rule by id; a removed rule's stay open. */
    void *v;
    for (size_t it = 0; ioc_map_next(&e->incidents, &it, NULL, NULL, &v);) {
        struct incident *inc = v;
        inc->rule = NULL;
        for (size_t j = 0; j < rs->n; j++) {
            if (strcmp(rs->rules[j].id, inc->rule_id) == 0) {
                inc->rule = &rs->rules[j];
            }
        }
    }
    /* Timers name rules by index: point them at the same rule in the new set,
     * or at none when it was removed. */
    for (size_t t = 0; t < e->timers.n; t++) {
        struct ioc_timer *tm = &e->timers.heap[t];
        uint32_t to = UINT32_MAX;
        for (size_t j = 0; tm->rule < e->rules->n && j < rs->n; j++) {
            if (strcmp(rs->rules[j].id, e->rules->rules[tm->rule].id) == 0) {
                to = (uint32_t)j;
            }
        }
        tm->rule = to;
    }
    ioc_ruleset_free(e->rules);
    e->rules = rs;
    e->stats.rules = (int)rs->n;
    struct ioc_ruleset_row row = {.loaded_at = ioc_time_now_ms(), .hash = ioc_ruleset_hash(rs),
                                  .files = ioc_ruleset_files_json(rs), .rules = (int)rs->n,
                                  .outcome = "loaded", .actor = actor};
    if (e->batch) {
        ioc_batch_ruleset(e->batch, &row);
    }
    ioc_info(TAG, "reload (%s): %zu rules (set %s), %zu kept their state", actor, rs->n,
             ioc_ruleset_hash(rs), kept);
    return 0;
}

int ioc_engine_run_file(struct ioc_config *cfg, const char *file, struct ioc_engine_stats *stats,
                        double *seconds, struct ioc_diag *diag)
{
    uv_loop_t loop;
    struct ioc_engine *e = NULL;
    int rc = ioc_config_set_input(cfg, "file", "path", file);
    if (rc != 0) {
        return rc;
    }
    ioc_config_clear_outputs(cfg);
    if ((rc = uv_loop_init(&loop)) != 0) {
        return IOC_EUV;
    }
    uint64_t t0 = uv_hrtime();
    rc = ioc_engine_create(cfg, &loop, &e, diag);
    if (rc == 0) {
        rc = ioc_engine_start(e);
        if (rc != 0) {
            ioc_diag_add(diag, file, 0, 0, "cannot read the event file");
            ioc_engine_stop(e);
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uint64_t t1 = uv_hrtime();
    if (e) {
        ioc_engine_get_stats(e, stats);
        ioc_engine_destroy(e);
    }
    if (seconds) {
        *seconds = (double)(t1 - t0) / 1e9;
    }
    if (uv_loop_close(&loop) != 0) {
        ioc_error(TAG, "the loop did not close clean");
    }
    return rc;
}
