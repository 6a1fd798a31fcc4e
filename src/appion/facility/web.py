"""The HTTP interface of ``appion serve``: Django views served by waitress in a thread.

API routes (every body is JSON, every error ``{"error": "one line"}``)::

    GET  /healthz                          {"status": "ok", "sessions": N, "workers": W}
    GET  /metrics                          Prometheus text (:mod:`.metrics`)
    GET  /api/facility                     the service: workers, thresholds, alerts
    GET  /api/sessions                     one object per session, with its steps
    GET  /api/sessions/<name>/exposures    ?page=1&per_page=50&sort=acquired_at
                                           &order=desc|asc&status=failed|done|pending
    GET  /api/sessions/<name>/exposures/<image_id>   everything about one exposure
    GET  /api/sessions/<name>/series       per-exposure values over acquisition time
    GET  /api/sessions/<name>/history      ?hours=6&bucket_s=600: collected, processed
    POST /api/sessions/<name>/pause|resume|retry
    GET  /images/<name>/<image_id>/thumbnail.jpg|preview.jpg|spectrum.png

Pages for people (the dashboard, :mod:`.dashboard.views`)::

    GET  /                                 every session at a glance
    GET  /sessions/<name>                  plots, thumbnails, all exposures
    GET  /sessions/<name>/exposures/<image_id>
    GET|POST /login, POST /logout
    GET  /static/plotly.min.js, /static/appion/<file>

Control (the POSTs) needs ``Authorization: Bearer <token>`` naming one of the tokens of
facility.toml's ``[auth]`` section (:func:`parse_auth`), or the login cookie of one of
its users together with that login's CSRF token (:mod:`.dashboard.auth`).  Reads need
nothing when the server listens on a loopback address and the request's ``Host`` names
a loopback host (a page of another site that rebinds its name to 127.0.0.1 does not);
otherwise they need a token or a login too.  ``/healthz``, the login page and the
static files are always open.

Each :class:`WebServer` has its own URL patterns, built around the service object it
serves (closures, no module-level state): its WSGI handler puts them on every request
as ``request.urlconf``, Django's per-request URL configuration.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.core.handlers.wsgi import WSGIHandler
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from appion.base.errors import AppionError, UsageError
from appion.facility import metrics
from appion.facility.dashboard import auth as people
from appion.facility.dashboard.views import STATIC_MAX_AGE_S, Pages
from appion.facility.model import FacilityStatus, SessionStatus, StepStatus, iso_utc

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8770"
ACTIONS = ("pause", "resume", "retry")
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
THREADS = 4
#: Shortest token accepted: a guessable token protects nothing.
MIN_TOKEN_LENGTH = 16
READ_METHODS = ("GET", "HEAD")
#: The worker-made images of an exposure: kind -> (file suffix, content type).
IMAGE_KINDS = {"thumbnail": ("jpg", "image/jpeg"), "preview": ("jpg", "image/jpeg"),
               "spectrum": ("png", "image/png")}
EXPOSURE_STATUSES = ("failed", "done", "pending", "running")
DEFAULT_HISTORY_HOURS = 6.0
DEFAULT_BUCKET_S = 600.0
#: JSON bodies from this size on are sent gzipped to clients that accept it.
GZIP_FROM_BYTES = 32 * 1024
AUTH = "facility.toml [auth]"
TOKEN_HINT = ("generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
#: The Django URL configuration used when none is set: this module, which routes nothing
#: itself (each server's handler gives every request its own patterns).
urlpatterns: list[Any] = []


class FacilityApi(Protocol):
    """What the views need of the service (``service.py`` implements it)."""

    def status(self) -> FacilityStatus: ...

    def exposures(self, session: str, page: int, per_page: int, sort: str = "acquired_at",
                  descending: bool = True, status: str | None = None) -> dict | None: ...

    def exposure(self, session: str, image_id: int) -> dict | None: ...

    def series(self, session: str) -> dict | None: ...

    def history(self, session: str, hours: float = DEFAULT_HISTORY_HOURS,
                bucket_s: float = DEFAULT_BUCKET_S) -> dict | None: ...

    def image_path(self, session: str, image_id: int, kind: str) -> str | None: ...

    def facility(self) -> dict: ...

    def control(self, session: str, action: str) -> str: ...


# -- authentication -------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    """A named API token; its secret is left out of ``repr``."""

    name: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class AuthSettings:
    """The tokens and the users of facility.toml's ``[auth]`` section."""

    tokens: tuple[Token, ...] = ()
    users: tuple[people.User, ...] = ()

    def who(self, authorization: str | None) -> str | None:
        """The name of the token an ``Authorization: Bearer`` header carries, or None."""
        presented = bearer_secret(authorization)
        if presented is None:
            return None
        found = None
        for token in self.tokens:  # compare with every token: timing tells nothing
            if hmac.compare_digest(token.secret.encode(), presented.encode()):
                found = token.name
        return found


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header value, or None."""
    scheme, _, secret = (authorization or "").strip().partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


def _token_secret(entry: Mapping[str, Any], where: str) -> str:
    if "token" in entry:
        raise UsageError(f"{AUTH}: {where} has an inline token; put the token in an "
                         "environment variable (token_env) or a file (token_file)")
    sources = [key for key in ("token_env", "token_file") if key in entry]
    if len(sources) != 1:
        raise UsageError(f"{AUTH}: {where} needs exactly one of token_env or token_file")
    if sources == ["token_env"]:
        return _secret_from_env(entry["token_env"], where)
    return _secret_from_file(entry["token_file"], where)


def _secret_from_env(variable: object, where: str) -> str:
    if not isinstance(variable, str) or not variable:
        raise UsageError(f"{AUTH}: {where} token_env must name an environment variable")
    secret = os.environ.get(variable, "").strip()
    if not secret:
        raise UsageError(f"{AUTH}: {where} reads environment variable {variable}, "
                         f"which is not set; set it to the token ({TOKEN_HINT})")
    return _checked_secret(secret, where)


def _secret_from_file(name: object, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise UsageError(f"{AUTH}: {where} token_file must be a path")
    file = Path(name).expanduser()
    try:
        secret = file.read_text(encoding="utf-8").strip()
        mode = file.stat().st_mode
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise UsageError(f"{AUTH}: {where} cannot read token_file {file}: {reason}; "
                         "write the token there, readable by this user only") from None
    if mode & 0o077:
        log.warning("%s: %s token_file %s is readable by others; chmod 600 it",
                    AUTH, where, file)
    return _checked_secret(secret, where)


def _checked_secret(secret: str, where: str) -> str:
    if len(secret) < MIN_TOKEN_LENGTH or any(char.isspace() for char in secret):
        raise UsageError(f"{AUTH}: {where} token must be at least {MIN_TOKEN_LENGTH} "
                         f"characters without spaces; {TOKEN_HINT}")
    return secret


def _parse_token(entry: object, index: int, seen: set[str]) -> Token:
    where = f"tokens[{index}]"
    if not isinstance(entry, dict):
        raise UsageError(f"{AUTH}: {where} must be a table such as "
                         '{name = "staff", token_env = "APPION_SERVE_TOKEN"}')
    unknown = sorted(set(entry) - {"name", "token", "token_env", "token_file"})
    if unknown:
        raise UsageError(f"{AUTH}: {where} has unknown key {unknown[0]!r}; "
                         "use name and token_env or token_file")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{AUTH}: {where} needs a name (who uses it, as logged)")
    if name in seen:
        raise UsageError(f"{AUTH}: token name {name!r} is used twice; give each a new name")
    seen.add(name)
    return Token(name=name, secret=_token_secret(entry, f"{where} ({name})"))


def parse_auth(table: Mapping[str, Any]) -> AuthSettings:
    """The ``[auth]`` table of facility.toml: ``tokens = [{name, token_env|token_file}]``
    for programs, ``users = [{name, password_hash}]`` for people (the dashboard)."""
    unknown = sorted(set(table) - {"tokens", "users"})
    if unknown:
        raise UsageError(f"{AUTH}: unknown key {unknown[0]!r}; the section has only "
                         "tokens and users")
    entries = table.get("tokens", [])
    if not isinstance(entries, list):
        raise UsageError(f"{AUTH}: tokens must be a list of tables "
                         '[{name = "staff", token_env = "APPION_SERVE_TOKEN"}]')
    seen: set[str] = set()
    return AuthSettings(tuple(_parse_token(entry, index, seen)
                              for index, entry in enumerate(entries)),
                        people.parse_users(table.get("users", [])))


# -- addresses ------------------------------------------------------------------------

def parse_listen(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` or ``"[IPV6]:PORT"`` -> ``(host, port)``."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\[\]\s]+):(\d{1,5})",
                         text.strip())
    port = int(match.group(2) or match.group(4)) if match else -1
    if match is None or port > 65535:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT such as 127.0.0.1:8770 "
                         "or [::1]:8770")
    return match.group(1) or match.group(3), port


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine's loopback."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host of a ``Host`` header value (``"[::1]:8770"`` -> ``"::1"``)."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def reads_need_token(bound_host: str, host_header: str) -> bool:
    """Whether a read must carry a token: unless bound to loopback and asked for it."""
    return not (is_loopback(bound_host) and is_loopback(host_of(host_header)))


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- JSON -----------------------------------------------------------------------------

def _number(value: float | None) -> float | None:
    """A JSON number: NaN and infinities are not JSON, so they become null."""
    return value if value is None or math.isfinite(value) else None


def step_json(step: StepStatus) -> dict[str, Any]:
    return {"done": step.done, "failed": step.failed, "pending": step.pending,
            "running": step.running, "lag_seconds": _number(step.lag_seconds),
            "lag_exposures": step.lag_exposures,
            "processed_per_hour": _number(step.processed_per_hour),
            "latency_p50_s": _number(step.latency_p50_s),
            "latency_p95_s": _number(step.latency_p95_s),
            "eta_seconds": _number(step.eta_seconds)}


def session_json(session: SessionStatus) -> dict[str, Any]:
    return {"name": session.name, "microscope": session.microscope,
            "camera": session.camera, "preset": session.preset, "project": session.project,
            "active": session.active, "paused": session.paused,
            "collected": session.collected,
            "collected_per_hour": _number(session.collected_per_hour),
            "last_exposure_at": iso_utc(session.last_exposure_at), "error": session.error,
            "steps": {step.step: step_json(step) for step in session.steps}}


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def positive_number(query: Mapping[str, str], key: str, default: float, least: float,
                    most: float) -> float:
    """A number query parameter within ``[least, most]``; ValueError with the reason."""
    text = query.get(key)
    if text is None:
        return default
    try:
        value = float(text) if re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6})?", text) else -1.0
    except ValueError:
        value = -1.0
    if not least <= value <= most:
        raise ValueError(f"{key} must be a number from {least:g} to {most:g}, not {text!r}")
    return value


def exposure_query(query: Mapping[str, str]) -> dict[str, Any]:
    """``page``, ``per_page``, ``sort``, ``order`` and ``status`` of an exposures request
    as the keyword arguments of ``FacilityApi.exposures``; ValueError with the reason."""
    sort = query.get("sort", "acquired_at")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", sort):
        raise ValueError(f"sort must name a value such as acquired_at or resolution_a, "
                         f"not {sort!r}")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be asc or desc, not {order!r}")
    status = query.get("status") or None
    if status is not None and status not in EXPOSURE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(EXPOSURE_STATUSES)}, "
                         f"not {status!r}")
    return {"page": page_number(query, "page", 1, None),
            "per_page": page_number(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
            "sort": sort, "descending": order == "desc", "status": status}


def page_number(query: Mapping[str, str], key: str, default: int, most: int | None) -> int:
    """A positive integer query parameter; ValueError with a one-line reason."""
    text = query.get(key)
    if text is None:
        return default
    value = int(text) if re.fullmatch(r"[0-9]{1,9}", text) else 0
    if value < 1 or (most is not None and value > most):
        limit = f" and at most {most}" if most is not None else ""
        raise ValueError(f"{key} must be an integer of at least 1{limit}, not {text!r}")
    return value


# -- views ----------------------------------------------------------------------------

View = Callable[..., HttpResponse]


class _Views:
    """The views of one server, around the service object it serves."""

    def __init__(self, api: FacilityApi, auth: AuthSettings, bound_host: str,
                 secret: str | None = None):
        self.api = api
        self.auth = auth
        self.bound_host = bound_host
        self.registry = metrics.metrics_registry(api)
        self.cookies = people.CookieAuth(auth.users, secret or people.load_secret(None))
        self.pages = Pages(api, self.cookies, self.may_read)

    def may_read(self, request: HttpRequest) -> bool:
        """Whether a page may be shown: an open read, a login or a valid token."""
        return not isinstance(self._authorize(request, control=False), JsonResponse)

    def _authorize(self, request: HttpRequest, *, control: bool) -> str | JsonResponse:
        """Who asks (a token's or a user's name, ``"local"`` for an open read), or the
        401/403 refusal."""
        if not control and not reads_need_token(self.bound_host,
                                                request.META.get("HTTP_HOST", "")):
            return "local"
        header = request.META.get("HTTP_AUTHORIZATION")
        login = None if header else self.cookies.login(request)
        if login is not None:
            if control and not self.cookies.csrf_ok(request, login):
                return error(403, "missing or wrong CSRF token (X-CSRF-Token); reload the "
                                  "page and try again")
            return login.user
        if not self.auth.tokens and not self.auth.users:
            what = "control" if control else "reading (the server is not on loopback)"
            return error(403, f"{what} needs an API token or a login and none is "
                              f"configured; add tokens or users to {AUTH} and restart "
                              "appion serve")
        who = self.auth.who(header)
        if who is None:
            return error(401, "missing or unknown API token; send Authorization: Bearer "
                              "<token>, or log in at /login")
        return who

    def _read(self, request: HttpRequest, answer: Callable[[], Any], missing: str
              ) -> HttpResponse:
        """A JSON read: refused, or ``answer()``; None from it is a 404 saying ``missing``;
        ValueError (a bad parameter) a 400."""
        who = self._authorize(request, control=False)
        if isinstance(who, JsonResponse):
            return who
        try:
            found = answer()
        except ValueError as reason:
            return error(400, _first_line(reason, "bad parameter"))
        if found is None:
            return error(404, missing)
        return compressed(request, JsonResponse(found, safe=not isinstance(found, list)))

    def healthz(self, request: HttpRequest) -> HttpResponse:
        status = self.api.status()
        return JsonResponse({"status": "ok", "sessions": len(status.sessions),
                             "workers": status.workers})

    def prometheus(self, request: HttpRequest) -> HttpResponse:
        who = self._authorize(request, control=False)
        if isinstance(who, JsonResponse):
            return who
        return HttpResponse(metrics.exposition(self.registry),
                            content_type=metrics.CONTENT_TYPE)

    def facility(self, request: HttpRequest) -> HttpResponse:
        return self._read(request, self.api.facility, "no facility")

    def sessions(self, request: HttpRequest) -> HttpResponse:
        return self._read(request, lambda: [session_json(session) for session
                                            in self.api.status().sessions], "no sessions")

    def exposures(self, request: HttpRequest, name: str) -> HttpResponse:
        return self._read(request, lambda: self.api.exposures(
            name, **exposure_query(request.GET)), f"no session {name!r}")

    def exposure(self, request: HttpRequest, name: str, image_id: int) -> HttpResponse:
        return self._read(request, lambda: self.api.exposure(name, image_id),
                          f"no exposure {image_id} in session {name!r}")

    def series(self, request: HttpRequest, name: str) -> HttpResponse:
        return self._read(request, lambda: self.api.series(name), f"no session {name!r}")

    def history(self, request: HttpRequest, name: str) -> HttpResponse:
        def answer() -> dict | None:
            hours = positive_number(request.GET, "hours", DEFAULT_HISTORY_HOURS, 0.1, 168)
            bucket_s = positive_number(request.GET, "bucket_s", DEFAULT_BUCKET_S, 10, 86400)
            return self.api.history(name, hours=hours, bucket_s=bucket_s)
        return self._read(request, answer, f"no session {name!r}")

    def image(self, request: HttpRequest, name: str, image_id: int, kind: str,
              suffix: str) -> HttpResponse:
        """A worker-made image (never any other file): 404 until the worker wrote it."""
        who = self._authorize(request, control=False)
        if isinstance(who, JsonResponse):
            return who
        if kind not in IMAGE_KINDS or IMAGE_KINDS[kind][0] != suffix:
            return error(404, f"no image kind {kind}.{suffix}; use "
                              + ", ".join(f"{k}.{v[0]}" for k, v in IMAGE_KINDS.items()))
        found = self.api.image_path(name, image_id, kind)
        try:
            stream = open(found, "rb") if found else None  # noqa: SIM115 - the response closes it
        except OSError:
            stream = None
        if stream is None:
            return error(404, f"no {kind} of exposure {image_id} in session {name!r} yet")
        response = FileResponse(stream, content_type=IMAGE_KINDS[kind][1])
        response["Cache-Control"] = f"private, max-age={STATIC_MAX_AGE_S}"
        return response

    def control(self, request: HttpRequest, name: str, action: str) -> HttpResponse:
        if action not in ACTIONS:
            return error(404, f"no action {action!r}; use one of {', '.join(ACTIONS)}")
        who = self._authorize(request, control=True)
        if isinstance(who, JsonResponse):
            return who
        try:
            message = self.api.control(name, action)
        except KeyError:
            return error(404, f"no session {name!r}")
        except ValueError as reason:
            return error(404, _first_line(reason, f"no action {action!r}"))
        log.info("%s asked to %s session %s: %s", who, action, name, message)
        return JsonResponse({"session": name, "action": action, "message": message})


def compressed(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """A large body gzipped when the client accepts it (a 20,000-exposure series is
    megabytes of JSON; a facility's wall screen may be at the far end of a slow link)."""
    from django.utils.text import compress_string

    if (len(response.content) < GZIP_FROM_BYTES
            or "gzip" not in request.META.get("HTTP_ACCEPT_ENCODING", "")):
        return response
    response.content = compress_string(response.content)
    response["Content-Encoding"] = "gzip"
    response["Content-Length"] = str(len(response.content))
    response["Vary"] = "Accept-Encoding"
    return response


def _first_line(reason: Exception, default: str) -> str:
    lines = str(reason).strip().splitlines()
    return lines[0] if lines else default


def _only(methods: tuple[str, ...], view: View) -> View:
    """``view`` for these methods; a JSON 405 naming them for any other."""
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in methods:
            response = error(405, f"{request.method} is not allowed here; use "
                                  f"{' or '.join(methods)}")
            response["Allow"] = ", ".join(methods)
            return response
        return view(request, *args, **kwargs)
    return checked


def _not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error(404, f"no such resource {request.path}; see /api/sessions")


def _bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error(400, "bad request")


def _server_error(request: HttpRequest) -> HttpResponse:
    return error(500, "internal error; see the appion serve log")


class UrlConf:
    """One server's Django URL configuration (what ``ROOT_URLCONF`` names otherwise)."""

    handler400 = staticmethod(_bad_request)
    handler404 = staticmethod(_not_found)
    handler500 = staticmethod(_server_error)

    def __init__(self, views: _Views):
        pages = views.pages
        self.urlpatterns = [
            path("healthz", _only(READ_METHODS, views.healthz)),
            path("metrics", _only(READ_METHODS, views.prometheus)),
            path("api/facility", _only(READ_METHODS, views.facility)),
            path("api/sessions", _only(READ_METHODS, views.sessions)),
            path("api/sessions/<str:name>/exposures", _only(READ_METHODS, views.exposures)),
            path("api/sessions/<str:name>/exposures/<int:image_id>",
                 _only(READ_METHODS, views.exposure)),
            path("api/sessions/<str:name>/series", _only(READ_METHODS, views.series)),
            path("api/sessions/<str:name>/history", _only(READ_METHODS, views.history)),
            path("api/sessions/<str:name>/<str:action>", _only(("POST",), views.control)),
            path("images/<str:name>/<int:image_id>/<str:kind>.<str:suffix>",
                 _only(READ_METHODS, views.image)),
            path("", _only(READ_METHODS, pages.facility)),
            path("sessions/<str:name>", _only(READ_METHODS, pages.session)),
            path("sessions/<str:name>/exposures/<int:image_id>",
                 _only(READ_METHODS, pages.exposure)),
            path("login", _only(("GET", "HEAD", "POST"), pages.login)),
            path("logout", _only(("POST",), pages.logout)),
            path("static/plotly.min.js", _only(READ_METHODS, pages.plotly_js)),
            path("static/appion/<str:name>", _only(READ_METHODS, pages.static_file)),
        ]


class Application(WSGIHandler):
    """Django's WSGI handler, resolving URLs with one server's own :class:`UrlConf`."""

    def __init__(self, urlconf: UrlConf):
        super().__init__()
        self.urlconf = urlconf

    def get_response(self, request: HttpRequest) -> HttpResponse:
        request.urlconf = self.urlconf  # Django's per-request URL configuration
        return super().get_response(request)


def prepare_django() -> None:
    """Make Django able to serve these views, whether or not sinedon configured it.

    In ``appion serve``, ``sinedon.setup()`` has already called ``settings.configure``
    for the databases; settings can be configured only once per process, so the two
    settings HTTP needs are added to that configuration (``LazySettings`` accepts
    attribute assignment) when missing.  Without sinedon (tests, tools), a minimal
    configuration without databases is made; sinedon cannot be set up after that.
    """
    import django
    from django.apps import apps
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
                           MIDDLEWARE=[], INSTALLED_APPS=[], DATABASES={})
    if not getattr(settings, "ROOT_URLCONF", None):
        settings.ROOT_URLCONF = __name__
    if not settings.ALLOWED_HOSTS:
        # Host is checked by reads_need_token, with a JSON answer, not by Django
        settings.ALLOWED_HOSTS = ["*"]
    if not apps.ready:
        django.setup(set_prefix=False)


def application(api: FacilityApi, auth: AuthSettings, bound_host: str,
                secret: str | None = None) -> Application:
    """The WSGI application serving ``api``; ``secret`` signs login cookies (a fresh one
    per application when None)."""
    prepare_django()
    return Application(UrlConf(_Views(api, auth, bound_host, secret)))


# -- server ---------------------------------------------------------------------------

class WebServer:
    """waitress serving :func:`application` in a daemon thread."""

    def __init__(self, api: FacilityApi, auth: AuthSettings, listen: str = DEFAULT_LISTEN,
                 *, state_dir: Path | str | None = None):
        self.api = api
        self.auth = auth
        #: where the key signing login cookies is kept (``web-secret``, mode 600), so that
        #: logins outlive a restart; None: a new key per start
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.host, self.port = parse_listen(listen)
        self._server: Any = None
        self._map: dict[int, Any] = {}  # waitress's socket map: the server's sockets
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The address listened on (the real port when asked for port 0)."""
        if self._server is None:
            return self.host, self.port
        listening = getattr(self._server, "effective_listen", None) or [
            (self._server.effective_host, self._server.effective_port)]
        host, port = listening[0]
        return str(host), int(port)

    def start(self) -> None:
        """Bind and serve; AppionError when the address cannot be listened on."""
        import waitress

        app = application(self.api, self.auth, self.host,
                          people.load_secret(self.state_dir))
        try:
            self._server = waitress.create_server(
                app, map=self._map, host=self.host, port=self.port, threads=THREADS,
                ident="appion")
        except OSError as failure:
            _close_sockets(self._map)
            reason = failure.strerror or str(failure)
            raise AppionError(f"cannot listen on {format_address(self.host, self.port)}: "
                              f"{reason}; choose another --listen") from None
        self._warn_when_open()
        self._thread = threading.Thread(target=self._server.run, name="appion-web",
                                        daemon=True)
        self._thread.start()
        log.info("serving HTTP on http://%s", format_address(*self.address))

    def _warn_when_open(self) -> None:
        if not is_loopback(self.host) and not self.auth.tokens and not self.auth.users:
            log.warning("--listen %s is not a loopback address and %s has no tokens "
                        "or users: every request but /healthz will be refused",
                        format_address(self.host, self.port), AUTH)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the requests in progress, close every socket and end the thread."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None:
            return
        # workers first: one that finished after the sockets were closed would wake the
        # loop through a pipe number that may belong to another file by then
        server.task_dispatcher.shutdown(timeout=timeout)
        wakeup = _trigger(self._map)
        if thread is None or not thread.is_alive() or wakeup is None:
            _close_sockets(self._map)
            return
        try:  # the sockets are closed in the loop's own thread; with none left, it ends
            wakeup.pull_trigger(lambda: _close_sockets(self._map))
        except OSError:
            pass  # another wake-up of the loop ran the closing already
        thread.join(timeout)


def _trigger(socket_map: dict[int, Any]) -> Any:
    """The pipe that wakes waitress's loop and runs a function in its thread."""
    from waitress.trigger import trigger

    return next((item for item in socket_map.values() if isinstance(item, trigger)), None)


def _close_sockets(socket_map: dict[int, Any]) -> None:
    from waitress import wasyncore

    wasyncore.close_all(socket_map)
