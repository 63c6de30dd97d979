/*
 * dedup.h — the duplicate filter: the (source, id) keys of the last
 * engine.dedup_window of event time.
 *
 * It keeps no key bytes: each key is remembered as a 128-bit keyed hash
 * (SipHash-2-4, 128-bit output, under a random key chosen when the filter
 * is initialised) and its event time, about 35 to 45 bytes per key with the
 * index (dedup.c says where they go). Two distinct keys are taken for one
 * only if their hashes are equal: among the 60 million keys of 10 minutes
 * at 100,000 events/s, the chance that any two of them collide is about
 * n²/2¹²⁹ ≈ 5·10⁻²⁴, and an outsider cannot aim for it without the key.
 *
 * Keys leave in arrival order: ioc_dedup_evict() drops them from the
 * oldest while the oldest one's event time is before its argument, so a key
 * that arrived out of order stays until those before it have gone.
 *
 * The caller owns the struct (_init/_close); nothing is allocated until the
 * first key is added. Single-threaded (the loop thread).
 */
#ifndef IOC_DEDUP_H
#define IOC_DEDUP_H

#include <stddef.h>
#include <stdint.h>

/* A key as the filter knows it: ioc_dedup_hash() once per key, then ask and
 * add with it, so a key is hashed once however it is used. */
struct ioc_dedup_hash {
    uint64_t w[2];
};

/* One remembered key, in arrival order (24 bytes). */
struct ioc_dedup_entry {
    struct ioc_dedup_hash h;
    int64_t ts;
};

/* An index slot: the low 32 bits of the hash (0 = empty; a hash whose low
 * word is 0 uses 1) and the entry's position in arrival order, modulo 2³². */
struct ioc_dedup_slot {
    uint32_t tag, pos;
};

struct ioc_dedup_table {
    struct ioc_dedup_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;   /* slots in use */
};

struct ioc_dedup {
    unsigned char key[16]; /* the hash key, random per filter */
    /* The entries, oldest first, in chunks of a fixed size: entry number s
     * (counted since init) is in chunk s / chunk size, found through a ring
     * of chunk pointers. */
    struct ioc_dedup_entry **chunks;
    size_t n_chunks;               /* the ring's size: a power of two, or 0 */
    uint64_t head, tail;           /* numbers of the oldest entry and of the next one */
    struct ioc_dedup_entry *spare; /* a chunk kept for the next one needed, or NULL */
    /* The index: cur, and while it is being replaced (dedup.c) the old table,
     * whose slots from `move` on have not been moved to cur yet; its first
     * `released` bytes have been given back to the kernel. */
    struct ioc_dedup_table cur, old;
    size_t move, released;
};

/* 0, or IOC_EIO when libsodium cannot be initialised (no random source). */
int ioc_dedup_init(struct ioc_dedup *d);
/* Frees everything; accepts a filter that was only zeroed. */
void ioc_dedup_close(struct ioc_dedup *d);

/* The filter's hash of key (len bytes, any content). */
void ioc_dedup_hash(const struct ioc_dedup *d, const void *key, size_t len,
                    struct ioc_dedup_hash *out);
/* 1 when a key with this hash is remembered, else 0. Changes nothing. */
int ioc_dedup_has(const struct ioc_dedup *d, const struct ioc_dedup_hash *h);
/* Remembers a key that ioc_dedup_has() just said is not there, with its
 * event time. 0, or IOC_ENOMEM with nothing added and the filter as it was. */
int ioc_dedup_add(struct ioc_dedup *d, const struct ioc_dedup_hash *h, int64_t ts);
/* Forgets keys from the oldest while the oldest one's event time is before
 * `before`. */
void ioc_dedup_evict(struct ioc_dedup *d, int64_t before);

/* Keys remembered. */
size_t ioc_dedup_count(const struct ioc_dedup *d);
/* Bytes the filter has allocated (entries, chunk ring, index tables). */
size_t ioc_dedup_bytes(const struct ioc_dedup *d);

#endif
