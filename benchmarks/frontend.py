"""Front end: bundle size vs panel's, and in headless chromium: long tasks and fps while streaming, history render time.

Bundle: the minified ``lume_widget/static/widget.js`` (built by ``cd js && npm run
build``) against the JavaScript panel loads for a ChatFeed in a notebook (Bokeh core,
Bokeh widgets, panel), all as shipped in their Python packages.

Browser figures use the front end's own test harness (``tests/browser/``: the built
bundle mounted on a fake anywidget model in a plain HTML page) driven by Playwright
with Debian's chromium; see :mod:`benchmarks.browser`.
"""

from __future__ import annotations

import gzip
import importlib.util
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.common import Row, Skip, Target, row
from benchmarks.context import Context
from benchmarks.ours import close_chat, close_client, open_chat, open_client

NAME = "frontend"
ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "lume_widget" / "static" / "widget.js"
BUNDLE_TARGET_KB = 150.0


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent.joinpath(*parts)
    return path if path.is_file() else None


def panel_bundle_files() -> list[Path]:
    """The JavaScript a notebook loads to show a panel ChatFeed (as installed here)."""
    candidates = [
        _package_file("bokeh", "server", "static", "js", "bokeh.min.js"),
        _package_file("bokeh", "server", "static", "js", "bokeh-widgets.min.js"),
        _package_file("panel", "dist", "panel.min.js"),
    ]
    return [path for path in candidates if path is not None]


def _sizes(paths: list[Path]) -> tuple[float, float]:
    raw = sum(path.stat().st_size for path in paths)
    zipped = sum(len(gzip.compress(path.read_bytes(), 9)) for path in paths)
    return raw / 1000, zipped / 1000


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    rows: list[Row] = []
    parameters: dict[str, Any] = {}
    peer = panel_bundle_files()
    peer_raw, peer_zipped = _sizes(peer) if len(peer) == 3 else (None, None)
    peer_name = "panel + bokeh"
    ours_raw: float | None = None
    ours_zipped: float | None = None
    skip: str | None = None
    if BUNDLE.is_file():
        ours_raw, ours_zipped = _sizes([BUNDLE])
    else:
        skip = "the front end is not built (cd js && npm run build)"
    rows.append(
        row(
            NAME,
            "bundle size, minified",
            "KB",
            ours_raw,
            peer_raw,
            reference_name=peer_name,
            target=Target("ours_at_most", BUNDLE_TARGET_KB),
            skipped=skip,
        )
    )
    rows.append(
        row(
            NAME,
            "bundle size, gzip -9",
            "KB",
            ours_zipped,
            peer_zipped,
            reference_name=peer_name,
            skipped=skip,
        )
    )
    parameters["peer_files"] = [path.name for path in peer]

    rows.extend(await _kernel_memory(ctx))
    try:
        from benchmarks.browser import measure_browser

        browser_rows, browser_parameters = await measure_browser(ctx)
        rows.extend(browser_rows)
        parameters.update(browser_parameters)
    except Skip as exc:
        rows.append(row(NAME, "browser figures", "", None, skipped=str(exc)))
    return rows, parameters


async def _kernel_memory(ctx: Context) -> list[Row]:
    """Python memory of a panel opened on a long consultation, next to the client's alone,
    and the time the client takes to open it, next to one read of its whole history.

    The consultation is made on the reference server (``/long 1`` turns); both sides are
    measured with tracemalloc, side by side, from before opening to once it is open. The
    client reads the newest 200 messages when it opens (a one-message page for the
    ``total_count``, then pages of 100): that is the floor; the panel adds its window
    (``chat.messages``) and the blocks. Opening used to read the whole history: the time row
    sets the open (median of interleaved rounds) next to that one whole read."""
    from lume_widget.widget import ChatWidget

    count = ctx.size(5_000, 1_000)
    rounds = ctx.size(5, 3)
    server = await ctx.server()
    client = await open_client(server)
    persona = "general_wellness"
    try:
        chat = await open_chat(client, persona=persona)
        held = len(chat.transcript)
        started = time.perf_counter()
        while held < count:
            async for _ in chat.stream("/long 1"):
                pass
            held += 2
        await close_chat(chat)
        ctx.note(f"kernel memory: {held:,} messages made in {time.perf_counter() - started:.1f} s")
        opens: list[float] = []
        wholes: list[float] = []
        for _ in range(rounds):  # the two sides interleaved, round by round
            started = time.perf_counter()
            timed = await open_chat(client, persona=persona, resume=True)
            opens.append(time.perf_counter() - started)
            started = time.perf_counter()
            await timed.history()
            wholes.append(time.perf_counter() - started)
            await close_chat(timed)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            alone = await open_chat(client, persona=persona, resume=True)
            floor = tracemalloc.get_traced_memory()[0] - base
            transcript = len(alone.transcript)
            await close_chat(alone)
            del alone
            base = tracemalloc.get_traced_memory()[0]
            panel = ChatWidget(client=client, persona=persona)
            await panel.ready()
            ours = tracemalloc.get_traced_memory()[0] - base
            shown, older = len(panel.messages), panel.older
            await panel.aclose()
        finally:
            tracemalloc.stop()
    finally:
        await close_client(client)
    return [
        row(
            NAME,
            f"kernel: a panel opened on {held:,} messages, Python memory",
            "MB",
            ours / 1e6,
            floor / 1e6,
            reference_name="the client's open alone",
            note=f"the panel holds the newest {shown} ({older:,} older, paged in on scroll-up);"
            f" the client's transcript holds {transcript}",
        ),
        row(
            NAME,
            f"kernel: the client opening a consultation of {held:,} messages, time",
            "s",
            statistics.median(opens),
            statistics.median(wholes),
            reference_name="one read of the whole history",
            note=f"median of {rounds} interleaved rounds; the open reads a one-message page and"
            " the newest 200 in pages of 100",
        ),
    ]
