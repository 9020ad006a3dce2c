"""Start the reference server in a child process on 127.0.0.1, and switch its faults at run time.

The server runs in its own process so that its CPU time never counts as the client's
and the two can use both cores, as a real backend and a notebook kernel would. The
child (``benchmarks._serve``) prints one JSON line with its URL and credentials, then
runs until its stdin closes, so it cannot outlive the benchmark run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import Skip

log = logging.getLogger("benchmarks")

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0


@dataclasses.dataclass
class ServerHandle:
    """A running reference server: where it listens, who may log in, and its admin token."""

    url: str
    api_key: str
    email: str
    password: str
    admin_token: str
    process: asyncio.subprocess.Process | None = None
    stderr_task: asyncio.Task[None] | None = None

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def cpu_s(self) -> float | None:
        """CPU seconds the server's process has used so far (user and system); None unknown.

        Unknown without psutil (an optional dev dependency) or once the process is gone.
        """
        if self.process is None:
            return None
        try:
            import psutil
        except ImportError:
            return None
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return None
        return float(times.user + times.system)

    async def _admin(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10.0) as http:
            response = await http.request(
                method, "/admin/faults", json=body, headers={"X-Admin-Token": self.admin_token}
            )
        if response.status_code >= 400:
            raise RuntimeError(
                f"the reference server refused {method} /admin/faults with "
                f"{response.status_code}: {response.text[:200]}"
            )
        data: dict[str, Any] = response.json().get("data", {})
        return data

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Merge these faults into the active ones (``PUT /admin/faults``)."""
        return await self._admin("PUT", faults)

    async def clear_faults(self) -> dict[str, Any]:
        return await self._admin("DELETE")

    async def aclose(self) -> None:
        """Close the child's stdin (its signal to stop), then wait; kill it if it lingers."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), SHUTDOWN_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("reference server (pid %s) did not stop in time; killing it", process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if self.stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stderr_task, SHUTDOWN_TIMEOUT_S)


async def start_reference_server(**options: Any) -> ServerHandle:
    """Start ``benchmarks._serve`` with these options and wait for its address line.

    Options are passed through as JSON (``chunk_delay_ms``, ``faults``, ...). Raises
    :class:`Skip` when the reference server is not part of the tree yet.
    """
    options.setdefault("chunk_delay_ms", 0)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks._serve",
        json.dumps(options),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPOSITORY_ROOT,  # where both `benchmarks` and `lume_widget` import from
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT_S)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(
            f"the reference server did not start within {STARTUP_TIMEOUT_S:.0f} s"
        ) from None
    if not line:
        await process.wait()
        stderr = b""
        if process.stderr is not None:
            stderr = await process.stderr.read()
        message = stderr.decode(errors="replace").strip().splitlines()
        reason = message[-1] if message else f"exit status {process.returncode}"
        if process.returncode == _SKIP_EXIT_STATUS:
            raise Skip(reason)
        raise RuntimeError(f"the reference server failed to start: {reason}")
    info = json.loads(line)
    # Drain stderr in the background so a chatty server never blocks on a full pipe.
    stderr_task = None
    if process.stderr is not None:
        stderr_task = asyncio.get_running_loop().create_task(_drain(process.stderr))
    return ServerHandle(
        url=info["url"],
        api_key=info["api_key"],
        email=info["email"],
        password=info["password"],
        admin_token=info["admin_token"],
        process=process,
        stderr_task=stderr_task,
    )


_SKIP_EXIT_STATUS = 3


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass
