"""The transcript: the server's history as the client shows it, and how a turn is found in it.

The server is the source of truth. After every stream and every recovery the client
re-reads the history and replaces its copy (PROTOCOL A1, B5.2 item 6), so a streamed
draft adopts the server's id and content and nothing is shown twice. A turn's reply is
the first assistant message *after the server's copy of this user message*, found by
position, never by "the last message is the assistant's" (B7.39).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lume_widget.core.models import Message

__all__ = ["Transcript", "TurnMatch", "find_turn"]


@dataclass(frozen=True, slots=True)
class TurnMatch:
    """Where a turn stands in a history: the server's user message and, once stored, the reply."""

    user_message: Message | None
    reply: Message | None


def find_turn(
    history: Sequence[Message],
    text: str,
    baseline: int,
    user_message_id: str | None = None,
    draft: str = "",
    reply_id: str | None = None,
) -> TurnMatch:
    """Find the turn's user message (by id if known, else by content at or after ``baseline``)
    and, once stored, the reply that answers it.

    The reply is matched by identity first: ``reply_id`` (the id of a whole reply frame), then
    the message the backend says it answers (``reply_to``; a backend that gives it for any
    reply is trusted for all). Without ids, by order: the server answers the user messages
    still waiting (those after the last reply before ours) in turn, so ours is the k-th reply
    after it when k messages wait before it; ``draft`` (the text streamed so far) picks ours
    when a longer earlier reply is stored after it. ``baseline`` is how many messages the
    client knew when the turn began, so an identical earlier message is never taken for this
    one.
    """
    index = -1
    if user_message_id is not None:
        index = next((i for i, m in enumerate(history) if m.id == user_message_id), -1)
    if index < 0:
        wanted = text.strip()
        start = max(0, min(baseline, len(history)))
        index = next(
            (
                i
                for i in range(start, len(history))
                if history[i].role == "user" and history[i].content.strip() == wanted
            ),
            -1,
        )
    if index < 0:
        return TurnMatch(None, None)
    user = history[index]
    replies = [m for m in history[index + 1 :] if m.role == "assistant"]
    by_id = next((m for m in replies if m.id == reply_id), None) if reply_id else None
    if by_id is not None and by_id.reply_to in (None, user.id):
        return TurnMatch(user, by_id)
    if any(m.reply_to for m in history if m.role == "assistant"):
        return TurnMatch(user, next((m for m in replies if m.reply_to == user.id), None))
    waiting = 0
    for message in reversed(history[:index]):
        if message.role == "assistant":
            break
        waiting += message.role == "user"
    wanted_text = draft.strip()
    if wanted_text:
        exact = next((m for m in replies if m.content.strip() == wanted_text), None)
        if exact is not None:
            return TurnMatch(user, exact)
        if waiting:
            return TurnMatch(user, None)  # ours is not stored yet
    return TurnMatch(user, replies[waiting] if len(replies) > waiting else None)


class Transcript:
    """The messages the client shows, kept equal to the server's history (deduplicated by id).

    It may hold only the newest part of the history (a consultation opened on its last pages):
    ``offset`` is where its first message stands in the whole history, ``end`` the number of
    messages the server held as last read.
    """

    def __init__(self, messages: Iterable[Message] = (), offset: int = 0) -> None:
        self._messages: list[Message] = []
        self._offset = 0
        self.replace(messages, offset)

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    @property
    def offset(self) -> int:
        """Where the first message held stands in the whole history (0: it is all held)."""
        return self._offset

    @property
    def end(self) -> int:
        """Where the history ends as last read: ``offset`` plus the messages held."""
        return self._offset + len(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def replace(self, messages: Iterable[Message], offset: int = 0) -> bool:
        """Adopt the server's history from message ``offset`` on (0: the whole of it); returns
        whether anything changed. Duplicate ids keep the first."""
        seen: set[str] = set()
        unique: list[Message] = []
        for message in messages:
            if message.id not in seen:
                seen.add(message.id)
                unique.append(message)
        start = max(0, offset)
        changed = unique != self._messages or start != self._offset
        self._messages = unique
        self._offset = start
        return changed

    def replace_from(self, start: int, messages: Iterable[Message]) -> bool:
        """Adopt the server's history from message ``start`` of the whole history on (a page
        read from there to the end; the messages held before it are kept); returns whether
        anything changed. A page from the first message held or before replaces them all."""
        if start <= self._offset:
            return self.replace(messages, start)
        return self.replace([*self._messages[: start - self._offset], *messages], self._offset)

    def add(self, message: Message) -> bool:
        """Append a message the server reported outside a history read, unless its id is known."""
        if any(m.id == message.id for m in self._messages):
            return False
        self._messages.append(message)
        return True
