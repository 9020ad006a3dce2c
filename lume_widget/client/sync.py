"""The synchronous facade: ``lume_widget.connect(...)`` for scripts and notebook cells.

In a plain script the facade keeps a private event loop for its whole life (the
consultation's sockets belong to it) and runs each call on it. Inside a running loop (a
Jupyter kernel) it nests on that loop with ``nest_asyncio`` and runs the call there, so the
consultation lives on the kernel's loop like the widget's do. ``lume_widget._loop`` owns
that policy.

A consultation left open in a script (no ``close()``, no ``with``) is closed when it is
garbage-collected or when the interpreter exits, so its tasks end instead of being destroyed
while pending. Errors reach the caller through :func:`lume_widget.presentation.user_facing`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncGenerator, Iterator
from types import TracebackType
from typing import Any

from lume_widget._loop import BlockingRunner
from lume_widget.client.consultation import Consultation
from lume_widget.client.lume_client import LumeClient
from lume_widget.core.events import ConnectionStatus, Event, Reply, Tier
from lume_widget.core.models import Message
from lume_widget.presentation import user_facing

__all__ = ["SyncConsultation", "connect"]


class SyncConsultation:
    """A consultation driven synchronously; ``.chat`` is the underlying async :class:`Consultation`."""

    def __init__(self, runner: BlockingRunner, chat: Consultation, client: LumeClient) -> None:
        self._runner = runner
        self.chat = chat
        self.client = client
        self._closed = False
        # On a private loop, a consultation never closed is closed at collection or exit.
        self._finalizer = (
            weakref.finalize(self, _close_quietly, runner, chat, client) if runner.owned else None
        )

    def __repr__(self) -> str:
        return f"SyncConsultation({self.chat!r})"

    @property
    def id(self) -> str:
        """The consultation's id."""
        return self.chat.id

    @property
    def tier(self) -> Tier:
        """The tier that delivers the next turn (``live``, ``rest`` or ``legacy``)."""
        return self.chat.tier

    @property
    def status(self) -> ConnectionStatus:
        """The connection status (connecting, connected, streaming, reconnecting, ...)."""
        return self.chat.status

    @property
    def transcript(self) -> list[Message]:
        """The messages of this consultation so far, in order (a copy)."""
        return self.chat.transcript

    @user_facing
    def ask(self, text: str) -> Reply:
        """Send ``text`` and return the complete reply (raises the turn's error if it fails)."""
        return self._runner.run(self.chat.ask(text))

    @user_facing
    def initial_reply(self) -> Reply:
        """The answer to the ``initial_message`` the consultation was created with, a reply of
        its own (:meth:`Consultation.initial_reply`); waits for it."""
        return self._runner.run(self.chat.initial_reply())

    def stream(self, text: str) -> Iterator[Event]:
        """Send ``text`` and yield events as they arrive, ending with ReplyCompleted or TurnFailed."""
        agen = self.chat.stream(text)
        try:
            while True:
                try:
                    event: Event = user_facing(self._runner.run)(_next(agen))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            self._runner.run(agen.aclose())

    def pin_tier(self, tier: Tier | str | None) -> None:
        """Force every turn onto ``tier`` (``live``, ``rest``, ``legacy``); None lets the client choose."""
        self.chat.pin_tier(tier)

    @user_facing
    def history(self) -> list[Message]:
        """The consultation's messages as the server stores them."""
        return self._runner.run(self.chat.history())

    def close(self) -> None:
        """Close the consultation and its client (and the private loop, if one was made)."""
        if self._closed:
            return
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
        try:
            self._runner.run(self.chat.aclose())
            self._runner.run(self.client.aclose())
        finally:
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


@user_facing
def connect(
    url: str | None = None,
    *,
    persona: str = "general_wellness",
    goal_id: str | None = None,
    consultation_id: str | None = None,
    tier: Tier | str | None = None,
    resume: bool = True,
    initial_message: str | None = None,
    **client_options: Any,
) -> SyncConsultation:
    """Open a consultation synchronously; options are those of :meth:`LumeClient.connect`.
    A new consultation created with ``initial_message`` has its answer in
    :meth:`SyncConsultation.initial_reply`."""
    runner = BlockingRunner()

    async def open_chat() -> tuple[LumeClient, Consultation]:
        client = await LumeClient.connect(url, **client_options)
        try:
            chat = await client.open(
                persona,
                goal_id,
                consultation_id,
                resume=resume,
                initial_message=initial_message,
                tier=tier,
            )
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


def _close_quietly(runner: BlockingRunner, chat: Consultation, client: LumeClient) -> None:
    """Close a consultation nobody closed (at collection or interpreter exit)."""
    try:
        with contextlib.suppress(Exception):
            runner.run(chat.aclose())
            runner.run(client.aclose())
    finally:
        runner.close()


async def _next(agen: AsyncGenerator[Event, None]) -> Event:
    return await agen.__anext__()
