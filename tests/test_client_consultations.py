"""Managing consultations by id from the client: list, complete, delete (reference server)."""

from __future__ import annotations

import pytest

from lume_widget.client import Settings
from lume_widget.errors import ConsultationNotActiveError, InvalidIdError, NotFoundError
from lume_widget.server import ReferenceServer
from tests.hostile_servers import client_settings, connect


@pytest.fixture
def settings(time_scale: float) -> Settings:
    return client_settings(time_scale)


async def test_client_complete_consultation_by_id_frees_a_slot_of_the_limit(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        ids = []
        for _ in range(3):
            chat = await client.open("nutritionist", resume=False)
            ids.append(chat.id)
            await chat.aclose()
        info = await client.complete_consultation(ids[0].upper())
        assert (info.id, info.status) == (ids[0], "completed")
        active = [c.id for c in await client.list_consultations(status="active")]
        completed = [c.id for c in await client.list_consultations(status="completed")]
        assert ids[0] not in active
        assert completed == [ids[0]]
        reopened = await client.open(consultation_id=ids[0])
        with pytest.raises(ConsultationNotActiveError):
            await reopened.ask("is anyone there?")
        await reopened.aclose()


async def test_client_delete_consultation_by_id_is_for_good_and_idempotent(
    reference_server: ReferenceServer, settings: Settings
) -> None:
    async with await connect(reference_server, settings) as client:
        chat = await client.open("fitness_coach", resume=False)
        await chat.ask("hello")
        await chat.aclose()
        await client.delete_consultation(chat.id)
        await client.delete_consultation(chat.id)  # already gone: still fine
        with pytest.raises(NotFoundError):
            await client.get_consultation(chat.id)
        with pytest.raises(InvalidIdError):
            await client.delete_consultation("not an id")
