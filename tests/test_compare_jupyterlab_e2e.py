"""CompareWidget end to end in JupyterLab (Debian's chromium): three personas streaming at once.

One message from the comparison's composer reaches three columns that stream together,
each with its own status and tier badges; Stop in one column stops that side only; a
thumb, a note and the best pick are rated in the columns and read back from the kernel;
"Save as scenario" downloads a file the scenario loader accepts. Screenshots in light,
JupyterLab dark and at 480 px go to ``artifacts/screenshots/jupyterlab-compare-*.png``.
"""

from __future__ import annotations

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

from e2e.fixtures import browser  # noqa: E402
from e2e.lab import Lab, lume_env, start_lab, write_notebook  # noqa: E402
from e2e.page import SCREENSHOTS, open_notebook, run_cell, run_code, screenshot  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

from lume_widget.evaluation.scenarios import parse_scenarios  # noqa: E402

COMPARE_CELL = """from lume_widget import CompareWidget
cmp = CompareWidget(["nutritionist", "fitness_coach", "wellness_specialist"])
cmp"""
UI_TIMEOUT_MS = scaled(30) * 1000
__all__ = ["browser"]  # fixture


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    running = ReferenceServer(ServerConfig(chunk_delay_ms=20)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def lab(server: ReferenceServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    running = start_lab(tmp_path_factory.mktemp("jupyterlab-compare"), lume_env(server))
    yield running
    running.stop()


def open_compare(browser: Browser, lab: Lab, name: str, width: int = 1280) -> Page:
    write_notebook(lab.root / name, [COMPARE_CELL, ""])
    page = browser.new_context(viewport={"width": width, "height": 1000}).new_page()
    open_notebook(page, lab.notebook_url(name))
    if width < 800:  # a narrow window: the notebook alone, as a person would have it
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
        expect(page.locator("#jp-left-stack")).to_be_hidden(timeout=UI_TIMEOUT_MS)
    run_cell(page, 0)
    expect(page.locator(".lume-compare .lume-chat--compact")).to_have_count(
        3, timeout=UI_TIMEOUT_MS
    )
    expect(page.locator(".lume-compare > .lume-composer .lume-send")).to_be_enabled(
        timeout=UI_TIMEOUT_MS
    )
    return page


def ask(page: Page, text: str) -> None:
    box = page.locator(".lume-compare > .lume-composer .lume-input")
    box.click()
    box.fill(text)
    box.press("Enter")


def test_compare_in_jupyterlab_streams_three_sides_stops_one_rates_and_saves(
    browser: Browser, lab: Lab
) -> None:
    page = open_compare(browser, lab, "compare.ipynb")
    try:
        cols = page.locator(".lume-compare__col")
        for i, title in enumerate(["Nutritionist", "Fitness coach", "Wellness specialist"]):
            expect(cols.nth(i).locator(".lume-subtitle")).to_have_text(title)
            expect(cols.nth(i).locator(".lume-badge--tier")).to_be_visible()
        ask(page, "/long 300")
        # All three stream at once: three drafts with text, each column its own.
        page.wait_for_function(
            """() => [...document.querySelectorAll('.lume-compare__col')].every((c) => {
                const d = c.querySelector('.lume-row--draft .lume-md');
                return d && d.textContent.length > 40; })""",
            timeout=UI_TIMEOUT_MS,
        )
        screenshot(page, "compare-streaming")
        cols.nth(0).locator(".lume-stop").click()
        expect(cols.nth(0).locator(".lume-row--assistant").last).to_have_attribute(
            "data-status", "stopped", timeout=UI_TIMEOUT_MS
        )
        assert cols.nth(1).locator(".lume-row--draft").count() == 1  # still streaming
        for i in (1, 2):
            expect(cols.nth(i).locator(".lume-row--draft")).to_have_count(0, timeout=UI_TIMEOUT_MS)
            expect(cols.nth(i).locator(".lume-row--assistant").last).to_have_attribute(
                "data-status", "complete"
            )
        expect(page.locator(".lume-compare > .lume-composer .lume-send")).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        # Rate: a thumb and a note in one column, the best pick in another.
        last = [cols.nth(i).locator(".lume-row--assistant").last for i in range(3)]
        last[1].get_by_role("button", name="Good reply").click()
        note = last[1].get_by_role("textbox", name="Note on this reply")
        note.fill("one concrete change")
        note.press("Enter")
        last[2].get_by_role("button", name="Best reply").click()
        last[0].get_by_role("button", name="Bad reply").click()
        expect(last[2].get_by_role("button", name="Best reply")).to_have_attribute(
            "aria-pressed", "true"
        )
        screenshot(page, "compare-rated")
        run_code(
            page,
            "r = cmp.ratings[0]['replies']\n"
            "print(sorted((x['side'], x['rating'], x['note'], x['best']) for x in r))",
        )
        out = page.locator("[data-mime-type='application/vnd.jupyter.stdout']").last
        expect(out).to_contain_text(
            "[(0, 'down', '', False), (1, 'up', 'one concrete change', False), (2, '', '', True)]",
            timeout=UI_TIMEOUT_MS,
        )
        with page.expect_download(timeout=UI_TIMEOUT_MS) as info:
            page.locator(".lume-compare__tools").get_by_role(
                "button", name="Save as scenario"
            ).click()
        download = info.value
        assert download.suggested_filename.endswith(".yaml")
        text = Path(download.path()).read_text(encoding="utf-8")
        assert "# Fitness coach: rated 👍 up: one concrete change" in text
        assert "# Wellness specialist: best reply" in text
        (scenario,) = parse_scenarios(text).scenarios
        assert scenario.persona == ["nutritionist", "fitness_coach", "wellness_specialist"]
        assert [t.say for t in scenario.turns or ()] == ["/long 300"]
    finally:
        page.context.close()


@pytest.mark.parametrize(("theme", "width"), [("JupyterLab Dark", 1280), (None, 480)])
def test_compare_in_jupyterlab_screenshots(
    browser: Browser, lab: Lab, theme: str | None, width: int
) -> None:
    lab.set_theme(theme)
    name = f"compare-{'dark' if theme else 'light'}-{width}.ipynb"
    page = open_compare(browser, lab, name, width=width)
    try:
        cols = page.locator(".lume-compare__col")
        finished = cols.nth(2).locator(".lume-row--assistant:not(.lume-row--draft)")
        before = finished.count()
        ask(page, "How can I sleep better?")
        expect(finished).to_have_count(before + 1, timeout=UI_TIMEOUT_MS)
        expect(page.locator(".lume-compare .lume-row--draft")).to_have_count(
            0, timeout=UI_TIMEOUT_MS
        )
        cols.nth(0).locator(".lume-row--assistant").last.get_by_role(
            "button", name="Good reply"
        ).click()
        screenshot(page, f"compare-{'dark' if theme else 'light'}-{width}px")
        # Beyond the width the columns scroll sideways; the page itself does not.
        scroll = page.locator(".lume-compare__cols").evaluate(
            "e => [e.scrollWidth > e.clientWidth, document.scrollingElement.scrollWidth <= innerWidth + 1]"
        )
        if width == 480:
            assert scroll == [True, True]
    finally:
        page.context.close()
        lab.set_theme(None)


# Per column, the row of the user's message `say` (the sides may resume a consultation
# with an earlier history, so rows are found by their text, the last one that matches).
USER_ROWS = """(say) => [...document.querySelectorAll('.lume-compare__col')].map((c) =>
    [...c.querySelectorAll('.lume-list > .lume-row--user')]
        .filter((r) => r.querySelector('.lume-text').textContent === say).pop())"""
TURN_TOPS = f"""() => ({USER_ROWS})('And what about coffee?')
    .map((r) => r ? r.getBoundingClientRect().top : null)"""


def test_compare_in_jupyterlab_keeps_columns_aligned_by_turn(browser: Browser, lab: Lab) -> None:
    page = open_compare(browser, lab, "compare-aligned.ipynb")
    try:
        cols = page.locator(".lume-compare__col")
        ask(page, "/long 400")
        # Column 0 is stopped early: its first reply is far shorter than the others.
        expect(cols.nth(0).locator(".lume-row--draft .lume-md")).not_to_be_empty(
            timeout=UI_TIMEOUT_MS
        )
        cols.nth(0).locator(".lume-stop").click()
        expect(page.locator(".lume-compare .lume-row--draft")).to_have_count(
            0, timeout=UI_TIMEOUT_MS
        )
        heights = page.evaluate(
            f"""() => ({USER_ROWS})('/long 400')
                .map((r) => r.nextElementSibling.getBoundingClientRect().height)"""
        )
        assert max(heights) > 3 * heights[0], heights
        expect(page.locator(".lume-compare > .lume-composer .lume-send")).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        ask(page, "And what about coffee?")
        # While turn 2 streams, and once it is done, its top is level in every column.
        page.wait_for_function(
            f"""() => {{ const t = ({TURN_TOPS})();
                return t.every((v) => v !== null) && Math.max(...t) - Math.min(...t) <= 2; }}""",
            timeout=UI_TIMEOUT_MS,
        )
        expect(page.locator(".lume-compare .lume-row--draft")).to_have_count(
            0, timeout=UI_TIMEOUT_MS
        )
        page.wait_for_timeout(200)  # the alignment runs on the next frame after a resize
        tops = page.evaluate(TURN_TOPS)
        assert None not in tops, tops
        assert max(tops) - min(tops) <= 2, tops
        # Scrolling one column scrolls the others to the same place.
        scrollers = ".lume-compare .lume-transcript"
        before = page.locator(scrollers).nth(1).evaluate("e => e.scrollTop")
        assert before > 250, before  # the long replies overflow the columns
        cols.nth(1).locator(".lume-transcript").hover()
        page.mouse.wheel(0, -450)  # turn 2 comes into view below the end of turn 1
        # (a wheel scrolls smoothly, over several frames: wait for the followers to settle)
        page.wait_for_function(
            f"""([sel, before]) => {{ const s = [...document.querySelectorAll(sel)]
                .map((e) => e.scrollTop); const t = ({TURN_TOPS})();
                return s[1] < before - 100 && Math.max(...s) - Math.min(...s) <= 1
                    && Math.max(...t) - Math.min(...t) <= 2; }}""",
            arg=[scrollers, before],
            timeout=UI_TIMEOUT_MS,
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "compare-aligned.png"))
    finally:
        page.context.close()
