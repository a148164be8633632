"""Debian's Janus 1.1.2 as a real bridge, running inside the lab namespace.

API for tests:

- ``janus_lab`` (session fixture) -> ``JanusLab``: started once, stopped (killed if need be)
  at the end. ``.url`` is the HTTP API ("http://198.18.0.1:8088/janus"), ``.ws_url`` the
  WebSocket API, ``.admin_url`` the admin API (secret ``ADMIN_SECRET``). Rooms from the
  config: ``ROOM`` (PIN ``ROOM_PIN``, secret ``ROOM_SECRET``) and ``OPEN_ROOM`` (no PIN).
  ``.kill()`` / ``.start()`` / ``.restart()`` for recovery tests; ``.log_path`` for failures.
- Clients must run inside the namespace: use ``in_lab_netns`` from ``tests.peers.netns``.
- ``write_janus_config(directory, lab)`` writes the same configuration for people:
  ``janus -F DIR -C DIR/janus.jcfg`` (see ``deploy/lab/janus/``).

Loaded: HTTP and WebSocket transports, the VideoRoom and SIP plugins; nothing else.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.peers.netns import LabNetns, lab_netns, switch_netns

__all__ = ["ADMIN_SECRET", "OPEN_ROOM", "ROOM", "ROOM_PIN", "ROOM_SECRET", "JanusLab",
           "janus_lab", "lab_netns", "write_janus_config"]

JANUS: Final = "/usr/bin/janus"
LIB: Final = Path("/usr/lib/x86_64-linux-gnu/janus")
HTTP_PORT: Final = 8088
WS_PORT: Final = 8188
ADMIN_PORT: Final = 7088
ADMIN_SECRET: Final = "lab-admin-secret"
ROOM: Final = 1234
ROOM_PIN: Final = "lab-pin-1234"
ROOM_SECRET: Final = "lab-room-secret"
OPEN_ROOM: Final = 4321

_KEEP_PLUGINS: Final = ("libjanus_videoroom.so", "libjanus_sip.so")
_KEEP_TRANSPORTS: Final = ("libjanus_http.so", "libjanus_websockets.so")


def _disabled(folder: Path, keep: tuple[str, ...]) -> str:
    names = sorted(p.name for p in folder.glob("*.so") if p.name not in keep)
    return ",".join(names)


def write_janus_config(directory: Path, address: str, interface: str) -> Path:
    """Write a Janus config folder for the lab; returns the path of ``janus.jcfg``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "janus.jcfg": f"""
general: {{
    configs_folder = "{directory}"
    plugins_folder = "{LIB / 'plugins'}"
    transports_folder = "{LIB / 'transports'}"
    events_folder = "{LIB / 'events'}"
    loggers_folder = "{LIB / 'loggers'}"
    debug_level = 4
    debug_timestamps = true
    admin_secret = "{ADMIN_SECRET}"
    interface = "{address}"
    session_timeout = 60
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "{interface}"
    ignore_mdns = true
    full_trickle = false
}}
plugins: {{
    disable = "{_disabled(LIB / 'plugins', _KEEP_PLUGINS)}"
}}
transports: {{
    disable = "{_disabled(LIB / 'transports', _KEEP_TRANSPORTS)}"
}}
events: {{
    broadcast = false
}}
loggers: {{
    disable = "{_disabled(LIB / 'loggers', ())}"
}}
""",
        "janus.transport.http.jcfg": f"""
general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    ip = "{address}"
    port = {HTTP_PORT}
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_ip = "{address}"
    admin_port = {ADMIN_PORT}
    admin_https = false
}}
cors: {{
}}
""",
        "janus.transport.websockets.jcfg": f"""
general: {{
    json = "compact"
    ws = true
    ws_ip = "{address}"
    ws_port = {WS_PORT}
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
""",
        "janus.plugin.videoroom.jcfg": f"""
general: {{
}}
room-{ROOM}: {{
    description = "Lab room with PIN"
    secret = "{ROOM_SECRET}"
    pin = "{ROOM_PIN}"
    publishers = 16
    bitrate = 1024000
    fir_freq = 3
    audiolevel_event = true
    audio_active_packets = 50
    audio_level_average = 40
    notify_joining = true
}}
room-{OPEN_ROOM}: {{
    description = "Lab room without PIN"
    secret = "{ROOM_SECRET}"
    publishers = 16
    bitrate = 2048000
    fir_freq = 3
    notify_joining = true
}}
""",
        "janus.plugin.sip.jcfg": f"""
general: {{
    local_ip = "{address}"
    local_media_ip = "{address}"
    sdp_ip = "{address}"
    keepalive_interval = 120
    behind_nat = false
    register_ttl = 3600
    rtp_port_range = "40001-50000"
    sip_timer_t1x64 = 32000
}}
""",
    }
    for name, text in files.items():
        (directory / name).write_text(text.lstrip(), encoding="utf-8")
    return directory / "janus.jcfg"


class JanusLab:
    """One Janus process in the lab namespace, restartable."""

    def __init__(self, netns: LabNetns, directory: Path) -> None:
        self.netns = netns
        self.directory = directory
        self.config = write_janus_config(directory, netns.address, netns.interface)
        self.url = f"http://{netns.address}:{HTTP_PORT}/janus"
        self.ws_url = f"ws://{netns.address}:{WS_PORT}"
        self.admin_url = f"http://{netns.address}:{ADMIN_PORT}/admin"
        self.log_path = directory / "janus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> None:
        """Start Janus and wait until it answers ``{"janus": "info"}``."""
        if self.process is not None and self.process.poll() is None:
            return
        log = self.log_path.open("ab")
        try:
            self.process = self.netns.popen(
                [JANUS, "-F", str(self.directory), "-C", str(self.config), "-o"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"janus exited with {self.process.returncode}: "
                                   f"{self.log_tail()}")
            if self.info() is not None:
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"janus did not answer in {timeout} s: {self.log_tail()}")

    def info(self) -> dict[str, object] | None:
        """Janus's info answer, or None while it does not answer."""
        with switch_netns(self.netns.name):
            try:
                with urllib.request.urlopen(self.url + "/info", timeout=1) as resp:  # noqa: S310
                    answer: dict[str, object] = json.loads(resp.read())
                    return answer
            except (OSError, ValueError):
                return None

    def kill(self) -> None:
        """Kill Janus at once (no goodbye to anyone) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        finally:
            self.process = None

    def stop(self) -> None:
        """Ask Janus to stop, kill it if it does not."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        self.kill()

    def restart(self, timeout: float = 15) -> None:
        """Kill and start again (same config, same rooms, new sessions)."""
        self.kill()
        self.start(timeout)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of Janus's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def janus_lab(lab_netns: LabNetns, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JanusLab]:
    """Debian's Janus in the lab namespace for the whole session."""
    if shutil.which(JANUS) is None:
        pytest.fail("Debian's janus is not installed — ./scripts/test installs it")
    lab = JanusLab(lab_netns, tmp_path_factory.mktemp("janus"))
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
