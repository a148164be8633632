"""The uplink's thin I/O: a child dialling its parent, and the parent's ``/uplink`` endpoint."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from controller.audit import AuditLog
from controller.config import ChildConfig, SiteConfig, read_secret
from controller.errors import StorageError
from controller.tree import SiteTree, small_summary
from controller.uplink_protocol import (
    MAX_FRAME_BYTES,
    Ack,
    Auth,
    Challenge,
    Error,
    Heartbeat,
    Hello,
    Message,
    ProtocolViolation,
    UplinkBackoff,
    Welcome,
    decode,
    encode,
    new_nonce,
    proof,
    verify_proof,
)

log = logging.getLogger(__name__)

HANDSHAKE_SECONDS = 10.0
# Children heartbeat at most every 20 s (config limit), so 3 missed beats mean trouble.
SILENT_CHILD_SECONDS = 65.0
MISSED_ACKS = 3  # heartbeats without an ack before the link counts as dead
FATAL_ERRORS = frozenset({"not_authorised", "protocol"})  # the parent's errors that end a link

Summary = Callable[[], dict[str, Any]]


class UplinkRefused(Exception):
    """The parent said no, or broke the protocol, during the handshake."""


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UplinkClient:
    """The child side: keeps one authenticated WebSocket to the parent, with heartbeats."""

    def __init__(self, config: SiteConfig, version: str, summary: Summary,
                 clock: Callable[[], float], backoff: UplinkBackoff | None = None,
                 tree: SiteTree | None = None) -> None:
        assert config.uplink is not None
        self.site = config.site
        self.uplink = config.uplink
        self.version = version
        self.summary = summary
        self.clock = clock
        self.backoff = backoff or UplinkBackoff()
        self.state = "disconnected"
        self.since: float = clock()
        self.last_error: str | None = None
        self.parent_id: str | None = None
        self.tree = tree
        self._outbox: asyncio.Queue[str] | None = None
        self._ever_failed = False
        self.count_drop: Callable[[str], None] = lambda _reason: None

    def send(self, msg: Message) -> bool:
        """Queue ``msg`` for the parent; False when not connected (state is resent later)."""
        if self._outbox is None or self.state != "connected":
            return False
        self._outbox.put_nowait(encode(msg))
        return True

    def describe(self) -> dict[str, Any]:
        """The uplink as the API shows it (``since`` as a timestamp)."""
        return {"configured": True, "url": self.uplink.url, "state": self.state,
                "since": self.since, "parent": self.parent_id, "last_error": self.last_error}

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        previous, self.state, self.since = self.state, state, self.clock()
        if state == "connected":
            log.info("uplink to %s connected", self.parent_id)
        elif previous == "connected":
            log.warning("uplink to %s lost: %s", self.uplink.url, self.last_error)
        elif state == "disconnected" and not self._ever_failed:
            self._ever_failed = True  # once, not at every retry
            log.warning("uplink to %s not reachable: %s; retrying", self.uplink.url,
                        self.last_error)

    async def run(self) -> None:
        """Connect, stay connected, reconnect with backoff; until cancelled."""
        if urlsplit(self.uplink.url).scheme != "wss" and not _is_loopback(self.uplink.url):
            self.last_error = "TLS (wss://) is required outside loopback"
            log.error("uplink %s refused: %s", self.uplink.url, self.last_error)
            return
        loop = asyncio.get_running_loop()
        timeout = aiohttp.ClientTimeout(total=None, connect=HANDSHAKE_SECONDS,
                                        sock_connect=HANDSHAKE_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while True:
                    await asyncio.sleep(self.backoff.delay(loop.time()))
                    self._set_state("connecting")
                    try:
                        await self._connect_once(session)
                        self.last_error = "closed by the parent"
                    except UplinkRefused as exc:
                        self.last_error = str(exc)
                    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                        self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                    except StorageError as exc:
                        self.last_error = str(exc)
                    self._set_state("disconnected")
                    self.backoff.failed(loop.time())
            finally:
                self.state, self.since = "disconnected", self.clock()

    async def _connect_once(self, session: aiohttp.ClientSession) -> None:
        credential = await asyncio.to_thread(read_secret, self.uplink.credential_file)
        async with session.ws_connect(self.uplink.url, max_msg_size=MAX_FRAME_BYTES,
                                      autoclose=True, autoping=True,
                                      heartbeat=None) as ws:
            await ws.send_str(encode(Hello(self.site.id, self.site.level,
                                           self.site.name, self.version)))
            challenge = await _receive(ws, HANDSHAKE_SECONDS)
            if not isinstance(challenge, Challenge):
                raise UplinkRefused(_why(challenge, "challenge"))
            await ws.send_str(encode(Auth(self.site.id,
                                          proof(credential, challenge.nonce, self.site.id))))
            welcome = await _receive(ws, HANDSHAKE_SECONDS)
            if not isinstance(welcome, Welcome):
                raise UplinkRefused(_why(welcome, "welcome"))
            self.parent_id = welcome.parent_id
            self.last_error = None
            self.backoff.succeeded()
            self._outbox = asyncio.Queue()
            self._set_state("connected")
            try:
                if self.tree is not None:
                    self.tree.on_uplink_connected()
                await self._exchange(ws, self._outbox)
            finally:
                self._outbox = None

    async def _exchange(self, ws: aiohttp.ClientWebSocketResponse,
                        outbox: asyncio.Queue[str]) -> None:
        """Heartbeats and queued frames out, the parent's frames in, until the link ends."""
        acked = [0]
        receiver = asyncio.create_task(self._receive_loop(ws, acked), name="uplink-receive")
        try:
            seq = 0
            loop = asyncio.get_running_loop()
            next_beat = loop.time()
            while not receiver.done():
                if loop.time() >= next_beat:
                    if seq - acked[0] >= MISSED_ACKS:
                        raise UplinkRefused(f"no ack for {MISSED_ACKS} heartbeats")
                    seq += 1
                    await ws.send_str(encode(Heartbeat(seq, self.clock(), self.summary())))
                    next_beat = loop.time() + self.uplink.heartbeat_seconds
                frame = await _next_frame(outbox, receiver, max(0.0, next_beat - loop.time()))
                if frame is not None:
                    await ws.send_str(frame)
            receiver.result()  # raises what ended the receiver
        finally:
            receiver.cancel()
            with suppress(asyncio.CancelledError):
                await receiver

    async def _receive_loop(self, ws: aiohttp.ClientWebSocketResponse,
                            acked: list[int]) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            event = decode(msg.data)
            if isinstance(event, Ack):
                acked[0] = max(acked[0], event.seq)
            elif isinstance(event, Error):
                if event.code in FATAL_ERRORS:
                    raise UplinkRefused(f"parent error {event.code}: {event.message[:120]}")
                # A parent of another version may not know a frame of ours: keep the link.
                log.warning("the parent could not use a frame of ours: %s %s", event.code,
                            event.message[:120])
            elif isinstance(event, ProtocolViolation):
                log.debug("uplink: bad frame from the parent: %s", event.reason)
                self.count_drop(event.reason)
                await ws.send_str(encode(Error(event.reason, event.detail[:200])))
            elif self.tree is None or not self.tree.on_message_from_parent(event):
                log.debug("uplink: ignored %s from the parent", type(event).__name__)


async def _receive(ws: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
                   seconds: float) -> Message | ProtocolViolation | None:
    """The next text frame decoded; None when the socket closed or timed out."""
    try:
        msg = await ws.receive(timeout=seconds)
    except TimeoutError:
        return None
    if msg.type == aiohttp.WSMsgType.TEXT:
        return decode(msg.data)
    if msg.type == aiohttp.WSMsgType.BINARY:
        return ProtocolViolation("malformed", "binary frame")
    return None


async def _next_frame(outbox: asyncio.Queue[str], receiver: asyncio.Future[Any],
                      within: float) -> str | None:
    """The next queued frame; None when ``within`` seconds passed or ``receiver`` ended.

    A frame taken off the queue is always returned: the wait has its own timeout rather than
    being cancelled from outside, which could drop a frame just taken.
    """
    if not outbox.empty():
        return outbox.get_nowait()
    getter = asyncio.ensure_future(outbox.get())
    try:
        await asyncio.wait({getter, receiver}, timeout=within,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()  # Queue.get leaves the item in the queue when cancelled
            with suppress(asyncio.CancelledError):
                await getter
    return None if getter.cancelled() else getter.result()


def _why(got: Message | ProtocolViolation | None, wanted: str) -> str:
    if isinstance(got, Error):
        return f"refused by the parent: {got.code}"
    if got is None:
        return f"no {wanted} from the parent"
    return f"expected {wanted}, got {type(got).__name__}"


@dataclass
class ChildLink:
    """What the parent knows of one configured child."""

    config: ChildConfig
    state: str = "offline"
    since: float | None = None
    last_heartbeat: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    ws: web.WebSocketResponse | None = None


class ChildHub:
    """The parent side: accepts configured children on ``/uplink`` and tracks them."""

    def __init__(self, config: SiteConfig, audit: AuditLog,
                 clock: Callable[[], float], tree: SiteTree | None = None) -> None:
        self.site_id = config.site.id
        self.audit = audit
        self.clock = clock
        self.tree = tree
        self.children = {c.id: ChildLink(c) for c in config.children}
        self.silence_limit = SILENT_CHILD_SECONDS
        self.count_drop: Callable[[str], None] = lambda _reason: None

    async def send(self, child_id: str, msg: Message) -> bool:
        """Send ``msg`` to a connected child; False when it is not connected."""
        link = self.children.get(child_id)
        if link is None or link.ws is None or link.ws.closed:
            return False
        try:
            await link.ws.send_str(encode(msg))
        except (ConnectionError, RuntimeError):
            return False
        return True

    def describe(self, child_id: str) -> dict[str, Any]:
        """One child as the API shows it (timestamps as numbers)."""
        link = self.children[child_id]
        return {"state": link.state, "since": link.since,
                "last_heartbeat": link.last_heartbeat, "summary": dict(link.summary)}

    async def close(self) -> None:
        """Close every child's connection (at shutdown)."""
        for link in self.children.values():
            if link.ws is not None:
                await link.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY,
                                    message=b"parent stopping")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /uplink``: one child's WebSocket, from handshake to close."""
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, autoping=True)
        await ws.prepare(request)
        try:
            link = await self._handshake(ws, request.remote or "?")
        except (ConnectionError, RuntimeError) as exc:  # the child went away mid-handshake
            log.info("uplink from %s closed during the handshake: %s", request.remote, exc)
            return ws
        if link is None:
            await ws.close()
            return ws
        try:
            await self._serve(ws, link)
        except (ConnectionError, RuntimeError) as exc:
            log.info("uplink of child %s broke: %s", link.config.id, exc)
        finally:
            if link.ws is ws:  # a newer connection may have replaced this one
                link.ws = None
                link.state, link.since = "offline", self.clock()
                log.info("child %s went offline", link.config.id)
                if self.tree is not None:
                    self.tree.child_online(link.config.id, False, link.summary)
        return ws

    async def _refuse(self, ws: web.WebSocketResponse, remote: str, site_id: str,
                      code: str, message: str) -> None:
        self._audit("uplink.child_refused", site_id[:64], "refused",
                    {"reason": code, "remote": remote})
        log.warning("refused uplink from %s (%r): %s", remote, site_id[:64], code)
        await ws.send_str(encode(Error(code, message)))

    async def _handshake(self, ws: web.WebSocketResponse, remote: str) -> ChildLink | None:
        hello = await _receive(ws, HANDSHAKE_SECONDS)
        if not isinstance(hello, Hello):
            await self._refuse(ws, remote, "", "protocol", "expected hello")
            return None
        nonce = new_nonce()
        await ws.send_str(encode(Challenge(nonce)))
        auth = await _receive(ws, HANDSHAKE_SECONDS)
        if not isinstance(auth, Auth) or auth.site_id != hello.site_id:
            await self._refuse(ws, remote, hello.site_id, "protocol", "expected auth")
            return None
        link = self.children.get(auth.site_id)
        credential = None
        if link is not None:
            try:
                credential = await asyncio.to_thread(read_secret, link.config.credential_file)
            except OSError:
                log.error("cannot read the credential file of child %s", auth.site_id)
        if link is None or not credential or not verify_proof(credential, nonce, auth.site_id,
                                                             auth.proof):
            await self._refuse(ws, remote, auth.site_id, "not_authorised",
                               "unknown site or wrong credential")
            return None
        old = link.ws
        link.ws = ws
        link.state, link.since = "online", self.clock()
        if old is not None:
            await old.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=b"replaced")
        self._audit("uplink.child_connected", link.config.id, "ok",
                    {"remote": remote, "level": hello.level, "version": hello.version[:64]})
        log.info("child %s online from %s", link.config.id, remote)
        await ws.send_str(encode(Welcome(self.site_id)))
        if self.tree is not None:
            self.tree.child_online(link.config.id, True, link.summary)
        return link

    async def _serve(self, ws: web.WebSocketResponse, link: ChildLink) -> None:
        while True:
            try:
                msg = await ws.receive(timeout=self.silence_limit)
            except TimeoutError:
                # Connected but mute (a hung child, a half-open NAT path): call it offline.
                log.warning("child %s sent nothing for %.0f s; closing its link",
                            link.config.id, self.silence_limit)
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"silent")
                return
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return
            if msg.type == aiohttp.WSMsgType.TEXT:
                event = decode(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                event = ProtocolViolation("malformed", "binary frame")
            else:
                continue
            if isinstance(event, Heartbeat):
                link.last_heartbeat = self.clock()
                summary = small_summary(event.summary)
                if summary != link.summary:  # most beats repeat the last summary: keep it
                    link.summary = summary
                if self.tree is not None:
                    self.tree.child_online(link.config.id, True, link.summary)
                await ws.send_str(encode(Ack(event.seq)))
            elif self.tree is not None and not isinstance(event, ProtocolViolation) \
                    and self.tree.on_message_from_child(link.config.id, event):
                continue
            elif isinstance(event, ProtocolViolation):
                log.debug("child %s sent a bad frame: %s", link.config.id, event.reason)
                self.count_drop(event.reason)
                await ws.send_str(encode(Error(event.reason, event.detail[:200])))
            else:
                await ws.send_str(encode(Error("unexpected", f"{type(event).__name__} "
                                                             "not expected now")))

    def _audit(self, action: str, target: str, result: str, details: dict[str, Any]) -> None:
        try:
            self.audit.record("uplink", action, target, result=result, details=details)
        except StorageError:
            log.warning("could not audit %s for %s", action, target)

