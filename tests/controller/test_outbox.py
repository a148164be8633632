"""The outbox with two (or three) stores wired in memory: frames go through the real uplink
codec, and the link between them can lose frames or acknowledgements."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import controller.outbox as outbox_module
from controller.outbox import BATCH_RECORDS, MAX_BODY_BYTES, Outbox, record_from_wire
from controller.store import Store
from controller.uplink_protocol import (
    MAX_FRAME_BYTES,
    Records,
    RecordsAck,
    UplinkBackoff,
    decode,
    encode,
)
from tests.conftest import FakeClock


def _outbox(tmp_path: Path, site_id: str, *, forwards: bool,
            clock: Callable[[], float] = time.time) -> Outbox:
    store = Store(tmp_path / f"{site_id}.sqlite3")
    return Outbox(store, site_id, clock, forwards=forwards,
                  backoff=UplinkBackoff(initial=0.01, maximum=0.05, rng=random.Random(1)))


class Link:
    """child → parent through encode/decode; the ack comes back on the next loop turn."""

    def __init__(self, child: Outbox, parent: Outbox, *, rng: random.Random | None = None,
                 lose_frames: float = 0.0, lose_acks: float = 0.0) -> None:
        self.child, self.parent = child, parent
        self.rng = rng or random.Random(7)
        self.lose_frames, self.lose_acks = lose_frames, lose_acks
        self.up = True
        self.frames: list[int] = []  # records per frame that reached the parent
        self.frame_bytes: list[int] = []
        self.lost_frames = self.lost_acks = 0
        child.send_up = self.send
        child.connected_up = lambda: self.up

    def send(self, msg: Records) -> bool:
        text = encode(msg)
        self.frame_bytes.append(len(text.encode()))
        if self.rng.random() < self.lose_frames:
            self.lost_frames += 1
            return True  # gone on the wire: the sender does not know
        frame = decode(text)
        assert isinstance(frame, Records), frame
        self.frames.append(len(frame.items))
        keys = self.parent.receive(frame.items, via=self.child.site_id)
        if self.rng.random() < self.lose_acks:
            self.lost_acks += 1
            return True
        ack = decode(encode(RecordsAck(keys)))
        assert isinstance(ack, RecordsAck)
        asyncio.get_running_loop().call_soon(self.child.on_ack, ack)
        return True


@asynccontextmanager
async def running(*outboxes: Outbox) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(o.run(), name=f"outbox-{o.site_id}") for o in outboxes]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with pytest.raises(asyncio.CancelledError):
                await task


async def drained(*outboxes: Outbox, seconds: float = 20.0) -> None:
    """Wait until nothing waits in any of ``outboxes``."""
    deadline = time.monotonic() + seconds
    while any(o.pending()[0] for o in outboxes):
        assert time.monotonic() < deadline, [o.pending() for o in outboxes]
        await asyncio.sleep(0.005)


def _rows(box: Outbox, origin: str) -> list[tuple[int, str, Any]]:
    """(seq, kind, body["n"]) of what ``box`` received from ``origin``, in seq order."""
    return [(r.seq, r.kind, r.body.get("n")) for r in box.received(origin=origin, limit=10**6)]


def _stored_keys(box: Outbox) -> list[str]:
    return [str(r["key"]) for r in box.store.query("SELECT key FROM received ORDER BY rowid")]


@pytest.fixture(autouse=True)
def quick_acks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost ack is noticed after 50 ms, not 10 s."""
    monkeypatch.setattr(outbox_module, "ACK_SECONDS", 0.05)


async def test_every_record_arrives_exactly_once_and_in_order(tmp_path: Path) -> None:
    child = _outbox(tmp_path, "xa-mot", forwards=True)
    parent = _outbox(tmp_path, "tinh-a", forwards=False)
    heard: list[tuple[str, str, int]] = []
    parent.listeners.append(lambda kind, origin, body: heard.append((kind, origin, body["n"])))
    link = Link(child, parent)
    keys = [child.add("usage", {"n": n}) for n in range(1, 1001)]
    assert keys[:2] == ["xa-mot:1", "xa-mot:2"]
    async with running(child):
        await drained(child)
        for n in range(1001, 1011):  # added while running: woken, not polled
            child.add("usage", {"n": n})
        await drained(child, seconds=IDLE_HALF)
    assert _rows(parent, "xa-mot") == [(n, "usage", n) for n in range(1, 1011)]
    assert heard == [("usage", "xa-mot", n) for n in range(1, 1011)]
    assert max(link.frames) == BATCH_RECORDS
    assert child.pending() == (0, None)


IDLE_HALF = outbox_module.IDLE_SECONDS / 2  # well before the idle poll would find them


async def test_resends_after_lost_acks_store_nothing_twice(tmp_path: Path) -> None:
    child = _outbox(tmp_path, "xa-mot", forwards=True)
    parent = _outbox(tmp_path, "tinh-a", forwards=False)
    heard: list[int] = []
    parent.listeners.append(lambda kind, origin, body: heard.append(body["n"]))
    link = Link(child, parent, lose_acks=0.5, lose_frames=0.2)
    for n in range(1, 2001):
        child.add("usage", {"n": n})
    async with running(child):
        await drained(child)
    assert link.lost_acks > 3
    assert link.lost_frames > 1
    assert sum(link.frames) > 2000  # so records were resent ...
    assert _rows(parent, "xa-mot") == [(n, "usage", n) for n in range(1, 2001)]
    assert heard == list(range(1, 2001))  # ... and each was stored (and announced) once
    assert len(_stored_keys(parent)) == 2000
    attempts = child.store.query_one("SELECT MAX(attempts) AS m FROM outbox")
    assert attempts is not None
    assert attempts["m"] > 1


async def test_a_crash_after_the_parent_stored_but_before_the_ack_stores_nothing_twice(
        tmp_path: Path) -> None:
    child = _outbox(tmp_path, "xa-mot", forwards=True)
    parent = _outbox(tmp_path, "tinh-a", forwards=False)
    link = Link(child, parent, lose_acks=1.0)  # every ack lost
    for n in range(1, 501):
        child.add("usage", {"n": n})
    async with running(child):
        deadline = time.monotonic() + 5
        while not link.frames:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
    assert len(_stored_keys(parent)) == BATCH_RECORDS
    assert child.pending()[0] == 500
    # The child process dies and starts again on the same database.
    child.store.close()
    again = _outbox(tmp_path, "xa-mot", forwards=True)
    Link(again, parent)
    for n in range(501, 601):
        again.add("usage", {"n": n})
    async with running(again):
        await drained(again)
    assert _rows(parent, "xa-mot") == [(n, "usage", n) for n in range(1, 601)]
    assert len(_stored_keys(parent)) == 600


async def test_nothing_goes_while_the_link_is_down_and_everything_after(tmp_path: Path) -> None:
    child = _outbox(tmp_path, "xa-mot", forwards=True)
    parent = _outbox(tmp_path, "tinh-a", forwards=False)
    link = Link(child, parent)
    link.up = False
    async with running(child):
        for n in range(1, 301):
            child.add("usage", {"n": n})
        await asyncio.sleep(0.1)
        assert link.frames == []
        assert child.pending()[0] == 300
        link.up = True
        child.wake()
        await drained(child, seconds=IDLE_HALF)
    assert _rows(parent, "xa-mot") == [(n, "usage", n) for n in range(1, 301)]


async def test_a_three_level_chain_forwards_every_record_once(tmp_path: Path) -> None:
    commune = _outbox(tmp_path, "xa-mot", forwards=True)
    province = _outbox(tmp_path, "tinh-a", forwards=True)
    central = _outbox(tmp_path, "trung-uong", forwards=False)
    Link(commune, province, lose_acks=0.3, rng=random.Random(3))
    Link(province, central, lose_acks=0.3, rng=random.Random(4))
    for n in range(1, 701):
        commune.add("usage", {"n": n})
        if n % 7 == 0:
            province.add("incident", {"n": n})
    central.add("usage", {"n": 0})  # the top keeps its own records with the subtree's
    async with running(commune, province):
        await drained(commune, province)
    assert _rows(central, "xa-mot") == [(n, "usage", n) for n in range(1, 701)]
    assert _rows(central, "tinh-a") == [(i, "incident", 7 * i) for i in range(1, 101)]
    assert _rows(central, "trung-uong") == [(1, "usage", 0)]
    assert _rows(province, "xa-mot") == _rows(central, "xa-mot")
    vias = {(r["origin"], r["via"]) for r in central.store.query(
        "SELECT DISTINCT origin, via FROM received")}
    assert vias == {("xa-mot", "tinh-a"), ("tinh-a", "tinh-a"), ("trung-uong", "")}
    assert len(_stored_keys(central)) == 801
    assert central.pending() == (0, None)  # the top queues nothing


def _wire(origin: str, number: int, /, **over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"key": f"{origin}:{number}", "origin": origin, "seq": number,
                            "kind": "usage", "at": 1_790_000_000.5, "body": {"n": number}}
    item.update(over)
    return item


def test_malformed_records_from_below_are_dropped_but_acknowledged(tmp_path: Path) -> None:
    parent = _outbox(tmp_path, "tinh-a", forwards=True)
    items: list[Any] = [
        _wire("xa-mot", 1),
        _wire("xa-mot", 2, seq="2"),  # seq not an int
        _wire("xa-mot", 3, key="xa-mot:99"),  # key does not match origin:seq
        _wire("xa-mot", 4, kind="Bad Kind!"),
        _wire("xa-mot", 5, at=float("nan")),
        _wire("xa-mot", 6, body=["not", "a", "dict"]),
        _wire("xa-mot", 7, body={"blob": "x" * (MAX_BODY_BYTES + 1)}),
        _wire("xa-mot", 8),
        "garbage", None, 17, {"key": "x" * 200},
    ]
    acked = parent.receive(items, via="xa-mot")
    # Every record with a usable key is acknowledged, or the child would resend it forever.
    assert acked == [f"xa-mot:{n}" for n in (1, 2, 99, 4, 5, 6, 7, 8)]
    assert _stored_keys(parent) == ["xa-mot:1", "xa-mot:8"]
    assert parent.pending()[0] == 2  # only the good ones go further up
    assert parent.receive(items, via="xa-mot") == acked  # a resend: acked again, not stored
    assert len(_stored_keys(parent)) == 2


async def test_a_bad_record_in_the_queue_is_no_poison_pill(tmp_path: Path) -> None:
    child = _outbox(tmp_path, "xa-mot", forwards=True)
    parent = _outbox(tmp_path, "tinh-a", forwards=False)
    Link(child, parent)
    child.add("usage", {"n": 1})
    with child.store.transaction() as conn:  # a record the parent will refuse
        conn.execute("INSERT INTO outbox(key, origin, seq, kind, at, body) VALUES"
                     " ('xa-mot:2', 'xa-mot', 2, 'NOT A KIND', 1.0, '{}')")
        conn.execute("UPDATE outbox_seq SET last = 2")
    child.add("usage", {"n": 3})
    async with running(child):
        await drained(child, seconds=IDLE_HALF)
    assert _stored_keys(parent) == ["xa-mot:1", "xa-mot:3"]


def test_an_oversized_body_is_refused_at_add(tmp_path: Path) -> None:
    child = _outbox(tmp_path, "xa-mot", forwards=True)
    with pytest.raises(ValueError, match="over"):
        child.add("usage", {"blob": "x" * MAX_BODY_BYTES})
    assert child.pending() == (0, None)
    assert child.add("usage", {"n": 1}) == "xa-mot:1"  # the refused one took no number


async def test_what_add_accepts_the_parent_accepts_whatever_the_script(tmp_path: Path) -> None:
    child = _outbox(tmp_path, "xa-mot", forwards=True)
    parent = _outbox(tmp_path, "tinh-a", forwards=False)
    link = Link(child, parent)
    # Just under the limit as add counts it: Vietnamese text, and 4-byte characters.
    vietnamese = "Mất kết nối đường truyền số liệu chuyên dùng. "
    bodies = [{"text": (vietnamese * 2000)[:MAX_BODY_BYTES - 100]},
              *({"text": "📡" * (MAX_BODY_BYTES - 100)} for _ in range(8))]
    for body in bodies:
        child.add("incident", body)
    async with running(child):
        await drained(child, seconds=IDLE_HALF)
    assert [r.body for r in parent.received(origin="xa-mot")] == bodies
    assert max(link.frame_bytes) <= MAX_FRAME_BYTES  # a batch always fits in one frame


async def test_pending_tells_depth_and_the_oldest(tmp_path: Path) -> None:
    clock = FakeClock()
    child = _outbox(tmp_path, "xa-mot", forwards=True, clock=clock)
    parent = _outbox(tmp_path, "tinh-a", forwards=False, clock=clock)
    assert child.pending() == (0, None)
    first = clock.now
    for _ in range(3):
        child.add("usage", {})
        clock.advance(60)
    assert child.pending() == (3, first)
    items = [r.to_wire() for r in child._batch()]
    child._in_flight = {items[0]["key"]}  # as run() does; acks for other keys are ignored
    child.on_ack(RecordsAck([*parent.receive(items[:1], via="xa-mot"), "xa-mot:3", 5]))  # type: ignore[list-item]
    assert child.pending() == (2, first + 60)
    assert child.purge_delivered(clock.now + 1) == 1
    assert child.pending() == (2, first + 60)


def test_record_from_wire_round_trips(tmp_path: Path) -> None:
    item = _wire("xa-mot", 12)
    record = record_from_wire(item)
    assert record is not None
    assert record.to_wire() == item
    assert record_from_wire(_wire("xa-mot", 12, at=2**41)) is None
