"""``appion serve``'s command line: one-line errors before anything starts, and the
password hash for people who log in to the dashboard."""

from __future__ import annotations


def test_hash_password_prints_a_hash_that_logs_in(cli, tmp_path):
    done = cli(["appion", "serve", "--hash-password"], input_text="a-good-password\n")
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert hashed.startswith("pbkdf2_sha256$") and "a-good-password" not in hashed
    from django.conf import settings
    if not settings.configured:
        settings.configure()
    from django.contrib.auth.hashers import check_password

    from appion.facility.web import parse_auth
    assert check_password("a-good-password", hashed)
    assert not check_password("another", hashed)
    auth = parse_auth({"users": [{"name": "alice", "password_hash": hashed}]})
    assert "a-good-password" not in repr(auth) and hashed not in repr(auth)


def test_an_empty_password_is_refused(cli):
    done = cli(["appion", "serve", "--hash-password"], input_text="\n")
    assert done.returncode == 2
    assert done.stderr.strip() == "appion: error: an empty password cannot be used; type one"


def test_bad_listen_and_bad_config_are_one_line_errors(cli, tmp_path):
    bad_listen = cli(["appion", "serve", "--listen", "nowhere"])
    assert bad_listen.returncode == 2 and len(bad_listen.stderr.strip().splitlines()) == 1
    assert "--listen 'nowhere'" in bad_listen.stderr
    config = tmp_path / "facility.toml"
    config.write_text("[[rule]]\nmicroscope = 3\n")
    bad_config = cli(["appion", "serve", "--config", str(config)])
    assert bad_config.returncode == 2
    assert bad_config.stderr.strip() == ("appion: error: facility.toml [[rule]] #1 microscope: "
                                         "expected str, got 3")
    missing = cli(["appion", "serve", "--config", str(tmp_path / "none.toml")])
    assert "give an existing --config" in missing.stderr
