"""Support for the client tests: scaled settings, a connected client, the transcript oracle, and
small hand-written hostile servers (below) for what the reference server cannot misbehave at."""

from __future__ import annotations

from typing import Any

from lume_widget.client import LumeClient, Settings
from lume_widget.core.events import Reply
from lume_widget.core.models import Message
from lume_widget.server import ReferenceServer

SCALE = 0.05
"""Every client timing in these tests is the default times this (times LUME_TEST_TIME_SCALE)."""


def client_settings(time_scale: float, **changes: Any) -> Settings:
    import dataclasses

    settings = Settings().scaled(SCALE * time_scale)
    return dataclasses.replace(settings, **changes) if changes else settings


async def connect(server: ReferenceServer, settings: Settings, **options: Any) -> LumeClient:
    options.setdefault("api_key", server.api_key)
    options.setdefault("email", server.email)
    options.setdefault("password", server.password)
    options.setdefault("admin_token", server.admin_token)
    return await LumeClient.connect(server.url, settings=settings, **options)


def same_messages(client_side: list[Message], server_side: list[dict[str, Any]]) -> None:
    """The oracle: ids, roles, order and content of the client's transcript equal the server's."""
    assert [(m.id, m.role, m.content) for m in client_side] == [
        (m["id"], m["role"], m["content"]) for m in server_side
    ]


def stored_once(server_side: list[dict[str, Any]], text: str, reply: Reply) -> None:
    """The user message is stored once and the reply is the message right after it."""
    users = [i for i, m in enumerate(server_side) if m["role"] == "user" and m["content"] == text]
    assert len(users) == 1, f"user message stored {len(users)} times"
    assert server_side[users[0]]["id"] == reply.user_message_id
    assert server_side[users[0] + 1]["id"] == reply.message_id
    assert server_side[users[0] + 1]["content"] == reply.text
    replies = [m for m in server_side if m["id"] == reply.message_id]
    assert len(replies) == 1
