"""What a chat panel's composed parts may use of the panel: :class:`PanelHost`.

:class:`~lume_widget.widget.chat.ChatWidget` holds its parts (the panel's connection, actions,
goals and turns) rather than inheriting them; each part is given the widget as a ``PanelHost``.
The protocol names the traits and the connection the parts read and write, so the parts
import this module and never the widget's, and no import runs in a circle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lume_widget.client import Consultation, LumeClient
    from lume_widget.core.events import Event, Reply
    from lume_widget.errors import LumeError
    from lume_widget.widget.blocks import BlockChain
    from lume_widget.widget.coalescer import DeltaCoalescer
    from lume_widget.widget.runner import LoopRunner

__all__ = ["PanelHost"]


class HistoryWindow(Protocol):
    """What the parts ask of the widget's :class:`~lume_widget.widget.history.PanelHistory`
    (declared here, so the history part and this protocol do not import each other)."""

    def trim(self) -> None:
        """Close the oldest blocks while the panel holds more than its window."""


class PanelHost(Protocol):
    """The chat panel as its composed parts see it (``ChatWidget`` is one)."""

    # Synced traits (docs/widget-protocol.md).
    messages: list[dict[str, Any]]
    older: int
    pending: dict[str, Any]
    persona: str
    goal_id: str
    goals: list[dict[str, Any]]
    tier: str
    tier_reason: str
    pinned_tier: str
    error: str
    error_action: str
    unsent_text: str
    server_kind: str
    faults: dict[str, Any]
    consultations: list[dict[str, Any]]
    consultation_id: str
    status_reason: str

    # The connection and the loop.
    _runner: LoopRunner
    _coalescer: DeltaCoalescer
    _chain: BlockChain
    _history: HistoryWindow
    _client: LumeClient | None
    _owns_client: bool
    _owner: int
    _consultation: Consultation | None
    _closed_consultation: bool
    _connect_task: asyncio.Future[None]
    _ready_to_switch: bool

    @property
    def _turn_task(self) -> asyncio.Task[Reply] | None:
        """The turn in flight, or the last one."""

    @property
    def _switch_task(self) -> asyncio.Future[None] | None:
        """The task opening the consultation of a newly chosen persona or goal."""

    def hold_sync(self) -> AbstractContextManager[Any]:
        """Send the trait changes made inside as one update."""

    def set_trait(self, name: str, value: Any) -> None:
        """Set a trait, bypassing its validation (``pending`` to None)."""

    def _ensure_ready(self) -> Coroutine[Any, Any, Consultation]: ...
    def _connect_client(self) -> Coroutine[Any, Any, LumeClient]: ...
    def _load_goals(self) -> Coroutine[Any, Any, None]: ...
    def _open(
        self, *, resume: bool, consultation_id: str | None = None
    ) -> Coroutine[Any, Any, Consultation]: ...
    def _drop_consultation(self) -> Coroutine[Any, Any, None]: ...
    def _settle_switch(self) -> Coroutine[Any, Any, None]: ...
    def _apply_link_event(self, event: Event) -> None: ...
    def _set_status(self, status: str, reason: str) -> None: ...
    def _update_input(self) -> None: ...
    def _show_error(self, message: str, action: str = "") -> None: ...
    def _show_failure(self, exc: LumeError) -> None: ...
    def _send_custom(self, content: dict[str, Any]) -> None: ...
    def _spawn_turn(self, text: str) -> None: ...
    def _streamed_text(self, message_id: str, turn_id: str, seq: int) -> None: ...
