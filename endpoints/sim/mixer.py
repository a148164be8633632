"""A stateful mixer for tests and the demo, speaking a mixer dialect over TCP.

Run one with ``python -m endpoints.sim.mixer --port 2202 [--dialect generic] [--channels 8]``.
Like a Shure processor it reports every change to every connected client, whether the
change came from a command or from the hardware (`press_mute`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from endpoints.mixer.codec import (
    DIALECTS,
    MAX_FRAME,
    SHURE,
    Dialect,
    GainReport,
    GetMute,
    MixerCommand,
    MuteReport,
    SetGain,
    SetMute,
    encode_error,
    encode_report,
    parse_request,
)
from endpoints.pjlink.codec import OVERLONG, LineFramer

_log = logging.getLogger(__name__)


@dataclass
class SimChannel:
    """One simulated channel."""

    muted: bool = False
    gain_db: float = 0.0


class MixerModel:
    """The simulated mixer's channels; answers commands with reports."""

    def __init__(self, dialect: Dialect = SHURE, channels: int = 4) -> None:
        self.dialect = dialect
        self.channels = {c: SimChannel() for c in range(1, channels + 1)}

    def handle(self, command: MixerCommand) -> tuple[MuteReport | GainReport, bool]:
        """The report answering a command, and whether state changed; KeyError if no channel."""
        channel = self.channels[command.channel]
        if isinstance(command, SetMute):
            changed = channel.muted != command.on
            channel.muted = command.on
            return MuteReport(command.channel, channel.muted), changed
        if isinstance(command, SetGain):
            # The hardware keeps what the wire can express.
            db = self.dialect.decode_gain(self.dialect.encode_gain(command.db))
            changed = channel.gain_db != db
            channel.gain_db = db
            return GainReport(command.channel, db), changed
        if isinstance(command, GetMute):
            return MuteReport(command.channel, channel.muted), False
        return GainReport(command.channel, channel.gain_db), False


class MixerSimulator:
    """Serves a `MixerModel` over TCP."""

    def __init__(self, model: MixerModel | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.model = model or MixerModel()
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.connections = 0
        self.received: list[bytes] = []

    @property
    def dialect(self) -> Dialect:
        """The dialect it speaks."""
        return self.model.dialect

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        if self._server is not None and self._server.sockets:
            port: int = self._server.sockets[0].getsockname()[1]
            return port
        return self._port

    async def start(self) -> None:
        """Listen (on the same port again after a `close`)."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        self._port = self.port
        _log.info("mixer simulator (%s) on %s:%s", self.dialect.name, self.host, self.port)

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

    def press_mute(self, channel: int, on: bool) -> None:
        """Press a channel's mute key on the hardware: every client gets the report."""
        report, changed = self.model.handle(SetMute(channel, on))
        if changed:
            self._broadcast(encode_report(self.dialect, report))

    def _broadcast(self, data: bytes) -> None:
        for writer in list(self._writers):
            if not writer.is_closing():
                writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections += 1
        framer = LineFramer(MAX_FRAME, self.dialect.terminator.encode("ascii"))
        try:
            while data := await reader.read(1024):
                framer.feed(data)
                while (frame := framer.next_line()) is not None:
                    if frame is OVERLONG:
                        continue
                    assert isinstance(frame, bytes)
                    self._answer(frame, writer)
                await writer.drain()
        except OSError as exc:
            _log.debug("mixer simulator connection ended: %s", exc)
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._handlers.discard(task)

    def _answer(self, frame: bytes, writer: asyncio.StreamWriter) -> None:
        text = self.dialect.clean(frame)
        if not text:
            return
        self.received.append(frame)
        command = parse_request(self.dialect, text)
        if command is None:
            writer.write(encode_error(self.dialect, "unknown command"
                                      if self.dialect.name != "shure" else ""))
            return
        try:
            report, changed = self.model.handle(command)
        except KeyError:
            writer.write(encode_error(self.dialect, "no such channel"
                                      if self.dialect.name != "shure" else ""))
            return
        data = encode_report(self.dialect, report)
        if changed:
            self._broadcast(data)
        else:
            writer.write(data)


async def _run(args: argparse.Namespace) -> None:
    sim = MixerSimulator(MixerModel(DIALECTS[args.dialect], args.channels), host=args.host,
                         port=args.port)
    await sim.start()
    print(f"mixer simulator ({args.dialect}) listening on {args.host}:{sim.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: run a simulated mixer until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m endpoints.sim.mixer",
                                     description="Simulated audio mixer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=SHURE.default_port)
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="shure")
    parser.add_argument("--channels", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
