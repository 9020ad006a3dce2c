"""Secrets stay secret: tokens, API keys, passwords and credentialed URLs never show up in logs
(at DEBUG, every logger), exception messages and their chained causes, reprs, the widget's state
or a notebook saved after a run; TLS certificates are verified by default, over REST and WebSocket.

The runs below go through the paths most likely to print a credential: login, the live upgrade
with ``?token=``, an expired token refreshed over REST and at a WebSocket upgrade, a dropped
socket, REST and legacy fallbacks, refused credentials and an unreachable server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import shutil
import ssl
import subprocess
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from lume_widget.client import LumeClient, Settings
from lume_widget.client.live import SocketFailure, open_socket
from lume_widget.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    LumeError,
)
from lume_widget.server import ReferenceServer

from .harness import client_settings
from .relay import TcpRelay

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
TOKEN_QUERY = re.compile(r"(?i)[?&](access_|refresh_)?token=(?!\*\*\*)[^&\s\"']+")
BEARER = re.compile(r"(?i)bearer\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}")


class SecretBag:
    """Every secret value a run used or obtained, and a search for them in text."""

    def __init__(self, *values: str) -> None:
        self.values = {v for v in values if v}

    def add_client_tokens(self, client: LumeClient) -> None:
        header = client.auth.headers().get("Authorization", "")
        self.values.add(header.removeprefix("Bearer ").strip())
        # The refresh token is nowhere public (by design); read it to know what to look for.
        self.values.add(getattr(client.auth, "_refresh_token", None) or "")
        self.values.discard("")

    def leaks(self, text: str) -> list[str]:
        """What leaked, described without the secret itself."""
        found = [
            f"secret #{i} ({len(v)} chars)" for i, v in enumerate(sorted(self.values)) if v in text
        ]
        found += [f"a JWT at {m.start()}" for m in JWT.finditer(text)]
        found += [f"a token= URL at {m.start()}" for m in TOKEN_QUERY.finditer(text)]
        found += [f"a bearer header at {m.start()}" for m in BEARER.finditer(text)]
        return found


def exception_text(exc: BaseException) -> str:
    """str, repr and the whole traceback with every chained cause."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of every logger at DEBUG, formatted with its arguments."""
    caplog.set_level(logging.DEBUG)
    for name in ("websockets", "httpx", "httpcore", "lume_widget", "uvicorn", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in caplog.records:
        lines.append(f"{record.name}: {record.getMessage()}")
        if record.exc_info and record.exc_info[1] is not None:
            lines.append(exception_text(record.exc_info[1]))
    return "\n".join(lines)


def server_secrets(server: ReferenceServer) -> SecretBag:
    return SecretBag(server.api_key, server.password, server.admin_token)


async def connect(server: ReferenceServer, settings: Settings, **overrides: Any) -> LumeClient:
    options: dict[str, Any] = {
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "admin_token": server.admin_token,
        "settings": settings,
    }
    options.update(overrides)
    return await LumeClient.connect(server.url, **options)


# -- logs at DEBUG, reprs, exceptions ---------------------------------------------------------


async def test_no_secret_in_debug_logs_reprs_or_errors_across_every_tier_and_failure(
    reference_server_factory: Callable[..., ReferenceServer],
    time_scale: float,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    server = reference_server_factory(access_ttl_s=1)
    secrets = server_secrets(server)
    settings = dataclasses.replace(client_settings(time_scale), refresh_margin_s=0)
    texts: list[str] = []
    client = await connect(server, settings)
    try:
        chat = await client.open("fitness_coach", resume=False)
        await chat.wait_connected()
        secrets.add_client_tokens(client)
        await chat.ask("Warm-up ideas for a 5k?")
        await asyncio.sleep(1.2)  # let the access token expire: the next upgrade gets a 401
        await chat.simulate_live_drop()
        await chat.ask("And a cool-down?")
        secrets.add_client_tokens(client)
        server.set_faults(ws_close_after_chunks=2, ws_close_mode="abrupt")
        await chat.ask("Stretching after running?")
        server.clear_faults()
        chat.pin_tier("rest")
        await chat.ask("Pinned to REST: is walking enough?")
        chat.pin_tier("legacy")
        await chat.ask("Pinned to legacy: how many rest days?")
        secrets.add_client_tokens(client)
        texts += [repr(client), repr(chat), repr(client.auth), repr(client.rest), repr(settings)]
        texts += [repr(m) for m in chat.transcript]
        await chat.complete()
        with pytest.raises(LumeError) as closed:
            await chat.ask("A message to a completed consultation")
        texts.append(exception_text(closed.value))
    finally:
        await client.aclose()
    with pytest.raises(AuthenticationError) as wrong_key:
        await connect(server, settings, api_key="not-the-key-at-all")
    with pytest.raises(AuthenticationError) as wrong_password:
        await connect(server, settings, password="not-the-password")
    with pytest.raises(ConnectionFailedError) as dead:
        await LumeClient.connect(
            "http://127.0.0.1:9",
            api_key=server.api_key,
            email=server.email,
            password=server.password,
            settings=settings,
        )
    texts += [exception_text(e.value) for e in (wrong_key, wrong_password, dead)]
    logs = log_text(debug_logs)
    # DEBUG really ran through the upgrade, which logs its request line and headers:
    assert "?token=***" in logs
    assert "Authorization: Bearer ***" in logs
    assert client.auth.refresh_count >= 1
    assert secrets.leaks(logs) == []
    assert secrets.leaks("\n".join(texts)) == []


async def test_credentialed_urls_are_redacted_in_errors_and_logs(
    reference_server: ReferenceServer, time_scale: float, debug_logs: pytest.LogCaptureFixture
) -> None:
    secrets = server_secrets(reference_server)
    secrets.values |= {"url-password-1234", "url-token-5678"}
    settings = client_settings(time_scale)
    texts = []
    for url in (
        "http://someone:url-password-1234@127.0.0.1:9",
        "ftp://127.0.0.1:9/?token=url-token-5678",
        "http://127.0.0.1:9/?token=url-token-5678",
    ):
        with pytest.raises(LumeError) as failed:
            await LumeClient.connect(
                url,
                api_key=reference_server.api_key,
                email=reference_server.email,
                password=reference_server.password,
                settings=settings,
            )
        texts.append(exception_text(failed.value))
    assert secrets.leaks("\n".join(texts)) == []
    assert secrets.leaks(log_text(debug_logs)) == []


# -- the widget's state and a saved notebook ----------------------------------------------------


async def test_widget_state_holds_no_secret(
    reference_server: ReferenceServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    from lume_widget.widget import ChatWidget

    secrets = server_secrets(reference_server)
    widget = ChatWidget(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        admin_token=reference_server.admin_token,
        persona="nutritionist",
    )
    try:
        await widget.ready()
        await widget.ask_async("What is a good recovery meal?")
        assert widget.client is not None
        secrets.add_client_tokens(widget.client)
        state = widget.get_state()
        blocks = []  # the synced chain of finished messages (docs/widget-protocol.md)
        block = widget.newest
        while block is not None:
            blocks.append(block.get_state())
            block = block.previous
        text = repr(state) + repr(blocks) + repr(widget) + log_text(debug_logs)
        assert widget.messages, "the run produced no messages to check"
        assert blocks, "the finished messages are in no synced block"
        assert secrets.leaks(text) == []
    finally:
        widget.close()


NOTEBOOK_CELLS = [
    "import logging, os, sys\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, force=True)\n"
    "from lume_widget import ChatWidget, LumeClient\n"
    "w = ChatWidget(persona='nutritionist')  # credentials come from LUME_* variables\n"
    "await w.ready()\n"
    "w",
    "reply = await w.ask_async('What should I eat before a run?')\nprint(reply.to_dict())",
    "await w.client.set_faults(ws_close_after_chunks=2, ws_close_mode='abrupt')\n"
    "print(await w.client.get_faults())\n"
    "reply = await w.ask_async('And after it?')\n"
    "await w.client.clear_faults()\n"
    "print(repr(w.client), repr(w.consultation), reply.to_dict())",
    "try:\n"
    "    await LumeClient.connect(os.environ['LUME_URL'], api_key='wrong-key-0000',\n"
    "                             email=os.environ['LUME_EMAIL'], password='wrong-password')\n"
    "except Exception as exc:\n"
    "    import traceback; traceback.print_exc(); print(repr(exc))",
]


@pytest.mark.notebook
def test_notebook_saved_after_a_debug_run_with_faults_holds_no_secret(
    reference_server: ReferenceServer, tmp_path: Path
) -> None:
    from lume_widget.demo import DemoBackend, execute_notebook

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    path = tmp_path / "secrets_check.ipynb"
    nbformat.write(notebook, path)
    backend = DemoBackend.of(reference_server)
    saved = execute_notebook(path, tmp_path / "out", backend.environment(), cell_timeout=120)
    text = saved.read_text(encoding="utf-8")
    assert "DEBUG" in text
    assert "application/vnd.jupyter.widget-state+json" in text
    assert server_secrets(reference_server).leaks(text) == []


# -- TLS verification is on by default ----------------------------------------------------------


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def start_tls_server(cert: Path, key: Path) -> asyncio.Server:
    """A TLS server that answers every request with a login-shaped 200 (a trap if unverified)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"data":{"access_token":"trap","refresh_token":"trap"}}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)


def caused_by_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def test_tls_certificates_are_verified_by_default_over_rest_and_websocket(
    self_signed: tuple[Path, Path], time_scale: float
) -> None:
    cert, key = self_signed
    server = await start_tls_server(cert, key)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}"
    try:
        # The server itself works for a client that trusts its certificate ...
        trusting = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=trusting) as http:
            assert (await http.post(f"{url}/api/v1/auth/login", json={})).status_code == 200
        # ... and the project's client, left to its defaults, refuses it.
        with pytest.raises(LumeError) as rest_failure:
            await LumeClient.connect(
                url,
                api_key="k",
                email="a@b.c",
                password="password",
                settings=client_settings(time_scale),
            )
        assert caused_by_certificate(rest_failure.value), exception_text(rest_failure.value)
        with pytest.raises(SocketFailure) as ws_failure:
            await open_socket(
                f"wss://127.0.0.1:{port}/api/v1/consultations/x/ws",
                {"X-API-Key": "k"},
                timeout=5 * time_scale,
                settings=Settings(),
            )
        assert caused_by_certificate(ws_failure.value), exception_text(ws_failure.value)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("trust", ["untrusted", "verify", "ssl_cert_file"])
async def test_tls_untrusted_certificate_says_so_and_both_ways_to_trust_it_work(
    trust: str,
    self_signed: tuple[Path, Path],
    reference_server: ReferenceServer,
    time_scale: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """https and wss through a TLS relay with a self-signed certificate, in front of the server."""
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    options: dict[str, Any] = {
        "api_key": reference_server.api_key,
        "email": reference_server.email,
        "password": reference_server.password,
        "settings": client_settings(time_scale),
    }
    async with TcpRelay("127.0.0.1", reference_server.port, tls=context) as relay:
        assert relay.url.startswith("https://")
        if trust == "untrusted":
            # Before: "Could not reach the backend to login (ConnectError). Check the URL and
            # that the server is running." Now it names the certificate and how to trust it.
            with pytest.raises(ConnectionFailedError) as untrusted:
                await LumeClient.connect(relay.url, **options)
            message = str(untrusted.value)
            for words in ("certificate is not trusted", "self-signed", "SSL_CERT_FILE", "verify="):
                assert words in message, message
            assert "server is running" not in message
            return
        if trust == "verify":
            options["verify"] = str(cert)
        else:
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        async with await LumeClient.connect(relay.url, **options) as client:
            chat = await client.open("nutritionist", tier="live")
            reply = await chat.ask("breakfast over TLS?")
        assert reply.tier == "live"  # the WebSocket trusted the certificate too
        assert reply.text


async def test_tls_verify_naming_a_missing_file_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not a readable PEM file"):
        await LumeClient.connect(
            "https://127.0.0.1:9", api_key="k", token="t", verify="/no/such/ca.pem"
        )


def relay_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


TRUST_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "untrusted": lambda cert: {},
    "verify": lambda cert: {"verify": str(cert)},
    "unchecked": lambda cert: {"verify": False},
}


@pytest.mark.parametrize("trust", list(TRUST_OPTIONS))
async def test_tls_chat_widget_names_the_certificate_problem_and_verify_trusts_it(
    trust: str, self_signed: tuple[Path, Path], reference_server: ReferenceServer
) -> None:
    """The panel over https and wss with a self-signed certificate: without ``verify`` it says
    it is a certificate problem and how to trust one; with ``verify=<the PEM>`` (or
    ``verify=False``, the check skipped) a turn completes live, and the path stays in Python
    (never in the widget's state)."""
    from lume_widget.widget import ChatWidget

    cert, key = self_signed
    async with TcpRelay("127.0.0.1", reference_server.port, tls=relay_tls(cert, key)) as relay:
        widget = ChatWidget(
            relay.url,
            api_key=reference_server.api_key,
            email=reference_server.email,
            password=reference_server.password,
            persona="nutritionist",
            tier="live",
            **TRUST_OPTIONS[trust](cert),
        )
        try:
            if trust == "untrusted":
                with pytest.raises(ConnectionFailedError):
                    await widget.ready()
                assert widget.status == "error"
                for words in (
                    "certificate is not trusted",
                    "SSL_CERT_FILE",
                    "verify=",
                    "ChatWidget",
                ):
                    assert words in widget.error, widget.error
                assert "server is running" not in widget.error
                return
            await widget.ready()
            reply = await widget.ask_async("breakfast over TLS?")
            assert reply.tier == "live"
            assert reply.text
            assert [m["role"] for m in widget.messages][-2:] == ["user", "assistant"]
            assert widget.error == ""
            assert str(cert) not in repr(widget.get_state())
        finally:
            await widget.aclose()


async def test_tls_compare_widget_takes_verify_for_the_shared_client_and_for_each_side(
    self_signed: tuple[Path, Path], reference_server: ReferenceServer
) -> None:
    """``CompareWidget(verify=<an SSLContext>)`` for the sides sharing one client, and a side's
    own ``{"url": ..., "verify": <path>}``; neither reaches the widget's state."""
    from lume_widget.widget import CompareWidget

    cert, key = self_signed
    credentials = {
        "api_key": reference_server.api_key,
        "email": reference_server.email,
        "password": reference_server.password,
    }
    async with TcpRelay("127.0.0.1", reference_server.port, tls=relay_tls(cert, key)) as relay:

        def compare() -> list[str]:
            # In a thread: the widget runs on its own loop while this one serves the relay.
            cmp = CompareWidget(
                sides=[
                    {"persona": "nutritionist"},
                    {"persona": "fitness_coach", "url": relay.url, "verify": str(cert)},
                ],
                url=relay.url,
                verify=ssl.create_default_context(cafile=str(cert)),
                **credentials,
            )
            try:
                cmp.wait_ready()
                replies = cmp.ask("lunch over TLS?")
                state = repr(cmp.get_state()) + "".join(repr(s.get_state()) for s in cmp.sides)
                assert str(cert) not in state
                return [r.tier if not isinstance(r, LumeError) else str(r) for r in replies]
            finally:
                cmp.close()

        assert await asyncio.to_thread(compare) == ["live", "live"]
