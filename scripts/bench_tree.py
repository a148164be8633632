#!/usr/bin/env python3
"""Tree benchmarks; prints its figures as one JSON object on its last line.

``control``: a real province and a real commune (``python -m controller run``); the
commune's camera is ``visca-serial`` on one end of a socat pty pair and this process is the
camera on the other end (`endpoints.sim.visca.ViscaSimulator`, answering ACK then
completion), stamping the arrival of each command's first byte. 300 more simulated
children (``scripts/_bench_tree_children.py``, a separate process) heartbeat into the
province meanwhile. A session is created, approved and started at the province; we time
chair calls ``POST /api/v1/sessions/{id}/chair {"action": "camera", ...}`` from sending
the request to the first VISCA byte at the pty, and, in alternating blocks of the same
run, the same command issued on the commune's own console (``POST
/api/v1/devices/cam1/commands``). The difference is what the tree costs.

``scale``: one province configured with 3,321 children (1,000 with ``--quick``) and the
simulated children, connecting at a staggered rate and heartbeating at 1 Hz: time until all
are online at the parent (``GET /api/v1/site``), parent CPU (user+sys as cores) and RSS
over a steady window, heartbeat → ack round trips, and, for a few children that put a send
stamp in their summary, the lag until that summary is visible in ``GET /api/v1/site``
(polled back to back in a window of its own, so its cost stays out of the CPU figure).

    .venv/bin/python scripts/bench_tree.py [--quick] [--only control|scale] [--profile]
        [--parent-gc-off]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import tty
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import aiohttp

from endpoints.sim.visca import ViscaSimulator

_log = logging.getLogger("bench_tree")

ROOT: Final = Path(__file__).resolve().parent.parent
CHILDREN_SCRIPT: Final = Path(__file__).with_name("_bench_tree_children.py")
PROFILE_SCRIPT: Final = Path(__file__).with_name("_bench_tree_profile.py")
PASSWORD: Final = secrets.token_urlsafe(18)  # fresh each run: the accounts are throwaway
COMMUNE: Final = "xa-bench"
SIM_PREFIX: Final = "xa-sim-"
SIM_CHILDREN: Final = 300
COMMUNES_TOTAL: Final = 3321
ROUNDS: Final = 5  # chair and local blocks alternate this many times
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
# VISCA command packets the commands below start with (address 1): pan-tilt drive, recall
VISCA_STARTS: Final = (bytes([0x81, 0x01, 0x06, 0x01]), bytes([0x81, 0x01, 0x04, 0x3F, 0x02]))


def progress(message: str, *args: object) -> None:
    """A progress line on stderr."""
    print(f"[bench_tree {time.strftime('%H:%M:%S')}] " + message % args, file=sys.stderr,
          flush=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 of seconds, in milliseconds."""
    if len(samples) < 2:
        return {"p50": round(samples[0] * 1e3, 3), "p99": round(samples[0] * 1e3, 3)} \
            if samples else {}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49] * 1e3, 3), "p99": round(cuts[98] * 1e3, 3)}


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- processes ---------------------------------------------------------------------------------

def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # utime, stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    return sum(cpu_split(pid))


def memory_mib(pid: int) -> dict[str, float]:
    """Peak and current resident set of a process (``/proc/PID/status``), MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out["peak" if key == "VmHWM" else "current"] = round(int(value.split()[0]) / 1024, 1)
    return out


class Processes:
    """Every child process of the bench; stopped in reverse order, whatever happens."""

    def __init__(self) -> None:
        self.running: list[tuple[str, asyncio.subprocess.Process]] = []

    async def start(self, name: str, argv: list[str], log: Path | None = None,
                    pipes: bool = False) -> asyncio.subprocess.Process:
        """Start ``argv``, its output to ``log`` (or pipes), in a session of its own."""
        out = log.open("ab") if log is not None else None
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=ROOT, start_new_session=True,
                stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if pipes else out,
                stderr=asyncio.subprocess.STDOUT if out is not None else None,
                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        finally:
            if out is not None:
                out.close()
        self.running.append((name, process))
        return process

    async def stop(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM, wait, SIGKILL if need be."""
        if process.returncode is None:
            with suppress(ProcessLookupError):
                process.terminate()
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                with suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self.running = [(n, p) for n, p in self.running if p is not process]

    async def stop_all(self) -> None:
        """Stop every process still running, newest first."""
        for _name, process in reversed(list(self.running)):
            await self.stop(process)


# -- sites -------------------------------------------------------------------------------------

@dataclass
class Site:
    """One ``diemcau run`` process of the bench."""

    site_id: str
    directory: Path
    port: int
    config: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        path = self.directory / "site.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def write_secret(path: Path, value: str) -> None:
    """A credential file, readable by its owner only."""
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)


def write_site(base: Path, site_id: str, level: str, extra: str) -> Site:
    """A site's directory and config."""
    directory = base / site_id
    directory.mkdir(parents=True)
    port = free_port()
    config = directory / "site.toml"
    config.write_text(
        f'[site]\nid = "{site_id}"\nname = "UBND {site_id}"\nlevel = "{level}"\n\n'
        f'[console]\nlisten = "127.0.0.1:{port}"\n\n'
        f'[storage]\ndata_dir = "{directory / "data"}"\n\n{extra}', encoding="utf-8")
    return Site(site_id, directory, port, config)


def children_config(site: Site, ids: list[str], credential: str) -> str:
    """``[[children]]`` tables for ``ids``, each with its own credential file."""
    secrets_dir = site.directory / "children"
    secrets_dir.mkdir()
    parts = []
    for child_id in ids:
        path = secrets_dir / f"{child_id}.secret"
        write_secret(path, credential)
        parts.append(f'[[children]]\nid = "{child_id}"\nname = "UBND {child_id}"\n'
                     f'credential_file = "{path}"\n')
    return "\n".join(parts)


async def add_user(site: Site, name: str, role: str) -> None:
    """``diemcau user add`` with the password on stdin."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller", "user", "add", "--config", str(site.config), name,
        "--role", role, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate((PASSWORD + "\n").encode())
    if process.returncode != 0:
        raise RuntimeError(f"user add {name} at {site.site_id}: {out.decode()[-500:]}")


async def start_site(processes: Processes, site: Site,
                     runner: list[str] | None = None) -> float:
    """Start the site and wait for ``/healthz``; seconds it took."""
    started = time.monotonic()
    site.process = await processes.start(
        site.site_id, [*(runner or [sys.executable, "-m", "controller"]), "run", "--config",
                       str(site.config)], log=site.directory / "site.log")
    async with aiohttp.ClientSession() as http:
        while True:
            if site.process.returncode is not None:
                raise RuntimeError(f"{site.site_id} exited: {site.log_tail()}")
            with suppress(aiohttp.ClientError, OSError):
                async with http.get(site.url + "/healthz",
                                    timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            if time.monotonic() - started > 120:
                raise RuntimeError(f"{site.site_id} not healthy: {site.log_tail()}")
            await asyncio.sleep(0.1)


class Console:
    """A logged-in console session (cookie + CSRF token)."""

    def __init__(self, site: Site, username: str) -> None:
        self.site = site
        self.username = username
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=60))
        self.csrf = ""

    async def __aenter__(self) -> Console:
        body = await self.post("/api/v1/login", {"username": self.username,
                                                 "password": PASSWORD})
        self.csrf = body["csrf_token"]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.http.close()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.site.url + path) as resp:
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: {resp.status} {await resp.text()}"[:500])
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any], expect: int = 200) -> Any:
        async with self.http.post(self.site.url + path, json=body,
                                  headers={"X-CSRF-Token": self.csrf}) as resp:
            if resp.status != expect:
                raise RuntimeError(f"POST {path}: {resp.status} {await resp.text()}"[:500])
            return await resp.json()


async def eventually(check: Any, seconds: float, what: str, interval: float = 0.2) -> Any:
    """Poll the coroutine function ``check`` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(interval)
    return value


# -- the camera on the far end of the pty ------------------------------------------------------

class PtyCamera:
    """A simulated VISCA camera on a tty that stamps when each packet's first byte arrives."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sim = ViscaSimulator(1, travel_time=0.02)
        self.packets: list[tuple[float, bytes]] = []  # (perf_counter at first byte, packet)
        self._partial = bytearray()
        self._partial_at = 0.0
        self._fd: int | None = None
        self._timer: asyncio.TimerHandle | None = None

    def open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    def _readable(self) -> None:
        arrived = time.perf_counter()
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        for byte in data:
            if not self._partial:
                self._partial_at = arrived
            self._partial.append(byte)
            if byte == 0xFF:
                self.packets.append((self._partial_at, bytes(self._partial)))
                self._partial.clear()
        self.sim.receive(data, asyncio.get_running_loop().time())
        self._flush()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = None
        for _tag, reply in self.sim.pop_due(loop.time()):
            if self._fd is not None:
                os.write(self._fd, reply)  # a few bytes: the pty buffer takes them
        when = self.sim.next_due()
        if when is not None:
            self._timer = loop.call_at(when, self._flush)

    def first_command_since(self, index: int, sent: float) -> float | None:
        """Arrival of the first command packet (not an inquiry) after ``packets[index]``."""
        for at, packet in self.packets[index:]:
            if at >= sent and packet.startswith(VISCA_STARTS):
                return at
        return None


async def start_socat(stack: AsyncExitStack, processes: Processes,
                      directory: Path) -> tuple[str, str]:
    """A pty pair; the two link paths."""
    a, b = str(directory / "ttyCAM"), str(directory / "ttySIM")
    process = await asyncio.create_subprocess_exec(
        "socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    processes.running.append(("socat", process))
    assert process.stderr is not None
    async with asyncio.timeout(10):
        while b"starting data transfer loop" not in await process.stderr.readline():
            pass
    # Keep draining socat's stderr so that it never blocks on a full pipe.
    drain = asyncio.create_task(process.stderr.read(), name="socat-stderr")
    stack.push_async_callback(_cancelled, drain)
    return a, b


async def _cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


# -- the simulated children --------------------------------------------------------------------

class Children:
    """The ``_bench_tree_children.py`` process, driven over its stdin."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, processes: Processes, parent: Site, prefix: str, count: int,
                    credential_file: Path, rate: float, sample: int) -> Children:
        process = await processes.start(
            "children", [sys.executable, str(CHILDREN_SCRIPT), "--url",
                         f"ws://127.0.0.1:{parent.port}/uplink", "--prefix", prefix,
                         "--count", str(count), "--credential-file", str(credential_file),
                         "--rate", str(rate), "--sample", str(sample)], pipes=True)
        return cls(process)

    async def event(self, seconds: float) -> dict[str, Any]:
        """The next JSON line it prints."""
        assert self.process.stdout is not None
        async with asyncio.timeout(seconds):
            line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the simulated children exited")
        body: dict[str, Any] = json.loads(line)
        return body

    async def say(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word.encode() + b"\n")
        await self.process.stdin.drain()

    async def report(self) -> dict[str, Any]:
        await self.say("report")
        return await self.event(30)


# -- control path ------------------------------------------------------------------------------

async def bench_control(stack: AsyncExitStack, processes: Processes, base: Path,
                        quick: bool) -> dict[str, Any]:
    """Chair command → first VISCA byte at the commune's pty, beside the commune's own."""
    count = 60 if quick else 400
    credential = secrets.token_hex(24)
    cam_path, sim_path = await start_socat(stack, processes, base)
    camera = PtyCamera(sim_path)
    camera.open()
    stack.callback(camera.close)

    province = write_site(base, "tinh-bench", "province", "")
    sim_ids = [f"{SIM_PREFIX}{i:04d}" for i in range(SIM_CHILDREN)]
    with province.config.open("a", encoding="utf-8") as f:
        f.write(children_config(province, [COMMUNE, *sim_ids], credential))
    commune = write_site(base, COMMUNE, "commune", "")
    write_secret(commune.directory / "uplink.secret", credential)
    with commune.config.open("a", encoding="utf-8") as f:
        f.write(f'[uplink]\nurl = "ws://127.0.0.1:{province.port}/uplink"\n'
                f'credential_file = "{commune.directory / "uplink.secret"}"\n'
                'heartbeat_seconds = 1\n\n'
                '[[devices]]\nid = "cam1"\nkind = "camera"\nprotocol = "visca-serial"\n'
                f'port = "{cam_path}"\nbaud = 9600\naddress = 1\npoll_interval = 10\n')
    progress("control: users, then province with %d children and commune", SIM_CHILDREN + 1)
    await asyncio.gather(add_user(province, "chutri", "chair"),
                         add_user(commune, "vanhanh", "operator"))
    await start_site(processes, province)
    assert province.process is not None
    children = await Children.start(processes, province, SIM_PREFIX, SIM_CHILDREN,
                                    province.directory / "children" / f"{sim_ids[0]}.secret",
                                    rate=300, sample=0)
    await start_site(processes, commune)
    online = await children.event(60)
    progress("control: %d simulated children online in %.1f s", online["count"],
             online["seconds"])

    chair = await stack.enter_async_context(Console(province, "chutri"))
    officer = await stack.enter_async_context(Console(commune, "vanhanh"))

    async def all_online() -> bool:
        site = await chair.get("/api/v1/site")
        return all(c["state"] == "online" for c in site["children"])
    await eventually(all_online, 60, "all 301 children online at the province")
    now = time.time()
    created = await chair.post("/api/v1/sessions", {
        "title": "Đo đường lệnh chủ trì", "kind": "regular", "participants": [COMMUNE],
        "starts_at": _iso(now + 7200), "ends_at": _iso(now + 10800)}, expect=201)
    session_id = created["id"]
    await chair.post(f"/api/v1/sessions/{session_id}/approve", {})
    await chair.post(f"/api/v1/sessions/{session_id}/chair", {"action": "start", "args": {}})

    async def live() -> bool:
        with suppress(RuntimeError):
            body = await officer.get(f"/api/v1/sessions/{session_id}")
            return bool(body["state"] == "live")
        return False
    await eventually(live, 30, "the session live at the commune")
    await officer.post("/api/v1/devices/cam1/commands",
                       {"command": "preset.store", "args": {"preset": 1}})
    progress("control: session live; %d chair and %d local commands in %d blocks",
             count, count, ROUNDS)

    def command(i: int) -> dict[str, Any]:
        if i % 2:
            return {"command": "preset.recall", "args": {"preset": 1}}
        return {"command": "ptz.move",
                "args": {"pan": 0.5 if i % 4 == 0 else -0.5, "tilt": 0.0, "speed": 0.5}}

    async def timed(chair_path: bool, i: int) -> tuple[float, float]:
        body = command(i)
        index = len(camera.packets)
        sent = time.perf_counter()
        if chair_path:
            out = await chair.post(f"/api/v1/sessions/{session_id}/chair",
                                   {"action": "camera", "site": COMMUNE, "args": body})
            ok = out["results"][COMMUNE]["ok"]
        else:
            out = await officer.post("/api/v1/devices/cam1/commands", body)
            ok = True
        done = time.perf_counter()
        at = camera.first_command_since(index, sent)
        if not ok or at is None:
            raise RuntimeError(f"command {body} did not reach the camera: {out}")
        return at - sent, done - sent

    for i in range(10):  # warm-up: connections, first-use imports
        await timed(True, i)
        await timed(False, i)
    await children.say("measure")
    chair_serial: list[float] = []
    chair_http: list[float] = []
    local_serial: list[float] = []
    local_http: list[float] = []
    cpu0, wall0 = cpu_seconds(province.process.pid), time.monotonic()
    block = count // ROUNDS
    for r in range(ROUNDS):
        for i in range(block):
            serial, http = await timed(True, r * block + i)
            chair_serial.append(serial)
            chair_http.append(http)
        for i in range(block):
            serial, http = await timed(False, r * block + i)
            local_serial.append(serial)
            local_http.append(http)
    province_cores = (cpu_seconds(province.process.pid) - cpu0) / (time.monotonic() - wall0)
    sims = await children.report()
    chair_ms, local_ms = percentiles(chair_serial), percentiles(local_serial)
    return {
        "commands_each": len(chair_serial),
        "children_at_province": SIM_CHILDREN + 1,
        "simulated_children_heartbeat_hz": 1,
        "commands": "alternating ptz.move (pan ±0.5) and preset.recall 1",
        "chair_api_to_first_visca_byte_ms": chair_ms,
        "local_api_to_first_visca_byte_ms": local_ms,
        "tree_cost_ms": {k: round(chair_ms[k] - local_ms[k], 3) for k in chair_ms},
        "chair_api_round_trip_ms": percentiles(chair_http),
        "local_api_round_trip_ms": percentiles(local_http),
        "province_cpu_cores_during_commands": round(province_cores, 3),
        "simulated_children_ack_rtt_ms": sims.get("ack_rtt_ms"),
        "simulated_children_reconnects": sims["reconnects"],
        "link": "socat pty pair (no baud pacing); camera = ViscaSimulator in the bench process",
    }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# -- scale -------------------------------------------------------------------------------------

async def bench_scale(stack: AsyncExitStack, processes: Processes, base: Path,
                      quick: bool, profile: bool, gc_off: bool) -> dict[str, Any]:
    """One province, thousands of heartbeating children."""
    count = 1000 if quick else COMMUNES_TOTAL
    rate = 500.0
    steady_seconds = 10.0 if quick else 30.0
    visible_seconds = 6.0 if quick else 20.0
    sample = 5
    credential = secrets.token_hex(24)
    prefix = "xa-"
    ids = [f"{prefix}{i:04d}" for i in range(count)]
    province = write_site(base, "tinh-scale", "province", "")
    with province.config.open("a", encoding="utf-8") as f:
        f.write(children_config(province, ids, credential))
    await add_user(province, "xem", "viewer")
    progress("scale: province with %d configured children", count)
    report, window = base / "profile.json", base / "profile.window"
    runner = [sys.executable, str(PROFILE_SCRIPT), "--report", str(report), "--window-file",
              str(window), *(["--gc-off"] if gc_off else []), "--"] \
        if profile or gc_off else None
    startup = await start_site(processes, province, runner)
    assert province.process is not None
    pid = province.process.pid
    idle_mem = memory_mib(pid)
    viewer = await stack.enter_async_context(Console(province, "xem"))
    spawned, connect_cpu0 = time.monotonic(), cpu_seconds(pid)
    children = await Children.start(processes, province, prefix, count,
                                    province.directory / "children" / f"{ids[0]}.secret",
                                    rate=rate, sample=sample)

    polls = [0]

    async def all_online() -> bool:
        site = await viewer.get("/api/v1/site")
        polls[0] += 1
        up = sum(c["state"] == "online" for c in site["children"])
        if polls[0] % 10 == 0:
            progress("scale: %d/%d online at the parent", up, count)
        return bool(up == count)
    await eventually(all_online, 300, "every child online at the parent", interval=0.25)
    all_online_s = time.monotonic() - spawned
    connect_cores = (cpu_seconds(pid) - connect_cpu0) / all_online_s
    online = await children.event(60)
    progress("scale: all %d online at the parent after %.1f s; steady window %.0f s",
             count, all_online_s, steady_seconds)

    await asyncio.sleep(3.0)  # let the connect burst settle
    await children.say("measure")
    client_pid = children.process.pid
    window.touch()
    (user0, sys0), ccpu0, wall0 = cpu_split(pid), cpu_seconds(client_pid), time.monotonic()
    await asyncio.sleep(steady_seconds)
    window.unlink()
    wall = time.monotonic() - wall0
    user1, sys1 = cpu_split(pid)
    parent_cores = (user1 + sys1 - user0 - sys0) / wall
    client_cores = (cpu_seconds(client_pid) - ccpu0) / wall
    steady_mem = memory_mib(pid)
    sims = await children.report()

    progress("scale: visibility window %.0f s (GET /api/v1/site back to back)", visible_seconds)
    async with viewer.http.get(province.url + "/api/v1/site") as resp:
        site_kib = len(await resp.read()) / 1024
    sample_ids = set(ids[:sample])
    last_seq: dict[str, int] = {}
    lags: list[float] = []
    poll_times: list[float] = []
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - wall0 < visible_seconds:
        asked = time.monotonic()
        site = await viewer.get("/api/v1/site")
        seen = time.monotonic()
        poll_times.append(seen - asked)
        for c in site["children"]:
            if c["id"] in sample_ids:
                summary = c["summary"]
                seq, sent = summary.get("bench_seq"), summary.get("bench_sent")
                if isinstance(seq, int) and isinstance(sent, float) and \
                        seq != last_seq.get(c["id"]):
                    if c["id"] in last_seq:  # the first sighting may be old news
                        lags.append(seen - sent)
                    last_seq[c["id"]] = seq
    parent_cores_polled = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
    await children.say("stop")
    await processes.stop(children.process)
    end_mem = memory_mib(pid)
    out: dict[str, Any] = {}
    if profile or gc_off:
        await processes.stop(province.process)
        out["profile_of_steady_window"] = json.loads(report.read_text(encoding="utf-8"))
    return out | {
        "children": count,
        "reduced_for_quick": count != COMMUNES_TOTAL,
        "heartbeat_hz_per_child": 1,
        "connect_rate_per_s": rate,
        "connect_stagger_floor_s": round(count / rate, 2),
        "parent_startup_s": round(startup, 2),
        "all_online_at_parent_s": round(all_online_s, 2),
        "all_welcomed_at_client_s": online["seconds"],
        "parent_cpu_cores_while_connecting": round(connect_cores, 3),
        "steady_window_s": round(wall, 1),
        "parent_cpu_cores": round(parent_cores, 3),
        "parent_cpu_cores_user_sys": [round((user1 - user0) / wall, 3),
                                      round((sys1 - sys0) / wall, 3)],
        "parent_gc": "disabled (experiment)" if gc_off else "default",
        "parent_rss_mib": {"idle_before_children": idle_mem.get("current"),
                           "steady": steady_mem.get("current"),
                           "peak": end_mem.get("peak")},
        "client_cpu_cores": round(client_cores, 3),
        "client_saturated": client_cores > 0.85,
        "heartbeat_ack_rtt_ms": sims.get("ack_rtt_ms"),
        "heartbeats_in_window": sims["rtt_samples"],
        "client_late_beats": sims["late_beats"],
        "reconnects": sims["reconnects"],
        "client_errors": sims["errors"],
        "visible_at_parent": {
            "sample_children": sample,
            "sightings": len(lags),
            "lag_ms": {**percentiles(lags),
                       **({"max": round(max(lags) * 1e3, 3)} if lags else {})},
            "poll_ms": percentiles(poll_times),
            "site_json_kib": round(site_kib, 1),
            "note": "send → seen in GET /api/v1/site, polled back to back; includes up to one "
                    "poll's duration",
            "parent_cpu_cores_while_polled": round(parent_cores_polled, 3),
        },
    }


# -- main --------------------------------------------------------------------------------------

@asynccontextmanager
async def lab() -> AsyncIterator[tuple[AsyncExitStack, Processes, Path]]:
    """A temporary directory and the processes in it; all gone afterwards."""
    processes = Processes()
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as tmp:
        async with AsyncExitStack() as stack:
            try:
                yield stack, processes, Path(tmp)
            finally:
                await processes.stop_all()


async def run(quick: bool, only: str | None, profile: bool, gc_off: bool) -> dict[str, Any]:
    """Both benchmarks (or one), each in its own lab."""
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM cancels this task (as asyncio.run does for SIGINT) so every finally runs.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    started = time.monotonic()
    results: dict[str, Any] = {"quick": quick}
    if only in (None, "control"):
        async with lab() as (stack, processes, base):
            results["control"] = await bench_control(stack, processes, base, quick)
    if only in (None, "scale"):
        async with lab() as (stack, processes, base):
            results["scale"] = await bench_scale(stack, processes, base, quick, profile,
                                                   gc_off)
    results["cpu_cores_on_machine"] = os.cpu_count()
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def main() -> int:
    """Run the benchmarks and print the JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true",
                        help="fewer commands, 1,000 children instead of 3,321 (under a minute)")
    parser.add_argument("--only", choices=("control", "scale"), help="run one benchmark")
    parser.add_argument("--profile", action="store_true",
                        help="scale: run the province under scripts/_bench_tree_profile.py "
                             "(sampling profiler, GC timing) and add its report")
    parser.add_argument("--parent-gc-off", action="store_true",
                        help="scale: disable the province's garbage collector (an experiment "
                             "showing what GC pauses cost; implies the profiler wrapper)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        results = asyncio.run(run(args.quick, args.only, args.profile, args.parent_gc_off))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, or SIGTERM (see `run`)
        progress("interrupted; every process stopped")
        return 130
    print(json.dumps(results, sort_keys=True, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
