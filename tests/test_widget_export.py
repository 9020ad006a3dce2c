"""ChatWidget.export: Markdown, HTML and JSON files of the conversation, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lume_widget.errors import ConfigurationError
from lume_widget.server import ReferenceServer
from lume_widget.widget import ChatWidget

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"


@pytest.fixture
async def chat(reference_server: ReferenceServer) -> ChatWidget:
    widget = ChatWidget(
        reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        admin_token=reference_server.admin_token,
        persona="nutritionist",
    )
    await widget.ready()
    return widget


async def test_widget_export_writes_markdown_html_and_json_without_secrets(
    chat: ChatWidget, reference_server: ReferenceServer, tmp_path: Path
) -> None:
    try:
        pasted = (
            f"My key is {reference_server.api_key}, my token {JWT}, "
            f"see https://x.example/?token=abc123secret <b>bold</b>"
        )
        await chat.ask_async(pasted)
        secrets = [
            reference_server.api_key,
            reference_server.password,
            reference_server.admin_token,
            JWT,
            "abc123secret",
        ]
        md = chat.export(tmp_path / "chat.md").read_text(encoding="utf-8")
        page = chat.export(tmp_path / "chat.html").read_text(encoding="utf-8")
        data = json.loads(chat.export(tmp_path / "chat.json").read_text(encoding="utf-8"))
        for text in (md, page, json.dumps(data)):
            for secret in secrets:
                assert secret not in text
        assert md.startswith("# Consultation with Nutritionist\n")
        assert f"Consultation {chat.consultation_id}" in md
        assert "## You · " in md
        assert "My key is ***" in md
        reply = chat.messages[-1]["content"]
        assert reply.splitlines()[0] in md
        # HTML: one page, no scripts, message text escaped (never markup).
        assert page.startswith("<!doctype html>")
        assert "<script" not in page
        assert "&lt;b&gt;bold&lt;/b&gt;" in page
        assert "<b>bold</b>" not in page
        assert data["persona"] == "nutritionist"
        assert [m["role"] for m in data["messages"]][-2:] == ["user", "assistant"]
        assert data["messages"][-1]["metrics"]["tier"] == "live"
        assert set(data["messages"][-1]) == {"role", "content", "created_at", "status", "metrics"}
    finally:
        await chat.aclose()


async def test_widget_export_says_what_to_do_with_an_unknown_suffix_or_folder(
    chat: ChatWidget, tmp_path: Path
) -> None:
    try:
        with pytest.raises(ConfigurationError, match=r"\.md, \.html or \.json"):
            chat.export(tmp_path / "chat.txt")
        with pytest.raises(ConfigurationError, match="does not exist"):
            chat.export(tmp_path / "missing" / "chat.md")
        assert (
            chat.export(tmp_path / "chat.txt", format="md")
            .read_text(encoding="utf-8")
            .startswith("# ")
        )
    finally:
        await chat.aclose()
