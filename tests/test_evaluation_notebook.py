"""notebooks/persona_evaluation.ipynb runs top to bottom with nbclient (its judge cells on a local fake model) and shows every part of the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_model import Answer, FakeModel, judge_answer

from lume_widget.demo import NOTEBOOKS_DIR, DemoBackend, execute_notebook
from lume_widget.server import ReferenceServer, ServerConfig

pytestmark = pytest.mark.notebook

NOTEBOOK = NOTEBOOKS_DIR / "persona_evaluation.ipynb"
JUDGE_KEY = "sk-notebook-judge-secret"


@pytest.fixture(scope="module")
def backend() -> Iterator[DemoBackend]:
    server = ReferenceServer(ServerConfig(chunk_delay_ms=1)).start()
    yield DemoBackend.of(server)
    server.stop()


def test_evaluation_notebook_is_saved_with_outputs_cleared() -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == []
            assert cell["execution_count"] is None


def judge_and_simulator(body: dict[str, Any]) -> Answer:
    """The fake model's answers: the simulated user stops after two messages, the judge approves."""
    if "role-playing a USER" in body["messages"][0]["content"]:
        said = [m for m in body["messages"] if m["role"] == "assistant"]
        return Answer(text="END_CONVERSATION" if len(said) >= 2 else "Could I walk at lunch?")
    if "Judge whether this has happened" in body["messages"][-1]["content"]:
        return judge_answer(0.0, "no plan yet")  # stop_when: never met, the user ends it
    return judge_answer(0.9, "concrete and in role")


def test_evaluation_notebook_runs_and_shows_table_dataframe_plot_and_transcript(
    backend: DemoBackend, tmp_path: Path, model_server: FakeModel
) -> None:
    model_server.respond = judge_and_simulator
    environment = backend.environment()
    environment.update(
        {
            "LUME_JUDGE_URL": model_server.url,
            "LUME_JUDGE_MODEL": "notebook-judge",
            "LUME_JUDGE_API_KEY": JUDGE_KEY,
        }
    )
    saved = execute_notebook(NOTEBOOK, tmp_path, environment, cell_timeout=120)
    text = saved.read_text(encoding="utf-8")
    for index, secret in enumerate([*backend.secrets(), JUDGE_KEY]):
        assert secret not in text, f"secret #{index + 1} is in the saved notebook"
    assert {request["auth"] for request in model_server.requests} == {f"Bearer {JUDGE_KEY}"}

    outputs = [
        output
        for cell in json.loads(text)["cells"]
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    ]
    assert not [o for o in outputs if o["output_type"] == "error"]
    html = ["".join(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]
    plain = ["".join(o["data"].get("text/plain", "")) for o in outputs if "data" in o]

    assert any("<progress" in h and "13/13 turns" in h for h in html), "live progress shown"
    assert any("badge passed" in h and "13 passed, 0 failed" in h for h in html), "result table"
    assert any('class="failed"' in h and "avocado toast" in h for h in html), "failures highlighted"
    assert any("lume-eval-report" in h and "Lose 15 pounds for summer vacation" in h for h in html)
    assert any("ttft_s" in h and "<table" in h and "dataframe" in h for h in html), "DataFrame"
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is an image"
    assert any("exit code the CLI would give: 1" in "".join(o.get("text", "")) for o in outputs)
    assert any("'pass_rate': 1.0" in p for p in plain), "summary.json read back"
    streams = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert any("'pass_hat_k': True" in p and "'runs': 3" in p for p in plain), "repeats"
    assert "report.html" in streams
    assert any("Personas side by side" in h and "<svg" in h for h in html), "the report inline"
    assert "regressions" in streams
    assert "-> exit code 1" in streams
    assert any("REGRESSED" in h for h in html), "the diff as a table"
    assert "concrete and in role" in streams, "judge verdicts"
    assert "ended by: simulator" in streams
    assert "('simulated', 'Could I walk at lunch?')" in streams
