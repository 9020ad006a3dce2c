"""Plain data the backend hands out: messages, consultations, goals, quick actions.

Frozen, slotted dataclasses built by :mod:`lume_widget.core.wire` from whatever
shape the backend sent (both envelopes, nulls omitted, flat or nested). They carry
no behaviour beyond small conveniences, so every face can show them as it likes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
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
    """A goal stored on the backend (PROTOCOL B9.5); goal-aware consultations need its server id.

    Every field but ``id`` and ``title`` may be missing from what a backend sends. Dates
    are dates whether they came as ``YYYY-MM-DD`` or as RFC 3339 date-times;
    ``recurrence_days`` count from 0 = Sunday (GOALS34). ``progress`` is the number the
    backend sent, on its own scale (0-1 or 0-100, the sources disagree); use
    :attr:`progress_fraction` or :attr:`progress_percent` to show it. Fields the parser
    does not know are kept in ``extra``.
    """

    id: str
    title: str
    user_id: str | None = None
    goal_type: str | None = None
    description: str | None = None
    target_value: float | None = None
    target_unit: str | None = None
    current_value: float | None = None
    progress: float | None = None
    start_date: date | None = None
    target_date: date | None = None
    status: str | None = None
    is_recurring: bool = False
    recurrence_pattern: str | None = None
    recurrence_days: tuple[int, ...] | None = None
    recurrence_end_date: date | None = None
    is_overdue: bool | None = None
    days_remaining: int | None = None
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    statistics: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """A short human description of the target, e.g. ``"10000 steps"`` (empty if none)."""
        if self.target_value is None:
            return ""
        value = f"{self.target_value:g}"
        return f"{value} {self.target_unit}" if self.target_unit else value

    @property
    def progress_fraction(self) -> float | None:
        """How far along the goal is, from 0 to 1 (None when nothing says).

        ``progress`` above 1 is read as a percentage. From 0 to 1 the scale is ambiguous;
        the reading closer to ``current_value / target_value`` wins, and 0-1 when those
        are unknown. With no ``progress`` the ratio itself is used.
        """
        ratio = None
        if self.current_value is not None and self.target_value:
            ratio = self.current_value / self.target_value
        raw = self.progress
        if raw is None:
            value = ratio
        elif raw > 1 or (ratio is not None and abs(raw / 100 - ratio) < abs(raw - ratio)):
            value = raw / 100
        else:
            value = raw
        return None if value is None else min(1.0, max(0.0, value))

    @property
    def progress_percent(self) -> int | None:
        """:attr:`progress_fraction` as a whole percentage, e.g. ``40``."""
        fraction = self.progress_fraction
        return None if fraction is None else int(fraction * 100 + 0.5)

    @property
    def label(self) -> str:
        """The goal as a picker shows it: ``"Walk 10000 steps a day · 40%"``."""
        percent = self.progress_percent
        return self.title if percent is None else f"{self.title} \u00b7 {percent}%"


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
