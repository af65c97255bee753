#!/usr/bin/env bash
# cdp developer entry point. Two commands on a fresh machine (Python 3.11+):
#   bash dev.sh demo   install into .venv, migrate, load demo data, print API keys, serve on :8000
#   bash dev.sh test   install into .venv, run linters and the test suite (SQLite; PostgreSQL too if reachable)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv

install() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.cdp-installed" want
  want=$(cat pyproject.toml | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing cdp and its dependencies into $VENV (first run takes a minute)" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
    echo "$want" > "$stamp"
  fi
}

pg_url_default="postgresql+psycopg://postgres@127.0.0.1:5432/test"

pg_reachable() {
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, psycopg
from sqlalchemy import make_url
u = make_url(sys.argv[1])
psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, connect_timeout=3).close()
PY
}

ensure_pg() {
  local url=$1
  pg_reachable "$url" && return 0
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting the local PostgreSQL server" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 20); do pg_reachable "$url" && return 0; sleep 1; done
  fi
  return 1
}

run_pytest() {
  local label=$1; shift
  echo "== test suite on $label ==" >&2
  set +e
  "$VENV/bin/python" -m pytest "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests on $label: the suite is missing, refusing to pass" >&2
    return 1
  fi
  return "$rc"
}

cmd_test() {
  install
  echo "== lint: ruff, mypy, import-linter ==" >&2
  "$VENV/bin/ruff" check .
  "$VENV/bin/mypy"
  "$VENV/bin/lint-imports" --no-cache
  local pg_url=${CDP_TEST_DATABASE_URL:-$pg_url_default}
  if ! ensure_pg "$pg_url"; then
    if [ "${CDP_REQUIRE_POSTGRES:-0}" = "1" ]; then
      echo "error: PostgreSQL at $pg_url is not reachable and CDP_REQUIRE_POSTGRES=1" >&2
      return 1
    fi
    echo "note: PostgreSQL not reachable at $pg_url; running the suite on SQLite only" >&2
    run_pytest sqlite --basetemp "$(mktemp -d)/sqlite" "$@"
    return
  fi
  # Both backends at once, one per core: the PostgreSQL run writes to a log shown when it ends.
  local work pg_log pg_pid sqlite_rc=0 pg_rc=0
  work=$(mktemp -d)
  pg_log="$work/postgresql.log"
  (CDP_TEST_DATABASE_URL=$pg_url run_pytest postgresql --basetemp "$work/postgresql" "$@") >"$pg_log" 2>&1 &
  pg_pid=$!
  run_pytest sqlite --basetemp "$work/sqlite" "$@" || sqlite_rc=$?
  wait "$pg_pid" || pg_rc=$?
  cat "$pg_log"
  rm -rf "$work"
  echo "== sqlite: exit $sqlite_rc, postgresql: exit $pg_rc ==" >&2
  [ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]
}

cmd_demo() {
  install
  exec "$VENV/bin/cdp" demo "$@"
}

case "${1:-}" in
  test) shift; cmd_test "$@" ;;
  demo) shift; cmd_demo "$@" ;;
  install) install ;;
  *) echo "usage: bash dev.sh demo|test|install [args]" >&2; exit 2 ;;
esac
