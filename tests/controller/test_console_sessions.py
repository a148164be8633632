"""The console's multi-site sessions in headless Chromium, over a real tree of two sites.

A province (`tinh-a`, no room) chairs; a commune (`xa-mot`) has a simulated camera, projector
and mixer. Two browsers, one per site, drive the whole flow as the two officers would: create,
approve, readiness, start, roll call, a raised hand, the floor, and a refusal from a site that
switched to local control only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium_page, sign_in
from tests.peers.tree import PASSWORDS, Console, eventually, running_tree

with contextlib.suppress(ImportError):  # without Playwright, `chromium_page` fails the test
    from playwright.async_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]

TREE = {"tinh-a": ("province", None), "xa-mot": ("commune", "tinh-a")}
CHAIR_SCREENSHOT = "/tmp/console-sessions-chair.png"
OFFICER_SCREENSHOT = "/tmp/console-sessions-officer.png"
# Sessions are polled every 2 s; a record or status crosses the uplink within a heartbeat.
# Every expectation here waits for a poll, so none uses Playwright's 5 s default.
SEEN_MS = 15_000
READINESS_MS = 30_000


@pytest.fixture
def patient_expect() -> Iterator[None]:
    """`expect` waits SEEN_MS in this test, and the default again after it."""
    expect.set_options(timeout=SEEN_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=None)


async def open_sessions(page: Page, url: str, username: str) -> None:
    """Sign in and land on the sessions section."""
    await page.goto(url + "/#sessions")
    await sign_in(page, username, PASSWORDS[username])
    await expect(page.get_by_test_id("section-sessions")).to_be_visible()
    await expect(page.get_by_test_id("meetings-block")).to_be_visible()


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


async def _commune_online(chair: Console) -> bool:
    site = await chair.get("/api/v1/site")
    return any(s["id"] == "xa-mot" and s["online"] for s in site["subtree"])


@pytest.mark.usefixtures("patient_expect")
async def test_chair_and_commune_run_a_session_in_the_console(tmp_path: Path) -> None:
    began = time.monotonic()
    with running_tree(tmp_path, TREE, rooms={"xa-mot"}) as sites:
        province, commune = sites["tinh-a"], sites["xa-mot"]
        async with Console(province, "chutri") as api:
            await eventually(lambda: _commune_online(api), what="xa-mot online at tinh-a")
        # Two browsers: both consoles are on 127.0.0.1, and cookies do not tell ports apart.
        async with chromium_page() as chair, chromium_page() as officer:
            await open_sessions(chair, province.url, "chutri")
            await expect(chair.get_by_test_id("meetings-empty")).to_be_visible()
            await expect(chair.get_by_test_id("local-control")).to_be_visible()

            # The chair creates a session through the form: one commune, starting in an hour.
            await chair.get_by_test_id("meeting-new").click()
            form = chair.get_by_test_id("meeting-form")
            await expect(form).to_be_visible()
            await chair.get_by_test_id("new-title").fill("Giao ban tháng 12")
            await chair.get_by_test_id("new-kind").select_option("regular")
            # Three hours ahead, typed as an officer would (local time, to the minute): past
            # the readiness lead time, short of the notice a regular session needs.
            starts = time.localtime(time.time() + 3 * 3600)
            ends = time.localtime(time.time() + 5 * 3600)
            await expect(chair.get_by_test_id("new-starts")).not_to_have_value("")
            await chair.get_by_test_id("new-starts").fill(time.strftime("%Y-%m-%dT%H:%M", starts))
            await chair.get_by_test_id("new-ends").fill(time.strftime("%Y-%m-%dT%H:%M", ends))
            await chair.get_by_test_id("new-part-xa-mot").check()
            async with chair.expect_response(re.compile(r"/api/v1/sessions$")) as created:
                await chair.get_by_test_id("new-submit").click()
            response = await created.value
            assert response.status == 201, await response.text()
            body = await response.json()
            session_id = body["id"]
            assert body["participants"] == ["xa-mot"]
            sent = response.request.post_data_json
            assert isinstance(sent, dict), sent
            # datetime-local becomes ISO 8601 with this computer's offset.
            offset = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00[+-]\d\d:\d\d$")
            assert offset.match(sent["starts_at"]), sent
            assert offset.match(sent["ends_at"]), sent
            assert sent["subtrees"] == [], sent
            assert sent["secret"] is False, sent
            expected_start = time.mktime(starts) // 60 * 60
            assert _epoch(sent["starts_at"]) == expected_start, sent
            await expect(form).to_be_hidden()
            await expect(chair.get_by_test_id("notice")).to_contain_text("Đã tạo phiên họp")
            item = chair.get_by_test_id(f"session-item-{session_id}")
            await expect(item).to_contain_text("Giao ban tháng 12")
            await expect(item).to_contain_text("Thường kỳ")
            await expect(item).to_contain_text("Chưa duyệt")
            await expect(chair.get_by_test_id(f"session-state-{session_id}")).to_have_text(
                "Đã lên lịch")
            # An hour ahead is not three working days: the late notice is said plainly.
            await expect(chair.get_by_test_id(f"session-notice-{session_id}")).to_contain_text(
                "3 ngày làm việc")
            await expect(chair.get_by_test_id("meeting-title")).to_have_text("Giao ban tháng 12")
            await expect(chair.get_by_test_id("meeting-notice")).to_contain_text("Thông báo muộn")

            await chair.get_by_test_id("chair-approve").click()
            await expect(chair.get_by_test_id("meeting-approved")).to_contain_text("Đã duyệt")
            await expect(chair.get_by_test_id("chair-approve")).to_be_hidden()
            await chair.get_by_test_id("chair-readiness").click()
            await expect(chair.get_by_test_id("meeting-state")).to_have_text("Đang chuẩn bị")

            # The commune officer sees the invitation and the room's readiness checklist.
            await open_sessions(officer, commune.url, "vanhanh")
            await expect(officer.get_by_test_id("meeting-title")).to_have_text(
                "Giao ban tháng 12")
            await expect(officer.get_by_test_id("meeting-invitation")).to_contain_text(
                "được mời tham dự")
            # The open session is polled quietly, so an unattended console still times out.
            async with officer.expect_request(
                    lambda r: r.method == "GET" and r.url.endswith(
                        f"/api/v1/sessions/{session_id}")) as polled:
                pass
            assert (await polled.value).headers.get("x-diemcau-background") == "1"
            await expect(officer.get_by_test_id("meeting-chair")).to_be_hidden()
            await expect(officer.get_by_test_id("meeting-new")).to_be_hidden()
            await expect(officer.get_by_test_id("readiness-item-camera")).to_contain_text(
                "Đạt", timeout=READINESS_MS)
            await expect(officer.get_by_test_id("readiness-item-projector")).to_contain_text(
                "Máy chiếu")
            await expect(officer.get_by_test_id("readiness-item-bridge")).to_contain_text(
                "Bỏ qua")
            await expect(officer.get_by_test_id("readiness-rerun")).to_be_visible()
            # No bridge is configured at the commune: joining says so in words.
            await officer.get_by_test_id("meeting-join").click()
            await expect(officer.get_by_test_id("alert")).to_contain_text(
                "chưa khai báo cầu hội nghị")
            await expect(officer.get_by_test_id("my-feedback")).to_contain_text(
                "chưa khai báo cầu hội nghị")

            # Live, and roll call open.
            await chair.get_by_test_id("chair-start").click()
            await expect(chair.get_by_test_id("meeting-state")).to_have_text("Đang diễn ra")
            await chair.get_by_test_id("chair-rollcall-open").click()
            await expect(chair.get_by_test_id("chair-rollcall-close")).to_be_visible()
            await expect(chair.get_by_test_id("site-readiness-xa-mot")).to_contain_text("Đạt")

            # The officer answers roll call and asks for the floor.
            rollcall = officer.get_by_test_id("rollcall-form")
            await expect(rollcall).to_be_visible()
            await officer.get_by_test_id("rollcall-count").fill("12")
            await officer.get_by_test_id("rollcall-names").fill("Nguyễn Văn A\nTrần Thị B\n")
            await officer.get_by_test_id("rollcall-submit").click()
            await expect(officer.get_by_test_id("rollcall-done")).to_have_text(
                "Đã báo 12 người tham dự.")
            hand = officer.get_by_test_id("hand-button")
            await expect(hand).to_have_text("Xin phát biểu")
            await hand.click()
            await expect(hand).to_have_text("Hủy xin phát biểu")

            # The chair sees the count and the queue in the grid, and gives the floor.
            await expect(chair.get_by_test_id("site-rollcall-xa-mot")).to_have_text(
                "12 người")
            await expect(chair.get_by_test_id("site-hand-xa-mot")).to_have_text(
                "Xin phát biểu")
            await expect(chair.get_by_test_id("site-online-xa-mot")).to_have_text("Trực tuyến")
            queued = chair.get_by_test_id("floor-queue-xa-mot")
            await expect(queued).to_contain_text("UBND xa-mot")
            # Dropped from the queue by the chair, the commune may ask again.
            await chair.get_by_test_id("floor-lower-xa-mot").click()
            await expect(queued).to_be_hidden()
            await expect(chair.get_by_test_id("site-hand-xa-mot")).to_have_text("—")
            await expect(hand).to_have_text("Xin phát biểu")
            await hand.click()
            await expect(hand).to_have_text("Hủy xin phát biểu")
            await expect(queued).to_contain_text("UBND xa-mot")
            await chair.get_by_test_id("floor-grant-xa-mot").click()
            await expect(chair.get_by_test_id("floor-speaker")).to_have_text(
                "Đang phát biểu: UBND xa-mot")
            await expect(chair.get_by_test_id("floor-countdown")).to_have_text(
                re.compile(r"^còn \d\d:\d\d$"))
            await expect(chair.get_by_test_id("site-result-xa-mot")).to_have_text(
                "Cho phát biểu: đã thực hiện")
            await expect(queued).to_be_hidden()
            await expect(chair.get_by_test_id("floor-queue-empty")).to_be_visible()

            # The officer's console says so, with the time left.
            speaking = officer.get_by_test_id("my-floor")
            await expect(speaking).to_be_visible()
            await expect(speaking).to_contain_text("Đang được phát biểu")
            await expect(speaking).to_have_text(re.compile(r"còn \d\d:\d\d$"))
            await expect(hand).to_be_hidden()
            await officer.screenshot(path=OFFICER_SCREENSHOT, full_page=True)

            # Local control only at the commune: the chair's command is refused, said in words.
            switch = officer.get_by_test_id("local-control-switch")
            await switch.check()
            await expect(officer.get_by_test_id("notice")).to_have_text(
                "Đã bật chỉ điều khiển tại chỗ.")
            await expect(chair.get_by_test_id("site-local-xa-mot")).to_have_text(
                "Chỉ tại chỗ")
            await chair.get_by_test_id("site-mute-xa-mot").click()
            result = chair.get_by_test_id("site-result-xa-mot")
            await expect(result).to_contain_text("Micro: không thực hiện được")
            await expect(result).to_contain_text("chỉ điều khiển tại chỗ")
            alert = chair.get_by_test_id("alert")
            await expect(alert).to_contain_text("chỉ điều khiển tại chỗ")
            assert "{" not in (await alert.text_content() or "")
            await switch.uncheck()
            await expect(officer.get_by_test_id("notice")).to_contain_text(
                "Đã tắt chỉ điều khiển tại chỗ")
            await expect(chair.get_by_test_id("site-local-xa-mot")).to_have_text(
                "—")
            await chair.get_by_test_id("site-mute-xa-mot").click()
            await expect(result).to_have_text("Micro: đã thực hiện")
            await chair.screenshot(path=CHAIR_SCREENSHOT, full_page=True)

            # The same page in English.
            await chair.get_by_test_id("lang-toggle").click()
            await expect(chair.get_by_test_id("meeting-state")).to_have_text("In progress")
            await expect(chair.get_by_test_id("floor-speaker")).to_have_text(
                "Speaking: UBND xa-mot")
            await expect(chair.get_by_test_id("site-rollcall-xa-mot")).to_have_text("12 people")
            await chair.get_by_test_id("lang-toggle").click()
            await expect(chair.get_by_test_id("meeting-state")).to_have_text("Đang diễn ra")
    assert time.monotonic() - began < 90
