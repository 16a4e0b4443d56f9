#!/usr/bin/env bash
# Cross-build cmocka for Windows (mingw-w64) from Debian's source package, so
# the Windows test suite uses the same framework as Linux. The result is
# cached: PREFIX/include/cmocka.h and PREFIX/lib/libcmocka-static.a.
#   scripts/build-cmocka-mingw.sh PREFIX
set -euo pipefail
prefix=$(realpath -m "${1:?usage: build-cmocka-mingw.sh PREFIX}")
[ -f "$prefix/lib/libcmocka-static.a" ] && exit 0

here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A private deb-src list, so the machine's apt configuration is untouched.
mkdir -p "$work/parts" "$work/lists/partial"
sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
  > "$work/parts/src.sources"
apt_private=(-o Dir::Etc::SourceParts="$work/parts" -o Dir::Etc::SourceList=/dev/null
             -o Dir::State::Lists="$work/lists" -o APT::Sandbox::User=root)
apt-get "${apt_private[@]}" update -qq
(cd "$work" && apt-get "${apt_private[@]}" source --download-only cmocka >/dev/null 2>&1)
tar -C "$work" -xf "$work"/cmocka_*.orig.tar.xz
src=$(find "$work" -maxdepth 1 -type d -name 'cmocka-*' | head -n 1)

# mingw's C99 stdio (as mmf uses): cmocka's messages then print %zu/%llu
# right on every msvcrt, and its printf-format attribute is gnu_printf.
cmake -S "$src" -B "$work/build" \
  -DCMAKE_TOOLCHAIN_FILE="$here/cmake/mingw-w64-x86_64.cmake" \
  -DCMAKE_C_FLAGS="-D__USE_MINGW_ANSI_STDIO=1" \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DWITH_STATIC_LIB=ON -DUNIT_TESTING=OFF -DWITH_EXAMPLES=OFF >/dev/null
cmake --build "$work/build" -j "$(nproc)" >/dev/null
cmake --install "$work/build" >/dev/null
sed -i 's/__format__ (__printf__,/__format__ (__gnu_printf__,/' \
  "$prefix/include/cmocka.h"
echo "build-cmocka-mingw: cmocka for Windows in $prefix" >&2
