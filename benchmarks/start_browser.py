"""Start in the browser: a notebook cell ``ChatWidget()`` in JupyterLab to the panel's first frame.

One throwaway JupyterLab (the end-to-end tests' ``tests/e2e``: temp root, config and
settings, loopback only) in Debian's chromium. Each run opens a notebook of its own, so a
fresh kernel (no embedded server yet, nothing imported), waits until it is idle, then runs
one cell; the clock starts at Shift+Enter in the page. Ours is ``ChatWidget()`` on the
embedded server: the time to the panel's first frame (its root in the page) and to its
status badge saying connected. The peer is the same cell with ``ipywidgets.IntSlider()``:
the least a widget costs from a fresh kernel to the page (the widget stack's import and one
comm round trip). The two alternate run by run. Full runs only: JupyterLab's own start
would take most of the ``--quick`` budget.

Playwright's sync API cannot run inside a running event loop: this runs in a worker thread.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Skip

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"
CASES = {
    "ChatWidget()": ("from lume_widget import ChatWidget\nChatWidget()", ".lume-chat"),
    "IntSlider()": ("import ipywidgets\nipywidgets.IntSlider()", ".widget-slider"),
}
CONNECTED = ".lume-chat .lume-badge--status.lume-badge--connected"
TIMEOUT_MS = 60_000

# Records, from the moment it is installed, when each selector first matches (performance.now()).
_WATCH = """([selectors]) => {
  window.__startSeen = {};
  const look = () => {
    for (const s of selectors) if (!(s in window.__startSeen) && document.querySelector(s))
      window.__startSeen[s] = performance.now();
    if (Object.keys(window.__startSeen).length < selectors.length) requestAnimationFrame(look);
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true});
  requestAnimationFrame(look);
}"""


def _e2e() -> tuple[Any, Any]:
    if not Path("/usr/bin/chromium").exists():
        raise Skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))
    try:
        from e2e import lab, page
    except ImportError as exc:
        raise Skip(f"the end-to-end helpers (tests/e2e) cannot be imported: {exc}") from exc
    return lab, page


def _one(browser: Any, lab: Any, pages: Any, name: str, case: str) -> dict[str, float]:
    code, root = CASES[case]
    lab_module = sys.modules["e2e.lab"]
    lab_module.write_notebook(lab.root / name, [code])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        pages.open_notebook(page, lab.notebook_url(name))
        selectors = [root, CONNECTED] if case == "ChatWidget()" else [root]
        page.evaluate(_WATCH, [selectors])
        page.locator(".jp-Notebook .jp-Cell").first.locator(".cm-content").click()
        started = float(page.evaluate("performance.now()"))
        page.keyboard.press("Shift+Enter")
        page.wait_for_function(
            "(n) => Object.keys(window.__startSeen).length === n",
            arg=len(selectors),
            timeout=TIMEOUT_MS,
        )
        seen: dict[str, float] = page.evaluate("window.__startSeen")
        names = {root: "first_frame_ms", CONNECTED: "connected_ms"}
        return {names[selector]: at - started for selector, at in seen.items()}
    finally:
        context.close()
        lab.close_sessions(name)


def measure(rounds: int) -> dict[str, Any]:
    """``rounds`` runs of each case, alternating, after one unmeasured run of each."""
    lab_module, pages = _e2e()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="lume-bench-start-lab-") as work:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUME_")}
        env["LUME_DATA_DIR"] = str(Path(work) / "data")
        lab = lab_module.start_lab(Path(work), env)
        try:
            with sync_playwright() as playwright:
                browser = pages.launch(playwright)
                try:
                    runs: dict[str, list[dict[str, float]]] = {case: [] for case in CASES}
                    order = list(CASES)
                    for case in order:
                        _one(browser, lab, pages, f"warm-{case[:-2]}.ipynb", case)
                    for index in range(rounds):
                        for case in order if index % 2 == 0 else order[::-1]:
                            name = f"run{index}-{case[:-2]}.ipynb"
                            runs[case].append(_one(browser, lab, pages, name, case))
                finally:
                    browser.close()
        finally:
            lab.stop()
    ours, peer = runs["ChatWidget()"], runs["IntSlider()"]
    return {
        "rounds": rounds,
        "first_frame_ms": statistics.median(r["first_frame_ms"] for r in ours),
        "connected_ms": statistics.median(r["connected_ms"] for r in ours),
        "peer_first_frame_ms": statistics.median(r["first_frame_ms"] for r in peer),
        "runs": {
            case: [{k: round(v, 1) for k, v in r.items()} for r in found]
            for case, found in runs.items()
        },
    }
