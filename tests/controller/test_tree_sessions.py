"""A session across real ``diemcau run`` processes: a province chairs two communes.

Invitation, readiness, roll call, a floor grant that moves a commune's simulated camera to its
speaker preset, refused commands (local control, session not live), a commune offline and
restarted mid-session; then a three-level tree with delegation.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from controller.periods import VIETNAM
from tests.peers.tree import Console, TreeSite, eventually, running_tree

pytestmark = pytest.mark.subprocess

TWO_COMMUNES = {"tinh-a": ("province", None), "xa-mot": ("commune", "tinh-a"),
                "xa-hai": ("commune", "tinh-a")}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def _subtree_online(console: Console, ids: set[str]) -> bool:
    site = await console.get("/api/v1/site")
    online = {s["id"] for s in site["subtree"] if s["online"]}
    return ids <= online


async def _session(console: Console, session_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await console.get(f"/api/v1/sessions/{session_id}")
    return body


def _site(session: dict[str, Any], site_id: str) -> dict[str, Any]:
    return next(s for s in session["sites"] if s["id"] == site_id)


async def _position(console: Console) -> tuple[float, float]:
    out = await console.post("/api/v1/devices/cam1/commands", {"command": "position"})
    return out["result"]["pan"], out["result"]["tilt"]


async def _audit(site: TreeSite, action: str) -> list[dict[str, Any]]:
    async with Console(site, "quantri") as admin:
        body = await admin.get(f"/api/v1/audit?action={action}&limit=50")
    entries: list[dict[str, Any]] = body["entries"]
    return entries


async def test_a_province_chairs_two_communes(tmp_path: Path) -> None:
    with running_tree(tmp_path, TWO_COMMUNES, rooms={"xa-mot", "xa-hai"}) as sites:
        province, one, two = sites["tinh-a"], sites["xa-mot"], sites["xa-hai"]
        async with Console(province, "chutri") as chair, \
                Console(one, "vanhanh") as officer_one, Console(two, "vanhanh") as officer_two:
            await eventually(lambda: _subtree_online(chair, {"xa-mot", "xa-hai"}),
                             what="both communes online at the province")
            now = time.time()
            created = await chair.post("/api/v1/sessions", {
                "title": "Hội nghị giao ban tháng 12", "kind": "regular",
                "participants": ["xa-mot", "xa-hai"],
                "starts_at": _iso(now + 7200), "ends_at": _iso(now + 10800)}, expect=201)
            session_id = created["id"]
            assert created["state"] == "scheduled"
            assert not created["approved"]
            assert created["notice"]["ok"] is False  # two hours is not three working days
            assert "3 ngày làm việc" in created["notice"]["message"]
            # Not approved: nothing reached the communes yet.
            assert not (await officer_one.get("/api/v1/sessions"))["sessions"]

            await chair.post(f"/api/v1/sessions/{session_id}/approve")

            async def invited() -> Any:
                listed = (await officer_one.get("/api/v1/sessions"))["sessions"]
                return listed and listed[0]["id"] == session_id and listed[0]
            invitation = await eventually(invited, what="the invitation at xa-mot")
            assert invitation["role"] == "participant"
            assert invitation["title"] == "Hội nghị giao ban tháng 12"

            # Readiness: each commune checks its room and reports to the chair.
            await chair.chair(session_id, "readiness")

            async def both_ready() -> Any:
                session = await _session(chair, session_id)
                reports = [_site(session, s)["status"].get("readiness") for s in
                           ("xa-mot", "xa-hai")]
                return all(reports) and reports
            reports = await eventually(both_ready, seconds=30, what="readiness reports")
            for report in reports:
                checks = {i["check"]: i for i in report["items"]}
                assert checks["camera"]["ok"] is True
                assert checks["projector"]["ok"] is True
                assert checks["mic"]["ok"] is True
                assert checks["bridge"]["ok"] is None  # no bridge in this room
                assert checks["devices"]["ok"] in (True, None)

            # The officer at xa-mot stores the speaker preset, then points the camera away.
            await officer_one.post("/api/v1/devices/cam1/commands", {
                "command": "ptz.absolute", "args": {"pan": 0.5, "tilt": 0.25}})
            await officer_one.post("/api/v1/devices/cam1/commands", {
                "command": "preset.store", "args": {"preset": 1, "name": "Người phát biểu"}})
            speaker_position = await _position(officer_one)
            await officer_one.post("/api/v1/devices/cam1/commands", {
                "command": "ptz.absolute", "args": {"pan": -0.5, "tilt": -0.25}})
            assert await _position(officer_one) != speaker_position

            # A command before the session is live is refused by the target itself.
            refused = await chair.chair(session_id, "camera", "xa-mot", expect=409,
                                        command="home")
            assert refused["error"]["code"] == "session_not_live"

            started = await chair.chair(session_id, "start")
            assert started["session"]["state"] == "live"
            await eventually(lambda: _state_at(officer_one, session_id, "live"),
                             what="live at xa-mot")

            # Roll call.
            await chair.chair(session_id, "rollcall.open")
            await eventually(lambda: _rollcall_open(officer_one, session_id),
                             what="roll call prompt at xa-mot")
            await officer_one.post(f"/api/v1/sessions/{session_id}/rollcall", {
                "attendees": 12, "names": ["Nguyễn Văn A", "Trần Thị B"]})

            async def rollcall_seen() -> Any:
                status = _site(await _session(chair, session_id), "xa-mot")["status"]
                return status.get("rollcall")
            rollcall = await eventually(rollcall_seen, what="roll call at the chair")
            assert rollcall["attendees"] == 12
            assert "Trần Thị B" in rollcall["names"]

            # Floor: xa-mot raises its hand; the chair grants the next in the queue.
            await officer_one.post(f"/api/v1/sessions/{session_id}/hand", {"raised": True})

            async def queued() -> Any:
                return (await _session(chair, session_id))["floor"]["queue"] == ["xa-mot"]
            await eventually(queued, what="xa-mot in the floor queue")
            granted = await chair.chair(session_id, "floor.grant")
            assert granted["results"]["xa-mot"]["ok"] is True, granted
            assert granted["session"]["floor"]["speaker"] == "xa-mot"
            assert granted["session"]["floor"]["queue"] == []
            assert await _position(officer_one) == speaker_position
            mixer = await officer_one.get("/api/v1/devices/mix1")
            assert mixer["state"] == "online"

            # Mute a site, and local control only at xa-hai refuses the chair.
            muted = await chair.chair(session_id, "mute", "xa-hai", on=True)
            assert muted["results"]["xa-hai"]["ok"] is True
            await officer_two.post("/api/v1/site/local-control", {"on": True})
            refused = await chair.chair(session_id, "mute", "xa-hai", expect=409, on=False)
            assert refused["error"]["code"] == "local_control_only"
            await officer_two.post("/api/v1/site/local-control", {"on": False})

            remote = await _audit(two, "remote.mic.mute")
            assert [e["result"] for e in remote][:2] == ["refused", "ok"]
            assert remote[0]["origin_site"] == "tinh-a"
            assert remote[0]["actor"] == "chutri"
            assert remote[0]["details"]["reason"] == "local_control_only"
            origin = await _audit(province, "chair.mic.mute")
            assert origin[0]["result"] == "local_control_only"

            # xa-mot goes down mid-session: commands fail fast, then it comes back in role.
            assert one.stop() == 0
            await eventually(lambda: _offline(chair, "xa-mot"), what="xa-mot offline")
            began = time.monotonic()
            offline = await chair.chair(session_id, "mute", "xa-mot", expect=409, on=True)
            assert offline["error"]["code"] == "site_offline"
            assert time.monotonic() - began < 1.0
            one.start()
            await eventually(lambda: _subtree_online(chair, {"xa-mot"}), what="xa-mot back")
            async with Console(one, "vanhanh") as again:
                await eventually(lambda: _state_at(again, session_id, "live"),
                                 what="the live session back at xa-mot")
            back = await chair.chair(session_id, "camera", "xa-mot", command="preset.recall",
                                     args={"preset": 1})
            assert back["results"]["xa-mot"]["ok"] is True
            status = _site(await _session(chair, session_id), "xa-mot")["status"]
            assert status["rollcall"]["attendees"] == 12

            # The session ends while xa-hai is away: it learns of the end when it returns.
            assert two.stop() == 0
            await eventually(lambda: _offline(chair, "xa-hai"), what="xa-hai offline")
            ended = await chair.chair(session_id, "end")
            assert ended["session"]["state"] == "ended"
            two.start()
            async with Console(two, "vanhanh") as again:
                await eventually(lambda: _state_at(again, session_id, "ended"),
                                 what="the end known at xa-hai after its return")

            # Each commune's attendance reaches the province's usage report.
            day = dt.datetime.fromtimestamp(now + 7200, VIETNAM).date().isoformat()
            period = f"{day}..{day}"  # the session counts on the day it was planned

            async def reported() -> Any:
                async with Console(province, "quantri") as admin:
                    report = await admin.get(f"/api/v1/reports?period={period}&format=json")
                rows = {r["site"]: r for r in report["rows"]}
                done = all(rows.get(s, {}).get("sessions_invited") == 1
                           for s in ("xa-mot", "xa-hai"))
                return done and rows
            rows = await eventually(reported, what="attendance in the province's report")
            assert rows["xa-mot"]["sessions_attended"] == 1  # answered roll call
            assert rows["tinh-a"]["sessions_hosted"] == 1


async def _state_at(console: Console, session_id: str, state: str) -> bool:
    session = await console.get(f"/api/v1/sessions/{session_id}")
    return bool(session["state"] == state)


async def _rollcall_open(console: Console, session_id: str) -> bool:
    session = await console.get(f"/api/v1/sessions/{session_id}")
    return bool(session["rollcall_open"])


async def _offline(console: Console, site_id: str) -> bool:
    site = await console.get("/api/v1/site")
    return any(s["id"] == site_id and not s["online"] for s in site["subtree"])


THREE_LEVELS = {"trung-uong": ("central", None), "tinh-b": ("province", "trung-uong"),
                "xa-ba": ("commune", "tinh-b")}


async def test_three_levels_with_delegation(tmp_path: Path) -> None:
    with running_tree(tmp_path, THREE_LEVELS, rooms={"xa-ba"}) as sites:
        central, province = sites["trung-uong"], sites["tinh-b"]
        async with Console(central, "chutri") as chair, \
                Console(province, "chutri") as province_chair:
            await eventually(lambda: _subtree_online(chair, {"tinh-b", "xa-ba"}),
                             what="the commune visible at the centre through the province")
            now = time.time()
            created = await chair.post("/api/v1/sessions", {
                "title": "Hội nghị toàn quốc", "kind": "extraordinary",
                "subtrees": ["tinh-b"], "starts_at": _iso(now + 90000),
                "ends_at": _iso(now + 93600)}, expect=201)
            session_id = created["id"]
            assert created["participants"] == ["tinh-b", "xa-ba"]
            assert created["notice"]["ok"] is True  # 25 hours ahead of an extraordinary one
            await chair.post(f"/api/v1/sessions/{session_id}/approve")
            await chair.chair(session_id, "readiness")

            async def reported_through_the_province() -> Any:
                session = await _session(chair, session_id)
                return all(_site(session, s)["status"].get("readiness")
                           for s in ("tinh-b", "xa-ba")) and session
            session = await eventually(reported_through_the_province,
                                       what="readiness of both levels at the centre")
            assert _site(session, "xa-ba")["status"]["readiness"]["ready"] is True
            await chair.chair(session_id, "start")
            async with Console(sites["xa-ba"], "vanhanh") as officer:
                await eventually(lambda: _state_at(officer, session_id, "live"),
                                 what="live at the commune, two levels down")

            # The centre reaches the commune's camera through the province.
            ok = await chair.chair(session_id, "camera", "xa-ba", command="home")
            assert ok["results"]["xa-ba"]["ok"] is True

            # The province is neither chair nor delegate: the commune refuses it.
            refused = await province_chair.chair(session_id, "camera", "xa-ba", expect=409,
                                                 command="home")
            assert refused["error"]["code"] == "not_chair"

            # Delegated, the province may; taken back, it may not.
            await chair.chair(session_id, "delegate", "tinh-b", root="tinh-b")
            await eventually(lambda: _delegated_at(province_chair, session_id),
                             what="the delegation at the province")
            ok = await province_chair.chair(session_id, "camera", "xa-ba", command="home")
            assert ok["results"]["xa-ba"]["ok"] is True
            await chair.chair(session_id, "undelegate", "tinh-b")
            await eventually(lambda: _delegated_at(province_chair, session_id, False),
                             what="the delegation taken back")
            refused = await province_chair.chair(session_id, "camera", "xa-ba", expect=409,
                                                 command="home")
            assert refused["error"]["code"] == "not_chair"
            assert (await _audit(sites["xa-ba"], "remote.camera"))[0]["origin_site"] == "tinh-b"

            # Ended: attendance from both levels reaches the centre's report, through the
            # province, which reports its own subtree too.
            await chair.chair(session_id, "end")
            day = dt.datetime.fromtimestamp(now + 90000, VIETNAM).date().isoformat()
            query = f"/api/v1/reports?period={day}..{day}&format=json"

            async def in_reports() -> Any:
                async with Console(central, "quantri") as top, \
                        Console(province, "quantri") as middle:
                    at_top = {r["site"]: r for r in (await top.get(query))["rows"]}
                    at_middle = {r["site"]: r for r in (await middle.get(query))["rows"]}
                both = all(at_top.get(s, {}).get("sessions_invited") == 1
                           for s in ("tinh-b", "xa-ba"))
                return both and at_middle.get("xa-ba", {}).get("sessions_invited") == 1 \
                    and at_top
            at_top = await eventually(in_reports, what="attendance in the centre's report")
            assert at_top["xa-ba"]["name"] == "UBND xa-ba"
            assert at_top["trung-uong"]["sessions_hosted"] == 1


async def _delegated_at(console: Console, session_id: str, expected: bool = True) -> bool:
    session = await console.get(f"/api/v1/sessions/{session_id}")
    return bool(session["delegations"]) is expected
