#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the whole test suite: lint, types,
# the front end's unit tests, and pytest (unit, integration over loopback, notebooks,
# and end-to-end in Debian's chromium); the benchmarks run first in their quick form (figures
# printed and written to artifacts/, never asserted). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"; ruff check lume_widget tests benchmarks
echo "== mypy"; mypy
echo "== vitest (js/)"; (cd js && npm test --silent)
echo "== benchmarks (--quick: figures reported, not asserted)"; python -m benchmarks --quick
echo "== pytest"; pytest "$@"
