"""Every task the client starts reports how it ended, so no turn waits for its deadline.

Each case injects a failure into one seam (the token refresh, a history read, a driver task)
on real loopback sockets to the reference server, and checks what the user sees and how fast:
a refresh that fails for good ends the turn at once with AuthenticationError; one that fails
once is retried; a complete live reply whose stored copy cannot be read still completes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lume_widget.client import LumeClient
from lume_widget.client.auth import jwt_expiry
from lume_widget.core.events import ConnectionStatus, Tier
from lume_widget.core.settings import Settings
from lume_widget.errors import AuthenticationError
from lume_widget.server import ReferenceServer
from tests.reliability.conftest import Figures
from tests.reliability.harness import client_settings, rig
from tests.reliability.support import API, User, eventually, login_user

TOKEN_LIFETIME_S = 1.5
"""Access tokens of these servers expire this fast (a token lifetime: not scaled); the client
must be set up within it, so that its first refresh happens where each test wants it."""


class FailingRefresh(httpx.AsyncBaseTransport):
    """A real HTTP transport whose next ``failures`` refreshes answer ``status`` instead."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.failures = 0
        self.status = 503
        self.refreshes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/refresh"):
            self.refreshes += 1
            if self.failures > 0:
                self.failures -= 1
                return httpx.Response(
                    self.status, json={"success": False, "error": "refresh is unavailable"}
                )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _tokens(server: ReferenceServer) -> User:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        return await login_user(http, server.api_key, server.email, server.password)


async def _token_client(
    server: ReferenceServer,
    user: User,
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LumeClient:
    """A client holding tokens only (no password to fall back on), as a notebook given a token."""
    return await LumeClient.connect(
        server.url,
        api_key=server.api_key,
        token=user.access_token,
        refresh_token=user.refresh_token,
        settings=settings,
        transport=transport,
    )


def _settings(time_scale: float) -> Settings:
    return dataclasses.replace(client_settings(time_scale), refresh_margin_s=0)


@pytest.fixture
async def short_tokens(
    reference_server_factory: Callable[..., ReferenceServer],
) -> ReferenceServer:
    return reference_server_factory(access_ttl_s=TOKEN_LIFETIME_S)


async def _revoke(server: ReferenceServer, user: User) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post(
            f"{API}/auth/logout",
            json={"refresh_token": user.refresh_token},
            headers=user.headers(),
        )
        assert response.status_code < 300, response.text


async def _spend_elsewhere(server: ReferenceServer, user: User, settings: Settings) -> None:
    """A second client holding the same tokens refreshes first (refresh tokens are single-use)."""
    other = await _token_client(server, user, settings)
    try:
        await other.list_consultations()
        assert other.auth.refresh_count == 1
    finally:
        await other.aclose()


async def _failed_turn(
    client: LumeClient,
    tier: Tier,
    time_scale: float,
    figures: Figures,
    case: str,
    spoil: Callable[[], Any],
) -> None:
    chat = await client.open("nutritionist", resume=False, tier=tier)
    settings = client.settings
    if tier is Tier.LIVE:
        await chat.wait_connected(5 * time_scale)
        assert chat.status is ConnectionStatus.CONNECTED
    await _expire_and(client, spoil)
    if tier is Tier.LIVE:
        await chat.simulate_live_drop()  # the next upgrade needs a fresh token
    started = time.monotonic()
    with pytest.raises(AuthenticationError) as caught:
        await chat.ask("How much water should I drink?")
    took = time.monotonic() - started
    message = str(caught.value)
    assert "password" in message, message
    assert "another client" in message, message
    assert caught.value.unsent_text == "How much water should I drink?"
    # ended by the failure itself, far from the turn deadline it used to wait for
    assert took < settings.turn_deadline_s / 2
    figures.record(f"auth: {case} on {tier.value}", turn_failed_after_s=round(took, 3))
    # nothing was stored for a message that never left
    assert [m for m in chat.transcript if m.role == "user"] == []
    await chat.aclose()


async def _until_expired(client: LumeClient) -> None:
    """Sleep until the client's access token has expired (a token lifetime: nothing to await)."""
    assert client.auth.refresh_count == 0, "the client was set up slower than a token lifetime"
    token = client.auth.headers()["Authorization"].removeprefix("Bearer ")
    expiry = jwt_expiry(token)
    assert expiry is not None
    await asyncio.sleep(max(0.0, expiry - time.time()) + 0.05)


async def _expire_and(client: LumeClient, spoil: Callable[[], Any]) -> None:
    await _until_expired(client)
    result = spoil()
    if asyncio.iscoroutine(result):
        await result


@pytest.mark.parametrize("tier", [Tier.REST, Tier.LIVE])
async def test_revoked_refresh_token_fails_the_turn_at_once_with_authentication_error(
    short_tokens: ReferenceServer, time_scale: float, figures: Figures, tier: Tier
) -> None:
    user = await _tokens(short_tokens)
    client = await _token_client(short_tokens, user, _settings(time_scale))
    try:
        await _failed_turn(
            client,
            tier,
            time_scale,
            figures,
            "revoked refresh token",
            lambda: _revoke(short_tokens, user),
        )
    finally:
        await client.aclose()


@pytest.mark.parametrize("tier", [Tier.REST, Tier.LIVE])
async def test_refresh_token_used_by_another_client_fails_the_turn_at_once(
    short_tokens: ReferenceServer, time_scale: float, figures: Figures, tier: Tier
) -> None:
    user = await _tokens(short_tokens)
    settings = _settings(time_scale)
    client = await _token_client(short_tokens, user, settings)
    try:
        await _failed_turn(
            client,
            tier,
            time_scale,
            figures,
            "refresh token spent by another client",
            lambda: _spend_elsewhere(short_tokens, user, settings),
        )
    finally:
        await client.aclose()


@pytest.mark.parametrize("tier", [Tier.REST, Tier.LIVE])
async def test_refresh_answering_503_once_is_retried_and_the_reply_arrives(
    short_tokens: ReferenceServer, time_scale: float, figures: Figures, tier: Tier
) -> None:
    user = await _tokens(short_tokens)
    transport = FailingRefresh()
    client = await _token_client(short_tokens, user, _settings(time_scale), transport)
    try:
        chat = await client.open("nutritionist", resume=False, tier=tier)
        if tier is Tier.LIVE:
            await chat.wait_connected(5 * time_scale)
        await _until_expired(client)
        transport.failures = 1
        if tier is Tier.LIVE:
            await chat.simulate_live_drop()
        started = time.monotonic()
        reply = await chat.ask("How much water should I drink?")
        took = time.monotonic() - started
        assert reply.text
        assert reply.message_id
        assert transport.failures == 0
        assert client.auth.refresh_count == 1
        assert [m.role for m in chat.transcript][-2:] == ["user", "assistant"]
        figures.record(f"auth: refresh 503 once on {tier.value}", reply_s=round(took, 3))
        await chat.aclose()
    finally:
        await client.aclose()


async def test_connect_spends_no_refresh_token_on_a_server_without_admin_token(
    short_tokens: ReferenceServer, time_scale: float
) -> None:
    user = await _tokens(short_tokens)
    await asyncio.sleep(TOKEN_LIFETIME_S + 0.1)  # the token's lifetime: nothing to await
    settings = _settings(time_scale)
    first = await _token_client(short_tokens, user, settings)
    try:
        assert first.auth.refresh_count == 0
        assert first.is_reference_server
        # the refresh token is still unspent: a second client holding it can renew
        await _spend_elsewhere(short_tokens, user, settings)
    finally:
        await first.aclose()


async def test_live_reply_completes_while_its_history_read_keeps_failing(
    reference_server: ReferenceServer, time_scale: float, figures: Figures
) -> None:
    async with rig(reference_server, time_scale) as r:
        await r.wait_status(ConnectionStatus.CONNECTED)
        reference_server.set_faults(http_error_rate=1.0, http_error_status=503)
        record = await r.turn("Is fruit juice healthy?")
        assert record.error is None, record.error
        reply = record.replies[0].reply
        streamed = "".join(c.text for c in record.chunks)
        assert reply.text == streamed
        assert reply.tier is Tier.LIVE
        assert reply.duration_s < r.settings.turn_deadline_s / 2
        figures.record(
            "REST down while live works: reply completes",
            reply_s=round(reply.duration_s, 3),
            grace_s=r.settings.reconcile_grace_s,
        )
        reference_server.clear_faults()
        # the stored copy is read in the background once REST answers again
        await eventually(
            lambda: any(m.content == reply.text for m in r.chat.transcript),
            5 * time_scale,
            "the background history read",
        )
        await r.turn("And vegetable juice?")
        await r.check()
        await r.close()


class RaisingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that raises a non-HTTP error on the requests ``armed`` matches."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.armed: Callable[[httpx.Request], bool] = lambda request: False
        self.raised = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed(request):
            self.raised += 1
            raise RuntimeError("injected failure")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _is_send(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/messages")


def _is_history(request: httpx.Request) -> bool:
    return request.method == "GET" and request.url.path.endswith("/messages")


@pytest.mark.parametrize(
    ("seam", "tier"),
    [("send", Tier.REST), ("history read", Tier.REST), ("history read", Tier.LIVE)],
)
async def test_a_task_that_raises_ends_the_turn_at_once(
    reference_server: ReferenceServer, time_scale: float, figures: Figures, seam: str, tier: Tier
) -> None:
    transport = RaisingTransport()
    client = await LumeClient.connect(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        settings=client_settings(time_scale),
        transport=transport,
    )
    try:
        chat = await client.open("nutritionist", resume=False, tier=tier)
        if tier is Tier.LIVE:
            await chat.wait_connected(5 * time_scale)
        transport.armed = _is_send if seam == "send" else _is_history
        started = time.monotonic()
        try:
            reply = await chat.ask("How much water should I drink?")
        except Exception as exc:  # what the user sees is the subject
            error: BaseException | None = exc
            reply = None
        else:
            error = None
        took = time.monotonic() - started
        assert transport.raised >= 1
        assert took < client.settings.turn_deadline_s / 2
        if tier is Tier.LIVE:
            # the reply streamed whole: it completes although its stored copy cannot be read
            assert error is None
            assert reply is not None
            assert reply.text
        else:
            assert error is not None
            assert "RuntimeError" in str(error)
            assert getattr(error, "unsent_text", None) in (None, "How much water should I drink?")
        figures.record(f"task raising: {seam} on {tier.value}", ended_after_s=round(took, 3))
        transport.armed = lambda request: False
        second = await chat.ask("And how much tea?")
        assert second.text
        await chat.aclose()
    finally:
        await client.aclose()


async def test_a_live_connector_that_raises_is_a_failed_attempt_and_falls_back(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    from websockets.asyncio.client import connect as ws_connect

    raising = {"on": False}

    async def connector(url: str, **options: Any) -> Any:
        if raising["on"]:
            raise RuntimeError("injected failure")
        return await ws_connect(url, **options)

    client = await LumeClient.connect(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        settings=client_settings(time_scale),
        ws_connector=connector,
    )
    try:
        chat = await client.open("nutritionist", resume=False)
        await chat.wait_connected(5 * time_scale)
        raising["on"] = True
        await chat.simulate_live_drop()
        reply = await chat.ask("How much water should I drink?")
        assert reply.tier is Tier.REST  # every live attempt failed: the turn went on over REST
        await chat.aclose()
    finally:
        await client.aclose()


class BreakingConnection:
    """A real client connection whose frame iteration raises after ``frames`` frames."""

    def __init__(self, inner: Any, frames: int) -> None:
        self._inner = inner
        self._frames = frames

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _frames_then_break(self) -> Any:
        seen = 0
        async for frame in self._inner:
            seen += 1
            if seen > self._frames:
                raise RuntimeError("injected reader failure")
            yield frame

    def __aiter__(self) -> Any:
        return self._frames_then_break()


async def test_a_socket_reader_that_raises_is_a_lost_link_and_the_reply_is_recovered(
    reference_server: ReferenceServer,
    time_scale: float,
    figures: Figures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from websockets.asyncio.client import connect as ws_connect

    breaking = {"after": 0}

    async def connector(url: str, **options: Any) -> Any:
        connection = await ws_connect(url, **options)
        if breaking["after"]:
            after, breaking["after"] = breaking["after"], 0
            return BreakingConnection(connection, after)
        return connection

    client = await LumeClient.connect(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        settings=client_settings(time_scale),
        ws_connector=connector,
    )
    try:
        chat = await client.open("nutritionist", resume=False)
        await chat.wait_connected(5 * time_scale)
        breaking["after"] = 4  # connected, message_received and two chunks, then it breaks
        await chat.simulate_live_drop()
        await chat.wait_connected(5 * time_scale)
        started = time.monotonic()
        reply = await chat.ask("How much water should I drink?")
        took = time.monotonic() - started
        stored = [m for m in chat.transcript if m.role == "assistant"]
        assert reply.text == stored[-1].content
        assert "live socket reader failed" in caplog.text
        # reported as a lost link at once, not found by the inactivity deadline
        assert took < client.settings.stream_inactivity_s
        figures.record("task raising: live socket reader", reply_s=round(took, 3))
        await chat.aclose()
    finally:
        await client.aclose()


async def test_fault_control_is_its_own_object_and_needs_the_admin_token(
    reference_server: ReferenceServer, time_scale: float
) -> None:
    from lume_widget.errors import ConfigurationError

    client = await LumeClient.connect(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        admin_token=reference_server.admin_token,
        settings=client_settings(time_scale),
    )
    blind = await LumeClient.connect(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        settings=client_settings(time_scale),
    )
    try:
        assert client.faults.is_reference_server
        assert blind.faults.is_reference_server  # found out without any token
        assert (await client.faults.set(latency_ms=5))["latency_ms"] == 5
        assert (await client.get_faults())["latency_ms"] == 5  # the shortcut still works
        assert (await client.faults.clear())["latency_ms"] == 0
        with pytest.raises(ConfigurationError, match="admin token"):
            await blind.faults.set(latency_ms=5)
        assert reference_server.admin_token not in repr(client.faults)
    finally:
        await client.aclose()
        await blind.aclose()
