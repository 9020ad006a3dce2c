"""Ratings of replies (thumbs up or down, a note, the best pick) and a transcript as a script.

The ``ratings`` trait of a panel maps a reply's message id to ``{rating, note}`` (and
``best`` in a comparison): the front end writes it, :func:`clean_ratings` keeps what is
valid (known ratings, text made valid Unicode, notes cut at :data:`MAX_NOTE_CHARS`), so
whatever a front end sends, the saved notebook holds only well-formed ratings.
:func:`script_turns` turns the messages of a panel and their ratings into the turns of a
scenario file (:mod:`lume_widget.evaluation.scenario_writer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lume_widget.errors import ConfigurationError
from lume_widget.evaluation.records import valid_text
from lume_widget.evaluation.scenario_writer import RATINGS, RatedReply, ScriptTurn

__all__ = ["MAX_NOTE_CHARS", "clean_rating", "clean_ratings", "rating_for", "script_turns"]

MAX_NOTE_CHARS = 2000
"""The longest note kept on a reply (longer notes are cut)."""


def clean_rating(value: Any) -> dict[str, Any] | None:
    """One rating as the trait holds it, or None when it says nothing (no thumb, no note)."""
    if not isinstance(value, Mapping):
        return None
    rating = value.get("rating") or ""
    rating = rating if rating in RATINGS else ""
    note = valid_text(str(value.get("note") or ""))[:MAX_NOTE_CHARS]
    best = value.get("best") is True
    if not rating and not note.strip() and not best:
        return None
    out: dict[str, Any] = {"rating": rating, "note": note}
    if best:
        out["best"] = True
    return out


def clean_ratings(value: Any) -> dict[str, dict[str, Any]]:
    """The ratings trait with anything malformed dropped (keys are message ids)."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key, item in value.items():
        cleaned = clean_rating(item)
        if cleaned is not None and str(key):
            out[valid_text(str(key))] = cleaned
    return out


def rating_for(rating: str | None, note: str | None, *, best: bool = False) -> dict[str, Any]:
    """A rating given from Python, checked: ``rating`` is "up", "down" or None."""
    value = rating or ""
    if value not in RATINGS:
        raise ConfigurationError(
            f"Unknown rating {rating!r}: use 'up', 'down', or None for a note alone."
        )
    return {"rating": value, "note": note or "", **({"best": True} if best else {})}


def script_turns(
    messages: Sequence[Mapping[str, Any]],
    ratings: Mapping[str, Mapping[str, Any]],
    persona: str,
    *,
    label: str = "",
) -> list[ScriptTurn]:
    """The user's turns of a transcript, each with the rating of the reply that followed it.

    A message the backend never got (``unsent``) is no turn. A reply belongs to the user
    message before it: turns are matched by order in the transcript, never by counting.
    """
    turns: list[ScriptTurn] = []
    say: str | None = None
    rated: list[RatedReply] = []

    def close() -> None:
        if say is not None:
            turns.append(ScriptTurn(say, tuple(rated)))

    for message in messages:
        role = message.get("role")
        if role == "user":
            if message.get("status") == "unsent":
                continue
            close()
            say, rated = str(message.get("content", "")), []
        elif role == "assistant" and say is not None:
            found = ratings.get(str(message.get("id", "")))
            if found:
                rated.append(
                    RatedReply(
                        persona,
                        str(found.get("rating") or ""),
                        str(found.get("note") or ""),
                        found.get("best") is True,
                        label,
                    )
                )
    close()
    return turns
