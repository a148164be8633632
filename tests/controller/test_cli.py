"""The ``diemcau`` command as an installer or officer uses it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from tests.conftest import free_port, run_cli, write_site_config


def test_user_add_list_passwd_unlock(tmp_path: Path) -> None:
    config = str(write_site_config(tmp_path))
    added = run_cli("user", "add", "--config", config, "quantri", "--role", "admin",
                    input_text="mat-khau-quan-tri\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "created quantri (admin)"
    again = run_cli("user", "add", "--config", config, "quantri", "--role", "viewer",
                    input_text="mat-khau-khac-12\n")
    assert again.returncode == 1
    assert "đã có" in again.stderr
    weak = run_cli("user", "add", "--config", config, "xem", "--role", "viewer",
                   input_text="ngan\n")
    assert weak.returncode == 1
    assert "ít nhất 10 ký tự" in weak.stderr
    empty = run_cli("user", "add", "--config", config, "xem", "--role", "viewer",
                    input_text="")
    assert empty.returncode == 1
    assert "no password on standard input" in empty.stderr
    bad_role = run_cli("user", "add", "--config", config, "xem", "--role", "boss",
                       input_text="mat-khau-quan-tri\n")
    assert bad_role.returncode == 2
    listed = run_cli("user", "list", "--config", config)
    assert re.search(r"^quantri\s+admin\s+active$", listed.stdout, re.M), listed.stdout
    changed = run_cli("user", "passwd", "--config", config, "quantri",
                      input_text="mat-khau-moi-123\n")
    assert changed.returncode == 0, changed.stderr
    unlocked = run_cli("user", "unlock", "--config", config, "quantri")
    assert unlocked.returncode == 0
    missing = run_cli("user", "unlock", "--config", config, "khong-co")
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    verify = run_cli("audit", "verify", "--config", config)
    assert verify.returncode == 0
    assert "chain verified" in verify.stdout


def test_user_add_prompts_twice_on_a_terminal() -> None:
    from controller.cli import read_new_password

    class Tty:
        def isatty(self) -> bool:
            return True

        def readline(self) -> str:
            raise AssertionError("must not read a line from a terminal")

    answers = iter(["mat-khau-quan-tri", "mat-khau-quan-tri"])
    assert read_new_password(Tty(), lambda _prompt: next(answers)) == "mat-khau-quan-tri"  # type: ignore[arg-type]


def test_doctor_reports_config_data_dir_and_port(tmp_path: Path) -> None:
    config = write_site_config(tmp_path)
    result = run_cli("doctor", "--config", str(config))
    assert result.returncode == 0, result.stdout
    assert "[  OK] config:" in result.stdout
    assert "[  OK] data_dir:" in result.stdout
    assert "is free" in result.stdout
    (tmp_path / "uplink.secret").chmod(0o644)
    result = run_cli("doctor", "--config", str(config))
    assert "[WARN] secrets: uplink.credential_file" in result.stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = write_site_config(tmp_path / "busy", port=sock.getsockname()[1])
        result = run_cli("doctor", "--config", str(busy))
    assert "is in use" in result.stdout
    broken = write_site_config(tmp_path / "broken", extra="[audit]\nretention_days = 1\n")
    result = run_cli("doctor", "--config", str(broken))
    assert result.returncode == 1
    assert "[FAIL] config:" in result.stdout


def _login(base: str, username: str, password: str) -> tuple[dict[str, Any], dict[str, Any]]:
    me, get = _console(base, username, password)
    return me, get("api/v1/site")


def _console(base: str, username: str, password: str) -> tuple[dict[str, Any], Any]:
    """Log in; return who we are and a GET function for paths under ``base``."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    request = urllib.request.Request(  # noqa: S310 - loopback URL printed by the demo
        base + "api/v1/login", method="POST",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=10) as resp:
        me = json.load(resp)

    def get(path: str) -> Any:
        with opener.open(base + path, timeout=10) as resp:
            return json.load(resp)
    return me, get


def _eventually(check: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_demo_prints_three_consoles_whose_logins_work(tmp_path: Path) -> None:
    port = free_port()
    while any(_busy(port + i) for i in range(3)):
        port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "demo", "--base-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = []
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            banner.append(line)
            if "Dữ liệu demo" in line:
                break
        text = "".join(banner)
        urls = re.findall(r"(http://127\.0\.0\.1:\d+/)", text)
        assert len(urls) == 3, text
        logins = re.findall(r"^\s+(\w+)\s+/ (\S+)\s+\((\w+)\)$", text, re.M)
        admins = [(u, p) for u, p, role in logins if role == "admin"]
        assert len(admins) == 3
        sites = []
        for url, (username, password) in zip(urls, admins, strict=True):
            me, site = _login(url, username, password)
            assert me["user"] == {"username": username, "role": "admin"}
            sites.append(site)
        assert [s["level"] for s in sites] == ["province", "commune", "commune"]
        assert [c["id"] for c in sites[0]["children"]] == ["xa-hoang-hop", "xa-quang-phu"]
        chair = [(u, p) for u, p, role in logins if role == "chair"]
        assert len(chair) == 1
        _check_demo_session(text, urls, logins)
        data_dirs = list(tmp_path.glob("diemcau-demo-*"))
        assert len(data_dirs) == 1
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert not data_dirs[0].exists()  # the temporary demo data is removed
        assert "Traceback" not in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()


def _check_demo_session(banner: str, urls: list[str],
                        logins: list[tuple[str, str, str]]) -> None:
    """The province chairs an approved session with both communes; they are invited, ready."""
    assert "Phiên họp thử" in banner, banner
    chair_login = next((u, p) for u, p, role in logins if role == "chair")
    _, chair = _console(urls[0], *chair_login)
    listed = chair("api/v1/sessions")["sessions"]
    assert len(listed) == 1
    session_id = listed[0]["id"]
    assert session_id in banner
    session = chair(f"api/v1/sessions/{session_id}")
    assert session["title"] == "Hội nghị trực tuyến giao ban (thử nghiệm)"
    assert session["role"] == "chair"
    assert session["approved"] is True
    assert session["kind"] == "regular"
    assert session["notice"]["ok"] is False  # 20 minutes' notice: recorded as a warning
    assert sorted(session["participants"]) == ["xa-hoang-hop", "xa-quang-phu"]
    assert session["state"] == "readiness"  # starts in 20 minutes, inside the 60-minute lead

    operators = [(u, p) for u, p, role in logins if role == "operator"]
    assert len(operators) == 3  # one at every site
    for url, login in zip(urls[1:], operators[1:], strict=True):
        _, officer = _console(url, *login)
        invitation = _eventually(
            lambda officer=officer: [s for s in officer("api/v1/sessions")["sessions"]
                                     if s["id"] == session_id],
            10, f"the invitation at {url}")[0]
        assert invitation["role"] == "participant"
        presets = [d for d in officer("api/v1/devices")["devices"] if d["id"] == "camera"]
        assert {"preset": 1, "name": "Người phát biểu"} in presets[0].get("presets", [])

    def reports() -> Any:
        sites = chair(f"api/v1/sessions/{session_id}")["sites"]
        found = {s["id"]: s["status"].get("readiness") for s in sites}
        return (found.get("xa-hoang-hop") and found.get("xa-quang-phu")) and found
    ready = _eventually(reports, 20, "readiness reports at the province")
    for site_id in ("xa-hoang-hop", "xa-quang-phu"):
        assert ready[site_id]["ready"] is True, ready[site_id]

    admin_login = next((u, p) for u, p, role in logins if role == "admin")
    _, admin = _console(urls[0], *admin_login)
    for action in ("session.create", "session.approve"):
        entries = admin(f"api/v1/audit?action={action}")["entries"]
        assert [e["target"] for e in entries] == [session_id], entries


def _busy(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
