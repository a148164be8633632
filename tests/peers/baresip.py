"""A real baresip (Debian 1.0.0) auto-answering inside the lab network namespace.

Two accounts: ``conf`` answers with ICE + DTLS-SRTP (like a WebRTC-capable bridge) and
``plain`` with plain RTP (like a classic MCU). Its sine source plays 440 Hz; the
``ctrl_tcp`` module takes commands (netstring JSON) such as ``hangup``, ``reinvite`` and
``listcalls``. ``rtp_stats`` makes it log per-call RTP counters when a call ends.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers.netns import LabNetns, lab_netns

__all__ = ["Baresip", "baresip", "lab_netns"]

SINE_HZ = 440
SIP_PORT = 15070
CTRL_PORT = 14444
MODULES = "/usr/lib/baresip/modules"

_CONFIG = """\
poll_method		epoll
sip_listen		{address}:{sip_port}
audio_player		aubridge,sink
audio_source		ausine,{sine}
audio_alert		aubridge,sink
ausrc_srate		48000
auplay_srate		48000
rtcp_mux		yes
rtp_stats		yes
module_path		{modules}
module			g711.so
module			opus.so
module			ausine.so
module			aubridge.so
module			ice.so
module			dtls_srtp.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		{address}:{ctrl_port}
"""
_ACCOUNTS = """\
<sip:conf@{address}>;regint=0;answermode=auto;medianat=ice;mediaenc=dtls_srtp
<sip:plain@{address}>;regint=0;answermode=auto
"""


@dataclass
class Baresip:
    """A running baresip and how to reach it."""

    process: subprocess.Popen[bytes]
    address: str
    log_path: Path
    sip_port: int = SIP_PORT
    ctrl_port: int = CTRL_PORT

    @property
    def conference_uri(self) -> str:
        """The account that answers with ICE + DTLS-SRTP."""
        return f"sip:conf@{self.address}:{self.sip_port}"

    @property
    def plain_uri(self) -> str:
        """The account that answers with plain RTP."""
        return f"sip:plain@{self.address}:{self.sip_port}"

    def log(self) -> str:
        """Everything baresip printed so far (ANSI colours removed)."""
        return re.sub(r"\x1b\[[0-9;]*m", "", self.log_path.read_text(errors="replace"))

    async def command(self, command: str, params: str = "") -> dict[str, Any]:
        """Run one ctrl_tcp command (the caller's thread must be in the namespace)."""
        reader, writer = await asyncio.open_connection(self.address, self.ctrl_port)
        try:
            body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
            writer.write(str(len(body)).encode() + b":" + body + b",")
            await writer.drain()
            while True:
                length = int((await reader.readuntil(b":"))[:-1])
                message: dict[str, Any] = json.loads(await reader.readexactly(length))
                await reader.readexactly(1)  # the netstring's trailing comma
                if message.get("response"):
                    return message
        finally:
            writer.close()
            await writer.wait_closed()

    def received_packets(self) -> list[int]:
        """RTP packets baresip received, one entry per ended call (from its rtp_stats)."""
        return [int(m) for m in re.findall(r"packets:\s+\d+\s+(\d+)", self.log())]


def start_baresip(lab: LabNetns, directory: Path, *, sip_port: int = SIP_PORT,
                  ctrl_port: int = CTRL_PORT, timeout: float = 10) -> Baresip:
    """Write a config in ``directory`` and start baresip inside the lab namespace."""
    directory.mkdir(parents=True, exist_ok=True)
    fmt = {"address": lab.address, "sip_port": sip_port, "ctrl_port": ctrl_port,
           "sine": SINE_HZ, "modules": MODULES}
    (directory / "config").write_text(_CONFIG.format(**fmt))
    (directory / "accounts").write_text(_ACCOUNTS.format(**fmt))
    log_path = directory / "baresip.log"
    with log_path.open("wb") as log:
        process = lab.popen(["baresip", "-f", str(directory)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    peer = Baresip(process, lab.address, log_path, sip_port, ctrl_port)
    deadline = time.monotonic() + timeout
    while "baresip is ready" not in peer.log():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_baresip(peer)
            pytest.fail(f"baresip did not start:\n{peer.log()[-2000:]}")
        time.sleep(0.05)
    return peer


def stop_baresip(peer: Baresip) -> None:
    """Stop the process we started (by its own handle)."""
    if peer.process.poll() is None:
        peer.process.terminate()
        try:
            peer.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            peer.process.kill()
            peer.process.wait(timeout=5)


def require_baresip() -> None:
    """Fail (never skip) when the real peer is missing: CI installs it, so a miss is a bug."""
    if shutil.which("baresip") is None or not Path(MODULES, "ctrl_tcp.so").exists():
        pytest.fail("baresip with ctrl_tcp is not installed — ./scripts/test installs it")


@pytest.fixture
def baresip(lab_netns: LabNetns, tmp_path: Path) -> Iterator[Baresip]:
    """A fresh auto-answering baresip in the lab namespace."""
    require_baresip()
    peer = start_baresip(lab_netns, tmp_path / "baresip")
    try:
        yield peer
    finally:
        stop_baresip(peer)
