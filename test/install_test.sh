#!/usr/bin/env bash
# Install mmf into a temporary prefix, then build the README's tour
# (examples/tour.c) against it twice -- once through pkg-config, once through
# find_package(mmf) -- and run both. Proves the header, libraries, mmf.pc and
# the CMake package are installed and usable.
#   install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/mmf.h"
test -x "$prefix/bin/mmf"
"$prefix/bin/mmf" --version

libdir=$(dirname "$(find "$prefix" -name mmf.pc)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -Wall -Werror "$src/examples/tour.c" $(pkg-config --cflags --libs mmf) \
  -Wl,-rpath,"$(pkg-config --variable=libdir mmf)" -o "$work/tour-pc"
(cd "$work" && ./tour-pc && test "$(dd if=data.bin bs=1 skip=1000 count=5 status=none)" = hello)
rm -f "$work/data.bin"

mkdir -p "$work/consumer"
cat > "$work/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(mmf 0.1 REQUIRED)
add_executable(tour-shared "$src/examples/tour.c")
target_link_libraries(tour-shared PRIVATE mmf::shared)
add_executable(tour-static "$src/examples/tour.c")
target_link_libraries(tour-static PRIVATE mmf::static)
CMAKE
cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer/build" >/dev/null
for exe in tour-shared tour-static; do
  (cd "$work" && "$work/consumer/build/$exe" && test "$(dd if=data.bin bs=1 skip=1000 count=5 status=none)" = hello)
  rm -f "$work/data.bin"
done
echo "install_test: pkg-config and find_package consumers built and ran"
