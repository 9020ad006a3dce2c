"""Coalescing of reply chunks into append-only deltas, at most one per flush window.

Jupyter drops kernel-to-browser output above 1000 messages per second, so a widget must
never send one comm message per chunk. ``DeltaCoalescer`` buffers chunks and sends them
as ``{"type": "delta", "turn_id", "seq", "text"}`` messages (docs/widget-protocol.md):

- a chunk after a quiet period (nothing flushed for a whole window) goes out at once,
  so the first words of a reply are not held back;
- chunks of a burst wait until the window since the last flush has passed, then leave
  as one delta; a 5,000-chunk reply becomes a few dozen messages;
- ``seq`` starts at 1 and grows by one per flush; ``snapshot()`` answers a late view's
  ``sync_request`` with the whole draft flushed so far and its ``seq``, so the view
  applies only deltas after it.

The clock and the timer are injected, so tests drive it with fake time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DeltaCoalescer", "TimerHandle"]

logger = logging.getLogger(__name__)


DEFAULT_FLUSH_MS = 50.0
"""The default coalescing window: at most 20 deltas a second, a few trait updates per turn on
top, which keeps a streaming panel under 30 comm messages a second (Jupyter drops output past
1000 a second, so this leaves room for dozens of panels at once)."""


class TimerHandle(Protocol):
    """What ``call_later`` returns: something that can be cancelled (asyncio.TimerHandle)."""

    def cancel(self) -> None: ...


class DeltaCoalescer:
    """Buffers one turn's chunks and flushes them as numbered deltas through ``send``."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], None],
        *,
        flush_s: float,
        clock: Callable[[], float],
        call_later: Callable[[float, Callable[[], None]], TimerHandle],
    ) -> None:
        if flush_s < 0:
            raise ValueError("flush_ms must be zero or positive")
        self._send = send
        self._flush_s = flush_s
        self._clock = clock
        self._call_later = call_later
        self._timer: TimerHandle | None = None
        self.turn_id: str | None = None
        self.seq = 0
        self._buffer: list[str] = []
        self._flushed: list[str] = []
        self._last_flush: float | None = None
        self.chunks = 0

    @property
    def active(self) -> bool:
        """True between ``start`` and ``finish``."""
        return self.turn_id is not None

    @property
    def text(self) -> str:
        """Everything received for this turn so far, flushed or not."""
        return "".join(self._flushed) + "".join(self._buffer)

    def start(self, turn_id: str) -> None:
        """Begin a new turn: sequence numbers restart at 1, the draft is empty."""
        self._cancel_timer()
        self.turn_id = turn_id
        self.seq = 0
        self._buffer = []
        self._flushed = []
        self._last_flush = None
        self.chunks = 0

    def add(self, text: str) -> None:
        """Take one chunk; sends now after a quiet period, otherwise within the window."""
        if self.turn_id is None:
            raise RuntimeError("add() before start(): no turn is streaming")
        if not text:
            return
        self.chunks += 1
        self._buffer.append(text)
        if self._timer is not None:
            return
        now = self._clock()
        wait = 0.0 if self._last_flush is None else self._last_flush + self._flush_s - now
        if wait <= 0:
            self.flush()
        else:
            self._timer = self._call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Send whatever is buffered as one delta (nothing when the buffer is empty)."""
        self._cancel_timer()
        if not self._buffer or self.turn_id is None:
            return
        text = "".join(self._buffer)
        self._buffer = []
        self._flushed.append(text)
        self.seq += 1
        self._last_flush = self._clock()
        self._send({"type": "delta", "turn_id": self.turn_id, "seq": self.seq, "text": text})

    def snapshot(self) -> dict[str, Any]:
        """The draft flushed so far, for a view that opened late (``turn_id`` None when idle)."""
        return {
            "type": "snapshot",
            "turn_id": self.turn_id,
            "seq": self.seq,
            "text": "".join(self._flushed),
        }

    def finish(self) -> str:
        """Flush the rest and end the turn; returns the whole text received."""
        self.flush()
        text = "".join(self._flushed)
        self.turn_id = None
        self._flushed = []
        self._last_flush = None
        return text

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
