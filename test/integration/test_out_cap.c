/*
 * test_out_cap.c — the "cap" output plugin driven through its struct.
 *
 * Each case builds an instance the way the engine does (registry lookup,
 * option defaults, the YAML mapping applied with "plugin" skipped, init),
 * starts it on a real uv loop, hands it changes as the engine would, then
 * stops it, runs the loop to the end, checks the loop closes clean and
 * destroys the instance. Files go to a private temp directory. What the
 * plugin logs is captured by pointing stderr at a temp file around a call,
 * so the cases can check that a fault is logged once, with the instance tag.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "ioc/cap.h"
#include "ioc/diag.h"
#include "ioc/error.h"
#include "ioc/options.h"
#include "ioc/plugin.h"
#include "ioc/yaml.h"
#include "test.h"

/* ---- Helpers ----------------------------------------------------------- */

struct fixture {
    char *tmp; /* private directory, removed at the end */
    char dir[512];
    struct ioc_instance ins;
    uv_loop_t loop;
};

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/ioc_test_out_cap_XXXXXX";
    char *d = mkdtemp(tmpl);
    REQUIRE(d != NULL);
    return strdup(d);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Builds the instance from a YAML mapping as the engine does; returns what
 * ioc_options_apply returned (init is run only when it succeeded). */
static int instance_make(struct ioc_instance *ins, const char *yaml, struct ioc_diag *diag)
{
    static const char *const skip[] = {"plugin", NULL};
    struct ioc_ynode *root = NULL;
    const struct ioc_plugin *p = ioc_plugin_find(IOC_PLUGIN_OUTPUT, "cap");
    REQUIRE(p != NULL);
    memset(ins, 0, sizeof *ins);
    ins->plugin = p;
    snprintf(ins->name, sizeof ins->name, "out_cap:0");
    REQUIRE(ioc_yaml_parse("test.yaml", yaml, strlen(yaml), &root, diag) == 0);
    REQUIRE((ins->conf = calloc(1, p->conf_size)) != NULL);
    ioc_options_defaults(p->options, ins->conf);
    int rc = ioc_options_apply(p->options, ins->conf, root, skip, ins->name, diag);
    ioc_yaml_free(root);
    if (rc == 0) {
        rc = p->init(ins);
    }
    return rc;
}

static void instance_free(struct ioc_instance *ins)
{
    ins->plugin->destroy(ins);
    CHECK(ins->ctx == NULL);
    ins->plugin->destroy(ins); /* a second destroy finds nothing to free */
    ioc_options_free(ins->plugin->options, ins->conf);
    free(ins->conf);
    ins->conf = NULL;
}

static void setup(struct fixture *f, const char *subdir)
{
    char yaml[1024];
    struct ioc_diag diag;
    memset(f, 0, sizeof *f);
    f->tmp = make_tmpdir();
    snprintf(f->dir, sizeof f->dir, "%s/%s", f->tmp, subdir);
    snprintf(yaml, sizeof yaml, "plugin: cap\ndir: \"%s\"\n", f->dir);
    ioc_diag_init(&diag);
    int rc = instance_make(&f->ins, yaml, &diag);
    ioc_diag_print(&diag, stderr);
    ioc_diag_close(&diag);
    REQUIRE(rc == 0);
    REQUIRE(uv_loop_init(&f->loop) == 0);
    REQUIRE(f->ins.plugin->start(&f->ins, &f->loop) == 0);
}

static void teardown(struct fixture *f)
{
    f->ins.plugin->stop(&f->ins);
    CHECK_EQ_INT(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0); /* no handle left behind */
    instance_free(&f->ins);
    nftw(f->tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->tmp);
}

static int emit(struct fixture *f, const char *topic, const char *json)
{
    struct ioc_change ch = {.topic = topic, .json = json, .json_len = strlen(json)};
    return f->ins.plugin->emit(&f->ins, &ch);
}

struct capture {
    int saved;
    FILE *f;
};

static void capture_begin(struct capture *c)
{
    fflush(stderr);
    REQUIRE((c->f = tmpfile()) != NULL);
    REQUIRE((c->saved = dup(2)) >= 0);
    REQUIRE(dup2(fileno(c->f), 2) >= 0);
}

/* Restores stderr; returns what was written meanwhile (caller frees). */
static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    long n = ftell(c->f);
    if (n < 0) {
        n = lseek(fileno(c->f), 0, SEEK_END);
    }
    char *text = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    REQUIRE(text != NULL);
    rewind(c->f);
    lseek(fileno(c->f), 0, SEEK_SET);
    size_t got = fread(text, 1, (size_t)(n > 0 ? n : 0), c->f);
    text[got] = '\0';
    fclose(c->f);
    return text;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    REQUIRE(text != NULL);
    REQUIRE(fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    return text;
}

/* Number of entries in dir (dot files included: a temp file left behind
 * would be one), and the name of the last regular one into last. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) {
        return -1;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* A cap.* message as the engine sends it: the alert plus envelope fields. */
static char *message(const char *identifier, const char *msg_type, const char *references,
                     const char *headline)
{
    char *m = NULL;
    char refs[512] = "";
    if (references) {
        snprintf(refs, sizeof refs, "\"references\": \"%s\", ", references);
    }
    REQUIRE(asprintf(&m,
                     "{\"seq\": 17, \"incident\": \"flood.district|Z03\", \"alert\": {"
                     "\"identifier\": \"%s\", \"sender\": \"ioc@bangkok.go.th\", "
                     "\"sent\": \"2026-02-11T16:42:29+07:00\", \"status\": \"Actual\", "
                     "\"msgType\": \"%s\", \"scope\": \"Public\", %s"
                     "\"info\": {\"language\": \"th-TH\", \"category\": \"Met\", "
                     "\"event\": \"Flood\", \"urgency\": \"Immediate\", \"severity\": \"Severe\", "
                     "\"certainty\": \"Observed\", \"headline\": \"%s\", "
                     "\"instruction\": \"อพยพไปที่สูง\\nโทร 199\", "
                     "\"area\": {\"areaDesc\": \"Z03\", \"circle\": \"13.7563,100.5018 0.5\"}}}}",
                     identifier, msg_type, refs, headline) > 0);
    return m;
}

/* ---- Cases ----------------------------------------------------------------- */

TEST(writes_alert_file)
{
    struct fixture f;
    setup(&f, "var/cap"); /* two levels that do not exist yet: mkdir -p */
    struct stat st;
    CHECK(stat(f.dir, &st) == 0 && S_ISDIR(st.st_mode)); /* created at start */

    char *m = message("bkk-ioc-2026-000042", "Alert", NULL, "เตือนภัยน้ำท่วม <Z03> & ฝน");
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", m), 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/bkk-ioc-2026-000042.xml", f.dir);
    char *xml = read_file(path);
    REQUIRE(xml != NULL);
    CHECK(strncmp(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39) == 0);
    CHECK_CONTAINS(xml, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">");
    CHECK_CONTAINS(xml, "<identifier>bkk-ioc-2026-000042</identifier>");
    CHECK_CONTAINS(xml, "<msgType>Alert</msgType>");
    CHECK_CONTAINS(xml, "<headline>เตือนภัยน้ำท่วม &lt;Z03&gt; &amp; ฝน</headline>");
    CHECK_CONTAINS(xml, "<instruction>อพยพไปที่สูง\nโทร 199</instruction>");
    CHECK_CONTAINS(xml, "<circle>13.7563,100.5018 0.5</circle>");
    CHECK(strstr(xml, "seq") == NULL); /* envelope fields are not CAP */
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    CHECK_EQ_INT(count_entries(f.dir), 1); /* no temp file left */

    /* The file is exactly what the renderer makes of the same alert. */
    cJSON *j = cJSON_Parse(m);
    struct ioc_cap_alert a;
    char *want = NULL;
    REQUIRE(ioc_cap_from_json(cJSON_GetObjectItem(j, "alert"), &a) == 0);
    REQUIRE(ioc_cap_render(&a, &want) == 0);
    CHECK_STR(xml, want);
    free(want);
    cJSON_Delete(j);
    free(xml);
    free(m);

    /* An Update has its own identifier, so the Alert stays; the same
     * identifier again replaces its file whole. */
    m = message("bkk-ioc-2026-000043", "Update",
                "ioc@bangkok.go.th,bkk-ioc-2026-000042,2026-02-11T16:42:29+07:00", "ระดับน้ำสูงขึ้น");
    CHECK_EQ_INT(emit(&f, "cap.update.Z03", m), 0);
    free(m);
    m = message("bkk-ioc-2026-000043", "Update",
                "ioc@bangkok.go.th,bkk-ioc-2026-000042,2026-02-11T16:42:29+07:00", "second");
    CHECK_EQ_INT(emit(&f, "cap.update.Z03", m), 0);
    free(m);
    CHECK_EQ_INT(count_entries(f.dir), 2);
    snprintf(path, sizeof path, "%s/bkk-ioc-2026-000043.xml", f.dir);
    xml = read_file(path);
    CHECK_CONTAINS(xml, "<headline>second</headline>");
    CHECK_CONTAINS(xml, "<references>ioc@bangkok.go.th,bkk-ioc-2026-000042,"
                        "2026-02-11T16:42:29+07:00</references>");
    free(xml);
    teardown(&f);
}

TEST(identifier_sanitised_for_file_name)
{
    struct fixture f;
    setup(&f, "cap");
    /* '/' and ".." must not leave the directory; the hash keeps "a/b" and
     * "a_b" apart. */
    char *m1 = message("../etc/a/b", "Alert", NULL, "one");
    char *m2 = message("_._etc_a_b", "Alert", NULL, "two");
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", m1), 0);
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", m2), 0);
    CHECK_EQ_INT(count_entries(f.dir), 2);
    CHECK_EQ_INT(count_entries(f.tmp), 1); /* nothing written beside dir */
    char path[1024];
    snprintf(path, sizeof path, "%s/_._etc_a_b.xml", f.dir); /* clean: kept as is */
    char *xml = read_file(path);
    CHECK_CONTAINS(xml, "<headline>two</headline>");
    free(xml);
    DIR *d = opendir(f.dir);
    REQUIRE(d != NULL);
    int hashed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "_.", 2) == 0 && strcmp(e->d_name, "_._etc_a_b.xml") != 0) {
            CHECK(strncmp(e->d_name, "_._etc_a_b-", 11) == 0);
            CHECK(strlen(e->d_name) == strlen("_._etc_a_b-12345678.xml"));
            hashed++;
        }
    }
    closedir(d);
    CHECK_EQ_INT(hashed, 1);
    free(m1);
    free(m2);
    teardown(&f);
}

TEST(other_topics_ignored)
{
    struct fixture f;
    setup(&f, "cap");
    char *m = message("bkk-ioc-2026-000042", "Alert", NULL, "x");
    struct capture c;
    capture_begin(&c);
    CHECK_EQ_INT(emit(&f, "incident.1.Z03", m), 0);
    CHECK_EQ_INT(emit(&f, "capx.alert", m), 0);
    CHECK_EQ_INT(emit(&f, "incident.2.Z03", "not even JSON"), 0);
    char *log = capture_end(&c);
    CHECK_STR(log, ""); /* not even a word */
    free(log);
    CHECK_EQ_INT(count_entries(f.dir), 0);
    free(m);
    teardown(&f);
}

TEST(bad_alert_logged_not_fatal)
{
    struct fixture f;
    setup(&f, "cap");
    char *bad = message("bkk-ioc-2026-000042", "Alert", NULL, "x");
    char *p = strstr(bad, "\"Immediate\"");
    REQUIRE(p != NULL);
    memcpy(p, "\"Immediat\" ", 11); /* an enumeration value CAP does not know */

    struct capture c;
    capture_begin(&c);
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", bad), IOC_EINVAL);
    char *log = capture_end(&c);
    CHECK_CONTAINS(log, "[out_cap:0] cap.alert.Z03: invalid alert: info.urgency: 'Immediat' is "
                        "not one of");
    CHECK(strchr(log, '\n') == strrchr(log, '\n')); /* one line */
    free(log);

    capture_begin(&c);
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", "{\"alert\": "), IOC_EJSON);
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", "{\"seq\": 1}"), IOC_EINVAL);
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", "{\"alert\": {\"identifier\": \"x\"}}"), IOC_EINVAL);
    log = capture_end(&c);
    CHECK_CONTAINS(log, "[out_cap:0] cap.alert.Z03: message is not valid JSON");
    CHECK_CONTAINS(log, "[out_cap:0] cap.alert.Z03: message has no \"alert\"");
    CHECK_CONTAINS(log, "[out_cap:0] cap.alert.Z03: invalid alert: info: required");
    free(log);
    CHECK_EQ_INT(count_entries(f.dir), 0);

    /* And the next good one still goes through. */
    char *good = message("bkk-ioc-2026-000042", "Alert", NULL, "x");
    CHECK_EQ_INT(emit(&f, "cap.alert.Z03", good), 0);
    CHECK_EQ_INT(count_entries(f.dir), 1);
    free(good);
    free(bad);
    teardown(&f);
}

TEST(unwritable_directory_logged_not_fatal)
{
    struct fixture f;
    char *tmp = make_tmpdir();
    char blocker[512], yaml[1024], dir[600];
    struct ioc_diag diag;
    struct ioc_instance ins;
    uv_loop_t loop;

    /* A regular file where a directory should be: mkdir -p cannot succeed,
     * whatever our privileges (root ignores permission bits). */
    snprintf(blocker, sizeof blocker, "%s/file", tmp);
    FILE *fp = fopen(blocker, "w");
    REQUIRE(fp != NULL);
    fclose(fp);
    snprintf(dir, sizeof dir, "%s/cap", blocker);
    snprintf(yaml, sizeof yaml, "{plugin: cap, dir: \"%s\"}", dir);
    ioc_diag_init(&diag);
    REQUIRE(instance_make(&ins, yaml, &diag) == 0);
    ioc_diag_close(&diag);
    REQUIRE(uv_loop_init(&loop) == 0);

    struct capture c;
    capture_begin(&c);
    CHECK_EQ_INT(ins.plugin->start(&ins, &loop), 0); /* the engine goes on */
    char *m = message("bkk-ioc-2026-000042", "Alert", NULL, "x");
    struct ioc_change ch = {.topic = "cap.alert.Z03", .json = m, .json_len = strlen(m)};
    CHECK_EQ_INT(ins.plugin->emit(&ins, &ch), IOC_EIO);
    char *log = capture_end(&c);
    CHECK_CONTAINS(log, "[out_cap:0] cannot create");
    CHECK_CONTAINS(log, "will retry for each warning");
    CHECK_CONTAINS(log, "[out_cap:0] cap.alert.Z03: cannot create");
    CHECK_CONTAINS(log, "alert bkk-ioc-2026-000042 not written");
    free(log);

    /* The operator fixes it; the next warning is written without a restart. */
    REQUIRE(unlink(blocker) == 0);
    REQUIRE(mkdir(blocker, 0755) == 0);
    CHECK_EQ_INT(ins.plugin->emit(&ins, &ch), 0);
    CHECK_EQ_INT(count_entries(dir), 1);
    free(m);

    ins.plugin->stop(&ins);
    CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    instance_free(&ins);
    f.tmp = tmp;
    nftw(f.tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmp);
}

TEST(options)
{
    struct ioc_instance ins;
    struct ioc_diag diag;
    const struct ioc_plugin *p = ioc_plugin_find(IOC_PLUGIN_OUTPUT, "cap");
    REQUIRE(p != NULL);
    CHECK(p->emit != NULL);

    /* The default directory. */
    ioc_diag_init(&diag);
    REQUIRE(instance_make(&ins, "plugin: cap\n", &diag) == 0);
    CHECK_STR(*(char **)ins.conf, "var/cap");
    instance_free(&ins);
    ioc_diag_close(&diag);

    /* An unknown key is an error naming the allowed ones, with its position. */
    ioc_diag_init(&diag);
    CHECK_EQ_INT(instance_make(&ins, "plugin: cap\ndirectory: /tmp/x\n", &diag), IOC_ECONFIG);
    REQUIRE(diag.n == 1);
    CHECK_CONTAINS(diag.msgs[0], "test.yaml:2:1");
    CHECK_CONTAINS(diag.msgs[0], "dir");
    ioc_options_free(p->options, ins.conf);
    free(ins.conf);
    ioc_diag_close(&diag);

    /* An empty directory is refused at init, before anything runs. */
    ioc_diag_init(&diag);
    struct capture c;
    capture_begin(&c);
    CHECK_EQ_INT(instance_make(&ins, "plugin: cap\ndir: \"\"\n", &diag), IOC_ECONFIG);
    char *log = capture_end(&c);
    CHECK_CONTAINS(log, "[out_cap:0] 'dir' must not be empty");
    free(log);
    instance_free(&ins); /* destroy accepts the half-built instance */
    ioc_diag_close(&diag);
}
