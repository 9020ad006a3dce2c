"""notebooks/persona_evaluation.ipynb runs top to bottom with nbclient and shows every part of the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lume_widget.demo import NOTEBOOKS_DIR, DemoBackend, execute_notebook
from lume_widget.server import ReferenceServer, ServerConfig

pytestmark = pytest.mark.notebook

NOTEBOOK = NOTEBOOKS_DIR / "persona_evaluation.ipynb"


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


def test_evaluation_notebook_runs_and_shows_table_dataframe_plot_and_transcript(
    backend: DemoBackend, tmp_path: Path
) -> None:
    saved = execute_notebook(NOTEBOOK, tmp_path, backend.environment(), cell_timeout=120)
    text = saved.read_text(encoding="utf-8")
    for index, secret in enumerate(backend.secrets()):
        assert secret not in text, f"secret #{index + 1} is in the saved notebook"

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
    assert any("lume-transcript" in h and "Lose 15 pounds for summer vacation" in h for h in html)
    assert any("ttft_s" in h and "<table" in h and "dataframe" in h for h in html), "DataFrame"
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is an image"
    assert any("exit code the CLI would give: 1" in "".join(o.get("text", "")) for o in outputs)
    assert any("'pass_rate': 1.0" in p for p in plain), "summary.json read back"
