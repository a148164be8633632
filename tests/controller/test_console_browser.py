"""The web console in headless Debian Chromium (Playwright) against a real site controller."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.browser import ConsoleServer, chromium_page, sign_in

with contextlib.suppress(ImportError):  # without Playwright, `chromium_page` fails each test
    from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser

SHELL_SCREENSHOT = "/tmp/console-shell.png"


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Page]:
    """A fresh 1366x768 page in headless Chromium."""
    async with chromium_page() as tab:
        yield tab


async def api_json(page: Page, path: str) -> Any:
    """GET an API path with the page's cookies, as the console would."""
    response = await page.request.get(path)
    assert response.ok, f"{path}: {response.status}"
    return await response.json()


async def test_admin_signs_in_reads_audit_switches_language_and_signs_out(
        console_server: ConsoleServer, page: Page) -> None:
    await page.goto(console_server.url + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await sign_in(page, console_server.admin_username, console_server.admin_password)
    await expect(page.get_by_test_id("user-name")).to_have_text(console_server.admin_username)

    site = await api_json(page, console_server.url + "/api/v1/site")
    await expect(page.get_by_test_id("site-name")).to_have_text(site["name"])
    await expect(page.get_by_test_id("site-level")).to_have_text("Xã/Phường")
    await expect(page.get_by_test_id("user-role")).to_have_text("Quản trị")
    await expect(page.get_by_test_id("nav-overview")).to_have_text("Tổng quan")
    await expect(page.get_by_test_id("nav-audit")).to_have_text("Nhật ký")
    await expect(page.get_by_test_id("nav-accounts")).to_have_text("Tài khoản")
    await expect(page.get_by_test_id("overview-id")).to_have_text(site["id"])
    await expect(page.get_by_test_id("login-submit")).to_be_hidden()
    await page.screenshot(path=SHELL_SCREENSHOT)

    await page.get_by_test_id("nav-audit").click()
    own_login = (page.get_by_test_id("audit-table").locator("tbody tr")
                 .filter(has_text="login.success")
                 .filter(has_text=console_server.admin_username))
    await expect(own_login.first).to_be_visible()
    await expect(page.get_by_test_id("alert")).to_be_hidden()

    await page.get_by_test_id("lang-toggle").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_test_id("nav-overview")).to_have_text("Overview")
    await expect(page.get_by_test_id("nav-audit")).to_have_text("Audit log")
    await expect(page.get_by_test_id("user-role")).to_have_text("Administrator")
    # The choice survives a reload, and so does the session.
    await page.reload()
    await expect(page.get_by_test_id("nav-audit")).to_have_text("Audit log")
    await expect(page.get_by_test_id("section-audit")).to_be_visible()

    await page.get_by_test_id("logout").click()
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
    await expect(page.get_by_test_id("login-username")).to_be_visible()
    await expect(page.get_by_test_id("nav-overview")).to_be_hidden()
    await expect(page.get_by_test_id("site-name")).to_be_hidden()
    me = await page.request.get(console_server.url + "/api/v1/me")
    assert me.status == 401


async def test_wrong_password_shows_the_servers_message_and_stays_out(
        console_server: ConsoleServer, page: Page) -> None:
    await page.goto(console_server.url + "/")
    async with page.expect_response("**/api/v1/login") as answer:
        await sign_in(page, console_server.admin_username, "not-the-password")
    response = await answer.value
    assert response.status == 401
    message = (await response.json())["error"]["message"]

    alert = page.get_by_test_id("alert")
    await expect(alert).to_be_visible()
    await expect(alert).to_have_text(message)
    await expect(alert).to_have_attribute("role", "alert")
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
    await expect(page.get_by_test_id("nav-overview")).to_be_hidden()
    await expect(page.get_by_test_id("logout")).to_be_hidden()


async def test_viewer_does_not_see_audit_or_accounts(
        console_server: ConsoleServer, page: Page) -> None:
    await page.goto(console_server.url + "/#audit")
    await sign_in(page, console_server.viewer_username, console_server.viewer_password)

    await expect(page.get_by_test_id("user-role")).to_have_text("Xem")
    await expect(page.get_by_test_id("nav-overview")).to_be_visible()
    await expect(page.get_by_test_id("nav-devices")).to_be_visible()
    await expect(page.get_by_test_id("nav-audit")).to_be_hidden()
    await expect(page.get_by_test_id("nav-accounts")).to_be_hidden()
    # Asking for the audit section by address lands on the overview instead.
    await expect(page.get_by_test_id("section-overview")).to_be_visible()
    await expect(page.get_by_test_id("section-audit")).to_be_hidden()
    await expect(page.get_by_test_id("alert")).to_be_hidden()


async def test_admin_adds_an_account_that_can_then_sign_in(
        console_server: ConsoleServer, page: Page) -> None:
    username = "canbo-" + secrets.token_hex(3)
    password = "Mat-khau-van-hanh-2025"
    await page.goto(console_server.url + "/")
    await sign_in(page, console_server.admin_username, console_server.admin_password)
    await page.get_by_test_id("nav-accounts").click()
    users = page.get_by_test_id("users-table")
    await expect(users).to_contain_text(console_server.viewer_username)

    await page.get_by_test_id("user-add-username").fill(username)
    await page.get_by_test_id("user-add-role").select_option("operator")
    await page.get_by_test_id("user-add-password").fill(password)
    await page.get_by_test_id("user-add-submit").click()

    row = users.locator(f'tbody tr[data-username="{username}"]')
    await expect(row).to_be_visible()
    await expect(row.get_by_test_id("user-role-select")).to_have_value("operator")
    await expect(page.get_by_test_id("notice")).to_contain_text(username)
    await expect(page.get_by_test_id("alert")).to_be_hidden()

    await page.get_by_test_id("logout").click()
    await sign_in(page, username, password)
    await expect(page.get_by_test_id("user-name")).to_have_text(username)
    await expect(page.get_by_test_id("user-role")).to_have_text("Vận hành")
