"""The running server's shared state and the reply logic both REST and WebSockets use.

``ServerState`` owns the store, the authenticator, the responder, the active faults and
the hub of open sockets. Replies produced outside a streaming socket (a REST send, a
legacy send, a create with an initial message) are generated here in the background,
stored whole, then pushed as one ``{"type":"message"}`` frame to every open socket of
the consultation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from lume_widget.server.auth import Authenticator, Principal, bearer_token
from lume_widget.server.config import ServerConfig
from lume_widget.server.faults import FaultState
from lume_widget.server.responders import GoalInfo, ReplyContext, Responder, ResponderError
from lume_widget.server.store import NewMessage, Row, Store, StoreError
from lume_widget.server.wire import ApiProblem, message_json, ws_event
from lume_widget.text import repair_text

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    """An open socket that wants whole messages of a consultation."""

    async def deliver(self, event: dict[str, Any]) -> None: ...

    async def close_for(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    message: Row
    chunks: int


YIELD_EVERY_S = 0.004
"""Generating a reply gives the event loop a turn at least this often, whatever the pacing,
so health checks, pings and other sockets are answered while an unpaced reply streams."""


class LoopYield:
    """Call after each generated chunk: yields to the event loop once ``YIELD_EVERY_S`` passed."""

    def __init__(self) -> None:
        self._since = time.monotonic()

    async def __call__(self) -> None:
        now = time.monotonic()
        if now - self._since >= YIELD_EVERY_S:
            await asyncio.sleep(0)
            self._since = time.monotonic()


class ReplyNotStored(Exception):
    """A generated reply could not be written after every retry; it is kept in memory and
    stored in the background, and the client is told at once."""


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token), for realistic metadata."""
    return max(1, len(text) // 4)


class ServerState:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        auth: Authenticator,
        responder: Responder,
        faults: FaultState,
    ) -> None:
        self.config = config
        self.profile = config.profile
        self.store = store
        self.auth = auth
        self.responder = responder
        self.faults = faults
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.unstored: dict[str, int] = {}
        """How many generated replies wait to be stored, by consultation id."""

    def __repr__(self) -> str:
        return f"ServerState({self.config!r})"

    # -- background work ------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` independently of the request or socket that started it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float) -> None:
        """Let running replies finish (so they are stored), then cancel what is left."""
        pending = set(self._tasks)
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)

    @property
    def busy(self) -> int:
        return len(self._tasks)

    # -- hub ------------------------------------------------------------------------

    def subscribe(self, consultation_id: str, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(consultation_id, set()).add(subscriber)

    def unsubscribe(self, consultation_id: str, subscriber: Subscriber) -> None:
        subs = self._subscribers.get(consultation_id)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self._subscribers[consultation_id]

    async def broadcast(self, consultation_id: str, event: dict[str, Any]) -> None:
        for sub in list(self._subscribers.get(consultation_id, ())):
            await sub.deliver(event)

    async def close_sockets(self, consultation_id: str, reason: str) -> None:
        for sub in list(self._subscribers.get(consultation_id, ())):
            await sub.close_for(1000, reason)

    # -- auth -----------------------------------------------------------------------

    def principal(self, api_key: str | None, authorization: str | None) -> Principal:
        self.auth.check_api_key(api_key)
        return self.auth.check_access_token(bearer_token(authorization))

    # -- consultations ----------------------------------------------------------------

    async def owned_consultation(self, consultation_id: str, principal: Principal) -> Row:
        row = await self.store.consultation(consultation_id)
        if row is None:
            raise ApiProblem(404, "consultation not found", code="NOT_FOUND")
        if row["user_id"] != principal.user_id:
            raise ApiProblem(
                403, "you do not have permission to access this consultation", code="FORBIDDEN"
            )
        return row

    @staticmethod
    def goal_of(consultation: Row) -> GoalInfo | None:
        snapshot = consultation.get("goal_snapshot")
        if not snapshot:
            return None
        return GoalInfo(**json.loads(snapshot))

    async def reply_context(self, consultation: Row, user_message_id: str) -> ReplyContext:
        """What the responder needs to answer one user message: history up to and including it.

        Cutting history at that message keeps replies right when several messages were
        sent before the first was answered: each reply answers its own message.
        """
        rows, _ = await self.store.messages(consultation["id"])
        cut = next((i for i, r in enumerate(rows) if r["id"] == user_message_id), len(rows) - 1)
        history = tuple((r["role"], r["content"]) for r in rows[: cut + 1])
        user_texts = [content for role, content in history if role == "user"]
        return ReplyContext(
            consultation_id=consultation["id"],
            persona=consultation["persona"],
            user_text=user_texts[-1] if user_texts else "",
            history=history,
            goal=self.goal_of(consultation),
            turn=len(user_texts),
        )

    async def add_user_message(self, consultation_id: str, content: str) -> Row:
        try:
            message, _ = await self.store.add_message(
                consultation_id, NewMessage("user", content), require_active=True
            )
        except StoreError as exc:
            if exc.kind == "missing":
                raise ApiProblem(404, "consultation not found", code="NOT_FOUND") from None
            raise ApiProblem(
                403,
                "consultation is not active: start a new consultation to keep talking",
                code="CONSULTATION_NOT_ACTIVE",
            ) from None
        return message

    async def store_reply(
        self,
        consultation_id: str,
        text: str,
        started: float,
        chunks: int,
        reply_to: str | None = None,
    ) -> Row | None:
        """Store a finished assistant reply; None if the consultation was deleted meanwhile."""
        elapsed_ms = int((time.monotonic() - started) * 1000)
        text = repair_text(text)  # a responder's text is stored as valid Unicode
        new = NewMessage("assistant", text, estimate_tokens(text), elapsed_ms, reply_to)
        delays = self.config.store_retry_s
        for attempt in range(len(delays) + 1):
            try:
                message, _ = await self.store.add_message(
                    consultation_id, new, require_active=False
                )
            except StoreError:
                logger.info("consultation %s vanished before its reply was stored", consultation_id)
                return None
            except sqlite3.Error as exc:
                if attempt == len(delays):
                    logger.error(
                        "the reply of %s could not be stored (%s); keeping it and retrying in "
                        "the background",
                        consultation_id,
                        exc,
                    )
                    self.unstored[consultation_id] = self.unstored.get(consultation_id, 0) + 1
                    self.spawn(self._store_later(consultation_id, new), name="store-later")
                    raise ReplyNotStored(str(exc)) from exc
                logger.warning(
                    "storing the reply of %s failed (%s); retrying in %.2f s",
                    consultation_id,
                    exc,
                    delays[attempt],
                )
                await asyncio.sleep(delays[attempt])
            else:
                return message
        raise AssertionError("unreachable")  # pragma: no cover

    async def _store_later(self, consultation_id: str, new: NewMessage) -> None:
        """Store a reply whose write kept failing, once the database takes writes again."""
        delay = max(self.config.store_retry_s or (1.0,))
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    message, _ = await self.store.add_message(
                        consultation_id, new, require_active=False
                    )
                except StoreError:
                    return
                except sqlite3.Error as exc:
                    logger.info("reply of %s still not stored: %s", consultation_id, exc)
                    continue
                logger.info("the reply of %s is stored at last", consultation_id)
                await self.broadcast(
                    consultation_id,
                    ws_event(
                        "message",
                        consultation_id,
                        self.profile,
                        message=message_json(message, self.profile),
                    ),
                )
                return
        finally:
            left = self.unstored.pop(consultation_id, 1) - 1
            if left:
                self.unstored[consultation_id] = left

    def check_stored(self, consultation_id: str) -> None:
        """503 while a reply of this consultation waits to be stored: a history without it
        would make a poller wait for a reply that is not coming yet."""
        if consultation_id in self.unstored:
            raise ApiProblem(
                503,
                "a reply was generated but could not be stored yet; the server is storing it "
                "again: read the history in a moment",
                code="REPLY_NOT_STORED",
                headers={"Retry-After": "1"},
            )

    async def answer_unanswered(self) -> None:
        """At start: answer every user message left without a reply when the server stopped."""
        for consultation_id, message_id in await self.store.unanswered():
            consultation = await self.store.consultation(consultation_id)
            if consultation is None:  # pragma: no cover - the join found it a moment ago
                continue
            logger.info("answering a message left without a reply in %s", consultation_id)
            self.reply_in_background(consultation, message_id)

    def reply_in_background(self, consultation: Row, user_message_id: str) -> None:
        """Answer one user message without a streaming socket (REST, legacy, create)."""
        self.spawn(
            self._reply_whole(consultation, user_message_id), name=f"reply:{consultation['id']}"
        )

    async def _reply_whole(self, consultation: Row, user_message_id: str) -> None:
        cid = consultation["id"]
        started = time.monotonic()
        faults = self.faults.current
        ctx = await self.reply_context(consultation, user_message_id)
        parts: list[str] = []
        pause = LoopYield()
        if faults.reply_delay_ms:
            await asyncio.sleep(faults.reply_delay_ms / 1000)
        try:
            async for delta in self.responder.stream(ctx):
                parts.append(delta)
                await pause()
        except ResponderError as exc:
            logger.warning("reply for %s failed: %s", cid, exc)
            await self.broadcast(
                cid,
                ws_event(
                    "error", cid, self.profile, error="Failed to process message", code="AI_ERROR"
                ),
            )
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.drop_replies:
            logger.info("reply of %s dropped (fault injection): never stored", cid)
            return
        try:
            message = await self.store_reply(
                cid, "".join(parts), started, len(parts), user_message_id
            )
        except ReplyNotStored:
            await self.broadcast(
                cid,
                ws_event(
                    "error",
                    cid,
                    self.profile,
                    error="The reply could not be stored; it is being stored again",
                    code="REPLY_NOT_STORED",
                ),
            )
            return
        if message is not None:
            await self.broadcast(
                cid,
                ws_event("message", cid, self.profile, message=message_json(message, self.profile)),
            )
