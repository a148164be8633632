"""Console and REST API handlers of the foundation, and their route table."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any, Final

from aiohttp import web

from controller.accounts import User, WebSession
from controller.api_incidents import INCIDENT_ROUTES
from controller.api_reports import REPORT_ROUTES
from controller.api_sessions import SESSION_ROUTES
from controller.audit import AuditEntry
from controller.config import LEVELS, ROLES
from controller.context import CONTEXT, SiteContext
from controller.errors import InputError
from controller.web import (
    ALL_ROLES,
    SESSION_COOKIE,
    Route,
    field_bool,
    field_str,
    iso,
    json_body,
    json_ok,
    only_fields,
    query_int,
    remote_of,
    session_of,
)
from monitoring.metrics import CONTENT_TYPE

_STATIC: Final = "console/static"
ADMIN: Final = frozenset({"admin"})
AUDIT_READERS: Final = frozenset({"admin", "auditor"})
OPERATORS: Final = frozenset({"operator", "chair"})


def _ctx(request: web.Request) -> SiteContext:
    return request.app[CONTEXT]


def user_json(user: User) -> dict[str, Any]:
    """An account as the API shows it."""
    return {
        "username": user.username, "role": user.role, "disabled": user.disabled,
        "failed_logins": user.failed_logins, "locked_until": iso(user.locked_until),
        "created_at": iso(user.created_at),
    }


def _me_json(ctx: SiteContext, session: WebSession) -> dict[str, Any]:
    return {
        "user": {"username": session.user.username, "role": session.user.role},
        "csrf_token": session.csrf_token,
        "idle_timeout_seconds": ctx.accounts.idle_seconds,
    }


def _entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "ts": iso(entry.ts), "actor": entry.actor,
        "origin_site": entry.origin_site, "action": entry.action, "target": entry.target,
        "result": entry.result, "details": dict(entry.details),
    }


# -- public ---------------------------------------------------------------------------------

async def healthz(request: web.Request) -> web.Response:
    """Liveness and basic readiness, without login."""
    ctx = _ctx(request)
    ctx.store.query_one("SELECT 1")
    return json_ok({"status": "ok", "site": ctx.config.site.id, "level": ctx.config.site.level,
                    "version": ctx.version, "schema_version": ctx.store.schema_version()})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    ctx = _ctx(request)
    row = ctx.store.query_one("SELECT COUNT(*) AS n FROM web_sessions")
    ctx.metrics.console_sessions.set(row["n"] if row else 0)
    response = web.Response(body=ctx.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression()  # a province's subtree is ~1 MB of text uncompressed
    return response


async def console_page(request: web.Request) -> web.Response:
    """The console's single page."""
    html = resources.files("controller").joinpath(_STATIC, "index.html").read_bytes()
    return web.Response(body=html, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 document of these routes."""
    from controller.openapi import build_openapi

    return json_ok(build_openapi(ROUTES, _ctx(request).version))


async def login(request: web.Request) -> web.Response:
    """Check credentials, open a console session and set its cookie."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"username", "password"})
    username = field_str(body, "username", max_len=64) or ""
    password = field_str(body, "password", max_len=1024) or ""
    remote = remote_of(request)
    try:
        user = await asyncio.to_thread(ctx.accounts.authenticate, username, password, remote)
    except Exception:
        ctx.metrics.logins.labels("failure").inc()
        raise
    ctx.metrics.logins.labels("success").inc()
    token, session = ctx.accounts.open_session(user, remote)
    response = json_ok(_me_json(ctx, session))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict",
                        secure=ctx.config.console.tls, path="/")
    return response


async def setup_status(request: web.Request) -> web.Response:
    """Whether the first admin still has to be created."""
    return json_ok({"needed": _ctx(request).accounts.setup_needed()})


async def setup(request: web.Request) -> web.Response:
    """Create the first admin with the one-time setup token."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"token", "username", "password"})
    token = field_str(body, "token", max_len=128) or ""
    username = field_str(body, "username", max_len=64) or ""
    password = field_str(body, "password", max_len=1024) or ""
    user = await asyncio.to_thread(ctx.accounts.create_first_admin, token, username, password,
                                   remote_of(request))
    token_file = ctx.config.storage.data_dir / "setup-token"
    token_file.unlink(missing_ok=True)
    return json_ok({"user": user_json(user)}, status=201)


# -- any logged-in role ---------------------------------------------------------------------

async def logout(request: web.Request) -> web.Response:
    """End the console session."""
    ctx = _ctx(request)
    ctx.accounts.close_session(session_of(request))
    response = json_ok({"status": "ok"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    """Who is logged in, with the CSRF token for this session."""
    return json_ok(_me_json(_ctx(request), session_of(request)))


async def change_own_password(request: web.Request) -> web.Response:
    """Change the logged-in user's password (ends their sessions)."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"current_password", "new_password"})
    current = field_str(body, "current_password", max_len=1024) or ""
    new = field_str(body, "new_password", max_len=1024) or ""
    await asyncio.to_thread(ctx.accounts.change_own_password, session_of(request), current, new)
    response = json_ok({"status": "ok"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def site(request: web.Request) -> web.Response:
    """This site's identity, level, uplink and children."""
    ctx = _ctx(request)
    cfg = ctx.config
    if ctx.uplink is None:
        uplink: dict[str, Any] = {"configured": False, "url": None, "state": "not_configured",
                                  "since": None}
    else:
        uplink = ctx.uplink.describe()
        uplink["since"] = iso(uplink["since"])
    children = []
    for c in cfg.children:
        link = ctx.children.describe(c.id)
        entry = ctx.tree.entries.get(c.id)
        children.append({"id": c.id, "name": c.name or c.id, "state": link["state"],
                         "level": entry.level if entry else "",
                         "since": iso(link["since"]),
                         "last_heartbeat": iso(link["last_heartbeat"]),
                         "summary": link["summary"]})
    return json_ok({
        "id": cfg.site.id, "name": cfg.site.name, "level": cfg.site.level,
        "version": ctx.version, "uplink": uplink, "children": children,
        "devices": len(cfg.devices),
        "local_control_only": ctx.sessions.local_control_only,
        "subtree": ctx.tree.describe(),
        "bridges": [{"id": b.id, "kind": b.kind, "name": b.name or b.id} for b in cfg.bridges],
    })


async def uplink_socket(request: web.Request) -> web.StreamResponse:
    """A child site's uplink WebSocket; it authenticates in the protocol, not by login."""
    return await _ctx(request).children.handle(request)


# -- audit ------------------------------------------------------------------------------------

async def audit_list(request: web.Request) -> web.Response:
    """Audit entries, newest first."""
    ctx = _ctx(request)
    limit = query_int(request, "limit", 50, low=1, high=500) or 50
    before = query_int(request, "before_id", None, low=1, high=2**62)
    action = request.query.get("action") or None
    if action is not None and len(action) > 64:
        action = action[:64]
    entries = ctx.audit.entries(limit=limit, before_id=before, action_prefix=action)
    next_before = entries[-1].id if len(entries) == limit else None
    return json_ok({"entries": [_entry_json(e) for e in entries],
                    "next_before_id": next_before})


# -- accounts (admin) -----------------------------------------------------------------------

async def users_list(request: web.Request) -> web.Response:
    """Every console account."""
    return json_ok({"users": [user_json(u) for u in _ctx(request).accounts.list()]})


async def users_add(request: web.Request) -> web.Response:
    """Create an account."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"username", "password", "role"})
    username = field_str(body, "username", max_len=64) or ""
    password = field_str(body, "password", max_len=1024) or ""
    role = field_str(body, "role", max_len=32) or ""
    user = await asyncio.to_thread(ctx.accounts.add, username, password, role,
                                   actor=session_of(request).user.username)
    return json_ok({"user": user_json(user)}, status=201)


async def users_change(request: web.Request) -> web.Response:
    """Change an account's role, enabled state or password."""
    ctx = _ctx(request)
    username = request.match_info["username"]
    actor = session_of(request).user.username
    body = await json_body(request)
    only_fields(body, {"role", "disabled", "password"})
    role = field_str(body, "role", max_len=32, required=False)
    disabled = field_bool(body, "disabled")
    password = field_str(body, "password", max_len=1024, required=False)
    ctx.accounts.get(username)
    if role is not None:
        ctx.accounts.set_role(username, role, actor=actor)
    if disabled is not None:
        ctx.accounts.set_disabled(username, disabled, actor=actor)
    if password is not None:
        await asyncio.to_thread(ctx.accounts.set_password, username, password, actor=actor)
    return json_ok({"user": user_json(ctx.accounts.get(username))})


async def users_unlock(request: web.Request) -> web.Response:
    """Clear an account's lockout."""
    ctx = _ctx(request)
    user = ctx.accounts.unlock(request.match_info["username"],
                               actor=session_of(request).user.username)
    return json_ok({"user": user_json(user)})


# -- devices ----------------------------------------------------------------------------------

async def devices_list(request: web.Request) -> web.Response:
    """Every device of this site with its state and readings."""
    devices = _ctx(request).devices
    return json_ok({"devices": [devices.describe(i) for i in devices.ids()]})


async def device_get(request: web.Request) -> web.Response:
    """One device."""
    return json_ok(_ctx(request).devices.describe(request.match_info["device_id"]))


async def device_command(request: web.Request) -> web.Response:
    """Run a contract command (``{"command", "args"}``) on a device; audited."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"command", "args"})
    command = field_str(body, "command", max_len=64) or ""
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise InputError("Trường 'args' phải là một đối tượng JSON.", code="bad_field")
    result = await ctx.devices.command(request.match_info["device_id"], command, args,
                                       actor=session_of(request).user.username)
    return json_ok({"status": "ok", "device": request.match_info["device_id"],
                    "command": command, "result": result})


# -- bridges and calls --------------------------------------------------------------------------

async def bridges_list(request: web.Request) -> web.Response:
    """Configured bridges with their current call and link health."""
    calls = _ctx(request).calls
    return json_ok({"bridges": [calls.describe(i) for i in calls.ids()]})


async def bridge_get(request: web.Request) -> web.Response:
    """One bridge and its call."""
    return json_ok(_ctx(request).calls.describe(request.match_info["bridge_id"]))


async def bridge_join(request: web.Request) -> web.Response:
    """Join the bridge's conference (audited)."""
    ctx = _ctx(request)
    body = await json_body(request) if request.can_read_body else {}
    only_fields(body, {"subscribe"})
    subscribe = field_str(body, "subscribe", max_len=64, required=False) or "all"
    state = await ctx.calls.join(request.match_info["bridge_id"],
                                 actor=session_of(request).user.username, subscribe=subscribe)
    return json_ok(state)


async def bridge_leave(request: web.Request) -> web.Response:
    """Hang up the bridge's call (audited)."""
    ctx = _ctx(request)
    return json_ok(await ctx.calls.leave(request.match_info["bridge_id"],
                                         actor=session_of(request).user.username))


async def bridge_playout(request: web.Request) -> web.Response:
    """Answer the console's WebRTC offer with the conference the call receives."""
    body = await json_body(request)
    only_fields(body, {"sdp", "type"})
    sdp = field_str(body, "sdp", max_len=MAX_SDP)
    kind = field_str(body, "type", max_len=16)
    if kind != "offer":
        raise InputError("Trường 'type' phải là 'offer'.", code="bad_field")
    answer = await _ctx(request).calls.watch(request.match_info["bridge_id"], sdp or "", kind)
    return json_ok(answer)


MAX_SDP: Final = 64 * 1024


# -- schemas ----------------------------------------------------------------------------------

_USER_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "username": {"type": "string"}, "role": {"type": "string", "enum": list(ROLES)},
        "disabled": {"type": "boolean"}, "failed_logins": {"type": "integer"},
        "locked_until": {"type": ["string", "null"], "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_ME_SCHEMA: Final = {
    "type": "object",
    "required": ["user", "csrf_token", "idle_timeout_seconds"],
    "properties": {
        "user": {"type": "object", "properties": {
            "username": {"type": "string"}, "role": {"type": "string"}}},
        "csrf_token": {"type": "string"},
        "idle_timeout_seconds": {"type": "integer"},
    },
}
_DEVICE_SCHEMA: Final = {
    "type": "object",
    "required": ["id", "kind", "state"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["camera", "projector", "mixer", "power", "network"]},
        "protocol": {"type": "string"},
        "state": {"type": "string", "enum": ["online", "offline", "unknown", "unusable"]},
        "readings": {"type": "object"}, "commands": {"type": "array",
                                                     "items": {"type": "string"}},
        "presets": {"type": "array"},
    },
}
_CREDENTIALS: Final = {
    "type": "object", "required": ["username", "password"], "additionalProperties": False,
    "properties": {"username": {"type": "string", "maxLength": 64},
                   "password": {"type": "string", "maxLength": 1024}},
}

_SDP_SCHEMA: Final = {
    "type": "object", "required": ["sdp", "type"], "additionalProperties": False,
    "properties": {"sdp": {"type": "string", "maxLength": MAX_SDP},
                   "type": {"type": "string", "enum": ["offer", "answer"]}},
}

ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/healthz", healthz, "Liveness and schema version", roles=None, tag="ops",
          response={"type": "object", "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["ok"]}}}),
    Route("GET", "/metrics", metrics, "Prometheus metrics", roles=None, tag="ops",
          content_type="text/plain"),
    Route("GET", "/", console_page, "The web console", roles=None, content_type="text/html",
          in_openapi=False),
    Route("GET", "/api/openapi.json", openapi, "This document", roles=None, tag="ops"),
    Route("POST", "/api/v1/login", login, "Log in; sets the session cookie", roles=None,
          request=_CREDENTIALS, response=_ME_SCHEMA, tag="auth"),
    Route("POST", "/api/v1/logout", logout, "Log out", tag="auth"),
    Route("GET", "/api/v1/me", me, "The logged-in user and CSRF token", response=_ME_SCHEMA,
          tag="auth"),
    Route("POST", "/api/v1/me/password", change_own_password, "Change your own password",
          tag="auth", request={
              "type": "object", "required": ["current_password", "new_password"],
              "additionalProperties": False,
              "properties": {"current_password": {"type": "string"},
                             "new_password": {"type": "string"}}}),
    Route("GET", "/api/v1/setup", setup_status, "Whether first-admin setup is pending",
          roles=None, tag="auth", response={"type": "object", "properties": {
              "needed": {"type": "boolean"}}}),
    Route("POST", "/api/v1/setup", setup, "Create the first admin with the one-time token",
          roles=None, tag="auth", status=201, request={
              "type": "object", "required": ["token", "username", "password"],
              "additionalProperties": False,
              "properties": {"token": {"type": "string"}, "username": {"type": "string"},
                             "password": {"type": "string"}}}),
    Route("GET", "/api/v1/site", site, "Identity, level, uplink and children", tag="site",
          response={"type": "object", "required": ["id", "name", "level"], "properties": {
              "id": {"type": "string"}, "name": {"type": "string"},
              "level": {"type": "string", "enum": list(LEVELS)},
              "uplink": {"type": "object"}, "children": {"type": "array"}}}),
    Route("GET", "/uplink", uplink_socket, "Child sites' uplink WebSocket", roles=None,
          tag="site"),
    Route("GET", "/api/v1/audit", audit_list, "Audit log, newest first", roles=AUDIT_READERS,
          tag="audit", params=(
              {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                          "maximum": 500}},
              {"name": "before_id", "in": "query", "schema": {"type": "integer", "minimum": 1}},
              {"name": "action", "in": "query", "schema": {"type": "string", "maxLength": 64}},
          )),
    Route("GET", "/api/v1/users", users_list, "Console accounts", roles=ADMIN, tag="accounts",
          response={"type": "object", "properties": {
              "users": {"type": "array", "items": _USER_SCHEMA}}}),
    Route("POST", "/api/v1/users", users_add, "Create an account", roles=ADMIN, status=201,
          tag="accounts", request={
              "type": "object", "required": ["username", "password", "role"],
              "additionalProperties": False,
              "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                             "role": {"type": "string", "enum": list(ROLES)}}}),
    Route("PATCH", "/api/v1/users/{username}", users_change,
          "Change an account's role, state or password", roles=ADMIN, tag="accounts",
          request={"type": "object", "additionalProperties": False, "properties": {
              "role": {"type": "string", "enum": list(ROLES)}, "disabled": {"type": "boolean"},
              "password": {"type": "string"}}}),
    Route("POST", "/api/v1/users/{username}/unlock", users_unlock, "Clear a lockout",
          roles=ADMIN, tag="accounts"),
    Route("GET", "/api/v1/devices", devices_list, "Room devices with state and readings",
          tag="devices", response={"type": "object", "properties": {
              "devices": {"type": "array", "items": _DEVICE_SCHEMA}}}),
    Route("GET", "/api/v1/devices/{device_id}", device_get, "One room device", tag="devices",
          response=_DEVICE_SCHEMA),
    Route("POST", "/api/v1/devices/{device_id}/commands", device_command,
          "Run a device command (audited)", roles=OPERATORS, tag="devices", request={
              "type": "object", "required": ["command"], "additionalProperties": False,
              "properties": {"command": {"type": "string", "examples": [
                  "power", "ptz.move", "ptz.stop", "ptz.absolute", "zoom", "home",
                  "preset.recall", "preset.store", "input", "av_mute", "mute", "gain"]},
                  "args": {"type": "object"}}}),
    Route("GET", "/api/v1/bridges", bridges_list, "Bridges with their call and link health",
          tag="calls"),
    Route("GET", "/api/v1/bridges/{bridge_id}", bridge_get, "One bridge and its call",
          tag="calls"),
    Route("POST", "/api/v1/bridges/{bridge_id}/join", bridge_join,
          "Join the bridge's conference (audited)", roles=OPERATORS, tag="calls", request={
              "type": "object", "additionalProperties": False,
              "properties": {"subscribe": {"type": "string",
                                           "description": "all, none, or one feed id"}}}),
    Route("POST", "/api/v1/bridges/{bridge_id}/leave", bridge_leave,
          "Hang up the bridge's call (audited)", roles=OPERATORS, tag="calls"),
    Route("POST", "/api/v1/bridges/{bridge_id}/playout", bridge_playout,
          "Watch the conference: answer a WebRTC offer with the received media",
          tag="calls", request=_SDP_SCHEMA, response=_SDP_SCHEMA),
    *SESSION_ROUTES,
    *INCIDENT_ROUTES,
    *REPORT_ROUTES,
)

__all__ = ["ALL_ROLES", "ROUTES"]
