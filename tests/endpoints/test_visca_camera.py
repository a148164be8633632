"""The VISCA camera capability: units, options, retry policy and the factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from endpoints.commands import execute
from endpoints.errors import (
    CommandArgumentError,
    DeviceBusyError,
    DeviceRefusedError,
    EndpointError,
    EndpointTimeoutError,
)
from endpoints.interfaces import DeviceSpec, PowerState
from endpoints.registry import build_device
from endpoints.visca import codec
from endpoints.visca.camera import ViscaCamera, camera_from_spec, shared_bus
from endpoints.visca.transport import CameraLink, Listener, SerialCameraLink, UdpLink, ViscaBus


class FakeLink(CameraLink):
    """Records messages; answers from a script (payload or exception) or with b""."""

    def __init__(self, answers: dict[bytes, list[bytes | EndpointError]] | None = None) -> None:
        self.answers = answers or {}
        self.sent: list[str] = []
        self.timeouts: list[tuple[float, float]] = []

    @property
    def describe(self) -> str:
        return "fake camera"

    def attach(self, listener: Listener) -> None:
        pass

    async def detach(self) -> None:
        pass

    async def connect(self, budget: float) -> None:
        pass

    async def request(self, message: codec.Message, *, reply_timeout: float,
                      completion_timeout: float) -> bytes:
        packet = codec.encode(1, message)
        self.sent.append(packet.hex(" "))
        self.timeouts.append((reply_timeout, completion_timeout))
        script = self.answers.get(message.body)
        answer = script.pop(0) if script else b""
        if isinstance(answer, EndpointError):
            raise answer
        return answer


def make(options: dict[str, Any] | None = None,
         answers: dict[bytes, list[bytes | EndpointError]] | None = None,
         ) -> tuple[ViscaCamera, FakeLink]:
    link = FakeLink(answers)
    spec = DeviceSpec("cam1", "camera", "visca-serial", serial_port="/dev/null",
                      timeout=1.5, options=options or {})
    return ViscaCamera(spec, link), link


async def test_absolute_positions_span_the_default_range() -> None:
    camera, link = make()
    await camera.move_absolute(1.0, -1.0)
    await camera.move_absolute(-0.5, 0.5, speed=0.0)
    assert link.sent == ["81 01 06 02 18 14 00 09 09 00 0f 0a 0f 00 ff",
                         "81 01 06 02 01 01 0f 0b 03 08 00 02 08 08 ff"]


async def test_ranges_can_be_set_per_camera_model() -> None:
    # EVI-D70: pan F725h..08DBh, tilt FE70h..04B0h (not centred).
    camera, link = make({"pan_range": [-0x08DB, 0x08DB], "tilt_range": [-0x0190, 0x04B0]})
    await camera.move_absolute(1.0, -1.0)
    assert link.sent[-1] == "81 01 06 02 18 14 00 08 0d 0b 0f 0e 07 00 ff"
    camera, link = make({"pan_range": 0x0100})
    await camera.move_absolute(-1.0, 0.0)
    assert link.sent[-1].startswith("81 01 06 02 18 14 0f 0f 00 00")


async def test_drive_direction_and_speed() -> None:
    camera, link = make()
    await camera.move(0.5, -1.0, 1.0)  # right at half speed, down at full
    await camera.move(-1.0, 0.0, 0.0)  # left, slowest
    assert link.sent == ["81 01 06 01 0d 14 02 02 ff", "81 01 06 01 01 01 01 03 ff"]


async def test_relative_moves_are_fractions_of_the_range() -> None:
    camera, link = make()
    await camera.move_relative(1.0, -0.5)  # half the pan range right, a quarter tilt down
    assert link.sent == ["81 01 06 03 18 14 00 09 09 00 0f 0d 07 08 ff"]


async def test_zoom_and_focus_commands() -> None:
    camera, link = make()
    await camera.zoom_to(0.5)
    await camera.zoom_drive(1, 1.0)
    await camera.zoom_drive(-1, 0.0)
    await camera.zoom_drive(0, 0.5)
    await camera.focus("manual", 1)
    await camera.focus("auto")
    assert link.sent == ["81 01 04 47 02 00 00 00 ff", "81 01 04 07 27 ff", "81 01 04 07 30 ff",
                         "81 01 04 07 00 ff", "81 01 04 38 03 ff", "81 01 04 08 02 ff",
                         "81 01 04 38 02 ff"]


async def test_position_inquiries_are_normalised() -> None:
    pan_tilt = codec.nibbles(-0x04C8) + codec.nibbles(0x0510)
    camera, _ = make(answers={b"\x09\x06\x12": [pan_tilt], b"\x09\x04\x47": [b"\x01\x00\x00\x00"],
                              b"\x09\x04\x00": [b"\x02"]})
    assert await camera.poll() == {"power": "on", "pan": -0.5, "tilt": 1.0, "zoom": 0.25}


async def test_poll_of_a_camera_in_standby_reads_no_position() -> None:
    camera, link = make(answers={b"\x09\x04\x00": [b"\x03"]})
    assert await camera.poll() == {"power": "off", "pan": None, "tilt": None, "zoom": None}
    assert link.sent == ["81 09 04 00 ff"]


async def test_moves_wait_longer_for_completion_than_quick_commands() -> None:
    camera, link = make({"motion_timeout": 12})
    await camera.preset_recall(1)
    await camera.stop()
    assert link.timeouts == [(1.5, 12.0), (1.5, 1.5)]


async def test_busy_camera_is_retried_a_limited_number_of_times() -> None:
    busy = DeviceBusyError("busy", device_code="0x03")
    camera, link = make(answers={b"\x01\x04\x3f\x01\x02": [busy, b""]})
    await camera.preset_store(2)
    assert len(link.sent) == 2
    camera, link = make(answers={b"\x01\x04\x3f\x01\x02": [busy, busy, busy, b""]})
    with pytest.raises(DeviceBusyError):
        await camera.preset_store(2)
    assert len(link.sent) == 3


@pytest.mark.parametrize("error", [DeviceRefusedError("no", device_code="0x41"),
                                   EndpointTimeoutError("late")])
async def test_refusals_and_timeouts_are_not_retried(error: EndpointError) -> None:
    camera, link = make(answers={b"\x01\x06\x03\x18\x14" + codec.nibbles(0x0990)
                                 + codec.nibbles(0): [error]})
    with pytest.raises(type(error)):
        await camera.move_relative(1.0, 0.0)  # running it twice would move twice as far
    assert len(link.sent) == 1


async def test_presets_beyond_the_configured_maximum_are_refused_before_sending() -> None:
    camera, link = make({"max_preset": 5})
    with pytest.raises(CommandArgumentError, match="between 0 and 5"):
        await execute(camera, "preset.recall", {"preset": 6})
    await execute(camera, "preset.recall", {"preset": 5})
    assert link.sent == ["81 01 04 3f 02 05 ff"]


async def test_power_commands_through_the_command_table() -> None:
    camera, link = make(answers={b"\x09\x04\x00": [b"\x04"]})
    await execute(camera, "power", {"on": True})
    assert link.sent == ["81 01 04 00 02 ff"]
    assert await camera.get_power() is PowerState.UNKNOWN  # 04: power circuit error


@pytest.mark.parametrize("options", [{"pan_range": [5, -5]}, {"tilt_range": "wide"},
                                     {"zoom_max": 0}, {"motion_timeout": -1},
                                     {"pan_speed_max": 0x19}])
def test_bad_options_are_refused_with_a_plain_message(options: dict[str, Any]) -> None:
    with pytest.raises(CommandArgumentError, match="option '"):
        make(options)


def serial_spec(port: str, address: int, baud: int = 9600) -> DeviceSpec:
    return DeviceSpec(f"cam{address}", "camera", "visca-serial", serial_port=port, baud=baud,
                      address=address)


def test_cameras_on_one_port_share_one_line() -> None:
    bus = ViscaBus()
    one = camera_from_spec(serial_spec("/dev/ttyUSB0", 1), bus)
    two = camera_from_spec(serial_spec("/dev/ttyUSB0", 2), bus)
    other = camera_from_spec(serial_spec("/dev/ttyUSB1", 1), bus)
    links = [c.link for c in (one, two, other)]
    assert all(isinstance(link, SerialCameraLink) for link in links)
    lines = [link.line for link in links if isinstance(link, SerialCameraLink)]
    assert lines[0] is lines[1]
    assert lines[0] is not lines[2]
    with pytest.raises(CommandArgumentError, match="one speed"):
        camera_from_spec(serial_spec("/dev/ttyUSB0", 3, baud=38400), bus)


def test_registry_builds_cameras_that_share_the_default_bus() -> None:
    port = "/dev/ttyVISCA-registry-test"
    one = build_device(serial_spec(port, 1))
    two = build_device(serial_spec(port, 2))
    assert isinstance(one, ViscaCamera)
    assert isinstance(two, ViscaCamera)
    assert isinstance(one.link, SerialCameraLink)
    assert isinstance(two.link, SerialCameraLink)
    assert one.link.line is two.link.line is shared_bus().line(port, 9600)


def test_ip_camera_from_spec_defaults_to_port_52381() -> None:
    spec = DeviceSpec("cam9", "camera", "visca-ip", host="10.0.0.9",
                      options={"sequence_quirk": True})
    camera = camera_from_spec(spec)
    assert isinstance(camera.link, UdpLink)
    assert (camera.link.port, camera.link.quirk) == (52381, True)


@pytest.mark.parametrize("make_spec", [
    lambda: DeviceSpec("c", "camera", "visca-serial"),
    lambda: DeviceSpec("c", "camera", "visca-serial", serial_port="/dev/x", address=8),
    lambda: DeviceSpec("c", "camera", "visca-ip"),
    lambda: DeviceSpec("c", "camera", "visca-ip", host="h", options={"sequence_quirk": "yes"}),
])
def test_incomplete_specs_are_refused(make_spec: Callable[[], DeviceSpec]) -> None:
    with pytest.raises(CommandArgumentError):
        camera_from_spec(make_spec())
