"""Builds bridge adapters from their specs; adapters are imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final

from media.bridges.base import Bridge, BridgeSpec, MediaError

FACTORIES: Final[dict[str, str]] = {
    "janus-videoroom": "media.bridges.janus:bridge_from_spec",
    "whip": "media.bridges.whip:bridge_from_spec",
    "sip": "media.bridges.sip:bridge_from_spec",
}


def build_bridge(spec: BridgeSpec) -> Bridge:
    """The adapter for one configured bridge (nothing connected yet)."""
    target = FACTORIES.get(spec.kind)
    if target is None:
        raise MediaError(f"unknown bridge kind {spec.kind!r}")
    module_name, _, attr = target.partition(":")
    try:
        factory: Callable[[BridgeSpec], Bridge] = getattr(
            importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise MediaError(f"the {spec.kind} adapter is not installed ({exc})") from exc
    return factory(spec)
