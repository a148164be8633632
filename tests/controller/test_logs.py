"""Log lines: JSON for machines, and no secret ever written out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controller.logs import MASK, JsonFormatter, SecretFilter, configure_logging

SECRET = "s3cret-credential-value-for-tests"
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@dataclass
class Capture:
    """A logger whose lines, formatted as in production, land in ``out``."""

    logger: logging.Logger
    out: io.StringIO
    secrets: SecretFilter

    def text(self) -> str:
        return self.out.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]


def capture(name: str, formatter: logging.Formatter) -> Capture:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    secrets = SecretFilter()
    handler.addFilter(secrets)
    logger = logging.getLogger(f"tests.logs.{name}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return Capture(logger, out, secrets)


@pytest.fixture
def json_log(request: pytest.FixtureRequest) -> Iterator[Capture]:
    cap = capture(request.node.name, JsonFormatter())
    yield cap
    cap.logger.handlers = []


@pytest.fixture(params=["json", "text"])
def any_log(request: pytest.FixtureRequest) -> Iterator[Capture]:
    formatter = JsonFormatter() if request.param == "json" else logging.Formatter(TEXT_FORMAT)
    cap = capture(request.node.name, formatter)
    yield cap
    cap.logger.handlers = []


def fail_with(message: str) -> None:
    raise ValueError(message)


# -- JSON lines ---------------------------------------------------------------------------------

def test_one_json_object_per_line_with_the_core_fields(json_log: Capture) -> None:
    json_log.logger.info("camera %s recalled preset %d", "cam1", 2)
    json_log.logger.warning("dòng một\ndòng hai")  # a newline in the message stays escaped
    json_log.logger.debug("uplink: %s", "đã kết nối")
    lines = json_log.text().splitlines()
    assert len(lines) == 3
    first, second, third = json_log.lines()
    assert {k: first[k] for k in ("level", "logger", "msg")} == {
        "level": "info", "logger": json_log.logger.name, "msg": "camera cam1 recalled preset 2"}
    assert (second["level"], second["msg"]) == ("warning", "dòng một\ndòng hai")
    assert (third["level"], third["msg"]) == ("debug", "uplink: đã kết nối")
    assert "đã kết nối" in lines[2]  # Vietnamese stays readable, not \\u escapes
    ts = datetime.strptime(first["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - ts).total_seconds()) < 60


def test_timestamp_is_utc_with_milliseconds() -> None:
    record = logging.makeLogRecord(
        {"name": "controller.app", "levelno": logging.INFO, "levelname": "INFO",
         "msg": "ready", "created": 1_790_000_000.25, "msecs": 250.0})
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == "2026-09-21T14:13:20.250Z"


def test_extras_are_fields(json_log: Capture) -> None:
    json_log.logger.info("device offline", extra={
        "device": "cam1", "attempts": 3, "rtt_ms": 12.5, "online": False, "note": None,
        "path": Path("/dev/ttyUSB0"), "_private": "hidden"})
    [line] = json_log.lines()
    assert line["device"] == "cam1"
    assert line["attempts"] == 3
    assert line["rtt_ms"] == 12.5
    assert line["online"] is False
    assert line["note"] is None
    assert line["path"] == "/dev/ttyUSB0"
    assert "_private" not in line


def test_extras_do_not_replace_the_core_fields(json_log: Capture) -> None:
    json_log.logger.warning("battery low", extra={"level": 12, "logger": "ups", "ts": 0})
    [line] = json_log.lines()
    assert line["level"] == "warning"
    assert line["logger"] == json_log.logger.name
    assert line["ts"] != 0
    assert line["msg"] == "battery low"
    assert 12 in line.values()  # the device's own "level" is kept under another name


def test_exception_is_included_as_text(json_log: Capture) -> None:
    try:
        fail_with("máy chiếu không trả lời")
    except ValueError:
        json_log.logger.exception("projector poll failed")
    lines = json_log.text().splitlines()
    assert len(lines) == 1
    [line] = json_log.lines()
    assert line["level"] == "error"
    assert line["msg"] == "projector poll failed"
    assert line["exc"].startswith("Traceback (most recent call last):")
    assert line["exc"].endswith("ValueError: máy chiếu không trả lời")


# -- secrets ------------------------------------------------------------------------------------

def test_registered_secret_never_written(any_log: Capture) -> None:
    any_log.secrets.add([SECRET])
    log = any_log.logger
    already_in_text = f"uplink credential is {SECRET}"  # e.g. a device echoing its config
    log.info(already_in_text)
    log.info("uplink credential is %s", SECRET)
    log.info("100%% sure: %s and %r", SECRET, {"k": SECRET})
    log.info("extras", extra={"url": f"wss://tinh/uplink?k={SECRET}", "cfg": {"k": SECRET},
                              "raw": SECRET.encode()})
    try:
        fail_with(f"handshake refused for {SECRET}")
    except ValueError:
        log.exception("uplink failed")
    text = any_log.text()
    assert SECRET not in text
    assert MASK in text
    assert "100% sure: ***" in text
    assert "handshake refused for ***" in text


def test_secret_looking_extras_are_masked(json_log: Capture) -> None:
    json_log.logger.info("login", extra={
        "username": "quantri", "password": "mat-khau-rat-dai", "csrf_token": "abc123",
        "credential_file": "/etc/diemcau/uplink.secret", "snmp_community": "private",
        "session_cookie": "c00kie", "api_secret": 42})
    [line] = json_log.lines()
    assert line["username"] == "quantri"
    for key in ("password", "csrf_token", "credential_file", "snmp_community",
                "session_cookie", "api_secret"):
        assert line[key] == MASK, key
    for value in ("mat-khau-rat-dai", "abc123", "uplink.secret", "private", "c00kie"):
        assert value not in json_log.text()


def test_overlapping_secrets_are_masked_whole(json_log: Capture) -> None:
    # Secrets that start alike (a community and a password, say) must not leave a tail behind.
    secrets = ["cong-dong-" + "x" * n for n in range(10)]
    json_log.secrets.add(secrets)
    json_log.logger.info("value %s", secrets[-1])
    assert json_log.lines()[0]["msg"] == f"value {MASK}"


def test_short_values_are_not_treated_as_secrets(json_log: Capture) -> None:
    json_log.secrets.add(["abc", "", SECRET])
    json_log.logger.info("abc and %s", SECRET)
    assert json_log.lines()[0]["msg"] == f"abc and {MASK}"


def test_bad_format_arguments_do_not_raise_from_the_log_call(json_log: Capture) -> None:
    json_log.secrets.add([SECRET])
    json_log.logger.info("preset %d for %s", "two", SECRET)
    text = json_log.text()
    assert SECRET not in text
    assert "preset %d for %s" in text


def test_configure_logging_json_masks_registered_secrets(
        capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    access = logging.getLogger("aiohttp.access")
    saved_access = access.level
    try:
        secrets = configure_logging("info", "json")
        secrets.add([SECRET])
        logging.getLogger("controller.uplink").info("dialing with %s", SECRET)
        logging.getLogger("controller.uplink").debug("not shown at info")
        logging.getLogger("aiohttp.access").info("GET /healthz")
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
        access.setLevel(saved_access)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["msg"]) for line in lines] == [
        ("controller.uplink", f"dialing with {MASK}")]
