"""``diemcau demo``: a province chair site and two commune sites on localhost.

Each site has a simulated room (camera over VISCA/IP, a PJLink class 2 projector and a
mixer) on loopback ports of its own.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.accounts import Accounts
from controller.audit import AuditLog
from controller.config import SiteConfig, load_config
from controller.store import Store
from endpoints.sim.mixer import MixerSimulator
from endpoints.sim.pjlink import PjlinkSimulator, ProjectorModel
from endpoints.sim.visca import UdpSimulator, ViscaSimulator


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
            f'"3" = "Máy tính", "4" = "Âm thanh hội nghị" }}\n')


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


def _banner(sites: list[DemoSite], host: str, base: Path) -> str:
    lines = ["", "diemcau demo — bảng điều khiển các điểm cầu (Ctrl-C để dừng):", ""]
    for site in sites:
        lines.append(f"  {site.name} [{site.level}]  http://{host}:{site.port}/")
        for username, role, password in site.users:
            lines.append(f"      {username:<8} / {password:<20} ({role})")
        lines.append("")
    lines.append(f"  Dữ liệu demo: {base}")
    return "\n".join(lines)


def run_demo(*, base_port: int = 8080, data_dir: str | None = None,
             host: str = "127.0.0.1") -> int:
    """Run the demo until Ctrl-C; a temporary data folder is removed afterwards."""
    from controller.app import create_app, install_stop_signals, serve

    temporary = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="diemcau-demo-")) if temporary else Path(str(data_dir))
    base.mkdir(parents=True, exist_ok=True)
    try:
        async def main() -> None:
            stop = asyncio.Event()
            install_stop_signals(stop)
            rooms = [make_room(host) for _ in range(3)]
            started: list[DemoRoom] = []
            try:
                for room in rooms:
                    await room.start(host)
                    started.append(room)
                prepared = prepare_demo(base.resolve(), host, base_port, rooms)
                apps = [(config, create_app(config, announce=lambda _text: None))
                        for config, _ in prepared]
                await serve(apps, stop, ready=lambda: print(
                    _banner([site for _, site in prepared], host, base), flush=True))
            finally:
                for room in started:
                    await room.stop()

        asyncio.run(main())
        print("\nĐã dừng demo.", flush=True)
        return 0
    finally:
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
