"""Calls to conference bridges: join, leave, link health every second, events recorded.

The media layer's errors become controller errors here, with a plain Vietnamese
message for the officer; the adapter's English text stays in ``detail``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from controller.audit import AuditLog
from controller.config import BridgeConfig, SiteConfig, split_secrets
from controller.errors import (
    ConflictError,
    DependencyFailedError,
    DiemcauError,
    InputError,
    NotFoundError,
)
from controller.store import Store
from controller.tasks import TaskSupervisor
from media.bridges.base import (
    Bridge,
    BridgeRefusedError,
    BridgeSpec,
    BridgeUnreachableError,
    Call,
    CallEvent,
    CallState,
    InsecureMediaError,
    JoinOptions,
    MediaError,
    MediaNegotiationError,
    MediaTimeoutError,
)
from media.bridges.registry import build_bridge
from media.playout import (
    BadOfferError,
    NoRemoteMediaError,
    Playout,
    PlayoutClosedError,
    TooManyViewersError,
)
from media.stats import LinkSample
from monitoring.metrics import SiteMetrics

log = logging.getLogger(__name__)

SAMPLE_SECONDS: Final = 1.0
# MOS and loss bands of the console's link-health strip.
GREEN_MOS: Final = 4.0
AMBER_MOS: Final = 3.1

_TRANSLATION: Final[tuple[tuple[type[MediaError], int, str], ...]] = (
    (BridgeUnreachableError, 424, "Không kết nối được tới điểm cầu chủ trì ({name}). "
                                  "Kiểm tra đường truyền."),
    (BridgeRefusedError, 409, "Điểm cầu chủ trì ({name}) từ chối kết nối (sai phòng, sai mã "
                              "hoặc phòng đã đầy)."),
    (MediaTimeoutError, 424, "Kết nối tới {name} quá chậm, hết thời gian chờ."),
    (InsecureMediaError, 409, "Phiên họp mật chỉ được dùng đường truyền mã hoá; {name} không "
                              "đáp ứng."),
    (MediaNegotiationError, 424, "Không thiết lập được âm thanh, hình ảnh với {name}."),
    (MediaError, 424, "Lỗi kết nối hội nghị với {name}."),
)


def translate(exc: MediaError, bridge_name: str) -> DependencyFailedError:
    """The controller error for a media error, by the translation table."""
    for cls, status, template in _TRANSLATION:
        if isinstance(exc, cls):
            return DependencyFailedError(template.format(name=bridge_name), code=exc.code,
                                         status=status, detail=exc.message)
    raise AssertionError("MediaError is the table's last row")  # pragma: no cover


def health_colour(samples: Sequence[LinkSample]) -> str:
    """green, amber or red for the console strip; grey with no samples yet."""
    mos = [s.mos for s in samples if s.mos is not None]
    loss = [s.loss_percent for s in samples if s.loss_percent is not None]
    if not mos and not loss:
        return "grey"
    worst_mos = min(mos) if mos else 4.5
    worst_loss = max(loss) if loss else 0.0
    if worst_mos >= GREEN_MOS and worst_loss < 1.0:
        return "green"
    if worst_mos >= AMBER_MOS and worst_loss < 5.0:
        return "amber"
    return "red"


def spec_from_config(cfg: BridgeConfig) -> BridgeSpec:
    """The adapter's view of a configured bridge; secret files are read here."""
    options, secrets = split_secrets(cfg.options, f"bridge {cfg.id}")
    ice = options.pop("ice_servers", [])
    ice_servers = [dict(server) for server in ice if isinstance(server, dict)] \
        if isinstance(ice, list) else []
    turn_secret = secrets.pop("turn_credential", None)
    if turn_secret is not None:
        # TURN servers take their password from the secret file, never from the config.
        for server in ice_servers:
            if "username" in server and "credential" not in server:
                server["credential"] = turn_secret
    return BridgeSpec(id=cfg.id, kind=cfg.kind, url=cfg.url, room=cfg.room, name=cfg.name,
                      options=options, secrets=secrets, ice_servers=ice_servers)


@dataclass
class ManagedBridge:
    """One configured bridge, its adapter and its current call."""

    config: BridgeConfig
    bridge: Bridge | None
    build_error: str | None = None
    call: Call | None = None
    call_started_by: str = ""
    samples: list[LinkSample] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)
    playout: Playout | None = None  # browsers watching the call, made on the first watch
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return self.config.name or self.config.id


class CallService:
    """The site's bridges and calls."""

    def __init__(self, config: SiteConfig, store: Store, audit: AuditLog, metrics: SiteMetrics,
                 clock: Callable[[], float]) -> None:
        self.site = config
        self.store = store
        self.audit = audit
        self.metrics = metrics
        self.clock = clock
        self.listeners: list[Callable[[str, Sequence[LinkSample]], None]] = []
        self.event_listeners: list[Callable[[str, CallEvent], None]] = []
        self._supervisor: TaskSupervisor | None = None
        self._bridges: dict[str, ManagedBridge] = {}
        for cfg in config.bridges:
            try:
                bridge: Bridge | None = build_bridge(spec_from_config(cfg))
                error = None
            except (MediaError, DiemcauError) as exc:
                bridge, error = None, exc.message
                log.error("bridge %s cannot be used: %s", cfg.id, error)
            except (ValueError, TypeError, KeyError) as exc:
                bridge, error = None, f"invalid settings: {exc}"
                log.error("bridge %s cannot be used: %s", cfg.id, error)
            self._bridges[cfg.id] = ManagedBridge(cfg, bridge, error)

    def start(self, supervisor: TaskSupervisor) -> None:
        """Remember who owns the per-call sampling tasks."""
        self._supervisor = supervisor

    async def close(self) -> None:
        """Hang up every call and release the bridges."""
        for managed in self._bridges.values():
            if managed.call is not None:
                await self._hang_up(managed, "shutdown", actor="system")
            if managed.bridge is not None:
                try:
                    await asyncio.wait_for(managed.bridge.close(), 5.0)
                except (MediaError, OSError, TimeoutError):
                    log.warning("bridge %s did not close cleanly", managed.config.id,
                                exc_info=True)

    def _managed(self, bridge_id: str) -> ManagedBridge:
        managed = self._bridges.get(bridge_id)
        if managed is None:
            raise NotFoundError(f"Không có cầu hội nghị '{bridge_id}'.", code="bridge_not_found")
        return managed

    def ids(self) -> list[str]:
        """Configured bridge ids."""
        return list(self._bridges)

    def describe(self, bridge_id: str) -> dict[str, Any]:
        """A bridge and its call as the API shows them."""
        managed = self._managed(bridge_id)
        call = managed.call
        return {
            "id": managed.config.id, "name": managed.name, "kind": managed.config.kind,
            "room": managed.config.room,
            "usable": managed.bridge is not None, "error": managed.build_error,
            "call": None if call is None else {
                **call.describe(),
                "started_by": managed.call_started_by,
                "health": health_colour(managed.samples),
                "samples": [asdict(s) for s in managed.samples],
                "events": [{"name": e.name, "at": e.at, "data": dict(e.data)}
                           for e in managed.events[-20:]],
            },
        }

    # -- join and leave ----------------------------------------------------------------------

    async def join(self, bridge_id: str, *, actor: str, subscribe: str = "all",
                   secret: bool = False) -> dict[str, Any]:
        """Join a bridge's conference (one call per bridge); audited."""
        managed = self._managed(bridge_id)
        async with managed.lock:
            if managed.bridge is None:
                raise DependencyFailedError(
                    f"Cầu {managed.name} chưa dùng được; cần kiểm tra cấu hình.",
                    code="bridge_unusable", status=409, detail=managed.build_error or "")
            if managed.call is not None and managed.call.state != CallState.ENDED:
                raise ConflictError(f"Đang trong hội nghị trên {managed.name}.",
                                    code="already_joined")
            media = self.site.media
            options = JoinOptions(display=self.site.site.name, video_source=media.video_source,
                                  audio_source=media.audio_source, subscribe=subscribe,
                                  secret=secret, width=media.width, height=media.height,
                                  fps=media.fps)
            try:
                call = await managed.bridge.join(options)
            except MediaError as exc:
                error = translate(exc, managed.name)
                self.audit.record(actor, "call.join", bridge_id, result="error",
                                  details={"code": error.code, "detail": error.detail})
                raise error from exc
            managed.call, managed.call_started_by = call, actor
            managed.samples, managed.events = [], []
            call.subscribe(lambda event: self._on_event(managed, event))
            self.store.execute(
                "INSERT INTO calls(id, bridge_id, started_at, started_by) VALUES (?, ?, ?, ?)",
                (call.id, bridge_id, self.clock(), actor))
            if call.state == CallState.CONNECTED:
                # Announced inside join(), before anyone could listen.
                self._on_event(managed, CallEvent(call.id, "connected", self.clock()))
            self.audit.record(actor, "call.join", bridge_id, details={"call": call.id})
            self._set_state_metric(managed, call.state)
            if self._supervisor is not None:
                self._supervisor.start(f"sample:{call.id}", self._sample(managed, call))
            return self.describe(bridge_id)

    async def leave(self, bridge_id: str, *, actor: str) -> dict[str, Any]:
        """Hang up the bridge's call; audited."""
        managed = self._managed(bridge_id)
        async with managed.lock:
            if managed.call is None:
                raise ConflictError(f"Không có cuộc gọi nào trên {managed.name}.",
                                    code="not_joined")
            await self._hang_up(managed, "left", actor=actor)
        return self.describe(bridge_id)

    async def moderate(self, display: str, *, mute: bool, actor: str) -> int:
        """Mute or unmute a participant's audio at every bridge this site is in a call on,
        where the bridge allows moderation; audited when something changed or failed."""
        changed = 0
        for managed in self._bridges.values():
            call = managed.call
            if call is None or call.state == CallState.ENDED:
                continue
            try:
                count = await call.moderate(display, mute=mute)
            except MediaError as exc:
                error = translate(exc, managed.name)
                self.audit.record(actor, "call.moderate", managed.config.id, result="error",
                                  details={"display": display, "mute": mute,
                                           "code": error.code, "detail": error.detail})
                continue
            if count:
                changed += count
                self.audit.record(actor, "call.moderate", managed.config.id,
                                  details={"display": display, "mute": mute, "streams": count})
        return changed

    # -- playout --------------------------------------------------------------------------

    async def watch(self, bridge_id: str, sdp: str, kind: str) -> dict[str, str]:
        """Answer a console browser's offer with the call's received media (not audited)."""
        managed = self._managed(bridge_id)
        call = managed.call
        if call is None or call.state == CallState.ENDED:
            raise ConflictError(f"Không có cuộc gọi nào trên {managed.name}.", code="not_joined")
        if managed.playout is None or managed.playout.call is not call:
            managed.playout = Playout(call)
        try:
            answer = await managed.playout.answer(sdp, kind)
        except BadOfferError as exc:
            error = InputError("Trình duyệt gửi yêu cầu xem không hợp lệ.", code=exc.code)
            error.detail = exc.message
            raise error from exc
        except NoRemoteMediaError as exc:
            raise DependencyFailedError(
                f"Chưa nhận được hình ảnh, âm thanh nào từ {managed.name}.",
                code=exc.code, status=409, detail=exc.message) from exc
        except PlayoutClosedError as exc:
            raise DependencyFailedError(f"Cuộc gọi trên {managed.name} đã kết thúc.",
                                        code="not_joined", status=409,
                                        detail=exc.message) from exc
        except TooManyViewersError as exc:
            raise DependencyFailedError("Đã có quá nhiều màn hình đang xem hội nghị này.",
                                        code=exc.code, status=409,
                                        detail=exc.message) from exc
        except MediaError as exc:
            raise translate(exc, managed.name) from exc
        return {"sdp": answer.sdp, "type": answer.type}

    async def _hang_up(self, managed: ManagedBridge, reason: str, *, actor: str) -> None:
        call = managed.call
        if call is None:
            return
        if managed.playout is not None:
            playout, managed.playout = managed.playout, None
            await playout.close()
        try:
            await asyncio.wait_for(call.leave(), 10.0)
        except (MediaError, OSError, TimeoutError) as exc:
            log.warning("call %s did not hang up cleanly: %s", call.id, exc)
        self.store.execute("UPDATE calls SET ended_at = ?, end_reason = ? WHERE id = ?",
                           (self.clock(), reason, call.id))
        self.audit.record(actor, "call.leave", managed.config.id,
                          details={"call": call.id, "reason": reason})
        self._set_state_metric(managed, CallState.ENDED)
        managed.call = None
        managed.samples = []

    # -- events and samples ------------------------------------------------------------------

    def _on_event(self, managed: ManagedBridge, event: CallEvent) -> None:
        for listener in self.event_listeners:
            try:
                listener(managed.config.id, event)
            except Exception:
                log.exception("a call event listener failed on %s", event.name)
        managed.events.append(event)
        del managed.events[:-200]
        if event.name != "room":
            log.info("call %s on %s: %s %s", event.call_id, managed.config.id, event.name,
                     dict(event.data) or "")
        self.store.execute(
            "INSERT INTO call_events(call_id, ts, event, details) VALUES (?, ?, ?, ?)",
            (event.call_id, event.at, event.name,
             json.dumps(dict(event.data), ensure_ascii=False, default=str)))
        if managed.call is not None:
            self._set_state_metric(managed, managed.call.state)

    def _set_state_metric(self, managed: ManagedBridge, state: CallState) -> None:
        for value in CallState:
            self.metrics.call_state.labels(managed.config.id, value.value).set(
                1 if value == state else 0)

    async def _sample(self, managed: ManagedBridge, call: Call) -> None:
        """Every second: the call's link samples into the strip, the metrics, the listeners."""
        while managed.call is call:
            try:
                samples = list(await call.stats())
            except MediaError as exc:
                log.debug("no stats for call %s: %s", call.id, exc.message)
                samples = []
            managed.samples = samples
            for sample in samples:
                self._export(managed.config.id, sample)
            for listener in self.listeners:
                listener(managed.config.id, samples)
            await asyncio.sleep(SAMPLE_SECONDS)

    def _export(self, bridge_id: str, sample: LinkSample) -> None:
        labels = (bridge_id, sample.direction, sample.kind)
        gauges: Mapping[str, float | None] = {
            "loss_percent": sample.loss_percent, "jitter_ms": sample.jitter_ms,
            "rtt_ms": sample.rtt_ms, "bitrate_kbps": sample.bitrate_kbps, "fps": sample.fps,
            "mos": sample.mos,
        }
        for name, value in gauges.items():
            if value is not None:
                self.metrics.link[name].labels(*labels).set(value)
