# scratchproof - one Makefile. Switches: SANITIZE=address|undefined, DEBUG=1, CC=clang.
# Targets: all (default), test, demo, bench, fuzz, install PREFIX=..., deps, clean.

CC ?= cc
PREFIX ?= /usr/local
PYTHON ?= /usr/bin/python3

DEB_PKGS := libsodium-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils \
            libjansson-dev libcmocka-dev libopenmpi-dev openmpi-bin python3-numpy python3-torch \
            pkg-config

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
BASEFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -ffp-contract=off -fPIC -pthread $(SANFLAGS)
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

.PHONY: all test demo bench fuzz install deps check-deps clean
.SECONDARY:

all: $(BUILD)/libscratchproof.a $(BUILD)/libscratchproof.so $(BUILD)/scratchproof $(BUILD)/tinytrain \
     $(ATTACK_BIN) $(MPI_BIN)

$(GEN_C) $(GEN_H): proto/record.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen proto/record.proto

# Generated code is compiled without our strict warning set.
$(BUILD)/obj/gen/record.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(INC) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H) $(wildcard attest/*.h hooks/*.h verify/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libscratchproof.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libscratchproof.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS_ALL)

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

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/scratchproof
	install -m 755 $(BUILD)/scratchproof $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libscratchproof.a $(BUILD)/libscratchproof.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 hooks/scratchproof.h attest/sp_base.h attest/safetensors.h $(DESTDIR)$(PREFIX)/include/scratchproof/
	sed -e 's|@PREFIX@|$(PREFIX)|' scratchproof.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/scratchproof.pc

clean:
	rm -rf build
