"""How errors reach a person: one line on the command line, a short traceback from the
synchronous calls, the message alone in a notebook, everything with LUME_DEBUG=1.

Each test names the message a user met before, then checks the one they meet now.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

import lume_widget
from lume_widget.cli import main
from lume_widget.client.lume_client import LumeClient, base_url
from lume_widget.errors import ConfigurationError, ConnectionFailedError, MissingSettingsError
from lume_widget.presentation import describe_missing, notebook_lines
from lume_widget.server import ReferenceServer

ENV = ("LUME_URL", "LUME_API_KEY", "LUME_EMAIL", "LUME_PASSWORD", "LUME_TOKEN", "LUME_DEBUG")


@pytest.fixture(autouse=True)
def no_lume_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def html_server() -> Iterator[str]:
    """A loopback HTTP server that is not Lume: every request gets a 404 HTML page."""
    loop = asyncio.new_event_loop()
    page = b"<!DOCTYPE html><html><head><title>Not Found</title></head><body>nginx</body></html>"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {len(page)}"
        writer.write(head.encode() + b"\r\nConnection: close\r\n\r\n" + page)
        await writer.drain()
        writer.close()

    server = loop.run_until_complete(asyncio.start_server(answer, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    import threading

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    server.close()
    loop.close()


def _traceback_lines(exc: BaseException) -> list[str]:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).splitlines()


# -- missing configuration ----------------------------------------------------------------


def test_errors_missing_settings_are_named_together_in_flags_on_the_command_line(
    reference_server: ReferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "No API key: pass api_key= or set LUME_API_KEY (...)" and, once fixed, the
    # credentials in a second run, both in Python's words.
    assert main(["chat", "--url", reference_server.url, "hi"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("lume-widget chat: Missing --api-key (or LUME_API_KEY)")
    for words in ("--token (or LUME_TOKEN)", "--email (or LUME_EMAIL)", "--password"):
        assert words in err
    assert "api_key=" not in err
    assert "Traceback" not in err


def test_errors_missing_settings_in_python_name_keyword_arguments(
    reference_server: ReferenceServer,
) -> None:
    with pytest.raises(MissingSettingsError) as caught:
        lume_widget.connect(reference_server.url, email="a@b.c")
    assert caught.value.missing == ("api_key", "password")
    assert str(caught.value).startswith("Missing api_key= (or LUME_API_KEY) and password=")
    assert isinstance(caught.value, ConfigurationError)


def test_errors_describe_missing_reads_well_for_one_and_for_several() -> None:
    assert describe_missing(("password",), "cli") == (
        "Missing --password (or LUME_PASSWORD). Give it, or leave out --url (and LUME_URL) "
        "to use the embedded reference server."
    )
    assert "Pass them" in describe_missing(("api_key", "token"))


# -- the synchronous facade and ChatWidget.ask ----------------------------------------------


def test_errors_sync_connect_to_a_closed_port_raises_without_the_chain(closed_port: int) -> None:
    # Before: an 89-line traceback chaining httpx's ConnectError through the auth and
    # client frames. Now: the caller's line, the facade's, and the message.
    with pytest.raises(ConnectionFailedError) as caught:
        lume_widget.connect(f"http://127.0.0.1:{closed_port}", api_key="k", email="e", password="p")
    exc = caught.value
    assert exc.__cause__ is None
    assert exc.__suppress_context__
    lines = _traceback_lines(exc)
    assert len(lines) <= 8, "\n".join(lines)
    assert f"http://127.0.0.1:{closed_port}" in lines[-1]
    assert "server is running" in lines[-1]
    assert not any("httpx" in line or "auth.py" in line for line in lines)


def test_errors_chat_widget_ask_on_a_closed_port_raises_one_short_error(closed_port: int) -> None:
    from lume_widget import ChatWidget

    widget = ChatWidget(f"http://127.0.0.1:{closed_port}", api_key="k", email="e", password="p")
    try:
        with pytest.raises(ConnectionFailedError) as caught:
            widget.ask("hi")
        lines = _traceback_lines(caught.value)
        assert len(lines) <= 8, "\n".join(lines)
    finally:
        widget.close()


def test_errors_lume_debug_keeps_the_whole_traceback(
    closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUME_DEBUG", "1")
    with pytest.raises(ConnectionFailedError) as caught:
        lume_widget.connect(f"http://127.0.0.1:{closed_port}", api_key="k", email="e", password="p")
    assert caught.value.__cause__ is not None  # httpx's error, as raised
    assert any("auth.py" in line for line in _traceback_lines(caught.value))
    assert not hasattr(caught.value, "_render_traceback_")  # IPython prints everything


def test_errors_notebooks_show_the_message_in_two_lines(closed_port: int) -> None:
    error = MissingSettingsError("unused", missing=("api_key",))
    assert error._render_traceback_() == notebook_lines(error)
    assert notebook_lines(error) == [
        "MissingSettingsError: Missing api_key= (or LUME_API_KEY). Pass it, or leave out url= "
        "(and LUME_URL) to use the embedded reference server.",
        "(set LUME_DEBUG=1 for the full traceback)",
    ]


def test_errors_cli_verbose_prints_the_traceback_too(
    closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    args = ["chat", "--url", url, "--api-key", "k", "--email", "e", "--password", "p", "hi"]
    assert main(args) == 1
    quiet = capsys.readouterr().err.strip().splitlines()
    assert len(quiet) == 1
    assert quiet[0].startswith(f"lume-widget chat: Could not reach the backend at {url}")
    assert main([*args[:1], "-v", *args[1:]]) == 1
    verbose = capsys.readouterr().err
    assert "Traceback (most recent call last)" in verbose
    assert "ConnectError" in verbose
    assert verbose.strip().splitlines()[-1] == quiet[0]


# -- hints ----------------------------------------------------------------------------------


def test_errors_base_url_with_api_v1_is_taken_as_the_host(
    reference_server: ReferenceServer,
) -> None:
    # Before: "The backend failed to login (404: no such route: POST /api/v1/api/v1/auth/login).
    # Try again shortly."
    assert base_url("https://host/api/v1") == "https://host"
    assert base_url("https://host/api/v1/") == "https://host"
    assert base_url("https://host/lume") == "https://host/lume"

    async def login() -> str:
        client = await LumeClient.connect(
            reference_server.url + "/api/v1/",
            api_key=reference_server.api_key,
            email=reference_server.email,
            password=reference_server.password,
        )
        async with client:
            return client.url

    assert asyncio.run(login()) == reference_server.url


def test_errors_a_non_lume_server_is_named_and_its_html_never_pasted(
    html_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "The backend failed to login (404: <!DOCTYPE html><html><head>...). Try again shortly."
    args = ["chat", "--url", html_server, "--api-key", "k", "--email", "e", "--password", "p", "hi"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"lume-widget chat: {html_server} does not look like a Lume backend: the login route "
        "answered 404 (Not Found; an HTML page, not a Lume backend's JSON). Check that the URL "
        "is the backend's base URL (https://host, without a path)."
    )
    assert "<" not in err


def test_errors_serve_openai_without_the_extra_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a 50-line traceback from the server's start-up, ending "failed to start: 3".
    monkeypatch.setitem(sys.modules, "openai", None)  # the optional extra is not installed
    code = main(["serve", "--responder", "openai", "--openai-base-url", "http://127.0.0.1:9/v1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (
        "lume-widget serve: the openai responder needs the openai package, an optional extra: "
        "pip install 'lume-widget[openai]'"
    )


def test_errors_an_unclosed_rest_consultation_ends_quietly_at_exit(
    reference_server: ReferenceServer,
) -> None:
    # Before: "Task was destroyed but it is pending!" and the pump task's repr on stderr.
    script = (
        "import lume_widget, sys\n"
        f"chat = lume_widget.connect({reference_server.url!r}, tier='rest', "
        f"api_key={reference_server.api_key!r}, email={reference_server.email!r}, "
        f"password={reference_server.password!r})\n"
        "print(chat.ask('hi').tier)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rest"
    assert done.stderr == ""


def test_errors_eval_names_missing_settings_in_flags(
    reference_server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "error: No API key: pass api_key= or set LUME_API_KEY (...)".
    scenarios = Path(__file__).resolve().parent.parent / "examples" / "scenarios.yaml"
    code = main(["eval", str(scenarios), "--url", reference_server.url, "--out", str(tmp_path)])
    captured = capsys.readouterr()
    said = captured.err + captured.out
    assert code == 2
    assert "Missing --api-key (or LUME_API_KEY)" in said
    assert "api_key=" not in said
