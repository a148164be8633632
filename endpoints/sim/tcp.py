"""The TCP side shared by the simulated devices: listen, track connections, end them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

_log = logging.getLogger(__name__)


class TcpSimulator(ABC):
    """Listens on ``host:port`` and runs `_converse` for each connection until it ends."""

    def __init__(self, *, host: str, port: int) -> None:
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._disconnected = asyncio.Event()
        self.connections = 0  # connections accepted

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        if self._server is not None and self._server.sockets:
            port: int = self._server.sockets[0].getsockname()[1]
            return port
        return self._port

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def wait_disconnect(self) -> None:
        """Wait until some connection ends (since the last call); bound it with a timeout."""
        await self._disconnected.wait()
        self._disconnected.clear()

    @abstractmethod
    async def _converse(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        """Talk to one client until either side ends the connection."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            await self._converse(reader, writer)
        except OSError as exc:
            _log.debug("%s connection ended: %s", type(self).__name__, exc)
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._handlers.discard(task)
            self._disconnected.set()
