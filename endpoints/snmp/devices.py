"""SNMP drivers: a UPS (UPS-MIB), a switch (IF-MIB), projectors and mixers by OID map.

`device_from_spec` is the registry's factory for every kind driven over ``snmp``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, Final

from endpoints.errors import CommandArgumentError, UnsupportedCommandError
from endpoints.interfaces import (
    AudioMixer,
    ChannelState,
    Device,
    DeviceSpec,
    InterfaceStatus,
    NetworkDevice,
    PowerState,
    PowerSupply,
    Projector,
    ProjectorErrors,
    UpsStatus,
)
from endpoints.snmp.client import SYS_UPTIME, SnmpClient
from endpoints.snmp.config import SnmpConfigError
from endpoints.snmp.profiles import (
    IF_COLUMNS,
    UPS_STATUS_OIDS,
    MixerMap,
    ProjectorMap,
    StateMap,
    channel_oid,
    channel_state,
    input_name,
    interfaces_from_columns,
    lamp_hours,
    mixer_map,
    power_state,
    projector_map,
    projector_readings,
    ups_status,
)
from endpoints.snmp.values import oid_text

_log = logging.getLogger(__name__)

# The profile each kind uses; `options["profile"]` may name it, never another.
PROFILES: Final = {"power": "ups-mib", "network": "if-mib", "projector": "oid-map",
                   "mixer": "oid-map"}
_UPTIME: Final = oid_text(SYS_UPTIME)


class _SnmpDriver(Device):
    """What every SNMP driver shares: one client, opened and closed with the device."""

    def __init__(self, spec: DeviceSpec, client: SnmpClient) -> None:
        super().__init__(spec)
        self.client = client
        client.set_drop_counter(self.count_drop)

    async def open(self) -> None:
        """Resolve the agent's address and build the SNMP engine (UDP: nothing is sent)."""
        await self.client.open()

    async def close(self) -> None:
        """Release the engine's socket and timer."""
        await self.client.close()

    def _unsupported(self, what: str) -> UnsupportedCommandError:
        return UnsupportedCommandError(f"{self.spec.id}: the device's OID map has no {what}")

    async def _uptime(self) -> dict[str, Any]:
        ticks = (await self.client.get([_UPTIME]))[_UPTIME]
        return {"uptime_seconds": ticks / 100 if isinstance(ticks, int) else None}


class SnmpUps(_SnmpDriver, PowerSupply):
    """A UPS with the standard UPS-MIB (RFC 1628)."""

    async def status(self) -> UpsStatus:
        """Mains or battery, charge, runtime left, load, alarms: one GET."""
        return ups_status(await self.client.get(UPS_STATUS_OIDS))

    async def poll(self) -> Mapping[str, Any]:
        """The UPS status as readings."""
        return asdict(await self.status())


class SnmpNetworkDevice(_SnmpDriver, NetworkDevice):
    """A switch or router with the standard IF-MIB (RFC 2863)."""

    async def interfaces(self) -> Sequence[InterfaceStatus]:
        """Every interface, walking the ifTable and ifXTable columns side by side."""
        return interfaces_from_columns(await self.client.walk_columns(IF_COLUMNS))

    async def poll(self) -> Mapping[str, Any]:
        """Interfaces with their counters, and how many are up and down."""
        found = await self.interfaces()
        return {
            "interfaces": [asdict(i) for i in found],
            "interfaces_up": sum(1 for i in found if i.up),
            "interfaces_down": sum(1 for i in found if i.admin_up and not i.up),
        }


class SnmpProjector(_SnmpDriver, Projector):
    """A projector driven through its vendor MIB, as far as ``options["oids"]`` maps it."""

    def __init__(self, spec: DeviceSpec, client: SnmpClient, oids: ProjectorMap) -> None:
        super().__init__(spec, client)
        self.oids = oids

    async def _read(self, oid: str) -> Any:
        return (await self.client.get([oid]))[oid]

    async def _write(self, state: StateMap, name: str) -> None:
        await self.client.set(state.write_oid(), state.states[name], state.syntax)

    async def set_power(self, on: bool) -> None:
        """Switch on or off."""
        if self.oids.power is None:
            raise self._unsupported("power")
        await self._write(self.oids.power, "on" if on else "off")

    async def get_power(self) -> PowerState:
        """Power state (warming and cooling when the map names their values)."""
        if self.oids.power is None:
            raise self._unsupported("power")
        return power_state(self.oids.power, await self._read(self.oids.power.oid))

    async def set_input(self, source: str) -> None:
        """Select an input by its configured name (any case) or its device value."""
        inputs = self.oids.input
        if inputs is None:
            raise self._unsupported("input")
        by_name = {name.casefold(): name for name in inputs.states}
        name = by_name.get(source.strip().casefold())
        if name is None:
            name = inputs.name_of(int(source) if source.strip().isdigit() else source)
        if name is None:
            raise CommandArgumentError(
                f"unknown input '{source[:16]}' (inputs: {', '.join(inputs.states)})")
        await self._write(inputs, name)

    async def get_input(self) -> str:
        """The selected input's configured name."""
        if self.oids.input is None:
            raise self._unsupported("input")
        return input_name(self.oids.input, await self._read(self.oids.input.oid))

    async def inputs(self) -> Sequence[str]:
        """The inputs the map names (none when it maps no input object)."""
        return tuple(self.oids.input.states) if self.oids.input is not None else ()

    async def set_av_mute(self, on: bool) -> None:
        """Blank picture and sound, or restore them."""
        if self.oids.av_mute is None:
            raise self._unsupported("av_mute")
        await self._write(self.oids.av_mute, "on" if on else "off")

    async def lamp_hours(self) -> Sequence[int]:
        """Hours of each mapped lamp."""
        if not self.oids.lamp_hours:
            raise self._unsupported("lamp_hours")
        values = await self.client.get(self.oids.lamp_hours)
        return [lamp_hours(values[o], o) for o in self.oids.lamp_hours]

    async def error_status(self) -> ProjectorErrors:
        """Error status of the mapped parts (unmapped parts read ok)."""
        if not self.oids.errors:
            raise self._unsupported("errors")
        values = await self.client.get([p.oid for p in self.oids.errors.values()])
        return ProjectorErrors(**{part: p.level(values[p.oid])
                                  for part, p in self.oids.errors.items()})

    async def poll(self) -> Mapping[str, Any]:
        """Every mapped reading in one GET (sysUpTime when nothing is mapped)."""
        wanted = self.oids.read_oids()
        if not wanted:
            return await self._uptime()
        return projector_readings(self.oids, await self.client.get(wanted))


class SnmpMixer(_SnmpDriver, AudioMixer):
    """A mixer or DSP driven through its vendor MIB, as far as ``options["oids"]`` maps it."""

    def __init__(self, spec: DeviceSpec, client: SnmpClient, oids: MixerMap) -> None:
        super().__init__(spec, client)
        self.oids = oids

    @property
    def channels(self) -> Sequence[int]:
        """The channel numbers the map lists."""
        return self.oids.channels

    @property
    def gain_range(self) -> tuple[float, float]:
        """The gain range the map gives."""
        if self.oids.gain is None:
            return super().gain_range
        return (self.oids.gain.low, self.oids.gain.high)

    def _check(self, channel: int) -> None:
        if channel not in self.oids.channels:
            raise CommandArgumentError(f"channel {channel} is not in the OID map's channels")

    async def set_mute(self, channel: int, on: bool) -> None:
        """Mute or unmute one channel."""
        mute = self.oids.mute
        if mute is None:
            raise self._unsupported("mute")
        self._check(channel)
        await self.client.set(channel_oid(mute.write_oid(), channel),
                              mute.states["on" if on else "off"], mute.syntax)

    async def set_gain(self, channel: int, db: float) -> None:
        """Set one channel's gain in dB (scaled to the device's unit by the map)."""
        gain = self.oids.gain
        if gain is None:
            raise self._unsupported("gain")
        self._check(channel)
        if not gain.low <= db <= gain.high:
            raise CommandArgumentError(f"gain must be between {gain.low:g} and {gain.high:g} dB")
        await self.client.set(channel_oid(gain.set_oid or gain.oid, channel),
                              gain.to_device(db), gain.syntax)

    async def get_channel(self, channel: int) -> ChannelState:
        """One channel's mute, gain and name (unmapped parts read unmuted, 0 dB)."""
        if self.oids.mute is None and self.oids.gain is None:
            raise self._unsupported("mute or gain")
        self._check(channel)
        values = await self.client.get(self.oids.read_oids(channel))
        return channel_state(self.oids, channel, values)

    async def poll(self) -> Mapping[str, Any]:
        """Every channel's state (sysUpTime when the map has no per-channel object)."""
        wanted = [oid for c in self.oids.channels for oid in self.oids.read_oids(c)]
        if not wanted:
            return await self._uptime()
        values = await self.client.get(wanted)
        return {"channels": [asdict(channel_state(self.oids, c, values))
                             for c in self.oids.channels]}


def device_from_spec(spec: DeviceSpec) -> Device:
    """The SNMP driver for a configured power, network, projector or mixer device."""
    expected = PROFILES.get(spec.kind)
    if expected is None:
        raise SnmpConfigError(f"there is no SNMP driver for a {spec.kind}")
    profile = spec.options.get("profile", expected)
    if profile != expected:
        raise SnmpConfigError(
            f"profile {str(profile)[:20]!r} does not fit a {spec.kind}: use {expected!r}")
    if expected != "oid-map" and "oids" in spec.options:
        raise SnmpConfigError(f"oids does not apply to a {spec.kind} ({expected} is standard)")
    client = SnmpClient.from_spec(spec)
    if spec.kind == "power":
        return SnmpUps(spec, client)
    if spec.kind == "network":
        return SnmpNetworkDevice(spec, client)
    if "oids" not in spec.options:
        raise SnmpConfigError(f"an SNMP {spec.kind} needs oids: where its vendor MIB keeps "
                              "each capability")
    if spec.kind == "projector":
        return SnmpProjector(spec, client, projector_map(spec.options["oids"]))
    return SnmpMixer(spec, client, mixer_map(spec.options["oids"]))
