"""Who may call what: every route against every role, from one table."""

from __future__ import annotations

import pytest

from controller.api import ROUTES
from controller.config import ROLES
from tests.conftest import Client
from tests.controller.test_auth import add_user, ctx_of, login

PUBLIC = None
ANY = frozenset(ROLES)
ADMIN = frozenset({"admin"})
AUDIT = frozenset({"admin", "auditor"})

# The expected permission of every route. A new route must be added here.
EXPECTED: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("POST", "/api/v1/login"): PUBLIC,
    ("GET", "/api/v1/setup"): PUBLIC,
    ("POST", "/api/v1/setup"): PUBLIC,
    ("GET", "/uplink"): PUBLIC,
    ("POST", "/api/v1/logout"): ANY,
    ("GET", "/api/v1/me"): ANY,
    ("POST", "/api/v1/me/password"): ANY,
    ("GET", "/api/v1/site"): ANY,
    ("GET", "/api/v1/audit"): AUDIT,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("PATCH", "/api/v1/users/{username}"): ADMIN,
    ("POST", "/api/v1/users/{username}/unlock"): ADMIN,
    ("GET", "/api/v1/devices"): ANY,
    ("GET", "/api/v1/devices/{device_id}"): ANY,
    ("POST", "/api/v1/devices/{device_id}/commands"): frozenset({"operator", "chair"}),
    ("GET", "/api/v1/bridges"): ANY,
    ("GET", "/api/v1/bridges/{bridge_id}"): ANY,
    ("POST", "/api/v1/bridges/{bridge_id}/join"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/bridges/{bridge_id}/leave"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/bridges/{bridge_id}/playout"): ANY,
    ("GET", "/api/v1/sessions"): ANY,
    ("POST", "/api/v1/sessions"): frozenset({"operator", "chair"}),
    ("GET", "/api/v1/sessions/{session_id}"): ANY,
    ("POST", "/api/v1/sessions/{session_id}/approve"): frozenset({"chair", "admin"}),
    ("POST", "/api/v1/sessions/{session_id}/chair"): frozenset({"chair"}),
    ("POST", "/api/v1/sessions/{session_id}/join"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/sessions/{session_id}/leave"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/sessions/{session_id}/rollcall"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/sessions/{session_id}/hand"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/sessions/{session_id}/readiness"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/site/local-control"): frozenset({"operator", "chair", "admin"}),
    ("GET", "/api/v1/incidents"): ANY,
    ("POST", "/api/v1/incidents"): frozenset({"operator", "chair"}),
    ("GET", "/api/v1/incidents/{incident_id}"): ANY,
    ("GET", "/api/v1/incidents/{incident_id}/report"): ANY,
    ("POST", "/api/v1/incidents/{incident_id}/acknowledge"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/incidents/{incident_id}/note"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/incidents/{incident_id}/resolve"): frozenset({"operator", "chair"}),
    ("POST", "/api/v1/incidents/{incident_id}/sent"): frozenset({"operator", "chair"}),
    ("GET", "/api/v1/reports"): frozenset({"admin", "auditor", "chair", "operator"}),
    ("POST", "/api/v1/reports/filed"): frozenset({"admin", "auditor"}),
}


def concrete(path: str) -> str:
    return path.replace("{username}", "khong-co-ai").replace("{device_id}", "khong-co").replace(
        "{bridge_id}", "khong-co").replace("{session_id}", "khong-co").replace(
        "{incident_id}", "khong-co")


def test_the_table_covers_every_route() -> None:
    declared = {(r.method, r.path): r.roles for r in ROUTES}
    assert declared == EXPECTED


async def test_anonymous_requests_are_refused_where_a_login_is_needed(
        app_client: Client) -> None:
    for (method, path), roles in EXPECTED.items():
        if roles is PUBLIC:
            continue
        resp = await app_client.request(method, concrete(path), json={})
        assert resp.status == 401, (method, path)
        assert (await resp.json())["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_its_routes(app_client: Client, role: str) -> None:
    add_user(app_client, "quantri", "admin")  # keeps an admin even when testing others
    username = f"u-{role}"
    add_user(app_client, username, role)
    csrf = (await login(app_client, username))["csrf_token"]
    for (method, path), roles in EXPECTED.items():
        if roles is PUBLIC or path == "/api/v1/logout":
            continue
        # Empty bodies: an allowed call fails validation (400/404), a refused one is 403.
        resp = await app_client.request(method, concrete(path), json={},
                                        headers={"X-CSRF-Token": csrf})
        if role in roles:
            assert resp.status not in (401, 403), (role, method, path, resp.status)
        else:
            assert resp.status == 403, (role, method, path, resp.status)
            assert (await resp.json())["error"]["code"] == "forbidden"
        assert resp.status < 500
    resp = await app_client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    refused = [e for e in ctx_of(app_client).audit.entries(limit=500)
               if e.action == "access.denied" and e.actor == username]
    expected_refusals = sum(1 for (m, p), r in EXPECTED.items()
                            if r is not PUBLIC and role not in r and m != "GET")
    assert len(refused) == expected_refusals
