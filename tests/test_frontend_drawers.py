"""The consultations drawer, recoveries the error banner offers, status words, layout at
480 px, the explore drawer's presets, the download button, and text contrast in both themes.

Same test page as tests/test_frontend_browser.py (built bundle, fake model, chromium).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser.fixtures import browser, bundle, page_url, panel
from browser.panel_page import (
    CONTRAST_SCRIPT,
    JUPYTERLAB_THEMES,
    Panel,
    assistant_message,
    low_contrast,
    pending_turn,
    use_jupyterlab_dark,
    use_jupyterlab_theme,
    user_message,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
__all__ = ["browser", "bundle", "page_url", "panel"]  # fixtures

CONSULTATIONS = [
    {
        "id": "c-new",
        "persona": "wellness_specialist",
        "goal_id": "",
        "status": "active",
        "message_count": 4,
        "started_at": "2026-03-02T09:12:00+00:00",
        "last_message_at": "2026-03-02T09:40:00+00:00",
        "completed_at": "",
        "current": True,
        "elsewhere": False,
    },
    {
        "id": "c-mid",
        "persona": "wellness_specialist",
        "goal_id": "",
        "status": "active",
        "message_count": 1,
        "started_at": "2026-03-01T18:00:00+00:00",
        "last_message_at": "2026-03-01T18:00:00+00:00",
        "completed_at": "",
        "current": False,
        "elsewhere": True,
    },
    {
        "id": "c-old",
        "persona": "wellness_specialist",
        "goal_id": "",
        "status": "completed",
        "message_count": 12,
        "started_at": "2026-02-20T08:00:00+00:00",
        "last_message_at": "2026-02-20T08:30:00+00:00",
        "completed_at": "2026-02-20T08:31:00+00:00",
        "current": False,
        "elsewhere": False,
    },
]
LONG_GOAL = {
    "id": "g-long",
    "title": "Walk ten thousand steps every day before work, rain or shine!",
    "target": "10000 steps",
}


def test_drawers_consultations_lists_opens_completes_and_deletes_with_confirmation(
    panel: Panel,
) -> None:
    panel.mount()
    panel.root.get_by_role("button", name="Consultations").click()
    assert panel.sent()[-1] == {"type": "list_consultations"}
    drawer = panel.root.locator(".lume-drawer--consult")
    expect(drawer).to_contain_text("No consultations with this persona yet.")
    panel.py_set(consultations=CONSULTATIONS)
    rows = drawer.locator(".lume-consult")
    expect(rows).to_have_count(3)
    expect(drawer.locator(".lume-consult__counts")).to_have_text("2 active · 1 completed")
    expect(rows.nth(0)).to_contain_text("Shown here")
    expect(rows.nth(0)).to_contain_text("4 messages")
    expect(rows.nth(1)).to_contain_text("In another panel")
    expect(rows.nth(2)).to_contain_text("Completed")
    expect(rows.nth(2)).to_contain_text("12 messages")
    expect(rows.nth(0).get_by_role("button", name="Open")).to_have_count(0)
    expect(rows.nth(2).get_by_role("button", name="Complete")).to_have_count(0)
    panel.shot("consultations-drawer")
    rows.nth(2).get_by_role("button", name="Open").click()
    assert panel.sent()[-1] == {"type": "open_consultation", "id": "c-old"}
    rows.nth(1).get_by_role("button", name="Complete").click()
    assert panel.sent()[-1] == {"type": "complete_consultation", "id": "c-mid"}
    rows.nth(2).get_by_role("button", name="Delete").click()
    expect(rows.nth(2)).to_contain_text("for good?")
    expect(rows.nth(2).get_by_role("button", name="Keep")).to_be_focused()
    panel.shot("consultations-confirm-delete")
    rows.nth(2).get_by_role("button", name="Keep").click()
    assert panel.sent_types().count("delete_consultation") == 0
    rows.nth(2).get_by_role("button", name="Delete").click()
    rows.nth(2).get_by_role("button", name="Delete for good").click()
    assert panel.sent()[-1] == {"type": "delete_consultation", "id": "c-old"}
    # One drawer at a time; Escape closes it and focus goes back to its button.
    panel.page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(panel.root.get_by_role("button", name="Consultations")).to_be_focused()


def test_drawers_ten_active_consultations_say_so_and_offer_to_complete_the_oldest(
    panel: Panel,
) -> None:
    panel.mount()
    message = (
        "Lume allows at most 10 active consultations and you have that many. Complete the "
        "oldest (or choose some in Consultations) to start a new one."
    )
    panel.py_set(error=message, error_action="complete_oldest", status="error")
    banner = panel.root.locator(".lume-error")
    expect(banner).to_contain_text("at most 10 active consultations")
    expect(banner.get_by_role("button", name="Retry")).to_be_hidden()
    panel.shot("limit-complete-oldest")
    banner.get_by_role("button", name="Complete the oldest").click()
    assert panel.sent()[-1] == {"type": "complete_oldest"}
    active = [dict(CONSULTATIONS[1], id=f"c{i}") for i in range(10)]
    panel.root.get_by_role("button", name="Consultations").click()
    panel.py_set(consultations=active)
    expect(panel.root.locator(".lume-consult__counts")).to_contain_text("the limit is 10 active")


def test_drawers_consultation_completed_elsewhere_offers_a_new_one_keeping_the_text(
    panel: Panel,
) -> None:
    panel.mount(messages=[user_message("u1", "hi"), assistant_message("a1", "Hello")])
    panel.py_set(
        error="This consultation was completed elsewhere (in another panel or from code), so "
        "it takes no more messages. Open a new consultation to go on; your message is kept.",
        error_action="new_consultation",
        unsent_text="Plan my week",
        messages=[
            user_message("u1", "hi"),
            assistant_message("a1", "Hello"),
            {**user_message("local-t1-user", "Plan my week"), "status": "unsent"},
        ],
    )
    banner = panel.root.locator(".lume-error")
    expect(banner.get_by_role("button", name="Retry")).to_be_hidden()
    expect(panel.root.locator(".lume-row--user").last).to_contain_text("Not sent")
    panel.shot("completed-elsewhere")
    banner.get_by_role("button", name="Open a new consultation").click()
    assert panel.sent()[-1] == {"type": "new_consultation"}
    expect(panel.root.locator("textarea")).to_have_value("Plan my week")
    expect(panel.root.locator("textarea")).to_be_focused()


def test_drawers_status_words_follow_the_tier_and_the_stored_question(panel: Panel) -> None:
    panel.mount(tier="rest", tier_reason="WebSocket refused (403)")
    panel.py_set(pending=pending_turn("t1", "hello"), status="streaming")
    status = panel.root.locator(".lume-badge--status")
    expect(status).to_have_text("Waiting for reply")  # REST replies do not stream
    expect(panel.root.locator(".lume-row--draft .lume-tag")).to_have_text("Waiting for reply")
    expect(panel.root.locator(".lume-row--user .lume-tag")).to_have_text("Sending")
    panel.py_set(pending={**pending_turn("t1", "hello"), "stored": True})
    expect(panel.root.locator(".lume-row--user .lume-tag")).to_have_text("Sent")
    panel.py_set(tier="live")
    expect(status).to_have_text("Streaming")
    expect(panel.root.locator(".lume-row--draft .lume-tag")).to_have_text("Streaming")


@pytest.mark.parametrize("width", [480, 475, 420])
def test_drawers_long_goal_title_keeps_the_panel_within_its_container(
    panel: Panel, width: int
) -> None:
    panel.page.set_viewport_size({"width": width + 48, "height": 760})
    panel.mount(goals=[*BASE_GOALS, LONG_GOAL], goal_id="g-long")
    panel.frames()
    sizes = panel.page.evaluate(
        """() => {
            const host = document.getElementById('host').getBoundingClientRect();
            const chat = document.querySelector('.lume-chat').getBoundingClientRect();
            const rect = (s) => document.querySelector(s).getBoundingClientRect();
            return { host: host.width, chat: chat.width, scroll: document.querySelector('.lume-chat').scrollWidth,
                     subtitle: rect('.lume-subtitle').right, badges: rect('.lume-badges').left,
                     tools: rect('.lume-tools').top, pickers: rect('.lume-pickers').top,
                     explore: rect('[aria-label="Explore tiers and faults"]').top,
                     newButton: rect('[aria-label="New consultation"]').top };
        }"""
    )
    assert sizes["chat"] <= sizes["host"] + 0.5
    assert sizes["scroll"] <= sizes["chat"] + 0.5, "nothing overflows the panel"
    assert sizes["subtitle"] <= sizes["badges"], "the subtitle never runs under the badges"
    assert sizes["explore"] == sizes["newButton"], "the tool buttons stay together"
    goal = panel.root.locator("select[aria-label=Goal]")
    expect(goal).to_have_attribute("title", f"{LONG_GOAL['title']} (target: 10000 steps)")
    panel.shot(f"long-goal-{width}px")


BASE_GOALS = [
    {"id": "g-sleep", "title": "Sleep 8 hours", "target": "8 h a night"},
    {"id": "g-run", "title": "Run a 5k", "target": "5 km"},
]


def test_drawers_explore_presets_combine_and_toggle(panel: Panel) -> None:
    panel.mount()
    panel.root.get_by_role("button", name="Explore tiers and faults").click()
    drawer = panel.root.locator(".lume-drawer--explore")
    drawer.get_by_role("button", name="Refuse WebSocket (403)").click()
    first = panel.sent()[-1]["faults"]
    assert first["refuse_ws_upgrade"] == 403
    panel.py_set(faults=first)
    expect(drawer.get_by_role("button", name="Refuse WebSocket (403)")).to_have_attribute(
        "aria-pressed", "true"
    )
    drawer.get_by_role("button", name="Flaky REST (30% 503)").click()
    both = panel.sent()[-1]["faults"]
    assert both["refuse_ws_upgrade"] == 403
    assert (both["http_error_rate"], both["http_error_status"]) == (0.3, 503)
    panel.py_set(faults=both)
    drawer.get_by_role("button", name="Refuse WebSocket (403)").click()  # on: switches it off
    off = panel.sent()[-1]["faults"]
    assert off["refuse_ws_upgrade"] is None
    assert off["http_error_rate"] == 0.3
    box = drawer.bounding_box()
    assert box is not None
    assert box["width"] >= 430


def test_drawers_download_button_saves_the_conversation_as_markdown(panel: Panel) -> None:
    panel.mount(
        messages=[user_message("u1", "Help me sleep"), assistant_message("a1", "Try **this**.")],
        consultation_id="c-7f3a",
    )
    with panel.page.expect_download() as info:
        panel.root.get_by_role("button", name="Download the conversation").click()
    download = info.value
    assert download.suggested_filename.startswith("lume-wellness_specialist-")
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("# Consultation with Wellness specialist\n")
    assert "## You · 2026-03-02T09:15:00Z\n\nHelp me sleep" in text
    assert "Try **this**." in text


HIGHLIGHTED = (
    "```python\ndef plan(days: int = 7) -> str:  # a week of breakfasts\n"
    "    return f'{days} days' if days else None\n\nprint(len('oats'))\n```\n\n"
    '```json\n{"bedtime": "22:30", "reminders": [true, 2]}\n```'
)
"""Code whose highlight has every token colour: keyword, built-in, string, number, comment,
title (def), attribute (the JSON key, the parameters)."""
HIGHLIGHT_TOKENS = {
    "hljs-keyword",
    "hljs-built_in",
    "hljs-string",
    "hljs-number",
    "hljs-comment",
    "hljs-title",
    "hljs-attr",
}

CONTRAST_STATES = {
    "messages": [
        user_message("u1", "What should I eat?"),
        assistant_message(
            "a1",
            "Here is a plan:\n\n| Meal | Idea |\n|:---|---:|\n| Breakfast | Oats |\n\n`code` and [a link](https://example.org)\n\n"
            + HIGHLIGHTED,
        ),
        assistant_message("a2", "Partial", status="stopped"),
    ],
    "error": "Lume did not answer in time. Check the connection, then retry.",
    "unsent_text": "again",
}


@pytest.mark.parametrize("theme", ["light", "dark-os", "light-jupyterlab", "dark-jupyterlab"])
def test_drawers_text_contrast_is_at_least_4_5_in_both_themes(panel: Panel, theme: str) -> None:
    """Every text: the transcript, the code highlight (each token colour), the status and tier
    badges in every tone, and the drawers; with the fallbacks and with JupyterLab's themes."""
    panel.page.emulate_media(reduced_motion="reduce")  # measured at rest, not mid-animation
    if theme == "dark-os":
        panel.page.emulate_media(color_scheme="dark", reduced_motion="reduce")
    if theme.endswith("-jupyterlab"):
        use_jupyterlab_theme(panel.page, theme.split("-")[0])
    panel.mount(**CONTRAST_STATES)
    panel.frames()
    assert low_contrast(panel.page) == []
    measured = panel.page.evaluate(CONTRAST_SCRIPT, ".lume-md pre")
    classes = {c for m in measured for c in str(m["cls"]).split()}
    assert classes >= HIGHLIGHT_TOKENS, sorted(HIGHLIGHT_TOKENS - classes)
    panel.shot(f"contrast-{theme}")
    for status, tier in (("degraded", "rest"), ("reconnecting", "legacy"), ("offline", "live")):
        panel.py_set(status=status, tier=tier)
        panel.frames()
        expect(panel.root.locator(f".lume-badge--{tier}")).to_have_count(1)
        expect(panel.root.locator(f".lume-badge--{status}")).to_have_count(1)
        assert low_contrast(panel.page, ".lume-badges") == [], (status, tier)
    panel.root.get_by_role("button", name="Explore tiers and faults").click()
    panel.py_set(server_kind="reference", faults={"refuse_ws_upgrade": 403})
    expect(panel.root.locator(".lume-chip--on")).to_have_count(1)
    assert low_contrast(panel.page, ".lume-drawer--explore") == []
    panel.root.get_by_role("button", name="Consultations").click()
    panel.py_set(consultations=CONSULTATIONS)
    expect(panel.root.locator(".lume-consult")).to_have_count(3)
    assert low_contrast(panel.page, ".lume-drawer--consult") == []
    panel.shot(f"consultations-{theme}")


def test_drawers_markdown_table_columns_keep_their_alignment(panel: Panel) -> None:
    table = "| Left | Right | Middle |\n|:---|---:|:---:|\n| a | 1.5 | x |\n"
    panel.mount(messages=[assistant_message("a1", table)])
    aligns = panel.page.evaluate(
        "() => [...document.querySelectorAll('.lume-md td')].map(c => getComputedStyle(c).textAlign)"
    )
    assert aligns == ["left", "right", "center"]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_drawers_screenshots_of_each_state_at_480px(panel: Panel, theme: str) -> None:
    """Every state a user meets, at 480 px, for a look in both themes."""
    panel.page.set_viewport_size({"width": 528, "height": 760})
    if theme == "dark":
        use_jupyterlab_dark(panel.page)
    panel.page.emulate_media(reduced_motion="reduce")
    history = CONTRAST_STATES["messages"][:2]
    panel.mount(messages=history, goals=[*BASE_GOALS, LONG_GOAL], goal_id="g-long")
    panel.frames()
    panel.shot(f"480-{theme}-idle")
    panel.py_set(pending=pending_turn("t1", "And what about naps?"), status="streaming")
    panel.delta("t1", 1, "Short naps help if you keep them **under 20 minutes**.\n\n- Set an alarm")
    panel.root.locator("textarea").fill("Next question, drafted while it streams")
    expect(panel.root.locator(".lume-row--draft li")).to_have_count(1)
    panel.shot(f"480-{theme}-streaming")
    panel.py_set(
        pending=None,
        messages=[
            *history,
            {**user_message("local-t1-user", "And what about naps?"), "status": "unsent"},
        ],
        status="error",
        status_reason="Lume could not be reached on any tier",
        error="Lume could not be reached on any tier. Check the connection, then retry.",
        unsent_text="And what about naps?",
    )
    expect(panel.root.locator(".lume-error")).to_be_visible()
    panel.shot(f"480-{theme}-error")
    panel.py_set(error="", unsent_text="", status="connected")
    panel.root.get_by_role("button", name="Consultations").click()
    panel.py_set(consultations=CONSULTATIONS)
    expect(panel.root.locator(".lume-consult")).to_have_count(3)
    panel.shot(f"480-{theme}-consultations")
    panel.root.get_by_role("button", name="Explore tiers and faults").click()
    panel.py_set(
        faults={"refuse_ws_upgrade": 403, "http_error_rate": 0.3, "http_error_status": 503}
    )
    panel.shot(f"480-{theme}-explore")
    panel.page.keyboard.press("Escape")
    panel.py_set(pending=pending_turn("t2", "one more"), status="streaming")
    panel.page.evaluate("() => window.lume.el.classList.add('jupyter-widgets-disconnected')")
    expect(panel.root.locator(".lume-badge--status")).to_have_text("Offline")
    expect(panel.root.locator(".lume-badge--tier")).to_have_text("\u2014")  # claims no tier
    assert low_contrast(panel.page, ".lume-badges") == []
    panel.shot(f"480-{theme}-kernel-restarted")
    assert panel.errors == []


def test_drawers_jupyterlab_theme_variables_are_those_of_the_installed_jupyterlab() -> None:
    """The theme copies the contrast tests use hold every ``--jp-*`` the stylesheets read, with
    the values of the installed JupyterLab's theme CSS (``var(--md-*, x)`` taken as ``x``)."""
    import re

    root = Path(__file__).resolve().parents[1]
    read = set(re.findall(r"var\((--jp-[a-z0-9-]+)", "".join(
        p.read_text(encoding="utf-8") for p in (root / "js" / "src").glob("*.css")
    ))) - {"--jp-ui-font-family", "--jp-code-font-family"}  # fmt: skip
    for theme in JUPYTERLAB_THEMES.values():
        assert set(theme) == read
    jupyterlab = pytest.importorskip("jupyterlab")
    themes = Path(jupyterlab.__file__).parent / "themes" / "@jupyterlab"
    for name, pinned in JUPYTERLAB_THEMES.items():
        css = (themes / f"theme-{name}-extension" / "index.css").read_text(encoding="utf-8")
        declared = dict(re.findall(r"(--jp-[a-z0-9-]+):([^;}]+)", css))

        def resolve(value: str, declared: dict[str, str] = declared) -> str:
            found = re.fullmatch(r"var\((--[a-z0-9-]+)(?:,(.*))?\)", value.strip())
            if found is None:
                return value.strip()
            if found.group(1) in declared:
                return resolve(declared[found.group(1)])
            return resolve(found.group(2) or "")

        assert {k: resolve(declared[k]) for k in pinned} == pinned, name
