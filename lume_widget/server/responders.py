"""Who writes the assistant's replies: the responder interface and the scripted responder.

A responder turns a ``ReplyContext`` (persona, goal, history, the new user message) into
a stream of text deltas; the server paces, frames and stores them. The ``scripted``
responder is deterministic and offline: each persona has its own voice, replies follow
the topic of the message (breakfast, sleep, stress, workouts, ...), the first reply of a
goal consultation names the goal's title and target, every reply of one says how far along
the goal is when the goal has a progress, ``/long N`` yields a reply of exactly
N chunks and ``/markdown`` a reply with headings, a list, a table and code blocks.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from lume_widget.server import persona_texts as texts

MAX_LONG_CHUNKS = 50_000
_LONG_RE = re.compile(r"^\s*/long\s+(\d+)\b", re.IGNORECASE)
_MARKDOWN_RE = re.compile(r"^\s*/markdown\b", re.IGNORECASE)


@dataclass(frozen=True)
class GoalInfo:
    """The goal a consultation is tied to, as captured when it was created."""

    id: str
    title: str
    description: str | None = None
    goal_type: str | None = None
    current_value: float | None = None
    target_value: float | None = None
    target_unit: str | None = None
    target_date: str | None = None
    progress: float | None = None

    @property
    def target_text(self) -> str | None:
        """The target as people say it: ``165 lbs``, ``10000 steps``."""
        if self.target_value is None:
            return None
        value = self.target_value
        number = str(int(value)) if float(value).is_integer() else f"{value:g}"
        return f"{number} {self.target_unit}".strip() if self.target_unit else number

    @property
    def current_text(self) -> str | None:
        if self.current_value is None:
            return None
        value = self.current_value
        number = str(int(value)) if float(value).is_integer() else f"{value:g}"
        return f"{number} {self.target_unit}".strip() if self.target_unit else number

    def describe(self) -> str:
        """One line for prompts and replies: title, target, progress, deadline."""
        parts = [f'"{self.title}"']
        if self.target_text:
            parts.append(f"target {self.target_text}")
        if self.current_text:
            parts.append(f"currently {self.current_text}")
        if self.progress is not None:
            parts.append(f"{round(self.progress * 100)}% of the way")
        if self.target_date:
            parts.append(f"by {self.target_date}")
        if self.description:
            parts.append(f"({self.description})")
        return ", ".join(parts)

    @property
    def progress_sentence(self) -> str | None:
        """How far along the goal is, in words, or None when its progress is unknown."""
        if self.progress is None:
            return None
        current = self.current_value or 0.0
        number = str(int(current)) if float(current).is_integer() else f"{current:g}"
        so_far = f"{number} of {self.target_text}" if self.target_text else None
        if self.progress >= 1:
            return "You have reached your target: now the work is keeping it."
        if self.progress <= 0:
            return f"You are just getting started ({so_far} so far)." if so_far else None
        percent = round(self.progress * 100)
        detail = f" ({so_far})" if so_far else ""
        return f"You are {percent}% of the way there{detail}."

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> GoalInfo:
        """The goal as a consultation captures it, with its progress at that moment."""
        target, current = row.get("target_value"), row.get("current_value")
        progress = None
        if target and current is not None:
            progress = min(1.0, max(0.0, float(current) / float(target)))
        return cls(
            id=row["id"],
            title=row["title"],
            description=row.get("description"),
            goal_type=row.get("goal_type"),
            current_value=row.get("current_value"),
            target_value=row.get("target_value"),
            target_unit=row.get("target_unit"),
            target_date=row.get("target_date"),
            progress=progress,
        )


@dataclass(frozen=True)
class ReplyContext:
    """Everything a responder may use to write one reply."""

    consultation_id: str
    persona: str
    user_text: str
    history: tuple[tuple[str, str], ...] = ()
    goal: GoalInfo | None = None
    turn: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_first_reply(self) -> bool:
        """True while no earlier user message of this consultation has been answered."""
        return not any(role == "user" for role, _ in self.history[:-1]) if self.history else True


class ResponderError(Exception):
    """The responder could not produce a reply (the model endpoint failed, ...)."""


class Responder(Protocol):
    name: str

    def greeting(self, persona: str, goal: GoalInfo | None) -> str:
        """The opening message of a consultation created without an initial message."""
        ...

    def stream(self, ctx: ReplyContext) -> AsyncIterator[str]:
        """Text deltas whose concatenation is the whole reply."""
        ...

    async def aclose(self) -> None: ...


def split_into_chunks(text: str, seed: str) -> list[str]:
    """Cut ``text`` into deltas of 1-3 words; joined back they give ``text`` exactly."""
    tokens = re.findall(r"\s*\S+\s*", text)
    if not tokens:
        return [text] if text else []
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    chunks: list[str] = []
    i = 0
    while i < len(tokens):
        size = rng.choice((1, 2, 2, 3))
        chunks.append("".join(tokens[i : i + size]))
        i += size
    return chunks


def long_reply_chunks(count: int, persona: str) -> list[str]:
    """Exactly ``count`` chunks of a long, harmless reply (for benchmarks)."""
    words = texts.LONG_WORDS
    voice = texts.VOICES.get(persona, texts.VOICES["general_wellness"])
    chunks = [voice.long_opening + " "]
    for i in range(1, count):
        word = words[i % len(words)]
        chunks.append(word + (".\n\n" if i % 60 == 59 else " "))
    return chunks[:count]


def classify_topic(text: str) -> str:
    lowered = text.lower()
    best, best_hits = "general", 0
    for topic, keywords in texts.TOPIC_KEYWORDS.items():
        hits = sum(1 for kw in keywords if re.search(rf"\b{re.escape(kw)}", lowered))
        if hits > best_hits:
            best, best_hits = topic, hits
    return best


class ScriptedResponder:
    """Deterministic persona replies, with no network and no model."""

    name = "scripted"

    def greeting(self, persona: str, goal: GoalInfo | None) -> str:
        voice = texts.VOICES.get(persona, texts.VOICES["general_wellness"])
        if goal is None:
            return voice.greeting
        return voice.goal_greeting.format(goal=_goal_phrase(goal))

    def compose(self, ctx: ReplyContext) -> list[str]:
        """The whole reply as chunks (exposed for tests and benchmarks)."""
        long_match = _LONG_RE.match(ctx.user_text)
        if long_match:
            count = max(1, min(int(long_match.group(1)), MAX_LONG_CHUNKS))
            return long_reply_chunks(count, ctx.persona)
        if _MARKDOWN_RE.match(ctx.user_text):
            text = texts.markdown_reply(ctx.persona)
        else:
            text = self._reply_text(ctx)
        return split_into_chunks(text, f"{ctx.consultation_id}:{ctx.turn}:{ctx.user_text}")

    def _reply_text(self, ctx: ReplyContext) -> str:
        voice = texts.VOICES.get(ctx.persona, texts.VOICES["general_wellness"])
        topic = classify_topic(ctx.user_text)
        pick = _picker(f"{ctx.persona}:{ctx.turn}:{ctx.user_text}")
        paragraphs: list[str] = []
        if ctx.goal is not None and ctx.is_first_reply:
            paragraphs.append(voice.goal_intro.format(goal=_goal_phrase(ctx.goal)))
        else:
            paragraphs.append(pick(voice.openers))
        advice = texts.TOPIC_ADVICE[topic]
        paragraphs.append(voice.lens[topic] if topic in voice.lens else voice.lens["general"])
        steps = [pick(group) for group in advice]
        paragraphs.append("\n".join(f"- {step}" for step in steps))
        if ctx.goal is not None:
            tie_in = voice.goal_tie_in.format(title=ctx.goal.title)
            progress = ctx.goal.progress_sentence
            paragraphs.append(f"{tie_in} {progress}" if progress else tie_in)
        paragraphs.append(pick(voice.closers))
        return "\n\n".join(paragraphs)

    async def stream(self, ctx: ReplyContext) -> AsyncIterator[str]:
        for chunk in self.compose(ctx):
            yield chunk

    async def aclose(self) -> None:
        return None


def _goal_phrase(goal: GoalInfo) -> str:
    if goal.target_text:
        return f'"{goal.title}" (target: {goal.target_text})'
    return f'"{goal.title}"'


def _picker(seed: str) -> Any:
    rng = random.Random(hashlib.sha256(seed.encode()).digest())

    def pick(options: tuple[str, ...]) -> str:
        return options[rng.randrange(len(options))]

    return pick
