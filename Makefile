# SPDX-License-Identifier: LGPL-2.1-or-later
# Thin wrapper around meson: `make run` and `make test` are the two
# commands a new user types (see README.md).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
MESON      ?= meson

.PHONY: all deps build build-asan build-fuzz run test clean install bench

all: build

deps:
	./scripts/deps.sh

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	$(MESON) setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Ddocs=disabled

# The fuzz build needs clang's libFuzzer; without clang it is skipped here
# and tests/run.sh reports it (a failure in CI).
$(FUZZ_BUILD)/build.ninja:
	@if command -v clang >/dev/null; then \
		CC=clang $(MESON) setup $(FUZZ_BUILD) -Dfuzz=true -Ddocs=disabled; \
	else echo "clang not found: no fuzz build"; fi

build: $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

build-asan: $(ASAN_BUILD)/build.ninja
	$(MESON) compile -C $(ASAN_BUILD)

build-fuzz: $(FUZZ_BUILD)/build.ninja
	@if [ -f $(FUZZ_BUILD)/build.ninja ]; then $(MESON) compile -C $(FUZZ_BUILD); fi

run: deps build
	./scripts/demo.sh $(BUILD)

test: build build-asan build-fuzz
	BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) FUZZ_BUILD=$(FUZZ_BUILD) ./tests/run.sh

bench: build
	./bench/file.sh $(BUILD)

install: build
	$(MESON) install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
