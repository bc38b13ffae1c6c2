# scratchproof - one Makefile. Switches: SANITIZE=address|undefined, DEBUG=1, CC=clang.
# Targets: all (default), test, demo, bench, fuzz, install / uninstall PREFIX=..., deps, clean.

CC ?= cc
PREFIX ?= /usr/local
PYTHON ?= /usr/bin/python3
# The library's version (hooks/scratchproof.h SP_VERSION) and its ABI number (the SONAME).
VERSION := 0.1.0
SOVERSION := 0
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(PREFIX)/lib/python$(PYVER)/dist-packages
MANDIR ?= $(PREFIX)/share/man

DEB_PKGS := libsodium-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils \
            libjansson-dev libcmocka-dev libopenmpi-dev openmpi-bin python3-numpy python3-torch \
            pkg-config man-db groff-base python3-jsonschema

ifeq ($(SANITIZE),)
BUILD ?= build
SANFLAGS :=
else
BUILD ?= build/san-$(SANITIZE)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
ifeq ($(DEBUG),1)
OPT := -O0 -g3
else
OPT := -O2 -g
endif

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# -ffp-contract=off: the initialiser must be bit-exact (no fused multiply-add).
# -fvisibility=hidden: libscratchproof.so exports only what the installed headers mark SP_API.
BASEFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -ffp-contract=off -fPIC -fvisibility=hidden -pthread $(SANFLAGS)
PKGS := libsodium libprotobuf-c lmdb jansson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
VERIFY_DIRS := verify/chain verify/replay verify/audit verify/report verify/cli
INC := -Iattest -Ihooks $(VERIFY_DIRS:%=-I%) -I$(BUILD)/gen
CFLAGS_ALL = $(BASEFLAGS) $(WARN) $(INC) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lm -pthread $(SANFLAGS) $(LDFLAGS)

GEN_C := $(BUILD)/gen/record.pb-c.c
GEN_H := $(BUILD)/gen/record.pb-c.h
ATTEST_SRC := $(wildcard attest/*.c)
HOOKS_SRC := $(filter-out hooks/mpi.c,$(wildcard hooks/*.c))
# The multi-rank hook (libscratchproof_mpi, SPEC.md 17) and its programs, built when mpicc exists.
MPICC ?= mpicc
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS := $(shell $(MPICC) --showme:link 2>/dev/null)
MPI_BIN := $(if $(MPI_LIBS),$(BUILD)/libscratchproof_mpi.a $(BUILD)/tests/mpi_shards $(BUILD)/tinytrain_mpi)
MPI_SO := $(if $(MPI_LIBS),$(BUILD)/libscratchproof_mpi.so)
MPI_BENCH := $(if $(MPI_LIBS),$(BUILD)/bench/bench_mpi)
VERIFY_SRC := $(filter-out verify/cli/main.c,$(wildcard $(VERIFY_DIRS:%=%/*.c)))
LIB_OBJ := $(ATTEST_SRC:%.c=$(BUILD)/obj/%.o) $(HOOKS_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/record.pb-c.o
VERIFY_OBJ := $(VERIFY_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/replay_%)
ATTACK_SRC := $(filter-out tests/attacks/attack_common.c,$(wildcard tests/attacks/*.c))
ATTACK_BIN := $(ATTACK_SRC:tests/attacks/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(filter-out bench/bench_mpi.c,$(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test demo bench fuzz install uninstall deps check-deps clean
.SECONDARY:

all: $(BUILD)/libscratchproof.a $(BUILD)/libscratchproof.so $(BUILD)/scratchproof $(BUILD)/tinytrain \
     $(ATTACK_BIN) $(MPI_BIN) $(MPI_SO)

$(GEN_C) $(GEN_H): proto/record.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/record.proto

# Generated code is compiled without our strict warning set.
$(BUILD)/obj/gen/record.pb-c.o: $(GEN_C) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(INC) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H) $(wildcard attest/*.h hooks/*.h verify/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libscratchproof.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library: libscratchproof.so.$(VERSION) with SONAME libscratchproof.so.$(SOVERSION),
# and the two symlinks; only SP_API functions exported (tests/cli/pkg.sh checks nm -D).
$(BUILD)/libscratchproof.so.$(VERSION): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libscratchproof.so.$(SOVERSION) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/libscratchproof.so.$(SOVERSION): $(BUILD)/libscratchproof.so.$(VERSION)
	ln -sf $(notdir $<) $@
$(BUILD)/libscratchproof.so: $(BUILD)/libscratchproof.so.$(SOVERSION)
	ln -sf $(notdir $<) $@

# The MPI hook as a shared library: its own hidden copy of the base library (it uses
# run_internal.h and attest/ internals), exporting only sp_mpi_* (hooks/libscratchproof_mpi.map).
$(BUILD)/libscratchproof_mpi.so.$(VERSION): $(BUILD)/obj/hooks/mpi.o $(LIB_OBJ) hooks/libscratchproof_mpi.map
	$(CC) -shared -Wl,-soname,libscratchproof_mpi.so.$(SOVERSION) -Wl,--version-script=hooks/libscratchproof_mpi.map \
	  -o $@ $(BUILD)/obj/hooks/mpi.o $(LIB_OBJ) $(LDLIBS_ALL) $(MPI_LIBS)
$(BUILD)/libscratchproof_mpi.so.$(SOVERSION): $(BUILD)/libscratchproof_mpi.so.$(VERSION)
	ln -sf $(notdir $<) $@
$(BUILD)/libscratchproof_mpi.so: $(BUILD)/libscratchproof_mpi.so.$(SOVERSION)
	ln -sf $(notdir $<) $@

$(BUILD)/obj/hooks/mpi.o: hooks/mpi.c hooks/scratchproof_mpi.h $(GEN_H) $(wildcard attest/*.h hooks/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MPI_CFLAGS) -c $< -o $@

$(BUILD)/libscratchproof_mpi.a: $(BUILD)/obj/hooks/mpi.o
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/tests/mpi/%.o: tests/mpi/%.c hooks/scratchproof_mpi.h $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MPI_CFLAGS) -c $< -o $@

$(BUILD)/tests/mpi_%: $(BUILD)/obj/tests/mpi/mpi_%.o $(BUILD)/libscratchproof_mpi.a $(BUILD)/libscratchproof.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL) $(MPI_LIBS)

$(BUILD)/obj/bench/bench_mpi.o: bench/bench_mpi.c hooks/scratchproof_mpi.h $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MPI_CFLAGS) -c $< -o $@

$(BUILD)/bench/bench_mpi: $(BUILD)/obj/bench/bench_mpi.o $(BUILD)/libscratchproof_mpi.a $(BUILD)/libscratchproof.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL) $(MPI_LIBS)

$(BUILD)/libspverify.a: $(VERIFY_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/scratchproof: $(BUILD)/obj/verify/cli/main.o $(BUILD)/libspverify.a $(BUILD)/libscratchproof.a
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# tinytrain (SPEC.md 11) and the attack generators of tests/attacks/, which share its model.
TT_OBJ := $(BUILD)/obj/examples/tinytrain.o $(BUILD)/obj/examples/tinytrain_args.o \
          $(BUILD)/obj/examples/tinytrain_model.o $(BUILD)/obj/examples/tinytrain_io.o
$(TT_OBJ) $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/attacks/*.c)): \
    $(wildcard examples/*.h tests/attacks/*.h)
$(BUILD)/obj/tests/attacks/%.o: CFLAGS += -Iexamples
$(BUILD)/tinytrain: $(TT_OBJ) $(BUILD)/libscratchproof.a
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/obj/examples/tinytrain_mpi.o: examples/tinytrain_mpi.c hooks/scratchproof_mpi.h $(GEN_H) $(wildcard examples/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MPI_CFLAGS) -c $< -o $@

$(BUILD)/tinytrain_mpi: $(BUILD)/obj/examples/tinytrain_mpi.o $(BUILD)/obj/examples/tinytrain_args.o \
                        $(BUILD)/obj/examples/tinytrain_model.o $(BUILD)/obj/examples/tinytrain_io.o \
                        $(BUILD)/libscratchproof_mpi.a $(BUILD)/libscratchproof.a
	$(CC) -o $@ $^ $(LDLIBS_ALL) $(MPI_LIBS)

$(ATTACK_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/attacks/%.o $(BUILD)/obj/tests/attacks/attack_common.o \
                  $(BUILD)/obj/examples/tinytrain_model.o $(BUILD)/obj/examples/tinytrain_io.o \
                  $(BUILD)/libscratchproof.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/test_%.o $(BUILD)/libspverify.a $(BUILD)/libscratchproof.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL) $(shell pkg-config --libs cmocka 2>/dev/null)

$(BUILD)/tests/replay_%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o $(BUILD)/libspverify.a $(BUILD)/libscratchproof.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Every single-byte flip of a ledger or bundle through the child reader (tests/cli/damage.sh).
$(BUILD)/tests/damage_flip: $(BUILD)/obj/tests/damage_flip.o $(BUILD)/libspverify.a $(BUILD)/libscratchproof.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libspverify.a $(BUILD)/libscratchproof.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Installs missing Debian packages when root; otherwise prints the exact line.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages; run as root:"; echo "  apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN) $(FUZZ_REPLAY) $(BUILD)/tests/damage_flip
	@BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run-all.sh $(TEST_BIN) $(FUZZ_REPLAY)

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) examples/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN) $(MPI_BENCH)
	@BUILD=$(BUILD) bench/run.sh

# Coverage-guided fuzzing with libFuzzer (clang): make fuzz FUZZ=safetensors SECONDS=60
# (or RUNS=N executions). FUZZ=bundle: the bundle parser; FUZZ=ledger: whole-ledger verify
# through the child reader, seeded with tests/corpus/damaged_ledgers too (SPEC.md 14.4).
FUZZ ?= safetensors
SECONDS ?= 60
RUNS ?=
FUZZ_SEEDS_ledger := tests/corpus/damaged_ledgers
fuzz:
	@$(MAKE) --no-print-directory CC=clang SANITIZE=fuzzer,address BUILD=build/fuzz build/fuzz/libscratchproof.a build/fuzz/libspverify.a
	clang $(BASEFLAGS:-fsanitize=%=) -fsanitize=fuzzer,address $(INC) -Ibuild/fuzz/gen $(PKG_CFLAGS) \
	  tests/fuzz/fuzz_$(FUZZ).c build/fuzz/libspverify.a build/fuzz/libscratchproof.a $(PKG_LIBS) -lm -o build/fuzz/fuzz_$(FUZZ)
	@mkdir -p build/fuzz/corpus_$(FUZZ)
	build/fuzz/fuzz_$(FUZZ) $(if $(RUNS),-runs=$(RUNS),-max_total_time=$(SECONDS)) build/fuzz/corpus_$(FUZZ) \
	  tests/corpus/$(FUZZ) $(FUZZ_SEEDS_$(FUZZ))

# Installs the program, the libraries, the public headers as <scratchproof/...>,
# scratchproof.pc, the manual pages and the Python package; uninstall removes exactly those.
PUB_H := hooks/scratchproof.h attest/sp_base.h attest/safetensors.h attest/sp_digest.h attest/sp_escape.h
PY_FILES := $(wildcard hooks/python/scratchproof/*.py hooks/python/scratchproof/*.pyi) hooks/python/scratchproof/py.typed
MAN1 := docs/man/scratchproof.1
MAN3 := docs/man/scratchproof.3
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/scratchproof \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(PYTHONDIR)/scratchproof
	install -m 755 $(BUILD)/scratchproof $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libscratchproof.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libscratchproof.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libscratchproof.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libscratchproof.so.$(SOVERSION)
	ln -sf libscratchproof.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libscratchproof.so
	install -m 644 $(PUB_H) $(DESTDIR)$(PREFIX)/include/scratchproof/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' scratchproof.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/scratchproof.pc
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(PY_FILES) $(DESTDIR)$(PYTHONDIR)/scratchproof/
	$(if $(MPI_SO),install -m 755 $(BUILD)/libscratchproof_mpi.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/)
	$(if $(MPI_SO),ln -sf libscratchproof_mpi.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libscratchproof_mpi.so.$(SOVERSION))
	$(if $(MPI_SO),ln -sf libscratchproof_mpi.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libscratchproof_mpi.so)
	$(if $(MPI_SO),install -m 644 hooks/scratchproof_mpi.h $(DESTDIR)$(PREFIX)/include/scratchproof/)
	$(if $(MPI_SO),sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' scratchproof-mpi.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/scratchproof-mpi.pc)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/scratchproof $(DESTDIR)$(PREFIX)/lib/libscratchproof.a \
	  $(DESTDIR)$(PREFIX)/lib/libscratchproof.so $(DESTDIR)$(PREFIX)/lib/libscratchproof.so.$(SOVERSION) \
	  $(DESTDIR)$(PREFIX)/lib/libscratchproof.so.$(VERSION) \
	  $(DESTDIR)$(PREFIX)/lib/libscratchproof_mpi.so $(DESTDIR)$(PREFIX)/lib/libscratchproof_mpi.so.$(SOVERSION) \
	  $(DESTDIR)$(PREFIX)/lib/libscratchproof_mpi.so.$(VERSION) \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/scratchproof.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/scratchproof-mpi.pc \
	  $(DESTDIR)$(MANDIR)/man1/scratchproof.1 $(DESTDIR)$(MANDIR)/man3/scratchproof.3
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/include/scratchproof/,$(notdir $(PUB_H)) scratchproof_mpi.h)
	rm -f $(addprefix $(DESTDIR)$(PYTHONDIR)/scratchproof/,$(notdir $(PY_FILES)))
	rm -rf $(DESTDIR)$(PYTHONDIR)/scratchproof/__pycache__
	-rmdir $(DESTDIR)$(PREFIX)/include/scratchproof $(DESTDIR)$(PYTHONDIR)/scratchproof 2>/dev/null

clean:
	rm -rf build
