/*
 * test_map.c — the hash map against a plain array model, through growth,
 * tombstone sheds and the incremental move between tables.
 */
#include <stdint.h>
#include <stdio.h>

#include "ioc/map.h"
#include "test.h"

#define KEYS 20000

static int keyname(char *buf, size_t n, unsigned k)
{
    return snprintf(buf, n, "zone-%u\x1fid-%u", k % 97, k);
}

/* Every key the model holds is found with its value, and nothing else is. */
static void check_model(const struct ioc_map *m, const unsigned char *present, size_t nkeys)
{
    char buf[64];
    size_t live = 0;
    for (unsigned k = 0; k < nkeys; k++) {
        int len = keyname(buf, sizeof buf, k);
        void *v = ioc_map_get(m, buf, (size_t)len);
        if (present[k]) {
            live++;
            CHECK(v == (void *)(uintptr_t)(k + 1));
        } else {
            CHECK(v == NULL);
        }
    }
    CHECK_EQ_INT(m->n, live);
    size_t seen = 0;
    const char *key;
    size_t klen;
    void *val;
    for (size_t i = 0; ioc_map_next(m, &i, &key, &klen, &val);) {
        seen++;
        CHECK(val != NULL);
    }
    CHECK_EQ_INT(seen, live);
}

TEST(random_operations_match_a_model)
{
    static unsigned char present[KEYS];
    struct ioc_map m;
    ioc_map_init(&m);
    uint64_t x = 88172645463325252ULL;
    char buf[64];
    for (int step = 0; step < 200000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned k = (unsigned)(x % KEYS);
        int len = keyname(buf, sizeof buf, k);
        if ((x >> 32) % 3 == 0) {
            void *v = ioc_map_del(&m, buf, (size_t)len);
            CHECK(v == (present[k] ? (void *)(uintptr_t)(k + 1) : NULL));
            present[k] = 0;
        } else {
            REQUIRE(ioc_map_put(&m, buf, (size_t)len, (void *)(uintptr_t)(k + 1)) == 0);
            present[k] = 1;
        }
        if (step % 20000 == 0) {
            check_model(&m, present, KEYS);
        }
    }
    check_model(&m, present, KEYS);
    ioc_map_close(&m);
}

/* The duplicate filter's pattern: keys enter in order and leave in the same
 * order a window later, so the table fills with tombstones and sheds them
 * again and again. Lookups must hold at every step, also mid-move. */
TEST(sliding_window_keeps_every_live_key)
{
    struct ioc_map m;
    ioc_map_init(&m);
    char buf[64];
    const unsigned window = 3000, total = 60000;
    for (unsigned k = 0; k < total; k++) {
        int len = keyname(buf, sizeof buf, k);
        REQUIRE(ioc_map_put(&m, buf, (size_t)len, (void *)(uintptr_t)(k + 1)) == 0);
        if (k >= window) {
            len = keyname(buf, sizeof buf, k - window);
            CHECK(ioc_map_del(&m, buf, (size_t)len) == (void *)(uintptr_t)(k - window + 1));
        }
        /* The oldest live key and the newest are both there. */
        unsigned oldest = k >= window ? k - window + 1 : 0;
        len = keyname(buf, sizeof buf, oldest);
        CHECK(ioc_map_get(&m, buf, (size_t)len) == (void *)(uintptr_t)(oldest + 1));
        CHECK_EQ_INT(m.n, k - oldest + 1);
    }
    /* Bounded: the table did not grow with the total, only with the window. */
    CHECK(m.cap + m.old_cap <= 4 * 8192);
    ioc_map_close(&m);
}

TEST(put_replaces_a_value_in_either_table)
{
    struct ioc_map m;
    ioc_map_init(&m);
    char buf[64];
    for (unsigned k = 0; k < 1000; k++) {
        int len = keyname(buf, sizeof buf, k);
        REQUIRE(ioc_map_put(&m, buf, (size_t)len, (void *)(uintptr_t)1) == 0);
        /* Some keys are still in the old table while a move is under way. */
        int len0 = keyname(buf, sizeof buf, k / 2);
        REQUIRE(ioc_map_put(&m, buf, (size_t)len0, (void *)(uintptr_t)2) == 0);
        CHECK(ioc_map_get(&m, buf, (size_t)len0) == (void *)(uintptr_t)2);
        (void)len;
    }
    CHECK_EQ_INT(m.n, 1000);
    ioc_map_close(&m);
}

/* A borrowing map keeps the caller's pointer: the key lives in the value. */
TEST(borrowed_keys_are_the_callers_own)
{
    struct ioc_map m;
    ioc_map_init_borrowed(&m);
    static char keys[500][16];
    for (int i = 0; i < 500; i++) {
        int len = snprintf(keys[i], sizeof keys[i], "k%d", i);
        REQUIRE(ioc_map_put(&m, keys[i], (size_t)len, keys[i]) == 0);
    }
    const char *key;
    void *val;
    size_t n = 0;
    for (size_t i = 0; ioc_map_next(&m, &i, &key, NULL, &val);) {
        CHECK(key == val); /* the very bytes put, not a copy */
        n++;
    }
    CHECK_EQ_INT(n, 500);
    CHECK(ioc_map_del(&m, "k7", 2) == keys[7]);
    CHECK(ioc_map_get(&m, "k7", 2) == NULL);
    CHECK(ioc_map_get(&m, "k8", 2) == keys[8]);
    ioc_map_close(&m);
}
