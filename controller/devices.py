"""The site's room hardware: built from the config, polled, commanded and audited.

This is the boundary where `endpoints` errors become controller errors with a
plain Vietnamese message for the officer (the driver's English text stays in
``detail`` and the log).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from controller.audit import AuditLog
from controller.config import DeviceConfig, SiteConfig, split_secrets
from controller.errors import DependencyFailedError, DiemcauError, NotFoundError
from controller.store import Store
from controller.tasks import TaskSupervisor
from endpoints.commands import commands_for, execute, find_command
from endpoints.errors import (
    AuthenticationFailedError,
    CommandArgumentError,
    DeviceBusyError,
    DeviceRefusedError,
    EndpointError,
    EndpointProtocolError,
    EndpointTimeoutError,
    EndpointTransportError,
    LocalProtocolError,
    UnsupportedCommandError,
)
from endpoints.interfaces import AudioMixer, Camera, Device, DeviceEvent, DeviceSpec
from endpoints.pjlink.client import NotificationListener
from endpoints.pjlink.projector import PjlinkProjector
from endpoints.registry import build_device
from endpoints.visca.transport import ViscaBus
from monitoring.metrics import SiteMetrics

if TYPE_CHECKING:
    from endpoints.snmp.traps import TrapReceiver
from monitoring.polling import DeviceHealth, DevicePoller, DeviceTransition, PollState

log = logging.getLogger(__name__)

KIND_NAMES: Final = {"camera": "Camera", "projector": "Máy chiếu", "mixer": "Bàn trộn âm thanh",
                     "power": "Bộ lưu điện", "network": "Thiết bị mạng"}

# Device failures are the device's, not the request's: 4xx per the API contract, with
# 424 (Failed Dependency) when the device could not be reached or answered wrongly.
_TRANSLATION: Final[tuple[tuple[type[EndpointError], int, str], ...]] = (
    (EndpointTimeoutError, 424, "{name} không phản hồi. Kiểm tra nguồn điện và dây cáp."),
    (EndpointTransportError, 424, "Không kết nối được với {name}. Kiểm tra dây cáp hoặc mạng."),
    (AuthenticationFailedError, 424,
     "{name} từ chối mật khẩu hoặc khoá truy cập; cần kiểm tra cấu hình."),
    (DeviceBusyError, 409, "{name} đang bận (đang khởi động hoặc xử lý lệnh khác); "
                           "thử lại sau ít giây."),
    (DeviceRefusedError, 409, "{name} từ chối lệnh này ở trạng thái hiện tại."),
    (UnsupportedCommandError, 400, "{name} không hỗ trợ lệnh này."),
    (CommandArgumentError, 400, "Tham số lệnh không hợp lệ; xem chi tiết kỹ thuật."),
    (LocalProtocolError, 400, "Lệnh không hợp lệ cho {name}."),
    (EndpointProtocolError, 424, "{name} trả lời không đúng giao thức."),
    (EndpointError, 424, "{name} báo lỗi."),
)


# Where a device's own error code says more than the error's class.
_BY_DEVICE_CODE: Final[dict[str, str]] = {
    "ERR4": "{name} báo hỏng phần cứng (đèn, quạt hoặc nhiệt độ); cần kiểm tra thiết bị.",
    "ERR3": "{name} chưa sẵn sàng (đang khởi động hoặc đang tắt); thử lại sau ít phút.",
}


def translate(exc: EndpointError, device_name: str) -> DependencyFailedError:
    """The controller error for an endpoint error, by the translation table."""
    for cls, status, template in _TRANSLATION:
        if isinstance(exc, cls):
            device_code = getattr(exc, "device_code", None)
            template = _BY_DEVICE_CODE.get(str(device_code), template)
            message = template.format(name=device_name)
            detail = exc.message + (f" [device code {device_code}]" if device_code else "")
            return DependencyFailedError(message, code=exc.code, status=status, detail=detail)
    raise AssertionError("EndpointError is the table's last row")  # pragma: no cover


def spec_from_config(cfg: DeviceConfig) -> DeviceSpec:
    """The driver's view of a configured device; secret files are read here."""
    options, secrets = split_secrets(cfg.options, f"device {cfg.id}")
    return DeviceSpec(
        id=cfg.id, kind=cfg.kind, protocol=cfg.protocol, name=cfg.name, host=cfg.host,
        port=cfg.tcp_port, serial_port=cfg.serial_port, baud=cfg.baud, address=cfg.address,
        options=options, secrets=secrets, timeout=float(cfg.options.get("timeout", 2.0)),
    )


@dataclass
class ManagedDevice:
    """One configured device with its driver and poller."""

    config: DeviceConfig
    device: Device | None
    build_error: str | None = None
    poller: DevicePoller | None = None
    opened: bool = False
    open_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return self.config.name or f"{KIND_NAMES.get(self.config.kind, 'Thiết bị')} " \
                                   f"{self.config.id}"


TransitionListener = Callable[[DeviceTransition], None]


class DeviceService:
    """Builds, polls and commands the site's devices."""

    def __init__(self, config: SiteConfig, store: Store, audit: AuditLog, metrics: SiteMetrics,
                 clock: Callable[[], float]) -> None:
        self.site = config
        self.store = store
        self.audit = audit
        self.metrics = metrics
        self.clock = clock
        self.listeners: list[TransitionListener] = []
        # Run after a device opens (e.g. subscribe a projector to the notification port).
        self.on_open: list[Callable[[Device], Awaitable[None]]] = []
        self._devices: dict[str, ManagedDevice] = {}
        self._visca_bus: ViscaBus | None = None
        self._pjlink_listener: NotificationListener | None = None
        self._trap_receiver: TrapReceiver | None = None
        shared: dict[str, object] = {}
        if any(d.protocol == "visca-serial" for d in config.devices):
            self._visca_bus = ViscaBus()
            shared["bus"] = self._visca_bus
        for cfg in config.devices:
            if not cfg.enabled:
                continue
            try:
                device: Device | None = build_device(spec_from_config(cfg), shared)
                error = None
            except (EndpointError, DiemcauError) as exc:
                device, error = None, exc.message
                log.error("device %s cannot be used: %s", cfg.id, error)
            except (ValueError, TypeError, KeyError) as exc:
                # A driver refusing its options: the device is unusable, the site runs on.
                device, error = None, f"invalid settings: {exc}"
                log.error("device %s cannot be used: %s", cfg.id, error)
            managed = ManagedDevice(cfg, device, error)
            if device is not None:
                device.set_event_sink(self._on_device_event)
                device.set_drop_counter(self._count_drop)
            self._devices[cfg.id] = managed

    # -- lifecycle ---------------------------------------------------------------------------

    async def open_listeners(self) -> None:
        """Bind the site-wide ports devices send to unasked (PJLink class 2 notifications)."""
        cfg = self.site.endpoints
        if cfg.pjlink_notify_host is not None and any(
                d.protocol == "pjlink" for d in self.site.devices):
            listener = NotificationListener(cfg.pjlink_notify_host, cfg.pjlink_notify_port,
                                            drop_counter=self._count_drop)
            try:
                await listener.start()
            except EndpointTransportError as exc:
                log.warning("projector notifications unavailable: %s", exc.message)
            else:
                self._pjlink_listener = listener

                async def attach(device: Device) -> None:
                    if isinstance(device, PjlinkProjector):
                        await device.attach_notifications(listener)

                self.on_open.append(attach)

        snmp = [spec_from_config(d) for d in self.site.devices
                if d.protocol == "snmp" and d.enabled]
        if cfg.snmp_trap_host is not None and snmp:
            await self._open_trap_receiver(cfg.snmp_trap_host, cfg.snmp_trap_port, snmp)

    async def _open_trap_receiver(self, host: str, port: int, specs: list[DeviceSpec]) -> None:
        """Traps (a UPS going on battery) become device events at once, not at the next poll."""
        from endpoints.snmp.notifications import TrapRouter
        from endpoints.snmp.traps import TrapReceiver, resolve_sources, trap_credentials

        try:
            communities, users = trap_credentials(specs)
            router = TrapRouter(await resolve_sources(specs), self.deliver_event,
                                self._count_drop)
            receiver = TrapReceiver(router, host=host, port=port, communities=communities,
                                    users=users, drop_counter=self._count_drop)
            await receiver.start()
        except EndpointError as exc:
            log.warning("SNMP traps unavailable: %s", exc.message)
            return
        self._trap_receiver = receiver

    def _count_drop(self, protocol: str, reason: str) -> None:
        self.metrics.frames_dropped.labels(protocol, reason).inc()

    def start(self, supervisor: TaskSupervisor) -> None:
        """Start one poller per device."""
        for managed in self._devices.values():
            if managed.device is None:
                continue
            state = PollState(managed.config.id, managed.config.poll_interval)
            poller = DevicePoller(
                state, self._poll_function(managed), self._on_transition,
                timeout=max(5.0, 3 * float(managed.config.options.get("timeout", 2.0))),
                clock=time.monotonic, describe_error=_describe)
            managed.poller = poller
            supervisor.start(f"poll:{managed.config.id}", poller.run())

    async def close(self) -> None:
        """Close every device (after the pollers were stopped)."""
        for managed in self._devices.values():
            if managed.device is not None and managed.opened:
                try:
                    await asyncio.wait_for(managed.device.close(), 5.0)
                except (EndpointError, OSError, TimeoutError):
                    log.warning("device %s did not close cleanly", managed.config.id,
                                exc_info=True)
                managed.opened = False
        if self._visca_bus is not None:
            await self._visca_bus.close()
        if self._pjlink_listener is not None:
            await self._pjlink_listener.close()
            self._pjlink_listener = None
        if self._trap_receiver is not None:
            await self._trap_receiver.stop()
            self._trap_receiver = None

    async def _ensure_open(self, managed: ManagedDevice) -> Device:
        if managed.device is None:
            raise DependencyFailedError(
                f"{managed.name} chưa dùng được: cấu hình hoặc trình điều khiển có lỗi; "
                "cần cán bộ kỹ thuật kiểm tra.",
                code="device_unusable", status=409, detail=managed.build_error or "")
        if not managed.opened:
            async with managed.open_lock:
                if not managed.opened:
                    await managed.device.open()
                    managed.opened = True
                    for hook in self.on_open:
                        try:
                            await hook(managed.device)
                        except EndpointError as exc:
                            log.warning("device %s: %s", managed.config.id, exc.message)
        return managed.device

    def _poll_function(self, managed: ManagedDevice) -> Callable[[], Any]:
        async def poll() -> Mapping[str, Any]:
            device = await self._ensure_open(managed)
            return await device.poll()
        return poll

    # -- events ------------------------------------------------------------------------------

    def _record_event(self, device_id: str, event: str, details: Mapping[str, Any]) -> None:
        self.store.execute(
            "INSERT INTO device_events(device_id, ts, event, details) VALUES (?, ?, ?, ?)",
            (device_id, self.clock(), event, json.dumps(dict(details), ensure_ascii=False,
                                                        default=str)))

    def _on_transition(self, transition: DeviceTransition) -> None:
        managed = self._devices[transition.device_id]
        self.metrics.device_up.labels(transition.device_id, managed.config.kind).set(
            1 if transition.online else 0)
        if transition.online:
            log.info("device %s is online (%s)", transition.device_id, transition.reason)
        else:
            log.warning("device %s is offline: %s", transition.device_id, transition.reason)
        self._record_event(transition.device_id, "online" if transition.online else "offline",
                           {"reason": transition.reason})
        for listener in self.listeners:
            listener(transition)

    def _on_device_event(self, event: DeviceEvent) -> None:
        log.info("device %s reports %s", event.device_id, event.name)
        self._record_event(event.device_id, event.name, event.data)
        managed = self._devices.get(event.device_id)
        if managed is not None and managed.poller is not None:
            managed.poller.poke()

    def deliver_event(self, event: DeviceEvent) -> None:
        """Feed an event that arrived outside the driver (an SNMP trap)."""
        if event.device_id in self._devices:
            self._on_device_event(event)

    # -- queries -----------------------------------------------------------------------------

    def _managed(self, device_id: str) -> ManagedDevice:
        managed = self._devices.get(device_id)
        if managed is None:
            raise NotFoundError(f"Không có thiết bị '{device_id}' ở điểm cầu này.",
                                code="device_not_found")
        return managed

    def ids(self) -> list[str]:
        """The ids of the devices in use."""
        return list(self._devices)

    def health(self, device_id: str) -> DeviceHealth | None:
        """The poller's view of a device, if it is polled."""
        poller = self._managed(device_id).poller
        return poller.state.health() if poller else None

    def describe(self, device_id: str) -> dict[str, Any]:
        """A device as the API shows it."""
        managed = self._managed(device_id)
        cfg = managed.config
        health = managed.poller.state.health() if managed.poller else None
        state = "unusable" if managed.device is None else (
            "unknown" if health is None or health.online is None
            else "online" if health.online else "offline")
        out: dict[str, Any] = {
            "id": cfg.id, "name": managed.name, "kind": cfg.kind, "protocol": cfg.protocol,
            "state": state,
            "since": _iso(health.since) if health else None,
            "last_ok": _iso(health.last_ok) if health else None,
            "last_error": managed.build_error or (health.last_error if health else None),
            "readings": dict(health.readings) if health else {},
            "commands": [c.name for c in commands_for(cfg.kind)],
        }
        device = managed.device
        if isinstance(device, Camera):
            out["presets"] = self.preset_names(cfg.id)
            out["limits"] = {"max_preset": device.max_preset}
        elif isinstance(device, AudioMixer):
            low, high = device.gain_range
            out["limits"] = {"gain_db": [low, high], "channels": list(device.channels)}
        return out

    def preset_names(self, device_id: str) -> list[dict[str, Any]]:
        """Named presets of a camera."""
        rows = self.store.query(
            "SELECT preset, name FROM camera_presets WHERE device_id = ? ORDER BY preset",
            (device_id,))
        return [{"preset": r["preset"], "name": r["name"]} for r in rows]

    # -- commands ----------------------------------------------------------------------------

    async def command(self, device_id: str, name: str, args: Mapping[str, Any], *, actor: str,
                      origin_site: str | None = None) -> dict[str, Any]:
        """Run one contract command on a device; audited when it changes the device."""
        managed = self._managed(device_id)
        started = time.perf_counter()
        result_label = "ok"
        audited = True
        try:
            if managed.device is not None:
                audited = find_command(managed.device, name).changes_device
            device = await self._ensure_open(managed)
            result = await execute(device, name, args)
        except EndpointError as exc:
            error = translate(exc, managed.name)
            result_label = error.code
            self._audit(managed, name, args, actor, origin_site, "error",
                        {"code": error.code, "detail": error.detail}, audited)
            raise error from exc
        except DependencyFailedError as error:
            result_label = error.code
            self._audit(managed, name, args, actor, origin_site, "error",
                        {"code": error.code, "detail": error.detail}, audited)
            raise
        finally:
            self.metrics.device_command_seconds.labels(
                managed.config.kind, name if len(name) <= 32 else "other",
                result_label).observe(time.perf_counter() - started)
        if name == "preset.store" and "name" in result:
            self._save_preset_name(device_id, int(result["preset"]), str(result["name"]), actor)
        elif name == "preset.reset":
            self.store.execute("DELETE FROM camera_presets WHERE device_id = ? AND preset = ?",
                               (device_id, args.get("preset")))
        self._audit(managed, name, args, actor, origin_site, "ok",
                    {"duration_ms": round((time.perf_counter() - started) * 1000)}, audited)
        if managed.poller is not None and audited:
            managed.poller.poke()
        return result

    def _audit(self, managed: ManagedDevice, name: str, args: Mapping[str, Any], actor: str,
               origin_site: str | None, result: str, extra: Mapping[str, Any],
               audited: bool) -> None:
        if not audited and result == "ok":
            return
        self.audit.record(actor, "device.command", managed.config.id, result=result,
                          details={"command": name, "args": dict(args), **extra},
                          origin_site=origin_site)

    def _save_preset_name(self, device_id: str, preset: int, name: str, actor: str) -> None:
        self.store.execute(
            "INSERT INTO camera_presets(device_id, preset, name, updated_at, updated_by)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(device_id, preset) DO UPDATE SET"
            " name = excluded.name, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            (device_id, preset, name, self.clock(), actor))

    async def probe(self, device_id: str, limit: float = 5.0) -> Mapping[str, Any]:
        """Open and poll once (for `diemcau doctor`); raises a translated error."""
        managed = self._managed(device_id)
        try:
            async with asyncio.timeout(limit):
                device = await self._ensure_open(managed)
                return await device.poll()
        except TimeoutError as exc:
            raise translate(EndpointTimeoutError("no answer to the probe"), managed.name) \
                from exc
        except EndpointError as exc:
            raise translate(exc, managed.name) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EndpointError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _iso(ts: float | None) -> str | None:
    # Health times come from the monotonic clock; show them as wall-clock times.
    if ts is None:
        return None
    wall = time.time() - (time.monotonic() - ts)
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")
