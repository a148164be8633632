"""The console's report page in headless Chromium, against a real ``diemcau run`` process.

The administrator picks the second half of 2026, sees its dates and the site's row, downloads
the PDF through the page's link and marks the period filed; a viewer is told that the role
cannot read reports. The page's clock is fixed in November 2026, so the year list is the same
whatever day the test runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

from tests.browser import chromium_page, sign_in
from tests.conftest import RunningSite

with contextlib.suppress(ImportError):  # without Playwright, `chromium_page` fails each test
    from playwright.async_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]

SCREENSHOT = "/tmp/console-reports.png"
TODAY = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=7)))


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Page]:
    """A fresh 1366x768 page in headless Chromium, its clock on `TODAY`."""
    async with chromium_page() as tab:
        await tab.clock.set_fixed_time(TODAY)
        yield tab


async def open_reports(page: Page, url: str, username: str, password: str) -> None:
    """Sign in and land on the report section."""
    await page.goto(url + "/#reports")
    await sign_in(page, username, password)
    await expect(page.get_by_test_id("section-reports")).to_be_visible()
    await expect(page.get_by_test_id("nav-reports")).to_have_attribute("aria-current", "page")


async def test_the_admin_views_downloads_and_files_a_half_year_report(
        page: Page, console_server: RunningSite) -> None:
    url = console_server.url
    await open_reports(page, url, console_server.admin_username, console_server.admin_password)
    await expect(page.get_by_test_id("reports-denied")).to_be_hidden()
    years = page.get_by_test_id("report-year").locator("option")
    await expect(years).to_have_text(["2026", "2025", "2024"])
    # A site without sites below it has no scope to choose.
    await expect(page.get_by_test_id("report-scope")).to_be_hidden()

    await page.get_by_test_id("report-kind").select_option("H2")
    await page.get_by_test_id("report-year").select_option("2026")
    await page.get_by_test_id("report-number").fill("12/BC-UBND")
    await page.get_by_test_id("report-view").click()

    await expect(page.get_by_test_id("report-title")).to_have_text(
        "Báo cáo 6 tháng cuối năm 2026: UBND xã Hoàng Hợp")
    await expect(page.get_by_test_id("report-period")).to_contain_text(
        "15/06/2026 – 14/12/2026")
    await expect(page.get_by_test_id("report-period")).to_contain_text("ngày 15")
    await expect(page.get_by_test_id("report-number-shown")).to_have_text("12/BC-UBND")
    row = page.get_by_test_id("report-row-xa-hoang-hop")
    await expect(row).to_contain_text("UBND xã Hoàng Hợp")
    # Nothing attended yet: counts are 0, rates have nothing to divide and show "—".
    cells = row.locator("td")
    await expect(cells.nth(0)).to_have_text("0")
    await expect(cells.nth(2)).to_have_text("—")
    await expect(cells.nth(8)).to_have_text("100%")
    await expect(page.get_by_test_id("report-totals")).to_contain_text("Số điểm cầu")

    # The download links carry the same query; the PDF one gives a PDF.
    pdf = page.get_by_test_id("report-download-pdf")
    await expect(pdf).to_have_attribute("download", "")
    href = await pdf.get_attribute("href")
    assert href is not None
    query = parse_qs(urlsplit(href).query)
    assert query["period"] == ["2026-H2"]
    assert query["format"] == ["pdf"]
    assert query["scope"] == ["site"]
    assert query["number"] == ["12/BC-UBND"]
    response = await page.request.get(url + href)
    assert response.ok, response.status
    assert response.headers["content-type"] == "application/pdf"
    assert (await response.body()).startswith(b"%PDF")
    for fmt in ("xlsx", "csv", "json"):
        link = page.get_by_test_id(f"report-download-{fmt}")
        await expect(link).to_have_attribute("href", href.replace("format=pdf", f"format={fmt}"))

    # Đánh dấu đã nộp: asked first, then confirmed.
    await page.get_by_test_id("report-filed").click()
    dialog = page.get_by_test_id("dialog-confirm")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("6 tháng cuối năm 2026")
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("report-filed-result")).to_have_text(
        "Đã đánh dấu báo cáo 6 tháng cuối năm 2026 là đã nộp.")
    await page.screenshot(path=SCREENSHOT, full_page=True)

    # A custom range: two dates, and the same page in English.
    await page.get_by_test_id("report-kind").select_option("range")
    await expect(page.get_by_test_id("report-year")).to_be_hidden()
    await page.get_by_test_id("report-from").fill("2026-01-01")
    await page.get_by_test_id("report-to").fill("2026-03-31")
    await page.get_by_test_id("report-view").click()
    await expect(page.get_by_test_id("report-period")).to_contain_text(
        "01/01/2026 – 31/03/2026")
    await expect(page.get_by_test_id("report-download-csv")).to_have_attribute(
        "href", "/api/v1/reports?period=2026-01-01..2026-03-31&scope=site&format=csv&lang=vi"
        "&number=12%2FBC-UBND")
    await page.get_by_test_id("lang-toggle").click()
    await expect(page.get_by_test_id("report-title")).to_have_text(
        "Report 01/01/2026 to 31/03/2026: UBND xã Hoàng Hợp")
    await expect(page.get_by_test_id("report-download-pdf")).to_have_attribute(
        "href", "/api/v1/reports?period=2026-01-01..2026-03-31&scope=site&format=pdf&lang=en"
        "&number=12%2FBC-UBND")


async def test_a_viewer_is_told_the_role_cannot_read_reports(
        page: Page, console_server: RunningSite) -> None:
    url = console_server.url
    await open_reports(page, url, console_server.viewer_username, console_server.viewer_password)
    await expect(page.get_by_test_id("reports-denied")).to_contain_text(
        "Vai trò của bạn (Xem) không được xem báo cáo định kỳ")
    await expect(page.get_by_test_id("report-form")).to_be_hidden()
    await expect(page.get_by_test_id("report-result")).to_be_hidden()
    response = await page.request.get(url + "/api/v1/reports?period=2026-H2")
    assert response.status == 403
