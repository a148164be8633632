"""Prometheus metrics of one site controller, in a registry of its own.

Besides the site's own metrics, a parent re-exports its whole subtree (``diemcau_site_*``,
one series per descendant site, from the summaries its children send up), so a province's
Prometheus sees every commune without reaching behind their NAT. Device readings, session
and incident counts are read at scrape time by collectors: nothing is kept per poll.

Label cardinality
-----------------
Every label value comes from the configuration, from the tree, or from a fixed enum; never
from user input, and never a session id, incident id, user name or free text.

- ``site``, ``parent``: sites of this subtree, bounded by the sites the children report
  (≤ a few thousand per province: 3,321 communes nationwide; the tree keeps at most
  `controller.tree.MAX_DESCENDANTS`). ``level``: central | province | district | commune |
  unknown.
- ``device``: devices in the config (a handful per room). ``kind``: the config's device
  kinds. ``lamp``: 1..8 (PJLink reports at most 8 lamps; SNMP maps list configured OIDs).
- ``bridge``: bridges in the config. ``direction``: send | recv. ``kind`` of a link:
  audio | video. ``state`` of a call: connecting | connected | degraded | recovering |
  dropped | ended.
- ``state`` of a session: scheduled | readiness | live | ended | cancelled. ``severity``:
  minor | major | critical.
- ``method``, ``route``, ``status``: the API's route templates and HTTP statuses; ``action``,
  ``command``, ``result``, ``protocol``, ``reason``: fixed words of the code.

So a province with 3,321 communes exports about 6 × 3,321 ≈ 20,000 ``diemcau_site_*``
series; everything else is a few hundred at most.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol

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

SITE_LEVELS: Final = frozenset({"central", "province", "district", "commune"})
# diemcau_site_link_health: the worst link colour of the site's calls as a number.
LINK_HEALTH: Final[Mapping[str, float]] = {"none": 0.0, "grey": 0.0, "green": 1.0,
                                           "amber": 2.0, "red": 3.0}
MAX_LAMPS: Final = 8  # PJLink's LAMP answer holds at most 8 lamps

LabelledValues = Iterable[tuple[Sequence[str], float]]


class SubtreeSite(Protocol):
    """What the subtree collector reads of a site (`controller.tree.SiteEntry` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def parent(self) -> str | None: ...
    @property
    def online(self) -> bool: ...
    @property
    def summary(self) -> Mapping[str, Any]: ...


class DeviceReading(NamedTuple):
    """What the device collector reads of a device: its readings while it answers."""

    device_id: str
    kind: str
    readings: Mapping[str, Any] | None  # None while not polled or not answering


class _CallbackGauge(Collector):
    """A gauge read from a callback at scrape time."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name = name
        self.documentation = documentation
        self.read = read

    def describe(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, value=self.read())


class _CallbackFamily(Collector):
    """A labelled gauge whose samples a callback lists at scrape time."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str],
                 read: Callable[[], LabelledValues]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = list(labels)
        self.read = read

    def describe(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=self.labels)

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, value in self.read():
            family.add_metric(list(values), value)
        yield family


def _number(value: Any) -> float | None:
    """A finite number from a reading or a child's summary; None for anything else."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


_SITE_FAMILIES: Final = (
    ("diemcau_site_up", "1 while the site is connected to the tree", ("site", "level", "parent")),
    ("diemcau_site_devices_online", "Devices of the site answering their polls", ("site",)),
    ("diemcau_site_devices_total", "Devices the site has configured", ("site",)),
    ("diemcau_site_in_call", "Bridge calls the site is in now", ("site",)),
    ("diemcau_site_link_health",
     "Worst link of the site's calls: 0 none or unknown, 1 green, 2 amber, 3 red", ("site",)),
    ("diemcau_site_local_control_only", "1 while the site refuses remote control (local lock)",
     ("site",)),
)
_SUMMARY_KEYS: Final = ((1, "devices_online"), (2, "devices_total"), (3, "calls"),
                        (5, "local_control_only"))


def _escape(value: str) -> str:
    # Text exposition format: backslash, double quote and line feed are escaped.
    if "\\" not in value and "\n" not in value and '"' not in value:
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class SubtreeCollector(Collector):
    """Every site of the subtree as ``diemcau_site_*`` series, from the tree at scrape time.

    An unreachable site exports ``diemcau_site_up 0`` and ``diemcau_site_link_health 0``
    (unknown) only: its last summary is not a fact any more.
    """

    def __init__(self, read: Callable[[], Iterable[SubtreeSite]]) -> None:
        self.read = read

    def samples(self) -> list[list[tuple[tuple[str, ...], float]]]:
        """The samples of each family of ``_SITE_FAMILIES``, in order."""
        out: list[list[tuple[tuple[str, ...], float]]] = [[] for _ in _SITE_FAMILIES]
        up, link = out[0], out[4]
        for site in self.read():
            level = site.level if site.level in SITE_LEVELS else "unknown"
            up.append(((site.id, level, site.parent or ""), 1.0 if site.online else 0.0))
            labels = (site.id,)
            if not site.online:
                link.append((labels, 0.0))
                continue
            summary = site.summary
            link.append((labels, LINK_HEALTH.get(str(summary.get("link", "none")), 0.0)))
            for index, key in _SUMMARY_KEYS:
                value = _number(summary.get(key))
                if value is not None:
                    out[index].append((labels, value))
        return out

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(name, doc, labels=labels)
                for name, doc, labels in _SITE_FAMILIES]

    def collect(self) -> Iterable[Metric]:
        families = []
        for (name, doc, labels), samples in zip(_SITE_FAMILIES, self.samples(), strict=True):
            family = GaugeMetricFamily(name, doc, labels=labels)
            for values, value in samples:
                family.add_metric(values, value)
            families.append(family)
        return families

    def render(self) -> bytes:
        """The same series as `collect`, written straight as exposition text.

        prometheus_client's generic writer takes ~90 ms for 3,321 sites, on the event loop;
        this takes a fraction of that.
        """
        lines: list[str] = []
        for (name, doc, labels), samples in zip(_SITE_FAMILIES, self.samples(), strict=True):
            lines.append(f"# HELP {name} {doc}\n# TYPE {name} gauge\n")
            if len(labels) == 1:
                label = labels[0]
                lines.extend(f'{name}{{{label}="{_escape(values[0])}"}} {value!r}\n'
                             for values, value in samples)
                continue
            for values, value in samples:
                pairs = ",".join(f'{label}="{_escape(v)}"'
                                 for label, v in zip(labels, values, strict=True))
                lines.append(f"{name}{{{pairs}}} {value!r}\n")
        return "".join(lines).encode("utf-8")


class DeviceReadingsCollector(Collector):
    """Projector lamp hours and UPS state from the pollers' last readings, at scrape time."""

    def __init__(self, read: Callable[[], Iterable[DeviceReading]]) -> None:
        self.read = read

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("diemcau_projector_lamp_hours", "Cumulative hours of each lamp",
                              labels=["device", "lamp"]),
            GaugeMetricFamily("diemcau_ups_on_battery", "1 while the UPS runs on its battery",
                              labels=["device"]),
            GaugeMetricFamily("diemcau_ups_charge_percent", "Battery charge of the UPS in %",
                              labels=["device"]),
            GaugeMetricFamily("diemcau_ups_runtime_minutes",
                              "Minutes the UPS battery would last at the present load",
                              labels=["device"]),
            GaugeMetricFamily("diemcau_ups_load_percent", "Output load of the UPS in %",
                              labels=["device"]),
        )

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        lamps, on_battery, charge, runtime, load = families = self._families()
        for device in self.read():
            readings = device.readings
            if not readings:
                continue  # not polled yet, or not answering: no stale values
            if device.kind == "projector":
                hours = readings.get("lamp_hours")
                if isinstance(hours, list | tuple):
                    for number, value in enumerate(hours[:MAX_LAMPS], start=1):
                        if (reading := _number(value)) is not None:
                            lamps.add_metric([device.device_id, str(number)], reading)
            elif device.kind == "power":
                for family, key in ((on_battery, "on_battery"), (charge, "charge_percent"),
                                    (runtime, "runtime_minutes"), (load, "load_percent")):
                    if (reading := _number(readings.get(key))) is not None:
                        family.add_metric([device.device_id], reading)
        return families


class SiteMetrics:
    """The metrics a site exports; labels are bounded (see "Label cardinality" above)."""

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
        self._subtree: SubtreeCollector | None = None

    def add_callback_gauge(self, name: str, documentation: str,
                           read: Callable[[], float]) -> None:
        """Export a value computed at scrape time."""
        self.registry.register(_CallbackGauge(name, documentation, read))

    def add_callback_family(self, name: str, documentation: str, labels: Sequence[str],
                            read: Callable[[], LabelledValues]) -> None:
        """Export labelled values listed at scrape time (label values from fixed enums)."""
        self.registry.register(_CallbackFamily(name, documentation, labels, read))

    def add_subtree(self, read: Callable[[], Iterable[SubtreeSite]]) -> None:
        """Re-export every site of the subtree as ``diemcau_site_*`` (once per site)."""
        if self._subtree is not None:
            raise ValueError("the subtree is exported already")
        self._subtree = SubtreeCollector(read)

    def add_device_readings(self, read: Callable[[], Iterable[DeviceReading]]) -> None:
        """Export projector lamp hours and UPS state from the devices' last readings."""
        self.registry.register(DeviceReadingsCollector(read))

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        text = generate_latest(self.registry)
        # The subtree is written by its own fast writer (see `SubtreeCollector.render`).
        return text if self._subtree is None else text + self._subtree.render()
