"""``lume-widget demo``: the demo notebooks in JupyterLab, chatting with the embedded reference server.

One reference server is started for the whole demo and every kernel reaches it through
the ``LUME_*`` environment variables, so all notebooks share one backend (goals and
consultations made in one are seen in the others). JupyterLab listens on 127.0.0.1 only
and keeps its token: on a shared machine another local user could otherwise open the
notebooks and run code as you. The URL printed (and opened) carries the token.

``--execute`` runs every demo notebook headless instead (nbclient, widget state stored),
checks each saved file for the demo's credentials, reports pass or fail per notebook and
exits non-zero when any failed.

The notebooks come from the source checkout's ``notebooks/`` when there is one. An installed
wheel carries them (with ``examples/``) in ``lume_widget/_demo/``; the demo copies them once
into the user's data folder (``~/.local/share/lume_widget/demo``, or ``$LUME_DATA_DIR/demo``),
never overwriting a copy the user has edited, and opens them there. Without JupyterLab (the
``[notebook]`` extra) it says so in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lume_widget import defaults
from lume_widget.errors import ConfigurationError, LumeError

__all__ = ["configure", "run"]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
"""The demo notebooks of a source checkout."""
PACKAGED_DEMO = Path(__file__).resolve().parent / "_demo"
"""Where a wheel carries the demo: ``notebooks/`` and ``examples/`` (pyproject's force-include)."""
FIRST_NOTEBOOK = "quickstart.ipynb"
LAB_START_TIMEOUT_S = 120.0
NEEDS_NOTEBOOK_EXTRA = (
    "lume-widget demo needs {what}, which comes with the notebook extra: "
    "pip install 'lume-widget[notebook]'"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=8888, help="JupyterLab's port on 127.0.0.1 (0: any free port)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL instead of opening a browser"
    )
    parser.add_argument(
        "--execute",
        action="store_true",
        help="run every demo notebook headless, store widget state, report pass/fail",
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="folder of the demo notebooks (default: the checkout's notebooks/, or the copy of "
        "the installed package's in the data folder)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where --execute writes the executed notebooks (default: artifacts/notebooks in "
        "a checkout, else executed/ beside the notebooks)",
    )
    parser.add_argument(
        "--cell-timeout", type=float, default=180.0, help="seconds a cell may run (--execute)"
    )


def run(args: argparse.Namespace) -> int:
    missing = missing_requirement(execute=args.execute)
    if missing is not None:
        print(NEEDS_NOTEBOOK_EXTRA.format(what=missing), file=sys.stderr)
        return 2
    notebooks = Path(args.notebooks).resolve() if args.notebooks else demo_notebooks()
    if notebooks is None or not (notebooks / FIRST_NOTEBOOK).is_file():
        where = notebooks or PACKAGED_DEMO
        print(
            f"lume-widget demo: no demo notebooks in {where}; pass --notebooks FOLDER (a folder "
            f"with {FIRST_NOTEBOOK}).",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out) if args.out else default_out(notebooks)
    # `kill` (SIGTERM) stops the demo as cleanly as Ctrl-C: JupyterLab and the server too.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        with demo_backend() as backend:
            if args.execute:
                return execute_notebooks(
                    notebooks, out.resolve(), backend, cell_timeout=args.cell_timeout
                )
            return serve_lab(notebooks, backend, port=args.port, open_browser=not args.no_browser)
    except LumeError as exc:
        print(f"lume-widget demo: {exc}", file=sys.stderr)
        return 1


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def missing_requirement(*, execute: bool) -> str | None:
    """What the demo needs that is not installed (JupyterLab, or nbclient for --execute)."""
    needed = ("nbclient", "nbformat", "ipykernel") if execute else ("jupyterlab", "ipykernel")
    names = {"jupyterlab": "JupyterLab", "ipykernel": "ipykernel", "nbclient": "nbclient"}
    for module in needed:
        if importlib.util.find_spec(module) is None:
            return names.get(module, module)
    return None


def in_checkout() -> bool:
    """Whether lume_widget runs from a source checkout (its notebooks/ beside the package)."""
    return (NOTEBOOKS_DIR / FIRST_NOTEBOOK).is_file()


def demo_notebooks(data_dir: Path | None = None) -> Path | None:
    """The folder of demo notebooks to open: the checkout's, or a copy of the package's.

    The copy lives in ``<data dir>/demo`` with the layout the notebooks expect
    (``notebooks/`` beside ``examples/``); files already there are kept as the user left them.
    """
    if in_checkout():
        return NOTEBOOKS_DIR
    if not (PACKAGED_DEMO / "notebooks" / FIRST_NOTEBOOK).is_file():
        return None
    if data_dir is None:
        from lume_widget.server.config import default_data_dir

        data_dir = default_data_dir()
    target = data_dir / "demo"
    copied = 0
    for source in sorted(PACKAGED_DEMO.rglob("*")):
        destination = target / source.relative_to(PACKAGED_DEMO)
        if source.is_file() and not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            copied += 1
    if copied:
        print(f"Copied the demo notebooks to {target} (your edits there are kept).")
    return target / "notebooks"


def default_out(notebooks: Path) -> Path:
    """Where ``--execute`` writes: artifacts/notebooks in a checkout, else beside the notebooks."""
    if in_checkout():
        return REPO_ROOT / "artifacts" / "notebooks"
    return notebooks.parent / "executed"


# -- the backend ----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoBackend:
    """The embedded server's address and credentials, handed to kernels as environment."""

    url: str
    api_key: str
    email: str
    password: str
    admin_token: str

    def __repr__(self) -> str:
        return f"DemoBackend(url={self.url!r}, credentials hidden)"

    def environment(self) -> dict[str, str]:
        """The process environment for kernels: ``LUME_*`` plus an importable package."""
        env = dict(os.environ)
        env[defaults.ENV_URL] = self.url
        env[defaults.ENV_API_KEY] = self.api_key
        env[defaults.ENV_EMAIL] = self.email
        env[defaults.ENV_PASSWORD] = self.password
        env[defaults.ENV_ADMIN_TOKEN] = self.admin_token
        env.pop(defaults.ENV_TOKEN, None)
        # A source checkout that is not pip-installed still imports in the kernels.
        if in_checkout():
            path = env.get("PYTHONPATH", "")
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), path) if p)
        return env

    def secrets(self) -> list[str]:
        """Values that must never appear in a saved notebook."""
        values = [self.api_key, self.password, self.admin_token]
        return [v for v in values if v]

    @classmethod
    def of(cls, server: Any) -> DemoBackend:
        """From anything with ``url``, ``api_key``, ``email``, ``password``, ``admin_token``."""
        return cls(
            url=str(server.url),
            api_key=str(server.api_key),
            email=str(server.email),
            password=str(server.password),
            admin_token=str(server.admin_token),
        )


@contextlib.contextmanager
def demo_backend() -> Iterator[DemoBackend]:
    """The embedded reference server for the demo, stopped on exit."""
    from lume_widget.embedded import embedded_server, stop_embedded_server

    try:
        yield DemoBackend.of(embedded_server())
    finally:
        stop_embedded_server()


# -- JupyterLab -------------------------------------------------------------------------


def lab_command(root: Path, port: int) -> list[str]:
    """The JupyterLab command line (the token travels in the environment, not in argv)."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}",
        "--ServerApp.open_browser=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # containers often run as root
    return command


def wait_for_lab(process: subprocess.Popen[bytes], token: str, timeout: float) -> str:
    """Wait until the JupyterLab started as ``process`` answers; returns its base URL."""
    from jupyter_server.serverapp import list_running_servers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(
                f"JupyterLab exited with status {process.returncode} before it was ready; "
                "see its log above (is the port in use? try --port 0)."
            )
        for info in list_running_servers():
            if info.get("pid") != process.pid:
                continue
            base = f"http://127.0.0.1:{info['port']}{info.get('base_url', '/')}"
            request = urllib.request.Request(
                base + "api/status", headers={"Authorization": f"token {token}"}
            )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(request, timeout=2) as answer,
            ):
                if answer.status == 200:
                    return base
        time.sleep(0.2)
    raise ConfigurationError(
        f"JupyterLab did not answer within {timeout:.0f} s; see its log above."
    )


def serve_lab(root: Path, backend: DemoBackend, *, port: int, open_browser: bool) -> int:
    """Run JupyterLab on the demo notebooks until interrupted."""
    started = time.monotonic()
    token = secrets.token_urlsafe(24)
    env = backend.environment()
    env["JUPYTER_TOKEN"] = token
    print(f"Reference server: {backend.url} (embedded, stops with the demo)")
    print("Starting JupyterLab...")
    process = subprocess.Popen(lab_command(root, port), env=env)
    try:
        base = wait_for_lab(process, token, LAB_START_TIMEOUT_S)
        url = f"{base}lab/tree/{FIRST_NOTEBOOK}?token={token}"
        print(f"JupyterLab is ready after {time.monotonic() - started:.1f} s. Open:\n\n    {url}\n")
        print("Run the first cell, type in the chat panel and press Enter. Ctrl-C stops the demo.")
        if open_browser and not webbrowser.open(url):
            print("(No browser could be opened here; copy the URL above into one.)")
        return process.wait()
    except KeyboardInterrupt:
        print("\nStopping JupyterLab...")
        return 0
    finally:
        _stop_process(process)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- headless execution -------------------------------------------------------------------


@dataclass(frozen=True)
class NotebookResult:
    """How one notebook fared under ``--execute``."""

    name: str
    ok: bool
    seconds: float
    detail: str
    output: Path | None


def execute_notebook(
    path: Path, out_dir: Path, env: Mapping[str, str], *, cell_timeout: float
) -> Path:
    """Run ``path`` top to bottom with widget state stored; returns the saved copy."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        timeout=int(cell_timeout),
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    try:
        client.execute(env=dict(env))
    finally:  # a failed run is saved too, with the error in its cell
        nbformat.write(notebook, target)  # type: ignore[no-untyped-call]
    return target


def find_secrets(path: Path, secret_values: list[str]) -> list[str]:
    """Which of ``secret_values`` occur in the file (reported by position, never by value)."""
    text = path.read_text(encoding="utf-8")
    return [f"secret #{i + 1}" for i, value in enumerate(secret_values) if value and value in text]


def execute_notebooks(
    folder: Path, out_dir: Path, backend: DemoBackend, *, cell_timeout: float
) -> int:
    """Run every notebook in ``folder`` (quick start first); 0 when all passed."""
    paths = sorted(folder.glob("*.ipynb"), key=lambda p: (p.name != FIRST_NOTEBOOK, p.name))
    env = backend.environment()
    results: list[NotebookResult] = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        started = time.monotonic()
        try:
            saved = execute_notebook(path, out_dir, env, cell_timeout=cell_timeout)
        except Exception as exc:
            partial = out_dir / path.name
            output = partial if partial.is_file() else None
            elapsed = time.monotonic() - started
            results.append(NotebookResult(path.name, False, elapsed, _first_line(exc), output))
            continue
        leaked = find_secrets(saved, backend.secrets())
        detail = f"credentials found in the saved file: {', '.join(leaked)}" if leaked else ""
        results.append(
            NotebookResult(path.name, not leaked, time.monotonic() - started, detail, saved)
        )
    print()
    for result in results:
        verdict = "PASS" if result.ok else "FAIL"
        where = f" -> {result.output}" if result.output else ""
        print(f"{verdict}  {result.name:<32} {result.seconds:6.1f} s{where}")
        if result.detail:
            print(f"      {result.detail}")
    failed = sum(not r.ok for r in results)
    print(f"\n{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _first_line(exc: BaseException) -> str:
    """A one-line summary of a notebook failure (nbclient errors carry the cell and traceback)."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", None)
    if evalue is None:
        evalue = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{ename}: {evalue}"
