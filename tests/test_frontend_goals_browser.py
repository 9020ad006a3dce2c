"""The goal picker's progress labels and the "New goal" form, in Debian's chromium.

The page and fixtures are test_frontend_browser's (the built bundle on a fake anywidget
model); each test plays the Python side of the form: it reads the ``create_goal`` message
the panel sent and answers ``goal_form`` the way ChatWidget does.
"""

# ruff: noqa: F811 (the page fixtures are test_frontend_browser's, imported by name)
from __future__ import annotations

import datetime as dt

import pytest
from browser.panel_page import SCREENSHOTS, Panel, pending_turn
from playwright.sync_api import expect
from test_frontend_browser import browser, bundle, page_url, panel  # noqa: F401

pytestmark = pytest.mark.browser

GOALS = [
    {
        "id": "g-sleep",
        "title": "Sleep 8 hours",
        "target": "8 h",
        "progress": 75,
        "status": "active",
    },
    {"id": "g-walk", "title": "Walk 10000 steps a day", "target": "10000 steps", "progress": 40},
    {"id": "g-old", "title": "Run a 5k", "target": "5 km", "progress": None},
]


def open_form(panel: Panel) -> None:
    panel.root.get_by_role("button", name="New goal").click()
    expect(panel.root.get_by_role("form", name="New goal")).to_be_visible()


def created(panel: Panel) -> list[dict[str, object]]:
    return [m for m in panel.sent() if m["type"] == "create_goal"]


def test_goal_picker_labels_show_progress(panel: Panel) -> None:
    panel.mount(goals=GOALS, goal_id="g-walk")
    expect(panel.root.locator("select[aria-label=Goal] option")).to_have_text(
        [
            "No goal",
            "Sleep 8 hours \u00b7 75%",
            "Walk 10000 steps a day \u00b7 40%",
            "Run a 5k (target: 5 km)",
        ]
    )
    panel.py_set(goals=[{**GOALS[1], "progress": 65}])
    expect(panel.root.locator("select[aria-label=Goal] option").nth(1)).to_have_text(
        "Walk 10000 steps a day \u00b7 65%"
    )


def test_goal_form_checks_fields_inline_before_sending(panel: Panel) -> None:
    panel.mount(goals=GOALS)
    open_form(panel)
    form = panel.root.get_by_role("form", name="New goal")
    expect(form.get_by_label("Title")).to_be_focused()
    expect(form.get_by_label("Start")).to_have_value(dt.date.today().isoformat())
    expect(form.get_by_label("Type")).to_have_value("activity")
    form.get_by_role("button", name="Create goal").click()
    expect(form.locator(".lume-field--title .lume-field__error")).to_have_text(
        "Say what the goal is."
    )
    expect(form.locator(".lume-field--target_value .lume-field__error")).to_have_text(
        "A target is required."
    )
    expect(form.locator(".lume-field--target_unit .lume-field__error")).to_contain_text(
        "A unit is required"
    )
    expect(form.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Title")).to_be_focused()
    form.get_by_label("Target", exact=True).fill("-5")
    form.get_by_role("button", name="Create goal").click()
    expect(form.locator(".lume-field--target_value .lume-field__error")).to_have_text(
        "The target must be 0 or more."
    )
    form.get_by_label("Title").fill("Walk")
    expect(form.locator(".lume-field--title .lume-field__error")).to_be_hidden()
    assert created(panel) == []
    assert panel.errors == []


def test_goal_form_sends_the_goal_shows_python_problems_then_closes(panel: Panel) -> None:
    panel.mount(goals=GOALS)
    open_form(panel)
    form = panel.root.get_by_role("form", name="New goal")
    form.get_by_label("Title").fill("  Meditate 10 minutes a day ")
    form.get_by_label("Type").select_option("custom")
    form.get_by_label("Target", exact=True).fill("10")
    form.get_by_label("Unit").fill("minutes")
    form.get_by_label("Start").fill("2026-01-05")
    form.get_by_label("Target date (optional)").fill("2026-03-01")
    form.get_by_label("Unit").press("Enter")
    expect(form.get_by_role("button", name="Creating\u2026")).to_be_disabled()
    (request,) = created(panel)
    assert request["goal"] == {
        "title": "Meditate 10 minutes a day",
        "goal_type": "custom",
        "target_value": 10,
        "target_unit": "minutes",
        "start_date": "2026-01-05",
        "target_date": "2026-03-01",
    }
    panel.custom({"type": "goal_form", "request_id": "someone-else", "ok": True})
    expect(form.get_by_role("button", name="Creating\u2026")).to_be_visible()  # not its answer
    panel.custom(
        {
            "type": "goal_form",
            "request_id": request["request_id"],
            "ok": False,
            "problems": {"target_unit": "target_unit must be text of at most 50 characters"},
            "message": "",
        }
    )
    expect(form.locator(".lume-field--target_unit .lume-field__error")).to_have_text(
        "target_unit must be text of at most 50 characters"
    )
    expect(form.get_by_label("Unit")).to_be_focused()
    form.get_by_role("button", name="Create goal").click()
    second = created(panel)[1]
    assert second["request_id"] != request["request_id"]
    panel.custom(
        {
            "type": "goal_form",
            "request_id": second["request_id"],
            "ok": True,
            "goal_id": "g-new",
            "title": "Meditate 10 minutes a day",
        }
    )
    expect(form).to_be_hidden()
    expect(panel.root.get_by_role("button", name="New goal")).to_be_focused()
    panel.py_set(
        goals=[*GOALS, {"id": "g-new", "title": "Meditate 10 minutes a day", "progress": 0}],
        goal_id="g-new",
    )
    picker = panel.root.locator("select[aria-label=Goal]")
    expect(picker).to_have_value("g-new")
    expect(picker.locator("option:checked")).to_have_text("Meditate 10 minutes a day \u00b7 0%")
    assert panel.errors == []


def test_goal_form_shows_a_backend_error_and_closes_on_escape(panel: Panel) -> None:
    panel.mount(goals=GOALS)
    open_form(panel)
    form = panel.root.get_by_role("form", name="New goal")
    form.get_by_label("Title").fill("Walk")
    form.get_by_label("Target", exact=True).fill("10000")
    form.get_by_label("Unit").fill("steps")
    form.get_by_role("button", name="Create goal").click()
    (request,) = created(panel)
    panel.custom(
        {
            "type": "goal_form",
            "request_id": request["request_id"],
            "ok": False,
            "problems": {},
            "message": "The backend could not be reached. Check the URL and try again.",
        }
    )
    expect(form.get_by_role("alert")).to_have_text(
        "The backend could not be reached. Check the URL and try again."
    )
    form.get_by_label("Title").press("Escape")
    expect(form).to_be_hidden()
    panel.py_set(pending=pending_turn("t1", "hi"), status="streaming")
    expect(panel.root.get_by_role("button", name="New goal")).to_be_disabled()
    panel.py_set(pending=None, status="connected")
    expect(panel.root.get_by_role("button", name="New goal")).to_be_enabled()


def test_goal_form_screenshots_narrow_and_dark(panel: Panel) -> None:
    panel.page.set_viewport_size({"width": 480, "height": 760})
    panel.mount(goals=GOALS, goal_id="g-walk")
    open_form(panel)
    panel.shot("goal-form-480-open")
    form = panel.root.get_by_role("form", name="New goal")
    form.get_by_label("Title").fill("Walk 10000 steps a day")
    form.get_by_label("Target", exact=True).fill("-1")
    form.get_by_role("button", name="Create goal").click()
    box = form.bounding_box()
    assert box is not None
    assert box["width"] <= 480
    grid = panel.root.locator(".lume-goal-grid").bounding_box()
    assert grid is not None
    assert grid["x"] + grid["width"] <= box["x"] + box["width"] + 1  # nothing spills out
    panel.shot("goal-form-480")
    panel.page.emulate_media(color_scheme="dark")
    panel.shot("goal-form-480-dark")
    assert {"goal-form-480-open.png", "goal-form-480.png", "goal-form-480-dark.png"} <= {
        p.name for p in SCREENSHOTS.glob("*.png")
    }
