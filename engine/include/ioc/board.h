/*
 * board.h — the model behind the operator's live board (`ioc console` on a
 * terminal): the table of open incidents, kept from a `list` reply plus the
 * changes published after it, and the decisions about when that table can no
 * longer be trusted.
 *
 * The drawing (ncurses) lives in the ioc program; everything that decides
 * something lives here, takes the time as an argument and prints nothing, so
 * the tests drive it with JSON text and explicit clocks.
 *
 * Sequence rules. Every published message carries "seq", one more than the
 * message before it. A list reply says the seq it reflects (L). After it:
 *   - seq <= L arriving in order: published before the list was answered and
 *     already in it; skipped;
 *   - seq == last applied + 1: applied;
 *   - seq > last applied + 1: messages were lost (the PUB socket's high-water
 *     mark, a reconnect): the table is stale, ask for a new list;
 *   - seq <= the previous message's seq on the stream: the numbering began
 *     again, the engine restarted: ask for a new list.
 * Until a list is loaded, changes are skipped: the list will hold them.
 *
 * Two clocks: the caller's monotonic clock (mono_ms, for "how long since")
 * and the engine's event-time clock (ms since the epoch), known from the
 * list's "now" and advanced by the monotonic time elapsed since.
 *
 * Threads: one board is used by one thread; no global state.
 */
#ifndef IOC_BOARD_H
#define IOC_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* A time that is not known (a field missing from the message). */
#define IOC_BOARD_NO_TIME INT64_MIN

/* One incident on the board. The strings and arrays borrow from json and
 * live as long as the row; fields missing from the message are NULL, 0 or
 * IOC_BOARD_NO_TIME. */
struct ioc_board_row {
    struct cJSON *json; /* the incident object as last received; owned */
    long long id;
    int grade; /* 1 most severe .. 4; 0 when missing (sorts last) */
    const char *grade_name;
    const char *state; /* "open", "acknowledged"; never NULL ("?" when missing) */
    const char *rule, *title, *zone, *category, *escalation, *acked_by;
    const struct cJSON *key;             /* object of key field -> value */
    const struct cJSON *sop;             /* array of strings: the checklist */
    const char *warning_state;           /* public warning: pending, published, cancelled */
    const struct cJSON *warning_approve; /* array of roles that must approve */
    int64_t opened, updated, sla_due;    /* event time, ms */
    bool sla_breached;
    int escalation_level; /* -1: not escalated */
    long long count;
    char change[24];     /* the change that last touched the row ("opened", ...) */
    double changed_mono; /* when that was, on the caller's monotonic clock */
};

struct ioc_board {
    struct ioc_board_row *rows; /* sorted: grade, then oldest first, then id */
    size_t n, cap;
    bool synced;        /* rows = a list reply plus every change after it */
    long long list_seq; /* the seq the last list reply reflected */
    long long applied;  /* the seq of the last change applied (list_seq after a load) */
    bool have_last;     /* a message with a seq has been seen on the stream */
    long long last;     /* its seq, applied or not */
    long long missed;   /* messages lost, at the last gap */
    int64_t engine_now; /* the engine's clock at now_mono; IOC_BOARD_NO_TIME unknown */
    double now_mono;
};

/* What became of one published message. */
enum ioc_board_step {
    IOC_BOARD_APPLIED, /* the table changed (or a notice, for cap.* topics) */
    IOC_BOARD_SKIPPED, /* already in the table, or no table yet */
    IOC_BOARD_GAP,     /* messages were lost: load a new list (b->missed says how many) */
    IOC_BOARD_RESTART, /* the numbering began again: load a new list */
    IOC_BOARD_BAD,     /* not a change message: no JSON object, no incident id */
};

/* How an SLA clock reads. */
enum ioc_board_sla {
    IOC_BOARD_SLA_NONE,     /* no clock: no SLA for the grade, or acknowledged */
    IOC_BOARD_SLA_RUNNING,  /* counting down */
    IOC_BOARD_SLA_SOON,     /* counting down, a minute or less left */
    IOC_BOARD_SLA_BREACHED, /* the engine says breached, or the due time is past */
};

/* An empty board, not synced. */
void ioc_board_init(struct ioc_board *b);
/* Frees the rows; accepts a board that was only zeroed or initialised. */
void ioc_board_close(struct ioc_board *b);

/* Replaces the table with a list reply ({"ok", "seq", "now", "incidents"};
 * borrowed) received at mono_ms, and marks the board synced. Incidents that
 * are resolved or closed are left out. Returns 0, IOC_EINVAL for a reply
 * without a numeric "seq" or an "incidents" array (the board is unchanged),
 * or IOC_ENOMEM (the board is unchanged). */
int ioc_board_load(struct ioc_board *b, const struct cJSON *reply, double mono_ms);

/* Marks the table stale, so changes are skipped until the next load. */
void ioc_board_unsync(struct ioc_board *b);

/* Decides what to do with a message carrying seq (see the sequence rules
 * above) and records it; on a gap or a restart the board is no longer synced.
 * Returns APPLIED for "apply it", SKIPPED, GAP or RESTART. */
enum ioc_board_step ioc_board_sequence(struct ioc_board *b, long long seq);

/* One published message: topic (borrowed; "incident.<grade>.<zone>" or
 * "cap.*") and its JSON body, received at mono_ms. Sequences it, then applies
 * an incident change: resolved and closed incidents leave the table, others
 * are added or replaced whole. A cap.* message is only sequenced (APPLIED
 * means "show it as a notice"). A message without a seq is applied when the
 * board is synced. IOC_BOARD_BAD changes nothing. */
enum ioc_board_step ioc_board_receive(struct ioc_board *b, const char *topic, const char *body,
                                      size_t len, double mono_ms);

/* The row of incident id, or -1. */
long ioc_board_find(const struct ioc_board *b, long long id);

/* The engine's clock at mono_ms, or IOC_BOARD_NO_TIME before any list said. */
int64_t ioc_board_now(const struct ioc_board *b, double mono_ms);

/* The SLA clock of r at engine time now, as text into buf (size n): "mm:ss"
 * left until sla_due (minutes may pass 59), "BREACH -mm:ss" past it,
 * "BREACH" when breached with no due time known, "-" when no clock runs, "?"
 * when the engine's clock is not known yet. */
enum ioc_board_sla ioc_board_sla_text(const struct ioc_board_row *r, int64_t now, char *buf,
                                      size_t n);

#endif
