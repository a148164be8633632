"""The console plays the conference: the controller relays what the call receives to the page.

Another site ("Tỉnh") publishes into the same Janus room from the test itself; the site joins
from the console, the operator presses "Xem hội nghị" and the page's <video> plays the
picture that came through Janus, the controller and a local WebRTC connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

from media.bridges.base import BridgeSpec, JoinOptions
from media.bridges.janus import JanusVideoRoomBridge
from tests.browser import chromium_page
from tests.conftest import RunningSite
from tests.controller.test_console_calls import CONNECT_TIMEOUT_MS, calls_site, open_sessions
from tests.peers.janus import OPEN_ROOM, JanusLab, janus_lab, lab_netns
from tests.peers.netns import in_lab_netns

with contextlib.suppress(ImportError):  # without Playwright, `chromium_page` fails the test
    from playwright.async_api import expect

__all__ = ["calls_site", "in_lab_netns", "janus_lab", "lab_netns"]

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/console-playout.png"
PLAY_WITHIN_S = 15.0


async def test_operator_watches_the_conference_on_the_console(
        calls_site: RunningSite, janus_lab: JanusLab) -> None:
    site = calls_site
    other_bridge = JanusVideoRoomBridge(BridgeSpec(
        id="khac", kind="janus-videoroom", url=janus_lab.url, room=OPEN_ROOM,
        options={"video_width": 640, "video_height": 360, "video_fps": 15}))
    other = await other_bridge.join(JoinOptions(display="Tỉnh", subscribe="none"))
    try:
        async with chromium_page() as page:
            await open_sessions(page, site.url, site.operator_username, site.operator_password)
            watch = page.get_by_test_id("bridge-watch-tinh")
            await expect(watch).to_be_hidden()
            await page.get_by_test_id("bridge-join-tinh").click()
            await expect(page.get_by_test_id("bridge-state-tinh")).to_have_text(
                "Đã kết nối", timeout=CONNECT_TIMEOUT_MS)
            await expect(watch).to_be_visible()
            await expect(watch).to_have_text("Xem hội nghị")
            # The site subscribes to "Tỉnh" just after joining: wait until it receives.
            await expect(page.get_by_test_id("link-fps-tinh-recv-video")).to_have_text(
                re.compile(r"^[1-9]"), timeout=CONNECT_TIMEOUT_MS)

            async with page.expect_response(re.compile(r"/api/v1/bridges/tinh/playout$")) as r:
                await watch.click()
            answer = await r.value
            assert answer.ok, await answer.text()
            assert (await answer.json())["type"] == "answer"
            video = page.get_by_test_id("playout-video-tinh")
            await expect(video).to_be_visible()
            await expect(watch).to_have_text("Dừng xem")

            # Frames arrive and time advances.
            started = asyncio.get_running_loop().time()
            first: float | None = None
            while True:
                width, now = await video.evaluate("v => [v.videoWidth, v.currentTime]")
                if width > 0 and first is None:
                    first = now
                elif first is not None and now > first + 1.0:
                    break
                assert asyncio.get_running_loop().time() - started < PLAY_WITHIN_S, (width, now)
                await asyncio.sleep(0.25)
            assert (await video.evaluate("v => [v.videoWidth, v.videoHeight]")) == [640, 360]
            assert await video.evaluate("v => v.muted")
            await expect(page.get_by_test_id("playout-status-tinh")).to_contain_text("Đang phát")

            # Sound is one press away; the page offers full screen.
            sound = page.get_by_test_id("playout-sound-tinh")
            await expect(sound).to_have_text("Bật tiếng")
            await sound.click()
            await expect(sound).to_have_text("Tắt tiếng")
            assert not await video.evaluate("v => v.muted")
            await expect(page.get_by_test_id("playout-fullscreen-tinh")).to_have_text(
                "Toàn màn hình")
            await page.screenshot(path=SCREENSHOT, full_page=True)

            # Leaving the section stops the picture; coming back shows the button again.
            await page.get_by_test_id("nav-devices").click()
            await expect(page.get_by_test_id("playout-tinh")).to_be_hidden()
            assert await video.evaluate("v => v.srcObject === null")
            await page.get_by_test_id("nav-sessions").click()
            await expect(watch).to_have_text("Xem hội nghị")
            await expect(page.get_by_test_id("alert")).to_be_hidden()
    finally:
        await other.leave()
        await other_bridge.close()
