"""SNMP settings of one device, checked when its driver is built (pure: no I/O).

``DeviceSpec.options`` keys: ``version`` ("2c" or "3"), ``user``, ``auth_protocol``,
``priv_protocol``, ``retries``, ``max_repetitions``; ``DeviceSpec.secrets`` keys (read by the
controller from the ``*_file`` options): ``community``, ``auth_key``, ``priv_key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from endpoints.errors import EndpointError

AUTH_PROTOCOLS: Final = ("MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")
# Names as net-snmp spells them: AES192/AES256 are Blumenthal's key extension,
# AES192C/AES256C the Reeder ("Cisco") one.
PRIV_PROTOCOLS: Final = ("DES", "3DES", "AES", "AES192", "AES256", "AES192C", "AES256C")
# RFC 3414 §11.2: passphrases shorter than 8 characters are refused by agents.
MIN_KEY_LENGTH: Final = 8
# RFC 3411 §5: SnmpAdminString user names are 1 to 32 octets.
MAX_USER_LENGTH: Final = 32
DEFAULT_RETRIES: Final = 1
DEFAULT_MAX_REPETITIONS: Final = 50


class SnmpConfigError(EndpointError, ValueError):
    """A device's SNMP settings are wrong (found when its driver is built)."""

    code = "device_config_invalid"


@dataclass(frozen=True)
class SnmpCredentials:
    """How to authenticate to one agent: a v2c community or a v3 USM user."""

    version: str  # "2c" or "3"
    community: str = field(default="", repr=False)
    user: str = ""
    auth_protocol: str | None = None
    auth_key: str = field(default="", repr=False)
    priv_protocol: str | None = None
    priv_key: str = field(default="", repr=False)

    @property
    def security_level(self) -> str:
        """RFC 3411 security level: noAuthNoPriv, authNoPriv or authPriv (v2c: noAuthNoPriv)."""
        if self.priv_protocol is not None:
            return "authPriv"
        if self.auth_protocol is not None:
            return "authNoPriv"
        return "noAuthNoPriv"


def _version(value: Any) -> str:
    text = str(value).strip().lower().removeprefix("v")
    if text in ("2c", "2"):
        return "2c"
    if text == "3":
        return "3"
    if text == "1":
        raise SnmpConfigError("SNMPv1 is not supported: set version to \"2c\" or \"3\"")
    raise SnmpConfigError(f"unknown SNMP version {str(value)[:16]!r}: use \"2c\" or \"3\"")


def _protocol(options: Mapping[str, Any], key: str, names: tuple[str, ...],
              key_given: bool, default: str) -> str | None:
    raw = options.get(key)
    if raw is None:
        return default if key_given else None
    if not isinstance(raw, str):
        raise SnmpConfigError(f"{key} must be text (one of {', '.join(names)})")
    name = raw.strip().upper().replace("-", "")
    if name == "AES128":
        name = "AES"
    if name in ("NONE", ""):
        if key_given:
            raise SnmpConfigError(f"{key} is none but its key file is set")
        return None
    if name not in names:
        raise SnmpConfigError(f"{key} {raw[:16]!r} is not one of {', '.join(names)}")
    if not key_given:
        raise SnmpConfigError(f"{key} is set but {key.split('_')[0]}_key_file is not")
    return name


def credentials_from_options(options: Mapping[str, Any],
                             secrets: Mapping[str, str]) -> SnmpCredentials:
    """The credentials a device's options and secrets describe."""
    version = _version(options.get("version", "2c"))
    if version == "2c":
        community = secrets.get("community", "")
        if not community:
            raise SnmpConfigError("SNMP v2c needs community_file (the community is a secret)")
        return SnmpCredentials(version, community=community)
    user = options.get("user")
    if not isinstance(user, str) or not 1 <= len(user.encode("utf-8")) <= MAX_USER_LENGTH:
        raise SnmpConfigError("SNMPv3 needs user: a name of 1 to 32 octets")
    auth_key = secrets.get("auth_key", "")
    priv_key = secrets.get("priv_key", "")
    for name, key in (("auth_key", auth_key), ("priv_key", priv_key)):
        if key and len(key) < MIN_KEY_LENGTH:
            raise SnmpConfigError(f"{name} must be at least {MIN_KEY_LENGTH} characters")
    auth = _protocol(options, "auth_protocol", AUTH_PROTOCOLS, bool(auth_key), "SHA")
    priv = _protocol(options, "priv_protocol", PRIV_PROTOCOLS, bool(priv_key), "AES")
    if priv is not None and auth is None:
        # RFC 3414 §1.4: privacy without authentication is not a security level.
        raise SnmpConfigError("priv_key_file needs auth_key_file too")
    return SnmpCredentials(version, user=user, auth_protocol=auth, auth_key=auth_key,
                           priv_protocol=priv, priv_key=priv_key)


def bounded_int(options: Mapping[str, Any], key: str, default: int, low: int,
                high: int) -> int:
    """An integer option within ``low..high``."""
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SnmpConfigError(f"{key} must be a whole number from {low} to {high}")
    return value
