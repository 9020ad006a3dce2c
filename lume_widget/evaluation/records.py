"""Turn records and the run directory: ``transcripts.jsonl`` written as turns finish, read back to resume.

One JSON object per line, one line per turn, flushed as soon as the turn is judged, so
a run that is killed loses at most the turns in flight. A conversation is complete once
a record with ``last: true`` is written for it (its final turn, or the turn that ended it
with an error). ``consultations.jsonl`` beside it lists every consultation the run
created and whether it was closed, so a resumed run can close what a killed one left
active (the backend allows only 10 active consultations per user).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "CONSULTATIONS_FILE",
    "SUMMARY_FILE",
    "TRANSCRIPTS_FILE",
    "ConsultationLog",
    "Outcome",
    "TranscriptWriter",
    "TurnRecord",
    "dump_line",
    "read_records",
    "split_complete",
    "valid_text",
]

logger = logging.getLogger(__name__)

TRANSCRIPTS_FILE = "transcripts.jsonl"
SUMMARY_FILE = "summary.json"
CONSULTATIONS_FILE = "consultations.jsonl"

Outcome = Literal["passed", "failed", "error"]


@dataclass(slots=True)
class TurnRecord:
    """Everything known about one turn: what was said, what came back, how fast, and the verdict.

    ``turn`` and ``repeat`` count from 0. A scenario with ``initial_message`` records the
    answer to it first, as turn 0 with ``initial`` set (``say`` is the initial message, its
    times run from the create request); its scripted turns follow from turn 1.
    ``passed`` is None when the turn ended in an
    error (an error is its own outcome, not a failure). ``wall_s`` is the runner's own
    wall time around the turn; ``server_ms`` the processing time the server reported.

    ``judgements`` holds one entry per rubric judged on this turn (``check``, ``criteria``,
    ``threshold``, ``score``, ``passed``, ``reason``, ``model``, ``usage``, ``cached``,
    ``error``); a judge whose answer could not be read is listed in ``check_errors`` and
    makes the turn an error, never a pass. ``simulated`` marks a user message written by
    the simulated user; ``ended_by`` (on a conversation's last record) says what ended it.
    ``chunk_gap_*_s`` are the gaps between streamed chunks and ``chars_per_s`` the rate
    after the first token. Tokens: ``reply_tokens`` as the backend reports them, and the
    judge's and simulator's (calls answered from the cache count none) kept apart.
    """

    scenario: str
    repeat: int
    persona: str
    turn: int
    say: str
    goal: str | None = None
    goal_id: str | None = None
    consultation_id: str | None = None
    reply: str = ""
    passed: bool | None = None
    failures: list[str] = field(default_factory=list)
    ttft_s: float | None = None
    duration_s: float | None = None
    chunks: int = 0
    tier: str | None = None
    reconnects: int = 0
    tier_changes: int = 0
    error: str | None = None
    error_type: str | None = None
    turns_total: int = 1
    last: bool = False
    started_at: str | None = None
    wall_s: float | None = None
    server_ms: float | None = None
    simulated: bool = False
    ended_by: str | None = None
    check_errors: list[str] = field(default_factory=list)
    judgements: list[dict[str, Any]] = field(default_factory=list)
    chunk_gap_p50_s: float | None = None
    chunk_gap_p95_s: float | None = None
    chunk_gap_max_s: float | None = None
    chars_per_s: float | None = None
    reply_tokens: int | None = None
    judge_tokens: int = 0
    simulator_tokens: int = 0
    initial: bool = False
    """The answer to the scenario's ``initial_message`` (sent when the consultation was created)."""
    replay_of: list[Any] | None = None
    """In a replay, the recorded conversation this one sends again:
    ``[scenario, persona, goal, repeat]`` (``compare`` pairs them)."""

    @property
    def outcome(self) -> Outcome:
        """``passed``, ``failed`` (an expectation failed) or ``error`` (the turn did not complete)."""
        if self.error is not None:
            return "error"
        if self.failures:
            return "failed"
        if self.check_errors:
            return "error"
        return "passed" if self.passed else "failed"

    @property
    def key(self) -> tuple[str, str, int]:
        """The conversation this turn belongs to: (scenario, persona, repeat)."""
        return (self.scenario, self.persona, self.repeat)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field plus ``outcome`` (lists and dicts copied one level deep)."""
        data: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, list):
                value = [dict(item) if isinstance(item, dict) else item for item in value]
            data[name] = value
        data["outcome"] = self.outcome
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnRecord:
        """A record from its JSON form; raises TypeError for anything that is not one."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        for name, kind in _IDENTITY.items():
            if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
                raise TypeError(f"{name!r} is missing or not a {kind.__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


_FIELDS = tuple(f.name for f in dataclasses.fields(TurnRecord))

_IDENTITY: dict[str, type] = {"scenario": str, "persona": str, "repeat": int, "turn": int}


def valid_text(text: str) -> str:
    """``text`` with any lone surrogate replaced by U+FFFD, so it can always be written as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def dump_line(data: Any) -> str:
    """One JSON line, valid UTF-8 whatever the strings in ``data`` hold."""
    return valid_text(json.dumps(data, ensure_ascii=False)) + "\n"


def read_records(path: Path) -> list[TurnRecord]:
    """Every readable record of a transcripts file, in file order.

    A line cut short by a kill (mid-character included), a line that is not JSON, or
    JSON that is not a turn record (``null``, ``[]``, another tool's object) is skipped
    with a warning.
    """
    records: list[TurnRecord] = []
    if not path.exists():
        return records
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                records.append(TurnRecord.from_dict(json.loads(raw.decode("utf-8"))))
            except (UnicodeDecodeError, ValueError, TypeError) as exc:
                logger.warning("skipping unreadable line %d of %s: %s", number, path, exc)
    return records


def split_complete(
    records: Iterable[TurnRecord],
) -> tuple[list[TurnRecord], set[tuple[str, str, int]]]:
    """The records of complete conversations (others dropped) and the keys of those conversations.

    If a conversation was recorded twice (never by this runner, but a hand-merged file
    might), only its last complete run is kept, so nothing is counted twice.
    """
    by_key: dict[tuple[str, str, int], list[TurnRecord]] = {}
    finished: dict[tuple[str, str, int], list[TurnRecord]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record)
        if record.last:
            finished[record.key] = by_key.pop(record.key)
    kept = [record for run in finished.values() for record in run]
    return kept, set(finished)


class TranscriptWriter:
    """Appends turn records to ``transcripts.jsonl``, flushing each one to the OS as it is written."""

    def __init__(self, path: Path, *, keep: Iterable[TurnRecord] | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep is not None:
            # Rewrite atomically: only complete conversations survive a resume.
            temporary = path.with_suffix(".jsonl.tmp")
            with temporary.open("w", encoding="utf-8") as handle:
                for record in keep:
                    handle.write(dump_line(record.to_dict()))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        self._handle: IO[str] | None = path.open("a", encoding="utf-8")

    def write(self, record: TurnRecord) -> None:
        if self._handle is None:
            raise RuntimeError("the transcript writer is closed")
        self._handle.write(dump_line(record.to_dict()))
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class ConsultationLog:
    """Which consultations a run created and which it closed, kept on disk across kills."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = path.open("a", encoding="utf-8")

    def opening(self, key: tuple[str, str, int]) -> None:
        """About to ask the backend for a consultation (a kill now may leave one we never hear of)."""
        self._write(
            {
                "event": "opening",
                "conversation": list(key),
                "at": datetime.now(timezone.utc).isoformat(),
            }
        )

    def created(self, consultation_id: str, key: tuple[str, str, int]) -> None:
        self._write({"event": "created", "id": consultation_id, "conversation": list(key)})

    def closed(self, consultation_id: str, how: str) -> None:
        self._write({"event": how, "id": consultation_id})

    def _write(self, entry: dict[str, Any]) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps(entry) + "\n")
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @staticmethod
    def unanswered_opens(path: Path) -> list[tuple[str, datetime]]:
        """(persona, time) of every create that was sent and never logged as answered."""
        pending: dict[tuple[Any, ...], datetime] = {}
        for entry in _read_json_lines(path):
            key = tuple(entry.get("conversation") or ())
            if entry.get("event") == "opening" and len(key) == 3:
                pending[key] = datetime.fromisoformat(str(entry["at"]))
            elif entry.get("event") == "created":
                pending.pop(key, None)
        return [(str(key[1]), at) for key, at in pending.items()]

    @staticmethod
    def known_ids(path: Path) -> set[str]:
        return {str(e["id"]) for e in _read_json_lines(path) if e.get("event") == "created"}

    @staticmethod
    def still_open(path: Path) -> list[str]:
        """Consultations logged as created and never completed, deleted or kept."""
        open_ids: dict[str, None] = {}
        for entry in _read_json_lines(path):
            consultation_id = str(entry.get("id", ""))
            if entry.get("event") == "created":
                open_ids[consultation_id] = None
            else:
                open_ids.pop(consultation_id, None)
        return list(open_ids)


def _read_json_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                yield value
