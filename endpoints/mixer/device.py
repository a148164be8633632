"""The AudioMixer capability over line-based TCP command strings (Shure-style or generic)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from endpoints.errors import CommandArgumentError, DeviceRefusedError
from endpoints.framing import sanitize
from endpoints.interfaces import AudioMixer, ChannelState, DeviceSpec
from endpoints.mixer.client import MixerClient, Report
from endpoints.mixer.codec import (
    GainReport,
    GetGain,
    GetMute,
    MuteReport,
    SetGain,
    SetMute,
    dialect_from_options,
)

_log = logging.getLogger(__name__)

DEFAULT_CHANNELS = (1, 2, 3, 4)


def _channels_from_options(value: Any) -> dict[int, str]:
    """options["channels"]: a count, a list of numbers, or a table of number = "name"."""
    if value is None:
        return {c: "" for c in DEFAULT_CHANNELS}
    if isinstance(value, int) and not isinstance(value, bool):
        numbers: dict[int, str] = {c: "" for c in range(1, value + 1)}
    elif isinstance(value, Mapping):
        numbers = {}
        for key, name in value.items():
            if not isinstance(name, str) or not (str(key).isascii() and str(key).isdigit()):
                raise ValueError("channels: use a table of number = \"name\"")
            numbers[int(key)] = sanitize(name)
    elif isinstance(value, list | tuple):
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
            raise ValueError("channels: use a list of channel numbers")
        numbers = {int(c): "" for c in value}
    else:
        raise ValueError("channels: use a count, a list of numbers or a table of names")
    if not numbers or not all(0 <= c <= 9999 for c in numbers):
        raise ValueError("channels: give at least one channel, numbered 0 to 9999")
    return dict(sorted(numbers.items()))


class TcpMixer(AudioMixer):
    """A mixer or DSP with per-channel mute and gain, driven by TCP command strings."""

    def __init__(self, spec: DeviceSpec, *, client: MixerClient | None = None) -> None:
        super().__init__(spec)
        if not spec.host:
            raise ValueError(f"mixer {spec.id}: mixer-tcp needs a host")
        self.dialect = dialect_from_options(spec.options.get("dialect"))
        port = spec.port or self.dialect.default_port
        if not port:
            raise ValueError(f"mixer {spec.id}: the {self.dialect.name} dialect needs a port")
        self._names = _channels_from_options(spec.options.get("channels"))
        self._known: dict[int, dict[str, Any]] = {}
        self._client = client or MixerClient(
            spec.host, port, self.dialect, timeout=spec.timeout, on_report=self._on_report,
            on_drop=lambda reason: self.count_drop("mixer", reason))

    @property
    def channels(self) -> Sequence[int]:
        """The configured channel numbers."""
        return tuple(self._names)

    @property
    def gain_range(self) -> tuple[float, float]:
        """The dialect's gain range in dB."""
        return (self.dialect.gain_min, self.dialect.gain_max)

    async def open(self) -> None:
        """Connect; the connection is then read for unsolicited reports."""
        await self._client.connect()

    async def close(self) -> None:
        """Disconnect; safe to call twice."""
        await self._client.close()

    async def poll(self) -> Mapping[str, Any]:
        """Every channel's mute and gain."""
        return {"channels": [asdict(await self.get_channel(c)) for c in self.channels]}

    def _check(self, channel: int) -> None:
        if channel not in self._names:
            raise CommandArgumentError(
                f"channel {channel} does not exist (channels: "
                f"{', '.join(str(c) for c in self.channels)})")

    async def set_mute(self, channel: int, on: bool) -> None:
        """Mute or unmute one channel."""
        self._check(channel)
        report = await self._client.request(SetMute(channel, on))
        self._remember(report)
        if isinstance(report, MuteReport) and report.on != on:
            raise DeviceRefusedError(
                f"mixer kept channel {channel} {'muted' if report.on else 'unmuted'}",
                device_code="unchanged")

    async def set_gain(self, channel: int, db: float) -> None:
        """Set one channel's gain in dB (rounded to the dialect's step)."""
        self._check(channel)
        low, high = self.gain_range
        if not math.isfinite(db) or not low <= db <= high:
            raise CommandArgumentError(f"gain must be between {low:g} and {high:g} dB")
        self._remember(await self._client.request(SetGain(channel, db)))

    async def get_channel(self, channel: int) -> ChannelState:
        """One channel's mute and gain, read from the mixer."""
        self._check(channel)
        mute = await self._client.request(GetMute(channel))
        gain = await self._client.request(GetGain(channel))
        assert isinstance(mute, MuteReport)
        assert isinstance(gain, GainReport)
        self._remember(mute)
        self._remember(gain)
        return ChannelState(channel, mute.on, gain.db, self._names[channel])

    def _remember(self, report: Report) -> None:
        known = self._known.setdefault(report.channel, {})
        if isinstance(report, MuteReport):
            known["muted"] = report.on
        else:
            known["gain_db"] = report.db

    def _on_report(self, report: Report) -> None:
        if report.channel not in self._names:
            _log.debug("mixer %s: report for unconfigured channel %s", self.id, report.channel)
            return
        before = dict(self._known.get(report.channel, {}))
        self._remember(report)
        if self._known[report.channel] == before:
            return
        if isinstance(report, MuteReport):
            self.emit("mute", channel=report.channel, on=report.on)
        else:
            self.emit("gain", channel=report.channel, db=report.db)


def mixer_from_spec(spec: DeviceSpec) -> TcpMixer:
    """The registry's factory for ``protocol = "mixer-tcp"``."""
    return TcpMixer(spec)
