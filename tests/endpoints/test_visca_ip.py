"""VISCA over IP: the session on a fake clock, then cameras against the UDP simulator."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from endpoints.errors import (
    DeviceRefusedError,
    EndpointTimeoutError,
    EndpointTransportError,
    LocalProtocolError,
)
from endpoints.interfaces import DeviceSpec, PowerState
from endpoints.sim.visca import Datagram, UdpSimulator, ViscaSimulator
from endpoints.visca import codec, ip
from endpoints.visca.camera import ViscaCamera, camera_from_spec
from endpoints.visca.codec import FrameDropped
from endpoints.visca.ip import IpSession, Packet, PayloadType
from tests.conftest import FakeClock

# -- the session, on a fake clock ------------------------------------------------------------

RESET = ip.encode_packet(Packet(PayloadType.CONTROL_COMMAND, 0, b"\x01"))
RESET_ACK = ip.encode_packet(Packet(PayloadType.CONTROL_REPLY, 0, b"\x01"))


def reply(sequence: int, hex_payload: str) -> bytes:
    return ip.encode_packet(Packet(PayloadType.VISCA_REPLY, sequence,
                                   bytes.fromhex(hex_payload)))


def control(sequence: int, payload: bytes) -> bytes:
    return ip.encode_packet(Packet(PayloadType.CONTROL_REPLY, sequence, payload))


def sent(session: IpSession) -> list[Packet]:
    return [ip.decode_packet(d) for d in session.datagrams_to_send()]


def events(session: IpSession) -> list[ip.IpEvent]:
    out = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def ready_session(clock: FakeClock, **kwargs: Any) -> IpSession:
    session = IpSession(retransmit_interval=0.2, max_retransmits=3, **kwargs)
    session.start_reset(clock(), 1.0)
    assert session.datagrams_to_send() == [RESET]
    session.datagram_received(RESET_ACK, clock())
    assert events(session) == [ip.ResetDone()]
    return session


def test_reset_comes_first_then_sequence_numbers_count_up_from_one(clock: FakeClock) -> None:
    session = IpSession()
    session.send(codec.cam_power(True), clock(), reply_timeout=1, completion_timeout=5)
    assert session.datagrams_to_send() == [RESET]
    session.datagram_received(RESET_ACK, clock())
    (power,) = sent(session)
    assert (power.type, power.sequence, power.payload.hex(" ")) == (
        PayloadType.VISCA_COMMAND, 1, "81 01 04 00 02 ff")
    session.datagram_received(reply(1, "90 41 ff"), clock())
    session.datagram_received(reply(1, "90 51 ff"), clock())
    assert events(session) == [ip.Replied(b"")]
    session.send(codec.cam_power_inquiry(), clock(), reply_timeout=1, completion_timeout=1)
    (inquiry,) = sent(session)
    assert (inquiry.type, inquiry.sequence) == (PayloadType.VISCA_INQUIRY, 2)
    session.datagram_received(reply(2, "90 50 02 ff"), clock())
    assert events(session) == [ip.Replied(b"\x02")]


def test_unanswered_message_is_resent_with_the_same_number_then_times_out(
        clock: FakeClock) -> None:
    session = ready_session(clock)
    session.send(codec.cam_power_inquiry(), clock(), reply_timeout=1.0, completion_timeout=1)
    first = session.datagrams_to_send()
    resent = []
    while (when := session.get_timer()) is not None:
        clock.now = when
        session.handle_timer(clock())
        resent += session.datagrams_to_send()
    assert resent == first * 3  # max_retransmits, byte for byte: same sequence number
    assert clock.now == pytest.approx(1_790_000_000.0 + 1.0)
    assert events(session) == [ip.TimedOut("reply", 1.0)]


def test_lost_ack_resend_answered_with_sequence_error_means_performed(clock: FakeClock) -> None:
    session = ready_session(clock)
    session.send(codec.cam_power(False), clock(), reply_timeout=1, completion_timeout=5)
    (first,) = sent(session)
    clock.advance(0.2)
    session.handle_timer(clock())
    (again,) = sent(session)
    assert again == first
    session.datagram_received(control(first.sequence, ip.CONTROL_SEQUENCE_ERROR), clock())
    assert events(session) == [ip.Replied(b"", confirmed=False)]


def test_lost_inquiry_reply_is_asked_again_under_a_new_number(clock: FakeClock) -> None:
    session = ready_session(clock)
    session.send(codec.zoom_position_inquiry(), clock(), reply_timeout=1, completion_timeout=1)
    (first,) = sent(session)
    clock.advance(0.2)
    session.handle_timer(clock())
    sent(session)
    session.datagram_received(control(first.sequence, ip.CONTROL_SEQUENCE_ERROR), clock())
    (fresh,) = sent(session)
    assert fresh.sequence == first.sequence + 1
    assert fresh.payload == first.payload
    session.datagram_received(reply(first.sequence, "90 50 01 02 03 04 ff"), clock())
    assert [type(e) for e in events(session)] == [FrameDropped]  # late answer to the old one
    session.datagram_received(reply(fresh.sequence, "90 50 01 02 03 04 ff"), clock())
    assert events(session) == [ip.Replied(bytes.fromhex("01 02 03 04"))]


def test_ack_then_silence_probes_once_and_accepts_the_cameras_word(clock: FakeClock) -> None:
    session = ready_session(clock)
    session.send(codec.memory_recall(2), clock(), reply_timeout=1, completion_timeout=4)
    (first,) = sent(session)
    session.datagram_received(reply(first.sequence, "90 41 ff"), clock())
    assert session.get_timer() == clock() + 4  # no resends while the camera moves
    clock.advance(4)
    session.handle_timer(clock())
    assert sent(session) == [first]
    session.datagram_received(control(first.sequence, ip.CONTROL_SEQUENCE_ERROR), clock())
    assert events(session) == [ip.Replied(b"", confirmed=False)]


def test_camera_out_of_step_gets_a_new_reset(clock: FakeClock) -> None:
    session = ready_session(clock)
    session.send(codec.cam_power_inquiry(), clock(), reply_timeout=1, completion_timeout=1)
    (first,) = sent(session)
    session.datagram_received(control(first.sequence, ip.CONTROL_SEQUENCE_ERROR), clock())
    assert session.datagrams_to_send() == [RESET]
    session.datagram_received(RESET_ACK, clock())
    (again,) = sent(session)
    assert again.sequence == 1
    assert again.payload == first.payload
    session.datagram_received(control(1, ip.CONTROL_SEQUENCE_ERROR), clock())
    assert events(session) == [ip.Rejected(ip.CONTROL_SEQUENCE_ERROR)]


def test_quirk_mode_sends_no_reset_and_numbers_everything_zero(clock: FakeClock) -> None:
    session = IpSession(quirk=True, retransmit_interval=0.2)
    for message in (codec.cam_power_inquiry(), codec.zoom_stop()):
        session.send(message, clock(), reply_timeout=1, completion_timeout=1)
        (packet,) = sent(session)
        assert packet.sequence == 0
        assert packet.type is not PayloadType.CONTROL_COMMAND
        session.datagram_received(reply(7, "90 50 02 ff" if packet.type is
                                        PayloadType.VISCA_INQUIRY else "90 51 ff"), clock())
        assert [type(e) for e in events(session)] == [ip.Replied]


def test_quirk_mode_never_resends_a_relative_move(clock: FakeClock) -> None:
    session = IpSession(quirk=True, retransmit_interval=0.2)
    session.send(codec.pan_tilt_relative(1, 1, 100, 0), clock(), reply_timeout=1,
                 completion_timeout=1)
    sent(session)
    assert session.get_timer() == clock() + 1  # only the deadline, no resend
    clock.advance(1)
    session.handle_timer(clock())
    assert sent(session) == []
    assert events(session) == [ip.TimedOut("reply", 1)]


def test_a_second_message_while_one_is_in_flight_is_refused(clock: FakeClock) -> None:
    session = ready_session(clock)
    session.send(codec.cam_power_inquiry(), clock(), reply_timeout=1, completion_timeout=1)
    with pytest.raises(LocalProtocolError):
        session.send(codec.zoom_stop(), clock(), reply_timeout=1, completion_timeout=1)


@settings(max_examples=300, deadline=None)
@given(noise=st.lists(st.binary(max_size=30), max_size=5))
def test_arbitrary_datagrams_never_break_the_session(noise: list[bytes]) -> None:
    clock = FakeClock()
    session = ready_session(clock)
    session.send(codec.cam_power_inquiry(), clock(), reply_timeout=1, completion_timeout=1)
    (packet,) = sent(session)
    for data in noise:
        session.datagram_received(data, clock())
    session.datagram_received(reply(packet.sequence, "90 50 02 ff"), clock())
    got = events(session)
    assert all(isinstance(e, ip.IpEvent) for e in got)
    if session.busy:
        raise AssertionError("a valid reply did not finish the message")
    assert got[-1] == ip.Replied(b"\x02") or isinstance(got[-1], ip.Refused | ip.Rejected)


# -- cameras against the UDP simulator -------------------------------------------------------

@pytest.fixture
async def camera_sim() -> AsyncIterator[UdpSimulator]:
    sim = UdpSimulator(ViscaSimulator(1, travel_time=0.1))
    await sim.start("127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()


CameraFactory = Callable[..., ViscaCamera]


@pytest.fixture
async def make_camera() -> AsyncIterator[CameraFactory]:
    made: list[ViscaCamera] = []

    def make(port: int, **options: Any) -> ViscaCamera:
        spec = DeviceSpec("cam-ip", "camera", "visca-ip", host="127.0.0.1", port=port,
                          timeout=0.5, options={"retransmit_interval": 0.1, **options})
        camera = camera_from_spec(spec)
        made.append(camera)
        return camera

    try:
        yield make
    finally:
        for camera in made:
            await camera.close()


def visca(sim: UdpSimulator) -> list[Datagram]:
    return [d for d in sim.log if d.type in (PayloadType.VISCA_COMMAND,
                                             PayloadType.VISCA_INQUIRY)]


async def test_open_resets_and_each_message_takes_the_next_number(
        camera_sim: UdpSimulator, make_camera: CameraFactory) -> None:
    assert camera_sim.address is not None
    camera = make_camera(camera_sim.address[1])
    await camera.open()
    await camera.move_absolute(0.5, 0.5)
    assert await camera.poll() == {"power": "on", "pan": 0.5, "tilt": 0.5, "zoom": 0.0}
    assert camera_sim.log[0].type == PayloadType.CONTROL_COMMAND
    assert camera_sim.log[0].payload == ip.CONTROL_RESET
    assert [d.sequence for d in visca(camera_sim)] == [1, 2, 3, 4]


async def test_dropped_datagram_is_resent_with_the_same_number(
        camera_sim: UdpSimulator, make_camera: CameraFactory) -> None:
    assert camera_sim.address is not None
    camera = make_camera(camera_sim.address[1])
    await camera.open()
    camera_sim.drop_requests = 1
    await camera.preset_store(4)
    # (a very slow machine may resend more than once; the extra copies are answered 0F 01)
    first, again, *_ = visca(camera_sim)
    assert (first.sequence, first.payload) == (again.sequence, again.payload)
    assert (first.answered, again.answered) == (False, True)
    assert camera_sim.sim.requests.count(camera_sim.sim.requests[-1]) == 1  # run once
    assert camera_sim.sim.cameras[0].presets.keys() == {4}


async def test_lost_reply_to_an_inquiry_is_asked_again(
        camera_sim: UdpSimulator, make_camera: CameraFactory) -> None:
    assert camera_sim.address is not None
    camera = make_camera(camera_sim.address[1])
    await camera.open()
    camera_sim.drop_replies = 1
    assert await camera.get_power() is PowerState.ON
    sequences = [d.sequence for d in visca(camera_sim)]
    # resent, told "already had it", then asked under a new number
    assert sequences[:2] == [1, 1]
    assert sequences[-1] == 2


async def test_camera_errors_over_ip_are_typed(camera_sim: UdpSimulator,
                                               make_camera: CameraFactory) -> None:
    assert camera_sim.address is not None
    camera = make_camera(camera_sim.address[1])
    await camera.open()
    await camera.set_power(False)
    with pytest.raises(DeviceRefusedError) as caught:
        await camera.move(1.0, 0.0, 0.5)
    assert caught.value.device_code == "0x41"


async def test_quirk_camera_works_only_with_sequence_quirk(make_camera: CameraFactory) -> None:
    sim = UdpSimulator(ViscaSimulator(1, travel_time=0.1), quirk=True)
    _, port = await sim.start("127.0.0.1", 0)
    try:
        plain = make_camera(port)
        await plain.open()
        with pytest.raises(EndpointTimeoutError):
            await plain.get_power()
        quirky = make_camera(port, sequence_quirk=True)
        await quirky.open()
        await quirky.zoom_to(0.5)
        assert (await quirky.get_position()).zoom == 0.5
        answered = [d for d in sim.log if d.answered and d.type != PayloadType.CONTROL_COMMAND]
        assert answered
        assert {d.sequence for d in answered} == {0}
    finally:
        await sim.stop()


async def test_unreachable_camera_is_reported_then_works_when_it_returns(
        make_camera: CameraFactory) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    camera = make_camera(port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EndpointTransportError, match="unreachable"):
        await camera.open()
    assert loop.time() - started < 0.5  # refused at once, not after the timeout
    # The camera finishes rebooting: the same camera object works without a restart.
    sim = UdpSimulator(ViscaSimulator(1, travel_time=0.1))
    await sim.start("127.0.0.1", port)
    try:
        assert await camera.get_power() is PowerState.ON
        assert sim.log[0].type == PayloadType.CONTROL_COMMAND  # sequence numbers reset first
    finally:
        await sim.stop()
