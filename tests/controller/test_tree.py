"""The tree of sites without sockets: several `SiteTree`s wired together in memory.

Every frame between two trees goes through the uplink codec (`encode` then `decode`), as it
would over the WebSocket, so what one side sends is what the other can read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller import tree as tree_module
from controller.config import load_config
from controller.errors import (
    DeviceError,
    DiemcauTimeoutError,
    NotFoundError,
    SiteUnreachableError,
)
from controller.session_rules import subtree
from controller.tree import SiteTree
from controller.uplink_protocol import (
    MAX_FRAME_BYTES,
    Command,
    Message,
    ProtocolViolation,
    Result,
    SessionStatus,
    SessionUpdate,
    Topology,
    decode,
    encode,
)
from tests.conftest import SECRET_TEXT, write_site_config

NAMES = {"trung-uong": "Văn phòng Chính phủ", "tinh-thanh-hoa": "UBND tỉnh Thanh Hóa",
         "xa-hoang-hop": "UBND xã Hoàng Hợp", "xa-quang-phu": "UBND xã Quảng Phú"}


def make_tree(base: Path, site_id: str, level: str, children: Iterable[str] = (),
              summary: dict[str, Any] | None = None) -> SiteTree:
    """A site's tree from a real config file; each child has its own credential file."""
    directory = base / site_id
    directory.mkdir(parents=True)
    extra = ""
    for child in children:
        secret = directory / f"{child}.secret"
        secret.write_text(SECRET_TEXT)
        secret.chmod(0o600)
        extra += (f'[[children]]\nid = "{child}"\nname = "{NAMES.get(child, child)}"\n'
                  f'credential_file = "{child}.secret"\n\n')
    config = load_config(write_site_config(directory, site_id=site_id, level=level, port=8080,
                                           extra=extra))
    own = summary if summary is not None else {"devices_online": 1, "calls": 0}
    return SiteTree(config, lambda: dict(own))


class FakeSessions:
    """The sessions service at one site: records what it was asked to run."""

    def __init__(self, site_id: str) -> None:
        self.site_id = site_id
        self.executed: list[Command] = []
        self.statuses: list[tuple[str, SessionStatus]] = []
        self.updates: list[SessionUpdate] = []
        self.subtree_changes: list[str] = []
        self.uplink_connects = 0
        self.answer: Result | None = None
        self.error: Exception | None = None
        self.hang = False

    def on_session_from_parent(self, update: SessionUpdate) -> None:
        self.updates.append(update)

    def on_status_from_child(self, child_id: str, status: SessionStatus) -> None:
        self.statuses.append((child_id, status))

    def on_child_subtree(self, child_id: str) -> None:
        self.subtree_changes.append(child_id)

    def on_uplink_connected(self) -> None:
        self.uplink_connects += 1

    async def execute_remote(self, command: Command) -> Result:
        self.executed.append(command)
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        if self.answer is not None:
            return Result(command.id, self.answer.ok, self.answer.code, self.answer.message,
                          self.answer.data)
        return Result(command.id, True, "ok", "", {"done_at": self.site_id, **command.args})


@dataclass
class Network:
    """Trees wired parent to child, like two uplink connections in one process."""

    trees: dict[str, SiteTree] = field(default_factory=dict)
    sessions: dict[str, FakeSessions] = field(default_factory=dict)
    parent_of: dict[str, str] = field(default_factory=dict)
    connected: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)  # children that swallow commands
    down: list[tuple[str, Message]] = field(default_factory=list)
    up: list[tuple[str, Message]] = field(default_factory=list)

    def add(self, tree: SiteTree) -> SiteTree:
        self.trees[tree.self_id] = tree
        self.sessions[tree.self_id] = tree.sessions = FakeSessions(tree.self_id)
        tree.send_up = lambda msg: self._send_up(tree.self_id, msg)
        tree.connected_up = lambda: tree.self_id in self.connected

        async def send_down(child_id: str, msg: Message) -> bool:
            return self._send_down(child_id, msg)

        tree.send_down = send_down
        return tree

    def connect(self, parent: str, child: str) -> None:
        """The child dials in: the parent sees it online, the child resends its state."""
        self.parent_of[child] = parent
        self.connected.add(child)
        self.trees[parent].child_online(child, True, {"devices_online": 1})
        self.trees[child].on_uplink_connected()

    def disconnect(self, child: str) -> None:
        self.connected.discard(child)
        self.trees[self.parent_of[child]].child_online(child, False, {})

    def _send_up(self, child: str, msg: Message) -> bool:
        if child not in self.connected:
            return False
        self.up.append((child, msg))
        frame = _wire(msg)
        assert self.trees[self.parent_of[child]].on_message_from_child(child, frame)
        return True

    def _send_down(self, child: str, msg: Message) -> bool:
        if child not in self.connected:
            return False
        self.down.append((child, msg))
        if child not in self.silent:
            assert self.trees[child].on_message_from_parent(_wire(msg))
        return True

    async def close(self) -> None:
        for t in self.trees.values():
            await t.close()


def _wire(msg: Message) -> Message:
    text = encode(msg)
    assert len(text.encode("utf-8")) <= MAX_FRAME_BYTES
    frame = decode(text)
    assert not isinstance(frame, ProtocolViolation), frame
    return frame


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    net = Network()
    try:
        yield net
    finally:
        await net.close()


@pytest.fixture
def three_levels(tmp_path: Path, network: Network) -> Network:
    """central ← province ← commune, the second commune of the province never connected."""
    network.add(make_tree(tmp_path, "trung-uong", "central", ["tinh-thanh-hoa"]))
    network.add(make_tree(tmp_path, "tinh-thanh-hoa", "province",
                          ["xa-hoang-hop", "xa-quang-phu"]))
    network.add(make_tree(tmp_path, "xa-hoang-hop", "commune",
                          summary={"devices_online": 3, "link": "good"}))
    network.connect("tinh-thanh-hoa", "xa-hoang-hop")
    network.connect("trung-uong", "tinh-thanh-hoa")
    return network


def command(tree: SiteTree, target: str, ttl: float = 5.0,
            action: str = "camera") -> Command:
    return tree.new_command(session_id="s-1", origin_user="chutri", target=target,
                            action=action, args={"preset": 2}, ttl=ttl)


# -- topology --------------------------------------------------------------------------------

async def test_the_central_knows_the_whole_tree_and_routes_via_the_province(
        three_levels: Network) -> None:
    central = three_levels.trees["trung-uong"]
    assert central.route("tinh-thanh-hoa") == "tinh-thanh-hoa"
    assert central.route("xa-hoang-hop") == "tinh-thanh-hoa"
    assert central.route("xa-quang-phu") == "tinh-thanh-hoa"
    assert central.route("xa-khong-co") is None
    sites = {s["id"]: s for s in central.describe()}
    assert set(sites) == {"tinh-thanh-hoa", "xa-hoang-hop", "xa-quang-phu"}
    commune = sites["xa-hoang-hop"]
    assert (commune["parent"], commune["level"], commune["online"], commune["via"]) == \
        ("tinh-thanh-hoa", "commune", True, "tinh-thanh-hoa")
    assert commune["name"] == NAMES["xa-hoang-hop"]
    assert commune["summary"] == {"devices_online": 3, "link": "good"}
    assert sites["xa-quang-phu"]["online"] is False  # known to the province, never dialled in
    # A child is shown by its own name once it reported (the bridge shows that one too).
    assert sites["tinh-thanh-hoa"]["name"] == "UBND tinh-thanh-hoa"
    assert sites["tinh-thanh-hoa"]["level"] == "province"
    # The chair can delegate the province's branch: its subtree is known at the centre.
    assert set(subtree("tinh-thanh-hoa", central.parents())) == \
        {"tinh-thanh-hoa", "xa-hoang-hop", "xa-quang-phu"}
    assert three_levels.sessions["trung-uong"].subtree_changes == ["tinh-thanh-hoa"]
    assert three_levels.sessions["xa-hoang-hop"].uplink_connects == 1


async def test_an_offline_child_takes_its_descendants_with_it(three_levels: Network) -> None:
    central = three_levels.trees["trung-uong"]
    three_levels.disconnect("tinh-thanh-hoa")
    online = {s["id"]: s["online"] for s in central.describe()}
    assert online == {"tinh-thanh-hoa": False, "xa-hoang-hop": False, "xa-quang-phu": False}
    sent = len(three_levels.down)
    started = time.monotonic()
    with pytest.raises(SiteUnreachableError) as caught:
        await central.send_command(command(central, "xa-hoang-hop", ttl=30))
    assert time.monotonic() - started < 0.5  # fails fast, does not wait for the ttl
    assert caught.value.code == "site_offline"
    assert NAMES["tinh-thanh-hoa"] in caught.value.message  # the operator sees which link
    assert len(three_levels.down) == sent  # nothing was sent
    assert three_levels.sessions["xa-hoang-hop"].executed == []


async def test_a_commune_going_offline_reaches_the_centre_by_itself(
        three_levels: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree_module, "TOPOLOGY_DEBOUNCE_SECONDS", 0.01)
    province, central = three_levels.trees["tinh-thanh-hoa"], three_levels.trees["trung-uong"]
    runner = asyncio.create_task(province.run())
    try:
        three_levels.disconnect("xa-hoang-hop")
        for _ in range(100):
            if not central.entries["xa-hoang-hop"].online:
                break
            await asyncio.sleep(0.01)
        assert not central.entries["xa-hoang-hop"].online
        assert central.entries["tinh-thanh-hoa"].online
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    # The centre knows the commune is offline and refuses at once, without asking on the way.
    with pytest.raises(SiteUnreachableError):
        await central.send_command(command(central, "xa-hoang-hop", ttl=30))
    assert three_levels.sessions["xa-hoang-hop"].executed == []


# -- commands --------------------------------------------------------------------------------

async def test_a_command_to_a_grandchild_is_forwarded_and_its_result_comes_back(
        three_levels: Network) -> None:
    central = three_levels.trees["trung-uong"]
    cmd = command(central, "xa-hoang-hop", ttl=5)
    result = await central.send_command(cmd)
    assert result == Result(cmd.id, True, "ok", "", {"done_at": "xa-hoang-hop", "preset": 2})
    executed = three_levels.sessions["xa-hoang-hop"].executed
    assert len(executed) == 1
    arrived = executed[0]
    # The target sees who asked, for which session; the province only passed it on.
    assert (arrived.id, arrived.origin_site, arrived.origin_user, arrived.session_id,
            arrived.action, arrived.args) == \
        (cmd.id, "trung-uong", "chutri", "s-1", "camera", {"preset": 2})
    assert arrived.ttl < cmd.ttl  # the province gives up before the centre does
    assert three_levels.sessions["tinh-thanh-hoa"].executed == []
    # A command for the province itself runs there.
    mine = await central.send_command(command(central, "tinh-thanh-hoa"))
    assert mine.ok
    assert mine.data["done_at"] == "tinh-thanh-hoa"


async def test_a_refusal_or_a_failure_at_the_target_comes_back_as_a_result(
        three_levels: Network) -> None:
    central = three_levels.trees["trung-uong"]
    commune = three_levels.sessions["xa-hoang-hop"]
    commune.answer = Result("", False, "local_control_only",
                            "Điểm cầu đang ở chế độ chỉ điều khiển tại chỗ.", {})
    refused = await central.send_command(command(central, "xa-hoang-hop"))
    assert (refused.ok, refused.code) == (False, "local_control_only")
    assert "tại chỗ" in refused.message
    commune.answer = None
    commune.error = DeviceError("Camera không trả lời.")
    failed = await central.send_command(command(central, "xa-hoang-hop"))
    assert (failed.ok, failed.code, failed.message) == \
        (False, "device_error", "Camera không trả lời.")
    commune.error = RuntimeError("bug")
    crashed = await central.send_command(command(central, "xa-hoang-hop"))
    assert (crashed.ok, crashed.code) == (False, "error")


async def test_a_child_that_never_answers_times_out(three_levels: Network) -> None:
    province, central = three_levels.trees["tinh-thanh-hoa"], three_levels.trees["trung-uong"]
    three_levels.silent.add("xa-hoang-hop")
    cmd = command(province, "xa-hoang-hop", ttl=0.05)
    with pytest.raises(DiemcauTimeoutError) as caught:
        await province.send_command(cmd)
    assert caught.value.code == "command_timeout"
    assert isinstance(caught.value, TimeoutError)
    # A result arriving after the deadline is dropped quietly.
    province.on_result(Result(cmd.id, True, "ok", "", {}))
    # Through the province, the centre hears of the timeout from the province itself.
    started = time.monotonic()
    result = await central.send_command(command(central, "xa-hoang-hop", ttl=0.4))
    assert (result.ok, result.code) == (False, "command_timeout")
    assert time.monotonic() - started < 0.4


async def test_a_target_that_hangs_times_out_too(three_levels: Network) -> None:
    province = three_levels.trees["tinh-thanh-hoa"]
    three_levels.sessions["xa-hoang-hop"].hang = True
    with pytest.raises(DiemcauTimeoutError) as caught:
        await province.send_command(command(province, "xa-hoang-hop", ttl=0.05))
    assert caught.value.code == "command_timeout"


async def test_an_unknown_target(three_levels: Network) -> None:
    central = three_levels.trees["trung-uong"]
    sent = len(three_levels.down)
    with pytest.raises(NotFoundError) as caught:
        await central.send_command(command(central, "xa-khong-co"))
    assert caught.value.code == "unknown_site"
    assert "xa-khong-co" in caught.value.message
    assert len(three_levels.down) == sent


async def test_status_is_taken_only_from_the_child_on_the_route(three_levels: Network) -> None:
    province = three_levels.trees["tinh-thanh-hoa"]
    handler = three_levels.sessions["tinh-thanh-hoa"]
    status = SessionStatus("s-1", "xa-hoang-hop", {"ready": True})
    assert province.on_message_from_child("xa-hoang-hop", status)
    assert province.on_message_from_child("xa-quang-phu", status)  # not its site to report
    assert handler.statuses == [("xa-hoang-hop", status)]


# -- what children may claim -----------------------------------------------------------------

async def test_a_child_cannot_claim_another_child_or_the_parent(tmp_path: Path,
                                                                network: Network) -> None:
    province = network.add(make_tree(tmp_path, "tinh-thanh-hoa", "province",
                                     ["xa-hoang-hop", "xa-quang-phu"]))
    network.add(make_tree(tmp_path, "xa-hoang-hop", "commune"))
    network.add(make_tree(tmp_path, "xa-quang-phu", "commune"))
    network.connect("tinh-thanh-hoa", "xa-hoang-hop")
    network.connect("tinh-thanh-hoa", "xa-quang-phu")
    network.disconnect("xa-quang-phu")
    lie = Topology(0, True, [
        {"id": "xa-hoang-hop", "name": "x", "level": "commune", "parent": None, "online": True},
        {"id": "xa-quang-phu", "name": "giả", "level": "commune", "parent": "xa-hoang-hop",
         "online": True},
        {"id": "tinh-thanh-hoa", "name": "giả", "level": "province", "parent": "xa-hoang-hop",
         "online": True},
    ])
    province.on_message_from_child("xa-hoang-hop", _wire(lie))
    assert province.route("xa-quang-phu") == "xa-quang-phu"
    assert province.entries["xa-quang-phu"].online is False
    assert province.entries["xa-quang-phu"].parent == "tinh-thanh-hoa"
    assert province.entries["xa-quang-phu"].name == "UBND xa-quang-phu"  # its own report
    assert "tinh-thanh-hoa" not in province.entries
    # A command for the offline commune is not handed to the one that claimed it.
    with pytest.raises(SiteUnreachableError):
        await province.send_command(command(province, "xa-quang-phu"))
    assert network.sessions["xa-hoang-hop"].executed == []


async def test_malformed_site_entries_are_skipped(tmp_path: Path, network: Network) -> None:
    province = network.add(make_tree(tmp_path, "tinh-thanh-hoa", "province",
                                     ["xa-hoang-hop", "xa-quang-phu"]))
    network.add(make_tree(tmp_path, "xa-hoang-hop", "commune"))
    network.connect("tinh-thanh-hoa", "xa-hoang-hop")
    garbage: list[Any] = [5, "xa-chuoi", None, ["xa-list"]]
    frame = _wire(Topology(0, True, [
        *garbage, {"id": 7}, {"id": ""}, {"id": "x" * 65},
        {"name": "không có id"},
        {"id": "thon-tot", "name": "Thôn tốt", "level": "village", "parent": "xa-hoang-hop",
         "online": True, "summary": {"devices_online": 2, "big": [1, 2], "long": "x" * 200}},
        {"id": "thon-la", "name": {"x": 1}, "level": 3, "parent": 9, "online": "yes",
         "summary": "nope"},
    ]))
    province.on_message_from_child("xa-hoang-hop", frame)
    assert set(province.entries) == {"xa-hoang-hop", "xa-quang-phu", "thon-tot", "thon-la"}
    good = province.entries["thon-tot"]
    assert (good.name, good.parent, good.online, good.via, good.summary) == \
        ("Thôn tốt", "xa-hoang-hop", True, "xa-hoang-hop", {"devices_online": 2})
    odd = province.entries["thon-la"]
    assert (odd.online, odd.parent, odd.summary) == (False, None, {})
    # The child that sent garbage still has its route, with what we knew of it kept.
    assert province.route("xa-hoang-hop") == "xa-hoang-hop"
    assert province.entries["xa-hoang-hop"].online is True


async def test_a_big_subtree_travels_in_parts(tmp_path: Path, network: Network) -> None:
    central = network.add(make_tree(tmp_path, "trung-uong", "central", ["tinh-lon"]))
    province = network.add(make_tree(tmp_path, "tinh-lon", "province", ["huyen-a"]))
    network.add(make_tree(tmp_path, "huyen-a", "district"))
    # 1 province + 1 district + 1,198 communes = 1,200 sites.
    communes = [{"id": f"xa-{i:04d}", "name": f"Xã {i}", "level": "commune",
                 "parent": "huyen-a", "online": i % 2 == 0} for i in range(1198)]
    district_part = Topology(0, True, [{"id": "huyen-a", "name": "Huyện A", "level": "district",
                                        "parent": None, "online": True}, *communes])
    network.parent_of["tinh-lon"] = "trung-uong"
    network.connected.add("tinh-lon")
    central.child_online("tinh-lon", True, {})
    province.child_online("huyen-a", True, {})
    province.on_message_from_child("huyen-a", district_part)
    parts = province.topology_parts()
    assert [(p.part, p.last, len(p.sites)) for p in parts] == \
        [(0, False, 500), (1, False, 500), (2, True, 200)]
    assert parts[0].sites[0]["id"] == "tinh-lon"  # the sender first
    # Nothing is taken in until the last part is there.
    for part in parts[:-1]:
        assert network.trees["tinh-lon"].send_up(part)
    assert central.route("xa-0600") is None
    assert network.trees["tinh-lon"].send_up(parts[-1])
    assert len(central.entries) == 1200
    assert all(e.via == "tinh-lon" for e in central.entries.values())
    assert central.entries["xa-1197"].parent == "huyen-a"
    assert central.entries["xa-0600"].online
    assert not central.entries["xa-0601"].online
    assert len(subtree("huyen-a", central.parents())) == 1199
    # A later, smaller subtree replaces the old one: a commune that left is forgotten.
    province.on_message_from_child("huyen-a", Topology(0, True, district_part.sites[:-1]))
    province.send_topology()
    assert central.route("xa-1197") is None
    assert central.route("xa-1196") == "tinh-lon"
    assert len(central.entries) == 1199


async def test_a_restarted_topology_drops_the_unfinished_one(tmp_path: Path,
                                                             network: Network) -> None:
    province = network.add(make_tree(tmp_path, "tinh-thanh-hoa", "province", ["xa-hoang-hop"]))
    network.add(make_tree(tmp_path, "xa-hoang-hop", "commune"))
    network.connect("tinh-thanh-hoa", "xa-hoang-hop")
    own = {"id": "xa-hoang-hop", "name": "x", "level": "commune", "parent": None,
           "online": True}
    stale = {"id": "thon-cu", "name": "Thôn cũ", "level": "village", "parent": "xa-hoang-hop",
             "online": True}
    fresh = {**stale, "id": "thon-moi", "name": "Thôn mới"}
    province.on_message_from_child("xa-hoang-hop", Topology(0, False, [own, stale]))
    # The link dropped; after the reconnect the child starts again from part 0.
    province.on_message_from_child("xa-hoang-hop", Topology(0, False, [own]))
    province.on_message_from_child("xa-hoang-hop", Topology(1, True, [fresh]))
    assert "thon-moi" in province.entries
    assert "thon-cu" not in province.entries


async def test_parts_stay_under_the_frame_limit_with_long_names_and_summaries(
        tmp_path: Path, network: Network) -> None:
    central = network.add(make_tree(tmp_path, "trung-uong", "central", ["tinh-lon"]))
    province = network.add(make_tree(tmp_path, "tinh-lon", "province", ["huyen-a"]))
    network.parent_of["tinh-lon"] = "trung-uong"
    network.connected.add("tinh-lon")
    central.child_online("tinh-lon", True, {})
    # Every entry as long as a child may make it: 120-letter names, 20 summary values of 80.
    wordy = [{"id": f"xa-{i:04d}-" + "x" * 56, "name": "Ủy ban nhân dân xã Đ" + "Đ" * 200,
              "level": "commune", "parent": "huyen-a", "online": True,
              "summary": {f"{'k' * 36}{j:02d}": "Đ" * 80 for j in range(30)}}
             for i in range(1200)]
    province.on_topology("huyen-a", Topology(0, True, wordy))
    parts = province.topology_parts()
    assert sum(len(p.sites) for p in parts) == 1202
    assert [p.last for p in parts] == [False] * (len(parts) - 1) + [True]
    for part in parts:
        assert network.trees["tinh-lon"].send_up(part)  # _wire checks the frame size
    assert len(central.entries) == 1202
