"""The console's "Hội nghị" block in headless Chromium, joining a real Janus.

A real Janus runs in the tests' own network namespace (`janus_lab`, tests/peers/janus.py).
The `in_lab_netns` fixture moves the test thread into that namespace *before* the site process
and the Playwright driver are started, so `diemcau run` and Chromium both live there too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium_page, sign_in
from tests.conftest import RunningSite, start_site, stop_site
from tests.peers.janus import OPEN_ROOM, JanusLab, janus_lab, lab_netns
from tests.peers.netns import LabNetns, in_lab_netns

with contextlib.suppress(ImportError):  # without Playwright, `chromium_page` fails the test
    from playwright.async_api import Page, Request, expect

__all__ = ["in_lab_netns", "janus_lab", "lab_netns"]

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/console-calls.png"
VIEWER_SCREENSHOT = "/tmp/console-calls-viewer.png"
CONNECT_TIMEOUT_MS = 15_000


@pytest.fixture
def calls_site(tmp_path: Path, janus_lab: JanusLab,
               in_lab_netns: LabNetns) -> Iterator[RunningSite]:
    """A real `diemcau run` process, started inside the lab namespace, with one Janus bridge."""
    extra = (f'[media]\nwidth = 320\nheight = 180\nfps = 10\n\n'
             f'[[bridges]]\nid = "tinh"\nname = "Cầu tỉnh"\nkind = "janus-videoroom"\n'
             f'url = "{janus_lab.url}"\nroom = {OPEN_ROOM}\n')
    site = start_site(tmp_path / "calls-site", extra=extra)
    try:
        yield site
    finally:
        code = stop_site(site)
        assert code == 0, f"diemcau run exited with {code}"


def record_call_posts(page: Page) -> list[str]:
    """The path of every join/leave the console posts, in order."""
    sent: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and re.search(r"/api/v1/bridges/[^/]+/(join|leave)$",
                                                  request.url):
            sent.append(request.url.rsplit("/api/v1", 1)[1])

    page.on("request", on_request)
    return sent


async def open_sessions(page: Page, url: str, username: str, password: str) -> None:
    """Sign in and land on the sessions section."""
    await page.goto(url + "/#sessions")
    await sign_in(page, username, password)
    await expect(page.get_by_test_id("section-sessions")).to_be_visible()
    await expect(page.get_by_test_id("nav-sessions")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_test_id("bridge-card-tinh")).to_be_visible()


async def test_operator_joins_watches_the_link_and_leaves_viewer_cannot(
        calls_site: RunningSite) -> None:
    site = calls_site
    async with chromium_page() as page:
        await open_sessions(page, site.url, site.operator_username, site.operator_password)
        card = page.get_by_test_id("bridge-card-tinh")
        await expect(card).to_contain_text("Cầu tỉnh")
        await expect(page.get_by_test_id("calls-readonly")).to_be_hidden()
        state = page.get_by_test_id("bridge-state-tinh")
        await expect(state).to_have_text("Chưa tham gia")
        join = page.get_by_test_id("bridge-join-tinh")
        await expect(join).to_have_text("Tham gia hội nghị")
        await expect(join).to_be_enabled()
        await expect(page.get_by_test_id("link-strip-tinh")).to_be_hidden()
        sent = record_call_posts(page)

        # The poll asks quietly, so an unattended console still times out.
        async with page.expect_request(
                lambda r: r.url.endswith("/api/v1/bridges") and r.method == "GET") as polled:
            pass
        assert (await polled.value).headers.get("x-diemcau-background") == "1"

        # Join: "Đã kết nối", a green or amber strip with a bitrate, the event in plain words.
        async with page.expect_response(re.compile(r"/api/v1/bridges/tinh/join$")) as answer:
            await join.click()
        response = await answer.value
        assert response.ok, await response.text()
        assert sent == ["/bridges/tinh/join"], sent
        await expect(state).to_have_text("Đã kết nối", timeout=CONNECT_TIMEOUT_MS)
        await expect(state).to_have_attribute("data-state", "connected")
        strip = page.get_by_test_id("link-strip-tinh")
        await expect(strip).to_be_visible()
        await expect(strip).to_have_attribute("data-health", re.compile(r"^(green|amber)$"),
                                              timeout=CONNECT_TIMEOUT_MS)
        await expect(page.get_by_test_id("link-bitrate-tinh-send-video")).to_have_text(
            re.compile(r"^[1-9][\d.]* kbit/s$"), timeout=CONNECT_TIMEOUT_MS)
        for words in ("Mất gói", "Độ trễ biến thiên", "Trễ khứ hồi", "Tốc độ",
                      "Khung hình/giây", "Điểm chất lượng (MOS)", "Gửi đi · hình ảnh"):
            await expect(strip).to_contain_text(words)
        await expect(page.get_by_test_id("link-health-tinh")).to_contain_text(
            re.compile("Đường truyền (tốt|tạm được)"))
        events = page.get_by_test_id("bridge-events-tinh")
        # Recovery steps are listed here; a call that never faltered may have none to tell
        # (the controller subscribes to a call's events only after its first "connected").
        await expect(events).to_contain_text("Diễn biến gần đây")
        await expect(card).to_contain_text(f"Người bấm tham gia: {site.operator_username}")
        await expect(join).to_be_hidden()
        await expect(page.get_by_test_id("alert")).to_be_hidden()
        await page.screenshot(path=SCREENSHOT, full_page=True)

        # Leaving asks first; "Huỷ" keeps the call.
        leave = page.get_by_test_id("bridge-leave-tinh")
        await expect(leave).to_have_text("Rời hội nghị")
        await leave.click()
        dialog = page.get_by_test_id("dialog-confirm")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("Rời hội nghị?")
        await page.get_by_test_id("confirm-cancel").click()
        await expect(dialog).to_be_hidden()
        await asyncio.sleep(0.3)
        assert sent == ["/bridges/tinh/join"], sent
        await expect(state).to_have_text("Đã kết nối")

        async with page.expect_response(re.compile(r"/api/v1/bridges/tinh/leave$")) as left:
            await leave.click()
            await page.get_by_test_id("confirm-ok").click()
        assert (await left.value).ok
        await expect(join).to_be_visible()
        await expect(join).to_be_enabled()
        await expect(state).to_have_text("Chưa tham gia")
        await expect(strip).to_be_hidden()
        listing = await (await page.request.get(site.url + "/api/v1/bridges")).json()
        assert listing["bridges"][0]["call"] is None, listing

        # A viewer sees the same card, read only: the button is there but cannot be pressed.
        await page.get_by_test_id("logout").click()
        await expect(page.get_by_test_id("view-login")).to_be_visible()
        await open_sessions(page, site.url, site.viewer_username, site.viewer_password)
        note = page.get_by_test_id("calls-readonly")
        await expect(note).to_be_visible()
        await expect(note).to_contain_text("Chỉ xem")
        await expect(join).to_be_disabled()
        await join.click(force=True)
        await asyncio.sleep(0.5)
        assert sent == ["/bridges/tinh/join", "/bridges/tinh/leave"], sent
        await expect(page.get_by_test_id("alert")).to_be_hidden()
        await page.screenshot(path=VIEWER_SCREENSHOT, full_page=True)
        denied = await page.request.post(
            site.url + "/api/v1/bridges/tinh/join", data=json.dumps({}),
            headers={"Content-Type": "application/json", "X-CSRF-Token": (await (
                await page.request.get(site.url + "/api/v1/me")).json())["csrf_token"]})
        assert denied.status == 403, denied.status
