/*
 * test_fuzz_regressions.c — replays the fuzzers' inputs without libFuzzer:
 * every file of fuzz/regressions/<name>/ (inputs that once crashed, kept
 * after the fix) and of the seed corpus fuzz/corpus/<name>/, through the
 * same entry the fuzzer calls (ioc_fuzz_<name>, fuzz/fuzz_<name>.c).
 *
 * This is how `make test` fuzzes "briefly": no new inputs are generated, but
 * every known one runs in both builds, and under AddressSanitizer + UBSan in
 * build-asan, so a fixed crash cannot come back unseen. A harness's own
 * contract checks abort(), which fails the case. Each input is copied into a
 * heap block of exactly its size, as libFuzzer passes it, so a read past the
 * end shows under AddressSanitizer. Generating new inputs is `make fuzz`.
 */
#include <dirent.h>
#include <stdint.h>

#include "fuzz.h"
#include "test.h"

#define FUZZ_DIR IOC_SOURCE_DIR "/fuzz"

/* Feeds every regular file of dir to entry; returns how many, or -1 when the
 * directory cannot be read. */
static int replay_dir(const char *dir, int (*entry)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) {
        return -1;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[1024];
        if (de->d_name[0] == '.') {
            continue; /* ".", "..", and the .gitkeep of an empty folder */
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) {
            continue; /* a sub-directory */
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        REQUIRE(len >= 0);
        uint8_t *buf = malloc(len ? (size_t)len : 1);
        REQUIRE(buf);
        REQUIRE(fread(buf, 1, (size_t)len, f) == (size_t)len);
        fclose(f);
        /* Named first, so an abort in the entry points at the input. */
        fprintf(stderr, "  %s\n", path);
        entry(buf, (size_t)len);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *name, int (*entry)(const uint8_t *, size_t))
{
    char dir[512];
    snprintf(dir, sizeof dir, FUZZ_DIR "/regressions/%s", name);
    int regressions = replay_dir(dir, entry);
    snprintf(dir, sizeof dir, FUZZ_DIR "/corpus/%s", name);
    int seeds = replay_dir(dir, entry);
    fprintf(stderr, "%s: %d regression inputs, %d seeds\n", name, regressions, seeds);
    CHECK(regressions >= 0); /* the folder exists, empty or not */
    CHECK(seeds > 0);        /* a fuzzer without seeds starts from nothing */
    ioc_fuzz_teardown();
}

TEST(event)
{
    replay("event", ioc_fuzz_event);
}

TEST(rules)
{
    replay("rules", ioc_fuzz_rules);
}

TEST(expr)
{
    replay("expr", ioc_fuzz_expr);
}

TEST(control)
{
    /* The control socket logs every start and stop at info level. */
    setenv("IOC_LOG", "warn", 0);
    replay("control", ioc_fuzz_control);
}
