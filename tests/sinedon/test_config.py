"""sinedon.cfg: found, parsed, and every mistake explained in one line."""

import pytest

import sinedon
from sinedon.config import find_config_file, read_config_file
from sinedon.errors import ConfigError

CLASSIC_CFG = """[global]
host: db.example.org
user: usr_object
passwd: secret
port: 3307

[leginondata]
db: leginondb

[projectdata]
db: projectdb

[appiondata]
db: ap1
"""


def test_classic_cfg_is_read(tmp_path):
    path = tmp_path / "sinedon.cfg"
    path.write_text(CLASSIC_CFG)
    config = read_config_file(path)
    leginon = config.databases["leginondata"]
    assert (leginon.engine, leginon.host, leginon.port, leginon.user, leginon.password,
            leginon.name) == ("mysql", "db.example.org", 3307, "usr_object", "secret",
                              "leginondb")
    assert config.databases["appiondata"].name == "ap1"


def test_section_overrides_global(tmp_path):
    path = tmp_path / "sinedon.cfg"
    path.write_text(CLASSIC_CFG + "host: other.example.org\n")
    config = read_config_file(path)
    assert config.databases["appiondata"].host == "other.example.org"
    assert config.databases["leginondata"].host == "db.example.org"


def test_found_through_env_file_or_folder(tmp_path, monkeypatch):
    path = tmp_path / "sinedon.cfg"
    path.write_text(CLASSIC_CFG)
    monkeypatch.setenv("SINEDON_CFG_PATH", str(path))
    assert find_config_file() == path
    monkeypatch.setenv("SINEDON_CFG_PATH", str(tmp_path))
    assert find_config_file() == path


def test_home_cfg_then_embedded(tmp_path, monkeypatch):
    monkeypatch.delenv("SINEDON_CFG_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("APPION_HOME", str(tmp_path / "home"))
    assert find_config_file() is None
    config = sinedon.load_config()
    assert config.embedded
    assert config.databases["leginondata"].sqlite_path == tmp_path / "home/leginondb.sqlite3"
    (tmp_path / "sinedon.cfg").write_text(CLASSIC_CFG)
    assert sinedon.load_config().databases["leginondata"].engine == "mysql"


@pytest.mark.parametrize("text, message", [
    ("[global\nhost: x\n", "is not a valid sinedon.cfg"),
    ("[global]\nhost: x\n[projectdata]\ndb: p\n", r"\[leginondata\] has no 'db'"),
    ("[global]\nhost: x\nport: abc\n[leginondata]\ndb: l\n[projectdata]\ndb: p\n",
     "port 'abc' is not a number"),
    ("[leginondata]\ndb: l\n[projectdata]\ndb: p\n", "no 'host'"),
])
def test_malformed_cfg_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "sinedon.cfg"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config_file(path)


def _assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_cli_missing_cfg(cli, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "SINEDON_CFG_PATH": str(tmp_path / "absent.cfg")}
    _assert_one_line_error(cli(["appion", "db", "check"], env), "absent.cfg",
                           "not a file")


def test_cli_malformed_cfg(cli, tmp_path):
    path = tmp_path / "sinedon.cfg"
    path.write_text("this is not ini\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SINEDON_CFG_PATH": str(path)}
    _assert_one_line_error(cli(["appion", "db", "check"], env), "not a valid sinedon.cfg")


def test_cli_unreachable_server_names_host_and_port(cli, tmp_path):
    path = tmp_path / "sinedon.cfg"
    path.write_text("[global]\nhost: 127.0.0.1\nport: 9\nuser: root\n"
                    "[leginondata]\ndb: l\n[projectdata]\ndb: p\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SINEDON_CFG_PATH": str(path)}
    _assert_one_line_error(cli(["appion", "db", "check"], env), "127.0.0.1:9",
                           "sinedon.cfg")
