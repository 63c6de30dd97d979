/*
 * test_geo.c — the spatial grid and clique search, checked against brute
 * force and against distances worked out by hand. Randomness comes from a
 * fixed-seed generator, so every run sees the same points.
 */
#include <math.h>

#include "ioc/error.h"
#include "ioc/geo.h"
#include "test.h"

#define M_PER_DEG (IOC_GEO_EARTH_RADIUS_M * 3.14159265358979323846 / 180.0)

struct rng {
    uint64_t s;
};

/* splitmix64: small, and good enough to scatter test points. */
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_uniform(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(r) >> 11) / 9007199254740992.0);
}

static struct ioc_geo_point pt(double lat, double lon, int64_t ts, uint32_t tag, uint64_t id)
{
    return (struct ioc_geo_point){lat, lon, ts, tag, id};
}

/* The point d metres north and e metres east of (lat, lon); exact enough for
 * test layouts of a few hundred metres, whose distances are checked anyway. */
static struct ioc_geo_point moved(double lat, double lon, double n, double e)
{
    double nlat = lat + n / M_PER_DEG;
    return pt(nlat, lon + e / (M_PER_DEG * cos(lat * 3.14159265358979323846 / 180.0)), 0, 0, 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Does ioc_geo_grid_near agree exactly with a scan of pts[] (the live ones:
 * ts > since)? ids are indexes into pts. Scratch arrays hold n entries.
 */
static bool agrees(const struct ioc_geo_grid *g, const struct ioc_geo_point *pts, size_t n,
                   int64_t since, double lat, double lon, double r,
                   const struct ioc_geo_point **out, uint64_t *want, uint64_t *got)
{
    size_t nwant = 0;
    for (size_t i = 0; i < n; i++) {
        if (pts[i].ts > since && ioc_geo_distance_m(lat, lon, pts[i].lat, pts[i].lon) <= r) {
            want[nwant++] = pts[i].id;
        }
    }
    size_t ngot = ioc_geo_grid_near(g, lat, lon, r, out, n);
    for (size_t i = 0; i < ngot; i++) {
        got[i] = out[i]->id;
    }
    qsort(want, nwant, sizeof *want, cmp_u64);
    qsort(got, ngot, sizeof *got, cmp_u64);
    if (ngot != nwant || (nwant && memcmp(want, got, nwant * sizeof *want) != 0)) {
        fprintf(stderr, "near(%.7f, %.7f, %g m): %zu points, brute force %zu\n", lat, lon, r, ngot,
                nwant);
        return false;
    }
    return true;
}

struct scratch {
    const struct ioc_geo_point **out;
    uint64_t *want, *got;
};

static struct scratch scratch_new(size_t n)
{
    struct scratch s = {malloc(n * sizeof *s.out), malloc(n * sizeof *s.want),
                        malloc(n * sizeof *s.got)};
    REQUIRE(s.out && s.want && s.got);
    return s;
}

static void scratch_free(struct scratch *s)
{
    free(s->out);
    free(s->want);
    free(s->got);
}

TEST(distance_known_values)
{
    /* Victory Monument to Siam, Bangkok: about 2.17 km. */
    double d = ioc_geo_distance_m(13.7649, 100.5383, 13.7457, 100.5347);
    CHECK(fabs(d - 2170) < 21.7);
    CHECK(ioc_geo_distance_m(13.7649, 100.5383, 13.7649, 100.5383) == 0);
    CHECK(d == ioc_geo_distance_m(13.7457, 100.5347, 13.7649, 100.5383));
    /* One degree of arc, the short way across the antimeridian. */
    double deg = ioc_geo_distance_m(0, 179.5, 0, -179.5);
    CHECK(fabs(deg - M_PER_DEG) < 1e-6);
    CHECK(fabs(ioc_geo_distance_m(0, 180, 0, -180)) < 1e-6);
    /* A quarter and a half of a great circle. */
    CHECK(fabs(ioc_geo_distance_m(0, 0, 90, 0) - 90 * M_PER_DEG) < 1e-6);
    CHECK(fabs(ioc_geo_distance_m(0, 0, 0, 180) - 180 * M_PER_DEG) < 1e-6);
    CHECK(fabs(ioc_geo_distance_m(45, 10, -45, -170) - 180 * M_PER_DEG) < 1e-6);
}

TEST(rejects_bad_radius_and_points)
{
    struct ioc_geo_grid g;
    CHECK_EQ_INT(ioc_geo_grid_init(&g, 0), IOC_EINVAL);
    ioc_geo_grid_close(&g);
    CHECK_EQ_INT(ioc_geo_grid_init(&g, -5), IOC_EINVAL);
    CHECK_EQ_INT(ioc_geo_grid_init(&g, NAN), IOC_EINVAL);
    CHECK_EQ_INT(ioc_geo_grid_init(&g, INFINITY), IOC_EINVAL);
    struct ioc_geo_point any = {13.75, 100.5, 0, 0, 0};
    CHECK_EQ_INT(ioc_geo_grid_add(&g, &any), IOC_ESTATE);
    ioc_geo_grid_close(&g);
    ioc_geo_grid_close(NULL);

    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    struct ioc_geo_point bad[] = {pt(NAN, 0, 1, 0, 1), pt(90.5, 0, 1, 0, 2), pt(-91, 0, 1, 0, 3),
                                  pt(0, INFINITY, 1, 0, 4)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(ioc_geo_grid_add(&g, &bad[i]), IOC_EINVAL);
    }
    CHECK_EQ_INT(ioc_geo_grid_size(&g), 0);
    /* The poles and any finite longitude are fine. */
    struct ioc_geo_point ok = pt(90, 720.25, 1, 0, 5);
    CHECK_EQ_INT(ioc_geo_grid_add(&g, &ok), 0);
    const struct ioc_geo_point *out[2];
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 90, 0, 1, out, 2), 1);
    CHECK_EQ_INT(ioc_geo_grid_near(&g, NAN, 0, 1, out, 2), 0);
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 90, 0, NAN, out, 2), 0);
    ioc_geo_grid_close(&g);
}

TEST(near_matches_brute_force_around_bangkok)
{
    enum { N = 10000 };
    struct rng r = {42};
    struct ioc_geo_point *pts = malloc(N * sizeof *pts);
    REQUIRE(pts);
    for (size_t i = 0; i < N; i++) {
        if (i % 10 == 0) {
            /* A tenth crowd a few hotspots, so some cells hold many points. */
            double hlat = 13.75 + 0.01 * (double)(i % 70 / 10), hlon = 100.53;
            pts[i] = pt(hlat + rng_uniform(&r, -0.002, 0.002),
                        hlon + rng_uniform(&r, -0.002, 0.002), (int64_t)i, 0, i);
        } else {
            pts[i] =
                pt(rng_uniform(&r, 13.6, 13.9), rng_uniform(&r, 100.4, 100.7), (int64_t)i, 0, i);
        }
    }
    struct scratch s = scratch_new(N);
    double grid_radii[] = {100, 500, 2000};
    double factors[] = {0, 0.1, 0.5, 1, 1.7, 3};
    int bad = 0;
    for (size_t gi = 0; gi < 3; gi++) {
        struct ioc_geo_grid g;
        REQUIRE(ioc_geo_grid_init(&g, grid_radii[gi]) == 0);
        for (size_t i = 0; i < N; i++) {
            REQUIRE(ioc_geo_grid_add(&g, &pts[i]) == 0);
        }
        CHECK_EQ_INT(ioc_geo_grid_size(&g), N);
        /* Twice: full, then with the older half expired (which moves points
         * inside the cells by swap-remove). */
        for (int pass = 0; pass < 2; pass++) {
            int64_t since = pass == 0 ? -1 : N / 2 - 1;
            if (pass == 1) {
                ioc_geo_grid_expire(&g, since);
                CHECK_EQ_INT(ioc_geo_grid_size(&g), N / 2);
            }
            for (int q = 0; q < 60; q++) {
                double lat, lon;
                if (q % 3 == 0) {
                    /* Right on a point, which must find itself. */
                    const struct ioc_geo_point *p = &pts[N / 2 + rng_next(&r) % (N / 2)];
                    lat = p->lat;
                    lon = p->lon;
                } else {
                    lat = rng_uniform(&r, 13.58, 13.92);
                    lon = rng_uniform(&r, 100.38, 100.72);
                }
                for (size_t fi = 0; fi < sizeof factors / sizeof factors[0]; fi++) {
                    double rad = grid_radii[gi] * factors[fi];
                    bad += !agrees(&g, pts, N, since, lat, lon, rad, s.out, s.want, s.got);
                }
            }
        }
        ioc_geo_grid_close(&g);
    }
    CHECK_EQ_INT(bad, 0);
    scratch_free(&s);
    free(pts);
}

TEST(near_far_from_the_first_latitude_and_at_the_pole)
{
    enum { N = 3000 };
    struct rng r = {7};
    struct ioc_geo_point *pts = malloc(N * sizeof *pts);
    REQUIRE(pts);
    /* The first point (Bangkok) sizes the columns; the rest are far north. */
    pts[0] = pt(13.75, 100.5, 0, 0, 0);
    for (size_t i = 1; i < N; i++) {
        if (i % 2) {
            pts[i] = pt(rng_uniform(&r, 64.0, 64.2), rng_uniform(&r, -22.1, -21.7), 0, 0, i);
        } else {
            pts[i] = pt(rng_uniform(&r, 89.96, 90), rng_uniform(&r, -180, 180), 0, 0, i);
        }
    }
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    for (size_t i = 0; i < N; i++) {
        REQUIRE(ioc_geo_grid_add(&g, &pts[i]) == 0);
    }
    struct scratch s = scratch_new(N);
    int bad = 0;
    double radii[] = {100, 500, 1500, 5000};
    for (int q = 0; q < 40; q++) {
        double lat = q % 2 ? rng_uniform(&r, 63.98, 64.22) : rng_uniform(&r, 89.9, 90);
        double lon = q % 2 ? rng_uniform(&r, -22.12, -21.68) : rng_uniform(&r, -180, 180);
        for (size_t ri = 0; ri < 4; ri++) {
            bad += !agrees(&g, pts, N, -1, lat, lon, radii[ri], s.out, s.want, s.got);
        }
    }
    bad += !agrees(&g, pts, N, -1, 90, 0, 3000, s.out, s.want, s.got);
    bad += !agrees(&g, pts, N, -1, -90, 0, 3000, s.out, s.want, s.got);
    /* A circle bigger than the Earth holds everything. */
    bad += !agrees(&g, pts, N, -1, 0, 0, 3e7, s.out, s.want, s.got);
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 0, 0, INFINITY, s.out, N), N);
    CHECK_EQ_INT(bad, 0);
    scratch_free(&s);
    ioc_geo_grid_close(&g);
    free(pts);
}

TEST(near_across_the_antimeridian)
{
    enum { N = 2000 };
    struct rng r = {99};
    struct ioc_geo_point *pts = malloc(N * sizeof *pts);
    REQUIRE(pts);
    for (size_t i = 0; i < N; i++) {
        double lon = rng_uniform(&r, 179.95, 180.05);
        /* Some as given past 180, some wrapped into [-180, 180). */
        if (i % 2 && lon >= 180) {
            lon -= 360;
        }
        pts[i] = pt(rng_uniform(&r, -17.05, -16.95), lon, 0, 0, i);
    }
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    for (size_t i = 0; i < N; i++) {
        REQUIRE(ioc_geo_grid_add(&g, &pts[i]) == 0);
    }
    struct scratch s = scratch_new(N);
    int bad = 0;
    for (int q = 0; q < 60; q++) {
        double lat = rng_uniform(&r, -17.06, -16.94), lon = rng_uniform(&r, 179.94, 180.06);
        if (q % 2 && lon >= 180) {
            lon -= 360;
        }
        bad += !agrees(&g, pts, N, -1, lat, lon, 500, s.out, s.want, s.got);
        bad += !agrees(&g, pts, N, -1, lat, lon, 2000, s.out, s.want, s.got);
    }
    bad += !agrees(&g, pts, N, -1, -17, 180, 500, s.out, s.want, s.got);
    bad += !agrees(&g, pts, N, -1, -17, -180, 500, s.out, s.want, s.got);
    CHECK_EQ_INT(bad, 0);
    scratch_free(&s);
    ioc_geo_grid_close(&g);
    free(pts);
}

TEST(near_across_cell_boundaries)
{
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    struct ioc_geo_point seed = pt(13.75, 100.5, 0, 0, 100);
    REQUIRE(ioc_geo_grid_add(&g, &seed) == 0);
    CHECK(g.dlat * M_PER_DEG >= 500);
    CHECK(g.dlon * M_PER_DEG * cos(14.75 * 3.14159265358979323846 / 180) >= 500);

    /* The first row and column edges north and east of the seed. */
    double rowb = (floor((seed.lat + 90) / g.dlat) + 1) * g.dlat - 90;
    double colb = (floor((seed.lon + 180) / g.dlon) + 1) * g.dlon - 180;
    /* Pairs across a row edge, a column edge and a corner. */
    struct ioc_geo_point p[] = {
        pt(rowb - 0.002, 100.49, 1, 0, 1),     pt(rowb + 0.002, 100.49, 1, 0, 2),
        pt(13.70, colb - 0.002, 1, 0, 3),      pt(13.70, colb + 0.002, 1, 0, 4),
        pt(rowb - 1e-9, colb - 1e-9, 1, 0, 5), pt(rowb + 0.0012, colb + 0.0012, 1, 0, 6),
    };
    for (size_t i = 0; i < 6; i++) {
        REQUIRE(ioc_geo_grid_add(&g, &p[i]) == 0);
    }
    for (size_t i = 0; i < 6; i += 2) {
        const struct ioc_geo_point *a = &p[i], *b = &p[i + 1];
        double d = ioc_geo_distance_m(a->lat, a->lon, b->lat, b->lon);
        CHECK(d < 500);
        /* They really are in different cells. */
        CHECK(floor((a->lat + 90) / g.dlat) != floor((b->lat + 90) / g.dlat) ||
              floor((a->lon + 180) / g.dlon) != floor((b->lon + 180) / g.dlon));
        const struct ioc_geo_point *out[8];
        size_t n = ioc_geo_grid_near(&g, a->lat, a->lon, d, out, 8);
        bool found = false;
        for (size_t k = 0; k < n; k++) {
            found = found || out[k]->id == b->id;
        }
        CHECK(found);
        /* A hair shorter and the partner is out. */
        n = ioc_geo_grid_near(&g, b->lat, b->lon, d * (1 - 1e-9), out, 8);
        for (size_t k = 0; k < n; k++) {
            CHECK(out[k]->id != a->id);
        }
    }
    ioc_geo_grid_close(&g);
}

TEST(near_stops_at_max)
{
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    for (int i = 0; i < 10; i++) {
        struct ioc_geo_point p = pt(13.75 + i * 1e-5, 100.5, i, 0, (uint64_t)i);
        REQUIRE(ioc_geo_grid_add(&g, &p) == 0);
    }
    const struct ioc_geo_point *out[10];
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 13.75, 100.5, 500, out, 3), 3);
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 13.75, 100.5, 500, NULL, 0), 0);
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 13.75, 100.5, 500, out, 10), 10);
    ioc_geo_grid_close(&g);
}

TEST(expire_drops_old_points)
{
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 200) == 0);
    /* Spread over many cells, so cells empty and leave the map. */
    for (int i = 0; i < 100; i++) {
        struct ioc_geo_point p =
            pt(13.7 + (i % 10) * 0.01, 100.5 + (i / 10) * 0.01, i * 1000, 0, (uint64_t)i);
        REQUIRE(ioc_geo_grid_add(&g, &p) == 0);
    }
    size_t cells = g.cells.n;
    CHECK(cells == 100);
    ioc_geo_grid_expire(&g, -1);
    CHECK_EQ_INT(ioc_geo_grid_size(&g), 100);
    ioc_geo_grid_expire(&g, 49000); /* ts <= before goes */
    CHECK_EQ_INT(ioc_geo_grid_size(&g), 50);
    CHECK_EQ_INT(g.cells.n, 50);
    const struct ioc_geo_point *out[100];
    size_t n = ioc_geo_grid_near(&g, 13.75, 100.55, 1e5, out, 100);
    CHECK_EQ_INT(n, 50);
    for (size_t k = 0; k < n; k++) {
        CHECK(out[k]->ts > 49000);
    }
    ioc_geo_grid_expire(&g, 1000000);
    CHECK_EQ_INT(ioc_geo_grid_size(&g), 0);
    CHECK_EQ_INT(g.cells.n, 0);
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 13.75, 100.55, 1e5, out, 100), 0);
    /* Still usable after emptying. */
    struct ioc_geo_point p = pt(13.75, 100.55, 2000000, 0, 7);
    REQUIRE(ioc_geo_grid_add(&g, &p) == 0);
    CHECK_EQ_INT(ioc_geo_grid_near(&g, 13.75, 100.55, 1, out, 100), 1);
    ioc_geo_grid_close(&g);
}

TEST(expire_keeps_a_late_point_behind_a_newer_one)
{
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    struct ioc_geo_point a = pt(13.75, 100.5, 10, 0, 1), late = pt(13.75, 100.5, 5, 0, 2);
    REQUIRE(ioc_geo_grid_add(&g, &a) == 0);
    REQUIRE(ioc_geo_grid_add(&g, &late) == 0);
    ioc_geo_grid_expire(&g, 7);
    CHECK_EQ_INT(ioc_geo_grid_size(&g), 2);
    ioc_geo_grid_expire(&g, 10);
    CHECK_EQ_INT(ioc_geo_grid_size(&g), 0);
    ioc_geo_grid_close(&g);
}

TEST(capacity_grows_while_the_ring_wraps)
{
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    /* A sliding window of 700 points over 5000, all in one or two cells: the
     * ring wraps before each growth and the cell vector grows and shrinks. */
    for (int i = 0; i < 5000; i++) {
        ioc_geo_grid_expire(&g, i - 700);
        struct ioc_geo_point p = pt(13.75 + (i % 7) * 1e-5, 100.5, i, 0, (uint64_t)i);
        REQUIRE(ioc_geo_grid_add(&g, &p) == 0);
        if (i == 1999) {
            /* Then a burst that doubles the ring from a wrapped state. */
            for (int k = 0; k < 3000; k++) {
                struct ioc_geo_point b = pt(13.7501, 100.5001, i, 0, 100000 + (uint64_t)k);
                REQUIRE(ioc_geo_grid_add(&g, &b) == 0);
            }
        }
    }
    CHECK_EQ_INT(ioc_geo_grid_size(&g), 700);
    const struct ioc_geo_point **out = malloc(8000 * sizeof *out);
    REQUIRE(out);
    size_t n = ioc_geo_grid_near(&g, 13.75, 100.5, 500, out, 8000);
    CHECK_EQ_INT(n, 700);
    uint64_t seen[700] = {0};
    for (size_t k = 0; k < n; k++) {
        CHECK(out[k]->id >= 4300 && out[k]->id < 5000 && out[k]->ts == (int64_t)out[k]->id);
        if (out[k]->id >= 4300 && out[k]->id < 5000) {
            seen[out[k]->id - 4300]++;
        }
    }
    for (int k = 0; k < 700; k++) {
        CHECK_EQ_INT(seen[k], 1);
    }
    free(out);
    ioc_geo_grid_close(&g);
}

TEST(clique_of_a_pair)
{
    double lat = 13.7649, lon = 100.5383;
    for (int far = 0; far < 2; far++) {
        struct ioc_geo_grid g;
        REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
        struct ioc_geo_point a = pt(lat, lon, 100, 0, 1);
        struct ioc_geo_point b = moved(lat, lon, far ? 600 : 400, 0);
        b.ts = 200;
        b.tag = 1;
        b.id = 2;
        double d = ioc_geo_distance_m(a.lat, a.lon, b.lat, b.lon);
        CHECK(fabs(d - (far ? 600 : 400)) < 1);
        REQUIRE(ioc_geo_grid_add(&g, &a) == 0);
        REQUIRE(ioc_geo_grid_add(&g, &b) == 0);
        const struct ioc_geo_point *chosen[2] = {NULL, NULL};
        bool found = ioc_geo_clique(&g, b.lat, b.lon, 2, 500, 0, chosen);
        CHECK(found == !far);
        if (!far) {
            CHECK(chosen[0] && chosen[0]->id == 1);
            CHECK(chosen[1] && chosen[1]->id == 2);
        } else {
            CHECK(!chosen[0] && !chosen[1]);
        }
        /* One tag, asked at A: A alone is the clique. */
        CHECK(ioc_geo_clique(&g, a.lat, a.lon, 1, 500, 0, chosen) && chosen[0]->id == 1);
        ioc_geo_grid_close(&g);
    }
}

TEST(clique_needs_every_pair_close)
{
    double lat = 13.7457, lon = 100.5347;
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    /* A and B are 300 m apart; C, the new point, is 2 km away. */
    struct ioc_geo_point a = moved(lat, lon, 0, 0), b = moved(lat, lon, 300, 0);
    struct ioc_geo_point c = moved(lat, lon, 2000, 0);
    a = pt(a.lat, a.lon, 1, 0, 1);
    b = pt(b.lat, b.lon, 2, 1, 2);
    c = pt(c.lat, c.lon, 3, 2, 3);
    REQUIRE(ioc_geo_grid_add(&g, &a) == 0);
    REQUIRE(ioc_geo_grid_add(&g, &b) == 0);
    REQUIRE(ioc_geo_grid_add(&g, &c) == 0);
    const struct ioc_geo_point *chosen[3];
    CHECK(!ioc_geo_clique(&g, c.lat, c.lon, 3, 500, 0, chosen));

    /* N has E 400 m east and W 400 m west: each close to N, not to each other. */
    struct ioc_geo_point n = moved(lat, lon, -3000, 0);
    struct ioc_geo_point e = moved(n.lat, n.lon, 0, 400), w = moved(n.lat, n.lon, 0, -400);
    e = pt(e.lat, e.lon, 10, 0, 10);
    w = pt(w.lat, w.lon, 11, 1, 11);
    n = pt(n.lat, n.lon, 12, 2, 12);
    REQUIRE(ioc_geo_grid_add(&g, &e) == 0);
    REQUIRE(ioc_geo_grid_add(&g, &w) == 0);
    REQUIRE(ioc_geo_grid_add(&g, &n) == 0);
    CHECK(!ioc_geo_clique(&g, n.lat, n.lon, 3, 500, 0, chosen));
    /* A second tag-1 point near E (and N) completes the triangle. */
    struct ioc_geo_point w2 = moved(n.lat, n.lon, 150, 250);
    w2 = pt(w2.lat, w2.lon, 13, 1, 13);
    REQUIRE(ioc_geo_grid_add(&g, &w2) == 0);
    REQUIRE(ioc_geo_clique(&g, n.lat, n.lon, 3, 500, 0, chosen));
    CHECK(chosen[0]->id == 10 && chosen[1]->id == 13 && chosen[2]->id == 12);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            CHECK(ioc_geo_distance_m(chosen[i]->lat, chosen[i]->lon, chosen[j]->lat,
                                     chosen[j]->lon) <= 500);
        }
    }
    CHECK(!ioc_geo_clique(&g, n.lat, n.lon, 0, 500, 0, chosen));
    CHECK(!ioc_geo_clique(&g, n.lat, n.lon, IOC_GEO_MAX_TAGS + 1, 500, 0, chosen));
    ioc_geo_grid_close(&g);
}

TEST(clique_honours_since_and_prefers_newer_points)
{
    double lat = 13.75, lon = 100.5;
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    struct ioc_geo_point old = moved(lat, lon, 100, 0), newer = moved(lat, lon, -100, 0);
    old = pt(old.lat, old.lon, 100, 0, 1);
    newer = pt(newer.lat, newer.lon, 150, 0, 2);
    struct ioc_geo_point now = pt(lat, lon, 200, 1, 3);
    REQUIRE(ioc_geo_grid_add(&g, &old) == 0);
    REQUIRE(ioc_geo_grid_add(&g, &newer) == 0);
    REQUIRE(ioc_geo_grid_add(&g, &now) == 0);
    const struct ioc_geo_point *chosen[2];
    REQUIRE(ioc_geo_clique(&g, lat, lon, 2, 500, 0, chosen));
    CHECK(chosen[0]->id == 2 && chosen[1]->id == 3);
    REQUIRE(ioc_geo_clique(&g, lat, lon, 2, 500, 149, chosen));
    CHECK(chosen[0]->id == 2);
    /* ts must be strictly after since. */
    CHECK(!ioc_geo_clique(&g, lat, lon, 2, 500, 150, chosen));
    /* The new point itself must be young enough too. */
    CHECK(!ioc_geo_clique(&g, lat, lon, 2, 500, 200, chosen));
    ioc_geo_grid_close(&g);
}

TEST(clique_in_a_dense_crowd_is_bounded)
{
    double lat = 13.75, lon = 100.5;
    struct ioc_geo_grid g;
    REQUIRE(ioc_geo_grid_init(&g, 500) == 0);
    /* 300 points each of tags 0 and 1 on opposite sides, 900 m apart, all
     * within 500 m of the new point; tag 2 also east. No clique exists. */
    for (int i = 0; i < 300; i++) {
        struct ioc_geo_point e = moved(lat, lon, i % 20, 450);
        struct ioc_geo_point w = moved(lat, lon, i % 20, -450);
        struct ioc_geo_point t = moved(lat, lon, -(i % 20), 440);
        e = pt(e.lat, e.lon, i, 0, (uint64_t)i);
        w = pt(w.lat, w.lon, i, 1, 1000 + (uint64_t)i);
        t = pt(t.lat, t.lon, i, 2, 2000 + (uint64_t)i);
        REQUIRE(ioc_geo_grid_add(&g, &e) == 0);
        REQUIRE(ioc_geo_grid_add(&g, &w) == 0);
        REQUIRE(ioc_geo_grid_add(&g, &t) == 0);
    }
    struct ioc_geo_point n = pt(lat, lon, 1000, 3, 9999);
    REQUIRE(ioc_geo_grid_add(&g, &n) == 0);
    const struct ioc_geo_point *chosen[4] = {NULL, NULL, NULL, NULL};
    CHECK(!ioc_geo_clique(&g, lat, lon, 4, 500, -1, chosen));
    CHECK(!chosen[0]);
    /* Without the west tag the east side and the new point qualify; the
     * newest of each tag is chosen. */
    const struct ioc_geo_point *pick[2];
    struct ioc_geo_point n2 = moved(lat, lon, 0, 200);
    n2 = pt(n2.lat, n2.lon, 1001, 1, 10000);
    REQUIRE(ioc_geo_grid_add(&g, &n2) == 0);
    REQUIRE(ioc_geo_clique(&g, n2.lat, n2.lon, 2, 500, -1, pick));
    CHECK(pick[0]->id == 299 && pick[1]->id == 10000);
    ioc_geo_grid_close(&g);
}
