"""The ``openai`` responder: replies from any OpenAI-compatible chat completions endpoint.

Streams ``/v1/chat/completions`` through the ``openai`` package (``AsyncOpenAI`` with a
configurable ``base_url``), so a team can put a real model behind the same protocol.
Each persona has its own system prompt; a goal consultation adds the goal (title,
target, progress, deadline) to it, as the real backend does; the conversation so far
is sent as history. Greetings stay scripted, so creating a consultation stays instant.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from lume_widget.server.responders import GoalInfo, ReplyContext, ResponderError, ScriptedResponder

logger = logging.getLogger(__name__)

HISTORY_MESSAGES = 20
REQUEST_TIMEOUT_S = 60.0

PERSONA_PROMPTS: dict[str, str] = {
    "nutritionist": (
        "You are Lume's nutritionist. You are precise and practical: you talk about meals, "
        "portions, protein, fibre and timing, give concrete food examples and quantities, "
        "and suggest one small change at a time."
    ),
    "fitness_coach": (
        "You are Lume's fitness coach. You are upbeat, direct and motivating: short "
        "sentences, clear sessions with sets and repetitions, progressive overload, and "
        "rest days. You cheer the user on."
    ),
    "wellness_specialist": (
        "You are Lume's wellness companion. You are warm, calm and reflective: you "
        "acknowledge feelings, ask gentle questions, and suggest kind, sustainable "
        "practices for sleep, stress and mood."
    ),
    "general_wellness": (
        "You are Lume's wellness guide. You give balanced, practical advice across "
        "nutrition, movement, sleep and stress, and help the user build habits that stick."
    ),
}

COMMON_RULES = (
    "Keep replies between 60 and 250 words unless asked for more. Use plain Markdown. "
    "You are not a doctor: for symptoms or medical questions, suggest seeing a professional."
)


def system_prompt(persona: str, goal: GoalInfo | None) -> str:
    prompt = PERSONA_PROMPTS.get(persona, PERSONA_PROMPTS["general_wellness"]) + " " + COMMON_RULES
    if goal is not None:
        prompt += (
            f"\n\nThis consultation is about the user's goal {goal.describe()}. "
            "Mention the goal by name and its target in your first reply, and keep your "
            "advice tied to it."
        )
    return prompt


class OpenAIResponder:
    """Streams replies from an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(
        self, *, base_url: str | None, model: str, api_key: str | None, client: Any = None
    ) -> None:
        try:
            from openai import AsyncOpenAI
        except ImportError as exc:  # the optional extra is missing
            raise ValueError(
                "the openai responder needs the 'openai' package: pip install 'lume-widget[openai]'"
            ) from exc
        self.model = model
        self.base_url = base_url
        # Local OpenAI-compatible servers often need no key, but the package insists on one.
        self._client: Any = client or AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url,
            timeout=REQUEST_TIMEOUT_S,
            max_retries=1,
        )
        self._greeter = ScriptedResponder()

    def __repr__(self) -> str:
        return f"OpenAIResponder(base_url={self.base_url!r}, model={self.model!r})"

    def greeting(self, persona: str, goal: GoalInfo | None) -> str:
        return self._greeter.greeting(persona, goal)

    def messages_for(self, ctx: ReplyContext) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": system_prompt(ctx.persona, ctx.goal)}]
        for role, content in ctx.history[-HISTORY_MESSAGES:]:
            if role in ("user", "assistant"):
                messages.append({"role": role, "content": content})
        if not ctx.history or ctx.history[-1] != ("user", ctx.user_text):
            messages.append({"role": "user", "content": ctx.user_text})
        return messages

    async def stream(self, ctx: ReplyContext) -> AsyncIterator[str]:
        from openai import OpenAIError

        try:
            stream = await self._client.chat.completions.create(
                model=self.model, messages=self.messages_for(ctx), stream=True
            )
            produced = False
            async for chunk in stream:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta.content
                if delta:
                    produced = True
                    yield delta
        except OpenAIError as exc:
            raise ResponderError(f"the model endpoint failed: {type(exc).__name__}") from exc
        if not produced:
            raise ResponderError("the model endpoint returned an empty reply")

    async def aclose(self) -> None:
        await self._client.close()
