"""Pure notification decoding: BER framing of captured datagrams, trap varbinds, events."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endpoints.interfaces import DeviceEvent
from endpoints.snmp.notifications import (
    INFORM,
    TRAP_V1,
    TRAP_V2,
    DatagramHeader,
    MalformedNotification,
    TrapMessage,
    TrapRouter,
    inspect_datagram,
    normalize_address,
    trap_event,
    trap_from_varbinds,
)
from endpoints.snmp.values import SnmpValue

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"
SOURCE = ("192.0.2.30", 162)
UPTIME: tuple[str, SnmpValue] = ("1.3.6.1.2.1.1.3.0", 4242)


def capture(name: str) -> bytes:
    """A datagram net-snmp sent, kept as hex under tests/data/snmp."""
    return bytes.fromhex((DATA / f"{name}.hex").read_text().strip())


FRAMING_REASONS = {"empty", "too_big", "not_snmp", "truncated", "trailing_data", "bad_length",
                   "bad_version", "not_notification"}
# Reasons become metric labels: a few fixed words.
OUTCOMES = FRAMING_REASONS | {"v0", "v1", "v3"}


def framing(data: bytes) -> str:
    """The message version, or why the datagram is refused."""
    try:
        return f"v{inspect_datagram(data).version}"
    except MalformedNotification as exc:
        return exc.reason


CAPTURES = {
    "ups-on-battery-v2c.trap": DatagramHeader(1, TRAP_V2),
    "link-down-v1.trap": DatagramHeader(0, TRAP_V1),
    "link-up-v3-authpriv.trap": DatagramHeader(3, None),
}


@pytest.mark.parametrize(("name", "header"), CAPTURES.items())
def test_captured_notifications_are_framed_right(name: str, header: DatagramHeader) -> None:
    data = capture(name)
    assert inspect_datagram(data) == header
    for cut in range(len(data)):
        with pytest.raises(MalformedNotification):
            inspect_datagram(data[:cut])
    with pytest.raises(MalformedNotification) as trailing:
        inspect_datagram(data + b"\x00")
    assert trailing.value.reason == "trailing_data"


def test_requests_and_oversize_datagrams_are_refused() -> None:
    with pytest.raises(MalformedNotification) as request:
        inspect_datagram(capture("get-request-v2c"))
    assert request.value.reason == "not_notification"
    with pytest.raises(MalformedNotification) as big:
        inspect_datagram(capture("ups-on-battery-v2c.trap"), max_size=64)
    assert big.value.reason == "too_big"
    # An InformRequest in a v2c message is a notification; in a v1 message it is not.
    inform = bytearray(capture("ups-on-battery-v2c.trap"))
    inform[inform.index(TRAP_V2)] = INFORM
    assert inspect_datagram(bytes(inform)).pdu_tag == INFORM
    inform[4] = 0  # the version INTEGER's value
    with pytest.raises(MalformedNotification):
        inspect_datagram(bytes(inform))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_give_a_header_or_a_typed_error(data: bytes) -> None:
    assert framing(data) in OUTCOMES


@settings(max_examples=300)
@given(st.sampled_from(sorted(CAPTURES)), st.data())
def test_mutated_captures_give_a_header_or_a_typed_error(name: str, data: st.DataObject) -> None:
    octets = bytearray(capture(name))
    for _ in range(data.draw(st.integers(1, 4))):
        octets[data.draw(st.integers(0, len(octets) - 1))] = data.draw(st.integers(0, 255))
    assert framing(bytes(octets)) in OUTCOMES


TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
Varbinds = list[tuple[str, SnmpValue]]


def trap(trap_oid: str, *varbinds: tuple[str, SnmpValue]) -> TrapMessage:
    head: Varbinds = [UPTIME, (TRAP_OID, trap_oid)]
    return trap_from_varbinds(SOURCE, head + list(varbinds), version="2c")


def test_the_first_two_varbinds_must_be_uptime_and_trap_oid() -> None:
    cases: list[Varbinds] = [[], [UPTIME], [(TRAP_OID, "1.3.6.1.2.1.33.2.0.1"), UPTIME],
                             [UPTIME, (TRAP_OID, 5)], [UPTIME, (TRAP_OID, "1.3.x")]]
    for varbinds in cases:
        with pytest.raises(MalformedNotification):
            trap_from_varbinds(SOURCE, varbinds, version="2c")


def test_the_v1_community_varbind_is_not_kept() -> None:
    message = trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.6.3.18.1.4.0", b"secret"),
                   ("1.3.6.1.2.1.2.2.1.1.3", 3))
    assert message.varbinds == (("1.3.6.1.2.1.2.2.1.1.3", 3),)


@pytest.mark.parametrize(("message", "event"), [
    (trap("1.3.6.1.2.1.33.2.0.1", ("1.3.6.1.2.1.33.1.2.3.0", 18)),
     DeviceEvent("ups", "on_battery", {"minutes_remaining": 18, "seconds_on_battery": None})),
    (trap("1.3.6.1.2.1.33.2.0.3", ("1.3.6.1.2.1.33.1.6.2.1.2.7", "1.3.6.1.2.1.33.1.6.3.2")),
     DeviceEvent("ups", "on_battery", {})),
    (trap("1.3.6.1.2.1.33.2.0.4", ("1.3.6.1.2.1.33.1.6.2.1.2.7", "1.3.6.1.2.1.33.1.6.3.2")),
     DeviceEvent("ups", "on_mains", {})),
    (trap("1.3.6.1.2.1.33.2.0.3", ("1.3.6.1.2.1.33.1.6.2.1.2.1", "1.3.6.1.2.1.33.1.6.3.23")),
     DeviceEvent("ups", "alarm", {"alarm": "shutdown_imminent", "active": True,
                                  "alarm_oid": "1.3.6.1.2.1.33.1.6.3.23"})),
    (trap("1.3.6.1.2.1.33.2.0.4", ("1.3.6.1.2.1.33.1.6.2.1.2.1", "1.3.6.1.4.1.318.1")),
     DeviceEvent("ups", "alarm", {"alarm": "vendor", "active": False,
                                  "alarm_oid": "1.3.6.1.4.1.318.1"})),
    (trap("1.3.6.1.6.3.1.1.5.4", ("1.3.6.1.2.1.2.2.1.1.2", 2), ("1.3.6.1.2.1.2.2.1.7.2", 1),
          ("1.3.6.1.2.1.2.2.1.8.2", 1), ("1.3.6.1.2.1.2.2.1.2.2", b"eth1\x00")),
     DeviceEvent("ups", "link_up", {"if_index": 2, "admin_up": True, "oper_up": True,
                                    "name": "eth1"})),
    (trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.8.9", 2)),
     DeviceEvent("ups", "link_down", {"if_index": 9, "oper_up": False})),
])
def test_ups_and_link_traps_become_events(message: TrapMessage, event: DeviceEvent) -> None:
    assert trap_event(message, "ups") == event


def test_other_traps_mean_nothing() -> None:
    assert trap_event(trap("1.3.6.1.2.1.33.2.0.2"), "ups") is None
    assert trap_event(trap("1.3.6.1.4.1.9.9.41.2.0.1"), "ups") is None


def test_the_router_picks_the_device_by_source_and_counts_strangers() -> None:
    events: list[DeviceEvent] = []
    drops: list[tuple[str, str]] = []
    router = TrapRouter({"::ffff:192.0.2.30": "ups"}, events.append,
                        lambda *d: drops.append(d))
    router(trap("1.3.6.1.2.1.33.2.0.1"))
    router(TrapMessage(("192.0.2.99", 162), "1.3.6.1.2.1.33.2.0.1", ()))
    router(trap("1.3.6.1.2.1.33.2.0.2"))
    assert [e.device_id for e in events] == ["ups"]
    assert drops == [("snmp", "unknown_source")]
    assert normalize_address("::FFFF:10.0.0.1") == "10.0.0.1"
    assert normalize_address("fe80::1%eth0") == "fe80::1"


values = st.one_of(st.none(), st.integers(-(2**63), 2**64), st.binary(max_size=20),
                   st.text(max_size=30),
                   st.lists(st.integers(0, 50), min_size=2, max_size=12).map(
                       lambda p: ".".join(map(str, p))))
names = st.one_of(
    st.sampled_from(["1.3.6.1.2.1.1.3.0", "1.3.6.1.6.3.1.1.4.1.0", "1.3.6.1.2.1.33.1.2.3.0",
                     "1.3.6.1.2.1.33.1.6.2.1.2.1", "1.3.6.1.2.1.2.2.1.1.4",
                     "1.3.6.1.2.1.2.2.1.8.4", "1.3.6.1.2.1.2.2.1.2.4", "1.3.x"]),
    st.lists(st.integers(0, 2**32), min_size=1, max_size=14).map(
        lambda p: ".".join(map(str, p))))
trap_oids = st.sampled_from(["1.3.6.1.2.1.33.2.0.1", "1.3.6.1.2.1.33.2.0.3",
                             "1.3.6.1.2.1.33.2.0.4", "1.3.6.1.6.3.1.1.5.3",
                             "1.3.6.1.6.3.1.1.5.4"])


@settings(max_examples=400)
@given(st.lists(st.tuples(names, values), max_size=6), trap_oids, st.booleans())
def test_decoded_varbinds_give_a_trap_and_an_event_or_a_typed_error(
        rest: list[tuple[str, SnmpValue]], trap_oid: str, well_formed: bool) -> None:
    head: Varbinds = [UPTIME, (TRAP_OID, trap_oid)] if well_formed else []
    try:
        message = trap_from_varbinds(SOURCE, head + rest, version="2c")
    except MalformedNotification:
        return
    event = trap_event(message, "dev")
    assert event is not None
    assert event.device_id == "dev"
    for value in event.data.values():
        assert value is None or isinstance(value, bool | int | str)
