#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR -- show the mmf CLI and the examples at work on
# data generated in a temp dir, checking every result against a number
# known in advance. Exits non-zero if any step gives a wrong result.
# Called by `make demo` (BUILD_DIR = build).
set -uo pipefail

BUILD=${1:?usage: scripts/demo.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 2
SRC=$(cd "$(dirname "$0")/.." && pwd) || exit 2
MMF=$BUILD/tools/mmf
FILEREV=$BUILD/examples/filerev
COUNT0S=$BUILD/examples/count0s
EX=$BUILD/examples
for exe in "$MMF" "$FILEREV" "$COUNT0S" "$EX/mmfshare" "$EX/appinst" "$EX/linkedlist"; do
  [ -x "$exe" ] || { echo "demo: $exe is missing: build first (make build)" >&2; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mmf-demo-XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 2

failures=0
bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' off=$'\e[0m'
[ -t 1 ] || { bold=; green=; red=; off=; }

step() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
# Show a command on the terminal (fd 3, even inside $(...)), then run it.
exec 3>&1
# (arguments with spaces or shell characters are shown quoted, so that a
# shown line can be pasted)
say() {
  local a line=
  for a in "$@"; do
    case $a in
      *[!A-Za-z0-9_./=:,+-]* | '') a="'${a//\'/\'\\\'\'}'" ;;
    esac
    line+="${line:+ }$a"
  done
  printf '$ %s\n' "$line" | sed "s#$BUILD/tools/##; s#$BUILD/examples/#./#" >&3
}
show() { say "$@"; "$@"; }
# (A command started in the background with `&` is said first and run
# directly, so that $! is its own process and kill -9 reaches it.)
ok() { printf '  %sok%s    %s\n' "$green" "$off" "$*"; }
bad() { printf '  %sFAIL%s  %s\n' "$red" "$off" "$*"; failures=$((failures + 1)); }
# expect WHAT GOT WANT
expect() { if [ "$2" = "$3" ]; then ok "$1: $2"; else bad "$1: got '$2', expected '$3'"; fi; }

start=$(date +%s)

# ---------------------------------------------------------------------------
step "1. version"
v=$(show "$MMF" --version) && echo "$v"
expect "mmf --version" "$v" "mmf $(sed -n 's/^#define MMF_VERSION_STRING "\(.*\)"/\1/p' "$SRC/include/mmf.h")"

# ---------------------------------------------------------------------------
step "2. test data (in $TMP)"
printf 'hello world\n' > hello.txt                 # 3 x 'l' (0x6c)
head -c 1000 /dev/zero > zeros.bin                 # 1000 x 0
: > empty.bin                                      # 0 bytes
# big.bin: ~200 MiB of random bytes with every zero removed, with three runs
# of zeros of known length in between: it holds exactly BIG_ZEROS zeros.
nonzero() { head -c "$1" /dev/urandom | tr -d '\000'; }
{
  nonzero 64M; head -c 1000000 /dev/zero
  nonzero 64M; head -c 4097 /dev/zero
  nonzero 72M; head -c 1 /dev/zero
} > big.bin
BIG_ZEROS=$((1000000 + 4097 + 1))
for f in hello.txt zeros.bin empty.bin big.bin; do
  printf '  %12s  %s\n' "$(stat -c %s "$f")" "$f"
done
echo "  big.bin holds $BIG_ZEROS zero bytes by construction"

# ---------------------------------------------------------------------------
step "3. mmf count (COUNT<TAB>FILE per file)"
out=$(show "$MMF" count zeros.bin empty.bin big.bin); rc=$?
echo "$out"
expect "exit status" "$rc" 0
expect "zeros in zeros.bin" "$(awk -F'\t' '$2=="zeros.bin"{print $1}' <<<"$out")" 1000
expect "zeros in empty.bin" "$(awk -F'\t' '$2=="empty.bin"{print $1}' <<<"$out")" 0
expect "zeros in big.bin" "$(awk -F'\t' '$2=="big.bin"{print $1}' <<<"$out")" "$BIG_ZEROS"
# By default a thread per CPU counts its own part of a big file; any
# number of threads gives the same count.
for j in 1 3; do
  out=$(show "$MMF" count --threads $j big.bin) && echo "$out"
  expect "zeros in big.bin, $j thread(s)" "${out%%$'\t'*}" "$BIG_ZEROS"
done
out=$(show "$MMF" count --byte 0x6c hello.txt) && echo "$out"
expect "'l' in hello.txt" "$out" "3	hello.txt"
out=$(show "$MMF" count --json --byte 108 hello.txt) && echo "$out"
expect "as JSON" "$out" '{"file":"hello.txt","byte":108,"count":3}'

# ---------------------------------------------------------------------------
step "4. mmf reverse, twice, restores the original"
cp hello.txt hello.orig
show "$MMF" reverse hello.txt || bad "mmf reverse hello.txt failed"
od -An -c hello.txt
REVERSED_HELLO=$(printf '\ndlrow olleh' | od -An -c)
expect "reversed text" "$(od -An -c hello.txt)" "$REVERSED_HELLO"
cp big.bin big.orig
t0=$(date +%s.%N)
show "$MMF" reverse big.bin || bad "mmf reverse big.bin failed"
t1=$(date +%s.%N)
if cmp -s big.bin big.orig; then bad "big.bin did not change"; else ok "big.bin changed"; fi
expect "first byte of the reversed file = last of the original" \
  "$(head -c 1 big.bin | od -An -tx1)" "$(tail -c 1 big.orig | od -An -tx1)"
expect "last byte of the reversed file = first of the original" \
  "$(tail -c 1 big.bin | od -An -tx1)" "$(head -c 1 big.orig | od -An -tx1)"
show "$MMF" reverse big.bin || bad "second mmf reverse big.bin failed"
show "$MMF" reverse hello.txt || bad "second mmf reverse hello.txt failed"
if show cmp big.bin big.orig && cmp hello.txt hello.orig; then
  ok "reverse twice = the original (cmp: identical), $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s for $(($(stat -c %s big.bin) >> 20)) MiB"
else
  bad "reverse twice did not restore the original"
fi
rm -f big.orig

# ---------------------------------------------------------------------------
step "5. errors: one line naming the file and the reason, exit status 1"
for args in "count missing.bin" "reverse $TMP"; do
  # shellcheck disable=SC2086
  err=$(show "$MMF" $args 2>&1 >/dev/null); rc=$?
  echo "$err"
  expect "exit status" "$rc" 1
  expect "lines on stderr" "$(printf '%s\n' "$err" | wc -l)" 1
done
err=$(show "$MMF" count --byte 300 hello.txt 2>&1); rc=$?
echo "$err"
expect "usage error exit status" "$rc" 2

# ---------------------------------------------------------------------------
step "6. examples: FileRev and Count0s"
cp hello.orig hello2.txt
show "$FILEREV" hello2.txt || bad "filerev failed"
od -An -c hello2.txt
expect "filerev reversed the text" "$(od -An -c hello2.txt)" "$REVERSED_HELLO"
out=$(show "$COUNT0S" big.bin) && echo "$out"
expect "count0s on big.bin" "${out%% *}" "$BIG_ZEROS"
out=$(show "$COUNT0S" big.bin 65536) && echo "$out"
expect "count0s with 64 KiB views" "${out%% *}" "$BIG_ZEROS"

# ---------------------------------------------------------------------------
step "7. mmf share: named shared memory between processes"
SHARE=mmf-demo-$$   # a name of this run only
show "$MMF" share put "$SHARE" big.bin || bad "mmf share put failed"
show "$MMF" share ls | grep -E "^NAME|^$SHARE " || bad "mmf share ls does not list $SHARE"
show "$MMF" share get "$SHARE" > big.copy || bad "mmf share get failed"
if cmp -s big.bin big.copy; then ok "get gives back the $(($(stat -c %s big.bin) >> 20)) MiB put stored, byte for byte"; else bad "get differs from what put stored"; fi
rm -f big.copy
show "$MMF" share rm "$SHARE" || bad "mmf share rm failed"
err=$(show "$MMF" share get "$SHARE" 2>&1 >/dev/null); rc=$?
echo "$err"
expect "get after rm: exit status" "$rc" 1
# A transient object lives exactly as long as a process holds it.
say "$MMF" share put --transient "$SHARE-t" hello.orig
"$MMF" share put --transient "$SHARE-t" hello.orig > put.out 2>&1 &
put=$!
for _ in $(seq 100); do [ -s put.out ] && "$MMF" share get "$SHARE-t" > /dev/null 2>&1 && break; sleep 0.1; done
sed 's/^/  /' put.out
expect "transient object while put runs" "$(show "$MMF" share get "$SHARE-t")" "hello world"
echo "  (kill -9 the holder)"
kill -KILL "$put"; wait "$put" 2>/dev/null
"$MMF" share get "$SHARE-t" > /dev/null 2>&1; rc=$?
expect "transient object after its holder is killed -9: get exit status" "$rc" 1
show "$MMF" share put "$SHARE-t" zeros.bin && ok "the name is free again: a new create succeeds"
show "$MMF" share rm "$SHARE-t" || bad "mmf share rm failed"

# ---------------------------------------------------------------------------
step "8. mmf instances: a count of running instances that survives kill -9"
KEY=mmf-demo-$$
"$MMF" instances --key "$KEY" --hold 60 > hold1.out 2>&1 &
h1=$!
"$MMF" instances --key "$KEY" --hold 60 > hold2.out 2>&1 &
h2=$!
for _ in $(seq 50); do [ -s hold1.out ] && [ -s hold2.out ] && break; sleep 0.1; done
out=$(show "$MMF" instances --key "$KEY") && echo "$out"
expect "instances with two holders running" "${out%%	*}" 3
kill -KILL "$h1" "$h2"; wait "$h1" "$h2" 2>/dev/null
out=$(show "$MMF" instances --key "$KEY") && echo "$out"
expect "instances after both were killed -9" "${out%%	*}" 1
rm -f "/dev/shm/mmf-section.u$(id -u).$KEY"

# ---------------------------------------------------------------------------
step "9. examples: MMFShare, AppInst, a linked list shared through a file"
say "$EX/mmfshare" write "$SHARE-x" "greetings from another process"
(sleep 1; echo) | "$EX/mmfshare" write "$SHARE-x" "greetings from another process" > writer.out &
w=$!
for _ in $(seq 50); do [ -s writer.out ] && break; sleep 0.1; done
sed 's/^/  /' writer.out
out=$(show "$EX/mmfshare" read "$SHARE-x") && echo "$out"
expect "mmfshare read" "$out" "greetings from another process"
wait "$w"
# AppInst: two instances stay up (each reads its stdin from a FIFO this
# script holds open), a third is killed -9, and a fourth looks: mmf's count
# is right, the classic sample's counter is one too high.
mkfifo in1 in2 in3
say "$EX/appinst" "hello from the first"
"$EX/appinst" "hello from the first" < in1 > appinst1.out 2>&1 &
a1=$!
exec 4> in1
for _ in $(seq 50); do [ -s appinst1.out ] && break; sleep 0.1; done
sed 's/^/  /' appinst1.out
# (each without the FIFO writers this script holds for the others)
say "$EX/appinst"
"$EX/appinst" < in2 > appinst2.out 2>&1 4>&- &
a2=$!
exec 5> in2
say "$EX/appinst"
"$EX/appinst" < in3 > appinst3.out 2>&1 4>&- 5>&- &
a3=$!
exec 6> in3
for _ in $(seq 200); do [ -s appinst2.out ] && [ -s appinst3.out ] && break; sleep 0.1; done
[ -s appinst3.out ] || bad "the third appinst did not start within 20 s"
echo "  (kill -9 the third)"
kill -KILL "$a3"; wait "$a3" 2>/dev/null; exec 6>&-
out=$(echo | show "$EX/appinst") && echo "$out"
expect "appinst counts the live instances (two held, itself)" "$(grep -m1 -o 'instances running: [0-9]*' <<<"$out")" "instances running: 3"
expect "the classic counter kept the killed one" "$(grep -m1 -o 'classic counter says [0-9]*' <<<"$out")" "classic counter says 4"
expect "the first instance's greeting is shared" "$(grep -m1 'last greeting' <<<"$out")" 'last greeting: "hello from the first"'
exec 4>&- 5>&-
wait "$a1" "$a2"
# A section outlives its instances (the next first one starts it over):
# remove this one so the demo leaves nothing behind.
key=$(sed -n 's/^first instance (key \(.*\))$/\1/p' appinst1.out)
[ -n "$key" ] && rm -f "/dev/shm/mmf-section.u$(id -u).$key"
show "$EX/linkedlist" build list.bin 5 || bad "linkedlist build failed"
out=$(show "$EX/linkedlist" walk list.bin) && echo "$out"
expect "records walked by a second process" "$(grep -c 'record . of 5' <<<"$out")" 5

# ---------------------------------------------------------------------------
step "done in $(( $(date +%s) - start )) s"
if [ "$failures" -ne 0 ]; then
  echo "${red}$failures check(s) failed${off}"
  exit 1
fi
echo "${green}every check passed${off}"
