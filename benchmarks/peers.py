"""The peer for the widget channel: panel's ``ChatFeed`` streaming the same chunks, headless.

Panel is what a notebook user would most likely pick for a streaming chat panel. Here
it runs exactly as it does in Jupyter, minus the browser: the feed is rendered through
``panel.io.notebook.render_mimebundle`` into a Bokeh document with a comm, and every
``ChatFeed.stream`` call makes panel push its document patch through that comm
(``panel.io.notebook.push``). The comm is a ``pyviz_comms.Comm`` that records instead
of sending: each ``send`` call is one Jupyter comm message, counted with its bytes
(JSON text plus binary buffers), which is how our widget's messages are counted too.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import Skip


@dataclasses.dataclass
class ChannelCount:
    """Comm messages and bytes a widget sent while streaming ``chars`` characters of reply."""

    messages: int
    bytes: int
    chars: int
    chunks: int
    seconds: float

    @property
    def messages_per_s(self) -> float:
        """Messages per second of streaming; a stream shorter than a second counts as one.

        Jupyter's output limit is a rate averaged over seconds (1000/s over a 3 s window),
        so a reply streamed in 50 ms with 6 messages costs the channel 6 messages in that
        second, not "120 per second".
        """
        return self.messages / max(self.seconds, 1.0)

    @property
    def bytes_per_char(self) -> float:
        return self.bytes / self.chars if self.chars else float("nan")

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else float("nan")


def _payload_size(data: Any) -> int:
    if data is None:
        return 0
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    if isinstance(data, str):
        return len(data.encode())
    return len(json.dumps(data, separators=(",", ":")).encode())


def panel_chatfeed_stream(chunks: Sequence[str], *, budget_s: float) -> ChannelCount:
    """Stream ``chunks`` into a panel ChatFeed message, counting what panel sends.

    Panel re-renders the whole message on every chunk, so its cost per chunk grows with
    the reply; it is fed chunks until ``budget_s`` has passed or all are in. Figures
    over that prefix are a lower bound on its cost for the whole reply.
    """
    try:
        import panel as pn
        from bokeh.document import Document
        from panel.io.notebook import render_mimebundle
        from pyviz_comms import Comm
    except ImportError as exc:
        raise Skip(
            f"panel is not installed (pip install --group bench, from the repository root): {exc}"
        ) from exc

    class RecordingComm(Comm):  # type: ignore[misc]
        """A comm whose far end is this counter: panel sees an open comm and pushes to it."""

        def __init__(self) -> None:
            super().__init__()
            self._comm = True  # panel.io.notebook.push only sends through an open comm
            self.messages = 0
            self.bytes = 0

        def send(self, data: Any = None, metadata: Any = None, buffers: Sequence[Any] = ()) -> None:
            self.messages += 1
            self.bytes += _payload_size(data) + _payload_size(metadata)
            self.bytes += sum(_payload_size(buffer) for buffer in buffers or ())

    feed = pn.chat.ChatFeed()  # type: ignore[no-untyped-call]
    document = Document()
    comm = RecordingComm()
    model = feed._render_model(document, comm)
    render_mimebundle(model, document, comm)
    message = feed.send(pn.chat.ChatMessage("", user="Lume"), respond=False)  # type: ignore[no-untyped-call]
    if message is None:
        raise RuntimeError("panel's ChatFeed did not return the message it was sent")
    comm.messages = comm.bytes = 0  # count the streaming only, as for ours
    fed = 0
    chars = 0
    started = time.perf_counter()
    deadline = started + budget_s
    for chunk in chunks:
        feed.stream(chunk, message=message)
        fed += 1
        chars += len(chunk)
        if time.perf_counter() >= deadline:
            break
    seconds = time.perf_counter() - started
    streamed = message.object
    if not isinstance(streamed, str) or len(streamed) != chars:
        raise RuntimeError("panel's ChatFeed message does not hold the streamed text")
    return ChannelCount(comm.messages, comm.bytes, chars, fed, seconds)
