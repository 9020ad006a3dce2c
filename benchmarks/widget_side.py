"""Our widget under measurement: a ChatWidget fed by the client, its comm messages recorded with times and sizes.

The widget runs headless on the benchmark's event loop, exactly as in a kernel: it
consumes the client's events and sends trait updates and custom messages through its
comm. ``ChatWidget.record_comm`` logs every one of those sends (time, kind, bytes of
JSON plus buffers), which is what the channel benchmark counts; the peer is counted
the same way (see :mod:`benchmarks.peers`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from benchmarks.common import Skip
from benchmarks.context import require_module
from benchmarks.ours import bounded_close, close_client, open_client
from benchmarks.server import ServerHandle

if TYPE_CHECKING:
    from lume_widget.client import LumeClient


@dataclasses.dataclass
class SentMessage:
    """One comm message the widget sent: when (time.monotonic), its size, and its kind."""

    at: float
    size: int
    method: str
    kind: str


@dataclasses.dataclass
class WidgetTurn:
    """One reply streamed into the widget: what it showed and what it sent to get there."""

    chunks: int
    text: str
    sent_at: float  # time.monotonic() when the turn was asked for
    reply_text: str  # the client's reply, to check the widget shows exactly it
    first_delta_at: float  # time.monotonic() of the first delta message
    first_delta_wall: float  # the same moment as time.time()
    finished_at: float  # time.monotonic() of the trait update landing the finished reply
    messages: list[SentMessage]
    cpu_s: float  # this process's CPU time from asking to the reply landing in the traits

    @property
    def ingest_s(self) -> float:
        """From asking for the turn to the finished turn's block landing in ``newest``."""
        return self.finished_at - self.sent_at

    @property
    def streaming_messages(self) -> list[SentMessage]:
        """Everything sent from asking for the turn up to and including the finished message."""
        return [m for m in self.messages if self.sent_at <= m.at <= self.finished_at]


async def widget_turn(
    server: ServerHandle,
    text: str,
    *,
    client: LumeClient | None = None,
    view: bool = True,
    **widget_options: Any,
) -> WidgetTurn:
    """Send ``text`` through a ChatWidget on ``server`` and record everything it sends.

    ``view``: a view listens, as in a notebook showing the panel (it sends the
    ``sync_request`` every view sends when it starts); without one (nbclient, a script)
    finished replies carry their text, since nobody holds it from the deltas."""
    require_module("lume_widget.widget", "the ChatWidget")
    from lume_widget.errors import ConfigurationError
    from lume_widget.widget import ChatWidget

    # A persona of its own, so the widget never resumes a consultation another side uses.
    widget_options.setdefault("persona", "nutritionist")
    own_client = client is None
    if client is None:
        client = await open_client(server)
    try:
        try:
            widget = ChatWidget(client=client, **widget_options)
        except ConfigurationError as exc:
            raise Skip(f"the widget cannot start: {exc}") from exc
        try:
            await widget.ready()
            if view:
                widget._handle_custom_msg({"type": "sync_request"}, [])
            log = widget.record_comm()
            sent_at = time.monotonic()
            cpu_at_start = time.process_time()
            try:
                reply = await widget.ask_async(text)
                cpu_s = time.process_time() - cpu_at_start
            except NotImplementedError as exc:
                raise Skip("the async client is not implemented yet") from exc
            offset = time.time() - time.monotonic()
            records = list(log.records)
            shown = widget.messages[-1]["content"] if widget.messages else ""
        finally:
            await bounded_close(widget.aclose(), "ChatWidget.aclose")
    finally:
        if own_client:
            await close_client(client)
    messages = [SentMessage(r.at, r.size, r.method, r.kind) for r in records]
    deltas = [m for m in messages if m.method == "custom" and m.kind == "delta"]
    landed = [m for m in messages if m.method == "update" and "newest" in m.kind.split(",")]
    if not deltas or not landed:
        raise RuntimeError(
            f"the widget sent {len(deltas)} deltas and {len(landed)} messages updates; "
            "expected at least one of each"
        )
    return WidgetTurn(
        chunks=reply.chunks,
        text=str(shown),
        sent_at=sent_at,
        reply_text=reply.text,
        first_delta_at=deltas[0].at,
        first_delta_wall=deltas[0].at + offset,
        finished_at=landed[-1].at,
        messages=messages,
        cpu_s=cpu_s,
    )
