# tunelua: `make` builds ./tunelua; `make demo` and `make test` are the two commands of README.md.
PREFIX ?= /usr/local
CC ?= cc
PKGS := luajit libuv libcjson hwloc
DEBIAN_PACKAGES := gcc libc6-dev make pkg-config luajit libluajit-5.1-dev libuv1-dev libcjson-dev \
  libhwloc-dev lua-busted lua-check lua-cjson python3 python3-sklearn

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -fvisibility=hidden \
  $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += -Wl,-E
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

BUILD := build
SRC := $(filter-out engine/main.c,$(wildcard engine/*.c))
OBJ := $(SRC:engine/%.c=$(BUILD)/%.o)
LUA_SRC := $(wildcard lua/*.lua lua/tunelua/*.lua schedulers/*.lua) engine/plot.html
TESTS := $(wildcard engine/test/test-*.c)

.PHONY: all deps demo test test-slurm test-c test-lua test-e2e test-python lint install clean check-valgrind \
  bench-search \
  deps-dev deps-bench asan test-asan fuzz fuzz-build bench

all: tunelua

tunelua: $(OBJ) $(BUILD)/main.o $(BUILD)/embedded.o | tunelua-bind
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The small exec wrapper that pins a trial to its PUs (engine/bin/tunelua-bind.c): libc only,
# static where libc.a is there, since it runs once per trial launch.
tunelua-bind: engine/bin/tunelua-bind.c engine/cpulist.h
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -static -o $@ $< 2>/dev/null || \
	  $(CC) -O2 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

$(BUILD)/%.o: engine/%.c $(wildcard engine/*.h) | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/embedded.c: $(LUA_SRC) engine/embed.sh | $(BUILD)
	sh engine/embed.sh $(BUILD) $(LUA_SRC)

$(BUILD)/embedded.o: $(BUILD)/embedded.c
	$(CC) $(filter-out -Wextra,$(CFLAGS)) -I$(BUILD) -c -o $@ $<

$(BUILD):
	mkdir -p $(BUILD)

# Installs the Debian packages that are missing (as root; does nothing when all are there).
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "make deps: all Debian packages present"; fi

demo: deps
	$(MAKE) tunelua
	./tunelua examples/quickstart.lua --dir tunelua_runs/quickstart-demo-$$(date +%Y%m%d-%H%M%S)

$(BUILD)/test-%: engine/test/test-%.c $(OBJ) $(BUILD)/embedded.o engine/test/test.h
	$(CC) $(CFLAGS) -Iengine $(LDFLAGS) -o $@ $< $(OBJ) $(BUILD)/embedded.o $(LDLIBS)

$(BUILD)/spec-c-%: spec/c/%.c trainers/c/tunelua.h | $(BUILD)
	$(CC) -std=c11 -Wall -Wextra -Werror -Itrainers/c -o $@ $<

test-c: $(TESTS:engine/test/test-%.c=$(BUILD)/test-%) $(patsubst spec/c/%.c,$(BUILD)/spec-c-%,$(wildcard spec/c/*.c))
	@set -e; for t in $^; do ./$$t; done

test-lua:
	busted --lua=luajit spec

test-e2e: tunelua
	busted --lua=luajit spec/e2e

test-python:
	/usr/bin/python3 -m unittest discover -s spec/python

lint:
	luacheck -q lua schedulers spec examples trainers bench

# The slurm executor on a real two-node Slurm cluster on this machine (slurm-wlm, munge; as
# root): starts it (spec/slurm/cluster.sh), runs spec/slurm, stops it.
SLURM_DIR ?= /tmp/tunelua-slurm
test-slurm: tunelua
	@TUNELUA_SLURM_DIR=$(SLURM_DIR) spec/slurm/cluster.sh start
	@TUNELUA_SLURM_DIR=$(SLURM_DIR) SLURM_CONF=$(SLURM_DIR)/slurm.conf busted --lua=luajit spec/slurm; \
	  rc=$$?; TUNELUA_SLURM_DIR=$(SLURM_DIR) spec/slurm/cluster.sh stop; exit $$rc

test: tunelua
	$(MAKE) test-c
	$(MAKE) lint
	$(MAKE) test-python
	$(MAKE) test-lua

# The end-to-end specs with the engine under valgrind (trainers are not traced).
check-valgrind: tunelua
	HWLOC_COMPONENTS=-x86 TUNELUA_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	  busted --lua=luajit spec/e2e

# Search algorithms against Optuna (Debian python3-optuna): regret and suggestion latency.
bench-search: deps-bench tunelua
	/usr/bin/python3 bench/search/bench.py

install: tunelua
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tunelua/lua/tunelua \
	  $(DESTDIR)$(PREFIX)/share/tunelua/schedulers $(DESTDIR)$(PREFIX)/share/tunelua/trainers/python \
	  $(DESTDIR)$(PREFIX)/share/tunelua/trainers/c $(DESTDIR)$(PREFIX)/share/tunelua/trainers/lua
	install -m 755 tunelua tunelua-bind $(DESTDIR)$(PREFIX)/bin/
	install -m 644 lua/*.lua $(DESTDIR)$(PREFIX)/share/tunelua/lua/
	install -m 644 lua/tunelua/*.lua $(DESTDIR)$(PREFIX)/share/tunelua/lua/tunelua/
	install -m 644 schedulers/*.lua $(DESTDIR)$(PREFIX)/share/tunelua/schedulers/
	install -m 644 trainers/python/tunelua.py $(DESTDIR)$(PREFIX)/share/tunelua/trainers/python/
	for f in trainers/c/*.h trainers/lua/*.lua; do [ -e "$$f" ] && install -m 644 "$$f" $(DESTDIR)$(PREFIX)/share/tunelua/$$(dirname $$f)/ || true; done

clean:
	rm -rf $(BUILD) tunelua tunelua-bind $(ASAN_BUILD) $(FUZZ_BUILD)

# ---- Sanitizers and fuzzing (engine/README.md, "Fuzzing and sanitizers") ----
# What `make fuzz` needs beyond DEBIAN_PACKAGES: clang, its libFuzzer/ASan runtimes and
# llvm-symbolizer (stack traces with file:line); chromium renders the HTML report and the
# dashboard in the specs (pending without it).
DEBIAN_DEV_PACKAGES := clang libclang-rt-dev llvm chromium slurm-wlm munge

deps-dev:
	@$(MAKE) --no-print-directory deps DEBIAN_PACKAGES="$(DEBIAN_DEV_PACKAGES)"

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1
# No -Werror here: `make` already enforces the warnings, and sanitizer builds add their own.
SAN_CFLAGS = -std=c11 -Wall -Wextra -D_GNU_SOURCE -fvisibility=hidden $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Any finding fails the run; reports also go to $(ASAN_BUILD)/log/ (a spec that expects the
# engine to fail, or kills it, would otherwise hide one) and test-asan fails if any is there.
ASAN_OPTS := detect_leaks=1:abort_on_error=1
UBSAN_OPTS := halt_on_error=1:print_stacktrace=1
SAN_ENV = ASAN_OPTIONS=$(ASAN_OPTS):log_path=$(CURDIR)/$(ASAN_BUILD)/log/asan \
  UBSAN_OPTIONS=$(UBSAN_OPTS):log_path=$(CURDIR)/$(ASAN_BUILD)/log/ubsan

# ASan+UBSan build of the engine and the C tests (gcc is fine; CC=clang works too).
ASAN_BUILD := build-asan
ASAN_OBJ := $(SRC:engine/%.c=$(ASAN_BUILD)/%.o)

ASAN_TESTS := $(TESTS:engine/test/test-%.c=$(ASAN_BUILD)/test-%) \
  $(patsubst spec/c/%.c,$(ASAN_BUILD)/spec-c-%,$(wildcard spec/c/*.c))

asan: $(ASAN_BUILD)/tunelua $(ASAN_BUILD)/tunelua-bind $(ASAN_TESTS) $(ASAN_BUILD)/trainers

$(ASAN_BUILD)/%.o: engine/%.c $(wildcard engine/*.h) | $(ASAN_BUILD)
	$(CC) $(SAN_FLAGS) $(SAN_CFLAGS) -c -o $@ $<

$(ASAN_BUILD)/embedded.o: $(BUILD)/embedded.c | $(ASAN_BUILD)
	$(CC) $(SAN_FLAGS) $(filter-out -Wextra,$(SAN_CFLAGS)) -I$(BUILD) -c -o $@ $<

$(ASAN_BUILD)/tunelua: $(ASAN_OBJ) $(ASAN_BUILD)/main.o $(ASAN_BUILD)/embedded.o
	$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(ASAN_BUILD)/test-%: engine/test/test-%.c $(ASAN_OBJ) $(ASAN_BUILD)/embedded.o engine/test/test.h
	$(CC) $(SAN_FLAGS) $(SAN_CFLAGS) -Iengine $(LDFLAGS) -o $@ $< $(ASAN_OBJ) $(ASAN_BUILD)/embedded.o $(LDLIBS)

$(ASAN_BUILD)/spec-c-%: spec/c/%.c trainers/c/tunelua.h | $(ASAN_BUILD)
	$(CC) $(SAN_FLAGS) -std=c11 -Wall -Wextra -Itrainers/c -o $@ $<

# The engine starts pinned trials through the tunelua-bind beside its binary (resources.c).
$(ASAN_BUILD)/tunelua-bind: engine/bin/tunelua-bind.c engine/cpulist.h | $(ASAN_BUILD)
	$(CC) $(SAN_FLAGS) -std=c11 -Wall -Wextra -D_GNU_SOURCE -o $@ $<

# The engine finds the trainer clients beside its binary (loop.c, find_install).
$(ASAN_BUILD)/trainers: | $(ASAN_BUILD)
	ln -sfn ../trainers $@

$(ASAN_BUILD):
	mkdir -p $(ASAN_BUILD)

# The C tests and the whole busted suite (e2e specs through TUNELUA_BIN) against the ASan build.
test-asan: asan
	@rm -rf $(ASAN_BUILD)/log && mkdir -p $(ASAN_BUILD)/log
	@set -e; for t in $(ASAN_TESTS); do $(SAN_ENV) ./$$t; done
	$(SAN_ENV) TUNELUA_BIN=$(ASAN_BUILD)/tunelua busted --lua=luajit spec
	@if ls $(ASAN_BUILD)/log | grep -q .; then \
	  echo "test-asan: sanitizer reports:"; for f in $(ASAN_BUILD)/log/*; do echo "== $$f"; cat $$f; done; exit 1; \
	else echo "test-asan: no sanitizer report"; fi

# libFuzzer targets (clang): engine/fuzz/fuzz_*.c linked with the engine's objects.
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?= -max_len=4096
FUZZ_TARGETS := $(patsubst engine/fuzz/fuzz_%.c,%,$(wildcard engine/fuzz/fuzz_*.c))
FUZZ_OBJ := $(SRC:engine/%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/%.o: engine/%.c $(wildcard engine/*.h) | $(FUZZ_BUILD)
	$(FUZZ_CC) $(SAN_FLAGS) -fsanitize=fuzzer-no-link $(SAN_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/embedded.o: $(BUILD)/embedded.c | $(FUZZ_BUILD)
	$(FUZZ_CC) -O1 $(filter-out -Wextra,$(SAN_CFLAGS)) -I$(BUILD) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: engine/fuzz/fuzz_%.c engine/fuzz/fixture.h $(FUZZ_OBJ) $(FUZZ_BUILD)/embedded.o
	$(FUZZ_CC) $(SAN_FLAGS) -fsanitize=fuzzer $(SAN_CFLAGS) -Iengine $(LDFLAGS) -o $@ $< \
	  $(FUZZ_OBJ) $(FUZZ_BUILD)/embedded.o $(LDLIBS)

$(FUZZ_BUILD):
	mkdir -p $(FUZZ_BUILD)

.SECONDARY: $(FUZZ_OBJ) $(FUZZ_BUILD)/embedded.o

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# Runs each target for FUZZ_SECONDS from its seeds (engine/fuzz/corpus/<target>) plus what
# earlier runs found ($(FUZZ_BUILD)/corpus/<target>); a crash leaves
# $(FUZZ_BUILD)/crash-<target>-<sha1> and fails the target.
fuzz: deps-dev
	@$(MAKE) --no-print-directory fuzz-build
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=$(ASAN_OPTS) UBSAN_OPTIONS=$(UBSAN_OPTS) \
	  ./$(FUZZ_BUILD)/fuzz_$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -close_fd_mask=1 -dict=engine/fuzz/$$t.dict -artifact_prefix=$(CURDIR)/$(FUZZ_BUILD)/crash-$$t- \
	    $(CURDIR)/$(FUZZ_BUILD)/corpus/$$t $(CURDIR)/engine/fuzz/corpus/$$t \
	    >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1 || failed="$$failed $$t"; \
	  grep -E '^(stat::|Done |#[0-9]+ +DONE)' $(FUZZ_BUILD)/fuzz_$$t.log || true; \
	done; \
	if [ -n "$$failed" ]; then \
	  for t in $$failed; do echo "== fuzz_$$t FAILED; the end of $(FUZZ_BUILD)/fuzz_$$t.log:"; \
	    tail -n 60 $(FUZZ_BUILD)/fuzz_$$t.log; done; \
	  ls $(FUZZ_BUILD)/crash-* 2>/dev/null; exit 1; \
	fi

# The benchmarks (not part of `make test`): writes bench/RESULTS.md, see docs/performance.md.
# Their peer, Optuna, is installed when missing and make runs as root; otherwise B5 says
# it is missing and goes on.
DEBIAN_BENCH_PACKAGES := python3-optuna

deps-bench:
	-@$(MAKE) --no-print-directory deps DEBIAN_PACKAGES="$(DEBIAN_BENCH_PACKAGES)"

bench: deps-bench tunelua
	sh bench/run.sh
