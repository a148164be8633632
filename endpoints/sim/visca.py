"""A stateful VISCA camera simulator: a daisy chain on a serial line, or one camera over UDP.

``ViscaSimulator`` is the cameras (bytes and times in, timed replies out, no I/O);
``SerialSimulator`` and ``UdpSimulator`` serve it. Run it alone with::

    python -m endpoints.sim.visca --pty                 # prints the tty path to open
    python -m endpoints.sim.visca --serial /tmp/ttyB    # e.g. one end of a socat pair
    python -m endpoints.sim.visca --udp 127.0.0.1:52381

Like a Sony camera it ACKs a command on a free socket (two of them) and completes it
when done (moves take time), refuses pan/tilt/zoom in standby (41h), answers an unknown
command with a syntax error (02h) and a third concurrent command with buffer full (03h).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import sys
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from endpoints.errors import RemoteProtocolError
from endpoints.sim.runner import run_simulator, serve_until_signalled
from endpoints.visca import ip
from endpoints.visca.codec import (
    BROADCAST,
    NEED_DATA,
    PAN_SPEED_MAX,
    TERMINATOR,
    TILT_SPEED_MAX,
    ZOOM_OPTICAL_MAX,
    ErrorKind,
    FrameDropped,
    Request,
    RequestParser,
    encode_reply,
    from_nibbles,
    nibbles,
)

_log = logging.getLogger(__name__)

_ACK: Final = 0x40
_DONE: Final = 0x50
_ERROR: Final = 0x60
# Garbage mode puts one of these before every reply: noise ending in a terminator,
# an overlong run, and a packet too short to mean anything.
_NOISE: Final = (b"\x13\x37\xff", b"\x01" * 20 + b"\xff", b"\x90\xff")

Bounds = tuple[float, float]


def _clamp(value: float, bounds: Bounds) -> float:
    return min(max(value, bounds[0]), bounds[1])


class _Motion:
    """Values moving in straight lines: towards a target, or at a velocity until stopped."""

    def __init__(self, values: tuple[float, ...], bounds: tuple[Bounds, ...]) -> None:
        self.bounds = bounds
        self._start = values
        self._t0 = 0.0
        self._t1 = 0.0
        self._target: tuple[float, ...] | None = None
        self._velocity: tuple[float, ...] | None = None

    def at(self, now: float) -> tuple[float, ...]:
        """The values at a time."""
        if self._target is not None:
            if now >= self._t1:
                return self._target
            share = (now - self._t0) / (self._t1 - self._t0)
            return tuple(s + (t - s) * share for s, t in zip(self._start, self._target,
                                                             strict=True))
        if self._velocity is not None:
            return tuple(_clamp(s + v * (now - self._t0), b) for s, v, b in zip(
                self._start, self._velocity, self.bounds, strict=True))
        return self._start

    def go(self, target: tuple[float, ...], rates: tuple[float, ...], now: float) -> float:
        """Head for a target at per-value rates (units/s); returns the travel time."""
        start = self.at(now)
        target = tuple(_clamp(t, b) for t, b in zip(target, self.bounds, strict=True))
        duration = max((abs(t - s) / r for s, t, r in zip(start, target, rates, strict=True)),
                       default=0.0)
        self._start, self._t0, self._velocity = start, now, None
        self._target, self._t1 = (target, now + duration) if duration > 0 else (None, now)
        if duration <= 0:
            self._start = target
        return duration

    def drive(self, velocity: tuple[float, ...], now: float) -> None:
        """Move at a velocity (units/s) until stopped or at the end of the range."""
        self._start, self._t0, self._target = self.at(now), now, None
        self._velocity = velocity if any(velocity) else None


@dataclass
class SimCamera:
    """One simulated camera."""

    address: int
    pan_range: Bounds
    tilt_range: Bounds
    zoom_max: int
    travel_time: float  # s to cross a whole range at top speed
    power_on_time: float
    powered: bool = True
    warm_at: float = 0.0
    focus_auto: bool = True
    presets: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    busy: dict[int, float] = field(default_factory=dict)  # socket → completion time
    motion_socket: dict[str, int] = field(default_factory=dict)  # "pan_tilt"/"zoom" → socket

    def __post_init__(self) -> None:
        self.pan_tilt = _Motion((0.0, 0.0), (self.pan_range, self.tilt_range))
        self.zoom = _Motion((0.0,), ((0.0, float(self.zoom_max)),))

    def on(self, now: float) -> bool:
        """Powered and warmed up."""
        return self.powered and now >= self.warm_at

    def position(self, now: float) -> tuple[int, int, int]:
        """Pan, tilt and zoom in camera units."""
        pan, tilt = self.pan_tilt.at(now)
        (zoom,) = self.zoom.at(now)
        return round(pan), round(tilt), round(zoom)

    def rate(self, bounds: Bounds, speed: float) -> float:
        """Units per second at a speed of 0..1."""
        return (bounds[1] - bounds[0]) / self.travel_time * max(speed, 0.01)


@dataclass(order=True)
class _Out:
    at: float
    order: int
    tag: object = field(compare=False)
    data: bytes = field(compare=False)
    address: int = field(compare=False, default=0)
    socket: int = field(compare=False, default=0)  # a completion's socket; 0 otherwise


@dataclass(frozen=True)
class _Action:
    run: Callable[[float], float | None]  # returns the time to completion, None: refuse
    in_standby: bool = False
    motion: str | None = None  # "pan_tilt" / "zoom": supersedes that motion's command


class ViscaSimulator:
    """A daisy chain of simulated cameras (addresses 1..n until an address set)."""

    def __init__(self, cameras: int = 1, *, pan_range: Bounds = (-0x0990, 0x0990),
                 tilt_range: Bounds = (-0x0510, 0x0510), zoom_max: int = ZOOM_OPTICAL_MAX,
                 travel_time: float = 0.5, power_on_time: float = 0.0, powered: bool = True,
                 sockets: int = 2) -> None:
        self.cameras = [SimCamera(i + 1, pan_range, tilt_range, zoom_max, travel_time,
                                  power_on_time, powered) for i in range(cameras)]
        self.sockets = sockets
        self.silent = False  # never answer
        self.garbage = False  # noise before every reply
        self.requests: list[Request] = []
        self.dropped: list[str] = []
        self._parser = RequestParser()
        self._out: list[_Out] = []
        self._order = itertools.count()
        self._noise = itertools.cycle(_NOISE)

    def camera(self, address: int) -> SimCamera | None:
        """The camera at an address, if any."""
        return next((c for c in self.cameras if c.address == address), None)

    def receive(self, data: bytes, now: float, tag: object = None) -> None:
        """Bytes from the controller; replies are queued with ``tag``."""
        self._parser.feed(data)
        while (event := self._parser.next_event()) is not NEED_DATA:
            if isinstance(event, FrameDropped):
                self.dropped.append(event.reason)
                continue
            self.requests.append(event)
            if not self.silent:
                self._handle(event, now, tag)

    def announce_network_change(self, address: int, now: float) -> None:
        """Send ``y0 38 FF`` as a camera that just powered up would."""
        self._send(now, None, bytes([(address + 8) << 4, 0x38, TERMINATOR]))

    def next_due(self) -> float | None:
        """When the next reply is due, or None."""
        return min((o.at for o in self._out), default=None)

    def pop_due(self, now: float) -> list[tuple[object, bytes]]:
        """Replies due by ``now``, in order, with their tags."""
        due = sorted(o for o in self._out if o.at <= now)
        self._out = [o for o in self._out if o.at > now]
        return [(o.tag, o.data) for o in due]

    # -- internals -------------------------------------------------------------------------

    def _send(self, at: float, tag: object, data: bytes, address: int = 0,
              socket: int = 0) -> None:
        if self.garbage:
            data = next(self._noise) + data
        self._out.append(_Out(at, next(self._order), tag, data, address, socket))

    def _reply(self, cam: SimCamera, now: float, tag: object, kind: int, socket: int = 0,
               payload: bytes = b"", at: float | None = None) -> None:
        self._send(now if at is None else at, tag, encode_reply(cam.address, kind, socket, payload),
                   cam.address, socket if kind == _DONE else 0)

    def _cancel_completions(self, cam: SimCamera, socket: int | None = None) -> None:
        self._out = [o for o in self._out if not (
            o.address == cam.address and o.socket and socket in (None, o.socket))]
        if socket is None:
            cam.busy.clear()
            cam.motion_socket.clear()
        else:
            cam.busy.pop(socket, None)

    def _handle(self, request: Request, now: float, tag: object) -> None:
        body = request.body
        if request.address == BROADCAST:
            if len(body) == 2 and body[0] == 0x30 and 1 <= body[1] <= 7:
                for offset, member in enumerate(self.cameras):
                    member.address = body[1] + offset
                body = bytes([0x30, body[1] + len(self.cameras)])
            elif body == b"\x01\x00\x01":
                for member in self.cameras:
                    self._cancel_completions(member)
            # Broadcasts travel on round the ring back to the controller.
            self._send(now, tag, bytes([0x88]) + body + bytes([TERMINATOR]))
            return
        cam = self.camera(request.address)
        if cam is None:
            # Nobody took it: it comes back round the ring unchanged.
            self._send(now, tag, bytes([0x80 | request.address]) + body + bytes([TERMINATOR]))
            return
        socket = request.cancel_socket
        if socket is not None:
            if cam.busy.get(socket, -1.0) > now:
                self._cancel_completions(cam, socket)
                self._reply(cam, now, tag, _ERROR, socket, bytes([ErrorKind.CANCELLED]))
            else:
                self._reply(cam, now, tag, _ERROR, socket, bytes([ErrorKind.NO_SOCKET]))
        elif request.is_inquiry:
            self._inquiry(cam, body[1:], now, tag)
        elif request.is_command:
            self._command(cam, body[1:], now, tag)
        else:
            self._reply(cam, now, tag, _ERROR, 0, bytes([ErrorKind.SYNTAX]))

    def _inquiry(self, cam: SimCamera, body: bytes, now: float, tag: object) -> None:
        pan, tilt, zoom = cam.position(now)
        answers = {
            b"\x04\x00": bytes([0x02 if cam.on(now) else 0x03]),
            b"\x04\x47": nibbles(zoom, 4),
            b"\x06\x12": nibbles(pan) + nibbles(tilt),
            b"\x04\x38": bytes([0x02 if cam.focus_auto else 0x03]),
        }
        payload = answers.get(body)
        if payload is None:
            self._reply(cam, now, tag, _ERROR, 0, bytes([ErrorKind.SYNTAX]))
        else:
            self._reply(cam, now, tag, _DONE, 0, payload)

    def _command(self, cam: SimCamera, body: bytes, now: float, tag: object) -> None:
        if body == b"\x00\x01":  # IF_Clear for this camera
            self._cancel_completions(cam)
            self._reply(cam, now, tag, _DONE)
            return
        action = self._action(cam, body)
        if action is None:
            self._reply(cam, now, tag, _ERROR, 0, bytes([ErrorKind.SYNTAX]))
            return
        free = [s for s in range(1, self.sockets + 1) if cam.busy.get(s, -1.0) <= now]
        if not free:
            self._reply(cam, now, tag, _ERROR, 0, bytes([ErrorKind.BUFFER_FULL]))
            return
        socket = free[0]
        duration = action.run(now) if cam.on(now) or action.in_standby else None
        if duration is None:
            self._reply(cam, now, tag, _ERROR, socket, bytes([ErrorKind.NOT_EXECUTABLE]))
            return
        if action.motion is not None:
            old = cam.motion_socket.get(action.motion)
            if old is not None and cam.busy.get(old, -1.0) > now:
                # The new move replaces the old one, which is done as of now.
                for out in self._out:
                    if out.address == cam.address and out.socket == old:
                        out.at = now
                cam.busy[old] = now
            cam.motion_socket[action.motion] = socket
        self._reply(cam, now, tag, _ACK, socket)
        cam.busy[socket] = now + duration
        self._reply(cam, now, tag, _DONE, socket, at=now + duration)

    def _action(self, cam: SimCamera, body: bytes) -> _Action | None:
        """What a command body does, or None for a syntax error."""
        category = body[:2]
        args = body[2:]
        if category == b"\x04\x00" and args in (b"\x02", b"\x03"):
            return _Action(lambda now: self._power(cam, args == b"\x02", now), in_standby=True)
        if category == b"\x06\x01" and len(args) == 4:
            return self._drive(cam, args)
        if category in (b"\x06\x02", b"\x06\x03") and len(args) == 10:
            return self._position(cam, args, relative=category == b"\x06\x03")
        if body in (b"\x06\x04", b"\x06\x05"):  # Home, Reset
            return _Action(lambda now: self._go(cam, now, pan_tilt=(0.0, 0.0)),
                           motion="pan_tilt")
        if category == b"\x04\x07" and len(args) == 1:
            return self._zoom_drive(cam, args[0])
        if category == b"\x04\x47" and len(args) == 4 and max(args) <= 0x0F:
            target = float(min(from_nibbles(args, signed=False), cam.zoom_max))
            return _Action(lambda now: self._go(cam, now, zoom=target), motion="zoom")
        if category == b"\x04\x08" and len(args) == 1 and (
                args[0] in (0x00, 0x02, 0x03) or args[0] >> 4 in (2, 3)):
            # Sony: manual focus commands are refused while auto focus is on.
            return _Action(lambda now: None if cam.focus_auto else 0.0)
        if category == b"\x04\x38" and args in (b"\x02", b"\x03", b"\x10"):
            return _Action(lambda now: self._focus_mode(cam, args[0]))
        if category == b"\x04\x3f" and len(args) == 2 and args[0] <= 2 and args[1] <= 0x7F:
            return _Action(lambda now: self._memory(cam, args[0], args[1], now))
        return None

    def _power(self, cam: SimCamera, on: bool, now: float) -> float:
        if on == cam.powered:
            return 0.0
        cam.powered = on
        if on:
            cam.warm_at = now + cam.power_on_time
            return cam.power_on_time
        cam.pan_tilt.drive((0.0, 0.0), now)
        cam.zoom.drive((0.0,), now)
        return 0.0

    def _drive(self, cam: SimCamera, args: bytes) -> _Action | None:
        pan_speed, tilt_speed, pan_dir, tilt_dir = args
        if not (1 <= pan_speed <= PAN_SPEED_MAX and 1 <= tilt_speed <= TILT_SPEED_MAX
                and pan_dir in (1, 2, 3) and tilt_dir in (1, 2, 3)):
            return None
        # VISCA: pan 01 left, 02 right; tilt 01 up, 02 down; 03 stops the axis.
        pan_v = {1: -1, 2: 1, 3: 0}[pan_dir] * cam.rate(cam.pan_range, pan_speed / PAN_SPEED_MAX)
        tilt_v = {1: 1, 2: -1, 3: 0}[tilt_dir] * cam.rate(cam.tilt_range,
                                                          tilt_speed / TILT_SPEED_MAX)

        def run(now: float) -> float:
            cam.pan_tilt.drive((pan_v, tilt_v), now)
            return 0.0
        return _Action(run, motion="pan_tilt")

    def _position(self, cam: SimCamera, args: bytes, *, relative: bool) -> _Action | None:
        pan_speed, tilt_speed = args[0], args[1]
        if not (1 <= pan_speed <= PAN_SPEED_MAX and 1 <= tilt_speed <= TILT_SPEED_MAX
                and max(args[2:]) <= 0x0F):
            return None
        pan, tilt = from_nibbles(args[2:6]), from_nibbles(args[6:10])
        speeds = (pan_speed / PAN_SPEED_MAX, tilt_speed / TILT_SPEED_MAX)

        def run(now: float) -> float:
            target = (float(pan), float(tilt))
            if relative:
                here = cam.pan_tilt.at(now)
                target = (here[0] + pan, here[1] + tilt)
            return self._go(cam, now, pan_tilt=target, speeds=speeds)
        return _Action(run, motion="pan_tilt")

    def _zoom_drive(self, cam: SimCamera, arg: int) -> _Action | None:
        if arg in (0x00, 0x02, 0x03):
            step = {0x00: 0.0, 0x02: 0.5, 0x03: -0.5}[arg]
        elif arg >> 4 in (2, 3) and arg & 0x0F <= 7:
            step = ((arg & 0x0F) + 1) / 8 * (1 if arg >> 4 == 2 else -1)
        else:
            return None
        velocity = step * cam.zoom_max / cam.travel_time

        def run(now: float) -> float:
            cam.zoom.drive((velocity,), now)
            return 0.0
        return _Action(run, motion="zoom")

    def _focus_mode(self, cam: SimCamera, arg: int) -> float:
        cam.focus_auto = {0x02: True, 0x03: False}.get(arg, not cam.focus_auto)
        return 0.0

    def _memory(self, cam: SimCamera, action: int, preset: int, now: float) -> float:
        if action == 0x00:
            cam.presets.pop(preset, None)
            return 0.0
        if action == 0x01:
            here = cam.position(now)
            cam.presets[preset] = (float(here[0]), float(here[1]), float(here[2]))
            return 0.0
        pan, tilt, zoom = cam.presets.get(preset, (0.0, 0.0, 0.0))
        return self._go(cam, now, pan_tilt=(pan, tilt), zoom=zoom)

    def _go(self, cam: SimCamera, now: float, *, pan_tilt: tuple[float, float] | None = None,
            zoom: float | None = None, speeds: tuple[float, float] = (1.0, 1.0)) -> float:
        duration = 0.0
        if pan_tilt is not None:
            rates = (cam.rate(cam.pan_range, speeds[0]), cam.rate(cam.tilt_range, speeds[1]))
            duration = cam.pan_tilt.go(pan_tilt, rates, now)
        if zoom is not None:
            duration = max(duration, cam.zoom.go((zoom,), (cam.rate((0, cam.zoom_max), 1.0),),
                                                 now))
        return duration


# -- serving it on a tty ---------------------------------------------------------------------

class SerialSimulator:
    """Serves a `ViscaSimulator` on a tty: a device path (reopened if it vanishes) or a new pty."""

    def __init__(self, sim: ViscaSimulator, path: str | None = None, *,
                 reopen_interval: float = 0.02) -> None:
        self.sim = sim
        self.path = path
        self._own_pty = path is None
        self._reopen_interval = reopen_interval
        self._fd: int | None = None
        self._slave: int | None = None
        self._pending = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._connected: asyncio.Event | None = None

    @property
    def connected(self) -> bool:
        """Whether the tty is open."""
        return self._fd is not None

    async def start(self) -> str:
        """Open the tty; returns the path the camera side should open."""
        if self._own_pty:
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._slave = slave  # held open so the master never reads EIO
            self.path = os.ttyname(slave)
            self._attach(master)
        else:
            self._try_open()
            self._task = asyncio.create_task(self._keep_open(), name="visca-sim-serial")
        assert self.path is not None
        return self.path

    async def stop(self) -> None:
        """Close the tty."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._detach()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    async def wait_connected(self) -> None:
        """Wait until the tty is open (again, after it vanished); bound it with a timeout."""
        if self._connected is None:
            self._connected = asyncio.Event()
            if self._fd is not None:
                self._connected.set()
        await self._connected.wait()

    def _try_open(self) -> None:
        assert self.path is not None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            tty.setraw(fd)
        except OSError:
            os.close(fd)
            return
        self._attach(fd)

    async def _keep_open(self) -> None:
        while True:
            if self._fd is None:
                self._try_open()
            if self._fd is None or self._lost is None:
                await asyncio.sleep(self._reopen_interval)
            else:
                await asyncio.shield(self._lost)

    def _attach(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        self._fd = fd
        self._lost = loop.create_future()
        loop.add_reader(fd, self._readable)
        if self._connected is not None:
            self._connected.set()

    def _detach(self) -> None:
        fd, self._fd = self._fd, None
        if self._connected is not None:
            self._connected.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        if fd is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(fd)
            loop.remove_writer(fd)
            os.close(fd)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            self._detach()
            return
        if not data:
            self._detach()
            return
        self.sim.receive(data, asyncio.get_running_loop().time())
        self.flush()

    def flush(self) -> None:
        """Send the replies that are due (and schedule the next)."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        for _tag, data in self.sim.pop_due(loop.time()):
            self._pending += data
        self._write()
        when = self.sim.next_due()
        if when is not None and self._fd is not None:
            self._timer = loop.call_at(when, self.flush)

    def _write(self) -> None:
        if self._fd is None:
            self._pending.clear()
            return
        loop = asyncio.get_running_loop()
        while self._pending:
            try:
                written = os.write(self._fd, self._pending)
            except BlockingIOError:
                loop.add_writer(self._fd, self._writable)
                return
            except OSError:
                self._detach()
                return
            del self._pending[:written]
        loop.remove_writer(self._fd)

    def _writable(self) -> None:
        self._write()


# -- serving it over UDP ---------------------------------------------------------------------

@dataclass(frozen=True)
class Datagram:
    """One datagram the UDP simulator received, and whether it answered."""

    type: int
    sequence: int
    payload: bytes
    answered: bool


class UdpSimulator(asyncio.DatagramProtocol):
    """Serves one simulated camera over VISCA/IP.

    Checks sequence numbers like a Sony camera: RESET sets the camera's number to 0 and
    a message repeating the last number gets ERROR 0F 01. With ``quirk`` it behaves like
    cameras that only answer sequence number 0 (and always reply with 0).
    """

    def __init__(self, sim: ViscaSimulator | None = None, *, quirk: bool = False) -> None:
        self.sim = sim or ViscaSimulator(1)
        self.quirk = quirk
        self.drop_requests = 0  # drop this many incoming VISCA messages unanswered
        self.drop_replies = 0  # and this many outgoing replies
        self.log: list[Datagram] = []
        self.address: tuple[str, int] | None = None
        self._last_sequence: int | None = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen; returns the (host, port) bound."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        self.address = (str(sockname[0]), int(sockname[1]))
        return self.address

    async def stop(self) -> None:
        """Stop listening."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            await asyncio.sleep(0)  # let the transport's close callbacks run

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        """Answer one datagram."""
        try:
            packet = ip.decode_packet(data)
        except RemoteProtocolError:  # a camera ignores what it cannot parse
            _log.debug("VISCA/IP simulator: ignored %d bytes", len(data))
            return
        answered = self._answer(packet, addr)
        self.log.append(Datagram(packet.type, packet.sequence, packet.payload, answered))

    def _answer(self, packet: ip.Packet, addr: tuple[str | object, int]) -> bool:
        loop = asyncio.get_running_loop()
        if packet.type is ip.PayloadType.CONTROL_COMMAND:
            if packet.payload != ip.CONTROL_RESET:
                self._sendto(ip.PayloadType.CONTROL_REPLY, packet.sequence,
                             ip.CONTROL_MESSAGE_ERROR, addr)
                return True
            self._last_sequence = 0
            self._sendto(ip.PayloadType.CONTROL_REPLY, packet.sequence, ip.CONTROL_ACK, addr)
            return True
        if packet.type not in (ip.PayloadType.VISCA_COMMAND, ip.PayloadType.VISCA_INQUIRY):
            self._sendto(ip.PayloadType.CONTROL_REPLY, packet.sequence,
                         ip.CONTROL_MESSAGE_ERROR, addr)
            return True
        if self.drop_requests > 0:
            self.drop_requests -= 1
            return False
        if self.quirk:
            if packet.sequence != 0:
                return False
        elif packet.sequence == self._last_sequence:
            self._sendto(ip.PayloadType.CONTROL_REPLY, packet.sequence,
                         ip.CONTROL_SEQUENCE_ERROR, addr)
            return True
        self._last_sequence = packet.sequence
        self.sim.receive(packet.payload, loop.time(), tag=(addr, packet.sequence))
        self.flush()
        return True

    def _sendto(self, ptype: ip.PayloadType, sequence: int, payload: bytes,
                addr: tuple[str | object, int]) -> None:
        if self._transport is None:
            return
        if self.quirk:
            sequence = 0
        self._transport.sendto(ip.encode_packet(ip.Packet(ptype, sequence, payload)), addr)

    def flush(self) -> None:
        """Send the replies that are due (and schedule the next)."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        for tag, data in self.sim.pop_due(loop.time()):
            if self.drop_replies > 0:
                self.drop_replies -= 1
                continue
            if isinstance(tag, tuple):
                addr, sequence = tag
                self._sendto(ip.PayloadType.VISCA_REPLY, sequence, data, addr)
        when = self.sim.next_due()
        if when is not None and self._transport is not None:
            self._timer = loop.call_at(when, self.flush)


# -- command line ----------------------------------------------------------------------------

def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m endpoints.sim.visca",
                                     description="Simulated VISCA camera(s).")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="create a pseudo-terminal")
    where.add_argument("--serial", metavar="PATH", help="serve an existing tty")
    where.add_argument("--udp", metavar="HOST:PORT", help="serve VISCA over IP")
    parser.add_argument("--cameras", type=int, default=1, help="cameras on the chain (1-7)")
    parser.add_argument("--travel-time", type=float, default=0.5,
                        help="seconds to cross the whole range at top speed")
    parser.add_argument("--standby", action="store_true", help="start in standby")
    parser.add_argument("--silent", action="store_true", help="never answer")
    parser.add_argument("--garbage", action="store_true", help="send noise before replies")
    parser.add_argument("--quirk", action="store_true",
                        help="UDP: answer only sequence number 0")
    args = parser.parse_args(argv)
    if not 1 <= args.cameras <= 7:
        parser.error("--cameras must be 1 to 7")
    return args


async def _serve(args: argparse.Namespace) -> None:
    sim = ViscaSimulator(args.cameras, travel_time=args.travel_time, powered=not args.standby)
    sim.silent, sim.garbage = args.silent, args.garbage
    if args.udp:
        host, _, port = args.udp.rpartition(":")
        udp = UdpSimulator(sim, quirk=args.quirk)
        bound = await udp.start(host or "127.0.0.1", int(port))
        await serve_until_signalled(f"{bound[0]}:{bound[1]}", udp.stop)
        return
    serial = SerialSimulator(sim, None if args.pty else args.serial)
    await serve_until_signalled(await serial.start(), serial.stop)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    return run_simulator(_serve(_parse_args(argv)), "visca simulator")


if __name__ == "__main__":
    sys.exit(main())
