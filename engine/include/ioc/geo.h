/*
 * geo.h — a spatial index of recent points for "within N metres" rule clauses.
 *
 * A grid over latitude/longitude whose cells are at least one radius wide, so
 * the points within that radius of a location lie in the 3x3 cells around it.
 * Each point carries its event time, the rule member (tag) it satisfies and
 * the caller's id. Points leave in insertion order by event time
 * (ioc_geo_grid_expire); the grid never reads a clock.
 *
 * Distances are great-circle distances on a sphere of the mean Earth radius
 * (haversine); every comparison in this module uses ioc_geo_distance_m, so
 * "within" means the same thing everywhere.
 *
 * Single-threaded (the loop thread), like the rest of the rule state. The
 * const functions only read, so they may run together, but never alongside
 * add, expire or close.
 */
#ifndef IOC_GEO_H
#define IOC_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioc/map.h"

/* Mean Earth radius (IUGG), metres. */
#define IOC_GEO_EARTH_RADIUS_M 6371008.8

/* ioc_geo_clique handles rules of at most this many members. */
#define IOC_GEO_MAX_TAGS 16
/* ioc_geo_clique considers at most this many points per tag, newest first. */
#define IOC_GEO_CLIQUE_PER_TAG 64
/* ioc_geo_clique gives up (answers false) after this many pairwise checks. */
#define IOC_GEO_CLIQUE_CHECKS 16384

struct ioc_geo_point {
    double lat, lon; /* degrees; lat in [-90, 90], any finite lon */
    int64_t ts;      /* event time */
    uint32_t tag;    /* which member of the rule this point satisfies */
    uint64_t id;     /* the caller's, never read by the grid */
};

struct ioc_geo_ref; /* private to geo.c: one per point, in insertion order */

struct ioc_geo_grid {
    double radius_m;          /* the radius the cells were sized for */
    double dlat, dlon;        /* cell size in degrees; dlon is 0 until the first add */
    int32_t nrows, ncols;     /* cells around the globe, so the grid wraps exactly */
    struct ioc_map cells;     /* (int32 row, int32 col) as 8 bytes -> private cell */
    struct ioc_geo_ref *fifo; /* ring buffer of every point, oldest at head */
    size_t cap, head, n;
    uint64_t head_seq; /* insertion number of fifo[head] */
};

/* Great-circle distance in metres between two points given in degrees. */
double ioc_geo_distance_m(double lat1, double lon1, double lat2, double lon2);

/*
 * Prepares an empty grid in the caller's storage for neighbourhoods of
 * radius_m. The row height follows from the radius alone; the column width is
 * fixed by the latitude of the first point added (a degree of longitude
 * shrinks towards the poles), sized for points within a degree of latitude
 * poleward of it. Queries elsewhere stay exact and merely scan more cells.
 * 0, or IOC_EINVAL when radius_m is not a finite positive number.
 */
int ioc_geo_grid_init(struct ioc_geo_grid *g, double radius_m);
/* Frees every point and cell. Accepts NULL and a zeroed or closed grid. */
void ioc_geo_grid_close(struct ioc_geo_grid *g);

/*
 * Copies *p into the grid. 0, IOC_EINVAL when lat is not in [-90, 90] or lon
 * is not finite, IOC_ESTATE when init failed or the grid is closed, or
 * IOC_ENOMEM (the grid is then unchanged).
 */
int ioc_geo_grid_add(struct ioc_geo_grid *g, const struct ioc_geo_point *p);

/*
 * Drops the points with ts <= before, oldest insertion first. Like the event
 * windows, it stops at the first point that is young enough: a point added
 * out of time order leaves together with the newer one inserted before it.
 * Callers that need exact times filter on ts (ioc_geo_clique's `since` does).
 */
void ioc_geo_grid_expire(struct ioc_geo_grid *g, int64_t before);

/*
 * Writes to out up to max pointers to the points within radius_m of (lat,
 * lon), in no particular order, and returns how many it wrote. radius_m may
 * differ from the grid's; up to the grid's radius near the first point's
 * latitude the search reads only the 3x3 cells around (lat, lon), beyond it the
 * cells covering the circle (or every point, when that is fewer cells). The
 * pointers borrow the grid's storage and stay valid until the next add,
 * expire or close.
 */
size_t ioc_geo_grid_near(const struct ioc_geo_grid *g, double lat, double lon, double radius_m,
                         const struct ioc_geo_point **out, size_t max);

/* Points in the grid. */
size_t ioc_geo_grid_size(const struct ioc_geo_grid *g);

/*
 * For a new point at (lat, lon) that the caller has already added: is there
 * one point of each tag 0..ntags-1 with ts > since, such that the chosen
 * points and (lat, lon) are all pairwise within radius_m? The new point may
 * satisfy its own tag. On true, chosen[tag] is set for every tag (chosen has
 * ntags entries; it borrows the grid's storage like ioc_geo_grid_near);
 * on false chosen is left as it was.
 *
 * Only points within radius_m of (lat, lon) are candidates, and of those at
 * most IOC_GEO_CLIQUE_PER_TAG per tag, newest first (ties: larger id first).
 * The search tries the tag with the fewest candidates first and prefers newer
 * points, so the answer is the same for the same history. Its work is bounded:
 * after IOC_GEO_CLIQUE_CHECKS pairwise distance checks it answers false, which
 * only dense crowds of three or more tags can reach (two tags need at most
 * 64 * 64). false also for ntags of 0 or above IOC_GEO_MAX_TAGS. Allocates
 * nothing.
 */
bool ioc_geo_clique(const struct ioc_geo_grid *g, double lat, double lon, uint32_t ntags,
                    double radius_m, int64_t since, const struct ioc_geo_point **chosen);

#endif
