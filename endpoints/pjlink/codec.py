"""PJLink class 1 and 2 (JBMIA) as bytes in, events out; no I/O and no asyncio here.

A client codec lives for one TCP connection: the projector greets first (``PJLINK 0``
or ``PJLINK 1 <random>``), the first command carries md5(random + password) when a
password is set, and every line ends with CR. The same framing parses the class 2
status notifications a projector sends over UDP, and the requests a simulator reads.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from endpoints.errors import (
    AuthenticationFailedError,
    CommandArgumentError,
    DeviceBusyError,
    DeviceRefusedError,
    EndpointError,
    LocalProtocolError,
    RemoteProtocolError,
)
from endpoints.framing import FrameDropped, LineCodec, sanitize
from endpoints.interfaces import PowerState, ProjectorErrors

_log = logging.getLogger(__name__)

PJLINK_PORT: Final = 4352
# PJLink spec: "%" + class + 4-byte body + separator + parameter (<= 128 bytes) + CR.
MAX_PARAM: Final = 128
MAX_LINE: Final = 136
DIGEST_LENGTH: Final = 32
TERMINATOR: Final = b"\r"
AUTH_ERROR_LINE: Final = b"PJLINK ERRA\r"

_BODY = re.compile(r"[A-Z0-9]{4}")
_REPLY = re.compile(r"%([1-9])([A-Za-z0-9]{4})=(.*)", re.DOTALL)
_REQUEST = re.compile(r"([0-9a-fA-F]{32})?%([1-9])([A-Za-z0-9]{4}) (.*)", re.DOTALL)
_SALT = re.compile(r"[\x21-\x7e]{1,32}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
# Bytes some projectors pad lines with (NUL after the CR, a stray LF); not part of PJLink.
_PADDING: Final = b"\x00\n "

NOTIFICATION_BODIES: Final = frozenset({"LKUP", "POWR", "ERST", "INPT", "AVMT"})


# -- commands --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One PJLink command: ``%<class><body> <param>``; param "?" asks."""

    body: str
    param: str = "?"
    pjlink_class: int = 1

    def validate(self) -> None:
        """Raise `LocalProtocolError` unless the spec allows this command on the wire."""
        if self.pjlink_class not in (1, 2):
            raise LocalProtocolError(f"PJLink class {self.pjlink_class} does not exist")
        if not _BODY.fullmatch(self.body):
            raise LocalProtocolError(f"PJLink command body {self.body!r} is not 4 letters")
        if len(self.param) > MAX_PARAM or not all(" " <= c <= "~" for c in self.param):
            raise LocalProtocolError(
                f"PJLink parameter of {self.body} must be 0 to {MAX_PARAM} printable ASCII")


def query(body: str, pjlink_class: int = 1) -> Command:
    """A status query, e.g. ``%1POWR ?``."""
    return Command(body, "?", pjlink_class)


def auth_digest(salt: str, password: str) -> str:
    """PJLink auth: hex MD5 of the projector's random sequence followed by the password."""
    data = (salt + password).encode("utf-8")
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# -- events ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Greeting:
    """The projector's first line: whether it wants a password, and its random sequence."""

    auth_required: bool
    salt: str = ""


@dataclass(frozen=True)
class AuthRejected:
    """``PJLINK ERRA``: the digest (or its absence) was refused."""


@dataclass(frozen=True)
class Reply:
    """A response ``%<class><body>=<value>``; value is "OK", "ERRn" or data."""

    pjlink_class: int
    body: str
    value: str


@dataclass(frozen=True)
class Notification:
    """A class 2 status notification, e.g. ``%2POWR=1`` or ``%2LKUP=<mac>``."""

    body: str
    value: str


Event = Greeting | AuthRejected | Reply | Notification | FrameDropped

# PJLink spec: the four error responses, and what each means for a caller.
REPLY_ERRORS: Final[Mapping[str, tuple[type[DeviceRefusedError], str]]] = {
    "ERR1": (DeviceRefusedError, "undefined command"),
    "ERR2": (DeviceRefusedError, "parameter out of range"),
    "ERR3": (DeviceBusyError, "unavailable at this time"),
    "ERR4": (DeviceRefusedError, "projector or display failure"),
}


def reply_error(reply: Reply) -> EndpointError | None:
    """The typed error a reply carries, or None when it is a success."""
    if reply.value == "ERRA":
        return AuthenticationFailedError("the projector refused the PJLink password")
    known = REPLY_ERRORS.get(reply.value)
    if known is None:
        return None
    cls, meaning = known
    return cls(f"projector answered {reply.body} with {reply.value} ({meaning})",
               device_code=reply.value)


def _text(raw: bytes) -> str:
    # NAME and INNM may be UTF-8 (class 2); anything else undecodable is replaced.
    return raw.decode("utf-8", errors="replace")


def _strip(line: bytes) -> bytes:
    return line.strip(_PADDING)


# -- the client side of one connection -------------------------------------------------------

class PjlinkClientCodec(LineCodec[Event]):
    """The controller's side of one PJLink TCP connection."""

    def __init__(self, password: str | None = None) -> None:
        super().__init__(MAX_LINE, TERMINATOR)
        self._password = password
        self._greeting: Greeting | None = None
        self._digest_pending: str | None = None

    @property
    def greeted(self) -> bool:
        """Whether the projector's greeting has arrived."""
        return self._greeting is not None

    @property
    def greeting(self) -> Greeting | None:
        """The greeting, once it arrived."""
        return self._greeting

    def _parse_line(self, line: bytes) -> Event | None:
        line = _strip(line)
        if not line:
            return None  # padding between lines
        return self._parse(line)

    def _parse(self, line: bytes) -> Event:
        if line.startswith(b"PJLINK "):
            return self._parse_greeting(line[7:])
        if self._greeting is None:
            return self._drop("unexpected")
        match = _REPLY.fullmatch(_text(line))
        if match is None or len(match.group(3).encode("utf-8", "replace")) > MAX_PARAM:
            return self._drop("garbage")
        cls, body, value = int(match.group(1)), match.group(2).upper(), match.group(3)
        if cls == 2 and body == "LKUP":
            return Notification(body, value)
        return Reply(cls, body, value)

    def _parse_greeting(self, rest: bytes) -> Event:
        if rest == b"ERRA":
            return AuthRejected()
        if self._greeting is not None:
            return self._drop("unexpected")
        if rest == b"0":
            self._greeting = Greeting(False)
            return self._greeting
        text = rest.decode("ascii", errors="replace")
        if text.startswith("1 ") and _SALT.fullmatch(text[2:]):
            self._greeting = Greeting(True, text[2:])
            if self._password is not None:
                self._digest_pending = auth_digest(text[2:], self._password)
            return self._greeting
        return self._drop("bad_greeting")

    def encode(self, command: Command) -> bytes:
        """The bytes of one command; the first after an auth greeting carries the digest."""
        command.validate()
        if self._greeting is None:
            raise LocalProtocolError("a PJLink command cannot be sent before the greeting")
        if self._greeting.auth_required and self._password is None:
            raise AuthenticationFailedError(
                "the projector asks for a PJLink password and none is configured")
        prefix = self._digest_pending or ""
        self._digest_pending = None
        return (f"{prefix}%{command.pjlink_class}{command.body} {command.param}"
                .encode("ascii") + TERMINATOR)


# -- notifications (UDP) ---------------------------------------------------------------------

def parse_datagram(data: bytes) -> list[Notification | FrameDropped]:
    """The class 2 notifications in one UDP datagram (a trailing CR is optional)."""
    out: list[Notification | FrameDropped] = []
    if len(data) > MAX_LINE * 4:
        return [FrameDropped("overlong")]
    for raw in data.split(TERMINATOR):
        line = _strip(raw)
        if not line:
            continue
        if len(line) >= MAX_LINE:
            out.append(FrameDropped("overlong"))
            continue
        match = _REPLY.fullmatch(_text(line))
        if match is None:
            out.append(FrameDropped("garbage"))
        elif match.group(1) != "2" or match.group(2).upper() not in NOTIFICATION_BODIES:
            out.append(FrameDropped("unexpected"))
        else:
            out.append(Notification(match.group(2).upper(), match.group(3)))
    return out


# -- the projector side (for simulators and tests) -------------------------------------------

@dataclass(frozen=True)
class Request:
    """A command line as a projector reads it, with the digest if one was prefixed."""

    command: Command
    digest: str | None


def parse_request(line: bytes) -> Request | None:
    """A projector's reading of one command line (terminator removed); None if not PJLink."""
    match = _REQUEST.fullmatch(_text(_strip(line)))
    if match is None:
        return None
    digest, cls, body, param = match.groups()
    return Request(Command(body.upper(), param, int(cls)), digest.lower() if digest else None)


def encode_greeting(salt: str | None) -> bytes:
    """``PJLINK 0`` without a password, ``PJLINK 1 <salt>`` with one."""
    return b"PJLINK 0\r" if salt is None else f"PJLINK 1 {salt}\r".encode("ascii")


def encode_reply(pjlink_class: int, body: str, value: str) -> bytes:
    """One response (or, over UDP, one notification) line."""
    return f"%{pjlink_class}{body}={value}".encode() + TERMINATOR


# -- values ----------------------------------------------------------------------------------

POWER_CODES: Final[Mapping[str, PowerState]] = {
    "0": PowerState.OFF, "1": PowerState.ON, "2": PowerState.COOLING, "3": PowerState.WARMING,
}
ERROR_LEVELS: Final[Mapping[str, str]] = {"0": "ok", "1": "warning", "2": "error"}
ERROR_PARTS: Final = ("fan", "lamp", "temperature", "cover", "filter", "other")


@dataclass(frozen=True)
class Lamp:
    """One lamp's cumulative hours and whether it is lit."""

    hours: int
    on: bool


@dataclass(frozen=True)
class AvMute:
    """Picture and sound mute, as AVMT reports them."""

    video: bool
    audio: bool


def _bad(body: str, value: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"projector sent an invalid {body} value {sanitize(value)!r}")


def parse_power(value: str) -> PowerState:
    """POWR: 0 off (standby), 1 on, 2 cooling down, 3 warming up."""
    try:
        return POWER_CODES[value]
    except KeyError:
        raise _bad("POWR", value) from None


def parse_error_status(value: str) -> ProjectorErrors:
    """ERST: six digits for fan, lamp, temperature, cover, filter, other."""
    if len(value) != 6 or any(c not in ERROR_LEVELS for c in value):
        raise _bad("ERST", value)
    return ProjectorErrors(**{part: ERROR_LEVELS[c] for part, c in zip(ERROR_PARTS, value,
                                                                        strict=True)})


def encode_error_status(errors: ProjectorErrors) -> str:
    """The six ERST digits of an error status."""
    codes = {level: code for code, level in ERROR_LEVELS.items()}
    return "".join(codes[getattr(errors, part)] for part in ERROR_PARTS)


def parse_lamps(value: str) -> list[Lamp]:
    """LAMP: pairs of cumulative hours (up to 5 digits) and 0/1 lit, up to 8 lamps."""
    words = value.split(" ")
    if not words or len(words) % 2 or len(words) > 16:
        raise _bad("LAMP", value)
    lamps = []
    for hours, lit in zip(words[::2], words[1::2], strict=True):
        if not (hours.isascii() and hours.isdigit() and len(hours) <= 5) \
                or lit not in ("0", "1"):
            raise _bad("LAMP", value)
        lamps.append(Lamp(int(hours), lit == "1"))
    return lamps


AV_MUTE_CODES: Final[Mapping[str, AvMute]] = {
    "10": AvMute(False, False), "11": AvMute(True, False),
    "20": AvMute(False, False), "21": AvMute(False, True),
    "30": AvMute(False, False), "31": AvMute(True, True),
}


def parse_av_mute(value: str) -> AvMute:
    """AVMT: 1x picture, 2x sound, 3x both; x is 1 muted, 0 not."""
    try:
        return AV_MUTE_CODES[value]
    except KeyError:
        raise _bad("AVMT", value) from None


def parse_class(value: str) -> int:
    """CLSS: the highest class the projector implements."""
    if len(value) != 1 or value not in "123456789":
        raise _bad("CLSS", value)
    return int(value)


def parse_mac(value: str) -> str:
    """LKUP: the projector's MAC address, xx:xx:xx:xx:xx:xx."""
    if not _MAC.fullmatch(value):
        raise _bad("LKUP", value)
    return value.lower()


# -- inputs ----------------------------------------------------------------------------------

INPUT_TYPES: Final[Mapping[str, str]] = {
    "1": "RGB", "2": "VIDEO", "3": "DIGITAL", "4": "STORAGE", "5": "NETWORK", "6": "INTERNAL",
}
# Class 2 numbers inputs 1-9 then A-Z.
_NUMBERS: Final = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def valid_input_code(code: str, pjlink_class: int) -> bool:
    """Whether ``code`` is an input the given class can name (class 1: 11..59)."""
    if len(code) != 2:
        return False
    if pjlink_class >= 2:
        return code[0] in INPUT_TYPES and code[1] in _NUMBERS
    return code[0] in "12345" and code[1] in _NUMBERS[:9]


def parse_input(value: str) -> str:
    """INPT: one input code (class 2 codes are accepted from any projector)."""
    code = value.upper()
    if not valid_input_code(code, 2):
        raise _bad("INPT", value)
    return code


def parse_input_list(value: str) -> list[str]:
    """INST: the input codes, separated by spaces (an empty list is allowed)."""
    codes = [w.upper() for w in value.split(" ") if w]
    if any(not valid_input_code(c, 2) for c in codes):
        raise _bad("INST", value)
    return codes


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).upper()


class InputMap:
    """Input names ↔ codes: generic names (RGB1, DIGITAL10) plus configured ones (HDMI1 → 31)."""

    def __init__(self, friendly: Mapping[str, object] | None = None,
                 pjlink_class: int = 1) -> None:
        self.pjlink_class = pjlink_class
        self._by_name: dict[str, str] = {}
        self._by_code: dict[str, str] = {}
        for name, code in (friendly or {}).items():
            if not isinstance(name, str) or not isinstance(code, str | int):
                raise ValueError("inputs: use NAME = \"code\", e.g. HDMI1 = \"31\"")
            code_text = str(code).upper()
            if not valid_input_code(code_text, 2) or not _normal(name):
                raise ValueError(f"inputs: {name!r} = {code!r} is not a PJLink input code")
            self._by_name[_normal(name)] = code_text
            self._by_code.setdefault(code_text, name)

    def code_for(self, source: str) -> str:
        """The code for a configured name, a generic name (DIGITAL1) or a code (31)."""
        key = _normal(source)
        code = self._by_name.get(key)
        if code is None:
            code = self._generic_code(key) or key
        if not valid_input_code(code, self.pjlink_class):
            raise CommandArgumentError(
                f"unknown input {sanitize(source)!r} for a PJLink class {self.pjlink_class}"
                f" projector (known names: {', '.join(self._by_code.values()) or 'none'};"
                " or RGB1, DIGITAL1, ... or a code such as 31)")
        return code

    def name_for(self, code: str) -> str:
        """The configured name of a code, else its generic name."""
        code = code.upper()
        if code in self._by_code:
            return self._by_code[code]
        if len(code) == 2 and code[0] in INPUT_TYPES and code[1] in _NUMBERS:
            return f"{INPUT_TYPES[code[0]]}{_NUMBERS.index(code[1]) + 1}"
        return code

    @staticmethod
    def _generic_code(key: str) -> str | None:
        for digit, kind in INPUT_TYPES.items():
            number = key.removeprefix(kind)
            if number != key and number.isascii() and number.isdigit() \
                    and 1 <= int(number) <= len(_NUMBERS):
                return digit + _NUMBERS[int(number) - 1]
        return None

    def names(self, codes: Sequence[str]) -> list[str]:
        """Names for a list of codes, in order."""
        return [self.name_for(c) for c in codes]
