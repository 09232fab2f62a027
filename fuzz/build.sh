#!/bin/sh
# Build the libFuzzer targets in fuzz/ with clang, ASan and UBSan.
# The library is compiled again with clang and coverage instrumentation
# (build/libumc.a is gcc-built and uninstrumented), into build/fuzz/libumc.a;
# each fuzz/fuzz-*.c becomes build/fuzz/fuzz-*. Run from the repository root:
#   sh fuzz/build.sh && build/fuzz/fuzz-frame -max_total_time=60 build/fuzz/corpus-frame
set -eu

CC=${CC:-clang}
OUT=${OUT:-build/fuzz}
PKGS="libsystemd libcurl libcjson libsocketcan inih openssl"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-std=gnu11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -Iinclude $(pkg-config --cflags $PKGS)"

mkdir -p "$OUT/obj"
rm -f "$OUT/libumc.a"
objs=
for src in src/lib/*.c; do
        obj="$OUT/obj/$(basename "$src" .c).o"
        $CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o "$obj" "$src"
        objs="$objs $obj"
done
ar rcs "$OUT/libumc.a" $objs

for target in fuzz/fuzz-*.c; do
        name=$(basename "$target" .c)
        $CC $CFLAGS $SAN -fsanitize=fuzzer -Wall -Wextra -Werror -o "$OUT/$name" "$target" \
                "$OUT/libumc.a" $(pkg-config --libs $PKGS)
        mkdir -p "$OUT/corpus-${name#fuzz-}"
done
echo "built: $(ls "$OUT"/fuzz-*)"
