"""RestApi's request URLs: built once as text, the base URL's path kept, None params left out."""

from __future__ import annotations

import httpx

from lume_widget.client.auth import LumeAuth
from lume_widget.client.rest import RestApi
from lume_widget.core.settings import Settings
from lume_widget.server import ReferenceServer
from tests.hostile_servers import client_settings, connect


def _rest(base: str) -> RestApi:
    return RestApi(base, LumeAuth("k", access_token="t"), Settings())


async def test_rest_url_joins_the_base_path_and_the_route() -> None:
    for base in ("https://host/lume", "https://host/lume/"):
        rest = _rest(base)
        try:
            assert rest.url("/api/v1/goals") == "https://host/lume/api/v1/goals"
            assert rest.url("api/v1/goals") == "https://host/lume/api/v1/goals"
        finally:
            await rest.aclose()


async def test_rest_url_encodes_params_as_httpx_would_and_drops_none() -> None:
    rest = _rest("http://backend.test")
    try:
        params = {"offset": 3, "limit": 100, "persona": None, "q": "a b&c", "active": True}
        url = rest.url("/api/v1/consultations", params)
        expected = httpx.Request(
            "GET",
            "http://backend.test/api/v1/consultations",
            params={k: v for k, v in params.items() if v is not None},
        ).url
        assert httpx.URL(url) == expected
        assert "persona" not in url
        assert rest.url("/api/v1/consultations", {"persona": None}) == (
            "http://backend.test/api/v1/consultations"
        )
    finally:
        await rest.aclose()


async def test_rest_call_sends_the_params_to_the_backend(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    async with await connect(reference_server, client_settings(time_scale)) as client:
        chat = await client.open("nutritionist", resume=False)
        await chat.ask("hello")
        path = f"/api/v1/consultations/{chat.id}/messages"
        whole = await client.rest.call("GET", path)
        page = await client.rest.call("GET", path, params={"offset": 1, "limit": 1})
        assert whole.ok
        assert page.ok
        assert len(whole.data["messages"]) == 3
        assert [m["id"] for m in page.data["messages"]] == [whole.data["messages"][1]["id"]]
