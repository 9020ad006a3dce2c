"""The synchronous facade: ``lume_widget.connect(...)`` for scripts and notebook cells.

In a plain script the facade keeps a private event loop and runs each call on it. Inside
a running loop (a Jupyter kernel) it applies ``nest_asyncio`` to that loop and runs the
call there, so the consultation lives on the kernel's loop like the widget's do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from lume_widget.client.consultation import Consultation
from lume_widget.client.lume_client import LumeClient
from lume_widget.core.events import ConnectionStatus, Event, Reply, Tier
from lume_widget.core.models import Message

__all__ = ["SyncConsultation", "connect"]

T = TypeVar("T")


class _Runner:
    """Runs coroutines to completion from synchronous code, on one loop for the facade's life."""

    def __init__(self) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            import nest_asyncio

            nest_asyncio.apply(running)
            self.loop = running
            self._owned = False
        else:
            self.loop = asyncio.new_event_loop()
            self._owned = True

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        if self._owned and not self.loop.is_closed():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


class SyncConsultation:
    """A consultation driven synchronously; ``.chat`` is the underlying async :class:`Consultation`."""

    def __init__(self, runner: _Runner, chat: Consultation, client: LumeClient) -> None:
        self._runner = runner
        self.chat = chat
        self.client = client
        self._closed = False

    def __repr__(self) -> str:
        return f"SyncConsultation({self.chat!r})"

    @property
    def id(self) -> str:
        return self.chat.id

    @property
    def tier(self) -> Tier:
        return self.chat.tier

    @property
    def status(self) -> ConnectionStatus:
        return self.chat.status

    @property
    def transcript(self) -> list[Message]:
        return self.chat.transcript

    def ask(self, text: str) -> Reply:
        """Send ``text`` and return the complete reply (raises the turn's error if it fails)."""
        return self._runner.run(self.chat.ask(text))

    def stream(self, text: str) -> Iterator[Event]:
        """Send ``text`` and yield events as they arrive, ending with ReplyCompleted or TurnFailed."""
        agen = self.chat.stream(text)
        try:
            while True:
                try:
                    event: Event = self._runner.run(_next(agen))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            self._runner.run(agen.aclose())

    def pin_tier(self, tier: Tier | str | None) -> None:
        self.chat.pin_tier(tier)

    def history(self) -> list[Message]:
        return self._runner.run(self.chat.history())

    def close(self) -> None:
        """Close the consultation and its client (and the private loop, if one was made)."""
        if self._closed:
            return
        self._closed = True
        self._runner.run(self.chat.aclose())
        self._runner.run(self.client.aclose())
        self._runner.close()

    def __enter__(self) -> SyncConsultation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    url: str | None = None,
    *,
    persona: str = "general_wellness",
    goal_id: str | None = None,
    consultation_id: str | None = None,
    tier: Tier | str | None = None,
    resume: bool = True,
    **client_options: Any,
) -> SyncConsultation:
    """Open a consultation synchronously; options are those of :meth:`LumeClient.connect`."""
    runner = _Runner()

    async def open_chat() -> tuple[LumeClient, Consultation]:
        client = await LumeClient.connect(url, **client_options)
        try:
            chat = await client.open(persona, goal_id, consultation_id, resume=resume, tier=tier)
        except BaseException:
            await client.aclose()
            raise
        return client, chat

    try:
        client, chat = runner.run(open_chat())
    except BaseException:
        runner.close()
        raise
    return SyncConsultation(runner, chat, client)


async def _next(agen: AsyncGenerator[Event, None]) -> Event:
    return await agen.__anext__()
