"""Notifiers against real local receivers: an HTTP server and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import tomllib
import warnings
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from appion.base.errors import UsageError
from appion.facility.alerts import AlertManager, AlertSettings, parse_alert_rules
from appion.facility.model import FacilityStatus, SessionStatus
from appion.facility.notify import (
    Notice,
    NotifyError,
    SmtpNotifier,
    WebhookNotifier,
    parse_notifiers,
    redact_url,
)
from tests.conftest import service_missing

PASSWORD = "s3cret-Pa55word"
NOTICE = Notice(state="firing", summary="24nov30a on Krios1: no new exposure for 12 min",
                rule="stalled", subject="24nov30a",
                values={"session": "24nov30a", "minutes_since": 12.0}, at=1_733_000_000.0)


# --- a real HTTP receiver --------------------------------------------------------------

class Receiver:
    """What the local HTTP server received, and the status it answers with."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body})
            self.send_response(received.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_webhook_posts_slack_compatible_json(receiver):
    received, base = receiver
    WebhookNotifier(f"{base}/hooks/abc", headers={"X-Token": "tok"}).send(NOTICE)
    (request,) = received.requests
    body = json.loads(request["body"])
    assert request["path"] == "/hooks/abc"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Token"] == "tok"
    assert body["text"] == "[FIRING] 24nov30a on Krios1: no new exposure for 12 min"
    assert body["alert"] == {
        "rule": "stalled", "subject": "24nov30a", "state": "firing", "severity": "warning",
        "summary": NOTICE.summary, "repeat": 0,
        "values": {"session": "24nov30a", "minutes_since": 12.0},
        "at": "2024-11-30T20:53:20Z"}


def test_webhook_userinfo_becomes_basic_auth(receiver):
    received, base = receiver
    url = base.replace("http://", f"http://bot:{PASSWORD}@") + "/in?key=abc"
    WebhookNotifier(url).send(NOTICE)
    (request,) = received.requests
    assert request["path"] == "/in?key=abc"
    expected = base64.b64encode(f"bot:{PASSWORD}".encode()).decode()
    assert request["headers"]["Authorization"] == f"Basic {expected}"


def test_webhook_error_answer_raises_without_secrets(receiver):
    received, base = receiver
    received.status = 500
    url = base.replace("http://", f"http://bot:{PASSWORD}@") + "/services/T0/B0/XYZsecret?token=qs"
    notifier = WebhookNotifier(url, headers={"Authorization": f"Bearer {PASSWORD}"})
    with pytest.raises(NotifyError) as raised:
        notifier.send(NOTICE)
    message = str(raised.value)
    assert "HTTP 500" in message and "\n" not in message
    for text in (message, repr(notifier), str(notifier), notifier.label):
        for secret in (PASSWORD, "XYZsecret", "token=qs", "bot"):
            assert secret not in text


def test_unreachable_webhook_raises_without_secrets():
    port = free_port()
    url = f"http://bot:{PASSWORD}@127.0.0.1:{port}/hook?token=qs-secret"
    with pytest.raises(NotifyError) as raised:
        WebhookNotifier(url, timeout=5).send(NOTICE)
    message = str(raised.value)
    assert f"webhook http://127.0.0.1:{port}/…" in message
    assert "Connection" in message or "refused" in message
    assert PASSWORD not in message and "qs-secret" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_redact_url_keeps_only_scheme_and_host():
    assert redact_url(f"https://u:{PASSWORD}@hooks.example.org:8443/a/b?c=d") == (
        "https://hooks.example.org:8443/…")
    assert redact_url("http://[::1]/") == "http://[::1]"


# --- a real SMTP server ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """aiosmtpd handler that keeps each envelope."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        return "250 OK"


def smtp_server(**options: object) -> Iterator[tuple[Mailbox, int]]:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        service_missing("aiosmtpd is not installed: pip install -e '.[test]'")
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    yield from smtp_server()


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Mailbox, int]]:
    try:
        from aiosmtpd.smtp import AuthResult
    except ImportError:
        service_missing("aiosmtpd is not installed: pip install -e '.[test]'")

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"alerts" and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # False: the server answers 535

    with warnings.catch_warnings():  # AUTH without TLS: fine on loopback, in a test
        warnings.simplefilter("ignore", UserWarning)
        yield from smtp_server(authenticator=authenticate, auth_required=True,
                               auth_require_tls=False)


def received_mail(mailbox: Mailbox):
    (envelope,) = mailbox.envelopes
    return envelope, message_from_bytes(envelope.content, policy=default_policy)


def test_smtp_delivers_subject_recipients_and_values(smtp):
    mailbox, port = smtp
    SmtpNotifier("127.0.0.1", port, "appion@example.org",
                 ("ops@example.org", "pi@example.org"), timeout=5).send(NOTICE)
    envelope, mail = received_mail(mailbox)
    assert envelope.mail_from == "appion@example.org"
    assert envelope.rcpt_tos == ["ops@example.org", "pi@example.org"]
    assert mail["Subject"] == "[Appion] FIRING: 24nov30a on Krios1: no new exposure for 12 min"
    body = mail.get_content()
    assert "rule: stalled" in body and "minutes_since: 12.0" in body
    assert "at: 2024-11-30T20:53:20Z" in body


def test_smtp_auth_logs_in(smtp_auth):
    mailbox, port = smtp_auth
    SmtpNotifier("127.0.0.1", port, "appion@example.org", ("ops@example.org",),
                 user="alerts", password=PASSWORD, timeout=5).send(NOTICE)
    envelope, mail = received_mail(mailbox)
    assert envelope.rcpt_tos == ["ops@example.org"]
    assert mail["Subject"].startswith("[Appion] FIRING:")


def test_smtp_auth_failure_never_shows_the_password(smtp_auth, caplog):
    mailbox, port = smtp_auth
    wrong = PASSWORD + "-wrong"
    notifier = SmtpNotifier("127.0.0.1", port, "appion@example.org", ("ops@example.org",),
                            user="alerts", password=wrong, timeout=5)
    with pytest.raises(NotifyError) as raised:
        notifier.send(NOTICE)
    assert "SMTPAuthenticationError" in str(raised.value)
    manager = AlertManager(
        parse_alert_rules([{"kind": "no_new_exposure", "minutes": 10}]), AlertSettings(),
        [notifier], clock=lambda: 1_733_000_000.0)
    stalled = SessionStatus(name="24nov30a", session_id=1, microscope="Krios1", camera="K3",
                            preset="enn", project=1, active=True, paused=False, collected=5,
                            collected_per_hour=1.0, last_exposure_at=1_732_990_000.0,
                            rundir="run")
    with caplog.at_level(logging.DEBUG):
        manager.evaluate(FacilityStatus((stalled,), 1, 1_732_990_000.0, 1_733_000_000.0))
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("appion")]
    assert any("not sent via smtp 127.0.0.1" in line for line in ours)
    encoded = base64.b64encode(f"\0alerts\0{wrong}".encode()).decode()
    for text in (*ours, str(raised.value), repr(notifier), str(notifier)):
        assert PASSWORD not in text and encoded not in text
    assert mailbox.envelopes == []


def test_starttls_on_a_server_without_it_fails_in_one_line(smtp):
    _, port = smtp
    with pytest.raises(NotifyError, match=r"^smtp 127\.0\.0\.1:\d+: SMTPNotSupportedError"):
        SmtpNotifier("127.0.0.1", port, "a@example.org", ("b@example.org",),
                     starttls=True, timeout=5).send(NOTICE)


def test_unreachable_smtp_raises_notify_error():
    with pytest.raises(NotifyError, match="check the \\[\\[notify.smtp\\]\\] settings"):
        SmtpNotifier("127.0.0.1", free_port(), "a@example.org", ("b@example.org",),
                     timeout=5).send(NOTICE)


# --- configuration ---------------------------------------------------------------------

CONFIG = """
[[notify.webhook]]
url = "https://hooks.slack.com/services/T0/B0/XYZ"

[[notify.webhook]]
name = "ops"
url = "http://127.0.0.1:9000/alerts"
headers = { "X-Token" = "tok" }
timeout = 3

[[notify.smtp]]
host = "mail.example.org"
port = 587
from = "appion@example.org"
to = ["ops@example.org"]
user = "alerts"
password_env = "APPION_TEST_SMTP_PASSWORD"
starttls = true

[[notify.smtp]]
host = "relay.example.org"
from = "appion@example.org"
to = ["pi@example.org"]
"""


def test_notifiers_parse_from_toml(monkeypatch):
    monkeypatch.setenv("APPION_TEST_SMTP_PASSWORD", PASSWORD)
    slack, ops, mail, relay = parse_notifiers(tomllib.loads(CONFIG)["notify"])
    assert isinstance(slack, WebhookNotifier) and slack.label == "webhook https://hooks.slack.com/…"
    assert isinstance(ops, WebhookNotifier)
    assert (ops.label, ops.headers, ops.timeout) == ("ops", {"X-Token": "tok"}, 3.0)
    assert isinstance(mail, SmtpNotifier)
    assert (mail.port, mail.user, mail.password, mail.starttls) == (587, "alerts", PASSWORD, True)
    assert isinstance(relay, SmtpNotifier)
    assert (relay.port, relay.user, relay.password, relay.recipients) == (
        25, None, None, ("pi@example.org",))
    assert PASSWORD not in repr(mail) and PASSWORD not in str(mail)
    assert "XYZ" not in repr(slack) and "tok" not in repr(ops)


def test_password_file_is_read_relative_to_base_dir(tmp_path):
    (tmp_path / "smtp.pw").write_text(PASSWORD + "\n")
    table = {"smtp": [{"host": "h", "from": "a@b", "to": ["c@d"], "user": "u",
                       "password_file": "smtp.pw"}]}
    (notifier,) = parse_notifiers(table, base_dir=tmp_path)
    assert isinstance(notifier, SmtpNotifier) and notifier.password == PASSWORD


SMTP = {"host": "h", "from": "a@b", "to": ["c@d"]}


@pytest.mark.parametrize(("table", "words"), [
    ({"smtp": [{**SMTP, "user": "u", "password": PASSWORD}]}, "use password_env"),
    ({"smtp": [{**SMTP, "user": "u", "password_env": "APPION_TEST_UNSET_PW"}]},
     "APPION_TEST_UNSET_PW (password_env) is not set"),
    ({"smtp": [{**SMTP, "user": "u", "password_file": "missing/pw"}]},
     "cannot read password_file"),
    ({"smtp": [{**SMTP, "user": "u"}]}, "needs a password"),
    ({"smtp": [{**SMTP, "password_env": "X"}]}, "a password needs user"),
    ({"smtp": [{**SMTP, "starttls": True, "ssl": True}]}, "exclude each other"),
    ({"smtp": [{**SMTP, "to": "c@d"}]}, "to must be a non-empty list"),
    ({"smtp": [{**SMTP, "port": "25"}]}, "port must be a number"),
    ({"smtp": [{**SMTP, "sender": "x"}]}, "unknown key 'sender'"),
    ({"webhook": [{"url": f"ftp://u:{PASSWORD}@host/x"}]}, "must be an http://"),
    ({"webhook": [{"url": "http://h/x", "headers": {"A": 1}}]}, "headers must be a table"),
    ({"webhook": {"url": "http://h/x"}}, "must be an array of tables"),
    ({"email": []}, "unknown key 'email'"),
])
def test_notify_errors_are_one_line_without_the_password(table, words, monkeypatch):
    monkeypatch.delenv("APPION_TEST_UNSET_PW", raising=False)
    with pytest.raises(UsageError) as raised:
        parse_notifiers(table)
    message = str(raised.value)
    assert message.startswith("facility.toml [")
    assert words in message and "\n" not in message and PASSWORD not in message
