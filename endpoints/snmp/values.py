"""SNMP values as plain Python: object identifiers, varbind values and text from devices.

Pure: no I/O. Every value that leaves `endpoints.snmp` is one of `SnmpValue`; pysnmp's
ASN.1 objects never do.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pyasn1.type import univ  # type: ignore[import-untyped]
from pysnmp.proto import rfc1902

from endpoints.errors import LocalProtocolError, RemoteProtocolError

Oid = tuple[int, ...]
# int: INTEGER, Counter32/64, Gauge32, Unsigned32, TimeTicks; bytes: OCTET STRING, Opaque,
# BITS; str: OBJECT IDENTIFIER (dotted) and IpAddress (dotted quad); None: no value
# (noSuchObject, noSuchInstance, endOfMibView, NULL).
SnmpValue = int | str | bytes | None

# RFC 2578 §3.5: at most 128 sub-identifiers, each at most 2^32-1.
MAX_OID_LENGTH: Final = 128
MAX_SUBID: Final = 2**32 - 1
_INT32: Final = (-(2**31), 2**31 - 1)
_UINT32: Final = (0, 2**32 - 1)
MAX_OCTETS: Final = 65535

SYNTAXES: Final = ("integer", "unsigned", "gauge", "timeticks", "string", "oid", "ipaddress")

# X.690 universal tags and RFC 2578 §7.1 application tags (Unsigned32 shares Gauge32's).
INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
OBJECT_IDENTIFIER: Final = 0x06
IP_ADDRESS: Final = 0x40
GAUGE32: Final = 0x42
TIME_TICKS: Final = 0x43
_SYNTAX_TAGS: Final = {"integer": INTEGER, "unsigned": GAUGE32, "gauge": GAUGE32,
                       "timeticks": TIME_TICKS}
_PYSNMP_TYPES: Final = {INTEGER: rfc1902.Integer32, OCTET_STRING: rfc1902.OctetString,
                        OBJECT_IDENTIFIER: rfc1902.ObjectIdentifier,
                        IP_ADDRESS: rfc1902.IpAddress, GAUGE32: rfc1902.Gauge32,
                        TIME_TICKS: rfc1902.TimeTicks}
# A checked value to SET: its BER tag and an int, octets or an OID.
TypedValue = tuple[int, int | bytes | Oid]


def parse_oid(text: str) -> Oid:
    """``"1.3.6.1.2.1.1.3.0"`` (a leading dot is allowed) as a tuple of sub-identifiers."""
    if not isinstance(text, str):
        raise LocalProtocolError(f"an OID must be text, not {type(text).__name__}")
    body = text.strip().removeprefix(".")
    parts = body.split(".")
    if len(parts) < 2 or len(parts) > MAX_OID_LENGTH:
        raise LocalProtocolError(f"'{text[:80]}' is not an OID of 2 to 128 numbers")
    if not all(p.isascii() and p.isdigit() and len(p) <= 10 for p in parts):
        raise LocalProtocolError(f"'{text[:80]}' is not a dotted OID")
    oid = tuple(int(p) for p in parts)
    if any(s > MAX_SUBID for s in oid):
        raise LocalProtocolError(f"'{text[:80]}' has a sub-identifier above 2^32-1")
    # X.690 §8.19.4: the first two arcs share one sub-identifier (40 * X + Y).
    if oid[0] > 2 or (oid[0] < 2 and oid[1] > 39):
        raise LocalProtocolError(f"'{text[:80]}' does not start with a valid arc")
    return oid


def oid_text(oid: Oid) -> str:
    """The dotted form of an OID."""
    return ".".join(str(s) for s in oid)


def is_under(oid: Oid, root: Oid) -> bool:
    """Whether ``oid`` lies strictly below ``root`` in the OID tree."""
    return len(oid) > len(root) and oid[: len(root)] == root


def oid_of(name: Any) -> Oid:
    """A varbind name from pysnmp as a tuple."""
    try:
        return tuple(int(s) for s in name)
    except (PyAsn1Error, TypeError, ValueError) as exc:
        raise RemoteProtocolError(f"a varbind name is not an OID: {exc}") from exc


def plain_value(value: Any) -> SnmpValue:
    """A pysnmp varbind value as plain Python (see `SnmpValue`)."""
    try:
        # Null and the v2 exception values are OCTET STRING subclasses in pyasn1: test first.
        if isinstance(value, univ.Null):
            return None
        if isinstance(value, univ.Integer):
            return int(value)
        # By tag: v1 traps carry RFC 1155's IpAddress class, a sibling of RFC 2578's.
        if isinstance(value, univ.OctetString) and value.tagSet == rfc1902.IpAddress.tagSet:
            octets = value.asOctets()
            if len(octets) != 4:
                raise RemoteProtocolError(f"an IpAddress has {len(octets)} octets, not 4")
            return str(ipaddress.IPv4Address(octets))
        if isinstance(value, univ.OctetString):
            return bytes(value.asOctets())
        if isinstance(value, univ.ObjectIdentifier):
            return oid_text(tuple(int(s) for s in value))
    except PyAsn1Error as exc:
        raise RemoteProtocolError(f"an SNMP value could not be read: {exc}") from exc
    raise RemoteProtocolError(f"unexpected SNMP value type {type(value).__name__}")


def typed_value(value: int | str | bytes, syntax: str | None = None) -> TypedValue:
    """A value to SET, checked: ints default to Integer32, text and bytes to OCTET STRING."""
    if isinstance(value, bool):
        raise LocalProtocolError("SNMP has no boolean type: give the device's number")
    if syntax is None:
        syntax = "integer" if isinstance(value, int) else "string"
    if syntax in ("integer", "unsigned", "gauge", "timeticks"):
        if not isinstance(value, int):
            raise LocalProtocolError(f"an SNMP {syntax} must be a whole number")
        low, high = _INT32 if syntax == "integer" else _UINT32
        if not low <= value <= high:
            raise LocalProtocolError(f"{value} is out of range for an SNMP {syntax}")
        return _SYNTAX_TAGS[syntax], value
    if syntax == "string":
        if isinstance(value, int):
            value = str(value)
        octets = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if len(octets) > MAX_OCTETS:
            raise LocalProtocolError("an SNMP string holds at most 65535 octets")
        return OCTET_STRING, octets
    if syntax == "oid":
        if not isinstance(value, str):
            raise LocalProtocolError("an OID value must be dotted text")
        return OBJECT_IDENTIFIER, parse_oid(value)
    if syntax == "ipaddress":
        try:
            return IP_ADDRESS, ipaddress.IPv4Address(value).packed
        except ValueError as exc:
            raise LocalProtocolError(f"not an IPv4 address: {exc}") from exc
    raise LocalProtocolError(f"unknown SNMP syntax '{syntax}' (one of {', '.join(SYNTAXES)})")


def pysnmp_value(typed: TypedValue) -> Any:
    """The pysnmp object for a checked value."""
    tag, payload = typed
    return _PYSNMP_TYPES[tag](payload)


def display_text(value: SnmpValue, limit: int = 64) -> str:
    """Device text made safe for logs, the console and reports."""
    if value is None:
        return ""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    # Many agents pad fixed-size strings with NULs.
    text = text.rstrip("\x00").strip()
    clean = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
