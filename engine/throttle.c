/*
 * throttle.c — at most one record per key and interval (see throttle.h).
 *
 * A small array searched from end to end: it holds the keys written within
 * the last interval, a handful in practice, and a refusal is rare next to
 * the work of an event. The slot reused when all are taken is the one
 * written longest ago, whose interval is the nearest to ending anyway.
 *
 * Threads: the caller's; no global state.
 */
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/throttle.h"

int ioc_throttle_init(struct ioc_throttle *t, size_t cap, int64_t interval)
{
    memset(t, 0, sizeof *t);
    t->slots = calloc(cap ? cap : 1, sizeof *t->slots);
    if (!t->slots) {
        return IOC_ENOMEM;
    }
    t->cap = cap ? cap : 1;
    t->interval = interval;
    return 0;
}

void ioc_throttle_close(struct ioc_throttle *t)
{
    for (size_t i = 0; t->slots && i < t->cap; i++) {
        free(t->slots[i].key);
    }
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Whether the interval after the slot's last written record is over. */
static int ended(const struct ioc_throttle *t, const struct ioc_throttle_slot *s, int64_t now)
{
    return now == INT64_MAX || now - s->written >= t->interval;
}

static void release(struct ioc_throttle_slot *s, ioc_throttle_fn fn, void *arg)
{
    if (s->held && fn) {
        fn(arg, s->key, s->len, s->held, s->last);
    }
    free(s->key);
    memset(s, 0, sizeof *s);
}

uint64_t ioc_throttle_admit(struct ioc_throttle *t, const char *key, size_t len, int64_t now,
                            ioc_throttle_fn fn, void *arg)
{
    struct ioc_throttle_slot *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < t->cap; i++) {
        struct ioc_throttle_slot *s = &t->slots[i];
        if (!s->key) {
            free_slot = free_slot ? free_slot : s;
            continue;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0) {
            if (!ended(t, s, now)) {
                s->held++;
                s->last = now;
                return 0;
            }
            uint64_t n = s->held + 1;
            s->held = 0;
            s->written = now;
            return n;
        }
        if (!oldest || s->written < oldest->written) {
            oldest = s;
        }
    }
    struct ioc_throttle_slot *s = free_slot ? free_slot : oldest;
    if (!s) {
        return 1;
    }
    if (s->key) {
        release(s, fn, arg);
    }
    if (!(s->key = malloc(len ? len : 1))) {
        return 1;
    }
    memcpy(s->key, key, len);
    s->len = len;
    s->written = now;
    return 1;
}

void ioc_throttle_expire(struct ioc_throttle *t, int64_t now, ioc_throttle_fn fn, void *arg)
{
    for (size_t i = 0; i < t->cap; i++) {
        struct ioc_throttle_slot *s = &t->slots[i];
        if (!s->key || !ended(t, s, now)) {
            continue;
        }
        if (!s->held) {
            release(s, fn, arg);
            continue;
        }
        /* Handing the count out is the key's record for this interval. */
        if (fn) {
            fn(arg, s->key, s->len, s->held, s->last);
        }
        s->held = 0;
        s->written = now;
    }
}
