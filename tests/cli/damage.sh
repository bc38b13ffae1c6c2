#!/usr/bin/env bash
# Bundles and damaged ledgers (SPEC.md 14): export and verify a bundle, read it with an
# independent Python parser written from SPEC 14.1, then damage: every single-byte flip
# (XOR 0x01 and XOR 0xff) of a bundle and of a small compacted ledger through the library
# with the child reader (build/tests/damage_flip), a sample of the uncompacted ledger through
# the command line, the crash corpus of the old in-process reader, and a lost meta page.
# Never a crash (exit >= 128), never a changed record accepted. Env: BUILD, PYTHON.
set -u
B=${BUILD:-build}
sp=$B/scratchproof tt=$B/tinytrain flip=$B/tests/damage_flip PY=${PYTHON:-/usr/bin/python3}
t=$(mktemp -d /tmp/sp-damage.XXXXXX)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
expect() {  # expect CODE NAME [GREP] -- CMD...
  local want=$1 name=$2 pat=""; shift 2
  if [ "$1" != "--" ]; then pat=$1; shift; fi
  shift
  "$@" >"$t/out" 2>"$t/err"; local got=$?
  if [ "$got" != "$want" ]; then
    bad "$name: exit $got, wanted $want: $(head -c 300 "$t/err" "$t/out" | tr '\n' ' ')"; return
  fi
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$t/out" "$t/err"; then
    bad "$name: output lacks '$pat': $(head -c 300 "$t/out" "$t/err" | tr '\n' ' ')"; return
  fi
  if [ "$want" = 2 ] && [ "$(wc -l <"$t/err")" != 1 ]; then
    bad "$name: wanted one line on stderr, got $(wc -l <"$t/err")"; return
  fi
  ok "$name"
}

"$sp" keygen -o "$t/k" >/dev/null || { bad keygen; exit 1; }
"$tt" --ledger "$t/run.ledger" --key "$t/k.key" --seed 5 --steps 4 --every 2 --out "$t/ck" --quiet \
  || { bad tinytrain; exit 1; }

# --- export and bundles ---
expect 0 "export" "exported 4 records" -- "$sp" export "$t/run.ledger" -o "$t/run.bundle"
expect 0 "a bundle verifies like its ledger" "VERIFIED" -- "$sp" verify "$t/run.bundle" --pubkey "$t/k.pub" \
  --checkpoints "$t/ck" --model "$t/ck/final.safetensors"
expect 0 "log reads a bundle" "final" -- "$sp" log "$t/run.bundle" --pubkey "$t/k.pub"
"$sp" log "$t/run.ledger" --json >"$t/l1.json" && "$sp" log "$t/run.bundle" --json >"$t/l2.json"
"$PY" -c 'import json,sys; a,b=(json.load(open(p))["records"] for p in sys.argv[1:]); assert a==b and len(a)==4' \
  "$t/l1.json" "$t/l2.json" && ok "log: a bundle lists the ledger's records" || bad "log of a bundle differs"
expect 2 "export never replaces a file" "exists" -- "$sp" export "$t/run.ledger" -o "$t/run.bundle"
expect 2 "export needs -o" -- "$sp" export "$t/run.ledger"
expect 0 "export of a bundle" -- "$sp" export "$t/run.bundle" -o "$t/again.bundle"
cmp -s "$t/run.bundle" "$t/again.bundle" && ok "re-export is byte-identical" || bad "re-export differs"
printf 'example.org/scratchproof/run\n4\nAAAA\n\n— example.org/scratchproof/run AAAA\n' >"$t/head.txt"
expect 0 "export --head" "with a head" -- "$sp" export "$t/run.ledger" -o "$t/head.bundle" --head "$t/head.txt"
expect 0 "a bundle with a head verifies" "VERIFIED" -- "$sp" verify "$t/head.bundle" --pubkey "$t/k.pub"
head -c 70000 /dev/zero >"$t/bighead"
expect 2 "export --head over 64 KiB" "64 KiB" -- "$sp" export "$t/run.ledger" -o "$t/x.bundle" --head "$t/bighead"
[ -e "$t/x.bundle" ] && bad "a refused export left a file" || ok "a refused export leaves nothing"
ls "$t"/*.tmp.* >/dev/null 2>&1 && bad "export left a temporary file" || ok "no temporary files left"

# an independent reader, written from SPEC.md 14.1, against LMDB's own dump of the records
mdb_dump -n -s records "$t/run.ledger" >"$t/dump" 2>/dev/null || bad "mdb_dump"
"$PY" - "$t/head.bundle" "$t/dump" "$t/head.txt" <<'PYEOF' && ok "SPEC 14.1 reader agrees with mdb_dump" || bad "SPEC 14.1 reader"
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89SPB\r\n\x1a\n"
version, flags, count = struct.unpack_from("<IIQ", b, 8)
assert version == 1 and flags == 1, (version, flags)
off, entries = 24, []
for _ in range(count):
    (kl,) = struct.unpack_from("<H", b, off); off += 2
    key = b[off:off + kl]; off += kl
    (vl,) = struct.unpack_from("<I", b, off); off += 4
    entries.append((key, b[off:off + vl])); off += vl
(hl,) = struct.unpack_from("<I", b, off); off += 4
assert b[off:off + hl] == open(sys.argv[3], "rb").read(); off += hl
assert off == len(b), "trailing bytes"
lines = open(sys.argv[2]).read().split("\n")
data = [l[1:] for l in lines[lines.index("HEADER=END") + 1:] if l.startswith(" ")]
dumped = [(bytes.fromhex(data[i]), bytes.fromhex(data[i + 1])) for i in range(0, len(data), 2)]
assert entries == dumped, "bundle entries differ from the ledger's records"
PYEOF

# --- damage: every byte of the bundle and of a compacted ledger, through the library ---
mdb_copy -n -c "$t/run.ledger" "$t/compact.ledger" 2>/dev/null || bad "mdb_copy -c"
# Under a sanitizer every fork copies a large process: every 13th byte of the ledger there.
export ASAN_OPTIONS="quarantine_size_mb=4:${ASAN_OPTIONS:-}"
case "$B" in *san-*) lstride=13 ;; *) lstride=1 ;; esac
for f in "$t/run.bundle" "$t/compact.ledger"; do
  s=1; [ "$f" = "$t/compact.ledger" ] && s=$lstride
  if "$flip" "$f" "$t/k.pub" $s 2 >"$t/flip.out" 2>&1; then ok "every flip (stride $s) of $(basename "$f"): $(tail -n 1 "$t/flip.out" | sed 's/^[^:]*: //')"
  else bad "flips of $(basename "$f"): $(tail -n 3 "$t/flip.out" | tr '\n' ' ')"; fi
done
# the uncompacted ledger as written by the hook (mostly free pages): every 31st byte
if "$flip" "$t/run.ledger" "$t/k.pub" 31 2 >"$t/flip.out" 2>&1; then ok "every 31st byte of run.ledger: $(tail -n 1 "$t/flip.out" | sed 's/^[^:]*: //')"
else bad "flips of run.ledger: $(tail -n 3 "$t/flip.out" | tr '\n' ' ')"; fi

# --- lost and torn writes: each page of a commit lost, or only its first 1..7 sectors written ---
"$flip" --lost-run "$t/lw" || bad "damage_flip --lost-run"
for pair in "lw.0 lw.1" "lw.1 lw.2"; do
  set -- $pair
  if "$flip" --lost "$t/$1" "$t/$2" "$t/lw.pub" >"$t/flip.out" 2>&1; then ok "lost and torn writes $1 -> $2: $(tail -n 1 "$t/flip.out" | sed 's/^[^:]*: //')"
  else bad "lost writes $1 -> $2: $(tail -n 3 "$t/flip.out" | tr '\n' ' ')"; fi
done

# --- through the command line: a sample of flips; exit 0 only if the records are unchanged ---
size=$(stat -c %s "$t/run.ledger") crashed=0 accepted=0 n=0
for ((off = 3; off < size; off += 2039)); do
  for x in 1 255; do
    "$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[2])]^=int(sys.argv[3]); open(sys.argv[4],"wb").write(b)' \
      "$t/run.ledger" $off $x "$t/m.ledger"
    rm -f "$t/m.ledger-lock" "$t/m.bundle"
    "$sp" verify "$t/m.ledger" --pubkey "$t/k.pub" --quiet >/dev/null 2>&1; rc=$?
    n=$((n + 1))
    [ $rc -ge 3 ] && { crashed=$((crashed + 1)); echo "  byte $off ^ $x: exit $rc"; }
    if [ $rc = 0 ]; then
      "$sp" export "$t/m.ledger" -o "$t/m.bundle" >/dev/null 2>&1 && cmp -s "$t/m.bundle" "$t/run.bundle" \
        || { accepted=$((accepted + 1)); echo "  byte $off ^ $x: verified with changed records"; }
    fi
  done
done
[ $crashed = 0 ] && [ $accepted = 0 ] && ok "command line: $n flips, none crashed, none accepted a change" \
  || bad "command line: $crashed crashed, $accepted accepted a change, of $n"

# --- the old in-process reader's crash corpus: each is a finding (1) or unreadable (2) ---
cbad=0 cn=0
for f in tests/corpus/damaged_ledgers/*.ledger; do
  cp "$f" "$t/c.ledger"; rm -f "$t/c.ledger-lock"
  "$sp" verify "$t/c.ledger" --pubkey tests/corpus/damaged_ledgers.pub --quiet >"$t/out" 2>&1; rc=$?
  cn=$((cn + 1))
  if [ $rc != 1 ] && [ $rc != 2 ]; then cbad=$((cbad + 1)); echo "  $(basename "$f"): exit $rc"; fi
done
[ $cn -gt 0 ] && [ $cbad = 0 ] && ok "crash corpus: all $cn damaged ledgers exit 1 or 2" || bad "crash corpus: $cbad of $cn"
cp tests/corpus/damaged_ledgers/crash-01-sig11.ledger "$t/c.ledger"; rm -f "$t/c.ledger-lock"
expect 1 "a crashing ledger is a finding named ledger" "ledger damaged: the reader died of SIG" -- \
  "$sp" verify "$t/c.ledger" --pubkey tests/corpus/damaged_ledgers.pub --json

# --- a lost newest meta page: rolled back, named ---
"$PY" - "$t/run.ledger" "$t/rb.ledger" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
t0, t1 = struct.unpack_from("<Q", b, 144)[0], struct.unpack_from("<Q", b, 4096 + 144)[0]
b[(0 if t0 > t1 else 1) * 4096 + 16] ^= 0xff      # the newest meta page's magic
open(sys.argv[2], "wb").write(b)
PYEOF
expect 1 "a lost newest meta page is a rollback finding" "rolled back to transaction" -- \
  "$sp" verify "$t/rb.ledger" --pubkey "$t/k.pub"
expect 1 "log names the damage too" "rolled back" -- "$sp" log "$t/rb.ledger"
expect 1 "export refuses a damaged ledger" "no bundle written" -- "$sp" export "$t/rb.ledger" -o "$t/rb.bundle"
[ -e "$t/rb.bundle" ] && bad "export wrote a damaged ledger" || ok "nothing exported from a damaged ledger"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
