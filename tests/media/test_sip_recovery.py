"""SipCall recovery: the pure rejoin plan on a fake clock, then baresip killed mid-call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiortc import MediaStreamTrack

from media.bridges.base import (
    BridgeRefusedError,
    BridgeUnreachableError,
    CallEvent,
    CallState,
    InsecureMediaError,
    JoinOptions,
    MediaNegotiationError,
    MediaTimeoutError,
)
from media.bridges.sip import RecoveryPlan, RecoveryStep, SipCall, rejoin_can_succeed
from media.sip.dialog import make_response
from media.sip.message import MessageReceived, SipRequest, StreamParser
from media.webrtc import Backoff
from tests.conftest import FakeClock
from tests.media.test_sip_baresip import TONE_HZ, first_channel, goertzel, sip_bridge
from tests.peers.baresip import (
    SINE_HZ,
    Baresip,
    baresip,
    lab_netns,
    start_baresip,
    stop_baresip,
)
from tests.peers.netns import LabNetns, in_lab_netns

__all__ = ["baresip", "in_lab_netns", "lab_netns"]


# -- the pure plan ------------------------------------------------------------------------

def plan(rand: float = 0.5) -> RecoveryPlan:
    # rand 0.5 is the middle of the jitter band: delays are exact
    return RecoveryPlan(Backoff(initial=0.5, factor=2.0, maximum=4.0, jitter=0.2,
                                rand=lambda: rand))


def test_drop_schedules_growing_capped_attempts(clock: FakeClock) -> None:
    recovery = plan()
    step = recovery.dropped(clock(), "signalling connection lost")
    assert step == RecoveryStep(1, 0.5, "signalling connection lost", clock.now + 0.5)
    delays = [step.delay]
    for _ in range(5):
        clock.advance(step.delay + 0.1)  # the attempt itself took 0.1 s
        next_step = recovery.attempt_failed(clock(), BridgeUnreachableError("refused"))
        assert next_step is not None
        assert next_step.attempt == step.attempt + 1
        assert next_step.reason == "refused"
        step = next_step
        delays.append(step.delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    clock.advance(step.delay + 0.25)
    attempts, downtime = recovery.recovered(clock())
    assert attempts == 6
    assert downtime == pytest.approx(sum(delays) + 5 * 0.1 + 0.25)
    # the next drop starts again from the first delay
    again = recovery.dropped(clock(), "ICE/DTLS failed")
    assert again is not None
    assert (again.attempt, again.delay) == (1, 0.5)


def test_jitter_spreads_the_delay() -> None:
    low = plan(rand=0.0).dropped(100.0, "x")
    high = plan(rand=1.0).dropped(100.0, "x")
    assert low is not None
    assert high is not None
    assert (low.delay, high.delay) == (0.4, 0.6)


def test_a_second_drop_while_recovering_is_not_a_new_recovery(clock: FakeClock) -> None:
    recovery = plan()
    assert recovery.dropped(clock(), "keepalive timed out") is not None
    clock.advance(0.2)
    assert recovery.dropped(clock(), "ICE/DTLS failed") is None
    assert recovery.backoff.attempts == 1


def test_ended_call_never_recovers(clock: FakeClock) -> None:
    recovery = plan()
    step = recovery.dropped(clock(), "keepalive answered 481")
    assert step is not None
    recovery.ended()  # leave() during recovery
    assert recovery.attempt_failed(clock(), MediaTimeoutError("late")) is None
    assert recovery.dropped(clock(), "again") is None


@pytest.mark.parametrize(("error", "retry"), [
    (BridgeUnreachableError("connection refused"), True),
    (MediaTimeoutError("no answer to INVITE"), True),
    (MediaNegotiationError("ICE/DTLS failed"), True),
    (BridgeRefusedError("not found", bridge_code=404), True),
    (BridgeRefusedError("busy", bridge_code=486), True),
    (BridgeRefusedError("unavailable", bridge_code=503), True),
    (BridgeRefusedError("authentication failed", bridge_code=401), False),
    (BridgeRefusedError("proxy authentication", bridge_code=407), False),
    (BridgeRefusedError("forbidden", bridge_code=403), False),
    (BridgeRefusedError("decline", bridge_code=603), False),
    (InsecureMediaError("plain RTP"), False),
])
def test_which_failures_are_retried(clock: FakeClock, error: BridgeRefusedError,
                                    retry: bool) -> None:
    assert rejoin_can_succeed(error) is retry
    recovery = plan()
    recovery.dropped(clock(), "keepalive timed out")
    step = recovery.attempt_failed(clock(), error)
    assert (step is not None) is retry
    assert recovery.over is not retry


def test_step_wait_is_bounded_by_its_delay() -> None:
    step = RecoveryStep(2, 1.0, "x", due=101.0)
    assert step.wait(100.5) == 0.5
    assert step.wait(102.0) == 0.0
    assert step.wait(50.0) == 1.0  # the wall clock jumped back: still one delay


# -- against a real baresip -----------------------------------------------------------------

async def kill(peer: Baresip) -> None:
    """SIGKILL our baresip (by its own handle): no BYE, its sockets just vanish."""
    peer.process.kill()
    await asyncio.to_thread(peer.process.wait, 5)


async def restart(lab: LabNetns, peer: Baresip) -> Baresip:
    """A new baresip with the same config, ports and directory (its log starts afresh)."""
    return await asyncio.to_thread(start_baresip, lab, peer.log_path.parent,
                                   sip_port=peer.sip_port, ctrl_port=peer.ctrl_port)


async def wait_event(events: list[CallEvent], name: str, within: float,
                     *, attempt: int | None = None) -> CallEvent:
    deadline = time.monotonic() + within
    while True:
        found = [e for e in events if e.name == name
                 and (attempt is None or e.data.get("attempt") == attempt)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {name} in {[e.name for e in events]}"
        await asyncio.sleep(0.05)


def state_of(call: SipCall) -> CallState:
    """The call's state now (a function, so mypy does not narrow it across awaits)."""
    return call.state


async def hears_sine(track: MediaStreamTrack) -> bool:
    samples, rate = await first_channel(track, 1.0)
    tail = samples[len(samples) // 3:]
    wanted = goertzel(tail, rate, SINE_HZ)
    return wanted > 20 * max(goertzel(tail, rate, f) for f in (250.0, 700.0, TONE_HZ))


@pytest.fixture
async def tcp_call(baresip: Baresip, in_lab_netns: LabNetns) -> AsyncIterator[SipCall]:
    # TCP: killing the bridge closes the signalling connection, a drop seen at once
    # (over UDP it is ICE consent or the OPTIONS keepalive timing out, ~30 s).
    bridge = sip_bridge(baresip.conference_uri, transport="tcp", answer_timeout=5)
    call = await bridge.join(JoinOptions(display="Xã Hoàng Hợp"))
    assert isinstance(call, SipCall)
    try:
        yield call
    finally:
        await call.leave()


async def test_call_recovers_after_baresip_restart(tcp_call: SipCall, baresip: Baresip,
                                                  in_lab_netns: LabNetns) -> None:
    call = tcp_call
    events: list[CallEvent] = []
    call.subscribe(events.append)
    call_id, sip_call_id = call.id, call.describe()["sip_call_id"]
    assert await hears_sine(call.received_tracks[0])

    await kill(baresip)
    dropped = await wait_event(events, "dropped", 5)
    assert dropped.data["reason"] == "signalling connection lost"
    assert state_of(call) in (CallState.DROPPED, CallState.RECOVERING)
    # the bridge is down: attempt 1 is refused and attempt 2 is scheduled later
    second = await wait_event(events, "recovery_step", 5, attempt=2)
    assert second.data["delay"] > 0.5
    assert "15070" in second.data["reason"]  # the connect refusal

    restarted = await restart(in_lab_netns, baresip)
    try:
        recovered = await wait_event(events, "recovered", 15)
        assert state_of(call) is CallState.CONNECTED
        assert call.id == call_id
        assert call.describe()["sip_call_id"] != sip_call_id  # a new dialog
        steps = [e for e in events if e.name == "recovery_step"]
        assert [e.data["attempt"] for e in steps] == list(range(1, len(steps) + 1))
        assert recovered.data["attempts"] == len(steps)
        assert 0 < recovered.data["downtime_s"] < 15
        assert recovered.at - dropped.at == pytest.approx(recovered.data["downtime_s"], abs=0.5)
        # (ringing: baresip's provisional answers to the rejoin INVITEs)
        assert [e.name for e in events if e.name != "ringing"] == (
            ["dropped"] + ["recovery_step"] * len(steps) + ["recovered"])

        # audio flows again both ways: baresip's sine reaches us, our tone reaches it
        assert call.received_tracks, "no audio track on the rebuilt connection"
        assert await hears_sine(call.received_tracks[0])
        await call.stats()
        await asyncio.sleep(1.0)
        sent = {(s.direction, s.kind): s for s in await call.stats()}[("send", "audio")]
        assert sent.bitrate_kbps is not None
        assert sent.bitrate_kbps > 8

        await call.leave()
        assert [e.name for e in events][-1] == "ended"
        deadline = time.monotonic() + 5
        while not restarted.received_packets():
            assert time.monotonic() < deadline, "baresip never logged the call's end"
            await asyncio.sleep(0.1)
        assert restarted.received_packets()[-1] > 50
    finally:
        stop_baresip(restarted)


async def test_leave_during_recovery_stops_it(tcp_call: SipCall, baresip: Baresip) -> None:
    call = tcp_call
    events: list[CallEvent] = []
    call.subscribe(events.append)
    await kill(baresip)
    await wait_event(events, "recovery_step", 5, attempt=2)
    await call.leave()
    assert state_of(call) is CallState.ENDED
    names = [e.name for e in events]
    assert names[-1] == "ended"
    assert "recovered" not in names
    await asyncio.sleep(1.5)  # past attempt 2's due time: nothing more happens
    assert [e.name for e in events] == names
    assert call._recovery is None
    assert call._conn is None
    assert call._pc is None


async def test_leave_mid_invite_cancels_it(tcp_call: SipCall, baresip: Baresip) -> None:
    # In baresip's place, a bridge that rings (100 Trying) and never answers: the rejoin
    # INVITE hangs until leave(), which must CANCEL it and close everything.
    call = tcp_call
    events: list[CallEvent] = []
    call.subscribe(events.append)
    methods: list[str] = []

    async def ringing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = StreamParser()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while isinstance(event := parser.next_event(), MessageReceived):
                    request = event.message
                    assert isinstance(request, SipRequest)
                    methods.append(request.method)
                    if request.method == "INVITE":
                        writer.write(make_response(request, 100, "Trying").encode())
                    elif request.method == "CANCEL":
                        writer.write(make_response(request, 200, "OK").encode())
        finally:
            writer.close()

    await kill(baresip)
    await wait_event(events, "recovery_step", 5, attempt=2)
    server = await asyncio.start_server(ringing, baresip.address, baresip.sip_port)
    try:
        deadline = time.monotonic() + 10
        while "INVITE" not in methods:
            assert time.monotonic() < deadline, "no rejoin INVITE"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the 100 Trying arrives
        assert state_of(call) is CallState.RECOVERING
        await asyncio.wait_for(call.leave(), 10)
        assert "CANCEL" in methods
        assert state_of(call) is CallState.ENDED
        assert [e.name for e in events][-1] == "ended"
        assert "recovered" not in [e.name for e in events]
        assert call._conn is None
        assert call._pc is None
    finally:
        server.close()
        await server.wait_closed()
