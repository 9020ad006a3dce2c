"""Finished messages as blocks, in JupyterLab and Notebook 7: reload, saved notebook, long history.

The transcript reaches the page as a chain of block models (docs/widget-protocol.md): these
tests check, in both hosts, that a browser reload against the live kernel shows every finished
turn with its text (the kernel sends every model's state), and that a notebook saved with its
widget state and opened again without the kernel shows the transcript. Each host is started
on a free loopback port with a temp root; its kernels reach a reference server started here.
Screenshots go to ``artifacts/screenshots/<host>-history-*.png``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import scaled

from lume_widget.server import ReferenceServer, ServerConfig
from lume_widget.widget.history import OPEN_MESSAGES, PAGE_MESSAGES, WINDOW_MESSAGES

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path("/usr/bin/chromium").exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        "Debian's chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True
    )

from e2e.chat import open_chat, send, send_and_wait  # noqa: E402
from e2e.fixtures import browser, host  # noqa: E402
from e2e.lab import Lab  # noqa: E402
from e2e.page import SCREENSHOTS  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

WIDGET_CELL = """from lume_widget import ChatWidget
chat = ChatWidget(persona="nutritionist")
chat.new_consultation()  # a consultation of this test's own
chat"""
UI_TIMEOUT_MS = scaled(30) * 1000
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
QUESTIONS = ["/long 40", "/long 60"]
__all__ = ["browser", "host"]  # fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    running = ReferenceServer(ServerConfig(chunk_delay_ms=10)).start()
    yield running
    running.stop()


def shot(page: Page, host: Lab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".lume-chat").screenshot(path=str(SCREENSHOTS / f"{host.app}-history-{name}.png"))


def shown_replies(page: Page) -> list[str]:
    """The text of every finished reply row (``textContent``: rows off screen skip rendering)."""
    texts: list[str] = page.locator(
        ".lume-row--assistant:not(.lume-row--draft) .lume-md"
    ).all_text_contents()
    return texts


def save(page: Page, path: Path) -> dict[str, Any]:
    """Save with the toolbar button; returns the notebook once its file holds the panel."""
    page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").first.click()
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        text = path.read_text("utf-8")
        if WIDGET_STATE in text and "/long 60" in text:
            saved: dict[str, Any] = json.loads(text)
            return saved
        time.sleep(0.2)
    raise AssertionError(f"{path.name} was not saved with the panel's widget state")


def chat_with_two_turns(browser: Browser, host: Lab, name: str) -> Page:
    host.save_widget_state()
    page = open_chat(browser, host, name, WIDGET_CELL, UI_TIMEOUT_MS)
    for question in QUESTIONS:
        send_and_wait(page, question, UI_TIMEOUT_MS)
    return page


def assert_turns_shown(page: Page, before: list[str]) -> None:
    expect(page.locator(".lume-row--user", has_text="/long 60")).to_have_count(
        1, timeout=UI_TIMEOUT_MS
    )
    now = shown_replies(page)
    assert len(now) == len(before)
    assert now == before, "every finished reply shows with its whole text"
    assert all(len(text) > 100 for text in now[-2:])


def test_history_browser_reload_shows_the_finished_turns_with_their_text(
    browser: Browser, host: Lab
) -> None:
    name = f"reload-{host.app}.ipynb"
    page = chat_with_two_turns(browser, host, name)
    try:
        before = shown_replies(page)
        save(page, host.root / name)
        page.reload()
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=UI_TIMEOUT_MS)
        expect(page.locator(".lume-chat")).to_be_visible(timeout=UI_TIMEOUT_MS)
        assert_turns_shown(page, before)
        shot(page, host, "reloaded")
        send_and_wait(page, "/long 20", UI_TIMEOUT_MS)  # the reloaded page drives the widget
        assert len(shown_replies(page)) == len(before) + 1
    finally:
        page.context.close()
        host.close_sessions(name)


def test_history_saved_notebook_opened_again_shows_the_transcript(
    browser: Browser, host: Lab
) -> None:
    name = f"saved-{host.app}.ipynb"
    page = chat_with_two_turns(browser, host, name)
    path = host.root / name
    try:
        before = shown_replies(page)
        saved = save(page, path)
        state = saved["metadata"]["widgets"][WIDGET_STATE]["state"]
        texts = [m["content"] for s in state.values() for m in s["state"].get("messages", [])]
        assert all(isinstance(t, str) for t in texts), "the saved blocks hold every text"
        for reply in before[-2:]:
            assert any(reply.strip()[:60] in t for t in texts)
    finally:
        page.context.close()
        host.close_sessions(name)
    again = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    try:
        again.goto(host.notebook_url(name))
        expect(again.locator(".lume-chat")).to_be_visible(timeout=UI_TIMEOUT_MS * 2)
        assert_turns_shown(again, before)
        shot(again, host, "saved-reopened")
    finally:
        again.context.close()
        host.close_sessions(name)


LONG_CELL = """from lume_widget import ChatWidget
chat = ChatWidget(persona="{persona}")
chat"""
LONG_TURNS = 300  # 600 messages and the greeting


def seed_long_consultation(server: ReferenceServer, persona: str) -> None:
    """A consultation of ``persona`` with more than 600 messages, for the panel to resume.

    Made with the client on a loop of its own in a thread of its own (the test's thread runs
    Playwright's), closed before it returns."""
    from lume_widget.client import LumeClient

    async def seed() -> None:
        client = await LumeClient.connect(
            server.url, api_key=server.api_key, email=server.email, password=server.password
        )
        try:
            chat = await client.open(persona=persona, resume=False)
            for i in range(LONG_TURNS):
                async for _ in chat.stream(f"/long 2 question {i}"):
                    pass
            await chat.aclose()
        finally:
            await client.aclose()

    worker = threading.Thread(target=lambda: asyncio.run(seed()), name="seed-history")
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "seeding the long consultation took over 2 minutes"


def test_history_long_consultation_opens_newest_first_and_loads_older_on_scroll_up(
    browser: Browser, host: Lab, server: ReferenceServer
) -> None:
    persona = "fitness_coach" if host.app == "lab" else "general_wellness"
    seed_long_consultation(server, persona)
    name = f"long-{host.app}.ipynb"
    page = open_chat(browser, host, name, LONG_CELL.format(persona=persona), UI_TIMEOUT_MS)
    try:
        rows = page.locator(".lume-row")
        expect(rows).to_have_count(OPEN_MESSAGES, timeout=UI_TIMEOUT_MS)
        bar = page.locator(".lume-older")
        expect(bar).to_be_visible()
        expect(bar).to_contain_text("older messages")
        expect(page.locator(".lume-row--user").last).to_contain_text(f"question {LONG_TURNS - 1}")
        shot(page, host, "long-open")
        transcript = page.locator(".lume-transcript")
        transcript.hover()
        total = 2 * LONG_TURNS + 1  # and the greeting
        pages = 0
        while rows.count() < total:  # a reader scrolling up to the top, page after page
            before = rows.count()
            page.mouse.wheel(0, -200)
            transcript.evaluate("el => { el.scrollTop = 0; }")
            # A page is drawn above in slices, and a reader still at the top may be given
            # the next one too: wait for at least the whole of one page (or what is left).
            page.wait_for_function(
                "n => document.querySelectorAll('.lume-row').length >= n",
                arg=before + min(PAGE_MESSAGES, total - before) - 2,
                timeout=UI_TIMEOUT_MS,
            )
            pages += 1
            assert pages <= (total - OPEN_MESSAGES) // PAGE_MESSAGES + 1, rows.count()
        expect(rows).to_have_count(total, timeout=UI_TIMEOUT_MS)
        expect(bar).to_be_hidden(timeout=UI_TIMEOUT_MS)
        shot(page, host, "long-older-loaded")
        # Back at the bottom, a new turn lands after the newest message, and the panel
        # goes back to its window (the older pages stay loadable).
        page.locator(".lume-jump").click()
        send(page, "/long 5 after scrolling")
        expect(page.locator(".lume-row--user").last).to_contain_text("after scrolling")
        expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
        expect(page.locator(".lume-send")).to_be_enabled(timeout=UI_TIMEOUT_MS)
        page.wait_for_function(
            "n => document.querySelectorAll('.lume-row').length <= n", arg=WINDOW_MESSAGES
        )
        expect(bar).to_be_visible()
    finally:
        page.context.close()
        host.close_sessions(name)


def test_history_long_consultation_screenshots_dark_and_narrow(
    browser: Browser, host: Lab, server: ReferenceServer
) -> None:
    persona = "nutritionist"
    seed_long_consultation(server, persona)
    host.set_theme("JupyterLab Dark")
    name = f"long-dark-{host.app}.ipynb"
    try:
        page = open_chat(browser, host, name, LONG_CELL.format(persona=persona), UI_TIMEOUT_MS)
    finally:
        host.set_theme(None)
    try:
        if host.app == "lab":
            # As a reader on a narrow screen would: the file browser closed, the notebook
            # given the width (clicking the open sidebar tab folds the sidebar away).
            page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
            expect(page.locator("#jp-left-stack")).to_be_hidden(timeout=UI_TIMEOUT_MS)
        page.set_viewport_size({"width": 480, "height": 900})
        expect(page.locator(".lume-older")).to_be_visible(timeout=UI_TIMEOUT_MS)
        page.wait_for_timeout(300)
        shot(page, host, "long-dark-480")
    finally:
        page.context.close()
        host.close_sessions(name)
