"""Multi-site sessions at one site: the chair's controls, a participant's part, and relaying.

The chair site creates a session, approves it (which invites: the record goes down the tree),
moves it to readiness at the lead time, starts and ends it, and runs roll call and the floor.
Each participant site stores the record, runs its readiness check, answers roll call, raises its
hand, and executes the chair's commands after checking the permission itself. A site in between
stores and passes on. What a site reports about itself is state (its ``status``), resent whole
after every reconnect, so a dropped link loses nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any, Final

from controller.audit import AuditLog
from controller.calls import CallService
from controller.config import SiteConfig
from controller.devices import DeviceService
from controller.errors import (
    ConflictError,
    DiemcauError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RemoteRefusedError,
    StorageError,
)
from controller.floor import Floor, FloorChange
from controller.notice import check_notice
from controller.session_rules import (
    KINDS,
    OPEN_STATES,
    REFUSALS,
    Delegation,
    RecordError,
    SessionRecord,
    next_deadline,
    readiness_due,
    record_from_dict,
    refusal,
    site_ids,
    subtree,
    transition,
)
from controller.store import Store
from controller.tree import SiteTree
from controller.uplink_protocol import Command, Result, SessionStatus, SessionUpdate
from controller.web import iso
from media.bridges.base import CallEvent
from monitoring.metrics import SiteMetrics

log = logging.getLogger(__name__)

MAX_STATUS_BYTES: Final = 16 * 1024
SYNC_WINDOW_SECONDS: Final = 7 * 86400.0
IDLE_WAKE_SECONDS: Final = 30.0
CAMERA_REMOTE: Final = frozenset({"power", "ptz.move", "ptz.stop", "ptz.absolute", "zoom", "home",
                                  "preset.recall"})
PROJECTOR_REMOTE: Final = frozenset({"power", "input", "av_mute"})
# Chair actions aimed at one site's room; a delegate may send them too.
SITE_ACTIONS: Final = {"mute": "mic.mute", "camera": "camera", "projector": "projector",
                       "readiness.run": "readiness.run"}
CHAIR_ACTIONS: Final = ("start", "end", "cancel", "readiness", "rollcall.open", "rollcall.close",
                        "floor.grant", "floor.revoke", "floor.lower", "mute", "mute_all",
                        "camera", "projector", "lock", "delegate", "undelegate",
                        "readiness.run")
LOCAL_CONTROL_KEY: Final = "local_control_only"
# Result labels kept as they are in metrics; anything else counts as "error" (bounded labels).
_RESULT_LABELS: Final = frozenset({"ok", "partial", "site_offline", "command_timeout",
                                   "unknown_site", "device_not_found"})


def parse_time(value: Any, key: str) -> float:
    """An API time: ISO 8601 with an offset (or Z), or seconds since the epoch."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.timestamp()
    raise InputError(f"Trường '{key}' phải là thời điểm ISO 8601 có múi giờ "
                     "(ví dụ 2026-12-01T08:00:00+07:00).", code="bad_field")


class SessionService:
    """Sessions stored at this site, and everything this site does in them."""

    def __init__(self, config: SiteConfig, store: Store, audit: AuditLog,
                 devices: DeviceService, calls: CallService, tree: SiteTree,
                 clock: Callable[[], float], metrics: SiteMetrics | None = None) -> None:
        self.config = config
        self.settings = config.sessions
        self.self_id = config.site.id
        self.store = store
        self.audit = audit
        self.devices = devices
        self.calls = calls
        self.tree = tree
        self.clock = clock
        self.metrics = metrics
        self._floors: dict[str, Floor] = {}
        self._checks: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._parsed: dict[str, SessionRecord] = {}
        # Told once when a session this site keeps ends or is cancelled (usage records).
        self.closed_listeners: list[Callable[[SessionRecord], None]] = []
        calls.event_listeners.append(self._on_call_event)
        tree.sessions = self

    # -- storage -------------------------------------------------------------------------------

    def get(self, session_id: str) -> SessionRecord | None:
        """The stored record of a session."""
        row = self.store.query_one("SELECT record FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            return None
        return self._parse(row["record"])

    def require(self, session_id: str) -> SessionRecord:
        """The stored record, or a 404 for the console."""
        record = self.get(session_id)
        if record is None:
            raise NotFoundError("Không có phiên họp này.", code="session_not_found")
        return record

    def records_to_sync(self) -> list[SessionRecord]:
        """Open sessions and those that closed in the last week: what a site that was away
        may not know the end of."""
        rows = self.store.query(
            "SELECT record FROM sessions WHERE state IN ('scheduled', 'readiness', 'live')"
            " OR updated_at >= ? ORDER BY starts_at LIMIT 500",
            (self.clock() - SYNC_WINDOW_SECONDS,))
        return [self._parse(r["record"]) for r in rows]

    def _parse(self, text: str) -> SessionRecord:
        # A chair of thousands of sites reads its big record on every status: parse it once.
        record = self._parsed.get(text)
        if record is None:
            record = record_from_dict(json.loads(text))
            if len(self._parsed) >= 32:
                self._parsed.clear()
            self._parsed[text] = record
        return record

    def records(self, *, open_only: bool = False, limit: int = 200) -> list[SessionRecord]:
        """Stored sessions, soonest first (open ones) or newest first."""
        if open_only:
            rows = self.store.query(
                "SELECT record FROM sessions WHERE state IN ('scheduled', 'readiness', 'live')"
                " ORDER BY starts_at LIMIT ?", (limit,))
        else:
            rows = self.store.query("SELECT record FROM sessions ORDER BY starts_at DESC LIMIT ?",
                                    (limit,))
        return [self._parse(r["record"]) for r in rows]

    def _save(self, record: SessionRecord) -> bool:
        """Store ``record`` unless a newer version is already kept; True when stored."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT version FROM sessions WHERE id = ?",
                               (record.id,)).fetchone()
            if row is not None and int(row[0]) > record.version:
                return False
            conn.execute(
                "INSERT INTO sessions(id, chair, state, starts_at, version, record, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " state = excluded.state, starts_at = excluded.starts_at,"
                " version = excluded.version, record = excluded.record,"
                " updated_at = excluded.updated_at",
                (record.id, record.chair, record.state, record.starts_at, record.version,
                 json.dumps(record.to_dict(), ensure_ascii=False), self.clock()))
        return True

    def statuses(self, session_id: str) -> dict[str, dict[str, Any]]:
        """Each site's reported part in a session."""
        rows = self.store.query("SELECT site_id, status FROM session_sites WHERE session_id = ?",
                                (session_id,))
        return {r["site_id"]: json.loads(r["status"]) for r in rows}

    def status_of(self, session_id: str, site_id: str) -> dict[str, Any]:
        """One site's part in a session (empty before it reported)."""
        row = self.store.query_one(
            "SELECT status FROM session_sites WHERE session_id = ? AND site_id = ?",
            (session_id, site_id))
        return dict(json.loads(row["status"])) if row else {}

    def _save_status(self, session_id: str, site_id: str, status: Mapping[str, Any]) -> None:
        self.store.execute(
            "INSERT INTO session_sites(session_id, site_id, status, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(session_id, site_id) DO UPDATE SET"
            " status = excluded.status, updated_at = excluded.updated_at",
            (session_id, site_id, json.dumps(dict(status), ensure_ascii=False), self.clock()))

    def _event(self, session_id: str, site_id: str, event: str, **details: Any) -> None:
        self.store.execute(
            "INSERT INTO session_events(session_id, ts, site_id, event, details)"
            " VALUES (?, ?, ?, ?, ?)",
            (session_id, self.clock(), site_id, event,
             json.dumps(details, ensure_ascii=False, default=str)))

    @property
    def local_control_only(self) -> bool:
        """Whether this site's operator has refused remote control."""
        return self.store.get_setting(LOCAL_CONTROL_KEY) == "1"

    def set_local_control(self, on: bool, *, actor: str) -> None:
        """Switch local-control-only on or off; audited and reported up."""
        self.store.set_setting(LOCAL_CONTROL_KEY, "1" if on else "0")
        self.audit.record(actor, "site.local_control", self.self_id,
                          details={"local_control_only": on})
        self.tree.mark_changed()
        for record in self.records(open_only=True):
            if record.includes(self.self_id):
                self._update_own(record.id, local_control_only=on)

    # -- views -----------------------------------------------------------------------------

    def role(self, record: SessionRecord) -> str:
        """This site's part: chair, delegate, participant or relay."""
        if record.chair == self.self_id:
            return "chair"
        if any(d.site == self.self_id for d in record.delegations):
            return "delegate"
        return "participant" if self.self_id in record.participants else "relay"

    def describe(self, record: SessionRecord, *, detail: bool = True) -> dict[str, Any]:
        """A session as the API shows it, with every site's part this site knows."""
        out = record.to_dict()
        for key in ("starts_at", "ends_at", "created_at", "started_at", "ended_at"):
            out[key] = iso(out[key])
        out["role"] = self.role(record)
        out["my_status"] = self.status_of(record.id, self.self_id)
        if record.floor.get("since") is not None:
            floor = dict(record.floor)
            floor["since"] = iso(floor["since"])
            floor["remaining"] = round(float(record.floor["since"]) + float(
                record.floor.get("limit", 0)) - self.clock())
            out["floor"] = floor
        if not detail:
            return out
        statuses = self.statuses(record.id)
        entries = {e.id: e for e in self.tree.entries.values()}
        own = self.tree.own_entry()
        sites = []
        for site_id in record.sites():
            if site_id == self.self_id:
                entry = own
            elif site_id in entries:
                entry = entries[site_id]
            else:
                continue
            sites.append({"id": site_id, "name": entry.name, "level": entry.level,
                          "online": entry.online, "summary": entry.summary,
                          "status": statuses.get(site_id, {}),
                          "delegate": record.delegate_of(site_id)})
        out["sites"] = sites
        return out

    # -- the chair creates and approves ----------------------------------------------------------

    def create(self, body: Mapping[str, Any], *, actor: str) -> SessionRecord:
        """A new session chaired by this site, not yet approved; audited."""
        title = body.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise InputError("Cần tên phiên họp (tối đa 200 ký tự).", code="bad_field")
        kind = body.get("kind", "regular")
        if kind not in KINDS:
            raise InputError("Loại phiên họp là 'regular' (thường kỳ) hoặc 'extraordinary' "
                             "(bất thường).", code="bad_field")
        starts_at = parse_time(body.get("starts_at"), "starts_at")
        ends_at = parse_time(body.get("ends_at"), "ends_at")
        now = self.clock()
        if ends_at <= starts_at:
            raise InputError("Giờ kết thúc phải sau giờ bắt đầu.", code="bad_field")
        if starts_at < now - 300:
            raise InputError("Giờ bắt đầu đã qua.", code="bad_field")
        try:
            listed = site_ids(body.get("participants", []), "participants")
            roots = site_ids(body.get("subtrees", []), "subtrees")
        except RecordError as exc:
            raise InputError(f"Danh sách điểm cầu không hợp lệ: {exc}", code="bad_field") from exc
        parents = self.tree.parents()
        participants: list[str] = []
        for site_id in (*listed, *roots):
            if site_id != self.self_id and site_id not in parents:
                raise InputError(f"Điểm cầu '{site_id}' không thuộc cây của điểm cầu này.",
                                 code="unknown_site")
        for root in roots:
            participants.extend(subtree(root, parents))
        participants.extend(listed)
        participants = [s for s in dict.fromkeys(participants) if s != self.self_id]
        if not participants:
            raise InputError("Cần ít nhất một điểm cầu tham dự.", code="bad_field")
        bridge = body.get("bridge")
        if bridge is not None and (not isinstance(bridge, str) or len(bridge) > 64):
            raise InputError("Trường 'bridge' phải là mã cầu hội nghị.", code="bad_field")
        notice = check_notice(kind, now, starts_at, self.settings.holidays)
        record = SessionRecord(
            id=f"{self.self_id[:40]}-{dt.datetime.fromtimestamp(starts_at, dt.UTC):%Y%m%d}-"
               f"{secrets.token_hex(3)}",
            title=title.strip(), kind=kind, chair=self.self_id,
            participants=tuple(participants), starts_at=starts_at, ends_at=ends_at,
            bridge=bridge, secret=body.get("secret") is True, notice=notice.to_dict(),
            floor=Floor(self.settings.floor_seconds).snapshot(), created_by=actor,
            created_at=now, chair_name=self.config.site.name,
            chair_level=self.config.site.level)
        self._save(record)
        self._event(record.id, self.self_id, "created", by=actor, notice=notice.to_dict())
        self.audit.record(actor, "session.create", record.id, details={
            "title": record.title, "kind": kind, "participants": len(participants),
            "notice_ok": notice.ok, "notice": notice.message})
        if not notice.ok:
            log.warning("session %s announced late: %s", record.id, notice.given)
        return record

    def approve(self, session_id: str, *, actor: str) -> SessionRecord:
        """Approve a session, which sends its invitations down the tree; audited."""
        record = self._chaired(session_id)
        if record.approved:
            raise ConflictError("Phiên họp đã được duyệt.", code="already_approved")
        if record.state != "scheduled":
            raise ConflictError("Chỉ duyệt được phiên họp chưa diễn ra.", code="bad_state")
        record = record.bump(approved=True, approved_by=actor)
        self.audit.record(actor, "session.approve", record.id,
                          details={"participants": len(record.participants)})
        self._event(record.id, self.self_id, "approved", by=actor)
        self.publish(record)
        return record

    def _chaired(self, session_id: str) -> SessionRecord:
        record = self.require(session_id)
        if record.chair != self.self_id:
            raise PermissionDeniedError("Điểm cầu này không chủ trì phiên họp.", code="not_chair")
        return record

    # -- publishing down the tree -----------------------------------------------------------------

    def publish(self, record: SessionRecord) -> None:
        """Store a record this site changed (or received) and send it on to the children."""
        self._save(record)
        if record.approved:
            self._send_to_children(record)
        self._wake.set()

    def _send_to_children(self, record: SessionRecord, only: str | None = None) -> None:
        groups: dict[str, list[str]] = {}
        for site_id in record.participants:
            child = self.tree.route(site_id)
            if child is not None and (only is None or child == only):
                groups.setdefault(child, []).append(site_id)
        for child, sites in groups.items():
            mine = set(sites)
            trimmed = SessionRecord(**{
                **record.__dict__, "participants": tuple(sites),
                "delegations": tuple(Delegation(d.site, d.root,
                                                tuple(s for s in d.sites if s in mine))
                                     for d in record.delegations if mine & set(d.sites))})
            self._spawn(self._send(child, SessionUpdate(trimmed.to_dict())))

    async def _send(self, child: str, update: SessionUpdate) -> None:
        if self.tree.send_down is not None:
            await self.tree.send_down(child, update)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- from the link ---------------------------------------------------------------------

    def on_session_from_parent(self, update: SessionUpdate) -> None:
        """A session record came down: keep it, pass it on, and play this site's part."""
        try:
            record = record_from_dict(update.session)
        except RecordError as exc:
            log.warning("ignored a session record from the parent: %s", exc)
            return
        if record.chair == self.self_id:
            return  # our own session cannot come from above
        known = self.get(record.id)
        if known is not None and known.version >= record.version:
            if known.version == record.version:
                self._send_to_children(known)
            return
        self._save(record)
        if record.state in ("ended", "cancelled") and (
                known is None or known.state not in ("ended", "cancelled")):
            self._closed(record)
        if known is None and record.includes(self.self_id):
            self.audit.record("uplink", "session.invitation", record.id, origin_site=record.chair,
                              details={"title": record.title, "starts_at": record.starts_at})
            self._event(record.id, self.self_id, "invited")
        self._send_to_children(record)
        if record.includes(self.self_id):
            self._play_part(known, record)
        self._wake.set()

    def _play_part(self, before: SessionRecord | None, record: SessionRecord) -> None:
        status = self.status_of(record.id, self.self_id)
        if not status:
            self._update_own(record.id, invited_at=self.clock(),
                             local_control_only=self.local_control_only)
        if record.state in ("readiness", "live") and "readiness" not in status:
            self.start_readiness(record.id, actor="system")
        if record.state in ("ended", "cancelled") and status.get("hand", {}).get("raised"):
            self._update_own(record.id, hand={"raised": False, "at": self.clock()})

    def _on_call_event(self, bridge: str, event: CallEvent) -> None:
        """A call that drops and comes back is a leave and a new join of the live session it
        serves (the report counts each stretch connected)."""
        if event.name not in ("dropped", "recovered"):
            return
        for record in self.records(open_only=True):
            if record.state != "live" or not record.includes(self.self_id) \
                    or self._bridge_for(record) != bridge \
                    or not self.status_of(record.id, self.self_id).get("in_call"):
                continue
            self._event(record.id, self.self_id,
                        "left" if event.name == "dropped" else "joined", bridge=bridge,
                        reason=event.name)

    def _closed(self, record: SessionRecord) -> None:
        for listener in self.closed_listeners:
            try:
                listener(record)
            except Exception:
                log.exception("a listener failed on the end of session %s", record.id)

    def on_status_from_child(self, child_id: str, msg: SessionStatus) -> None:
        """A site below reported its part: keep it; the chair acts on it, others pass it up."""
        record = self.get(msg.session_id)
        if record is None or not record.includes(msg.site_id):
            return
        status = msg.status
        if len(json.dumps(status, default=str)) > MAX_STATUS_BYTES:
            log.warning("ignored an oversized status of %s", msg.site_id)
            return
        before = self.status_of(record.id, msg.site_id)
        self._save_status(record.id, msg.site_id, status)
        if record.chair != self.self_id:
            self.tree.send_up(msg)
            return
        self._chair_sees(record, msg.site_id, before, status)

    def _chair_sees(self, record: SessionRecord, site_id: str, before: Mapping[str, Any],
                    status: Mapping[str, Any]) -> None:
        hand, old_hand = status.get("hand"), before.get("hand")
        if isinstance(hand, dict) and hand != old_hand and record.state in OPEN_STATES:
            floor = self._floor(record)
            changed = (floor.raise_hand(site_id, self.clock()) if hand.get("raised") is True
                       else floor.lower_hand(site_id))
            if changed:
                self._event(record.id, site_id, "hand_raised" if hand.get("raised")
                            else "hand_lowered")
                self.publish(record.bump(floor=floor.snapshot()))
        rollcall, old_rollcall = status.get("rollcall"), before.get("rollcall")
        if isinstance(rollcall, dict) and rollcall != old_rollcall:
            self._event(record.id, site_id, "rollcall", attendees=rollcall.get("attendees"))
        readiness = status.get("readiness")
        if isinstance(readiness, dict) and readiness != before.get("readiness"):
            self._event(record.id, site_id, "readiness", ready=readiness.get("ready"))

    def on_child_subtree(self, child_id: str) -> None:
        """A child (re)sent its subtree: send it every session that concerns it."""
        for record in self.records_to_sync():
            if record.approved:
                self._send_to_children(record, only=child_id)

    def on_uplink_connected(self) -> None:
        """A fresh link up: resend every status kept for sessions we did not chair."""
        for record in self.records_to_sync():
            if record.chair == self.self_id:
                continue
            for site_id, status in self.statuses(record.id).items():
                self.tree.send_up(SessionStatus(record.id, site_id, status))

    def _update_own(self, session_id: str, **changes: Any) -> dict[str, Any]:
        """Change this site's own part in a session, keep it, and report it up."""
        status = self.status_of(session_id, self.self_id)
        status.update(changes)
        status["updated_at"] = self.clock()
        self._save_status(session_id, self.self_id, status)
        record = self.get(session_id)
        if record is not None and record.chair != self.self_id:
            self.tree.send_up(SessionStatus(session_id, self.self_id, status))
        return status

    # -- a participant's own actions ----------------------------------------------------------

    def participating(self, session_id: str) -> SessionRecord:
        """The record of a session this site takes part in, or a clear refusal."""
        record = self.require(session_id)
        if not record.includes(self.self_id):
            raise PermissionDeniedError("Điểm cầu này không tham dự phiên họp.",
                                        code="not_participant")
        return record

    def confirm_rollcall(self, session_id: str, attendees: int, names: list[str], *,
                         actor: str) -> dict[str, Any]:
        """Answer roll call with the number of attendees and their names; audited."""
        record = self.participating(session_id)
        if record.state not in ("readiness", "live"):
            raise ConflictError("Chỉ điểm danh khi phiên họp đang chuẩn bị hoặc đang diễn ra.",
                                code="bad_state")
        if record.chair == self.self_id:
            self._event(record.id, self.self_id, "rollcall", attendees=attendees)
        self.audit.record(actor, "session.rollcall", record.id,
                          details={"attendees": attendees, "names": len(names)})
        return self._update_own(session_id, rollcall={
            "attendees": attendees, "names": names, "at": self.clock(), "by": actor})

    def raise_hand(self, session_id: str, raised: bool, *, actor: str) -> dict[str, Any]:
        """Ask for the floor, or withdraw the request; audited."""
        record = self.participating(session_id)
        if record.state != "live":
            raise ConflictError("Chỉ xin phát biểu khi phiên họp đang diễn ra.",
                                code="session_not_live")
        self.audit.record(actor, "session.hand", record.id, details={"raised": raised})
        status = self._update_own(session_id, hand={"raised": raised, "at": self.clock()})
        if record.chair == self.self_id:
            self._chair_sees(record, self.self_id, {},
                             {"hand": {"raised": raised, "at": self.clock()}})
        return status

    # -- readiness -------------------------------------------------------------------------

    def start_readiness(self, session_id: str, *, actor: str) -> asyncio.Task[dict[str, Any]]:
        """Run the readiness check in the background (one at a time per session)."""
        running = self._checks.get(session_id)
        if running is not None and not running.done():
            return running
        task = asyncio.ensure_future(self.run_readiness(session_id, actor=actor))
        self._checks[session_id] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_readiness(self, session_id: str, *, actor: str) -> dict[str, Any]:
        """Check devices, camera, projector, microphones and the bridge; report the result."""
        record = self.participating(session_id)
        who = f"{actor}" if actor != "system" else "readiness"
        items = [self._check_devices()]
        items.append(await self._check_step(
            "camera", self._device("camera"), "preset.recall",
            {"preset": self.settings.speaker_preset}, who,
            ok=f"Camera đã về vị trí đặt sẵn {self.settings.speaker_preset}."))
        items.append(await self._check_projector(who))
        items.append(await self._check_mic())
        items.append(await self._check_bridge(record, who))
        ready = all(item["ok"] is not False for item in items)
        result = {"ready": ready, "at": self.clock(), "items": items}
        self.audit.record(who, "session.readiness", record.id,
                          result="ready" if ready else "not_ready",
                          details={"failed": [i["check"] for i in items if i["ok"] is False]})
        self._update_own(session_id, readiness=result)
        if record.chair == self.self_id:
            self._event(record.id, self.self_id, "readiness", ready=ready)
        return result

    def _device(self, kind: str) -> str | None:
        chosen = getattr(self.settings, kind)
        if chosen is not None:
            return str(chosen)
        for device in self.config.devices:
            if device.kind == kind and device.enabled:
                return device.id
        return None

    def _check_devices(self) -> dict[str, Any]:
        offline, unknown = [], []
        for device_id in self.devices.ids():
            health = self.devices.health(device_id)
            if health is None or health.online is None:
                unknown.append(device_id)
            elif not health.online:
                offline.append(device_id)
        if offline:
            return {"check": "devices", "ok": False,
                    "detail": "Thiết bị mất kết nối: " + ", ".join(offline)}
        if unknown:
            return {"check": "devices", "ok": None,
                    "detail": "Chưa kiểm tra được: " + ", ".join(unknown)}
        return {"check": "devices", "ok": True,
                "detail": f"{len(self.devices.ids())} thiết bị đều hoạt động."}

    async def _check_step(self, check: str, device_id: str | None, command: str,
                          args: dict[str, Any], actor: str, *, ok: str) -> dict[str, Any]:
        if device_id is None:
            return {"check": check, "ok": None, "detail": "Điểm cầu không có thiết bị này."}
        try:
            await self.devices.command(device_id, command, args, actor=actor)
        except DiemcauError as exc:
            return {"check": check, "ok": False, "detail": exc.message}
        return {"check": check, "ok": True, "detail": ok}

    async def _check_projector(self, actor: str) -> dict[str, Any]:
        projector = self._device("projector")
        item = await self._check_step("projector", projector, "power", {"on": True}, actor,
                                      ok="Máy chiếu đã bật.")
        if item["ok"] and projector is not None and self.settings.projector_input:
            source = self.settings.projector_input
            step = await self._check_step("projector", projector, "input", {"source": source},
                                          actor, ok=f"Máy chiếu đã bật, nguồn {source}.")
            item = step
        return item

    async def _check_mic(self) -> dict[str, Any]:
        mixer = self._device("mixer")
        if mixer is None:
            return {"check": "mic", "ok": None, "detail": "Điểm cầu không có bàn trộn âm thanh."}
        health = self.devices.health(mixer)
        readings = health.readings if health is not None and health.online else None
        if not readings:  # not polled yet (a site just started): ask the mixer now
            try:
                readings = await self.devices.probe(mixer)
            except DiemcauError as exc:
                return {"check": "mic", "ok": False,
                        "detail": f"Bàn trộn âm thanh không phản hồi: {exc.message}"}
        wanted = set(self.settings.mic_channels)
        channels = [c for c in readings.get("channels", [])
                    if isinstance(c, dict) and (not wanted or c.get("channel") in wanted)]
        if not channels:
            return {"check": "mic", "ok": False,
                    "detail": "Không đọc được trạng thái các kênh micro."}
        parts = [f"kênh {c.get('channel')} ({c.get('gain_db')} dB"
                 f"{', đang tắt' if c.get('muted') else ''})" for c in channels]
        return {"check": "mic", "ok": True, "detail": "Micro sẵn sàng: " + "; ".join(parts) + ".",
                "channels": [{k: c.get(k) for k in ("channel", "muted", "gain_db")}
                             for c in channels]}

    async def _check_bridge(self, record: SessionRecord, actor: str) -> dict[str, Any]:
        bridge = self._bridge_for(record)
        if bridge is None:
            return {"check": "bridge", "ok": None, "detail": "Chưa cấu hình cầu hội nghị."}
        described = self.calls.describe(bridge)
        if described.get("call") is not None:
            return {"check": "bridge", "ok": True, "detail": "Đang kết nối hội nghị."}
        seconds = self.settings.test_join_seconds
        try:
            await self.calls.join(bridge, actor=actor, subscribe="none", secret=record.secret)
            await asyncio.sleep(seconds)
            state = self.calls.describe(bridge).get("call") or {}
            await self.calls.leave(bridge, actor=actor)
        except DiemcauError as exc:
            return {"check": "bridge", "ok": False, "detail": exc.message}
        if state.get("state") not in (None, "connected"):
            return {"check": "bridge", "ok": False,
                    "detail": f"Kết nối thử không ổn định ({state.get('state')})."}
        return {"check": "bridge", "ok": True,
                "detail": f"Kết nối thử tới cầu hội nghị thành công ({seconds:.0f} giây)."}

    def _bridge_for(self, record: SessionRecord) -> str | None:
        ids = self.calls.ids()
        if record.bridge in ids:
            return record.bridge
        return ids[0] if ids else None

    async def join(self, session_id: str, *, actor: str) -> dict[str, Any]:
        """Join the session's conference on this site's bridge; audited by the call."""
        record = self.participating(session_id)
        bridge = self._bridge_for(record)
        if bridge is None:
            raise ConflictError("Điểm cầu chưa cấu hình cầu hội nghị.", code="no_bridge")
        if record.locked and record.chair != self.self_id:
            # Like a locked meeting room: who is in stays in, nobody new comes in.
            raise ConflictError("Điểm cầu chủ trì đã khóa phiên họp; không vào thêm được.",
                                code="session_locked")
        result = await self.calls.join(bridge, actor=actor, secret=record.secret)
        self._update_own(session_id, in_call=True, joined_at=self.clock())
        self._event(record.id, self.self_id, "joined", bridge=bridge)
        return result

    async def leave(self, session_id: str, *, actor: str) -> dict[str, Any]:
        """Leave the session's conference; audited by the call."""
        record = self.participating(session_id)
        bridge = self._bridge_for(record)
        if bridge is None:
            raise ConflictError("Điểm cầu chưa cấu hình cầu hội nghị.", code="no_bridge")
        result = await self.calls.leave(bridge, actor=actor)
        self._update_own(session_id, in_call=False, left_at=self.clock())
        self._event(record.id, self.self_id, "left", bridge=bridge)
        return result

    # -- chair control ---------------------------------------------------------------------

    async def chair(self, session_id: str, action: str, site: str | None,
                    args: Mapping[str, Any], *, actor: str) -> dict[str, Any]:
        """One chair action; audited here, and at the target for commands sent to a site."""
        if action not in CHAIR_ACTIONS:
            raise InputError(f"Không có thao tác '{action[:40]}'.", code="unknown_action")
        record = self.require(session_id)
        if action in SITE_ACTIONS:
            target = self._target(record, site)
            site_args = self._site_args(action, args)
            result = await self.command_site(record, target, SITE_ACTIONS[action], site_args,
                                             actor=actor)
            if action == "mute":
                result["bridge_streams"] = await self._moderate(target, site_args["on"], actor)
            return {"action": action, "results": {target: result}}
        if record.chair != self.self_id:
            raise PermissionDeniedError("Điểm cầu này không chủ trì phiên họp.", code="not_chair")
        try:
            out = await self._chair_action(record, action, site, args, actor)
        except DiemcauError as exc:
            self.audit.record(actor, f"chair.{action}", record.id, result=exc.code,
                              details={"site": site, "message": exc.message})
            raise
        self.audit.record(actor, f"chair.{action}", record.id,
                          result="ok" if all(r.get("ok") for r in out["results"].values())
                          else "partial", details={"site": site, "results": {
                              k: v.get("code") for k, v in out["results"].items()}})
        return out

    def _target(self, record: SessionRecord, site: str | None) -> str:
        if not isinstance(site, str) or not site:
            raise InputError("Cần chọn điểm cầu ('site').", code="bad_field")
        if not self.tree.known(site):
            raise NotFoundError(f"Không biết điểm cầu '{site[:64]}'.", code="unknown_site")
        return site

    @staticmethod
    def _site_args(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if action == "mute":
            on = args.get("on", True)
            if not isinstance(on, bool):
                raise InputError("Trường 'on' phải là true hoặc false.", code="bad_field")
            return {"on": on}
        if action in ("camera", "projector"):
            allowed = CAMERA_REMOTE if action == "camera" else PROJECTOR_REMOTE
            command = args.get("command")
            if command not in allowed:
                raise InputError(f"Lệnh từ xa cho {action} là một trong: "
                                 f"{', '.join(sorted(allowed))}.", code="bad_field")
            inner = args.get("args", {})
            device = args.get("device")
            if not isinstance(inner, dict) or (device is not None and not isinstance(device, str)):
                raise InputError("Trường 'args' phải là đối tượng, 'device' là mã thiết bị.",
                                 code="bad_field")
            return {"command": command, "args": inner, "device": device}
        return {}

    async def _chair_action(self, record: SessionRecord, action: str, site: str | None,
                            args: Mapping[str, Any], actor: str) -> dict[str, Any]:
        now = self.clock()
        results: dict[str, dict[str, Any]] = {}
        if action in ("start", "end", "cancel", "readiness"):
            if action == "start" and not record.approved:
                raise ConflictError("Phiên họp chưa được duyệt.", code="not_approved")
            changed = transition(record, action, now)
            if changed is None:
                raise ConflictError(f"Không thể '{action}' khi phiên họp đang ở trạng thái "
                                    f"{record.state}.", code="bad_state")
            if action == "end":
                floor = self._floor(changed)
                gone = floor.revoke()
                changed = replace(changed, floor=floor.snapshot())
                if gone.revoked:
                    results.update(await self._fan_out(changed, [gone.revoked], "floor.revoke",
                                                       {}, actor))
            self._event(record.id, self.self_id, changed.state, by=actor)
            self.publish(changed)
            if changed.state in ("ended", "cancelled"):
                self._closed(changed)
            if changed.state in ("readiness", "live") and record.includes(self.self_id):
                self._play_part(record, changed)
        elif action in ("rollcall.open", "rollcall.close"):
            if record.state not in ("readiness", "live"):
                raise ConflictError("Chỉ điểm danh khi phiên họp đang chuẩn bị hoặc diễn ra.",
                                    code="bad_state")
            self.publish(record.bump(rollcall_open=action == "rollcall.open"))
        elif action in ("floor.grant", "floor.revoke", "floor.lower"):
            if record.state != "live":
                raise ConflictError("Phiên họp chưa diễn ra.", code="session_not_live")
            floor = self._floor(record)
            if action == "floor.grant":
                change = floor.grant(self._target(record, site), now) if site \
                    else floor.grant_next(now)
                if change.granted is None and change.revoked is None and not site:
                    raise ConflictError("Không có điểm cầu nào xin phát biểu.",
                                        code="queue_empty")
            elif action == "floor.revoke":
                change = floor.revoke()
            else:
                lowered = self._target(record, site)
                floor.lower_hand(lowered)
                change = FloorChange()
            self.publish(record.bump(floor=floor.snapshot()))
            results.update(await self._apply_floor(record, change, actor))
            if action == "floor.lower":  # the site's own button shows the hand down too
                results.update(await self._fan_out(record, [lowered], "hand.lower", {}, actor))
        elif action == "mute_all":
            on = args.get("on", True)
            if not isinstance(on, bool):
                raise InputError("Trường 'on' phải là true hoặc false.", code="bad_field")
            speaker = record.floor.get("speaker")
            targets = [s for s in record.participants if s != speaker or not on]
            results.update(await self._fan_out(record, targets, "mic.mute", {"on": on}, actor))
            for target, result in results.items():
                if result.get("ok"):
                    result["bridge_streams"] = await self._moderate(target, on, actor)
        elif action == "lock":
            on = args.get("on", True)
            if not isinstance(on, bool):
                raise InputError("Trường 'on' phải là true hoặc false.", code="bad_field")
            self.publish(record.bump(locked=on))
        elif action == "delegate":
            if record.locked:
                raise ConflictError("Phiên họp đã khóa; không đổi ủy quyền.", code="locked")
            delegate = self._target(record, site)
            root = args.get("root", delegate)
            if not isinstance(root, str) or not self.tree.known(root):
                raise InputError("Trường 'root' phải là một điểm cầu trong cây.",
                                 code="unknown_site")
            below = subtree(root, self.tree.parents())
            if delegate not in below and delegate != self.self_id:
                raise InputError("Chỉ ủy quyền cho một điểm cầu trong nhánh đó.",
                                 code="bad_field")
            sites = tuple(s for s in below if record.includes(s) and s != self.self_id)
            kept = tuple(d for d in record.delegations if d.site != delegate)
            self.publish(record.bump(delegations=(*kept, Delegation(delegate, root, sites))))
            results[delegate] = {"ok": True, "code": "ok", "sites": len(sites)}
        elif action == "undelegate":
            delegate = self._target(record, site)
            kept = tuple(d for d in record.delegations if d.site != delegate)
            self.publish(record.bump(delegations=kept))
        return {"action": action, "session": self.describe(self.require(record.id),
                                                            detail=False), "results": results}

    def _floor(self, record: SessionRecord) -> Floor:
        return Floor.restore(dict(record.floor), self.settings.floor_seconds)

    async def _apply_floor(self, record: SessionRecord, change: FloorChange,
                           actor: str) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        for site, action, mute in ((change.revoked, "floor.revoke", True),
                                   (change.granted, "floor.grant", False)):
            if site is None:
                continue
            results.update(await self._fan_out(record, [site], action, {}, actor))
            # The spotlight: the speaker is heard at the bridge too, where it allows moderation.
            results[site]["bridge_streams"] = await self._moderate(site, mute, actor)
            self._event(record.id, site, action.replace(".", "_"), by=actor)
        return results

    async def _moderate(self, site: str, mute: bool, actor: str) -> int:
        """Apply a chair's mute or unmute at the bridge, for a site shown by its name."""
        entry = self.tree.entries.get(site)
        display = self.config.site.name if site == self.self_id else (
            entry.name if entry is not None else None)
        if display is None:
            return 0
        try:
            return await self.calls.moderate(display, mute=mute, actor=actor)
        except DiemcauError:
            return 0

    async def _fan_out(self, record: SessionRecord, targets: list[str], action: str,
                       args: dict[str, Any], actor: str) -> dict[str, dict[str, Any]]:
        async def one(target: str) -> tuple[str, dict[str, Any]]:
            try:
                return target, await self.command_site(record, target, action, args,
                                                       actor=actor, audit_origin=False)
            except DiemcauError as exc:
                return target, {"ok": False, "code": exc.code, "message": exc.message}
        pairs = await asyncio.gather(*(one(t) for t in targets))
        return dict(pairs)

    async def command_site(self, record: SessionRecord, target: str, action: str,
                           args: dict[str, Any], *, actor: str,
                           audit_origin: bool = True) -> dict[str, Any]:
        """Send one command to ``target`` (or run it here) and return its result."""
        command = self.tree.new_command(session_id=record.id, origin_user=actor, target=target,
                                        action=action, args=args,
                                        ttl=self.settings.command_timeout_seconds)
        started = time.perf_counter()
        try:
            if target == self.self_id:
                result = await self.execute_remote(command)
            else:
                result = await self.tree.send_command(command)
        except DiemcauError as exc:
            self._observe(action, exc.code, started)
            if audit_origin:
                self.audit.record(actor, f"chair.{action}", target, result=exc.code,
                                  details={"session": record.id, "message": exc.message})
            raise
        self._observe(action, "ok" if result.ok else result.code, started)
        if audit_origin:
            self.audit.record(actor, f"chair.{action}", target,
                              result="ok" if result.ok else result.code,
                              details={"session": record.id, "args": args,
                                       "message": result.message})
        out = {"ok": result.ok, "code": result.code, "message": result.message,
               **result.data}
        if not result.ok and audit_origin:
            raise RemoteRefusedError(result.message or result.code, code=result.code)
        return out

    def _observe(self, action: str, result: str, started: float) -> None:
        if self.metrics is not None:
            label = result if result in REFUSALS or result in _RESULT_LABELS else "error"
            self.metrics.chair_command_seconds.labels(action, label).observe(
                time.perf_counter() - started)

    # -- executing a command that came down (or from this site's own chair) -------------------

    async def execute_remote(self, command: Command) -> Result:
        """Check the permission here, at the target, then run the command; audited."""
        record = self.get(command.session_id)
        reason = refusal(record, target=self.self_id, origin_site=command.origin_site,
                         action=command.action, local_control_only=self.local_control_only)
        details = {"session": command.session_id, "args": command.args,
                   "command": command.id}
        if reason is not None:
            self.audit.record(command.origin_user, f"remote.{command.action}", self.self_id,
                              result="refused", origin_site=command.origin_site,
                              details={**details, "reason": reason})
            log.info("refused %s from %s: %s", command.action, command.origin_site, reason)
            return Result(command.id, False, reason, REFUSALS[reason], {})
        assert record is not None
        try:
            data = await self._perform(record, command)
        except DiemcauError as exc:
            self.audit.record(command.origin_user, f"remote.{command.action}", self.self_id,
                              result=exc.code, origin_site=command.origin_site,
                              details={**details, "message": exc.message})
            return Result(command.id, False, exc.code, exc.message[:250], {})
        failed = [s for s in data.get("steps", []) if not s.get("ok")]
        self.audit.record(command.origin_user, f"remote.{command.action}", self.self_id,
                          result="partial" if failed else "ok",
                          origin_site=command.origin_site, details=details)
        if failed:
            return Result(command.id, False, "partial",
                          "; ".join(str(s.get("message", "")) for s in failed)[:250], data)
        return Result(command.id, True, "ok", "", data)

    async def _perform(self, record: SessionRecord, command: Command) -> dict[str, Any]:
        actor = f"{command.origin_user}@{command.origin_site}"[:128]
        origin = command.origin_site
        args = command.args
        if command.action == "mic.mute":
            on = args.get("on") is not False
            steps = await self._mics(on, actor, origin)
            self._update_own(record.id, muted=on)
            return {"steps": steps}
        if command.action == "floor.grant":
            steps = await self._mics(False, actor, origin)
            camera = self._device("camera")
            if camera is not None:
                steps.append(await self._step(
                    "camera", self.devices.command(camera, "preset.recall",
                                                   {"preset": self.settings.speaker_preset},
                                                   actor=actor, origin_site=origin)))
            self._update_own(record.id, floor=True, muted=False,
                             hand={"raised": False, "at": self.clock()})
            return {"steps": steps}
        if command.action == "floor.revoke":
            steps = await self._mics(True, actor, origin)
            self._update_own(record.id, floor=False, muted=True)
            return {"steps": steps}
        if command.action in ("camera", "projector"):
            kind = command.action
            allowed = CAMERA_REMOTE if kind == "camera" else PROJECTOR_REMOTE
            name = args.get("command")
            inner = args.get("args", {})
            if name not in allowed or not isinstance(inner, dict):
                raise InputError("Lệnh không được phép từ xa.", code="bad_field")
            device = args.get("device") or self._device(kind)
            if not isinstance(device, str) or device not in self.devices.ids() or \
                    self.devices.describe(device)["kind"] != kind:
                raise NotFoundError(f"Điểm cầu không có {kind} này.", code="device_not_found")
            result = await self.devices.command(device, str(name), inner, actor=actor,
                                                origin_site=origin)
            return {"device": device, "result": result}
        if command.action == "hand.lower":
            self._update_own(record.id, hand={"raised": False, "at": self.clock()})
            return {}
        if command.action == "readiness.run":
            return {"readiness": await self.start_readiness(record.id, actor=actor)}
        raise InputError("Lệnh không được hỗ trợ.", code="unknown_action")

    async def _mics(self, mute: bool, actor: str, origin: str) -> list[dict[str, Any]]:
        mixer = self._device("mixer")
        if mixer is None:
            return [{"step": "mic", "ok": False, "code": "no_device",
                     "message": "Điểm cầu không có bàn trộn âm thanh."}]
        channels = list(self.settings.mic_channels) or list(
            self.devices.describe(mixer).get("limits", {}).get("channels", []))
        steps = []
        for channel in channels:
            steps.append(await self._step(f"mic {channel}", self.devices.command(
                mixer, "mute", {"channel": channel, "on": mute}, actor=actor,
                origin_site=origin)))
        return steps

    @staticmethod
    async def _step(name: str, action: Awaitable[Any]) -> dict[str, Any]:
        try:
            await action
        except DiemcauError as exc:
            return {"step": name, "ok": False, "code": exc.code, "message": exc.message}
        return {"step": name, "ok": True}

    # -- time ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Move chaired sessions to readiness at the lead time and watch speaking time."""
        lead = self.settings.readiness_lead_minutes * 60.0
        while True:
            self._wake.clear()
            try:
                wait = self._tick(lead)
            except StorageError:
                log.warning("sessions: database unavailable; will retry", exc_info=True)
                wait = IDLE_WAKE_SECONDS
            with suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _tick(self, lead: float) -> float:
        now = self.clock()
        chaired = [r for r in self.records(open_only=True) if r.chair == self.self_id]
        deadlines: list[float] = []
        for record in chaired:
            if readiness_due(record, lead, now):
                changed = transition(record, "readiness", now)
                if changed is not None:
                    self.audit.record("system", "chair.readiness", record.id)
                    self._event(record.id, self.self_id, "readiness_started")
                    self.publish(changed)
                    if record.includes(self.self_id):
                        self._play_part(record, changed)
                continue
            floor = self._floor(record)
            if record.state == "live" and floor.handle_timer(now):
                self._event(record.id, str(floor.speaker), "floor_overtime")
                self.publish(record.bump(floor=floor.snapshot()))
                continue
            if (due := floor.next_deadline()) is not None and record.state == "live":
                deadlines.append(due)
        due = next_deadline(chaired, lead)
        if due is not None:
            deadlines.append(due)
        soonest = min(deadlines, default=now + IDLE_WAKE_SECONDS)
        return min(IDLE_WAKE_SECONDS, max(0.05, soonest - now))

    async def close(self) -> None:
        """Cancel checks and sends in progress (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with suppress(asyncio.CancelledError, Exception):
                await task
