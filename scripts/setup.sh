#!/usr/bin/env bash
# Sets up everything lume_widget needs on a fresh Debian machine, idempotently:
# Debian's chromium (browser tests), a virtualenv in .venv with the package (editable), its
# user-facing extras and the `dev` dependency group (pyproject.toml), and the front end's npm
# packages; the editable install bundles js/ into lume_widget/static/. The front end needs
# Node.js >= 20.19 (js/package.json): with an older one this stops and says how to get one.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

NODE_NEEDED=20.19
node_too_old() {  # true when $1 (a version like v18.19.0 or 18.19.0) is older than NODE_NEEDED
  [ "$(printf '%s\n%s\n' "$NODE_NEEDED" "${1#v}" | sort -V | head -1)" != "$NODE_NEEDED" ]
}
stop_for_node() {
  printf '\033[1m[setup]\033[0m %s\n' \
    "The front end (js/: esbuild, vitest 4, jsdom 27) needs Node.js >= $NODE_NEEDED; $1." \
    "Get one from https://nodejs.org/en/download (or with nvm: 'nvm install 22'), put it first" \
    "on the PATH, and run this again. Debian 12's nodejs package is 18, too old." >&2
  exit 1
}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if command -v node >/dev/null 2>&1; then
  node_version=$(node --version)
  node_too_old "$node_version" && stop_for_node "this machine's node is $node_version ($(command -v node))"
  command -v npm >/dev/null 2>&1 || need_apt+=(npm)
else
  # Debian's nodejs only when it is new enough (Debian 13's is 20.19; Debian 12's is 18).
  $SUDO apt-get update -qq
  candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ] || node_too_old "${candidate#*:}"; then
    stop_for_node "node is not installed and Debian offers ${candidate:-no nodejs package}"
  fi
  need_apt+=(nodejs npm)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" fonts-dejavu-core >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
# pip >= 25.1 reads the dependency groups (PEP 735) of pyproject.toml: `--group dev`.
.venv/bin/python -m pip install -q --upgrade "pip>=25.1" >/dev/null

log "installing npm packages (js/)"
(cd js && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)

log "installing lume-widget (editable) and the dev dependency group into .venv"
# pip warns about find-links folders of some machines' global config that do not exist; that noise hides real errors.
.venv/bin/python -m pip install -q -e . --group dev 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

log "ready: activate with 'source .venv/bin/activate'"
