"""The uplink protocol core: frames, proofs and reconnect delays, without sockets."""

from __future__ import annotations

import json
import random
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.uplink_protocol import (
    MAX_FRAME_BYTES,
    Ack,
    Auth,
    Challenge,
    Command,
    Error,
    Heartbeat,
    Hello,
    Message,
    ProtocolViolation,
    Result,
    SessionStatus,
    SessionUpdate,
    Topology,
    UplinkBackoff,
    Welcome,
    decode,
    encode,
    new_nonce,
    proof,
    verify_proof,
)
from tests.conftest import FakeClock

MESSAGES: list[Message] = [
    Hello("xa-hoang-hop", "commune", "UBND xã Hoàng Hợp", "0.1.0"),
    Challenge("ab" * 32),
    Auth("xa-hoang-hop", "cd" * 32),
    Welcome("tinh-thanh-hoa"),
    Heartbeat(7, 1_790_000_000.5, {"devices_online": 2, "devices_total": 3, "calls": 0}),
    Ack(7),
    Error("not_authorised", "unknown site or wrong credential"),
]
TREE_MESSAGES: list[Message] = [
    Topology(0, False, [{"id": "xa-hoang-hop", "name": "UBND xã Hoàng Hợp", "level": "commune",
                         "parent": None, "online": True, "summary": {"devices_online": 2}}]),
    Topology(3, True, []),
    SessionUpdate({"id": "s-1", "title": "Họp giao ban", "state": "live", "version": 4,
                   "participants": ["xa-hoang-hop", "xa-quang-phu"], "floor": {}}),
    SessionStatus("s-1", "xa-hoang-hop", {"ready": True, "rollcall": "present", "hand": False}),
    Command("0f" * 16, "s-1", "tinh-thanh-hoa", "chutri", "xa-hoang-hop", "camera",
            {"command": "preset.recall", "args": {"preset": 2}}, 10.0),
    Result("0f" * 16, False, "local_control_only",
           "Điểm cầu đang ở chế độ chỉ điều khiển tại chỗ.", {}),
    Result("0f" * 16, True, "ok", "", {"steps": [{"ok": True}]}),
]
MESSAGES += TREE_MESSAGES


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_a_round_trip(msg: Message) -> None:
    text = encode(msg)
    assert json.loads(text)["v"] == 1
    assert decode(text) == msg
    assert decode(text.encode("utf-8")) == msg


@pytest.mark.parametrize(("text", "reason"), [
    ("", "malformed"),
    ("{not json", "malformed"),
    ("[1, 2]", "malformed"),
    ('{"type": "ack", "seq": 1}', "wrong_version"),
    ('{"v": 2, "type": "ack", "seq": 1}', "wrong_version"),
    ('{"v": true, "type": "ack", "seq": 1}', "wrong_version"),
    ('{"v": 1, "type": "launch", "seq": 1}', "unknown_type"),
    ('{"v": 1, "type": ["ack"]}', "unknown_type"),
    ('{"v": 1, "type": "ack"}', "bad_field"),
    ('{"v": 1, "type": "ack", "seq": "1"}', "bad_field"),
    ('{"v": 1, "type": "ack", "seq": -1}', "bad_field"),
    ('{"v": 1, "type": "heartbeat", "seq": 1, "at": NaN, "summary": {}}', "bad_field"),
    ('{"v": 1, "type": "heartbeat", "seq": 1, "at": 1, "summary": []}', "bad_field"),
    ('{"v": 1, "type": "welcome", "parent_id": 5}', "bad_field"),
    ("[" * (MAX_FRAME_BYTES + 1), "too_large"),
    ("[" * 100_000, "malformed"),
    ("[" * 10_000, "malformed"),
])
def test_garbage_becomes_a_typed_violation(text: str, reason: str) -> None:
    result = decode(text)
    assert isinstance(result, ProtocolViolation)
    assert result.reason == reason


def test_a_frame_over_the_limit_is_refused_before_parsing() -> None:
    big = encode(Error("x", "é" * (MAX_FRAME_BYTES // 2)))  # under the limit in characters
    assert len(big) < MAX_FRAME_BYTES < len(big.encode("utf-8"))
    result = decode(big)
    assert isinstance(result, ProtocolViolation)
    assert result.reason == "too_large"


def test_the_proof_binds_credential_nonce_and_site() -> None:
    nonce = new_nonce()
    assert nonce != new_nonce()
    good = proof("s3cret", nonce, "xa-hoang-hop")
    assert verify_proof("s3cret", nonce, "xa-hoang-hop", good)
    assert not verify_proof("other", nonce, "xa-hoang-hop", good)
    assert not verify_proof("s3cret", new_nonce(), "xa-hoang-hop", good)
    assert not verify_proof("s3cret", nonce, "xa-quang-phu", good)
    assert not verify_proof("s3cret", nonce, "xa-hoang-hop", "")
    assert not verify_proof("s3cret", nonce, "xa-hoang-hop", "không-phải-hex")


def test_backoff_grows_with_jitter_caps_and_resets(clock: FakeClock) -> None:
    backoff = UplinkBackoff(initial=1.0, maximum=8.0, rng=random.Random(4))
    assert backoff.delay(clock()) == 0.0
    delays = []
    for _ in range(6):
        due = backoff.failed(clock())
        delays.append(due - clock())
        assert backoff.delay(clock()) == pytest.approx(due - clock())
        clock.advance(due - clock() + 0.001)
        assert backoff.delay(clock()) == 0.0
    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 2.0 ** attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.failures == 6
    backoff.succeeded()
    assert backoff.failures == 0
    assert backoff.delay(clock()) == 0.0
    assert backoff.failed(clock()) - clock() <= 1.0


# -- the tree's messages: topology, session, status, command, result --------------------------

WRONG_VALUES: dict[str, list[Any]] = {
    "int": ["1", -1, True, 1.5, None, 2**63],
    "float": ["1.0", True, None, [1.0], float("inf")],
    "bool": [1, "true", None],
    "str": [5, None, ["x"], "x" * 257],
    "dict": [[], "x", None, 1],
    "list": [{}, "x", None, 1],
}


def _wrong_typed_cases() -> list[tuple[str, str, Any]]:
    cases = []
    for msg in TREE_MESSAGES[::-1]:
        body = json.loads(encode(msg))
        for f in fields(msg):
            kind = str(f.type).split("[", 1)[0]
            for value in WRONG_VALUES[kind]:
                cases.append((body["type"], f.name, value))
    return sorted(set((t, n, json.dumps(v, allow_nan=True)) for t, n, v in cases))


@pytest.mark.parametrize(("kind", "name", "value"), _wrong_typed_cases())
def test_each_field_of_a_tree_message_is_checked(kind: str, name: str, value: str) -> None:
    msg = next(m for m in TREE_MESSAGES if json.loads(encode(m))["type"] == kind)
    body = json.loads(encode(msg))
    body[name] = json.loads(value)
    result = decode(json.dumps(body))
    assert isinstance(result, ProtocolViolation), result
    assert result.reason == "bad_field"
    assert name in result.detail
    del body[name]
    missing = decode(json.dumps(body))
    assert isinstance(missing, ProtocolViolation)
    assert missing.reason == "bad_field"


def test_a_whole_number_ttl_is_a_float() -> None:
    body = json.loads(encode(TREE_MESSAGES[4]))
    body["ttl"] = 5
    result = decode(json.dumps(body))
    assert isinstance(result, Command)
    assert result.ttl == 5.0
    assert isinstance(result.ttl, float)


def test_a_huge_integer_in_a_number_field_is_a_violation() -> None:
    text = encode(TREE_MESSAGES[4]).replace('"ttl":10.0', '"ttl":1' + "0" * 400)
    result = decode(text)
    assert isinstance(result, ProtocolViolation)
    assert result.reason == "bad_field"


def test_extra_fields_are_ignored() -> None:
    msg = TREE_MESSAGES[3]
    body = json.loads(encode(msg))
    body["unexpected"] = {"x": 1}
    assert decode(json.dumps(body)) == msg


@pytest.mark.parametrize("msg", TREE_MESSAGES, ids=lambda m: type(m).__name__)
def test_every_cut_of_a_frame_is_malformed(msg: Message) -> None:
    data = encode(msg).encode("utf-8")
    for end in range(len(data)):
        result = decode(data[:end])
        assert isinstance(result, ProtocolViolation), (end, result)
        assert result.reason == "malformed"


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = decode(data)
    assert isinstance(result, ProtocolViolation)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(TREE_MESSAGES) - 1), position=st.integers(0, 10_000),
       byte=st.integers(0, 255))
def test_a_damaged_frame_never_raises(index: int, position: int, byte: int) -> None:
    data = bytearray(encode(TREE_MESSAGES[index]).encode("utf-8"))
    data[position % len(data)] = byte
    result = decode(bytes(data))
    assert isinstance(result, ProtocolViolation | type(TREE_MESSAGES[index])), result


def test_messages_are_frozen() -> None:
    cmd = TREE_MESSAGES[4]
    assert isinstance(cmd, Command)
    with pytest.raises(AttributeError):
        cmd.ttl = 1.0  # type: ignore[misc]
    assert replace(cmd, ttl=1.0) != cmd
