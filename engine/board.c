/*
 * board.c — the operator board's model (board.h): a sorted table of open
 * incidents, loaded from a `list` reply and kept current by the published
 * changes, with the sequence bookkeeping that says when it must be reloaded.
 *
 * Each row owns the incident object as the engine last sent it, whole, and
 * points its typed fields into it: the engine's JSON is the truth and the
 * board never edits an incident itself, it only replaces it with the next
 * version. A change to one incident re-sorts the table (insertion sort on a
 * nearly sorted array: a board holds tens to a few hundred rows).
 *
 * A load builds the new table aside and swaps it in, so a bad or partial
 * reply leaves the previous table on the screen.
 *
 * Threads: a board belongs to one thread. No global state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ioc/board.h"
#include "ioc/error.h"
#include "ioc/event.h"

#define SOON_MS 60000 /* the last minute of an SLA clock is shown as urgent */

/* ---- Reading an incident object ------------------------------------------ */

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long int_of(const cJSON *o, const char *name, long long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? (long long)v->valuedouble : dflt;
}

/* RFC 3339 text or epoch ms. */
static int64_t time_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    int64_t ms;
    if (cJSON_IsString(v) && ioc_time_parse(v->valuestring, &ms) == 0) {
        return ms;
    }
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        return (int64_t)v->valuedouble;
    }
    return IOC_BOARD_NO_TIME;
}

/* Resolved and closed incidents are done: they leave the board. */
static bool finished(const char *state)
{
    return state && (strcmp(state, "resolved") == 0 || strcmp(state, "closed") == 0);
}

/* Points the row's fields into json, which it takes. */
static void row_fill(struct ioc_board_row *r, cJSON *json)
{
    r->json = json;
    r->id = int_of(json, "id", -1);
    r->grade = (int)int_of(json, "grade", 0);
    if (r->grade < 1 || r->grade > 9) {
        r->grade = 0;
    }
    r->grade_name = str_of(json, "grade_name");
    r->state = str_of(json, "state");
    if (!r->state) {
        r->state = "?";
    }
    r->rule = str_of(json, "rule");
    r->title = str_of(json, "title");
    r->zone = str_of(json, "zone");
    r->category = str_of(json, "category");
    r->escalation = str_of(json, "escalation");
    r->acked_by = str_of(json, "acked_by");
    r->key = cJSON_GetObjectItemCaseSensitive(json, "key");
    r->sop = cJSON_GetObjectItemCaseSensitive(json, "sop");
    if (!cJSON_IsArray(r->sop)) {
        r->sop = NULL;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(json, "warning");
    r->warning_state = cJSON_IsObject(w) ? str_of(w, "state") : NULL;
    r->warning_approve = cJSON_IsObject(w) ? cJSON_GetObjectItemCaseSensitive(w, "approve") : NULL;
    if (!cJSON_IsArray(r->warning_approve)) {
        r->warning_approve = NULL;
    }
    r->opened = time_of(json, "opened");
    r->updated = time_of(json, "updated");
    r->sla_due = time_of(json, "sla_due");
    r->sla_breached = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "sla_breached"));
    r->escalation_level = (int)int_of(json, "escalation_level", -1);
    r->count = int_of(json, "count", 0);
}

static void row_free(struct ioc_board_row *r)
{
    cJSON_Delete(r->json);
    r->json = NULL;
}

static void row_mark(struct ioc_board_row *r, const char *change, double mono_ms)
{
    snprintf(r->change, sizeof r->change, "%s", change ? change : "");
    r->changed_mono = mono_ms;
}

/* ---- Order ---------------------------------------------------------------- */

/* Most severe first; within a grade the oldest first, since it has waited
 * longest; the id breaks ties so the order never depends on arrival. */
static int row_cmp(const struct ioc_board_row *a, const struct ioc_board_row *b)
{
    int ga = a->grade ? a->grade : 100, gb = b->grade ? b->grade : 100;
    if (ga != gb) {
        return ga < gb ? -1 : 1;
    }
    if (a->opened != b->opened) {
        /* An unknown opening time (INT64_MIN) sorts after every known one. */
        if (a->opened == IOC_BOARD_NO_TIME || b->opened == IOC_BOARD_NO_TIME) {
            return a->opened == IOC_BOARD_NO_TIME ? 1 : -1;
        }
        return a->opened < b->opened ? -1 : 1;
    }
    return a->id < b->id ? -1 : a->id > b->id;
}

static void rows_sort(struct ioc_board_row *rows, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct ioc_board_row r = rows[i];
        size_t j = i;
        for (; j > 0 && row_cmp(&rows[j - 1], &r) > 0; j--) {
            rows[j] = rows[j - 1];
        }
        rows[j] = r;
    }
}

static int rows_reserve(struct ioc_board_row **rows, size_t *cap, size_t want)
{
    if (want <= *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap * 2 : 32;
    while (ncap < want) {
        ncap *= 2;
    }
    struct ioc_board_row *nr = realloc(*rows, ncap * sizeof *nr);
    if (!nr) {
        return IOC_ENOMEM;
    }
    *rows = nr;
    *cap = ncap;
    return 0;
}

/* ---- The board -------------------------------------------------------------- */

void ioc_board_init(struct ioc_board *b)
{
    memset(b, 0, sizeof *b);
    b->engine_now = IOC_BOARD_NO_TIME;
}

void ioc_board_close(struct ioc_board *b)
{
    for (size_t i = 0; i < b->n; i++) {
        row_free(&b->rows[i]);
    }
    free(b->rows);
    b->rows = NULL;
    b->n = b->cap = 0;
    b->synced = false;
}

int ioc_board_load(struct ioc_board *b, const cJSON *reply, double mono_ms)
{
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(reply, "seq");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(reply, "incidents");
    if (!cJSON_IsNumber(seq) || !isfinite(seq->valuedouble) || !cJSON_IsArray(list)) {
        return IOC_EINVAL;
    }
    struct ioc_board_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    const cJSON *inc;
    cJSON_ArrayForEach(inc, list)
    {
        if (!cJSON_IsObject(inc) || finished(str_of(inc, "state"))) {
            continue;
        }
        cJSON *copy = cJSON_Duplicate(inc, true);
        if (!copy || (rc = rows_reserve(&rows, &cap, n + 1)) != 0) {
            cJSON_Delete(copy);
            rc = IOC_ENOMEM;
            goto fail;
        }
        memset(&rows[n], 0, sizeof rows[n]);
        row_fill(&rows[n], copy);
        /* Rows keep their last-change mark across a reload, so a resync does
         * not make the whole board look new. */
        long old = ioc_board_find(b, rows[n].id);
        if (old >= 0) {
            memcpy(rows[n].change, b->rows[old].change, sizeof rows[n].change);
            rows[n].changed_mono = b->rows[old].changed_mono;
        } else {
            row_mark(&rows[n], "", mono_ms - 1e9); /* long ago: not highlighted */
        }
        n++;
    }
    rows_sort(rows, n);

    for (size_t i = 0; i < b->n; i++) {
        row_free(&b->rows[i]);
    }
    free(b->rows);
    b->rows = rows;
    b->n = n;
    b->cap = cap;
    b->synced = true;
    b->list_seq = b->applied = (long long)seq->valuedouble;
    b->missed = 0;
    int64_t now = time_of(reply, "now");
    if (now != IOC_BOARD_NO_TIME) {
        b->engine_now = now;
        b->now_mono = mono_ms;
    }
    return 0;

fail:
    for (size_t i = 0; i < n; i++) {
        row_free(&rows[i]);
    }
    free(rows);
    return rc;
}

void ioc_board_unsync(struct ioc_board *b)
{
    b->synced = false;
}

enum ioc_board_step ioc_board_sequence(struct ioc_board *b, long long seq)
{
    /* The stream itself is in order, so a step back on it can only mean the
     * engine numbers from the start again. */
    bool backwards = b->have_last && seq <= b->last;
    b->have_last = true;
    b->last = seq;
    if (!b->synced) {
        return IOC_BOARD_SKIPPED; /* the next list holds it */
    }
    if (seq == b->applied + 1) {
        /* Checked before the restart test: after a list from a restarted
         * engine, its next message is the right one even though the old
         * engine's numbers on the stream were higher. */
        b->applied = seq;
        return IOC_BOARD_APPLIED;
    }
    if (seq > b->applied + 1) {
        b->missed = seq - b->applied - 1;
        b->synced = false;
        return IOC_BOARD_GAP;
    }
    if (backwards) {
        b->synced = false;
        return IOC_BOARD_RESTART;
    }
    /* Published while the list was being answered: the list has it. */
    return IOC_BOARD_SKIPPED;
}

long ioc_board_find(const struct ioc_board *b, long long id)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->rows[i].id == id) {
            return (long)i;
        }
    }
    return -1;
}

/* Applies one incident change; msg is the whole message, inc its incident
 * object (taken from msg here). */
static enum ioc_board_step apply(struct ioc_board *b, cJSON *msg, double mono_ms)
{
    cJSON *inc = cJSON_DetachItemFromObjectCaseSensitive(msg, "incident");
    const char *change = str_of(msg, "change");
    long long id = int_of(inc, "id", -1);
    if (!cJSON_IsObject(inc) || id < 0) {
        cJSON_Delete(inc);
        return IOC_BOARD_BAD;
    }
    /* The message says the level it escalated to even when the incident
     * object does not carry it yet. */
    const cJSON *esc = cJSON_GetObjectItemCaseSensitive(msg, "escalation");
    if (cJSON_IsObject(esc) && !cJSON_GetObjectItemCaseSensitive(inc, "escalation_level") &&
        cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(esc, "level"))) {
        cJSON_AddNumberToObject(inc, "escalation_level", int_of(esc, "level", -1));
    }

    long at = ioc_board_find(b, id);
    bool gone = finished(str_of(inc, "state")) ||
                (change && (strcmp(change, "resolved") == 0 || strcmp(change, "closed") == 0));
    if (gone) {
        if (at >= 0) {
            row_free(&b->rows[at]);
            memmove(&b->rows[at], &b->rows[at + 1], (b->n - (size_t)at - 1) * sizeof b->rows[0]);
            b->n--;
        }
        cJSON_Delete(inc);
        return IOC_BOARD_APPLIED;
    }
    if (at < 0) {
        if (rows_reserve(&b->rows, &b->cap, b->n + 1) != 0) {
            /* The change is lost to us: reload the table rather than show a
             * board that silently lacks an incident. */
            cJSON_Delete(inc);
            b->synced = false;
            return IOC_BOARD_GAP;
        }
        at = (long)b->n++;
    } else {
        row_free(&b->rows[at]);
    }
    struct ioc_board_row *r = &b->rows[at];
    memset(r, 0, sizeof *r);
    row_fill(r, inc);
    row_mark(r, change, mono_ms);
    rows_sort(b->rows, b->n);
    return IOC_BOARD_APPLIED;
}

enum ioc_board_step ioc_board_receive(struct ioc_board *b, const char *topic, const char *body,
                                      size_t len, double mono_ms)
{
    cJSON *msg = cJSON_ParseWithLength(body, len);
    enum ioc_board_step step = IOC_BOARD_BAD;
    if (!cJSON_IsObject(msg)) {
        goto done;
    }
    bool cap = topic && strncmp(topic, "cap.", 4) == 0;
    if (!cap && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "incident"))) {
        goto done; /* checked before sequencing: an unreadable message is not a step */
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(msg, "seq");
    if (cJSON_IsNumber(seq) && isfinite(seq->valuedouble)) {
        step = ioc_board_sequence(b, (long long)seq->valuedouble);
    } else {
        step = b->synced ? IOC_BOARD_APPLIED : IOC_BOARD_SKIPPED;
    }
    if (step == IOC_BOARD_APPLIED && !cap) {
        step = apply(b, msg, mono_ms);
    }

done:
    cJSON_Delete(msg);
    return step;
}

/* ---- Clocks ----------------------------------------------------------------- */

int64_t ioc_board_now(const struct ioc_board *b, double mono_ms)
{
    if (b->engine_now == IOC_BOARD_NO_TIME) {
        return IOC_BOARD_NO_TIME;
    }
    return b->engine_now + (int64_t)llround(mono_ms - b->now_mono);
}

/* "mm:ss" of a duration in whole seconds (minutes may pass 59). */
static void mmss(char *buf, size_t n, const char *prefix, long long secs)
{
    snprintf(buf, n, "%s%02lld:%02lld", prefix, secs / 60, secs % 60);
}

enum ioc_board_sla ioc_board_sla_text(const struct ioc_board_row *r, int64_t now, char *buf,
                                      size_t n)
{
    /* The SLA is the time to acknowledge: once acknowledged, no clock runs. */
    bool open = strcmp(r->state, "open") == 0;
    if (!open || (r->sla_due == IOC_BOARD_NO_TIME && !r->sla_breached)) {
        snprintf(buf, n, "-");
        return IOC_BOARD_SLA_NONE;
    }
    if (r->sla_due == IOC_BOARD_NO_TIME || (now == IOC_BOARD_NO_TIME && r->sla_breached)) {
        snprintf(buf, n, "BREACH");
        return IOC_BOARD_SLA_BREACHED;
    }
    if (now == IOC_BOARD_NO_TIME) {
        snprintf(buf, n, "?");
        return IOC_BOARD_SLA_RUNNING;
    }
    int64_t left = r->sla_due - now;
    if (r->sla_breached || left <= 0) {
        /* Whole seconds past due, rounded down: "-00:00" at the due time. */
        mmss(buf, n, "BREACH -", left < 0 ? (long long)(-left / 1000) : 0);
        return IOC_BOARD_SLA_BREACHED;
    }
    /* Rounded up, so "00:00" is never shown while time is left. */
    mmss(buf, n, "", (long long)((left + 999) / 1000));
    return left <= SOON_MS ? IOC_BOARD_SLA_SOON : IOC_BOARD_SLA_RUNNING;
}
