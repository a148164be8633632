"""``diemcau doctor``: checks an officer or installer can run without an engineer."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from controller.config import SiteConfig, load_config
from controller.errors import ConfigError
from controller.store import bundled_migrations


@dataclass(frozen=True)
class CheckResult:
    """One check: OK, WARN or FAIL, with a plain explanation."""

    name: str
    status: str
    detail: str


def run_checks(config_path: str | None) -> list[CheckResult]:
    """Every check that can run now, in order."""
    results: list[CheckResult] = []
    if config_path is None:
        results.append(CheckResult("config", "WARN", "no --config given; only general checks"))
        return results
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        results.append(CheckResult("config", "FAIL", "; ".join(exc.lines())))
        return results
    results.append(CheckResult("config", "OK", f"{config_path} is valid"))
    results.append(_check_data_dir(config))
    results.append(_check_database(config))
    results.append(_check_port(config))
    results.extend(_check_secret_modes(config))
    results.append(_list_serial_ports())
    results.extend(_probe_devices(config))
    results.extend(_probe_bridges(config))
    return results


def _probe_bridges(config: SiteConfig) -> list[CheckResult]:
    """Ask each configured bridge whether it answers (no call is made)."""
    if not config.bridges:
        return []
    import asyncio

    from controller.calls import spec_from_config
    from controller.errors import DiemcauError
    from media.bridges.base import MediaError
    from media.bridges.registry import build_bridge

    async def probe_all() -> list[CheckResult]:
        out = []
        for cfg in config.bridges:
            name = f"bridge {cfg.id}"
            try:
                bridge = build_bridge(spec_from_config(cfg))
            except (MediaError, DiemcauError) as exc:
                out.append(CheckResult(name, "FAIL", exc.message))
                continue
            try:
                async with asyncio.timeout(8):
                    await bridge.probe()
            except MediaError as exc:
                out.append(CheckResult(name, "FAIL", exc.message))
            except TimeoutError:
                out.append(CheckResult(name, "FAIL", f"{cfg.url} did not answer in 8 s"))
            else:
                out.append(CheckResult(name, "OK", f"{cfg.url} answers"))
            finally:
                await bridge.close()
        return out

    return asyncio.run(probe_all())


def _list_serial_ports() -> CheckResult:
    from serial.tools import list_ports

    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    if not ports:
        return CheckResult("serial_ports", "OK", "no serial ports on this machine")
    described = ", ".join(
        f"{p.device} ({p.description})" if p.description and p.description != "n/a"
        else p.device for p in ports)
    return CheckResult("serial_ports", "OK", described)


def _probe_devices(config: SiteConfig) -> list[CheckResult]:
    """Open and poll each configured device once, with a short time limit."""
    if not config.devices:
        return []
    import asyncio
    import time

    from controller.audit import AuditLog
    from controller.devices import DeviceService
    from controller.errors import DiemcauError
    from controller.store import Store
    from monitoring.metrics import SiteMetrics

    async def probe_all() -> list[CheckResult]:
        with tempfile.TemporaryDirectory() as scratch:
            store = Store(Path(scratch) / "doctor.sqlite3")
            try:
                service = DeviceService(config, store, AuditLog(store, config.site.id, time.time),
                                        SiteMetrics("doctor", config.site.id, config.site.level),
                                        time.time)
                out = []
                for device_id in service.ids():
                    try:
                        readings = await service.probe(device_id)
                    except DiemcauError as exc:
                        detail = exc.detail or exc.code
                        text = exc.message if detail in exc.message else \
                            f"{exc.message} ({detail})"
                        out.append(CheckResult(f"device {device_id}", "FAIL", text))
                    else:
                        summary = ", ".join(f"{k}={v}" for k, v in list(readings.items())[:4])
                        out.append(CheckResult(f"device {device_id}", "OK",
                                               f"answers: {summary}"))
                await service.close()
                return out
            finally:
                store.close()

    return asyncio.run(probe_all())


def _check_data_dir(config: SiteConfig) -> CheckResult:
    data_dir = config.storage.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        return CheckResult("data_dir", "FAIL", f"{data_dir} is not writable: {exc.strerror}")
    free = os.statvfs(data_dir)
    free_mb = free.f_bavail * free.f_frsize // (1024 * 1024)
    status = "OK" if free_mb >= 500 else "WARN"
    return CheckResult("data_dir", status, f"{data_dir} writable, {free_mb} MiB free")


def _check_database(config: SiteConfig) -> CheckResult:
    path = config.storage.database
    if not path.exists():
        return CheckResult("database", "OK", f"{path} will be created at first start")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            version = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
                                   ).fetchone()[0]
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return CheckResult("database", "FAIL", f"{path}: {exc}")
    latest = len(bundled_migrations())
    if ok != "ok":
        return CheckResult("database", "FAIL", f"{path} is damaged: {ok}; restore a backup")
    if version > latest:
        return CheckResult("database", "FAIL",
                           f"schema {version} is newer than this program ({latest})")
    pending = latest - version
    detail = f"schema {version}" + (f", {pending} migration(s) pending" if pending else "")
    return CheckResult("database", "OK", detail)


def _check_port(config: SiteConfig) -> CheckResult:
    host, port = config.console.host, config.console.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return CheckResult("console_port", "WARN",
                               f"{host}:{port} is in use ({exc.strerror}); "
                               "is diemcau already running?")
    return CheckResult("console_port", "OK", f"{host}:{port} is free")


def _check_secret_modes(config: SiteConfig) -> list[CheckResult]:
    out: list[CheckResult] = []
    for key, path in config.secret_files():
        mode = Path(path).stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            out.append(CheckResult("secrets", "WARN",
                                   f"{key}: {path} is readable by others; chmod 600 it"))
    if not out:
        out.append(CheckResult("secrets", "OK", "secret files are private"))
    return out
