"""The consultations of an evaluation run: opened through rate limits, closed whatever happens.

A run must never leave consultations active behind it: the backend allows 10 per user, and
a notebook that runs an evaluation twice would meet that limit. :class:`ConsultationKeeper`
is the one place that opens a conversation's consultation, logs it to ``consultations.jsonl``
(so a killed run's leftovers can be found and closed by ``--resume``), and completes, deletes
or keeps it when the conversation ends, retrying through rate limits and outages for as long
as a turn may take. The runner composes one; it reports rate limits back to the runner's
limiter through the callbacks it is given.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lume_widget.errors import (
    ConnectionFailedError,
    ConsultationNotActiveError,
    LumeError,
    RateLimitedError,
    ServerError,
    TooManyConsultationsError,
)
from lume_widget.evaluation.limiter import AdaptiveLimiter
from lume_widget.evaluation.options import RunOptions
from lume_widget.evaluation.records import ConsultationLog
from lume_widget.evaluation.scenarios import Conversation

if TYPE_CHECKING:
    from lume_widget.client import Consultation, LumeClient

__all__ = [
    "CLEANUP_RETRY_S",
    "CLEANUP_TURNS",
    "CLOSE_TIMEOUT_S",
    "LOG_CLOCK_SKEW",
    "ConsultationKeeper",
    "RateLimitReaction",
    "is_rate_limit",
]

logger = logging.getLogger(__name__)

LOG_CLOCK_SKEW = timedelta(seconds=60)
"""Tolerance between this machine's clock and the backend's when matching leftovers."""

CLOSE_TIMEOUT_S = 5.0
"""How long closing a consultation's sockets may take before the run moves on."""

CLEANUP_TURNS = 1.0
"""Completing (or deleting) a consultation is retried through rate limits, 5xx and outages
for as long as a turn may take (the client's ``turn_deadline_s`` times this) before the run
gives up on it and says so; each wait honours Retry-After."""

CLEANUP_RETRY_S = (0.05, 2.0)
"""First and longest wait between cleanup attempts when the backend gives no Retry-After."""


class RateLimitReaction(Protocol):
    """How the runner reacts to a rate limit that surfaced as an exception."""

    def __call__(self, retry_after: float | None, *, counted: bool | None = None) -> None: ...


class ConsultationKeeper:
    """Opens, logs and closes the consultations of one run."""

    def __init__(
        self,
        client: LumeClient,
        options: RunOptions,
        limiter: AdaptiveLimiter,
        *,
        rate_limited: RateLimitReaction,
        active_changed: Callable[[], None],
        watching: Callable[[], bool],
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.options = options
        self.limiter = limiter
        self._rate_limited = rate_limited
        self._active_changed = active_changed
        self._watching = watching
        self._clock = clock
        self._sleep = sleep
        self.log: ConsultationLog | None = None
        """The run's ``consultations.jsonl``, while the run writes it."""
        self.open_chats: dict[str, Consultation] = {}
        """Consultations opened and not yet released, by id."""
        self.created: list[str] = []
        """Every consultation this run created, in order."""
        self._stuck: set[asyncio.Future[None]] = set()

    # -- opening ---------------------------------------------------------------------------

    async def open(self, conversation: Conversation, goal_id: str | None) -> Consultation:
        """A fresh consultation for ``conversation``, waiting out rate limits and the active limit."""
        scenario = conversation.scenario
        attempts = 0
        while True:
            attempts += 1
            if self.log is not None:
                self.log.opening(conversation.key)
            try:
                chat = await self.client.open(
                    persona=conversation.persona,
                    goal_id=goal_id,
                    resume=False,
                    initial_message=scenario.initial_message,
                    quick_action=scenario.quick_action,
                    tier=conversation.tier,
                    # a record needs the reply's text, not its stored id: no read per turn
                    await_stored_reply=False,
                )
            except RateLimitedError as exc:
                if attempts >= self.options.max_attempts:
                    raise
                self._rate_limited(exc.retry_after)
                await self.limiter.wait_unpaused()
                continue
            except TooManyConsultationsError as exc:
                if attempts >= self.options.max_attempts:
                    raise
                if is_rate_limit(exc):
                    self._rate_limited(None, counted=self._watching())
                    await self.limiter.wait_unpaused()
                    continue
                # Someone else holds active consultations too: run narrower and wait.
                self.limiter.shrink_to(max(1, self.limiter.active - 1))
                self._active_changed()
                await self._sleep(min(2.0**attempts, 30.0))
                continue
            break
        self.open_chats[chat.id] = chat
        self.created.append(chat.id)
        if self.log is not None:
            self.log.created(chat.id, conversation.key)
        return chat

    # -- closing ---------------------------------------------------------------------------

    async def release(self, chat: Consultation, *, log: ConsultationLog | None = None) -> bool:
        """Complete (or delete) the consultation and close its links; True when that worked."""
        log = log or self.log
        try:
            await self._finish_until_done(chat)
        except LumeError as exc:
            logger.warning("could not %s consultation %s: %s", self.options.cleanup, chat.id, exc)
            await self._close_link(chat)
            return False
        await self._close_link(chat)
        self.open_chats.pop(chat.id, None)
        if log is not None:
            log.closed(chat.id, self._closed_event())
        return True

    async def close_all(self) -> None:
        """Last chance, also on cancellation: close whatever is still open."""
        for chat in list(self.open_chats.values()):
            await self.release(chat)

    async def close_leftovers(self, log_path: Path) -> None:
        """Close the consultations a killed run left active.

        Those it logged are closed by id. A create that was in flight when the run died
        may have made a consultation the log never heard of: an active one of the same
        persona, created since that request and holding no user message yet, is closed
        too (an empty consultation is all such a match can be, so nothing of value is lost).
        """
        leftover = ConsultationLog.still_open(log_path)
        unanswered = ConsultationLog.unanswered_opens(log_path)
        if unanswered:
            known = ConsultationLog.known_ids(log_path)
            try:
                active = await self.client.list_consultations(status="active")
            except LumeError as exc:
                logger.warning("could not list active consultations to tidy up: %s", exc)
                active = []
            for persona, at in unanswered:
                for info in active:
                    created = info.created_at or info.started_at
                    if created is not None and created.tzinfo is None:
                        created = created.replace(tzinfo=timezone.utc)
                    if (
                        info.id not in known
                        and info.id not in leftover
                        and info.persona == persona
                        and info.message_count <= 1
                        and created is not None
                        and created >= at - LOG_CLOCK_SKEW
                    ):
                        leftover.append(info.id)
                        break
        if not leftover:
            return
        log = ConsultationLog(log_path)
        try:
            for consultation_id in leftover:
                try:
                    chat = await self.client.open(consultation_id=consultation_id, resume=True)
                except LumeError as exc:
                    logger.warning(
                        "could not reopen consultation %s left by the interrupted run: %s",
                        consultation_id,
                        exc,
                    )
                    continue
                if await self.release(chat, log=log):
                    logger.info("closed consultation %s left by the interrupted run", chat.id)
        finally:
            log.close()

    def _closed_event(self) -> str:
        return {"complete": "completed", "delete": "deleted", "keep": "kept"}[self.options.cleanup]

    async def _finish(self, chat: Consultation) -> None:
        if self.options.cleanup == "complete":
            await chat.complete()
        elif self.options.cleanup == "delete":
            await chat.delete()

    async def _finish_until_done(self, chat: Consultation) -> None:
        """:meth:`_finish`, retried through transient failures until it succeeds or
        a turn's deadline passes (:data:`CLEANUP_TURNS`): a rate limit waits its Retry-After (at least the
        current backoff step), a 5xx or an unreachable backend the backoff step."""
        deadline = self._clock() + CLEANUP_TURNS * self.client.settings.turn_deadline_s
        step, longest = CLEANUP_RETRY_S
        while True:
            try:
                await self._finish(chat)
                return
            except ConsultationNotActiveError:
                if self.options.cleanup == "complete":
                    return  # an earlier attempt completed it and its answer was lost
                raise
            except (RateLimitedError, ServerError, ConnectionFailedError) as exc:
                retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
                wait = max(step, retry_after or 0.0)
                if self._clock() + wait > deadline:
                    raise
                logger.info(
                    "could not %s consultation %s yet (%s); again in %.2f s",
                    self.options.cleanup,
                    chat.id,
                    exc,
                    wait,
                )
                await self._sleep(wait)
                step = min(step * 2, longest)

    async def _close_link(self, chat: Consultation) -> None:
        """Close the consultation's sockets, but never let a slow close hold the run."""
        task = asyncio.ensure_future(chat.aclose())
        done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
        if not done:
            logger.warning(
                "closing the links of consultation %s took over %.0f s; moving on",
                chat.id,
                CLOSE_TIMEOUT_S,
            )
            self._stuck.add(task)
            task.add_done_callback(self._stuck.discard)
            return
        error = task.exception()
        if error is not None:
            logger.debug("closing consultation %s: %s", chat.id, error)


def is_rate_limit(error: TooManyConsultationsError) -> bool:
    """A 429 on create that is a request-rate limit, not the 10-active-consultations limit.

    The client reports every 429 on create as too many consultations (PROTOCOL A3); the
    backend's own answer tells them apart.
    """
    text = error.message.lower()
    return error.code == "RATE_LIMITED" or "too many requests" in text or "retry after" in text
