"""The chat panel's built front end: where ChatWidget finds it, and what it shows without it.

``cd js && npm run build`` (or the Python build) writes ``lume_widget/static/widget.js`` and
``widget.css``; a source checkout that was never built gets a stand-in that says how to build.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLE_CSS", "BUNDLE_JS", "FALLBACK_ESM", "MISSING_BUNDLE", "STATIC_DIR", "bundle"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
BUNDLE_JS = STATIC_DIR / "widget.js"
BUNDLE_CSS = STATIC_DIR / "widget.css"
MISSING_BUNDLE = (
    "The chat panel's front end is not built ({path} is missing). Run scripts/setup.sh "
    "(or 'npm install && npm run build' in js/) and try again."
)

FALLBACK_ESM = """
function render({ el }) {
  el.textContent = "The lume_widget front end is not built: run scripts/setup.sh, then re-run this cell.";
}
export default { render };
"""


def bundle(path: Path, fallback: str) -> Path | str:
    """The built file when it exists; otherwise a stand-in, and ``__init__`` explains."""
    return path if path.is_file() else fallback
