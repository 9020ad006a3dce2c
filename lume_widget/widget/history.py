"""A long consultation in the panel: a bounded window of its newest messages, older pages on demand.

:class:`PanelHistory` is a part the widget holds (``ChatWidget._history``), as it holds its
turns and actions. A consultation opens with its newest :data:`OPEN_MESSAGES` messages in
``chat.messages`` (so in the panel's blocks, docs/widget-protocol.md) and the ``older`` trait
says how many of the backend's messages come before them. Scrolling to the top of the panel
sends ``{type: "load_older"}`` (``chat.load_older()`` from code): the page of
:data:`PAGE_MESSAGES` messages before the oldest one held is read from the backend with its
``limit``/``offset`` (``Consultation.history_page``) and becomes one new oldest block. After a
turn, a panel holding more than :data:`WINDOW_MESSAGES` drops its oldest blocks (they are
loadable again), so neither the kernel's widget state nor the page grows with the
consultation's length.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lume_widget.core.wire import OPEN_HISTORY
from lume_widget.errors import ConfigurationError
from lume_widget.widget.model import SHOWN_ROLES, message_dict

if TYPE_CHECKING:
    from lume_widget.core.models import Message
    from lume_widget.widget.host import PanelHost

__all__ = ["OPEN_MESSAGES", "PAGE_MESSAGES", "WINDOW_MESSAGES", "PanelHistory", "newest_window"]

logger = logging.getLogger(__name__)

OPEN_MESSAGES = OPEN_HISTORY
"""Messages a consultation opens with (the newest ones, those the client reads when it opens
one); a shorter one opens whole."""
PAGE_MESSAGES = 100
"""Messages one ``load_older`` reads: the backend's largest page (PROTOCOL B2.6)."""
WINDOW_MESSAGES = 400
"""After a turn, the most messages the panel keeps; the oldest blocks beyond it are closed."""


def newest_window(
    transcript: Sequence[Message], offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """The messages a consultation opens with (those the panel shows, of the newest
    :data:`OPEN_MESSAGES`) and the backend offset of the first of them (``older``);
    ``offset`` is where ``transcript`` begins in the whole history."""
    start = max(0, len(transcript) - OPEN_MESSAGES)
    shown = [message_dict(m) for m in transcript[start:] if m.role in SHOWN_ROLES]
    return shown, offset + start


class PanelHistory:
    """The window of one panel over its consultation's history, on its widget."""

    def __init__(self, widget: PanelHost) -> None:
        self.widget = widget
        self._lock: asyncio.Lock | None = None

    def handlers(self) -> dict[str, Any]:
        """Custom message type -> coroutine handling it (docs/widget-protocol.md)."""

        async def load_older(_content: Mapping[str, Any]) -> None:
            await self.load_older()

        return {"load_older": load_older}

    async def load_older(self) -> int:
        """Put the page before the oldest message held first; returns how many it added."""
        w = self.widget
        consultation = w._consultation
        if consultation is None:
            raise ConfigurationError("Not connected to Lume yet; wait for the panel to connect.")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            before = w.older
            if before <= 0 or consultation is not w._consultation:
                return 0
            offset = max(0, before - PAGE_MESSAGES)
            page, _total = await consultation.history_page(before - offset, offset)
            if consultation is not w._consultation:
                return 0  # another consultation opened meanwhile
            held = {str(m.get("id")) for m in w.messages}
            older = [
                message_dict(m) for m in page if m.role in SHOWN_ROLES and str(m.id) not in held
            ]
            with w.hold_sync():
                w.messages = [*older, *w.messages]
                w.older = offset
            logger.info("loaded %d older messages (offset %d)", len(older), offset)
            return len(older)

    def trim(self) -> None:
        """Close the oldest blocks while the panel holds more than :data:`WINDOW_MESSAGES`."""
        w = self.widget
        messages = w.messages
        drop = 0
        for size in w._chain.sizes():
            kept = len(messages) - drop
            if kept <= WINDOW_MESSAGES or kept - size < WINDOW_MESSAGES // 2:
                break
            drop += size
        if drop == 0:
            return
        # Messages that never reached the backend (unsent, or streamed but not stored) do
        # not count towards its offset: the next page may repeat some, never skip one.
        stored = sum(1 for m in messages[:drop] if not str(m.get("id", "")).startswith("local-"))
        with w.hold_sync():
            w.messages = messages[drop:]
            w.older = w.older + stored
