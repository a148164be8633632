"""A tree of real ``diemcau run`` processes on loopback, and a logged-in console client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import ClientSession, CookieJar

from tests.conftest import SECRET_TEXT, free_port, run_cli, wait_healthy, write_site_config
from tests.peers.simulators import Simulator, room_devices_config, room_simulators

PASSWORDS = {"quantri": "quantri-mat-khau-1", "chutri": "chu-tri-mat-khau-1",
             "vanhanh": "van-hanh-mat-khau-1", "xem": "xem-mat-khau-12"}
ROLES = {"quantri": "admin", "chutri": "chair", "vanhanh": "operator", "xem": "viewer"}


@dataclass
class TreeSite:
    """One site process of the tree."""

    site_id: str
    level: str
    directory: Path
    port: int
    config_path: Path
    parent: str | None = None
    sims: dict[str, Simulator] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) ``diemcau run`` and wait until it answers."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        log = (self.directory / "site.log").open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controller", "run", "--config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        log.close()
        wait_healthy(self.url, self.process)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.process is not None
        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)

    def log_text(self) -> str:
        """What the process wrote (for failure messages)."""
        path = self.directory / "site.log"
        return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() \
            else ""


def build_tree(base: Path, shape: dict[str, tuple[str, str | None]], stack: ExitStack,
               *, rooms: set[str] | frozenset[str] = frozenset(),
               extra: dict[str, str] | None = None) -> dict[str, TreeSite]:
    """Write configs, accounts and rooms for ``{site_id: (level, parent)}`` (parents first)."""
    sites: dict[str, TreeSite] = {}
    for site_id, (level, parent) in shape.items():
        directory = base / site_id
        directory.mkdir(parents=True)
        sites[site_id] = TreeSite(site_id, level, directory, free_port(), directory / "x",
                                  parent)
    for site_id, site in sites.items():
        text = ""
        if site.parent is not None:
            (site.directory / "uplink.secret").write_text(SECRET_TEXT)
            (site.directory / "uplink.secret").chmod(0o600)
            text += (f'[uplink]\nurl = "ws://127.0.0.1:{sites[site.parent].port}/uplink"\n'
                     'credential_file = "uplink.secret"\nheartbeat_seconds = 1\n\n')
        for child in (c for c in sites.values() if c.parent == site_id):
            secret = site.directory / f"{child.site_id}.secret"
            secret.write_text(SECRET_TEXT)
            secret.chmod(0o600)
            text += (f'[[children]]\nid = "{child.site_id}"\nname = "UBND {child.site_id}"\n'
                     f'credential_file = "{secret.name}"\n\n')
        if site_id in rooms:
            site.sims = stack.enter_context(room_simulators())
            text += room_devices_config(site.sims, poll_interval=1) + "\n"
        text += (extra or {}).get(site_id, "")
        path = write_site_config(site.directory, site_id=site_id, level=site.level,
                                 port=site.port, extra=text, with_uplink=False)
        site.config_path = path
        for name, role in ROLES.items():
            result = run_cli("user", "add", "--config", str(path), name, "--role", role,
                             input_text=PASSWORDS[name] + "\n")
            assert result.returncode == 0, result.stderr
    return sites


@contextmanager
def running_tree(base: Path, shape: dict[str, tuple[str, str | None]], *,
                 rooms: set[str] | frozenset[str] = frozenset(),
                 extra: dict[str, str] | None = None) -> Iterator[dict[str, TreeSite]]:
    """Start every site of ``shape``; stop them all (each must exit 0) at the end."""
    with ExitStack() as stack:
        sites = build_tree(base, shape, stack, rooms=rooms, extra=extra)
        started: list[TreeSite] = []
        try:
            for site in sites.values():
                site.start()
                started.append(site)
            yield sites
        finally:
            codes = {}
            for site in reversed(started):
                if site.process is not None and site.process.poll() is None:
                    codes[site.site_id] = site.stop()
            bad = {k: v for k, v in codes.items() if v != 0}
            assert not bad, f"sites exited badly: {bad}"


class Console:
    """A logged-in console session on one site (cookie + CSRF token)."""

    def __init__(self, site: TreeSite, username: str) -> None:
        self.site = site
        self.username = username
        self.http = ClientSession(cookie_jar=CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> Console:
        async with self.http.post(self.site.url + "/api/v1/login", json={
                "username": self.username, "password": PASSWORDS[self.username]}) as resp:
            assert resp.status == 200, await resp.text()
            self.csrf = (await resp.json())["csrf_token"]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.http.close()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.site.url + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any] | None = None,
                   expect: int = 200) -> Any:
        async with self.http.post(self.site.url + path, json=body or {},
                                  headers={"X-CSRF-Token": self.csrf}) as resp:
            text = await resp.text()
            assert resp.status == expect, f"{path}: {resp.status} {text}"
            return await resp.json()

    async def chair(self, session_id: str, action: str, site: str | None = None,
                    expect: int = 200, **args: Any) -> Any:
        body: dict[str, Any] = {"action": action, "args": args}
        if site is not None:
            body["site"] = site
        return await self.post(f"/api/v1/sessions/{session_id}/chair", body, expect=expect)


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 20.0,
                     what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {seconds} s"
        await asyncio.sleep(0.2)
