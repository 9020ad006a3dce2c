"""A read-only chat view of one evaluated conversation: bubbles like the ChatWidget's, verdicts and metrics beside each reply.

Rendered as self-contained HTML (``_repr_html_``, the report's renderer, its styles
scoped under the report's root class so no chat panel on the page is touched) with every
piece of backend or user text escaped, so a reply carrying markup shows as text and runs
nothing. ``messages``
gives the same conversation as message dicts of the widget protocol
(docs/widget-protocol.md), for anything that shows messages the way the panel does.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from lume_widget.evaluation.html_report import render_transcript
from lume_widget.evaluation.records import TurnRecord

__all__ = ["TranscriptView"]


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
        return render_transcript(self.records)
