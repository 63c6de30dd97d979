/*
 * test_throttle.c — one record per key and interval, on a clock driven by
 * hand: what is written, what is held back, and that every held record is
 * handed out in the end, when the table is full too.
 */
#include <stdint.h>
#include <string.h>

#include "ioc/throttle.h"
#include "test.h"

#define MINUTE 60000

struct handed {
    char key[32];
    uint64_t n;
    int64_t last;
    int calls;
    uint64_t total;
};

static void on_held(void *arg, const char *key, size_t len, uint64_t n, int64_t last)
{
    struct handed *h = arg;
    snprintf(h->key, sizeof h->key, "%.*s", (int)len, key);
    h->n = n;
    h->last = last;
    h->calls++;
    h->total += n;
}

static uint64_t admit(struct ioc_throttle *t, const char *key, int64_t now, struct handed *h)
{
    return ioc_throttle_admit(t, key, strlen(key), now, on_held, h);
}

TEST(repeats_within_the_interval_are_held_and_counted)
{
    struct ioc_throttle t;
    struct handed h = {0};
    REQUIRE(ioc_throttle_init(&t, 8, MINUTE) == 0);
    CHECK_EQ_INT(admit(&t, "a", 1000, &h), 1);
    /* Ten a second for a minute: all held. */
    uint64_t written = 0;
    for (int64_t now = 1100; now < 1000 + MINUTE; now += 100) {
        written += admit(&t, "a", now, &h);
    }
    CHECK_EQ_INT(written, 0);
    /* The first after the interval stands for itself and the 599 held. */
    CHECK_EQ_INT(admit(&t, "a", 1000 + MINUTE, &h), 600);
    CHECK_EQ_INT(admit(&t, "a", 1000 + MINUTE + 1, &h), 0);
    /* Another key is not held back by the first. */
    CHECK_EQ_INT(admit(&t, "b", 1000 + MINUTE + 2, &h), 1);
    CHECK_EQ_INT(h.calls, 0);
    ioc_throttle_close(&t);
}

TEST(held_counts_are_handed_out_when_the_interval_ends)
{
    struct ioc_throttle t;
    struct handed h = {0};
    REQUIRE(ioc_throttle_init(&t, 8, MINUTE) == 0);
    CHECK_EQ_INT(admit(&t, "a", 0, &h), 1);
    CHECK_EQ_INT(admit(&t, "a", 10, &h), 0);
    CHECK_EQ_INT(admit(&t, "a", 20, &h), 0);
    ioc_throttle_expire(&t, MINUTE - 1, on_held, &h);
    CHECK_EQ_INT(h.calls, 0);
    ioc_throttle_expire(&t, MINUTE, on_held, &h);
    CHECK_EQ_INT(h.calls, 1);
    CHECK_STR(h.key, "a");
    CHECK_EQ_INT(h.n, 2);
    CHECK_EQ_INT(h.last, 20);
    /* That was the record of its interval: a repeat right after is held. */
    CHECK_EQ_INT(admit(&t, "a", MINUTE + 5, &h), 0);
    /* Expiring everything (shutdown) hands that one out too, then forgets. */
    ioc_throttle_expire(&t, INT64_MAX, on_held, &h);
    CHECK_EQ_INT(h.calls, 2);
    CHECK_EQ_INT(h.n, 1);
    ioc_throttle_expire(&t, INT64_MAX, on_held, &h);
    CHECK_EQ_INT(h.calls, 2);
    CHECK_EQ_INT(admit(&t, "a", MINUTE + 6, &h), 1);
    ioc_throttle_close(&t);
}

TEST(a_full_table_reuses_the_oldest_slot_and_loses_no_count)
{
    struct ioc_throttle t;
    struct handed h = {0};
    char key[16];
    REQUIRE(ioc_throttle_init(&t, 4, MINUTE) == 0);
    uint64_t written = 0;
    int records = 0;
    /* Ten keys, each refused three times in a row, in a table of four. */
    for (int k = 0; k < 10; k++) {
        snprintf(key, sizeof key, "k%d", k);
        for (int rep = 0; rep < 3; rep++) {
            written += admit(&t, key, k * 10 + rep, &h);
            records++;
        }
    }
    CHECK_EQ_INT(written, 10);
    CHECK_EQ_INT(h.calls, 6); /* k0..k5 made room, each with its two held */
    CHECK_EQ_INT(h.total, 12);
    ioc_throttle_expire(&t, INT64_MAX, on_held, &h);
    CHECK_EQ_INT(written + h.total, records);
    ioc_throttle_close(&t);
    ioc_throttle_close(&t); /* a closed (zeroed) table closes again */
}
