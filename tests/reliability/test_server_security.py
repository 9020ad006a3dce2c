"""Security of the reference server: credentials on every route, ownership, refresh, admin, bad bodies.

Each test runs against a real server on a loopback port, most with a database file so that
"nothing was written" is checked by comparing a full dump of the file before and after.
The route list is read from the application itself, so a route added later is covered.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import psutil
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from lume_widget.server import ReferenceServer
from lume_widget.server.app import build_app
from lume_widget.server.config import ServerConfig

from .support import (
    API,
    User,
    create_consultation,
    create_goal,
    database_snapshot,
    history,
    login_user,
    register_user,
)

PUBLIC = {"/health", "/ready", "/healthz", "/openapi.json"}  # the probes take no key (B1.1)
ADMIN = "/admin/faults"


def app_routes() -> tuple[list[tuple[str, str]], list[str]]:
    """(method, path) of every HTTP route and the path of every WebSocket route of the server."""
    app: Any = build_app(ServerConfig())
    http: list[tuple[str, str]] = []
    sockets: list[str] = []
    for route in app.app.routes:
        methods = getattr(route, "methods", None)
        if methods is None:
            sockets.append(route.path)
        else:
            http.extend((m, route.path) for m in sorted(methods) if m != "HEAD")
    return http, sockets


HTTP_ROUTES, WS_ROUTES = app_routes()


class Scene:
    """A server with a database file, its owner ``alice`` (consultation, goal) and ``bob``."""

    def __init__(self, server: ReferenceServer, http: httpx.AsyncClient, db: str) -> None:
        self.server = server
        self.http = http
        self.db = db
        self.alice: User
        self.bob: User
        self.consultation: dict[str, Any]
        self.goal: dict[str, Any]

    async def setup(self) -> None:
        self.alice = await login_user(
            self.http, self.server.api_key, self.server.email, self.server.password
        )
        self.bob = await register_user(self.http, self.server.api_key, "bob")
        self.goal = await create_goal(
            self.http, self.alice, is_recurring=True, recurrence_pattern="daily"
        )
        today = await self.http.get(
            f"{API}/goals/{self.goal['id']}/today", headers=self.alice.headers()
        )
        assert today.status_code == 200, today.text
        self.instance: dict[str, Any] = today.json()["data"]
        self.consultation = await create_consultation(self.http, self.alice, "nutritionist")
        response = await self.http.post(
            f"{API}/consultations/{self.consultation['id']}/messages",
            json={"content": "What should I eat before a run?"},
            headers=self.alice.headers(),
        )
        assert response.status_code in (200, 201, 202), response.text
        await self.wait_for_reply()

    async def wait_for_reply(self) -> None:
        async with asyncio.timeout(10):
            while True:
                messages = await history(self.http, self.alice, self.consultation["id"])
                if messages[-1]["role"] == "assistant":
                    return
                await asyncio.sleep(0.02)

    def fill(self, path: str, *, upper: bool = False) -> str:
        cid, gid = self.consultation["id"], self.goal["id"]
        if upper:
            cid, gid = cid.upper(), gid.upper()
        iid = self.instance["id"].upper() if upper else self.instance["id"]
        return (
            path.replace("{consultation_id}", cid)
            .replace("{goal_id}", gid)
            .replace("{instance_id}", iid)
        )

    def body_for(self, method: str, path: str) -> dict[str, Any] | None:
        """A body that would succeed if the credentials were right."""
        if path.endswith("/progress"):
            return {"current_value": 3}
        if method == "PUT":
            return {"title": "Sleep nine hours"}
        if method != "POST":
            return None
        if path.endswith("/auth/register"):
            return {
                "email": f"x-{uuid.uuid4().hex[:8]}@example.test",
                "password": "long-enough",
                "name": "X",
                "date_of_birth": "1990-01-01",
            }
        if path.endswith("/auth/login"):
            return {"email": self.server.email, "password": self.server.password}
        if path.endswith(("/auth/refresh", "/auth/logout")):
            return {"refresh_token": self.alice.refresh_token}
        if path.endswith("/activities"):
            return {"activity_type": "walk", "value": 2}
        if path.endswith("/goals"):
            return {
                "title": "Sleep eight hours",
                "goal_type": "custom",
                "target_value": 8,
                "target_unit": "hours",
                "start_date": "2025-01-01",
            }
        if path.endswith("/consultations"):
            return {"persona": "fitness_coach"}
        if path.endswith("/messages"):
            return {"content": "Hello again"}
        return {}

    def ws_url(self, path: str, query: str = "") -> str:
        return self.server.ws_url + self.fill(path) + query

    def snapshot(self) -> list[str]:
        return database_snapshot(self.db)


@pytest.fixture
async def scene(
    reference_server_factory: Callable[..., ReferenceServer], tmp_path: Path
) -> AsyncIterator[Scene]:
    db = str(tmp_path / "lume.sqlite3")
    server = reference_server_factory(db=db)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        world = Scene(server, http, db)
        await world.setup()
        yield world


async def ws_refusal(url: str, headers: dict[str, str]) -> int:
    """The HTTP status a WebSocket upgrade is refused with (0 if it was accepted)."""
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=5):
            return 0
    except InvalidStatus as exc:
        return int(exc.response.status_code)


def forged_tokens(user: User) -> dict[str, str]:
    """Access tokens the server must refuse, by what is wrong with them."""
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    now = int(time.time())
    return {
        "garbage": "not-a-jwt",
        "other secret": jwt.encode(
            claims, "another-secret-entirely-and-long-enough-for-hs256", algorithm="HS256"
        ),
        "alg none": jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        "tampered subject": user.access_token.rsplit(".", 1)[0][:-2]
        + "xx."
        + user.access_token.rsplit(".", 1)[1],
        "refresh token": user.refresh_token,
        "no exp, other key": jwt.encode(
            {"sub": claims["sub"], "iat": now}, "x" * 40, algorithm="HS256"
        ),
    }


# -- credentials on every route ------------------------------------------------------------


def test_route_list_matches_the_openapi_document() -> None:
    from lume_widget.server.openapi import openapi_document

    documented = {
        (method.upper(), path)
        for path, item in openapi_document("observed")["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = {(m, p) for m, p in HTTP_ROUTES if p not in (ADMIN, "/openapi.json")}
    assert served <= documented, f"served but not documented: {sorted(served - documented)}"
    assert len(WS_ROUTES) == 2


@pytest.mark.parametrize(
    "credentials", ["no API key", "wrong API key", "API key in the wrong header"]
)
async def test_every_route_refuses_a_missing_or_wrong_api_key(
    scene: Scene, credentials: str
) -> None:
    before = scene.snapshot()
    headers = {
        "no API key": {"Authorization": f"Bearer {scene.alice.access_token}"},
        "wrong API key": scene.alice.headers(api_key="lume-local-dev-key-but-wrong"),
        "API key in the wrong header": {
            "Authorization": f"Bearer {scene.alice.access_token}",
            "X-Api-Token": scene.server.api_key,
        },
    }[credentials]
    accepted = []
    for method, path in HTTP_ROUTES:
        if path in PUBLIC or path == ADMIN:
            continue
        response = await scene.http.request(
            method, scene.fill(path), json=scene.body_for(method, path), headers=headers
        )
        if response.status_code != 401:
            accepted.append(f"{method} {path} -> {response.status_code}")
    for path in WS_ROUTES:
        status = await ws_refusal(scene.ws_url(path, f"?token={scene.alice.access_token}"), headers)
        if status != 401:
            accepted.append(f"WS {path} -> {status}")
    assert accepted == []
    assert scene.snapshot() == before


async def test_every_route_refuses_a_missing_access_token(scene: Scene) -> None:
    before = scene.snapshot()
    headers = {"X-API-Key": scene.server.api_key}
    accepted = []
    for method, path in HTTP_ROUTES:
        if path in PUBLIC or path == ADMIN or path.startswith(f"{API}/auth/"):
            continue
        response = await scene.http.request(
            method, scene.fill(path), json=scene.body_for(method, path), headers=headers
        )
        if response.status_code != 401:
            accepted.append(f"{method} {path} -> {response.status_code}")
    for path in WS_ROUTES:
        status = await ws_refusal(scene.ws_url(path), headers)
        if status not in (400, 401):  # SC34: a missing token is a 400 at upgrade time
            accepted.append(f"WS {path} -> {status}")
    assert accepted == []
    assert scene.snapshot() == before


async def test_every_route_refuses_a_forged_or_wrong_access_token(scene: Scene) -> None:
    before = scene.snapshot()
    accepted = []
    for name, token in forged_tokens(scene.alice).items():
        for scheme in ("Bearer", "Basic"):
            if scheme == "Basic" and name != "garbage":
                continue
            headers = {"X-API-Key": scene.server.api_key, "Authorization": f"{scheme} {token}"}
            if scheme == "Basic":
                headers["Authorization"] = f"Basic {scene.alice.access_token}"
            for method, path in HTTP_ROUTES:
                if path in PUBLIC or path == ADMIN or path.startswith(f"{API}/auth/"):
                    continue
                response = await scene.http.request(
                    method, scene.fill(path), json=scene.body_for(method, path), headers=headers
                )
                if response.status_code != 401:
                    accepted.append(f"{name}/{scheme}: {method} {path} -> {response.status_code}")
        for path in WS_ROUTES:
            for query in ("", f"?token={token}"):
                headers = {"X-API-Key": scene.server.api_key}
                if not query:
                    headers["Authorization"] = f"Bearer {token}"
                status = await ws_refusal(scene.ws_url(path, query), headers)
                if status != 401:
                    accepted.append(f"{name}: WS {path}{query[:7]} -> {status}")
    assert accepted == []
    assert scene.snapshot() == before


async def test_expired_access_token_is_refused_on_rest_and_websocket(
    reference_server_factory: Callable[..., ReferenceServer], time_scale: float
) -> None:
    server = reference_server_factory(access_ttl_s=1)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        user = await login_user(http, server.api_key, server.email, server.password)
        consultation = await create_consultation(http, user)
        expiry = jwt.decode(user.access_token, options={"verify_signature": False})["exp"]
        await asyncio.sleep(max(0.0, expiry - time.time()) + 0.2 * time_scale)
        response = await http.get(f"{API}/consultations", headers=user.headers())
        assert response.status_code == 401
        assert "expired" in response.text
        url = f"{server.ws_url}{API}/consultations/{consultation['id']}/ws"
        assert await ws_refusal(url, user.headers()) == 401


# -- ownership -------------------------------------------------------------------------------


@pytest.mark.parametrize("upper", [False, True], ids=["lower-case ids", "upper-case ids"])
async def test_a_user_cannot_touch_another_users_consultation_or_goal_over_rest(
    scene: Scene, upper: bool
) -> None:
    before = scene.snapshot()
    alice_history = await history(scene.http, scene.alice, scene.consultation["id"])
    attempts = [
        ("GET", f"{API}/consultations/{{consultation_id}}", None),
        ("GET", f"{API}/consultations/{{consultation_id}}/messages", None),
        ("POST", f"{API}/consultations/{{consultation_id}}/messages", {"content": "mine now"}),
        ("POST", f"{API}/consultations/{{consultation_id}}/complete", None),
        ("DELETE", f"{API}/consultations/{{consultation_id}}", None),
        ("GET", f"{API}/wellness/ai/chat/conversations/{{consultation_id}}/messages", None),
        (
            "POST",
            f"{API}/wellness/ai/chat/conversations/{{consultation_id}}/messages",
            {"content": "x"},
        ),
        ("GET", f"{API}/goals/{{goal_id}}", None),
        ("DELETE", f"{API}/goals/{{goal_id}}", None),
    ]
    leaked = []
    for method, path, body in attempts:
        response = await scene.http.request(
            method, scene.fill(path, upper=upper), json=body, headers=scene.bob.headers()
        )
        if response.status_code not in (403, 404):
            leaked.append(f"{method} {path} -> {response.status_code}")
        assert scene.consultation["id"] not in response.text or response.status_code >= 400
        assert "What should I eat" not in response.text
    goal_id = scene.goal["id"].upper() if upper else scene.goal["id"]
    for body in (
        {"persona": "general_wellness", "context_type": "goal", "context_id": goal_id},
        {"persona": "general_wellness", "goal_id": goal_id},
    ):
        response = await scene.http.post(
            f"{API}/consultations", json=body, headers=scene.bob.headers()
        )
        if response.status_code != 404:
            leaked.append(f"create with another user's goal {body} -> {response.status_code}")
    assert leaked == []
    listing = await scene.http.get(f"{API}/consultations", headers=scene.bob.headers())
    assert scene.consultation["id"] not in listing.text
    goals = await scene.http.get(f"{API}/goals", headers=scene.bob.headers())
    assert scene.goal["id"] not in goals.text
    assert await history(scene.http, scene.alice, scene.consultation["id"]) == alice_history
    assert scene.snapshot() == before


async def test_a_user_cannot_open_another_users_consultation_over_websocket(scene: Scene) -> None:
    before = scene.snapshot()
    for path in WS_ROUTES:
        assert await ws_refusal(scene.ws_url(path), scene.bob.headers()) == 403
        query = f"?token={scene.bob.access_token}"
        assert (
            await ws_refusal(scene.ws_url(path, query), {"X-API-Key": scene.server.api_key}) == 403
        )
    # Bob's valid socket on his own consultation cannot address Alice's: the id is the path's.
    own = await create_consultation(scene.http, scene.bob)
    url = f"{scene.server.ws_url}{API}/consultations/{own['id']}/ws"
    async with websockets.connect(url, additional_headers=scene.bob.headers()) as socket:
        await socket.recv()  # connected
        await socket.send(
            json.dumps(
                {"type": "message", "content": "hi", "consultation_id": scene.consultation["id"]}
            )
        )
        while '"stream_complete"' not in (frame := str(await socket.recv())):
            assert "What should I eat" not in frame
    after = await history(scene.http, scene.alice, scene.consultation["id"])
    assert [m["content"] for m in after if m["role"] == "user"] == [
        "What should I eat before a run?"
    ]
    assert len([line for line in scene.snapshot() if line not in before]) > 0  # Bob's own turn
    assert all(
        scene.consultation["id"] not in line for line in scene.snapshot() if line not in before
    )


# -- refresh tokens --------------------------------------------------------------------------


async def refresh(http: httpx.AsyncClient, api_key: str, token: str) -> httpx.Response:
    return await http.post(
        f"{API}/auth/refresh", json={"refresh_token": token}, headers={"X-API-Key": api_key}
    )


async def test_refresh_tokens_are_single_use(scene: Scene) -> None:
    first = scene.alice.refresh_token
    response = await refresh(scene.http, scene.server.api_key, first)
    assert response.status_code == 200
    second = response.json()["data"]["refresh_token"]
    assert second != first
    reused = await refresh(scene.http, scene.server.api_key, first)
    assert reused.status_code == 401
    assert "revoked" in reused.text
    assert (await refresh(scene.http, scene.server.api_key, second)).status_code == 200
    assert (await refresh(scene.http, scene.server.api_key, second)).status_code == 401


async def test_concurrent_refreshes_with_one_token_succeed_exactly_once(scene: Scene) -> None:
    token = scene.bob.refresh_token
    responses = await asyncio.gather(
        *(refresh(scene.http, scene.server.api_key, token) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 7


async def test_logout_revokes_the_refresh_token(scene: Scene) -> None:
    response = await scene.http.post(
        f"{API}/auth/logout",
        json={"refresh_token": scene.bob.refresh_token},
        headers={"X-API-Key": scene.server.api_key},
    )
    assert response.status_code in (200, 204)
    assert (
        await refresh(scene.http, scene.server.api_key, scene.bob.refresh_token)
    ).status_code == 401


async def test_an_access_token_is_not_a_refresh_token(scene: Scene) -> None:
    response = await refresh(scene.http, scene.server.api_key, scene.alice.access_token)
    assert response.status_code == 401


# -- the admin fault route ---------------------------------------------------------------------


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, to connect from."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family.name == "AF_INET" and not address.address.startswith("127."):
                return str(address.address)
    return None


async def test_admin_route_needs_its_token(scene: Scene) -> None:
    url = ADMIN
    wrong = [
        {},
        {"X-Admin-Token": "wrong"},
        {"X-Admin-Token": ""},
        {"X-Admin-Token": scene.alice.access_token},
        {"X-Admin-Token": scene.server.api_key},
        scene.alice.headers(),
        {"Authorization": f"Bearer {scene.server.admin_token}"},
    ]
    for headers in wrong:
        for method in ("GET", "PUT", "DELETE"):
            body = {"refuse_ws_upgrade": 503} if method == "PUT" else None
            response = await scene.http.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (method, headers.keys(), response.text)
            assert scene.server.admin_token not in response.text
    assert scene.server.faults.active() == {}
    good = {"X-Admin-Token": scene.server.admin_token}
    response = await scene.http.put(url, json={"latency_ms": 1}, headers=good)
    assert response.status_code == 200
    assert response.json()["data"]["latency_ms"] == 1
    assert (await scene.http.delete(url, headers=good)).json()["data"]["latency_ms"] == 0


async def test_admin_route_answers_only_on_loopback(scene: Scene) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    good = {"X-Admin-Token": scene.server.admin_token}
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=scene.server.url, transport=transport) as remote:
        try:
            await remote.get("/healthz")
        except httpx.TransportError:
            pytest.skip(f"this machine does not route {address} to its loopback server")
        for headers in (
            good,
            {**good, "X-Forwarded-For": "127.0.0.1"},
            {**good, "X-Real-IP": "127.0.0.1"},
        ):
            for method in ("GET", "PUT", "DELETE"):
                body = {"refuse_ws_upgrade": 503} if method == "PUT" else None
                response = await remote.request(method, ADMIN, json=body, headers=headers)
                assert response.status_code == 403, (method, headers.keys(), response.text)
        # the same source address reaches the API itself: only the admin route is loopback-only
        assert (await remote.get("/healthz")).status_code == 200
    assert scene.server.faults.active() == {}


async def test_admin_route_refuses_a_remote_client_behind_a_local_proxy(scene: Scene) -> None:
    headers = {"X-Admin-Token": scene.server.admin_token, "X-Forwarded-For": "203.0.113.9"}
    response = await scene.http.put(ADMIN, json={"refuse_ws_upgrade": 503}, headers=headers)
    assert response.status_code == 403
    assert scene.server.faults.active() == {}


# -- oversized and malformed bodies ----------------------------------------------------------


def body_routes() -> list[tuple[str, str]]:
    """Routes that read a JSON body (``/complete``, ``/abandon`` and ``/suggestions`` take none)."""
    return [
        (m, p)
        for m, p in HTTP_ROUTES
        if m in ("POST", "PUT", "PATCH")
        and p != ADMIN
        and not p.endswith(("/complete", "/abandon", "/suggestions"))
    ]


async def test_oversized_bodies_are_refused_without_touching_the_database(scene: Scene) -> None:
    limit = scene.server.config.max_body_bytes
    before = scene.snapshot()
    big = b'{"content": "' + b"x" * limit + b'"}'

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    wrong = []
    for method, path in body_routes():
        headers = {**scene.alice.headers(), "Content-Type": "application/json"}
        declared = await scene.http.request(method, scene.fill(path), content=big, headers=headers)
        streamed = await scene.http.request(
            method, scene.fill(path), content=chunked(), headers=headers
        )
        for kind, response in (("declared", declared), ("chunked", streamed)):
            if response.status_code != 413:
                wrong.append(f"{kind}: {method} {path} -> {response.status_code}")
    assert wrong == []
    assert scene.snapshot() == before


MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "not JSON": b"{content: hello}",
    "truncated": b'{"content": "hel',
    "array": b'["content", "hello"]',
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "invalid UTF-8": b'{"content": "\xff\xfe"}',
    "NaN": b'{"content": NaN, "title": NaN, "persona": NaN}',
    "wrong types": b'{"content": 5, "persona": ["x"], "title": {}, "email": 1, "refresh_token": 2}',
}


async def test_malformed_bodies_are_refused_without_touching_the_database(scene: Scene) -> None:
    before = scene.snapshot()
    wrong = []
    for name, raw in MALFORMED.items():
        for method, path in body_routes():
            response = await scene.http.request(
                method,
                scene.fill(path),
                content=raw,
                headers={**scene.alice.headers(), "Content-Type": "application/json"},
            )
            if response.status_code != 400:
                wrong.append(f"{name}: {method} {path} -> {response.status_code}")
            elif "error" not in response.json():
                wrong.append(f"{name}: {method} {path} answered 400 without an error body")
    assert wrong == []
    assert scene.snapshot() == before


async def test_deeply_nested_json_body_is_refused_with_400(scene: Scene) -> None:
    response = await scene.http.post(
        f"{API}/consultations",
        content=b"[" * 50_000,
        headers={**scene.alice.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400


async def test_bad_websocket_frames_are_refused_without_touching_the_database(scene: Scene) -> None:
    cid = scene.consultation["id"]
    url = f"{scene.server.ws_url}{API}/consultations/{cid}/ws"
    before = scene.snapshot()
    async with websockets.connect(
        url, additional_headers=scene.alice.headers(), max_size=None
    ) as socket:
        assert '"connected"' in str(await socket.recv())
        for frame in (
            '{"type":"message","content":""}',
            '{"type":"message","content":"   "}',
            '{"type":"message","content":"%s"}' % ("x" * 5001),
            '{"type":"message","content":5}',
            '{"type":"message"}',
            "not json",
            "[1,2]",
            '{"type":"shout","content":"hello"}',
            "[" * 50_000,
            b"\x00\x01binary",
        ):
            await socket.send(frame)
            answer = str(await asyncio.wait_for(socket.recv(), 5))
            assert '"error"' in answer, (frame, answer)
    assert scene.snapshot() == before
    async with websockets.connect(
        url, additional_headers=scene.alice.headers(), max_size=None
    ) as socket:
        await socket.recv()
        await socket.send('{"type":"message","content":"' + "x" * (2 * 1024 * 1024) + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009  # message too big
    assert scene.snapshot() == before
