"""``lume-widget demo`` from an installed wheel: the packaged notebooks and a missing JupyterLab.

The wheel itself is checked by scripts/check_dist.sh (scripts/smoke_test.py); these tests pin
the rules: where the notebooks are opened from, that a user's edits survive, and the one-line
answer when the notebook extra is not installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from lume_widget import demo


@pytest.fixture
def packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A wheel's layout: no checkout notebooks, the demo under lume_widget/_demo."""
    package = tmp_path / "site-packages" / "lume_widget" / "_demo"
    (package / "notebooks").mkdir(parents=True)
    (package / "examples").mkdir()
    (package / "notebooks" / "quickstart.ipynb").write_text("{}", encoding="utf-8")
    (package / "examples" / "scenarios.yaml").write_text("scenarios: []\n", encoding="utf-8")
    monkeypatch.setattr(demo, "NOTEBOOKS_DIR", tmp_path / "no-checkout" / "notebooks")
    monkeypatch.setattr(demo, "PACKAGED_DEMO", package)
    return package


def test_demo_notebooks_from_a_wheel_are_copied_once_and_edits_kept(
    packaged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    folder = demo.demo_notebooks(data)
    assert folder == data / "demo" / "notebooks"
    assert (folder / "quickstart.ipynb").read_text(encoding="utf-8") == "{}"
    # the notebooks open ../examples/scenarios.yaml: the layout is kept
    assert (folder.parent / "examples" / "scenarios.yaml").is_file()
    assert "Copied the demo notebooks" in capsys.readouterr().out
    (folder / "quickstart.ipynb").write_text('{"edited": true}', encoding="utf-8")
    assert demo.demo_notebooks(data) == folder
    assert (folder / "quickstart.ipynb").read_text(encoding="utf-8") == '{"edited": true}'
    assert capsys.readouterr().out == ""  # nothing copied the second time
    assert demo.default_out(folder) == data / "demo" / "executed"


def test_demo_in_a_checkout_opens_the_checkout_notebooks() -> None:
    assert demo.in_checkout()
    assert demo.demo_notebooks() == demo.NOTEBOOKS_DIR
    assert demo.default_out(demo.NOTEBOOKS_DIR) == demo.REPO_ROOT / "artifacts" / "notebooks"


@pytest.mark.parametrize(
    ("execute", "module", "named"),
    [(False, "jupyterlab", "JupyterLab"), (True, "nbclient", "nbclient")],
)
def test_demo_without_the_notebook_extra_says_so_in_one_line(
    execute: bool,
    module: str,
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: an 18-line traceback ending in "No module named jupyter_server".
    monkeypatch.setitem(sys.modules, module, None)  # not installed
    args = argparse.Namespace(
        execute=execute, notebooks=None, out=None, port=0, no_browser=True, cell_timeout=60.0
    )
    assert demo.run(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"lume-widget demo needs {named}, which comes with the notebook extra: "
        "pip install 'lume-widget[notebook]'"
    )
