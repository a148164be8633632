"""Site config: every kind of problem is found, named by key path, and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import MIN_AUDIT_RETENTION_DAYS, load_config, parse_listen
from controller.errors import ConfigError
from tests.conftest import run_cli, write_site_config

REPO = Path(__file__).resolve().parents[2]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [f"{p.key_path}: {p.message}" for p in info.value.problems]


def test_example_configs_are_valid() -> None:
    examples = sorted((REPO / "deploy" / "examples").glob("*.toml"))
    assert {p.name for p in examples} >= {"province.toml", "commune.toml"}
    for path in examples:
        config = load_config(path)
        assert config.site.level in {"province", "commune"}
    commune = load_config(REPO / "deploy" / "examples" / "commune.toml")
    assert [d.id for d in commune.devices] == ["cam1", "mayChieu", "ups"]
    assert commune.devices[0].serial_port == "/dev/ttyUSB0"
    assert commune.devices[1].tcp_port == 4352  # PJLink's default port
    assert commune.uplink is not None
    assert commune.uplink.credential_file.is_absolute()


def test_valid_config_is_typed_and_frozen(tmp_path: Path) -> None:
    config = load_config(write_site_config(tmp_path, port=18123))
    assert config.site.id == "xa-hoang-hop"
    assert config.console.port == 18123
    assert config.console.session_idle_minutes == 15
    assert config.storage.data_dir == tmp_path / "data"
    assert config.audit.retention_days == MIN_AUDIT_RETENTION_DAYS
    with pytest.raises(AttributeError):
        config.site.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[site2]\nx = 1\n", "site2: unknown key"),
        ('[console]\nlisten = "127.0.0.1:8080"\nport = 9\n', "console.port: unknown key"),
        ('[console]\nlisten = "nohostport"\n', "console.listen: expected host:port"),
        ('[console]\nlisten = "127.0.0.1:99999"\n', "console.listen: port must be"),
        ("[console]\nsession_idle_minutes = \"15\"\n",
         "console.session_idle_minutes: expected an integer, got a string"),
        ("[audit]\nretention_days = 30\n", "audit.retention_days: must be at least 183"),
        ("[security]\nlockout_threshold = true\n",
         "security.lockout_threshold: expected an integer, got a boolean"),
        ('[[devices]]\nid = "cam1"\nkind = "camera"\nprotocol = "visca-serial"\n'
         'port = "/dev/ttyUSB0"\n[[devices]]\nid = "cam1"\nkind = "camera"\n'
         'protocol = "visca-ip"\nhost = "127.0.0.1"\n', "devices[1].id: duplicate device id"),
        ('[[devices]]\nid = "x"\nkind = "toaster"\nprotocol = "pjlink"\nhost = "h"\n',
         "devices[0].kind: must be one of"),
        ('[[devices]]\nid = "x"\nkind = "camera"\nprotocol = "visca-serial"\n',
         "devices[0].port: required key is missing"),
        ('[[devices]]\nid = "p"\nkind = "projector"\nprotocol = "pjlink"\nhost = "h"\n'
         'password_file = "missing.secret"\n', "devices[0].password_file: file"),
        ('[[devices]]\nid = "p"\nkind = "projector"\nprotocol = "pjlink"\nhost = "h"\n'
         'baud = 9600\n', "devices[0].baud: unknown key"),
        ('[[bridges]]\nid = "b"\nkind = "janus-videoroom"\nurl = "https://x/janus"\n',
         "bridges[0].room: required key is missing"),
        ('[[children]]\nid = "xa-hoang-hop"\ncredential_file = "uplink.secret"\n',
         "children[0].id: a site cannot be its own child"),
        ('[logging]\nlevel = "loud"\n', "logging.level: must be one of"),
    ],
)
def test_each_kind_of_problem_is_reported(tmp_path: Path, extra: str, expected: str) -> None:
    path = write_site_config(tmp_path, extra=extra)
    assert any(line.startswith(expected) for line in problems_of(path)), problems_of(path)


def test_bad_level_and_missing_site_keys(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[site]\nid = "xa-1"\nlevel = "huyen"\n[storage]\ndata_dir = "d"\n')
    lines = problems_of(path)
    assert "site.name: required key is missing" in lines
    assert any(line.startswith("site.level: must be one of central, province, district, "
                               "commune") for line in lines)


def test_unreadable_and_empty_secret_files(tmp_path: Path) -> None:
    path = write_site_config(tmp_path)
    (tmp_path / "uplink.secret").write_text("   \n")
    assert any("is empty" in line for line in problems_of(path))
    (tmp_path / "uplink.secret").unlink()
    (tmp_path / "uplink.secret").mkdir()
    assert any("is a folder" in line for line in problems_of(path))


def test_central_site_has_no_uplink(tmp_path: Path) -> None:
    path = write_site_config(tmp_path, site_id="trung-uong", level="commune")
    text = path.read_text().replace('level = "commune"', 'level = "central"')
    path.write_text(text)
    assert any(line.startswith("uplink: a central site") for line in problems_of(path))


def test_syntax_error_and_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[site\nid = 1\n")
    assert problems_of(path)[0].startswith("(syntax):")
    path.write_bytes(b'[site]\nname = "\xff\xfe"\n')
    assert problems_of(path) == ["(file): not UTF-8 text"]


def test_all_problems_are_listed_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.toml"
    path.write_text('[site]\nid = "Bad Id"\nlevel = 3\nextra = 1\n[storage]\n')
    assert len(problems_of(path)) >= 4


def test_parse_listen_accepts_ipv6_and_names() -> None:
    assert parse_listen("[::1]:8443") == ("::1", 8443)
    assert parse_listen("console.local:80") == ("console.local", 80)
    with pytest.raises(ValueError, match="not an IP address"):
        parse_listen("bad host!:80")


def test_check_config_cli_prints_file_key_message_and_exits_2(tmp_path: Path) -> None:
    good = write_site_config(tmp_path / "good")
    bad = write_site_config(tmp_path / "bad", extra="[audit]\nretention_days = 10\nx = 1\n")
    result = run_cli("check-config", str(good))
    assert result.returncode == 0
    assert result.stdout.strip() == f"{good}: OK"
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert f"{bad}: audit.retention_days: must be at least 183 days (six months); got 10" in lines
    assert f"{bad}: audit.x: unknown key" in lines
    assert "Traceback" not in result.stderr
    missing = run_cli("check-config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"{tmp_path / 'nope.toml'}: (file): ")


def test_run_with_invalid_config_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = write_site_config(tmp_path, extra="[console]\nlisten = \"x\"\n")
    result = run_cli("run", "--config", str(bad))
    assert result.returncode == 2
    assert "console.listen" in result.stderr
    assert "Traceback" not in result.stderr
