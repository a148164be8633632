"""Playout: the conference a call receives, relayed to browsers over local WebRTC.

The room PC driving the projector opens the console and presses "watch": its browser
offers (recvonly audio + video), `Playout.answer` answers with a PeerConnection of its own
(no STUN: the console is on the site's LAN) that sends relays of the call's received
video and audio (`Call.remote_tracks`; the first video is the chosen feed's, since a call
subscribes to the chosen feed first). Several browsers may watch, each with its own
PeerConnection; `close` hangs them all up (the controller does when the call ends).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media.bridges.base import Call, MediaError
from media.webrtc import close_quietly, peer_connection

_log = logging.getLogger(__name__)

MAX_VIEWERS: Final = 8  # each viewer costs one video encode on the controller
ANSWER_TIMEOUT_S: Final = 10.0


class BadOfferError(MediaError):
    """The browser's offer is not a usable SDP offer."""

    code = "bad_offer"


class NoRemoteMediaError(MediaError):
    """The call receives nothing yet (no other site publishes, or still subscribing)."""

    code = "no_remote_media"


class PlayoutClosedError(MediaError):
    """The playout was closed (its call ended)."""

    code = "playout_closed"


class TooManyViewersError(MediaError):
    """Every viewer slot is taken."""

    code = "too_many_viewers"


class Playout:
    """Browsers watching one call; each has its own PeerConnection."""

    def __init__(self, call: Call, *, ice_servers: Sequence[Mapping[str, Any]] = (),
                 max_viewers: int = MAX_VIEWERS) -> None:
        self.call = call
        self.ice_servers = ice_servers
        self.max_viewers = max_viewers
        self._pcs: set[RTCPeerConnection] = set()
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def viewers(self) -> int:
        """PeerConnections open now."""
        return len(self._pcs)

    async def answer(self, sdp: str, kind: str = "offer") -> RTCSessionDescription:
        """Answer a browser's offer with the call's received video and audio."""
        if self._closed:
            raise PlayoutClosedError("the call has ended")
        if kind != "offer":
            raise BadOfferError(f"expected an SDP offer, got {kind!r}")
        if not sdp.lstrip().startswith("v=0"):
            raise BadOfferError("not an SDP description")
        if len(self._pcs) >= self.max_viewers:
            raise TooManyViewersError(f"already {len(self._pcs)} viewers")
        tracks = list(self.call.remote_tracks())
        chosen = _pick(tracks)
        for track in tracks:
            if track not in chosen:
                track.stop()
        if not chosen:
            raise NoRemoteMediaError("the call receives no audio or video yet")
        pc = peer_connection(self.ice_servers)
        self._pcs.add(pc)
        pc.on("connectionstatechange", lambda: self._on_state(pc))
        try:
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                raise BadOfferError(f"unusable offer: {exc}") from exc
            sent = 0
            for track in chosen:
                # takes the offer's recvonly transceiver of that kind (none: not wanted)
                if any(t.kind == track.kind for t in pc.getTransceivers()):
                    pc.addTrack(track)
                    sent += 1
                else:
                    track.stop()
            if not sent:
                raise BadOfferError("the offer asks for no audio or video this call has")
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                answer = await pc.createAnswer()
                await pc.setLocalDescription(answer)  # aiortc gathers candidates here
        except BaseException as exc:
            for track in chosen:
                track.stop()
            await self._drop(pc)
            if isinstance(exc, TimeoutError):
                raise MediaError("answering the browser took too long") from exc
            if isinstance(exc, (ValueError, TypeError)):
                raise BadOfferError(f"cannot answer the offer: {exc}") from exc
            raise
        if self._closed:  # the call ended while we answered
            await self._drop(pc)
            raise PlayoutClosedError("the call has ended")
        _log.info("playout of call %s: viewer %d connecting", self.call.id, len(self._pcs))
        return pc.localDescription

    def _on_state(self, pc: RTCPeerConnection) -> None:
        if pc.connectionState in ("failed", "closed") and pc in self._pcs:
            _log.info("playout viewer of call %s gone (%s)", self.call.id, pc.connectionState)
            task = asyncio.ensure_future(self._drop(pc))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drop(self, pc: RTCPeerConnection) -> None:
        self._pcs.discard(pc)
        await close_quietly(pc)

    async def close(self) -> None:
        """Hang up every viewer; later offers are refused."""
        self._closed = True
        pcs, self._pcs = list(self._pcs), set()
        await asyncio.gather(*(close_quietly(pc) for pc in pcs), *list(self._tasks))


def _pick(tracks: Sequence[MediaStreamTrack]) -> list[MediaStreamTrack]:
    """The first video and the first audio."""
    chosen: list[MediaStreamTrack] = []
    for kind in ("video", "audio"):
        track = next((t for t in tracks if t.kind == kind), None)
        if track is not None:
            chosen.append(track)
    return chosen
