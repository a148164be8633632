"""Pure SNMP decoding: OIDs, values, UPS-MIB and IF-MIB readings, vendor OID maps."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysnmp.proto import rfc1902, rfc1905

from endpoints.errors import LocalProtocolError, RemoteProtocolError
from endpoints.interfaces import PowerState
from endpoints.snmp.config import SnmpConfigError
from endpoints.snmp.profiles import (
    IF_COLUMNS,
    IF_DESCR,
    IF_HIGH_SPEED,
    IF_OPER_STATUS,
    IF_SPEED,
    UPS_CHARGE_REMAINING,
    UPS_MINUTES_REMAINING,
    UPS_OUTPUT_SOURCE,
    UPS_SECONDS_ON_BATTERY,
    UPS_STATUS_OIDS,
    interfaces_from_columns,
    mixer_map,
    power_state,
    projector_map,
    ups_status,
)
from endpoints.snmp.values import (
    SnmpValue,
    display_text,
    oid_text,
    parse_oid,
    plain_value,
    pysnmp_value,
    typed_value,
)

oids = st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=128).map(
    lambda p: [p[0] % 3, p[1] % 40 if p[0] % 3 < 2 else p[1], *p[2:]])


@given(oids)
def test_oids_round_trip(parts: list[int]) -> None:
    assert parse_oid(oid_text(tuple(parts))) == tuple(parts)
    assert parse_oid("." + oid_text(tuple(parts))) == tuple(parts)


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_any_text_is_an_oid_or_a_typed_error(text: str) -> None:
    try:
        oid = parse_oid(text)
    except LocalProtocolError:
        return
    assert 2 <= len(oid) <= 128
    assert all(0 <= s < 2**32 for s in oid)


@pytest.mark.parametrize("text", ["", "1", "1.3.", "1..3", "3.1", "1.40", "1.3.-6", "1.3.٣",
                                  "1.3.4294967296", " 1 .3"])
def test_bad_oids_are_refused(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        parse_oid(text)


@pytest.mark.parametrize(("value", "plain"), [
    (rfc1902.Integer32(-5), -5),
    (rfc1902.Counter64(2**64 - 1), 2**64 - 1),
    (rfc1902.Gauge32(7), 7),
    (rfc1902.TimeTicks(100), 100),
    (rfc1902.OctetString(b"\x00\xffx"), b"\x00\xffx"),
    (rfc1902.IpAddress("192.0.2.1"), "192.0.2.1"),
    (rfc1902.ObjectIdentifier("1.3.6.1.2.1.33"), "1.3.6.1.2.1.33"),
    (rfc1902.Null(""), None),
    (rfc1905.NoSuchInstance(""), None),
    (rfc1905.EndOfMibView(""), None),
])
def test_pysnmp_values_become_plain_python(value: Any, plain: Any) -> None:
    assert plain_value(value) == plain


def test_unknown_value_types_are_remote_protocol_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        plain_value(3.5)
    with pytest.raises(RemoteProtocolError):
        plain_value(rfc1902.Integer32())  # a schema without a value


def test_values_to_set_are_typed_and_bounded() -> None:
    assert pysnmp_value(typed_value(5)).tagSet == rfc1902.Integer32.tagSet
    assert pysnmp_value(typed_value("x")).tagSet == rfc1902.OctetString.tagSet
    assert pysnmp_value(typed_value(5, "gauge")).tagSet == rfc1902.Gauge32.tagSet
    assert pysnmp_value(typed_value("1.3.6.1", "oid")) == rfc1902.ObjectIdentifier("1.3.6.1")
    assert typed_value("10.0.0.1", "ipaddress") == (0x40, b"\n\x00\x00\x01")
    assert typed_value(7, "timeticks") == (0x43, 7)
    for value, syntax in ((-1, "unsigned"), (2**31, "integer"), ("x", "integer"),
                          ("300.1.1.1", "ipaddress"), (True, None), (1, "float"),
                          ("x" * 70000, "string")):
        with pytest.raises(LocalProtocolError):
            typed_value(value, syntax)


def test_device_text_is_sanitised() -> None:
    assert display_text(b"eth0\x00\x00") == "eth0"
    assert display_text(b"bad\x1b[31m\xff") == "bad\ufffd[31m\ufffd"
    assert display_text("x" * 100, limit=10) == "x" * 9 + "…"
    assert display_text(None) == ""


def test_ups_status_reads_rfc_1628_values() -> None:
    status = ups_status({UPS_OUTPUT_SOURCE: 3, UPS_CHARGE_REMAINING: 100,
                         UPS_MINUTES_REMAINING: -1, UPS_SECONDS_ON_BATTERY: 0})
    assert not status.on_battery
    assert status.output_source == "normal"
    assert status.charge_percent == 100
    assert status.runtime_minutes is None
    assert status.battery_status == "unknown"
    assert status.load_percent is None
    # An agent that does not report its output source still tells time on battery.
    assert ups_status({UPS_SECONDS_ON_BATTERY: 30}).on_battery
    with pytest.raises(RemoteProtocolError):
        ups_status({UPS_CHARGE_REMAINING: b"63%"})


ups_values = st.dictionaries(st.sampled_from(UPS_STATUS_OIDS),
                             st.one_of(st.none(), st.integers(-(2**40), 2**40),
                                       st.binary(max_size=4), st.text(max_size=4)))


@given(ups_values)
def test_any_ups_values_give_a_status_or_a_typed_error(values: dict[str, Any]) -> None:
    try:
        status = ups_status(values)
    except RemoteProtocolError:
        return
    assert status.charge_percent is None or 0 <= status.charge_percent <= 100


cells = st.one_of(st.none(), st.integers(-5, 2**64), st.binary(max_size=8))
columns = st.dictionaries(
    st.sampled_from(IF_COLUMNS),
    st.dictionaries(st.tuples(st.integers(0, 5)) | st.tuples(st.integers(0, 5),
                                                             st.integers(0, 5)), cells,
                    max_size=4))


@given(columns)
def test_any_if_mib_columns_give_interfaces_or_a_typed_error(
        table: dict[str, dict[tuple[int, ...], Any]]) -> None:
    try:
        found = interfaces_from_columns(table)
    except RemoteProtocolError:
        return
    assert [i.index for i in found] == sorted({i.index for i in found})


def test_interface_speed_rules_of_rfc_2863() -> None:
    one = (1,)
    base: dict[str, dict[tuple[int, ...], SnmpValue]] = {IF_DESCR: {one: b"Gi0/1"},
                                                         IF_OPER_STATUS: {one: 1}}
    assert interfaces_from_columns({**base, IF_SPEED: {one: 2**32 - 1},
                                    IF_HIGH_SPEED: {one: 25000}})[0].speed_bps == 25 * 10**9
    assert interfaces_from_columns({**base, IF_SPEED: {one: 10**9},
                                    IF_HIGH_SPEED: {one: 1000}})[0].speed_bps == 10**9
    assert interfaces_from_columns({**base, IF_SPEED: {one: 0}})[0].speed_bps is None


def test_projector_map_defaults_and_states() -> None:
    projector = projector_map({"power": {"oid": ".1.3.6.1.4.1.9.1.0", "warming": 2,
                                         "cooling": 3},
                               "lamp_hours": ["1.3.6.1.4.1.9.2.0", "1.3.6.1.4.1.9.3.0"],
                               "errors": {"lamp": {"oid": "1.3.6.1.4.1.9.4.0", "ok": 2,
                                                   "warning": 3}}})
    assert projector.power is not None
    assert projector.power.states == {"on": 1, "off": 0, "warming": 2, "cooling": 3}
    assert power_state(projector.power, 2) is PowerState.WARMING
    assert power_state(projector.power, None) is PowerState.UNKNOWN
    assert projector.errors["lamp"].level(2) == "ok"
    assert projector.errors["lamp"].level(9) == "error"
    assert projector.read_oids() == ["1.3.6.1.4.1.9.1.0", "1.3.6.1.4.1.9.2.0",
                                     "1.3.6.1.4.1.9.3.0", "1.3.6.1.4.1.9.4.0"]


def test_mixer_map_scales_gain() -> None:
    mixer = mixer_map({"channels": [3, 1], "gain": {"oid": "1.3.6.1.4.1.9.{channel}.0",
                                                    "scale": 100, "offset": 10000}})
    assert mixer.channels == (3, 1)
    assert mixer.gain is not None
    assert mixer.gain.to_device(-12.5) == 8750
    assert mixer.gain.to_db(8750) == -12.5
    assert mixer.read_oids(3) == ["1.3.6.1.4.1.9.3.0"]


config_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(),
              st.text(max_size=12), st.sampled_from(["1.3.6.1.4.1.9.1", "1.3.6.{channel}",
                                                      "1.3.6.1.4.1.9.{channel}"])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["oid", "on", "off", "values", "scale", "min", "max", "channels",
                         "mute", "gain", "power", "input", "errors", "lamp", "syntax",
                         "set_oid", "warning", "ok", "name", "lamp_hours", "x"]),
        inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300)
@given(config_values)
def test_any_oid_map_is_built_or_refused_with_a_config_error(raw: Any) -> None:
    for build in (projector_map, mixer_map):
        with contextlib.suppress(SnmpConfigError):
            build(raw)
