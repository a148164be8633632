"""Sessions as data, sans I/O: the record every site keeps, its states, and who may command.

The chair site owns a session's record and is the only one that changes it; every change bumps
``version`` and travels down the tree, and a site keeps the newest version it has seen. States:
``scheduled`` → ``readiness`` (at the lead time before the start) → ``live`` → ``ended``, or
``cancelled`` before it went live. A session nobody approved stays at the chair site.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

STATES: Final = ("scheduled", "readiness", "live", "ended", "cancelled")
KINDS: Final = ("regular", "extraordinary")
OPEN_STATES: Final = frozenset({"scheduled", "readiness", "live"})
_SITE_ID: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_PARTICIPANTS: Final = 5000

# Which transitions a chair action may make.
_TRANSITIONS: Final[dict[str, dict[str, str]]] = {
    "readiness": {"scheduled": "readiness"},
    "start": {"scheduled": "live", "readiness": "live"},
    "end": {"live": "ended"},
    "cancel": {"scheduled": "cancelled", "readiness": "cancelled"},
}

# Remote actions a target executes, and the session states in which it accepts them.
REMOTE_ACTIONS: Final[dict[str, frozenset[str]]] = {
    "floor.grant": frozenset({"live"}),
    "floor.revoke": frozenset({"live"}),
    "hand.lower": frozenset({"live"}),
    "mic.mute": frozenset({"live"}),
    "camera": frozenset({"live"}),
    "projector": frozenset({"live"}),
    "readiness.run": frozenset({"readiness", "live"}),
}

REFUSALS: Final[dict[str, str]] = {
    "unknown_session": "Điểm cầu này không có phiên họp đó.",
    "session_not_live": "Phiên họp chưa diễn ra hoặc đã kết thúc; lệnh không được thực hiện.",
    "not_participant": "Điểm cầu này không tham dự phiên họp.",
    "not_chair": "Lệnh không đến từ điểm cầu chủ trì hay điểm cầu được ủy quyền.",
    "local_control_only": "Điểm cầu đang ở chế độ chỉ điều khiển tại chỗ.",
    "unknown_action": "Lệnh không được hỗ trợ.",
}


class RecordError(ValueError):
    """A session record (from the API or the link) that cannot be used."""


@dataclass(frozen=True)
class Delegation:
    """Control of ``sites`` handed by the chair to ``site``."""

    site: str
    root: str
    sites: tuple[str, ...]


@dataclass(frozen=True)
class SessionRecord:
    """One multi-site session, as the chair last published it."""

    id: str
    title: str
    kind: str
    chair: str
    participants: tuple[str, ...]
    starts_at: float
    ends_at: float
    bridge: str | None = None
    secret: bool = False
    state: str = "scheduled"
    approved: bool = False
    approved_by: str | None = None
    locked: bool = False
    delegations: tuple[Delegation, ...] = ()
    floor: Mapping[str, Any] = field(default_factory=dict)
    rollcall_open: bool = False
    notice: Mapping[str, Any] = field(default_factory=dict)
    created_by: str = ""
    created_at: float = 0.0
    chair_name: str = ""  # for participants, whose tree does not reach up to the chair
    chair_level: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    version: int = 1

    def includes(self, site: str) -> bool:
        """Whether ``site`` takes part (the chair always does)."""
        return site == self.chair or site in self.participants

    def sites(self) -> tuple[str, ...]:
        """The chair and every participant, once each."""
        return tuple(dict.fromkeys((self.chair, *self.participants)))

    def delegate_of(self, site: str) -> str | None:
        """The site that holds delegated control of ``site``, if any."""
        for d in self.delegations:
            if site in d.sites:
                return d.site
        return None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON (the API's and the link's shape)."""
        return {
            "id": self.id, "title": self.title, "kind": self.kind, "chair": self.chair,
            "participants": list(self.participants), "starts_at": self.starts_at,
            "ends_at": self.ends_at, "bridge": self.bridge, "secret": self.secret,
            "state": self.state, "approved": self.approved, "approved_by": self.approved_by,
            "locked": self.locked,
            "delegations": [{"site": d.site, "root": d.root, "sites": list(d.sites)}
                            for d in self.delegations],
            "floor": dict(self.floor), "rollcall_open": self.rollcall_open,
            "notice": dict(self.notice), "created_by": self.created_by,
            "created_at": self.created_at, "chair_name": self.chair_name,
            "chair_level": self.chair_level,
            "started_at": self.started_at,
            "ended_at": self.ended_at, "version": self.version,
        }

    def bump(self, **changes: Any) -> SessionRecord:
        """A changed copy with the next version."""
        return replace(self, version=self.version + 1, **changes)


def _text(data: Mapping[str, Any], key: str, limit: int, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise RecordError(f"field {key!r} must be text of at most {limit} characters")
    return value


def _number(data: Mapping[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"field {key!r} must be a number")
    try:
        number = float(value)  # an integer too large for a float raises OverflowError
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RecordError(f"field {key!r} must be a number")
    return number


def site_ids(values: Any, key: str) -> tuple[str, ...]:
    """A checked list of site ids."""
    if not isinstance(values, list) or len(values) > MAX_PARTICIPANTS:
        raise RecordError(f"field {key!r} must be a list of site ids")
    for v in values:
        if not isinstance(v, str) or not _SITE_ID.match(v):
            raise RecordError(f"field {key!r} holds an invalid site id")
    return tuple(dict.fromkeys(values))


def record_from_dict(data: Any) -> SessionRecord:
    """Check and build a record received over the link; raises `RecordError`."""
    if not isinstance(data, dict):
        raise RecordError("a session must be an object")
    kind = data.get("kind")
    state = data.get("state")
    if kind not in KINDS or state not in STATES:
        raise RecordError("unknown session kind or state")
    version = data.get("version")
    if type(version) is not int or version < 1:
        raise RecordError("field 'version' must be a positive integer")
    delegations = []
    raw = data.get("delegations", [])
    if not isinstance(raw, list):
        raise RecordError("field 'delegations' must be a list")
    for d in raw:
        if not isinstance(d, dict):
            raise RecordError("a delegation must be an object")
        delegations.append(Delegation(_text(d, "site", 64) or "", _text(d, "root", 64) or "",
                                      site_ids(d.get("sites"), "delegations.sites")))
    floor = data.get("floor", {})
    notice = data.get("notice", {})
    if not isinstance(floor, dict) or not isinstance(notice, dict):
        raise RecordError("fields 'floor' and 'notice' must be objects")
    return SessionRecord(
        id=_text(data, "id", 64) or "", title=_text(data, "title", 200) or "", kind=kind,
        chair=_text(data, "chair", 64) or "",
        participants=site_ids(data.get("participants"), "participants"),
        starts_at=_number(data, "starts_at") or 0.0, ends_at=_number(data, "ends_at") or 0.0,
        bridge=_text(data, "bridge", 64, optional=True), secret=data.get("secret") is True,
        state=state, approved=data.get("approved") is True,
        approved_by=_text(data, "approved_by", 64, optional=True),
        locked=data.get("locked") is True, delegations=tuple(delegations), floor=floor,
        rollcall_open=data.get("rollcall_open") is True, notice=notice,
        created_by=str(data.get("created_by", ""))[:64],
        created_at=_number(data, "created_at", optional=True) or 0.0,
        chair_name=str(data.get("chair_name") or "")[:120],
        chair_level=str(data.get("chair_level") or "")[:16],
        started_at=_number(data, "started_at", optional=True),
        ended_at=_number(data, "ended_at", optional=True), version=version,
    )


def transition(record: SessionRecord, action: str, now: float) -> SessionRecord | None:
    """The record after a state-changing chair action, or None if not allowed from its state."""
    target = _TRANSITIONS.get(action, {}).get(record.state)
    if target is None:
        return None
    changes: dict[str, Any] = {"state": target}
    if target == "live":
        changes["started_at"] = now
    elif target in ("ended", "cancelled"):
        changes["ended_at"] = now
        changes["rollcall_open"] = False
    return record.bump(**changes)


def readiness_due(record: SessionRecord, lead_seconds: float, now: float) -> bool:
    """Whether an approved scheduled session has reached its readiness lead time."""
    return (record.state == "scheduled" and record.approved
            and now >= record.starts_at - lead_seconds)


def next_deadline(records: Iterable[SessionRecord], lead_seconds: float) -> float | None:
    """When the chair next has a session to move to readiness."""
    due = [r.starts_at - lead_seconds for r in records
           if r.state == "scheduled" and r.approved]
    return min(due) if due else None


def refusal(record: SessionRecord | None, *, target: str, origin_site: str, action: str,
            local_control_only: bool) -> str | None:
    """Why ``target`` must refuse ``action`` from ``origin_site``, or None to execute it.

    Executes only for the chair, or the delegate holding ``target``, of a session that includes
    ``target`` and is in a state the action needs, while local-control-only is off.
    """
    states = REMOTE_ACTIONS.get(action)
    if states is None:
        return "unknown_action"
    if record is None:
        return "unknown_session"
    if record.state not in states:
        return "session_not_live"
    if not record.includes(target):
        return "not_participant"
    if origin_site != record.chair and origin_site != record.delegate_of(target):
        return "not_chair"
    if local_control_only:
        return "local_control_only"
    return None


def subtree(root: str, parents: Mapping[str, str | None]) -> tuple[str, ...]:
    """``root`` and every site below it, given each known site's parent."""
    children: dict[str, list[str]] = {}
    for site, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(site)
    out, todo, seen = [], [root], set()
    while todo:
        site = todo.pop()
        if site in seen:
            continue
        seen.add(site)
        out.append(site)
        todo.extend(sorted(children.get(site, ()), reverse=True))
    return tuple(out)
