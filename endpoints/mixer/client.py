"""Thin asyncio TCP transport for mixer command strings.

Mixers report changes made on the hardware (a mute key pressed) without being asked,
so a connection is read all the time by one task; replies go to the waiting command,
everything else to ``on_report``. A dropped connection is reopened by the next command.
Mute and gain commands are absolute, so repeating one after a drop is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from endpoints.errors import (
    DeviceRefusedError,
    EndpointError,
    EndpointTimeoutError,
    EndpointTransportError,
)
from endpoints.framing import FrameDropped, NeedData, sanitize
from endpoints.mixer.codec import (
    Dialect,
    ErrorReply,
    GainReport,
    GetGain,
    GetMute,
    MixerCodec,
    MixerCommand,
    MixerEvent,
    MuteReport,
    OtherReport,
    SetGain,
    SetMute,
    encode_command,
)

_log = logging.getLogger(__name__)

Report = MuteReport | GainReport
ReportHandler = Callable[[Report], None]
DropHandler = Callable[[str], None]


class _ConnectionLost(Exception):
    """The mixer closed or reset the connection."""


def _answers(command: MixerCommand, report: Report) -> bool:
    if isinstance(command, SetMute | GetMute):
        return isinstance(report, MuteReport) and report.channel == command.channel
    assert isinstance(command, SetGain | GetGain)
    return isinstance(report, GainReport) and report.channel == command.channel


class MixerClient:
    """Sends mixer commands one at a time; reports nobody asked for go to ``on_report``."""

    def __init__(self, host: str, port: int, dialect: Dialect, *, timeout: float = 2.0,
                 on_report: ReportHandler | None = None,
                 on_drop: DropHandler | None = None) -> None:
        self.host = host
        self.port = port
        self.dialect = dialect
        self.timeout = timeout
        self._on_report = on_report
        self._on_drop = on_drop
        self._lock = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()  # cancelled, not yet finished
        self._pending: tuple[MixerCommand, asyncio.Future[Report]] | None = None
        self.connections = 0  # connections opened so far
        self._closed = False  # set by close(), cleared by connect()

    @property
    def connected(self) -> bool:
        """Whether a connection is open and being read."""
        return (self._writer is not None and not self._writer.is_closing()
                and self._reader_task is not None and not self._reader_task.done())

    async def connect(self) -> None:
        """Open the connection unless it is open (also after `close`)."""
        async with self._lock:
            self._closed = False
            await self._ensure_connection()

    async def request(self, command: MixerCommand) -> Report:
        """Send one command and return the report that answers it, or raise."""
        data = encode_command(self.dialect, command)
        async with self._lock:
            for attempt in (1, 2):
                fresh = await self._ensure_connection()
                assert self._writer is not None
                answer: asyncio.Future[Report] = asyncio.get_running_loop().create_future()
                self._pending = (command, answer)
                try:
                    async with asyncio.timeout(self.timeout):
                        self._writer.write(data)
                        await self._writer.drain()
                        return await answer
                except (_ConnectionLost, ConnectionError) as exc:
                    self._abort()
                    if fresh or attempt == 2:
                        raise EndpointTransportError(
                            f"mixer {self.host}:{self.port} closed the connection") from exc
                    _log.debug("mixer %s:%s connection was gone; reconnecting", self.host,
                               self.port)
                except EndpointError:
                    raise
                except TimeoutError as exc:
                    self._abort()  # a late reply must not answer the next command
                    raise EndpointTimeoutError(
                        f"mixer {self.host}:{self.port} did not answer within "
                        f"{self.timeout:g} s") from exc
                except BaseException:
                    self._abort()
                    raise
                finally:
                    self._pending = None
            raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Close the connection and stop reading; safe to call twice."""
        self._closed = True
        writer = self._writer
        self._abort()
        await self._reap()
        if writer is not None:
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    # -- internals ---------------------------------------------------------------------------

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._stopping.add(self._reader_task)
        self._writer = None
        self._reader_task = None

    async def _reap(self) -> None:
        if self._stopping:
            await asyncio.wait(self._stopping)
            self._stopping.clear()

    async def _ensure_connection(self) -> bool:
        if self.connected:
            return False
        self._abort()
        await self._reap()
        if self._closed:
            raise EndpointTransportError(f"mixer {self.host}:{self.port}: connection closed")
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError as exc:  # before OSError, of which it is a subclass
            raise EndpointTimeoutError(
                f"mixer {self.host}:{self.port} did not accept a connection within "
                f"{self.timeout:g} s") from exc
        except OSError as exc:
            raise EndpointTransportError(
                f"cannot connect to mixer {self.host}:{self.port}: {exc}") from exc
        self._writer = writer
        self.connections += 1
        self._reader_task = asyncio.create_task(
            self._read_loop(reader, MixerCodec(self.dialect)),
            name=f"mixer-reader:{self.host}:{self.port}")
        _log.debug("connected to mixer %s:%s (%s)", self.host, self.port, self.dialect.name)
        return True

    async def _read_loop(self, reader: asyncio.StreamReader, codec: MixerCodec) -> None:
        try:
            while True:
                try:
                    data = await reader.read(4096)
                except OSError as exc:
                    _log.debug("mixer %s:%s read failed: %s", self.host, self.port, exc)
                    data = b""
                if not data:
                    self._lost()
                    return
                codec.feed(data)
                while not isinstance(event := codec.next_event(), NeedData):
                    self._dispatch(event)
        except asyncio.CancelledError:
            self._lost()
            raise

    def _lost(self) -> None:
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(_ConnectionLost())

    def _dispatch(self, event: MixerEvent) -> None:
        pending = self._pending
        waiting = pending is not None and not pending[1].done()
        if isinstance(event, FrameDropped):
            self._drop(event.reason)
        elif isinstance(event, ErrorReply):
            if pending is not None and waiting:
                detail = f": {sanitize(event.message)}" if event.message else ""
                pending[1].set_exception(DeviceRefusedError(
                    f"mixer refused the command{detail}", device_code="ERR"))
            else:
                self._drop("unexpected")
        elif isinstance(event, OtherReport):
            _log.debug("mixer %s:%s: untracked report ignored", self.host, self.port)
        elif pending is not None and waiting and _answers(pending[0], event):
            pending[1].set_result(event)
        elif self._on_report is not None:
            try:
                self._on_report(event)
            except Exception:
                # Whoever listens must not be able to stop the read loop.
                _log.warning("mixer %s:%s: report handler failed", self.host, self.port,
                             exc_info=True)

    def _drop(self, reason: str) -> None:
        if self._on_drop is not None:
            self._on_drop(reason)
