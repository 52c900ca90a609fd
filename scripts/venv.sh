#!/usr/bin/env bash
# Create or update .venv in the repository root from uv.lock (dependencies and the dev group).
# Needs only python3 >= 3.11: uv is installed into .venv with pip; if uv fails, pip installs the
# same pinned versions (constraints read from uv.lock). Sourced by quickstart.sh and test.sh,
# or run alone: `bash scripts/venv.sh`. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export UV_PYTHON_DOWNLOADS=never PIP_DISABLE_PIP_VERSION_CHECK=1
export UV_PROJECT_ENVIRONMENT="$PWD/.venv"  # uv sync installs into this venv, with its python

venv_log() { printf '[venv] %s\n' "$*" >&2; }

venv_pip_fallback() {
  # Same pins as uv.lock: the declared requirements, constrained to the locked versions.
  local tmp
  tmp=$(mktemp -d)
  .venv/bin/python - "$tmp" <<'PY'
import sys
import tomllib
from pathlib import Path

out = Path(sys.argv[1])
project = tomllib.loads(Path("pyproject.toml").read_text())
lock = tomllib.loads(Path("uv.lock").read_text())
requirements = list(project["project"]["dependencies"])
requirements += [r for r in project.get("dependency-groups", {}).get("dev", []) if isinstance(r, str)]
pins = [f"{p['name']}=={p['version']}" for p in lock["package"]
        if "registry" in p.get("source", {})]
(out / "requirements.txt").write_text("\n".join(requirements) + "\n")
(out / "constraints.txt").write_text("\n".join(pins) + "\n")
PY
  .venv/bin/python -m pip install -q -r "$tmp/requirements.txt" -c "$tmp/constraints.txt" >&2
  rm -rf "$tmp"
}

venv_sync() {
  if [ ! -x .venv/bin/python ]; then
    venv_log "creating .venv with $(python3 --version 2>&1)"
    python3 -m venv .venv
  fi
  if [ ! -x .venv/bin/uv ]; then
    # A venv made by uv has no pip: bootstrap it first.
    .venv/bin/python -m pip --version >/dev/null 2>&1 || .venv/bin/python -m ensurepip >/dev/null
    .venv/bin/python -m pip install -q uv >&2 || venv_log "could not install uv; using pip"
  fi
  # --inexact: an exact sync would uninstall uv and pip themselves from a venv made by uv.
  if [ -x .venv/bin/uv ] && .venv/bin/uv sync --frozen --group dev --inexact --quiet >&2; then
    venv_log "dependencies in sync with uv.lock (uv)"
  else
    venv_log "uv sync failed or uv missing: installing the locked versions with pip"
    .venv/bin/python -m pip --version >/dev/null 2>&1 || .venv/bin/python -m ensurepip >/dev/null
    venv_pip_fallback
    venv_log "dependencies installed (pip)"
  fi
}

# Run directly: just sync.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  venv_sync
fi
