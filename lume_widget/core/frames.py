"""What a backend's WebSocket frame says, as typed, frozen events parsed once.

:func:`lume_widget.core.wire.parse_frames` turns each JSON object of a text frame into one of
these (as h11 turns bytes into events): the session core then matches on the class, never on
``event.get("type")``. Every event carries the ``consultation_id`` and the server's ``stamp``
(its text, parsed only when it is compared: see :func:`lume_widget.core.turn.from_before`)
when the frame had them, so frames of another consultation, or stamped before the turn they
would join, are recognised without looking inside. Text is valid Unicode, except a chunk's
``content``, whose last half-character the session joins with the next chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lume_widget.core.models import Message

__all__ = [
    "Acknowledged",
    "Chunk",
    "Completed",
    "Connected",
    "Frame",
    "FrameError",
    "Pong",
    "WholeMessage",
]


@dataclass(frozen=True, slots=True)
class Frame:
    """One event of a frame: whose consultation it is about and when the server stamped it."""

    TYPE: ClassVar[str] = ""
    consultation_id: str | None = None
    stamp: str | None = None
    """The ``timestamp`` as the server wrote it (RFC 3339), or None."""


@dataclass(frozen=True, slots=True)
class Connected(Frame):
    """The socket is open and ready (``connected``)."""

    TYPE: ClassVar[str] = "connected"


@dataclass(frozen=True, slots=True)
class Pong(Frame):
    """The answer to an application ping (``pong``)."""

    TYPE: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class Acknowledged(Frame):
    """The server stored the user's message and starts its reply (``message_received``)."""

    TYPE: ClassVar[str] = "message_received"


@dataclass(frozen=True, slots=True)
class Chunk(Frame):
    """A piece of the reply (``stream_chunk``); ``content`` is None when it was not text."""

    TYPE: ClassVar[str] = "stream_chunk"
    content: str | None = None


@dataclass(frozen=True, slots=True)
class Completed(Frame):
    """The reply is complete (``stream_complete``), with the server's ``metadata``, and
    ``message``, the stored reply, when the backend sends it there (the observed one does
    not: no id comes with ``stream_complete``, so the client reads the history for it)."""

    TYPE: ClassVar[str] = "stream_complete"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    message: Message | None = None


@dataclass(frozen=True, slots=True)
class WholeMessage(Frame):
    """A whole stored message (``message``); ``message`` is None when it could not be read."""

    TYPE: ClassVar[str] = "message"
    message: Message | None = None


@dataclass(frozen=True, slots=True)
class FrameError(Frame):
    """The server reports an error (``error``): its text and ``code``, when given."""

    TYPE: ClassVar[str] = "error"
    error: str | None = None
    code: str | None = None


FRAME_TYPES: dict[str, type[Frame]] = {
    kind.TYPE: kind
    for kind in (Connected, Pong, Acknowledged, Chunk, Completed, WholeMessage, FrameError)
}
"""Every frame type the client understands, by its wire ``type``."""
