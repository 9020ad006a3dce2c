"""Authentication of the reference server: JWT claims, refresh rotation and reuse, expiry, logout."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import jwt
import pytest
import websockets
from conftest import Api, scaled

from lume_widget.server import ReferenceServer
from lume_widget.server.auth import InvalidTokenError, decode_jwt, encode_jwt

SECRET = "a-secret-long-enough-for-hs256-and-for-hs512-tokens-0123456789abcdef"


async def refresh(api: Api, token: str) -> tuple[int, dict[str, object]]:
    response = await api.http.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": token},
        headers={"X-API-Key": api.server.api_key},
    )
    return response.status_code, response.json()


def test_server_jwt_is_standard_hs256_both_ways() -> None:
    claims = {"sub": "u-1", "email": "é@lume.local", "iat": 1, "exp": 2.5}
    ours = encode_jwt(claims, SECRET)
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(ours, SECRET, algorithms=["HS256"], options={"verify_exp": False}) == claims
    assert decode_jwt(jwt.encode(claims, SECRET, algorithm="HS256"), SECRET) == claims


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({"sub": "u"}, "another-secret-entirely-and-long-enough", algorithm="HS256"),
        jwt.encode({"sub": "u"}, None, algorithm="none"),  # type: ignore[arg-type]
        jwt.encode({"sub": "u"}, SECRET, algorithm="HS512"),
        jwt.encode({"sub": "u"}, SECRET, algorithm="HS256")[:-3],
        jwt.encode({"sub": "u"}, SECRET, algorithm="HS256").rsplit(".", 1)[0],
        "not-a-jwt",
        "a.b.c",
        "é.é.é",
    ],
    ids=[
        "other key",
        "alg none",
        "HS512",
        "cut signature",
        "no signature",
        "garbage",
        "junk",
        "non-ascii",
    ],
)
def test_server_jwt_refuses_what_it_did_not_sign(token: str) -> None:
    with pytest.raises(InvalidTokenError, match="not an HS256 token signed by this server"):
        decode_jwt(token, SECRET)


async def test_server_access_token_carries_sub_email_and_exp(api: Api) -> None:
    claims = jwt.decode(api.access_token, options={"verify_signature": False})
    assert claims["email"] == api.server.email
    assert len(claims["sub"]) == 36
    assert 0 < claims["exp"] - time.time() <= 900


async def test_server_refresh_rotates_and_reuse_is_revoked(api: Api) -> None:
    old = api.refresh_token
    status, body = await refresh(api, old)
    assert status == 200
    data = body["data"]
    assert isinstance(data, dict)
    assert data["refresh_token"] != old
    assert data["access_token"] != api.access_token
    status, body = await refresh(api, old)
    assert status == 401
    assert body == {"error": {"message": "refresh token has been revoked"}}
    status, _ = await refresh(api, str(data["refresh_token"]))
    assert status == 200


async def test_server_concurrent_refreshes_of_one_token_succeed_once(api: Api) -> None:
    results = await asyncio.gather(*(refresh(api, api.refresh_token) for _ in range(5)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 401, 401, 401, 401]


async def test_server_unknown_refresh_token_is_401(api: Api) -> None:
    status, body = await refresh(api, "never-issued")
    assert status == 401
    assert body == {"error": {"message": "invalid refresh token"}}
    missing = await api.http.post(
        "/api/v1/auth/refresh", json={}, headers={"X-API-Key": api.server.api_key}
    )
    assert missing.status_code == 400


async def test_server_logout_revokes_the_refresh_token(api: Api) -> None:
    response = await api.http.post(
        "/api/v1/auth/logout",
        json={"refresh_token": api.refresh_token},
        headers={"X-API-Key": api.server.api_key},
    )
    assert response.status_code == 204
    status, body = await refresh(api, api.refresh_token)
    assert status == 401
    assert body == {"error": {"message": "refresh token has been revoked"}}


async def test_server_short_lived_access_token_expires_and_refresh_cures_it(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    ttl = scaled(0.3)
    api = api_factory(reference_server_factory(access_ttl_s=ttl))
    await api.login()
    cid = (await api.create())["consultation"]["id"]
    await asyncio.sleep(ttl + 0.05)
    expired = await api.request("GET", f"/api/v1/consultations/{cid}")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "TOKEN_EXPIRED"
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with api.ws(cid):
            pass
    assert caught.value.response.status_code == 401
    status, body = await refresh(api, api.refresh_token)
    assert status == 200
    data = body["data"]
    assert isinstance(data, dict)
    api.access_token = str(data["access_token"])
    async with api.ws(cid) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"


async def test_server_spec_profile_refresh_errors_are_strings(
    reference_server_factory: Callable[..., ReferenceServer],
    api_factory: Callable[[ReferenceServer], Api],
) -> None:
    api = api_factory(reference_server_factory(profile="spec"))
    await api.login()
    old = api.refresh_token
    assert (await refresh(api, old))[0] == 200
    status, body = await refresh(api, old)
    assert status == 401
    assert body == {"success": False, "error": "refresh token has been revoked"}


async def test_server_register_returns_tokens_that_work(
    api: Api, api_factory: Callable[[ReferenceServer], Api]
) -> None:
    response = await api.http.post(
        "/api/v1/auth/register",
        json={
            "email": "new@example.org",
            "password": "long-password",
            "name": "New",
            "date_of_birth": "1985-06-30",
        },
        headers={"X-API-Key": api.server.api_key},
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert set(data) >= {"user_id", "email", "name", "created_at", "access_token", "refresh_token"}
    other = api_factory(api.server)
    other.access_token = data["access_token"]
    assert (await other.data("GET", "/api/v1/consultations"))["total_count"] == 0
