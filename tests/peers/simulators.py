"""Device simulators run as their own processes, as a real room's devices would be."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Simulator:
    """A running simulator process and the port it listens on."""

    process: subprocess.Popen[str]
    port: int


def start_simulator(*args: str, timeout: float = 20) -> Simulator:
    """``python -m endpoints.sim.X ARGS`` with port 0; waits for its first line (the address)."""
    process = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.2):
                if process.poll() is not None:
                    break
                continue
            line = process.stdout.readline()
            match = re.search(r":(\d+)\s*$", line)
            if match:
                return Simulator(process, int(match.group(1)))
            if not line:
                break
    finally:
        selector.close()
    process.kill()
    err = process.stderr.read() if process.stderr else ""
    raise RuntimeError(f"simulator {args} did not start: {err}")


def stop_simulator(sim: Simulator) -> None:
    """Terminate and reap a simulator."""
    if sim.process.poll() is None:
        sim.process.terminate()
        try:
            sim.process.wait(5)
        except subprocess.TimeoutExpired:
            sim.process.kill()
            sim.process.wait(5)
    for stream in (sim.process.stdout, sim.process.stderr):
        if stream is not None:
            stream.close()


@contextmanager
def room_simulators() -> Iterator[dict[str, Simulator]]:
    """A camera (VISCA over UDP), a PJLink projector and a mixer on loopback."""
    sims: dict[str, Simulator] = {}
    try:
        sims["camera"] = start_simulator("endpoints.sim.visca", "--udp", "127.0.0.1:0")
        sims["projector"] = start_simulator("endpoints.sim.pjlink", "--host", "127.0.0.1",
                                            "--port", "0", "--warmup", "3", "--cooldown", "2")
        sims["mixer"] = start_simulator("endpoints.sim.mixer", "--host", "127.0.0.1",
                                        "--port", "0", "--dialect", "generic")
        yield sims
    finally:
        for sim in sims.values():
            stop_simulator(sim)


def room_devices_config(sims: dict[str, Simulator], poll_interval: float = 2) -> str:
    """``[[devices]]`` tables for the simulators."""
    return (
        f'[[devices]]\nid = "cam1"\nname = "Camera phòng họp"\nkind = "camera"\n'
        f'protocol = "visca-ip"\nhost = "127.0.0.1"\nport = {sims["camera"].port}\n'
        f"poll_interval = {poll_interval}\n\n"
        f'[[devices]]\nid = "proj1"\nname = "Máy chiếu"\nkind = "projector"\n'
        f'protocol = "pjlink"\nhost = "127.0.0.1"\nport = {sims["projector"].port}\n'
        f"poll_interval = {poll_interval}\n\n"
        f'[[devices]]\nid = "mix1"\nname = "Bàn trộn âm thanh"\nkind = "mixer"\n'
        f'protocol = "mixer-tcp"\nhost = "127.0.0.1"\nport = {sims["mixer"].port}\n'
        f'dialect = "generic"\npoll_interval = {poll_interval}\n')
