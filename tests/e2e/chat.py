"""Playwright helpers for using the chat panel in a notebook page: send, wait for a reply."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from e2e.lab import Lab, write_notebook
from e2e.page import run_cell


def send(page: Page, text: str) -> None:
    """Click into the message box, type ``text`` and press Enter."""
    box = page.locator(".lume-input")
    box.click()
    box.fill(text)
    box.press("Enter")


def send_and_wait(page: Page, text: str, timeout_ms: float) -> None:
    """Send ``text`` and wait until its reply is complete and the box is free again."""
    finished = page.locator(".lume-row--assistant:not(.lume-row--draft)")
    before = finished.count()
    send(page, text)
    expect(finished).to_have_count(before + 1, timeout=timeout_ms)
    expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=timeout_ms)
    expect(page.locator(".lume-stop")).to_be_hidden(timeout=timeout_ms)
    expect(page.locator(".lume-send")).to_be_enabled(timeout=timeout_ms)


def reply_text(page: Page) -> str:
    """The text of the last assistant message in the panel.

    Read from the DOM (``textContent``): rows scrolled out of view skip rendering
    (``content-visibility: auto``), and the rendered text (``innerText``) of a skipped row
    reads as empty although the row is there.
    """
    return page.locator(".lume-row--assistant .lume-md").last.text_content() or ""


def draft_length(page: Page) -> int:
    """Characters of the reply being streamed (0 when none)."""
    draft = page.locator(".lume-row--draft .lume-md")
    return len(draft.text_content() or "") if draft.count() else 0


def wait_for_streaming(page: Page, at_least: int, timeout_ms: float) -> int:
    """Wait until the streaming draft shows at least ``at_least`` characters; returns its length."""
    page.wait_for_function(
        """(n) => { const d = document.querySelector('.lume-row--draft .lume-md');
                    return d && d.textContent.length >= n; }""",
        arg=at_least,
        timeout=timeout_ms,
    )
    return draft_length(page)


def open_chat(browser: Browser, host: Lab, name: str, cell: str, timeout_ms: float) -> Page:
    """Write a notebook ``name`` whose first cell is ``cell``, open it in ``host`` in a context
    of its own, run that cell and wait until the chat panel is connected. Returns the page
    (close ``page.context`` when done)."""
    write_notebook(host.root / name, [cell, ""])
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(host.notebook_url(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms * 2)
    host.wait_for_kernel_idle(name)
    run_cell(page, 0)
    expect(page.locator(".lume-chat")).to_be_visible(timeout=timeout_ms)
    expect(page.locator(".lume-send")).to_be_enabled(timeout=timeout_ms)
    return page
