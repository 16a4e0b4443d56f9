# Two entry points (see README.md): `make demo` and `make test`.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
BUILD_DEPS := gcc cmake make pkg-config
TEST_DEPS := $(BUILD_DEPS) libcmocka-dev

.PHONY: all build demo test test-sanitize bench install clean

all: build

build:
	./scripts/install-deps.sh $(BUILD_DEPS)
	cmake -S . -B build -DMMF_BUILD_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)

# Build, then show the CLI and the examples on data generated in a temp dir.
demo: build
	./scripts/demo.sh build

# Install what the tests need if missing, build, run the whole suite; then
# cross-build for Windows (mingw-w64) and run the same suite under Wine.
# MMF_SKIP_WINDOWS=1 skips the Windows half, loudly.
test:
	./scripts/install-deps.sh $(TEST_DEPS)
	cmake -S . -B build-test -DMMF_BUILD_TESTS=ON $(CMAKE_FLAGS)
	cmake --build build-test -j $(JOBS)
	cd build-test && ctest --output-on-failure -j $(JOBS)
	@if [ "$(MMF_SKIP_WINDOWS)" = 1 ]; then \
	  printf '%s\n' '' \
	    '**********************************************************' \
	    '*** WINDOWS SUITE SKIPPED (MMF_SKIP_WINDOWS=1)         ***' \
	    '*** Only the Linux suite ran: nothing was tested under ***' \
	    '*** Wine. Unset MMF_SKIP_WINDOWS to run both.          ***' \
	    '**********************************************************' \
	    '' >&2; \
	else \
	  JOBS=$(JOBS) ./scripts/test-windows.sh build-win; \
	fi

# The same suite built with clang and AddressSanitizer +
# UndefinedBehaviorSanitizer (Linux only): the second compiler's warnings
# (-Werror) and clang's stricter UBSan checks, with no extra build.
test-sanitize:
	./scripts/install-deps.sh $(TEST_DEPS) clang
	CC=clang cmake -S . -B build-asan -DMMF_BUILD_TESTS=ON -DMMF_SANITIZE=ON -DMMF_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# Benchmarks are never part of the test run.
bench: build
	./build/bench/mmf-bench

install: build
	cmake --install build

clean:
	rm -rf build build-test build-asan build-win
