"""A network namespace of the tests' own, where WebRTC peers can reach each other.

aioice drops 127.0.0.1 and Debian's Janus skips loopback interfaces, so media tests run in
a namespace holding ``lo`` and a veth pair (``lab0`` <-> ``lab1``), ``lab0`` given
198.18.0.1/32 (RFC 2544 benchmarking range) and no route out: nothing can leave the machine.

API for tests (all need root):

- ``lab_netns`` (session fixture) -> ``LabNetns``: ``.name``, ``.address`` ("198.18.0.1"),
  ``.interface`` ("lab0"), ``.exec_argv(argv)`` (prefix with ``ip netns exec``),
  ``.popen(argv, **kw)`` (start a child process inside the namespace).
- ``in_lab_netns`` (function fixture): the test body (and its event loop, which runs in the
  test's thread) runs inside the namespace; the thread goes back to its own namespace after.
- ``switch_netns(name)``: the context manager behind that fixture. It calls ``setns(2)`` on
  the *calling thread* only: sockets opened inside stay in the lab namespace, sockets opened
  before stay outside. aiortc, aioice and aiohttp open their sockets on the event-loop thread,
  so an in-process ``JanusCall`` works when its loop runs in the switched thread. Work pushed
  to other threads (``run_in_executor``, ``asyncio.to_thread``) runs *outside* the namespace.
- ``run_in_netns(name, argv, timeout=...)``: run a separate program (``python -m ...``) inside
  the namespace and return its ``CompletedProcess``; use for clients that want a process.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import pytest

LAB_ADDRESS: Final = "198.18.0.1"
LAB_INTERFACE: Final = "lab0"
LAB_PEER_INTERFACE: Final = "lab1"
_CLONE_NEWNET: Final = 0x40000000


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextmanager
def switch_netns(name: str) -> Iterator[None]:
    """Run the calling thread inside network namespace ``name`` until the block ends."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def run_in_netns(name: str, argv: Sequence[str], *, timeout: float = 60,
                 **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside namespace ``name`` and wait for it (text output captured)."""
    return subprocess.run(["ip", "netns", "exec", name, *argv], capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)


@dataclass(frozen=True)
class LabNetns:
    """One lab namespace: its name and the address peers use inside it."""

    name: str
    address: str = LAB_ADDRESS
    interface: str = LAB_INTERFACE

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed to run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside this namespace."""
        return subprocess.Popen(self.exec_argv(argv), **kwargs)


def create_lab_netns(name: str | None = None) -> LabNetns:
    """Create a namespace with ``lo`` up and a veth pair, ``lab0`` holding 198.18.0.1/32."""
    name = name or f"diemcau-lab-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", LAB_INTERFACE, "type", "veth",
            "peer", "name", LAB_PEER_INTERFACE)
        _ip("-n", name, "addr", "add", f"{LAB_ADDRESS}/32", "dev", LAB_INTERFACE)
        _ip("-n", name, "link", "set", LAB_INTERFACE, "up")
        _ip("-n", name, "link", "set", LAB_PEER_INTERFACE, "up")
    except BaseException:
        delete_lab_netns(name)
        raise
    return LabNetns(name)


def delete_lab_netns(name: str) -> None:
    """Remove the namespace (its veth pair goes with it)."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


@pytest.fixture(scope="session")
def lab_netns() -> Iterator[LabNetns]:
    """The session's lab namespace; fails when namespaces cannot be created (not root)."""
    if os.geteuid() != 0:
        pytest.fail("the lab network namespace needs root (as CI has)")
    try:
        lab = create_lab_netns()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot create a network namespace: {exc}")
    try:
        yield lab
    finally:
        delete_lab_netns(lab.name)


@pytest.fixture
def in_lab_netns(lab_netns: LabNetns) -> Iterator[LabNetns]:
    """Run this test's thread (and so its event loop) inside the lab namespace."""
    with switch_netns(lab_netns.name):
        yield lab_netns
