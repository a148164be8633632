"""The Camera capability over VISCA (serial daisy chain or IP), and its factory.

Positions are normalised: pan/tilt -1..1 over a configurable range of the camera's
units (``options["pan_range"]``, ``options["tilt_range"]``), zoom 0..1 over 0..``zoom_max``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Mapping
from typing import Any, Final

from endpoints.errors import CommandArgumentError, DeviceBusyError, EndpointError
from endpoints.interfaces import Camera, CameraPosition, DeviceSpec, PowerState
from endpoints.visca import codec
from endpoints.visca.ip import VISCA_IP_PORT
from endpoints.visca.transport import CameraLink, SerialCameraLink, UdpLink, ViscaBus

_log = logging.getLogger(__name__)

DEFAULT_PAN_RANGE: Final = (-0x0990, 0x0990)
DEFAULT_TILT_RANGE: Final = (-0x0510, 0x0510)
DEFAULT_PAN_SPEED_MAX: Final = 0x18
DEFAULT_TILT_SPEED_MAX: Final = 0x14
DEFAULT_MOTION_TIMEOUT: Final = 10.0  # s for a move, preset recall or power-on to finish

# Automatic retries by error class (anything else is raised at once). Only "busy" is
# retried here: the camera said it did not take the command, so repeating is safe even
# for a relative move. Timeouts are not: the command may have run, and the polling
# coordinator retries reads anyway.
RETRY_POLICY: Final[Mapping[type[EndpointError], int]] = {DeviceBusyError: 2}
RETRY_BACKOFF: Final = 0.05  # s, doubled each attempt

_POWER: Final = {0x02: PowerState.ON, 0x03: PowerState.OFF}


def _range(options: Mapping[str, Any], key: str, default: tuple[int, int]) -> tuple[int, int]:
    value = options.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 0x7FFF:
        return (-value, value)
    if (isinstance(value, list | tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and -0x8000 <= value[0] < value[1] <= 0x7FFF):
        return (int(value[0]), int(value[1]))
    raise CommandArgumentError(
        f"option '{key}' must be [low, high] in camera units (-32768..32767, low < high) "
        "or one positive number for ±that")


def _number(options: Mapping[str, Any], key: str, default: float, low: float,
            high: float) -> float:
    value = options.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not low <= value <= high):
        raise CommandArgumentError(f"option '{key}' must be a number from {low:g} to {high:g}")
    return float(value)


def _speed(fraction: float, top: int) -> int:
    """0..1 onto 1..top."""
    return 1 + round(min(max(fraction, 0.0), 1.0) * (top - 1))


class ViscaCamera(Camera):
    """A Sony VISCA (or compatible) PTZ camera."""

    def __init__(self, spec: DeviceSpec, link: CameraLink) -> None:
        super().__init__(spec)
        options = spec.options
        self.link = link
        self.pan_range = _range(options, "pan_range", DEFAULT_PAN_RANGE)
        self.tilt_range = _range(options, "tilt_range", DEFAULT_TILT_RANGE)
        self.zoom_max = int(_number(options, "zoom_max", codec.ZOOM_OPTICAL_MAX, 1, 0x7FFF))
        self.pan_speed_max = int(_number(options, "pan_speed_max", DEFAULT_PAN_SPEED_MAX, 1,
                                         codec.PAN_SPEED_MAX))
        self.tilt_speed_max = int(_number(options, "tilt_speed_max", DEFAULT_TILT_SPEED_MAX, 1,
                                          codec.TILT_SPEED_MAX))
        self.motion_timeout = _number(options, "motion_timeout", DEFAULT_MOTION_TIMEOUT, 0.1,
                                      600)
        self._max_preset = int(_number(options, "max_preset", 15, 0, codec.MEMORY_MAX))
        self._attached = False

    @property
    def max_preset(self) -> int:
        """Highest preset number (``options["max_preset"]``, default 15)."""
        return self._max_preset

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the port or socket and check the camera answers (raises if not; call close)."""
        self._attach()
        await self.link.connect(self.spec.timeout)

    async def close(self) -> None:
        """Leave the port or socket; the last camera on a serial line closes it."""
        if self._attached:
            self._attached = False
            await self.link.detach()

    async def poll(self) -> Mapping[str, Any]:
        """Power, and pan/tilt/zoom when the camera is on (None otherwise)."""
        power = await self.get_power()
        readings: dict[str, Any] = {"power": power.value, "pan": None, "tilt": None,
                                    "zoom": None}
        if power is PowerState.ON:
            position = await self.get_position()
            readings.update(pan=round(position.pan, 4), tilt=round(position.tilt, 4),
                            zoom=round(position.zoom, 4))
        return readings

    # -- power -----------------------------------------------------------------------------

    async def set_power(self, on: bool) -> None:
        """On, or standby."""
        await self._call(codec.cam_power(on))

    async def get_power(self) -> PowerState:
        """Power inquiry."""
        code = codec.decode_power(await self._call(codec.cam_power_inquiry()))
        return _POWER.get(code, PowerState.UNKNOWN)

    # -- pan and tilt ----------------------------------------------------------------------

    async def move(self, pan: float, tilt: float, speed: float) -> None:
        """Drive; each axis's speed is ``speed`` times the size of its direction."""
        pan_dir, tilt_dir = _sign(pan), _sign(tilt)
        await self._call(codec.pan_tilt_drive(
            pan_dir, tilt_dir, _speed(speed * abs(pan), self.pan_speed_max),
            _speed(speed * abs(tilt), self.tilt_speed_max)))

    async def stop(self) -> None:
        """Stop pan and tilt."""
        await self._call(codec.pan_tilt_stop())

    async def move_absolute(self, pan: float, tilt: float, speed: float = 1.0) -> None:
        """Go to pan/tilt in -1..1 of the configured ranges."""
        await self._call(codec.pan_tilt_absolute(
            _speed(speed, self.pan_speed_max), _speed(speed, self.tilt_speed_max),
            _to_units(pan, self.pan_range), _to_units(tilt, self.tilt_range)))

    async def move_relative(self, pan: float, tilt: float, speed: float = 1.0) -> None:
        """Move by a fraction of the range (2 crosses all of it)."""
        await self._call(codec.pan_tilt_relative(
            _speed(speed, self.pan_speed_max), _speed(speed, self.tilt_speed_max),
            _steps(pan, self.pan_range), _steps(tilt, self.tilt_range)))

    async def home(self) -> None:
        """Back to the home position."""
        await self._call(codec.pan_tilt_home())

    # -- zoom and focus --------------------------------------------------------------------

    async def zoom_to(self, position: float) -> None:
        """Zoom to 0 (wide) .. 1 (tele)."""
        position = min(max(position, 0.0), 1.0)
        await self._call(codec.zoom_direct(round(position * self.zoom_max)))

    async def zoom_drive(self, direction: int, speed: float) -> None:
        """Zoom in (+1), out (-1) or stop (0)."""
        step = round(min(max(speed, 0.0), 1.0) * codec.ZOOM_SPEED_MAX)
        if direction > 0:
            await self._call(codec.zoom_tele(step))
        elif direction < 0:
            await self._call(codec.zoom_wide(step))
        else:
            await self._call(codec.zoom_stop())

    async def focus(self, mode: str, direction: int = 0) -> None:
        """Auto focus, or manual focus then near (-1), far (+1) or stop (0)."""
        if mode == "auto":
            await self._call(codec.focus_auto())
            return
        if mode != "manual":
            raise CommandArgumentError("focus mode must be auto or manual")
        await self._call(codec.focus_manual())
        if direction < 0:
            await self._call(codec.focus_near())
        elif direction > 0:
            await self._call(codec.focus_far())
        else:
            await self._call(codec.focus_stop())

    # -- presets ---------------------------------------------------------------------------

    async def preset_store(self, preset: int) -> None:
        """Store the current position as a preset."""
        await self._call(codec.memory_set(self._preset(preset)))

    async def preset_recall(self, preset: int) -> None:
        """Go to a stored preset (returns when the camera has arrived)."""
        await self._call(codec.memory_recall(self._preset(preset)))

    async def preset_reset(self, preset: int) -> None:
        """Clear a stored preset."""
        await self._call(codec.memory_reset(self._preset(preset)))

    async def get_position(self) -> CameraPosition:
        """Pan/tilt and zoom inquiries, normalised."""
        pan, tilt = codec.decode_pan_tilt(await self._call(codec.pan_tilt_position_inquiry()))
        zoom = codec.decode_zoom(await self._call(codec.zoom_position_inquiry()))
        return CameraPosition(pan=_from_units(pan, self.pan_range),
                              tilt=_from_units(tilt, self.tilt_range),
                              zoom=min(max(zoom / self.zoom_max, 0.0), 1.0))

    # -- internals -------------------------------------------------------------------------

    def _attach(self) -> None:
        if not self._attached:
            self.link.attach(self)
            self._attached = True

    def _preset(self, preset: int) -> int:
        if isinstance(preset, bool) or not isinstance(preset, int) or not (
                0 <= preset <= self.max_preset):
            raise CommandArgumentError(f"preset must be 0 to {self.max_preset}")
        return preset

    async def _call(self, message: codec.Message) -> bytes:
        self._attach()
        slow = isinstance(message, codec.Command) and message.slow
        completion = max(self.spec.timeout, self.motion_timeout) if slow else self.spec.timeout
        attempt = 0
        while True:
            try:
                return await self.link.request(message, reply_timeout=self.spec.timeout,
                                               completion_timeout=completion)
            except EndpointError as exc:
                limit = next((n for cls, n in RETRY_POLICY.items() if isinstance(exc, cls)), 0)
                if attempt >= limit:
                    raise
                _log.debug("%s: %s; retrying", self.link.describe, exc.message)
                await asyncio.sleep(RETRY_BACKOFF * 2 ** attempt)
                attempt += 1


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _to_units(value: float, bounds: tuple[int, int]) -> int:
    low, high = bounds
    value = min(max(value, -1.0), 1.0)
    return round(low + (value + 1.0) / 2.0 * (high - low))


def _steps(fraction: float, bounds: tuple[int, int]) -> int:
    low, high = bounds
    limit = high - low
    steps = min(max(round(fraction * limit / 2.0), -limit), limit)
    return min(max(steps, -0x8000), 0x7FFF)


def _from_units(units: int, bounds: tuple[int, int]) -> float:
    low, high = bounds
    return min(max((units - low) / (high - low) * 2.0 - 1.0, -1.0), 1.0)


@functools.cache
def shared_bus() -> ViscaBus:
    """The process's serial lines when the controller passes none (made on first use).

    `endpoints.registry` calls factories with the spec alone, so cameras it builds on
    one port meet here; a closed line holds no port, task or event loop.
    """
    return ViscaBus()


def camera_from_spec(spec: DeviceSpec, bus: ViscaBus | None = None) -> ViscaCamera:
    """A camera from its config (not yet opened); serial cameras share ``bus``'s lines."""
    if spec.protocol == "visca-serial":
        if not spec.serial_port:
            raise CommandArgumentError(f"camera {spec.id}: visca-serial needs a serial port")
        if not 1 <= spec.address <= codec.MAX_CAMERAS:
            raise CommandArgumentError(
                f"camera {spec.id}: a VISCA address is 1 to 7, not {spec.address}")
        line = (bus or shared_bus()).line(spec.serial_port, spec.baud)
        return ViscaCamera(spec, SerialCameraLink(line, spec.address))
    if spec.protocol == "visca-ip":
        if not spec.host:
            raise CommandArgumentError(f"camera {spec.id}: visca-ip needs a host")
        options = spec.options
        quirk = options.get("sequence_quirk", False)
        if not isinstance(quirk, bool):
            raise CommandArgumentError("option 'sequence_quirk' must be true or false")
        interval = _number(options, "retransmit_interval", min(0.25, spec.timeout / 4), 0.001,
                           60)
        retransmits = int(_number(options, "max_retransmits", 3, 0, 10))
        link = UdpLink(spec.host, spec.port or VISCA_IP_PORT, quirk=quirk,
                       retransmit_interval=interval, max_retransmits=retransmits)
        return ViscaCamera(spec, link)
    raise CommandArgumentError(f"camera {spec.id}: VISCA cannot use protocol {spec.protocol}")
