"""CompareWidget: personas (or goals, or backends) side by side, one message sent to every side.

Each side is a :class:`~lume_widget.widget.ChatWidget`, so it streams exactly as a chat
panel does (the same client events, coalescer and delta channel, the same front-end
reducer and message views), holds its own consultation, and shows its own status, tier,
metrics, Stop and rating row. The comparison only composes them: one composer that sends
each message to every side at once, the best-reply pick (one per turn across the sides),
``cmp.ratings`` per turn, and ``cmp.to_scenario``.

Comm budget: the whole comparison sends at most :data:`COMM_BUDGET_PER_S` messages a second
whatever the number of sides, because each side's coalescing window is widened so that
the sides' deltas together fit :func:`delta_budget_per_s` (the rest is left for the trait
updates that start and end a turn, :data:`EDGE_UPDATES_PER_SIDE` a side). Sides without their own ``url`` share one client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets
from ipywidgets import widget_serialization

from lume_widget.core.wire import unknown_persona
from lume_widget.defaults import DEFAULT_PERSONA, PERSONAS
from lume_widget.errors import ConfigurationError, InvalidMessageError, LumeError
from lume_widget.evaluation.scenario_writer import (
    RatedReply,
    ScriptTurn,
    scenario_text,
    slug,
    write_scenario,
)
from lume_widget.widget.bundle import BUNDLE_CSS, BUNDLE_JS, FALLBACK_ESM, MISSING_BUNDLE, bundle
from lume_widget.widget.chat import ChatWidget
from lume_widget.widget.coalescer import DEFAULT_FLUSH_MS
from lume_widget.widget.ratings import script_turns
from lume_widget.widget.runner import LoopRunner

if TYPE_CHECKING:
    import os
    import ssl

    from lume_widget.client import LumeClient
    from lume_widget.core.events import Reply

__all__ = [
    "COMM_BUDGET_PER_S",
    "EDGE_UPDATES_PER_SIDE",
    "MAX_SIDES",
    "CompareWidget",
    "delta_budget_per_s",
    "side_flush_ms",
]

logger = logging.getLogger(__name__)

COMM_BUDGET_PER_S = 30
"""Comm messages a second the whole comparison may send while its sides stream."""
EDGE_UPDATES_PER_SIDE = 5
"""Trait updates a side sends when a turn starts or ends (pending, status, messages), with
room to spare: they can land in the same second as the others' deltas."""
MAX_SIDES = 5


def delta_budget_per_s(sides: int) -> float:
    """The streamed deltas of every side together, a second: the budget less the turn edges."""
    return float(COMM_BUDGET_PER_S - EDGE_UPDATES_PER_SIDE * sides)


_SIDE_KEYS = {
    "persona",
    "goal_id",
    "url",
    "tier",
    "label",
    "api_key",
    "email",
    "password",
    "token",
    "verify",
}
_CREDENTIAL_KEYS = ("api_key", "email", "password", "token", "admin_token")


def side_flush_ms(sides: int, flush_ms: float = DEFAULT_FLUSH_MS) -> float:
    """Each side's coalescing window: wide enough that ``sides`` streams fit the delta budget."""
    return max(flush_ms, 1000.0 * sides / delta_budget_per_s(sides))


def _side_specs(
    personas: Sequence[str] | None,
    goal_id: str | None,
    goal_ids: Sequence[str] | None,
    persona: str | None,
    sides: Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    if sides is not None:
        specs = []
        for index, side in enumerate(sides):
            unknown = set(side) - _SIDE_KEYS
            if unknown:
                raise ConfigurationError(
                    f"sides[{index}] has unknown keys {sorted(unknown)}; a side takes"
                    f" {', '.join(sorted(_SIDE_KEYS))}."
                )
            specs.append({"persona": DEFAULT_PERSONA, "goal_id": goal_id or "", **side})
    elif goal_ids is not None:
        specs = [{"persona": persona or DEFAULT_PERSONA, "goal_id": g} for g in goal_ids]
    else:
        names = list(personas) if personas is not None else list(PERSONAS)
        specs = [{"persona": p, "goal_id": goal_id or ""} for p in names]
    if not 2 <= len(specs) <= MAX_SIDES:
        raise ConfigurationError(
            f"A comparison needs 2 to {MAX_SIDES} sides (got {len(specs)}): give personas=[...],"
            " goal_ids=[...] with one persona, or sides=[{...}, {...}]."
        )
    for spec in specs:
        if spec["persona"] not in PERSONAS:
            raise ConfigurationError(unknown_persona(spec["persona"]))
    return specs


def _label(
    spec: Mapping[str, Any], specs: Sequence[Mapping[str, Any]], goal_title: str = ""
) -> str:
    if spec.get("label"):
        return str(spec["label"])
    persona = str(spec["persona"]).replace("_", " ")
    parts = [persona[:1].upper() + persona[1:]]
    if sum(1 for s in specs if s["persona"] == spec["persona"]) > 1:
        if len({s.get("goal_id") or "" for s in specs}) > 1:
            parts.append(
                goal_title or (f"goal {spec['goal_id']}" if spec.get("goal_id") else "no goal")
            )
        if spec.get("url"):
            parts.append(str(spec["url"]).split("://")[-1].split("/")[0])
    return " · ".join(parts)


def _goal_title(side: ChatWidget, goal_id: str) -> str:
    return next((str(g.get("title")) for g in side.goals if str(g.get("id")) == goal_id), "")


class CompareWidget(anywidget.AnyWidget):
    """Two to five chat sides in columns; one composer sends each message to every side.

    ``personas=[...]`` (default: all four) with an optional ``goal_id``; or one ``persona``
    with ``goal_ids=[...]``; or ``sides=[{"persona": ..., "goal_id": ..., "url": ...,
    "tier": ..., "label": ..., "verify": ...}, ...]`` (a side with a ``url`` has its own
    client, taking that side's credentials and ``verify`` or else these). Sides without a
    ``url`` share one client (or ``client``). ``verify`` checks an https backend's
    certificate as in :class:`ChatWidget`. Credentials never reach the widget's state.
    """

    _esm = bundle(BUNDLE_JS, FALLBACK_ESM)
    _css = bundle(BUNDLE_CSS, "")

    sides = traitlets.List(traitlets.Instance(ChatWidget)).tag(sync=True, **widget_serialization)
    """The side panels, in column order."""
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Each column's title (persona, and goal or host when two sides share a persona)."""
    busy = traitlets.Bool(False).tag(sync=True)
    """True while some side has a reply in flight."""
    input_enabled = traitlets.Bool(False).tag(sync=True)
    """True when some side can take a message."""
    error = traitlets.Unicode("").tag(sync=True)
    """Why the last message could not go to every side ("" when it did)."""
    turns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """The comparison's turns (what was sent to every side), in order: the view matches each
    column's sent messages to them by text in order, as :meth:`ratings` does, to line the
    columns up turn by turn. It rides in the update that marks the comparison busy."""

    def __init__(
        self,
        personas: Sequence[str] | None = None,
        *,
        goal_id: str | None = None,
        persona: str | None = None,
        goal_ids: Sequence[str] | None = None,
        sides: Sequence[Mapping[str, Any]] | None = None,
        url: str | None = None,
        client: LumeClient | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        flush_ms: float = DEFAULT_FLUSH_MS,
        loop: asyncio.AbstractEventLoop | None = None,
        **credentials: Any,
    ) -> None:
        if not BUNDLE_JS.is_file():
            raise ConfigurationError(MISSING_BUNDLE.format(path=BUNDLE_JS))
        unknown = set(credentials) - set(_CREDENTIAL_KEYS)
        if unknown:
            raise TypeError(f"CompareWidget got unexpected arguments {sorted(unknown)}")
        specs = _side_specs(personas, goal_id, goal_ids, persona, sides)
        super().__init__()
        self._runner = LoopRunner(loop)
        self._owns_client = client is None and any(not s.get("url") for s in specs)
        if self._owns_client:
            from lume_widget.client import LumeClient
            from lume_widget.entry import START_BACKEND

            client = self._runner.run_blocking(
                LumeClient.connect(url, start_backend=START_BACKEND, verify=verify, **credentials)
            )
        self._client = client
        window = side_flush_ms(len(specs), flush_ms)
        built: list[ChatWidget] = []
        for spec in specs:
            own = {k: spec[k] for k in ("api_key", "email", "password", "token") if spec.get(k)}
            built.append(
                ChatWidget(
                    spec.get("url"),
                    client=None if spec.get("url") else client,
                    persona=spec["persona"],
                    goal_id=spec.get("goal_id") or None,
                    tier=spec.get("tier"),
                    flush_ms=window,
                    loop=loop,
                    verify=spec.get("verify", verify),
                    **({**credentials, **own} if spec.get("url") else {}),
                )
            )
            # One at a time: a side picks its consultation only once the one before holds its
            # own, so two sides of one persona and goal never open the same consultation.
            try:
                built[-1].wait_ready()
            except LumeError as exc:
                logger.info("a side of the comparison could not connect: %s", exc)
        self._turns: list[str] = []
        with self.hold_sync():
            self.sides = built
            self.labels = [
                _label(spec, specs, _goal_title(side, spec.get("goal_id") or ""))
                for spec, side in zip(specs, built, strict=True)
            ]
        for side in built:
            side.observe(self._side_changed, names=["pending", "input_enabled"])
            side.observe(self._best_changed, names=["ratings"])
        self._side_changed(None)
        self.on_msg(self._on_front_end_message)

    # -- public API -----------------------------------------------------------------

    @property
    def client(self) -> LumeClient | None:
        """The client the sides without their own ``url`` share."""
        return self._client

    def wait_ready(self) -> None:
        """Block until every side's consultation is open."""
        for side in self.sides:
            side.wait_ready()

    async def ask_async(self, text: str) -> list[Reply | LumeError]:
        """Send ``text`` to every side at once; each side's reply, or the error that ended it."""
        return await self._runner.await_here(self._ask_all(text))

    def ask(self, text: str) -> list[Reply | LumeError]:
        """Blocking :meth:`ask_async`: works in a notebook cell and in scripts."""
        return self._runner.run_blocking(self._ask_all(text))

    def stop(self) -> None:
        """Stop every side's reply in flight (each side's Stop stops that side alone)."""
        for side in self.sides:
            side.stop()

    @property
    def ratings(self) -> list[dict[str, Any]]:
        """Per turn: ``{turn, say, replies: [{side, label, persona, message_id, rating, note,
        best}]}`` for the replies rated or picked as best."""
        out = []
        for index, (say, rated) in enumerate(self._rated_turns()):
            replies = [
                {
                    "side": side_index,
                    "label": self.labels[side_index],
                    "persona": self.sides[side_index].persona,
                    "message_id": message_id,
                    **entry,
                    "best": entry.get("best") is True,
                }
                for side_index, message_id, entry in rated
            ]
            out.append({"turn": index, "say": say, "replies": replies})
        return out

    def rate(
        self,
        side: int,
        turn: int = -1,
        rating: str | None = "up",
        note: str | None = None,
        *,
        best: bool = False,
    ) -> None:
        """Rate side ``side``'s reply to turn ``turn`` (thumbs, note, and ``best`` pick)."""
        chat = self.sides[side]
        replies = self._replies_by_turn(side)
        try:
            message_id = replies[turn]
        except IndexError:
            raise ConfigurationError(
                f"Side {side} has no reply to turn {turn}: it answered {len(replies)} turns."
            ) from None
        if message_id is None:
            raise ConfigurationError(f"Side {side} has no reply to turn {turn} to rate.")
        chat.rate(message_id, rating, note)
        if best:
            entry = dict(chat.ratings.get(message_id) or {"rating": "", "note": ""})
            chat.ratings = {**chat.ratings, message_id: {**entry, "best": True}}

    def to_scenario(
        self, path: str | Path, *, expect: Mapping[str, Any] | None = None, name: str = ""
    ) -> Path:
        """Write the comparison as a scenario file: every persona, the same turns, and under
        each turn a comment per rated reply (rating, note, best pick). Returns the path."""
        return write_scenario(path, self._runner.run_blocking(self._scenario(expect, name)))

    def close(self) -> None:
        """Close every side (and the shared client when this widget opened it)."""
        if "_runner" not in self.__dict__:  # refused in __init__: nothing was opened
            super().close()
            return
        for side in self.sides:
            side.close()
        if self._owns_client and self._client is not None:
            self._runner.run_blocking(self._client.aclose())
        super().close()

    # -- turns --------------------------------------------------------------------------

    async def _ask_all(self, text: str) -> list[Reply | LumeError]:
        if not text.strip():
            raise InvalidMessageError("The message is empty; type something to send.")
        self._turns.append(text)
        results = await asyncio.gather(
            *(side.ask_async(text) for side in self.sides), return_exceptions=True
        )
        out: list[Reply | LumeError] = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, LumeError):
                raise result
            out.append(result)
        return out

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "send":
            text = str(content.get("text", ""))
            if not text.strip():
                return
            busy = [self.labels[i] for i, s in enumerate(self.sides) if s.pending is not None]
            if busy:
                self.error = f"Still answering: {', '.join(busy)}. Wait, or stop them first."
                return
            self.error = ""
            self._turns.append(text)
            for side in self.sides:
                side._spawn_turn(text)
        elif content.get("type") == "stop":
            self.stop()
        elif content.get("type") == "save_scenario":
            self._runner.submit(self._offer_scenario())
        else:
            logger.warning("ignoring an unknown message from the comparison: %r", content)

    async def _offer_scenario(self) -> None:
        """The "Save as scenario" button: the YAML goes to the front end as a download."""
        try:
            text = await self._scenario(None, "")
        except LumeError as exc:
            self.error = f"Not saved as a scenario: {exc}"
            return
        name = f"compare-{slug('-'.join(dict.fromkeys(s.persona for s in self.sides)))}.yaml"
        self.send({"type": "scenario", "name": name, "text": text})

    def _side_changed(self, _change: Any) -> None:
        with self.hold_sync():
            if self.turns != self._turns:
                self.turns = list(self._turns)
            self.busy = any(side.pending is not None for side in self.sides)
            self.input_enabled = any(side.input_enabled for side in self.sides)

    # -- ratings ------------------------------------------------------------------------

    def _replies_by_turn(self, side: int) -> list[str | None]:
        """Side ``side``'s reply id for each turn of the comparison (None: no reply to it).

        A side's sent messages are matched to the comparison's turns by text, in order, so a
        message a side never got leaves a gap rather than shifting the others.
        """
        replies: list[str | None] = [None] * len(self._turns)
        chat = self.sides[side]
        at = 0
        current: int | None = None
        for message in chat.messages:
            if message.get("role") == "user" and message.get("status") != "unsent":
                current = None
                for k in range(at, len(self._turns)):
                    if self._turns[k] == message.get("content"):
                        current, at = k, k + 1
                        break
            elif message.get("role") == "assistant" and current is not None:
                replies[current] = str(message.get("id"))
        return replies

    def _rated_turns(self) -> list[tuple[str, list[tuple[int, str, dict[str, Any]]]]]:
        turns: list[tuple[str, list[tuple[int, str, dict[str, Any]]]]] = [
            (say, []) for say in self._turns
        ]
        for side_index, side in enumerate(self.sides):
            for k, message_id in enumerate(self._replies_by_turn(side_index)):
                entry = side.ratings.get(message_id or "")
                if message_id is not None and entry:
                    turns[k][1].append((side_index, message_id, dict(entry)))
        return turns

    def _best_changed(self, change: Any) -> None:
        """One best reply per turn: picking one on a side unpicks the others of that turn."""
        owner: ChatWidget = change["owner"]
        old, new = change["old"] or {}, change["new"] or {}
        picked = [
            mid for mid, e in new.items() if e.get("best") and not (old.get(mid) or {}).get("best")
        ]
        if not picked:
            return
        index = self.sides.index(owner)
        replies = self._replies_by_turn(index)
        for message_id in picked:
            if message_id not in replies:
                continue
            turn = replies.index(message_id)
            for other_index, other in enumerate(self.sides):
                if other is owner:
                    continue
                other_id = self._replies_by_turn(other_index)[turn]
                entry = other.ratings.get(other_id or "")
                if other_id is not None and entry and entry.get("best"):
                    other.ratings = {**other.ratings, other_id: {**entry, "best": False}}

    async def _scenario(self, expect: Mapping[str, Any] | None, name: str) -> str:
        goals = {side.goal_id for side in self.sides}
        if len(goals) > 1:
            raise ConfigurationError(
                "The sides have different goals; a scenario has one goal per conversation."
                " Save each side with cmp.sides[i].to_scenario(path)."
            )
        goal_id = goals.pop()
        goal = None
        if goal_id:
            client = self.sides[0].client
            if client is None:
                raise ConfigurationError("Not connected to Lume yet; wait for the sides.")
            goal = await client.get_goal(goal_id)
        rated = self._rated_turns()
        turns = [
            ScriptTurn(
                say,
                tuple(
                    RatedReply(
                        self.sides[i].persona,
                        str(e.get("rating") or ""),
                        str(e.get("note") or ""),
                        e.get("best") is True,
                        self.labels[i],
                    )
                    for i, _mid, e in replies
                ),
            )
            for say, replies in rated
        ]
        if not turns:  # messages sent to the sides directly, not through the comparison
            turns = script_turns(self.sides[0].messages, {}, self.sides[0].persona)
        personas = [side.persona for side in self.sides]
        return scenario_text(
            name=name or f"compare-{slug('-'.join(dict.fromkeys(personas)))}",
            personas=personas,
            turns=turns,
            goal=goal,
            expect=expect,
            source=f"Saved from a comparison of {', '.join(self.labels)}",
        )
