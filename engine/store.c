/*
 * store.c — the SQLite store: batches, the writer thread, and every SQL text
 * of the project.
 *
 * What it owns. A batch owns a chunked arena holding copies of everything
 * appended to it, so a batch of thousands of records costs a handful of
 * mallocs and the caller's buffers can be reused at once. A store owns one
 * read-write connection, the statements prepared on it once at open, a writer
 * thread, and a uv_async that carries written batches back to the loop.
 *
 * Threads. The loop thread opens the store, fills and submits batches, runs
 * the done callbacks and closes the store. Between open and close only the
 * writer thread touches the connection: open hands it over by creating the
 * thread, close takes it back by joining it, so the connection needs no mutex
 * of its own. The mutex guards the pending list (submitted, not yet taken),
 * the done list (written, not yet delivered), the stopping flag and the
 * counters. A batch belongs to one party at a time: the loop while it is
 * filled, then the pending list, the writer, the done list, the callback.
 *
 * Invariants. Batches complete in submission order: both lists are FIFO, the
 * writer takes the whole pending list and appends it whole to the done list,
 * and the loop pops the done list one batch at a time, so a callback that
 * closes the store cannot reorder the rest. At most queue_max batches wait in
 * the pending list; submit blocks beyond that. Batches already written wait in
 * the done list for the next loop turn. The async handle is referenced only
 * while batches are in flight, so a loop with nothing else to do returns once
 * every callback has run.
 *
 * Group commit. The writer runs all the batches it took in one transaction.
 * If that fails it rolls back and retries each batch in a transaction of its
 * own, so one bad batch cannot fail its neighbours; a batch that still fails
 * is delivered whole with IOC_EDB, in its place in the order. Failures are
 * logged once when writes start failing and once when they recover, not once
 * per batch.
 *
 * Checkpoints. SQLite would copy the WAL back into the database inside the
 * commit that crosses its threshold, so every few thousand events one batch
 * would take ten times as long, and every change behind it would wait. The
 * writer's connection therefore never checkpoints by itself: its WAL hook
 * wakes a checkpointer thread, which has a connection of its own and runs
 * PASSIVE checkpoints beside the writer (WAL lets the two run at once). When
 * the WAL still grows past CKPT_FORCE_FRAMES (the checkpointer cannot keep
 * up, or a reader holds it back), the writer runs a RESTART checkpoint itself,
 * so the WAL stays bounded (about 16 MB). Under a sustained flood that is
 * where the writer still pauses: a few milliseconds every CKPT_FORCE_FRAMES,
 * mostly the fsync of the database file; the passive checkpoints before it
 * have copied nearly everything.
 *
 * Reads (ioc_db_*) open their own read-only connection on the calling thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <sqlite3.h>
#include <uv.h>

#include "ioc/error.h"
#include "ioc/event.h"
#include "ioc/log.h"
#include "ioc/store.h"

/* Bumped with each change of the tables; open migrates older files up to it. */
#define STORE_SCHEMA_VERSION 1
/* How long a statement waits for another connection's lock (the CLI, a backup). */
#define STORE_BUSY_TIMEOUT_MS 5000
/* WAL frames (pages) after which the checkpointer is woken: SQLite's own
 * default threshold. */
#define CKPT_FRAMES 1000
/* New WAL frames between two wake-ups of the checkpointer. */
#define CKPT_STEP 250
/* WAL frames after which the writer checkpoints itself, waiting if it must. */
#define CKPT_FORCE_FRAMES 4000
/* Arena chunks start small (most batches hold a few records) and double. */
#define CHUNK_MIN ((size_t)4096)
#define CHUNK_MAX ((size_t)1 << 20)

/* ---- Arena ------------------------------------------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    unsigned char data[];
};

struct arena {
    struct chunk *head; /* the chunk being filled; full and oversized ones follow */
    size_t next_cap;
};

static size_t pad_for(const unsigned char *p, size_t align)
{
    return (size_t)(-(uintptr_t)p & (uintptr_t)(align - 1));
}

/* align is a power of two no larger than alignof(max_align_t). */
static void *arena_alloc(struct arena *a, size_t size, size_t align)
{
    struct chunk *c = a->head;
    if (c) {
        size_t pad = pad_for(c->data + c->used, align);
        if (pad + size <= c->cap - c->used) {
            void *p = c->data + c->used + pad;
            c->used += pad + size;
            return p;
        }
    }
    if (size > SIZE_MAX / 2) {
        return NULL;
    }
    size_t cap = a->next_cap ? a->next_cap : CHUNK_MIN;
    bool oversized = size + align > cap;
    if (oversized) {
        cap = size + align;
    } else if (a->next_cap < CHUNK_MAX) {
        a->next_cap = cap * 2;
    }
    struct chunk *n = malloc(sizeof(*n) + cap);
    if (!n) {
        return NULL;
    }
    n->cap = cap;
    /* An oversized record gets a chunk of its own, linked behind the current
     * one, so the space left in the current chunk is not wasted. */
    if (oversized && c) {
        n->next = c->next;
        c->next = n;
    } else {
        n->next = c;
        a->head = n;
    }
    size_t pad = pad_for(n->data, align);
    n->used = pad + size;
    return n->data + pad;
}

static void arena_free(struct arena *a)
{
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* Copies len bytes and a terminating NUL; NULL stays NULL. 0 or IOC_ENOMEM. */
static int arena_mem(struct arena *a, const void *p, size_t len, const char **out)
{
    *out = NULL;
    if (!p) {
        return 0;
    }
    if (len == SIZE_MAX) {
        return IOC_ENOMEM;
    }
    char *d = arena_alloc(a, len + 1, 1);
    if (!d) {
        return IOC_ENOMEM;
    }
    memcpy(d, p, len);
    d[len] = '\0';
    *out = d;
    return 0;
}

static int arena_str(struct arena *a, const char *s, const char **out)
{
    return arena_mem(a, s, s ? strlen(s) : 0, out);
}

/* ---- Batches ----------------------------------------------------------- */

enum rec_kind {
    REC_EVENT,
    REC_REJECT,
    REC_INCIDENT,
    REC_EVIDENCE,
    REC_LOG,
    REC_RULESET,
    REC_SILENCE,
    REC_AUDIT,
    REC_COMMAND
};

struct rec_event {
    enum ioc_source source;
    const char *id, *type, *device, *zone, *raw;
    size_t raw_len;
    int64_t ts, received;
};

struct rec_reject {
    int64_t received;
    const char *reason, *detail, *raw;
    size_t raw_len;
};

/* One record; its strings point into the batch's arena. */
struct rec {
    struct rec *next;
    enum rec_kind kind;
    union {
        struct rec_event ev;
        struct rec_reject rej;
        struct ioc_incident_row inc;
        struct ioc_evidence_row evd;
        struct ioc_log_row log;
        struct ioc_ruleset_row rs;
        struct ioc_silence_row sil;
        struct ioc_audit_row aud;
        struct ioc_command_row cmd;
    } u;
};

struct msg {
    const char *topic, *json;
    size_t len;
};

struct ioc_batch {
    struct arena arena;
    struct rec *first, *last; /* records in the order they were added */
    size_t n_recs, n_events, n_rejects, n_incidents, n_logs;
    struct msg *msgs;
    size_t n_msgs, cap_msgs;
    /* Set by ioc_store_submit; the store's until the done callback. */
    struct ioc_batch *next;
    ioc_batch_done_cb cb;
    void *cb_arg;
    int status;
};

struct ioc_batch *ioc_batch_new(void)
{
    return calloc(1, sizeof(struct ioc_batch));
}

void ioc_batch_free(struct ioc_batch *b)
{
    if (!b) {
        return;
    }
    arena_free(&b->arena);
    free(b->msgs);
    free(b);
}

size_t ioc_batch_size(const struct ioc_batch *b)
{
    return b ? b->n_recs : 0;
}

/* Allocates a record without linking it, so a failed append leaves the batch
 * as it was (the arena space is merely unused). */
static struct rec *rec_new(struct ioc_batch *b, enum rec_kind kind)
{
    struct rec *r = arena_alloc(&b->arena, sizeof(*r), alignof(struct rec));
    if (r) {
        memset(r, 0, sizeof(*r));
        r->kind = kind;
    }
    return r;
}

static void rec_link(struct ioc_batch *b, struct rec *r)
{
    if (b->last) {
        b->last->next = r;
    } else {
        b->first = r;
    }
    b->last = r;
    b->n_recs++;
}

int ioc_batch_event(struct ioc_batch *b, const struct ioc_event *ev)
{
    if (!b || !ev) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_EVENT);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct rec_event *e = &r->u.ev;
    struct arena *a = &b->arena;
    e->source = ev->source;
    e->ts = ev->ts;
    e->received = ev->received;
    e->raw_len = ev->raw ? ev->raw_len : 0;
    if (arena_str(a, ev->id, &e->id) || arena_str(a, ev->type, &e->type) ||
        arena_str(a, ev->device, &e->device) || arena_str(a, ev->zone, &e->zone) ||
        arena_mem(a, ev->raw, e->raw_len, &e->raw)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    b->n_events++;
    return 0;
}

int ioc_batch_reject(struct ioc_batch *b, int64_t received, const char *reason, const char *detail,
                     const void *raw, size_t raw_len)
{
    if (!b) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_REJECT);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct rec_reject *j = &r->u.rej;
    struct arena *a = &b->arena;
    j->received = received;
    j->raw_len = raw ? raw_len : 0;
    if (arena_str(a, reason, &j->reason) || arena_str(a, detail, &j->detail) ||
        arena_mem(a, raw, j->raw_len, &j->raw)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    b->n_rejects++;
    return 0;
}

int ioc_batch_incident(struct ioc_batch *b, const struct ioc_incident_row *row)
{
    if (!b || !row) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_INCIDENT);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct ioc_incident_row *c = &r->u.inc;
    struct arena *a = &b->arena;
    *c = *row;
    if (arena_str(a, row->rule, &c->rule) || arena_str(a, row->key_json, &c->key_json) ||
        arena_str(a, row->zone, &c->zone) || arena_str(a, row->title, &c->title) ||
        arena_str(a, row->state, &c->state) || arena_str(a, row->fields_json, &c->fields_json)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    b->n_incidents++;
    return 0;
}

int ioc_batch_evidence(struct ioc_batch *b, const struct ioc_evidence_row *row)
{
    if (!b || !row) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_EVIDENCE);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct ioc_evidence_row *c = &r->u.evd;
    struct arena *a = &b->arena;
    *c = *row;
    if (arena_str(a, row->source, &c->source) || arena_str(a, row->event_id, &c->event_id) ||
        arena_str(a, row->summary_json, &c->summary_json)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    return 0;
}

int ioc_batch_log(struct ioc_batch *b, const struct ioc_log_row *row)
{
    if (!b || !row) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_LOG);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct ioc_log_row *c = &r->u.log;
    struct arena *a = &b->arena;
    *c = *row;
    if (arena_str(a, row->action, &c->action) || arena_str(a, row->actor, &c->actor) ||
        arena_str(a, row->reason, &c->reason) || arena_str(a, row->detail_json, &c->detail_json)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    b->n_logs++;
    return 0;
}

int ioc_batch_ruleset(struct ioc_batch *b, const struct ioc_ruleset_row *row)
{
    if (!b || !row) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_RULESET);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct ioc_ruleset_row *c = &r->u.rs;
    struct arena *a = &b->arena;
    *c = *row;
    if (arena_str(a, row->hash, &c->hash) || arena_str(a, row->files, &c->files) ||
        arena_str(a, row->outcome, &c->outcome) || arena_str(a, row->error, &c->error) ||
        arena_str(a, row->actor, &c->actor)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    return 0;
}

int ioc_batch_silence(struct ioc_batch *b, const struct ioc_silence_row *row)
{
    if (!b || !row) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_SILENCE);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct ioc_silence_row *c = &r->u.sil;
    struct arena *a = &b->arena;
    *c = *row;
    if (arena_str(a, row->rule, &c->rule) || arena_str(a, row->key_json, &c->key_json) ||
        arena_str(a, row->zone, &c->zone) || arena_str(a, row->author, &c->author) ||
        arena_str(a, row->reason, &c->reason)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    return 0;
}

int ioc_batch_command(struct ioc_batch *b, const struct ioc_command_row *row)
{
    if (!b || !row) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_COMMAND);
    if (!r) {
        return IOC_ENOMEM;
    }
    r->u.cmd = *row;
    if (arena_str(&b->arena, row->body, &r->u.cmd.body)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    return 0;
}

int ioc_batch_audit(struct ioc_batch *b, const struct ioc_audit_row *row)
{
    if (!b || !row) {
        return IOC_EINVAL;
    }
    struct rec *r = rec_new(b, REC_AUDIT);
    if (!r) {
        return IOC_ENOMEM;
    }
    struct ioc_audit_row *c = &r->u.aud;
    struct arena *a = &b->arena;
    *c = *row;
    if (arena_str(a, row->actor, &c->actor) || arena_str(a, row->role, &c->role) ||
        arena_str(a, row->op, &c->op) || arena_str(a, row->target, &c->target) ||
        arena_str(a, row->error, &c->error)) {
        return IOC_ENOMEM;
    }
    rec_link(b, r);
    return 0;
}

int ioc_batch_publish(struct ioc_batch *b, const char *topic, const char *json, size_t json_len)
{
    if (!b || !topic || !json) {
        return IOC_EINVAL;
    }
    if (b->n_msgs == b->cap_msgs) {
        size_t cap = b->cap_msgs ? b->cap_msgs * 2 : 16;
        struct msg *m = realloc(b->msgs, cap * sizeof(*m));
        if (!m) {
            return IOC_ENOMEM;
        }
        b->msgs = m;
        b->cap_msgs = cap;
    }
    struct msg *m = &b->msgs[b->n_msgs];
    if (arena_str(&b->arena, topic, &m->topic) || arena_mem(&b->arena, json, json_len, &m->json)) {
        return IOC_ENOMEM;
    }
    m->len = json_len;
    b->n_msgs++;
    return 0;
}

size_t ioc_batch_messages(const struct ioc_batch *b)
{
    return b ? b->n_msgs : 0;
}

void ioc_batch_message(const struct ioc_batch *b, size_t i, const char **topic, const char **json,
                       size_t *json_len)
{
    const struct msg *m = b && i < b->n_msgs ? &b->msgs[i] : NULL;
    if (topic) {
        *topic = m ? m->topic : NULL;
    }
    if (json) {
        *json = m ? m->json : NULL;
    }
    if (json_len) {
        *json_len = m ? m->len : 0;
    }
}

/* ---- SQL --------------------------------------------------------------- */

/* Every table and index, idempotent. Times are ms since the epoch; JSON
 * columns hold text. events has no uniqueness constraint so an archive insert
 * stays a plain append. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " source TEXT, eid TEXT, type TEXT, ts INTEGER, received INTEGER,"
    " device TEXT, zone TEXT, raw TEXT);"
    "CREATE TABLE IF NOT EXISTS incidents ("
    " id INTEGER PRIMARY KEY, rule TEXT NOT NULL, key TEXT NOT NULL, zone TEXT, title TEXT,"
    " state TEXT NOT NULL, grade INTEGER NOT NULL, opened INTEGER, updated INTEGER,"
    " count INTEGER, fields TEXT);"
    "CREATE TABLE IF NOT EXISTS incident_evidence ("
    " incident_id INTEGER NOT NULL, source TEXT, event_id TEXT, ts INTEGER, summary TEXT);"
    "CREATE TABLE IF NOT EXISTS incident_log ("
    " id INTEGER PRIMARY KEY, incident_id INTEGER NOT NULL, ts INTEGER, action TEXT NOT NULL,"
    " actor TEXT, reason TEXT, grade INTEGER, detail TEXT);"
    "CREATE TABLE IF NOT EXISTS rejects ("
    " id INTEGER PRIMARY KEY, received INTEGER, reason TEXT, detail TEXT, raw BLOB);"
    "CREATE TABLE IF NOT EXISTS rule_sets ("
    " id INTEGER PRIMARY KEY, loaded_at INTEGER, hash TEXT, files TEXT, rules INTEGER,"
    " outcome TEXT, error TEXT, actor TEXT);"
    "CREATE TABLE IF NOT EXISTS silences ("
    " id INTEGER PRIMARY KEY, rule TEXT, key TEXT, zone TEXT, starts INTEGER, ends INTEGER,"
    " author TEXT, reason TEXT, created INTEGER);"
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, at INTEGER, clock INTEGER, actor TEXT, role TEXT, op TEXT,"
    " target TEXT, ok INTEGER, error TEXT);"
    "CREATE TABLE IF NOT EXISTS commands ("
    " id INTEGER PRIMARY KEY, after_event INTEGER, clock INTEGER, body TEXT);"
    "CREATE INDEX IF NOT EXISTS incident_log_incident ON incident_log(incident_id);"
    "CREATE INDEX IF NOT EXISTS incident_evidence_incident ON incident_evidence(incident_id);"
    "CREATE INDEX IF NOT EXISTS incidents_state ON incidents(state);";

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_EVENT,
    ST_REJECT,
    ST_INCIDENT,
    ST_EVIDENCE,
    ST_LOG,
    ST_RULESET,
    ST_SILENCE,
    ST_AUDIT,
    ST_COMMAND,
    ST__COUNT
};

/* The writer's statements, prepared once at open. IMMEDIATE takes the write
 * lock at BEGIN, where busy_timeout can wait for it, instead of failing
 * half-way through a batch. */
static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_EVENT] = "INSERT INTO events(source, eid, type, ts, received, device, zone, raw)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_REJECT] = "INSERT INTO rejects(received, reason, detail, raw) VALUES(?1, ?2, ?3, ?4)",
    [ST_INCIDENT] = "INSERT INTO incidents(id, rule, key, zone, title, state, grade, opened,"
                    " updated, count, fields) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    " ON CONFLICT(id) DO UPDATE SET rule = excluded.rule, key = excluded.key,"
                    " zone = excluded.zone, title = excluded.title, state = excluded.state,"
                    " grade = excluded.grade, opened = excluded.opened,"
                    " updated = excluded.updated, count = excluded.count,"
                    " fields = excluded.fields",
    [ST_EVIDENCE] = "INSERT INTO incident_evidence(incident_id, source, event_id, ts, summary)"
                    " VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_LOG] = "INSERT INTO incident_log(incident_id, ts, action, actor, reason, grade, detail)"
               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_RULESET] = "INSERT INTO rule_sets(loaded_at, hash, files, rules, outcome, error, actor)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_SILENCE] = "INSERT INTO silences(id, rule, key, zone, starts, ends, author, reason, created)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                   " ON CONFLICT(id) DO UPDATE SET ends = excluded.ends",
    [ST_AUDIT] = "INSERT INTO audit(at, clock, actor, role, op, target, ok, error)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_COMMAND] = "INSERT INTO commands(after_event, clock, body) VALUES(?1, ?2, ?3)",
};

static const char sql_silences[] =
    "SELECT id, rule, key, zone, starts, ends, author, reason FROM silences WHERE ends > ?1"
    " ORDER BY id";
static const char sql_max_silence[] = "SELECT coalesce(max(id), 0) FROM silences";

static const char sql_user_version[] = "PRAGMA user_version";
static const char sql_table_exists[] =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1";
static const char sql_max_incident[] = "SELECT coalesce(max(id), 0) FROM incidents";
static const char sql_incidents[] =
    "SELECT id, rule, key, zone, title, state, grade, opened, updated, count, fields"
    " FROM incidents"
    " WHERE (?1 IS NULL OR rule = ?1) AND (?2 IS NULL OR state = ?2)"
    " AND (?3 IS NULL OR zone = ?3) AND (?4 <= 0 OR grade <= ?4)"
    " ORDER BY id";
static const char sql_count_events[] = "SELECT count(*) FROM events";
static const char sql_incidents_by_grade[] = "SELECT grade, count(*) FROM incidents GROUP BY grade";
static const char sql_rejects_by_reason[] =
    "SELECT coalesce(reason, ''), count(*) FROM rejects GROUP BY 1 ORDER BY 2 DESC, 1";

/* The strings the synchronous setting may take, in the case SQLite prints. */
static const char *sync_mode(const char *s)
{
    if (!s || strcasecmp(s, "NORMAL") == 0) {
        return "NORMAL";
    }
    if (strcasecmp(s, "FULL") == 0) {
        return "FULL";
    }
    return NULL;
}

/* Text parameters are bound SQLITE_STATIC: they live in the batch's arena,
 * which outlives the statement's step. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* ---- Store ------------------------------------------------------------- */

struct ioc_store {
    /* Fixed at open. */
    uv_loop_t *loop;
    char *path;
    bool archive_events;
    size_t queue_max;
    char journal_mode[16]; /* as SQLite reported it at open: "wal" normally */
    /* The writer thread's, between open and close. */
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    bool failing;          /* the last group had a batch that failed */
    int ckpt_at;           /* WAL frames at which to wake the checkpointer next */
    uint64_t failed_since; /* batches failed since writes started failing */
    /* Guarded by mu. */
    uv_mutex_t mu;
    uv_cond_t has_work; /* the writer waits: pending list empty */
    uv_cond_t has_room; /* submit waits: pending list full */
    int sync_inited;    /* how many of mu, has_work, has_room, has_ckpt are initialised */
    struct ioc_batch *pending_head, *pending_tail;
    size_t n_pending;
    struct ioc_batch *done_head, *done_tail;
    bool stopping;
    struct ioc_store_stats stats;
    /* The checkpointer: its connection and thread; the flags under mu. */
    sqlite3 *ckpt_db;
    uv_thread_t ckpt_thread;
    bool ckpt_started;
    bool ckpt_wanted, ckpt_stopping;
    uv_cond_t has_ckpt; /* the checkpointer waits: nothing to copy */
    /* The loop thread's. */
    uv_async_t async;
    uv_thread_t thread;
    size_t in_flight; /* submitted, callback not yet run */
    bool closed;
};

static void db_close(struct ioc_store *s)
{
    for (int i = 0; i < ST__COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_close(s->db);
    s->db = NULL;
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
}

/* Frees whatever open got to build. */
static void store_free(struct ioc_store *s)
{
    db_close(s);
    if (s->sync_inited > 3) {
        uv_cond_destroy(&s->has_ckpt);
    }
    if (s->sync_inited > 2) {
        uv_cond_destroy(&s->has_room);
    }
    if (s->sync_inited > 1) {
        uv_cond_destroy(&s->has_work);
    }
    if (s->sync_inited > 0) {
        uv_mutex_destroy(&s->mu);
    }
    free(s->path);
    free(s);
}

static void on_async_closed(uv_handle_t *h)
{
    store_free(h->data);
}

/* mkdir -p of the directory that will hold the file. */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    if (!dir) {
        return IOC_ENOMEM;
    }
    int rc = 0;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        goto done; /* the current directory or the root */
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char c = *p;
        *p = '\0';
        struct stat sb;
        if (mkdir(dir, 0777) != 0 && errno != EEXIST &&
            !(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))) {
            ioc_set_err(err, errlen, "%s: cannot create directory %s: %s", path, dir, strerror(errno));
            rc = IOC_EIO;
            goto done;
        }
        if (c == '\0') {
            break;
        }
        *p = c;
    }
done:
    free(dir);
    return rc;
}

static int journal_mode_cb(void *arg, int ncol, char **vals, char **names)
{
    (void)names;
    if (ncol > 0 && vals[0]) {
        snprintf(arg, 16, "%s", vals[0]);
    }
    return 0;
}

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql_user_version, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates the tables of a new file, or brings an older one up to
 * STORE_SCHEMA_VERSION, in one transaction. */
static int migrate(struct ioc_store *s, char *err, size_t errlen)
{
    int version = 0;
    if (user_version(s->db, &version) != SQLITE_OK) {
        goto fail;
    }
    if (version > STORE_SCHEMA_VERSION) {
        ioc_set_err(err, errlen, "%s: database schema version %d is newer than this engine's (%d)",
                s->path, version, STORE_SCHEMA_VERSION);
        return IOC_EDB;
    }
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        goto fail;
    }
    /* Later versions add their ALTERs here, each guarded by version < N. */
    char setv[64];
    snprintf(setv, sizeof setv, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
    if (sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, setv, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        ioc_set_err(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return IOC_EDB;
    }
    return 0;
fail:
    ioc_set_err(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
    return IOC_EDB;
}

static int db_open(struct ioc_store *s, const char *sync, char *err, size_t errlen)
{
    /* NOMUTEX: one thread at a time uses the connection (see the top). */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
        goto fail;
    }
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    char mode[16] = "";
    if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", journal_mode_cb, mode, NULL) !=
        SQLITE_OK) {
        goto fail;
    }
    snprintf(s->journal_mode, sizeof s->journal_mode, "%s", mode);
    if (strcasecmp(mode, "wal") != 0) {
        /* An in-memory database, or a file system without shared memory. */
        ioc_warn("store", "%s: journal mode is %s, not WAL", s->path, mode);
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", sync);
    if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
        goto fail;
    }
    int rc = migrate(s, err, errlen);
    if (rc) {
        return rc;
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            goto fail;
        }
    }
    return 0;
fail:
    ioc_set_err(err, errlen, "%s: %s", s->path,
            s->db ? sqlite3_errmsg(s->db) : "cannot allocate a connection");
    return IOC_EDB;
}

/* ---- Writer thread ----------------------------------------------------- */

/* Steps a statement once and resets it, so no statement stays active between
 * records (an active statement would keep the transaction from committing). */
static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

static int write_rec(struct ioc_store *s, const struct rec *r)
{
    sqlite3_stmt *st;
    switch (r->kind) {
    case REC_EVENT: {
        const struct rec_event *e = &r->u.ev;
        st = s->st[ST_EVENT];
        bind_text(st, 1, ioc_source_name(e->source));
        bind_text(st, 2, e->id);
        bind_text(st, 3, e->type);
        sqlite3_bind_int64(st, 4, e->ts);
        sqlite3_bind_int64(st, 5, e->received);
        bind_text(st, 6, e->device);
        bind_text(st, 7, e->zone);
        if (e->raw) {
            sqlite3_bind_text(st, 8, e->raw, (int)e->raw_len, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, 8);
        }
        break;
    }
    case REC_REJECT: {
        const struct rec_reject *j = &r->u.rej;
        st = s->st[ST_REJECT];
        sqlite3_bind_int64(st, 1, j->received);
        bind_text(st, 2, j->reason);
        bind_text(st, 3, j->detail);
        /* A BLOB, not TEXT: a reject may be anything but valid UTF-8 JSON. */
        if (j->raw) {
            sqlite3_bind_blob(st, 4, j->raw, (int)j->raw_len, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, 4);
        }
        break;
    }
    case REC_INCIDENT: {
        const struct ioc_incident_row *c = &r->u.inc;
        st = s->st[ST_INCIDENT];
        sqlite3_bind_int64(st, 1, c->id);
        bind_text(st, 2, c->rule);
        bind_text(st, 3, c->key_json);
        bind_text(st, 4, c->zone);
        bind_text(st, 5, c->title);
        bind_text(st, 6, c->state);
        sqlite3_bind_int(st, 7, c->grade);
        sqlite3_bind_int64(st, 8, c->opened);
        sqlite3_bind_int64(st, 9, c->updated);
        sqlite3_bind_int64(st, 10, c->count);
        bind_text(st, 11, c->fields_json);
        break;
    }
    case REC_EVIDENCE: {
        const struct ioc_evidence_row *c = &r->u.evd;
        st = s->st[ST_EVIDENCE];
        sqlite3_bind_int64(st, 1, c->incident_id);
        bind_text(st, 2, c->source);
        bind_text(st, 3, c->event_id);
        sqlite3_bind_int64(st, 4, c->ts);
        bind_text(st, 5, c->summary_json);
        break;
    }
    case REC_LOG: {
        const struct ioc_log_row *c = &r->u.log;
        st = s->st[ST_LOG];
        sqlite3_bind_int64(st, 1, c->incident_id);
        sqlite3_bind_int64(st, 2, c->ts);
        bind_text(st, 3, c->action);
        bind_text(st, 4, c->actor);
        bind_text(st, 5, c->reason);
        sqlite3_bind_int(st, 6, c->grade);
        bind_text(st, 7, c->detail_json);
        break;
    }
    case REC_RULESET: {
        const struct ioc_ruleset_row *c = &r->u.rs;
        st = s->st[ST_RULESET];
        sqlite3_bind_int64(st, 1, c->loaded_at);
        bind_text(st, 2, c->hash);
        bind_text(st, 3, c->files);
        sqlite3_bind_int(st, 4, c->rules);
        bind_text(st, 5, c->outcome);
        bind_text(st, 6, c->error);
        bind_text(st, 7, c->actor);
        break;
    }
    case REC_COMMAND: {
        const struct ioc_command_row *c = &r->u.cmd;
        st = s->st[ST_COMMAND];
        sqlite3_bind_int64(st, 1, c->after_event);
        sqlite3_bind_int64(st, 2, c->clock);
        bind_text(st, 3, c->body);
        break;
    }
    case REC_AUDIT: {
        const struct ioc_audit_row *c = &r->u.aud;
        st = s->st[ST_AUDIT];
        sqlite3_bind_int64(st, 1, c->at);
        sqlite3_bind_int64(st, 2, c->clock);
        bind_text(st, 3, c->actor);
        bind_text(st, 4, c->role);
        bind_text(st, 5, c->op);
        bind_text(st, 6, c->target);
        sqlite3_bind_int(st, 7, c->ok);
        bind_text(st, 8, c->error);
        break;
    }
    case REC_SILENCE: {
        const struct ioc_silence_row *c = &r->u.sil;
        st = s->st[ST_SILENCE];
        sqlite3_bind_int64(st, 1, c->id);
        bind_text(st, 2, c->rule);
        bind_text(st, 3, c->key_json);
        bind_text(st, 4, c->zone);
        sqlite3_bind_int64(st, 5, c->starts);
        sqlite3_bind_int64(st, 6, c->ends);
        bind_text(st, 7, c->author);
        bind_text(st, 8, c->reason);
        sqlite3_bind_int64(st, 9, c->created);
        break;
    }
    default:
        return SQLITE_MISUSE;
    }
    return step(st);
}

/* Writes the batches from first up to (not including) stop in one
 * transaction. SQLITE_OK, or the failing code with the message in msg and the
 * transaction rolled back. */
static int write_txn(struct ioc_store *s, struct ioc_batch *first, struct ioc_batch *stop,
                     char *msg, size_t msglen)
{
    int rc = step(s->st[ST_BEGIN]);
    if (rc != SQLITE_DONE) {
        goto fail;
    }
    for (struct ioc_batch *b = first; b != stop; b = b->next) {
        for (const struct rec *r = b->first; r; r = r->next) {
            if (r->kind == REC_EVENT && !s->archive_events) {
                continue;
            }
            rc = write_rec(s, r);
            if (rc != SQLITE_DONE) {
                goto fail;
            }
        }
    }
    rc = step(s->st[ST_COMMIT]);
    if (rc != SQLITE_DONE) {
        goto fail;
    }
    return SQLITE_OK;
fail:
    /* The message first: the rollback would replace it. */
    snprintf(msg, msglen, "%s", sqlite3_errmsg(s->db));
    /* Some errors (disk full, I/O) have already rolled back; rolling back
     * again would fail with "no transaction is active". */
    if (!sqlite3_get_autocommit(s->db)) {
        step(s->st[ST_ROLLBACK]);
    }
    return rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_ERROR : rc;
}

static void count_written(const struct ioc_store *s, const struct ioc_batch *b,
                          struct ioc_store_stats *add)
{
    add->batches++;
    add->events += s->archive_events ? b->n_events : 0;
    add->rejects += b->n_rejects;
    add->incidents += b->n_incidents;
    add->log_rows += b->n_logs;
}

/* Sets each batch's status and adds what was written to add. */
static void write_group(struct ioc_store *s, struct ioc_batch *group, struct ioc_store_stats *add)
{
    char msg[256] = "";
    if (write_txn(s, group, NULL, msg, sizeof msg) == SQLITE_OK) {
        for (struct ioc_batch *b = group; b; b = b->next) {
            b->status = 0;
            count_written(s, b, add);
        }
        if (s->failing) {
            ioc_info("store", "%s: writes recovered after %llu failed batches", s->path,
                     (unsigned long long)s->failed_since);
            s->failing = false;
        }
        return;
    }
    /* Retry one batch per transaction so that only the faulty ones fail. */
    size_t total = 0, failed = 0;
    for (struct ioc_batch *b = group; b; b = b->next) {
        total++;
        if (group->next && write_txn(s, b, b->next, msg, sizeof msg) == SQLITE_OK) {
            b->status = 0;
            count_written(s, b, add);
        } else {
            b->status = IOC_EDB;
            add->errors++;
            failed++;
        }
    }
    if (failed == 0) {
        /* A transient failure (a lock held too long) that the retry got past. */
        ioc_warn("store", "%s: group commit failed (%s); batches written one by one", s->path, msg);
        return;
    }
    if (!s->failing) {
        ioc_error("store", "%s: write failed: %s (%zu of %zu batches not written)", s->path, msg,
                  failed, total);
        s->failing = true;
        s->failed_since = 0;
    }
    s->failed_since += failed;
}

/* After each commit, on the writer thread: how long the WAL is decides who
 * checkpoints (see the top). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct ioc_store *s = arg;
    if (frames >= CKPT_FORCE_FRAMES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    } else if (frames < s->ckpt_at - CKPT_FRAMES) {
        s->ckpt_at = CKPT_FRAMES; /* the WAL started over */
    } else if (frames >= s->ckpt_at) {
        /* Once per CKPT_STEP new frames, not after every commit: a
         * checkpoint that found the writer mid-commit leaves the WAL as it
         * is, and the next one has more to copy. */
        s->ckpt_at = frames + CKPT_STEP;
        uv_mutex_lock(&s->mu);
        s->ckpt_wanted = true;
        uv_cond_signal(&s->has_ckpt);
        uv_mutex_unlock(&s->mu);
    }
    return SQLITE_OK;
}

static void checkpointer_main(void *arg)
{
    struct ioc_store *s = arg;
    for (;;) {
        uv_mutex_lock(&s->mu);
        while (!s->ckpt_wanted && !s->ckpt_stopping) {
            uv_cond_wait(&s->has_ckpt, &s->mu);
        }
        bool stop = s->ckpt_stopping;
        s->ckpt_wanted = false;
        uv_mutex_unlock(&s->mu);
        if (stop) {
            return;
        }
        /* PASSIVE copies what no reader needs and never waits; what it leaves
         * is taken by the next one. A failure (a full disk) shows in the
         * writer's own errors, so it is not reported twice. */
        sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
}

static void checkpointer_stop(struct ioc_store *s)
{
    if (!s->ckpt_started) {
        return;
    }
    uv_mutex_lock(&s->mu);
    s->ckpt_stopping = true;
    uv_cond_signal(&s->has_ckpt);
    uv_mutex_unlock(&s->mu);
    uv_thread_join(&s->ckpt_thread);
    s->ckpt_started = false;
}

/* Moves checkpoints off the writer. Without WAL (an in-memory database) or
 * without a second connection, SQLite's own checkpoints stay as they are. */
static void checkpointer_start(struct ioc_store *s)
{
    if (!sqlite3_db_filename(s->db, "main") || !*sqlite3_db_filename(s->db, "main") ||
        sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    /* A connection reads the database lazily, and until it has, it does not
     * know the file is in WAL mode: its checkpoints would do nothing. */
    if (sqlite3_exec(s->ckpt_db, "PRAGMA journal_mode", NULL, NULL, NULL) != SQLITE_OK ||
        uv_thread_create(&s->ckpt_thread, checkpointer_main, s) != 0) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    s->ckpt_started = true;
    s->ckpt_at = CKPT_FRAMES;
    sqlite3_wal_hook(s->db, wal_hook, s);
}

static void writer_main(void *arg)
{
    struct ioc_store *s = arg;
    for (;;) {
        uv_mutex_lock(&s->mu);
        while (!s->pending_head && !s->stopping) {
            uv_cond_wait(&s->has_work, &s->mu);
        }
        struct ioc_batch *group = s->pending_head, *tail = s->pending_tail;
        s->pending_head = s->pending_tail = NULL;
        s->n_pending = 0;
        uv_cond_broadcast(&s->has_room);
        uv_mutex_unlock(&s->mu);
        if (!group) {
            break; /* stopping, and nothing left */
        }

        struct ioc_store_stats add = {0};
        write_group(s, group, &add);

        uv_mutex_lock(&s->mu);
        if (s->done_tail) {
            s->done_tail->next = group;
        } else {
            s->done_head = group;
        }
        s->done_tail = tail;
        s->stats.batches += add.batches;
        s->stats.events += add.events;
        s->stats.rejects += add.rejects;
        s->stats.incidents += add.incidents;
        s->stats.log_rows += add.log_rows;
        s->stats.errors += add.errors;
        uv_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
    }
}

/* ---- Loop thread ------------------------------------------------------- */

/* Runs the done callbacks of written batches, oldest first. One batch per
 * lock, so that a callback may submit or even close the store. */
static void deliver_done(struct ioc_store *s)
{
    for (;;) {
        uv_mutex_lock(&s->mu);
        struct ioc_batch *b = s->done_head;
        if (b) {
            s->done_head = b->next;
            if (!s->done_head) {
                s->done_tail = NULL;
            }
        }
        uv_mutex_unlock(&s->mu);
        if (!b) {
            return;
        }
        b->next = NULL;
        if (--s->in_flight == 0) {
            uv_unref((uv_handle_t *)&s->async);
        }
        if (b->cb) {
            b->cb(b, b->status, b->cb_arg);
        } else {
            ioc_batch_free(b);
        }
    }
}

static void on_async(uv_async_t *h)
{
    deliver_done(h->data);
}

int ioc_store_open(const struct ioc_store_opts *o, uv_loop_t *loop, struct ioc_store **out,
                   char *err, size_t errlen)
{
    if (out) {
        *out = NULL;
    }
    if (!o || !o->path || !*o->path || !loop || !out) {
        ioc_set_err(err, errlen, "store: missing path, loop or result");
        return IOC_EINVAL;
    }
    const char *sync = sync_mode(o->synchronous);
    if (!sync) {
        ioc_set_err(err, errlen, "store: synchronous must be NORMAL or FULL, not %s", o->synchronous);
        return IOC_EINVAL;
    }
    if (o->queue_max < 1) {
        ioc_set_err(err, errlen, "store: queue_max must be at least 1");
        return IOC_EINVAL;
    }

    int rc;
    struct ioc_store *s = calloc(1, sizeof(*s));
    if (!s) {
        ioc_set_err(err, errlen, "store: out of memory");
        return IOC_ENOMEM;
    }
    s->loop = loop;
    s->archive_events = o->archive_events;
    s->queue_max = o->queue_max;
    s->path = strdup(o->path);
    if (!s->path) {
        rc = IOC_ENOMEM;
        goto fail;
    }
    rc = make_parent_dirs(s->path, err, errlen);
    if (rc) {
        goto fail;
    }
    rc = db_open(s, sync, err, errlen);
    if (rc) {
        goto fail;
    }
    rc = IOC_EUV;
    if (uv_mutex_init(&s->mu) != 0) {
        goto fail;
    }
    s->sync_inited = 1;
    if (uv_cond_init(&s->has_work) != 0) {
        goto fail;
    }
    s->sync_inited = 2;
    if (uv_cond_init(&s->has_room) != 0) {
        goto fail;
    }
    s->sync_inited = 3;
    if (uv_cond_init(&s->has_ckpt) != 0) {
        goto fail;
    }
    s->sync_inited = 4;
    if (uv_async_init(loop, &s->async, on_async) != 0) {
        goto fail;
    }
    s->async.data = s;
    uv_unref((uv_handle_t *)&s->async);
    if (strcasecmp(s->journal_mode, "wal") == 0) {
        checkpointer_start(s);
    }
    if (uv_thread_create(&s->thread, writer_main, s) != 0) {
        /* The handle is live now: the store is freed when it has closed. */
        ioc_set_err(err, errlen, "%s: cannot start the writer thread", s->path);
        checkpointer_stop(s);
        db_close(s);
        uv_close((uv_handle_t *)&s->async, on_async_closed);
        return IOC_EUV;
    }
    *out = s;
    return 0;
fail:
    if (rc == IOC_EUV) {
        ioc_set_err(err, errlen, "%s: cannot initialise the writer's synchronisation", s->path);
    } else if (rc == IOC_ENOMEM) {
        ioc_set_err(err, errlen, "store: out of memory");
    }
    store_free(s);
    return rc;
}

void ioc_store_close(struct ioc_store *s)
{
    if (!s || s->closed) {
        return;
    }
    s->closed = true;
    uv_mutex_lock(&s->mu);
    s->stopping = true;
    uv_cond_signal(&s->has_work);
    uv_mutex_unlock(&s->mu);
    /* The writer empties the pending list before it returns. */
    uv_thread_join(&s->thread);
    checkpointer_stop(s);
    deliver_done(s);
    db_close(s);
    /* The mutex and conditions outlive this call: a done callback that closed
     * the store returns into deliver_done, which still takes the lock. */
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}

int ioc_store_submit(struct ioc_store *s, struct ioc_batch *b, ioc_batch_done_cb cb, void *arg)
{
    if (!b) {
        return IOC_EINVAL;
    }
    if (!s || s->closed) {
        /* The store takes ownership whatever happens, so the caller never has
         * to tell a refused batch from an accepted one. */
        ioc_batch_free(b);
        return s ? IOC_ESTATE : IOC_EINVAL;
    }
    b->next = NULL;
    b->cb = cb;
    b->cb_arg = arg;
    b->status = 0;
    uv_mutex_lock(&s->mu);
    while (s->n_pending >= s->queue_max) {
        uv_cond_wait(&s->has_room, &s->mu);
    }
    if (s->pending_tail) {
        s->pending_tail->next = b;
    } else {
        s->pending_head = b;
    }
    s->pending_tail = b;
    s->n_pending++;
    uv_cond_signal(&s->has_work);
    uv_mutex_unlock(&s->mu);
    if (s->in_flight++ == 0) {
        uv_ref((uv_handle_t *)&s->async);
    }
    return 0;
}

void ioc_store_stats(struct ioc_store *s, struct ioc_store_stats *out)
{
    if (!out) {
        return;
    }
    memset(out, 0, sizeof(*out));
    if (!s) {
        return;
    }
    uv_mutex_lock(&s->mu);
    *out = s->stats;
    uv_mutex_unlock(&s->mu);
}

/* ---- Synchronous reads ------------------------------------------------- */

/* A read-only connection. IOC_ENOENT when the file does not exist, so that
 * SQLite never creates an empty database for a mistyped path. */
static int open_ro(const char *path, sqlite3 **db, char *err, size_t errlen)
{
    *db = NULL;
    if (!path) {
        ioc_set_err(err, errlen, "store: no database path");
        return IOC_EINVAL;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        ioc_set_err(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? IOC_ENOENT : IOC_EIO;
    }
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        ioc_set_err(err, errlen, "%s: %s", path,
                *db ? sqlite3_errmsg(*db) : "cannot allocate a connection");
        sqlite3_close(*db);
        *db = NULL;
        return IOC_EDB;
    }
    sqlite3_busy_timeout(*db, STORE_BUSY_TIMEOUT_MS);
    return 0;
}

static int db_fail(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    ioc_set_err(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    return IOC_EDB;
}

int ioc_db_max_incident_id(const char *path, int64_t *out)
{
    char err[256] = "";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    *out = 0;
    int rc = open_ro(path, &db, err, sizeof err);
    if (rc == IOC_ENOENT) {
        return 0;
    }
    if (rc) {
        goto fail;
    }
    /* An empty file (or one the store never initialised) has no incidents. */
    rc = IOC_EDB;
    if (sqlite3_prepare_v2(db, sql_table_exists, -1, &st, NULL) != SQLITE_OK) {
        goto fail_db;
    }
    sqlite3_bind_text(st, 1, "incidents", -1, SQLITE_STATIC);
    int step_rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (step_rc == SQLITE_DONE) {
        rc = 0;
        goto done;
    }
    if (step_rc != SQLITE_ROW ||
        sqlite3_prepare_v2(db, sql_max_incident, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        goto fail_db;
    }
    *out = sqlite3_column_int64(st, 0);
    rc = 0;
    goto done;
fail_db:
    db_fail(db, path, err, sizeof err);
fail:
    /* No err parameter here: this is where the fault is found, so log it. */
    ioc_error("store", "%s", err);
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int ioc_db_incidents(const char *path, const struct ioc_incident_filter *f,
                     int (*cb)(const struct ioc_incident_view *v, void *arg), void *arg, char *err,
                     size_t errlen)
{
    static const struct ioc_incident_filter all = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (!cb) {
        ioc_set_err(err, errlen, "store: no callback");
        return IOC_EINVAL;
    }
    if (!f) {
        f = &all;
    }
    int rc = open_ro(path, &db, err, errlen);
    if (rc) {
        return rc;
    }
    rc = IOC_EDB;
    if (sqlite3_prepare_v2(db, sql_incidents, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    bind_text(st, 1, f->rule);
    bind_text(st, 2, f->state);
    bind_text(st, 3, f->zone);
    sqlite3_bind_int(st, 4, f->max_grade);
    int step_rc;
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ioc_incident_view v = {
            .id = sqlite3_column_int64(st, 0),
            .rule = col_text(st, 1),
            .key_json = col_text(st, 2),
            .zone = col_text(st, 3),
            .title = col_text(st, 4),
            .state = col_text(st, 5),
            .grade = sqlite3_column_int(st, 6),
            .opened = sqlite3_column_int64(st, 7),
            .updated = sqlite3_column_int64(st, 8),
            .count = sqlite3_column_int64(st, 9),
            .fields_json = col_text(st, 10),
        };
        if (cb(&v, arg) != 0) {
            step_rc = SQLITE_DONE;
            break;
        }
    }
    if (step_rc != SQLITE_DONE) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int ioc_db_summary(const char *path, struct ioc_db_summary *out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int step_rc;
    memset(out, 0, sizeof(*out));
    int rc = open_ro(path, &db, err, errlen);
    if (rc) {
        return rc;
    }
    rc = IOC_EDB;

    if (sqlite3_prepare_v2(db, sql_count_events, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        goto fail;
    }
    out->events = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(db, sql_incidents_by_grade, -1, &st, NULL) != SQLITE_OK) {
        goto fail;
    }
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t grade = sqlite3_column_int64(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        out->incidents += n;
        if (grade >= 1 && grade <= 4) {
            out->by_grade[grade] += n;
        }
    }
    if (step_rc != SQLITE_DONE) {
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (sqlite3_prepare_v2(db, sql_rejects_by_reason, -1, &st, NULL) != SQLITE_OK) {
        goto fail;
    }
    size_t max_reasons = sizeof(out->reject_reasons) / sizeof(out->reject_reasons[0]);
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 1);
        out->rejects += n;
        /* The most frequent reasons first; the rest count only in the total. */
        if (out->n_reasons < max_reasons) {
            snprintf(out->reject_reasons[out->n_reasons].reason,
                     sizeof(out->reject_reasons[0].reason), "%s", col_text(st, 0));
            out->reject_reasons[out->n_reasons].n = n;
            out->n_reasons++;
        }
    }
    if (step_rc != SQLITE_DONE) {
        goto fail;
    }
    rc = 0;
    goto done;
fail:
    db_fail(db, path, err, errlen);
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* The history of every incident in event-time order, for `ioc test`: it
 * rebuilds what existed at a given time from the log, not from the incidents
 * table, which only holds the latest state. */
static const char sql_log[] =
    "SELECT l.incident_id, i.rule, i.key, l.ts, l.action, l.grade"
    " FROM incident_log l JOIN incidents i ON i.id = l.incident_id"
    " ORDER BY l.ts, l.id";

int ioc_db_log(const char *path, int (*cb)(const struct ioc_log_view *v, void *arg), void *arg,
               char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (!cb) {
        ioc_set_err(err, errlen, "store: no callback");
        return IOC_EINVAL;
    }
    int rc = open_ro(path, &db, err, errlen);
    if (rc) {
        return rc;
    }
    rc = IOC_EDB;
    if (sqlite3_prepare_v2(db, sql_log, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    int step_rc;
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ioc_log_view v = {
            .incident_id = sqlite3_column_int64(st, 0),
            .rule = col_text(st, 1),
            .key_json = col_text(st, 2),
            .ts = sqlite3_column_int64(st, 3),
            .action = col_text(st, 4),
            .grade = sqlite3_column_int(st, 5),
        };
        if (cb(&v, arg) != 0) {
            step_rc = SQLITE_DONE;
            break;
        }
    }
    if (step_rc != SQLITE_DONE) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int ioc_db_silences(const char *path, int64_t after, int64_t *max_id,
                    int (*cb)(const struct ioc_silence_row *v, void *arg), void *arg, char *err,
                    size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    *max_id = 0;
    int rc = open_ro(path, &db, err, errlen);
    if (rc) {
        return rc;
    }
    rc = IOC_EDB;
    if (sqlite3_prepare_v2(db, sql_max_silence, -1, &st, NULL) != SQLITE_OK) {
        /* A database from before silences existed has none. */
        rc = 0;
        goto done;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        *max_id = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, sql_silences, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    sqlite3_bind_int64(st, 1, after);
    int step_rc;
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ioc_silence_row v = {
            .id = sqlite3_column_int64(st, 0),
            .rule = col_text(st, 1),
            .key_json = col_text(st, 2),
            .zone = col_text(st, 3),
            .starts = sqlite3_column_int64(st, 4),
            .ends = sqlite3_column_int64(st, 5),
            .author = col_text(st, 6),
            .reason = col_text(st, 7),
        };
        if (cb(&v, arg) != 0) {
            step_rc = SQLITE_DONE;
            break;
        }
    }
    if (step_rc != SQLITE_DONE) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* ---- Shift report ------------------------------------------------------ */

int ioc_db_create(const char *path, char *err, size_t errlen)
{
    /* migrate() works on a store; this one only ever has a connection. */
    struct ioc_store s = {0};
    int rc = IOC_EDB;
    if (!path || !(s.path = strdup(path))) {
        ioc_set_err(err, errlen, "store: %s", path ? "out of memory" : "no database path");
        return path ? IOC_ENOMEM : IOC_EINVAL;
    }
    if (sqlite3_open_v2(path, &s.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(s.db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
        ioc_set_err(err, errlen, "%s: %s", path,
                s.db ? sqlite3_errmsg(s.db) : "cannot allocate a connection");
        goto done;
    }
    sqlite3_busy_timeout(s.db, STORE_BUSY_TIMEOUT_MS);
    rc = migrate(&s, err, errlen);
done:
    sqlite3_close(s.db);
    free(s.path);
    return rc;
}

/* One row per incident opened in [?1, ?2): the earliest acknowledgement and
 * resolution (a reopened incident keeps its first), whether its SLA was
 * breached, and how often it escalated. One pass over the log rows that
 * matter, through the incident_log(incident_id) index. */
static const char sql_report[] =
    "SELECT i.id, i.rule, i.grade, coalesce(i.opened, 0),"
    " min(CASE WHEN l.action = 'acknowledged' THEN l.ts END),"
    " min(CASE WHEN l.action = 'resolved' THEN l.ts END),"
    " coalesce(max(l.action = 'sla_breached'), 0),"
    " coalesce(sum(l.action = 'escalated'), 0)"
    " FROM incidents i LEFT JOIN incident_log l ON l.incident_id = i.id"
    " AND l.action IN ('acknowledged', 'resolved', 'sla_breached', 'escalated')"
    " WHERE coalesce(i.opened, 0) >= ?1 AND coalesce(i.opened, 0) < ?2"
    " GROUP BY i.id ORDER BY i.id";

int ioc_db_report(const char *path, int64_t from, int64_t to,
                  int (*cb)(const struct ioc_report_row *r, void *arg), void *arg, char *err,
                  size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (!cb) {
        ioc_set_err(err, errlen, "store: no callback");
        return IOC_EINVAL;
    }
    int rc = open_ro(path, &db, err, errlen);
    if (rc) {
        return rc;
    }
    rc = IOC_EDB;
    if (sqlite3_prepare_v2(db, sql_report, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    int step_rc;
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ioc_report_row r = {
            .id = sqlite3_column_int64(st, 0),
            .rule = col_text(st, 1),
            .grade = sqlite3_column_int(st, 2),
            .opened = sqlite3_column_int64(st, 3),
            .acked = sqlite3_column_type(st, 4) != SQLITE_NULL,
            .acked_at = sqlite3_column_int64(st, 4),
            .resolved = sqlite3_column_type(st, 5) != SQLITE_NULL,
            .resolved_at = sqlite3_column_int64(st, 5),
            .breached = sqlite3_column_int(st, 6) != 0,
            .escalations = sqlite3_column_int64(st, 7),
        };
        if (cb(&r, arg) != 0) {
            step_rc = SQLITE_DONE;
            break;
        }
    }
    if (step_rc != SQLITE_DONE) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static const char sql_archive[] = "SELECT raw, received FROM events ORDER BY rowid";
static const char sql_commands[] = "SELECT after_event, clock, body FROM commands ORDER BY id";
static const char sql_last_change[] = "SELECT coalesce(max(ts), 0) FROM incident_log";

int ioc_db_history(const char *path, struct ioc_history *h, void *arg, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ev = NULL, *cmd = NULL, *last = NULL;
    int rc = open_ro(path, &db, err, errlen);
    if (rc) {
        return rc;
    }
    rc = IOC_EDB;
    if (sqlite3_prepare_v2(db, sql_archive, -1, &ev, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql_commands, -1, &cmd, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql_last_change, -1, &last, NULL) != SQLITE_OK) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    if (sqlite3_step(last) == SQLITE_ROW) {
        h->last_change = sqlite3_column_int64(last, 0);
    }
    /* Events and commands interleaved as they happened: a command ran after
     * its after_event-th event. */
    int64_t n = 0;
    int cmd_rc = sqlite3_step(cmd);
    int ev_rc;
    while ((ev_rc = sqlite3_step(ev)) == SQLITE_ROW) {
        while (cmd_rc == SQLITE_ROW && sqlite3_column_int64(cmd, 0) <= n) {
            h->command(arg, sqlite3_column_int64(cmd, 1), col_text(cmd, 2));
            cmd_rc = sqlite3_step(cmd);
        }
        const void *raw = sqlite3_column_blob(ev, 0);
        int len = sqlite3_column_bytes(ev, 0);
        h->event(arg, raw ? raw : "", (size_t)len, sqlite3_column_int64(ev, 1));
        n++;
    }
    while (cmd_rc == SQLITE_ROW) {
        h->command(arg, sqlite3_column_int64(cmd, 1), col_text(cmd, 2));
        cmd_rc = sqlite3_step(cmd);
    }
    if (ev_rc != SQLITE_DONE || cmd_rc != SQLITE_DONE) {
        db_fail(db, path, err, errlen);
        goto done;
    }
    h->events = n;
    rc = 0;
done:
    sqlite3_finalize(ev);
    sqlite3_finalize(cmd);
    sqlite3_finalize(last);
    sqlite3_close(db);
    return rc;
}
