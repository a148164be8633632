"""REST handler for the periodic usage report."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from controller.context import CONTEXT
from controller.errors import InputError
from controller.periods import PeriodError, parse_period
from controller.reports import CONTENT_TYPES, FORMATS, build_report, file_name, render
from controller.usage import mark_filed
from controller.web import Route, field_str, json_body, json_ok, only_fields, session_of

READERS: Final = frozenset({"admin", "auditor", "chair", "operator"})
FILERS: Final = frozenset({"admin", "auditor"})


async def report(request: web.Request) -> web.Response:
    """The usage report for a period, for this site or its whole subtree (audited)."""
    ctx = request.app[CONTEXT]
    query = request.query
    fmt = query.get("format", "json")
    scope = query.get("scope", "subtree")
    language = query.get("lang", "vi")
    if fmt not in FORMATS or scope not in ("site", "subtree") or language not in ("vi", "en"):
        raise InputError("Tham số format, scope hoặc lang không hợp lệ.", code="bad_query")
    try:
        period = parse_period(query.get("period", ""), ctx.config.reports.cutoff_day)
    except PeriodError as exc:
        raise InputError(f"Kỳ báo cáo không hợp lệ: {exc}", code="bad_period") from exc
    number = query.get("number", "")[:40]
    sites = {e.id: (e.name, e.level, e.parent) for e in ctx.tree.entries.values()}
    devices = {i: ctx.devices.describe(i) for i in ctx.devices.ids()}
    built: dict[str, Any] = build_report(ctx.config, ctx.store, period,
                                         subtree=scope == "subtree", sites=sites,
                                         devices=devices, number=number, now=ctx.clock())
    body = await asyncio.to_thread(render, built, fmt, language)
    ctx.audit.record(session_of(request).user.username, "report.generate", period.label,
                     details={"format": fmt, "scope": scope, "rows": len(built["rows"])})
    headers = {"Content-Type": CONTENT_TYPES[fmt]}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{file_name(built, fmt)}"'
    return web.Response(body=body, headers=headers)


async def report_filed(request: web.Request) -> web.Response:
    """Mark a period's report as filed with the upper level (audited)."""
    ctx = request.app[CONTEXT]
    body = await json_body(request)
    only_fields(body, {"period"})
    try:
        period = parse_period(field_str(body, "period", max_len=40) or "",
                              ctx.config.reports.cutoff_day)
    except PeriodError as exc:
        raise InputError(f"Kỳ báo cáo không hợp lệ: {exc}", code="bad_period") from exc
    user = session_of(request).user.username
    mark_filed(ctx.store, period.label, period.first.isoformat(), period.last.isoformat(),
               by=user, now=ctx.clock())
    ctx.audit.record(user, "report.filed", period.label)
    return json_ok({"period": period.label, "filed": True})


REPORT_ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/api/v1/reports", report,
          "The usage report for a period (json, csv, xlsx or pdf; audited)", roles=READERS,
          tag="reports", params=(
              {"name": "period", "in": "query", "required": True,
               "schema": {"type": "string", "examples": ["2026-H2", "2026",
                                                         "2026-01-01..2026-03-31"]}},
              {"name": "scope", "in": "query",
               "schema": {"type": "string", "enum": ["site", "subtree"]}},
              {"name": "format", "in": "query", "schema": {"type": "string",
                                                           "enum": list(FORMATS)}},
              {"name": "lang", "in": "query", "schema": {"type": "string",
                                                         "enum": ["vi", "en"]}},
              {"name": "number", "in": "query", "schema": {"type": "string"}})),
    Route("POST", "/api/v1/reports/filed", report_filed,
          "Mark a period's report as filed (its old records may then be purged; audited)",
          roles=FILERS, tag="reports", request={
              "type": "object", "required": ["period"], "additionalProperties": False,
              "properties": {"period": {"type": "string"}}}),
)
