"""Consultation: one chat, delivered over the best working tier, reported as events.

The driver of the sans-I/O session (:mod:`lume_widget.core.session`): a pump task ticks
the session at its deadlines, and every action it asks for (connect, send, read history
after a delay, close) is performed by :class:`~lume_widget.client.driver.ActionDriver` as
a small task that reports its result back. The session decides everything; this module
feeds it, publishes its events to the listeners and holds the public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from lume_widget.client.driver import ActionDriver, LinkHost, consultations_path, legacy_path
from lume_widget.core.events import (
    ChunkReceived,
    ConnectionStatus,
    Event,
    Reply,
    ReplyCompleted,
    Tier,
    TurnFailed,
    UserMessageStored,
)
from lume_widget.core.models import ConsultationInfo, Message
from lume_widget.core.session import IllegalTransition, Session
from lume_widget.core.wire import (
    history_total,
    messages_from_json,
    validate_message,
)
from lume_widget.errors import (
    ConsultationNotActiveError,
    LumeError,
)

if TYPE_CHECKING:
    from lume_widget.core.settings import Settings


class ConsultationHost(LinkHost, Protocol):
    """What a consultation needs of the client that opened it (:class:`LumeClient` is one):
    what its driver needs (:class:`~lume_widget.client.driver.LinkHost`), and more."""

    clock: Callable[[], float]
    random: Callable[[], float]

    async def get_consultation(self, consultation_id: str) -> ConsultationInfo: ...

    async def open(
        self,
        persona: str = ...,
        goal_id: str | None = None,
        consultation_id: str | None = None,
        *,
        resume: bool = True,
        initial_message: str | None = None,
        quick_action: str | None = None,
        tier: Tier | str | None = None,
        await_stored_reply: bool | None = None,
    ) -> Consultation: ...

    async def aclose(self) -> None: ...


_connect_client: Callable[..., Awaitable[ConsultationHost]] | None = None


def use_client(connect: Callable[..., Awaitable[ConsultationHost]]) -> None:
    """The function :meth:`Consultation.connect` opens its own client with (``LumeClient.connect``,
    registered by :mod:`lume_widget.client.lume_client`, which imports this module)."""
    global _connect_client
    _connect_client = connect


__all__ = ["Consultation", "ConsultationHost", "use_client"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
_END = object()


class Consultation:
    """One consultation. Create with :meth:`connect` or :meth:`LumeClient.open`.

    ``tier`` and ``status`` are the tier in use and the connection status; ``transcript``
    is the server's history as last read (ids, roles, order and content as stored).
    """

    def __init__(
        self,
        client: ConsultationHost,
        info: ConsultationInfo,
        history: list[Message],
        *,
        tier: Tier | None = None,
        owns_client: bool = False,
        history_offset: int = 0,
        initial: tuple[str | None, float, datetime] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._client = client
        self.info = info
        self.id = info.id
        self.persona = info.persona
        self.goal_id = info.effective_goal_id
        self._owns_client = owns_client
        self._session = Session(
            info.id,
            settings or client.settings,
            pinned=tier,
            history=history,
            history_offset=history_offset,
            random=client.random,
        )
        self._clock = client.clock
        self._sleep = client.sleep
        self._subscribers: list[tuple[asyncio.Queue[Any], tuple[type, ...] | None]] = []
        """Each listener's queue, and the event types it wants (None: every event)."""
        self._chunk_listeners: list[Callable[[ChunkReceived], None]] = []
        """The ``on_chunk`` callbacks of the turn in flight (see :meth:`ask`)."""
        self._wake = asyncio.Event()
        self._pump_until: float | None = None
        """The deadline the pump sleeps until (None: no deadline, only a wake-up)."""
        self._pump_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._driver = ActionDriver(
            client,
            self._session,
            info.id,
            apply=self._apply,
            flush=self._flush,
            clock=self._clock,
            closed=lambda: self._closed,
        )
        """Performs the session's actions: the links, the tasks, every outcome reported."""
        self._initial = initial
        """The initial message this consultation was created with (None: a quick action,
        whose prompt the history shows, if the backend stored one), when it was created at
        ``sent_at`` (the client's clock) and ``wall`` (UTC): ``(text, sent_at, wall)``."""
        self._initial_end: asyncio.Future[Reply] | None = None
        self._initial_events: list[Event] | None = None
        """The initial turn's events so far, replayed to each :meth:`events` iterator begun
        before the first :meth:`ask` (None once a later turn began, or without one)."""
        """The initial message's reply (or the error that ended its turn)."""

    def __repr__(self) -> str:
        return (
            f"Consultation(id={self.id!r}, persona={self.persona!r}, tier={self.tier.value!r}, "
            f"status={self.status.value!r})"
        )

    # ------------------------------------------------------------ construction

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str | None = None,
        *,
        persona: str = "general_wellness",
        goal_id: str | None = None,
        consultation_id: str | None = None,
        tier: Tier | str | None = None,
        resume: bool = True,
        initial_message: str | None = None,
        quick_action: str | None = None,
        **client_options: Any,
    ) -> AsyncIterator[Consultation]:
        """Open a consultation that owns its own :class:`LumeClient`; closes both on exit."""
        if _connect_client is None:  # pragma: no cover - lume_widget.client registers it
            raise LumeError("import lume_widget.client before Consultation.connect")
        client = await _connect_client(url, **client_options)
        try:
            chat = await client.open(
                persona,
                goal_id,
                consultation_id,
                resume=resume,
                initial_message=initial_message,
                quick_action=quick_action,
                tier=tier,
            )
        except BaseException:
            await client.aclose()
            raise
        chat._owns_client = True
        try:
            yield chat
        finally:
            await chat.aclose()

    def _start(self) -> None:
        self._loop = self._driver.loop = asyncio.get_running_loop()
        self._apply(self._session.start)
        if self._initial is not None:
            text, sent_at, wall = self._initial
            self._initial_end = self._loop.create_future()
            self._initial_events = []
            session = self._session
            if text is not None:
                self._apply(lambda now: session.begin_initial_turn(text, sent_at, now, wall))
            elif (
                self._apply(lambda now: session.begin_quick_action_turn(sent_at, now, wall)) is None
            ):
                self._initial_end = self._initial_events = None  # no prompt stored: no turn
        self._pump_task = self._loop.create_task(self._pump())

    # ------------------------------------------------------------------ state

    @property
    def tier(self) -> Tier:
        """The tier that delivers the next turn (``live``, ``rest`` or ``legacy``)."""
        return self._session.tier

    @property
    def pinned_tier(self) -> Tier | None:
        """The tier forced with :meth:`pin_tier`, or None when the client chooses."""
        return self._session.pinned

    @property
    def status(self) -> ConnectionStatus:
        """The connection status (connecting, connected, streaming, reconnecting, ...)."""
        return self._session.status

    @property
    def transcript(self) -> list[Message]:
        """The messages of this consultation held so far, in order (a copy): the newest ones
        of a long consultation that was opened (see :attr:`transcript_offset`), all of it after
        :meth:`history`."""
        return list(self._session.transcript.messages)

    @property
    def transcript_offset(self) -> int:
        """Where :attr:`transcript` begins in the server's whole history: 0 when it holds all
        of it, ``total - 200`` for a longer consultation opened by the client (its newest 200
        messages; older ones with :meth:`history_page` or :meth:`history`)."""
        return self._session.transcript.offset

    @property
    def frames_skipped(self) -> int:
        """Frames (or parts of frames) that were binary, invalid JSON or of unknown type."""
        return self._session.frames_skipped

    @property
    def frames_dropped(self) -> int:
        """Frames of another consultation, or late frames of a reply that is over."""
        return self._session.frames_dropped

    @property
    def busy(self) -> bool:
        """Whether a reply is in flight."""
        return self._session.turn_in_flight

    # ------------------------------------------------------------------ turns

    @property
    def initial_turn_id(self) -> str | None:
        """The turn id of the answer to ``initial_message`` (None: opened without one)."""
        return self._session.initial_turn_id

    async def initial_reply(self) -> Reply:
        """The answer to the ``initial_message`` this consultation was created with, as a
        :class:`Reply` of its own turn (:attr:`initial_turn_id`): its tier, its time to first
        token and duration from the create request, its ``message_id`` and the
        ``user_message_id`` of the initial message. Waits for it; raises the turn's error if
        it failed (timed out, stopped, closed). Its events (``UserMessageStored``,
        ``ReplyCompleted`` or ``TurnFailed``) also reach :meth:`events`. :meth:`ask` and
        :meth:`stream` wait for it before sending, so the first turn gets its own reply."""
        end = self._initial_end
        if end is None:
            raise LumeError(
                "This consultation has no initial reply: it was not created with an initial "
                "message or a quick action whose prompt the backend stored (or an existing one "
                "was resumed); open one with LumeClient.open(..., initial_message=..., "
                "resume=False)."
            )
        return await asyncio.shield(end)

    async def _initial_settled(self) -> None:
        """Wait until the initial message's turn is over (however it ended)."""
        end = self._initial_end
        if end is not None and not end.done():
            await asyncio.wait([end])

    async def ask(
        self, text: str, *, on_chunk: Callable[[ChunkReceived], None] | None = None
    ) -> Reply:
        """Send ``text`` and return the complete reply; raises the turn's error if it fails.

        ``on_chunk`` is called with each :class:`ChunkReceived` of this turn as it arrives
        (in order, on the event loop, before ``ask`` returns): the chunks' times and sizes
        without an event queue and a task switch per chunk, as :meth:`stream` has. An
        exception it raises is logged and does not end the turn."""
        ends = (ReplyCompleted, TurnFailed)  # only the end is queued, not every chunk
        turn_events = self._turn_events(text, ends, on_chunk)
        async with contextlib.aclosing(turn_events) as events:
            async for event in events:
                if isinstance(event, ReplyCompleted):
                    return event.reply
                if isinstance(event, TurnFailed):
                    raise event.error
        raise LumeError("The turn ended without a reply.")  # pragma: no cover

    def stream(self, text: str) -> AsyncGenerator[Event, None]:
        """Send ``text`` and yield every event until the reply completes or the turn fails.

        The last event is :class:`ReplyCompleted` or :class:`TurnFailed` (not raised).
        Leaving the loop early (break, cancellation) stops the reply.
        """
        return self._turn_events(text, None)

    async def _turn_events(
        self,
        text: str,
        kinds: tuple[type, ...] | None,
        on_chunk: Callable[[ChunkReceived], None] | None = None,
    ) -> AsyncGenerator[Event, None]:
        self._check_sendable(text)
        await self._initial_settled()
        self._check_sendable(text)
        queue = self._subscribe(kinds)
        turn_id = ""
        finished = False
        listener: Callable[[ChunkReceived], None] | None = None
        try:
            try:
                turn_id = self._apply(
                    lambda now: self._session.begin_turn(text, now, datetime.now(timezone.utc))
                )
                self._initial_events = None  # later iterators begin after the initial turn
            except IllegalTransition as exc:
                raise LumeError(
                    "A reply is still in flight; wait for it or stop it (chat.stop()) before "
                    "sending again.",
                    unsent_text=text,
                ) from exc
            if on_chunk is not None:
                callback, own = on_chunk, turn_id

                def listener(event: ChunkReceived) -> None:
                    if event.turn_id == own:
                        callback(event)

                self._chunk_listeners = [*self._chunk_listeners, listener]
            while True:
                event = await queue.get()
                if event is _END:
                    finished = True
                    return
                if (isinstance(event, ReplyCompleted) and event.reply.turn_id == turn_id) or (
                    isinstance(event, TurnFailed) and event.turn_id == turn_id
                ):
                    finished = True
                    yield event
                    return
                yield event
        finally:
            self._unsubscribe(queue)
            if listener is not None:
                self._chunk_listeners = [f for f in self._chunk_listeners if f is not listener]
            if (
                turn_id
                and not finished
                and not self._closed
                and self._session.current_turn_id == turn_id
            ):
                self._apply(self._session.cancel_turn)

    async def stop(self) -> None:
        """Stop the reply in flight (its turn fails with TurnCancelledError); no-op when idle."""
        if self._session.turn_in_flight:
            self._apply(self._session.cancel_turn)

    def events(self) -> AsyncIterator[Event]:
        """Every event of this consultation from this call on, turns or not, until it is closed.

        Until the first :meth:`ask` or :meth:`stream` begins, an iterator also gets the
        initial turn's events that came before the call (its ``UserMessageStored``, chunks
        and ``ReplyCompleted`` or ``TurnFailed``; see :meth:`initial_reply`), first and once,
        even when the initial reply was complete before the iteration began."""
        queue = self._subscribe()
        for event in self._initial_events or ():
            queue.put_nowait(event)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[Any]) -> AsyncGenerator[Event, None]:
        try:
            while True:
                event = await queue.get()
                if event is _END:
                    return
                yield event
        finally:
            self._unsubscribe(queue)

    def pin_tier(self, tier: Tier | str | None) -> None:
        """Force a tier (live, rest, legacy) to test it, or None to let the client choose."""
        parsed = Tier.parse(tier)
        self._apply(lambda now: self._session.pin(parsed, now))

    async def simulate_live_drop(self) -> None:
        """Drop the live socket abruptly, to watch recovery and fallback happen."""
        try:
            self._apply(self._session.simulate_live_drop)
        except IllegalTransition as exc:
            raise LumeError(
                "The live socket is not open, so there is nothing to drop; wait until the status "
                "is connected on the live tier."
            ) from exc

    async def wait_connected(self, timeout: float = 10.0) -> ConnectionStatus:
        """Wait (at most ``timeout`` s) until the status is connected or degraded; return it."""
        settled = (ConnectionStatus.CONNECTED, ConnectionStatus.DEGRADED)
        queue = self._subscribe()

        async def settle() -> None:
            while self.status not in settled and not self._closed:
                if await queue.get() is _END:
                    return

        try:
            await asyncio.wait_for(settle(), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            pass
        finally:
            self._unsubscribe(queue)
        return self.status

    # --------------------------------------------------------------- REST ops

    async def history(self) -> list[Message]:
        """Read the server's history (it also becomes the transcript)."""
        path = legacy_path(self.id) if self.tier is Tier.LEGACY else consultations_path(self.id)
        outcome = await self._client.rest.request("GET", f"{path}/messages")
        messages = messages_from_json(outcome.data)
        self._apply(lambda now: self._session.history_received(0, messages, now))
        return messages

    async def history_page(self, limit: int, offset: int) -> tuple[list[Message], int | None]:
        """One page of the server's history, oldest first: at most ``limit`` (1 to 100)
        messages from ``offset`` (the backend's ``limit``/``offset``, PROTOCOL B2.6), and the
        ``total_count`` it reports (None when it does not). The transcript is left as it is."""
        if not 1 <= limit <= 100 or offset < 0:
            raise ValueError("a history page is 1 to 100 messages from an offset of 0 or more")
        path = legacy_path(self.id) if self.tier is Tier.LEGACY else consultations_path(self.id)
        outcome = await self._client.rest.request(
            "GET", f"{path}/messages", params={"limit": limit, "offset": offset}
        )
        return messages_from_json(outcome.data), history_total(outcome.data)

    async def refresh_info(self) -> ConsultationInfo:
        """Re-read the consultation (``message_count`` is stale right after sending, B7.26)."""
        self.info = await self._client.get_consultation(self.id)
        return self.info

    async def complete(self) -> ConsultationInfo:
        """Mark the consultation completed; it takes no more messages."""
        outcome = await self._client.rest.request("POST", f"{consultations_path(self.id)}/complete")
        from lume_widget.core.wire import consultation_from_json

        info = consultation_from_json(outcome.data)
        self.info = info or ConsultationInfo(self.id, self.persona, "completed")
        return self.info

    async def delete(self) -> None:
        """Delete the consultation for good (an already-deleted one counts as deleted) and close."""
        await self._client.rest.request("DELETE", consultations_path(self.id), allow=(404,))
        await self.aclose()

    async def aclose(self) -> None:
        """Close the sockets and stop; the consultation stays on the server."""
        if self._closed:
            return
        links = self._driver.detach_links()
        self._apply(self._session.close)
        self._closed = True
        for queue, _ in list(self._subscribers):
            queue.put_nowait(_END)
        self._wake.set()
        await self._driver.shutdown(links)
        if self._pump_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Consultation:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- driver

    def _check_sendable(self, text: str) -> None:
        validate_message(text)
        if self._closed:
            raise LumeError(
                "This consultation was closed; open it again with LumeClient.open().",
                unsent_text=text,
            )
        if self.info.status not in ("active", "pending"):
            raise ConsultationNotActiveError(
                f"This consultation is {self.info.status} and takes no more messages; open a "
                "new one (LumeClient.open(..., resume=False)).",
                unsent_text=text,
            )

    def _subscribe(self, kinds: tuple[type, ...] | None = None) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers.append((queue, kinds))
        return queue

    def _unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        self._subscribers = [pair for pair in self._subscribers if pair[0] is not queue]

    def _apply(self, step: Callable[[float], T]) -> T:
        """Feed one input to the session at the current time, then perform and publish."""
        result = step(self._clock())
        self._flush()
        return result

    def _flush(self) -> None:
        actions = self._session.actions_to_perform()
        for action in actions:
            self._driver.perform(action)
        events = self._session.events_received()
        only_chunks = not actions
        for event in events:
            if isinstance(event, ConnectionStatus):  # pragma: no cover - defensive
                continue
            self._settle_initial(event)
            for queue, kinds in self._subscribers:  # rebound, never changed, by unsubscribing
                if kinds is None or isinstance(event, kinds):
                    queue.put_nowait(event)
            if type(event) is ChunkReceived:
                if self._chunk_listeners:
                    self._tell_chunk(event)
            else:
                only_chunks = False
        # Wake the pump only when it must tick sooner than it planned: a later deadline (a
        # chunk pushing the inactivity deadline on) is found when it wakes anyway, and a tick
        # before a deadline does nothing, so most frames cost no task switch. An input that
        # only told chunks (most frames) moved no deadline sooner: not even looked at.
        if events and only_chunks:
            return
        deadline = self._session.next_deadline()
        planned = self._pump_until
        if deadline is not None and (planned is None or deadline < planned):
            self._wake.set()

    def _tell_chunk(self, event: ChunkReceived) -> None:
        for listener in self._chunk_listeners:  # rebound, never changed, like subscribers
            try:
                listener(event)
            except Exception:  # a broken callback must not end the turn or the link
                logger.exception("an on_chunk callback failed")

    def _settle_initial(self, event: Event) -> None:
        end = self._initial_end
        initial = self._session.initial_turn_id
        if self._initial_events is not None and _turn_of(event) == initial:
            self._initial_events.append(event)
        if end is None or end.done():
            return
        if isinstance(event, ReplyCompleted) and event.reply.turn_id == initial:
            end.set_result(event.reply)
        elif isinstance(event, TurnFailed) and event.turn_id == initial:
            end.set_exception(event.error)
            end.exception()  # retrieved: nobody may ask for it, and that is no error

    async def _pump(self) -> None:
        while not self._closed:
            deadline = self._session.next_deadline()
            self._pump_until = deadline
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if self._closed:
                return
            try:
                self._apply(self._session.tick)
            except Exception:  # pragma: no cover - a bug; keep the consultation alive
                logger.exception("session tick failed")


def _turn_of(event: Event) -> str | None:
    """The turn an event belongs to (None: not a turn's event)."""
    if isinstance(event, ReplyCompleted):
        return event.reply.turn_id
    if isinstance(event, (UserMessageStored, ChunkReceived, TurnFailed)):
        return event.turn_id
    return None
