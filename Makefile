# Thin wrapper: the build is CMake's. `make demo` and `make test` work on a
# fresh Debian 12 machine: they install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-asan demo test test-fast bench clean format

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

# Every test, in the normal build and under AddressSanitizer + UBSan.
test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Throughput benchmark (bench/README.md); rewrites bench/RESULTS.md. Never part of make test.
bench: build
	@sh bench/run.sh $(BUILD)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

format:
	clang-format -i engine/*.c engine/*.h engine/include/ioc/*.h engine/cmd/*.c plugins/*/*.c \
	  test/*.h test/*/*.c bench/*.c
