"""Shared fixtures: site configs, a fake clock, in-process and subprocess controllers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.app import create_app
from controller.config import SiteConfig, load_config
from tests.peers.simulators import room_devices_config, room_simulators

Client = TestClient[web.Request, web.Application]
SECRET_TEXT = "s3cret-credential-value-for-tests\n"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_site_config(directory: Path, *, site_id: str = "xa-hoang-hop",
                      level: str = "commune", port: int | None = None,
                      extra: str = "", with_uplink: bool = True) -> Path:
    """A valid site config (with its secret files) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = directory / "uplink.secret"
    secret.write_text(SECRET_TEXT)
    secret.chmod(0o600)
    uplink = "" if level == "central" or not with_uplink else (
        '[uplink]\nurl = "ws://127.0.0.1:9/uplink"\ncredential_file = "uplink.secret"\n')
    # An ``extra`` with its own [console] table replaces the default one.
    console = "" if "[console]" in extra else (
        f'[console]\nlisten = "127.0.0.1:{port or free_port()}"\n\n')
    path = directory / f"{site_id}.toml"
    name = "UBND xã Hoàng Hợp" if site_id == "xa-hoang-hop" else f"UBND {site_id}"
    path.write_text(
        f'[site]\nid = "{site_id}"\nname = "{name}"\nlevel = "{level}"\n\n'
        f'{console}[storage]\ndata_dir = "data"\n\n{uplink}\n{extra}', encoding="utf-8")
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def site_config(tmp_path: Path) -> SiteConfig:
    return load_config(write_site_config(tmp_path / "site"))


@pytest.fixture(autouse=True)
async def verify_no_lingering_tasks() -> AsyncIterator[None]:
    """Fail any test that leaves asyncio tasks running behind it."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    for _ in range(20):
        left = {t for t in asyncio.all_tasks() - before if t is not current and not t.done()}
        if not left:
            return
        await asyncio.sleep(0.01)
    pytest.fail("tasks left running: "
                f"{sorted(f'{t.get_name()} {t.get_coro()!r}' for t in left)}")


@pytest.fixture
async def app_client(site_config: SiteConfig, clock: FakeClock) -> AsyncIterator[Client]:
    """An in-process controller behind a real HTTP server on loopback."""
    app = create_app(site_config, clock=clock, announce=lambda _text: None)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def run_cli(*args: str, input_text: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed ``diemcau`` command."""
    return subprocess.run([sys.executable, "-m", "controller", *args], input=input_text,
                          capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class RunningSite:
    """A ``diemcau run`` child process and its logins."""

    url: str
    config_path: Path
    process: subprocess.Popen[str]
    admin_username: str = "quantri"
    admin_password: str = "quantri-mat-khau-1"
    viewer_username: str = "xem"
    viewer_password: str = "xem-mat-khau-12"
    operator_username: str = "vanhanh"
    operator_password: str = "van-hanh-mat-khau-1"


def wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    """Poll /healthz until it answers, or fail with the child's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            pytest.fail(f"diemcau exited with {process.returncode}: {out}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail("diemcau did not become healthy in time")


def start_site(directory: Path, extra: str = "") -> RunningSite:
    """Create accounts with the CLI, then start ``diemcau run`` and wait for it."""
    port = free_port()
    config = write_site_config(directory, port=port, extra=extra)
    site = RunningSite(f"http://127.0.0.1:{port}", config, None)  # type: ignore[arg-type]
    for name, role, password in ((site.admin_username, "admin", site.admin_password),
                                 (site.viewer_username, "viewer", site.viewer_password),
                                 (site.operator_username, "operator", site.operator_password)):
        result = run_cli("user", "add", "--config", str(config), name, "--role", role,
                         input_text=password + "\n")
        assert result.returncode == 0, result.stderr
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    site.process = subprocess.Popen(
        [sys.executable, "-m", "controller", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    wait_healthy(site.url, site.process)
    return site


def stop_site(site: RunningSite) -> int:
    """SIGTERM the child and return its exit code."""
    site.process.terminate()
    try:
        return site.process.wait(timeout=15)
    finally:
        if site.process.poll() is None:
            site.process.kill()


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[RunningSite]:
    """A real site controller process with an admin and a viewer account."""
    site = start_site(tmp_path / "console-site")
    try:
        yield site
    finally:
        code = stop_site(site)
        assert code == 0, f"diemcau run exited with {code}"


def app_of(client: Client) -> web.Application:
    """The application behind an in-process test client."""
    server = client.server
    assert isinstance(server, TestServer)
    return server.app


@pytest.fixture
def device_console_server(tmp_path: Path) -> Iterator[RunningSite]:
    """A real site process whose camera, projector and mixer are simulators."""
    with room_simulators() as sims:
        site = start_site(tmp_path / "device-site", extra=room_devices_config(sims))
        try:
            yield site
        finally:
            code = stop_site(site)
            assert code == 0, f"diemcau run exited with {code}"
