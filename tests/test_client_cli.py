"""``lume-widget chat``: streamed text, one JSON object per turn, clear errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lume_widget.cli import main
from lume_widget.server import ReferenceServer

ROOT = Path(__file__).resolve().parent.parent


def _args(server: ReferenceServer) -> list[str]:
    return [
        "chat",
        "--url",
        server.url,
        "--api-key",
        server.api_key,
        "--email",
        server.email,
        "--password",
        server.password,
    ]


def test_cli_chat_streams_each_reply(
    reference_server: ReferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*_args(reference_server), "--persona", "fitness_coach", "hi", "a workout?"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("\n") >= 2
    assert "workout" in out.lower() or "training" in out.lower()


def test_cli_chat_json_prints_one_object_per_turn(
    reference_server: ReferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*_args(reference_server), "--json", "--tier", "rest", "one", "two"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    turns = [json.loads(line) for line in lines]
    assert len(turns) == 2
    for turn in turns:
        for key in (
            "reply",
            "message_id",
            "consultation_id",
            "tier",
            "ttft_s",
            "duration_s",
            "chunks",
            "reconnects",
            "tier_changes",
        ):
            assert key in turn
        assert turn["tier"] == "rest"
    assert turns[0]["consultation_id"] == turns[1]["consultation_id"]


def test_cli_chat_errors_are_one_line_and_exit_1(
    reference_server: ReferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(reference_server)
    args[args.index("--api-key") + 1] = "wrong"
    assert main([*args, "hi"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "API key" in err
    assert main([*_args(reference_server), "x" * 5001]) == 1
    assert "5000" in capsys.readouterr().err


def test_cli_chat_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["chat", "--persona", "sleep_coach", "hi"])
    assert exit_info.value.code == 2


def test_cli_chat_without_url_uses_the_embedded_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUME_")} | {
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "lume_widget.cli", "chat", "--json", "hello embedded"],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    turn = json.loads(result.stdout.strip().splitlines()[-1])
    assert turn["reply"]
