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

# Install what the tests need if missing, build, run the whole suite.
test:
	./scripts/install-deps.sh $(TEST_DEPS)
	cmake -S . -B build-test -DMMF_BUILD_TESTS=ON $(CMAKE_FLAGS)
	cmake --build build-test -j $(JOBS)
	cd build-test && ctest --output-on-failure -j $(JOBS)

# The same suite built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-sanitize:
	./scripts/install-deps.sh $(TEST_DEPS)
	cmake -S . -B build-asan -DMMF_BUILD_TESTS=ON -DMMF_SANITIZE=ON -DMMF_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# Benchmarks are never part of the test run.
bench: build
	./build/bench/mmf-bench

install: build
	cmake --install build

clean:
	rm -rf build build-test build-asan
