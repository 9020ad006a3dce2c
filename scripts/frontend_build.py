"""The front-end step of the Python build (hatch-jupyter-builder's ``build-function``).

``pip install``, ``python -m build`` and editable installs call :func:`build`, which bundles
``js/`` into ``lume_widget/static/`` when the bundle is missing or older than any of its
inputs: ``js/src``, ``js/package.json``, ``js/package-lock.json`` and ``js/build.mjs``. The npm
packages come from the lock file (``npm ci``), installed again only when the lock file is newer
than ``js/node_modules``. An sdist carries the built files, and ``skip-if-exists`` in
pyproject.toml skips this step there, so a wheel builds from the sdist without Node.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

NODE_NEEDED = (20, 19)
INPUTS = ("src", "package.json", "package-lock.json", "build.mjs", "notices.mjs")
OUTPUTS = ("widget.js", "widget.css", "THIRD_PARTY_LICENSES.txt")
HOW_TO_GET_NODE = (
    "install Node.js 20.19 or newer from https://nodejs.org/en/download (or with nvm: "
    "'nvm install 22'; Debian 12's nodejs package is 18, too old), or install lume-widget "
    "from a wheel or an sdist, which carry the built bundle"
)


def _newest_mtime(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)


def is_stale(js_dir: Path, build_dir: Path) -> bool:
    """Whether any output is missing or older than the newest input."""
    outputs = [build_dir / name for name in OUTPUTS]
    if not all(p.is_file() for p in outputs):
        return True
    oldest_output = min(p.stat().st_mtime for p in outputs)
    newest_input = max(_newest_mtime(js_dir / name) for name in INPUTS if (js_dir / name).exists())
    return newest_input > oldest_output


def node_problem() -> str | None:
    """Why this machine's Node.js cannot build the front end, or None when it can."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return f"Node.js and npm are not on the PATH; {HOW_TO_GET_NODE}."
    found = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    match = re.match(r"v(\d+)\.(\d+)", found)
    if match is None or (int(match[1]), int(match[2])) < NODE_NEEDED:
        return f"Node.js {found or '(unknown version)'} is too old; {HOW_TO_GET_NODE}."
    return None


def build(
    target_name: str, version: str, *, path: str = "js", build_dir: str = "lume_widget/static"
) -> None:
    """Bundle the front end if it is stale (``target_name``/``version`` come from hatch)."""
    js_dir, out_dir = Path(path).resolve(), Path(build_dir).resolve()
    if not is_stale(js_dir, out_dir):
        print("lume-widget front end: up to date")
        return
    problem = node_problem()
    if problem is not None:
        raise RuntimeError(f"Building the lume-widget front end (js/) needs Node.js: {problem}")
    npm = shutil.which("npm")
    assert npm is not None
    installed = js_dir / "node_modules" / ".package-lock.json"
    lock = js_dir / "package-lock.json"
    if not installed.is_file() or lock.stat().st_mtime > installed.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=js_dir, check=True)
    subprocess.run([npm, "run", "build"], cwd=js_dir, check=True)
