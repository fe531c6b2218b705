# The house rules of the source tree (docs/design.md, "Rooms"): one
# pthread_atfork registration, the environment read in one file, every
# symbol pprofd takes over from libc defined in sampler/interpose/, no
# source file over 700 lines, and CMake's source lists complete.
source "$(dirname "$0")/lib.sh"
cd "$SRC"

sources=$(git ls-files 'sampler/*.[ch]' 'server/*.[ch]' 'include/*.h' 2>/dev/null ||
          find sampler server include -name '*.[ch]')

atfork=$(grep -l 'pthread_atfork *(' $(grep '\.c$' <<<"$sources") || true)
[ "$atfork" = sampler/fork.c ] || fail "pthread_atfork is called outside sampler/fork.c: $atfork"
pass "one pthread_atfork registration (sampler/fork.c)"

readers=$(grep -lE '\b(secure_)?getenv *\(|__environ|\benviron\b' $sources | grep -v '^sampler/config\.c$' || true)
[ -z "$readers" ] || fail "the environment is read outside sampler/config.c: $readers"
pass "the environment is read only in sampler/config.c"

long=$(for f in $sources; do n=$(wc -l <"$f"); [ "$n" -le 700 ] || echo "$f ($n lines)"; done)
[ -z "$long" ] || fail "source files over 700 lines: $long"
pass "no source file over 700 lines"

listed=$(grep -oE '(sampler|server)/[a-z_/]+\.c' CMakeLists.txt | sort -u)
present=$(grep '\.c$' <<<"$sources" | grep -v '^include/' | sort -u)
[ "$listed" = "$present" ] || fail "CMakeLists.txt's source lists and the tree differ:
$(diff <(echo "$listed") <(echo "$present"))"
pass "CMakeLists.txt lists every source file"

# Symbols the library exports beyond its API and the linker's section
# markers are the ones it takes over from libc: each must come from an
# object under sampler/interpose/.
objects=$BUILD/CMakeFiles/pprofd_objects.dir
[ -d "$objects/sampler/interpose" ] || { echo "skip: no object files under $objects"; exit 77; }
taken=$(nm -D --defined-only "$BUILD/libpprofd.so" | awk '{ print $3 }' |
        grep -vE '^(pprofd_|__start_pprofd_hooks$|__stop_pprofd_hooks$)' | sort -u)
[ -n "$taken" ] || fail "libpprofd.so exports no interposed symbol"
for sym in $taken; do
    where=$(cd "$objects" && for o in $(find . -name '*.o'); do
                if nm --defined-only "$o" | awk -v s="$sym" '$3 == s && $2 ~ /[TW]/ { found = 1 }
                                                        END { exit !found }'; then
                    echo "${o#./}"
                fi
            done)
    case "$where" in
    sampler/interpose/*.o) ;;
    *) fail "$sym is defined in ${where:-nowhere we built}, not in sampler/interpose/" ;;
    esac
done
pass "interposed symbols all defined in sampler/interpose/: $(echo $taken)"
