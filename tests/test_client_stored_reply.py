"""``open(await_stored_reply=False)`` against the reference server: replies complete as they
stream, no history read follows them, and the next read matches them to their stored copies."""

from __future__ import annotations

import pytest

from lume_widget.client import Settings, Tier
from lume_widget.core.events import ReplyCompleted
from lume_widget.server import ReferenceServer
from tests.conftest import Api
from tests.hostile_servers import client_settings, connect, same_messages


@pytest.fixture
def settings(time_scale: float) -> Settings:
    return client_settings(time_scale)


async def test_client_replies_not_awaiting_their_stored_copy_are_matched_by_the_next_read(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist", resume=False, await_stored_reply=False)
        first = await chat.ask("What should I eat for breakfast?")
        second = await chat.ask("What should I eat for breakfast?")
        for reply in (first, second):
            assert reply.tier is Tier.LIVE
            assert (reply.message_id, reply.user_message_id) == ("", None)
            assert reply.text
        assert len(chat.transcript) == 1  # the greeting: nothing was read since the open
        stored = await api.messages(chat.id)
        answers = [m for m in stored if m["role"] == "assistant"][1:]
        assert [m["content"] for m in answers] == [first.text, second.text]
        await chat.history()
        same_messages(chat.transcript, stored)
        assert not chat._session.requests.unmatched


async def test_client_recovered_reply_after_unmatched_ones_is_its_own(
    reference_server: ReferenceServer, api: Api, settings: Settings
) -> None:
    """Two replies completed as they streamed; a third with the same message is cut off and
    recovered from the history: it is matched to its own stored reply, not an earlier one."""
    text = "/long 30 the same question"
    async with await connect(reference_server, settings) as client:
        chat = await client.open("nutritionist", resume=False, await_stored_reply=False)
        await chat.ask(text)
        await chat.ask(text)
        reference_server.set_faults(ws_close_after_chunks=3, ws_close_mode="abrupt")
        events = [e async for e in chat.stream(text)]
        reference_server.clear_faults()
        done = events[-1]
        assert isinstance(done, ReplyCompleted)
        stored = await api.messages(chat.id)
        asked = [m for m in stored if m["role"] == "user" and m["content"] == text]
        assert len(asked) == 3
        third = stored[stored.index(asked[2]) + 1]
        assert (done.reply.user_message_id, done.reply.message_id) == (asked[2]["id"], third["id"])
        assert done.reply.text == third["content"]
        same_messages(chat.transcript, stored)
        assert not chat._session.requests.unmatched
