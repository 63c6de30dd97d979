/*
 * fuzz.h — the fuzz harnesses' entry points, shared by the libFuzzer programs
 * and by the regression test that replays their inputs without libFuzzer.
 *
 * Each entry takes one input exactly as libFuzzer hands it over (size bytes,
 * no terminating NUL) and drives one path where the engine reads untrusted
 * bytes, through the engine's public API only. An entry keeps no state that
 * changes how the next input is treated, so an input that crashes under the
 * fuzzer crashes the same way when replayed alone. A broken contract that no
 * sanitizer would see (a failure with no message, a reply without "ok") is
 * reported on stderr and abort()s, which both libFuzzer and ctest count as a
 * crash.
 *
 * Fixtures (the decoder, the fixed events, the control socket) are built on
 * first use and kept for the process; ioc_fuzz_teardown() releases them so the
 * regression test ends with nothing allocated under LeakSanitizer.
 *
 * Threads: one thread, the caller's.
 */
#ifndef IOC_FUZZ_H
#define IOC_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ioc_decoder;
struct ioc_event;
struct ioc_expr_env;

/* The four harnesses (fuzz_<name>.c). Each returns 0, as libFuzzer expects. */
int ioc_fuzz_event(const uint8_t *data, size_t size);
int ioc_fuzz_rules(const uint8_t *data, size_t size);
int ioc_fuzz_expr(const uint8_t *data, size_t size);
int ioc_fuzz_control(const uint8_t *data, size_t size);

/* Releases every fixture; an entry called afterwards builds them again. */
void ioc_fuzz_teardown(void);

/* ---- Shared by the harnesses (fuzz_common.c) ---------------------------- */

/* Aborts with "fuzz: <what>" when cond is false. */
#define IOC_FUZZ_ASSERT(cond, what)                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            ioc_fuzz__fail(__FILE__, __LINE__, (what));                                            \
        }                                                                                          \
    } while (0)

void ioc_fuzz__fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* A decoder on the embedded event schema, with the engine's default size limit. */
struct ioc_decoder *ioc_fuzz__decoder(void);

/* Fixed, valid events covering every source and every optional field (attrs
 * nested, Thai text), for evaluating expressions on. *n gets their count. */
const struct ioc_event *ioc_fuzz__events(size_t *n);

/* An environment that knows the lists "zones", "levels" and "words", so
 * "in @name" compiles. */
const struct ioc_expr_env *ioc_fuzz__env(void);

/* A copy of data with a NUL after it (the APIs that take C strings); the
 * caller frees it. Never NULL: out of memory aborts. */
char *ioc_fuzz__cstr(const uint8_t *data, size_t size);

/* Per-harness teardown, called by ioc_fuzz_teardown(). */
void ioc_fuzz__event_teardown(void);
void ioc_fuzz__rules_teardown(void);
void ioc_fuzz__control_teardown(void);

#endif
