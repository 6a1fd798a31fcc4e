"""Logging people in to the dashboard: passwords, a signed cookie and CSRF tokens.

People are listed in facility.toml's ``[auth]`` section with a Django password hash::

    users = [{ name = "alice", password_hash = "pbkdf2_sha256$1000000$..." }]

(``appion serve --hash-password`` makes one: :func:`hash_password`).
No database is involved: a login is a cookie signed (:mod:`django.core.signing`) with
the server's secret, which holds the user's name and a random nonce, and which is
``HttpOnly`` and ``SameSite=Strict``.  A control request made with that cookie must
also carry the login's CSRF token (an HMAC of the nonce, put in the page), in the
``X-CSRF-Token`` header or a ``csrf_token`` form field; the login form itself is
protected by a double-submitted random token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse

from appion.base.errors import AppionError, UsageError

log = logging.getLogger(__name__)

AUTH = "facility.toml [auth]"
SESSION_COOKIE = "appion_session"
LOGIN_CSRF_COOKIE = "appion_login_csrf"
CSRF_HEADER = "HTTP_X_CSRF_TOKEN"
CSRF_FIELD = "csrf_token"
#: How long a login lasts (seconds).
LOGIN_MAX_AGE_S = 12 * 3600
SECRET_NAME = "web-secret"
SALT = "appion.facility.dashboard.login"
#: Django's password hashers (``django.contrib.auth.hashers``).
HASHERS = ("pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt")
HASH_HINT = "make one with: appion serve --hash-password"


def hash_password(password: str) -> str:
    """A Django password hash of ``password`` (the default hasher, PBKDF2-SHA256)."""
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    if not settings.configured:
        settings.configure()
    if not password:
        raise UsageError("an empty password cannot be used; type one")
    return str(make_password(password))


@dataclass(frozen=True)
class User:
    """A person who may log in; the hash is left out of ``repr``."""

    name: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class Login:
    """Who a valid session cookie says is logged in, and the login's nonce."""

    user: str
    nonce: str = field(repr=False)


def _parse_user(entry: object, index: int, seen: set[str]) -> User:
    where = f"users[{index}]"
    if not isinstance(entry, dict):
        raise UsageError(f"{AUTH}: {where} must be a table such as "
                         '{name = "alice", password_hash = "pbkdf2_sha256$..."}')
    unknown = sorted(set(entry) - {"name", "password_hash"})
    if unknown:
        raise UsageError(f"{AUTH}: {where} has unknown key {unknown[0]!r}; "
                         "use name and password_hash (never a plain password)")
    name = entry.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.@+-]{1,64}", name):
        raise UsageError(f"{AUTH}: {where} needs a name of letters, digits and _.@+-")
    if name in seen:
        raise UsageError(f"{AUTH}: user {name!r} is listed twice; list each person once")
    seen.add(name)
    hashed = entry.get("password_hash")
    algorithm = hashed.partition("$")[0] if isinstance(hashed, str) else ""
    if not isinstance(hashed, str) or algorithm not in HASHERS or hashed.count("$") < 2:
        raise UsageError(f"{AUTH}: {where} ({name}) needs password_hash, a Django password "
                         f"hash such as pbkdf2_sha256$...; {HASH_HINT}")
    return User(name=name, password_hash=hashed)


def parse_users(entries: object) -> tuple[User, ...]:
    """``users = [{name, password_hash}]`` of facility.toml's ``[auth]``."""
    if not isinstance(entries, list):
        raise UsageError(f"{AUTH}: users must be a list of tables "
                         '[{name = "alice", password_hash = "pbkdf2_sha256$..."}]')
    seen: set[str] = set()
    return tuple(_parse_user(entry, index, seen) for index, entry in enumerate(entries))


def load_secret(state_dir: Path | None) -> str:
    """The key that signs login cookies: ``<state_dir>/web-secret``, made on first start
    (mode 600); a fresh one per process without a state directory."""
    if state_dir is None:
        return secrets.token_urlsafe(48)
    file = Path(state_dir) / SECRET_NAME
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_secret(file)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(secrets.token_urlsafe(48) + "\n")
        return _read_secret(file)
    except OSError as failure:
        reason = failure.strerror or type(failure).__name__
        raise AppionError(f"cannot keep the web secret {file}: {reason}; make the state "
                          "directory writable by this user (--state-dir)") from None


def _read_secret(file: Path) -> str:
    if file.stat().st_mode & 0o077:
        log.warning("%s is readable by others; chmod 600 it (it signs logins)", file)
    secret = file.read_text(encoding="utf-8").strip()
    if len(secret) < 32:
        raise AppionError(f"the web secret {file} is too short; delete it and restart "
                          "appion serve to make a new one (everyone logs in again)")
    return secret


class CookieAuth:
    """Logins of the configured users, as signed cookies."""

    def __init__(self, users: tuple[User, ...], secret: str):
        self.users = {user.name: user for user in users}
        self._secret = secret
        self._dummy: str | None = None

    def check_password(self, name: str, password: str) -> str | None:
        """The user's name when the password is theirs, else None (as slow either way)."""
        from django.contrib.auth.hashers import check_password, make_password

        user = self.users.get(name)
        if user is None:
            if self._dummy is None:
                self._dummy = make_password(secrets.token_urlsafe(16))
            check_password(password, self._dummy)  # as long as for a known name
            return None
        return user.name if check_password(password, user.password_hash) else None

    def cookie_for(self, name: str) -> str:
        return signing.dumps({"u": name, "n": secrets.token_urlsafe(16)},
                             key=self._secret, salt=SALT)

    def login(self, request: HttpRequest) -> Login | None:
        """The login the request's cookie carries, when signed, fresh and of a user
        still configured."""
        value = request.COOKIES.get(SESSION_COOKIE)
        if not value or not self.users:
            return None
        try:
            data = signing.loads(value, key=self._secret, salt=SALT, max_age=LOGIN_MAX_AGE_S)
        except signing.BadSignature:
            return None
        if not isinstance(data, dict) or data.get("u") not in self.users:
            return None
        nonce = data.get("n")
        return Login(user=str(data["u"]), nonce=nonce) if isinstance(nonce, str) else None

    def csrf_token(self, login: Login) -> str:
        """The CSRF token of a login (what the page sends back with control requests)."""
        return hmac.new(self._secret.encode(), f"csrf:{login.nonce}".encode(),
                        hashlib.sha256).hexdigest()

    def csrf_ok(self, request: HttpRequest, login: Login) -> bool:
        presented = request.META.get(CSRF_HEADER) or _form_value(request, CSRF_FIELD)
        return bool(presented) and hmac.compare_digest(
            self.csrf_token(login).encode(), str(presented).encode())

    def set_login(self, response: HttpResponse, request: HttpRequest, name: str) -> None:
        response.set_cookie(SESSION_COOKIE, self.cookie_for(name), max_age=LOGIN_MAX_AGE_S,
                            httponly=True, samesite="Strict", secure=request.is_secure(),
                            path="/")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", samesite="Strict")

    @staticmethod
    def clear_login(response: HttpResponse) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", samesite="Strict")


def new_login_form_token() -> str:
    return secrets.token_urlsafe(24)


def set_login_form_token(response: HttpResponse, request: HttpRequest, token: str) -> None:
    """The double-submitted token of the login form: a cookie and a hidden field."""
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True,
                        samesite="Strict", secure=request.is_secure(), path="/login")


def login_form_token_ok(request: HttpRequest) -> bool:
    cookie = request.COOKIES.get(LOGIN_CSRF_COOKIE, "")
    field_value = _form_value(request, CSRF_FIELD)
    return bool(cookie) and hmac.compare_digest(cookie.encode(), field_value.encode())


def _form_value(request: HttpRequest, name: str) -> str:
    if request.method != "POST":
        return ""
    post: Mapping[str, Any] = request.POST
    value = post.get(name, "")
    return value if isinstance(value, str) else ""
