/*
 * engine_int.h — the engine's state, shared by engine.c (the pipeline: ingest,
 * time, matching, incidents) and operate.c (the operator loop: lifecycle,
 * SLA, escalation, control commands, public warnings). Not a public header.
 *
 * Threads: the loop thread only.
 */
#ifndef IOC_ENGINE_INT_H
#define IOC_ENGINE_INT_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "ioc/dedup.h"
#include "ioc/engine.h"
#include "ioc/event.h"
#include "ioc/map.h"
#include "ioc/plugin.h"
#include "ioc/store.h"
#include "ioc/policy.h"
#include "ioc/throttle.h"
#include "ioc/timer.h"
#include "ioc/window.h"
#include "rule_int.h"

struct ioc_control;
struct ioc_geo_grid;
struct ioc_refusal;
struct ioc_zmon;

struct incident {
    int64_t id;
    const struct ioc_rule *rule; /* NULL when its rule is no longer loaded */
    char *rule_id;
    char *key_json;
    char *zone;
    char *title;
    char *fields_json; /* the event that opened it */
    const char *state;
    int grade;
    int64_t opened, updated, count;
    int64_t resolve_since; /* resolve.when has held since (INT64_MIN: not holding) */
    int quiet_armed;       /* a resolve.quiet timer is pending */
    /* The operator loop (operate.c). */
    char *acked_by;
    int64_t acked_at, resolved_at;
    int64_t clock_base; /* SLA and escalation count from here: opened, or reopened */
    int64_t sla_due;    /* 0: the grade has no SLA */
    int sla_breached;
    int esc_level;      /* last level notified, -1 before the first */
    const struct ioc_policy *policy;
    int warning;        /* enum warning_state */
    int cap_n;          /* CAP messages sent for it */
    char *cap_refs;     /* "sender,identifier,sent" of each, space-separated */
    char *warn_headline, *warn_description;
    char *inhibitor; /* key of the incident that last inhibited it, or NULL */
    size_t inhibitor_len;
    double lat, lon;
    int has_loc;
};

enum warning_state { WARN_NONE, WARN_PENDING, WARN_PUBLISHED, WARN_CANCELLED };

/* A silence as the engine checks it (see ioc_silence_row). */
struct silence {
    int64_t id;
    char *rule, *zone;
    cJSON *key; /* fields the incident's key must have, or NULL */
    int64_t starts, ends;
};

/* What an event-time timer is for. */
enum {
    TIMER_ABSENT,
    TIMER_QUIET,
    TIMER_RESOLVE_FOR,
    TIMER_ESCALATE,
    TIMER_SLA,
    TIMER_CLOSE,
};

/* The window of one rule key under a count or aggregate clause. States of a
 * rule sit on that rule's list in the order they were last fed, so the
 * expired ones (nothing newer than the watermark minus the window) are found
 * at its head without a scan. */
struct wstate {
    struct wstate *prev, *next;
    int64_t last_ts;
    uint32_t rule;
    uint32_t keylen;
    /* What the rule's clause keeps (wstate_kind() in engine.c tells which):
     * a key costs only its own clause's state, and there may be millions. */
    union {
        struct ioc_window w; /* count, aggregate */
        int64_t *starts;     /* sequence: latest start of a chain that completed step i */
        struct {             /* absent */
            char *raw;       /* the key's last event, for the incident's fields */
            size_t raw_len;
            int armed;       /* a timer is pending */
        };
        struct {                      /* all */
            int64_t *sat;             /* when each member was last satisfied */
            struct ioc_window *mw;    /* each expression member's events */
            struct ioc_geo_grid *geo; /* with near: where members were satisfied */
        };
    };
    char key[]; /* also the key of its entry in e->windows, which borrows it */
};

struct wlist {
    struct wstate *head, *tail;
};

struct ioc_engine {
    uv_loop_t *loop;
    const struct ioc_config *cfg;
    struct ioc_decoder *dec;
    struct ioc_ruleset *rules;
    struct ioc_store *store;
    struct ioc_instance *inputs, *outputs;
    size_t n_inputs, n_outputs;
    struct ioc_batch *batch;
    uv_prepare_t flush;
    int flush_open;

    struct ioc_map incidents; /* rule id + key -> struct incident */
    struct ioc_timers timers; /* event-time timers */
    int64_t clock;            /* the watermark: event time the engine has reached */
    int have_clock;
    int64_t newest_wall;      /* wall clock when the newest event time arrived */
    uv_timer_t live;          /* advances the clock in live mode */
    struct ioc_control *control; /* the control socket (live mode only) */
    void *zctx;                  /* the one ZeroMQ context of every socket (owned) */
    struct ioc_zap *zap;         /* the ZAP handler, with security keys only */
    struct ioc_zmon *zmon;       /* handshake failures the ZAP handler never sees (keys only) */
    struct ioc_throttle refusals; /* audit rows of refused handshakes (keys only) */
    struct silence *silences;
    size_t n_silences;
    int64_t next_silence_id;
    struct ioc_policies pol; /* escalation policies and operators */
    int replaying;           /* rebuilding state from the archive: write nothing */
    /* Storage faults: batches the database refused, oldest first. */
    struct ioc_batch **stalled;
    size_t n_stalled, cap_stalled;
    size_t n_refused;        /* the first of them, refused by the database */
    int in_flight;           /* batches handed to the store, not yet done */
    uv_timer_t stall_timer;  /* retries the oldest held batch */
    int stall_timer_open;
    int storage_failing;     /* the system.storage incident is open */
    /* Overload: the store's queue or the held batches are at their limits. */
    int overloaded;          /* inputs are held back, the ingest socket sheds */
    int64_t overload_since;  /* wall ms when pressure last went high */
    int64_t normal_since;    /* wall ms when pressure last went normal */
    int overload_open;       /* the system.overload incident is active */
    uint64_t shed_recorded;  /* shed events already written to rejects */
    uint64_t shed_reported;  /* shed events the incident already told */
    int64_t overload_report_at; /* wall ms of the last shed report */
    int nomem;               /* memory ran out while the current event was processed */
    uv_timer_t overload_timer;
    int overload_timer_open;
    int direct_publish;      /* publish now, not after commit (health of the store itself) */
    int64_t archived;        /* events accepted since the archive began */
    const char *actor;       /* who makes the change being recorded ("engine") */
    cJSON *extra;            /* members to add to the next recorded message, or NULL */
    /* Durability callbacks waiting for the current batch (reliable ingest). */
    struct durable_wait {
        void (*cb)(void *arg, int status);
        void *arg;
    } *durable;
    size_t n_durable, cap_durable;
    int live_open;
    struct ioc_map windows;   /* rule id + key -> struct wstate */
    struct wlist *wlru;       /* per rule */
    int64_t next_id;
    uint64_t seq;

    int64_t newest_ts;
    int have_ts;
    struct ioc_dedup seen; /* the (source, id) of the last dedup_window */

    int64_t wall_offset; /* epoch ms minus uv_now() */
    struct ioc_engine_stats stats;
    int started, stopping;

    char keybuf[1024];
    char keybuf2[1024];
    size_t keybuf2_len;
    /* Incident changes that feed `all` clauses, taken after the event that
     * caused them, so that feeding never runs inside another rule's match. */
    struct pending_feed {
        uint32_t rule;
        int grade;
        int64_t at;
    } feeds[64];
    size_t n_feeds;
    char title[512];
};

/* engine.c */
int64_t ioc__wall_ms(struct ioc_engine *e);
/* Memory ran out on the event path: the event being processed is dropped
 * and counted when its submit ends. */
void ioc__nomem(struct ioc_engine *e, const char *what);
void ioc__incident_free(struct incident *inc);
/* Records one change of an incident at event time `at`: its row, the
 * evidence (when ev is given), the log row and the message to publish. */
int ioc__record(struct ioc_engine *e, const struct incident *inc, const char *change,
                const struct ioc_event *ev, int64_t at, const char *reason);

/* Resolves an open or acknowledged incident at `at` (kept until it closes). */
void ioc__resolve(struct ioc_engine *e, struct incident *inc, const char *key, size_t klen,
                  int64_t at, const char *reason);

/* operate.c */
/* The incident as consoles see it (published messages and `list`). */
cJSON *ioc__incident_json(const struct ioc_engine *e, const struct incident *inc);
/* After the engine opened, reopened, graded or resolved an incident. */
void ioc__before_opened(struct ioc_engine *e, struct incident *inc, const struct ioc_event *ev,
                        const char *key, size_t klen);
void ioc__on_opened(struct ioc_engine *e, struct incident *inc);
void ioc__on_restored(struct ioc_engine *e, struct incident *inc, const char *key, size_t klen);
void ioc__on_reopened(struct ioc_engine *e, struct incident *inc, int64_t at, const char *key,
                      size_t klen);
void ioc__on_graded(struct ioc_engine *e, struct incident *inc, int64_t at, const char *key,
                    size_t klen);
void ioc__on_resolved(struct ioc_engine *e, struct incident *inc, int64_t at, const char *key,
                      size_t klen);
/* Escalation, SLA and close timers. */
void ioc__fire_operator_timer(struct ioc_engine *e, const struct ioc_timer *t);
/* Whether an incident still takes matches (open or acknowledged). */
int ioc__incident_active(const struct incident *inc);
int ioc__silenced(const struct ioc_engine *e, const struct incident *inc, int64_t at);
int ioc__restore_silence(const struct ioc_silence_row *v, void *arg);
void ioc__silences_free(struct ioc_engine *e);
int ioc__control(void *arg, const cJSON *req, cJSON *reply);
/* The callback of the ZAP handler and the socket monitors: counts a refused
 * handshake, and audits it at most once a minute for refusals alike. */
void ioc__connection_refused(void *arg, const struct ioc_refusal *r);
/* Audits the refusals held back so far (at shutdown). */
void ioc__refusals_flush(struct ioc_engine *e);

#endif
