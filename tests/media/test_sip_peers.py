"""SipBridge against real peers on the paths test_sip_baresip leaves out.

- SIP over TLS: baresip listening with a certificate from a throwaway test CA; our side
  verifies it against that CA (the `SipBridge(ssl_context=...)` argument) and refuses a
  certificate it cannot verify.
- REGISTER with digest authentication: SIPp (Debian ``sip-tester``) as a registrar on
  loopback UDP, challenging with 401 + qop=auth and checking the answer with
  ``verifyauth`` (tests/data/sip/sipp-registrar-digest.xml); an INVITE to it gets 486.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from media.bridges.base import BridgeRefusedError, BridgeSpec, BridgeUnreachableError, JoinOptions
from media.bridges.sip import SipBridge, SipCall
from media.sources import ToneTrack
from tests.media.test_sip_baresip import TONE_HZ, first_channel, goertzel
from tests.peers.baresip import (
    _ACCOUNTS,
    _CONFIG,
    MODULES,
    SINE_HZ,
    Baresip,
    require_baresip,
    stop_baresip,
)
from tests.peers.netns import LabNetns, in_lab_netns, lab_netns

__all__ = ["in_lab_netns", "lab_netns"]

DATA = Path(__file__).parent.parent / "data" / "sip"
TLS_SIP_PORT = 15080  # baresip listens on TLS at the next port (libre: sip_listen + 1)
TLS_CTRL_PORT = 14454
USERNAME = "xa-hh"
PASSWORD = "Hoang-Hop 2026"  # the registrar scenario's test password


def make_ca_and_leaf(directory: Path, address: str, name: str) -> tuple[Path, Path]:
    """A test CA and a server certificate for ``address`` it signed: (ca.pem, cert+key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"diemcau test CA {name}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, pem_path = directory / f"{name}-ca.pem", directory / f"{name}-server.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pem_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    pem_path.chmod(0o600)
    return ca_path, pem_path


@pytest.fixture
def tls_baresip(lab_netns: LabNetns, tmp_path: Path) -> Iterator[tuple[Baresip, Path]]:
    """baresip with a TLS listener; yields it and the CA that signed its certificate."""
    require_baresip()
    directory = tmp_path / "baresip-tls"
    ca, pem = make_ca_and_leaf(directory, lab_netns.address, "good")
    fmt = {"address": lab_netns.address, "sip_port": TLS_SIP_PORT, "ctrl_port": TLS_CTRL_PORT,
           "sine": SINE_HZ, "modules": MODULES}
    (directory / "config").write_text(_CONFIG.format(**fmt) + f"sip_certificate\t\t{pem}\n")
    (directory / "accounts").write_text(_ACCOUNTS.format(**fmt))
    log_path = directory / "baresip.log"
    with log_path.open("wb") as log:
        process = lab_netns.popen(["baresip", "-f", str(directory)], stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    peer = Baresip(process, lab_netns.address, log_path, TLS_SIP_PORT + 1, TLS_CTRL_PORT)
    deadline = time.monotonic() + 10
    while "baresip is ready" not in peer.log():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_baresip(peer)
            pytest.fail(f"baresip did not start:\n{peer.log()[-2000:]}")
        time.sleep(0.05)
    try:
        yield peer, ca
    finally:
        stop_baresip(peer)


def tls_bridge(peer: Baresip, context: ssl.SSLContext) -> SipBridge:
    spec = BridgeSpec("baresip-tls", "sip", f"sip:conf@{peer.address}:{peer.sip_port}",
                      options={"answer_timeout": 10, "transport": "tls"})
    return SipBridge(spec, ssl_context=context,
                     track_factory=lambda _o: [ToneTrack(frequency=TONE_HZ)])


async def test_tls_call_verifies_the_certificate_and_carries_audio(
        tls_baresip: tuple[Baresip, Path], in_lab_netns: LabNetns) -> None:
    peer, ca = tls_baresip
    context = ssl.create_default_context(cafile=str(ca))
    call = await tls_bridge(peer, context).join(JoinOptions(display="tls"))
    assert isinstance(call, SipCall)
    try:
        conn = call._conn
        assert conn is not None
        assert conn.transport_name == "TLS"
        assert "SIP Certificate:" in peer.log()
        assert call.received_tracks, "baresip's audio track never arrived over the TLS call"
        samples, rate = await first_channel(call.received_tracks[0], 1.5)
        tail = samples[len(samples) // 3:]
        wanted = goertzel(tail, rate, SINE_HZ)
        others = [goertzel(tail, rate, f) for f in (250.0, 700.0, TONE_HZ, 1500.0)]
        assert wanted > 20 * max(others), (wanted, others)
    finally:
        await call.leave()
    assert call.describe()["state"] == "ended"


async def test_tls_certificate_from_another_ca_is_refused(
        tls_baresip: tuple[Baresip, Path], in_lab_netns: LabNetns, tmp_path: Path) -> None:
    peer, _ca = tls_baresip
    other_ca, _pem = make_ca_and_leaf(tmp_path / "other", peer.address, "other")
    bridge = tls_bridge(peer, ssl.create_default_context(cafile=str(other_ca)))
    with pytest.raises(BridgeUnreachableError, match=r"over TLS.*certificate verify failed"):
        await bridge.join(JoinOptions(display="tls"))
    assert not bridge._calls
    assert "Call established" not in peer.log()


# -- REGISTER with digest authentication -------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Registrar:
    """A running SIPp registrar and its message trace."""

    def __init__(self, directory: Path) -> None:
        self.port = free_udp_port()
        self.trace = directory / "sipp-messages.log"
        self.output = directory / "sipp.out"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                ["sipp", "-sf", str(DATA / "sipp-registrar-digest.xml"), "-i", "127.0.0.1",
                 "-p", str(self.port), "-t", "u1", "-nostdin", "-timeout", "60",
                 "-trace_msg", "-message_file", str(self.trace)],
                cwd=directory, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        time.sleep(0.3)
        if self.process.poll() is not None:
            pytest.fail(f"sipp did not start: {self.output.read_text(errors='replace')}")

    def messages(self) -> str:
        return self.trace.read_text(errors="replace") if self.trace.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Registrar]:
    if shutil.which("sipp") is None:
        pytest.fail("SIPp (Debian sip-tester) is not installed — ./scripts/test installs it")
    peer = Registrar(tmp_path)
    try:
        yield peer
    finally:
        peer.stop()


def registering_bridge(registrar: Registrar, password: str) -> SipBridge:
    spec = BridgeSpec("tinh", "sip", f"sip:1234@127.0.0.1:{registrar.port}",
                      options={"answer_timeout": 10, "registrar": f"127.0.0.1:{registrar.port}",
                               "username": USERNAME, "register_expires": 600},
                      secrets={"password": password})
    return SipBridge(spec, track_factory=lambda _o: [])


async def test_register_answers_the_digest_challenge(registrar: Registrar) -> None:
    bridge = registering_bridge(registrar, PASSWORD)
    # registration succeeds, then the INVITE reaches the (busy) bridge
    with pytest.raises(BridgeRefusedError, match="INVITE refused: 486") as info:
        await bridge.join(JoinOptions(display="register"))
    assert info.value.bridge_code == 486
    trace = registrar.messages()
    assert trace.count("SIP/2.0 401 Unauthorized") >= 2, trace  # REGISTER and un-REGISTER
    assert 'Authorization: Digest username="xa-hh", realm="diemcau.test"' in trace
    assert "qop=auth" in trace
    assert trace.count("SIP/2.0 200 OK") == 2, trace  # REGISTER (600 s) and un-REGISTER (0)
    assert "SIP/2.0 403" not in trace
    assert trace.count("Expires: 0") == 3, trace  # the un-REGISTERs and their 200
    assert trace.count("Expires: 600") == 3, trace  # both REGISTERs and their 200
    assert not bridge._calls


async def test_register_with_a_wrong_password_is_refused(registrar: Registrar) -> None:
    bridge = registering_bridge(registrar, "not the password")
    with pytest.raises(BridgeRefusedError, match="REGISTER refused: 403 Forbidden") as info:
        await bridge.join(JoinOptions(display="register"))
    assert info.value.bridge_code == 403
    trace = registrar.messages()
    assert "SIP/2.0 403 Forbidden" in trace
    assert "INVITE sip:" not in trace
