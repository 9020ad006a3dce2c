"""The synchronous facade: a plain script, and a cell inside a running loop (nest_asyncio)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lume_widget.client import SyncConsultation, Tier, connect
from lume_widget.core.events import ChunkReceived, ReplyCompleted
from lume_widget.errors import ConfigurationError
from lume_widget.server import ReferenceServer
from tests.hostile_servers import client_settings

ROOT = Path(__file__).resolve().parent.parent


def _options(server: ReferenceServer, time_scale: float) -> dict[str, Any]:
    return {
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "settings": client_settings(time_scale),
    }


def test_sync_facade_asks_and_streams_in_a_plain_script(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    with connect(
        reference_server.url, persona="nutritionist", **_options(reference_server, time_scale)
    ) as chat:
        assert isinstance(chat, SyncConsultation)
        reply = chat.ask("Breakfast ideas?")
        assert reply.tier is Tier.LIVE
        events = list(chat.stream("And lunch?"))
        assert isinstance(events[-1], ReplyCompleted)
        text = "".join(e.text for e in events if isinstance(e, ChunkReceived))
        assert text == events[-1].reply.text
        assert [m.id for m in chat.history()] == [m.id for m in chat.transcript]
        chat.pin_tier("rest")
        assert chat.ask("Dinner?").tier is Tier.REST
        assert chat.id in repr(chat)


def test_sync_facade_gives_the_initial_messages_answer_as_its_own_reply(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    with connect(
        reference_server.url,
        persona="nutritionist",
        resume=False,
        initial_message="Hi, I want to eat better",
        **_options(reference_server, time_scale),
    ) as chat:
        first = chat.ask("Breakfast ideas?")
        opening = chat.initial_reply()
        stored = {m.id: m for m in chat.history()}
        assert stored[opening.user_message_id or ""].content == "Hi, I want to eat better"
        assert stored[opening.message_id].content == opening.text
        assert stored[first.user_message_id or ""].content == "Breakfast ideas?"
        assert first.message_id != opening.message_id


def test_sync_facade_works_inside_a_running_loop(reference_server: ReferenceServer) -> None:
    # nest_asyncio patches asyncio for the whole process, as it does in a kernel: isolate it
    script = textwrap.dedent(
        """
        import asyncio, os, sys
        from lume_widget.client import connect

        async def notebook_cell():
            # a kernel's loop is running while the cell runs synchronous code
            chat = connect(os.environ["URL"], api_key=os.environ["KEY"],
                           email=os.environ["EMAIL"], password=os.environ["PASSWORD"])
            try:
                reply = chat.ask("hello from a cell")
                events = list(chat.stream("and again"))
                return reply.text, type(events[-1]).__name__
            finally:
                chat.close()

        text, last = asyncio.run(notebook_cell())
        assert text and last == "ReplyCompleted", (text, last)
        print("ok")
        """
    )
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "URL": reference_server.url,
        "KEY": reference_server.api_key,
        "EMAIL": reference_server.email,
        "PASSWORD": reference_server.password,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_sync_facade_reports_errors_and_closes_its_loop(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    import pytest

    from lume_widget.errors import AuthenticationError, InvalidMessageError

    options = _options(reference_server, time_scale)
    with pytest.raises(AuthenticationError):
        connect(reference_server.url, **{**options, "api_key": "wrong"})
    chat = connect(reference_server.url, **options)
    with pytest.raises(InvalidMessageError):
        chat.ask("")
    chat.close()
    chat.close()
    assert dataclasses.is_dataclass(options["settings"])


def test_client_exports_are_complete_and_sorted() -> None:
    import lume_widget
    import lume_widget.client as client
    import lume_widget.core.events as events
    import lume_widget.entry

    assert client.__all__ == sorted(client.__all__)
    for name in (
        "Consultation",
        "LumeClient",
        "SyncConsultation",
        "connect",
        "Message",
        "Goal",
        "ConsultationInfo",
        "QuickAction",
        "Reply",
        "Tier",
        "ConnectionStatus",
    ):
        assert name in client.__all__
        assert getattr(client, name) is not None
    for name in (
        "Reply",
        "Tier",
        "ConnectionStatus",
        "StatusChanged",
        "TierChanged",
        "UserMessageStored",
        "ChunkReceived",
        "ReplyCompleted",
        "TurnFailed",
        "HistoryLoaded",
        "Event",
    ):
        assert name in events.__all__
    # the entry point starts the embedded server without a URL; the client's takes one
    assert lume_widget.connect is lume_widget.entry.connect
    assert lume_widget.Consultation is client.Consultation


def test_client_without_a_url_says_what_to_pass_and_starts_no_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LUME_URL", raising=False)
    with pytest.raises(ConfigurationError, match=r"url= \(or set LUME_URL\)") as caught:
        connect(api_key="k", token="t")
    assert "start_backend=lume_widget.embedded_server" in caught.value.message
