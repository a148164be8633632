"""What each kind of room hardware can do, independent of its protocol.

The console and the chair talk to these capabilities, never to protocol bytes.
Units are the same for every protocol: pan/tilt speeds and positions in -1..1,
zoom position in 0..1, gain in dB, charge in %, runtime in minutes.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceSpec:
    """How to reach one device: built by the controller from the site config.

    ``secrets`` holds the contents of the config's ``*_file`` keys (for example
    ``password_file`` → ``secrets["password"]``), read by the controller.
    """

    id: str
    kind: str
    protocol: str
    name: str = ""
    host: str | None = None
    port: int | None = None
    serial_port: str | None = None
    baud: int = 9600
    address: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 2.0


@dataclass(frozen=True)
class DeviceEvent:
    """Something a device told us without being asked (a trap, a notification)."""

    device_id: str
    name: str  # e.g. "on_battery", "power", "input", "link_down"
    data: Mapping[str, Any] = field(default_factory=dict)


EventSink = Callable[[DeviceEvent], None]
# Called with (protocol, reason) for every malformed frame dropped; the controller
# wires it to diemcau_frames_dropped_total{protocol,reason}.
DropCounter = Callable[[str, str], None]


class PowerState(StrEnum):
    """Power states common to cameras and projectors."""

    OFF = "off"
    ON = "on"
    WARMING = "warming"
    COOLING = "cooling"
    UNKNOWN = "unknown"


class Device(ABC):
    """A device the controller can open, poll and close."""

    kind: ClassVar[str] = ""

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec
        self._sink: EventSink | None = None
        self._drops: DropCounter | None = None

    @property
    def id(self) -> str:
        """The device id from the config."""
        return self.spec.id

    def set_event_sink(self, sink: EventSink | None) -> None:
        """Where unsolicited events (notifications, traps) go."""
        self._sink = sink

    def set_drop_counter(self, counter: DropCounter | None) -> None:
        """Where counts of dropped malformed frames go."""
        self._drops = counter

    def count_drop(self, protocol: str, reason: str) -> None:
        """Record one dropped frame (reason: a short fixed word, e.g. "garbage")."""
        _log.debug("%s: dropped a %s frame: %s", self.spec.id, protocol, reason)
        if self._drops is not None:
            self._drops(protocol, reason)

    def emit(self, name: str, **data: Any) -> None:
        """Publish an unsolicited event."""
        if self._sink is not None:
            self._sink(DeviceEvent(self.spec.id, name, data))

    @abstractmethod
    async def open(self) -> None:
        """Connect; a device that is unreachable raises, and `poll` may retry later."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect and release the port or socket; safe to call twice."""

    @abstractmethod
    async def poll(self) -> Mapping[str, Any]:
        """Read the device's state as plain JSON-able readings; raises if unreachable."""


# -- cameras ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CameraPosition:
    """Where the camera points: pan/tilt in -1..1 of its range, zoom in 0..1."""

    pan: float
    tilt: float
    zoom: float


class Camera(Device):
    """A PTZ camera."""

    kind = "camera"

    @abstractmethod
    async def set_power(self, on: bool) -> None:
        """Switch on or to standby."""

    @abstractmethod
    async def get_power(self) -> PowerState:
        """Power inquiry."""

    @abstractmethod
    async def move(self, pan: float, tilt: float, speed: float) -> None:
        """Drive: pan/tilt direction in -1..1 (0 holds that axis), speed in 0..1."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop pan and tilt."""

    @abstractmethod
    async def move_absolute(self, pan: float, tilt: float, speed: float = 1.0) -> None:
        """Go to a position, pan/tilt in -1..1 of the range."""

    @abstractmethod
    async def move_relative(self, pan: float, tilt: float, speed: float = 1.0) -> None:
        """Move by a fraction (-2..2) of the range."""

    @abstractmethod
    async def zoom_to(self, position: float) -> None:
        """Zoom to 0 (wide) .. 1 (tele)."""

    @abstractmethod
    async def zoom_drive(self, direction: int, speed: float) -> None:
        """Zoom in (+1), out (-1) or stop (0), speed in 0..1."""

    @abstractmethod
    async def focus(self, mode: str, direction: int = 0) -> None:
        """Focus: mode "auto" or "manual", then near (-1), far (+1) or stop (0)."""

    @abstractmethod
    async def home(self) -> None:
        """Back to the home position."""

    @abstractmethod
    async def preset_store(self, preset: int) -> None:
        """Store the current position as a preset."""

    @abstractmethod
    async def preset_recall(self, preset: int) -> None:
        """Go to a stored preset."""

    @abstractmethod
    async def preset_reset(self, preset: int) -> None:
        """Clear a stored preset."""

    @abstractmethod
    async def get_position(self) -> CameraPosition:
        """Pan/tilt and zoom inquiry."""

    @property
    def max_preset(self) -> int:
        """Highest preset number the camera accepts (presets start at 0)."""
        return 15


# -- projectors ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProjectorErrors:
    """Error status by part; each is "ok", "warning" or "error"."""

    fan: str = "ok"
    lamp: str = "ok"
    temperature: str = "ok"
    cover: str = "ok"
    filter: str = "ok"
    other: str = "ok"

    def problems(self) -> dict[str, str]:
        """Only the parts that are not ok."""
        return {k: v for k, v in vars(self).items() if v != "ok"}


class Projector(Device):
    """A projector or display."""

    kind = "projector"

    @abstractmethod
    async def set_power(self, on: bool) -> None:
        """Switch on or off."""

    @abstractmethod
    async def get_power(self) -> PowerState:
        """Power status (on, off, warming, cooling)."""

    @abstractmethod
    async def set_input(self, source: str) -> None:
        """Select an input by its name (e.g. "HDMI1", "RGB1") or protocol code."""

    @abstractmethod
    async def get_input(self) -> str:
        """The selected input."""

    @abstractmethod
    async def inputs(self) -> Sequence[str]:
        """The inputs the projector offers."""

    @abstractmethod
    async def set_av_mute(self, on: bool) -> None:
        """Blank picture and sound (or restore)."""

    @abstractmethod
    async def lamp_hours(self) -> Sequence[int]:
        """Hours of use of each lamp."""

    @abstractmethod
    async def error_status(self) -> ProjectorErrors:
        """Error status of fan, lamp, temperature, cover, filter, other."""


# -- audio -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelState:
    """One mixer channel or microphone."""

    channel: int
    muted: bool
    gain_db: float
    name: str = ""


class AudioMixer(Device):
    """An audio mixer or DSP with per-channel mute and gain (microphones are channels)."""

    kind = "mixer"

    @abstractmethod
    async def set_mute(self, channel: int, on: bool) -> None:
        """Mute or unmute one channel."""

    @abstractmethod
    async def set_gain(self, channel: int, db: float) -> None:
        """Set one channel's gain in dB."""

    @abstractmethod
    async def get_channel(self, channel: int) -> ChannelState:
        """One channel's mute and gain."""

    @property
    @abstractmethod
    def channels(self) -> Sequence[int]:
        """The channel numbers this mixer has."""

    @property
    def gain_range(self) -> tuple[float, float]:
        """Lowest and highest gain in dB the device accepts."""
        return (-110.0, 20.0)


# -- power -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpsStatus:
    """A UPS reading (RFC 1628 UPS-MIB terms)."""

    on_battery: bool
    charge_percent: float | None
    runtime_minutes: float | None
    load_percent: float | None
    battery_status: str = "unknown"  # normal, low, depleted, unknown
    input_voltage: float | None = None
    output_source: str = "unknown"  # normal, battery, bypass, none, booster, reducer, other
    alarms: int = 0


class PowerSupply(Device):
    """A UPS or other power supply."""

    kind = "power"

    @abstractmethod
    async def status(self) -> UpsStatus:
        """Mains or battery, charge, runtime left, load."""


# -- network ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class InterfaceStatus:
    """One network interface (IF-MIB terms)."""

    index: int
    name: str
    up: bool
    admin_up: bool
    speed_bps: int | None
    in_octets: int
    out_octets: int
    in_errors: int
    out_errors: int


class NetworkDevice(Device):
    """A switch or router whose interfaces we watch."""

    kind = "network"

    @abstractmethod
    async def interfaces(self) -> Sequence[InterfaceStatus]:
        """Every interface's state and counters."""
