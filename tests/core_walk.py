"""A seeded random walk over every input of the session core, against a small model backend.

:func:`walk` feeds a :class:`~lume_widget.core.session.Session` a random sequence of what can
happen to it (links opening, failing and dropping; sends and history reads answering or
failing, fresh or stale; frames of every type, ours and another consultation's; the answer
to an initial message; the user's turns, stops, pins and drops; time passing; credentials
and tasks failing; close) and records every status move it reports. The backend model stores what was sent and answers it, so turns
really complete, and any answer may also come late, twice, or for an earlier request.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from lume_widget.core.actions import (
    FetchHistory,
    SendLive,
    SendRest,
)
from lume_widget.core.events import (
    ConnectionStatus,
    ReplyCompleted,
    StatusChanged,
    Tier,
    TurnFailed,
)
from lume_widget.core.models import Message
from lume_widget.core.session import Session
from lume_widget.core.settings import Settings
from lume_widget.errors import AuthenticationError, ServerError

CID = "0b0f2a52-6a57-4d1f-a1a5-1f2d3c4b5a69"
OTHER = "9d1c7a52-0000-4d1f-a1a5-1f2d3c4b5a69"

Move = tuple[ConnectionStatus, ConnectionStatus]


@dataclass
class Walk:
    """What one walk saw: every status move (with the input that made it), turns ended."""

    moves: list[tuple[Move, str]] = field(default_factory=list)
    replies: int = 0
    failures: int = 0
    steps: int = 0
    refused: list[Any] = field(default_factory=list)


class _Backend:
    """The server side of the walk: the stored history, what awaits a reply."""

    def __init__(self) -> None:
        self.history: list[Message] = [Message("g", "assistant", "Hello")]
        self.ids = 0

    def store(self, role: str, content: str, reply_to: str | None = None) -> Message:
        self.ids += 1
        message = Message(f"{role[0]}{self.ids}", role, content, reply_to=reply_to)
        self.history.append(message)
        return message

    def unanswered(self) -> Message | None:
        answered = {m.reply_to for m in self.history if m.reply_to}
        users = [m for m in self.history if m.role == "user" and m.id not in answered]
        return users[0] if users else None

    def answer(self) -> Message | None:
        user = self.unanswered()
        if user is None:
            return None
        return self.store("assistant", f"Answer to {user.content}", reply_to=user.id)


def walk(seed: int, steps: int = 60, *, pinned: Tier | None = None) -> Walk:
    """Drive a fresh session through ``steps`` random inputs; see the module docstring."""
    rnd = random.Random(seed)
    settings = Settings(
        live_connect_attempts=rnd.choice((1, 2, 5)),
        rest_failure_limit=rnd.choice((1, 3)),
        cycle_tiers=rnd.random() < 0.5,
    )
    start_pin = pinned if pinned is not None else rnd.choice((None, None, None, Tier.REST))
    session = Session(
        CID,
        settings,
        pinned=start_pin,
        history=[Message("g", "assistant", "Hello")],
        random=rnd.random,
    )
    backend = _Backend()
    seen = Walk()
    now = 0.0
    sends: list[SendRest] = []
    reads: list[FetchHistory] = []
    live_sent: list[SendLive] = []
    texts = iter(f"message {i}" for i in range(10_000))
    label = "start"

    def drain() -> None:
        for action in session.actions_to_perform():
            if isinstance(action, SendRest):
                sends.append(action)
            elif isinstance(action, FetchHistory):
                reads.append(action)
            elif isinstance(action, SendLive):
                live_sent.append(action)
        for event in session.events_received():
            if isinstance(event, StatusChanged) and event.previous is not None:
                seen.moves.append(((event.previous, event.status), label))
            elif isinstance(event, ReplyCompleted):
                seen.replies += 1
            elif isinstance(event, TurnFailed):
                seen.failures += 1

    def frame(**event: Any) -> str:
        return json.dumps(event)

    def pick(items: list[Any]) -> Any:
        # mostly the newest (the answer that counts), sometimes an older one (stale)
        return items[-1] if rnd.random() < 0.8 else rnd.choice(items)

    def live_frame() -> str:
        kind = rnd.choice(
            ("ack", "chunk", "chunk", "complete", "message", "error", "pong", "other", "junk")
        )
        if kind == "ack":
            return frame(type="message_received")
        if kind == "chunk":
            return frame(type="stream_chunk", content=rnd.choice(("Hel", "lo", " there")))
        if kind == "complete":
            return frame(type="stream_complete", metadata={})
        if kind == "message":
            reply = backend.answer() or rnd.choice(backend.history)
            return frame(type="message", message=reply.to_dict())
        if kind == "error":
            return frame(type="error", error="generation failed")
        if kind == "pong":
            return frame(type="pong")
        if kind == "other":
            return frame(type="stream_chunk", content="not ours", consultation_id=OTHER)
        return "not json"

    session.start(now)
    if rnd.random() < 0.25:  # created with an initial message: its answer is a turn of its own
        opening = backend.store("user", "opening message")
        session.transcript.add(opening)
        session.begin_initial_turn(opening.content, now, now)
    drain()
    for step in range(steps):
        seen.steps = step + 1
        now += rnd.choice((0.01, 0.1, 0.5, 1.0, 3.0, 11.0, 31.0))
        live, legacy = session.live, session.legacy
        choices = ["tick", "tick", "pin"]
        if session.turn_in_flight:
            choices += ["cancel", "task_failed", "reply_stored"] + ["reply_stored"] * 2
        else:
            choices += ["begin"] * 4
        if live.state.value == "connecting":
            choices += ["live_opened"] * 3 + ["live_connect_failed"] * 2
        if live.up:
            choices += ["live_frame"] * 5 + ["live_closed", "drop"]
        if legacy.state.value == "connecting":
            choices += ["legacy_opened", "legacy_failed"]
        if legacy.up:
            choices += ["legacy_frame", "legacy_failed"]
        if sends:
            choices += ["send_ok"] * 3 + ["send_failed"] * 2
        if reads:
            choices += ["history"] * 4 + ["history_failed"] * 2
        choices += ["credentials_failed"] if rnd.random() < 0.1 else []
        choices += ["close"] if rnd.random() < 0.02 else []
        label = rnd.choice(choices)
        if label == "tick":
            session.tick(now)
        elif label == "pin":
            session.pin(rnd.choice((None, Tier.LIVE, Tier.REST, Tier.LEGACY)), now)
        elif label == "begin":
            session.begin_turn(next(texts), now)
        elif label == "cancel":
            session.cancel_turn(now)
        elif label == "task_failed":
            session.task_failed("send", ServerError("the task broke"), now)
        elif label == "reply_stored":
            backend.answer()
        elif label == "live_opened":
            session.live_opened(live.generation, now)
        elif label == "live_connect_failed":
            status = rnd.choice((None, None, 500, 403))
            session.live_connect_failed(live.generation, status, "refused", now)
        elif label == "live_closed":
            session.live_closed(live.generation, "reset by peer", now)
        elif label == "drop":
            session.simulate_live_drop(now)
        elif label == "live_frame":
            if live_sent and rnd.random() < 0.3:
                backend.store("user", live_sent.pop().text)  # the server stores what came
            session.message_received(live.generation, live_frame(), now)
        elif label == "legacy_opened":
            session.legacy_opened(legacy.generation, now)
        elif label == "legacy_failed":
            session.legacy_failed(legacy.generation, "closed", now)
        elif label == "legacy_frame":
            reply = backend.answer() or rnd.choice(backend.history)
            session.legacy_message_received(
                legacy.generation, frame(type="message", message=reply.to_dict()), now
            )
        elif label == "send_ok":
            send = pick(sends)
            user = backend.store("user", send.text)
            assistant = backend.answer() if rnd.random() < 0.2 else None
            session.send_succeeded(send.request_id, user, assistant, now)
        elif label == "send_failed":
            send = pick(sends)
            status = rnd.choice((None, 500, 503, 429, 400, 404))
            retry = "1" if status in (429, 503) and rnd.random() < 0.5 else None
            session.send_failed(send.request_id, status, retry, "failed", now)
        elif label == "history":
            read = pick(reads)
            start = min(read.offset, len(backend.history))
            session.history_received(read.request_id, backend.history[start:], now, start=start)
        elif label == "history_failed":
            read = pick(reads)
            status = rnd.choice((None, 500, 503, 429, 404))
            session.history_failed(read.request_id, status, None, "failed", now)
        elif label == "credentials_failed":
            session.credentials_failed(AuthenticationError("Log in again."), now)
        elif label == "close":
            session.close(now)
        drain()
        if session.closed:
            break
    seen.refused = list(getattr(session, "refused_moves", []))
    return seen


def observed_moves(seeds: range, steps: int = 60) -> dict[Move, str]:
    """Every status move seen over ``seeds``, with the first input that made each."""
    found: dict[Move, str] = {}
    for seed in seeds:
        for status_move, label in walk(seed, steps).moves:
            found.setdefault(status_move, f"seed {seed}: {label}")
    return found
