"""Incident changes reach an operations centre: a real HTTP receiver and a real SMTP server on
loopback, fed by the site's own `IncidentService` (its listener path, not a stand-in)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from controller.app import create_app
from controller.config import SiteConfig, load_config
from controller.context import CONTEXT
from controller.incidents import IncidentService
from controller.notify import Channel, Delivery, Notifier, mail_event
from controller.uplink_protocol import UplinkBackoff
from monitoring.incidents import Cleared, Incident, Onset
from tests.conftest import FakeClock, free_port, write_site_config

TOKEN = "webhook-token-9f8e7d6c5b4a"


# -- peers ---------------------------------------------------------------------------------------

@dataclass
class Receiver:
    """What the operations centre's webhook endpoint got."""

    url: str
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    failures_left: int = 0
    attempts: int = 0


@asynccontextmanager
async def webhook_receiver(fail_first: int = 0) -> AsyncIterator[Receiver]:
    """An aiohttp app on 127.0.0.1 that answers 500 ``fail_first`` times, then 204."""
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/tmf-api/troubleTicket/v4/troubleTicket",
                        failures_left=fail_first)

    async def accept(request: web.Request) -> web.Response:
        receiver.attempts += 1
        body = await request.json()
        if receiver.failures_left > 0:
            receiver.failures_left -= 1
            return web.Response(status=500)
        receiver.requests.append((dict(request.headers), body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/tmf-api/troubleTicket/v4/troubleTicket", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    server = Controller(mailbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        yield mailbox, port
    finally:
        server.stop()


# -- the site ------------------------------------------------------------------------------------

@dataclass
class Site:
    config: SiteConfig
    incidents: IncidentService
    notifier: Notifier


@asynccontextmanager
async def site_with_notifier(tmp_path: Path, clock: FakeClock, incidents_toml: str,
                             **options: Any) -> AsyncIterator[Site]:
    """A commune site (its real incident service) with a running notifier listening to it."""
    config = load_config(write_site_config(tmp_path / "site", extra=incidents_toml))
    app = create_app(config, clock=clock, announce=lambda _text: None)
    ctx = app[CONTEXT]
    notifier = Notifier(config, clock, **options)
    ctx.incidents.listeners.append(notifier.on_incident)
    task = asyncio.create_task(notifier.run(), name="notify")
    try:
        yield Site(config, ctx.incidents, notifier)
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await notifier.close()
        ctx.store.close()


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.01)


def call_dropped(clock: FakeClock) -> Onset:
    return Onset("call_dropped", "call:tinh", clock(), "critical", "Mất kết nối hội nghị")


# -- webhook -------------------------------------------------------------------------------------

async def test_webhook_gets_each_change_as_a_tmf621_ticket_with_token_and_keys(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "webhook.secret").write_text(TOKEN + "\n")
    async with webhook_receiver() as receiver:
        toml = (f'[incidents]\nwebhook_url = "{receiver.url}"\n'
                'webhook_token_file = "webhook.secret"\n')
        async with site_with_notifier(tmp_path, clock, toml) as site:
            opened = site.incidents.open(call_dropped(clock))
            await eventually(lambda: len(receiver.requests) == 1)
            clock.advance(60)
            site.incidents.acknowledge(opened.id, actor="vanhanh")
            await eventually(lambda: len(receiver.requests) == 2)
            clock.advance(240)
            site.incidents.resolve(opened.id, "Khởi động lại bộ mã hóa", actor="vanhanh")
            await eventually(lambda: len(receiver.requests) == 3)

    headers = [h for h, _ in receiver.requests]
    tickets = [b for _, b in receiver.requests]
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for h in headers)
    assert all(h["Content-Type"].startswith("application/json") for h in headers)
    keys = [h["Idempotency-Key"] for h in headers]
    assert keys == [f"{opened.id}:{t['version']}" for t in tickets]
    assert len(set(keys)) == 3
    assert [t["status"] for t in tickets] == ["acknowledged", "inProgress", "resolved"]

    first, last = tickets[0], tickets[-1]
    assert first["id"] == first["externalId"] == opened.id
    assert first["ticketType"] == "incident"
    assert first["@type"] == "DiemcauIncident"
    assert first["severity"] == "Critical"
    assert first["name"] == "Mất kết nối hội nghị"
    assert first["relatedEntity"] == [{"id": "xa-hoang-hop", "role": "affectedSite",
                                       "name": "UBND xã Hoàng Hợp", "@referredType": "Site"}]
    assert first["creationDate"].endswith("Z")
    assert "resolutionDate" not in first
    assert first["regulatoryClocks"]["noticeDue"] is not None
    assert first["kind"] == "call_dropped"
    assert first["subject"] == "call:tinh"
    assert last["resolutionDate"] > last["creationDate"]
    assert last["timeToRestore"] == 300.0
    assert [c["status"] for c in last["statusChange"]] == [
        "acknowledged", "inProgress", "resolved"]
    assert last["note"][-1]["text"] == "Khởi động lại bộ mã hóa"
    assert last["note"][-1]["author"] == "vanhanh"
    assert TOKEN not in caplog.text


async def test_webhook_failing_twice_gets_the_change_after_retries(
        tmp_path: Path, clock: FakeClock) -> None:
    async with webhook_receiver(fail_first=2) as receiver:
        toml = f'[incidents]\nwebhook_url = "{receiver.url}"\n'
        async with site_with_notifier(tmp_path, clock, toml, backoff_initial=0.05,
                                      backoff_max=0.2) as site:
            opened = site.incidents.open(call_dropped(clock))
            await eventually(lambda: len(receiver.requests) == 1)
            assert site.notifier.webhook is not None
            assert site.notifier.webhook.delivered == 1
    assert receiver.attempts == 3
    headers, ticket = receiver.requests[0]
    assert headers["Idempotency-Key"] == f"{opened.id}:{ticket['version']}"
    assert "Authorization" not in headers


@pytest.mark.parametrize("peer", ["refused", "silent"])
async def test_an_unreachable_webhook_neither_blocks_nor_stops_the_site(
        tmp_path: Path, clock: FakeClock, peer: str) -> None:
    port = free_port()
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(hold, "127.0.0.1", port) if peer == "silent" else None
    toml = f'[incidents]\nwebhook_url = "http://127.0.0.1:{port}/hook"\n'
    try:
        async with site_with_notifier(tmp_path, clock, toml, backoff_initial=0.05,
                                      backoff_max=0.1, http_timeout=0.2,
                                      queue_limit=5) as site:
            started = time.monotonic()
            for i in range(20):
                clock.advance(1)
                site.incidents.report_problem(f"Sự cố thử {i}", "", "minor", actor="vanhanh")
            assert time.monotonic() - started < 1.0
            channel = site.notifier.webhook
            assert channel is not None
            assert len(channel.pending) == 5
            await eventually(lambda: channel.attempts >= 2)
            # The site goes on: incidents are still kept and queued for the parent.
            assert len(site.incidents.find(scope="local")) == 20
            assert channel.delivered == 0
    finally:
        for writer in accepted:
            writer.close()
        if server is not None:
            server.close()
            await server.wait_closed()


def test_a_token_is_never_sent_in_clear_text(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "webhook.secret").write_text(TOKEN)
    toml = ('[incidents]\nwebhook_url = "http://noc.example.vn/hook"\n'
            'webhook_token_file = "webhook.secret"\n')
    config = load_config(write_site_config(tmp_path / "site", extra=toml))
    assert Notifier(config).webhook is None
    https = replace(config, incidents=replace(config.incidents,
                                              webhook_url="https://noc.example.vn/hook"))
    assert Notifier(https).webhook is not None


# -- e-mail --------------------------------------------------------------------------------------

async def test_a_critical_incident_and_its_resolution_are_mailed_in_vietnamese(
        tmp_path: Path, clock: FakeClock) -> None:
    with smtp_server() as (mailbox, port):
        toml = ('[incidents]\nemail_to = ["trucban@stttt.example.vn", "kythuat@example.vn"]\n'
                f'email_from = "diemcau@xa.example.vn"\nsmtp_port = {port}\n')
        async with site_with_notifier(tmp_path, clock, toml) as site:
            opened = site.incidents.open(call_dropped(clock))
            await eventually(lambda: len(mailbox.messages) == 1)
            clock.advance(65)
            site.incidents.clear(Cleared("call_dropped", "call:tinh", clock()))
            await eventually(lambda: len(mailbox.messages) == 2)

    first, second = mailbox.messages
    assert first["Subject"] == ("[diemcau] Sự cố nghiêm trọng tại UBND xã Hoàng Hợp: "
                                "Mất kết nối hội nghị")
    assert first["From"] == "diemcau@xa.example.vn"
    assert mailbox.recipients[0] == ["trucban@stttt.example.vn", "kythuat@example.vn"]
    assert first.get_content_type() == "text/plain"
    assert first.get_content_charset() == "utf-8"
    body = first.get_content()
    assert "Điểm cầu: UBND xã Hoàng Hợp (xa-hoang-hop)" in body
    assert "Hạn thông báo ban đầu (24 giờ)" in body
    assert f"Mã sự cố: {opened.id}" in body
    assert second["Subject"] == ("[diemcau] Đã khắc phục sự cố tại UBND xã Hoàng Hợp: "
                                 "Mất kết nối hội nghị")
    assert "Thời gian khắc phục: 1 phút 5 giây" in second.get_content()
    assert "tự phục hồi" in second.get_content()


async def test_notes_and_minor_incidents_are_not_mailed(tmp_path: Path,
                                                        clock: FakeClock) -> None:
    with smtp_server() as (mailbox, port):
        toml = f'[incidents]\nemail_to = ["trucban@example.vn"]\nsmtp_port = {port}\n'
        async with site_with_notifier(tmp_path, clock, toml) as site:
            minor = site.incidents.report_problem("Micro số 2 rè", "Tiếng rè nhẹ", "minor",
                                                  actor="vanhanh")
            site.incidents.add_note(minor.id, "Đã thay dây micro", actor="vanhanh")
            site.incidents.resolve(minor.id, "Đã thay dây", actor="vanhanh")
            major = site.incidents.report_problem("Máy chiếu tắt", "", "major",
                                                  actor="vanhanh")
            site.incidents.acknowledge(major.id, actor="vanhanh")
            site.incidents.add_note(major.id, "Đang kiểm tra nguồn", actor="vanhanh")
            site.incidents.open(call_dropped(clock))  # mailed: it comes after the rest
            await eventually(lambda: len(mailbox.messages) == 2)
            await asyncio.sleep(0.1)

    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects == [
        "[diemcau] Sự cố lớn tại UBND xã Hoàng Hợp: Máy chiếu tắt",
        "[diemcau] Sự cố nghiêm trọng tại UBND xã Hoàng Hợp: Mất kết nối hội nghị"]


# -- the queue, with a fake clock ------------------------------------------------------------------

def _incident(version: int = 1) -> Incident:
    return Incident("xa-1-abc", "xa-hoang-hop", "manual", "manual:1", "major", "Thử", 0.0,
                    version=version)


def test_channel_backs_off_gives_up_and_keeps_its_bound() -> None:
    channel = Channel("webhook", limit=3, max_attempts=3,
                      backoff=UplinkBackoff(1.0, 8.0, rng=_Fixed()))
    for version in range(1, 6):
        channel.put(Delivery(_incident(version), "change"))
    assert [d.incident.version for d in channel.pending] == [3, 4, 5]
    assert channel.due_in(100.0) == 0.0
    assert channel.failed(100.0) is None
    assert channel.due_in(100.0) == 1.0
    assert channel.failed(101.0, retry_after=5.0) is None
    assert channel.due_in(101.0) == 5.0
    given_up = channel.failed(106.0)
    assert given_up is not None
    assert given_up.incident.version == 3
    assert channel.due_in(106.0) == 4.0  # the receiver is still failing: keep the pace
    assert channel.succeeded().incident.version == 4
    assert channel.due_in(106.0) == 0.0
    assert channel.dropped == 3


def test_only_openings_reopenings_and_resolutions_of_serious_incidents_are_mail_events(
) -> None:
    opened = Incident("i", "s", "call_dropped", "call:t", "critical", "Mất kết nối", 0.0) \
        .note(0.0, "onset", "Mất kết nối")
    assert mail_event(opened) == "opened"
    assert mail_event(opened.acknowledge(1.0, "a")) is None
    assert mail_event(opened.note(2.0, "note", "x")) is None
    resolved = opened.resolve(3.0, "system")
    assert mail_event(resolved) == "resolved"
    assert mail_event(resolved.reopen(4.0)) == "reopened"
    minor = Incident("j", "s", "manual", "m", "minor", "Nhẹ", 0.0).note(0.0, "onset", "Nhẹ")
    assert mail_event(minor) is None


class _Fixed(random.Random):
    """An rng whose uniform() always gives the top of the range: predictable delays."""

    def uniform(self, _low: float, high: float) -> float:
        return high
