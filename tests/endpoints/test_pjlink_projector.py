"""PjlinkProjector against the PJLink simulator over loopback TCP (and UDP notifications)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from endpoints.commands import execute
from endpoints.errors import (
    AuthenticationFailedError,
    CommandArgumentError,
    DeviceBusyError,
    DeviceRefusedError,
    EndpointTimeoutError,
    EndpointTransportError,
    RemoteProtocolError,
    is_retryable,
)
from endpoints.interfaces import DeviceEvent, DeviceSpec, PowerState
from endpoints.pjlink.client import NotificationListener
from endpoints.pjlink.projector import PjlinkProjector, projector_from_spec
from endpoints.registry import build_device
from endpoints.sim.pjlink import PjlinkSimulator, ProjectorModel
from tests.conftest import FakeClock, free_port

WAIT = 3.0  # bound on every wait for the network; each normally takes milliseconds


@pytest.fixture
def udp_drops() -> list[tuple[str, str]]:
    return []


@pytest.fixture
async def listener(udp_drops: list[tuple[str, str]]) -> AsyncIterator[NotificationListener]:
    udp = NotificationListener("127.0.0.1", 0, drop_counter=lambda *d: udp_drops.append(d))
    await udp.start()
    try:
        yield udp
    finally:
        await udp.close()


SimFactory = Callable[..., Any]


@pytest.fixture
async def simulator(clock: FakeClock) -> AsyncIterator[SimFactory]:
    started: list[PjlinkSimulator] = []

    async def start(*, pjlink_class: int = 1, **kwargs: Any) -> PjlinkSimulator:
        model = ProjectorModel(pjlink_class=pjlink_class, now=clock(), warmup=20.0,
                               cooldown=10.0)
        sim = PjlinkSimulator(model, clock=clock, **kwargs)
        await sim.start()
        started.append(sim)
        return sim

    try:
        yield start
    finally:
        for sim in started:
            await sim.close()


@pytest.fixture
async def projectors() -> AsyncIterator[Callable[..., PjlinkProjector]]:
    made: list[PjlinkProjector] = []

    def make(sim: PjlinkSimulator | None = None, *, port: int | None = None,
             password: str | None = None, **options: Any) -> PjlinkProjector:
        spec = DeviceSpec(
            "pj1", "projector", "pjlink", host="127.0.0.1",
            port=port if sim is None else sim.port, timeout=0.5,
            options={"inputs": {"HDMI1": "31", "HDMI2": "32"}, **options},
            secrets={"password": password} if password is not None else {})
        projector = projector_from_spec(spec)
        made.append(projector)
        return projector

    try:
        yield make
    finally:
        for projector in made:
            await projector.close()


async def next_event(queue: asyncio.Queue[DeviceEvent]) -> DeviceEvent:
    async with asyncio.timeout(WAIT):
        return await queue.get()


async def test_power_on_warms_up_then_is_on(simulator: SimFactory, projectors: Any,
                                            clock: FakeClock) -> None:
    sim = await simulator()
    projector = projectors(sim)
    await projector.open()
    assert await projector.get_power() == PowerState.OFF
    await projector.set_power(True)
    assert await projector.get_power() == PowerState.WARMING
    clock.advance(19)
    assert await projector.get_power() == PowerState.WARMING
    clock.advance(2)
    assert await projector.get_power() == PowerState.ON
    await projector.set_power(False)
    assert await projector.get_power() == PowerState.COOLING
    with pytest.raises(DeviceBusyError):
        await projector.set_power(True)  # no switching on while cooling down
    clock.advance(11)
    assert await projector.get_power() == PowerState.OFF


async def test_input_while_warming_is_busy_then_works(simulator: SimFactory, projectors: Any,
                                                      clock: FakeClock) -> None:
    sim = await simulator()
    projector = projectors(sim)
    await projector.open()
    await projector.set_power(True)
    with pytest.raises(DeviceBusyError) as busy:
        await projector.set_input("HDMI2")
    assert busy.value.device_code == "ERR3"
    assert is_retryable(busy.value)
    clock.advance(21)
    await projector.set_input("HDMI2")
    assert sim.model.selected == "32"
    assert await projector.get_input() == "HDMI2"
    assert list(await projector.inputs()) == ["RGB1", "RGB2", "HDMI1", "HDMI2", "NETWORK1"]


async def test_contract_commands_reach_the_projector(simulator: SimFactory, projectors: Any,
                                                     clock: FakeClock) -> None:
    sim = await simulator()
    projector = projectors(sim)
    await projector.open()
    assert await execute(projector, "power", {"on": True}) == {}
    clock.advance(21)
    await execute(projector, "input", {"source": "hdmi1"})
    await execute(projector, "av_mute", {"on": True})
    assert (sim.model.power, sim.model.selected) == (PowerState.ON, "31")
    assert sim.model.video_mute
    assert sim.model.audio_mute
    assert (await projector.poll())["av_mute"] is True
    with pytest.raises(CommandArgumentError):
        await execute(projector, "input", {"source": "SDI9"})


async def test_password_is_used_and_checked(simulator: SimFactory, projectors: Any) -> None:
    sim = await simulator(password="JBMIAProjectorLink")
    projector = projectors(sim, password="JBMIAProjectorLink")
    await projector.open()
    assert await projector.get_power() == PowerState.OFF
    assert sim.auth_failures == 0
    assert len(sim.commands) == 2  # CLSS then POWR, one connection


async def test_wrong_password_is_authentication_failed(simulator: SimFactory,
                                                       projectors: Any) -> None:
    sim = await simulator(password="JBMIAProjectorLink")
    projector = projectors(sim, password="not-the-password")
    with pytest.raises(AuthenticationFailedError) as failed:
        await projector.open()
    assert not is_retryable(failed.value)
    assert sim.auth_failures == 1
    assert sim.commands == []


async def test_missing_password_is_authentication_failed(simulator: SimFactory,
                                                         projectors: Any) -> None:
    sim = await simulator(password="JBMIAProjectorLink")
    projector = projectors(sim)
    with pytest.raises(AuthenticationFailedError, match="none is configured"):
        await projector.open()
    assert sim.auth_failures == 0


async def test_lamp_hours_grow_while_lit(simulator: SimFactory, projectors: Any,
                                         clock: FakeClock) -> None:
    sim = await simulator()
    projector = projectors(sim)
    await projector.open()
    assert list(await projector.lamp_hours()) == [1000]
    await projector.set_power(True)
    clock.advance(3 * 3600)
    assert list(await projector.lamp_hours()) == [1003]
    await projector.set_power(False)
    clock.advance(5 * 3600)
    assert list(await projector.lamp_hours()) == [1003]


async def test_error_status_reaches_poll(simulator: SimFactory, projectors: Any) -> None:
    sim = await simulator()
    projector = projectors(sim)
    await projector.open()
    assert (await projector.error_status()).problems() == {}
    sim.set_error("lamp", "warning")
    sim.set_error("temperature", "error")
    errors = await projector.error_status()
    assert errors.problems() == {"lamp": "warning", "temperature": "error"}
    readings = await projector.poll()
    assert readings["errors"]["temperature"] == "error"
    assert set(readings) == {"power", "input", "av_mute", "lamp_hours", "errors", "name",
                             "inputs"}
    assert "HDMI1" in readings["inputs"]  # the configured friendly names
    assert readings["power"] == "off"
    assert readings["name"] == sim.model.name


async def test_idle_drop_then_next_command_reconnects(simulator: SimFactory,
                                                      projectors: Any) -> None:
    sim = await simulator(password="JBMIAProjectorLink", idle_timeout=0.2)
    projector = projectors(sim, password="JBMIAProjectorLink")
    await projector.open()
    async with asyncio.timeout(WAIT):
        await sim.wait_disconnect()
    assert sim.idle_drops == 1
    assert await projector.get_power() == PowerState.OFF  # reconnected and re-authenticated
    assert sim.connections == 2
    assert sim.auth_failures == 0


async def test_projector_gone_is_unreachable(simulator: SimFactory, projectors: Any) -> None:
    sim = await simulator()
    projector = projectors(sim)
    await projector.open()
    await sim.close()
    with pytest.raises(EndpointTransportError):
        await projector.get_power()


async def test_close_unnoticed_before_sending_is_retried_once(projectors: Any) -> None:
    # The projector closes the connection as the command arrives (its idle timer ran out
    # just then): the client cannot have seen it coming, so it reconnects and repeats.
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.write(b"PJLINK 0\r")
        lines = 0
        while line := await reader.readuntil(b"\r"):
            lines += 1
            if len(connections) == 1 and lines == 2:
                break
            writer.write(b"%1POWR=1\r" if b"POWR" in line else b"%1CLSS=1\r")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        projector = projectors(port=server.sockets[0].getsockname()[1])
        await projector.open()
        assert await projector.get_power() == PowerState.ON
        assert len(connections) == 2
    finally:
        await projector.close()
        server.close()
        await server.wait_closed()


async def test_class2_notifications_arrive_as_device_events(
        simulator: SimFactory, projectors: Any, listener: NotificationListener,
        clock: FakeClock) -> None:
    sim = await simulator(pjlink_class=2, notify_to=("127.0.0.1", listener.port))
    projector = projectors(sim)
    events: asyncio.Queue[DeviceEvent] = asyncio.Queue()
    projector.set_event_sink(events.put_nowait)
    await projector.attach_notifications(listener)
    await projector.open()
    assert projector.pjlink_class == 2
    await projector.set_power(True)
    assert await next_event(events) == DeviceEvent("pj1", "power", {"state": "warming"})
    clock.advance(21)
    sim.tick()
    assert await next_event(events) == DeviceEvent("pj1", "power", {"state": "on"})
    sim.set_error("filter", "warning")
    event = await next_event(events)
    assert event.name == "errors"
    assert event.data["problems"] == {"filter": "warning"}
    await projector.set_input("HDMI2")
    assert await next_event(events) == DeviceEvent("pj1", "input",
                                                   {"source": "HDMI2", "code": "32"})


async def test_class2_queries(simulator: SimFactory, projectors: Any,
                             clock: FakeClock) -> None:
    sim = await simulator(pjlink_class=2)
    projector = projectors(sim)
    await projector.open()
    assert await projector.identify() == {
        "manufacturer": "DIEMCAU", "product": "SIM-PJ1", "other": "simulator",
        "serial": "SIM0001234", "software": "1.02"}
    assert await projector.input_resolution() == "-"
    await projector.set_power(True)
    clock.advance(2 * 3600)
    assert await projector.input_resolution() == "1920x1080"
    assert await projector.filter_hours() == 122
    assert await projector.input_label("HDMI2") == "Input 32"
    assert sim.commands[-1].pjlink_class == 2


async def test_class1_projector_refuses_class2_queries(simulator: SimFactory,
                                                       projectors: Any) -> None:
    sim = await simulator(pjlink_class=1)
    projector = projectors(sim)
    await projector.open()
    with pytest.raises(DeviceRefusedError) as refused:
        await projector.filter_hours()
    assert refused.value.device_code == "ERR1"
    assert "serial" not in await projector.identify()
    with pytest.raises(CommandArgumentError):
        await projector.set_input("DIGITAL10")  # class 2 input numbering


async def test_listener_drops_strangers(listener: NotificationListener, projectors: Any,
                                        udp_drops: list[tuple[str, str]]) -> None:
    projector = projectors(port=9)
    events: list[DeviceEvent] = []
    projector.set_event_sink(events.append)
    await projector.attach_notifications(listener)
    listener.datagram_received(b"%2POWR=1\r", ("192.0.2.7", 4352))
    listener.datagram_received(b"%2POWR=9\r", ("127.0.0.1", 4352))
    listener.datagram_received(b"%2LKUP=00:1b:2c:3d:4e:5f\r", ("127.0.0.1", 4352))
    assert events == [DeviceEvent("pj1", "link_up", {"mac": "00:1b:2c:3d:4e:5f"})]
    assert udp_drops == [("pjlink", "unknown_source")]
    await projector.close()
    listener.datagram_received(b"%2POWR=1\r", ("127.0.0.1", 4352))
    assert len(events) == 1  # closed projectors hear nothing


async def test_bad_notification_value_is_counted(projectors: Any) -> None:
    projector = projectors(port=9)
    drops: list[tuple[str, str]] = []
    projector.set_drop_counter(lambda *d: drops.append(d))
    listener = NotificationListener("127.0.0.1", 0)
    await projector.attach_notifications(listener)
    listener.datagram_received(b"%2POWR=9\r%2ERST=00\r", ("127.0.0.1", 4352))
    assert drops == [("pjlink", "bad_value"), ("pjlink", "bad_value")]


async def test_no_greeting_is_a_timeout(projectors: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        projector = projectors(port=server.sockets[0].getsockname()[1])
        async with asyncio.timeout(WAIT):
            with pytest.raises(EndpointTimeoutError):
                await projector.open()
    finally:
        server.close()
        await server.wait_closed()


async def test_unsupported_greeting_is_a_protocol_error(projectors: Any) -> None:
    async def newer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"PJLINK 2 0123456789abcdef\r")
        await reader.read()
        writer.close()

    server = await asyncio.start_server(newer, "127.0.0.1", 0)
    try:
        projector = projectors(port=server.sockets[0].getsockname()[1])
        drops: list[tuple[str, str]] = []
        projector.set_drop_counter(lambda *d: drops.append(d))
        with pytest.raises(RemoteProtocolError, match="greeting"):
            await projector.open()
        assert drops == [("pjlink", "bad_greeting")]
    finally:
        server.close()
        await server.wait_closed()


async def test_nobody_listening_is_unreachable(projectors: Any) -> None:
    projector = projectors(port=free_port())
    with pytest.raises(EndpointTransportError):
        await projector.open()


def test_registry_builds_a_pjlink_projector() -> None:
    spec = DeviceSpec("pj1", "projector", "pjlink", host="10.0.0.5",
                      options={"pjlink_class": 2})
    device = build_device(spec)
    assert isinstance(device, PjlinkProjector)
    assert device.pjlink_class == 2
    with pytest.raises(ValueError, match="host"):
        build_device(DeviceSpec("pj2", "projector", "pjlink"))
    with pytest.raises(ValueError, match="pjlink_class"):
        build_device(DeviceSpec("pj3", "projector", "pjlink", host="h",
                                options={"pjlink_class": 3}))
