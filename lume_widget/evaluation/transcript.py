"""A read-only chat view of one evaluated conversation: bubbles like the ChatWidget's, verdicts and metrics beside each reply.

Rendered as self-contained HTML (``_repr_html_``) with every piece of backend or user
text escaped, so a reply carrying markup shows as text and runs nothing. ``messages``
gives the same conversation as message dicts of the widget protocol
(docs/widget-protocol.md), for anything that shows messages the way the panel does.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from lume_widget.evaluation.records import TurnRecord

__all__ = ["TranscriptView"]

_STYLE = """
<style>
.lume-transcript {font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px;
  max-width: 760px; border: 1px solid #e4e7ec; border-radius: 10px; padding: 10px 12px;
  background: #fcfcfd}
.lume-transcript .head {color: #475467; margin-bottom: 8px}
.lume-transcript .row {display: flex; margin: 6px 0}
.lume-transcript .row.user {justify-content: flex-end}
.lume-transcript .bubble {max-width: 78%; padding: 7px 11px; border-radius: 14px;
  white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.4}
.lume-transcript .user .bubble {background: #1570ef; color: #fff; border-bottom-right-radius: 4px}
.lume-transcript .assistant .bubble {background: #f2f4f7; color: #101828;
  border-bottom-left-radius: 4px}
.lume-transcript .assistant.failed .bubble {box-shadow: inset 0 0 0 2px #f04438}
.lume-transcript .assistant.error .bubble {box-shadow: inset 0 0 0 2px #f79009; font-style: italic}
.lume-transcript .meta {font-size: 11px; color: #667085; margin: 2px 0 0 4px}
.lume-transcript .why {font-size: 12px; color: #b42318; margin: 2px 0 6px 4px}
.lume-transcript .why.error {color: #b54708}
</style>
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


class TranscriptView:
    """One conversation of an evaluation, shown read-only."""

    def __init__(self, records: Sequence[TurnRecord]) -> None:
        if not records:
            raise ValueError("a transcript needs at least one turn record")
        self.records = list(records)
        first = self.records[0]
        self.scenario = first.scenario
        self.persona = first.persona
        self.repeat = first.repeat
        self.consultation_id = next(
            (r.consultation_id for r in self.records if r.consultation_id), None
        )

    def __repr__(self) -> str:
        return (
            f"TranscriptView(scenario={self.scenario!r}, persona={self.persona!r},"
            f" repeat={self.repeat}, turns={len(self.records)})"
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation as widget-protocol message dicts (user, then assistant, per turn)."""
        result: list[dict[str, Any]] = []
        for record in self.records:
            result.append(
                {
                    "id": f"turn-{record.turn}-user",
                    "role": "user",
                    "content": record.say,
                    "created_at": record.started_at or "",
                    "status": "complete",
                    "metrics": {},
                }
            )
            result.append(
                {
                    "id": f"turn-{record.turn}-assistant",
                    "role": "assistant",
                    "content": record.reply,
                    "created_at": record.started_at or "",
                    "status": "error" if record.error else "complete",
                    "metrics": {
                        "ttft_s": record.ttft_s,
                        "duration_s": record.duration_s,
                        "chunks": record.chunks,
                        "tier": record.tier,
                        "reconnects": record.reconnects,
                    },
                }
            )
        return result

    def to_text(self) -> str:
        """A plain-text rendering, for terminals and logs."""
        lines = [f"{self.scenario} [{self.persona}, repeat {self.repeat}]"]
        for record in self.records:
            lines.append(f"you: {record.say}")
            lines.append(f"{self.persona}: {record.reply}" if record.reply else f"{self.persona}:")
            lines.extend(f"  FAIL {failure}" for failure in record.failures)
            if record.error:
                lines.append(f"  ERROR {record.error}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [_STYLE, '<div class="lume-transcript">']
        parts.append(
            f'<div class="head"><b>{_e(self.scenario)}</b> &middot; {_e(self.persona)}'
            f" &middot; repeat {self.repeat}"
            + (
                f" &middot; consultation <code>{_e(self.consultation_id)}</code>"
                if self.consultation_id
                else ""
            )
            + "</div>"
        )
        for record in self.records:
            parts.append(f'<div class="row user"><div class="bubble">{_e(record.say)}</div></div>')
            outcome = record.outcome
            body = _e(record.reply) if record.reply else "<em>(no reply)</em>"
            parts.append(
                f'<div class="row assistant {outcome}"><div class="bubble">{body}</div></div>'
            )
            meta: list[str] = [outcome]
            if record.ttft_s is not None:
                meta.append(f"TTFT {record.ttft_s:.3f} s")
            if record.duration_s is not None:
                meta.append(f"{record.duration_s:.3f} s")
            if record.chunks:
                meta.append(f"{record.chunks} chunks")
            if record.tier:
                meta.append(f"over {record.tier}")
            if record.reconnects:
                meta.append(f"{record.reconnects} reconnects")
            parts.append(f'<div class="meta">{_e(" · ".join(meta))}</div>')
            for failure in record.failures:
                parts.append(f'<div class="why">{_e(failure)}</div>')
            if record.error:
                parts.append(f'<div class="why error">{_e(record.error)}</div>')
        parts.append("</div>")
        return "".join(parts)
