#!/usr/bin/env bash
# Installs the Debian package (scripts/package.sh) on this machine with
# `dpkg -i` and checks it on a scratch cluster of its own (port 55470, data and
# socket under /tmp/pgf_pkg, trust auth, no shared_preload_libraries):
#   - dpkg reports the package installed, at the version of Cargo.toml;
#   - it owns the library, the control file and every install/upgrade script;
#   - CREATE EXTENSION pg_forget gives the current version and mask_ip works;
#   - CREATE EXTENSION pg_forget VERSION '0.1.0' then ALTER EXTENSION pg_forget
#     UPDATE reaches the current version (when an upgrade script exists).
#
#   scripts/package_test.sh [path/to.deb]   (default: dist/ for this version;
#                                            built with scripts/package.sh if absent)
# The package stays installed afterwards: it owns the same files
# `cargo pgrx install` writes, which other clusters on this machine load.
# Prints "ok N - ..."/"not ok N - ..." lines and "package: N passed, N failed";
# exits non-zero on any failure. Needs root (dpkg -i).
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=postgresql-15-pg-forget
BIN=/usr/lib/postgresql/15/bin
EXTDIR=/usr/share/postgresql/15/extension
LIBDIR=/usr/lib/postgresql/15/lib
PORT=55470
DIR=/tmp/pgf_pkg
DATA=$DIR/data
SOCK=$DIR/sock

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DEBVERSION="${VERSION/-/\~}-${DEB_REVISION:-1}"
ARCH=$(dpkg --print-architecture)
DEB=${1:-dist/${PKG}_${DEBVERSION}_${ARCH}.deb}
if [ ! -f "$DEB" ]; then
  [ $# -eq 0 ] || { echo "package_test: no such file: $DEB" >&2; exit 1; }
  echo "# $DEB not built yet: running scripts/package.sh"
  bash scripts/package.sh
fi

as_pg() { runuser -u postgres -- "$@"; }
stop_cluster() {
  if [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
cleanup() { stop_cluster; rm -rf "$DIR"; }
trap cleanup EXIT

n=0; failed=0
check() {  # check <description> <command...>
  n=$((n + 1))
  if "${@:2}" >/dev/null 2>>"$DIR/errors"; then
    echo "ok $n - $1"
  else
    echo "not ok $n - $1"; failed=$((failed + 1))
    sed 's/^/#   /' "$DIR/errors" | tail -5
  fi
  : > "$DIR/errors"
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d "$1" -c "$2"; }
eq() { [ "$1" = "$2" ] || { echo "got '$1', expected '$2'" >&2; return 1; }; }
eq_q() { local got; got=$(q "$1" "$2") || return 1; eq "$got" "$3"; }

# a leftover cluster of an interrupted run
stop_cluster; rm -rf "$DIR"
mkdir -p "$DIR" "$SOCK"; : > "$DIR/errors"
chown postgres "$DIR" "$SOCK"

# 1. the package itself
check "dpkg -i $(basename "$DEB")" dpkg -i "$DEB"
status() { dpkg -s "$PKG" | sed -n 's/^Status: //p; s/^Version: //p' | paste -sd ' '; }
check "dpkg -s: $PKG installed at $DEBVERSION" eq "$(status 2>/dev/null || true)" "install ok installed $DEBVERSION"
owned() {  # every file the extension needs, present and owned by the package
  local list f; list=$(dpkg -L "$PKG")
  for f in "$LIBDIR/pg_forget.so" "$EXTDIR/pg_forget.control" "$EXTDIR/pg_forget--$VERSION.sql" \
           "$EXTDIR/pg_forget--0.1.0.sql" sql/pg_forget--*--*.sql; do
    f=${f/#sql\//$EXTDIR/}
    if [ ! -f "$f" ] || ! grep -qxF "$f" <<<"$list"; then echo "not installed by $PKG: $f" >&2; return 1; fi
  done
}
check "$PKG owns the library, the control file and every install/upgrade script" owned
check "installed control file: default_version = '$VERSION'" grep -qx "default_version = '$VERSION'" "$EXTDIR/pg_forget.control"

# 2. a fresh cluster of our own, without preloading
as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
cat >> "$DATA/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$SOCK'
listen_addresses = ''
fsync = off
CONF
as_pg "$BIN/pg_ctl" -D "$DATA" -w -l "$DIR/server.log" start >/dev/null

check "CREATE EXTENSION pg_forget" q postgres "CREATE EXTENSION pg_forget"
check "extension version is $VERSION" eq_q postgres "SELECT extversion FROM pg_extension WHERE extname = 'pg_forget'" "$VERSION"
check "forget.mask_ip('10.1.2.3') = 10.1.2.0/24" eq_q postgres "SELECT forget.mask_ip('10.1.2.3')" "10.1.2.0/24"

# 3. the first release, then ALTER EXTENSION UPDATE through the packaged scripts
if compgen -G "sql/pg_forget--0.1.0--*.sql" >/dev/null && [ "$VERSION" != 0.1.0 ]; then
  q postgres "CREATE DATABASE pgf_pkg_upgrade" >/dev/null
  check "CREATE EXTENSION pg_forget VERSION '0.1.0'" q pgf_pkg_upgrade "CREATE EXTENSION pg_forget VERSION '0.1.0'"
  check "extension version is 0.1.0" eq_q pgf_pkg_upgrade "SELECT extversion FROM pg_extension WHERE extname = 'pg_forget'" "0.1.0"
  check "ALTER EXTENSION pg_forget UPDATE" q pgf_pkg_upgrade "ALTER EXTENSION pg_forget UPDATE"
  check "extension version after update is $VERSION" eq_q pgf_pkg_upgrade "SELECT extversion FROM pg_extension WHERE extname = 'pg_forget'" "$VERSION"
  check "mask_ip after the update" eq_q pgf_pkg_upgrade "SELECT forget.mask_ip('10.1.2.3')" "10.1.2.0/24"
else
  echo "# skipped the upgrade checks: no sql/pg_forget--0.1.0--*.sql upgrade script yet"
fi

echo "package: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
