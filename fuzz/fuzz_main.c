/*
 * fuzz_main.c — the libFuzzer side of one fuzzer program: hands each input to
 * the entry named by IOC_FUZZ_ENTRY (CMake compiles this file once per
 * fuzzer, with -DIOC_FUZZ_ENTRY=ioc_fuzz_<name>).
 *
 * The entries themselves live in fuzz_<name>.c, which the regression test
 * (test/unit/test_fuzz_regressions.c) links too, so a crash input replays
 * through exactly the same code without libFuzzer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"

#ifndef IOC_FUZZ_ENTRY
#error "IOC_FUZZ_ENTRY must name the harness entry (ioc_fuzz_event, ...)"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The engine logs every refused command at info level; at tens of
     * thousands of inputs a second that is only noise. IOC_LOG set by the
     * caller wins. */
    setenv("IOC_LOG", "error", 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return IOC_FUZZ_ENTRY(data, size);
}
