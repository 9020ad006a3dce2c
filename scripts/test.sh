#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the whole test suite: lint, types,
# the front end's unit tests, the documentation site (warnings are errors), the distributions (scripts/check_dist.sh: sdist and wheel, a
# wheel from the sdist without Node, a clean install with a smoke test and a quick subset of
# the suite on Python 3.10, 3.12 and 3.13), and pytest on this Python (unit, integration over
# loopback, notebooks, and end-to-end in Debian's chromium); the benchmarks run first in their
# quick form (figures printed and written to artifacts/, never asserted). Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"; ruff check lume_widget tests benchmarks scripts
echo "== mypy"; mypy
echo "== vitest (js/)"; (cd js && npm test --silent)
echo "== docs (mkdocs --strict: the docs/ pages and the API reference from the docstrings)"
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet
echo "== distributions (sdist, wheel, Python 3.10, 3.12 and 3.13)"; bash scripts/check_dist.sh
echo "== benchmarks (--quick: figures reported, not asserted)"; python -m benchmarks --quick
echo "== pytest"; pytest "$@"
