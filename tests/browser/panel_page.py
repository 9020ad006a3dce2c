"""The chat panel's test page: a loopback server for it, and a handle on a mounted panel.

`tests/test_frontend_browser.py` drives the built bundle through this: `PageHandler` serves
tests/browser (the page, the fake anywidget model) and lume_widget/static (the bundle);
`Panel` mounts the panel on the fake model and plays the Python side (trait changes,
custom messages), reading back what the panel sent and saved.
"""

from __future__ import annotations

import json
import logging
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "lume_widget" / "static"
BROWSER_DIR = Path(__file__).resolve().parent
JS_DIR = ROOT / "js"
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS_PAYLOADS: list[str] = json.loads((BROWSER_DIR / "xss_payloads.json").read_text())

PERSONAS = ["nutritionist", "fitness_coach", "wellness_specialist", "general_wellness"]
GOALS = [
    {"id": "g-sleep", "title": "Sleep 8 hours", "target": "8 h a night"},
    {"id": "g-run", "title": "Run a 5k", "target": "5 km"},
]
BASE_TRAITS: dict[str, Any] = {
    "messages": [],
    "older": 0,
    "pending": None,
    "status": "connected",
    "status_reason": "Live socket open",
    "tier": "live",
    "tier_reason": "Replies stream over the WebSocket",
    "pinned_tier": "",
    "persona": "wellness_specialist",
    "personas": PERSONAS,
    "goal_id": "",
    "goals": GOALS,
    "consultation_id": "c-7f3a",
    "input_enabled": True,
    "input_disabled_reason": "",
    "error": "",
    "unsent_text": "",
    "server_kind": "reference",
    "faults": {},
}


def user_message(mid: str, content: str, at: str = "2026-03-02T09:15:00Z") -> dict[str, Any]:
    return {
        "id": mid,
        "role": "user",
        "content": content,
        "created_at": at,
        "status": "complete",
        "metrics": None,
    }


def assistant_message(
    mid: str, content: str, at: str = "2026-03-02T09:15:04Z", status: str = "complete"
) -> dict[str, Any]:
    return {
        "id": mid,
        "role": "assistant",
        "content": content,
        "created_at": at,
        "status": status,
        "metrics": {
            "ttft_s": 0.42,
            "duration_s": 3.1,
            "chunks": 128,
            "tier": "live",
            "reconnects": 0,
        },
    }


def long_history(count: int, body_chars: int = 1500, prefix: str = "") -> list[dict[str, Any]]:
    """`count` messages: questions and long structured replies in turn, no two texts alike.

    Distinct replies, as in a real history, so a per-text cache cannot stand in for rendering.
    """
    body = long_markdown(body_chars)
    messages: list[dict[str, Any]] = []
    for i in range(count // 2):
        messages.append(user_message(f"{prefix}u{i}", f"question {i}"))
        messages.append(assistant_message(f"{prefix}a{i}", f"Reply {i}.\n\n{body}"))
    return messages


def pending_turn(turn_id: str, text: str) -> dict[str, Any]:
    return {"turn_id": turn_id, "user_text": text, "started_at": "2026-03-02T09:16:00Z"}


def bundle_is_stale() -> bool:
    bundle = STATIC / "widget.js"
    if not bundle.exists() or not (STATIC / "widget.css").exists():
        return True
    built = bundle.stat().st_mtime
    return any(p.stat().st_mtime > built for p in (JS_DIR / "src").rglob("*") if p.is_file())


class PageHandler(SimpleHTTPRequestHandler):
    """Serves / and /browser/* from tests/browser, /static/* from lume_widget/static."""

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/static/"):
            return str(STATIC / clean.removeprefix("/static/"))
        if clean.startswith("/browser/"):
            return str(BROWSER_DIR / clean.removeprefix("/browser/"))
        return str(BROWSER_DIR / "index.html")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("test page server: " + format, *args)


class Panel:
    """One mounted panel on the test page, and the Python side's levers."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.locator(".lume-chat")
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def mount(self, *, disconnected: bool = False, **traits: Any) -> Panel:
        self.page.evaluate(
            "([traits, options]) => window.lume.mount(traits, options)",
            [{**BASE_TRAITS, **traits}, {"disconnected": disconnected}],
        )
        expect(self.root).to_be_visible()
        return self

    def py_set(self, **changes: Any) -> None:
        self.page.evaluate("changes => window.lume.model.pySet(changes)", changes)

    def custom(self, message: dict[str, Any]) -> None:
        self.page.evaluate("m => window.lume.model.pyCustom(m)", message)

    def delta(self, turn_id: str, seq: int, text: str) -> None:
        self.custom({"type": "delta", "turn_id": turn_id, "seq": seq, "text": text})

    def sent(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate("() => window.lume.model.sent")
        return result

    def sent_types(self) -> list[str]:
        return [m["type"] for m in self.sent()]

    def saved(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate("() => window.lume.model.saved")
        return result

    def trait(self, name: str) -> Any:
        """A trait of the model; ``messages``: the messages its chain of blocks holds."""
        if name == "messages":
            return self.page.evaluate("() => window.lume.model.chainMessages()")
        return self.page.evaluate("n => window.lume.model.traits[n]", name)

    def frames(self, n: int = 2) -> None:
        for _ in range(n):
            self.page.evaluate("() => window.lume.frames()")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.root.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")

    def assert_inert(self) -> None:
        """No payload ran: no canary, no dialog, no handler attributes, no script URLs."""
        self.page.wait_for_timeout(300)  # let failing images and autofocus handlers fire
        assert self.page.evaluate("() => window.__xss") is None
        assert self.dialogs == []
        findings = self.page.evaluate(
            """() => {
                const bad = [];
                for (const el of document.querySelectorAll('.lume-chat *')) {
                    for (const a of el.attributes) {
                        const v = a.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
                        if (a.name.startsWith('on')) bad.push(`${el.tagName} ${a.name}`);
                        if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data'].includes(a.name)
                            && (v.startsWith('javascript:') || v.startsWith('data:text/html'))) bad.push(`${el.tagName} ${a.name}=${a.value}`);
                    }
                }
                const forbidden = '.lume-transcript :is(script, iframe, object, embed, form, style, svg, math, base, meta, link, template, video, audio, marquee)';
                for (const el of document.querySelectorAll(forbidden)) {
                    if (!el.closest('.lume-icon')) bad.push(`<${el.tagName}>`);  // our own icons are SVG
                }
                for (const a of document.querySelectorAll('.lume-md a[href]')) {
                    if (a.rel !== 'noopener noreferrer' || a.target !== '_blank') bad.push(`link without rel: ${a.href}`);
                }
                return bad;
            }"""
        )
        assert findings == []
        assert self.errors == []


def long_markdown(size: int) -> str:
    """A reply like a long, structured answer: headings, prose, lists, tables, code."""
    sections: list[str] = []
    i = 0
    while sum(len(s) for s in sections) < size:
        i += 1
        sections.append(
            f"## Part {i}: keeping a steady routine\n\n"
            "A consistent schedule helps your body clock. Aim for the **same bedtime** and wake time, "
            "even at weekends, and keep the hour before bed *calm*: dim lights, no screens, and a cool "
            f"room. See [the guide](https://example.org/sleep/{i}) for details.\n\n"
            "- Go to bed at 22:30\n- Wake at 06:30\n- Limit caffeine after 14:00\n  - tea counts too\n\n"
            "| Day | Bedtime | Wake | Quality |\n|---|---|---|---|\n"
            + "".join(
                f"| Day {d} | 22:{30 + d} | 06:{30 + d} | {'good' if d % 2 else 'fair'} |\n"
                for d in range(1, 6)
            )
            + "\n```python\ndef sleep_debt(hours: list[float], target: float = 8.0) -> float:\n"
            '    """Hours short of the target over the week."""\n'
            "    return sum(max(0.0, target - h) for h in hours)\n\n"
            "print(sleep_debt([7.5, 6.0, 8.2, 7.0]))\n```\n\n"
            "```sql\nSELECT day, AVG(hours) AS avg_hours FROM sleep_log\nWHERE user_id = 42 GROUP BY day ORDER BY day;\n```\n\n"
            '```json\n{"bedtime": "22:30", "wake": "06:30", "reminders": [true, false]}\n```\n\n'
            "```bash\nlume-widget eval --personas wellness_specialist --turns 3\n```\n\n"
            "> Small, regular changes beat big, rare ones.\n\n"
        )
    return "".join(sections)[:size]


CONTRAST_SCRIPT = """(selector) => {
    // WCAG contrast of every visible text of `selector` against the background behind it
    // (the backgrounds of its ancestors composited over the page's).
    const parse = (value) => {
        let m = value.match(/^rgba?\\(([^)]+)\\)$/);
        if (m) {
            const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
            return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
        }
        m = value.match(/^color\\(srgb ([^)]+)\\)$/);
        if (m) {
            const p = m[1].split(/[ /]+/).filter(Boolean).map(Number);
            return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
        }
        return null;
    };
    const over = (top, bottom) => {
        const a = top[3];
        return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
    };
    const lum = (c) => {
        const ch = c.slice(0, 3).map((v) => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
    };
    const background = (el) => {
        const chain = [];
        for (let node = el; node; node = node.parentElement) chain.push(node);
        let bg = [255, 255, 255, 1];
        for (const node of chain.reverse()) {
            const style = getComputedStyle(node);
            if (style.backgroundImage.includes('gradient')) {
                // The avatar and logo: measured against the gradient's first colour.
                const first = style.backgroundImage.match(/(rgba?\\([^)]*\\)|color\\(srgb [^)]*\\))/);
                if (first) bg = over(parse(first[1]), bg);
                continue;
            }
            const c = parse(style.backgroundColor);
            if (c && c[3] > 0) bg = over(c, bg);
        }
        return bg;
    };
    const out = [];
    for (const el of document.querySelectorAll(`${selector} *`)) {
        const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
        if (!text) continue;
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
        if (el.closest('[hidden], .lume-sr-only, [disabled], :disabled')) continue;
        let opacity = 1;
        for (let node = el; node; node = node.parentElement) opacity *= Number(getComputedStyle(node).opacity);
        if (opacity < 0.99) continue;  // dimmed on purpose (copy buttons until hovered)
        const bg = background(el);
        const fg = over(parse(style.color) || [0, 0, 0, 1], bg);
        const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        out.push({ text: text.slice(0, 40), cls: el.className, ratio: (a + 0.05) / (b + 0.05),
                   fg: style.color, bg: bg.map(Math.round).join(',') });
    }
    return out;
}"""

JUPYTERLAB_LIGHT = {
    "--jp-border-color1": "#bdbdbd",
    "--jp-border-color2": "#e0e0e0",
    "--jp-brand-color0": "#0d47a1",
    "--jp-brand-color1": "#1976d2",
    "--jp-brand-color2": "#64b5f6",
    "--jp-cell-editor-background": "#f5f5f5",
    "--jp-content-font-color1": "rgba(0,0,0,.87)",
    "--jp-error-color1": "#d32f2f",
    "--jp-error-color2": "#e57373",
    "--jp-info-color1": "#0097a7",
    "--jp-layout-color0": "white",
    "--jp-layout-color1": "white",
    "--jp-layout-color2": "#eee",
    "--jp-layout-color4": "#757575",
    "--jp-mirror-editor-builtin-color": "green",
    "--jp-mirror-editor-comment-color": "#408080",
    "--jp-mirror-editor-def-color": "#00f",
    "--jp-mirror-editor-keyword-color": "green",
    "--jp-mirror-editor-number-color": "#080",
    "--jp-mirror-editor-operator-color": "#7800c2",
    "--jp-mirror-editor-property-color": "#05a",
    "--jp-mirror-editor-string-color": "#ba2121",
    "--jp-success-color1": "#388e3c",
    "--jp-ui-font-color0": "#000",
    "--jp-ui-font-color2": "rgba(0,0,0,.54)",
    "--jp-warn-color0": "#e65100",
    "--jp-warn-color1": "#f57c00",
}
"""JupyterLab 4's light theme, as its CSS gives the variables the panel's stylesheets read
(@jupyterlab/theme-light-extension; ``test_frontend_drawers`` checks them against the installed
JupyterLab and that every ``--jp-*`` the stylesheets read is here)."""

JUPYTERLAB_DARK = {
    "--jp-border-color1": "#616161",
    "--jp-border-color2": "#424242",
    "--jp-brand-color0": "#1976d2",
    "--jp-brand-color1": "#2196f3",
    "--jp-brand-color2": "#64b5f6",
    "--jp-cell-editor-background": "#212121",
    "--jp-content-font-color1": "#fff",
    "--jp-error-color1": "#f44336",
    "--jp-error-color2": "#e57373",
    "--jp-info-color1": "#00bcd4",
    "--jp-layout-color0": "#111",
    "--jp-layout-color1": "#212121",
    "--jp-layout-color2": "#424242",
    "--jp-layout-color4": "#757575",
    "--jp-mirror-editor-builtin-color": "#43a047",
    "--jp-mirror-editor-comment-color": "#408080",
    "--jp-mirror-editor-def-color": "#1e88e5",
    "--jp-mirror-editor-keyword-color": "#4caf50",
    "--jp-mirror-editor-number-color": "#66bb6a",
    "--jp-mirror-editor-operator-color": "#d48fff",
    "--jp-mirror-editor-property-color": "#42a5f5",
    "--jp-mirror-editor-string-color": "#ff7070",
    "--jp-success-color1": "#4caf50",
    "--jp-ui-font-color0": "#fff",
    "--jp-ui-font-color2": "rgba(255,255,255,.54)",
    "--jp-warn-color0": "#f57c00",
    "--jp-warn-color1": "#ff9800",
}
"""The same of JupyterLab 4's dark theme (@jupyterlab/theme-dark-extension)."""

JUPYTERLAB_THEMES = {"light": JUPYTERLAB_LIGHT, "dark": JUPYTERLAB_DARK}


def low_contrast(page: Page, selector: str = ".lume-chat", floor: float = 4.5) -> list[Any]:
    """Texts under ``selector`` whose contrast is below ``floor`` (WCAG AA: 4.5)."""
    found: list[dict[str, Any]] = page.evaluate(CONTRAST_SCRIPT, selector)
    assert found, "no text measured"
    return [f for f in found if f["ratio"] < floor]


def use_jupyterlab_theme(page: Page, theme: str) -> None:
    """Give the page JupyterLab's ``light`` or ``dark`` theme: its variables and
    data-jp-theme-light, as JupyterLab sets them on the body."""
    page.evaluate(
        """([light, vars]) => { document.body.dataset.jpThemeLight = String(light);
            for (const [k, v] of Object.entries(vars)) document.body.style.setProperty(k, v);
            document.body.style.background = vars['--jp-layout-color0']; }""",
        [theme == "light", JUPYTERLAB_THEMES[theme]],
    )


def use_jupyterlab_dark(page: Page) -> None:
    """Give the page JupyterLab's dark theme."""
    use_jupyterlab_theme(page, "dark")
