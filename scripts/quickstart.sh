#!/usr/bin/env bash
# Quick start: set everything up and run the service locally until Ctrl-C.
#   .venv from uv.lock, migrations (with the default pricing), a demo staff login printed once,
#   demo data loaded once (a week of history; DEBUG only), then a Celery worker with embedded
#   beat and the dev server on 127.0.0.1:8000.
# Embedded defaults: PostgreSQL from a pip wheel with its data in var/postgres (reached by a Unix
# socket there, no TCP port) and the Celery broker on the filesystem (var/celery), so nothing
# else needs to be installed or running. Ctrl-C stops the web server, the worker and the
# database. Any setting can be overridden from the environment (see README), e.g.
# DEV_ADDR=127.0.0.1:8001 bash scripts/quickstart.sh, or DATABASE_URL=postgres://… to use a
# PostgreSQL that runs elsewhere (then nothing is started for it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[quickstart] %s\n' "$*" >&2; }

DEV_ADDR=${DEV_ADDR:-127.0.0.1:8000}
# The web server's address must be free (another quick start, from this or another checkout?).
if ! python3 - "$DEV_ADDR" <<'PY'
import socket, sys
host, _, port = sys.argv[1].rpartition(":")
with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver; LISTEN still fails
    try:
        probe.bind((host.strip("[]") or "127.0.0.1", int(port)))
    except (OSError, ValueError):
        sys.exit(1)
PY
then
  log "error: $DEV_ADDR is in use or not an address (another quick start?): choose another, e.g. DEV_ADDR=127.0.0.1:8001 bash scripts/quickstart.sh"
  exit 1
fi

# shellcheck source=scripts/venv.sh
source scripts/venv.sh
venv_sync

export DEBUG=${DEBUG:-1}
export DJANGO_SETTINGS_MODULE=credits_project.settings
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-filesystem://}
PY=.venv/bin/python

# Stopping: the web server and the worker first, the database holder last (see stop_all).
pids=()
db_pid=""
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM
  if ((${#pids[@]})); then
    log "stopping the web server and the worker"
    local pid
    # The leaders first (Celery's warm shutdown stops its own pool), then the groups' leftovers.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 100); do          # up to 10 s for a warm shutdown
      local alive=0
      for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  fi
  if [ -n "$db_pid" ]; then
    # The holder stops the embedded PostgreSQL unless another process still uses it.
    kill -TERM "$db_pid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  log "stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  # One line and exit 1 if it cannot start (socket in use, other major version, no space...).
  $PY -m credits_project.localdb start >/dev/null
  # Held until Ctrl-C by a process of its own: commands run meanwhile reuse the same server.
  setsid $PY -m credits_project.localdb serve &
  db_pid=$!
fi

log "applying migrations (the default pricing is published by a data migration)"
$PY manage.py migrate --noinput -v 0

debug_on=$($PY -c 'import django; django.setup(); from django.conf import settings; print(int(settings.DEBUG))')
if [ "$debug_on" = 1 ]; then
  $PY manage.py ensure_demo_admin --address "$DEV_ADDR"  # the login's URL: where it really runs
  # Idempotent: the first start loads it, later starts say it is already there.
  log "loading the demo data (accounts, credits, resources, a week of lifecycle runs)"
  LOG_LEVEL=WARNING $PY manage.py load_demo_data
else
  log "DEBUG is off: no demo login is created (use: $PY manage.py createsuperuser)"
  log "DEBUG is off: no demo data is loaded"
fi

# Each child gets its own process group (setsid), so stopping it also stops what it started
# (Celery's pool processes, the dev server's autoreloader child).
setsid .venv/bin/celery -A credits_project worker --beat \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler \
  --loglevel INFO --concurrency 1 &
pids+=($!)
setsid $PY manage.py runserver "$DEV_ADDR" &
pids+=($!)

log "admin: http://$DEV_ADDR/admin/   API docs: http://$DEV_ADDR/api/docs/   Ctrl-C stops everything"
# Whichever stops first (or Ctrl-C) stops the other.
rc=0
wait -n || rc=$?
log "a process exited (status $rc)"
exit "$rc"
