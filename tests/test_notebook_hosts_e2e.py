"""The chat panel with the keyboard alone and through a kernel restart, in JupyterLab and Notebook 7.

Both hosts listen for keys on the document (JupyterLab after the panel, Notebook 7 before
it) and both have notebook shortcuts on Enter, Shift+Enter and Escape, so each test runs in
both. Each host is started by the test on a free loopback port with a temp root and a known
token; its kernels reach a reference server started here through the ``LUME_*``
environment. Screenshots go to ``artifacts/screenshots/<host>-*.png``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import scaled

from lume_widget.server import ReferenceServer, ServerConfig

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path("/usr/bin/chromium").exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        "Debian's chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True
    )

from browser.panel_page import low_contrast  # noqa: E402
from e2e.chat import open_chat, send, send_and_wait, wait_for_streaming  # noqa: E402
from e2e.fixtures import browser, host  # noqa: E402
from e2e.lab import Lab  # noqa: E402
from e2e.page import SCREENSHOTS  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

WIDGET_CELL = """from lume_widget import ChatWidget
chat = ChatWidget(persona="wellness_specialist")
chat"""
UI_TIMEOUT_MS = scaled(30) * 1000
OFFLINE_WITHIN_MS = scaled(5) * 1000
__all__ = ["browser", "host"]  # fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    running = ReferenceServer(ServerConfig(chunk_delay_ms=25)).start()
    yield running
    running.stop()


@pytest.fixture
def page(
    browser: Browser, host: Lab, server: ReferenceServer, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A notebook of its own in the host, with the chat panel rendered and connected."""
    server.clear_faults()
    name = f"{request.node.name.split('[')[0]}-{host.app}.ipynb"
    page = open_chat(browser, host, name, WIDGET_CELL, UI_TIMEOUT_MS)
    yield page
    page.context.close()
    host.close_sessions(name)


def shot(page: Page, host: Lab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".lume-chat").screenshot(path=str(SCREENSHOTS / f"{host.app}-{name}.png"))


def code_cells_run(page: Page) -> int:
    prompts = page.locator(".jp-Cell .jp-InputArea-prompt").all_inner_texts()
    return sum(1 for text in prompts if any(ch.isdigit() for ch in text))


def test_hosts_shift_enter_adds_a_line_and_enter_sends_without_running_the_cell(
    page: Page, host: Lab
) -> None:
    ran = code_cells_run(page)
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    box = page.locator(".lume-input")
    box.click()
    page.keyboard.type("First line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("First line\nsecond line")
    page.keyboard.press("Enter")
    expect(page.locator(".lume-row--user .lume-text").last).to_have_text(
        "First line\nsecond line", timeout=UI_TIMEOUT_MS
    )
    expect(page.locator(".lume-stop")).to_be_hidden(timeout=UI_TIMEOUT_MS)
    # The notebook saw none of it: no cell ran, none was added, focus stayed in the box.
    assert code_cells_run(page) == ran
    assert page.locator(".jp-Notebook .jp-Cell").count() == cells
    expect(box).to_be_focused()
    shot(page, host, "shift-enter")


def test_hosts_draft_during_a_stream_survives_and_typing_goes_on_after_it(
    page: Page, host: Lab
) -> None:
    box = page.locator(".lume-input")
    send(page, "/long 300")
    wait_for_streaming(page, 20, UI_TIMEOUT_MS)
    expect(box).to_be_focused()
    page.keyboard.type("Next: what about naps?")
    page.keyboard.press("Enter")  # the reply is still streaming: the draft stays
    shot(page, host, "draft-while-streaming")
    expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-stop")).to_be_hidden(timeout=UI_TIMEOUT_MS)
    expect(box).to_have_value("Next: what about naps?")
    expect(box).to_be_focused()
    page.keyboard.type(" Short ones.")  # no click needed
    page.keyboard.press("Enter")
    expect(page.locator(".lume-row--user .lume-text").last).to_have_text(
        "Next: what about naps? Short ones.", timeout=UI_TIMEOUT_MS
    )


@pytest.mark.parametrize("where", [".lume-transcript", ".lume-badge--tier"])
def test_hosts_escape_stops_the_reply_from_anywhere_in_the_panel(
    page: Page, host: Lab, where: str
) -> None:
    send(page, "/long 600")
    wait_for_streaming(page, 20, UI_TIMEOUT_MS)
    page.locator(where).focus()
    page.keyboard.press("Escape")
    expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-tag--stopped").last).to_be_visible(timeout=UI_TIMEOUT_MS)
    send_and_wait(page, "Still there?", UI_TIMEOUT_MS)


def test_hosts_3000_emoji_are_accepted_end_to_end(page: Page, host: Lab) -> None:
    """Counted in code points, as the client and the backend count: 3,000, not 6,000."""
    box = page.locator(".lume-input")
    box.fill("\U0001f600" * 3000)
    box.press("Enter")
    user = page.locator(".lume-row--user .lume-text").last
    expect(user).to_have_text("\U0001f600" * 3000, timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-error")).to_be_hidden()
    expect(page.locator(".lume-stop")).to_be_hidden(timeout=UI_TIMEOUT_MS)


def _restart_kernel(page: Page) -> None:
    """Restart the kernel from the Kernel menu, as a user does (both hosts have it)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel").first.click()
    page.locator(".jp-Dialog-button.jp-mod-accept").click()


def test_hosts_kernel_restart_mid_stream_turns_the_panel_offline_with_the_reason(
    page: Page, host: Lab
) -> None:
    send(page, "/long 800")
    wait_for_streaming(page, 20, UI_TIMEOUT_MS)
    started = time.monotonic()
    _restart_kernel(page)
    status = page.locator(".lume-badge--status")
    expect(status).to_have_text("Offline", timeout=OFFLINE_WITHIN_MS)
    offline_after_s = time.monotonic() - started
    expect(status).to_have_attribute("title", "The kernel restarted: run the cell again.")
    expect(page.locator(".lume-input")).to_be_disabled()
    expect(page.locator(".lume-hint")).to_have_text("The kernel restarted: run the cell again.")
    expect(page.locator(".lume-chat")).not_to_contain_text("Streaming")
    expect(page.locator(".lume-stop")).to_be_hidden()
    shot(page, host, "kernel-restarted")
    assert offline_after_s < OFFLINE_WITHIN_MS / 1000
    # No log line of the dying chat was left in the widget's cell.
    expect(
        page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    ).to_have_count(0)


def test_hosts_consultations_drawer_completes_and_deletes(page: Page, host: Lab) -> None:
    chat = page.locator(".lume-chat")
    drawer = chat.locator(".lume-drawer--consult")
    current = drawer.locator(".lume-consult--current")
    send_and_wait(page, "Remember this one", UI_TIMEOUT_MS)
    chat.get_by_role("button", name="Consultations").click()
    expect(current).to_have_count(1, timeout=UI_TIMEOUT_MS)
    first = current.get_attribute("data-id")
    page.keyboard.press("Escape")
    chat.get_by_role("button", name="New consultation").click()
    expect(chat.locator(".lume-row--user")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    chat.get_by_role("button", name="Consultations").click()
    earlier = drawer.locator(f".lume-consult[data-id='{first}']")
    expect(earlier).to_contain_text("Completed", timeout=UI_TIMEOUT_MS)
    expect(drawer.locator(".lume-consult").first).to_contain_text("Shown here")
    assert current.get_attribute("data-id") != first
    shot(page, host, "consultations")
    earlier.get_by_role("button", name="Delete").click()
    earlier.get_by_role("button", name="Delete for good").click()
    expect(earlier).to_have_count(0, timeout=UI_TIMEOUT_MS)
    current.get_by_role("button", name="Complete").click()
    expect(current).to_contain_text("Completed", timeout=UI_TIMEOUT_MS)
    expect(chat.locator(".lume-hint")).to_contain_text("completed", timeout=UI_TIMEOUT_MS)
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()


def test_hosts_live_reply_completes_in_seconds_while_rest_fails(
    page: Page, host: Lab, server: ReferenceServer
) -> None:
    server.set_faults(http_error_rate=1.0, http_error_status=503)
    try:
        started = time.monotonic()
        send_and_wait(page, "/long 40", UI_TIMEOUT_MS)
        took = time.monotonic() - started
    finally:
        server.clear_faults()
    last = page.locator(".lume-row--assistant").last
    expect(last.locator(".lume-tag--error, .lume-tag--stopped")).to_have_count(0)
    expect(page.locator(".lume-badge--status")).not_to_have_text("Streaming")
    shot(page, host, "rest-failing-live-complete")
    assert took < scaled(20), f"the reply took {took:.1f} s to show as complete"


def test_hosts_dark_theme_text_contrast_is_at_least_4_5(
    browser: Browser, host: Lab, server: ReferenceServer
) -> None:
    """The host's own dark theme: every text of the panel and its drawers reads at 4.5:1."""
    server.clear_faults()
    host.set_theme("JupyterLab Dark")
    name = f"dark-theme-{host.app}.ipynb"
    try:
        page = open_chat(browser, host, name, WIDGET_CELL, UI_TIMEOUT_MS)
        try:
            expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1)
            page.emulate_media(reduced_motion="reduce")
            send_and_wait(page, "/markdown", UI_TIMEOUT_MS)
            assert low_contrast(page) == []
            shot(page, host, "dark")
            chat = page.locator(".lume-chat")
            chat.get_by_role("button", name="Consultations").click()
            expect(chat.locator(".lume-consult--current")).to_have_count(1, timeout=UI_TIMEOUT_MS)
            assert low_contrast(page, ".lume-drawer--consult") == []
            chat.get_by_role("button", name="Explore tiers and faults").click()
            assert low_contrast(page, ".lume-drawer--explore") == []
            shot(page, host, "dark-explore")
        finally:
            page.context.close()
    finally:
        host.set_theme(None)
        host.close_sessions(name)
