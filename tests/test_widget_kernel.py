"""The widget's comm messages in a real ipykernel, driven the way JupyterLab 4.6 drives it.

JupyterLab sends comm messages from a subshell of its own and deletes that subshell when
the page goes away; ipykernel 7 routes what the front end sends on a comm to the subshell
named in the parent of that comm's last message. A page reloaded mid-stream must still
reach the widget, so everything the widget sends is labelled for the main shell
(``latest_request_parent``). These tests talk to a real kernel over ZMQ with
jupyter_client and need no browser.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lume_widget.widget.runner import _on_main_shell, latest_request_parent

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

TIMEOUT_S = 30.0

ECHO_COMM = """
import comm, threading
from lume_widget.widget.runner import _on_main_shell, latest_request_parent
echo = comm.create_comm(target_name="lume-test-echo")
def _on_msg(msg):
    with latest_request_parent(echo):
        echo.send({"echo": msg["content"]["data"],
                   "main": threading.current_thread() is threading.main_thread()})
echo.on_msg(_on_msg)
print(echo.comm_id)
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    manager.start_kernel(extra_arguments=[])
    client = manager.blocking_client()
    client.start_channels()
    client.wait_for_ready(timeout=TIMEOUT_S)
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def supports_subshells(client: Any) -> bool:
    reply = client.kernel_info(reply=True, timeout=TIMEOUT_S)
    return "kernel subshells" in reply["content"].get("supported_features", [])


def control_request(client: Any, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
    """A request on the control channel (where subshells are created and deleted)."""
    msg = client.session.msg(msg_type, content)
    client.control_channel.send(msg)
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        reply: dict[str, Any] = client.get_control_msg(timeout=TIMEOUT_S)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return reply
    raise AssertionError(f"no reply to {msg_type}")


def execute(client: Any, code: str) -> str:
    """Run ``code`` and return what it printed."""
    msg_id = client.execute(code)
    out: list[str] = []
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT_S)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def send_from(client: Any, comm_id: str, data: dict[str, Any], subshell_id: str | None) -> None:
    """A comm message as JupyterLab sends it: the subshell it comes from is in its header."""
    msg = client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    msg["header"]["subshell_id"] = subshell_id
    client.shell_channel.send(msg)


def wait_for_echo(client: Any, comm_id: str, data: dict[str, Any], timeout_s: float) -> bool | None:
    """Whether the echo of ``data`` ran on the main thread; None when no echo came."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            return None
        content = msg["content"]
        ours = msg["msg_type"] == "comm_msg" and content.get("comm_id") == comm_id
        if ours and content["data"].get("echo") == data:
            return bool(content["data"]["main"])
    return None


def test_messages_from_a_deleted_subshell_page_still_reach_the_widget(kernel: Any) -> None:
    if not supports_subshells(kernel):
        pytest.skip("this ipykernel has no subshells (ipykernel < 7)")
    comm_id = execute(kernel, ECHO_COMM).strip()

    # the first page: its comm messages come from a subshell of its own
    first = control_request(kernel, "create_subshell_request", {})["content"]["subshell_id"]
    send_from(kernel, comm_id, {"n": 1}, first)
    assert wait_for_echo(kernel, comm_id, {"n": 1}, TIMEOUT_S) is True

    # the page is reloaded: its subshell is deleted, the new page has another one
    control_request(kernel, "delete_subshell_request", {"subshell_id": first})
    second = control_request(kernel, "create_subshell_request", {})["content"]["subshell_id"]
    send_from(kernel, comm_id, {"n": 2}, second)
    assert wait_for_echo(kernel, comm_id, {"n": 2}, TIMEOUT_S) is True, (
        "a message from the reloaded page was routed to the deleted subshell and lost"
    )
    # and a front end without subshells reaches it too
    send_from(kernel, comm_id, {"n": 3}, None)
    assert wait_for_echo(kernel, comm_id, {"n": 3}, TIMEOUT_S) is True


class FakeComm:
    """Just enough of a comm: a kernel with ipykernel's parent context variable."""

    def __init__(self, parent: Any) -> None:
        import contextvars

        variable = contextvars.ContextVar[Any]("shell_parent")
        variable.set(parent)
        self.kernel = type("Kernel", (), {})()
        self.kernel._shell_parent = variable
        self.kernel._shell_context = contextvars.copy_context()
        variable.set({"header": {"msg_id": "stale"}})  # what the task copied long ago


def test_latest_request_parent_labels_the_latest_request_on_the_main_shell() -> None:
    latest = {"header": {"msg_id": "now", "subshell_id": "gone"}, "content": {}}
    comm = FakeComm(latest)
    with latest_request_parent(comm):
        seen = comm.kernel._shell_parent.get()
        assert seen["header"] == {"msg_id": "now", "subshell_id": None}
    assert comm.kernel._shell_parent.get()["header"]["msg_id"] == "stale"
    assert latest["header"]["subshell_id"] == "gone", "the kernel's own parent is not changed"


def test_latest_request_parent_outside_a_kernel_does_nothing() -> None:
    with latest_request_parent(object()):
        pass
    comm = FakeComm(None)
    with latest_request_parent(comm):
        assert comm.kernel._shell_parent.get()["header"]["msg_id"] == "stale"


def test_on_main_shell_keeps_parents_without_a_subshell() -> None:
    plain = {"header": {"msg_id": "a"}}
    assert _on_main_shell(plain) is plain
    assert _on_main_shell({}) == {}
    assert _on_main_shell({"header": {"msg_id": "b", "subshell_id": "s"}})["header"] == {
        "msg_id": "b",
        "subshell_id": None,
    }


BLOCKING_CELL = """import asyncio, time
from lume_widget._loop import run_until_complete
started = time.monotonic()
run_until_complete(asyncio.get_running_loop(), asyncio.sleep({seconds}))
print("blocking cell done")"""


def collect_stdout(client: Any, msg_ids: list[str], timeout_s: float) -> dict[str, str]:
    """What each of ``msg_ids`` printed, waiting until each is idle (or the timeout passes)."""
    out = dict.fromkeys(msg_ids, "")
    idle: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while idle != set(msg_ids) and time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            continue
        parent = msg["parent_header"].get("msg_id")
        if parent not in out:
            continue
        if msg["msg_type"] == "stream":
            out[parent] += msg["content"]["text"]
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle.add(parent)
    return out


def test_a_cell_queued_behind_a_blocking_ask_still_runs(kernel: Any) -> None:
    """Run All: the next cell arrives while chat.ask() blocks the current one (nesting)."""
    first = kernel.execute(BLOCKING_CELL.format(seconds=1.0))
    time.sleep(0.3)
    second = kernel.execute("print('queued cell done')")
    out = collect_stdout(kernel, [first, second], TIMEOUT_S)
    assert "blocking cell done" in out[first]
    assert "queued cell done" in out[second], "the queued cell was lost"


def test_panel_messages_reach_the_kernel_while_a_cell_blocks_in_ask(kernel: Any) -> None:
    """The panel's Stop must be handled while chat.ask() blocks its cell, not lost."""
    comm_id = execute(kernel, ECHO_COMM).strip()
    cell = kernel.execute(BLOCKING_CELL.format(seconds=3.0))
    time.sleep(0.5)
    sent = time.monotonic()
    send_from(kernel, comm_id, {"stop": True}, None)
    assert wait_for_echo(kernel, comm_id, {"stop": True}, TIMEOUT_S) is True
    assert time.monotonic() - sent < 2.5, "handled only after the cell finished"
    assert "blocking cell done" in collect_stdout(kernel, [cell], TIMEOUT_S)[cell]
