"""The chain of message blocks (docs/widget-protocol.md): a turn costs O(1) on the channel.

The chain's rules without a kernel (which blocks open, close and relink for each change of
the panel's messages), then the same over a real comm: a real ipykernel runs a ChatWidget
against a reference server on loopback, a client plays the front end (its ``sync_request``),
and the bytes of one turn's comm messages are counted fresh and after 100 earlier messages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_widget_kernel import kernel
from test_widget_ratings import credentials

from lume_widget.server import ReferenceServer
from lume_widget.widget.blocks import BLOCK_MESSAGES, BlockChain, MessageBlock


def message(i: int, role: str = "user", content: str | None = None) -> dict[str, Any]:
    return {
        "id": f"m{i}",
        "role": role,
        "content": content if content is not None else f"text {i}",
        "created_at": "2026-03-02T09:15:00+00:00",
        "status": "complete",
        "metrics": None,
    }


class Recorder:
    def __init__(self) -> None:
        self.newest: MessageBlock | None = None
        self.sent: list[dict[str, Any]] = []
        self.chain = BlockChain(self.set_newest, record=self.sent.append)

    def set_newest(self, block: MessageBlock | None) -> None:
        self.newest = block

    def walked(self) -> list[dict[str, Any]]:
        """The messages a front end gets by walking from ``newest`` back through ``previous``."""
        out: list[dict[str, Any]] = []
        block = self.newest
        while block is not None:
            out[:0] = block.messages
            block = block.previous
        return out

    def methods(self) -> list[str]:
        return [str(m["method"]) for m in self.sent]


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.chain.close()


def test_blocks_a_turn_opens_one_block_of_its_own_messages(rec: Recorder) -> None:
    history = [message(i) for i in range(250)]
    rec.chain.sync(history)
    assert [len(b.messages) for b in rec.chain.blocks] == [BLOCK_MESSAGES, BLOCK_MESSAGES, 50]
    rec.sent.clear()
    turn = [message(900), message(901, "assistant")]
    rec.chain.sync([*history, *turn])
    assert rec.methods() == ["open"], "one block opens; nothing else is sent"
    assert rec.sent[0]["state"]["messages"] == turn
    assert rec.walked() == [*history, *turn]


def test_blocks_removing_the_last_message_closes_only_its_block(rec: Recorder) -> None:
    history = [message(i) for i in range(10)]
    unsent = {**message(10), "status": "unsent"}
    rec.chain.sync(history)
    rec.chain.sync([*history, unsent])
    rec.sent.clear()
    rec.chain.sync(history)
    assert rec.methods() == ["close"]
    assert rec.walked() == history


def test_blocks_dropping_the_oldest_closes_them_and_unlinks_the_new_oldest(rec: Recorder) -> None:
    history = [message(i) for i in range(200)]
    rec.chain.sync(history)
    rec.sent.clear()
    rec.chain.sync(history[100:])
    assert sorted(rec.methods()) == ["close", "update"], "the new oldest block's previous is null"
    assert rec.chain.blocks[0].previous is None
    assert rec.walked() == history[100:]


def test_blocks_an_older_page_opens_one_block_before_the_oldest(rec: Recorder) -> None:
    history = [message(i) for i in range(300)]
    rec.chain.sync(history[100:])
    rec.sent.clear()
    rec.chain.sync(history)
    assert sorted(rec.methods()) == ["open", "update"]
    assert rec.walked() == history


def test_blocks_a_streamed_reply_leaves_its_text_out_of_the_open_only(rec: Recorder) -> None:
    reply = message(1, "assistant", "a long streamed reply")
    rec.chain.sync([message(0), reply], {"m1": ("turn1", 7)})
    opened = rec.sent[-1]["state"]["messages"]
    assert opened[1]["content"] is None
    assert (opened[1]["turn_id"], opened[1]["seq"]) == ("turn1", 7)
    assert opened[0]["content"] == "text 0"
    block = rec.chain.blocks[-1]
    assert block.messages[1]["content"] == "a long streamed reply", "Python keeps the text"
    assert block.get_state()["messages"][1]["content"] == "a long streamed reply"
    rec.sent.clear()
    rec.chain.resend(block.model_id)
    assert rec.sent[-1]["method"] == "update"
    assert rec.sent[-1]["state"]["messages"][1]["content"] == "a long streamed reply"


def test_blocks_replacing_the_list_rebuilds_the_chain(rec: Recorder) -> None:
    rec.chain.sync([message(i) for i in range(5)])
    other = [message(i + 50) for i in range(3)]
    rec.chain.sync(other)
    assert rec.walked() == other
    assert len(rec.chain.blocks) == 1


# -- over a real comm ---------------------------------------------------------------

TIMEOUT_S = 60.0
__all__ = ["kernel"]  # fixture


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    from lume_widget.server import ServerConfig

    server = ReferenceServer(ServerConfig(chunk_delay_ms=0)).start()
    yield server
    server.stop()


def run(client: Any, code: str) -> tuple[str, list[dict[str, Any]]]:
    """Run ``code``; what it printed and the comm messages labelled with it."""
    msg_id = client.execute(code)
    out: list[str] = []
    comms: list[dict[str, Any]] = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=TIMEOUT_S)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif kind in ("comm_open", "comm_msg", "comm_close"):
            comms.append(msg)
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out), comms
    raise AssertionError("the cell did not finish")


def as_view(client: Any, comm_id: str) -> None:
    """What a front end's view sends when it starts."""
    data = {"method": "custom", "content": {"type": "sync_request"}}
    client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))


def data_bytes(messages: list[dict[str, Any]]) -> int:
    return sum(
        len(json.dumps(m["content"].get("data", {}), ensure_ascii=False).encode()) for m in messages
    )


def open_panel(client: Any, server: ReferenceServer, name: str, persona: str) -> str:
    creds = {"url": server.url, **credentials(server)}
    out, _ = run(
        client,
        f"from lume_widget.widget import ChatWidget\n"
        f"{name} = ChatWidget(persona={persona!r}, **{creds!r})\n"
        f"{name}.wait_ready()\nprint({name}.model_id)",
    )
    return out.strip()


def test_blocks_a_turn_after_100_messages_costs_what_a_fresh_turn_costs(
    kernel: Any, server: ReferenceServer
) -> None:
    fresh_id = open_panel(kernel, server, "fresh", "nutritionist")
    long_id = open_panel(kernel, server, "longer", "fitness_coach")
    run(kernel, "for _ in range(50):\n    longer.ask('/long 3')")
    for comm_id in (fresh_id, long_id):
        as_view(kernel, comm_id)
    out, _ = run(kernel, "import time; time.sleep(0.3); print(len(longer.messages))")
    assert int(out) >= 100
    _, fresh = run(kernel, "r = fresh.ask('/long 400')")
    _, longer = run(kernel, "r = longer.ask('/long 400')")
    fresh_bytes, longer_bytes = data_bytes(fresh), data_bytes(longer)
    print(f"\n[channel] one turn: {fresh_bytes} B fresh, {longer_bytes} B after 100 messages")
    assert longer_bytes <= 1.1 * fresh_bytes, "a turn must not re-send the history"
    opened = [m for m in longer if m["msg_type"] == "comm_open"]
    assert len(opened) == 1, "the turn opens one block"
    reply = opened[0]["content"]["data"]["state"]["messages"][-1]
    assert reply["content"] is None, "the view holds the streamed text: not sent again"
    out, _ = run(kernel, "print(longer.messages[-1]['content'] == r.text)")
    assert out.strip() == "True", "Python's messages keep the text"
    run(kernel, "fresh.close(); longer.close()")
