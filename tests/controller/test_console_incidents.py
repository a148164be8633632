"""The console's incident pages in headless Chromium, against a real ``diemcau run`` process.

The officer reports a problem with the button, sees it in the list, takes it in hand, adds a
note, records the first notice as sent, resolves it and opens its one-page report; a viewer
then sees the same incident read-only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from tests.browser import chromium_page, sign_in
from tests.conftest import RunningSite

with contextlib.suppress(ImportError):  # without Playwright, `chromium_page` fails each test
    from playwright.async_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]

SCREENSHOT = "/tmp/console-incidents.png"
REPORT_SCREENSHOT = "/tmp/console-incident-report.png"
NOTE = "Đã kiểm tra dây micro <b>số 2</b>"  # markup must show as text
# The console polls incidents every 3 s; an action's answer is shown at once.
SEEN_MS = 10_000


@pytest.fixture
def patient_expect() -> Iterator[None]:
    """`expect` waits SEEN_MS in this module, and the default again after it."""
    expect.set_options(timeout=SEEN_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=None)


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Page]:
    """A fresh 1366x768 page in headless Chromium."""
    async with chromium_page() as tab:
        yield tab


async def open_incidents(page: Page, url: str, username: str, password: str) -> None:
    """Sign in and land on the incident section."""
    await page.goto(url + "/#incidents")
    await sign_in(page, username, password)
    await expect(page.get_by_test_id("section-incidents")).to_be_visible()
    await expect(page.get_by_test_id("nav-incidents")).to_have_attribute("aria-current", "page")


async def only_incident(page: Page, url: str) -> dict[str, Any]:
    """The site's one incident, through the API with the page's session."""
    response = await page.request.get(url + "/api/v1/incidents?state=all")
    assert response.ok, response.status
    incidents: list[dict[str, Any]] = (await response.json())["incidents"]
    assert len(incidents) == 1, incidents
    return incidents[0]


@pytest.mark.usefixtures("patient_expect")
async def test_the_officer_reports_handles_and_reports_an_incident(
        page: Page, console_server: RunningSite) -> None:
    url = console_server.url
    await open_incidents(page, url, console_server.operator_username,
                         console_server.operator_password)
    await expect(page.get_by_test_id("incidents-empty")).to_have_text(
        "Không có sự cố nào đang mở.")
    await expect(page.get_by_test_id("incidents-readonly")).to_be_hidden()

    # "Báo cáo sự cố": the form, then the new incident in the list and opened below it.
    await page.get_by_test_id("incident-report-open").click()
    await page.get_by_test_id("incident-new-title").fill("Micro đại biểu số 2 mất tiếng")
    await page.get_by_test_id("incident-new-description").fill("Đại biểu phát biểu không nghe")
    await page.get_by_test_id("incident-new-severity").select_option("critical")
    await page.get_by_test_id("incident-new-submit").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Micro đại biểu số 2 mất tiếng")
    await expect(page.get_by_test_id("incident-new-form")).to_be_hidden()
    incident = await only_incident(page, url)
    iid = incident["id"]
    row = page.get_by_test_id(f"incident-row-{iid}")
    await expect(row).to_contain_text("Micro đại biểu số 2 mất tiếng")
    await expect(row).to_contain_text("Nghiêm trọng")
    await expect(row).to_contain_text("UBND xã Hoàng Hợp")
    await expect(page.get_by_test_id(f"incident-state-{iid}")).to_have_text("Đang mở")
    await expect(page.get_by_test_id(f"incident-restore-{iid}")).to_contain_text("Đang diễn ra")
    await expect(page.get_by_test_id(f"incident-clocks-{iid}")).to_contain_text(
        "Thông báo trước")
    detail = page.get_by_test_id("incident-detail")
    await expect(page.get_by_test_id("incident-title")).to_have_text(
        "Micro đại biểu số 2 mất tiếng")
    await expect(page.get_by_test_id("incident-timeline")).to_contain_text(
        "Đại biểu phát biểu không nghe")

    # Tiếp nhận, Ghi chú, the first notice sent.
    await page.get_by_test_id("incident-acknowledge").click()
    await expect(page.get_by_test_id("incident-detail-state")).to_have_text("Đã tiếp nhận")
    await expect(page.get_by_test_id(f"incident-state-{iid}")).to_have_text("Đã tiếp nhận")
    await expect(page.get_by_test_id("incident-acknowledge")).to_be_hidden()
    await page.get_by_test_id("incident-note-text").fill(NOTE)
    await page.get_by_test_id("incident-note-submit").click()
    await expect(page.get_by_test_id("incident-timeline")).to_contain_text(NOTE)
    await expect(page.get_by_test_id("incident-note-text")).to_have_value("")
    await page.get_by_test_id("incident-sent-notice").click()
    await expect(page.get_by_test_id("incident-detail-notice")).to_contain_text("Đã gửi lúc")
    await expect(page.get_by_test_id("incident-sent-notice")).to_be_hidden()

    # Đã xử lý: gone from the unresolved list, shown with its time to restore under "Tất cả".
    await page.get_by_test_id("incident-resolution").fill("Đã thay dây micro")
    await page.get_by_test_id("incident-resolve").click()
    await expect(page.get_by_test_id("incident-detail-state")).to_have_text("Đã xử lý")
    await expect(page.get_by_test_id("incident-detail-restore")).not_to_contain_text(
        "Đang diễn ra")
    await expect(row).to_be_hidden()
    await page.get_by_test_id("incident-filter-state").select_option("all")
    await expect(page.get_by_test_id(f"incident-state-{iid}")).to_have_text("Đã xử lý")
    await expect(page.get_by_test_id(f"incident-restore-{iid}")).not_to_contain_text(
        "Đang diễn ra")
    await expect(detail.get_by_test_id("incident-resolve")).to_be_hidden()
    await page.screenshot(path=SCREENSHOT, full_page=True)

    # The one-page report opens as its own document, under its own policy, inline style intact.
    violations: list[str] = []
    page.context.on("console", lambda msg: violations.append(msg.text)
                    if "Content Security Policy" in msg.text else None)
    async with page.expect_popup() as popup:
        await page.get_by_test_id("incident-report-html").click()
    report = await popup.value
    await report.wait_for_load_state()
    await expect(report.locator("h1")).to_have_text("BÁO CÁO SỰ CỐ ĐIỂM CẦU TRỰC TUYẾN")
    await expect(report.locator("body")).to_contain_text(NOTE)
    await expect(report.locator("body")).to_contain_text("Đã thay dây micro")
    assert await report.locator("b").count() == 0  # the note's markup stayed text
    # The inline stylesheet applied: the title is centred.
    assert await report.locator("h1").evaluate("h => getComputedStyle(h).textAlign") == "center"
    await report.screenshot(path=REPORT_SCREENSHOT, full_page=True)
    assert not violations, violations
    await report.close()
    for fmt in ("pdf", "json"):
        href = await page.get_by_test_id(f"incident-report-{fmt}").get_attribute("href")
        response = await page.request.get(url + str(href))
        assert response.ok, (fmt, response.status)
        assert response.headers["content-type"].startswith(
            "application/pdf" if fmt == "pdf" else "application/json")

    # A viewer sees the same incident read-only: no report button, no actions, the reason.
    await page.get_by_test_id("logout").click()
    await sign_in(page, console_server.viewer_username, console_server.viewer_password)
    await expect(page.get_by_test_id("section-incidents")).to_be_visible()
    await expect(page.get_by_test_id("incidents-readonly")).to_be_visible()
    await expect(page.get_by_test_id("incident-report-open")).to_be_hidden()
    await page.get_by_test_id("incident-filter-state").select_option("all")
    await page.get_by_test_id(f"incident-open-{iid}").click()
    await expect(page.get_by_test_id("incident-title")).to_have_text(
        "Micro đại biểu số 2 mất tiếng")
    await expect(page.get_by_test_id("incident-readonly")).to_be_visible()
    await expect(page.get_by_test_id("incident-actions")).to_be_hidden()
    await expect(page.get_by_test_id("incident-report-pdf")).to_be_visible()

    # In English, the same incident reads in English words.
    await page.get_by_test_id("lang-toggle").click()
    await expect(page.get_by_test_id("incident-detail-state")).to_have_text("Resolved")
    await expect(page.get_by_test_id(f"incident-state-{iid}")).to_have_text("Resolved")
    await expect(page.get_by_test_id("incident-report-pdf")).to_have_text("Download PDF")
