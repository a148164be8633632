"""Bridge settings reach the media layer: no STUN by default, TURN secrets from files."""

from __future__ import annotations

from pathlib import Path

from controller.calls import health_colour, spec_from_config
from controller.config import load_config
from media.stats import LinkSample
from tests.conftest import write_site_config


def test_no_ice_servers_unless_configured(tmp_path: Path) -> None:
    extra = ('[[bridges]]\nid = "tinh"\nkind = "janus-videoroom"\n'
             'url = "https://bridge.tinh.example.vn/janus"\nroom = 1234\n')
    config = load_config(write_site_config(tmp_path, extra=extra))
    assert list(spec_from_config(config.bridges[0]).ice_servers) == []


def test_turn_password_comes_from_its_secret_file(tmp_path: Path) -> None:
    (tmp_path / "turn.secret").write_text("turn-pass-123\n")
    extra = ('[[bridges]]\nid = "tinh"\nkind = "janus-videoroom"\n'
             'url = "https://bridge.tinh.example.vn/janus"\nroom = 1234\n'
             'turn_credential_file = "turn.secret"\n'
             'ice_servers = [{ urls = "turn:turn.tinh.example.vn:3478", username = "xa" }]\n')
    config = load_config(write_site_config(tmp_path, extra=extra))
    spec = spec_from_config(config.bridges[0])
    assert [dict(s) for s in spec.ice_servers] == [{
        "urls": "turn:turn.tinh.example.vn:3478", "username": "xa",
        "credential": "turn-pass-123"}]
    assert "turn_credential" not in spec.secrets


def test_health_colour_bands() -> None:
    def sample(mos: float, loss: float) -> LinkSample:
        return LinkSample("c", "b", "recv", "audio", 0.0, loss_percent=loss, mos=mos)

    assert health_colour([]) == "grey"
    assert health_colour([sample(4.3, 0.0)]) == "green"
    assert health_colour([sample(4.3, 0.0), sample(3.5, 2.0)]) == "amber"
    assert health_colour([sample(2.9, 8.0)]) == "red"
