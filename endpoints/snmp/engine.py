"""Requests through pysnmp 7: the stack for SNMPv3 (USM authentication and privacy).

One `SnmpEngine` per client, built on `open` (~60 ms of CPU) and reused by every request,
its target configured once. Requests go straight to pysnmp's RFC 3413 command generators
with numeric varbinds: the hlapi ``get_cmd`` family resolves every OID through the MIB
view (``lookupMib=False`` only skips the answer's), and its first use per engine builds a
MIB compiler (~300 ms with pysmi installed) on the event loop. pysnmp's error indications
and exceptions become `endpoints.errors` here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from typing import Any, Final

from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pysnmp.carrier.error import CarrierError
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413.cmdgen import (
    BulkCommandGeneratorSingleRun,
    GetCommandGenerator,
    SetCommandGenerator,
)
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    usm3DESEDEPrivProtocol,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind, rfc1902, rfc1905

from endpoints.errors import (
    AuthenticationFailedError,
    EndpointError,
    EndpointTimeoutError,
    EndpointTransportError,
    LocalProtocolError,
    RemoteProtocolError,
)
from endpoints.snmp.ber import GET, GET_BULK, SET, Response, Value, VarbindException
from endpoints.snmp.config import SnmpCredentials
from endpoints.snmp.values import Oid, TypedValue, oid_of, plain_value, pysnmp_value

_log = logging.getLogger(__name__)

SYS_UPTIME: Final = (1, 3, 6, 1, 2, 1, 1, 3, 0)
# After a v3 authPriv timeout, look again at most this often whether the agent only
# ignores our encryption (see `PysnmpStack._privacy_rejected`).
PROBE_INTERVAL: Final = 60.0

AUTH_IDS: Final[dict[str, Any]] = {
    "MD5": usmHMACMD5AuthProtocol, "SHA": usmHMACSHAAuthProtocol,
    "SHA224": usmHMAC128SHA224AuthProtocol, "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA384": usmHMAC256SHA384AuthProtocol, "SHA512": usmHMAC384SHA512AuthProtocol,
}
PRIV_IDS: Final[dict[str, Any]] = {
    "DES": usmDESPrivProtocol, "3DES": usm3DESEDEPrivProtocol, "AES": usmAesCfb128Protocol,
    "AES192": usmAesBlumenthalCfb192Protocol, "AES256": usmAesBlumenthalCfb256Protocol,
    "AES192C": usmAesCfb192Protocol, "AES256C": usmAesCfb256Protocol,
}

# The agent (or our USM) rejected who we are: wrong user, key or security level.
_AUTH_INDICATIONS: Final = (
    errind.UnknownUserName, errind.UnknownSecurityName, errind.WrongDigest,
    errind.AuthenticationFailure, errind.AuthenticationError, errind.DecryptionError,
    errind.UnsupportedSecurityLevel, errind.UnknownCommunityName,
)
# Our side could not build or protect the request.
_LOCAL_INDICATIONS: Final = (
    errind.SerializationError, errind.TooBig, errind.NoEncryption, errind.EncryptionError,
    errind.NoAuthentication, errind.UnsupportedAuthProtocol, errind.UnsupportedPrivProtocol,
)
_EXCEPTIONS: Final = (
    (rfc1905.NoSuchObject, VarbindException.NO_SUCH_OBJECT),
    (rfc1905.NoSuchInstance, VarbindException.NO_SUCH_INSTANCE),
    (rfc1905.EndOfMibView, VarbindException.END_OF_MIB_VIEW),
)

Reply = tuple[Any, Any, Any, Sequence[Any]]


def auth_data(credentials: SnmpCredentials, *, without_privacy: bool = False) -> Any:
    """pysnmp's CommunityData or UsmUserData for some credentials."""
    if credentials.version == "2c":
        # Many room UPS cards and switches speak nothing better; the site config chose it.
        return CommunityData(credentials.community, mpModel=1)  # noqa: S508
    auth = AUTH_IDS[credentials.auth_protocol] if credentials.auth_protocol else None
    if auth is None:
        return UsmUserData(credentials.user)  # noqa: S509 - the config chose noAuthNoPriv
    if credentials.priv_protocol is None or without_privacy:
        # authNoPriv: devices without privacy, and the probe of `_privacy_rejected`.
        return UsmUserData(credentials.user, credentials.auth_key,
                           authProtocol=auth, privProtocol=usmNoPrivProtocol)
    return UsmUserData(credentials.user, credentials.auth_key, credentials.priv_key,
                       authProtocol=auth, privProtocol=PRIV_IDS[credentials.priv_protocol])


def _value(value: Any) -> Value:
    for cls, exception in _EXCEPTIONS:
        if isinstance(value, cls):
            return exception
    return plain_value(value)


async def _send(engine: Any, target_name: str, generator: Any, *args: Any) -> Reply:
    """One request through an RFC 3413 command generator, awaiting its callback."""
    future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

    def done(_engine: Any, _handle: Any, indication: Any, status: Any, index: Any,
             var_binds: Any, _ctx: Any) -> None:
        if not future.done():
            future.set_result((indication, status, index, var_binds))

    # Default context: the agent's engine ID (discovered for v3) and the empty name.
    generator.send_varbinds(engine, target_name, None, b"", *args, done)
    return await future


def _configure(engine: Any, auth: Any, target: Any) -> str:
    """Add the credentials and target to an engine's LCD; the target's name."""
    try:
        target_name, _params = CommandGeneratorLcdConfigurator().configure(engine, auth, target)
    except PySnmpError as exc:
        raise LocalProtocolError(f"SNMP engine set-up failed: {exc}") from exc
    return str(target_name)


class PysnmpStack:
    """Requests to one agent through a pysnmp engine of its own."""

    def __init__(self, label: str, host: str, port: int, credentials: SnmpCredentials,
                 timeout: float, retries: int) -> None:
        self.label = label
        self.host = host
        self.port = port
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self._auth = auth_data(credentials)
        self._engine: Any = None
        self._target_name = ""
        self._generators: dict[int, Any] = {}
        self._probe_at: float | None = None
        self._privacy_verdict = False

    @property
    def is_open(self) -> bool:
        """Whether the engine exists."""
        return self._engine is not None

    async def open(self) -> None:
        """Resolve the agent's address, build the engine and configure its target."""
        target = await self._make_target(self.timeout, self.retries)
        engine = SnmpEngine()
        self._target_name = _configure(engine, self._auth, target)
        # Generators keep their pending requests: fresh ones for a fresh engine.
        self._generators = {GET: GetCommandGenerator(), SET: SetCommandGenerator(),
                            GET_BULK: BulkCommandGeneratorSingleRun()}
        self._engine = engine

    async def close(self) -> None:
        """Close the engine's socket and timer."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close_dispatcher()

    async def _make_target(self, per_try: float, retries: int) -> Any:
        try:
            literal = ipaddress.ip_address(self.host)
        except ValueError:
            literal = None
        cls = Udp6TransportTarget if literal is not None and literal.version == 6 \
            else UdpTransportTarget
        try:
            return await cls.create((self.host, self.port), timeout=per_try, retries=retries)
        except (PySnmpError, OSError) as exc:
            raise EndpointTransportError(
                f"{self.label}: cannot resolve {self.host}: {exc}") from exc

    async def request(self, what: str, pdu_type: int,
                      varbinds: Sequence[tuple[Oid, TypedValue | None]], *,
                      non_repeaters: int = 0, max_repetitions: int = 0) -> Response:
        """One request; the answer's varbinds as plain values."""
        engine = self._engine
        names = [(rfc1902.ObjectName(oid), rfc1902.Null("") if value is None
                  else pysnmp_value(value)) for oid, value in varbinds]
        args: tuple[Any, ...] = (non_repeaters, max_repetitions, names) \
            if pdu_type == GET_BULK else (names,)
        # pysnmp expires requests itself; this bound only guards against a lost callback.
        budget = self.timeout * (self.retries + 1) + 1.0
        try:
            async with asyncio.timeout(budget):
                indication, status, index, answer = await _send(
                    engine, self._target_name, self._generators[pdu_type], *args)
        except TimeoutError:
            raise EndpointTimeoutError(
                f"{self.label}: no answer to {what} in {budget:.1f} s") from None
        except CarrierError as exc:
            raise EndpointTransportError(f"{self.label}: {what} not sent: {exc}") from exc
        except (PySnmpError, PyAsn1Error) as exc:
            raise LocalProtocolError(f"{self.label}: {what} not built: {exc}") from exc
        except OSError as exc:
            raise EndpointTransportError(f"{self.label}: {what} not sent: {exc}") from exc
        if indication:
            raise await self._indication_error(indication, what)
        self._probe_at = None
        return Response(0, int(status or 0), int(index or 0),
                        tuple((oid_of(name), _value(value)) for name, value in answer))

    async def _indication_error(self, indication: Any, what: str) -> EndpointError:
        error: EndpointError
        if isinstance(indication, errind.RequestTimedOut):
            if self.credentials.security_level == "authPriv" and await self._privacy_rejected():
                error = AuthenticationFailedError(
                    f"{self.label}: the agent answers requests authenticated with our "
                    "auth_key but ignores encrypted ones: check priv_key and priv_protocol")
            else:
                error = EndpointTimeoutError(
                    f"{self.label}: no answer to {what} ({self.retries + 1} tries of "
                    f"{self.timeout:g} s)")
        elif isinstance(indication, _AUTH_INDICATIONS):
            error = AuthenticationFailedError(f"{self.label}: {what}: {indication}")
        elif isinstance(indication, _LOCAL_INDICATIONS):
            error = LocalProtocolError(f"{self.label}: {what}: {indication}")
        else:
            error = RemoteProtocolError(f"{self.label}: {what}: {indication}")
        return error

    async def _privacy_rejected(self) -> bool:
        """Whether the agent answers our auth key but drops what we encrypt.

        A wrong priv key or protocol looks like a dead agent: net-snmp silently drops what
        it cannot decrypt (RFC 3414 §3.2 step 8 leaves the report optional). So after such
        a timeout, GET sysUpTime once with authNoPriv from a throw-away engine; any
        authenticated answer, even a refusal, proves the agent and the auth key fine.
        """
        now = asyncio.get_running_loop().time()
        if self._probe_at is not None and now - self._probe_at < PROBE_INTERVAL:
            return self._privacy_verdict
        self._probe_at = now
        probe_timeout = min(self.timeout, 0.5)
        engine = SnmpEngine()
        try:
            target = await self._make_target(probe_timeout, 0)
            name = _configure(engine, auth_data(self.credentials, without_privacy=True), target)
            async with asyncio.timeout(probe_timeout + 1.0):
                indication, _status, _index, _answer = await _send(
                    engine, name, GetCommandGenerator(),
                    [(rfc1902.ObjectName(SYS_UPTIME), rfc1902.Null(""))])
            verdict = not indication or isinstance(indication, errind.UnsupportedSecurityLevel)
        except (EndpointError, TimeoutError, PySnmpError, PyAsn1Error, OSError):
            verdict = False
        finally:
            engine.close_dispatcher()
        _log.debug("%s: authNoPriv probe after a timeout: privacy rejected = %s",
                   self.label, verdict)
        self._privacy_verdict = verdict
        return verdict
