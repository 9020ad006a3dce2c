"""Start: the imports a user waits for, and ``ChatWidget()`` on the embedded server to a connected panel.

Every figure comes from a fresh interpreter (``python -c``), one per run, with the sides
interleaved run by run (the order rotating) so that drift on a shared machine hits them
alike. Bytecode caching is on in the children, as in an installed package, and each case
runs once unmeasured first (it writes the caches and warms the disk).

- Imports: the time of the ``import`` statement itself (the interpreter's own start is not
  counted), ours next to the peer a user would otherwise load, ``import httpx, websockets``,
  and next to the floor the client cannot go below, httpx without its command-line module
  plus ``websockets.asyncio.client`` (what the client runs on). The modules of httpx's
  command-line client (rich, click, pygments) that each side loads are counted too.
- ``ChatWidget()`` to connected: from the call to the panel's status ``connected`` (server
  started, logged in, consultation opened, live socket up), in one data directory that the
  warm-up run fills (as on a user's second and later starts). Its floor does the same work
  with nothing on top: the same embedded server, then bare httpx (log in, create a
  consultation) and bare websockets (open the socket, read its ``connected`` frame).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.common import Row, Skip, Target, row, skipped_row
from benchmarks.context import Context, require_module

NAME = "start"
CLI_PACKAGES = ("rich", "click", "pygments")
CONNECTED_TIMEOUT_S = 60.0
CHILD_TIMEOUT_S = 120.0

# Each child prints one JSON line: the seconds measured, and which top-level packages it loaded.
_REPORT = (
    "import json, sys\n"
    "print(json.dumps({'s': _s, 'packages': sorted({m.partition('.')[0] for m in sys.modules})}))\n"
)


def _import_child(statement: str, *, prelude: str = "") -> str:
    return (
        "import time\n"
        f"{prelude}"
        "_t = time.perf_counter()\n"
        f"{statement}\n"
        "_s = time.perf_counter() - _t\n" + _REPORT
    )


# The floor: httpx's package without its command-line module (``httpx/__init__.py`` only
# offers ``httpx.main`` from it), then the WebSocket client the client runs on.
_NO_CLI = (
    "import sys, types\n"
    "_cli = types.ModuleType('httpx._main')\n"
    "_cli.main = lambda *a, **k: None\n"
    "sys.modules['httpx._main'] = _cli\n"
)
IMPORTS: dict[str, str] = {
    "lume_widget.client": _import_child("import lume_widget.client"),
    "lume_widget": _import_child("import lume_widget"),
    "peer": _import_child("import httpx, websockets"),
    "floor": _import_child("import httpx, websockets.asyncio.client", prelude=_NO_CLI),
    "ChatWidget": _import_child("from lume_widget import ChatWidget"),
    "anywidget": _import_child("import anywidget"),
}

_OURS_CONNECTED = f"""
import time
from lume_widget import ChatWidget
_t = time.perf_counter()
w = ChatWidget()
while w.status != "connected":
    if time.perf_counter() - _t > {CONNECTED_TIMEOUT_S}:
        raise SystemExit(f"no connected status: {{w.status}} {{w.error!r}}")
    time.sleep(0.001)
_s = time.perf_counter() - _t
w.close()
"""

_FLOOR_CONNECTED = f"""
import asyncio, json, time
import httpx, websockets
from lume_widget.embedded import embedded_server

async def connected():
    server = embedded_server()
    async with httpx.AsyncClient(base_url=server.url, headers={{"X-API-Key": server.api_key}}) as http:
        login = await http.post("/api/v1/auth/login", json={{"email": server.email, "password": server.password}})
        token = login.json()["data"]["access_token"]
        auth = {{"Authorization": f"Bearer {{token}}"}}
        made = await http.post("/api/v1/consultations", json={{"persona": "general_wellness"}}, headers=auth)
        data = made.json()["data"]
        cid = data.get("consultation", data)["id"]
        url = f"{{server.ws_url}}/api/v1/consultations/{{cid}}/ws?token={{token}}"
        async with websockets.connect(url, additional_headers={{"X-API-Key": server.api_key}}) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), {CONNECTED_TIMEOUT_S}))
            assert frame["type"] == "connected", frame
            done = time.perf_counter()
        await http.delete(f"/api/v1/consultations/{{cid}}", headers=auth)
    return done

_t = time.perf_counter()
_s = asyncio.run(connected()) - _t
"""

CONNECTED: dict[str, str] = {
    "ChatWidget()": _OURS_CONNECTED + _REPORT,
    "floor": _FLOOR_CONNECTED + _REPORT,
}


def _child_env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # The embedded server's defaults: no backend named, the data in this run's own folder.
    for name in ("LUME_URL", "LUME_API_KEY", "LUME_EMAIL", "LUME_PASSWORD", "LUME_TOKEN"):
        env.pop(name, None)
    env["LUME_DATA_DIR"] = data_dir
    return env


def _run_child(code: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"a start child failed ({done.returncode}): {(done.stderr or done.stdout)[-300:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _interleaved(
    cases: dict[str, str], rounds: int, env: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Every case once unmeasured, then ``rounds`` rounds, the order rotating each round."""
    names = list(cases)
    for name in names:
        _run_child(cases[name], env)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index in range(rounds):
        turn = index % len(names)
        for name in names[turn:] + names[:turn]:
            runs[name].append(_run_child(cases[name], env))
    return runs


def _median_ms(runs: list[dict[str, Any]]) -> float:
    return 1000.0 * statistics.median(r["s"] for r in runs)


def _cli_modules(runs: list[dict[str, Any]]) -> list[str]:
    return sorted({p for r in runs for p in r["packages"] if p in CLI_PACKAGES})


def _import_rows(runs: dict[str, list[dict[str, Any]]], rounds: int) -> list[Row]:
    ms = {name: _median_ms(found) for name, found in runs.items()}
    ours_cli = _cli_modules(runs["lume_widget.client"]) + _cli_modules(runs["lume_widget"])
    peer_cli = _cli_modules(runs["peer"])
    if not peer_cli:
        raise RuntimeError("the peer loaded no module of httpx's command-line client: check it")
    note = f"median of {rounds} fresh interpreters each"
    return [
        row(
            NAME,
            "import lume_widget.client",
            "ms",
            ms["lume_widget.client"],
            ms["peer"],
            reference_name="import httpx, websockets",
            target=Target("info"),
            note=note,
        ),
        row(
            NAME,
            "import lume_widget.client vs its floor",
            "ms",
            ms["lume_widget.client"],
            ms["floor"],
            reference_name="httpx without its CLI + websockets.asyncio.client",
            target=Target("info"),
            note="the rest is the client's own modules",
        ),
        row(
            NAME,
            "import lume_widget",
            "ms",
            ms["lume_widget"],
            ms["peer"],
            reference_name="import httpx, websockets",
            target=Target("info"),
            note=note,
        ),
        row(
            NAME,
            "httpx CLI packages loaded by lume_widget",
            "packages",
            len(ours_cli),
            len(peer_cli),
            reference_name=f"import httpx ({', '.join(peer_cli)})",
            target=Target("ours_at_most", 0),
            note=", ".join(ours_cli) or "none",
        ),
        row(
            NAME,
            "from lume_widget import ChatWidget",
            "ms",
            ms["ChatWidget"],
            ms["anywidget"],
            reference_name="import anywidget",
            target=Target("info"),
            note=note,
        ),
    ]


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    require_module("lume_widget.widget", "the chat widget")
    import_rounds = ctx.size(20, 3)
    connect_rounds = ctx.size(10, 2)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lume-bench-start-") as data_dir:
        env = _child_env(data_dir)
        ctx.note(f"imports: {len(IMPORTS)} cases x {import_rounds} fresh interpreters")
        imports = _interleaved(IMPORTS, import_rounds, env)
        ctx.note(f"ChatWidget() to connected: 2 cases x {connect_rounds} fresh interpreters")
        connected = _interleaved(CONNECTED, connect_rounds, env)
    rows = _import_rows(imports, import_rounds)
    ours = [1000.0 * r["s"] for r in connected["ChatWidget()"]]
    floor = [1000.0 * r["s"] for r in connected["floor"]]
    rows.append(
        row(
            NAME,
            "ChatWidget() to connected (embedded server)",
            "ms",
            statistics.median(ours),
            statistics.median(floor),
            reference_name="server start + bare login, open, socket",
            target=Target("ratio_at_most", 1.25),
            note=f"median of {connect_rounds}; ours {min(ours):.0f}-{max(ours):.0f} ms",
        ),
    )
    browser: dict[str, Any] = {}
    rows.extend(await _browser_rows(ctx, browser))
    parameters = {
        "browser": browser,
        "import_rounds": import_rounds,
        "connect_rounds": connect_rounds,
        "seconds": round(time.perf_counter() - started, 1),
        "import_ms": {k: [round(1000 * r["s"], 1) for r in v] for k, v in imports.items()},
        "connected_ms": {
            "ChatWidget()": [round(v, 1) for v in ours],
            "floor": [round(v, 1) for v in floor],
        },
    }
    return rows, parameters


BROWSER_FIGURES = (
    "in JupyterLab: ChatWidget() cell to the panel's first frame",
    "in JupyterLab: ChatWidget() cell to the connected badge",
)


async def _browser_rows(ctx: Context, found: dict[str, Any]) -> list[Row]:
    """The same start seen in the browser (benchmarks/start_browser.py); full runs only."""
    if ctx.quick:
        why = "full runs only (JupyterLab's own start would take most of --quick)"
        return [skipped_row(NAME, figure, why) for figure in BROWSER_FIGURES]
    import asyncio

    from benchmarks import start_browser

    rounds = 3
    ctx.note(f"in JupyterLab: 2 cases x {rounds} fresh kernels")
    try:
        found.update(await asyncio.to_thread(start_browser.measure, rounds))
    except Skip as exc:
        return [skipped_row(NAME, figure, str(exc)) for figure in BROWSER_FIGURES]
    except Exception as exc:  # the other figures stand; this one says why it has none
        why = f"failed with {type(exc).__name__}: {exc}".replace("\n", " ")[:200]
        return [skipped_row(NAME, figure, why) for figure in BROWSER_FIGURES]
    peer = "IntSlider() cell to its first frame"
    note = f"median of {rounds} fresh kernels each, clock from Shift+Enter"
    return [
        row(
            NAME,
            BROWSER_FIGURES[0],
            "ms",
            found["first_frame_ms"],
            found["peer_first_frame_ms"],
            reference_name=peer,
            note=note,
        ),
        row(
            NAME,
            BROWSER_FIGURES[1],
            "ms",
            found["connected_ms"],
            found["peer_first_frame_ms"],
            reference_name=peer,
            note=note,
        ),
    ]
