"""A WHIP/WHEP endpoint in front of the lab's real Janus (Debian's 1.1.2), for WHIP tests.

Meetecho's simple-whip-server (the brief's first choice) is not on the npm registry, the only
package registry this workplace reaches, so this is the honest stand-in: a small aiohttp
server that does what simple-whip-server does, driving Janus's HTTP API — WHIP POST →
VideoRoom ``joinandconfigure`` as a publisher with the offer, Janus's answer in the 201;
DELETE → destroy the Janus session. Janus 1.1 lets only publishers offer ("Only publishers
send offers"), so WHEP here is the server-offer form simple-whep-server uses: an empty POST
→ a subscriber ``join`` to the room's newest publisher, Janus's offer in the 201; PATCH with
the answer → ``start``.

API for tests: ``whip_lab`` (function fixture, runs in the lab namespace) -> ``WhipLab``:
``.whip_url``, ``.whep_url``, ``.token``, ``.requests`` (method and path of each request),
``.resources`` (live resource ids). It needs ``janus_lab`` and ``in_lab_netns``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import web

from tests.peers.janus import OPEN_ROOM, JanusLab, janus_lab
from tests.peers.netns import LabNetns, in_lab_netns, lab_netns

__all__ = ["WhipLab", "in_lab_netns", "janus_lab", "lab_netns", "whip_lab"]

SDP: Final = "application/sdp"
_transactions = itertools.count(1)


class JanusError(Exception):
    """Janus answered with an error."""


@dataclass
class _Resource:
    session: int
    handle: int
    keepalive: asyncio.Task[None]
    feed: int | None = None


class JanusHttp:
    """Just enough of Janus's HTTP API: sessions, handles, plugin messages and events."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": f"t{next(_transactions)}"}
        async with self.http.post(self.url + path, json=body) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
        if answer.get("janus") == "error":
            raise JanusError(str(answer.get("error")))
        return answer

    async def create(self) -> tuple[int, int]:
        """A new session with a VideoRoom handle."""
        session = int((await self._post("", {"janus": "create"}))["data"]["id"])
        handle = int((await self._post(f"/{session}", {
            "janus": "attach", "plugin": "janus.plugin.videoroom"}))["data"]["id"])
        return session, handle

    async def keepalive(self, session: int) -> None:
        """Keep a session alive (Janus drops it after 60 s of silence)."""
        while True:
            await asyncio.sleep(20)
            with contextlib.suppress(aiohttp.ClientError, JanusError):
                await self._post(f"/{session}", {"janus": "keepalive"})

    async def message(self, session: int, handle: int, body: dict[str, Any],
                      jsep: dict[str, str] | None = None) -> dict[str, Any]:
        """Send a plugin request; return the plugin's event (sync answer or long-polled)."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        answer = await self._post(f"/{session}/{handle}", request)
        if answer.get("janus") == "success":
            return answer
        async with asyncio.timeout(20):
            while True:
                async with self.http.get(f"{self.url}/{session}?maxev=1") as resp:
                    event = await resp.json(content_type=None)
                for item in event if isinstance(event, list) else [event]:
                    if item.get("janus") == "event" and item.get("sender") == handle:
                        data = item.get("plugindata", {}).get("data", {})
                        if "error" in data:
                            raise JanusError(str(data["error"]))
                        return dict(item)

    async def destroy(self, session: int) -> None:
        """End a session (Janus hangs up its PeerConnections)."""
        with contextlib.suppress(aiohttp.ClientError, JanusError):
            await self._post(f"/{session}", {"janus": "destroy"})


@dataclass
class WhipLab:
    """The endpoint's URLs and what it saw."""

    whip_url: str
    whep_url: str
    token: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    resources: dict[str, _Resource] = field(default_factory=dict)


def make_app(janus: JanusHttp, lab: WhipLab, room: int) -> web.Application:
    """The WHIP/WHEP endpoint as an aiohttp application."""

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        lab.requests.append((request.method, request.path))
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={"Accept-Post": SDP})
        if request.headers.get("Authorization") != f"Bearer {lab.token}":
            return web.Response(status=401, text="bad token")
        response: web.StreamResponse = await handler(request)
        return response

    async def start(body: dict[str, Any], jsep: dict[str, str] | None) -> tuple[str, Any]:
        session, handle = await janus.create()
        keepalive = asyncio.create_task(janus.keepalive(session))
        try:
            event = await janus.message(session, handle, body, jsep)
        except BaseException:
            keepalive.cancel()
            await janus.destroy(session)
            raise
        resource = uuid.uuid4().hex
        lab.resources[resource] = _Resource(session, handle, keepalive,
                                            event["plugindata"]["data"].get("id"))
        return resource, event

    async def publish(request: web.Request) -> web.Response:
        if request.content_type != SDP:
            return web.Response(status=415)
        offer = await request.text()
        try:
            resource, event = await start(
                {"request": "joinandconfigure", "ptype": "publisher", "room": room,
                 "display": "whip", "audio": True, "video": True},
                {"type": "offer", "sdp": offer})
        except JanusError as exc:
            return web.Response(status=400, text=str(exc))
        return web.Response(status=201, text=event["jsep"]["sdp"], content_type=SDP,
                            headers={"Location": f"/whip/resource/{resource}"})

    async def view(request: web.Request) -> web.Response:
        session, handle = await janus.create()
        try:
            listing = await janus.message(session, handle,
                                          {"request": "listparticipants", "room": room})
        finally:
            await janus.destroy(session)
        publishers = [p["id"] for p in listing["plugindata"]["data"]["participants"]
                      if p.get("publisher")]
        if not publishers:
            return web.Response(status=404, text="nobody is publishing")
        try:
            resource, event = await start({"request": "join", "ptype": "subscriber",
                                           "room": room, "streams": [{"feed": publishers[-1]}]},
                                          None)
        except JanusError as exc:
            return web.Response(status=400, text=str(exc))
        return web.Response(status=201, text=event["jsep"]["sdp"], content_type=SDP,
                            headers={"Location": f"/whep/resource/{resource}"})

    async def answer(request: web.Request) -> web.Response:
        found = lab.resources.get(request.match_info["id"])
        if found is None:
            return web.Response(status=404)
        await janus.message(found.session, found.handle, {"request": "start"},
                            {"type": "answer", "sdp": await request.text()})
        return web.Response(status=204)

    async def delete(request: web.Request) -> web.Response:
        found = lab.resources.pop(request.match_info["id"], None)
        if found is None:
            return web.Response(status=404)
        found.keepalive.cancel()
        await janus.destroy(found.session)
        return web.Response(status=200)

    app = web.Application(middlewares=[check])
    app.router.add_route("OPTIONS", "/whip/endpoint", publish)
    app.router.add_post("/whip/endpoint", publish)
    app.router.add_post("/whep/endpoint", view)
    app.router.add_patch("/whep/resource/{id}", answer)
    app.router.add_delete("/whip/resource/{id}", delete)
    app.router.add_delete("/whep/resource/{id}", delete)
    return app


@pytest.fixture
async def whip_lab(in_lab_netns: LabNetns, janus_lab: JanusLab) -> AsyncIterator[WhipLab]:
    """The WHIP/WHEP endpoint on the lab address, in front of the lab's Janus."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        janus = JanusHttp(janus_lab.url, http)
        lab = WhipLab("", "", secrets.token_hex(8))
        runner = web.AppRunner(make_app(janus, lab, OPEN_ROOM))
        await runner.setup()
        site = web.TCPSite(runner, in_lab_netns.address, 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://{in_lab_netns.address}:{port}"
        lab.whip_url, lab.whep_url = f"{base}/whip/endpoint", f"{base}/whep/endpoint"
        try:
            yield lab
        finally:
            for resource in list(lab.resources.values()):
                resource.keepalive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await resource.keepalive
                await janus.destroy(resource.session)
            await runner.cleanup()
