"""A long consultation in the panel: the newest messages first, older pages on demand, a bounded window.

Against the reference server on loopback: a consultation of more than 500 messages opens
with its newest 200 in ``chat.messages`` (and the panel's blocks), ``older`` counting the rest;
``load_older`` (the panel's message when the reader scrolls to the top, or
``chat.load_older()``) reads the page before with the backend's ``limit``/``offset``, and after
a turn the panel keeps at most its window, the dropped messages loadable again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import scaled
from test_widget_ratings import credentials

from lume_widget.server import ReferenceServer
from lume_widget.widget import ChatWidget
from lume_widget.widget.history import OPEN_MESSAGES, PAGE_MESSAGES, WINDOW_MESSAGES

TURNS = 260  # 520 messages and the greeting


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    from lume_widget.server import ServerConfig

    running = ReferenceServer(ServerConfig(chunk_delay_ms=0)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def long_consultation(server: ReferenceServer) -> None:
    """A consultation of the persona with more than 500 messages."""
    chat = ChatWidget(url=server.url, persona="fitness_coach", **credentials(server))
    chat.wait_ready()
    for i in range(TURNS):
        chat.ask(f"/long 2 turn {i}")
    chat.close()


def shown_ids(chat: ChatWidget) -> list[str]:
    return [str(m["id"]) for m in chat.messages]


def whole_history(chat: ChatWidget) -> list[Any]:
    """Every message of the panel's consultation, read page by page (the transcript left alone)."""
    consultation = chat.consultation
    assert consultation is not None
    out: list[Any] = []
    while True:
        page, _total = chat._runner.run_blocking(consultation.history_page(100, len(out)))
        out += page
        if len(page) < 100:
            return out


def walked(chat: ChatWidget) -> list[dict[str, Any]]:
    """The messages the front end gets, walking from ``newest`` through ``previous``."""
    out: list[dict[str, Any]] = []
    block = chat.newest
    while block is not None:
        out[:0] = block.messages
        block = block.previous
    return out


@pytest.mark.usefixtures("long_consultation")
def test_history_opens_newest_first_and_pages_back_to_the_start(server: ReferenceServer) -> None:
    chat = ChatWidget(url=server.url, persona="fitness_coach", **credentials(server))
    try:
        chat.wait_ready()
        assert chat.consultation is not None
        whole = whole_history(chat)
        transcript = [m for m in whole if m.role in ("user", "assistant")]
        total = len(whole)
        assert total > 500
        # The client read only the newest messages when it opened the consultation.
        assert len(chat.consultation.transcript) == OPEN_MESSAGES
        assert chat.consultation.transcript_offset == total - OPEN_MESSAGES
        assert chat.consultation.transcript == whole[-OPEN_MESSAGES:]
        assert len(chat.messages) <= OPEN_MESSAGES
        assert chat.older == total - OPEN_MESSAGES
        assert shown_ids(chat) == [m.id for m in transcript][-len(chat.messages) :]
        assert walked(chat) == chat.messages
        # The panel's scroll-up: one page before the oldest held, as one new oldest block.
        first = chat.older
        chat._handle_custom_msg({"type": "load_older"}, [])
        deadline = time.monotonic() + scaled(10)
        while chat.older == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert chat.older == first - PAGE_MESSAGES
        while chat.older:
            added = chat.load_older()
            assert added > 0
        assert shown_ids(chat) == [m.id for m in transcript], "every message once, in order"
        assert walked(chat) == chat.messages
        assert chat.load_older() == 0, "nothing before the first message"
        # A turn trims the window back; what it drops is loadable again.
        chat.ask("/long 2 one more")
        assert len(chat.messages) <= WINDOW_MESSAGES
        assert chat.older > 0
        assert walked(chat) == chat.messages
        while chat.older:
            chat.load_older()
        ids = shown_ids(chat)
        assert len(ids) == len(set(ids)), "no message twice"
        assert ids[: len(transcript)] == [m.id for m in transcript]
    finally:
        chat.close()


@pytest.mark.usefixtures("long_consultation")
def test_history_page_reads_one_page_with_the_backends_limit_and_offset(
    server: ReferenceServer,
) -> None:
    chat = ChatWidget(url=server.url, persona="fitness_coach", **credentials(server))
    try:
        chat.wait_ready()
        consultation = chat.consultation
        assert consultation is not None
        transcript = whole_history(chat)
        held = consultation.transcript

        async def read() -> tuple[list[Any], int | None]:
            return await consultation.history_page(50, 10)

        page, total = chat._runner.run_blocking(read())
        assert total == len(transcript)
        assert [m.id for m in page] == [m.id for m in transcript[10:60]]
        assert consultation.transcript == held, "the transcript is left alone"
        with pytest.raises(ValueError, match="1 to 100"):
            chat._runner.run_blocking(consultation.history_page(101, 0))
    finally:
        chat.close()
