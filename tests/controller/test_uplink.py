"""Two sites on loopback: a commune dials its province over the uplink."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar, WSMsgType, web

from controller.app import create_app, serve
from controller.config import SiteConfig, load_config
from controller.context import CONTEXT
from controller.uplink import _next_frame
from controller.uplink_protocol import (
    Ack,
    Auth,
    Challenge,
    Error,
    Heartbeat,
    Hello,
    Result,
    SessionStatus,
    Topology,
    Welcome,
    decode,
    encode,
    proof,
)
from tests.conftest import SECRET_TEXT, free_port, write_site_config

PASSWORD = "quan-tri-mat-khau-1"


def province_config(base: Path, port: int) -> SiteConfig:
    """A province that knows xa-hoang-hop (same secret) and xa-quang-phu (another secret)."""
    directory = base / "tinh"
    directory.mkdir(parents=True)
    (directory / "xa-hoang-hop.secret").write_text(SECRET_TEXT)
    (directory / "xa-quang-phu.secret").write_text("mot-bi-mat-khac-han\n")
    for secret in directory.glob("*.secret"):
        secret.chmod(0o600)
    extra = "".join(
        f'[[children]]\nid = "{child}"\nname = "{child}"\ncredential_file = "{child}.secret"\n\n'
        for child in ("xa-hoang-hop", "xa-quang-phu"))
    return load_config(write_site_config(directory, site_id="tinh-thanh-hoa", level="province",
                                         port=port, extra=extra))


def commune_config(base: Path, site_id: str, province_port: int,
                   secret: str = SECRET_TEXT) -> SiteConfig:
    """A commune whose uplink points at the province's /uplink, heartbeat every second."""
    path = write_site_config(base / site_id, site_id=site_id)
    (base / site_id / "uplink.secret").write_text(secret)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "ws://127.0.0.1:9/uplink",
        f'ws://127.0.0.1:{province_port}/uplink"\nheartbeat_seconds = 1\n#"'), encoding="utf-8")
    return load_config(path)


@asynccontextmanager
async def running(config: SiteConfig) -> AsyncIterator[web.Application]:
    """Serve one site on its configured port until the block ends."""
    app = create_app(config, announce=lambda _text: None)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve([(config, app)], stop, ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def until(check: Callable[[], bool], seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def site_view(app: web.Application, port: int) -> dict[str, Any]:
    """GET /api/v1/site as a logged-in admin."""
    accounts = app[CONTEXT].accounts
    if not any(u.username == "quantri" for u in accounts.list()):
        accounts.add("quantri", PASSWORD, "admin", actor="test")
    base = f"http://127.0.0.1:{port}"
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        async with http.post(base + "/api/v1/login",
                             json={"username": "quantri", "password": PASSWORD}) as resp:
            assert resp.status == 200
        async with http.get(base + "/api/v1/site") as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            return body


def uplink_state(app: web.Application) -> str:
    uplink = app[CONTEXT].uplink
    assert uplink is not None
    return uplink.state


async def test_a_commune_connects_and_reconnects_after_the_province_restarts(
        tmp_path: Path) -> None:
    port = free_port()
    province = province_config(tmp_path, port)
    commune = commune_config(tmp_path, "xa-hoang-hop", port)
    async with running(commune) as commune_app:
        async with running(province) as province_app:
            hub = province_app[CONTEXT].children
            await until(lambda: uplink_state(commune_app) == "connected")
            await until(lambda: hub.children["xa-hoang-hop"].last_heartbeat is not None)
            view = await site_view(province_app, port)
            child = {c["id"]: c for c in view["children"]}
            assert child["xa-hoang-hop"]["state"] == "online"
            assert child["xa-hoang-hop"]["since"]
            assert child["xa-hoang-hop"]["last_heartbeat"]
            assert child["xa-hoang-hop"]["summary"] == {
                "devices_online": 0, "devices_total": 0, "calls": 0, "link": "none",
                "local_control_only": False, "session": ""}
            assert child["xa-quang-phu"]["state"] == "offline"
            actions = [e.action for e in province_app[CONTEXT].audit.entries(limit=50)]
            assert "uplink.child_connected" in actions
            own = await site_view(commune_app, commune.console.port)
            assert own["uplink"]["state"] == "connected"
            assert own["uplink"]["since"]
        await until(lambda: uplink_state(commune_app) != "connected")
        async with running(province) as province_app:
            await until(lambda: uplink_state(commune_app) == "connected")
            await until(lambda: province_app[CONTEXT].children.describe(
                "xa-hoang-hop")["state"] == "online")


async def test_a_commune_with_the_wrong_secret_is_refused(tmp_path: Path) -> None:
    port = free_port()
    province = province_config(tmp_path, port)
    impostor = commune_config(tmp_path, "xa-quang-phu", port, secret="doan-mo-sai\n")
    async with running(province) as province_app, running(impostor) as impostor_app:
        audit = province_app[CONTEXT].audit

        def refused() -> bool:
            return any(e.action == "uplink.child_refused" and e.target == "xa-quang-phu"
                       for e in audit.entries(limit=50))

        await until(refused)
        await asyncio.sleep(0.2)
        assert uplink_state(impostor_app) != "connected"
        client = impostor_app[CONTEXT].uplink
        assert client is not None
        assert "not_authorised" in (client.last_error or "")
        assert province_app[CONTEXT].children.describe("xa-quang-phu")["state"] == "offline"


async def test_garbage_gets_an_error_reply_and_the_link_survives(tmp_path: Path) -> None:
    port = free_port()
    province = province_config(tmp_path, port)
    url = f"ws://127.0.0.1:{port}/uplink"
    async with running(province) as province_app, ClientSession() as http:
        async with http.ws_connect(url) as ws:  # garbage instead of hello: refused, closed
            await ws.send_str("{not json")
            assert decode(await ws.receive_str()) == Error("protocol", "expected hello")
            assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        async with http.ws_connect(url) as ws:
            await ws.send_str(encode(Hello("xa-hoang-hop", "commune", "x", "0")))
            challenge = decode(await ws.receive_str())
            assert isinstance(challenge, Challenge)
            await ws.send_str(encode(Auth("xa-hoang-hop", proof(
                SECRET_TEXT.strip(), challenge.nonce, "xa-hoang-hop"))))
            assert decode(await ws.receive_str()) == Welcome("tinh-thanh-hoa")
            for junk in ('{"v": 9, "type": "ack", "seq": 1}', '{"v": 1, "type": "launch"}',
                         encode(Welcome("x"))):
                await ws.send_str(junk)
                reply = decode(await ws.receive_str())
                assert isinstance(reply, Error)
            await ws.send_str(encode(Heartbeat(1, 1.0, {"calls": 1, "x" * 100: 1})))
            assert decode(await ws.receive_str()) == Ack(1)
            assert province_app[CONTEXT].children.describe("xa-hoang-hop")["summary"] == {
                "calls": 1}
            # A result for no command, a status for a session nobody has, a topology from a
            # child that names itself a sibling: ignored, and the link still answers.
            await ws.send_str(encode(Result("khong-co", True, "ok", "", {})))
            await ws.send_str(encode(SessionStatus("khong-co", "xa-hoang-hop", {"x": 1})))
            await ws.send_str(encode(Topology(0, True, [
                {"id": "xa-hoang-hop", "online": True}, {"id": "xa-quang-phu"}, {"id": 7}])))
            await ws.send_str(encode(Heartbeat(2, 2.0, {})))
            assert decode(await ws.receive_str()) == Ack(2)
            tree = province_app[CONTEXT].tree
            assert tree.route("xa-hoang-hop") == "xa-hoang-hop"
            assert tree.route("xa-quang-phu") == "xa-quang-phu"  # not through xa-hoang-hop
            metrics = province_app[CONTEXT].metrics.exposition().decode()
            assert 'diemcau_frames_dropped_total{protocol="uplink",reason="wrong_version"} 1.0' \
                in metrics


async def test_a_connected_but_silent_child_is_called_offline(tmp_path: Path) -> None:
    port = free_port()
    province = province_config(tmp_path, port)
    url = f"ws://127.0.0.1:{port}/uplink"
    async with running(province) as province_app, ClientSession() as http:
        province_app[CONTEXT].children.silence_limit = 0.5
        async with http.ws_connect(url) as ws:
            await ws.send_str(encode(Hello("xa-hoang-hop", "commune", "x", "0")))
            challenge = decode(await ws.receive_str())
            assert isinstance(challenge, Challenge)
            await ws.send_str(encode(Auth("xa-hoang-hop", proof(
                SECRET_TEXT.strip(), challenge.nonce, "xa-hoang-hop"))))
            assert decode(await ws.receive_str()) == Welcome("tinh-thanh-hoa")
            children = province_app[CONTEXT].children
            assert children.describe("xa-hoang-hop")["state"] == "online"
            closed = await ws.receive(timeout=5)  # now say nothing
            assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        for _ in range(50):
            if children.describe("xa-hoang-hop")["state"] == "offline":
                break
            await asyncio.sleep(0.05)
        assert children.describe("xa-hoang-hop")["state"] == "offline"


async def test_a_frame_queued_at_the_heartbeat_deadline_is_never_lost() -> None:
    outbox: asyncio.Queue[str] = asyncio.Queue()
    receiver = asyncio.create_task(asyncio.Event().wait())
    loop = asyncio.get_running_loop()
    sent: list[str] = []
    try:
        for i in range(300):
            # The frame arrives exactly when the wait for it runs out.
            loop.call_later(0.001, outbox.put_nowait, f"frame-{i}")
            frame = await _next_frame(outbox, receiver, 0.001)
            if frame is None:
                frame = await _next_frame(outbox, receiver, 1.0)
            sent.append(str(frame))
        assert sent == [f"frame-{i}" for i in range(300)]
        assert outbox.empty()
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
