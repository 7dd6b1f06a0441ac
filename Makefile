# tessera: the two commands a fresh Debian machine needs are `make run` and `make test`.
SHELL := /bin/bash
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
PREFIX ?= /usr/local
CMAKE_COMMON := -G Ninja -DTESSERA_WERROR=ON

.PHONY: all deps test-deps build run test unit package-check fuzz-build fuzz-smoke fuzz bench bench-http \
        install deb format clean

all: build

# What building and running need; the tests, fuzzers and benchmarks add their tools (test-deps).
deps:
	@./scripts/install-deps build

test-deps:
	@./scripts/install-deps test

# Release build; the binary is build/tessera.
build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release -DTESSERA_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target tessera

run: build
	@./scripts/run $(BUILD)/tessera

# Every test: unit, vector, adversarial, CLI and interop tests under ASan+UBSan, the Debian
# packages, then each fuzzer for a short fixed time.
test: test-deps build unit package-check fuzz-smoke

# make install PREFIX=/opt/tessera (default /usr/local; DESTDIR=... stages it): the command, its
# systemd unit and example configuration (an existing one is kept), libtessera (shared and
# static) with its headers, CMake package and pkg-config files.
install: deps
	@cmake -S . -B $(BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release -DTESSERA_TESTS=OFF \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target tessera tessera_shared tessera_static tessera_sodium_bundle
	@cmake --install $(BUILD)

# The Debian packages, tessera_VERSION_ARCH.deb and libtessera-dev_VERSION_ARCH.deb, in $(BUILD)
# (cmake/Package.cmake).
deb: deps
	@cmake -S . -B $(BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release -DTESSERA_TESTS=OFF \
	  -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target tessera tessera_shared tessera_static tessera_sodium_bundle
	@cd $(BUILD) && cpack -G DEB >/dev/null
	@ls $(BUILD)/*.deb

# The packages' contents, maintainer scripts, configuration and systemd unit
# (tests/packaging/check-deb).
package-check: test-deps deb
	@./tests/packaging/check-deb $(BUILD)

# -O1 -g1, as the sanitizers' authors advise: reports keep function names and lines, and the
# tree builds in about two thirds of the time -O2 -g takes.
unit: test-deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DTESSERA_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS)

fuzz-build: test-deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DTESSERA_FUZZ=ON -DTESSERA_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)

fuzz-smoke: fuzz-build
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

# make fuzz FUZZ_SECONDS=3600: each fuzzer for that long, two at a time, new corpus entries kept
# in build-fuzz, the figures written to docs/fuzzing.md.
fuzz: fuzz-build
	@./tests/fuzz/run-all $(FUZZ_BUILD) $(FUZZ_SECONDS) docs/fuzzing.md

bench: test-deps
	@cmake -S . -B $(BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release -DTESSERA_BENCH=ON \
	  -DTESSERA_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target tessera tessera_bench tessera_memory_bench tessera_tracking_bench \
	  orders-service
	@./bench/run $(BUILD)

# Only the HTTP benchmarks (wrk against tessera, nginx and the Node peer; also run by make bench).
bench-http: test-deps build
	@./bench/http/run $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
