"""The uplink protocol core: frames, proofs and reconnect delays, without sockets."""

from __future__ import annotations

import json
import random

import pytest

from controller.uplink_protocol import (
    MAX_FRAME_BYTES,
    Ack,
    Auth,
    Challenge,
    Error,
    Heartbeat,
    Hello,
    Message,
    ProtocolViolation,
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
