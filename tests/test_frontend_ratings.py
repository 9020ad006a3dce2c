"""The rating row under each reply and "Save as scenario", in chromium on the test page.

Thumbs and notes write the ``ratings`` trait (one save per change) and draw what the
trait holds, a restored notebook's ratings included; the save button asks the kernel for
the scenario and offers the file it sends back as a download.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser.fixtures import browser, bundle, page_url, panel
from browser.panel_page import Panel, assistant_message, use_jupyterlab_dark, user_message
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
__all__ = ["browser", "bundle", "page_url", "panel"]  # fixtures

CONVERSATION = [
    user_message("u1", "I keep waking up tired."),
    assistant_message("a1", "Keep one **wake time**, weekends too."),
    user_message("u2", "And caffeine?"),
    assistant_message("a2", "None after 14:00."),
]


def test_ratings_thumbs_and_note_write_the_trait_and_draw_it(panel: Panel) -> None:
    panel.mount(messages=CONVERSATION, ratings={"a2": {"rating": "down", "note": "too short"}})
    rows = panel.root.locator(".lume-row--assistant")
    first, second = rows.nth(0), rows.nth(1)
    # Restored from the notebook: the saved rating shows.
    expect(second.get_by_role("button", name="Bad reply")).to_have_attribute("aria-pressed", "true")
    expect(second.get_by_role("textbox", name="Note on this reply")).to_have_value("too short")
    first.get_by_role("button", name="Good reply").click()
    assert panel.trait("ratings")["a1"] == {"rating": "up", "note": "", "best": False}
    note = first.get_by_role("textbox", name="Note on this reply")
    note.fill("names one change")
    note.press("Enter")
    assert panel.trait("ratings")["a1"]["note"] == "names one change"
    assert panel.trait("ratings")["a2"]["rating"] == "down"
    expect(first.get_by_role("button", name="Good reply")).to_have_attribute("aria-pressed", "true")
    # Pressing the same thumb again takes it back; a rating with nothing left goes.
    second.get_by_role("button", name="Bad reply").click()
    second.get_by_role("textbox", name="Note on this reply").fill("")
    second.get_by_role("textbox", name="Note on this reply").press("Enter")
    assert "a2" not in panel.trait("ratings")
    assert panel.saved()  # each change went to the kernel
    assert panel.root.locator(".lume-row--user .lume-rating").count() == 0
    assert panel.errors == []


def test_ratings_typing_a_note_reaches_no_notebook_shortcut(panel: Panel) -> None:
    panel.mount(messages=CONVERSATION)
    panel.page.evaluate(
        "() => { window.__keys = 0; document.addEventListener('keydown', () => { window.__keys += 1; }); }"
    )
    panel.root.locator(".lume-note").first.type("a b")
    assert panel.page.evaluate("() => window.__keys") == 0


def test_ratings_save_as_scenario_asks_the_kernel_and_downloads_its_file(panel: Panel) -> None:
    panel.mount(messages=CONVERSATION)
    panel.root.get_by_role("button", name="Save as scenario").click()
    assert panel.sent_types()[-1] == "save_scenario"
    text = 'scenarios:\n  - name: chat\n    turns:\n      - say: "I keep waking up tired."\n'
    with panel.page.expect_download() as info:
        panel.custom({"type": "scenario", "name": "chat-wellness_specialist.yaml", "text": text})
    download = info.value
    assert download.suggested_filename == "chat-wellness_specialist.yaml"
    assert Path(download.path()).read_text(encoding="utf-8") == text


def test_ratings_save_is_disabled_until_a_message_was_sent(panel: Panel) -> None:
    panel.mount(messages=[assistant_message("a0", "Hello! How can I help?")])
    expect(panel.root.get_by_role("button", name="Save as scenario")).to_be_disabled()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_ratings_screenshot_at_480px(panel: Panel, theme: str) -> None:
    panel.page.set_viewport_size({"width": 480, "height": 720})
    if theme == "dark":
        use_jupyterlab_dark(panel.page)
    panel.mount(
        messages=CONVERSATION,
        ratings={"a1": {"rating": "up", "note": "concrete"}, "a2": {"rating": "down", "note": ""}},
    )
    panel.frames()
    panel.shot(f"480-{theme}-ratings")
    assert panel.errors == []
