"""Smoke test of an installed lume-widget, run by scripts/check_dist.sh in a clean virtualenv.

Checks what a new user does first after ``pip install lume-widget``, against the installed
package only (run it from outside the source tree): the import, the bundled front end and its
licences, ``lume-widget serve`` on a free port, ``lume-widget chat`` against that server, and a
``ChatWidget`` asked a question without a kernel, whose synced state holds the reply and no
credential; the demo notebooks in the package, and ``lume-widget demo`` without JupyterLab. Prints one line per check; exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

SERVE_START_TIMEOUT_S = 60.0


def check(what: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        raise SystemExit(1)


def lume_widget_command() -> str:
    script = Path(sys.executable).with_name("lume-widget")
    check("the lume-widget command is installed", script.is_file(), str(script))
    return str(script)


def start_server(command: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    server = subprocess.Popen(
        [command, "serve", "--port", "0", "--db", ":memory:"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    seen: list[str] = []
    found: dict[str, str] = {}
    deadline = time.monotonic() + SERVE_START_TIMEOUT_S
    while time.monotonic() < deadline and "password" not in found:
        line = server.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(r"base URL\s+(http://\S+)", line):
            found["url"] = match[1]
        if match := re.search(r"API key\s+(\S+)", line):
            found["api_key"] = match[1]
        if match := re.search(r"demo user\s+(\S+) / (\S+)", line):
            found["email"], found["password"] = match[1], match[2]
    ok = {"url", "api_key", "password"} <= found.keys()
    check("lume-widget serve prints its address", ok, found.get("url", "".join(seen[-5:]).strip()))
    return server, found


def check_demo_without_jupyterlab(command: str) -> None:
    """Without the notebook extra, ``lume-widget demo`` says what to install in one line."""
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is not None:
        print("skip lume-widget demo without JupyterLab: JupyterLab is installed here")
        return
    demo = subprocess.run([command, "demo"], capture_output=True, text=True, timeout=60)
    said = demo.stderr.strip()
    ok = demo.returncode == 2 and len(said.splitlines()) == 1 and "[notebook]" in said
    check("lume-widget demo without JupyterLab: one line", ok, said)


def main() -> int:
    import lume_widget

    package_dir = Path(lume_widget.__file__).parent
    check("import lume_widget", True, f"{lume_widget.__version__} from {package_dir}")
    prefix = Path(sys.prefix).resolve()
    check(
        "imported from the installed package", prefix in package_dir.resolve().parents, str(prefix)
    )
    for name in ("widget.js", "widget.css", "THIRD_PARTY_LICENSES.txt"):
        path = package_dir / "static" / name
        check(f"static/{name} ships", path.is_file() and path.stat().st_size > 0)

    demo = package_dir / "_demo"
    check("the demo notebooks ship", (demo / "notebooks" / "quickstart.ipynb").is_file())
    check("the example scenarios ship", (demo / "examples" / "scenarios.yaml").is_file())

    command = lume_widget_command()
    check_demo_without_jupyterlab(command)
    server, backend = start_server(command)
    try:
        env = dict(os.environ)
        env.update(
            LUME_URL=backend["url"],
            LUME_API_KEY=backend["api_key"],
            LUME_EMAIL=backend["email"],
            LUME_PASSWORD=backend["password"],
        )
        chat = subprocess.run(
            [command, "chat", "--json", "--persona", "nutritionist", "What should I eat?"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        check("lume-widget chat exits 0", chat.returncode == 0, chat.stderr.strip()[-400:])
        turn = json.loads(chat.stdout.strip().splitlines()[-1])
        check("lume-widget chat gets a reply", bool(turn.get("reply")), f"tier {turn.get('tier')}")

        from lume_widget import ChatWidget

        widget = ChatWidget(
            backend["url"],
            persona="fitness_coach",
            api_key=backend["api_key"],
            email=backend["email"],
            password=backend["password"],
        )
        reply = widget.ask("A 20-minute workout?")
        check("ChatWidget.ask without a kernel", bool(reply.text), f"{reply.chunks} chunks")
        # What a saved notebook holds: every widget model's state (the panel's finished
        # messages live in small block models it references, docs/widget-protocol.md).
        from ipywidgets import Widget

        state = json.dumps(Widget.get_manager_state()["state"], default=str)
        check("the reply is in the saved widget state", reply.text[:40] in state)
        leaked = [k for k in ("api_key", "password") if backend[k] in state]
        check("no credential in the widget's state", not leaked, ", ".join(leaked))
        esm = str(widget.get_state().get("_esm", ""))
        check("the widget carries the built bundle", len(esm) > 10_000, f"{len(esm):,} characters")
        widget.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
