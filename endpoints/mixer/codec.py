"""Mixer command strings as bytes in, events out; no I/O and no asyncio here.

A `Dialect` is a small table of templates: the built-in "shure" speaks Shure's
``< SET 01 AUDIO_MUTE ON >`` / ``< REP 01 AUDIO_GAIN_HI_RES 1100 >`` strings (port 2202),
"generic" speaks ``SET MUTE 1 ON`` lines. A site can override any entry in its config.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from endpoints.errors import LocalProtocolError
from endpoints.framing import FrameDropped, LineCodec

_log = logging.getLogger(__name__)

MAX_FRAME: Final = 512

_TEMPLATE_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "set_mute": frozenset({"channel", "value"}),
    "get_mute": frozenset({"channel"}),
    "set_gain": frozenset({"channel", "value"}),
    "get_gain": frozenset({"channel"}),
    "report": frozenset({"channel", "param", "value"}),
}
_CAPTURE: Final[Mapping[str, str]] = {
    "channel": r"(?P<channel>\d{1,4})",
    "param": r"(?P<param>[A-Za-z0-9_]+)",
    "value": r"(?P<value>\S(?:.*\S)?)",
}


@dataclass(frozen=True)
class Dialect:
    """How one family of mixers spells mute and gain commands and reports."""

    name: str
    terminator: str  # one character ending each received frame
    send_suffix: str  # appended to each command sent
    frame_prefix: str  # received frames start with it ("" when any line is a frame)
    set_mute: str
    get_mute: str
    set_gain: str
    get_gain: str
    report: str
    error: str  # frames starting with this are error replies
    mute_param: str
    gain_param: str
    on: str = "ON"
    off: str = "OFF"
    # Gain on the wire is round(dB * gain_scale) + gain_offset, zero-padded to gain_width
    # digits, or dB with gain_decimals places when gain_decimals > 0.
    gain_scale: float = 10.0
    gain_offset: float = 0.0
    gain_width: int = 0
    gain_decimals: int = 0
    gain_min: float = -110.0
    gain_max: float = 20.0
    default_port: int = 0  # the TCP port the family listens on, 0 if there is none
    _patterns: dict[str, re.Pattern[str]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", {})
        if len(self.terminator) != 1:
            raise ValueError(f"dialect {self.name}: terminator must be one character")
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str) and not value.isascii():
                raise ValueError(f"dialect {self.name}: {item.name} must be ASCII")
        for key, allowed in _TEMPLATE_FIELDS.items():
            template = getattr(self, key)
            if _field_names(template, f"dialect {self.name}: {key}") != allowed:
                raise ValueError(f"dialect {self.name}: {key} must use exactly "
                                 f"{', '.join('{' + n + '}' for n in sorted(allowed))}")
            try:
                template.format(channel=1, param="P", value="V")
            except (ValueError, IndexError) as exc:
                raise ValueError(f"dialect {self.name}: {key}: {exc}") from exc
            self._patterns[key] = _compile(template, self.terminator)
        if not self.error.strip() or not self.mute_param or not self.gain_param:
            raise ValueError(f"dialect {self.name}: error, mute_param and gain_param are needed")
        if self.gain_scale <= 0 or self.gain_min >= self.gain_max or self.gain_width < 0 \
                or not 0 <= self.gain_decimals <= 3:
            raise ValueError(f"dialect {self.name}: gain settings are inconsistent")

    # -- values ------------------------------------------------------------------------------

    def encode_gain(self, db: float) -> str:
        """The wire text of a gain in dB."""
        raw = db * self.gain_scale + self.gain_offset
        if self.gain_decimals:
            return f"{raw:.{self.gain_decimals}f}"
        return f"{round(raw):0{self.gain_width}d}"

    def decode_gain(self, text: str) -> float:
        """A gain in dB from its wire text; ValueError if it is not one."""
        raw = float(text)
        db = round((raw - self.gain_offset) / self.gain_scale, 3)
        if not self.gain_min - 1e-6 <= db <= self.gain_max + 1e-6:
            raise ValueError(f"gain {db} dB outside {self.gain_min}..{self.gain_max}")
        return db

    def encode_mute(self, on: bool) -> str:
        """The wire text of a mute state."""
        return self.on if on else self.off

    def decode_mute(self, text: str) -> bool:
        """A mute state from its wire text; ValueError if it is not one."""
        if text.upper() == self.on.upper():
            return True
        if text.upper() == self.off.upper():
            return False
        raise ValueError(f"mute value {text!r}")

    # -- frames ------------------------------------------------------------------------------

    def clean(self, frame: bytes) -> str | None:
        """A received frame as text (terminator gone, whitespace trimmed); None if binary."""
        try:
            text = frame.decode("ascii")
        except UnicodeDecodeError:
            return None
        text = text.strip(" \t\r\n\x00")
        if any(not c.isprintable() for c in text):
            return None
        return text

    def match(self, key: str, text: str) -> dict[str, str] | None:
        """The fields of ``text`` if it has the shape of template ``key``."""
        found = self._patterns[key].fullmatch(text)
        return None if found is None else found.groupdict()

    def is_error(self, text: str) -> str | None:
        """The message of an error frame, or None if ``text`` is not one."""
        error = _strip_terminator(self.error, self.terminator)
        if text == error or text.startswith(error + " "):
            return text[len(error):].strip()
        return None

    def format(self, key: str, channel: int, value: str = "", param: str = "") -> bytes:
        """One frame to send from template ``key``."""
        template: str = getattr(self, key)
        text = template.format(channel=channel, value=value, param=param)
        return (text + self.send_suffix).encode("ascii")


def _field_names(template: str, where: str) -> set[str]:
    names = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    for _, name, _, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or conversion:
            raise ValueError(f"{where}: field {{{name}}} is not allowed")
        names.add(name)
    return names


def _strip_terminator(template: str, terminator: str) -> str:
    text = template.strip()
    if not terminator.isspace() and text.endswith(terminator):
        text = text[:-1].rstrip()
    return text


def _compile(template: str, terminator: str) -> re.Pattern[str]:
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(_strip_terminator(template, terminator)):
        out.extend(r"\s+" if part.isspace() else re.escape(part)
                   for part in re.split(r"(\s+)", literal) if part)
        if name is not None:
            out.append(_CAPTURE[name])
    return re.compile("".join(out))


SHURE: Final = Dialect(
    name="shure", terminator=">", send_suffix="", frame_prefix="<",
    set_mute="< SET {channel:02d} AUDIO_MUTE {value} >",
    get_mute="< GET {channel:02d} AUDIO_MUTE >",
    set_gain="< SET {channel:02d} AUDIO_GAIN_HI_RES {value} >",
    get_gain="< GET {channel:02d} AUDIO_GAIN_HI_RES >",
    report="< REP {channel:02d} {param} {value} >", error="< REP ERR >",
    mute_param="AUDIO_MUTE", gain_param="AUDIO_GAIN_HI_RES",
    # Shure P300: AUDIO_GAIN_HI_RES 0000..1400 in tenths of a dB, 1100 = 0 dB.
    gain_scale=10.0, gain_offset=1100.0, gain_width=4, gain_min=-110.0, gain_max=30.0,
    default_port=2202,
)
GENERIC: Final = Dialect(
    name="generic", terminator="\n", send_suffix="\r\n", frame_prefix="",
    set_mute="SET MUTE {channel} {value}", get_mute="GET MUTE {channel}",
    set_gain="SET GAIN {channel} {value}", get_gain="GET GAIN {channel}",
    report="{param} {channel} {value}", error="ERR", mute_param="MUTE", gain_param="GAIN",
    gain_scale=1.0, gain_offset=0.0, gain_decimals=1, gain_min=-100.0, gain_max=12.0,
)
DIALECTS: Final[Mapping[str, Dialect]] = {d.name: d for d in (SHURE, GENERIC)}


def dialect_from_options(value: Any) -> Dialect:
    """options["dialect"]: a built-in name, or a table of overrides (``base`` names the start)."""
    if value is None:
        return SHURE
    if isinstance(value, str):
        try:
            return DIALECTS[value]
        except KeyError:
            raise ValueError(f"dialect {value!r} is not one of {', '.join(DIALECTS)}") from None
    if not isinstance(value, Mapping):
        raise ValueError("dialect must be a name or a table of templates")
    overrides = dict(value)
    base_name = overrides.pop("base", "shure")
    if base_name not in DIALECTS:
        raise ValueError(f"dialect base {base_name!r} is not one of {', '.join(DIALECTS)}")
    base = DIALECTS[base_name]
    known = {f.name: f for f in fields(Dialect) if not f.name.startswith("_")}
    changes: dict[str, Any] = {"name": f"{base_name}+custom"}
    for key, item in overrides.items():
        if key not in known or key == "name":
            raise ValueError(f"dialect has no setting {key!r}")
        current = getattr(base, key)
        if isinstance(current, str) and isinstance(item, str):
            changes[key] = item
        elif isinstance(current, int | float) and isinstance(item, int | float) \
                and not isinstance(item, bool):
            changes[key] = type(current)(item)
        else:
            raise ValueError(f"dialect setting {key!r} must be {type(current).__name__}")
    return replace(base, **changes)


# -- commands and events ---------------------------------------------------------------------

@dataclass(frozen=True)
class SetMute:
    """Mute or unmute a channel."""

    channel: int
    on: bool


@dataclass(frozen=True)
class GetMute:
    """Ask a channel's mute."""

    channel: int


@dataclass(frozen=True)
class SetGain:
    """Set a channel's gain in dB."""

    channel: int
    db: float


@dataclass(frozen=True)
class GetGain:
    """Ask a channel's gain."""

    channel: int


MixerCommand = SetMute | GetMute | SetGain | GetGain


@dataclass(frozen=True)
class MuteReport:
    """A channel's mute state, in reply or unsolicited."""

    channel: int
    on: bool


@dataclass(frozen=True)
class GainReport:
    """A channel's gain in dB, in reply or unsolicited."""

    channel: int
    db: float


@dataclass(frozen=True)
class ErrorReply:
    """The mixer refused the last command."""

    message: str


@dataclass(frozen=True)
class OtherReport:
    """A well-formed frame about something we do not track (meters, presets, LEDs)."""

    text: str


MixerEvent = MuteReport | GainReport | ErrorReply | OtherReport | FrameDropped


def _check_channel(channel: int) -> None:
    if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= 9999:
        raise LocalProtocolError(f"mixer channel {channel!r} cannot be sent")


class MixerCodec(LineCodec[MixerEvent]):
    """The controller's side of one mixer connection."""

    def __init__(self, dialect: Dialect = SHURE, max_frame: int = MAX_FRAME) -> None:
        super().__init__(max_frame, dialect.terminator.encode("ascii"))
        self.dialect = dialect

    def _parse_line(self, line: bytes) -> MixerEvent | None:
        text = self.dialect.clean(line)
        if text is None:
            return self._drop("garbage")
        if not text:
            return None
        return self._parse(text)

    def _parse(self, text: str) -> MixerEvent:
        d = self.dialect
        if not text.startswith(d.frame_prefix):
            return self._drop("garbage")
        message = d.is_error(text)
        if message is not None:
            return ErrorReply(message)
        fields_ = d.match("report", text)
        if fields_ is None:
            return OtherReport(text) if d.frame_prefix else self._drop("garbage")
        channel, param, value = int(fields_["channel"]), fields_["param"], fields_["value"]
        try:
            if param == d.mute_param:
                return MuteReport(channel, d.decode_mute(value))
            if param == d.gain_param:
                return GainReport(channel, d.decode_gain(value))
        except ValueError:
            return self._drop("bad_value")
        return OtherReport(text)

    def encode(self, command: MixerCommand) -> bytes:
        """The bytes of one command."""
        return encode_command(self.dialect, command)


def encode_command(dialect: Dialect, command: MixerCommand) -> bytes:
    """The bytes of one command in a dialect; `LocalProtocolError` if it cannot be sent."""
    _check_channel(command.channel)
    if isinstance(command, SetMute):
        return dialect.format("set_mute", command.channel, dialect.encode_mute(command.on))
    if isinstance(command, GetMute):
        return dialect.format("get_mute", command.channel)
    if isinstance(command, SetGain):
        if not dialect.gain_min <= command.db <= dialect.gain_max:
            raise LocalProtocolError(f"gain {command.db} dB is outside "
                                     f"{dialect.gain_min:g}..{dialect.gain_max:g} dB")
        return dialect.format("set_gain", command.channel, dialect.encode_gain(command.db))
    return dialect.format("get_gain", command.channel)


def parse_request(dialect: Dialect, text: str) -> MixerCommand | None:
    """A mixer's reading of one received frame (for simulators); None if it is not one."""
    for key in ("set_mute", "get_mute", "set_gain", "get_gain"):
        found = dialect.match(key, text)
        if found is None:
            continue
        channel = int(found["channel"])
        try:
            if key == "set_mute":
                return SetMute(channel, dialect.decode_mute(found["value"]))
            if key == "set_gain":
                return SetGain(channel, dialect.decode_gain(found["value"]))
        except ValueError:
            return None
        return GetMute(channel) if key == "get_mute" else GetGain(channel)
    return None


def encode_report(dialect: Dialect, report: MuteReport | GainReport) -> bytes:
    """One report frame (for simulators)."""
    if isinstance(report, MuteReport):
        return dialect.format("report", report.channel, dialect.encode_mute(report.on),
                              dialect.mute_param)
    return dialect.format("report", report.channel, dialect.encode_gain(report.db),
                          dialect.gain_param)


def encode_error(dialect: Dialect, message: str = "") -> bytes:
    """One error frame (for simulators)."""
    text = dialect.error
    if message:
        text = f"{_strip_terminator(text, dialect.terminator)} {message}"
        if not dialect.terminator.isspace():
            text += f" {dialect.terminator}"
    return (text + dialect.send_suffix).encode("ascii")
