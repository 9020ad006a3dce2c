"""What ``import lume_widget`` and its parts load, each in a fresh interpreter.

A user pays for what they use: the package alone loads no HTTP stack, the client loads
neither httpx's command-line client (rich, click, pygments) nor the evaluation's scenario
models, the panel loads neither the reference server's web stack nor the evaluation runner.
httpx's own command-line client still works in a process that imported lume_widget first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CLI = {"rich", "click", "pygments"}
SERVER = {"uvicorn", "starlette", "jwt"}
EVALUATION = {"pydantic", "lume_widget.evaluation.api", "lume_widget.evaluation.runner"}


def loaded_after(statement: str) -> set[str]:
    """The names in sys.modules after ``statement``, run fresh (a package's submodule always
    comes with the package itself)."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_imports_lean_package_loads_no_http_stack() -> None:
    loaded = loaded_after("import lume_widget")
    assert not loaded & {"httpx", "websockets", *CLI, *SERVER, "ipywidgets", "pydantic"}


def test_imports_lean_client_leaves_out_httpx_cli_and_the_evaluation() -> None:
    loaded = loaded_after("import lume_widget.client")
    assert {"httpx", "websockets"} <= loaded
    assert not loaded & (CLI | SERVER | EVALUATION | {"ipywidgets", "yaml"})


def test_imports_lean_panel_leaves_out_the_server_stack_and_the_runner() -> None:
    loaded = loaded_after("from lume_widget import ChatWidget")
    assert "anywidget" in loaded
    # (pygments comes with IPython, which the widget stack needs)
    assert not loaded & ((CLI - {"pygments"}) | SERVER | EVALUATION | {"yaml"})


def test_imports_lean_evaluation_package_loads_its_parts_on_first_use() -> None:
    loaded = loaded_after(
        "import lume_widget.evaluation as e\nassert 'evaluate' in dir(e)\nassert e.load_scenarios"
    )
    assert "lume_widget.evaluation.scenarios" in loaded
    assert "lume_widget.evaluation.api" not in loaded
    import lume_widget.evaluation

    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        lume_widget.evaluation.nonsense  # noqa: B018


def test_imports_lean_httpx_cli_still_runs_after_lume_widget() -> None:
    code = (
        "import sys, lume_widget.client, httpx\n"
        "assert 'rich' not in sys.modules\n"
        "sys.argv = ['httpx', '--help']\n"
        "httpx.main()\n"
    )
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: httpx" in done.stdout


def test_imports_lean_httpx_cli_module_is_the_real_one_once_used() -> None:
    loaded = loaded_after(
        "import sys, lume_widget.client\n"
        "from httpx._main import print_response\n"
        "import httpx._main as cli\n"
        "assert callable(print_response) and hasattr(cli, 'format_request_headers')\n"
        "assert type(sys.modules['httpx._main']).__name__ == 'module'"
    )
    assert "rich" in loaded


def test_imports_lean_httpx_imported_first_is_left_alone() -> None:
    loaded_after(
        "import httpx, sys\n"
        "real = sys.modules['httpx._main']\n"
        "import lume_widget.client\n"
        "assert sys.modules['httpx._main'] is real and httpx.main is real.main"
    )


def test_imports_lean_reference_server_loads_no_public_key_crypto() -> None:
    # Its tokens are HS256 only (made with hmac): the embedded server starts without them.
    loaded = loaded_after("import lume_widget.server.cli, lume_widget.server.runner")
    assert "starlette" in loaded
    assert not loaded & {"jwt", "cryptography", *CLI - {"click"}}
