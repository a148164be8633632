"""An SNMP trap and inform receiver on an asyncio UDP socket, owned by the controller.

pysnmp's engine does the message processing (v1/v2c communities, v3 USM, answering
informs, RFC 3584 translation of v1 traps); this module frames it: each datagram is
checked by `inspect_datagram` first, and one that pysnmp refuses is counted with the
reason its MIB counters give. Nothing a sender does stops the listener.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v2c

from endpoints.errors import EndpointError, EndpointTransportError
from endpoints.interfaces import DeviceSpec, DropCounter
from endpoints.snmp.config import SnmpConfigError, SnmpCredentials, credentials_from_options
from endpoints.snmp.engine import AUTH_IDS, PRIV_IDS
from endpoints.snmp.notifications import (
    MAX_DATAGRAM,
    PROTOCOL,
    MalformedNotification,
    TrapMessage,
    TrapRouter,
    inspect_datagram,
    normalize_address,
    trap_event,
    trap_from_varbinds,
)
from endpoints.snmp.values import oid_of, oid_text, plain_value

__all__ = ["TrapMessage", "TrapReceiver", "TrapRouter", "TrapUser", "resolve_sources",
           "trap_credentials", "trap_event"]

_log = logging.getLogger(__name__)

DEFAULT_PORT: Final = 162
_VERSIONS: Final = {0: "1", 1: "2c", 3: "3"}
# pysnmp counts why it refused a message in these MIB objects; the first that moved while
# a datagram was processed names the reason. An empty reason is not a drop: a v3 sender
# discovering our engine ID for an inform (RFC 3414 §4).
_REFUSAL_COUNTERS: Final = (
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "parse_error"),
    ("__SNMPv2-MIB", "snmpInBadVersions", "bad_version"),
    ("__SNMPv2-MIB", "snmpInBadCommunityNames", "bad_community"),
    ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels", "bad_security_model"),
    ("__SNMP-MPD-MIB", "snmpInvalidMsgs", "invalid_message"),
    ("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers", "not_notification"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", "unsupported_security_level"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", "not_in_time_window"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "unknown_user"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "wrong_digest"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "decryption_error"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", ""),
)


@dataclass(frozen=True)
class TrapUser:
    """An SNMPv3 user allowed to send notifications.

    Traps need the sender's snmpEngineID (``engine_id``, hex): for a PDU that expects no
    answer the sender is the authoritative engine (RFC 3414 §1.5.1), so keys are localized
    to its ID. Informs are localized to ours and need no ``engine_id``.
    """

    credentials: SnmpCredentials
    engine_id: str = ""


class _Transport(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """pysnmp's UDP transport, handing each datagram to the receiver synchronously."""

    def __init__(self, on_datagram: Callable[[Any, bytes, Any], None]) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self._on_datagram = on_datagram

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        self._on_datagram(self, datagram, transportAddress)

    def dispatch(self, datagram: bytes, address: Any) -> None:
        """Give a datagram to the engine (what pysnmp itself does one loop turn later)."""
        self._callback_function(self, address, datagram)


class _Transport6(udp6.Udp6AsyncioTransport, _Transport):  # type: ignore[misc]
    """The same over IPv6."""


class TrapReceiver:
    """Listens for traps and informs and hands each, decoded, to ``on_trap``."""

    # Traps come from the room's devices on the LAN, so every interface by default.
    def __init__(self, on_trap: Callable[[TrapMessage], None], *, host: str = "0.0.0.0",  # noqa: S104
                 port: int = DEFAULT_PORT, communities: Iterable[str] = (),
                 users: Iterable[TrapUser] = (), drop_counter: DropCounter | None = None,
                 max_datagram: int = MAX_DATAGRAM) -> None:
        self.host = host
        self.port = port
        self.communities = tuple(dict.fromkeys(c for c in communities if c))
        self.users = tuple(users)
        for user in self.users:
            if user.credentials.version != "3":
                raise SnmpConfigError("a trap user must be an SNMPv3 user")
        self.max_datagram = max_datagram
        self.stats = {"received": 0, "delivered": 0, "dropped": 0}
        self._on_trap = on_trap
        self._drops = drop_counter
        self._engine: Any = None
        self._receiver: Any = None
        self._counters: list[tuple[str, Any]] = []
        self._address: tuple[str, int] | None = None
        self._handled = False

    @property
    def address(self) -> tuple[str, int]:
        """The host and port actually listened on (port 0 asks the OS for one)."""
        if self._address is None:
            raise EndpointTransportError("the trap receiver is not started")
        return self._address

    @property
    def running(self) -> bool:
        """Whether the socket is open."""
        return self._engine is not None

    async def start(self) -> None:
        """Open the socket and the engine; raises `EndpointTransportError` if it cannot."""
        if self._engine is not None:
            return
        loop = asyncio.get_running_loop()
        # Localizing each v3 user's keys hashes 1 MB per key (RFC 3414 §A.2): done once here.
        engine = self._make_engine()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM,
                                           proto=socket.IPPROTO_UDP)
            family, _type, _proto, _name, sockaddr = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as exc:
            raise EndpointTransportError(
                f"cannot listen for SNMP traps on {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            transport = (_Transport6 if family == socket.AF_INET6 else _Transport)(
                self._datagram)
            await loop.create_datagram_endpoint(lambda: transport, sock=sock)
        except OSError as exc:
            sock.close()
            raise EndpointTransportError(
                f"cannot listen for SNMP traps on {self.host}:{self.port}: {exc}") from exc
        domain = udp6.DOMAIN_NAME if family == socket.AF_INET6 else udp.DOMAIN_NAME
        config.add_transport(engine, domain, transport)
        self._receiver = ntfrcv.NotificationReceiver(engine, self._notification)
        mib = engine.get_mib_builder()
        self._counters = [(reason, mib.import_symbols(module, name)[0])
                          for module, name, reason in _REFUSAL_COUNTERS]
        self._engine = engine
        host, port = sock.getsockname()[:2]
        self._address = (str(host), int(port))
        _log.info("listening for SNMP traps on %s:%s", host, port)

    def _make_engine(self) -> Any:
        engine = SnmpEngine()
        for i, community in enumerate(self.communities):
            config.add_v1_system(engine, f"trap-community-{i}", community)
        for user in self.users:
            cred = user.credentials
            auth = AUTH_IDS[cred.auth_protocol] if cred.auth_protocol else config.USM_AUTH_NONE
            priv = PRIV_IDS[cred.priv_protocol] if cred.priv_protocol else config.USM_PRIV_NONE
            keys = {"authKey": cred.auth_key or None, "privKey": cred.priv_key or None}
            # Our engine ID, for informs; the sender's, for traps.
            config.add_v3_user(engine, cred.user, auth, privProtocol=priv, **keys)
            if user.engine_id:
                try:
                    engine_id = rfc1902.OctetString(hexValue=user.engine_id)
                except Exception as exc:  # pyasn1 raises its own error types for bad hex
                    raise SnmpConfigError(
                        f"engine_id of trap user {cred.user} is not hex") from exc
                config.add_v3_user(engine, cred.user, auth, privProtocol=priv,
                                   securityEngineId=engine_id, **keys)
        return engine

    async def stop(self) -> None:
        """Close the socket and the engine; safe to call twice."""
        engine, self._engine = self._engine, None
        if engine is None:
            return
        self._receiver.close(engine)
        engine.close_dispatcher()
        _log.info("stopped listening for SNMP traps on %s:%s", *self.address)

    # -- datagrams ---------------------------------------------------------------------------

    def _drop(self, reason: str, address: Any, detail: str) -> None:
        self.stats["dropped"] += 1
        _log.debug("dropped an SNMP datagram from %s: %s (%s)", address, reason, detail)
        if self._drops is not None:
            self._drops(PROTOCOL, reason)

    def _datagram(self, transport: _Transport, data: bytes, address: Any) -> None:
        self.stats["received"] += 1
        try:
            inspect_datagram(data, self.max_datagram)
        except MalformedNotification as exc:
            self._drop(exc.reason, address, exc.message)
            return
        before = [int(symbol.syntax) for _reason, symbol in self._counters]
        self._handled = False
        try:
            transport.dispatch(data, address)
        except Exception as exc:  # pysnmp has no narrower base; it must not stop the listener
            if not self._handled:
                self._drop("rejected", address, f"{type(exc).__name__}: {exc}")
            return
        if self._handled:
            return
        for (reason, symbol), count in zip(self._counters, before, strict=True):
            if int(symbol.syntax) != count:
                if reason:
                    self._drop(reason, address, "refused by the SNMP engine")
                return
        self._drop("rejected", address, "refused by the SNMP engine")

    def _notification(self, engine: Any, state_reference: Any, _context_engine_id: Any,
                      _context_name: Any, var_binds: Any, _cb_ctx: Any) -> None:
        self._handled = True
        try:
            # What pysnmp's dispatcher knew of this message (RFC 3412 §4.2.2.1.3).
            context = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
            address = context["transportAddress"]
        except (KeyError, TypeError) as exc:
            self._drop("rejected", "?", f"no message context: {exc!r}")
            return
        try:
            version = _VERSIONS.get(int(context["messageProcessingModel"]), "?")
            trap = trap_from_varbinds(
                (normalize_address(str(address[0])), int(address[1])),
                [(oid_text(oid_of(name)), plain_value(value)) for name, value in var_binds],
                version=version,
                user=str(context["securityName"]) if version == "3" else "",
                inform=context["pdu"].tagSet == v2c.InformRequestPDU.tagSet)
        except MalformedNotification as exc:
            self._drop(exc.reason, address, exc.message)
            return
        except EndpointError as exc:
            self._drop("bad_varbind", address, exc.message)
            return
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            self._drop("rejected", address, f"unreadable message context: {exc!r}")
            return
        self.stats["delivered"] += 1
        try:
            self._on_trap(trap)
        except Exception:
            _log.exception("the trap handler failed on %s from %s", trap.trap_oid, address)


async def resolve_sources(specs: Iterable[DeviceSpec]) -> dict[str, str]:
    """SNMP device ids by the IP addresses of their hosts, for a `TrapRouter`."""
    loop = asyncio.get_running_loop()
    out: dict[str, str] = {}
    for spec in specs:
        if spec.protocol != "snmp" or not spec.host:
            continue
        try:
            infos = await loop.getaddrinfo(spec.host, None, type=socket.SOCK_DGRAM)
        except OSError as exc:
            _log.warning("device %s: cannot resolve %s for its traps: %s",
                         spec.id, spec.host, exc)
            continue
        for info in infos:
            out.setdefault(normalize_address(str(info[4][0])), spec.id)
    return out


def trap_credentials(specs: Iterable[DeviceSpec]) -> tuple[list[str], list[TrapUser]]:
    """The communities and v3 users of the configured SNMP devices, for a `TrapReceiver`."""
    communities: list[str] = []
    users: list[TrapUser] = []
    for spec in specs:
        if spec.protocol != "snmp":
            continue
        cred = credentials_from_options(spec.options, spec.secrets)
        if cred.version == "2c":
            communities.append(cred.community)
        else:
            users.append(TrapUser(cred, str(spec.options.get("engine_id", ""))))
    return communities, users
