# umc: OTA upgrade master for vehicle telematics boxes.
#
#   make            build libumc.a and the binaries
#   make check      build and run every test, then the unit tests again
#                   under AddressSanitizer + UndefinedBehaviorSanitizer,
#                   and replay every fuzzing corpus under both
#   make deps       install the Debian packages the build and tests need
#   make install    DESTDIR=... PREFIX=... binaries, config, units, man pages, docs
#   make fuzz       build the libFuzzer targets with clang and run each for
#                   FUZZ_SECONDS (default 60) seconds (fuzz/README.md)
#
# A bare Debian 12 machine needs only git and make: the first build installs
# the rest (see .ci/install-deps).

PREFIX     ?= /usr
SYSCONFDIR ?= /etc
DESTDIR    ?=
BUILD      ?= build
SANITIZE   ?=

# Debian packages: build, then test.
DEB_BUILD := gcc libc6-dev make pkg-config libssl-dev libsystemd-dev \
             libcurl4-openssl-dev libcjson-dev libsocketcan-dev libinih-dev
DEB_TEST  := libcmocka-dev openssl dbus dbus-daemon procps iproute2 systemd can-utils \
             nginx-light vsftpd python3 curl
DEB_PKGS  := $(DEB_BUILD) $(DEB_TEST)
PKGS      := libsystemd libcurl libcjson libsocketcan inih openssl

CC      := gcc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla \
           -Wmissing-prototypes -Wstrict-prototypes -Wpointer-arith \
           -Wno-unused-parameter
ifeq ($(SANITIZE),1)
OPT     := -O1 -g -fno-omit-frame-pointer \
           -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN   := -fsanitize=address,undefined
else
OPT     := $(CFLAGS) -D_FORTIFY_SOURCE=2
LDSAN   :=
endif
HARDEN  := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE
LDHARD  := -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) $(WARN) $(HARDEN) -Iinclude $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDHARD) $(LDSAN) $(LDFLAGS)

LIB_SRC  := $(wildcard src/lib/*/*.c)
LIB_OBJ  := $(LIB_SRC:src/lib/%.c=$(BUILD)/lib/%.o)
LIBUMC   := $(BUILD)/libumc.a
BIN_DIRS := $(filter-out lib,$(notdir $(wildcard src/*)))
BINS     := $(BIN_DIRS:%=$(BUILD)/%)
UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)

# Quiet by default; `make V=1` shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps check unit unit-run unit-asan units-check integration tools demo bench install clean help \
        fuzz fuzz-deps fuzz-build fuzz-replay fuzz-replay-run fuzz-seeds
.DEFAULT_GOAL := all

# The generated config.mk holds pkg-config's flags; making it first installs
# whatever is missing, so `make` and `make check` work on a bare machine.
ifeq ($(filter deps fuzz-deps clean help,$(MAKECMDGOALS)),)
-include $(BUILD)/config.mk
endif

$(BUILD)/config.mk: Makefile .ci/install-deps
	@sh .ci/install-deps $(DEB_PKGS)
	@mkdir -p $(@D)
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))"; \
	   echo "PKG_LIBS := $$(pkg-config --libs $(PKGS))"; \
	   echo "TEST_LIBS := $$(pkg-config --libs cmocka)"; } > $@.tmp && mv $@.tmp $@

deps:
	@sh .ci/install-deps $(DEB_PKGS)

all: $(LIBUMC) $(BINS)

$(BUILD)/lib/%.o: src/lib/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBUMC): $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	$(Q)ar rcs $@ $^

# Each binary is src/<name>/*.c linked against libumc.a.
# Keep objects: they are not throw-away intermediates.
.SECONDARY:
.SECONDEXPANSION:
$(BINS): $(BUILD)/%: $$(subst .c,.o,$$(subst src/,$(BUILD)/obj/,$$(wildcard src/$$*/*.c))) $(LIBUMC)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/obj/%.o: src/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -c -o $@ $<

$(BUILD)/tests/test-%: $(BUILD)/tests/test-%.o $(LIBUMC)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS) -lm

unit: $(UNIT_BIN)

# Test tools (a man in the middle, ...) link libumc like everything else.
$(BUILD)/tests/tools/%: tests/tools/%.c $(LIBUMC) $(BUILD)/config.mk
	@mkdir -p $(@D)
	@echo "  CC+LD   $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBUMC) $(PKG_LIBS) -lm

tools: $(TOOL_BIN)

unit-run: unit
	@UMC_SRCDIR=$(CURDIR) tests/run-unit "$(if $(SANITIZE),unit+asan+ubsan,unit)" $(BUILD)/tests $(UNIT_BIN)

unit-asan:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SANITIZE=1 unit-run

check: all tools
	@$(MAKE) --no-print-directory unit-run
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory units-check
	@$(MAKE) --no-print-directory integration

# The daemons go to $(PREFIX)/sbin: administration commands (man section 8)
# that root runs by hand too (umcd --check-config), on root's PATH but not
# on every user's. The CLI goes to bin, the interface XML where D-Bus tools
# look for it (dbus-1/interfaces), every man/*.N to its section, and the
# documents the man pages cite (docs/*.md) to share/doc/umc.
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	        $(DESTDIR)$(SYSCONFDIR)/umc $(DESTDIR)$(PREFIX)/lib/systemd/system \
	        $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/share/dbus-1/system.d \
	        $(DESTDIR)$(PREFIX)/share/dbus-1/interfaces \
	        $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	        $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/doc/umc
	install -m 0755 $(BUILD)/umcd $(BUILD)/umc-agent $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(BUILD)/umcctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BUILD)/umc-pack $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 conf/*.conf $(DESTDIR)$(SYSCONFDIR)/umc/
	install -m 0644 systemd/*.service $(DESTDIR)$(PREFIX)/lib/systemd/system/
	install -m 0644 systemd/umc.sysusers.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/umc.conf
	install -m 0644 systemd/io.umc.conf $(DESTDIR)$(PREFIX)/share/dbus-1/system.d/
	install -m 0644 docs/io.umc.Manager1.xml $(DESTDIR)$(PREFIX)/share/dbus-1/interfaces/
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/umc/

# The units as installed: systemd-analyze verify, and umcd's exposure score.
units-check: all
	@tests/systemd/check-units $(BUILD)

# Real processes in network namespaces, a private bus, a man in the middle.
integration: all tools
	@tests/integration/run $(BUILD)

demo: all
	@tests/demo/run-demo

bench: all $(BUILD)/bench/tcp/tcpcopy $(BUILD)/bench/can/project $(BUILD)/bench/can/isotpcopy
	@bench/run $(BUILD)

# Bench programs link libumc like the test tools (bench/can uses its ISO-TP and bit model).
$(BUILD)/bench/%: bench/%.c $(LIBUMC) $(BUILD)/config.mk
	@mkdir -p $(@D)
	@echo "  CC+LD   $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBUMC) $(PKG_LIBS) -lm

# ---- fuzzing (fuzz/README.md) ----
# Each fuzz/fuzz-NAME.c is one target, seeded from fuzz/corpus/NAME and
# fuzz/regressions/NAME. `make fuzz` builds it with clang and libFuzzer;
# `make fuzz-replay` (part of check) builds the same source with gcc, ASan
# and UBSan around fuzz/replay.c and feeds it every committed input.
FUZZ_SRC     := $(wildcard fuzz/fuzz-*.c)
FUZZ_NAMES   := $(FUZZ_SRC:fuzz/fuzz-%.c=%)
FUZZ_SECONDS ?= 60
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_CC      := clang
FUZZ_CFLAGS   = -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -O1 -g -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=all $(WARN) -Iinclude $(PKG_CFLAGS)
FUZZ_LIB_OBJ := $(LIB_SRC:src/lib/%.c=$(FUZZ_DIR)/lib/%.o)
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz-%)
REPLAY_BIN   := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/fuzz-%)
FUZZ_COMMON  := fuzz/common.c fuzz/common.h

# clang and its libFuzzer runtime only for this target.
fuzz-deps:
	@sh .ci/install-deps clang libclang-rt-14-dev

$(FUZZ_DIR)/lib/%.o: src/lib/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	@echo "  CLANG   $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/libumc.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(FUZZ_DIR)/fuzz-%: fuzz/fuzz-%.c $(FUZZ_COMMON) $(FUZZ_DIR)/libumc.a
	@echo "  CLANG   $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ifuzz -o $@ $< fuzz/common.c \
		$(FUZZ_DIR)/libumc.a $(PKG_LIBS) -lm

fuzz-build:
	@$(MAKE) --no-print-directory fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run $(FUZZ_DIR) $(FUZZ_NAMES)

$(BUILD)/fuzz-replay/fuzz-%: fuzz/fuzz-%.c fuzz/replay.c $(FUZZ_COMMON) $(LIBUMC) $(BUILD)/config.mk
	@mkdir -p $(@D)
	@echo "  CC+LD   $@"
	$(Q)$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) $(ALL_LDFLAGS) -Ifuzz -o $@ $< fuzz/common.c \
		fuzz/replay.c $(LIBUMC) $(PKG_LIBS) -lm

# The binary seeds, made with the library (fuzz/seeds.c); commit what changes.
$(BUILD)/fuzz-seeds: fuzz/seeds.c $(LIBUMC) $(BUILD)/config.mk
	@echo "  CC+LD   $@"
	$(Q)$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) $(ALL_LDFLAGS) -o $@ $< $(LIBUMC) $(PKG_LIBS) -lm

fuzz-seeds: $(BUILD)/fuzz-seeds
	@mkdir -p $(FUZZ_NAMES:%=fuzz/corpus/%)
	@$(BUILD)/fuzz-seeds

fuzz-replay-run: $(REPLAY_BIN)
	@fuzz/replay-all $(BUILD)/fuzz-replay $(FUZZ_NAMES)

fuzz-replay:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SANITIZE=1 fuzz-replay-run

clean:
	rm -rf $(BUILD)

help:
	@sed -n '3,13p' Makefile

-include $(LIB_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d) $(UNIT_BIN:=.d) $(wildcard $(BUILD)/obj/*/*.d) $(TOOL_BIN:=.d)
