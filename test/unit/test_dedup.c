/*
 * test_dedup.c — the duplicate filter: lookups against a model through
 * growth, the incremental move between tables, shrinking, eviction in
 * arrival order, and the long steady state of a running engine.
 */
#include <stdint.h>
#include <stdio.h>

#include "ioc/dedup.h"
#include "ioc/error.h"
#include "test.h"

/* Key k as the engine builds them: source, separator, id. */
static void key_hash(const struct ioc_dedup *d, uint64_t k, struct ioc_dedup_hash *h)
{
    char buf[64];
    int len = snprintf(buf, sizeof buf, "sensor\x1fid-%llu", (unsigned long long)k);
    ioc_dedup_hash(d, buf, (size_t)len, h);
}

static int has(const struct ioc_dedup *d, uint64_t k)
{
    struct ioc_dedup_hash h;
    key_hash(d, k, &h);
    return ioc_dedup_has(d, &h);
}

/* Adds key k at time ts the way the engine does: only when it is not there. */
static int add(struct ioc_dedup *d, uint64_t k, int64_t ts)
{
    struct ioc_dedup_hash h;
    key_hash(d, k, &h);
    if (ioc_dedup_has(d, &h)) {
        return 1;
    }
    return ioc_dedup_add(d, &h, ts);
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

TEST(a_key_added_is_a_duplicate_and_others_are_not)
{
    struct ioc_dedup d;
    REQUIRE(ioc_dedup_init(&d) == 0);
    CHECK(!has(&d, 1));
    for (uint64_t k = 0; k < 10000; k++) {
        CHECK_EQ_INT(add(&d, k, 1000), 0);
    }
    CHECK_EQ_INT(ioc_dedup_count(&d), 10000);
    for (uint64_t k = 0; k < 10000; k++) {
        CHECK(has(&d, k));
        CHECK(!has(&d, k + 10000));
        CHECK_EQ_INT(add(&d, k, 1000), 1); /* a resend is found, not added */
    }
    CHECK_EQ_INT(ioc_dedup_count(&d), 10000);
    /* The same id under another source is another key; so is a prefix. */
    struct ioc_dedup_hash a, b, c;
    ioc_dedup_hash(&d, "sensor\x1fx1", 9, &a);
    ioc_dedup_hash(&d, "cctv\x1fx1", 7, &b);
    ioc_dedup_hash(&d, "sensor\x1fx", 8, &c);
    REQUIRE(ioc_dedup_add(&d, &a, 5) == 0);
    CHECK(ioc_dedup_has(&d, &a));
    CHECK(!ioc_dedup_has(&d, &b));
    CHECK(!ioc_dedup_has(&d, &c));
    ioc_dedup_close(&d);
    CHECK_EQ_INT(ioc_dedup_count(&d), 0);
    ioc_dedup_close(&d); /* twice is harmless */
}

TEST(two_filters_hash_under_different_keys)
{
    struct ioc_dedup d1, d2;
    REQUIRE(ioc_dedup_init(&d1) == 0);
    REQUIRE(ioc_dedup_init(&d2) == 0);
    struct ioc_dedup_hash h1, h2;
    key_hash(&d1, 7, &h1);
    key_hash(&d2, 7, &h2);
    CHECK(h1.w[0] != h2.w[0] || h1.w[1] != h2.w[1]);
    ioc_dedup_close(&d1);
    ioc_dedup_close(&d2);
}

TEST(eviction_forgets_keys_older_than_the_cutoff)
{
    struct ioc_dedup d;
    REQUIRE(ioc_dedup_init(&d) == 0);
    for (uint64_t k = 0; k < 20000; k++) {
        REQUIRE(add(&d, k, (int64_t)k) == 0);
    }
    ioc_dedup_evict(&d, 12345);
    CHECK_EQ_INT(ioc_dedup_count(&d), 20000 - 12345);
    for (uint64_t k = 0; k < 20000; k++) {
        CHECK(has(&d, k) == (k >= 12345));
    }
    /* A cutoff not past the oldest changes nothing; a later one empties it. */
    ioc_dedup_evict(&d, 100);
    CHECK_EQ_INT(ioc_dedup_count(&d), 20000 - 12345);
    ioc_dedup_evict(&d, 1000000);
    CHECK_EQ_INT(ioc_dedup_count(&d), 0);
    CHECK(!has(&d, 19999));
    /* An evicted key comes back as new. */
    CHECK_EQ_INT(add(&d, 5, 2000000), 0);
    CHECK(has(&d, 5));
    ioc_dedup_close(&d);
}

/* Keys leave in arrival order: one that arrived out of order stays until
 * the keys before it have gone, as the filter always did. */
TEST(out_of_order_times_leave_in_arrival_order)
{
    struct ioc_dedup d;
    REQUIRE(ioc_dedup_init(&d) == 0);
    REQUIRE(add(&d, 1, 100) == 0);
    REQUIRE(add(&d, 2, 150) == 0);
    REQUIRE(add(&d, 3, 50) == 0); /* late, but within the lateness */
    REQUIRE(add(&d, 4, 140) == 0);
    ioc_dedup_evict(&d, 120);
    CHECK(!has(&d, 1));
    CHECK(has(&d, 2));
    CHECK(has(&d, 3)); /* behind 2, which is still in the window */
    CHECK(has(&d, 4));
    ioc_dedup_evict(&d, 145);
    CHECK(has(&d, 2));
    CHECK(has(&d, 3));
    ioc_dedup_evict(&d, 151);
    CHECK(!has(&d, 2));
    CHECK(!has(&d, 3));
    CHECK(!has(&d, 4));
    CHECK_EQ_INT(ioc_dedup_count(&d), 0);
    ioc_dedup_close(&d);
}

/* Millions of keys: the table doubles a dozen times and the queue takes
 * hundreds of chunks; every key stays findable, also while a table is half
 * moved, and the memory stays near 24 bytes of queue plus the index. */
TEST(growth_across_millions_keeps_every_key)
{
    enum { N = 3000000 };
    struct ioc_dedup d;
    REQUIRE(ioc_dedup_init(&d) == 0);
    uint64_t x = 88172645463325252ULL;
    size_t moves_seen = 0;
    for (uint64_t k = 0; k < N; k++) {
        REQUIRE(add(&d, k, 0) == 0);
        if (d.old.slots && k % 97 == 0) {
            /* Mid-move: a sample of the keys so far, and some never added. */
            moves_seen++;
            for (int i = 0; i < 16; i++) {
                CHECK(has(&d, xorshift(&x) % (k + 1)));
                CHECK(!has(&d, N + xorshift(&x) % N));
            }
        }
    }
    CHECK(moves_seen > 1000);
    CHECK_EQ_INT(ioc_dedup_count(&d), N);
    for (uint64_t k = 0; k < N; k++) {
        if (!has(&d, k)) {
            fprintf(stderr, "key %llu lost\n", (unsigned long long)k);
            CHECK(0);
            break;
        }
    }
    for (uint64_t k = N; k < 2 * N; k += 7) {
        CHECK(!has(&d, k));
    }
    size_t bytes = ioc_dedup_bytes(&d);
    fprintf(stderr, "%d keys: %zu bytes, %.1f per key, table %zu slots%s\n", N, bytes,
            (double)bytes / N, d.cur.cap, d.old.slots ? " (moving)" : "");
    CHECK(d.old.slots || bytes <= (size_t)48 * N);
    ioc_dedup_close(&d);
}

/* Deletion against a model in a small, crowded table: keys come and go
 * (in arrival order, as eviction removes them) with the table between a
 * quarter and three quarters full, so deletions shift long runs of slots
 * back, and the table grows and shrinks across its smallest sizes. */
TEST(deletion_keeps_the_other_keys_findable)
{
    enum { KEYS = 40000, STEPS = 200000 };
    static unsigned char present[KEYS];
    static int64_t added_at[KEYS];
    struct ioc_dedup d;
    REQUIRE(ioc_dedup_init(&d) == 0);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    int64_t now = 0, cutoff = 0;
    size_t live = 0, grew = 0, shrank = 0, cap = 0;
    for (int step = 0; step < STEPS; step++) {
        /* Phases: fill towards ~3000 keys, drain towards ~100, fill again. */
        size_t target = (step / 20000) % 2 ? 100 : 3000;
        uint64_t r = xorshift(&x);
        if (live < target || r % 4 == 0) {
            unsigned k = (unsigned)(r >> 8) % KEYS;
            int rc = add(&d, k, ++now);
            CHECK_EQ_INT(rc, present[k] ? 1 : 0);
            if (!present[k]) {
                present[k] = 1;
                added_at[k] = now;
                live++;
            }
        } else {
            cutoff += 1 + (int64_t)(r % 8);
            if (cutoff > now) {
                cutoff = now;
            }
            ioc_dedup_evict(&d, cutoff);
            for (unsigned k = 0; k < KEYS && live; k++) {
                if (present[k] && added_at[k] < cutoff) {
                    present[k] = 0;
                    live--;
                }
            }
        }
        grew += d.cur.cap > cap && cap;
        shrank += d.cur.cap < cap;
        cap = d.cur.cap;
        if (step % 5000 == 0 || d.old.slots) {
            CHECK_EQ_INT(ioc_dedup_count(&d), live);
        }
        if (step % 1000 == 0) {
            for (unsigned k = 0; k < KEYS; k++) {
                CHECK(has(&d, k) == present[k]);
            }
            if (test_failed_) {
                fprintf(stderr, "at step %d\n", step);
                break;
            }
        }
    }
    CHECK(grew >= 2);
    CHECK(shrank >= 2);
    ioc_dedup_close(&d);
}

/* A long run at a steady rate: a window of 100,000 keys turned over 50
 * times. The count stays at the window, the memory does not creep, the
 * keys in the window are found and the ones that left are not. */
TEST(steady_state_keeps_the_window_and_its_memory)
{
    enum { WINDOW = 100000, TOTAL = 5000000 };
    struct ioc_dedup d;
    REQUIRE(ioc_dedup_init(&d) == 0);
    size_t bytes_mid = 0, bytes_max_late = 0;
    uint64_t x = 12345;
    for (uint64_t k = 0; k < TOTAL; k++) {
        int64_t ts = (int64_t)k;
        ioc_dedup_evict(&d, ts - WINDOW);
        REQUIRE(add(&d, k, ts) == 0);
        if (k >= WINDOW) {
            CHECK_EQ_INT(ioc_dedup_count(&d), WINDOW + 1);
        }
        if (k == TOTAL / 2) {
            bytes_mid = ioc_dedup_bytes(&d);
        } else if (k > TOTAL / 2 && ioc_dedup_bytes(&d) > bytes_max_late) {
            bytes_max_late = ioc_dedup_bytes(&d);
        }
        if (k % 4099 == 0 && k > WINDOW) {
            CHECK(has(&d, k - xorshift(&x) % WINDOW));
            CHECK(!has(&d, k - WINDOW - 1 - xorshift(&x) % (k - WINDOW)));
            CHECK(!has(&d, k + 1));
        }
        if (test_failed_) {
            fprintf(stderr, "at key %llu\n", (unsigned long long)k);
            break;
        }
    }
    fprintf(stderr, "window %d: %zu bytes mid-run, at most %zu later, %.1f per key\n", WINDOW,
            bytes_mid, bytes_max_late, (double)bytes_max_late / WINDOW);
    CHECK(bytes_max_late <= bytes_mid);
    CHECK(bytes_max_late <= (size_t)48 * WINDOW);
    ioc_dedup_close(&d);
}
