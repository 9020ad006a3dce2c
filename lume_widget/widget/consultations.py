"""Which consultation a panel holds, and the consultations drawer's list.

Panels in one process (one kernel) must not silently share a consultation: two panels with
the same persona would merge identical questions into one turn, and "New consultation" in one
would complete the other's. :class:`Holds` records which panel holds which consultation, so
a panel resuming "the newest active consultation of this persona" skips one that another
panel holds and starts its own instead, unless it was asked to share
(``ChatWidget(share_consultation=True)``) or was pointed at one by id.

The drawer's list (:func:`drawer_list`) is the persona's consultations, active and completed,
newest first, as the ``consultations`` trait holds them.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lume_widget.core.models import ConsultationInfo
from lume_widget.errors import ConsultationNotActiveError, LumeError, TooManyConsultationsError

if TYPE_CHECKING:
    from lume_widget.client import LumeClient

__all__ = [
    "HOLDS",
    "Holds",
    "consultation_dict",
    "drawer_list",
    "free_consultation",
    "oldest_active",
    "recovery_for",
]

NOT_ACTIVE = (
    "This consultation was completed elsewhere (in another panel or from code), so it takes "
    "no more messages. Open a new consultation to go on; your message is kept."
)
TOO_MANY = (
    "Lume allows at most 10 active consultations and you have that many. Complete the "
    "oldest (or choose some in Consultations) to start a new one."
)

LISTED_STATUSES = ("active", "completed")
"""What the drawer lists (abandoned and archived ones are out of reach of the panel)."""


class Holds:
    """Consultation id -> the panels (by owner key) that hold it, for one process."""

    def __init__(self) -> None:
        self._held: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def take(self, consultation_id: str, owner: int) -> None:
        with self._lock:
            self._held.setdefault(consultation_id, set()).add(owner)

    def release(self, consultation_id: str, owner: int) -> None:
        with self._lock:
            owners = self._held.get(consultation_id)
            if owners is not None:
                owners.discard(owner)
                if not owners:
                    del self._held[consultation_id]

    def held_by_other(self, consultation_id: str, owner: int) -> bool:
        with self._lock:
            return bool(self._held.get(consultation_id, set()) - {owner})

    def held(self, consultation_id: str) -> bool:
        with self._lock:
            return bool(self._held.get(consultation_id))


HOLDS = Holds()
"""The process's record (every ChatWidget of a kernel uses it)."""


def _when(info: ConsultationInfo) -> datetime | None:
    return info.last_message_at or info.started_at or info.created_at


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _newest_first(items: list[ConsultationInfo]) -> list[ConsultationInfo]:
    def key(info: ConsultationInfo) -> float:
        when = info.started_at or info.created_at
        return when.timestamp() if when is not None else 0.0

    return sorted(items, key=key, reverse=True)


def consultation_dict(info: ConsultationInfo, *, current: str, owner: int) -> dict[str, Any]:
    """One row of the drawer: what the ``consultations`` trait holds."""
    return {
        "id": info.id,
        "persona": info.persona,
        "goal_id": info.effective_goal_id or "",
        "status": info.status,
        "message_count": info.message_count,
        "started_at": _iso(info.started_at or info.created_at),
        "last_message_at": _iso(_when(info)),
        "completed_at": _iso(info.completed_at),
        "current": info.id == current,
        "elsewhere": HOLDS.held_by_other(info.id, owner),
    }


async def drawer_list(
    client: LumeClient, persona: str, goal_id: str, *, current: str, owner: int
) -> list[dict[str, Any]]:
    """The persona's (and, with a goal, that goal's) consultations, active and completed,
    newest first."""
    found: list[ConsultationInfo] = []
    for status in LISTED_STATUSES:
        found += await client.list_consultations(status=status, persona=persona)
    goal = goal_id or None
    mine = [
        c for c in found if c.persona == persona and (goal is None or c.effective_goal_id == goal)
    ]
    return [consultation_dict(c, current=current, owner=owner) for c in _newest_first(mine)]


async def free_consultation(
    client: LumeClient, persona: str, goal_id: str, *, owner: int
) -> str | None:
    """The newest active consultation of this persona and goal that no other panel holds,
    taken for ``owner`` at once (two panels opening together never pick the same one)."""
    goal = goal_id or None
    for info in _newest_first(await client.list_consultations(status="active", persona=persona)):
        if info.persona != persona or info.effective_goal_id != goal:
            continue
        if not HOLDS.held_by_other(info.id, owner):
            HOLDS.take(info.id, owner)
            return info.id
    return None


async def oldest_active(client: LumeClient) -> ConsultationInfo | None:
    """The user's oldest active consultation (any persona), preferring one no panel shows."""
    active = _newest_first(await client.list_consultations(status="active"))
    for info in reversed(active):
        if not HOLDS.held(info.id):
            return info
    return active[-1] if active else None


def recovery_for(exc: LumeError) -> tuple[str, str]:
    """What the panel says about ``exc`` and the recovery its banner offers instead of Retry:
    ``new_consultation``, ``complete_oldest`` or ``""`` (Retry, when there is text to retry)."""
    if isinstance(exc, ConsultationNotActiveError):
        return NOT_ACTIVE, "new_consultation"
    if isinstance(exc, TooManyConsultationsError):
        return TOO_MANY, "complete_oldest"
    return str(exc), ""
