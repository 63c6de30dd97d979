/*
 * map.h — a string-keyed hash map (open addressing, linear probing).
 *
 * Used for every keyed lookup of the engine: incidents by rule and key,
 * windows, the rule index by type, named lists (the duplicate filter has its
 * own, dedup.h). Keys are byte strings copied into the map; values are
 * pointers the caller owns. Single-threaded.
 */
#ifndef IOC_MAP_H
#define IOC_MAP_H

#include <stddef.h>
#include <stdint.h>

struct ioc_map_slot {
    char *key; /* NULL = empty; the tombstone is a pointer to the map itself */
    size_t len;
    uint64_t hash;
    void *val;
};

struct ioc_map {
    struct ioc_map_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t n;    /* live keys */
    size_t used; /* live keys + tombstones */
    /* The table being replaced, emptied a few slots per insert (map.c). */
    struct ioc_map_slot *old;
    size_t old_cap;
    size_t old_pos; /* its next slot to move */
    int borrowed;   /* keys are the caller's, not copies (ioc_map_init_borrowed) */
};

void ioc_map_init(struct ioc_map *m);
/* A map that keeps the caller's key pointers instead of copies: each key's
 * bytes must stay alive and unchanged while it is in the map (usually they
 * live in the value). Saves a copy per key in maps of millions of keys. */
void ioc_map_init_borrowed(struct ioc_map *m);
/* Frees the keys (unless borrowed) and the table, not the values. */
void ioc_map_close(struct ioc_map *m);

uint64_t ioc_hash(const void *data, size_t len);

/* The value for key, or NULL. */
void *ioc_map_get(const struct ioc_map *m, const void *key, size_t len);
/* Sets key to val (copying the key unless borrowed). 0 or IOC_ENOMEM. */
int ioc_map_put(struct ioc_map *m, const void *key, size_t len, void *val);
/* Removes key; returns its value or NULL. */
void *ioc_map_del(struct ioc_map *m, const void *key, size_t len);

/* Iteration: for (size_t i = 0; ioc_map_next(m, &i, &key, &len, &val);)
 * Gets and deletes may happen during an iteration; puts may not. */
int ioc_map_next(const struct ioc_map *m, size_t *i, const char **key, size_t *len, void **val);

#endif
