"""Panels and consultations against the reference server: panels do not share a consultation
unless told to, the consultations drawer lists, opens, completes and deletes, and the
10-active limit offers to complete the oldest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import scaled

from lume_widget.client import LumeClient
from lume_widget.errors import ConsultationNotActiveError
from lume_widget.server import ReferenceServer
from lume_widget.widget import ChatWidget


async def until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.005)


def front_end(widget: ChatWidget, content: dict[str, Any]) -> None:
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


@pytest.fixture
async def client(reference_server: ReferenceServer) -> AsyncIterator[LumeClient]:
    connected = await LumeClient.connect(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        admin_token=reference_server.admin_token,
    )
    yield connected
    await connected.aclose()


async def test_widget_panels_on_one_client_each_hold_their_own_consultation(
    client: LumeClient,
) -> None:
    earlier = await client.open("nutritionist", resume=False)  # an active one to resume
    await earlier.aclose()
    # Opened together: only one of them may resume it.
    first = ChatWidget(client=client, persona="nutritionist")
    second = ChatWidget(client=client, persona="nutritionist")
    shared = None
    try:
        await asyncio.gather(first.ready(), second.ready())
        assert first.consultation_id != second.consultation_id
        assert earlier.id in (first.consultation_id, second.consultation_id)
        shared = ChatWidget(client=client, persona="nutritionist", share_consultation=True)
        await shared.ready()
        assert shared.consultation_id in (first.consultation_id, second.consultation_id)
        same = "What should I eat before a run?"
        await asyncio.gather(first.ask_async(same), second.ask_async(same))
        assert [m["content"] for m in first.messages if m["role"] == "user"] == [same]
        assert [m["content"] for m in second.messages if m["role"] == "user"] == [same]
    finally:
        for chat in (first, second, shared):
            if chat is not None:
                await chat.aclose()


async def test_widget_panel_whose_consultation_was_completed_elsewhere_offers_a_new_one(
    client: LumeClient,
) -> None:
    mine = ChatWidget(client=client, persona="fitness_coach")
    other = ChatWidget(client=client, persona="fitness_coach")
    try:
        await mine.ready()
        await other.ready()
        await other.complete_consultation_async(mine.consultation_id)
        with pytest.raises(ConsultationNotActiveError):
            await mine.ask_async("Plan my week")
        assert mine.error_action == "new_consultation"
        assert "completed elsewhere" in mine.error
        assert mine.unsent_text == "Plan my week"
        old = mine.consultation_id
        front_end(mine, {"type": "new_consultation"})
        await until(lambda: mine.consultation_id not in ("", old), "a new consultation")
        assert mine.error == ""
        assert mine.error_action == ""
        reply = await mine.ask_async("Plan my week")
        assert reply.text
        assert other.consultation_id != mine.consultation_id
    finally:
        await mine.aclose()
        await other.aclose()


async def test_widget_consultations_drawer_lists_opens_completes_and_deletes(
    client: LumeClient,
) -> None:
    spare = await client.open("general_wellness", resume=False)
    await spare.aclose()
    chat = ChatWidget(client=client, persona="general_wellness")
    try:
        await chat.ready()
        assert chat.consultation_id == spare.id  # free, so resumed
        await chat.ask_async("An earlier question")
        first = chat.consultation_id
        front_end(chat, {"type": "new_consultation"})
        await until(lambda: chat.consultation_id not in ("", first), "a new consultation")
        await chat.ask_async("A later question")
        front_end(chat, {"type": "list_consultations"})
        await until(lambda: len(chat.consultations) == 2, "the drawer's list")
        newest, oldest = chat.consultations
        assert (newest["id"], newest["status"], newest["current"]) == (
            chat.consultation_id,
            "active",
            True,
        )
        assert (oldest["id"], oldest["status"], oldest["current"]) == (first, "completed", False)
        assert oldest["message_count"] >= 2
        assert newest["started_at"] > oldest["started_at"]
        # Open the completed one: its history loads, and it takes no more messages.
        front_end(chat, {"type": "open_consultation", "id": first})
        await until(lambda: chat.consultation_id == first, "the earlier consultation open")
        assert [m["content"] for m in chat.messages if m["role"] == "user"] == [
            "An earlier question"
        ]
        assert not chat.input_enabled
        assert "completed" in chat.input_disabled_reason
        # Delete the one shown: another one (here the active one, which is free) opens.
        later = newest["id"]
        front_end(chat, {"type": "delete_consultation", "id": first})
        await until(lambda: chat.consultation_id == later, "the active consultation shown")
        await until(
            lambda: [r["id"] for r in chat.consultations] == [later], "deleted from the list"
        )
        # Complete the one shown from the drawer.
        front_end(chat, {"type": "complete_consultation", "id": later})
        await until(lambda: chat.consultations[0]["status"] == "completed", "completed in the list")
        assert not chat.input_enabled
    finally:
        await chat.aclose()


async def test_widget_ten_active_consultations_offer_to_complete_the_oldest(
    client: LumeClient,
) -> None:
    ids = []
    for _ in range(10):
        taken = await client.open("nutritionist", resume=False)
        ids.append(taken.id)
        await taken.aclose()
    chat = ChatWidget(client=client, persona="fitness_coach")
    try:
        with pytest.raises(Exception, match="10"):
            await chat.ready()
        assert chat.error_action == "complete_oldest"
        assert "at most 10 active consultations" in chat.error
        front_end(chat, {"type": "complete_oldest"})
        await until(lambda: chat.consultation_id != "", "a consultation opened")
        assert chat.error == ""
        assert (await client.get_consultation(ids[0])).status == "completed"
        for still_active in ids[1:]:
            assert (await client.get_consultation(still_active)).status == "active"
        assert chat.input_enabled
    finally:
        await chat.aclose()
