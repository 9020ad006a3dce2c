"""Browser figures of the front end, in Debian's chromium through Playwright, on the front end's own test page.

The page and its fake anywidget model are the front end's harness (``tests/browser/``:
``index.html``, ``harness.js``, ``panel_page.py``), imported here rather than copied, so
the benchmark drives exactly what the browser tests drive. Figures:

- streaming: a long markdown reply (headings, lists, tables, code) sent as deltas of 50
  characters at 200 per second, one chunk per delta (no coalescing: harder than what
  Python sends). Long tasks over 50 ms and frames per second while it streams. The floor
  is the same page left idle for as long: what this browser does with nothing to draw.
- many panels: eight panels (eight views of eight fake models) streaming the same reply at
  once, each at 200 deltas per second, next to one panel streaming it alone: long tasks and
  the longest task. What a notebook with a grid of personas side by side asks of the page.
- history: the time to draw a 500-message transcript from the ``messages`` trait until
  every row is in the page. Every reply is a different text (``panel_page.long_history``),
  as in a real history, so the panel's per-text cache of rendered HTML cannot stand in for
  rendering them. The floor puts the same 500 texts into plain ``<div>``s (``textContent``,
  no markdown): what the DOM alone costs.

Playwright's sync API cannot run inside a running event loop, so all of this runs in
a worker thread.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.common import Row, Skip, Target, row
from benchmarks.context import Context

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"
HARNESS_DIR = TESTS_DIR / "browser"
NAME = "frontend"

CHUNK_CHARS = 50
CHUNK_RATE = 200
HISTORY_TARGET_S = 1.0
MANY_PANELS = 8
OPEN_MESSAGES = 200  # lume_widget.widget.history: a long consultation opens with these
PAGE_MESSAGES = 100  # and each scroll to the top loads one page more
FIRST_FRAME_TARGET_S = 0.1
VISIBLE_ROWS_TARGET_S = 0.5


def _harness() -> Any:
    """The front end's page module (tests/browser/panel_page.py), or Skip if it is not there."""
    if not (HARNESS_DIR / "panel_page.py").is_file():
        raise Skip("the front end's browser harness (tests/browser/) is not in the tree yet")
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))
    try:
        from browser import panel_page
    except ImportError as exc:
        raise Skip(f"the browser harness cannot be imported: {exc}") from exc
    return panel_page


def _ensure_bundle(page_module: Any) -> None:
    if not page_module.bundle_is_stale():
        return
    npm = shutil.which("npm")
    if npm is None or not (page_module.JS_DIR / "node_modules").exists():
        raise Skip("the front end is missing or older than js/src (cd js && npm run build)")
    subprocess.run([npm, "run", "build", "--silent"], cwd=page_module.JS_DIR, check=True)


@contextmanager
def _page_server(page_module: Any) -> Iterator[str]:
    handler = partial(page_module.PageHandler, directory=str(page_module.BROWSER_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="bench-page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


_STREAM_JS = """async ({text, chunkSize, rate}) => window.lume.measure(
    () => window.lume.stream({turnId: 't-bench', text, chunkSize, rate}))"""

_MANY_JS = """async ({text, chunkSize, rate}) => window.lume.measure(
    () => window.lume.streamAll({turnId: 't-bench', text, chunkSize, rate}))"""

_IDLE_JS = """async ({ms}) => window.lume.measure(
    () => new Promise((resolve) => setTimeout(() => resolve({}), ms)))"""

_HISTORY_JS = """async ({traits, count}) => window.lume.measure(async () => {
    const start = performance.now();
    const rows = () => document.querySelectorAll('.lume-row').length;
    window.lume.mount(traits);
    await window.lume.frames();
    const firstMs = performance.now() - start;  // the first frame after mounting has painted
    while (rows() < count) await window.lume.frames();
    return {rows: rows(), firstMs};
})"""

_LONG_HISTORY_JS = """async ({traits, all, window: held, page, pages}) => {
    const lume = window.lume;
    const rows = () => document.querySelectorAll('.lume-row').length;
    const heap = () => (performance.memory ? performance.memory.usedJSHeapSize : null);
    // A frame, or 50 ms when no frame comes (headless chromium may hold frames back while
    // back-to-back drawing tasks run): the time read after it is within a frame or two.
    const settle = () => Promise.race([lume.frames(), new Promise((r) => setTimeout(r, 50))]);
    const heapBefore = heap();
    const start = performance.now();
    lume.mount(traits, {history: {all, window: held, page}});
    await lume.frames();
    const firstMs = performance.now() - start;
    // Every row in view drawn: rows reach the top of the transcript's visible area.
    const box = document.querySelector('.lume-transcript');
    const covered = () => {
        const first = [...document.querySelectorAll('.lume-row')][0];
        return first && first.getBoundingClientRect().top <= box.getBoundingClientRect().top;
    };
    while (!covered()) await settle();
    const visibleMs = performance.now() - start;
    while (rows() < held) await settle();
    const windowMs = performance.now() - start;
    const heapOpen = heap();
    const opened = {rows: rows(), firstMs, visibleMs, windowMs};
    // Scroll up to the top, page after page: each load_older answered with a new oldest block.
    const scrolled = await lume.measure(async () => {
        const pageMs = [];
        for (let i = 0; i < pages && lume.model.traits.older > 0; i += 1) {
            const older = lume.model.traits.older;
            const want = rows() + Math.min(page, older);
            const began = performance.now();
            // As a reader does: a wheel turn upwards (the panel stops following), then the top.
            box.dispatchEvent(new WheelEvent('wheel', {deltaY: -120}));
            box.scrollTop = 0;
            while (rows() < want) await settle();
            pageMs.push(performance.now() - began);
        }
        return {pageMs, rows: rows(), older: lume.model.traits.older};
    });
    return {...opened, scrolled, heapBefore, heapOpen, heapScrolled: heap(),
            nodes: document.getElementsByTagName('*').length};
}"""

_PLAIN_HISTORY_JS = """async ({texts}) => window.lume.measure(async () => {
    const box = document.createElement('div');
    document.getElementById('host').append(box);
    for (const text of texts) {
        const div = document.createElement('div');
        div.textContent = text;
        box.append(div);
    }
    return {rows: box.children.length};
})"""


def _busy_core() -> subprocess.Popen[bytes]:
    """Another process keeping one core busy (a spinning child), as a loaded machine has."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _measure_history(page: Any, page_module: Any, traits: dict[str, Any]) -> dict[str, Any]:
    """Draws the 500-message history; returns its figures and the plain-divs floor's."""
    history = traits["messages"]
    page.evaluate("() => window.lume.unmount()")
    shown = page.evaluate(_HISTORY_JS, {"traits": traits, "count": len(history)})
    page.evaluate("() => window.lume.unmount()")
    plain = page.evaluate(_PLAIN_HISTORY_JS, {"texts": [m["content"] for m in history]})
    if shown["rows"] != len(history) or plain["rows"] != len(history):
        raise RuntimeError(
            f"drew {shown['rows']} and {plain['rows']} rows of {len(history)} messages"
        )
    return {"shown": shown, "plain": plain}


def _measure_in_browser(quick: bool) -> dict[str, Any]:
    page_module = _harness()
    if not page_module.CHROMIUM.exists():
        raise Skip("Debian's chromium is missing (apt-get install chromium)")
    _ensure_bundle(page_module)
    from playwright.sync_api import sync_playwright

    stream_chars = 10_000 if quick else 40_000
    many_chars = 6_000 if quick else 20_000
    history_count = 100 if quick else 500
    text = page_module.long_markdown(stream_chars)
    history: list[dict[str, Any]] = page_module.long_history(history_count)
    traits = {**page_module.BASE_TRAITS, "messages": history}
    figures: dict[str, Any] = {"stream_chars": len(text), "history_messages": len(history)}
    with _page_server(page_module) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(page_module.CHROMIUM),
            args=[*page_module.CHROMIUM_ARGS, "--enable-precise-memory-info"],
        )
        try:
            context = browser.new_context(viewport={"width": 960, "height": 760})
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("() => window.lumeReady === true")
            panel = page_module.Panel(page)

            panel.mount(pending=page_module.pending_turn("t-bench", "Write me a long plan"))
            page.evaluate("() => window.lume.idle()")
            stream = page.evaluate(
                _STREAM_JS, {"text": text, "chunkSize": CHUNK_CHARS, "rate": CHUNK_RATE}
            )
            idle = page.evaluate(_IDLE_JS, {"ms": round(stream["elapsedMs"])})
            figures["stream"] = stream
            figures["idle"] = idle

            # One panel, then eight at once, streaming the same shorter reply.
            pending = page_module.pending_turn("t-bench", "Write me a plan")
            many_text = page_module.long_markdown(many_chars)
            args = {"text": many_text, "chunkSize": CHUNK_CHARS, "rate": CHUNK_RATE}
            for key, count in (("one_panel", 1), ("many_panels", MANY_PANELS)):
                page.evaluate(
                    "([traits, n]) => window.lume.mountMany(traits, n)",
                    [{**page_module.BASE_TRAITS, "pending": pending}, count],
                )
                page.evaluate("() => window.lume.idle()")
                figures[key] = page.evaluate(_MANY_JS, args)
            figures["many_chars"] = len(many_text)

            quiet = _measure_history(page, page_module, traits)
            figures["history"], figures["plain_history"] = quiet["shown"], quiet["plain"]
            spinner = _busy_core()
            try:
                busy = _measure_history(page, page_module, traits)
            finally:
                spinner.kill()
                spinner.wait()
            figures["busy_history"], figures["busy_plain_history"] = busy["shown"], busy["plain"]

            page.evaluate("() => window.lume.unmount()")
            long_count = 1_000 if quick else 5_000
            everything = page_module.long_history(long_count)
            figures["long_history"] = page.evaluate(
                _LONG_HISTORY_JS,
                {
                    "traits": page_module.BASE_TRAITS,
                    "all": everything,
                    "window": OPEN_MESSAGES,
                    "page": PAGE_MESSAGES,
                    "pages": 3 if quick else long_count,
                },
            )
            figures["long_history_messages"] = len(everything)
            if panel.errors:
                raise RuntimeError(f"the page raised: {panel.errors[0]}")
            context.close()
        finally:
            browser.close()
    return figures


async def measure_browser(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    figures = await asyncio.to_thread(_measure_in_browser, ctx.quick)
    stream, idle = figures["stream"], figures["idle"]
    history, plain = figures["history"], figures["plain_history"]
    idle_name = "idle page"
    rows = [
        row(
            NAME,
            f"streaming {figures['stream_chars']:,} chars at {CHUNK_RATE}/s: long tasks > 50 ms",
            "tasks",
            float(len(stream["longTasks"])),
            float(len(idle["longTasks"])),
            reference_name=idle_name,
            target=Target("ours_at_most", 0),
        ),
        row(
            NAME,
            "streaming: longest task",
            "ms",
            max(stream["longTasks"], default=0.0),
            max(idle["longTasks"], default=0.0),
            reference_name=idle_name,
        ),
        row(
            NAME,
            "streaming: frames per second",
            "fps",
            stream["fps"],
            idle["fps"],
            reference_name=idle_name,
        ),
        row(
            NAME,
            f"{MANY_PANELS} panels streaming {figures['many_chars']:,} chars each at {CHUNK_RATE}/s: long tasks > 50 ms",
            "tasks",
            float(len(figures["many_panels"]["longTasks"])),
            float(len(figures["one_panel"]["longTasks"])),
            reference_name="one panel",
            target=Target("ours_at_most", 0),
        ),
        row(
            NAME,
            f"{MANY_PANELS} panels streaming: longest task",
            "ms",
            max(figures["many_panels"]["longTasks"], default=0.0),
            max(figures["one_panel"]["longTasks"], default=0.0),
            reference_name="one panel",
        ),
        row(
            NAME,
            f"{MANY_PANELS} panels streaming: frames per second",
            "fps",
            figures["many_panels"]["fps"],
            figures["one_panel"]["fps"],
            reference_name="one panel",
        ),
        row(
            NAME,
            f"history of {figures['history_messages']} messages: first frame painted",
            "s",
            history["firstMs"] / 1000,
            note="the newest rows are drawn first; older ones follow in slices of 8 ms",
        ),
        row(
            NAME,
            f"history of {figures['history_messages']} messages: every row drawn",
            "s",
            history["elapsedMs"] / 1000,
            plain["elapsedMs"] / 1000,
            reference_name="plain divs",
            target=Target("ours_at_most", HISTORY_TARGET_S),
        ),
    ]
    rows.extend(_history_rows(figures))
    parameters = {
        "stream_chars": figures["stream_chars"],
        "chunk_chars": CHUNK_CHARS,
        "chunk_rate_per_s": CHUNK_RATE,
        "stream_chunks": stream["chunks"],
        "stream_ms": round(stream["elapsedMs"]),
        "history_messages": figures["history_messages"],
        "history_long_tasks": len(history["longTasks"]),
        "many_panels": MANY_PANELS,
        "many_chars": figures["many_chars"],
    }
    return rows, parameters


def _history_rows(figures: dict[str, Any]) -> list[Row]:
    """The 500-message row with one core busy, and the long consultation's rows."""
    busy, busy_plain = figures["busy_history"], figures["busy_plain_history"]
    count = figures["history_messages"]
    long = figures["long_history"]
    scrolled = long["scrolled"]
    total = figures["long_history_messages"]
    mb = 1024 * 1024
    heap_open = (long["heapOpen"] - long["heapBefore"]) / mb if long["heapOpen"] else None
    heap_end = (long["heapScrolled"] - long["heapBefore"]) / mb if long["heapScrolled"] else None
    pages = scrolled["pageMs"]
    return [
        row(
            NAME,
            f"history of {count} messages, one core kept busy: every row drawn",
            "s",
            busy["elapsedMs"] / 1000,
            busy_plain["elapsedMs"] / 1000,
            reference_name="plain divs, same load",
            target=Target("ours_at_most", HISTORY_TARGET_S),
            note=f"first frame {busy['firstMs'] / 1000:.3f} s; {len(busy['longTasks'])} long"
            f" tasks, longest {max(busy['longTasks'], default=0):.0f} ms (a spinning child process)",
        ),
        row(
            NAME,
            f"consultation of {total:,} messages: first frame painted",
            "s",
            long["firstMs"] / 1000,
            target=Target("ours_at_most", FIRST_FRAME_TARGET_S),
            note=f"the panel opens with the newest {OPEN_MESSAGES}; `older` counts the rest",
        ),
        row(
            NAME,
            f"consultation of {total:,} messages: every visible row drawn",
            "s",
            long["visibleMs"] / 1000,
            target=Target("ours_at_most", VISIBLE_ROWS_TARGET_S),
            note=f"all {OPEN_MESSAGES} rows of the window in {long['windowMs'] / 1000:.2f} s",
        ),
        row(
            NAME,
            f"consultation of {total:,} messages: scrolling up, longest task",
            "ms",
            max(scrolled["longTasks"], default=0.0),
            target=Target("ours_at_most", 50),
            note=f"{len(pages)} pages of {PAGE_MESSAGES} loaded at the top,"
            f" {sum(pages) / max(len(pages), 1) / 1000:.2f} s a page on average;"
            f" {len(scrolled['longTasks'])} long tasks; {scrolled['rows']:,} rows in the end",
        ),
        row(
            NAME,
            f"consultation of {total:,} messages: browser JS heap, opened / scrolled through",
            "MB",
            heap_open,
            heap_end,
            reference_name="after scrolling through",
            note=f"{long['nodes']:,} DOM elements in the end",
        ),
    ]
