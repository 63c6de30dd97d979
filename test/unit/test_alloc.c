/*
 * test_alloc.c — allocation failures: startup fails cleanly, and a running
 * engine that runs out of memory on one event drops that event, counted,
 * and goes on (issue "Allocation-failure tests").
 *
 * This program is linked with -Wl,--wrap=malloc,calloc,realloc,strdup,strndup
 * (CMakeLists.txt), so every allocation the engine's own objects make goes
 * through the counters below; cJSON's go through them too, by its hooks. The
 * engine runs for real: a uv loop, a SQLite file in a temporary directory,
 * ZeroMQ sockets on ipc endpoints. Libraries with allocators of their own
 * (SQLite, libyaml, ZeroMQ, libuv) are not failed here. The sanitizer build
 * (IOC_SANITIZE) adds the leak check: every failed attempt must free all.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <uv.h>

#include "ioc/config.h"
#include "ioc/dedup.h"
#include "ioc/diag.h"
#include "ioc/engine.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/plugin.h"
#include "support.h"
#include "test.h"

/* ---- the failing allocator (test-only state) ------------------------------ */

static long alloc_seen;  /* allocations counted since the last reset */
static long alloc_fail;  /* fail the allocation with this number (0: none) */
static int alloc_all;    /* fail every allocation while set */
static long alloc_failed; /* allocations refused */
/* Only the thread that armed is counted: the store's writer thread allocates
 * at its own pace, and its failures are the storage tests' business. */
static pthread_t alloc_thread;

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

/* A place for a debugger's breakpoint: every refused allocation passes here. */
__attribute__((noinline)) static void refused(void)
{
    alloc_failed++;
    __asm__ volatile("");
}

static int refuse(void)
{
    if ((!alloc_all && alloc_fail == 0) || !pthread_equal(pthread_self(), alloc_thread)) {
        return 0;
    }
    alloc_seen++;
    if (alloc_all || (alloc_fail > 0 && alloc_seen == alloc_fail)) {
        refused();
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return refuse() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
    return refuse() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return refuse() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return refuse() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return refuse() ? NULL : __real_strndup(s, n);
}

static void *cjson_malloc(size_t n)
{
    return refuse() ? NULL : __real_malloc(n);
}

static void arm(long nth, int all)
{
    alloc_thread = pthread_self();
    alloc_seen = 0;
    alloc_failed = 0;
    alloc_fail = nth;
    alloc_all = all;
}

static void disarm(void)
{
    alloc_fail = 0;
    alloc_all = 0;
}

/* ---- an engine in a temporary directory ----------------------------------- */

static const char rules_yaml[] =
    "rules:\n"
    "  - id: flood.level\n"
    "    title: \"Water level ${value} m at ${device}\"\n"
    "    when: source == \"sensor\" && type == \"water_level\"\n"
    "    key: [device]\n"
    "    grade: {by: value, bands: [{ge: 1.5, grade: 3}, {ge: 2.0, grade: 2}, {ge: 2.5, grade: "
    "1}]}\n"
    "  - id: outage.cluster\n"
    "    title: \"${count} outages in ${zone}\"\n"
    "    when: source == \"complaint\" && type == \"water_outage\"\n"
    "    key: [zone]\n"
    "    count: {window: 30m, min: 3}\n"
    "    grade: 3\n"
    "  - id: sensor.silent\n"
    "    when: source == \"sensor\"\n"
    "    key: [device]\n"
    "    absent: {for: 15m}\n"
    "    grade: 4\n"
    "  - id: fire.confirmed\n"
    "    key: [zone]\n"
    "    sequence:\n"
    "      within: 10m\n"
    "      steps:\n"
    "        - when: source == \"cctv\" && type == \"smoke\"\n"
    "        - when: source == \"complaint\" && type == \"fire\"\n"
    "    grade: 1\n";

struct fixture {
    char *dir;
    char cfg[512];
    char db[512];
};

/* with_sockets: the config has the zmq input, the zmq_pub output and the
 * control socket, on ipc endpoints in the directory. */
static void fixture_init(struct fixture *fx, int with_sockets)
{
    fx->dir = test_mkdtemp();
    REQUIRE(fx->dir);
    char *rules = test_path(fx->dir, "rules.yaml");
    REQUIRE(test_write_file(rules, rules_yaml) == 0);
    free(rules);
    snprintf(fx->cfg, sizeof fx->cfg, "%s/iocd.yaml", fx->dir);
    snprintf(fx->db, sizeof fx->db, "%s/ioc.db", fx->dir);
    char text[2048];
    if (with_sockets) {
        snprintf(text, sizeof text,
                 "engine: {lateness: 5s, timezone: Asia/Bangkok}\n"
                 "inputs: [{plugin: zmq, bind: \"ipc://%s/in\"}]\n"
                 "outputs: [{plugin: zmq_pub, bind: \"ipc://%s/pub\"}]\n"
                 "control: {bind: \"ipc://%s/ctl\"}\n"
                 "store: {path: ioc.db, archive_events: true}\n"
                 "rules: [rules.yaml]\n",
                 fx->dir, fx->dir, fx->dir);
    } else {
        snprintf(text, sizeof text,
                 "engine: {lateness: 5s, timezone: Asia/Bangkok}\n"
                 "inputs: []\n"
                 "outputs: []\n"
                 "store: {path: ioc.db, archive_events: true}\n"
                 "rules: [rules.yaml]\n");
    }
    REQUIRE(test_write_file(fx->cfg, text) == 0);
}

static void fixture_close(struct fixture *fx)
{
    test_rmtree(fx->dir);
    free(fx->dir);
}

/* Config load, create and start, with allocation nth failing, then stop, as
 * iocd does; the return code of the first step that failed, or 0. The loop
 * is run to its end and closed in every case, so a handle left open fails
 * the check. */
static int startup(const struct fixture *fx, long nth, int *loop_closed)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    struct ioc_engine *e = NULL;
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    ioc_diag_init(&diag);
    arm(nth, 0);
    int rc = ioc_config_load(fx->cfg, &cfg, &diag);
    if (rc == 0) {
        rc = ioc_engine_create(cfg, &loop, &e, &diag);
    }
    if (rc == 0) {
        rc = ioc_engine_start(e);
    }
    disarm();
    if (e) {
        ioc_engine_stop(e);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ioc_engine_destroy(e);
    ioc_config_free(cfg);
    ioc_diag_close(&diag);
    *loop_closed = uv_loop_close(&loop) == 0;
    return rc;
}

/* For N = 1, 2, 3 ... the Nth allocation of startup fails, until one
 * startup makes fewer than N: every failing one must return an error and
 * leave nothing behind (the leak check), none may crash. */
TEST(every_allocation_failure_at_startup_returns_an_error)
{
    struct fixture fx;
    fixture_init(&fx, 1);
    setenv("IOC_LOG", "error", 1);
    cJSON_Hooks hooks = {cjson_malloc, free};
    cJSON_InitHooks(&hooks);
    int closed = 0;
    long n, not_nomem = 0;
    for (n = 1;; n++) {
        unlink(fx.db);
        int rc = startup(&fx, n, &closed);
        CHECK(closed);
        if (alloc_failed == 0) {
            CHECK_EQ_INT(rc, 0);
            break;
        }
        if (rc == 0) {
            fprintf(stderr, "allocation %ld failed, yet startup reported success\n", n);
        }
        CHECK(rc != 0);
        if (rc != IOC_ENOMEM) {
            fprintf(stderr, "allocation %ld failed: startup said %s, not out of memory\n", n,
                    ioc_errname(rc));
            not_nomem++;
        }
        if (test_failed_) {
            fprintf(stderr, "at allocation %ld of startup\n", n);
            break;
        }
    }
    fprintf(stderr, "startup makes %ld allocations; each one failing was handled\n", n - 1);
    CHECK_EQ_INT(not_nomem, 0);
    CHECK(n > 100);
    fixture_close(&fx);
}

/* ---- the event path --------------------------------------------------------- */

#define T0 1770746400000LL

/* A day in small: each rule of the fixture opens an incident, and the last
 * event opens one after all the others. */
static int scenario_event(int i, char *buf, size_t n)
{
    static const char *const fmt[] = {
        "{\"id\":\"a0\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":%lld,"
        "\"device\":\"D1\",\"zone\":\"Z1\",\"value\":1.6}",
        "{\"id\":\"a1\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":%lld,"
        "\"device\":\"D1\",\"zone\":\"Z1\",\"value\":2.1}",
        "{\"id\":\"a2\",\"source\":\"complaint\",\"type\":\"water_outage\",\"ts\":%lld,"
        "\"zone\":\"Z1\",\"channel\":\"app\"}",
        "{\"id\":\"a3\",\"source\":\"complaint\",\"type\":\"water_outage\",\"ts\":%lld,"
        "\"zone\":\"Z1\",\"channel\":\"line\"}",
        "{\"id\":\"a4\",\"source\":\"complaint\",\"type\":\"water_outage\",\"ts\":%lld,"
        "\"zone\":\"Z1\",\"channel\":\"phone\",\"text\":\"\u0e19\u0e49\u0e33\"}",
        "{\"id\":\"a5\",\"source\":\"cctv\",\"type\":\"smoke\",\"ts\":%lld,"
        "\"device\":\"C1\",\"zone\":\"Z2\",\"score\":0.9}",
        "{\"id\":\"a6\",\"source\":\"complaint\",\"type\":\"fire\",\"ts\":%lld,"
        "\"zone\":\"Z2\",\"channel\":\"app\"}",
        "{\"id\":\"a7\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":%lld,"
        "\"device\":\"D2\",\"zone\":\"Z3\",\"value\":1.7}",
    };
    return snprintf(buf, n, fmt[i], T0 + i * 60000LL);
}
#define SCENARIO 8

struct run {
    struct ioc_engine_stats st;
    long allocs;   /* allocations counted while the armed event was submitted */
    long refused;
    int clean;     /* the loop closed with nothing left open */
};

/* Runs the scenario through a fresh engine; event `at` is submitted with
 * the allocator armed (nth, all), the others normally. */
static void run_scenario(const struct fixture *fx, int at, long nth, int all, struct run *out)
{
    struct ioc_config *cfg = NULL;
    struct ioc_diag diag;
    struct ioc_engine *e = NULL;
    uv_loop_t loop;
    char buf[512];
    unlink(fx->db);
    REQUIRE(uv_loop_init(&loop) == 0);
    ioc_diag_init(&diag);
    REQUIRE(ioc_config_load(fx->cfg, &cfg, &diag) == 0);
    REQUIRE(ioc_engine_create(cfg, &loop, &e, &diag) == 0);
    REQUIRE(ioc_engine_start(e) == 0);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < SCENARIO; i++) {
        int n = scenario_event(i, buf, sizeof buf);
        if (i == at) {
            arm(nth, all);
            /* Counting mode (nth 0, all 0) counts nothing: count instead with
             * an allocation number that is never reached. */
            if (!nth && !all) {
                alloc_fail = -1;
            }
        }
        ioc_engine_submit(e, buf, (size_t)n);
        if (i == at) {
            out->allocs = alloc_seen;
            out->refused = alloc_failed;
            disarm();
        }
        /* A loop turn: the batch is handed over and committed. */
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ioc_engine_stop(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ioc_engine_get_stats(e, &out->st);
    ioc_engine_destroy(e);
    ioc_config_free(cfg);
    ioc_diag_close(&diag);
    out->clean = uv_loop_close(&loop) == 0;
}

static long long db_int(const char *db, const char *sql)
{
    sqlite3 *h;
    long long v = -1;
    REQUIRE(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* What every run must show, whatever failed: each message is accounted for
 * once, and the engine took the events after the failed one normally. */
static void check_run(const struct fixture *fx, const struct run *r, int at)
{
    CHECK(r->clean);
    CHECK_EQ_INT(r->st.received, SCENARIO);
    CHECK_EQ_INT(r->st.accepted + r->st.rejected + r->st.duplicates + r->st.dropped_nomem,
                 SCENARIO);
    if (r->refused) {
        /* The armed event is dropped and counted, never half counted. */
        CHECK_EQ_INT(r->st.dropped_nomem, 1);
        CHECK_EQ_INT(r->st.accepted, SCENARIO - 1);
    } else {
        CHECK_EQ_INT(r->st.dropped_nomem, 0);
        CHECK_EQ_INT(r->st.accepted, SCENARIO);
    }
    CHECK_EQ_INT(r->st.rejected, 0);
    /* The last event, after the failure, opened its incident as always. */
    if (at < SCENARIO - 1) {
        CHECK_EQ_INT(db_int(fx->db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level' "
                                    "AND key = '{\"device\":\"D2\"}' AND grade = 3"),
                     1);
        CHECK_EQ_INT(db_int(fx->db, "SELECT count(*) FROM events WHERE eid = 'a7'"), 1);
    }
    /* A dropped event is on record, with its bytes, when memory allowed. */
    CHECK(db_int(fx->db, "SELECT count(*) FROM rejects WHERE reason = 'memory'") <=
          (long long)r->st.dropped_nomem);
}

/* Every allocation fails while one event is processed: that event is
 * dropped and counted, the engine does not abort, and the incidents of the
 * others are those of a run without it. */
TEST(an_event_processed_without_memory_is_dropped_and_counted)
{
    struct fixture fx;
    fixture_init(&fx, 0);
    setenv("IOC_LOG", "error", 1);
    /* cJSON's allocations stay unfailed here: the decoder cannot tell a
     * parse that ran out of memory from bad JSON (cJSON says only that it
     * failed), so such an event would be rejected as invalid JSON. */
    cJSON_InitHooks(NULL);
    struct run r;
    int untouched = 0;
    for (int at = 0; at < SCENARIO; at++) {
        run_scenario(&fx, at, 0, 1, &r);
        /* An event that allocates nothing (it only adds to state the events
         * before it made) is taken whole: check_run() expects that then. */
        untouched += r.refused == 0;
        check_run(&fx, &r, at);
        if (test_failed_) {
            fprintf(stderr, "with event %d failing\n", at);
            break;
        }
    }
    fprintf(stderr, "%d of %d events allocate nothing and were taken whole\n", untouched, SCENARIO);
    CHECK(untouched < SCENARIO / 2);
    /* The same run with nothing failing, to compare: one incident per rule
     * plus the second flood device. */
    run_scenario(&fx, -1, 0, 0, &r);
    check_run(&fx, &r, -1);
    CHECK_EQ_INT(r.st.opened, 4);
    /* Without the event that completes the outage count, no outage incident;
     * the others are as in the full run. */
    run_scenario(&fx, 4, 0, 1, &r);
    CHECK_EQ_INT(r.st.opened, 3);
    CHECK_EQ_INT(db_int(fx.db, "SELECT count(*) FROM incidents WHERE rule = 'outage.cluster'"), 0);
    CHECK_EQ_INT(db_int(fx.db, "SELECT count(*) FROM incidents WHERE rule = 'fire.confirmed'"), 1);
    fixture_close(&fx);
}

/* One allocation fails, the Nth made while one event is processed, for
 * every N that event makes: never an abort, never a count lost. */
TEST(any_single_allocation_failing_on_the_event_path_is_handled)
{
    struct fixture fx;
    fixture_init(&fx, 0);
    setenv("IOC_LOG", "error", 1);
    cJSON_InitHooks(NULL); /* as above */
    /* The events that open, grade, complete a count and complete a sequence. */
    static const int events[] = {0, 1, 4, 6};
    struct run r;
    for (size_t k = 0; k < sizeof events / sizeof events[0]; k++) {
        int at = events[k];
        run_scenario(&fx, at, 0, 0, &r);
        long total = r.allocs;
        CHECK(total > 0);
        for (long n = 1; n <= total; n++) {
            run_scenario(&fx, at, n, 0, &r);
            check_run(&fx, &r, at);
            if (test_failed_) {
                fprintf(stderr, "with allocation %ld of %ld failing in event %d\n", n, total, at);
                fixture_close(&fx);
                return;
            }
        }
        fprintf(stderr, "event %d: each of its %ld allocations failing was handled\n", at, total);
    }
    fixture_close(&fx);
}

/* ---- the duplicate filter --------------------------------------------------- */

static void dedup_key(const struct ioc_dedup *d, unsigned k, struct ioc_dedup_hash *h)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "sensor\x1f%u", k);
    ioc_dedup_hash(d, buf, (size_t)len, h);
}

/* The filter allocates when its queue starts a chunk, when its ring of
 * chunks fills and when its index grows or shrinks. The 1st, 2nd or 3rd
 * allocation of each add failing (through the first growth of the ring, a
 * dozen chunks, eight tables) must leave it as it was: same count, every key
 * found, the refused one not; the same add then succeeds. */
TEST(the_duplicate_filter_is_unchanged_by_a_failed_allocation)
{
    enum { KEYS = 100000 };
    struct ioc_dedup d;
    REQUIRE(ioc_dedup_init(&d) == 0);
    long refusals = 0;
    for (unsigned k = 0; k < KEYS; k++) {
        struct ioc_dedup_hash h;
        dedup_key(&d, k, &h);
        for (long nth = 1; nth <= 3; nth++) {
            arm(nth, 0);
            int rc = ioc_dedup_add(&d, &h, (int64_t)k);
            long failed = alloc_failed;
            disarm();
            if (rc == 0) {
                break;
            }
            CHECK_EQ_INT(rc, IOC_ENOMEM);
            CHECK_EQ_INT(failed, 1);
            refusals++;
            CHECK_EQ_INT(ioc_dedup_count(&d), k);
            CHECK(!ioc_dedup_has(&d, &h));
            for (unsigned j = 0; j < k; j += 1 + j / 64) {
                struct ioc_dedup_hash o;
                dedup_key(&d, j, &o);
                CHECK(ioc_dedup_has(&d, &o));
            }
            REQUIRE(!test_failed_);
        }
        if (!ioc_dedup_has(&d, &h)) {
            REQUIRE(ioc_dedup_add(&d, &h, (int64_t)k) == 0);
        }
    }
    /* An eviction that shrinks the table when memory is short keeps the
     * larger one: nothing is lost. */
    arm(0, 1);
    ioc_dedup_evict(&d, KEYS - 100);
    disarm();
    CHECK_EQ_INT(ioc_dedup_count(&d), 100);
    for (unsigned k = 0; k < KEYS; k++) {
        struct ioc_dedup_hash h;
        dedup_key(&d, k, &h);
        CHECK(ioc_dedup_has(&d, &h) == (k >= KEYS - 100));
    }
    fprintf(stderr, "the filter refused %ld adds, each left it whole\n", refusals);
    CHECK(refusals > 20);
    ioc_dedup_close(&d);
}
