/*
 * timer.h — event-time timers: a min-heap ordered by due time.
 *
 * Windows, absences and resolutions schedule work at an event time; the
 * engine fires every timer whose due time the clock (the watermark) has
 * reached, in due order. Equal due times fire in the order they were set
 * (a sequence number breaks the tie), so firing is deterministic and a
 * replay at any speed fires the same timers in the same order.
 *
 * A timer names what it is for by kind, rule and key (copied), never by a
 * pointer, so the state it refers to may be freed or replaced meanwhile; the
 * engine checks on firing that the timer is still current. Single-threaded.
 */
#ifndef IOC_TIMER_H
#define IOC_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct ioc_timer {
    int64_t due;
    uint64_t seq;
    int kind;
    uint32_t rule;
    int64_t ref; /* e.g. the incident id it was set for */
    char *key;   /* owned */
    size_t keylen;
};

struct ioc_timers {
    struct ioc_timer *heap;
    size_t n, cap;
    uint64_t seq;
};

void ioc_timers_init(struct ioc_timers *t);
void ioc_timers_close(struct ioc_timers *t);
/* Schedules a timer (copies key). 0 or IOC_ENOMEM. */
int ioc_timers_add(struct ioc_timers *t, int64_t due, int kind, uint32_t rule, int64_t ref,
                   const char *key, size_t keylen);
/* The earliest timer, or NULL. */
const struct ioc_timer *ioc_timers_peek(const struct ioc_timers *t);
/* Removes the earliest timer into *out; the caller frees out->key. */
int ioc_timers_pop(struct ioc_timers *t, struct ioc_timer *out);

#endif
