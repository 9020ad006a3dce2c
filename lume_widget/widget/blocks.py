"""Finished messages as a chain of small child models ("blocks"), so a turn costs O(1) on the channel.

ipywidgets sends a list trait whole on every change, so a ``messages`` trait re-sends the
history with every finished turn. Instead (docs/widget-protocol.md):

- A :class:`MessageBlock` is a plain ipywidgets ``Widget`` (the base ``WidgetModel`` of
  ``@jupyter-widgets/base``: no view, no code of its own in the browser) holding a run of
  finished messages (``messages``) and a reference to the block before it (``previous``,
  ``IPY_MODEL_<id>`` or null). A block never changes its messages; only the oldest block's
  ``previous`` changes, when an older page is put before it or the block before it closes.
- The panel's ``newest`` trait references the newest block. A finished turn opens one new
  block holding that turn's messages (its comm_open carries only them) and moves ``newest``
  to it (a reference, a few dozen bytes); a history page opens one block of that page.
- The front end resolves ``newest`` with ``widget_manager.get_model`` and walks ``previous``
  to the oldest block. Every open block is a widget model, so a saved notebook (JupyterLab,
  Notebook 7) and a notebook executed by nbclient (which records comm_open and update
  messages) hold the transcript, and a reloaded view rebuilds it from the models.

:class:`BlockChain` keeps the chain in step with the panel's Python-side ``messages`` list:
given the new list, it keeps the blocks that still match it, in order, and opens blocks for
what is new (one per change; a long list in blocks of :data:`BLOCK_MESSAGES`), closing the
blocks that no longer match. Appending a turn therefore opens one small block; dropping the
oldest messages closes blocks; putting an older page first opens one block before the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import traitlets
from ipywidgets import Widget, widget_serialization

__all__ = ["BLOCK_MESSAGES", "BlockChain", "MessageBlock"]

BLOCK_MESSAGES = 100
"""The most messages one block holds when a long list arrives at once (a history): the
backend's largest page (PROTOCOL B2.6)."""


class MessageBlock(Widget):  # type: ignore[misc]  # ipywidgets is untyped
    """A run of finished messages, oldest first, and the block before it (None: the oldest)."""

    messages = traitlets.List(traitlets.Dict()).tag(sync=True)
    """The messages of this block: ``{id, role, content, created_at, status, metrics}``."""
    previous = traitlets.Instance(
        "lume_widget.widget.blocks.MessageBlock", allow_none=True, default_value=None
    ).tag(sync=True, **widget_serialization)
    """The block of the messages just before these, None for the oldest one held."""

    def __init__(self, **kwargs: Any) -> None:
        self._on_send: Callable[[dict[str, Any]], None] | None = kwargs.pop("on_send", None)
        self._streamed: dict[str, tuple[str, int]] = kwargs.pop("streamed", None) or {}
        self._opening = True
        try:
            super().__init__(**kwargs)
        finally:
            self._opening = False

    @property
    def open_messages(self) -> list[dict[str, Any]]:
        """The messages as the comm_open sent them."""
        return [_slim(m, self._streamed) for m in self.messages]

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        """The state to send. The comm_open leaves out the text of replies the views hold
        from the deltas (``{content: null, turn_id, seq}``); every later send is whole."""
        state: dict[str, Any] = super().get_state(key, drop_defaults)
        if self._opening and self._streamed and "messages" in state:
            state["messages"] = [_slim(m, self._streamed) for m in state["messages"]]
        return state

    def _send(self, msg: dict[str, Any], buffers: Any = None) -> None:
        if self._on_send is not None:
            self._on_send(msg)
        super()._send(msg, buffers)


Record = Callable[[dict[str, Any]], None]
"""Logs one comm message (the panel's ``record_comm`` logs), given its data."""


class BlockChain:
    """The blocks of one panel, oldest first, kept in step with its ``messages`` list.

    ``set_newest`` sets the panel's ``newest`` trait; ``sending`` labels the comm messages
    of the blocks as the panel labels its own (``latest_request_parent``); ``record`` logs
    them for ``ChatWidget.record_comm``.
    """

    def __init__(
        self,
        set_newest: Callable[[MessageBlock | None], None],
        *,
        sending: Callable[[], AbstractContextManager[Any]] = nullcontext,
        record: Record | None = None,
    ) -> None:
        self._set_newest = set_newest
        self._sending = sending
        self._record = record
        self.blocks: list[MessageBlock] = []

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message the open blocks hold, oldest first."""
        return [m for block in self.blocks for m in block.messages]

    def sync(
        self,
        messages: Sequence[dict[str, Any]],
        streamed: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        """Make the chain hold exactly ``messages``, opening and closing as few blocks as can be.

        ``streamed`` maps the id of a new message to the turn and last delta ``seq`` whose
        text it is, when every view holds that text already (it is then not sent again)."""
        messages = list(messages)
        with self._sending():
            kept, at, before = self._matching(messages)
            gone = [b for b in self.blocks if not any(b is k for k in kept)]
            older = self._open_run(messages[:before], None) if before else []
            previous = kept[-1] if kept else (older[-1] if older else None)
            newer = self._open_run(messages[at:], previous, streamed)
            if kept:
                first_previous = older[-1] if older else None
                if kept[0].previous is not first_previous:
                    kept[0].previous = first_previous
            self.blocks = [*older, *kept, *newer]
            newest = self.blocks[-1] if self.blocks else None
            self._set_newest(newest)
            for block in gone:
                self._close(block)

    def close(self) -> None:
        """Close every block (the panel is closing)."""
        with self._sending():
            self._set_newest(None)
            for block in self.blocks:
                self._close(block)
        self.blocks = []

    def _matching(self, messages: list[dict[str, Any]]) -> tuple[list[MessageBlock], int, int]:
        """The run of current blocks that ``messages`` holds in order, where the run ends in
        ``messages`` and how many messages come before it (an older page put first)."""
        blocks = self.blocks
        for first, block in enumerate(blocks):
            start = _find_run(messages, block.messages)
            if start is None:
                continue
            kept = [block]
            at = start + len(block.messages)
            for later in blocks[first + 1 :]:
                if messages[at : at + len(later.messages)] != later.messages:
                    break
                kept.append(later)
                at += len(later.messages)
            return kept, at, start
        return [], 0, 0

    def resend(self, model_id: str) -> None:
        """Send a block's whole state again (a view lacks the text of a streamed reply)."""
        with self._sending():
            for block in self.blocks:
                if block.comm is not None and block.model_id == model_id:
                    block.send_state()

    def _open_run(
        self,
        messages: list[dict[str, Any]],
        previous: MessageBlock | None,
        streamed: dict[str, tuple[str, int]] | None = None,
    ) -> list[MessageBlock]:
        opened: list[MessageBlock] = []
        for part in _parts(messages):
            block = MessageBlock(
                messages=part, previous=previous, on_send=self._record, streamed=streamed
            )
            if self._record is not None:
                state = {**block.get_state(), "messages": block.open_messages}
                self._record({"method": "open", "state": state, "buffer_paths": []})
            opened.append(block)
            previous = block
        return opened

    def _close(self, block: MessageBlock) -> None:
        if self._record is not None:
            self._record({"method": "close"})
        block.close()


def _slim(message: dict[str, Any], streamed: dict[str, tuple[str, int]]) -> dict[str, Any]:
    held = streamed.get(str(message.get("id")))
    if held is None:
        return message
    turn_id, seq = held
    return {**message, "content": None, "turn_id": turn_id, "seq": seq}


def _parts(messages: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """A long list in runs of at most :data:`BLOCK_MESSAGES`, the last run the newest."""
    for start in range(0, len(messages), BLOCK_MESSAGES):
        yield messages[start : start + BLOCK_MESSAGES]


def _find_run(messages: list[dict[str, Any]], run: list[dict[str, Any]]) -> int | None:
    """Where ``run`` starts in ``messages`` (compared by identity first, then by value)."""
    if not run:
        return None
    head = run[0]
    for index, message in enumerate(messages):
        if (message is head or message == head) and messages[index : index + len(run)] == run:
            return index
    return None
