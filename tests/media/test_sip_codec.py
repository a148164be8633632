"""SIP codec, digest, transactions and endpoint: bytes in, events out, a fake clock."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.sip.dialog import Dialog, Local, build_request, make_response
from media.sip.digest import (
    Challenge,
    DigestError,
    authorization,
    digest_response,
    parse_challenge,
)
from media.sip.endpoint import MessageDropped, RequestReceived, SipEndpoint, StrayResponse
from media.sip.message import (
    NEED_DATA,
    MessageReceived,
    NameAddr,
    ParseError,
    SipRequest,
    SipResponse,
    StreamParser,
    parse_datagram,
    parse_name_addr,
)
from media.sip.transaction import (
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    TimerValues,
    TransactionTimedOut,
    TxState,
)

DATA = Path(__file__).parent.parent / "data" / "sip"
CAPTURES = sorted(DATA.glob("*.txt"))


def capture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def drain(parser: StreamParser) -> list[MessageReceived | ParseError]:
    events: list[MessageReceived | ParseError] = []
    while (event := parser.next_event()) is not NEED_DATA:
        assert isinstance(event, MessageReceived | ParseError)
        events.append(event)
    return events


def only_message(event: object) -> SipRequest | SipResponse:
    assert isinstance(event, MessageReceived), event
    return event.message


# -- parser --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_capture_parses_as_datagram_and_stream(path: Path) -> None:
    data = path.read_bytes()
    whole = only_message(parse_datagram(data))
    parser = StreamParser()
    for i in range(len(data)):
        parser.feed(data[i:i + 1])
    events = drain(parser)
    assert len(events) == 1
    assert only_message(events[0]) == whole
    assert len(whole.body) == int(whole.header("Content-Length") or 0)
    assert whole.call_id


def test_baresip_answer_fields() -> None:
    msg = only_message(parse_datagram(capture("baresip-200-answer-sdp.txt")))
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (200, "Answering")
    assert msg.cseq == (1, "INVITE")
    assert msg.top_via.params["received"] == "198.18.0.1"
    assert msg.top_via.params["rport"] == "56569"
    assert parse_name_addr(msg.header("to") or "").tag == "53fd762cfbb8a1e2"
    assert b"UDP/TLS/RTP/SAVPF" in msg.body
    assert msg.body.endswith(b"a=rtcp-mux\r\n")


def test_folded_header_is_joined() -> None:
    msg = only_message(parse_datagram(capture("rfc3665-401-challenge.txt")))
    assert msg.top_via.params["received"] == "192.0.2.201"
    challenge = parse_challenge(msg.header("WWW-Authenticate") or "")
    assert challenge == Challenge("atlanta.example.com", "ea9c8e88df84f1cec4341ae6cbe5a359",
                                  "MD5", ("auth",), "", False)


def test_compact_forms_multiple_via_and_case() -> None:
    data = (b"OPTIONS sip:conf@198.18.0.1 SIP/2.0\r\n"
            b"v: SIP/2.0/UDP a.example:5060;branch=z9hG4bK1, "
            b"SIP/2.0/TCP b.example;branch=z9hG4bK2\r\n"
            b"VIA: SIP/2.0/UDP c.example:5070;branch=z9hG4bK3\r\n"
            b"f: <sip:a@example>;tag=1\r\nt: <sip:conf@198.18.0.1>\r\ni: abc@x\r\n"
            b"cseq: 7 OPTIONS\r\nl: 0\r\n\r\n")
    msg = only_message(parse_datagram(data))
    vias = msg.header_all("via")
    assert [v.split()[1].split(";")[0] for v in vias] == [
        "a.example:5060", "b.example", "c.example:5070"]
    assert msg.top_via.branch == "z9hG4bK1"
    assert msg.call_id == "abc@x"
    assert msg.cseq == (7, "OPTIONS")
    assert msg.header("Content-Length") == "0"


def test_stream_with_trailing_data_and_keepalives() -> None:
    invite, bye = capture("rfc3665-invite-sdp.txt"), capture("rfc3665-bye.txt")
    parser = StreamParser()
    parser.feed(b"\r\n\r\n" + invite + b"\r\n" + bye + bye[:20])
    events = drain(parser)
    assert [only_message(e).cseq[1] for e in events] == ["INVITE", "BYE"]
    parser.feed(bye[20:])
    assert [only_message(e).cseq[1] for e in drain(parser)] == ["BYE"]


def test_garbage_block_is_dropped_and_framing_resumes() -> None:
    parser = StreamParser()
    parser.feed(b"\x16\x03\x01 not SIP at all\r\n\r\n" + capture("rfc3665-bye.txt"))
    events = drain(parser)
    assert isinstance(events[0], ParseError)
    assert not events[0].fatal
    assert only_message(events[1]).cseq == (1, "BYE")


def test_oversized_message_breaks_the_stream() -> None:
    parser = StreamParser(max_size=1000)
    parser.feed(b"INVITE sip:x@y SIP/2.0\r\nSubject: " + b"x" * 2000)
    events = drain(parser)
    assert len(events) == 1
    assert isinstance(events[0], ParseError)
    assert events[0].fatal
    parser.feed(capture("rfc3665-bye.txt"))
    assert drain(parser) == []


def test_huge_content_length_is_fatal() -> None:
    parser = StreamParser()
    parser.feed(capture("rfc3665-bye.txt").replace(b"Length: 0", b"Length: 99999999"))
    events = drain(parser)
    assert isinstance(events[0], ParseError)
    assert events[0].fatal


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "truncated"),
    (b"SIP/2.0 99 Too Low\r\n\r\n", "bad status"),
    (b"INVITE sip:x@y SIP/3.0\r\n\r\n", "bad request line"),
    (capture("rfc3665-bye.txt").replace(b"CSeq: 1 BYE\r\n", b""), "missing CSeq"),
    (capture("rfc3665-bye.txt").replace(b"CSeq: 1 BYE", b"CSeq: one BYE"), "bad CSeq"),
    (capture("rfc3665-bye.txt").replace(b"Length: 0", b"Length: 5"), "body shorter"),
    (b"\xff\xfe INVITE\r\n\r\n", "not UTF-8"),
])
def test_malformed_datagrams_become_errors(data: bytes, reason: str) -> None:
    event = parse_datagram(data)
    assert isinstance(event, ParseError)
    assert reason in event.reason


def test_serialise_round_trip() -> None:
    local = Local("198.18.0.1", 5062, "UDP")
    request = build_request("INVITE", "sip:conf@198.18.0.1", local=local,
                            from_addr=NameAddr("Xã Hoàng Hợp", "sip:a@x", {"tag": "t1"}),
                            to_addr=NameAddr("", "sip:conf@198.18.0.1"), call_id="c@x", cseq=3,
                            headers=(("Content-Type", "application/sdp"),), body=b"v=0\r\n")
    again = only_message(parse_datagram(request.encode()))
    assert again == request.with_headers(("Content-Length", "5"))
    assert parse_name_addr(again.header("From") or "").display == "Xã Hoàng Hợp"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=50))
def test_fuzz_parsers_only_yield_typed_events(data: bytes, chunk: int) -> None:
    assert isinstance(parse_datagram(data), MessageReceived | ParseError)
    parser = StreamParser(max_size=400)
    for i in range(0, len(data), chunk):
        parser.feed(data[i:i + chunk])
        drain(parser)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    b"\r\n", b"INVITE sip:a@b SIP/2.0\r\n", b"SIP/2.0 200 OK\r\n", b"ACK sip:a@b SIP/2.0\r\n",
    b"Via: SIP/2.0/UDP h;branch=z\r\n", b"Via: x\r\n", b"CSeq: 1 INVITE\r\n", b"CSeq: 1 ACK\r\n",
    b"CSeq: 2 BYE\r\n", b"Call-ID: c\r\n", b"From: <sip:a@b>;tag=1\r\n", b"To: <sip:c@d>\r\n",
    b"To: <sip:c@d\r\n", b"Content-Length: 3\r\n", b"l: 99\r\n", b" folded\r\n", b"abc",
    b"\x00\xff"]), max_size=30), st.booleans())
def test_fuzz_endpoint_never_raises(parts: list[bytes], reliable: bool) -> None:
    endpoint = SipEndpoint(reliable=reliable)
    data = b"".join(parts)
    endpoint.receive_data(data, 0.0)
    endpoint.handle_timer(100.0)
    while (event := endpoint.next_event()) is not None:
        assert isinstance(event, MessageDropped | RequestReceived | StrayResponse)


# -- digest --------------------------------------------------------------------------------

def test_digest_rfc2617_example() -> None:
    challenge = Challenge("testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "MD5",
                          ("auth",), "5ccc069c403ebaf9f0171e9517f40e41")
    assert digest_response(challenge, username="Mufasa", password="Circle Of Life",
                           method="GET", uri="/dir/index.html", cnonce="0a4f113b",
                           nc=1) == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_digest_rfc7616_examples(algorithm: str, expected: str) -> None:
    header = (f'Digest realm="http-auth@example.org", qop="auth, auth-int", '
              f'algorithm={algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
              'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    challenge = parse_challenge(header)
    value = authorization(challenge, username="Mufasa", password="Circle of Life",
                          method="GET", uri="/dir/index.html",
                          cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert f'response="{expected}"' in value
    assert "nc=00000001" in value
    assert 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in value


@pytest.mark.parametrize("header", [
    'Basic realm="x"', 'Digest nonce="n"', 'Digest realm="r", nonce="n", algorithm=SHA-1',
    'Digest realm="r", nonce="n", qop="auth-int"'])
def test_unanswerable_challenges(header: str) -> None:
    with pytest.raises(DigestError):
        parse_challenge(header)


# -- transactions with a fake clock ---------------------------------------------------------

def _request(method: str, branch: str = "z9hG4bKtest") -> SipRequest:
    return build_request(method, "sip:conf@198.18.0.1", local=Local("198.18.0.1", 5062, "UDP"),
                         from_addr=NameAddr("", "sip:a@x", {"tag": "f"}),
                         to_addr=NameAddr("", "sip:conf@198.18.0.1"), call_id="c@x", cseq=1,
                         branch=branch)


def _run(tx: ClientTransaction | ServerTransaction, until: float) -> list[float]:
    """Step the clock from timer to timer; return when something was sent."""
    sent: list[float] = []
    tx.outgoing.clear()
    while (due := tx.get_timer()) is not None and due <= until:
        tx.handle_timer(due)
        if tx.outgoing:
            sent.append(round(due, 3))
            tx.outgoing.clear()
    return sent


def test_invite_client_retransmits_then_times_out_at_64_t1() -> None:
    tx = ClientTransaction(_request("INVITE"), 0.0, reliable=False)
    assert len(tx.outgoing) == 1
    sent = _run(tx, 100.0)
    # Timer A: T1, 2T1, 4T1, ... from each send (§17.1.1.2), Timer B = 64*T1.
    assert sent == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tx.events == [TransactionTimedOut(tx.key, "INVITE")]
    assert tx.state is TxState.TERMINATED


def test_non_invite_client_caps_at_t2() -> None:
    tx = ClientTransaction(_request("OPTIONS"), 0.0, reliable=False)
    sent = _run(tx, 100.0)
    assert sent == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert tx.events == [TransactionTimedOut(tx.key, "OPTIONS")]


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    request = _request("REGISTER")
    tx = ClientTransaction(request, 0.0, reliable=False)
    tx.handle_timer(0.5)
    tx.receive_response(make_response(request, 100, "Trying"), 0.6)
    tx.outgoing.clear()
    assert _run(tx, 12.0) == [1.5, 5.5, 9.5]


def test_reliable_transport_never_retransmits() -> None:
    tx = ClientTransaction(_request("INVITE"), 0.0, reliable=True)
    assert _run(tx, 100.0) == []
    assert tx.events == [TransactionTimedOut(tx.key, "INVITE")]


def test_invite_client_acks_a_failure_and_absorbs_retransmits() -> None:
    request = _request("INVITE")
    tx = ClientTransaction(request, 0.0, reliable=False)
    tx.outgoing.clear()
    busy = make_response(request, 486, "Busy Here", to_tag="x")
    tx.receive_response(make_response(request, 180, "Ringing", to_tag="x"), 0.2)
    tx.receive_response(busy, 0.3)
    assert tx.state is TxState.COMPLETED
    ack = only_message(parse_datagram(tx.outgoing.pop()))
    assert isinstance(ack, SipRequest)
    assert (ack.method, ack.cseq, ack.top_via.branch) == ("ACK", (1, "ACK"), "z9hG4bKtest")
    assert parse_name_addr(ack.header("To") or "").tag == "x"
    tx.receive_response(busy, 1.0)
    assert len(tx.outgoing) == 1  # the ACK again, the TU hears nothing new
    assert [e.response.status for e in tx.events if isinstance(e, ResponseReceived)] == [180, 486]
    tx.handle_timer(0.3 + 32.0)  # Timer D
    assert tx.terminated


def test_invite_client_2xx_passes_retransmits_up_until_timer_m() -> None:
    request = _request("INVITE")
    tx = ClientTransaction(request, 0.0, reliable=False)
    ok = make_response(request, 200, "OK", to_tag="x")
    tx.receive_response(ok, 0.1)
    tx.receive_response(ok, 0.6)
    assert [e.response.status for e in tx.events if isinstance(e, ResponseReceived)] == [200, 200]
    tx.handle_timer(0.1 + 32.0)
    assert tx.state is TxState.TERMINATED


def test_invite_server_retransmits_failure_until_ack() -> None:
    request = _request("INVITE")
    tx = ServerTransaction(request, 0.0, reliable=False)
    tx.send_response(make_response(request, 488, "Not Acceptable Here", to_tag="y"), 0.0)
    tx.outgoing.clear()
    assert _run(tx, 4.0) == [0.5, 1.5, 3.5]  # Timer G
    ack = SipRequest(headers=request.with_headers(("CSeq", "1 ACK"), drop=("CSeq",)).headers,
                     method="ACK", uri=request.uri)
    tx.receive_request(ack, 4.0)
    assert tx.state is TxState.CONFIRMED
    tx.handle_timer(4.0 + 5.0)  # Timer I = T4
    assert tx.terminated


def test_invite_server_times_out_without_ack() -> None:
    request = _request("INVITE")
    tx = ServerTransaction(request, 0.0, reliable=False)
    tx.send_response(make_response(request, 404, "Not Found", to_tag="y"), 0.0)
    sent = _run(tx, 100.0)
    assert sent[:4] == [0.5, 1.5, 3.5, 7.5]
    assert all(b - a == pytest.approx(4.0) for a, b in itertools.pairwise(sent[4:]))
    assert tx.events == [TransactionTimedOut(tx.key, "INVITE")]


def test_non_invite_server_answers_retransmits_until_timer_j() -> None:
    request = _request("OPTIONS")
    tx = ServerTransaction(request, 0.0, reliable=False)
    tx.receive_request(request, 0.1)
    assert tx.outgoing == []  # Trying: the TU has not answered yet
    tx.send_response(make_response(request, 200, "OK", to_tag="y"), 0.2)
    tx.receive_request(request, 0.7)
    assert len(tx.outgoing) == 2
    tx.handle_timer(0.2 + 32.0)  # Timer J = 64*T1
    assert tx.state is TxState.TERMINATED


def test_custom_t1_scales_every_timer() -> None:
    tx = ClientTransaction(_request("INVITE"), 0.0, reliable=False, timers=TimerValues(t1=0.1))
    assert _run(tx, 100.0) == [0.1, 0.3, 0.7, 1.5, 3.1, 6.3]


# -- two endpoints wired together (no sockets) ----------------------------------------------

def test_two_endpoints_complete_invite_and_bye() -> None:
    alice, bob = SipEndpoint(reliable=False), SipEndpoint(reliable=False)
    now = 0.0
    local = Local("198.18.0.1", 5062, "UDP")
    invite = build_request("INVITE", "sip:bob@198.18.0.1", local=local,
                           from_addr=NameAddr("", "sip:alice@x", {"tag": "a1"}),
                           to_addr=NameAddr("", "sip:bob@198.18.0.1"), call_id="call@x",
                           cseq=1, body=b"v=0\r\n")
    alice.send_request(invite, now)
    for data in alice.data_to_send():
        bob.receive_data(data, now)
    received = bob.next_event()
    assert isinstance(received, RequestReceived)
    ok = make_response(received.request, 200, "OK", to_tag="b1",
                       headers=(("Contact", "<sip:bob@198.18.0.1:5070>"),))
    bob.send_response(ok, now)
    for data in bob.data_to_send():
        alice.receive_data(data, now)
    answer = alice.next_event()
    assert isinstance(answer, ResponseReceived)
    dialog = Dialog.from_uac(invite, answer.response)
    assert (dialog.remote_tag, dialog.remote_target) == ("b1", "sip:bob@198.18.0.1:5070")
    alice.send_request(dialog.ack(1, local), now)
    bye = dialog.request("BYE", local)
    assert bye.cseq == (2, "BYE")
    alice.send_request(bye, now)
    for data in alice.data_to_send():
        bob.receive_data(data, now + 0.1)
    kinds = [e.request.method for e in iter(bob.next_event, None) if isinstance(e, RequestReceived)]
    assert kinds == ["ACK", "BYE"]
    # Bob's 2xx stopped retransmitting once the ACK arrived.
    bob.handle_timer(now + 1.0)
    assert bob.data_to_send() == []


def test_dialog_route_set_is_reversed_record_route() -> None:
    invite = _request("INVITE")
    ok = make_response(invite, 200, "OK", to_tag="b", headers=(
        ("Record-Route", "<sip:p1.example;lr>, <sip:p2.example;lr>"),
        ("Contact", "<sip:bob@10.0.0.1>")))
    dialog = Dialog.from_uac(invite, ok)
    assert dialog.route_set == ("<sip:p2.example;lr>", "<sip:p1.example;lr>")
    bye = dialog.request("BYE", Local("h", 1, "UDP"))
    assert bye.header_all("Route") == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert bye.uri == "sip:bob@10.0.0.1"
