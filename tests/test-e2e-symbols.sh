# Profiles that explain themselves: an unmodified -g -O1 program under
# LD_PRELOAD, run from a copy that is deleted before go tool pprof reads its
# profile, so every name, file, line and inline frame comes from pprofd.
# Then a stripped copy (names from .dynsym, flags say no lines), a non-PIE
# build, a library dlopen'ed after the first profile, and
# /debug/pprof/symbol with good and bad bodies.
source "$(dirname "$0")/lib.sh"

LIB=$BUILD/libpprofd.so
SOURCE=$SRC/tests/sym/sym_host.c
mark() { grep -n "MARK: $1" "$2" | cut -d: -f1; }
HELPER_LINE=$(mark helper-malloc "$SOURCE")
CALL_LINE=$(mark static-call "$SOURCE")
EXPORTED_LINE=$(mark exported-malloc "$SOURCE")
PLUGIN_LINE=$(mark plugin-malloc "$SRC/tests/sym/sym_plugin.c")
[ -n "$HELPER_LINE" ] && [ -n "$CALL_LINE" ] && [ -n "$PLUGIN_LINE" ] || fail "markers not found"

# run_copy BINARY [ARGS]: copy BINARY (and the plugin, and $ALONGSIDE if
# set) out of the build tree, run the copy under LD_PRELOAD sampling every allocation, and wait
# until it has made its allocations.
run_copy() {
    local bin=$1
    shift
    AWAY=$WORK/away
    rm -rf "$AWAY"
    mkdir -p "$AWAY"
    cp "$bin" "$AWAY/host"
    cp "$BUILD/tests/libsymplugin.so" "$AWAY/libsymplugin.so"
    [ -z "${ALONGSIDE:-}" ] || cp "$ALONGSIDE" "$AWAY/"
    # DEBUGINFOD_URLS set (as Debian's login shells do): pprofd must neither
    # load libdebuginfod into the host nor reach for the network.
    start_server env LD_PRELOAD="$LIB" PPROFD_ADDR=127.0.0.1:0 PPROFD_MEM_RATE=1 \
        DEBUGINFOD_URLS=http://127.0.0.1:9 "$AWAY/host" "$AWAY/libsymplugin.so" "$@"
    wait_for_line "host-sym: ready"
}

wait_for_line() {
    for _ in $(seq 1 200); do
        grep -q "$1" "$SERVER_LOG" && return 0
        sleep 0.05
    done
    fail "host never said \"$1\""
}

# finish_copy: stop the host and delete the copy: nothing left for pprof to
# read but the profile.
finish_copy() {
    stop_server || fail "host did not exit cleanly"
    rm -rf "$AWAY"
    [ ! -e "$AWAY/host" ] || fail "copy still there"
}

# location_lines RAW FIRST_FUNCTION: the lines of the location whose first
# (innermost) line names FIRST_FUNCTION, one function per output line.
location_lines() {
    awk -v f="$2" '
        /^ *[0-9]+: 0x/ { inside = ($4 == f); if (inside) print $4, $5; next }
        inside && /^ +[^ ]/ && NF >= 2 && $1 !~ /:$/ { print $1, $2; next }
        { inside = 0 }' <<<"$1"
}

# ---- the full binary, PIE, from a copy that disappears ----
run_copy "$BUILD/tests/host-sym"
fetch "$BASE/heap" "$WORK/heap.out"
fetch "$BASE/symbol" "$WORK/symbol-get.txt"
# Addresses to ask /symbol about later, straight from our own profile.
raw_live=$(pprof_raw "$WORK/heap.out")
helper_addr=$(awk '$4 == "inline_helper_alloc" { print $2; exit }' <<<"$raw_live")
exported_addr=$(awk '$4 == "exported_holder" { print $2; exit }' <<<"$raw_live")
[ -n "$helper_addr" ] && [ -n "$exported_addr" ] || fail "no addresses in: $raw_live"
curl -s -o "$WORK/symbol-post.txt" -w '%{http_code}' --data-binary "$helper_addr+$exported_addr+0x10" \
    "$BASE/symbol" >"$WORK/symbol-post.code"
fetch "$BASE/symbol?$exported_addr+$helper_addr" "$WORK/symbol-query.txt"

! grep -qE 'libdebuginfod|libcurl' "/proc/$SERVER_PID/maps" ||
    fail "symbolizing loaded libdebuginfod/libcurl into the host"
pass "no debuginfod client in the host, though DEBUGINFOD_URLS is set"

# The library: loaded only now, after a profile has been served.
kill -USR1 "$SERVER_PID"
wait_for_line "host-sym: plugin loaded"
fetch "$BASE/heap" "$WORK/heap-plugin.out"
finish_copy

raw=$(pprof_raw "$WORK/heap.out")
chain=$(location_lines "$raw" inline_helper_alloc)
first=$(sed -n 1p <<<"$chain")
second=$(sed -n 2p <<<"$chain")
[[ $first == "inline_helper_alloc "*"/tests/sym/sym_host.c:$HELPER_LINE" ]] ||
    fail "inline helper not its own frame at sym_host.c:$HELPER_LINE: got '$first' in: $raw"
[[ $second == "static_holder "*"/tests/sym/sym_host.c:$CALL_LINE" ]] ||
    fail "static_holder not under the inline helper at sym_host.c:$CALL_LINE: got '$second'"
pass "inline helper is its own frame (sym_host.c:$HELPER_LINE) under static_holder (sym_host.c:$CALL_LINE)"

grep -qE "^ +[0-9]+: 0x[0-9a-f]+ M=1 exported_holder .*/tests/sym/sym_host.c:$EXPORTED_LINE " <<<"$raw" ||
    fail "exported_holder without sym_host.c:$EXPORTED_LINE"
mapping1=$(sed -n '/^Mappings/,$p' <<<"$raw" | sed -n 2p)
[[ $mapping1 == "1: "*"/away/host "[0-9a-f]*" [FN][FL][LN][IN]" ]] ||
    fail "main mapping not first, without build ID or flags: $mapping1"
pass "static functions named with file:line; main mapping first with build ID and all four flags"

# The way users read it: pprof with its own symbolization on, binary gone.
top=$(go tool pprof -top -lines "$WORK/heap.out" 2>"$WORK/pprof.err") ||
    fail "go tool pprof: $(cat "$WORK/pprof.err")"
grep -qE "inline_helper_alloc .*sym_host.c:$HELPER_LINE \(inline\)" <<<"$top" ||
    fail "pprof -top -lines without the binary: no inline helper line: $top"
traces=$(go tool pprof -symbolize=none -traces "$WORK/heap.out" 2>&1)
grep -A1 "inline_helper_alloc (inline)" <<<"$traces" | grep -q "static_holder" ||
    fail "traces: static_holder does not follow the inline helper: $traces"
pass "go tool pprof, binary gone: inline frame marked (inline), static_holder under it"

raw=$(pprof_raw "$WORK/heap-plugin.out")
grep -qE "plugin_static_alloc .*/tests/sym/sym_plugin.c:$PLUGIN_LINE " <<<"$raw" ||
    fail "dlopen'ed library: plugin_static_alloc not named with its line: $(grep -i plugin <<<"$raw")"
grep -qE " plugin_entry " <<<"$raw" || fail "dlopen'ed library: plugin_entry not named"
grep -qE "/away/libsymplugin.so [0-9a-f]+ \[FN\]\[FL\]\[LN\]\[IN\]" <<<"$raw" ||
    fail "dlopen'ed library has no mapping with build ID and flags"
pass "library dlopen'ed after the first profile: functions named, mapping present"

# ---- /debug/pprof/symbol ----
grep -qE '^num_symbols: [1-9][0-9]*$' "$WORK/symbol-get.txt" ||
    fail "GET /symbol: $(cat "$WORK/symbol-get.txt")"
[ "$(cat "$WORK/symbol-post.code")" = 200 ] || fail "POST /symbol answered $(cat "$WORK/symbol-post.code")"
post=$(cat "$WORK/symbol-post.txt")
grep -qx "$helper_addr inline_helper_alloc" <<<"$post" || fail "POST /symbol: $post"
grep -qx "$exported_addr exported_holder" <<<"$post" || fail "POST /symbol: $post"
[ "$(grep -c '^0x' <<<"$post")" = 2 ] || fail "POST /symbol named 0x10: $post"
query=$(cat "$WORK/symbol-query.txt")
[ "$(sed -n 2p <<<"$query")" = "$exported_addr exported_holder" ] &&
    [ "$(sed -n 3p <<<"$query")" = "$helper_addr inline_helper_alloc" ] ||
    fail "GET /symbol?ADDR+ADDR, in order: $query"
pass "/symbol: GET counts symbols (and names ?ADDR+ADDR), POST names call sites"

# ---- the stripped copy: .dynsym only ----
strip -o "$WORK/stripped" "$BUILD/tests/host-sym"
! readelf -S "$WORK/stripped" | grep -qE '\.symtab|\.debug_info' || fail "strip left .symtab or DWARF"
run_copy "$WORK/stripped"
fetch "$BASE/heap" "$WORK/heap-stripped.out"

# Bad bodies, on a live server that must survive them.
code() { curl -s -o "$WORK/body.txt" -w '%{http_code}' "$@" "$BASE/symbol"; }
[ "$(code --data-binary 'hello')" = 400 ] || fail "POST 'hello' not a 400"
grep -q 'bad address "hello"' "$WORK/body.txt" || fail "400 without reason: $(cat "$WORK/body.txt")"
[ "$(code --data-binary '0x+0x12')" = 400 ] || fail "POST '0x+0x12' not a 400"
[ "$(code --data-binary '0x1g')" = 400 ] || fail "POST '0x1g' not a 400"
[ "$(code --data-binary '-1')" = 400 ] || fail "POST '-1' not a 400"
[ "$(code --data-binary '0x10000000000000000')" = 400 ] || fail "POST overflow not a 400"
[ "$(code --data-binary '99999999999999999999999')" = 400 ] || fail "POST overflow not a 400"
printf '0x10\0+0x20' >"$WORK/nul.bin"
[ "$(code --data-binary "@$WORK/nul.bin")" = 400 ] || fail "POST with NUL not a 400"
[ "$(code --data-binary '')" = 200 ] || fail "empty POST not a 200"
[ "$(code --data-binary '0x10+++ 0x20 +')" = 200 ] || fail "empty words not tolerated"
grep -qx 'num_symbols: [1-9][0-9]*' "$WORK/body.txt" || fail "POST answer lacks num_symbols"
head -c 1100000 /dev/zero | tr '\0' '1' >"$WORK/big.txt"
[ "$(code --data-binary "@$WORK/big.txt")" = 413 ] || fail "1.1 MB body not a 413"
big_ok=$(for _ in $(seq 1 5000); do printf '0x%x+' $((RANDOM * 4096 + RANDOM)); done)
[ "$(code --data-binary "$big_ok")" = 200 ] || fail "5000 addresses not a 200"
[ "$(code -X PUT --data-binary '0x10')" = 405 ] || fail "PUT not a 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/symbol?0xzz")" = 400 ] || fail "GET ?0xzz not a 400"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/symbol?debug=1")" = 200 ] || fail "GET ?debug=1 not a 200"
pass "/symbol: malformed 400, oversized 413, empty fine, server alive"

# Remote symbolization the way pprof does it: the stripped host's mapping
# lacks has_functions, so pprof POSTs its unnamed addresses to /symbol.
go tool pprof -raw "$BASE/heap" >"$WORK/remote.txt" 2>"$WORK/pprof.err" ||
    fail "go tool pprof against the live server: $(cat "$WORK/pprof.err")"
grep -q " exported_holder" "$WORK/remote.txt" || fail "remote pprof: exported_holder not named"
pass "go tool pprof http://.../heap (symbolz round trip) works"
finish_copy

raw=$(pprof_raw "$WORK/heap-stripped.out")
grep -qE "M=1 exported_holder( |$)" <<<"$raw" || fail "stripped: exported_holder not named from .dynsym: $raw"
! grep -q "static_holder" <<<"$raw" || fail "stripped: static_holder named, but .dynsym cannot know it"
! grep -qE "M=1 exported_holder .*sym_host.c" <<<"$raw" || fail "stripped: a line with no DWARF"
mapping1=$(sed -n '/^Mappings/,$p' <<<"$raw" | sed -n 2p)
[[ $mapping1 == "1: "*"/away/host "[0-9a-f]* ]] || fail "stripped: main mapping: $mapping1"
[[ $mapping1 != *"[LN]"* && $mapping1 != *"[FL]"* && $mapping1 != *"[IN]"* ]] ||
    fail "stripped: flags claim lines: $mapping1"
[[ $mapping1 != *"[FN]"* ]] || fail "stripped: flags claim every function is named: $mapping1"
pass "stripped copy: exported names from .dynsym, flags say no lines (and partial names)"

# ---- separate debug files ----
# .gnu_debuglink: DWARF moved to host.debug beside the binary, which keeps
# only its .symtab.
objcopy --only-keep-debug "$BUILD/tests/host-sym" "$WORK/host.debug"
objcopy --strip-debug --add-gnu-debuglink="$WORK/host.debug" "$BUILD/tests/host-sym" "$WORK/linked"
! readelf -S "$WORK/linked" | grep -q '\.debug_info' || fail "objcopy left DWARF in the binary"
ALONGSIDE=$WORK/host.debug run_copy "$WORK/linked"
fetch "$BASE/heap" "$WORK/heap-debuglink.out"
finish_copy
raw=$(pprof_raw "$WORK/heap-debuglink.out")
chain=$(location_lines "$raw" inline_helper_alloc)
[[ $(sed -n 2p <<<"$chain") == "static_holder "*"sym_host.c:$CALL_LINE" ]] ||
    fail ".gnu_debuglink: no lines from the separate debug file: $chain"
[[ $(sed -n '/^Mappings/,$p' <<<"$raw" | sed -n 2p) == *"[FN][FL][LN][IN]" ]] ||
    fail ".gnu_debuglink: flags do not say lines"
pass ".gnu_debuglink: lines and inline frames from host.debug beside the binary"

# By build ID: libc's DWARF, where libc6-dbg put it under /usr/lib/debug.
libc_line=$(sed -n '/^Mappings/,$p' <<<"$raw" | grep '/libc\.so\.6 ' || true)
libc_id=$(awk '{print $4}' <<<"$libc_line")
if [ -n "$libc_id" ] && [ -f "/usr/lib/debug/.build-id/${libc_id:0:2}/${libc_id:2}.debug" ]; then
    [[ $libc_line == *"[FN][FL][LN][IN]" ]] || fail "libc's debug file by build ID unused: $libc_line"
    libc_mapping=${libc_line%%:*}
    grep -qE "^ +[0-9]+: 0x[0-9a-f]+ M=$libc_mapping [^ ]+ [^ ]+:[1-9][0-9]* " <<<"$raw" ||
        fail "no libc location with file:line"
    pass "by build ID: libc's lines from /usr/lib/debug/.build-id"
else
    echo "skip: no libc debug file by build ID on this machine"
fi

# ---- deleted while running (a deploy replaced the binary) ----
run_copy "$BUILD/tests/host-sym"
rm "$AWAY/host"
fetch "$BASE/heap" "$WORK/heap-deleted.out"
finish_copy
raw=$(pprof_raw "$WORK/heap-deleted.out")
chain=$(location_lines "$raw" inline_helper_alloc)
[[ $(sed -n 2p <<<"$chain") == "static_holder "*"sym_host.c:$CALL_LINE" ]] ||
    fail "binary deleted before the first profile: no names or lines: $chain"
mapping1=$(sed -n '/^Mappings/,$p' <<<"$raw" | sed -n 2p)
[[ $mapping1 == "1: "*"/away/host "[0-9a-f]*" [FN][FL][LN][IN]" ]] ||
    fail "deleted binary: mapping should name the file without ' (deleted)': $mapping1"
pass "binary deleted before the first profile: read from the mapped inode"

# ---- C++: demangled name, mangled system name ----
run_copy "$BUILD/tests/host-sym-cpp"
fetch "$BASE/heap" "$WORK/heap-cpp.out"
raw=$(pprof_raw "$WORK/heap-cpp.out")
cpp_line=$(mark cpp-new "$SRC/tests/sym/sym_cpp.cc")
cpp_addr=$(awk '$4 == "shop::Basket::fill(int)" { print $2; exit }' <<<"$raw")
[ -n "$cpp_addr" ] || fail "C++: shop::Basket::fill(int) not named: $raw"
grep -qE " shop::Basket::fill\(int\) [^ ]*/tests/sym/sym_cpp.cc:$cpp_line " <<<"$raw" ||
    fail "C++: no sym_cpp.cc:$cpp_line for shop::Basket::fill(int)"
post=$(curl -s --data-binary "$cpp_addr" "$BASE/symbol")
grep -qx "$cpp_addr _ZN4shop6Basket4fillEi" <<<"$post" || fail "C++: /symbol did not answer the mangled name: $post"
finish_copy
pass "C++: name demangled (shop::Basket::fill(int)), system name mangled (_ZN4shop6Basket4fillEi)"

# ---- non-PIE ----
run_copy "$BUILD/tests/host-sym-nopie"
fetch "$BASE/heap" "$WORK/heap-nopie.out"
finish_copy
raw=$(pprof_raw "$WORK/heap-nopie.out")
chain=$(location_lines "$raw" inline_helper_alloc)
[[ $(sed -n 2p <<<"$chain") == "static_holder "*"sym_host.c:$CALL_LINE" ]] ||
    fail "non-PIE: no static_holder under the inline helper: $chain"
grep -qE '^1: 0x0*4[0-9a-f]{5}/' <<<"$(sed -n '/^Mappings/,$p' <<<"$raw" | sed -n 2p)" ||
    fail "non-PIE: main mapping not at the fixed 0x400000 range"
pass "non-PIE executable: names, lines and inline frames"
