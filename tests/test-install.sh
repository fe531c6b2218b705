# An outside program builds against the installed package and serves
# profiles: `cmake --install` into a staging prefix that is then moved
# (the package must be relocatable), the files a C library is expected to
# install, then examples/ built from a copy once through pkg-config
# (examples/Makefile) and once through find_package(pprofd)
# (examples/CMakeLists.txt), shared and static, each run and asked for a
# profile that names its allocating function.
source "$(dirname "$0")/lib.sh"

version=$(sed -n 's/^#define PPROFD_VERSION "\(.*\)"$/\1/p' "$SRC/include/pprofd.h")
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
# Before 1.0 the ABI may change with the minor number, and the soname says so.
if [ "$major" = 0 ]; then soversion=0.$minor; else soversion=$major; fi

cmake --install "$BUILD" --prefix "$WORK/stage" >"$WORK/install.log" ||
    fail "cmake --install: $(cat "$WORK/install.log")"
mv "$WORK/stage" "$WORK/prefix"
P=$WORK/prefix

for f in include/pprofd.h lib/libpprofd.so "lib/libpprofd.so.$soversion" "lib/libpprofd.so.$version" \
    lib/libpprofd.a lib/pkgconfig/pprofd.pc lib/cmake/pprofd/pprofdConfig.cmake \
    lib/cmake/pprofd/pprofdConfigVersion.cmake bin/pprofd-demo; do
    [ -e "$P/$f" ] || fail "not installed: $f (installed: $(cd "$P" && find . -type f -o -type l | sort))"
done
soname=$(readelf -d "$P/lib/libpprofd.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libpprofd.so.$soversion" ] || fail "soname is '$soname', want libpprofd.so.$soversion"
# Only the API (and the malloc family it interposes) leaves the library.
internal=$(nm -D --defined-only "$P/lib/libpprofd.so" | awk '{ print $3 }' | grep '^pprofd__' || true)
[ -z "$internal" ] || fail "internal symbols exported: $internal"
for sym in pprofd_start pprofd_port pprofd_stop pprofd_version; do
    nm -D --defined-only "$P/lib/libpprofd.so" | grep -qw "$sym" || fail "$sym not exported"
done
pass "installed: header, libpprofd.so ($soname), libpprofd.a, pprofd.pc, CMake package, demo"

# loads_installed_library BIN: true if BIN, run now, loads the installed
# libpprofd.so (through its RUNPATH), not some other copy.
loads_installed_library() {
    local path
    path=$(ldd "$1" | awk -v so="libpprofd.so.$soversion" '$1 == so { print $3 }')
    [ -n "$path" ] && [ "$(readlink -f "$path")" = "$(readlink -f "$P/lib/libpprofd.so.$soversion")" ]
}

# The installed demo finds the installed library (RUNPATH $ORIGIN/../lib).
start_server "$P/bin/pprofd-demo" --addr 127.0.0.1:0
fetch "$BASE/allocs" "$WORK/demo-allocs.out"
pprof_raw "$WORK/demo-allocs.out" >/dev/null
loads_installed_library "$P/bin/pprofd-demo" ||
    fail "installed demo does not load the installed library: $(ldd "$P/bin/pprofd-demo")"
stop_server || fail "installed demo did not exit cleanly"
pass "installed pprofd-demo runs against the installed library"

# pkg-config: what the .pc says, then the Makefile an outside user copies.
export PKG_CONFIG_PATH=$P/lib/pkgconfig
[ "$(pkg-config --modversion pprofd)" = "$version" ] || fail "pkg-config --modversion"
pkg-config --libs pprofd | grep -q -- "-lpprofd" || fail "pkg-config --libs: $(pkg-config --libs pprofd)"
# The shared library brings its own dependencies; they are private.
pkg-config --libs pprofd | grep -q -- "-lmicrohttpd" && fail "pkg-config --libs overlinks"
pkg-config --static --libs pprofd | grep -q -- "-lprotobuf-c" || fail "Requires.private lacks libprotobuf-c"
# libmicrohttpd is dlopened when a server starts: no link needs it.
pkg-config --static --libs pprofd | grep -q -- "-lmicrohttpd" && fail "pkg-config --static links libmicrohttpd"
cp -r "$SRC/examples" "$WORK/pc"
make -C "$WORK/pc" >"$WORK/make.log" 2>&1 || fail "make (pkg-config): $(tail -20 "$WORK/make.log")"
pass "examples built through pkg-config"
unset PKG_CONFIG_PATH

# find_package(pprofd): a separate CMake project, found by CMAKE_PREFIX_PATH.
cp -r "$SRC/examples" "$WORK/cm"
cmake -S "$WORK/cm" -B "$WORK/cm/build" -DCMAKE_PREFIX_PATH="$P" >"$WORK/cmake.log" 2>&1 ||
    fail "cmake configure (find_package): $(tail -20 "$WORK/cmake.log")"
cmake --build "$WORK/cm/build" -j2 >>"$WORK/cmake.log" 2>&1 ||
    fail "cmake build (find_package): $(tail -20 "$WORK/cmake.log")"
# The version file refuses a different minor before 1.0, a different major after.
mkdir -p "$WORK/cm-version"
if [ "$major" = 0 ]; then wrong=0.$((minor + 1)); else wrong=$((major + 1)); fi
# (No language: the version file answers before any dependency is looked for.)
printf 'cmake_minimum_required(VERSION 3.18)\nproject(v NONE)\nfind_package(pprofd %s REQUIRED)\n' \
    "$wrong" >"$WORK/cm-version/CMakeLists.txt"
cmake -S "$WORK/cm-version" -B "$WORK/cm-version/build" -DCMAKE_PREFIX_PATH="$P" >/dev/null 2>&1 &&
    fail "find_package(pprofd $wrong) accepted version $version"
pass "examples built through find_package(pprofd); find_package($wrong) refused"

# Each program: links what it should, serves /allocs naming its own
# allocating function, reports the installed version, and
# exits 0 on SIGTERM after pprofd_stop().
check_example() {
    local bin=$1 function=$2 linkage=$3
    if [ "$linkage" = shared ]; then
        loads_installed_library "$bin" ||
            fail "$bin does not load the installed libpprofd.so: $(ldd "$bin")"
    else
        readelf -d "$bin" | grep -q 'libpprofd' && fail "$bin (static) needs libpprofd.so"
        readelf -d "$bin" | grep -q 'libmicrohttpd' && fail "$bin (static) links libmicrohttpd"
    fi
    start_server env PPROFD_MEM_RATE=4096 "$bin" 127.0.0.1:0
    # Until the program has allocated in $function (it may be slow to get
    # there on a loaded machine). A substring: C++ names come mangled
    # (go tool pprof demangles them unless told -symbolize=none).
    local top="" tries
    for tries in $(seq 1 120); do
        fetch "$BASE/allocs" "$WORK/ex-allocs.out"
        top=$(pprof_top "$WORK/ex-allocs.out")
        grep -q "$function" <<<"$top" && break
        sleep 0.5
    done
    grep -q "$function" <<<"$top" || fail "$bin: /allocs never named $function: $(head -15 <<<"$top")"
    grep -q "pprofd $version serving" "$SERVER_LOG" || fail "$bin: version line: $(cat "$SERVER_LOG")"
    grep -q "built with pprofd" "$SERVER_LOG" && fail "$bin: header/library mismatch: $(cat "$SERVER_LOG")"
    stop_server || fail "$bin did not exit 0 on SIGTERM"
    grep -q 'bye$' "$SERVER_LOG" || fail "$bin did not stop the server and finish: $(cat "$SERVER_LOG")"
    pass "$bin ($linkage) serves profiles"
}

for dir in "$WORK/pc" "$WORK/cm/build"; do
    check_example "$dir/hello-c" make_greetings shared
    check_example "$dir/hello-cpp" build_word_index shared
    check_example "$dir/hello-c-static" make_greetings static
done
