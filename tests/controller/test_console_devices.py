"""The console's device panel in headless Chromium, against a site controller driving devices.

Most tests use the `device_console_server` fixture (tests/conftest.py): a site whose camera
`cam1` (visca-ip), projector `proj1` (pjlink) and mixer `mix1` (mixer-tcp) are served by the
simulators in `endpoints/sim/`. The offline tests start their own site whose devices point at
closed loopback ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio

from tests.browser import ConsoleServer, chromium_page, sign_in
from tests.conftest import (
    RunningSite,
    free_port,
    run_cli,
    stop_site,
    wait_healthy,
    write_site_config,
)

with contextlib.suppress(ImportError):  # without Playwright, `chromium_page` fails each test
    from playwright.async_api import Page, Request, expect

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/console-devices.png"
OFFLINE_SCREENSHOT = "/tmp/console-devices-offline.png"
# The console polls every 3 s; a device's first poll may take a few seconds more.
STATE_TIMEOUT_MS = 20_000


class DeviceConsoleServer(ConsoleServer, Protocol):
    """What `device_console_server` gives: `console_server`'s logins plus an operator."""

    operator_username: str
    operator_password: str


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Page]:
    """A fresh 1366x768 page in headless Chromium."""
    async with chromium_page() as tab:
        yield tab


# -- a site whose devices cannot be reached ---------------------------------------------------

OPERATOR = ("vanhanh", "van-hanh-mat-khau-1")


def _closed_port() -> int:
    # Free a moment ago and nothing of ours listens there: connections are refused.
    return free_port()


@pytest.fixture
def offline_site(tmp_path: Path) -> Iterator[RunningSite]:
    """A real site controller (admin, operator, viewer) with an unreachable camera and projector."""
    extra = (
        '[[devices]]\nid = "cam1"\nname = "Camera phòng họp"\nkind = "camera"\n'
        f'protocol = "visca-ip"\nhost = "127.0.0.1"\nport = {_closed_port()}\n'
        'poll_interval = 2\n\n'
        '[[devices]]\nid = "proj1"\nname = "Máy chiếu"\nkind = "projector"\n'
        f'protocol = "pjlink"\nhost = "127.0.0.1"\nport = {_closed_port()}\n'
        'poll_interval = 2\n')
    port = free_port()
    config = write_site_config(tmp_path / "offline-site", port=port, extra=extra)
    site = RunningSite(f"http://127.0.0.1:{port}", config, None)  # type: ignore[arg-type]
    # An admin too: a site without one shows the first-run setup page instead of the login.
    for name, role, password in ((site.admin_username, "admin", site.admin_password),
                                 (OPERATOR[0], "operator", OPERATOR[1]),
                                 (site.viewer_username, "viewer", site.viewer_password)):
        result = run_cli("user", "add", "--config", str(config), name, "--role", role,
                         input_text=password + "\n")
        assert result.returncode == 0, result.stderr
    site.process = subprocess.Popen(
        [sys.executable, "-m", "controller", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    wait_healthy(site.url, site.process)
    try:
        yield site
    finally:
        code = stop_site(site)
        assert code == 0, f"diemcau run exited with {code}"


# -- helpers ----------------------------------------------------------------------------------

async def open_devices(page: Page, url: str, username: str, password: str) -> None:
    """Sign in and land on the device panel."""
    await page.goto(url + "/#devices")
    await sign_in(page, username, password)
    await expect(page.get_by_test_id("section-devices")).to_be_visible()
    await expect(page.get_by_test_id("nav-devices")).to_have_attribute("aria-current", "page")


async def devices_by_id(page: Page, url: str) -> dict[str, Any]:
    """GET /api/v1/devices with the page's session."""
    response = await page.request.get(url + "/api/v1/devices")
    assert response.ok, response.status
    return {d["id"]: d for d in (await response.json())["devices"]}


async def command(page: Page, url: str, device: str, name: str,
                  args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send a device command with the page's session, as the console does."""
    me = await (await page.request.get(url + "/api/v1/me")).json()
    response = await page.request.post(
        f"{url}/api/v1/devices/{device}/commands",
        data=json.dumps({"command": name, "args": args or {}}),
        headers={"Content-Type": "application/json", "X-CSRF-Token": me["csrf_token"]})
    body: dict[str, Any] = await response.json()
    assert response.ok, body
    return body


async def camera_position(page: Page, url: str) -> dict[str, float]:
    """Where the camera says it points (its own position inquiry)."""
    result: dict[str, float] = (await command(page, url, "cam1", "position"))["result"]
    return result


async def eventually(check: Callable[[], Awaitable[bool]], what: str,
                     within: float = 10.0) -> None:
    """Wait until `check()` is true, for at most `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.2)


def record_commands(page: Page) -> list[tuple[str, str]]:
    """(device, command) of every command the console posts, in order."""
    sent: list[tuple[str, str]] = []

    def on_request(request: Request) -> None:
        match = re.search(r"/api/v1/devices/([^/]+)/commands$", request.url)
        if match and request.method == "POST":
            sent.append((match.group(1), json.loads(request.post_data or "{}")["command"]))

    page.on("request", on_request)
    return sent


async def hold(page: Page, testid: str, seconds: float) -> None:
    """Press a button with the mouse, keep it down, let go."""
    await page.get_by_test_id(testid).hover()
    await page.mouse.down()
    await asyncio.sleep(seconds)
    await page.mouse.up()


async def expect_online(page: Page, *device_ids: str) -> None:
    for device_id in device_ids:
        await expect(page.get_by_test_id(f"device-card-{device_id}")).to_be_visible()
        state = page.get_by_test_id(f"device-state-{device_id}")
        await expect(state).to_have_attribute("data-state", "online", timeout=STATE_TIMEOUT_MS)
        await expect(state).to_have_text("Trực tuyến")


# -- with simulated devices -------------------------------------------------------------------

async def test_operator_turns_the_camera_and_names_a_preset(
        device_console_server: DeviceConsoleServer, page: Page) -> None:
    site = device_console_server
    await open_devices(page, site.url, site.operator_username, site.operator_password)
    await expect_online(page, "cam1", "proj1", "mix1")
    await expect(page.get_by_test_id("devices-readonly")).to_be_hidden()
    sent = record_commands(page)

    # Press and hold "up": the camera tilts up, and stops when released.
    before = await camera_position(page, site.url)
    await hold(page, "ptz-up-cam1", 0.8)
    await eventually(lambda: _true(("cam1", "ptz.stop") in sent), "the console sent ptz.stop")
    assert sent[:2] == [("cam1", "ptz.move"), ("cam1", "ptz.stop")], sent
    after = await camera_position(page, site.url)
    assert after["tilt"] > before["tilt"], (before, after)
    await asyncio.sleep(0.8)
    assert (await camera_position(page, site.url))["tilt"] == pytest.approx(after["tilt"],
                                                                             abs=1e-3)

    # The arrow keys do the same while the pad has the focus.
    await page.get_by_test_id("ptz-home-cam1").focus()
    stops = sent.count(("cam1", "ptz.stop"))
    await page.keyboard.down("ArrowRight")
    await asyncio.sleep(0.6)
    await page.keyboard.up("ArrowRight")
    await eventually(lambda: _true(sent.count(("cam1", "ptz.stop")) > stops),
                     "the console sent ptz.stop after the arrow key")
    keyed = await camera_position(page, site.url)
    assert keyed["pan"] > after["pan"], (after, keyed)
    await expect(page.get_by_test_id("alert")).to_be_hidden()

    # Store this direction as preset 3 "Chủ toạ"; the button shows the name, also after reload.
    await page.get_by_test_id("preset-number-cam1").fill("3")
    await page.get_by_test_id("preset-name-cam1").fill("Chủ toạ")
    async with page.expect_response(re.compile(r"/api/v1/devices/cam1/commands$")) as stored:
        await page.get_by_test_id("preset-store-cam1").click()
    assert (await stored.value).ok
    recall = page.get_by_test_id("preset-recall-cam1-3")
    await expect(recall).to_have_text("Chủ toạ")
    presets = (await devices_by_id(page, site.url))["cam1"]["presets"]
    assert {"preset": 3, "name": "Chủ toạ"} in presets
    await page.reload()
    await expect(page.get_by_test_id("preset-recall-cam1-3")).to_have_text("Chủ toạ")

    # Turn the camera away, then recall the preset: it comes back to the stored tilt.
    await hold(page, "ptz-down-cam1", 0.8)
    await eventually(lambda: _true(sent.count(("cam1", "ptz.stop")) >= 3), "the third stop")
    moved = await camera_position(page, site.url)
    assert moved["tilt"] < after["tilt"], (after, moved)
    async with page.expect_response(re.compile(r"/api/v1/devices/cam1/commands$")) as recalled:
        await page.get_by_test_id("preset-recall-cam1-3").click()
    assert (await recalled.value).ok
    await expect(page.get_by_test_id("device-feedback-cam1")).to_have_text("Đã thực hiện")

    async def back_at_preset() -> bool:
        tilt = (await camera_position(page, site.url))["tilt"]
        return abs(tilt - after["tilt"]) < abs(moved["tilt"] - after["tilt"]) / 4

    await eventually(back_at_preset, "the camera returned to preset 3")
    await expect(page.get_by_test_id("alert")).to_be_hidden()

    # Overwriting a named preset and switching the camera off both ask first; "Huỷ" sends nothing.
    before_asking = len(sent)
    await page.get_by_test_id("preset-number-cam1").fill("3")
    await page.get_by_test_id("preset-name-cam1").fill("Toàn cảnh")
    await page.get_by_test_id("preset-store-cam1").click()
    dialog = page.get_by_test_id("dialog-confirm")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Chủ toạ")
    await page.get_by_test_id("confirm-cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_test_id("cam-power-cam1")).to_have_text("Tắt camera")
    await page.get_by_test_id("cam-power-cam1").click()
    await expect(dialog).to_contain_text("Tắt camera?")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await asyncio.sleep(0.5)
    assert sent[before_asking:] == [], sent[before_asking:]
    await expect(recall).to_have_text("Chủ toạ")
    await page.screenshot(path=SCREENSHOT, full_page=True)


async def test_operator_switches_the_projector_on(
        device_console_server: DeviceConsoleServer, page: Page) -> None:
    site = device_console_server
    await open_devices(page, site.url, site.operator_username, site.operator_password)
    await expect_online(page, "proj1")
    power_state = page.get_by_test_id("proj-power-state-proj1")
    button = page.get_by_test_id("proj-power-proj1")
    await expect(power_state).to_have_attribute("data-power", "off", timeout=STATE_TIMEOUT_MS)
    await expect(power_state).to_contain_text("Đang tắt")
    await expect(button).to_have_text("Bật máy chiếu")

    async with page.expect_response(re.compile(r"/api/v1/devices/proj1/commands$")) as answer:
        await button.click()
    response = await answer.value
    assert response.ok, await response.text()
    assert json.loads(response.request.post_data or "{}") == {"command": "power",
                                                              "args": {"on": True}}

    await expect(power_state).to_have_attribute("data-power", re.compile("^(warming|on)$"))
    await expect(power_state).to_contain_text(re.compile("Đang khởi động|Đang bật"))
    if await power_state.get_attribute("data-power") == "warming":
        await expect(button).to_be_disabled()  # no switching off half-way through warming up

    async def projector_reports_on() -> bool:
        power = (await devices_by_id(page, site.url))["proj1"]["readings"].get("power")
        return power in ("warming", "on")

    await eventually(projector_reports_on, "the projector reports warming or on")
    await expect(page.get_by_test_id("alert")).to_be_hidden()


async def test_operator_mutes_and_unmutes_a_mixer_channel(
        device_console_server: DeviceConsoleServer, page: Page) -> None:
    site = device_console_server
    await open_devices(page, site.url, site.operator_username, site.operator_password)
    await expect_online(page, "mix1")
    mute = page.get_by_test_id("mixer-mute-mix1-1")
    await expect(mute).to_be_enabled(timeout=STATE_TIMEOUT_MS)

    async def channel_1() -> dict[str, Any]:
        channels = (await devices_by_id(page, site.url))["mix1"]["readings"]["channels"]
        found: dict[str, Any] = next(c for c in channels if c["channel"] == 1)
        return found

    if (await channel_1())["muted"]:  # start from an open channel
        await mute.click()
        await expect(mute).to_have_attribute("aria-pressed", "false")
    await expect(mute).to_have_text("Tắt tiếng")

    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "true")
    await expect(mute).to_have_text("Đang tắt tiếng")
    await eventually(lambda: _is(channel_1(), "muted", True), "the mixer reports channel 1 muted")
    # Still muted after the next polls (the readings agree with what was shown).
    await asyncio.sleep(3.5)
    await expect(mute).to_have_attribute("aria-pressed", "true")

    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "false")
    await expect(mute).to_have_text("Tắt tiếng")
    await eventually(lambda: _is(channel_1(), "muted", False), "channel 1 open again")

    # The gain slider sends its value once the officer lets go.
    gain = page.get_by_test_id("mixer-gain-mix1-1")
    await gain.fill("-12")
    await eventually(lambda: _is(channel_1(), "gain_db", -12.0), "channel 1 gain at -12 dB")
    await expect(gain).to_have_attribute("aria-valuetext", "−12 dB")
    await expect(page.get_by_test_id("alert")).to_be_hidden()


async def test_viewer_sees_the_device_panel_read_only(
        device_console_server: DeviceConsoleServer, page: Page) -> None:
    site = device_console_server
    await open_devices(page, site.url, site.viewer_username, site.viewer_password)
    await expect_online(page, "cam1", "proj1", "mix1")
    note = page.get_by_test_id("devices-readonly")
    await expect(note).to_be_visible()
    await expect(note).to_contain_text("Chỉ xem")
    await expect(page.get_by_test_id("mixer-mute-mix1-1")).to_be_visible(
        timeout=STATE_TIMEOUT_MS)
    for testid in ("ptz-up-cam1", "ptz-down-cam1", "ptz-left-cam1", "ptz-right-cam1",
                   "ptz-home-cam1", "zoom-in-cam1", "zoom-out-cam1", "preset-recall-cam1-1",
                   "preset-store-cam1", "proj-power-proj1", "proj-input-proj1",
                   "proj-mute-proj1", "mixer-mute-mix1-1", "mixer-gain-mix1-1"):
        await expect(page.get_by_test_id(testid)).to_be_disabled()
    sent = record_commands(page)
    await page.get_by_test_id("ptz-up-cam1").focus()
    await page.keyboard.press("ArrowUp")
    await page.get_by_test_id("proj-power-proj1").click(force=True)
    await asyncio.sleep(0.5)
    assert sent == []


# -- with unreachable devices -----------------------------------------------------------------

async def test_command_to_an_offline_device_shows_the_servers_message(
        offline_site: RunningSite, page: Page) -> None:
    await open_devices(page, offline_site.url, *OPERATOR)
    state = page.get_by_test_id("device-state-proj1")
    await expect(state).to_have_attribute("data-state", "offline", timeout=STATE_TIMEOUT_MS)
    await expect(state).to_have_text("Mất kết nối")
    card = page.get_by_test_id("device-card-proj1")
    await expect(card).to_contain_text("Mất kết nối từ")
    await expect(page.get_by_test_id("devices-readonly")).to_be_hidden()

    button = page.get_by_test_id("proj-power-proj1")
    await expect(button).to_be_enabled()  # it may be back: trying is how the officer finds out
    async with page.expect_response(re.compile(r"/api/v1/devices/proj1/commands$")) as answer:
        await button.click()
    response = await answer.value
    assert 400 <= response.status < 500, response.status
    error = (await response.json())["error"]

    alert = page.get_by_test_id("alert")
    await expect(alert).to_be_visible()
    await expect(alert).to_have_text(error["message"])
    assert "Máy chiếu" in error["message"]
    if error.get("detail"):
        detail = page.get_by_test_id("alert-detail")
        await expect(detail).to_be_visible()
        await expect(detail).to_contain_text("Chi tiết kỹ thuật")
        await detail.locator("summary").click()
        await expect(page.get_by_test_id("alert-detail-text")).to_have_text(error["detail"])
    await expect(page.get_by_test_id("device-feedback-proj1")).to_contain_text(
        "Không thực hiện được")
    await expect(button).to_be_enabled()
    await expect(button).not_to_have_attribute("aria-busy", "true")
    await page.screenshot(path=OFFLINE_SCREENSHOT, full_page=True)


async def test_viewer_cannot_press_anything_on_an_offline_site(
        offline_site: RunningSite, page: Page) -> None:
    await open_devices(page, offline_site.url, offline_site.viewer_username,
                       offline_site.viewer_password)
    await expect(page.get_by_test_id("devices-readonly")).to_contain_text("Chỉ xem")
    await expect(page.get_by_test_id("device-state-cam1")).to_have_attribute(
        "data-state", "offline", timeout=STATE_TIMEOUT_MS)
    for testid in ("ptz-up-cam1", "ptz-home-cam1", "zoom-in-cam1", "preset-recall-cam1-3",
                   "preset-store-cam1", "proj-power-proj1", "proj-input-proj1",
                   "proj-mute-proj1"):
        await expect(page.get_by_test_id(testid)).to_be_disabled()


# -- small async adapters for `eventually` -----------------------------------------------------

async def _true(value: bool) -> bool:
    return value


async def _is(reading: Awaitable[dict[str, Any]], key: str, value: object) -> bool:
    return (await reading).get(key) == value
