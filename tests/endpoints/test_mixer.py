"""Mixer codec (Shure-style and generic dialects) and TcpMixer against its simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endpoints.commands import execute
from endpoints.errors import (
    CommandArgumentError,
    DeviceRefusedError,
    EndpointTimeoutError,
    EndpointTransportError,
    LocalProtocolError,
)
from endpoints.framing import FrameDropped
from endpoints.interfaces import ChannelState, DeviceEvent, DeviceSpec
from endpoints.mixer.codec import (
    DIALECTS,
    GENERIC,
    MAX_FRAME,
    SHURE,
    Dialect,
    ErrorReply,
    GainReport,
    GetGain,
    GetMute,
    MixerCodec,
    MixerEvent,
    MuteReport,
    OtherReport,
    SetGain,
    SetMute,
    dialect_from_options,
    encode_command,
    parse_request,
)
from endpoints.mixer.device import TcpMixer, mixer_from_spec
from endpoints.registry import build_device
from endpoints.sim.mixer import MixerModel, MixerSimulator
from tests.conftest import free_port
from tests.endpoints.captures import feed_bytewise, feed_whole, load_capture

DATA = Path(__file__).resolve().parent.parent / "data" / "mixer"
WAIT = 3.0  # bound on every wait for the network; each normally takes milliseconds
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def feed_with_garbage(codec: MixerCodec, data: bytes) -> list[MixerEvent]:
    noise = b"\x07\xffnoise" + codec.dialect.terminator.encode()
    return feed_whole(codec, noise + data)


FEEDERS = [feed_whole, feed_bytewise, feed_with_garbage]
Feeder = Callable[[MixerCodec, bytes], list[MixerEvent]]

EXPECTED: dict[str, list[MixerEvent]] = {
    "shure-p300.txt": [
        MuteReport(1, False), MuteReport(1, True), GainReport(3, 0.0), GainReport(3, -12.5),
        MuteReport(2, True), OtherReport("< REP DEVICE_AUDIO_MUTE OFF"),
        OtherReport("< SAMPLE 061 048 000 000"), ErrorReply(""),
    ],
    "generic.txt": [
        MuteReport(1, True), GainReport(2, -6.0), GainReport(2, -10.5), MuteReport(4, False),
        ErrorReply("no such channel"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("feeder", FEEDERS)
def test_captures_replayed(name: str, feeder: Feeder) -> None:
    capture = load_capture(DATA / name)
    dialect = DIALECTS[capture.meta["dialect"]]
    codec = MixerCodec(dialect)
    events: list[MixerEvent] = []
    for kind, data in capture.steps:
        if kind == "rx":
            events.extend(feeder(codec, data))
            continue
        text = dialect.clean(data.removesuffix(dialect.terminator.encode()))
        assert text is not None
        command = parse_request(dialect, text)
        assert command is not None, data
        assert encode_command(dialect, command) == data
    received = sum(1 for kind, _ in capture.steps if kind == "rx")
    noise = [e for e in events if isinstance(e, FrameDropped)]
    assert noise == ([FrameDropped("garbage")] * received if feeder is feed_with_garbage
                     else [])
    assert [e for e in events if not isinstance(e, FrameDropped)] == EXPECTED[name]


def test_shure_gain_is_tenths_of_a_db_offset_by_1100() -> None:
    assert [SHURE.encode_gain(db) for db in (-110, -12.5, 0, 30)] == [
        "0000", "0975", "1100", "1400"]
    assert SHURE.decode_gain("1234") == 13.4
    assert encode_command(SHURE, SetGain(1, -12.5)) == b"< SET 01 AUDIO_GAIN_HI_RES 0975 >"
    assert encode_command(SHURE, GetMute(12)) == b"< GET 12 AUDIO_MUTE >"
    assert encode_command(GENERIC, SetGain(2, -10.54)) == b"SET GAIN 2 -10.5\r\n"
    with pytest.raises(ValueError, match="outside"):
        SHURE.decode_gain("1500")
    for command in (SetGain(1, 30.5), SetGain(1, float("nan")), SetMute(-1, True),
                    GetGain(10000)):
        with pytest.raises(LocalProtocolError):
            encode_command(SHURE, command)


def test_bad_values_and_overlong_frames_are_dropped_then_resynchronised() -> None:
    codec = MixerCodec(SHURE)
    assert feed_whole(codec, b"< REP 01 AUDIO_MUTE MAYBE >< REP 01 AUDIO_GAIN_HI_RES 9999 >") \
        == [FrameDropped("bad_value"), FrameDropped("bad_value")]
    assert feed_whole(codec, b"< REP 01 CHAN_NAME {" + b"x" * (MAX_FRAME + 10)) == []
    assert feed_whole(codec, b"} >< REP 02 AUDIO_MUTE ON >") == [
        FrameDropped("overlong"), MuteReport(2, True)]
    assert codec.drops == {"bad_value": 2, "overlong": 1}


def test_dialect_from_options() -> None:
    assert dialect_from_options(None) is SHURE
    assert dialect_from_options("generic") is GENERIC
    custom = dialect_from_options({"base": "generic", "set_mute": "MUTE {channel} {value}",
                                   "on": "1", "off": "0", "gain_max": 6})
    assert encode_command(custom, SetMute(3, True)) == b"MUTE 3 1\r\n"
    assert custom.gain_max == 6.0
    assert parse_request(custom, "MUTE 3 0") == SetMute(3, False)


@pytest.mark.parametrize("options", [
    "yamaha", 42, {"base": "nope"}, {"colour": "red"}, {"set_mute": "MUTE {value}"},
    {"get_mute": "GET {channel} {foo}"}, {"get_mute": "GET {channel.real}"},
    {"get_mute": "GET {channel:zz}"}, {"report": "{channel} {value}"},
    {"terminator": "\r\n"}, {"on": "BẬT"}, {"gain_scale": "ten"}, {"gain_min": 50},
    {"gain_width": True},
])
def test_bad_dialect_options_are_refused(options: Any) -> None:
    with pytest.raises(ValueError, match="dialect"):
        dialect_from_options(options)


# -- fuzzing ---------------------------------------------------------------------------------

MIXER_EVENTS = (MuteReport, GainReport, ErrorReply, OtherReport, FrameDropped)


@FUZZ
@given(dialect=st.sampled_from([SHURE, GENERIC]),
       chunks=st.lists(st.binary(max_size=200) | st.sampled_from(
           [b">", b"\n", b"< REP 01 AUDIO_MUTE ", b"MUTE 1 ", b"{", b"\x00"]), max_size=10))
def test_fuzzed_stream_gives_only_events_and_recovers(dialect: Dialect,
                                                      chunks: list[bytes]) -> None:
    codec = MixerCodec(dialect)
    for chunk in chunks:
        for event in feed_whole(codec, chunk):
            assert isinstance(event, MIXER_EVENTS)
    tail = encode_command(dialect, SetMute(1, True))  # any frame ends what came before
    report = (b"< REP 07 AUDIO_MUTE ON >" if dialect is SHURE else b"MUTE 7 ON\r\n")
    assert feed_whole(codec, tail + report)[-1] == MuteReport(7, True)


@FUZZ
@given(dialect=st.sampled_from([SHURE, GENERIC]), text=st.text(max_size=80))
def test_fuzzed_requests_never_raise(dialect: Dialect, text: str) -> None:
    command = parse_request(dialect, text)
    if command is not None:
        assert 0 <= command.channel <= 9999


# -- the device against its simulator --------------------------------------------------------

Sims = Callable[..., Any]


@pytest.fixture
async def simulators() -> AsyncIterator[Sims]:
    started: list[MixerSimulator] = []

    async def start(dialect: str = "shure", channels: int = 4,
                    port: int = 0) -> MixerSimulator:
        sim = MixerSimulator(MixerModel(DIALECTS[dialect], channels), port=port)
        await sim.start()
        started.append(sim)
        return sim

    try:
        yield start
    finally:
        for sim in started:
            await sim.close()


@pytest.fixture
async def mixers() -> AsyncIterator[Callable[..., TcpMixer]]:
    made: list[TcpMixer] = []

    def make(port: int, **options: Any) -> TcpMixer:
        mixer = mixer_from_spec(DeviceSpec("mx1", "mixer", "mixer-tcp", host="127.0.0.1",
                                           port=port, timeout=0.5, options=options))
        made.append(mixer)
        return mixer

    try:
        yield make
    finally:
        for mixer in made:
            await mixer.close()


@pytest.mark.parametrize("dialect", ["shure", "generic"])
async def test_mute_and_gain_round_trip_per_channel(dialect: str, simulators: Sims,
                                                    mixers: Any) -> None:
    sim = await simulators(dialect)
    mixer = mixers(sim.port, dialect=dialect, channels={"1": "Chủ tọa", "2": "Đại biểu",
                                                        "3": "Máy tính", "4": "Cầu truyền"})
    await mixer.open()
    await mixer.set_mute(2, True)
    await mixer.set_gain(3, -12.5)
    assert await mixer.get_channel(2) == ChannelState(2, True, 0.0, "Đại biểu")
    assert await mixer.get_channel(3) == ChannelState(3, False, -12.5, "Máy tính")
    assert (sim.model.channels[2].muted, sim.model.channels[3].gain_db) == (True, -12.5)
    await execute(mixer, "mute", {"channel": 2, "on": False})
    await execute(mixer, "gain", {"channel": 1, "db": 6})
    readings = await mixer.poll()
    assert [(c["channel"], c["muted"], c["gain_db"]) for c in readings["channels"]] == [
        (1, False, 6.0), (2, False, 0.0), (3, False, -12.5), (4, False, 0.0)]


async def test_out_of_range_channel_and_gain_are_rejected(simulators: Sims,
                                                          mixers: Any) -> None:
    sim = await simulators()
    mixer = mixers(sim.port)
    await mixer.open()
    with pytest.raises(CommandArgumentError, match="channel 9"):
        await mixer.set_mute(9, True)
    with pytest.raises(CommandArgumentError):
        await mixer.set_gain(1, 31.0)
    with pytest.raises(CommandArgumentError):
        await execute(mixer, "mute", {"channel": 0, "on": True})
    with pytest.raises(CommandArgumentError):
        await execute(mixer, "gain", {"channel": 1, "db": -200})
    assert sim.received == []  # nothing was sent


async def test_channel_the_hardware_lacks_is_refused(simulators: Sims, mixers: Any) -> None:
    sim = await simulators(channels=4)
    mixer = mixers(sim.port, channels=[1, 2, 7])
    await mixer.open()
    with pytest.raises(DeviceRefusedError):
        await mixer.set_mute(7, True)
    await mixer.set_mute(1, True)  # the connection is still good


async def test_unsolicited_change_is_emitted(simulators: Sims, mixers: Any) -> None:
    sim = await simulators()
    mixer = mixers(sim.port)
    events: asyncio.Queue[DeviceEvent] = asyncio.Queue()
    mixer.set_event_sink(events.put_nowait)
    await mixer.open()
    sim.press_mute(2, True)
    async with asyncio.timeout(WAIT):
        assert await events.get() == DeviceEvent("mx1", "mute", {"channel": 2, "on": True})
    await mixer.set_mute(3, True)  # our own command's reply is not an event
    sim.press_mute(3, False)
    async with asyncio.timeout(WAIT):
        assert await events.get() == DeviceEvent("mx1", "mute", {"channel": 3, "on": False})
    assert events.empty()


async def test_reconnects_after_the_simulator_restarts(simulators: Sims,
                                                       mixers: Any) -> None:
    sim = await simulators()
    mixer = mixers(sim.port)
    await mixer.open()
    await mixer.set_mute(1, True)
    port = sim.port
    await sim.close()
    with pytest.raises(EndpointTransportError):
        await mixer.set_mute(1, False)  # nobody is listening for now
    again = await simulators(port=port)
    await mixer.set_mute(1, False)
    assert again.model.channels[1].muted is False
    assert again.connections == 1


async def test_closed_mixer_stays_closed_until_opened(simulators: Sims, mixers: Any) -> None:
    sim = await simulators()
    mixer = mixers(sim.port)
    await mixer.open()
    await mixer.close()
    with pytest.raises(EndpointTransportError, match="closed"):
        await mixer.set_mute(1, True)
    await mixer.open()
    await mixer.set_mute(1, True)
    assert sim.connections == 2


async def test_silent_mixer_times_out(mixers: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        mixer = mixers(server.sockets[0].getsockname()[1])
        async with asyncio.timeout(WAIT):
            with pytest.raises(EndpointTimeoutError):
                await mixer.set_mute(1, True)
    finally:
        await mixer.close()
        server.close()
        await server.wait_closed()


async def test_nobody_listening_is_unreachable(mixers: Any) -> None:
    with pytest.raises(EndpointTransportError):
        await mixers(free_port()).open()


def test_factory_options() -> None:
    mixer = build_device(DeviceSpec("mx", "mixer", "mixer-tcp", host="10.0.0.9"))
    assert isinstance(mixer, TcpMixer)
    assert mixer.channels == (1, 2, 3, 4)
    assert mixer.gain_range == (-110.0, 30.0)
    assert mixer_from_spec(DeviceSpec("mx", "mixer", "mixer-tcp", host="h",
                                      options={"channels": 8})).channels == tuple(range(1, 9))
    bad: dict[str, Any]
    for bad in ({"channels": []}, {"channels": ["a"]}, {"channels": {"x": "y"}},
                {"dialect": "generic"}):  # generic has no default port
        with pytest.raises(ValueError, match=r"channels|port"):
            mixer_from_spec(DeviceSpec("mx", "mixer", "mixer-tcp", host="h", options=bad))
    with pytest.raises(ValueError, match="host"):
        mixer_from_spec(DeviceSpec("mx", "mixer", "mixer-tcp"))
