"""``diemcau demo``: a province chair site and two commune sites on localhost."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from controller.accounts import Accounts
from controller.audit import AuditLog
from controller.config import SiteConfig, load_config
from controller.store import Store


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


def _write_configs(base: Path, host: str, base_port: int) -> list[Path]:
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
        f'[storage]\ndata_dir = "{base / province_id}"\n{children}', encoding="utf-8")
    paths.append(province)
    for i, (commune_id, commune_name) in enumerate(communes, start=1):
        path = base / f"{commune_id}.toml"
        cred = secrets_dir / f"{commune_id}.secret"
        path.write_text(
            f'[site]\nid = "{commune_id}"\nname = "{commune_name}"\nlevel = "commune"\n\n'
            f'[console]\nlisten = "{host}:{base_port + i}"\n\n'
            f'[storage]\ndata_dir = "{base / commune_id}"\n\n'
            f'[uplink]\nurl = "ws://{host}:{base_port}/uplink"\ncredential_file = "{cred}"\n',
            encoding="utf-8")
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


def prepare_demo(base: Path, host: str, base_port: int) -> list[tuple[SiteConfig, DemoSite]]:
    """Write the three configs, create their demo accounts, and describe them."""
    out = []
    for path in _write_configs(base, host, base_port):
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
        prepared = prepare_demo(base.resolve(), host, base_port)

        async def main() -> None:
            stop = asyncio.Event()
            install_stop_signals(stop)
            apps = [(config, create_app(config, announce=lambda _text: None))
                    for config, _ in prepared]
            await serve(apps, stop, ready=lambda: print(
                _banner([site for _, site in prepared], host, base), flush=True))

        asyncio.run(main())
        print("\nĐã dừng demo.", flush=True)
        return 0
    finally:
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
