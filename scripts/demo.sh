#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then opens the quick-start notebook in JupyterLab,
# chatting with the embedded reference server. Extra arguments go to `lume-widget demo`
# (for example --no-browser, --port 8899, or --execute to run the demo notebooks headless).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/lume-widget demo "$@"
