#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server and CALLPILOT_TEST_POSTGRES_URL pointing at it:
#   scripts/with-postgres.sh cargo test --release -p store -p dialer
# Installs PostgreSQL (Debian package) when missing. When it cannot, it says why and exits 0, so
# a machine without PostgreSQL still passes (the tests report "PostgreSQL tests skipped").
# The cluster lives in a temp dir, listens on 127.0.0.1 only, and is stopped and removed on exit.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

skip() {
  echo "skipping PostgreSQL tests: $*" >&2
  exit 0
}

pg_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bindir)" ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "PostgreSQL not found: installing the postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends postgresql; } >&2 \
    || skip "apt-get install postgresql failed"
fi
BIN="$(pg_bindir)"
[ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ] || skip "no initdb/pg_ctl under /usr/lib/postgresql"

# PostgreSQL refuses to run as root: run the server as the `postgres` user then.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || skip "running as root and there is no postgres user"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

DIR="$(mktemp -d /tmp/callpilot-pg.XXXXXX)"
chmod 755 "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
DATA="$DIR/data"
# A free port: ask the kernel for one.
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)"
USER_NAME="callpilot"
PASSWORD="callpilot-test"

cleanup() {
  as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

echo "$PASSWORD" >"$DIR/pwfile"
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR/pwfile"
as_pg "$BIN/initdb" -D "$DATA" -U "$USER_NAME" --pwfile="$DIR/pwfile" -A scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; skip "initdb failed"; }
# fsync off: a throwaway test cluster need not survive a power cut, and tests run much faster.
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
  -o "-k $DIR -p $PORT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null \
  || { cat "$DIR/server.log" >&2; skip "the PostgreSQL server did not start"; }

export CALLPILOT_TEST_POSTGRES_URL="postgres://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/postgres"
echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data in $DATA)" >&2
"$@"
