"""The conversation of a chat panel as a file: Markdown, a self-contained HTML page, or JSON.

Only what the transcript shows goes in: the persona, the goal, the consultation id, the
messages (role, text, time, state, metrics). Never credentials: the widget's own secrets
(API key, token, password, admin token) and anything that looks like one (bearer tokens,
JWTs, ``token=`` in URLs) are replaced by ``***`` wherever they appear, message text included.
The Markdown layout is the one the panel's download button writes (``js/src/export.js``).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lume_widget.client.redact import redact
from lume_widget.errors import ConfigurationError

__all__ = ["FORMATS", "Conversation", "render", "write"]

FORMATS = ("md", "html", "json")
"""What ``ChatWidget.export`` writes, chosen by the file's suffix (``.markdown``, ``.htm``
are accepted too)."""

_SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_STATE_NOTES = {"stopped": " (stopped)", "error": " (interrupted)", "unsent": " (not sent)"}
_MASK = "***"


def _humanize(name: str) -> str:
    words = re.sub(r"[_-]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else ""


@dataclass(frozen=True)
class Conversation:
    """What an export holds; ``secrets`` are masked wherever they appear."""

    persona: str
    messages: Sequence[Mapping[str, Any]]
    consultation_id: str = ""
    goal: Mapping[str, Any] | None = None
    secrets: Iterable[str] = field(default=(), repr=False)
    ratings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The user's ratings of replies, by message id (``{rating, note}``)."""

    def clean(self, text: str) -> str:
        """``text`` with every secret, and anything shaped like one, masked."""
        for secret in sorted({s for s in self.secrets if s and len(s) >= 4}, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return _JWT.sub(_MASK, redact(text))

    @property
    def title(self) -> str:
        return f"Consultation with {_humanize(self.persona) or 'Lume'}"

    def goal_line(self) -> str:
        if not self.goal:
            return ""
        title = str(self.goal.get("title") or self.goal.get("id") or "")
        target = self.goal.get("target")
        return f"{title} (target: {target})" if target not in (None, "") else title

    def rows(self) -> list[dict[str, Any]]:
        """The messages as exported: text cleaned, only the fields the transcript shows."""
        out = []
        for m in self.messages:
            metrics = m.get("metrics") if isinstance(m.get("metrics"), Mapping) else None
            rated = self.ratings.get(str(m.get("id", "")))
            item: dict[str, Any] = {
                "role": str(m.get("role", "")),
                "content": self.clean(str(m.get("content", ""))),
                "created_at": str(m.get("created_at") or ""),
                "status": str(m.get("status") or "complete"),
                "metrics": dict(metrics) if metrics else None,
            }
            if rated:
                item["rating"] = str(rated.get("rating") or "")
                item["note"] = self.clean(str(rated.get("note") or ""))
            out.append(item)
        return out


def rating_line(m: Mapping[str, Any]) -> str:
    """How an exported message's rating reads ("Rated up: note"), "" when it has none."""
    if "rating" not in m:
        return ""
    word = {"up": "Rated up", "down": "Rated down"}.get(str(m["rating"]), "Note")
    return f"{word}: {m['note']}" if m.get("note") else word


def _markdown(c: Conversation) -> str:
    persona = _humanize(c.persona) or "Lume"
    lines = [f"# {c.title}", ""]
    if c.goal_line():
        lines += [f"Goal: {c.clean(c.goal_line())}", ""]
    if c.consultation_id:
        lines += [f"Consultation {c.consultation_id}", ""]
    for m in c.rows():
        who = "You" if m["role"] == "user" else persona
        when = f" · {m['created_at']}" if m["created_at"] else ""
        lines += [f"## {who}{when}{_STATE_NOTES.get(m['status'], '')}", "", m["content"], ""]
        if rating_line(m):
            lines += [f"> {rating_line(m)}", ""]
    return "\n".join(lines).rstrip() + "\n"


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ color-scheme: light dark; --fg: #1d2430; --muted: #5b6472; --bg: #ffffff; --you: #3f49b8; --line: #e4e7ec; }}
@media (prefers-color-scheme: dark) {{ :root {{ --fg: #e6e9ef; --muted: #a3acb9; --bg: #14171c; --you: #3b44a8; --line: #2a303a; }} }}
body {{ margin: 0 auto; max-width: 760px; padding: 24px; font: 15px/1.55 system-ui, sans-serif; color: var(--fg); background: var(--bg); }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
.meta {{ color: var(--muted); font-size: 13px; margin: 0 0 20px; }}
.msg {{ margin: 0 0 14px; }}
.who {{ font-size: 12px; color: var(--muted); margin-bottom: 3px; }}
.text {{ white-space: pre-wrap; overflow-wrap: anywhere; padding: 9px 13px; border-radius: 14px; border: 1px solid var(--line); }}
.user .text {{ background: var(--you); color: #ffffff; border-color: transparent; margin-left: 15%; }}
.user .who {{ text-align: right; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">{meta}</p>
{messages}
</body>
</html>
"""


def _html(c: Conversation) -> str:
    persona = _humanize(c.persona) or "Lume"
    meta = []
    if c.goal_line():
        meta.append(f"Goal: {c.clean(c.goal_line())}")
    if c.consultation_id:
        meta.append(f"Consultation {c.consultation_id}")
    parts = []
    for m in c.rows():
        who = "You" if m["role"] == "user" else persona
        note = _STATE_NOTES.get(m["status"], "")
        when = f" · {m['created_at']}" if m["created_at"] else ""
        role = "user" if m["role"] == "user" else "assistant"
        parts.append(
            f'<div class="msg {role}"><div class="who">{html.escape(who + when + note)}</div>'
            f'<div class="text">{html.escape(m["content"])}</div>'
            + (f'<div class="who">{html.escape(rating_line(m))}</div>' if rating_line(m) else "")
            + "</div>"
        )
    return _PAGE.format(
        title=html.escape(c.title),
        meta=html.escape(" · ".join(meta)),
        messages="\n".join(parts),
    )


def _json(c: Conversation) -> str:
    document = {
        "title": c.title,
        "persona": c.persona,
        "goal": {k: c.clean(str(v)) for k, v in c.goal.items()} if c.goal else None,
        "consultation_id": c.consultation_id,
        "messages": c.rows(),
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def render(conversation: Conversation, fmt: str) -> str:
    """The conversation as text in ``fmt`` (``md``, ``html`` or ``json``)."""
    renderers = {"md": _markdown, "html": _html, "json": _json}
    if fmt not in renderers:
        raise ConfigurationError(
            f"Unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}."
        )
    return renderers[fmt](conversation)


def write(conversation: Conversation, path: str | Path, fmt: str | None = None) -> Path:
    """Write the conversation to ``path`` in ``fmt``, or the format its suffix names."""
    target = Path(path).expanduser()
    chosen = fmt or _SUFFIXES.get(target.suffix.lower())
    if chosen is None:
        raise ConfigurationError(
            f"Cannot tell the export format from {target.name!r}: name the file .md, .html or "
            ".json, or pass format='md', 'html' or 'json'."
        )
    text = render(conversation, chosen)
    if not target.parent.exists():
        raise ConfigurationError(f"The folder {target.parent} does not exist; create it first.")
    target.write_text(text, encoding="utf-8")
    return target
