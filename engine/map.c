/*
 * map.c — open-addressing hash map with string keys.
 *
 * Linear probing over a power-of-two table kept at most 70% full (live keys
 * plus tombstones), so lookups stay short. The hash is FNV-1a widened by a
 * final mix; keys are compared by hash first, then bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/map.h"

#define TOMB(m) ((char *)(m))

void ioc_map_init(struct ioc_map *m)
{
    memset(m, 0, sizeof *m);
}

void ioc_map_close(struct ioc_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key && m->slots[i].key != TOMB(m)) {
            free(m->slots[i].key);
        }
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}

uint64_t ioc_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static struct ioc_map_slot *find(const struct ioc_map *m, const void *key, size_t len, uint64_t h)
{
    if (!m->cap) {
        return NULL;
    }
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct ioc_map_slot *s = &m->slots[i];
        if (!s->key) {
            return NULL;
        }
        if (s->key != TOMB(m) && s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            return s;
        }
    }
}

static int grow(struct ioc_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    /* Rehash in place of tombstones when most of the use is tombstones. */
    if (m->cap && m->n * 2 < m->cap * 7 / 10) {
        ncap = m->cap;
    }
    struct ioc_map_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) {
        return IOC_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        struct ioc_map_slot *s = &m->slots[i];
        if (!s->key || s->key == TOMB(m)) {
            continue;
        }
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key) {
            j = (j + 1) & (ncap - 1);
        }
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->n;
    return 0;
}

void *ioc_map_get(const struct ioc_map *m, const void *key, size_t len)
{
    struct ioc_map_slot *s = find(m, key, len, ioc_hash(key, len));
    return s ? s->val : NULL;
}

int ioc_map_put(struct ioc_map *m, const void *key, size_t len, void *val)
{
    uint64_t h = ioc_hash(key, len);
    struct ioc_map_slot *s = find(m, key, len, h);
    if (s) {
        s->val = val;
        return 0;
    }
    if ((m->used + 1) * 10 > m->cap * 7) {
        int rc = grow(m);
        if (rc) {
            return rc;
        }
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        return IOC_ENOMEM;
    }
    memcpy(copy, key, len);
    copy[len] = 0;
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB(m)) {
        i = (i + 1) & mask;
    }
    if (!m->slots[i].key) {
        m->used++;
    }
    m->slots[i] = (struct ioc_map_slot){copy, len, h, val};
    m->n++;
    return 0;
}

void *ioc_map_del(struct ioc_map *m, const void *key, size_t len)
{
    struct ioc_map_slot *s = find(m, key, len, ioc_hash(key, len));
    if (!s) {
        return NULL;
    }
    void *v = s->val;
    free(s->key);
    s->key = TOMB(m);
    s->val = NULL;
    m->n--;
    return v;
}

int ioc_map_next(const struct ioc_map *m, size_t *i, const char **key, size_t *len, void **val)
{
    while (*i < m->cap) {
        struct ioc_map_slot *s = &m->slots[(*i)++];
        if (s->key && s->key != TOMB(m)) {
            if (key) {
                *key = s->key;
            }
            if (len) {
                *len = s->len;
            }
            if (val) {
                *val = s->val;
            }
            return 1;
        }
    }
    return 0;
}
