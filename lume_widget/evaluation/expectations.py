"""Expectation kinds: small pure functions that judge one turn (or one conversation) and say why it failed.

Each check takes the turn record and the value written in the scenario file and
returns None when it passes, or a failure message a person can act on. ``python``
checks are user functions named ``module:function``; they get the record and return
None/True to pass, a string (the failure message) or False to fail.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lume_widget.evaluation.records import TurnRecord

__all__ = [
    "CONVERSATION_CHECKS",
    "TURN_CHECKS",
    "check_conversation",
    "check_turn",
    "resolve_python_check",
]

Check = Callable[["TurnRecord", Any], "str | None"]
ConversationCheck = Callable[[Sequence["TurnRecord"], Any], "str | None"]

_PREVIEW = 80


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 3] + "..."


def _quoted(items: Sequence[str]) -> str:
    return ", ".join(repr(item) for item in items)


def _contains(record: TurnRecord, needles: Sequence[str]) -> str | None:
    missing = [needle for needle in needles if needle not in record.reply]
    if missing:
        return f"contains: the reply lacks {_quoted(missing)}; it reads {_preview(record.reply)!r}"
    return None


def _icontains(record: TurnRecord, needles: Sequence[str]) -> str | None:
    text = record.reply.casefold()
    missing = [needle for needle in needles if needle.casefold() not in text]
    if missing:
        return f"icontains: the reply lacks {_quoted(missing)} (any case); it reads {_preview(record.reply)!r}"
    return None


def _contains_any(record: TurnRecord, needles: Sequence[str]) -> str | None:
    if not any(needle in record.reply for needle in needles):
        return f"contains_any: the reply has none of {_quoted(needles)}; it reads {_preview(record.reply)!r}"
    return None


def _icontains_any(record: TurnRecord, needles: Sequence[str]) -> str | None:
    text = record.reply.casefold()
    if not any(needle.casefold() in text for needle in needles):
        return (
            f"icontains_any: the reply has none of {_quoted(needles)} (any case);"
            f" it reads {_preview(record.reply)!r}"
        )
    return None


def _contains_all(record: TurnRecord, needles: Sequence[str]) -> str | None:
    missing = [needle for needle in needles if needle not in record.reply]
    if missing:
        return (
            f"contains_all: the reply lacks {_quoted(missing)}; it reads {_preview(record.reply)!r}"
        )
    return None


def _icontains_all(record: TurnRecord, needles: Sequence[str]) -> str | None:
    text = record.reply.casefold()
    missing = [needle for needle in needles if needle.casefold() not in text]
    if missing:
        return f"icontains_all: the reply lacks {_quoted(missing)} (any case); it reads {_preview(record.reply)!r}"
    return None


def _not_contains(record: TurnRecord, needles: Sequence[str]) -> str | None:
    found = [needle for needle in needles if needle in record.reply]
    if found:
        return f"not_contains: the reply has {_quoted(found)}; it reads {_preview(record.reply)!r}"
    return None


def _not_icontains(record: TurnRecord, needles: Sequence[str]) -> str | None:
    text = record.reply.casefold()
    found = [needle for needle in needles if needle.casefold() in text]
    if found:
        return f"not_icontains: the reply has {_quoted(found)} (any case); it reads {_preview(record.reply)!r}"
    return None


def _regex(record: TurnRecord, pattern: str) -> str | None:
    if re.search(pattern, record.reply) is None:
        return f"regex: {pattern!r} does not match the reply; it reads {_preview(record.reply)!r}"
    return None


def _not_regex(record: TurnRecord, pattern: str) -> str | None:
    match = re.search(pattern, record.reply)
    if match is not None:
        return f"not_regex: {pattern!r} matches {match.group(0)!r} in the reply"
    return None


def _min_chars(record: TurnRecord, limit: int) -> str | None:
    if len(record.reply) < limit:
        return f"min_chars: the reply has {len(record.reply)} characters, fewer than {limit}"
    return None


def _max_chars(record: TurnRecord, limit: int) -> str | None:
    if len(record.reply) > limit:
        return f"max_chars: the reply has {len(record.reply)} characters, more than {limit}"
    return None


def _max_ttft_s(record: TurnRecord, limit: float) -> str | None:
    if record.ttft_s is None:
        return "max_ttft_s: no reply content arrived, so there is no time to first token"
    if record.ttft_s > limit:
        return f"max_ttft_s: the first token came after {record.ttft_s:.3f} s, over {limit:g} s"
    return None


def _max_duration_s(record: TurnRecord, limit: float) -> str | None:
    if record.duration_s is None:
        return "max_duration_s: the reply never completed"
    if record.duration_s > limit:
        return f"max_duration_s: the reply took {record.duration_s:.3f} s, over {limit:g} s"
    return None


def _max_chunk_gap_s(record: TurnRecord, limit: float) -> str | None:
    if record.chunk_gap_max_s is None:
        return None  # one chunk or none: no gap to measure
    if record.chunk_gap_max_s > limit:
        return (
            f"max_chunk_gap_s: the stream paused {record.chunk_gap_max_s:.3f} s between two"
            f" chunks, over {limit:g} s"
        )
    return None


def _tier(record: TurnRecord, tier: str) -> str | None:
    if record.tier != tier:
        return f"tier: the reply came over {record.tier or 'no tier'}, expected {tier}"
    return None


def _python(record: TurnRecord, target: str) -> str | None:
    return _run_user_check(target, record)


TURN_CHECKS: Mapping[str, Check] = {
    "contains": _contains,
    "icontains": _icontains,
    "contains_any": _contains_any,
    "icontains_any": _icontains_any,
    "contains_all": _contains_all,
    "icontains_all": _icontains_all,
    "not_contains": _not_contains,
    "not_icontains": _not_icontains,
    "regex": _regex,
    "not_regex": _not_regex,
    "min_chars": _min_chars,
    "max_chars": _max_chars,
    "max_ttft_s": _max_ttft_s,
    "max_duration_s": _max_duration_s,
    "max_chunk_gap_s": _max_chunk_gap_s,
    "tier": _tier,
    "python": _python,
}
"""Every turn expectation kind judged without a model, by the key used in scenario files.

``rubric`` is the one more kind; it needs a judge model (:mod:`.judge`)."""


def _max_tier_changes(records: Sequence[TurnRecord], limit: int) -> str | None:
    total = sum(record.tier_changes for record in records)
    if total > limit:
        return f"max_tier_changes: the tier changed {total} times, more than {limit}"
    return None


def _max_reconnects(records: Sequence[TurnRecord], limit: int) -> str | None:
    total = sum(record.reconnects for record in records)
    if total > limit:
        return f"max_reconnects: the live link was re-opened {total} times, more than {limit}"
    return None


def _conversation_tier(records: Sequence[TurnRecord], tier: str) -> str | None:
    other = [f"turn {record.turn}: {record.tier}" for record in records if record.tier != tier]
    if other:
        return f"tier: expected every turn over {tier}, but {'; '.join(other)}"
    return None


def _max_total_duration_s(records: Sequence[TurnRecord], limit: float) -> str | None:
    total = sum(record.duration_s or 0.0 for record in records)
    if total > limit:
        return f"max_total_duration_s: the replies took {total:.3f} s in all, over {limit:g} s"
    return None


def _conversation_python(records: Sequence[TurnRecord], target: str) -> str | None:
    return _run_user_check(target, list(records))


CONVERSATION_CHECKS: Mapping[str, ConversationCheck] = {
    "max_tier_changes": _max_tier_changes,
    "max_reconnects": _max_reconnects,
    "tier": _conversation_tier,
    "max_total_duration_s": _max_total_duration_s,
    "python": _conversation_python,
}
"""Every conversation expectation kind; ``python`` gets the list of the conversation's records."""


def check_turn(record: TurnRecord, expectations: Mapping[str, Any]) -> list[str]:
    """Failure messages for one turn (empty when every expectation passes)."""
    failures: list[str] = []
    for kind, value in expectations.items():
        if value is None:
            continue
        message = TURN_CHECKS[kind](record, value)
        if message is not None:
            failures.append(message)
    return failures


def check_conversation(records: Sequence[TurnRecord], expectations: Mapping[str, Any]) -> list[str]:
    """Failure messages for a whole conversation, each prefixed ``conversation``."""
    failures: list[str] = []
    for kind, value in expectations.items():
        if value is None:
            continue
        message = CONVERSATION_CHECKS[kind](records, value)
        if message is not None:
            failures.append(f"conversation {message}")
    return failures


_RESOLVED: dict[str, Callable[[Any], Any]] = {}


@contextmanager
def _importable_from(base_dir: Path | str | None) -> Iterator[None]:
    if base_dir is None or str(base_dir) in sys.path:
        yield
        return
    sys.path.insert(0, str(base_dir))
    try:
        yield
    finally:
        sys.path.remove(str(base_dir))


def resolve_python_check(target: str, base_dir: Path | str | None = None) -> Callable[[Any], Any]:
    """The function named ``module:function``; modules beside the scenario file are importable.

    Raises ValueError with a message saying what is wrong, for the scenario loader to
    place on the right line.
    """
    module_name, sep, function_name = target.partition(":")
    if not sep or not module_name or not function_name:
        raise ValueError(f"expected 'module:function', got {target!r}")
    cached = _RESOLVED.get(target)
    if cached is not None:
        return cached
    with _importable_from(base_dir):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(
                f"cannot import module {module_name!r} ({exc}); put it beside the scenario file"
                " or on PYTHONPATH"
            ) from None
    function = module
    for part in function_name.split("."):
        function = getattr(function, part, None)  # type: ignore[assignment]
        if function is None:
            raise ValueError(f"module {module_name!r} has no function {function_name!r}")
    if not callable(function):
        raise ValueError(f"{target!r} is not a function")
    _RESOLVED[target] = function
    return function


def _run_user_check(target: str, argument: Any) -> str | None:
    label = f"python {target}"
    try:
        function = resolve_python_check(target)
        verdict = function(argument)
    except Exception as exc:  # a user check that crashes fails its turn, it does not stop the run
        return f"{label}: raised {type(exc).__name__}: {exc}"
    if verdict is None or verdict is True:
        return None
    if verdict is False:
        return f"{label}: returned False"
    if isinstance(verdict, str):
        return f"{label}: {verdict}" if verdict else None
    return f"{label}: returned {verdict!r}; return None or True to pass, a message or False to fail"
