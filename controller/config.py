"""Site configuration: one TOML file per site, parsed into frozen, typed objects.

`load_config` reads and checks the whole file and raises `ConfigError` listing
every problem it found (never just the first), each at its dotted key path.
Relative file paths are resolved against the config file's folder.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from controller.errors import ConfigError, ConfigProblem, DiemcauError

LEVELS: Final = ("central", "province", "district", "commune")
DEVICE_KINDS: Final = ("camera", "projector", "mixer", "power", "network")
DEVICE_PROTOCOLS: Final = ("visca-serial", "visca-ip", "pjlink", "snmp", "mixer-tcp")
BRIDGE_KINDS: Final = ("janus-videoroom", "whip", "sip")
ROLES: Final = ("admin", "operator", "chair", "viewer", "auditor")
# Regulations ask for audit and session records to be kept at least six months.
MIN_AUDIT_RETENTION_DAYS: Final = 183

_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$|^[a-z0-9]$")
_DEFAULT_PORTS: Final = {"visca-ip": 52381, "pjlink": 4352, "snmp": 161, "mixer-tcp": 2202}
_DEVICE_COMMON: Final = frozenset(
    {"id", "name", "kind", "protocol", "poll_interval", "enabled", "timeout"})
# Keys each protocol accepts beyond the common ones; issue-specific drivers read `options`.
_DEVICE_KEYS: Final[dict[str, frozenset[str]]] = {
    "visca-serial": frozenset({"port", "baud", "address"}),
    "visca-ip": frozenset({"host", "port", "address", "sequence_quirk"}),
    "pjlink": frozenset({"host", "port", "password_file", "pjlink_class", "inputs"}),
    "snmp": frozenset(
        {
            "host",
            "port",
            "version",
            "community_file",
            "user",
            "auth_protocol",
            "auth_key_file",
            "priv_protocol",
            "priv_key_file",
            "profile",
            "oids",
            "retries",
            "max_repetitions",
            "engine_id",
        }
    ),
    "mixer-tcp": frozenset({"host", "port", "dialect", "channels"}),
}
_BRIDGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "janus-videoroom": frozenset({
        "url", "room", "pin_file", "token_file", "api_token_file", "api_secret_file",
        "display", "keepalive", "request_timeout", "media_timeout", "recovery_base",
        "recovery_cap", "recovery_jitter"}),
    "whip": frozenset({"url", "whep_url", "whep_mode", "token_file"}),
    "sip": frozenset({
        "url", "registrar", "username", "password_file", "transport", "proxy", "gateway_url",
        "srtp", "keepalive", "register_expires", "answer_timeout", "recovery_initial",
        "recovery_max"}),
}
_BRIDGE_COMMON: Final = frozenset({"id", "name", "kind", "ice_servers", "turn_credential_file"})


@dataclass(frozen=True)
class SiteIdentity:
    """Who this site is in the tree."""

    id: str
    name: str
    level: str


@dataclass(frozen=True)
class ConsoleConfig:
    """Where the web console listens and how its sessions behave."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    session_idle_minutes: int = 15
    language: str = "vi"

    @property
    def tls(self) -> bool:
        """Whether the console serves HTTPS."""
        return self.tls_cert is not None


@dataclass(frozen=True)
class StorageConfig:
    """Where the site's database and files live."""

    data_dir: Path

    @property
    def database(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "diemcau.sqlite3"


@dataclass(frozen=True)
class UplinkConfig:
    """How this site reaches its parent."""

    url: str
    credential_file: Path
    heartbeat_seconds: float = 10.0


@dataclass(frozen=True)
class ChildConfig:
    """A site allowed to dial in to this one."""

    id: str
    credential_file: Path
    name: str = ""


@dataclass(frozen=True)
class DeviceConfig:
    """One piece of room hardware; protocol-specific keys stay in ``options``."""

    id: str
    kind: str
    protocol: str
    name: str = ""
    host: str | None = None
    tcp_port: int | None = None
    serial_port: str | None = None
    baud: int = 9600
    address: int = 1
    poll_interval: float = 10.0
    enabled: bool = True
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class BridgeConfig:
    """A conference bridge this site can join."""

    id: str
    kind: str
    url: str
    name: str = ""
    room: int | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MediaConfig:
    """What this site sends into a conference."""

    video_source: str = "test-pattern"  # test-pattern | file:PATH | v4l2:/dev/videoN | rtsp://…
    audio_source: str = "tone"  # tone | alsa:hw:… | pulse:…
    width: int = 1280
    height: int = 720
    fps: int = 30


@dataclass(frozen=True)
class EndpointsConfig:
    """Site-wide listeners for what devices send unasked (absent: not listened for)."""

    pjlink_notify_host: str | None = None
    pjlink_notify_port: int = 4352
    snmp_trap_host: str | None = None
    snmp_trap_port: int = 162


@dataclass(frozen=True)
class SessionsConfig:
    """How this site takes part in multi-site sessions (readiness, floor, chair commands)."""

    readiness_lead_minutes: int = 60
    speaker_preset: int = 1  # camera preset recalled at readiness and when given the floor
    camera: str | None = None  # device ids; absent: the first of that kind
    projector: str | None = None
    mixer: str | None = None
    projector_input: str | None = None
    mic_channels: tuple[int, ...] = ()  # absent: every channel of the mixer
    test_join_seconds: float = 5.0
    floor_seconds: int = 300
    command_timeout_seconds: float = 10.0
    holidays: tuple[dt.date, ...] = ()  # public holidays for the working-day notice rule


@dataclass(frozen=True)
class IncidentsConfig:
    """Incident thresholds of this site, and where incidents are also sent."""

    mos_below: float = 3.1
    loss_above_percent: float = 5.0
    no_media_seconds: float = 3.0
    onset_seconds: float = 5.0  # how long a threshold must be broken before an incident
    clear_seconds: float = 10.0  # how long it must be good again before it resolves
    uplink_grace_seconds: float = 30.0
    webhook_url: str | None = None  # JSON in a TMF621-like shape, POSTed on every change
    webhook_token_file: Path | None = None
    email_to: tuple[str, ...] = ()
    email_from: str = "diemcau@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25


@dataclass(frozen=True)
class ReportsConfig:
    """Periodic usage reports."""

    cutoff_day: int = 15  # periods close on this day of the closing month (see periods.py)
    usage_retention_days: int = 5 * 366  # usage records; never below two years
    session_retention_days: int = 366  # sessions and their events; never below six months


@dataclass(frozen=True)
class SecurityConfig:
    """Login protection."""

    lockout_threshold: int = 5
    lockout_minutes: int = 15
    password_min_length: int = 10
    session_max_hours: int = 12


@dataclass(frozen=True)
class AuditConfig:
    """How long the audit log is kept."""

    retention_days: int = MIN_AUDIT_RETENTION_DAYS


@dataclass(frozen=True)
class LoggingConfig:
    """Log level and format (``auto`` is JSON lines unless stderr is a terminal)."""

    level: str = "info"
    format: str = "auto"


@dataclass(frozen=True)
class SiteConfig:
    """Everything one site's controller is configured with."""

    path: Path
    site: SiteIdentity
    storage: StorageConfig
    console: ConsoleConfig = ConsoleConfig()
    uplink: UplinkConfig | None = None
    children: tuple[ChildConfig, ...] = ()
    devices: tuple[DeviceConfig, ...] = ()
    bridges: tuple[BridgeConfig, ...] = ()
    endpoints: EndpointsConfig = EndpointsConfig()
    media: MediaConfig = MediaConfig()
    sessions: SessionsConfig = SessionsConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    reports: ReportsConfig = ReportsConfig()
    security: SecurityConfig = SecurityConfig()
    audit: AuditConfig = AuditConfig()
    logging: LoggingConfig = LoggingConfig()

    def secret_files(self) -> Iterator[tuple[str, Path]]:
        """Every secret file the config names, with its key path."""
        if self.uplink is not None:
            yield "uplink.credential_file", self.uplink.credential_file
        if self.incidents.webhook_token_file is not None:
            yield "incidents.webhook_token_file", self.incidents.webhook_token_file
        for i, child in enumerate(self.children):
            yield f"children[{i}].credential_file", child.credential_file
        options: list[tuple[str, Mapping[str, Any]]] = [
            (f"devices[{i}]", d.options) for i, d in enumerate(self.devices)]
        options += [(f"bridges[{i}]", b.options) for i, b in enumerate(self.bridges)]
        for prefix, values in options:
            for key, value in values.items():
                if key.endswith("_file") and isinstance(value, Path):
                    yield f"{prefix}.{key}", value


_MISSING: Final = object()


class _Table:
    """Reads one TOML table, recording problems and which keys were used."""

    def __init__(self, data: Mapping[str, Any], prefix: str, problems: list[ConfigProblem],
                 base: Path) -> None:
        self.data = data
        self.prefix = prefix
        self.problems = problems
        self.base = base
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def problem(self, name: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.key(name), message))

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                self.problem(name, "required key is missing")
            return _MISSING
        return self.data[name]

    def str_(self, name: str, default: str | None = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> str | None:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self.problem(name, f"expected a string, got {_type_name(value)}")
            return default
        if not value.strip():
            self.problem(name, "must not be empty")
            return default
        if choices is not None and value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)} (got {value!r})")
            return default
        return value

    def int_(self, name: str, default: int | None = None, *, required: bool = False,
             low: int | None = None, high: int | None = None) -> int | None:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"expected an integer, got {_type_name(value)}")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            self.problem(name, f"must be between {low} and {high} (got {value})")
            return default
        return value

    def float_(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self._get(name, False)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, f"expected a number, got {_type_name(value)}")
            return default
        if not low <= value <= high:
            self.problem(name, f"must be between {low} and {high} (got {value})")
            return default
        return float(value)

    def bool_(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.problem(name, f"expected true or false, got {_type_name(value)}")
            return default
        return value

    def path_(self, name: str, *, required: bool = False, secret: bool = False,
              must_exist: bool = True) -> Path | None:
        value = self.str_(name, required=required)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base / path
        if must_exist or secret:
            _check_readable(self, name, path, secret)
        return path

    def finish(self, allowed: frozenset[str] | None = None) -> None:
        """Report keys that nobody asked for (or outside ``allowed``)."""
        known = self.used if allowed is None else allowed | self.used
        for name in self.data:
            if name not in known:
                self.problem(name, "unknown key")

    def extras(self, names: frozenset[str]) -> dict[str, Any]:
        """Protocol-specific keys, with ``*_file`` values resolved and checked."""
        out: dict[str, Any] = {}
        for name in sorted(names & set(self.data)):
            if name in self.used:
                continue
            if name.endswith("_file"):
                out[name] = self.path_(name, secret=True)
            else:
                self.used.add(name)
                out[name] = self.data[name]
        return out


def _type_name(value: object) -> str:
    return {
        str: "a string", int: "an integer", float: "a number", bool: "a boolean",
        list: "an array", dict: "a table",
    }.get(type(value), type(value).__name__)


def _check_readable(table: _Table, name: str, path: Path, secret: bool) -> None:
    try:
        with path.open("rb") as fh:
            content = fh.read(1 << 16)
    except FileNotFoundError:
        table.problem(name, f"file {path} does not exist")
        return
    except IsADirectoryError:
        table.problem(name, f"{path} is a folder, not a file")
        return
    except OSError as exc:
        table.problem(name, f"cannot read {path}: {exc.strerror or exc}")
        return
    if secret and not content.strip():
        table.problem(name, f"secret file {path} is empty")


def _table(parent: _Table, name: str, required: bool = False) -> _Table | None:
    value = parent._get(name, required)
    if value is _MISSING:
        return None
    if not isinstance(value, dict):
        parent.problem(name, f"expected a table, got {_type_name(value)}")
        return None
    return _Table(value, parent.key(name), parent.problems, parent.base)


def _array_of_tables(parent: _Table, name: str) -> list[_Table]:
    value = parent._get(name, False)
    if value is _MISSING:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        parent.problem(name, f"expected an array of tables ([[{name}]])")
        return []
    return [
        _Table(v, f"{parent.key(name)}[{i}]", parent.problems, parent.base)
        for i, v in enumerate(value)
    ]


def read_secret(path: Path) -> str:
    """A secret file's content without surrounding whitespace, as every reader uses it."""
    return path.read_text("utf-8").strip()


def split_secrets(options: Mapping[str, Any], owner: str,
                  ) -> tuple[dict[str, Any], dict[str, str]]:
    """The options without their ``*_file`` keys, and the secrets those files hold
    (``password_file`` → ``secrets["password"]``)."""
    plain: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, value in options.items():
        if not key.endswith("_file"):
            plain[key] = value
            continue
        try:
            secrets[key.removesuffix("_file")] = read_secret(value)
        except (OSError, UnicodeDecodeError) as exc:
            raise DiemcauError(f"cannot read {key} of {owner}: {exc}") from exc
    return plain, secrets


def parse_listen(value: str) -> tuple[str, int]:
    """Split ``host:port`` (or ``[v6]:port``) and check both halves."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError("expected host:port, for example 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port must be a number from 1 to 65535 (got {port_text!r})")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host):
            raise ValueError(f"{host!r} is not an IP address or host name") from None
    return host, int(port_text)


def _read_site(root: _Table) -> SiteIdentity | None:
    t = _table(root, "site", required=True)
    if t is None:
        return None
    site_id = t.str_("id", required=True)
    if site_id is not None and not _SITE_ID.match(site_id):
        t.problem("id", "use lowercase letters, digits and hyphens (for example xa-hoang-hop)")
        site_id = None
    name = t.str_("name", required=True)
    level = t.str_("level", required=True, choices=LEVELS)
    t.finish()
    if site_id is None or name is None or level is None:
        return None
    return SiteIdentity(site_id, name, level)


def _read_console(root: _Table) -> ConsoleConfig:
    t = _table(root, "console")
    if t is None:
        return ConsoleConfig()
    host, port = "127.0.0.1", 8080
    listen = t.str_("listen")
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            t.problem("listen", str(exc))
    cert = t.path_("tls_cert")
    key = t.path_("tls_key", secret=True)
    if ("tls_cert" in t.data) != ("tls_key" in t.data):
        t.problem("tls_key" if "tls_cert" in t.data else "tls_cert",
                  "tls_cert and tls_key must be given together")
    idle = t.int_("session_idle_minutes", 15, low=1, high=24 * 60)
    language = t.str_("language", "vi", choices=("vi", "en"))
    t.finish()
    return ConsoleConfig(host, port, cert, key, idle or 15, language or "vi")


def _read_storage(root: _Table) -> StorageConfig | None:
    t = _table(root, "storage", required=True)
    if t is None:
        return None
    data_dir = t.path_("data_dir", required=True, must_exist=False)
    t.finish()
    if data_dir is None:
        return None
    if data_dir.exists() and not data_dir.is_dir():
        t.problem("data_dir", f"{data_dir} exists and is not a folder")
    return StorageConfig(data_dir)


def _read_uplink(root: _Table, level: str | None) -> UplinkConfig | None:
    t = _table(root, "uplink")
    if t is None:
        return None
    url = t.str_("url", required=True)
    if url is not None and not re.match(r"^wss?://[^/\s]+", url):
        t.problem("url", "expected a ws:// or wss:// URL")
        url = None
    cred = t.path_("credential_file", required=True, secret=True)
    heartbeat = t.float_("heartbeat_seconds", 10.0, low=1.0, high=20.0)
    t.finish()
    if level == "central":
        root.problem("uplink", "a central site is the top of the tree and has no parent")
    if url is None or cred is None:
        return None
    return UplinkConfig(url, cred, heartbeat)


def _read_children(root: _Table, own_id: str | None) -> tuple[ChildConfig, ...]:
    out: list[ChildConfig] = []
    seen: set[str] = set()
    for t in _array_of_tables(root, "children"):
        child_id = t.str_("id", required=True)
        if child_id is not None and not _SITE_ID.match(child_id):
            t.problem("id", "use lowercase letters, digits and hyphens")
            child_id = None
        elif child_id is not None and child_id in seen:
            t.problem("id", f"duplicate child id {child_id!r}")
        elif child_id is not None and child_id == own_id:
            t.problem("id", "a site cannot be its own child")
        name = t.str_("name", "")
        cred = t.path_("credential_file", required=True, secret=True)
        t.finish()
        if child_id is not None and cred is not None and child_id not in seen:
            out.append(ChildConfig(child_id, cred, name or ""))
        if child_id is not None:
            seen.add(child_id)
    return tuple(out)


def _read_devices(root: _Table) -> tuple[DeviceConfig, ...]:
    out: list[DeviceConfig] = []
    seen: set[str] = set()
    for t in _array_of_tables(root, "devices"):
        dev_id = t.str_("id", required=True)
        if dev_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", dev_id):
            t.problem("id", "use letters, digits, '-' and '_' (at most 64)")
            dev_id = None
        if dev_id is not None and dev_id in seen:
            t.problem("id", f"duplicate device id {dev_id!r}")
        kind = t.str_("kind", required=True, choices=DEVICE_KINDS)
        protocol = t.str_("protocol", required=True, choices=DEVICE_PROTOCOLS)
        name = t.str_("name", "")
        poll = t.float_("poll_interval", 10.0, low=0.5, high=3600.0)
        enabled = t.bool_("enabled", True)
        host = serial = None
        tcp_port: int | None = None
        baud, address = 9600, 1
        if protocol == "visca-serial":
            serial = t.str_("port", required=True)
            baud = t.int_("baud", 9600) or 9600
            if baud not in (2400, 4800, 9600, 19200, 38400, 57600, 115200):
                t.problem("baud", f"unsupported baud rate {baud}")
            address = t.int_("address", 1, low=1, high=7) or 1
        elif protocol is not None:
            host = t.str_("host", required=True)
            tcp_port = t.int_("port", _DEFAULT_PORTS.get(protocol), low=1, high=65535,
                              required=protocol not in _DEFAULT_PORTS)
            if protocol == "visca-ip":
                address = t.int_("address", 1, low=1, high=7) or 1
        allowed = _DEVICE_KEYS.get(protocol or "", frozenset())
        options = t.extras(allowed)
        t.finish(_DEVICE_COMMON | allowed if protocol else None)
        if dev_id is None or kind is None or protocol is None or dev_id in seen:
            if dev_id is not None:
                seen.add(dev_id)
            continue
        seen.add(dev_id)
        out.append(DeviceConfig(
            id=dev_id, kind=kind, protocol=protocol, name=name or "", host=host,
            tcp_port=tcp_port, serial_port=serial, baud=baud, address=address,
            poll_interval=poll, enabled=enabled, options=MappingProxyType(options),
        ))
    return tuple(out)


def _read_bridges(root: _Table) -> tuple[BridgeConfig, ...]:
    out: list[BridgeConfig] = []
    seen: set[str] = set()
    for t in _array_of_tables(root, "bridges"):
        bridge_id = t.str_("id", required=True)
        if bridge_id is not None and bridge_id in seen:
            t.problem("id", f"duplicate bridge id {bridge_id!r}")
        kind = t.str_("kind", required=True, choices=BRIDGE_KINDS)
        url = t.str_("url", required=True)
        if url is not None and kind != "sip" and not re.match(r"^(https?|wss?)://\S+$", url):
            t.problem("url", "expected an http(s):// or ws(s):// URL")
        if url is not None and kind == "sip" and not re.match(r"^sips?:\S+$", url):
            t.problem("url", "expected a sip: or sips: URI")
        name = t.str_("name", "")
        room = t.int_("room", None, low=1, high=2**53, required=kind == "janus-videoroom")
        allowed = _BRIDGE_KEYS.get(kind or "", frozenset()) | _BRIDGE_COMMON
        options = t.extras(allowed)
        t.finish(allowed if kind else None)
        if bridge_id is None or kind is None or url is None or bridge_id in seen:
            if bridge_id is not None:
                seen.add(bridge_id)
            continue
        seen.add(bridge_id)
        out.append(BridgeConfig(bridge_id, kind, url, name or "", room,
                                MappingProxyType(options)))
    return tuple(out)


def _read_media(root: _Table) -> MediaConfig:
    t = _table(root, "media")
    if t is None:
        return MediaConfig()
    cfg = MediaConfig(
        video_source=t.str_("video_source", "test-pattern") or "test-pattern",
        audio_source=t.str_("audio_source", "tone") or "tone",
        width=t.int_("width", 1280, low=160, high=3840) or 1280,
        height=t.int_("height", 720, low=120, high=2160) or 720,
        fps=t.int_("fps", 30, low=1, high=60) or 30,
    )
    t.finish()
    return cfg


def _read_endpoints(root: _Table) -> EndpointsConfig:
    t = _table(root, "endpoints")
    if t is None:
        return EndpointsConfig()
    out: dict[str, Any] = {}
    for key, default_port in (("pjlink_notify", 4352), ("snmp_trap", 162)):
        listen = t.str_(f"{key}_listen")
        if listen is None:
            continue
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            t.problem(f"{key}_listen", str(exc))
            continue
        out[f"{key}_host"], out[f"{key}_port"] = host, port or default_port
    t.finish()
    return EndpointsConfig(**out)


def _read_sessions(root: _Table, devices: tuple[DeviceConfig, ...]) -> SessionsConfig:
    t = _table(root, "sessions")
    if t is None:
        return SessionsConfig()
    kinds = {d.id: d.kind for d in devices}
    picked: dict[str, str | None] = {}
    for key in ("camera", "projector", "mixer"):
        device_id = t.str_(key)
        if device_id is not None and kinds.get(device_id) != key:
            t.problem(key, f"no {key} device with id {device_id!r} in [[devices]]")
            device_id = None
        picked[key] = device_id
    channels = t._get("mic_channels", False)
    mic: tuple[int, ...] = ()
    if channels is not _MISSING:
        if not isinstance(channels, list) or not all(
                type(c) is int and 0 <= c <= 256 for c in channels):
            t.problem("mic_channels", "expected a list of channel numbers (0-256)")
        else:
            mic = tuple(channels)
    raw_days = t._get("holidays", False)
    holidays: list[dt.date] = []
    if raw_days is not _MISSING:
        if not isinstance(raw_days, list):
            t.problem("holidays", "expected a list of dates (YYYY-MM-DD)")
        else:
            for i, day in enumerate(raw_days):
                if isinstance(day, dt.date) and not isinstance(day, dt.datetime):
                    holidays.append(day)
                    continue
                try:
                    holidays.append(dt.date.fromisoformat(str(day)))
                except ValueError:
                    t.problem(f"holidays[{i}]", f"not a date (YYYY-MM-DD): {str(day)[:40]!r}")
    cfg = SessionsConfig(
        readiness_lead_minutes=t.int_("readiness_lead_minutes", 60, low=1, high=24 * 60) or 60,
        speaker_preset=t.int_("speaker_preset", 1, low=0, high=255) or 0,
        camera=picked["camera"], projector=picked["projector"], mixer=picked["mixer"],
        projector_input=t.str_("projector_input"),
        mic_channels=mic,
        test_join_seconds=t.float_("test_join_seconds", 5.0, low=0.0, high=60.0),
        floor_seconds=t.int_("floor_seconds", 300, low=10, high=3600) or 300,
        command_timeout_seconds=t.float_("command_timeout_seconds", 10.0, low=1.0, high=120.0),
        holidays=tuple(sorted(set(holidays))),
    )
    t.finish()
    return cfg


def _read_incidents(root: _Table) -> IncidentsConfig:
    t = _table(root, "incidents")
    if t is None:
        return IncidentsConfig()
    webhook = t.str_("webhook_url")
    if webhook is not None and not re.match(r"^https?://[^/\s]+", webhook):
        t.problem("webhook_url", "expected an http:// or https:// URL")
        webhook = None
    emails = t._get("email_to", False)
    email_to: tuple[str, ...] = ()
    if emails is not _MISSING:
        if not isinstance(emails, list) or not all(
                isinstance(e, str) and re.match(r"^[^@\s]+@[^@\s]+$", e) for e in emails):
            t.problem("email_to", "expected a list of e-mail addresses")
        else:
            email_to = tuple(emails)
    cfg = IncidentsConfig(
        mos_below=t.float_("mos_below", 3.1, low=1.0, high=4.5),
        loss_above_percent=t.float_("loss_above_percent", 5.0, low=0.1, high=100.0),
        no_media_seconds=t.float_("no_media_seconds", 3.0, low=1.0, high=600.0),
        onset_seconds=t.float_("onset_seconds", 5.0, low=0.0, high=3600.0),
        clear_seconds=t.float_("clear_seconds", 10.0, low=0.0, high=3600.0),
        uplink_grace_seconds=t.float_("uplink_grace_seconds", 30.0, low=0.0, high=3600.0),
        webhook_url=webhook,
        webhook_token_file=t.path_("webhook_token_file", secret=True),
        email_to=email_to,
        email_from=t.str_("email_from", "diemcau@localhost") or "diemcau@localhost",
        smtp_host=t.str_("smtp_host", "127.0.0.1") or "127.0.0.1",
        smtp_port=t.int_("smtp_port", 25, low=1, high=65535) or 25,
    )
    t.finish()
    return cfg


def _read_reports(root: _Table) -> ReportsConfig:
    t = _table(root, "reports")
    if t is None:
        return ReportsConfig()
    cfg = ReportsConfig(
        cutoff_day=t.int_("cutoff_day", 15, low=1, high=28) or 15,
        usage_retention_days=t.int_("usage_retention_days", 5 * 366, low=731,
                                    high=36500) or 5 * 366,
        session_retention_days=t.int_("session_retention_days", 366, low=183,
                                      high=36500) or 366)
    t.finish()
    return cfg


def _read_security(root: _Table) -> SecurityConfig:
    t = _table(root, "security")
    if t is None:
        return SecurityConfig()
    cfg = SecurityConfig(
        lockout_threshold=t.int_("lockout_threshold", 5, low=3, high=20) or 5,
        lockout_minutes=t.int_("lockout_minutes", 15, low=1, high=24 * 60) or 15,
        password_min_length=t.int_("password_min_length", 10, low=8, high=128) or 10,
        session_max_hours=t.int_("session_max_hours", 12, low=1, high=72) or 12,
    )
    t.finish()
    return cfg


def _read_audit(root: _Table) -> AuditConfig:
    t = _table(root, "audit")
    if t is None:
        return AuditConfig()
    days = t.int_("retention_days", MIN_AUDIT_RETENTION_DAYS, high=36500)
    if days is not None and days < MIN_AUDIT_RETENTION_DAYS:
        t.problem("retention_days",
                  f"must be at least {MIN_AUDIT_RETENTION_DAYS} days (six months); got {days}")
        days = MIN_AUDIT_RETENTION_DAYS
    t.finish()
    return AuditConfig(days or MIN_AUDIT_RETENTION_DAYS)


def _read_logging(root: _Table) -> LoggingConfig:
    t = _table(root, "logging")
    if t is None:
        return LoggingConfig()
    level = t.str_("level", "info", choices=("debug", "info", "warning", "error"))
    fmt = t.str_("format", "auto", choices=("auto", "json", "text"))
    t.finish()
    return LoggingConfig(level or "info", fmt or "auto")


def parse_config(data: Mapping[str, Any], path: Path) -> SiteConfig:
    """Build a `SiteConfig` from parsed TOML, or raise `ConfigError` with every problem."""
    problems: list[ConfigProblem] = []
    root = _Table(data, "", problems, path.parent)
    site = _read_site(root)
    console = _read_console(root)
    storage = _read_storage(root)
    uplink = _read_uplink(root, site.level if site else None)
    children = _read_children(root, site.id if site else None)
    devices = _read_devices(root)
    bridges = _read_bridges(root)
    endpoints = _read_endpoints(root)
    media = _read_media(root)
    sessions = _read_sessions(root, devices)
    incidents = _read_incidents(root)
    reports = _read_reports(root)
    security = _read_security(root)
    audit = _read_audit(root)
    logging_cfg = _read_logging(root)
    root.finish()
    if problems or site is None or storage is None:
        raise ConfigError(str(path), problems)
    return SiteConfig(
        path=path, site=site, storage=storage, console=console, uplink=uplink,
        children=children, devices=devices, bridges=bridges, endpoints=endpoints,
        media=media, sessions=sessions, incidents=incidents, reports=reports,
        security=security,
        audit=audit, logging=logging_cfg,
    )


def load_config(path: str | os.PathLike[str]) -> SiteConfig:
    """Read and check a site config file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(str(p), [ConfigProblem("(file)", exc.strerror or str(exc))]) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), [ConfigProblem("(file)", "not UTF-8 text")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [ConfigProblem("(syntax)", str(exc))]) from exc
    return parse_config(data, p.resolve())
