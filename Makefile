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
LUA_SRC := $(wildcard lua/*.lua lua/tunelua/*.lua schedulers/*.lua)
TESTS := $(wildcard engine/test/test-*.c)

.PHONY: all deps demo test test-c test-lua test-e2e test-python lint install clean check-valgrind

all: tunelua

tunelua: $(OBJ) $(BUILD)/main.o $(BUILD)/embedded.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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
	luacheck -q lua schedulers spec examples

test: tunelua
	$(MAKE) test-c
	$(MAKE) lint
	$(MAKE) test-python
	$(MAKE) test-lua

# The end-to-end specs with the engine under valgrind (trainers are not traced).
check-valgrind: tunelua
	HWLOC_COMPONENTS=-x86 TUNELUA_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	  busted --lua=luajit spec/e2e

install: tunelua
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tunelua/lua/tunelua \
	  $(DESTDIR)$(PREFIX)/share/tunelua/schedulers $(DESTDIR)$(PREFIX)/share/tunelua/trainers/python \
	  $(DESTDIR)$(PREFIX)/share/tunelua/trainers/c $(DESTDIR)$(PREFIX)/share/tunelua/trainers/lua
	install -m 755 tunelua $(DESTDIR)$(PREFIX)/bin/tunelua
	install -m 644 lua/*.lua $(DESTDIR)$(PREFIX)/share/tunelua/lua/
	install -m 644 lua/tunelua/*.lua $(DESTDIR)$(PREFIX)/share/tunelua/lua/tunelua/
	install -m 644 schedulers/*.lua $(DESTDIR)$(PREFIX)/share/tunelua/schedulers/
	install -m 644 trainers/python/tunelua.py $(DESTDIR)$(PREFIX)/share/tunelua/trainers/python/
	for f in trainers/c/*.h trainers/lua/*.lua; do [ -e "$$f" ] && install -m 644 "$$f" $(DESTDIR)$(PREFIX)/share/tunelua/$$(dirname $$f)/ || true; done

clean:
	rm -rf $(BUILD) tunelua
