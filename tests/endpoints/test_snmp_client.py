"""SnmpClient against Debian's real snmpd on loopback: v2c and v3 authPriv, errors typed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from endpoints.errors import (
    AuthenticationFailedError,
    DeviceRefusedError,
    EndpointTimeoutError,
    LocalProtocolError,
    is_retryable,
)
from endpoints.interfaces import DeviceSpec
from endpoints.sim.snmpd_lab import SnmpdLab
from endpoints.snmp.client import SnmpClient
from endpoints.snmp.config import SnmpConfigError
from tests.peers.snmp import (  # noqa: F401 - session fixtures used by name
    CLIENT_INTEGER,
    CLIENT_READ_ONLY,
    CLIENT_STRING,
    snmpd,
    snmpd_spec,
)

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYSTEM = "1.3.6.1.2.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
MISSING = "1.3.6.1.4.1.8072.9999.9999.99.0"

Factory = Callable[..., SnmpClient]
# v2c through our codec (the polling path), v2c through pysnmp, v3 authPriv (pysnmp).
STACKS = ["2c", "2c-pysnmp", "3"]


@pytest.fixture
async def make_client() -> AsyncIterator[Factory]:
    """Clients closed at the end of the test; ``stack`` "2c-pysnmp" forces pysnmp for v2c."""
    made: list[SnmpClient] = []

    def make(spec: DeviceSpec, stack: str = "") -> SnmpClient:
        client = SnmpClient.from_spec(spec)
        if stack == "2c-pysnmp":
            client = SnmpClient(client.host, client.credentials, port=client.port,
                                timeout=client.timeout, retries=client.retries,
                                max_repetitions=client.max_repetitions, use_pysnmp=True)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.close()


@pytest.mark.parametrize("stack", STACKS)
async def test_get_reads_typed_values_and_none_for_missing(
        snmpd: SnmpdLab, make_client: Factory, stack: str) -> None:  # noqa: F811
    client = make_client(snmpd_spec(snmpd, version=stack[:2]), stack)
    values = await client.get([SYS_DESCR, SYS_UPTIME, CLIENT_READ_ONLY, MISSING])
    descr, uptime = values[SYS_DESCR], values[SYS_UPTIME]
    assert isinstance(descr, bytes)
    assert descr.startswith(b"Linux")
    assert isinstance(uptime, int)
    assert uptime > 0
    assert values[CLIENT_READ_ONLY] == 77
    assert values[MISSING] is None


@pytest.mark.parametrize("stack", STACKS)
async def test_set_then_get_reads_back_the_new_value(
        snmpd: SnmpdLab, make_client: Factory, stack: str) -> None:  # noqa: F811
    client = make_client(snmpd_spec(snmpd, version=stack[:2], write=True), stack)
    wanted = 1000 + STACKS.index(stack)
    assert await client.set(CLIENT_INTEGER, wanted) == wanted
    assert (await client.get([CLIENT_INTEGER]))[CLIENT_INTEGER] == wanted
    assert await client.set(CLIENT_STRING, "xin chào") == "xin chào".encode()


@pytest.mark.parametrize("stack", STACKS[:2])
async def test_refused_sets_carry_the_agents_error_status(
        snmpd: SnmpdLab, make_client: Factory, stack: str) -> None:  # noqa: F811
    writer = make_client(snmpd_spec(snmpd, write=True), stack)
    with pytest.raises(DeviceRefusedError) as wrong_type:
        await writer.set(CLIENT_INTEGER, "not a number")
    assert wrong_type.value.device_code == "wrongType"
    with pytest.raises(DeviceRefusedError) as read_only:
        await writer.set(CLIENT_READ_ONLY, 1)
    assert read_only.value.device_code == "notWritable"
    reader = make_client(snmpd_spec(snmpd), stack)
    with pytest.raises(DeviceRefusedError) as no_access:
        await reader.set(CLIENT_INTEGER, 1)
    assert no_access.value.device_code == "noAccess"
    assert not is_retryable(no_access.value)


@pytest.mark.parametrize("stack", STACKS)
async def test_bulk_walk_returns_the_subtree_in_order(
        snmpd: SnmpdLab, make_client: Factory, stack: str) -> None:  # noqa: F811
    client = make_client(snmpd_spec(snmpd, version=stack[:2], max_repetitions=3), stack)
    names = await client.bulk_walk(IF_DESCR)
    assert (f"{IF_DESCR}.1", b"lo") in names
    system = await client.bulk_walk(SYSTEM)
    oids = [tuple(int(s) for s in oid.split(".")) for oid, _ in system]
    assert oids == sorted(oids)
    assert len(set(oids)) == len(oids)
    assert all(oid.startswith(SYSTEM + ".") for oid, _ in system)
    assert (SYS_DESCR, (await client.get([SYS_DESCR]))[SYS_DESCR]) in system


async def test_walk_columns_reads_a_table_side_by_side(
        snmpd: SnmpdLab, make_client: Factory) -> None:  # noqa: F811
    client = make_client(snmpd_spec(snmpd, max_repetitions=2))
    oper_status = "1.3.6.1.2.1.2.2.1.8"
    table = await client.walk_columns([IF_DESCR, oper_status, MISSING])
    assert table[IF_DESCR][(1,)] == b"lo"
    assert set(table[IF_DESCR]) == set(table[oper_status])
    assert table[MISSING] == {}


async def test_concurrent_requests_share_one_engine(
        snmpd: SnmpdLab, make_client: Factory) -> None:  # noqa: F811
    client = make_client(snmpd_spec(snmpd, version="3"))
    results = await asyncio.gather(*(client.get([SYS_UPTIME]) for _ in range(40)))
    assert all(isinstance(r[SYS_UPTIME], int) for r in results)


@pytest.mark.parametrize("stack", STACKS[:2])
async def test_wrong_community_times_out_quickly(
        snmpd: SnmpdLab, make_client: Factory, stack: str) -> None:  # noqa: F811
    spec = snmpd_spec(snmpd, timeout=0.3, retries=0)
    client = make_client(replace(spec, secrets={"community": "wrong"}), stack)
    started = time.monotonic()
    with pytest.raises(EndpointTimeoutError) as caught:
        await client.get([SYS_UPTIME])
    assert time.monotonic() - started < 1.5
    assert isinstance(caught.value, TimeoutError)
    assert is_retryable(caught.value)
    assert "wrong" not in caught.value.message


@pytest.mark.parametrize(("secret", "value"), [
    ("auth_key", "not-the-auth-key"),
    ("priv_key", "not-the-priv-key"),
])
async def test_wrong_v3_key_is_an_authentication_failure(
        snmpd: SnmpdLab, make_client: Factory, secret: str, value: str) -> None:  # noqa: F811
    spec = snmpd_spec(snmpd, version="3", timeout=0.4, retries=0)
    client = make_client(replace(spec, secrets={**spec.secrets, secret: value}))
    with pytest.raises(AuthenticationFailedError) as caught:
        await client.get([SYS_UPTIME])
    assert value not in caught.value.message
    assert not is_retryable(caught.value)


async def test_unknown_v3_user_is_an_authentication_failure(
        snmpd: SnmpdLab, make_client: Factory) -> None:  # noqa: F811
    spec = snmpd_spec(snmpd, version="3", timeout=0.4, retries=0)
    client = make_client(replace(spec, options={**spec.options, "user": "nobody"}))
    with pytest.raises(AuthenticationFailedError):
        await client.get([SYS_UPTIME])


async def test_close_is_idempotent_and_requests_reopen(
        snmpd: SnmpdLab, make_client: Factory) -> None:  # noqa: F811
    client = make_client(snmpd_spec(snmpd))
    await client.get([SYS_UPTIME])
    await client.close()
    await client.close()
    assert not client.is_open
    assert isinstance((await client.get([SYS_UPTIME]))[SYS_UPTIME], int)


async def test_bad_oids_and_values_are_refused_before_sending(
        snmpd: SnmpdLab, make_client: Factory) -> None:  # noqa: F811
    client = make_client(snmpd_spec(snmpd, write=True))
    with pytest.raises(LocalProtocolError):
        await client.get(["1.3.6.x"])
    with pytest.raises(LocalProtocolError):
        await client.set(CLIENT_INTEGER, 2**40)
    with pytest.raises(LocalProtocolError):
        await client.set(CLIENT_INTEGER, True)
    assert not client.is_open


@pytest.mark.parametrize(("options", "secrets", "needle"), [
    ({"version": "1"}, {"community": "x"}, "SNMPv1"),
    ({"version": "2c"}, {}, "community_file"),
    ({"version": "3"}, {"auth_key": "12345678"}, "user"),
    ({"version": "3", "user": "u"}, {"auth_key": "short"}, "at least 8"),
    ({"version": "3", "user": "u"}, {"priv_key": "12345678"}, "auth_key_file"),
    ({"version": "3", "user": "u", "auth_protocol": "SHA999"}, {"auth_key": "12345678"},
     "auth_protocol"),
    ({"version": "2c", "retries": 99}, {"community": "x"}, "retries"),
])
def test_bad_settings_are_refused_when_built(options: dict[str, object],
                                             secrets: dict[str, str], needle: str) -> None:
    spec = DeviceSpec(id="ups", kind="power", protocol="snmp", host="127.0.0.1",
                      options=options, secrets=secrets)
    with pytest.raises(SnmpConfigError) as caught:
        SnmpClient.from_spec(spec)
    assert needle in caught.value.message
