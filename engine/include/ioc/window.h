/*
 * window.h — a sliding event-time window of one rule key.
 *
 * Holds the (time, value) of the matching events of the last `window` of
 * event time, in arrival order, for count and aggregate clauses. Distinct
 * counting keeps a multiset of value hashes beside the queue, so it is O(1)
 * per event instead of a scan. Time is always an argument: the window never
 * reads a clock, so tests drive it with any times they like.
 *
 * Single-threaded (the loop thread).
 */
#ifndef IOC_WINDOW_H
#define IOC_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioc/map.h"

enum ioc_agg_fn { IOC_AGG_AVG, IOC_AGG_MIN, IOC_AGG_MAX, IOC_AGG_SUM, IOC_AGG_RATE };

/* 16 bytes: a key's window costs little when it holds few events, which is
 * what most keys of a city hold (one gauge, a few readings). */
struct ioc_window_item {
    int64_t ts;
    union {
        double v;   /* the value aggregated */
        uint64_t h; /* distinct windows: the hash of the distinct field's value */
    } u;
};

#define IOC_WINDOW_INLINE 2

struct ioc_window {
    struct ioc_window_item *items; /* ring buffer; NULL while `small` holds it */
    double sum;                    /* running sum of v (not for distinct windows) */
    uint32_t cap, head, n;
    bool distinct;
    struct ioc_map *seen; /* distinct: hash (8 bytes) -> occurrences; made on first use */
    struct ioc_window_item small[IOC_WINDOW_INLINE];
};

void ioc_window_init(struct ioc_window *w, bool distinct);
void ioc_window_close(struct ioc_window *w);
/* Appends one event: its value v, or for a distinct window the hash h of
 * its distinct value (v is then ignored). 0 or IOC_ENOMEM (nothing added). */
int ioc_window_push(struct ioc_window *w, int64_t ts, double v, uint64_t h);
/* Drops the events at or before `before` (event time). */
void ioc_window_evict(struct ioc_window *w, int64_t before);
/* Events in the window, or distinct values when the window counts distinct. */
int64_t ioc_window_count(const struct ioc_window *w);
/* The aggregate of v over the window; false when empty. RATE is the change
 * of v per hour between the first and the last event (0 for one event). */
bool ioc_window_agg(const struct ioc_window *w, enum ioc_agg_fn fn, double *out);
/* "avg" ... as written in rule files; -1 when unknown. */
int ioc_agg_parse(const char *name);
const char *ioc_agg_name(enum ioc_agg_fn fn);

#endif
