#!/usr/bin/env bash
# Sets up everything lume_widget needs on a fresh Debian machine, idempotently:
# Debian's chromium (browser tests), a virtualenv in .venv with the package and its dev
# extras (editable), and the front end's npm packages; the editable install bundles js/
# into lume_widget/static/.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" fonts-dejavu-core >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null

log "installing npm packages (js/)"
(cd js && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)

log "installing lume-widget and its dev extras into .venv"
# pip warns about find-links folders of some machines' global config that do not exist; that noise hides real errors.
.venv/bin/python -m pip install -q -e ".[dev]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

log "ready: activate with 'source .venv/bin/activate'"
