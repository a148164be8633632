"""The composition root: builds one site's controller from its config and runs it."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from controller import __version__
from controller.accounts import Accounts
from controller.api import ROUTES
from controller.audit import AuditLog
from controller.calls import CallService
from controller.config import SiteConfig
from controller.context import CONTEXT, SiteContext
from controller.devices import DeviceService
from controller.errors import StorageError, TransportError
from controller.incidents import IncidentService
from controller.notify import Notifier
from controller.outbox import Outbox
from controller.session_rules import STATES as SESSION_STATES
from controller.sessions import LOCAL_CONTROL_KEY, SessionService
from controller.store import Store
from controller.tasks import TaskSupervisor
from controller.tree import SiteTree
from controller.uplink import ChildHub, UplinkClient
from controller.usage import UsageService, purge_usage
from controller.web import (
    MAX_BODY_BYTES,
    add_routes,
    error_middleware,
    headers_middleware,
    make_auth_middleware,
    make_metrics_middleware,
)
from monitoring.incidents import NOTICE_SECONDS, SERIOUS, SEVERITIES, incident_from_dict
from monitoring.metrics import DeviceReading, SiteMetrics

log = logging.getLogger(__name__)

SUPERVISOR = web.AppKey("supervisor", TaskSupervisor)
NOTIFIER = web.AppKey("notifier", Notifier)
SESSION_SWEEP_SECONDS = 60.0
AUDIT_PURGE_SECONDS = 6 * 3600.0

Announce = Callable[[str], None]


def _default_announce(text: str) -> None:
    # Shown on the operator's terminal only: the token must never reach the logs.
    print(text, flush=True)


def open_store(config: SiteConfig) -> Store:
    """Create the data folder (owner-only) and open the migrated database."""
    data_dir = config.storage.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(f"cannot create data folder {data_dir}: {exc.strerror}") from exc
    return Store(config.storage.database)


def create_app(config: SiteConfig, *, clock: Callable[[], float] = time.time,
               announce: Announce = _default_announce) -> web.Application:
    """Build the site's web application and everything it owns."""
    store = open_store(config)
    audit = AuditLog(store, config.site.id, clock, config.audit.retention_days)
    accounts = Accounts(store, audit, config.security, config.console.session_idle_minutes,
                        clock)
    metrics = SiteMetrics(__version__, config.site.id, config.site.level)
    devices = DeviceService(config, store, audit, metrics, clock)
    calls = CallService(config, store, audit, metrics, clock)
    tree = SiteTree(config, lambda: _summary(devices, calls, store))
    uplink = None if config.uplink is None else UplinkClient(
        config, __version__, tree.summary, clock, tree=tree)
    hub = ChildHub(config, audit, clock, tree=tree)
    tree.send_down = hub.send
    if uplink is not None:
        tree.send_up = uplink.send
        tree.connected_up = lambda: uplink.state == "connected"
    sessions = SessionService(config, store, audit, devices, calls, tree, clock, metrics)
    hub.count_drop = uplink_drops(metrics)
    if uplink is not None:
        uplink.count_drop = uplink_drops(metrics)
    outbox = Outbox(store, config.site.id, clock, forwards=uplink is not None)
    tree.outbox = outbox
    if uplink is not None:
        outbox.send_up = uplink.send
        outbox.connected_up = tree.connected_up
    incidents = IncidentService(
        config, store, audit, devices, calls, tree, outbox, clock,
        None if uplink is None else lambda: (uplink.state, uplink.since))
    notifier = None
    if config.incidents.webhook_url or config.incidents.email_to:
        notifier = Notifier(config, clock, site_names=lambda site: (
            tree.entries[site].name if site in tree.entries else None))
        incidents.listeners.append(notifier.on_incident)
    usage = UsageService(config, store, outbox, sessions, clock, devices)
    context = SiteContext(config, store, audit, accounts, metrics, devices, calls, clock,
                          __version__, hub, uplink, tree, sessions, outbox, incidents, usage)
    metrics.add_callback_gauge("diemcau_outbox_depth", "Records waiting for the parent",
                               lambda: float(outbox.pending()[0]))
    metrics.add_callback_gauge(
        "diemcau_outbox_oldest_age_seconds", "Age of the oldest record waiting for the parent",
        lambda: _age(outbox.pending()[1], clock))
    metrics.add_callback_gauge("diemcau_audit_entries", "Rows in the audit log",
                               lambda: _count(store, "audit_log"))
    metrics.add_callback_gauge(
        "diemcau_children_online", "Direct child sites connected now",
        lambda: float(sum(link.ws is not None for link in hub.children.values())))
    metrics.add_callback_gauge(
        "diemcau_subtree_sites", "Sites known below this one (children and their subtrees)",
        lambda: float(len(tree.entries)))
    if uplink is not None:
        metrics.add_callback_gauge(
            "diemcau_uplink_connected", "1 while the uplink to the parent is connected",
            lambda: float(uplink.state == "connected"))
    metrics.add_subtree(lambda: tree.entries.values())
    metrics.add_device_readings(lambda: _device_readings(config, devices))
    metrics.add_callback_family("diemcau_sessions", "Sessions this site knows, by state",
                                ["state"], lambda: _session_counts(store))
    metrics.add_callback_gauge(
        "diemcau_session_live", "1 while this site takes part in a live session",
        lambda: float(any(r.state == "live" and r.includes(config.site.id)
                          for r in sessions.records(open_only=True))))
    metrics.add_callback_family(
        "diemcau_incidents_open", "Unresolved incidents of this site and its subtree",
        ["severity"], lambda: _incident_counts(store))
    metrics.add_callback_gauge(
        "diemcau_incidents_overdue",
        "Unresolved incidents whose 24 h notice or 72 h report is past due and unsent",
        lambda: _incidents_overdue(store, clock()))

    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[headers_middleware, make_metrics_middleware(metrics), error_middleware,
                     make_auth_middleware(accounts, audit)],
    )
    app[CONTEXT] = context
    if notifier is not None:
        app[NOTIFIER] = notifier
    app[SUPERVISOR] = TaskSupervisor(config.site.id)
    add_routes(app, ROUTES)
    static = resources.files("controller").joinpath("console/static")
    app.router.add_static("/static/", Path(str(static)), append_version=False)
    app.on_shutdown.append(lambda _app: context.children.close())
    app.cleanup_ctx.append(_lifecycle(announce))
    return app


def uplink_drops(metrics: SiteMetrics) -> Callable[[str], None]:
    """Count a malformed uplink frame in ``diemcau_frames_dropped_total``."""
    return lambda reason: metrics.frames_dropped.labels("uplink", reason).inc()


def _summary(devices: DeviceService, calls: CallService, store: Store) -> dict[str, Any]:
    """The little a heartbeat tells the parent: devices online of total, calls and link."""
    ids = devices.ids()
    online = 0
    for device_id in ids:
        health = devices.health(device_id)
        online += bool(health is not None and health.online)
    in_call, link = 0, "none"
    order = ("none", "green", "amber", "red")
    for bridge in calls.ids():
        described = calls.describe(bridge)
        if described["call"] is not None:
            in_call += 1
            colour = str(described["call"].get("health", "none"))
            if colour in order and order.index(colour) > order.index(link):
                link = colour
    live = store.query_one(
        "SELECT id FROM sessions WHERE state = 'live' ORDER BY starts_at DESC LIMIT 1")
    return {"devices_online": online, "devices_total": len(ids), "calls": in_call,
            "link": link, "local_control_only": store.get_setting(LOCAL_CONTROL_KEY) == "1",
            "session": str(live["id"]) if live else ""}


def _device_readings(config: SiteConfig, devices: DeviceService) -> list[DeviceReading]:
    """Each enabled device's last readings while it answers its polls."""
    out = []
    for cfg in config.devices:
        if cfg.enabled and cfg.kind in ("projector", "power"):
            health = devices.health(cfg.id)
            readings = health.readings if health is not None and health.online else None
            out.append(DeviceReading(cfg.id, cfg.kind, readings))
    return out


def _session_counts(store: Store) -> list[tuple[tuple[str], float]]:
    counts = dict.fromkeys(SESSION_STATES, 0.0)
    for row in store.query("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state"):
        if row["state"] in counts:
            counts[row["state"]] = float(row["n"])
    return [((state,), n) for state, n in counts.items()]


def _incident_counts(store: Store) -> list[tuple[tuple[str], float]]:
    counts = dict.fromkeys(SEVERITIES, 0.0)
    for row in store.query("SELECT severity, COUNT(*) AS n FROM incidents"
                           " WHERE state != 'resolved' GROUP BY severity"):
        if row["severity"] in counts:
            counts[row["severity"]] = float(row["n"])
    return [((severity,), n) for severity, n in counts.items()]


def _incidents_overdue(store: Store, now: float) -> float:
    # Only serious incidents carry the clocks, and none is due before NOTICE_SECONDS.
    late = 0
    for row in store.query("SELECT severity, body FROM incidents"
                           " WHERE state != 'resolved' AND opened_at < ?",
                           (now - NOTICE_SECONDS,)):
        if row["severity"] not in SERIOUS:
            continue
        incident = incident_from_dict(json.loads(row["body"]))
        late += bool(incident is not None and incident.overdue(now))
    return float(late)


def _age(oldest: float | None, clock: Callable[[], float]) -> float:
    return 0.0 if oldest is None else max(0.0, clock() - oldest)


def _count(store: Store, table: str) -> float:
    row = store.query_one(f"SELECT COUNT(*) AS n FROM {table}")  # noqa: S608 - fixed names
    return float(row["n"]) if row else 0.0


def _lifecycle(announce: Announce) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        ctx = app[CONTEXT]
        supervisor = app[SUPERVISOR]
        _offer_setup(ctx, announce)
        ctx.audit.record("system", "controller.start", ctx.config.site.id,
                         details={"version": ctx.version})
        supervisor.start("maintenance", _maintenance(ctx))
        await ctx.devices.open_listeners()
        ctx.devices.start(supervisor)
        ctx.calls.start(supervisor)
        supervisor.start("tree", ctx.tree.run())
        supervisor.start("sessions", ctx.sessions.run())
        supervisor.start("outbox", ctx.outbox.run())
        supervisor.start("incidents", ctx.incidents.run())
        supervisor.start("usage", ctx.usage.run())
        notifier = app.get(NOTIFIER)
        if notifier is not None:
            supervisor.start("notify", notifier.run())
        if ctx.uplink is not None:
            supervisor.start("uplink", ctx.uplink.run())
        # What start-up built lives as long as the site: keep it out of the collector's scans,
        # whose pauses otherwise grow with thousands of children (scripts/bench_tree.py).
        gc.freeze()
        log.info("site %s (%s) started", ctx.config.site.id, ctx.config.site.level)
        try:
            yield
        finally:
            await ctx.sessions.close()
            await ctx.tree.close()
            await ctx.calls.close()
            await supervisor.stop()
            if notifier is not None:
                await notifier.close()
            await ctx.devices.close()
            with suppress(StorageError):
                ctx.audit.record("system", "controller.stop", ctx.config.site.id)
            ctx.store.close()
            log.info("site %s stopped", ctx.config.site.id)

    return lifecycle


def _offer_setup(ctx: SiteContext, announce: Announce) -> None:
    """At first start (no admin yet) print a one-time token for creating the first admin."""
    token = ctx.accounts.issue_setup_token()
    token_file = ctx.config.storage.data_dir / "setup-token"
    if token is None:
        token_file.unlink(missing_ok=True)
        return
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    announce(
        f"[{ctx.config.site.id}] Chưa có tài khoản quản trị. Mở bảng điều khiển và nhập mã "
        f"thiết lập một lần: {token}\n(mã cũng được lưu trong {token_file}; hoặc dùng lệnh "
        f"`diemcau user add --config {ctx.config.path} TÊN --role admin`)"
    )
    log.warning("no admin account yet; a one-time setup token was written to %s", token_file)


async def _maintenance(ctx: SiteContext) -> None:
    """Sweep expired console sessions every minute; purge old audit rows every six hours."""
    next_purge = 0.0
    while True:
        now = ctx.clock()
        try:
            swept = ctx.accounts.sweep_sessions(now)
            if swept:
                log.info("ended %d idle console sessions", swept)
            if now >= next_purge:
                ctx.audit.purge(now)
                removed = purge_usage(ctx.store, ctx.config, now)
                if removed:
                    log.info("purged %d usage records of filed periods past retention",
                             removed)
                next_purge = now + AUDIT_PURGE_SECONDS
        except StorageError:
            log.warning("maintenance could not reach the database; will retry", exc_info=True)
        except Exception:
            # A bug here must not stop session expiry for the rest of the run.
            log.exception("maintenance step failed; will retry")
        await asyncio.sleep(SESSION_SWEEP_SECONDS)


def tls_context(config: SiteConfig) -> ssl.SSLContext | None:
    """The console's server TLS context, when configured."""
    console = config.console
    if console.tls_cert is None or console.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(console.tls_cert, console.tls_key)
    return context


async def serve(sites: Sequence[tuple[SiteConfig, web.Application]],
                stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
    """Serve each app on its configured address until ``stop`` is set, then clean up."""
    runners: list[web.AppRunner] = []
    try:
        for config, app in sites:
            runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                   shutdown_timeout=5.0)
            runners.append(runner)
            await runner.setup()
            site = web.TCPSite(runner, config.console.host, config.console.port,
                               ssl_context=tls_context(config), reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                raise TransportError(
                    f"cannot listen on {config.console.host}:{config.console.port} for "
                    f"{config.site.id}: {exc.strerror or exc}") from exc
            scheme = "https" if config.console.tls else "http"
            log.info("console of %s at %s://%s:%d/", config.site.id, scheme,
                     config.console.host, config.console.port)
        if ready is not None:
            ready()
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT (Ctrl-C) set ``stop``."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_site(config: SiteConfig) -> None:
    """Run one site's controller until SIGTERM or Ctrl-C."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    app = create_app(config)
    await serve([(config, app)], stop)
