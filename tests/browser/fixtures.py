"""Pytest fixtures of the panel's browser tests: the built bundle, the test page, chromium.

Imported by each tests/test_frontend_*.py module (module-scoped fixtures: one page server
and one browser per module).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from browser.panel_page import (
    BROWSER_DIR,
    CHROMIUM,
    CHROMIUM_ARGS,
    JS_DIR,
    STATIC,
    PageHandler,
    Panel,
    bundle_is_stale,
)

__all__ = ["browser", "bundle", "page_url", "panel"]


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The built front end; rebuilt first when js/src is newer than it."""
    if bundle_is_stale():
        npm = shutil.which("npm")
        if npm is None or not (JS_DIR / "node_modules").exists():
            pytest.fail(
                "lume_widget/static/widget.js is missing or older than js/src and npm cannot "
                "rebuild it here; run `cd js && npm ci && npm run build` (or scripts/setup.sh)."
            )
        subprocess.run([npm, "run", "build", "--silent"], cwd=JS_DIR, check=True)
    return STATIC / "widget.js"


@pytest.fixture(scope="module")
def page_url(bundle: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(PageHandler, directory=str(BROWSER_DIR)))
    thread = threading.Thread(target=server.serve_forever, name="panel-page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: install it with `apt-get install chromium`.")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def panel(browser: Browser, page_url: str) -> Iterator[Panel]:
    context = browser.new_context(viewport={"width": 960, "height": 760}, device_scale_factor=1)
    page = context.new_page()
    page.goto(page_url)
    page.wait_for_function("() => window.lumeReady === true")
    try:
        yield Panel(page)
    finally:
        context.close()
