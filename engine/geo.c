/*
 * geo.c — a uniform lat/lon grid of recent points, and the clique search of
 * "members within N metres of each other" clauses.
 *
 * Ownership: the grid owns one ring buffer (the FIFO) of small references, one
 * per point in insertion order, and one heap cell per occupied grid square,
 * found through an ioc_map keyed by the (row, col) pair. A cell holds the
 * points themselves in a vector, so a query reads contiguous memory.
 *
 * Invariants:
 * - Every point sits in exactly one cell, at cell->v[ref->idx] of its FIFO
 *   reference; each entry knows its insertion number, which locates its
 *   reference in the ring. Removal from a cell swaps the last entry in and
 *   fixes that entry's reference, so expiry is O(1) per point.
 * - A cell is in the map exactly while it holds a point: memory follows the
 *   live points, not every square ever visited.
 * - nrows * dlat == 180 and ncols * dlon == 360, so row and column numbers
 *   wrap exactly at the antimeridian. Cells are at least one radius (plus a
 *   margin) high, and wide at the first point's latitude plus one degree.
 * - Queries never trust the cell size: they compute the rows and columns that
 *   cover the circle (a spherical cap) with a small margin, which is 3x3 for
 *   the radius the grid was built for, and then check the exact distance. So
 *   the answer always equals a brute-force scan with ioc_geo_distance_m.
 *
 * Single-threaded; no state outside the grid.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ioc/error.h"
#include "ioc/geo.h"

/* M_PI is not C11; spelled out to need no feature macro. */
#define PI 3.14159265358979323846
#define DEG (180.0 / PI)
#define RAD (PI / 180.0)

/* At most 2^30 rows or columns keep (row, col) in int32 and bound a square at
 * about 4 cm; tinier radii get cells wider than needed, which is still exact. */
#define MAX_AXIS 1073741824.0

/* Queries widen their box by this much (relative, then degrees) so rounding in
 * the trigonometry can never leave out a point that is within the radius. */
#define QUERY_REL 1e-9
#define QUERY_ABS 1e-9
/* Cells are sized with a larger margin than queries use, so a query at the
 * grid's own radius never spills into a fourth row or column. */
#define CELL_REL 1e-6
#define CELL_ABS 2e-9

struct ioc_geo_ref {
    struct ioc_geo_cell *cell;
    size_t idx;
    int64_t ts; /* copy of the point's, so expiry reads only the ring */
};

struct entry {
    struct ioc_geo_point pt;
    uint64_t seq; /* insertion number, to find the FIFO reference */
};

struct ioc_geo_cell {
    struct entry *v;
    size_t n, cap;
    int32_t key[2]; /* row, col: to leave the map when empty */
};

double ioc_geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * RAD, p2 = lat2 * RAD;
    double sy = sin((p2 - p1) / 2), sx = sin((lon2 - lon1) * RAD / 2);
    double a = sy * sy + cos(p1) * cos(p2) * sx * sx;
    /* Rounding can push a just past 1 for antipodes; asin would give NaN. */
    if (a > 1) {
        a = 1;
    }
    return 2 * IOC_GEO_EARTH_RADIUS_M * asin(sqrt(a));
}

/* The angular radius in degrees of a circle of radius_m on the Earth. */
static double arc_deg(double radius_m)
{
    return radius_m / IOC_GEO_EARTH_RADIUS_M * DEG;
}

/* Cells around an axis of `span` degrees, each at least `min` degrees. */
static int32_t axis_cells(double span, double min)
{
    double n = floor(span / min);
    if (!(n >= 1)) {
        n = 1;
    }
    if (n > MAX_AXIS) {
        n = MAX_AXIS;
    }
    return (int32_t)n;
}

/*
 * How far in longitude (degrees) a cap of angular radius `arc` degrees around
 * latitude `lat` reaches; 360 when the cap holds a pole. The widest point of a
 * cap is not on its centre's parallel, hence asin rather than arc / cos(lat).
 */
static double lon_reach(double lat, double arc)
{
    if (fabs(lat) + arc >= 90) {
        return 360;
    }
    double s = sin(arc * RAD) / cos(lat * RAD);
    return asin(s < 1 ? s : 1) * DEG;
}

/* lon in [-180, 180). */
static double norm_lon(double lon)
{
    if (lon >= -180 && lon < 180) {
        return lon;
    }
    double x = fmod(lon + 180, 360);
    if (x < 0) {
        x += 360;
    }
    x -= 180;
    return x < 180 ? x : -180;
}

/* Both are monotonic in their argument, which is what makes the query box
 * exact: a point inside the box in degrees is inside it in cells. */
static int32_t row_of(const struct ioc_geo_grid *g, double lat)
{
    double r = floor((lat + 90) / g->dlat);
    return r < 0 ? 0 : r >= g->nrows ? g->nrows - 1 : (int32_t)r;
}

static int32_t col_of(const struct ioc_geo_grid *g, double lon)
{
    double c = floor((lon + 180) / g->dlon);
    return c < 0 ? 0 : c >= g->ncols ? g->ncols - 1 : (int32_t)c;
}

int ioc_geo_grid_init(struct ioc_geo_grid *g, double radius_m)
{
    memset(g, 0, sizeof *g);
    ioc_map_init(&g->cells);
    if (!(radius_m > 0) || !isfinite(radius_m)) {
        return IOC_EINVAL;
    }
    g->radius_m = radius_m;
    g->nrows = axis_cells(180, arc_deg(radius_m) * (1 + CELL_REL) + CELL_ABS);
    g->dlat = 180.0 / g->nrows;
    return 0;
}

void ioc_geo_grid_close(struct ioc_geo_grid *g)
{
    if (!g) {
        return;
    }
    void *val;
    for (size_t i = 0; ioc_map_next(&g->cells, &i, NULL, NULL, &val);) {
        struct ioc_geo_cell *c = val;
        free(c->v);
        free(c);
    }
    ioc_map_close(&g->cells);
    free(g->fifo);
    memset(g, 0, sizeof *g);
}

/* Column width from the first point: a degree poleward of it covers a city;
 * capped at 89 degrees so a polar first point does not make one huge column. */
static void fix_columns(struct ioc_geo_grid *g, double lat)
{
    double ref = fmin(fabs(lat) + 1, 89);
    double arc = arc_deg(g->radius_m) * (1 + CELL_REL) + CELL_ABS;
    double reach = lon_reach(ref, arc);
    g->ncols = axis_cells(360, reach * (1 + CELL_REL) + CELL_ABS);
    g->dlon = 360.0 / g->ncols;
}

static struct ioc_geo_ref *ref_of(const struct ioc_geo_grid *g, uint64_t seq)
{
    return &g->fifo[(g->head + (size_t)(seq - g->head_seq)) & (g->cap - 1)];
}

static int fifo_reserve(struct ioc_geo_grid *g)
{
    if (g->n < g->cap) {
        return 0;
    }
    size_t nc = g->cap ? g->cap * 2 : 16;
    if (nc < g->cap || nc > SIZE_MAX / sizeof(struct ioc_geo_ref)) {
        return IOC_ENOMEM;
    }
    struct ioc_geo_ref *nf = malloc(nc * sizeof *nf);
    if (!nf) {
        return IOC_ENOMEM;
    }
    /* Unroll the ring so head is 0; insertion numbers are unchanged. */
    for (size_t i = 0; i < g->n; i++) {
        nf[i] = g->fifo[(g->head + i) & (g->cap - 1)];
    }
    free(g->fifo);
    g->fifo = nf;
    g->cap = nc;
    g->head = 0;
    return 0;
}

static int cell_reserve(struct ioc_geo_cell *c)
{
    if (c->n < c->cap) {
        return 0;
    }
    size_t nc = c->cap ? c->cap * 2 : 4;
    if (nc < c->cap || nc > SIZE_MAX / sizeof(struct entry)) {
        return IOC_ENOMEM;
    }
    struct entry *nv = realloc(c->v, nc * sizeof *nv);
    if (!nv) {
        return IOC_ENOMEM;
    }
    c->v = nv;
    c->cap = nc;
    return 0;
}

static void cell_free(struct ioc_geo_grid *g, struct ioc_geo_cell *c)
{
    ioc_map_del(&g->cells, c->key, sizeof c->key);
    free(c->v);
    free(c);
}

int ioc_geo_grid_add(struct ioc_geo_grid *g, const struct ioc_geo_point *p)
{
    if (g->nrows == 0) {
        return IOC_ESTATE; /* init failed or the grid is closed: no cell size */
    }
    if (!(p->lat >= -90 && p->lat <= 90) || !isfinite(p->lon)) {
        return IOC_EINVAL;
    }
    if (g->ncols == 0) {
        fix_columns(g, p->lat);
    }
    int32_t key[2] = {row_of(g, p->lat), col_of(g, norm_lon(p->lon))};
    struct ioc_geo_cell *c = ioc_map_get(&g->cells, key, sizeof key);
    bool fresh = false;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            return IOC_ENOMEM;
        }
        memcpy(c->key, key, sizeof key);
        if (ioc_map_put(&g->cells, key, sizeof key, c) != 0) {
            free(c);
            return IOC_ENOMEM;
        }
        fresh = true;
    }
    /* Reserve everything before linking anything, so failure changes nothing
     * the caller can see (a grown vector or ring is only spare capacity). */
    if (cell_reserve(c) != 0 || fifo_reserve(g) != 0) {
        goto fail;
    }
    uint64_t seq = g->head_seq + g->n;
    c->v[c->n] = (struct entry){*p, seq};
    g->fifo[(g->head + g->n) & (g->cap - 1)] = (struct ioc_geo_ref){c, c->n, p->ts};
    c->n++;
    g->n++;
    return 0;

fail:
    if (fresh) {
        cell_free(g, c);
    }
    return IOC_ENOMEM;
}

void ioc_geo_grid_expire(struct ioc_geo_grid *g, int64_t before)
{
    while (g->n > 0 && g->fifo[g->head].ts <= before) {
        struct ioc_geo_ref *r = &g->fifo[g->head];
        struct ioc_geo_cell *c = r->cell;
        size_t last = c->n - 1;
        if (r->idx != last) {
            c->v[r->idx] = c->v[last];
            ref_of(g, c->v[r->idx].seq)->idx = r->idx;
        }
        c->n--;
        if (c->n == 0) {
            cell_free(g, c);
        }
        g->head = (g->head + 1) & (g->cap - 1);
        g->head_seq++;
        g->n--;
    }
}

size_t ioc_geo_grid_size(const struct ioc_geo_grid *g)
{
    return g->n;
}

/* Called for each point within the radius; returns false to stop the scan. */
typedef bool (*visit_fn)(void *ctx, const struct ioc_geo_point *p);

struct query {
    double lat, lon, radius_m, arc; /* arc: widened angular radius, degrees */
    visit_fn fn;
    void *ctx;
};

/* Visits the points of one cell that are within the radius; false to stop. */
static bool scan_cell(const struct query *s, const struct ioc_geo_cell *c)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct ioc_geo_point *p = &c->v[i].pt;
        /* The latitude gap is a lower bound of the distance: skip the
         * trigonometry for most points of the cells above and below. */
        if (fabs(p->lat - s->lat) > s->arc) {
            continue;
        }
        if (ioc_geo_distance_m(s->lat, s->lon, p->lat, p->lon) <= s->radius_m &&
            !s->fn(s->ctx, p)) {
            return false;
        }
    }
    return true;
}

static bool scan_cols(const struct ioc_geo_grid *g, const struct query *s, int32_t row,
                      int32_t from, int32_t to)
{
    for (int32_t col = from; col <= to; col++) {
        int32_t key[2] = {row, col};
        const struct ioc_geo_cell *c = ioc_map_get(&g->cells, key, sizeof key);
        if (c && !scan_cell(s, c)) {
            return false;
        }
    }
    return true;
}

/* Visits every point within radius_m of (lat, lon) until fn says stop. */
static void scan(const struct ioc_geo_grid *g, double lat, double lon, double radius_m, visit_fn fn,
                 void *ctx)
{
    if (g->n == 0 || !(lat >= -90 && lat <= 90) || !isfinite(lon) || !(radius_m >= 0)) {
        return;
    }
    struct query s = {lat, lon, radius_m, arc_deg(radius_m) * (1 + QUERY_REL) + QUERY_ABS, fn, ctx};
    int32_t r0 = row_of(g, fmax(lat - s.arc, -90)), r1 = row_of(g, fmin(lat + s.arc, 90));

    /* Columns as up to two ranges, [a0, a1] and [b0, b1], the second one only
     * when the circle crosses the antimeridian. */
    int32_t a0 = 0, a1 = g->ncols - 1, b0 = 0, b1 = -1;
    double reach = lon_reach(lat, s.arc) * (1 + QUERY_REL) + QUERY_ABS;
    if (reach < 180) {
        double c = norm_lon(lon), lo = c - reach, hi = c + reach;
        if (lo < -180) {
            a0 = col_of(g, lo + 360);
            b1 = col_of(g, hi);
        } else if (hi >= 180) {
            a0 = col_of(g, lo);
            b1 = col_of(g, hi - 360);
        } else {
            a0 = col_of(g, lo);
            a1 = col_of(g, hi);
        }
        if (b1 >= a0) {
            /* The two ranges meet: the circle goes all the way round. */
            a0 = 0;
            a1 = g->ncols - 1;
            b1 = -1;
        }
    }

    uint64_t ncells = (uint64_t)(r1 - r0 + 1) * (uint64_t)((a1 - a0 + 1) + (b1 - b0 + 1));
    if (ncells > 9 && ncells > g->cells.n) {
        /* A huge circle, or one around a pole: reading every occupied cell
         * is cheaper than probing the empty squares of the box. */
        void *val;
        for (size_t i = 0; ioc_map_next(&g->cells, &i, NULL, NULL, &val);) {
            if (!scan_cell(&s, val)) {
                return;
            }
        }
        return;
    }
    for (int32_t row = r0; row <= r1; row++) {
        if (!scan_cols(g, &s, row, a0, a1) || !scan_cols(g, &s, row, b0, b1)) {
            return;
        }
    }
}

struct near_ctx {
    const struct ioc_geo_point **out;
    size_t n, max;
};

static bool near_visit(void *ctx, const struct ioc_geo_point *p)
{
    struct near_ctx *nc = ctx;
    nc->out[nc->n++] = p;
    return nc->n < nc->max;
}

size_t ioc_geo_grid_near(const struct ioc_geo_grid *g, double lat, double lon, double radius_m,
                         const struct ioc_geo_point **out, size_t max)
{
    struct near_ctx nc = {out, 0, max};
    if (max > 0) {
        scan(g, lat, lon, radius_m, near_visit, &nc);
    }
    return nc.n;
}

/*
 * Clique search state, on the caller's stack (about 8 KiB): the candidates of
 * each tag sorted newest first, the order in which tags are tried, and the
 * points picked so far (by depth).
 */
struct clique {
    const struct ioc_geo_point *cand[IOC_GEO_MAX_TAGS][IOC_GEO_CLIQUE_PER_TAG];
    size_t ncand[IOC_GEO_MAX_TAGS];
    uint32_t order[IOC_GEO_MAX_TAGS];
    const struct ioc_geo_point *pick[IOC_GEO_MAX_TAGS];
    uint32_t ntags;
    double radius_m;
    int64_t since;
    size_t checks; /* pairwise checks left */
};

static bool newer(const struct ioc_geo_point *a, const struct ioc_geo_point *b)
{
    return a->ts != b->ts ? a->ts > b->ts : a->id > b->id;
}

/* Keeps the newest IOC_GEO_CLIQUE_PER_TAG candidates of each tag, sorted. */
static bool clique_visit(void *ctx, const struct ioc_geo_point *p)
{
    struct clique *q = ctx;
    if (p->tag >= q->ntags || p->ts <= q->since) {
        return true;
    }
    const struct ioc_geo_point **v = q->cand[p->tag];
    size_t n = q->ncand[p->tag];
    if (n == IOC_GEO_CLIQUE_PER_TAG) {
        if (!newer(p, v[n - 1])) {
            return true;
        }
        n--; /* the oldest makes room */
    }
    size_t i = n;
    while (i > 0 && newer(p, v[i - 1])) {
        v[i] = v[i - 1];
        i--;
    }
    v[i] = p;
    q->ncand[p->tag] = n + 1;
    return true;
}

/* Depth-first over tags in q->order; each pick must be within the radius of
 * the earlier picks (all candidates already are of the new point). */
static bool clique_search(struct clique *q, uint32_t depth)
{
    if (depth == q->ntags) {
        return true;
    }
    uint32_t tag = q->order[depth];
    for (size_t i = 0; i < q->ncand[tag]; i++) {
        const struct ioc_geo_point *p = q->cand[tag][i];
        bool ok = true;
        for (uint32_t j = 0; j < depth && ok; j++) {
            if (q->checks == 0) {
                return false;
            }
            q->checks--;
            ok =
                ioc_geo_distance_m(q->pick[j]->lat, q->pick[j]->lon, p->lat, p->lon) <= q->radius_m;
        }
        if (ok) {
            q->pick[depth] = p;
            if (clique_search(q, depth + 1)) {
                return true;
            }
            if (q->checks == 0) {
                return false;
            }
        }
    }
    return false;
}

bool ioc_geo_clique(const struct ioc_geo_grid *g, double lat, double lon, uint32_t ntags,
                    double radius_m, int64_t since, const struct ioc_geo_point **chosen)
{
    if (ntags == 0 || ntags > IOC_GEO_MAX_TAGS) {
        return false;
    }
    struct clique q;
    memset(q.ncand, 0, sizeof q.ncand);
    q.ntags = ntags;
    q.radius_m = radius_m;
    q.since = since;
    q.checks = IOC_GEO_CLIQUE_CHECKS;
    scan(g, lat, lon, radius_m, clique_visit, &q);

    /* Fewest candidates first: a tag nobody satisfies ends the search at
     * once, and rare tags prune the most. Ties keep tag order. */
    for (uint32_t t = 0; t < ntags; t++) {
        if (q.ncand[t] == 0) {
            return false;
        }
        uint32_t i = t;
        while (i > 0 && q.ncand[q.order[i - 1]] > q.ncand[t]) {
            q.order[i] = q.order[i - 1];
            i--;
        }
        q.order[i] = t;
    }
    if (!clique_search(&q, 0)) {
        return false;
    }
    for (uint32_t d = 0; d < ntags; d++) {
        chosen[q.order[d]] = q.pick[d];
    }
    return true;
}
