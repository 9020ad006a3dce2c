"""End to end in JupyterLab: Debian's chromium (Playwright) drives the chat panel in a real notebook.

JupyterLab is started by the test on a free loopback port with a temp root and a known
token; its kernels reach a reference server started here through the ``LUME_*``
environment. Each test opens its own notebook (its own kernel), runs the widget cell and
uses the panel like a person would: type, press Enter, watch the reply stream, watch the
tier badge change when the live socket is dropped, stop a reply, reload mid-stream.
Screenshots of the key states go to ``artifacts/screenshots/jupyterlab-*.png``.
"""

from __future__ import annotations

import re
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

from e2e import chat  # noqa: E402
from e2e.chat import reply_text, send  # noqa: E402
from e2e.fixtures import browser  # noqa: E402
from e2e.lab import Lab, lume_env, start_lab, write_notebook  # noqa: E402
from e2e.page import (  # noqa: E402
    open_notebook,
    run_cell,
    run_code,
    screenshot,
    start_code,
    wait_for_cells,
)
from playwright.sync_api import Browser, Page, expect  # noqa: E402

WIDGET_CELL = """from lume_widget import ChatWidget
chat = ChatWidget(persona="wellness_specialist")
chat"""
UI_TIMEOUT_MS = scaled(30) * 1000
KERNEL_TIMEOUT_S = scaled(120)
__all__ = ["browser"]  # fixture


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    running = ReferenceServer(ServerConfig(chunk_delay_ms=10)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def lab(server: ReferenceServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    env = lume_env(server)
    running = start_lab(tmp_path_factory.mktemp("jupyterlab"), env)
    yield running
    running.stop()


@pytest.fixture
def page(
    browser: Browser, lab: Lab, server: ReferenceServer, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A notebook of its own, opened, with the chat panel rendered and connected."""
    server.clear_faults()
    name = f"{request.node.name}.ipynb"
    write_notebook(lab.root / name, [WIDGET_CELL, ""])
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    open_notebook(page, lab.notebook_url(name))
    run_cell(page, 0)
    expect(page.locator(".lume-chat")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-send")).to_be_enabled(timeout=UI_TIMEOUT_MS)
    yield page
    context.close()
    for session in lab.api("GET", "api/sessions"):
        if session["path"].endswith(name):
            lab.api("DELETE", f"api/sessions/{session['id']}")


def save_notebook(page: Page) -> None:
    """Save with the toolbar button and wait until the tab is no longer marked dirty."""
    page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").first.click()
    expect(page.locator(".jp-mod-current.jp-mod-dirty")).to_have_count(0, timeout=UI_TIMEOUT_MS)


def last_stdout(page: Page) -> str:
    """What the last cell printed."""
    return (
        page.locator("[data-mime-type='application/vnd.jupyter.stdout']").last.inner_text().strip()
    )


def send_and_wait(page: Page, text: str) -> None:
    """Send ``text`` and wait until its reply is complete and the input is free again."""
    chat.send_and_wait(page, text, UI_TIMEOUT_MS)


def wait_for_streaming(page: Page, at_least: int) -> int:
    """Wait until the streaming draft shows at least ``at_least`` characters; returns its length."""
    return chat.wait_for_streaming(page, at_least, UI_TIMEOUT_MS)


def test_jupyterlab_chat_streams_reply_and_tier_badge_follows_drop(page: Page) -> None:
    screenshot(page, "connected")
    expect(page.locator(".lume-badge--tier")).to_have_class(
        re.compile(r"lume-badge--live"), timeout=UI_TIMEOUT_MS
    )
    send(page, "/long 200")
    first = wait_for_streaming(page, 40)
    screenshot(page, "streaming")
    page.wait_for_function(
        "(n) => { const d = document.querySelector('.lume-row--draft .lume-md'); return d && d.innerText.length > n; }",
        arg=first,
        timeout=UI_TIMEOUT_MS,
    )
    expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    assert len(reply_text(page)) > first
    screenshot(page, "reply-complete")

    run_code(page, "chat.set_faults(refuse_ws_upgrade=403)\nchat.simulate_drop()")
    send_and_wait(page, "Are you still there?")
    expect(page.locator(".lume-badge--tier")).to_have_class(
        re.compile(r"lume-badge--rest"), timeout=UI_TIMEOUT_MS
    )
    expect(page.locator(".lume-send")).to_be_enabled(timeout=UI_TIMEOUT_MS)
    screenshot(page, "tier-rest-after-drop")


def test_jupyterlab_stop_keeps_partial_reply(page: Page) -> None:
    run_code(page, "chat.set_faults(chunk_delay_ms=40)")
    send(page, "/long 400")
    wait_for_streaming(page, 30)
    stop = page.locator(".lume-stop")
    expect(stop).to_be_visible()
    stop.click()
    expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-send")).to_be_enabled(timeout=UI_TIMEOUT_MS)
    shown = reply_text(page)
    assert len(shown) > 30
    screenshot(page, "stopped")
    run_code(page, "print(chat.messages[-1]['status'], len(chat.messages[-1]['content']))")
    status, length = last_stdout(page).split()
    assert status == "stopped"
    assert int(length) >= len(shown) * 0.9


ASK_IN_A_CELL = """try:
    reply = chat.ask("/long 600")
    print("complete", len(reply.text))
except Exception as exc:
    print(type(exc).__name__, len(chat.messages[-1]["content"]))"""


def test_jupyterlab_stop_in_the_panel_ends_a_blocking_ask_in_a_cell(page: Page) -> None:
    """chat.ask() blocks its cell, yet the panel's Stop reaches the kernel and ends it."""
    run_code(page, "chat.set_faults(chunk_delay_ms=40)")
    before = start_code(page, ASK_IN_A_CELL)
    wait_for_streaming(page, 30)
    page.locator(".lume-stop").click()
    wait_for_cells(page, before)
    name, length = last_stdout(page).split()
    assert name == "TurnCancelledError"
    # a stop the user asked for prints no warning into the notebook
    expect(
        page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    ).to_have_count(0)
    assert int(length) > 30
    expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-send")).to_be_enabled(timeout=UI_TIMEOUT_MS)
    screenshot(page, "stopped-blocking-ask")


def test_jupyterlab_reload_mid_stream_catches_up(page: Page) -> None:
    run_code(page, "chat.set_faults(chunk_delay_ms=25)")
    send(page, "/long 800")
    before = wait_for_streaming(page, 40)
    save_notebook(page)  # a reload shows the saved outputs (JupyterLab autosaves too)
    page.reload()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-chat")).to_be_visible(timeout=UI_TIMEOUT_MS)
    screenshot(page, "reloaded")
    # the reloaded view starts from the snapshot: the draft is already long, not empty
    resumed = wait_for_streaming(page, before)
    screenshot(page, "reloaded-mid-stream")
    assert resumed >= before
    expect(page.locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    run_code(page, "print('reply', len(chat.messages[-1]['content']))")
    expected = int(last_stdout(page).split()[-1])
    shown = reply_text(page)
    assert len(shown) >= expected * 0.9, "the reloaded view shows the whole reply"
    assert page.locator(".lume-row--user", has_text="/long 800").count() == 1
    screenshot(page, "reloaded-caught-up")
    # the reloaded page drives the widget too: its next question is answered
    send_and_wait(page, "Thanks, one more thing")
    expect(page.locator(".lume-row--user", has_text="one more thing")).to_have_count(1)


def test_jupyterlab_persona_picker_switches_and_resumes(page: Page) -> None:
    send_and_wait(page, "Remember me, wellness specialist")
    persona = page.locator("select.lume-select[aria-label='Persona']")
    persona.select_option("nutritionist")
    expect(page.locator(".lume-subtitle")).to_contain_text("Nutritionist", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-send")).to_be_enabled(timeout=UI_TIMEOUT_MS)
    expect(page.locator(".lume-row--user", has_text="Remember me")).to_have_count(0)
    send_and_wait(page, "What should I eat tonight?")
    expect(page.locator(".lume-row--user", has_text="eat tonight")).to_have_count(1)
    screenshot(page, "persona-nutritionist")
    persona.select_option("wellness_specialist")
    # switching back resumes the first consultation, transcript and all
    expect(page.locator(".lume-row--user", has_text="Remember me")).to_have_count(
        1, timeout=UI_TIMEOUT_MS
    )
    expect(page.locator(".lume-row--user", has_text="eat tonight")).to_have_count(0)


@pytest.mark.parametrize("notebook", ["quickstart", "personas_and_goals", "fallback_tiers"])
def test_jupyterlab_run_all_on_a_shipped_notebook(
    browser: Browser, lab: Lab, server: ReferenceServer, notebook: str
) -> None:
    """Run All sends every cell at once: cells queued behind a blocking chat.ask() must run."""
    server.clear_faults()
    source = Path(__file__).resolve().parents[1] / "notebooks" / f"{notebook}.ipynb"
    target = lab.root / f"{notebook}-run-all.ipynb"
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        open_notebook(page, lab.notebook_url(target.name))
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        code_cells = page.locator(".jp-Notebook .jp-CodeCell")
        count = code_cells.count()
        page.wait_for_function(
            """(n) => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                  .filter(p => /\\[\\d+\\]/.test(p.textContent)).length === n""",
            arg=count,
            timeout=KERNEL_TIMEOUT_S * 1000,
        )
        expect(
            page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        ).to_have_count(0)
        expect(page.locator(".lume-chat").first).to_be_visible()
        screenshot(page, f"run-all-{notebook}")
    finally:
        context.close()
        for session in lab.api("GET", "api/sessions"):
            if session["path"].endswith(target.name):
                lab.api("DELETE", f"api/sessions/{session['id']}")
