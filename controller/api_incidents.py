"""REST handlers for incidents: list and detail at every level, and the officer's actions."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from controller.context import CONTEXT, SiteContext
from controller.errors import InputError
from controller.incident_report import (
    build_report,
    render_html,
    render_pdf,
    report_csp,
    report_filename,
)
from controller.web import (
    Route,
    field_str,
    iso,
    json_body,
    json_ok,
    only_fields,
    query_int,
    session_of,
)
from monitoring.incidents import Incident

OPERATORS: Final = frozenset({"operator", "chair"})
STATES: Final = ("all", "unresolved", "open", "acknowledged", "resolved")
REPORT_FORMATS: Final = ("html", "pdf", "json")


def _ctx(request: web.Request) -> SiteContext:
    return request.app[CONTEXT]


def _user(request: web.Request) -> str:
    return session_of(request).user.username


def incident_json(incident: Incident, now: float, *, detail: bool = True) -> dict[str, Any]:
    """An incident as the API shows it: times in ISO 8601, overdue clocks evaluated."""
    out = incident.to_dict()
    for key in ("opened_at", "acknowledged_at", "resolved_at", "notice_sent_at",
                "report_sent_at"):
        out[key] = iso(out[key])
    out["notice_due"] = iso(incident.notice_due)
    out["report_due"] = iso(incident.report_due)
    out["overdue"] = incident.overdue(now)
    if detail:
        out["timeline"] = [{**t, "at": iso(t.get("at")) if isinstance(t.get("at"), int | float)
                            else None} for t in incident.timeline]
    else:
        out.pop("timeline")
    return out


async def incidents_list(request: web.Request) -> web.Response:
    """Incidents of this site and its subtree, newest first."""
    ctx = _ctx(request)
    state = request.query.get("state", "all")
    scope = request.query.get("scope", "subtree")
    if state not in STATES or scope not in ("local", "subtree"):
        raise InputError("Tham số state hoặc scope không hợp lệ.", code="bad_query")
    limit = query_int(request, "limit", 200, low=1, high=1000) or 200
    now = ctx.clock()
    found = ctx.incidents.find(state=state, scope=scope, limit=limit)
    return json_ok({"incidents": [incident_json(i, now, detail=False) for i in found]})


async def incident_get(request: web.Request) -> web.Response:
    """One incident with its timeline."""
    ctx = _ctx(request)
    incident = ctx.incidents.require(request.match_info["incident_id"])
    return json_ok(incident_json(incident, ctx.clock()))


async def incident_report_problem(request: web.Request) -> web.Response:
    """The officer reports a problem: an incident opened by hand."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"title", "description", "severity"})
    title = (field_str(body, "title", max_len=200) or "").strip()
    if not title:
        raise InputError("Cần mô tả ngắn sự cố.", code="missing_field")
    description = field_str(body, "description", max_len=2000, required=False) or ""
    severity = field_str(body, "severity", max_len=16, required=False) or "major"
    incident = ctx.incidents.report_problem(title, description, severity, actor=_user(request))
    return json_ok(incident_json(incident, ctx.clock()), status=201)


async def incident_acknowledge(request: web.Request) -> web.Response:
    """Take an incident in hand."""
    ctx = _ctx(request)
    incident = ctx.incidents.acknowledge(request.match_info["incident_id"],
                                         actor=_user(request))
    return json_ok(incident_json(incident, ctx.clock()))


async def incident_note(request: web.Request) -> web.Response:
    """Add an operator note to the timeline."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"text"})
    text = (field_str(body, "text", max_len=1000) or "").strip()
    if not text:
        raise InputError("Ghi chú trống.", code="missing_field")
    incident = ctx.incidents.add_note(request.match_info["incident_id"], text,
                                      actor=_user(request))
    return json_ok(incident_json(incident, ctx.clock()))


async def incident_resolve(request: web.Request) -> web.Response:
    """Close an incident with what was done."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"resolution"})
    resolution = (field_str(body, "resolution", max_len=1000, required=False) or "").strip()
    incident = ctx.incidents.resolve(request.match_info["incident_id"], resolution,
                                     actor=_user(request))
    return json_ok(incident_json(incident, ctx.clock()))


async def incident_sent(request: web.Request) -> web.Response:
    """Record that the first notice or the full report was sent upward."""
    ctx = _ctx(request)
    body = await json_body(request)
    only_fields(body, {"document"})
    document = field_str(body, "document", max_len=16) or ""
    incident = ctx.incidents.mark_sent(request.match_info["incident_id"], document,
                                       actor=_user(request))
    return json_ok(incident_json(incident, ctx.clock()))


async def incident_report(request: web.Request) -> web.Response:
    """The one-page incident report: HTML to read and print, PDF to send, JSON for tools."""
    ctx = _ctx(request)
    fmt = request.query.get("format", "html")
    if fmt not in REPORT_FORMATS:
        raise InputError("Định dạng báo cáo là html, pdf hoặc json.", code="bad_query")
    report = build_report(ctx, request.match_info["incident_id"], author=_user(request))
    if fmt == "json":
        return json_ok(report)
    if fmt == "html":
        # Opened as a document: its own policy lets in its one inline stylesheet (by hash)
        # and nothing else, instead of the console's "default-src 'self'" which blocks it.
        return web.Response(
            text=render_html(report), content_type="text/html", charset="utf-8",
            headers={"Content-Security-Policy": report_csp(),
                     "Content-Disposition":
                         f'inline; filename="{report_filename(report, "html")}"'})
    pdf = await asyncio.to_thread(render_pdf, report)  # reportlab is CPU-bound
    return web.Response(
        body=pdf, content_type="application/pdf",
        headers={"Content-Disposition":
                 f'attachment; filename="{report_filename(report, "pdf")}"'})


_ID: Final = "/api/v1/incidents/{incident_id}"

INCIDENT_ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/api/v1/incidents", incidents_list,
          "Incidents of this site and its subtree, newest first", tag="incidents", params=(
              {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(STATES)}},
              {"name": "scope", "in": "query",
               "schema": {"type": "string", "enum": ["local", "subtree"]}},
              {"name": "limit", "in": "query", "schema": {"type": "integer"}})),
    Route("POST", "/api/v1/incidents", incident_report_problem,
          "Report a problem: open an incident by hand (audited)", roles=OPERATORS, status=201,
          tag="incidents", request={
              "type": "object", "required": ["title"], "additionalProperties": False,
              "properties": {"title": {"type": "string", "maxLength": 200},
                             "description": {"type": "string", "maxLength": 2000},
                             "severity": {"type": "string",
                                          "enum": ["minor", "major", "critical"]}}}),
    Route("GET", _ID, incident_get, "One incident with its timeline", tag="incidents"),
    Route("GET", _ID + "/report", incident_report,
          "The one-page incident report (báo cáo sự cố) as HTML, PDF or JSON",
          tag="incidents", content_type="text/html", response={"type": "string"}, params=(
              {"name": "format", "in": "query",
               "schema": {"type": "string", "enum": list(REPORT_FORMATS), "default": "html"}},)),
    Route("POST", _ID + "/acknowledge", incident_acknowledge, "Take it in hand (audited)",
          roles=OPERATORS, tag="incidents"),
    Route("POST", _ID + "/note", incident_note, "Add a note to the timeline (audited)",
          roles=OPERATORS, tag="incidents", request={
              "type": "object", "required": ["text"], "additionalProperties": False,
              "properties": {"text": {"type": "string", "maxLength": 1000}}}),
    Route("POST", _ID + "/resolve", incident_resolve, "Resolve it by hand (audited)",
          roles=OPERATORS, tag="incidents", request={
              "type": "object", "additionalProperties": False,
              "properties": {"resolution": {"type": "string", "maxLength": 1000}}}),
    Route("POST", _ID + "/sent", incident_sent,
          "Record the first notice or full report as sent (audited)", roles=OPERATORS,
          tag="incidents", request={
              "type": "object", "required": ["document"], "additionalProperties": False,
              "properties": {"document": {"type": "string", "enum": ["notice", "report"]}}}),
)
