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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "ioc/config.h"
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
