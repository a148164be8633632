"""A real link impairment: a commune in a Janus call loses 10 % of its packets; a loss incident
opens at the commune after the configured onset, reaches the province, and resolves at both
once the link is clean for the configured clear time.

Real processes: a province and a commune ``diemcau run`` started inside the lab namespace
(processes forked from a thread inside it stay inside; they talk over that namespace's
127.0.0.1), the lab Janus, and a second publisher in the room (in-process aiortc, so the
commune receives media too). The loss is random UDP loss on the namespace's ``lo``, where the
media runs (see ``tests.peers.impair``: no netem in this kernel).

Until a Janus call's samples are per-interval (``JanusCall._samples`` reports loss since the
call began), the incident resolves late and the test ends in an expected failure that says
how late; everything before that check is asserted as usual.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from media.bridges.base import BridgeSpec, JoinOptions
from media.bridges.janus import JanusCall, JanusVideoRoomBridge
from tests.peers.impair import qdisc_drops, udp_loss
from tests.peers.janus import OPEN_ROOM, JanusLab, janus_lab, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns
from tests.peers.tree import Console, eventually, running_tree

__all__ = ["in_lab_netns", "janus_lab", "lab_netns"]

pytestmark = pytest.mark.subprocess

SHAPE = {"tinh-a": ("province", None), "xa-mot": ("commune", "tinh-a")}
LOSS_PERCENT = 10.0
THRESHOLD = 5.0
MOS_BELOW = 3.1  # the default
ONSET = 2.0
CLEAR = 3.0
LINK_KINDS = frozenset({"loss_high", "mos_low"})


def commune_extra(janus_url: str) -> str:
    """The commune's call and incident settings (small picture: a 2-core machine)."""
    return ('[media]\nwidth = 320\nheight = 180\nfps = 10\n\n'
            f'[incidents]\nloss_above_percent = {THRESHOLD}\n'
            f'onset_seconds = {ONSET}\nclear_seconds = {CLEAR}\n\n'
            '[[bridges]]\nid = "tinh"\nname = "Cầu tỉnh"\nkind = "janus-videoroom"\n'
            f'url = "{janus_url}"\nroom = {OPEN_ROOM}\n')


def breach_span(kind: str, samples: list[tuple[float, float]]) -> float:
    """How long the samples up to the onset stayed on the bad side, without a break."""
    run: list[float] = []
    for at, value in samples:
        bad = value > THRESHOLD if kind == "loss_high" else value < MOS_BELOW
        run = [*run, at] if bad else []
    return run[-1] - run[0] if run else -1.0


async def link_incidents(console: Console) -> list[dict[str, Any]]:
    """Loss/MOS incidents of the commune's call links, as ``console``'s site lists them."""
    body = await console.get("/api/v1/incidents")
    return [i for i in body["incidents"]
            if i["kind"] in LINK_KINDS and i["subject"].startswith("link:tinh:")]


async def receiving(console: Console) -> bool:
    """The commune's call is connected and RTP arrives from the other publisher.

    (Counted by the inbound RTP stats appearing: the ``recv`` bitrate reads 0 today.)
    """
    call = (await console.get("/api/v1/bridges/tinh"))["call"]
    return call is not None and call["state"] == "connected" and any(
        s["direction"] == "recv" and s["kind"] == "video" and s["loss_percent"] is not None
        for s in call["samples"])


async def sending(call: JanusCall) -> bool:
    """The in-process publisher's video leaves it."""
    return any(s.direction == "send" and s.kind == "video" and (s.bitrate_kbps or 0) > 0
               for s in await call.stats())


async def child_online(console: Console) -> bool:
    site = await console.get("/api/v1/site")
    return any(c["id"] == "xa-mot" and c["state"] == "online" for c in site["children"])


async def test_packet_loss_opens_an_incident_that_reaches_the_province_and_resolves(
        tmp_path: Path, janus_lab: JanusLab, in_lab_netns: LabNetns) -> None:
    other_bridge = JanusVideoRoomBridge(BridgeSpec(
        id="khac", kind="janus-videoroom", url=janus_lab.url, room=OPEN_ROOM,
        options={"video_width": 320, "video_height": 180, "video_fps": 10}))
    # Started before the other site publishes: starting processes blocks this event loop.
    with running_tree(tmp_path, SHAPE, extra={"xa-mot": commune_extra(janus_lab.url)}) \
            as sites:
        province, commune = sites["tinh-a"], sites["xa-mot"]
        other = await other_bridge.join(JoinOptions(display="Xã khác", subscribe="none"))
        try:
            await eventually(lambda: sending(other), seconds=10, what="the other site sending")
            async with Console(province, "quantri") as upper, \
                    Console(commune, "vanhanh") as officer:
                await eventually(lambda: child_online(upper), what="xa-mot online")
                await officer.post("/api/v1/bridges/tinh/join")
                await eventually(lambda: receiving(officer), seconds=20,
                                 what="the commune receiving the other site")
                await asyncio.sleep(CLEAR)  # a clean link for a while: nothing to report
                assert await link_incidents(officer) == []

                with udp_loss(in_lab_netns.name, LOSS_PERCENT):
                    impaired_at = time.time()
                    opened = (await eventually(lambda: link_incidents(officer), seconds=20,
                                               what="a link incident at the commune"))[0]
                    assert opened["origin"] == "xa-mot"
                    assert opened["state"] == "open"
                    # The rule waits its onset: the threshold broken for ONSET seconds first.
                    detail = await officer.get(f"/api/v1/incidents/{opened['id']}")
                    onset = detail["timeline"][0]
                    assert onset["type"] == "onset"
                    samples = [(at, value) for at, value in onset["samples"]]
                    opened_at = samples[-1][0]  # the sample that opened it
                    assert opened_at - impaired_at >= ONSET, (impaired_at, samples)
                    assert breach_span(opened["kind"], samples) >= ONSET, samples

                    async def at_province() -> dict[str, Any] | None:
                        return next((i for i in await link_incidents(upper)
                                     if i["id"] == opened["id"]), None)

                    arrived = await eventually(at_province, seconds=10,
                                               what="the incident at the province")
                    assert arrived["origin"] == "xa-mot"
                    assert arrived["kind"] == opened["kind"]
                    assert arrived["subject"] == opened["subject"]
                    assert qdisc_drops(in_lab_netns.name) > 0
                cleaned_at = time.time()

                async def resolved_at_province() -> dict[str, Any] | None:
                    found = await upper.get(f"/api/v1/incidents/{opened['id']}")
                    return found if found["state"] == "resolved" else None

                restored = await eventually(resolved_at_province, seconds=60,
                                            what="resolved at the province")
                assert restored["origin"] == "xa-mot"
                assert restored["time_to_restore"] > 0
                assert restored["timeline"][-1]["type"] == "resolved"
                here = await officer.get(f"/api/v1/incidents/{opened['id']}")
                assert here["state"] == "resolved"
                assert here["time_to_restore"] == restored["time_to_restore"]
                # Resolved only after CLEAR seconds of a clean link (less one sample
                # interval: the last impaired second may already read clean) ...
                restore_lag = opened_at + restored["time_to_restore"] - cleaned_at
                assert restore_lag >= CLEAR - 1.0, (restore_lag, restored)
                await officer.post("/api/v1/bridges/tinh/leave")
                # ... and not much later: a sample is the last second's loss, not the call's.
                assert restore_lag <= CLEAR + 4.0, (restore_lag, restored)
        finally:
            await other.leave()
            await other_bridge.close()
