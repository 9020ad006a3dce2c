"""The shapes the widget model syncs (docs/widget-protocol.md), and a recorder of comm traffic.

Message dicts are what the ``messages`` trait holds: ``{id, role, content, created_at,
status, metrics}``; goal dicts are ``{id, title, target, progress, status}``. ``CommLog`` records every
comm message a widget sends (trait updates and custom messages) with its size, so tests
and benchmarks can count what streaming costs the Jupyter channel.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lume_widget.core.events import Reply
from lume_widget.core.models import Goal, Message

__all__ = [
    "TIERS",
    "CommLog",
    "CommRecord",
    "assistant_message",
    "goal_dict",
    "message_dict",
    "now_iso",
    "user_message",
]

TIERS = ("live", "rest", "legacy")
"""The tiers a user can pin."""

SHOWN_ROLES = ("user", "assistant")
"""Roles the panel shows; system and function messages stay out of the transcript."""


def now_iso() -> str:
    """The current UTC time as ISO 8601."""
    return datetime.now(timezone.utc).isoformat()


def _iso(value: datetime | None) -> str:
    if value is None:
        return now_iso()
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def message_dict(message: Message, *, status: str = "complete") -> dict[str, Any]:
    """A stored message as the ``messages`` trait holds it (no metrics: history has none)."""
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "created_at": _iso(message.created_at),
        "status": status,
        "metrics": None,
    }


def user_message(
    text: str,
    stored: Message | None,
    turn_id: str,
    *,
    sent_at: str | None = None,
    status: str = "complete",
) -> dict[str, Any]:
    """The user's side of a turn: the server's copy when it acknowledged one, else ours, timed
    when it was sent (``sent_at``), not when the turn ended. ``status`` is ``unsent`` for a
    message the backend never got (shown until it is sent again)."""
    if stored is not None:
        return message_dict(stored)
    return {
        "id": f"local-{turn_id}-user",
        "role": "user",
        "content": text,
        "created_at": sent_at or now_iso(),
        "status": status,
        "metrics": None,
    }


def assistant_message(
    *,
    turn_id: str,
    text: str,
    status: str,
    metrics: dict[str, Any],
    reply: Reply | None = None,
) -> dict[str, Any]:
    """The assistant's side of a turn: complete (from ``reply``), stopped or error."""
    if reply is not None:
        return {
            "id": reply.message_id,
            "role": "assistant",
            "content": reply.text,
            "created_at": now_iso(),
            "status": "complete",
            "metrics": {
                "ttft_s": reply.ttft_s,
                "duration_s": reply.duration_s,
                "chunks": reply.chunks,
                "tier": reply.tier.value,
                "reconnects": reply.reconnects,
            },
        }
    return {
        "id": f"local-{turn_id}-assistant",
        "role": "assistant",
        "content": text,
        "created_at": now_iso(),
        "status": status,
        "metrics": metrics,
    }


def goal_dict(goal: Goal) -> dict[str, Any]:
    """A goal as the ``goals`` trait holds it (``progress`` a whole percentage or None)."""
    return {
        "id": goal.id,
        "title": goal.title,
        "target": goal.target,
        "progress": goal.progress_percent,
        "status": goal.status,
    }


def _payload_size(msg: Any, buffers: Any) -> int:
    # jupyter_client packs messages with json.dumps(ensure_ascii=False), default separators.
    size = len(json.dumps(msg, ensure_ascii=False, default=str).encode("utf-8"))
    for buffer in buffers or ():
        size += len(memoryview(buffer).cast("B"))
    return size


@dataclass(frozen=True, slots=True)
class CommRecord:
    """One comm message the widget sent: ``method`` is ``update`` or ``custom``."""

    at: float
    method: str
    kind: str
    """The custom message's ``type`` (delta, snapshot), or the updated trait names."""
    size: int
    """Bytes of the message's JSON data plus its binary buffers."""
    data: dict[str, Any]


@dataclass
class CommLog:
    """Every comm message a widget sent while recording (see ``ChatWidget.record_comm``)."""

    records: list[CommRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, msg: dict[str, Any], buffers: Any = None) -> None:
        """Log one comm message the widget sends (called by the widget)."""
        method = str(msg.get("method", ""))
        if method == "custom":
            kind = str(msg.get("content", {}).get("type", ""))
        else:
            kind = ",".join(sorted(msg.get("state", {})))
        entry = CommRecord(time.monotonic(), method, kind, _payload_size(msg, buffers), msg)
        with self._lock:
            self.records.append(entry)

    def clear(self) -> None:
        """Forget the messages logged so far."""
        with self._lock:
            self.records.clear()

    def of_kind(self, kind: str) -> list[CommRecord]:
        """Custom messages of one ``type`` (``delta``, ``snapshot``)."""
        return [r for r in self.records if r.method == "custom" and r.kind == kind]

    @property
    def count(self) -> int:
        """How many comm messages were logged."""
        return len(self.records)

    @property
    def total_bytes(self) -> int:
        """The size of every logged message (its JSON and binary buffers), in bytes."""
        return sum(r.size for r in self.records)
