"""A chat panel's turns: send a message, stream its reply into the panel, record how it ended.

:class:`PanelTurns` is a part the widget holds (``ChatWidget._turns``), as it holds its
actions (:mod:`lume_widget.widget.actions`) and goals (:mod:`lume_widget.widget.goals`). It
owns the turn in flight (one at a time, an asyncio task on the widget's loop named by its
turn id); the reply streams through the widget's coalescer as numbered deltas, and when the
turn ends its user message and reply join the ``messages`` trait in the update that sets
``pending`` to None (docs/widget-protocol.md). ``chat.ask(...)`` is a one-line call into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from lume_widget.core.events import (
    ChunkReceived,
    Event,
    Reply,
    ReplyCompleted,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.errors import (
    ConsultationNotActiveError,
    InvalidMessageError,
    LumeError,
    TurnCancelledError,
)
from lume_widget.widget.model import assistant_message, now_iso, user_message

if TYPE_CHECKING:
    from lume_widget.widget.host import PanelHost

__all__ = ["PanelTurns"]

logger = logging.getLogger(__name__)


class PanelTurns:
    """The turns of one panel, on its widget."""

    def __init__(self, widget: PanelHost) -> None:
        self.widget = widget
        self.task: asyncio.Task[Reply] | None = None
        """The turn in flight (or the last one), named by its turn id."""

    def in_flight(self) -> bool:
        """True while a turn's reply is still coming."""
        return self.task is not None and not self.task.done()

    async def ask(self, text: str) -> Reply:
        """Send ``text`` and return the complete reply (on the widget's loop).

        A turn stopped from the panel or with ``chat.stop()`` raises
        :class:`~lume_widget.errors.TurnCancelledError` with what had arrived; a cancelled
        caller (an interrupted cell) stops the turn too.
        """
        task = self.start(text)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not (task.done() and task.cancelled()):
                task.cancel()  # the caller was cancelled (an interrupted cell): stop the turn too
                raise
        # Stopped from the panel or with chat.stop(): an error the caller can catch, not a
        # cancellation that would look like the caller's own.
        stopped = next(
            (
                m
                for m in reversed(self.widget.messages)
                if m["id"] == f"local-{task.get_name()}-assistant"
            ),
            None,
        )
        raise TurnCancelledError(
            "The reply was stopped; what had arrived is kept in the chat.",
            partial_text=stopped["content"] if stopped else None,
        )

    def start(self, text: str) -> asyncio.Task[Reply]:
        """Start a turn as a task on the loop (the caller is on the loop's thread)."""
        if self.in_flight():
            raise LumeError(
                "A reply is still streaming. Wait for it, or stop it (chat.stop()) first."
            )
        if not text.strip():
            raise InvalidMessageError("The message is empty; type something to send.")
        turn_id = uuid.uuid4().hex[:12]
        task = asyncio.get_running_loop().create_task(self._run(text, turn_id), name=turn_id)
        self.task = task
        return task

    def spawn(self, text: str) -> None:
        """Start a turn from the panel (any thread); a refusal shows in the panel."""
        w = self.widget

        def start() -> None:
            try:
                task = self.start(text)
            except LumeError as exc:
                with w.hold_sync():
                    w.error = str(exc)
                    if not self.in_flight():
                        w.unsent_text = text
                return
            task.add_done_callback(_consume_result)

        w._runner.call_soon(start)

    async def _run(self, text: str, turn_id: str) -> Reply:
        w = self.widget
        coalescer = w._coalescer
        started = time.monotonic()
        first_chunk: list[float] = []
        stored: UserMessageStored | None = None
        sent_at = now_iso()
        with w.hold_sync():
            w.error = ""
            w.error_action = ""
            w.unsent_text = ""
            # A message that was not sent is shown until it is sent again: this is that time.
            w.messages = [m for m in w.messages if m.get("status") != "unsent"]
            w.pending = {"turn_id": turn_id, "user_text": text, "started_at": sent_at}
            w._update_input()
        coalescer.start(turn_id)

        def local_metrics() -> dict[str, Any]:
            return {
                "ttft_s": first_chunk[0] - started if first_chunk else None,
                "duration_s": time.monotonic() - started,
                "chunks": coalescer.chunks,
                "tier": w.tier,
                "reconnects": 0,
            }

        def end(partial: str, status: str, *, sent: bool = True, streamed: str = "") -> None:
            if partial and partial == streamed:  # the views hold it from the deltas
                w._streamed_text(f"local-{turn_id}-assistant", turn_id, coalescer.seq)
            self._end(text, turn_id, stored, partial, status, local_metrics(), sent, sent_at)

        try:
            consultation = await w._ensure_ready()
            reply: Reply | None = None
            async with _closing(consultation.stream(text)) as events:
                async for event in events:
                    if isinstance(event, ChunkReceived):
                        if not first_chunk:
                            first_chunk.append(time.monotonic())
                        coalescer.add(event.text)
                    elif isinstance(event, UserMessageStored):
                        stored = event
                        # Next tick: a reply finishing with it then lands in one update.
                        asyncio.get_running_loop().call_soon(self._mark_stored, turn_id)
                    elif isinstance(event, ReplyCompleted):
                        reply = event.reply
                    elif isinstance(event, TurnFailed):
                        raise event.error
                    else:
                        w._apply_link_event(event)
            if reply is None:
                raise LumeError(
                    "The reply stream ended without a complete reply. Press retry to ask again."
                )
        except asyncio.CancelledError:
            partial = coalescer.finish()
            end(partial, "stopped", streamed=partial)
            logger.info("turn %s stopped after %d characters", turn_id, len(partial))
            raise
        except LumeError as exc:
            streamed = coalescer.finish()
            partial = streamed or (exc.partial_text or "")
            if isinstance(exc, TurnCancelledError):
                end(partial, "stopped", streamed=streamed)
                raise
            if isinstance(exc, ConsultationNotActiveError):
                w._closed_consultation = True
            sent = stored is not None or bool(partial)
            end(partial, "error", sent=sent, streamed=streamed)
            with w.hold_sync():
                if not sent:
                    w.unsent_text = exc.unsent_text or text
                w._show_failure(exc)
            raise
        streamed = coalescer.finish()
        seq = coalescer.seq
        done = assistant_message(
            turn_id=turn_id, text=reply.text, status="complete", metrics={}, reply=reply
        )
        if streamed == reply.text:
            w._streamed_text(done["id"], turn_id, seq)
        with w.hold_sync():
            w.messages = [
                *w.messages,
                user_message(text, stored.message if stored else None, turn_id, sent_at=sent_at),
                done,
            ]
            w.set_trait("pending", None)
            w._update_input()
        return reply

    def _mark_stored(self, turn_id: str) -> None:
        """The backend has the question: the panel says "Sent" (unless the turn is over)."""
        w = self.widget
        if w.pending is not None and w.pending.get("turn_id") == turn_id:
            w.pending = {**w.pending, "stored": True}

    def _end(
        self,
        text: str,
        turn_id: str,
        stored: UserMessageStored | None,
        partial: str,
        status: str,
        metrics: dict[str, Any],
        sent: bool,
        sent_at: str,
    ) -> None:
        """Record a turn that ended early: the user's message (marked ``unsent`` when the
        backend never got it), the partial reply."""
        w = self.widget
        message = stored.message if stored else None
        added = [
            user_message(
                text, message, turn_id, sent_at=sent_at, status="complete" if sent else "unsent"
            )
        ]
        if partial:
            added.append(
                assistant_message(turn_id=turn_id, text=partial, status=status, metrics=metrics)
            )
        with w.hold_sync():
            w.messages = [*w.messages, *added]
            w.set_trait("pending", None)
            w._update_input()


def _consume_result(task: asyncio.Future[Any]) -> None:
    """Retrieve a front-end turn's outcome; its error is already shown in the panel."""
    if not task.cancelled():
        task.exception()


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[Event]) -> AsyncIterator[AsyncIterator[Event]]:
    """Close the client's event stream when the turn ends early (stop, error)."""
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
