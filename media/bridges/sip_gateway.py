"""A SIP call placed through a Janus SIP plugin gateway (deploy/lab/README-sip-gateway.md).

Our side speaks WebRTC (aiortc: ICE + DTLS-SRTP) to ``janus.plugin.sip``; Janus does SIP
and bridges the media to the MCU's plain RTP (or SDES-SRTP with ``srtp``). Used by
`SipBridge` when its spec has the option ``gateway_url`` (the Janus HTTP API).

Options read here: ``gateway_url``; ``registrar`` and ``username`` (register through the
gateway; without them the handle registers as a ``guest`` and calls directly);
``display_name``; ``srtp`` (``sdes_optional`` / ``sdes_mandatory`` towards the MCU; a
secret session requires ``sdes_mandatory``); ``answer_timeout`` (default 30). Secrets:
``password`` (SIP), ``api_token`` / ``api_secret`` (Janus API).

A ``hangup`` from Janus (the MCU's BYE, a refused call, the gateway losing the session)
ends the call: no automatic rejoin on this path yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from media.bridges.base import (
    BridgeRefusedError,
    BridgeSpec,
    Call,
    CallState,
    InsecureMediaError,
    JoinOptions,
    MediaError,
)
from media.janus.client import JanusHandle, JanusMessage, JanusSession
from media.stats import LinkSample
from media.webrtc import (
    StatsSnapshot,
    close_quietly,
    collect_samples,
    peer_connection,
    wait_connected,
)

_log = logging.getLogger(__name__)

PLUGIN = "janus.plugin.sip"
HANGUP_TIMEOUT_S = 3.0
SECURE_SRTP = "sdes_mandatory"


class JanusSipGatewayCall(Call):
    """One call to ``spec.url`` (a SIP URI) placed by Janus's SIP plugin on our behalf."""

    def __init__(self, spec: BridgeSpec, options: JoinOptions,
                 tracks: Sequence[MediaStreamTrack], *, clock: Callable[[], float],
                 on_ended: Callable[[JanusSipGatewayCall], None] = lambda _c: None) -> None:
        super().__init__(secrets.token_hex(8), spec.id)
        self.spec = spec
        self.received_tracks: list[MediaStreamTrack] = []
        self._options = options
        self._tracks = list(tracks)
        self._relay = MediaRelay()
        self._clock = clock
        self._on_ended = on_ended
        self._http: aiohttp.ClientSession | None = None
        self._session: JanusSession | None = None
        self._handle: JanusHandle | None = None
        self._pc: RTCPeerConnection | None = None
        self._events: asyncio.Queue[JanusMessage] = asyncio.Queue()
        self._watcher: asyncio.Task[None] | None = None
        self._snapshot: StatsSnapshot | None = None
        self._in_call = False
        self._leaving = False
        self._ended = asyncio.Event()

    @property
    def gateway_url(self) -> str:
        """The Janus HTTP API the call goes through."""
        return str(self.spec.options["gateway_url"])

    # -- joining ----------------------------------------------------------------------

    async def start(self) -> None:
        """Attach, register (or guest), call, wait for `accepted` and ICE/DTLS."""
        opts = self.spec.options
        srtp = str(opts.get("srtp", "")) or None
        if self._options.secret and srtp != SECURE_SRTP:
            raise InsecureMediaError(
                f"{self.bridge_id}: a secret session needs srtp = \"{SECURE_SRTP}\" on the "
                "gateway's leg to the MCU")
        timeout = float(opts.get("answer_timeout", 30))
        self._http = aiohttp.ClientSession()
        self._session = JanusSession(
            self._http, self.gateway_url, on_lost=self._on_lost,
            token=self.spec.secrets.get("api_token"),
            api_secret=self.spec.secrets.get("api_secret"))
        await self._session.create()
        self._handle = handle = await self._session.attach(PLUGIN)
        handle.listener = self._events.put_nowait
        await self._register(handle)

        self._pc = pc = peer_connection(self.spec.ice_servers)
        pc.on("track", self.received_tracks.append)
        pc.on("connectionstatechange", lambda: self._on_pc_state(pc))
        kinds = set()
        for track in self._tracks:
            pc.addTrack(self._relay.subscribe(track, buffered=False))
            kinds.add(track.kind)
        if "audio" not in kinds:
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        body: dict[str, Any] = {"request": "call", "uri": self.spec.url}
        if srtp:
            body["srtp"] = srtp
        data, jsep = await handle.message(
            body, {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False})
        self._check_result(data)
        self._in_call = True
        self.publish("calling", self._clock())
        async with asyncio.timeout(timeout):
            while jsep is None or jsep.get("type") != "answer":
                data, jsep = self._plugin_event(await self._next_event())
                self._check_result(data)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
        await wait_connected(pc, timeout)
        self._watcher = asyncio.create_task(self._watch(), name=f"sip-gw-{self.id}")
        self.state = CallState.CONNECTED
        self.publish("connected", self._clock())

    async def _register(self, handle: JanusHandle) -> None:
        opts = self.spec.options
        body: dict[str, Any] = {"request": "register"}
        if opts.get("registrar") and opts.get("username"):
            proxy = str(opts["registrar"])
            body["proxy"] = proxy if proxy.startswith(("sip:", "sips:")) else f"sip:{proxy}"
            user = str(opts["username"])
            if not user.startswith(("sip:", "sips:")):
                user = f"sip:{user}@{body['proxy'].split(':', 1)[1].split(';')[0]}"
            body["username"] = user
            if self.spec.secrets.get("password"):
                body["secret"] = self.spec.secrets["password"]
            if opts.get("register_expires"):
                body["register_ttl"] = int(opts["register_expires"])
        else:
            host = self.spec.url.split("@", 1)[1].split(";")[0]
            body.update(type="guest", username=f"sip:{opts.get('username', 'diemcau')}@{host}")
        if opts.get("display_name") or self._options.display:
            body["display_name"] = str(opts.get("display_name") or self._options.display)
        data, _ = await handle.message(body)
        async with asyncio.timeout(float(opts.get("answer_timeout", 30))):
            while self._result(data).get("event") != "registered":
                self._check_result(data)
                data, _ = self._plugin_event(await self._next_event())

    # -- events -----------------------------------------------------------------------

    async def _next_event(self) -> JanusMessage:
        event = await self._events.get()
        if event.get("janus") == "_lost":
            raise MediaError(f"{self.bridge_id}: gateway session lost: {event.get('reason')}")
        return event

    @staticmethod
    def _plugin_event(event: JanusMessage) -> tuple[JanusMessage, JanusMessage | None]:
        if event.get("janus") == "hangup":  # the WebRTC leg went down
            return {"result": {"event": "hangup", "reason": event.get("reason")}}, None
        data: JanusMessage = event.get("plugindata", {}).get("data", {})
        return data, event.get("jsep")

    @staticmethod
    def _result(data: JanusMessage) -> JanusMessage:
        result = data.get("result")
        return result if isinstance(result, dict) else {}

    def _check_result(self, data: JanusMessage) -> None:
        if "error" in data:
            raise BridgeRefusedError(f"{self.bridge_id}: gateway: {data['error']}",
                                     bridge_code=data.get("error_code"))
        result = self._result(data)
        event = result.get("event")
        if event in ("hangup", "registration_failed"):
            code = result.get("code")
            raise BridgeRefusedError(
                f"{self.bridge_id}: {event}: {code or ''} {result.get('reason', '')}".strip(),
                bridge_code=code)
        if event in ("ringing", "proceeding", "progress"):
            self.publish("ringing" if event == "ringing" else "provisional", self._clock(),
                         status=result.get("code"))

    def _on_lost(self, reason: str) -> None:
        self._events.put_nowait({"janus": "_lost", "reason": reason})

    def _on_pc_state(self, pc: RTCPeerConnection) -> None:
        if pc is self._pc and pc.connectionState == "failed":
            self._events.put_nowait({"janus": "_lost", "reason": "ICE/DTLS failed"})

    async def _watch(self) -> None:
        """In the call: a `hangup` (or a lost gateway) ends it."""
        while True:
            try:
                data, _ = self._plugin_event(await self._next_event())
            except MediaError as exc:
                reason = exc.message
                break
            result = self._result(data)
            if result.get("event") in ("hangingup", "hangup"):
                if result.get("event") == "hangingup":
                    continue
                reason = f"hangup: {result.get('code', '')} {result.get('reason', '')}".strip()
                self._in_call = False
                break
            _log.debug("gateway call %s: event %s", self.id, result.get("event"))
        _log.info("gateway call %s on %s ended: %s", self.id, self.bridge_id, reason)
        await self._teardown(reason=reason)

    # -- leaving ----------------------------------------------------------------------

    async def leave(self) -> None:
        """Hang up, detach, destroy the Janus session; safe to call twice."""
        if self._leaving:
            if self._watcher is not asyncio.current_task():
                await self._ended.wait()
            return
        await self._teardown(reason=None)

    async def _teardown(self, *, reason: str | None) -> None:
        if self._leaving:
            return
        self._leaving = True
        try:
            watcher, self._watcher = self._watcher, None
            if watcher is not None and watcher is not asyncio.current_task():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            session, handle = self._session, self._handle
            alive = session is not None and not session.lost
            if handle is not None and alive:
                if self._in_call:
                    with contextlib.suppress(MediaError, TimeoutError):
                        await asyncio.wait_for(handle.message({"request": "hangup"},
                                                              within=HANGUP_TIMEOUT_S),
                                               HANGUP_TIMEOUT_S + 1)
                await handle.detach()
            await close_quietly(self._pc)
            if session is not None:
                await session.destroy()
            if self._http is not None:
                await self._http.close()
        finally:
            self._in_call = False
            self._session = self._handle = self._pc = self._http = None
            for track in self._tracks:
                track.stop()
            if self.state is not CallState.ENDED:
                self.state = CallState.ENDED
                if reason is None:
                    self.publish("ended", self._clock())
                else:
                    self.publish("ended", self._clock(), reason=reason)
            self._on_ended(self)
            self._ended.set()

    # -- media ------------------------------------------------------------------------

    def remote_tracks(self) -> Sequence[MediaStreamTrack]:
        """New relays of the received tracks (the MCU's audio)."""
        return [self._relay.subscribe(track, buffered=False) for track in self.received_tracks
                if track.readyState == "live"]

    async def stats(self) -> Sequence[LinkSample]:
        """Per-direction samples of the WebRTC leg (Janus ⇄ us) from `media.webrtc`."""
        pc = self._pc
        if pc is None or self.state is CallState.ENDED:
            return []
        samples, self._snapshot = await collect_samples(pc, self.id, self.bridge_id,
                                                        self._snapshot, self._clock())
        return samples

    def describe(self) -> dict[str, Any]:
        """JSON-able state for the API."""
        return {**super().describe(), "gateway": self.gateway_url, "uri": self.spec.url}
