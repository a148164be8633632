"""The tree of sites as this site sees it: its subtree, routes down, commands and results.

Children report their whole subtree in ``topology`` parts; from those this site knows every
descendant, which child leads to it, and its parent (for delegating a subtree). Commands for a
descendant go to the child on its route and wait for the ``result``; a command for a site whose
route is offline fails at once. This site forwards its own subtree up when it changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from controller.config import SiteConfig
from controller.errors import DiemcauTimeoutError, NotFoundError, SiteUnreachableError
from controller.outbox import Outbox
from controller.uplink_protocol import (
    MAX_FRAME_BYTES,
    Command,
    Message,
    Records,
    RecordsAck,
    Result,
    SessionStatus,
    SessionUpdate,
    Topology,
)

log = logging.getLogger(__name__)

TOPOLOGY_PART_SITES: Final = 500  # sites per topology frame (~60 KB)
TOPOLOGY_PART_BYTES: Final = MAX_FRAME_BYTES // 2  # room left for the frame's own fields
TOPOLOGY_DEBOUNCE_SECONDS: Final = 1.0
FORWARD_MARGIN_SECONDS: Final = 0.5  # an intermediate site answers before its caller gives up
MAX_DESCENDANTS: Final = 20_000

Send = Callable[[Message], bool]


class SessionHandler(Protocol):
    """What the tree hands to the sessions service."""

    def on_session_from_parent(self, update: SessionUpdate) -> None: ...
    def on_status_from_child(self, child_id: str, status: SessionStatus) -> None: ...
    def on_child_subtree(self, child_id: str) -> None: ...
    def on_uplink_connected(self) -> None: ...
    async def execute_remote(self, command: Command) -> Result: ...


@dataclass
class SiteEntry:
    """One site of this subtree."""

    id: str
    name: str
    level: str
    parent: str | None
    online: bool
    via: str | None = None  # the child leading to it; None for this site itself
    summary: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The entry as sent up in a topology part."""
        return {"id": self.id, "name": self.name, "level": self.level, "parent": self.parent,
                "online": self.online, "summary": self.summary}


class SiteTree:
    """This site's subtree, routes, and the commands in flight through it."""

    def __init__(self, config: SiteConfig, summary: Callable[[], dict[str, Any]]) -> None:
        self.config = config
        self.self_id = config.site.id
        self.summary = summary
        self.entries: dict[str, SiteEntry] = {}
        self.names = {c.id: c.name or c.id for c in config.children}
        for child in config.children:
            self.entries[child.id] = SiteEntry(child.id, self.names[child.id], "", self.self_id,
                                               False, via=child.id)
        self._parts: dict[str, list[dict[str, Any]]] = {}
        self._pending: dict[str, asyncio.Future[Result]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dirty = asyncio.Event()
        self.sessions: SessionHandler | None = None
        self.outbox: Outbox | None = None
        self.send_up: Send = lambda _msg: False
        self.connected_up: Callable[[], bool] = lambda: False
        self.send_down: Callable[[str, Message], Awaitable[bool]] | None = None

    # -- what this site knows -------------------------------------------------------------------

    def own_entry(self) -> SiteEntry:
        """This site, with its current summary."""
        site = self.config.site
        parent = None
        return SiteEntry(site.id, site.name, site.level, parent, True, summary=self.summary())

    def known(self, site_id: str) -> bool:
        """Whether ``site_id`` is this site or in its subtree."""
        return site_id == self.self_id or site_id in self.entries

    def parents(self) -> dict[str, str | None]:
        """Each known site's parent (this site's own is None)."""
        out: dict[str, str | None] = {self.self_id: None}
        out.update({e.id: e.parent for e in self.entries.values()})
        return out

    def route(self, target: str) -> str | None:
        """The child on the way to ``target``."""
        entry = self.entries.get(target)
        return entry.via if entry else None

    def describe(self) -> list[dict[str, Any]]:
        """Every site below this one, for the API."""
        return [{**e.to_wire(), "via": e.via} for e in self.entries.values()]

    # -- the subtree, kept from the children's reports -------------------------------------

    def child_online(self, child_id: str, online: bool, summary: dict[str, Any]) -> None:
        """A direct child connected, went away, or sent a heartbeat."""
        entry = self.entries.get(child_id)
        if entry is None:
            return
        changed = entry.online != online or entry.summary != summary
        entry.online, entry.summary = online, summary
        if not online:
            for other in self.entries.values():
                if other.via == child_id and other.id != child_id and other.online:
                    other.online, changed = False, True
        if changed:
            self._dirty.set()

    def on_topology(self, child_id: str, msg: Topology) -> None:
        """One part of a child's subtree; the last part replaces what we knew through it."""
        parts = self._parts.setdefault(child_id, []) if msg.part else []
        if msg.part == 0:
            self._parts[child_id] = parts
        parts.extend(s for s in msg.sites if isinstance(s, dict))
        if not msg.last:
            if len(parts) > MAX_DESCENDANTS:
                self._parts.pop(child_id, None)
            return
        self._parts.pop(child_id, None)
        fresh: dict[str, SiteEntry] = {}
        for raw in parts[:MAX_DESCENDANTS]:
            entry = _entry_from_wire(raw, child_id)
            if entry is None or entry.id == self.self_id:
                continue
            if entry.id == child_id:
                entry.parent = self.self_id  # the name stays the site's own: the bridge shows it
            elif entry.id in self.names:
                continue  # a child claiming one of our other children
            fresh[entry.id] = entry
        if child_id not in fresh:
            old = self.entries[child_id]
            fresh[child_id] = SiteEntry(child_id, old.name, old.level, self.self_id,
                                        old.online, child_id, old.summary)
        for site_id in [s for s, e in self.entries.items() if e.via == child_id]:
            del self.entries[site_id]
        for site_id, entry in fresh.items():
            if site_id not in self.entries:
                self.entries[site_id] = entry
        self._dirty.set()
        if self.sessions is not None:
            self.sessions.on_child_subtree(child_id)

    def topology_parts(self) -> list[Topology]:
        """This site's subtree (itself first) cut into frames for the parent."""
        sites = [self.own_entry().to_wire()] + [e.to_wire() for e in self.entries.values()]
        # 500 sites, or fewer when descendants send long names and summaries: 500 entries at
        # the limits `_entry_from_wire` and `small_summary` allow exceed MAX_FRAME_BYTES.
        chunks: list[list[dict[str, Any]]] = [[]]
        size = 0
        for site in sites:
            cost = len(json.dumps(site, ensure_ascii=False).encode("utf-8")) + 1
            if chunks[-1] and (len(chunks[-1]) >= TOPOLOGY_PART_SITES
                               or size + cost > TOPOLOGY_PART_BYTES):
                chunks.append([])
                size = 0
            chunks[-1].append(site)
            size += cost
        return [Topology(i, i == len(chunks) - 1, chunk) for i, chunk in enumerate(chunks)]

    def send_topology(self) -> None:
        """Send the whole subtree up now (at connect, and when it changed)."""
        self._dirty.clear()
        if not self.connected_up():
            return  # nothing to build: a fresh link sends it whole on connecting
        for part in self.topology_parts():
            if not self.send_up(part):
                return

    async def run(self) -> None:
        """Send the subtree up whenever it changed, at most once a second; until cancelled."""
        while True:
            await self._dirty.wait()
            await asyncio.sleep(TOPOLOGY_DEBOUNCE_SECONDS)
            self.send_topology()

    def mark_changed(self) -> None:
        """Something in this site's own summary changed."""
        self._dirty.set()

    # -- commands ------------------------------------------------------------------------------

    def new_command(self, *, session_id: str, origin_user: str, target: str, action: str,
                    args: dict[str, Any], ttl: float) -> Command:
        """A command from this site."""
        return Command(uuid.uuid4().hex, session_id, self.self_id, origin_user[:64], target,
                       action, args, ttl)

    async def send_command(self, command: Command) -> Result:
        """Send ``command`` down towards its target and wait for its result."""
        child = self.route(command.target)
        if child is None:
            raise NotFoundError(f"Không biết điểm cầu '{command.target}' trong cây điểm cầu.",
                                code="unknown_site")
        entry = self.entries[child]
        if not entry.online or self.send_down is None:
            raise SiteUnreachableError(
                f"Điểm cầu '{self.names.get(child, child)}' đang mất kết nối; lệnh không được "
                "gửi đi.")
        target = self.entries[command.target]
        if not target.online:  # known offline further down: no need to ask on the way
            raise SiteUnreachableError(
                f"Điểm cầu '{target.name}' đang mất kết nối; lệnh không được gửi đi.")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[command.id] = future
        try:
            if not await self.send_down(child, command):
                raise SiteUnreachableError(
                    f"Điểm cầu '{self.names.get(child, child)}' vừa mất kết nối; lệnh không "
                    "được gửi đi.")
            try:
                async with asyncio.timeout(command.ttl):
                    return await future
            except TimeoutError:
                raise DiemcauTimeoutError(
                    f"Điểm cầu '{command.target}' không trả lời trong {command.ttl:.0f} giây.",
                    code="command_timeout") from None
        finally:
            self._pending.pop(command.id, None)

    def on_result(self, result: Result) -> None:
        """A result came up from a child."""
        future = self._pending.get(result.id)
        if future is not None and not future.done():
            future.set_result(result)

    def on_command_from_parent(self, command: Command) -> None:
        """Execute here, or pass on towards the target; the result goes back up."""
        task = asyncio.create_task(self._answer(command), name=f"command-{command.id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, command: Command) -> None:
        try:
            if command.target == self.self_id:
                if self.sessions is None:
                    raise NotFoundError("no sessions here", code="unknown_session")
                result = await self.sessions.execute_remote(command)
            else:
                ttl = max(0.1, command.ttl - FORWARD_MARGIN_SECONDS)
                result = await self.send_command(Command(
                    command.id, command.session_id, command.origin_site, command.origin_user,
                    command.target, command.action, command.args, ttl))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure becomes a result, never a lost command
            code = getattr(exc, "code", "error")
            message = getattr(exc, "message", None) or f"{type(exc).__name__}"
            if not hasattr(exc, "code"):
                log.exception("command %s for %s failed", command.action, command.target)
            result = Result(command.id, False, str(code), str(message)[:250], {})
        self.send_up(result)

    def on_message_from_child(self, child_id: str, msg: Message) -> bool:
        """Dispatch a child's frame; False when it is not one for the tree."""
        if isinstance(msg, Topology):
            self.on_topology(child_id, msg)
        elif isinstance(msg, Result):
            self.on_result(msg)
        elif isinstance(msg, SessionStatus):
            if self.sessions is not None and self.route(msg.site_id) == child_id:
                self.sessions.on_status_from_child(child_id, msg)
        elif isinstance(msg, Records):
            if self.outbox is not None:
                keys = self.outbox.receive(msg.items, via=child_id)
                if keys and self.send_down is not None:
                    self._spawn(self.send_down(child_id, RecordsAck(keys)))
        else:
            return False
        return True

    def _spawn(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            await work
        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_message_from_parent(self, msg: Message) -> bool:
        """Dispatch the parent's frame; False when it is not one for the tree."""
        if isinstance(msg, Command):
            self.on_command_from_parent(msg)
        elif isinstance(msg, SessionUpdate):
            if self.sessions is not None:
                self.sessions.on_session_from_parent(msg)
        elif isinstance(msg, RecordsAck):
            if self.outbox is not None:
                self.outbox.on_ack(msg)
        else:
            return False
        return True

    def on_uplink_connected(self) -> None:
        """A fresh link to the parent: resend everything the parent keeps of us."""
        self.send_topology()
        if self.sessions is not None:
            self.sessions.on_uplink_connected()
        if self.outbox is not None:
            self.outbox.wake()

    async def close(self) -> None:
        """Cancel commands in progress (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with suppress(asyncio.CancelledError):
                await task
        for future in self._pending.values():
            future.cancel()


def _entry_from_wire(raw: dict[str, Any], via: str) -> SiteEntry | None:
    site_id, parent = raw.get("id"), raw.get("parent")
    if not isinstance(site_id, str) or not 0 < len(site_id) <= 64:
        return None
    summary = raw.get("summary")
    return SiteEntry(
        id=site_id, name=str(raw.get("name") or site_id)[:120],
        level=str(raw.get("level") or "")[:16],
        parent=parent if isinstance(parent, str) and len(parent) <= 64 else None,
        online=raw.get("online") is True, via=via,
        summary=small_summary(summary) if isinstance(summary, dict) else {})


def small_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Keep only short scalar summary values from a child."""
    out: dict[str, Any] = {}
    for key, value in list(summary.items())[:20]:
        if isinstance(key, str) and len(key) <= 40 and (
                isinstance(value, int | float | bool) or (isinstance(value, str)
                                                          and len(value) <= 80)):
            out[key] = value
    return out
