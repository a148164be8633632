"""SNMP notifications as plain data, and what they mean for the site's devices. Pure: no I/O.

`inspect_datagram` checks a datagram's BER framing before pysnmp sees it, so garbage is
dropped with a reason; `trap_from_varbinds` checks what pysnmp decoded; `trap_event` maps
UPS-MIB and IF-MIB notifications to `DeviceEvent`s; `TrapRouter` picks the device by the
address a trap came from.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from endpoints.errors import LocalProtocolError, RemoteProtocolError
from endpoints.interfaces import DeviceEvent, DropCounter, EventSink
from endpoints.snmp.values import SnmpValue, display_text, is_under, parse_oid

_log = logging.getLogger(__name__)

PROTOCOL: Final = "snmp"
# Notifications are small; RFC 3417 §3.2 only asks receivers to take 484 octets.
MAX_DATAGRAM: Final = 16384

SYS_UPTIME_0: Final = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID_0: Final = "1.3.6.1.6.3.1.1.4.1.0"
# RFC 3584 §3.1 adds these when it turns a v1 trap into a v2 one; the community is a secret.
SNMP_TRAP_COMMUNITY_0: Final = "1.3.6.1.6.3.18.1.4.0"
LINK_DOWN: Final = "1.3.6.1.6.3.1.1.5.3"
LINK_UP: Final = "1.3.6.1.6.3.1.1.5.4"
IF_INDEX: Final = "1.3.6.1.2.1.2.2.1.1"
IF_DESCR: Final = "1.3.6.1.2.1.2.2.1.2"
IF_ADMIN_STATUS: Final = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS: Final = "1.3.6.1.2.1.2.2.1.8"
UPS_TRAP_ON_BATTERY: Final = "1.3.6.1.2.1.33.2.0.1"
UPS_TRAP_TEST_COMPLETED: Final = "1.3.6.1.2.1.33.2.0.2"
UPS_TRAP_ALARM_ENTRY_ADDED: Final = "1.3.6.1.2.1.33.2.0.3"
UPS_TRAP_ALARM_ENTRY_REMOVED: Final = "1.3.6.1.2.1.33.2.0.4"
UPS_SECONDS_ON_BATTERY: Final = "1.3.6.1.2.1.33.1.2.2"
UPS_MINUTES_REMAINING: Final = "1.3.6.1.2.1.33.1.2.3"
UPS_ALARM_ID: Final = "1.3.6.1.2.1.33.1.6.2.1.1"
UPS_ALARM_DESCR: Final = "1.3.6.1.2.1.33.1.6.2.1.2"
UPS_WELL_KNOWN_ALARMS: Final = "1.3.6.1.2.1.33.1.6.3"
UPS_ALARM_ON_BATTERY: Final = "1.3.6.1.2.1.33.1.6.3.2"
# RFC 1628 §3, upsWellKnownAlarms.
UPS_ALARMS: Final = {
    1: "battery_bad", 2: "on_battery", 3: "low_battery", 4: "depleted_battery",
    5: "temperature_bad", 6: "input_bad", 7: "output_bad", 8: "output_overload",
    9: "on_bypass", 10: "bypass_bad", 11: "output_off_as_requested",
    12: "ups_off_as_requested", 13: "charger_failed", 14: "ups_output_off",
    15: "ups_system_off", 16: "fan_failure", 17: "fuse_failure", 18: "general_fault",
    19: "diagnostic_test_failed", 20: "communications_lost", 21: "awaiting_power",
    22: "shutdown_pending", 23: "shutdown_imminent", 24: "test_in_progress",
}

# BER tags (X.690) and SNMP PDU tags (RFC 1157 §4.1, RFC 3416 §3).
_SEQUENCE: Final = 0x30
_INTEGER: Final = 0x02
_OCTET_STRING: Final = 0x04
TRAP_V1: Final = 0xA4
INFORM: Final = 0xA6
TRAP_V2: Final = 0xA7
_PDU_TAGS: Final = frozenset(range(0xA0, 0xA9))


class MalformedNotification(RemoteProtocolError):
    """A datagram or notification we cannot use; ``reason`` is a short fixed word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class DatagramHeader:
    """What the BER framing of an SNMP message says before it is decoded."""

    version: int  # 0: v1, 1: v2c, 3: v3
    pdu_tag: int | None  # None for v3, whose PDU may be encrypted


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Tag, length and where the content starts, of the BER element at ``pos``."""
    if pos + 2 > len(data):
        raise MalformedNotification("truncated", "the message ends inside a BER header")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F:
        raise MalformedNotification("not_snmp", "SNMP uses no multi-octet BER tags")
    if first < 0x80:
        length = first
    elif first == 0x80:
        # RFC 3417 §8: SNMP messages use the definite form of length only.
        raise MalformedNotification("bad_length", "indefinite BER length")
    else:
        count = first & 0x7F
        if count > 4:
            raise MalformedNotification("bad_length", "a BER length longer than 4 octets")
        if pos + count > len(data):
            raise MalformedNotification("truncated", "the message ends inside a BER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise MalformedNotification("truncated", "a BER element runs past the datagram")
    return tag, length, pos


def inspect_datagram(data: bytes, max_size: int = MAX_DATAGRAM) -> DatagramHeader:
    """Check the framing of one datagram sent to the trap port (RFC 3416, RFC 3412 §6)."""
    if not data:
        raise MalformedNotification("empty", "an empty datagram")
    if len(data) > max_size:
        raise MalformedNotification("too_big", f"a datagram of {len(data)} octets")
    if data[0] != _SEQUENCE:
        raise MalformedNotification("not_snmp", "the datagram is not a BER SEQUENCE")
    _tag, length, pos = _tlv(data, 0)
    if pos + length != len(data):
        raise MalformedNotification("trailing_data", "octets after the SNMP message")
    tag, length, content = _tlv(data, pos)
    if tag != _INTEGER or not 1 <= length <= 4:
        raise MalformedNotification("bad_version", "the message has no version number")
    version = int.from_bytes(data[content:content + length], "big", signed=True)
    if version not in (0, 1, 3):
        raise MalformedNotification("bad_version", f"unknown SNMP message version {version}")
    pos = content + length
    if version == 3:
        # RFC 3412 §6: msgGlobalData, msgSecurityParameters, then msgData.
        for expected in ((_SEQUENCE,), (_OCTET_STRING,), (_SEQUENCE, _OCTET_STRING)):
            tag, length, content = _tlv(data, pos)
            if tag not in expected:
                raise MalformedNotification("not_snmp", "not an SNMPv3 message")
            pos = content + length
        if pos != len(data):
            raise MalformedNotification("not_snmp", "octets after the SNMPv3 message data")
        return DatagramHeader(3, None)
    tag, length, content = _tlv(data, pos)
    if tag != _OCTET_STRING:
        raise MalformedNotification("not_snmp", "the message has no community")
    tag, length, content = _tlv(data, content + length)
    allowed = (TRAP_V1,) if version == 0 else (INFORM, TRAP_V2)
    if tag not in allowed:
        reason = "not_notification" if tag in _PDU_TAGS else "not_snmp"
        raise MalformedNotification(reason, f"PDU type 0x{tag:02x} is no notification here")
    if content + length != len(data):
        raise MalformedNotification("not_snmp", "octets after the PDU")
    return DatagramHeader(version, tag)


Varbind = tuple[str, SnmpValue]


@dataclass(frozen=True)
class TrapMessage:
    """One notification received: who sent it, which it is, and its other varbinds."""

    source: tuple[str, int]
    trap_oid: str
    varbinds: tuple[Varbind, ...]
    uptime: int | None = None  # the sender's sysUpTime.0, in hundredths of a second
    version: str = "2c"
    user: str = ""  # the SNMPv3 user; empty for v1 and v2c
    inform: bool = False

    def find(self, column: str) -> tuple[str, SnmpValue] | None:
        """The first varbind below ``column`` as (index suffix, value)."""
        root = parse_oid(column)
        for name, value in self.varbinds:
            try:
                oid = parse_oid(name)
            except LocalProtocolError:
                continue
            if is_under(oid, root):
                return ".".join(str(s) for s in oid[len(root):]), value
        return None

    def value(self, column: str) -> SnmpValue:
        """The value of the first varbind below ``column`` (None if there is none)."""
        found = self.find(column)
        return None if found is None else found[1]


def trap_from_varbinds(source: tuple[str, int], varbinds: Sequence[Varbind], *,
                       version: str, user: str = "", inform: bool = False) -> TrapMessage:
    """A `TrapMessage` from decoded SNMPv2 notification varbinds."""
    # RFC 3416 §4.2.6-4.2.7: sysUpTime.0 and snmpTrapOID.0 come first, in that order.
    if len(varbinds) < 2 or varbinds[0][0] != SYS_UPTIME_0 \
            or varbinds[1][0] != SNMP_TRAP_OID_0:
        raise MalformedNotification("no_trap_oid",
                                    "a notification must start with sysUpTime.0, snmpTrapOID.0")
    uptime, trap_oid = varbinds[0][1], varbinds[1][1]
    if not isinstance(uptime, int) or not isinstance(trap_oid, str):
        raise MalformedNotification("no_trap_oid", "sysUpTime.0 or snmpTrapOID.0 has a bad type")
    try:
        parse_oid(trap_oid)
        for name, _value in varbinds:
            parse_oid(name)
    except LocalProtocolError as exc:
        raise MalformedNotification("bad_varbind", exc.message) from None
    rest = tuple(vb for vb in varbinds[2:] if vb[0] != SNMP_TRAP_COMMUNITY_0)
    return TrapMessage(source, trap_oid, rest, uptime, version, user, inform)


def _plain(value: SnmpValue) -> int | str | None:
    return display_text(value) if isinstance(value, bytes) else value


def _alarm(trap: TrapMessage) -> tuple[str, str]:
    descr = trap.value(UPS_ALARM_DESCR)
    if not isinstance(descr, str):
        return "unknown", ""
    try:
        oid = parse_oid(descr)
    except LocalProtocolError:
        return "unknown", ""
    known = parse_oid(UPS_WELL_KNOWN_ALARMS)
    if len(oid) == len(known) + 1 and is_under(oid, known):
        return UPS_ALARMS.get(oid[-1], "unknown"), descr
    return "vendor", descr


def _link(trap: TrapMessage) -> dict[str, Any]:
    data: dict[str, Any] = {}
    index = trap.value(IF_INDEX)
    if not isinstance(index, int):
        found = trap.find(IF_OPER_STATUS) or trap.find(IF_ADMIN_STATUS)
        index = int(found[0]) if found and found[0].isdigit() else None
    data["if_index"] = index
    for key, column in (("admin_up", IF_ADMIN_STATUS), ("oper_up", IF_OPER_STATUS)):
        status = trap.value(column)
        if isinstance(status, int):
            data[key] = status == 1
    name = trap.value(IF_DESCR)
    if isinstance(name, bytes):
        data["name"] = display_text(name)
    return data


def trap_event(trap: TrapMessage, device_id: str) -> DeviceEvent | None:
    """What a UPS-MIB (RFC 1628) or link (RFC 2863) notification means; None if nothing."""
    if trap.trap_oid == UPS_TRAP_ON_BATTERY:
        return DeviceEvent(device_id, "on_battery", {
            "minutes_remaining": _plain(trap.value(UPS_MINUTES_REMAINING)),
            "seconds_on_battery": _plain(trap.value(UPS_SECONDS_ON_BATTERY)),
        })
    if trap.trap_oid in (UPS_TRAP_ALARM_ENTRY_ADDED, UPS_TRAP_ALARM_ENTRY_REMOVED):
        added = trap.trap_oid == UPS_TRAP_ALARM_ENTRY_ADDED
        alarm, descr = _alarm(trap)
        # RFC 1628 has no "back on mains" trap: the upsAlarmOnBattery entry going away is it.
        if alarm == "on_battery":
            return DeviceEvent(device_id, "on_battery" if added else "on_mains", {})
        return DeviceEvent(device_id, "alarm", {"alarm": alarm, "active": added,
                                                "alarm_oid": descr})
    if trap.trap_oid == LINK_DOWN:
        return DeviceEvent(device_id, "link_down", _link(trap))
    if trap.trap_oid == LINK_UP:
        return DeviceEvent(device_id, "link_up", _link(trap))
    return None


def normalize_address(host: str) -> str:
    """An IP address in one canonical text form (IPv4-mapped IPv6 as plain IPv4)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class TrapRouter:
    """Turns traps into device events, picking the device by the trap's source address."""

    def __init__(self, sources: Mapping[str, str], sink: EventSink,
                 drop_counter: DropCounter | None = None) -> None:
        self.sources = {normalize_address(host): device for host, device in sources.items()}
        self._sink = sink
        self._drops = drop_counter

    def __call__(self, trap: TrapMessage) -> None:
        """Deliver one trap's event, if its source is a known device and it means one."""
        host = normalize_address(trap.source[0])
        device_id = self.sources.get(host)
        if device_id is None:
            _log.debug("trap %s from %s: no device has that address", trap.trap_oid, host)
            if self._drops is not None:
                self._drops(PROTOCOL, "unknown_source")
            return
        event = trap_event(trap, device_id)
        if event is None:
            _log.debug("trap %s from %s (%s) maps to no event", trap.trap_oid, host, device_id)
            return
        self._sink(event)
