"""Prometheus metrics of one site controller, in a registry of its own."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _CallbackGauge(Collector):
    """A gauge read from a callback at scrape time."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name = name
        self.documentation = documentation
        self.read = read

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, value=self.read())


class SiteMetrics:
    """The metrics a site exports; labels are bounded (route templates, fixed results)."""

    def __init__(self, version: str, site_id: str, level: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        build = Info("diemcau_build", "Version of the running controller", registry=self.registry)
        build.info({"version": version, "python": platform.python_version(),
                    "site": site_id, "level": level})
        self.http_requests = Counter(
            "diemcau_http_requests", "Console and API requests by route template",
            ["method", "route", "status"], registry=self.registry)
        self.http_latency = Histogram(
            "diemcau_http_request_duration_seconds", "Time to answer a console or API request",
            ["route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.logins = Counter("diemcau_logins", "Login attempts by result", ["result"],
                              registry=self.registry)
        self.console_sessions = Gauge("diemcau_console_sessions",
                                      "Console sessions open now", registry=self.registry)
        self.device_up = Gauge("diemcau_device_up", "1 when the device answers its polls",
                               ["device", "kind"], registry=self.registry)
        self.device_command_seconds = Histogram(
            "diemcau_device_command_duration_seconds", "Time to run a device command",
            ["kind", "command", "result"], registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.call_state = Gauge("diemcau_call_state", "1 for the state each bridge's call is in",
                                ["bridge", "state"], registry=self.registry)
        self.link = {
            name: Gauge(f"diemcau_link_{name}", f"Link health of the current call: {doc}",
                        ["bridge", "direction", "kind"], registry=self.registry)
            for name, doc in (("loss_percent", "packet loss in %"),
                              ("jitter_ms", "interarrival jitter in ms"),
                              ("rtt_ms", "round-trip time in ms"),
                              ("bitrate_kbps", "bitrate in kbit/s"),
                              ("fps", "frames per second"),
                              ("mos", "estimated MOS (E-model)"))
        }
        self.chair_command_seconds = Histogram(
            "diemcau_chair_command_duration_seconds",
            "Time from a chair command leaving this site to its result coming back",
            ["action", "result"], registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.frames_dropped = Counter(
            "diemcau_frames_dropped", "Malformed frames dropped, by protocol and reason",
            ["protocol", "reason"], registry=self.registry)

    def add_callback_gauge(self, name: str, documentation: str,
                           read: Callable[[], float]) -> None:
        """Export a value computed at scrape time."""
        self.registry.register(_CallbackGauge(name, documentation, read))

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
