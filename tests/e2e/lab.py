"""A throwaway JupyterLab for end-to-end tests: temp root and config, known token, loopback only.

Everything JupyterLab would read from or write to the user's home (config, runtime files,
workspaces, settings) is redirected into the temp folder, so a test never sees state left
by another run and leaves none behind; the news prompt is switched off so no toast covers
the notebook.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0


def lume_env(server: Any) -> dict[str, str]:
    """This process's environment plus the ``LUME_*`` settings that point kernels at ``server``
    (a running reference server)."""
    from lume_widget import defaults

    env = dict(os.environ)
    env.update(
        {
            defaults.ENV_URL: server.url,
            defaults.ENV_API_KEY: server.api_key,
            defaults.ENV_EMAIL: server.email,
            defaults.ENV_PASSWORD: server.password,
            defaults.ENV_ADMIN_TOKEN: server.admin_token,
        }
    )
    return env


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (JupyterLab is told not to retry)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_notebook(path: Path, sources: list[str]) -> Path:
    """A notebook with one code cell per source, python3 kernel, no outputs."""
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"cell-{index}",
            "metadata": {},
            "outputs": [],
            "source": source,
        }
        for index, source in enumerate(sources)
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


@dataclass
class Lab:
    """A running JupyterLab (``app == "lab"``) or Notebook 7 (``app == "notebook"``)."""

    base_url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    app: str = "lab"

    def notebook_url(self, name: str) -> str:
        if self.app == "notebook":
            return f"{self.base_url}notebooks/{name}?token={self.token}"
        return f"{self.base_url}lab/tree/{name}?reset&token={self.token}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call JupyterLab's REST API with the token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
        return json.loads(raw) if raw else None

    @property
    def settings_dir(self) -> Path:
        """Where this server's user settings live (JUPYTERLAB_SETTINGS_DIR)."""
        return self.root.parent / "jupyter" / "settings"

    def set_theme(self, theme: str | None) -> None:
        """Use ``theme`` ("JupyterLab Dark", say) in pages opened from now on; None: the default."""
        path = (
            self.settings_dir / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
        )
        if theme is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"theme": theme}), encoding="utf-8")

    def save_widget_state(self) -> None:
        """Save widget state with notebooks from pages opened from now on (the
        jupyterlab-manager setting, off by default in JupyterLab and Notebook 7)."""
        plugin = self.settings_dir / "@jupyter-widgets" / "jupyterlab-manager"
        plugin.mkdir(parents=True, exist_ok=True)
        (plugin / "plugin.jupyterlab-settings").write_text(
            json.dumps({"saveState": True}), encoding="utf-8"
        )

    def kernel_state(self, name: str) -> str | None:
        """The execution state of the kernel of the notebook ``name`` (None: no session yet)."""
        for session in self.api("GET", "api/sessions"):
            if session["path"].endswith(name) and session.get("kernel"):
                return str(session["kernel"].get("execution_state"))
        return None

    def wait_for_kernel_idle(self, name: str, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until the kernel of the notebook ``name`` is idle (Notebook 7 has no status bar)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.kernel_state(name) == "idle":
                return
            time.sleep(0.2)
        raise TimeoutError(f"the kernel of {name} was not idle within {timeout_s:.0f} s")

    def close_sessions(self, name: str) -> None:
        """Shut down the kernels of the notebook ``name`` (one still restarting may refuse:
        the server shuts it down when it stops)."""
        for session in self.api("GET", "api/sessions"):
            if session["path"].endswith(name):
                try:
                    self.api("DELETE", f"api/sessions/{session['id']}")
                except urllib.error.HTTPError as exc:
                    if exc.code != 500:
                        raise

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _quiet_settings(settings_dir: Path) -> None:
    """Switch off JupyterLab's news prompt and update checks."""
    target = settings_dir / "@jupyterlab" / "apputils-extension"
    target.mkdir(parents=True, exist_ok=True)
    (target / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )


def start_lab(workdir: Path, env: Mapping[str, str] | None = None, app: str = "lab") -> Lab:
    """Start JupyterLab (or Notebook 7, ``app="notebook"``) with ``workdir/root`` as its root;
    returns once it answers."""
    root = workdir / "root"
    home = workdir / "jupyter"
    for folder in (root, home / "config", home / "runtime", home / "data", home / "settings"):
        folder.mkdir(parents=True, exist_ok=True)
    _quiet_settings(home / "settings")
    token = secrets.token_hex(16)
    port = free_port()
    child_env = dict(os.environ if env is None else env)
    child_env.update(
        {
            "JUPYTER_TOKEN": token,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), child_env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    log_path = workdir / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab" if app == "lab" else "notebook",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
    ]
    if app == "lab":
        command.append("--LabApp.news_url=")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # containers often run tests as root
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=child_env, stdout=log, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}/", token, root, process, log_path, app)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{lab.log()[-3000:]}")
        try:
            lab.api("GET", "api/status")
            return lab
        except (OSError, urllib.error.URLError):
            time.sleep(0.25)
    lab.stop()
    raise RuntimeError(f"JupyterLab did not start in {START_TIMEOUT_S} s:\n{lab.log()[-3000:]}")
