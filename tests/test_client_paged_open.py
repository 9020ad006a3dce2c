"""Opening a long consultation reads only its newest pages, against the reference server.

A consultation of a few hundred messages, opened by id and by resuming the active one: the
client learns the ``total_count`` from a one-message page and reads the newest
``OPEN_HISTORY`` messages with the backend's ``limit``/``offset`` (PROTOCOL B2.6), never the
whole history. Its transcript knows where it begins, so a turn's reads, reply matching (an
identical question asked before, in and out of the page) and older pages stay right. A
backend that ignores paging answers the whole history, which is taken as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from lume_widget.client import Settings
from lume_widget.core.wire import OPEN_HISTORY
from lume_widget.server import ReferenceServer
from tests.conftest import Api
from tests.hostile_servers import client_settings, connect, same_messages, stored_once

TURNS = 150  # 300 messages and the greeting
QUESTION = "How much water should I drink?"


class _RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards to a real transport and keeps the ``limit``/``offset`` of each history read;
    with ``paging=False`` it drops them, as a backend without paging would ignore them; the
    keys in ``hide`` are left out of page answers (of the one-message read too with
    ``hide_probe``)."""

    def __init__(
        self, *, paging: bool = True, hide: tuple[str, ...] = (), hide_probe: bool = False
    ) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._paging = paging
        self._hide = hide
        self._hide_probe = hide_probe
        self.reads: list[tuple[str | None, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/messages"):
            params = request.url.params
            self.reads.append((params.get("limit"), params.get("offset")))
            if not self._paging:
                request.url = request.url.copy_with(query=None)
            if self._hide and (self._hide_probe or params.get("limit") != "1"):
                return await self._hiding(request)
        return await self._inner.handle_async_request(request)

    async def _hiding(self, request: httpx.Request) -> httpx.Response:
        """The answer without the keys in ``hide`` (a backend that does not say where a page is)."""
        response = await self._inner.handle_async_request(request)
        await response.aread()
        body = json.loads(response.content)
        for key in self._hide:
            body.get("data", {}).pop(key, None)
        return httpx.Response(response.status_code, json=body, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def settings(time_scale: float) -> Settings:
    return client_settings(time_scale)


async def _long_consultation(server: ReferenceServer, settings: Settings) -> str:
    """A nutritionist consultation of 301 messages, the same question asked every 50 turns."""
    async with await connect(server, settings) as client:
        chat = await client.open("nutritionist")
        for i in range(TURNS):
            await chat.ask(QUESTION if i % 50 == 0 else f"/long 2 turn {i}")
        return chat.id


async def test_client_open_by_id_reads_only_the_newest_pages(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
    settings: Settings,
) -> None:
    server = reference_server_factory()
    api = api_factory(server)
    await api.login()
    cid = await _long_consultation(server, settings)
    whole = await api.messages(cid)
    total = len(whole)
    assert total == 2 * TURNS + 1
    transport = _RecordingTransport()
    async with await connect(server, settings, transport=transport) as client:
        chat = await client.open(consultation_id=cid)
        start = total - OPEN_HISTORY
        # the total from a one-message page, then two pages of 100 from total - 200
        assert transport.reads == [("1", "0"), ("100", str(start)), ("100", str(start + 100))]
        assert chat.transcript_offset == start
        same_messages(chat.transcript, whole[start:])
        # Reply matching after it: the same question was asked before, in the page and before it.
        transport.reads.clear()
        reply = await chat.ask(QUESTION)
        history = await api.messages(cid)
        assert len(history) == total + 2, "the question stored once more, one reply"
        assert [m["content"] for m in history].count(QUESTION) == TURNS // 50 + 1
        assert (history[-2]["role"], history[-2]["content"]) == ("user", QUESTION)
        assert reply.message_id == history[-1]["id"]
        assert reply.text == history[-1]["content"]
        same_messages(chat.transcript, history[start:])
        assert transport.reads == [("100", str(total))]  # a page from the turn's baseline
        # Older pages load from where the transcript begins, the transcript left alone.
        page, reported = await chat.history_page(100, start - 100)
        assert reported == total + 2
        same_messages(page, whole[start - 100 : start])
        assert chat.transcript_offset == start
        # The whole history on demand.
        same_messages(await chat.history(), history)
        assert chat.transcript_offset == 0


async def test_client_resuming_the_active_consultation_reads_only_its_newest_pages(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
    settings: Settings,
) -> None:
    server = reference_server_factory()
    api = api_factory(server)
    await api.login()
    cid = await _long_consultation(server, settings)
    whole = await api.messages(cid)
    transport = _RecordingTransport()
    async with await connect(server, settings, transport=transport) as client:
        chat = await client.open("nutritionist", resume=True)
        assert chat.id == cid
        assert len(transport.reads) == 3
        start = len(whole) - OPEN_HISTORY
        assert chat.transcript_offset == start
        same_messages(chat.transcript, whole[start:])
        reply = await chat.ask("/long 3 one more")
        history = await api.messages(cid)
        stored_once(history, "/long 3 one more", reply)
        same_messages(chat.transcript, history[start:])


@pytest.mark.parametrize("turns", [0, 1, TURNS])
async def test_client_open_takes_the_whole_answer_of_a_backend_without_paging(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
    settings: Settings,
    turns: int,
) -> None:
    server = reference_server_factory()
    api = api_factory(server)
    await api.login()
    async with await connect(server, settings) as client:
        seeded = await client.open("nutritionist")
        for i in range(turns):
            await seeded.ask(f"/long 2 turn {i}")
        cid = seeded.id
    whole = await api.messages(cid)
    transport = _RecordingTransport(paging=False)
    async with await connect(server, settings, transport=transport) as client:
        chat = await client.open(consultation_id=cid)
        assert transport.reads == [("1", "0")]  # the answer was the whole history: no more reads
        assert chat.transcript_offset == 0
        same_messages(chat.transcript, whole)
        reply = await chat.ask("One more question")
        history = await api.messages(cid)
        stored_once(history, "One more question", reply)
        same_messages(chat.transcript, history)


async def test_client_open_of_a_short_consultation_reads_it_whole_after_the_count(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
    settings: Settings,
) -> None:
    server = reference_server_factory()
    api = api_factory(server)
    await api.login()
    async with await connect(server, settings) as client:
        seeded = await client.open("nutritionist")
        await seeded.ask("/long 2 hello")
        cid = seeded.id
    transport = _RecordingTransport()
    async with await connect(server, settings, transport=transport) as client:
        chat = await client.open(consultation_id=cid)
        assert transport.reads == [("1", "0"), (None, None)]  # 3 messages: fewer than a window
        assert chat.transcript_offset == 0
        same_messages(chat.transcript, await api.messages(cid))


@pytest.mark.parametrize(
    ("hide_everywhere", "reads"),
    [
        (True, [("1", "0"), (None, None)]),  # no total_count: the count is unknown
        (False, [("1", "0"), ("100", "101"), (None, None)]),  # a page that cannot be placed
    ],
)
async def test_client_open_reads_the_whole_history_when_a_page_cannot_be_placed(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
    settings: Settings,
    hide_everywhere: bool,
    reads: list[tuple[str | None, str | None]],
) -> None:
    server = reference_server_factory()
    api = api_factory(server)
    await api.login()
    cid = await _long_consultation(server, settings)
    hidden = ("total_count", "offset")
    transport = _RecordingTransport(hide=hidden, hide_probe=hide_everywhere)
    async with await connect(server, settings, transport=transport) as client:
        chat = await client.open(consultation_id=cid)
        assert transport.reads == reads
        assert chat.transcript_offset == 0
        same_messages(chat.transcript, await api.messages(cid))
