"""VISCA over serial: the in-flight tracker on a fake clock, then cameras over socat ptys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from endpoints.errors import (
    DeviceBusyError,
    DeviceRefusedError,
    EndpointTimeoutError,
    EndpointTransportError,
)
from endpoints.interfaces import DeviceEvent, DeviceSpec, PowerState
from endpoints.sim.visca import SerialSimulator, ViscaSimulator
from endpoints.visca import codec
from endpoints.visca.camera import ViscaCamera, camera_from_spec
from endpoints.visca.codec import Ack, Completion, Error, InquiryReply, Returned
from endpoints.visca.tracker import Done, InFlight, Refused, TimedOut, Undeliverable
from endpoints.visca.transport import ViscaBus
from tests.conftest import FakeClock

TIMEOUT = 0.5

# -- the tracker, on a fake clock ------------------------------------------------------------


def sent(tracker: InFlight, clock: FakeClock) -> list[str]:
    return [f.hex(" ") for f in tracker.frames_to_send(clock())]


def test_command_is_done_after_its_ack_and_completion(clock: FakeClock) -> None:
    tracker = InFlight()
    token = tracker.submit(1, codec.cam_power(True), reply_timeout=1, completion_timeout=5)
    assert sent(tracker, clock) == ["81 01 04 00 02 ff"]
    assert tracker.receive(Ack(1, 1), clock())
    assert tracker.next_outcome() is None
    assert tracker.receive(Completion(1, 1), clock())
    assert tracker.next_outcome() == Done(token, b"")
    assert tracker.get_timer() is None


def test_no_answer_times_out_exactly_at_the_reply_timeout(clock: FakeClock) -> None:
    tracker = InFlight()
    token = tracker.submit(1, codec.cam_power_inquiry(), reply_timeout=2, completion_timeout=5)
    sent(tracker, clock)
    assert tracker.get_timer() == clock() + 2
    clock.advance(1.999)
    tracker.handle_timer(clock())
    assert tracker.next_outcome() is None
    clock.advance(0.001)
    tracker.handle_timer(clock())
    assert tracker.next_outcome() == TimedOut(token, "reply", 2)


def test_completion_deadline_starts_at_the_ack(clock: FakeClock) -> None:
    tracker = InFlight()
    token = tracker.submit(1, codec.memory_recall(1), reply_timeout=1, completion_timeout=10)
    sent(tracker, clock)
    clock.advance(0.5)
    tracker.receive(Ack(1, 2), clock())
    assert tracker.get_timer() == clock() + 10
    clock.advance(10)
    tracker.handle_timer(clock())
    assert tracker.next_outcome() == TimedOut(token, "completion", 10)


def test_a_third_command_waits_for_a_free_socket(clock: FakeClock) -> None:
    tracker = InFlight(sockets=2)
    first = tracker.submit(1, codec.pan_tilt_home(), reply_timeout=1, completion_timeout=9)
    tracker.submit(1, codec.zoom_direct(0), reply_timeout=1, completion_timeout=9)
    third = tracker.submit(1, codec.memory_set(1), reply_timeout=1, completion_timeout=9)
    assert sent(tracker, clock) == ["81 01 06 04 ff"]
    tracker.receive(Ack(1, 1), clock())
    assert sent(tracker, clock) == ["81 01 04 47 00 00 00 00 ff"]
    tracker.receive(Ack(1, 2), clock())
    assert sent(tracker, clock) == []  # both sockets busy: no "buffer full" provoked
    tracker.receive(Completion(1, 1), clock())
    assert tracker.next_outcome() == Done(first, b"")
    assert sent(tracker, clock) == ["81 01 04 3f 01 01 ff"]
    tracker.receive(Error(1, 0, codec.ErrorKind.BUFFER_FULL), clock())
    assert tracker.next_outcome() == Refused(third, Error(1, 0, 0x03))


def test_an_inquiry_waits_its_turn_behind_an_unacknowledged_command(clock: FakeClock) -> None:
    tracker = InFlight()
    tracker.submit(1, codec.pan_tilt_home(), reply_timeout=1, completion_timeout=9)
    inquiry = tracker.submit(1, codec.cam_power_inquiry(), reply_timeout=1,
                             completion_timeout=1)
    assert sent(tracker, clock) == ["81 01 06 04 ff"]
    tracker.receive(Ack(1, 1), clock())
    # The move is still running on socket 1; the inquiry needs no socket.
    assert sent(tracker, clock) == ["81 09 04 00 ff"]
    tracker.receive(InquiryReply(1, b"\x02"), clock())
    assert tracker.next_outcome() == Done(inquiry, b"\x02")


def test_errors_go_to_the_socket_they_name_or_to_the_awaited_message(clock: FakeClock) -> None:
    tracker = InFlight()
    drive = tracker.submit(1, codec.focus_near(), reply_timeout=1, completion_timeout=1)
    sent(tracker, clock)
    tracker.receive(Ack(1, 1), clock())
    tracker.receive(Error(1, 1, 0x41), clock())
    assert tracker.next_outcome() == Refused(drive, Error(1, 1, 0x41))
    bad = tracker.submit(1, codec.Command(b"\x01\x04\x99"), reply_timeout=1, completion_timeout=1)
    sent(tracker, clock)
    tracker.receive(Error(1, 0, 0x02), clock())
    assert tracker.next_outcome() == Refused(bad, Error(1, 0, 0x02))


def test_cameras_on_one_line_are_tracked_apart(clock: FakeClock) -> None:
    tracker = InFlight()
    one = tracker.submit(1, codec.cam_power_inquiry(), reply_timeout=1, completion_timeout=1)
    two = tracker.submit(2, codec.cam_power_inquiry(), reply_timeout=1, completion_timeout=1)
    assert sent(tracker, clock) == ["81 09 04 00 ff", "82 09 04 00 ff"]
    tracker.receive(InquiryReply(2, b"\x03"), clock())
    tracker.receive(InquiryReply(1, b"\x02"), clock())
    assert [tracker.next_outcome(), tracker.next_outcome()] == [Done(two, b"\x03"),
                                                                Done(one, b"\x02")]


def test_replies_nobody_waits_for_are_reported_and_change_nothing(clock: FakeClock) -> None:
    tracker = InFlight()
    assert not tracker.receive(Completion(1, 1), clock())
    token = tracker.submit(1, codec.cam_power_inquiry(), reply_timeout=1, completion_timeout=1)
    sent(tracker, clock)
    assert not tracker.receive(Ack(1, 1), clock())  # an inquiry is never acknowledged
    assert not tracker.receive(InquiryReply(3, b"\x02"), clock())
    tracker.receive(InquiryReply(1, b"\x02"), clock())
    assert tracker.next_outcome() == Done(token, b"\x02")


def test_a_packet_back_round_the_ring_means_no_such_camera(clock: FakeClock) -> None:
    tracker = InFlight()
    token = tracker.submit(3, codec.cam_power_inquiry(), reply_timeout=1, completion_timeout=1)
    sent(tracker, clock)
    tracker.receive(Returned(3, b"\x09\x04\x00"), clock())
    assert tracker.next_outcome() == Undeliverable(token)


def test_withdrawn_message_is_never_sent(clock: FakeClock) -> None:
    tracker = InFlight()
    tracker.submit(1, codec.pan_tilt_home(), reply_timeout=1, completion_timeout=1)
    later = tracker.submit(1, codec.zoom_stop(), reply_timeout=1, completion_timeout=1)
    sent(tracker, clock)
    tracker.withdraw(later)
    tracker.receive(Ack(1, 1), clock())
    assert sent(tracker, clock) == []
    assert tracker.pending(1) == 1


# -- cameras against the simulator over a socat pseudo-terminal pair -------------------------

class Socat:
    """``socat`` joining two pseudo-terminals, linked at fixed paths."""

    def __init__(self, directory: Path) -> None:
        self.a = str(directory / "ttyCAM")
        self.b = str(directory / "ttySIM")
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}",
            f"pty,raw,echo=0,link={self.b}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        assert self.process.stderr is not None
        async with asyncio.timeout(5):
            while b"starting data transfer loop" not in await self.process.stderr.readline():
                pass
        assert Path(self.a).is_symlink()  # noqa: ASYNC240 - a local stat, once per start
        assert Path(self.b).is_symlink()  # noqa: ASYNC240

    async def stop(self) -> None:
        if self.process is not None:
            if self.process.returncode is None:
                self.process.terminate()  # socat removes its links on SIGTERM
            async with asyncio.timeout(5):
                await self.process.communicate()
        self.process = None


@pytest.fixture
async def socat(tmp_path: Path) -> AsyncIterator[Socat]:
    pair = Socat(tmp_path)
    await pair.start()
    try:
        yield pair
    finally:
        await pair.stop()


@pytest.fixture
async def line(socat: Socat) -> AsyncIterator[SerialSimulator]:
    """Two simulated cameras daisy-chained on the far end of the pty pair."""
    runner = SerialSimulator(ViscaSimulator(2, travel_time=0.1), socat.b)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


CameraFactory = Callable[..., ViscaCamera]


@pytest.fixture
async def make_camera(socat: Socat) -> AsyncIterator[CameraFactory]:
    bus = ViscaBus()
    made: list[ViscaCamera] = []

    def make(address: int = 1, timeout: float = TIMEOUT) -> ViscaCamera:
        spec = DeviceSpec(f"cam{address}", "camera", "visca-serial", serial_port=socat.a,
                          baud=9600, address=address, timeout=timeout)
        camera = camera_from_spec(spec, bus)
        made.append(camera)
        return camera

    try:
        yield make
    finally:
        for camera in made:
            await camera.close()
        await bus.close()


async def test_power_off_and_on(line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.set_power(False)
    assert await camera.get_power() is PowerState.OFF
    assert await camera.poll() == {"power": "off", "pan": None, "tilt": None, "zoom": None}
    await camera.set_power(True)
    assert await camera.get_power() is PowerState.ON


async def test_moves_and_zoom_change_the_reported_position(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.move_absolute(0.5, -0.25)
    await camera.zoom_to(0.75)
    assert await camera.poll() == {"power": "on", "pan": 0.5, "tilt": -0.25, "zoom": 0.75}
    await camera.move_relative(-0.25, 0.5)
    position = await camera.get_position()
    assert (position.pan, position.tilt) == pytest.approx((0.25, 0.25), abs=1e-3)
    await camera.home()
    position = await camera.get_position()
    assert (position.pan, position.tilt) == (0.0, 0.0)


async def test_drive_moves_until_stopped(line: SerialSimulator,
                                         make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.move(1.0, 1.0, 1.0)  # right and up
    await camera.stop()
    stopped = await camera.get_position()
    assert stopped.pan > 0
    assert stopped.tilt > 0
    assert await camera.get_position() == stopped


async def test_presets_store_and_recall_positions(line: SerialSimulator,
                                                  make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.move_absolute(0.3, 0.2)
    await camera.zoom_to(0.4)
    await camera.preset_store(3)
    await camera.home()
    await camera.zoom_to(0.0)
    await camera.preset_recall(3)
    position = await camera.get_position()
    assert (position.pan, position.tilt, position.zoom) == pytest.approx((0.3, 0.2, 0.4),
                                                                         abs=1e-3)
    await camera.preset_reset(3)
    await camera.preset_recall(3)  # the simulator sends an empty preset home
    assert (await camera.get_position()).pan == 0.0


async def test_camera_in_standby_refuses_ptz(line: SerialSimulator,
                                             make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.set_power(False)
    with pytest.raises(DeviceRefusedError) as caught:
        await camera.move_absolute(0.5, 0.5)
    assert not isinstance(caught.value, DeviceBusyError)
    assert caught.value.device_code == "0x41"
    assert "standby" in caught.value.message
    await camera.set_power(True)
    await camera.move_absolute(0.5, 0.5)


async def test_manual_focus_moves_are_refused_in_auto_focus(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.focus("manual", -1)  # switches to manual first, so this works
    await camera.focus("auto")
    with pytest.raises(DeviceRefusedError):
        await camera.link.request(codec.focus_far(), reply_timeout=TIMEOUT,
                                  completion_timeout=TIMEOUT)


async def test_two_daisy_chained_cameras_share_one_port(
        socat: Socat, line: SerialSimulator, make_camera: CameraFactory) -> None:
    first, second = make_camera(1), make_camera(2)
    await asyncio.gather(first.open(), second.open())
    await asyncio.gather(first.move_absolute(0.5, 0.1), second.move_absolute(-0.5, -0.1))
    one, two = await asyncio.gather(first.get_position(), second.get_position())
    assert (one.pan, one.tilt, two.pan, two.tilt) == pytest.approx((0.5, 0.1, -0.5, -0.1),
                                                                   abs=1e-3)
    address_sets = [r for r in line.sim.requests if r.address == codec.BROADCAST
                    and r.body[0] == 0x30]
    assert len(address_sets) == 1  # one port opened and set up once for both
    await first.close()
    assert await second.get_power() is PowerState.ON  # the port stays open for camera 2
    await second.close()
    assert not second.link.line.is_open  # type: ignore[attr-defined]


async def test_address_missing_from_the_chain_is_unreachable(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera(3)
    with pytest.raises(EndpointTransportError, match="no camera at address 3"):
        await camera.open()
    with pytest.raises(EndpointTransportError, match="no camera answers at address 3"):
        await camera.get_power()


async def test_camera_that_never_answers_times_out_within_the_timeout(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    line.sim.silent = True
    camera = make_camera(timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EndpointTimeoutError):
        await camera.open()
    assert loop.time() - started < 0.3 + 0.15
    started = loop.time()
    with pytest.raises(TimeoutError):  # also the builtin
        await camera.poll()
    assert loop.time() - started < 0.3 + 0.15


async def test_camera_that_stops_answering_times_out_then_recovers(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera(timeout=0.3)
    await camera.open()
    line.sim.silent = True
    with pytest.raises(EndpointTimeoutError, match=r"did not answer within 0\.3 s"):
        await camera.set_power(True)
    line.sim.silent = False
    assert await camera.get_power() is PowerState.ON


async def test_position_can_be_read_while_a_preset_recall_is_still_moving(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.move_absolute(1.0, 0.0)
    await camera.preset_store(1)
    await camera.home()
    line.sim.cameras[0].travel_time = 1.0  # the recall now takes 0.5 s
    recall = asyncio.create_task(camera.preset_recall(1))
    await camera.get_position()
    assert not recall.done()
    await recall
    assert (await camera.get_position()).pan == 1.0


async def test_a_third_slow_command_waits_for_a_socket_instead_of_failing(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    before = len(line.sim.requests)
    await asyncio.gather(camera.move_absolute(0.8, 0.0), camera.zoom_to(0.5),
                         camera.focus("auto"))
    assert len(line.sim.requests) - before == 3  # nothing refused as "buffer full" and resent


async def test_port_that_vanishes_fails_typed_then_works_again_on_the_same_camera(
        socat: Socat, line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    await camera.open()
    await camera.move_absolute(0.25, 0.0)
    await socat.stop()  # the USB adapter is pulled: the tty goes away
    with pytest.raises(EndpointTransportError):
        await camera.poll()
    with pytest.raises(EndpointTransportError, match="cannot be opened"):
        await camera.get_power()
    await socat.start()  # plugged back in, same path
    async with asyncio.timeout(5):
        await line.wait_connected()
    assert await camera.poll() == {"power": "on", "pan": 0.25, "tilt": 0.0, "zoom": 0.0}


async def test_command_in_flight_when_the_port_vanishes_fails_at_once(
        socat: Socat, line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera(timeout=3.0)
    await camera.open()
    line.sim.silent = True  # the inquiry stays unanswered until the port goes
    pending = asyncio.create_task(camera.get_power())
    await asyncio.sleep(0)  # one step: the inquiry is written and awaits its reply
    loop = asyncio.get_running_loop()
    started = loop.time()
    await socat.stop()
    with pytest.raises(EndpointTransportError, match="was lost"):
        async with asyncio.timeout(5):  # a waiter nobody fails would hang here
            await pending
    assert loop.time() - started < 1.0  # told at once, not after the 3 s timeout


async def test_noise_on_the_line_is_dropped_and_counted(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    drops: list[tuple[str, str]] = []
    camera.set_drop_counter(lambda protocol, reason: drops.append((protocol, reason)))
    await camera.open()
    line.sim.garbage = True
    await camera.move_absolute(-0.5, 0.5)
    assert await camera.poll() == {"power": "on", "pan": -0.5, "tilt": 0.5, "zoom": 0.0}
    assert {reason for _, reason in drops} == {"garbage", "overlong"}
    assert {protocol for protocol, _ in drops} == {"visca"}


async def test_network_change_is_reported_and_addresses_are_set_again(
        line: SerialSimulator, make_camera: CameraFactory) -> None:
    camera = make_camera()
    events: list[DeviceEvent] = []
    arrived = asyncio.Event()

    def sink(event: DeviceEvent) -> None:
        events.append(event)
        arrived.set()

    camera.set_event_sink(sink)
    await camera.open()
    line.sim.announce_network_change(1, asyncio.get_running_loop().time())
    line.flush()
    async with asyncio.timeout(2):
        await arrived.wait()
    assert [(e.device_id, e.name) for e in events] == [("cam1", "network_change")]
    await camera.get_power()
    address_sets = [r for r in line.sim.requests if r.address == codec.BROADCAST
                    and r.body[0] == 0x30]
    assert len(address_sets) == 2
