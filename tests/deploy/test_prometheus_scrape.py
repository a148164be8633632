"""A real Prometheus on loopback scrapes a province controller and sees its communes."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientError, ClientSession

from controller.context import CONTEXT
from tests.conftest import free_port
from tests.controller.test_uplink import commune_config, province_config, running, until
from tests.deploy.test_prometheus_rules import PROMETHEUS as DEPLOY_PROMETHEUS
from tests.deploy.test_prometheus_rules import dashboard_exprs

PROMETHEUS_BIN = Path("/usr/bin/prometheus")
RULES = DEPLOY_PROMETHEUS / "rules" / "diemcau.rules.yml"


def write_config(directory: Path, target_port: int) -> Path:
    """Scrape 127.0.0.1:``target_port`` every second; evaluate the deploy rules."""
    if not PROMETHEUS_BIN.exists():
        pytest.fail("prometheus is missing: apt-get install prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {RULES}\n"
        "scrape_configs:\n  - job_name: diemcau\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8")
    return config


@contextlib.asynccontextmanager
async def prometheus(directory: Path, target_port: int) -> AsyncIterator[str]:
    """A Prometheus of the test's own on loopback; its base URL."""
    config = write_config(directory, target_port)
    port = free_port()
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(PROMETHEUS_BIN), f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
    assert process.returncode == 0, log_path.read_bytes()[-3000:].decode(errors="replace")


async def query(http: ClientSession, base: str, expr: str) -> dict[str, Any]:
    async with http.get(f"{base}/api/v1/query", params={"query": expr}) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, (expr, body)
        return body


async def wait_for_series(http: ClientSession, base: str, expr: str,
                          seconds: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            result: list[dict[str, Any]] = (await query(http, base, expr))["data"]["result"]
            if result:
                return result
        except (ClientError, OSError):
            pass  # not listening yet
        assert time.monotonic() < deadline, f"Prometheus never returned {expr}"
        await asyncio.sleep(0.25)


async def test_prometheus_sees_every_commune_through_the_province(tmp_path: Path) -> None:
    port = free_port()
    province = province_config(tmp_path, port)
    hoang_hop = commune_config(tmp_path, "xa-hoang-hop", port)
    async with running(province) as province_app, running(hoang_hop):
        hub = province_app[CONTEXT].children
        await until(lambda: hub.children["xa-hoang-hop"].last_heartbeat is not None)
        async with prometheus(tmp_path / "prom", port) as base, ClientSession() as http:
            series = await wait_for_series(
                http, base, 'diemcau_site_up{site="xa-hoang-hop"} == 1')
            labels = series[0]["metric"]
            assert labels["site"] == "xa-hoang-hop"
            assert labels["level"] == "commune"
            assert labels["parent"] == "tinh-thanh-hoa"
            assert labels["job"] == "diemcau"
            down = await query(http, base, 'diemcau_site_up{site="xa-quang-phu"}')
            assert [r["value"][1] for r in down["data"]["result"]] == ["0"]
            # Every dashboard query is valid PromQL for this Prometheus.
            for expr in dashboard_exprs():
                await query(http, base, re.sub(r"\$\w+", ".*", expr))
            # The deploy rules load and evaluate without errors against real series.
            deadline = time.monotonic() + 10
            while True:
                async with http.get(f"{base}/api/v1/rules") as resp:
                    groups = (await resp.json())["data"]["groups"]
                rules = [r for g in groups for r in g["rules"]]
                if rules and all(r.get("health") == "ok" for r in rules):
                    break
                assert time.monotonic() < deadline, [
                    (r["name"], r.get("health"), r.get("lastError")) for r in rules]
                await asyncio.sleep(0.25)
            assert len(rules) >= 10
