/*
 * timer.c — a binary min-heap of event-time timers, ordered by (due, seq).
 */
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/timer.h"

void ioc_timers_init(struct ioc_timers *t)
{
    memset(t, 0, sizeof *t);
}

void ioc_timers_close(struct ioc_timers *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->heap[i].key);
    }
    free(t->heap);
    memset(t, 0, sizeof *t);
}

static int before(const struct ioc_timer *a, const struct ioc_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void swap(struct ioc_timer *a, struct ioc_timer *b)
{
    struct ioc_timer x = *a;
    *a = *b;
    *b = x;
}

int ioc_timers_add(struct ioc_timers *t, int64_t due, int kind, uint32_t rule, int64_t ref,
                   const char *key, size_t keylen)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        struct ioc_timer *nh = realloc(t->heap, nc * sizeof *nh);
        if (!nh) {
            return IOC_ENOMEM;
        }
        t->heap = nh;
        t->cap = nc;
    }
    char *k = malloc(keylen + 1);
    if (!k) {
        return IOC_ENOMEM;
    }
    memcpy(k, key, keylen);
    k[keylen] = 0;
    size_t i = t->n++;
    t->heap[i] = (struct ioc_timer){due, t->seq++, kind, rule, ref, k, keylen};
    while (i > 0 && before(&t->heap[i], &t->heap[(i - 1) / 2])) {
        swap(&t->heap[i], &t->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    return 0;
}

const struct ioc_timer *ioc_timers_peek(const struct ioc_timers *t)
{
    return t->n ? &t->heap[0] : NULL;
}

int ioc_timers_pop(struct ioc_timers *t, struct ioc_timer *out)
{
    if (t->n == 0) {
        return IOC_EINVAL;
    }
    *out = t->heap[0];
    t->heap[0] = t->heap[--t->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && before(&t->heap[l], &t->heap[m])) {
            m = l;
        }
        if (r < t->n && before(&t->heap[r], &t->heap[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        swap(&t->heap[i], &t->heap[m]);
        i = m;
    }
    return 0;
}
