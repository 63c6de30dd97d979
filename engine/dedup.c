/*
 * dedup.c — the duplicate filter: a queue of hashed keys and an index over it.
 *
 * The filter holds every id of the last engine.dedup_window: 60 million at
 * 100,000 events/s over the default 10 minutes. It used to keep a copy of
 * each key in the generic map (about 150 bytes per id) and grew by copying
 * its ring and doubling its table, which stalled the loop for tens of
 * milliseconds at a time. This one is built so that no key bytes are kept
 * and no single operation does work in proportion to the number of ids.
 *
 * The queue. Entries (128-bit hash, event time: 24 bytes) are appended in
 * arrival order to chunks of CHUNK entries and leave from the head, so a
 * chunk is freed (or kept as the one spare) as soon as its last entry left,
 * and growing never moves an entry. Entry number s (counted from 0 since
 * init) lives in chunk s / CHUNK, found through a ring of chunk pointers;
 * only that ring is copied when it fills, one pointer per 4096 entries
 * (15,000 pointers for 60 million ids).
 *
 * The index. An open-addressing table of 8-byte slots: 32 bits of the hash
 * (its low word, which also picks the home slot) and the entry's number
 * modulo 2³². A lookup compares the 32 bits and only on a match reads the
 * entry to compare the whole 128-bit hash, so a miss, the usual answer,
 * touches the table alone. The number is unambiguous because at most
 * MAX_LIVE (2³¹) entries live at once: the entry it names is the one whose
 * number has those low 32 bits and lies between head and tail, if any.
 * Robin Hood linear probing (a key that is further from its home takes the
 * slot of one that is nearer) keeps the probe lengths even, so a lookup may
 * stop as soon as it meets a slot nearer its home than itself; deletion
 * shifts the following slots back one place (no tombstones), which keeps
 * that order and every probe sequence valid.
 *
 * Growing. The table is kept at most 3/4 full. When an add would pass that,
 * a table twice the size becomes `cur` and the full one `old`; every add and
 * every eviction then moves the next MOVE_STEP slots of `old` across, so no
 * operation moves more than MOVE_STEP keys. `old` is never written while it
 * drains: a slot whose entry has left the queue meanwhile is recognised by
 * its number (no longer between head and tail) and skipped, so an eviction
 * deletes from `cur` only, and lookups ask `cur`, then `old`. The table is
 * halved the same way when it falls under 1/16 full. Bounds: after growth,
 * `old` holds at most 3/4·C keys and empties within C/MOVE_STEP adds, when
 * `cur` (2C slots) holds at most 3/4·C + C/4 = C: half full; after a shrink
 * from C, `cur` (C/2) ends at most C/16 + C/4, 5/8 full. Neither reaches 3/4,
 * so a new resize never has to wait for the last one.
 *
 * Memory per id: 24 bytes in the queue, plus 8 bytes a slot at a load
 * between 3/8 and 3/4, 11 to 21 bytes: 35 to 45 bytes in all; while a table
 * is being replaced both live, up to 56 bytes for the C/MOVE_STEP adds that
 * takes. Tables are calloc'd: a large one comes from fresh zeroed pages,
 * touched as keys arrive, so allocating it costs no time in its size.
 *
 * Collisions: two distinct keys are one only if all 128 bits of their
 * SipHash-2-4 hashes under the filter's random key are equal. For n keys
 * held at once that has a chance of about n²/2¹²⁹: 5·10⁻²⁴ for 60 million,
 * and over a year of 100,000 events/s each checked against 60 million,
 * about 6·10⁻¹⁹. The random key also keeps senders from choosing ids that
 * crowd one part of the table.
 *
 * Single-threaded: the loop thread.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "ioc/dedup.h"
#include "ioc/error.h"

#define CHUNK_BITS 12
#define CHUNK ((uint64_t)1 << CHUNK_BITS) /* entries per chunk: 96 KiB */
#define FIRST_CHUNKS 16                   /* the chunk ring's first size */
#define MIN_CAP ((size_t)1024)            /* the first table: 8 KiB */
#define MAX_CAP ((size_t)1 << 31)         /* slots; tags index at most 2^32 */
#define MAX_LIVE ((uint64_t)1 << 31)      /* entries at once: 32-bit numbers stay unambiguous */
/* Old slots moved per add or eviction while a table is replaced. Each live
 * one moved is a probe of the new table (a cache miss), so fewer is gentler
 * per operation; 4 is enough for the bounds above. */
#define MOVE_STEP 4
/* A drained table's pages are given back this many bytes at a time as the
 * move passes them, not all at once when it is freed (below). */
#define RELEASE_STEP ((size_t)2 << 20)

_Static_assert(sizeof(struct ioc_dedup_entry) == 24, "an entry is 24 bytes");
_Static_assert(sizeof(struct ioc_dedup_slot) == 8, "a slot is 8 bytes");

int ioc_dedup_init(struct ioc_dedup *d)
{
    memset(d, 0, sizeof *d);
    /* Safe to call more than once; -1 only when there is no random source
     * (the caller says so). */
    if (sodium_init() < 0) {
        return IOC_EIO;
    }
    randombytes_buf(d->key, sizeof d->key);
    return 0;
}

void ioc_dedup_close(struct ioc_dedup *d)
{
    for (uint64_t c = d->head >> CHUNK_BITS; c < (d->tail + CHUNK - 1) >> CHUNK_BITS; c++) {
        free(d->chunks[c & (d->n_chunks - 1)]);
    }
    free(d->chunks);
    free(d->spare);
    free(d->cur.slots);
    free(d->old.slots);
    sodium_memzero(d->key, sizeof d->key);
    memset(d, 0, sizeof *d);
}

void ioc_dedup_hash(const struct ioc_dedup *d, const void *key, size_t len,
                    struct ioc_dedup_hash *out)
{
    unsigned char h[crypto_shorthash_siphashx24_BYTES];
    _Static_assert(sizeof h == sizeof out->w, "SipHash-2-4 gives 128 bits");
    _Static_assert(sizeof d->key == crypto_shorthash_siphashx24_KEYBYTES, "a 128-bit key");
    crypto_shorthash_siphashx24(h, key, len, d->key);
    memcpy(out->w, h, sizeof out->w);
}

static uint32_t tag_of(const struct ioc_dedup_hash *h)
{
    uint32_t t = (uint32_t)h->w[0];
    return t ? t : 1;
}

size_t ioc_dedup_count(const struct ioc_dedup *d)
{
    return (size_t)(d->tail - d->head);
}

size_t ioc_dedup_bytes(const struct ioc_dedup *d)
{
    size_t chunks = (size_t)(((d->tail + CHUNK - 1) >> CHUNK_BITS) - (d->head >> CHUNK_BITS));
    chunks += d->spare != NULL;
    return chunks * CHUNK * sizeof(struct ioc_dedup_entry) + d->n_chunks * sizeof *d->chunks +
           (d->cur.cap + d->old.cap) * sizeof(struct ioc_dedup_slot);
}

/* ---- the queue ------------------------------------------------------------ */

/* Chunks in use are head / CHUNK up to (tail - 1) / CHUNK; while the queue is
 * empty in the middle of a chunk, that chunk stays (the next entry goes
 * there). */

static struct ioc_dedup_entry *entry(const struct ioc_dedup *d, uint64_t num)
{
    return &d->chunks[(num >> CHUNK_BITS) & (d->n_chunks - 1)][num & (CHUNK - 1)];
}

/* The entry a slot's 32-bit number names, or NULL when it has left. */
static const struct ioc_dedup_entry *live_entry(const struct ioc_dedup *d, uint32_t pos)
{
    uint32_t off = pos - (uint32_t)d->head;
    return off < d->tail - d->head ? entry(d, d->head + off) : NULL;
}

/* Makes room for one more entry (a chunk in `spare` when the tail starts a
 * new one, a place for it in the ring), without changing the queue. */
static int queue_reserve(struct ioc_dedup *d)
{
    if (d->tail - d->head >= MAX_LIVE) {
        return IOC_ENOMEM;
    }
    if (d->tail & (CHUNK - 1)) {
        return 0;
    }
    uint64_t first = d->head >> CHUNK_BITS, next = d->tail >> CHUNK_BITS;
    if (next - first + 1 > d->n_chunks) {
        size_t n = d->n_chunks ? d->n_chunks * 2 : FIRST_CHUNKS;
        struct ioc_dedup_entry **ring = calloc(n, sizeof *ring);
        if (!ring) {
            return IOC_ENOMEM;
        }
        for (uint64_t c = first; c < next; c++) {
            ring[c & (n - 1)] = d->chunks[c & (d->n_chunks - 1)];
        }
        free(d->chunks);
        d->chunks = ring;
        d->n_chunks = n;
    }
    if (!d->spare && !(d->spare = malloc(CHUNK * sizeof *d->spare))) {
        return IOC_ENOMEM;
    }
    return 0;
}

/* After queue_reserve(): cannot fail. Returns the new entry's number. */
static uint64_t queue_push(struct ioc_dedup *d, const struct ioc_dedup_hash *h, int64_t ts)
{
    if (!(d->tail & (CHUNK - 1))) {
        d->chunks[(d->tail >> CHUNK_BITS) & (d->n_chunks - 1)] = d->spare;
        d->spare = NULL;
    }
    struct ioc_dedup_entry *x = entry(d, d->tail);
    x->h = *h;
    x->ts = ts;
    return d->tail++;
}

static void queue_pop(struct ioc_dedup *d)
{
    d->head++;
    if (!(d->head & (CHUNK - 1))) {
        /* The head left its chunk: keep it for the tail, or free it. */
        struct ioc_dedup_entry **c = &d->chunks[((d->head - 1) >> CHUNK_BITS) & (d->n_chunks - 1)];
        if (d->spare) {
            free(*c);
        } else {
            d->spare = *c;
        }
        *c = NULL;
    }
}

/* ---- the index ------------------------------------------------------------ */

/* How far slot i is from the home of the tag it holds. */
static size_t dist(const struct ioc_dedup_table *t, size_t i, uint32_t tag)
{
    return (i - tag) & (t->cap - 1);
}

/* Whether t holds a key with hash h whose entry is still in the queue. */
static int table_has(const struct ioc_dedup *d, const struct ioc_dedup_table *t,
                     const struct ioc_dedup_hash *h, uint32_t tag)
{
    if (!t->slots) {
        return 0;
    }
    size_t mask = t->cap - 1;
    for (size_t i = tag & mask, k = 0;; i = (i + 1) & mask, k++) {
        const struct ioc_dedup_slot *s = &t->slots[i];
        if (!s->tag || dist(t, i, s->tag) < k) {
            return 0;
        }
        if (s->tag == tag) {
            const struct ioc_dedup_entry *x = live_entry(d, s->pos);
            if (x && x->h.w[0] == h->w[0] && x->h.w[1] == h->w[1]) {
                return 1;
            }
        }
    }
}

/* Robin Hood insertion; t has a free slot. */
static void table_put(struct ioc_dedup_table *t, struct ioc_dedup_slot s)
{
    size_t mask = t->cap - 1;
    for (size_t i = s.tag & mask, k = 0;; i = (i + 1) & mask, k++) {
        struct ioc_dedup_slot *x = &t->slots[i];
        if (!x->tag) {
            *x = s;
            t->n++;
            return;
        }
        size_t xk = dist(t, i, x->tag);
        if (xk < k) {
            struct ioc_dedup_slot tmp = *x;
            *x = s;
            s = tmp;
            k = xk;
        }
    }
}

/* Removes the slot for entry number pos (tag its tag) from t, if t has it:
 * the slots after it shift back one place until an empty one or one at its
 * home. */
static void table_del(struct ioc_dedup_table *t, uint32_t tag, uint32_t pos)
{
    if (!t->slots) {
        return;
    }
    size_t mask = t->cap - 1, i = tag & mask;
    for (size_t k = 0;; i = (i + 1) & mask, k++) {
        const struct ioc_dedup_slot *s = &t->slots[i];
        if (!s->tag || dist(t, i, s->tag) < k) {
            return;
        }
        if (s->pos == pos && s->tag == tag) {
            break;
        }
    }
    for (;;) {
        size_t j = (i + 1) & mask;
        const struct ioc_dedup_slot *next = &t->slots[j];
        if (!next->tag || dist(t, j, next->tag) == 0) {
            break;
        }
        t->slots[i] = *next;
        i = j;
    }
    t->slots[i].tag = 0;
    t->slots[i].pos = 0;
    t->n--;
}

/* Gives the pages of the table being replaced that the move has passed back
 * to the kernel, RELEASE_STEP at a time. Unmapping a table in one go costs
 * the kernel time in its size (4 ms for 64 MiB here, about 34 ms for the
 * 512 MiB table replaced on the way to 60 million ids), which free() at the
 * end of the move would spend at once; this way it is spread over the move
 * and the final free() finds little left. The pages are never read again, so whether the
 * kernel takes them (they then read as zeros) changes nothing. */
static void release_moved(struct ioc_dedup *d)
{
    if (d->move * sizeof *d->old.slots < d->released + RELEASE_STEP) {
        return;
    }
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)d->old.slots;
    uintptr_t from = (base + d->released + page - 1) & ~(page - 1);
    uintptr_t to = (base + d->move * sizeof *d->old.slots) & ~(page - 1);
    (void)madvise((void *)from, to - from, MADV_DONTNEED);
    d->released = to - base;
}

/* Moves the next MOVE_STEP slots of the table being replaced; frees it once
 * it has been gone through. */
static void move_some(struct ioc_dedup *d)
{
    if (!d->old.slots) {
        return;
    }
    size_t end = d->move + MOVE_STEP < d->old.cap ? d->move + MOVE_STEP : d->old.cap;
    for (; d->move < end; d->move++) {
        struct ioc_dedup_slot s = d->old.slots[d->move];
        if (s.tag && live_entry(d, s.pos)) {
            table_put(&d->cur, s);
        }
    }
    if (d->move == d->old.cap) {
        free(d->old.slots);
        memset(&d->old, 0, sizeof d->old);
        d->move = 0;
        d->released = 0;
    } else {
        release_moved(d);
    }
}

/* Starts replacing cur by an empty table of cap slots; cur must be the only
 * table. The keys move across in move_some(). */
static int resize(struct ioc_dedup *d, size_t cap)
{
    struct ioc_dedup_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) {
        return IOC_ENOMEM;
    }
    if (d->cur.slots) {
        d->old = d->cur;
        d->move = 0;
        d->released = 0;
    }
    d->cur.slots = slots;
    d->cur.cap = cap;
    d->cur.n = 0;
    return 0;
}

/* ---- the filter ----------------------------------------------------------- */

int ioc_dedup_has(const struct ioc_dedup *d, const struct ioc_dedup_hash *h)
{
    uint32_t tag = tag_of(h);
    return table_has(d, &d->cur, h, tag) || table_has(d, &d->old, h, tag);
}

int ioc_dedup_add(struct ioc_dedup *d, const struct ioc_dedup_hash *h, int64_t ts)
{
    /* Everything that can fail comes first, so a failure leaves the filter
     * as it was (a reserved chunk or a larger ring only waits for later). */
    int rc = queue_reserve(d);
    if (rc != 0) {
        return rc;
    }
    if (!d->cur.slots) {
        rc = resize(d, MIN_CAP);
    } else if (!d->old.slots && d->cur.n + 1 > d->cur.cap / 4 * 3) {
        rc = d->cur.cap < MAX_CAP ? resize(d, d->cur.cap * 2) : IOC_ENOMEM;
    }
    if (rc != 0) {
        return rc;
    }
    move_some(d);
    uint64_t num = queue_push(d, h, ts);
    table_put(&d->cur, (struct ioc_dedup_slot){tag_of(h), (uint32_t)num});
    return 0;
}

void ioc_dedup_evict(struct ioc_dedup *d, int64_t before)
{
    while (d->head != d->tail) {
        const struct ioc_dedup_entry *x = entry(d, d->head);
        if (x->ts >= before) {
            break;
        }
        /* A key still in the old table is left there: its number, no longer
         * in the queue, tells the move and lookups that it has gone. */
        table_del(&d->cur, tag_of(&x->h), (uint32_t)d->head);
        queue_pop(d);
        move_some(d);
    }
    if (!d->old.slots && d->cur.cap > MIN_CAP && d->cur.n < d->cur.cap / 16) {
        /* Given back as the rate falls; if memory is short, the table stays. */
        (void)resize(d, d->cur.cap / 2);
    }
}
