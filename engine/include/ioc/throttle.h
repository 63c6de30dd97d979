/*
 * throttle.h — at most one record per key and interval; the rest counted.
 *
 * For records that repeat for as long as their cause lasts (a refused client
 * is refused again at every reconnect, ten times a second by default): the
 * first record of a key is written; later ones within the interval after the
 * last written are held back and counted; the next one written says how many
 * it stands for. Counts still held when their interval has ended are handed
 * out by ioc_throttle_expire, so none is lost when the repeats stop.
 *
 * The table is bounded: when every slot is in use, the one written longest
 * ago is handed out (its held count, if any) and reused, so a peer that
 * makes up new keys costs rows, never memory.
 *
 * Time is an argument (milliseconds on any clock that does not go back), so
 * tests drive it by hand. Threads: one at a time; no global state.
 */
#ifndef IOC_THROTTLE_H
#define IOC_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

struct ioc_throttle_slot {
    char *key; /* owned; NULL: the slot is free */
    size_t len;
    int64_t written; /* when a record of the key was last written (or handed out) */
    int64_t last;    /* when the newest held-back record came */
    uint64_t held;   /* records held back since `written` */
};

struct ioc_throttle {
    struct ioc_throttle_slot *slots;
    size_t cap;
    int64_t interval;
};

/* Records held back for key and not written: n of them, the newest at last.
 * The caller writes one record that stands for them all. */
typedef void (*ioc_throttle_fn)(void *arg, const char *key, size_t len, uint64_t n, int64_t last);

/* cap keys at most, interval in ms. 0, or IOC_ENOMEM. */
int ioc_throttle_init(struct ioc_throttle *t, size_t cap, int64_t interval);
/* Frees the table; held counts are dropped (expire them first). Accepts a
 * zeroed struct. */
void ioc_throttle_close(struct ioc_throttle *t);

/* One record of key (len bytes, any bytes) at now. Returns how many records
 * a record written now stands for (1, plus those held back before it), or 0
 * when this one is held back. A reused slot's held count goes to fn. Without
 * a slot (out of memory) it returns 1: written rather than lost. */
uint64_t ioc_throttle_admit(struct ioc_throttle *t, const char *key, size_t len, int64_t now,
                            ioc_throttle_fn fn, void *arg);

/* Hands every held count whose interval has ended by now to fn (all of them
 * with now = INT64_MAX) and frees the slots that hold nothing and whose
 * interval has ended. */
void ioc_throttle_expire(struct ioc_throttle *t, int64_t now, ioc_throttle_fn fn, void *arg);

#endif
