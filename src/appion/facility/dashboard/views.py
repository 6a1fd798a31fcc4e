"""The dashboard's pages: the facility, one session, one exposure, and logging in.

Pages are Django templates of this package rendered by an :class:`~django.template.Engine`
of its own (Django's settings belong to sinedon in ``appion serve``; a server's own
engine needs none of them).  Pages are light: their data come from the JSON API,
fetched by the page's script (``static/appion/*.js``, no build step) and drawn with
Plotly, whose ``plotly.min.js`` is served from the installed ``plotly`` package: no
CDN, a facility's network may be offline.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.template import Context, Engine
from django.views import static

from appion.base.errors import AppionError
from appion.facility.dashboard.auth import (
    CSRF_FIELD,
    CookieAuth,
    login_form_token_ok,
    new_login_form_token,
    set_login_form_token,
)
from appion.facility.model import FacilityStatus

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
#: How long browsers keep static files and worker-made images (seconds).
STATIC_MAX_AGE_S = 3600
PLOTLY_HINT = "install it with: pip install 'plotly>=5'"


class DashboardApi(Protocol):
    """What the pages need of the service (a part of ``web.FacilityApi``)."""

    def status(self) -> FacilityStatus: ...

    def exposure(self, session: str, image_id: int) -> dict | None: ...


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled in the installed ``plotly`` package."""
    spec = importlib.util.find_spec("plotly")
    origin = spec.origin if spec is not None else None
    if origin is None:
        raise AppionError(f"the dashboard needs the Python package plotly; {PLOTLY_HINT}")
    file = Path(origin).parent / "package_data" / "plotly.min.js"
    if not file.is_file():
        raise AppionError(f"the plotly package has no {file.name} (at {file.parent}); "
                          f"reinstall it: pip install --force-reinstall 'plotly>=5'")
    return file


def template_engine() -> Engine:
    return Engine(dirs=[str(TEMPLATES_DIR)], debug=False, autoescape=True)


class Pages:
    """The pages of one server."""

    def __init__(self, api: DashboardApi, cookies: CookieAuth,
                 may_read: Callable[[HttpRequest], bool]):
        self.api = api
        self.cookies = cookies
        self.may_read = may_read
        self.engine = template_engine()
        self.plotly_path = plotly_js_path()
        self._plotly_gzip: bytes | None = None
        self._plotly_lock = threading.Lock()

    # -- helpers ----------------------------------------------------------------------

    def render(self, request: HttpRequest, template: str, context: Mapping[str, Any],
               status: int = 200) -> HttpResponse:
        login = self.cookies.login(request)
        full = {"login": login, "users_configured": bool(self.cookies.users),
                "csrf_token": self.cookies.csrf_token(login) if login else "",
                "csrf_field": CSRF_FIELD, "path": request.path, **context}
        html = self.engine.get_template(template).render(Context(full))
        response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
        response["Cache-Control"] = "no-store"
        response["X-Frame-Options"] = "DENY"
        response["Referrer-Policy"] = "same-origin"
        return response

    def _refused(self, request: HttpRequest) -> HttpResponse | None:
        """A redirect to the login page when this request may not read."""
        if self.may_read(request):
            return None
        return HttpResponseRedirect(f"/login?next={quote(request.get_full_path())}")

    def not_found(self, request: HttpRequest, what: str) -> HttpResponse:
        return self.render(request, "appion/not_found.html", {"what": what}, status=404)

    # -- pages ------------------------------------------------------------------------

    def facility(self, request: HttpRequest) -> HttpResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        return self.render(request, "appion/facility.html", {"title": "Facility"})

    def session(self, request: HttpRequest, name: str) -> HttpResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        found = self.api.status().session(name)
        if found is None:
            return self.not_found(request, f"no session {name!r}")
        return self.render(request, "appion/session.html", {
            "title": name, "session": found, "session_json": {
                # fetched while the page loads (a preload): the plots' data
                "name": name, "series_url": f"/api/sessions/{quote(name, safe='')}/series"}})

    def exposure(self, request: HttpRequest, name: str, image_id: int) -> HttpResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        found = self.api.exposure(name, image_id)
        if found is None:
            return self.not_found(request, f"no exposure {image_id} in session {name!r}")
        steps = [{"name": step, "status": data.get("status"), "error": data.get("error"),
                  "results": value_rows(data.get("results") or {}),
                  "parameters": value_rows((data.get("details") or {}).get("parameters")
                                           or {}),
                  "files": file_rows((data.get("details") or {}).get("files") or {})}
                 for step, data in (found.get("steps") or {}).items()]
        run = found.get("run") or {}
        plots = {step: {key: (data.get("details") or {}).get(key)
                        for key in ("trajectory_a", "profile")}
                 for step, data in (found.get("steps") or {}).items()}
        return self.render(request, "appion/exposure.html", {
            "title": f"{found.get('filename') or image_id}", "session_name": name,
            "exposure": found, "values": value_rows(found.get("values") or {}),
            "steps": steps, "run": run, "options": value_rows(run.get("options") or {}),
            "images": found.get("images") or {},
            "plots": {"session": name, "image_id": image_id, "steps": plots,
                      "values": found.get("values") or {}}})

    def login(self, request: HttpRequest) -> HttpResponse:
        target = safe_next(request.GET.get("next") or request.POST.get("next"))
        if request.method == "POST":
            return self._log_in(request, target)
        return self._login_form(request, target, error="")

    def _login_form(self, request: HttpRequest, target: str, error: str,
                    status: int = 200) -> HttpResponse:
        token = new_login_form_token()
        response = self.render(request, "appion/login.html", {
            "title": "Log in", "next": target, "error": error, "form_token": token},
            status=status)
        set_login_form_token(response, request, token)
        return response

    def _log_in(self, request: HttpRequest, target: str) -> HttpResponse:
        if not login_form_token_ok(request):
            return self._login_form(request, target, status=403, error=(
                "the form had expired or came from another site; log in again"))
        if not self.cookies.users:
            return self._login_form(request, target, status=403, error=(
                "no users are configured; add users to facility.toml [auth]"))
        name = str(request.POST.get("username", ""))
        who = self.cookies.check_password(name, str(request.POST.get("password", "")))
        if who is None:
            return self._login_form(request, target, status=401,
                                    error="unknown user or wrong password")
        response = HttpResponseRedirect(target)
        self.cookies.set_login(response, request, who)
        return response

    def logout(self, request: HttpRequest) -> HttpResponse:
        login = self.cookies.login(request)
        if login is not None and not self.cookies.csrf_ok(request, login):
            return self.render(request, "appion/not_found.html", {
                "what": "logging out needs the page's token; go back and use its button"},
                status=403)
        response = HttpResponseRedirect("/")
        self.cookies.clear_login(response)
        return response

    # -- static files -----------------------------------------------------------------

    def static_file(self, request: HttpRequest, name: str) -> HttpResponse:
        response = static.serve(request, name, document_root=str(STATIC_DIR / "appion"))
        response["Cache-Control"] = "no-cache"  # revalidated: pages change with versions
        return response

    def plotly_js(self, request: HttpRequest) -> HttpResponse:
        accepts = request.META.get("HTTP_ACCEPT_ENCODING", "")
        if "gzip" in accepts:
            response = HttpResponse(self._gzipped_plotly(),
                                    content_type="text/javascript; charset=utf-8")
            response["Content-Encoding"] = "gzip"
        else:
            response = FileResponse(self.plotly_path.open("rb"),
                                    content_type="text/javascript; charset=utf-8")
        response["Vary"] = "Accept-Encoding"
        response["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE_S * 24}"
        return response

    def _gzipped_plotly(self) -> bytes:
        with self._plotly_lock:
            if self._plotly_gzip is None:
                self._plotly_gzip = gzip.compress(self.plotly_path.read_bytes(), 6)
            return self._plotly_gzip


def safe_next(target: object) -> str:
    """Where to go after logging in: a path of this site only."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


def format_value(value: Any) -> str:
    """A stored value as text for a table: 4 significant digits, JSON for structures."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)[:2000]
    return str(value)


def value_rows(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(key), format_value(value)) for key, value in sorted(values.items())]


def file_rows(files: Mapping[str, Any]) -> list[tuple[str, str]]:
    """File paths, as text: the dashboard serves none of them."""
    return [(str(key), str(value)) for key, value in sorted(files.items()) if value]
