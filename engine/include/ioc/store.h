/*
 * store.h — the SQLite store: one writer thread behind a bounded queue.
 *
 * The loop thread fills a batch (events to archive, rejects, incident rows,
 * evidence, log rows, rule sets, and the messages to publish once those rows
 * are durable) and submits it. The writer thread runs each batch as one
 * transaction with prepared statements, then hands the batch back to the
 * loop thread through a uv_async, where its done callback runs (that is where
 * the engine publishes: persist, then publish). Batches complete in the order
 * they were submitted.
 *
 * The queue holds at most queue_max batches; ioc_store_submit blocks the
 * caller while it is full, so memory stays bounded and nothing is dropped.
 *
 * All SQL text of the project lives in store.c: the writer's statements, the
 * startup reads and the read-only queries of the command line.
 *
 * Times are integers, ms since the epoch. JSON columns hold text.
 */
#ifndef IOC_STORE_H
#define IOC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct ioc_event;
struct ioc_store;
struct ioc_batch;

struct ioc_store_opts {
    const char *path;     /* database file; its directory is created if missing */
    bool archive_events;  /* write the events table */
    const char *synchronous; /* "NORMAL" or "FULL" (PRAGMA synchronous) */
    size_t queue_max;     /* batches in flight before submit blocks (>= 1) */
};

/* Opens (creating tables if needed, WAL mode) and starts the writer thread.
 * loop is where done callbacks run. IOC_EDB with a message in err. */
int ioc_store_open(const struct ioc_store_opts *o, uv_loop_t *loop, struct ioc_store **out,
                   char *err, size_t errlen);
/* Waits for every submitted batch to commit, runs their done callbacks on the
 * calling (loop) thread, stops the thread, closes the database and the async
 * handle (the loop must run once more for the handle to close; the store
 * memory is freed in the close callback). Accepts NULL. */
void ioc_store_close(struct ioc_store *s);

/* Counters, readable from the loop thread. */
struct ioc_store_stats {
    uint64_t batches, events, rejects, incidents, log_rows, errors;
};
void ioc_store_stats(struct ioc_store *s, struct ioc_store_stats *out);

/* ---- Batches (filled on the loop thread) ------------------------------- */

/* A batch copies everything it is given, so the caller's buffers can be reused
 * at once. */
struct ioc_batch *ioc_batch_new(void);
void ioc_batch_free(struct ioc_batch *b); /* accepts NULL */
/* Number of records in the batch (all kinds). */
size_t ioc_batch_size(const struct ioc_batch *b);

int ioc_batch_event(struct ioc_batch *b, const struct ioc_event *ev);
int ioc_batch_reject(struct ioc_batch *b, int64_t received, const char *reason,
                     const char *detail, const void *raw, size_t raw_len);

struct ioc_incident_row {
    int64_t id;
    const char *rule;
    const char *key_json;    /* {"device":"F1"} */
    const char *zone;        /* may be NULL */
    const char *title;
    const char *state;       /* open, acknowledged, resolved, closed */
    int grade;               /* current grade (1 most severe) */
    int64_t opened, updated; /* event time */
    int64_t count;
    const char *fields_json; /* the fields of the event that opened it */
};
/* Inserts or replaces the incident row with this id. */
int ioc_batch_incident(struct ioc_batch *b, const struct ioc_incident_row *r);

struct ioc_evidence_row {
    int64_t incident_id;
    const char *source;
    const char *event_id;
    int64_t ts;
    const char *summary_json; /* a few fields of the event */
};
int ioc_batch_evidence(struct ioc_batch *b, const struct ioc_evidence_row *r);

struct ioc_log_row {
    int64_t incident_id;
    int64_t ts;          /* event time */
    const char *action;  /* opened, updated, graded, escalated, acknowledged, ... */
    const char *actor;   /* "engine" or an operator */
    const char *reason;  /* may be NULL */
    int grade;
    const char *detail_json; /* the published message, may be NULL */
};
int ioc_batch_log(struct ioc_batch *b, const struct ioc_log_row *r);

struct ioc_ruleset_row {
    int64_t loaded_at;   /* wall clock */
    const char *hash;    /* hex digest of the files' contents */
    const char *files;   /* JSON array of paths */
    int rules;           /* number of rules */
    const char *outcome; /* "loaded" or "refused" */
    const char *error;   /* NULL when loaded */
    const char *actor;   /* who asked: "startup", "SIGHUP", an operator */
};
int ioc_batch_ruleset(struct ioc_batch *b, const struct ioc_ruleset_row *r);

/* A silence: changes of matching incidents are recorded but not published
 * between starts and ends (event time). NULL rule, key or zone match any. */
struct ioc_silence_row {
    int64_t id;
    const char *rule;
    const char *key_json; /* {"device":"F1"}: the incident's key must equal it */
    const char *zone;
    int64_t starts, ends;
    const char *author;
    const char *reason;
    int64_t created; /* wall clock */
};
/* Inserts a silence, or with an existing id updates its end (unsilence). */
int ioc_batch_silence(struct ioc_batch *b, const struct ioc_silence_row *r);

/* One command on the control socket, accepted or refused: who, with which
 * role, what, on what, and why it was refused. */
struct ioc_audit_row {
    int64_t at;    /* wall clock */
    int64_t clock; /* the engine's event-time clock */
    const char *actor, *role, *op, *target;
    int ok;
    const char *error; /* NULL when accepted */
};
int ioc_batch_audit(struct ioc_batch *b, const struct ioc_audit_row *r);

/* An operator command that changed something, journaled with the number of
 * events the engine had accepted before it, so a restart can replay events
 * and commands in the order they happened. */
struct ioc_command_row {
    int64_t after_event;
    int64_t clock; /* the engine's clock when it ran */
    const char *body; /* the request, JSON */
};
int ioc_batch_command(struct ioc_batch *b, const struct ioc_command_row *r);

/* A message to publish after the batch commits: kept in the batch in order,
 * read back in the done callback with ioc_batch_message(). */
int ioc_batch_publish(struct ioc_batch *b, const char *topic, const char *json, size_t json_len);
size_t ioc_batch_messages(const struct ioc_batch *b);
void ioc_batch_message(const struct ioc_batch *b, size_t i, const char **topic, const char **json,
                       size_t *json_len);

/* Called on the loop thread once the batch is committed (status 0) or failed
 * (negative IOC_EDB; the batch is kept whole for the caller to decide). The
 * callback takes ownership of the batch. */
typedef void (*ioc_batch_done_cb)(struct ioc_batch *b, int status, void *arg);

/* Hands the batch to the writer thread (takes ownership). Blocks while the
 * queue is full. An empty batch still completes (in order). */
int ioc_store_submit(struct ioc_store *s, struct ioc_batch *b, ioc_batch_done_cb cb, void *arg);

/* ---- Synchronous reads (any thread with its own connection) ------------- */

/* The largest incident id in the database at path, 0 when none or no file. */
int ioc_db_max_incident_id(const char *path, int64_t *out);

/* One incident as the command line shows it. Strings are valid during the
 * callback only. */
struct ioc_incident_view {
    int64_t id;
    const char *rule, *key_json, *zone, *title, *state, *fields_json;
    int grade;
    int64_t opened, updated, count;
};
struct ioc_incident_filter {
    const char *rule;  /* exact rule id, or NULL */
    const char *state; /* exact state, or NULL */
    const char *zone;  /* exact zone, or NULL */
    int max_grade;     /* only grades <= this (more severe), 0 = all */
};
/* Calls cb for each incident ordered by id; stops early when cb returns non-zero.
 * IOC_ENOENT when the file does not exist, IOC_EDB with err otherwise. */
int ioc_db_incidents(const char *path, const struct ioc_incident_filter *f,
                     int (*cb)(const struct ioc_incident_view *v, void *arg), void *arg,
                     char *err, size_t errlen);

/* Counts for summaries: rejects by reason, incidents by grade, events. */
struct ioc_db_summary {
    int64_t events, incidents, rejects;
    int64_t by_grade[5];   /* [1..4] */
    struct { char reason[32]; int64_t n; } reject_reasons[16];
    size_t n_reasons;
};
int ioc_db_summary(const char *path, struct ioc_db_summary *out, char *err, size_t errlen);

/* One incident_log row with its incident's rule and key, as `ioc test` reads
 * the history back. Strings are valid during the callback only. */
struct ioc_log_view {
    int64_t incident_id;
    const char *rule, *key_json, *action;
    int64_t ts; /* event time */
    int grade;
};
/* Calls cb for every incident_log row, ordered by event time, then by the
 * order the rows were written; stops early when cb returns non-zero.
 * IOC_ENOENT when the file does not exist, IOC_EDB with err otherwise. */
int ioc_db_log(const char *path, int (*cb)(const struct ioc_log_view *v, void *arg), void *arg,
               char *err, size_t errlen);

/* Calls cb for each silence that ends after `after` (event time), ordered by
 * id, and sets *max_id to the largest silence id ever stored (0 when none).
 * Strings are valid during the callback only. IOC_ENOENT for a missing file. */
int ioc_db_silences(const char *path, int64_t after, int64_t *max_id,
                    int (*cb)(const struct ioc_silence_row *v, void *arg), void *arg, char *err,
                    size_t errlen);

/* ---- Shift report (ioc report) ------------------------------------------ */

/* Creates the file at path with the store's tables, as ioc_store_open does,
 * but starts no writer: for tools and tests that write rows themselves. An
 * existing file is brought up to the current schema. IOC_EDB with err. */
int ioc_db_create(const char *path, char *err, size_t errlen);

/* One incident with the facts the shift report is computed from. */
struct ioc_report_row {
    int64_t id;
    const char *rule;    /* valid during the callback only */
    int grade;           /* current grade: the most severe reached */
    int64_t opened;      /* event time, ms */
    bool acked;          /* it has an 'acknowledged' row ... */
    int64_t acked_at;    /* ... and this is the earliest one's ts */
    bool resolved;       /* it has a 'resolved' row ... */
    int64_t resolved_at; /* ... and this is the earliest one's ts */
    bool breached;       /* it has an 'sla_breached' row */
    int64_t escalations; /* its 'escalated' rows */
};
/* Calls cb for each incident opened in [from, to) (event time, ms; pass
 * INT64_MIN and INT64_MAX for no bound), ordered by id; stops early when cb
 * returns non-zero. IOC_ENOENT when the file does not exist, IOC_EDB with err
 * otherwise. */
int ioc_db_report(const char *path, int64_t from, int64_t to,
                  int (*cb)(const struct ioc_report_row *r, void *arg), void *arg, char *err,
                  size_t errlen);

/* The recorded history, for rebuilding the engine's state after a restart:
 * every archived event in arrival order, with the journaled commands between
 * them, through two callbacks; last_change is the newest event time of any
 * incident change recorded. */
struct ioc_history {
    void (*event)(void *arg, const void *raw, size_t len, int64_t received);
    void (*command)(void *arg, int64_t clock, const char *body);
    int64_t events;      /* out: how many events were replayed */
    int64_t last_change; /* out */
};
int ioc_db_history(const char *path, struct ioc_history *h, void *arg, char *err, size_t errlen);

#endif
