/*
 * fuzz_rules.c — the rule loader: bytes as one YAML rule file ->
 * ioc_yaml_parse, then ioc_ruleset_load on that file, then free.
 *
 * Rule files are written by analysts and reloaded into a running engine, so
 * the loader must turn any text into either a rule set or positioned errors.
 * The input is first parsed in memory (the YAML tree with positions, every
 * scalar put through the typed conversions the loader uses), then loaded as a
 * file, because ioc_ruleset_load only reads files: the bytes go to a memfd,
 * named by its /proc/self/fd path, so no input touches the disk and nothing is
 * left behind when a run is killed. Checked contracts (rule.h, yaml.h): a
 * refused file has at least one diagnostic and no result; YAML the parser
 * refuses is never a valid rule set; a loaded set has its hash and file list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ioc/diag.h"
#include "ioc/error.h"
#include "ioc/rule.h"
#include "ioc/yaml.h"

#include "fuzz.h"

static int memfd = -1;
static char memfd_path[64];

void ioc_fuzz__rules_teardown(void)
{
    if (memfd >= 0) {
        close(memfd);
        memfd = -1;
    }
}

/* Puts the input into the memfd, replacing the previous one. */
static void write_file(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz_rules.yaml", MFD_CLOEXEC);
        IOC_FUZZ_ASSERT(memfd >= 0, "memfd_create failed");
        snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    }
    IOC_FUZZ_ASSERT(ftruncate(memfd, 0) == 0, "ftruncate failed");
    for (size_t off = 0; off < size;) {
        ssize_t w = pwrite(memfd, data + off, size - off, (off_t)off);
        IOC_FUZZ_ASSERT(w > 0, "pwrite failed");
        off += (size_t)w;
    }
}

/* Every scalar through every conversion the loader may apply to it: each
 * must either succeed or explain itself. The parser caps nesting, so this
 * recursion is bounded too. */
static void walk(const struct ioc_ynode *n)
{
    if (n->kind == IOC_Y_SCALAR) {
        struct ioc_diag d;
        double num;
        long long ll;
        bool b;
        ioc_diag_init(&d);
        IOC_FUZZ_ASSERT(n->str != NULL && strlen(n->str) <= n->len, "scalar text");
        size_t before = d.n;
        if (ioc_ynode_number(n, &num, &d) != 0) {
            IOC_FUZZ_ASSERT(d.n > before, "number refused silently");
        }
        before = d.n;
        if (ioc_ynode_int(n, &ll, &d) != 0) {
            IOC_FUZZ_ASSERT(d.n > before, "integer refused silently");
        }
        before = d.n;
        if (ioc_ynode_bool(n, &b, &d) != 0) {
            IOC_FUZZ_ASSERT(d.n > before, "boolean refused silently");
        }
        before = d.n;
        if (ioc_ynode_duration(n, &ll, &d) != 0) {
            IOC_FUZZ_ASSERT(d.n > before, "duration refused silently");
        }
        IOC_FUZZ_ASSERT(ioc_ynode_str(n, &d) == n->str, "scalar as string");
        ioc_diag_close(&d);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == IOC_Y_MAP) {
            IOC_FUZZ_ASSERT(n->keys[i]->kind == IOC_Y_SCALAR, "a map key that is not a scalar");
            /* Lookups take C strings: a key with a NUL inside ("\0" in quotes)
             * cannot be asked for, and that is fine. */
            if (strlen(n->keys[i]->str) == n->keys[i]->len) {
                IOC_FUZZ_ASSERT(ioc_ymap_get(n, n->keys[i]->str) == n->items[i],
                                "a key that is not found");
            }
        }
        walk(n->items[i]);
    }
}

int ioc_fuzz_rules(const uint8_t *data, size_t size)
{
    struct ioc_diag diag;
    struct ioc_ynode *root = NULL;
    ioc_diag_init(&diag);
    int yrc = ioc_yaml_parse("fuzz.yaml", (const char *)data, size, &root, &diag);
    if (yrc != 0) {
        IOC_FUZZ_ASSERT(root == NULL, "a refused document left a tree");
        IOC_FUZZ_ASSERT(yrc == IOC_EYAML && diag.n > 0, "YAML refused without a diagnostic");
    } else {
        IOC_FUZZ_ASSERT(root != NULL, "parsed to nothing");
        walk(root);
        ioc_yaml_free(root);
    }
    ioc_diag_close(&diag);

    write_file(data, size);
    const char *paths[] = {memfd_path};
    struct ioc_ruleset *rs = (struct ioc_ruleset *)&diag; /* must be overwritten */
    ioc_diag_init(&diag);
    int rc = ioc_ruleset_load(paths, 1, &rs, &diag);
    if (rc != 0) {
        IOC_FUZZ_ASSERT(rs == NULL, "a refused rule set left a result");
        IOC_FUZZ_ASSERT(rc == IOC_ENOMEM || diag.n > 0, "rules refused without a diagnostic");
    } else {
        IOC_FUZZ_ASSERT(yrc == 0, "a rule set from YAML the parser refuses");
        IOC_FUZZ_ASSERT(rs != NULL, "loaded to nothing");
        IOC_FUZZ_ASSERT(strlen(ioc_ruleset_hash(rs)) == 16, "rule set hash");
        IOC_FUZZ_ASSERT(ioc_ruleset_files_json(rs) != NULL, "rule set file list");
        (void)ioc_ruleset_count(rs);
        ioc_ruleset_free(rs);
    }
    ioc_diag_close(&diag);
    return 0;
}
