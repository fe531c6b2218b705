# pprofd as a subproject (add_subdirectory, as FetchContent does): a parent
# project gets pprofd::pprofd and pprofd::pprofd_static, builds with its
# own flags (none of ours leak: a parent file with an unused variable
# builds, where our -Werror would refuse it), keeps its own build type,
# and does not build pprofd's tests or load tools unless it asks.
source "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/parent"
cat >"$WORK/parent/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.18)
project(parent LANGUAGES C CXX)
add_subdirectory("$SRC" pprofd)
add_executable(app app.c)
target_link_libraries(app PRIVATE pprofd::pprofd)
add_executable(app-static app.c)
target_link_libraries(app-static PRIVATE pprofd::pprofd_static)
CMAKE
cat >"$WORK/parent/app.c" <<'C'
#include <pprofd.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    int unused; /* -Wall -Wextra -Werror would refuse this file */
    printf("%s\n", strcmp(pprofd_version(), PPROFD_VERSION) == 0 ? "same" : "differ");
    return 0;
}
C
cmake -S "$WORK/parent" -B "$WORK/pb" -DCMAKE_C_FLAGS=-Wall >"$WORK/configure.log" 2>&1 ||
    fail "configure: $(tail -20 "$WORK/configure.log")"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$WORK/pb/CMakeCache.txt")
[ -z "$build_type" ] || fail "pprofd forced the parent's build type to '$build_type'"
cmake --build "$WORK/pb" -j"$(nproc)" --target app app-static >"$WORK/build.log" 2>&1 ||
    fail "build: $(grep -m5 -E 'error|Error' "$WORK/build.log")"
grep -q "unused variable" "$WORK/build.log" || fail "the parent's own -Wall did not apply"
pass "parent builds with its own flags; pprofd's -Werror and build type stay inside pprofd"
[ "$("$WORK/pb/app")" = same ] || fail "app (shared) does not run"
[ "$("$WORK/pb/app-static")" = same ] || fail "app (static) does not run"
pass "pprofd::pprofd and pprofd::pprofd_static link and run"
for t in bench-malloc test-cpu host-cpu_host; do
    grep -q "^$t:" <(cmake --build "$WORK/pb" --target help 2>/dev/null | sed 's/^\.\.\. //; s/ .*//; s/$/:/') &&
        fail "a subproject build defines pprofd's $t"
done
pass "no tests or load tools in a subproject unless asked (PPROFD_BUILD_TESTS, PPROFD_BUILD_LOAD)"
