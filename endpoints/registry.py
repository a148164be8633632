"""Builds devices from their specs: one table of (kind, protocol) → factory.

Factories are named by import path and imported on first use, so a site that
has no SNMP device never imports pysnmp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Final

from endpoints.errors import UnsupportedCommandError
from endpoints.interfaces import Device, DeviceSpec

Factory = Callable[..., Device]

FACTORIES: Final[dict[tuple[str, str], str]] = {
    ("camera", "visca-serial"): "endpoints.visca.camera:camera_from_spec",
    ("camera", "visca-ip"): "endpoints.visca.camera:camera_from_spec",
    ("projector", "pjlink"): "endpoints.pjlink.projector:projector_from_spec",
    ("projector", "snmp"): "endpoints.snmp.devices:device_from_spec",
    ("mixer", "snmp"): "endpoints.snmp.devices:device_from_spec",
    ("power", "snmp"): "endpoints.snmp.devices:device_from_spec",
    ("network", "snmp"): "endpoints.snmp.devices:device_from_spec",
    ("mixer", "mixer-tcp"): "endpoints.mixer.device:mixer_from_spec",
}


def supported(kind: str, protocol: str) -> bool:
    """Whether a kind can be driven over a protocol."""
    return (kind, protocol) in FACTORIES


def _factory(kind: str, protocol: str) -> Factory:
    try:
        target = FACTORIES[(kind, protocol)]
    except KeyError:
        raise UnsupportedCommandError(
            f"a {kind} cannot be driven over {protocol}") from None
    module_name, _, attr = target.partition(":")
    try:
        factory: Factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnsupportedCommandError(
            f"the {protocol} driver for a {kind} is not installed ({exc})") from exc
    return factory


# Objects several devices share, passed to the factories that take them by keyword:
# cameras daisy-chained on one serial port share the controller's VISCA bus.
SHARED: Final[dict[str, frozenset[str]]] = {
    "endpoints.visca.camera:camera_from_spec": frozenset({"bus"}),
}


def build_device(spec: DeviceSpec, shared: Mapping[str, object] | None = None) -> Device:
    """The driver for one configured device (not yet opened)."""
    target = FACTORIES.get((spec.kind, spec.protocol), "")
    wanted = SHARED.get(target, frozenset())
    kwargs = {k: v for k, v in (shared or {}).items() if k in wanted}
    device = _factory(spec.kind, spec.protocol)(spec, **kwargs)
    if device.kind != spec.kind:
        raise UnsupportedCommandError(
            f"{spec.protocol} driver built a {device.kind} for a {spec.kind}")
    return device
