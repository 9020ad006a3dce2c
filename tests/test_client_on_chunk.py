"""``ask(text, on_chunk=...)``: each chunk of the turn reaches the callback in order, and a
callback that raises is logged without ending the turn."""

from __future__ import annotations

import logging

import pytest

from lume_widget.client import Settings
from lume_widget.core.events import ChunkReceived
from lume_widget.server import ReferenceServer
from tests.hostile_servers import client_settings, connect


@pytest.fixture
def settings(time_scale: float) -> Settings:
    return client_settings(time_scale)


async def test_client_ask_hands_each_chunk_of_its_turn_to_on_chunk(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist", resume=False)
        seen: list[ChunkReceived] = []
        reply = await chat.ask("/long 12 please", on_chunk=seen.append)
        assert len(seen) == reply.chunks > 1
        assert "".join(event.text for event in seen) == reply.text
        assert [event.index for event in seen] == sorted(event.index for event in seen)
        assert {event.turn_id for event in seen} == {reply.turn_id}
        assert [event.at for event in seen] == sorted(event.at for event in seen)
        later = await chat.ask("again")  # the callback belonged to the first turn only
        assert later.text
        assert len(seen) == reply.chunks


async def test_client_on_chunk_that_raises_does_not_end_the_turn(
    reference_server: ReferenceServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: ChunkReceived) -> None:
        raise ValueError("a broken display")

    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist", resume=False)
        with caplog.at_level(logging.ERROR, logger="lume_widget.client.consultation"):
            reply = await chat.ask("/long 5 please", on_chunk=broken)
        assert reply.text
        assert "on_chunk callback failed" in caplog.text
