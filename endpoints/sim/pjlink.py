"""A stateful PJLink projector for tests and the demo: TCP commands, class 2 UDP notifications.

Run one with ``python -m endpoints.sim.pjlink --port 4352 [--password P] [--class 2]``.
It warms up and cools down on a timer, answers ERR3 while it cannot take a command,
counts lamp hours while lit, drops connections left idle (as real projectors do after
about 30 s), and with class 2 sends status notifications to ``--notify HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from endpoints.framing import LineFramer
from endpoints.interfaces import PowerState, ProjectorErrors
from endpoints.pjlink.codec import (
    AUTH_ERROR_LINE,
    DIGEST_LENGTH,
    ERROR_LEVELS,
    ERROR_PARTS,
    MAX_LINE,
    PJLINK_PORT,
    POWER_CODES,
    TERMINATOR,
    Command,
    auth_digest,
    encode_error_status,
    encode_greeting,
    encode_reply,
    parse_request,
    valid_input_code,
)
from endpoints.sim.runner import run_simulator, serve_until_signalled
from endpoints.sim.tcp import TcpSimulator

_log = logging.getLogger(__name__)

_POWER_CODE = {state: code for code, state in POWER_CODES.items()}
_READ_ONLY = {
    "ERST", "LAMP", "INST", "NAME", "INF1", "INF2", "INFO", "CLSS",
    "IRES", "RRES", "FILT", "SNUM", "SVER", "RLMP", "RFIL",
}
_CLASS2_ONLY = {"INNM", "IRES", "RRES", "FILT", "SNUM", "SVER", "RLMP", "RFIL", "FREZ"}


class ProjectorModel:
    """What the simulated projector is doing; time is an argument, never read here."""

    def __init__(self, *, pjlink_class: int = 1, now: float = 0.0, warmup: float = 20.0,
                 cooldown: float = 10.0, inputs: Sequence[str] = ("11", "12", "31", "32", "51"),
                 selected: str = "31", lamp_hours: float = 1000.0, lamps: int = 1,
                 name: str = "May chieu phong hop", manufacturer: str = "DIEMCAU",
                 product: str = "SIM-PJ1", other: str = "simulator",
                 input_names: dict[str, str] | None = None) -> None:
        self.pjlink_class = pjlink_class
        self.warmup = warmup
        self.cooldown = cooldown
        self.inputs = [c.upper() for c in inputs]
        self.selected = selected
        self.lamps = lamps
        self.name = name
        self.manufacturer = manufacturer
        self.product = product
        self.other = other
        self.input_names = input_names or {}
        self.serial = "SIM0001234"
        self.software = "1.02"
        self.filter_seconds = 120 * 3600.0
        self.power = PowerState.OFF
        self.video_mute = False
        self.audio_mute = False
        self.frozen = False
        self.errors = ProjectorErrors()
        self._lamp_seconds = lamp_hours * 3600.0
        self._deadline: float | None = None
        self._last = now
        self._changes: list[tuple[str, str]] = []

    # -- time --------------------------------------------------------------------------------

    @property
    def lamp_hours(self) -> int:
        """Whole hours the lamp has been lit."""
        return int(self._lamp_seconds // 3600)

    @property
    def lit(self) -> bool:
        """Whether the lamp is on (warming up or on)."""
        return self.power in (PowerState.WARMING, PowerState.ON)

    def next_deadline(self) -> float | None:
        """When warming up or cooling down ends, if it is under way."""
        return self._deadline

    def advance(self, now: float) -> None:
        """Bring the state up to ``now``: finish warm-up or cool-down, count lamp time."""
        if self._deadline is not None and now >= self._deadline:
            self._count_lamp(self._deadline)
            self._deadline = None
            self._set_power(PowerState.ON if self.power == PowerState.WARMING else PowerState.OFF)
        self._count_lamp(now)

    def _count_lamp(self, now: float) -> None:
        if now > self._last:
            if self.lit:
                self._lamp_seconds += now - self._last
                self.filter_seconds += now - self._last
            self._last = now

    def _set_power(self, state: PowerState) -> None:
        if state != self.power:
            self.power = state
            self._changed("POWR", _POWER_CODE[state])

    def _changed(self, body: str, value: str) -> None:
        if self.pjlink_class >= 2:
            self._changes.append((body, value))

    def take_changes(self) -> list[tuple[str, str]]:
        """Class 2 notifications (body, value) due since the last call."""
        changes, self._changes = self._changes, []
        return changes

    # -- front panel -------------------------------------------------------------------------

    def press_power(self, on: bool, now: float) -> str:
        """The power key (or a POWR command): "OK", or "ERR3" while it cannot switch."""
        self.advance(now)
        if on:
            if self.power == PowerState.COOLING:
                return "ERR3"
            if self.power == PowerState.OFF:
                self._set_power(PowerState.WARMING)
                self._deadline = now + self.warmup
        else:
            if self.power == PowerState.WARMING:
                return "ERR3"
            if self.power == PowerState.ON:
                self._set_power(PowerState.COOLING)
                self._deadline = now + self.cooldown
                self.video_mute = self.audio_mute = False
        return "OK"

    def set_error(self, part: str, level: str, now: float) -> None:
        """Raise or clear one part's error status (level ok, warning or error)."""
        if part not in ERROR_PARTS or level not in ERROR_LEVELS.values():
            raise ValueError(f"no error part {part!r} or level {level!r}")
        self.advance(now)
        before = encode_error_status(self.errors)
        self.errors = replace(self.errors, **{part: level})
        after = encode_error_status(self.errors)
        if after != before:
            self._changed("ERST", after)

    # -- commands ----------------------------------------------------------------------------

    def handle(self, command: Command, now: float) -> str:
        """The reply value for one command: "OK", data, or "ERR1".."ERR4"."""
        self.advance(now)
        body, param = command.body, command.param
        if command.pjlink_class > self.pjlink_class or (
                body in _CLASS2_ONLY and command.pjlink_class < 2):
            return "ERR1"
        if body in _READ_ONLY and param != "?":
            return "ERR2"
        if body == "POWR":
            if param == "?":
                return _POWER_CODE[self.power]
            if param not in ("0", "1"):
                return "ERR2"
            return self.press_power(param == "1", now)
        if body == "INPT":
            return self._input(param.upper(), command.pjlink_class)
        if body == "AVMT":
            return self._av_mute(param)
        if body == "FREZ":
            if param == "?":
                return "1" if self.frozen else "0"
            if param not in ("0", "1"):
                return "ERR2"
            if self.power != PowerState.ON:
                return "ERR3"
            self.frozen = param == "1"
            return "OK"
        if body == "INNM":
            code = param.removeprefix("?").upper()
            if not param.startswith("?") or code not in self.inputs:
                return "ERR2"
            return self.input_names.get(code, f"Input {code}")
        return self._read(body, command.pjlink_class)

    def _read(self, body: str, pjlink_class: int) -> str:
        if body == "ERST":
            return encode_error_status(self.errors)
        if body == "LAMP":
            return " ".join(f"{self.lamp_hours} {int(self.lit)}" for _ in range(self.lamps))
        if body == "INST":
            return " ".join(c for c in self.inputs if valid_input_code(c, pjlink_class))
        values = {
            "NAME": self.name, "INF1": self.manufacturer, "INF2": self.product,
            "INFO": self.other, "CLSS": str(self.pjlink_class),
            "IRES": "1920x1080" if self.power == PowerState.ON else "-",
            "RRES": "1920x1080", "FILT": str(int(self.filter_seconds // 3600)),
            "SNUM": self.serial, "SVER": self.software, "RLMP": "LMP-SIM1", "RFIL": "FLT-SIM1",
        }
        return values.get(body, "ERR1")

    def _input(self, param: str, pjlink_class: int) -> str:
        if param == "?":
            return self.selected
        if not valid_input_code(param, pjlink_class) or param not in self.inputs:
            return "ERR2"
        if self.power != PowerState.ON:
            return "ERR3"
        if param != self.selected:
            self.selected = param
            self._changed("INPT", param)
        return "OK"

    def _av_mute(self, param: str) -> str:
        if param == "?":
            return {(True, True): "31", (True, False): "11", (False, True): "21",
                    (False, False): "30"}[(self.video_mute, self.audio_mute)]
        if param not in ("10", "11", "20", "21", "30", "31"):
            return "ERR2"
        if self.power != PowerState.ON:
            return "ERR3"
        on = param[1] == "1"
        before = (self.video_mute, self.audio_mute)
        if param[0] in "13":
            self.video_mute = on
        if param[0] in "23":
            self.audio_mute = on
        if (self.video_mute, self.audio_mute) != before:
            self._changed("AVMT", self._av_mute("?"))
        return "OK"


class PjlinkSimulator(TcpSimulator):
    """Serves a `ProjectorModel` over PJLink TCP; sends class 2 notifications over UDP."""

    def __init__(self, model: ProjectorModel | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, password: str | None = None, idle_timeout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 notify_to: tuple[str, int] | None = None,
                 mac: str = "00:1b:2c:3d:4e:5f") -> None:
        super().__init__(host=host, port=port)
        self.model = model or ProjectorModel(now=clock())
        self.password = password
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.notify_to = notify_to
        self.mac = mac
        self._udp: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.idle_drops = 0  # connections closed for idleness
        self.auth_failures = 0
        self.commands: list[Command] = []

    async def start(self) -> None:
        """Listen, and announce itself (class 2: %2LKUP) to the notification address."""
        await super().start()
        if self.notify_to is not None:
            loop = asyncio.get_running_loop()
            self._udp, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=self.notify_to)
            if self.model.pjlink_class >= 2:
                self._send_notification("LKUP", self.mac)
        _log.info("PJLink simulator (class %s, %s) on %s:%s", self.model.pjlink_class,
                  "password" if self.password else "no password", self.host, self.port)

    async def close(self) -> None:
        """Stop listening, close every connection and the notification socket."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await super().close()
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    # -- what an operator does at the projector ----------------------------------------------

    def tick(self) -> None:
        """Catch up with the clock and send the notifications due (after moving a fake clock)."""
        self.model.advance(self.clock())
        self._flush()

    def press_power(self, on: bool) -> str:
        """Press the power key on the projector itself."""
        result = self.model.press_power(on, self.clock())
        self._flush()
        return result

    def set_error(self, part: str, level: str) -> None:
        """Make one part report ok, warning or error."""
        self.model.set_error(part, level, self.clock())
        self._flush()

    # -- internals ---------------------------------------------------------------------------

    def _flush(self) -> None:
        for body, value in self.model.take_changes():
            self._send_notification(body, value)
        self._schedule()

    def _send_notification(self, body: str, value: str) -> None:
        if self._udp is not None:
            self._udp.sendto(encode_reply(2, body, value))

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.model.next_deadline()
        if deadline is not None and self._server is not None:
            delay = max(0.0, deadline - self.clock())
            self._timer = asyncio.get_running_loop().call_later(delay + 0.001, self.tick)

    async def _converse(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        salt = secrets.token_hex(4) if self.password else None
        authenticated = salt is None
        writer.write(encode_greeting(salt))
        framer = LineFramer(MAX_LINE + DIGEST_LENGTH, TERMINATOR)
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    data = await reader.read(1024)
            except TimeoutError:
                self.idle_drops += 1
                _log.debug("PJLink simulator drops an idle connection")
                return
            if not data:
                return
            framer.feed(data)
            for line in framer.lines():
                request = parse_request(line)
                if request is None:
                    continue  # projectors ignore what is not a command
                if salt is not None and self.password is not None and (
                        request.digest is not None or not authenticated):
                    expected = auth_digest(salt, self.password)
                    if request.digest is None or not hmac.compare_digest(request.digest,
                                                                         expected):
                        self.auth_failures += 1
                        writer.write(AUTH_ERROR_LINE)
                        await writer.drain()
                        return
                    authenticated = True
                self.commands.append(request.command)
                value = self.model.handle(request.command, self.clock())
                writer.write(encode_reply(request.command.pjlink_class, request.command.body,
                                          value))
                await writer.drain()
                self._flush()


async def _serve(args: argparse.Namespace) -> None:
    notify = None
    if args.notify:
        host, _, port = args.notify.rpartition(":")
        notify = (host or "127.0.0.1", int(port))
    model = ProjectorModel(pjlink_class=args.pjlink_class, now=time.monotonic(),
                           warmup=args.warmup, cooldown=args.cooldown, name=args.name)
    sim = PjlinkSimulator(model, host=args.host, port=args.port, password=args.password,
                          idle_timeout=args.idle, notify_to=notify)
    await sim.start()
    await serve_until_signalled(f"PJLink simulator listening on {args.host}:{sim.port}",
                                sim.close)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run a simulated projector until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m endpoints.sim.pjlink",
                                     description="Simulated PJLink projector")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=PJLINK_PORT)
    parser.add_argument("--password", default=None)
    parser.add_argument("--class", dest="pjlink_class", type=int, choices=(1, 2), default=1)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of warm-up")
    parser.add_argument("--cooldown", type=float, default=10.0, help="seconds of cool-down")
    parser.add_argument("--idle", type=float, default=30.0,
                        help="seconds before an idle connection is dropped")
    parser.add_argument("--notify", default=None, help="HOST:PORT for class 2 notifications")
    parser.add_argument("--name", default="May chieu phong hop")
    args = parser.parse_args(argv)
    return run_simulator(_serve(args), "PJLink simulator")


if __name__ == "__main__":
    sys.exit(main())
