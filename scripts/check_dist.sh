#!/usr/bin/env bash
# Builds the distributions and checks them the way a new user and a packager meet them:
#  1. the sdist and a wheel built from it (python -m build);
#  2. a wheel built again from the sdist with Node.js off the PATH (the sdist carries the
#     bundle: no npm needed), identical in content to the first;
#  3. on Python 3.10, 3.12 and 3.13 (the lowest supported, the one most installs have, the
#     highest; 3.11 runs the whole suite in .venv), from pyenv or the PATH (a missing one is
#     skipped with a line saying so; LUME_CHECK_PYTHONS="3.10 3.11" picks others), a clean
#     virtualenv with only the wheel:
#     scripts/smoke_test.py (import, serve, chat, ChatWidget), then the test tools and a quick
#     subset of the suite (unit tests, the client against the reference server, evaluations)
#     against the installed wheel.
# Prints the sizes, the install footprint and the import time.
# Run by scripts/test.sh after setup; usable alone: `bash scripts/check_dist.sh` (writes artifacts/dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
OUT=$ROOT/artifacts/dist
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lume-dist.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
unset PYTHONPATH  # everything below must import the installed wheel, never the checkout
QUICK_TESTS=(tests/test_core_*.py tests/test_client_reference.py tests/test_client_sync.py
  tests/test_evaluation_scenarios.py tests/test_evaluation_expectations.py
  tests/test_evaluation_runner.py tests/test_evaluation_reference.py tests/test_evaluation_cli.py
  tests/test_widget_model.py)

say() { printf '[dist] %s\n' "$*"; }
pip_quiet() {  # pip warns about find-links folders of some machines' global config that do not exist
  "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

rm -rf "$OUT" && mkdir -p "$OUT"
say "python -m build: sdist, then a wheel from it"
pip_quiet "$PY" -m build --outdir "$OUT" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
SDIST=$(ls "$OUT"/*.tar.gz)
WHEEL=$(ls "$OUT"/*.whl)

say "a wheel from the sdist with Node.js off the PATH"
NONODE=$WORK/no-node-bin
mkdir -p "$NONODE"
ln -s "$PY" "$NONODE/python"
if PATH=$NONODE command -v node >/dev/null || PATH=$NONODE command -v npm >/dev/null; then
  say "node is still reachable"; exit 1
fi
PATH=$NONODE python -m pip wheel -q --no-deps "$SDIST" -w "$WORK/from-sdist" >"$WORK/nonode.log" 2>&1 \
  || { cat "$WORK/nonode.log"; say "FAIL: no wheel from the sdist without Node"; exit 1; }
"$PY" - "$WHEEL" "$WORK"/from-sdist/*.whl "$SDIST" <<'PYEOF'
import sys, tarfile, zipfile
first, second, sdist = sys.argv[1:]
def content(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("RECORD")}
a, b = content(first), content(second)
if a != b:
    sys.exit(f"the two wheels differ: {sorted(set(a) ^ set(b)) or [n for n in a if a[n] != b[n]]}")
needed = ["lume_widget/static/widget.js", "lume_widget/static/widget.css",
          "lume_widget/static/THIRD_PARTY_LICENSES.txt", "lume_widget/py.typed"]
missing = [n for n in needed if n not in a]
licences = [n for n in a if "dist-info/licenses/" in n]
if missing or not any(n.endswith("/LICENSE") for n in licences):
    sys.exit(f"the wheel lacks {missing or 'LICENSE'}")
with tarfile.open(sdist) as t:
    names = t.getnames()
if not any(n.endswith("/LICENSE") for n in names) or not any(n.endswith("static/widget.js") for n in names):
    sys.exit("the sdist lacks LICENSE or the built bundle")
notices = a["lume_widget/static/THIRD_PARTY_LICENSES.txt"].decode()
for package in ("dompurify", "highlight.js", "marked"):
    if package not in notices:
        sys.exit(f"THIRD_PARTY_LICENSES.txt does not list {package}")
print(f"[dist] ok: both wheels identical ({len(a)} files), licences in dist-info: {len(licences)}")
PYEOF
"$PY" -m twine check --strict "$SDIST" "$WHEEL" >"$WORK/twine.log" 2>&1 || { cat "$WORK/twine.log"; exit 1; }
say "twine check --strict: the metadata and README render on the package index"
say "sizes: $(du -k "$SDIST" | cut -f1) KiB sdist, $(du -k "$WHEEL" | cut -f1) KiB wheel"

find_python() {  # the newest interpreter of version $1 (e.g. 3.10) on this machine, if any
  local want=$1 candidate
  local -a candidates=()
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want".*/bin/python"$want"; do
    [ -x "$candidate" ] && candidates+=("$candidate")
  done
  candidate=$(command -v "python$want" 2>/dev/null || true)
  [ -n "$candidate" ] && candidates+=("$candidate")
  [ "${#candidates[@]}" -gt 0 ] || return 1
  printf '%s\n' "${candidates[@]}" | sort -V -r | while read -r candidate; do
    if "$candidate" -c "import sys, venv; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$want')" 2>/dev/null; then
      echo "$candidate"; break
    fi
  done
}

check_python() {  # $1: version, $2: its interpreter; a clean venv, the wheel alone, the smoke
  # test, then the quick subset
  local want=$1 python=$2 venv started
  started=$SECONDS
  venv=$WORK/venv-$want
  say "Python $want ($python): clean virtualenv with the wheel only"
  "$python" -m venv "$venv"
  pip_quiet "$venv/bin/python" -m pip install -q --upgrade pip
  pip_quiet "$venv/bin/python" -m pip install -q "$WHEEL"
  say "Python $want: install footprint $(du -sm "$venv/lib" | cut -f1) MiB (site-packages with dependencies)"
  (cd "$WORK" && "$venv/bin/python" -c "import lume_widget" && "$venv/bin/python" -X importtime -c "import lume_widget" 2>"$WORK/importtime-$want.txt" \
    && say "Python $want: import lume_widget $(tail -1 "$WORK/importtime-$want.txt" | awk -F'|' '{printf "%.0f ms", $2/1000}') (cumulative, -X importtime, bytecode cached)")
  (cd "$WORK" && "$venv/bin/python" "$ROOT/scripts/smoke_test.py")
  say "Python $want: test tools (dependency group 'test'), then the quick subset"
  pip_quiet "$venv/bin/python" -m pip install -q --group test
  # The tests import each other as `tests.*`, so they run from a copy beside (not inside) a
  # checkout: the installed wheel is the only lume_widget they can import.
  local suite=$WORK/suite
  if [ ! -d "$suite" ]; then
    mkdir -p "$suite" && cp -r tests examples pyproject.toml "$suite/"
  fi
  # What this run checks is that the code works on this Python; a test that fails, then passes
  # when run again alone, failed on timing (a loaded machine), and is named, not hidden.
  local cache=$WORK/pytest-cache-$want
  if ! (cd "$suite" && "$venv/bin/python" -m pytest -q -o cache_dir="$cache" "${QUICK_TESTS[@]}"); then
    local failed
    failed=$("$venv/bin/python" -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))))' \
      "$cache/v/cache/lastfailed" 2>/dev/null || echo "(see above)")
    say "Python $want: failed: $failed; running them again, alone"
    (cd "$suite" && "$venv/bin/python" -m pytest -q -o cache_dir="$cache" --last-failed "${QUICK_TESTS[@]}")
    say "Python $want: they passed when run again alone: a timing failure on a loaded machine"
  fi
  say "Python $want: done in $((SECONDS - started)) s"
}

TESTED=() SKIPPED=()
for version in ${LUME_CHECK_PYTHONS:-3.10 3.12 3.13}; do
  python=$(find_python "$version" || true)
  if [ -n "$python" ]; then
    check_python "$version" "$python"
    TESTED+=("$version")
  else
    say "SKIP Python $version: no python$version found (pyenv versions or PATH); install it (pyenv install $version) to test it"
    SKIPPED+=("$version")
  fi
done
say "the wheel was tested on Python ${TESTED[*]:-(none)}${SKIPPED[*]:+; skipped (not installed): ${SKIPPED[*]}}"
