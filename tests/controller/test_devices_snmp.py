"""A UPS behind SNMP: polled through the site, and its on-battery trap heard at once."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from controller.app import create_app
from controller.config import load_config
from controller.context import CONTEXT
from endpoints.sim.snmpd_lab import tool_env
from tests.conftest import Client, FakeClock, write_site_config
from tests.controller.test_auth import ADMIN_PASSWORD, login
from tests.peers.snmp import Snmpsim, snmpsim  # noqa: F401 - session fixture used by name

ON_BATTERY_TRAP = "1.3.6.1.2.1.33.2.0.1"  # RFC 1628 upsTrapOnBattery


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_ups_status_and_on_battery_trap(tmp_path: Path, snmpsim: Snmpsim) -> None:  # noqa: F811
    (tmp_path / "ups.community").write_text("ups-on-battery\n")
    (tmp_path / "ups.community").chmod(0o600)
    trap_port = free_udp_port()
    extra = (f'[endpoints]\nsnmp_trap_listen = "127.0.0.1:{trap_port}"\n\n'
             f'[[devices]]\nid = "ups"\nname = "Bộ lưu điện"\nkind = "power"\n'
             f'protocol = "snmp"\nhost = "{snmpsim.host}"\nport = {snmpsim.port}\n'
             f'version = "2c"\ncommunity_file = "ups.community"\npoll_interval = 30\n')
    config = load_config(write_site_config(tmp_path, extra=extra))
    app = create_app(config, clock=FakeClock(), announce=lambda _text: None)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        ctx = app[CONTEXT]
        ctx.accounts.add("xem", ADMIN_PASSWORD, "viewer", actor="test")
        await login(client, "xem")
        for _ in range(100):
            ups = await (await client.get("/api/v1/devices/ups")).json()
            if ups["state"] == "online":
                break
            await asyncio.sleep(0.1)
        assert ups["state"] == "online", ups
        assert ups["readings"]["on_battery"] is True
        assert ups["readings"]["charge_percent"] == 63
        assert ups["readings"]["runtime_minutes"] == 18
        process = await asyncio.create_subprocess_exec(
            "snmptrap", "-v", "2c", "-c", "ups-on-battery", f"127.0.0.1:{trap_port}", "",
            ON_BATTERY_TRAP, "1.3.6.1.2.1.33.1.2.3.0", "i", "18",
            env=tool_env(tmp_path), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, err
        for _ in range(100):
            rows = ctx.store.query("SELECT event FROM device_events WHERE device_id = 'ups'")
            if "on_battery" in [r["event"] for r in rows]:
                break
            await asyncio.sleep(0.05)
        assert "on_battery" in [r["event"] for r in rows]
    finally:
        await client.close()
