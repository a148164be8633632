"""Device profiles: which OIDs to read and how their values become capability readings.

Pure: values in (as `endpoints.snmp.values.SnmpValue`), readings out. A value of the wrong
ASN.1 type is a `RemoteProtocolError`; a value of the right type outside its MIB range is
read as unknown (agents use sentinels such as -1 for "not known").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from endpoints.errors import LocalProtocolError, RemoteProtocolError
from endpoints.interfaces import (
    ChannelState,
    InterfaceStatus,
    PowerState,
    ProjectorErrors,
    UpsStatus,
)
from endpoints.snmp.config import SnmpConfigError
from endpoints.snmp.values import SYNTAXES, Oid, SnmpValue, display_text, oid_text, parse_oid

# -- UPS-MIB (RFC 1628) -----------------------------------------------------------------------

UPS_BATTERY_STATUS: Final = "1.3.6.1.2.1.33.1.2.1.0"
UPS_SECONDS_ON_BATTERY: Final = "1.3.6.1.2.1.33.1.2.2.0"
UPS_MINUTES_REMAINING: Final = "1.3.6.1.2.1.33.1.2.3.0"
UPS_CHARGE_REMAINING: Final = "1.3.6.1.2.1.33.1.2.4.0"
# Line 1 of upsInputTable / upsOutputTable: room UPSes are single-phase.
UPS_INPUT_VOLTAGE: Final = "1.3.6.1.2.1.33.1.3.3.1.3.1"
UPS_OUTPUT_SOURCE: Final = "1.3.6.1.2.1.33.1.4.1.0"
UPS_OUTPUT_LOAD: Final = "1.3.6.1.2.1.33.1.4.4.1.5.1"
UPS_ALARMS_PRESENT: Final = "1.3.6.1.2.1.33.1.6.1.0"
UPS_STATUS_OIDS: Final = (
    UPS_OUTPUT_SOURCE, UPS_CHARGE_REMAINING, UPS_MINUTES_REMAINING, UPS_SECONDS_ON_BATTERY,
    UPS_OUTPUT_LOAD, UPS_BATTERY_STATUS, UPS_INPUT_VOLTAGE, UPS_ALARMS_PRESENT,
)
BATTERY_STATUS: Final = {1: "unknown", 2: "normal", 3: "low", 4: "depleted"}
OUTPUT_SOURCE: Final = {1: "other", 2: "none", 3: "normal", 4: "bypass", 5: "battery",
                        6: "booster", 7: "reducer"}


def _integer(values: Mapping[str, SnmpValue], oid: str, low: int, high: int) -> int | None:
    value = values.get(oid)
    if value is None:
        return None
    if not isinstance(value, int):
        raise RemoteProtocolError(
            f"{oid} should be a number, the agent sent {type(value).__name__}")
    return value if low <= value <= high else None


def ups_status(values: Mapping[str, SnmpValue]) -> UpsStatus:
    """A UPS reading from the values of `UPS_STATUS_OIDS`."""
    source_code = _integer(values, UPS_OUTPUT_SOURCE, 1, 7)
    source = OUTPUT_SOURCE.get(source_code or 0, "unknown")
    seconds = _integer(values, UPS_SECONDS_ON_BATTERY, 0, 2**31 - 1)
    # RFC 1628: upsSecondsOnBattery is zero whenever the unit is not on battery.
    on_battery = source == "battery" or (source in ("unknown", "other") and bool(seconds))
    charge = _integer(values, UPS_CHARGE_REMAINING, 0, 100)
    minutes = _integer(values, UPS_MINUTES_REMAINING, 0, 2**31 - 1)
    load = _integer(values, UPS_OUTPUT_LOAD, 0, 200)
    voltage = _integer(values, UPS_INPUT_VOLTAGE, 0, 2**31 - 1)
    battery = BATTERY_STATUS.get(_integer(values, UPS_BATTERY_STATUS, 1, 4) or 1, "unknown")
    alarms = _integer(values, UPS_ALARMS_PRESENT, 0, 2**32 - 1)
    return UpsStatus(
        on_battery=on_battery,
        charge_percent=None if charge is None else float(charge),
        runtime_minutes=None if minutes is None else float(minutes),
        load_percent=None if load is None else float(load),
        battery_status=battery,
        input_voltage=None if voltage is None else float(voltage),
        output_source=source,
        alarms=alarms or 0,
    )


# -- IF-MIB (RFC 2863) ------------------------------------------------------------------------

IF_DESCR: Final = "1.3.6.1.2.1.2.2.1.2"
IF_SPEED: Final = "1.3.6.1.2.1.2.2.1.5"
IF_ADMIN_STATUS: Final = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS: Final = "1.3.6.1.2.1.2.2.1.8"
IF_IN_OCTETS: Final = "1.3.6.1.2.1.2.2.1.10"
IF_IN_ERRORS: Final = "1.3.6.1.2.1.2.2.1.14"
IF_OUT_OCTETS: Final = "1.3.6.1.2.1.2.2.1.16"
IF_OUT_ERRORS: Final = "1.3.6.1.2.1.2.2.1.20"
IF_NAME: Final = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS: Final = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS: Final = "1.3.6.1.2.1.31.1.1.1.10"
IF_HIGH_SPEED: Final = "1.3.6.1.2.1.31.1.1.1.15"
IF_TABLE_COLUMNS: Final = (IF_DESCR, IF_SPEED, IF_ADMIN_STATUS, IF_OPER_STATUS, IF_IN_OCTETS,
                           IF_IN_ERRORS, IF_OUT_OCTETS, IF_OUT_ERRORS)
IF_X_TABLE_COLUMNS: Final = (IF_NAME, IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS, IF_HIGH_SPEED)
IF_COLUMNS: Final = IF_TABLE_COLUMNS + IF_X_TABLE_COLUMNS
# RFC 2863: ifSpeed reports its maximum when the real speed is higher; ifHighSpeed then rules.
IF_SPEED_MAX: Final = 2**32 - 1

Columns = Mapping[str, Mapping[Oid, SnmpValue]]


def _cell(columns: Columns, column: str, index: Oid) -> int | None:
    value = columns.get(column, {}).get(index)
    if value is None:
        return None
    if not isinstance(value, int) or value < 0:
        raise RemoteProtocolError(
            f"{column}.{oid_text(index)} should be a counter or gauge, "
            f"the agent sent {type(value).__name__}")
    return value


def interfaces_from_columns(columns: Columns) -> list[InterfaceStatus]:
    """Interfaces from walked IF-MIB columns (`IF_COLUMNS`), by ifIndex."""
    indexes: set[Oid] = set()
    for column in IF_TABLE_COLUMNS:
        indexes.update(i for i in columns.get(column, {}) if len(i) == 1)
    out = []
    for index in sorted(indexes):
        name = display_text(columns.get(IF_NAME, {}).get(index)) \
            or display_text(columns.get(IF_DESCR, {}).get(index)) or f"if{index[0]}"
        speed = _cell(columns, IF_SPEED, index)
        high = _cell(columns, IF_HIGH_SPEED, index)
        if high and (speed is None or speed >= IF_SPEED_MAX):
            speed_bps: int | None = high * 1_000_000
        else:
            speed_bps = speed or None  # 0: the agent does not know
        hc_in = _cell(columns, IF_HC_IN_OCTETS, index)
        hc_out = _cell(columns, IF_HC_OUT_OCTETS, index)
        out.append(InterfaceStatus(
            index=index[0],
            name=name,
            up=_cell(columns, IF_OPER_STATUS, index) == 1,
            admin_up=_cell(columns, IF_ADMIN_STATUS, index) == 1,
            speed_bps=speed_bps,
            in_octets=hc_in if hc_in is not None else _cell(columns, IF_IN_OCTETS, index) or 0,
            out_octets=hc_out if hc_out is not None
            else _cell(columns, IF_OUT_OCTETS, index) or 0,
            in_errors=_cell(columns, IF_IN_ERRORS, index) or 0,
            out_errors=_cell(columns, IF_OUT_ERRORS, index) or 0,
        ))
    return out


# -- OID maps for vendor MIBs -----------------------------------------------------------------

Setting = int | str
CHANNEL: Final = "{channel}"
MAX_CHANNELS: Final = 256


@dataclass(frozen=True)
class StateMap:
    """An object whose values name states: power, input, AV mute, a mixer channel's mute."""

    oid: str  # may hold {channel}
    states: Mapping[str, Setting]
    set_oid: str = ""
    syntax: str | None = None

    def write_oid(self) -> str:
        """Where to SET (the status object unless the MIB has a separate control object)."""
        return self.set_oid or self.oid

    def name_of(self, value: SnmpValue) -> str | None:
        """The state a read value names, if any."""
        for name, setting in self.states.items():
            if _same(value, setting):
                return name
        return None


@dataclass(frozen=True)
class ErrorPart:
    """One part's error object: ``ok`` and ``warning`` values, anything else is an error."""

    oid: str
    ok: Setting = 0
    warning: Setting = 1

    def level(self, value: SnmpValue) -> str:
        """"ok", "warning" or "error"."""
        if _same(value, self.ok):
            return "ok"
        return "warning" if _same(value, self.warning) else "error"


@dataclass(frozen=True)
class GainMap:
    """A channel's gain object: device value = round(dB × scale + offset)."""

    oid: str
    scale: float = 1.0
    offset: float = 0.0
    low: float = -110.0
    high: float = 20.0
    set_oid: str = ""
    syntax: str | None = None

    def to_device(self, db: float) -> int:
        """The device value for a gain in dB."""
        return round(db * self.scale + self.offset)

    def to_db(self, value: SnmpValue) -> float:
        """The gain in dB a device value means."""
        if not isinstance(value, int):
            raise RemoteProtocolError(f"a gain should be a number, the agent sent "
                                      f"{type(value).__name__}")
        return round((value - self.offset) / self.scale, 3)


@dataclass(frozen=True)
class ProjectorMap:
    """Where a projector's vendor MIB keeps each capability (absent: unsupported)."""

    power: StateMap | None = None
    input: StateMap | None = None
    av_mute: StateMap | None = None
    lamp_hours: tuple[str, ...] = ()
    errors: Mapping[str, ErrorPart] = field(default_factory=dict)

    def read_oids(self) -> list[str]:
        """Every object a poll reads."""
        out = [m.oid for m in (self.power, self.input, self.av_mute) if m is not None]
        return out + list(self.lamp_hours) + [p.oid for p in self.errors.values()]


@dataclass(frozen=True)
class MixerMap:
    """Where a mixer's vendor MIB keeps each channel's mute, gain and name."""

    channels: tuple[int, ...]
    mute: StateMap | None = None
    gain: GainMap | None = None
    name: str | None = None

    def read_oids(self, channel: int) -> list[str]:
        """Every object of one channel a poll reads."""
        templates = [self.mute.oid if self.mute else None, self.gain.oid if self.gain else None,
                     self.name]
        return [channel_oid(t, channel) for t in templates if t is not None]


def _same(value: SnmpValue, setting: Setting) -> bool:
    if isinstance(setting, int):
        return isinstance(value, int) and value == setting
    return display_text(value, 256) == setting


def channel_oid(template: str, channel: int) -> str:
    """A per-channel OID template with ``{channel}`` filled in."""
    return template.replace(CHANNEL, str(channel))


def _table(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
        raise SnmpConfigError(f"{where} must be a table")
    return raw


def _only(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise SnmpConfigError(f"{where} has unknown key(s): {', '.join(unknown)[:120]}")


def _oid(raw: Any, where: str, template: bool = False) -> str:
    if not isinstance(raw, str):
        raise SnmpConfigError(f"{where} must be an OID in dotted text")
    if template and CHANNEL not in raw:
        raise SnmpConfigError(f"{where} must hold {CHANNEL} where the channel number goes")
    if not template and CHANNEL in raw:
        raise SnmpConfigError(f"{where} cannot hold {CHANNEL}")
    try:
        parse_oid(channel_oid(raw, 1))
    except LocalProtocolError as exc:
        raise SnmpConfigError(f"{where}: {exc.message}") from None
    return raw.strip().removeprefix(".")


def _setting(raw: Any, where: str) -> Setting:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise SnmpConfigError(f"{where} must be a whole number or text")
    if isinstance(raw, int) and not -(2**31) <= raw <= 2**32 - 1:
        raise SnmpConfigError(f"{where} is out of SNMP's integer range")
    if isinstance(raw, str) and not 0 < len(raw) <= 255:
        raise SnmpConfigError(f"{where} must be 1 to 255 characters")
    return raw


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise SnmpConfigError(f"{where} must be a number")
    return float(raw)


def _syntax(table: Mapping[str, Any], where: str) -> str | None:
    raw = table.get("syntax")
    if raw is not None and raw not in SYNTAXES:
        raise SnmpConfigError(f"{where}.syntax must be one of {', '.join(SYNTAXES)}")
    return raw


def _state_map(raw: Any, where: str, names: Sequence[str], required: Sequence[str],
               defaults: Mapping[str, Setting], template: bool = False) -> StateMap:
    table = _table(raw, where)
    _only(table, ["oid", "set_oid", "syntax", *names], where)
    states: dict[str, Setting] = {}
    for name in names:
        if name in table:
            states[name] = _setting(table[name], f"{where}.{name}")
        elif name in defaults:
            states[name] = defaults[name]
        elif name in required:
            raise SnmpConfigError(f"{where} needs {name}")
    if len(set(states.values())) != len(states):
        raise SnmpConfigError(f"{where} gives two states the same value")
    set_oid = _oid(table["set_oid"], f"{where}.set_oid", template) if "set_oid" in table else ""
    return StateMap(_oid(table.get("oid"), f"{where}.oid", template), states, set_oid,
                    _syntax(table, where))


def _input_map(raw: Any, where: str) -> StateMap:
    table = _table(raw, where)
    _only(table, ["oid", "set_oid", "syntax", "values"], where)
    values = _table(table.get("values"), f"{where}.values")
    if not values or len(values) > 64:
        raise SnmpConfigError(f"{where}.values must name 1 to 64 inputs")
    states = {name: _setting(v, f"{where}.values.{name}") for name, v in values.items()}
    if len(set(states.values())) != len(states):
        raise SnmpConfigError(f"{where}.values gives two inputs the same value")
    set_oid = _oid(table["set_oid"], f"{where}.set_oid") if "set_oid" in table else ""
    return StateMap(_oid(table.get("oid"), f"{where}.oid"), states, set_oid,
                    _syntax(table, where))


def _error_part(raw: Any, where: str) -> ErrorPart:
    if isinstance(raw, str):
        return ErrorPart(_oid(raw, where))
    table = _table(raw, where)
    _only(table, ["oid", "ok", "warning"], where)
    return ErrorPart(_oid(table.get("oid"), f"{where}.oid"),
                     _setting(table.get("ok", 0), f"{where}.ok"),
                     _setting(table.get("warning", 1), f"{where}.warning"))


PROJECTOR_KEYS: Final = ("power", "input", "av_mute", "lamp_hours", "errors")
ERROR_PARTS: Final = tuple(f.name for f in fields(ProjectorErrors))


def projector_map(raw: Any) -> ProjectorMap:
    """A projector's OID map from the ``oids`` option."""
    table = _table(raw, "oids")
    _only(table, PROJECTOR_KEYS, "oids")
    on_off = {"on": 1, "off": 0}
    power = _state_map(table["power"], "oids.power", ("on", "off", "warming", "cooling"),
                       ("on", "off"), on_off) if "power" in table else None
    mute = _state_map(table["av_mute"], "oids.av_mute", ("on", "off"), ("on", "off"),
                      on_off) if "av_mute" in table else None
    source = _input_map(table["input"], "oids.input") if "input" in table else None
    lamps_raw = table.get("lamp_hours", [])
    lamps_list = [lamps_raw] if isinstance(lamps_raw, str) else lamps_raw
    if not isinstance(lamps_list, list) or len(lamps_list) > 8:
        raise SnmpConfigError("oids.lamp_hours must be an OID or a list of up to 8 OIDs")
    lamps = tuple(_oid(o, f"oids.lamp_hours[{i}]") for i, o in enumerate(lamps_list))
    errors_table = _table(table.get("errors", {}), "oids.errors")
    _only(errors_table, ERROR_PARTS, "oids.errors")
    errors = {part: _error_part(v, f"oids.errors.{part}") for part, v in errors_table.items()}
    return ProjectorMap(power, source, mute, lamps, errors)


def _channels(raw: Any) -> tuple[int, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 1 <= raw <= MAX_CHANNELS:
            raise SnmpConfigError(f"oids.channels must be 1 to {MAX_CHANNELS}")
        return tuple(range(1, raw + 1))
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CHANNELS:
        raise SnmpConfigError(
            f"oids.channels must be a count or a list of 1 to {MAX_CHANNELS} channel numbers")
    if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9999 for c in raw):
        raise SnmpConfigError("oids.channels must hold channel numbers 0 to 9999")
    if len(set(raw)) != len(raw):
        raise SnmpConfigError("oids.channels names a channel twice")
    return tuple(raw)


def _gain_map(raw: Any) -> GainMap:
    where = "oids.gain"
    if isinstance(raw, str):
        return GainMap(_oid(raw, where, template=True))
    table = _table(raw, where)
    _only(table, ["oid", "set_oid", "syntax", "scale", "offset", "min", "max"], where)
    scale = _number(table.get("scale", 1.0), f"{where}.scale")
    low = _number(table.get("min", -110.0), f"{where}.min")
    high = _number(table.get("max", 20.0), f"{where}.max")
    if scale == 0 or low >= high:
        raise SnmpConfigError(f"{where} needs a scale other than 0 and min below max")
    set_oid = _oid(table["set_oid"], f"{where}.set_oid", True) if "set_oid" in table else ""
    gain = GainMap(_oid(table.get("oid"), f"{where}.oid", template=True), scale,
                   _number(table.get("offset", 0.0), f"{where}.offset"), low, high, set_oid,
                   _syntax(table, where))
    for db in (low, high):
        if abs(gain.to_device(db)) > 2**31 - 1:
            raise SnmpConfigError(f"{where}: {db:g} dB is beyond SNMP's integer range")
    return gain


def mixer_map(raw: Any) -> MixerMap:
    """A mixer's OID map from the ``oids`` option."""
    table = _table(raw, "oids")
    _only(table, ("channels", "mute", "gain", "name"), "oids")
    if "channels" not in table:
        raise SnmpConfigError("oids.channels is needed: a count or a list of channel numbers")
    mute = _state_map(table["mute"], "oids.mute", ("on", "off"), ("on", "off"),
                      {"on": 1, "off": 0}, template=True) if "mute" in table else None
    gain = _gain_map(table["gain"]) if "gain" in table else None
    name = _oid(table["name"], "oids.name", template=True) if "name" in table else None
    return MixerMap(_channels(table["channels"]), mute, gain, name)


def power_state(power: StateMap, value: SnmpValue) -> PowerState:
    """A projector's power state from its power object."""
    name = power.name_of(value)
    return PowerState(name) if name is not None else PowerState.UNKNOWN


def input_name(source: StateMap, value: SnmpValue) -> str:
    """The configured name of the selected input (the raw value when it has none)."""
    return source.name_of(value) or display_text(value, 16)


def lamp_hours(value: SnmpValue, oid: str) -> int:
    """Hours of one lamp."""
    if not isinstance(value, int):
        raise RemoteProtocolError(f"lamp hours at {oid} should be a number")
    return max(value, 0)


def projector_readings(oids: ProjectorMap, values: Mapping[str, SnmpValue]) -> dict[str, Any]:
    """A projector poll's readings from the values of `ProjectorMap.read_oids`."""
    out: dict[str, Any] = {}
    if oids.power is not None:
        out["power"] = power_state(oids.power, values.get(oids.power.oid)).value
    if oids.input is not None:
        out["input"] = input_name(oids.input, values.get(oids.input.oid))
    if oids.av_mute is not None:
        out["av_mute"] = oids.av_mute.name_of(values.get(oids.av_mute.oid)) == "on"
    if oids.lamp_hours:
        out["lamp_hours"] = [lamp_hours(values.get(o), o) for o in oids.lamp_hours]
    if oids.errors:
        errors = ProjectorErrors(**{part: p.level(values.get(p.oid))
                                    for part, p in oids.errors.items()})
        out["errors"] = errors.problems()
    return out


def channel_state(oids: MixerMap, channel: int, values: Mapping[str, SnmpValue]) -> ChannelState:
    """One channel from the values of `MixerMap.read_oids`; unmapped parts read unmuted/0 dB."""
    muted = False
    if oids.mute is not None:
        muted = oids.mute.name_of(values.get(channel_oid(oids.mute.oid, channel))) == "on"
    gain = 0.0
    if oids.gain is not None:
        gain = oids.gain.to_db(values.get(channel_oid(oids.gain.oid, channel)))
    name = ""
    if oids.name is not None:
        name = display_text(values.get(channel_oid(oids.name, channel)), 32)
    return ChannelState(channel, muted, gain, name)
