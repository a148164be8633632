"""What a province's Prometheus reads at /metrics: its subtree, devices, sessions, incidents."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from aiohttp import ClientSession
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from controller.config import load_config
from controller.context import CONTEXT
from controller.tree import SiteEntry
from monitoring.metrics import DeviceReading, DeviceReadingsCollector, SiteMetrics, SubtreeCollector
from tests.conftest import Client, FakeClock, app_of, free_port, write_site_config
from tests.controller.test_uplink import commune_config, province_config, running, until
from tests.peers.simulators import start_simulator, stop_simulator
from tests.peers.snmp import Snmpsim, snmpsim  # noqa: F401 - session fixture used by name

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and labels."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(parsed: Samples, name: str, **labels: str) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


def commune(site_id: str, *, online: bool = True, **summary: object) -> SiteEntry:
    return SiteEntry(site_id, f"UBND {site_id}", "commune", "tinh-thanh-hoa", online,
                     via=site_id, summary=dict(summary))


def test_the_subtree_writer_says_what_the_collector_says() -> None:
    sites = [
        commune("xa-hoang-hop", devices_online=3, devices_total=4, calls=1, link="amber",
                local_control_only=False, session="abc"),
        commune("xa-quang-phu", online=False, devices_online=4, devices_total=4, calls=1,
                link="green"),
        # Ids and levels come from children: odd characters are escaped, odd levels folded.
        SiteEntry('xa-"la"\\\nmoi', "x", "thon", "xa-hoang-hop", True, via="xa-hoang-hop",
                  summary={"devices_online": "many", "link": "purple", "calls": True}),
    ]
    collector = SubtreeCollector(lambda: sites)
    registry = CollectorRegistry()
    registry.register(collector)
    written = samples(collector.render().decode())
    assert written == samples(generate_latest(registry).decode())
    assert value(written, "diemcau_site_up", site="xa-hoang-hop", level="commune",
                 parent="tinh-thanh-hoa") == 1
    assert value(written, "diemcau_site_link_health", site="xa-hoang-hop") == 2
    assert value(written, "diemcau_site_devices_online", site="xa-hoang-hop") == 3
    assert value(written, "diemcau_site_in_call", site="xa-hoang-hop") == 1
    assert value(written, "diemcau_site_local_control_only", site="xa-hoang-hop") == 0
    # An unreachable site: down, link unknown, and no stale figures.
    assert value(written, "diemcau_site_up", site="xa-quang-phu", level="commune",
                 parent="tinh-thanh-hoa") == 0
    assert value(written, "diemcau_site_link_health", site="xa-quang-phu") == 0
    assert value(written, "diemcau_site_in_call", site="xa-quang-phu") is None
    odd = 'xa-"la"\\\nmoi'
    assert value(written, "diemcau_site_up", site=odd, level="unknown", parent="xa-hoang-hop") == 1
    assert value(written, "diemcau_site_link_health", site=odd) == 0
    assert value(written, "diemcau_site_devices_online", site=odd) is None
    assert value(written, "diemcau_site_in_call", site=odd) == 1


def test_device_readings_as_the_pollers_produce_them() -> None:
    readings = [
        # PjlinkProjector.poll and endpoints.snmp.profiles.projector_readings
        DeviceReading("proj1", "projector", {"power": "on", "lamp_hours": [1234, 56]}),
        # SnmpUps.poll: asdict(UpsStatus)
        DeviceReading("ups1", "power", {"on_battery": True, "charge_percent": 63.0,
                                        "runtime_minutes": 18.0, "load_percent": None,
                                        "battery_status": "normal"}),
        DeviceReading("ups2", "power", None),  # not answering: nothing stale
        DeviceReading("cam1", "camera", {"lamp_hours": [1]}),
    ]
    registry = CollectorRegistry()
    registry.register(DeviceReadingsCollector(lambda: readings))
    parsed = samples(generate_latest(registry).decode())
    assert value(parsed, "diemcau_projector_lamp_hours", device="proj1", lamp="1") == 1234
    assert value(parsed, "diemcau_projector_lamp_hours", device="proj1", lamp="2") == 56
    assert value(parsed, "diemcau_ups_on_battery", device="ups1") == 1
    assert value(parsed, "diemcau_ups_charge_percent", device="ups1") == 63
    assert value(parsed, "diemcau_ups_runtime_minutes", device="ups1") == 18
    assert value(parsed, "diemcau_ups_load_percent", device="ups1") is None
    assert not any(dict(labels).get("device") in ("ups2", "cam1") for _, labels in parsed)


def test_scrape_time_for_a_province_of_3321_communes() -> None:
    metrics = SiteMetrics("test", "tinh-thanh-hoa", "province")
    links = ("none", "green", "amber", "red")
    entries = {f"xa-{i:04d}": commune(f"xa-{i:04d}", online=i % 10 != 0, devices_online=4,
                                      devices_total=5, calls=i % 2, link=links[i % 4],
                                      local_control_only=False)
               for i in range(3321)}
    metrics.add_subtree(lambda: entries.values())
    metrics.exposition()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        text = metrics.exposition()
        times.append(time.perf_counter() - start)
    parsed = samples(text.decode())
    assert sum(1 for name, _ in parsed if name == "diemcau_site_up") == 3321
    # Measured ~15 ms here; the scrape runs on the event loop, so keep it well under 100 ms.
    assert min(times) < 0.1, times


async def metrics_of(port: int) -> Samples:
    async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return samples(await resp.text())


def site_up(parsed: Samples, site: str) -> float | None:
    found = [v for (name, labels), v in parsed.items()
             if name == "diemcau_site_up" and dict(labels)["site"] == site]
    return found[0] if found else None


async def test_a_province_exports_its_communes_up_then_down(tmp_path: Path) -> None:
    port = free_port()
    province = province_config(tmp_path, port)
    hoang_hop = commune_config(tmp_path, "xa-hoang-hop", port)
    async with running(province) as province_app:
        hub = province_app[CONTEXT].children
        async with running(hoang_hop):
            await until(lambda: hub.children["xa-hoang-hop"].last_heartbeat is not None)
            parsed = await metrics_of(port)
            assert value(parsed, "diemcau_site_up", site="xa-hoang-hop", level="commune",
                         parent="tinh-thanh-hoa") == 1
            assert value(parsed, "diemcau_site_devices_total", site="xa-hoang-hop") == 0
            assert value(parsed, "diemcau_site_in_call", site="xa-hoang-hop") == 0
            assert value(parsed, "diemcau_site_link_health", site="xa-hoang-hop") == 0
            assert site_up(parsed, "xa-quang-phu") == 0
            assert value(parsed, "diemcau_children_online") == 1
            assert value(parsed, "diemcau_sessions", state="live") == 0
            assert value(parsed, "diemcau_session_live") == 0
            assert value(parsed, "diemcau_incidents_open", severity="critical") is not None
            assert value(parsed, "diemcau_incidents_overdue") == 0
        await until(lambda: hub.children["xa-hoang-hop"].ws is None)
        parsed = await metrics_of(port)
        assert site_up(parsed, "xa-hoang-hop") == 0
        assert value(parsed, "diemcau_site_devices_total", site="xa-hoang-hop") is None


async def poll_metrics(port: int, ready: Iterable[tuple[str, dict[str, str]]],
                       seconds: float = 20) -> Samples:
    deadline = time.monotonic() + seconds
    while True:
        parsed = await metrics_of(port)
        if all(value(parsed, name, **labels) is not None for name, labels in ready):
            return parsed
        assert time.monotonic() < deadline, "device readings never showed in /metrics"
        await asyncio.sleep(0.2)


async def test_projector_lamp_hours_and_ups_state_from_real_polls(
        tmp_path: Path, snmpsim: Snmpsim) -> None:  # noqa: F811
    (tmp_path / "ups.community").write_text("ups-on-battery\n")
    (tmp_path / "ups.community").chmod(0o600)
    projector = start_simulator("endpoints.sim.pjlink", "--host", "127.0.0.1", "--port", "0")
    try:
        port = free_port()
        extra = (f'[[devices]]\nid = "proj1"\nkind = "projector"\nprotocol = "pjlink"\n'
                 f'host = "127.0.0.1"\nport = {projector.port}\npoll_interval = 1\n\n'
                 f'[[devices]]\nid = "ups1"\nkind = "power"\nprotocol = "snmp"\n'
                 f'host = "{snmpsim.host}"\nport = {snmpsim.port}\nversion = "2c"\n'
                 f'community_file = "ups.community"\npoll_interval = 1\n')
        config = load_config(write_site_config(tmp_path, port=port, extra=extra))
        async with running(config):
            parsed = await poll_metrics(port, [
                ("diemcau_projector_lamp_hours", {"device": "proj1", "lamp": "1"}),
                ("diemcau_ups_on_battery", {"device": "ups1"})])
        assert value(parsed, "diemcau_ups_on_battery", device="ups1") == 1
        assert value(parsed, "diemcau_ups_charge_percent", device="ups1") == 63
        assert value(parsed, "diemcau_ups_runtime_minutes", device="ups1") == 18
        hours = value(parsed, "diemcau_projector_lamp_hours", device="proj1", lamp="1")
        assert hours is not None
        assert hours >= 0
        assert value(parsed, "diemcau_device_up", device="proj1", kind="projector") == 1
    finally:
        stop_simulator(projector)



async def test_open_and_overdue_incidents_are_counted(app_client: Client,
                                                      clock: FakeClock) -> None:
    ctx = app_of(app_client)[CONTEXT]
    ctx.incidents.report_problem("Mất điện phòng họp", "Cả tầng mất điện", "critical",
                                 actor="vanhanh")
    ctx.incidents.report_problem("Micro rè", "", "minor", actor="vanhanh")
    parsed = samples(ctx.metrics.exposition().decode())
    assert value(parsed, "diemcau_incidents_open", severity="critical") == 1
    assert value(parsed, "diemcau_incidents_open", severity="minor") == 1
    assert value(parsed, "diemcau_incidents_open", severity="major") == 0
    assert value(parsed, "diemcau_incidents_overdue") == 0
    clock.advance(25 * 3600)  # the 24-hour notice was never sent
    parsed = samples(ctx.metrics.exposition().decode())
    assert value(parsed, "diemcau_incidents_overdue") == 1
