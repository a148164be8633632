"""Login, lockout, idle timeout, CSRF, cookies and first-admin setup, over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.app import create_app, serve
from controller.config import load_config
from controller.context import CONTEXT, SiteContext
from tests.conftest import Client, FakeClock, app_of, free_port, write_site_config

ADMIN_PASSWORD = "quantri-mat-khau-1"


def ctx_of(client: Client) -> SiteContext:
    return app_of(client)[CONTEXT]


def add_user(client: Client, name: str, role: str, password: str = ADMIN_PASSWORD) -> None:
    ctx_of(client).accounts.add(name, password, role, actor="test")


async def login(client: Client, name: str, password: str = ADMIN_PASSWORD) -> dict[str, Any]:
    resp = await client.post("/api/v1/login", json={"username": name, "password": password})
    body: dict[str, Any] = await resp.json()
    body["_status"] = resp.status
    return body


def audit_actions(client: Client) -> list[str]:
    return [e.action for e in reversed(ctx_of(client).audit.entries(limit=500))]


async def test_login_sets_a_strict_httponly_cookie_and_returns_csrf(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    resp = await app_client.post("/api/v1/login",
                                 json={"username": "quantri", "password": ADMIN_PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["user"] == {"username": "quantri", "role": "admin"}
    assert len(body["csrf_token"]) >= 32
    assert body["idle_timeout_seconds"] == 900
    cookie = resp.headers["Set-Cookie"]
    assert "diemcau_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; TLS adds Secure
    me = await app_client.get("/api/v1/me")
    assert (await me.json())["user"]["username"] == "quantri"
    assert "login.success" in audit_actions(app_client)


async def test_wrong_password_and_unknown_user_look_the_same(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    wrong = await login(app_client, "quantri", "not-the-password")
    unknown = await login(app_client, "ai-do", "not-the-password")
    assert wrong["_status"] == unknown["_status"] == 401
    assert wrong["error"] == unknown["error"]
    assert wrong["error"]["code"] == "invalid_credentials"
    failures = [e for e in ctx_of(app_client).audit.entries() if e.action == "login.failure"]
    assert {e.details["reason"] for e in failures} == {"wrong password", "unknown user"}
    assert all("not-the-password" not in str(e.details) for e in failures)


async def test_five_failures_lock_the_account_until_timeout_or_unlock(
        app_client: Client, clock: FakeClock) -> None:
    add_user(app_client, "vanhanh", "operator")
    for _ in range(4):
        assert (await login(app_client, "vanhanh", "wrong-password"))["_status"] == 401
    fifth = await login(app_client, "vanhanh", "wrong-password")
    assert fifth["_status"] == 423
    assert fifth["error"]["code"] == "account_locked"
    # Even the right password is refused while locked.
    assert (await login(app_client, "vanhanh"))["_status"] == 423
    clock.advance(14 * 60)
    assert (await login(app_client, "vanhanh"))["_status"] == 423
    clock.advance(61)
    assert (await login(app_client, "vanhanh"))["_status"] == 200
    # Locked again, then an admin unlocks it at once.
    for _ in range(5):
        await login(app_client, "vanhanh", "wrong-password")
    assert (await login(app_client, "vanhanh"))["_status"] == 423
    ctx_of(app_client).accounts.unlock("vanhanh", actor="test-admin")
    assert (await login(app_client, "vanhanh"))["_status"] == 200
    actions = audit_actions(app_client)
    assert actions.count("user.lock") == 2
    assert "user.unlock" in actions


async def test_success_resets_the_failure_count(app_client: Client) -> None:
    add_user(app_client, "vanhanh", "operator")
    for _ in range(4):
        await login(app_client, "vanhanh", "wrong-password")
    assert (await login(app_client, "vanhanh"))["_status"] == 200
    for _ in range(4):
        await login(app_client, "vanhanh", "wrong-password")
    assert (await login(app_client, "vanhanh"))["_status"] == 200


async def test_idle_timeout_ends_the_session(app_client: Client, clock: FakeClock) -> None:
    add_user(app_client, "xem", "viewer")
    await login(app_client, "xem")
    clock.advance(14 * 60)
    assert (await app_client.get("/api/v1/site")).status == 200  # activity resets the idle clock
    clock.advance(14 * 60)
    assert (await app_client.get("/api/v1/site")).status == 200
    clock.advance(15 * 60 + 1)
    resp = await app_client.get("/api/v1/site")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "session_expired"
    assert (await app_client.get("/api/v1/me")).status == 401
    assert "session.expired" in audit_actions(app_client)


async def test_automatic_refreshes_do_not_keep_an_idle_console_logged_in(
        app_client: Client, clock: FakeClock) -> None:
    add_user(app_client, "xem", "viewer")
    await login(app_client, "xem")
    background = {"X-Diemcau-Background": "1"}
    for _ in range(14):
        clock.advance(60)
        assert (await app_client.get("/api/v1/devices", headers=background)).status == 200
    clock.advance(61)
    resp = await app_client.get("/api/v1/devices", headers=background)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "session_expired"


async def test_session_has_a_maximum_age_even_when_active(
        app_client: Client, clock: FakeClock) -> None:
    add_user(app_client, "xem", "viewer")
    await login(app_client, "xem")
    for _ in range(12 * 6):
        clock.advance(10 * 60)
        await app_client.get("/api/v1/me")
    clock.advance(10 * 60)
    assert (await app_client.get("/api/v1/me")).status == 401


async def test_state_changes_need_the_csrf_token(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    body = await login(app_client, "quantri")
    new_user = {"username": "moi", "password": "mat-khau-moi-1", "role": "viewer"}
    missing = await app_client.post("/api/v1/users", json=new_user)
    assert missing.status == 403
    assert (await missing.json())["error"]["code"] == "csrf_failed"
    wrong = await app_client.post("/api/v1/users", json=new_user,
                                  headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status == 403
    ok = await app_client.post("/api/v1/users", json=new_user,
                               headers={"X-CSRF-Token": body["csrf_token"]})
    assert ok.status == 201
    logout = await app_client.post("/api/v1/logout")
    assert logout.status == 403  # logout is a state change too
    denied = [e for e in ctx_of(app_client).audit.entries() if e.action == "access.denied"]
    assert len(denied) == 3


async def test_cross_origin_post_is_refused(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    body = await login(app_client, "quantri")
    resp = await app_client.post("/api/v1/logout", headers={
        "X-CSRF-Token": body["csrf_token"], "Origin": "http://evil.example"})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "bad_origin"


async def test_logout_ends_the_session(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    body = await login(app_client, "quantri")
    resp = await app_client.post("/api/v1/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert resp.status == 200
    assert (await app_client.get("/api/v1/me")).status == 401
    assert "logout" in audit_actions(app_client)


async def test_disabled_account_cannot_log_in(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    add_user(app_client, "xem", "viewer")
    ctx_of(app_client).accounts.set_disabled("xem", True, actor="test")
    resp = await login(app_client, "xem")
    assert resp["_status"] == 401
    assert resp["error"]["code"] == "account_disabled"


async def test_changing_own_password(app_client: Client) -> None:
    add_user(app_client, "xem", "viewer")
    body = await login(app_client, "xem")
    headers = {"X-CSRF-Token": body["csrf_token"]}
    wrong = await app_client.post("/api/v1/me/password", headers=headers, json={
        "current_password": "nope-nope-nope", "new_password": "mat-khau-moi-123"})
    assert wrong.status == 403
    assert (await wrong.json())["error"]["code"] == "wrong_password"
    weak = await app_client.post("/api/v1/me/password", headers=headers, json={
        "current_password": ADMIN_PASSWORD, "new_password": "short"})
    assert weak.status == 400
    assert (await weak.json())["error"]["code"] == "weak_password"
    ok = await app_client.post("/api/v1/me/password", headers=headers, json={
        "current_password": ADMIN_PASSWORD, "new_password": "mat-khau-moi-123"})
    assert ok.status == 200
    assert (await app_client.get("/api/v1/me")).status == 401  # sessions end on change
    assert (await login(app_client, "xem"))["_status"] == 401
    assert (await login(app_client, "xem", "mat-khau-moi-123"))["_status"] == 200


async def test_first_admin_by_one_time_token(app_client: Client) -> None:
    ctx = ctx_of(app_client)
    assert (await (await app_client.get("/api/v1/setup")).json()) == {"needed": True}
    token_file = ctx.config.storage.data_dir / "setup-token"
    token = token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o077 == 0
    bad = await app_client.post("/api/v1/setup", json={
        "token": "wrong", "username": "quantri", "password": ADMIN_PASSWORD})
    assert bad.status == 401
    ok = await app_client.post("/api/v1/setup", json={
        "token": token, "username": "quantri", "password": ADMIN_PASSWORD})
    assert ok.status == 201
    assert not token_file.exists()
    again = await app_client.post("/api/v1/setup", json={
        "token": token, "username": "khac", "password": ADMIN_PASSWORD})
    assert again.status == 409
    assert (await (await app_client.get("/api/v1/setup")).json()) == {"needed": False}
    assert (await login(app_client, "quantri"))["user"]["role"] == "admin"


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'"text"', b'{"username": 5, "password": "x"}',
    b'{"username": "a"}', b'{"username": "a", "password": "b", "extra": 1}',
    '{"username": "ả", "password": "\u0000"}'.encode(), b"\xff\xfe",
    b'{"username": "' + b"a" * 5000 + b'", "password": "x"}',
])
async def test_bad_login_bodies_get_a_clear_400(app_client: Client, body: bytes) -> None:
    resp = await app_client.post("/api/v1/login", data=body,
                                 headers={"Content-Type": "application/json"})
    assert 400 <= resp.status < 500
    err = (await resp.json())["error"]
    assert err["code"]
    assert err["message"]


async def test_last_admin_cannot_be_demoted_or_disabled(app_client: Client) -> None:
    add_user(app_client, "quantri", "admin")
    body = await login(app_client, "quantri")
    headers = {"X-CSRF-Token": body["csrf_token"]}
    resp = await app_client.patch("/api/v1/users/quantri", headers=headers,
                                  json={"role": "viewer"})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "last_admin"
    resp = await app_client.patch("/api/v1/users/quantri", headers=headers,
                                  json={"disabled": True})
    assert resp.status == 409


async def test_tls_console_sets_a_secure_cookie(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    port = free_port()
    path = write_site_config(tmp_path, extra=(
        f'[console]\nlisten = "127.0.0.1:{port}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'))
    config = load_config(path)
    app = create_app(config, announce=lambda _text: None)
    app[CONTEXT].accounts.add("quantri", ADMIN_PASSWORD, "admin", actor="test")
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve([(config, app)], stop, ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        client_tls = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http:
            async with http.post(f"https://127.0.0.1:{port}/api/v1/login", ssl=client_tls,
                                 json={"username": "quantri", "password": ADMIN_PASSWORD}) as r:
                assert r.status == 200
                cookie = r.headers["Set-Cookie"]
            with pytest.raises(aiohttp.ClientError):
                await http.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        stop.set()
        await server
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "console.crt", directory / "console.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path
