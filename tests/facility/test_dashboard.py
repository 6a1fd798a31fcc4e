"""The dashboard's pages and logins over real HTTP, with the fake service of test_web.

What a browser draws is tested in test_dashboard_browser.py; these tests are about what
the server answers: pages, static files, Plotly's script, logging in and out, the login
cookie, CSRF, and control allowed only to a logged-in user (or an API token).
"""

from __future__ import annotations

import gzip
import http.client
import re
import stat
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from appion.base.errors import AppionError
from appion.facility import web
from appion.facility.dashboard import auth as people
from appion.facility.dashboard import views

from .test_web import OPS_SECRET, SECRET, FakeApi

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", autouse=True)
def django_as_in_the_service(tmp_path_factory):
    from django.conf import settings

    if not settings.configured:
        import sinedon
        sinedon.setup(config=sinedon.embedded_config(tmp_path_factory.mktemp("home")))


def password_hash(password: str) -> str:
    """A real Django PBKDF2 hash, with few iterations to keep the tests quick."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    return PBKDF2PasswordHasher().encode(password, "testsalt0123", iterations=1000)


def auth_settings(users: bool = True) -> web.AuthSettings:
    return web.AuthSettings(
        (web.Token("staff", SECRET), web.Token("ops", OPS_SECRET)),
        (people.User("alice", password_hash(PASSWORD)),) if users else ())


@pytest.fixture
def api(tmp_path):
    return FakeApi(images=tmp_path)


@pytest.fixture
def server(api):
    server = web.WebServer(api, auth_settings(), "127.0.0.1:0")
    server.start()
    yield server
    server.stop()


class Client:
    """HTTP with cookies and without following redirects (to see them)."""

    def __init__(self, server, host: str | None = None):
        self.address = server.address
        self.host = host
        self.cookies: dict[str, str] = {}

    def request(self, method, route, form=None, headers=None):
        connection = http.client.HTTPConnection(*self.address, timeout=30)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.host:
            sent["Host"] = self.host
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, route, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        set_cookies = response.headers.get_all("Set-Cookie") or []
        for line in set_cookies:
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] == "0" or morsel["expires"].startswith("Thu, 01 Jan 1970"):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        connection.close()
        return response.status, response.headers, data, set_cookies

    def get(self, route, **kwargs):
        return self.request("GET", route, **kwargs)

    def post(self, route, **kwargs):
        return self.request("POST", route, **kwargs)

    def text(self, route):
        status, _, data, _ = self.get(route)
        return status, data.decode()

    def log_in(self, user="alice", password=PASSWORD, next_page="/"):
        status, _, page, _ = self.get(f"/login?next={next_page}")
        assert status == 200
        token = form_token(page.decode())
        return self.post("/login", form={"csrf_token": token, "username": user,
                                         "password": password, "next": next_page})


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def page_csrf(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]*)">', html).group(1)


# -- pages ----------------------------------------------------------------------------

def test_facility_page(server):
    status, headers, data, _ = Client(server).get("/")
    html = data.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<script src="/static/plotly.min.js"' in html and "facility.js" in html
    assert 'name="viewport"' in html and headers["Cache-Control"] == "no-store"
    assert "cdn" not in html.lower()
    assert 'href="/login?next=/"' in html  # users are configured: a login link


def test_session_page_is_light_and_has_disabled_controls(server):
    status, html = Client(server).text("/sessions/26nov30a")
    assert status == 200 and "krios1" in html and "session.js" in html
    assert '"name": "26nov30a"' in html  # the session's name for the script, as JSON
    # the plots' data and Plotly are fetched while the page loads, by the URL the
    # script asks for (a preload is used only by the same request)
    assert ('<link rel="preload" href="/api/sessions/26nov30a/series" as="fetch" crossorigin>'
            in html)
    assert '"series_url": "/api/sessions/26nov30a/series"' in html
    assert '<link rel="preload" href="/static/plotly.min.js" as="script">' in html
    # the exposures come from the API, never in the page: a 20,000-exposure session
    # loads as fast as this one
    assert "img_7" not in html and len(html) < 20_000
    buttons = re.findall(r'<button type="button" data-action="(\w+)"[^>]*?(disabled)?>', html)
    assert buttons == [("pause", "disabled"), ("resume", "disabled"), ("retry", "disabled")]


def test_unknown_session_page_is_404(server):
    status, html = Client(server).text("/sessions/nosuch")
    assert status == 404 and "no session &#x27;nosuch&#x27;" in html


def test_exposure_page(server):
    status, html = Client(server).text("/sessions/26nov30a/exposures/7")
    assert status == 200 and "<h1>img_7</h1>" in html
    assert 'src="/images/26nov30a/7/preview.jpg"' in html
    assert 'src="/images/26nov30a/7/spectrum.png"' in html
    assert 'href="/sessions/26nov30a/exposures/6"' in html
    assert 'href="/sessions/26nov30a/exposures/8"' in html
    assert "<th scope=\"row\">defocus1_a</th><td>1.507e+04</td>" in html
    assert "/runs/x/img_7_a.mrc" in html and "amplitude_contrast" in html
    assert "serve1" in html and "motioncor, ctf" in html
    assert '"trajectory_a": [[0.0, 0.0], [1.5, 0.5], [2.5, 1.5]]' in html
    assert '"spatial_frequency_per_a"' in html


def test_exposure_page_escapes_stored_text(server):
    status, html = Client(server).text("/sessions/26nov30a/exposures/120")
    assert status == 200 and "CTF fit diverged &lt;b&gt;" in html and "diverged <b>" not in html
    assert "No aligned-sum preview yet" in html  # no image for 101-120 in the fake
    assert 'id="next"' not in html


@pytest.mark.parametrize("route", ["/sessions/26nov30a/exposures/999",
                                   "/sessions/nosuch/exposures/7"])
def test_unknown_exposure_page_is_404(server, route):
    assert Client(server).text(route)[0] == 404


def test_static_files(server):
    client = Client(server)
    status, headers, data, _ = client.get("/static/appion/common.js")
    assert status == 200 and b"const Appion" in data
    for name in ("dashboard.css", "facility.js", "session.js", "exposure.js"):
        assert client.get(f"/static/appion/{name}")[0] == 200, name
    for name in ("nothing.js", "..%2fviews.py", "../views.py"):
        assert client.get(f"/static/appion/{name}")[0] == 404, name


def test_plotly_is_served_from_the_installed_package(server):
    client = Client(server)
    expected = views.plotly_js_path().read_bytes()
    status, headers, data, _ = client.get("/static/plotly.min.js",
                                          headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(data) == expected and "max-age" in headers["Cache-Control"]
    status, headers, data, _ = client.get("/static/plotly.min.js")
    assert status == 200 and data == expected and headers["Content-Encoding"] is None
    assert headers["Content-Type"].startswith("text/javascript")


def test_missing_plotly_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(views.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AppionError) as raised:
        views.plotly_js_path()
    assert "pip install 'plotly>=5'" in str(raised.value) and "\n" not in str(raised.value)


# -- logging in -----------------------------------------------------------------------

def test_login_sets_a_signed_http_only_strict_cookie(server):
    client = Client(server)
    status, headers, _, cookies = client.log_in(next_page="/sessions/26nov30a")
    assert status == 302 and headers["Location"] == "/sessions/26nov30a"
    session_cookie = next(c for c in cookies if c.startswith(people.SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    assert PASSWORD not in session_cookie
    status, html = client.text("/sessions/26nov30a")
    assert "Logged in as <strong>alice</strong>" in html
    assert page_csrf(html) and 'data-action="retry" id="retry" >' in html


def test_wrong_password_or_user(server):
    client = Client(server)
    status, _, data, _ = client.log_in(password="wrong")
    assert status == 401 and b"unknown user or wrong password" in data
    assert people.SESSION_COOKIE not in client.cookies
    assert client.log_in(user="mallory")[0] == 401


def test_login_form_needs_its_token(server):
    client = Client(server)
    status, _, data, _ = client.post("/login", form={
        "csrf_token": "forged", "username": "alice", "password": PASSWORD})
    assert status == 403 and people.SESSION_COOKIE not in client.cookies
    client.get("/login")
    assert client.post("/login", form={"csrf_token": "forged", "username": "alice",
                                       "password": PASSWORD})[0] == 403


@pytest.mark.parametrize(("target", "safe"), [
    ("/sessions/x", "/sessions/x"), ("//evil.example/", "/"), ("https://evil.example", "/"),
    ("/\\evil.example", "/"), ("sessions", "/"), (None, "/"),
])
def test_login_goes_back_only_to_this_site(target, safe):
    assert views.safe_next(target) == safe


def test_control_with_the_cookie_needs_the_csrf_token(server, api):
    client = Client(server)
    client.log_in()
    assert client.post("/api/sessions/26nov30a/retry")[0] == 403
    status, _, data, _ = client.post("/api/sessions/26nov30a/retry",
                                     headers={"X-CSRF-Token": "0" * 64})
    assert status == 403 and b"CSRF" in data
    assert api.controls == []
    _, html = client.text("/sessions/26nov30a")
    status, _, data, _ = client.post("/api/sessions/26nov30a/retry",
                                     headers={"X-CSRF-Token": page_csrf(html)})
    assert status == 200 and api.controls == [("26nov30a", "retry")]


def test_control_without_a_login_is_refused(server, api):
    client = Client(server)
    status, html = client.text("/sessions/26nov30a")
    assert page_csrf(html) == ""
    assert client.post("/api/sessions/26nov30a/pause",
                       headers={"X-CSRF-Token": "x"})[0] == 401
    client.cookies[people.SESSION_COOKIE] = "alice"  # unsigned
    assert client.post("/api/sessions/26nov30a/pause", headers={"X-CSRF-Token": "x"})[0] == 401
    assert api.controls == []


def test_a_token_from_another_login_is_refused(server, api):
    first, second = Client(server), Client(server)
    first.log_in()
    second.log_in()
    token_of_first = page_csrf(first.text("/")[1])
    assert second.post("/api/sessions/26nov30a/pause",
                       headers={"X-CSRF-Token": token_of_first})[0] == 403
    assert first.post("/api/sessions/26nov30a/pause",
                      headers={"X-CSRF-Token": token_of_first})[0] == 200
    assert api.controls == [("26nov30a", "pause")]


def test_bearer_tokens_still_work_beside_logins(server, api):
    status, _, _, _ = Client(server).post("/api/sessions/26nov30a/resume",
                                          headers={"Authorization": f"Bearer {SECRET}"})
    assert status == 200 and api.controls == [("26nov30a", "resume")]


def test_logout_needs_the_page_token_and_ends_the_login(server, api):
    client = Client(server)
    client.log_in()
    token = page_csrf(client.text("/")[1])
    assert client.post("/logout", form={"csrf_token": "x"})[0] == 403
    assert people.SESSION_COOKIE in client.cookies
    status, headers, _, _ = client.post("/logout", form={"csrf_token": token})
    assert status == 302 and people.SESSION_COOKIE not in client.cookies
    assert "Logged in" not in client.text("/")[1]


def test_off_loopback_pages_need_a_login(server):
    client = Client(server, host="wallscreen.example:8770")
    status, headers, _, _ = client.get("/sessions/26nov30a")
    assert status == 302 and headers["Location"] == "/login?next=/sessions/26nov30a"
    assert client.get("/api/sessions")[0] == 401
    assert client.get("/static/appion/dashboard.css")[0] == 200
    client.log_in()
    assert client.get("/sessions/26nov30a")[0] == 200
    assert client.get("/api/sessions/26nov30a/series")[0] == 200
    assert client.get("/images/26nov30a/5/thumbnail.jpg")[0] == 200


def test_no_users_configured(api):
    server = web.WebServer(api, auth_settings(users=False), "127.0.0.1:0")
    server.start()
    try:
        client = Client(server)
        status, html = client.text("/login")
        assert status == 200 and "No users are configured" in html
        assert client.log_in()[0] == 403
        assert 'id="login-link"' not in client.text("/")[1]
    finally:
        server.stop()


def test_the_secret_is_kept_in_the_state_dir(api, tmp_path):
    state = tmp_path / "state"
    first = web.WebServer(api, auth_settings(), "127.0.0.1:0", state_dir=state)
    first.start()
    try:
        client = Client(first)
        client.log_in()
    finally:
        first.stop()
    secret = state / people.SECRET_NAME
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    again = web.WebServer(api, auth_settings(), "127.0.0.1:0", state_dir=state)
    again.start()
    try:
        client.address = again.address
        assert "Logged in as" in client.text("/")[1]  # the login outlived the restart
    finally:
        again.stop()
    other = web.WebServer(api, auth_settings(), "127.0.0.1:0", state_dir=tmp_path / "other")
    other.start()
    try:
        client.address = other.address
        assert "Logged in as" not in client.text("/")[1]
    finally:
        other.stop()


def test_a_state_dir_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AppionError) as raised:
        people.load_secret(blocker / "state")
    assert "--state-dir" in str(raised.value) and "\n" not in str(raised.value)


def test_a_removed_user_is_logged_out(api):
    cookies = people.CookieAuth((people.User("alice", password_hash(PASSWORD)),), "k" * 40)
    value = cookies.cookie_for("alice")
    fewer = people.CookieAuth((people.User("bob", password_hash(PASSWORD)),), "k" * 40)

    class Request:
        COOKIES = {people.SESSION_COOKIE: value}
    assert cookies.login(Request()).user == "alice"
    assert fewer.login(Request()) is None
