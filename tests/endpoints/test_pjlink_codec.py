"""PJLink codec: byte exchanges replayed whole, byte by byte and with garbage; fuzzed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endpoints.errors import (
    AuthenticationFailedError,
    CommandArgumentError,
    DeviceBusyError,
    DeviceRefusedError,
    LocalProtocolError,
    RemoteProtocolError,
    is_retryable,
)
from endpoints.framing import FrameDropped, sanitize
from endpoints.interfaces import PowerState, ProjectorErrors
from endpoints.pjlink.codec import (
    MAX_LINE,
    AuthRejected,
    AvMute,
    Command,
    Event,
    Greeting,
    InputMap,
    Lamp,
    Notification,
    PjlinkClientCodec,
    Reply,
    auth_digest,
    parse_av_mute,
    parse_class,
    parse_datagram,
    parse_error_status,
    parse_input_list,
    parse_lamps,
    parse_mac,
    parse_power,
    parse_request,
    query,
    reply_error,
)
from tests.endpoints.captures import Capture, feed_bytewise, feed_whole, load_capture

DATA = Path(__file__).resolve().parent.parent / "data" / "pjlink"
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


Feeder = Callable[[PjlinkClientCodec, bytes], list[Event]]

NOISE = b"\x07\xfe noise\x00 =\r"


def feed_with_garbage(codec: PjlinkClientCodec, data: bytes) -> list[Event]:
    return feed_whole(codec, NOISE + data) if codec.greeted else feed_whole(codec, data)


def replay(capture: Capture, feeder: Feeder) -> list[Event]:
    """Feed every rx step; check every tx step is exactly what the codec would send."""
    codec = PjlinkClientCodec(capture.meta.get("password"))
    events: list[Event] = []
    for kind, data in capture.steps:
        if kind == "rx":
            events.extend(feeder(codec, data))
        else:
            request = parse_request(data.removesuffix(b"\r"))
            assert request is not None, data
            assert codec.encode(request.command) == data
    return events


def replies(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.body, e.value) for e in events if isinstance(e, Reply)]


EPSON_REPLIES = [
    ("POWR", "0"), ("CLSS", "1"), ("INF1", "EPSON"), ("INF2", "EB-2250U"),
    ("NAME", "EB2250U-HT"), ("INST", "11 21 31 32 41 52"), ("POWR", "OK"), ("POWR", "3"),
    ("INPT", "ERR3"), ("POWR", "1"), ("INPT", "OK"), ("INPT", "32"), ("AVMT", "OK"),
    ("AVMT", "31"), ("LAMP", "1532 1"), ("ERST", "000010"), ("INPT", "ERR2"),
]
NEC_REPLIES = [
    ("CLSS", "2"), ("INST", "11 31 32 3A 61"), ("INNM", "HDBaseT"),
    ("NAME", "Phòng họp tầng 2"), ("INPT", "OK"), ("INPT", "3A"), ("IRES", "1920x1200"),
    ("FILT", "412"), ("SNUM", "9Y00123AB"), ("SVER", "R1.05.003"), ("LAMP", "ERR1"),
    ("ERST", "002000"),
]
FEEDERS = [feed_whole, feed_bytewise, feed_with_garbage]


def test_the_specs_md5_example() -> None:
    assert auth_digest("498e4a67", "JBMIAProjectorLink") == "5d8409bc1c3fa39749434aa3a5c38682"


@pytest.mark.parametrize("feeder", FEEDERS)
def test_epson_class1_capture(feeder: Feeder) -> None:
    events = replay(load_capture(DATA / "epson-class1.txt"), feeder)
    assert events[0] == Greeting(True, "498e4a67")
    assert replies(events) == EPSON_REPLIES
    noise = [e for e in events if isinstance(e, FrameDropped)]
    assert noise == ([FrameDropped("garbage")] * 17 if feeder is feed_with_garbage else [])


@pytest.mark.parametrize("feeder", FEEDERS)
def test_nec_class2_capture_with_padding_and_tcp_linkup(feeder: Feeder) -> None:
    capture = load_capture(DATA / "nec-class2.txt")
    events = replay(capture, feeder)
    assert events[0] == Greeting(False)
    assert Notification("LKUP", "00:40:9d:12:34:56") in events
    assert replies(events) == NEC_REPLIES
    received = sum(1 for kind, _ in capture.steps if kind == "rx")
    inserted = received - 1 if feeder is feed_with_garbage else 0
    assert [e for e in events if isinstance(e, FrameDropped)] == \
        [FrameDropped("garbage")] * (1 + inserted)
    assert capture.meta["drops"] == "garbage:1"


def test_auth_rejected_capture() -> None:
    events = replay(load_capture(DATA / "auth-rejected.txt"), feed_whole)
    assert events == [Greeting(True, "0a1b2c3d"), AuthRejected()]


def test_capture_values_mean_what_a_user_sees() -> None:
    by_body: dict[str, list[str]] = {}
    for body, value in EPSON_REPLIES:
        by_body.setdefault(body, []).append(value)
    assert [parse_power(v) for v in by_body["POWR"] if v != "OK"] == [
        PowerState.OFF, PowerState.WARMING, PowerState.ON]
    assert parse_lamps(by_body["LAMP"][0]) == [Lamp(1532, True)]
    assert parse_error_status(by_body["ERST"][0]).problems() == {"filter": "warning"}
    assert parse_av_mute("31") == AvMute(True, True)
    assert parse_input_list(by_body["INST"][0]) == ["11", "21", "31", "32", "41", "52"]
    busy = reply_error(Reply(1, "INPT", "ERR3"))
    assert isinstance(busy, DeviceBusyError)
    assert busy.device_code == "ERR3"
    assert is_retryable(busy)


def test_udp_notifications_capture() -> None:
    capture = load_capture(DATA / "class2-notifications.udp.txt")
    got = [item for _, datagram in capture.steps for item in parse_datagram(datagram)]
    assert got == [
        Notification("LKUP", "00:40:9d:12:34:56"), Notification("POWR", "3"),
        Notification("POWR", "1"), Notification("INPT", "3A"), Notification("AVMT", "31"),
        Notification("ERST", "000010"), Notification("POWR", "2"),
    ]
    assert parse_mac("00:40:9D:12:34:56") == "00:40:9d:12:34:56"


def test_udp_datagrams_that_are_not_notifications_are_dropped() -> None:
    assert parse_datagram(b"%1POWR=1\r") == [FrameDropped("unexpected")]
    assert parse_datagram(b"%2SRCH\r") == [FrameDropped("garbage")]
    assert parse_datagram(b"\xff" * 2000) == [FrameDropped("overlong")]
    assert parse_datagram(b"%2POWR=1") == [Notification("POWR", "1")]  # CR is optional


def greeted(password: str | None = None, greeting: bytes = b"PJLINK 0\r") -> PjlinkClientCodec:
    codec = PjlinkClientCodec(password)
    assert len(feed_whole(codec, greeting)) == 1
    return codec


def test_digest_only_on_the_first_command() -> None:
    codec = greeted("JBMIAProjectorLink", b"PJLINK 1 498e4a67\r")
    assert codec.encode(query("POWR")) == b"5d8409bc1c3fa39749434aa3a5c38682%1POWR ?\r"
    assert codec.encode(Command("POWR", "1")) == b"%1POWR 1\r"
    assert codec.encode(Command("INPT", "3A", 2)) == b"%2INPT 3A\r"


def test_no_command_before_greeting_and_no_password_when_one_is_asked() -> None:
    with pytest.raises(LocalProtocolError):
        PjlinkClientCodec().encode(query("POWR"))
    codec = greeted(None, b"PJLINK 1 498e4a67\r")
    with pytest.raises(AuthenticationFailedError):
        codec.encode(query("POWR"))


@pytest.mark.parametrize("command", [
    Command("POW", "1"), Command("POWR", "x" * 129), Command("POWR", "1\r%1POWR 0"),
    Command("POWR", "é"), Command("POWR", "1", 3),
])
def test_commands_the_spec_forbids_are_refused_locally(command: Command) -> None:
    with pytest.raises(LocalProtocolError):
        greeted().encode(command)


def test_line_length_limit_is_the_specs_136_bytes() -> None:
    longest = b"%1NAME=" + b"n" * (MAX_LINE - 8) + b"\r"
    assert len(longest) == MAX_LINE
    assert feed_whole(greeted(), longest) == [Reply(1, "NAME", "n" * (MAX_LINE - 8))]
    codec = greeted()
    events = feed_whole(codec, b"%1NAME=" + b"n" * (MAX_LINE - 7) + b"\r%1POWR=1\r")
    assert events == [FrameDropped("overlong"), Reply(1, "POWR", "1")]
    # A flood without any CR is thrown away as it comes, then resynchronised at the CR.
    codec = greeted()
    for _ in range(50):
        assert feed_whole(codec, b"A" * 1000) == []
    assert feed_whole(codec, b"\r%1POWR=0\r") == [FrameDropped("overlong"),
                                                 Reply(1, "POWR", "0")]
    assert codec.drops["overlong"] == 1


def test_greetings_and_replies_out_of_place() -> None:
    codec = PjlinkClientCodec()
    assert feed_whole(codec, b"%1POWR=1\rPJLINK 7 x\rPJLINK 0\rPJLINK 0\r") == [
        FrameDropped("unexpected"), FrameDropped("bad_greeting"), Greeting(False),
        FrameDropped("unexpected")]
    assert feed_whole(codec, b"PJLINK ERRA\r") == [AuthRejected()]


@pytest.mark.parametrize(("value", "error", "retry"), [
    ("ERR1", DeviceRefusedError, False),
    ("ERR2", DeviceRefusedError, False),
    ("ERR3", DeviceBusyError, True),
    ("ERR4", DeviceRefusedError, False),
])
def test_error_replies_become_typed_errors(value: str, error: type[Exception],
                                           retry: bool) -> None:
    exc = reply_error(Reply(1, "INPT", value))
    assert type(exc) is error
    assert isinstance(exc, DeviceRefusedError)
    assert exc.device_code == value
    assert is_retryable(exc) is retry


def test_erra_reply_and_success_replies() -> None:
    assert isinstance(reply_error(Reply(2, "POWR", "ERRA")), AuthenticationFailedError)
    assert reply_error(Reply(1, "POWR", "OK")) is None
    assert reply_error(Reply(1, "NAME", "ERR5 is a name")) is None


def test_value_parsers() -> None:
    assert [parse_power(c) for c in "0123"] == [
        PowerState.OFF, PowerState.ON, PowerState.COOLING, PowerState.WARMING]
    assert parse_error_status("210000") == ProjectorErrors(fan="error", lamp="warning")
    assert parse_lamps("100 1 20000 0") == [Lamp(100, True), Lamp(20000, False)]
    assert parse_av_mute("11") == AvMute(True, False)
    assert parse_av_mute("21") == AvMute(False, True)
    assert parse_class("2") == 2
    assert parse_input_list("") == []


@pytest.mark.parametrize(("parser", "value"), [
    (parse_power, "4"), (parse_power, ""), (parse_error_status, "00000"),
    (parse_error_status, "000300"), (parse_lamps, "100"), (parse_lamps, "abc 1"),
    (parse_lamps, "100 2"), (parse_lamps, "123456 1"), (parse_av_mute, "32"),
    (parse_class, "x"), (parse_class, "²"), (parse_input_list, "31 7Z"), (parse_mac, "00:11"),
])
def test_bad_values_are_remote_protocol_errors(parser: Callable[[str], object],
                                                value: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parser(value)


def test_input_names_and_codes() -> None:
    inputs = InputMap({"HDMI1": "31", "HDMI 2": "32", "VGA": 11})
    assert inputs.code_for("hdmi1") == "31"
    assert inputs.code_for("HDMI-2") == "32"
    assert inputs.code_for("vga") == "11"
    assert inputs.code_for("RGB2") == "12"
    assert inputs.code_for("DIGITAL3") == "33"
    assert inputs.code_for("52") == "52"
    assert inputs.name_for("31") == "HDMI1"
    assert inputs.name_for("33") == "DIGITAL3"
    for class2_only in ("DIGITAL10", "3A", "INTERNAL1", "61"):
        with pytest.raises(CommandArgumentError):
            inputs.code_for(class2_only)
    inputs.pjlink_class = 2
    assert inputs.code_for("DIGITAL10") == "3A"
    assert inputs.code_for("internal1") == "61"
    assert inputs.name_for("3A") == "DIGITAL10"
    with pytest.raises(CommandArgumentError, match="HDMI1"):
        inputs.code_for("SDI")
    with pytest.raises(CommandArgumentError):
        inputs.code_for("DIGITAL²")


@pytest.mark.parametrize("friendly", [{"HDMI1": "71"}, {"HDMI1": "3"}, {"": "31"},
                                      {"HDMI1": True}])
def test_bad_input_tables_are_refused(friendly: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="inputs"):
        InputMap(friendly)


def test_device_strings_are_sanitised() -> None:
    assert sanitize("Phòng\x1b[31m họp\r\n") == "Phòng\ufffd[31m họp\ufffd\ufffd"
    assert len(sanitize("x" * 500)) == 64


# -- fuzzing ---------------------------------------------------------------------------------

EVENT_TYPES = (Greeting, AuthRejected, Reply, Notification, FrameDropped)
chunks = st.lists(st.binary(max_size=300) | st.sampled_from(
    [b"\r", b"PJLINK 0\r", b"%1POWR=", b"%2LKUP=00:11:22:33:44:55\r", b"\x00", b"=ERR3\r"]),
    max_size=12)


@FUZZ
@given(chunks=chunks)
def test_fuzzed_stream_gives_only_events_and_recovers(chunks: list[bytes]) -> None:
    codec = greeted()
    for chunk in chunks:
        for event in feed_whole(codec, chunk):
            assert isinstance(event, EVENT_TYPES)
    events = feed_whole(codec, b"\r%1POWR=1\r")
    assert events[-1] == Reply(1, "POWR", "1")


@FUZZ
@given(data=st.binary(max_size=600), password=st.none() | st.text(max_size=20))
def test_fuzzed_greeting_phase_never_raises(data: bytes, password: str | None) -> None:
    codec = PjlinkClientCodec(password)
    for event in feed_bytewise(codec, data):
        assert isinstance(event, EVENT_TYPES)


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzzed_datagrams_and_requests_never_raise(data: bytes) -> None:
    for item in parse_datagram(data):
        assert isinstance(item, Notification | FrameDropped)
    request = parse_request(data)
    if request is not None:
        assert len(request.command.body) == 4


@FUZZ
@given(value=st.text(max_size=40))
def test_fuzzed_values_raise_only_protocol_errors(value: str) -> None:
    for parser in (parse_power, parse_error_status, parse_lamps, parse_av_mute, parse_class,
                   parse_input_list, parse_mac):
        with contextlib.suppress(RemoteProtocolError):
            parser(value)
    with contextlib.suppress(CommandArgumentError):
        InputMap({"HDMI1": "31"}, 2).code_for(value)
