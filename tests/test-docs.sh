# The README stays true to the code: every environment variable the library
# reads and every pprofd_options field is in its settings table (and nothing
# else is), every endpoint the server routes is in its endpoint table, the
# quick start is the two commands, and its relative links lead somewhere.
source "$(dirname "$0")/lib.sh"

README=$SRC/README.md

# table_column HEADING COLUMN: the backquoted first words of one column of
# every README table whose header row starts with HEADING (a second
# "| environment |" table, say for tuning and test knobs, counts too).
table_column() {
    awk -F '|' -v heading="$1" -v column="$2" '
        index($0, "| " heading " |") == 1 { inside = 1; next }
        inside && /^\|---/ { next }
        inside && /^\|/ { print $(column + 1); next }
        { inside = 0 }' "$README" | grep -o '`[^`]*`' | tr -d '`' | awk '{ print $1 }' | sort -u
}

# Settings: environment variables.
documented=$(table_column environment 1)
read_by_code=$(grep -rho --include='*.c' '"PPROFD_[A-Z_]*"' "$SRC"/sampler "$SRC"/server | tr -d '"' | sort -u)
[ "$documented" = "$read_by_code" ] || fail "README settings table and the variables the code reads differ:
$(diff <(echo "$documented") <(echo "$read_by_code"))"
pass "settings table: every environment variable ($(echo $read_by_code))"

# Settings: option fields.
documented=$(table_column environment 2)
fields=$(awk '/^typedef struct pprofd_options \{/ { inside = 1; next }
              inside && /^\} pprofd_options;/ { exit }
              inside && /^    [a-z].*;/ { sub(/;.*/, ""); n = split($0, w, /[ *]+/); print w[n] }' \
    "$SRC/include/pprofd.h" | sort -u)
[ -n "$fields" ] || fail "no pprofd_options fields found in pprofd.h"
[ "$documented" = "$fields" ] || fail "README settings table and pprofd_options differ:
$(diff <(echo "$documented") <(echo "$fields"))"
pass "settings table: every pprofd_options field ($(echo $fields))"

# Endpoints: the names in the table's first column against the routing table.
documented=$(table_column path 1 | sed -n 's|^/debug/pprof/||; s|?.*||; /./p' | sort -u)
table=$(grep -rl --include='*.c' '^const pprofd__endpoint pprofd__endpoints\[\] = {' "$SRC/server")
routed=$(sed -n '/^const pprofd__endpoint pprofd__endpoints\[\] = {/,/^};/p' $table |
    grep -o '^    {"[a-z_]*"' | grep -o '[a-z_]*' | sort -u)
[ -n "$routed" ] || fail "no endpoints found in the server's endpoint table"
[ "$documented" = "$routed" ] || fail "README endpoint table and ${table#$SRC/} differ:
$(diff <(echo "$documented") <(echo "$routed"))"
pass "endpoint table: every routed profile"

# Quick start: exactly two commands, demo and test.
commands=$(awk '/^## Quick start/ { inside = 1; next } inside && /^## / { exit }
                inside && /^    \.\// { print $1 }' "$README")
[ "$commands" = "./scripts/demo
./scripts/test" ] || fail "quick start commands are not ./scripts/demo and ./scripts/test: $commands"
pass "quick start: ./scripts/demo, ./scripts/test"

# Relative links, from the README and docs/.
for doc in "$README" "$SRC"/docs/*.md; do
    for link in $(grep -o '](\([^)#]*\))' "$doc" | sed 's/^](//; s/)$//' | grep -v '^[a-z]*://' || true); do
        [ -e "$(dirname "$doc")/$link" ] || fail "$(basename "$doc") links to $link, which does not exist"
    done
done
pass "relative links resolve"
