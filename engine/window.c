/*
 * window.c — sliding event-time windows for count and aggregate clauses.
 *
 * Items arrive in nearly ascending event time (the watermark bounds how far
 * back one may be), so eviction pops from the head while the head is old
 * enough. An event that arrived out of order by less than the lateness may sit
 * behind a newer one for a moment; it is evicted with it, which errs towards
 * keeping evidence rather than losing it. min and max scan the window: windows
 * are short and the scan touches one cache-friendly array.
 */
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/window.h"

void ioc_window_init(struct ioc_window *w, bool distinct)
{
    memset(w, 0, sizeof *w);
    w->distinct = distinct;
    w->cap = IOC_WINDOW_INLINE;
}

void ioc_window_close(struct ioc_window *w)
{
    free(w->items);
    if (w->seen) {
        ioc_map_close(w->seen);
        free(w->seen);
    }
    memset(w, 0, sizeof *w);
}

static struct ioc_window_item *ring(const struct ioc_window *w)
{
    return w->items ? w->items : (struct ioc_window_item *)w->small;
}

static struct ioc_window_item *at(const struct ioc_window *w, size_t i)
{
    return &ring(w)[(w->head + i) % w->cap];
}

/* Counts one more (d = +1) or one fewer (d = -1) occurrence of hash h. */
static int seen_add(struct ioc_window *w, uint64_t h, int d)
{
    uintptr_t c = (uintptr_t)ioc_map_get(w->seen, &h, sizeof h);
    if (d < 0 && c <= 1) {
        ioc_map_del(w->seen, &h, sizeof h);
        return 0;
    }
    return ioc_map_put(w->seen, &h, sizeof h, (void *)(c + (uintptr_t)(intptr_t)d));
}

int ioc_window_push(struct ioc_window *w, int64_t ts, double v, uint64_t h)
{
    if (w->n == w->cap) {
        uint32_t nc = w->cap * 2;
        struct ioc_window_item *ni = malloc(nc * sizeof *ni);
        if (!ni) {
            return IOC_ENOMEM;
        }
        for (uint32_t i = 0; i < w->n; i++) {
            ni[i] = *at(w, i);
        }
        free(w->items);
        w->items = ni;
        w->cap = nc;
        w->head = 0;
    }
    struct ioc_window_item it = {.ts = ts};
    if (w->distinct) {
        if (!w->seen) {
            if (!(w->seen = malloc(sizeof *w->seen))) {
                return IOC_ENOMEM;
            }
            ioc_map_init(w->seen);
        }
        if (seen_add(w, h, +1) != 0) {
            return IOC_ENOMEM;
        }
        it.u.h = h;
    } else {
        it.u.v = v;
        w->sum += v;
    }
    *at(w, w->n) = it;
    w->n++;
    return 0;
}

void ioc_window_evict(struct ioc_window *w, int64_t before)
{
    while (w->n > 0 && at(w, 0)->ts <= before) {
        struct ioc_window_item *it = at(w, 0);
        if (w->distinct) {
            seen_add(w, it->u.h, -1);
        } else {
            w->sum -= it->u.v;
        }
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    if (w->n == 0) {
        w->sum = 0; /* no drift from repeated float subtraction */
    }
}

int64_t ioc_window_count(const struct ioc_window *w)
{
    return w->distinct ? (w->seen ? (int64_t)w->seen->n : 0) : (int64_t)w->n;
}

bool ioc_window_agg(const struct ioc_window *w, enum ioc_agg_fn fn, double *out)
{
    if (w->n == 0) {
        return false;
    }
    switch (fn) {
    case IOC_AGG_SUM:
        *out = w->sum;
        return true;
    case IOC_AGG_AVG:
        *out = w->sum / (double)w->n;
        return true;
    case IOC_AGG_MIN:
    case IOC_AGG_MAX: {
        double best = at(w, 0)->u.v;
        for (uint32_t i = 1; i < w->n; i++) {
            double v = at(w, i)->u.v;
            if (fn == IOC_AGG_MIN ? v < best : v > best) {
                best = v;
            }
        }
        *out = best;
        return true;
    }
    case IOC_AGG_RATE: {
        const struct ioc_window_item *a = at(w, 0), *b = at(w, w->n - 1);
        *out = b->ts > a->ts ? (b->u.v - a->u.v) * 3600000.0 / (double)(b->ts - a->ts) : 0;
        return true;
    }
    }
    return false;
}

static const char *const agg_names[] = {"avg", "min", "max", "sum", "rate"};

int ioc_agg_parse(const char *name)
{
    for (int i = 0; i < 5; i++) {
        if (strcmp(name, agg_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *ioc_agg_name(enum ioc_agg_fn fn)
{
    return (int)fn >= 0 && fn <= IOC_AGG_RATE ? agg_names[fn] : "?";
}
