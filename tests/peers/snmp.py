"""Real SNMP peers on loopback: Debian's net-snmp ``snmpd`` and snmpsim serving our records.

Both are started once per test session on free UDP ports, each with its own config and
state in a temporary directory, and stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from endpoints.interfaces import DeviceSpec
from endpoints.sim.snmpd_lab import (
    PLAYPEN,
    SYS_UPTIME,
    Override,
    SnmpdLab,
    free_udp_port,
    tool_env,
)

DATA: Final = Path(__file__).resolve().parent.parent / "data" / "snmp"

# Objects the lab snmpd offers beside its real MIBs (writable unless read-only below).
CLIENT_INTEGER: Final = f"{PLAYPEN}.1.0"
CLIENT_STRING: Final = f"{PLAYPEN}.2.0"
CLIENT_READ_ONLY: Final = f"{PLAYPEN}.3.0"
PROJECTOR_POWER: Final = f"{PLAYPEN}.10.1.0"
PROJECTOR_INPUT: Final = f"{PLAYPEN}.10.2.0"
PROJECTOR_LAMP: Final = f"{PLAYPEN}.10.3.0"
PROJECTOR_MUTE: Final = f"{PLAYPEN}.10.4.0"
PROJECTOR_FAN: Final = f"{PLAYPEN}.10.5.0"
MIXER_MUTE: Final = f"{PLAYPEN}.20.1.{{channel}}"
MIXER_GAIN: Final = f"{PLAYPEN}.20.2.{{channel}}"
OVERRIDES: Final[dict[str, Override]] = {
    CLIENT_INTEGER: ("integer", 5),
    CLIENT_STRING: ("octet_str", "hello"),
    CLIENT_READ_ONLY: ("integer", 77),
    PROJECTOR_POWER: ("integer", 0),
    PROJECTOR_INPUT: ("integer", 1),
    PROJECTOR_LAMP: ("integer", 1234),
    PROJECTOR_MUTE: ("integer", 0),
    PROJECTOR_FAN: ("integer", 1),
    **{MIXER_MUTE.format(channel=c): ("integer", 0) for c in (1, 2)},
    **{MIXER_GAIN.format(channel=c): ("integer", 0) for c in (1, 2)},
}
READ_ONLY: Final = frozenset({CLIENT_READ_ONLY, PROJECTOR_LAMP, PROJECTOR_FAN})


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdLab]:
    """Debian's snmpd on a free loopback port: v2c ro/rw communities, a SHA/AES v3 user."""
    lab = SnmpdLab(tmp_path_factory.mktemp("snmpd"), overrides=OVERRIDES, read_only=READ_ONLY)
    try:
        lab.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield lab
    finally:
        lab.stop()


def snmpd_spec(lab: SnmpdLab, *, kind: str = "network", version: str = "2c",
               write: bool = False, timeout: float = 2.0, **options: object) -> DeviceSpec:
    """A device spec reaching the lab snmpd (v2c ro/rw community or the v3 user)."""
    secrets = {"community": lab.rw_community if write else lab.ro_community}
    opts: dict[str, object] = {"version": version, **options}
    if version == "3":
        secrets = {"auth_key": lab.auth_key, "priv_key": lab.priv_key}
        opts.update(user=lab.user, auth_protocol="SHA", priv_protocol="AES")
    return DeviceSpec(id=f"lab-{kind}", kind=kind, protocol="snmp", host=lab.host,
                      port=lab.port, options=opts, secrets=secrets, timeout=timeout)


@dataclass
class Snmpsim:
    """snmpsim's command responder serving every record in tests/data/snmp.

    Each ``NAME.snmprec`` is an agent reached with community ``NAME``.
    """

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def spec(self, record: str, kind: str, **options: object) -> DeviceSpec:
        """A v2c device spec for one record."""
        return DeviceSpec(id=record, kind=kind, protocol="snmp", host=self.host, port=self.port,
                          options={"version": "2c", **options}, secrets={"community": record})


def _responder() -> Path:
    path = Path(sys.executable).parent / "snmpsim-command-responder"
    if not path.exists():
        pytest.fail("snmpsim is not installed in the venv: pip install -e '.[dev]'")
    return path


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """snmpsim on a free loopback port with the records under tests/data/snmp."""
    work = tmp_path_factory.mktemp("snmpsim")
    port = free_udp_port()
    env = tool_env(work)
    if os.geteuid() == 0:
        # snmpsim refuses root unless told to stay; the tests need no privilege to drop.
        env["SNMPSIM_ALLOW_ROOT"] = "true"
    log_path = work / "snmpsim.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(_responder()), f"--data-dir={DATA}", f"--cache-dir={work / 'cache'}",
             f"--agent-udpv4-endpoint=127.0.0.1:{port}", "--log-level=error"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    peer = Snmpsim("127.0.0.1", port, process, log_path)
    deadline = time.monotonic() + 30
    try:
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("snmpsim did not start:\n" +
                            log_path.read_text("utf-8", "replace")[-3000:])
            probe = subprocess.run(
                ["snmpget", "-v2c", "-c", "ups-on-battery", "-t", "0.2", "-r", "0", "-Oqv",
                 f"127.0.0.1:{port}", SYS_UPTIME], capture_output=True, env=env, check=False,
                timeout=5)
            if probe.returncode == 0:
                break
        yield peer
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
