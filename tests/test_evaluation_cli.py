"""``lume-widget eval``: exit codes, messages that name the line, and resume after the process is killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import scaled

from lume_widget.cli import main
from lume_widget.server import ReferenceServer

REPO = Path(__file__).resolve().parent.parent


def cli_args(server: ReferenceServer) -> list[str]:
    return [
        "--url",
        server.url,
        "--api-key",
        server.api_key,
        "--email",
        server.email,
        "--password",
        server.password,
        "--no-progress",
    ]


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cli_exits_0_when_every_turn_passes(
    reference_server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, "scenarios:\n  - {name: ok, turns: [{say: hello, expect: {min_chars: 1}}]}\n"
    )
    code = main(["eval", str(path), "--out", str(tmp_path / "run"), *cli_args(reference_server)])
    assert code == 0
    out = capsys.readouterr().out
    assert "Persona evaluation" in out
    assert "general_wellness" in out
    assert (tmp_path / "run" / "summary.json").exists()
    assert reference_server.password not in out


def test_cli_exits_1_when_an_expectation_fails(
    reference_server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, "scenarios:\n  - {name: strict, turns: [{say: hello, expect: {max_chars: 3}}]}\n"
    )
    code = main(["eval", str(path), "--out", str(tmp_path / "run"), *cli_args(reference_server)])
    assert code == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert "max_chars: the reply has" in out


def test_cli_exits_2_on_a_bad_scenario_file_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "scenarios:\n  - name: a\n    turns:\n      - say: hi\n        expect: {max_ttft: 3}\n",
    )
    code = main(["eval", str(path), "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}:5:18: scenarios[0].turns[0].expect.max_ttft: unknown key 'max_ttft'" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--resume"], "--resume needs --out DIR"),
        (["--concurrency", "0"], "must be at least 1"),
        (["--persona", "dietician"], "invalid choice: 'dietician'"),
        (["--keep", "--delete"], "not allowed with argument"),
    ],
)
def test_cli_exits_2_on_bad_usage(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "scenarios:\n  - {name: a, turns: [{say: hi}]}\n")
    try:
        code = main(["eval", str(path), *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_exits_2_when_out_already_holds_a_run(
    reference_server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "scenarios:\n  - {name: a, turns: [{say: hi}]}\n")
    args = ["eval", str(path), "--out", str(tmp_path / "run"), *cli_args(reference_server)]
    assert main(args) == 0
    assert main(args) == 2
    assert "pass --resume to continue it" in capsys.readouterr().err


def test_cli_resume_after_kill_loses_and_duplicates_nothing(
    reference_server_factory: Any, tmp_path: Path
) -> None:
    server: ReferenceServer = reference_server_factory(chunk_delay_ms=3)
    path = write(
        tmp_path,
        "scenarios:\n"
        "  - name: long\n"
        "    persona: all\n"
        "    repeat: 2\n"
        "    turns: [{say: '/long 30'}, {say: '/long 30'}, {say: 'breakfast?'}]\n",
    )
    out = tmp_path / "run"
    transcripts = out / "transcripts.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LUME_PASSWORD": server.password}
    command = [sys.executable, "-m", "lume_widget.cli", "eval", str(path), "--out", str(out)]
    command += ["--url", server.url, "--api-key", server.api_key, "--email", server.email]
    command += ["--concurrency", "2", "--no-progress"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + scaled(60)
    try:
        while time.monotonic() < deadline:
            lines = transcripts.read_text().splitlines() if transcripts.exists() else []
            if any(json.loads(line)["last"] for line in lines[:-1]) and len(lines) >= 5:
                break  # at least one conversation complete, others in flight
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.02)
        else:
            pytest.fail("the run wrote no records in time")
    finally:
        process.kill()
        process.wait()
        if process.stderr:
            process.stderr.close()
    killed_lines = transcripts.read_text().splitlines()
    assert len(killed_lines) < 8 * 3, "the run finished before it could be killed"

    code = main(["eval", str(path), "--out", str(out), "--resume", *cli_args(server)])
    assert code == 0
    records = [json.loads(line) for line in transcripts.read_text().splitlines()]
    keys = Counter((r["scenario"], r["persona"], r["repeat"], r["turn"]) for r in records)
    assert len(keys) == 8 * 3
    assert set(keys.values()) == {1}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["turns"]["run"] == 24
    assert summary["run"]["resumed_conversations"] >= 1

    # Consultations the killed run left active were completed by the resumed one.
    assert active_consultations(server) == 0


def active_consultations(server: ReferenceServer) -> int:
    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.api_key}) as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": server.email, "password": server.password}
        )
        token = login.json()["data"]["access_token"]
        answer = http.get(
            "/api/v1/consultations",
            params={"status": "active"},
            headers={"Authorization": f"Bearer {token}"},
        )
        return len(answer.json()["data"]["consultations"])
