/*
 * map.c — open-addressing hash map with string keys.
 *
 * Linear probing over a power-of-two table kept at most 70% full (live keys
 * plus tombstones), so lookups stay short. The hash is FNV-1a widened by a
 * final mix; keys are compared by hash first, then bytes.
 *
 * Growth is incremental. Moving a million keys in one go takes tens of
 * milliseconds, and a map of every rule key's window in a large city would
 * stall the loop for that long each time it doubles or sheds its
 * tombstones. So a full table is only replaced: the new one takes the
 * inserts, lookups try the new one and then the old one, and every insert
 * moves the next MIGRATE_STEP slots of the old table across. The old one is
 * empty before the new one can fill, so there are never more than two.
 * Deletes and lookups move nothing, which keeps iteration valid across them.
 */
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/map.h"

#define TOMB(m) ((char *)(m))
/* Old slots moved per insert while a table is replaced. The old table is
 * empty after old_cap/MIGRATE_STEP inserts; the new one starts at most 35%
 * full, so 4 is the smallest step that empties the old table before the new
 * one reaches 70%, also when a table sheds its tombstones into one of the
 * same size (35% + 25%). Smaller is gentler: a move is a cache miss, and
 * while two tables live every insert probes both, so the extra cost per
 * insert is what matters to latency, not the length of the move. */
#define MIGRATE_STEP 4

void ioc_map_init(struct ioc_map *m)
{
    memset(m, 0, sizeof *m);
}

void ioc_map_init_borrowed(struct ioc_map *m)
{
    ioc_map_init(m);
    m->borrowed = 1;
}

static void free_keys(const struct ioc_map *m, struct ioc_map_slot *slots, size_t cap)
{
    for (size_t i = 0; i < cap && !m->borrowed; i++) {
        if (slots[i].key && slots[i].key != TOMB(m)) {
            free(slots[i].key);
        }
    }
}

void ioc_map_close(struct ioc_map *m)
{
    free_keys(m, m->slots, m->cap);
    free_keys(m, m->old, m->old_cap);
    free(m->slots);
    free(m->old);
    int borrowed = m->borrowed;
    memset(m, 0, sizeof *m);
    m->borrowed = borrowed;
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

static struct ioc_map_slot *probe(const struct ioc_map *m, struct ioc_map_slot *slots, size_t cap,
                                  const void *key, size_t len, uint64_t h)
{
    if (!cap) {
        return NULL;
    }
    size_t mask = cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct ioc_map_slot *s = &slots[i];
        if (!s->key) {
            return NULL;
        }
        if (s->key != TOMB(m) && s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            return s;
        }
    }
}

static struct ioc_map_slot *find(const struct ioc_map *m, const void *key, size_t len, uint64_t h)
{
    struct ioc_map_slot *s = probe(m, m->slots, m->cap, key, len, h);
    return s ? s : probe(m, m->old, m->old_cap, key, len, h);
}

/* The slot of the new table where a key of hash h goes (it is not there). */
static struct ioc_map_slot *place(struct ioc_map *m, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB(m)) {
        i = (i + 1) & mask;
    }
    if (!m->slots[i].key) {
        m->used++;
    }
    return &m->slots[i];
}

/* Moves the next slots of the old table into the new one. A moved slot
 * becomes a tombstone, not empty, so the old table's probe chains still
 * reach the keys behind it. */
static void migrate(struct ioc_map *m, size_t steps)
{
    while (m->old && steps--) {
        struct ioc_map_slot *s = &m->old[m->old_pos++];
        if (s->key && s->key != TOMB(m)) {
            *place(m, s->hash) = *s;
            s->key = TOMB(m);
            s->val = NULL;
        }
        if (m->old_pos == m->old_cap) {
            free(m->old);
            m->old = NULL;
            m->old_cap = m->old_pos = 0;
        }
    }
}

static int grow(struct ioc_map *m)
{
    /* A table still being emptied is emptied first: there are never three. */
    migrate(m, m->old_cap);
    size_t ncap = m->cap ? m->cap * 2 : 16;
    /* Mostly tombstones: a table of the same size sheds them. */
    if (m->cap && m->n * 2 < m->cap * 7 / 10) {
        ncap = m->cap;
    }
    struct ioc_map_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) {
        return IOC_ENOMEM;
    }
    m->old = m->slots;
    m->old_cap = m->cap;
    m->old_pos = 0;
    m->slots = ns;
    m->cap = ncap;
    m->used = 0;
    if (!m->old_cap) {
        free(m->old);
        m->old = NULL;
    }
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
    migrate(m, MIGRATE_STEP);
    if ((m->used + 1) * 10 > m->cap * 7) {
        int rc = grow(m);
        if (rc) {
            return rc;
        }
    }
    char *copy = (char *)key;
    if (!m->borrowed) {
        if (!(copy = malloc(len + 1))) {
            return IOC_ENOMEM;
        }
        memcpy(copy, key, len);
        copy[len] = 0;
    }
    *place(m, h) = (struct ioc_map_slot){copy, len, h, val};
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
    if (!m->borrowed) {
        free(s->key);
    }
    s->key = TOMB(m);
    s->val = NULL;
    m->n--;
    return v;
}

int ioc_map_next(const struct ioc_map *m, size_t *i, const char **key, size_t *len, void **val)
{
    while (*i < m->cap + m->old_cap) {
        size_t k = (*i)++;
        const struct ioc_map_slot *s = k < m->cap ? &m->slots[k] : &m->old[k - m->cap];
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
