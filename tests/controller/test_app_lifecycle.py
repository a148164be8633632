"""Starting and stopping a site: in process, and as the real ``diemcau run`` process."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from aiohttp import ClientSession

from controller.app import SUPERVISOR, create_app, serve
from controller.audit import AuditEntry, AuditLog
from controller.config import SiteConfig, load_config
from controller.errors import TransportError
from controller.store import Store
from tests.conftest import (
    free_port,
    run_cli,
    start_site,
    stop_site,
    wait_healthy,
    write_site_config,
)


async def test_serve_starts_and_stops_cleanly(tmp_path: Path) -> None:
    config = load_config(write_site_config(tmp_path))
    app = create_app(config, announce=lambda _text: None)
    stop = asyncio.Event()
    ready = asyncio.Event()
    server = asyncio.create_task(serve([(config, app)], stop, ready=ready.set))
    await asyncio.wait_for(ready.wait(), 10)
    url = f"http://127.0.0.1:{config.console.port}"
    async with ClientSession() as http, http.get(url + "/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ok"
    assert app[SUPERVISOR].running == 7  # maintenance, tree, sessions, outbox, incidents,
    # usage, uplink
    stop.set()
    await asyncio.wait_for(server, 10)
    assert app[SUPERVISOR].running == 0
    actions = [e.action for e in load_audit(config)]
    assert actions[-2:] == ["controller.start", "controller.stop"]


def load_audit(config: SiteConfig) -> list[AuditEntry]:
    store = Store(config.storage.database)
    try:
        return list(reversed(AuditLog(store, config.site.id, lambda: 0.0).entries(limit=100)))
    finally:
        store.close()


async def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = load_config(write_site_config(tmp_path, port=port))
        app = create_app(config, announce=lambda _text: None)
        with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
            await serve([(config, app)], asyncio.Event())
    assert app[SUPERVISOR].running == 0  # what did start was stopped again


def test_diemcau_run_serves_health_and_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    site = start_site(tmp_path / "site")
    try:
        with urllib.request.urlopen(site.url + "/healthz", timeout=5) as resp:  # noqa: S310
            health = json.load(resp)
        assert health["status"] == "ok"
        assert health["site"] == "xa-hoang-hop"
        with urllib.request.urlopen(site.url + "/metrics", timeout=5) as resp:  # noqa: S310
            assert resp.headers["Content-Type"].startswith("text/plain")
            metrics = resp.read().decode()
        assert 'diemcau_build_info{level="commune"' in metrics
        assert "process_resident_memory_bytes" in metrics
        assert 'diemcau_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    finally:
        code = stop_site(site)
    assert code == 0
    output = site.process.stdout.read() if site.process.stdout else ""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    messages = [line["msg"] for line in lines]
    assert "site xa-hoang-hop stopped" in messages
    assert "Traceback" not in output


def spawn_run(tmp_path: Path, port: int, *, merge_output: bool) -> subprocess.Popen[str]:
    """``diemcau run`` on a fresh config, without accounts."""
    config = write_site_config(tmp_path, port=port)
    return subprocess.Popen(
        [sys.executable, "-m", "controller", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
        text=True)


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process = spawn_run(tmp_path, port, merge_output=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_first_start_prints_a_setup_token_that_never_reaches_the_logs(tmp_path: Path) -> None:
    port = free_port()
    process = spawn_run(tmp_path, port, merge_output=False)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        token = (tmp_path / "data" / "setup-token").read_text().strip()
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=15)
    assert token in stdout
    assert token not in stderr  # the log stream
    assert "setup token" in stderr


def test_run_on_a_busy_port_exits_1_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        config = write_site_config(tmp_path, port=sock.getsockname()[1])
        result = run_cli("run", "--config", str(config))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
