#!/usr/bin/env bash
# The PGXN source distribution: dist/pg_forget-<version>.zip, made with
# `git archive` from a commit (default HEAD; commit first: uncommitted changes
# are not in it), every file under the prefix pg_forget-<version>/. The archived
# tree must pass scripts/check_versions.sh. Upload the zip on PGXN Manager;
# `pgxn install` then builds it with the Makefile (Rust + cargo-pgrx needed).
#
#   scripts/pgxn_zip.sh [COMMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${1:-HEAD}
git rev-parse --verify -q "$REF^{commit}" >/dev/null || { echo "pgxn_zip: no commit $REF" >&2; exit 1; }
VERSION=$(git show "$REF:Cargo.toml" | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)
[ -n "$(git status --porcelain --untracked-files=no)" ] &&
  echo "pgxn_zip: note: uncommitted changes are not in the zip (it is made from $REF)" >&2

# check the tree exactly as it will be shipped
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$REF" | tar -x -C "$tmp"
bash scripts/check_versions.sh "$tmp" >"$tmp.log" || { cat "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"

mkdir -p dist
ZIP="dist/pg_forget-$VERSION.zip"
git archive --format=zip --prefix="pg_forget-$VERSION/" -o "$ZIP" "$REF"
echo "pgxn_zip: $(unzip -Z1 "$ZIP" | grep -vc '/$') files from $(git rev-parse --short "$REF")"
echo "$PWD/$ZIP"
