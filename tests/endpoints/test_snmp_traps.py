"""TrapReceiver against net-snmp's snmptrap and snmpinform: v1, v2c and v3, with garbage."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from endpoints.errors import EndpointTransportError
from endpoints.interfaces import DeviceEvent, DeviceSpec
from endpoints.sim.snmpd_lab import tool_env
from endpoints.snmp.config import SnmpCredentials
from endpoints.snmp.traps import (
    TrapMessage,
    TrapReceiver,
    TrapRouter,
    TrapUser,
    resolve_sources,
    trap_credentials,
)

WAIT = 5.0  # bound on every wait for a trap; each normally takes milliseconds
DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"
COMMUNITY = "trap-community-7f3a"
USER = TrapUser(SnmpCredentials("3", user="ups-trapper", auth_protocol="SHA",
                                auth_key="trap-auth-key-1", priv_protocol="AES",
                                priv_key="trap-priv-key-1"),
                engine_id="800000000102030405")
V3 = ["-v", "3", "-u", "ups-trapper", "-l", "authPriv", "-a", "SHA", "-A", "trap-auth-key-1",
      "-x", "AES", "-X", "trap-priv-key-1"]
ON_BATTERY = "1.3.6.1.2.1.33.2.0.1"
ALARM_ADDED = "1.3.6.1.2.1.33.2.0.3"
ALARM_REMOVED = "1.3.6.1.2.1.33.2.0.4"
ALARM_DESCR_1 = "1.3.6.1.2.1.33.1.6.2.1.2.1"


@dataclass
class Lab:
    """A started receiver, what it delivered, dropped and routed."""

    receiver: TrapReceiver
    tools: Path
    traps: asyncio.Queue[TrapMessage] = field(default_factory=asyncio.Queue)
    drops: list[tuple[str, str]] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)

    @property
    def dest(self) -> str:
        host, port = self.receiver.address
        return f"{host}:{port}"

    async def next_trap(self) -> TrapMessage:
        return await asyncio.wait_for(self.traps.get(), WAIT)

    async def run(self, program: str, *args: str) -> int:
        """Run snmptrap or snmpinform to the receiver; its exit code."""
        process = await asyncio.create_subprocess_exec(
            program, *args, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env=tool_env(self.tools))
        return await asyncio.wait_for(process.wait(), WAIT)

    async def trap(self, *args: str) -> int:
        return await self.run("snmptrap", *args)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    router_events: list[DeviceEvent] = []
    drops: list[tuple[str, str]] = []
    router = TrapRouter({"127.0.0.1": "ups"}, router_events.append,
                        lambda *d: drops.append(d))
    queue: asyncio.Queue[TrapMessage] = asyncio.Queue()

    def on_trap(trap: TrapMessage) -> None:
        router(trap)
        queue.put_nowait(trap)

    receiver = TrapReceiver(on_trap, host="127.0.0.1", port=0, communities=[COMMUNITY],
                            users=[USER], drop_counter=lambda *d: drops.append(d))
    await receiver.start()
    try:
        yield Lab(receiver, tmp_path, queue, drops, router_events)
    finally:
        await receiver.stop()
        await receiver.stop()


async def test_v2c_on_battery_trap_becomes_an_on_battery_event(lab: Lab) -> None:
    assert await lab.trap("-v", "2c", "-c", COMMUNITY, lab.dest, "4242", ON_BATTERY,
                          "1.3.6.1.2.1.33.1.2.3.0", "i", "18",
                          "1.3.6.1.2.1.33.1.2.2.0", "i", "312") == 0
    trap = await lab.next_trap()
    assert (trap.trap_oid, trap.version, trap.uptime, trap.inform) == (ON_BATTERY, "2c", 4242,
                                                                       False)
    assert trap.source[0] == "127.0.0.1"
    assert trap.varbinds == (("1.3.6.1.2.1.33.1.2.3.0", 18), ("1.3.6.1.2.1.33.1.2.2.0", 312))
    assert lab.events == [DeviceEvent("ups", "on_battery",
                                      {"minutes_remaining": 18, "seconds_on_battery": 312})]


async def test_ups_alarm_informs_are_answered_and_mapped(lab: Lab) -> None:
    low_battery, on_battery = "1.3.6.1.2.1.33.1.6.3.3", "1.3.6.1.2.1.33.1.6.3.2"
    inform = ["-v", "2c", "-c", COMMUNITY, "-t", "1", "-r", "0", lab.dest, ""]
    # snmpinform exits 0 only when the receiver acknowledged the inform.
    assert await lab.run("snmpinform", *inform, ALARM_ADDED, ALARM_DESCR_1, "o",
                         low_battery) == 0
    assert await lab.run("snmpinform", *inform, ALARM_REMOVED, ALARM_DESCR_1, "o",
                         on_battery) == 0
    first, second = await lab.next_trap(), await lab.next_trap()
    assert first.inform
    assert second.inform
    assert [(e.name, dict(e.data)) for e in lab.events] == [
        ("alarm", {"alarm": "low_battery", "active": True, "alarm_oid": low_battery}),
        ("on_mains", {}),
    ]


async def test_v1_link_down_is_translated_and_mapped(lab: Lab) -> None:
    assert await lab.trap("-v", "1", "-c", COMMUNITY, lab.dest, "1.3.6.1.4.1.8072.3.2.10",
                          "127.0.0.1", "2", "0", "99", "1.3.6.1.2.1.2.2.1.1.3", "i", "3",
                          "1.3.6.1.2.1.2.2.1.8.3", "i", "2") == 0
    trap = await lab.next_trap()
    assert (trap.version, trap.trap_oid) == ("1", "1.3.6.1.6.3.1.1.5.3")  # RFC 3584 §3.1
    assert all(COMMUNITY.encode() != value for _, value in trap.varbinds)
    assert lab.events == [DeviceEvent("ups", "link_down", {"if_index": 3, "oper_up": False})]


async def test_v3_authpriv_trap_and_inform(lab: Lab) -> None:
    assert await lab.trap(*V3, "-e", "0x" + USER.engine_id, lab.dest, "", ON_BATTERY) == 0
    trap = await lab.next_trap()
    assert (trap.version, trap.user, trap.inform) == ("3", "ups-trapper", False)
    # An inform is sent to our engine ID, which net-snmp discovers first (RFC 3414 §4).
    assert await lab.run("snmpinform", *V3, "-t", "1", "-r", "1", lab.dest, "",
                         "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.1.2", "i", "2") == 0
    inform = await lab.next_trap()
    assert (inform.version, inform.inform, inform.trap_oid) == ("3", True,
                                                                "1.3.6.1.6.3.1.1.5.4")
    assert [e.name for e in lab.events] == ["on_battery", "link_up"]
    assert lab.drops == []


async def test_garbage_is_counted_and_the_next_trap_still_arrives(lab: Lab) -> None:
    capture = bytes.fromhex((DATA / "ups-on-battery-v2c.trap.hex").read_text().strip())
    request = bytes.fromhex((DATA / "get-request-v2c.hex").read_text().strip())
    garbage = [b"", b"hello", capture[:40], capture + b"\x00", request, b"\x30\x80" + capture,
               b"\x30\x03\x02\x01\x07", capture]  # the last one has another community
    host, port = lab.receiver.address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in garbage:
            sock.sendto(datagram, (host, port))
    assert await lab.trap("-v", "2c", "-c", "not-our-community", lab.dest, "", ON_BATTERY) == 0
    assert await lab.trap(*V3[:8], "-A", "wrong-auth-key", *V3[10:], "-e",
                          "0x" + USER.engine_id, lab.dest, "", ON_BATTERY) == 0
    assert await lab.trap("-v", "2c", "-c", COMMUNITY, lab.dest, "", ON_BATTERY) == 0
    trap = await lab.next_trap()
    assert trap.trap_oid == ON_BATTERY
    assert lab.traps.empty()
    assert [reason for _, reason in lab.drops] == [
        "empty", "not_snmp", "truncated", "trailing_data", "not_notification", "bad_length",
        "bad_version", "bad_community", "bad_community", "wrong_digest"]
    assert {protocol for protocol, _ in lab.drops} == {"snmp"}
    assert lab.receiver.stats == {"received": 11, "delivered": 1, "dropped": 10}


async def test_a_failing_handler_does_not_stop_the_listener(tmp_path: Path) -> None:
    seen: list[TrapMessage] = []
    arrived = asyncio.Event()

    def on_trap(trap: TrapMessage) -> None:
        seen.append(trap)
        if len(seen) == 2:
            arrived.set()
        raise RuntimeError("a bug in the handler")

    receiver = TrapReceiver(on_trap, host="127.0.0.1", port=0, communities=[COMMUNITY])
    await receiver.start()
    try:
        lab = Lab(receiver, tmp_path)
        for _ in range(2):
            assert await lab.trap("-v", "2c", "-c", COMMUNITY, lab.dest, "", ON_BATTERY) == 0
        await asyncio.wait_for(arrived.wait(), WAIT)
    finally:
        await receiver.stop()
    assert len(seen) == 2


async def test_a_port_in_use_is_a_transport_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        receiver = TrapReceiver(lambda _trap: None, host="127.0.0.1",
                                port=taken.getsockname()[1], communities=[COMMUNITY])
        with pytest.raises(EndpointTransportError):
            await receiver.start()
    assert not receiver.running
    with pytest.raises(EndpointTransportError):
        _ = receiver.address


async def test_sources_and_credentials_come_from_the_device_specs() -> None:
    specs = [
        DeviceSpec(id="ups", kind="power", protocol="snmp", host="127.0.0.1",
                   options={"version": "2c"}, secrets={"community": COMMUNITY}),
        DeviceSpec(id="sw", kind="network", protocol="snmp", host="::1",
                   options={"version": "3", "user": "u", "engine_id": "80000000aa"},
                   secrets={"auth_key": "auth-key-1", "priv_key": "priv-key-1"}),
        DeviceSpec(id="cam", kind="camera", protocol="visca-ip", host="127.0.0.2"),
    ]
    assert await resolve_sources(specs) == {"127.0.0.1": "ups", "::1": "sw"}
    communities, users = trap_credentials(specs)
    assert communities == [COMMUNITY]
    assert [(u.credentials.user, u.credentials.priv_protocol, u.engine_id) for u in users] == [
        ("u", "AES", "80000000aa")]
