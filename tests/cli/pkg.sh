#!/usr/bin/env bash
# Packaging (issue 11): libscratchproof.so.0 has its SONAME and symlinks; it exports exactly
# the functions the installed headers declare (nm -D against the preprocessed headers), every
# one documented in scratchproof(3), and every C function the Python binding calls;
# libscratchproof_mpi.so.0 exports only sp_mpi_*; `make install` into a temporary PREFIX
# lets an outside program build with `pkg-config --cflags --libs scratchproof` alone and
# record a run that verifies; the man pages open with `man`; the Python package imports
# from its installed place and builds as a wheel offline (pyproject.toml, py.typed); the
# versions agree; `make uninstall` removes every installed file. Env: BUILD.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${BUILD:-build}
case $B in /*) BA=$B ;; *) BA=$PWD/$B ;; esac
PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-pkg.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
VERSION=$(sed -n 's/^#define SP_VERSION "\([0-9.]*\)".*/\1/p' hooks/scratchproof.h)
SO=$BA/libscratchproof.so.$VERSION
SAN="" MAKESAN=""   # a sanitizer build: the outside programs need the same runtime
# (told by the library itself, whatever BUILD is called: the runtime's entry points it imports)
if nm -D "$SO" 2>/dev/null | grep -q ' U __asan_init'; then SAN=-fsanitize=address MAKESAN=SANITIZE=address
elif nm -D "$SO" 2>/dev/null | grep -q ' U __ubsan_handle_'; then SAN=-fsanitize=undefined MAKESAN=SANITIZE=undefined; fi

# --- the shared library: SONAME, symlinks ---
[ -n "$VERSION" ] && [ -f "$SO" ] && ok "libscratchproof.so.$VERSION built" || bad "no $SO"
readelf -d "$SO" | grep -q 'SONAME.*\[libscratchproof\.so\.0\]' && ok "readelf -d shows SONAME libscratchproof.so.0" \
  || bad "SONAME: $(readelf -d "$SO" | grep SONAME)"
[ "$(readlink "$BA/libscratchproof.so")" = libscratchproof.so.0 ] && \
  [ "$(readlink "$BA/libscratchproof.so.0")" = "libscratchproof.so.$VERSION" ] \
  && ok "symlinks .so -> .so.0 -> .so.$VERSION" || bad "symlinks: $(ls -l "$BA"/libscratchproof.so*)"

# --- exports = the functions the public headers declare ---
# (__odr_asan.* are AddressSanitizer's one-definition-rule markers, not our symbols)
nm -D --defined-only "$SO" | awk '$2 ~ /^[TtWVDdBbRr]$/ {print $3}' | grep -v '^__odr_asan' | sort >"$t/exported"
cat >"$t/all.c" <<'C'
#include "scratchproof.h"
C
${CC:-cc} -E -P -Iattest -Ihooks "$t/all.c" >"$t/pre.i" 2>"$t/cc.err" || bad "preprocessing the headers: $(cat "$t/cc.err")"
"$PY" - "$t/pre.i" "$t/declared" <<'PY' || bad "a public function lacks SP_API"
import re, sys
text = open(sys.argv[1]).read()
names, missing = set(), []
for stmt in re.split(r"[;{}]", text):
    for m in re.finditer(r"\b(sp_[a-z0-9_]+)\s*\(", stmt):
        if "typedef" in stmt:
            continue
        names.add(m.group(1))
        if 'visibility("default")' not in stmt:
            missing.append(m.group(1))
open(sys.argv[2], "w").write("".join(n + "\n" for n in sorted(names)))
if missing:
    print("declared without SP_API:", " ".join(sorted(set(missing))))
    sys.exit(1)
PY
if [ -s "$t/declared" ] && cmp -s "$t/exported" "$t/declared"; then
  ok "nm -D lists exactly the $(wc -l <"$t/declared") functions the public headers declare"
else
  bad "exports differ from the headers: $(diff "$t/declared" "$t/exported" | grep '^[<>]' | tr '\n' ' ')"
fi
nm -D --defined-only "$SO" | grep -qiE ' (record__|sp__|sp_ledger_|sp_key_|_fail_after|sp_test)' \
  && bad "internal or test-hook symbols exported" || ok "no internal or test-hook symbol exported"
undoc=$(while read -r s; do grep -q "\\b$s\\b" docs/man/scratchproof.3 || echo "$s"; done <"$t/exported")
[ -z "$undoc" ] && ok "every exported function is in scratchproof(3)" || bad "not in scratchproof(3): $undoc"
# every C symbol the Python binding declares with ctypes
grep -ho '_decl("sp_[a-z0-9_]*"' hooks/python/scratchproof/*.py | sed 's/_decl("//; s/"//' | sort -u >"$t/pyuses"
missing=$(comm -23 "$t/pyuses" "$t/exported")
[ -s "$t/pyuses" ] && [ -z "$missing" ] && ok "every function the Python binding uses is exported ($(wc -l <"$t/pyuses"))" \
  || bad "the binding uses unexported: $missing"

# --- the MPI hook ---
MSO=$BA/libscratchproof_mpi.so.$VERSION
if [ -f "$MSO" ]; then
  readelf -d "$MSO" | grep -q 'SONAME.*\[libscratchproof_mpi\.so\.0\]' && ok "MPI library SONAME libscratchproof_mpi.so.0" || bad "MPI SONAME"
  others=$(nm -D --defined-only "$MSO" | awk '{print $3}' | grep -v '^sp_mpi_')
  [ -z "$others" ] && ok "libscratchproof_mpi.so exports only sp_mpi_*" || bad "MPI library exports: $others"
else
  echo "(no MPI library: mpicc missing)"
fi

# --- make install into a temporary prefix ---
P=$t/prefix
if make --no-print-directory -s install $MAKESAN BUILD="$B" PREFIX="$P" >"$t/install.log" 2>&1; then
  ok "make install PREFIX=$P"
else
  bad "make install: $(tail -5 "$t/install.log" | tr '\n' ' ')"
fi
[ -L "$P/lib/libscratchproof.so" ] && [ -L "$P/lib/libscratchproof.so.0" ] && [ -f "$P/lib/libscratchproof.so.$VERSION" ] \
  && ok "installed .so, .so.0 and .so.$VERSION" || bad "installed libraries: $(ls -l "$P/lib" | tr '\n' ' ')"
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
pc_ver=$(pkg-config --modversion scratchproof 2>&1)
[ "$pc_ver" = "$VERSION" ] && ok "pkg-config --modversion $pc_ver" || bad "pkg-config: $pc_ver"
cat >"$t/prog.c" <<'C'
/* An outside trainer: only the installed header and pkg-config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <scratchproof/scratchproof.h>

enum { V = 16, C = 8 };
static float params[V * C + C + C];   /* llm.c style: every parameter in one buffer */

int main(int argc, char **argv)
{
    if (argc != 4) return 2;
    char err[SP_ERRMSG_MAX] = "";
    sp_tensor_spec spec[] = {{"wte", 2, {V, C}}, {"ln.w", 1, {C}}, {"ln.b", 1, {C}}};
    sp_tensor t[3];
    int rc = sp_tensor_table(t, spec, 3, SP_DTYPE_F32, params, sizeof params, err);
    if (rc != SP_OK) { fprintf(stderr, "table: %s\n", err); return 1; }
    sp_init_scheme s[3] = {{SP_INIT_NORMAL, {0, 0.02, 0, 0}}, {SP_INIT_CONSTANT, {1, 0, 0, 0}},
                           {SP_INIT_ZEROS, {0, 0, 0, 0}}};
    sp_record_tensor rt[3];
    for (int i = 0; i < 3; i++) {
        if (sp_init_check(&s[i]) != SP_OK) return 1;
        rc = sp_init_fill((void *)t[i].data, SP_DTYPE_F32, t[i].name, 7, &s[i], 0,
                          t[i].nbytes / sizeof(float));
        if (rc != SP_OK) { fprintf(stderr, "fill: %s\n", sp_strerror(rc)); return 1; }
        rt[i].t = t[i];
        rt[i].init = s[i];
    }
    sp_run *run;
    sp_run_options o = {.ledger_path = argv[1], .key_path = argv[2], .seed = 7,
                        .model_name = "outside", .threads = 1, .err = err};
    if ((rc = sp_run_open(&run, &o)) != SP_OK) { fprintf(stderr, "open: %s\n", err); return 1; }
    uint8_t d[SP_DIGEST_BYTES];
    if (sp_run_genesis(run, rt, 3) != SP_OK || sp_tensor_digest(d, &t[0], 2) != SP_OK ||
        sp_hash_tagged(d, "scratchproof/test", "x", 1) != SP_OK ||
        sp_run_commit_batch(run, 1, "batch", 5) != SP_OK) {
        fprintf(stderr, "genesis: %s\n", sp_run_errmsg(run)); return 1;
    }
    params[3] += 0.5f;    /* one "training step" */
    sp_checkpoint_info ci = {.step = 1, .loss = 2.0};
    if (sp_run_checkpoint(run, &ci, t, 3) != SP_OK || sp_run_final(run, 1, t, 3) != SP_OK) {
        fprintf(stderr, "checkpoint: %s\n", sp_run_errmsg(run)); return 1;
    }
    sp_run_close(run);
    if ((rc = sp_st_write_err(argv[3], t, 3, NULL, 0, err)) != SP_OK) {
        fprintf(stderr, "write: %s\n", err); return 1;
    }
    char bad[600];
    snprintf(bad, sizeof bad, "%s.missing/dir/x.safetensors", argv[3]);
    if (sp_st_write_err(bad, t, 3, NULL, 0, err) == SP_OK || strstr(err, "x.safetensors.tmp") == NULL) {
        fprintf(stderr, "sp_st_write_err said '%s'\n", err); return 1;
    }
    printf("ok %s\n", err);
    return 0;
}
C
flags=$(pkg-config --cflags --libs scratchproof)
if ${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic $SAN "$t/prog.c" -o "$t/prog" $flags 2>"$t/cc.err"; then
  ok "an outside program builds with pkg-config alone ($flags)"
else
  bad "outside build: $(head -c 600 "$t/cc.err")"
fi
LD_LIBRARY_PATH="$P/lib" ldd "$t/prog" 2>/dev/null | grep -q "libscratchproof.so.0 => $P/lib/libscratchproof.so.0" \
  && ok "the program loads the installed libscratchproof.so.0" || bad "ldd: $(LD_LIBRARY_PATH="$P/lib" ldd "$t/prog" | grep scratch)"
"$P/bin/scratchproof" keygen -o "$t/k" >/dev/null 2>&1 || bad "installed keygen"
if LD_LIBRARY_PATH="$P/lib" "$t/prog" "$t/run.ledger" "$t/k.key" "$t/final.safetensors" >"$t/prog.out" 2>&1 \
   && grep -q 'No such file or directory' "$t/prog.out"; then
  ok "the program records a run; sp_st_write_err names the file"
else
  bad "outside program: $(cat "$t/prog.out")"
fi
"$P/bin/scratchproof" verify "$t/run.ledger" --pubkey "$t/k.pub" --model "$t/final.safetensors" >"$t/v.out" 2>&1 \
  && grep -q '^VERIFIED' "$t/v.out" && ok "its ledger verifies with the installed scratchproof" \
  || bad "verify: $(tail -c 400 "$t/v.out")"
for h in "$P"/include/scratchproof/*.h; do
  case $h in *_mpi.h) continue ;; esac
  printf '#include <scratchproof/%s>\nint main(void) { return 0; }\n' "$(basename "$h")" >"$t/one.c"
  ${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$P/include" "$t/one.c" 2>"$t/cc.err" \
    || bad "$(basename "$h") alone: $(head -c 300 "$t/cc.err")"
done
ok "each installed header compiles on its own"
if command -v c++ >/dev/null; then
  printf '#include <scratchproof/scratchproof.h>\nint main() { return sp_strerror(SP_OK) == nullptr; }\n' >"$t/cxx.cc"
  c++ -std=c++11 -Wall -Werror $SAN "$t/cxx.cc" -o "$t/cxx" $flags 2>"$t/cc.err" && LD_LIBRARY_PATH="$P/lib" "$t/cxx" \
    && ok "C++ programs link (extern \"C\")" || bad "C++: $(head -c 300 "$t/cc.err")"
fi

# --- an outside MPI job: mpicc with pkg-config scratchproof-mpi, on 2 ranks ---
if [ -f "$MSO" ] && command -v mpirun >/dev/null && command -v mpicc >/dev/null; then
  cat >"$t/mpiprog.c" <<'C'
#include <stdio.h>
#include <scratchproof/scratchproof_mpi.h>
static float w[64];
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    char err[SP_ERRMSG_MAX] = "";
    sp_run_options o = {.ledger_path = argv[1], .key_path = argv[2], .seed = 5, .threads = 1, .err = err};
    sp_mpi_run *run;
    int rc = sp_mpi_open(&run, MPI_COMM_WORLD, &o);
    if (rc != SP_OK) { fprintf(stderr, "open: %s %s\n", sp_strerror(rc), err); MPI_Abort(MPI_COMM_WORLD, 1); }
    int r = sp_mpi_rank(run), n = sp_mpi_size(run);
    sp_init_scheme s = {SP_INIT_UNIFORM, {-0.1, 0.1, 0, 0}};
    uint64_t per = 64 / (uint64_t)n, first = per * (uint64_t)r;
    if (sp_init_fill(w + first, SP_DTYPE_F32, "w", 5, &s, first, per) != SP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    sp_shard sh = {"w", SP_DTYPE_F32, 1, {64}, first * 4, per * 4, w + first};
    rc = sp_mpi_genesis(run, &sh, &s, 1);
    if (rc == SP_OK) rc = sp_mpi_commit_batch(run, 1, &r, sizeof r);   /* each rank's batch of step 1 */
    if (rc == SP_OK) rc = sp_mpi_final(run, 1, &sh, 1);
    if (rc != SP_OK) fprintf(stderr, "rank %d: %s\n", r, sp_mpi_errmsg(run));
    sp_mpi_close(run);
    MPI_Finalize();
    return rc != SP_OK;
}
C
  if mpicc -std=c11 -Wall -Werror $SAN "$t/mpiprog.c" -o "$t/mpiprog" $(pkg-config --cflags --libs scratchproof-mpi) 2>"$t/cc.err"; then
    ok "an outside MPI program builds with pkg-config scratchproof-mpi"
    # (as in mpi.sh: OpenMPI's own allocations outlive MPI_Finalize; leak reports are not ours)
    if OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LD_LIBRARY_PATH="$P/lib" ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 \
       mpirun -np 2 --oversubscribe "$t/mpiprog" "$t/mpi.ledger" "$t/k.key" >"$t/mpi.out" 2>&1 \
       && "$P/bin/scratchproof" verify "$t/mpi.ledger" --pubkey "$t/k.pub" >"$t/mv.out" 2>&1; then
      ok "it records a 2-rank run through libscratchproof_mpi.so.0 that verifies"
    else
      bad "MPI program: $(tail -c 500 "$t/mpi.out" "$t/mv.out" | tr '\n' ' ')"
    fi
  else
    bad "MPI outside build: $(head -c 500 "$t/cc.err")"
  fi
fi

# --- manual pages ---
MANPATH="$P/share/man" man -w scratchproof >/dev/null 2>&1 && ok "man -w finds scratchproof" || bad "man -w scratchproof"
MANPATH="$P/share/man" MANWIDTH=100 man 1 scratchproof 2>/dev/null | grep -q 'record genesis' \
  && ok "man scratchproof shows the commands" || bad "man 1 scratchproof"
MANPATH="$P/share/man" MANWIDTH=100 man 3 scratchproof 2>/dev/null | grep -q 'sp_tensor_table' \
  && ok "man 3 scratchproof shows the C API" || bad "man 3 scratchproof"
warn=$(man --warnings -l docs/man/scratchproof.1 docs/man/scratchproof.3 2>&1 >/dev/null)
[ -z "$warn" ] && ok "man pages format without groff warnings" || bad "groff: $warn"

# --- the Python package ---
PYD=$(ls -d "$P"/lib/python3*/dist-packages/scratchproof 2>/dev/null)
[ -n "$PYD" ] && [ -f "$PYD/py.typed" ] && [ -f "$PYD/run.py" ] && ok "Python package installed with py.typed" \
  || bad "installed Python package: $(ls -R "$P/lib" | head -20 | tr '\n' ' ')"
if [ -z "$SAN" ] && "$PY" -c 'import numpy' 2>/dev/null; then
  got=$(cd "$t" && env -u SCRATCHPROOF_LIB PYTHONPATH="$(dirname "$PYD")" LD_LIBRARY_PATH="$P/lib" \
        "$PY" -c 'import scratchproof as sp; print(sp.__version__, sp.library_path, sp.__file__)' 2>&1)
  case $got in
    "$VERSION "*libscratchproof*" $PYD/__init__.py") ok "installed package imports and loads the installed library ($got)" ;;
    *) bad "installed import: $got" ;;
  esac
fi
py_ver=$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' hooks/python/pyproject.toml 2>&1)
cli_ver=$("$P/bin/scratchproof" --version 2>&1)
[ "$py_ver" = "$VERSION" ] && [ "$cli_ver" = "scratchproof $VERSION" ] && grep -q "^VERSION := $VERSION\$" Makefile \
  && ok "versions agree: header, Makefile, pyproject, pkg-config, --version ($VERSION)" \
  || bad "versions: header $VERSION, pyproject $py_ver, cli '$cli_ver'"
if "$PY" -c 'import setuptools, pip' 2>/dev/null; then   # python3-setuptools, python3-pip: optional
  cp -r hooks/python "$t/pysrc" && rm -rf "$t/pysrc/scratchproof/__pycache__"
  if (cd "$t" && "$PY" -m pip wheel --no-deps --no-build-isolation --no-index -w "$t/wheel" "$t/pysrc") >"$t/pip.log" 2>&1; then
    whl=$(ls "$t"/wheel/scratchproof-"$VERSION"-*.whl 2>/dev/null)
    [ -n "$whl" ] && "$PY" -c 'import zipfile,sys; n=zipfile.ZipFile(sys.argv[1]).namelist(); assert "scratchproof/py.typed" in n and "scratchproof/run.py" in n, n' "$whl" \
      && ok "pyproject.toml builds a wheel offline, with py.typed" || bad "wheel content: $whl"
  else
    bad "pip wheel: $(tail -5 "$t/pip.log" | tr '\n' ' ')"
  fi
fi

# --- uninstall ---
make --no-print-directory -s uninstall $MAKESAN BUILD="$B" PREFIX="$P" >"$t/un.log" 2>&1 || bad "make uninstall: $(cat "$t/un.log")"
left=$(find "$P" -type f -o -type l)
[ -z "$left" ] && ok "make uninstall removes every installed file" || bad "left after uninstall: $left"

echo "pkg.sh: $pass passed, $fail failed"
[ "$fail" = 0 ]
