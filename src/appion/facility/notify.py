"""Where alert notices go: webhooks (JSON POST, Slack-compatible) and e-mail (SMTP).

A notifier has a ``label`` that is safe to log and ``send(notice)``, which raises
:class:`NotifyError` with one line on failure.  No password, header value, URL
userinfo, URL path or query string appears in a label, a ``repr`` or an error.
"""

from __future__ import annotations

import base64
import json
import os
import smtplib
import ssl as ssl_module
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from appion.base.errors import AppionError, UsageError
from appion.facility.model import iso_utc

#: Seconds a notifier waits for the other side.
DEFAULT_TIMEOUT = 10.0


class NotifyError(AppionError):
    """A notice could not be delivered (one line, without secrets)."""

    retryable = True


@dataclass(frozen=True)
class Notice:
    """One message about one alert: it fires (again) or it is resolved."""

    state: str                     # "firing" or "resolved"
    summary: str
    rule: str
    subject: str                   # the session name, or the disk path
    values: Mapping[str, Any]
    at: float                      # epoch seconds
    severity: str = "warning"
    repeat: int = 0                # 0: the first firing notice; n: the n-th repeat

    def text(self) -> str:
        """``"[FIRING] summary"`` or ``"[RESOLVED] summary"``."""
        return f"[{self.state.upper()}] {self.summary}"

    def payload(self) -> dict[str, Any]:
        """The JSON body a webhook receives (Slack reads ``text``)."""
        return {
            "text": self.text(),
            "alert": {
                "rule": self.rule,
                "subject": self.subject,
                "state": self.state,
                "severity": self.severity,
                "summary": self.summary,
                "repeat": self.repeat,
                "values": dict(self.values),
                "at": iso_utc(self.at),
            },
        }


class Notifier(Protocol):
    """Anything that delivers notices."""

    @property
    def label(self) -> str: ...

    def send(self, notice: Notice) -> None: ...


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` plus ``/…`` when there is a path: userinfo, path
    (Slack's secret) and query string never appear."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{netloc}{rest}"


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` on one line with every non-empty secret replaced by ``***``."""
    line = " ".join(text.split())
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line


# --- webhooks --------------------------------------------------------------------------

@dataclass(frozen=True)
class WebhookNotifier:
    """POST each notice as JSON to ``url`` (a Slack incoming webhook reads ``text``)."""

    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"webhook {redact_url(self.url)}"

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.label!r}, timeout={self.timeout})"

    __str__ = __repr__

    def send(self, notice: Notice) -> None:
        """POST the notice; a non-2xx answer or a network error raises NotifyError."""
        request = self._request(json.dumps(notice.payload()).encode())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            raise self._error(f"HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            raise self._error(_reason(error.reason)) from None
        except (OSError, ValueError) as error:
            raise self._error(_reason(error)) from None
        if not 200 <= status < 300:
            raise self._error(f"HTTP {status}")

    def _request(self, body: bytes) -> urllib.request.Request:
        parts = urlsplit(self.url)
        headers = {"Content-Type": "application/json", "User-Agent": "appion-serve"}
        if parts.username is not None:
            pair = f"{parts.username}:{parts.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        headers.update(self.headers)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        plain = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        return urllib.request.Request(plain, data=body, headers=headers, method="POST")

    def _secrets(self) -> tuple[str, ...]:
        parts = urlsplit(self.url)
        longer = tuple(text for text in (parts.query, parts.path.strip("/"))
                       if len(text) >= 6)
        return (self.url, parts.password or "", *longer, *self.headers.values())

    def _error(self, reason: str) -> NotifyError:
        text = scrub(f"{self.label}: {reason}; check the URL and that the receiver is up",
                     self._secrets())
        return NotifyError(text)


def _reason(error: object) -> str:
    """A short reason for a network error: its class and message."""
    if isinstance(error, BaseException):
        message = str(error).strip()
        name = type(error).__name__
        return f"{name}: {message}" if message else name
    return str(error)


# --- e-mail ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpNotifier:
    """Send each notice as a plain-text e-mail through an SMTP server."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    timeout: float = DEFAULT_TIMEOUT
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"smtp {self.host}:{self.port}"

    def __repr__(self) -> str:
        return (f"SmtpNotifier({self.label!r}, sender={self.sender!r}, "
                f"recipients={self.recipients!r}, user={self.user!r}, "
                f"password={'***' if self.password else None}, starttls={self.starttls}, "
                f"ssl={self.ssl})")

    __str__ = __repr__

    def send(self, notice: Notice) -> None:
        """Deliver the notice; any SMTP or network failure raises NotifyError."""
        message = email_message(notice, self.sender, self.recipients)
        try:
            with self._connect() as client:
                if self.starttls:
                    client.starttls(context=ssl_module.create_default_context())
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError, ValueError) as error:
            raise self._error(_reason(error)) from None

    def _connect(self) -> smtplib.SMTP:
        if self.ssl:
            context = ssl_module.create_default_context()
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _error(self, reason: str) -> NotifyError:
        secrets: tuple[str, ...] = ()
        if self.password:
            plain = f"\0{self.user}\0{self.password}".encode()
            secrets = (self.password, base64.b64encode(plain).decode(),
                       base64.b64encode(self.password.encode()).decode())
        text = scrub(f"{self.label}: {reason}; check the [[notify.smtp]] settings", secrets)
        return NotifyError(text)


def email_message(notice: Notice, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """The e-mail for one notice: subject ``[Appion] FIRING: summary``, values in the body."""
    message = EmailMessage()
    message["Subject"] = f"[Appion] {notice.state.upper()}: {notice.summary}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(email_body(notice))
    return message


def email_body(notice: Notice) -> str:
    """Plain text: the summary, then one ``key: value`` line per fact."""
    lines = [notice.text(), "",
             f"rule: {notice.rule}", f"subject: {notice.subject}",
             f"state: {notice.state}", f"severity: {notice.severity}",
             f"at: {iso_utc(notice.at)}"]
    if notice.repeat:
        lines.append(f"repeat: {notice.repeat}")
    lines += [f"{key}: {value}" for key, value in notice.values.items()]
    return "\n".join(lines) + "\n"


# --- configuration ---------------------------------------------------------------------

WEBHOOK_KEYS = {"url", "headers", "timeout", "name"}
SMTP_KEYS = {"host", "port", "from", "to", "user", "password_env", "password_file",
             "starttls", "ssl", "timeout", "name"}


def parse_notifiers(table: Mapping[str, Any],
                    base_dir: Path | None = None) -> tuple[WebhookNotifier | SmtpNotifier, ...]:
    """The ``[notify]`` table: ``[[notify.webhook]]`` and ``[[notify.smtp]]`` entries.

    A relative ``password_file`` is read from ``base_dir`` (default: the current folder).
    """
    if not isinstance(table, Mapping):
        raise UsageError("facility.toml [notify]: must be a table; "
                         "write [[notify.webhook]] or [[notify.smtp]] entries")
    unknown = sorted(set(table) - {"webhook", "smtp"})
    if unknown:
        raise UsageError(f"facility.toml [notify]: unknown key {unknown[0]!r}; "
                         "use [[notify.webhook]] or [[notify.smtp]]")
    webhooks = [parse_webhook(entry, f"[[notify.webhook]] #{number}")
                for number, entry in enumerate(_entries(table, "webhook"), 1)]
    mails = [parse_smtp(entry, f"[[notify.smtp]] #{number}", base_dir)
             for number, entry in enumerate(_entries(table, "smtp"), 1)]
    return (*webhooks, *mails)


def _entries(table: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = table.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise UsageError(f"facility.toml [notify]: {key} must be an array of tables; "
                         f"write [[notify.{key}]]")
    return entries


def parse_webhook(entry: Mapping[str, Any], where: str) -> WebhookNotifier:
    """One ``[[notify.webhook]]`` table: ``url``, optional ``headers``, ``timeout``, ``name``."""
    _check_keys(entry, WEBHOOK_KEYS, where)
    url = _string(entry, "url", where, required=True)
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise UsageError(f"facility.toml {where}: url must be an http:// or https:// URL "
                         f"with a host, not {redact_url(url)!r}")
    headers = entry.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise UsageError(f"facility.toml {where}: headers must be a table of strings, "
                         'e.g. headers = { "X-Token" = "..." }')
    return WebhookNotifier(url=url, headers=dict(headers),
                           timeout=_timeout(entry, where), name=_string(entry, "name", where))


def parse_smtp(entry: Mapping[str, Any], where: str,
               base_dir: Path | None = None) -> SmtpNotifier:
    """One ``[[notify.smtp]]`` table; the password only via ``password_env``/``password_file``."""
    if "password" in entry:
        raise UsageError(f"facility.toml {where}: an inline password is not accepted; "
                         "use password_env = \"VARIABLE\" or password_file = \"path\"")
    _check_keys(entry, SMTP_KEYS, where)
    recipients = entry.get("to")
    if (not isinstance(recipients, list) or not recipients
            or not all(isinstance(r, str) and r for r in recipients)):
        raise UsageError(f"facility.toml {where}: to must be a non-empty list of addresses, "
                         'e.g. to = ["ops@example.org"]')
    starttls = _flag(entry, "starttls", where)
    use_ssl = _flag(entry, "ssl", where)
    if starttls and use_ssl:
        raise UsageError(f"facility.toml {where}: starttls and ssl exclude each other; "
                         "use ssl = true for port 465, starttls = true for port 587")
    user = _string(entry, "user", where) or None
    return SmtpNotifier(host=_string(entry, "host", where, required=True),
                        port=_port(entry, where), sender=_string(entry, "from", where,
                                                                 required=True),
                        recipients=tuple(recipients), user=user,
                        password=_password(entry, where, user, base_dir),
                        starttls=starttls, ssl=use_ssl, timeout=_timeout(entry, where),
                        name=_string(entry, "name", where))


def _password(entry: Mapping[str, Any], where: str, user: str | None,
              base_dir: Path | None) -> str | None:
    """The SMTP password from an environment variable or a file; None without one."""
    variable = _string(entry, "password_env", where)
    path = _string(entry, "password_file", where)
    if variable and path:
        raise UsageError(f"facility.toml {where}: give password_env or password_file, "
                         "not both")
    if (variable or path) and not user:
        raise UsageError(f"facility.toml {where}: a password needs user; add user = \"...\"")
    if user and not (variable or path):
        raise UsageError(f"facility.toml {where}: user {user!r} needs a password; "
                         "add password_env = \"VARIABLE\" or password_file = \"path\"")
    if variable:
        return _password_from_env(variable, where)
    if path:
        return _password_from_file(Path(base_dir or ".") / path, where)
    return None


def _password_from_env(variable: str, where: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise UsageError(f"facility.toml {where}: environment variable {variable} "
                         "(password_env) is not set; export it before appion serve")
    return value


def _password_from_file(path: Path, where: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"facility.toml {where}: cannot read password_file {path} "
                         f"({type(error).__name__}); make it readable by this user") from None
    if not value:
        raise UsageError(f"facility.toml {where}: password_file {path} is empty; "
                         "write the password into it")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise UsageError(f"facility.toml {where}: unknown key {unknown[0]!r}; "
                         f"known keys: {', '.join(sorted(allowed))}")


def _string(entry: Mapping[str, Any], key: str, where: str, required: bool = False) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise UsageError(f"facility.toml {where}: {key} must be a non-empty string")
    return value


def _flag(entry: Mapping[str, Any], key: str, where: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"facility.toml {where}: {key} must be true or false")
    return value


def _port(entry: Mapping[str, Any], where: str) -> int:
    value = entry.get("port", 465 if entry.get("ssl") is True else 25)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise UsageError(f"facility.toml {where}: port must be a number from 1 to 65535")
    return value


def _timeout(entry: Mapping[str, Any], where: str) -> float:
    value = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise UsageError(f"facility.toml {where}: timeout must be a positive number "
                         "of seconds")
    return float(value)
