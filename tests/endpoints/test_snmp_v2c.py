"""The v2c request path against a scripted UDP agent: what no real agent does on purpose
(garbage, stray answers, lost datagrams) must not fail or confuse a request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import cast

import pytest

from endpoints.errors import EndpointTimeoutError, EndpointTransportError
from endpoints.interfaces import DeviceSpec, PowerSupply
from endpoints.snmp.ber import RESPONSE, Response, decode_response, encode_request
from endpoints.snmp.client import SnmpClient
from endpoints.snmp.config import SnmpCredentials
from endpoints.snmp.devices import device_from_spec

COMMUNITY = "scripted-agent"
UPTIME = "1.3.6.1.2.1.1.3.0"
WAIT = 3.0

# What the agent sends back for one request: a list of datagrams, given the request.
Script = Callable[[bytes], list[bytes]]


def as_response(request: bytes) -> Response:
    """One of our requests read as if it were a response (same PDU layout)."""
    header = 2 if request[1] < 0x80 else 2 + (request[1] & 0x7F)  # the message SEQUENCE
    version_end = header + 3  # INTEGER 1
    community_end = version_end + 2 + request[version_end + 1]  # a short community
    body = bytearray(request)
    body[community_end] = RESPONSE
    return decode_response(bytes(body))


def request_id_of(request: bytes) -> int:
    """The request-id of one of our requests."""
    return as_response(request).request_id


def echo(request: bytes) -> bytes:
    """An answer naming every requested OID, each with a NULL value."""
    parsed = as_response(request)
    return encode_request(COMMUNITY.encode(), parsed.request_id, RESPONSE,
                          [(oid, None) for oid, _ in parsed.varbinds])


def answer(request: bytes, *, community: str = COMMUNITY, shift: int = 0) -> bytes:
    """A well-formed answer: sysUpTime.0 = 4242."""
    return encode_request(community.encode(), request_id_of(request) + shift, RESPONSE,
                          [((1, 3, 6, 1, 2, 1, 1, 3, 0), (0x43, 4242))])


@dataclass
class Agent(asyncio.DatagramProtocol):
    """Answers each request as ``script`` says."""

    script: Script
    requests: list[bytes] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append(data)
        self.received.set()
        assert self.transport is not None
        for reply in self.script(data):
            self.transport.sendto(reply, addr)


@dataclass
class Lab:
    drops: list[tuple[str, str]] = field(default_factory=list)
    closers: list[Callable[[], object]] = field(default_factory=list)

    async def start(self, script: Script, *, retries: int = 0,
                    per_try: float = 0.3) -> tuple[Agent, SnmpClient]:
        loop = asyncio.get_running_loop()
        transport, agent = await loop.create_datagram_endpoint(
            lambda: Agent(script), local_addr=("127.0.0.1", 0))
        self.closers.append(transport.close)
        port = transport.get_extra_info("sockname")[1]
        client = SnmpClient("127.0.0.1", SnmpCredentials("2c", community=COMMUNITY),
                            port=port, timeout=per_try, retries=retries,
                            drop_counter=lambda *d: self.drops.append(d))
        self.closers.append(client.close)
        return agent, client


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    made = Lab()
    try:
        yield made
    finally:
        for close in reversed(made.closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result


async def test_garbage_and_stray_answers_are_dropped_and_counted(lab: Lab) -> None:
    agent, client = await lab.start(lambda request: [
        b"\x00garbage", answer(request, shift=1), answer(request, community="other"),
        answer(request)[:-3], answer(request)])
    assert await asyncio.wait_for(client.get([UPTIME]), WAIT) == {UPTIME: 4242}
    assert lab.drops == [("snmp", "not_snmp"), ("snmp", "unknown_request"),
                         ("snmp", "bad_community"), ("snmp", "truncated")]
    assert len(agent.requests) == 1


async def test_a_lost_datagram_is_resent_with_the_same_request_id(lab: Lab) -> None:
    agent, client = await lab.start(
        lambda request: [answer(request)] if len(agent.requests) > 1 else [], retries=1)
    assert await asyncio.wait_for(client.get([UPTIME]), WAIT) == {UPTIME: 4242}
    first, second = agent.requests
    assert first == second


async def test_silence_is_a_timeout_after_every_try(lab: Lab) -> None:
    agent, client = await lab.start(lambda _request: [], retries=2, per_try=0.1)
    with pytest.raises(EndpointTimeoutError):
        await asyncio.wait_for(client.get([UPTIME]), WAIT)
    assert len(agent.requests) == 3


async def test_a_drivers_drops_reach_the_controllers_counter(lab: Lab) -> None:
    agent, client = await lab.start(lambda request: [b"\x30\x05", echo(request)])
    host, port = client.host, client.port
    device = device_from_spec(DeviceSpec(id="ups", kind="power", protocol="snmp", host=host,
                                         port=port, options={"version": "2c"},
                                         secrets={"community": COMMUNITY}))
    counted: list[tuple[str, str]] = []
    device.set_drop_counter(lambda *d: counted.append(d))
    await device.open()
    try:
        assert isinstance(device, PowerSupply)
        status = await asyncio.wait_for(device.status(), WAIT)
    finally:
        await device.close()
    assert status.on_battery is False
    assert counted == [("snmp", "truncated")]
    assert len(agent.requests) == 1


async def test_closing_fails_a_waiting_request(lab: Lab) -> None:
    agent, client = await lab.start(lambda _request: [], per_try=2.0)
    pending = asyncio.ensure_future(client.get([UPTIME]))
    await asyncio.wait_for(agent.received.wait(), WAIT)
    await client.close()
    with pytest.raises(EndpointTransportError):
        await asyncio.wait_for(pending, WAIT)
