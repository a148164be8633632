"""SIP bridge adapter: joins a conference URI with WebRTC-grade media (ICE + DTLS-SRTP).

Signalling is our own SIP stack (`media.sip`); media is aiortc. Classic MCUs that
only speak plain RTP are reached through a Janus SIP plugin gateway instead
(deploy/lab/README-sip-gateway.md): aiortc cannot send unencrypted RTP, and a
secret session must not.

Spec: `url` is the conference URI (`sip:room@host[:port]`); options `registrar`
(`host[:port]` or a SIP URI), `username`, `proxy` (outbound proxy), `transport`
(udp|tcp|tls), `keepalive` (seconds between in-dialog OPTIONS, default 30),
`register_expires` (default 600), `answer_timeout` (default 30), `recovery_initial` and
`recovery_max` (the rejoin backoff's first and longest delay, 0.5 and 30 s); secret
`password`.

Recovery: a drop (in-dialog OPTIONS answered 408/481 or unanswered, the signalling
connection lost, ICE/DTLS failed) publishes `dropped`; the call hangs up what is left
(BYE when it can, the PeerConnection closed) and INVITEs again from scratch — new
connection, PeerConnection and dialog, same call id — paced by `Backoff`, publishing
`recovery_step` {attempt, delay, reason} per attempt and `recovered` {attempts,
downtime_s}. A BYE from the bridge ends the call: a chair ending the conference is not
fought. Refusals a retry cannot fix (`FINAL_REFUSALS`, insecure media) end it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay

from media.bridges.base import (
    Bridge,
    BridgeRefusedError,
    BridgeSpec,
    BridgeUnreachableError,
    Call,
    CallState,
    InsecureMediaError,
    JoinOptions,
    MediaError,
    MediaNegotiationError,
    MediaTimeoutError,
)
from media.bridges.sip_gateway import JanusSipGatewayCall
from media.sip.dialog import (
    ALLOW,
    Dialog,
    build_cancel,
    build_request,
    make_response,
    new_call_id,
    new_tag,
)
from media.sip.digest import DigestError, authorization, parse_challenge
from media.sip.errors import SipError, SipTimeoutError
from media.sip.message import (
    NameAddr,
    SipRequest,
    SipResponse,
    parse_name_addr,
    uri_host_port,
)
from media.sip.transport import SipConnection
from media.stats import LinkSample
from media.webrtc import (
    Backoff,
    StatsSnapshot,
    cancel_quietly,
    close_quietly,
    collect_samples,
)

_log = logging.getLogger(__name__)

TrackFactory = Callable[[JoinOptions], Sequence[MediaStreamTrack]]
_SECURE_PROTOS = ("UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "TCP/TLS/RTP/SAVPF")
_MAX_AUTH_ROUNDS = 2
HANGUP_TIMEOUT_S = 5.0  # BYE / CANCEL / un-REGISTER when leaving
RECOVERY_HANGUP_TIMEOUT_S = 2.0  # the same for a dropped session: its peer is likely gone
# Refusals a rejoin cannot fix: wrong credentials, or the bridge (its chair) not wanting us.
FINAL_REFUSALS = frozenset({401, 403, 407, 603})


@dataclass(frozen=True)
class SipSettings:
    """The SIP-specific part of a bridge spec, validated."""

    conference_uri: str
    next_hop: tuple[str, int | None]
    transport: str
    registrar: str | None
    username: str
    password: str | None
    keepalive: float
    register_expires: int
    answer_timeout: float
    recovery_initial: float = 0.5
    recovery_max: float = 30.0

    @classmethod
    def from_spec(cls, spec: BridgeSpec) -> SipSettings:
        """Read and check the spec; raises MediaError."""
        uri = spec.url.strip()
        if not uri.startswith(("sip:", "sips:")) or "@" not in uri:
            raise MediaError(f"bridge {spec.id}: url must be a SIP URI like sip:room@host")
        opts: Mapping[str, Any] = spec.options
        transport = str(opts.get("transport", "tls" if uri.startswith("sips:") else "udp"))
        if transport.lower() not in ("udp", "tcp", "tls"):
            raise MediaError(f"bridge {spec.id}: transport must be udp, tcp or tls")
        registrar = opts.get("registrar")
        registrar = str(registrar) if registrar else None
        hop_text = str(opts.get("proxy") or registrar or uri)
        hop = uri_host_port(hop_text if hop_text.startswith(("sip:", "sips:"))
                            else f"sip:{hop_text}")
        return cls(conference_uri=uri, next_hop=hop, transport=transport.upper(),
                   registrar=registrar, username=str(opts.get("username", "diemcau")),
                   password=spec.secrets.get("password"),
                   keepalive=float(opts.get("keepalive", 30)),
                   register_expires=int(opts.get("register_expires", 600)),
                   answer_timeout=float(opts.get("answer_timeout", 30)),
                   recovery_initial=float(opts.get("recovery_initial", 0.5)),
                   recovery_max=float(opts.get("recovery_max", 30)))

    @property
    def registrar_uri(self) -> str:
        """The registrar as a SIP URI."""
        assert self.registrar is not None
        reg = self.registrar
        return reg if reg.startswith(("sip:", "sips:")) else f"sip:{reg}"

    @property
    def aor(self) -> str:
        """Our address of record."""
        base = self.registrar_uri if self.registrar else self.conference_uri
        host, port = uri_host_port(base)
        return f"sip:{self.username}@{host}" + (f":{port}" if port else "")


def rejoin_can_succeed(error: MediaError) -> bool:
    """Pure: is a failed rejoin worth trying again? (No: the call ends instead.)"""
    if isinstance(error, InsecureMediaError):
        return False
    return not (isinstance(error, BridgeRefusedError) and error.bridge_code in FINAL_REFUSALS)


@dataclass(frozen=True)
class RecoveryStep:
    """The next rejoin attempt: its number, the delay before it, why, and when it is due."""

    attempt: int
    delay: float
    reason: str
    due: float

    def wait(self, now: float) -> float:
        """Seconds still to sleep at ``now`` (never more than the delay: clocks jump)."""
        return max(0.0, min(self.delay, self.due - now))


class RecoveryPlan:
    """Pure: when a dropped SIP call rejoins and when it gives up; time is an argument.

    A drop (keepalive 408/481 or timeout, signalling lost, ICE/DTLS failed) starts a
    recovery; a BYE from the bridge is an end, never a drop, and never reaches this plan.
    Delays come from `Backoff`; a second drop while recovering is not a new recovery.
    """

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self.recovering = False
        self.over = False

    def dropped(self, now: float, reason: str) -> RecoveryStep | None:
        """The session was lost at ``now``: the first attempt (None: already handled)."""
        if self.recovering or self.over:
            return None
        self.recovering = True
        return self._step(now, reason)

    def attempt_failed(self, now: float, error: MediaError) -> RecoveryStep | None:
        """A rejoin failed: the next attempt, or None to give up (the call ends)."""
        if not self.recovering:
            return None
        if not rejoin_can_succeed(error):
            self.recovering = False
            self.over = True
            return None
        return self._step(now, error.message)

    def recovered(self, now: float) -> tuple[int, float]:
        """A rejoin succeeded: (attempts it took, seconds since the drop)."""
        attempts = self.backoff.attempts
        downtime = self.backoff.succeeded(now)
        self.recovering = False
        return attempts, round(downtime or 0.0, 3)

    def ended(self) -> None:
        """The call ended: nothing more to schedule."""
        self.recovering = False
        self.over = True

    def _step(self, now: float, reason: str) -> RecoveryStep:
        due = self.backoff.failed(now)
        return RecoveryStep(self.backoff.attempts, round(due - now, 3), reason, due)


class SipBridge(Bridge):
    """A SIP conference bridge reached with ICE + DTLS-SRTP media."""

    kind = "sip"

    def __init__(self, spec: BridgeSpec, *, track_factory: TrackFactory | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(spec)
        self.settings = SipSettings.from_spec(spec)
        self._track_factory = track_factory or default_tracks
        self._ssl_context = ssl_context
        self._clock = clock
        self._calls: set[SipCall] = set()
        self._gateway_calls: set[JanusSipGatewayCall] = set()

    async def join(self, options: JoinOptions) -> SipCall | JanusSipGatewayCall:
        """Register (when configured), INVITE the conference and wait for media.

        With the option ``gateway_url`` the call goes through a Janus SIP plugin gateway
        instead (`media.bridges.sip_gateway`): for plain-RTP MCUs.
        """
        tracks = list(self._track_factory(options))
        if self.spec.options.get("gateway_url"):
            gateway = JanusSipGatewayCall(self.spec, options, tracks, clock=self._clock,
                                          on_ended=self._gateway_calls.discard)
            self._gateway_calls.add(gateway)
            try:
                await gateway.start()
            except BaseException:
                await gateway.leave()
                raise
            return gateway
        call = SipCall(self, options, tracks)
        self._calls.add(call)
        try:
            await call.start()
        except BaseException:
            self._calls.discard(call)
            await call.leave()
            raise
        return call

    async def probe(self) -> None:
        """Send OPTIONS to the conference URI; any SIP answer means reachable."""
        conn = await self._connect()
        try:
            local = conn.local
            request = build_request(
                "OPTIONS", self.settings.conference_uri, local=local,
                from_addr=NameAddr("", self.settings.aor, {"tag": new_tag()}),
                to_addr=NameAddr("", self.settings.conference_uri), call_id=new_call_id(
                    local.host), cseq=1, headers=(("Accept", "application/sdp"),))
            try:
                await conn.request(request)
            except SipError as exc:
                raise BridgeUnreachableError(f"{self.id}: no SIP answer ({exc})") from exc
        finally:
            await conn.close()

    async def close(self) -> None:
        """Hang up every call this bridge still holds."""
        for call in [*self._calls, *self._gateway_calls]:
            await call.leave()
        self._calls.clear()

    async def _connect(self) -> SipConnection:
        host, port = self.settings.next_hop
        try:
            return await SipConnection.open(host, port, self.settings.transport,
                                            ssl_context=self._ssl_context,
                                            user=self.settings.username)
        except SipError as exc:
            raise BridgeUnreachableError(f"{self.id}: {exc}") from exc

    def _forget(self, call: SipCall) -> None:
        self._calls.discard(call)


class SipCall(Call):
    """One SIP call into a conference; after a drop it rejoins by itself until `leave`."""

    def __init__(self, bridge: SipBridge, options: JoinOptions,
                 tracks: Sequence[MediaStreamTrack]) -> None:
        super().__init__(secrets.token_hex(8), bridge.id)
        self.received_tracks: list[MediaStreamTrack] = []  # the current session's
        self._bridge = bridge
        self._settings = bridge.settings
        self._options = options
        self._tracks = list(tracks)
        # aiortc stops a sender's track when its PeerConnection closes: every connection
        # sends a relay of the source, so the source lives until the call ends.
        self._relay = MediaRelay()
        self._clock = bridge._clock
        self._plan = RecoveryPlan(Backoff(initial=self._settings.recovery_initial,
                                          maximum=self._settings.recovery_max))
        self._recovery: asyncio.Task[None] | None = None
        self._conn: SipConnection | None = None
        self._pc: RTCPeerConnection | None = None
        self._dialog: Dialog | None = None
        self._invite: SipRequest | None = None
        self._provisional = False
        self._registered = False
        self._reg_call_id = ""
        self._reg_cseq = 0
        self._remote_sdp = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._snapshot: StatsSnapshot | None = None  # getStats counters of the last sample
        self._leaving = False
        self._ender: asyncio.Task[Any] | None = None  # the task hanging up for good
        self._ended = asyncio.Event()

    # -- joining ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect, register, INVITE, wait until ICE and DTLS are up."""
        await self._establish()
        self.publish("connected", self._clock())

    async def _establish(self) -> None:
        """One session from scratch: connection, registration, PeerConnection, dialog."""
        self.received_tracks.clear()
        self._snapshot = None
        self._remote_sdp = ""
        self._conn = conn = await self._bridge._connect()
        conn.on_stray_response = self._on_stray_response
        if self._settings.registrar:
            await self._register(self._settings.register_expires)
        config = RTCConfiguration(iceServers=[RTCIceServer(**dict(server))
                                              for server in self._bridge.spec.ice_servers])
        self._pc = pc = RTCPeerConnection(config)
        pc.on("track", self.received_tracks.append)

        def on_state() -> None:
            self._on_connection_state(pc)

        pc.on("connectionstatechange", on_state)
        kinds = set()
        for track in self._tracks:
            pc.addTrack(self._relay.subscribe(track, buffered=False))
            kinds.add(track.kind)
        if "audio" not in kinds:
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        try:
            response = await asyncio.wait_for(
                self._send_invite(pc.localDescription.sdp.encode()),
                self._settings.answer_timeout)
        except TimeoutError as exc:
            # the hang-up that follows CANCELs the pending INVITE
            raise MediaTimeoutError(f"{self.bridge_id}: no answer to INVITE") from exc
        answer = response.body.decode("utf-8", "replace")
        self._check_answer(answer)
        _log.debug("SDP answer for call %s:\n%s", self.id, answer)
        answer = _add_missing_mids(answer, pc.localDescription.sdp)
        self._remote_sdp = answer
        try:
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        except (ValueError, AttributeError) as exc:
            raise MediaNegotiationError(f"{self.bridge_id}: unusable SDP answer: {exc}") from exc
        await self._wait_connected(pc)
        self.state = CallState.CONNECTED
        self._tasks.append(asyncio.create_task(self._serve_requests(), name=f"sip-serve-{self.id}"))
        self._tasks.append(asyncio.create_task(self._keepalive(), name=f"sip-keepalive-{self.id}"))

    async def _wait_connected(self, pc: RTCPeerConnection) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.answer_timeout
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed"):
                raise MediaNegotiationError(f"{self.bridge_id}: ICE/DTLS failed")
            if loop.time() > deadline:
                raise MediaTimeoutError(f"{self.bridge_id}: media did not connect")
            await asyncio.sleep(0.05)

    def _check_answer(self, sdp: str) -> None:
        check_media_security(sdp, secret=self._options.secret, bridge_id=self.bridge_id)

    async def _send_invite(self, sdp: bytes) -> SipResponse:
        conn = self._require_conn()
        local = conn.local
        cseq = 1
        call_id = new_call_id(local.host)
        from_addr = NameAddr(self._options.display, self._settings.aor, {"tag": new_tag()})
        to_addr = NameAddr("", self._settings.conference_uri)
        extra: tuple[tuple[str, str], ...] = (
            ("Content-Type", "application/sdp"), ("Allow", ALLOW), ("Supported", "replaces"))
        for _ in range(_MAX_AUTH_ROUNDS + 1):
            invite = build_request("INVITE", self._settings.conference_uri, local=local,
                                   from_addr=from_addr, to_addr=to_addr, call_id=call_id,
                                   cseq=cseq, headers=extra, body=sdp)
            self._invite = invite
            self._provisional = False
            try:
                response = await conn.request(invite, on_provisional=self._on_provisional)
            except SipError as exc:
                raise BridgeUnreachableError(f"{self.bridge_id}: INVITE failed: {exc}") from exc
            self._provisional = False  # final: nothing left to CANCEL
            if response.status in (401, 407):
                extra = (*extra[:3], self._answer_challenge(response, "INVITE",
                                                            self._settings.conference_uri))
                cseq += 1
                continue
            if response.status in (415, 488, 606):
                # RFC 3261 §21.4.26: our ICE + DTLS-SRTP offer is not acceptable there.
                raise MediaNegotiationError(
                    f"{self.bridge_id}: the bridge refused encrypted WebRTC media "
                    f"({response.status} {response.reason}); a plain-RTP MCU must be "
                    "reached through the Janus SIP gateway")
            if response.status >= 300:
                raise BridgeRefusedError(
                    f"{self.bridge_id}: INVITE refused: {response.status} {response.reason}",
                    bridge_code=response.status)
            self._dialog = Dialog.from_uac(invite, response)
            conn.send(self._dialog.ack(invite.cseq[0], local))
            return response
        raise BridgeRefusedError(f"{self.bridge_id}: authentication failed", bridge_code=401)

    def _on_provisional(self, response: SipResponse) -> None:
        self._provisional = True
        self.publish("ringing" if response.status in (180, 183) else "provisional", self._clock(),
                     status=response.status)

    def _answer_challenge(self, response: SipResponse, method: str,
                          uri: str) -> tuple[str, str]:
        password = self._settings.password
        if password is None:
            raise BridgeRefusedError(f"{self.bridge_id}: the bridge asks for a password",
                                     bridge_code=response.status)
        proxy = response.status == 407
        value = response.header("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        try:
            challenge = parse_challenge(value or "")
        except DigestError as exc:
            raise BridgeRefusedError(f"{self.bridge_id}: {exc}",
                                     bridge_code=response.status) from exc
        header = authorization(challenge, username=self._settings.username, password=password,
                               method=method, uri=uri, cnonce=secrets.token_hex(8))
        return ("Proxy-Authorization" if proxy else "Authorization", header)

    async def _register(self, expires: int, conn: SipConnection | None = None) -> None:
        conn = conn or self._require_conn()
        if not self._reg_call_id:
            self._reg_call_id = new_call_id(conn.local.host)
            self._reg_tag = new_tag()
        uri = self._settings.registrar_uri
        aor = self._settings.aor
        auth: tuple[tuple[str, str], ...] = ()
        for _ in range(_MAX_AUTH_ROUNDS + 1):
            self._reg_cseq += 1
            request = build_request(
                "REGISTER", uri, local=conn.local, from_addr=NameAddr("", aor,
                                                                      {"tag": self._reg_tag}),
                to_addr=NameAddr("", aor), call_id=self._reg_call_id, cseq=self._reg_cseq,
                headers=(("Expires", str(expires)), *auth))
            try:
                response = await conn.request(request)
            except SipError as exc:
                raise BridgeUnreachableError(f"{self.bridge_id}: REGISTER failed: {exc}") from exc
            if response.status in (401, 407):
                auth = (self._answer_challenge(response, "REGISTER", uri),)
                continue
            if response.status >= 300:
                raise BridgeRefusedError(
                    f"{self.bridge_id}: REGISTER refused: {response.status} {response.reason}",
                    bridge_code=response.status)
            self._registered = expires > 0
            return
        raise BridgeRefusedError(f"{self.bridge_id}: registration rejected", bridge_code=401)

    # -- in the call -----------------------------------------------------------

    async def _serve_requests(self) -> None:
        conn = self._require_conn()
        while True:
            request = await conn.incoming.get()
            if request is None:
                if not self._leaving:
                    self._drop("signalling connection lost")
                return
            try:
                await self._answer(request)
            except SipError as exc:
                _log.info("cannot answer %s: %s", request.method, exc)
            if self.state is CallState.ENDED:
                return

    async def _answer(self, request: SipRequest) -> None:
        conn = self._require_conn()
        dialog = self._dialog
        if request.method == "ACK":
            return
        if request.method == "OPTIONS":
            conn.send(make_response(request, 200, "OK", to_tag=new_tag(),
                                    headers=(("Allow", ALLOW), ("Accept", "application/sdp"))))
            return
        if dialog is None or not dialog.matches(request):
            conn.send(make_response(request, 481, "Call/Transaction Does Not Exist",
                                    to_tag=new_tag()))
            return
        if not dialog.accept_remote_cseq(request):
            conn.send(make_response(request, 500, "Server Internal Error"))
            return
        if request.method == "BYE":
            conn.send(make_response(request, 200, "OK"))
            _log.info("bridge %s hung up call %s", self.bridge_id, self.id)
            await self._teardown(send_bye=False)
            return
        if request.method == "INVITE":
            await self._answer_reinvite(request)
            return
        conn.send(make_response(request, 405, "Method Not Allowed", headers=(("Allow", ALLOW),)))

    async def _answer_reinvite(self, request: SipRequest) -> None:
        conn = self._require_conn()
        pc = self._pc
        assert pc is not None
        assert self._dialog is not None
        offer = request.body.decode("utf-8", "replace")
        contact = request.header("Contact")
        if contact:
            with contextlib.suppress(ValueError):
                self._dialog.remote_target = parse_name_addr(contact).uri
        sdp_headers = (("Contact", conn.local.contact), ("Content-Type", "application/sdp"),
                       ("Allow", ALLOW))
        if offer.strip() and _session_key(offer) != _session_key(self._remote_sdp):
            try:
                self._check_answer(offer)
                offer = _add_missing_mids(offer, pc.localDescription.sdp)
                await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
            except (MediaError, ValueError, AttributeError, KeyError) as exc:
                _log.info("re-INVITE on call %s not acceptable: %s", self.id, exc)
                conn.send(make_response(request, 488, "Not Acceptable Here"))
                return
            self._remote_sdp = offer
            self.publish("renegotiated", self._clock())
        # RFC 3264 §8: an unchanged session is answered with our current description.
        conn.send(make_response(request, 200, "OK", headers=sdp_headers,
                                body=pc.localDescription.sdp.encode()))

    async def _keepalive(self) -> None:
        conn = self._require_conn()
        period = self._settings.keepalive
        refresh_at = self._clock() + self._settings.register_expires / 2
        while self.state in (CallState.CONNECTED, CallState.DEGRADED):
            await asyncio.sleep(period)
            if self._dialog is None or self._leaving:
                return
            try:
                response = await conn.request(self._dialog.request(
                    "OPTIONS", conn.local, headers=(("Accept", "application/sdp"),)))
                # RFC 5057 §5.1: only 481 and 408 mean the dialog is gone.
                if response.status in (408, 481):
                    self._drop(f"keepalive answered {response.status}")
                    return
                if self._registered and self._clock() >= refresh_at:
                    await self._register(self._settings.register_expires)
                    refresh_at = self._clock() + self._settings.register_expires / 2
            except SipTimeoutError:
                self._drop("keepalive timed out")
                return
            except (SipError, MediaError) as exc:
                self._drop(str(exc))
                return

    def _drop(self, reason: str) -> None:
        """The session is lost (not ended by the bridge): hang it up and rejoin."""
        if self._leaving or self.state not in (CallState.CONNECTED, CallState.DEGRADED):
            return
        now = self._clock()
        step = self._plan.dropped(now, reason)
        if step is None:
            return
        _log.warning("call %s on %s dropped: %s; rejoining", self.id, self.bridge_id, reason)
        self.state = CallState.DROPPED
        self.publish("dropped", now, reason=reason)
        self._recovery = asyncio.create_task(self._recover(step), name=f"sip-recover-{self.id}")

    def _on_connection_state(self, pc: RTCPeerConnection) -> None:
        if pc is self._pc and pc.connectionState == "failed" and not self._leaving:
            self._drop("ICE/DTLS failed")

    def _on_stray_response(self, response: SipResponse) -> None:
        # §13.2.2.4: a retransmitted 2xx to our INVITE is ACKed again.
        invite, dialog, conn = self._invite, self._dialog, self._conn
        if (invite is None or dialog is None or conn is None
                or response.cseq != (invite.cseq[0], "INVITE")):
            return
        conn.send(dialog.ack(invite.cseq[0], conn.local))

    # -- recovery --------------------------------------------------------------

    async def _recover(self, step: RecoveryStep) -> None:
        """Hang up what is left, then INVITE from scratch with backoff until back or left."""
        while True:
            self.state = CallState.DROPPED
            self.publish("recovery_step", self._clock(), attempt=step.attempt,
                         delay=step.delay, reason=step.reason)
            await self._hang_up_session(send_bye=True, wait=RECOVERY_HANGUP_TIMEOUT_S)
            await asyncio.sleep(step.wait(self._clock()))
            self.state = CallState.RECOVERING
            try:
                await self._establish()
            except Exception as exc:  # whatever broke, the loop must go on
                error = exc if isinstance(exc, MediaError) else MediaError(
                    f"{self.bridge_id}: {type(exc).__name__}: {exc}")
                _log.info("call %s: rejoin attempt %d failed: %s", self.id, step.attempt,
                          error.message, exc_info=not isinstance(exc, MediaError))
                next_step = self._plan.attempt_failed(self._clock(), error)
                if next_step is None:
                    _log.warning("call %s on %s: giving up: %s", self.id, self.bridge_id,
                                 error.message)
                    await self._teardown(send_bye=True, reason=error.message)
                    return
                step = next_step
                continue
            attempts, downtime = self._plan.recovered(self._clock())
            _log.warning("call %s on %s recovered after %d attempt(s), %.1f s", self.id,
                         self.bridge_id, attempts, downtime)
            self.publish("recovered", self._clock(), attempts=attempts, downtime_s=downtime)
            return

    # -- leaving ---------------------------------------------------------------

    async def leave(self) -> None:
        """Hang up (BYE, or CANCEL while ringing), also mid-recovery; safe to call twice."""
        if self._leaving:
            # already ending (a BYE from the bridge, a refused rejoin): wait until it is done
            if self._ender is not asyncio.current_task():
                await self._ended.wait()
            return
        await self._teardown(send_bye=True)

    async def _hang_up_session(self, *, send_bye: bool, wait: float) -> None:
        """End the current session (if any): BYE or CANCEL, un-REGISTER, close everything."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        self._tasks = []
        conn, pc, dialog, invite = self._conn, self._pc, self._dialog, self._invite
        provisional, registered = self._provisional, self._registered
        self._conn = self._pc = self._dialog = self._invite = None
        self._provisional = self._registered = False
        for task in tasks:
            task.cancel()
        try:
            if conn is not None:
                with contextlib.suppress(SipError, TimeoutError):
                    if send_bye and dialog is not None:
                        await asyncio.wait_for(
                            conn.request(dialog.request("BYE", conn.local)), wait)
                    elif send_bye and invite is not None and provisional:
                        await asyncio.wait_for(conn.request(build_cancel(invite)), wait)
                if registered:
                    with contextlib.suppress(MediaError, TimeoutError):
                        await asyncio.wait_for(self._register(0, conn), wait)
        finally:
            # also when cancelled (leave() during recovery): nothing may stay open
            await close_quietly(pc)
            if conn is not None:
                await conn.close()
            # the session's tasks are gone before the next one starts (their errors, too)
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _teardown(self, *, send_bye: bool, reason: str | None = None) -> None:
        self._leaving = True
        self._ender = asyncio.current_task()
        self._plan.ended()
        try:
            recovery, self._recovery = self._recovery, None
            if recovery is not None and recovery is not self._ender:
                await cancel_quietly(recovery)
            await self._hang_up_session(send_bye=send_bye, wait=HANGUP_TIMEOUT_S)
        finally:
            for track in self._tracks:
                track.stop()
            if self.state is not CallState.ENDED:
                self.state = CallState.ENDED
                if reason is None:
                    self.publish("ended", self._clock())
                else:
                    self.publish("ended", self._clock(), reason=reason)
            self._bridge._forget(self)
            self._ended.set()

    # -- statistics ------------------------------------------------------------

    def remote_tracks(self) -> Sequence[MediaStreamTrack]:
        """New relays of the current session's received tracks (audio; video if offered)."""
        return [self._relay.subscribe(track, buffered=False) for track in self.received_tracks
                if track.readyState == "live"]

    async def stats(self) -> Sequence[LinkSample]:
        """Per-direction audio/video samples from aiortc's getStats, via `media.webrtc`."""
        pc = self._pc
        if pc is None or self.state is CallState.ENDED:
            return []
        samples, self._snapshot = await collect_samples(pc, self.id, self.bridge_id,
                                                        self._snapshot, self._clock())
        return samples

    def _require_conn(self) -> SipConnection:
        if self._conn is None:
            raise MediaError("SIP call not started")
        return self._conn

    def describe(self) -> dict[str, Any]:
        """JSON-able state for the API."""
        info = super().describe()
        if self._dialog is not None:
            info["sip_call_id"] = self._dialog.call_id
        return info


def check_media_security(sdp: str, *, secret: bool, bridge_id: str) -> None:
    """Refuse an answer or offer whose active media is not DTLS-SRTP."""
    protos = [line.split()[2] for line in sdp.splitlines()
              if line.startswith("m=") and len(line.split()) > 2 and line.split()[1] != "0"]
    if not protos:
        raise MediaNegotiationError(f"{bridge_id}: the SDP accepts no media")
    plain = [p for p in protos if p not in _SECURE_PROTOS]
    if plain and secret:
        raise InsecureMediaError(
            f"{bridge_id}: the bridge answered with unencrypted media ({plain[0]})")
    if plain:
        raise MediaNegotiationError(
            f"{bridge_id}: the bridge only speaks {plain[0]}; "
            "reach it through the Janus SIP gateway")


def _add_missing_mids(answer: str, offer: str) -> str:
    """Give each answer m-section the offer's mid when the peer left it out.

    Classic SIP endpoints predate RFC 5888 and answer without a=mid; aiortc matches
    sections by mid, and RFC 3264 §6 matches them by position, so copy by position.
    """
    offer_mids = []
    for section in offer.split("\r\nm=")[1:]:
        mids = [ln[6:] for ln in section.split("\r\n") if ln.startswith("a=mid:")]
        offer_mids.append(mids[0] if mids else None)
    head, *sections = answer.replace("\r\n", "\n").split("\nm=")
    fixed = [head]
    for index, section in enumerate(sections):
        lines = section.rstrip("\n").split("\n")
        mid = offer_mids[index] if index < len(offer_mids) else None
        if mid is not None and not any(ln.startswith("a=mid:") for ln in lines):
            lines.append(f"a=mid:{mid}")
        fixed.append("\n".join(lines))
    return "\r\n".join("\nm=".join(fixed).split("\n")) + "\r\n"


def _session_key(sdp: str) -> frozenset[str]:
    """What must stay equal for a re-offer to be a mere refresh (RFC 3264 §8).

    Media sections, ICE credentials and DTLS fingerprints; ordering, the o= version and
    repeated attributes do not matter.
    """
    keep = ("m=", "a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:")
    return frozenset(line.strip().lower() for line in sdp.splitlines() if line.startswith(keep))


def default_tracks(options: JoinOptions) -> list[MediaStreamTrack]:
    """The site's audio source from `media.sources` (SIP calls carry audio only for now)."""
    try:
        sources: Any = importlib.import_module("media.sources")
    except ImportError:
        _log.debug("media.sources unavailable; joining receive-only")
        return []
    return [sources.open_audio(options.audio_source).track]


def bridge_from_spec(spec: BridgeSpec) -> SipBridge:
    """The registry's factory for `kind = "sip"` bridges."""
    return SipBridge(spec)
