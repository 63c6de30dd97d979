/*
 * test_storage.c — the database refuses writes for a while: the engine holds
 * what it accepted, stops acknowledging reliable senders, raises
 * system.storage on the consoles at once, keeps matching, and writes
 * everything, in order, once the database takes writes again; nothing
 * accepted is lost and nothing is written twice.
 *
 * Every fault is real, done to the running iocd from outside:
 * - locked: a second SQLite connection holds the write lock (as a backup tool
 *   or a stuck process would), so transactions fail with SQLITE_BUSY;
 * - disk full: the iocd process gets a file-size limit of one byte
 *   (prlimit(2), RLIMIT_FSIZE), so every write to the database and its WAL
 *   fails in the kernel with EFBIG, as it would with ENOSPC on a full disk;
 * - read-only: the database and its WAL get the immutable attribute
 *   (FS_IOC_SETFLAGS, as `chattr +i` does), so every write fails with EPERM,
 *   even for root. Setting it needs CAP_LINUX_IMMUTABLE and a file system
 *   that has the attribute (ext4, xfs, btrfs); where either is missing the
 *   case is skipped (exit 77), and says why.
 */
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include "harness.h"

struct fault {
    const char *name;
    void (*on)(struct iocd *d, void **state);
    void (*off)(struct iocd *d, void **state);
};

static void lock_on(struct iocd *d, void **state)
{
    sqlite3 *h;
    REQUIRE(sqlite3_open(d->db, &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
    *state = h;
}

static void lock_off(struct iocd *d, void **state)
{
    (void)d;
    REQUIRE(sqlite3_exec(*state, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(*state);
}

static void full_on(struct iocd *d, void **state)
{
    (void)state;
    struct rlimit lim = {.rlim_cur = 1, .rlim_max = RLIM_INFINITY};
    REQUIRE(prlimit(d->pid, RLIMIT_FSIZE, &lim, NULL) == 0);
}

static void full_off(struct iocd *d, void **state)
{
    (void)state;
    struct rlimit lim = {.rlim_cur = RLIM_INFINITY, .rlim_max = RLIM_INFINITY};
    REQUIRE(prlimit(d->pid, RLIMIT_FSIZE, &lim, NULL) == 0);
}

/* 0, or errno when the attribute cannot be changed here. */
static int set_immutable(const char *path, int on)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return errno;
    }
    int flags = 0, rc = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
        rc = errno;
    } else {
        flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) {
            rc = errno;
        }
    }
    close(fd);
    return rc;
}

static void readonly_files(struct iocd *d, int on)
{
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", d->db);
    REQUIRE(set_immutable(d->db, on) == 0);
    REQUIRE(set_immutable(wal, on) == 0);
}

static void readonly_on(struct iocd *d, void **state)
{
    (void)state;
    readonly_files(d, 1);
}

static void readonly_off(struct iocd *d, void **state)
{
    (void)state;
    readonly_files(d, 0);
}

static cJSON *wait_change(struct iocd *d, const char *rule, const char *change, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        cJSON *m = iocd_recv(d, NULL, 0, 500);
        if (!m) {
            continue;
        }
        const cJSON *i = cJSON_GetObjectItem(m, "incident");
        const cJSON *r = cJSON_GetObjectItem(i, "rule"), *c = cJSON_GetObjectItem(m, "change");
        if (cJSON_IsString(r) && cJSON_IsString(c) && strcmp(r->valuestring, rule) == 0 &&
            strcmp(c->valuestring, change) == 0) {
            return m;
        }
        cJSON_Delete(m);
    }
    return NULL;
}

static char *run_out(const char *cmd)
{
    static char out[4096];
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t used = fread(out, 1, sizeof out - 1, p);
    out[used] = 0;
    pclose(p);
    return out;
}

/* 50 readings over ZeroMQ PUSH and 20 through `ioc send --reliable`, all
 * while the fault lasts; then the fault clears. */
static void survive(const struct fault *f)
{
    struct iocd d;
    iocd_prepare_reliable(&d, NULL, NULL);
    REQUIRE(iocd_start(&d) == 0);
    iocd_connect(&d);
    iocd_sync(&d);
    void *state = NULL;
    f->on(&d, &state);
    char buf[512];
    for (int i = 0; i < 50; i++) {
        int n = snprintf(buf, sizeof buf,
                         "{\"id\":\"st-%d\",\"source\":\"sensor\",\"type\":\"water_level\","
                         "\"ts\":%lld,\"device\":\"S%d\",\"zone\":\"Z1\",\"value\":1.8}",
                         i, 1770746400000LL + i * 1000LL, i % 5);
        iocd_send(&d, buf, (size_t)n);
    }
    /* The consoles hear of it while the fault lasts. */
    cJSON *m = wait_change(&d, "system.storage", "opened", 20000);
    if (!m) {
        fprintf(stderr, "%s: no system.storage incident\n", f->name);
    }
    REQUIRE(m);
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "incident"), "grade")->valueint, 2);
    cJSON_Delete(m);

    /* A reliable sender gets no acknowledgement: it keeps resending. */
    char events[320], cmd[1024];
    snprintf(events, sizeof events, "%s/reliable.jsonl", d.dir);
    FILE *ev = fopen(events, "w");
    REQUIRE(ev);
    for (int i = 0; i < 20; i++) {
        fprintf(ev,
                "{\"id\":\"rl-%d\",\"source\":\"sensor\",\"type\":\"water_level\",\"ts\":%lld,"
                "\"device\":\"R%d\",\"zone\":\"Z2\",\"value\":0.4}\n",
                i, 1770746460000LL + i * 1000LL, i);
    }
    fclose(ev);
    snprintf(cmd, sizeof cmd,
             "%s send --reliable --endpoint tcp://127.0.0.1:%d --batch 5 --ack-timeout 1 < %s "
             "> %s/send.out 2>&1",
             IOC_BIN, d.reliable_port, events, d.dir);
    pid_t sender = fork();
    REQUIRE(sender >= 0);
    if (sender == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    usleep(2500 * 1000);
    int st;
    CHECK(waitpid(sender, &st, WNOHANG) == 0); /* still waiting for its acks */

    /* Matching went on meanwhile: the engine still counts what it accepts. */
    snprintf(cmd, sizeof cmd, "%s status --endpoint tcp://127.0.0.1:%d", IOC_BIN,
             d.control_port);
    /* The 50 and the 20, beside the sync probes. */
    const char *acc = strstr(run_out(cmd), "\naccepted: ");
    CHECK(acc && atoll(acc + strlen("\naccepted: ")) >= 70);

    /* The fault clears; everything held is written, the incident resolves,
     * and the reliable sender is acknowledged and exits 0. */
    f->off(&d, &state);
    m = wait_change(&d, "system.storage", "resolved", 30000);
    CHECK(m != NULL);
    cJSON_Delete(m);
    REQUIRE(waitpid(sender, &st, 0) == sender);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_INT(h_wait_sql(d.db, "SELECT count(*) FROM events WHERE eid LIKE 'st-%'", 50, 10000),
                 50);
    CHECK_EQ_INT(iocd_stop(&d, SIGTERM), 0);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(DISTINCT eid) FROM events WHERE eid LIKE 'st-%'"),
                 50);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM events WHERE eid LIKE 'rl-%'"), 20);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(DISTINCT eid) FROM events WHERE eid LIKE 'rl-%'"),
                 20);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'flood.level'"), 5);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incident_log WHERE action = 'updated'"),
                 45);
    CHECK_EQ_INT(h_sql_int(d.db, "SELECT count(*) FROM incidents WHERE rule = 'system.storage' "
                                 "AND state IN ('resolved', 'closed')"),
                 1);
    iocd_close(&d);
}

TEST(a_locked_database_holds_events_raises_system_storage_and_resumes)
{
    survive(&(struct fault){"locked", lock_on, lock_off});
}

TEST(a_full_disk_holds_events_raises_system_storage_and_resumes)
{
    survive(&(struct fault){"disk full", full_on, full_off});
}

TEST(a_read_only_database_holds_events_raises_system_storage_and_resumes)
{
    char probe[] = "/tmp/ioc-test-immutable-XXXXXX";
    int fd = mkstemp(probe);
    REQUIRE(fd >= 0);
    close(fd);
    int err = set_immutable(probe, 1);
    set_immutable(probe, 0);
    unlink(probe);
    if (err) {
        fprintf(stderr, "skipped: cannot make a file immutable in /tmp here: %s\n", strerror(err));
        exit(77);
    }
    survive(&(struct fault){"read-only", readonly_on, readonly_off});
}
