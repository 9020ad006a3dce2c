"""report.html and the notebook view: self-contained, scoped styles, readable in light, dark and JupyterLab's dark theme.

The page is opened in Debian's chromium (Playwright): no console error, no request
leaving the page, and table headers and bubbles legible in every colour scheme.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from lume_widget.evaluation import evaluate_async
from lume_widget.evaluation.html_report import ROOT_CLASS, STYLE
from lume_widget.server import ReferenceServer, ServerConfig

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

SCRIPT = """
scenarios:
  - name: side-by-side
    persona: [nutritionist, fitness_coach]
    repeat: 2
    turns:
      - say: "What should I eat for breakfast? <script>alert(1)</script>"
      - say: "And lunch?"
        expect: {icontains: ["no such words"]}
"""

# A few of JupyterLab's dark-theme variables, as its theme sets them on the page.
JUPYTER_DARK = (
    ":root {--jp-layout-color0: #111111; --jp-layout-color1: #212121; --jp-layout-color2: #424242;"
    " --jp-ui-font-color0: rgba(255,255,255,1); --jp-ui-font-color2: rgba(255,255,255,0.54);"
    " --jp-border-color2: #616161} body {background: #111111; color: #fff}"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: install it with `apt-get install chromium`.")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One run against the reference server, made on its own thread (Playwright's loop is busy)."""
    workdir = tmp_path_factory.mktemp("report")
    path = workdir / "s.yaml"
    path.write_text(SCRIPT)
    out = workdir / "run"
    server = ReferenceServer(ServerConfig(chunk_delay_ms=0)).start()
    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                asyncio.run,
                evaluate_async(
                    path,
                    out=out,
                    url=server.url,
                    api_key=server.api_key,
                    email=server.email,
                    password=server.password,
                    progress=False,
                ),
            ).result()
        yield out
    finally:
        server.stop()


def _luminance(colour: str) -> float:
    parts = [float(x) for x in re.findall(r"[\d.]+", colour)[:3]]

    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in parts)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(page: Page, selector: str) -> float:
    colours: dict[str, str] = page.eval_on_selector(
        selector,
        """element => {
            const style = getComputedStyle(element);
            let node = element, background = 'rgba(0, 0, 0, 0)';
            while (node && (background === 'rgba(0, 0, 0, 0)' || background === 'transparent')) {
                background = getComputedStyle(node).backgroundColor;
                node = node.parentElement;
            }
            return {fg: style.color, bg: background};
        }""",
    )
    a, b = sorted((_luminance(colours["fg"]), _luminance(colours["bg"])), reverse=True)
    return (a + 0.05) / (b + 0.05)


def open_page(browser: Browser, url: str, scheme: str) -> tuple[Page, list[str], list[str]]:
    context = browser.new_context(color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, errors, requests


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_report_opens_in_chromium_without_errors_or_requests_and_is_legible(
    browser: Browser, run_dir: Path, scheme: str
) -> None:
    report = run_dir / "report.html"
    url = report.resolve().as_uri()
    page, errors, requests = open_page(browser, url, scheme)
    try:
        assert errors == []
        assert requests == [url]
        assert page.locator(f".{ROOT_CLASS} svg circle").count() == 8
        assert page.locator("details").count() == 4
        assert page.locator("script").count() == 0
        assert page.get_by_text("<script>alert(1)</script>", exact=False).count() > 0
        assert page.locator("h2", has_text="Personas side by side").count() == 1
        assert contrast(page, f".{ROOT_CLASS} th") >= 4.5
        assert contrast(page, f".{ROOT_CLASS} .badge.failed") >= 4.5
        assert contrast(page, f".{ROOT_CLASS} .assistant .bubble") >= 4.5
        background = page.eval_on_selector(
            f".{ROOT_CLASS}", "e => getComputedStyle(e).backgroundColor"
        )
        dark = _luminance(background) < 0.2
        assert dark is (scheme == "dark")
    finally:
        page.context.close()


@pytest.mark.browser
def test_report_notebook_view_touches_nothing_around_it_and_reads_in_jupyter_dark(
    browser: Browser, run_dir: Path, tmp_path: Path
) -> None:
    import json

    from lume_widget.evaluation.records import read_records
    from lume_widget.evaluation.result import EvaluationResult
    from lume_widget.evaluation.transcript import TranscriptView

    records = read_records(run_dir / "transcripts.jsonl")
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    result = EvaluationResult(records=records, summary=summary, out_dir=run_dir)
    transcript = TranscriptView(result.conversation("side-by-side", 0, "nutritionist"))
    outside = (
        '<div class="lume-chat"><div class="lume-transcript" id="panel">panel</div>'
        '<table><tr><th id="outside-th">h</th></tr></table>'
        '<div class="bubble row user" id="outside-bubble">x</div></div>'
    )
    probe = (
        "() => ['panel', 'outside-th', 'outside-bubble'].map(id => {"
        " const s = getComputedStyle(document.getElementById(id));"
        " return [s.color, s.backgroundColor, s.padding, s.border, s.display, s.fontSize]; })"
    )
    plain = tmp_path / "plain.html"
    plain.write_text(
        f"<!doctype html><html><head><style>{JUPYTER_DARK}</style></head><body>{outside}</body></html>"
    )
    page, _, _ = open_page(browser, plain.as_uri(), "light")
    before = page.evaluate(probe)
    page.context.close()

    mixed = tmp_path / "mixed.html"
    mixed.write_text(
        f"<!doctype html><html><head><style>{JUPYTER_DARK}</style></head><body>{outside}"
        f"{result._repr_html_()}{transcript._repr_html_()}</body></html>"
    )
    page, errors, requests = open_page(browser, mixed.as_uri(), "light")
    try:
        assert page.evaluate(probe) == before
        assert errors == []
        assert requests == [mixed.as_uri()]
        # JupyterLab's dark variables win over the light scheme: headers light on dark
        assert contrast(page, f".{ROOT_CLASS} th") >= 4.5
        assert (
            _luminance(
                page.eval_on_selector(
                    f".{ROOT_CLASS} th", "e => getComputedStyle(e).backgroundColor"
                )
            )
            < 0.2
        )
        assert contrast(page, f".{ROOT_CLASS} .assistant .bubble") >= 4.5
    finally:
        page.context.close()


def test_report_style_rules_all_sit_under_the_root_class() -> None:
    text = re.sub(r"@media[^{]*\{", "", STYLE)
    selectors = [s.strip() for s in re.findall(r"([^{}]+)\{[^{}]*\}", text)]
    assert selectors
    for group in selectors:
        for selector in group.split(","):
            assert selector.strip().startswith(f".{ROOT_CLASS}"), selector
