# sipwarden build: plain GNU make, objects out of tree under build/<mode>/.
#   make            release build (build/release/)
#   make MODE=asan  ASan+UBSan build (build/asan/), what the tests use
#   make test       test tools (apt-get, if missing), asan build + unit binaries, then the whole suite (pytest)
#   make run        quick start: demo database + daemon on 127.0.0.1:5060
#   make fuzz       libFuzzer harnesses (clang), short bounded runs
MODE ?= release
BUILD := build/$(MODE)
CC ?= cc
PKGS := openssl sqlite3 inih
# MariaDB Connector/C (Debian: libmariadb-dev), for the mysql:// store.
PKGS += libmariadb
# libpq: the PostgreSQL store (src/store/pgsql.c)
PKGS += libpq

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wformat=2 -Wcast-align -Wpointer-arith
CPPFLAGS := -D_GNU_SOURCE -Isrc -Iinclude $(shell pkg-config --cflags $(PKGS))
LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread

ifeq ($(MODE),asan)
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(MODE),debug)
OPT := -O0 -g
else
# Release: link-time optimisation, so the small helpers of base/ and sip/
# (slices, scanners, hashing) are inlined across files (about 2.5 % fewer
# instructions per REGISTER flow, bench/README.md). The archive then holds
# GCC's intermediate code, so it is made with gcc-ar (the LTO plugin).
OPT := -O2 -g -flto=auto
AR := gcc-ar
endif
CFLAGS := -std=gnu11 $(WARN) $(OPT) -MMD -MP
LDFLAGS := $(filter -fsanitize=% -flto% -O%,$(OPT))

# Debian's pytest (python3-pytest), whatever python3 comes first in PATH.
PYTEST ?= $(firstword $(wildcard /usr/bin/pytest-3) pytest)

LIB_DIRS := base sip transport txn auth store registrar ua proxy
LIB_SRCS := $(wildcard $(addprefix src/,$(addsuffix /*.c,$(LIB_DIRS))))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libsipwarden.a

DAEMON_SRCS := src/app/sipwarden.c src/app/config.c src/app/daemon.c src/app/ctlproto.c src/app/ctlsrv.c
CTL_SRCS := src/app/ctl_main.c src/app/config.c
UA_SRCS := src/app/ua_main.c
# The load generator of bench/run (not part of the library).
BENCH_SRCS := src/app/bench_main.c $(wildcard src/bench/*.c)
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BINS := $(BUILD)/sipwarden $(BUILD)/sipwarden-ctl $(BUILD)/sipwarden-ua $(BUILD)/sipwarden-bench $(EXAMPLE_BINS)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all unit test run fuzz bench clean
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/sipwarden: $(DAEMON_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/sipwarden-ctl: $(CTL_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/sipwarden-ua: $(UA_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/sipwarden-bench: $(BENCH_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Example programs of the UA API (include/sipwarden/ua.h only).
$(BUILD)/examples/%: $(BUILD)/examples/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/src/app/config.o $(BUILD)/src/app/ctlproto.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Every fuzz harness is also linked with a plain replay driver, so the unit suite
# replays the seed and crash corpora on every run (no clang needed).
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
REPLAY_BINS := $(FUZZ_SRCS:fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)

$(BUILD)/fuzz/replay_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/fuzz/replay_main.o $(BUILD)/src/app/config.o \
		$(BUILD)/src/app/ctlproto.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

unit: $(UNIT_BINS) $(REPLAY_BINS)

test:
	./scripts/install-deps --test
	$(MAKE) -j2 MODE=asan all unit
	SIPWARDEN_BUILD=build/asan $(PYTEST) -q tests

run: all
	./scripts/demo $(BUILD)

fuzz:
	./fuzz/run

bench: all
	./bench/run

clean:
	rm -rf build

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
