#!/usr/bin/env bash
# Run the whole test suite against a real PostgreSQL that this script starts itself.
#   Installs what is missing (.venv with the dev group, PostgreSQL and Redis from apt), starts a
#   private PostgreSQL cluster on 127.0.0.1:$CI_PGPORT (default 55432; an already running server
#   on that port is reused) and Redis on 127.0.0.1:6379, checks that no migration is missing,
#   then runs pytest in 2 processes. Arguments go to pytest: bash scripts/test.sh tests/pricing -x
# Idempotent; recovers from a killed PostgreSQL (stale postmaster.pid). Set-up messages go to
# stderr, so pytest's summary is the last line printed. Exit status: pytest's, and 1 when no test
# was collected.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive UV_PYTHON_DOWNLOADS=never

t0=$(date +%s%N)
lap() {
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '[test] %-34s %d.%03ds\n' "$1" $((ms / 1000)) $((ms % 1000)) >&2
}
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# 1. System packages, only what is missing.
missing=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the admin's browser tests (Playwright)
if ((${#missing[@]})); then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
lap "apt (${missing[*]:-nothing missing})"

# 2. Python dependencies from uv.lock (with the dev group).
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
venv_sync
lap "python dependencies"

# 3. PostgreSQL: reuse a server answering on the port, or start a private throw-away cluster.
PGPORT=${CI_PGPORT:-55432}
PGBASE=${CI_PGBASE:-/tmp/ci-pg-$PGPORT}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
  lap "postgres already up on $PGPORT"
else
  if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres "$PGBASE"; else mkdir -p "$PGBASE"; fi
  if [ ! -f "$PGBASE/data/PG_VERSION" ]; then
    as_postgres "$PGBIN/initdb" -D "$PGBASE/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
  fi
  # A killed server leaves postmaster.pid and the socket's lock file behind: remove them unless
  # their process still runs in this data directory (a killed postmaster can stay a zombie until
  # init reaps it, its pid can be reused, and its backends need a moment to notice it is gone:
  # hence the retries).
  datadir=$(cd "$PGBASE/data" && pwd -P)
  remove_stale_lock() {
    local lockfile=$1 oldpid oldstat
    [ -f "$lockfile" ] || return 0
    oldpid=$(head -1 "$lockfile")
    oldstat=$(cat "/proc/$oldpid/stat" 2>/dev/null || true)
    if [[ -z "$oldpid" || "$oldstat" != *"(postgres) "[RSDT]* \
          || "$(readlink "/proc/$oldpid/cwd" 2>/dev/null)" != "$datadir" ]]; then
      echo "[test] removing stale $lockfile (pid ${oldpid:-?} is not running)" >&2
      rm -f "$lockfile"
    fi
  }
  for attempt in 1 2 3 4 5; do
    remove_stale_lock "$PGBASE/data/postmaster.pid"
    remove_stale_lock "$PGBASE/.s.PGSQL.$PGPORT.lock"
    if as_postgres "$PGBIN/pg_ctl" -D "$PGBASE/data" -l "$PGBASE/log" -w -t 60 -o \
      "-p $PGPORT -k $PGBASE -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >&2; then
      break
    fi
    if [ "$attempt" = 5 ]; then tail -20 "$PGBASE/log" >&2; exit 1; fi
    echo "[test] PostgreSQL did not start (attempt $attempt), retrying" >&2
    sleep 2
  done
  lap "postgres started on $PGPORT ($PGBASE)"
fi
DBNAME=${CI_DBNAME:-credits}
psql_admin() { psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'credits'")" != 1 ]; then
  psql_admin -c "CREATE ROLE credits" >&2
fi
# A throw-away test cluster: pytest-django creates test_<name> databases, and some tests turn the
# ledger's append-only trigger off (session_replication_role), which needs a superuser.
psql_admin -c "ALTER ROLE credits LOGIN SUPERUSER" >&2
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE \"$DBNAME\" OWNER credits" >&2
fi

# 4. Redis on loopback (the Celery broker of the tests; later issues use it more).
RPORT=${CI_REDIS_PORT:-6379}
if ! redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null | grep -q PONG; then
  redis-server --bind 127.0.0.1 --port "$RPORT" --daemonize yes --save '' --appendonly no \
    --dir /tmp --pidfile "/tmp/ci-redis-$RPORT.pid" --logfile "/tmp/ci-redis-$RPORT.log" >&2
  for _ in $(seq 100); do
    redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$RPORT" ping >/dev/null
fi
lap "postgres and redis ready"

# 5. Checks and tests.
export DATABASE_URL="postgres://credits@127.0.0.1:$PGPORT/$DBNAME"
export CELERY_BROKER_URL="redis://127.0.0.1:$RPORT/0"
export DJANGO_SETTINGS_MODULE=credits_project.settings
unset CACHE_URL
.venv/bin/python manage.py makemigrations --check --dry-run >&2 \
  || { echo "[test] models and migrations disagree: run manage.py makemigrations" >&2; exit 1; }
lap "makemigrations --check"

rc=0
.venv/bin/pytest -n 2 -p no:cacheprovider "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  exit 1  # pytest collected nothing: a suite that tests nothing must not pass
fi
exit "$rc"
