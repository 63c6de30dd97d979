/*
 * test.h — the smallest test harness that fits ctest.
 *
 * A test program holds several cases written as TEST(name) { ... }. CMake
 * reads the TEST(name) lines of each test source and registers every case as
 * its own ctest test ("<program>.<name>"), run as "<program> <name>"; with no
 * argument the program runs all its cases. A failed CHECK prints
 * file:line and the expression and fails the case, which goes on to its end
 * only where REQUIRE was not used.
 */
#ifndef IOC_TEST_H
#define IOC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn fn;
};

#define TEST_MAX 256
static struct test_case test_cases_[TEST_MAX];
static int test_ncases_;
static int test_failed_;

static inline void test_register_(const char *name, test_fn fn)
{
    if (test_ncases_ < TEST_MAX) {
        test_cases_[test_ncases_].name = name;
        test_cases_[test_ncases_].fn = fn;
        test_ncases_++;
    }
}

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void test_reg_##name(void)                                 \
    {                                                                                              \
        test_register_(#name, test_##name);                                                        \
    }                                                                                              \
    static void test_##name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);              \
            test_failed_ = 1;                                                                      \
        }                                                                                          \
    } while (0)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);            \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, a_, b_);                                                               \
            test_failed_ = 1;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,        \
                    __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
            test_failed_ = 1;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n", __FILE__, __LINE__,   \
                    h_ ? h_ : "(null)", n_);                                                       \
            test_failed_ = 1;                                                                      \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    int ran = 0;
    for (int i = 0; i < test_ncases_; i++) {
        if (argc > 1 && strcmp(argv[1], test_cases_[i].name) != 0) {
            continue;
        }
        test_failed_ = 0;
        test_cases_[i].fn();
        ran++;
        fprintf(stderr, "%s %s\n", test_failed_ ? "FAIL" : "ok  ", test_cases_[i].name);
        if (test_failed_) {
            return 1;
        }
    }
    if (ran == 0) {
        fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "(any)");
        return 2;
    }
    return 0;
}

#endif
