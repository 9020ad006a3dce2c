"""The demo notebooks run top to bottom (nbclient, widget state stored) and leak no secret.

Each notebook is executed against one reference server shared by the module (as
``lume-widget demo --execute`` does with the embedded one), then the saved file is searched for every secret
the kernels were given (API key, password, admin token, an access token) and for any
JWT or ``token=`` URL at all, since the access and refresh tokens the kernel's client
obtains itself are not known to the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lume_widget.demo import (
    NOTEBOOKS_DIR,
    DemoBackend,
    execute_notebook,
    execute_notebooks,
    lab_command,
)
from lume_widget.server import ReferenceServer, ServerConfig

pytestmark = pytest.mark.notebook

NOTEBOOKS = ["quickstart.ipynb", "personas_and_goals.ipynb", "fallback_tiers.ipynb"]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
TOKEN_URL = re.compile(r"[?&](access_)?token=[^&\s\"']+")


@pytest.fixture(scope="module")
def backend() -> Iterator[DemoBackend]:
    """A fresh in-memory reference server with paced chunks, as the demo would use."""
    server = ReferenceServer(ServerConfig(chunk_delay_ms=2)).start()
    yield DemoBackend.of(server)
    server.stop()


def chat_states(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored states of every ChatWidget model in a saved notebook, each with the
    ``messages`` its chain of blocks holds (walked from ``newest``, as the front end does)."""
    stored = notebook["metadata"]["widgets"][WIDGET_STATE]["state"]
    states = []
    for entry in stored.values():
        state = entry["state"]
        if "newest" not in state or "consultation_id" not in state:
            continue
        messages: list[dict[str, Any]] = []
        ref = state["newest"]
        while ref:
            block = stored[ref.removeprefix("IPY_MODEL_")]["state"]
            messages[:0] = block["messages"]
            ref = block.get("previous")
        states.append({**state, "messages": messages})
    return states


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_saved_file_has_no_secrets(
    name: str, backend: DemoBackend, tmp_path: Path
) -> None:
    saved = execute_notebook(
        NOTEBOOKS_DIR / name, tmp_path, backend.environment(), cell_timeout=120
    )
    text = saved.read_text(encoding="utf-8")
    for index, secret in enumerate(backend.secrets()):
        assert secret not in text, f"secret #{index + 1} is in the saved {name}"
    assert not JWT.search(text), f"a JWT is in the saved {name}"
    assert not TOKEN_URL.search(text), f"a URL carrying a token is in the saved {name}"

    notebook = json.loads(text)
    states = chat_states(notebook)
    assert states, "the chat widgets' state must be stored in the notebook"
    for state in states:
        assert state["consultation_id"], "every panel opened a consultation"
        assert not state["error"], f"a panel shows an error: {state['error']}"
        assert state["pending"] is None, "no reply is left half streamed"
        for key in ("api_key", "token", "password", "admin_token", "url"):
            assert key not in state
    replies = [
        m
        for state in states
        for m in state["messages"]
        if m["role"] == "assistant" and m["status"] == "complete"
    ]
    assert replies, "the saved transcript holds the replies"
    assert all(m["content"] for m in replies), "with their text (no view held it)"


def test_notebooks_are_saved_with_outputs_cleared() -> None:
    for name in NOTEBOOKS:
        notebook = json.loads((NOTEBOOKS_DIR / name).read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{name} is committed with outputs"
                assert cell["execution_count"] is None
        assert WIDGET_STATE not in json.dumps(notebook.get("metadata", {}))


def test_demo_execute_reports_failure_and_exits_nonzero(
    backend: DemoBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    cells = [nbformat.v4.new_code_cell("print('fine')")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "quickstart.ipynb")
    broken = [nbformat.v4.new_code_cell("raise RuntimeError('this notebook is broken')")]
    nbformat.write(nbformat.v4.new_notebook(cells=broken), folder / "broken.ipynb")
    status = execute_notebooks(folder, tmp_path / "out", backend, cell_timeout=60)
    printed = capsys.readouterr().out
    assert status == 1
    assert "PASS  quickstart.ipynb" in printed
    assert "FAIL  broken.ipynb" in printed
    assert "RuntimeError: this notebook is broken" in printed
    assert "1 passed, 1 failed" in printed


def test_demo_lab_listens_on_loopback_and_keeps_token_out_of_argv(tmp_path: Path) -> None:
    command = lab_command(tmp_path, 0)
    assert "--ServerApp.ip=127.0.0.1" in command
    assert not any("token" in part.lower() for part in command)


def test_demo_backend_environment_reaches_kernels_without_repr_leak(
    backend: DemoBackend,
) -> None:
    env = backend.environment()
    assert env["LUME_URL"] == backend.url
    assert env["LUME_ADMIN_TOKEN"] == backend.admin_token
    for secret in backend.secrets():
        assert secret not in repr(backend)
