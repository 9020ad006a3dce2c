"""Playwright helpers for driving a notebook in JupyterLab: open, wait for the kernel, run code."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
KERNEL_TIMEOUT_MS = 60_000


def launch(playwright: Playwright) -> Browser:
    """Debian's chromium, headless (Playwright's own browsers are never downloaded)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_for_kernel_idle(page: Page, timeout_ms: float = KERNEL_TIMEOUT_MS) -> None:
    """Wait until the status bar says the notebook's kernel is idle."""
    expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\|\s*Idle"))).to_be_visible(
        timeout=timeout_ms
    )


def open_notebook(page: Page, url: str) -> None:
    """Open a notebook and wait until its kernel is ready."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=KERNEL_TIMEOUT_MS)
    wait_for_kernel_idle(page)


def executed_cells(page: Page) -> int:
    """How many code cells show an execution count."""
    prompts = page.locator(".jp-Cell .jp-InputArea-prompt").all_inner_texts()
    return sum(1 for text in prompts if re.search(r"\[\d+\]", text))


def run_cell(page: Page, index: int) -> None:
    """Run the code cell at ``index`` with Shift+Enter and wait until it has run."""
    before = executed_cells(page)
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        """(before) => [...document.querySelectorAll('.jp-Cell .jp-InputArea-prompt')]
              .filter(p => /\\[\\d+\\]/.test(p.textContent)).length > before""",
        arg=before,
        timeout=KERNEL_TIMEOUT_MS,
    )


def start_code(page: Page, code: str) -> int:
    """Type ``code`` into the notebook's last cell and start it; returns the count of run cells."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    last = cells.nth(cells.count() - 1)
    last.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)
    before = executed_cells(page)
    page.keyboard.press("Shift+Enter")
    return before


def wait_for_cells(page: Page, before: int) -> None:
    """Wait until more than ``before`` cells show an execution count."""
    page.wait_for_function(
        """(before) => [...document.querySelectorAll('.jp-Cell .jp-InputArea-prompt')]
              .filter(p => /\\[\\d+\\]/.test(p.textContent)).length > before""",
        arg=before,
        timeout=KERNEL_TIMEOUT_MS,
    )


def run_code(page: Page, code: str) -> None:
    """Type ``code`` into the notebook's last cell and run it (the kernel keeps serving the widget)."""
    wait_for_cells(page, start_code(page, code))


def screenshot(page: Page, name: str) -> Path:
    """Save ``artifacts/screenshots/jupyterlab-<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"jupyterlab-{name}.png"
    page.screenshot(path=str(path))
    return path
