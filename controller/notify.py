"""Incident changes sent to an operations centre by webhook and e-mail (best effort).

The outbox is the durable path upward: every incident change reaches the parent site exactly
once, however long the link is down. The webhook and e-mail here are side channels for a
provincial operations centre: each change is queued in memory (bounded; the oldest is dropped
when full), delivered in order and retried with backoff, and given up after ``max_attempts``.
Changes still queued at shutdown are lost, and nothing queued survives a restart.

Webhook: every stored change of an incident (this site's own and, at a parent, its subtree's)
is POSTed as JSON in a TMF621-like shape (TM Forum Trouble Ticket API), with
``Authorization: Bearer <token>`` when ``webhook_token_file`` is set (read at each attempt, so
a rotated token is picked up; never logged; only sent over HTTPS or to loopback) and
``Idempotency-Key: <incident id>:<version>``. 2xx is delivered; 408, 425, 429 and 5xx,
timeouts and connection errors are retried (``Retry-After`` honoured up to the backoff
ceiling); any other status drops the message. Mapping (docs/webhook.md has an example):

- ``id``, ``externalId`` ← incident id (unique in the tree); ``name`` ← title;
  ``description`` ← title, site and subject; ``ticketType`` = ``"incident"``.
- ``severity`` ← ``Minor`` | ``Major`` | ``Critical``.
- ``status`` ← state: open → ``acknowledged`` (the ticket is registered), acknowledged →
  ``inProgress`` (an officer took it in hand), resolved → ``resolved``; ``closed`` is not used.
- ``creationDate`` ← opened_at, ``lastUpdate`` ← latest timeline entry, ``resolutionDate`` ←
  resolved_at (absent while unresolved); ISO 8601 UTC.
- ``relatedEntity`` ← the affected site (role ``affectedSite``, ``@referredType: "Site"``) and
  the session, if any (role ``session``, ``@referredType: "ConferenceSession"``).
- ``troubleTicketRelationship`` ← the common-cause incident, if any (``causedBy``).
- ``note`` ← every timeline entry (date, author, text, ``noteType``: onset, recovery, note, …).
- ``statusChange`` ← the entries that changed the status (onset, acknowledged, resolved,
  reopened) with ``status``, ``changeDate``, ``changeReason``.
- ``@type: "DiemcauIncident"``, ``@baseType: "TroubleTicket"``, and the extension: ``site``
  {id, name}, ``reportedBy`` {id, name} (the sending site), ``subject``, ``kind``, ``state``,
  ``cause``, ``session``, ``version``, ``serious``, ``timeToRestore`` (seconds),
  ``regulatoryClocks`` {noticeDue, noticeSentAt, reportDue, reportSentAt, overdue}.

E-mail: a plain-text Vietnamese message (UTF-8) to ``email_to`` when a major or critical
incident opens (or reopens) and when it is resolved; notes and acknowledgements are not mailed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import ipaddress
import json
import logging
import re
import smtplib
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from controller import __version__
from controller.config import IncidentsConfig, SiteConfig, read_secret
from controller.errors import (
    DiemcauError,
    DiemcauTimeoutError,
    RemoteRefusedError,
    TransportError,
    is_retryable,
)
from controller.uplink_protocol import UplinkBackoff
from monitoring.incidents import Incident

log = logging.getLogger(__name__)

QUEUE_LIMIT: Final = 1000  # per channel
MAX_ATTEMPTS: Final = 10
BACKOFF_INITIAL: Final = 2.0
BACKOFF_MAX: Final = 300.0
HTTP_TIMEOUT: Final = 10.0
SMTP_TIMEOUT: Final = 15.0
MAILED_REMEMBERED: Final = 10_000
# HTTP statuses worth another attempt; any other non-2xx is the receiver saying no.
RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504, 507})
MAILED_SEVERITIES: Final = frozenset({"major", "critical"})
TMF_STATUS: Final = {"open": "acknowledged", "acknowledged": "inProgress",
                     "resolved": "resolved"}
TMF_SEVERITY: Final = {"minor": "Minor", "major": "Major", "critical": "Critical"}
# Timeline entry types that change the ticket's status, and the status they lead to.
_STATUS_ENTRIES: Final = {"onset": "acknowledged", "acknowledged": "inProgress",
                          "resolved": "resolved", "reopened": "acknowledged"}
SEVERITY_VI: Final = {"minor": "nhẹ", "major": "lớn", "critical": "nghiêm trọng"}
VIETNAM: Final = dt.timezone(dt.timedelta(hours=7), "ICT")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class DeliveryDeferredError(TransportError):
    """The receiver is busy or failing (5xx, 429, SMTP 4xx): try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Delivery:
    """One incident change waiting for one channel."""

    incident: Incident
    event: str  # change (webhook) | opened | reopened | resolved (e-mail)

    @property
    def key(self) -> str:
        """The idempotency key: the same for every attempt at this change."""
        return f"{self.incident.id}:{self.incident.version}"


class Channel:
    """A bounded FIFO with retry and backoff, sans I/O: the caller passes ``now``."""

    def __init__(self, name: str, *, limit: int = QUEUE_LIMIT,
                 max_attempts: int = MAX_ATTEMPTS, backoff: UplinkBackoff | None = None) -> None:
        self.name = name
        self.limit = limit
        self.max_attempts = max_attempts
        self.backoff = backoff or UplinkBackoff(BACKOFF_INITIAL, BACKOFF_MAX)
        self.pending: deque[Delivery] = deque()
        self.attempts = 0  # failed attempts at the head
        self.delivered = 0
        self.dropped = 0  # overflow, refused or given up
        self.overflowed = 0
        self._not_before: float | None = None
        self.wake = asyncio.Event()

    def put(self, delivery: Delivery) -> Delivery | None:
        """Queue a change; returns the oldest one dropped to make room, if any."""
        dropped = None
        if len(self.pending) >= self.limit:
            dropped = self.pending.popleft()
            self.attempts = 0
            self.dropped += 1
            self.overflowed += 1
        self.pending.append(delivery)
        self.wake.set()
        return dropped

    def due_in(self, now: float) -> float | None:
        """Seconds until the head may be tried; None when nothing is queued."""
        if not self.pending:
            return None
        return 0.0 if self._not_before is None else max(0.0, self._not_before - now)

    def succeeded(self) -> Delivery:
        """The head was delivered."""
        self.backoff.succeeded()
        self._not_before = None
        self.attempts = 0
        self.delivered += 1
        return self.pending.popleft()

    def refused(self) -> Delivery:
        """The head can never be delivered: drop it, keep the pace."""
        self.attempts = 0
        self.dropped += 1
        return self.pending.popleft()

    def failed(self, now: float, retry_after: float | None = None) -> Delivery | None:
        """The head failed at ``now``; returns it if it was given up."""
        self._not_before = self.backoff.failed(now)
        if retry_after is not None:
            self._not_before = now + min(max(retry_after, 0.0), self.backoff.maximum)
        self.attempts += 1
        if self.attempts < self.max_attempts:
            return None
        return self.refused()


class Notifier:
    """Sends incident changes to the operations centre's webhook and mailbox.

    `on_incident` is an `IncidentService` listener (call it on the event loop's thread);
    `run` delivers until cancelled; `close` releases the HTTP session.
    """

    def __init__(self, config: SiteConfig, clock: Callable[[], float] = time.time, *,
                 site_names: Callable[[str], str | None] | None = None,
                 queue_limit: int = QUEUE_LIMIT, max_attempts: int = MAX_ATTEMPTS,
                 backoff_initial: float = BACKOFF_INITIAL, backoff_max: float = BACKOFF_MAX,
                 http_timeout: float = HTTP_TIMEOUT, smtp_timeout: float = SMTP_TIMEOUT) -> None:
        self.settings: IncidentsConfig = config.incidents
        self.site_id = config.site.id
        self.site_name = config.site.name
        self.clock = clock
        self._child_names = {c.id: c.name for c in config.children if c.name}
        self._site_names = site_names
        self.http_timeout = http_timeout
        self.smtp_timeout = smtp_timeout
        self._session: aiohttp.ClientSession | None = None
        self._mailed: OrderedDict[str, None] = OrderedDict()

        def channel(name: str) -> Channel:
            return Channel(name, limit=queue_limit, max_attempts=max_attempts,
                           backoff=UplinkBackoff(backoff_initial, backoff_max))

        self._target = _safe_url(self.settings.webhook_url or "")
        self.webhook = channel("webhook") if self.settings.webhook_url else None
        if self.webhook is not None and self.settings.webhook_token_file is not None \
                and not _may_carry_token(self.settings.webhook_url or ""):
            log.error("incident webhook %s disabled: a bearer token needs https:// outside "
                      "loopback", self._target)
            self.webhook = None
        self.email = channel("e-mail") if self.settings.email_to else None
        self._failing: set[str] = set()

    # -- intake ----------------------------------------------------------------------------------

    def on_incident(self, incident: Incident) -> None:
        """Queue one stored change of an incident; never blocks, never raises."""
        try:
            if self.webhook is not None:
                self._put(self.webhook, Delivery(incident, "change"))
            event = mail_event(incident)
            if self.email is not None and event is not None:
                key = f"{incident.id}:{event}:{_last_at(incident)}"
                if key not in self._mailed:
                    self._mailed[key] = None
                    while len(self._mailed) > MAILED_REMEMBERED:
                        self._mailed.popitem(last=False)
                    self._put(self.email, Delivery(incident, event))
        except Exception:
            log.exception("could not queue a notification for incident %s", incident.id)

    def _put(self, channel: Channel, delivery: Delivery) -> None:
        dropped = channel.put(delivery)
        if dropped is not None and channel.overflowed % 100 == 1:
            log.warning("%s queue full (%d): dropped incident change %s (%d so far)",
                        channel.name, channel.limit, dropped.key, channel.overflowed)

    # -- delivery --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver queued changes, with retries, until cancelled."""
        async with asyncio.TaskGroup() as group:
            if self.webhook is not None:
                group.create_task(self._drain(self.webhook, self._post), name="notify:webhook")
            if self.email is not None:
                group.create_task(self._drain(self.email, self._mail), name="notify:e-mail")

    async def close(self) -> None:
        """Release the HTTP session; what is still queued is dropped (the outbox has it)."""
        left = sum(len(c.pending) for c in (self.webhook, self.email) if c is not None)
        if left:
            log.info("notifications: %d incident changes not delivered at shutdown", left)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _drain(self, channel: Channel,
                     send: Callable[[Delivery], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = channel.due_in(loop.time())
            if delay is None or delay > 0:
                channel.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(channel.wake.wait(), delay)
                continue
            delivery = channel.pending[0]
            try:
                await send(delivery)
            except DiemcauError as exc:
                if not is_retryable(exc):
                    channel.refused()
                    log.warning("%s refused incident change %s: %s", channel.name,
                                delivery.key, exc)
                    continue
                retry_after = exc.retry_after if isinstance(exc, DeliveryDeferredError) else None
                if channel.name not in self._failing:
                    self._failing.add(channel.name)
                    log.warning("%s delivery failing: %s; will retry", channel.name, exc)
                if channel.failed(loop.time(), retry_after) is not None:
                    log.warning("%s gave up on incident change %s after %d attempts",
                                channel.name, delivery.key, channel.max_attempts)
                continue
            except Exception:
                # Bad data must not stop the loop: drop this change, keep the rest.
                channel.refused()
                log.exception("%s could not send incident change %s", channel.name,
                              delivery.key)
                continue
            channel.succeeded()
            if channel.name in self._failing:
                self._failing.discard(channel.name)
                log.info("%s delivery working again", channel.name)

    async def _post(self, delivery: Delivery) -> None:
        url = self.settings.webhook_url or ""
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Idempotency-Key": delivery.key, "User-Agent": f"diemcau/{__version__}",
                   "X-Diemcau-Site": self.site_id}
        token_file = self.settings.webhook_token_file
        if token_file is not None:
            try:
                token = await asyncio.to_thread(read_secret, token_file)
            except (OSError, UnicodeDecodeError) as exc:
                raise TransportError(f"cannot read incidents.webhook_token_file: "
                                     f"{type(exc).__name__}") from exc
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(self.trouble_ticket(delivery.incident), ensure_ascii=False)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=self.http_timeout, connect=min(5.0, self.http_timeout)))
        try:
            async with self._session.post(url, data=body.encode("utf-8"), headers=headers,
                                          allow_redirects=False) as response:
                await response.read()
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise DiemcauTimeoutError(f"webhook {self._target}: no answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"webhook {self._target}: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            return
        if status in RETRY_STATUSES:
            raise DeliveryDeferredError(f"webhook {self._target}: HTTP {status}",
                                        retry_after=retry_after)
        raise RemoteRefusedError(f"webhook {self._target}: HTTP {status}",
                                 code=f"http_{status}")

    async def _mail(self, delivery: Delivery) -> None:
        message = self.email_message(delivery)
        settings = self.settings
        try:
            await asyncio.to_thread(_smtp_send, settings.smtp_host, settings.smtp_port,
                                    message, self.smtp_timeout)
        except smtplib.SMTPRecipientsRefused as exc:
            raise RemoteRefusedError("SMTP: every recipient refused", code="smtp_rcpt") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise RemoteRefusedError(f"SMTP {exc.smtp_code}",
                                         code=f"smtp_{exc.smtp_code}") from exc
            raise DeliveryDeferredError(f"SMTP {exc.smtp_code}") from exc
        except TimeoutError as exc:
            raise DiemcauTimeoutError(f"SMTP {settings.smtp_host}: no answer in time") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"SMTP {settings.smtp_host}: {type(exc).__name__}") from exc

    # -- shapes ----------------------------------------------------------------------------------

    def name_of(self, site_id: str) -> str:
        """A site's display name, as this site knows it."""
        if site_id == self.site_id:
            return self.site_name
        name = self._site_names(site_id) if self._site_names is not None else None
        return _clean(name or self._child_names.get(site_id) or site_id)

    def trouble_ticket(self, incident: Incident) -> dict[str, Any]:
        """The webhook body: a TMF621-like TroubleTicket with the diemcau extension."""
        site = self.name_of(incident.origin)
        timeline = [t for t in incident.timeline if isinstance(t, Mapping)]
        ticket: dict[str, Any] = {
            "id": incident.id,
            "externalId": incident.id,
            "name": incident.title,
            "description": f"{incident.title} — {site} ({incident.subject})",
            "ticketType": "incident",
            "severity": TMF_SEVERITY.get(incident.severity, "Major"),
            "status": TMF_STATUS.get(incident.state, "acknowledged"),
            "creationDate": iso(incident.opened_at),
            "lastUpdate": iso(_last_at(incident)),
        }
        if incident.resolved_at is not None:
            ticket["resolutionDate"] = iso(incident.resolved_at)
        related = [{"id": incident.origin, "role": "affectedSite", "name": site,
                    "@referredType": "Site"}]
        if incident.session:
            related.append({"id": incident.session, "role": "session",
                            "@referredType": "ConferenceSession"})
        ticket["relatedEntity"] = related
        if incident.cause:
            ticket["troubleTicketRelationship"] = [
                {"id": incident.cause, "relationshipType": "causedBy",
                 "@referredType": "TroubleTicket"}]
        ticket["note"] = [{"date": iso(_at(t, incident.opened_at)),
                           "author": _author(incident, t),
                           "text": _clean(str(t.get("text", ""))),
                           "noteType": str(t.get("type", "note"))} for t in timeline]
        ticket["statusChange"] = [
            {"status": _STATUS_ENTRIES[str(t.get("type"))],
             "changeDate": iso(_at(t, incident.opened_at)),
             "changeReason": _clean(str(t.get("text", "")))}
            for t in timeline if t.get("type") in _STATUS_ENTRIES]
        ttr = incident.time_to_restore()
        ticket.update({
            "@type": "DiemcauIncident",
            "@baseType": "TroubleTicket",
            "site": {"id": incident.origin, "name": site},
            "reportedBy": {"id": self.site_id, "name": self.site_name},
            "subject": incident.subject,
            "kind": incident.kind,
            "state": incident.state,
            "cause": incident.cause,
            "session": incident.session,
            "version": incident.version,
            "serious": incident.serious,
            "timeToRestore": ttr,
            "regulatoryClocks": {
                "noticeDue": _iso_or_none(incident.notice_due),
                "noticeSentAt": _iso_or_none(incident.notice_sent_at),
                "reportDue": _iso_or_none(incident.report_due),
                "reportSentAt": _iso_or_none(incident.report_sent_at),
                "overdue": incident.overdue(self.clock()),
            },
        })
        return ticket

    def email_message(self, delivery: Delivery) -> EmailMessage:
        """The Vietnamese plain-text e-mail for an incident that opened or was resolved."""
        incident = delivery.incident
        site = self.name_of(incident.origin)
        title = _clean(incident.title)
        severity = SEVERITY_VI.get(incident.severity, incident.severity)
        if delivery.event == "resolved":
            subject = f"[diemcau] Đã khắc phục sự cố tại {site}: {title}"
        elif delivery.event == "reopened":
            subject = f"[diemcau] Sự cố tái diễn tại {site}: {title}"
        else:
            subject = f"[diemcau] Sự cố {severity} tại {site}: {title}"
        lines = [
            f"Sự cố: {title}",
            f"Mức độ: {severity} ({incident.severity})",
            f"Điểm cầu: {site} ({incident.origin})",
            f"Đối tượng: {_clean(incident.subject)}",
            f"Bắt đầu lúc: {local_time(incident.opened_at)}",
        ]
        if incident.resolved_at is not None:
            lines.append(f"Khắc phục lúc: {local_time(incident.resolved_at)}")
            lines.append(f"Thời gian khắc phục: {duration_vi(incident.time_to_restore() or 0)}")
            who = "tự phục hồi" if incident.resolved_by == "system" else incident.resolved_by
            lines.append(f"Người xử lý: {_clean(who or '')}")
            if incident.resolution:
                lines.append(f"Kết quả xử lý: {_clean(incident.resolution)}")
        if incident.cause:
            lines.append(f"Thuộc sự cố chung: {incident.cause}")
        if incident.notice_due is not None and incident.report_due is not None:
            lines.append(f"Hạn thông báo ban đầu (24 giờ): {local_time(incident.notice_due)}")
            lines.append(f"Hạn báo cáo đầy đủ (72 giờ): {local_time(incident.report_due)}")
        lines.append(f"Mã sự cố: {incident.id}")
        entries = [t for t in incident.timeline if isinstance(t, Mapping)][-10:]
        if entries:
            lines += ["", "Diễn biến:"]
            lines += [f"- {local_time(_at(t, incident.opened_at))}: "
                      f"{_clean(str(t.get('text', '')))}" for t in entries]
        lines += ["", "--", f"Thư gửi tự động từ hệ thống diemcau tại {self.site_name}. "
                  "Vui lòng không trả lời thư này."]
        message = EmailMessage()
        message["Subject"] = subject[:250]
        message["From"] = self.settings.email_from
        message["To"] = ", ".join(self.settings.email_to)
        message["Date"] = email.utils.formatdate(self.clock(), localtime=False)
        message["Message-ID"] = email.utils.make_msgid("diemcau")
        message.set_content("\n".join(lines) + "\n", charset="utf-8")
        return message


# -- helpers -------------------------------------------------------------------------------------

def mail_event(incident: Incident) -> str | None:
    """``opened``, ``reopened`` or ``resolved`` when this change is worth an e-mail."""
    if incident.severity not in MAILED_SEVERITIES or not incident.timeline:
        return None
    last = incident.timeline[-1]
    kind = last.get("type") if isinstance(last, Mapping) else None
    if kind == "onset" and incident.state == "open":
        return "opened"
    if kind == "reopened" and incident.state == "open":
        return "reopened"
    if kind == "resolved" and incident.state == "resolved":
        return "resolved"
    return None


def iso(at: float) -> str:
    """ISO 8601 in UTC with a ``Z``, to the millisecond."""
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _iso_or_none(at: float | None) -> str | None:
    return None if at is None else iso(at)


def local_time(at: float) -> str:
    """Vietnam time as officers write it: ``14:05:09 22/11/2026``."""
    return dt.datetime.fromtimestamp(at, VIETNAM).strftime("%H:%M:%S %d/%m/%Y")


def duration_vi(seconds: float) -> str:
    """``1 giờ 5 phút``, ``3 phút 20 giây``, ``45 giây``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes} phút"
    if minutes:
        return f"{minutes} phút {secs} giây"
    return f"{secs} giây"


def _at(entry: Mapping[str, Any], default: float) -> float:
    value = entry.get("at")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else default


def _last_at(incident: Incident) -> float:
    times = [incident.opened_at, *(_at(t, incident.opened_at) for t in incident.timeline
                                   if isinstance(t, Mapping))]
    return max(times)


def _author(incident: Incident, entry: Mapping[str, Any]) -> str:
    by = entry.get("by")
    if entry.get("type") == "acknowledged":
        by = by or incident.acknowledged_by
    elif entry.get("type") == "resolved":
        by = by or incident.resolved_by
    return _clean(str(by)) if by else "system"


def _clean(text: str) -> str:
    """One line, no control characters (headers, logs, plain-text lines)."""
    return _CONTROL.sub(" ", text).strip()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: the backoff decides


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _may_carry_token(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or _is_loopback(parts.hostname or "")


def _safe_url(url: str) -> str:
    """The URL for logs: scheme, host and path, never credentials or a query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _smtp_send(host: str, port: int, message: EmailMessage, timeout: float) -> None:
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        smtp.send_message(message)
