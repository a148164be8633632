"""What request handlers reach through the application: one typed key, one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from controller.accounts import Accounts
from controller.audit import AuditLog
from controller.calls import CallService
from controller.config import SiteConfig
from controller.devices import DeviceService
from controller.incidents import IncidentService
from controller.outbox import Outbox
from controller.sessions import SessionService
from controller.store import Store
from controller.tree import SiteTree
from controller.uplink import ChildHub, UplinkClient
from controller.usage import UsageService
from monitoring.metrics import SiteMetrics


@dataclass(frozen=True)
class SiteContext:
    """The parts of one running site that handlers use."""

    config: SiteConfig
    store: Store
    audit: AuditLog
    accounts: Accounts
    metrics: SiteMetrics
    devices: DeviceService
    calls: CallService
    clock: Callable[[], float]
    version: str
    children: ChildHub
    uplink: UplinkClient | None
    tree: SiteTree
    sessions: SessionService
    outbox: Outbox
    incidents: IncidentService
    usage: UsageService


CONTEXT: Final = web.AppKey("context", SiteContext)
