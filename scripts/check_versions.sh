#!/usr/bin/env bash
# Checks that the release's version numbers agree and that an upgrade path
# exists (cheap: no build, no server):
#   - Cargo.toml's version, the control file's default_version (the literal
#     version or '@CARGO_VERSION@', which pgrx substitutes), META.json's version
#     and its provides.pg_forget.version are one version;
#   - META.json is valid JSON and its provides file and docfile exist;
#   - sql/pg_forget--0.1.0.sql (the first release's install script) exists;
#   - the upgrade scripts sql/pg_forget--A--B.sql chain from 0.1.0 to that
#     version with no gap (what ALTER EXTENSION pg_forget UPDATE follows).
#
#   scripts/check_versions.sh [ROOT]   (default: this repository; ROOT lets a
#                                      copy be checked, e.g. an unpacked archive)
# Prints "ok N - ..."/"not ok N - ..." lines and "versions: N passed, N failed";
# exits non-zero on any failure.
set -uo pipefail
ROOT=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$ROOT" 2>/dev/null || { echo "check_versions: no such directory: $ROOT" >&2; exit 2; }
EXT=pg_forget
FIRST=0.1.0

n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -z "${2:-}" ] || echo "#   $2"; }
check() {  # check <description> <detail if it fails> <test...>
  if "${@:3}"; then ok "$1"; else not_ok "$1" "$2"; fi
}

CARGO=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml 2>/dev/null | head -1)
is_semver() { [[ "$1" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; }
check "Cargo.toml version is a version: '$CARGO'" "no [package] version = \"X.Y.Z\" in $ROOT/Cargo.toml" \
  is_semver "$CARGO"

CONTROL=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$EXT.control" 2>/dev/null | head -1)
control_ok() { [ -n "$CONTROL" ] && { [ "$CONTROL" = "@CARGO_VERSION@" ] || [ "$CONTROL" = "$CARGO" ]; }; }
check "$EXT.control default_version '$CONTROL' is the Cargo version" "expected '$CARGO' or '@CARGO_VERSION@'" \
  control_ok

# META.json: version, provides.pg_forget.version, file, docfile (separated by the unit separator, 0x1f)
if META=$(python3 - "$EXT" <<'PY' 2>&1
import json, sys
m = json.load(open("META.json"))
p = m.get("provides", {}).get(sys.argv[1], {})
print("\x1f".join(str(x) for x in (m.get("version", ""), p.get("version", ""), p.get("file", ""), p.get("docfile", ""))))
PY
); then
  ok "META.json is valid JSON"
  IFS=$'\x1f' read -r META_V PROV_V PROV_FILE PROV_DOC <<<"$META"
  files_exist() { [ -n "$PROV_FILE" ] && [ -f "$PROV_FILE" ] && { [ -z "$PROV_DOC" ] || [ -f "$PROV_DOC" ]; }; }
  check "META.json version '$META_V' is the Cargo version" "expected '$CARGO'" [ "$META_V" = "$CARGO" ]
  check "META.json provides.$EXT.version '$PROV_V' is the Cargo version" "expected '$CARGO'" [ "$PROV_V" = "$CARGO" ]
  check "META.json provides.$EXT file '$PROV_FILE' and docfile '$PROV_DOC' exist" "missing in $ROOT" \
    files_exist
else
  not_ok "META.json is valid JSON" "$(tail -1 <<<"$META")"
fi

check "sql/$EXT--$FIRST.sql (the first release's install script) exists" "missing in $ROOT/sql" \
  [ -f "sql/$EXT--$FIRST.sql" ]

# the upgrade graph: breadth-first from FIRST over sql/pg_forget--A--B.sql
declare -A prev=()
prev[$FIRST]=""
queue=("$FIRST")
shopt -s nullglob
edges=(sql/"$EXT"--*--*.sql)
shopt -u nullglob
while [ ${#queue[@]} -gt 0 ]; do
  v=${queue[0]}; queue=("${queue[@]:1}")
  for f in "${edges[@]}"; do
    e=${f#sql/"$EXT"--}; e=${e%.sql}
    a=${e%%--*}; b=${e#*--}
    if [ "$a" = "$v" ] && [ -z "${prev[$b]+set}" ]; then prev[$b]=$v; queue+=("$b"); fi
  done
done
if [ -n "$CARGO" ] && [ -n "${prev[$CARGO]+set}" ]; then
  chain=$CARGO; v=$CARGO
  while [ -n "${prev[$v]}" ]; do v=${prev[$v]}; chain="$v -> $chain"; done
  ok "upgrade scripts lead from $FIRST to $CARGO: $chain"
else
  reach=$(printf '%s\n' "${!prev[@]}" | sort -V | tr '\n' ' ')
  not_ok "upgrade scripts lead from $FIRST to $CARGO" \
    "from $FIRST the scripts reach only: ${reach% } (${#edges[@]} upgrade script(s) in sql/)"
fi

echo "versions: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
