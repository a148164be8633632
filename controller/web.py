"""HTTP plumbing for the console and API: the route table, middlewares, input helpers.

Every route is declared once as a `Route` (method, path, roles, schemas); the
router, the permission check and the OpenAPI document all read that table.
Every error leaves as ``{"error": {"code", "message"}}`` with a 4xx status.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from controller.accounts import Accounts, WebSession
from controller.audit import AuditLog
from controller.errors import (
    AuthenticationError,
    DiemcauError,
    InputError,
    PermissionDeniedError,
)
from monitoring.metrics import SiteMetrics

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE: Final = "diemcau_session"
CSRF_HEADER: Final = "X-CSRF-Token"
BACKGROUND_HEADER: Final = "X-Diemcau-Background"
ALL_ROLES: Final = frozenset({"admin", "operator", "chair", "viewer", "auditor"})
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY_BYTES: Final = 256 * 1024

_HTTP_CODES: Final = {
    400: ("bad_request", "Yêu cầu không hợp lệ."),
    401: ("not_authenticated", "Bạn chưa đăng nhập."),
    403: ("forbidden", "Bạn không có quyền làm việc này."),
    404: ("not_found", "Không tìm thấy địa chỉ này."),
    405: ("method_not_allowed", "Phương thức không được hỗ trợ ở địa chỉ này."),
    413: ("payload_too_large", "Nội dung gửi lên quá lớn."),
    415: ("unsupported_media_type", "Kiểu nội dung không được hỗ trợ."),
    429: ("too_many_requests", "Quá nhiều yêu cầu, vui lòng thử lại sau."),
}


@dataclass(frozen=True)
class Route:
    """One API or console route, the single source for router, permissions and OpenAPI."""

    method: str
    path: str
    handler: Handler
    summary: str
    roles: frozenset[str] | None = ALL_ROLES  # None: no login needed
    request: Mapping[str, Any] | None = None  # JSON schema of the body
    response: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    status: int = 200
    params: Sequence[Mapping[str, Any]] = ()  # OpenAPI query parameters
    tag: str = "console"
    content_type: str = "application/json"
    in_openapi: bool = True


SESSION_KEY: Final = web.RequestKey("session", WebSession)
ROUTES_KEY: Final = web.AppKey("routes", dict[tuple[str, str], Route])



def iso(ts: float | None) -> str | None:
    """A UTC timestamp in ISO 8601 with a Z."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")

def error_response(status: int, code: str, message: str,
                   headers: Mapping[str, str] | None = None,
                   detail: str | None = None) -> web.Response:
    """The contract's JSON error body (``detail`` only when there is one)."""
    error = {"code": code, "message": message}
    if detail:
        error["detail"] = detail
    return web.json_response({"error": error}, status=status, headers=headers, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def json_ok(body: Any, status: int = 200) -> web.Response:
    """A JSON response with UTF-8 text left readable."""
    return web.json_response(body, status=status, dumps=_dumps)


def route_of(request: web.Request) -> Route | None:
    """The declared route a request matched, if any."""
    info = request.match_info
    if info.http_exception is not None:
        return None
    canonical = info.route.resource.canonical if info.route.resource else ""
    method = request.method if request.method != "HEAD" else "GET"
    return request.app[ROUTES_KEY].get((method, canonical))


def remote_of(request: web.Request) -> str:
    """The peer address, for audit records."""
    return request.remote or "-"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the JSON error shape; log only what is a bug."""
    try:
        return await handler(request)
    except DiemcauError as exc:
        return error_response(exc.status if 400 <= exc.status < 600 else 400, exc.code,
                              exc.message, detail=exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, message, headers)
    except (ConnectionResetError, OSError) as exc:
        log.debug("client went away during %s %s: %s", request.method, request.path, exc)
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error",
                              "Lỗi nội bộ; sự việc đã được ghi nhật ký, vui lòng báo quản trị.")


def make_auth_middleware(accounts: Accounts, audit: AuditLog) -> Any:
    """Resolve the session cookie, check roles and CSRF for each declared route."""

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        token = request.cookies.get(SESSION_COOKIE)
        if route is None or route.roles is None:
            if token and request.method not in SAFE_METHODS and route is not None:
                _check_origin(request)
            return await handler(request)
        if not token:
            raise AuthenticationError("Bạn chưa đăng nhập.", code="not_authenticated")
        # The console marks its automatic refreshes, which are not the user's activity.
        background = request.method in SAFE_METHODS and \
            request.headers.get(BACKGROUND_HEADER) == "1"
        session = accounts.resume_session(token, touch=not background)
        request[SESSION_KEY] = session
        if request.method not in SAFE_METHODS:
            _check_origin(request)
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                audit.record(session.user.username, "access.denied", request.path,
                             result="denied", details={"reason": "csrf token missing or wrong",
                                                       "remote": remote_of(request)})
                raise PermissionDeniedError(
                    "Thiếu hoặc sai mã chống giả mạo (CSRF); hãy tải lại trang.",
                    code="csrf_failed")
        if session.user.role not in route.roles:
            if request.method not in SAFE_METHODS:
                audit.record(session.user.username, "access.denied", request.path,
                             result="denied", details={"role": session.user.role,
                                                       "remote": remote_of(request)})
            raise PermissionDeniedError("Vai trò của bạn không được phép làm việc này.")
        return await handler(request)

    return auth_middleware


def _check_origin(request: web.Request) -> None:
    """Refuse state changes sent from another site's page (belt to CSRF's braces)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        expected = f"{request.scheme}://{request.host}"
        if origin != expected:
            raise PermissionDeniedError("Yêu cầu đến từ trang khác bị từ chối.",
                                        code="bad_origin")


def make_metrics_middleware(metrics: SiteMetrics) -> Any:
    """Count requests and their latency by route template (bounded labels)."""

    @web.middleware
    async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = route_of(request)
        label = route.path if route else ("static" if request.path.startswith("/static/")
                                          else "unmatched")
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            metrics.http_requests.labels(request.method if request.method in
                                         {"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"}
                                         else "OTHER", label, str(status)).inc()
            metrics.http_latency.labels(label).observe(time.perf_counter() - started)

    return metrics_middleware


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; API answers are never cached."""
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    elif request.path.startswith("/static/"):
        # Revalidate, so a room PC never mixes an old script with a new page after an upgrade.
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


def session_of(request: web.Request) -> WebSession:
    """The logged-in session (routes that need a role always have one)."""
    try:
        return request[SESSION_KEY]
    except KeyError:
        raise AuthenticationError("Bạn chưa đăng nhập.") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a clear 400."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES,
                                            actual_size=request.content_length)
    raw = await request.read()
    if not raw:
        raise InputError("Yêu cầu cần nội dung JSON.", code="body_required")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("Nội dung yêu cầu không phải JSON hợp lệ.", code="bad_json") from exc
    if not isinstance(body, dict):
        raise InputError("Nội dung yêu cầu phải là một đối tượng JSON.", code="bad_json")
    return body


def field_str(body: Mapping[str, Any], name: str, *, max_len: int = 256,
              required: bool = True) -> str | None:
    """A string field of a JSON body."""
    value = body.get(name)
    if value is None:
        if required:
            raise InputError(f"Thiếu trường '{name}'.", code="missing_field")
        return None
    if not isinstance(value, str):
        raise InputError(f"Trường '{name}' phải là chuỗi.", code="bad_field")
    if len(value) > max_len:
        raise InputError(f"Trường '{name}' dài quá {max_len} ký tự.", code="bad_field")
    return value


def field_bool(body: Mapping[str, Any], name: str) -> bool | None:
    """An optional boolean field of a JSON body."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InputError(f"Trường '{name}' phải là true hoặc false.", code="bad_field")
    return value


def only_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse unknown fields, so a typo is not silently ignored."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InputError(f"Trường không được hỗ trợ: {', '.join(unknown)}.",
                         code="unknown_field")


def query_int(request: web.Request, name: str, default: int | None, *, low: int,
              high: int) -> int | None:
    """An integer query parameter in a range."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"Tham số '{name}' phải là số nguyên.", code="bad_query") from None
    if not low <= value <= high:
        raise InputError(f"Tham số '{name}' phải từ {low} đến {high}.", code="bad_query")
    return value


def add_routes(app: web.Application, routes: Sequence[Route]) -> None:
    """Register the route table with the router and remember it for the middlewares."""
    table: dict[tuple[str, str], Route] = {}
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        table[(route.method, route.path)] = route
    app[ROUTES_KEY] = table
