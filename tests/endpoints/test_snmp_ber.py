"""The v2c codec: captured snmpd answers, pysnmp as a second opinion, fuzzing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v2c

from endpoints.snmp.ber import (
    GET,
    GET_BULK,
    RESPONSE,
    SET,
    MalformedMessage,
    Response,
    VarbindException,
    decode_oid,
    decode_response,
    encode_oid,
    encode_request,
)
from endpoints.snmp.values import Oid, TypedValue, oid_text, plain_value, typed_value

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"
REASONS = {"not_snmp", "truncated", "bad_length", "bad_tag", "bad_integer", "bad_version",
           "bad_community", "bad_oid", "bad_value", "bad_varbind", "trailing_data",
           "too_many_varbinds"}


def capture(name: str) -> bytes:
    """An answer net-snmp's snmpd sent (community "public"), kept as hex."""
    return bytes.fromhex((DATA / f"{name}.hex").read_text().strip())


def outcome(data: bytes, community: bytes | None = None) -> str:
    """"ok", or why the datagram is refused."""
    try:
        decode_response(data, community)
    except MalformedMessage as exc:
        return exc.reason
    return "ok"


def test_a_captured_get_response_decodes_every_type() -> None:
    response = decode_response(capture("snmpd-get-response"), b"public")
    assert (response.request_id, response.error_status, response.error_index) == (4242, 0, 0)
    values = {oid_text(oid): value for oid, value in response.varbinds}
    assert isinstance(values["1.3.6.1.2.1.1.1.0"], bytes)
    assert values["1.3.6.1.2.1.1.2.0"] == "1.3.6.1.4.1.8072.3.2.10"  # OID value
    assert isinstance(values["1.3.6.1.2.1.1.3.0"], int)  # TimeTicks
    assert isinstance(values["1.3.6.1.2.1.31.1.1.1.6.1"], int)  # Counter64
    assert values["1.3.6.1.2.1.4.20.1.1.127.0.0.1"] == "127.0.0.1"  # IpAddress
    assert values["1.3.6.1.2.1.2.2.1.8.1"] == 1
    assert values["1.3.6.1.4.1.8072.9999.77.0"] is VarbindException.NO_SUCH_OBJECT
    assert values["1.3.6.1.2.1.1.7.0"] is VarbindException.NO_SUCH_INSTANCE


def test_a_captured_getbulk_response_is_in_order() -> None:
    response = decode_response(capture("snmpd-getbulk-iftable-response"))
    names = [oid for oid, _ in response.varbinds]
    assert len(names) == 30
    assert names == sorted(names)
    assert names[0] == (1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 1)


@pytest.mark.parametrize("name", ["snmpd-get-response", "snmpd-getbulk-iftable-response"])
def test_cut_padded_or_foreign_captures_are_refused(name: str) -> None:
    data = capture(name)
    assert {outcome(data[:cut]) for cut in range(len(data))} <= REASONS
    assert outcome(data + b"\x00") == "trailing_data"
    assert outcome(data, b"private") == "bad_community"


def pysnmp_decode(data: bytes) -> Any:
    message, rest = decoder.decode(data, asn1Spec=v2c.Message())
    assert rest == b""
    return message


def test_requests_decode_in_pysnmp_as_sent() -> None:
    oids = [(1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 3, 6, 1, 4, 1, 2**32 - 1, 0)]
    message = pysnmp_decode(encode_request(b"c0mm", 2**31 - 1, GET, [(o, None) for o in oids]))
    assert str(v2c.apiMessage.get_community(message)) == "c0mm"
    pdu = v2c.apiMessage.get_pdu(message)
    assert pdu.tagSet == v2c.GetRequestPDU.tagSet
    assert int(v2c.apiPDU.get_request_id(pdu)) == 2**31 - 1
    assert [tuple(n) for n, _ in v2c.apiPDU.get_varbinds(pdu)] == oids
    bulk = v2c.apiMessage.get_pdu(pysnmp_decode(encode_request(
        b"c", 1, GET_BULK, [(oids[0], None)], non_repeaters=0, max_repetitions=25)))
    assert int(v2c.apiBulkPDU.get_max_repetitions(bulk)) == 25
    set_pdu = v2c.apiMessage.get_pdu(pysnmp_decode(encode_request(
        b"c", 1, SET, [(oids[0], typed_value(-5)), (oids[1], typed_value("ổn"))])))
    values = [value for _, value in v2c.apiPDU.get_varbinds(set_pdu)]
    assert int(values[0]) == -5
    assert bytes(values[1]) == "ổn".encode()


def pysnmp_response(varbinds: list[tuple[Oid, Any]], community: str = "c") -> bytes:
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, 99)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


def test_responses_encoded_by_pysnmp_decode_alike() -> None:
    values = [rfc1902.Integer32(-(2**31)), rfc1902.Counter64(2**64 - 1),
              rfc1902.Counter32(2**32 - 1), rfc1902.Gauge32(0), rfc1902.TimeTicks(2**32 - 1),
              rfc1902.OctetString(b""), rfc1902.IpAddress("10.1.2.3"),
              rfc1902.ObjectIdentifier((2, 999, 2**32 - 1)), rfc1902.Opaque(b"\x9f\x78"),
              rfc1902.Null(""), rfc1905.EndOfMibView("")]
    varbinds: list[tuple[Oid, Any]] = [((1, 3, 6, 1, 9, i), v) for i, v in enumerate(values)]
    response = decode_response(pysnmp_response(varbinds), b"c")
    assert response.request_id == 99
    ours = [value for _, value in response.varbinds]
    assert ours[:-1] == [plain_value(value) for value in values[:-1]]
    assert ours[-1] is VarbindException.END_OF_MIB_VIEW


oids = st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=40).map(
    lambda p: (p[0] % 3, p[1] % 40 if p[0] % 3 < 2 else p[1], *p[2:]))
typed = st.one_of(
    st.none(),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: typed_value(v)),
    st.integers(0, 2**32 - 1).map(lambda v: typed_value(v, "gauge")),
    st.binary(max_size=300).map(lambda v: typed_value(v)),
    oids.map(lambda o: typed_value(oid_text(o), "oid")),
    st.ip_addresses(v=4).map(lambda a: typed_value(str(a), "ipaddress")))


def expected(value: TypedValue | None) -> Any:
    if value is None:
        return None
    tag, payload = value
    if tag == 0x40:
        assert isinstance(payload, bytes)
        return ".".join(map(str, payload))
    return oid_text(payload) if isinstance(payload, tuple) else payload


@settings(max_examples=300)
@given(st.binary(max_size=40), st.integers(0, 2**31 - 1),
       st.lists(st.tuples(oids, typed), max_size=20))
def test_encoded_varbinds_decode_back(community: bytes, request_id: int,
                                      varbinds: list[tuple[Oid, TypedValue | None]]) -> None:
    response = decode_response(encode_request(community, request_id, RESPONSE, varbinds),
                               community)
    assert response == Response(request_id, 0, 0,
                                tuple((oid, expected(value)) for oid, value in varbinds))


@given(oids)
def test_oid_contents_round_trip(oid: Oid) -> None:
    assert decode_oid(encode_oid(oid)) == oid


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_give_a_typed_reason(data: bytes) -> None:
    assert outcome(data) in REASONS | {"ok"}


@settings(max_examples=400)
@given(st.sampled_from(["snmpd-get-response", "snmpd-getbulk-iftable-response"]), st.data())
def test_mutated_captures_decode_or_give_a_typed_reason(name: str, data: st.DataObject) -> None:
    octets = bytearray(capture(name))
    for _ in range(data.draw(st.integers(1, 4))):
        octets[data.draw(st.integers(0, len(octets) - 1))] = data.draw(st.integers(0, 255))
    assert outcome(bytes(octets)) in REASONS | {"ok"}
