"""A stateful mixer for tests and the demo, speaking a mixer dialect over TCP.

Run one with ``python -m endpoints.sim.mixer --port 2202 [--dialect generic] [--channels 8]``.
Like a Shure processor it reports every change to every connected client, whether the
change came from a command or from the hardware (`press_mute`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from endpoints.framing import LineFramer
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
from endpoints.sim.runner import run_simulator, serve_until_signalled
from endpoints.sim.tcp import TcpSimulator

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


class MixerSimulator(TcpSimulator):
    """Serves a `MixerModel` over TCP."""

    def __init__(self, model: MixerModel | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.model = model or MixerModel()
        self.received: list[bytes] = []

    @property
    def dialect(self) -> Dialect:
        """The dialect it speaks."""
        return self.model.dialect

    async def start(self) -> None:
        """Listen (on the same port again after a `close`)."""
        await super().start()
        self._port = self.port
        _log.info("mixer simulator (%s) on %s:%s", self.dialect.name, self.host, self.port)

    def press_mute(self, channel: int, on: bool) -> None:
        """Press a channel's mute key on the hardware: every client gets the report."""
        report, changed = self.model.handle(SetMute(channel, on))
        if changed:
            self._broadcast(encode_report(self.dialect, report))

    def _broadcast(self, data: bytes) -> None:
        for writer in list(self._writers):
            if not writer.is_closing():
                writer.write(data)

    async def _converse(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        framer = LineFramer(MAX_FRAME, self.dialect.terminator.encode("ascii"))
        while data := await reader.read(1024):
            framer.feed(data)
            for frame in framer.lines():
                self._answer(frame, writer)
            await writer.drain()

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


async def _serve(args: argparse.Namespace) -> None:
    sim = MixerSimulator(MixerModel(DIALECTS[args.dialect], args.channels), host=args.host,
                         port=args.port)
    await sim.start()
    await serve_until_signalled(
        f"mixer simulator ({args.dialect}) listening on {args.host}:{sim.port}", sim.close)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run a simulated mixer until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m endpoints.sim.mixer",
                                     description="Simulated audio mixer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=SHURE.default_port)
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="shure")
    parser.add_argument("--channels", type=int, default=4)
    args = parser.parse_args(argv)
    return run_simulator(_serve(args), "mixer simulator")


if __name__ == "__main__":
    sys.exit(main())
