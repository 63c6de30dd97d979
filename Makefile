# Thin wrapper: the build is CMake's. `make demo` and `make test` work on a
# fresh Debian 12 machine: they install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-asan demo test test-fast bench fuzz clean format

all: build

deps:
	@sh scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory -s

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DIOC_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS) -- --no-print-directory -s

demo: build
	@sh scripts/demo.sh $(BUILD)

# Every test, in the normal build and under AddressSanitizer + UBSan, then every fuzzer for
# TEST_FUZZ_SECONDS each. test_fuzz_regressions (in ctest) replays the seed corpora and every
# kept crash input; the brief fuzzing after it looks for new ones (fuzz/README.md). It is
# seeded and capped in runs, so every machine fuzzes the same inputs (a slower one fewer of
# them): a test run does not fail by chance; `make fuzz` explores freely.
TEST_FUZZ_SECONDS ?= 10
TEST_FUZZ_RUNS ?= 100000
test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) \
	  FUZZ_ARGS="-seed=1 -runs=$(TEST_FUZZ_RUNS)"

# Throughput benchmark (bench/README.md); rewrites bench/RESULTS.md. Never part of make test.
bench: build
	@sh bench/run.sh $(BUILD)

# libFuzzer harnesses (fuzz/README.md), FUZZ_SECONDS each; fails on any crash. Installs clang
# on demand: `make test` never needs it (it replays the corpora and crash inputs instead).
fuzz:
	@sh scripts/deps.sh fuzz
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOC_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS="$(FUZZ_ARGS)" sh fuzz/run.sh $(FUZZ_BUILD)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

format:
	clang-format -i engine/*.c engine/*.h engine/include/ioc/*.h engine/cmd/*.c plugins/*/*.c \
	  test/*.h test/*/*.c bench/*.c fuzz/*.c fuzz/*.h
