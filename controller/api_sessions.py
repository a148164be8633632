"""REST handlers for multi-site sessions, chair control and this site's local-control switch."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from controller.context import CONTEXT, SiteContext
from controller.errors import InputError
from controller.sessions import CHAIR_ACTIONS
from controller.web import Route, field_bool, field_str, json_body, json_ok, only_fields, session_of

OPERATORS: Final = frozenset({"operator", "chair"})
CREATORS: Final = frozenset({"operator", "chair"})
APPROVERS: Final = frozenset({"chair", "admin"})
CHAIRS: Final = frozenset({"chair"})
LOCAL_SWITCH: Final = frozenset({"operator", "chair", "admin"})


def _ctx(request: web.Request) -> SiteContext:
    return request.app[CONTEXT]


def _user(request: web.Request) -> str:
    return session_of(request).user.username


async def sessions_list(request: web.Request) -> web.Response:
    """Sessions this site chairs, takes part in or relays; open ones first."""
    sessions = _ctx(request).sessions
    open_ones = sessions.records(open_only=True)
    seen = {r.id for r in open_ones}
    past = [r for r in sessions.records(limit=50) if r.id not in seen]
    return json_ok({"sessions": [sessions.describe(r, detail=False)
                                 for r in (*open_ones, *past)],
                    "local_control_only": sessions.local_control_only})


async def session_create(request: web.Request) -> web.Response:
    """Create a session chaired by this site (not yet approved); audited."""
    body = await json_body(request)
    only_fields(body, {"title", "kind", "participants", "subtrees", "bridge", "starts_at",
                       "ends_at", "secret"})
    sessions = _ctx(request).sessions
    record = sessions.create(body, actor=_user(request))
    return json_ok(sessions.describe(record), status=201)


async def session_get(request: web.Request) -> web.Response:
    """One session with every site's readiness, roll call and floor request."""
    sessions = _ctx(request).sessions
    record = sessions.require(request.match_info["session_id"])
    return json_ok(sessions.describe(record))


async def session_approve(request: web.Request) -> web.Response:
    """Approve a session and send the invitations down the tree; audited."""
    sessions = _ctx(request).sessions
    record = sessions.approve(request.match_info["session_id"], actor=_user(request))
    return json_ok(sessions.describe(record))


async def session_chair(request: web.Request) -> web.Response:
    """A chair action (``{"action", "site", "args"}``); audited at both ends."""
    body = await json_body(request)
    only_fields(body, {"action", "site", "args"})
    action = field_str(body, "action", max_len=32) or ""
    site = field_str(body, "site", max_len=64, required=False)
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise InputError("Trường 'args' phải là một đối tượng JSON.", code="bad_field")
    out = await _ctx(request).sessions.chair(request.match_info["session_id"], action, site,
                                            args, actor=_user(request))
    return json_ok(out)


async def session_join(request: web.Request) -> web.Response:
    """Join the session's conference on this site's bridge."""
    out = await _ctx(request).sessions.join(request.match_info["session_id"],
                                            actor=_user(request))
    return json_ok(out)


async def session_leave(request: web.Request) -> web.Response:
    """Leave the session's conference."""
    out = await _ctx(request).sessions.leave(request.match_info["session_id"],
                                             actor=_user(request))
    return json_ok(out)


async def session_rollcall(request: web.Request) -> web.Response:
    """Answer roll call: number of attendees and the attendee list."""
    body = await json_body(request)
    only_fields(body, {"attendees", "names"})
    attendees = body.get("attendees")
    if type(attendees) is not int or not 0 <= attendees <= 10_000:
        raise InputError("Số người tham dự phải là số nguyên từ 0.", code="bad_field")
    names = body.get("names", [])
    if not isinstance(names, list) or len(names) > 500 or not all(
            isinstance(n, str) and 0 < len(n) <= 120 for n in names):
        raise InputError("Danh sách thành phần tham dự phải là các tên (tối đa 120 ký tự).",
                         code="bad_field")
    status = _ctx(request).sessions.confirm_rollcall(
        request.match_info["session_id"], attendees, [n.strip() for n in names],
        actor=_user(request))
    return json_ok({"status": status})


async def session_hand(request: web.Request) -> web.Response:
    """Raise (or lower) this site's hand to ask for the floor."""
    body = await json_body(request)
    only_fields(body, {"raised"})
    raised = field_bool(body, "raised")
    status = _ctx(request).sessions.raise_hand(
        request.match_info["session_id"], True if raised is None else raised,
        actor=_user(request))
    return json_ok({"status": status})


async def session_readiness(request: web.Request) -> web.Response:
    """Run this site's readiness check again now and return its result."""
    sessions = _ctx(request).sessions
    sessions.participating(request.match_info["session_id"])
    result = await sessions.start_readiness(request.match_info["session_id"],
                                            actor=_user(request))
    return json_ok({"readiness": result})


async def local_control(request: web.Request) -> web.Response:
    """Switch "local control only" on or off: remote commands are refused while on."""
    body = await json_body(request)
    only_fields(body, {"on"})
    on = field_bool(body, "on")
    if on is None:
        raise InputError("Cần trường 'on' (true hoặc false).", code="missing_field")
    _ctx(request).sessions.set_local_control(on, actor=_user(request))
    return json_ok({"local_control_only": on})


_TIME: Final = {"type": ["string", "number"],
                "description": "ISO 8601 with an offset, or seconds since the epoch"}
_SITES: Final = {"type": "array", "items": {"type": "string"}}

SESSION_ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/api/v1/sessions", sessions_list, "Sessions this site chairs or attends",
          tag="sessions"),
    Route("POST", "/api/v1/sessions", session_create,
          "Create a session chaired by this site (audited)", roles=CREATORS, status=201,
          tag="sessions", request={
              "type": "object", "required": ["title", "starts_at", "ends_at"],
              "additionalProperties": False, "properties": {
                  "title": {"type": "string", "maxLength": 200},
                  "kind": {"type": "string", "enum": ["regular", "extraordinary"]},
                  "participants": _SITES, "subtrees": _SITES,
                  "bridge": {"type": "string"}, "starts_at": _TIME, "ends_at": _TIME,
                  "secret": {"type": "boolean"}}}),
    Route("GET", "/api/v1/sessions/{session_id}", session_get,
          "One session with each site's readiness, roll call and floor request",
          tag="sessions"),
    Route("POST", "/api/v1/sessions/{session_id}/approve", session_approve,
          "Approve and invite (audited)", roles=APPROVERS, tag="sessions"),
    Route("POST", "/api/v1/sessions/{session_id}/chair", session_chair,
          "Chair control (audited here and at the target)", roles=CHAIRS, tag="sessions",
          request={"type": "object", "required": ["action"], "additionalProperties": False,
                   "properties": {"action": {"type": "string", "enum": list(CHAIR_ACTIONS)},
                                  "site": {"type": "string"}, "args": {"type": "object"}}}),
    Route("POST", "/api/v1/sessions/{session_id}/join", session_join,
          "Join the session's conference (audited)", roles=OPERATORS, tag="sessions"),
    Route("POST", "/api/v1/sessions/{session_id}/leave", session_leave,
          "Leave the session's conference (audited)", roles=OPERATORS, tag="sessions"),
    Route("POST", "/api/v1/sessions/{session_id}/rollcall", session_rollcall,
          "Answer roll call (audited)", roles=OPERATORS, tag="sessions", request={
              "type": "object", "required": ["attendees"], "additionalProperties": False,
              "properties": {"attendees": {"type": "integer", "minimum": 0},
                             "names": {"type": "array", "items": {"type": "string"}}}}),
    Route("POST", "/api/v1/sessions/{session_id}/hand", session_hand,
          "Raise or lower this site's hand (audited)", roles=OPERATORS, tag="sessions",
          request={"type": "object", "additionalProperties": False,
                   "properties": {"raised": {"type": "boolean"}}}),
    Route("POST", "/api/v1/sessions/{session_id}/readiness", session_readiness,
          "Run this site's readiness check now (audited)", roles=OPERATORS, tag="sessions"),
    Route("POST", "/api/v1/site/local-control", local_control,
          "Switch local-control-only on or off (audited)", roles=LOCAL_SWITCH, tag="site",
          request={"type": "object", "required": ["on"], "additionalProperties": False,
                   "properties": {"on": {"type": "boolean"}}}),
)
