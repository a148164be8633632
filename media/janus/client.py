"""Janus Gateway API over HTTP: session, plugin handles, keepalive, long-poll events.

Janus answers a plugin message either at once (``success`` with ``plugindata``) or with
an ``ack`` followed by an event carrying the same transaction on the long poll
(https://janus.conf.meetecho.com/docs/rest.html). Events without a pending transaction go
to the handle's listener. Signalling loss (long poll failing, ``458 No such session``) is
reported once through ``on_lost``; the call decides what to do about media.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp

from media.bridges.base import (
    BridgeRefusedError,
    BridgeUnreachableError,
    MediaError,
    MediaTimeoutError,
)

_log = logging.getLogger(__name__)

JanusMessage = dict[str, Any]
EventListener = Callable[[JanusMessage], None]

SESSION_NOT_FOUND: Final = 458
HANDLE_NOT_FOUND: Final = 459


def _transaction() -> str:
    return secrets.token_hex(8)


class JanusHandle:
    """One attached plugin handle."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.listener: EventListener | None = None

    async def message(self, body: Mapping[str, Any], jsep: Mapping[str, Any] | None = None, *,
                      within: float = 10.0) -> tuple[JanusMessage, JanusMessage | None]:
        """Send a plugin request; returns the plugin's data and its JSEP (if any)."""
        return await self.session.plugin_message(self.id, body, jsep, within=within)

    async def detach(self) -> None:
        """Detach from the plugin (best effort: errors are logged, not raised)."""
        try:
            await self.session.post({"janus": "detach"}, self.id, within=3)
        except MediaError as exc:
            _log.debug("detach of handle %s failed: %s", self.id, exc)


class JanusSession:
    """A Janus session kept alive with keepalives and served by one long poll."""

    def __init__(self, http: aiohttp.ClientSession, url: str, *,
                 on_lost: Callable[[str], None] | None = None,
                 keepalive_interval: float = 25.0, max_events: int = 10,
                 token: str | None = None, api_secret: str | None = None,
                 poll_failures_lost: int = 2) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self.id: int | None = None
        self.on_lost = on_lost
        self.keepalive_interval = keepalive_interval
        self.max_events = max_events
        self._auth = {k: v for k, v in (("token", token), ("apisecret", api_secret)) if v}
        self._poll_failures_lost = poll_failures_lost
        self._pending: dict[str, asyncio.Future[JanusMessage]] = {}
        self._handles: dict[int, JanusHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.lost = False

    async def create(self) -> None:
        """Create the session and start the keepalive and long-poll tasks."""
        answer = await self.post({"janus": "create"}, within=5)
        self.id = int(answer["data"]["id"])
        self._tasks = [
            asyncio.create_task(self._poll(), name=f"janus-poll-{self.id}"),
            asyncio.create_task(self._keepalive(), name=f"janus-keepalive-{self.id}"),
        ]

    async def attach(self, plugin: str) -> JanusHandle:
        """Attach a handle to ``plugin``."""
        answer = await self.post({"janus": "attach", "plugin": plugin}, within=5)
        handle = JanusHandle(self, int(answer["data"]["id"]))
        self._handles[handle.id] = handle
        return handle

    async def post(self, request: Mapping[str, Any], handle_id: int | None = None, *,
                   within: float = 10.0) -> JanusMessage:
        """POST one request to the session (or handle) endpoint; raise on a Janus error."""
        transaction = _transaction()
        payload = {**request, **self._auth, "transaction": transaction}
        path = self.url
        if self.id is not None:
            path += f"/{self.id}"
            if handle_id is not None:
                path += f"/{handle_id}"
        try:
            async with self.http.post(path, json=payload,
                                      timeout=aiohttp.ClientTimeout(total=within)) as resp:
                answer: JanusMessage = await resp.json(content_type=None)
        except TimeoutError as exc:
            raise MediaTimeoutError(f"janus did not answer {request.get('janus')}") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise BridgeUnreachableError(f"janus request failed: {exc}") from exc
        _raise_for_error(answer)
        return answer

    async def plugin_message(self, handle_id: int, body: Mapping[str, Any],
                             jsep: Mapping[str, Any] | None = None, *,
                             within: float = 10.0) -> tuple[JanusMessage, JanusMessage | None]:
        """Send ``body`` to a handle; wait for the synchronous or asynchronous answer."""
        transaction = _transaction()
        payload: JanusMessage = {"janus": "message", "body": dict(body), **self._auth,
                                 "transaction": transaction}
        if jsep is not None:
            payload["jsep"] = dict(jsep)
        future: asyncio.Future[JanusMessage] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        try:
            async with asyncio.timeout(within):
                try:
                    async with self.http.post(f"{self.url}/{self.id}/{handle_id}",
                                              json=payload) as resp:
                        answer: JanusMessage = await resp.json(content_type=None)
                except (aiohttp.ClientError, ValueError) as exc:
                    raise BridgeUnreachableError(f"janus request failed: {exc}") from exc
                _raise_for_error(answer)
                if answer.get("janus") == "ack":
                    answer = await future
                    _raise_for_error(answer)
        except TimeoutError as exc:
            raise MediaTimeoutError(
                f"janus did not answer {body.get('request')} in {within} s") from exc
        finally:
            self._pending.pop(transaction, None)
        data: JanusMessage = answer.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise BridgeRefusedError(str(data["error"]), bridge_code=data.get("error_code"))
        return data, answer.get("jsep")

    async def destroy(self) -> None:
        """Destroy the session on Janus (best effort) and stop the background tasks."""
        await self._stop_tasks()
        if self.id is not None and not self.lost:
            try:
                await self.post({"janus": "destroy"}, within=3)
            except MediaError as exc:
                _log.debug("destroy of session %s failed: %s", self.id, exc)
        self._fail_pending(BridgeUnreachableError("janus session closed"))

    async def _stop_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _fail_pending(self, exc: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()

    def _mark_lost(self, reason: str) -> None:
        if self.lost:
            return
        self.lost = True
        _log.warning("janus session %s lost: %s", self.id, reason)
        self._fail_pending(BridgeUnreachableError(f"janus session lost: {reason}"))
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if self.on_lost is not None:
            self.on_lost(reason)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_interval)
            try:
                await self.post({"janus": "keepalive"}, within=5)
            except BridgeRefusedError as exc:
                self._mark_lost(f"keepalive refused: {exc.message}")
                return
            except MediaError as exc:
                # The long poll decides about loss; one failed keepalive is only noted.
                _log.debug("keepalive failed: %s", exc)

    async def _poll(self) -> None:
        failures = 0
        while True:
            try:
                async with self.http.get(
                        f"{self.url}/{self.id}", params={"maxev": str(self.max_events)},
                        timeout=aiohttp.ClientTimeout(total=40)) as resp:
                    answer: Any = await resp.json(content_type=None)
            except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
                failures += 1
                _log.debug("long poll failed (%d): %s", failures, exc)
                if failures >= self._poll_failures_lost:
                    self._mark_lost(f"long poll failed: {exc.__class__.__name__}")
                    return
                await asyncio.sleep(0.25)
                continue
            failures = 0
            for event in answer if isinstance(answer, list) else [answer]:
                if not isinstance(event, dict):
                    _log.debug("dropped a malformed janus event")
                    continue
                if event.get("janus") == "error":
                    code = event.get("error", {}).get("code")
                    if code == SESSION_NOT_FOUND:
                        self._mark_lost("session not found")
                        return
                self._dispatch(event)

    def _dispatch(self, event: JanusMessage) -> None:
        future = self._pending.get(str(event.get("transaction", "")))
        if future is not None and not future.done() and event.get("janus") != "ack":
            future.set_result(event)
            return
        handle = self._handles.get(int(event.get("sender", 0) or 0))
        if handle is not None and handle.listener is not None:
            try:
                handle.listener(event)
            except Exception:
                _log.exception("janus event listener failed")


def _raise_for_error(answer: Mapping[str, Any]) -> None:
    if answer.get("janus") == "error":
        error = answer.get("error", {})
        raise BridgeRefusedError(f"janus: {error.get('reason', 'error')}",
                                 bridge_code=error.get("code"))
