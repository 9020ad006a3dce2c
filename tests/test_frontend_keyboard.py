"""The panel used with the keyboard alone, and what it shows once the kernel side is gone.

Same test page as tests/test_frontend_browser.py (the built bundle on a fake anywidget
model in Debian's chromium). The notebook hosts themselves are covered by
tests/test_jupyterlab_e2e.py (JupyterLab and Notebook 7).
"""

from __future__ import annotations

import re

import pytest
from browser.fixtures import browser, bundle, page_url, panel
from browser.panel_page import Panel, assistant_message, pending_turn, user_message
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
__all__ = ["browser", "bundle", "page_url", "panel"]  # fixtures

# Keys that reach the document: the host notebook's shortcuts listen there.
_COUNT_DOCUMENT_KEYS = """() => {
    window.__docKeys = [];
    document.addEventListener('keydown', (e) => window.__docKeys.push(e.key));
}"""


def finish_turn(panel: Panel, turn: str, question: str, answer: str) -> None:
    history = panel.trait("messages")
    panel.py_set(
        messages=[
            *history,
            user_message(f"u-{turn}", question),
            assistant_message(f"a-{turn}", answer),
        ],
        pending=None,
        status="connected",
    )


def test_keyboard_enter_and_shift_enter_never_reach_the_host(panel: Panel) -> None:
    panel.mount()
    panel.page.evaluate(_COUNT_DOCUMENT_KEYS)
    box = panel.root.locator("textarea")
    box.focus()
    panel.page.keyboard.type("line one")
    panel.page.keyboard.press("Shift+Enter")
    panel.page.keyboard.type("line two")
    expect(box).to_have_value("line one\nline two")
    panel.page.keyboard.press("Enter")
    assert panel.sent()[-1] == {"type": "send", "text": "line one\nline two"}
    keys = panel.page.evaluate("() => window.__docKeys")
    assert "Enter" not in keys
    assert " " not in keys  # the space bar types a space, it never scrolls the notebook


def test_keyboard_draft_typed_during_a_stream_survives_it_and_focus_stays(panel: Panel) -> None:
    panel.mount()
    box = panel.root.locator("textarea")
    box.focus()
    panel.page.keyboard.type("How do I sleep better?")
    panel.page.keyboard.press("Enter")
    panel.py_set(pending=pending_turn("t1", "How do I sleep better?"), status="streaming")
    panel.delta("t1", 1, "Keep a steady ")
    expect(panel.root.locator(".lume-stop")).to_be_visible()
    expect(box).to_be_enabled()
    expect(box).to_be_focused()
    panel.page.keyboard.type("And naps?")
    panel.page.keyboard.press("Enter")  # a reply is in flight: Enter keeps the draft
    assert panel.sent_types().count("send") == 1
    expect(box).to_have_value("And naps?")
    expect(panel.root.locator(".lume-hint")).to_contain_text("Enter sends once it is done")
    panel.shot("keyboard-draft-while-streaming")
    panel.delta("t1", 2, "wake time.")
    finish_turn(panel, "t1", "How do I sleep better?", "Keep a steady wake time.")
    expect(panel.root.locator(".lume-stop")).to_be_hidden()
    expect(box).to_be_focused()
    expect(box).to_have_value("And naps?")
    panel.page.keyboard.type(" Short ones?")  # typing goes on without a click
    panel.page.keyboard.press("Enter")
    assert panel.sent()[-1] == {"type": "send", "text": "And naps? Short ones?"}


def test_keyboard_focus_comes_back_after_send_and_stop_buttons(panel: Panel) -> None:
    panel.mount()
    box = panel.root.locator("textarea")
    box.fill("hello")
    panel.root.locator(".lume-send").click()
    expect(box).to_be_focused()  # Send turned into Stop under the pointer
    panel.py_set(pending=pending_turn("t1", "hello"))
    expect(panel.root.locator(".lume-stop")).to_be_visible()
    panel.root.locator(".lume-stop").focus()
    panel.page.keyboard.press("Enter")  # Stop, from the keyboard
    assert panel.sent()[-1] == {"type": "stop"}
    finish_turn(panel, "t1", "hello", "Hi")
    expect(box).to_be_focused()


def test_keyboard_focus_is_not_taken_back_from_elsewhere(panel: Panel) -> None:
    panel.mount()
    panel.page.evaluate(
        "() => { const b = document.createElement('button'); b.id = 'elsewhere'; b.textContent = 'x';"
        " document.body.append(b); }"
    )
    box = panel.root.locator("textarea")
    box.fill("hello")
    box.press("Enter")
    panel.py_set(pending=pending_turn("t1", "hello"))
    panel.page.locator("#elsewhere").focus()  # the user went on to a notebook cell
    finish_turn(panel, "t1", "hello", "Hi")
    expect(panel.page.locator("#elsewhere")).to_be_focused()


@pytest.mark.parametrize(
    "where", ["textarea", ".lume-transcript", ".lume-badge--status", ".lume-copy"]
)
def test_keyboard_escape_stops_from_anywhere_in_the_panel(panel: Panel, where: str) -> None:
    panel.mount(messages=[assistant_message("a0", "Earlier reply")])
    panel.py_set(pending=pending_turn("t1", "long answer please"), status="streaming")
    expect(panel.root.locator(".lume-stop")).to_be_visible()
    panel.root.locator(where).first.focus()
    panel.page.keyboard.press("Escape")
    assert panel.sent()[-1] == {"type": "stop"}


def test_keyboard_escape_closes_the_explore_drawer_after_simulate_drop(panel: Panel) -> None:
    panel.mount()
    panel.root.get_by_role("button", name="Explore tiers and faults").click()
    drawer = panel.root.locator(".lume-drawer--explore")
    drawer.get_by_role("button", name="Simulate a live drop").click()
    panel.py_set(tier="rest", status="degraded")  # the drop button turns disabled under focus
    expect(drawer.get_by_role("button", name="Simulate a live drop")).to_be_disabled()
    panel.page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()


def test_keyboard_3000_emoji_are_3000_characters(panel: Panel) -> None:
    panel.mount()
    box = panel.root.locator("textarea")
    box.fill("\U0001f600" * 3000)
    box.press("Enter")
    assert panel.sent()[-1] == {"type": "send", "text": "\U0001f600" * 3000}
    box.fill("\U0001f600" * 5001)
    box.press("Enter")
    assert panel.sent_types().count("send") == 1
    expect(panel.root.locator(".lume-hint")).to_contain_text("has 5,001 characters")


# ---------------------------------------------------------------- the kernel side is gone


@pytest.mark.parametrize("signal", ["class", "event", "closed"])
def test_kernel_restart_mid_stream_turns_the_panel_offline(panel: Panel, signal: str) -> None:
    panel.mount(tier="live", tier_reason="The live socket is open")
    panel.py_set(pending=pending_turn("t1", "tell me"), status="streaming")
    panel.delta("t1", 1, "Half a reply")
    expect(panel.root.locator(".lume-row--draft")).to_contain_text("Streaming")
    tier = panel.root.locator(".lume-badge--tier")
    expect(tier).to_have_text("Live")
    reason = "The kernel restarted: run the cell again."
    if signal == "class":  # what ipywidgets does to the view when the kernel restarts
        panel.page.evaluate("() => window.lume.el.classList.add('jupyter-widgets-disconnected')")
    elif signal == "event":  # and to the model
        panel.page.evaluate("() => window.lume.model.emit('comm_live_update')")
    else:  # the widget was closed in the kernel
        panel.page.evaluate("() => window.lume.model.emit('comm:close')")
        reason = "This chat was closed in the kernel: run the cell again."
    status = panel.root.locator(".lume-badge--status")
    expect(status).to_have_text("Offline")
    expect(status).to_have_attribute("title", reason)
    # The tier badge no longer claims a tier: a dashed "—" whose tooltip says why.
    expect(tier).to_have_text("\u2014")
    expect(tier).to_have_class(re.compile(r"\blume-badge--none\b"))
    expect(tier).to_have_attribute("title", f"No delivery tier: the kernel is gone. {reason}")
    expect(tier).to_have_attribute(
        "aria-label", f"Tier: none. No delivery tier: the kernel is gone. {reason}"
    )
    expect(panel.root.locator("textarea")).to_be_disabled()
    expect(panel.root.locator(".lume-hint")).to_have_text(reason)
    expect(panel.root.locator(".lume-stop")).to_be_hidden()
    expect(panel.root).not_to_contain_text("Streaming")
    expect(panel.root.locator(".lume-row--draft")).to_contain_text("Interrupted")
    panel.shot("kernel-restarted")
    sent = len(panel.sent())
    panel.root.locator(".lume-transcript").focus()
    panel.page.keyboard.press("Escape")
    panel.page.wait_for_timeout(2_500)  # no snapshot requests to a kernel that is gone
    assert len(panel.sent()) == sent
    assert panel.errors == []


def test_kernel_absent_when_restored_from_a_saved_notebook(panel: Panel) -> None:
    panel.mount(
        pending=pending_turn("t1", "saved mid-reply"), status="streaming", disconnected=True
    )
    expect(panel.root.locator(".lume-badge--status")).to_have_text("Offline")
    expect(panel.root.locator(".lume-hint")).to_contain_text("not connected to a running kernel")
    assert panel.sent() == []
