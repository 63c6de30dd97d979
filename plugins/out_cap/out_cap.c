/*
 * out_cap.c — output plugin "cap": approved public warnings as CAP 1.2 files.
 *
 * Of the changes every output receives, this one takes only those whose topic
 * starts with "cap.": their JSON carries the warning as the member "alert"
 * (the form ioc_cap_from_json reads, see ioc/cap.h). Each becomes
 * <dir>/<identifier>.xml, which a web server or a CAP aggregator can serve
 * as is. The same cap.* messages also go out on the PUB socket through
 * zmq_pub; this plugin has nothing to do with that.
 *
 * Invariants:
 * - a reader never sees a half-written file: the XML goes to a hidden temp
 *   file in the same directory, is fsync'ed, then renamed over the final
 *   name (rename is atomic within a file system). An Update or Cancel has its
 *   own identifier, so it never overwrites the Alert it refers to;
 * - the file name is the identifier with anything but [A-Za-z0-9._@-]
 *   replaced; when that changed or shortened it, a hash of the identifier is
 *   appended, so two identifiers never share a file;
 * - a fault (bad alert, full disk, missing permission) is logged once, where
 *   it is found, with the instance tag, and the engine carries on: a warning
 *   that cannot be written must not stop incidents from being correlated.
 *   The directory is created (mkdir -p) at start and again before each
 *   write, so an operator can fix it without restarting.
 *
 * emit() writes synchronously, fsync included, on the loop thread. That is a
 * few milliseconds, accepted because public warnings pass a human approval
 * and come a few per day, and because a warning announced as published must
 * be on disk.
 *
 * Threads: everything runs on the loop thread. No loop handles are used, so
 * stop and destroy have nothing to wait for.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "ioc/cap.h"
#include "ioc/error.h"
#include "ioc/log.h"
#include "ioc/options.h"
#include "ioc/plugin.h"

#define TOPIC_PREFIX "cap."
/* Longest identifier kept whole in a file name: room for the hash and
 * ".xml" below the usual NAME_MAX of 255. */
#define NAME_KEEP 200

struct out_cap_conf {
    char *dir;
};

struct out_cap {
    uint64_t written;
    uint64_t failed;
};

static const struct ioc_option out_cap_options[] = {
    {"dir", IOC_OPT_PATH, "var/cap", 0, 0, offsetof(struct out_cap_conf, dir),
     "directory receiving one <identifier>.xml CAP 1.2 file per public warning (created)"},
    IOC_OPTION_END,
};

/* mkdir -p: every missing component is created, 0755. */
static int make_dirs(const char *path)
{
    char *p = strdup(path);
    int rc = 0;
    if (!p) {
        return ENOMEM;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') {
            continue;
        }
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = errno;
            break;
        }
        *s = c;
        if (c == '\0') {
            break;
        }
    }
    struct stat st;
    if (rc == 0 && stat(p, &st) != 0) {
        rc = errno;
    } else if (rc == 0 && !S_ISDIR(st.st_mode)) {
        rc = ENOTDIR;
    }
    free(p);
    return rc;
}

/* The file name for an identifier, without directory: "<safe>[-<hash>].xml". */
static char *file_name(const char *id)
{
    size_t len = strlen(id), keep = len < NAME_KEEP ? len : NAME_KEEP;
    bool changed = keep < len;
    uint32_t h = 2166136261u; /* FNV-1a: stable across runs and builds */
    char *name = malloc(keep + 16);
    if (!name) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    }
    for (size_t i = 0; i < keep; i++) {
        char c = id[i];
        /* '@' stays: senders are often addresses, and it is harmless in a file name. */
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '@' ||
                  (c == '.' && i > 0); /* no hidden files, no ".." */
        name[i] = ok ? c : '_';
        changed |= !ok;
    }
    if (changed) {
        snprintf(name + keep, 16, "-%08x.xml", (unsigned)h);
    } else {
        memcpy(name + keep, ".xml", 5);
    }
    return name;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes xml as dir/name through a temp file and a rename. 0 or an errno;
 * *what names the step that failed. */
static int write_atomic(const char *dir, const char *name, const char *xml, const char **what)
{
    char *tmp = NULL, *path = NULL;
    int fd = -1, err = 0;
    bool created = false;
    /* asprintf leaves its pointer undefined on failure, hence the resets. */
    if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0) {
        tmp = NULL;
    }
    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        path = NULL;
    }
    if (!tmp || !path) {
        err = ENOMEM;
        *what = "allocate for";
        goto fail;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        err = errno;
        *what = "create a temp file in";
        goto fail;
    }
    created = true;
    /* mkstemp makes 0600; the file is public by nature, for a web server to serve. */
    if (fchmod(fd, 0644) != 0 || (err = write_all(fd, xml, strlen(xml))) != 0 || fsync(fd) != 0) {
        err = err ? err : errno;
        *what = "write to";
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = errno;
        *what = "write to";
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = errno;
        *what = "rename a temp file in";
        goto fail;
    }
    /* Makes the rename itself durable; the file is complete either way, so a
     * failure here only means the name may appear later after a crash. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(tmp);
    free(path);
    return 0;

fail:
    if (fd >= 0) {
        close(fd);
    }
    if (created) {
        unlink(tmp); /* a reader never looks at hidden temp files, but do not leave them */
    }
    free(tmp);
    free(path);
    return err;
}

static int out_cap_init(struct ioc_instance *ins)
{
    const struct out_cap_conf *conf = ins->conf;
    if (!conf->dir || !*conf->dir) {
        ioc_error(ins->name, "'dir' must not be empty");
        return IOC_ECONFIG;
    }
    struct out_cap *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        ioc_error(ins->name, "out of memory");
        return IOC_ENOMEM;
    }
    ins->ctx = ctx;
    return 0;
}

static int out_cap_start(struct ioc_instance *ins, uv_loop_t *loop)
{
    const struct out_cap_conf *conf = ins->conf;
    (void)loop; /* files are written from emit(); nothing joins the loop */
    int err = make_dirs(conf->dir);
    if (err != 0) {
        /* Not fatal: incidents matter more than this output, and the next
         * warning tries again, so the operator can fix it while we run. */
        ioc_error(ins->name, "cannot create %s: %s; will retry for each warning", conf->dir,
                  strerror(err));
        return 0;
    }
    ioc_info(ins->name, "writing CAP 1.2 warnings to %s", conf->dir);
    return 0;
}

static int out_cap_emit(struct ioc_instance *ins, const struct ioc_change *ch)
{
    struct out_cap *ctx = ins->ctx;
    const struct out_cap_conf *conf = ins->conf;
    struct ioc_cap_alert alert;
    cJSON *msg = NULL;
    char *xml = NULL, *name = NULL;
    const char *what = NULL;
    int rc = 0, err;

    if (!ch->topic || strncmp(ch->topic, TOPIC_PREFIX, strlen(TOPIC_PREFIX)) != 0) {
        return 0;
    }
    if (!ctx) {
        return IOC_ESTATE;
    }
    if (!(msg = cJSON_ParseWithLength(ch->json, ch->json_len))) {
        ioc_error(ins->name, "%s: message is not valid JSON; warning not written", ch->topic);
        rc = IOC_EJSON;
        goto fail;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(msg, "alert");
    if (!a) {
        ioc_error(ins->name, "%s: message has no \"alert\"; warning not written", ch->topic);
        rc = IOC_EINVAL;
        goto fail;
    }
    if ((rc = ioc_cap_from_json(a, &alert)) != 0) {
        ioc_error(ins->name, "%s: invalid alert: %s; warning not written", ch->topic, alert.error);
        goto fail;
    }
    if ((rc = ioc_cap_render(&alert, &xml)) != 0 || !(name = file_name(alert.identifier))) {
        rc = rc ? rc : IOC_ENOMEM;
        ioc_error(ins->name, "%s: cannot render alert %s: %s", ch->topic, alert.identifier,
                  ioc_strerror(rc));
        goto fail;
    }
    if ((err = make_dirs(conf->dir)) != 0) {
        ioc_error(ins->name, "%s: cannot create %s: %s; alert %s not written", ch->topic, conf->dir,
                  strerror(err), alert.identifier);
        rc = IOC_EIO;
        goto fail;
    }
    if ((err = write_atomic(conf->dir, name, xml, &what)) != 0) {
        ioc_error(ins->name, "%s: cannot %s %s: %s; alert %s not written", ch->topic, what,
                  conf->dir, strerror(err), alert.identifier);
        rc = err == ENOMEM ? IOC_ENOMEM : IOC_EIO;
        goto fail;
    }
    ctx->written++;
    ioc_info(ins->name, "%s %s written to %s/%s", alert.msg_type, alert.identifier, conf->dir,
             name);
    free(name);
    free(xml);
    cJSON_Delete(msg);
    return 0;

fail:
    ctx->failed++;
    free(name);
    free(xml);
    cJSON_Delete(msg);
    return rc;
}

static void out_cap_stop(struct ioc_instance *ins)
{
    struct out_cap *ctx = ins->ctx;
    if (!ctx) {
        return;
    }
    ioc_info(ins->name, "stopped after %llu warnings written (%llu failed)",
             (unsigned long long)ctx->written, (unsigned long long)ctx->failed);
}

static void out_cap_destroy(struct ioc_instance *ins)
{
    free(ins->ctx);
    ins->ctx = NULL;
}

const struct ioc_plugin ioc_plugin_out_cap = {
    .name = "cap",
    .kind = IOC_PLUGIN_OUTPUT,
    .description = "Writes each approved public warning (topics cap.*) as a CAP 1.2 XML file, "
                   "<dir>/<identifier>.xml, atomically (temp file, fsync, rename).",
    .options = out_cap_options,
    .conf_size = sizeof(struct out_cap_conf),
    .init = out_cap_init,
    .start = out_cap_start,
    .stop = out_cap_stop,
    .destroy = out_cap_destroy,
    .emit = out_cap_emit,
};
