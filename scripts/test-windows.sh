#!/usr/bin/env bash
# Cross-build mmf for 64-bit Windows with mingw-w64 and run the whole test
# suite under Wine (ctest starts each .exe through the toolchain's
# CMAKE_CROSSCOMPILING_EMULATOR). Called by `make test`.
#   scripts/test-windows.sh [BUILD_DIR] [CTEST_ARGS...]   (default: build-win)
# e.g. `scripts/test-windows.sh build-win -R test_shm` runs one program.
# Wine is set up non-interactively as ../shared/PLATFORM_NOTES.md says: a
# fresh prefix in the build dir, a persistent wineserver and wineboot
# started with redirected I/O before ctest (otherwise Wine's helpers inherit
# ctest's pipes and ctest hangs), no debugger on a crash, and the server
# stopped at the end whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-win}
shift || true
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

./scripts/install-deps.sh gcc-mingw-w64-x86-64 wine wine64 cmake make

mkdir -p "$BUILD"
export WINEPREFIX
WINEPREFIX="$(cd "$BUILD" && pwd)/wineprefix"
export WINEARCH=win64 WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d"
# Marks every process of this run (see kill_leftovers).
export MMF_WINE_RUN="$$.$RANDOM"

# With tests run in parallel (ctest -j 2), Wine starts some of its service
# processes (services.exe, winedevice.exe, plugplay.exe, explorer.exe)
# more than once, and the extra ones outlive `wineserver -k`: about ten
# processes of ~20 MB each were left per run, on a server that is gone.
# End whatever still runs with this run's marker in its environment (not
# WINEPREFIX: a caller's shell may have the same one exported).
kill_leftovers() {
  local env pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}
    pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    if { tr '\0' '\n' <"$env"; } 2>/dev/null |
      grep -qxF "MMF_WINE_RUN=$MMF_WINE_RUN"; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

boot=
stop_wine() {
  [ -n "$boot" ] && kill "$boot" 2>/dev/null
  wineserver -k </dev/null >/dev/null 2>&1 || true
  wineserver -w </dev/null >/dev/null 2>&1 || true
  kill_leftovers
  # The prefix (~700 MB) is rebuilt by every run: do not keep it around.
  rm -rf "$WINEPREFIX"
}
trap stop_wine EXIT

rm -rf "$WINEPREFIX"
mkdir -p "$WINEPREFIX"
wineserver -p </dev/null >/dev/null 2>&1
# The prefix boots while mmf builds; ctest waits for it.
wine wineboot -i </dev/null >"$BUILD/wineboot.log" 2>&1 &
boot=$!

cmake -S . -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
  -DMMF_BUILD_TESTS=ON -DMMF_BUILD_BENCH=OFF
cmake --build "$BUILD" -j "$JOBS"

if ! wait "$boot"; then
  boot=
  echo "test-windows: wineboot failed; see $BUILD/wineboot.log" >&2
  exit 1
fi
boot=
echo "test-windows: $(wine --version 2>/dev/null) ready in $WINEPREFIX"
cd "$BUILD"
# Wine 8 now and then hangs a test program before any of its code runs
# (no output at all, although every test program's stdout is unbuffered):
# seen 3 times in about 30 runs of this suite at -j 2 on 2026-11-25. The
# one examined was the Wine loader of test_view.exe blocked on a pipe read,
# with no wineserver left running. (A second server briefly appears in
# most runs, -j 1 too.) A test that times out runs once more; a hang in
# mmf's own code times out twice and still fails.
rc=0
ctest --output-on-failure -j "$JOBS" --repeat after-timeout:2 "$@" </dev/null ||
  rc=$?
# ctest says nothing of an attempt that timed out when the retry passed;
# its log keeps it ("Test Failed." in that attempt's block). Say so, so
# that a recurring hang -- Wine's or mmf's -- does not go unseen.
retried=$(awk '/^[0-9]+\/[0-9]+ Test: /{name=$3} /^Test Failed\./{print name}' \
  Testing/Temporary/LastTest.log | sort -u | tr '\n' ' ')
if [ "$rc" = 0 ] && [ -n "$retried" ]; then
  echo "test-windows: NOTE: timed out, then passed when run again: $retried" >&2
  echo "test-windows: the hung attempt is in $BUILD/Testing/Temporary/LastTest.log" >&2
fi
exit "$rc"
