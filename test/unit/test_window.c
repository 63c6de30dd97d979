/*
 * test_window.c — sliding event-time windows, driven with explicit times.
 */
#include "ioc/window.h"
#include "test.h"

TEST(count_slides_with_event_time)
{
    struct ioc_window w;
    ioc_window_init(&w, false);
    for (int i = 0; i < 10; i++) {
        ioc_window_evict(&w, i * 60000LL - 300000);
        REQUIRE(ioc_window_push(&w, i * 60000LL, 1, 0) == 0);
    }
    /* A 5-minute window at t = 9 min holds the events of minutes 5..9. */
    CHECK_EQ_INT(ioc_window_count(&w), 5);
    ioc_window_evict(&w, 20 * 60000LL);
    CHECK_EQ_INT(ioc_window_count(&w), 0);
    ioc_window_close(&w);
}

TEST(distinct_counts_values_not_events)
{
    struct ioc_window w;
    ioc_window_init(&w, true);
    uint64_t hs[] = {1, 2, 1, 3, 2, 1};
    for (int i = 0; i < 6; i++) {
        REQUIRE(ioc_window_push(&w, i, 0, hs[i]) == 0);
    }
    CHECK_EQ_INT(ioc_window_count(&w), 3);
    ioc_window_evict(&w, 3); /* drops 1, 2, 1, 3: left 2, 1 */
    CHECK_EQ_INT(ioc_window_count(&w), 2);
    ioc_window_close(&w);
}

TEST(aggregates)
{
    struct ioc_window w;
    double v;
    ioc_window_init(&w, false);
    CHECK(!ioc_window_agg(&w, IOC_AGG_AVG, &v));
    double vals[] = {1.0, 3.0, 2.0, 6.0};
    for (int i = 0; i < 4; i++) {
        REQUIRE(ioc_window_push(&w, i * 1800000LL, vals[i], 0) == 0);
    }
    CHECK(ioc_window_agg(&w, IOC_AGG_SUM, &v) && v == 12.0);
    CHECK(ioc_window_agg(&w, IOC_AGG_AVG, &v) && v == 3.0);
    CHECK(ioc_window_agg(&w, IOC_AGG_MIN, &v) && v == 1.0);
    CHECK(ioc_window_agg(&w, IOC_AGG_MAX, &v) && v == 6.0);
    /* From 1.0 to 6.0 over 90 minutes: 3.33 per hour. */
    CHECK(ioc_window_agg(&w, IOC_AGG_RATE, &v) && v > 3.33 && v < 3.34);
    ioc_window_evict(&w, 1800000LL);
    CHECK(ioc_window_agg(&w, IOC_AGG_SUM, &v) && v == 8.0);
    CHECK_EQ_INT(ioc_agg_parse("rate"), IOC_AGG_RATE);
    CHECK_EQ_INT(ioc_agg_parse("median"), -1);
    ioc_window_close(&w);
}

TEST(grows_past_its_first_capacity_in_order)
{
    struct ioc_window w;
    double v;
    ioc_window_init(&w, false);
    for (int i = 0; i < 1000; i++) {
        if (i % 3 == 0) {
            ioc_window_evict(&w, i - 100);
        }
        REQUIRE(ioc_window_push(&w, i, i, 0) == 0);
    }
    CHECK(ioc_window_agg(&w, IOC_AGG_MIN, &v) && v >= 897);
    CHECK(ioc_window_agg(&w, IOC_AGG_MAX, &v) && v == 999);
    ioc_window_close(&w);
}
