"""The simulated user: a model that plays the user's side of a conversation until its need is met.

It is told who it plays, the coach's persona and the goal, sees the conversation so far
(its own messages as the assistant's, the coach's as the user's, the usual way to make a
chat model speak for the other side) and answers with the next user message only, or
with exactly ``END_CONVERSATION`` when it has what it came for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lume_widget.defaults import MAX_MESSAGE_CHARS
from lume_widget.evaluation.chatmodel import ChatModel, ModelCallError
from lume_widget.evaluation.judge import Exchange, describe_goal
from lume_widget.evaluation.records import valid_text
from lume_widget.evaluation.scenarios import GoalSpec, SimulatedUser

__all__ = ["END_CONVERSATION", "NextMessage", "Simulator", "simulator_messages"]

END_CONVERSATION = "END_CONVERSATION"
"""What the simulator answers, alone, when the user it plays is done."""


def simulator_messages(
    user: SimulatedUser,
    *,
    persona: str,
    goal: GoalSpec | None,
    conversation: Sequence[Exchange],
) -> list[dict[str, str]]:
    """The chat messages sent to the simulator for the next user message."""
    system = [
        "You are role-playing a USER talking to an AI wellness coach in a chat app.",
        f"Who you are: {user.persona}",
        f"The coach is the app's {persona.replace('_', ' ')} persona.",
    ]
    if goal is not None:
        system.append(f"Your goal in the app: {describe_goal(goal)}.")
    system.append(
        "Write only the next message you, the user, send: one short chat message in your own"
        " voice, no quotes, no stage directions, never the coach's part. When your need is met"
        f" or you would leave the chat, answer with exactly {END_CONVERSATION} and nothing else."
    )
    messages = [{"role": "system", "content": "\n".join(system)}]
    if not conversation:
        messages.append({"role": "user", "content": "(The chat is open. Send your first message.)"})
    for exchange in conversation:
        role = "assistant" if exchange.role == "user" else "user"
        messages.append({"role": role, "content": exchange.text})
    return messages


@dataclass(frozen=True)
class NextMessage:
    """The simulator's move: a message to send, or ``ended`` (it answered END_CONVERSATION)."""

    text: str | None
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.text is None

    @property
    def tokens(self) -> int:
        return int(self.usage.get("total_tokens", 0))


class Simulator:
    """Asks one :class:`ChatModel` for the simulated user's messages (never cached: repeats differ)."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model

    def __repr__(self) -> str:
        return f"Simulator({self.model!r})"

    async def next_message(
        self,
        user: SimulatedUser,
        *,
        persona: str,
        goal: GoalSpec | None,
        conversation: Sequence[Exchange],
    ) -> NextMessage:
        """The next user message; raises :class:`ModelCallError` when there is none to send."""
        answer = await self.model.complete(
            simulator_messages(user, persona=persona, goal=goal, conversation=conversation)
        )
        text = valid_text(answer.text).strip()
        if END_CONVERSATION in text:
            return NextMessage(None, dict(answer.usage))
        if not text:
            raise ModelCallError("the simulated user answered with an empty message")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ModelCallError(
                f"the simulated user wrote {len(text)} characters, over the backend's limit of"
                f" {MAX_MESSAGE_CHARS}; ask for shorter messages in its persona"
            )
        return NextMessage(text, dict(answer.usage))
