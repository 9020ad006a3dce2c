"""Write a conversation as a scenario file that ``lume-widget eval`` runs unchanged.

What was explored in a chat panel (or side by side in a comparison) becomes a regression
test: the persona (or personas), the goal as a ``goals:`` entry with the backend's real
goal fields, the user's turns in order, and, under each turn, one comment per rated reply
(who replied, thumbs up or down, the note, the best pick) so a reviewer can turn it into
an expectation such as a ``rubric``. The text is validated with the scenario loader
before it is written: a file this module writes always loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lume_widget.core.models import Goal
from lume_widget.defaults import PERSONAS
from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.records import valid_text

if TYPE_CHECKING:
    from lume_widget.evaluation.scenarios import ScenarioFile

__all__ = [
    "RATINGS",
    "RatedReply",
    "ScriptTurn",
    "check",
    "goal_fields",
    "scenario_name",
    "scenario_text",
    "slug",
    "write_scenario",
]

RATINGS = ("up", "down", "")
"""A reply's rating: thumbs up, thumbs down, or none (a note alone)."""

GOAL_TYPES = ("weight", "activity", "nutrition", "custom")
_NOTE_CHARS = 500
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class RatedReply:
    """What the user said of one reply: ``rating`` up/down/"", a ``note``, the ``best`` pick."""

    persona: str
    rating: str = ""
    note: str = ""
    best: bool = False
    label: str = ""
    """Which side replied, when a comparison has several of one persona (``persona · goal``)."""


@dataclass(frozen=True, slots=True)
class ScriptTurn:
    """One user message of the conversation and the ratings of the replies to it."""

    say: str
    rated: tuple[RatedReply, ...] = ()


def goal_fields(goal: Goal) -> dict[str, Any]:
    """The ``goals:`` entry of a backend goal: the goals API's fields that the loader takes."""
    fields: dict[str, Any] = {
        "title": goal.title[:200] or goal.id,
        "goal_type": goal.goal_type if goal.goal_type in GOAL_TYPES else "custom",
    }
    if goal.description:
        fields["description"] = goal.description[:1000]
    if goal.current_value is not None and goal.current_value >= 0:
        fields["current_value"] = goal.current_value
    fields["target_value"] = goal.target_value if (goal.target_value or 0) >= 0 else 0
    if goal.target_value is None:
        fields["target_value"] = 0
    fields["target_unit"] = (goal.target_unit or "units")[:50]
    for name in ("start_date", "target_date", "recurrence_end_date"):
        value = getattr(goal, name)
        if isinstance(value, date):
            fields[name] = value
    if goal.is_recurring:
        fields["is_recurring"] = True
        if goal.recurrence_pattern in ("daily", "weekly", "monthly"):
            fields["recurrence_pattern"] = goal.recurrence_pattern
        if goal.recurrence_days:
            fields["recurrence_days"] = [d for d in goal.recurrence_days if 0 <= d <= 6]
    return fields


def _scalar(value: Any) -> str:
    """One YAML value on one line, quoted when it is text (any character round-trips)."""
    import yaml  # (here and below: the panel imports this module, and writes YAML rarely)

    if isinstance(value, str):
        dumped = yaml.safe_dump(
            valid_text(value), default_style='"', allow_unicode=True, width=float("inf")
        )
    else:
        dumped = yaml.safe_dump(
            value, default_flow_style=True, allow_unicode=True, width=float("inf")
        )
    text = dumped.strip()
    return text.removesuffix("\n...").strip()


def _block(value: Mapping[str, Any], indent: int) -> list[str]:
    """A mapping in block style, each line indented by ``indent`` spaces."""
    import yaml

    dumped = yaml.safe_dump(
        dict(value),
        default_flow_style=False,
        allow_unicode=True,
        width=float("inf"),
        sort_keys=False,
    )
    return [" " * indent + line for line in dumped.splitlines()]


def _comment(text: str) -> str:
    """Text that fits on one comment line: no line breaks, valid Unicode, not too long."""
    flat = " ".join(valid_text(text).split())
    return flat if len(flat) <= _NOTE_CHARS else flat[: _NOTE_CHARS - 1] + "…"


def _rating_comment(reply: RatedReply) -> str:
    who = reply.label or reply.persona
    parts = []
    if reply.best:
        parts.append("best reply")
    if reply.rating == "up":
        parts.append("rated 👍 up")
    elif reply.rating == "down":
        parts.append("rated 👎 down")
    head = f"{who}: {', '.join(parts) if parts else 'note'}"
    return _comment(f"{head}: {reply.note}" if reply.note.strip() else head)


def scenario_name(persona: str, day: date | None = None) -> str:
    """The default name of a saved chat: ``chat-<persona>-<yyyy-mm-dd>``."""
    when = day or datetime.now(timezone.utc).date()
    return f"chat-{slug(persona)}-{when.isoformat()}"


def slug(text: str) -> str:
    """A scenario or goal name made of lowercase letters, digits and dashes."""
    return _SLUG.sub("-", text.lower()).strip("-")[:60] or "chat"


def scenario_text(
    *,
    name: str,
    personas: Sequence[str],
    turns: Sequence[ScriptTurn],
    goal: Goal | Mapping[str, Any] | None = None,
    expect: Mapping[str, Any] | None = None,
    source: str = "",
) -> str:
    """The scenario file for a conversation, validated; raises ConfigurationError if it cannot be.

    ``personas`` are the personas that replied (one conversation each when the file runs);
    ``expect`` holds checks on every reply (the ``expect`` keys of a scenario file);
    ``source`` is a line saying where the conversation came from.
    """
    sent = [turn for turn in turns if turn.say.strip()]
    if not sent:
        raise ConfigurationError(
            "There is nothing to save yet: a scenario needs at least one message you sent."
        )
    unknown = [p for p in personas if p not in PERSONAS]
    if not personas or unknown:
        raise ConfigurationError(
            f"A scenario needs personas from {', '.join(PERSONAS)}; got {list(personas)!r}."
        )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# {_comment(source or 'Saved from a lume_widget chat')} ({stamp}).",
        "# Run it with: lume-widget eval THIS_FILE",
        "# Rated replies are noted under their turn: turn a note into a check, e.g.",
        '#   expect: {rubric: "Suggests one concrete change to the bedtime routine"}',
    ]
    goal_name = None
    if goal is not None:
        fields = goal_fields(goal) if isinstance(goal, Goal) else dict(goal)
        goal_name = slug(str(fields.get("title", "goal")))
        lines += ["goals:", f"  {goal_name}:"]
        lines += [f"    {key}: {_scalar(value)}" for key, value in fields.items()]
    unique = list(dict.fromkeys(personas))
    persona_value = unique[0] if len(unique) == 1 else unique
    lines += ["scenarios:", f"  - name: {_scalar(name)}", f"    persona: {_scalar(persona_value)}"]
    if goal_name is not None:
        lines.append(f"    goal: {goal_name}")
    if expect:
        lines += ["    expect:", *_block(expect, 6)]
    lines.append("    turns:")
    for turn in sent:
        lines.append(f"      - say: {_scalar(turn.say)}")
        lines += [f"        # {_rating_comment(reply)}" for reply in turn.rated]
    text = "\n".join(lines) + "\n"
    check(text)
    return text


def check(text: str, *, base_dir: Path | None = None) -> ScenarioFile:
    """Load ``text`` as the loader would; a ConfigurationError says what is wrong."""
    # The loader (pydantic models) is imported when a scenario is saved, not with the panel.
    from lume_widget.evaluation.scenarios import parse_scenarios

    return parse_scenarios(text, name="<scenario to save>", base_dir=base_dir)


def write_scenario(path: str | Path, text: str) -> Path:
    """Write scenario ``text`` (from :func:`scenario_text`) to ``path``; returns the path."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ConfigurationError(f"{target} is a folder; give a file name such as sleep.yaml.")
    if not target.parent.exists():
        raise ConfigurationError(f"The folder {target.parent} does not exist; create it first.")
    check(text, base_dir=target.resolve().parent)
    target.write_text(text, encoding="utf-8")
    return target
