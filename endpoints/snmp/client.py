"""A thin async SNMP client: get, set and bulk walks, v2c and v3 (USM).

SNMPv3 goes through pysnmp (`endpoints.snmp.engine`: one engine per client, reused);
v2c through our own codec on a UDP socket (`endpoints.snmp.v2c`), which polls several
times cheaper (``scripts/_bench_snmp.py`` measures both). Either way the answer arrives
as plain values, and agents' error statuses become `DeviceRefusedError` here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Final, Protocol

from endpoints.errors import DeviceBusyError, DeviceRefusedError, RemoteProtocolError
from endpoints.interfaces import DeviceSpec, DropCounter
from endpoints.snmp.ber import GET, GET_BULK, SET, Response, Value, VarbindException
from endpoints.snmp.config import (
    DEFAULT_MAX_REPETITIONS,
    DEFAULT_RETRIES,
    SnmpConfigError,
    SnmpCredentials,
    bounded_int,
    credentials_from_options,
)
from endpoints.snmp.engine import SYS_UPTIME, PysnmpStack
from endpoints.snmp.v2c import V2cStack
from endpoints.snmp.values import (
    Oid,
    SnmpValue,
    TypedValue,
    is_under,
    oid_text,
    parse_oid,
    typed_value,
)

__all__ = ["ERROR_STATUS", "SYS_UPTIME", "SnmpClient"]

_log = logging.getLogger(__name__)

# Varbinds per GET and per GETBULK answer: small enough that no agent answers tooBig
# (RFC 3417 §3.2 only promises 484-octet messages; real agents take ~1500).
MAX_GET_VARBINDS: Final = 40
BULK_VARBIND_BUDGET: Final = 60
MAX_WALK_ROWS: Final = 10_000

# RFC 3416 §3: error-status values of a Response-PDU.
ERROR_STATUS: Final = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
    "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
    "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
    "authorizationError", "notWritable", "inconsistentName",
)


class _Stack(Protocol):
    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def request(self, what: str, pdu_type: int,
                      varbinds: Sequence[tuple[Oid, TypedValue | None]], *,
                      non_repeaters: int = 0, max_repetitions: int = 0) -> Response: ...


def _plain(value: Value) -> SnmpValue:
    return None if isinstance(value, VarbindException) else value


class SnmpClient:
    """One SNMP agent: requests, their retries, and their errors as `endpoints.errors`."""

    def __init__(self, host: str, credentials: SnmpCredentials, *, port: int = 161,
                 timeout: float = 2.0, retries: int = DEFAULT_RETRIES,
                 max_repetitions: int = DEFAULT_MAX_REPETITIONS, label: str = "",
                 drop_counter: DropCounter | None = None, use_pysnmp: bool = False) -> None:
        if not timeout > 0:
            raise SnmpConfigError("the SNMP timeout must be above 0 seconds")
        self.host = host
        self.port = port
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self.max_repetitions = max_repetitions
        self.label = label or f"{host}:{port}"
        # ``use_pysnmp`` sends v2c through pysnmp too (the benchmark compares the two).
        self._stack: _Stack
        if credentials.version == "2c" and not use_pysnmp:
            self._stack = V2cStack(self.label, host, port, credentials.community, timeout,
                                   retries, drop_counter)
        else:
            self._stack = PysnmpStack(self.label, host, port, credentials, timeout, retries)
        self._open_lock = asyncio.Lock()

    @classmethod
    def from_spec(cls, spec: DeviceSpec, *, drop_counter: DropCounter | None = None,
                  ) -> SnmpClient:
        """A client for a configured device (checks its SNMP settings)."""
        if not spec.host:
            raise SnmpConfigError(f"SNMP device {spec.id} needs host")
        credentials = credentials_from_options(spec.options, spec.secrets)
        return cls(spec.host, credentials, port=spec.port or 161, timeout=spec.timeout,
                   retries=bounded_int(spec.options, "retries", DEFAULT_RETRIES, 0, 10),
                   max_repetitions=bounded_int(spec.options, "max_repetitions",
                                               DEFAULT_MAX_REPETITIONS, 1, 200),
                   label=spec.id, drop_counter=drop_counter)

    def set_drop_counter(self, counter: DropCounter | None) -> None:
        """Where counts of dropped malformed or unexpected datagrams go (v2c)."""
        if isinstance(self._stack, V2cStack):
            self._stack.drop_counter = counter

    @property
    def is_open(self) -> bool:
        """Whether the socket (and for v3 the engine) exists; requests open it on demand."""
        return self._stack.is_open

    async def open(self) -> None:
        """Resolve the agent's address and open the socket (v3: build the engine)."""
        async with self._open_lock:
            if not self._stack.is_open:
                await self._stack.open()

    async def close(self) -> None:
        """Release the socket (and engine); safe to call twice, and requests reopen."""
        await self._stack.close()

    async def _call(self, what: str, pdu_type: int,
                    varbinds: Sequence[tuple[Oid, TypedValue | None]], *,
                    non_repeaters: int = 0, max_repetitions: int = 0) -> Response:
        if not self._stack.is_open:
            await self.open()
        response = await self._stack.request(what, pdu_type, varbinds,
                                             non_repeaters=non_repeaters,
                                             max_repetitions=max_repetitions)
        if response.error_status:
            raise self._status_error(response, what)
        return response

    def _status_error(self, response: Response, what: str) -> DeviceRefusedError:
        status, index = response.error_status, response.error_index
        name = ERROR_STATUS[status] if 0 <= status < len(ERROR_STATUS) else f"error{status}"
        where = ""
        if 1 <= index <= len(response.varbinds):
            where = f" at {oid_text(response.varbinds[index - 1][0])}"
        cls = DeviceBusyError if name == "resourceUnavailable" else DeviceRefusedError
        return cls(f"{self.label}: {what} refused: {name}{where}", device_code=name)

    async def get(self, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET: each OID's value, None where the agent has no such object or instance."""
        wanted = [(text, parse_oid(text)) for text in oids]
        out: dict[str, SnmpValue] = {}
        for start in range(0, len(wanted), MAX_GET_VARBINDS):
            chunk = wanted[start:start + MAX_GET_VARBINDS]
            response = await self._call("GET", GET, [(oid, None) for _, oid in chunk])
            if len(response.varbinds) != len(chunk):
                raise RemoteProtocolError(f"{self.label}: GET of {len(chunk)} OIDs answered "
                                          f"{len(response.varbinds)}")
            for (text, oid), (name, value) in zip(chunk, response.varbinds, strict=True):
                if name != oid:
                    raise RemoteProtocolError(
                        f"{self.label}: GET of {text} answered for another OID")
                out[text] = _plain(value)
        return out

    async def set(self, oid: str, value: int | str | bytes,
                  syntax: str | None = None) -> SnmpValue:
        """SET one object (ints as Integer32 unless ``syntax`` says otherwise)."""
        target = parse_oid(oid)
        response = await self._call("SET", SET, [(target, typed_value(value, syntax))])
        if len(response.varbinds) != 1 or response.varbinds[0][0] != target:
            raise RemoteProtocolError(f"{self.label}: SET of {oid} answered for another OID")
        return _plain(response.varbinds[0][1])

    async def bulk_walk(self, root: str, *,
                        max_rows: int = MAX_WALK_ROWS) -> list[tuple[str, SnmpValue]]:
        """Every object below ``root``, in OID order, by GETBULK (RFC 3416 §4.2.3)."""
        table = await self.walk_columns([root], max_rows=max_rows)
        base = parse_oid(root)
        return [(oid_text(base + suffix), value) for suffix, value in table[root].items()]

    async def walk_columns(self, roots: Sequence[str], *, max_rows: int = MAX_WALK_ROWS,
                           ) -> dict[str, dict[Oid, SnmpValue]]:
        """Walk several subtrees (table columns) side by side; values by index suffix.

        One GETBULK carries every unfinished column, so a table of N columns takes as many
        round trips as its longest column needs, not N times that.
        """
        parsed = {text: parse_oid(text) for text in roots}
        tables: dict[str, dict[Oid, SnmpValue]] = {text: {} for text in parsed}
        cursor: dict[str, Oid] = dict(parsed)
        while cursor:
            active = list(cursor)
            repetitions = max(1, min(self.max_repetitions, BULK_VARBIND_BUDGET // len(active)))
            response = await self._call("GETBULK", GET_BULK,
                                        [(cursor[text], None) for text in active],
                                        max_repetitions=repetitions)
            if not response.varbinds:
                raise RemoteProtocolError(f"{self.label}: empty GETBULK answer")
            done: set[str] = set()
            # RFC 3416 §4.2.3: the answer holds the repeaters row by row.
            for i, (oid, value) in enumerate(response.varbinds):
                text = active[i % len(active)]
                if text in done:
                    continue
                root = parsed[text]
                if isinstance(value, VarbindException) or not is_under(oid, root):
                    done.add(text)
                    continue
                if oid <= cursor[text]:
                    raise RemoteProtocolError(
                        f"{self.label}: GETBULK answer went backwards at {oid_text(oid)}")
                cursor[text] = oid
                column = tables[text]
                column[oid[len(root):]] = value
                if len(column) > max_rows:
                    raise RemoteProtocolError(
                        f"{self.label}: more than {max_rows} rows below {text}")
            for text in done:
                del cursor[text]
        return tables
