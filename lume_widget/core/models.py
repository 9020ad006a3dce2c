"""Plain data the backend hands out: messages, consultations, goals, quick actions.

Frozen, slotted dataclasses built by :mod:`lume_widget.core.wire` from whatever
shape the backend sent (both envelopes, nulls omitted, flat or nested). They carry
no behaviour beyond small conveniences, so every face can show them as it likes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ConsultationInfo", "Goal", "Message", "QuickAction"]


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message of a consultation (``role`` is user, assistant, system or function)."""

    id: str
    role: str
    content: str
    created_at: datetime | None = None
    consultation_id: str | None = None
    tokens_used: int | None = None
    processing_time_ms: int | None = None
    reply_to: str | None = None
    """For a reply, the id of the user message it answers, when the backend says."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``created_at`` as ISO 8601, absent fields left out)."""
        data: dict[str, Any] = {"id": self.id, "role": self.role, "content": self.content}
        if self.created_at is not None:
            data["created_at"] = self.created_at.isoformat()
        if self.consultation_id is not None:
            data["consultation_id"] = self.consultation_id
        if self.tokens_used is not None:
            data["tokens_used"] = self.tokens_used
        if self.processing_time_ms is not None:
            data["processing_time_ms"] = self.processing_time_ms
        if self.reply_to is not None:
            data["reply_to"] = self.reply_to
        return data


@dataclass(frozen=True, slots=True)
class ConsultationInfo:
    """A consultation as the backend describes it (create, get and list answers)."""

    id: str
    persona: str
    status: str
    goal_id: str | None = None
    context_type: str | None = None
    context_id: str | None = None
    quick_action: str | None = None
    message_count: int = 0
    started_at: datetime | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    last_message_at: datetime | None = None
    has_context_for_goal_suggestions: bool = False

    @property
    def effective_goal_id(self) -> str | None:
        """The goal this consultation is about: ``context_id`` of a goal context, else ``goal_id``."""
        if self.context_type == "goal" and self.context_id:
            return self.context_id
        return self.goal_id


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal stored on the backend; goal-aware consultations need its server id."""

    id: str
    title: str
    goal_type: str | None = None
    description: str | None = None
    current_value: float | None = None
    target_value: float | None = None
    target_unit: str | None = None
    status: str | None = None
    created_at: datetime | None = None

    @property
    def target(self) -> str:
        """A short human description of the target, e.g. ``"10000 steps"`` (empty if none)."""
        if self.target_value is None:
            return ""
        value = f"{self.target_value:g}"
        return f"{value} {self.target_unit}" if self.target_unit else value


@dataclass(frozen=True, slots=True)
class QuickAction:
    """A suggested conversation starter offered by the backend."""

    id: str
    title: str
    prompt: str = ""
    icon: str | None = None
    context_type: str | None = None
    persona: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
