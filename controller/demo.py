"""``diemcau demo``: a province chair site and two commune sites on localhost.

Each site has a simulated room (camera over VISCA/IP, a PJLink class 2 projector and a
mixer) on loopback ports of its own. Once the communes are online at the province, the demo
stores a speaker preset on each commune's camera and has the province create and approve a
session with both communes, so readiness runs at once and the chair can start it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from controller.accounts import Accounts
from controller.audit import AuditLog
from controller.config import SiteConfig, load_config
from controller.context import CONTEXT, SiteContext
from controller.errors import DiemcauError
from controller.store import Store
from endpoints.sim.mixer import MixerSimulator
from endpoints.sim.pjlink import PjlinkSimulator, ProjectorModel
from endpoints.sim.visca import UdpSimulator, ViscaSimulator

log = logging.getLogger(__name__)

ACTOR: Final = "demo"
SESSION_TITLE: Final = "Hội nghị trực tuyến giao ban (thử nghiệm)"
SESSION_STARTS_IN: Final = 20 * 60.0  # inside the default 60-minute lead: readiness at once
SESSION_LASTS: Final = 2 * 3600.0
SPEAKER_PRESET: Final = 1
SPEAKER_PRESET_NAME: Final = "Người phát biểu"
SPEAKER_POSITION: Final = {"pan": 0.35, "tilt": 0.15}  # where the commune's speaker stands
ONLINE_TIMEOUT: Final = 30.0
DEVICES_TIMEOUT: Final = 10.0
READINESS_TIMEOUT: Final = 60.0

@dataclass(frozen=True)
class DemoSite:
    """One demo site and its printed logins."""

    id: str
    name: str
    level: str
    port: int
    users: tuple[tuple[str, str, str], ...]  # (username, role, password)


def _secret(path: Path) -> Path:
    path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class DemoRoom:
    """Simulated devices of one demo site, on loopback ports of their own."""

    camera: UdpSimulator
    projector: PjlinkSimulator
    mixer: MixerSimulator
    camera_port: int = 0
    notify_port: int = 0

    async def start(self, host: str) -> None:
        _, self.camera_port = await self.camera.start(host, 0)
        await self.projector.start()
        await self.mixer.start()

    async def stop(self) -> None:
        await self.camera.stop()
        await self.projector.close()
        await self.mixer.close()

    def devices_toml(self, host: str) -> str:
        return (
            f'\n[endpoints]\npjlink_notify_listen = "{host}:{self.notify_port}"\n'
            f'\n[[devices]]\nid = "camera"\nname = "Camera phòng họp"\nkind = "camera"\n'
            f'protocol = "visca-ip"\nhost = "{host}"\nport = {self.camera_port}\n'
            f'poll_interval = 2\n'
            f'\n[[devices]]\nid = "projector"\nname = "Máy chiếu"\nkind = "projector"\n'
            f'protocol = "pjlink"\nhost = "{host}"\nport = {self.projector.port}\n'
            f'poll_interval = 5\n'
            f'\n[[devices]]\nid = "mixer"\nname = "Bàn trộn âm thanh"\nkind = "mixer"\n'
            f'protocol = "mixer-tcp"\nhost = "{host}"\nport = {self.mixer.port}\n'
            f'poll_interval = 3\nchannels = {{ "1" = "Micro chủ toạ", "2" = "Micro đại biểu", '
            f'"3" = "Máy tính", "4" = "Âm thanh hội nghị" }}\n'
            f'\n[sessions]\ncamera = "camera"\nprojector = "projector"\nmixer = "mixer"\n'
            f'speaker_preset = {SPEAKER_PRESET}\nmic_channels = [1, 2]\n')


def make_room(host: str) -> DemoRoom:
    """A camera, a class 2 projector that notifies the site, and a mixer."""
    notify_port = _free_udp_port(host)
    projector = PjlinkSimulator(ProjectorModel(pjlink_class=2, warmup=8.0, cooldown=5.0),
                                host=host, notify_to=(host, notify_port))
    room = DemoRoom(UdpSimulator(ViscaSimulator()), projector, MixerSimulator(host=host))
    room.notify_port = notify_port
    return room


def _free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _write_configs(base: Path, host: str, base_port: int,
                   rooms: Sequence[DemoRoom]) -> list[Path]:
    secrets_dir = base / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    communes = [("xa-hoang-hop", "UBND xã Hoàng Hợp"), ("xa-quang-phu", "UBND xã Quảng Phú")]
    province_id = "tinh-thanh-hoa"
    paths: list[Path] = []
    children = ""
    for commune_id, commune_name in communes:
        cred = _secret(secrets_dir / f"{commune_id}.secret")
        children += (f'\n[[children]]\nid = "{commune_id}"\nname = "{commune_name}"\n'
                     f'credential_file = "{cred}"\n')
    province = base / f"{province_id}.toml"
    province.write_text(
        f'[site]\nid = "{province_id}"\nname = "UBND tỉnh Thanh Hoá"\nlevel = "province"\n\n'
        f'[console]\nlisten = "{host}:{base_port}"\n\n'
        f'[storage]\ndata_dir = "{base / province_id}"\n{children}'
        f'{rooms[0].devices_toml(host)}', encoding="utf-8")
    paths.append(province)
    for i, (commune_id, commune_name) in enumerate(communes, start=1):
        path = base / f"{commune_id}.toml"
        cred = secrets_dir / f"{commune_id}.secret"
        path.write_text(
            f'[site]\nid = "{commune_id}"\nname = "{commune_name}"\nlevel = "commune"\n\n'
            f'[console]\nlisten = "{host}:{base_port + i}"\n\n'
            f'[storage]\ndata_dir = "{base / commune_id}"\n\n'
            f'[uplink]\nurl = "ws://{host}:{base_port}/uplink"\ncredential_file = "{cred}"\n'
            f'{rooms[i].devices_toml(host)}', encoding="utf-8")
        paths.append(path)
    return paths


def _demo_users(config: SiteConfig) -> tuple[tuple[str, str, str], ...]:
    wanted = [("quantri", "admin"), ("vanhanh", "operator"), ("xem", "viewer")]
    if config.site.level == "province":
        wanted.insert(1, ("chutri", "chair"))
    store = Store(config.storage.database)
    try:
        audit = AuditLog(store, config.site.id, time.time)
        accounts = Accounts(store, audit, config.security, config.console.session_idle_minutes,
                            time.time)
        existing = {u.username for u in accounts.list()}
        out = []
        for username, role in wanted:
            password = "demo-" + secrets.token_urlsafe(8)
            if username in existing:
                accounts.set_password(username, password, actor="demo")
            else:
                accounts.add(username, password, role, actor="demo")
            out.append((username, role, password))
        return tuple(out)
    finally:
        store.close()


def prepare_demo(base: Path, host: str, base_port: int,
                 rooms: Sequence[DemoRoom]) -> list[tuple[SiteConfig, DemoSite]]:
    """Write the three configs, create their demo accounts, and describe them."""
    out = []
    for path in _write_configs(base, host, base_port, rooms):
        config = load_config(path)
        users = _demo_users(config)
        out.append((config, DemoSite(config.site.id, config.site.name, config.site.level,
                                     config.console.port, users)))
    return out


@dataclass(frozen=True)
class DemoSession:
    """The session the demo set up at the province, or why it could not."""

    id: str | None
    problem: str = ""


async def _wait_for(what: str, ready: Callable[[], bool], seconds: float) -> bool:
    """Poll ``ready()`` every 0.1 s until it is true or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() >= deadline:
            log.warning("demo: gave up waiting for %s after %.0f s", what, seconds)
            return False
        await asyncio.sleep(0.1)
    return True


def _devices_known(ctx: SiteContext) -> bool:
    """Every device of the site was polled once (readiness reads the mixer's health)."""
    for device_id in ctx.devices.ids():
        health = ctx.devices.health(device_id)
        if health is None or health.online is None:
            return False
    return True


async def _store_speaker_preset(ctx: SiteContext) -> None:
    """Preset 1 on the commune's camera is its speaker; then back to the wide shot."""
    camera = "camera"
    await ctx.devices.command(camera, "ptz.absolute", SPEAKER_POSITION, actor=ACTOR)
    await ctx.devices.command(camera, "preset.store",
                              {"preset": SPEAKER_PRESET, "name": SPEAKER_PRESET_NAME},
                              actor=ACTOR)
    await ctx.devices.command(camera, "home", {}, actor=ACTOR)


async def stage_session(province: SiteContext, communes: Sequence[SiteContext]) -> DemoSession:
    """Create and approve, at the province, a session with every commune; audited as real."""
    ids = [c.config.site.id for c in communes]

    def online() -> bool:
        entries = province.tree.entries
        return all(i in entries and entries[i].online for i in ids)

    if not await _wait_for("the communes at the province", online, ONLINE_TIMEOUT):
        offline = [i for i in ids if not (i in province.tree.entries
                                          and province.tree.entries[i].online)]
        return DemoSession(None, f"các xã chưa kết nối tới tỉnh sau {ONLINE_TIMEOUT:.0f} giây: "
                                 + ", ".join(offline))
    sites = (province, *communes)
    await _wait_for("the first device polls", lambda: all(_devices_known(c) for c in sites),
                    DEVICES_TIMEOUT)
    try:
        for commune in communes:
            await _store_speaker_preset(commune)
    except DiemcauError as exc:
        log.warning("demo: could not store the speaker preset: %s", exc.message)
    now = province.clock()
    try:
        record = province.sessions.create({
            "title": SESSION_TITLE, "kind": "regular", "participants": ids,
            "starts_at": now + SESSION_STARTS_IN, "ends_at": now + SESSION_STARTS_IN
            + SESSION_LASTS}, actor=ACTOR)
        province.sessions.approve(record.id, actor=ACTOR)
    except DiemcauError as exc:
        return DemoSession(None, f"không tạo được phiên họp thử: {exc.message}")
    return DemoSession(record.id)


async def follow_readiness(province: SiteContext, communes: Sequence[SiteContext],
                           session_id: str) -> None:
    """Print each commune's readiness as the province receives it.

    The readiness check points the camera at the speaker preset; the demo then turns it back
    to the wide shot so that granting the floor visibly moves it.
    """
    waiting = {c.config.site.id: c for c in communes}
    deadline = time.monotonic() + READINESS_TIMEOUT
    while waiting and time.monotonic() < deadline:
        statuses = province.sessions.statuses(session_id)
        for site_id in list(waiting):
            report = statuses.get(site_id, {}).get("readiness")
            if not isinstance(report, dict):
                continue
            commune = waiting.pop(site_id)
            failed = [str(i.get("check")) for i in report.get("items", [])
                      if isinstance(i, dict) and i.get("ok") is False]
            verdict = "sẵn sàng" if report.get("ready") else "chưa sẵn sàng: " + ", ".join(failed)
            print(f"  [{commune.config.site.name}] đã báo kiểm tra sẵn sàng về tỉnh — {verdict}",
                  flush=True)
            try:
                await commune.devices.command("camera", "home", {}, actor=ACTOR)
            except DiemcauError as exc:
                log.warning("demo: camera of %s did not go home: %s", site_id, exc.message)
        await asyncio.sleep(0.2)
    for commune in waiting.values():
        print(f"  [{commune.config.site.name}] chưa báo kiểm tra sẵn sàng sau "
              f"{READINESS_TIMEOUT:.0f} giây.", flush=True)


def _banner(sites: list[DemoSite], host: str, base: Path, session: DemoSession | None = None,
            ) -> str:
    lines = ["", "diemcau demo — bảng điều khiển các điểm cầu (Ctrl-C để dừng):", ""]
    for site in sites:
        lines.append(f"  {site.name} [{site.level}]  http://{host}:{site.port}/")
        for username, role, password in site.users:
            lines.append(f"      {username:<8} / {password:<20} ({role})")
        lines.append("")
    if session is not None and session.id is not None:
        chair = next((u for u, role, _ in sites[0].users if role == "chair"), "chutri")
        officer = next((u for u, role, _ in sites[-1].users if role == "operator"), "vanhanh")
        lines += [
            f"  Phiên họp thử: «{SESSION_TITLE}» ({session.id})",
            "  do tỉnh chủ trì, 2 xã tham dự; đã duyệt, các xã đang kiểm tra sẵn sàng.",
            "  (báo trước chưa đủ 3 ngày làm việc: cảnh báo được ghi vào phiên họp và nhật ký)",
            f"  Thử: ở tỉnh đăng nhập {chair} → Phiên họp → Bắt đầu, Mở điểm danh, Cho phát biểu.",
            f"       ở mỗi xã đăng nhập {officer} → Phiên họp → Điểm danh, Xin phát biểu.",
            f"       (cho xã phát biểu: camera xã quay về vị trí đặt sẵn {SPEAKER_PRESET} "
            f"«{SPEAKER_PRESET_NAME}»)",
            "  Try: chair at the province → Sessions → start, open roll call, grant the floor;",
            "       each commune's operator → answer roll call, raise the hand.",
            ""]
    elif session is not None:
        lines += [f"  Chưa có phiên họp thử: {session.problem}", ""]
    lines.append(f"  Dữ liệu demo: {base}")
    return "\n".join(lines)


async def _first(*waits: Awaitable[Any]) -> None:
    """Return when the first of ``waits`` finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_demo(*, base_port: int = 8080, data_dir: str | None = None,
             host: str = "127.0.0.1") -> int:
    """Run the demo until Ctrl-C; a temporary data folder is removed afterwards."""
    from controller.app import create_app, install_stop_signals, serve

    temporary = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="diemcau-demo-")) if temporary else Path(str(data_dir))
    base.mkdir(parents=True, exist_ok=True)
    try:
        async def main() -> None:
            interrupted, stop, up = asyncio.Event(), asyncio.Event(), asyncio.Event()
            install_stop_signals(interrupted)
            rooms = [make_room(host) for _ in range(3)]
            started: list[DemoRoom] = []
            try:
                for room in rooms:
                    await room.start(host)
                    started.append(room)
                prepared = prepare_demo(base.resolve(), host, base_port, rooms)
                apps = [(config, create_app(config, announce=lambda _text: None))
                        for config, _ in prepared]
                serving = asyncio.ensure_future(serve(apps, stop, ready=up.set))
                try:
                    await _first(up.wait(), interrupted.wait(), asyncio.shield(serving))
                    if up.is_set() and not interrupted.is_set():
                        await _run_session(apps, [site for _, site in prepared], host, base,
                                           interrupted, serving)
                finally:
                    stop.set()
                    await serving  # raises what serving raised (a busy port)
            finally:
                for room in started:
                    await room.stop()

        asyncio.run(main())
        print("\nĐã dừng demo.", flush=True)
        return 0
    finally:
        if temporary:
            shutil.rmtree(base, ignore_errors=True)


async def _run_session(apps: Sequence[tuple[SiteConfig, web.Application]],
                       sites: list[DemoSite], host: str, base: Path,
                       interrupted: asyncio.Event, serving: asyncio.Future[None]) -> None:
    """Stage the session, print the banner, follow readiness; until Ctrl-C."""
    contexts = [app[CONTEXT] for _, app in apps]
    province, communes = contexts[0], contexts[1:]
    staged: list[DemoSession] = []

    async def stage() -> None:
        staged.append(await stage_session(province, communes))

    await _first(stage(), interrupted.wait(), asyncio.shield(serving))
    if not staged:
        return
    session = staged[0]
    print(_banner(sites, host, base, session), flush=True)
    waits: list[Awaitable[Any]] = [interrupted.wait(), asyncio.shield(serving)]
    if session.id is not None:
        waits.append(_follow_then_wait(province, communes, session.id, interrupted))
    await _first(*waits)


async def _follow_then_wait(province: SiteContext, communes: Sequence[SiteContext],
                            session_id: str, interrupted: asyncio.Event) -> None:
    await follow_readiness(province, communes, session_id)
    await interrupted.wait()
