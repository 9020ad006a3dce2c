"""Widget channel cost: comm messages per second and bytes per reply character, ours vs panel's ChatFeed.

Both widgets stream the same chunks (the reference server's ``/long N`` reply). Ours
is a ChatWidget fed by the client over loopback; its comm sends are recorded while the
reply streams. The peer is panel's ``ChatFeed`` rendered headless into a Bokeh
document whose comm records the same way (see :mod:`benchmarks.peers`). The Jupyter
server drops output above 1000 messages/s, so a widget should stay far below that:
the target leaves room for 30 widgets streaming at once.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Row, Skip, Target, row
from benchmarks.context import Context, require_module
from benchmarks.floor import FloorSocket, RawApi
from benchmarks.ours import client_turn, close_chat, close_client, open_chat, open_client
from benchmarks.peers import ChannelCount, panel_chatfeed_stream
from benchmarks.server import ServerHandle
from benchmarks.widget_side import widget_turn

NAME = "channel"
MESSAGES_PER_S_TARGET = Target("ours_at_most", 30.0)
BYTES_PER_CHAR = 1.1
BYTES_PER_FLUSH = 200
"""The "small constant per flush" of the byte target: a delta's envelope (type, turn id, seq)."""


async def run(ctx: Context) -> tuple[list[Row], dict[str, Any]]:
    require_module("lume_widget.server", "the reference server")
    chunks = ctx.size(20_000, 2_000)
    panel_budget_s = ctx.size(10.0, 2.0)
    server = await ctx.server()
    api = RawApi(server)
    try:
        token = await api.login()
        async with FloorSocket(server, token, await api.create_consultation(token)) as floor:
            reply = await floor.turn(f"/long {chunks}")
    finally:
        await api.aclose()

    peer: ChannelCount | None = None
    peer_skip: str | None = None
    try:
        peer = panel_chatfeed_stream(reply.chunks, budget_s=panel_budget_s)
        ctx.note(
            f"panel ChatFeed: {peer.chunks} of {chunks} chunks in {peer.seconds:.1f} s, "
            f"{peer.messages} comm messages"
        )
    except Skip as exc:
        peer_skip = str(exc)

    ours: ChannelCount | None = None
    ours_skip: str | None = None
    delta_bytes = 0
    busiest: float | None = None
    try:
        seen = await widget_turn(server, f"/long {chunks}")
        streaming = seen.streaming_messages
        ours = ChannelCount(
            messages=len(streaming),
            bytes=sum(m.size for m in streaming),
            chars=len(seen.text),
            chunks=seen.chunks,
            seconds=seen.ingest_s,
        )
        deltas = [m for m in streaming if m.method == "custom" and m.kind == "delta"]
        delta_bytes = sum(m.size for m in deltas)
        busiest = float(_busiest_second([m.at for m in streaming]))
        ctx.note(f"ChatWidget: {ours.messages} comm messages for {ours.chars:,} characters")
    except Skip as exc:
        ours_skip = str(exc)

    # One turn's bytes, fresh and after earlier messages (the same reply each time).
    turn_chunks = ctx.size(2_000, 500)
    earlier_counts = ctx.size([100, 1000], [100, 1000])
    turn_bytes: dict[int, int] = {}
    no_view: float | None = None
    if ours_skip is None:
        turn_bytes = await _turn_bytes_after(server, turn_chunks, earlier_counts)
        for count, size in turn_bytes.items():
            ctx.note(f"one turn after {count} earlier messages: {size:,} bytes")
        blind = await widget_turn(
            server, f"/long {turn_chunks}", view=False, persona="fitness_coach"
        )
        no_view = sum(m.size for m in blind.streaming_messages) / max(len(blind.text), 1)

    peer_name = "panel ChatFeed"
    rows = [
        row(
            NAME,
            "comm messages per second of streaming",
            "msg/s",
            ours.messages_per_s if ours else None,
            peer.messages_per_s if peer else None,
            reference_name=peer_name,
            target=MESSAGES_PER_S_TARGET,
            skipped=ours_skip,
            note=(
                f"panel got {peer.chunks:,} of {chunks:,} chunks within its {panel_budget_s:g} s"
                " budget (its cost per chunk grows with the reply)"
                if peer
                else ""
            ),
        ),
        row(
            NAME,
            "comm messages per 1,000 chunks",
            "msg",
            1000 * ours.messages / ours.chunks if ours else None,
            1000 * peer.messages / peer.chunks if peer else None,
            reference_name=peer_name,
            skipped=ours_skip,
        ),
        row(
            NAME,
            "comm messages in the busiest second",
            "msg",
            busiest,
            skipped=ours_skip,
            note="Jupyter's output limit is a rate averaged over seconds, so bursts count here",
        ),
    ]
    if ours is not None:
        allowed = BYTES_PER_CHAR + BYTES_PER_FLUSH * ours.messages / max(ours.chars, 1)
        bytes_target = Target(
            "ours_at_most", allowed, text=f"<= {BYTES_PER_CHAR} + {BYTES_PER_FLUSH} B/message"
        )
    else:
        bytes_target = Target(
            "ours_at_most",
            BYTES_PER_CHAR,
            text=f"<= {BYTES_PER_CHAR} + {BYTES_PER_FLUSH} B/message",
        )
    rows.append(
        row(
            NAME,
            "bytes sent per reply character",
            "B/char",
            ours.bytes_per_char if ours else None,
            peer.bytes_per_char if peer else None,
            reference_name=peer_name,
            target=bytes_target,
            skipped=ours_skip,
        )
    )
    rows.append(
        row(
            NAME,
            "of which streamed deltas, per reply character",
            "B/char",
            delta_bytes / ours.chars if ours else None,
            skipped=ours_skip,
            note="the rest: trait updates, the finished turn's block (its reply's text left out: the view holds it)",
        )
    )
    fresh = turn_bytes.get(0)
    for count in earlier_counts:
        after = turn_bytes.get(count)
        rows.append(
            row(
                NAME,
                f"one turn's bytes after {count:,} earlier messages ({turn_chunks:,} chunks)",
                "B",
                float(after) if after is not None else None,
                float(fresh) if fresh is not None else None,
                reference_name="the same turn, fresh",
                target=Target(
                    "ours_at_most",
                    1.1 * fresh if fresh else 0.0,
                    text="within 10% of the fresh turn",
                ),
                skipped=ours_skip,
                note="a finished turn opens one block of its own messages; the history is not re-sent",
            )
        )
    rows.append(
        row(
            NAME,
            "bytes per reply character with no view listening (nbclient, scripts)",
            "B/char",
            no_view,
            skipped=ours_skip,
            note="nobody holds the text from the deltas, so the finished reply's block carries it",
        )
    )
    if peer_skip:
        rows.append(row(NAME, "panel ChatFeed peer", "", None, skipped=peer_skip))
    parameters: dict[str, Any] = {"chunks": chunks, "reply_chars": len(reply.text)}
    if peer is not None:
        parameters["panel_chunks_fed"] = peer.chunks
        parameters["panel_seconds"] = round(peer.seconds, 3)
        parameters["panel_chunks_per_s"] = round(peer.chunks_per_s, 1)
    return rows, parameters


async def _turn_bytes_after(
    server: ServerHandle, chunks: int, earlier_counts: list[int]
) -> dict[int, int]:
    """All comm bytes of one ``/long chunks`` turn in a fresh consultation (key 0) and in
    consultations that already hold each of ``earlier_counts`` messages."""
    persona = "wellness_specialist"
    sizes: dict[int, int] = {}
    client = await open_client(server)
    try:
        chat = await open_chat(client, persona=persona, resume=False)
        held = len(chat.transcript)
        await close_chat(chat)  # the widget resumes this consultation, alone on it
        for count in [0, *earlier_counts]:
            if count:
                chat = await open_chat(client, persona=persona, resume=True)
                while held < count:
                    await client_turn(chat, "/long 3")
                    held += 2
                await close_chat(chat)
            seen = await widget_turn(server, f"/long {chunks}", client=client, persona=persona)
            held += 2
            sizes[count] = sum(m.size for m in seen.streaming_messages)
    finally:
        await close_client(client)
    return sizes


def _busiest_second(times: list[float]) -> int:
    """The most messages sent within any one-second window (times in seconds, any order)."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
