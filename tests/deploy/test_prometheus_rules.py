"""The Prometheus config, alerting rules and Grafana dashboards under deploy/, checked by the
tools that will read them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is missing: apt-get install prometheus")
    done = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_rules_pass_promtool_check() -> None:
    out = promtool("check", "rules", "rules/diemcau.rules.yml")
    assert "SUCCESS" in out


def test_the_scrape_config_passes_promtool_check() -> None:
    out = promtool("check", "config", "prometheus.yml")
    assert "is valid prometheus config file syntax" in out


def test_the_rule_unit_tests_pass() -> None:
    # Site down, UPS on battery (and its runtime running out), uplink disconnected.
    out = promtool("test", "rules", "diemcau.rules.test.yml", cwd=PROMETHEUS / "rules")
    assert "SUCCESS" in out


def test_every_alert_has_a_severity_and_vietnamese_text() -> None:
    text = (PROMETHEUS / "rules" / "diemcau.rules.yml").read_text(encoding="utf-8")
    alerts = re.findall(r"- alert: (\w+)\n(.*?)(?=\n      - alert:|\n  - name:|\Z)", text,
                        re.DOTALL)
    assert len(alerts) >= 10
    for name, body in alerts:
        assert re.search(r"severity: (critical|major|minor)\n", body), name
        for key in ("summary", "description"):
            found = re.search(rf"{key}: (.*)", body)
            assert found, (name, key)
        # Vietnamese, not English: diacritics in what the officer reads.
        assert re.search(r"[ạảãàáâậầấẩẫăắằặẳẵđêếềệểễôốồộổỗơớờợởỡưứừựửữ]", body), name


def dashboards() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(GRAFANA.glob("*.json"))]


def dashboard_exprs() -> list[str]:
    """Every panel query of every dashboard."""
    return [target["expr"] for _, board in dashboards() for panel in board["panels"]
            for target in panel.get("targets", [])]


def test_the_dashboards_are_well_formed() -> None:
    boards = dict(dashboards())
    assert set(boards) == {"diemcau-province-overview.json", "diemcau-session-link-health.json",
                           "diemcau-devices.json"}
    assert len({b["uid"] for b in boards.values()}) == 3
    for name, board in boards.items():
        variables = {v["name"] for v in board["templating"]["list"]}
        assert "datasource" in variables, name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                used = set(re.findall(r"\$(\w+)", target["expr"]))
                assert used <= variables, (name, panel["title"], used - variables)
    link = boards["diemcau-session-link-health.json"]
    assert "bridge" in {v["name"] for v in link["templating"]["list"]}
    shown = " ".join(t["expr"] for p in link["panels"] for t in p["targets"])
    for metric in ("loss_percent", "jitter_ms", "rtt_ms", "bitrate_kbps", "fps", "mos"):
        assert f"diemcau_link_{metric}" in shown
