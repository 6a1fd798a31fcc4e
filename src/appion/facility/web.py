"""The HTTP interface of ``appion serve``: Django views served by waitress in a thread.

Routes (every body is JSON, every error ``{"error": "one line"}``)::

    GET  /healthz                          {"status": "ok", "sessions": N, "workers": W}
    GET  /metrics                          Prometheus text (:mod:`.metrics`)
    GET  /api/sessions                     one object per session, with its steps
    GET  /api/sessions/<name>/exposures    ?page=1&per_page=50, newest first
    POST /api/sessions/<name>/pause|resume|retry

Control (the POSTs) needs ``Authorization: Bearer <token>`` naming one of the tokens of
facility.toml's ``[auth]`` section (:func:`parse_auth`).  Reads need no token when the
server listens on a loopback address and the request's ``Host`` names a loopback host
(a page of another site that rebinds its name to 127.0.0.1 does not); otherwise they
need one too.  ``/healthz`` is always open, for load balancers and probes.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from appion.base.errors import AppionError, UsageError
from appion.facility import metrics
from appion.facility.model import FacilityStatus, SessionStatus, StepStatus

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8770"
ACTIONS = ("pause", "resume", "retry")
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
THREADS = 4
#: Shortest token accepted: a guessable token protects nothing.
MIN_TOKEN_LENGTH = 16
READ_METHODS = ("GET", "HEAD")
AUTH = "facility.toml [auth]"
TOKEN_HINT = ("generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
#: The Django URL configuration used when none is set: this module, which routes nothing
#: itself (each server's handler gives every request its own patterns).
urlpatterns: list[Any] = []


class FacilityApi(Protocol):
    """What the views need of the service (``service.py`` implements it)."""

    def status(self) -> FacilityStatus: ...

    def exposures(self, session: str, page: int, per_page: int) -> dict | None: ...

    def control(self, session: str, action: str) -> str: ...


# -- authentication -------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    """A named API token; its secret is left out of ``repr``."""

    name: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class AuthSettings:
    """The tokens of facility.toml's ``[auth]`` section."""

    tokens: tuple[Token, ...] = ()

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
    """The ``[auth]`` table of facility.toml: ``tokens = [{name, token_env|token_file}]``."""
    unknown = sorted(set(table) - {"tokens"})
    if unknown:
        raise UsageError(f"{AUTH}: unknown key {unknown[0]!r}; the section has only tokens")
    entries = table.get("tokens", [])
    if not isinstance(entries, list):
        raise UsageError(f"{AUTH}: tokens must be a list of tables "
                         '[{name = "staff", token_env = "APPION_SERVE_TOKEN"}]')
    seen: set[str] = set()
    return AuthSettings(tuple(_parse_token(entry, index, seen)
                              for index, entry in enumerate(entries)))


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

def iso_utc(epoch: float | None) -> str | None:
    """Epoch seconds -> ``"2026-11-30T16:00:00Z"``; None (or not finite) -> None."""
    if epoch is None or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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

    def __init__(self, api: FacilityApi, auth: AuthSettings, bound_host: str):
        self.api = api
        self.auth = auth
        self.bound_host = bound_host
        self.registry = metrics.metrics_registry(api)

    def _authorize(self, request: HttpRequest, *, control: bool) -> str | JsonResponse:
        """Who asks (a token's name, ``"local"`` for an open read), or the 401/403 refusal."""
        if not control and not reads_need_token(self.bound_host,
                                                request.META.get("HTTP_HOST", "")):
            return "local"
        if not self.auth.tokens:
            what = "control" if control else "reading (the server is not on loopback)"
            return error(403, f"{what} needs an API token and none is configured; add "
                              f"tokens to {AUTH} and restart appion serve")
        who = self.auth.who(request.META.get("HTTP_AUTHORIZATION"))
        if who is None:
            return error(401, "missing or unknown API token; send Authorization: Bearer "
                              "<token>")
        return who

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

    def sessions(self, request: HttpRequest) -> HttpResponse:
        who = self._authorize(request, control=False)
        if isinstance(who, JsonResponse):
            return who
        return JsonResponse([session_json(session) for session in self.api.status().sessions],
                            safe=False)

    def exposures(self, request: HttpRequest, name: str) -> HttpResponse:
        who = self._authorize(request, control=False)
        if isinstance(who, JsonResponse):
            return who
        try:
            page = page_number(request.GET, "page", 1, None)
            per_page = page_number(request.GET, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
        except ValueError as reason:
            return error(400, str(reason))
        found = self.api.exposures(name, page, per_page)
        return error(404, f"no session {name!r}") if found is None else JsonResponse(found)

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
        self.urlpatterns = [
            path("healthz", _only(READ_METHODS, views.healthz)),
            path("metrics", _only(READ_METHODS, views.prometheus)),
            path("api/sessions", _only(READ_METHODS, views.sessions)),
            path("api/sessions/<str:name>/exposures", _only(READ_METHODS, views.exposures)),
            path("api/sessions/<str:name>/<str:action>", _only(("POST",), views.control)),
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


def application(api: FacilityApi, auth: AuthSettings, bound_host: str) -> Application:
    """The WSGI application serving ``api``."""
    prepare_django()
    return Application(UrlConf(_Views(api, auth, bound_host)))


# -- server ---------------------------------------------------------------------------

class WebServer:
    """waitress serving :func:`application` in a daemon thread."""

    def __init__(self, api: FacilityApi, auth: AuthSettings, listen: str = DEFAULT_LISTEN):
        self.api = api
        self.auth = auth
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

        app = application(self.api, self.auth, self.host)
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
        if not is_loopback(self.host) and not self.auth.tokens:
            log.warning("--listen %s is not a loopback address and %s has no tokens: "
                        "every request but /healthz will be refused",
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
