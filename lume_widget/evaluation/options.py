"""What an evaluation run is told (:class:`RunOptions`), what it reports while running (:class:`Progress`) and what it hands back (:class:`RunOutcome`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lume_widget.evaluation.records import TurnRecord
from lume_widget.evaluation.scenarios import Conversation

__all__ = [
    "MAX_ACTIVE_CONSULTATIONS",
    "Cleanup",
    "Progress",
    "ReplayKey",
    "RunOptions",
    "RunOutcome",
]

MAX_ACTIVE_CONSULTATIONS = 10
"""The real backend's limit of active consultations per user (PROTOCOL B7.17)."""

ReplayKey = tuple[str, str, str | None, int]
"""A recorded conversation: (scenario, persona, goal, repeat), as ``compare`` pairs them."""

Cleanup = Literal["complete", "delete", "keep"]
"""What happens to a conversation's consultation when it ends."""


@dataclass
class Progress:
    """Where a run stands; handed to the progress callback after every change."""

    conversations_total: int
    turns_total: int
    conversations_done: int = 0
    turns_done: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    concurrency: int = 1
    active: int = 0
    rate_limits: int = 0
    resumed: int = 0
    last: TurnRecord | None = None


@dataclass
class RunOptions:
    """How to run: where, how wide, what to keep. ``out_dir`` is required to write records."""

    out_dir: Path
    concurrency: int = 4
    repeat: int | None = None
    personas: Sequence[str] = ()
    resume: bool = False
    cleanup: Cleanup = "complete"
    max_active: int = MAX_ACTIVE_CONSULTATIONS
    max_attempts: int = 5
    progress: Callable[[Progress], None] | None = None
    replay_of: Mapping[tuple[str, str, int], ReplayKey] = field(default_factory=dict)
    """For a replay (:mod:`.replayer`): each conversation's key -> the recorded conversation
    it sends again, ``(scenario, persona, goal, repeat)``; written on its records."""


@dataclass
class RunOutcome:
    """What a run produced: every record in DIR (resumed ones included) and run facts for the summary."""

    records: list[TurnRecord]
    conversations: list[Conversation]
    started_at: str
    wall_s: float
    concurrency: int
    lowest_concurrency: int
    final_concurrency: int
    rate_limits: int
    created: list[str] = field(default_factory=list)
    left_open: list[str] = field(default_factory=list)
    cleanup: Cleanup = "complete"
    resumed_conversations: int = 0
    turns_this_run: int = 0
    notes: list[str] = field(default_factory=list)
